/* coinfer-appliance: the edge server. Loads the model, listens, serves devices
 * until SIGINT/SIGTERM, then prints its counters as JSON. SIGHUP reloads the
 * settings (docs/appliance.md, "Reload"). */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/errmsg.h"
#include "coinfer/model.h"
#include "coinfer/cost-profile.h"
#include "coinfer/policy.h"
#include "coinfer/slo.h"
#include "config.h"
#include "procstat.h"
#include "server.h"
#include "udp.h"
#if COINFER_DPDK
#include "dpdk.h"
#endif
#if COINFER_METRICS
#include "metrics.h"
#endif

static void usage(FILE *f)
{
	ap_config_usage(f,
			"usage: coinfer-appliance [options]\n"
			"       coinfer-appliance profile [options]   (coinfer-appliance profile --help)\n"
			"Serves split inference requests of device agents over TCP or UDP (io_uring),\n"
			"or UDP on a DPDK port.\n"
			"`profile` measures the edge's per-layer latency table at batches 1..32 and\n"
			"prints the profile JSON of its class (docs/cost-model.md).\n",
			"Without a policy for its class, a device's DECIDE is answered ERROR unsupported.\n");
}

/* The edge batches requests: its profile covers the scheduler's batch sizes. */
static int profile_main(int argc, char **argv)
{
	static const int batches[] = {1, 2, 4, 8, 16, 32};
	const struct cli_profile_cmd c = {"coinfer-appliance", "the edge's", batches, 6};
	return cli_profile_main(argc, argv, &c);
}

/* The policies of --policy, one per device class: 0, or -1 with the error in
 * err and *loaded of them to free. */
static int read_policies(const struct ap_config *conf, struct pol_policy **policy, int *loaded,
			 char *err, size_t errlen)
{
	char why[400];
	for (*loaded = 0; *loaded < conf->n_policy; ++*loaded) {
		const char *path = conf->policy[*loaded];
		if (pol_load(path, &policy[*loaded], why, sizeof(why)))
			return cf_fail(-1, err, errlen, "policy %s", why);
		for (int j = 0; j < *loaded; j++)
			if (!strcmp(policy[j]->device_class, policy[*loaded]->device_class)) {
				++*loaded;
				return cf_fail(-1, err, errlen, "--policy %s: a second policy for "
					       "device class %s (--policy %s is one); give one per "
					       "class", path, policy[*loaded - 1]->device_class,
					       conf->policy[j]);
			}
	}
	return 0;
}

static int load_policies(const struct ap_config *conf, struct pol_policy **policy, int *loaded)
{
	char err[600];
	if (!read_policies(conf, policy, loaded, err, sizeof(err)))
		return 0;
	fprintf(stderr, "coinfer-appliance: %s\n", err);
	return -1;
}

/* The start-up line; file paths are the user's own words: printed only when
 * JSON-safe. */
static void print_listening(const struct ap_config *conf, const struct ap_server *s,
			    const struct cr_model *m, struct pol_policy *const *policy,
			    const char *metrics_url, long long je_started)
{
	const struct ap_server_config *cfg = &conf->server;
	printf("{\"event\": \"listening\", \"transport\": \"%s\", \"host\": \"%s\", "
	       "\"port\": %d, \"workers\": %d, "
	       "\"rx\": \"%s\", \"model\": \"%s\", \"null_model\": %s, \"join\": %s, "
	       "\"max_batch\": %d, \"max_delay_us\": %llu, \"jemalloc_allocated_bytes\": %lld, "
	       "\"peak_rss_kb\": %ld, \"metrics\": %s, \"policies\": [",
	       ap_server_transport(s), cfg->host, ap_server_port(s), cfg->workers,
	       ap_server_rx_mode(s), m->name,
	       cfg->null_model ? "true" : "false", cfg->join ? "true" : "false", cfg->max_batch,
	       (unsigned long long)cfg->max_delay_us, je_started, ap_proc_peak_rss_kb(),
	       *metrics_url ? metrics_url : "null");
	for (int i = 0; i < conf->n_policy; i++) {
		const char *f = conf->policy[i];
		int plain = !strpbrk(f, "\"\\");
		for (const char *q = f; plain && *q; q++)
			plain = *q >= 0x20 && *q < 0x7f;
		printf("%s{\"class\": \"%s\", \"algo\": \"%s\", \"actions\": %d, \"file\": %s%s%s}",
		       i ? ", " : "", policy[i]->device_class,
		       policy[i]->algo == POL_ALGO_SACD ? "sacd" : "dqn", policy[i]->n_actions,
		       plain ? "\"" : "", plain ? f : "null", plain ? "\"" : "");
	}
	printf("]}\n");
	fflush(stdout);
}

/* How serving ended: the signal, the CPU time and the heap up to it (jemalloc's
 * bytes before the server, once started, at the signal). */
struct ending {
	int sig, stuck;
	double cpu_s;
	long long je_before, je_started, je_at_stop;
	const char *transport;
	struct ap_udp_counts dg; /* udp and dpdk */
	struct ap_stop_report stop;
};

/* The datagram counters as one JSON object (before the line's closing brace). */
static void print_datagrams(const struct ap_udp_counts *dg)
{
	const char *sep = "";
	printf(", \"datagrams\": {");
#define FIELD(f, kind, help)                                                                   \
	printf("%s\"%s\": %llu", sep, #f, (unsigned long long)dg->f);                            \
	sep = ", ";
	AP_UDP_COUNTERS(FIELD)
#undef FIELD
	printf("}");
}

static void print_stopped(const struct ap_stats *st, const struct ending *e)
{
	printf("{\"event\": \"stopped\", \"transport\": \"%s\", ", e->transport);
	printf("\"signal\": \"%s\", \"clean\": %s, \"accepted\": %llu, \"closed\": %llu, "
	       "\"requests\": %llu, \"results\": %llu, \"errors\": %llu, \"busy\": %llu, "
	       "\"expired\": %llu, \"bad_frames\": %llu, \"protocol_errors\": %llu, \"batches\": %llu, "
	       "\"mean_batch\": %.2f, \"decisions\": %llu, \"suggestions\": %llu, "
	       "\"bytes_in\": %llu, \"bytes_out\": %llu, \"cpu_s\": %.3f, "
	       "\"jemalloc_allocated_bytes\": {\"before_start\": %lld, \"started\": %lld, "
	       "\"at_stop\": %lld, \"after_stop\": %lld}, \"peak_rss_kb\": %ld",
	       e->sig == SIGALRM ? "timer" : strsignal(e->sig), e->stuck ? "false" : "true",
	       (unsigned long long)st->accepted,
	       (unsigned long long)st->closed, (unsigned long long)st->requests,
	       (unsigned long long)st->results, (unsigned long long)st->errors,
	       (unsigned long long)st->busy, (unsigned long long)st->expired,
	       (unsigned long long)st->bad_frames, (unsigned long long)st->protocol_errors,
	       (unsigned long long)st->batches,
	       st->batches ? (double)st->batch_images / (double)st->batches : 0.0,
	       (unsigned long long)st->decisions, (unsigned long long)st->suggestions,
	       (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out, e->cpu_s,
	       e->je_before, e->je_started, e->je_at_stop, ap_proc_jemalloc_bytes(), ap_proc_peak_rss_kb());
	if (strcmp(e->transport, "tcp"))
		print_datagrams(&e->dg);
	if (e->stop.dpdk) {
		const struct ap_stop_report *r = &e->stop;
		printf(", \"dpdk\": {\"mbufs_in_use_at_stop\": %d, \"rx_frames\": %llu, "
		       "\"tx_frames\": %llu, \"tx_dropped\": %llu, \"tx_nombuf\": %llu, "
		       "\"tx_too_big\": %llu, \"arp_replies\": %llu, \"rx_not_ours\": %llu}",
		       r->mbufs_in_use, (unsigned long long)r->rx_frames,
		       (unsigned long long)r->tx_frames, (unsigned long long)r->tx_dropped,
		       (unsigned long long)r->tx_nombuf, (unsigned long long)r->tx_too_big,
		       (unsigned long long)r->arp_replies, (unsigned long long)r->not_ours);
	}
	printf("}\n");
}

/* A reload: the command line again (so flags still override the --config file
 * read anew), against the settings started with and the live ones in force. */
struct reloader {
	int argc;
	char **argv;
	const struct ap_config *started;
	struct ap_live live;
};

/* The settings a running server takes (ap_server_set_live), by key. */
static const struct {
	const char *key;
	size_t off, size;
} live_fields[] = {
#define LIVE(f) {#f, offsetof(struct ap_live, f), sizeof(((struct ap_live *)0)->f)}
	LIVE(max_batch), LIVE(max_delay_us), LIVE(run_late), LIVE(idle_timeout_ms),
	{"policies", 0, 0}, /* always live: read again at every reload */
#undef LIVE
};
#define N_LIVE ((int)(sizeof(live_fields) / sizeof(live_fields[0])))

static int is_live(const char *key)
{
	for (int i = 0; i < N_LIVE; i++)
		if (!strcmp(key, live_fields[i].key))
			return 1;
	return 0;
}

/* An error message in JSON: it quotes the user's file names and values. */
static void print_json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* The reload line of a good configuration: the live settings that changed, and
 * the others that differ from the ones started with (not applied). */
static void print_reloaded(const struct reloader *r, const struct ap_config *next,
			   const struct ap_live *l, struct pol_policy *const *policy, int n_policy)
{
	int n, first = 1, over = next->server.max_batch > r->started->server.max_batch;
	const struct ap_config_opt *opts = ap_config_opts(&n);
	printf("{\"event\": \"reload\", \"ok\": true, \"changed\": [");
	for (int i = 0; i < N_LIVE; i++)
		if (memcmp((const char *)&r->live + live_fields[i].off,
			   (const char *)l + live_fields[i].off, live_fields[i].size)) {
			printf("%s\"%s\"", first ? "" : ", ", live_fields[i].key);
			first = 0;
		}
	printf("], \"needs_restart\": [%s", over ? "\"max_batch\"" : "");
	first = !over;
	for (int i = 0; i < n; i++)
		if (!is_live(opts[i].key) && ap_config_differs(next, r->started, &opts[i])) {
			printf("%s\"%s\"", first ? "" : ", ", opts[i].key);
			first = 0;
		}
	printf("], \"policies\": [");
	for (int i = 0; i < n_policy; i++) {
		printf("%s", i ? ", " : "");
		print_json_str(policy[i]->device_class);
	}
	printf("]}\n");
}

/* SIGHUP: a bad configuration changes nothing (the line says why); a good one
 * is applied where it can be live. */
static void reload(struct ap_server *s, struct reloader *r)
{
	struct ap_config next;
	struct ap_live l;
	struct pol_policy *policy[AP_CONFIG_MAX_POLICIES];
	char err[600];
	int loaded = 0;
	ap_config_defaults(&next);
	int ret = ap_config_args(&next, r->argc, r->argv, err, sizeof(err));
	/* the policy files are read again: a retrained policy is served at once */
	if (!ret)
		ret = read_policies(&next, policy, &loaded, err, sizeof(err));
	if (!ret) {
		ap_live_from(&next.server, &l);
		/* its buffers are sized at start: above that it waits for a restart */
		if (l.max_batch > r->started->server.max_batch)
			l.max_batch = r->live.max_batch;
		ret = ap_server_set_live(s, &l, policy, loaded, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "coinfer-appliance: reload: %s; still serving on the settings "
				"before\n", err);
		printf("{\"event\": \"reload\", \"ok\": false, \"error\": ");
		print_json_str(err);
		printf("}\n");
	} else {
		print_reloaded(r, &next, &l, policy, loaded);
		r->live = l;
	}
	fflush(stdout);
	for (int i = 0; i < loaded; i++) /* the server serves its own copies */
		pol_policy_free(policy[i]);
	ap_config_free(&next);
}

/* Signals go to sigwait here, not to the workers (they inherit the mask). */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGALRM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void arm_timer(double run_seconds)
{
	struct itimerval it = {.it_value = {.tv_sec = (long)run_seconds,
					    .tv_usec = (long)((run_seconds - (long)run_seconds) * 1e6)}};
	if (run_seconds > 0)
		setitimer(ITIMER_REAL, &it, NULL);
}

/* Serves until a signal (or --run-seconds): the exit status, 0 or 1; never
 * returns when a worker is stuck (it would run on the freed model). */
static int serve(struct ap_config *conf, const struct cr_model *m, struct pol_policy **policy,
		 int argc, char **argv)
{
	struct reloader r = {.argc = argc, .argv = argv, .started = conf};
	struct ap_server_config cfg = conf->server;
	struct ap_server *s;
	struct ap_stats st;
	struct ending e;
	char err[512], metrics_url[96] = "";
	sigset_t set;
	cfg.policies = policy;
	cfg.n_policies = conf->n_policy;
	if (!cfg.auth)
		fprintf(stderr, "coinfer-appliance: warning: auth: none serves any device "
				"that speaks the protocol; set auth: keys and keys: FILE "
				"(coinfer-keys)\n");
	block_signals(&set);
	e.je_before = ap_proc_jemalloc_bytes();
	if (ap_server_start(&cfg, m, &s, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s\n", err);
		return 1;
	}
#if COINFER_METRICS
	struct ap_metrics *metrics = NULL;
	if (conf->metrics_port >= 0) {
		if (ap_metrics_start(s, conf->metrics_host, conf->metrics_port, &metrics, err,
				     sizeof(err))) {
			fprintf(stderr, "coinfer-appliance: %s\n", err);
			ap_server_stop(s);
			return 1;
		}
		snprintf(metrics_url, sizeof(metrics_url), "\"http://%s:%d/metrics\"",
			 conf->metrics_host, ap_metrics_port(metrics));
	}
#endif
	e.je_started = ap_proc_jemalloc_bytes();
	if (!cfg.quiet)
		print_listening(conf, s, m, policy, metrics_url, e.je_started);
	arm_timer(conf->run_seconds);
	ap_live_from(&conf->server, &r.live);
	while (!sigwait(&set, &e.sig) && e.sig == SIGHUP)
		reload(s, &r);
	ap_server_stats(s, &st);
	ap_server_udp_stats(s, &e.dg);
	e.transport = ap_server_transport(s);
	e.cpu_s = cf_process_cpu_s();
	e.je_at_stop = ap_proc_jemalloc_bytes();
#if COINFER_METRICS
	ap_metrics_stop(metrics); /* it reads the server's counters */
#endif
	e.stuck = ap_server_stop_report(s, &e.stop);
#if COINFER_DPDK
	/* the EAL is the DPDK transport's too: its heap goes before after_stop */
	if (!e.stuck && ap_dpdk_eal_ready())
		ap_dpdk_eal_cleanup();
#endif
	print_stopped(&st, &e);
	if (e.stuck) {
		/* a worker still runs: freeing the model under it would crash it */
		fflush(stdout);
		_exit(3);
	}
	return 0;
}

/* The SLO file of `slo`, into the server's configuration: 0, or -1 (said). */
static int load_slo(struct ap_config *conf, struct cfg_slo *slo)
{
	char err[512];
	int n = 0;
	if (!conf->slo)
		return 0;
	if (cfg_slo_load(conf->slo, slo, &n, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: slo: %s\n", err);
		return -1;
	}
	conf->server.slo = slo;
	conf->server.n_slo = n;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return profile_main(argc - 1, argv + 1);
	struct ap_config conf;
	struct pol_policy *policy[AP_CONFIG_MAX_POLICIES];
	static struct cfg_slo slo[CFG_SLO_MAX];
	struct cr_model *m = NULL;
	char err[512];
	int ret = 1, loaded = 0;
	ap_config_defaults(&conf);
	switch (ap_config_args(&conf, argc, argv, err, sizeof(err))) {
	case 0:
		break;
	case AP_CONFIG_HELP:
		usage(stdout);
		ap_config_free(&conf);
		return 0;
	default:
		fprintf(stderr, "coinfer-appliance: %s\n", err);
		ap_config_free(&conf);
		return 2;
	}
	if (load_slo(&conf, slo)) {
		ret = 2;
		goto out;
	}
	if (cli_model_load(conf.model, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s\n", err);
		goto out;
	}
	if (!load_policies(&conf, policy, &loaded))
		ret = serve(&conf, m, policy, argc, argv);
out:
	for (int i = 0; i < loaded; i++)
		pol_policy_free(policy[i]);
	cr_model_free(m);
	ap_config_free(&conf);
#if COINFER_DPDK
	if (ap_dpdk_eal_ready())
		ap_dpdk_eal_cleanup();
#endif
	return ret;
}
