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
