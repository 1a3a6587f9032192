/* coinfer-fleet: runs a fleet file against an appliance and says whether the
 * SLO file's objectives were met (docs/fleet.md; the JSON: docs/fleet-json.md).
 * Exit status: 0 every objective met, 1 one missed, 2 bad usage or configuration,
 * 3 the edge was never reached. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "fleet.h"

#define PROG "coinfer-fleet"

static int parse_edge(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		      size_t errlen)
{
	struct fl_opts *f = opts;
	if (!strcmp(o->name, "edge-udp"))
		return cli_arg_hostport(o->name, arg, f->udp_host, sizeof(f->udp_host),
					&f->udp_port, err, errlen);
	return cli_arg_hostport(o->name, arg, f->host, sizeof(f->host), &f->port, err, errlen);
}

static const char *const policies[] = {"edge", "local", "flags", NULL};

#define F(f) CLI_FIELD(struct fl_opts, f)
static const struct cli_opt opts[] = {
	{.name = "fleet", .kind = CLI_STRING, F(fleet_path), .arg = "FILE",
	 .help = "the fleet file (docs/config.md), required"},
	{.name = "edge", .kind = CLI_CUSTOM, .parse = parse_edge, .arg = "HOST:PORT",
	 .help = "the appliance, required", .dflt = ""},
	{.name = "edge-udp", .kind = CLI_CUSTOM, .parse = parse_edge, .arg = "HOST:PORT",
	 .help = "the appliance of the udp groups (an appliance serves one\n"
		 "transport)", .dflt = "--edge"},
	{.name = "duration", .kind = CLI_DOUBLE, F(duration_s), .lo = 0.1, .hi = 86400, .arg = "S",
	 .help = "seconds of requests started (the answers to the last are awaited)"},
	{.name = "warmup", .kind = CLI_DOUBLE, F(warmup_s), .lo = 0, .hi = 86400, .arg = "S",
	 .help = "requests scheduled in the first S seconds are not measured"},
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "FILE",
	 .help = "the run JSON (docs/fleet-json.md)", .dflt = "none"},
	{.name = "csv", .kind = CLI_STRING, F(csv), .arg = "FILE",
	 .help = "one line per measured request", .dflt = "none"},
	{.name = "max-records", .kind = CLI_INT, F(max_records), .lo = 0, .hi = 1e9, .arg = "N",
	 .help = "the JSON's records at most (records.truncated says when more ran)"},
	{.name = "key-file", .kind = CLI_STRING, F(key_file), .arg = "FILE",
	 .help = "device keys (coinfer-keys): the devices are numbered from 1 in the\n"
		 "fleet file's order", .dflt = "none"},
	{.name = "policy", .kind = CLI_CHOICE, F(policy), .choices = policies, .arg = "NAME",
	 .help = "edge: the appliance's policy for the class (DECIDE); local: the\n"
		 "class's models/<model>.<class>.sacd.policy on each device; flags:\n"
		 "the agents' fixed action (exit 3, partition 8, 8 bits)"},
	CLI_OPT_MODEL(struct fl_opts, model),
	CLI_OPT_DATA(struct fl_opts, data),
	CLI_OPT_ROOT(struct fl_opts, root),
	{.name = "threads", .kind = CLI_INT, F(threads), .lo = 1, .hi = 1024, .arg = "N",
	 .help = "agent threads in all, shared by the groups (at least one each)"},
	{.name = "json", .kind = CLI_FLAG, F(json),
	 .help = "the run JSON on stdout, not the summary"},
	{.name = "quiet", .kind = CLI_FLAG, F(quiet), .help = "no progress line on stderr"},
	{.name = "netns", .kind = CLI_FLAG, F(netns),
	 .help = "real shaping: each device in a network namespace of its own\n"
		 "behind a veth pair whose tbf rate follows its trace (root; the\n"
		 "appliance must listen on 0.0.0.0; --edge gives only the port)"},
};
#undef F

static const struct cli_prog prog = {
	.name = PROG,
	.head = "usage: coinfer-fleet --fleet FILE --edge HOST:PORT [options]\n"
		"Runs a fleet file's emulated devices against an appliance, each paced by its\n"
		"own bandwidth trace, and checks the SLO file's objectives (docs/fleet.md).\n"
		"Exit status: 0 all met, 1 one missed, 2 bad usage or configuration, 3 the\n"
		"edge never reached.\n"
		"\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct fl_opts)};

static void opts_defaults(struct fl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->duration_s = 60;
	o->warmup_s = 5;
	o->threads = 2;
	o->max_records = 200000;
	o->root = cli_default_root();
}

/* argv as one line, for the JSON's meta. */
static void command_line(int argc, char **argv, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (int i = 0; i < argc && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

/* The fleet file with its SLO file; 0, or 2 with the loader's "FILE:LINE: KEY: ..." said. */
static int load_fleet(const struct fl_opts *o, struct cfg_fleet *f)
{
	char err[1024], devices[4096];
	snprintf(devices, sizeof(devices), "%s/conf/devices", o->root);
	struct cfg_fleet_paths p = {.traces = cli_traces_default_dir(), .devices = devices};
	if (cfg_fleet_load(o->fleet_path, &p, f, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fl_opts o;
	struct cfg_fleet fleet = {0};
	struct fl_result res = {0};
	char err[1024];
	opts_defaults(&o);
	int ret = cli_args(&prog, &o, argc, argv);
	if (ret != CLI_GO)
		return ret;
	if (!o.fleet_path || !o.port) {
		fprintf(stderr, PROG ": --fleet FILE and --edge HOST:PORT are required\n");
		return 2;
	}
	if (!(o.warmup_s < o.duration_s)) {
		fprintf(stderr, PROG ": --warmup %g leaves nothing of --duration %g to measure\n",
			o.warmup_s, o.duration_s);
		return 2;
	}
	command_line(argc, argv, o.command, sizeof(o.command));
	if ((ret = load_fleet(&o, &fleet)))
		return ret;
	if (fl_run(&fleet, &o, &res, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 2;
	} else if ((ret = fl_report(&res, err, sizeof(err))) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 2;
	}
	fl_result_free(&res);
	cfg_fleet_free(&fleet);
	return ret;
}
