/* Two network namespaces joined by a veth pair, for coinfer-bench-appliance
 * --veth: the appliance runs in A, the load generator in B.
 *
 * The namespaces have no names: this process makes them with unshare(2) and
 * keeps each alive by an open descriptor of it, so they (and the veth pair in
 * them) vanish when the process ends, however it ends: nothing is left to clean
 * up, not even after SIGKILL. The calling thread ends in B (sockets it makes
 * are B's); a child enters A with ab_veth_enter_a before it execs. */
#ifndef COINFER_BENCH_VETH_NETNS_H
#define COINFER_BENCH_VETH_NETNS_H

#include <stddef.h>

struct ab_veth {
	int fd_a, fd_b, fd_home;  /* the namespaces; home: ours at start */
	char if_a[16], if_b[16];  /* the veth ends, named with our pid */
	char ip_a[16], ip_b[16];  /* 10.X.0.2 (the appliance's), 10.X.0.1 */
	int addr_a;               /* whether A's end has its IPv4 address in the kernel */
};

/* Makes both namespaces and the pair, addresses on both ends, transmit
 * checksum offload off on B's end (so that a packet reader on A's end, the
 * DPDK af_packet PMD, sees whole checksums; the same for every transport), and
 * leaves the calling thread in B. -1 with err set when this environment
 * cannot (not root, no `ip`, no veth): the bench then exits 77. */
int ab_veth_make(struct ab_veth *v, char *err, size_t errlen);
/* A's end with (1) or without (0) its kernel IPv4 address: without it for a
 * DPDK port that answers ARP itself; B's neighbour cache is flushed. */
int ab_veth_addr_a(struct ab_veth *v, int on);
/* In a child before exec: into namespace A. 0 or -1. */
int ab_veth_enter_a(const struct ab_veth *v);
/* Back home and the descriptors closed: the namespaces go with their last user. */
void ab_veth_close(struct ab_veth *v);

#endif
