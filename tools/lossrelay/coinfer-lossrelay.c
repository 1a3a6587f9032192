/* coinfer-lossrelay: a UDP relay that drops, duplicates and reorders datagrams
 * (seeded, wire-faults.h) between agents and an appliance, because this kernel
 * has no netem. Agents send to --listen; each agent address gets a socket of its
 * own towards --upstream, so the appliance sees one peer per agent and its
 * replies find their way back. Faults apply in both directions, each client and
 * direction with an injector of its own (seeded from --seed and the client's
 * arrival order, so a run is reproducible when the clients arrive in order).
 * A held-back datagram waits for the next one on its path, or for an idle turn.
 * On SIGINT/SIGTERM it prints one JSON line of counts and exits 0.
 *
 * Ownership: client slots are reused when an idle client is evicted (the table
 * is full) or expires; a slot's socket is closed and removed from epoll before
 * the slot takes a new address, and epoll events carry the slot index, read
 * only after the event's fd is checked against the slot's current fd. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/wire-faults.h"
#include "coinfer/wire.h"

#define PROG "coinfer-lossrelay"
#define BATCH 32
#define DGRAM_MAX 65536
#define IDLE_FLUSH_MS 2

struct client {
	struct sockaddr_storage addr; /* the agent */
	socklen_t addr_len;
	int fd;                       /* towards upstream; -1: slot free */
	double last_s;
	struct cw_faults up, down;
};

struct relay_opts {
	char listen_host[256], up_host[256];
	int listen_port, up_port, max_clients;
	double idle_s;
	struct cw_fault_config faults;
};

struct relay {
	struct relay_opts o;
	int lfd, ep;
	struct sockaddr_storage up_addr;
	socklen_t up_len;
	struct client *c;
	uint64_t clients_seen, evicted, send_errors;
	struct cw_fault_counts up_total, down_total; /* of the clients gone */
	uint8_t buf[DGRAM_MAX];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &ai))
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int client_fd(struct relay *r)
{
	int fd = socket(r->up_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&r->up_addr, r->up_len)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void add_counts(struct cw_fault_counts *t, const struct cw_fault_counts *n)
{
	t->seen += n->seen;
	t->dropped += n->dropped;
	t->duplicated += n->duplicated;
	t->reordered += n->reordered;
}

static void client_free(struct relay *r, struct client *c)
{
	if (c->fd < 0)
		return;
	add_counts(&r->up_total, &c->up.n);
	add_counts(&r->down_total, &c->down.n);
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* The slot of agent addr: its own, else a free one, else the longest idle. */
static struct client *client_for(struct relay *r, const struct sockaddr_storage *a, socklen_t len)
{
	struct client *free_slot = NULL, *oldest = NULL;
	for (int i = 0; i < r->o.max_clients; i++) {
		struct client *c = &r->c[i];
		if (c->fd >= 0 && c->addr_len == len && !memcmp(&c->addr, a, len))
			return c;
		if (c->fd < 0 && !free_slot)
			free_slot = c;
		if (c->fd >= 0 && (!oldest || c->last_s < oldest->last_s))
			oldest = c;
	}
	struct client *c = free_slot ? free_slot : oldest;
	if (!free_slot) {
		r->evicted++;
		client_free(r, c);
	}
	int fd = client_fd(r);
	struct epoll_event ev = {.events = EPOLLIN,
				 .data.u64 = (uint64_t)(c - r->c) << 32 | (uint32_t)fd};
	if (fd < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct cw_fault_config up = r->o.faults, down = r->o.faults;
	up.seed += 2 * r->clients_seen;
	down.seed += 2 * r->clients_seen + 1;
	cw_faults_init(&c->up, &up, NULL, 0);
	cw_faults_init(&c->down, &down, NULL, 0);
	memcpy(&c->addr, a, len);
	c->addr_len = len;
	c->fd = fd;
	r->clients_seen++;
	return c;
}

/* Sends what the injector makes of one datagram: upstream through the client's
 * connected socket (to NULL), or back to the agent through the listening one. */
static void relay_one(struct relay *r, struct client *c, int up, const uint8_t *d, size_t n)
{
	struct cw_fault_out out[3];
	int k = cw_faults_apply(up ? &c->up : &c->down, d, n, out);
	for (int i = 0; i < k; i++) {
		ssize_t s = up ? send(c->fd, out[i].p, out[i].len, 0)
			       : sendto(r->lfd, out[i].p, out[i].len, 0,
					(struct sockaddr *)&c->addr, c->addr_len);
		r->send_errors += s < 0;
	}
}

static void from_agents(struct relay *r, double now)
{
	for (int b = 0; b < BATCH; b++) {
		struct sockaddr_storage a;
		socklen_t len = sizeof(a);
		ssize_t n =
			recvfrom(r->lfd, r->buf, sizeof(r->buf), 0, (struct sockaddr *)&a, &len);
		if (n < 0)
			return;
		struct client *c = client_for(r, &a, len);
		if (!c)
			continue;
		c->last_s = now;
		relay_one(r, c, 1, r->buf, (size_t)n);
	}
}

static void from_upstream(struct relay *r, struct client *c, double now)
{
	for (int b = 0; b < BATCH; b++) {
		ssize_t n = recv(c->fd, r->buf, sizeof(r->buf), 0);
		if (n < 0)
			return;
		c->last_s = now;
		relay_one(r, c, 0, r->buf, (size_t)n);
	}
}

/* Idle: held datagrams go out, and clients idle past --idle-s are forgotten. */
static void idle_turn(struct relay *r, double now)
{
	for (int i = 0; i < r->o.max_clients; i++) {
		struct client *c = &r->c[i];
		struct cw_fault_out o;
		if (c->fd < 0)
			continue;
		if (cw_faults_flush(&c->up, &o))
			r->send_errors += send(c->fd, o.p, o.len, 0) < 0;
		if (cw_faults_flush(&c->down, &o))
			r->send_errors += sendto(r->lfd, o.p, o.len, 0, (struct sockaddr *)&c->addr,
						 c->addr_len) < 0;
		if (now - c->last_s > r->o.idle_s)
			client_free(r, c);
	}
}

static void run(struct relay *r)
{
	struct epoll_event ev[BATCH];
	while (!stop) {
		int n = epoll_wait(r->ep, ev, BATCH, IDLE_FLUSH_MS);
		double now = cf_now_s();
		if (n <= 0) {
			idle_turn(r, now);
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == UINT64_MAX) {
				from_agents(r, now);
				continue;
			}
			/* the slot may have been given to another client meanwhile */
			struct client *c = &r->c[ev[i].data.u64 >> 32];
			if (c->fd == (int)(uint32_t)ev[i].data.u64)
				from_upstream(r, c, now);
		}
	}
}

static void print_counts(const char *name, const struct cw_fault_counts *n, int last)
{
	printf("\"%s\": {\"seen\": %llu, \"dropped\": %llu, \"duplicated\": %llu, "
	       "\"reordered\": %llu}%s",
	       name, (unsigned long long)n->seen, (unsigned long long)n->dropped,
	       (unsigned long long)n->duplicated, (unsigned long long)n->reordered,
	       last ? "" : ", ");
}

static void summary(struct relay *r)
{
	for (int i = 0; i < r->o.max_clients; i++)
		client_free(r, &r->c[i]);
	printf("{\"event\": \"stopped\", \"clients\": %llu, \"evicted\": %llu, "
	       "\"send_errors\": %llu, ",
	       (unsigned long long)r->clients_seen, (unsigned long long)r->evicted,
	       (unsigned long long)r->send_errors);
	print_counts("to_upstream", &r->up_total, 0);
	print_counts("to_agents", &r->down_total, 1);
	printf("}\n");
	fflush(stdout);
}

static int parse_listen(void *opts, const struct cli_opt *o, const char *arg, int use,
			char *err, size_t errlen)
{
	struct relay_opts *r = opts;
	return cli_arg_hostport(o->name, arg, r->listen_host, sizeof(r->listen_host),
				&r->listen_port, err, errlen);
}

static int parse_upstream(void *opts, const struct cli_opt *o, const char *arg, int use,
			  char *err, size_t errlen)
{
	struct relay_opts *r = opts;
	return cli_arg_hostport(o->name, arg, r->up_host, sizeof(r->up_host), &r->up_port, err,
				errlen);
}

static void show_listen(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct relay_opts *r = opts;
	snprintf(buf, len, "%s:%d", r->listen_host, r->listen_port);
}

static void show_upstream(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	const struct relay_opts *r = opts;
	snprintf(buf, len, "%s:%d", r->up_host, r->up_port);
}

static int parse_faults(void *opts, const struct cli_opt *o, const char *arg, int use,
			char *err, size_t errlen)
{
	return cli_arg_faults(o->name, arg, &((struct relay_opts *)opts)->faults, err, errlen);
}

#define F(f) CLI_FIELD(struct relay_opts, f)
static const struct cli_opt opts[] = {
	{.name = "listen", .kind = CLI_CUSTOM, .parse = parse_listen, .show = show_listen,
	 .arg = "HOST:PORT", .help = "where the agents send"},
	{.name = "upstream", .kind = CLI_CUSTOM, .parse = parse_upstream, .show = show_upstream,
	 .arg = "HOST:PORT", .help = "the appliance"},
	{.name = "faults", .kind = CLI_CUSTOM, .parse = parse_faults, .arg = "SPEC",
	 .help = "drop=P,dup=P,reorder=P,seed=N, in both directions", .dflt = "none"},
	{.name = "max-clients", .kind = CLI_INT, F(max_clients), .lo = 1, .hi = 1 << 16,
	 .arg = "N", .help = "agent addresses relayed at once; the longest idle is evicted"},
	{.name = "idle-s", .kind = CLI_DOUBLE, F(idle_s), .lo = 0.01, .hi = 86400, .arg = "S",
	 .help = "an agent silent this long is forgotten"},
};
static const struct cli_prog prog = {
	.name = PROG,
	.head = "usage: " PROG " [options]\n"
		"Relays UDP datagrams between agents and an appliance, dropping, duplicating\n"
		"and reordering them as --faults says (seeded: a run can be repeated). One\n"
		"JSON line of counts on SIGINT or SIGTERM.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct relay_opts)};

static int relay_open(struct relay *r)
{
	struct sockaddr_storage la;
	socklen_t llen;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	if (resolve(r->o.listen_host, r->o.listen_port, &la, &llen) ||
	    resolve(r->o.up_host, r->o.up_port, &r->up_addr, &r->up_len)) {
		fprintf(stderr, PROG ": cannot resolve %s or %s\n", r->o.listen_host, r->o.up_host);
		return -EINVAL;
	}
	r->lfd = socket(la.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->c = calloc((size_t)r->o.max_clients, sizeof(*r->c));
	if (r->lfd < 0 || r->ep < 0 || !r->c || bind(r->lfd, (struct sockaddr *)&la, llen) ||
	    epoll_ctl(r->ep, EPOLL_CTL_ADD, r->lfd, &ev)) {
		fprintf(stderr, PROG ": cannot listen on %s:%d: %s\n", r->o.listen_host,
			r->o.listen_port, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < r->o.max_clients; i++)
		r->c[i].fd = -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct relay r = {.lfd = -1, .ep = -1};
	r.o = (struct relay_opts){.listen_host = "127.0.0.1", .up_host = "127.0.0.1",
				  .listen_port = CW_DEFAULT_PORT + 1, .up_port = CW_DEFAULT_PORT,
				  .max_clients = 1024, .idle_s = 60};
	int st = cli_args(&prog, &r.o, argc, argv), ret = 1;
	if (st != CLI_GO)
		return st;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!relay_open(&r)) {
		/* the caller learns the address before the first datagram */
		fprintf(stderr, PROG ": relaying %s:%d -> %s:%d\n", r.o.listen_host,
			r.o.listen_port, r.o.up_host, r.o.up_port);
		run(&r);
		summary(&r);
		ret = 0;
	}
	if (r.lfd >= 0)
		close(r.lfd);
	if (r.ep >= 0)
		close(r.ep);
	free(r.c);
	return ret;
}
