/* The RTO against values computed by hand from RFC 6298's formulas (exact in
 * nanoseconds: every division below comes out whole or is the truncation the
 * comment shows), the floor, the cap and the 1.5x backoff. */
#include <criterion/criterion.h>
#include <errno.h>

#include "coinfer/wire-dgram.h"

#define MS 1000000ull
#define US 1000ull

Test(dgram_rto, rfc6298_by_hand)
{
	struct cw_dg_rto r;
	cr_assert_eq(cw_dg_rto_init(&r, 0, 0, 0), 0);
	cr_assert(r.floor == 5 * MS && r.cap == 1000 * MS && r.rto == 100 * MS && !r.sampled);
	/* R = 10 ms: SRTT = 10, RTTVAR = 5, RTO = 10 + 4 * 5 = 30 */
	cw_dg_rto_sample(&r, 10 * MS);
	cr_assert(r.srtt == 10 * MS && r.rttvar == 5 * MS && r.rto == 30 * MS);
	/* R = 20 ms: RTTVAR = 3/4 5 + 1/4 |10 - 20| = 6.25; SRTT = 7/8 10 + 1/8 20 = 11.25;
	 * RTO = 11.25 + 25 = 36.25 */
	cw_dg_rto_sample(&r, 20 * MS);
	cr_assert_eq(r.rttvar, 6250 * US);
	cr_assert_eq(r.srtt, 11250 * US);
	cr_assert_eq(r.rto, 36250 * US);
	/* R = 12 ms: RTTVAR = (18.75 + 0.75) / 4 = 4.875; SRTT = (78.75 + 12) / 8 = 11.34375;
	 * RTO = 11.34375 + 19.5 = 30.84375 */
	cw_dg_rto_sample(&r, 12 * MS);
	cr_assert_eq(r.rttvar, 4875 * US);
	cr_assert_eq(r.srtt, 11343750ull);
	cr_assert_eq(r.rto, 30843750ull);
}

Test(dgram_rto, integer_truncation)
{
	struct cw_dg_rto r;
	cw_dg_rto_init(&r, 1, 1000, 0); /* floor 1 ns, cap 1 us: the raw formula shows */
	cr_assert_eq(r.rto, 1000);
	cw_dg_rto_sample(&r, 3); /* SRTT 3, RTTVAR 3 / 2 = 1, RTO 7 */
	cr_assert(r.srtt == 3 && r.rttvar == 1 && r.rto == 7);
	cw_dg_rto_sample(&r, 4); /* RTTVAR (3 + 1) / 4 = 1, SRTT (21 + 4) / 8 = 3 */
	cr_assert(r.srtt == 3 && r.rttvar == 1 && r.rto == 7);
	cw_dg_rto_sample(&r, 0); /* RTTVAR (3 + 3) / 4 = 1, SRTT 21 / 8 = 2 */
	cr_assert(r.srtt == 2 && r.rttvar == 1 && r.rto == 6);
}

Test(dgram_rto, floor_backoff_cap_and_reset)
{
	struct cw_dg_rto r;
	cw_dg_rto_init(&r, 0, 100 * MS, 0);
	cw_dg_rto_sample(&r, 100 * US); /* 100 + 4 * 50 us = 300 us: the 5 ms floor */
	cr_assert_eq(r.rto, 5 * MS);
	cw_dg_rto_backoff(&r);
	cr_assert_eq(r.rto, 7500 * US);
	cw_dg_rto_backoff(&r);
	cr_assert_eq(r.rto, 11250 * US);
	cw_dg_rto_backoff(&r);
	cr_assert_eq(r.rto, 16875 * US);
	cr_assert_eq(r.backoffs, 3);
	for (int i = 0; i < 10; i++)
		cw_dg_rto_backoff(&r);
	cr_assert_eq(r.rto, 100 * MS, "capped");
	cw_dg_rto_sample(&r, 100 * US); /* a new sample undoes the backoff */
	cr_assert(r.rto == 5 * MS && r.backoffs == 0);
	/* a floor below the formula leaves it alone; 1 ms floor: 300 us -> 1 ms */
	cw_dg_rto_init(&r, 1 * MS, 0, 0);
	cw_dg_rto_sample(&r, 100 * US);
	cr_assert_eq(r.rto, 1 * MS);
	/* R = 10 ms: RTTVAR = (150 + 9900) / 4 = 2512.5 us, SRTT = (700 + 10000) / 8 =
	 * 1337.5 us, RTO = 1337.5 + 10050 = 11387.5 us */
	cw_dg_rto_sample(&r, 10 * MS);
	cr_assert(r.rttvar == 2512500 && r.srtt == 1337500 && r.rto == 11387500);
}

Test(dgram_rto, bounds)
{
	struct cw_dg_rto r;
	cr_assert_eq(cw_dg_rto_init(&r, 10 * MS, 5 * MS, 0), -EINVAL);
	cr_assert_eq(cw_dg_rto_init(&r, 0, 0, 1), 0);
	cr_assert_eq(r.rto, 5 * MS, "the initial RTO is floored");
	cr_assert_eq(cw_dg_rto_init(&r, 0, 0, 5000 * MS), 0);
	cr_assert_eq(r.rto, 1000 * MS, "and capped");
	cw_dg_rto_sample(&r, UINT64_MAX); /* clamped to 60 s: no overflow */
	cr_assert(r.srtt == CW_DG_RTT_MAX_NS && r.rto == 1000 * MS);
	cw_dg_rto_sample(&r, UINT64_MAX);
	cr_assert_eq(r.srtt, CW_DG_RTT_MAX_NS);
	cw_dg_rto_init(&r, 1, UINT64_MAX, UINT64_MAX - 1);
	cw_dg_rto_backoff(&r);
	cr_assert_eq(r.rto, UINT64_MAX, "backoff saturates at the cap");
}
