/* The device's side of device identity (docs/protocol.md, "Device identity"):
 * each agent's key from --key-file (the line of its device id), HELLO's client
 * nonce and AUTH's MAC. libsodium does the randomness and HMAC-SHA-256; a build
 * without it (the aarch64 cross build has no arm64 libsodium) refuses
 * --key-file with a message instead of speaking the handshake without keys. */
#include <errno.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "coinfer/wire-keys.h"
#include "internal.h"

#if AG_HAVE_SODIUM
#include <sodium.h>

/* The line of device id in text (len bytes): 0 with its key, or an error. */
static int key_of(const char *path, const char *text, size_t len, uint64_t id, uint8_t *key,
		  char *err, size_t errlen)
{
	struct cw_key_entry e;
	int lineno = 0, ret = -ENOENT;
	for (size_t pos = 0; pos < len && ret == -ENOENT;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		int r = cw_keys_line(text + pos, end - pos, path, ++lineno, &e, err, errlen);
		if (r < 0)
			ret = r;
		else if (r && e.device_id == id && e.revoked)
			ret = cf_fail(-EKEYREVOKED, err, errlen, "%s: device %llu is revoked", path,
				      (unsigned long long)id);
		else if (r && e.device_id == id)
			ret = 0, memcpy(key, e.key, CW_DEVICE_KEY_BYTES);
		pos = end + 1;
	}
	sodium_memzero(&e, sizeof(e));
	if (ret == -ENOENT)
		cf_fail(ret, err, errlen, "%s: no key for device %llu", path,
			(unsigned long long)id);
	return ret;
}

int ag_keys_load(struct ag_fleet *f, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int ret;
	if (!f->cfg.key_file)
		return 0;
	if (sodium_init() < 0)
		return cf_fail(-EIO, err, errlen, "libsodium failed to start");
	if ((ret = cw_keys_read(f->cfg.key_file, &text, &len, err, errlen)))
		return ret;
	for (int t = 0; t < f->nth && !ret; t++)
		for (int i = 0; i < f->th[t].n && !ret; i++) {
			struct ag_agent *a = &f->th[t].agents[i];
			ret = key_of(f->cfg.key_file, text, len, a->device_id, a->key, err,
				     errlen);
			a->has_key = !ret;
		}
	sodium_memzero(text, len);
	free(text);
	return ret;
}

void ag_hello_nonce(struct ag_agent *a, struct cw_hello *h)
{
	if (!a->has_key)
		return;
	h->has_nonce = 1;
	randombytes_buf(h->nonce, sizeof(h->nonce));
	a->hello_sent = *h;
	a->auth_sent = 0;
}

int ag_auth_for(struct ag_agent *a, const struct cw_challenge *c, uint8_t *buf, size_t cap,
		size_t *len)
{
	uint8_t t[CW_AUTH_TRANSCRIPT_MAX];
	struct cw_auth m;
	size_t tlen;
	if (!a->has_key || a->auth_sent ||
	    cw_auth_transcript(t, sizeof(t), &a->hello_sent, c->nonce, &tlen))
		return -EPROTO;
	crypto_auth_hmacsha256(m.mac, t, tlen, a->key);
	a->auth_sent = 1;
	return cw_encode_auth(buf, cap, &m, len, NULL, 0);
}

#else

int ag_keys_load(struct ag_fleet *f, char *err, size_t errlen)
{
	if (!f->cfg.key_file)
		return 0;
	return cf_fail(-ENOTSUP, err, errlen,
		       "--key-file: this coinfer-agent was built without libsodium");
}

void ag_hello_nonce(struct ag_agent *a, struct cw_hello *h)
{
	(void)a, (void)h;
}

int ag_auth_for(struct ag_agent *a, const struct cw_challenge *c, uint8_t *buf, size_t cap,
		size_t *len)
{
	(void)a, (void)c, (void)buf, (void)cap, (void)len;
	return -EPROTO;
}

#endif
