/* The configuration files' YAML reader (design in coinfer/yamlconf.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "coinfer/errmsg.h"
#include "coinfer/yamlconf.h"

/* ---- libyaml: syntax and positions ----------------------------------------- */

static int doc_empty(yaml_document_t *d)
{
	yaml_node_t *r = yaml_document_get_root_node(d);
	return !r || (r->type == YAML_SCALAR_NODE && !r->data.scalar.length);
}

static int syntax_error(yaml_parser_t *p, const char *name, char *err, size_t errlen)
{
	return cf_fail(-EINVAL, err, errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", name,
		       p->problem_mark.line + 1, p->problem_mark.column + 1,
		       p->problem ? p->problem : "parse error", p->context ? " " : "",
		       p->context ? p->context : "");
}

/* One document, neither none (nothing set: surely a mistake) nor more (which
 * libcyaml would ignore but for the first); the later ones are parsed too, so a
 * syntax error anywhere is named. */
int cfg_yaml_open(struct cfg_yaml *y, const char *name, const char *text, size_t len,
		  const char *what, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t *doc = calloc(1, sizeof(*doc)), more;
	int ret = 0, docs = 1;
	*y = (struct cfg_yaml){.name = name, .text = text, .len = len};
	if (!doc || !yaml_parser_initialize(&p)) {
		free(doc);
		return cf_fail(-ENOMEM, err, errlen, "%s: out of memory for the YAML parser", name);
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, doc)) {
		ret = syntax_error(&p, name, err, errlen);
		free(doc);
		goto out;
	}
	y->doc = doc;
	for (;;) {
		if (!yaml_parser_load(&p, &more)) {
			ret = syntax_error(&p, name, err, errlen);
			goto out;
		}
		int end = !yaml_document_get_root_node(&more);
		yaml_document_delete(&more);
		if (end)
			break;
		docs++;
	}
	if (doc_empty(doc))
		ret = cf_fail(-EINVAL, err, errlen, "%s: empty: no %s in it", name, what);
	else if (docs > 1)
		ret = cf_fail(-EINVAL, err, errlen, "%s: %d YAML documents: the %s go in one", name,
			      docs, what);
out:
	yaml_parser_delete(&p);
	if (ret)
		cfg_yaml_close(y);
	return ret;
}

void cfg_yaml_close(struct cfg_yaml *y)
{
	if (y->doc) {
		yaml_document_delete(y->doc);
		free(y->doc);
	}
	y->doc = NULL;
}

static yaml_node_t *node(const struct cfg_yaml *y, int id)
{
	return yaml_document_get_node(y->doc, id);
}

static int scalar_is(const yaml_node_t *n, const char *s, size_t sl)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == sl &&
	       !memcmp(n->data.scalar.value, s, sl);
}

/* The pair of mapping m whose key is k (kl bytes), the skip-th such; NULL if none. */
static yaml_node_pair_t *pair_of(const struct cfg_yaml *y, yaml_node_t *m, const char *k,
				 size_t kl, int skip)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(node(y, p->key), k, kl) && !skip--)
			return p;
	return NULL;
}

int cfg_yaml_line(const struct cfg_yaml *y, const char *path)
{
	yaml_node_t *n = y->doc ? yaml_document_get_root_node(y->doc) : NULL;
	size_t line = n ? n->start_mark.line + 1 : 0;
	for (const char *s = path; n && *s;) {
		size_t sl = strcspn(s, ".");
		char *end;
		long i = strtol(s, &end, 10);
		if (n->type == YAML_SEQUENCE_NODE && end == s + sl && sl) {
			yaml_node_item_t *it = n->data.sequence.items.start + i;
			n = i >= 0 && it < n->data.sequence.items.top ? node(y, *it) : NULL;
			line = n ? n->start_mark.line + 1 : 0;
		} else {
			yaml_node_pair_t *p = pair_of(y, n, s, sl, 0);
			n = p ? node(y, p->value) : NULL;
			line = p ? node(y, p->key)->start_mark.line + 1 : 0;
		}
		s += sl + (s[sl] == '.');
	}
	return n ? (int)line : 0;
}

void cfg_yaml_where(const struct cfg_yaml *y, const char *path, const char *key, char *buf,
		    size_t len)
{
	int line = cfg_yaml_line(y, path);
	if (line)
		snprintf(buf, len, "%s:%d: %s", y->name, line, key);
	else
		snprintf(buf, len, "%s: %s", y->name, key);
}

/* The mapping holding key k (twice when twice) that libcyaml's backtrace points
 * into: the innermost one starting at or before line:col (1-based), else the
 * first. Its pair's key lines in first (and second). */
static int key_lines(const struct cfg_yaml *y, const char *k, int line, int col, int twice,
		     int *first, int *second)
{
	yaml_document_t *d = y->doc;
	yaml_node_t *best = NULL, *any = NULL;
	size_t kl = strlen(k);
	for (yaml_node_t *n = d->nodes.start; n < d->nodes.top; n++) {
		int l = (int)n->start_mark.line + 1, c = (int)n->start_mark.column + 1;
		if (!pair_of(y, n, k, kl, twice))
			continue;
		if (!any || n->start_mark.index < any->start_mark.index)
			any = n;
		if ((l < line || (l == line && c <= col)) &&
		    (!best || n->start_mark.index > best->start_mark.index))
			best = n;
	}
	if (!best)
		best = any;
	if (!best)
		return 0;
	*first = (int)node(y, pair_of(y, best, k, kl, 0)->key)->start_mark.line + 1;
	if (twice)
		*second = (int)node(y, pair_of(y, best, k, kl, 1)->key)->start_mark.line + 1;
	return 1;
}

/* ---- libcyaml: the schema ------------------------------------------------------ */

/* libcyaml reports an error as a message, then "Backtrace:", then the places
 * innermost first: kept to be turned into one line of ours. */
struct yaml_log {
	char msg[200], in[8][200];
	int n_in;
};

static void log_line(cyaml_log_t level, void *ctx, const char *fmt, va_list ap)
{
	struct yaml_log *l = ctx;
	char line[200];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	const char *t = strncmp(line, "Load: ", 6) ? line : line + 6;
	if (level < CYAML_LOG_ERROR || !strcmp(t, "Backtrace:"))
		return;
	t += strspn(t, " ");
	if (!strncmp(t, "in ", 3)) {
		if (l->n_in < 8)
			snprintf(l->in[l->n_in++], sizeof(l->in[0]), "%s", t);
	} else if (!*l->msg) {
		snprintf(l->msg, sizeof(l->msg), "%s", t);
	}
}

/* Optimal string alignment distance (a swap of two letters counts one): the
 * typos people make in keys. */
static int typo_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b);
	if (la > 63 || lb > 63)
		return INT_MAX;
	int d[64][64];
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++)
		for (int j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

/* The schema's key nearest k (every mapping's, nested ones too) into *best. */
static void nearest_key(const cyaml_schema_value_t *v, const char *k, int depth, int *bd,
			const char **best)
{
	if (depth > 8)
		return;
	if (v->type == CYAML_SEQUENCE || v->type == CYAML_SEQUENCE_FIXED) {
		nearest_key(v->sequence.entry, k, depth + 1, bd, best);
		return;
	}
	if (v->type != CYAML_MAPPING)
		return;
	for (const cyaml_schema_field_t *f = v->mapping.fields; f->key; f++) {
		int d = typo_distance(k, f->key);
		if (d < *bd)
			*bd = d, *best = f->key;
		nearest_key(&f->value, k, depth + 1, bd, best);
	}
}

/* The key a mistyped one most likely meant, or NULL. */
static const char *closest_key(const cyaml_schema_value_t *top, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "%s", key);
	for (char *p = k; *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	const char *best = NULL;
	int bd = INT_MAX, allowed = strlen(k) < 5 ? 1 : 2;
	nearest_key(top, k, 0, &bd, &best);
	return bd <= allowed ? best : NULL;
}

static const char *event_words(const char *e)
{
	if (!strncmp(e, "SEQUENCE", 8))
		return "a list";
	if (!strncmp(e, "MAPPING", 7))
		return "a mapping (key: value lines)";
	if (!strncmp(e, "SCALAR", 6) || !strncmp(e, "STRING", 6))
		return "a single value";
	return e;
}

/* Where libcyaml's backtrace points: the innermost field's key, the line,
 * column and entry (-1: none; libcyaml counts from 1) of the innermost place,
 * and the path of the innermost place ("groups.2") for cfg_yaml_line, and of
 * the mapping holding it (a missing field is reported in the last one read). */
struct place {
	char key[80], path[200], parent[200];
	int line, col, entry;
};

static void backtrace_place(const struct yaml_log *l, struct place *pl)
{
	*pl = (struct place){.entry = -1};
	for (int i = l->n_in - 1; i >= 0; i--) {
		int n, ln, cl;
		char k[80], seg[90];
		size_t used = strlen(pl->path);
		if (sscanf(l->in[i], "in mapping field '%79[^']' (line: %d, column: %d)", k, &ln,
			   &cl) == 3) {
			snprintf(pl->key, sizeof(pl->key), "%s", k), pl->line = ln, pl->col = cl;
			snprintf(seg, sizeof(seg), "%s%s", used ? "." : "", k);
		} else if (sscanf(l->in[i], "in sequence entry '%d' (line: %d, column: %d)", &n,
				  &ln, &cl) == 3) {
			pl->entry = n, pl->line = ln, pl->col = cl;
			snprintf(seg, sizeof(seg), "%s%d", used ? "." : "", n - 1);
		} else {
			continue;
		}
		memcpy(pl->parent, pl->path, sizeof(pl->parent));
		if (pl->entry >= 0 && !i && !strncmp(l->in[i], "in seq", 6))
			snprintf(pl->parent + used, sizeof(pl->parent) - used, "%s", seg);
		snprintf(pl->path + used, sizeof(pl->path) - used, "%s", seg);
	}
}

static int unknown_key(const struct cfg_yaml *y, const cyaml_schema_value_t *top,
		       const struct place *pl, const char *k, const char *unknown, char *err,
		       size_t errlen)
{
	const char *hint = closest_key(top, k);
	char at[160];
	int kl = 0;
	if (key_lines(y, k, pl->line, pl->col, 0, &kl, NULL))
		snprintf(at, sizeof(at), "%s:%d", y->name, kl);
	else
		snprintf(at, sizeof(at), "%s", y->name);
	if (hint)
		return cf_fail(-EINVAL, err, errlen, "%s: unknown key '%s' (did you mean '%s'?%s)",
			       at, k, hint, strchr(k, '-') ? " keys are spelt with '_'" : "");
	return cf_fail(-EINVAL, err, errlen, "%s: unknown key '%s': %s", at, k, unknown);
}

/* One line for what libcyaml said: file:line: key: what. */
static int cyaml_error(const struct cfg_yaml *y, const cyaml_schema_value_t *top,
		       const struct yaml_log *l, cyaml_err_t e, const char *unknown, char *err,
		       size_t errlen)
{
	const char *name = y->name, *m = *l->msg ? l->msg : cyaml_strerror(e);
	char want[40], got[40];
	struct place pl;
	int first, again;
	backtrace_place(l, &pl);
	if (!strncmp(m, "Unexpected key: ", 16))
		return unknown_key(y, top, &pl, m + 16, unknown, err, errlen);
	if (!strncmp(m, "Mapping field already seen: ", 28)) {
		const char *k = m + 28;
		if (key_lines(y, k, pl.line, pl.col, 1, &first, &again))
			return cf_fail(-EINVAL, err, errlen, "%s:%d: key '%s' given twice "
					      "(first at line %d)", name, again, k, first);
		return cf_fail(-EINVAL, err, errlen, "%s: key '%s' given twice", name, k);
	}
	if (!strncmp(m, "Missing required mapping field: ", 32)) {
		int line = cfg_yaml_line(y, pl.parent);
		return cf_fail(-EINVAL, err, errlen, "%s:%d: %s: missing (a required key)", name,
			       line, m + 32);
	}
	if (sscanf(m, "Expecting %39[A-Z_], got event: %39[A-Z_]", want, got) == 2) {
		if (!*pl.key)
			return cf_fail(-EINVAL, err, errlen,
				       "%s: expected key: value lines, got %s", name,
				       event_words(got));
		if (pl.entry >= 0)
			return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: entry %d: expected %s, "
					      "got %s", name, pl.line, pl.col, pl.key, pl.entry,
				       event_words(want), event_words(got));
		return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: expected %s, got %s", name,
			       pl.line, pl.col, pl.key, event_words(want), event_words(got));
	}
	if (*pl.key)
		return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: %s", name, pl.line, pl.col,
			       pl.key, m);
	return cf_fail(-EINVAL, err, errlen, "%s: %s", name, m);
}

static const cyaml_config_t base_config = {.mem_fn = cyaml_mem, .log_level = CYAML_LOG_WARNING,
					   .flags = CYAML_CFG_NO_ALIAS};

int cfg_yaml_map(const struct cfg_yaml *y, const cyaml_schema_value_t *top, void **data,
		 const char *unknown, char *err, size_t errlen)
{
	struct yaml_log log = {.n_in = 0};
	cyaml_config_t cc = base_config;
	cc.log_fn = log_line, cc.log_ctx = &log;
	*data = NULL;
	cyaml_err_t e = cyaml_load_data((const uint8_t *)y->text, y->len, &cc, top,
					(cyaml_data_t **)data, NULL);
	if (e != CYAML_OK)
		return cyaml_error(y, top, &log, e, unknown, err, errlen);
	return 0;
}

void cfg_yaml_unmap(const cyaml_schema_value_t *top, void *data)
{
	if (data)
		cyaml_free(&base_config, top, data, 0);
}

/* ---- values ----------------------------------------------------------------- */

int cfg_yaml_number(const char *where, const char *s, double lo, double hi, double *v, char *err,
		    size_t errlen)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	/* strtod alone takes " 12", "0x10" and "inf"; a file means decimal */
	if (!*s || *end || errno || !isfinite(x) || strpbrk(s, "xXnN") ||
	    !(*s == '-' || *s == '.' || (*s >= '0' && *s <= '9')))
		return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not a number", where, s);
	if (x < lo || x > hi)
		return cf_fail(-ERANGE, err, errlen, "%s: %g is out of range (%g..%g)", where, x,
			       lo, hi);
	*v = x;
	return 0;
}

int cfg_yaml_integer(const char *where, const char *s, long long lo, long long hi, long long *v,
		     char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	/* strtoll alone takes " 12" and "+12" */
	if (!*s || *end || errno || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not an integer", where, s);
	if (x < lo || x > hi)
		return cf_fail(-ERANGE, err, errlen, "%s: %lld is out of range (%lld..%lld)", where,
			       x, lo, hi);
	*v = x;
	return 0;
}
