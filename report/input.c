/* The inputs: a file holds one JSON value or several (the benchmarks may print
 * one per line), parsed with cJSON; a coinfer-fleet run (docs/fleet-json.md) is
 * checked for what the report reads, so that a wrong file is an error naming
 * the file and the key rather than a page of blanks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "rp.h"

#define INPUT_MAX (1u << 30)

int rp_num(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsNumber(v))
		*out = v->valuedouble;
	else if (cJSON_IsBool(v))
		*out = cJSON_IsTrue(v);
	else
		return 0;
	return 1;
}

const char *rp_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The line and column (1-based) of offset off in text. */
static void position(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

static int add_doc(struct rp_input *in, cJSON *doc)
{
	cJSON **d = realloc(in->docs, (size_t)(in->n_docs + 1) * sizeof(*d));
	if (!d) {
		cJSON_Delete(doc);
		return -ENOMEM;
	}
	in->docs = d;
	in->docs[in->n_docs++] = doc;
	return 0;
}

/* Every JSON value in text, one after the other (whitespace between). */
static int parse_all(struct rp_input *in, const char *text, size_t len, char *err,
		     size_t errlen)
{
	size_t pos = 0;
	int ret, line, col;
	for (;;) {
		while (pos < len && strchr(" \t\r\n", text[pos]) && text[pos])
			pos++;
		if (pos >= len)
			break;
		const char *end = NULL;
		cJSON *doc = cJSON_ParseWithLengthOpts(text + pos, len - pos, &end, 0);
		if (!doc) {
			size_t off = end ? (size_t)(end - text) : pos;
			position(text, off, &line, &col);
			return cf_fail(-EINVAL, err, errlen,
				       "%s:%d:%d: malformed JSON (cJSON stopped at byte %zu)",
				       in->path, line, col, off);
		}
		if ((ret = add_doc(in, doc)))
			return cf_fail(ret, err, errlen, "%s: out of memory", in->path);
		pos = (size_t)(end - text);
	}
	if (!in->n_docs)
		return cf_fail(-EINVAL, err, errlen, "%s: no JSON in the file", in->path);
	return 0;
}

/* An array of objects at key (absent: fine unless required). */
static int check_objects(const struct rp_input *in, const cJSON *run, const char *key,
			 int required, const char *name_key, char *err, size_t errlen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(run, key), *e;
	int i = 0;
	if (!a && !required)
		return 0;
	if (!cJSON_IsArray(a))
		return cf_fail(-EINVAL, err, errlen, "%s: fleet run: \"%s\" %s", in->path, key,
			       a ? "is not an array" : "is missing");
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsObject(e))
			return cf_fail(-EINVAL, err, errlen,
				       "%s: fleet run: %s[%d] is not an object", in->path, key, i);
		if (name_key && !rp_str(e, name_key))
			return cf_fail(-EINVAL, err, errlen,
				       "%s: fleet run: %s[%d] has no string \"%s\"", in->path, key,
				       i, name_key);
		i++;
	}
	return 0;
}

/* What the report reads of a fleet run is there and of the right type. */
static int check_fleet(const struct rp_input *in, const cJSON *run, char *err, size_t errlen)
{
	static const char *const objs[] = {"meta", "totals"};
	double version = 0;
	int ret;
	if (in->n_docs != 1)
		return cf_fail(-EINVAL, err, errlen, "%s: a fleet run is one JSON object, not %d",
			       in->path, in->n_docs);
	if (!rp_num(run, "version", &version) || version != 1)
		return cf_fail(-EINVAL, err, errlen,
			       "%s: fleet run: unknown \"version\" (this report reads version 1)",
			       in->path);
	for (int i = 0; i < 2; i++)
		if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(run, objs[i])))
			return cf_fail(-EINVAL, err, errlen,
				       "%s: fleet run: \"%s\" is missing or not an object",
				       in->path, objs[i]);
	if ((ret = check_objects(in, run, "applications", 1, "name", err, errlen)) ||
	    (ret = check_objects(in, run, "classes", 0, "name", err, errlen)) ||
	    (ret = check_objects(in, run, "groups", 0, "name", err, errlen)) ||
	    (ret = check_objects(in, run, "decisions", 0, NULL, err, errlen)) ||
	    (ret = check_objects(in, run, "timeline", 0, "application", err, errlen)))
		return ret;
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(run, "records");
	if (rec && (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rec, "columns")) ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rec, "rows"))))
		return cf_fail(-EINVAL, err, errlen,
			       "%s: fleet run: \"records\" needs arrays \"columns\" and \"rows\"",
			       in->path);
	return 0;
}

int rp_input_parse(struct rp_input *in, const char *path, const char *text, size_t len,
		   char *err, size_t errlen)
{
	int ret;
	memset(in, 0, sizeof(*in));
	in->path = path;
	in->xxh64 = XXH64(text, len, 0);
	in->bytes = len;
	if ((ret = parse_all(in, text, len, err, errlen)))
		return ret;
	const char *kind = rp_str(in->docs[0], "kind");
	if (kind && !strcmp(kind, "coinfer-fleet")) {
		in->is_fleet = 1;
		ret = check_fleet(in, in->docs[0], err, errlen);
	}
	return ret;
}

int rp_input_load(struct rp_input *in, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	memset(in, 0, sizeof(*in));
	in->path = path;
	int ret = cf_read_text(path, INPUT_MAX, &text, &len, err, errlen);
	if (!ret)
		ret = rp_input_parse(in, path, text, len, err, errlen);
	free(text);
	return ret;
}

void rp_input_free(struct rp_input *in)
{
	for (int i = 0; i < in->n_docs; i++)
		cJSON_Delete(in->docs[i]);
	free(in->docs);
	in->docs = NULL;
	in->n_docs = 0;
}
