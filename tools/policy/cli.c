/* Shared command-line pieces of coinfer-policy (cli.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/cli.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "cli.h"

int cli_parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, PROG ": --%s needs a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_parse_list(const char *opt, const char *s, int lo, int hi, int *out, int max, int *n)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		double v;
		if (*n >= max || cli_parse_num(opt, t, lo, hi, &v) || v != floor(v)) {
			fprintf(stderr, PROG ": --%s takes up to %d comma-separated integers in [%d, %d]\n",
				opt, max, lo, hi);
			return -EINVAL;
		}
		out[(*n)++] = (int)v;
	}
	return *n ? 0 : -EINVAL;
}

int cli_parse_sweep(const char *opt, const char *s, double *a, double *b, int *n)
{
	char buf[128], *p1, *p2;
	snprintf(buf, sizeof(buf), "%s", s);
	double nn;
	if (!(p1 = strchr(buf, ':')) || !(p2 = strchr(p1 + 1, ':')))
		goto bad;
	*p1 = *p2 = 0;
	if (cli_parse_num(opt, buf, 0, 1e12, a) || cli_parse_num(opt, p1 + 1, 0, 1e12, b) ||
	    cli_parse_num(opt, p2 + 1, 1, 10000, &nn) || nn != floor(nn))
		goto bad;
	*n = (int)nn;
	return 0;
bad:
	fprintf(stderr, PROG ": --%s takes FROM:TO:COUNT, got '%s'\n", opt, s);
	return -EINVAL;
}

int cli_print_json(cJSON *root)
{
	char *s = cJSON_Print(root);
	if (!s) {
		fprintf(stderr, PROG ": out of memory printing JSON\n");
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}

struct cr_model *cli_load_model(const char *path)
{
	char err[512];
	struct cr_model *m = NULL;
	if (!path && !(path = cli_default_model_path())) {
		fprintf(stderr, PROG ": no model given and models/branchy-alexnet.cfm not found\n");
		return NULL;
	}
	if (cr_model_load(path, &m, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return NULL;
	}
	return m;
}

int cli_world_load(struct cli_world *w, const char *traces_dir, const char *slo_path,
		   const char *model_path, const char *root, const char *device, const char *edge,
		   const char *codec)
{
	char err[512];
	memset(w, 0, sizeof(*w));
	if (!traces_dir || !*traces_dir)
		traces_dir = cli_traces_default_dir();
	w->traces_dir = traces_dir;
	w->root = root ? root : cli_default_root();
	if ((slo_path && sim_slo_load(slo_path, w->slo, &w->n_slo, err, sizeof(err))) ||
	    sim_trace_dir_load(traces_dir, &w->ts, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	if (!(w->m = cli_load_model(model_path)))
		return -1;
	if (cost_load(w->m, w->root, device, edge, codec, &w->cm, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	return 0;
}

void cli_world_free(struct cli_world *w)
{
	free(w->cm);
	cr_model_free(w->m);
	sim_trace_set_free(&w->ts);
	memset(w, 0, sizeof(*w));
}

struct sim_env_cfg cli_world_env(const struct cli_world *w)
{
	struct sim_env_cfg c = sim_env_defaults();
	if (w->n_slo) {
		c.slo = w->slo;
		c.n_slo = w->n_slo;
	}
	return c;
}
