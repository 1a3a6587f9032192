/* Device classes for the cost model: the YAML file read by the configuration
 * reader (coinfer/devclass.h, which checks keys, types and ranges), then what
 * only the cost model knows (its built-in regressions, the class a scaled one
 * names), and the class's profile for a model. Native builds only (libcyaml),
 * in coinfer_cost_io with the JSON profiles. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/cost.h"
#include "coinfer/devclass.h"
#include "coinfer/errmsg.h"

_Static_assert(CFG_CLASS_NBITS == CF_ACTION_NBITS, "a codec speed per bits index");
_Static_assert(CFG_CLASS_NAME_LEN == COST_NAME_LEN, "class names fit both");

/* The plain data of the file into the cost model's class. */
static int from_config(const struct cfg_class *f, struct cost_device_class *d, char *err,
		       size_t errlen)
{
	static const enum cost_class_source src[] = {[CFG_CLASS_PROFILE] = COST_CLASS_FILE,
						     [CFG_CLASS_REGRESSION] = COST_CLASS_REGRESSION,
						     [CFG_CLASS_SCALE] = COST_CLASS_SCALE};
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", f->name);
	snprintf(d->role, sizeof(d->role), "%s", f->role);
	d->source = src[f->source];
	snprintf(d->profile_path, sizeof(d->profile_path), "%s", f->profile);
	snprintf(d->regression, sizeof(d->regression), "%s", f->regression);
	snprintf(d->scale_of, sizeof(d->scale_of), "%s", f->scale_of);
	d->scale_factor = f->scale_factor;
	if (f->source == CFG_CLASS_REGRESSION && !cost_regression_builtin(f->regression))
		return cf_fail(-EINVAL, err, errlen, "%s: '%s' is not a built-in model "
				      "(rpi3-edgent, pc-edgent, table2-mobile-column, "
				      "table2-server-column)", f->where_regression, f->regression);
	d->kappa = f->kappa, d->f_hz = f->f_hz;
	d->tx_power_w = f->tx_power_w, d->sinr_db = f->sinr_db;
	d->cycles_from_profile = f->cycles_from_profile;
	for (int t = 0; t < CFG_CLASS_NTYPES; t++) {
		enum cr_layer_type lt;
		if (cost_layer_type_parse(cfg_class_types[t], &lt))
			return cf_fail(-EINVAL, err, errlen, "layer type %s unknown to the cost "
					      "model", cfg_class_types[t]);
		d->cycles_per_flop[lt] = f->cycles_per_flop[t];
	}
	memcpy(d->codec.enc_ns_per_elem, f->enc_ns_per_elem, sizeof(f->enc_ns_per_elem));
	memcpy(d->codec.enc_us_per_frame, f->enc_us_per_frame, sizeof(f->enc_us_per_frame));
	memcpy(d->codec.dec_ns_per_elem, f->dec_ns_per_elem, sizeof(f->dec_ns_per_elem));
	memcpy(d->codec.dec_us_per_frame, f->dec_us_per_frame, sizeof(f->dec_us_per_frame));
	return 0;
}

int cost_class_parse(const char *text, size_t len, const char *what, struct cost_device_class *d,
		     char *err, size_t errlen)
{
	struct cfg_class *f = malloc(sizeof(*f));
	int r;
	memset(d, 0, sizeof(*d));
	if (!f)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	r = cfg_class_parse(text, len, what, f, err, errlen);
	if (!r)
		r = from_config(f, d, err, errlen);
	if (!r && f->source == CFG_CLASS_SCALE && !strcmp(f->scale_of, f->name))
		r = cf_fail(-EINVAL, err, errlen, "%s: '%s' is the class itself",
			    f->where_scale_of, f->scale_of);
	free(f);
	return r;
}

/* The classes of dir (NAME.yaml), comma-separated into out. */
static void known_classes(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t used = 0;
	out[0] = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".yaml") || de->d_name[0] == '.')
			continue;
		int w = snprintf(out + used, cap - used, "%s%.*s", used ? ", " : "", (int)(n - 5),
				 de->d_name);
		if (w < 0 || (size_t)w >= cap - used)
			break;
		used += (size_t)w;
	}
	closedir(d);
}

/* The name's file in dir, or -ENOENT with where (NULL: the name itself) and the
 * known classes in err. */
static int class_path(const char *dir, const char *name, const char *where, char *path,
		      size_t cap, char *err, size_t errlen)
{
	struct stat st;
	char known[400];
	if (snprintf(path, cap, "%s/%s.yaml", dir, name) >= (int)cap)
		return cf_fail(-ENAMETOOLONG, err, errlen, "%s: path too long", dir);
	if (!stat(path, &st))
		return 0;
	known_classes(dir, known, sizeof(known));
	return cf_fail(-ENOENT, err, errlen, "%s%sunknown device class '%s': no %s (known: %s)",
		       where ? where : "", where ? ": " : "", name, path, *known ? known : "none");
}

int cost_class_load(const char *root, const char *name, struct cost_device_class *out, char *err,
		   size_t errlen)
{
	char dir[COST_PATH_LEN], path[COST_PATH_LEN + COST_NAME_LEN + 8];
	char other[sizeof(path)];
	struct cfg_class *f = NULL;
	int r;
	memset(out, 0, sizeof(*out));
	if (!cost_class_name_ok(name))
		return cf_fail(-EINVAL, err, errlen, "device class name '%s' is not "
				      "[A-Za-z0-9._-]{1,63}", name);
	if (snprintf(dir, sizeof(dir), "%s/conf/devices", root) >= (int)sizeof(dir))
		return cf_fail(-ENAMETOOLONG, err, errlen, "%s: path too long", root);
	if ((r = class_path(dir, name, NULL, path, sizeof(path), err, errlen)))
		return r;
	if (!(f = malloc(sizeof(*f))))
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	if ((r = cfg_class_load(path, f, err, errlen)) || (r = from_config(f, out, err, errlen)))
		goto out;
	if (strcmp(f->name, name)) {
		r = cf_fail(-EINVAL, err, errlen, "%s: '%s' is not the file's name '%s'",
			    f->where_name, f->name, name);
		goto out;
	}
	if (f->source == CFG_CLASS_SCALE && !strcmp(f->scale_of, name))
		r = cf_fail(-EINVAL, err, errlen, "%s: '%s' is the class itself",
			    f->where_scale_of, f->scale_of);
	else if (f->source == CFG_CLASS_SCALE)
		r = class_path(dir, f->scale_of, f->where_scale_of, other, sizeof(other), err,
			       errlen);
out:
	free(f);
	return r;
}

static const int default_batches[] = {1, 2, 4, 8, 16, 32};

/* A class's profile path with its first "{model}" replaced by the model's name:
 * one class file serves every model (m NULL: left as it is). */
static void profile_path(const char *pat, const struct cr_model *m, char *out, size_t n)
{
	const char *at = m ? strstr(pat, "{model}") : NULL;
	if (!at)
		snprintf(out, n, "%s", pat);
	else
		snprintf(out, n, "%.*s%s%s", (int)(at - pat), pat, m->name, at + 7);
}

static int class_profile(const char *root, const struct cost_device_class *c,
			 const struct cr_model *m, struct cost_profile *out, int depth, char *err,
			 size_t errlen)
{
	int r;
	switch (c->source) {
	case COST_CLASS_FILE: {
		char path[2 * COST_PATH_LEN + 2], rel[COST_PATH_LEN + 32];
		profile_path(c->profile_path, m, rel, sizeof(rel));
		if (rel[0] == '/')
			snprintf(path, sizeof(path), "%s", rel);
		else
			snprintf(path, sizeof(path), "%s/%s", root, rel);
		return cost_profile_load(path, m, out, err, errlen);
	}
	case COST_CLASS_REGRESSION: {
		const struct cost_regression *rg = cost_regression_builtin(c->regression);
		if (!rg)
			return cf_fail(-EINVAL, err, errlen, "device class %s: unknown "
					      "regression %s", c->name, c->regression);
		int nb = (int)(sizeof(default_batches) / sizeof(default_batches[0]));
		if ((r = cost_profile_init(out, m, c->name, default_batches, nb, err, errlen)))
			return r;
		snprintf(out->isa, sizeof(out->isa), "n/a");
		return cost_profile_from_regression(out, rg, err, errlen);
	}
	case COST_CLASS_SCALE: {
		struct cost_device_class *of = malloc(sizeof(*of));
		if (!of)
			return cf_fail(-ENOMEM, err, errlen, "out of memory");
		if (depth >= 4)
			r = cf_fail(-ELOOP, err, errlen, "device class %s: scale chain deeper "
				    "than 4 (a cycle?)", c->name);
		else if (!(r = cost_class_load(root, c->scale_of, of, err, errlen)) &&
			 !(r = class_profile(root, of, m, out, depth + 1, err, errlen))) {
			r = cost_profile_scale(out, c->scale_factor);
			snprintf(out->device_class, sizeof(out->device_class), "%s", c->name);
		}
		free(of);
		return r;
	}
	}
	return cf_fail(-EINVAL, err, errlen, "device class %s: no profile source", c->name);
}

int cost_class_profile(const char *root, const struct cost_device_class *c,
		       const struct cr_model *m, struct cost_profile *out, char *err, size_t errlen)
{
	return class_profile(root, c, m, out, 0, err, errlen);
}
