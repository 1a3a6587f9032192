/* Profiles of device classes: their shape from the model, checks against a model,
 * scaling, batch interpolation; and the Edgent (Li et al. 2018) Table II regression models with
 * the synthesis of a profile from them. Only model fields are read (no runtime
 * calls), so the cost library needs nothing of the runtime's code. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/cost-profile.h"
#include "internal.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

/* The names cr_layer_type_name gives, repeated so the cost library does not
 * link the runtime for five strings. */
static const char *const type_names[] = {
	[CR_LAYER_CONV] = "conv",       [CR_LAYER_FC] = "fc",   [CR_LAYER_RELU] = "relu",
	[CR_LAYER_MAXPOOL] = "maxpool", [CR_LAYER_AVGPOOL] = "avgpool", [CR_LAYER_LRN] = "lrn",
	[CR_LAYER_FLATTEN] = "flatten", [CR_LAYER_ADD] = "add",       [CR_LAYER_ATTN] = "attn",
};
#define N_TYPES (int)(sizeof(type_names) / sizeof(type_names[0]))

const char *cost_layer_type_name(enum cr_layer_type t)
{
	return (int)t > 0 && (int)t < N_TYPES ? type_names[t] : "unknown";
}

int cost_layer_type_parse(const char *s, enum cr_layer_type *out)
{
	for (int t = 1; t < N_TYPES; t++)
		if (!strcmp(s, type_names[t])) {
			*out = (enum cr_layer_type)t;
			return 0;
		}
	return -EINVAL;
}

const char *cost_profile_source_name(enum cost_profile_source s)
{
	switch (s) {
	case COST_SOURCE_MEASURED: return "measured";
	case COST_SOURCE_REGRESSION: return "regression";
	case COST_SOURCE_SCALED: return "scaled";
	}
	return "unknown";
}

int cost_class_name_ok(const char *name)
{
	return name[0] != '.' && cf_name_ok(name, COST_NAME_LEN);
}

static double tensor_bytes(int c, int h, int w)
{
	return 4.0 * c * h * w;
}

static void table1_vars(const struct cr_layer *L, double in_b, double out_b, double *x1, double *x2)
{
	*x1 = in_b;
	*x2 = 0;
	switch (L->type) {
	case CR_LAYER_CONV:
		/* (filter size / stride)^2 * filters, with non-square filters and strides
		 * as their products */
		*x2 = (double)L->d.conv.kh * L->d.conv.kw / ((double)L->d.conv.sh * L->d.conv.sw) *
		      L->d.conv.cout;
		break;
	case CR_LAYER_MAXPOOL:
	case CR_LAYER_AVGPOOL:
	case CR_LAYER_FC:
		*x2 = out_b;
		break;
	default:
		break;
	}
}

int cost_profile_init(struct cost_profile *p, const struct cr_model *m, const char *device_class,
		     const int *batches, int n_batches, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (m->n_exits > COST_MAX_EXITS)
		return cf_fail(-EINVAL, err, errlen, "model %s: %d exits, at most %d supported",
				m->name, m->n_exits, COST_MAX_EXITS);
	if (n_batches < 1 || n_batches > COST_MAX_BATCHES)
		return cf_fail(-EINVAL, err, errlen, "%d batch sizes given, 1..%d supported", n_batches,
				COST_MAX_BATCHES);
	for (int i = 0; i < n_batches; i++)
		if (batches[i] < 1 || batches[i] > 4096 || (i && batches[i] <= batches[i - 1]))
			return cf_fail(-EINVAL, err, errlen,
					"batch sizes must ascend within 1..4096 (entry %d is %d)", i,
					batches[i]);
	if (!cost_class_name_ok(device_class))
		return cf_fail(-EINVAL, err, errlen, "device class name '%s' is not [A-Za-z0-9._-]{1,63}",
				device_class);
	snprintf(p->device_class, sizeof(p->device_class), "%s", device_class);
	snprintf(p->model, sizeof(p->model), "%s", m->name);
	p->model_checksum = m->checksum;
	snprintf(p->isa, sizeof(p->isa), "none");
	snprintf(p->clock, sizeof(p->clock), "wall");
	p->threads = 1;
	p->source = COST_SOURCE_MEASURED;
	p->n_batches = n_batches;
	memcpy(p->batches, batches, (size_t)n_batches * sizeof(int));
	p->n_exits = m->n_exits;
	for (int e = 0; e < m->n_exits; e++) {
		if (m->exit_len[e] > COST_MAX_POS)
			return cf_fail(-EINVAL, err, errlen, "model %s: exit %d has %d layers, at most %d supported",
					m->name, e + 1, m->exit_len[e], COST_MAX_POS);
		p->exits[e].n_layers = m->exit_len[e];
		for (int pos = 0; pos < m->exit_len[e]; pos++) {
			const struct cr_layer *L = cr_model_exit_layer(m, e, pos);
			struct cost_profile_layer *o = &p->exits[e].layers[pos];
			o->pos = pos;
			snprintf(o->name, sizeof(o->name), "%s", L->name);
			o->type = L->type;
			o->in_bytes = tensor_bytes(L->in_c, L->in_h, L->in_w);
			o->out_bytes = tensor_bytes(L->out_c, L->out_h, L->out_w);
			o->flops = (double)L->flops;
			table1_vars(L, o->in_bytes, o->out_bytes, &o->x1, &o->x2);
		}
	}
	return 0;
}

int cost_profile_check_model(const struct cost_profile *p, const struct cr_model *m, const char *what,
			    char *err, size_t errlen)
{
	if (p->model_checksum != m->checksum)
		return cf_fail(-EINVAL, err, errlen,
				"%s: model_checksum %016llx is not the loaded model's %016llx (%s): profile of another model",
				what, (unsigned long long)p->model_checksum,
				(unsigned long long)m->checksum, m->name);
	if (p->n_exits != m->n_exits)
		return cf_fail(-EINVAL, err, errlen, "%s: %d exits, model %s has %d", what, p->n_exits,
				m->name, m->n_exits);
	for (int e = 0; e < m->n_exits; e++) {
		if (p->exits[e].n_layers != m->exit_len[e])
			return cf_fail(-EINVAL, err, errlen, "%s: exit %d has %d layers, model has %d", what,
					e + 1, p->exits[e].n_layers, m->exit_len[e]);
		for (int pos = 0; pos < m->exit_len[e]; pos++) {
			const struct cr_layer *L = cr_model_exit_layer(m, e, pos);
			const struct cost_profile_layer *o = &p->exits[e].layers[pos];
			if (strcmp(o->name, L->name) || o->type != L->type ||
			    o->in_bytes != tensor_bytes(L->in_c, L->in_h, L->in_w) ||
			    o->out_bytes != tensor_bytes(L->out_c, L->out_h, L->out_w))
				return cf_fail(-EINVAL, err, errlen,
						"%s: exit %d layer %d is %s (%s, %.0f -> %.0f bytes), model has %s (%s)",
						what, e + 1, pos, o->name, cost_layer_type_name(o->type),
						o->in_bytes, o->out_bytes, L->name,
						cost_layer_type_name(L->type));
		}
	}
	return 0;
}

int cost_profile_scale(struct cost_profile *p, double factor)
{
	if (!(factor > 0) || !isfinite(factor))
		return -EINVAL;
	for (int e = 0; e < p->n_exits; e++)
		for (int pos = 0; pos < p->exits[e].n_layers; pos++)
			for (int b = 0; b < p->n_batches; b++) {
				p->exits[e].layers[pos].mean_ms[b] *= factor;
				p->exits[e].layers[pos].p95_ms[b] *= factor;
			}
	p->source = COST_SOURCE_SCALED;
	return 0;
}

double cost_interp_batch(const int *batches, int nb, const double *t, double n)
{
	if (n <= batches[0])
		return t[0];
	if (n >= batches[nb - 1])
		return t[nb - 1] * n / batches[nb - 1];
	int k = 0;
	while (k + 1 < nb && batches[k + 1] < n)
		k++;
	double w = (n - batches[k]) / (double)(batches[k + 1] - batches[k]);
	return t[k] + w * (t[k + 1] - t[k]);
}

double cost_profile_layer_ms(const struct cost_profile *p, const struct cost_profile_layer *L, double n)
{
	return cost_interp_batch(p->batches, p->n_batches, L->mean_ms, n);
}

/* ---- regression models ---------------------------------------------------- */

const char *cost_reg_kind_name(enum cost_reg_kind k)
{
	static const char *const names[] = {"conv", "relu", "pool", "lrn", "dropout", "fc"};
	return (int)k >= 0 && k < COST_REG_KINDS ? names[k] : "unknown";
}

enum cost_reg_kind cost_reg_kind_of(enum cr_layer_type t)
{
	switch (t) {
	case CR_LAYER_CONV:
	case CR_LAYER_ATTN: return COST_REG_CONV; /* GEMMs over the map, as a conv */
	case CR_LAYER_RELU:
	case CR_LAYER_ADD: return COST_REG_RELU; /* both one pass over the tensor */
	case CR_LAYER_MAXPOOL:
	case CR_LAYER_AVGPOOL: return COST_REG_POOL;
	case CR_LAYER_LRN: return COST_REG_LRN;
	case CR_LAYER_FC: return COST_REG_FC;
	case CR_LAYER_FLATTEN: break;
	}
	return COST_REG_DROPOUT;
}

int cost_reg_kind_vars(enum cost_reg_kind k)
{
	return k == COST_REG_CONV || k == COST_REG_POOL || k == COST_REG_FC ? 2 : 1;
}

#define LINE(a, b, c) {.c1 = (a), .c2 = (b), .c0 = (c), .nvar = 0, .n = 0, .r2 = NAN, .present = 1}

/* Edgent (Li et al. 2018) Table II (ms; sizes in bytes), transcribed as printed. The
 * "Normalization" row under LRN is an OCR duplicate of the LRN row and is not
 * used. The column printed "Mobile Device model" predicts about 21 ms for our
 * whole 20-layer exit and 2.2 ms to load a model; the one printed "Edge Server
 * model" about 1 s and 842 ms. The paper's own text has the Raspberry Pi take
 * more than 2 s for AlexNet and the edge about 10 ms, so the headings are swapped:
 * "rpi3-edgent" is the column printed as the server's, "pc-edgent" the one
 * printed as the mobile device's. The literal columns stay available by name. */
static const struct cost_regression table2[] = {
	{"table2-mobile-column",
	 {[COST_REG_CONV] = LINE(6.03e-5, 1.24e-4, 1.89e-1),
	  [COST_REG_RELU] = LINE(5.6e-6, 0, 5.69e-2),
	  [COST_REG_POOL] = LINE(1.63e-5, 4.07e-6, 2.11e-1),
	  [COST_REG_LRN] = LINE(6.59e-5, 0, 7.80e-2),
	  [COST_REG_DROPOUT] = LINE(5.23e-6, 0, 4.64e-3),
	  [COST_REG_FC] = LINE(1.07e-4, -1.83e-4, 0.164)}},
	{"table2-server-column",
	 {[COST_REG_CONV] = LINE(6.13e-3, 2.67e-2, -9.909),
	  [COST_REG_RELU] = LINE(1.5e-5, 0, 4.88e-1),
	  [COST_REG_POOL] = LINE(1.33e-4, 3.31e-5, 1.657),
	  [COST_REG_LRN] = LINE(5.19e-4, 0, 5.89e-1),
	  [COST_REG_DROPOUT] = LINE(2.34e-6, 0, 0.0525),
	  [COST_REG_FC] = LINE(9.18e-4, 3.99e-3, 1.169)}},
};

const struct cost_regression *cost_regression_builtin(const char *name)
{
	if (!strcmp(name, "rpi3-edgent"))
		name = "table2-server-column";
	else if (!strcmp(name, "pc-edgent"))
		name = "table2-mobile-column";
	for (size_t i = 0; i < sizeof(table2) / sizeof(table2[0]); i++)
		if (!strcmp(table2[i].name, name))
			return &table2[i];
	return NULL;
}

double cost_regress_predict(const struct cost_regression *r, const struct cost_profile_layer *L, int n)
{
	enum cost_reg_kind k = cost_reg_kind_of(L->type);
	const struct cost_reg_line *ln = &r->line[k];
	/* conv's x2 describes the filters, not the data, so it does not grow with the
	 * batch; every data size does. */
	double x1 = L->x1 * n, x2 = k == COST_REG_CONV ? L->x2 : L->x2 * n;
	double y = ln->c1 * x1 + ln->c2 * x2 + ln->c0;
	/* A linear fit extrapolates below zero for small layers (Table II's
	 * Raspberry Pi conv model has an intercept of -9.909 ms): a layer takes no
	 * negative time, so the prediction is clamped at 0. */
	return y > 0 ? y : 0;
}

int cost_profile_from_regression(struct cost_profile *p, const struct cost_regression *r, char *err,
				size_t errlen)
{
	for (int e = 0; e < p->n_exits; e++)
		for (int pos = 0; pos < p->exits[e].n_layers; pos++) {
			struct cost_profile_layer *L = &p->exits[e].layers[pos];
			enum cost_reg_kind k = cost_reg_kind_of(L->type);
			if (!r->line[k].present)
				return cf_fail(-EINVAL, err, errlen,
						"regression %s has no %s model for layer %s (%s)", r->name,
						cost_reg_kind_name(k), L->name, cost_layer_type_name(L->type));
			for (int b = 0; b < p->n_batches; b++)
				L->mean_ms[b] = L->p95_ms[b] = cost_regress_predict(r, L, p->batches[b]);
		}
	p->source = COST_SOURCE_REGRESSION;
	return 0;
}
