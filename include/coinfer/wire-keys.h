/* The device key file (docs/appliance.md, "Device keys"): one line per device,
 *
 *   DEVICE_ID KEY_HEX [revoked]
 *
 * DEVICE_ID a decimal u64 (HELLO's device id), KEY_HEX the 32-byte key as 64
 * lowercase or uppercase hex digits, then optionally the word "revoked". Blank
 * lines and lines starting with '#' are skipped. The appliance reads the
 * fleet's file, the agent its own copy (same format, one line), coinfer-keys
 * writes both.
 *
 * Pure parsing and formatting over caller buffers, plus a reader that refuses
 * a file group or others may read (the keys are secrets). Messages name the
 * file and the line, never a key's bytes. */
#ifndef COINFER_WIRE_KEYS_H
#define COINFER_WIRE_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/wire.h"

#define CW_KEYS_MAX_BYTES (16u << 20) /* about 180 000 devices */
/* The longest line written: 20 digits, space, 64 hex digits, " revoked", '\n'. */
#define CW_KEYS_LINE_MAX 96

struct cw_key_entry {
	uint64_t device_id;
	uint8_t key[CW_DEVICE_KEY_BYTES];
	int revoked;
};

/* Parses line[0..len) (without its '\n'): 1 with *e filled, 0 for a blank or
 * comment line, -EINVAL with a message naming name:lineno (never the key). */
int cw_keys_line(const char *line, size_t len, const char *name, int lineno,
		 struct cw_key_entry *e, char *err, size_t errlen);
/* Writes e as one line with its '\n' into buf[0..cap), NUL-terminated; the
 * length, or -ENOSPC. */
int cw_keys_format(const struct cw_key_entry *e, char *buf, size_t cap);

/* The whole file at path into a malloc'd NUL-terminated buffer, refusing
 * (-EPERM) one whose mode lets group or others read or write it. */
static inline int cw_keys_read(const char *path, char **text, size_t *len, char *err,
			       size_t errlen)
{
	struct stat st;
	*text = NULL;
	if (stat(path, &st))
		return cf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (st.st_mode & 077)
		return cf_fail(-EPERM, err, errlen,
			       "%s: mode %04o lets group or others at the device keys; "
			       "chmod 600 %s",
			       path, (unsigned)(st.st_mode & 07777), path);
	return cf_read_text(path, CW_KEYS_MAX_BYTES, text, len, err, errlen);
}

#endif
