/* What a program runs on: the model its --model named, else the bundled one; the
 * CIFAR-10 directory its --data named, else the one found where the data lives. */
#include <errno.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "coinfer/model.h"

int cli_model_load(const char *path, struct cr_model **m, char *err, size_t errlen)
{
	*m = NULL;
	if (!path && !(path = cli_default_model_path()))
		return cf_fail(-ENOENT, err, errlen, "no model given and "
			       "models/branchy-alexnet.cfm not found; pass --model or set COINFER_MODEL");
	return cr_model_load(path, m, err, errlen);
}

int cli_data_dir(const char **dir, char *err, size_t errlen)
{
	if (!*dir && !(*dir = cli_cifar10_default_dir()))
		return cf_fail(-ENOENT, err, errlen,
				"CIFAR-10 not found: pass --data DIR (holding test_batch.bin), set "
				"COINFER_CIFAR10, or run scripts/fetch-cifar10.sh");
	return 0;
}
