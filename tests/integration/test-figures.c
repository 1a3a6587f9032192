/* `coinfer-policy figures` end to end: the command (path in $COINFER_POLICY) runs
 * into a fresh directory with random-weight learners, and the three JSON files
 * must parse, hold the papers' sweeps point for point and make the choices the
 * cost model forces: with no uplink everything runs on the device; with a fast
 * one Edgent offloads; the ablations keep to their one knob. The PNGs are checked
 * when gnuplot is installed; without it the command says so and the JSON still
 * has to be right. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/fileio.h"

static char dir[] = "/tmp/coinfer-figures-XXXXXX";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* The whole file as a string, NULL when it cannot be read. */
static char *slurp(const char *path)
{
	char *s;
	size_t n;
	return cf_read_text(path, 64u << 20, &s, &n, NULL, 0) ? NULL : s;
}

static cJSON *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *s = slurp(path);
	cr_assert(s, "%s not written", path);
	cJSON *j = cJSON_Parse(s);
	free(s);
	cr_assert(j, "%s is not JSON", path);
	return j;
}

static int run_status = -1;
static int gnuplot_missing;

static void setup(void)
{
	const char *exe = getenv("COINFER_POLICY");
	cr_assert(exe && *exe, "COINFER_POLICY (the coinfer-policy binary) is not set");
	cr_assert(mkdtemp(dir), "mkdtemp");
	char cmd[2048], errpath[600];
	snprintf(errpath, sizeof(errpath), "%s/stderr.txt", dir);
	snprintf(cmd, sizeof(cmd), "'%s' figures --random-policies --out '%s/out' >'%s/stdout.json' 2>'%s'",
		 exe, dir, dir, errpath);
	run_status = system(cmd);
	char *err = slurp(errpath);
	gnuplot_missing = err && strstr(err, "gnuplot not found");
	if (run_status != 0 && !gnuplot_missing)
		cr_log_error("coinfer-policy figures failed (status %d): %s", run_status, err ? err : "");
	free(err);
	strcat(dir, "/out");
}

static void teardown(void)
{
	char *slash = strrchr(dir, '/');
	if (slash && !strcmp(slash, "/out"))
		*slash = 0;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}


static cJSON *sweep(cJSON *fig, int i, int want_points)
{
	cJSON *sw = cJSON_GetArrayItem(cJSON_GetObjectItem(fig, "sweeps"), i);
	cr_assert(sw, "sweep %d missing", i);
	cJSON *pts = cJSON_GetObjectItem(sw, "points");
	cr_assert_eq(cJSON_GetArraySize(pts), want_points, "sweep %s: %d points, want %d",
		     cJSON_GetObjectItem(sw, "variable")->valuestring, cJSON_GetArraySize(pts), want_points);
	return pts;
}

static cJSON *choice(cJSON *point, const char *algo)
{
	cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(point, "choices"), algo);
	cr_assert(c, "no choice of %s at x = %g", algo, cJSON_GetObjectItem(point, "x")->valuedouble);
	static const char *const fields[] = {"exit", "partition", "layer", "bits", "latency_ms",
					     "accuracy", "energy_j", "bytes", "meets_deadline"};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert(cJSON_GetObjectItem(c, fields[i]), "%s's choice lacks %s", algo, fields[i]);
	return c;
}

static int num(cJSON *o, const char *k)
{
	return cJSON_GetObjectItem(o, k)->valueint;
}

static int on_device(cJSON *c)
{
	return num(c, "partition") == num(c, "n_layers");
}

static void command_ran(void)
{
	if (gnuplot_missing)
		cr_log_warn("gnuplot not installed: PNGs not checked (apt-get install gnuplot-nox)");
	else
		cr_expect_eq(run_status, 0, "coinfer-policy figures exited with %d", run_status);
}

static void seed000_fig6(void)
{
	cJSON *f = load("seed000-fig6.json");
	cr_expect_str_eq(cJSON_GetObjectItem(f, "device")->valuestring, "pi4-est");
	cr_expect_str_eq(cJSON_GetObjectItem(f, "edge")->valuestring, "edge-x86");
	cJSON *pts = sweep(f, 0, 21);
	cJSON *first = cJSON_GetArrayItem(pts, 0), *last = cJSON_GetArrayItem(pts, 20);
	cr_expect_eq(cJSON_GetObjectItem(first, "bandwidth_bps")->valuedouble, 0);
	cr_expect_eq(cJSON_GetObjectItem(last, "x")->valuedouble, 10, "the sweep ends at 10 MB/s");
	cr_expect_eq(cJSON_GetObjectItem(last, "bandwidth_bps")->valuedouble, 80e6, "MB/s is 8e6 bit/s");
	/* no uplink: every algorithm, the learners' mask included, stays on the device */
	static const char *const algos[] = {"sacd", "dqn", "on-device", "edgent", "oracle"};
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
		cJSON *c = choice(first, algos[i]);
		cr_expect(on_device(c), "%s offloads with no uplink (partition %d of %d)", algos[i],
			  num(c, "partition"), num(c, "n_layers"));
		cr_expect_eq(num(c, "bits"), 0, "%s: bits on the device", algos[i]);
		cr_expect_eq(cJSON_GetObjectItem(c, "bytes")->valuedouble, 0);
	}
	/* 10 MB/s: Edgent offloads; "on device" never does and never exits early */
	cr_expect(!on_device(choice(last, "edgent")), "Edgent stays on the device at 10 MB/s");
	cJSON *whole = choice(last, "on-device");
	cr_expect(on_device(whole) && num(whole, "exit") == 3, "on-device is the whole exit 3");
	cJSON_Delete(f);
}

static void seed002_fig6(void)
{
	cJSON *f = load("seed002-fig6.json");
	cr_expect_str_eq(cJSON_GetObjectItem(f, "device")->valuestring, "rpi3-edgent");
	cr_expect_str_eq(cJSON_GetObjectItem(f, "edge")->valuestring, "pc-edgent");
	cJSON *bw = sweep(f, 0, 16), *dl = sweep(f, 1, 10);
	cr_expect_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(bw, 0), "bandwidth_bps")->valuedouble, 50e3);
	cJSON *fast = cJSON_GetArrayItem(bw, 15);
	cr_expect_eq(cJSON_GetObjectItem(fast, "bandwidth_bps")->valuedouble, 1.5e6);
	cr_expect_eq(cJSON_GetObjectItem(fast, "deadline_ms")->valuedouble, 1000);
	cr_expect(!on_device(choice(fast, "edgent")), "Edgent stays on the Pi 3 at 1.5 Mbps");
	cJSON *p = cJSON_GetArrayItem(dl, 0);
	cr_expect_eq(cJSON_GetObjectItem(p, "deadline_ms")->valuedouble, 100);
	cr_expect_eq(cJSON_GetObjectItem(p, "bandwidth_bps")->valuedouble, 500e3);
	/* a looser deadline never buys a less accurate exit */
	double prev = 0;
	for (int i = 0; i < 10; i++) {
		double acc = cJSON_GetObjectItem(choice(cJSON_GetArrayItem(dl, i), "edgent"), "accuracy")->valuedouble;
		cr_expect(acc >= prev, "accuracy falls from %g to %g at point %d", prev, acc, i);
		prev = acc;
	}
	cJSON_Delete(f);
}

static void seed002_fig7(void)
{
	cJSON *f = load("seed002-fig7.json");
	cJSON *pts = sweep(f, 0, 10);
	for (int i = 0; i < 10; i++) {
		cJSON *p = cJSON_GetArrayItem(pts, i);
		cr_expect_eq(cJSON_GetObjectItem(p, "bandwidth_bps")->valuedouble, 400e3);
		cJSON *rs = choice(p, "right-sizing-only"), *po = choice(p, "partition-only");
		cJSON *d = choice(p, "device-only"), *e = choice(p, "edge-only");
		choice(p, "edgent");
		cr_expect(on_device(rs), "right-sizing-only offloads");
		cr_expect_eq(num(po, "exit"), 3, "partition-only exits early");
		cr_expect(on_device(d) && num(d, "exit") == 3, "device-only is not the whole network");
		cr_expect_eq(num(e, "partition"), 0, "edge-only runs layers on the device");
		/* a miss plots as a negative accuracy */
		double acc = cJSON_GetObjectItem(d, "accuracy")->valuedouble;
		double plotted = cJSON_GetObjectItem(d, "plotted_accuracy")->valuedouble;
		cr_expect_eq(plotted, cJSON_IsTrue(cJSON_GetObjectItem(d, "meets_deadline")) ? acc : -acc);
	}
	cJSON_Delete(f);
}

static void pngs(void)
{
	if (gnuplot_missing) {
		cr_log_warn("gnuplot not installed: PNGs not drawn, not checked");
		return;
	}
	static const char *const names[] = {"seed000-fig6.png", "seed002-fig6.png", "seed002-fig7.png"};
	for (int i = 0; i < 3; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *fp = fopen(path, "rb");
		cr_assert(fp, "%s not drawn", path);
		unsigned char sig[8] = {0};
		size_t n = fread(sig, 1, 8, fp);
		fclose(fp);
		cr_expect(n == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", path);
	}
}

/* one run of the command (under a second) checked as a whole */
Test(figures, end_to_end, .init = setup, .fini = teardown, .timeout = 60)
{
	command_ran();
	seed000_fig6();
	seed002_fig6();
	seed002_fig7();
	pngs();
}
