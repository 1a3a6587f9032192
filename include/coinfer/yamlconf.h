/* The one YAML reader of coinfer's configuration files (the appliance's
 * settings, SLO files, fleet files: docs/config.md).
 *
 * A file goes through two readers. libyaml parses it first, alone, because its
 * syntax errors carry the exact line and column, which libcyaml's backtrace
 * does not give; the document it builds is kept for the lines of keys and
 * entries a later check names. libcyaml then maps it onto the caller's schema,
 * where every value is best read as text (CYAML_STRING): libcyaml's own integer
 * reader takes "3.5" as 3, and text lets the caller check and range each value
 * with one message form, FILE:LINE: KEY: what is wrong. */
#ifndef COINFER_YAMLCONF_H
#define COINFER_YAMLCONF_H

#include <cyaml/cyaml.h>
#include <stddef.h>

struct cfg_yaml {
	const char *name; /* in messages: the path as given */
	const char *text;
	size_t len;
	void *doc;        /* libyaml's document (yaml_document_t): the positions */
};

/* Parses text (borrowed until cfg_yaml_close) as one YAML document that is
 * neither empty nor several; what names the contents in the messages
 * ("settings": "FILE: empty: no settings in it"). 0 or -EINVAL/-ENOMEM with
 * FILE:LINE:COLUMN for a syntax error. */
int cfg_yaml_open(struct cfg_yaml *y, const char *name, const char *text, size_t len,
		  const char *what, char *err, size_t errlen);
void cfg_yaml_close(struct cfg_yaml *y);

/* Maps the document onto top with libcyaml (*data: cfg_yaml_unmap). An unknown
 * key, a value of the wrong shape (a list for a value, ...), a missing required
 * field or a key given twice is -EINVAL with a message naming the file, the line
 * and the key; an unknown key near one of the schema's gets "did you mean", else
 * unknown ("not a key of an SLO file (docs/config.md)") ends the message. */
int cfg_yaml_map(const struct cfg_yaml *y, const cyaml_schema_value_t *top, void **data,
		 const char *unknown, char *err, size_t errlen);
void cfg_yaml_unmap(const cyaml_schema_value_t *top, void *data);

/* A schema field read as text (a char * member), optional unless required. */
#define CFG_YAML_TEXT(type, member, key, required)                                       \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | ((required) ? 0 : CYAML_FLAG_OPTIONAL), \
			       type, member, 0, CYAML_UNLIMITED)

/* The line (1-based) of the node at path, 0 when there is none: path is keys
 * and 0-based list indices joined by '.' ("groups.2.count"); a key's line is
 * the key's own, "" the document's. */
int cfg_yaml_line(const struct cfg_yaml *y, const char *path);
/* "FILE:LINE: KEY" (or "FILE: KEY" when path has no line) into buf, for the
 * checks of the values. */
void cfg_yaml_where(const struct cfg_yaml *y, const char *path, const char *key, char *buf,
		    size_t len);

/* Checked conversions of a value read as text, the message naming where: a
 * finite decimal number in [lo, hi], a decimal integer in [lo, hi]. -EINVAL
 * (not one) or -ERANGE. */
int cfg_yaml_number(const char *where, const char *s, double lo, double hi, double *v, char *err,
		    size_t errlen);
int cfg_yaml_integer(const char *where, const char *s, long long lo, long long hi, long long *v,
		     char *err, size_t errlen);

#endif
