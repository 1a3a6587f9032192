/* test-hostile's view of the appliance from outside: coinfer-appliance as a
 * child process (its port from its start-up line), its /proc entries (CPU time,
 * per-thread CPU for diagnostics) and its GET /metrics gauges over loopback.
 * Functions return 0 or -errno; every wait is bounded. */
#ifndef COINFER_TEST_HOSTILE_PROC_H
#define COINFER_TEST_HOSTILE_PROC_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/clock.h"

struct hp_app {
	pid_t pid;
	int port, metrics_port;
	int out;        /* read end of its stdout */
	char line[2048]; /* its last line */
};

static inline void hp_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Reads the child's stdout until a whole line holding want, for up to
 * timeout_ms or until it exits. */
static int hp_read_line(struct hp_app *a, const char *want, int timeout_ms)
{
	size_t len = 0;
	double end = cf_now_s() + timeout_ms / 1000.0;
	a->line[0] = 0;
	while (cf_now_s() < end && len < sizeof(a->line) - 1) {
		struct pollfd p = {.fd = a->out, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(a->out, a->line + len, sizeof(a->line) - 1 - len);
		if (k <= 0)
			return -EPIPE;
		len += (size_t)k;
		a->line[len] = 0;
		char *nl;
		while ((nl = strchr(a->line, '\n'))) {
			if (strstr(a->line, want) && strstr(a->line, want) < nl) {
				*nl = 0;
				return 0;
			}
			len -= (size_t)(nl + 1 - a->line);
			memmove(a->line, nl + 1, len + 1);
		}
	}
	return -ETIMEDOUT;
}

/* The child: killed with its parent (a test that dies must not leave a
 * spinning appliance behind on a shared host), stdout to the pipe. */
static void hp_exec(const char *exe, int out, const char *p, const char *idle, pid_t parent)
{
	/* only async-signal-safe calls here: the parent has other threads */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	dup2(out, STDOUT_FILENO);
	close(out);
	execl(exe, "coinfer-appliance", "--host", "127.0.0.1", "--port", p, "--workers", "2",
	      "--calibrate-runs", "1", "--idle-timeout-ms", idle, "--metrics-host", "127.0.0.1",
	      "--metrics-port", "0", (char *)NULL);
	_exit(127);
}

/* Starts exe on 127.0.0.1:port (0: any) and waits for its "listening" line. */
static int hp_app_start(struct hp_app *a, const char *exe, int port, int idle_ms)
{
	int fd[2], ret;
	char p_arg[16], idle_arg[16];
	snprintf(p_arg, sizeof(p_arg), "%d", port);
	snprintf(idle_arg, sizeof(idle_arg), "%d", idle_ms);
	memset(a, 0, sizeof(*a));
	a->out = -1;
	if (pipe2(fd, O_CLOEXEC))
		return -errno;
	pid_t parent = getpid();
	a->pid = fork();
	if (a->pid < 0) {
		ret = -errno;
		close(fd[0]), close(fd[1]);
		return ret;
	}
	if (a->pid == 0)
		hp_exec(exe, fd[1], p_arg, idle_arg, parent);
	close(fd[1]);
	a->out = fd[0];
	/* calibration and the model load come first: generous on a loaded host */
	if ((ret = hp_read_line(a, "\"listening\"", 60000)))
		goto fail;
	const char *p = strstr(a->line, "\"port\": "), *m = strstr(a->line, "\"metrics\": \"http://");
	if (!p || !m || sscanf(p, "\"port\": %d", &a->port) != 1 ||
	    sscanf(strchr(m + 20, ':') + 1, "%d", &a->metrics_port) != 1) {
		ret = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	kill(a->pid, SIGKILL);
	waitpid(a->pid, NULL, 0);
	close(a->out);
	a->pid = 0;
	return ret;
}

/* SIGTERM, then waits up to limit_ms for the exit (its status in *status, the
 * time taken in *took_ms). Past the limit: SIGKILL and -ETIMEDOUT. */
static int hp_app_stop(struct hp_app *a, int limit_ms, int *status, double *took_ms)
{
	int ret = -ETIMEDOUT;
	double t0 = cf_now_s();
	*status = -1;
	kill(a->pid, SIGTERM);
	for (int i = 0; i < limit_ms / 5 + 1; i++) {
		if (waitpid(a->pid, status, WNOHANG) == a->pid) {
			ret = 0;
			break;
		}
		if (cf_now_s() - t0 > limit_ms / 1000.0)
			break;
		hp_sleep_ms(5);
	}
	*took_ms = (cf_now_s() - t0) * 1000;
	if (ret) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, status, 0);
	} else {
		hp_read_line(a, "\"stopped\"", 1000); /* its counters, for the log */
	}
	close(a->out);
	a->pid = 0;
	return ret;
}

/* utime + stime of pid, in clock ticks (fields 14 and 15 of /proc/PID/stat,
 * counted after the command name, which may hold spaces). */
static long long hp_cpu_ticks(const char *stat_path)
{
	char buf[1024];
	unsigned long long ut, st;
	FILE *f = fopen(stat_path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static inline long long hp_app_ticks(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return hp_cpu_ticks(path);
}

/* "name/tid:ticks:state:wchan ..." of the threads of pid: which ones spin,
 * which ones sleep and where. */
static void hp_thread_cpu(pid_t pid, char *out, size_t cap)
{
	char path[320], comm[64];
	size_t len = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	out[0] = 0;
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) && len + 160 < cap;) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f || !fgets(comm, sizeof(comm), f))
			snprintf(comm, sizeof(comm), "?");
		if (f)
			fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		char state = '?', wchan[64] = "?";
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		long long ticks = hp_cpu_ticks(path);
		if ((f = fopen(path, "r"))) {
			char st[512];
			size_t k = fread(st, 1, sizeof(st) - 1, f);
			st[k] = 0;
			char *p = strrchr(st, ')');
			state = p && p[1] ? p[2] : '?';
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", (int)pid, e->d_name);
		if ((f = fopen(path, "r"))) {
			if (!fgets(wchan, sizeof(wchan), f))
				snprintf(wchan, sizeof(wchan), "?");
			fclose(f);
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%s/%s:%lld:%c:%s", len ? " " : "",
					comm, e->d_name, ticks, state, wchan);
	}
	closedir(d);
}

/* GET /metrics from 127.0.0.1:port into buf (NUL-terminated body). */
static int hp_scrape(int port, char *buf, size_t cap)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret = 0;
	size_t len = 0;
	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		ret = -errno;
		goto out;
	}
	for (int i = 0; i < 1000 && len < cap - 1; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) != 1) {
			ret = -ETIMEDOUT;
			goto out;
		}
		ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
		if (k < 0) {
			ret = -errno;
			goto out;
		}
		if (!k)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 200", 12) || !body) {
		ret = -EPROTO;
		goto out;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
out:
	close(fd);
	return ret;
}

/* The value of sample coinfer_appliance_<name>; -1 when absent. */
static double hp_sample(const char *body, const char *name)
{
	char full[128];
	int n = snprintf(full, sizeof(full), "coinfer_appliance_%s ", name);
	const char *l = body;
	for (int i = 0; l && *l && i < 100000; i++) {
		if (!strncmp(l, full, (size_t)n))
			return strtod(l + n, NULL);
		l = strchr(l, '\n');
		l = l ? l + 1 : NULL;
	}
	return -1;
}

/* The gauges a leak would move, and the answer counters. */
struct hp_gauges {
	double fds, rss, je, connected, results, errors, accepted;
};

static int hp_gauges(int port, struct hp_gauges *g)
{
	static __thread char page[1 << 16];
	int ret = hp_scrape(port, page, sizeof(page));
	if (ret)
		return ret;
	g->fds = hp_sample(page, "process_open_fds");
	g->rss = hp_sample(page, "process_resident_memory_bytes");
	g->je = hp_sample(page, "jemalloc_allocated_bytes");
	g->connected = hp_sample(page, "connected_devices");
	g->results = hp_sample(page, "results_total");
	g->errors = hp_sample(page, "errors_total");
	g->accepted = hp_sample(page, "connections_accepted_total");
	return g->fds < 0 || g->rss < 0 || g->je < 0 ? -ENODATA : 0;
}

#endif
