/* Fleet files (design in coinfer/fleet.h): libcyaml maps the groups' keys as
 * text, then each value is checked here with its line, the SLO file is read
 * and the paths the groups name are looked at. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/devclass.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/fleet.h"
#include "coinfer/names.h"
#include "coinfer/yamlconf.h"

struct raw_arrival {
	char *process, *rate_hz, *think_ms, *file;
};

struct raw_group {
	char *name, *count, *device_class, *application, *trace, *trace_set, *transport, *seed;
	struct raw_arrival *arrival;
};

struct raw_fleet {
	char *slo, *traces, *seed;
	struct raw_group *groups;
	unsigned groups_count; /* libcyaml's name for it */
};

#define TEXT CFG_YAML_TEXT

static const cyaml_schema_field_t arrival_fields[] = {
	TEXT(struct raw_arrival, process, "process", 1),
	TEXT(struct raw_arrival, rate_hz, "rate_hz", 0),
	TEXT(struct raw_arrival, think_ms, "think_ms", 0),
	TEXT(struct raw_arrival, file, "file", 0), CYAML_FIELD_END};

static const cyaml_schema_field_t group_fields[] = {
	TEXT(struct raw_group, name, "name", 0), TEXT(struct raw_group, count, "count", 1),
	TEXT(struct raw_group, device_class, "class", 1),
	TEXT(struct raw_group, application, "application", 1),
	TEXT(struct raw_group, trace, "trace", 0),
	TEXT(struct raw_group, trace_set, "trace_set", 0),
	CYAML_FIELD_MAPPING_PTR("arrival", CYAML_FLAG_POINTER, struct raw_group, arrival,
				arrival_fields),
	TEXT(struct raw_group, transport, "transport", 0), TEXT(struct raw_group, seed, "seed", 0),
	CYAML_FIELD_END};

static const cyaml_schema_value_t group_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_group, group_fields)};

static const cyaml_schema_field_t top_fields[] = {
	TEXT(struct raw_fleet, slo, "slo", 1), TEXT(struct raw_fleet, traces, "traces", 0),
	TEXT(struct raw_fleet, seed, "seed", 0),
	CYAML_FIELD_SEQUENCE("groups", CYAML_FLAG_POINTER, struct raw_fleet, groups, &group_entry,
			     0, CYAML_UNLIMITED),
	CYAML_FIELD_END};

static const cyaml_schema_value_t top = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_fleet, top_fields)};

/* What the checks of one file share: the document, the fleet file's folder and
 * the trace directory, a path buffer for "groups.N.key". */
struct ctx {
	const struct cfg_yaml *y;
	const struct cfg_fleet_paths *p;
	char dir[4096], traces[4096];
	char path[96], where[256];
	char *err;
	size_t errlen;
};

/* c->where for key of group g (-1: the top level). */
static const char *at(struct ctx *c, int g, const char *key)
{
	if (g < 0)
		snprintf(c->path, sizeof(c->path), "%s", key);
	else
		snprintf(c->path, sizeof(c->path), "groups.%d.%s", g, key);
	cfg_yaml_where(c->y, c->path, key, c->where, sizeof(c->where));
	return c->where;
}

/* base/rel, or rel when absolute; NULL when out of memory. */
static char *join(const char *base, const char *rel)
{
	char *s;
	if (rel[0] == '/' || !*base)
		return strdup(rel);
	return asprintf(&s, "%s/%s", base, rel) < 0 ? NULL : s;
}

/* *out = the path rel under base, which must exist as a directory (dir) or a
 * regular file: -ENOENT naming where otherwise. */
static int existing(struct ctx *c, const char *where, const char *base, const char *rel, int dir,
		    char **out)
{
	struct stat st;
	if (!*rel)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: empty", where);
	if (!(*out = join(base, rel)))
		return cf_fail(-ENOMEM, c->err, c->errlen, "%s: out of memory", where);
	if (stat(*out, &st))
		return cf_fail(-ENOENT, c->err, c->errlen, "%s: %s: %s", where, *out,
			       strerror(errno));
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return cf_fail(-ENOENT, c->err, c->errlen, "%s: %s is not a %s", where, *out,
			       dir ? "directory" : "regular file");
	return 0;
}

static int seed_of(struct ctx *c, int g, const char *text, uint64_t *seed)
{
	long long v;
	int ret = cfg_yaml_integer(at(c, g, "seed"), text, 0, INT64_MAX, &v, c->err, c->errlen);
	if (!ret)
		*seed = (uint64_t)v;
	return ret;
}

/* The top level: the SLO file, the trace directory, the seed. */
static int top_level(struct ctx *c, const struct raw_fleet *r, struct cfg_fleet *f)
{
	char *traces = NULL;
	int ret;
	f->seed = 1;
	if ((ret = existing(c, at(c, -1, "slo"), c->dir, r->slo, 0, &f->slo_path)))
		return ret;
	if ((ret = cfg_slo_load(f->slo_path, f->slo, &f->n_slo, c->err, c->errlen)))
		return ret;
	if (r->seed && (ret = seed_of(c, -1, r->seed, &f->seed)))
		return ret;
	if (r->traces)
		ret = existing(c, at(c, -1, "traces"), c->dir, r->traces, 1, &traces);
	else if (!c->p || !c->p->traces)
		ret = cf_fail(-EINVAL, c->err, c->errlen, "%s: traces: missing (no default trace "
				     "directory)", c->y->name);
	else
		traces = strdup(c->p->traces);
	if (!ret && !traces)
		ret = cf_fail(-ENOMEM, c->err, c->errlen, "%s: out of memory", c->y->name);
	if (!ret)
		snprintf(c->traces, sizeof(c->traces), "%s", traces);
	free(traces);
	return ret;
}

/* The arrival process of group g: its keys and only those. */
static int arrival(struct ctx *c, int g, const struct raw_arrival *a, struct cfg_fleet_group *gr)
{
	static const char *const procs[] = {"poisson", "closed", "gaps"};
	static const char *const needs[] = {"rate_hz", "think_ms", "file"};
	const char *const have[] = {a->rate_hz, a->think_ms, a->file};
	char key[64];
	int k = 0;
	while (k < 3 && strcmp(a->process, procs[k]))
		k++;
	if (k == 3)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not one of poisson, "
				      "closed, gaps", at(c, g, "arrival.process"), a->process);
	gr->arrival = (enum cfg_arrival)k;
	for (int j = 0; j < 3; j++) {
		snprintf(key, sizeof(key), "arrival.%s", needs[j]);
		if (j == k && !have[j]) {
			snprintf(c->path, sizeof(c->path), "groups.%d.arrival", g);
			cfg_yaml_where(c->y, c->path, key, c->where, sizeof(c->where));
			return cf_fail(-EINVAL, c->err, c->errlen, "%s: missing (process %s needs "
					      "it)", c->where, procs[k]);
		}
		if (j != k && have[j])
			return cf_fail(-EINVAL, c->err, c->errlen, "%s: not a key of process %s "
					      "(%s)", at(c, g, key), procs[k], needs[k]);
	}
	snprintf(key, sizeof(key), "arrival.%s", needs[k]);
	if (k == CFG_ARRIVAL_POISSON)
		return cfg_yaml_number(at(c, g, key), a->rate_hz, 1e-6, 1e6, &gr->rate_hz, c->err,
				       c->errlen);
	if (k == CFG_ARRIVAL_CLOSED)
		return cfg_yaml_number(at(c, g, key), a->think_ms, 0, 3600000, &gr->think_ms,
				       c->err, c->errlen);
	return existing(c, at(c, g, key), c->dir, a->file, 0, &gr->gaps);
}

/* A name of [A-Za-z0-9_.-] into buf. */
static int name_into(struct ctx *c, int g, const char *key, const char *s, char *buf)
{
	if (!cf_name_ok(s, CFG_FLEET_NAME_LEN))
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not 1..%d of "
				      "[A-Za-z0-9_.-]", at(c, g, key), s, CFG_FLEET_NAME_LEN - 1);
	snprintf(buf, CFG_FLEET_NAME_LEN, "%s", s);
	return 0;
}

/* The class file at path read through (the fleet's devices all take it):
 * its errors named after the group's key. */
static int class_ok(struct ctx *c, int g, const char *path)
{
	struct cfg_class *cls = malloc(sizeof(*cls));
	char cerr[512];
	int ret = cls ? cfg_class_load(path, cls, cerr, sizeof(cerr)) : -ENOMEM;
	free(cls);
	if (ret == -ENOMEM && !cls)
		return cf_fail(ret, c->err, c->errlen, "out of memory");
	if (ret)
		return cf_fail(ret, c->err, c->errlen, "%s: %s", at(c, g, "class"), cerr);
	return 0;
}

/* Group g's names: its own, its device class (which must exist and be a valid
 * class file when the caller gave the folder) and its application (which must
 * be in the SLO file). */
static int group_names(struct ctx *c, int g, const struct raw_group *r, struct cfg_fleet *f,
		       struct cfg_fleet_group *gr)
{
	char file[CFG_FLEET_NAME_LEN + 8], *path = NULL;
	int ret = 0;
	if (r->name)
		ret = name_into(c, g, "name", r->name, gr->name);
	else
		snprintf(gr->name, sizeof(gr->name), "group-%d", g + 1);
	if (!ret)
		ret = name_into(c, g, "class", r->device_class, gr->device_class);
	if (!ret && c->p && c->p->devices) {
		snprintf(file, sizeof(file), "%s.yaml", gr->device_class);
		ret = existing(c, at(c, g, "class"), c->p->devices, file, 0, &path);
		if (!ret)
			ret = class_ok(c, g, path);
		free(path);
	}
	if (!ret && (gr->app = cfg_slo_find(f->slo, f->n_slo, r->application)) < 0)
		ret = cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not an application of %s",
			      at(c, g, "application"), r->application, f->slo_path);
	return ret;
}

static int group(struct ctx *c, int g, const struct raw_group *r, struct cfg_fleet *f)
{
	struct cfg_fleet_group *gr = &f->groups[g];
	long long n;
	int ret;
	snprintf(c->path, sizeof(c->path), "groups.%d", g);
	gr->line = cfg_yaml_line(c->y, c->path);
	gr->seed = f->seed + (uint64_t)g;
	if ((ret = cfg_yaml_integer(at(c, g, "count"), r->count, 1, CFG_FLEET_MAX_DEVICES, &n,
				    c->err, c->errlen)))
		return ret;
	gr->count = (int)n;
	if (f->devices + gr->count > CFG_FLEET_MAX_DEVICES)
		return cf_fail(-ERANGE, c->err, c->errlen, "%s: the groups add up to more than %d "
				      "devices", at(c, g, "count"), CFG_FLEET_MAX_DEVICES);
	f->devices += gr->count;
	if ((ret = group_names(c, g, r, f, gr)))
		return ret;
	if (r->trace && r->trace_set)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: give trace or trace_set, not both",
			       at(c, g, "trace_set"));
	if (!r->trace && !r->trace_set)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s:%d: trace: missing (a group needs "
				      "trace or trace_set)", c->y->name, gr->line);
	gr->trace_set = !!r->trace_set;
	if ((ret = existing(c, at(c, g, r->trace ? "trace" : "trace_set"), c->traces,
			    r->trace ? r->trace : r->trace_set, gr->trace_set, &gr->trace)))
		return ret;
	if ((ret = arrival(c, g, r->arrival, gr)))
		return ret;
	if (r->transport && strcmp(r->transport, "tcp") && strcmp(r->transport, "udp"))
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not one of tcp, udp",
			       at(c, g, "transport"), r->transport);
	gr->transport = r->transport && !strcmp(r->transport, "udp") ? CFG_TRANSPORT_UDP
								      : CFG_TRANSPORT_TCP;
	return r->seed ? seed_of(c, g, r->seed, &gr->seed) : 0;
}

static int fleet(struct ctx *c, const struct raw_fleet *r, struct cfg_fleet *f)
{
	int ret = top_level(c, r, f);
	if (ret)
		return ret;
	if (!r->groups_count)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: an empty list",
			       at(c, -1, "groups"));
	if (r->groups_count > CFG_FLEET_MAX_GROUPS)
		return cf_fail(-E2BIG, c->err, c->errlen, "%s: more than %d", at(c, -1, "groups"),
			       CFG_FLEET_MAX_GROUPS);
	if (!(f->groups = calloc(r->groups_count, sizeof(*f->groups))))
		return cf_fail(-ENOMEM, c->err, c->errlen, "%s: out of memory", c->y->name);
	f->n_groups = (int)r->groups_count;
	for (int g = 0; g < f->n_groups && !ret; g++)
		ret = group(c, g, &r->groups[g], f);
	return ret;
}

int cfg_fleet_parse(const char *text, size_t len, const char *name,
		    const struct cfg_fleet_paths *p, struct cfg_fleet *f, char *err, size_t errlen)
{
	struct raw_fleet *raw = NULL;
	struct cfg_yaml y;
	struct ctx *c = calloc(1, sizeof(*c));
	int ret;
	memset(f, 0, sizeof(*f));
	if (!c)
		return cf_fail(-ENOMEM, err, errlen, "%s: out of memory", name);
	*c = (struct ctx){.y = &y, .p = p, .err = err, .errlen = errlen};
	/* the fleet file's folder: its relative paths start there */
	const char *slash = strrchr(name, '/');
	size_t dlen = slash ? (size_t)(slash - name) : 0;
	if (slash == name)
		dlen = 1; /* "/x.yaml": the root */
	if (dlen >= sizeof(c->dir))
		dlen = sizeof(c->dir) - 1;
	memcpy(c->dir, name, dlen);
	c->dir[dlen] = 0;
	if (!(ret = cfg_yaml_open(&y, name, text, len, "groups", err, errlen))) {
		ret = cfg_yaml_map(&y, &top, (void **)&raw, "not a key of a fleet file "
				   "(docs/config.md)", err, errlen);
		if (!ret)
			ret = fleet(c, raw, f);
		cfg_yaml_unmap(&top, raw);
		cfg_yaml_close(&y);
	}
	if (ret)
		cfg_fleet_free(f);
	free(c);
	return ret;
}

int cfg_fleet_load(const char *path, const struct cfg_fleet_paths *p, struct cfg_fleet *f,
		   char *err, size_t errlen)
{
	char *text;
	size_t len;
	memset(f, 0, sizeof(*f));
	int ret = cf_read_text(path, CFG_FLEET_MAX_BYTES, &text, &len, err, errlen);
	if (ret)
		return ret;
	ret = cfg_fleet_parse(text, len, path, p, f, err, errlen);
	free(text);
	return ret;
}

void cfg_fleet_free(struct cfg_fleet *f)
{
	for (int g = 0; g < f->n_groups; g++) {
		free(f->groups[g].trace);
		free(f->groups[g].gaps);
	}
	free(f->groups);
	free(f->slo_path);
	memset(f, 0, sizeof(*f));
}
