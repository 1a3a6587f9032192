/* coinfer-fleet --netns's module (fleet/netns.c) against the kernel, in a
 * network namespace of the test's own (unshare: the host ends and routes
 * vanish with the test whatever happens; the device namespaces are named, so
 * the sweep of a later run removes what a crash left).
 *
 *  1. three devices: tc shows a tbf at the configured rate on each device's
 *     eth0 (uplink) and host end (downlink);
 *  2. a step of a small in-memory trace changes every rate;
 *  3. a UDP socket made in device 1's namespace exchanges datagrams with
 *     sockets of the test's namespace on the edge address (one bound to it,
 *     one to 0.0.0.0: both answer from the edge address);
 *  4. a burst above the rate: tbf counts overlimits (it held packets back),
 *     drops none, and every byte sent arrives;
 *  5. a 64 KiB message over TCP at 1 Mbit/s arrives whole, tbf dropping none;
 *     three threads make sockets in three namespaces at once, each in its own;
 *  6. destroy leaves no namespace, veth or fd, twice in a row;
 *  7. 20 create/destroy rounds leak no fd and no name;
 *  8. bad blocks and edges, no ip on PATH, no CAP_NET_ADMIN: the errors;
 *  9. a run that died without destroy is swept.
 * Prints (does not assert) the time of a step over rtnetlink and of the same
 * changes by `tc` processes. Exits 77 with the reason where namespaces, ip, tc
 * or tbf are not available. Waits are bounded, never asserted on. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

#define CHECK(c, ...)                                                                      \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "test-netns-shaping:%d: %s: ", __LINE__, #c);       \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define N_DEV 3
#define UDP_PORT 7901
#define BURST_DGRAMS 64
#define DGRAM_BYTES 1000
#define WAIT_MS 10000 /* a bound on a wait that should end far sooner: failure, not timing */

static char out[65536];

/* The stdout of cmd into out. */
static const char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *capture(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	CHECK(p, "popen %s", cmd);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	return out;
}

static int skip(const char *why)
{
	printf("test-netns-shaping: skipped: %s\n", why);
	return 77;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	CHECK(d, "opendir /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Names with our pid left in ip netns list or ip link. */
static int leftovers(long pid)
{
	char tag[32];
	int n = 0;
	snprintf(tag, sizeof(tag), "cfl%ld-", pid);
	for (const char *p = capture("ip netns list"); (p = strstr(p, tag)); p++)
		n++;
	/* host ends only: their lines also name the peer's namespace (link-netns) */
	snprintf(tag, sizeof(tag), "cfl%ldh", pid);
	for (const char *p = capture("ip -o link"); (p = strstr(p, tag)); p++)
		n++;
	return n;
}

/* The in-memory trace: at t < 1 the configured 10/20 Mbit/s, from t = 1 on
 * device k has (k+1) Mbit/s up and 2(k+1) down, from t = 2 on 1 Mbit/s up. */
static double trace(void *ctx, int k, int dir, double t)
{
	if (t < 1)
		return dir == FL_NETNS_UP ? 10e6 : 20e6;
	if (t < 2)
		return (dir == FL_NETNS_UP ? 1e6 : 2e6) * (k + 1);
	return dir == FL_NETNS_UP ? 1e6 : 2e6 * (k + 1);
}

static void check_rate(struct fl_netns *ns, int k, const char *up, const char *down)
{
	char host[32];
	snprintf(host, sizeof(host), "cfl%dh%d", (int)getpid(), k);
	capture("tc -n %s qdisc show dev eth0", fl_netns_name(ns, k));
	CHECK(strstr(out, "qdisc tbf 1: root") && strstr(out, up), "device %d uplink: %s", k,
	      out);
	capture("tc qdisc show dev %s", host);
	CHECK(strstr(out, "qdisc tbf 1: root") && strstr(out, down), "device %d downlink: %s",
	      k, out);
}

static long counter(const char *text, const char *name)
{
	const char *p = strstr(text, name);
	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

static int udp_bound(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && inet_pton(AF_INET, addr, &sa.sin_addr) == 1, "socket");
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s:%d: %s", addr, port,
	      strerror(errno));
	return fd;
}

static ssize_t recv_wait(int fd, void *buf, size_t len, struct sockaddr_in *from)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	socklen_t fl = sizeof(*from);
	CHECK(poll(&p, 1, WAIT_MS) == 1, "nothing arrived on fd %d", fd);
	return recvfrom(fd, buf, len, 0, (struct sockaddr *)from, &fl);
}

/* Device 1 to an edge socket on port and back; the answer must come from the
 * edge address (the device's socket is connected to it). */
static void exchange(struct fl_netns *ns, int edge_fd, int port)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)}, from;
	char buf[64];
	int fd = fl_netns_socket(ns, 1, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0, "fl_netns_socket: %s", strerror(-fd));
	inet_pton(AF_INET, fl_netns_edge(ns), &to.sin_addr);
	CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect: %s",
	      strerror(errno));
	CHECK(send(fd, "hello", 5, 0) == 5, "send: %s", strerror(errno));
	CHECK(recv_wait(edge_fd, buf, sizeof(buf), &from) == 5, "edge recv");
	CHECK(from.sin_addr.s_addr == fl_netns_device_addr(ns, 1).s_addr,
	      "the datagram came from %s, not device 1", inet_ntoa(from.sin_addr));
	CHECK(sendto(edge_fd, "world!", 6, 0, (struct sockaddr *)&from, sizeof(from)) == 6,
	      "sendto: %s", strerror(errno));
	CHECK(recv_wait(fd, buf, sizeof(buf), &from) == 6 && !memcmp(buf, "world!", 6),
	      "device 1 got no answer on port %d", port);
	close(fd);
}

/* BURST_DGRAMS datagrams at once from device 1 at 1 Mbit/s: tbf must hold
 * them back (overlimits), drop none, and pass every byte. */
static void burst(struct fl_netns *ns, int edge_fd)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT)}, from;
	char buf[DGRAM_BYTES];
	long sent = 0, got = 0;
	int fd = fl_netns_socket(ns, 1, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0, "fl_netns_socket: %s", strerror(-fd));
	inet_pton(AF_INET, fl_netns_edge(ns), &to.sin_addr);
	CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect");
	memset(buf, 'x', sizeof(buf));
	capture("tc -s -n %s qdisc show dev eth0", fl_netns_name(ns, 1));
	long over0 = counter(out, "overlimits ");
	for (int i = 0; i < BURST_DGRAMS; i++)
		sent += send(fd, buf, sizeof(buf), 0);
	capture("tc -s -n %s qdisc show dev eth0", fl_netns_name(ns, 1));
	long over = counter(out, "overlimits "), dropped = counter(out, "dropped ");
	printf("burst of %ld bytes at 1 Mbit/s, right after sending: %s", sent, out);
	for (int i = 0; i < BURST_DGRAMS; i++) {
		ssize_t n = recv_wait(edge_fd, buf, sizeof(buf), &from);
		CHECK(n > 0, "recv: %s", strerror(errno));
		got += n;
	}
	capture("tc -s -n %s qdisc show dev eth0", fl_netns_name(ns, 1));
	CHECK(counter(out, "dropped ") == 0, "tbf dropped: %s", out);
	printf("after receiving %ld bytes: %s", got, out);
	CHECK(sent == (long)BURST_DGRAMS * DGRAM_BYTES && got == sent, "sent %ld got %ld", sent,
	      got);
	CHECK(over > over0 && dropped == 0, "tbf held nothing back: overlimits %ld -> %ld", over0,
	      over);
	close(fd);
}

/* A 64 KiB message over TCP from device 1 at 1 Mbit/s: the veth hands tbf
 * GSO packets larger than its burst, which tbf cuts to frames; the bucket and
 * the queue must pass the whole message with no drop. */
static void tcp_message(struct fl_netns *ns)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT + 2)};
	static char msg[65536], got[65536];
	inet_pton(AF_INET, fl_netns_edge(ns), &sa.sin_addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      listen(lfd, 1) == 0, "listen: %s", strerror(errno));
	int fd = fl_netns_socket(ns, 1, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
	      strerror(errno));
	int afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0, "accept: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7);
	CHECK(send(fd, msg, sizeof(msg), 0) == (ssize_t)sizeof(msg), "send: %s", strerror(errno));
	size_t have = 0;
	while (have < sizeof(got)) {
		struct pollfd p = {.fd = afd, .events = POLLIN};
		CHECK(poll(&p, 1, WAIT_MS) == 1, "the message stopped at %zu bytes", have);
		ssize_t n = recv(afd, got + have, sizeof(got) - have, 0);
		CHECK(n > 0, "recv: %s", n ? strerror(errno) : "closed");
		have += (size_t)n;
	}
	CHECK(!memcmp(msg, got, sizeof(msg)), "the message changed on the way");
	capture("tc -s -n %s qdisc show dev eth0", fl_netns_name(ns, 1));
	CHECK(counter(out, "dropped ") == 0, "tbf dropped: %s", out);
	close(afd);
	close(fd);
	close(lfd);
}

/* Threads making sockets in different namespaces at once: setns moves only
 * the calling thread, so each socket is in its own thread's device's
 * namespace (a connected UDP socket's local address is that device's). */
struct sock_job {
	struct fl_netns *ns;
	int k, wrong;
};

static void *sockets_of(void *arg)
{
	struct sock_job *j = arg;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT)}, me;
	inet_pton(AF_INET, fl_netns_edge(j->ns), &to.sin_addr);
	for (int i = 0; i < 200; i++) {
		socklen_t len = sizeof(me);
		int fd = fl_netns_socket(j->ns, j->k, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) ||
		    getsockname(fd, (struct sockaddr *)&me, &len) ||
		    me.sin_addr.s_addr != fl_netns_device_addr(j->ns, j->k).s_addr)
			j->wrong++;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void threads(struct fl_netns *ns)
{
	pthread_t t[N_DEV];
	struct sock_job j[N_DEV];
	for (int k = 0; k < N_DEV; k++) {
		j[k] = (struct sock_job){.ns = ns, .k = k};
		CHECK(pthread_create(&t[k], NULL, sockets_of, &j[k]) == 0, "pthread_create");
	}
	for (int k = 0; k < N_DEV; k++) {
		pthread_join(t[k], NULL);
		CHECK(j[k].wrong == 0, "device %d: %d of 200 sockets elsewhere", k, j[k].wrong);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Printed only: a step changing all 2 x N_DEV rates over rtnetlink against
 * the same changes by tc processes (one per device namespace, one -batch for
 * the host ends). */
static void measure(struct fl_netns *ns)
{
	char err[256];
	int rounds = 50;
	double t0 = now_s();
	for (int i = 0; i < rounds; i++)
		CHECK(fl_netns_step(ns, 0.5 + (i & 1), trace, NULL, err, sizeof(err)) == 0, "%s",
		      err);
	double nl = (now_s() - t0) / rounds;
	t0 = now_s();
	for (int i = 0; i < rounds / 5; i++) {
		char cmd[1024];
		int len = 0;
		for (int k = 0; k < N_DEV; k++)
			len += snprintf(cmd + len, sizeof(cmd) - len,
					"tc -n %s qdisc change dev eth0 root tbf rate %dmbit "
					"burst 1514 limit 1048576 && ", fl_netns_name(ns, k),
					1 + (i & 1));
		len += snprintf(cmd + len, sizeof(cmd) - len, "printf '");
		for (int k = 0; k < N_DEV; k++)
			len += snprintf(cmd + len, sizeof(cmd) - len, "qdisc change dev cfl%dh%d "
					"root tbf rate %dmbit burst 1514 limit 1048576\\n",
					(int)getpid(), k, 2 + (i & 1));
		snprintf(cmd + len, sizeof(cmd) - len, "' | tc -batch -");
		CHECK(system(cmd) == 0, "%s", cmd);
	}
	double tc = (now_s() - t0) / (rounds / 5);
	printf("a step of %d devices (both directions changed): rtnetlink %.3f ms, "
	       "tc processes %.3f ms\n", N_DEV, nl * 1e3, tc * 1e3);
}

static struct fl_netns *make(int n, char *err, size_t errlen, int *ret)
{
	struct fl_netns_config c;
	struct fl_netns *ns = NULL;
	fl_netns_config_defaults(&c);
	c.n_devices = n;
	c.up_bps = 10e6;
	c.down_bps = 20e6;
	*ret = fl_netns_create(&c, &ns, err, errlen);
	return ns;
}

/* A child makes devices and dies without destroy; the sweep removes them. */
static void crashed_run(void)
{
	char err[256];
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int ret;
		_exit(make(2, err, sizeof(err), &ret) ? 0 : 1);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	      "the child could not make its devices");
	CHECK(leftovers(pid) == 4, "the dead run's names: %d", leftovers(pid));
	int n = fl_netns_sweep(err, sizeof(err));
	CHECK(n == 4, "sweep removed %d (%s)", n, n < 0 ? err : "");
	CHECK(leftovers(pid) == 0, "after the sweep: %d", leftovers(pid));
}

/* No ip on PATH: -ENOENT naming ip; no CAP_NET_ADMIN (a child drops it):
 * -EPERM naming it. */
static void missing_tools(void)
{
	char err[256], path[4096];
	int ret;
	snprintf(path, sizeof(path), "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", "/nonexistent", 1);
	CHECK(!make(1, err, sizeof(err), &ret) && ret == -ENOENT && strstr(err, "`ip`"),
	      "%d %s", ret, err);
	setenv("PATH", path, 1);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
		if (syscall(SYS_capget, &h, d) < 0)
			_exit(3);
		d[0].effective &= ~(1u << CAP_NET_ADMIN);
		if (syscall(SYS_capset, &h, d) < 0)
			_exit(3);
		ret = -1;
		_exit(!make(1, err, sizeof(err), &ret) && ret == -EPERM &&
		      strstr(err, "no CAP_NET_ADMIN") ? 0 : 1);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) != 1,
	      "without CAP_NET_ADMIN");
}

static void bad_configs(void)
{
	struct fl_netns_config c;
	struct fl_netns *ns;
	char err[256];
	fl_netns_config_defaults(&c);
	c.block = "10.213.0.0/29";
	c.n_devices = 3;
	CHECK(fl_netns_create(&c, &ns, err, sizeof(err)) == -EINVAL && strstr(err, "/30s"),
	      "%s", err);
	c.block = "10.213.255.0/24";
	CHECK(fl_netns_create(&c, &ns, err, sizeof(err)) == -EINVAL && strstr(err, "edge"),
	      "%s", err);
	c.block = "10.213.0.0";
	CHECK(fl_netns_create(&c, &ns, err, sizeof(err)) == -EINVAL, "%s", err);
}

int main(void)
{
	char err[512];
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (unshare(CLONE_NEWNET) < 0)
		return skip("cannot make a network namespace (needs root)");
	/* strict reverse-path filtering, as on many hosts: the route to each
	 * device's /30 goes out of its host end, so its packets still pass */
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? "/proc/sys/net/ipv4/conf/default/rp_filter" :
				"/proc/sys/net/ipv4/conf/all/rp_filter", "w");
		if (f) {
			fputs("1\n", f);
			fclose(f);
		}
	}
	if (system("tc -V >/dev/null 2>&1") != 0)
		return skip("no tc (iproute2)");
	int fds0 = count_fds();
	struct fl_netns *ns = make(N_DEV, err, sizeof(err), &ret);
	if (ret == -EPERM || ret == -ENOENT)
		return skip(err);
	CHECK(ret == 0, "create: %s", err);
	struct fl_netns *two = make(1, err, sizeof(err), &ret);
	CHECK(!two && ret == -EBUSY, "a second live instance: %d", ret);
	for (int k = 0; k < N_DEV; k++)
		check_rate(ns, k, "rate 10Mbit", "rate 20Mbit");
	CHECK(fl_netns_step(ns, 1.5, trace, NULL, err, sizeof(err)) == 0, "step: %s", err);
	check_rate(ns, 0, "rate 1Mbit", "rate 2Mbit");
	check_rate(ns, 1, "rate 2Mbit", "rate 4Mbit");
	check_rate(ns, 2, "rate 3Mbit", "rate 6Mbit");
	int edge_fd = udp_bound(fl_netns_edge(ns), UDP_PORT);
	int any_fd = udp_bound("0.0.0.0", UDP_PORT + 1);
	exchange(ns, edge_fd, UDP_PORT);
	exchange(ns, any_fd, UDP_PORT + 1);
	CHECK(fl_netns_step(ns, 2.5, trace, NULL, err, sizeof(err)) == 0, "step: %s", err);
	check_rate(ns, 1, "rate 1Mbit", "rate 4Mbit");
	burst(ns, edge_fd);
	tcp_message(ns);
	threads(ns);
	measure(ns);
	close(edge_fd);
	close(any_fd);
	CHECK(fl_netns_destroy(ns) == 0 && fl_netns_destroy(ns) == 0, "destroy");
	CHECK(leftovers(getpid()) == 0, "left after destroy: %d", leftovers(getpid()));
	fl_netns_free(ns);
	CHECK(count_fds() == fds0, "fds %d before, %d after", fds0, count_fds());
	for (int i = 0; i < 20; i++) {
		ns = make(N_DEV, err, sizeof(err), &ret);
		CHECK(ret == 0, "round %d: %s", i, err);
		fl_netns_free(ns);
	}
	CHECK(count_fds() == fds0 && leftovers(getpid()) == 0,
	      "after 20 rounds: fds %d before, %d after; %d names left", fds0, count_fds(),
	      leftovers(getpid()));
	/* the README demo's size, timed for the log only */
	double t0 = now_s();
	ns = make(32, err, sizeof(err), &ret);
	CHECK(ret == 0, "32 devices: %s", err);
	double t1 = now_s();
	fl_netns_free(ns);
	printf("32 devices: create %.0f ms, destroy %.0f ms\n", (t1 - t0) * 1e3,
	       (now_s() - t1) * 1e3);
	CHECK(count_fds() == fds0 && leftovers(getpid()) == 0, "after 32 devices");
	bad_configs();
	missing_tools();
	crashed_run();
	printf("test-netns-shaping: ok (20 rounds, fds %d)\n", fds0);
	return 0;
}
