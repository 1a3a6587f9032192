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

#define CR_MODEL_MAGIC "CFMODEL"
/* Version 2 added the residual add and exit variants; a file with neither is still
 * written as 1. */
#define CR_MODEL_VERSION 2
#define CR_MODEL_MAX_BYTES (256u << 20)
#define CR_MODEL_MAX_LAYERS 256
#define CR_MODEL_MAX_EXITS 16
/* Layers on one exit's path (partitions 0..this) that the cost model, the
 * device agent and the appliance keep per-position tables for: they refuse a
 * model with a longer exit, which a model file may have (up to
 * CR_MODEL_MAX_LAYERS). */
#define CR_MODEL_MAX_EXIT_LAYERS 64
#define CR_MODEL_MAX_DIM 4096      /* h, w */
#define CR_MODEL_MAX_CHANNELS 65536
#define CR_MODEL_MAX_KERNEL 15
#define CR_MODEL_MAX_TENSOR (64u << 20) /* floats per image at any layer boundary */
#define CR_NAME_LEN 32

enum cr_layer_type {
	CR_LAYER_CONV = 1,
	CR_LAYER_FC = 2,
	CR_LAYER_RELU = 3,
	CR_LAYER_MAXPOOL = 4,
	CR_LAYER_AVGPOOL = 5,
	CR_LAYER_LRN = 6,
	CR_LAYER_FLATTEN = 7,
	CR_LAYER_ADD = 8,       /* residual: parent's output + skip's output (version 2) */
	CR_LAYER_ATTN = 9,      /* self-attention over positions, with residual (version 2) */
};

/* What an exit is (seed 003): a plain exit of the network, or a variant of one
 * that serves the same classifier with its device part pruned, a learned
 * encoder/decoder pair around its split point, or both. A variant is meant to
 * be cut at its split point only. */
enum cr_variant {
	CR_VARIANT_PLAIN = 0,
	CR_VARIANT_PRUNED = 1,
	CR_VARIANT_CODEC = 2,
	CR_VARIANT_BOTH = 3,    /* pruned head + learned codec */
	CR_VARIANT_COUNT
};

struct cr_layer {
	char name[CR_NAME_LEN];
	enum cr_layer_type type;
	int parent;             /* index of the input layer, -1 = the model input */
	int skip;               /* add: the other operand's layer, -1 = the model input */
	int in_c, in_h, in_w;
	int out_c, out_h, out_w;
	union {
		struct ck_conv_desc conv;
		struct ck_pool_desc pool;
		struct ck_lrn_desc lrn;
		struct ck_fc_desc fc;
		struct ck_attn_desc attn;
	} d;
	const float *w, *b;     /* into the model's weight section, or NULL */
	size_t w_count, b_count;
	uint64_t flops;         /* per image; a multiply-add counts 2 */
};

struct cr_model {
	char name[24];
	int n_layers, n_exits, n_classes;
	int n_plain;            /* exits 0..n_plain-1 are plain; the variants follow */
	int in_c, in_h, in_w;
	float mean[4], std[4];  /* input normalisation per channel (first in_c used) */
	struct cr_layer *layers;
	int exit_len[CR_MODEL_MAX_EXITS];
	enum cr_variant exit_variant[CR_MODEL_MAX_EXITS];
	int exit_of[CR_MODEL_MAX_EXITS];    /* the plain exit a variant varies; e for plain */
	int exit_split[CR_MODEL_MAX_EXITS]; /* a variant's one partition point; 0 plain */
	int *exit_layers[CR_MODEL_MAX_EXITS]; /* layer indices, trunk first */
	/* Per position of each exit: where its add's skip operand is on the chain
	 * (-1 the input; CR_NO_SKIP for layers that are not adds). */
	int *exit_skip[CR_MODEL_MAX_EXITS];
	/* Per boundary 0..exit_len: 1 where one tensor crosses the cut, 0 inside a
	 * residual block (the skip operand would have to cross too). */
	uint8_t *exit_cut[CR_MODEL_MAX_EXITS];
	uint64_t checksum;      /* XXH64 of the file body: the model's identity */
	size_t file_bytes;
	void *blob;             /* the file, 64-byte aligned */
};

/* Parse a model from memory (copied; buf need not outlive the model). On error
 * returns -EINVAL (or -ENOMEM) and writes a message naming the problem to err. */
int cr_model_parse(const void *buf, size_t len, struct cr_model **out, char *err, size_t errlen);
/* Read and parse a file. Errors as above, plus -errno from the file system. */
int cr_model_load(const char *path, struct cr_model **out, char *err, size_t errlen);
void cr_model_free(struct cr_model *m);

const char *cr_layer_type_name(enum cr_layer_type t);
/* "plain", "pruned", "codec", "pruned+codec" */
const char *cr_variant_name(enum cr_variant v);
/* The layer at position pos (0-based) of exit e (0-based). */
static inline const struct cr_layer *cr_model_exit_layer(const struct cr_model *m, int e, int pos)
{
	return &m->layers[m->exit_layers[e][pos]];
}
#define CR_NO_SKIP (-2)
/* boundary_ok: 1 if 0 <= p <= exit_len[e] and p is outside any residual block,
 * so the tensor at p is all that later layers read: where the executor may
 * start or stop. cut_ok: 1 if p is a partition point, a boundary and, for a
 * variant exit, its split point: what an action may cut at. Every model of
 * version 1 has all its points; the others are not points at all (not for the
 * cost model, the policy, the agent or the appliance). */
static inline int cr_model_boundary_ok(const struct cr_model *m, int e, int p)
{
	return e >= 0 && e < m->n_exits && p >= 0 && p <= m->exit_len[e] && m->exit_cut[e][p];
}
static inline int cr_model_cut_ok(const struct cr_model *m, int e, int p)
{
	return cr_model_boundary_ok(m, e, p) && (m->exit_split[e] <= 0 || p == m->exit_split[e]);
}
/* Why partition p (in 0..exit_len[e]) of exit e is no partition point, as a
 * predicate to follow "partition P of exit E": NULL when it is one. One wording for
 * the appliance, the agent, the policy and the cost model (inline: the cost and
 * policy libraries link no runtime code). */
static inline const char *cr_model_cut_problem(const struct cr_model *m, int e, int p)
{
	if (cr_model_cut_ok(m, e, p))
		return NULL;
	if (cr_model_boundary_ok(m, e, p))
		return "is not this variant exit's split point, its only partition point";
	return "lies inside a residual block: not a partition point";
}
/* 1 if the output of position pos of exit e (-1: the exit's input, so boundary
 * pos + 1) is the skip operand of an add at a position in (pos, to): a tensor the
 * executor keeps aside until then. */
static inline int cr_model_feeds_skip(const struct cr_model *m, int e, int pos, int to)
{
	for (int j = pos + 1; j < to; j++)
		if (m->exit_skip[e][j] == pos)
			return 1;
	return 0;
}
/* Floats per image of the tensor at partition point p of exit e: p = 0 is the
 * model input, p = exit_len[e] the exit's logits. */
size_t cr_model_boundary_floats(const struct cr_model *m, int e, int p);
/* The split point (exit *e, partition *p >= 1, before the logits) whose tensor
 * is the smallest the device can send; the first such point on a tie. */
size_t cr_model_smallest_boundary(const struct cr_model *m, int *e, int *p);
/* FLOPs per image of layers [0, p) of exit e. */
uint64_t cr_model_exit_flops(const struct cr_model *m, int e, int p);

/* uint8 CHW images (n of them) to the normalised float input the model expects:
 * (x/255 - mean) / std, as in training. */
void cr_model_normalize(const struct cr_model *m, const uint8_t *img, float *out, int n);

#ifdef __cplusplus
}
#endif
#endif
