/* coinfer-bench-appliance --dpdk-fastpath (bench/dpdk-fastpath.c). */
#ifndef COINFER_BENCH_DPDK_FASTPATH_H
#define COINFER_BENCH_DPDK_FASTPATH_H

#include <cjson/cJSON.h>
#include <stdint.h>

struct cr_model;

/* The DPDK fast path on a port of rings: requests of one fragment through one
 * worker, the figures as JSON ({"skipped": why} when DPDK cannot start). */
cJSON *ab_dpdk_fastpath(const struct cr_model *m, uint64_t requests);

#endif
