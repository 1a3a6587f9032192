/* `coinfer-policy table2` end to end (path in $COINFER_POLICY): seed 003's Table 2
 * on the committed models. Each row's latency is the sum of its three terms and
 * stays within the accuracy loss; less bandwidth never makes split-only faster;
 * a bad class is refused by name. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run-cmd.h"

#define ROOT COINFER_SOURCE_ROOT

static cJSON *table2(const char *args, int *status)
{
	char cmd[1024];
	const char *p = getenv("COINFER_POLICY");
	cr_assert(p && *p, "COINFER_POLICY is not set");
	snprintf(cmd, sizeof(cmd), "%s table2 --root %s %s", p, ROOT, args);
	char *out = run_cmd(cmd, status);
	cJSON *j = cJSON_Parse(out);
	free(out);
	return j;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	cr_assert(cJSON_IsNumber(v), "no number %s", k);
	return v->valuedouble;
}

Test(table2, alexnet_rows_add_up)
{
	int st;
	cJSON *j = table2("--model " ROOT "/models/branchy-alexnet.cfm", &st);
	cr_assert_eq(st, 0);
	cr_assert(j);
	const cJSON *rows = cJSON_GetObjectItem(j, "rows"), *r;
	/* the AlexNet has no variants: split-only on both default classes */
	cr_assert_eq(cJSON_GetArraySize(rows), 2);
	cJSON_ArrayForEach(r, rows)
	{
		cr_expect_str_eq(cJSON_GetObjectItem(r, "method")->valuestring, "split-only");
		double sum = num(r, "device_ms") + num(r, "transmit_ms") + num(r, "server_ms");
		cr_expect(fabs(sum - num(r, "latency_ms")) <= 1e-9 * sum, "terms %g vs %g", sum,
			  num(r, "latency_ms"));
		cr_expect(num(r, "accuracy_loss") <= 0.01 + 1e-12);
		cr_expect(num(r, "accuracy") > 0.8);
	}
	double fast = num(cJSON_GetArrayItem(rows, 0), "latency_ms");
	cJSON_Delete(j);
	j = table2("--model " ROOT "/models/branchy-alexnet.cfm --bandwidth 1e5", &st);
	cr_assert_eq(st, 0);
	double slow = num(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0), "latency_ms");
	cr_expect(slow >= fast, "1e5 bit/s %g ms, 1e6 bit/s %g ms", slow, fast);
	cJSON_Delete(j);
}

Test(table2, bad_class_refused)
{
	int st;
	cJSON *j = table2("--devices nosuch 2>/dev/null", &st);
	cr_expect_eq(st, 2);
	cJSON_Delete(j);
	j = table2("--devices '' 2>/dev/null", &st);
	cr_expect_eq(st, 2);
	cJSON_Delete(j);
}

/* The ResNet-9 with its variants: per class the four methods in order, each on its
 * own exit (split-only on exit 3, pruning 4, codec 5, both 6; a variant at its split
 * only), the terms adding up. --min-partition 1 (the seed's Only Splitting) never
 * sends the input, and no split-only row is faster than the unrestricted one. */
Test(table2, resnet9_methods_on_their_exits)
{
	static const char *const method[] = {"split-only", "pruning", "codec", "both"};
	static const int exit_of[] = {3, 4, 5, 6}, split_of[] = {-1, 18, 16, 21};
	int st;
	cJSON *j = table2("--model " ROOT "/models/branchy-resnet9.cfm", &st);
	cr_assert_eq(st, 0);
	cr_assert(j);
	const cJSON *rows = cJSON_GetObjectItem(j, "rows");
	cr_assert_eq(cJSON_GetArraySize(rows), 8, "2 classes x 4 methods");
	double split_ms[2];
	for (int i = 0; i < 8; i++) {
		const cJSON *r = cJSON_GetArrayItem(rows, i);
		int k = i % 4;
		cr_expect_str_eq(cJSON_GetObjectItem(r, "method")->valuestring, method[k]);
		cr_expect_eq((int)num(r, "exit"), exit_of[k], "row %d", i);
		if (split_of[k] >= 0)
			cr_expect_eq((int)num(r, "partition"), split_of[k], "row %d", i);
		double sum = num(r, "device_ms") + num(r, "transmit_ms") + num(r, "server_ms");
		cr_expect(fabs(sum - num(r, "latency_ms")) <= 1e-9 * sum, "row %d", i);
		if (!k)
			split_ms[i / 4] = num(r, "latency_ms");
	}
	cJSON_Delete(j);
	j = table2("--model " ROOT "/models/branchy-resnet9.cfm --min-partition 1", &st);
	cr_assert_eq(st, 0);
	rows = cJSON_GetObjectItem(j, "rows");
	for (int c = 0; c < 2; c++) {
		const cJSON *r = cJSON_GetArrayItem(rows, 4 * c);
		cr_expect(num(r, "partition") >= 1, "the input sent");
		cr_expect(num(r, "latency_ms") >= split_ms[c], "%g < %g", num(r, "latency_ms"),
			  split_ms[c]);
	}
	cJSON_Delete(j);
}
