/* include/coinfer/clock.h: the helpers read the clocks they name, in the units
 * they name, and the thread CPU clock stands still while the thread sleeps
 * (what cost profiles on a loaded host rely on). */
#include <criterion/criterion.h>
#include <sys/resource.h>
#include <time.h>

#include "coinfer/clock.h"

static uint64_t raw_ns(clockid_t c)
{
	struct timespec ts;
	cr_assert_eq(clock_gettime(c, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double rusage_cpu_s(void)
{
	struct rusage ru;
	cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts))
		;
}

Test(clock, now_is_clock_monotonic_in_ns)
{
	uint64_t a = raw_ns(CLOCK_MONOTONIC), t = cf_now_ns(), b = raw_ns(CLOCK_MONOTONIC);
	cr_expect(a <= t && t <= b, "%llu not in [%llu, %llu]", (unsigned long long)t,
		  (unsigned long long)a, (unsigned long long)b);
	cf_clock_fn f = cf_clock_monotonic;
	a = raw_ns(CLOCK_MONOTONIC), t = f(NULL), b = raw_ns(CLOCK_MONOTONIC);
	cr_expect(a <= t && t <= b, "the default injectable clock is not CLOCK_MONOTONIC");
	uint64_t prev = cf_now_ns();
	for (int i = 0; i < 100000; i++) {
		uint64_t n = cf_now_ns();
		cr_assert_geq(n, prev, "went back at read %d", i);
		prev = n;
	}
}

Test(clock, seconds_agree_with_ns)
{
	uint64_t a = cf_now_ns();
	double s = cf_now_s();
	uint64_t b = cf_now_ns();
	/* a double of the uptime in seconds keeps well under a microsecond */
	cr_expect(s >= (double)a * 1e-9 - 1e-6 && s <= (double)b * 1e-9 + 1e-6, "%.9f", s);
	a = cf_thread_cpu_ns();
	s = cf_thread_cpu_s();
	b = cf_thread_cpu_ns();
	cr_expect(s >= (double)a * 1e-9 - 1e-6 && s <= (double)b * 1e-9 + 1e-6, "%.9f", s);
	a = cf_now_ns();
	s = cf_clock_s(CLOCK_MONOTONIC);
	b = cf_clock_ns(CLOCK_MONOTONIC);
	cr_expect(s >= (double)a * 1e-9 - 1e-6 && s <= (double)b * 1e-9 + 1e-6, "%.9f", s);
}

Test(clock, thread_cpu_time_stands_still_while_asleep)
{
	uint64_t c0 = cf_thread_cpu_ns(), w0 = cf_now_ns();
	sleep_ms(50);
	uint64_t dc = cf_thread_cpu_ns() - c0, dw = cf_now_ns() - w0;
	cr_expect_geq(dw, 50000000ull, "slept %llu ns", (unsigned long long)dw);
	cr_expect_lt(dc, 20000000ull, "%llu ns of CPU while asleep", (unsigned long long)dc);
	/* and runs while the thread spins */
	c0 = cf_thread_cpu_ns();
	w0 = cf_now_ns();
	volatile unsigned x = 0;
	while (cf_now_ns() - w0 < 20000000ull)
		x++;
	cr_expect_gt(cf_thread_cpu_ns(), c0, "no CPU time after 20 ms of spinning");
}

/* what the appliance's and the bench's cpu_s lines printed from getrusage */
Test(clock, process_cpu_time_is_getrusages)
{
	volatile unsigned x = 0;
	for (uint64_t w0 = cf_now_ns(); cf_now_ns() - w0 < 20000000ull;)
		x++;
	double a = rusage_cpu_s(), p = cf_process_cpu_s(), b = rusage_cpu_s();
	/* getrusage truncates to the microsecond */
	cr_expect(p >= a - 1e-5 && p <= b + 1e-5, "%.6f not in [%.6f, %.6f]", p, a, b);
}
