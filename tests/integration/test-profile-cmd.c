/* `coinfer-agent profile` and `coinfer-appliance profile` end to end: the files
 * they write load with the cost model's reader, list the model's layers with
 * positive times at the batch sizes asked for (batch 1 alone by default on the
 * device), and a full device profile passes the model check. Bad options exit 2
 * naming the option. usage: test-profile-cmd AGENT APPLIANCE. Skips (77) without
 * CIFAR-10. */
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coinfer/cli.h"
#include "coinfer/dataset.h"
#include "coinfer/kernels.h"
#include "coinfer/cost.h"

static char dir[] = "/tmp/coinfer-profile-cmd-XXXXXX";
static char err[512];

/* Runs EXE profile ARGS --out DIR/NAME; its exit status. */
static int run(const char *exe, const char *args, const char *name)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s' profile %s --out '%s/%s' 2>'%s/%s.err'", exe, args, dir,
		 name, dir, name);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_has(const char *name, const char *needle)
{
	char path[600], line[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* DIR/NAME loads (against m when given) and holds exits 1..n_exits of the model
 * with every time positive, at these batch sizes. */
static void check(const char *name, const struct cr_model *m, int check_model, int n_exits,
		  const int *batches, int nb, const char *cls)
{
	char path[600];
	struct cost_profile *p = malloc(sizeof(*p));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int r = cost_profile_load(path, check_model ? m : NULL, p, err, sizeof(err));
	TH_CHECK(r == 0, "%s: %s", name, err);
	if (r)
		goto out;
	TH_CHECK(!strcmp(p->device_class, cls), "%s: class %s, expected %s", name, p->device_class, cls);
	TH_CHECK(p->model_checksum == m->checksum && p->source == COST_SOURCE_MEASURED,
		 "%s: checksum or source", name);
	TH_CHECK(p->n_batches == nb, "%s: %d batch sizes, expected %d", name, p->n_batches, nb);
	for (int b = 0; b < nb && b < p->n_batches; b++)
		TH_CHECK(p->batches[b] == batches[b], "%s: batch %d is %d", name, b, p->batches[b]);
	TH_CHECK(p->n_exits == n_exits, "%s: %d exits, expected %d", name, p->n_exits, n_exits);
	for (int e = 0; e < p->n_exits && e < n_exits; e++) {
		TH_CHECK(p->exits[e].n_layers == m->exit_len[e], "%s: exit %d has %d layers, the model %d",
			 name, e + 1, p->exits[e].n_layers, m->exit_len[e]);
		for (int i = 0; i < p->exits[e].n_layers; i++) {
			const struct cost_profile_layer *L = &p->exits[e].layers[i];
			TH_CHECK(!strcmp(L->name, cr_model_exit_layer(m, e, i)->name), "%s: layer %s", name,
				 L->name);
			for (int b = 0; b < p->n_batches; b++)
				TH_CHECK(L->mean_ms[b] > 0 && L->p95_ms[b] > 0,
					 "%s: exit %d %s batch %d: mean %g p95 %g", name, e + 1, L->name,
					 p->batches[b], L->mean_ms[b], L->p95_ms[b]);
		}
	}
out:
	free(p);
}

static void remove_dir(void)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test-profile-cmd AGENT APPLIANCE\n");
		return 2;
	}
	const char *agent = argv[1], *appliance = argv[2];
	const char *model = cli_default_model_path();
	struct cr_model *m = NULL;
	if (!cli_cifar10_default_dir()) {
		printf("CIFAR-10 not found: skipping\n");
		return 77;
	}
	if (!model || cr_model_load(model, &m, err, sizeof(err))) {
		fprintf(stderr, "no model: %s\n", model ? err : "models/branchy-alexnet.cfm not found");
		return 1;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char cls[COST_NAME_LEN];
	snprintf(cls, sizeof(cls), "local-%s", ck_kernels()->name);
	static const int b1[] = {1}, b12[] = {1, 2};

	int st = run(agent, "--runs 50 --warmup 1 --exit 1", "agent-e1.json");
	if (st == 1 && file_has("agent-e1.json.err", "CIFAR-10")) {
		/* $COINFER_CIFAR10 names a directory without it */
		printf("CIFAR-10 not readable: skipping\n");
		remove_dir();
		cr_model_free(m);
		return 77;
	}
	TH_CHECK(st == 0, "agent --exit 1: status %d", st);
	check("agent-e1.json", m, 0, 1, b1, 1, cls);
	TH_CHECK(run(agent, "--runs 50 --warmup 1 --class pi4-real", "agent.json") == 0, "agent");
	check("agent.json", m, 1, m->n_exits, b1, 1, "pi4-real");
	TH_CHECK(file_has("agent.json.err", "profiled in"), "the agent's summary on stderr");
	TH_CHECK(run(appliance, "--runs 50 --warmup 1 --batches 1,2 --exit 1 --device-class edge-t",
		     "app-e1.json") == 0, "appliance --exit 1");
	check("app-e1.json", m, 0, 1, b12, 2, "edge-t");

	TH_CHECK(run(agent, "--runs 10", "bad.json") == 2, "--runs 10 accepted");
	TH_CHECK(file_has("bad.json.err", "--runs needs an integer in [50, 100000]"), "--runs message");
	TH_CHECK(run(appliance, "--batches 4,2", "bad2.json") == 1, "--batches 4,2 accepted");
	TH_CHECK(file_has("bad2.json.err", "batch sizes must ascend"), "--batches message");
	char path[600];
	snprintf(path, sizeof(path), "%s/bad2.json", dir);
	TH_CHECK(access(path, F_OK) != 0, "a failed run left %s", path);

	remove_dir();
	cr_model_free(m);
	return th_finish("profile-cmd");
}
