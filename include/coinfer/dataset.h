/* CIFAR-10 in its binary format (cifar-10-batches-bin): per record one label byte
 * and 3072 pixel bytes, CHW. Read from a directory; the project never ships it. */
#ifndef COINFER_DATASET_H
#define COINFER_DATASET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cf_dataset {
	int n;              /* images */
	int c, h, w;
	uint8_t *images;    /* n * c*h*w bytes, CHW per image */
	uint8_t *labels;    /* n */
};

/* Load one batch file (e.g. "test_batch.bin") from dir. Returns 0 or -errno /
 * -EINVAL (message in err naming the file and the problem). */
int cf_cifar10_load(const char *dir, const char *file, struct cf_dataset *out, char *err,
		    size_t errlen);
void cf_dataset_free(struct cf_dataset *d);

/* The CIFAR-10 directory to use when none is given: $COINFER_CIFAR10, else the
 * first of ../shared/data/cifar10 and data/cifar10 (from the working directory,
 * then from the source tree) holding test_batch.bin. NULL when none does. */
const char *cf_cifar10_default_dir(void);
/* The bundled model: $COINFER_MODEL, else models/branchy-alexnet.cfm in the
 * working directory or the source tree. NULL when none exists. */
const char *cf_default_model_path(void);

#ifdef __cplusplus
}
#endif
#endif
