/* Helpers shared by the cost-model sources (cost-*.c). */
#ifndef COINFER_COST_INTERNAL_H
#define COINFER_COST_INTERNAL_H

/* t[k] is the time at batches[k] (ascending, nb >= 1); the time at n: linear in
 * between, t[0] below the first, the last batch's time per image times n above
 * the last. */
double cost_interp_batch(const int *batches, int nb, const double *t, double n);

#endif
