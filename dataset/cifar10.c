#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/dataset.h"

#define REC 3073
#define MAX_RECORDS 60000

int ds_cifar10_load(const char *dir, const char *file, struct ds_dataset *out, char *err,
		    size_t el)
{
	char path[4096];
	uint8_t *raw = NULL;
	int ret = 0;
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "rb");
	if (!f) {
		ret = -errno;
		snprintf(err, el, "%s: %s (fetch CIFAR-10 with scripts/fetch-cifar10.sh)", path,
			 strerror(errno));
		return ret;
	}
	if (fseek(f, 0, SEEK_END) || ftell(f) < 0) {
		ret = -EIO;
		snprintf(err, el, "%s: cannot size the file", path);
		goto err;
	}
	long size = ftell(f);
	rewind(f);
	if (size == 0 || size % REC || size / REC > MAX_RECORDS) {
		ret = -EINVAL;
		snprintf(err, el, "%s: %ld bytes is not a whole number of %d-byte CIFAR-10 records (at most %d)",
			 path, size, REC, MAX_RECORDS);
		goto err;
	}
	int n = (int)(size / REC);
	raw = malloc((size_t)size);
	out->images = malloc((size_t)n * (REC - 1));
	out->labels = malloc((size_t)n);
	if (!raw || !out->images || !out->labels) {
		ret = -ENOMEM;
		snprintf(err, el, "%s: out of memory", path);
		goto err;
	}
	if (fread(raw, 1, (size_t)size, f) != (size_t)size) {
		ret = -EIO;
		snprintf(err, el, "%s: short read", path);
		goto err;
	}
	for (int i = 0; i < n; i++) {
		const uint8_t *r = raw + (size_t)i * REC;
		if (r[0] > 9) {
			ret = -EINVAL;
			snprintf(err, el, "%s: record %d has label %u (CIFAR-10 labels are 0..9)", path, i,
				 r[0]);
			goto err;
		}
		out->labels[i] = r[0];
		memcpy(out->images + (size_t)i * (REC - 1), r + 1, REC - 1);
	}
	out->n = n, out->c = 3, out->h = 32, out->w = 32;
	free(raw);
	fclose(f);
	return 0;
err:
	free(raw);
	ds_dataset_free(out);
	fclose(f);
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
