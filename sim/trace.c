/* Bandwidth traces (include/coinfer/sim.h,
 * docs/policy-env.md). Plain C with stdio and POSIX directory reading. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/sim.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/names.h"

/* Parses one finite double token; 0 on success. */
static int parse_num(const char *tok, double *v)
{
	char *end;
	errno = 0;
	double x = strtod(tok, &end);
	if (end == tok || *end || errno == ERANGE || !isfinite(x))
		return -1;
	*v = x;
	return 0;
}

void sim_trace_free(struct sim_trace *t)
{
	if (!t)
		return;
	free(t->t);
	free(t->mbps);
	memset(t, 0, sizeof(*t));
}

void sim_trace_finish(struct sim_trace *t)
{
	int n = t->n;
	t->duration_s = n == 1 ? 1.0 : t->t[n - 1] + t->t[n - 1] / (n - 1);
	double sum = 0;
	t->min_mbps = t->max_mbps = t->mbps[0];
	for (int i = 0; i < n; i++) {
		double next = i + 1 < n ? t->t[i + 1] : t->duration_s;
		sum += t->mbps[i] * (next - t->t[i]);
		if (t->mbps[i] < t->min_mbps)
			t->min_mbps = t->mbps[i];
		if (t->mbps[i] > t->max_mbps)
			t->max_mbps = t->mbps[i];
	}
	t->mean_mbps = sum / t->duration_s;
}

/* One line of a trace: 1 and v = {time s, Mbit/s} for a sample, 0 for a blank
 * or comment line, else -EINVAL naming what is wrong. */
static int trace_line(char *buf, const char *path, long line, double v[2], char *err,
		      size_t errlen)
{
	char *tok[3], *save = NULL;
	int nt = 0;
	for (char *p = strtok_r(buf, " \t\r\n\v\f", &save); p && nt < 3;
	     p = strtok_r(NULL, " \t\r\n\v\f", &save))
		tok[nt++] = p;
	if (nt == 0 || tok[0][0] == '#')
		return 0;
	if (nt != 2)
		return cf_fail(-EINVAL, err, errlen,
				"%s:%ld: expected two columns (time in s, throughput in Mbit/s), got %s",
				path, line, nt < 2 ? "one" : "more");
	if (parse_num(tok[0], &v[0]))
		return cf_fail(-EINVAL, err, errlen, "%s:%ld: time '%s' is not a finite number", path,
				line, tok[0]);
	if (parse_num(tok[1], &v[1]))
		return cf_fail(-EINVAL, err, errlen, "%s:%ld: throughput '%s' is not a finite number",
				path, line, tok[1]);
	if (v[1] < 0)
		return cf_fail(-EINVAL, err, errlen, "%s:%ld: negative throughput %g", path, line,
				v[1]);
	return 1;
}

/* Appends a sample, growing both arrays together; 0 or -ENOMEM. */
static int trace_push(struct sim_trace *t, int *cap, double ts, double mbps)
{
	if (t->n == *cap) {
		int nc = *cap ? 2 * *cap : 256;
		double *a = realloc(t->t, nc * sizeof(*a));
		if (a)
			t->t = a;
		double *b = a ? realloc(t->mbps, nc * sizeof(*b)) : NULL;
		if (!a || !b)
			return -ENOMEM;
		t->mbps = b;
		*cap = nc;
	}
	t->t[t->n] = ts;
	t->mbps[t->n] = mbps;
	t->n++;
	return 0;
}

/* Times are kept relative to the first sample's, which need not be 0. */
static int trace_read(FILE *f, const char *path, struct sim_trace *t, char *err, size_t errlen)
{
	int cap = 0, rc;
	long line = 0;
	double t0 = 0, v[2] = {0, 0};
	char buf[SIM_TRACE_MAX_LINE + 2];
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		size_t len = strlen(buf);
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n' && !feof(f))
			return cf_fail(-EINVAL, err, errlen, "%s:%ld: line longer than %d characters",
					path, line, SIM_TRACE_MAX_LINE);
		if ((rc = trace_line(buf, path, line, v, err, errlen)) <= 0) {
			if (rc)
				return rc;
			continue;
		}
		if (t->n == 0)
			t0 = v[0];
		else if (!(v[0] - t0 > t->t[t->n - 1]))
			return cf_fail(-EINVAL, err, errlen,
					"%s:%ld: time %g does not increase (previous %g)", path, line,
					v[0], t->t[t->n - 1] + t0);
		if (t->n == SIM_TRACE_MAX_SAMPLES)
			return cf_fail(-E2BIG, err, errlen, "%s:%ld: more than %d samples", path, line,
					SIM_TRACE_MAX_SAMPLES);
		if (trace_push(t, &cap, v[0] - t0, v[1]))
			return cf_fail(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	if (ferror(f))
		return cf_fail(-EIO, err, errlen, "%s: read error", path);
	if (t->n == 0)
		return cf_fail(-EINVAL, err, errlen, "%s: no samples", path);
	return 0;
}

int sim_trace_load(const char *path, struct sim_trace *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path, "r");
	if (!f)
		return cf_fail(errno == ENOENT ? -ENOENT : -EIO, err, errlen, "%s: %s", path,
				strerror(errno));
	snprintf(t->name, sizeof(t->name), "%s", path);
	int rc = trace_read(f, path, t, err, errlen);
	fclose(f);
	if (rc)
		sim_trace_free(t);
	else
		sim_trace_finish(t);
	return rc;
}

double sim_trace_bw(const struct sim_trace *t, double time_s)
{
	if (!t || t->n <= 0)
		return 0;
	double x = fmod(time_s, t->duration_s);
	if (x < 0)
		x += t->duration_s;
	if (x >= t->duration_s)
		x = 0;
	/* the last i with t[i] <= x */
	int lo = 0, hi = t->n - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		if (t->t[mid] <= x)
			lo = mid;
		else
			hi = mid - 1;
	}
	return t->mbps[lo];
}

/* ---- directory trees --------------------------------------------------------- */

struct paths {
	int n, cap;
	char **p;
};

static int skipped_name(const char *s)
{
	size_t n = strlen(s);
	return s[0] == '.' || !strncmp(s, "LICENSE", 7) || !strncmp(s, "README", 6) ||
	       !strncmp(s, "SOURCE", 6) || (n >= 3 && !strcmp(s + n - 3, ".md"));
}

static int collect(const char *dir, struct paths *ps, int depth, char *err, size_t errlen)
{
	if (depth > 16)
		return cf_fail(-ELOOP, err, errlen, "%s: directories nested too deep", dir);
	DIR *d = opendir(dir);
	if (!d)
		return cf_fail(errno == ENOENT ? -ENOENT : -EIO, err, errlen, "%s: %s", dir,
			    strerror(errno));
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (skipped_name(de->d_name))
			continue;
		size_t len = strlen(dir) + strlen(de->d_name) + 2;
		char *p = malloc(len);
		if (!p) {
			rc = cf_fail(-ENOMEM, err, errlen, "out of memory");
			break;
		}
		snprintf(p, len, "%s/%s", dir, de->d_name);
		struct stat st;
		if (stat(p, &st)) {
			rc = cf_fail(-EIO, err, errlen, "%s: %s", p, strerror(errno));
			free(p);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = collect(p, ps, depth + 1, err, errlen);
			free(p);
			if (rc)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		if (ps->n == SIM_TRACE_MAX_FILES) {
			free(p);
			rc = cf_fail(-E2BIG, err, errlen, "%s: more than %d trace files", dir,
				  SIM_TRACE_MAX_FILES);
			break;
		}
		if (ps->n == ps->cap) {
			int nc = ps->cap ? 2 * ps->cap : 64;
			char **a = realloc(ps->p, nc * sizeof(*a));
			if (!a) {
				free(p);
				rc = cf_fail(-ENOMEM, err, errlen, "out of memory");
				break;
			}
			ps->p = a;
			ps->cap = nc;
		}
		ps->p[ps->n++] = p;
	}
	closedir(d);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sim_trace_set_free(struct sim_trace_set *set)
{
	if (!set)
		return;
	for (int i = 0; i < set->n; i++)
		sim_trace_free(&set->tr[i]);
	free(set->tr);
	set->tr = NULL;
	set->n = 0;
}

int sim_trace_dir_load(const char *dir, struct sim_trace_set *set, char *err, size_t errlen)
{
	set->n = 0;
	set->tr = NULL;
	struct paths ps = {0};
	int rc = collect(dir, &ps, 0, err, errlen);
	if (!rc && ps.n == 0)
		rc = cf_fail(-ENOENT, err, errlen, "%s: no trace files", dir);
	if (!rc) {
		qsort(ps.p, ps.n, sizeof(*ps.p), cmp_str);
		set->tr = calloc(ps.n, sizeof(*set->tr));
		if (!set->tr)
			rc = cf_fail(-ENOMEM, err, errlen, "out of memory");
	}
	for (int i = 0; !rc && i < ps.n; i++) {
		rc = sim_trace_load(ps.p[i], &set->tr[i], err, errlen);
		if (!rc)
			set->n = i + 1;
	}
	for (int i = 0; i < ps.n; i++)
		free(ps.p[i]);
	free(ps.p);
	if (rc)
		sim_trace_set_free(set);
	return rc;
}
