/* libFuzzer target: coinfer-report on untrusted bytes. The input is parsed as
 * a report input (one or more JSON values; a coinfer-fleet run checked), and
 * whatever parses is written out as the report's tables (fleet run or
 * benchmark) into /dev/null, with the load points gathered: the code that walks
 * JSON of any shape must not crash, leak or read past what cJSON built. The
 * plots are left out (they run gnuplot); their data come from the same keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../report/rp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rp_input in;
	struct rp_doc d = {.dir = "/nonexistent"};
	struct rp_load_point *pts = NULL;
	char err[512], *text = malloc(size + 1);
	int n = 0;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (!rp_input_parse(&in, "fuzz.json", text, size, err, sizeof(err))) {
		d.html = fopen("/dev/null", "w");
		d.md = fopen("/dev/null", "w");
		if (d.html && d.md) {
			if (in.is_fleet)
				rp_fleet_tables(&d, &in);
			else
				rp_bench_tables(&d, &in, 50);
			rp_bench_load_points(&in, &pts, &n);
		}
		if (d.html)
			fclose(d.html);
		if (d.md)
			fclose(d.md);
	}
	rp_input_free(&in);
	free(pts);
	free(text);
	return 0;
}
