/* The hex dumps of docs/protocol.md ("Sample messages", and ```hex-dgram
 * blocks: "Sample datagrams") are the messages and datagrams its prose
 * describes (doc-samples.h): each block decodes, re-encodes to the same bytes,
 * and equals the encoding of the described values; the INFER's frame is a
 * valid codec frame holding the stated tensor. Read from the source tree at
 * test time, so the document cannot drift from the code. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc-samples.h"

#define MAX_BYTES 4096

struct block {
	uint8_t b[MAX_BYTES];
	size_t n;
};

/* One "OFFSET  xx xx ..." line: the offset must be where the block stands. */
static void parse_line(const char *line, struct block *blk, int lineno)
{
	char *end;
	unsigned long off = strtoul(line, &end, 16);
	cr_assert(end != line && off == blk->n, "protocol.md:%d: offset %lx, %zu bytes so far",
		  lineno, off, blk->n);
	for (const char *p = end; *p;) {
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		cr_assert(isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1]) &&
				  (!p[2] || isspace((unsigned char)p[2])),
			  "protocol.md:%d: '%s' is not a hex byte", lineno, p);
		cr_assert_lt(blk->n, MAX_BYTES);
		blk->b[blk->n++] = (uint8_t)strtoul((char[3]){p[0], p[1], 0}, NULL, 16);
		p += 2;
	}
}

/* The blocks fenced ```<tag> of the document, in order; returns their count. */
static int read_blocks(const char *tag, struct block *out, int max)
{
	char fence[32];
	snprintf(fence, sizeof(fence), "```%s", tag);
	FILE *f = fopen(COINFER_SOURCE_ROOT "/docs/protocol.md", "r");
	cr_assert(f, "docs/protocol.md not found under " COINFER_SOURCE_ROOT);
	char line[512];
	int n = 0, in = 0, lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!in && !strcmp(line, fence)) {
			cr_assert_lt(n, max, "more hex blocks than samples");
			out[n].n = 0;
			in = 1;
		} else if (in && !strcmp(line, "```")) {
			in = 0;
			n++;
		} else if (in) {
			parse_line(line, &out[n], lineno);
		}
	}
	fclose(f);
	cr_assert(!in, "unterminated hex block");
	return n;
}

Test(wire_doc, hex_dumps_are_the_described_messages)
{
	static struct block blk[CWD_SAMPLES + 1];
	static uint8_t frame[1024], enc[MAX_BYTES];
	struct cw_msg want[CWD_SAMPLES], got;
	struct cw_limits lim = cw_limits_default();
	char err[256];
	size_t len;
	cr_assert_eq(cwd_samples(want, frame, sizeof(frame)), 0);
	cr_assert_eq(read_blocks("hex", blk, CWD_SAMPLES + 1), CWD_SAMPLES);
	for (int i = 0; i < CWD_SAMPLES; i++) {
		const char *name = cw_type_name(want[i].type);
		cr_assert_eq(cw_encode(enc, sizeof(enc), &want[i], &len, err, sizeof(err)), 0, "%s",
			     err);
		cr_assert_eq(blk[i].n, len, "%s: %zu bytes in the document, %zu encoded", name,
			     blk[i].n, len);
		for (size_t k = 0; k < len; k++)
			cr_assert_eq(blk[i].b[k], enc[k], "%s: byte %zu (0x%04zx) is %02x, encoded %02x",
				     name, k, k, blk[i].b[k], enc[k]);
		cr_assert_eq(cw_decode(blk[i].b, blk[i].n, &lim, &got, err, sizeof(err)), 0, "%s: %s",
			     name, err);
		cr_assert_eq(got.type, want[i].type);
		cr_assert_eq(got.request_id, want[i].request_id, "%s", name);
		cr_assert_eq(cw_encode(enc, sizeof(enc), &got, &len, err, sizeof(err)), 0, "%s", err);
		cr_assert(len == blk[i].n && !memcmp(enc, blk[i].b, len), "%s: re-encoding differs",
			  name);
	}
}

Test(wire_doc, the_infers_frame_holds_the_stated_tensor)
{
	static struct block blk[CWD_SAMPLES + 1];
	struct cw_msg got;
	struct cw_limits lim = cw_limits_default();
	struct cc_limits clim = {1u << 20, 1u << 20};
	struct cc_frame_info info;
	static float x[CWD_ELEMS];
	static uint8_t scratch[1 << 16];
	char err[256];
	read_blocks("hex", blk, CWD_SAMPLES + 1);
	cr_assert_eq(cw_decode(blk[2].b, blk[2].n, &lim, &got, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(got.type, CW_INFER);
	cr_assert_eq(cc_frame_decode(got.infer.frame, got.infer.frame_len, &clim, x, CWD_ELEMS,
				     scratch, sizeof(scratch), &info, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(info.codec, CC_CODEC_PACKED);
	cr_assert_eq(info.bits, got.infer.action.bits);
	cr_assert(info.ndim == 3 && info.dims[0] == CWD_ELEMS && info.dims[1] == 1 &&
		  info.dims[2] == 1);
	for (int i = 0; i < CWD_ELEMS; i++)
		cr_assert_eq(x[i], (float)(i % 4), "element %d", i);
}

Test(wire_doc, datagram_dumps_are_the_described_datagrams)
{
	static struct block blk[CWD_DGRAM_SAMPLES + 1];
	static uint8_t msgs[2][64], enc[MAX_BYTES];
	struct cw_dg want[CWD_DGRAM_SAMPLES], got;
	struct cw_dg_limits lim = {1024, CW_DG_MAX_FRAGS};
	char err[256];
	size_t len;
	cr_assert_eq(cwd_dgram_samples(want, msgs), 0);
	cr_assert_eq(read_blocks("hex-dgram", blk, CWD_DGRAM_SAMPLES + 1), CWD_DGRAM_SAMPLES);
	for (int i = 0; i < CWD_DGRAM_SAMPLES; i++) {
		cr_assert_eq(cw_dg_encode(enc, sizeof(enc), &want[i], &len, err, sizeof(err)), 0,
			     "%s", err);
		cr_assert(blk[i].n == len && !memcmp(blk[i].b, enc, len),
			  "datagram %d: the document's %zu bytes are not the %zu encoded", i,
			  blk[i].n, len);
		cr_assert_eq(cw_dg_decode(blk[i].b, blk[i].n, &lim, &got, err, sizeof(err)), 0,
			     "datagram %d: %s", i, err);
		cr_assert(got.kind == want[i].kind && got.session == want[i].session &&
				  got.msg_id == want[i].msg_id && got.index == want[i].index &&
				  got.count == want[i].count && got.msg_len == want[i].msg_len &&
				  got.payload_len == want[i].payload_len &&
				  !memcmp(got.payload, want[i].payload, got.payload_len),
			  "datagram %d", i);
	}
	/* the first is a whole PING the TCP decoder takes */
	struct cw_msg m;
	struct cw_limits tcp = cw_limits_default();
	cr_assert_eq(cw_decode(blk[0].b + CW_DG_HEADER_BYTES, blk[0].n - CW_DG_HEADER_BYTES, &tcp,
			       &m, err, sizeof(err)), 0, "%s", err);
	cr_assert(m.type == CW_PING && m.ping.nonce == 1 && m.ping.timestamp == 1000000);
}
