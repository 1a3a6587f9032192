/* Shared command-line pieces of coinfer-policy's subcommands: number and list
 * parsing with messages naming the option, the repository root, JSON printing,
 * model loading. Each prints its own error to stderr. */
#ifndef COINFER_TOOLS_POLICY_CLI_H
#define COINFER_TOOLS_POLICY_CLI_H

#include <cjson/cJSON.h>

#include "coinfer/cli.h"
#include "coinfer/model.h"
#include "coinfer/cost.h"
#include "coinfer/sim.h"

#define PROG "coinfer-policy"

/* A number in [lo, hi]; -EINVAL with a message otherwise. */
int cli_parse_num(const char *opt, const char *s, double lo, double hi, double *out);
/* "1,2,4" into at most max ints within [lo, hi]. */
int cli_parse_list(const char *opt, const char *s, int lo, int hi, int *out, int max, int *n);
/* "a:b:n": n values from a to b inclusive. */
int cli_parse_sweep(const char *opt, const char *s, double *a, double *b, int *n);
/* Prints root to stdout; 0, or 1 when out of memory. */
int cli_print_json(cJSON *root);
/* path NULL: the bundled model. NULL on failure (message printed). */
struct cr_model *cli_load_model(const char *path);

/* What eval and train run on: the SLO file (optional), the traces, the model and
 * its cost model for a device and an edge class. */
struct cli_world {
	struct sim_slo slo[SIM_SLO_MAX];
	int n_slo;
	struct sim_trace_set ts;
	struct cr_model *m;
	struct cost_model *cm;
	const char *traces_dir; /* as loaded (the default filled in) */
	const char *root;
};

/* traces_dir NULL or empty: $COINFER_TRACES, else ../shared/data/traces beside
 * the source tree; root NULL: cli_default_root(). Prints what failed; 0 or -1.
 * Free with cli_world_free whatever it returned. */
int cli_world_load(struct cli_world *w, const char *traces_dir, const char *slo_path,
		   const char *model_path, const char *root, const char *device, const char *edge,
		   const char *codec);
void cli_world_free(struct cli_world *w);
/* sim_env_defaults() with the world's SLO list (when there is one). */
struct sim_env_cfg cli_world_env(const struct cli_world *w);
#endif
