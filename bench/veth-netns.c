/* Namespaces and veth pair of --veth (design in veth-netns.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "veth-netns.h"

/* cmd through /bin/sh in namespace fd (-1: ours); its exit status, -1 when it
 * could not run. Output goes to stderr (stdout is the JSON). */
static int sh_in(int fd, const char *cmd)
{
	fflush(NULL);
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		dup2(2, 1);
		if (fd >= 0 && setns(fd, CLONE_NEWNET))
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int ns_self(void)
{
	return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

/* A new namespace for this thread, its descriptor into *fd. */
static int ns_new(int *fd)
{
	if (unshare(CLONE_NEWNET))
		return -1;
	*fd = ns_self();
	return *fd < 0 ? -1 : 0;
}

/* A child that sits in namespace A, so that `ip link ... netns PID` can name A
 * (the namespaces have no names); killed once the pair is made. */
static pid_t holder(void)
{
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return p;
}

static int pair(struct ab_veth *v, char *err, size_t errlen)
{
	char cmd[512];
	pid_t h = -1;
	int ret = -1;
	if (ns_new(&v->fd_a) || (h = holder()) < 0 || ns_new(&v->fd_b)) {
		snprintf(err, errlen, "cannot make a network namespace: %s", strerror(errno));
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s netns %d && "
		 "ip addr add %s/24 dev %s && ip link set %s up && ip link set lo up",
		 v->if_b, v->if_a, (int)h, v->ip_b, v->if_b, v->if_b);
	if (sh_in(-1, cmd)) {
		snprintf(err, errlen, "cannot make the veth pair (%s)", cmd);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "ip link set %s up && ip link set lo up", v->if_a);
	if (sh_in(v->fd_a, cmd) || ab_veth_addr_a(v, 1)) {
		snprintf(err, errlen, "cannot set up %s in namespace A", v->if_a);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "ethtool -K %s tx off > /dev/null", v->if_b);
	if (sh_in(-1, cmd)) {
		snprintf(err, errlen, "cannot turn transmit checksum offload off on %s (%s)",
			 v->if_b, cmd);
		goto out;
	}
	ret = 0;
out:
	if (h > 0) {
		kill(h, SIGKILL);
		waitpid(h, NULL, 0);
	}
	return ret;
}

int ab_veth_make(struct ab_veth *v, char *err, size_t errlen)
{
	int pid = (int)getpid();
	memset(v, 0, sizeof(*v));
	v->fd_a = v->fd_b = -1;
	snprintf(v->if_a, sizeof(v->if_a), "cfva%d", pid);
	snprintf(v->if_b, sizeof(v->if_b), "cfvb%d", pid);
	/* any 10.X/24 is free: nothing else lives in these namespaces */
	snprintf(v->ip_a, sizeof(v->ip_a), "10.%d.0.2", 100 + pid % 100);
	snprintf(v->ip_b, sizeof(v->ip_b), "10.%d.0.1", 100 + pid % 100);
	if ((v->fd_home = ns_self()) < 0) {
		snprintf(err, errlen, "no /proc/thread-self/ns/net: %s", strerror(errno));
		return -1;
	}
	if (pair(v, err, errlen)) {
		ab_veth_close(v);
		return -1;
	}
	return 0;
}

int ab_veth_addr_a(struct ab_veth *v, int on)
{
	char cmd[256];
	if (on == v->addr_a)
		return 0;
	snprintf(cmd, sizeof(cmd), "ip addr %s %s/24 dev %s", on ? "add" : "del", v->ip_a, v->if_a);
	if (sh_in(v->fd_a, cmd))
		return -1;
	v->addr_a = on;
	snprintf(cmd, sizeof(cmd), "ip neigh flush dev %s", v->if_b);
	return sh_in(-1, cmd) ? -1 : 0;
}

int ab_veth_enter_a(const struct ab_veth *v)
{
	return setns(v->fd_a, CLONE_NEWNET);
}

void ab_veth_close(struct ab_veth *v)
{
	if (v->fd_home >= 0) {
		setns(v->fd_home, CLONE_NEWNET);
		close(v->fd_home);
	}
	if (v->fd_a >= 0)
		close(v->fd_a);
	if (v->fd_b >= 0)
		close(v->fd_b);
	v->fd_a = v->fd_b = v->fd_home = -1;
}
