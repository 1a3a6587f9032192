/* Shared by the agent tests: the bundled model, test images (CIFAR-10 when it is
 * there, else deterministic noise) and a fleet run that keeps its records. */
#ifndef COINFER_TEST_AGENT_COMMON_H
#define COINFER_TEST_AGENT_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/agent.h"
#include "coinfer/dataset.h"
#include "coinfer/model.h"

static struct cr_model *tc_model;
static struct ds_dataset tc_ds;

static inline int tc_load(void)
{
	char err[256];
	if (tc_model)
		return 0;
	const char *path = cli_default_model_path();
	if (!path || cr_model_load(path, &tc_model, err, sizeof(err))) {
		fprintf(stderr, "no model: %s\n", path ? err : "models/branchy-alexnet.cfm not found");
		return -1;
	}
	const char *dir = cli_cifar10_default_dir();
	if (dir && !ds_cifar10_load(dir, "test_batch.bin", &tc_ds, err, sizeof(err)))
		return 0;
	/* no CIFAR-10: 64 images of noise */
	tc_ds.n = 64;
	tc_ds.c = tc_model->in_c, tc_ds.h = tc_model->in_h, tc_ds.w = tc_model->in_w;
	size_t per = (size_t)tc_ds.c * tc_ds.h * tc_ds.w;
	tc_ds.images = malloc(per * (size_t)tc_ds.n);
	tc_ds.labels = calloc((size_t)tc_ds.n, 1);
	uint64_t s = 88172645463325252ull;
	for (size_t i = 0; i < per * (size_t)tc_ds.n; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		tc_ds.images[i] = (uint8_t)s;
	}
	return 0;
}

/* A quick configuration against 127.0.0.1:port. */
static inline void tc_config(struct ag_config *c, int port)
{
	ag_config_defaults(c);
	c->host = "127.0.0.1";
	c->port = port;
	c->calib_runs = 1;
	c->requests = 4;
	c->deadline_ms = 200;
	c->backoff_base_us = 5000;
	c->backoff_cap_us = 40000;
	c->connect_wait_ms = 1000;
	c->ping_ms = 0;
	c->out = NULL;
	c->log = getenv("AG_TEST_LOG") ? stderr : NULL;
}

struct tc_run {
	struct ag_fleet *f;
	const struct ag_record *r;
	size_t n;
	struct ag_summary s;
	int ret;
	char err[256];
};

static inline int tc_run(const struct ag_config *c, struct tc_run *out)
{
	memset(out, 0, sizeof(*out));
	if ((out->ret = ag_fleet_create(c, tc_model, &tc_ds, &out->f, out->err, sizeof(out->err))))
		return out->ret;
	out->ret = ag_fleet_run(out->f, out->err, sizeof(out->err));
	out->r = ag_fleet_records(out->f, &out->n);
	ag_fleet_summary(out->f, &out->s);
	return out->ret;
}

/* An ag_config.link_bps of one rate (ctx: a double, bit/s) both ways, always. */
static inline double tc_const_rate(void *ctx, int agent, int dir, double t_s)
{
	(void)agent, (void)dir, (void)t_s;
	return *(const double *)ctx;
}

static inline void tc_done(struct tc_run *r)
{
	ag_fleet_destroy(r->f);
	r->f = NULL;
}

/* The label the runtime gives for image i at exit e, running everything here
 * (after the same codec round trip at partition p when frame is true). */
#include "coinfer/codec-frame.h"
#include "coinfer/exec.h"
static inline int tc_local_label(int i, int e, int p, enum cc_codec codec, int bits)
{
	const struct cr_model *m = tc_model;
	static struct cr_exec *x;
	if (!x && cr_exec_create(m, NULL, 1, &x))
		return -1;
	size_t in_f = cr_model_boundary_floats(m, e, 0);
	float *in = malloc(in_f * sizeof(float));
	cr_model_normalize(m, tc_ds.images + (size_t)i * in_f, in, 1);
	const float *o;
	cr_exec_run(x, e, 0, p, in, 1, &o);
	size_t pf = cr_model_boundary_floats(m, e, p);
	float *mid = malloc(pf * sizeof(float));
	memcpy(mid, o, pf * sizeof(float));
	if (p < m->exit_len[e]) {
		uint32_t dims[3] = {(uint32_t)pf, 1, 1};
		if (p) {
			const struct cr_layer *L = cr_model_exit_layer(m, e, p - 1);
			dims[0] = (uint32_t)L->out_c, dims[1] = (uint32_t)L->out_h, dims[2] = (uint32_t)L->out_w;
		} else {
			dims[0] = (uint32_t)m->in_c, dims[1] = (uint32_t)m->in_h, dims[2] = (uint32_t)m->in_w;
		}
		size_t cap = cc_frame_bound(codec, 3, dims, 0), len;
		uint8_t *fr = malloc(cap);
		void *scratch = malloc(cc_frame_scratch_max() + 1);
		struct cc_limits lim = {.max_elems = pf, .max_frame_bytes = cap};
		if (cc_frame_encode(mid, 3, dims, codec, bits, 0, fr, cap, &len, NULL, 0) ||
		    cc_frame_decode(fr, len, &lim, mid, pf, scratch, cc_frame_scratch_max() + 1, NULL,
				    NULL, 0)) {
			free(fr), free(scratch), free(in), free(mid);
			return -1;
		}
		free(fr);
		free(scratch);
	}
	cr_exec_run(x, e, p, m->exit_len[e], mid, 1, &o);
	int best = 0;
	for (int k = 1; k < m->n_classes; k++)
		if (o[k] > o[best])
			best = k;
	free(in);
	free(mid);
	return best;
}

#endif
