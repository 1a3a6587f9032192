/* The appliance's settings: built-in defaults, then a YAML file (--config FILE),
 * then command-line flags, each step overriding the one before.
 *
 * One table (ap_config_opts) names every setting once: its YAML key, its flag
 * (the key with '-' for '_'), its type, its range and its line in the usage. The
 * file and the flags both hand their values to the same setter as text, so a
 * value is parsed and range-checked by one piece of code wherever it came from,
 * and an error names where it came from (file:line: key, or --flag). The flags
 * go through the programs' option parser (coinfer/cli.h), given a table made
 * from this one, which also prints the usage with the built-in defaults. This
 * table stays the appliance's own: the YAML schema is built from it, and its
 * messages (file:line: key: 0 is out of range (1..1024)) name a file's lines. */
#ifndef COINFER_APPLIANCE_CONFIG_H
#define COINFER_APPLIANCE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "server.h"

#define AP_CONFIG_MAX_POLICIES 64
#define AP_CONFIG_MAX_BYTES (1u << 20) /* a larger file is not a config file */

struct ap_config {
	/* server.policies/n_policies stay empty here: the caller loads the files
	 * of policy[] and fills them in */
	struct ap_server_config server;
	const char *model;           /* NULL: the bundled model */
	const char *policy[AP_CONFIG_MAX_POLICIES];
	int n_policy;
	double run_seconds;          /* 0: until SIGINT/SIGTERM */
	const char *metrics_host;
	int metrics_port;            /* -1: no metrics endpoint; 0: any free port */
	const char *config;          /* the --config file applied, NULL: none */
	const char *slo;             /* an SLO file (conf/slo/): the caller loads it */
	/* strings read from files, owned until ap_config_free */
	char **owned;
	int n_owned;
};

enum ap_config_type {
	AP_CFG_INT,     /* a decimal integer stored in an int, uint32_t or uint64_t */
	AP_CFG_BOOL,    /* true/false in the file; --key and --no-key as flags */
	AP_CFG_STR,
	AP_CFG_STRS,    /* a list in the file; the flag repeats */
	AP_CFG_SECONDS, /* a decimal number */
	AP_CFG_CHOICE,  /* one of .choices: its index, in an int */
	AP_CFG_FAULTS,  /* drop=P,dup=P,reorder=P,seed=N (cli_arg_faults), or none */
	AP_CFG_INTS,    /* a list in the file, comma-separated as a flag (which repeats):
			 * integers in .lo..hi into an int array, at most .size of them */
};

struct ap_config_opt {
	const char *key;   /* YAML key */
	const char *flag;  /* long option without "--" (and without "no-" for a bool) */
	enum ap_config_type type;
	size_t off;        /* of the value in struct ap_config */
	size_t size;       /* of an AP_CFG_INT's field; AP_CFG_INTS: its capacity */
	size_t count_off;  /* AP_CFG_STRS, AP_CFG_INTS: of its count */
	long long lo, hi;  /* inclusive range of an AP_CFG_INT or AP_CFG_SECONDS */
	int invert;        /* AP_CFG_BOOL stored negated (buf_ring sets no_buf_ring) */
	int nullable;      /* AP_CFG_STR: `null` gives NULL (the default) */
	const char *arg;   /* the flag's argument in the usage ("N" when NULL) */
	const char *help;  /* the flag's text in the usage */
	const char *dflt;  /* the default in the usage, where the value does not say it */
	const char *const *choices; /* AP_CFG_CHOICE: the names, NULL-terminated */
};

/* The settings table, n entries. */
const struct ap_config_opt *ap_config_opts(int *n);

void ap_config_defaults(struct ap_config *c);
void ap_config_free(struct ap_config *c);

/* Applies a YAML file (the text of one, named name in messages) on top of c.
 * Every key of the file must be a setting; a missing file, an empty one, YAML
 * that does not parse, an unknown key, a value of the wrong type or out of range
 * is -EINVAL (-errno for the file itself) with a message naming the file, the
 * line where known, and the key. c may be half-applied after an error. */
int ap_config_load(struct ap_config *c, const char *path, char *err, size_t errlen);
int ap_config_load_text(struct ap_config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen);

/* Sets one setting from text (a flag's argument, a file's scalar): parsed and
 * range-checked. where names it in a message ("--max-batch", "f.yaml:3: max_batch"). */
int ap_config_set(struct ap_config *c, const struct ap_config_opt *o, const char *value,
		  const char *where, char *err, size_t errlen);

/* The checks that involve more than one setting or the build (frame sizes, a
 * power-of-two ring, numeric addresses, metrics built in). */
int ap_config_check(const struct ap_config *c, char *err, size_t errlen);

/* Does setting o hold different values in a and b? (Strings by content, lists
 * item by item: a reload's list of what changed.) */
int ap_config_differs(const struct ap_config *a, const struct ap_config *b,
		      const struct ap_config_opt *o);

#define AP_CONFIG_HELP 1
/* The command line: --config FILE first (at most one), then every other flag
 * on top, then ap_config_check. 0, AP_CONFIG_HELP for --help, or -EINVAL with a
 * message. argv's strings are borrowed, not copied. */
int ap_config_args(struct ap_config *c, int argc, char **argv, char *err, size_t errlen);
/* The usage: head, every flag with its built-in default, --config, --help, tail. */
void ap_config_usage(FILE *f, const char *head, const char *tail);

#endif
