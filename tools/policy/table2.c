/* coinfer-policy table2: seed 003's Table 2 (Li, Zhang, Guo & Li 2023) on our
 * cost model. Per device class, the end-to-end latency T_device + T_transmit +
 * T_server of one request at a fixed bandwidth for each method: split-only (the
 * deepest plain exit at its best partition point), pruning, codec and both (the
 * model's variants of that exit, each at its split point). Every method gets the
 * same rule: the least latency whose accuracy is within --max-loss of its exit's
 * own fp32 accuracy (cost_search_method: the link may cost that much; the
 * method's own loss against the plain exit is the row's accuracy_loss); a method
 * the model has no variant for prints no row and says so on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "common.h"
#include "table2.h"

struct table2_opts {
	struct cp_world_opts w;
	const char *devices;
	double bandwidth_bps, max_loss;
	unsigned mask;
	int min_partition;
};

#define F(f) CLI_FIELD(struct table2_opts, f)
static const struct cli_opt table2_table[] = {
	{.name = "devices", .kind = CLI_STRING, F(devices), .arg = "LIST",
	 .help = "device classes, comma-separated"},
	{.name = "edge", .kind = CLI_STRING, F(w.edge), .arg = "CLASS", .help = "edge class"},
	CP_OPT_CODEC(struct table2_opts, w.codec), CLI_OPT_ROOT(struct table2_opts, w.root),
	CLI_OPT_MODEL(struct table2_opts, w.model),
	{.name = "bandwidth", .kind = CLI_DOUBLE, F(bandwidth_bps), .lo = 1, .hi = 1e12,
	 .arg = "BPS", .help = "uplink bandwidth in bit/s (the seed's 1 Mbit/s)"},
	{.name = "max-loss", .kind = CLI_DOUBLE, F(max_loss), .lo = 0, .hi = 1, .arg = "X",
	 .help = "accuracy the link's quantization may cost a method against its\n"
		 "exit's own fp32 (a variant's own loss is its row's)"},
	{.name = "bits", .kind = CLI_CUSTOM, F(mask), .parse = cp_parse_bits, .show = cp_show_bits,
	 .arg = "LIST", .help = "allowed bits, e.g. 8 or 4,8"},
	{.name = "min-partition", .kind = CLI_INT, F(min_partition), .lo = 0, .hi = 1000, .arg = "P",
	 .help = "split-only cuts at partition P or later: 1 keeps a part of the\n"
		 "network on the device and never sends the input, as the seed's\n"
		 "Only Splitting does"},
};
#undef F

static const struct cli_prog table2_prog = {
	.name = CP_PROG " table2",
	.head = "usage: " CP_PROG " table2 [--bandwidth BPS] [--devices LIST] [options]\n"
		"Seed 003's Table 2 on the cost model: per device class, the end-to-end latency\n"
		"(device + transmit + server, batch 1, no queue or RTT) and accuracy of\n"
		"split-only, pruning, codec and both, each at its fastest action within the\n"
		"accuracy loss; JSON {\"rows\": [...]} on stdout.\n\n",
	.opts = table2_table, .n_opts = CLI_N(table2_table), .size = sizeof(struct table2_opts)};

static const char *const method_name[CR_VARIANT_COUNT] = {"split-only", "pruning", "codec",
							  "both"};

static cJSON *row_json(const struct cost_model *cm, const struct cf_action *a,
		       const struct cost_estimate *c, int variant, double split_ms)
{
	const struct cost_exit *x = &cm->ex[a->exit];
	const double fp32 = cm->ex[cm->n_plain - 1].fp32_accuracy;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", cm->model);
	cJSON_AddStringToObject(o, "device", cm->device);
	cJSON_AddStringToObject(o, "method", method_name[variant]);
	cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
	cJSON_AddNumberToObject(o, "accuracy", c->accuracy);
	cJSON_AddNumberToObject(o, "accuracy_loss", fp32 - c->accuracy);
	if (split_ms > 0)
		cJSON_AddNumberToObject(o, "reduction_vs_split_only", 1 - c->latency_ms / split_ms);
	cJSON_AddNumberToObject(o, "device_ms", c->dev_ms + c->encode_ms);
	cJSON_AddNumberToObject(o, "transmit_ms", c->tx_ms + c->net_ms);
	cJSON_AddNumberToObject(o, "server_ms", c->edge_ms + c->decode_ms);
	cJSON_AddNumberToObject(o, "exit", a->exit + 1);
	cJSON_AddNumberToObject(o, "partition", a->partition);
	cJSON_AddStringToObject(o, "sent", a->partition == x->n ? "nothing" : x->layer[a->partition]);
	cJSON_AddNumberToObject(o, "bits", a->bits);
	cJSON_AddNumberToObject(o, "bytes", c->bytes);
	return o;
}

/* The rows of one device class into rows; 0, or the exit status. */
static int device_rows(struct table2_opts *o, const char *device, cJSON *rows)
{
	struct cr_model *m = NULL;
	struct cost_model *cm = NULL;
	const struct cost_state s = {.bandwidth_bps = o->bandwidth_bps, .batch = 1, .load = 1};
	double split_ms = 0;
	o->w.device = device;
	int ret = cp_cost_load(&o->w, &m, &cm);
	for (int v = 0; !ret && v < CR_VARIANT_COUNT; v++) {
		struct cf_action a;
		struct cost_estimate c;
		int r = cost_search_method(cm, &s, v, o->max_loss, o->mask,
					   v ? 0 : o->min_partition, &a);
		if (r == -ENOENT) {
			fprintf(stderr, CP_PROG ": %s: no %s variant of exit %d: no %s row\n",
				cm->model, cr_variant_name((enum cr_variant)v), cm->n_plain,
				method_name[v]);
			continue;
		}
		if (r || cost_eval(cm, &s, &a, &c)) {
			fprintf(stderr, CP_PROG ": %s on %s: the search failed\n", method_name[v],
				device);
			ret = 1;
			break;
		}
		split_ms = v ? split_ms : c.latency_ms;
		cJSON_AddItemToArray(rows, row_json(cm, &a, &c, v, v ? split_ms : 0));
	}
	free(cm);
	cr_model_free(m);
	return ret;
}

int cmd_table2(int argc, char **argv)
{
	struct table2_opts o = {.w = cp_world_defaults(), .devices = "rpi3-edgent,pi4-est",
				.bandwidth_bps = 1e6, .max_loss = 0.01, .mask = CF_ACTION_BITS_ALL};
	char list[256];
	int ret = cli_args(&table2_prog, &o, argc, argv);
	if (ret != CLI_GO)
		return ret;
	ret = 0;
	if (snprintf(list, sizeof(list), "%s", o.devices) >= (int)sizeof(list) || !*list) {
		fprintf(stderr, CP_PROG " table2: --devices: give 1 to a few class names\n");
		return 2;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "bandwidth_bps", o.bandwidth_bps);
	cJSON_AddNumberToObject(out, "max_loss", o.max_loss);
	cJSON_AddStringToObject(out, "edge", o.w.edge);
	cJSON *rows = cJSON_AddArrayToObject(out, "rows");
	char *save = NULL;
	for (char *d = strtok_r(list, ",", &save); d && !ret; d = strtok_r(NULL, ",", &save))
		ret = device_rows(&o, d, rows);
	if (!ret)
		ret = cp_print_json(out);
	cJSON_Delete(out);
	return ret;
}
