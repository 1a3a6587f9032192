/* What the programs' command lines share: where the bundled model and CIFAR-10
 * are found when no option names them (cli/paths.c, built into each program,
 * never into a library), and the `profile` command of coinfer-policy,
 * coinfer-agent and coinfer-appliance (cli/profile-cmd.c). */
#ifndef COINFER_CLI_H
#define COINFER_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/* The CIFAR-10 directory to use when none is given: $COINFER_CIFAR10, else the
 * first of ../shared/data/cifar10 and data/cifar10 (from the working directory,
 * then from the source tree) holding test_batch.bin. NULL when none does. */
const char *cli_cifar10_default_dir(void);
/* The bundled model: $COINFER_MODEL, else models/branchy-alexnet.cfm in the
 * working directory or the source tree. NULL when none exists. */
const char *cli_default_model_path(void);
/* The source tree this was built from (for its scripts: bench/, tools/). */
const char *cli_source_root(void);
/* The folder holding conf/ (device classes, SLO files): "." when run from the
 * source tree, else the tree this was built from. */
const char *cli_default_root(void);
/* Bandwidth traces: $COINFER_TRACES, else ../shared/data/traces beside the
 * source tree. */
const char *cli_traces_default_dir(void);

/* The `profile` command of coinfer-policy, coinfer-agent and coinfer-appliance:
 * one set of options (--help), one measurement, one file format; the programs
 * differ in their default batch sizes. */
struct cli_profile_cmd {
	const char *prog;              /* program name, for usage and messages */
	const char *what;              /* whose table, in the usage: "this device's" */
	const int *batches;            /* default batch sizes */
	int n_batches;
};
/* argv[0] is the command word ("profile"). Returns the exit status: 0, 1 when the
 * measurement or the writing failed, 2 for bad usage. */
int cli_profile_main(int argc, char **argv, const struct cli_profile_cmd *c);

#ifdef __cplusplus
}
#endif
#endif
