/* `coinfer-policy eval` end to end (path in $COINFER_POLICY) on the committed
 * policies and every trace of ../shared/data/traces with conf/slo/apps.yaml: the
 * JSON holds the six algos and the per-set breakdown, and the committed SAC-d
 * keeps what issue 6 asks of it on this replay (SLO attainment >= 0.99, within
 * one point of the oracle's accuracy, more accurate than DQN and Edgent at equal
 * or better attainment) — a change to the cost model, the environment or the
 * learners that breaks this shows here, and the policies are to be retrained.
 * The same on the Pi 3 class with conf/slo/pi3.yaml, with Niu et al.'s headline.
 * A corrupt policy file is refused with a message. Skips without the traces. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run-cmd.h"

#define ROOT COINFER_SOURCE_ROOT
#define TRACES ROOT "/../shared/data/traces"

static const char *prog(void)
{
	const char *p = getenv("COINFER_POLICY");
	cr_assert(p && *p, "COINFER_POLICY is not set");
	return p;
}

static void need_traces(void)
{
	struct stat st;
	if (stat(TRACES "/fcc", &st) || stat(TRACES "/oboe", &st)) {
		cr_log_warn("no traces at %s: skipped\n", TRACES);
		exit(77);
	}
}

static const cJSON *algo(const cJSON *results, const char *name)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, results) {
		const cJSON *a = cJSON_GetObjectItem(r, "algo");
		if (cJSON_IsString(a) && !strcmp(a->valuestring, name))
			return r;
	}
	cr_assert_fail("no result for %s", name);
	return NULL;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	cr_assert(cJSON_IsNumber(v), "no number %s", key);
	return v->valuedouble;
}

/* `coinfer-policy eval ARGS` from the source root: its JSON, which must parse. */
static cJSON *eval_json(const char *args)
{
	char cmd[2048];
	int st;
	snprintf(cmd, sizeof(cmd), "cd %s && %s eval %s", ROOT, prog(), args);
	char *out = run_cmd(cmd, &st);
	cr_assert_eq(st, 0, "eval %s failed", args);
	cJSON *j = cJSON_Parse(out);
	cr_assert(j, "not JSON: %.200s", out);
	free(out);
	return j;
}

/* Issue 6's relations on one replay: SAC-d meets >= 99% of the SLOs, is within
 * a point of the oracle's accuracy, more accurate than DQN and Edgent, and at
 * least as punctual as DQN and as Edgent less edgent_slack. */
static const cJSON *expect_sacd_leads(const cJSON *res, const char *label, double edgent_slack)
{
	const cJSON *s = algo(res, "sacd"), *d = algo(res, "dqn"), *e = algo(res, "edgent"),
		    *o = algo(res, "oracle");
	double s_slo = num(s, "slo_attainment"), s_acc = num(s, "mean_accuracy");
	cr_log_info("%s: sacd %.4f/%.4f dqn %.4f/%.4f edgent %.4f/%.4f oracle %.4f/%.4f\n", label,
		    s_slo, s_acc, num(d, "slo_attainment"), num(d, "mean_accuracy"),
		    num(e, "slo_attainment"), num(e, "mean_accuracy"), num(o, "slo_attainment"),
		    num(o, "mean_accuracy"));
	cr_expect_geq(s_slo, 0.99, "%s", label);
	cr_expect_geq(s_acc, num(o, "mean_accuracy") - 0.01, "%s", label);
	cr_expect_gt(s_acc, num(d, "mean_accuracy"), "%s", label);
	cr_expect_geq(s_slo, num(d, "slo_attainment"), "%s", label);
	cr_expect_gt(s_acc, num(e, "mean_accuracy"), "%s", label);
	cr_expect_geq(s_slo, num(e, "slo_attainment") - edgent_slack, "%s", label);
	return s;
}

Test(policy_eval, committed_sacd_on_every_trace, .timeout = 120)
{
	need_traces();
	cJSON *j = eval_json("--slo conf/slo/apps.yaml");
	cr_expect_eq(num(j, "traces"), 414);
	cr_expect_eq(num(j, "steps"), 414 * 200);
	const cJSON *res = cJSON_GetObjectItem(j, "results");
	cr_assert_eq(cJSON_GetArraySize(res), 6, "sacd, dqn and the four baselines");
	algo(res, "device-only");
	algo(res, "edge-only");
	const cJSON *s = expect_sacd_leads(res, "pi4-est", 0);
	/* reported and measured; how fast a decision is belongs to policy-bench
	 * (tests/policy/bench-policy.c), not to a test a loaded host can fail */
	cr_expect_gt(num(s, "decision_us"), 0);
	cr_expect_str_eq(cJSON_GetObjectItem(s, "trained_for")->valuestring, "pi4-est");
	const cJSON *sets = cJSON_GetObjectItem(j, "by_trace_set");
	cr_assert_eq(cJSON_GetArraySize(sets), 2);
	cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(sets, 0), "set")->valuestring, "fcc");
	cr_expect_eq(num(cJSON_GetArrayItem(sets, 0), "traces"), 71);
	cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(sets, 1), "set")->valuestring, "oboe");
	cr_expect_eq(num(cJSON_GetArrayItem(sets, 1), "traces"), 343);
	cJSON_Delete(j);
}

/* The Pi 3 class (Edgent (Li et al. 2018) Table II) with its fleet's apps: the whole model takes
 * about 1.2 s on the device, so Niu et al.'s headline holds here (the Pi 4
 * estimate runs it in 10 ms, which no offload beats 4x: docs/policy-train.md). */
Test(policy_eval, committed_sacd_rpi3, .timeout = 120)
{
	need_traces();
	cJSON *j = eval_json("--slo conf/slo/pi3.yaml --device rpi3-edgent "
			     "--algos sacd,dqn,edgent,oracle,device-only");
	const cJSON *res = cJSON_GetObjectItem(j, "results");
	/* Edgent's misses here are all but one the oracle's: the requests no action
	 * could serve. SAC-d's richer choices lose a few more to sudden bandwidth
	 * drops (12 of 82,800 at this writing); more would be a regression. */
	const cJSON *s = expect_sacd_leads(res, "rpi3-edgent", 0.0005);
	const cJSON *sf = cJSON_GetObjectItem(s, "at_1MBps");
	const cJSON *df = cJSON_GetObjectItem(algo(res, "device-only"), "at_1MBps");
	cr_assert(sf && df, "no at_1MBps slice");
	cr_log_info(">= 1 MB/s: sacd %.1f ms %.4f, device-only %.1f ms %.4f\n",
		    num(sf, "mean_latency_ms"), num(sf, "mean_accuracy"), num(df, "mean_latency_ms"),
		    num(df, "mean_accuracy"));
	cr_expect_gt(num(sf, "steps"), 0);
	cr_expect_geq(num(df, "mean_latency_ms"), 4 * num(sf, "mean_latency_ms"), "Niu et al.'s headline");
	cr_expect_geq(num(sf, "mean_accuracy"), num(df, "mean_accuracy") - 0.01);
	cJSON_Delete(j);
}

Test(policy_eval, corrupt_policy_refused)
{
	need_traces();
	char path[] = "/tmp/coinfer-bad-policy-XXXXXX", cmd[2048];
	int fd = mkstemp(path), st;
	cr_assert(fd >= 0);
	/* the committed file with one byte of its weights flipped */
	FILE *in = fopen(ROOT "/models/branchy-alexnet.pi4-est.sacd.policy", "rb");
	cr_assert(in);
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	cr_assert(n > 4096);
	buf[n / 2] ^= 0x40;
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cd %s && %s eval --slo conf/slo/apps.yaml --steps 100 --sacd %s 2>&1",
		 ROOT, prog(), path);
	char *out = run_cmd(cmd, &st);
	unlink(path);
	cr_expect_eq(st, 1, "status %d: %s", st, out);
	cr_expect(strstr(out, "sacd") && strstr(out, "checksum"), "message: %s", out);
	free(out);
}

/* The ResNet-9 on the Pi 4 class: its SAC-d trained with the variant exits' actions
 * and the one trained without them (--no-variants), each replayed in its own action
 * space. What holds on this model (docs/seed003.md says why): the oracle is the same
 * with and without the variants (every variant action is dominated: a device-only
 * plain exit is faster and more accurate where there is no energy budget, and a
 * device head breaks the budgets where there are), and each SAC-d is within a point
 * of that oracle's accuracy and 0.01 of its attainment. A policy of the other action
 * space is refused by its action count. */
Test(policy_eval, resnet9_with_and_without_variants, .timeout = 120)
{
	need_traces();
	const char *common = "--model models/branchy-resnet9.cfm --slo conf/slo/apps.yaml "
			     "--device pi4-est --algos sacd,oracle";
	char args[1024];
	snprintf(args, sizeof(args), "%s --sacd models/branchy-resnet9.pi4-est.sacd.policy", common);
	cJSON *v = eval_json(args);
	snprintf(args, sizeof(args), "%s --no-variants --sacd "
		 "models/branchy-resnet9.pi4-est.sacd-plain.policy", common);
	cJSON *p = eval_json(args);
	const cJSON *rv = cJSON_GetObjectItem(v, "results"), *rp = cJSON_GetObjectItem(p, "results");
	cr_expect_eq(num(algo(rv, "oracle"), "mean_accuracy"), num(algo(rp, "oracle"), "mean_accuracy"));
	cr_expect_eq(num(algo(rv, "oracle"), "slo_attainment"),
		     num(algo(rp, "oracle"), "slo_attainment"));
	const cJSON *res[] = {rv, rp};
	for (int i = 0; i < 2; i++) {
		const cJSON *s = algo(res[i], "sacd"), *o = algo(res[i], "oracle");
		cr_log_info("resnet9 %s: sacd %.4f/%.4f oracle %.4f/%.4f\n", i ? "plain" : "variants",
			    num(s, "slo_attainment"), num(s, "mean_accuracy"),
			    num(o, "slo_attainment"), num(o, "mean_accuracy"));
		cr_expect_geq(num(s, "mean_accuracy"), num(o, "mean_accuracy") - 0.01);
		cr_expect_geq(num(s, "slo_attainment"), num(o, "slo_attainment") - 0.01);
	}
	cJSON_Delete(v);
	cJSON_Delete(p);
	char cmd[2048];
	int st;
	snprintf(cmd, sizeof(cmd), "cd %s && %s eval %s --steps 200 --sacd "
		 "models/branchy-resnet9.pi4-est.sacd-plain.policy 2>&1", ROOT, prog(), common);
	char *out = run_cmd(cmd, &st);
	cr_expect_eq(st, 1);
	cr_expect(strstr(out, "183 actions) does not fit this environment (9, 1, 195)"), "%s", out);
	free(out);
}
