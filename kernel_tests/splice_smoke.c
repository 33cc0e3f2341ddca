// SPDX-License-Identifier: GPL-2.0
/*
 * Smoke test of splice(2) from a file: file -> pipe -> file and
 * file -> pipe -> read(2), with the delivered bytes compared to the file.
 *
 * The file is created in $SPLICE_TEST_DIR (default /tmp), so the workbench
 * can run the same test on each filesystem under test.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define FILE_SIZE (256 * 1024 + 123)	/* several folios and a partial one */

FIXTURE(splice_file)
{
	char path[4096];
	char copy_path[4096];
	unsigned char *data;
	int fd;
	int pipefd[2];
};

FIXTURE_SETUP(splice_file)
{
	const char *dir = getenv("SPLICE_TEST_DIR");
	size_t i;

	if (!dir)
		dir = "/tmp";
	snprintf(self->path, sizeof(self->path), "%s/splice_smoke.XXXXXX", dir);
	snprintf(self->copy_path, sizeof(self->copy_path), "%s/splice_copy.XXXXXX", dir);
	self->data = malloc(FILE_SIZE);
	ASSERT_NE(NULL, self->data);
	/* A position-dependent pattern: a shifted or stale range shows. */
	for (i = 0; i < FILE_SIZE; i++)
		self->data[i] = (unsigned char)(i * 7 + i / 4096);

	self->fd = mkstemp(self->path);
	ASSERT_LE(0, self->fd) TH_LOG("mkstemp in %s: %s", dir, strerror(errno));
	ASSERT_EQ(FILE_SIZE, pwrite(self->fd, self->data, FILE_SIZE, 0));
	ASSERT_EQ(0, pipe(self->pipefd));
	/* Room for the whole file, so one splice call can move it all. */
	fcntl(self->pipefd[1], F_SETPIPE_SZ, 1024 * 1024);
}

FIXTURE_TEARDOWN(splice_file)
{
	close(self->pipefd[0]);
	close(self->pipefd[1]);
	close(self->fd);
	unlink(self->path);
	free(self->data);
}

/* Splice [off, off + len) of the file into the pipe, all of it. */
static ssize_t splice_all_in(int fd, loff_t off, int pipe_wr, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = splice(fd, &off, pipe_wr, NULL, len - done, 0);

		if (n <= 0)
			return n < 0 ? n : (ssize_t)done;
		done += n;
	}
	return done;
}

TEST_F(splice_file, to_pipe_then_read)
{
	unsigned char *got = malloc(FILE_SIZE);
	size_t done = 0;

	ASSERT_NE(NULL, got);
	ASSERT_EQ(FILE_SIZE, splice_all_in(self->fd, 0, self->pipefd[1], FILE_SIZE))
		TH_LOG("splice: %s", strerror(errno));
	while (done < FILE_SIZE) {
		ssize_t n = read(self->pipefd[0], got + done, FILE_SIZE - done);

		ASSERT_LT(0, n) TH_LOG("read from pipe: %s", strerror(errno));
		done += n;
	}
	EXPECT_EQ(0, memcmp(got, self->data, FILE_SIZE));
	free(got);
}

TEST_F(splice_file, to_pipe_then_file)
{
	unsigned char *got = malloc(FILE_SIZE);
	size_t done = 0;
	int out;

	ASSERT_NE(NULL, got);
	out = mkstemp(self->copy_path);
	ASSERT_LE(0, out) TH_LOG("mkstemp: %s", strerror(errno));
	unlink(self->copy_path);
	ASSERT_EQ(FILE_SIZE, splice_all_in(self->fd, 0, self->pipefd[1], FILE_SIZE));
	while (done < FILE_SIZE) {
		ssize_t n = splice(self->pipefd[0], NULL, out, NULL, FILE_SIZE - done, 0);

		ASSERT_LT(0, n) TH_LOG("splice to file: %s", strerror(errno));
		done += n;
	}
	ASSERT_EQ(FILE_SIZE, pread(out, got, FILE_SIZE, 0));
	EXPECT_EQ(0, memcmp(got, self->data, FILE_SIZE));
	close(out);
	free(got);
}

TEST_F(splice_file, unaligned_range)
{
	const loff_t off = 4096 - 100;
	const size_t len = 3 * 4096 + 50;
	unsigned char *got = malloc(len);
	size_t done = 0;

	ASSERT_NE(NULL, got);
	ASSERT_EQ(len, splice_all_in(self->fd, off, self->pipefd[1], len));
	while (done < len) {
		ssize_t n = read(self->pipefd[0], got + done, len - done);

		ASSERT_LT(0, n);
		done += n;
	}
	EXPECT_EQ(0, memcmp(got, self->data + off, len));
	free(got);
}

TEST_HARNESS_MAIN
