/* coinfer executor: runs layers [from, to) of one exit on a batch, from buffers
 * allocated once at creation, so the same model serves the head on the device and
 * the tail on the edge without allocating per request. */
#ifndef COINFER_EXEC_H
#define COINFER_EXEC_H

#include "coinfer/kernels.h"
#include "coinfer/model.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cr_exec;

/* Packs the model's weights for kernel table k (NULL: ck_kernels()) and sizes the
 * activation buffers and workspace for batches of up to max_batch images.
 * Returns 0, -EINVAL or -ENOMEM. The model must outlive the executor. */
int cr_exec_create(const struct cr_model *m, const struct ck_kernels *k, int max_batch,
		   struct cr_exec **out);
void cr_exec_destroy(struct cr_exec *x);

/* Run positions [from, to) of exit e (0-based) on n images. `in` holds the tensor
 * at partition point `from` (n * cr_model_boundary_floats(m, e, from) floats).
 * *out points to the result inside the executor, valid until the next run.
 * Returns 0 or -EINVAL (bad exit, range or batch, or from or to inside a
 * residual block: cr_model_boundary_ok). from == to returns in. */
int cr_exec_run(struct cr_exec *x, int e, int from, int to, const float *in, int n,
		const float **out);

/* Runs the single layer at position pos of exit e on n images, whatever the
 * boundaries (the layer timer times each layer alone, also inside a residual
 * block): `in` is its input, `skip` an add's other operand (NULL for other
 * layers). *out points inside the executor, valid until the next run.
 * Returns 0 or -EINVAL. */
int cr_exec_layer(struct cr_exec *x, int e, int pos, const float *in, const float *skip, int n,
		  const float **out);

/* Optional per-layer timing: when set, ns[pos] accumulates the time spent in each
 * layer position of exit e across runs (profiling; off the hot path when NULL). */
void cr_exec_set_timing(struct cr_exec *x, uint64_t *ns);

const struct ck_kernels *cr_exec_kernels(const struct cr_exec *x);

#ifdef __cplusplus
}
#endif
#endif
