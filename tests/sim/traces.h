/* Synthetic bandwidth traces for the policy tests. */
#ifndef COINFER_TESTS_POLICY_TRACES_H
#define COINFER_TESTS_POLICY_TRACES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/sim.h"

/* n samples of mbps, dt seconds apart; free with sim_trace_free. */
static inline void synth_trace(struct sim_trace *t, const double *mbps, int n, double dt)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->t = malloc(n * sizeof(double));
	t->mbps = malloc(n * sizeof(double));
	cr_assert(t->t && t->mbps);
	for (int i = 0; i < n; i++) {
		t->t[i] = i * dt;
		t->mbps[i] = mbps[i];
	}
	sim_trace_finish(t);
	snprintf(t->name, sizeof(t->name), "synthetic-%d", n);
}

#endif
