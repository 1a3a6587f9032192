/* Replays files through a libFuzzer entry point without libFuzzer, so the
 * committed corpus runs in every build (and under the sanitize setup). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input in a buffer of its own size, so that a sanitizer sees a read past it. */
static int run_file(const char *path)
{
	void *b;
	size_t n;
	char err[512];
	if (cf_read_file(path, 1u << 30, &b, &n, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	LLVMFuzzerTestOneInput(b, n);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			if (run_file(argv[i])) {
				fprintf(stderr, "cannot read %s\n", argv[i]);
				return 1;
			}
			files++;
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			if (run_file(p)) {
				fprintf(stderr, "cannot read %s\n", p);
				return 1;
			}
			files++;
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", files);
	return files ? 0 : 1;
}
