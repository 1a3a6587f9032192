/* Benchmark files (coinfer-bench-* print JSON whose shape differs per program;
 * any JSON that is not a fleet run lands here): an object becomes a table of its
 * fields (nested objects flattened to a.b.c), an array of objects a table with a
 * row per element and a column per field, and the arrays of objects inside those
 * rows one table each, all rows of all parents together (the "#" column says
 * whose: "2.1" is the first of the second's). Several values in a file (one per
 * line) are rows of one table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"

#define MAX_COLS 48
#define CELL 160
#define KEY 160

struct kv {
	char key[KEY];
	const cJSON *v;
	char label[32]; /* arrays of objects: the row they sit in */
};

struct kvs {
	struct kv *e;
	int n, cap;
};

static int kvs_add(struct kvs *l, const char *prefix, const char *key, const cJSON *v,
		   const char *label)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 32;
		struct kv *e = realloc(l->e, (size_t)cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	struct kv *k = &l->e[l->n++];
	snprintf(k->key, KEY, "%s%s%s", prefix, *prefix && key ? "." : "", key ? key : "");
	snprintf(k->label, sizeof(k->label), "%s", label ? label : "");
	k->v = v;
	return 0;
}

static int is_object_array(const cJSON *v)
{
	return cJSON_IsArray(v) && cJSON_IsObject(cJSON_GetArrayItem(v, 0));
}

/* o's scalars into sc (nested objects as dotted keys), its arrays of objects into
 * arrs (their keys relative to o). */
static int flatten(const cJSON *o, const char *prefix, const char *label, struct kvs *sc,
		   struct kvs *arrs)
{
	const cJSON *c;
	int ret = 0;
	cJSON_ArrayForEach(c, o) {
		char sub[KEY];
		snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "." : "", c->string);
		if (cJSON_IsObject(c))
			ret = flatten(c, sub, label, sc, arrs);
		else if (is_object_array(c))
			ret = kvs_add(arrs, prefix, c->string, c, label);
		else
			ret = kvs_add(sc, prefix, c->string, c, label);
		if (ret)
			return ret;
	}
	return 0;
}

static void cell(char *buf, const cJSON *v)
{
	if (!v)
		snprintf(buf, CELL, "%s", "");
	else if (cJSON_IsNumber(v))
		rp_fmt(buf, CELL, v->valuedouble);
	else if (cJSON_IsBool(v))
		snprintf(buf, CELL, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsString(v))
		snprintf(buf, CELL, "%s", v->valuestring);
	else if (cJSON_IsNull(v))
		snprintf(buf, CELL, "null");
	else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= 8) {
		const cJSON *e;
		size_t len = 0;
		cJSON_ArrayForEach(e, v) {
			char one[CELL];
			cell(one, e);
			if (len < CELL)
				len += (size_t)snprintf(buf + len, CELL - len, "%s%s",
							len ? ", " : "", one);
		}
		if (!len)
			snprintf(buf, CELL, "(none)");
	} else {
		snprintf(buf, CELL, "(%d values)", cJSON_GetArraySize(v));
	}
}

static void emit_array(struct rp_doc *d, const struct kvs *elems, const char *title,
		       int max_rows);

/* The objects of arr into el, labelled "K" or, under a parent row, "PARENT.K". */
static int add_elements(struct kvs *el, const cJSON *arr, const char *parent)
{
	const cJSON *e;
	char label[32];
	int k = 0;
	cJSON_ArrayForEach(e, arr) {
		if (parent)
			snprintf(label, sizeof(label), "%.20s.%d", parent, ++k);
		else
			snprintf(label, sizeof(label), "%d", ++k);
		if (cJSON_IsObject(e) && kvs_add(el, "", NULL, e, label))
			return -ENOMEM;
	}
	return 0;
}

/* An object's fields as a two-column table, then its arrays of objects. */
static void emit_object(struct rp_doc *d, const cJSON *o, const char *title, int max_rows)
{
	static const char *const h[] = {"field", "value"};
	struct kvs sc = {0}, arrs = {0};
	char v[CELL];
	if (flatten(o, "", NULL, &sc, &arrs))
		goto out;
	if (sc.n) {
		rp_h(d, 3, *title ? title : "Fields");
		rp_table_kv(d, h);
		for (int i = 0; i < sc.n; i++) {
			const char *c[2] = {sc.e[i].key, v};
			cell(v, sc.e[i].v);
			rp_row(d, 2, c);
		}
		rp_table_end(d);
	}
	for (int i = 0; i < arrs.n; i++) {
		struct kvs el = {0};
		char t[2 * KEY];
		int bad = add_elements(&el, arrs.e[i].v, NULL);
		snprintf(t, sizeof(t), "%s%s%s[]", title, *title ? "." : "", arrs.e[i].key);
		if (!bad)
			emit_array(d, &el, t, max_rows);
		free(el.e);
	}
out:
	free(sc.e);
	free(arrs.e);
}

/* The columns: every element's flattened keys, in the order first seen. */
static int columns(const struct kvs *elems, struct kvs *cols, struct kvs *subs)
{
	for (int r = 0; r < elems->n; r++) {
		struct kvs sc = {0}, arrs = {0};
		int ret = flatten(elems->e[r].v, "", elems->e[r].label, &sc, &arrs);
		for (int i = 0; !ret && i < sc.n; i++) {
			int k = 0;
			while (k < cols->n && strcmp(cols->e[k].key, sc.e[i].key))
				k++;
			if (k == cols->n && cols->n < MAX_COLS)
				ret = kvs_add(cols, sc.e[i].key, NULL, NULL, NULL);
		}
		for (int i = 0; !ret && i < arrs.n; i++)
			ret = kvs_add(subs, arrs.e[i].key, NULL, arrs.e[i].v, elems->e[r].label);
		free(sc.e);
		free(arrs.e);
		if (ret)
			return ret;
	}
	return 0;
}

static void emit_rows(struct rp_doc *d, const struct kvs *elems, const struct kvs *cols,
		      int max_rows)
{
	static char cells[MAX_COLS + 1][CELL];
	const char *p[MAX_COLS + 1], *heads[MAX_COLS + 1];
	heads[0] = "#";
	for (int c = 0; c < cols->n; c++)
		heads[c + 1] = cols->e[c].key;
	rp_table(d, cols->n + 1, heads);
	for (int r = 0; r < elems->n && r < max_rows; r++) {
		struct kvs sc = {0}, arrs = {0};
		flatten(elems->e[r].v, "", NULL, &sc, &arrs);
		snprintf(cells[0], CELL, "%s", elems->e[r].label);
		p[0] = cells[0];
		for (int c = 0; c < cols->n; c++) {
			const cJSON *v = NULL;
			for (int i = 0; i < sc.n && !v; i++)
				if (!strcmp(sc.e[i].key, cols->e[c].key))
					v = sc.e[i].v;
			cell(cells[c + 1], v);
			p[c + 1] = cells[c + 1];
		}
		rp_row(d, cols->n + 1, p);
		free(sc.e);
		free(arrs.e);
	}
	rp_table_end(d);
	if (elems->n > max_rows)
		rp_p(d, "%d more rows not shown (--max-rows).", elems->n - max_rows);
}

/* Elements (objects, each with its label) as rows; their own arrays of objects
 * below, one table per key. */
static void emit_array(struct rp_doc *d, const struct kvs *elems, const char *title,
		       int max_rows)
{
	struct kvs cols = {0}, subs = {0};
	if (!elems->n || columns(elems, &cols, &subs))
		goto out;
	if (cols.n) {
		rp_h(d, 3, title);
		emit_rows(d, elems, &cols, max_rows);
	}
	for (int i = 0; i < subs.n; i++) {
		struct kvs el = {0};
		char t[2 * KEY];
		int dup = 0, bad = 0;
		for (int j = 0; j < i && !dup; j++)
			dup = !strcmp(subs.e[j].key, subs.e[i].key);
		if (dup)
			continue; /* gathered with the first of its key */
		for (int j = i; j < subs.n && !bad; j++)
			if (!strcmp(subs.e[j].key, subs.e[i].key))
				bad = add_elements(&el, subs.e[j].v, subs.e[j].label);
		snprintf(t, sizeof(t), "%s.%s[]", title, subs.e[i].key);
		if (!bad)
			emit_array(d, &el, t, max_rows);
		free(el.e);
	}
out:
	free(cols.e);
	free(subs.e);
}

void rp_bench_tables(struct rp_doc *d, const struct rp_input *in, int max_rows)
{
	struct kvs el = {0};
	char label[32];
	int bad = 0;
	rp_p(d, "%s: %d JSON value%s, %zu bytes, XXH64 %016llx.", in->path, in->n_docs,
	     in->n_docs == 1 ? "" : "s", in->bytes, (unsigned long long)in->xxh64);
	if (in->n_docs == 1 && cJSON_IsObject(in->docs[0])) {
		emit_object(d, in->docs[0], "", max_rows);
		return;
	}
	for (int i = 0; i < in->n_docs && !bad; i++) {
		const cJSON *v = in->docs[i];
		snprintf(label, sizeof(label), "%d", i + 1);
		if (cJSON_IsObject(v))
			bad = kvs_add(&el, "", NULL, v, label);
		else if (cJSON_IsArray(v))
			bad = add_elements(&el, v, label);
	}
	if (!bad && el.n)
		emit_array(d, &el, "lines", max_rows);
	else if (!el.n)
		rp_p(d, "No JSON objects in this file: nothing to tabulate.");
	free(el.e);
}
