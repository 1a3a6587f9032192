/* The DPDK port layer against the Linux network stack, in a network namespace
 * of the test's own (unshare: it and everything in it vanish when the test
 * exits, whatever happens). A kernel UDP socket sends datagrams to the port's
 * address; the kernel resolves it with ARP (answered by dpdk.c), the port
 * echoes every datagram, and the socket must read each one back, from the
 * port's address and UDP port, with the kernel having verified our checksums.
 *
 *   test-dpdk-netns af_packet   net_af_packet on one end of a veth pair, the
 *                               socket on the other (software checksums)
 *   test-dpdk-netns tap         net_tap, the socket on its kernel side (the
 *                               port's checksum offloads, done by the PMD)
 *
 * Exits 77 with the reason when namespaces, `ip`, the device or the EAL are
 * not available. Waits are bounded by counts of polls, never by time. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dpdk.h"

#define CHECK(c, ...)                                                                      \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "test-dpdk-netns:%d: %s: ", __LINE__, #c);          \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define UDP_PORT 7879
#define MAX_POLLS 200000 /* idle polls, 50 us apart, before giving up */

static int skip(const char *why)
{
	printf("test-dpdk-netns: skipped: %s\n", why);
	return 77;
}

/* Transmit checksum offload off on a veth end: the frames the kernel sends
 * through it then carry complete checksums, which an AF_PACKET reader (the
 * PMD passes no checksum status on) can verify. */
static int tx_csum_off(const char *ifname)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int ret = fd < 0 ? -1 : ioctl(fd, SIOCETHTOOL, &ifr);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int sh(const char *cmd)
{
	int ret = system(cmd);
	return ret == -1 || !WIFEXITED(ret) ? -1 : WEXITSTATUS(ret);
}

static void fill(char *big, size_t n)
{
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = 0;
}

/* Polls the port (echoing what it hands up) and the socket until every
 * datagram came back. */
static int exchange(struct ap_dpdk *dev, int fd, const char **sent, int nsent)
{
	struct ap_dpdk_queue *q = ap_dpdk_queue(dev, 0);
	struct ap_dpdk_dgram dg[AP_DPDK_BURST];
	static char buf[2048];
	int back = 0, idle = 0;
	while (back < nsent && idle < MAX_POLLS) {
		int nd = ap_dpdk_rx(q, dg, AP_DPDK_BURST);
		for (int i = 0; i < nd; i++)
			CHECK(ap_dpdk_tx_prepare(q, &dg[i].peer, dg[i].payload, dg[i].len) == 0, "echo");
		ap_dpdk_release(q, dg, nd);
		ap_dpdk_tx_flush(q);
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n >= 0) {
			size_t want = strlen(sent[back]);
			CHECK((size_t)n == want && !memcmp(buf, sent[back], want),
			      "echo %d: %zd bytes", back, n);
			CHECK(ntohs(from.sin_port) == UDP_PORT, "echo from port %u", ntohs(from.sin_port));
			back++;
		}
		if (nd || n >= 0) {
			idle = 0;
			continue;
		}
		idle++;
		nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
	}
	return back;
}

/* The namespace and the kernel's end: veth, or the tap the PMD made. */
static int kernel_side(int tap, char *why, size_t len)
{
	if (tap) {
		if (!sh("ip addr add 10.98.0.2/24 dev cfdtap0 && ip link set cfdtap0 up"))
			return 0;
		snprintf(why, len, "cannot configure cfdtap0");
		return -1;
	}
	if (sh("ip link add cfdp0 type veth peer name cfdp1 && ip addr add 10.99.0.2/24 dev cfdp1 "
	       "&& ip link set cfdp0 up && ip link set cfdp1 up")) {
		snprintf(why, len, "cannot make a veth pair");
		return -1;
	}
	if (tx_csum_off("cfdp1")) {
		snprintf(why, len, "cannot turn transmit checksum offload off on cfdp1: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int run(int tap)
{
	char args[256], err[512];
	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry "
		 "--log-level=error --file-prefix=cf-dpdk-netns-%d", (int)getpid());
	if (!tap && kernel_side(0, err, sizeof(err)))
		return skip(err);
	const char *vdev = tap ? "net_tap0,iface=cfdtap0" : "net_af_packet0,iface=cfdp0";
	if (ap_dpdk_eal_init(args, vdev, err, sizeof(err)))
		return skip(err);
	if (tap && kernel_side(1, err, sizeof(err)))
		return skip(err);
	uint32_t ip = tap ? 0x0a620001u : 0x0a630001u;
	struct ap_dpdk_config c = {.port = tap ? "net_tap0" : "net_af_packet0", .ip = ip,
				   .udp_port = UDP_PORT, .queues = 1, .mbufs = 4096};
	struct ap_dpdk *dev;
	CHECK(ap_dpdk_open(&c, &dev, err, sizeof(err)) == 0, "%s", err);
	unsigned off = ap_dpdk_offloads(dev);
	printf("%s: offloads rx %s, tx %s; max payload %zu; mbufs in use at start %d\n", c.port,
	       off & AP_DPDK_RX_CSUM ? "checksums" : "none",
	       off & AP_DPDK_TX_CSUM ? "checksums" : "none",
	       ap_dpdk_max_payload(dev), ap_dpdk_mbufs_in_use(dev));
	int start_in_use = ap_dpdk_mbufs_in_use(dev);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT),
				 .sin_addr.s_addr = htonl(ip)};
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	static char mid[1001], big[1473];
	fill(mid, 1000);
	fill(big, ap_dpdk_max_payload(dev) < 1472 ? ap_dpdk_max_payload(dev) : 1472);
	const char *sent[] = {"1", "an odd-length datagram", "", mid, big};
	int nsent = 5;
	/* the first waits in the kernel for ARP: our answer is what lets it out */
	for (int i = 0; i < nsent; i++)
		CHECK(sendto(fd, sent[i], strlen(sent[i]), 0, (struct sockaddr *)&to, sizeof(to)) ==
		      (ssize_t)strlen(sent[i]), "sendto %d: %s", i, strerror(errno));
	int back = exchange(dev, fd, sent, nsent);
	struct ap_dpdk_stats s;
	ap_dpdk_stats(dev, -1, &s);
	printf("%s: %d of %d datagrams echoed; rx %llu frames (%llu udp, %llu ARP requests "
	       "answered, %llu not ours, %llu bad checksums); tx %llu frames, %llu dropped\n",
	       c.port, back, nsent, (unsigned long long)s.rx_frames,
	       (unsigned long long)s.kinds[AP_PKT_UDP], (unsigned long long)s.arp_replies,
	       (unsigned long long)s.kinds[AP_PKT_NOT_OURS],
	       (unsigned long long)s.kinds[AP_PKT_BAD_CSUM],
	       (unsigned long long)s.tx_frames, (unsigned long long)s.tx_dropped);
	CHECK(back == nsent, "%d of %d datagrams came back", back, nsent);
	CHECK(s.arp_replies >= 1, "the kernel's ARP request not answered");
	CHECK(s.kinds[AP_PKT_BAD_CSUM] == 0, "checksums refused");
	close(fd);
	int end_in_use = ap_dpdk_stop(dev);
	printf("%s: mbufs in use after stop %d (at start %d)\n", c.port, end_in_use, start_in_use);
	CHECK(end_in_use == 0, "%d mbufs still in use", end_in_use);
	ap_dpdk_destroy(dev);
	ap_dpdk_eal_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "af_packet") && strcmp(argv[1], "tap"))) {
		fprintf(stderr, "usage: test-dpdk-netns af_packet|tap\n");
		return 2;
	}
	int tap = !strcmp(argv[1], "tap");
	if (tap && access("/dev/net/tun", R_OK | W_OK))
		return skip("no /dev/net/tun");
	if (sh("ip -V >/dev/null 2>&1"))
		return skip("no ip command (iproute2)");
	if (unshare(CLONE_NEWNET)) {
		char why[128];
		snprintf(why, sizeof(why), "no network namespace: unshare: %s", strerror(errno));
		return skip(why);
	}
	if (sh("ip link set lo up"))
		return skip("cannot configure the namespace");
	return run(tap);
}
