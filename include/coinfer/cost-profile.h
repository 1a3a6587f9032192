/* coinfer cost inputs: per-layer latency profiles of a device class, the
 * per-layer-type regression models of Edgent (Li et al. 2018), device classes
 * and the codec table.
 * docs/cost-model.md documents the formulas and the file formats.
 *
 * Everything here is plain data, pure computation and the profile writer (it
 * builds in the aarch64 cross build); reading the files (JSON profiles and codec
 * tables: cost/json.c; YAML device classes: cost/class.c) is in coinfer_cost_io
 * (native builds only), declared at the end. Measuring a profile
 * on this machine is in cost/measure.c (coinfer_cost_measure: runtime and
 * CIFAR-10 reader; builds everywhere).
 * Functions return 0 or -errno and write what was wrong, naming the file and the
 * field, into err. */
#ifndef COINFER_COST_PROFILE_H
#define COINFER_COST_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coinfer/action.h"
#include "coinfer/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COST_MAX_EXITS CR_MODEL_MAX_EXITS
#define COST_MAX_POS CR_MODEL_MAX_EXIT_LAYERS /* layers per exit */
#define COST_MAX_BATCHES 8
#define COST_NAME_LEN 64    /* device class names */
#define COST_PATH_LEN 512

const char *cost_layer_type_name(enum cr_layer_type t);
int cost_layer_type_parse(const char *s, enum cr_layer_type *out);

/* ---- profiles -------------------------------------------------------------- */

enum cost_profile_source { COST_SOURCE_MEASURED = 1, COST_SOURCE_REGRESSION = 2, COST_SOURCE_SCALED = 3 };
const char *cost_profile_source_name(enum cost_profile_source s);

struct cost_profile_layer {
	int pos;
	char name[CR_NAME_LEN];
	enum cr_layer_type type;
	double in_bytes, out_bytes, flops;  /* per image (fp32 tensors) */
	double x1, x2;                      /* Edgent (Li et al. 2018) Table I variables, per image */
	double mean_ms[COST_MAX_BATCHES];    /* one run of the whole batch, per batches[] */
	double p95_ms[COST_MAX_BATCHES];
};

struct cost_profile_exit {
	int n_layers;
	struct cost_profile_layer layers[COST_MAX_POS];
};

struct cost_profile {
	char device_class[COST_NAME_LEN];
	char model[24];
	uint64_t model_checksum;            /* cr_model.checksum of the model profiled */
	char isa[16];
	char clock[16];                     /* "wall" or "thread-cpu" (optional in files) */
	int threads;
	enum cost_profile_source source;
	int n_batches;
	int batches[COST_MAX_BATCHES];       /* ascending */
	int n_exits;
	struct cost_profile_exit exits[COST_MAX_EXITS]; /* exits[i] is exit i + 1 */
};

/* Fills every field but the times (zero) from model m: layer names, types,
 * sizes, FLOPs and Table I variables. -EINVAL when the model or the batch list
 * exceeds the limits above. */
int cost_profile_init(struct cost_profile *p, const struct cr_model *m, const char *device_class,
		     const int *batches, int n_batches, char *err, size_t errlen);
/* The profile describes model m: same checksum, exits and layers (name, type,
 * sizes). what names the profile in messages (a file name). */
int cost_profile_check_model(const struct cost_profile *p, const struct cr_model *m, const char *what,
			    char *err, size_t errlen);
/* Every time multiplied by factor (> 0); the source becomes "scaled". */
int cost_profile_scale(struct cost_profile *p, double factor);
/* Mean time of layer L for a batch of n images (n >= 1, need not be listed):
 * linear between listed batches, the smallest listed batch's time below it, the
 * largest listed batch's time per image times n above it. */
double cost_profile_layer_ms(const struct cost_profile *p, const struct cost_profile_layer *L,
			    double n);

/* The profile file (docs/cost-model.md) with stdio alone; cost_profile_parse
 * reads it back to the same values, bit for bit. */
int cost_profile_write(const struct cost_profile *p, FILE *f, char *err, size_t errlen);
/* Writes PATH.tmp then renames it over PATH. */
int cost_profile_save(const struct cost_profile *p, const char *path, char *err, size_t errlen);

/* ---- measuring a profile (coinfer_cost_measure) ----------------------------------- */

struct ck_kernels;

struct cost_profile_opts {
	const char *device_class;      /* NULL: "local-ISA" */
	int batches[COST_MAX_BATCHES];  /* ascending */
	int n_batches;
	int runs;                      /* timed runs, CR_TIMER_MIN_RUNS..CR_TIMER_MAX_RUNS */
	int warmup;                    /* untimed runs first, >= 0 */
	int cpu_clock;                 /* the thread's CPU time instead of wall time */
	int only_exit;                 /* 1-based: that exit alone (a partial profile); 0: all */
	const char *data_dir;          /* CIFAR-10 binary directory (required) */
	FILE *progress;                /* per exit and batch, layers' sum against the whole exit; NULL: quiet */
};

/* Measures every layer of every exit of model m with kernels k (NULL: the best
 * here) on a normalised CIFAR-10 test batch (coinfer/layer-timer.h) into out: the
 * mean and p95 of o->runs timed runs per layer and batch size. With only_exit the
 * profile lists that exit alone (as exit 1). -ENOENT without CIFAR-10, -EINVAL
 * for options out of range, -ENOMEM. */
int cost_profile_measure(const struct cr_model *m, const struct ck_kernels *k,
			const struct cost_profile_opts *o, struct cost_profile *out, char *err,
			size_t errlen);


/* ---- Edgent (Li et al. 2018) regression models --------------------------------------------- */

/* Layer-type groups of Edgent (Li et al. 2018) Table I. Max and average pooling share the
 * pooling model; flatten uses the dropout model (both move data and compute
 * nothing). */
enum cost_reg_kind {
	COST_REG_CONV, COST_REG_RELU, COST_REG_POOL, COST_REG_LRN, COST_REG_DROPOUT, COST_REG_FC,
	COST_REG_KINDS
};
const char *cost_reg_kind_name(enum cost_reg_kind k);
enum cost_reg_kind cost_reg_kind_of(enum cr_layer_type t);
/* Table I variables that a kind uses (1 or 2). */
int cost_reg_kind_vars(enum cost_reg_kind k);

/* y_ms = c1 * x1 + c2 * x2 + c0; x in bytes as Table II. */
struct cost_reg_line {
	double c1, c2, c0;
	int nvar;        /* variables fitted (x2 is dropped when it is collinear with x1) */
	int n;           /* points fitted (0 for built-in models) */
	double r2;       /* coefficient of determination (NaN for built-in models) */
	int present;
};

struct cost_regression {
	char name[COST_NAME_LEN];
	struct cost_reg_line line[COST_REG_KINDS];
};

/* Least squares with an intercept: x holds n rows of k variables (row-major), coef
 * receives k slopes then the intercept, *r2 the coefficient of determination (1
 * when y is constant and fitted exactly). Householder QR in double on columns
 * scaled to unit norm. -EINVAL for n < k + 1 or non-finite input, -EDOM when the
 * columns (with the intercept) are linearly dependent. Allocates nothing (k <= 4,
 * n <= COST_LSQ_MAX_ROWS). */
#define COST_LSQ_MAX_ROWS 4096
int cost_lsq(const double *x, const double *y, int n, int k, double *coef, double *r2);

/* Fits every layer kind present in profile p at batch index bi over the distinct
 * layers (by name; the trunk appears in every exit once). Variables are scaled by
 * the batch size (the data of the whole batch) except conv's x2, which describes
 * the filters. A kind with too few distinct points to fit is left absent and named
 * in note (may be NULL). */
int cost_regress_fit(const struct cost_profile *p, int bi, struct cost_regression *out, char *note,
		    size_t notelen, char *err, size_t errlen);
/* The Edgent (Li et al. 2018) Table II models: "rpi3-edgent" and "pc-edgent" (see
 * docs/cost-model.md: the printed column headings are swapped, and these names
 * follow the evidence), and the printed columns as labelled,
 * "table2-mobile-column" and "table2-server-column". NULL for other names. */
const struct cost_regression *cost_regression_builtin(const char *name);
/* Predicted time of layer L for a batch of n images, clamped at 0 (a fitted
 * intercept can be negative: Table II's conv intercept is -9.909 ms). */
double cost_regress_predict(const struct cost_regression *r, const struct cost_profile_layer *L, int n);
/* Fills the times of an initialised profile from r (mean = p95); source becomes
 * "regression". -EINVAL when r lacks a kind the profile's layers need. */
int cost_profile_from_regression(struct cost_profile *p, const struct cost_regression *r, char *err,
				size_t errlen);

/* ---- device classes ---------------------------------------------------------- */

enum cost_class_source { COST_CLASS_FILE = 1, COST_CLASS_REGRESSION = 2, COST_CLASS_SCALE = 3 };

struct cost_codec_speed {
	/* per bits index; time = us_per_frame + ns_per_elem * elements */
	double enc_ns_per_elem[CF_ACTION_NBITS], enc_us_per_frame[CF_ACTION_NBITS];
	double dec_ns_per_elem[CF_ACTION_NBITS], dec_us_per_frame[CF_ACTION_NBITS];
};

struct cost_device_class {
	char name[COST_NAME_LEN];
	char role[16];                     /* "device", "edge" or "any" (informational) */
	enum cost_class_source source;
	char profile_path[COST_PATH_LEN];   /* COST_CLASS_FILE: relative to the repository */
	char regression[COST_NAME_LEN];     /* COST_CLASS_REGRESSION: a built-in model */
	char scale_of[COST_NAME_LEN];       /* COST_CLASS_SCALE: another class ... */
	double scale_factor;               /* ... whose times are multiplied by this */
	/* Niu et al. (2022) eqs. 1-2 */
	double kappa;                      /* J / (cycle * Hz^2) */
	double f_hz;                       /* nominal CPU frequency */
	int cycles_from_profile;           /* C_i * D_i = f_hz * t_i (measured cycles) ... */
	double cycles_per_flop[CR_LAYER_ATTN + 1]; /* ... or C per cr_layer_type times FLOPs */
	double tx_power_w;
	double sinr_db;
	struct cost_codec_speed codec;
};

/* Class names are [A-Za-z0-9._-], 1..63 characters (they name files). */
int cost_class_name_ok(const char *name);

/* ---- codec tables ------------------------------------------------------------- */

struct cost_codec_table {
	char model[24];
	int images;
	int n_exits;
	int n_part[COST_MAX_EXITS];                          /* partitions p < N_e seen */
	/* 1 where p < N_e lies inside a residual block, so it is no partition point
	 * (cr_model_cut_ok), when the table was read against the model; 0 elsewhere */
	unsigned char in_block[COST_MAX_EXITS][COST_MAX_POS];
	/* the model's exit variants when read against it (else every exit plain) */
	int n_plain;
	int variant[COST_MAX_EXITS], of[COST_MAX_EXITS];
	double fp32_accuracy[COST_MAX_EXITS];
	double bytes[COST_MAX_EXITS][COST_MAX_POS][CF_ACTION_NBITS]; /* < 0: no entry */
	double accuracy[COST_MAX_EXITS][COST_MAX_POS][CF_ACTION_NBITS];
	char layer[COST_MAX_EXITS][COST_MAX_POS][CR_NAME_LEN];
};

/* ---- files (native builds only: libcjson, libcyaml) ------------------------- */

/* Profile files (docs/cost-model.md). parse reads text of len bytes; what names
 * it in messages. When m is not NULL the profile must describe m
 * (cost_profile_check_model): a profile of another model is refused. */
int cost_profile_parse(const char *text, size_t len, const char *what, const struct cr_model *m,
		      struct cost_profile *out, char *err, size_t errlen);
int cost_profile_load(const char *path, const struct cr_model *m, struct cost_profile *out, char *err,
		     size_t errlen);

/* Device class files: ROOT/conf/devices/NAME.yaml (docs/config.md), read
 * through the configuration reader (coinfer/devclass.h: keys, types, ranges),
 * then the regression named must be built in. Errors are "FILE:LINE: KEY: ...". */
int cost_class_parse(const char *text, size_t len, const char *what, struct cost_device_class *out,
		    char *err, size_t errlen);
/* -ENOENT for an unknown class, with the known ones listed in err; the file's
 * name must be NAME, and the class a scaled one names must exist. */
int cost_class_load(const char *root, const char *name, struct cost_device_class *out, char *err,
		   size_t errlen);
/* The class's profile for model m: its file (checked against m), the built-in
 * regression synthesised for m's layers, or the scaled profile of another class
 * (followed at most 4 deep). */
int cost_class_profile(const char *root, const struct cost_device_class *c, const struct cr_model *m,
		      struct cost_profile *out, char *err, size_t errlen);

/* Codec tables (models/<model>.codec.json, written by coinfer-codec-tables). When
 * m is not NULL the table must name m and its layers. */
int cost_codec_table_parse(const char *text, size_t len, const char *what, const struct cr_model *m,
			  struct cost_codec_table *out, char *err, size_t errlen);
int cost_codec_table_load(const char *path, const struct cr_model *m, struct cost_codec_table *out,
			 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
