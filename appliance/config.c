/* The appliance's settings (design in config.h).
 *
 * A file goes through two readers. libyaml parses it first, alone, because its
 * syntax errors carry the exact line and column, which libcyaml's backtrace
 * does not give. libcyaml then maps it onto a schema made from the settings
 * table, every value read as text: libcyaml's own integer reader takes "3.5" as
 * 3, and reading text lets the file and the flags share ap_config_set. */
#include <arpa/inet.h>
#include <cyaml/cyaml.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/wire-faults.h"
#include "config.h"

#ifndef COINFER_METRICS
#define COINFER_METRICS 0
#endif

#define FIELD(f) .off = offsetof(struct ap_config, f), .size = sizeof(((struct ap_config *)0)->f)
#define INT(k, f, l, h) .key = k, .type = AP_CFG_INT, FIELD(f), .lo = l, .hi = h
#define BOOL(k, f, inv) .key = k, .type = AP_CFG_BOOL, FIELD(f), .invert = inv
#define STR(k, f, null) .key = k, .type = AP_CFG_STR, FIELD(f), .nullable = null

#ifndef COINFER_DPDK
#define COINFER_DPDK 0
#endif

static const char *const auths[] = {"none", "keys", NULL};
static const char *const transports[] = {[AP_TRANSPORT_TCP] = "tcp", [AP_TRANSPORT_UDP] = "udp",
					 [AP_TRANSPORT_DPDK] = "dpdk", NULL};

/* Ranges: what the server can be built with, not what is wise; the server's
 * allocations fail with a message beyond what the machine holds. */
static const struct ap_config_opt opts[] = {
	{STR("model", model, 1), .arg = "PATH", .help = "model file", .dflt = "the bundled one"},
	{.key = "transport", .type = AP_CFG_CHOICE, FIELD(server.transport), .choices = transports,
	 .arg = "tcp|udp|dpdk", .help = "tcp: the stream protocol; udp: its datagram form\n"
					"(docs/protocol.md, \"Datagrams (UDP)\"); dpdk: the\n"
					"same datagrams on a DPDK port (docs/appliance.md)"},
	{STR("host", server.host, 0), .arg = "ADDR", .help = "IPv4 address to listen on"},
	{INT("port", server.port, 0, 65535),
	 .help = "TCP or UDP port, 0 = any; the port is printed at start"},
	{INT("workers", server.workers, 1, 1024), .help = "event loops, one per core"},
	{INT("max_conns", server.max_conns, 1, 1 << 24), .help = "connections per worker"},
	{INT("max_inflight", server.max_inflight, 1, 65535),
	 .help = "requests per device before ERROR busy"},
	{INT("max_requests", server.max_requests, 1, 1 << 24),
	 .help = "queued requests per worker before ERROR busy"},
	{INT("max_batch", server.max_batch, 1, 1024), .help = "images per batch"},
	{INT("max_delay_us", server.max_delay_us, 0, 60000000),
	 .help = "longest wait for a batch to fill"},
	{BOOL("join", server.join, 0), .help = "batch requests of different partitions together;\n"
					       "--no-join: only requests of the same partition"},
	{BOOL("run_late", server.run_late, 0),
	 .help = "run requests that cannot meet their deadline"},
	{BOOL("null_model", server.null_model, 0),
	 .help = "validate frames, compute nothing (I/O path alone)"},
	{INT("max_frame", server.max_frame, 64, 1 << 28), .arg = "BYTES",
	 .help = "largest codec frame accepted"},
	{INT("small_frame", server.small_frame, 0, 1 << 28), .arg = "BYTES",
	 .help = "frame bytes held inline in each request slot"},
	{INT("big_frames", server.big_frames, 0, 1 << 16),
	 .help = "buffers of max-frame bytes per worker for larger frames"},
	{.key = "auth", .type = AP_CFG_CHOICE, FIELD(server.auth), .choices = auths,
	 .arg = "none|keys", .help = "keys: serve only devices of the key file that answer\n"
				     "CHALLENGE (docs/protocol.md, \"Device identity\");\n"
				     "none: any device (warned at start-up)"},
	{STR("keys", server.keys_path, 1), .arg = "FILE",
	 .help = "the device key file (coinfer-keys; mode 0600)"},
	{INT("auth_rate_addr", server.auth_rate_addr, 0, 1000000),
	 .help = "HELLOs per second per source address, 0 = no limit"},
	{INT("auth_rate_device", server.auth_rate_device, 0, 1000000),
	 .help = "HELLOs per second per device id, 0 = no limit"},
	{INT("auth_timeout_ms", server.auth_timeout_ms, 1, 600000),
	 .help = "how long a CHALLENGE waits for its AUTH"},
	{INT("idle_timeout_ms", server.idle_timeout_ms, 1, 86400000),
	 .help = "close peers that stall mid-message"},
	{BOOL("buf_ring", server.no_buf_ring, 1),
	 .help = "receive into the kernel's provided buffer ring;\n"
		 "--no-buf-ring: into per-connection buffers"},
	{INT("rx_buffers", server.rx_buffers, 1, 32768),
	 .help = "provided receive buffers per worker, a power of two"},
	{INT("rx_buffer_bytes", server.rx_buffer_bytes, 256, 1 << 24), .help = "bytes of each"},
	{INT("tx_bytes", server.tx_bytes, 512, 1 << 24), .help = "reply buffer per connection"},
	{INT("tx_datagrams", server.tx_datagrams, 1, 1 << 16),
	 .help = "udp: datagrams in flight to send per worker; a reply\n"
		 "finding none free is dropped (the agent asks again)"},
	{.key = "faults", .type = AP_CFG_FAULTS, FIELD(server.faults), .arg = "SPEC",
	 .help = "udp: drop, duplicate, reorder replies, drop=P,dup=P,\n"
		 "reorder=P,seed=N (tests, demos)", .dflt = "none"},
	{STR("dpdk_eal", server.dpdk_eal, 1), .arg = "ARGS",
	 .help = "dpdk: the EAL's arguments, blank-separated, e.g.\n"
		 "\"--no-huge --no-pci -m 256 --vdev=net_af_packet0,iface=eth1\""},
	{STR("dpdk_port", server.dpdk_port, 1), .arg = "NAME",
	 .help = "dpdk: the ethdev to serve on (a vdev's name, a PCI address);\n"
		 "host is the address it answers ARP for"},
	{INT("dpdk_mbufs", server.dpdk_mbufs, 1024, 1 << 20),
	 .help = "dpdk: packet buffers in the pool"},
	{INT("dpdk_idle_us", server.dpdk_idle_us, 0, 100000),
	 .help = "dpdk: an idle worker naps, 8 us after 1024 empty polls,\n"
		 "doubling while idle up to this; 0: polls always (a core each)"},
	{INT("reassembly_buffers", server.reassembly_buffers, 0, 1 << 16),
	 .help = "buffers per worker for messages split across receives"},
	{INT("calibrate_runs", server.calibrate_runs, 0, 1000),
	 .help = "timing runs per layer at start, 0 = FLOP estimate"},
	{INT("drain_ms", server.drain_ms, 0, 60000),
	 .help = "at SIGTERM: queued requests are answered ERROR shutdown and\n"
		 "replies get this long to leave before the sockets close"},
	{INT("watchdog_ms", server.watchdog_ms, 0, 3600000),
	 .help = "report a worker whose loop has not turned for this long\n"
		 "(stderr and the metric worker_stalls_total), 0 = off"},
	{.key = "policies", .flag = "policy", .type = AP_CFG_STRS, FIELD(policy),
	 .count_off = offsetof(struct ap_config, n_policy), .arg = "FILE",
	 .help = "serve this trained policy (coinfer-policy train) to devices\n"
		 "of its class: DECISION for DECIDE, RESULT's next action for\n"
		 "INFERs that ask; repeat for more classes, one per class"},
	{.key = "run_seconds", .type = AP_CFG_SECONDS, FIELD(run_seconds), .lo = 0,
	 .hi = 1000000000, .arg = "S", .help = "stop after S seconds; 0: at SIGINT/SIGTERM"},
	{BOOL("quiet", server.quiet, 0), .help = "no start-up line"},
	{STR("metrics_host", metrics_host, 0), .arg = "ADDR",
	 .help = "IPv4 address of the metrics endpoint"},
	{INT("metrics_port", metrics_port, -1, 65535),
	 .help = "serve GET /metrics (Prometheus text) on this port, 0 = any,\n"
		 "-1 = off; the URL is printed at start"},
};
#define N_OPTS ((int)(sizeof(opts) / sizeof(opts[0])))

const struct ap_config_opt *ap_config_opts(int *n)
{
	*n = N_OPTS;
	return opts;
}

void ap_config_defaults(struct ap_config *c)
{
	memset(c, 0, sizeof(*c));
	ap_server_defaults(&c->server);
	c->metrics_host = "127.0.0.1";
	c->metrics_port = -1;
}

void ap_config_free(struct ap_config *c)
{
	for (int i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->owned);
	c->owned = NULL;
	c->n_owned = 0;
}

static const char *own(struct ap_config *c, const char *s)
{
	char **o = realloc(c->owned, (size_t)(c->n_owned + 1) * sizeof(*o));
	if (!o)
		return NULL;
	c->owned = o;
	if (!(o[c->n_owned] = strdup(s)))
		return NULL;
	return o[c->n_owned++];
}

static void flag_name(const struct ap_config_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s", o->flag ? o->flag : o->key);
	for (char *p = buf; *p; p++)
		if (*p == '_')
			*p = '-';
}

/* ---- one value, from a flag or a file -------------------------------------- */

static int parse_bool(const char *s, int *v)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]))
			return *v = 1, 0;
		if (!strcasecmp(s, no[i]))
			return *v = 0, 0;
	}
	return -EINVAL;
}

int ap_config_set(struct ap_config *c, const struct ap_config_opt *o, const char *value,
		  const char *where, char *err, size_t errlen)
{
	char *field = (char *)c + o->off, *end;
	if (!value && !(o->type == AP_CFG_STR && o->nullable))
		return cf_fail(-EINVAL, err, errlen, "%s: needs a value", where);
	switch (o->type) {
	case AP_CFG_INT: {
		errno = 0;
		long long v = strtoll(value, &end, 10);
		/* strtoll alone takes " 12" and "+12"; the flags never did */
		if (!*value || *end || errno || !(*value == '-' || (*value >= '0' && *value <= '9')))
			return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not an integer", where, value);
		if (v < o->lo || v > o->hi)
			return cf_fail(-ERANGE, err, errlen, "%s: %lld is out of range (%lld..%lld)",
				       where, v, o->lo, o->hi);
		if (o->size == sizeof(int32_t)) {
			int32_t x = (int32_t)v;
			memcpy(field, &x, sizeof(x));
		} else {
			int64_t x = v;
			memcpy(field, &x, sizeof(x));
		}
		return 0;
	}
	case AP_CFG_BOOL: {
		int v;
		if (parse_bool(value, &v))
			return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not true or false", where,
				       value);
		*(int *)field = v ^ o->invert;
		return 0;
	}
	case AP_CFG_STR:
		if (value && !*value)
			return cf_fail(-EINVAL, err, errlen, "%s: empty", where);
		*(const char **)field = value;
		return 0;
	case AP_CFG_STRS: {
		int *n = (int *)((char *)c + o->count_off);
		if (!*value)
			return cf_fail(-EINVAL, err, errlen, "%s: an empty name", where);
		if (*n == AP_CONFIG_MAX_POLICIES)
			return cf_fail(-E2BIG, err, errlen, "%s: more than %d", where,
				       AP_CONFIG_MAX_POLICIES);
		((const char **)field)[(*n)++] = value;
		return 0;
	}
	case AP_CFG_CHOICE:
		for (int k = 0; o->choices[k]; k++)
			if (!strcmp(value, o->choices[k]))
				return *(int *)field = k, 0;
		return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not one of %s", where, value,
			       o->arg);
	case AP_CFG_FAULTS: {
		char why[256];
		if (!strcmp(value, "none"))
			return memset(field, 0, sizeof(struct cw_fault_config)), 0;
		struct cw_fault_config *f = (struct cw_fault_config *)field;
		if (cli_arg_faults("faults", value, f, why, sizeof(why)))
			return cf_fail(-EINVAL, err, errlen, "%s: %s", where, why);
		return 0;
	}
	case AP_CFG_SECONDS: {
		errno = 0;
		double v = strtod(value, &end);
		if (!*value || *end || errno || !isfinite(v))
			return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not a number", where, value);
		if (v < (double)o->lo || v > (double)o->hi)
			return cf_fail(-ERANGE, err, errlen, "%s: %g is out of range (%lld..%lld)", where,
				       v, o->lo, o->hi);
		*(double *)field = v;
		return 0;
	}
	}
	return cf_fail(-EINVAL, err, errlen, "%s: unknown setting type", where);
}

/* ---- several values, and the build ---------------------------------------- */

static int ipv4(const char *s)
{
	struct in_addr a;
	return s && inet_pton(AF_INET, s, &a) == 1;
}

int ap_config_check(const struct ap_config *c, char *err, size_t errlen)
{
	const struct ap_server_config *s = &c->server;
	if ((uint32_t)s->small_frame > s->max_frame)
		return cf_fail(-EINVAL, err, errlen, "small_frame (--small-frame) %d is above "
				      "max_frame (--max-frame) %u", s->small_frame, s->max_frame);
	if (s->rx_buffers & (s->rx_buffers - 1))
		return cf_fail(-EINVAL, err, errlen, "rx_buffers (--rx-buffers) %d is not a power of "
				      "two (the kernel's buffer ring)", s->rx_buffers);
	if (s->transport == AP_TRANSPORT_TCP && !cw_faults_none(&s->faults))
		return cf_fail(-EINVAL, err, errlen, "faults (--faults) are injected on datagrams: "
				      "they need transport udp or dpdk (--transport udp)");
	if (s->transport == AP_TRANSPORT_DPDK && !COINFER_DPDK)
		return cf_fail(-ENOTSUP, err, errlen, "transport (--transport) dpdk: this "
				      "coinfer-appliance was built without DPDK (meson option dpdk; "
				      "it needs libdpdk-dev)");
	if (s->transport == AP_TRANSPORT_DPDK && (!s->dpdk_port || !*s->dpdk_port))
		return cf_fail(-EINVAL, err, errlen, "transport (--transport) dpdk needs dpdk_port "
				      "(--dpdk-port), the ethdev to serve on");
	if (!ipv4(s->host))
		return cf_fail(-EINVAL, err, errlen, "host (--host) '%s' is not a numeric IPv4 address",
			       s->host ? s->host : "");
	if (c->metrics_port < 0)
		return 0;
	if (!COINFER_METRICS)
		return cf_fail(-ENOTSUP, err, errlen, "metrics_port (--metrics-port): this "
				      "coinfer-appliance was built without metrics (meson option "
				      "metrics; it needs libmicrohttpd)");
	if (!ipv4(c->metrics_host))
		return cf_fail(-EINVAL, err, errlen, "metrics_host (--metrics-host) '%s' is not a "
				      "numeric IPv4 address", c->metrics_host ? c->metrics_host : "");
	if (c->metrics_port && c->metrics_port == s->port)
		return cf_fail(-EINVAL, err, errlen, "metrics_port (--metrics-port) %d is the "
				      "appliance's own port", c->metrics_port);
	return 0;
}

/* ---- the file ------------------------------------------------------------- */

/* What libcyaml fills: one slot per setting, the text of a scalar or a list. */
struct slot {
	char *s;
	char **list;
	unsigned count;
};

/* libcyaml reports an error as a message, then "Backtrace:", then the places
 * innermost first: kept to be turned into one line of ours. */
struct yaml_log {
	char msg[200], in[2][200];
	int n_in;
	char warning[200];
};

static void log_line(cyaml_log_t level, void *ctx, const char *fmt, va_list ap)
{
	struct yaml_log *l = ctx;
	char line[200];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	const char *t = strncmp(line, "Load: ", 6) ? line : line + 6;
	if (level == CYAML_LOG_WARNING && !*l->warning)
		snprintf(l->warning, sizeof(l->warning), "%s", t);
	if (level < CYAML_LOG_ERROR || !strcmp(t, "Backtrace:"))
		return;
	t += strspn(t, " ");
	if (!strncmp(t, "in ", 3)) {
		if (l->n_in < 2)
			snprintf(l->in[l->n_in++], sizeof(l->in[0]), "%s", t);
	} else if (!*l->msg) {
		snprintf(l->msg, sizeof(l->msg), "%s", t);
	}
}

/* The first line (1-based) after line `after` where key: starts a line, 0 if
 * none does. */
static int key_line_after(const char *text, size_t len, const char *key, int after)
{
	size_t kl = strlen(key);
	int line = 1;
	for (size_t i = 0; i < len; line++) {
		size_t j = i;
		while (j < len && (text[j] == ' ' || text[j] == '\t'))
			j++;
		if (len - j > kl && !memcmp(text + j, key, kl)) {
			size_t k = j + kl;
			while (k < len && (text[k] == ' ' || text[k] == '\t'))
				k++;
			if (k < len && text[k] == ':' && line > after)
				return line;
		}
		while (i < len && text[i] != '\n')
			i++;
		i++;
	}
	return 0;
}

static int key_line(const char *text, size_t len, const char *key)
{
	return key_line_after(text, len, key, 0);
}

/* Optimal string alignment distance (a swap of two letters counts one): the
 * typos people make in keys. */
static int typo_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b);
	if (la > 63 || lb > 63)
		return INT_MAX;
	int d[64][64];
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++)
		for (int j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

/* The setting a mistyped key most likely meant, or NULL. */
static const char *closest_key(const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "%s", key);
	for (char *p = k; *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	const char *best = NULL;
	int bd = INT_MAX, allowed = strlen(k) < 5 ? 1 : 2;
	for (int i = 0; i < N_OPTS; i++) {
		int d = typo_distance(k, opts[i].key);
		if (d < bd)
			bd = d, best = opts[i].key;
	}
	return bd <= allowed ? best : NULL;
}

static const char *event_words(const char *e)
{
	if (!strncmp(e, "SEQUENCE", 8))
		return "a list";
	if (!strncmp(e, "MAPPING", 7))
		return "a mapping (key: value lines)";
	if (!strncmp(e, "SCALAR", 6) || !strncmp(e, "STRING", 6))
		return "a single value";
	return e;
}

/* One line for what libcyaml said: file:line: key: what. */
static int cyaml_error(const struct yaml_log *l, cyaml_err_t e, const char *name, const char *text,
		       size_t len, char *err, size_t errlen)
{
	char key[80] = "", want[40], got[40];
	int line = 0, col = 0, entry = -1;
	for (int i = l->n_in - 1; i >= 0; i--) {
		int n, ln, cl;
		char k[80];
		if (sscanf(l->in[i], "in mapping field '%79[^']' (line: %d, column: %d)", k, &ln, &cl) ==
		    3)
			snprintf(key, sizeof(key), "%s", k), line = ln, col = cl;
		else if (sscanf(l->in[i], "in sequence entry '%d' (line: %d, column: %d)", &n, &ln,
				&cl) == 3)
			entry = n, line = ln, col = cl;
	}
	const char *m = *l->msg ? l->msg : cyaml_strerror(e);
	if (!strncmp(m, "Unexpected key: ", 16)) {
		const char *k = m + 16, *hint = closest_key(k);
		char at[160];
		int kl = key_line(text, len, k);
		if (kl)
			snprintf(at, sizeof(at), "%s:%d", name, kl);
		else
			snprintf(at, sizeof(at), "%s", name);
		if (hint)
			return cf_fail(-EINVAL, err, errlen, "%s: unknown key '%s' (did you mean "
					      "'%s'?%s)", at, k, hint,
				       strchr(k, '-') ? " keys are spelt with '_'" : "");
		return cf_fail(-EINVAL, err, errlen, "%s: unknown key '%s': not a setting of "
				      "coinfer-appliance (conf/appliance.yaml lists them)", at, k);
	}
	if (!strncmp(m, "Mapping field already seen: ", 28)) {
		const char *k = m + 28;
		int first = key_line(text, len, k), again = key_line_after(text, len, k, first);
		if (again)
			return cf_fail(-EINVAL, err, errlen, "%s:%d: key '%s' given twice (first at "
					      "line %d)", name, again, k, first);
		return cf_fail(-EINVAL, err, errlen, "%s: key '%s' given twice", name, k);
	}
	if (sscanf(m, "Expecting %39[A-Z_], got event: %39[A-Z_]", want, got) == 2) {
		if (!*key)
			return cf_fail(-EINVAL, err, errlen, "%s: expected key: value lines, got %s",
				       name, event_words(got));
		if (entry >= 0)
			return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: entry %d: expected %s, "
					      "got %s", name, line, col, key, entry, event_words(want),
				       event_words(got));
		return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: expected %s, got %s", name, line,
			       col, key, event_words(want), event_words(got));
	}
	if (*key)
		return cf_fail(-EINVAL, err, errlen, "%s:%d:%d: %s: %s", name, line, col, key, m);
	return cf_fail(-EINVAL, err, errlen, "%s: %s", name, m);
}

/* YAML syntax, checked with libyaml for its exact position of a problem; and
 * one document, neither none (nothing set: surely a mistake) nor more (which
 * libcyaml would ignore but for the first). */
static int yaml_syntax(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int ret = 0, docs = 0, done = 0, empty = 1;
	if (!yaml_parser_initialize(&p))
		return cf_fail(-ENOMEM, err, errlen, "%s: out of memory for the YAML parser", name);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			ret = cf_fail(-EINVAL, err, errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", name,
				      p.problem_mark.line + 1, p.problem_mark.column + 1,
				      p.problem ? p.problem : "parse error",
				      p.context ? " " : "", p.context ? p.context : "");
			goto err;
		}
		docs += ev.type == YAML_DOCUMENT_START_EVENT;
		empty &= !(ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length) &&
			 ev.type != YAML_MAPPING_START_EVENT && ev.type != YAML_SEQUENCE_START_EVENT;
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	if (!docs || empty)
		ret = cf_fail(-EINVAL, err, errlen, "%s: empty: no settings in it", name);
	else if (docs > 1)
		ret = cf_fail(-EINVAL, err, errlen, "%s: %d YAML documents: the settings go in one",
			      name, docs);
err:
	yaml_parser_delete(&p);
	return ret;
}

int ap_config_load_text(struct ap_config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen)
{
	static const cyaml_schema_value_t entry = {.type = CYAML_STRING, .flags = CYAML_FLAG_POINTER,
						   .data_size = 1, .string = {0, CYAML_UNLIMITED}};
	cyaml_schema_field_t fields[N_OPTS + 1];
	struct yaml_log log = {.n_in = 0};
	struct slot *raw = NULL;
	int ret;

	if ((ret = yaml_syntax(name, text, len, err, errlen)))
		return ret;
	memset(fields, 0, sizeof(fields));
	for (int i = 0; i < N_OPTS; i++) {
		cyaml_schema_field_t *f = &fields[i];
		f->key = opts[i].key;
		if (opts[i].type == AP_CFG_STRS) {
			f->data_offset = (uint32_t)(i * sizeof(struct slot) + offsetof(struct slot, list));
			f->count_offset = (uint32_t)(i * sizeof(struct slot) + offsetof(struct slot, count));
			f->count_size = sizeof(unsigned);
			f->value = (cyaml_schema_value_t){
				.type = CYAML_SEQUENCE, .flags = CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER,
				.data_size = sizeof(char *),
				.sequence = {&entry, 0, AP_CONFIG_MAX_POLICIES}};
		} else {
			f->data_offset = (uint32_t)(i * sizeof(struct slot) + offsetof(struct slot, s));
			f->value = (cyaml_schema_value_t){
				.type = CYAML_STRING,
				.flags = CYAML_FLAG_OPTIONAL | (opts[i].nullable ? CYAML_FLAG_POINTER_NULL_STR
										 : CYAML_FLAG_POINTER),
				.data_size = 1, .string = {0, CYAML_UNLIMITED}};
		}
	}
	const cyaml_schema_value_t top = {.type = CYAML_MAPPING, .flags = CYAML_FLAG_POINTER,
					  .data_size = N_OPTS * sizeof(struct slot),
					  .mapping = {fields}};
	const cyaml_config_t cc = {.log_fn = log_line, .log_ctx = &log, .mem_fn = cyaml_mem,
				   .log_level = CYAML_LOG_WARNING, .flags = CYAML_CFG_NO_ALIAS};
	cyaml_err_t e = cyaml_load_data((const uint8_t *)text, len, &cc, &top, (cyaml_data_t **)&raw,
					NULL);
	if (e != CYAML_OK)
		return cyaml_error(&log, e, name, text, len, err, errlen);
	if (!raw)
		return cf_fail(-EINVAL, err, errlen, "%s: empty: no settings in it", name);
	for (int i = 0; i < N_OPTS && !ret; i++) {
		const struct ap_config_opt *o = &opts[i];
		const struct slot *sl = &raw[i];
		char where[160];
		int line = key_line(text, len, o->key);
		if (line)
			snprintf(where, sizeof(where), "%s:%d: %s", name, line, o->key);
		else
			snprintf(where, sizeof(where), "%s: %s", name, o->key);
		if (o->type == AP_CFG_STRS) {
			if (!sl->list && !line)
				continue;
			*(int *)((char *)c + o->count_off) = 0; /* the file's list replaces */
			for (unsigned k = 0; k < sl->count && !ret; k++) {
				const char *v = own(c, sl->list[k]);
				ret = v ? ap_config_set(c, o, v, where, err, errlen)
					: cf_fail(-ENOMEM, err, errlen, "%s: out of memory", where);
			}
			continue;
		}
		if (!sl->s && !(o->nullable && line))
			continue;
		const char *v = sl->s ? own(c, sl->s) : NULL;
		if (sl->s && !v)
			ret = cf_fail(-ENOMEM, err, errlen, "%s: out of memory", where);
		else
			ret = ap_config_set(c, o, v, where, err, errlen);
	}
	cyaml_free(&cc, &top, raw, 0);
	return ret;
}

int ap_config_load(struct ap_config *c, const char *path, char *err, size_t errlen)
{
	void *text;
	size_t len;
	char why[256];
	int ret = cf_read_file(path, AP_CONFIG_MAX_BYTES, &text, &len, why, sizeof(why));
	if (ret)
		return cf_fail(ret, err, errlen, "config file %s", why);
	ret = ap_config_load_text(c, path, text, len, err, errlen);
	free(text);
	return ret;
}

/* ---- the command line ----------------------------------------------------------------- */

/* A flag's value goes through ap_config_set, as a file's does. */
static int set_flag(void *opts, const struct cli_opt *cl, const char *arg, int use, char *err,
		    size_t errlen)
{
	const struct ap_config_opt *o = cl->data;
	char where[64];
	snprintf(where, sizeof(where), "--%s", cl->name);
	if (o->type == AP_CFG_STRS && !use)
		*(int *)((char *)opts + o->count_off) = 0; /* the flags' list replaces the file's */
	return ap_config_set(opts, o, arg, where, err, errlen);
}

/* A list's default in the usage: its names, or none. */
static void show_list(const void *opts, const struct cli_opt *cl, char *buf, size_t len)
{
	const struct ap_config_opt *o = cl->data;
	const char *const *v = (const char *const *)((const char *)opts + o->off);
	int n = *(const int *)((const char *)opts + o->count_off);
	size_t used = (size_t)snprintf(buf, len, "%s", n ? "" : "none");
	for (int i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", v[i]);
}

/* --config: the file is read once every --config has been seen */
static int config_flag(void *opts, const struct cli_opt *cl, const char *arg, int use, char *err,
		       size_t errlen)
{
	struct ap_config *c = opts;
	if (use)
		return cf_fail(-EINVAL, err, errlen, "--config given twice ('%s', '%s')", c->config,
			       arg);
	c->config = arg;
	return 0;
}

static int load_config(void *opts, char *err, size_t errlen)
{
	struct ap_config *c = opts;
	return c->config ? ap_config_load(c, c->config, err, errlen) : 0;
}

/* The option parser's table, made from the settings': one flag per setting,
 * --config, and the program around them. */
struct flags {
	struct cli_opt cl[N_OPTS + 1];
	char names[N_OPTS][48];
	struct cli_prog prog;
};

static void flags_init(struct flags *f, const char *head, const char *tail)
{
	static const enum cli_kind kinds[] = {
		[AP_CFG_INT] = CLI_INT, [AP_CFG_BOOL] = CLI_FLAG, [AP_CFG_STR] = CLI_STRING,
		[AP_CFG_STRS] = CLI_CUSTOM, [AP_CFG_SECONDS] = CLI_DOUBLE,
		[AP_CFG_CHOICE] = CLI_CHOICE, [AP_CFG_FAULTS] = CLI_CUSTOM};
	for (int i = 0; i < N_OPTS; i++) {
		const struct ap_config_opt *o = &opts[i];
		flag_name(o, f->names[i], sizeof(f->names[i]));
		f->cl[i] = (struct cli_opt){
			.name = f->names[i], .kind = kinds[o->type], .off = o->off, .size = o->size,
			.lo = (double)o->lo, .hi = (double)o->hi, .invert = o->invert,
			.negatable = o->type == AP_CFG_BOOL, .parse = set_flag, .data = o,
			.show = o->type == AP_CFG_STRS ? show_list : NULL, .choices = o->choices,
			.arg = o->arg, .help = o->help, .dflt = o->dflt};
	}
	f->cl[N_OPTS] = (struct cli_opt){
		.name = "config", .kind = CLI_CUSTOM, .parse = config_flag, .early = 1,
		.arg = "FILE",
		.help = "YAML settings, keys as the options above with '_' for '-'\n"
			"(conf/appliance.yaml); options given as well override it",
		.dflt = ""};
	f->prog = (struct cli_prog){.name = "coinfer-appliance", .head = head, .tail = tail,
				    .opts = f->cl, .n_opts = N_OPTS + 1,
				    .size = sizeof(struct ap_config), .early_done = load_config};
}

int ap_config_args(struct ap_config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct flags f;
	flags_init(&f, "", NULL);
	int ret = cli_parse(&f.prog, c, argc, argv, err, errlen);
	if (ret == CLI_HELP)
		return AP_CONFIG_HELP;
	return ret ? ret : ap_config_check(c, err, errlen);
}

void ap_config_usage(FILE *out, const char *head, const char *tail)
{
	struct flags f;
	struct ap_config d;
	flags_init(&f, head, tail);
	ap_config_defaults(&d);
	cli_usage(&f.prog, &d, out);
}
