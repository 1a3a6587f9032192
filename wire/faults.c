/* Seeded datagram faults (interface and ownership in wire-faults.h). Each
 * datagram draws three uniforms in a fixed order, whatever is decided, so that
 * one probability's value does not shift the draws of the others: a run at 5%
 * drop sees the same duplicates and reorders as a run at 0% drop. */
#include <errno.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "coinfer/wire-faults.h"

/* splitmix64 (Steele, Lea and Flood 2014): one add and a mix per draw */
static double uniform(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int prob_ok(double p)
{
	return p >= 0 && p <= 1;
}

int cw_faults_init(struct cw_faults *f, const struct cw_fault_config *c, char *err,
		   size_t errlen)
{
	if (!prob_ok(c->drop) || !prob_ok(c->dup) || !prob_ok(c->reorder))
		return cf_fail(-EINVAL, err, errlen,
			       "fault probabilities must be in [0, 1] "
			       "(drop %g, dup %g, reorder %g)",
			       c->drop, c->dup, c->reorder);
	memset(f, 0, sizeof(*f) - sizeof(f->held));
	f->c = *c;
	f->rng = c->seed;
	return 0;
}

int cw_faults_apply(struct cw_faults *f, const uint8_t *d, size_t n, struct cw_fault_out out[3])
{
	double u_drop = uniform(&f->rng), u_dup = uniform(&f->rng), u_hold = uniform(&f->rng);
	int k = 0;
	f->n.seen++;
	if (u_drop < f->c.drop) {
		f->n.dropped++;
		return 0;
	}
	if (u_hold < f->c.reorder && !f->held_len && n && n <= CW_FAULT_HOLD_MAX) {
		memcpy(f->held, d, n);
		f->held_len = n;
		f->n.reordered++;
		return 0;
	}
	out[k++] = (struct cw_fault_out){d, n};
	if (u_dup < f->c.dup) {
		out[k++] = (struct cw_fault_out){d, n};
		f->n.duplicated++;
	}
	/* the one held back goes out behind this one: the pair is swapped */
	if (f->held_len) {
		out[k++] = (struct cw_fault_out){f->held, f->held_len};
		f->held_len = 0;
	}
	return k;
}

int cw_faults_flush(struct cw_faults *f, struct cw_fault_out *out)
{
	if (!f->held_len)
		return 0;
	*out = (struct cw_fault_out){f->held, f->held_len};
	f->held_len = 0;
	return 1;
}
