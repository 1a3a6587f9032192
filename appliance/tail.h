/* Tail execution on the edge: decode the batch's codec frames and run layers
 * [p, N_e) of its exit for all of them at once with the SIMD kernels.
 *
 * With a joined batch (requests of one exit split at different partitions) the
 * batch starts with the requests of the earliest partition; at each later
 * partition the rows computed so far are joined by the requests split there, so
 * every layer runs once, over every request that needs it.
 *
 * Buffers are sized at creation for max_batch images; a run allocates nothing. */
#ifndef COINFER_APPLIANCE_TAIL_H
#define COINFER_APPLIANCE_TAIL_H

#include <stdint.h>

#include "coinfer/codec-frame.h"
#include "coinfer/exec.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"
#include "scheduler.h"

#define AP_BATCH_STEPS 6 /* calibrated batch sizes: 1, 2, 4, 8, 16, 32 */

struct ap_tail_config {
	const struct cr_model *model;
	int max_batch;
	int null_model;          /* validate frames but compute nothing: the I/O path alone */
	struct cc_limits limits; /* for the frames */
};

/* What happened to one request of a batch. */
struct ap_outcome {
	int code;                /* 0, or an enum cw_error_code */
	uint16_t label;
	uint8_t exit;
	float confidence;
	uint32_t decode_us, compute_us;
	uint16_t batch;          /* images in the batch it ran in */
	char msg[CW_ERRMSG_MAX + 1];
};

struct ap_tail;

int ap_tail_create(const struct ap_tail_config *cfg, struct ap_tail **out, char *err,
		   size_t errlen);
void ap_tail_destroy(struct ap_tail *t);

/* Times every layer of every exit alone at batch sizes 1..32 (runs each, the
 * median kept) so that estimates are of this machine; without it the estimate
 * is a FLOP count at 100 GFLOP/s. */
int ap_tail_calibrate(struct ap_tail *t, int runs);
/* ap_estimate_fn: tail time of n images of exit e from partition p, in ns. */
uint64_t ap_tail_estimate(void *t, int e, int p, int n);

/* Runs batch b (slot indices into s); out[k] answers b->idx[k]. */
int ap_tail_run(struct ap_tail *t, struct ap_sched *s, const struct ap_batch *b,
		struct ap_outcome *out);

/* Floats per image at partition p of exit e: what a frame must decode to. */
size_t ap_tail_floats(const struct ap_tail *t, int e, int p);

#endif
