/* What the programs' command lines share: one option parser driven by a table
 * per program, whose usage text prints the defaults from the values themselves
 * (cli/options.c); the parsers of option arguments: integers, numbers, lists,
 * sweeps, HOST:PORT (cli/args.c); where the bundled model and CIFAR-10 are found
 * when no option names them (cli/paths.c, built into each program, never into a
 * library) and loading that model (cli/model.c); and the `profile` command of
 * coinfer-policy, coinfer-agent and coinfer-appliance (cli/profile-cmd.c). */
#ifndef COINFER_CLI_H
#define COINFER_CLI_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one option parser: a table per program --------------------------------------------
 *
 * A program keeps its options in one struct, whose values on entry are the
 * defaults, and describes them in a table of struct cli_opt: the long name, what
 * the field holds (the kind), where it is (CLI_FIELD), the range, one help line.
 * From the table come the getopt_long options, the parsing with range checks and
 * messages naming the option, and the usage text, whose defaults are printed
 * from the struct's values, so that the text cannot drift from the code. */

enum cli_kind {
	CLI_FLAG,   /* no argument: stores 1 in an int (0 with .invert) */
	CLI_INT,    /* a decimal integer in [lo, hi], in a field of 4 or 8 bytes (int,
		     * uint32_t, int64_t, uint64_t) */
	CLI_DOUBLE, /* a number in [lo, hi], in a double */
	CLI_STRING, /* the argument itself, borrowed from argv, in a const char * */
	CLI_LIST,   /* "1,2,4": 1 to .max integers in [lo, hi] into an int array, their
		     * count into the int at .count_off */
	CLI_CHOICE, /* one of .choices: its index, in an int */
	CLI_CUSTOM, /* an argument .parse takes; no field the usage can print */
	CLI_TEXT,   /* not an option: .help is a line of the usage (a heading) */
};

struct cli_opt;
/* Parses arg into the option struct opts (a CLI_FLAG's arg is "true", or "false"
 * for its --no- form). use counts the option's earlier uses on this command line
 * (a repeated option's first use can replace what a file set). 0 or -EINVAL (any
 * -errno) with a message that names the option. */
typedef int (*cli_parse_fn)(void *opts, const struct cli_opt *o, const char *arg, int use,
			    char *err, size_t errlen);
/* Writes the default, as the values in opts hold it, for the usage ("" for none). */
typedef void (*cli_show_fn)(const void *opts, const struct cli_opt *o, char *buf, size_t len);

struct cli_opt {
	const char *name;            /* long option without "--" */
	char short_name;             /* -x as well, or 0 */
	enum cli_kind kind;
	size_t off, size;            /* the field, in the option struct: CLI_FIELD */
	size_t count_off;            /* CLI_LIST: the int holding the count */
	int max;                     /* CLI_LIST: entries at most (the array's length) */
	double lo, hi;               /* CLI_INT, CLI_DOUBLE, a CLI_LIST's entries: inclusive */
	int invert;                  /* CLI_FLAG: stores 0 (--no-torch into .torch) */
	int negatable;               /* CLI_FLAG: --no-NAME stores the opposite */
	const char *const *choices;  /* CLI_CHOICE: the names, NULL-terminated */
	cli_parse_fn parse;          /* takes the argument instead of the kind's parser; the
				      * kind still says what the field holds, for the usage */
	cli_show_fn show;            /* the default from the values where the kind cannot say
				      * it (a CLI_CUSTOM's: HOST:PORT from a host and a port) */
	const void *data;            /* for parse and show */
	int early;                   /* applied before every other option, wherever it stands
				      * (--config FILE, which the other flags override) */
	const char *arg;             /* the argument's name in the usage ("N", "PATH") */
	const char *help;            /* the usage's text, '\n' continuing it; NULL: not listed
				      * (an alias that another option's text names) */
	const char *dflt;            /* the default as the usage says it, where the values do
				      * not (a NULL path: "the bundled model"); "": none shown */
};

#define CLI_FIELD(type, f) .off = offsetof(type, f), .size = sizeof(((type *)0)->f)
/* --model PATH and --data DIR, which most programs take, into const char * fields
 * left NULL for cli_default_model_path() and cli_cifar10_default_dir(). */
#define CLI_OPT_MODEL(type, f)                                                             \
	{.name = "model", .kind = CLI_STRING, CLI_FIELD(type, f), .arg = "PATH",             \
	 .help = "model file", .dflt = "the bundled models/branchy-alexnet.cfm"}
#define CLI_OPT_DATA(type, f)                                                              \
	{.name = "data", .kind = CLI_STRING, CLI_FIELD(type, f), .arg = "DIR",               \
	 .help = "CIFAR-10 binary directory", .dflt = "../shared/data/cifar10 or data/cifar10"}
/* --root DIR, where conf/ and models/ are, into a const char * field the program
 * sets to cli_default_root() beforehand: the usage prints the folder it would use. */
#define CLI_OPT_ROOT(type, f)                                                              \
	{.name = "root", .kind = CLI_STRING, CLI_FIELD(type, f), .arg = "DIR",               \
	 .help = "where conf/ and models/ are"}
#define CLI_N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define CLI_MAX_OPTS 128

struct cli_prog {
	const char *name;            /* in messages: "coinfer-eval", "coinfer-agent profile" */
	const char *head;            /* the usage before the options: "usage: ...\n" and what
				      * the program does */
	const char *tail;            /* after the options, or NULL */
	const struct cli_opt *opts;
	int n_opts;
	size_t size;                 /* of the option struct (its defaults are kept for
				      * --help) */
	/* Called between the early options and the others, or NULL: what the early
	 * ones named can be read there (a --config file, once a second --config has
	 * been refused, before the flags that override it). 0 or -errno with a
	 * message. */
	int (*early_done)(void *opts, char *err, size_t errlen);
};

#define CLI_HELP 1
/* Parses argv[1..argc) (argv[0] is the program or the command word) into opts:
 * the early options first, then early_done, then the others in order. Every
 * table has --help and -h besides its own. 0; CLI_HELP at --help (nothing
 * printed); -EINVAL for an unknown or ambiguous option, a missing or bad value,
 * a stray argument, with a message naming it (or the parse callback's error).
 * opts may be half-set after an error. */
int cli_parse(const struct cli_prog *p, void *opts, int argc, char **argv, char *err,
	      size_t errlen);
/* The usage: head, one line per option with its default from the values in
 * defaults (an option struct), --help, tail. */
void cli_usage(const struct cli_prog *p, const void *defaults, FILE *f);

#define CLI_GO (-1)
/* cli_parse for a main(): CLI_GO to go on, else the status to exit with: 0 after
 * the usage (the defaults as opts held them on entry) went to stdout for --help,
 * 2 after the message went to stderr as "NAME: message". */
int cli_args(const struct cli_prog *p, void *opts, int argc, char **argv);

/* ---- option arguments: each 0, or -EINVAL with a message naming --opt ------------------ */

/* A decimal integer in [lo, hi] (an optional '-', then digits only). */
int cli_arg_int(const char *opt, const char *s, long long lo, long long hi, long long *out,
		char *err, size_t errlen);
/* The same, unsigned, up to ULLONG_MAX (no sign at all). */
int cli_arg_uint(const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
		 unsigned long long *out, char *err, size_t errlen);
/* A number in [lo, hi] (strtod's forms; not 1e999, nan or trailing text). */
int cli_arg_double(const char *opt, const char *s, double lo, double hi, double *out, char *err,
		   size_t errlen);
/* "1,2,4": 1 to max integers in [lo, hi]. */
int cli_arg_ints(const char *opt, const char *s, int lo, int hi, int *out, int max, int *n,
		 char *err, size_t errlen);
/* "FROM:TO:COUNT": FROM and TO numbers in [lo, hi], COUNT an integer in [1, max_count]. */
int cli_arg_sweep(const char *opt, const char *s, double lo, double hi, int max_count,
		  double *from, double *to, int *count, char *err, size_t errlen);
/* "HOST:PORT" (the last ':' splits; "[v6]:PORT" loses its brackets), PORT in
 * [1, 65535]; host gets the name, which must fit in hostlen. */
int cli_arg_hostport(const char *opt, const char *s, char *host, size_t hostlen, int *port,
		     char *err, size_t errlen);
struct cw_fault_config;
/* "drop=P,dup=P,reorder=P,seed=N": any of them, each at most once, probabilities
 * in [0, 1]; what is not given is 0 (wire-faults.h). */
int cli_arg_faults(const char *opt, const char *s, struct cw_fault_config *c, char *err,
		   size_t errlen);

/* ---- where things are ------------------------------------------------------------------ */

/* A program run from its build tree takes the source tree's files (below: "the tree");
 * once installed (`meson install`) it takes the installed ones: the tree is then the
 * data folder (PREFIX/share/coinfer: models/, conf/devices/) and what a package cannot
 * ship lies in the state folder (/var/lib/coinfer: cifar10/, traces/). */

/* The CIFAR-10 directory to use when none is given: $COINFER_CIFAR10, else the
 * first of ../shared/data/cifar10 and data/cifar10 (from the working directory,
 * then from the source tree) holding test_batch.bin; installed, data/cifar10 or
 * the state folder's cifar10/. NULL when none does. */
const char *cli_cifar10_default_dir(void);
/* The bundled model: $COINFER_MODEL, else models/branchy-alexnet.cfm in the
 * working directory or the tree. NULL when none exists. */
const char *cli_default_model_path(void);
struct cr_model;
/* The model of --model, or with path NULL the bundled one (cli_default_model_path,
 * built into the program). 0, or -errno with a message: the file's, or that no
 * model was given and none was found. */
int cli_model_load(const char *path, struct cr_model **m, char *err, size_t errlen);
/* *dir as --data gave it, or when NULL the default (cli_cifar10_default_dir).
 * 0, or -ENOENT with a message that says how to get the data ("CIFAR-10 not
 * found: ...", which the integration scripts read as "skip"). */
int cli_data_dir(const char **dir, char *err, size_t errlen);
/* The source tree this was built from (for its scripts: bench/, tools/). */
const char *cli_source_root(void);
/* The folder holding conf/ (device classes, SLO files): "." when the working
 * directory has conf/devices, else the tree. */
const char *cli_default_root(void);
/* Bandwidth traces: $COINFER_TRACES, else ../shared/data/traces beside the
 * source tree; installed, the state folder's traces/. */
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
