/* Answers of recent requests (the rules and ownership are in rcache.h).
 *
 * The entries form a ring taken in turn; a hash of (session, id) with chains
 * through the entries finds a key's entry. An entry leaves its chain when the
 * ring reuses it, so a chain holds only the keys of live entries, and every
 * entry's answer buffer is carved from one allocation made at create. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rcache.h"

struct entry {
	uint64_t session, id, since_ns;
	int state; /* AP_RC_NEW: free */
	int next;  /* chain, -1 at its end */
	size_t len;
};

struct ap_rc {
	struct entry *e;
	uint8_t *answers; /* entry i's at i * max_answer */
	int *bucket;      /* chain heads, -1 empty */
	int n, mask, turn;
	size_t max_answer;
	uint64_t stale_ns;
	struct ap_rc_stats st;
};

int ap_rc_create(int entries, size_t max_answer, uint64_t stale_ns, struct ap_rc **out)
{
	struct ap_rc *c;
	int nb = 1;
	if (entries <= 0 || entries > (1 << 24) || !max_answer || max_answer > (1u << 20))
		return -EINVAL;
	while (nb < 2 * entries)
		nb <<= 1;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->e = calloc((size_t)entries, sizeof(*c->e));
	c->answers = malloc((size_t)entries * max_answer);
	c->bucket = malloc((size_t)nb * sizeof(*c->bucket));
	if (!c->e || !c->answers || !c->bucket) {
		ap_rc_destroy(c);
		return -ENOMEM;
	}
	memset(c->bucket, 0xff, (size_t)nb * sizeof(*c->bucket));
	c->n = entries;
	c->mask = nb - 1;
	c->max_answer = max_answer;
	c->stale_ns = stale_ns;
	*out = c;
	return 0;
}

void ap_rc_destroy(struct ap_rc *c)
{
	if (!c)
		return;
	free(c->e);
	free(c->answers);
	free(c->bucket);
	free(c);
}

static int slot_of(const struct ap_rc *c, uint64_t session, uint64_t id)
{
	uint64_t h = (session ^ (id * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
	return (int)((h ^ (h >> 31)) & (uint64_t)c->mask);
}

static int find(const struct ap_rc *c, uint64_t session, uint64_t id)
{
	for (int i = c->bucket[slot_of(c, session, id)]; i >= 0; i = c->e[i].next)
		if (c->e[i].session == session && c->e[i].id == id)
			return i;
	return -1;
}

static void unlink_entry(struct ap_rc *c, int i)
{
	int *p = &c->bucket[slot_of(c, c->e[i].session, c->e[i].id)];
	while (*p != i)
		p = &c->e[*p].next;
	*p = c->e[i].next;
}

int ap_rc_lookup(struct ap_rc *c, uint64_t session, uint64_t id, const uint8_t **answer,
		 size_t *len)
{
	int i = find(c, session, id);
	if (i < 0)
		return AP_RC_NEW;
	if (c->e[i].state == AP_RC_RUNNING) {
		c->st.dup_running++;
		return AP_RC_RUNNING;
	}
	c->st.dup_answered++;
	*answer = c->answers + (size_t)i * c->max_answer;
	*len = c->e[i].len;
	return AP_RC_ANSWERED;
}

int ap_rc_state(const struct ap_rc *c, uint64_t session, uint64_t id)
{
	int i = find(c, session, id);
	return i < 0 ? AP_RC_NEW : c->e[i].state;
}

int ap_rc_admit(struct ap_rc *c, uint64_t session, uint64_t id, uint64_t now_ns,
		const uint8_t **answer, size_t *len)
{
	int known = ap_rc_lookup(c, session, id, answer, len);
	if (known != AP_RC_NEW)
		return known;
	struct entry *e = &c->e[c->turn];
	if (e->state == AP_RC_RUNNING && now_ns - e->since_ns < c->stale_ns) {
		c->st.busy++;
		return -EBUSY;
	}
	if (e->state != AP_RC_NEW) {
		unlink_entry(c, c->turn);
		if (e->state == AP_RC_RUNNING)
			c->st.stale++;
		else
			c->st.evicted++;
	}
	int b = slot_of(c, session, id);
	*e = (struct entry){session, id, now_ns, AP_RC_RUNNING, c->bucket[b], 0};
	c->bucket[b] = c->turn;
	c->turn = (c->turn + 1) % c->n;
	c->st.admitted++;
	return AP_RC_NEW;
}

int ap_rc_answer(struct ap_rc *c, uint64_t session, uint64_t id, const uint8_t *answer,
		 size_t len)
{
	int i = find(c, session, id);
	if (i < 0 || c->e[i].state != AP_RC_RUNNING) {
		c->st.unknown++;
		return -ENOENT;
	}
	c->e[i].state = AP_RC_ANSWERED;
	if (len > c->max_answer) {
		c->e[i].len = 0;
		c->st.too_large++;
		return -EMSGSIZE;
	}
	memcpy(c->answers + (size_t)i * c->max_answer, answer, len);
	c->e[i].len = len;
	return 0;
}

const struct ap_rc_stats *ap_rc_stats(const struct ap_rc *c)
{
	return &c->st;
}
