/* The workers' watchdog (design in watchdog.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "watchdog.h"

int ap_watch_init(struct ap_watch *w, int n, uint64_t limit_ns, uint64_t now_ns)
{
	memset(w, 0, sizeof(*w));
	if (n < 1 || !limit_ns)
		return -EINVAL;
	w->seen = calloc((size_t)n, 2 * sizeof(uint64_t));
	w->stalled = calloc((size_t)n, 1);
	if (!w->seen || !w->stalled) {
		ap_watch_free(w);
		return -ENOMEM;
	}
	w->n = n;
	w->limit_ns = limit_ns;
	w->since = w->seen + n;
	for (int i = 0; i < n; i++)
		w->since[i] = now_ns;
	return 0;
}

void ap_watch_free(struct ap_watch *w)
{
	free(w->seen);
	free(w->stalled);
	memset(w, 0, sizeof(*w));
}

enum ap_watch_event ap_watch_step(struct ap_watch *w, int i, uint64_t turns, uint64_t now_ns,
				  uint64_t *for_ns)
{
	*for_ns = now_ns > w->since[i] ? now_ns - w->since[i] : 0;
	if (turns != w->seen[i]) {
		int was = w->stalled[i];
		w->seen[i] = turns;
		w->since[i] = now_ns;
		w->stalled[i] = 0;
		return was ? AP_WATCH_RECOVERED : AP_WATCH_NONE;
	}
	if (w->stalled[i] || *for_ns < w->limit_ns)
		return AP_WATCH_NONE;
	w->stalled[i] = 1;
	return AP_WATCH_STALLED;
}
