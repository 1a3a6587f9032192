/* Reading the JSON files of the cost model: profiles and codec tables
 * (docs/cost-model.md), and the loader that builds a cost model from them (the
 * device classes, YAML, are read by class.c). Native builds only (libcjson); profiles are written by profile-write.c, which
 * builds everywhere. Every field is checked for presence, type and range before
 * use, and errors name the file and the field, so a hand-edited or a truncated
 * profile is refused with a message rather than half-read. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/names.h"

#define MAX_FILE_BYTES (64u << 20)

struct jc {
	const char *what; /* the file, for messages */
	char *err;
	size_t errlen;
};

/* The text ends inside a string, object or array (or holds nothing): what a cut
 * file looks like, as opposed to a malformed one. */
static int truncated(const char *text, size_t len)
{
	int depth = 0, in_str = 0, esc = 0, any = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		any |= !(ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t');
		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
		} else if (ch == '"') {
			in_str = 1;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return !any || in_str || depth > 0;
}

/* Parses the whole text as one JSON value; trailing non-space is an error. */
static int parse_json(const char *text, size_t len, const struct jc *c, cJSON **out)
{
	const char *end = NULL;
	*out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (*out) {
		while (end < text + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
			end++;
		if (end == text + len)
			return 0;
		cJSON_Delete(*out);
		*out = NULL;
	}
	size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : len;
	int line = 1;
	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return cf_fail(-EINVAL, c->err, c->errlen, "%s: not valid JSON (%s at line %d, byte %zu)",
			c->what, truncated(text, len) ? "truncated" : "syntax error", line, off);
}

static const cJSON *field(const struct jc *c, const cJSON *obj, const char *path, const char *key,
			  int *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		*ret = cf_fail(-EINVAL, c->err, c->errlen, "%s: field %s%s%s missing", c->what, path,
				*path ? "." : "", key);
	return v;
}

static int bad(const struct jc *c, const char *path, const char *key, const char *why)
{
	return cf_fail(-EINVAL, c->err, c->errlen, "%s: field %s%s%s %s", c->what, path,
			*path ? "." : "", key, why);
}

static int get_num(const struct jc *c, const cJSON *obj, const char *path, const char *key,
		   double lo, double hi, double *out)
{
	int ret = 0;
	const cJSON *v = field(c, obj, path, key, &ret);
	if (!v)
		return ret;
	if (!cJSON_IsNumber(v))
		return bad(c, path, key, "is not a number");
	if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
		char why[96];
		snprintf(why, sizeof(why), "= %g is outside [%g, %g]", v->valuedouble, lo, hi);
		return bad(c, path, key, why);
	}
	*out = v->valuedouble;
	return 0;
}

static int get_int(const struct jc *c, const cJSON *obj, const char *path, const char *key, int lo,
		   int hi, int *out)
{
	double d = 0;
	int r = get_num(c, obj, path, key, lo, hi, &d);
	if (r)
		return r;
	if (d != floor(d))
		return bad(c, path, key, "is not an integer");
	*out = (int)d;
	return 0;
}

static int get_str(const struct jc *c, const cJSON *obj, const char *path, const char *key, char *out,
		   size_t cap)
{
	int ret = 0;
	const cJSON *v = field(c, obj, path, key, &ret);
	if (!v)
		return ret;
	if (!cJSON_IsString(v) || !v->valuestring)
		return bad(c, path, key, "is not a string");
	size_t n = strlen(v->valuestring);
	if (n == 0 || n >= cap) {
		char why[64];
		snprintf(why, sizeof(why), "must hold 1..%zu characters", cap - 1);
		return bad(c, path, key, why);
	}
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

static int get_arr(const struct jc *c, const cJSON *obj, const char *path, const char *key, int lo,
		   int hi, const cJSON **out, int *n)
{
	int ret = 0;
	const cJSON *v = field(c, obj, path, key, &ret);
	if (!v)
		return ret;
	if (!cJSON_IsArray(v))
		return bad(c, path, key, "is not an array");
	*n = cJSON_GetArraySize(v);
	if (*n < lo || *n > hi) {
		char why[96];
		snprintf(why, sizeof(why), "has %d entries, expected %d..%d", *n, lo, hi);
		return bad(c, path, key, why);
	}
	*out = v;
	return 0;
}

/* An array of exactly n numbers in [lo, hi]. */
static int get_nums(const struct jc *c, const cJSON *obj, const char *path, const char *key, int n,
		    double lo, double hi, double *out)
{
	const cJSON *a;
	int cnt, i = 0, r;
	if ((r = get_arr(c, obj, path, key, n, n, &a, &cnt)))
		return r;
	const cJSON *v;
	cJSON_ArrayForEach(v, a)
	{
		if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
			char why[96];
			snprintf(why, sizeof(why), "[%d] is not a number in [%g, %g]", i, lo, hi);
			return bad(c, path, key, why);
		}
		out[i++] = v->valuedouble;
	}
	return 0;
}

static int need_obj(const struct jc *c, const cJSON *v, const char *path)
{
	if (!cJSON_IsObject(v))
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: %s is not an object", c->what,
				*path ? path : "the top level");
	return 0;
}

/* ---- profiles ------------------------------------------------------------------- */

/* A profile's device_class, model, model_checksum and optional clock. */
static int profile_ids(const struct jc *c, const cJSON *root, struct cost_profile *p)
{
	char s[64];
	int r;
	if ((r = get_str(c, root, "", "device_class", p->device_class, sizeof(p->device_class))))
		return r;
	if (!cost_class_name_ok(p->device_class))
		return bad(c, "", "device_class", "is not [A-Za-z0-9._-]{1,63}");
	if ((r = get_str(c, root, "", "model", p->model, sizeof(p->model))) ||
	    (r = get_str(c, root, "", "model_checksum", s, sizeof(s))))
		return r;
	char *end = NULL;
	p->model_checksum = strtoull(s, &end, 16);
	if (strlen(s) != 16 || *end)
		return bad(c, "", "model_checksum", "is not 16 hex digits");
	snprintf(p->clock, sizeof(p->clock), "wall");
	if (cJSON_GetObjectItemCaseSensitive(root, "clock")) {
		if ((r = get_str(c, root, "", "clock", p->clock, sizeof(p->clock))))
			return r;
		if (strcmp(p->clock, "wall") && strcmp(p->clock, "thread-cpu"))
			return bad(c, "", "clock", "is not wall or thread-cpu");
	}
	return 0;
}

/* How a profile was taken: isa, threads, source and the batch sizes. */
static int profile_run(const struct jc *c, const cJSON *root, struct cost_profile *p)
{
	char s[64];
	double bd[COST_MAX_BATCHES];
	const cJSON *arr;
	int r;
	if ((r = get_str(c, root, "", "isa", p->isa, sizeof(p->isa))) ||
	    (r = get_int(c, root, "", "threads", 1, 1024, &p->threads)) ||
	    (r = get_str(c, root, "", "source", s, sizeof(s))))
		return r;
	if (!strcmp(s, "measured"))
		p->source = COST_SOURCE_MEASURED;
	else if (!strcmp(s, "regression"))
		p->source = COST_SOURCE_REGRESSION;
	else if (!strcmp(s, "scaled"))
		p->source = COST_SOURCE_SCALED;
	else
		return bad(c, "", "source", "is not measured, regression or scaled");
	if ((r = get_arr(c, root, "", "batches", 1, COST_MAX_BATCHES, &arr, &p->n_batches)) ||
	    (r = get_nums(c, root, "", "batches", p->n_batches, 1, 4096, bd)))
		return r;
	for (int i = 0; i < p->n_batches; i++) {
		p->batches[i] = (int)bd[i];
		if (bd[i] != floor(bd[i]) || (i && p->batches[i] <= p->batches[i - 1]))
			return bad(c, "", "batches", "must be ascending integers");
	}
	return 0;
}

/* The layer at position pos of an exit (path names it), timed at n_batches batch sizes. */
static int profile_layer(const struct jc *c, const cJSON *ly, const char *path, int pos,
			 int n_batches, struct cost_profile_layer *L)
{
	char s[64];
	int r;
	if ((r = need_obj(c, ly, path)) ||
	    (r = get_int(c, ly, path, "pos", 0, COST_MAX_POS - 1, &L->pos)))
		return r;
	if (L->pos != pos)
		return bad(c, path, "pos", "must number the layers 0, 1, ... in order");
	if ((r = get_str(c, ly, path, "name", L->name, sizeof(L->name))) ||
	    (r = get_str(c, ly, path, "type", s, sizeof(s))))
		return r;
	if (cost_layer_type_parse(s, &L->type))
		return bad(c, path, "type", "is not a layer type (conv, fc, relu, maxpool, avgpool, lrn, flatten, add, attn)");
	const double big = 1e18;
	if ((r = get_num(c, ly, path, "in_bytes", 0, big, &L->in_bytes)) ||
	    (r = get_num(c, ly, path, "out_bytes", 0, big, &L->out_bytes)) ||
	    (r = get_num(c, ly, path, "flops", 0, big, &L->flops)) ||
	    (r = get_num(c, ly, path, "x1", 0, big, &L->x1)) ||
	    (r = get_num(c, ly, path, "x2", 0, big, &L->x2)) ||
	    (r = get_nums(c, ly, path, "mean_ms", n_batches, 0, 1e9, L->mean_ms)) ||
	    (r = get_nums(c, ly, path, "p95_ms", n_batches, 0, 1e9, L->p95_ms)))
		return r;
	return 0;
}

/* exits[e] of a profile: its number and its layers. */
static int profile_exit(const struct jc *c, const cJSON *ex, int e, struct cost_profile *p)
{
	char path[96];
	int num = 0, nl = 0, r, pos = 0;
	const cJSON *layers, *ly;
	snprintf(path, sizeof(path), "exits[%d]", e);
	if ((r = need_obj(c, ex, path)) ||
	    (r = get_int(c, ex, path, "exit", 1, COST_MAX_EXITS, &num)))
		return r;
	if (num != e + 1)
		return bad(c, path, "exit", "must number the exits 1, 2, ... in order");
	if ((r = get_arr(c, ex, path, "layers", 1, COST_MAX_POS, &layers, &nl)))
		return r;
	p->exits[e].n_layers = nl;
	cJSON_ArrayForEach(ly, layers)
	{
		snprintf(path, sizeof(path), "exits[%d].layers[%d]", e, pos);
		if ((r = profile_layer(c, ly, path, pos, p->n_batches, &p->exits[e].layers[pos])))
			return r;
		pos++;
	}
	return 0;
}

int cost_profile_parse(const char *text, size_t len, const char *what, const struct cr_model *m,
		      struct cost_profile *p, char *err, size_t errlen)
{
	struct jc c = {what, err, errlen};
	cJSON *root = NULL;
	const cJSON *arr, *ex;
	int r, e = 0;
	memset(p, 0, sizeof(*p));
	if ((r = parse_json(text, len, &c, &root)))
		return r;
	if ((r = need_obj(&c, root, "")) || (r = profile_ids(&c, root, p)) ||
	    (r = profile_run(&c, root, p)) ||
	    (r = get_arr(&c, root, "", "exits", 1, COST_MAX_EXITS, &arr, &p->n_exits)))
		goto err;
	cJSON_ArrayForEach(ex, arr)
	{
		if ((r = profile_exit(&c, ex, e++, p)))
			goto err;
	}
	cJSON_Delete(root);
	root = NULL;
	if (m && (r = cost_profile_check_model(p, m, what, err, errlen)))
		goto err;
	return 0;
err:
	cJSON_Delete(root);
	return r;
}

int cost_profile_load(const char *path, const struct cr_model *m, struct cost_profile *out, char *err,
		     size_t errlen)
{
	char *buf;
	size_t len;
	int r = cf_read_text(path, MAX_FILE_BYTES, &buf, &len, err, errlen);
	if (r)
		return r;
	r = cost_profile_parse(buf, len, path, m, out, err, errlen);
	free(buf);
	return r;
}

/* ---- codec tables ------------------------------------------------------------------- */

/* fp32_accuracy: one entry per exit, which also sets the table's exit count. */
static int codec_accuracy(const struct jc *c, const cJSON *root, const struct cr_model *m,
			  struct cost_codec_table *t)
{
	const cJSON *arr, *v;
	int r, n, i = 0, seen[COST_MAX_EXITS] = {0};
	char path[64];
	if ((r = get_arr(c, root, "", "fp32_accuracy", 1, COST_MAX_EXITS, &arr, &n)))
		return r;
	cJSON_ArrayForEach(v, arr)
	{
		int e = 0;
		double a = 0;
		snprintf(path, sizeof(path), "fp32_accuracy[%d]", i++);
		if ((r = need_obj(c, v, path)) || (r = get_int(c, v, path, "exit", 1, COST_MAX_EXITS, &e)) ||
		    (r = get_num(c, v, path, "accuracy", 0, 1, &a)))
			return r;
		t->fp32_accuracy[e - 1] = a;
		seen[e - 1] = 1;
		if (e > t->n_exits)
			t->n_exits = e;
	}
	for (int e = 0; e < t->n_exits; e++)
		if (!seen[e])
			return cf_fail(-EINVAL, c->err, c->errlen,
				       "%s: fp32_accuracy has no entry for exit %d", c->what,
				       e + 1);
	if (m && t->n_exits != m->n_exits)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: %d exits, the model has %d",
			       c->what, t->n_exits, m->n_exits);
	return 0;
}

/* One of the entries (path names it): the size and accuracy of an (exit,
 * partition, bits), at a partition the model has, given once. */
static int codec_entry(const struct jc *c, const cJSON *v, const char *path,
		       const struct cr_model *m, struct cost_codec_table *t)
{
	const char *what = c->what;
	int e = 0, p = 0, bits = 0, r;
	double bytes = 0, acc = 0;
	char layer[CR_NAME_LEN];
	if ((r = need_obj(c, v, path)) ||
	    (r = get_int(c, v, path, "exit", 1, t->n_exits, &e)) ||
	    (r = get_int(c, v, path, "partition", 0, COST_MAX_POS - 1, &p)) ||
	    (r = get_int(c, v, path, "bits", 1, 32, &bits)) ||
	    (r = get_str(c, v, path, "layer", layer, sizeof(layer))) ||
	    (r = get_num(c, v, path, "bytes", 0, 1e12, &bytes)) ||
	    (r = get_num(c, v, path, "accuracy", 0, 1, &acc)))
		return r;
	int b = cf_action_bits_index(bits);
	if (b < 0)
		return bad(c, path, "bits", "is not 4, 8, 12 or 16");
	if (m && p >= m->exit_len[e - 1])
		return cf_fail(-EINVAL, c->err, c->errlen,
			       "%s: %s: exit %d has no partition %d with data to send (the model's exit has %d layers)",
			       what, path, e, p, m->exit_len[e - 1]);
	const char *no = m ? cr_model_cut_problem(m, e - 1, p) : NULL;
	if (no)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: %s: partition %d of exit %d %s",
			       what, path, p, e, no);
	if (m) {
		const char *want = p ? cr_model_exit_layer(m, e - 1, p - 1)->name : "input";
		if (strcmp(layer, want))
			return cf_fail(-EINVAL, c->err, c->errlen,
				       "%s: %s: exit %d partition %d is layer %s, the model's is %s",
				       what, path, e, p, layer, want);
	}
	if (t->bytes[e - 1][p][b] >= 0)
		return cf_fail(-EINVAL, c->err, c->errlen,
			       "%s: %s repeats exit %d partition %d bits %d", what, path, e, p,
			       bits);
	t->bytes[e - 1][p][b] = bytes;
	t->accuracy[e - 1][p][b] = acc;
	snprintf(t->layer[e - 1][p], sizeof(t->layer[e - 1][p]), "%s", layer);
	if (p + 1 > t->n_part[e - 1])
		t->n_part[e - 1] = p + 1;
	return 0;
}

int cost_codec_table_parse(const char *text, size_t len, const char *what, const struct cr_model *m,
			  struct cost_codec_table *t, char *err, size_t errlen)
{
	struct jc c = {what, err, errlen};
	cJSON *root = NULL;
	const cJSON *arr, *v;
	int r, n, i = 0;
	char path[64];
	memset(t, 0, sizeof(*t));
	for (int e = 0; e < COST_MAX_EXITS; e++)
		for (int p = 0; p < COST_MAX_POS; p++)
			for (int b = 0; b < CF_ACTION_NBITS; b++)
				t->bytes[e][p][b] = -1;
	if ((r = parse_json(text, len, &c, &root)))
		return r;
	if ((r = need_obj(&c, root, "")) || (r = get_str(&c, root, "", "model", t->model, sizeof(t->model))))
		goto err;
	if (m && strcmp(t->model, m->name)) {
		r = cf_fail(-EINVAL, err, errlen, "%s: field model is %s, the loaded model is %s", what,
			     t->model, m->name);
		goto err;
	}
	if ((r = get_int(&c, root, "", "images", 1, 1 << 30, &t->images)) ||
	    (r = codec_accuracy(&c, root, m, t)))
		goto err;
	if ((r = get_arr(&c, root, "", "entries", 1, COST_MAX_EXITS * COST_MAX_POS * CF_ACTION_NBITS, &arr, &n)))
		goto err;
	cJSON_ArrayForEach(v, arr)
	{
		snprintf(path, sizeof(path), "entries[%d]", i++);
		if ((r = codec_entry(&c, v, path, m, t)))
			goto err;
	}
	t->n_plain = m ? m->n_plain : t->n_exits;
	for (int e = 0; e < t->n_exits; e++)
		t->of[e] = e;
	for (int e = 0; m && e < m->n_exits && e < COST_MAX_EXITS; e++) {
		t->variant[e] = (int)m->exit_variant[e], t->of[e] = m->exit_of[e];
		for (int p = 0; p < m->exit_len[e] && p < COST_MAX_POS; p++)
			t->in_block[e][p] = (unsigned char)!cr_model_cut_ok(m, e, p);
	}
	cJSON_Delete(root);
	return 0;
err:
	cJSON_Delete(root);
	return r;
}

int cost_codec_table_load(const char *path, const struct cr_model *m, struct cost_codec_table *out,
			 char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int r = cf_read_text(path, MAX_FILE_BYTES, &buf, &len, err, errlen);
	if (r)
		return r;
	r = cost_codec_table_parse(buf, len, path, m, out, err, errlen);
	free(buf);
	return r;
}

/* ---- the cost model from files -------------------------------------------------------- */

int cost_load(const struct cr_model *m, const char *root, const char *device, const char *edge,
		  const char *codec_path, struct cost_model **out, char *err, size_t errlen)
{
	struct cost_device_class *dc = malloc(sizeof(*dc)), *ec = malloc(sizeof(*ec));
	struct cost_profile *dp = malloc(sizeof(*dp)), *ep = malloc(sizeof(*ep));
	struct cost_codec_table *ct = malloc(sizeof(*ct));
	struct cost_model *cm = malloc(sizeof(*cm));
	char path[COST_PATH_LEN + 64];
	int r;
	*out = NULL;
	if (!dc || !ec || !dp || !ep || !ct || !cm) {
		r = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto err;
	}
	if (!codec_path) {
		snprintf(path, sizeof(path), "%s/models/%s.codec.json", root, m->name);
		codec_path = path;
	}
	if ((r = cost_class_load(root, device, dc, err, errlen)) ||
	    (r = cost_class_load(root, edge, ec, err, errlen)) ||
	    (r = cost_class_profile(root, dc, m, dp, err, errlen)) ||
	    (r = cost_class_profile(root, ec, m, ep, err, errlen)) ||
	    (r = cost_codec_table_load(codec_path, m, ct, err, errlen)) ||
	    (r = cost_build(cm, dp, dc, ep, ec, ct, err, errlen)))
		goto err;
	*out = cm;
	cm = NULL;
err:
	free(dc);
	free(ec);
	free(dp);
	free(ep);
	free(ct);
	free(cm);
	return r;
}
