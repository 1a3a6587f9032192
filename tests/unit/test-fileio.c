/* include/coinfer/fileio.h: a whole regular file, NUL-terminated for text
 * parsers, and each refusal with its code and a message naming the file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/fileio.h"

static char err[512];
static char path[] = "/tmp/coinfer-fileio-XXXXXX";

static void make(const char *text)
{
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

Test(fileio, whole_file)
{
	make("ar 20\n");
	void *buf;
	size_t len;
	cr_assert_eq(cf_read_file(path, 6, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 6);
	cr_expect_eq(memcmp(buf, "ar 20\n", 6), 0);
	free(buf);
	unlink(path);
}

Test(fileio, text_has_a_nul_after_it)
{
	make("ar 20\n");
	char *text;
	size_t len;
	cr_assert_eq(cf_read_text(path, 6, &text, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 6);
	cr_expect_str_eq(text, "ar 20\n");
	free(text);
	unlink(path);
}

Test(fileio, empty_file_is_an_empty_string)
{
	make("");
	char *text;
	size_t len = 1;
	cr_assert_eq(cf_read_text(path, 0, &text, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 0);
	cr_expect_str_eq(text, "");
	free(text);
	void *buf;
	cr_assert_eq(cf_read_file(path, 0, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 0);
	cr_expect_not_null(buf);
	free(buf);
	unlink(path);
}

Test(fileio, refusals_name_the_file)
{
	void *buf = (void *)1;
	size_t len;
	make("0123456789");
	cr_expect_eq(cf_read_file(path, 9, &buf, &len, err, sizeof(err)), -EFBIG);
	cr_expect(strstr(err, path) && strstr(err, "larger than 9 bytes"), "%s", err);
	cr_expect_null(buf);
	unlink(path);
	cr_expect_eq(cf_read_file(path, 9, &buf, &len, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, path), "%s", err);
	cr_expect_eq(cf_read_file("/tmp", 9, &buf, &len, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "/tmp: not a regular file"), "%s", err);
	cr_expect_eq(cf_read_file("/tmp", 9, &buf, &len, NULL, 0), -EINVAL);
}
