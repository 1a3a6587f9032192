/* The workers' watchdog: which workers have made no progress (no loop turn) for
 * longer than a limit, decided from their turn counters and a clock the caller
 * passes in, so that the rule is tested without waiting. The server's watchdog
 * thread samples the counters and reports what a step returns. */
#ifndef COINFER_APPLIANCE_WATCHDOG_H
#define COINFER_APPLIANCE_WATCHDOG_H

#include <stdint.h>

struct ap_watch {
	int n;
	uint64_t limit_ns;
	uint64_t *seen, *since; /* the last counter seen, and when it last moved */
	uint8_t *stalled;
};

enum ap_watch_event { AP_WATCH_NONE = 0, AP_WATCH_STALLED, AP_WATCH_RECOVERED };

int ap_watch_init(struct ap_watch *w, int n, uint64_t limit_ns, uint64_t now_ns);
void ap_watch_free(struct ap_watch *w);
/* Worker i's counter read at now_ns: STALLED once when it has not moved for
 * limit_ns, RECOVERED once when it moves again; *for_ns is how long it had not
 * moved. */
enum ap_watch_event ap_watch_step(struct ap_watch *w, int i, uint64_t turns, uint64_t now_ns,
				  uint64_t *for_ns);

#endif
