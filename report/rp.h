/* coinfer-report's parts (private to report/): the inputs (fleet run JSON,
 * docs/fleet-json.md, and benchmark JSON), one document written at once as
 * self-contained HTML and as Markdown, the gnuplot plots, the tables. */
#ifndef COINFER_REPORT_RP_H
#define COINFER_REPORT_RP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* ---- inputs ---------------------------------------------------------------------------- */

/* One file given on the command line: every JSON value in it (one document, or
 * one per line as the benchmarks may print), and whether it is a fleet run. */
struct rp_input {
	const char *path;
	cJSON **docs;
	int n_docs;
	int is_fleet;     /* docs[0] is a coinfer-fleet run, version 1 */
	uint64_t xxh64;   /* of the file's bytes, for the report's provenance table */
	size_t bytes;
};

/* Reads and parses path. 0; -EINVAL for malformed JSON (err: the file, line and
 * column where cJSON stopped), an unknown fleet version or a fleet run missing
 * a section it must have (err names the key); -errno when the file cannot be
 * read. */
int rp_input_load(struct rp_input *in, const char *path, char *err, size_t errlen);
/* The same on len bytes at text (a NUL after them), named path in messages:
 * what rp_input_load does once the file is read, and what the fuzz target calls.
 * in holds what was parsed even on error (rp_input_free it). */
int rp_input_parse(struct rp_input *in, const char *path, const char *text, size_t len,
		   char *err, size_t errlen);
void rp_input_free(struct rp_input *in);

/* Lookups that tolerate absent keys (the fleet JSON omits what it has not
 * measured): 1 and *out when key holds a number (a boolean counts as 0/1), else 0. */
int rp_num(const cJSON *obj, const char *key, double *out);
/* The string at key, or NULL. */
const char *rp_str(const cJSON *obj, const char *key);

/* ---- the document: HTML and Markdown written side by side ---------------------------- */

struct rp_doc {
	FILE *html, *md;
	const char *dir;
	int fig;          /* figures so far, for their numbers */
	int plain;        /* this table aligns no numbers (a key/value table) */
};

/* Creates DIR/report.html and DIR/report.md (DIR must exist). */
int rp_doc_open(struct rp_doc *d, const char *dir, const char *title, char *err,
		size_t errlen);
/* Finishes both files; 0 or -EIO when a write failed. */
int rp_doc_close(struct rp_doc *d, char *err, size_t errlen);
/* A heading of level 1 to 3 (text escaped). */
void rp_h(struct rp_doc *d, int level, const char *text);
/* A paragraph of plain text (escaped), printf-style. */
void rp_p(struct rp_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A table: rp_table then one rp_row per row (each ncols cells, escaped; a cell
 * that reads PASS or MISS is coloured, a number is right-aligned), rp_table_end. */
void rp_table(struct rp_doc *d, int ncols, const char *const *heads);
/* A two-column key/value table: values left-aligned, numbers or not. */
void rp_table_kv(struct rp_doc *d, const char *const *heads);
void rp_row(struct rp_doc *d, int ncols, const char *const *cells);
void rp_table_end(struct rp_doc *d);
/* A figure: the PNG DIR/file, embedded as a data URI in the HTML and linked
 * beside report.md, with a caption (escaped). 0, or -errno when it is unreadable. */
int rp_figure(struct rp_doc *d, const char *file, const char *caption, char *err,
	      size_t errlen);

/* A number as a person reads it: integers whole, else 2 to 4 significant figures. */
void rp_fmt(char *buf, size_t len, double v);
/* A fraction as a percentage with two decimals ("99.52%"). */
void rp_fmt_pct(char *buf, size_t len, double frac);

/* ---- plots (gnuplot) ------------------------------------------------------------------- */

struct rp_plot {
	const char *dir;      /* where the .gp, .dat and .png files go */
	const char *gnuplot;  /* the program to run */
};

/* The plots of one fleet run, their files prefixed with prefix ("run1-"): the
 * latency CDF, the timelines, the decisions. Each plot written is added to the
 * document as a figure; a plot whose data is absent gets a sentence instead. */
int rp_fleet_plots(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		   const char *prefix, char *err, size_t errlen);

/* One point of throughput against p99 and the series it belongs to. */
struct rp_load_point {
	double rps, p99_ms;
	int order;         /* a benchmark's points stay in the file's order (its load
			    * levels); fleet runs (order -1) are sorted by throughput */
	char series[96];
};

/* Throughput against p99 across load levels: the points (any order), sorted per
 * series by throughput. nfleet: how many came from fleet runs (one: a note). */
int rp_load_plot(struct rp_doc *d, const struct rp_plot *pl, struct rp_load_point *pts, int n,
		 int nfleet, char *err, size_t errlen);

/* Runs gnuplot on script (a file in pl->dir), in pl->dir. 0; -ENOENT when there
 * is no gnuplot; -EIO when it failed (its messages went to stderr). */
int rp_gnuplot_run(const struct rp_plot *pl, const char *script, char *err, size_t errlen);

/* The helpers of the plots (gp.c): a colour per series, */
extern const char *const rp_colours[8];
#define RP_COLOUR(i) rp_colours[(i) % 8]
/* s as a gnuplot single-quoted string, */
void rp_gp_str(FILE *f, const char *s);
/* pl->dir/prefix+name opened for writing (NULL and err on failure), */
FILE *rp_gp_open(const struct rp_plot *pl, const char *prefix, const char *name, char *err,
		 size_t errlen);
/* closed with write errors caught, */
int rp_gp_close(FILE *f, const struct rp_plot *pl, const char *name, char *err,
		size_t errlen);
/* a script's start (pngcairo, w x h pixels, into png, plain text), */
void rp_gp_head(FILE *f, const char *png, int w, int h);
/* and its end: f (the script prefix+name.gp) closed, run, prefix+name.png added
 * to the document with caption. */
int rp_gp_draw(struct rp_doc *d, const struct rp_plot *pl, FILE *f, const char *prefix,
	       const char *name, const char *caption, char *err, size_t errlen);
/* The fleet run's plots of timelines and decisions (plots-time.c). */
int rp_plot_timelines(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		      const char *prefix, char *err, size_t errlen);
int rp_plot_decisions(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		      const char *prefix, char *err, size_t errlen);

/* ---- sections -------------------------------------------------------------------------- */

/* A fleet run's tables (totals, applications, classes, groups, decisions,
 * errors and fallbacks, meta). */
void rp_fleet_tables(struct rp_doc *d, const struct rp_input *in);
/* A benchmark file: its values as tables (arrays of objects as rows). */
void rp_bench_tables(struct rp_doc *d, const struct rp_input *in, int max_rows);
/* Adds the throughput/p99 pairs that the file's objects carry to *pts (grown
 * with realloc); 0 or -ENOMEM. */
int rp_bench_load_points(const struct rp_input *in, struct rp_load_point **pts, int *n);

#endif
