/* Deployable policies and their file (docs/policy-file.md): one network, the
 * state normalisation in front of it, what its outputs mean (the action table)
 * and what it was trained for, an XXH64 trailer.
 *
 * Parsing treats the bytes as hostile: every count is range-checked and every
 * size computed in 64-bit and compared with the buffer length before an offset
 * is formed; nothing is allocated until the whole file has been validated. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "coinfer/policy-learn.h"
#include "coinfer/fileio.h"
#include "internal.h"
#include "coinfer/bytes.h"

#define ID_BYTES 12 /* magic and version */
#define HDR_BYTES 128
#define CLASS_OFF 64
#define MODEL_OFF 96
#define ACTION_BYTES 4
#define TRAILER_BYTES 8
static const uint8_t magic[8] = {'C', 'F', 'P', 'O', 'L', 'I', 'C', 'Y'};

/* floats travel as their little-endian bit patterns */
static void rdf_n(const uint8_t *p, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = le_rd32(p + 4 * i);
		memcpy(&x[i], &u, sizeof(u));
	}
}

static void wrf_n(uint8_t *p, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], sizeof(u));
		le_wr32(p + 4 * i, u);
	}
}

void pol_normalize(const float *mean, const float *std, int n, const float *x, float *out)
{
	for (int i = 0; i < n; i++)
		out[i] = (x[i] - mean[i]) / std[i];
}

void pol_policy_free(struct pol_policy *p)
{
	if (!p)
		return;
	free(p->mean);
	free(p->std);
	free(p->x);
	free(p->actions);
	free(p->mask);
	pol_mlp_free(p->net);
	free(p);
}

/* A policy around net (taken over, freed on failure), identity normalisation. */
static int policy_new(enum pol_algo algo, struct pol_mlp *net, struct pol_policy **out)
{
	int sd = net->sizes[0];
	struct pol_policy *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (!p) {
		pol_mlp_free(net);
		return -ENOMEM;
	}
	p->algo = algo;
	p->net = net;
	p->state_dim = sd;
	p->n_actions = net->sizes[net->n_layers];
	p->mean = calloc((size_t)sd, sizeof(float));
	p->std = malloc((size_t)sd * sizeof(float));
	p->x = malloc((size_t)sd * sizeof(float));
	if (!p->mean || !p->std || !p->x) {
		pol_policy_free(p);
		return -ENOMEM;
	}
	for (int i = 0; i < sd; i++)
		p->std[i] = 1.0f;
	*out = p;
	return 0;
}

static int export(enum pol_algo algo, const struct pol_mlp *net, uint64_t updates,
		  const float *mean, const float *std, struct pol_policy **out)
{
	struct pol_mlp *copy;
	int ret = pol_mlp_clone(net, 1, &copy);
	if (ret || (ret = policy_new(algo, copy, out)))
		return ret;
	for (int i = 0; i < (*out)->state_dim; i++)
		if ((mean && !pol_finite(mean[i])) || (std && !(std[i] > 0.0f && pol_finite(std[i])))) {
			pol_policy_free(*out);
			*out = NULL;
			return -EINVAL;
		}
	if (mean)
		memcpy((*out)->mean, mean, (size_t)(*out)->state_dim * sizeof(float));
	if (std)
		memcpy((*out)->std, std, (size_t)(*out)->state_dim * sizeof(float));
	(*out)->updates = updates;
	return 0;
}

int pol_sacd_export(struct pol_sacd *ag, const float *mean, const float *std,
		    struct pol_policy **out)
{
	return export(POL_ALGO_SACD, pol_sacd_net(ag, POL_SACD_ACTOR), pol_sacd_updates(ag), mean,
		      std, out);
}

int pol_dqn_export(struct pol_dqn *ag, const float *mean, const float *std,
		   struct pol_policy **out)
{
	return export(POL_ALGO_DQN, pol_dqn_net(ag, 0), pol_dqn_updates(ag), mean, std, out);
}

int pol_act(struct pol_policy *p, const float *state, const uint8_t *mask, int *action)
{
	const float *y;
	pol_normalize(p->mean, p->std, p->state_dim, state, p->x);
	int ret = pol_mlp_forward(p->net, p->x, 1, &y);
	return ret ? ret : pol_argmax_masked(y, mask, p->n_actions, action);
}

/* Bytes of a file with this shape. */
static uint64_t file_bytes(int n_layers, uint64_t state_dim, uint64_t n_actions, uint64_t n_params)
{
	return HDR_BYTES + 4ull * (n_layers + 1) + 8 * state_dim + ACTION_BYTES * n_actions +
	       4 * n_params + TRAILER_BYTES;
}

/* dev_class_ms becomes an observation component; a bound far above any real
 * device keeps the float and the observation ordinary. */
static int class_ms_ok(float ms)
{
	return ms >= 0.0f && ms < 1e9f;
}

/* What is wrong with the name in a POL_POLICY_NAME_LEN field (NULL: nothing);
 * its length into *n. */
static const char *name_problem(const char *f, size_t *n)
{
	const char *nul = memchr(f, 0, POL_POLICY_NAME_LEN);
	if (!nul)
		return "has no terminating NUL";
	*n = (size_t)(nul - f);
	if (!*n)
		return "is empty";
	for (size_t i = 0; i < *n; i++)
		if (!cf_name_char(f[i]))
			return "has a character outside [A-Za-z0-9_.-]";
	return NULL;
}

/* Whether a's table entry fits the file's bytes (a 1-based exit, a partition,
 * bits); messages number exits as people do. */
const char *pol_action_problem(const struct cf_action *a)
{
	if (a->exit < 0 || a->exit > 254)
		return "exit outside 1..255";
	if (a->partition < 0 || a->partition > 255)
		return "partition outside 0..255";
	if (a->bits != 0 && cf_action_bits_index(a->bits) < 0)
		return "bits not one of 0, 4, 8, 12, 16";
	return NULL;
}

/* The action of a table entry's bytes: the file numbers exits from 1. */
static struct cf_action file_action(const uint8_t *e)
{
	return (struct cf_action){.exit = e[0] - 1, .partition = e[1], .bits = e[2]};
}

/* The metadata as pol_parse will check it: whatever pol_encode writes, pol_parse
 * reads back, and nothing is silently cut to fit a byte. */
static int meta_check(const struct pol_policy *p, char *err, size_t errlen)
{
	const char *why;
	size_t n;
	if (!p->actions)
		return cf_fail(-EINVAL, err, errlen,
				"policy has no action table (pol_policy_set_meta): a file must say what its outputs mean");
	if (p->obs_spec != POL_OBS_SPEC)
		return cf_fail(-EINVAL, err, errlen, "obs_spec %u, this build makes spec %d",
				p->obs_spec, POL_OBS_SPEC);
	if (!class_ms_ok(p->dev_class_ms))
		return cf_fail(-EINVAL, err, errlen, "dev_class_ms %g outside [0, 1e9)",
				p->dev_class_ms);
	if ((why = name_problem(p->device_class, &n)))
		return cf_fail(-EINVAL, err, errlen, "device_class %s", why);
	if ((why = name_problem(p->model, &n)))
		return cf_fail(-EINVAL, err, errlen, "model %s", why);
	for (int i = 0; i < p->n_actions; i++) {
		const struct cf_action *a = &p->actions[i];
		if ((why = pol_action_problem(a)))
			return cf_fail(-EINVAL, err, errlen,
					"action %d (exit %d, partition %d, bits %d): %s", i,
					a->exit + 1, a->partition, a->bits, why);
	}
	return 0;
}

int pol_encode(const struct pol_policy *p, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	const struct pol_mlp *m = p->net;
	int ret;
	*buf = NULL;
	if (p->algo != POL_ALGO_SACD && p->algo != POL_ALGO_DQN)
		return cf_fail(-EINVAL, err, errlen, "unknown algorithm %d", (int)p->algo);
	if ((ret = meta_check(p, err, errlen)))
		return ret;
	uint64_t n = file_bytes(m->n_layers, (uint64_t)p->state_dim, (uint64_t)p->n_actions,
				m->n_params);
	if (n > POL_FILE_MAX_BYTES)
		return cf_fail(-E2BIG, err, errlen, "policy of %llu bytes exceeds the file limit",
				(unsigned long long)n);
	uint8_t *b = calloc(1, (size_t)n), *o = b + HDR_BYTES;
	if (!b)
		return cf_fail(-ENOMEM, err, errlen, "out of memory (%llu bytes)",
				(unsigned long long)n);
	memcpy(b, magic, sizeof(magic));
	le_wr32(b + 8, POL_FILE_VERSION);
	le_wr32(b + 12, HDR_BYTES);
	le_wr64(b + 16, n);
	le_wr32(b + 24, (uint32_t)p->algo);
	le_wr32(b + 28, (uint32_t)p->state_dim);
	le_wr32(b + 32, (uint32_t)p->n_actions);
	le_wr32(b + 36, (uint32_t)m->n_layers);
	le_wr32(b + 40, p->obs_spec);
	wrf_n(b + 44, &p->dev_class_ms, 1);
	le_wr64(b + 48, p->updates);
	le_wr64(b + 56, m->n_params);
	/* the padding after the NUL stays zero (calloc): stale bytes behind a
	 * shorter name never reach the file */
	memcpy(b + CLASS_OFF, p->device_class, strlen(p->device_class));
	memcpy(b + MODEL_OFF, p->model, strlen(p->model));
	for (int l = 0; l <= m->n_layers; l++, o += 4)
		le_wr32(o, (uint32_t)m->sizes[l]);
	wrf_n(o, p->mean, (size_t)p->state_dim), o += 4 * (size_t)p->state_dim;
	wrf_n(o, p->std, (size_t)p->state_dim), o += 4 * (size_t)p->state_dim;
	for (int i = 0; i < p->n_actions; i++, o += ACTION_BYTES) {
		o[0] = (uint8_t)(p->actions[i].exit + 1); /* the file numbers exits from 1 */
		o[1] = (uint8_t)p->actions[i].partition;
		o[2] = (uint8_t)p->actions[i].bits;
	}
	wrf_n(o, m->params, m->n_params), o += 4 * m->n_params;
	le_wr64(o, XXH64(b, (size_t)n - TRAILER_BYTES, 0));
	*buf = b;
	*len = (size_t)n;
	return 0;
}

/* Index of the first non-finite float among n at p, or -1. */
static long nonfinite_at(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((le_rd32(p + 4 * i) & 0x7f800000u) == 0x7f800000u)
			return (long)i;
	return -1;
}

/* A name field of the file: a valid name, then zeros to the end of the field
 * (so that the policy re-encodes to the same bytes). */
static int name_field_check(const uint8_t *f, const char *field, char *err, size_t errlen)
{
	size_t n;
	const char *why = name_problem((const char *)f, &n);
	if (why)
		return cf_fail(-EINVAL, err, errlen, "%s %s", field, why);
	for (size_t i = n + 1; i < POL_POLICY_NAME_LEN; i++)
		if (f[i])
			return cf_fail(-EINVAL, err, errlen,
					"%s has nonzero byte 0x%02x at %zu, after its NUL", field, f[i],
					i);
	return 0;
}

/* What pol_parse has validated of a file, on its way to a policy. */
struct parsed {
	uint32_t algo, sd, na, nl, spec;
	uint64_t np;
	float class_ms;
	int sizes[POL_MLP_MAX_LAYERS + 1];
	const uint8_t *mean, *std, *acts, *weights; /* the sections */
};

/* Magic and version, then the length, the header size and the checksum. */
static int parse_envelope(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	/* magic and version first, whatever the length: an old file is named as
	 * such rather than as a short one */
	if (len < ID_BYTES)
		return cf_fail(-EINVAL, err, errlen,
				"policy file of %zu bytes is shorter than its magic and version (%d)",
				len, ID_BYTES);
	if (memcmp(b, magic, sizeof(magic)))
		return cf_fail(-EINVAL, err, errlen, "bad magic: not a coinfer policy file");
	uint32_t version = le_rd32(b + 8);
	if (version == 1)
		return cf_fail(-EINVAL, err, errlen,
				"policy file version 1 has no action table or device metadata: retrain or re-export it as version %d",
				POL_FILE_VERSION);
	if (version != POL_FILE_VERSION)
		return cf_fail(-EINVAL, err, errlen, "policy file version %u, expected %d", version,
				POL_FILE_VERSION);
	if (len < HDR_BYTES + TRAILER_BYTES)
		return cf_fail(-EINVAL, err, errlen,
				"policy file of %zu bytes is shorter than header and trailer (%d)", len,
				HDR_BYTES + TRAILER_BYTES);
	uint32_t hdr = le_rd32(b + 12);
	if (hdr != HDR_BYTES)
		return cf_fail(-EINVAL, err, errlen, "header size %u, expected %d", hdr, HDR_BYTES);
	uint64_t fsize = le_rd64(b + 16);
	if (fsize != len)
		return cf_fail(-EINVAL, err, errlen,
				"file size field says %llu bytes but %zu are present (truncated?)",
				(unsigned long long)fsize, len);
	if (len > POL_FILE_MAX_BYTES)
		return cf_fail(-E2BIG, err, errlen, "policy file of %zu bytes exceeds the limit %zu",
				len, POL_FILE_MAX_BYTES);
	if (XXH64(b, len - TRAILER_BYTES, 0) != le_rd64(b + len - TRAILER_BYTES))
		return cf_fail(-EBADMSG, err, errlen, "checksum mismatch: policy file is corrupt");
	return 0;
}

/* The header's counts, observation spec, device class time and names. */
static int parse_header(const uint8_t *b, struct parsed *f, char *err, size_t errlen)
{
	int ret;
	f->algo = le_rd32(b + 24), f->sd = le_rd32(b + 28), f->na = le_rd32(b + 32);
	f->nl = le_rd32(b + 36), f->spec = le_rd32(b + 40);
	f->np = le_rd64(b + 56);
	rdf_n(b + 44, &f->class_ms, 1);
	if (f->algo != POL_ALGO_SACD && f->algo != POL_ALGO_DQN)
		return cf_fail(-EINVAL, err, errlen, "unknown algorithm id %u", f->algo);
	if (f->sd < 1 || f->sd > POL_FILE_MAX_STATE)
		return cf_fail(-EINVAL, err, errlen, "state_dim %u outside 1..%d", f->sd,
				POL_FILE_MAX_STATE);
	if (f->na < 1 || f->na > POL_FILE_MAX_ACTIONS)
		return cf_fail(-EINVAL, err, errlen, "n_actions %u outside 1..%d", f->na,
				POL_FILE_MAX_ACTIONS);
	if (f->nl < 1 || f->nl > POL_MLP_MAX_LAYERS)
		return cf_fail(-EINVAL, err, errlen, "n_layers %u outside 1..%d", f->nl,
				POL_MLP_MAX_LAYERS);
	/* a policy trained on other observations would act on misread inputs */
	if (f->spec != POL_OBS_SPEC)
		return cf_fail(-EINVAL, err, errlen,
				"obs_spec %u: trained on other observations than this build's spec %d; retrain",
				f->spec, POL_OBS_SPEC);
	if (!class_ms_ok(f->class_ms))
		return cf_fail(-EINVAL, err, errlen, "dev_class_ms %g outside [0, 1e9)",
				f->class_ms);
	if ((ret = name_field_check(b + CLASS_OFF, "device_class", err, errlen)) ||
	    (ret = name_field_check(b + MODEL_OFF, "model", err, errlen)))
		return ret;
	return 0;
}

/* The layer sizes against the header's counts and the file's length; where
 * the sections start. */
static int parse_layout(const uint8_t *b, size_t len, struct parsed *f, char *err, size_t errlen)
{
	uint32_t nl = f->nl;
	if (HDR_BYTES + 4ull * (nl + 1) > len - TRAILER_BYTES)
		return cf_fail(-EINVAL, err, errlen, "layer sizes run past the end of the file");
	uint64_t want = 0;
	for (uint32_t l = 0; l <= nl; l++) {
		uint32_t s = le_rd32(b + HDR_BYTES + 4 * l);
		if (s < 1 || s > POL_MLP_MAX_WIDTH)
			return cf_fail(-EINVAL, err, errlen, "layer size %u = %u outside 1..%d", l, s,
					POL_MLP_MAX_WIDTH);
		f->sizes[l] = (int)s;
		if (l)
			want += (uint64_t)f->sizes[l - 1] * s + s;
	}
	if ((uint32_t)f->sizes[0] != f->sd || (uint32_t)f->sizes[nl] != f->na)
		return cf_fail(-EINVAL, err, errlen,
				"network maps %d inputs to %d outputs, header says %u states, %u actions",
				f->sizes[0], f->sizes[nl], f->sd, f->na);
	if (f->np != want)
		return cf_fail(-EINVAL, err, errlen,
				"parameter count field %llu, the layer sizes give %llu",
				(unsigned long long)f->np, (unsigned long long)want);
	if (f->np > POL_MLP_MAX_PARAMS)
		return cf_fail(-E2BIG, err, errlen, "%llu parameters exceed the limit %u",
				(unsigned long long)f->np, POL_MLP_MAX_PARAMS);
	uint64_t n = file_bytes((int)nl, f->sd, f->na, f->np);
	if (n != len)
		return cf_fail(-EINVAL, err, errlen, "sections add up to %llu bytes, file has %zu",
				(unsigned long long)n, len);
	f->mean = b + HDR_BYTES + 4 * ((size_t)nl + 1);
	f->std = f->mean + 4 * (size_t)f->sd;
	f->acts = f->std + 4 * (size_t)f->sd;
	f->weights = f->acts + ACTION_BYTES * (size_t)f->na;
	return 0;
}

/* The normalisation, the action table and the weights. */
static int parse_sections(const struct parsed *f, char *err, size_t errlen)
{
	long bad;
	if ((bad = nonfinite_at(f->mean, f->sd)) >= 0)
		return cf_fail(-EINVAL, err, errlen, "state mean[%ld] is not finite", bad);
	if ((bad = nonfinite_at(f->std, f->sd)) >= 0)
		return cf_fail(-EINVAL, err, errlen, "state std[%ld] is not finite", bad);
	for (uint32_t i = 0; i < f->sd; i++) {
		float s;
		rdf_n(f->std + 4 * i, &s, 1);
		if (!(s > 0.0f))
			return cf_fail(-EINVAL, err, errlen, "state std[%u] = %g is not positive", i, s);
	}
	for (uint32_t i = 0; i < f->na; i++) {
		const uint8_t *e = f->acts + ACTION_BYTES * (size_t)i;
		struct cf_action a = file_action(e);
		const char *why = pol_action_problem(&a);
		if (why)
			return cf_fail(-EINVAL, err, errlen,
					"action %u (exit %u, partition %u, bits %u): %s", i, e[0], e[1],
					e[2], why);
		if (e[3])
			return cf_fail(-EINVAL, err, errlen, "action %u: reserved byte %u is not zero",
					i, e[3]);
	}
	if ((bad = nonfinite_at(f->weights, (size_t)f->np)) >= 0)
		return cf_fail(-EINVAL, err, errlen, "weight %ld is not finite", bad);
	return 0;
}

/* The policy of a validated file. */
static int build_policy(const uint8_t *b, const struct parsed *f, struct pol_policy **out)
{
	struct pol_mlp *net;
	struct pol_policy *p = NULL;
	int ret;
	if ((ret = pol_mlp_alloc(f->sizes, (int)f->nl + 1, 1, &net)) ||
	    (ret = policy_new((enum pol_algo)f->algo, net, &p)))
		goto err;
	if (!(p->actions = malloc((size_t)f->na * sizeof(*p->actions))) ||
	    !(p->mask = malloc((size_t)f->na))) {
		ret = -ENOMEM;
		goto err;
	}
	rdf_n(f->mean, p->mean, f->sd);
	rdf_n(f->std, p->std, f->sd);
	rdf_n(f->weights, net->params, (size_t)f->np);
	for (uint32_t i = 0; i < f->na; i++)
		p->actions[i] = file_action(f->acts + ACTION_BYTES * (size_t)i);
	p->updates = le_rd64(b + 48);
	p->obs_spec = f->spec;
	p->dev_class_ms = f->class_ms;
	memcpy(p->device_class, b + CLASS_OFF, POL_POLICY_NAME_LEN);
	memcpy(p->model, b + MODEL_OFF, POL_POLICY_NAME_LEN);
	*out = p;
	return 0;
err:
	pol_policy_free(p);
	return ret;
}

int pol_parse(const uint8_t *b, size_t len, struct pol_policy **out, char *err, size_t errlen)
{
	struct parsed f;
	int ret;
	*out = NULL;
	if ((ret = parse_envelope(b, len, err, errlen)) ||
	    (ret = parse_header(b, &f, err, errlen)) ||
	    (ret = parse_layout(b, len, &f, err, errlen)) ||
	    (ret = parse_sections(&f, err, errlen)))
		return ret;
	if ((ret = build_policy(b, &f, out)))
		return cf_fail(ret, err, errlen, "out of memory for the policy");
	return 0;
}

int pol_save(const struct pol_policy *p, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len, done = 0;
	char tmp[4096];
	int fd = -1, ret = pol_encode(p, &buf, &len, err, errlen);
	if (ret)
		return ret;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		ret = cf_fail(-ENAMETOOLONG, err, errlen, "%s: path too long", path);
		goto err;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		cf_fail(ret, err, errlen, "%s: %s", tmp, strerror(-ret));
		goto err;
	}
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			cf_fail(ret, err, errlen, "%s: write failed: %s", tmp, strerror(-ret));
			goto err;
		}
		done += (size_t)w;
	}
	if (fsync(fd) || close(fd)) {
		ret = -errno;
		fd = -1;
		cf_fail(ret, err, errlen, "%s: %s", tmp, strerror(-ret));
		goto err;
	}
	fd = -1;
	if (rename(tmp, path)) {
		ret = -errno;
		cf_fail(ret, err, errlen, "rename %s to %s: %s", tmp, path, strerror(-ret));
		goto err;
	}
	free(buf);
	return 0;
err:
	if (fd >= 0)
		close(fd);
	if (tmp[0] && ret != -ENAMETOOLONG)
		unlink(tmp);
	free(buf);
	return ret;
}

int pol_load(const char *path, struct pol_policy **out, char *err, size_t errlen)
{
	void *buf;
	size_t n;
	*out = NULL;
	int ret = cf_read_file(path, POL_FILE_MAX_BYTES, &buf, &n, err, errlen);
	if (ret)
		return ret;
	ret = pol_parse(buf, n, out, err, errlen);
	if (ret && err && errlen) { /* name the file in front of the parser's message */
		char m[512];
		snprintf(m, sizeof(m), "%s", err);
		snprintf(err, errlen, "%s: %s", path, m);
	}
	free(buf);
	return ret;
}
