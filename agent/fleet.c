/* The device agents: each thread runs one poll loop over its agents. An agent is
 * a connection to the appliance (conn.c) and a few request slots (request.c).
 * Compute runs inline in the loop; every wait (time dilation, reply timeouts,
 * backoff, the breaker's probes) is a timer of the loop. This file sets the fleet
 * up (configuration, calibration, emulated device times, buffers), runs the loops
 * and gathers the records.
 *
 * Ownership: every buffer is allocated at creation, none per request, and freed
 * only by ag_fleet_destroy; but for the records. A thread's records are
 * reserved at ag_fleet_run, sized from the cap, or from the duration and the
 * arrival rate (expected_records, at most 64 Ki), and grown in chunks (by half)
 * between the loop's passes (poll_set keeps a pass's worth of room), never in
 * the request path (emit reallocates only should that room run out). A thread's
 * executor, encoder, input, verify buffers, poll set, records and agents belong
 * to that thread's loop alone; threads share only what does not change while
 * they run (the configuration, the model, the measured and emulated times), the
 * output streams, under out_mu, the progress counters (atomics each written by
 * one thread) and the stop flag (atomic). */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/errmsg.h"
#include "internal.h"

#define NEVER UINT64_MAX

static int fwait(const struct ag_fleet *f, struct pollfd *fds, nfds_t n, uint64_t ns)
{
	if (f->cfg.clock.wait)
		return f->cfg.clock.wait(f->cfg.clock.ctx, fds, n, ns);
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
	return ppoll(fds, n, &ts, NULL);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

void ag_logf(struct ag_fleet *f, const char *fmt, ...)
{
	if (!f->cfg.log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&f->out_mu);
	fprintf(f->cfg.log, "coinfer-agent: %s\n", line);
	fflush(f->cfg.log);
	pthread_mutex_unlock(&f->out_mu);
}

void ag_config_defaults(struct ag_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = CW_DEFAULT_PORT;
	c->agents = 1;
	c->threads = 1;
	c->requests = 20;
	c->inflight = 1;
	c->deadline_ms = 100;
	c->margin_ms = 2;
	c->action = (struct cf_action){.exit = 2, .partition = 8, .bits = 8};
	c->codec = CC_CODEC_HUFFMAN;
	c->slowdown = 1;
	c->device_id_base = 1;
	c->device_class = "host";
	c->app = "default";
	c->backoff_base_us = 50000;
	c->backoff_cap_us = 2000000;
	ag_breaker_defaults(&c->breaker);
	c->udp_tries = 6;
	c->connect_timeout_ms = 1000;
	c->connect_wait_ms = 2000;
	c->ping_ms = 500;
	c->ping_pad = 16384;
	ag_bw_defaults(&c->bw);
	c->calib_runs = 5;
	c->seed = 1;
}

/* ---- arrivals ------------------------------------------------------------------------------ */

int ag_more_requests(const struct ag_agent *a)
{
	const struct ag_fleet *f = a->th->f;
	if (atomic_load_explicit(&f->stop, memory_order_relaxed))
		return 0;
	/* with a duration, requests 0 means no cap */
	if ((f->cfg.requests > 0 || f->t_end == 0) && a->started >= f->cfg.requests)
		return 0;
	return f->t_end == 0 || a->t_next_start < f->t_end;
}

uint64_t ag_next_gap(struct ag_agent *a)
{
	const struct ag_fleet *f = a->th->f;
	const struct ag_arrival_config *ac = &f->cfg.arrival;
	switch (f->arrival) {
	case AG_ARRIVAL_FIXED:
		return ms_to_ns(f->cfg.interval_ms);
	case AG_ARRIVAL_POISSON: /* exponential, by inversion; 1 - u is in (0, 1] */
		return ms_to_ns(-log(1.0 - rng_unit(&a->rng)) * 1000.0 / ac->rate_hz);
	case AG_ARRIVAL_GAPS: {
		double g = ac->gaps_ms[a->gap_next];
		a->gap_next = (a->gap_next + 1) % ac->n_gaps;
		return ms_to_ns(g);
	}
	case AG_ARRIVAL_CLOSED:
		break;
	}
	return 0;
}

/* The agent's first schedule: the stagger (drawn first, so a seed staggers as it
 * did before arrivals), then for POISSON and GAPS a first gap, as if the
 * process had started at the fleet's start. */
static void first_schedule(struct ag_fleet *f, struct ag_agent *a)
{
	a->t_next_start = f->t0 + ms_to_ns(rng_unit(&a->rng) * f->cfg.stagger_ms);
	if (f->arrival == AG_ARRIVAL_GAPS)
		a->gap_next = a->idx % f->cfg.arrival.n_gaps;
	if (f->arrival == AG_ARRIVAL_POISSON || f->arrival == AG_ARRIVAL_GAPS)
		a->t_next_start += ag_next_gap(a);
}

static int check_arrival(const struct ag_config *cfg, char *err, size_t errlen)
{
	const struct ag_arrival_config *ac = &cfg->arrival;
	if ((unsigned)ac->kind > AG_ARRIVAL_GAPS || !(ac->think_ms >= 0) ||
	    !(cfg->duration_s >= 0) || !(cfg->warmup_s >= 0))
		return cf_fail(-EINVAL, err, errlen, "bad arrival %d, think_ms %g, duration_s %g "
			       "or warmup_s %g (>= 0)", (int)ac->kind, ac->think_ms, cfg->duration_s,
			       cfg->warmup_s);
	if (ac->kind == AG_ARRIVAL_FIXED && !(cfg->interval_ms > 0))
		return cf_fail(-EINVAL, err, errlen, "fixed arrivals need interval_ms > 0");
	if (ac->kind == AG_ARRIVAL_POISSON && !(ac->rate_hz > 0 && ac->rate_hz < 1e6))
		return cf_fail(-EINVAL, err, errlen, "poisson arrivals: rate_hz %g (0 < rate < 1e6)",
			       ac->rate_hz);
	if (ac->kind != AG_ARRIVAL_GAPS)
		return 0;
	if (!ac->gaps_ms || ac->n_gaps < 1)
		return cf_fail(-EINVAL, err, errlen, "gap arrivals without gaps");
	double sum = 0;
	for (int i = 0; i < ac->n_gaps; i++) {
		if (!(ac->gaps_ms[i] >= 0 && ac->gaps_ms[i] < 3.6e6))
			return cf_fail(-EINVAL, err, errlen, "gap %d: %g ms (0 <= gap < 1 h)", i,
				       ac->gaps_ms[i]);
		sum += ac->gaps_ms[i];
	}
	if (!(sum > 0))
		return cf_fail(-EINVAL, err, errlen, "gap arrivals: every gap is 0");
	return 0;
}

/* ---- the poll loops ------------------------------------------------------------------------ */

int ag_needs_network(const struct ag_fleet *f)
{
	return f->cfg.decide || f->cfg.edge_decides ||
	       f->cfg.action.partition < f->m->exit_len[f->cfg.action.exit];
}

/* An agent's due timers: the connection's, the requests', the starts and the
 * keepalive; the agent is finished once every request is answered. */
static void agent_timers(struct ag_agent *a, uint64_t now)
{
	struct ag_fleet *f = a->th->f;
	if (a->finished)
		return;
	ag_conn_timers(a, now, ag_more_requests(a) && ag_needs_network(f));
	ag_request_timers(a);
	now = ag_start_requests(a, fnow(f));
	ag_conn_keepalive(a, now);
	if (!ag_more_requests(a)) {
		int busy = 0;
		for (int i = 0; i < a->nslots; i++)
			busy |= a->slots[i].st != S_FREE;
		if (!busy) {
			ag_conn_close(a);
			a->cs = C_CLOSED;
			a->finished = 1;
		}
	}
}

static uint64_t agent_next(const struct ag_agent *a)
{
	const struct ag_fleet *f = a->th->f;
	uint64_t t = NEVER;
#define AT(x) do { if ((x) < t) t = (x); } while (0)
	if (a->finished)
		return t;
	int more = ag_more_requests(a);
	if (a->cs == C_DOWN && more && ag_needs_network(f))
		AT(a->t_reconnect);
	if (a->cs == C_CONNECTING || a->cs == C_HELLO)
		AT(a->t_handshake);
	if (a->dg)
		AT(ag_dg_next(a));
	int free_slot = 0;
	for (int i = 0; i < a->nslots; i++) {
		const struct ag_slot *s = &a->slots[i];
		if (s->st == S_HEAD || s->st == S_LOCAL || s->st == S_DECIDE)
			AT(s->t_event);
		else if (s->st == S_SENT)
			AT(s->t_timeout);
		else if (s->st == S_UPLINK || s->st == S_DOWNLINK)
			AT(s->t_event < s->t_timeout ? s->t_event : s->t_timeout);
		free_slot |= s->st == S_FREE && !s->tx_pending;
	}
	if (more && free_slot) {
		uint64_t st = a->t_next_start;
		if (a->cs != C_READY && ag_needs_network(f) && a->t_gate > st)
			st = a->t_gate;
		AT(st);
	}
	if (a->cs == C_READY && ag_breaker_allows(&a->brk) && f->cfg.ping_ms > 0 && !a->tx_n)
		AT(a->t_next_ping);
	if (a->brk.st == AG_BRK_HALF_OPEN || (a->cs == C_READY && more))
		AT(ag_breaker_next_ns(&a->brk));
	if (a->cs == C_READY && more && ag_breaker_allows(&a->brk) &&
	    a->t_ping_wait)
		AT(a->t_ping_wait + f->cfg.breaker.timeout_us * 1000);
#undef AT
	return t;
}

/* Runs every agent's due timers and puts the sockets of those not finished in
 * the poll set (*np of them); returns how many are not finished, *next the
 * earliest of their timers. */
static int poll_set(struct ag_thread *th, int *np, uint64_t *next)
{
	const struct ag_fleet *f = th->f;
	int left = 0;
	/* room for every record this pass can make, so emit never allocates: each
	 * slot finishes at most twice a pass (a timer, then a device-only restart) */
	size_t room = (size_t)th->n * (size_t)f->cfg.inflight * 4 + 16;
	if (th->caprec - th->nrec < room &&
	    ag_reserve_records(th, th->caprec + (th->caprec / 2 > room ? th->caprec / 2 : room))) {
		th->failed = 1;
		snprintf(th->err, sizeof(th->err), "out of memory for records");
		return 0;
	}
	for (int i = 0; i < th->n; i++) {
		struct ag_agent *a = &th->agents[i];
		agent_timers(a, fnow(f));
		if (a->finished)
			continue;
		left++;
		uint64_t t = agent_next(a);
		if (t < *next)
			*next = t;
		if (a->fd >= 0) {
			th->pfd[*np] = (struct pollfd){.fd = a->fd, .events = ag_poll_events(a)};
			th->pfd_agent[(*np)++] = i;
		}
	}
	return left;
}

static void *thread_main(void *arg)
{
	struct ag_thread *th = arg;
	const struct ag_fleet *f = th->f;
	int left = th->n;
	while (left > 0 && !th->failed) {
		uint64_t now = fnow(f);
		uint64_t next = NEVER;
		int np = 0;
		left = poll_set(th, &np, &next);
		if (!left)
			break;
		now = fnow(f);
		uint64_t wait = next == NEVER ? 1000 * AG_MS : next > now ? next - now : 0;
		if (wait > 1000 * AG_MS)
			wait = 1000 * AG_MS;
		int r = fwait(f, th->pfd, (nfds_t)np, wait);
		if (r < 0 && errno != EINTR) {
			th->failed = 1;
			snprintf(th->err, sizeof(th->err), "poll: %s", strerror(errno));
			break;
		}
		for (int k = 0; r > 0 && k < np; k++) {
			struct ag_agent *a = &th->agents[th->pfd_agent[k]];
			short re = th->pfd[k].revents;
			if (re && a->fd == th->pfd[k].fd)
				ag_on_events(a, re, fnow(f));
		}
	}
	return NULL;
}

/* ---- the fleet --------------------------------------------------------------------------- */

static int resolve(struct ag_fleet *f, char *err, size_t errlen)
{
	int type = f->cfg.transport == AG_TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int ret = ag_resolve(f->cfg.host, f->cfg.port, type, &f->addr, &f->addrlen, err, errlen);
	f->have_addr = !ret;
	return ret;
}

static int calibrate(struct ag_fleet *f, struct cr_exec *x, float *input)
{
	const struct cr_model *m = f->m;
	int runs = f->cfg.calib_runs > 0 ? f->cfg.calib_runs : 1;
	uint64_t ns[AG_MAX_POS];
	if (f->ds && f->ds->n > 0)
		cr_model_normalize(m, f->ds->images, input, 1);
	for (int e = 0; e < m->n_exits; e++) {
		const float *o;
		cr_exec_run(x, e, 0, m->exit_len[e], input, 1, &o); /* warm-up */
		memset(ns, 0, sizeof(ns));
		cr_exec_set_timing(x, ns);
		for (int r = 0; r < runs; r++)
			cr_exec_run(x, e, 0, m->exit_len[e], input, 1, &o);
		cr_exec_set_timing(x, NULL);
		for (int p = 0; p < m->exit_len[e]; p++)
			f->measured.ms[e][p] = (double)ns[p] / runs / 1e6;
	}
	return 0;
}

static int thread_init(struct ag_fleet *f, struct ag_thread *th, char *err, size_t errlen)
{
	const struct cr_model *m = f->m;
	th->f = f;
	if (cr_exec_create(m, NULL, 1, &th->x))
		return cf_fail(-ENOMEM, err, errlen, "executor: out of memory");
	if (cc_encoder_create(f->max_floats, f->max_pairs, 16, &th->enc))
		return cf_fail(-ENOMEM, err, errlen, "encoder: out of memory");
	th->input = malloc(f->max_floats * sizeof(float));
	th->pfd = calloc((size_t)th->n + 1, sizeof(*th->pfd));
	th->pfd_agent = calloc((size_t)th->n + 1, sizeof(int));
	if (!th->input || !th->pfd || !th->pfd_agent)
		goto nomem;
	if (f->cfg.verify) {
		th->verify_buf = malloc(f->max_floats * sizeof(float));
		th->scratch_bytes = cc_frame_scratch_max();
		th->scratch = malloc(th->scratch_bytes ? th->scratch_bytes : 1);
		if (!th->verify_buf || !th->scratch)
			goto nomem;
	}
	struct cw_limits lim = cw_limits_make(0, AG_SERVER_PAD_MAX);
	size_t rdbytes = cw_reader_bytes(&lim);
	for (int i = 0; i < th->n; i++) {
		struct ag_agent *a = &th->agents[i];
		a->th = th;
		a->fd = -1;
		a->cs = C_DOWN;
		a->device_id = f->cfg.device_id_base + (uint64_t)a->idx;
		a->next_id = 1;
		a->rng = f->cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)a->idx * 7919 + 1;
		ag_backoff_init(&a->bo, f->cfg.backoff_base_us, f->cfg.backoff_cap_us, rng_next(&a->rng));
		/* from the agent's RNG without drawing from it: the stagger of a seed
		 * stays what it was before the breaker */
		uint64_t brk_seed = a->rng ^ 0xD1B54A32D192ED03ull;
		ag_breaker_init(&a->brk, &f->cfg.breaker, rng_next(&brk_seed));
		ag_bw_init(&a->bw, &f->cfg.bw);
		a->rdbuf = malloc(rdbytes);
		a->ping = calloc(1, CW_HEADER_BYTES + CW_PING_FIXED_BYTES + f->cfg.ping_pad);
		a->nslots = f->cfg.inflight;
		a->slots = calloc((size_t)a->nslots, sizeof(*a->slots));
		if (!a->rdbuf || !a->ping || !a->slots)
			goto nomem;
		if (cw_reader_init(&a->rd, a->rdbuf, rdbytes, &lim))
			return cf_fail(-EINVAL, err, errlen, "reader: bad limits");
		for (int k = 0; k < a->nslots; k++) {
			struct ag_slot *s = &a->slots[k];
			if (posix_memalign((void **)&s->msg, 64, f->msg_cap))
				goto nomem;
			for (int x = 0; x < m->n_exits; x++)
				if (posix_memalign((void **)&s->store[x], 64, f->max_floats * sizeof(float)))
					goto nomem;
		}
		int ret = f->cfg.transport == AG_TRANSPORT_UDP ? ag_dg_create(a, err, errlen) : 0;
		if (ret)
			return ret;
	}
	return 0;
nomem:
	return cf_fail(-ENOMEM, err, errlen, "out of memory");
}

/* 0 when per-layer times t (what names them) have the model's exits and layers. */
static int same_shape(const struct ag_times *t, const struct cr_model *m, const char *what,
		      char *err, size_t errlen)
{
	if (t->n_exits != m->n_exits)
		return cf_fail(-EINVAL, err, errlen, "the %s has %d exits, the model %d", what,
			       t->n_exits, m->n_exits);
	for (int e = 0; e < m->n_exits; e++)
		if (t->len[e] != m->exit_len[e])
			return cf_fail(-EINVAL, err, errlen,
				       "the %s's exit %d has %d layers, the model's %d", what, e + 1,
				       t->len[e], m->exit_len[e]);
	return 0;
}

/* 0 when the configuration, the model and the images make a fleet. */
static int check_config(const struct ag_config *cfg, const struct cr_model *m,
			const struct ds_dataset *ds, char *err, size_t errlen)
{
	if (!cfg || !m || !ds || ds->n < 1)
		return cf_fail(-EINVAL, err, errlen,
			       "a configuration, a model and images are needed");
	if ((size_t)ds->c * ds->h * ds->w != (size_t)m->in_c * m->in_h * m->in_w)
		return cf_fail(-EINVAL, err, errlen, "images of %dx%dx%d, the model takes %dx%dx%d",
			       ds->c, ds->h, ds->w, m->in_c, m->in_h, m->in_w);
	if (cfg->transport != AG_TRANSPORT_TCP &&
	    (cfg->transport != AG_TRANSPORT_UDP || cfg->udp_tries < 1 || cfg->udp_tries > 1000))
		return cf_fail(-EINVAL, err, errlen, "bad transport %d or UDP tries %d (1..1000)",
			       (int)cfg->transport, cfg->udp_tries);
	if (cfg->agents < 1 || cfg->threads < 1 || cfg->requests < 0 || cfg->inflight < 1 ||
	    cfg->inflight > 1024 || !(cfg->deadline_ms > 0) || !(cfg->slowdown >= 1) ||
	    cfg->interval_ms < 0 || cfg->margin_ms < 0 || cfg->ping_pad > (1u << 20) ||
	    cfg->encode_slowdown < 0)
		return cf_fail(-EINVAL, err, errlen,
			       "bad configuration (agents, threads, inflight >= 1; deadline > 0; "
			       "slowdown >= 1; ping padding <= 1 MiB)");
	const struct ag_breaker_config *bc = &cfg->breaker;
	if (bc->threshold < 0 ||
	    (bc->threshold > 0 && (!bc->base_us || bc->cap_us < bc->base_us || !bc->timeout_us)))
		return cf_fail(-EINVAL, err, errlen,
			       "bad breaker (threshold %d >= 0; probe backoff %llu..%llu us, "
			       "0 < base <= cap; timeout %llu us > 0)", bc->threshold,
			       (unsigned long long)bc->base_us, (unsigned long long)bc->cap_us,
			       (unsigned long long)bc->timeout_us);
	if (!ag_action_ok(m, &cfg->action, cfg->codec, cfg->per_channel, err, errlen))
		return -EINVAL;
	int ret = check_arrival(cfg, err, errlen);
	if (ret)
		return ret;
	return 0;
}

/* The sizes of the reused buffers: the largest tensor at any partition point and
 * its largest frame under any codec. */
static void buffer_sizes(struct ag_fleet *f)
{
	const struct cr_model *m = f->m;
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++) {
			uint32_t d[3];
			ag_boundary_dims(m, e, p, d);
			size_t fl = cr_model_boundary_floats(m, e, p);
			if (fl > f->max_floats)
				f->max_floats = fl;
			if (d[0] > f->max_pairs)
				f->max_pairs = d[0];
			for (int c = 0; c < CC_CODEC_COUNT; c++)
				for (int pc = 0; pc < 2; pc++) {
					size_t b = cc_frame_bound((enum cc_codec)c, 3, d, pc);
					if (b + CW_INFER_PREFIX_BYTES > f->msg_cap)
						f->msg_cap = b + CW_INFER_PREFIX_BYTES;
				}
		}
	f->msg_cap = (f->msg_cap + 63) & ~(size_t)63;
}

/* The threads, the agents dealt to them round robin, and all their buffers. */
static int make_threads(struct ag_fleet *f, char *err, size_t errlen)
{
	const struct ag_config *cfg = &f->cfg;
	f->nth = cfg->threads < cfg->agents ? cfg->threads : cfg->agents;
	f->th = calloc((size_t)f->nth, sizeof(*f->th));
	if (!f->th)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	for (int t = 0; t < f->nth; t++) {
		struct ag_thread *th = &f->th[t];
		th->idx = t;
		th->n = cfg->agents / f->nth + (t < cfg->agents % f->nth);
		th->agents = calloc((size_t)th->n, sizeof(*th->agents));
		if (!th->agents)
			return cf_fail(-ENOMEM, err, errlen, "out of memory");
		for (int i = 0; i < th->n; i++)
			th->agents[i].idx = t + i * f->nth; /* round robin */
		int ret = thread_init(f, th, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* The per-layer times requests are emulated with: the profile's, or this
 * machine's (given as the calibration, or measured now) stretched by the
 * slowdown; and how much slower than here the device encodes. */
static void emulated_times(struct ag_fleet *f)
{
	const struct ag_config *cfg = &f->cfg;
	const struct cr_model *m = f->m;
	if (cfg->calibration)
		memcpy(f->measured.ms, cfg->calibration->ms, sizeof(f->measured.ms));
	else
		calibrate(f, f->th[0].x, f->th[0].input);
	for (int e = 0; e < m->n_exits; e++)
		for (int p = 0; p < m->exit_len[e]; p++) {
			/* never faster than this machine: qemu is slower than a Pi */
			double meas = f->measured.ms[e][p] * cfg->slowdown;
			f->emulated.ms[e][p] =
				cfg->profile && cfg->profile->ms[e][p] > meas ? cfg->profile->ms[e][p] : meas;
		}
	f->enc_scale = cfg->encode_slowdown > 0 ? cfg->encode_slowdown : cfg->slowdown;
	if (cfg->profile && !(cfg->encode_slowdown > 0)) {
		int d = m->n_plain - 1;
		double meas = ag_times_range_ms(&f->measured, d, 0, m->exit_len[d]);
		double prof = ag_times_range_ms(&f->emulated, d, 0, m->exit_len[d]);
		f->enc_scale = meas > 0 && prof > meas ? prof / meas : 1;
	}
}

int ag_fleet_create(const struct ag_config *cfg, const struct cr_model *m,
		    const struct ds_dataset *ds, struct ag_fleet **out, char *err, size_t errlen)
{
	*out = NULL;
	int ret = check_config(cfg, m, ds, err, errlen);
	if (ret)
		return ret;
	struct ag_fleet *f = calloc(1, sizeof(*f));
	if (!f)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	f->cfg = *cfg;
	f->arrival = cfg->arrival.kind;
	if (f->arrival == AG_ARRIVAL_CLOSED && !(cfg->arrival.think_ms > 0) && cfg->interval_ms > 0)
		f->arrival = AG_ARRIVAL_FIXED; /* the old interval_ms */
	f->m = m;
	f->ds = ds;
	pthread_mutex_init(&f->out_mu, NULL);
	ret = ag_times_init(&f->measured, m);
	if (ret) {
		cf_fail(ret, err, errlen,
			"model too large for the agent (%d exits, %d positions max)", AG_MAX_EXITS,
			AG_MAX_POS);
		goto fail;
	}
	f->emulated = f->measured;
	if (cfg->profile && (ret = same_shape(cfg->profile, m, "device profile", err, errlen)))
		goto fail;
	if (cfg->calibration && (ret = same_shape(cfg->calibration, m, "calibration", err, errlen)))
		goto fail;
	if (cfg->host && ag_needs_network(f) && (ret = resolve(f, err, errlen)))
		goto fail;
	if (!f->have_addr && ag_needs_network(f)) {
		ret = cf_fail(-EINVAL, err, errlen, "no edge address");
		goto fail;
	}
	buffer_sizes(f);
	ret = make_threads(f, err, errlen);
	if (ret || (ret = ag_keys_load(f, err, errlen)))
		goto fail;
	if (ag_needs_network(f) && (ret = ag_agent_addresses(f, err, errlen)))
		goto fail;
	emulated_times(f);
	*out = f;
	return 0;
fail:
	ag_fleet_destroy(f);
	return ret;
}

/* Records in the order answered; ties (one clock reading) by agent and request. */
static int by_answer(const void *pa, const void *pb)
{
	const struct ag_record *a = pa, *b = pb;
	if (a->t_ms != b->t_ms)
		return a->t_ms < b->t_ms ? -1 : 1;
	if (a->agent != b->agent)
		return a->agent < b->agent ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* How many requests an agent schedules in the duration, about: from the arrival
 * rate (closed loop: one per slot every think time, or every 5 ms). */
static double requests_in_duration(const struct ag_fleet *f)
{
	const struct ag_config *c = &f->cfg;
	const struct ag_arrival_config *ac = &c->arrival;
	double dur_ms = c->duration_s * 1000, sum = 0;
	switch (f->arrival) {
	case AG_ARRIVAL_FIXED:
		return dur_ms / c->interval_ms;
	case AG_ARRIVAL_POISSON:
		return ac->rate_hz * c->duration_s;
	case AG_ARRIVAL_GAPS:
		for (int i = 0; i < ac->n_gaps; i++)
			sum += ac->gaps_ms[i];
		return dur_ms * ac->n_gaps / sum;
	case AG_ARRIVAL_CLOSED:
		break;
	}
	return c->inflight * dur_ms / (ac->think_ms > 5 ? ac->think_ms : 5);
}

/* How many records n agents make: the cap, or fewer when the duration ends
 * them first; at most 64 Ki (18 MB) up front: poll_set grows the array past it. */
static size_t expected_records(const struct ag_fleet *f, int n)
{
	double per = f->cfg.requests;
	if (f->t_end) {
		double d = requests_in_duration(f);
		d += 4 * sqrt(d) + 4;
		if (!(per > 0) || d < per)
			per = d;
	}
	double total = per * n;
	return total > 65536 ? 65536 : (size_t)total;
}

int ag_reserve_records(struct ag_thread *th, size_t cap)
{
	if (cap <= th->caprec)
		return 0;
	struct ag_record *r = realloc(th->recs, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	th->recs = r;
	th->caprec = cap;
	return 0;
}

/* The fleet's start: its clock, the threads' records, the agents' first
 * schedules; 0 or -ENOMEM. */
static int fleet_start(struct ag_fleet *f)
{
	f->t0 = fnow(f);
	f->t_end = f->cfg.duration_s > 0 ? f->t0 + ms_to_ns(f->cfg.duration_s * 1000) : 0;
	f->t_warmup = f->t0 + ms_to_ns(f->cfg.warmup_s * 1000);
	for (int t = 0; t < f->nth; t++) {
		if (ag_reserve_records(&f->th[t], expected_records(f, f->th[t].n)))
			return -ENOMEM;
		for (int i = 0; i < f->th[t].n; i++) {
			struct ag_agent *a = &f->th[t].agents[i];
			a->t_gate = f->t0 + ms_to_ns(f->cfg.connect_wait_ms);
			first_schedule(f, a);
			a->t_reconnect = f->t0;
		}
	}
	return 0;
}

int ag_fleet_run(struct ag_fleet *f, char *err, size_t errlen)
{
	int ret = 0;
	if (f->ran)
		return cf_fail(-EINVAL, err, errlen, "a fleet runs once");
	f->ran = 1;
	if (fleet_start(f))
		return cf_fail(-ENOMEM, err, errlen, "out of memory for records");
	int started = 0;
	for (int t = 1; t < f->nth; t++) {
		if (pthread_create(&f->th[t].tid, NULL, thread_main, &f->th[t])) {
			ret = cf_fail(-EAGAIN, err, errlen, "pthread_create failed");
			for (int u = t; u < f->nth; u++)
				f->th[u].failed = 1;
			break;
		}
		started = t;
	}
	thread_main(&f->th[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(f->th[t].tid, NULL);
	f->wall_s = (double)(fnow(f) - f->t0) / 1e9;
	size_t n = 0;
	for (int t = 0; t < f->nth; t++) {
		n += f->th[t].nrec;
		if (f->th[t].failed && !ret) {
			ret = cf_fail(-EIO, err, errlen, "%s",
				      f->th[t].err[0] ? f->th[t].err : "thread failed");
		}
	}
	f->records = malloc((n ? n : 1) * sizeof(*f->records));
	if (!f->records)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	f->nrec = 0;
	for (int t = 0; t < f->nth; t++) {
		memcpy(f->records + f->nrec, f->th[t].recs, f->th[t].nrec * sizeof(*f->records));
		f->nrec += f->th[t].nrec;
	}
	qsort(f->records, f->nrec, sizeof(*f->records), by_answer); /* in the order answered */
	return ret;
}

void ag_fleet_destroy(struct ag_fleet *f)
{
	if (!f)
		return;
	for (int t = 0; f->th && t < f->nth; t++) {
		struct ag_thread *th = &f->th[t];
		for (int i = 0; th->agents && i < th->n; i++) {
			struct ag_agent *a = &th->agents[i];
			if (a->fd >= 0)
				close(a->fd);
			ag_dg_destroy(a);
			memset(a->key, 0, sizeof(a->key)); /* (explicit: the agent is freed next) */
			free(a->rdbuf);
			free(a->ping);
			for (int k = 0; a->slots && k < a->nslots; k++) {
				free(a->slots[k].msg);
				for (int x = 0; x < AG_MAX_EXITS; x++)
					free(a->slots[k].store[x]);
			}
			free(a->slots);
		}
		free(th->agents);
		if (th->x)
			cr_exec_destroy(th->x);
		cc_encoder_destroy(th->enc);
		free(th->input);
		free(th->verify_buf);
		free(th->scratch);
		free(th->pfd);
		free(th->pfd_agent);
		free(th->recs);
	}
	free(f->th);
	free(f->records);
	pthread_mutex_destroy(&f->out_mu);
	free(f);
}

int ag_fleet_threads(const struct ag_fleet *f)
{
	return f->nth;
}

const struct ag_times *ag_fleet_measured(const struct ag_fleet *f)
{
	return &f->measured;
}

const struct ag_times *ag_fleet_emulated(const struct ag_fleet *f)
{
	return &f->emulated;
}

void ag_fleet_progress(const struct ag_fleet *f, struct ag_progress *p)
{
	memset(p, 0, sizeof(*p));
	for (int t = 0; t < f->nth; t++) {
		const struct ag_thread *th = &f->th[t];
		p->started += atomic_load_explicit(&th->n_started, memory_order_relaxed);
		p->answered += atomic_load_explicit(&th->n_answered, memory_order_relaxed);
		p->deadline_met += atomic_load_explicit(&th->n_met, memory_order_relaxed);
		p->edge += atomic_load_explicit(&th->n_edge, memory_order_relaxed);
		p->device += atomic_load_explicit(&th->n_device, memory_order_relaxed);
	}
}

void ag_fleet_stop(struct ag_fleet *f)
{
	atomic_store_explicit(&f->stop, 1, memory_order_relaxed);
}

const struct ag_record *ag_fleet_records(const struct ag_fleet *f, size_t *n)
{
	*n = f->nrec;
	return f->records;
}
