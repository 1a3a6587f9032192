#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/dataset.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"

#define REC 3073
#define MAX_RECORDS 60000

int ds_cifar10_load(const char *dir, const char *file, struct ds_dataset *out, char *err,
		    size_t el)
{
	char path[4096], why[sizeof(path) + 128];
	void *buf;
	size_t size;
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int ret = cf_read_file(path, (size_t)MAX_RECORDS * REC, &buf, &size, why, sizeof(why));
	if (ret == -ENOENT)
		return cf_fail(ret, err, el, "%s (fetch CIFAR-10 with scripts/fetch-cifar10.sh)",
			       why);
	if (ret)
		return cf_fail(ret, err, el, "%s", why);
	const uint8_t *raw = buf;
	if (size == 0 || size % REC) {
		ret = cf_fail(-EINVAL, err, el,
			      "%s: %zu bytes is not a whole number of %d-byte CIFAR-10 records "
			      "(at most %d)", path, size, REC, MAX_RECORDS);
		goto err;
	}
	int n = (int)(size / REC);
	out->images = malloc((size_t)n * (REC - 1));
	out->labels = malloc((size_t)n);
	if (!out->images || !out->labels) {
		ret = cf_fail(-ENOMEM, err, el, "%s: out of memory", path);
		goto err;
	}
	for (int i = 0; i < n; i++) {
		const uint8_t *r = raw + (size_t)i * REC;
		if (r[0] > 9) {
			ret = cf_fail(-EINVAL, err, el,
				      "%s: record %d has label %u (CIFAR-10 labels are 0..9)", path,
				      i, r[0]);
			goto err;
		}
		out->labels[i] = r[0];
		memcpy(out->images + (size_t)i * (REC - 1), r + 1, REC - 1);
	}
	out->n = n, out->c = 3, out->h = 32, out->w = 32;
	free(buf);
	return 0;
err:
	free(buf);
	ds_dataset_free(out);
	return ret;
}

void ds_dataset_free(struct ds_dataset *d)
{
	free(d->images);
	free(d->labels);
	memset(d, 0, sizeof(*d));
}

/* The first candidate c for which c + suffix is readable; candidates are string
 * literals, so the result stays valid. */
