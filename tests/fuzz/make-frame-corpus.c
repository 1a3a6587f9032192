/* Writes the seed corpus of fuzz-frame: small valid frames of every codec, both
 * quantization modes, a few widths and shapes (empty, one element, odd sizes,
 * post-ReLU zeros, and two past the four-stream threshold of the Huffman codecs).
 * pred-huffman takes {C, H, W} only: its frames come from the ndim-3 shapes.
 * usage: make-frame-corpus DIR */
#include <stdio.h>
#include <stdlib.h>

#include "coinfer/codec-frame.h"

int main(int argc, char **argv)
{
	static const struct {
		int ndim;
		uint32_t d[4];
	} shapes[] = {{1, {0}},	    {1, {1}},	    {2, {3, 5}}, {3, {4, 3, 3}},
		      {4, {1, 2, 3, 7}}, {2, {1, 2048}}, {3, {3, 29, 29}}, {3, {2, 0, 4}},
		      {3, {1, 33, 31}}};
	static const int widths[] = {2, 5, 8, 13, 16};
	static float x[4096];
	static uint8_t buf[65536];
	int files = 0;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	uint64_t s = 1;
	for (int i = 0; i < 4096; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		float v = (float)(s >> 40) / 16777216.0f * 4.0f - 2.0f;
		x[i] = v < 0 ? 0 : v; /* post-ReLU */
	}
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
		for (int c = 0; c < CC_CODEC_COUNT; c++)
			for (size_t wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++)
				for (int pc = 0; pc < 2; pc++) {
					if (c <= CC_CODEC_RAW16 && (wi || pc))
						continue;
					if (c == CC_CODEC_PRED && shapes[si].ndim != 3)
						continue;
					if (c > CC_CODEC_RAW16 && (si + wi + (size_t)pc) % 2)
						continue; /* half of the grid is plenty */
					size_t len;
					char err[256], path[4096];
					if (cc_frame_encode(x, shapes[si].ndim, shapes[si].d,
							    (enum cc_codec)c, widths[wi], pc, buf,
							    sizeof(buf), &len, err, sizeof(err))) {
						fprintf(stderr, "encode: %s\n", err);
						return 1;
					}
					snprintf(path, sizeof(path), "%s/%s-s%zu-b%d%s.ccf", argv[1],
						 cc_codec_name((enum cc_codec)c), si, widths[wi],
						 pc ? "-pc" : "");
					FILE *f = fopen(path, "wb");
					if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
						fprintf(stderr, "cannot write %s\n", path);
						return 1;
					}
					files++;
				}
	printf("wrote %d frames\n", files);
	return 0;
}
