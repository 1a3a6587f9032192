/* Device namespaces, veth pairs and tbf shaping for coinfer-fleet --netns.
 *
 * Making and removing the namespaces and veths runs `ip -batch` (one process
 * in the home namespace, one per device namespace): done once a run, and ip
 * already knows how to make a named namespace (the bind mount under
 * /var/run/netns). The rate changes, once per trace step per device, go over
 * rtnetlink instead: one NETLINK_ROUTE socket per namespace, opened inside it
 * at create and kept, so a step is a few sendmsg/recvmsg and no fork+exec.
 *
 * Ownership: struct fl_netns owns the namespace fds, the netlink sockets and
 * the home namespace fd; fl_netns_destroy closes them and removes the kernel
 * objects, fl_netns_free frees the struct. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coinfer/errmsg.h"
#include "netns.h"

extern char **environ;

#define MAX_DEVICES 4096
#define NAME_MAX_LEN 32
#define VETH_MTU 1500
/* the largest frame tbf sees on a veth of MTU 1500: the IP packet and the
 * 14-byte Ethernet header (GSO packets are cut to this by tbf itself) */
#define FRAME_BYTES (VETH_MTU + 14)
/* Debian's kernels' CONFIG_HZ: burst >= rate/HZ lets a timer-tick kernel keep the rate */
#define KERNEL_HZ 250
#define QUEUE_S 2.0
#define QUEUE_MIN_BYTES (1u << 20)
#define TBF_HANDLE 0x10000u /* 1: */
#define NL_BATCH 16384

struct fl_dev {
	char name[NAME_MAX_LEN];     /* namespace cfl<pid>-<k> */
	char host[IFNAMSIZ];         /* host end cfl<pid>h<k> */
	int fd;                      /* the namespace, -1 when not open */
	struct mnl_socket *nl;       /* rtnetlink inside it */
	int eth_ifindex, host_ifindex;
	double bps[2];               /* the rate set now (0: none yet) */
};

struct fl_netns {
	int n;
	int home_fd;
	struct mnl_socket *home_nl;
	uint32_t base;               /* the block's first address, host order */
	uint32_t edge;
	char edge_str[INET_ADDRSTRLEN];
	int destroyed;
	uint32_t seq;
	struct fl_dev *dev;
};

static atomic_int live_instance;

void fl_netns_config_defaults(struct fl_netns_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_devices = 1;
	c->block = "10.213.0.0/16";
	c->edge = "10.213.255.1";
	c->up_bps = 100e6;
	c->down_bps = 100e6;
}

/* Burst: at least one full frame (tbf drops a packet larger than its bucket)
 * and at least rate/HZ (a kernel that wakes the queue once a tick must be able
 * to send a tick's worth at once). No larger: a full bucket lets that many
 * bytes through at line rate, so an idle link is faster than its trace by
 * burst*8/rate, at most 12 ms at 1 Mbit/s (one frame) and 4 ms (1/HZ) from
 * 3 Mbit/s up.
 * Limit: the queue tbf holds before dropping. The in-process shaping never
 * drops (a FIFO link per device), and a drop would cost a retransmission
 * timeout, so the queue holds 2 s of the rate and never less than 1 MiB: a
 * 64 KiB message (about 66 KiB on the wire) needs 0.54 s at 1 Mbit/s, so
 * at 1 Mbit/s the queue holds 15 such messages, more than a device keeps
 * outstanding; it is delayed as the trace says, not dropped. */
void fl_netns_tbf_params(double bps, uint32_t *burst, uint32_t *limit)
{
	if (!(bps >= FL_NETNS_MIN_BPS))
		bps = FL_NETNS_MIN_BPS;
	double bytes_s = bps / 8;
	double b = bytes_s / KERNEL_HZ;
	double q = bytes_s * QUEUE_S;
	if (b < FRAME_BYTES)
		b = FRAME_BYTES;
	if (q < QUEUE_MIN_BYTES)
		q = QUEUE_MIN_BYTES;
	if (b > UINT32_MAX / 4)
		b = UINT32_MAX / 4;
	if (q > UINT32_MAX / 2)
		q = UINT32_MAX / 2;
	*burst = (uint32_t)b;
	*limit = (uint32_t)(q + b);
}

/* ------------------------------------------------------------------ ip */

/* Runs `ip [-n NS] [-force] -batch -` on the text of batch; its stderr comes
 * back in out (NUL-terminated). 0 when ip exited 0, -ENOENT when there is no
 * ip, else the exit status as a positive number. */
static int run_ip(const char *netns, int force, const char *batch, char *out, size_t outlen)
{
	char *argv[8];
	int argc = 0, in = -1, errfd = -1, ret;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	argv[argc++] = "ip";
	if (netns) {
		argv[argc++] = "-n";
		argv[argc++] = (char *)netns;
	}
	if (force)
		argv[argc++] = "-force";
	argv[argc++] = "-batch";
	argv[argc++] = "-";
	argv[argc] = NULL;
	out[0] = 0;
	/* files, not pipes: ip may write all its stderr before we read any */
	in = memfd_create("fl-netns-batch", MFD_CLOEXEC);
	errfd = memfd_create("fl-netns-err", MFD_CLOEXEC);
	if (in < 0 || errfd < 0) {
		ret = -errno;
		goto out;
	}
	size_t len = strlen(batch);
	if (write(in, batch, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0) {
		ret = -EIO;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	ret = -posix_spawnp(&pid, "ip", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		goto out;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			ret = -errno;
			goto out;
		}
	ssize_t got = pread(errfd, out, outlen - 1, 0);
	out[got > 0 ? got : 0] = 0;
	out[strcspn(out, "\n")] = 0;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	if (ret == 127)
		ret = -ENOENT; /* a shell-less spawn still reports exec failure so on some libcs */
out:
	if (in >= 0)
		close(in);
	if (errfd >= 0)
		close(errfd);
	return ret;
}

/* run_ip for create: any failure is an error naming the step and ip's words. */
static int ip_must(const char *netns, const char *batch, const char *what, char *err,
		   size_t errlen)
{
	char said[512];
	int ret = run_ip(netns, 0, batch, said, sizeof(said));
	if (ret == 0)
		return 0;
	if (ret == -ENOENT)
		return cf_fail(-ENOENT, err, errlen,
			       "--netns needs the `ip` program (Debian package iproute2): "
			       "not found on PATH");
	if (ret < 0)
		return cf_fail(ret, err, errlen, "netns: running ip for %s: %s", what,
			       strerror(-ret));
	if (strstr(said, "Operation not permitted") || strstr(said, "Permission denied"))
		return cf_fail(-EPERM, err, errlen,
			       "--netns needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root): "
			       "%s: ip said: %s", what, said);
	return cf_fail(strstr(said, "File exists") ? -EEXIST : -EIO, err, errlen,
		       "netns: %s: ip said: %s", what, said[0] ? said : "(nothing)");
}

/* ------------------------------------------------------------- netlink */

/* Appends to buf one RTM_NEWQDISC that creates or replaces (tc qdisc
 * replace) the root tbf of ifindex at bps. */
static void put_tbf(void *buf, uint32_t seq, int ifindex, double bps)
{
	uint32_t burst, limit;
	fl_netns_tbf_params(bps, &burst, &limit);
	uint64_t bytes_s = (uint64_t)((bps < FL_NETNS_MIN_BPS ? FL_NETNS_MIN_BPS : bps) / 8);

	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWQDISC;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	nlh->nlmsg_seq = seq;
	struct tcmsg *tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_handle = TBF_HANDLE;
	tcm->tcm_parent = TC_H_ROOT;
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	struct tc_tbf_qopt q;
	memset(&q, 0, sizeof(q));
	q.rate.rate = bytes_s >= UINT32_MAX ? UINT32_MAX : (uint32_t)bytes_s;
	/* a link layer given: the kernel computes the rate itself, no rate table */
	q.rate.linklayer = TC_LINKLAYER_ETHERNET;
	q.limit = limit;
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
	if (bytes_s >= UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, bytes_s);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	mnl_attr_nest_end(nlh, opts);
}

/* The first error of n acks read from nl (0 when all were fine). */
static int read_acks(struct mnl_socket *nl, int n, char *msg, size_t msglen)
{
	char buf[8192];
	int first = 0;
	while (n > 0) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		int left = (int)len;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			n--;
			if (e->error && !first) {
				first = e->error;
				snprintf(msg, msglen, "%s", strerror(-first));
			}
		}
	}
	return first;
}

/* Sends the len bytes of messages in buf (count of them) and reads their acks. */
static int nl_flush(struct mnl_socket *nl, void *buf, size_t len, int count, char *msg,
		    size_t msglen)
{
	if (!count)
		return 0;
	if (mnl_socket_sendto(nl, buf, len) < 0)
		return -errno;
	return read_acks(nl, count, msg, msglen);
}

static int tbf_fail(int ret, const char *where, const char *msg, char *err, size_t errlen)
{
	if (ret == -ENOENT || ret == -EOPNOTSUPP)
		return cf_fail(-ENOENT, err, errlen,
			       "--netns needs the kernel's tbf qdisc (sch_tbf): %s: %s", where,
			       msg);
	if (ret == -EPERM)
		return cf_fail(-EPERM, err, errlen, "--netns needs CAP_NET_ADMIN: %s: %s", where,
			       msg);
	return cf_fail(ret, err, errlen, "netns: setting tbf on %s: %s", where, msg);
}

int fl_netns_set_rate(struct fl_netns *ns, int k, int dir, double bps, char *err,
		      size_t errlen)
{
	char buf[512], msg[128] = "";
	if (!ns || ns->destroyed || k < 0 || k >= ns->n || (dir != FL_NETNS_UP &&
							      dir != FL_NETNS_DOWN))
		return cf_fail(-EINVAL, err, errlen, "netns: no device %d direction %d", k, dir);
	struct fl_dev *d = &ns->dev[k];
	struct mnl_socket *nl = dir == FL_NETNS_UP ? d->nl : ns->home_nl;
	int ifindex = dir == FL_NETNS_UP ? d->eth_ifindex : d->host_ifindex;
	put_tbf(buf, ++ns->seq, ifindex, bps);
	int ret = nl_flush(nl, buf, ((struct nlmsghdr *)buf)->nlmsg_len, 1, msg, sizeof(msg));
	if (ret)
		return tbf_fail(ret, dir == FL_NETNS_UP ? d->name : d->host, msg, err, errlen);
	d->bps[dir] = bps;
	return 0;
}

/* The host ends' downlinks go in batches of NL_BATCH bytes on the home socket;
 * each device's uplink is one message on its own namespace's socket. */
int fl_netns_step(struct fl_netns *ns, double t_s, fl_netns_rate_fn fn, void *ctx,
		  char *err, size_t errlen)
{
	static _Thread_local char batch[NL_BATCH];
	char msg[128] = "";
	size_t off = 0;
	int count = 0, ret;

	if (!ns || ns->destroyed)
		return cf_fail(-EINVAL, err, errlen, "netns: step after destroy");
	for (int k = 0; k < ns->n; k++) {
		struct fl_dev *d = &ns->dev[k];
		double up = fn(ctx, k, FL_NETNS_UP, t_s), down = fn(ctx, k, FL_NETNS_DOWN, t_s);
		if (up != d->bps[FL_NETNS_UP]) {
			ret = fl_netns_set_rate(ns, k, FL_NETNS_UP, up, err, errlen);
			if (ret)
				return ret;
		}
		if (down == d->bps[FL_NETNS_DOWN])
			continue;
		if (off + 512 > sizeof(batch)) {
			ret = nl_flush(ns->home_nl, batch, off, count, msg, sizeof(msg));
			if (ret)
				return tbf_fail(ret, "the host ends", msg, err, errlen);
			off = 0;
			count = 0;
		}
		put_tbf(batch + off, ++ns->seq, d->host_ifindex, down);
		off += MNL_ALIGN(((struct nlmsghdr *)(batch + off))->nlmsg_len);
		count++;
		d->bps[FL_NETNS_DOWN] = down;
	}
	ret = nl_flush(ns->home_nl, batch, off, count, msg, sizeof(msg));
	return ret ? tbf_fail(ret, "the host ends", msg, err, errlen) : 0;
}

/* --------------------------------------------------------------- sockets */

int fl_netns_socket(struct fl_netns *ns, int k, int domain, int type, int protocol)
{
	if (!ns || ns->destroyed || k < 0 || k >= ns->n || ns->dev[k].fd < 0) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (setns(ns->dev[k].fd, CLONE_NEWNET) < 0)
		return -errno;
	int fd = socket(domain, type, protocol);
	int saved = errno;
	/* cannot fail once the first setns worked (same rights); if it did, the
	 * thread would be left in the device's namespace: refuse the socket */
	if (setns(ns->home_fd, CLONE_NEWNET) < 0) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (fd < 0) {
		errno = saved;
		return -saved;
	}
	return fd;
}

/* Opens the rtnetlink socket of device k and finds eth0 there. */
static int open_device_nl(struct fl_netns *ns, int k)
{
	struct fl_dev *d = &ns->dev[k];
	int fd = fl_netns_socket(ns, k, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return fd;
	d->nl = mnl_socket_fdopen(fd);
	if (!d->nl || mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int ret = -errno;
		if (d->nl)
			mnl_socket_close(d->nl);
		else
			close(fd);
		d->nl = NULL;
		return ret;
	}
	/* an ioctl on a socket acts in the socket's namespace */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	fd = fl_netns_socket(ns, k, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	int ret = ioctl(fd, SIOCGIFINDEX, &ifr) < 0 ? -errno : 0;
	close(fd);
	d->eth_ifindex = ifr.ifr_ifindex;
	return ret;
}

const char *fl_netns_edge(const struct fl_netns *ns)
{
	return ns->edge_str;
}

const char *fl_netns_name(const struct fl_netns *ns, int k)
{
	return k >= 0 && k < ns->n ? ns->dev[k].name : NULL;
}

struct in_addr fl_netns_device_addr(const struct fl_netns *ns, int k)
{
	struct in_addr a = {.s_addr = htonl(ns->base + 4u * (uint32_t)k + 2)};
	return a;
}

int fl_netns_count(const struct fl_netns *ns)
{
	return ns->n;
}

int fl_netns_open_socket(void *slice, int agent, int domain, int type, int protocol)
{
	struct fl_netns_slice *s = slice;
	return fl_netns_socket(s->ns, s->first + agent, domain, type, protocol);
}

const char *fl_netns_host_of(void *slice, int agent)
{
	struct fl_netns_slice *s = slice;
	return s->ns->edge_str;
}

/* ------------------------------------------------------ create, destroy */

static int check_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &h, d) < 0)
		return 0; /* cannot tell: ip will say */
	uint32_t eff = d[0].effective;
	if (!(eff & (1u << CAP_NET_ADMIN)) || !(eff & (1u << CAP_SYS_ADMIN)))
		return cf_fail(-EPERM, err, errlen,
			       "--netns needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root): "
			       "this process has %s%s%s", eff & (1u << CAP_NET_ADMIN) ? "" :
			       "no CAP_NET_ADMIN", !(eff & (1u << CAP_NET_ADMIN)) &&
			       !(eff & (1u << CAP_SYS_ADMIN)) ? " and " : "",
			       eff & (1u << CAP_SYS_ADMIN) ? "" : "no CAP_SYS_ADMIN");
	return 0;
}

/* "A.B.C.D/len" and the edge address, checked against n devices' /30s. */
static int parse_addrs(const struct fl_netns_config *c, struct fl_netns *ns, char *err,
		       size_t errlen)
{
	char text[INET_ADDRSTRLEN + 4];
	struct in_addr a;
	unsigned len;
	char *slash;

	snprintf(text, sizeof(text), "%s", c->block ? c->block : "10.213.0.0/16");
	slash = strchr(text, '/');
	if (!slash || sscanf(slash + 1, "%u", &len) != 1 || len > 30 ||
	    (*slash = 0, inet_pton(AF_INET, text, &a) != 1))
		return cf_fail(-EINVAL, err, errlen, "netns: block \"%s\" is not A.B.C.D/LEN "
			       "(LEN <= 30)", c->block);
	uint64_t size = 1ull << (32 - len);
	ns->base = ntohl(a.s_addr) & (uint32_t)~(size - 1);
	if ((uint64_t)ns->n * 4 > size)
		return cf_fail(-EINVAL, err, errlen, "netns: block %s holds %llu /30s, not %d",
			       c->block, (unsigned long long)(size / 4), ns->n);
	const char *edge = c->edge ? c->edge : "10.213.255.1";
	if (inet_pton(AF_INET, edge, &a) != 1)
		return cf_fail(-EINVAL, err, errlen, "netns: edge \"%s\" is not an IPv4 address",
			       edge);
	ns->edge = ntohl(a.s_addr);
	if (ns->edge >= ns->base && ns->edge - ns->base < 4u * (uint32_t)ns->n)
		return cf_fail(-EINVAL, err, errlen, "netns: edge %s lies in device %u's /30 "
			       "of %s", edge, (ns->edge - ns->base) / 4, c->block);
	snprintf(ns->edge_str, sizeof(ns->edge_str), "%s", edge);
	return 0;
}

static const char *addr_str(uint32_t host_order, char *buf)
{
	struct in_addr a = {.s_addr = htonl(host_order)};
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* The home namespace's part: namespaces, veth pairs, host ends' addresses
 * (the /30's first without its prefix route, the edge as /32) and the route
 * to each device's /30 from the edge address. No IPv6 link-local address on
 * either end (addrgenmode none): no router solicitations or DAD in the shaped
 * links, only the run's own traffic and ARP. */
static char *home_batch(const struct fl_netns *ns)
{
	char *text = NULL, gw[INET_ADDRSTRLEN], net[INET_ADDRSTRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	for (int k = 0; k < ns->n; k++) {
		const struct fl_dev *d = &ns->dev[k];
		uint32_t b = ns->base + 4u * (uint32_t)k;
		addr_str(b, net);
		addr_str(b + 1, gw);
		fprintf(f, "netns add %s\n", d->name);
		fprintf(f, "link add %s mtu %d type veth peer name eth0 mtu %d netns %s\n",
			d->host, VETH_MTU, VETH_MTU, d->name);
		fprintf(f, "link set %s addrgenmode none\n", d->host);
		fprintf(f, "addr add %s/30 dev %s noprefixroute\n", gw, d->host);
		fprintf(f, "addr add %s/32 dev %s\n", ns->edge_str, d->host);
		fprintf(f, "link set %s up\n", d->host);
		fprintf(f, "route add %s/30 dev %s src %s\n", net, d->host, ns->edge_str);
	}
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Device k's part, run inside its namespace. */
static int device_setup(const struct fl_netns *ns, int k, char *err, size_t errlen)
{
	char batch[512], me[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	uint32_t b = ns->base + 4u * (uint32_t)k;
	snprintf(batch, sizeof(batch),
		 "link set lo up\nlink set eth0 addrgenmode none\naddr add %s/30 dev eth0\n"
		 "link set eth0 up\n"
		 "route add default via %s dev eth0\n", addr_str(b + 2, me), addr_str(b + 1, gw));
	return ip_must(ns->dev[k].name, batch, ns->dev[k].name, err, errlen);
}

/* Names, the home namespace, then every device made and opened. */
static int build(const struct fl_netns_config *c, struct fl_netns *ns, char *err, size_t errlen)
{
	int ret;
	for (int k = 0; k < ns->n; k++) {
		struct fl_dev *d = &ns->dev[k];
		snprintf(d->name, sizeof(d->name), "cfl%d-%d", (int)getpid(), k);
		snprintf(d->host, sizeof(d->host), "cfl%dh%d", (int)getpid(), k);
	}
	char *batch = home_batch(ns);
	if (!batch)
		return cf_fail(-ENOMEM, err, errlen, "netns: out of memory");
	ret = ip_must(NULL, batch, "making the namespaces and veths", err, errlen);
	free(batch);
	for (int k = 0; k < ns->n && !ret; k++) {
		struct fl_dev *d = &ns->dev[k];
		char path[64];
		ret = device_setup(ns, k, err, errlen);
		if (ret)
			break;
		snprintf(path, sizeof(path), "/var/run/netns/%s", d->name);
		d->fd = open(path, O_RDONLY | O_CLOEXEC);
		d->host_ifindex = (int)if_nametoindex(d->host);
		if (d->fd < 0 || !d->host_ifindex || (ret = open_device_nl(ns, k)) != 0)
			ret = cf_fail(ret ? ret : -errno, err, errlen, "netns: opening %s: %s",
				      d->name, strerror(ret ? -ret : errno));
	}
	for (int k = 0; k < ns->n && !ret; k++) {
		ret = fl_netns_set_rate(ns, k, FL_NETNS_UP, c->up_bps, err, errlen);
		if (!ret)
			ret = fl_netns_set_rate(ns, k, FL_NETNS_DOWN, c->down_bps, err, errlen);
	}
	return ret;
}

int fl_netns_create(const struct fl_netns_config *c, struct fl_netns **out, char *err,
		    size_t errlen)
{
	struct fl_netns *ns = NULL;
	int ret, idle = 0;

	*out = NULL;
	if (c->n_devices < 1 || c->n_devices > MAX_DEVICES)
		return cf_fail(-EINVAL, err, errlen, "netns: %d devices (1 .. %d)", c->n_devices,
			       MAX_DEVICES);
	ret = check_caps(err, errlen);
	if (ret)
		return ret;
	if (!atomic_compare_exchange_strong(&live_instance, &idle, 1))
		return cf_fail(-EBUSY, err, errlen, "netns: this process has devices made already");
	fl_netns_sweep(NULL, 0); /* a failure here shows again, named, below */
	ns = calloc(1, sizeof(*ns));
	if (!ns || !(ns->dev = calloc((size_t)c->n_devices, sizeof(*ns->dev)))) {
		free(ns);
		atomic_store(&live_instance, 0);
		return cf_fail(-ENOMEM, err, errlen, "netns: out of memory");
	}
	ns->n = c->n_devices;
	for (int k = 0; k < ns->n; k++)
		ns->dev[k].fd = -1;
	ns->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ns->home_nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (ns->home_fd < 0 || !ns->home_nl || mnl_socket_bind(ns->home_nl, 0,
							       MNL_SOCKET_AUTOPID) < 0)
		ret = cf_fail(-errno, err, errlen, "netns: the home namespace: %s",
			      strerror(errno));
	if (!ret)
		ret = parse_addrs(c, ns, err, errlen);
	if (!ret)
		ret = build(c, ns, err, errlen);
	if (ret) {
		fl_netns_free(ns);
		return ret;
	}
	*out = ns;
	return 0;
}

/* Every name of the instance, made or not: ip -force goes on past the ones
 * that are not there. The host ends first: deleting one removes its peer at
 * once, where deleting a namespace removes its veths later, in the kernel's
 * own time. */
int fl_netns_destroy(struct fl_netns *ns)
{
	char said[256], *text = NULL;
	size_t len = 0;
	int ret = 0;

	if (!ns || ns->destroyed)
		return 0;
	ns->destroyed = 1;
	for (int k = 0; k < ns->n; k++) {
		if (ns->dev[k].nl)
			mnl_socket_close(ns->dev[k].nl);
		if (ns->dev[k].fd >= 0)
			close(ns->dev[k].fd);
		ns->dev[k].nl = NULL;
		ns->dev[k].fd = -1;
	}
	if (ns->home_nl)
		mnl_socket_close(ns->home_nl);
	ns->home_nl = NULL;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	for (int k = 0; k < ns->n; k++)
		fprintf(f, "link del %s\n", ns->dev[k].host);
	for (int k = 0; k < ns->n; k++)
		fprintf(f, "netns del %s\n", ns->dev[k].name);
	if (fclose(f) == 0 && ns->dev[0].name[0])
		ret = run_ip(NULL, 1, text, said, sizeof(said));
	free(text);
	if (ns->home_fd >= 0)
		close(ns->home_fd);
	ns->home_fd = -1;
	atomic_store(&live_instance, 0);
	return ret < 0 ? ret : 0;
}

void fl_netns_free(struct fl_netns *ns)
{
	if (!ns)
		return;
	fl_netns_destroy(ns);
	free(ns->dev);
	free(ns);
}

/* pid alive (or not ours to signal, so alive) */
static int pid_alive(long pid)
{
	return pid == getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* "CMD NAME" into f when name is like fmt ("cfl%ld?%d%n") with a dead pid. */
static int sweep_one(FILE *f, const char *name, const char *fmt, const char *cmd)
{
	long pid;
	int k, end = 0;
	if (sscanf(name, fmt, &pid, &k, &end) != 2 || !end || name[end] || pid <= 0 ||
	    pid_alive(pid))
		return 0;
	fprintf(f, "%s %s\n", cmd, name);
	return 1;
}

/* The host ends are looked for in this thread's namespace (if_nameindex asks
 * the kernel: /sys/class/net shows the namespace sysfs was mounted in), the
 * namespaces under /var/run/netns. */
static int sweep_list(FILE *f)
{
	struct if_nameindex *links = if_nameindex();
	int count = 0;
	for (struct if_nameindex *l = links; l && l->if_index; l++)
		count += sweep_one(f, l->if_name, "cfl%ldh%d%n", "link del");
	if (links)
		if_freenameindex(links);
	DIR *dp = opendir("/var/run/netns");
	struct dirent *e;
	while (dp && (e = readdir(dp)))
		count += sweep_one(f, e->d_name, "cfl%ld-%d%n", "netns del");
	if (dp)
		closedir(dp);
	return count;
}

int fl_netns_sweep(char *err, size_t errlen)
{
	char said[256], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return cf_fail(-ENOMEM, err, errlen, "netns: out of memory");
	int count = sweep_list(f);
	int ret = fclose(f) ? -ENOMEM : 0;
	if (!ret && count)
		ret = run_ip(NULL, 1, text, said, sizeof(said));
	free(text);
	if (ret == -ENOENT)
		return cf_fail(-ENOENT, err, errlen, "--netns needs the `ip` program (Debian "
			       "package iproute2): not found on PATH");
	if (ret < 0)
		return cf_fail(ret, err, errlen, "netns: sweeping: %s", strerror(-ret));
	return count;
}
