/* The agent's circuit breaker (agent.h, "circuit breaker"): a few consecutive
 * reply timeouts mean the edge stopped answering (frozen, overloaded past use, a
 * black-holed link), and waiting out one more deadline per request buys nothing
 * but latency and uploads nobody reads. So the breaker opens, requests stay on
 * the device, and a cheap probe finds out when the edge is back.
 *
 * Pure state: no clock, no I/O, no allocation. The caller passes the time of
 * every event, so the unit tests drive it with a clock of their own and the
 * agent with its loop's. Owns no buffer. */
#include <stdint.h>

#include "coinfer/agent.h"

#define NEVER UINT64_MAX

void ag_breaker_defaults(struct ag_breaker_config *c)
{
	c->threshold = 3;
	c->base_us = 50000;
	c->cap_us = 1000000;
	c->timeout_us = 1000000;
}

void ag_breaker_init(struct ag_breaker *b, const struct ag_breaker_config *c, uint64_t seed)
{
	*b = (struct ag_breaker){.st = AG_BRK_UP};
	if (c)
		b->cfg = *c;
	else
		ag_breaker_defaults(&b->cfg);
	ag_backoff_init(&b->bo, b->cfg.base_us, b->cfg.cap_us, seed);
}

/* -> DOWN, the next probe after the next backoff step: the wait grows while
 * probes go unanswered, so a long outage costs a probe per cap, not per base. */
static void open_(struct ag_breaker *b, uint64_t now_ns)
{
	if (b->st == AG_BRK_UP)
		b->downs++;
	b->st = AG_BRK_DOWN;
	b->fails = 0;
	b->t_probe = now_ns + ag_backoff_next(&b->bo) * 1000;
}

void ag_breaker_failure(struct ag_breaker *b, uint64_t now_ns)
{
	if (b->cfg.threshold <= 0)
		return;
	if (b->st == AG_BRK_HALF_OPEN) {
		open_(b, now_ns);
		return;
	}
	/* DOWN: requests sent before it opened time out one by one; they say
	 * nothing the open breaker does not know already */
	if (b->st == AG_BRK_UP && ++b->fails >= b->cfg.threshold)
		open_(b, now_ns);
}

void ag_breaker_trip(struct ag_breaker *b, uint64_t now_ns)
{
	if (b->cfg.threshold > 0 && b->st != AG_BRK_DOWN)
		open_(b, now_ns);
}

void ag_breaker_success(struct ag_breaker *b, uint64_t now_ns)
{
	(void)now_ns;
	b->fails = 0;
	ag_backoff_reset(&b->bo);
	if (b->st == AG_BRK_UP)
		return;
	/* a late RESULT proves the edge is back as well as anything */
	b->st = AG_BRK_UP;
	b->ups++;
}

void ag_breaker_probe_answered(struct ag_breaker *b, uint64_t now_ns)
{
	(void)now_ns;
	if (b->st == AG_BRK_UP)
		return;
	/* A PONG shows the edge reads, not that it serves in time: an overloaded
	 * one answers PINGs at once and INFERs late. On probation, one more
	 * timeout reopens it with the next (longer) wait, instead of the threshold
	 * of them at the base wait each time round. */
	b->st = AG_BRK_UP;
	b->ups++;
	b->fails = b->cfg.threshold > 0 ? b->cfg.threshold - 1 : 0;
}

int ag_breaker_allows(const struct ag_breaker *b)
{
	return b->st == AG_BRK_UP;
}

int ag_breaker_probe_due(const struct ag_breaker *b, uint64_t now_ns)
{
	return b->st == AG_BRK_DOWN && now_ns >= b->t_probe;
}

void ag_breaker_probe_sent(struct ag_breaker *b, uint64_t now_ns, uint64_t expire_ns)
{
	if (b->st == AG_BRK_UP)
		return; /* nothing to find out */
	b->st = AG_BRK_HALF_OPEN;
	b->t_expire = expire_ns ? expire_ns : now_ns + b->cfg.timeout_us * 1000;
	b->probes++;
}

void ag_breaker_tick(struct ag_breaker *b, uint64_t now_ns)
{
	if (b->st == AG_BRK_HALF_OPEN && now_ns >= b->t_expire)
		open_(b, now_ns);
}

uint64_t ag_breaker_next_ns(const struct ag_breaker *b)
{
	switch (b->st) {
	case AG_BRK_DOWN: return b->t_probe;
	case AG_BRK_HALF_OPEN: return b->t_expire;
	default: return NEVER;
	}
}

const char *ag_breaker_state_name(enum ag_breaker_state s)
{
	switch (s) {
	case AG_BRK_UP: return "up";
	case AG_BRK_DOWN: return "down";
	case AG_BRK_HALF_OPEN: return "half-open";
	}
	return "?";
}
