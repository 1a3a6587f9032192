/* The report as one document written twice at once: report.html, self-contained
 * (inline CSS, the PNGs as base64 data URIs: one file that opens anywhere, with
 * nothing fetched from the network), and report.md with the PNGs beside it. Every
 * text that comes from the inputs is escaped here, since names in a fleet file
 * are the user's. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "rp.h"

#define PNG_MAX (64u << 20)

static const char css[] =
	"body{font-family:sans-serif;margin:24px auto;max-width:1180px;color:#222;"
	"line-height:1.4}\n"
	"h1{font-size:26px;border-bottom:2px solid #345;padding-bottom:4px}\n"
	"h2{font-size:21px;margin-top:34px;border-bottom:1px solid #bbb}\n"
	"h3{font-size:17px;margin-top:22px}\n"
	"div.t{overflow-x:auto;margin:8px 0 14px}\n"
	"table{border-collapse:collapse;font-size:13px}\n"
	"th,td{border:1px solid #ccc;padding:3px 8px;white-space:nowrap}\n"
	"th{background:#e8edf2;text-align:left;white-space:normal;vertical-align:bottom}\n"
	"tr:nth-child(even) td{background:#f7f9fb}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"table.kv td+td{white-space:normal;overflow-wrap:anywhere}\n"
	"td.pass{color:#fff;background:#2e7d32!important;font-weight:bold}\n"
	"td.miss{color:#fff;background:#c62828!important;font-weight:bold}\n"
	"figure{margin:14px 0}\n"
	"figure img{max-width:100%;border:1px solid #ddd}\n"
	"figcaption{font-size:13px;color:#555}\n";

/* Writes s into the HTML with &, <, >, " and ' as entities. */
static void html_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A header: escaped, with a break opportunity after each '.' and '_', so that
 * the long dotted names of benchmark fields wrap instead of widening the table. */
static void html_head(FILE *f, const char *s)
{
	char one[2] = "";
	for (; *s; s++) {
		one[0] = *s;
		html_esc(f, one);
		if (*s == '.' || *s == '_')
			fputs("<wbr>", f);
	}
}

/* Writes s into the Markdown: markup characters backslashed, and <, >, & as
 * entities, so that no HTML a renderer would pass through comes from a name;
 * newlines become spaces (a table row is one line). */
static void md_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else if (strchr("\\`*_[]|#!", *s))
			fprintf(f, "\\%c", *s);
		else
			fputc(*s, f);
	}
}

int rp_doc_open(struct rp_doc *d, const char *dir, const char *title, char *err,
		size_t errlen)
{
	char path[4096];
	memset(d, 0, sizeof(*d));
	d->dir = dir;
	snprintf(path, sizeof(path), "%s/report.html", dir);
	if (!(d->html = fopen(path, "w")))
		return cf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/report.md", dir);
	if (!(d->md = fopen(path, "w"))) {
		int ret = -errno;
		fclose(d->html);
		d->html = NULL;
		return cf_fail(ret, err, errlen, "%s: %s", path, strerror(-ret));
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>", d->html);
	html_esc(d->html, title);
	fprintf(d->html, "</title>\n<style>\n%s</style>\n</head><body>\n", css);
	rp_h(d, 1, title);
	return 0;
}

int rp_doc_close(struct rp_doc *d, char *err, size_t errlen)
{
	int ret = 0;
	fputs("</body></html>\n", d->html);
	if (ferror(d->html) | fclose(d->html))
		ret = cf_fail(-EIO, err, errlen, "%s/report.html: write failed", d->dir);
	if ((ferror(d->md) | fclose(d->md)) && !ret)
		ret = cf_fail(-EIO, err, errlen, "%s/report.md: write failed", d->dir);
	return ret;
}

void rp_h(struct rp_doc *d, int level, const char *text)
{
	fprintf(d->html, "<h%d>", level);
	html_esc(d->html, text);
	fprintf(d->html, "</h%d>\n", level);
	fprintf(d->md, "\n%.*s ", level, "###");
	md_esc(d->md, text);
	fputs("\n\n", d->md);
}

void rp_p(struct rp_doc *d, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fputs("<p>", d->html);
	html_esc(d->html, buf);
	fputs("</p>\n", d->html);
	md_esc(d->md, buf);
	fputs("\n\n", d->md);
}

/* A table's start; plain: a key/value table (no numbers aligned, long values
 * wrapped: a command line must not widen the page). */
static void table_open(struct rp_doc *d, int ncols, const char *const *heads, int plain)
{
	d->plain = plain;
	fprintf(d->html, "<div class=\"t\"><table%s>\n<tr>", plain ? " class=\"kv\"" : "");
	fputs("|", d->md);
	for (int i = 0; i < ncols; i++) {
		fputs("<th>", d->html);
		html_head(d->html, heads[i]);
		fputs("</th>", d->html);
		fputc(' ', d->md);
		md_esc(d->md, heads[i]);
		fputs(" |", d->md);
	}
	fputs("</tr>\n", d->html);
	fputs("\n|", d->md);
	for (int i = 0; i < ncols; i++)
		fputs("---|", d->md);
	fputc('\n', d->md);
}

void rp_table(struct rp_doc *d, int ncols, const char *const *heads)
{
	table_open(d, ncols, heads, 0);
}

void rp_table_kv(struct rp_doc *d, const char *const *heads)
{
	table_open(d, 2, heads, 1);
}

/* Whether a cell is a number rp_fmt or rp_fmt_pct wrote (right-aligned). */
static int numeric(const char *s)
{
	char *end;
	if (!*s)
		return 0;
	strtod(s, &end);
	return end != s && (!*end || !strcmp(end, "%"));
}

void rp_row(struct rp_doc *d, int ncols, const char *const *cells)
{
	fputs("<tr>", d->html);
	fputs("|", d->md);
	for (int i = 0; i < ncols; i++) {
		const char *c = cells[i] ? cells[i] : "";
		const char *cls = !strcmp(c, "PASS") ? " class=\"pass\""
				  : !strcmp(c, "MISS") ? " class=\"miss\""
				  : !d->plain && numeric(c) ? " class=\"n\""
							: "";
		fprintf(d->html, "<td%s>", cls);
		html_esc(d->html, c);
		fputs("</td>", d->html);
		fputc(' ', d->md);
		md_esc(d->md, c);
		fputs(" |", d->md);
	}
	fputs("</tr>\n", d->html);
	fputc('\n', d->md);
}

void rp_table_end(struct rp_doc *d)
{
	fputs("</table></div>\n", d->html);
	fputc('\n', d->md);
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		v |= i + 1 < n ? (unsigned)p[i + 1] << 8 : 0;
		v |= i + 2 < n ? p[i + 2] : 0;
		fputc(a[v >> 18 & 63], f);
		fputc(a[v >> 12 & 63], f);
		fputc(i + 1 < n ? a[v >> 6 & 63] : '=', f);
		fputc(i + 2 < n ? a[v & 63] : '=', f);
	}
}

int rp_figure(struct rp_doc *d, const char *file, const char *caption, char *err,
	      size_t errlen)
{
	char path[4096];
	void *png;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", d->dir, file);
	int ret = cf_read_file(path, PNG_MAX, &png, &len, err, errlen);
	if (ret)
		return ret;
	d->fig++;
	fputs("<figure><img alt=\"", d->html);
	html_esc(d->html, caption);
	fputs("\" src=\"data:image/png;base64,", d->html);
	base64(d->html, png, len);
	fprintf(d->html, "\"><figcaption>Figure %d. ", d->fig);
	html_esc(d->html, caption);
	fputs("</figcaption></figure>\n", d->html);
	fputs("![", d->md);
	md_esc(d->md, caption);
	fprintf(d->md, "](%s)\n\n*Figure %d.* ", file, d->fig);
	md_esc(d->md, caption);
	fputs("\n\n", d->md);
	free(png);
	return 0;
}

void rp_fmt(char *buf, size_t len, double v)
{
	double a = fabs(v);
	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (a < 1e15 && v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (a >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

void rp_fmt_pct(char *buf, size_t len, double frac)
{
	snprintf(buf, len, "%.2f%%", frac * 100.0);
}
