/* The appliance's settings (design in config.h).
 *
 * A file goes through the configuration files' YAML reader (coinfer/yamlconf.h:
 * libyaml for syntax and positions, libcyaml for the schema), the schema made
 * from the settings table, every value read as text: reading text lets the file
 * and the flags share ap_config_set. */
#include <arpa/inet.h>
#include <cyaml/cyaml.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/wire-faults.h"
#include "coinfer/yamlconf.h"
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
	{.key = "slo_deadlines_ms", .type = AP_CFG_INTS, .off = offsetof(struct ap_config,
	 server.slo_deadlines_ms), .size = AP_SLO_DEADLINES_MAX,
	 .count_off = offsetof(struct ap_config, server.n_slo_deadlines), .lo = 1, .hi = 3600000,
	 .arg = "MS[,MS...]", .help = "the served SLO deadlines: each is a bucket edge of the\n"
				      "metrics' time histograms (up to 16)"},
	{STR("slo", slo, 1), .arg = "FILE",
	 .help = "an SLO file (conf/slo/*.yaml): each application's answers\n"
		 "are counted against its deadline and objective (metrics\n"
		 "slo_*), its deadline added to slo_deadlines_ms"},
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

/* Appends each of a comma-separated list to an AP_CFG_INTS setting. */
static int set_ints(struct ap_config *c, const struct ap_config_opt *o, const char *value,
		    const char *where, char *err, size_t errlen)
{
	int *v = (int *)((char *)c + o->off), *n = (int *)((char *)c + o->count_off);
	const char *p = value;
	do {
		char *end;
		errno = 0;
		long long x = strtoll(p, &end, 10);
		if (end == p || errno || (*end && *end != ',') || *p < '0' || *p > '9')
			return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not a list of integers",
				       where, value);
		if (x < o->lo || x > o->hi)
			return cf_fail(-ERANGE, err, errlen,
				       "%s: %lld is out of range (%lld..%lld)", where, x, o->lo,
				       o->hi);
		if ((size_t)*n == o->size)
			return cf_fail(-E2BIG, err, errlen, "%s: more than %zu", where, o->size);
		v[(*n)++] = (int)x;
		p = *end ? end + 1 : end;
	} while (*p);
	return 0;
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
	case AP_CFG_INTS:
		return set_ints(c, o, value, where, err, errlen);
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

static int str_differs(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) != 0 : a != b;
}

int ap_config_differs(const struct ap_config *a, const struct ap_config *b,
		      const struct ap_config_opt *o)
{
	const char *fa = (const char *)a + o->off, *fb = (const char *)b + o->off;
	switch (o->type) {
	case AP_CFG_STR:
		return str_differs(*(const char *const *)fa, *(const char *const *)fb);
	case AP_CFG_STRS: {
		int n = *(const int *)((const char *)a + o->count_off);
		if (n != *(const int *)((const char *)b + o->count_off))
			return 1;
		for (int i = 0; i < n; i++)
			if (str_differs(((const char *const *)fa)[i], ((const char *const *)fb)[i]))
				return 1;
		return 0;
	}
	case AP_CFG_INTS: {
		int n = *(const int *)((const char *)a + o->count_off);
		return n != *(const int *)((const char *)b + o->count_off) ||
		       memcmp(fa, fb, (size_t)n * sizeof(int));
	}
	case AP_CFG_BOOL:
	case AP_CFG_CHOICE:
		return *(const int *)fa != *(const int *)fb;
	case AP_CFG_SECONDS:
		return *(const double *)fa != *(const double *)fb;
	case AP_CFG_FAULTS:
		return memcmp(fa, fb, sizeof(struct cw_fault_config)) != 0;
	case AP_CFG_INT:
		return memcmp(fa, fb, o->size) != 0;
	}
	return 1;
}

/* ---- the file ------------------------------------------------------------- */

/* What libcyaml fills: one slot per setting, the text of a scalar or a list. */
struct slot {
	char *s;
	char **list;
	unsigned count;
};

static void schema_fields(cyaml_schema_field_t *fields)
{
	static const cyaml_schema_value_t entry = {.type = CYAML_STRING, .flags = CYAML_FLAG_POINTER,
						   .data_size = 1, .string = {0, CYAML_UNLIMITED}};
	memset(fields, 0, (N_OPTS + 1) * sizeof(*fields));
	for (int i = 0; i < N_OPTS; i++) {
		cyaml_schema_field_t *f = &fields[i];
		f->key = opts[i].key;
		if (opts[i].type == AP_CFG_STRS || opts[i].type == AP_CFG_INTS) {
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
}

/* One setting's slot onto c: a list replaces the one before. */
static int apply_slot(struct ap_config *c, const struct cfg_yaml *y, const struct ap_config_opt *o,
		      const struct slot *sl, char *err, size_t errlen)
{
	char where[160];
	int line = cfg_yaml_line(y, o->key), ret = 0;
	cfg_yaml_where(y, o->key, o->key, where, sizeof(where));
	if (o->type == AP_CFG_STRS || o->type == AP_CFG_INTS) {
		if (!sl->list && !line)
			return 0;
		*(int *)((char *)c + o->count_off) = 0; /* the file's list replaces */
		for (unsigned k = 0; k < sl->count && !ret; k++) {
			const char *v = own(c, sl->list[k]);
			ret = v ? ap_config_set(c, o, v, where, err, errlen)
				: cf_fail(-ENOMEM, err, errlen, "%s: out of memory", where);
		}
		return ret;
	}
	if (!sl->s && !(o->nullable && line))
		return 0;
	const char *v = sl->s ? own(c, sl->s) : NULL;
	if (sl->s && !v)
		return cf_fail(-ENOMEM, err, errlen, "%s: out of memory", where);
	return ap_config_set(c, o, v, where, err, errlen);
}

int ap_config_load_text(struct ap_config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen)
{
	cyaml_schema_field_t fields[N_OPTS + 1];
	struct slot *raw = NULL;
	struct cfg_yaml y;
	int ret;

	if ((ret = cfg_yaml_open(&y, name, text, len, "settings", err, errlen)))
		return ret;
	schema_fields(fields);
	const cyaml_schema_value_t top = {.type = CYAML_MAPPING, .flags = CYAML_FLAG_POINTER,
					  .data_size = N_OPTS * sizeof(struct slot),
					  .mapping = {fields}};
	ret = cfg_yaml_map(&y, &top, (void **)&raw, "not a setting of coinfer-appliance "
			   "(conf/appliance.yaml lists them)", err, errlen);
	if (!ret && !raw)
		ret = cf_fail(-EINVAL, err, errlen, "%s: empty: no settings in it", name);
	for (int i = 0; i < N_OPTS && !ret; i++)
		ret = apply_slot(c, &y, &opts[i], &raw[i], err, errlen);
	cfg_yaml_unmap(&top, raw);
	cfg_yaml_close(&y);
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
	if ((o->type == AP_CFG_STRS || o->type == AP_CFG_INTS) && !use)
		*(int *)((char *)opts + o->count_off) = 0; /* the flags' list replaces the file's */
	return ap_config_set(opts, o, arg, where, err, errlen);
}

/* A list's default in the usage: its names, or none. */
static void show_list(const void *opts, const struct cli_opt *cl, char *buf, size_t len)
{
	const struct ap_config_opt *o = cl->data;
	const char *const *v = (const char *const *)((const char *)opts + o->off);
	const int *x = (const int *)((const char *)opts + o->off);
	int n = *(const int *)((const char *)opts + o->count_off);
	size_t used = (size_t)snprintf(buf, len, "%s", n ? "" : "none");
	for (int i = 0; i < n && used < len; i++) {
		char *p = buf + used;
		size_t room = len - used;
		used += o->type == AP_CFG_INTS ? (size_t)snprintf(p, room, "%s%d", i ? "," : "", x[i])
					       : (size_t)snprintf(p, room, "%s%s", i ? ", " : "", v[i]);
	}
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
		[AP_CFG_CHOICE] = CLI_CHOICE, [AP_CFG_FAULTS] = CLI_CUSTOM,
		[AP_CFG_INTS] = CLI_CUSTOM};
	for (int i = 0; i < N_OPTS; i++) {
		const struct ap_config_opt *o = &opts[i];
		flag_name(o, f->names[i], sizeof(f->names[i]));
		f->cl[i] = (struct cli_opt){
			.name = f->names[i], .kind = kinds[o->type], .off = o->off, .size = o->size,
			.lo = (double)o->lo, .hi = (double)o->hi, .invert = o->invert,
			.negatable = o->type == AP_CFG_BOOL, .parse = set_flag, .data = o,
			.show = o->type == AP_CFG_STRS || o->type == AP_CFG_INTS ? show_list : NULL,
			.choices = o->choices,
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
