/* Option arguments: integers, numbers, lists, sweeps, HOST:PORT. Each message
 * names the option, what it takes and what it got, so that a program prints it
 * behind its name and nothing else. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "coinfer/wire-faults.h"

/* strtoll and strtod take leading blanks and strtoll a '+': an option's value
 * never did. */
static int starts_number(const char *s, int sign)
{
	return isdigit((unsigned char)*s) || (sign && *s == '-' && isdigit((unsigned char)s[1]));
}

static int whole_ll(const char *s, long long *v)
{
	char *end;
	if (!starts_number(s, 1))
		return -EINVAL;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *end || errno ? -EINVAL : 0;
}

int cli_arg_int(const char *opt, const char *s, long long lo, long long hi, long long *out,
		char *err, size_t errlen)
{
	long long v;
	if (whole_ll(s, &v) || v < lo || v > hi)
		return cf_fail(-EINVAL, err, errlen,
			       "--%s needs an integer in [%lld, %lld], got '%s'", opt, lo, hi, s);
	*out = v;
	return 0;
}

int cli_arg_uint(const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
		 unsigned long long *out, char *err, size_t errlen)
{
	char *end;
	unsigned long long v = 0;
	int bad = !starts_number(s, 0);
	if (!bad) {
		errno = 0;
		v = strtoull(s, &end, 10);
		bad = *end || errno;
	}
	if (bad || v < lo || v > hi)
		return cf_fail(-EINVAL, err, errlen,
			       "--%s needs an integer in [%llu, %llu], got '%s'", opt, lo, hi, s);
	*out = v;
	return 0;
}

int cli_arg_double(const char *opt, const char *s, double lo, double hi, double *out, char *err,
		   size_t errlen)
{
	char *end;
	double v = 0;
	int bad = !*s || isspace((unsigned char)*s);
	if (!bad) {
		errno = 0;
		v = strtod(s, &end);
		bad = *end || errno || !isfinite(v);
	}
	if (bad || !(v >= lo && v <= hi))
		return cf_fail(-EINVAL, err, errlen, "--%s needs a number in [%g, %g], got '%s'",
			       opt, lo, hi, s);
	*out = v;
	return 0;
}

int cli_arg_ints(const char *opt, const char *s, int lo, int hi, int *out, int max, int *n,
		 char *err, size_t errlen)
{
	const char *p = s;
	int k = 0;
	for (;;) {
		char item[32];
		size_t len = strcspn(p, ",");
		long long v;
		if (k == max || len >= sizeof(item))
			break;
		memcpy(item, p, len);
		item[len] = 0;
		if (whole_ll(item, &v) || v < lo || v > hi)
			break;
		out[k++] = (int)v;
		if (!p[len]) {
			*n = k;
			return 0;
		}
		p += len + 1;
	}
	return cf_fail(-EINVAL, err, errlen, "--%s takes 1 to %d comma-separated integers in "
			      "[%d, %d], got '%s'", opt, max, lo, hi, s);
}

int cli_arg_sweep(const char *opt, const char *s, double lo, double hi, int max_count,
		  double *from, double *to, int *count, char *err, size_t errlen)
{
	char buf[128], *p1, *p2;
	double a = 0, b = 0;
	long long c = 0;
	if ((size_t)snprintf(buf, sizeof(buf), "%s", s) >= sizeof(buf) ||
	    !(p1 = strchr(buf, ':')) || !(p2 = strchr(p1 + 1, ':')))
		goto bad;
	*p1 = *p2 = 0;
	if (cli_arg_double(opt, buf, lo, hi, &a, NULL, 0) ||
	    cli_arg_double(opt, p1 + 1, lo, hi, &b, NULL, 0) ||
	    cli_arg_int(opt, p2 + 1, 1, max_count, &c, NULL, 0))
		goto bad;
	*from = a, *to = b, *count = (int)c;
	return 0;
bad:
	return cf_fail(-EINVAL, err, errlen, "--%s takes FROM:TO:COUNT, got '%s'", opt, s);
}

int cli_arg_hostport(const char *opt, const char *s, char *host, size_t hostlen, int *port,
		     char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':'), *name = s;
	long long p;
	size_t len = colon ? (size_t)(colon - s) : 0;
	if (len > 2 && s[0] == '[' && s[len - 1] == ']') /* [v6]:port */
		name++, len -= 2;
	if (!len || len >= hostlen || whole_ll(colon + 1, &p) || p < 1 || p > 65535)
		return cf_fail(-EINVAL, err, errlen,
			       "--%s needs HOST:PORT with PORT in [1, 65535], got '%s'", opt, s);
	memcpy(host, name, len);
	host[len] = 0;
	*port = (int)p;
	return 0;
}

/* One "key=value" of --faults into c; have marks the keys seen. */
static int fault_item(char *item, struct cw_fault_config *c, unsigned *have)
{
	static const char *const keys[] = {"drop", "dup", "reorder", "seed"};
	double *probs[] = {&c->drop, &c->dup, &c->reorder};
	char *eq = strchr(item, '=');
	unsigned long long seed;
	if (!eq)
		return -EINVAL;
	*eq = 0;
	for (unsigned k = 0; k < 4; k++) {
		if (strcmp(item, keys[k]) || (*have & (1u << k)))
			continue;
		*have |= 1u << k;
		if (k == 3) {
			if (cli_arg_uint("faults", eq + 1, 0, UINT64_MAX, &seed, NULL, 0))
				return -EINVAL;
			c->seed = seed;
			return 0;
		}
		return cli_arg_double("faults", eq + 1, 0, 1, probs[k], NULL, 0);
	}
	return -EINVAL; /* unknown or repeated */
}

int cli_arg_faults(const char *opt, const char *s, struct cw_fault_config *c, char *err,
		   size_t errlen)
{
	char buf[160], *save = NULL;
	unsigned have = 0;
	memset(c, 0, sizeof(*c));
	if ((size_t)snprintf(buf, sizeof(buf), "%s", s) >= sizeof(buf) || !*buf)
		goto bad;
	for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save))
		if (fault_item(it, c, &have))
			goto bad;
	return 0;
bad:
	return cf_fail(-EINVAL, err, errlen,
		       "--%s takes drop=P,dup=P,reorder=P,seed=N (each at most once, P in [0, 1]), "
		       "got '%s'", opt, s);
}
