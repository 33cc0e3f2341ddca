// SPDX-License-Identifier: GPL-2.0
/*
 * What the consumer of a pipe gets when the file spliced into it changes.
 *
 * For every cell of the matrix
 *
 *   mode (plain splice, SPLICE_F_STABLE)
 *   x consumer (read(2) on the pipe, splice to a file, to a TCP loopback
 *     socket, to a unix socket, to /dev/null)
 *   x mutation of the spliced range (write, partial pwrite, truncate, punch
 *     hole, O_DIRECT write, stores through a shared mapping made before or
 *     after the splice, a write from another process)
 *   x timing (before the consumer confirms the buffers, after it consumed
 *     half of them, after it confirmed all of them)
 *
 * a 64 KiB file is spliced into a pipe, changed, and what the consumer
 * delivered is classified against the file as it was at splice time (OLD)
 * and as it is after the change (NEW):
 *
 *   OLD     every byte is what the file held at splice time
 *   NEW     every byte is what the file holds now
 *   TORN    a mix of both, or bytes the file never held
 *   ESTALE  the consumer failed with ESTALE; everything it delivered before
 *           was OLD and splicing the rest again delivered the file as it is
 *   SHORT   fewer bytes than were spliced, without an error
 *   UNSEEN  /dev/null: the bytes cannot be looked at
 *
 * Plain splice passes page cache pages by reference, so NEW or TORN is the
 * expected outcome there: the case passes when the problem reproduces.  With
 * SPLICE_F_STABLE a change made before the confirm must give OLD or ESTALE,
 * and a change after it OLD: a socket receiver that reads late still gets
 * the data of the time of the splice.
 *
 * Reproducers of problems found by the random tester (splice_fuzz), with
 * the flag only: a socket as the source, and the data of other producers
 * of the pipe when a stable buffer goes stale (stable.repro.*).  And one of
 * what pipes did before the flag, plain.repro.*: a splice that waits for its
 * source holds the pipe lock, and O_NONBLOCK readers of the pipe wait too.
 *
 * Two more tests per mode: a differential check (random sizes, offsets and
 * pipe sizes; with nothing changing the file, splice must deliver what
 * pread() reads; --seed replays a run) and a stress test (a writer rewrites
 * the file while the test splices and reads, checking every word against
 * the generations the writer had started and finished).
 *
 * Each case runs in a child process with a timeout.  Before it starts, a
 * "splice_integrity: begin case NAME" line goes to /dev/kmsg (when writable)
 * so that a kernel report in the log can be tied to the case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/falloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "splice_util.h"

/* Not in the uapi headers of older kernels. */
#ifndef SPLICE_F_STABLE
#define SPLICE_F_STABLE		0x10
#endif

#define FILE_SIZE		(64 * 1024)	/* the default pipe capacity */
#define PAGE_SIZE_ASSUMED	4096
#define MAX_STALE		16
#define AFTER_CONFIRM_RUNS	4	/* repeats of a socket's open window */
#define CASE_TIMEOUT_MS		60000
#define DIFF_MAX_SIZE		(1024 * 1024)
#define STRESS_SIZE		(256 * 1024)
#define STRESS_MAX_CHUNK	(64 * 1024)

enum mode { PLAIN, STABLE, NR_MODES };
enum consumer { C_READ, C_FILE, C_TCP, C_UNIX, C_DEVNULL, NR_CONSUMERS };
enum mutation {
	M_WRITE, M_PWRITE_PARTIAL, M_TRUNCATE, M_PUNCH_HOLE, M_ODIRECT,
	M_MMAP_BEFORE, M_MMAP_AFTER, M_OTHER_PROCESS, NR_MUTATIONS
};

enum timing { T_BEFORE_CONFIRM, T_DURING, T_AFTER_CONFIRM, NR_TIMINGS };
enum verdict { V_OLD, V_NEW, V_TORN, V_ESTALE, V_SHORT, V_UNSEEN, NR_VERDICTS };

static const char * const mode_names[] = { "plain", "stable" };
static const char * const consumer_names[] = {
	"read", "file", "tcp", "unix", "devnull"
};

static const char * const mutation_names[] = {
	"write", "pwrite_partial", "truncate", "punch_hole", "odirect",
	"mmap_before", "mmap_after", "other_process"
};

static const char * const timing_names[] = {
	"before_confirm", "during", "after_confirm"
};

static const char * const verdict_names[] = {
	"OLD", "NEW", "TORN", "ESTALE", "SHORT", "UNSEEN"
};

#define BIT(v)	(1u << (v))

struct config {
	char dir[PATH_MAX - 64];	/* leaves room for file names */
	char fs[64];
	bool by_reference;	/* plain splice passes page cache pages */
	bool stable;		/* the kernel accepts SPLICE_F_STABLE */
	unsigned long long seed;
	int iterations;
	int stress_seconds;
	const char *filter;
};

static struct config cfg;

/* What a case reports to the parent. */
struct outcome {
	int code;		/* KSFT_PASS, KSFT_FAIL or KSFT_SKIP */
	char msg[512];
};

static __printf(3, 4) void set_outcome(struct outcome *out, int code, const char *fmt, ...)
{
	va_list ap;

	out->code = code;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
}

static unsigned int splice_flags(enum mode mode)
{
	return mode == STABLE ? SPLICE_F_STABLE : 0;
}

/* Contents of generation @gen of the file at offset @off: every byte differs
 * between generations 0 and 1.
 */
static unsigned char pattern(size_t off, unsigned int gen)
{
	return (off * 7 + off / 4096 + gen * 101 + 1) & 0xff;
}

static void fill(unsigned char *buf, size_t off, size_t len, unsigned int gen)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(off + i, gen);
}

static int make_file(char *path, const char *tag)
{
	snprintf(path, PATH_MAX, "%s/splice_integrity.%s.XXXXXX", cfg.dir, tag);
	return mkstemp(path);
}

static uint64_t rng_next(uint64_t *state)
{
	/* xorshift64*: small, and the same sequence on every machine */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

static size_t pipe_bytes(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n))
		return (size_t)-1;
	return n;
}

/* The file system type and mount options of @dir, from mountinfo: statfs()
 * on 9p reports the type of the file system it exports.
 */
static void detect_fs(const char *dir, char *fs, size_t fs_len, bool *by_ref)
{
	char opts[1024];

	*by_ref = false;
	if (mount_of(dir, fs, fs_len, opts, sizeof(opts)))
		return;
	if (!strcmp(fs, "tmpfs") || !strcmp(fs, "ext4") ||
	    !strcmp(fs, "xfs") || !strcmp(fs, "btrfs")) {
		*by_ref = true;
	} else if (!strcmp(fs, "9p")) {
		/* 9p splices the page cache only when it caches file data */
		char *c = strstr(opts, "cache=");

		*by_ref = c && (strtoul(c + 6, NULL, 0) & 0x1);
	}
}

/* 1: the kernel accepts SPLICE_F_STABLE, 0: it says EINVAL, -1: error */
static int probe_stable(void)
{
	char path[PATH_MAX], buf[4096];
	int p[2], fd, ret = -1;
	ssize_t n;

	fd = make_file(path, "probe");
	if (fd < 0)
		return -1;
	fill((unsigned char *)buf, 0, sizeof(buf), 0);
	if (pwrite(fd, buf, sizeof(buf), 0) == sizeof(buf) && !pipe(p)) {
		n = splice(fd, NULL, p[1], NULL, sizeof(buf), SPLICE_F_STABLE);
		if (n > 0)
			ret = 1;
		else if (n < 0 && errno == EINVAL)
			ret = 0;
		close(p[0]);
		close(p[1]);
	}
	close(fd);
	unlink(path);
	return ret;
}

/* ---- the matrix --------------------------------------------------------- */

struct cell {
	enum mode mode;
	enum consumer consumer;
	enum mutation mutation;
	enum timing timing;
};

/* One run of a cell: the file, the pipe and the consumer's ends. */
struct trial {
	const struct cell *cell;
	char path[PATH_MAX];
	char out_path[PATH_MAX];
	int fd, dio_fd, sink, source;
	int pipe[2];
	loff_t out_off;
	unsigned char *map;
	unsigned char old[FILE_SIZE];	/* the file at splice time */
	unsigned char new[FILE_SIZE];	/* the file after the mutation */
	unsigned char got[FILE_SIZE];	/* what the consumer delivered */
	unsigned char now[FILE_SIZE];	/* the file at the end */
	size_t now_len;
	size_t delivered;
	size_t stale_at;		/* delivered count at the first ESTALE */
	int stale;
};

static bool socket_consumer(enum consumer c)
{
	return c == C_TCP || c == C_UNIX;
}

static bool sees_data(enum consumer c)
{
	return c != C_DEVNULL;
}

/*
 * An O_DIRECT write or a punched hole may drop the cached pages of the range
 * (XFS drops whole pages around a hole) instead of changing them, and the
 * pipe keeps the old ones; O_DIRECT may also fall back to a buffered write.
 */
static bool may_drop_pages(enum mutation m)
{
	return m == M_ODIRECT || m == M_PUNCH_HOLE;
}

/* The outcomes a cell passes with; see the comment at the top. */
static unsigned int expected(const struct cell *c)
{
	if (c->timing == T_AFTER_CONFIRM) {
		if (c->consumer == C_DEVNULL)
			return BIT(V_UNSEEN);
		/* Copied already, or (sockets, with the flag) copied for them */
		if (!socket_consumer(c->consumer) || c->mode == STABLE)
			return BIT(V_OLD);
		if (!cfg.by_reference || may_drop_pages(c->mutation))
			return BIT(V_OLD) | BIT(V_NEW) | BIT(V_TORN);
		return BIT(V_NEW) | BIT(V_TORN);
	}
	if (c->mode == STABLE)
		return (sees_data(c->consumer) ? BIT(V_OLD) : BIT(V_UNSEEN)) |
		       BIT(V_ESTALE);
	if (!sees_data(c->consumer))
		return BIT(V_UNSEEN);
	if (!cfg.by_reference)
		return BIT(V_OLD);	/* the file system copies */
	if (may_drop_pages(c->mutation))
		return BIT(V_OLD) | BIT(V_NEW) | BIT(V_TORN);
	return BIT(V_NEW) | BIT(V_TORN);
}

static void verdict_list(unsigned int set, char *buf, size_t len)
{
	int v, n = 0;

	buf[0] = 0;
	for (v = 0; v < NR_VERDICTS; v++)
		if (set & BIT(v))
			n += snprintf(buf + n, len - n, "%s%s", n ? "|" : "",
				      verdict_names[v]);
}

/* The range a partial mutation covers: it straddles the middle of the file,
 * so that in the "during" timing it reaches the half not yet consumed.
 */
static void mutation_range(enum mutation m, size_t *start, size_t *end)
{
	switch (m) {
	case M_PWRITE_PARTIAL:
		*start = FILE_SIZE / 4 + 123;
		*end = 3 * FILE_SIZE / 4 + 123;
		break;
	case M_TRUNCATE:
		*start = FILE_SIZE / 2 + 100;
		*end = FILE_SIZE;
		break;
	case M_PUNCH_HOLE:
		*start = FILE_SIZE / 4 + 100;
		*end = 3 * FILE_SIZE / 4 + 100;
		break;
	case M_ODIRECT:
		*start = FILE_SIZE / 4;
		*end = 3 * FILE_SIZE / 4;
		break;
	case M_MMAP_BEFORE:
	case M_MMAP_AFTER:
		*start = FILE_SIZE / 4 + 64;
		*end = 3 * FILE_SIZE / 4 + 64;
		break;
	default:
		*start = 0;
		*end = FILE_SIZE;
		break;
	}
}

static int prepare_file(struct trial *t, struct outcome *out)
{
	t->fd = make_file(t->path, "src");
	if (t->fd < 0) {
		set_outcome(out, KSFT_FAIL, "create a file in %s: %s", cfg.dir,
			    strerror(errno));
		return -1;
	}
	fill(t->old, 0, FILE_SIZE, 0);
	if (pwrite(t->fd, t->old, FILE_SIZE, 0) != FILE_SIZE) {
		set_outcome(out, KSFT_FAIL, "write the file: %s", strerror(errno));
		return -1;
	}
	/* The truncated or punched range reads as zeroes. */
	memcpy(t->new, t->old, FILE_SIZE);
	return 0;
}

static int map_file(struct trial *t, struct outcome *out)
{
	t->map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      t->fd, 0);
	if (t->map != MAP_FAILED)
		return 0;
	t->map = NULL;
	set_outcome(out, KSFT_SKIP, "no shared writable mmap on %s: %s", cfg.fs,
		    strerror(errno));
	return -1;
}

static int prepare_mutation(struct trial *t, struct outcome *out)
{
	size_t start, end;

	mutation_range(t->cell->mutation, &start, &end);
	switch (t->cell->mutation) {
	case M_TRUNCATE:
	case M_PUNCH_HOLE:
		memset(t->new + start, 0, end - start);
		break;
	default:
		fill(t->new + start, start, end - start, 1);
		break;
	}
	if (t->cell->mutation == M_MMAP_BEFORE && map_file(t, out))
		return -1;
	if (t->cell->mutation == M_ODIRECT) {
		t->dio_fd = open(t->path, O_WRONLY | O_DIRECT);
		if (t->dio_fd < 0) {
			set_outcome(out, KSFT_SKIP, "no O_DIRECT on %s: %s", cfg.fs,
				    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int write_from_child(const char *path, const unsigned char *buf,
			    size_t len)
{
	int status, fd;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open(path, O_WRONLY);
		_exit(fd >= 0 && pwrite(fd, buf, len, 0) == (ssize_t)len ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int mutate(struct trial *t, struct outcome *out)
{
	size_t start, end, len;
	void *aligned;
	int ret = 0;

	mutation_range(t->cell->mutation, &start, &end);
	len = end - start;
	switch (t->cell->mutation) {
	case M_WRITE:
		ret = lseek(t->fd, 0, SEEK_SET) ||
		      write(t->fd, t->new, FILE_SIZE) != FILE_SIZE;
		break;
	case M_PWRITE_PARTIAL:
		ret = pwrite(t->fd, t->new + start, len, start) != (ssize_t)len;
		break;
	case M_TRUNCATE:
		ret = ftruncate(t->fd, start);
		break;
	case M_PUNCH_HOLE:
		if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      start, len)) {
			set_outcome(out, KSFT_SKIP, "no hole punching on %s: %s",
				    cfg.fs, strerror(errno));
			return -1;
		}
		break;
	case M_ODIRECT:
		if (posix_memalign(&aligned, PAGE_SIZE_ASSUMED, len))
			return -1;
		memcpy(aligned, t->new + start, len);
		if (pwrite(t->dio_fd, aligned, len, start) != (ssize_t)len) {
			set_outcome(out, KSFT_SKIP, "O_DIRECT write on %s: %s",
				    cfg.fs, strerror(errno));
			free(aligned);
			return -1;
		}
		free(aligned);
		break;
	case M_MMAP_AFTER:
		if (map_file(t, out))
			return -1;
		/* fall through */
	case M_MMAP_BEFORE:
		memcpy(t->map + start, t->new + start, len);
		break;
	case M_OTHER_PROCESS:
		ret = write_from_child(t->path, t->new, FILE_SIZE);
		break;
	default:
		break;
	}
	if (ret) {
		set_outcome(out, KSFT_FAIL, "%s: %s",
			    mutation_names[t->cell->mutation], strerror(errno));
		return -1;
	}
	return 0;
}

static int prepare_consumer(struct trial *t, struct outcome *out)
{
	int sv[2];

	switch (t->cell->consumer) {
	case C_FILE:
		t->sink = make_file(t->out_path, "dst");
		t->source = t->sink;
		break;
	case C_DEVNULL:
		t->sink = open("/dev/null", O_WRONLY);
		break;
	case C_TCP:
		if (tcp_pair(sv, 4 * FILE_SIZE)) {
			set_outcome(out, KSFT_SKIP, "no TCP over loopback: %s",
				    strerror(errno));
			return -1;
		}
		t->source = sv[0];
		t->sink = sv[1];
		break;
	case C_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
			sv[0] = -1;
			sv[1] = -1;
		}
		t->source = sv[0];
		t->sink = sv[1];
		break;
	default:
		return 0;
	}
	if (t->sink < 0) {
		set_outcome(out, KSFT_FAIL, "set up the %s consumer: %s",
			    consumer_names[t->cell->consumer], strerror(errno));
		return -1;
	}
	return 0;
}

/* Splice [off, off + len) of the file into the pipe; returns the count. */
static ssize_t splice_in(struct trial *t, size_t off, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		loff_t pos = off + done;

		n = splice(t->fd, &pos, t->pipe[1], NULL, len - done,
			   splice_flags(t->cell->mode));
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

/* Move up to @len bytes from the pipe into the consumer.  With @look, read
 * them back from where the consumer put them into @buf.  Returns the count
 * or -errno.
 */
static ssize_t consume(struct trial *t, unsigned char *buf, size_t len,
		       bool look)
{
	enum consumer c = t->cell->consumer;
	ssize_t n, got;

	if (c == C_READ) {
		n = read(t->pipe[0], buf, len);
		return n < 0 ? -errno : n;
	}
	n = splice(t->pipe[0], NULL, t->sink, c == C_FILE ? &t->out_off : NULL,
		   len, splice_flags(t->cell->mode));
	if (n <= 0 || !look)
		return n < 0 ? -errno : n;
	switch (c) {
	case C_FILE:
		got = pread(t->source, buf, n, t->out_off - n);
		break;
	case C_TCP:
	case C_UNIX:
		got = recv(t->source, buf, n, MSG_WAITALL);
		break;
	default:
		got = n;
		break;
	}
	return got == n ? n : -EIO;
}

/* Consume everything spliced, up to @end; on ESTALE, splice the rest again
 * from the first byte not delivered, as the documentation says to.
 */
static int consume_all(struct trial *t, size_t end, struct outcome *out)
{
	ssize_t n;

	while (t->delivered < end) {
		n = consume(t, t->got + t->delivered, end - t->delivered, true);
		if (n == -ESTALE) {
			if (!t->stale++)
				t->stale_at = t->delivered;
			if (t->stale > MAX_STALE) {
				set_outcome(out, KSFT_FAIL, "ESTALE %d times in a row",
					    t->stale);
				return -1;
			}
			if (pipe_bytes(t->pipe[0])) {
				set_outcome(out, KSFT_FAIL,
					    "%zu bytes left in the pipe after ESTALE",
					    pipe_bytes(t->pipe[0]));
				return -1;
			}
			n = splice_in(t, t->delivered, FILE_SIZE - t->delivered);
			if (n < 0) {
				set_outcome(out, KSFT_FAIL, "splice again: %s",
					    strerror(-n));
				return -1;
			}
			end = t->delivered + n;
			continue;
		}
		if (n == 0 || n == -EAGAIN)
			break;	/* SHORT */
		if (n < 0) {
			set_outcome(out, KSFT_FAIL, "consumer %s: %s",
				    consumer_names[t->cell->consumer],
				    strerror(-n));
			return -1;
		}
		t->delivered += n;
	}
	return 0;
}

/* For the after-confirm timing: move all data into the consumer now, and
 * look at it only after the mutation.
 */
static int hand_over(struct trial *t, struct outcome *out)
{
	ssize_t n;

	while (t->delivered < FILE_SIZE) {
		n = consume(t, t->got + t->delivered, FILE_SIZE - t->delivered,
			    t->cell->consumer == C_READ);
		if (n <= 0) {
			set_outcome(out, KSFT_FAIL, "hand over to %s: %s",
				    consumer_names[t->cell->consumer],
				    n ? strerror(-n) : "pipe empty");
			return -1;
		}
		t->delivered += n;
	}
	return 0;
}

static int look_after_handover(struct trial *t)
{
	switch (t->cell->consumer) {
	case C_FILE:
		return pread(t->source, t->got, FILE_SIZE, 0) == FILE_SIZE ? 0 : -1;
	case C_TCP:
	case C_UNIX:
		return recv(t->source, t->got, FILE_SIZE, MSG_WAITALL) == FILE_SIZE ?
		       0 : -1;
	default:
		return 0;
	}
}

static enum verdict compare(const unsigned char *got, size_t len,
			    const unsigned char *old, const unsigned char *new)
{
	size_t i, old_only = 0, new_only = 0, neither = 0;

	for (i = 0; i < len; i++) {
		bool o = got[i] == old[i], n = got[i] == new[i];

		old_only += o && !n;
		new_only += n && !o;
		neither += !o && !n;
	}
	if (neither || (old_only && new_only))
		return V_TORN;
	return new_only ? V_NEW : V_OLD;
}

static enum verdict judge(struct trial *t, struct outcome *out)
{
	bool look = sees_data(t->cell->consumer);
	size_t want;

	t->now_len = pread(t->fd, t->now, FILE_SIZE, 0);
	if (!t->stale) {
		if (t->delivered < FILE_SIZE)
			return V_SHORT;
		return look ? compare(t->got, FILE_SIZE, t->old, t->new) : V_UNSEEN;
	}
	/* Before the ESTALE only OLD data may have been delivered... */
	if (look && compare(t->got, t->stale_at, t->old, t->new) != V_OLD)
		return compare(t->got, t->stale_at, t->old, t->new);
	/* ...and the recovery delivers the file as it is now. */
	want = t->now_len > t->stale_at ? t->now_len : t->stale_at;
	if (t->delivered != want) {
		snprintf(out->msg, sizeof(out->msg),
			 "recovery after ESTALE at %zu delivered up to %zu, the file has %zu",
			 t->stale_at, t->delivered, t->now_len);
		return V_SHORT;
	}
	if (look && memcmp(t->got + t->stale_at, t->now + t->stale_at,
			   t->delivered - t->stale_at)) {
		snprintf(out->msg, sizeof(out->msg),
			 "recovery after ESTALE at %zu delivered bytes the file does not hold",
			 t->stale_at);
		return V_TORN;
	}
	return V_ESTALE;
}

static void close_trial(struct trial *t)
{
	if (t->map)
		munmap(t->map, FILE_SIZE);
	if (t->fd >= 0) {
		close(t->fd);
		unlink(t->path);
	}
	if (t->out_path[0])
		unlink(t->out_path);
	if (t->source >= 0 && t->source != t->sink)
		close(t->source);
	if (t->sink >= 0)
		close(t->sink);
	if (t->dio_fd >= 0)
		close(t->dio_fd);
	close(t->pipe[0]);
	close(t->pipe[1]);
}

/* One run of @c; returns the verdict or -1 with @out filled in. */
static int run_trial(const struct cell *c, struct outcome *out)
{
	static struct trial t;
	ssize_t n;
	int ret = -1;

	memset(&t, 0, sizeof(t));
	t.cell = c;
	t.fd = -1;
	t.dio_fd = -1;
	t.sink = -1;
	t.source = -1;
	if (pipe2(t.pipe, O_NONBLOCK)) {
		set_outcome(out, KSFT_FAIL, "pipe: %s", strerror(errno));
		return -1;
	}
	if (prepare_file(&t, out) || prepare_mutation(&t, out) ||
	    prepare_consumer(&t, out))
		goto done;

	n = splice_in(&t, 0, FILE_SIZE);
	if (n != FILE_SIZE) {
		set_outcome(out, KSFT_FAIL, "spliced %zd of %d bytes: %s", n,
			    FILE_SIZE, n < 0 ? strerror(-n) : "short");
		goto done;
	}
	switch (c->timing) {
	case T_BEFORE_CONFIRM:
		if (mutate(&t, out) || consume_all(&t, FILE_SIZE, out))
			goto done;
		break;
	case T_DURING:
		if (consume_all(&t, FILE_SIZE / 2, out))
			goto done;
		if (t.stale || t.delivered != FILE_SIZE / 2) {
			set_outcome(out, KSFT_FAIL,
				    "first half: %zu bytes, %d ESTALE before any change",
				    t.delivered, t.stale);
			goto done;
		}
		if (mutate(&t, out) || consume_all(&t, FILE_SIZE, out))
			goto done;
		break;
	case T_AFTER_CONFIRM:
		if (hand_over(&t, out) || mutate(&t, out))
			goto done;
		if (look_after_handover(&t)) {
			set_outcome(out, KSFT_FAIL, "read back from %s: %s",
				    consumer_names[c->consumer], strerror(errno));
			goto done;
		}
		break;
	default:
		break;
	}
	ret = judge(&t, out);
done:
	close_trial(&t);
	return ret;
}

static void run_cell(const struct cell *c, struct outcome *out)
{
	int runs = c->timing == T_AFTER_CONFIRM && socket_consumer(c->consumer) ?
		   AFTER_CONFIRM_RUNS : 1;
	unsigned int seen = 0, want = expected(c);
	int counts[NR_VERDICTS] = { 0 };
	char observed[128] = "", allowed[64];
	int i, v, len = 0;

	if (c->mode == STABLE && !cfg.stable) {
		set_outcome(out, KSFT_SKIP, "SPLICE_F_STABLE not supported");
		return;
	}
	for (i = 0; i < runs; i++) {
		out->msg[0] = 0;
		v = run_trial(c, out);
		if (v < 0)
			return;		/* out says why */
		counts[v]++;
		seen |= BIT(v);
	}
	for (v = 0; v < NR_VERDICTS; v++)
		if (counts[v])
			len += snprintf(observed + len, sizeof(observed) - len,
					runs > 1 ? "%s%s %d/%d" : "%s%s",
					len ? " " : "", verdict_names[v],
					counts[v], runs);
	verdict_list(want, allowed, sizeof(allowed));
	if (seen & ~want) {
		char why[256];

		snprintf(why, sizeof(why), "%s", out->msg);
		set_outcome(out, KSFT_FAIL, "observed %s, expected %s%s%s",
			    observed, allowed, why[0] ? ": " : "", why);
		return;
	}
	if (c->timing == T_AFTER_CONFIRM && socket_consumer(c->consumer) &&
	    (seen & (BIT(V_NEW) | BIT(V_TORN))))
		ksft_print_msg("changed after the confirm: the %s receiver saw %s (a socket holds the pages until it is read)\n",
			       consumer_names[c->consumer], observed);
	set_outcome(out, KSFT_PASS, "observed %s", observed);
}

/* ---- differential check ------------------------------------------------ */

static int fill_pipe_and_read(int fd, int p[2], loff_t off, size_t len,
			      unsigned int flags, unsigned char *got,
			      uint64_t *rng, size_t *total)
{
	loff_t pos = off;
	ssize_t n, r;

	*total = 0;
	while (*total < len) {
		n = splice(fd, &pos, p[1], NULL, len - *total, flags);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		while (n > 0) {
			size_t want = 1 + rng_next(rng) % n;

			r = read(p[0], got + *total, want);
			if (r <= 0)
				return r ? -errno : -EPIPE;
			*total += r;
			n -= r;
		}
	}
	return 0;
}

static void run_differential_iterations(enum mode mode, int fd, int p[2],
					unsigned char *data, unsigned char *want,
					unsigned char *got, struct outcome *out)
{
	uint64_t rng = cfg.seed * 2 + mode + 1;
	int i, err;

	for (i = 0; i < cfg.iterations; i++) {
		size_t size = 1 + rng_next(&rng) % DIFF_MAX_SIZE, j, total;
		size_t off = rng_next(&rng) % (size + 1);
		size_t len = 1 + rng_next(&rng) % (size - off + PAGE_SIZE_ASSUMED);
		int pipe_size = 1 << (12 + rng_next(&rng) % 9);
		ssize_t expect;

		for (j = 0; j < size; j++)
			data[j] = rng_next(&rng) >> 56;
		if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) {
			set_outcome(out, KSFT_FAIL, "write %zu bytes: %s", size,
				    strerror(errno));
			return;
		}
		/* Capped by /proc/sys/fs/pipe-max-size for non-root: fine. */
		fcntl(p[1], F_SETPIPE_SZ, pipe_size);
		expect = pread(fd, want, len, off);
		err = fill_pipe_and_read(fd, p, off, len, splice_flags(mode), got,
					 &rng, &total);
		if (err || expect < 0 || total != (size_t)expect ||
		    memcmp(want, got, total)) {
			size_t at = 0;

			while (at < total && at < (size_t)expect && want[at] == got[at])
				at++;
			set_outcome(out, KSFT_FAIL,
				    "iteration %d (file %zu bytes, offset %zu, length %zu, pipe %d): %s; pread %zd bytes, splice %zu, first difference at %zu",
				    i, size, off, len, fcntl(p[1], F_GETPIPE_SZ),
				    err ? strerror(-err) : "data differ", expect,
				    total, at);
			return;
		}
	}
	set_outcome(out, KSFT_PASS, "%d iterations, seed %llu", cfg.iterations,
		    cfg.seed);
}

static void run_differential(enum mode mode, struct outcome *out)
{
	unsigned char *data = malloc(DIFF_MAX_SIZE), *want, *got;
	char path[PATH_MAX];
	int fd, p[2];

	want = malloc(DIFF_MAX_SIZE + PAGE_SIZE_ASSUMED);
	got = malloc(DIFF_MAX_SIZE + PAGE_SIZE_ASSUMED);
	fd = make_file(path, "diff");
	if (!data || !want || !got || fd < 0 || pipe(p)) {
		set_outcome(out, KSFT_FAIL, "set up: %s", strerror(errno));
		return;
	}
	/* Unlinked only at the end: 9p cannot truncate an unlinked file. */
	run_differential_iterations(mode, fd, p, data, want, got, out);
	unlink(path);
}

/* ---- stress ------------------------------------------------------------ */

/* Generations the writer began and finished; shared with it, accessed
 * atomically only.
 */
struct generations {
	uint64_t started;
	uint64_t finished;
	int stop;
};

static uint64_t load(uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

/* Multiplying by an odd constant is a bijection on 32 bits. */
static uint32_t scramble(uint64_t gen)
{
	return (uint32_t)gen * 0x9e3779b1u;
}

/* Word w of generation g: g in the high half, w scrambled by g in the low
 * half.  The writer's pwrite() may store a word byte by byte (rep movsb under
 * TCG), so a reader can catch a word half old and half new: 0x2ff and 0x300
 * torn after the fifth byte read as generation 0x200.  With the index tied
 * to the generation such a word no longer decodes and counts as torn instead
 * of as an older generation.
 */
static void fill_generation(uint64_t *words, uint64_t gen)
{
	size_t w;

	for (w = 0; w < STRESS_SIZE / 8; w++)
		words[w] = gen << 32 | (w ^ scramble(gen));
}

static void writer(const char *path, struct generations *g)
{
	uint64_t *words = malloc(STRESS_SIZE), gen;
	int fd = open(path, O_WRONLY);

	if (fd < 0 || !words)
		_exit(1);
	for (gen = 1; !__atomic_load_n(&g->stop, __ATOMIC_SEQ_CST); gen++) {
		fill_generation(words, gen);
		__atomic_store_n(&g->started, gen, __ATOMIC_SEQ_CST);
		if (pwrite(fd, words, STRESS_SIZE, 0) != STRESS_SIZE)
			_exit(1);
		__atomic_store_n(&g->finished, gen, __ATOMIC_SEQ_CST);
	}
	_exit(0);
}

/* Until the writer finished a generation it began after @gen (or 1 s). */
static void wait_for_generation(struct generations *g, uint64_t gen)
{
	double end = now() + 1;

	while (load(&g->finished) <= gen && now() < end)
		sched_yield();
}

struct stress_counts {
	unsigned long chunks, stale, words, torn_words, changed, late;
};

/* Check the words delivered from offset @off.  Each must be of a generation
 * finished before the splice began (@floor) or later.  Plain splice may hand
 * out any later one.  With SPLICE_F_STABLE none begun after the splice
 * returned (> @ceiling) may show up, not even one still being written when
 * the read began (> @read_floor): read(2) checks the buffer again after its
 * copy.  Words caught mid-copy are counted here and judged by run_stress().
 */
static int check_words(const uint64_t *words, size_t off, size_t n,
		       uint64_t floor, uint64_t ceiling, uint64_t read_floor,
		       enum mode mode, struct stress_counts *sc,
		       struct outcome *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t gen = words[i] >> 32;
		uint32_t index = (uint32_t)words[i] ^ scramble(gen);

		sc->words++;
		if (index != off / 8 + i) {
			sc->torn_words++;	/* caught mid-copy */
			continue;
		}
		if (gen < floor) {
			set_outcome(out, KSFT_FAIL,
				    "word at %zu is of generation %llu, older than generation %llu finished before the splice",
				    off + 8 * i, (unsigned long long)gen,
				    (unsigned long long)floor);
			return -1;
		}
		if (gen <= ceiling)
			continue;
		if (gen > read_floor)
			sc->late++;
		else
			sc->changed++;
		if (mode == STABLE) {
			set_outcome(out, KSFT_FAIL,
				    "word at %zu is of generation %llu, begun after the splice returned (%llu)%s",
				    off + 8 * i, (unsigned long long)gen,
				    (unsigned long long)ceiling,
				    gen > read_floor ? ", while the read copied" :
				    ", before the read");
			return -1;
		}
	}
	return 0;
}

static int stress_chunk(int fd, int p[2], enum mode mode, size_t off,
			size_t len, struct generations *g, uint64_t *buf,
			struct stress_counts *sc, struct outcome *out)
{
	uint64_t floor = 0, ceiling = 0, read_floor;
	size_t done = 0, spliced = 0;
	ssize_t n;

	while (done < len) {
		if (spliced == done) {
			/* (Re)fill the pipe from the first byte not delivered. */
			loff_t pos = off + done;

			floor = load(&g->finished);
			n = splice(fd, &pos, p[1], NULL, len - done,
				   splice_flags(mode));
			ceiling = load(&g->started);
			if (n <= 0) {
				set_outcome(out, KSFT_FAIL, "splice at %zu: %s",
					    off + done, n ? strerror(errno) : "EOF");
				return -1;
			}
			spliced = done + n;
			sc->chunks++;
			/* Every other chunk, let a whole generation land
			 * between the splice and the read: the change the
			 * flag is about.
			 */
			if (sc->chunks % 2)
				wait_for_generation(g, ceiling);
		}
		read_floor = load(&g->finished);
		n = read(p[0], (char *)buf + done, spliced - done);
		if (n < 0 && errno == ESTALE && mode == STABLE) {
			sc->stale++;
			if (pipe_bytes(p[0])) {
				set_outcome(out, KSFT_FAIL,
					    "bytes left in the pipe after ESTALE");
				return -1;
			}
			spliced = done;
			continue;
		}
		if (n <= 0) {
			set_outcome(out, KSFT_FAIL, "read the pipe: %s",
				    n ? strerror(errno) : "EOF");
			return -1;
		}
		if (check_words(buf + done / 8, off + done, n / 8, floor, ceiling,
				read_floor, mode, sc, out))
			return -1;
		done += n;
	}
	return 0;
}

static void run_stress(enum mode mode, struct outcome *out)
{
	struct generations *g;
	struct stress_counts sc = { 0 };
	uint64_t rng = cfg.seed * 2 + mode + 7;
	uint64_t *buf = malloc(STRESS_MAX_CHUNK), *words = malloc(STRESS_SIZE);
	char path[PATH_MAX];
	int fd, p[2], status, err = 0;
	double end;
	pid_t pid;

	g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fd = make_file(path, "stress");
	if (g == MAP_FAILED || fd < 0 || !buf || !words || pipe(p)) {
		set_outcome(out, KSFT_FAIL, "set up: %s", strerror(errno));
		return;
	}
	fill_generation(words, 0);
	if (pwrite(fd, words, STRESS_SIZE, 0) != STRESS_SIZE) {
		set_outcome(out, KSFT_FAIL, "write: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (!pid)
		writer(path, g);
	end = now() + cfg.stress_seconds;
	while (!err && now() < end) {
		/* Word aligned pieces of up to the pipe's capacity. */
		size_t off = 8 * (rng_next(&rng) % (STRESS_SIZE / 8));
		size_t len = 8 * (1 + rng_next(&rng) % (STRESS_MAX_CHUNK / 8));

		if (off + len > STRESS_SIZE)
			len = STRESS_SIZE - off;
		err = stress_chunk(fd, p, mode, off, len, g, buf, &sc, out);
	}
	__atomic_store_n(&g->stop, 1, __ATOMIC_SEQ_CST);
	waitpid(pid, &status, 0);
	unlink(path);
	ksft_print_msg("stress %s: %lu chunks, %lu ESTALE, %llu generations written, %lu words checked, %lu changed after the splice, %lu changed after the read began, %lu caught mid-copy\n",
		       mode_names[mode], sc.chunks, sc.stale,
		       (unsigned long long)load(&g->finished), sc.words,
		       sc.changed, sc.late, sc.torn_words);
	if (err)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		set_outcome(out, KSFT_FAIL, "the writer failed");
		return;
	}
	if (load(&g->finished) < 2) {
		set_outcome(out, KSFT_FAIL, "the writer finished %llu generations: no stress",
			    (unsigned long long)load(&g->finished));
		return;
	}
	/*
	 * ESTALE means the flag kept page cache references, under i_rwsem
	 * shared against the writer: no word can be caught mid-copy then.  The
	 * copy path (no ESTALE) reads like read(2), which can catch a write in
	 * progress.
	 */
	if (mode == STABLE && sc.stale && sc.torn_words) {
		set_outcome(out, KSFT_FAIL,
			    "%lu words caught mid-copy while SPLICE_F_STABLE kept page cache references (%lu ESTALE)",
			    sc.torn_words, sc.stale);
		return;
	}
	if (mode == PLAIN && cfg.by_reference && !sc.changed) {
		set_outcome(out, KSFT_FAIL,
			    "plain splice never delivered data written after it returned: the problem did not reproduce");
		return;
	}
	set_outcome(out, KSFT_PASS, "%lu chunks, %lu ESTALE, %lu words changed after the splice",
		    sc.chunks, sc.stale, sc.changed);
}

/* ---- reproducers --------------------------------------------------------- */

/*
 * A unix socket holding 64 KiB from one write(2) (socket buffers of up to
 * 32 KiB, in compound pages) spliced into a pipe with the flag: the pipe
 * must deliver those bytes.  Series v1 copied each buffer into one page.
 */
static void repro_socket_source(struct outcome *out)
{
	static unsigned char sent[FILE_SIZE], got[FILE_SIZE];
	int sv[2], p[2], bufsz = 4 * FILE_SIZE;
	size_t done = 0;
	ssize_t n;

	fill(sent, 0, sizeof(sent), 0);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(p)) {
		set_outcome(out, KSFT_FAIL, "socketpair/pipe: %s", strerror(errno));
		return;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (write(sv[0], sent, sizeof(sent)) != sizeof(sent)) {
		set_outcome(out, KSFT_FAIL, "write to the socket: %s", strerror(errno));
		return;
	}
	while (done < sizeof(got)) {
		n = splice(sv[1], NULL, p[1], NULL, sizeof(got) - done,
			   SPLICE_F_STABLE | SPLICE_F_NONBLOCK);
		if (n <= 0)
			break;
		while (n > 0) {
			ssize_t r = read(p[0], got + done, n);

			if (r <= 0) {
				set_outcome(out, KSFT_FAIL, "read of the pipe: %s",
					    r ? strerror(errno) : "EOF");
				return;
			}
			done += r;
			n -= r;
		}
	}
	if (done != sizeof(got))
		set_outcome(out, KSFT_FAIL, "%zu of %zu bytes through the pipe (%s)",
			    done, sizeof(got), strerror(errno));
	else if (memcmp(got, sent, sizeof(got)))
		set_outcome(out, KSFT_FAIL, "the pipe delivered other bytes than the socket held");
	else
		set_outcome(out, KSFT_PASS, "%zu bytes", done);
}

/*
 * A stable splice of a file, then 16 bytes from write(2), into one pipe; the
 * file is rewritten.  The reader must get the file's old bytes or ESTALE,
 * and then the 16 bytes: ESTALE drops the stale data, nobody else's.
 */
static void repro_other_producer(struct outcome *out)
{
	static unsigned char old[PAGE_SIZE_ASSUMED], new[PAGE_SIZE_ASSUMED];
	unsigned char got[PAGE_SIZE_ASSUMED + 16], other[16];
	char path[PATH_MAX];
	ssize_t n, stale_at = -1, file_bytes;
	size_t done = 0;
	int fd, p[2];

	fill(old, 0, sizeof(old), 0);
	fill(new, 0, sizeof(new), 1);
	memset(other, 'w', sizeof(other));
	fd = make_file(path, "producer");
	if (fd < 0 || pipe(p)) {
		set_outcome(out, KSFT_FAIL, "file/pipe: %s", strerror(errno));
		return;
	}
	unlink(path);
	if (pwrite(fd, old, sizeof(old), 0) != sizeof(old) ||
	    splice(fd, NULL, p[1], NULL, sizeof(old), SPLICE_F_STABLE) != sizeof(old) ||
	    write(p[1], other, sizeof(other)) != sizeof(other) ||
	    pwrite(fd, new, sizeof(new), 0) != sizeof(new)) {
		set_outcome(out, KSFT_FAIL, "setting up: %s", strerror(errno));
		return;
	}
	close(p[1]);
	/* Old bytes up to the ESTALE (if any), then exactly the write's. */
	while ((n = read(p[0], got + done, sizeof(got) - done)) != 0) {
		if (n < 0 && errno == ESTALE && stale_at < 0) {
			stale_at = done;
			continue;
		}
		if (n < 0) {
			set_outcome(out, KSFT_FAIL, "read after %zu bytes: %s", done,
				    strerror(errno));
			return;
		}
		done += n;
	}
	file_bytes = stale_at < 0 ? (ssize_t)sizeof(old) : stale_at;
	if (done != file_bytes + sizeof(other) || memcmp(got, old, file_bytes))
		set_outcome(out, KSFT_FAIL, "%zu bytes (ESTALE after %zd): not the old file's %zd and the write's %zu",
			    done, stale_at, file_bytes, sizeof(other));
	else if (memcmp(got + file_bytes, other, sizeof(other)))
		set_outcome(out, KSFT_FAIL, "the 16 bytes of write(2) are lost (ESTALE after %zd)",
			    stale_at);
	else
		set_outcome(out, KSFT_PASS, "%zd bytes of the old file%s, then the write's 16",
			    file_bytes, stale_at < 0 ? "" : " and ESTALE");
	close(p[0]);
	close(fd);
}

/* Wait until process @pid sleeps (state S or D); false after 5 s */
static bool wait_until_asleep(pid_t pid)
{
	char path[64], stat[256], *state;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 500; i++) {
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, stat, sizeof(stat) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return false;
		stat[n] = '\0';
		state = strrchr(stat, ')');
		if (state && (state[2] == 'S' || state[2] == 'D'))
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Without SPLICE_F_STABLE: a splice from an empty unix socket into a pipe
 * sleeps for data holding the pipe lock; a read(2) of the pipe with
 * O_NONBLOCK waits for that lock until the socket gets data (1 s later)
 * instead of failing with EAGAIN.  What review finding 6 says of stable
 * splices waiting for the inode lock is the pipe's behaviour for any splice
 * that waits for its source: this case fails on a kernel where it is not.
 */
static void repro_nonblock_reader_waits(struct outcome *out)
{
	struct timespec start, end;
	pid_t splicer, waker;
	int sv[2], p[2];
	long waited_ms;
	ssize_t n;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(p)) {
		set_outcome(out, KSFT_FAIL, "socketpair/pipe: %s", strerror(errno));
		return;
	}
	splicer = fork();
	if (!splicer)
		_exit(splice(sv[1], NULL, p[1], NULL, 1, 0) == 1 ? 0 : 1);
	if (splicer < 0 || !wait_until_asleep(splicer)) {
		set_outcome(out, KSFT_FAIL, "the splicing child did not start to wait");
		return;
	}
	waker = fork();
	if (!waker) {
		usleep(1000 * 1000);
		_exit(write(sv[0], "x", 1) == 1 ? 0 : 1);
	}
	if (waker < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK)) {
		set_outcome(out, KSFT_FAIL, "fork/fcntl: %s", strerror(errno));
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	n = read(p[0], &c, 1);
	clock_gettime(CLOCK_MONOTONIC, &end);
	waited_ms = (end.tv_sec - start.tv_sec) * 1000 +
		    (end.tv_nsec - start.tv_nsec) / 1000000;
	waitpid(waker, NULL, 0);
	waitpid(splicer, NULL, 0);
	if (waited_ms >= 500)
		set_outcome(out, KSFT_PASS,
			    "read(O_NONBLOCK) waited %ld ms for the splice in the socket (%s)",
			    waited_ms, n == 1 ? "then read its byte" : strerror(errno));
	else
		set_outcome(out, KSFT_FAIL,
			    "read(O_NONBLOCK) returned after %ld ms (%s): pipe readers do not wait for a splice that waits",
			    waited_ms, n == 1 ? "a byte" : strerror(errno));
}

static const struct {
	const char *name;
	enum mode mode;
	void (*run)(struct outcome *out);
} reproducers[] = {
	{ "socket_source", STABLE, repro_socket_source },
	{ "other_producer", STABLE, repro_other_producer },
	{ "nonblock_reader_waits", PLAIN, repro_nonblock_reader_waits },
};

#define NR_REPRODUCERS	(sizeof(reproducers) / sizeof(reproducers[0]))

/* ---- the runner -------------------------------------------------------- */

enum kind { K_CELL, K_DIFFERENTIAL, K_STRESS, K_REPRO };

struct test {
	enum kind kind;
	struct cell cell;	/* K_CELL; .mode for all */
	unsigned int repro;	/* K_REPRO: index in reproducers[] */
	char name[160];
};

static void kmsg(const char *name)
{
	char line[256];
	int fd = open("/dev/kmsg", O_WRONLY), len;

	if (fd < 0)
		return;
	/* One write() is one record; dprintf() gives up on /dev/kmsg's lseek */
	len = snprintf(line, sizeof(line), "splice_integrity: begin case %s\n",
		       name);
	if (write(fd, line, len) != len)
		ksft_print_msg("/dev/kmsg: %s\n", strerror(errno));
	close(fd);
}

static void run_in_child(const struct test *t, struct outcome *out)
{
	int p[2], status;
	struct pollfd pfd;
	ssize_t n = 0;
	pid_t pid;

	set_outcome(out, KSFT_FAIL, "no outcome");
	fflush(stdout);
	if (pipe(p)) {
		set_outcome(out, KSFT_FAIL, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		set_outcome(out, KSFT_FAIL, "fork: %s", strerror(errno));
		return;
	}
	if (!pid) {
		struct outcome child = { KSFT_FAIL, "no outcome" };

		setpgid(0, 0);	/* so that a timeout kills its helpers too */
		close(p[0]);
		kmsg(t->name);
		if (t->kind == K_CELL)
			run_cell(&t->cell, &child);
		else if (t->kind == K_REPRO && (cfg.stable || t->cell.mode == PLAIN))
			reproducers[t->repro].run(&child);
		else if (t->kind != K_REPRO && (cfg.stable || t->cell.mode == PLAIN))
			(t->kind == K_STRESS ? run_stress : run_differential)(t->cell.mode,
									 &child);
		else
			set_outcome(&child, KSFT_SKIP, "SPLICE_F_STABLE not supported");
		fflush(stdout);
		n = write(p[1], &child, sizeof(child));
		_exit(n == sizeof(child) ? 0 : 1);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, CASE_TIMEOUT_MS + cfg.stress_seconds * 1000) == 1)
		n = read(p[0], out, sizeof(*out));
	if (n != sizeof(*out)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
	close(p[0]);
	if (n == sizeof(*out))
		return;
	if (WIFSIGNALED(status))
		set_outcome(out, KSFT_FAIL, "killed by signal %d",
			    WTERMSIG(status));
	else
		set_outcome(out, KSFT_FAIL, "no outcome within %d s",
			    CASE_TIMEOUT_MS / 1000 + cfg.stress_seconds);
}

static int plan_tests(struct test *tests)
{
	int m, c, mu, ti, n = 0;
	struct test t;

	for (m = 0; m < NR_MODES; m++) {
		for (c = 0; c < NR_CONSUMERS; c++)
			for (mu = 0; mu < NR_MUTATIONS; mu++)
				for (ti = 0; ti < NR_TIMINGS; ti++) {
					t.kind = K_CELL;
					t.cell = (struct cell){ m, c, mu, ti };
					snprintf(t.name, sizeof(t.name), "%s.%s.%s.%s.%s",
						 cfg.fs, mode_names[m], consumer_names[c],
						 mutation_names[mu], timing_names[ti]);
					if (!cfg.filter || strstr(t.name, cfg.filter))
						tests[n++] = t;
				}
		for (t.kind = K_DIFFERENTIAL; t.kind <= K_STRESS; t.kind++) {
			t.cell = (struct cell){ .mode = m };
			snprintf(t.name, sizeof(t.name), "%s.%s.%s", cfg.fs,
				 mode_names[m],
				 t.kind == K_STRESS ? "stress" : "differential");
			if (!cfg.filter || strstr(t.name, cfg.filter))
				tests[n++] = t;
		}
	}
	t.kind = K_REPRO;
	for (t.repro = 0; t.repro < NR_REPRODUCERS; t.repro++) {
		t.cell = (struct cell){ .mode = reproducers[t.repro].mode };
		snprintf(t.name, sizeof(t.name), "%s.%s.repro.%s", cfg.fs,
			 mode_names[t.cell.mode], reproducers[t.repro].name);
		if (!cfg.filter || strstr(t.name, cfg.filter))
			tests[n++] = t;
	}
	return n;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--dir DIR] [--seed N] [--iterations N] [--stress-seconds N]\n"
		"          [--filter SUBSTRING] [--list]\n"
		"  --dir             directory on the file system under test\n"
		"                    (default: $SPLICE_TEST_DIR, else /tmp)\n"
		"  --seed            seed of the differential and stress tests (default: time)\n"
		"  --iterations      differential iterations per mode (default: 64)\n"
		"  --stress-seconds  duration of each stress test (default: 2)\n"
		"  --filter          run only the tests whose name contains SUBSTRING\n"
		"  --list            print the test names and exit\n", prog);
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "stress-seconds", required_argument, NULL, 't' },
		{ "filter", required_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },
		{ }
	};
	static struct test tests[NR_MODES * (NR_CONSUMERS * NR_MUTATIONS * NR_TIMINGS + 2) +
				 NR_REPRODUCERS];
	const char *env = getenv("SPLICE_TEST_DIR");
	bool list = false;
	int opt, i, n, supported;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", env && *env ? env : "/tmp");
	cfg.seed = time(NULL);
	cfg.iterations = 64;
	cfg.stress_seconds = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			snprintf(cfg.dir, sizeof(cfg.dir), "%s", optarg);
			break;
		case 's':
			cfg.seed = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			cfg.iterations = atoi(optarg);
			break;
		case 't':
			cfg.stress_seconds = atoi(optarg);
			break;
		case 'f':
			cfg.filter = optarg;
			break;
		case 'l':
			list = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || cfg.iterations < 1 || cfg.stress_seconds < 1)
		usage(argv[0]);
	detect_fs(cfg.dir, cfg.fs, sizeof(cfg.fs), &cfg.by_reference);
	n = plan_tests(tests);
	if (list) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}

	ksft_print_header();
	ksft_print_msg("directory %s on %s (plain splice %s), seed %llu (--seed %llu replays)\n",
		       cfg.dir, cfg.fs,
		       cfg.by_reference ? "passes page cache pages" : "copies",
		       cfg.seed, cfg.seed);
	supported = probe_stable();
	if (supported < 0)
		ksft_exit_fail_msg("cannot splice from a file in %s: %s\n",
				   cfg.dir, strerror(errno));
	cfg.stable = supported;
	if (!cfg.stable)
		ksft_print_msg("SPLICE_F_STABLE not supported: its tests skip\n");
	ksft_set_plan(n);
	for (i = 0; i < n; i++) {
		struct outcome out;

		run_in_child(&tests[i], &out);
		ksft_test_result_code(out.code, tests[i].name, "%s", out.msg);
	}
	ksft_finished();
}
