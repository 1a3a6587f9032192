/* libFuzzer target: the configuration reader (config/yaml.c: libyaml, then
 * libcyaml's schema and the backtrace turned into FILE:LINE: KEY) on untrusted
 * bytes, as a device class file and as an SLO file: the reader must neither
 * crash, leak nor read past the text, whatever the YAML's shape; a file read
 * twice gives the same answer. Fleet files are left out: they open the files
 * they name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/devclass.h"
#include "coinfer/slo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg_class c;
	static struct cfg_slo slo[CFG_SLO_MAX];
	char err[512], err2[512];
	int n = 0;
	/* the reader takes text with its length: no NUL needed, none added */
	int r = cfg_class_parse((const char *)data, size, "fuzz.yaml", &c, err, sizeof(err));
	int r2 = cfg_class_parse((const char *)data, size, "fuzz.yaml", &c, err2, sizeof(err2));
	if (r != r2 || (r && strcmp(err, err2)))
		abort();
	cfg_slo_parse((const char *)data, size, "fuzz.yaml", slo, &n, err, sizeof(err));
	if (n < 0 || n > CFG_SLO_MAX)
		abort();
	return 0;
}
