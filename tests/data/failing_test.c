// SPDX-License-Identifier: GPL-2.0
/*
 * A deliberately failing in-guest test: one pass, one failure, one skip and
 * one expected failure, so the end-to-end tests can check that every status
 * reaches JUnit as it should. It really splices; the failing case expects
 * more bytes than the file has.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "kselftest_harness.h"

static ssize_t splice_file_of(size_t size)
{
	char path[] = "/tmp/wb-failing.XXXXXX";
	int fd = mkstemp(path), p[2];
	ssize_t n;

	if (fd < 0 || pipe(p))
		return -1;
	unlink(path);
	if (ftruncate(fd, size))
		return -1;
	n = splice(fd, NULL, p[1], NULL, 65536, 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	return n;
}

TEST(splice_passes)
{
	ASSERT_EQ(4096, splice_file_of(4096));
}

TEST(splice_fails_on_purpose)
{
	TH_LOG("expecting 8192 bytes from a 4096-byte file: this must fail");
	ASSERT_EQ(8192, splice_file_of(4096));
}

TEST(skips_on_purpose)
{
	SKIP(return, "nothing to do here");
}

FIXTURE(expected) {
	int unused;
};

FIXTURE_SETUP(expected) {}
FIXTURE_TEARDOWN(expected) {}

FIXTURE_VARIANT(expected) {
	int want;
};

FIXTURE_VARIANT_ADD(expected, known_bug) {
	.want = 1,
};

TEST_F(expected, fails_as_expected)
{
	ASSERT_EQ(variant->want, 2);
}

XFAIL_ADD(expected, known_bug, fails_as_expected);

TEST_HARNESS_MAIN
