/* The corpus generators' one way to write a seed file. */
#ifndef COINFER_TESTS_FUZZ_CORPUS_FILE_H
#define COINFER_TESTS_FUZZ_CORPUS_FILE_H

#include <stdint.h>
#include <stdio.h>

/* Writes b[0..len) to dir/name and counts it in *files; 1 (said on stderr) on failure. */
static inline int corpus_put(const char *dir, const char *name, const uint8_t *b, size_t len,
			     int *files)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "cannot write %s\n", path);
		return 1;
	}
	(*files)++;
	return 0;
}

#endif
