/* What a leak would show as, read from the appliance's own process: the bytes
 * it holds through jemalloc, its open descriptors, its resident memory. The
 * start-up and stop lines and the metrics endpoint report these. Each returns
 * -1 where the figure is unknown (no jemalloc linked, no /proc). */
#ifndef COINFER_APPLIANCE_PROCSTAT_H
#define COINFER_APPLIANCE_PROCSTAT_H

long long ap_proc_jemalloc_bytes(void);
long ap_proc_open_fds(void);
long long ap_proc_resident_bytes(void);
/* The largest resident set this process has had, in KiB (getrusage). */
long ap_proc_peak_rss_kb(void);

#endif
