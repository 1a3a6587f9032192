/* Device keys, rate limits and the AUTH check (auth.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "coinfer/errmsg.h"
#include "coinfer/wire-keys.h"

struct ap_keys {
	struct cw_key_entry *e; /* sorted by device id, in sodium_malloc'd memory */
	int n, revoked;
};

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct cw_key_entry *)a)->device_id;
	uint64_t y = ((const struct cw_key_entry *)b)->device_id;
	return x < y ? -1 : x > y;
}

static int count_lines(const char *t, size_t len)
{
	int n = 1;
	for (size_t i = 0; i < len; i++)
		n += t[i] == '\n';
	return n;
}

/* The entries of text (len bytes) into k->e, sorted; a second line for one
 * device id is an error naming both lines' file. */
static int parse(struct ap_keys *k, const char *path, const char *text, size_t len, char *err,
		 size_t errlen)
{
	int lineno = 0, ret;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		ret = cw_keys_line(text + pos, end - pos, path, ++lineno, &k->e[k->n], err, errlen);
		if (ret < 0)
			return ret;
		k->revoked += ret && k->e[k->n].revoked;
		k->n += ret;
		pos = end + 1;
	}
	qsort(k->e, (size_t)k->n, sizeof(*k->e), by_id);
	for (int i = 1; i < k->n; i++)
		if (k->e[i].device_id == k->e[i - 1].device_id)
			return cf_fail(-EINVAL, err, errlen, "%s: device id %llu has two lines",
				       path, (unsigned long long)k->e[i].device_id);
	return 0;
}

int ap_keys_load(const char *path, struct ap_keys **out, char *err, size_t errlen)
{
	struct ap_keys *k = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret;
	*out = NULL;
	if (sodium_init() < 0)
		return cf_fail(-EIO, err, errlen, "libsodium failed to start");
	if ((ret = cw_keys_read(path, &text, &len, err, errlen)))
		return ret;
	size_t bytes = (size_t)count_lines(text, len) * sizeof(struct cw_key_entry);
	if (!(k = calloc(1, sizeof(*k))) || !(k->e = sodium_malloc(bytes))) {
		ret = cf_fail(-ENOMEM, err, errlen, "%s: out of memory for the keys", path);
		goto out;
	}
	if ((ret = parse(k, path, text, len, err, errlen)))
		goto out;
	*out = k;
	k = NULL;
out:
	sodium_memzero(text, len);
	free(text);
	ap_keys_free(k);
	return ret;
}

void ap_keys_free(struct ap_keys *k)
{
	if (!k)
		return;
	sodium_free(k->e); /* wipes */
	free(k);
}

int ap_keys_count(const struct ap_keys *k, int *revoked)
{
	*revoked = k->revoked;
	return k->n;
}

int ap_keys_find(const struct ap_keys *k, uint64_t device_id, const uint8_t **key)
{
	struct cw_key_entry probe = {.device_id = device_id};
	const struct cw_key_entry *e =
		bsearch(&probe, k->e, (size_t)k->n, sizeof(*k->e), by_id);
	*key = NULL;
	if (!e)
		return -ENOENT;
	if (e->revoked)
		return -EKEYREVOKED;
	*key = e->key;
	return 0;
}

int ap_auth_verify(const uint8_t key[CW_DEVICE_KEY_BYTES], const struct cw_hello *h,
		   const uint8_t snonce[CW_SERVER_NONCE_BYTES],
		   const uint8_t mac[CW_AUTH_MAC_BYTES])
{
	uint8_t t[CW_AUTH_TRANSCRIPT_MAX], want[crypto_auth_hmacsha256_BYTES];
	size_t len;
	if (cw_auth_transcript(t, sizeof(t), h, snonce, &len))
		return -EACCES;
	crypto_auth_hmacsha256(want, t, len, key);
	int ok = !crypto_verify_32(want, mac);
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -EACCES;
}

/* ---- rate limits ----------------------------------------------------------- */

#define RATE_WINDOW 8

/* tokens in millionths, so a rate of a few per second refills smoothly */
struct ap_rate_slot {
	uint64_t key, last_ns, tokens_u;
	int used;
};

int ap_rate_init(struct ap_rate *r, int entries, uint32_t per_sec)
{
	uint32_t n = RATE_WINDOW;
	while (n < (uint32_t)entries)
		n <<= 1;
	r->slot = calloc(n, sizeof(*r->slot));
	r->mask = n - 1;
	r->per_sec = per_sec;
	return r->slot ? 0 : -ENOMEM;
}

void ap_rate_free(struct ap_rate *r)
{
	free(r->slot);
	r->slot = NULL;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* key's slot: its own, a free one or the window's least recently used (reset). */
static struct ap_rate_slot *rate_slot(struct ap_rate *r, uint64_t key, uint64_t burst_u)
{
	uint32_t h = (uint32_t)mix(key);
	struct ap_rate_slot *lru = NULL;
	for (uint32_t i = 0; i < RATE_WINDOW; i++) {
		struct ap_rate_slot *s = &r->slot[(h + i) & r->mask];
		if (s->used && s->key == key)
			return s;
		if (!lru || !s->used || (lru->used && s->last_ns < lru->last_ns))
			lru = s;
	}
	*lru = (struct ap_rate_slot){.key = key, .tokens_u = burst_u, .used = 1};
	return lru;
}

int ap_rate_take(struct ap_rate *r, uint64_t key, uint64_t now_ns)
{
	if (!r->per_sec)
		return 0;
	const uint64_t burst_u = 2ull * r->per_sec * 1000000;
	struct ap_rate_slot *s = rate_slot(r, key, burst_u);
	if (s->last_ns && now_ns > s->last_ns) {
		/* per_sec tokens a second: per_sec millionths a microsecond */
		uint64_t add = (now_ns - s->last_ns) / 1000 * r->per_sec;
		s->tokens_u = s->tokens_u + add > burst_u ? burst_u : s->tokens_u + add;
	}
	s->last_ns = now_ns ? now_ns : 1;
	if (s->tokens_u < 1000000)
		return -EBUSY;
	s->tokens_u -= 1000000;
	return 0;
}
