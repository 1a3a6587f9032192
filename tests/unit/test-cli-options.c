/* The programs' option parser (cli/options.c) and argument parsers (cli/args.c):
 * every kind of option, ranges, bad numbers, unknown options and missing values
 * with messages naming them, early options, and the usage text with the
 * defaults printed from the values. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/wire-faults.h"

struct t_opts {
	int quick, torch, join;
	int runs;
	uint64_t seed;
	double seconds;
	const char *model, *out;
	int batches[4], n_batches;
	int clock;
	const char *config;
	int custom_uses[2];
	const char *custom_last;
	char host[64];
	int port;
};

static const char *const clocks[] = {"wall", "cpu", NULL};

static int custom(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		  size_t errlen)
{
	struct t_opts *t = opts;
	if (!strcmp(arg, "bad"))
		return snprintf(err, errlen, "--%s: bad", o->name), -EINVAL;
	t->custom_uses[use > 1 ? 1 : use]++;
	t->custom_last = arg;
	return 0;
}

static int edge(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		size_t errlen)
{
	struct t_opts *t = opts;
	return cli_arg_hostport(o->name, arg, t->host, sizeof(t->host), &t->port, err, errlen);
}

static void show_edge(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct t_opts *t = opts;
	snprintf(buf, len, "%s:%d", t->host, t->port);
}

/* the early option sees the other options' values still at their defaults */
static int config(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		  size_t errlen)
{
	struct t_opts *t = opts;
	t->config = arg;
	t->runs = t->runs == 100 ? 7 : -1;
	return 0;
}

#define F(f) CLI_FIELD(struct t_opts, f)
static const struct cli_opt opts[] = {
	{.name = "quick", .short_name = 'q', .kind = CLI_FLAG, F(quick), .help = "short runs"},
	{.name = "no-torch", .kind = CLI_FLAG, F(torch), .invert = 1, .help = "skip PyTorch"},
	{.name = "join", .kind = CLI_FLAG, F(join), .negatable = 1, .help = "join batches"},
	{.kind = CLI_TEXT, .help = "measuring:"},
	{.name = "runs", .short_name = 'n', .kind = CLI_INT, F(runs), .lo = 3, .hi = 10000,
	 .help = "timed runs"},
	{.name = "seed", .kind = CLI_INT, F(seed), .lo = 0, .hi = 1e18, .help = "seed"},
	{.name = "seconds", .kind = CLI_DOUBLE, F(seconds), .lo = 0, .hi = 1e6, .arg = "S",
	 .help = "per point"},
	{.name = "model", .kind = CLI_STRING, F(model), .arg = "PATH", .help = "model file",
	 .dflt = "the bundled one"},
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "FILE",
	 .help = "write there\ninstead of stdout"},
	{.name = "batches", .kind = CLI_LIST, F(batches),
	 .count_off = offsetof(struct t_opts, n_batches), .max = 4, .lo = 1, .hi = 4096,
	 .help = "batch sizes"},
	{.name = "clock", .kind = CLI_CHOICE, F(clock), .choices = clocks, .arg = "C",
	 .help = "wall or cpu"},
	{.name = "thing", .kind = CLI_CUSTOM, .parse = custom, .help = "anything", .dflt = "none"},
	{.name = "edge-address", .kind = CLI_CUSTOM, .parse = edge, .show = show_edge,
	 .arg = "HOST:PORT", .help = "the appliance"},
	{.name = "config", .kind = CLI_STRING, F(config), .parse = config, .early = 1,
	 .arg = "FILE", .help = "settings"},
	{.name = "alias", .kind = CLI_INT, F(runs), .lo = 3, .hi = 10000},
};
static const struct cli_prog prog = {.name = "t-prog", .head = "usage: t-prog [options]\n",
				     .tail = "the end\n", .opts = opts, .n_opts = CLI_N(opts),
				     .size = sizeof(struct t_opts)};

static struct t_opts defaults(void)
{
	return (struct t_opts){.torch = 1, .join = 1, .runs = 100, .seed = 1, .seconds = 0.5,
			       .batches = {1, 8}, .n_batches = 2, .host = "127.0.0.1",
			       .port = 7878};
}

static char err[512];

/* argv from a NULL-terminated list; argv[0] is the program */
#define PARSE(t, ...) \
	parse(t, (const char *[]){"t-prog", __VA_ARGS__, NULL})
static int parse(struct t_opts *t, const char **words)
{
	static char *argv[32];
	int argc = 0;
	for (; words[argc]; argc++)
		argv[argc] = (char *)words[argc];
	argv[argc] = NULL;
	*t = defaults();
	err[0] = 0;
	return cli_parse(&prog, t, argc, argv, err, sizeof(err));
}

Test(cli_options, every_kind)
{
	struct t_opts t;
	cr_assert_eq(PARSE(&t, "--quick", "--no-torch", "--no-join", "--runs", "50", "--seed",
			   "1000000000000000000", "--seconds=2.5", "--model", "m.cfm", "--out", "",
			   "--batches", "1,2,4", "--clock", "cpu", "--thing", "a", "--thing", "b",
			   "--thing", "c"), 0, "%s", err);
	cr_assert_eq(t.quick, 1);
	cr_assert_eq(t.torch, 0);
	cr_assert_eq(t.join, 0);
	cr_assert_eq(t.runs, 50);
	cr_assert_eq(t.seed, 1000000000000000000ull);
	cr_assert_float_eq(t.seconds, 2.5, 0);
	cr_assert_str_eq(t.model, "m.cfm");
	cr_assert_str_eq(t.out, "");
	cr_assert_eq(t.n_batches, 3);
	cr_assert_eq(t.batches[2], 4);
	cr_assert_eq(t.clock, 1);
	cr_assert_eq(t.custom_uses[0], 1, "the first use is use 0");
	cr_assert_eq(t.custom_uses[1], 2);
	cr_assert_str_eq(t.custom_last, "c");
	cr_assert_eq(PARSE(&t, "--edge-address", "10.0.0.2:80"), 0, "%s", err);
	cr_assert(!strcmp(t.host, "10.0.0.2") && t.port == 80);
	cr_assert_eq(PARSE(&t, "--edge-address", "10.0.0.2"), -EINVAL);
	cr_assert_str_eq(err, "--edge-address needs HOST:PORT with PORT in [1, 65535], got "
			      "'10.0.0.2'");
	/* short names, the positive form of a negatable flag, an alias, abbreviations */
	cr_assert_eq(PARSE(&t, "-q", "-n", "7", "--join", "--alias", "9", "--sec", "1"), 0, "%s",
		     err);
	cr_assert(t.quick && t.join && t.runs == 9 && t.seconds == 1);
	cr_assert_eq(parse(&t, (const char *[]){"t-prog", NULL}), 0);
	cr_assert(!t.quick && t.torch && t.join && t.runs == 100 && !t.model);
}

Test(cli_options, ranges_and_bad_numbers)
{
	struct t_opts t;
	cr_assert_eq(PARSE(&t, "--runs", "3"), 0);
	cr_assert_eq(PARSE(&t, "--runs", "10000"), 0);
	cr_assert_eq(PARSE(&t, "--runs", "0"), -EINVAL);
	cr_assert_str_eq(err, "--runs needs an integer in [3, 10000], got '0'");
	cr_assert_eq(PARSE(&t, "-n", "10001"), -EINVAL);
	cr_assert_str_eq(err, "--runs needs an integer in [3, 10000], got '10001'");
	static const char *const bad_ints[] = {"3x", "", " 5", "+5", "5.0", "1e3", "-", "0x10",
					       "99999999999999999999", NULL};
	for (const char *const *b = bad_ints; *b; b++) {
		cr_assert_eq(PARSE(&t, "--runs", *b), -EINVAL, "'%s' accepted", *b);
		cr_assert_not_null(strstr(err, "--runs needs an integer"), "%s", err);
		cr_assert_eq(t.runs, 100, "'%s' changed the value", *b);
	}
	cr_assert_eq(PARSE(&t, "--seed", "1000000000000000001"), -EINVAL);
	cr_assert_eq(PARSE(&t, "--seconds", "1e6"), 0);
	cr_assert_eq(PARSE(&t, "--seconds", "-0.1"), -EINVAL);
	cr_assert_str_eq(err, "--seconds needs a number in [0, 1e+06], got '-0.1'");
	static const char *const bad_nums[] = {"1e999", "", "abc", "1.5s", " 1", "nan", "inf",
					       NULL};
	for (const char *const *b = bad_nums; *b; b++) {
		cr_assert_eq(PARSE(&t, "--seconds", *b), -EINVAL, "'%s' accepted", *b);
		cr_assert(strstr(err, "--seconds needs a number in [0, 1e+06]"), "%s", err);
	}
	static const char *const bad_lists[] = {"", "1,", ",1", "1,,2", "0", "1,2,3,4,5", "1;2",
						"8192", NULL};
	for (const char *const *b = bad_lists; *b; b++) {
		cr_assert_eq(PARSE(&t, "--batches", *b), -EINVAL, "'%s' accepted", *b);
		cr_assert(strstr(err, "--batches takes 1 to 4 comma-separated integers in "
				      "[1, 4096], got '"), "%s", err);
	}
	cr_assert_eq(PARSE(&t, "--clock", "gpu"), -EINVAL);
	cr_assert_str_eq(err, "--clock is wall or cpu, got 'gpu'");
	cr_assert_eq(PARSE(&t, "--thing", "bad"), -EINVAL);
	cr_assert_str_eq(err, "--thing: bad");
}

Test(cli_options, command_line_errors)
{
	struct t_opts t;
	cr_assert_eq(PARSE(&t, "--runz", "3"), -EINVAL);
	cr_assert_str_eq(err, "'--runz' is not an option (t-prog --help lists them)");
	cr_assert_eq(PARSE(&t, "-x"), -EINVAL);
	cr_assert_str_eq(err, "'-x' is not an option (t-prog --help lists them)");
	cr_assert_eq(PARSE(&t, "--runs"), -EINVAL);
	cr_assert_str_eq(err, "--runs needs a value");
	cr_assert_eq(PARSE(&t, "-n"), -EINVAL);
	cr_assert_str_eq(err, "-n needs a value");
	cr_assert_eq(PARSE(&t, "--config"), -EINVAL, "an early option's missing value");
	cr_assert_str_eq(err, "--config needs a value");
	cr_assert_eq(PARSE(&t, "--quick=1"), -EINVAL);
	cr_assert_str_eq(err, "--quick takes no value");
	cr_assert_eq(PARSE(&t, "--no-join=1"), -EINVAL);
	cr_assert_str_eq(err, "--no-join takes no value");
	cr_assert_eq(PARSE(&t, "--s", "1"), -EINVAL);
	cr_assert_str_eq(err, "'--s' is ambiguous: --seed, --seconds");
	cr_assert_eq(PARSE(&t, "--quick", "extra"), -EINVAL);
	cr_assert_str_eq(err, "unexpected argument 'extra'");
	cr_assert_eq(PARSE(&t, "--", "--quick"), -EINVAL);
	cr_assert_str_eq(err, "unexpected argument '--quick'");
	/* --help wins over what follows, not over what went before */
	cr_assert_eq(PARSE(&t, "--runs", "5", "--help", "--runs", "0"), CLI_HELP);
	cr_assert_eq(PARSE(&t, "-h"), CLI_HELP);
	cr_assert_eq(PARSE(&t, "--runs", "0", "--help"), -EINVAL);
}

Test(cli_options, early_options_come_first)
{
	struct t_opts t;
	cr_assert_eq(PARSE(&t, "--runs", "50", "--config", "c.yaml"), 0, "%s", err);
	cr_assert_str_eq(t.config, "c.yaml");
	cr_assert_eq(t.runs, 50, "the flag overrides what the early option set");
	cr_assert_eq(PARSE(&t, "--config", "c.yaml"), 0, "%s", err);
	cr_assert_eq(t.runs, 7, "the early option ran before the others");
	cr_assert_eq(PARSE(&t, "--bogus", "--config", "c.yaml"), -EINVAL);
	cr_assert_str_eq(err, "'--bogus' is not an option (t-prog --help lists them)");
}

/* early_done runs between the early options and the others */
static int config_read(void *opts, char *err, size_t errlen)
{
	struct t_opts *t = opts;
	if (t->config && !strcmp(t->config, "missing.yaml"))
		return snprintf(err, errlen, "config file missing.yaml: not there"), -ENOENT;
	t->seconds = t->config ? 9 : t->seconds;
	return 0;
}

Test(cli_options, early_done_runs_between_the_passes)
{
	struct cli_prog p = prog;
	struct t_opts t = defaults();
	char *argv[] = {"t-prog", "--seconds", "2", "--config", "c.yaml", NULL};
	char *missing[] = {"t-prog", "--bogus", "--config", "missing.yaml", NULL};
	p.early_done = config_read;
	cr_assert_eq(cli_parse(&p, &t, 5, argv, err, sizeof(err)), 0, "%s", err);
	cr_assert_float_eq(t.seconds, 2, 0, "the flag overrides what early_done set");
	t = defaults();
	cr_assert_eq(cli_parse(&p, &t, 3, argv, err, sizeof(err)), 0, "%s", err);
	cr_assert_float_eq(t.seconds, 2, 0);
	t = defaults();
	cr_assert_eq(cli_parse(&p, &t, 4, missing, err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "config file missing.yaml: not there");
}

static const char usage_text[] =
	"usage: t-prog [options]\n"
	"  -q, --quick         short runs\n"
	"      --no-torch      skip PyTorch\n"
	"      --[no-]join     join batches (default: on)\n"
	"measuring:\n"
	"  -n, --runs N        timed runs (default: 100)\n"
	"      --seed N        seed (default: 1)\n"
	"      --seconds S     per point (default: 0.5)\n"
	"      --model PATH    model file (default: the bundled one)\n"
	"      --out FILE      write there\n"
	"                      instead of stdout\n"
	"      --batches LIST  batch sizes (default: 1,8)\n"
	"      --clock C       wall or cpu (default: wall)\n"
	"      --thing ARG     anything (default: none)\n"
	"      --edge-address HOST:PORT\n"
	"                      the appliance (default: 127.0.0.1:7878)\n"
	"      --config FILE   settings\n"
	"  -h, --help          this text\n"
	"the end\n";

static char *usage_of(const void *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	cli_usage(&prog, d, f);
	fclose(f);
	return text;
}

Test(cli_options, usage_prints_the_defaults_from_the_values)
{
	struct t_opts t = defaults();
	char *text = usage_of(&t);
	cr_assert_str_eq(text, usage_text);
	free(text);
	/* other values, other defaults: nothing in the text is copied by hand */
	t.runs = 250, t.join = 0, t.batches[1] = 16, t.clock = 1, t.out = "o.json";
	text = usage_of(&t);
	cr_assert_not_null(strstr(text, "timed runs (default: 250)\n"), "%s", text);
	cr_assert_not_null(strstr(text, "join batches (default: off)\n"), "%s", text);
	cr_assert_not_null(strstr(text, "batch sizes (default: 1,16)\n"), "%s", text);
	cr_assert_not_null(strstr(text, "wall or cpu (default: cpu)\n"), "%s", text);
	cr_assert_not_null(strstr(text, "instead of stdout (default: o.json)\n"), "%s", text);
	t.port = 9000;
	free(text);
	text = usage_of(&t);
	cr_assert_not_null(strstr(text, "the appliance (default: 127.0.0.1:9000)\n"), "%s", text);
	free(text);
}

Test(cli_options, args_prints_help_and_errors_and_keeps_the_defaults)
{
	struct t_opts t = defaults();
	char *argv[] = {"t-prog", "--runs", "9", "--help", NULL};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len), *saved = stdout;
	stdout = f;
	int st = cli_args(&prog, &t, 4, argv);
	stdout = saved;
	fclose(f);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(out, usage_text, "the usage shows the defaults, not --runs 9");
	free(out);
	t = defaults();
	char *bad[] = {"t-prog", "--runs", "x", NULL};
	cr_assert_eq(cli_args(&prog, &t, 3, bad), 2);
	char *good[] = {"t-prog", "--runs", "5", NULL};
	cr_assert_eq(cli_args(&prog, &t, 3, good), CLI_GO);
	cr_assert_eq(t.runs, 5);
}

Test(cli_args, numbers_lists_sweeps_and_addresses)
{
	long long v;
	unsigned long long u;
	double a, b;
	int n, list[3];
	char host[16];
	int port;
	cr_assert_eq(cli_arg_int("x", "-12", -20, 20, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, -12);
	cr_assert_eq(cli_arg_uint("u", "18446744073709551615", 0, ~0ull, &u, err, sizeof(err)), 0);
	cr_assert_eq(u, ~0ull);
	cr_assert_eq(cli_arg_uint("u", "18446744073709551616", 0, ~0ull, &u, err, sizeof(err)),
		     -EINVAL, "overflow");
	cr_assert_eq(cli_arg_uint("u", "-1", 0, ~0ull, &u, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "--u needs an integer in [0, 18446744073709551615], got '-1'");
	cr_assert_eq(cli_arg_ints("bits", "4,8,16", 4, 16, list, 3, &n, err, sizeof(err)), 0);
	cr_assert(n == 3 && list[0] == 4 && list[2] == 16);
	cr_assert_eq(cli_arg_sweep("sweep", "1e6:5e7:20", 0, 1e12, 10000, &a, &b, &n, err,
				   sizeof(err)), 0, "%s", err);
	cr_assert(a == 1e6 && b == 5e7 && n == 20);
	static const char *const bad_sweeps[] = {"1:2", "1:2:0", "1:2:2.5", "a:2:3", "1:2:3:4",
						 "-1:2:3", NULL};
	for (const char *const *s = bad_sweeps; *s; s++) {
		int ret = cli_arg_sweep("sweep", *s, 0, 1e12, 10000, &a, &b, &n, err, sizeof(err));
		cr_assert_eq(ret, -EINVAL, "'%s' accepted", *s);
		cr_assert(strstr(err, "--sweep takes FROM:TO:COUNT, got '"), "%s", err);
	}
	cr_assert_eq(cli_arg_hostport("edge", "127.0.0.1:7878", host, sizeof(host), &port, err,
				      sizeof(err)), 0);
	cr_assert(!strcmp(host, "127.0.0.1") && port == 7878);
	cr_assert_eq(cli_arg_hostport("edge", "[::1]:80", host, sizeof(host), &port, err,
				      sizeof(err)), 0);
	cr_assert(!strcmp(host, "::1") && port == 80);
	static const char *const bad_addrs[] = {"host", ":80", "h:0", "h:65536", "h:8x", "h:",
						"a-very-long-host-name:80", NULL};
	for (const char *const *s = bad_addrs; *s; s++) {
		int ret = cli_arg_hostport("edge", *s, host, sizeof(host), &port, err, sizeof(err));
		cr_assert_eq(ret, -EINVAL, "'%s' accepted", *s);
		cr_assert(strstr(err, "--edge needs HOST:PORT with PORT in [1, 65535], got '"),
			  "%s", err);
	}
}

Test(cli, fault_specs)
{
	char err[256];
	struct cw_fault_config c;
	cr_assert_eq(cli_arg_faults("faults", "drop=0.05,dup=0.01,reorder=0.3,seed=18446744073709551615",
				    &c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.drop == 0.05 && c.dup == 0.01 && c.reorder == 0.3 && c.seed == UINT64_MAX);
	cr_assert_eq(cli_arg_faults("faults", "reorder=1", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.drop == 0 && c.dup == 0 && c.reorder == 1 && c.seed == 0);
	static const char *const bad[] = {"", "drop", "drop=", "drop=1.5", "drop=-0.1",
					  "drop=0.1,drop=0.2", "loss=0.1", "seed=-1", "seed=1.5",
					  "drop=0.1,,dup=0.1x", "drop=nan", NULL};
	for (const char *const *s = bad; *s; s++) {
		cr_assert_eq(cli_arg_faults("faults", *s, &c, err, sizeof(err)), -EINVAL,
			     "'%s' accepted", *s);
		cr_assert(strstr(err, "--faults takes drop=P,dup=P,reorder=P,seed=N"), "%s", err);
	}
}
