/* The table-driven option parser and its usage text (design in cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"

#define HELP_AT_MOST 24 /* a longer option puts its help on the next line */
#define LINE_AT_MOST 90

/* getopt_long's values: option i is V_FIRST + 2i, its --no- form V_FIRST + 2i + 1 */
enum { V_HELP = 1, V_FIRST = 256 };

struct longopts {
	struct option lo[2 * CLI_MAX_OPTS + 2];
	char no[CLI_MAX_OPTS][64]; /* "no-NAME" */
	char shorts[2 * CLI_MAX_OPTS + 4];
};

static int build(const struct cli_prog *p, struct longopts *L, char *err, size_t errlen)
{
	char *sh = L->shorts;
	int n = 0;
	if (p->n_opts > CLI_MAX_OPTS)
		return cf_fail(-E2BIG, err, errlen, "%d options: at most %d", p->n_opts,
			       CLI_MAX_OPTS);
	*sh++ = ':'; /* a missing value is ':', not '?' */
	for (int i = 0; i < p->n_opts; i++) {
		const struct cli_opt *o = &p->opts[i];
		int has_arg = o->kind == CLI_FLAG ? no_argument : required_argument;
		if (o->kind == CLI_TEXT)
			continue;
		L->lo[n++] = (struct option){o->name, has_arg, NULL, V_FIRST + 2 * i};
		if (o->negatable) {
			snprintf(L->no[i], sizeof(L->no[i]), "no-%s", o->name);
			L->lo[n++] = (struct option){L->no[i], no_argument, NULL,
						     V_FIRST + 2 * i + 1};
		}
		if (o->short_name) {
			*sh++ = o->short_name;
			if (has_arg)
				*sh++ = ':';
		}
	}
	L->lo[n++] = (struct option){"help", no_argument, NULL, V_HELP};
	L->lo[n] = (struct option){0, 0, 0, 0};
	*sh++ = 'h';
	*sh = 0;
	return 0;
}

/* The table's index of what getopt_long returned (-1: none), and whether it was
 * the --no- form. */
static int opt_index(const struct cli_prog *p, int ch, int *neg)
{
	*neg = 0;
	if (ch >= V_FIRST) {
		*neg = (ch - V_FIRST) & 1;
		return (ch - V_FIRST) / 2;
	}
	for (int i = 0; i < p->n_opts; i++)
		if (p->opts[i].kind != CLI_TEXT && p->opts[i].short_name == ch)
			return i;
	return -1;
}

/* ---- one value ------------------------------------------------------------------------ */

static int set_int(void *field, size_t size, long long v)
{
	if (size == sizeof(int32_t)) {
		int32_t x = (int32_t)v;
		memcpy(field, &x, sizeof(x));
	} else if (size == sizeof(int64_t)) {
		int64_t x = v;
		memcpy(field, &x, sizeof(x));
	} else {
		return -EINVAL;
	}
	return 0;
}

static long long get_int(const void *field, size_t size)
{
	int32_t a;
	int64_t b;
	if (size == sizeof(a))
		return memcpy(&a, field, sizeof(a)), a;
	return memcpy(&b, field, sizeof(b)), b;
}

static int set_choice(const struct cli_opt *o, const char *arg, int *field, char *err,
		      size_t errlen)
{
	char names[256] = "";
	size_t used = 0;
	int n = 0;
	for (; o->choices[n]; n++)
		if (!strcmp(arg, o->choices[n]))
			return *field = n, 0;
	for (int i = 0; i < n && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
					 !i ? "" : i == n - 1 ? " or " : ", ", o->choices[i]);
	return cf_fail(-EINVAL, err, errlen, "--%s is %s, got '%s'", o->name, names, arg);
}

static int apply(void *opts, const struct cli_opt *o, const char *arg, int neg, int use,
		 char *err, size_t errlen)
{
	char *field = (char *)opts + o->off;
	long long v;
	int ret;
	if (o->kind == CLI_FLAG)
		arg = neg ? "false" : "true";
	if (o->parse)
		return o->parse(opts, o, arg, use, err, errlen);
	switch (o->kind) {
	case CLI_FLAG:
		*(int *)field = !neg ^ !!o->invert;
		return 0;
	case CLI_INT:
		if ((ret = cli_arg_int(o->name, arg, (long long)o->lo, (long long)o->hi, &v, err,
				       errlen)))
			return ret;
		if (set_int(field, o->size, v))
			break;
		return 0;
	case CLI_DOUBLE:
		return cli_arg_double(o->name, arg, o->lo, o->hi, (double *)field, err, errlen);
	case CLI_STRING:
		*(const char **)field = arg;
		return 0;
	case CLI_LIST:
		return cli_arg_ints(o->name, arg, (int)o->lo, (int)o->hi, (int *)field, o->max,
				    (int *)((char *)opts + o->count_off), err, errlen);
	case CLI_CHOICE:
		return set_choice(o, arg, (int *)field, err, errlen);
	case CLI_CUSTOM:
	case CLI_TEXT:
		break;
	}
	return cf_fail(-EINVAL, err, errlen, "--%s: the option table cannot store it", o->name);
}

/* ---- the command line ----------------------------------------------------------------- */

/* What a '?' from getopt_long was: an unknown option, an abbreviation of several,
 * or a value given to a flag. */
static int bad_option(const struct cli_prog *p, const struct longopts *L, const char *word,
		      char *err, size_t errlen)
{
	char names[256] = "";
	size_t used = 0, len;
	int neg, i, n = 0;
	if (optopt == V_HELP)
		return cf_fail(-EINVAL, err, errlen, "--help takes no value");
	if (optopt >= V_FIRST && (i = opt_index(p, optopt, &neg)) >= 0)
		return cf_fail(-EINVAL, err, errlen, "--%s%s takes no value", neg ? "no-" : "",
			       p->opts[i].name);
	if (optopt)
		return cf_fail(-EINVAL, err, errlen,
			       "'-%c' is not an option (%s --help lists them)", optopt, p->name);
	len = strncmp(word, "--", 2) ? 0 : strcspn(word + 2, "=");
	for (const struct option *o = L->lo; len && o->name; o++) {
		if (strncmp(o->name, word + 2, len))
			continue;
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s--%s",
						 n ? ", " : "", o->name);
		n++;
	}
	if (n > 1)
		return cf_fail(-EINVAL, err, errlen, "'%s' is ambiguous: %s", word, names);
	return cf_fail(-EINVAL, err, errlen, "'%s' is not an option (%s --help lists them)", word,
		       p->name);
}

static int missing_value(const struct cli_prog *p, char *err, size_t errlen)
{
	int neg, i = opt_index(p, optopt, &neg);
	if (i < 0)
		return cf_fail(-EINVAL, err, errlen, "an option needs a value");
	if (optopt < V_FIRST)
		return cf_fail(-EINVAL, err, errlen, "-%c needs a value", optopt);
	return cf_fail(-EINVAL, err, errlen, "--%s needs a value", p->opts[i].name);
}

/* One pass over argv: the early options, or every other one. */
static int pass(const struct cli_prog *p, const struct longopts *L, void *opts, int argc,
		char **argv, int early, int *uses, char *err, size_t errlen)
{
	int ch, neg, ret;
	opterr = 0;
	optind = 0; /* glibc: start over, argv[1] first */
	while ((ch = getopt_long(argc, argv, L->shorts, L->lo, NULL)) != -1) {
		int i = opt_index(p, ch, &neg);
		if (early && (i < 0 || !p->opts[i].early))
			continue; /* reported in the second pass */
		if (ch == '?')
			return bad_option(p, L, argv[optind - 1], err, errlen);
		if (ch == ':')
			return missing_value(p, err, errlen);
		if (ch == V_HELP || ch == 'h')
			return CLI_HELP;
		if (i >= 0 && p->opts[i].early == early &&
		    (ret = apply(opts, &p->opts[i], optarg, neg, uses[i]++, err, errlen)))
			return ret;
	}
	if (!early && optind < argc)
		return cf_fail(-EINVAL, err, errlen, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cli_parse(const struct cli_prog *p, void *opts, int argc, char **argv, char *err,
	      size_t errlen)
{
	struct longopts L;
	int uses[CLI_MAX_OPTS] = {0}, early = 0, ret;
	if ((ret = build(p, &L, err, errlen)))
		return ret;
	for (int i = 0; i < p->n_opts; i++)
		early |= p->opts[i].early;
	if ((early && (ret = pass(p, &L, opts, argc, argv, 1, uses, err, errlen))) ||
	    (p->early_done && (ret = p->early_done(opts, err, errlen))))
		return ret;
	return pass(p, &L, opts, argc, argv, 0, uses, err, errlen);
}

int cli_args(const struct cli_prog *p, void *opts, int argc, char **argv)
{
	char err[512];
	void *defaults = malloc(p->size ? p->size : 1);
	int ret;
	if (!defaults) {
		fprintf(stderr, "%s: out of memory\n", p->name);
		return 1;
	}
	memcpy(defaults, opts, p->size);
	ret = cli_parse(p, opts, argc, argv, err, sizeof(err));
	if (ret == CLI_HELP)
		cli_usage(p, defaults, stdout);
	else if (ret)
		fprintf(stderr, "%s: %s\n", p->name, err);
	free(defaults);
	return ret == CLI_HELP ? 0 : ret ? 2 : CLI_GO;
}

/* ---- the usage ------------------------------------------------------------------------ */

static int listed(const struct cli_opt *o)
{
	return o->kind != CLI_TEXT && o->help;
}

/* "-x, --name ARG" */
static void left_column(const struct cli_opt *o, int shorts, char *buf, size_t len)
{
	static const char *const metavar[] = {[CLI_INT] = "N", [CLI_DOUBLE] = "X",
					      [CLI_STRING] = "NAME", [CLI_LIST] = "LIST",
					      [CLI_CHOICE] = "NAME", [CLI_CUSTOM] = "ARG"};
	const char *arg = o->kind == CLI_FLAG ? NULL : o->arg ? o->arg : metavar[o->kind];
	char sh[8] = "";
	if (shorts)
		snprintf(sh, sizeof(sh), o->short_name ? "-%c, " : "    ", o->short_name);
	snprintf(buf, len, "%s--%s%s%s%s", sh, o->negatable ? "[no-]" : "", o->name,
		 arg ? " " : "", arg ? arg : "");
}

/* The default as the values in d hold it ("" when there is nothing to say). */
static void default_text(const struct cli_opt *o, const void *d, char *buf, size_t len)
{
	const char *f = (const char *)d + o->off, *s;
	size_t used = 0;
	int n;
	buf[0] = 0;
	if (o->dflt || o->show) {
		if (o->dflt)
			snprintf(buf, len, "%s", o->dflt);
		else
			o->show(d, o, buf, len);
		return;
	}
	switch (o->kind) {
	case CLI_FLAG:
		if (o->negatable)
			snprintf(buf, len, "%s", *(const int *)f ^ !!o->invert ? "on" : "off");
		break;
	case CLI_INT: snprintf(buf, len, "%lld", get_int(f, o->size)); break;
	case CLI_DOUBLE: snprintf(buf, len, "%g", *(const double *)f); break;
	case CLI_STRING:
		if ((s = *(const char *const *)f))
			snprintf(buf, len, "%s", s);
		break;
	case CLI_LIST:
		n = *(const int *)((const char *)d + o->count_off);
		for (int i = 0; i < n && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : "",
						 ((const int *)f)[i]);
		break;
	case CLI_CHOICE: snprintf(buf, len, "%s", o->choices[*(const int *)f]); break;
	case CLI_CUSTOM:
	case CLI_TEXT:
		break;
	}
}

/* One option: its names, then its help from column `at`, lines continued there,
 * and its default at the end of the last line, or below it when that is full. */
static void print_opt(FILE *f, const struct cli_opt *o, const void *d, int at, int shorts)
{
	char left[96], dflt[256];
	const char *h = o->help;
	int col;
	left_column(o, shorts, left, sizeof(left));
	default_text(o, d, dflt, sizeof(dflt));
	col = fprintf(f, "  %s", left);
	if (col + 2 > at) {
		fputc('\n', f);
		col = 0;
	}
	for (;;) {
		int l = (int)strcspn(h, "\n");
		col += fprintf(f, "%*s%.*s", at - col, "", l, h);
		if (!h[l])
			break;
		fputc('\n', f);
		col = 0;
		h += l + 1;
	}
	if (*dflt && col + (int)strlen(dflt) + 12 > LINE_AT_MOST)
		fprintf(f, "\n%*s(default: %s)", at, "", dflt);
	else if (*dflt)
		fprintf(f, "%s(default: %s)", *o->help ? " " : "", dflt);
	fputc('\n', f);
}

void cli_usage(const struct cli_prog *p, const void *defaults, FILE *f)
{
	static const struct cli_opt help = {.name = "help", .short_name = 'h', .kind = CLI_FLAG,
					    .help = "this text"};
	char left[96];
	int width, shorts = 0;
	for (int i = 0; i < p->n_opts; i++)
		shorts |= listed(&p->opts[i]) && p->opts[i].short_name;
	left_column(&help, shorts, left, sizeof(left));
	width = (int)strlen(left);
	for (int i = 0; i < p->n_opts; i++) {
		if (!listed(&p->opts[i]))
			continue;
		left_column(&p->opts[i], shorts, left, sizeof(left));
		if ((int)strlen(left) > width && strlen(left) <= HELP_AT_MOST)
			width = (int)strlen(left);
	}
	fputs(p->head, f);
	for (int i = 0; i < p->n_opts; i++) {
		const struct cli_opt *o = &p->opts[i];
		if (o->kind == CLI_TEXT)
			fprintf(f, "%s\n", o->help);
		else if (o->help)
			print_opt(f, o, defaults, 2 + width + 2, shorts);
	}
	print_opt(f, &help, defaults, 2 + width + 2, shorts);
	if (p->tail)
		fputs(p->tail, f);
}
