/* The model a program runs: the one its --model named, else the bundled one. */
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
