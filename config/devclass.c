/* Device class files (design in coinfer/devclass.h): libcyaml maps the keys as
 * text, then each value is checked and ranged here with its line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/devclass.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/names.h"
#include "coinfer/yamlconf.h"

const char *const cfg_class_types[CFG_CLASS_NTYPES] = {
	"conv", "fc", "relu", "maxpool", "avgpool", "lrn", "flatten", "add", "attn"};

struct raw_scale {
	char *of, *factor;
};

struct raw_cycles {
	char *t[CFG_CLASS_NTYPES];
};

struct raw_energy {
	char *kappa, *f_hz, *tx_power_w, *sinr_db;
	struct raw_cycles *cycles;
};

/* A list of texts and libcyaml's count of it. */
#define LIST(m)                                                                                    \
	char **m;                                                                                  \
	unsigned m##_count

struct raw_codec {
	LIST(enc_ns);
	LIST(enc_us);
	LIST(dec_ns);
	LIST(dec_us);
};

struct raw_class {
	char *name, *role, *description, *profile, *regression;
	struct raw_scale *scale;
	struct raw_energy *energy;
	struct raw_codec *codec;
};

#define TEXT CFG_YAML_TEXT

static const cyaml_schema_field_t scale_fields[] = {
	TEXT(struct raw_scale, of, "of", 1), TEXT(struct raw_scale, factor, "factor", 1),
	CYAML_FIELD_END};

#define CYC(i, k, req) TEXT(struct raw_cycles, t[i], k, req)
static const cyaml_schema_field_t cycles_fields[] = {
	CYC(0, "conv", 1),    CYC(1, "fc", 1),  CYC(2, "relu", 1),    CYC(3, "maxpool", 1),
	CYC(4, "avgpool", 1), CYC(5, "lrn", 1), CYC(6, "flatten", 1), CYC(7, "add", 0),
	CYC(8, "attn", 0),    CYAML_FIELD_END};

static const cyaml_schema_field_t energy_fields[] = {
	TEXT(struct raw_energy, kappa, "kappa", 1), TEXT(struct raw_energy, f_hz, "f_hz", 1),
	TEXT(struct raw_energy, tx_power_w, "tx_power_w", 1),
	TEXT(struct raw_energy, sinr_db, "sinr_db", 1),
	CYAML_FIELD_MAPPING_PTR("cycles_per_flop", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
				struct raw_energy, cycles, cycles_fields),
	CYAML_FIELD_END};

static const cyaml_schema_value_t text_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED)};

#define SPEEDS(k, m)                                                                               \
	CYAML_FIELD_SEQUENCE(k, CYAML_FLAG_POINTER, struct raw_codec, m, &text_entry, 0,          \
			     CYAML_UNLIMITED)
static const cyaml_schema_field_t codec_fields[] = {
	SPEEDS("encode_ns_per_elem", enc_ns), SPEEDS("encode_us_per_frame", enc_us),
	SPEEDS("decode_ns_per_elem", dec_ns), SPEEDS("decode_us_per_frame", dec_us),
	CYAML_FIELD_END};

#define PART(k, m, f)                                                                              \
	CYAML_FIELD_MAPPING_PTR(k, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_class, m, \
				f)
static const cyaml_schema_field_t top_fields[] = {
	TEXT(struct raw_class, name, "name", 1), TEXT(struct raw_class, role, "role", 1),
	TEXT(struct raw_class, description, "description", 0),
	TEXT(struct raw_class, profile, "profile", 0),
	TEXT(struct raw_class, regression, "regression", 0), PART("scale", scale, scale_fields),
	CYAML_FIELD_MAPPING_PTR("energy", CYAML_FLAG_POINTER, struct raw_class, energy,
				energy_fields),
	CYAML_FIELD_MAPPING_PTR("codec", CYAML_FLAG_POINTER, struct raw_class, codec,
				codec_fields),
	CYAML_FIELD_END};

static const cyaml_schema_value_t top = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_class, top_fields)};

/* What the checks share: the document and a buffer for "FILE:LINE: KEY". */
struct ctx {
	const struct cfg_yaml *y;
	char where[600];
	char *err;
	size_t errlen;
};

static const char *at(struct ctx *c, const char *path)
{
	cfg_yaml_where(c->y, path, path, c->where, sizeof(c->where));
	return c->where;
}

static int num(struct ctx *c, const char *path, const char *s, double lo, double hi, double *v)
{
	return cfg_yaml_number(at(c, path), s, lo, hi, v, c->err, c->errlen);
}

/* A text key into a buffer of cap bytes: a name of [A-Za-z0-9._-] or any text. */
static int text(struct ctx *c, const char *path, const char *s, int is_name, char *out,
		size_t cap)
{
	if (is_name && !cf_name_ok(s, cap))
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not 1..%zu of "
				      "[A-Za-z0-9_.-]", at(c, path), s, cap - 1);
	if (!*s || strlen(s) >= cap)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: must hold 1..%zu characters",
			       at(c, path), cap - 1);
	snprintf(out, cap, "%s", s);
	return 0;
}

/* Exactly one source of the layer times; the second one given is named. */
static int source(struct ctx *c, const struct raw_class *r, struct cfg_class *o)
{
	int n = !!r->profile + !!r->regression + !!r->scale, ret;
	if (n != 1) {
		const char *k = !n ? "" : r->scale ? "scale" : "regression";
		if (!n)
			return cf_fail(-EINVAL, c->err, c->errlen, "%s: one of the keys profile, "
					      "regression and scale is needed (none given)",
				       c->y->name);
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: only one of the keys profile, "
				      "regression and scale may be given", at(c, k));
	}
	if (r->profile) {
		o->source = CFG_CLASS_PROFILE;
		return text(c, "profile", r->profile, 0, o->profile, sizeof(o->profile));
	}
	if (r->regression) {
		o->source = CFG_CLASS_REGRESSION;
		snprintf(o->where_regression, sizeof(o->where_regression), "%s",
			 at(c, "regression"));
		return text(c, "regression", r->regression, 1, o->regression,
			    sizeof(o->regression));
	}
	o->source = CFG_CLASS_SCALE;
	snprintf(o->where_scale_of, sizeof(o->where_scale_of), "%s", at(c, "scale.of"));
	if ((ret = text(c, "scale.of", r->scale->of, 1, o->scale_of, sizeof(o->scale_of))))
		return ret;
	return num(c, "scale.factor", r->scale->factor, 1e-6, 1e6, &o->scale_factor);
}

/* Niu et al. (2022)'s constants (computing: kappa f^2 per cycle; sending: the
 * radio's power over its SINR) and the cycles per FLOP of each layer type, or
 * none to take the cycles from the profile's times. */
static int energy(struct ctx *c, const struct raw_energy *e, struct cfg_class *o)
{
	char path[64];
	int ret;
	if ((ret = num(c, "energy.kappa", e->kappa, 0, 1e-20, &o->kappa)) ||
	    (ret = num(c, "energy.f_hz", e->f_hz, 1e6, 1e11, &o->f_hz)) ||
	    (ret = num(c, "energy.tx_power_w", e->tx_power_w, 0, 100, &o->tx_power_w)) ||
	    (ret = num(c, "energy.sinr_db", e->sinr_db, -30, 60, &o->sinr_db)))
		return ret;
	o->cycles_from_profile = !e->cycles;
	for (int t = 0; e->cycles && t < CFG_CLASS_NTYPES; t++) {
		/* add and attn came with the residual models: a file written before them
		 * gives add relu's figure (one pass over the tensor) and attn conv's
		 * (GEMMs over the map), as the regression models do (cost/profile.c). */
		if (!e->cycles->t[t]) {
			o->cycles_per_flop[t] = o->cycles_per_flop[t == 7 ? 2 : 0];
			continue;
		}
		snprintf(path, sizeof(path), "energy.cycles_per_flop.%s", cfg_class_types[t]);
		if ((ret = num(c, path, e->cycles->t[t], 0, 1e6, &o->cycles_per_flop[t])))
			return ret;
	}
	return 0;
}

/* One list of the codec's speeds: a value per width. */
static int speeds(struct ctx *c, const char *key, char **v, unsigned n, double hi, double *out)
{
	char path[64];
	int ret;
	snprintf(path, sizeof(path), "codec.%s", key);
	if (n != CFG_CLASS_NBITS)
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: %u values, expected %d (one per "
				      "width: 4, 8, 12 and 16 bits)", at(c, path), n,
			       CFG_CLASS_NBITS);
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "codec.%s.%u", key, i);
		if ((ret = cfg_yaml_number(at(c, path), v[i], 0, hi, &out[i], c->err, c->errlen)))
			return ret;
	}
	return 0;
}

static int codec(struct ctx *c, const struct raw_codec *k, struct cfg_class *o)
{
	int ret;
	if ((ret = speeds(c, "encode_ns_per_elem", k->enc_ns, k->enc_ns_count, 1e6,
			  o->enc_ns_per_elem)) ||
	    (ret = speeds(c, "encode_us_per_frame", k->enc_us, k->enc_us_count, 1e9,
			  o->enc_us_per_frame)) ||
	    (ret = speeds(c, "decode_ns_per_elem", k->dec_ns, k->dec_ns_count, 1e6,
			  o->dec_ns_per_elem)))
		return ret;
	return speeds(c, "decode_us_per_frame", k->dec_us, k->dec_us_count, 1e9,
		      o->dec_us_per_frame);
}

static int check(struct ctx *c, const struct raw_class *r, struct cfg_class *o)
{
	int ret;
	snprintf(o->where_name, sizeof(o->where_name), "%s", at(c, "name"));
	if ((ret = text(c, "name", r->name, 1, o->name, sizeof(o->name))))
		return ret;
	if (strcmp(r->role, "device") && strcmp(r->role, "edge") && strcmp(r->role, "any"))
		return cf_fail(-EINVAL, c->err, c->errlen, "%s: '%s' is not device, edge or any",
			       at(c, "role"), r->role);
	snprintf(o->role, sizeof(o->role), "%s", r->role);
	if ((ret = source(c, r, o)) || (ret = energy(c, r->energy, o)))
		return ret;
	return codec(c, r->codec, o);
}

int cfg_class_parse(const char *text, size_t len, const char *name, struct cfg_class *o,
		    char *err, size_t errlen)
{
	struct raw_class *raw = NULL;
	struct cfg_yaml y;
	int ret;
	memset(o, 0, sizeof(*o));
	if ((ret = cfg_yaml_open(&y, name, text, len, "device class", err, errlen)))
		return ret;
	ret = cfg_yaml_map(&y, &top, (void **)&raw,
			   "not a key of a device class (docs/config.md)", err, errlen);
	if (!ret) {
		struct ctx c = {.y = &y, .err = err, .errlen = errlen};
		ret = check(&c, raw, o);
	}
	cfg_yaml_unmap(&top, raw);
	cfg_yaml_close(&y);
	return ret;
}

int cfg_class_load(const char *path, struct cfg_class *o, char *err, size_t errlen)
{
	char *text;
	size_t len;
	memset(o, 0, sizeof(*o));
	int ret = cf_read_text(path, CFG_CLASS_MAX_BYTES, &text, &len, err, errlen);
	if (ret)
		return ret;
	ret = cfg_class_parse(text, len, path, o, err, errlen);
	free(text);
	return ret;
}
