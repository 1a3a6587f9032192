/* What coinfer-policy's commands share (prefix cp_): the world eval and train
 * run in (SLO file, traces, model and its cost model) with the options that name
 * it, the --bits list as a mask of the codec's bit widths, JSON on stdout. Each
 * prints its own error to stderr. */
#ifndef COINFER_TOOLS_POLICY_COMMON_H
#define COINFER_TOOLS_POLICY_COMMON_H

#include <cjson/cJSON.h>

#include "coinfer/cli.h"
#include "coinfer/model.h"
#include "coinfer/cost.h"
#include "coinfer/sim.h"

#define CP_PROG "coinfer-policy"

/* Prints root to stdout; 0, or 1 when out of memory. */
int cp_print_json(cJSON *root);

/* --bits LIST (--edgent-bits): bit widths of cf_action_bits into the unsigned
 * mask at the option's field, and back for the usage. */
int cp_parse_bits(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		  size_t errlen);
void cp_show_bits(const void *opts, const struct cli_opt *o, char *buf, size_t len);

/* --codec FILE: the codec table of the cost model, NULL for the model's own. */
#define CP_OPT_CODEC(type, f)                                                              \
	{.name = "codec", .kind = CLI_STRING, CLI_FIELD(type, f), .arg = "FILE",             \
	 .help = "codec table", .dflt = "ROOT/models/<model>.codec.json"}

/* What names the world eval and train run in; search, fit and figures name a
 * model and its cost model with some of these. */
struct cp_world_opts {
	const char *traces; /* "": cli_traces_default_dir() */
	const char *slo;    /* NULL: none */
	const char *device, *edge, *codec, *root, *model;
	int no_variants; /* the plain exits only: the baseline of a model's variants */
};
/* The defaults: the traces and the root found from here, device pi4-est, edge
 * edge-x86, the model's codec table, the bundled model. */
struct cp_world_opts cp_world_defaults(void);

/* The default of --slo: the environment's deadline, no energy budget. */
void cp_show_no_slo(const void *opts, const struct cli_opt *o, char *buf, size_t len);
/* The entries of a struct cp_world_opts w in the table of type. */
#define CP_WORLD_OPTS(type, w)                                                             \
	{.name = "traces", .kind = CLI_STRING, CLI_FIELD(type, w.traces), .arg = "DIR",      \
	 .help = "bandwidth traces: $COINFER_TRACES, else\n"                                 \
		 "../shared/data/traces next to the source tree"},                           \
	{.name = "slo", .kind = CLI_STRING, CLI_FIELD(type, w.slo), .arg = "FILE",           \
	 .help = "SLO file, YAML (docs/config.md); one app drawn per episode", .show = cp_show_no_slo},            \
	CP_COST_OPTS(type, w)
/* Those that name the model and its cost model (search's, without a default class). */
#define CP_COST_OPTS(type, w)                                                              \
	{.name = "device", .kind = CLI_STRING, CLI_FIELD(type, w.device), .arg = "CLASS",    \
	 .help = "device class"},                                                            \
	{.name = "edge", .kind = CLI_STRING, CLI_FIELD(type, w.edge), .arg = "CLASS",        \
	 .help = "edge class"},                                                              \
	CP_OPT_CODEC(type, w.codec), CLI_OPT_ROOT(type, w.root), CLI_OPT_MODEL(type, w.model),  \
	{.name = "no-variants", .kind = CLI_FLAG, CLI_FIELD(type, w.no_variants),            \
	 .help = "the plain exits' actions only: the model as if it had no\n"                \
		 "pruned or codec variants (what they are measured against)"}

/* What eval and train run on: the SLO file (optional), the traces, the model and
 * its cost model for a device and an edge class. */
struct cp_world {
	struct cfg_slo slo[CFG_SLO_MAX];
	int n_slo;
	struct sim_trace_set ts;
	struct cr_model *m;
	struct cost_model *cm;
	const char *traces_dir; /* as loaded (the default filled in) */
};

/* Prints what failed; 0, 2 for a bad SLO file (as for a bad option) or 1.
 * Free with cp_world_free whatever it returned. */
int cp_world_load(struct cp_world *w, const struct cp_world_opts *o);
void cp_world_free(struct cp_world *w);
/* sim_env_defaults() with the world's SLO list (when there is one). */
struct sim_env_cfg cp_world_env(const struct cp_world *w);
/* The model of --model (NULL: the bundled one) and its cost model for a device
 * and an edge class; prints what failed. 0, or the exit status: 2 for a bad
 * class file, 1 for the rest; *m and *cm to free either way. */
int cp_cost_load(const struct cp_world_opts *o, struct cr_model **m, struct cost_model **cm);
#endif
