/* Device identity on the appliance (docs/protocol.md, "Device identity"): the
 * fleet's key file, the HELLO rate limits and the MAC check of AUTH.
 *
 * The key table is loaded once, before the workers start, and only read after
 * (shared by every worker without a lock). The rate limiters are per worker
 * (one writer): fixed tables, so a flood of new addresses or device ids cannot
 * grow them. Nothing here logs or prints a key. */
#ifndef COINFER_APPLIANCE_AUTH_H
#define COINFER_APPLIANCE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/wire.h"

struct ap_keys;

/* Reads the key file at path (mode 0600 or stricter, else -EPERM naming it);
 * errors name the file and the line, a duplicate device id too. The keys live
 * in locked memory (sodium_malloc) and are wiped by ap_keys_free. */
int ap_keys_load(const char *path, struct ap_keys **out, char *err, size_t errlen);
void ap_keys_free(struct ap_keys *k);
/* Devices in the file, and how many of them are revoked. */
int ap_keys_count(const struct ap_keys *k, int *revoked);
/* HELLO's device: 0 with its key, -ENOENT when not in the file, -EKEYREVOKED. */
int ap_keys_find(const struct ap_keys *k, uint64_t device_id, const uint8_t **key);

/* AUTH's MAC for this HELLO and server nonce, compared in constant time: 0, or
 * -EACCES when it differs (or the HELLO has no client nonce). */
int ap_auth_verify(const uint8_t key[CW_DEVICE_KEY_BYTES], const struct cw_hello *h,
		   const uint8_t snonce[CW_SERVER_NONCE_BYTES],
		   const uint8_t mac[CW_AUTH_MAC_BYTES]);

/* Token buckets keyed by a u64 (an address, a device id): rate per second,
 * burst 2 x rate, in a table of entries slots (a power of two) probed 8 at a
 * time; a key that finds neither itself nor a free slot in its window takes the
 * window's least recently used one (which then starts full again: under a
 * flood of new keys a limit is lost, never memory). */
struct ap_rate {
	struct ap_rate_slot *slot;
	uint32_t mask;
	uint32_t per_sec;
};

int ap_rate_init(struct ap_rate *r, int entries, uint32_t per_sec);
void ap_rate_free(struct ap_rate *r);
/* One attempt for key at now_ns: 0 allowed, -EBUSY over the limit (per_sec 0:
 * no limit). */
int ap_rate_take(struct ap_rate *r, uint64_t key, uint64_t now_ns);

#endif
