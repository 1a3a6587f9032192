/* What coinfer-policy's commands share (common.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/action.h"
#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "common.h"

int cp_print_json(cJSON *root)
{
	char *s = cJSON_Print(root);
	if (!s) {
		fprintf(stderr, CP_PROG ": out of memory printing JSON\n");
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}

int cp_parse_bits(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		  size_t errlen)
{
	int bl[CF_ACTION_NBITS], n, ret;
	unsigned mask = 0;
	if ((ret = cli_arg_ints(o->name, arg, 4, 16, bl, CF_ACTION_NBITS, &n, err, errlen)))
		return ret;
	for (int i = 0; i < n; i++) {
		int k = cf_action_bits_index(bl[i]);
		if (k < 0)
			return cf_fail(-EINVAL, err, errlen, "--%s: %d is not 4, 8, 12 or 16", o->name,
				       bl[i]);
		mask |= 1u << k;
	}
	*(unsigned *)((char *)opts + o->off) = mask;
	return 0;
}

void cp_show_bits(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	unsigned mask = *(const unsigned *)((const char *)opts + o->off);
	size_t used = 0;
	buf[0] = 0;
	for (int b = 0; b < CF_ACTION_NBITS && used < len; b++)
		if (mask & (1u << b))
			used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "",
						 cf_action_bits[b]);
}

void cp_show_no_slo(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "a deadline of %g ms, no energy budget", sim_env_defaults().deadline_ms);
}

struct cp_world_opts cp_world_defaults(void)
{
	return (struct cp_world_opts){.traces = cli_traces_default_dir(), .device = "pi4-est",
				      .edge = "edge-x86", .root = cli_default_root()};
}

/* Both classes of the cost model read first: a bad class file is the caller's
 * mistake, as a bad option is (exit 2), where a missing profile or codec table
 * is not. */
static int classes_ok(const struct cp_world_opts *o, char *err, size_t errlen)
{
	struct cost_device_class *c = malloc(sizeof(*c));
	int r = c ? 0 : cf_fail(-ENOMEM, err, errlen, "out of memory");
	if (!r && !(r = cost_class_load(o->root, o->device, c, err, errlen)))
		r = cost_class_load(o->root, o->edge, c, err, errlen);
	free(c);
	return r;
}

int cp_cost_load(const struct cp_world_opts *o, struct cr_model **m, struct cost_model **cm)
{
	char err[1024];
	*cm = NULL;
	if (classes_ok(o, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return 2;
	}
	if (cli_model_load(o->model, m, err, sizeof(err)) ||
	    cost_load(*m, o->root, o->device, o->edge, o->codec, cm, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return 1;
	}
	if (o->no_variants) /* variants come after the plain exits: drop them */
		(*cm)->n_exits = (*cm)->n_plain;
	return 0;
}

int cp_world_load(struct cp_world *w, const struct cp_world_opts *o)
{
	char err[512];
	memset(w, 0, sizeof(*w));
	w->traces_dir = *o->traces ? o->traces : cli_traces_default_dir();
	/* a bad SLO file is the caller's mistake, as a bad option is: exit 2 */
	if (o->slo && cfg_slo_load(o->slo, w->slo, &w->n_slo, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return 2;
	}
	if (sim_trace_dir_load(w->traces_dir, &w->ts, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return 1;
	}
	return cp_cost_load(o, &w->m, &w->cm);
}

void cp_world_free(struct cp_world *w)
{
	free(w->cm);
	cr_model_free(w->m);
	sim_trace_set_free(&w->ts);
	memset(w, 0, sizeof(*w));
}

struct sim_env_cfg cp_world_env(const struct cp_world *w)
{
	struct sim_env_cfg c = sim_env_defaults();
	if (w->n_slo) {
		c.slo = w->slo;
		c.n_slo = w->n_slo;
	}
	return c;
}
