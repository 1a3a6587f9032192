/* coinfer-keys: the fleet's device key file (coinfer/wire-keys.h, docs/appliance.md
 * "Device keys"). create makes a device's 32-byte key (randombytes_buf) and adds
 * its line; list prints ids and states, never keys; revoke marks a device's
 * line. The file is rewritten whole through a 0600 temporary and a rename, so
 * a crash leaves the old file or the new one, and it is never readable by
 * others; keys are wiped from memory after use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "coinfer/cli.h"
#include "coinfer/wire-keys.h"

#define PROG "coinfer-keys"

struct keys_opts {
	const char *keys, *device, *out;
};

#define F(f) CLI_FIELD(struct keys_opts, f)
static const struct cli_opt opts[] = {
	{.name = "keys", .kind = CLI_STRING, F(keys), .arg = "FILE",
	 .help = "the fleet's key file (created with mode 0600)"},
	{.name = "device", .kind = CLI_STRING, F(device), .arg = "ID",
	 .help = "device id (HELLO's, a decimal u64): create and revoke"},
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "FILE",
	 .help = "create: also write the device's own copy (its --key-file)"},
};
static const struct cli_prog prog = {
	.name = PROG,
	.head = "usage: " PROG " create|list|revoke --keys FILE [--device ID] [--out FILE]\n"
		"create: a new 32-byte key for device ID, added to FILE (and to --out for\n"
		"the device); list: every device id and its state, never a key; revoke: the\n"
		"device is refused from the appliance's next start.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct keys_opts)};

struct keyset {
	struct cw_key_entry *e;
	int n, cap;
};

static void keyset_free(struct keyset *k)
{
	if (k->e)
		sodium_memzero(k->e, (size_t)k->cap * sizeof(*k->e));
	free(k->e);
}

/* Room for at least need entries (the old ones wiped as they move). */
static int grow(struct keyset *k, int need)
{
	if (need <= k->cap)
		return 0;
	int cap = need > k->cap * 2 + 16 ? need : k->cap * 2 + 16;
	struct cw_key_entry *e = calloc((size_t)cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (k->e)
		memcpy(e, k->e, (size_t)k->n * sizeof(*e));
	keyset_free(k);
	k->e = e;
	k->cap = cap;
	return 0;
}

/* FILE's entries; a missing file is an empty set (create makes it). */
static int load(const char *path, struct keyset *k, int missing_ok)
{
	char *text = NULL, err[512];
	size_t len = 0;
	int ret = cw_keys_read(path, &text, &len, err, sizeof(err)), lineno = 0;
	if (ret == -ENOENT && missing_ok)
		return 0;
	if (ret) {
		fprintf(stderr, PROG ": %s\n", err);
		return ret;
	}
	for (size_t pos = 0; pos < len && !ret;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		if ((ret = grow(k, k->n + 1)))
			break;
		ret = cw_keys_line(text + pos, end - pos, path, ++lineno, &k->e[k->n], err,
				   sizeof(err));
		if (ret < 0)
			fprintf(stderr, PROG ": %s\n", err);
		k->n += ret > 0;
		ret = ret < 0 ? ret : 0;
		pos = end + 1;
	}
	sodium_memzero(text, len);
	free(text);
	return ret;
}

/* Writes entries to path through path.tmp (0600) and a rename. */
static int save(const char *path, const struct cw_key_entry *e, int n)
{
	char tmp[4096], line[CW_KEYS_LINE_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ret = 0;
	if (fd < 0) {
		fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n && !ret; i++) {
		int len = cw_keys_format(&e[i], line, sizeof(line));
		if (len < 0 || write(fd, line, (size_t)len) != len)
			ret = -EIO;
	}
	sodium_memzero(line, sizeof(line));
	if (ret || fsync(fd) || close(fd) || rename(tmp, path)) {
		fprintf(stderr, PROG ": writing %s failed\n", path);
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static int parse_id(const char *s, uint64_t *id)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s ? s : "", &end, 10);
	if (!s || !*s || *end || errno || *s == '-') {
		fprintf(stderr, PROG ": --device: '%s' is not a decimal device id\n", s ? s : "");
		return -EINVAL;
	}
	*id = v;
	return 0;
}

static int find(const struct keyset *k, uint64_t id)
{
	for (int i = 0; i < k->n; i++)
		if (k->e[i].device_id == id)
			return i;
	return -1;
}

static int cmd_create(const struct keys_opts *o, struct keyset *k)
{
	struct cw_key_entry e = {0};
	int ret;
	if ((ret = parse_id(o->device, &e.device_id)))
		return ret;
	if (find(k, e.device_id) >= 0) {
		fprintf(stderr, PROG ": %s: device %s has a key already\n", o->keys, o->device);
		return -EEXIST;
	}
	randombytes_buf(e.key, sizeof(e.key));
	k->e[k->n++] = e; /* load left room: cap > n */
	ret = save(o->keys, k->e, k->n);
	if (!ret && o->out)
		ret = save(o->out, &e, 1);
	sodium_memzero(&e, sizeof(e));
	if (!ret)
		printf("device %s: key created in %s%s%s\n", o->device, o->keys,
		       o->out ? ", device copy in " : "", o->out ? o->out : "");
	return ret;
}

static int cmd_revoke(const struct keys_opts *o, struct keyset *k)
{
	uint64_t id;
	int ret, i;
	if ((ret = parse_id(o->device, &id)))
		return ret;
	if ((i = find(k, id)) < 0) {
		fprintf(stderr, PROG ": %s: no device %s\n", o->keys, o->device);
		return -ENOENT;
	}
	k->e[i].revoked = 1;
	if (!(ret = save(o->keys, k->e, k->n)))
		printf("device %s: revoked (the appliance refuses it from its next start)\n",
		       o->device);
	return ret;
}

int main(int argc, char **argv)
{
	struct keys_opts o = {0};
	struct keyset k = {0};
	if (argc < 2 || argv[1][0] == '-') {
		int st = cli_args(&prog, &o, argc, argv);
		if (st == CLI_GO)
			fprintf(stderr, PROG ": say create, list or revoke\n");
		return st == CLI_GO ? 2 : st;
	}
	const char *cmd = argv[1];
	int st = cli_args(&prog, &o, argc - 1, argv + 1), ret;
	if (st != CLI_GO)
		return st;
	if (strcmp(cmd, "create") && strcmp(cmd, "list") && strcmp(cmd, "revoke")) {
		fprintf(stderr, PROG ": unknown command '%s' (create, list, revoke)\n", cmd);
		return 2;
	}
	if (!o.keys) {
		fprintf(stderr, PROG ": %s needs --keys FILE\n", cmd);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, PROG ": libsodium failed to start\n");
		return 1;
	}
	umask(077);
	if ((ret = load(o.keys, &k, !strcmp(cmd, "create"))))
		goto out;
	if (!strcmp(cmd, "list")) {
		for (int i = 0; i < k.n; i++)
			printf("%llu %s\n", (unsigned long long)k.e[i].device_id,
			       k.e[i].revoked ? "revoked" : "active");
	} else if (!strcmp(cmd, "create")) {
		ret = grow(&k, k.n + 1);
		if (!ret)
			ret = cmd_create(&o, &k);
	} else {
		ret = cmd_revoke(&o, &k);
	}
out:
	keyset_free(&k);
	return ret ? 1 : 0;
}
