/* Where the programs look for the bundled model and CIFAR-10 when the command
 * line does not say. The build's source root is a fallback compiled in here, so
 * this file is built into the programs (and tests) themselves, never into a
 * library: nothing a library does depends on where it was built. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/cli.h"

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
	static const char *const cands[] = {
		"../shared/data/cifar10", "data/cifar10",
		COINFER_SOURCE_ROOT "/../shared/data/cifar10", COINFER_SOURCE_ROOT "/data/cifar10",
	};
	return first_existing(cands, sizeof(cands) / sizeof(cands[0]), "/test_batch.bin");
}

const char *cli_default_model_path(void)
{
	const char *env = getenv("COINFER_MODEL");
	if (env && *env)
		return env;
	static const char *const cands[] = {
		"models/branchy-alexnet.cfm", COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm",
	};
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
	return COINFER_SOURCE_ROOT;
}

const char *cli_traces_default_dir(void)
{
	const char *env = getenv("COINFER_TRACES");
	if (env && *env)
		return env;
	return COINFER_SOURCE_ROOT "/../shared/data/traces";
}
