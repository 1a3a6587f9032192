/* Sorting samples for order statistics (medians, nearest-rank percentiles):
 * one comparator, so that every report orders its samples the same way. Each
 * caller keeps its own rank rule, which its output documents. */
#ifndef COINFER_STATS_H
#define COINFER_STATS_H

#include <stddef.h>
#include <stdlib.h>

static inline int cf_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Ascending; NaNs are the caller's to keep out. */
static inline void cf_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cf_cmp_double);
}

#endif
