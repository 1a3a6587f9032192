/* Reading a whole file that a parser then validates (model, policy, JSON and
 * text files, the data set): a regular file of at most max bytes into one
 * malloc'd buffer, errors naming the path. Header-only so that every module, the
 * cross-built ones included, can use it. */
#ifndef COINFER_FILEIO_H
#define COINFER_FILEIO_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/errmsg.h"

/* The reader behind cf_read_file and cf_read_text: nul puts a NUL after the
 * bytes (not counted in *len). */
static inline int cf_read_whole(const char *path, size_t max, int nul, void **buf, size_t *len,
				char *err, size_t errlen)
{
	struct stat st;
	char *b = NULL;
	int ret = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		ret = -errno;
		return cf_fail(ret, err, errlen, "%s: %s", path, strerror(-ret));
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		cf_fail(ret, err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cf_fail(-EINVAL, err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		ret = cf_fail(-EFBIG, err, errlen, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	size_t n = (size_t)st.st_size, got = 0, cap = n + (nul ? 1 : 0);
	if (!(b = malloc(cap ? cap : 1))) {
		ret = cf_fail(-ENOMEM, err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			cf_fail(ret, err, errlen, "%s: read failed: %s", path, strerror(-ret));
			goto out;
		}
		got += (size_t)r;
	}
	if (nul)
		b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
out:
	free(b);
	close(fd);
	return ret;
}

/* 0 with *buf (free it) and *len, or -errno with a message in err: -EINVAL for
 * a directory or device, -EFBIG past max. The buffer holds exactly the file, so
 * that a sanitizer sees a parser read past its end. */
static inline int cf_read_file(const char *path, size_t max, void **buf, size_t *len, char *err,
			       size_t errlen)
{
	return cf_read_whole(path, max, 0, buf, len, err, errlen);
}

/* As cf_read_file, for a text parser: a NUL follows the len bytes. */
static inline int cf_read_text(const char *path, size_t max, char **text, size_t *len, char *err,
			       size_t errlen)
{
	void *b;
	int ret = cf_read_whole(path, max, 1, &b, len, err, errlen);
	*text = b;
	return ret;
}

#endif
