/* SLO files (design in coinfer/slo.h): libcyaml maps each application's keys
 * as text, then each value is checked and ranged here with its line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/names.h"
#include "coinfer/slo.h"
#include "coinfer/yamlconf.h"

struct raw_app {
	char *name, *deadline_ms, *objective, *window_s, *min_accuracy, *energy_j, *priority;
};

struct raw_slo {
	struct raw_app *apps;
	unsigned apps_count; /* libcyaml's name for it */
};

#define TEXT(k, req) CFG_YAML_TEXT(struct raw_app, k, #k, req)

static const cyaml_schema_field_t app_fields[] = {
	TEXT(name, 1), TEXT(deadline_ms, 1), TEXT(objective, 0), TEXT(window_s, 0),
	TEXT(min_accuracy, 0), TEXT(energy_j, 0), TEXT(priority, 0), CYAML_FIELD_END};

static const cyaml_schema_value_t app_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_app, app_fields)};

static const cyaml_schema_field_t top_fields[] = {
	CYAML_FIELD_SEQUENCE("applications", CYAML_FLAG_POINTER, struct raw_slo, apps, &app_entry,
			     0, CYAML_UNLIMITED),
	CYAML_FIELD_END};

static const cyaml_schema_value_t top = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_slo, top_fields)};

/* The numbers of an entry: their key, text, range and place in struct cfg_slo. */
struct num {
	const char *key;
	size_t raw, off;
	double lo, hi;
};

#define NUM(k, l, h) {#k, offsetof(struct raw_app, k), offsetof(struct cfg_slo, k), l, h}

static const struct num nums[] = {
	NUM(deadline_ms, 0, 3600000), NUM(objective, 0, 1), NUM(window_s, 0, 31 * 86400),
	NUM(min_accuracy, 0, 1), NUM(energy_j, 0, 1000)};

/* Entry i (raw r) into s. */
static int one_app(const struct cfg_yaml *y, unsigned i, const struct raw_app *r,
		   struct cfg_slo *s, char *err, size_t errlen)
{
	char path[64], where[200];
	int ret;
	*s = (struct cfg_slo){.objective = CFG_SLO_OBJECTIVE, .window_s = CFG_SLO_WINDOW_S};
	snprintf(path, sizeof(path), "applications.%u", i);
	s->line = cfg_yaml_line(y, path);
	snprintf(path, sizeof(path), "applications.%u.name", i);
	cfg_yaml_where(y, path, "name", where, sizeof(where));
	if (!cf_name_ok(r->name, CFG_SLO_NAME_LEN))
		return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not 1..%d of [A-Za-z0-9_.-]",
			       where, r->name, CFG_SLO_NAME_LEN - 1);
	snprintf(s->app, sizeof(s->app), "%s", r->name);
	for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		const struct num *m = &nums[k];
		const char *text = *(char *const *)((const char *)r + m->raw);
		double *v = (double *)((char *)s + m->off);
		if (!text)
			continue;
		snprintf(path, sizeof(path), "applications.%u.%s", i, m->key);
		cfg_yaml_where(y, path, m->key, where, sizeof(where));
		if ((ret = cfg_yaml_number(where, text, m->lo, m->hi, v, err, errlen)))
			return ret;
		/* a deadline or an objective of 0 cannot be met or means nothing */
		if (*v == 0 && m->lo == 0 && (!strcmp(m->key, "deadline_ms") ||
					      !strcmp(m->key, "objective")))
			return cf_fail(-ERANGE, err, errlen, "%s: must be above 0", where);
	}
	if (r->priority) {
		long long p;
		snprintf(path, sizeof(path), "applications.%u.priority", i);
		cfg_yaml_where(y, path, "priority", where, sizeof(where));
		if ((ret = cfg_yaml_integer(where, r->priority, 0, 100, &p, err, errlen)))
			return ret;
		s->priority = (int)p;
	}
	return 0;
}

static int all_apps(const struct cfg_yaml *y, const struct raw_slo *raw, struct cfg_slo *slo,
		    int *n, char *err, size_t errlen)
{
	char where[200];
	int ret;
	if (!raw->apps_count)
		return cf_fail(-EINVAL, err, errlen, "%s:%d: applications: an empty list", y->name,
			       cfg_yaml_line(y, "applications"));
	for (unsigned i = 0; i < raw->apps_count; i++) {
		struct cfg_slo s;
		snprintf(where, sizeof(where), "applications.%u", i);
		if (i == CFG_SLO_MAX)
			return cf_fail(-E2BIG, err, errlen, "%s:%d: applications: more than %d",
				       y->name, cfg_yaml_line(y, where), CFG_SLO_MAX);
		if ((ret = one_app(y, i, &raw->apps[i], &s, err, errlen)))
			return ret;
		int dup = cfg_slo_find(slo, *n, s.app);
		if (dup >= 0) {
			snprintf(where, sizeof(where), "applications.%u.name", i);
			return cf_fail(-EINVAL, err, errlen, "%s:%d: name: application '%s' given "
					      "twice (first at line %d)", y->name,
				       cfg_yaml_line(y, where), s.app, slo[dup].line);
		}
		slo[(*n)++] = s;
	}
	return 0;
}

int cfg_slo_parse(const char *text, size_t len, const char *name, struct cfg_slo *slo, int *n,
		  char *err, size_t errlen)
{
	struct raw_slo *raw = NULL;
	struct cfg_yaml y;
	int ret;
	*n = 0;
	if ((ret = cfg_yaml_open(&y, name, text, len, "applications", err, errlen)))
		return ret;
	ret = cfg_yaml_map(&y, &top, (void **)&raw, "not a key of an SLO file (docs/config.md)",
			   err, errlen);
	if (!ret)
		ret = all_apps(&y, raw, slo, n, err, errlen);
	if (ret)
		*n = 0;
	cfg_yaml_unmap(&top, raw);
	cfg_yaml_close(&y);
	return ret;
}

int cfg_slo_load(const char *path, struct cfg_slo *slo, int *n, char *err, size_t errlen)
{
	char *text;
	size_t len;
	*n = 0;
	int ret = cf_read_text(path, CFG_SLO_MAX_BYTES, &text, &len, err, errlen);
	if (ret)
		return ret;
	ret = cfg_slo_parse(text, len, path, slo, n, err, errlen);
	free(text);
	return ret;
}

int cfg_slo_find(const struct cfg_slo *slo, int n, const char *app)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(slo[i].app, app))
			return i;
	return -1;
}
