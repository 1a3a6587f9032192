/* coinfer-appliance: the edge server. Loads the model, listens, serves devices
 * until SIGINT/SIGTERM, then prints its counters as JSON. */
#include <signal.h>
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
#include "coinfer/model.h"
#include "coinfer/cost-profile.h"
#include "coinfer/policy.h"
#include "config.h"
#include "procstat.h"
#include "server.h"
#if COINFER_METRICS
#include "metrics.h"
#endif

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
		"  --drain-ms N          at SIGTERM: queued requests are answered ERROR shutdown and\n"
		"                        replies get this long to leave before the sockets close (500)\n"
		"  --watchdog-ms N       report a worker whose loop has not turned for this long\n"
		"                        (stderr and the metric worker_stalls_total), 0 = off (2000)\n"
		"  --policy FILE         serve this trained policy (coinfer-policy train) to devices\n"
		"                        of its class: DECISION for DECIDE, RESULT's next action for\n"
		"                        INFERs that ask; repeat for more classes, one per class\n"
		"  --run-seconds S       stop after S seconds (default, 0: at SIGINT/SIGTERM)\n"
		"  --quiet               no start-up line\n"
		"  --metrics-port N      serve GET /metrics (Prometheus text) on this port, 0 = any;\n"
		"                        the URL is printed at start (default -1: off)\n"
		"  --metrics-host ADDR   IPv4 address of the metrics endpoint (127.0.0.1)\n"
		"  --rx-buffers N        provided receive buffers per worker, a power of two (1024)\n"
		"  --rx-buffer-bytes N   bytes of each (16384)\n"
		"  --tx-bytes N          reply buffer per connection (16384)\n"
		"  --reassembly-buffers N  buffers per worker for messages split across receives (64)\n"
		"  --config FILE         YAML settings, keys as the options above with '_' for '-'\n"
		"                        (conf/appliance.yaml); options given as well override it\n"
		"Every on/off option has its opposite: --join, --buf-ring, --no-run-late, ...\n"
		"Without a policy for its class, a device's DECIDE is answered ERROR unsupported.\n");
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
	const struct cli_profile_cmd c = {"coinfer-appliance", "the edge's", batches, 6};
	return cli_profile_main(argc, argv, &c);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return profile_main(argc - 1, argv + 1);
	struct ap_config conf;
	struct ap_server_config cfg;
	struct pol_policy *policy[AP_CONFIG_MAX_POLICIES];
#if COINFER_METRICS
	struct ap_metrics *metrics = NULL;
#endif
	char err[512], metrics_url[96] = "";
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
	cfg = conf.server;
	const char *model_path = conf.model;
	const char *const *policy_path = conf.policy;
	int n_policy = conf.n_policy;
	double run_seconds = conf.run_seconds;
	struct cr_model *m = NULL;
	if (!model_path && !(model_path = cli_default_model_path())) {
		fprintf(stderr, "coinfer-appliance: no model found (--model PATH)\n");
		goto out;
	}
	if (cr_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s: %s\n", model_path, err);
		m = NULL;
		goto out;
	}
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

	long long je_before = ap_proc_jemalloc_bytes();
	struct ap_server *s;
	if (ap_server_start(&cfg, m, &s, err, sizeof(err))) {
		fprintf(stderr, "coinfer-appliance: %s\n", err);
		goto out;
	}
#if COINFER_METRICS
	if (conf.metrics_port >= 0) {
		if (ap_metrics_start(s, conf.metrics_host, conf.metrics_port, &metrics, err,
				     sizeof(err))) {
			fprintf(stderr, "coinfer-appliance: %s\n", err);
			ap_server_stop(s);
			goto out;
		}
		snprintf(metrics_url, sizeof(metrics_url), "\"http://%s:%d/metrics\"",
			 conf.metrics_host, ap_metrics_port(metrics));
	}
#endif
	long long je_started = ap_proc_jemalloc_bytes();
	if (!cfg.quiet) {
		printf("{\"event\": \"listening\", \"host\": \"%s\", \"port\": %d, \"workers\": %d, "
		       "\"rx\": \"%s\", \"model\": \"%s\", \"null_model\": %s, \"join\": %s, "
		       "\"max_batch\": %d, \"max_delay_us\": %llu, \"jemalloc_allocated_bytes\": %lld, "
		       "\"peak_rss_kb\": %ld, \"metrics\": %s, \"policies\": [",
		       cfg.host, ap_server_port(s), cfg.workers, ap_server_rx_mode(s), m->name,
		       cfg.null_model ? "true" : "false", cfg.join ? "true" : "false", cfg.max_batch,
		       (unsigned long long)cfg.max_delay_us, je_started, peak_rss_kb(),
		       *metrics_url ? metrics_url : "null");
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
	double cpu = cf_process_cpu_s();
	long long je_peak = ap_proc_jemalloc_bytes();
#if COINFER_METRICS
	ap_metrics_stop(metrics); /* it reads the server's counters */
#endif
	int stuck = ap_server_stop(s);
	printf("{\"event\": \"stopped\", \"signal\": \"%s\", \"clean\": %s, \"accepted\": %llu, \"closed\": %llu, "
	       "\"requests\": %llu, \"results\": %llu, \"errors\": %llu, \"busy\": %llu, "
	       "\"expired\": %llu, \"bad_frames\": %llu, \"protocol_errors\": %llu, \"batches\": %llu, "
	       "\"mean_batch\": %.2f, \"decisions\": %llu, \"suggestions\": %llu, "
	       "\"bytes_in\": %llu, \"bytes_out\": %llu, \"cpu_s\": %.3f, "
	       "\"jemalloc_allocated_bytes\": {\"before_start\": %lld, \"started\": %lld, "
	       "\"at_stop\": %lld, \"after_stop\": %lld}, \"peak_rss_kb\": %ld}\n",
	       sig == SIGALRM ? "timer" : strsignal(sig), stuck ? "false" : "true",
	       (unsigned long long)st.accepted,
	       (unsigned long long)st.closed, (unsigned long long)st.requests,
	       (unsigned long long)st.results, (unsigned long long)st.errors,
	       (unsigned long long)st.busy, (unsigned long long)st.expired,
	       (unsigned long long)st.bad_frames, (unsigned long long)st.protocol_errors,
	       (unsigned long long)st.batches,
	       st.batches ? (double)st.batch_images / (double)st.batches : 0.0,
	       (unsigned long long)st.decisions, (unsigned long long)st.suggestions,
	       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out, cpu, je_before,
	       je_started, je_peak, ap_proc_jemalloc_bytes(), peak_rss_kb());
	if (stuck) {
		/* a worker still runs: freeing the model under it would crash it */
		fflush(stdout);
		_exit(3);
	}
	ret = 0;
out:
	for (int i = 0; i < loaded; i++)
		pol_policy_free(policy[i]);
	cr_model_free(m);
	ap_config_free(&conf);
	return ret;
}
