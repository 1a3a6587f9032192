/* SLO files: per application, the latency deadline, the objective (the fraction
 * of requests within the deadline) over a window, the minimum accuracy, the
 * energy budget per request and a priority (docs/config.md, conf/slo/).
 *
 *   applications:
 *     - name: camera
 *       deadline_ms: 50
 *       objective: 0.99
 *       window_s: 300
 *       min_accuracy: 0
 *       energy_j: 0.003
 *       priority: 1
 *
 * The structure is plain data: the simulator (coinfer/sim.h) takes a list of
 * them; the loader (config/, libcyaml) is for the programs. */
#ifndef COINFER_SLO_H
#define COINFER_SLO_H

#include <stddef.h>

#define CFG_SLO_NAME_LEN 32
#define CFG_SLO_MAX 64
#define CFG_SLO_MAX_BYTES (1u << 20) /* a larger file is not an SLO file */

struct cfg_slo {
	char app[CFG_SLO_NAME_LEN]; /* name: 1..31 of [A-Za-z0-9_.-], unique in the file */
	double deadline_ms;         /* required, in (0, 3600000] */
	double energy_j;            /* per request, [0, 1000]; 0: no energy budget */
	double objective;           /* fraction of requests within deadline_ms, (0, 1] */
	double window_s;            /* the objective's window, (0, 31 days] */
	double min_accuracy;        /* [0, 1]; 0: none */
	int priority;               /* 0..100, higher first; 0 by default */
	int line;                   /* the entry's line in its file */
};

/* The defaults of the optional keys. */
#define CFG_SLO_OBJECTIVE 0.99
#define CFG_SLO_WINDOW_S 300.0

/* text (len bytes) named name in messages: at most CFG_SLO_MAX entries into slo,
 * their number into *n. An unknown key, a value of the wrong type or out of
 * range, a missing name or deadline_ms, an application given twice: -EINVAL
 * with "NAME:LINE: KEY: ...". */
int cfg_slo_parse(const char *text, size_t len, const char *name, struct cfg_slo *slo, int *n,
		  char *err, size_t errlen);
/* The file at path; -errno naming it when it cannot be read. */
int cfg_slo_load(const char *path, struct cfg_slo *slo, int *n, char *err, size_t errlen);
/* The index of application app in slo[0..n), -1 when absent. */
int cfg_slo_find(const struct cfg_slo *slo, int n, const char *app);

#endif
