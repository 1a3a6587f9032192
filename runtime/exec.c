/* Executor: weights are packed once for the chosen kernel table; activations
 * rotate through three buffers sized for the largest layer boundary of any exit
 * at max_batch, and one workspace serves every conv/fc. A run allocates nothing.
 *
 * Buffer ownership during a run: `cur` holds the last layer's output; `pinned`
 * (NULL, the caller's input, or one of ours) holds the skip operand of a
 * residual add still to come. A layer writes into a buffer that is neither, so
 * with three buffers one is always free; it writes in place (relu, add) only
 * into `cur`, and only when `cur` is ours and not pinned. The loader allows one
 * skip tensor alive at a time (no nested blocks) and runs may start and end
 * only outside residual blocks, so `pinned` is set before every add reads it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/clock.h"
#include "coinfer/exec.h"

struct cr_exec {
	const struct cr_model *m;
	const struct ck_kernels *k;
	int max_batch;
	float **packed;         /* per layer, NULL where the layer has no weights */
	float *buf[3];
	size_t buf_floats;
	void *ws;
	uint64_t *timing;
};

static void *aligned(size_t bytes)
{
	void *p = NULL;
	return posix_memalign(&p, 64, bytes ? bytes : 64) ? NULL : p;
}

/* Weights into this ISA's layout; attention's are Wq, Wk, Wv stacked (model.h). */
static void pack_layer(struct cr_exec *x, const struct cr_layer *L, float *packed)
{
	if (L->type == CR_LAYER_CONV) {
		x->k->conv_pack(&L->d.conv, L->w, L->b, packed);
	} else if (L->type == CR_LAYER_FC) {
		x->k->fc_pack(&L->d.fc, L->w, L->b, packed);
	} else {
		const struct ck_attn_desc *d = &L->d.attn;
		size_t dc = (size_t)d->dqk * (size_t)d->c;
		x->k->attn_pack(d, L->w, L->b, L->w + dc, L->b + d->dqk, L->w + 2 * dc,
				L->b + 2 * d->dqk, packed);
	}
}

int cr_exec_create(const struct cr_model *m, const struct ck_kernels *k, int max_batch,
		   struct cr_exec **out)
{
	struct cr_exec *x;
	*out = NULL;
	if (!m || max_batch < 1 || max_batch > 4096)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->m = m;
	x->k = k ? k : ck_kernels();
	x->max_batch = max_batch;
	x->packed = calloc((size_t)m->n_layers, sizeof(*x->packed));
	if (!x->packed)
		goto err;

	size_t ws = 0, most = 0;
	for (int i = 0; i < m->n_layers; i++) {
		const struct cr_layer *L = &m->layers[i];
		size_t outf = (size_t)L->out_c * L->out_h * L->out_w;
		if (outf > most)
			most = outf;
		size_t w = 0, np = 0;
		if (L->type == CR_LAYER_CONV) {
			np = x->k->conv_packed_floats(&L->d.conv);
			w = x->k->conv_workspace_bytes(&L->d.conv, max_batch);
		} else if (L->type == CR_LAYER_FC) {
			np = x->k->fc_packed_floats(&L->d.fc);
			w = x->k->fc_workspace_bytes(&L->d.fc, max_batch);
		} else if (L->type == CR_LAYER_ATTN) {
			np = x->k->attn_packed_floats(&L->d.attn);
			w = x->k->attn_workspace_bytes(&L->d.attn, max_batch);
		}
		if (w > ws)
			ws = w;
		if (np) {
			x->packed[i] = aligned(np * sizeof(float));
			if (!x->packed[i])
				goto err;
			pack_layer(x, L, x->packed[i]);
		}
	}
	x->buf_floats = most * (size_t)max_batch;
	for (int j = 0; j < 3; j++)
		if (!(x->buf[j] = aligned(x->buf_floats * sizeof(float))))
			goto err;
	if (!(x->ws = aligned(ws)))
		goto err;
	*out = x;
	return 0;
err:
	cr_exec_destroy(x);
	return -ENOMEM;
}

void cr_exec_destroy(struct cr_exec *x)
{
	if (!x)
		return;
	if (x->packed)
		for (int i = 0; i < x->m->n_layers; i++)
			free(x->packed[i]);
	free(x->packed);
	for (int j = 0; j < 3; j++)
		free(x->buf[j]);
	free(x->ws);
	free(x);
}

void cr_exec_set_timing(struct cr_exec *x, uint64_t *ns)
{
	x->timing = ns;
}

const struct ck_kernels *cr_exec_kernels(const struct cr_exec *x)
{
	return x->k;
}

/* The output buffer of position pos's layer: in place where that is allowed. */
static float *pick_dst(struct cr_exec *x, const struct cr_layer *L, const float *cur,
		       const float *pinned)
{
	int ours = cur == x->buf[0] || cur == x->buf[1] || cur == x->buf[2];
	/* flatten is a no-op on NCHW and exists only as a partition point */
	if (L->type == CR_LAYER_FLATTEN ||
	    ((L->type == CR_LAYER_RELU || L->type == CR_LAYER_ADD) && ours && cur != pinned))
		return (float *)cur;
	for (int j = 0;; j++)
		if (x->buf[j] != cur && x->buf[j] != pinned)
			return x->buf[j];
}

static void run_layer(struct cr_exec *x, int li, const float *cur, const float *pinned,
		      float *dst, int n)
{
	const struct cr_layer *L = &x->m->layers[li];
	size_t count = (size_t)n * L->in_c * L->in_h * L->in_w;
	switch (L->type) {
	case CR_LAYER_CONV:
		x->k->conv_run(&L->d.conv, x->packed[li], cur, dst, n, x->ws);
		break;
	case CR_LAYER_FC:
		x->k->fc_run(&L->d.fc, x->packed[li], cur, dst, n, x->ws);
		break;
	case CR_LAYER_RELU:
		x->k->relu(cur, dst, count);
		break;
	case CR_LAYER_ADD:
		x->k->add(cur, pinned, dst, count);
		break;
	case CR_LAYER_MAXPOOL:
		x->k->maxpool(&L->d.pool, cur, dst, n);
		break;
	case CR_LAYER_AVGPOOL:
		x->k->avgpool(&L->d.pool, cur, dst, n);
		break;
	case CR_LAYER_LRN:
		x->k->lrn(&L->d.lrn, cur, dst, n);
		break;
	case CR_LAYER_ATTN:
		x->k->attn_run(&L->d.attn, x->packed[li], cur, dst, n, x->ws);
		break;
	case CR_LAYER_FLATTEN:
		break;
	}
}

int cr_exec_run(struct cr_exec *x, int e, int from, int to, const float *in, int n,
		const float **out)
{
	const struct cr_model *m = x->m;
	if (e < 0 || e >= m->n_exits || to < from || !cr_model_boundary_ok(m, e, from) ||
	    !cr_model_boundary_ok(m, e, to) || n < 1 || n > x->max_batch || !in)
		return -EINVAL;
	const float *cur = in, *pinned = cr_model_feeds_skip(m, e, from - 1, to) ? in : NULL;
	for (int pos = from; pos < to; pos++) {
		int li = m->exit_layers[e][pos];
		uint64_t t0 = x->timing ? cf_now_ns() : 0;
		float *dst = pick_dst(x, &m->layers[li], cur, pinned);
		run_layer(x, li, cur, pinned, dst, n);
		cur = dst;
		if (cr_model_feeds_skip(m, e, pos, to))
			pinned = cur;
		if (x->timing)
			x->timing[pos] += cf_now_ns() - t0;
	}
	*out = cur;
	return 0;
}

int cr_exec_layer(struct cr_exec *x, int e, int pos, const float *in, const float *skip, int n,
		  const float **out)
{
	const struct cr_model *m = x->m;
	if (e < 0 || e >= m->n_exits || pos < 0 || pos >= m->exit_len[e] || n < 1 ||
	    n > x->max_batch || !in || (m->exit_skip[e][pos] != CR_NO_SKIP) != !!skip)
		return -EINVAL;
	int li = m->exit_layers[e][pos];
	float *dst = pick_dst(x, &m->layers[li], in, skip);
	run_layer(x, li, in, skip, dst, n);
	*out = dst;
	return 0;
}
