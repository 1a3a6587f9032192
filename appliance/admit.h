/* What the appliance accepts from a device before it spends anything on it: the
 * HELLO that opens a session, and each INFER before it is queued
 * (docs/protocol.md, "What the appliance accepts").
 *
 * Pure checks of a decoded message against the served model's facts: no
 * connection state, no allocation, so the session layer can call them wherever
 * it handles the messages. Each returns 0, or the enum cw_error_code to answer
 * with and a message for the ERROR in why[0..n). */
#ifndef COINFER_APPLIANCE_ADMIT_H
#define COINFER_APPLIANCE_ADMIT_H

#include <stddef.h>

#include "coinfer/model.h"
#include "coinfer/wire.h"

/* The model HELLO names must be the one served: the same name and the same
 * checksum (the model file's trailer). CW_ERR_MODEL_MISMATCH otherwise. The
 * device class and the application are not judged: any printable string is a
 * class (one without a served policy gets plain INFER only), and the
 * application is not used in version 1. */
int ap_admit_hello(const struct cr_model *m, const struct cw_hello *h, char *why, size_t n);

/* An INFER the tail can run: an exit index and partition of the model
 * (CW_ERR_BAD_REQUEST), a frame whose header is valid (CW_ERR_BAD_FRAME) with
 * the bits the INFER states (CW_ERR_BAD_REQUEST) and the element count of that
 * partition (CW_ERR_BAD_FRAME). Reads the frame's header only; the tail checks
 * the checksum and the payload when it decodes. */
int ap_admit_infer(const struct cr_model *m, const struct cw_infer *r, char *why, size_t n);

/* The C x H x W of the tensor at partition p of exit e (p = 0: the input). */
void ap_boundary_shape(const struct cr_model *m, int e, int p, int chw[3]);

#endif
