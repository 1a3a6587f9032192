/* Builds small model files in memory for the loader and executor tests, and
 * reseals (re-checksums) mutated ones so a test can aim past the checksum at the
 * field checks behind it. Layout as docs/model-format.md. */
#ifndef COINFER_TEST_MODEL_BUILDER_H
#define COINFER_TEST_MODEL_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/model.h"

#define MB_HDR 128
#define MB_LREC 128

struct mb_layer {
	const char *name;
	int type, parent;
	uint32_t p[10];
	float f[4];
	size_t nw, nb;          /* weight and bias counts written */
};

static inline void mb_put32(uint8_t *b, size_t off, uint32_t v)
{
	memcpy(b + off, &v, 4);
}

static inline void mb_put64(uint8_t *b, size_t off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

static inline void mb_reseal(uint8_t *b, size_t len)
{
	mb_put64(b, len - 8, XXH64(b, len - 8, 0));
}

/* Version 2 exit fields (variant, of, split) per exit: set by a test before
 * building a variant model, NULL for plain exits. */
static const uint32_t (*mb_variants)[3];

/* exits: n_exits arrays of layer indices, lengths in elen. Weights are a
 * deterministic pattern in [-0.5, 0.5). Caller frees *out. */
static inline size_t mb_build(const struct mb_layer *L, int nl, const int *const *exits,
			      const int *elen, int ne, int ncls, int c, int h, int w, uint8_t **out)
{
	int version = mb_variants ? 2 : 1; /* as the exporter: 2 only where needed */
	for (int i = 0; i < nl; i++)
		version = L[i].type == CR_LAYER_ADD || L[i].type == CR_LAYER_ATTN ? 2 : version;
	size_t et_off = MB_HDR + (size_t)nl * MB_LREC, et = 0, vf = version == 2 ? 12 : 0;
	for (int e = 0; e < ne; e++)
		et += 4 + vf + 4 * (size_t)elen[e];
	size_t woff = (et_off + et + 63) / 64 * 64, wb = 0;
	for (int i = 0; i < nl; i++)
		wb += (L[i].nw + 15) / 16 * 64 + (L[i].nb + 15) / 16 * 64;
	size_t len = woff + wb + 8;
	uint8_t *b = calloc(1, len);
	memcpy(b, "CFMODEL", 8);
	mb_put32(b, 8, (uint32_t)version);
	mb_put32(b, 12, MB_HDR);
	mb_put64(b, 16, len);
	mb_put32(b, 24, (uint32_t)nl);
	mb_put32(b, 28, (uint32_t)ne);
	mb_put32(b, 32, (uint32_t)ncls);
	mb_put32(b, 36, (uint32_t)c);
	mb_put32(b, 40, (uint32_t)h);
	mb_put32(b, 44, (uint32_t)w);
	mb_put32(b, 48, MB_HDR);
	mb_put32(b, 52, (uint32_t)et_off);
	mb_put64(b, 56, woff);
	mb_put64(b, 64, wb);
	float mean[4] = {0.5f, 0.4f, 0.3f, 0}, std[4] = {0.25f, 0.2f, 0.3f, 1};
	memcpy(b + 72, mean, 16);
	memcpy(b + 88, std, 16);
	memcpy(b + 104, "tiny", 5);
	size_t wpos = 0;
	uint32_t seed = 12345;
	for (int i = 0; i < nl; i++) {
		uint8_t *r = b + MB_HDR + (size_t)i * MB_LREC;
		strncpy((char *)r, L[i].name, 31);
		mb_put32(r, 32, (uint32_t)L[i].type);
		mb_put32(r, 36, L[i].parent < 0 ? 0xFFFFFFFFu : (uint32_t)L[i].parent);
		for (int j = 0; j < 10; j++)
			mb_put32(r, 40 + 4 * (size_t)j, L[i].p[j]);
		memcpy(r + 80, L[i].f, 16);
		size_t counts[2] = {L[i].nw, L[i].nb};
		for (int k = 0; k < 2; k++) {
			if (!counts[k])
				continue;
			mb_put64(r, 96 + 16 * (size_t)k, wpos);
			mb_put64(r, 104 + 16 * (size_t)k, counts[k]);
			for (size_t j = 0; j < counts[k]; j++) {
				seed = seed * 1103515245u + 12345u;
				float v = (float)((seed >> 8) & 0xFFFF) / 65536.0f - 0.5f;
				memcpy(b + woff + wpos + 4 * j, &v, 4);
			}
			wpos += (counts[k] + 15) / 16 * 64;
		}
	}
	size_t pos = et_off;
	for (int e = 0; e < ne; e++) {
		mb_put32(b, pos, (uint32_t)elen[e]);
		pos += 4;
		for (size_t k = 0; k < vf / 4; k++)
			mb_put32(b, pos + 4 * k, mb_variants ? mb_variants[e][k]
					     : (uint32_t[3]){0, (uint32_t)e, 0xFFFFFFFFu}[k]);
		pos += vf;
		for (int j = 0; j < elen[e]; j++)
			mb_put32(b, pos + 4 * (size_t)j, (uint32_t)exits[e][j]);
		pos += 4 * (size_t)elen[e];
	}
	mb_reseal(b, len);
	*out = b;
	return len;
}

/* A two-exit network on 3x8x8 input that uses every layer type:
 * conv(3->4, 3x3 p1) relu maxpool(2) lrn(3) | exit 1: flatten fc(64->5)
 *                                           | exit 2: conv(4->6, 3x3 s2 p1, groups 2)
 *                                             relu avgpool(2) flatten fc(6->5) */
static inline size_t mb_tiny(uint8_t **out)
{
	static const struct mb_layer L[] = {
		{"conv1", CR_LAYER_CONV, -1, {4, 3, 3, 1, 1, 1, 1, 1}, {0}, 4 * 3 * 9, 4},
		{"relu1", CR_LAYER_RELU, 0, {0}, {0}, 0, 0},
		{"pool1", CR_LAYER_MAXPOOL, 1, {2, 2, 2, 2, 0, 0}, {0}, 0, 0},
		{"lrn1", CR_LAYER_LRN, 2, {3}, {1e-2f, 0.75f, 2.0f}, 0, 0},
		{"b1_flat", CR_LAYER_FLATTEN, 3, {0}, {0}, 0, 0},
		{"b1_fc", CR_LAYER_FC, 4, {5}, {0}, 64 * 5, 5},
		{"conv2", CR_LAYER_CONV, 3, {6, 3, 3, 2, 2, 1, 1, 2}, {0}, 6 * 2 * 9, 6},
		{"relu2", CR_LAYER_RELU, 6, {0}, {0}, 0, 0},
		{"pool2", CR_LAYER_AVGPOOL, 7, {2, 2, 2, 2, 0, 0}, {0}, 0, 0},
		{"flat2", CR_LAYER_FLATTEN, 8, {0}, {0}, 0, 0},
		{"fc2", CR_LAYER_FC, 9, {5}, {0}, 6 * 5, 5},
	};
	static const int e1[] = {0, 1, 2, 3, 4, 5}, e2[] = {0, 1, 2, 3, 6, 7, 8, 9, 10};
	static const int *const ex[] = {e1, e2};
	static const int el[] = {6, 9};
	return mb_build(L, 11, ex, el, 2, 5, 3, 8, 8, out);
}

/* conv(3->8) then self-attention over the 6x5 positions (dqk 3, scale 0.5), one
 * exit: flatten fc(240->5). The attention's weights are Wq, Wk, Wv stacked. */
static inline size_t mb_attn(uint8_t **out)
{
	static const struct mb_layer L[] = {
		{"conv", CR_LAYER_CONV, -1, {8, 3, 3, 1, 1, 1, 0, 1}, {0}, 8 * 3 * 9, 8},
		{"attn", CR_LAYER_ATTN, 0, {3}, {0.5f}, (2 * 3 + 8) * 8, 2 * 3 + 8},
		{"flat", CR_LAYER_FLATTEN, 1, {0}, {0}, 0, 0},
		{"fc", CR_LAYER_FC, 2, {5}, {0}, 240 * 5, 5},
	};
	static const int e1[] = {0, 1, 2, 3};
	static const int *const ex[] = {e1};
	static const int el[] = {4};
	return mb_build(L, 4, ex, el, 1, 5, 3, 6, 7, out);
}

/* Residual blocks on 3x8x8 input, one starting at the input itself:
 * conv0(3->3) add0(+input) conv1(3->4) relu1 pool1 | ra(4->4) ra_relu rb(4->4)
 * add1(+pool1) | exit 1: b1_flat b1_fc(64->5)
 *              | exit 2: conv2(4->6, s2) relu2 add2(+conv2) flat2 fc2(24->5)
 * Partition points: exit 1 {0, 2..5, 9..11}, exit 2 {0, 2..5, 9, 10, 12..14}. */
#define MB_INPUT 0xFFFFFFFFu
static inline size_t mb_residual_exits(uint8_t **out, int ne)
{
	static const struct mb_layer L[] = {
		{"conv0", CR_LAYER_CONV, -1, {3, 3, 3, 1, 1, 1, 1, 1}, {0}, 3 * 3 * 9, 3},
		{"add0", CR_LAYER_ADD, 0, {MB_INPUT}, {0}, 0, 0},
		{"conv1", CR_LAYER_CONV, 1, {4, 3, 3, 1, 1, 1, 1, 1}, {0}, 4 * 3 * 9, 4},
		{"relu1", CR_LAYER_RELU, 2, {0}, {0}, 0, 0},
		{"pool1", CR_LAYER_MAXPOOL, 3, {2, 2, 2, 2, 0, 0}, {0}, 0, 0},
		{"ra", CR_LAYER_CONV, 4, {4, 3, 3, 1, 1, 1, 1, 1}, {0}, 4 * 4 * 9, 4},
		{"ra_relu", CR_LAYER_RELU, 5, {0}, {0}, 0, 0},
		{"rb", CR_LAYER_CONV, 6, {4, 3, 3, 1, 1, 1, 1, 1}, {0}, 4 * 4 * 9, 4},
		{"add1", CR_LAYER_ADD, 7, {4}, {0}, 0, 0},
		{"b1_flat", CR_LAYER_FLATTEN, 8, {0}, {0}, 0, 0},
		{"b1_fc", CR_LAYER_FC, 9, {5}, {0}, 64 * 5, 5},
		{"conv2", CR_LAYER_CONV, 8, {6, 3, 3, 2, 2, 1, 1, 1}, {0}, 6 * 4 * 9, 6},
		{"relu2", CR_LAYER_RELU, 11, {0}, {0}, 0, 0},
		{"add2", CR_LAYER_ADD, 12, {11}, {0}, 0, 0},
		{"flat2", CR_LAYER_FLATTEN, 13, {0}, {0}, 0, 0},
		{"fc2", CR_LAYER_FC, 14, {5}, {0}, 24 * 5, 5},
	};
	static const int e1[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	static const int e2[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15};
	static const int *const ex[] = {e1, e2, e2};
	static const int el[] = {11, 14, 14};
	return mb_build(L, 16, ex, el, ne, 5, 3, 8, 8, out);
}

static inline size_t mb_residual(uint8_t **out)
{
	return mb_residual_exits(out, 2);
}

/* mb_residual plus exit 3, a codec variant of exit 2 (the same layers, which
 * the format allows) split after add1: exit fields at 12 bytes per exit from
 * the exit table on (mb_variant_field). */
static inline size_t mb_variant(uint8_t **out)
{
	static const uint32_t v[3][3] = {{0, 0, 0xFFFFFFFFu}, {0, 1, 0xFFFFFFFFu}, {2, 1, 9}};
	mb_variants = v;
	size_t len = mb_residual_exits(out, 3);
	mb_variants = NULL;
	return len;
}

#endif
