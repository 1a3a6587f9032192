/* Running gnuplot: for each plot a data file and a script are written into the
 * output folder, so that a reader can redraw or restyle one by hand (gnuplot
 * NAME.gp in that folder), then gnuplot runs the script there (pngcairo). Names
 * from the inputs reach gnuplot only inside single-quoted strings (quotes
 * doubled, control characters blanked) with enhanced text off, so that a name
 * can become neither a command nor markup. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coinfer/errmsg.h"
#include "rp.h"

const char *const rp_colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* s as a gnuplot single-quoted string. */
void rp_gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; s && *s; s++) {
		if (*s == '\'')
			fputs("''", f);
		else
			fputc((unsigned char)*s < ' ' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

FILE *rp_gp_open(const struct rp_plot *pl, const char *prefix, const char *name,
		     char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s%s", pl->dir, prefix, name);
	FILE *f = fopen(path, "w");
	if (!f)
		cf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	return f;
}

int rp_gp_close(FILE *f, const struct rp_plot *pl, const char *name, char *err,
			 size_t errlen)
{
	if (ferror(f) | fclose(f))
		return cf_fail(-EIO, err, errlen, "%s/%s: write failed", pl->dir, name);
	return 0;
}

/* The script's start: the terminal, the output PNG, plain (not enhanced) text. */
void rp_gp_head(FILE *f, const char *png, int w, int h)
{
	fprintf(f, "set terminal pngcairo size %d,%d font 'Sans,11' noenhanced\n", w, h);
	fprintf(f, "set output '%s'\nset grid lc rgb '#dddddd'\nset border lc rgb '#555555'\n",
		png);
}

int rp_gnuplot_run(const struct rp_plot *pl, const char *script, char *err, size_t errlen)
{
	int st;
	pid_t pid = fork();
	if (pid < 0)
		return cf_fail(-errno, err, errlen, "fork: %s", strerror(errno));
	if (!pid) {
		if (chdir(pl->dir))
			_exit(126);
		execlp(pl->gnuplot, pl->gnuplot, script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return cf_fail(-errno, err, errlen, "waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return cf_fail(-ENOENT, err, errlen,
			       "%s not found (Debian: gnuplot-nox; or --no-plots)", pl->gnuplot);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return cf_fail(-EIO, err, errlen, "%s %s/%s failed (its message is above)",
			       pl->gnuplot, pl->dir, script);
	return 0;
}

/* Writes the script text already in f (closed here), runs it and adds the PNG. */
int rp_gp_draw(struct rp_doc *d, const struct rp_plot *pl, FILE *f, const char *prefix,
		const char *name, const char *caption, char *err, size_t errlen)
{
	char gp[512], png[512];
	snprintf(gp, sizeof(gp), "%s%s.gp", prefix, name);
	snprintf(png, sizeof(png), "%s%s.png", prefix, name);
	int ret = rp_gp_close(f, pl, gp, err, errlen);
	if (!ret)
		ret = rp_gnuplot_run(pl, gp, err, errlen);
	if (!ret)
		ret = rp_figure(d, png, caption, err, errlen);
	return ret;
}

