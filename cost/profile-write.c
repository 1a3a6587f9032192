/* Writing profile files (docs/cost-model.md) with stdio alone: the device agent
 * writes its profile on the device, and the aarch64 build has no JSON library.
 * The layout is the one cJSON_Print gave (tabs, one field per line, number
 * arrays on one line), so files written before and after read and diff alike. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost-profile.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

/* A saved profile must read back exactly (a fit of the file equals a fit of the
 * measurement), so a number takes the fewest digits, 15 to 17, that read back bit
 * for bit; JSON has no infinities or NaN: null, which the loader refuses. */
static void put_num(FILE *f, double v)
{
	char buf[40];
	if (!isfinite(v)) {
		fputs("null", f);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

static void put_nums(FILE *f, const double *v, int n)
{
	fputc('[', f);
	for (int i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		put_num(f, v[i]);
	}
	fputc(']', f);
}

/* Layer and model names come from model files: escaped as JSON requires. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*c < 0x20)
				fprintf(f, "\\u%04x", *c);
			else
				fputc(*c, f);
		}
	}
	fputc('"', f);
}

/* "KEY":<tab> after depth tabs */
static void put_key(FILE *f, int depth, const char *key)
{
	for (int i = 0; i < depth; i++)
		fputc('\t', f);
	fprintf(f, "\"%s\":\t", key);
}

static void put_layer(FILE *f, const struct cost_profile_layer *L, int nb)
{
	put_key(f, 5, "pos");
	fprintf(f, "%d,\n", L->pos);
	put_key(f, 5, "name");
	put_str(f, L->name);
	fputs(",\n", f);
	put_key(f, 5, "type");
	put_str(f, cost_layer_type_name(L->type));
	const char *keys[] = {"in_bytes", "out_bytes", "flops", "x1", "x2"};
	const double vals[] = {L->in_bytes, L->out_bytes, L->flops, L->x1, L->x2};
	for (int i = 0; i < 5; i++) {
		fputs(",\n", f);
		put_key(f, 5, keys[i]);
		put_num(f, vals[i]);
	}
	fputs(",\n", f);
	put_key(f, 5, "mean_ms");
	put_nums(f, L->mean_ms, nb);
	fputs(",\n", f);
	put_key(f, 5, "p95_ms");
	put_nums(f, L->p95_ms, nb);
	fputc('\n', f);
}

int cost_profile_write(const struct cost_profile *p, FILE *f, char *err, size_t errlen)
{
	const char *top[][2] = {
		{"device_class", p->device_class}, {"model", p->model}, {"model_checksum", NULL},
		{"isa", p->isa}, {"clock", p->clock},
	};
	fputs("{\n", f);
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		put_key(f, 1, top[i][0]);
		if (top[i][1])
			put_str(f, top[i][1]);
		else
			fprintf(f, "\"%016llx\"", (unsigned long long)p->model_checksum);
		fputs(",\n", f);
	}
	put_key(f, 1, "threads");
	fprintf(f, "%d,\n", p->threads);
	put_key(f, 1, "source");
	put_str(f, cost_profile_source_name(p->source));
	fputs(",\n", f);
	put_key(f, 1, "batches");
	fputc('[', f);
	for (int b = 0; b < p->n_batches; b++)
		fprintf(f, "%s%d", b ? ", " : "", p->batches[b]);
	fputs("],\n", f);
	put_key(f, 1, "exits");
	fputs(p->n_exits ? "[{\n" : "[]\n", f);
	for (int e = 0; e < p->n_exits; e++) {
		const struct cost_profile_exit *x = &p->exits[e];
		put_key(f, 3, "exit");
		fprintf(f, "%d,\n", e + 1);
		put_key(f, 3, "layers");
		fputs(x->n_layers ? "[{\n" : "[]\n", f);
		for (int pos = 0; pos < x->n_layers; pos++) {
			put_layer(f, &x->layers[pos], p->n_batches);
			fputs(pos + 1 < x->n_layers ? "\t\t\t\t}, {\n" : "\t\t\t\t}]\n", f);
		}
		fputs(e + 1 < p->n_exits ? "\t\t}, {\n" : "\t\t}]\n", f);
	}
	fputs("}\n", f);
	if (ferror(f) || fflush(f))
		return cf_fail(-EIO, err, errlen, "cannot write the profile");
	return 0;
}

int cost_profile_save(const struct cost_profile *p, const char *path, char *err, size_t errlen)
{
	char tmp[COST_PATH_LEN + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return cf_fail(-ENAMETOOLONG, err, errlen, "%s: path too long", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return cf_fail(-errno, err, errlen, "%s: %s", tmp, strerror(errno));
	int r = cost_profile_write(p, f, err, errlen);
	if (fclose(f) && !r)
		r = cf_fail(-EIO, err, errlen, "%s: write failed", tmp);
	if (!r && rename(tmp, path))
		r = cf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (r)
		remove(tmp);
	return r;
}
