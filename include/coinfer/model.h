/* coinfer model files: a multi-branch (early-exit) network whose exits share a
 * trunk. The format is documented in docs/model-format.md. Loading validates every
 * field against the file size and sane limits, so a truncated, corrupt or hostile
 * file gets an error naming the problem and never a crash. */
#ifndef COINFER_MODEL_H
#define COINFER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CF_MODEL_MAGIC "CFMODEL"
#define CF_MODEL_VERSION 1
#define CF_MODEL_MAX_BYTES (256u << 20)
#define CF_MODEL_MAX_LAYERS 256
#define CF_MODEL_MAX_EXITS 16
#define CF_MODEL_MAX_DIM 4096      /* h, w */
#define CF_MODEL_MAX_CHANNELS 65536
#define CF_MODEL_MAX_KERNEL 15
#define CF_MODEL_MAX_TENSOR (64u << 20) /* floats per image at any layer boundary */
#define CF_NAME_LEN 32

enum cf_layer_type {
	CF_LAYER_CONV = 1,
	CF_LAYER_FC = 2,
	CF_LAYER_RELU = 3,
	CF_LAYER_MAXPOOL = 4,
	CF_LAYER_AVGPOOL = 5,
	CF_LAYER_LRN = 6,
	CF_LAYER_FLATTEN = 7,
};

struct cf_layer {
	char name[CF_NAME_LEN];
	enum cf_layer_type type;
	int parent;             /* index of the input layer, -1 = the model input */
	int in_c, in_h, in_w;
	int out_c, out_h, out_w;
	union {
		struct ck_conv_desc conv;
		struct ck_pool_desc pool;
		struct ck_lrn_desc lrn;
		struct ck_fc_desc fc;
	} d;
	const float *w, *b;     /* into the model's weight section, or NULL */
	size_t w_count, b_count;
	uint64_t flops;         /* per image; a multiply-add counts 2 */
};

struct cf_model {
	char name[24];
	int n_layers, n_exits, n_classes;
	int in_c, in_h, in_w;
	float mean[4], std[4];  /* input normalisation per channel (first in_c used) */
	struct cf_layer *layers;
	int exit_len[CF_MODEL_MAX_EXITS];
	int *exit_layers[CF_MODEL_MAX_EXITS]; /* layer indices, trunk first */
	uint64_t checksum;      /* XXH64 of the file body: the model's identity */
	size_t file_bytes;
	void *blob;             /* the file, 64-byte aligned */
};

/* Parse a model from memory (copied; buf need not outlive the model). On error
 * returns -EINVAL (or -ENOMEM) and writes a message naming the problem to err. */
int cf_model_parse(const void *buf, size_t len, struct cf_model **out, char *err, size_t errlen);
/* Read and parse a file. Errors as above, plus -errno from the file system. */
int cf_model_load(const char *path, struct cf_model **out, char *err, size_t errlen);
void cf_model_free(struct cf_model *m);

const char *cf_layer_type_name(enum cf_layer_type t);
/* The layer at position pos (0-based) of exit e (0-based). */
static inline const struct cf_layer *cf_model_exit_layer(const struct cf_model *m, int e, int pos)
{
	return &m->layers[m->exit_layers[e][pos]];
}
/* Floats per image of the tensor at partition point p of exit e: p = 0 is the
 * model input, p = exit_len[e] the exit's logits. */
size_t cf_model_boundary_floats(const struct cf_model *m, int e, int p);
/* FLOPs per image of layers [0, p) of exit e. */
uint64_t cf_model_exit_flops(const struct cf_model *m, int e, int p);

/* uint8 CHW images (n of them) to the normalised float input the model expects:
 * (x/255 - mean) / std, as in training. */
void cf_model_normalize(const struct cf_model *m, const uint8_t *img, float *out, int n);

#ifdef __cplusplus
}
#endif
#endif
