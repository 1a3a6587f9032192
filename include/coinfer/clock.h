/* The one way to read time. Intervals are measured on CLOCK_MONOTONIC (never
 * stepped by NTP or the admin) or on CPU time (the calling thread's, the
 * process's); a wall-clock date is nobody's business here except
 * pthread_timedjoin_np's deadline, which only takes CLOCK_REALTIME. Header-only
 * like errmsg.h: every module, the cross-built ones included, can use it
 * without a link dependency. */
#ifndef COINFER_CLOCK_H
#define COINFER_CLOCK_H

#include <stdint.h>
#include <time.h>

/* An injectable clock: ns on an arbitrary but monotonic origin. The appliance's
 * sessions and the device agents take one so that tests run on a clock of their
 * own; NULL stands for cf_clock_monotonic. */
typedef uint64_t (*cf_clock_fn)(void *ctx);

/* ns on clock c (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...) */
static inline uint64_t cf_clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* seconds on clock c, for callers that time in doubles */
static inline double cf_clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t cf_now_ns(void)
{
	return cf_clock_ns(CLOCK_MONOTONIC);
}

static inline double cf_now_s(void)
{
	return cf_clock_s(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread: does not advance while it waits or is preempted */
static inline uint64_t cf_thread_cpu_ns(void)
{
	return cf_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static inline double cf_thread_cpu_s(void)
{
	return cf_clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* CPU time of the whole process, every thread, user and system: the sum of
 * getrusage(RUSAGE_SELF)'s ru_utime and ru_stime, to the ns */
static inline double cf_process_cpu_s(void)
{
	return cf_clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* cf_now_ns as a cf_clock_fn: the default of the injectable clocks */
static inline uint64_t cf_clock_monotonic(void *ctx)
{
	(void)ctx;
	return cf_now_ns();
}

#endif
