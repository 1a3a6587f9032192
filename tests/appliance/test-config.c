/* The appliance's settings: a YAML file and the same values as flags give the
 * same config, flags override the file, conf/appliance.yaml holds every setting
 * at its built-in default, and bad input (unknown or mistyped key, wrong type,
 * out of range, empty, broken YAML, missing file) is refused with a message
 * that names the problem and where it is. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define CONF COINFER_SOURCE_ROOT "/conf/appliance.yaml"

/* 0 when a and b agree on every setting of the table, else the key that differs. */
static const char *differs(const struct ap_config *a, const struct ap_config *b)
{
	int n;
	const struct ap_config_opt *o = ap_config_opts(&n);
	for (int i = 0; i < n; i++, o++) {
		const char *x = (const char *)a + o->off, *y = (const char *)b + o->off;
		switch (o->type) {
		case AP_CFG_INT:
			if (memcmp(x, y, o->size))
				return o->key;
			break;
		case AP_CFG_BOOL:
			if (*(const int *)x != *(const int *)y)
				return o->key;
			break;
		case AP_CFG_SECONDS:
			if (*(const double *)x != *(const double *)y)
				return o->key;
			break;
		case AP_CFG_CHOICE:
			if (*(const int *)x != *(const int *)y)
				return o->key;
			break;
		case AP_CFG_FAULTS:
			if (memcmp(x, y, sizeof(struct cw_fault_config)))
				return o->key;
			break;
		case AP_CFG_STR: {
			const char *s = *(const char *const *)x, *t = *(const char *const *)y;
			if ((!s || !t) ? s != t : strcmp(s, t) != 0)
				return o->key;
			break;
		}
		case AP_CFG_INTS: {
			int na = *(const int *)((const char *)a + o->count_off);
			int nb = *(const int *)((const char *)b + o->count_off);
			if (na != nb || memcmp(x, y, (size_t)na * sizeof(int)))
				return o->key;
			break;
		}
		case AP_CFG_STRS: {
			int na = *(const int *)((const char *)a + o->count_off);
			int nb = *(const int *)((const char *)b + o->count_off);
			if (na != nb)
				return o->key;
			for (int k = 0; k < na; k++)
				if (strcmp(((const char *const *)x)[k], ((const char *const *)y)[k]))
					return o->key;
			break;
		}
		}
	}
	return NULL;
}

static int load(struct ap_config *c, const char *text, char *err, size_t errlen)
{
	ap_config_defaults(c);
	return ap_config_load_text(c, "t.yaml", text, strlen(text), err, errlen);
}

static int args(struct ap_config *c, char **argv, char *err, size_t errlen)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	ap_config_defaults(c);
	return ap_config_args(c, argc, argv, err, errlen);
}

/* A value other than the default for every setting, in YAML and as flags. */
static const struct {
	const char *key, *yaml, *flags[5];
} values[] = {
	{"model", "m.cfm", {"--model", "m.cfm"}},
	{"transport", "udp", {"--transport", "udp"}},
	{"tx_datagrams", "64", {"--tx-datagrams", "64"}},
	{"faults", "drop=0.1,dup=0.05,seed=3", {"--faults", "drop=0.1,dup=0.05,seed=3"}},
	{"dpdk_eal", "\"--no-huge -m 64\"", {"--dpdk-eal", "--no-huge -m 64"}},
	{"dpdk_port", "net_tap0", {"--dpdk-port", "net_tap0"}},
	{"dpdk_mbufs", "4096", {"--dpdk-mbufs", "4096"}},
	{"dpdk_idle_us", "0", {"--dpdk-idle-us", "0"}},
	{"host", "127.0.0.2", {"--host", "127.0.0.2"}},
	{"port", "9000", {"--port", "9000"}},
	{"workers", "3", {"--workers", "3"}},
	{"max_conns", "100", {"--max-conns", "100"}},
	{"max_inflight", "8", {"--max-inflight", "8"}},
	{"max_requests", "512", {"--max-requests", "512"}},
	{"max_batch", "16", {"--max-batch", "16"}},
	{"max_delay_us", "500", {"--max-delay-us", "500"}},
	{"join", "false", {"--no-join"}},
	{"run_late", "true", {"--run-late"}},
	{"null_model", "yes", {"--null-model"}},
	{"max_frame", "200000", {"--max-frame", "200000"}},
	{"small_frame", "4096", {"--small-frame", "4096"}},
	{"big_frames", "32", {"--big-frames", "32"}},
	{"idle_timeout_ms", "5000", {"--idle-timeout-ms", "5000"}},
	{"auth", "keys", {"--auth", "keys"}},
	{"keys", "/etc/coinfer/devices.keys", {"--keys", "/etc/coinfer/devices.keys"}},
	{"slo", "/etc/coinfer/slo/apps.yaml", {"--slo", "/etc/coinfer/slo/apps.yaml"}},
	{"auth_rate_addr", "50", {"--auth-rate-addr", "50"}},
	{"auth_rate_device", "3", {"--auth-rate-device", "3"}},
	{"auth_timeout_ms", "2000", {"--auth-timeout-ms", "2000"}},
	{"buf_ring", "false", {"--no-buf-ring"}},
	{"rx_buffers", "256", {"--rx-buffers", "256"}},
	{"rx_buffer_bytes", "8192", {"--rx-buffer-bytes", "8192"}},
	{"tx_bytes", "32768", {"--tx-bytes", "32768"}},
	{"reassembly_buffers", "16", {"--reassembly-buffers", "16"}},
	{"calibrate_runs", "2", {"--calibrate-runs", "2"}},
	{"drain_ms", "250", {"--drain-ms", "250"}},
	{"watchdog_ms", "0", {"--watchdog-ms", "0"}},
	{"policies", "[a.policy, b.policy]", {"--policy", "a.policy", "--policy", "b.policy"}},
	{"run_seconds", "2.5", {"--run-seconds", "2.5"}},
	{"quiet", "true", {"--quiet"}},
	{"slo_deadlines_ms", "[100, 30]",
	 {"--slo-deadlines-ms", "100", "--slo-deadlines-ms", "30"}},
	{"metrics_host", "127.0.0.3", {"--metrics-host", "127.0.0.3"}},
#if COINFER_METRICS
	{"metrics_port", "9100", {"--metrics-port", "9100"}},
#else
	/* only "off" passes the check in a build without metrics */
	{"metrics_port", "-1", {"--metrics-port", "-1"}},
#endif
};
#define N_VALUES (int)(sizeof(values) / sizeof(values[0]))

Test(config, file_and_flags_give_the_same_config)
{
	char yaml[4096] = "# every setting\n", err[512];
	char *argv[2 + 5 * N_VALUES] = {"coinfer-appliance"};
	int argc = 1, n;
	const struct ap_config_opt *o = ap_config_opts(&n);
	for (int i = 0; i < n; i++) {
		int found = 0;
		for (int k = 0; k < N_VALUES; k++)
			found |= !strcmp(values[k].key, o[i].key);
		cr_assert(found, "setting %s has no test value here", o[i].key);
	}
	for (int k = 0; k < N_VALUES; k++) {
		snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s: %s\n", values[k].key,
			 values[k].yaml);
		for (int f = 0; values[k].flags[f]; f++)
			argv[argc++] = (char *)values[k].flags[f];
	}
	struct ap_config file, flags, defaults;
	cr_assert_eq(load(&file, yaml, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ap_config_check(&file, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(args(&flags, argv, err, sizeof(err)), 0, "%s", err);
	const char *d = differs(&file, &flags);
	cr_assert_null(d, "the file and the flags differ in %s", d);
	cr_assert_eq(file.server.port, 9000);
	cr_assert_eq(file.server.max_delay_us, 500);
	cr_assert_eq(file.server.max_frame, 200000u);
	cr_assert_eq(file.server.no_buf_ring, 1);
	cr_assert_eq(file.server.transport, AP_TRANSPORT_UDP);
	cr_assert_float_eq(file.server.faults.drop, 0.1, 1e-12);
	cr_assert_eq(file.server.faults.seed, 3);
	cr_assert_eq(file.n_policy, 2);
	cr_assert_str_eq(file.policy[1], "b.policy");
	cr_assert_float_eq(file.run_seconds, 2.5, 1e-12);
	/* and every one of them was really set: each differs from its default */
	ap_config_defaults(&defaults);
	for (int i = 0; i < n; i++) {
		struct ap_config one = defaults;
		if (!COINFER_METRICS && !strcmp(o[i].key, "metrics_port"))
			continue; /* its test value is the default there */
		char line[256];
		for (int k = 0; k < N_VALUES; k++)
			if (!strcmp(values[k].key, o[i].key))
				snprintf(line, sizeof(line), "%s: %s\n", values[k].key, values[k].yaml);
		cr_assert_eq(load(&one, line, err, sizeof(err)), 0, "%s", err);
		cr_assert_str_eq(differs(&one, &defaults) ? differs(&one, &defaults) : "", o[i].key);
		ap_config_free(&one);
	}
	ap_config_free(&file);
	ap_config_free(&flags);
}

Test(config, committed_file_holds_every_setting_at_its_default)
{
	struct ap_config c, defaults;
	char err[512];
	ap_config_defaults(&c);
	ap_config_defaults(&defaults);
	cr_assert_eq(ap_config_load(&c, CONF, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ap_config_check(&c, err, sizeof(err)), 0, "%s", err);
	const char *d = differs(&c, &defaults);
	cr_assert_null(d, "conf/appliance.yaml: %s is not the built-in default", d);
	/* a setting added to the code without its line in the file fails here */
	FILE *f = fopen(CONF, "r");
	cr_assert_not_null(f);
	static char text[1 << 16];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = 0;
	int n;
	const struct ap_config_opt *o = ap_config_opts(&n);
	for (int i = 0; i < n; i++) {
		char key[80];
		snprintf(key, sizeof(key), "\n%s: ", o[i].key);
		cr_assert_not_null(strstr(text, key), "conf/appliance.yaml has no line for %s",
				   o[i].key);
	}
	ap_config_free(&c);
}

Test(config, flags_override_the_file)
{
	char path[] = "/tmp/coinfer-test-config-XXXXXX", err[512];
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	static const char text[] = "port: 9000\nmax_batch: 16\njoin: false\n"
				   "policies: [a.policy, b.policy]\n";
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	struct ap_config c;
	/* --config after the flags it is overridden by: the file is applied first */
	char *argv[] = {"coinfer-appliance", "--max-batch", "8", "--join", "--config", path,
			"--policy", "c.policy", NULL};
	int ret = args(&c, argv, err, sizeof(err));
	unlink(path);
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(c.server.port, 9000);
	cr_assert_eq(c.server.max_batch, 8);
	cr_assert_eq(c.server.join, 1);
	cr_assert_eq(c.n_policy, 1, "the flags' --policy list replaces the file's");
	cr_assert_str_eq(c.policy[0], "c.policy");
	ap_config_free(&c);
}

/* text gives an error with each of the substrings (NULL-terminated) */
static void refused(const char *text, const char *const *want)
{
	struct ap_config c;
	char err[512] = "";
	int ret = load(&c, text, err, sizeof(err));
	cr_assert_lt(ret, 0, "accepted: %s", text);
	for (; *want; want++)
		cr_assert_not_null(strstr(err, *want), "'%s' not in the message: %s", *want, err);
	ap_config_free(&c);
}
#define REFUSED(text, ...) refused(text, (const char *const[]){__VA_ARGS__, NULL})

Test(config, unknown_and_mistyped_keys_are_named)
{
	REFUSED("port: 7878\nfoo: 1\n", "t.yaml:2", "unknown key 'foo'", "not a setting");
	REFUSED("workers: 2\nmax_bacth: 3\n", "t.yaml:2", "unknown key 'max_bacth'",
		"did you mean 'max_batch'?");
	REFUSED("max-batch: 3\n", "t.yaml:1", "did you mean 'max_batch'?", "'_'");
	REFUSED("workres: 2\n", "did you mean 'workers'?");
	REFUSED("port: 1\nworkers: 2\nport: 2\n", "t.yaml:3", "'port' given twice", "line 1");
}

Test(config, wrong_types_are_named)
{
	REFUSED("workers: abc\n", "t.yaml:1", "workers", "'abc' is not an integer");
	REFUSED("port: 1\nmax_batch: 3.5\n", "t.yaml:2", "max_batch", "'3.5' is not an integer");
	REFUSED("workers: [1, 2]\n", "t.yaml:1:10", "workers", "expected a single value, got a list");
	REFUSED("join: maybe\n", "join", "'maybe' is not true or false");
	REFUSED("run_seconds: soon\n", "run_seconds", "'soon' is not a number");
	REFUSED("policies: a.policy\n", "policies", "expected a list, got a single value");
	REFUSED("policies: [[a]]\n", "policies", "entry 1");
	REFUSED("host:\n", "host: empty");
	REFUSED("- port\n- 1\n", "expected key: value lines, got a list");
}

Test(config, values_out_of_range_are_named_as_for_flags)
{
	REFUSED("max_batch: 0\n", "t.yaml:1: max_batch: 0 is out of range (1..1024)");
	REFUSED("port: 70000\n", "port: 70000 is out of range (0..65535)");
	REFUSED("run_seconds: -1\n", "run_seconds", "out of range");
	REFUSED("metrics_port: -2\n", "metrics_port: -2 is out of range (-1..65535)");
	REFUSED("slo_deadlines_ms: [20, 0]\n", "t.yaml:1: slo_deadlines_ms: 0 is out of range");
	REFUSED("slo_deadlines_ms: [20, 2x]\n", "slo_deadlines_ms: '2x' is not a list of integers");
	REFUSED("slo_deadlines_ms: 20\n", "slo_deadlines_ms", "expected a list");
	REFUSED("slo_deadlines_ms: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n",
		"slo_deadlines_ms: more than 16");
	/* the flag goes through the same check */
	struct ap_config c;
	char err[512];
	char *argv[] = {"coinfer-appliance", "--max-batch", "0", NULL};
	cr_assert_eq(args(&c, argv, err, sizeof(err)), -ERANGE);
	cr_assert_str_eq(err, "--max-batch: 0 is out of range (1..1024)");
	char *argv2[] = {"coinfer-appliance", "--port", "12x", NULL};
	cr_assert_eq(args(&c, argv2, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "--port: '12x' is not an integer");
	/* settings that must agree are checked after file and flags */
	cr_assert_eq(load(&c, "small_frame: 9000\nmax_frame: 8192\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_lt(ap_config_check(&c, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "small_frame (--small-frame) 9000 is above max_frame"), "%s", err);
	ap_config_free(&c);
	cr_assert_eq(load(&c, "rx_buffers: 1000\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_lt(ap_config_check(&c, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "not a power of two"), "%s", err);
	ap_config_free(&c);
}

Test(config, empty_and_broken_files_are_refused)
{
	REFUSED("", "t.yaml: empty");
	REFUSED("# only a comment\n\n", "t.yaml: empty");
	REFUSED("port: 1\npolicies: [a, b\n", "t.yaml:3", "not valid YAML",
		"did not find expected ',' or ']'");
	REFUSED("port: 1\n  bad: : x\n", "t.yaml:2:6: not valid YAML");
	REFUSED("port: \"7878\n", "not valid YAML");
	REFUSED("port: 1\n\x01\x02\n", "not valid YAML");
	REFUSED("port: 1\n---\nport: 2\n", "2 YAML documents");
	struct ap_config c;
	char err[512];
	ap_config_defaults(&c);
	cr_assert_eq(ap_config_load(&c, "/nonexistent/appliance.yaml", err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "config file /nonexistent/appliance.yaml: No such file or directory");
	char *argv[] = {"coinfer-appliance", "--config", "/nonexistent/a.yaml", NULL};
	cr_assert_eq(args(&c, argv, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/a.yaml"));
}

Test(config, command_line_errors)
{
	struct ap_config c;
	char err[512];
	char *unknown[] = {"coinfer-appliance", "--max-batches", "3", NULL};
	cr_assert_eq(args(&c, unknown, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "'--max-batches' is not an option"), "%s", err);
	char *novalue[] = {"coinfer-appliance", "--port", NULL};
	cr_assert_eq(args(&c, novalue, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "--port needs a value");
	char *twice[] = {"coinfer-appliance", "--config", "a.yaml", "--config", "b.yaml", NULL};
	cr_assert_eq(args(&c, twice, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "--config given twice"), "%s", err);
	char *stray[] = {"coinfer-appliance", "extra", NULL};
	cr_assert_eq(args(&c, stray, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "unexpected argument 'extra'");
	char *help[] = {"coinfer-appliance", "--port", "1", "--help", NULL};
	cr_assert_eq(args(&c, help, err, sizeof(err)), AP_CONFIG_HELP);
}

Test(config, metrics_settings)
{
	struct ap_config c;
	char err[512];
	char *argv[] = {"coinfer-appliance", "--metrics-port", "9100", NULL};
	int ret = args(&c, argv, err, sizeof(err));
#if COINFER_METRICS
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(c.metrics_port, 9100);
	char *same[] = {"coinfer-appliance", "--port", "9100", "--metrics-port", "9100", NULL};
	cr_assert_eq(args(&c, same, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "the appliance's own port"), "%s", err);
#else
	cr_assert_eq(ret, -ENOTSUP);
	cr_assert_not_null(strstr(err, "built without metrics"), "%s", err);
#endif
	char *badhost[] = {"coinfer-appliance", "--metrics-port", "0", "--metrics-host", "localhost",
			   NULL};
	cr_assert_lt(args(&c, badhost, err, sizeof(err)), 0);
	/* off by default, whatever the host says */
	char *off[] = {"coinfer-appliance", "--metrics-host", "localhost", NULL};
	cr_assert_eq(args(&c, off, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.metrics_port, -1);
}

Test(config, transport_and_faults)
{
	struct ap_config c;
	char err[512];
	REFUSED("transport: quic\n", "t.yaml:1: transport", "'quic' is not one of tcp|udp");
	REFUSED("faults: drop=2\n", "t.yaml:1: faults", "drop=P,dup=P,reorder=P,seed=N");
	REFUSED("faults: loss=0.1\n", "faults");
	/* faults are injected on datagrams: over TCP they are refused */
	char *tcp[] = {"coinfer-appliance", "--faults", "drop=0.1", NULL};
	cr_assert_eq(args(&c, tcp, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "need transport udp"), "%s", err);
	char *udp[] = {"coinfer-appliance", "--transport", "udp", "--faults", "drop=0.1,seed=9",
		       NULL};
	cr_assert_eq(args(&c, udp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.server.transport, AP_TRANSPORT_UDP);
	cr_assert_float_eq(c.server.faults.drop, 0.1, 1e-12);
	cr_assert_eq(c.server.faults.seed, 9);
	/* none: no faults, as the committed file says */
	cr_assert_eq(load(&c, "transport: udp\nfaults: none\n", err, sizeof(err)), 0, "%s", err);
	cr_assert(cw_faults_none(&c.server.faults));
	ap_config_free(&c);
}
