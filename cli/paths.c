/* Where the programs look for the bundled model and CIFAR-10 when the command
 * line does not say. The build's source root is a fallback compiled in here, so
 * this file is built into the programs (and tests) themselves, never into a
 * library: nothing a library does depends on where it was built.
 *
 * A program run from its build tree (tests, the README's commands) takes the
 * source tree's files; once `meson install` has copied it elsewhere it takes the
 * installed ones (COINFER_DATADIR, e.g. /usr/share/coinfer), so a package works
 * whether or not a source tree lies around on the machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/cli.h"

/* Whether /proc/self/exe lies under the build tree this was compiled in. Without
 * /proc the answer is yes: the behaviour from before programs were installed. */
static int in_build_tree(void)
{
	static const char root[] = COINFER_BUILD_ROOT;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return 1;
	exe[n] = '\0';
	return !strncmp(exe, root, sizeof(root) - 1) && exe[sizeof(root) - 1] == '/';
}

/* The tree holding models/ and conf/devices: the source tree, or the installed copy. */
static const char *data_tree(void)
{
	return in_build_tree() ? COINFER_SOURCE_ROOT : COINFER_DATADIR;
}

static const char *first_existing(const char *const *cands, size_t n, const char *suffix)
{
	char buf[4096];
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s%s", cands[i], suffix);
		if (access(buf, R_OK) == 0)
			return cands[i];
	}
	return NULL;
}

const char *cli_cifar10_default_dir(void)
{
	const char *env = getenv("COINFER_CIFAR10");
	if (env && *env)
		return env;
	static const char *const built[] = {
		"../shared/data/cifar10", "data/cifar10",
		COINFER_SOURCE_ROOT "/../shared/data/cifar10", COINFER_SOURCE_ROOT "/data/cifar10",
	};
	/* not packaged (its licence and 30 MB): the administrator puts it here */
	static const char *const installed[] = {"data/cifar10", COINFER_STATEDIR "/cifar10"};
	if (in_build_tree())
		return first_existing(built, sizeof(built) / sizeof(built[0]), "/test_batch.bin");
	return first_existing(installed, sizeof(installed) / sizeof(installed[0]),
			      "/test_batch.bin");
}

const char *cli_default_model_path(void)
{
	static char tree_model[4096];
	const char *env = getenv("COINFER_MODEL");
	if (env && *env)
		return env;
	snprintf(tree_model, sizeof(tree_model), "%s/models/branchy-alexnet.cfm", data_tree());
	const char *const cands[] = {"models/branchy-alexnet.cfm", tree_model};
	return first_existing(cands, sizeof(cands) / sizeof(cands[0]), "");
}

const char *cli_source_root(void)
{
	return COINFER_SOURCE_ROOT;
}

const char *cli_default_root(void)
{
	struct stat st;
	if (!stat("conf/devices", &st) && S_ISDIR(st.st_mode))
		return ".";
	return data_tree();
}

const char *cli_traces_default_dir(void)
{
	const char *env = getenv("COINFER_TRACES");
	if (env && *env)
		return env;
	return in_build_tree() ? COINFER_SOURCE_ROOT "/../shared/data/traces"
			       : COINFER_STATEDIR "/traces";
}
