/* Seeded fault injection for datagrams: each one dropped, duplicated or held
 * back behind the next (reordered) with given probabilities. For the loss tests
 * and for operators who want to watch the datagram protocol under loss: this
 * kernel has no netem, so the agent, the appliance and coinfer-lossrelay apply
 * it in user space, one injector per direction.
 *
 * Deterministic: the same seed and the same sequence of datagrams give the same
 * faults. No allocation: the one datagram held back lives in the injector.
 *
 * Ownership: held[] belongs to the injector. The pointers cw_faults_apply and
 * cw_faults_flush hand out (into the caller's datagram or into held[]) stay
 * valid until the next call on the same injector, which may hold another
 * datagram in held[]; the caller sends them before calling again. */
#ifndef COINFER_WIRE_FAULTS_H
#define COINFER_WIRE_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest datagram a reorder can hold back; a larger one is never reordered. */
#define CW_FAULT_HOLD_MAX 2048

struct cw_fault_config {
	double drop;    /* probability a datagram is not sent */
	double dup;     /* probability a sent datagram is sent twice */
	double reorder; /* probability a datagram is held back and sent after the next */
	uint64_t seed;
};

struct cw_fault_counts {
	uint64_t seen, dropped, duplicated, reordered;
};

struct cw_faults {
	struct cw_fault_config c;
	uint64_t rng;
	struct cw_fault_counts n;
	size_t held_len; /* 0: nothing held */
	uint8_t held[CW_FAULT_HOLD_MAX];
};

/* One datagram to send. */
struct cw_fault_out {
	const uint8_t *p;
	size_t len;
};

/* 0, or -EINVAL naming a probability outside [0, 1]. */
int cw_faults_init(struct cw_faults *f, const struct cw_fault_config *c, char *err,
		   size_t errlen);
/* What to send in place of datagram d, in order: 0 to 3 datagrams into out. */
int cw_faults_apply(struct cw_faults *f, const uint8_t *d, size_t n, struct cw_fault_out out[3]);
/* The datagram held back, if any (1, else 0): call when the sender idles, so a
 * held datagram waits for the next one only as long as traffic flows. */
int cw_faults_flush(struct cw_faults *f, struct cw_fault_out *out);
/* Nothing injected: every datagram passes as it is. */
static inline int cw_faults_none(const struct cw_fault_config *c)
{
	return !(c->drop > 0) && !(c->dup > 0) && !(c->reorder > 0);
}

#ifdef __cplusplus
}
#endif

#endif
