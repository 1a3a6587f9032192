/* coinfer-appliance: the edge server. Loads the model, listens, serves devices
 * until SIGINT/SIGTERM, then prints its counters as JSON. */
#include <errno.h>
#include <getopt.h>
#include <jemalloc/jemalloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include "coinfer/dataset.h"
#include "coinfer/model.h"
#include "coinfer/policy-profile.h"
#include "coinfer/policy-rl.h"
#include "server.h"

#define MAX_POLICIES 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coinfer-appliance [options]\n"
		"       coinfer-appliance profile [options]   (coinfer-appliance profile --help)\n"
		"Serves split inference requests of device agents over TCP (io_uring).\n"
		"`profile` measures the edge's per-layer latency table at batches 1..32 and\n"
		"prints the profile JSON of its class (docs/cost-model.md).\n"
		"  --model PATH          model file (default: the bundled one)\n"
		"  --host ADDR           IPv4 address to listen on (127.0.0.1)\n"
		"  --port N              TCP port, 0 = any (7878); the port is printed at start\n"
		"  --workers N           event loops, one per core (2)\n"
		"  --max-conns N         connections per worker (1024)\n"
		"  --max-inflight N      requests per device before ERROR busy (16)\n"
		"  --max-requests N      queued requests per worker before ERROR busy (2048)\n"
		"  --max-batch N         images per batch (32)\n"
		"  --max-delay-us N      longest wait for a batch to fill (2000)\n"
		"  --no-join             batch only requests of the same partition\n"
		"  --run-late            run requests that cannot meet their deadline\n"
		"  --null-model          validate frames, compute nothing (I/O path alone)\n"
		"  --max-frame BYTES     largest codec frame accepted (163840)\n"
		"  --small-frame BYTES   frame bytes held inline in each request slot (8192)\n"
		"  --big-frames N        buffers of max-frame bytes per worker for larger frames (256)\n"
		"  --idle-timeout-ms N   close peers that stall mid-message (10000)\n"
		"  --no-buf-ring         receive into per-connection buffers\n"
		"  --calibrate-runs N    timing runs per layer at start, 0 = FLOP estimate (5)\n"
		"  --policy FILE         serve this trained policy (coinfer-policy train) to devices\n"
		"                        of its class: DECISION for DECIDE, RESULT's next action for\n"
		"                        INFERs that ask; repeat for more classes, one per class\n"
		"  --run-seconds S       stop after S seconds (default: at SIGINT/SIGTERM)\n"
		"  --quiet               no start-up line\n"
		"Without a policy for its class, a device's DECIDE is answered ERROR unsupported.\n");
}

static size_t je_allocated(void)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch), allocated = 0;
	mallctl("epoch", &epoch, &sz, &epoch, sz);
	sz = sizeof(allocated);
	mallctl("stats.allocated", &allocated, &sz, NULL, 0);
	return allocated;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* The edge batches requests: its profile covers the scheduler's batch sizes. */
static int profile_main(int argc, char **argv)
{
	static const int batches[] = {1, 2, 4, 8, 16, 32};
	const struct pol_profile_cmd c = {"coinfer-appliance", "the edge's", batches, 6};
	return pol_profile_main(argc, argv, &c);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return profile_main(argc - 1, argv + 1);
	struct ap_server_config cfg;
	const char *model_path = NULL;
	const char *policy_path[MAX_POLICIES];
	struct pol_policy *policy[MAX_POLICIES];
	int n_policy = 0, ret = 1;
	double run_seconds = 0;
	ap_server_defaults(&cfg);
	enum { O_MODEL = 256, O_HOST, O_PORT, O_WORKERS, O_CONNS, O_INFL, O_REQS, O_BATCH, O_DELAY,
	       O_NOJOIN, O_LATE, O_NULL, O_FRAME, O_IDLE, O_NOBR, O_CAL, O_RUN, O_QUIET, O_SMALL,
	       O_BIG, O_POLICY };
	static const struct option opts[] = {
		{"model", required_argument, 0, O_MODEL}, {"host", required_argument, 0, O_HOST},
		{"port", required_argument, 0, O_PORT}, {"workers", required_argument, 0, O_WORKERS},
		{"max-conns", required_argument, 0, O_CONNS},
		{"max-inflight", required_argument, 0, O_INFL},
		{"max-requests", required_argument, 0, O_REQS},
		{"max-batch", required_argument, 0, O_BATCH},
		{"max-delay-us", required_argument, 0, O_DELAY}, {"no-join", no_argument, 0, O_NOJOIN},
		{"run-late", no_argument, 0, O_LATE}, {"null-model", no_argument, 0, O_NULL},
		{"max-frame", required_argument, 0, O_FRAME},
		{"idle-timeout-ms", required_argument, 0, O_IDLE},
		{"no-buf-ring", no_argument, 0, O_NOBR},
		{"calibrate-runs", required_argument, 0, O_CAL},
		{"run-seconds", required_argument, 0, O_RUN}, {"quiet", no_argument, 0, O_QUIET},
		{"small-frame", required_argument, 0, O_SMALL},
		{"big-frames", required_argument, 0, O_BIG},
		{"policy", required_argument, 0, O_POLICY},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		long v = optarg ? strtol(optarg, &end, 10) : 0;
		int bad_num = optarg && (!*optarg || *end || v < 0);
		switch (c) {
		case O_MODEL: model_path = optarg; continue;
		case O_HOST: cfg.host = optarg; continue;
		case O_NOJOIN: cfg.join = 0; continue;
		case O_LATE: cfg.run_late = 1; continue;
		case O_NULL: cfg.null_model = 1; continue;
		case O_NOBR: cfg.no_buf_ring = 1; continue;
		case O_QUIET: cfg.quiet = 1; continue;
		case O_POLICY:
			if (n_policy == MAX_POLICIES) {
				fprintf(stderr, "coinfer-appliance: more than %d --policy files\n",
					MAX_POLICIES);
				return 2;
			}
			policy_path[n_policy++] = optarg;
			continue;
		case O_RUN:
			run_seconds = strtod(optarg, &end);
			if (!*optarg || *end || run_seconds <= 0) {
				fprintf(stderr, "coinfer-appliance: --run-seconds needs a positive number\n");
				return 2;
			}
			continue;
		case 'h': usage(stdout); return 0;
		case '?': usage(stderr); return 2;
		default: break;
		}
		if (bad_num || v > 0x7fffffff) {
			fprintf(stderr, "coinfer-appliance: --%s needs a non-negative integer, got '%s'\n",
				opts[c - O_MODEL].name, optarg);
			return 2;
		}
		switch (c) {
		case O_PORT: cfg.port = (int)v; break;
		case O_WORKERS: cfg.workers = (int)v; break;
		case O_CONNS: cfg.max_conns = (int)v; break;
		case O_INFL: cfg.max_inflight = (int)v; break;
		case O_REQS: cfg.max_requests = (int)v; break;
		case O_BATCH: cfg.max_batch = (int)v; break;
		case O_DELAY: cfg.max_delay_us = (uint64_t)v; break;
		case O_FRAME: cfg.max_frame = (uint32_t)v; break;
		case O_IDLE: cfg.idle_timeout_ms = (int)v; break;
		case O_CAL: cfg.calibrate_runs = (int)v; break;
		case O_SMALL: cfg.small_frame = (int)v; break;
		case O_BIG: cfg.big_frames = (int)v; break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coinfer-appliance: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	char err[512];
	struct cf_model *m;
	if (!model_path && !(model_path = cf_default_model_path())) {
		fprintf(stderr, "coinfer-appliance: no model found (--model PATH)\n");
		return 1;
	}
	if (cf_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s: %s\n", model_path, err);
		return 1;
	}
	int loaded = 0;
	for (; loaded < n_policy; loaded++) {
		const char *path = policy_path[loaded];
		if (pol_load(path, &policy[loaded], err, sizeof(err))) {
			fprintf(stderr, "coinfer-appliance: --policy %s: %s\n", path, err);
			goto out;
		}
		for (int j = 0; j < loaded; j++)
			if (!strcmp(policy[j]->device_class, policy[loaded]->device_class)) {
				fprintf(stderr, "coinfer-appliance: --policy %s: a second policy for device "
						"class %s (--policy %s is one); give one per class\n",
					path, policy[loaded]->device_class, policy_path[j]);
				loaded++;
				goto out;
			}
	}
	cfg.policies = policy;
	cfg.n_policies = n_policy;
	/* Signals go to sigwait here, not to the workers (they inherit the mask). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	size_t je_before = je_allocated();
	struct ap_server *s;
	if (ap_server_start(&cfg, m, &s, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s\n", err);
		goto out;
	}
	size_t je_started = je_allocated();
	if (!cfg.quiet) {
		printf("{\"event\": \"listening\", \"host\": \"%s\", \"port\": %d, \"workers\": %d, "
		       "\"rx\": \"%s\", \"model\": \"%s\", \"null_model\": %s, \"join\": %s, "
		       "\"max_batch\": %d, \"max_delay_us\": %llu, \"jemalloc_allocated_bytes\": %zu, "
		       "\"peak_rss_kb\": %ld, \"policies\": [",
		       cfg.host, ap_server_port(s), cfg.workers, ap_server_rx_mode(s), m->name,
		       cfg.null_model ? "true" : "false", cfg.join ? "true" : "false", cfg.max_batch,
		       (unsigned long long)cfg.max_delay_us, je_started, peak_rss_kb());
		/* file paths are the user's own words: printed only when JSON-safe */
		for (int i = 0; i < n_policy; i++) {
			const char *f = policy_path[i];
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
	if (run_seconds > 0) {
		struct itimerval it = {.it_value = {.tv_sec = (long)run_seconds,
						    .tv_usec = (long)((run_seconds - (long)run_seconds) * 1e6)}};
		setitimer(ITIMER_REAL, &it, NULL);
	}
	int sig;
	sigwait(&set, &sig);
	struct ap_stats st;
	ap_server_stats(s, &st);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	size_t je_peak = je_allocated();
	ap_server_stop(s);
	printf("{\"event\": \"stopped\", \"signal\": \"%s\", \"accepted\": %llu, \"closed\": %llu, "
	       "\"requests\": %llu, \"results\": %llu, \"errors\": %llu, \"busy\": %llu, "
	       "\"expired\": %llu, \"bad_frames\": %llu, \"protocol_errors\": %llu, \"batches\": %llu, "
	       "\"mean_batch\": %.2f, \"decisions\": %llu, \"suggestions\": %llu, "
	       "\"bytes_in\": %llu, \"bytes_out\": %llu, \"cpu_s\": %.3f, "
	       "\"jemalloc_allocated_bytes\": {\"before_start\": %zu, \"started\": %zu, "
	       "\"at_stop\": %zu, \"after_stop\": %zu}, \"peak_rss_kb\": %ld}\n",
	       sig == SIGALRM ? "timer" : strsignal(sig), (unsigned long long)st.accepted,
	       (unsigned long long)st.closed, (unsigned long long)st.requests,
	       (unsigned long long)st.results, (unsigned long long)st.errors,
	       (unsigned long long)st.busy, (unsigned long long)st.expired,
	       (unsigned long long)st.bad_frames, (unsigned long long)st.protocol_errors,
	       (unsigned long long)st.batches,
	       st.batches ? (double)st.batch_images / (double)st.batches : 0.0,
	       (unsigned long long)st.decisions, (unsigned long long)st.suggestions,
	       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out, cpu, je_before,
	       je_started, je_peak, je_allocated(), peak_rss_kb());
	ret = 0;
out:
	for (int i = 0; i < loaded; i++)
		pol_policy_free(policy[i]);
	cf_model_free(m);
	return ret;
}
