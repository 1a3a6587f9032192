/* coinfer-bench-appliance: the edge appliance under load over loopback, as JSON
 * (what and how: docs/bench-appliance.md).
 *
 * - null model (frames validated, nothing computed: the I/O path alone):
 *   requests/s and p50/p99/p99.9 at 1, 16, 256 and 1024 devices, for the
 *   appliance's io_uring loop and for an epoll loop of the same protocol built
 *   into this binary, each per second of wall time and per second of the
 *   server's own CPU time, with their ratio;
 * - real tail at partition points of the model: the appliance batched against
 *   unbatched (batch 1 swept over load to match the batched p99), against the
 *   epoll loop, and against the kernels alone (the same layers in-process);
 * - 1024 devices connected: the appliance's peak RSS and jemalloc bytes;
 * - --veth, alone: the null model over a veth pair between two network
 *   namespaces, per transport (io_uring TCP, io_uring UDP, DPDK on
 *   net_af_packet), with a UDP load generator (appliance-load-udp.c).
 *
 * Servers run as separate processes (coinfer-appliance; this binary with
 * --serve-epoll) so that their CPU time is theirs alone; the load generator
 * (appliance-load.c) shares the machine. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "appliance-epoll.h"
#include "appliance-load.h"
#include "veth-netns.h"
#if COINFER_DPDK
#include "dpdk-fastpath.h"
#endif
#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "coinfer/model.h"
#include "coinfer/wire-dgram.h"
#include "coinfer/wire.h"
#include "coinfer/stats.h"

#define N_FRAMES 32         /* distinct images a run cycles through */
#define DEADLINE_US 10000000u /* 10 s: throughput runs must not expire */
#define SMALL_FRAME 8192    /* the appliance's inline frame bytes per request slot (passed) */
#define BIG_FRAMES 256      /* and its buffers per worker for larger frames (passed) */

struct opts {
	int quick, workers, load_threads, null_depth, tail_devices, tail_depth, calibrate_runs;
	int no_null, no_tail, no_epoll, repeat, no_load_cap, dpdk_fastpath, veth, veth_devices;
	double seconds, warmup, kernel_seconds;
	int devices[16], n_devices;
	const char *appliance, *model_path, *data_dir, *points, *transports;
	char self[PATH_MAX];
};

static struct opts O;
static struct cr_model *M;

static void die(const char *fmt, const char *a)
{
	fprintf(stderr, "coinfer-bench-appliance: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\n");
	exit(1);
}

/* ---- frames and messages ------------------------------------------------------ */

struct point {
	int exit, partition; /* 0-based exit; partition p: layers [0,p) ran on the device */
	const char *layer;   /* the layer the device ran last ("input" at p = 0) */
};

struct frames {
	struct point pt;
	uint8_t *frame[N_FRAMES];
	size_t len[N_FRAMES];
	float *decoded;      /* N_FRAMES x floats: what the tail sees */
	uint16_t label[N_FRAMES]; /* the class of each from the decoded tensor, batch 1 */
	size_t floats;
	double mean_bytes;
};

static const uint8_t *dataset_images(void)
{
	static struct ds_dataset ds;
	static int loaded;
	if (!loaded) {
		char err[512];
		const char *dir = O.data_dir;
		if (cli_data_dir(&dir, err, sizeof(err)) ||
		    ds_cifar10_load(dir, "test_batch.bin", &ds, err, sizeof(err)))
			die("%s", err);
		if (ds.n < N_FRAMES)
			die("%s", "CIFAR-10 test batch too small");
		loaded = 1;
	}
	return ds.images;
}

/* Real frames: N_FRAMES test images through the head [0,p) of the exit, each
 * quantized to 8 bits and Huffman(zero-run) coded, as the device agent sends them. */
static void make_frames(struct point pt, struct frames *f)
{
	static struct cr_exec *x;
	char err[256];
	memset(f, 0, sizeof(*f));
	f->pt = pt;
	if (!x && cr_exec_create(M, NULL, N_FRAMES, &x))
		die("%s", "executor for the head");
	size_t in = cr_model_boundary_floats(M, 0, 0);
	float *img = malloc(N_FRAMES * in * sizeof(float));
	cr_model_normalize(M, dataset_images(), img, N_FRAMES);
	const float *out;
	if (cr_exec_run(x, pt.exit, 0, pt.partition, img, N_FRAMES, &out))
		die("%s", "head run failed");
	f->floats = cr_model_boundary_floats(M, pt.exit, pt.partition);
	const struct cr_layer *L = pt.partition ? cr_model_exit_layer(M, pt.exit, pt.partition - 1) : NULL;
	uint32_t dims[3] = {(uint32_t)(L ? L->out_c : M->in_c), (uint32_t)(L ? L->out_h : M->in_h),
			    (uint32_t)(L ? L->out_w : M->in_w)};
	size_t cap = cc_frame_bound(CC_CODEC_HUFFMAN_ZRUN, 3, dims, 0);
	f->decoded = malloc(N_FRAMES * f->floats * sizeof(float));
	void *scratch = malloc(cc_frame_scratch_max());
	struct cc_limits lim = {1u << 24, 1u << 24};
	double sum = 0;
	for (int k = 0; k < N_FRAMES; k++) {
		f->frame[k] = malloc(cap);
		if (cc_frame_encode(out + (size_t)k * f->floats, 3, dims, CC_CODEC_HUFFMAN_ZRUN, 8, 0,
				    f->frame[k], cap, &f->len[k], err, sizeof(err)))
			die("encode: %s", err);
		if (cc_frame_decode(f->frame[k], f->len[k], &lim, f->decoded + (size_t)k * f->floats,
				    f->floats, scratch, cc_frame_scratch_max(), NULL, err, sizeof(err)))
			die("decode: %s", err);
		sum += (double)f->len[k];
	}
	f->mean_bytes = sum / N_FRAMES;
	for (int k = 0; k < N_FRAMES; k++) {
		const float *o;
		if (cr_exec_run(x, pt.exit, pt.partition, M->exit_len[pt.exit],
				f->decoded + (size_t)k * f->floats, 1, &o))
			die("%s", "tail run failed");
		int best = 0;
		for (int i = 1; i < M->n_classes; i++)
			if (o[i] > o[best])
				best = i;
		f->label[k] = (uint16_t)best;
	}
	free(scratch);
	free(img);
}

static void free_frames(struct frames *f)
{
	for (int k = 0; k < N_FRAMES; k++)
		free(f->frame[k]);
	free(f->decoded);
}

static void make_msgset(const struct frames *f, int depth, struct ab_msgset *ms)
{
	ms->n_frames = N_FRAMES;
	ms->depth = depth;
	ms->msg = calloc((size_t)N_FRAMES * (size_t)depth, sizeof(*ms->msg));
	ms->len = calloc((size_t)N_FRAMES * (size_t)depth, sizeof(*ms->len));
	ms->frame_bytes_mean = (size_t)f->mean_bytes;
	ms->label = f->label;
	for (int k = 0; k < N_FRAMES; k++)
		for (int s = 0; s < depth; s++) {
			size_t i = (size_t)k * (size_t)depth + (size_t)s, cap = CW_INFER_PREFIX_BYTES + f->len[k];
			ms->msg[i] = malloc(cap);
			memcpy(ms->msg[i] + CW_INFER_PREFIX_BYTES, f->frame[k], f->len[k]);
			struct cw_infer in = {.request_id = (uint64_t)s + 1, .deadline_us = DEADLINE_US,
					      .frame_len = f->len[k],
					      .action = {.exit = (uint8_t)f->pt.exit, .bits = 8,
							 .partition = (uint16_t)f->pt.partition}};
			char err[160];
			if (cw_encode_infer_header(ms->msg[i], cap, &in, &ms->len[i], err, sizeof(err)))
				die("INFER: %s", err);
		}
}

static void free_msgset(struct ab_msgset *ms)
{
	for (int i = 0; i < ms->n_frames * ms->depth; i++)
		free(ms->msg[i]);
	free(ms->msg);
	free(ms->len);
}

/* ---- server processes ---------------------------------------------------------- */

/* --veth: servers start in namespace A (the bench's threads are in B). */
static const struct ab_veth *SRV_NETNS;

struct server {
	pid_t pid;
	int out; /* its stdout */
	int port;
	cJSON *listening, *stopped;
};

/* One line from fd within ms (byte at a time: lines are few and short). */
static int read_line(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;
	double end = cf_now_s() + ms / 1000.0;
	while (n + 1 < cap) {
		int left = (int)((end - cf_now_s()) * 1000);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -ETIMEDOUT;
		char ch;
		ssize_t k = read(fd, &ch, 1);
		if (k <= 0)
			return -EPIPE;
		if (ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = 0;
	return 0;
}

static int server_start(struct server *s, char **argv)
{
	int p[2];
	memset(s, 0, sizeof(*s));
	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* no orphans if the bench dies */
		if (SRV_NETNS && ab_veth_enter_a(SRV_NETNS))
			_exit(126);
		dup2(p[1], 1);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	char line[4096];
	/* calibration at start takes a few seconds on a busy machine */
	while (read_line(s->out, line, sizeof(line), 180000) == 0) {
		cJSON *j = cJSON_Parse(line);
		cJSON *ev = j ? cJSON_GetObjectItem(j, "event") : NULL;
		if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "listening")) {
			s->listening = j;
			s->port = cJSON_GetObjectItem(j, "port")->valueint;
			return 0;
		}
		cJSON_Delete(j);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	close(s->out);
	return -1;
}

static void server_stop(struct server *s)
{
	char line[4096];
	kill(s->pid, SIGTERM);
	while (read_line(s->out, line, sizeof(line), 30000) == 0) {
		cJSON *j = cJSON_Parse(line);
		cJSON *ev = j ? cJSON_GetObjectItem(j, "event") : NULL;
		if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "stopped")) {
			s->stopped = j;
			break;
		}
		cJSON_Delete(j);
	}
	if (!s->stopped)
		kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	close(s->out);
}

enum kind { K_URING, K_EPOLL };

struct srv_opts {
	int null_model, max_batch, max_delay_us, max_requests, max_conns;
};

static int spawn(enum kind k, const struct srv_opts *so, struct server *s)
{
	char a[16][64];
	char *argv[40];
	int n = 0;
#define ARG(...) (snprintf(a[n], sizeof(a[n]), __VA_ARGS__), argv[n] = a[n], n++)
	argv[n++] = (char *)(k == K_URING ? O.appliance : O.self);
	if (k == K_EPOLL)
		argv[n++] = "--serve-epoll";
	argv[n++] = "--port";
	argv[n++] = "0";
	ARG("--workers=%d", O.workers);
	ARG("--max-conns=%d", so->max_conns);
	ARG("--max-requests=%d", so->max_requests);
	ARG("--max-batch=%d", so->max_batch);
	ARG("--max-delay-us=%d", so->max_delay_us);
	ARG("--calibrate-runs=%d", O.calibrate_runs);
	ARG("--small-frame=%d", SMALL_FRAME);
	ARG("--big-frames=%d", BIG_FRAMES);
	ARG("--max-inflight=%d", 256);
	if (so->null_model)
		argv[n++] = "--null-model";
	if (O.model_path) {
		argv[n++] = "--model";
		argv[n++] = (char *)O.model_path;
	}
	argv[n] = NULL;
#undef ARG
	return server_start(s, argv);
}

/* ---- one measured run ------------------------------------------------------------ */

struct run {
	int ok;
	double rps, per_cpu, p50_us, p99_us, p999_us;
	cJSON *json;
};

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A finished load run into o (and r): rates, latency, errors. */
static void load_json(cJSON *o, const struct ab_load_result *lr, int null_model, struct run *r)
{
	r->ok = 1;
	r->rps = (double)lr->results / lr->window_s;
	r->per_cpu = lr->server_cpu_s > 0 ? (double)lr->results / lr->server_cpu_s : 0;
	r->p50_us = ab_hist_quantile_ns(&lr->lat, 0.50) / 1000;
	r->p99_us = ab_hist_quantile_ns(&lr->lat, 0.99) / 1000;
	r->p999_us = ab_hist_quantile_ns(&lr->lat, 0.999) / 1000;
	cJSON_AddNumberToObject(o, "window_s", lr->window_s);
	cJSON_AddNumberToObject(o, "results", (double)lr->results);
	cJSON_AddNumberToObject(o, "requests_per_s", r->rps);
	cJSON_AddNumberToObject(o, "server_cpu_s", lr->server_cpu_s);
	cJSON_AddNumberToObject(o, "server_cores_busy", lr->server_cpu_s / lr->window_s);
	cJSON_AddNumberToObject(o, "requests_per_server_cpu_s", r->per_cpu);
	cJSON_AddNumberToObject(o, "load_generator_cpu_s", lr->load_cpu_s);
	cJSON *lat = cJSON_AddObjectToObject(o, "latency_us");
	cJSON_AddNumberToObject(lat, "p50", r->p50_us);
	cJSON_AddNumberToObject(lat, "p99", r->p99_us);
	cJSON_AddNumberToObject(lat, "p99.9", r->p999_us);
	cJSON_AddNumberToObject(lat, "mean",
				lr->lat.n ? (double)(lr->lat.sum_ns / lr->lat.n) / 1000 : 0);
	cJSON_AddNumberToObject(lat, "max", (double)lr->lat.max_ns / 1000);
	double batches = lr->batch_inv_sum;
	cJSON_AddNumberToObject(o, "mean_batch", batches > 0 ? (double)lr->results / batches : 0);
	cJSON *er = cJSON_AddObjectToObject(o, "errors");
	cJSON_AddNumberToObject(er, "total", (double)lr->errors);
	for (int c = 1; c < CW_ERR_END; c++)
		if (lr->errors_by_code[c])
			cJSON_AddNumberToObject(er, cw_error_name((enum cw_error_code)c),
						(double)lr->errors_by_code[c]);
	cJSON *em = NULL;
	for (int c = 1; c < CW_ERR_END; c++)
		if (lr->error_msg[c][0]) {
			if (!em)
				em = cJSON_AddObjectToObject(o, "first_error_message");
			cJSON_AddStringToObject(em, cw_error_name((enum cw_error_code)c),
						lr->error_msg[c]);
		}
	cJSON_AddNumberToObject(o, "connections_closed_by_server", (double)lr->closed_by_server);
	if (!null_model)
		cJSON_AddNumberToObject(o, "wrong_labels", (double)lr->wrong_labels);
	cJSON_AddNumberToObject(o, "load_avg_1m", lr->load_avg_1m);
}

static struct run measure(enum kind k, const struct srv_opts *so, const struct ab_msgset *ms,
			  int devices, int depth)
{
	struct run r = {0};
	struct server s;
	cJSON *o = cJSON_CreateObject();
	r.json = o;
	cJSON_AddStringToObject(o, "server", k == K_URING ? "io_uring" : "epoll");
	cJSON_AddNumberToObject(o, "devices", devices);
	cJSON_AddNumberToObject(o, "depth", depth);
	cJSON_AddNumberToObject(o, "max_batch", so->max_batch);
	cJSON_AddNumberToObject(o, "max_delay_us", so->max_delay_us);
	if (spawn(k, so, &s)) {
		cJSON_AddStringToObject(o, "error", "server did not start");
		fprintf(stderr, "coinfer-bench-appliance: %s server did not start\n",
			k == K_URING ? "io_uring" : "epoll");
		return r;
	}
	struct ab_load_config lc = {.port = s.port, .devices = devices, .depth = depth,
				    .threads = O.load_threads, .warmup_s = O.warmup,
				    .seconds = O.seconds, .msgs = ms,
				    .model_checksum = M->checksum, .model_name = M->name,
				    .server_pid = s.pid};
	struct ab_load_result *lr = calloc(1, sizeof(*lr));
	int ret = ab_load_run(&lc, lr);
	server_stop(&s);
	if (ret) {
		cJSON_AddStringToObject(o, "error", lr->err);
		fprintf(stderr, "coinfer-bench-appliance: load: %s\n", lr->err);
	} else {
		load_json(o, lr, so->null_model, &r);
	}
	if (s.stopped)
		cJSON_AddItemToObject(o, "server_stopped", s.stopped);
	cJSON_Delete(s.listening);
	fprintf(stderr, "  %-8s %4d dev x %2d, batch %2d: %9.0f req/s, %9.0f req/cpu-s, p50 %8.0f p99 %8.0f us%s\n",
		k == K_URING ? "io_uring" : "epoll", devices, depth, so->max_batch, r.rps, r.per_cpu,
		r.p50_us, r.p99_us, lr->errors ? " (errors)" : "");
	free(lr);
	return r;
}

/* ---- kernels alone ------------------------------------------------------------------ */

/* One of `workers` threads running the tail at batch 32 at once, as the
 * appliance's workers do (they share caches and memory bandwidth). */
struct kthread {
	pthread_t th;
	const struct frames *f;
	const float *in;
	double secs, wall_ips, cpu_ips;
};

static void *kthread_main(void *arg)
{
	struct kthread *k = arg;
	struct cr_exec *x;
	if (cr_exec_create(M, NULL, 32, &x))
		return NULL;
	const int e = k->f->pt.exit, p = k->f->pt.partition, len = M->exit_len[e];
	const float *out;
	cr_exec_run(x, e, p, len, k->in, 32, &out);
	for (int rep = 0; rep < 3; rep++) { /* best of 3 windows */
		long n = 0;
		double t0 = cf_now_s(), c0 = cf_thread_cpu_s(), dt;
		do {
			cr_exec_run(x, e, p, len, k->in, 32, &out);
			n++;
		} while ((dt = cf_now_s() - t0) < k->secs / 3);
		double w = (double)n * 32 / dt, c = (double)n * 32 / (cf_thread_cpu_s() - c0);
		k->wall_ips = w > k->wall_ips ? w : k->wall_ips;
		k->cpu_ips = c > k->cpu_ips ? c : k->cpu_ips;
	}
	cr_exec_destroy(x);
	return NULL;
}

/* The same tail layers [p, N_e) in-process on one thread: images/s at batch 32
 * (best of 6 windows, wall and per CPU-second of this thread) and at batch 1,
 * and the frame decode time. */
static cJSON *kernels_only(const struct frames *f, double *ips_cpu32, double *ips_wall32,
			   double *ips_cpu32_conc, double *decode_s)
{
	struct cr_exec *x;
	if (cr_exec_create(M, NULL, 32, &x))
		die("%s", "executor for the tail");
	const int e = f->pt.exit, p = f->pt.partition, len = M->exit_len[e];
	float *in = malloc(32 * f->floats * sizeof(float));
	for (int i = 0; i < 32; i++)
		memcpy(in + (size_t)i * f->floats, f->decoded + (size_t)(i % N_FRAMES) * f->floats,
		       f->floats * sizeof(float));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "what", "cr_exec_run of layers [p, N_e) on one thread, decoded real frames as input, no decode, no I/O");
	const float *out;
	for (int b = 32; b >= 1; b -= 31) {
		double best_wall = 0, best_cpu = 0;
		for (int rep = 0; rep < 6; rep++) {
			cr_exec_run(x, e, p, len, in, b, &out);
			long n = 0;
			double t0 = cf_now_s(), c0 = cf_thread_cpu_s(), dt;
			do {
				cr_exec_run(x, e, p, len, in, b, &out);
				n++;
			} while ((dt = cf_now_s() - t0) < O.kernel_seconds / 6);
			double dc = cf_thread_cpu_s() - c0;
			double w = (double)n * b / dt, c = (double)n * b / dc;
			best_wall = w > best_wall ? w : best_wall;
			best_cpu = c > best_cpu ? c : best_cpu;
		}
		char key[64];
		snprintf(key, sizeof(key), "batch%d_images_per_s", b);
		cJSON_AddNumberToObject(o, key, best_wall);
		snprintf(key, sizeof(key), "batch%d_images_per_cpu_s", b);
		cJSON_AddNumberToObject(o, key, best_cpu);
		if (b == 32) {
			*ips_cpu32 = best_cpu;
			*ips_wall32 = best_wall;
			cJSON_AddNumberToObject(o, "batch32_images_per_s_x_workers", best_wall * O.workers);
		}
	}
	/* workers threads at once, each its own executor */
	struct kthread kt[16];
	int nk = O.workers < 16 ? O.workers : 16;
	for (int i = 0; i < nk; i++) {
		kt[i] = (struct kthread){.f = f, .in = in, .secs = O.kernel_seconds / 2};
		pthread_create(&kt[i].th, NULL, kthread_main, &kt[i]);
	}
	double sum_wall = 0, sum_cpu = 0;
	for (int i = 0; i < nk; i++) {
		pthread_join(kt[i].th, NULL);
		sum_wall += kt[i].wall_ips;
		sum_cpu += kt[i].cpu_ips;
	}
	cJSON_AddNumberToObject(o, "concurrent_threads", nk);
	cJSON_AddNumberToObject(o, "concurrent_batch32_images_per_s", sum_wall);
	cJSON_AddNumberToObject(o, "concurrent_batch32_images_per_cpu_s", sum_cpu / nk);
	*ips_cpu32_conc = sum_cpu / nk;
	/* decode (cc_frame_decode: Huffman + dequantize) per frame, which the server
	 * does and the kernels-only figure does not */
	void *scratch = malloc(cc_frame_scratch_max());
	struct cc_limits lim = {1u << 24, 1u << 24};
	long n = 0;
	double c0 = cf_thread_cpu_s(), dc;
	do {
		int k = (int)(n % N_FRAMES);
		cc_frame_decode(f->frame[k], f->len[k], &lim, in, f->floats, scratch, cc_frame_scratch_max(),
				NULL, NULL, 0);
		n++;
	} while ((dc = cf_thread_cpu_s() - c0) < 0.2);
	cJSON_AddNumberToObject(o, "decode_us_per_frame", dc / (double)n * 1e6);
	*decode_s = dc / (double)n;
	cJSON_AddNumberToObject(o, "decode_plus_batch32_images_per_cpu_s",
				1 / (1 / *ips_cpu32 + *decode_s));
	free(scratch);
	free(in);
	cr_exec_destroy(x);
	return o;
}

/* ---- the sections ------------------------------------------------------------------- */

static int find_point(int e, const char *name, struct point *pt)
{
	pt->exit = e;
	pt->layer = name;
	if (!strcmp(name, "input")) {
		pt->partition = 0;
		return 0;
	}
	for (int pos = 0; pos < M->exit_len[e]; pos++)
		if (!strcmp(cr_model_exit_layer(M, e, pos)->name, name)) {
			pt->partition = pos + 1;
			return 0;
		}
	return -1;
}

static cJSON *point_json(const struct frames *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "exit", f->pt.exit + 1);
	cJSON_AddNumberToObject(o, "partition", f->pt.partition);
	cJSON_AddStringToObject(o, "after_layer", f->pt.layer);
	cJSON_AddNumberToObject(o, "tail_layers", M->exit_len[f->pt.exit] - f->pt.partition);
	cJSON_AddNumberToObject(o, "tensor_floats", (double)f->floats);
	cJSON_AddStringToObject(o, "codec", "huffman-zrun, 8 bits");
	cJSON_AddNumberToObject(o, "frame_bytes_mean", f->mean_bytes);
	return o;
}

static cJSON *J_1024;

static double median(double *v, int n)
{
	if (n < 1)
		return 0;
	cf_sort_doubles(v, (size_t)n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
static double null_256_per_cpu, null_256_ratio = -1;

/* One server's repeats at one point: medians over the runs that completed. */
struct side {
	cJSON *runs;
	double cpu[16], rps[16];
	int n;
	struct run last; /* the last completed run, its JSON kept for the 1024 summary */
};

static void side_add(struct side *sd, struct run r)
{
	cJSON_AddItemToArray(sd->runs, r.json);
	if (r.ok)
		sd->cpu[sd->n] = r.per_cpu, sd->rps[sd->n++] = r.rps, sd->last = r;
}

/* The side's medians into p[name]; its last run with the medians in place. */
static struct run side_json(struct side *sd, cJSON *p, const char *name)
{
	struct run u = sd->last;
	u.ok = sd->n > 0;
	u.per_cpu = median(sd->cpu, sd->n);
	u.rps = median(sd->rps, sd->n);
	cJSON *o = cJSON_AddObjectToObject(p, name);
	cJSON_AddNumberToObject(o, "median_requests_per_s", u.rps);
	cJSON_AddNumberToObject(o, "median_requests_per_server_cpu_s", u.per_cpu);
	cJSON_AddItemToObject(o, "runs", sd->runs);
	return u;
}

/* The summary for 1024 devices, from the server's own stopped line. */
static void note_1024(const struct run *u)
{
	cJSON *st = cJSON_GetObjectItem(u->json, "server_stopped");
	J_1024 = cJSON_CreateObject();
	cJSON_AddNumberToObject(J_1024, "devices", 1024);
	cJSON_AddNumberToObject(J_1024, "connected_and_welcomed", jnum(st, "accepted"));
	cJSON_AddNumberToObject(J_1024, "peak_rss_kb", jnum(st, "peak_rss_kb"));
	cJSON *je = cJSON_GetObjectItem(st, "jemalloc_allocated_bytes");
	if (je)
		cJSON_AddItemToObject(J_1024, "jemalloc_allocated_bytes", cJSON_Duplicate(je, 1));
	cJSON_AddNumberToObject(J_1024, "requests_per_server_cpu_s", u->per_cpu);
	cJSON_AddStringToObject(J_1024, "source",
				"the stopped line of the last io_uring run at 1024 devices in "
				"null_model.points");
}

/* One device count: repeats alternate the two servers, so that drift in the
 * machine's load (other jobs share it) falls on both alike; medians compared. */
static cJSON *null_point(int dev, const struct ab_msgset *ms)
{
	struct srv_opts so = {.null_model = 1, .max_batch = 32, .max_delay_us = 0,
			      .max_requests = dev * O.null_depth > 2048 ? dev * O.null_depth : 2048,
			      .max_conns = dev > 1024 ? dev : 1024};
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "devices", dev);
	cJSON_AddNumberToObject(p, "depth", O.null_depth);
	struct side su = {.runs = cJSON_CreateArray()}, se = {.runs = cJSON_CreateArray()};
	for (int rep = 0; rep < O.repeat; rep++) {
		side_add(&su, measure(K_URING, &so, ms, dev, O.null_depth));
		if (!O.no_epoll)
			side_add(&se, measure(K_EPOLL, &so, ms, dev, O.null_depth));
	}
	struct run u = side_json(&su, p, "io_uring");
	if (!O.no_epoll) {
		struct run ep = side_json(&se, p, "epoll");
		if (u.ok && ep.ok && ep.per_cpu > 0) {
			cJSON_AddNumberToObject(p, "ratio_io_uring_over_epoll_per_cpu_s",
						u.per_cpu / ep.per_cpu);
			cJSON_AddNumberToObject(p, "ratio_io_uring_over_epoll_wall", u.rps / ep.rps);
			if (dev == 256)
				null_256_ratio = u.per_cpu / ep.per_cpu;
		}
	} else {
		cJSON_Delete(se.runs);
	}
	if (dev == 256)
		null_256_per_cpu = u.per_cpu;
	if (dev == 1024 && u.ok && u.json)
		note_1024(&u);
	return p;
}

static cJSON *null_section(void)
{
	cJSON *sec = cJSON_CreateObject();
	struct point pt;
	find_point(M->n_exits - 1, "input", &pt);
	struct frames f;
	make_frames(pt, &f);
	struct ab_msgset ms;
	make_msgset(&f, O.null_depth, &ms);
	ms.label = NULL; /* the null model answers no class */
	cJSON_AddItemToObject(sec, "frame", point_json(&f));
	cJSON_AddStringToObject(
		sec, "epoll_server",
		"this binary with --serve-epoll: 2 threads, each an edge-triggered epoll loop with "
		"its own SO_REUSEPORT socket, recv() into a 16 KiB per-worker buffer, the "
		"appliance's own session layer (appliance/session.c: parsing, reassembly, "
		"scheduler, tail, replies), one send() per connection with replies per wakeup");
	cJSON_AddStringToObject(
		sec, "server_options",
		"--null-model --max-delay-us 0 (answered in the loop turn that read them); both "
		"servers: 2 workers, same scheduler and frame validation (cc_frame_info + element "
		"count)");
	cJSON *pts = cJSON_AddArrayToObject(sec, "points");
	fprintf(stderr, "null model (%0.f-byte frames, depth %d):\n", f.mean_bytes, O.null_depth);
	for (int i = 0; i < O.n_devices; i++)
		cJSON_AddItemToArray(pts, null_point(O.devices[i], &ms));
	free_msgset(&ms);
	free_frames(&f);
	return sec;
}

struct tail_summary {
	double worst_e2e_cpu, worst_e2e_wall, worst_gain, worst_e2e_dec, worst_gain_cpu;
};

static void keep_min(double *m, double v)
{
	if (*m < 0 || v < *m)
		*m = v;
}

/* What the kernels alone did at a tail point (kernels_only). */
struct kernel_rates {
	double cpu, wall, conc, dec_s;
};

/* The load of a tail point's batched runs, into o: depth x O.tail_devices, but
 * frames above the appliance's inline slot size need one of its BIG_FRAMES
 * buffers per queued request and worker. Returns whether that capped *devices. */
static int tail_load(const struct frames *f, cJSON *o, int *devices, int depth)
{
	int capped = 0;
	*devices = O.tail_devices;
	if (f->mean_bytes > SMALL_FRAME * 0.9 && !O.no_load_cap) {
		int limit = BIG_FRAMES * O.workers * 3 / 4;
		if (*devices * depth > limit) {
			*devices = limit / depth > 1 ? limit / depth : 1;
			capped = 1;
		}
	}
	cJSON *load = cJSON_AddObjectToObject(o, "load");
	cJSON_AddNumberToObject(load, "devices", *devices);
	cJSON_AddNumberToObject(load, "depth", depth);
	cJSON_AddBoolToObject(load, "capped_by_big_frame_buffers", capped);
	return capped;
}

/* The appliance batching at that load, and the epoll loop likewise. */
static struct run tail_batched(const struct frames *f, cJSON *o, int devices, int depth)
{
	struct ab_msgset ms;
	make_msgset(f, depth, &ms);
	struct srv_opts sb = {.max_batch = 32, .max_delay_us = 2000, .max_requests = 2048,
			      .max_conns = 1024};
	struct run b = measure(K_URING, &sb, &ms, devices, depth);
	cJSON_AddItemToObject(o, "batched", b.json);
	if (!O.no_epoll) {
		struct run be = measure(K_EPOLL, &sb, &ms, devices, depth);
		cJSON_AddItemToObject(o, "batched_epoll", be.json);
		if (b.ok && be.ok && be.per_cpu > 0) {
			cJSON_AddNumberToObject(o, "ratio_io_uring_over_epoll_per_cpu_s", b.per_cpu / be.per_cpu);
			cJSON_AddNumberToObject(o, "ratio_io_uring_over_epoll_wall", b.rps / be.rps);
		}
	}
	free_msgset(&ms);
	return b;
}

/* Of the batch-1 sweep: the best images/s whose p99 is within the batched p99,
 * and the tightest p99; their indices in the sweep's array, or -1. */
struct sweep_pick {
	struct run best, tightest;
	int best_i, tight_i;
};

/* Batch 1, swept over the load (never past a capped load of `load` requests). */
static struct sweep_pick unbatched_sweep(const struct frames *f, cJSON *o, const struct run *b,
					 int capped, int load)
{
	static const int sweep_full[][2] = {{1, 1}, {4, 1}, {16, 1}, {64, 1}, {256, 1}, {256, 2}};
	static const int sweep_quick[][2] = {{16, 1}, {256, 2}};
	const int (*sw)[2] = O.quick ? sweep_quick : sweep_full;
	int n_sw = O.quick ? 2 : 6;
	cJSON *arr = cJSON_AddArrayToObject(o, "unbatched_sweep");
	struct srv_opts s1 = {.max_batch = 1, .max_delay_us = 0, .max_requests = 2048, .max_conns = 1024};
	struct sweep_pick s = {.best_i = -1, .tight_i = -1};
	for (int i = 0; i < n_sw; i++) {
		int dv = sw[i][0], dp = sw[i][1];
		if (capped && dv * dp > load)
			continue;
		struct ab_msgset m1;
		make_msgset(f, dp, &m1);
		struct run r = measure(K_URING, &s1, &m1, dv, dp);
		free_msgset(&m1);
		cJSON_AddItemToArray(arr, r.json);
		if (!r.ok)
			continue;
		if (b->ok && r.p99_us <= b->p99_us && r.rps > s.best.rps) {
			s.best = r;
			s.best_i = cJSON_GetArraySize(arr) - 1;
		}
		if (s.tight_i < 0 || r.p99_us < s.tightest.p99_us) {
			s.tightest = r;
			s.tight_i = cJSON_GetArraySize(arr) - 1;
		}
	}
	return s;
}

static void batching_gain(cJSON *o, const struct run *b, const struct sweep_pick *s,
			  struct tail_summary *sum)
{
	const struct run *best = &s->best;
	cJSON *cmp = cJSON_AddObjectToObject(o, "batching_gain");
	cJSON_AddStringToObject(cmp, "rule", "images/s of the batched run over the highest images/s of the batch-1 sweep whose p99 <= the batched p99");
	cJSON_AddNumberToObject(cmp, "batched_images_per_s", b->rps);
	cJSON_AddNumberToObject(cmp, "batched_p99_us", b->p99_us);
	if (s->best_i >= 0) {
		cJSON_AddNumberToObject(cmp, "unbatched_sweep_index", s->best_i);
		cJSON_AddNumberToObject(cmp, "unbatched_images_per_s", best->rps);
		cJSON_AddNumberToObject(cmp, "unbatched_p99_us", best->p99_us);
		cJSON_AddNumberToObject(cmp, "ratio", b->rps / best->rps);
		cJSON_AddNumberToObject(cmp, "ratio_per_server_cpu_s",
					best->per_cpu > 0 ? b->per_cpu / best->per_cpu : 0);
		keep_min(&sum->worst_gain, b->rps / best->rps);
		if (best->per_cpu > 0)
			keep_min(&sum->worst_gain_cpu, b->per_cpu / best->per_cpu);
	} else {
		cJSON_AddStringToObject(cmp, "note", "no batch-1 load reached a p99 within the batched p99");
		if (s->tight_i >= 0) {
			cJSON_AddNumberToObject(cmp, "tightest_unbatched_p99_us", s->tightest.p99_us);
			cJSON_AddNumberToObject(cmp, "tightest_unbatched_images_per_s", s->tightest.rps);
		}
	}
}

/* The batched run against the kernels alone (b->ok). */
static void e2e_over_kernels(cJSON *o, const struct run *b, const struct kernel_rates *k,
			     struct tail_summary *sum)
{
	const double k_cpu = k->cpu, k_wall = k->wall, k_conc = k->conc, dec_s = k->dec_s;
	cJSON *e2e = cJSON_AddObjectToObject(o, "e2e_over_kernels");
	cJSON_AddStringToObject(e2e, "wall_rule", "batched images/s end to end (2 workers, load generator on the same 2 cores) / (kernels-only batch-32 images/s on one thread x workers)");
	cJSON_AddStringToObject(e2e, "cpu_rule", "batched images per second of the appliance's own CPU (user+sys, all threads: I/O, decode, scheduling, kernels) / kernels-only batch-32 images per CPU-second of one thread");
	double rw = k_wall > 0 ? b->rps / (k_wall * O.workers) : 0, rc = k_cpu > 0 ? b->per_cpu / k_cpu : 0;
	cJSON_AddStringToObject(e2e, "cpu_vs_decode_plus_kernels_rule", "as cpu, against kernels-only plus the in-process frame decode (what is left is network, protocol and scheduling)");
	cJSON_AddNumberToObject(e2e, "wall", rw);
	cJSON_AddNumberToObject(e2e, "cpu", rc);
	cJSON_AddNumberToObject(e2e, "cpu_vs_decode_plus_kernels",
				k_cpu > 0 ? b->per_cpu * (1 / k_cpu + dec_s) : 0);
	cJSON_AddStringToObject(e2e, "cpu_vs_concurrent_rule", "as cpu and cpu_vs_decode_plus_kernels, against the kernels run by `workers` threads at once (sharing caches and memory bandwidth as the appliance's workers do)");
	cJSON_AddNumberToObject(e2e, "cpu_vs_concurrent_kernels", k_conc > 0 ? b->per_cpu / k_conc : 0);
	cJSON_AddNumberToObject(e2e, "cpu_vs_concurrent_decode_plus_kernels",
				k_conc > 0 ? b->per_cpu * (1 / k_conc + dec_s) : 0);
	keep_min(&sum->worst_e2e_cpu, rc);
	keep_min(&sum->worst_e2e_wall, rw);
	if (k_cpu > 0)
		keep_min(&sum->worst_e2e_dec, b->per_cpu * (1 / k_cpu + dec_s));
}

static cJSON *tail_point(struct point pt, struct tail_summary *sum)
{
	struct frames f;
	struct kernel_rates k = {0};
	int devices, depth = O.tail_depth;
	make_frames(pt, &f);
	cJSON *o = point_json(&f);
	fprintf(stderr, "real tail: exit %d after %s (p=%d, %.0f-byte frames):\n", pt.exit + 1,
		pt.layer, pt.partition, f.mean_bytes);
	cJSON_AddItemToObject(o, "kernels_only", kernels_only(&f, &k.cpu, &k.wall, &k.conc, &k.dec_s));
	int capped = tail_load(&f, o, &devices, depth);
	struct run b = tail_batched(&f, o, devices, depth);
	struct sweep_pick s = unbatched_sweep(&f, o, &b, capped, devices * depth);
	batching_gain(o, &b, &s, sum);
	if (b.ok)
		e2e_over_kernels(o, &b, &k, sum);
	free_frames(&f);
	return o;
}

/* ---- over veth: DPDK, io_uring UDP, io_uring TCP ------------------------------------ */

#define VETH_DPDK_PORT 7878
#define AF_PACKET_TESTPMD_PPS 250000.0 /* testpmd through net_af_packet on a veth, here */

/* Whether this coinfer-appliance serves transport dpdk: its --help lists --dpdk-eal. */
static int appliance_has_dpdk(void)
{
	char cmd[PATH_MAX + 32], line[512];
	int found = 0;
	snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", O.appliance);
	FILE *f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		found |= strstr(line, "--dpdk-eal") != NULL;
	if (f)
		pclose(f);
	return found;
}

/* The appliance in namespace A on transport tr: one worker (one core: a UDP or
 * DPDK worker takes one socket or queue), the null model, answers at once. */
static int spawn_veth(const struct ab_veth *v, const char *tr, int devices, struct server *s)
{
	char a[20][192];
	char *argv[24];
	int n = 0, dpdk = !strcmp(tr, "dpdk");
#define ARG(...) (snprintf(a[n], sizeof(a[n]), __VA_ARGS__), argv[n] = a[n], n++)
	ARG("%s", O.appliance);
	ARG("--transport=%s", tr);
	ARG("--host=%s", v->ip_a);
	ARG("--port=%d", dpdk ? VETH_DPDK_PORT : 0);
	ARG("--workers=1");
	ARG("--max-conns=%d", devices > 1024 ? devices : 1024);
	ARG("--max-requests=%d", devices * O.null_depth > 2048 ? devices * O.null_depth : 2048);
	ARG("--max-batch=32");
	ARG("--max-delay-us=0");
	ARG("--max-inflight=256");
	ARG("--calibrate-runs=%d", O.calibrate_runs);
	ARG("--null-model");
	/* every request in flight may owe an ACK and a RESULT at once: a reply
	 * finding no free tx slot would be dropped, and its request lost */
	if (!strcmp(tr, "udp"))
		ARG("--tx-datagrams=%d", 2 * devices * O.null_depth > 1024
						 ? 2 * devices * O.null_depth : 1024);
	if (dpdk) {
		ARG("--dpdk-port=net_af_packet0");
		ARG("--dpdk-eal=--no-huge --no-pci --no-shconf -m 256 --file-prefix=coinfer-%d "
		    "--vdev=net_af_packet0,iface=%s", (int)getpid(), v->if_a);
	}
	if (O.model_path) {
		ARG("--model");
		ARG("%s", O.model_path);
	}
	argv[n] = NULL;
#undef ARG
	SRV_NETNS = v;
	int ret = server_start(s, argv);
	SRV_NETNS = NULL;
	return ret;
}

/* The rates of a row that only datagram transports have. */
static void veth_dgram_json(cJSON *o, const char *tr, const struct ab_load_result *lr,
			    const struct run *r)
{
	cJSON_AddNumberToObject(o, "acks_received", (double)lr->acks);
	/* a request is one datagram in; its ACK and its RESULT are two out */
	cJSON_AddNumberToObject(o, "packets_per_s", 3 * r->rps);
	if (strcmp(tr, "dpdk"))
		return;
	cJSON_AddStringToObject(o, "appliance_cpu",
				"measured: the worker polls while packets come and naps after 1024 "
				"empty polls (up to the appliance's --dpdk-idle-us, its default); "
				"with --dpdk-idle-us 0 it would poll always, its CPU time its "
				"wall time");
	cJSON_AddNumberToObject(o, "requests_per_polling_core_s", r->rps);
	cJSON_AddNumberToObject(o, "share_of_af_packet_testpmd_pps",
				3 * r->rps / AF_PACKET_TESTPMD_PPS);
	double sys = lr->server_cpu_s > 0 ? lr->server_sys_s / lr->server_cpu_s : 0;
	cJSON_AddStringToObject(o, "appliance_cpu_mostly",
				sys >= 0.5 ? "kernel: af_packet and the veth, not DPDK, take most "
					     "of it"
					   : "user space: DPDK and the appliance's own work");
}

/* One transport over the veth: a row, or NULL with a note why not. */
static cJSON *veth_row(struct ab_veth *v, const char *tr, const struct ab_msgset *ms, int devices,
		       cJSON *notes)
{
	char why[320];
	struct server s;
	struct run r = {0};
	int dpdk = !strcmp(tr, "dpdk");
	/* a DPDK port answers ARP itself: the kernel in A must not hold the address too */
	if (ab_veth_addr_a(v, !dpdk) || spawn_veth(v, tr, devices, &s)) {
		snprintf(why, sizeof(why), "%s skipped: the appliance did not start on it", tr);
		cJSON_AddItemToArray(notes, cJSON_CreateString(why));
		fprintf(stderr, "coinfer-bench-appliance: %s\n", why);
		return NULL;
	}
	struct ab_load_config lc = {.host = v->ip_a, .port = s.port, .devices = devices,
				    .depth = O.null_depth, .threads = O.load_threads,
				    .warmup_s = O.warmup, .seconds = O.seconds, .msgs = ms,
				    .model_checksum = M->checksum, .model_name = M->name,
				    .server_pid = s.pid};
	struct ab_load_result *lr = calloc(1, sizeof(*lr));
	int ret = strcmp(tr, "tcp") ? ab_load_run_udp(&lc, lr) : ab_load_run(&lc, lr);
	server_stop(&s);
	if (dpdk) {
		/* the EAL's runtime folder, empty with --no-shconf but left behind */
		char dir[64];
		snprintf(dir, sizeof(dir), "/var/run/dpdk/coinfer-%d", (int)getpid());
		rmdir(dir);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "transport", tr);
	if (ret) {
		cJSON_AddStringToObject(o, "error", lr->err);
		fprintf(stderr, "coinfer-bench-appliance: %s load: %s\n", tr, lr->err);
	} else {
		load_json(o, lr, 1, &r);
		cJSON_AddNumberToObject(o, "server_sys_s", lr->server_sys_s);
		cJSON_AddNumberToObject(o, "server_sys_share", lr->server_cpu_s > 0
					? lr->server_sys_s / lr->server_cpu_s : 0);
		double user = lr->server_cpu_s - lr->server_sys_s;
		cJSON_AddNumberToObject(o, "requests_per_server_user_cpu_s",
					user > 0 ? (double)lr->results / user : 0);
		cJSON_AddNumberToObject(o, "lost", (double)lr->lost);
		double n = (double)lr->results;
		cJSON_AddNumberToObject(o, "load_generator_cpu_us_per_request",
					n > 0 ? lr->load_cpu_s / n * 1e6 : 0);
		if (strcmp(tr, "tcp"))
			veth_dgram_json(o, tr, lr, &r);
	}
	if (s.stopped)
		cJSON_AddItemToObject(o, "server_stopped", s.stopped);
	cJSON_Delete(s.listening);
	fprintf(stderr, "  %-4s %4d dev x %2d: %9.0f req/s, %9.0f req/cpu-s, p50 %7.0f p99 %7.0f "
		"us, lost %llu, generator %.2f cpu-s\n", tr, devices, O.null_depth, r.rps,
		r.per_cpu, r.p50_us, r.p99_us, (unsigned long long)lr->lost, lr->load_cpu_s);
	free(lr);
	return o;
}

/* Frames of the last exit's first layer whose every INFER fits one datagram
 * fragment, so that UDP and DPDK carry each request in one packet. */
static void veth_frames(struct frames *f)
{
	static const char *const layers[] = {"pool5", "flatten5", "fc6", "relu6"};
	for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
		struct point pt;
		if (find_point(M->n_exits - 1, layers[i], &pt))
			continue;
		make_frames(pt, f);
		size_t big = 0;
		for (int k = 0; k < N_FRAMES; k++)
			big = f->len[k] > big ? f->len[k] : big;
		if (big + CW_INFER_PREFIX_BYTES <= CW_DG_DEFAULT_PAYLOAD)
			return;
		free_frames(f);
	}
	die("%s", "no layer of the last exit gives one-fragment INFERs");
}

static void veth_notes(cJSON *notes)
{
	static const char *const n[] = {
		"requests_per_server_cpu_s: RESULTs in the window per second of the appliance's "
		"utime+stime over it (all its threads, from /proc/PID/stat): requests per "
		"appliance CPU-second",
		"server_sys_s, server_sys_share: the part of the appliance's CPU in the kernel; "
		"for dpdk that is the af_packet PMD's path (its sendto kicks, the packet socket's "
		"rings, the veth and the delivery into the generator's sockets), not DPDK's; "
		"requests_per_server_user_cpu_s counts only the rest (for dpdk: DPDK, the "
		"datagram layer and the session, what a NIC without the kernel would leave)",
		"dpdk: a DPDK worker polls: requests_per_server_cpu_s counts the CPU it used "
		"(it naps when idle, the appliance's default), requests_per_polling_core_s "
		"counts its wall time, as when it polls always (--dpdk-idle-us 0)",
		"dpdk runs net_af_packet: a PMD over a kernel AF_PACKET socket on the veth, so "
		"every packet still crosses the kernel (veth transmit, the packet socket's ring, "
		"a copy each way). testpmd moved ~0.25 Mpps through net_af_packet on a veth here "
		"against ~445 Mpps on net_ring, and the appliance's fast path alone "
		"(--dpdk-fastpath, net_ring) answers ~0.6 M requests/s per core: where the dpdk "
		"row's packets_per_s (3 per request: the INFER in, its ACK and RESULT out) nears "
		"0.25 M (share_of_af_packet_testpmd_pps near 1) or server_sys_share passes 0.5, "
		"af_packet, not DPDK, limits it (appliance_cpu_mostly says which); the af_packet "
		"receive copy runs in the generator's send (softirq), so it lands on the "
		"generator's CPU",
		"the generator shares the machine's cores; the kernel's veth and IP work for a "
		"packet is charged to whoever runs it (the sender's system call, or a softirq on "
		"either side), so each side's CPU holds some of the other's kernel work",
		"dpdk: net_af_packet's receive ring holds 512 frames (its default framecnt): "
		"with more requests in flight (devices x depth) a burst overflows it and the "
		"kernel drops requests (lost > 0): af_packet's limit, not DPDK's "
		"(framecnt=4096 in the vdev's arguments removes it)",
		"udp and dpdk: one-fragment INFERs, devices multiplexed by session id over one "
		"socket per generator thread; a request unanswered for 1 s is counted lost "
		"and its slot sends a new one (no retransmission)",
	};
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		cJSON_AddItemToArray(notes, cJSON_CreateString(n[i]));
}

static void veth_config(cJSON *sec, const struct ab_veth *v, const struct frames *f, int devices)
{
	cJSON *c = cJSON_AddObjectToObject(sec, "config");
	cJSON_AddNumberToObject(c, "devices", devices);
	cJSON_AddNumberToObject(c, "depth", O.null_depth);
	cJSON_AddNumberToObject(c, "seconds", O.seconds);
	cJSON_AddNumberToObject(c, "warmup_s", O.warmup);
	cJSON_AddNumberToObject(c, "load_threads", O.load_threads);
	cJSON_AddNumberToObject(c, "appliance_workers", 1);
	cJSON_AddStringToObject(c, "appliance_options", "--null-model --max-batch 32 "
				"--max-delay-us 0 --max-inflight 256 --workers 1");
	cJSON_AddStringToObject(c, "appliance_address", v->ip_a);
	cJSON_AddStringToObject(c, "generator_address", v->ip_b);
	cJSON_AddStringToObject(c, "veth", v->if_a);
	cJSON_AddStringToObject(c, "veth_peer", v->if_b);
	cJSON_AddStringToObject(c, "namespaces", "two, unnamed (unshare): the appliance in A, "
				"this process's load threads in B; MTU 1500; transmit checksum "
				"offload off on B's end (the af_packet PMD cannot take partial "
				"checksums), for every transport");
	cJSON_AddStringToObject(c, "dpdk_eal", "--no-huge --no-pci --no-shconf -m 256 "
				"--file-prefix=coinfer-PID "
				"--vdev=net_af_packet0,iface=VETH_A");
	cJSON_AddItemToObject(c, "frame", point_json(f));
	cJSON_AddNumberToObject(c, "infer_datagram_bytes_mean",
				CW_DG_HEADER_BYTES + CW_INFER_PREFIX_BYTES + f->mean_bytes);
}

/* --veth: each transport of --transports against the same load. */
static cJSON *veth_section(void)
{
	struct ab_veth v;
	char err[512];
	if (ab_veth_make(&v, err, sizeof(err))) {
		fprintf(stderr, "coinfer-bench-appliance: --veth skipped: %s\n", err);
		exit(77);
	}
	int devices = O.veth_devices, has_dpdk = appliance_has_dpdk();
	struct frames f;
	veth_frames(&f);
	struct ab_msgset ms;
	make_msgset(&f, O.null_depth, &ms);
	ms.label = NULL;
	cJSON *sec = cJSON_CreateObject();
	veth_config(sec, &v, &f, devices);
	cJSON *rows = cJSON_AddArrayToObject(sec, "rows"), *notes = cJSON_CreateArray();
	fprintf(stderr, "over veth (%.0f-byte frames, %d devices x %d):\n", f.mean_bytes, devices,
		O.null_depth);
	char list[256], why[320];
	snprintf(list, sizeof(list), "%s", O.transports);
	for (char *save = NULL, *tr = strtok_r(list, ",", &save); tr;
	     tr = strtok_r(NULL, ",", &save)) {
		cJSON *row;
		why[0] = 0;
		if (strcmp(tr, "tcp") && strcmp(tr, "udp") && strcmp(tr, "dpdk"))
			snprintf(why, sizeof(why), "%s skipped: not a transport (tcp, udp, dpdk)",
				 tr);
		else if (!strcmp(tr, "dpdk") && !has_dpdk)
			snprintf(why, sizeof(why), "dpdk skipped: %s lists no --dpdk-eal (built "
				 "without DPDK, or before transport dpdk)", O.appliance);
		else if ((row = veth_row(&v, tr, &ms, devices, notes)))
			cJSON_AddItemToArray(rows, row);
		if (why[0]) {
			cJSON_AddItemToArray(notes, cJSON_CreateString(why));
			fprintf(stderr, "coinfer-bench-appliance: %s\n", why);
		}
	}
	veth_notes(notes);
	cJSON_AddItemToObject(sec, "notes", notes);
	free_msgset(&ms);
	free_frames(&f);
	ab_veth_close(&v);
	return sec;
}

/* ---- main ---------------------------------------------------------------------------- */

/* --quick goes first wherever it stands: the values given as well win */
static int quick_arg(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		     size_t errlen)
{
	struct opts *q = opts;
	q->quick = 1;
	q->seconds = 1, q->warmup = 0.5, q->repeat = 1, q->points = "3:relu4";
	q->devices[0] = 16, q->devices[1] = 256, q->devices[2] = 1024;
	q->n_devices = 3;
	return 0;
}

#define F(f) CLI_FIELD(struct opts, f)
static const struct cli_opt opts[] = {
	{.name = "quick", .kind = CLI_FLAG, F(quick), .parse = quick_arg, .early = 1,
	 .help = "short windows, fewer points (< 60 s): --seconds 1, --warmup 0.5,\n"
		 "--repeat 1, --devices 16,256,1024, --points 3:relu4, unless given"},
	{.name = "seconds", .kind = CLI_DOUBLE, F(seconds), .lo = 1e-3, .hi = 1e6, .arg = "S",
	 .help = "measured window per point"},
	{.name = "warmup", .kind = CLI_DOUBLE, F(warmup), .lo = 0, .hi = 1e6, .arg = "S",
	 .help = "warm-up before each window"},
	{.name = "devices", .kind = CLI_LIST, F(devices), .max = 16, .lo = 1, .hi = 100000,
	 .count_off = offsetof(struct opts, n_devices), .help = "device counts of the null model"},
	{.name = "depth", .kind = CLI_INT, F(null_depth), .lo = 1, .hi = 256,
	 .help = "requests outstanding per device, null model"},
	{.name = "repeat", .kind = CLI_INT, F(repeat), .lo = 1, .hi = 16,
	 .help = "null-model runs per server and device count, alternating\n"
		 "the servers; medians compared"},
	{.name = "points", .kind = CLI_STRING, F(points), .arg = "LIST",
	 .help = "real-tail points, EXIT:LAYER (last layer on the device, or\ninput)"},
	{.name = "tail-devices", .kind = CLI_INT, F(tail_devices), .lo = 1, .hi = 100000,
	 .help = "devices of the real-tail batched runs"},
	{.name = "tail-depth", .kind = CLI_INT, F(tail_depth), .lo = 1, .hi = 256,
	 .help = "requests outstanding per device there"},
	{.name = "no-load-cap", .kind = CLI_FLAG, F(no_load_cap),
	 .help = "keep the tail load even where frames above the appliance's\n"
		 "8 KiB request slots would exhaust its 256 big buffers"},
	{.name = "load-threads", .kind = CLI_INT, F(load_threads), .lo = 1, .hi = 1024,
	 .help = "load generator threads"},
	{.name = "workers", .kind = CLI_INT, F(workers), .lo = 1, .hi = 1024,
	 .help = "server workers"},
	{.name = "calibrate-runs", .kind = CLI_INT, F(calibrate_runs), .lo = 0, .hi = 1000,
	 .help = "the servers' start-up calibration runs (0: FLOP estimates;\n"
		 "see docs/bench-appliance.md for why not more)"},
	{.name = "no-null", .kind = CLI_FLAG, F(no_null), .help = "skip the null-model section"},
	{.name = "no-tail", .kind = CLI_FLAG, F(no_tail), .help = "skip the real-tail section"},
	{.name = "no-epoll", .kind = CLI_FLAG, F(no_epoll), .help = "skip the epoll peer"},
	{.name = "dpdk-fastpath", .kind = CLI_FLAG, F(dpdk_fastpath),
	 .help = "add the DPDK fast path alone on a port of rings (one core;\n"
		 "with --no-null --no-tail, only that)"},
	{.name = "veth", .kind = CLI_FLAG, F(veth),
	 .help = "only this: the appliance in a network namespace of its own,\n"
		 "the load over a veth pair, per transport of --transports\n"
		 "(null model; exits 77 where namespaces cannot be made)"},
	{.name = "transports", .kind = CLI_STRING, F(transports), .arg = "LIST",
	 .help = "--veth: of tcp, udp, dpdk (dpdk only where the appliance\n"
		 "has it)"},
	{.name = "veth-devices", .kind = CLI_INT, F(veth_devices), .lo = 1, .hi = 100000,
	 .help = "--veth: devices (x --depth requests each; above 512 in\n"
		 "flight af_packet's receive ring drops requests of dpdk)"},
	{.name = "appliance", .kind = CLI_STRING, F(appliance), .arg = "PATH",
	 .help = "coinfer-appliance", .dflt = "next to this binary's folder"},
	CLI_OPT_MODEL(struct opts, model_path),
	CLI_OPT_DATA(struct opts, data_dir),
};
static const struct cli_prog prog = {
	.name = "coinfer-bench-appliance",
	.head = "usage: coinfer-bench-appliance [options]\n"
		"The edge appliance under load over loopback (JSON on stdout, progress on stderr):\n"
		"null model and real tail, io_uring against an epoll loop of the same protocol,\n"
		"batched against batch 1, against the kernels alone. See docs/bench-appliance.md.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct opts)};

/* This binary (the epoll server), and the appliance: --appliance, else
 * build/coinfer-appliance for build/bench/coinfer-bench-appliance. */
static void find_binaries(void)
{
	static char app[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", O.self, sizeof(O.self) - 1);
	if (n <= 0)
		die("%s", "readlink /proc/self/exe");
	O.self[n] = 0;
	if (!O.appliance) {
		snprintf(app, sizeof(app), "%s", O.self);
		char *slash = strrchr(app, '/');
		*slash = 0;
		slash = strrchr(app, '/');
		snprintf(slash ? slash + 1 : app, sizeof(app) - (size_t)(slash ? slash + 1 - app : 0),
			 "coinfer-appliance");
		O.appliance = app;
	}
	if (access(O.appliance, X_OK))
		die("no appliance at %s (--appliance PATH)", O.appliance);
}

/* Descriptors for every device here (the servers inherit the limit): raised when
 * short, into the machine section. */
static void raise_nofile(cJSON *mach)
{
	int maxdev = O.tail_devices, raised = 0, nofile_ok = 1;
	for (int i = 0; i < O.n_devices; i++)
		maxdev = O.devices[i] > maxdev ? O.devices[i] : maxdev;
	if (O.veth && O.veth_devices > maxdev)
		maxdev = O.veth_devices;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = (rlim_t)maxdev * 2 + 256;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want) {
			nofile_ok = 0;
			fprintf(stderr, "coinfer-bench-appliance: RLIMIT_NOFILE is %llu, below the %llu "
					"descriptors %d devices need (hard limit %llu)\n",
				(unsigned long long)rl.rlim_cur, (unsigned long long)want, maxdev,
				(unsigned long long)rl.rlim_max);
		}
	}
	cJSON_AddNumberToObject(mach, "rlimit_nofile", (double)rl.rlim_cur);
	cJSON_AddBoolToObject(mach, "rlimit_nofile_raised", raised);
	cJSON_AddBoolToObject(mach, "rlimit_nofile_enough", nofile_ok);
}

static void config_json(cJSON *root)
{
	cJSON *cf = cJSON_AddObjectToObject(root, "config");
	cJSON_AddBoolToObject(cf, "quick", O.quick);
	cJSON_AddNumberToObject(cf, "seconds", O.seconds);
	cJSON_AddNumberToObject(cf, "warmup_s", O.warmup);
	cJSON_AddNumberToObject(cf, "server_workers", O.workers);
	cJSON_AddNumberToObject(cf, "load_threads", O.load_threads);
	cJSON_AddNumberToObject(cf, "null_depth", O.null_depth);
	cJSON_AddNumberToObject(cf, "null_repeat", O.repeat);
	cJSON_AddNumberToObject(cf, "calibrate_runs", O.calibrate_runs);
	cJSON_AddNumberToObject(cf, "tail_devices", O.tail_devices);
	cJSON_AddNumberToObject(cf, "tail_depth", O.tail_depth);
	cJSON_AddNumberToObject(cf, "deadline_us", DEADLINE_US);
	cJSON_AddStringToObject(cf, "appliance", O.appliance);
	cJSON_AddStringToObject(cf, "transport",
				O.veth ? "per row of veth, over a veth pair (veth.config)"
				       : "TCP over loopback 127.0.0.1");
}

/* The real tail at every point of --points ("EXIT:LAYER,...": EXIT 1-based,
 * LAYER the last one the device runs). */
static void tail_section(cJSON *root, struct tail_summary *ts)
{
	cJSON *sec = cJSON_AddObjectToObject(root, "real_tail");
	cJSON_AddStringToObject(sec, "server_options", "batched: --max-batch 32 --max-delay-us 2000; unbatched: --max-batch 1; both 2 workers");
	cJSON *pts = cJSON_AddArrayToObject(sec, "points");
	char list[1024];
	snprintf(list, sizeof(list), "%s", O.points);
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct point pt;
		char *colon = strchr(tok, ':');
		int e = colon ? atoi(tok) - 1 : M->n_exits - 1;
		const char *layer = colon ? colon + 1 : tok;
		if (e < 0 || e >= M->n_exits || find_point(e, layer, &pt)) {
			fprintf(stderr, "coinfer-bench-appliance: no point %s (EXIT:LAYER)\n", tok);
			continue;
		}
		pt.layer = strdup(layer);
		cJSON_AddItemToArray(pts, tail_point(pt, ts));
	}
}

static void acceptance_json(cJSON *root, const struct tail_summary *ts)
{
	cJSON *acc = cJSON_AddObjectToObject(root, "acceptance");
	if (!O.no_null) {
		cJSON_AddNumberToObject(acc, "null_256_requests_per_appliance_cpu_s", null_256_per_cpu);
		cJSON_AddBoolToObject(acc, "null_256_ge_200000", null_256_per_cpu >= 200000);
		cJSON_AddNumberToObject(acc, "null_256_ratio_io_uring_over_epoll", null_256_ratio);
		cJSON_AddBoolToObject(acc, "null_256_ratio_ge_1.2", null_256_ratio >= 1.2);
	}
	if (!O.no_tail) {
		cJSON_AddNumberToObject(acc, "tail_min_e2e_over_kernels_cpu", ts->worst_e2e_cpu);
		cJSON_AddNumberToObject(acc, "tail_min_e2e_over_kernels_wall", ts->worst_e2e_wall);
		cJSON_AddBoolToObject(acc, "tail_e2e_cpu_ge_0.9", ts->worst_e2e_cpu >= 0.9);
		cJSON_AddNumberToObject(acc, "tail_min_e2e_over_decode_plus_kernels_cpu", ts->worst_e2e_dec);
		cJSON_AddNumberToObject(acc, "tail_min_batching_gain", ts->worst_gain);
		cJSON_AddNumberToObject(acc, "tail_min_batching_gain_per_server_cpu_s", ts->worst_gain_cpu);
		cJSON_AddBoolToObject(acc, "tail_batching_gain_ge_3", ts->worst_gain >= 3);
	}
}

static cJSON *dpdk_fastpath(void)
{
#if COINFER_DPDK
	fprintf(stderr, "DPDK fast path on a port of rings...\n");
	return ab_dpdk_fastpath(M, O.quick ? 1000000 : 5000000);
#else
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "skipped", "built without libdpdk (meson -Ddpdk)");
	return o;
#endif
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--serve-epoll"))
		return ab_serve_epoll(argc - 1, argv + 1);

	O = (struct opts){.workers = 2, .load_threads = 2, .null_depth = 4, .tail_devices = 256,
			  .tail_depth = 2, .calibrate_runs = 0, .seconds = 5, .warmup = 1, .repeat = 3,
			  .points = "3:input,3:relu2,3:relu4,1:b1_relu",
			  .devices = {1, 16, 256, 1024}, .n_devices = 4,
			  .transports = "tcp,udp,dpdk", .veth_devices = 64};
	int st = cli_args(&prog, &O, argc, argv);
	if (st != CLI_GO)
		return st;
	O.kernel_seconds = O.quick ? 0.6 : 3;
	if (O.veth)
		O.no_null = O.no_tail = 1;
	find_binaries();
	signal(SIGPIPE, SIG_IGN);

	char err[512];
	if (cli_model_load(O.model_path, &M, err, sizeof(err)))
		die("%s", err);

	double t_start = cf_now_s();
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "bench", "appliance");
	cJSON_AddStringToObject(root, "model", M->name);
	cJSON *mach = cJSON_AddObjectToObject(root, "machine");
	cJSON_AddNumberToObject(mach, "cpus_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddNumberToObject(mach, "load_avg_1m_start", ab_loadavg_1m());
	raise_nofile(mach);
	config_json(root);
	if (!O.no_null)
		cJSON_AddItemToObject(root, "null_model", null_section());
	struct tail_summary ts = {-1, -1, -1, -1, -1};
	if (!O.no_tail)
		tail_section(root, &ts);
	if (J_1024)
		cJSON_AddItemToObject(root, "devices_1024", J_1024);
	if (O.dpdk_fastpath)
		cJSON_AddItemToObject(root, "dpdk_fastpath", dpdk_fastpath());
	if (O.veth)
		cJSON_AddItemToObject(root, "veth", veth_section());
	acceptance_json(root, &ts);
	cJSON_AddNumberToObject(mach, "load_avg_1m_end", ab_loadavg_1m());
	cJSON_AddNumberToObject(root, "elapsed_s", cf_now_s() - t_start);
	char *s = cJSON_Print(root);
	puts(s);
	free(s);
	cJSON_Delete(root);
	cr_model_free(M);
	return 0;
}
