/* Device classes in YAML (conf/devices/, docs/config.md): every bundled class
 * loads with the values of its JSON era, and each malformed file is refused with
 * FILE:LINE and the key in its message, the cost model's own checks (built-in
 * regressions, the class scale.of names, the file's name) included. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/cost.h"

#include "text-edit.h"

static char err[512];

/* Line numbers matter: the refusals below name them. */
static const char *class_yaml = "name: c1\n"                                     /* 1 */
				"role: device\n"                                 /* 2 */
				"description: a test class\n"                    /* 3 */
				"regression: rpi3-edgent\n"                      /* 4 */
				"energy:\n"                                      /* 5 */
				"  kappa: 3e-28\n"                               /* 6 */
				"  f_hz: 1.2e9\n"                                /* 7 */
				"  tx_power_w: 0.1\n"                            /* 8 */
				"  sinr_db: 0\n"                                 /* 9 */
				"codec:\n"                                       /* 10 */
				"  encode_ns_per_elem: [1, 2, 3, 4]\n"           /* 11 */
				"  encode_us_per_frame: [1, 2, 3, 4]\n"          /* 12 */
				"  decode_ns_per_elem: [1, 2, 3, 4]\n"           /* 13 */
				"  decode_us_per_frame: [1, 2, 3, 4.5]\n";       /* 14 */

static void refused(const char *text, const char *what, const char *needle)
{
	struct cost_device_class c;
	err[0] = 0;
	int r = cost_class_parse(text, strlen(text), "c1.yaml", &c, err, sizeof(err));
	cr_expect(r == -EINVAL || r == -ERANGE, "%s: accepted (%d)", what, r);
	cr_expect(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
}

/* Replaces from by to in the class and expects needle in the refusal. */
static void refused_edit(const char *from, const char *to, const char *what, const char *needle)
{
	char *t = edit(class_yaml, from, to);
	refused(t, what, needle);
	free(t);
}

Test(device_class, parse_every_key)
{
	struct cost_device_class c;
	cr_assert_eq(cost_class_parse(class_yaml, strlen(class_yaml), "c1.yaml", &c, err,
				      sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.name, "c1");
	cr_expect_str_eq(c.role, "device");
	cr_expect_eq(c.source, COST_CLASS_REGRESSION);
	cr_expect_str_eq(c.regression, "rpi3-edgent");
	cr_expect(c.cycles_from_profile && c.kappa == 3e-28 && c.f_hz == 1.2e9);
	cr_expect(c.tx_power_w == 0.1 && c.sinr_db == 0);
	cr_expect(c.codec.enc_ns_per_elem[3] == 4 && c.codec.dec_us_per_frame[3] == 4.5);
	char *t = edit(class_yaml, "  sinr_db: 0\n",
		       "  sinr_db: -3\n  cycles_per_flop: {conv: 1, fc: 2, relu: 3, maxpool: 4,\n"
		       "    avgpool: 5, lrn: 6, flatten: 7}\n");
	cr_assert_eq(cost_class_parse(t, strlen(t), "c1.yaml", &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(!c.cycles_from_profile && c.sinr_db == -3);
	cr_expect(c.cycles_per_flop[CR_LAYER_CONV] == 1 && c.cycles_per_flop[CR_LAYER_FC] == 2);
	cr_expect(c.cycles_per_flop[CR_LAYER_LRN] == 6 && c.cycles_per_flop[CR_LAYER_FLATTEN] == 7);
	/* a file without add and attn: relu's and conv's figures */
	cr_expect(c.cycles_per_flop[CR_LAYER_ADD] == 3 && c.cycles_per_flop[CR_LAYER_ATTN] == 1);
	free(t);
	t = edit(class_yaml, "  sinr_db: 0\n",
		 "  sinr_db: 0\n  cycles_per_flop: {conv: 1, fc: 2, relu: 3, maxpool: 4,\n"
		 "    avgpool: 5, lrn: 6, flatten: 7, add: 8, attn: 9}\n");
	cr_assert_eq(cost_class_parse(t, strlen(t), "c1.yaml", &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(c.cycles_per_flop[CR_LAYER_ADD] == 8 && c.cycles_per_flop[CR_LAYER_ATTN] == 9);
	free(t);
	t = edit(class_yaml, "regression: rpi3-edgent\n", "scale: {of: x86-avx2, factor: 2.5}\n");
	cr_assert_eq(cost_class_parse(t, strlen(t), "c1.yaml", &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(c.source == COST_CLASS_SCALE && c.scale_factor == 2.5);
	cr_expect_str_eq(c.scale_of, "x86-avx2");
	free(t);
}

Test(device_class, malformed_files_name_line_and_key)
{
	refused_edit("  kappa:", "  kapa:", "mistyped key", "c1.yaml:6: unknown key 'kapa' "
							     "(did you mean 'kappa'?)");
	refused_edit("regression:", "regresion:", "mistyped top key",
		     "c1.yaml:4: unknown key 'regresion' (did you mean 'regression'?)");
	refused_edit("1.2e9", "fast", "wrong type", "c1.yaml:7: energy.f_hz: 'fast' is not a "
						     "number");
	refused_edit("[1, 2, 3, 4]\n  encode_us", "fast\n  encode_us", "a value for a list",
		     "c1.yaml:11:");
	refused_edit("  f_hz: 1.2e9\n", "  f_hz: [1.2e9]\n", "a list for a value",
		     "c1.yaml:7:");
	refused_edit("3e-28", "3e-18", "out of range", "c1.yaml:6: energy.kappa: 3e-18 is out of "
						       "range");
	refused_edit("[1, 2, 3, 4.5]", "[1, 2, 3, -4.5]", "negative speed",
		     "c1.yaml:14: codec.decode_us_per_frame.3: -4.5 is out of range");
	refused_edit("[1, 2, 3, 4]\n  encode_us", "[1, 2, 3]\n  encode_us", "3 speeds",
		     "c1.yaml:11: codec.encode_ns_per_elem: 3 values, expected 4");
	refused_edit("  kappa: 3e-28\n", "", "missing required", "c1.yaml:5: kappa: missing");
	refused_edit("role: device\n", "", "missing role", "role: missing");
	refused_edit("regression: rpi3-edgent\n", "", "no source",
		     "c1.yaml: one of the keys profile, regression and scale is needed");
	refused_edit("regression: rpi3-edgent\n", "regression: rpi3-edgent\nprofile: x.json\n",
		     "two sources", "c1.yaml:4: regression: only one of the keys profile");
	refused_edit("rpi3-edgent", "rpi9", "unknown regression",
		     "c1.yaml:4: regression: 'rpi9' is not a built-in model");
	refused_edit("regression: rpi3-edgent\n", "scale: {of: x86-avx2, factor: 0}\n",
		     "zero scale", "c1.yaml:4: scale.factor: 0 is out of range");
	refused_edit("regression: rpi3-edgent\n", "scale: {of: ../x, factor: 2}\n",
		     "scale of a path", "c1.yaml:4: scale.of: '../x' is not");
	refused_edit("regression: rpi3-edgent\n", "scale: {of: c1, factor: 2}\n",
		     "scale of itself", "c1.yaml:4: scale.of: 'c1' is the class itself");
	refused_edit("  sinr_db: 0\n", "  sinr_db: 0\n  cycles_per_flop: {conv: 1}\n",
		     "partial cycles_per_flop", "fc: missing");
	refused_edit("role: device", "role: cloud", "unknown role",
		     "c1.yaml:2: role: 'cloud' is not device, edge or any");
	refused_edit("name: c1", "name: c/1", "bad name", "c1.yaml:1: name: 'c/1' is not");
	refused_edit("  sinr_db: 0\n", "  sinr_db: 0\n  sinr_db: 1\n", "a key twice",
		     "c1.yaml:10: key 'sinr_db' given twice (first at line 9)");
}

/* A file cut anywhere is refused naming its line: a cut at a line's end leaves a
 * required key missing (or a part empty), one inside a line a syntax error or a
 * partial value. */
Test(device_class, truncated_files)
{
	size_t n = strlen(class_yaml);
	for (size_t cut = 1; cut < n - 1; cut++) {
		char *t = strndup(class_yaml, cut);
		struct cost_device_class c;
		err[0] = 0;
		int r = cost_class_parse(t, cut, "c1.yaml", &c, err, sizeof(err));
		/* a cut inside the last number leaves a shorter, valid one */
		if (cut < n - 4) {
			cr_expect_neq(r, 0, "cut at %zu accepted", cut);
			cr_expect(!strncmp(err, "c1.yaml:", 8) || !strncmp(err, "c1.yaml: ", 9),
				  "cut at %zu: '%s'", cut, err);
		}
		if (t[cut - 1] == '\n' && cut < n - 4)
			cr_expect(strstr(err, "missing") || strstr(err, "expected a mapping"),
				  "cut at %zu: '%s'", cut, err);
		free(t);
	}
}

/* A tree holding conf/devices/ with the given class files. */
static void make_root(char *root, const char *const *names, const char *const *texts, int n)
{
	char path[512];
	strcpy(root, "/tmp/coinfer-test-class-XXXXXX");
	cr_assert(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/conf", root);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/conf/devices", root);
	cr_assert_eq(mkdir(path, 0755), 0);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/conf/devices/%s.yaml", root, names[i]);
		FILE *f = fopen(path, "w");
		cr_assert(f);
		fputs(texts[i], f);
		fclose(f);
	}
}

static void remove_root(const char *root, const char *const *names, int n)
{
	char path[512];
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/conf/devices/%s.yaml", root, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/conf/devices", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/conf", root);
	rmdir(path);
	rmdir(root);
}

Test(device_class, load_checks_the_name_and_scale_of)
{
	char *scaled = edit(class_yaml, "regression: rpi3-edgent\n",
			    "scale:\n  of: c0\n  factor: 2\n");
	char *named = edit(class_yaml, "name: c1", "name: c2");
	const char *const names[] = {"c1", "c3"};
	const char *const texts[] = {scaled, named};
	struct cost_device_class c;
	char root[64];
	make_root(root, names, texts, 2);
	cr_expect_eq(cost_class_load(root, "c1", &c, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/conf/devices/c1.yaml:5: scale.of: unknown device class 'c0'"),
		  "%s", err);
	cr_expect(strstr(err, "known: ") && strstr(err, "c1") && strstr(err, "c3"), "%s", err);
	cr_expect_eq(cost_class_load(root, "c3", &c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "/conf/devices/c3.yaml:1: name: 'c2' is not the file's name 'c3'"),
		  "%s", err);
	cr_expect_eq(cost_class_load(root, "no-such-class", &c, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "unknown device class 'no-such-class'") != NULL, "%s", err);
	cr_expect_eq(cost_class_load(root, "../etc/passwd", &c, err, sizeof(err)), -EINVAL);
	remove_root(root, names, 2);
	free(scaled);
	free(named);
}

/* Every class of conf/devices loads (a scaled one's other class exists), with
 * the values its JSON file had. */
Test(device_class, bundled_classes_load)
{
	DIR *d = opendir(COINFER_SOURCE_ROOT "/conf/devices");
	struct dirent *de;
	struct cost_device_class c;
	int n = 0;
	cr_assert(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char name[64];
		if (de->d_name[0] == '.')
			continue;
		cr_expect(l > 5 && !strcmp(de->d_name + l - 5, ".yaml"), "%s: not a class file",
			  de->d_name);
		snprintf(name, sizeof(name), "%.*s", (int)(l - 5), de->d_name);
		cr_expect_eq(cost_class_load(COINFER_SOURCE_ROOT, name, &c, err, sizeof(err)), 0,
			     "%s", err);
		cr_expect(c.cycles_from_profile, "%s", name);
		n++;
	}
	closedir(d);
	cr_expect_eq(n, 6);
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "pi4-est", &c, err, sizeof(err)), 0);
	cr_expect(c.source == COST_CLASS_SCALE && c.scale_factor == 9.2);
	cr_expect_str_eq(c.scale_of, "x86-avx2");
	cr_expect(c.kappa == 2.67e-28 && c.f_hz == 1.5e9 && c.tx_power_w == 0.1);
	cr_expect(c.codec.enc_ns_per_elem[0] == 48.37 && c.codec.enc_us_per_frame[3] == 2596.8);
	cr_expect(c.codec.dec_ns_per_elem[2] == 13.409 && c.codec.dec_us_per_frame[1] == 12.11);
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "edge-x86", &c, err, sizeof(err)), 0);
	cr_expect_eq(c.source, COST_CLASS_FILE);
	cr_expect_str_eq(c.profile_path, "models/{model}.profile.edge-x86.json");
	cr_expect_str_eq(c.role, "edge");
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "rpi3-edgent", &c, err, sizeof(err)), 0);
	cr_expect(c.kappa == 3.2e-28 && c.f_hz == 1.2e9);
	cr_expect(c.codec.enc_ns_per_elem[3] == 567.381 && c.codec.enc_us_per_frame[3] == 6232.32);
	cr_assert_eq(cost_class_load(COINFER_SOURCE_ROOT, "table2-mobile-literal", &c, err,
				     sizeof(err)), 0);
	cr_expect_str_eq(c.regression, "table2-mobile-column");
}
