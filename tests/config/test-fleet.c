/* Fleet files: conf/fleet/example.yaml loads against the bundled SLO file and
 * device classes, defaults fill the optional keys, and each malformed file is
 * refused with FILE:LINE and the key. The traces are a folder made by the test,
 * so it does not need ../shared/data/traces. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/fleet.h"

static char dir[256], traces[300], fleet_path[300], err[1024];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* dir/: slo.yaml, gaps.txt, traces/fcc/a.log, traces/one.log */
static void setup(void)
{
	char p[400];
	snprintf(dir, sizeof(dir), "/tmp/test-fleet-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(traces, sizeof(traces), "%s/traces", dir);
	snprintf(fleet_path, sizeof(fleet_path), "%s/fleet.yaml", dir);
	mkdir(traces, 0700);
	snprintf(p, sizeof(p), "%s/fcc", traces);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/fcc/a.log", traces);
	put(p, "0 1.5\n5 2.0\n");
	snprintf(p, sizeof(p), "%s/one.log", traces);
	put(p, "0 3\n");
	snprintf(p, sizeof(p), "%s/gaps.txt", dir);
	put(p, "10\n20\n");
	snprintf(p, sizeof(p), "%s/slo.yaml", dir);
	put(p, "applications:\n  - name: cam\n    deadline_ms: 100\n"
	       "  - name: ar\n    deadline_ms: 20\n");
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

static int parse(const char *text, struct cfg_fleet *f)
{
	const struct cfg_fleet_paths p = {.traces = traces,
					  .devices = COINFER_SOURCE_ROOT "/conf/devices"};
	err[0] = 0;
	return cfg_fleet_parse(text, strlen(text), fleet_path, &p, f, err, sizeof(err));
}

Test(fleet, example_loads)
{
	const struct cfg_fleet_paths p = {.traces = COINFER_SOURCE_ROOT "/../shared/data/traces",
					  .devices = COINFER_SOURCE_ROOT "/conf/devices"};
	struct stat st;
	struct cfg_fleet f;
	if (stat(p.traces, &st))
		cr_skip_test("no %s", p.traces);
	cr_assert_eq(cfg_fleet_load(COINFER_SOURCE_ROOT "/conf/fleet/example.yaml", &p, &f, err,
				    sizeof(err)), 0, "%s", err);
	cr_expect_eq(f.n_groups, 3);
	cr_expect_eq(f.devices, 32);
	cr_expect_eq(f.n_slo, 3);
	cr_expect_str_eq(f.groups[0].name, "cameras");
	cr_expect_eq(f.groups[0].arrival, CFG_ARRIVAL_POISSON);
	cr_expect_eq(f.groups[0].rate_hz, 10);
	cr_expect(f.groups[0].trace_set);
	cr_expect_eq(f.groups[0].transport, CFG_TRANSPORT_UDP);
	cr_expect_str_eq(f.slo[f.groups[1].app].app, "ar");
	cr_expect_eq(f.groups[1].arrival, CFG_ARRIVAL_CLOSED);
	cr_expect_eq(f.groups[1].think_ms, 30);
	cr_expect_eq(f.groups[1].seed, 2);
	cr_expect(!f.groups[2].trace_set);
	cr_expect_eq(f.groups[2].seed, 42);
	cfg_fleet_free(&f);
}

/* Every bundled fleet file loads, with its SLO file, traces and classes. */
Test(fleet, every_bundled_file_loads)
{
	const struct cfg_fleet_paths p = {.traces = COINFER_SOURCE_ROOT "/../shared/data/traces",
					  .devices = COINFER_SOURCE_ROOT "/conf/devices"};
	struct stat st;
	glob_t g;
	if (stat(p.traces, &st))
		cr_skip_test("no %s", p.traces);
	cr_assert_eq(glob(COINFER_SOURCE_ROOT "/conf/fleet/*.yaml", 0, NULL, &g), 0);
	cr_assert_geq(g.gl_pathc, 2);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct cfg_fleet f;
		cr_expect_eq(cfg_fleet_load(g.gl_pathv[i], &p, &f, err, sizeof(err)), 0, "%s",
			     err);
		cfg_fleet_free(&f);
	}
	globfree(&g);
}

Test(fleet, defaults_and_paths, .init = setup, .fini = teardown)
{
	struct cfg_fleet f;
	cr_assert_eq(parse("slo: slo.yaml\nseed: 5\ngroups:\n"
			   "  - {count: 2, class: pi4-est, application: ar, trace: one.log,\n"
			   "     arrival: {process: gaps, file: gaps.txt}}\n", &f), 0, "%s", err);
	cr_assert_eq(f.n_groups, 1);
	const struct cfg_fleet_group *g = &f.groups[0];
	cr_expect_str_eq(g->name, "group-1");
	cr_expect_eq(g->count, 2);
	cr_expect_eq(g->app, 1);
	cr_expect_eq(g->transport, CFG_TRANSPORT_TCP);
	cr_expect_eq(g->seed, 5);
	cr_expect_eq(g->arrival, CFG_ARRIVAL_GAPS);
	cr_expect(strstr(g->gaps, "/gaps.txt"));
	cr_expect(strstr(g->trace, "/traces/one.log"));
	cr_expect_eq(g->line, 4);
	cfg_fleet_free(&f);
}

#define G "slo: slo.yaml\ngroups:\n  - count: 4\n    class: pi4-est\n    application: cam\n"
#define POISSON "    arrival: {process: poisson, rate_hz: 5}\n"

Test(fleet, malformed_files_name_the_line_and_the_key, .init = setup, .fini = teardown)
{
	static const struct {
		const char *text, *at, *key;
	} bad[] = {
		/* unknown key */
		{G "    trace_set: fcc\n" POISSON "    transprot: udp\n", "fleet.yaml:8",
		 "unknown key 'transprot' (did you mean 'transport'?"},
		/* wrong type */
		{G "    trace_set: fcc\n" POISSON "    seed: [1]\n", "fleet.yaml:8:11", "seed"},
		{G "    trace_set: fcc\n" POISSON "    count: many\n", "fleet.yaml:8", "given twice"},
		{"slo: slo.yaml\ngroups:\n  - count: many\n    class: pi4-est\n    application: cam\n"
		 "    trace_set: fcc\n" POISSON, "fleet.yaml:3", "count: 'many'"},
		/* out of range, negative count */
		{G "    trace_set: fcc\n    arrival: {process: poisson, rate_hz: 0}\n",
		 "fleet.yaml:7", "arrival.rate_hz: 0 is out of range"},
		{"slo: slo.yaml\ngroups:\n  - count: -3\n    class: pi4-est\n    application: cam\n"
		 "    trace_set: fcc\n" POISSON, "fleet.yaml:3",
		 "count: -3 is out of range (1..100000)"},
		/* missing required key */
		{"slo: slo.yaml\ngroups:\n  - count: 4\n    class: pi4-est\n    trace_set: fcc\n"
		 POISSON, "fleet.yaml:3", "application: missing"},
		{G POISSON, "fleet.yaml:3", "trace: missing"},
		/* an application not in the SLO file */
		{"slo: slo.yaml\ngroups:\n  - count: 4\n    class: pi4-est\n    application: x\n"
		 "    trace_set: fcc\n" POISSON, "fleet.yaml:5", "application: 'x' is not an application of"},
		/* a duplicate application in the SLO file: that file's line */
		{"slo: dup.yaml\ngroups: []\n", "dup.yaml:4", "'cam' given twice"},
		/* bad trace path, bad class, bad gap file */
		{G "    trace: fcc/nothere.log\n" POISSON, "fleet.yaml:6",
		 "trace: " },
		{G "    trace_set: one.log\n" POISSON, "fleet.yaml:6", "trace_set: "},
		{"slo: slo.yaml\ngroups:\n  - count: 4\n    class: pi5\n    application: cam\n"
		 "    trace_set: fcc\n" POISSON, "fleet.yaml:4", "class: "},
		{G "    trace_set: fcc\n    arrival: {process: gaps, file: none.txt}\n",
		 "fleet.yaml:7", "arrival.file: "},
		/* an arrival process's keys */
		{G "    trace_set: fcc\n    arrival: {process: poisson, think_ms: 5}\n",
		 "fleet.yaml:7", "arrival.rate_hz: missing"},
		{G "    trace_set: fcc\n    arrival: {process: burst}\n", "fleet.yaml:7",
		 "arrival.process: 'burst' is not one of"},
		{G "    trace_set: fcc\n" POISSON "    transport: quic\n", "fleet.yaml:8",
		 "transport: 'quic' is not one of tcp, udp"},
		/* YAML syntax error, empty file, wrong top-level type */
		{"slo: slo.yaml\ngroups:\n  - count: 4\n   class: x\n", "fleet.yaml:", "not valid YAML"},
		{"", "fleet.yaml", "empty: no groups"},
		{"[slo, groups]\n", "fleet.yaml", "expected key: value lines, got a list"},
		{"slo: slo.yaml\ngroups: 4\n", "fleet.yaml:2", "groups: expected a list"},
		{"slo: none.yaml\ngroups: []\n", "fleet.yaml:1", "slo: "},
	};
	char p[400];
	snprintf(p, sizeof(p), "%s/dup.yaml", dir);
	put(p, "applications:\n  - name: cam\n    deadline_ms: 100\n  - name: cam\n"
	       "    deadline_ms: 20\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg_fleet f;
		cr_expect_lt(parse(bad[i].text, &f), 0, "case %zu accepted", i);
		cr_expect_eq(f.n_groups, 0, "case %zu", i);
		cr_expect(strstr(err, bad[i].at) && strstr(err, bad[i].key),
			  "case %zu: '%s' lacks '%s' or '%s'", i, err, bad[i].at, bad[i].key);
	}
}

/* A group's class file is read through: its own error, with its file and line,
 * named after the group's class key. */
Test(fleet, a_bad_class_file_is_named, .init = setup, .fini = teardown)
{
	char devices[400], p[500];
	snprintf(devices, sizeof(devices), "%s/devices", dir);
	mkdir(devices, 0700);
	snprintf(p, sizeof(p), "%s/pi4-est.yaml", devices);
	put(p, "name: pi4-est\nrole: device\nregression: rpi3-edgent\nenergy:\n  kappa: 1\n");
	const struct cfg_fleet_paths paths = {.traces = traces, .devices = devices};
	const char *text = G "    trace_set: fcc\n" POISSON;
	struct cfg_fleet f;
	cr_expect_lt(cfg_fleet_parse(text, strlen(text), fleet_path, &paths, &f, err, sizeof(err)),
		     0);
	cr_expect(strstr(err, "fleet.yaml:4: class: ") &&
		  strstr(err, "/pi4-est.yaml:4: f_hz: missing"), "%s", err);
}
