/* Real shaping for coinfer-fleet --netns: each emulated device in a network
 * namespace of its own behind a veth pair, its uplink and downlink each a tbf
 * qdisc whose rate follows the device's bandwidth trace.
 *
 * Device k (0 <= k < n): namespace cfl<pid>-<k>; the veth end eth0 in it with
 * the /30's second address; the host end cfl<pid>h<k> in the namespace the
 * tool runs in (its "home", where fl_netns_create was called) with the /30's
 * first address, the device's default gateway. The k-th /30 of the block is
 * the device's. The edge address (default 10.213.255.1) is put, as a /32, on
 * every host end: it is local to the home namespace, so an appliance there
 * listening on 0.0.0.0 (or on that address) is reached by every device, and it
 * leaves with the veths (nothing else to remove). The route to each device's
 * /30 names the edge address as its source, so even a UDP server bound to
 * 0.0.0.0 answers from the address the device connected to.
 *
 * Uplink (FL_NETNS_UP): tbf at the root of eth0 in the device's namespace;
 * downlink (FL_NETNS_DOWN): tbf at the root of the host end. Rates are changed
 * over rtnetlink (one socket per namespace, kept open): no process per change.
 *
 * Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (root), `ip` (iproute2) and the
 * kernel's tbf qdisc; without them fl_netns_create fails with -EPERM or
 * -ENOENT and says which. One live instance per process (names carry the pid).
 * Every function returns 0 (or an fd) on success and -errno on failure. */
#ifndef COINFER_FLEET_NETNS_H
#define COINFER_FLEET_NETNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum { FL_NETNS_UP = 0, FL_NETNS_DOWN = 1 };

/* tbf's floor: a trace step of 0 bit/s (an outage) shapes at this instead,
 * as tbf has no rate 0 */
#define FL_NETNS_MIN_BPS 8000.0

struct fl_netns_config {
	int n_devices;       /* 1 .. 4096 */
	const char *block;   /* the devices' /30s: "10.213.0.0/16" (default) */
	const char *edge;    /* the edge address: "10.213.255.1" (default), outside the /30s used */
	double up_bps;       /* the first rates, before any step (default 100 Mbit/s) */
	double down_bps;
};

struct fl_netns;

void fl_netns_config_defaults(struct fl_netns_config *c);

/* Sweeps what crashed runs left (fl_netns_sweep), then makes every device.
 * On failure nothing of this call is left behind. */
int fl_netns_create(const struct fl_netns_config *c, struct fl_netns **out, char *err,
		    size_t errlen);

/* Device k's tbf in direction dir at bps bit/s (clamped to FL_NETNS_MIN_BPS). */
int fl_netns_set_rate(struct fl_netns *ns, int k, int dir, double bps, char *err,
		      size_t errlen);

/* The rate (bit/s) of device k in direction dir at t_s: the same shape as
 * struct ag_config's link_bps, so one trace function serves both shapings. */
typedef double (*fl_netns_rate_fn)(void *ctx, int device, int dir, double t_s);

/* Every device's two rates at t_s from fn: the changed ones only, batched per
 * namespace over rtnetlink (the host ends' downlinks in one message batch). */
int fl_netns_step(struct fl_netns *ns, double t_s, fl_netns_rate_fn fn, void *ctx,
		  char *err, size_t errlen);

/* A socket made inside device k's namespace (socket(2)'s arguments): the
 * calling thread enters the namespace, makes it and returns home; other
 * threads are not affected. The fd, or -errno (errno set too). */
int fl_netns_socket(struct fl_netns *ns, int k, int domain, int type, int protocol);

/* The edge address as text, the one every device connects to. */
const char *fl_netns_edge(const struct fl_netns *ns);
/* Device k's namespace name and its address (as seen by the edge). */
const char *fl_netns_name(const struct fl_netns *ns, int k);
struct in_addr fl_netns_device_addr(const struct fl_netns *ns, int k);
int fl_netns_count(const struct fl_netns *ns);

/* The tbf burst (bytes) and queue limit (bytes) used at a rate: netns.c says why. */
void fl_netns_tbf_params(double bps, uint32_t *burst, uint32_t *limit);

/* The agent library's hooks (struct ag_config's open_socket and host_of, with
 * net_ctx pointing at a slice): agent i of a fleet is device first + i. */
struct fl_netns_slice {
	struct fl_netns *ns;
	int first;
};
int fl_netns_open_socket(void *slice, int agent, int domain, int type, int protocol);
const char *fl_netns_host_of(void *slice, int agent);

/* Removes every namespace and veth this instance made (all n names are tried,
 * so a partial create is cleaned too) and closes its fds. Idempotent: a second
 * call does nothing, so both a signal path and the normal exit may call it.
 * Call it from the home namespace (the thread that created). */
int fl_netns_destroy(struct fl_netns *ns);
/* Destroys if not yet done, then frees. NULL is fine. */
void fl_netns_free(struct fl_netns *ns);

/* Removes cfl<pid>-<k> namespaces and cfl<pid>h<k> veths whose pid is no
 * longer alive (a crashed run). The number of objects removed, or -errno. */
int fl_netns_sweep(char *err, size_t errlen);

#endif
