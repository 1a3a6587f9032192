/* The workers' watchdog rule (appliance/watchdog.h) on an injected clock: a
 * worker whose turn counter stops is reported once when the limit passes, not
 * before, and once more when it moves again; a busy worker never is. */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../appliance/watchdog.h"

#define MS 1000000ull

Test(watchdog, stall_reported_once_after_the_limit_then_recovery)
{
	struct ap_watch w;
	uint64_t q;
	cr_assert_eq(ap_watch_init(&w, 2, 2000 * MS, 0), 0);
	/* worker 0 turns every 100 ms; worker 1 stops at 300 ms */
	uint64_t t0 = 0, t1 = 0;
	int stalled_at = -1, reports = 0;
	for (uint64_t now = 100 * MS; now <= 5000 * MS; now += 100 * MS) {
		t0++;
		if (now <= 300 * MS)
			t1++;
		cr_assert_eq(ap_watch_step(&w, 0, t0, now, &q), AP_WATCH_NONE);
		if (ap_watch_step(&w, 1, t1, now, &q) == AP_WATCH_STALLED) {
			reports++;
			stalled_at = (int)(now / MS);
			cr_assert_geq(q, 2000 * MS);
		}
	}
	cr_assert_eq(reports, 1, "a stall is reported once, not at every look");
	cr_assert_eq(stalled_at, 2300, "300 ms of progress + the 2000 ms limit");
	cr_assert_eq(ap_watch_step(&w, 1, t1 + 1, 5100 * MS, &q), AP_WATCH_RECOVERED);
	cr_assert_eq(q, 4800 * MS);
	cr_assert_eq(ap_watch_step(&w, 1, t1 + 2, 5200 * MS, &q), AP_WATCH_NONE);
	ap_watch_free(&w);
}

Test(watchdog, just_under_the_limit_is_not_a_stall)
{
	struct ap_watch w;
	uint64_t q;
	cr_assert_eq(ap_watch_init(&w, 1, 1000 * MS, 0), 0);
	cr_assert_eq(ap_watch_step(&w, 0, 0, 999 * MS, &q), AP_WATCH_NONE);
	cr_assert_eq(ap_watch_step(&w, 0, 0, 1000 * MS, &q), AP_WATCH_STALLED);
	cr_assert_eq(ap_watch_step(&w, 0, 0, 9000 * MS, &q), AP_WATCH_NONE);
	ap_watch_free(&w);
	cr_assert_eq(ap_watch_init(&w, 0, 1000 * MS, 0), -EINVAL);
	cr_assert_eq(ap_watch_init(&w, 1, 0, 0), -EINVAL);
}
