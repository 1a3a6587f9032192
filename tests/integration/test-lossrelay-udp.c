/* coinfer-lossrelay between a client and a UDP echo on loopback, at 30% drop with
 * duplicates and reorders both ways: every datagram the echo and the client get
 * is one that was sent, the relay's counts add up exactly (what reached each end
 * is what the relay saw, less its drops, plus its duplicates), and its drops run
 * at the asked rate. Counts only: no timing is asserted (waiting for the last
 * datagram uses a quiet period, which only bounds how long the test runs).
 *
 * usage: test-lossrelay-udp RELAY_EXE */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Bursts small enough that no socket buffer on the way (a few hundred small
 * datagrams each) can overflow even when the relay is not scheduled for a
 * while: the kernel must drop nothing, so that every loss is the relay's. */
#define N 5000
#define BURST 32
#define BURST_QUIET_MS 10
#define QUIET_MS 500

static int udp_socket(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), big = 8 << 20;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		perror("udp socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port nobody holds now (the relay binds it right after). */
static int free_port(void)
{
	int port, fd = udp_socket(&port);
	close(fd);
	return port;
}

struct echo {
	int fd;
	long got;
	volatile int stop;
};

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	uint8_t b[2048];
	while (!e->stop) {
		struct pollfd p = {e->fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(e->fd, b, sizeof(b), 0, (struct sockaddr *)&from, &len);
		if (n <= 0)
			continue;
		e->got++;
		sendto(e->fd, b, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
	return NULL;
}

/* Starts the relay and waits for its "relaying" line, so that no datagram is
 * sent before it listens. */
static pid_t start_relay(const char *exe, int listen_port, int up_port, int *out_fd)
{
	char listen[64], up[64], line[256] = "";
	int out[2], err[2];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", listen_port);
	snprintf(up, sizeof(up), "127.0.0.1:%d", up_port);
	if (pipe(out) || pipe(err))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execl(exe, exe, "--listen", listen, "--upstream", up, "--faults",
		      "drop=0.3,dup=0.05,reorder=0.1,seed=11", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	FILE *f = fdopen(err[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || !strstr(line, "relaying")) {
		fprintf(stderr, "the relay did not start: %s\n", line);
		exit(1);
	}
	fclose(f); /* the relay writes nothing more there */
	*out_fd = out[0];
	return pid;
}

/* Receives on the client until QUIET_MS pass with nothing; counts per sequence. */
static long drain(int fd, uint8_t *times, int quiet_ms)
{
	long got = 0;
	uint32_t seq;
	struct pollfd p = {fd, POLLIN, 0};
	while (poll(&p, 1, quiet_ms) > 0) {
		ssize_t n = recv(fd, &seq, sizeof(seq), MSG_DONTWAIT);
		if (n != sizeof(seq))
			continue;
		TH_CHECK(seq < N, "datagram %u was never sent", seq);
		if (seq < N)
			times[seq]++;
		got++;
	}
	return got;
}

static double count(const cJSON *root, const char *dir, const char *what)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(root, dir), what);
	TH_CHECK(cJSON_IsNumber(v), "%s.%s missing", dir, what);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static cJSON *stop_relay(pid_t pid, int fd)
{
	char line[1024] = "";
	int st;
	kill(pid, SIGTERM);
	FILE *f = fdopen(fd, "r");
	if (!f || !fgets(line, sizeof(line), f))
		line[0] = 0;
	if (f)
		fclose(f);
	waitpid(pid, &st, 0);
	TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "relay exit status %d", st);
	printf("relay: %s", line);
	return cJSON_Parse(line);
}

int main(int argc, char **argv)
{
	static uint8_t times[N];
	int up_port, listen_port = free_port(), rfd, cport;
	struct echo e = {.fd = udp_socket(&up_port)};
	pthread_t th;
	if (argc < 2)
		return 2;
	pid_t pid = start_relay(argv[1], listen_port, up_port, &rfd);
	pthread_create(&th, NULL, echo_main, &e);
	int c = udp_socket(&cport);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	long got = 0;
	for (uint32_t seq = 0; seq < N; seq++) {
		sendto(c, &seq, sizeof(seq), 0, (struct sockaddr *)&to, sizeof(to));
		if (seq % BURST == BURST - 1)
			got += drain(c, times, BURST_QUIET_MS);
	}
	got += drain(c, times, QUIET_MS);
	e.stop = 1;
	pthread_join(th, NULL);
	cJSON *r = stop_relay(pid, rfd);
	TH_CHECK(r != NULL, "no JSON line from the relay");
	double up_seen = count(r, "to_upstream", "seen");
	double up_drop = count(r, "to_upstream", "dropped");
	double up_dup = count(r, "to_upstream", "duplicated");
	double dn_seen = count(r, "to_agents", "seen"), dn_drop = count(r, "to_agents", "dropped");
	double dn_dup = count(r, "to_agents", "duplicated");
	printf("client sent %d, echo got %ld, client got %ld\n", N, e.got, got);
	TH_CHECK(up_seen == N, "the relay saw %.0f of %d", up_seen, N);
	TH_CHECK(e.got == up_seen - up_drop + up_dup, "echo got %ld, relay passed %.0f", e.got,
		 up_seen - up_drop + up_dup);
	TH_CHECK(dn_seen == e.got, "relay saw %.0f replies of %ld", dn_seen, e.got);
	TH_CHECK(got == dn_seen - dn_drop + dn_dup, "client got %ld, relay passed %.0f", got,
		 dn_seen - dn_drop + dn_dup);
	double sd = sqrt(N * 0.3 * 0.7);
	TH_CHECK(fabs(up_drop - 0.3 * N) < 6 * sd, "dropped %.0f of %d at 30%%", up_drop, N);
	for (int i = 0; i < N; i++)
		TH_CHECK(times[i] <= 4, "datagram %d came back %d times", i, times[i]);
	cJSON_Delete(r);
	close(c);
	close(e.fd);
	return th_finish("lossrelay-udp");
}
