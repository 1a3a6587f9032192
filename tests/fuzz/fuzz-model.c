/* libFuzzer target: the model loader on untrusted bytes. Each input is parsed as
 * it is, then once more with its size field and checksum trailer made consistent:
 * random mutations almost never keep an XXH64 valid, and without the second parse
 * the fuzzer would stop at the checksum instead of reaching the field checks. A
 * parse that succeeds must yield a model the executor can size and run on one
 * image, so the shape and weight paths behind the loader are reached too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coinfer/exec.h"

static void parse_and_run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_and_run(data, size);
	if (size < 136)
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	uint64_t len = size, sum;
	memcpy(copy + 16, &len, 8);
	sum = XXH64(copy, size - 8, 0);
	memcpy(copy + size - 8, &sum, 8);
	parse_and_run(copy, size);
	free(copy);
	return 0;
}

static void parse_and_run(const uint8_t *data, size_t size)
{
	char err[256];
	struct cr_model *m;
	if (cr_model_parse(data, size, &m, err, sizeof(err)))
		return;
	struct cr_exec *x;
	size_t most = 0;
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p <= m->exit_len[e]; p++) {
			size_t f = cr_model_boundary_floats(m, e, p);
			most = f > most ? f : most;
		}
	/* keep each run cheap: skip giant (valid) models instead of timing out */
	uint64_t flops = 0;
	for (int i = 0; i < m->n_layers; i++)
		flops += m->layers[i].flops;
	if (most <= (1u << 20) && flops <= (1ull << 26) &&
	    cr_exec_create(m, ck_kernels_for(CK_ISA_SCALAR), 1, &x) == 0) {
		float *in = calloc(cr_model_boundary_floats(m, 0, 0), sizeof(float));
		const float *out;
		for (int e = 0; in && e < m->n_exits; e++)
			cr_exec_run(x, e, 0, m->exit_len[e], in, 1, &out);
		free(in);
		cr_exec_destroy(x);
	}
	cr_model_free(m);
}
