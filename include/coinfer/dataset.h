/* CIFAR-10 in its binary format (cifar-10-batches-bin): per record one label byte
 * and 3072 pixel bytes, CHW. Read from a directory; the project never ships it. */
#ifndef COINFER_DATASET_H
#define COINFER_DATASET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ds_dataset {
	int n;              /* images */
	int c, h, w;
	uint8_t *images;    /* n * c*h*w bytes, CHW per image */
	uint8_t *labels;    /* n */
};

/* Load one batch file (e.g. "test_batch.bin") from dir. Returns 0 or -errno /
 * -EINVAL (message in err naming the file and the problem). */
int ds_cifar10_load(const char *dir, const char *file, struct ds_dataset *out, char *err,
		    size_t errlen);
void ds_dataset_free(struct ds_dataset *d);

#ifdef __cplusplus
}
#endif
#endif
