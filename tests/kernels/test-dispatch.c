/* Dispatch: table completeness, name round trips, and the COINFER_ISA override.
 * Each override is checked in a forked child, because the choice is made once
 * per process at the first ck_kernels() call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coinfer/kernels.h"
#include "harness.h"

static int complete(const struct ck_kernels *k)
{
	return k->name && k->conv_packed_floats && k->conv_pack && k->conv_workspace_bytes &&
	       k->conv_run && k->fc_packed_floats && k->fc_pack && k->fc_workspace_bytes &&
	       k->fc_run && k->attn_packed_floats && k->attn_pack && k->attn_workspace_bytes &&
	       k->attn_run && k->relu && k->add && k->maxpool && k->avgpool && k->lrn &&
	       k->softmax && k->softmax_entropy;
}

/* The best level ck_kernels_for offers: what ck_kernels() picks unforced. */
static enum ck_isa best(void)
{
	for (int i = CK_ISA_COUNT - 1; i > 0; i--)
		if (ck_kernels_for((enum ck_isa)i))
			return (enum ck_isa)i;
	return CK_ISA_SCALAR;
}

/* Run ck_kernels() in a child with COINFER_ISA=env (unset if NULL) and return the
 * ISA it chose, or -1 when the child failed. */
static int chosen_with(const char *env)
{
	int fd[2];
	if (pipe(fd))
		return -1;
	const pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fd[0]);
		if (env)
			setenv("COINFER_ISA", env, 1);
		else
			unsetenv("COINFER_ISA");
		const struct ck_kernels *k = ck_kernels();
		const int isa = k && k == ck_kernels() ? (int)k->isa : -1;
		_exit(write(fd[1], &isa, sizeof isa) == sizeof isa ? 0 : 1);
	}
	close(fd[1]);
	int isa = -1, status = 0;
	if (read(fd[0], &isa, sizeof isa) != sizeof isa)
		isa = -1;
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return isa;
}

int main(void)
{
	/* forked before this process calls ck_kernels(), so each child chooses
	 * afresh: no override picks the best, a present level is honoured,
	 * an absent or bogus one is refused in favour of the best */
	const int b = (int)best();
	int got = chosen_with(NULL);
	TH_CHECK(got == b, "unforced choice %d, best %d", got, b);
	got = chosen_with("");
	TH_CHECK(got == b, "empty COINFER_ISA chose %d, best %d", got, b);
	got = chosen_with("bogus");
	TH_CHECK(got == b, "COINFER_ISA=bogus chose %d, best %d", got, b);
	for (int i = 0; i < CK_ISA_COUNT; i++) {
		const int want = ck_kernels_for((enum ck_isa)i) ? i : b;
		got = chosen_with(ck_isa_name((enum ck_isa)i));
		TH_CHECK(got == want, "COINFER_ISA=%s chose %d, want %d",
			 ck_isa_name((enum ck_isa)i), got, want);
	}

	/* in this process the first ck_kernels() call happens after setenv */
	setenv("COINFER_ISA", "scalar", 1);
	const struct ck_kernels *k = ck_kernels();
	TH_CHECK(k != NULL, "ck_kernels() is NULL");
	TH_CHECK(k && k->isa == CK_ISA_SCALAR, "COINFER_ISA=scalar chose %s", k ? k->name : "-");
	TH_CHECK(ck_kernels() == k, "ck_kernels() changed between calls");

	for (int i = 0; i < CK_ISA_COUNT; i++) {
		enum ck_isa isa = (enum ck_isa) - 1;
		const char *name = ck_isa_name((enum ck_isa)i);
		TH_CHECK(ck_isa_parse(name, &isa) == 0 && isa == (enum ck_isa)i,
			 "parse(name(%d) = %s) gave %d", i, name, (int)isa);
		const struct ck_kernels *t = ck_kernels_for((enum ck_isa)i);
		if (t) {
			TH_CHECK(t->isa == (enum ck_isa)i, "table %d says isa %d", i, (int)t->isa);
			TH_CHECK(!strcmp(t->name, name), "table %d named %s", i, t->name);
			TH_CHECK(complete(t), "table %s has a NULL entry", name);
		}
		printf("%-7s %s\n", name, t ? "available" : "-");
	}
	TH_CHECK(ck_kernels_for(CK_ISA_SCALAR) != NULL, "scalar table missing");
	TH_CHECK(ck_kernels_for(CK_ISA_COUNT) == NULL, "out of range level has a table");
	TH_CHECK(ck_kernels_for((enum ck_isa) - 1) == NULL, "negative level has a table");
	TH_CHECK(!strcmp(ck_isa_name(CK_ISA_COUNT), "unknown"), "name of out of range level");
	enum ck_isa dummy = CK_ISA_SCALAR;
	TH_CHECK(ck_isa_parse("sse9", &dummy) == -EINVAL, "parse accepted sse9");
	TH_CHECK(ck_isa_parse("", &dummy) == -EINVAL, "parse accepted empty");
	TH_CHECK(ck_isa_parse(NULL, &dummy) == -EINVAL, "parse accepted NULL");
	TH_CHECK(ck_isa_parse("AVX2", &dummy) == -EINVAL, "parse is case-sensitive");

	return th_finish("kernel-dispatch");
}
