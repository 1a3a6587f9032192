/* coinfer cost inputs: per-layer latency profiles of a device class, the seed 002
 * (Edgent) per-layer-type regression models, device classes and the codec table.
 * docs/cost-model.md documents the formulas and the file formats.
 *
 * Everything here is plain data, pure computation and the profile writer (it
 * builds in the aarch64 cross build); reading the JSON files is in policy-cost-io
 * (native builds only), declared at the end. Measuring a profile on this machine
 * is in coinfer_profile_run (runtime and CIFAR-10 reader; builds everywhere).
 * Functions return 0 or -errno and write what was wrong, naming the file and the
 * field, into err. */
#ifndef COINFER_POLICY_PROFILE_H
#define COINFER_POLICY_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coinfer/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define POL_MAX_EXITS 8
#define POL_MAX_POS 64     /* layers per exit */
#define POL_MAX_BATCHES 8
#define POL_NAME_LEN 64    /* device class names */
#define POL_PATH_LEN 512
#define POL_NBITS 4

/* The quantization bits of the action space, in index order; a bits mask has bit
 * i set for pol_bits[i]. */
extern const int pol_bits[POL_NBITS];
#define POL_BITS_ALL 0xFu
/* Index of b in pol_bits, or -1. */
int pol_bits_index(int b);

const char *pol_layer_type_name(enum cf_layer_type t);
int pol_layer_type_parse(const char *s, enum cf_layer_type *out);

/* ---- profiles -------------------------------------------------------------- */

enum pol_profile_source { POL_SOURCE_MEASURED = 1, POL_SOURCE_REGRESSION = 2, POL_SOURCE_SCALED = 3 };
const char *pol_profile_source_name(enum pol_profile_source s);

struct pol_profile_layer {
	int pos;
	char name[CF_NAME_LEN];
	enum cf_layer_type type;
	double in_bytes, out_bytes, flops;  /* per image (fp32 tensors) */
	double x1, x2;                      /* seed 002 Table I variables, per image */
	double mean_ms[POL_MAX_BATCHES];    /* one run of the whole batch, per batches[] */
	double p95_ms[POL_MAX_BATCHES];
};

struct pol_profile_exit {
	int n_layers;
	struct pol_profile_layer layers[POL_MAX_POS];
};

struct pol_profile {
	char device_class[POL_NAME_LEN];
	char model[24];
	uint64_t model_checksum;            /* cf_model.checksum of the model profiled */
	char isa[16];
	char clock[16];                     /* "wall" or "thread-cpu" (optional in files) */
	int threads;
	enum pol_profile_source source;
	int n_batches;
	int batches[POL_MAX_BATCHES];       /* ascending */
	int n_exits;
	struct pol_profile_exit exits[POL_MAX_EXITS]; /* exits[i] is exit i + 1 */
};

/* Fills every field but the times (zero) from model m: layer names, types,
 * sizes, FLOPs and Table I variables. -EINVAL when the model or the batch list
 * exceeds the limits above. */
int pol_profile_init(struct pol_profile *p, const struct cf_model *m, const char *device_class,
		     const int *batches, int n_batches, char *err, size_t errlen);
/* The profile describes model m: same checksum, exits and layers (name, type,
 * sizes). what names the profile in messages (a file name). */
int pol_profile_check_model(const struct pol_profile *p, const struct cf_model *m, const char *what,
			    char *err, size_t errlen);
/* Every time multiplied by factor (> 0); the source becomes "scaled". */
int pol_profile_scale(struct pol_profile *p, double factor);
/* Mean time of layer L for a batch of n images (n >= 1, need not be listed):
 * linear between listed batches, the smallest listed batch's time below it, the
 * largest listed batch's time per image times n above it. */
double pol_profile_layer_ms(const struct pol_profile *p, const struct pol_profile_layer *L,
			    double n);

/* The profile file (docs/cost-model.md) with stdio alone; pol_profile_parse
 * reads it back to the same values, bit for bit. */
int pol_profile_write(const struct pol_profile *p, FILE *f, char *err, size_t errlen);
/* Writes PATH.tmp then renames it over PATH. */
int pol_profile_save(const struct pol_profile *p, const char *path, char *err, size_t errlen);

/* ---- measuring a profile (coinfer_profile_run) ------------------------------------ */

struct ck_kernels;

struct pol_profile_opts {
	const char *device_class;      /* NULL: "local-ISA" */
	int batches[POL_MAX_BATCHES];  /* ascending */
	int n_batches;
	int runs;                      /* timed runs, CF_PROFILE_MIN_RUNS..CF_PROFILE_MAX_RUNS */
	int warmup;                    /* untimed runs first, >= 0 */
	int cpu_clock;                 /* the thread's CPU time instead of wall time */
	int only_exit;                 /* 1-based: that exit alone (a partial profile); 0: all */
	const char *data_dir;          /* CIFAR-10 binary directory; NULL: cf_cifar10_default_dir() */
	FILE *progress;                /* per exit and batch, layers' sum against the whole exit; NULL: quiet */
};

/* Measures every layer of every exit of model m with kernels k (NULL: the best
 * here) on a normalised CIFAR-10 test batch (coinfer/profile.h) into out: the
 * mean and p95 of o->runs timed runs per layer and batch size. With only_exit the
 * profile lists that exit alone (as exit 1). -ENOENT without CIFAR-10, -EINVAL
 * for options out of range, -ENOMEM. */
int pol_profile_measure(const struct cf_model *m, const struct ck_kernels *k,
			const struct pol_profile_opts *o, struct pol_profile *out, char *err,
			size_t errlen);

/* The `profile` command of coinfer-policy, coinfer-agent and coinfer-appliance:
 * one set of options (--help), one measurement, one file format; the programs
 * differ in their default batch sizes. */
struct pol_profile_cmd {
	const char *prog;              /* program name, for usage and messages */
	const char *what;              /* whose table, in the usage: "this device's" */
	const int *batches;            /* default batch sizes */
	int n_batches;
};
/* argv[0] is the command word ("profile"). Returns the exit status: 0, 1 when the
 * measurement or the writing failed, 2 for bad usage. */
int pol_profile_main(int argc, char **argv, const struct pol_profile_cmd *c);

/* ---- seed 002 regression models --------------------------------------------- */

/* Layer-type groups of seed 002 Table I. Max and average pooling share the
 * pooling model; flatten uses the dropout model (both move data and compute
 * nothing). */
enum pol_reg_kind {
	POL_REG_CONV, POL_REG_RELU, POL_REG_POOL, POL_REG_LRN, POL_REG_DROPOUT, POL_REG_FC,
	POL_REG_KINDS
};
const char *pol_reg_kind_name(enum pol_reg_kind k);
enum pol_reg_kind pol_reg_kind_of(enum cf_layer_type t);
/* Table I variables that a kind uses (1 or 2). */
int pol_reg_kind_vars(enum pol_reg_kind k);

/* y_ms = c1 * x1 + c2 * x2 + c0; x in bytes as Table II. */
struct pol_reg_line {
	double c1, c2, c0;
	int nvar;        /* variables fitted (x2 is dropped when it is collinear with x1) */
	int n;           /* points fitted (0 for built-in models) */
	double r2;       /* coefficient of determination (NaN for built-in models) */
	int present;
};

struct pol_regression {
	char name[POL_NAME_LEN];
	struct pol_reg_line line[POL_REG_KINDS];
};

/* Least squares with an intercept: x holds n rows of k variables (row-major), coef
 * receives k slopes then the intercept, *r2 the coefficient of determination (1
 * when y is constant and fitted exactly). Householder QR in double on columns
 * scaled to unit norm. -EINVAL for n < k + 1 or non-finite input, -EDOM when the
 * columns (with the intercept) are linearly dependent. Allocates nothing (k <= 4,
 * n <= POL_LSQ_MAX_ROWS). */
#define POL_LSQ_MAX_ROWS 4096
int pol_lsq(const double *x, const double *y, int n, int k, double *coef, double *r2);

/* Fits every layer kind present in profile p at batch index bi over the distinct
 * layers (by name; the trunk appears in every exit once). Variables are scaled by
 * the batch size (the data of the whole batch) except conv's x2, which describes
 * the filters. A kind with too few distinct points to fit is left absent and named
 * in note (may be NULL). */
int pol_regress_fit(const struct pol_profile *p, int bi, struct pol_regression *out, char *note,
		    size_t notelen, char *err, size_t errlen);
/* The seed 002 Table II models: "rpi3-edgent" and "pc-edgent" (see
 * docs/cost-model.md: the printed column headings are swapped, and these names
 * follow the evidence), and the printed columns as labelled,
 * "table2-mobile-column" and "table2-server-column". NULL for other names. */
const struct pol_regression *pol_regression_builtin(const char *name);
/* Predicted time of layer L for a batch of n images, clamped at 0 (a fitted
 * intercept can be negative: Table II's conv intercept is -9.909 ms). */
double pol_regress_predict(const struct pol_regression *r, const struct pol_profile_layer *L, int n);
/* Fills the times of an initialised profile from r (mean = p95); source becomes
 * "regression". -EINVAL when r lacks a kind the profile's layers need. */
int pol_profile_from_regression(struct pol_profile *p, const struct pol_regression *r, char *err,
				size_t errlen);

/* ---- device classes ---------------------------------------------------------- */

enum pol_class_source { POL_CLASS_FILE = 1, POL_CLASS_REGRESSION = 2, POL_CLASS_SCALE = 3 };

struct pol_codec_speed {
	/* per bits index; time = us_per_frame + ns_per_elem * elements */
	double enc_ns_per_elem[POL_NBITS], enc_us_per_frame[POL_NBITS];
	double dec_ns_per_elem[POL_NBITS], dec_us_per_frame[POL_NBITS];
};

struct pol_device_class {
	char name[POL_NAME_LEN];
	char role[16];                     /* "device", "edge" or "any" (informational) */
	enum pol_class_source source;
	char profile_path[POL_PATH_LEN];   /* POL_CLASS_FILE: relative to the repository */
	char regression[POL_NAME_LEN];     /* POL_CLASS_REGRESSION: a built-in model */
	char scale_of[POL_NAME_LEN];       /* POL_CLASS_SCALE: another class ... */
	double scale_factor;               /* ... whose times are multiplied by this */
	/* seed 000 eqs. 1-2 */
	double kappa;                      /* J / (cycle * Hz^2) */
	double f_hz;                       /* nominal CPU frequency */
	int cycles_from_profile;           /* C_i * D_i = f_hz * t_i (measured cycles) ... */
	double cycles_per_flop[8];         /* ... or C per cf_layer_type times the layer's FLOPs */
	double tx_power_w;
	double sinr_db;
	struct pol_codec_speed codec;
};

/* Class names are [A-Za-z0-9._-], 1..63 characters (they name files). */
int pol_class_name_ok(const char *name);

/* ---- codec tables ------------------------------------------------------------- */

struct pol_codec_table {
	char model[24];
	int images;
	int n_exits;
	int n_part[POL_MAX_EXITS];                          /* partitions p < N_e seen */
	double fp32_accuracy[POL_MAX_EXITS];
	double bytes[POL_MAX_EXITS][POL_MAX_POS][POL_NBITS]; /* < 0: no entry */
	double accuracy[POL_MAX_EXITS][POL_MAX_POS][POL_NBITS];
	char layer[POL_MAX_EXITS][POL_MAX_POS][CF_NAME_LEN];
};

/* ---- JSON files (native builds only: libcjson) ------------------------------ */

/* Profile files (docs/cost-model.md). parse reads text of len bytes; what names
 * it in messages. When m is not NULL the profile must describe m
 * (pol_profile_check_model): a profile of another model is refused. */
int pol_profile_parse(const char *text, size_t len, const char *what, const struct cf_model *m,
		      struct pol_profile *out, char *err, size_t errlen);
int pol_profile_load(const char *path, const struct cf_model *m, struct pol_profile *out, char *err,
		     size_t errlen);

/* Device class files: ROOT/conf/devices/NAME.json. */
int pol_class_parse(const char *text, size_t len, const char *what, struct pol_device_class *out,
		    char *err, size_t errlen);
/* -ENOENT for an unknown class, with the known ones listed in err. */
int pol_class_load(const char *root, const char *name, struct pol_device_class *out, char *err,
		   size_t errlen);
/* The class's profile for model m: its file (checked against m), the built-in
 * regression synthesised for m's layers, or the scaled profile of another class
 * (followed at most 4 deep). */
int pol_class_profile(const char *root, const struct pol_device_class *c, const struct cf_model *m,
		      struct pol_profile *out, char *err, size_t errlen);

/* Codec tables (models/<model>.codec.json, written by coinfer-codec-tables). When
 * m is not NULL the table must name m and its layers. */
int pol_codec_table_parse(const char *text, size_t len, const char *what, const struct cf_model *m,
			  struct pol_codec_table *out, char *err, size_t errlen);
int pol_codec_table_load(const char *path, const struct cf_model *m, struct pol_codec_table *out,
			 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
