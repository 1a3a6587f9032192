/* Device class files: where a class's per-layer times come from (a profile
 * file, a built-in regression model or another class scaled), the constants of
 * its energy model and its codec's speed (docs/config.md, conf/devices/).
 *
 *   name: pi4-est
 *   role: device
 *   description: ESTIMATE of a Raspberry Pi 4 ...
 *   scale: {of: x86-avx2, factor: 9.2}
 *   energy:
 *     kappa: 2.67e-28
 *     f_hz: 1.5e9
 *     tx_power_w: 0.1
 *     sinr_db: 0
 *   codec:
 *     encode_ns_per_elem: [48.37, 83.355, 86.906, 236.409]
 *     ...
 *
 * The structure is plain data: the cost model's loader (cost_class_load in
 * coinfer/cost-profile.h) takes it and checks what only the cost model knows
 * (the built-in regressions, the other class of scale.of), naming the lines
 * kept here. */
#ifndef COINFER_DEVCLASS_H
#define COINFER_DEVCLASS_H

#include <stddef.h>

#define CFG_CLASS_NAME_LEN 64
#define CFG_CLASS_PATH_LEN 512
#define CFG_CLASS_NBITS 4 /* the codec's widths: 4, 8, 12 and 16 bits */
#define CFG_CLASS_MAX_BYTES (1u << 20)

enum cfg_class_source { CFG_CLASS_PROFILE = 1, CFG_CLASS_REGRESSION, CFG_CLASS_SCALE };

/* The layer types of energy.cycles_per_flop, in this order (the runtime's
 * names: cost_layer_type_parse maps them). */
#define CFG_CLASS_NTYPES 9
extern const char *const cfg_class_types[CFG_CLASS_NTYPES];

struct cfg_class {
	char name[CFG_CLASS_NAME_LEN];         /* 1..63 of [A-Za-z0-9._-] */
	char role[8];                          /* device, edge or any */
	enum cfg_class_source source;          /* exactly one of the three keys */
	char profile[CFG_CLASS_PATH_LEN];      /* CFG_CLASS_PROFILE */
	char regression[CFG_CLASS_NAME_LEN];   /* CFG_CLASS_REGRESSION */
	char scale_of[CFG_CLASS_NAME_LEN];     /* CFG_CLASS_SCALE: a class name ... */
	double scale_factor;                   /* ... times this, [1e-6, 1e6] */
	double kappa, f_hz, tx_power_w, sinr_db;
	int cycles_from_profile;               /* no cycles_per_flop: f_hz times the times */
	double cycles_per_flop[CFG_CLASS_NTYPES];
	double enc_ns_per_elem[CFG_CLASS_NBITS], enc_us_per_frame[CFG_CLASS_NBITS];
	double dec_ns_per_elem[CFG_CLASS_NBITS], dec_us_per_frame[CFG_CLASS_NBITS];
	/* "FILE:LINE: KEY" of the keys the cost model checks further */
	char where_name[600], where_regression[600], where_scale_of[600];
};

/* text (len bytes) named name in messages into c. An unknown key, a value of
 * the wrong type or out of range, a missing required key, none or two of
 * profile, regression and scale: -EINVAL or -ERANGE with "NAME:LINE: KEY: ...". */
int cfg_class_parse(const char *text, size_t len, const char *name, struct cfg_class *c,
		    char *err, size_t errlen);
/* The file at path; -errno naming it when it cannot be read. */
int cfg_class_load(const char *path, struct cfg_class *c, char *err, size_t errlen);

#endif
