/* What the agents borrow from their caller for a fleet's network: the emulated
 * links of in-process shaping (ag_config.link_bps) and, for real shaping, each
 * agent's socket and edge address (open_socket, host_of).
 *
 * The emulated link: one FIFO link per agent and direction. A message ready at t
 * starts when the link is free (after the messages before it) and is carried
 * after its wire bytes at the rate the callback gives at its start: what tc's
 * rate limiter does to a socket's queue, without the kernel. The wire bytes
 * count what tc counts on a veth: each TCP segment's Ethernet, IPv4 and TCP
 * headers (timestamps on), each datagram's Ethernet, IPv4, UDP and fragment
 * headers. Ownership: a link is its agent's, touched by its thread alone. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/errmsg.h"
#include "internal.h"

#define TCP_MSS 1448
#define TCP_FRAME_OVERHEAD (14 + 20 + 32) /* Ethernet, IPv4, TCP with timestamps */
#define UDP_FRAME_OVERHEAD (14 + 20 + 8 + CW_DG_HEADER_BYTES)

double ag_wire_bytes(const struct ag_agent *a, size_t len)
{
	size_t per = a->dg ? CW_DG_DEFAULT_PAYLOAD : TCP_MSS;
	size_t frames = len ? (len + per - 1) / per : 1;
	return (double)len + (double)frames * (a->dg ? UDP_FRAME_OVERHEAD : TCP_FRAME_OVERHEAD);
}

/* The link's rate at t (ns on the fleet's clock); 0: not shaped. */
static double link_rate(const struct ag_agent *a, int dir, uint64_t t)
{
	const struct ag_fleet *f = a->th->f;
	if (!f->cfg.link_bps)
		return 0;
	double bps = f->cfg.link_bps(f->cfg.link_ctx, a->idx, dir,
				     (double)(t > f->t0 ? t - f->t0 : 0) / 1e9);
	return bps > 0 ? bps : 0;
}

uint64_t ag_link_carry(struct ag_agent *a, int dir, size_t len, uint64_t now, double *bps)
{
	uint64_t start = a->link_free[dir] > now ? a->link_free[dir] : now;
	double r = link_rate(a, dir, start);
	*bps = r;
	if (!(r > 0))
		return now;
	double ns = ag_wire_bytes(a, len) * 8 / r * 1e9;
	a->link_free[dir] = start + (ns < 3.6e12 ? (uint64_t)ns : 3600000000000ull);
	return a->link_free[dir];
}

double ag_link_ser_us(const struct ag_agent *a, int dir, size_t len, uint64_t now)
{
	double r = link_rate(a, dir, now);
	return r > 0 ? ag_wire_bytes(a, len) * 8 / r * 1e6 : 0;
}

int ag_socket(struct ag_agent *a, int type)
{
	const struct ag_fleet *f = a->th->f;
	int domain = a->addr.ss_family;
	if (!f->cfg.open_socket) {
		int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	int fd = f->cfg.open_socket(f->cfg.net_ctx, a->idx, domain, type, 0);
	if (fd < 0)
		return fd;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ag_resolve(const char *host, int port, int type, struct sockaddr_storage *addr,
	       socklen_t *addrlen, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type}, *res = NULL;
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	int r = getaddrinfo(host, p, &hints, &res);
	if (r || !res)
		return cf_fail(-EINVAL, err, errlen, "edge address %s:%d: %s", host, port,
			       r ? gai_strerror(r) : "no address");
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int ag_agent_addresses(struct ag_fleet *f, char *err, size_t errlen)
{
	int type = f->cfg.transport == AG_TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	for (int t = 0; t < f->nth; t++)
		for (int i = 0; i < f->th[t].n; i++) {
			struct ag_agent *a = &f->th[t].agents[i];
			const char *h =
				f->cfg.host_of ? f->cfg.host_of(f->cfg.net_ctx, a->idx) : NULL;
			if (!h) {
				a->addr = f->addr;
				a->addrlen = f->addrlen;
				continue;
			}
			int ret = ag_resolve(h, f->cfg.port, type, &a->addr, &a->addrlen, err,
					     errlen);
			if (ret)
				return ret;
		}
	return 0;
}
