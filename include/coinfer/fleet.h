/* Fleet files: groups of emulated devices for a load generator (coinfer-fleet),
 * each group so many devices of one device class running one application of
 * the fleet's SLO file, over a bandwidth trace or a set of them, with an arrival
 * process, a transport and a seed (docs/config.md, conf/fleet/example.yaml).
 *
 *   slo: ../slo/apps.yaml          # relative to the fleet file
 *   seed: 1
 *   groups:
 *     - name: cameras
 *       count: 16
 *       class: pi4-est
 *       application: camera
 *       trace_set: fcc             # under the trace directory
 *       arrival: {process: poisson, rate_hz: 10}
 *       transport: udp
 *
 * The loader (config/, libcyaml) checks every value, that each application is
 * in the SLO file, and that each trace, trace set, gap file and device class
 * exists; errors name the file, the line and the key. */
#ifndef COINFER_FLEET_H
#define COINFER_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/slo.h"

#define CFG_FLEET_NAME_LEN 32
#define CFG_FLEET_MAX_GROUPS 1024
#define CFG_FLEET_MAX_DEVICES 100000
#define CFG_FLEET_MAX_BYTES (1u << 20)

enum cfg_arrival {
	CFG_ARRIVAL_POISSON, /* open loop: exponential gaps at rate_hz per device */
	CFG_ARRIVAL_CLOSED,  /* closed loop: the next request think_ms after an answer */
	CFG_ARRIVAL_GAPS,    /* open loop: the gaps of a file, replayed in turn */
};

enum cfg_transport { CFG_TRANSPORT_TCP, CFG_TRANSPORT_UDP };

struct cfg_fleet_group {
	char name[CFG_FLEET_NAME_LEN];         /* "group-N" (N from 1) when not given */
	int count;                             /* devices, 1..CFG_FLEET_MAX_DEVICES */
	char device_class[CFG_FLEET_NAME_LEN]; /* a conf/devices/ class */
	int app;                               /* index into the fleet's slo[] */
	char *trace;                           /* a trace file, or a directory when */
	int trace_set;                         /* 1: device i takes the set's trace i mod n */
	enum cfg_arrival arrival;
	double rate_hz;                        /* CFG_ARRIVAL_POISSON, per device */
	double think_ms;                       /* CFG_ARRIVAL_CLOSED */
	char *gaps;                            /* CFG_ARRIVAL_GAPS: the file's path */
	enum cfg_transport transport;          /* tcp by default */
	uint64_t seed;                         /* the fleet's seed + the group's index */
	int line;                              /* the group's line in the fleet file */
};

struct cfg_fleet {
	char *slo_path;                   /* as resolved against the fleet file's folder */
	struct cfg_slo slo[CFG_SLO_MAX];
	int n_slo;
	struct cfg_fleet_group *groups;
	int n_groups;
	int devices;                      /* all groups' counts */
	uint64_t seed;                    /* 1 by default */
};

/* Where the program looks when the file does not say: traces, the trace
 * directory (the file's `traces` key overrides it); devices, the device-class
 * folder (conf/devices: each group's CLASS.yaml is read through; NULL: classes
 * are not checked). */
struct cfg_fleet_paths {
	const char *traces;
	const char *devices;
};

/* text (len bytes) named name, whose folder relative paths start from. 0, or
 * -EINVAL/-ERANGE/-ENOENT with "NAME:LINE: KEY: ..." (an SLO file's own errors
 * name that file). f is empty after an error; free with cfg_fleet_free. */
int cfg_fleet_parse(const char *text, size_t len, const char *name,
		    const struct cfg_fleet_paths *p, struct cfg_fleet *f, char *err, size_t errlen);
int cfg_fleet_load(const char *path, const struct cfg_fleet_paths *p, struct cfg_fleet *f,
		   char *err, size_t errlen);
void cfg_fleet_free(struct cfg_fleet *f);

#endif
