/* SLO files: conf/slo/apps.yaml and pi3.yaml hold the applications and values of the old line
 * files (the simulator's numbers stay), defaults fill the optional keys, and
 * every malformed file is refused with FILE:LINE and the key in its message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coinfer/slo.h"

static char err[512];

static int parse(const char *text, struct cfg_slo *s, int *n)
{
	err[0] = 0;
	return cfg_slo_parse(text, strlen(text), "t.yaml", s, n, err, sizeof(err));
}

Test(slo, bundled_files_keep_the_old_values)
{
	static const struct {
		const char *file;
		double d[3], e[3];
	} want[] = {{"apps.yaml", {20, 50, 200}, {0, 0.003, 0.002}},
		    {"pi3.yaml", {50, 100, 300}, {0, 0, 0.005}}};
	static const char *const apps[] = {"ar", "camera", "tagging"};
	for (size_t f = 0; f < 2; f++) {
		struct cfg_slo s[CFG_SLO_MAX];
		char path[512];
		int n;
		snprintf(path, sizeof(path), COINFER_SOURCE_ROOT "/conf/slo/%s", want[f].file);
		cr_assert_eq(cfg_slo_load(path, s, &n, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(n, 3);
		for (int i = 0; i < 3; i++) {
			cr_expect_str_eq(s[i].app, apps[i]);
			cr_expect_eq(s[i].deadline_ms, want[f].d[i]);
			cr_expect_eq(s[i].energy_j, want[f].e[i]);
			cr_expect_eq(s[i].objective, 0.99);
		}
	}
}

Test(slo, defaults_and_every_key)
{
	struct cfg_slo s[CFG_SLO_MAX];
	int n;
	cr_assert_eq(parse("applications:\n"
			   "  - name: voice-1\n    deadline_ms: 250.5\n"
			   "  - {name: cam, deadline_ms: 100, objective: 0.95, window_s: 60,\n"
			   "     min_accuracy: 0.7, energy_j: 0.05, priority: 3}\n", s, &n), 0,
		     "%s", err);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(s[0].app, "voice-1");
	cr_expect_eq(s[0].deadline_ms, 250.5);
	cr_expect_eq(s[0].objective, CFG_SLO_OBJECTIVE);
	cr_expect_eq(s[0].window_s, CFG_SLO_WINDOW_S);
	cr_expect_eq(s[0].energy_j, 0);
	cr_expect_eq(s[0].priority, 0);
	cr_expect_eq(s[0].line, 2);
	cr_expect_eq(s[1].objective, 0.95);
	cr_expect_eq(s[1].window_s, 60);
	cr_expect_eq(s[1].min_accuracy, 0.7);
	cr_expect_eq(s[1].energy_j, 0.05);
	cr_expect_eq(s[1].priority, 3);
	cr_expect_eq(cfg_slo_find(s, n, "cam"), 1);
	cr_expect_eq(cfg_slo_find(s, n, "none"), -1);
}

/* Each malformed file: refused, the message holding FILE:LINE and the key. */
Test(slo, malformed_files_name_the_line_and_the_key)
{
	static const struct {
		const char *text, *at, *key;
	} bad[] = {
		/* unknown key, with a hint */
		{"applications:\n  - name: a\n    deadline_ms: 10\n    dedline_ms: 5\n", "t.yaml:4",
		 "unknown key 'dedline_ms' (did you mean 'deadline_ms'?"},
		/* unknown key, none near */
		{"applications:\n  - name: a\n    deadline_ms: 10\n    budget: 1\n", "t.yaml:4",
		 "'budget': not a key of an SLO file"},
		/* wrong type: a number that is not */
		{"applications:\n  - name: a\n    deadline_ms: soon\n", "t.yaml:3",
		 "deadline_ms: 'soon' is not a number"},
		/* wrong type: a list for a value */
		{"applications:\n  - name: a\n    deadline_ms: [1, 2]\n", "t.yaml:3", "deadline_ms"},
		/* out of range */
		{"applications:\n  - name: a\n    deadline_ms: 10\n    objective: 1.5\n", "t.yaml:4",
		 "objective: 1.5 is out of range (0..1)"},
		{"applications:\n  - name: a\n    deadline_ms: 0\n", "t.yaml:3",
		 "deadline_ms: must be above 0"},
		{"applications:\n  - name: a\n    deadline_ms: 10\n    energy_j: -1\n", "t.yaml:4",
		 "energy_j: -1 is out of range"},
		{"applications:\n  - name: a\n    deadline_ms: 10\n    priority: 2.5\n", "t.yaml:4",
		 "priority: '2.5' is not an integer"},
		/* missing required key */
		{"applications:\n  - name: a\n    deadline_ms: 10\n  - name: b\n    energy_j: 1\n",
		 "t.yaml:4", "deadline_ms: missing"},
		/* duplicate application */
		{"applications:\n  - name: a\n    deadline_ms: 10\n  - name: a\n    deadline_ms: 20\n",
		 "t.yaml:4", "name: application 'a' given twice (first at line 2)"},
		/* a key given twice */
		{"applications:\n  - name: a\n    deadline_ms: 10\n    deadline_ms: 20\n",
		 "t.yaml:4", "key 'deadline_ms' given twice (first at line 3)"},
		/* bad name */
		{"applications:\n  - name: a/b\n    deadline_ms: 10\n", "t.yaml:2", "name: 'a/b'"},
		/* YAML syntax error */
		{"applications:\n  - name: a\n    deadline_ms: [10\n", "t.yaml:", "not valid YAML"},
		/* empty file */
		{"# nothing\n", "t.yaml", "empty: no applications"},
		/* wrong top-level type */
		{"- name: a\n  deadline_ms: 10\n", "t.yaml", "expected key: value lines, got a list"},
		{"applications:\n  name: a\n", "t.yaml:2", "applications: expected a list"},
		{"applications: []\n", "t.yaml:1", "applications: an empty list"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg_slo s[CFG_SLO_MAX];
		int n = 7;
		cr_expect_lt(parse(bad[i].text, s, &n), 0, "case %zu accepted", i);
		cr_expect_eq(n, 0, "case %zu", i);
		cr_expect(strstr(err, bad[i].at) && strstr(err, bad[i].key),
			  "case %zu: '%s' lacks '%s' or '%s'", i, err, bad[i].at, bad[i].key);
	}
}

Test(slo, files)
{
	struct cfg_slo s[CFG_SLO_MAX];
	int n;
	cr_expect_eq(cfg_slo_load("/nonexistent/slo.yaml", s, &n, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/slo.yaml"), "%s", err);
}
