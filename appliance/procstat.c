/* The process's own figures (design in procstat.h). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procstat.h"

/* jemalloc's control interface, declared weak: the appliance links jemalloc,
 * a test that runs the server in-process may not, and then the figure is
 * unknown rather than the library made to need jemalloc. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

/* Open descriptors of this process (the directory's own aside); -1 unknown. */
long ap_proc_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	/* bounded by the descriptor table, which the kernel caps */
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* Resident set, bytes (statm's second field, in pages); -1 unknown. */
long long ap_proc_resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long size, pages = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%lld %lld", &size, &pages) != 2)
		pages = -1;
	fclose(f);
	return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* jemalloc's stats.allocated, refreshed by an epoch bump (its statistics are
 * otherwise a snapshot from the last one); -1 without jemalloc. */
long long ap_proc_jemalloc_bytes(void)
{
	uint64_t epoch = 1;
	size_t allocated = 0, sz = sizeof(epoch);
	if (!mallctl || mallctl("epoch", &epoch, &sz, &epoch, sz))
		return -1;
	sz = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &sz, NULL, 0))
		return -1;
	return (long long)allocated;
}

long ap_proc_peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}
