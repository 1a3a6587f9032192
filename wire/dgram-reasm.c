/* Reassembly of fragmented messages under one memory bound (docs/protocol.md,
 * "Datagrams (UDP)", "Receiving").
 *
 * Storage, all in the caller's buffer from init: a table of max_msgs slots, an
 * open-addressing hash of (peer, msg_id) to slot, and one arena of max_bytes
 * with a first-fit allocator over a sorted array of free extents. An arena
 * rather than a slab of fixed buffers: messages range from a 60-byte HELLO to
 * a 1 MiB raw frame, and buffers of the largest size would spend the bound on
 * slack (64 KB INFERs in 1 MiB buffers hold 1/16 of what the arena holds). The
 * extents are at most one more than the slots that own arena bytes, so the
 * allocator is bounded too, and it runs once per message, not per datagram.
 *
 * Ownership, for every slot, at every return of every function:
 *   FREE     on the free list; in no list or hash; owns no arena bytes.
 *   PARTIAL  in the hash and the partial list (oldest first); owns the extent
 *            [off, off + size), which only the reassembler writes.
 *   HELD     complete: in the hash (its late fragments are duplicates) and in
 *            no list; its extent belongs to the caller, read-only, until
 *            cw_dg_reasm_release; the reassembler neither writes nor frees it.
 *   DONE     released, or a one-fragment message delivered in place: in the
 *            hash and the done list; owns no arena bytes; only remembers
 *            (peer, id, count, length) for duplicates until expired, or
 *            reclaimed (oldest first) when a new message needs the slot.
 * gen changes whenever a slot leaves FREE. A ref names (slot, gen) and is
 * honoured only while that slot is HELD with that gen, so a stale ref (a
 * message released, forgotten and its slot reused) cannot free another
 * message's bytes. A result's bitmap points into a PARTIAL slot and is valid
 * until the next call, which may complete, expire or reuse it.
 *
 * A new message that finds no slot or no arena room is refused, never makes
 * room by evicting one in progress: eviction lets a flood of first fragments
 * (spoofed or just a burst) destroy the progress of every message under way,
 * which under sustained load means none completes (the livelock of IP
 * fragment reassembly, FragmentSmack); refused, the sender retries after its
 * RTO, by which time completions and timeouts have made room. Only DONE
 * records, which hold no bytes, are reclaimed. */
#include <errno.h>
#include <string.h>

#include "coinfer/wire-dgram.h"

#define NIL UINT32_MAX
#define GRAIN 64 /* arena granule: messages start cache-line (and 8-byte) aligned */

enum { S_FREE, S_PARTIAL, S_HELD, S_DONE };

struct slot {
	uint64_t peer;
	uint64_t off, size; /* arena extent (PARTIAL, HELD) */
	uint64_t t_ns;      /* PARTIAL: dropped at; HELD, DONE: forgotten at */
	uint32_t id, gen;
	uint32_t msg_len, frag; /* frag: S, the bytes of every fragment but the last */
	uint32_t prev, next;    /* list links */
	uint16_t count, received;
	uint16_t top; /* 1 + the highest index received: the next one in order */
	uint8_t state;
};

_Static_assert(sizeof(struct slot) <= GRAIN, "a slot is one cache line");

struct extent {
	uint64_t off, len;
};

struct list {
	uint32_t head, tail;
};

/* A hash entry carries its key's hash, so probes and the backward shift
 * compare and re-home entries without touching their (cold) slots. */
struct bucket {
	uint32_t slot; /* slot + 1, 0 empty */
	uint32_t hash;
};

struct cw_dg_reasm {
	struct cw_dg_reasm_config cfg;
	struct slot *slots;
	uint8_t *bitmaps; /* slot s's at s * CW_DG_BITMAP_MAX, its PARTIAL fragments: apart,
			   * so that a slot is one cache line */
	struct bucket *table;
	uint32_t mask;
	struct extent *fx; /* free extents, sorted by offset, coalesced */
	uint32_t n_fx;
	uint8_t *arena;
	uint32_t free_head;
	struct list partial, done;
	struct cw_dg_reasm_stats st;
};

static size_t align_up(size_t n)
{
	return (n + GRAIN - 1) & ~(size_t)(GRAIN - 1);
}

static uint32_t table_size(uint32_t max_msgs)
{
	uint32_t h = 4;
	while (h < 2 * max_msgs)
		h *= 2;
	return h;
}

static int config_ok(const struct cw_dg_reasm_config *c)
{
	return c && c->max_bytes >= GRAIN && c->max_bytes <= SIZE_MAX / 4 && c->max_msgs >= 1 &&
	       c->max_msgs <= 65536 && c->timeout_ns > 0;
}

size_t cw_dg_reasm_bytes(const struct cw_dg_reasm_config *cfg)
{
	if (!config_ok(cfg))
		return 0;
	return GRAIN + align_up(sizeof(struct cw_dg_reasm)) +
	       align_up(cfg->max_msgs * sizeof(struct slot)) +
	       align_up((size_t)cfg->max_msgs * CW_DG_BITMAP_MAX) +
	       align_up(table_size(cfg->max_msgs) * sizeof(struct bucket)) +
	       align_up((cfg->max_msgs + 1) * sizeof(struct extent)) +
	       (cfg->max_bytes & ~(size_t)(GRAIN - 1));
}

int cw_dg_reasm_init(struct cw_dg_reasm **out, void *mem, size_t size,
		     const struct cw_dg_reasm_config *cfg)
{
	size_t need = cw_dg_reasm_bytes(cfg);
	if (!out || !mem || !need || size < need)
		return -EINVAL;
	uint8_t *p = (uint8_t *)align_up((uintptr_t)mem);
	struct cw_dg_reasm *r = (struct cw_dg_reasm *)p;
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	p += align_up(sizeof(*r));
	r->slots = (struct slot *)p;
	p += align_up(cfg->max_msgs * sizeof(struct slot));
	r->bitmaps = p;
	p += align_up((size_t)cfg->max_msgs * CW_DG_BITMAP_MAX);
	r->table = (struct bucket *)p;
	r->mask = table_size(cfg->max_msgs) - 1;
	memset(r->table, 0, (r->mask + 1) * sizeof(struct bucket));
	p += align_up((r->mask + 1) * sizeof(struct bucket));
	r->fx = (struct extent *)p;
	p += align_up((cfg->max_msgs + 1) * sizeof(struct extent));
	r->arena = p;
	r->fx[0] = (struct extent){0, cfg->max_bytes & ~(size_t)(GRAIN - 1)};
	r->n_fx = 1;
	for (uint32_t i = 0; i < cfg->max_msgs; i++)
		r->slots[i] = (struct slot){.state = S_FREE,
					    .next = i + 1 < cfg->max_msgs ? i + 1 : NIL};
	r->free_head = 0;
	r->partial = r->done = (struct list){NIL, NIL};
	*out = r;
	return 0;
}

/* ---- lists ----------------------------------------------------------------- */

static void list_push(struct cw_dg_reasm *r, struct list *l, uint32_t s)
{
	r->slots[s].prev = l->tail;
	r->slots[s].next = NIL;
	if (l->tail != NIL)
		r->slots[l->tail].next = s;
	else
		l->head = s;
	l->tail = s;
}

static void list_del(struct cw_dg_reasm *r, struct list *l, uint32_t s)
{
	struct slot *m = &r->slots[s];
	if (m->prev != NIL)
		r->slots[m->prev].next = m->next;
	else
		l->head = m->next;
	if (m->next != NIL)
		r->slots[m->next].prev = m->prev;
	else
		l->tail = m->prev;
}

/* ---- hash: linear probing, deletion by backward shift (no tombstones) ---------- */

static uint32_t hash_of(const struct cw_dg_reasm *r, uint64_t peer, uint32_t id)
{
	uint64_t x = (peer ^ r->cfg.seed) + (uint64_t)id * 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull; /* splitmix64's finaliser */
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(x ^ (x >> 31));
}

/* The table position of (peer, id), or NIL. */
static uint32_t find(const struct cw_dg_reasm *r, uint64_t peer, uint32_t id)
{
	uint32_t h = hash_of(r, peer, id);
	for (uint32_t i = h & r->mask;; i = (i + 1) & r->mask) {
		const struct bucket *e = &r->table[i];
		if (!e->slot)
			return NIL;
		if (e->hash != h)
			continue;
		const struct slot *m = &r->slots[e->slot - 1];
		if (m->peer == peer && m->id == id)
			return i;
	}
}

static void hash_put(struct cw_dg_reasm *r, uint32_t s)
{
	uint32_t h = hash_of(r, r->slots[s].peer, r->slots[s].id), i = h & r->mask;
	while (r->table[i].slot)
		i = (i + 1) & r->mask;
	r->table[i] = (struct bucket){s + 1, h};
}

static void hash_del(struct cw_dg_reasm *r, uint32_t s)
{
	uint32_t pos = find(r, r->slots[s].peer, r->slots[s].id);
	r->table[pos].slot = 0;
	for (uint32_t j = (pos + 1) & r->mask; r->table[j].slot; j = (j + 1) & r->mask) {
		uint32_t k = r->table[j].hash & r->mask;
		/* The entry at j may fill the hole unless its home lies in (pos, j]. */
		if (((j - k) & r->mask) >= ((j - pos) & r->mask)) {
			r->table[pos] = r->table[j];
			r->table[j].slot = 0;
			pos = j;
		}
	}
}

/* ---- arena: first fit over free extents ------------------------------------ */

static int arena_alloc(struct cw_dg_reasm *r, uint64_t need, uint64_t *off)
{
	for (uint32_t i = 0; i < r->n_fx; i++) {
		struct extent *e = &r->fx[i];
		if (e->len < need)
			continue;
		*off = e->off;
		e->off += need;
		e->len -= need;
		if (!e->len)
			memmove(e, e + 1, (r->n_fx-- - i - 1) * sizeof(*e));
		return 0;
	}
	return -ENOBUFS;
}

static void arena_free(struct cw_dg_reasm *r, uint64_t off, uint64_t len)
{
	uint32_t lo = 0, hi = r->n_fx; /* i: the first extent after off */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (r->fx[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t i = lo;
	int join_prev = i > 0 && r->fx[i - 1].off + r->fx[i - 1].len == off;
	int join_next = i < r->n_fx && off + len == r->fx[i].off;
	if (join_prev && join_next) {
		r->fx[i - 1].len += len + r->fx[i].len;
		memmove(&r->fx[i], &r->fx[i + 1], (r->n_fx-- - i - 1) * sizeof(r->fx[0]));
	} else if (join_prev) {
		r->fx[i - 1].len += len;
	} else if (join_next) {
		r->fx[i].off = off;
		r->fx[i].len += len;
	} else {
		memmove(&r->fx[i + 1], &r->fx[i], (r->n_fx++ - i) * sizeof(r->fx[0]));
		r->fx[i] = (struct extent){off, len};
	}
}

/* ---- slots ------------------------------------------------------------------ */

/* Back to FREE from PARTIAL or DONE (lists already left). */
static void slot_free(struct cw_dg_reasm *r, uint32_t s)
{
	struct slot *m = &r->slots[s];
	hash_del(r, s);
	if (m->state == S_PARTIAL) {
		arena_free(r, m->off, m->size);
		r->st.bytes_in_use -= m->size;
		r->st.partial--;
	} else {
		r->st.done--;
	}
	m->state = S_FREE;
	m->next = r->free_head;
	r->free_head = s;
}

/* A FREE slot, or the oldest DONE one made FREE; NIL when neither. */
static uint32_t slot_take(struct cw_dg_reasm *r)
{
	if (r->free_head == NIL && r->done.head != NIL) {
		uint32_t s = r->done.head;
		list_del(r, &r->done, s);
		slot_free(r, s);
	}
	uint32_t s = r->free_head;
	if (s != NIL)
		r->free_head = r->slots[s].next;
	return s;
}

static uint64_t make_ref(uint32_t s, uint32_t gen)
{
	return (uint64_t)gen << 32 | (s + 1u);
}

/* A new message: its arena bytes first (a refusal then destroys no record). */
static int start(struct cw_dg_reasm *r, uint64_t peer, const struct cw_dg *d, uint64_t now_ns,
		 uint32_t *slot)
{
	uint64_t off, size = align_up(d->msg_len);
	if (arena_alloc(r, size, &off))
		goto refuse;
	uint32_t s = slot_take(r);
	if (s == NIL) {
		arena_free(r, off, size);
		goto refuse;
	}
	struct slot *m = &r->slots[s];
	uint32_t frag_off, frag_len;
	cw_dg_frag(d->msg_len, d->count, 0, &frag_off, &frag_len);
	*m = (struct slot){.peer = peer, .off = off, .size = size,
			   .t_ns = now_ns + r->cfg.timeout_ns, .id = d->msg_id, .gen = m->gen + 1,
			   .msg_len = d->msg_len, .frag = frag_len, .count = d->count,
			   .state = S_PARTIAL};
	memset(r->bitmaps + (size_t)s * CW_DG_BITMAP_MAX, 0, cw_dg_bitmap_bytes(d->count));
	hash_put(r, s);
	list_push(r, &r->partial, s);
	r->st.partial++;
	r->st.bytes_in_use += size;
	if (r->st.bytes_in_use > r->st.bytes_peak)
		r->st.bytes_peak = r->st.bytes_in_use;
	*slot = s;
	return 0;
refuse:
	r->st.refused++;
	return -ENOBUFS;
}

static void complete(struct cw_dg_reasm *r, uint32_t s, uint64_t now_ns, struct cw_dg_result *res)
{
	struct slot *m = &r->slots[s];
	list_del(r, &r->partial, s);
	m->state = S_HELD;
	m->t_ns = now_ns + r->cfg.timeout_ns;
	r->st.partial--;
	r->st.held++;
	r->st.completed++;
	res->complete = true;
	res->msg = r->arena + m->off;
	res->len = m->msg_len;
	res->ref = make_ref(s, m->gen);
	res->bitmap = NULL;
}

/* A fragment of a PARTIAL message. An ACK is due when it is out of order: it
 * opens a gap (fragments before it are missing) or fills one (a
 * retransmission, or a late one); in order, the sender needs no news. */
static int put_frag(struct cw_dg_reasm *r, uint32_t s, const struct cw_dg *d, uint64_t now_ns,
		    struct cw_dg_result *res)
{
	struct slot *m = &r->slots[s];
	uint8_t bit = (uint8_t)(1u << d->index % 8);
	uint8_t *bitmap = r->bitmaps + (size_t)s * CW_DG_BITMAP_MAX;
	res->bitmap = bitmap;
	if (bitmap[d->index / 8] & bit) {
		r->st.duplicates++;
		res->ack = true;
		res->received = m->received;
		return -EALREADY;
	}
	memcpy(r->arena + m->off + (uint64_t)d->index * m->frag, d->payload, d->payload_len);
	bitmap[d->index / 8] |= bit;
	res->ack = d->index != m->top;
	if (d->index >= m->top)
		m->top = (uint16_t)(d->index + 1);
	res->received = ++m->received;
	if (m->received == m->count) {
		res->ack = true;
		complete(r, s, now_ns, res);
	}
	return 0;
}

/* A one-fragment message: handed back in place, never copied (the DPDK path
 * keeps it in its mbuf). Only remembered, as a DONE record with no bytes, so
 * that its retransmission (the ACK was lost) is a duplicate rather than a
 * second delivery; with every slot busy it goes unremembered. */
static void whole(struct cw_dg_reasm *r, uint64_t peer, const struct cw_dg *d, uint64_t now_ns,
		  struct cw_dg_result *res)
{
	r->st.completed++;
	*res = (struct cw_dg_result){.msg = d->payload, .len = d->msg_len, .complete = true,
				     .ack = true, .received = 1};
	uint32_t s = slot_take(r);
	if (s == NIL)
		return;
	struct slot *m = &r->slots[s];
	*m = (struct slot){.peer = peer, .t_ns = now_ns + r->cfg.timeout_ns, .id = d->msg_id,
			   .gen = m->gen + 1, .msg_len = d->msg_len, .count = 1, .state = S_DONE};
	hash_put(r, s);
	list_push(r, &r->done, s);
	r->st.done++;
}

int cw_dg_reasm_add(struct cw_dg_reasm *r, uint64_t peer, const struct cw_dg *d,
		    uint64_t now_ns, struct cw_dg_result *res)
{
	uint32_t off, len, s;
	memset(res, 0, sizeof(*res));
	if (d->kind != CW_DG_DATA || cw_dg_frag(d->msg_len, d->count, d->index, &off, &len) ||
	    len != d->payload_len || !d->payload)
		return -EINVAL; /* not a decoded DATA: never write past a fragment */
	uint32_t pos = find(r, peer, d->msg_id);
	if (pos == NIL && d->count == 1) {
		whole(r, peer, d, now_ns, res);
		return 0;
	}
	if (pos == NIL) {
		int ret = start(r, peer, d, now_ns, &s);
		return ret ? ret : put_frag(r, s, d, now_ns, res);
	}
	s = r->table[pos].slot - 1;
	const struct slot *m = &r->slots[s];
	if (m->count != d->count || m->msg_len != d->msg_len) {
		r->st.inconsistent++;
		return -EBADMSG;
	}
	if (m->state != S_PARTIAL) { /* complete: the ACK was lost, say so again */
		r->st.duplicates++;
		*res = (struct cw_dg_result){.ack = true, .received = m->count};
		return -EALREADY;
	}
	return put_frag(r, s, d, now_ns, res);
}

int cw_dg_reasm_release(struct cw_dg_reasm *r, uint64_t ref)
{
	uint64_t s = (ref & UINT32_MAX) - 1;
	if (!(ref & UINT32_MAX) || s >= r->cfg.max_msgs)
		return -ESTALE;
	struct slot *m = &r->slots[s];
	if (m->state != S_HELD || m->gen != (uint32_t)(ref >> 32))
		return -ESTALE;
	arena_free(r, m->off, m->size);
	r->st.bytes_in_use -= m->size;
	m->state = S_DONE;
	list_push(r, &r->done, (uint32_t)s);
	r->st.held--;
	r->st.done++;
	return 0;
}

uint32_t cw_dg_reasm_expire(struct cw_dg_reasm *r, uint64_t now_ns)
{
	uint32_t n = 0, s;
	/* Both lists are in order of their deadlines (the partial list exactly,
	 * the done list by release, close enough: a record lingers at most until
	 * the ones before it go). */
	while ((s = r->partial.head) != NIL && r->slots[s].t_ns <= now_ns) {
		list_del(r, &r->partial, s);
		slot_free(r, s);
		r->st.timeouts++;
		n++;
	}
	while ((s = r->done.head) != NIL && r->slots[s].t_ns <= now_ns) {
		list_del(r, &r->done, s);
		slot_free(r, s);
	}
	return n;
}

int cw_dg_reasm_bitmap(const struct cw_dg_reasm *r, uint64_t peer, uint32_t msg_id,
		       const uint8_t **bitmap, uint16_t *received)
{
	uint32_t pos = find(r, peer, msg_id);
	if (pos == NIL)
		return -ENOENT;
	const struct slot *m = &r->slots[r->table[pos].slot - 1];
	*bitmap = m->state == S_PARTIAL ? r->bitmaps + (size_t)(m - r->slots) * CW_DG_BITMAP_MAX
				       : NULL;
	*received = m->state == S_PARTIAL ? m->received : m->count;
	return 0;
}

void cw_dg_reasm_stats(const struct cw_dg_reasm *r, struct cw_dg_reasm_stats *out)
{
	*out = r->st;
}
