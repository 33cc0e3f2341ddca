// SPDX-License-Identifier: GPL-2.0
/*
 * splice_fuzz: a model-based random tester for splice(2) and its relatives
 * (tee(2), vmsplice(2), sendfile(2), io_uring's IORING_OP_SPLICE/TEE).
 *
 * Every sequence runs in a forked child, in a fresh world: two files in the
 * directory under test (each with a second descriptor, a hard link, an
 * O_DIRECT and an O_APPEND descriptor), three pipes, a unix and a TCP
 * loopback socket pair, /dev/zero, /dev/null and a sink file.  A seeded
 * generator strings random operations together:
 *
 *  - producers: splice from a file, a socket, a pipe or /dev/zero with a
 *    random set of SPLICE_F_* flags, write(2), vmsplice(2), tee(2),
 *    sendfile(2) into a pipe or a socket, several of them on one pipe;
 *  - consumers: read(2), vmsplice(2) to user memory, splice to the sink file
 *    (read back at once), to a socket (whose receiver reads late), to
 *    /dev/null (lengths only);
 *  - mutations of the files at any point: write(2) variants (second
 *    descriptor, hard link, O_DIRECT, O_APPEND, writev), stores through a
 *    shared mapping, truncate, fallocate (punch, zero, collapse, insert),
 *    copy_file_range, FICLONERANGE, FIDEDUPERANGE, sendfile and splice into
 *    the file, close and unlink;
 *  - F_SETPIPE_SZ, and a writer thread rewriting a file for the racy class.
 *
 * At the end every pipe and socket is drained.  A reference model follows
 * every byte from its producer to the reader that finally sees it:
 *
 *  - Data from write(2), vmsplice(2), /dev/zero and sockets must arrive
 *    exactly, in order, and is never lost.
 *  - A plain splice from a file may deliver, for each byte, any version the
 *    file held at that position from the splice until the byte is read
 *    (0 where truncated or punched out), or fail with ENODATA after pages
 *    were dropped: lengths, order and the absence of invented bytes are
 *    what is checked.  File contents are tagged per write so that versions
 *    are told apart.
 *  - SPLICE_F_STABLE (patch 0001 and the splice.2 patch) must deliver what
 *    the file held at splice time, to every consumer, including the receiver
 *    of a socket the data was spliced to, or the consumer of the pipe fails
 *    with ESTALE.  After ESTALE nothing that other producers put into the
 *    pipe may be lost (stable data queued behind may be discarded: its
 *    splicer sees that and splices again), and the tester splices the rest
 *    again, which must give the current content.  vmsplice(2), tee(2) and
 *    pipe-to-pipe splice must reject the flag.  On a kernel without the flag
 *    (EINVAL) operations that need it are skipped.
 *
 * A kernel report in /dev/kmsg, a hang (alarm()) or a crash fails the
 * sequence too.  A failing sequence is shrunk (ops dropped, arguments and
 * syscalls made plainer, each attempt in a fresh world) and printed as a
 * --replay line; a standalone C reproducer, the recorded syscalls of the
 * smallest failing run with the failed check, goes to $SPLICE_TEST_OUT (or
 * "."), and is rewritten at each shrinking step.  Once the kernel has oopsed
 * (taint D or B) nothing it does counts: the run stops, and a .shrink file
 * lets a fresh boot go on shrinking (--replay @FILE --shrink).  A kernel report
 * (WARN, KASAN) stops the class that found it, and its shrinking waits
 * until the other classes have had their time: the kernel may be corrupted.
 *
 * Sequences come in classes, one KTAP test each, which take turns in short
 * slots of the time (--seconds), so that each has run early on.  All
 * descriptors are non-blocking, so nothing waits for room or data; the
 * writer thread of the racy class is checked only for what is sound with a
 * concurrent writer (each byte from a generation begun by then).
 * --assume-stable checks the checker: the flag is modelled but not passed,
 * and plain splice must then be found not to be stable, on any kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "splice_util.h"

#ifndef fallthrough
#define fallthrough	__attribute__((__fallthrough__))
#endif
#ifndef BIT
#define BIT(n)		(1u << (n))
#endif

/* The series' value (patch 0001); glibc does not define it. */
#ifndef SPLICE_F_STABLE
#define SPLICE_F_STABLE		0x10
#endif

#define NFILES		2
#define NPIPES		3
#define NSOCKS		2		/* unix, TCP */
#define NSTREAMS	(NPIPES + NSOCKS)
#define MAXF		(256 * 1024)	/* files never grow beyond this */
#define MAXLEN		(256 * 1024)	/* longest single operation */
#define MAXOPS		40
#define MAXVER		(MAXOPS + 8)
#define RACY_SIZE	(32 * 1024)
#define SEQ_TIMEOUT	20		/* seconds per sequence */
#define CODE_SIZE	(192 * 1024)	/* recorded reproducer */
#define DRAIN_CHUNK	65536
#define ALL_FLAGS	(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | \
			 SPLICE_F_GIFT | SPLICE_F_STABLE)

/* ---- operations ------------------------------------------------------- */

enum op_type {
	OP_SPLICE_FP,	/* file a -> pipe b; c: 1 file position, 2 io_uring */
	OP_SENDFILE_FP,	/* sendfile file a -> pipe b */
	OP_WRITE_P,	/* write(2), writev(2) of c pieces, into pipe b */
	OP_VMSPLICE_P,	/* vmsplice(2) of c pieces of user memory into pipe b */
	OP_SPLICE_SP,	/* socket a -> pipe b; c: 2 io_uring */
	OP_SPLICE_ZP,	/* /dev/zero -> pipe b */
	OP_SPLICE_PP,	/* pipe a -> pipe b; c: 2 io_uring */
	OP_TEE,		/* tee pipe a -> pipe b; c: 2 io_uring */
	OP_WRITE_S,	/* write(2) into socket a */
	OP_SPLICE_PS,	/* pipe a -> socket b; c: 2 io_uring */
	OP_SENDFILE_FS,	/* sendfile file a -> socket b */
	OP_READ_P,	/* read(2) from pipe a */
	OP_VMSPLICE_R,	/* vmsplice(2) from pipe a to c pieces of user memory */
	OP_SPLICE_PF,	/* pipe a -> sink file, read back; c: 2 io_uring */
	OP_SPLICE_PN,	/* pipe a -> /dev/null */
	OP_RECV_S,	/* read(2) from the receiving end of socket a */
	OP_SETPIPE,	/* F_SETPIPE_SZ of pipe a to len */
	OP_M_WRITE,	/* file a; c: how (see m_write()) */
	OP_M_MMAP,	/* file a; c: 0 own mapping, 1 held one, 2 unmap, 3 map */
	OP_M_TRUNC,	/* ftruncate file a to len */
	OP_M_FALLOC,	/* fallocate file a; c: mode (see m_falloc()) */
	OP_M_COPY,	/* copy_file_range file b @c -> file a @off */
	OP_M_CLONE,	/* FICLONERANGE file b @c -> file a @off */
	OP_M_DEDUPE,	/* FIDEDUPERANGE file b @c -> file a @off */
	OP_M_SENDFILE,	/* sendfile file b @c -> file a @off */
	OP_M_SPLICE,	/* write to a scratch pipe, splice it into file a @off */
	OP_M_UNLINK,	/* close every descriptor of file a and unlink it */
	NR_OPS
};

static const char * const op_names[NR_OPS] = {
	"splice_fp", "sendfile_fp", "write_p", "vmsplice_p", "splice_sp",
	"splice_zp", "splice_pp", "tee", "write_s", "splice_ps", "sendfile_fs",
	"read_p", "vmsplice_r", "splice_pf", "splice_pn", "recv_s", "setpipe",
	"m_write", "m_mmap", "m_trunc", "m_falloc", "m_copy", "m_clone",
	"m_dedupe", "m_sendfile", "m_splice", "m_unlink",
};

#define VIA_POS		1	/* c bit: use the file position */
#define VIA_URING	2	/* c bit: go through io_uring */

struct op {
	int type, a, b, c;
	long off, len;
	unsigned int flags;
};

struct world_cfg {
	long size[NFILES];	/* initial file sizes */
	int racy;		/* a writer thread rewrites file 1 */
};

struct seq {
	struct world_cfg w;
	int nops;
	struct op ops[MAXOPS];
};

/* ---- the test's configuration (parent) -------------------------------- */

static struct {
	char dir[PATH_MAX - 64];
	char fs[64];
	char out[PATH_MAX - 128];
	bool stable;		/* the kernel accepts SPLICE_F_STABLE */
	bool assume_stable;	/* self-test: plain splices modelled as stable */
	bool uring;		/* io_uring splice works */
	bool verbose;
	unsigned long long seed;
	int seconds;
	int shrink_seconds;
	const char *classes;
	const char *replay;
	double start;
	unsigned long trials;	/* sequences run, for the kmsg markers */
	int kmsg_rd;		/* /dev/kmsg, for kernel reports */
	bool kmsg_wr;
	unsigned long taint0;	/* /proc/sys/kernel/tainted at the start */
	bool damaged;		/* the kernel oopsed since: trust nothing */
	bool shrink_replay;	/* --shrink: shrink a --replay that fails */
	char want_sig[96];	/* --replay @FILE: the failure to shrink */
	char progress[PATH_MAX];	/* shrinking so far, for a fresh boot */
	double shrinking;	/* seconds spent shrinking */
} cfg;

/* ---- what a child reports ----------------------------------------------- */

enum fail_kind {
	F_NONE, F_KERNEL, F_HANG, F_CRASH, F_STABLE, F_PLAIN, F_EXACT, F_LOST,
	F_INVENTED, F_ERRNO, F_RESULT, F_FLAG, F_ESTALE, F_SETUP, NR_FAILS
};

static const char * const fail_names[NR_FAILS] = {
	"none", "kernel report", "hang", "crash", "stable data changed",
	"plain splice delivered a byte the file never held",
	"data corrupted", "data lost", "bytes invented", "unexpected error",
	"wrong return value", "flag not rejected",
	"ESTALE on data not spliced with SPLICE_F_STABLE", "cannot set up",
};

struct outcome {
	int kind;
	int op;			/* failing op (nops: the final drain) */
	int cur_op;		/* op being run, for hangs */
	int ops_run;
	int maxver;		/* versions the reproducer must hold */
	unsigned int used_uring;
	unsigned long bytes_checked;
	unsigned long estale;		/* ESTALE seen by consumers */
	unsigned long estale_unchanged;	/* ... with the file as it was */
	unsigned long stable_bytes;	/* stable data delivered intact */
	char msg[700];
	char sig[96];		/* kind and place: failures that are the same */
	char kreports[400];	/* where each kernel report was, "|" between */
	size_t code_len;
	bool code_truncated;
	char code[CODE_SIZE];
};

static struct outcome *res;

/* ---- content: every byte is tagged with the write that made it ---------- */

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 32;
	return x;
}

/*
 * Byte @pos of the data with tag @tag: never 0 (holes read as 0), and two
 * tags differ in most bytes.  Tag 0 is all zeroes (/dev/zero).  Copied into
 * the reproducers verbatim.
 */
static void fill(unsigned char *buf, uint32_t tag, uint64_t pos, size_t len)
{
	uint64_t h;

	if (!tag) {
		memset(buf, 0, len);
		return;
	}
	while (len) {
		h = mix((pos >> 3) * 0x9e3779b97f4a7c15ULL + tag * 0xd1b54a32d192ed03ULL + 1);
		h >>= (pos & 7) * 8;
		do {
			*buf++ = h | 1;
			h >>= 8;
			len--;
		} while (len && (++pos & 7));
	}
}

/*
 * The racy writer's generation @gen at @pos: the generation modulo 251 can
 * be read back from any byte, so a byte is checked against a range of them.
 */
static inline unsigned int racy_hash(uint64_t pos)
{
	return (mix(pos * 0x9e3779b97f4a7c15ULL + 0x5bd1e995) & 0xff) % 251;
}

static inline unsigned char racy_byte(unsigned long gen, uint64_t pos)
{
	return (gen + racy_hash(pos)) % 251 + 1;
}

static bool racy_ok(unsigned char b, uint64_t pos, unsigned long lo,
		    unsigned long hi)
{
	unsigned int g;

	if (b < 1 || b > 251)
		return false;
	if (hi - lo >= 250)
		return true;	/* too many generations to tell: sound to accept */
	g = (b - 1 + 251 - racy_hash(pos)) % 251;
	return lo + (g + 251 - lo % 251) % 251 <= hi;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: small, and the same numbers on every machine */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static long rnd(long n)
{
	return n > 0 ? (long)(rng() % n) : 0;
}

/* ---- the model (child) --------------------------------------------------- */

enum seg_kind { SEG_EXACT, SEG_PLAIN, SEG_STABLE, SEG_RACY };

static const char * const seg_names[] = { "exact", "plain", "stable", "racy" };

/* A run of bytes in a pipe or socket, as its producer put it there. */
struct seg {
	int kind;
	bool stable;		/* spliced with SPLICE_F_STABLE: may go with ESTALE */
	int file;		/* SEG_PLAIN, SEG_STABLE, SEG_RACY */
	long ver;		/* version at splice time (SEG_RACY: generation) */
	long vend;		/* last version it may show; -1: still open */
	uint32_t tag;		/* SEG_EXACT: fill() tag of the data */
	int64_t off;		/* file offset, or offset in the tagged data */
	size_t len;		/* bytes not yet taken out */
	int op;			/* the op that put it in */
};

struct stream {
	struct seg *q;
	int head, n, cap;
	size_t bytes;		/* what the model holds */
	size_t consumed;	/* bytes taken out for good (reproducer's log) */
	int rfd, wfd;
	bool is_pipe, stuck, untracked;
	int resplices;
	char name[24];
};

struct mfile {
	bool alive, racy;
	char path[PATH_MAX], link[PATH_MAX];
	int fd, fd2, fdl, fdd, fda;
	unsigned char *map;
	int nver;
	unsigned char *ver[MAXVER];
	size_t vsize[MAXVER];
	bool vdrop[MAXVER];	/* the change may have dropped cached pages */
	int vop[MAXVER];	/* the op that made the version */
};

struct uring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static struct {
	const struct seq *s;
	struct mfile f[NFILES];
	struct stream st[NSTREAMS];
	int zero, null, sink;
	char sink_path[PATH_MAX];
	int64_t sink_off;
	struct uring ring;
	bool ring_ok;
	unsigned int used;	/* objects the sequence refers to */
	pthread_t racy_thread;
	bool racy_running;
} W;

/* The writer thread's progress: read and written with __atomic builtins. */
static struct {
	unsigned long begun, done;
	int stop;
	int fd;
} racy;

#define U_FILE(f)	BIT(f)
#define U_STREAM(s)	BIT(4 + (s))
#define U_ZERO		BIT(12)
#define U_NULL		BIT(13)
#define U_SINK		BIT(14)
#define U_XFD(f)	BIT(16 + (f))	/* the other descriptors */

static int cur_op;		/* op being run */
static unsigned char iobuf[1 << 20], expbuf[1 << 20];
static char fdname[1024][16];

static const char *fdn(int fd)
{
	return fd >= 0 && fd < 1024 && fdname[fd][0] ? fdname[fd] : "-1";
}

static void name_fd(int fd, const char *fmt, ...)
{
	va_list ap;

	if (fd < 0 || fd >= 1024)
		return;
	va_start(ap, fmt);
	vsnprintf(fdname[fd], sizeof(fdname[fd]), fmt, ap);
	va_end(ap);
}

/* Append C source to the reproducer (the syscalls as they were made). */
static bool rec_mute;

static __printf(1, 2) void rec(const char *fmt, ...)
{
	size_t room = CODE_SIZE - res->code_len;
	va_list ap;
	int n;

	if (room < 2 || rec_mute)
		return;
	va_start(ap, fmt);
	n = vsnprintf(res->code + res->code_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		res->code_truncated = true;
		res->code_len = CODE_SIZE - 1;
		res->code[res->code_len] = 0;
	} else {
		res->code_len += n;
	}
}

static void rec_show(const char *what)
{
	rec("\tshow(%d, \"%s\", n);\n", cur_op, what);
}

static const char *opname(int op);
static const char *fail_where = "";	/* set by callers of fail() */

static __printf(2, 3) void fail(int kind, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (res->kind)
		return;
	res->kind = kind;
	res->op = cur_op;
	snprintf(res->sig, sizeof(res->sig), "%s/%s", fail_names[kind], fail_where);
	n = snprintf(res->msg, sizeof(res->msg), "op %d (%s): ", cur_op, opname(cur_op));
	va_start(ap, fmt);
	vsnprintf(res->msg + n, sizeof(res->msg) - n, fmt, ap);
	va_end(ap);
}

static const char *opname(int op)
{
	if (op < 0)
		return "setup";
	return op < W.s->nops ? op_names[W.s->ops[op].type] : "drain";
}

/* ---- the files' versions ------------------------------------------------ */

static int cur_ver(int f)
{
	return W.f[f].nver - 1;
}

static size_t cur_size(int f)
{
	return W.f[f].vsize[cur_ver(f)];
}

static unsigned char vbyte(int f, long v, int64_t pos)
{
	return (size_t)pos < W.f[f].vsize[v] ? W.f[f].ver[v][pos] : 0;
}

static void vbytes(int f, long v, int64_t pos, size_t len, unsigned char *out)
{
	size_t size = W.f[f].vsize[v], n = 0;

	if ((size_t)pos < size)
		n = size - pos < len ? size - pos : len;
	memcpy(out, W.f[f].ver[v] + pos, n);
	memset(out + n, 0, len - n);
}

/*
 * The file as it is now becomes a new version: read back with pread(), the
 * reference for "what the file held" (the splice paths are the subject, not
 * the writes).  @drop: the change may have dropped cached pages.
 */
static void snapshot(int f, bool drop)
{
	struct mfile *m = &W.f[f];
	unsigned char *buf;
	struct stat stbuf;
	ssize_t n;
	int v = m->nver;

	if (m->racy || v >= MAXVER)
		return;
	buf = malloc(MAXF);
	if (!buf || fstat(m->fd, &stbuf)) {
		fail(F_SETUP, "no version of file %d: %s", f, strerror(errno));
		return;
	}
	n = pread(m->fd, buf, MAXF, 0);
	rec("\tn = pread(%s, ver[%d][%d], MAXF, 0);\n", fdn(m->fd), f, v);
	if (n < 0 || n != (stbuf.st_size < MAXF ? stbuf.st_size : MAXF)) {
		fail(F_SETUP, "read back file %d: %zd of %lld bytes: %s", f, n,
		     (long long)stbuf.st_size, strerror(errno));
		free(buf);
		return;
	}
	if (v && (size_t)n == m->vsize[v - 1] && !memcmp(buf, m->ver[v - 1], n)) {
		free(buf);
		buf = m->ver[v - 1];	/* unchanged: share the copy */
	}
	m->ver[v] = buf;
	m->vsize[v] = n;
	m->vdrop[v] = drop;
	m->vop[v] = cur_op;
	m->nver++;
	if (m->nver > res->maxver)
		res->maxver = m->nver;
}

/* Did any version from @v0 on drop pages (ENODATA may follow)? */
static bool dropped_since(int f, long v0)
{
	int v;

	for (v = v0 + 1; v < W.f[f].nver; v++)
		if (W.f[f].vdrop[v])
			return true;
	return false;
}

/* ---- streams ----------------------------------------------------------- */

static struct seg *front(struct stream *st)
{
	while (st->head < st->n && !st->q[st->head].len)
		st->head++;
	return st->head < st->n ? &st->q[st->head] : NULL;
}

static void push(struct stream *st, const struct seg *sg)
{
	if (!sg->len)
		return;
	if (st->n == st->cap) {
		st->cap = st->cap ? 2 * st->cap : 64;
		st->q = realloc(st->q, st->cap * sizeof(*st->q));
		if (!st->q)
			abort();
	}
	st->q[st->n++] = *sg;
	st->bytes += sg->len;
}

static void push_exact(struct stream *st, uint32_t tag, int64_t off,
		       size_t len)
{
	struct seg sg = { .kind = SEG_EXACT, .tag = tag, .off = off,
			  .len = len, .op = cur_op, .vend = -1 };

	push(st, &sg);
}

static const char *seg_desc(const struct seg *sg, char *buf, size_t len)
{
	if (sg->kind == SEG_EXACT)
		snprintf(buf, len, "%s data of op %d (%s)",
			 sg->tag ? "written" : "/dev/zero", sg->op, opname(sg->op));
	else
		snprintf(buf, len, "%s file %d data of op %d (%s) at offset %lld",
			 seg_names[sg->kind], sg->file, sg->op, opname(sg->op),
			 (long long)sg->off);
	return buf;
}

/* The segment starting @at bytes into @sg, @len long. */
static struct seg slice(const struct seg *sg, size_t at, size_t len)
{
	struct seg s = *sg;

	s.off += at;
	s.len = len;
	return s;
}

static void freeze(struct seg *sg)
{
	if (sg->kind == SEG_PLAIN && sg->vend < 0)
		sg->vend = cur_ver(sg->file);
	else if (sg->kind == SEG_RACY && sg->vend < 0)
		sg->vend = racy.begun;
}

/*
 * @n bytes go from the front of @from to the end of @to: moved (splice) or
 * copied (tee, @copy).  @frz: they were copied out of shared pages (stable
 * splice from a socket), so plain data stops changing.
 */
static void move_bytes(struct stream *from, struct stream *to, size_t n,
		       bool copy, bool frz)
{
	int i;

	if (from->untracked || to->untracked) {
		to->untracked = true;
		if (!copy)
			from->untracked = true;
		return;
	}
	if (n > from->bytes) {
		fail(F_INVENTED, "%zu bytes went from %s to %s, which held %zu",
		     n, from->name, to->name, from->bytes);
		return;
	}
	for (i = from->head; n && i < from->n; i++) {
		struct seg *sg = &from->q[i];
		size_t m = sg->len < n ? sg->len : n;
		struct seg s;

		if (!m)
			continue;
		s = slice(sg, 0, m);
		if (frz)
			freeze(&s);
		push(to, &s);
		n -= m;
		if (!copy) {
			sg->off += m;
			sg->len -= m;
			from->bytes -= m;
		}
	}
}

/* ---- checking what a reader got ------------------------------------------ */

static void rec_check_eq(int s, size_t spos, size_t len, const char *want,
			 const char *what)
{
	rec("\tcheck_eq(%d, %zu, %s, %zu, \"%s\");\n", s, spos, want, len, what);
}

static void check_chunk(struct stream *st, int s, const struct seg *sg,
			const unsigned char *buf, size_t m, size_t spos)
{
	char desc[160], want[96];
	size_t i, bad = 0, first = 0;
	long v, v0, v1;
	bool zero_ok;

	res->bytes_checked += m;
	fail_where = st->is_pipe ? "pipe" : "socket";
	seg_desc(sg, desc, sizeof(desc));
	switch (sg->kind) {
	case SEG_EXACT:
	case SEG_STABLE:
		if (sg->kind == SEG_EXACT)
			fill(expbuf, sg->tag, sg->off, m);
		else
			vbytes(sg->file, sg->ver, sg->off, m, expbuf);
		if (!memcmp(expbuf, buf, m)) {
			if (sg->kind == SEG_STABLE)
				res->stable_bytes += m;
			return;
		}
		for (i = 0; i < m; i++) {
			if (expbuf[i] != buf[i] && !bad++)
				first = i;
		}
		if (sg->kind == SEG_EXACT) {
			fail(F_EXACT,
			     "%s got %zu bytes of the %s, %zu differ, first at %zu (want %#x, got %#x)",
			     st->name, m, desc, bad, first, expbuf[first], buf[first]);
			rec("\tfill(tmp, %#x, %lld, %zu);\n", sg->tag,
			    (long long)sg->off, m);
			rec_check_eq(s, spos, m, "tmp", "written data intact");
			return;
		}
		/* Which version is it, if it is one? */
		for (v = cur_ver(sg->file); v > sg->ver; v--) {
			vbytes(sg->file, v, sg->off, m, expbuf);
			if (!memcmp(expbuf, buf, m))
				break;
		}
		if (v > sg->ver)
			snprintf(want, sizeof(want), ": the file's content after op %d (%s)",
				 W.f[sg->file].vop[v], opname(W.f[sg->file].vop[v]));
		else
			want[0] = 0;
		fail(F_STABLE,
		     "the reader of %s got %zu bytes of %s spliced with SPLICE_F_STABLE, %zu of them changed since the splice, first at file offset %lld (want %#x, got %#x)%s",
		     st->name, m, desc, bad, (long long)(sg->off + first),
		     vbyte(sg->file, sg->ver, sg->off + first), buf[first], want);
		snprintf(want, sizeof(want), "ver[%d][%ld] + %lld", sg->file,
			 sg->ver, (long long)sg->off);
		rec_check_eq(s, spos, m, want, "stable data as at splice time");
		return;
	case SEG_PLAIN:
		v0 = sg->ver;
		v1 = sg->vend >= 0 ? sg->vend : cur_ver(sg->file);
		/*
		 * Where page cache was dropped (truncate, fallocate, reflink,
		 * dedupe, O_DIRECT), truncate_inode_partial_folio() zeroes in
		 * place the part of a large folio it cannot split off, which it
		 * cannot while a pipe holds the folio: plain splice may give 0.
		 */
		zero_ok = dropped_since(sg->file, v0);
		for (i = 0; i < m; i++) {
			if (zero_ok && !buf[i])
				continue;
			for (v = v1; v >= v0; v--)
				if (vbyte(sg->file, v, sg->off + i) == buf[i])
					break;
			if (v < v0)
				break;
		}
		if (i == m)
			return;
		fail(F_PLAIN,
		     "the reader of %s got %#x at file offset %lld of %s, which the file never held there between versions %ld and %ld",
		     st->name, buf[i], (long long)(sg->off + i), desc, v0, v1);
		rec("\tcheck_any(%d, %zu, %d, %ld, %ld, %lld, %zu, %d);\n", s,
		    spos + i, sg->file, v0, v1, (long long)(sg->off + i), m - i, zero_ok);
		return;
	case SEG_RACY:
		v1 = sg->vend >= 0 ? sg->vend : (long)racy.begun;
		for (i = 0; i < m; i++)
			if (!racy_ok(buf[i], sg->off + i, sg->ver, v1))
				break;
		if (i == m)
			return;
		fail(F_PLAIN,
		     "the reader of %s got %#x at file offset %lld of %s, not from a generation %ld..%ld the writer had begun",
		     st->name, buf[i], (long long)(sg->off + i), desc, sg->ver, v1);
		return;
	}
}

/*
 * A reader took @n bytes out of stream @s for good (@seen: it can look at
 * them, /dev/null cannot).
 */
static void deliver(int s, const unsigned char *buf, size_t n, bool seen)
{
	struct stream *st = &W.st[s];
	size_t pos = 0, m;
	struct seg *sg;

	if (seen)
		rec("\tif (n > 0)\n\t\tlogit(%d, buf, n);\n", s);
	else
		rec("\tif (n > 0)\n\t\tlogit(%d, NULL, n);\n", s);
	if (st->untracked || st->stuck) {
		st->consumed += n;
		return;
	}
	while (pos < n && !res->kind) {
		sg = front(st);
		if (!sg) {
			fail_where = st->is_pipe ? "pipe" : "socket";
			fail(F_INVENTED, "%s delivered %zu bytes more than were put in",
			     st->name, n - pos);
			rec("\tif (lgn[%d] > %zu)\n"
			    "\t\treproduced(\"%s delivered bytes nobody put in\");\n",
			    s, st->consumed + pos, st->name);
			return;
		}
		m = sg->len < n - pos ? sg->len : n - pos;
		if (seen)
			check_chunk(st, s, sg, buf + pos, m, st->consumed + pos);
		sg->off += m;
		sg->len -= m;
		st->bytes -= m;
		pos += m;
	}
	st->consumed += n;
}

/* ---- errors of pipe consumers ------------------------------------------- */

/* The flags the kernel gets: --assume-stable keeps the flag to the model. */
static unsigned int kflags(unsigned int flags)
{
	return cfg.assume_stable ? flags & ~SPLICE_F_STABLE : flags;
}

/* Is the flag passed where it has to be rejected? */
static bool must_reject(unsigned int flags)
{
	return (flags & SPLICE_F_STABLE) && !cfg.assume_stable;
}

static void resplice(int s, const struct seg *sg);

/*
 * A consumer of pipe @s failed with ESTALE, having moved nothing: the data
 * at the front must have been spliced with SPLICE_F_STABLE.  The series
 * empties the pipe; what the flag promises is that nothing other producers
 * queued is lost.  FIONREAD tells what is left.
 */
static void on_estale(int s)
{
	struct stream *st = &W.st[s];
	size_t rest_ns = 0, rest_all, stale_len;
	struct seg *sg = front(st), stale;
	const struct seg *lost = NULL;
	char desc[160], desc2[160];
	int i, avail = -1;

	if (st->untracked)
		return;
	if (!sg) {
		fail(F_ESTALE, "ESTALE from %s, which is empty", st->name);
		return;
	}
	if (!sg->stable) {
		fail(F_ESTALE, "ESTALE from %s, whose next bytes are %s",
		     st->name, seg_desc(sg, desc, sizeof(desc)));
		rec("\tif (n < 0 && errno == ESTALE)\n"
		    "\t\treproduced(\"ESTALE on data not spliced with SPLICE_F_STABLE\");\n");
		return;
	}
	stale = *sg;
	stale_len = sg->len;
	res->estale++;
	if (sg->kind == SEG_STABLE && W.f[sg->file].alive && cur_ver(sg->file) == sg->ver)
		res->estale_unchanged++;
	for (i = st->head + 1; i < st->n; i++) {
		const struct seg *q = &st->q[i];

		if (!q->len || q->stable)
			continue;
		rest_ns += q->len;
		if (!lost)
			lost = q;
	}
	rest_all = st->bytes - stale_len;
	ioctl(st->rfd, FIONREAD, &avail);
	rec("\tstale = n < 0 && errno == ESTALE;\n"
	    "\tif (stale) {\n"
	    "\t\tioctl(%s, FIONREAD, &avail);\n"
	    "\t\tprintf(\"    %s holds %%d bytes after ESTALE\\n\", avail);\n"
	    "\t}\n",
	    fdn(st->rfd), st->name);
	if (avail >= 0 && (size_t)avail < rest_ns) {
		fail_where = lost->kind == SEG_EXACT ? "after ESTALE/written" :
			     "after ESTALE/plain";
		fail(F_LOST,
		     "ESTALE on the %s; then %s holds %d bytes, but %zu bytes other producers put in were queued behind it, first the %zu bytes of %s: lost",
		     seg_desc(sg, desc, sizeof(desc)), st->name, avail, rest_ns,
		     lost->len, seg_desc(lost, desc2, sizeof(desc2)));
		rec("\tif (stale && avail < %zu)\n"
		    "\t\treproduced(\"ESTALE discarded the data other producers put into the pipe\");\n",
		    rest_ns);
		return;
	}
	if (avail >= 0 && (size_t)avail == rest_all) {
		sg->len = 0;		/* only the stale data went */
		st->bytes -= stale_len;
		resplice(s, &stale);
		return;
	}
	if (avail >= 0 && (size_t)avail == rest_ns) {
		/* All stable data went; its splicer splices it again. */
		struct seg *again = malloc((st->n - st->head) * sizeof(*again));
		int n = 0;

		for (i = st->head; i < st->n; i++) {
			struct seg *q = &st->q[i];

			if (!q->len || !q->stable)
				continue;
			again[n++] = *q;
			st->bytes -= q->len;
			q->len = 0;
		}
		for (i = 0; i < n && !res->kind; i++)
			resplice(s, &again[i]);
		free(again);
		return;
	}
	/* Some stable data went, some not: no longer know what is where. */
	st->untracked = true;
}

/*
 * The documented recovery: splice again, from the first byte not delivered;
 * the new data must be the file's content as it is now.
 */
static void resplice(int s, const struct seg *sg)
{
	struct stream *st = &W.st[s];
	struct mfile *m = &W.f[sg->file];
	size_t left = sg->len;
	loff_t off = sg->off;
	ssize_t n;

	while (left && m->alive && st->resplices < 64 && !res->kind) {
		struct seg ns = { .kind = m->racy ? SEG_RACY : SEG_STABLE,
				  .stable = true, .file = sg->file, .off = off,
				  .op = cur_op, .vend = -1 };

		ns.ver = m->racy ? (long)racy.done : cur_ver(sg->file);
		st->resplices++;
		n = splice(m->fd, &off, st->wfd, NULL, left,
			   kflags(SPLICE_F_STABLE | SPLICE_F_NONBLOCK));
		rec("\to = %lld;\n\tn = splice(%s, &o, %s, NULL, %zu, %#x);\n",
		    (long long)ns.off, fdn(m->fd), fdn(st->wfd), left,
		    kflags(SPLICE_F_STABLE | SPLICE_F_NONBLOCK));
		rec_show("splice again after ESTALE");
		if (n <= 0)
			return;		/* full: the tester gives up on the rest */
		ns.len = n;
		push(st, &ns);
		left -= n;
	}
}

/* ENODATA (or 0 from a splice): plain page cache data whose pages went. */
static void on_nodata(int s, const char *what)
{
	struct stream *st = &W.st[s];
	struct seg *sg = front(st);
	char desc[160];

	if (st->untracked)
		return;
	if (sg && sg->kind == SEG_PLAIN && dropped_since(sg->file, sg->ver)) {
		st->stuck = true;	/* the buffer stays at the front */
		return;
	}
	fail_where = what;
	if (!sg)
		fail(F_RESULT, "%s on %s, which is empty", what, st->name);
	else
		fail(F_LOST, "%s on %s, whose next bytes are %s", what, st->name,
		     seg_desc(sg, desc, sizeof(desc)));
	rec("\treproduced(\"%s with data in the pipe\");\n", what);
}

/* The reproducer says EFAULT rather than 14 where it can. */
static const char *errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ EAGAIN, "EAGAIN" }, { EFAULT, "EFAULT" }, { EINVAL, "EINVAL" },
		{ EIO, "EIO" }, { ENOMEM, "ENOMEM" }, { EPIPE, "EPIPE" },
		{ EBADF, "EBADF" }, { ENODATA, "ENODATA" }, { ESTALE, "ESTALE" },
		{ ENOSPC, "ENOSPC" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { EXDEV, "EXDEV" },
		{ ESPIPE, "ESPIPE" }, { EBUSY, "EBUSY" }, { EPERM, "EPERM" },
	};
	static char num[16];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(num, sizeof(num), "%d", err);
	return num;
}

static void unexpected(const char *call, int err)
{
	fail_where = call;
	fail(F_ERRNO, "%s failed: %s", call, strerror(err));
	rec("\tif (n < 0 && errno == %s)\n\t\treproduced(\"%s failed with %s\");\n",
	    errno_name(err), call, strerror(err));
}

/*
 * What a consumer of pipe @s got back: @n bytes, or -1 and @err.  Returns
 * the bytes moved (0 on errors the model accepts).
 */
static ssize_t consumed_result(int s, ssize_t n, int err, const char *call)
{
	struct stream *st = &W.st[s];

	if (n > 0)
		return n;
	if (n == 0) {
		if (st->bytes && !st->stuck)
			on_nodata(s, "0 bytes");
		return 0;
	}
	switch (err) {
	case EAGAIN:
		if (st->bytes && !st->stuck && !st->untracked && st->is_pipe) {
			char desc[160];

			fail_where = "pipe";
			fail(F_LOST,
			     "%s found %s empty, but it should hold %zu bytes, first the %s",
			     call, st->name, st->bytes,
			     seg_desc(front(st), desc, sizeof(desc)));
			rec("\tif (n < 0 && errno == EAGAIN)\n"
			    "\t\treproduced(\"%s is empty: data lost\");\n",
			    st->name);
		}
		return 0;
	case ESTALE:
		on_estale(s);
		return 0;
	case ENODATA:
		on_nodata(s, "ENODATA");
		return 0;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return 0;
	}
	unexpected(call, err);
	return 0;
}

/* ---- io_uring, raw: liburing may not be installed ----------------------- */

static int uring_setup(struct uring *r)
{
	struct io_uring_params p;
	size_t sqlen, cqlen;
	void *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -1;
	sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (cqlen < sqlen)
			cqlen = sqlen;
		sqlen = cqlen;
	}
	sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		goto err;
	cq = sq;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			goto err;
	}
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		goto err;
	r->sq_tail = sq + p.sq_off.tail;
	r->sq_mask = sq + p.sq_off.ring_mask;
	r->sq_array = sq + p.sq_off.array;
	r->cq_head = cq + p.cq_off.head;
	r->cq_tail = cq + p.cq_off.tail;
	r->cq_mask = cq + p.cq_off.ring_mask;
	r->cqes = cq + p.cq_off.cqes;
	return 0;
err:
	close(r->fd);
	return -1;
}

/* One IORING_OP_SPLICE or IORING_OP_TEE, waited for; -1 and errno on errors. */
static long uring_op(struct uring *r, int opcode, int in, int64_t off_in,
		     int out, int64_t off_out, unsigned int len,
		     unsigned int flags)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	long ret;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = out;
	sqe->off = off_out;
	sqe->splice_off_in = off_in;
	sqe->splice_fd_in = in;
	sqe->len = len;
	sqe->splice_flags = flags;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	do {
		ret = syscall(__NR_io_uring_enter, r->fd, 1, 1,
			      IORING_ENTER_GETEVENTS, NULL, 0);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -1;
	head = *r->cq_head;
	while (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS,
			NULL, 0);
	ret = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}

/* splice(2), or IORING_OP_SPLICE with @uring; offsets go through "o". */
static ssize_t do_splice(bool uring, int in, loff_t *off_in, int out,
			 loff_t *off_out, size_t len, unsigned int flags)
{
	loff_t *off = off_in ? off_in : off_out;

	flags = kflags(flags);
	if (off)
		rec("\to = %lld;\n", (long long)*off);
	if (uring) {
		res->used_uring = 1;
		rec("\tn = uring_op(IORING_OP_SPLICE, %s, %s, %s, %s, %zu, %#x);\n",
		    fdn(in), off_in ? "o" : "-1", fdn(out), off_out ? "o" : "-1",
		    len, flags);
		return uring_op(&W.ring, IORING_OP_SPLICE, in, off_in ? *off_in : -1,
				out, off_out ? *off_out : -1, len, flags);
	}
	rec("\tn = splice(%s, %s, %s, %s, %zu, %#x);\n", fdn(in),
	    off_in ? "&o" : "NULL", fdn(out), off_out ? "&o" : "NULL", len, flags);
	return splice(in, off_in, out, off_out, len, flags);
}

static ssize_t do_tee(bool uring, int in, int out, size_t len,
		      unsigned int flags)
{
	flags = kflags(flags);
	if (uring) {
		res->used_uring = 1;
		rec("\tn = uring_op(IORING_OP_TEE, %s, 0, %s, 0, %zu, %#x);\n",
		    fdn(in), fdn(out), len, flags);
		return uring_op(&W.ring, IORING_OP_TEE, in, 0, out, 0, len, flags);
	}
	rec("\tn = tee(%s, %s, %zu, %#x);\n", fdn(in), fdn(out), len, flags);
	return tee(in, out, len, flags);
}

/* Pieces of one buffer for writev(2) and vmsplice(2); as in reproducers. */
static struct iovec iov[4];

static int iov_split(unsigned char *p, size_t len, int pieces)
{
	int i;

	for (i = 0; i < pieces; i++) {
		iov[i].iov_base = p + len * i / pieces;
		iov[i].iov_len = len * (i + 1) / pieces - len * i / pieces;
	}
	return pieces;
}

/* ---- the operations (child) ---------------------------------------------- */

static int fidx(int i)
{
	return i % NFILES;
}

static int pidx(int i)
{
	return i % NPIPES;
}

static int sidx(int i)
{
	return NPIPES + i % NSOCKS;
}

/* Needs SPLICE_F_STABLE, which this kernel does not have: skip. */
static bool skip_stable(unsigned int flags)
{
	if (!(flags & SPLICE_F_STABLE) || cfg.stable || cfg.assume_stable)
		return false;
	rec("\t/* skipped: no SPLICE_F_STABLE in this kernel */\n");
	return true;
}

static bool skip_uring(int c)
{
	if (!(c & VIA_URING) || W.ring_ok)
		return false;
	rec("\t/* skipped: no io_uring */\n");
	return true;
}

static __printf(2, 3) void bad_result(ssize_t n, const char *fmt, ...)
{
	va_list ap;
	char msg[300];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail(F_RESULT, "%s", msg);
	rec("\tif (n == %zd)\n\t\treproduced(\"wrong return value\");\n", n);
}

/* A splice that must fail with EINVAL: SPLICE_F_STABLE on pipe buffers. */
static bool check_rejected(ssize_t n, int err, const char *call)
{
	if (n >= 0) {
		fail(F_FLAG, "%s with SPLICE_F_STABLE returned %zd, not EINVAL",
		     call, n);
		rec("\tif (n >= 0)\n\t\treproduced(\"%s accepted SPLICE_F_STABLE\");\n",
		    call);
		return false;
	}
	if (err != EINVAL)
		unexpected(call, err);
	return true;
}

static void x_splice_fp(const struct op *o)
{
	int f = fidx(o->a), s = pidx(o->b);
	struct mfile *m = &W.f[f];
	struct stream *st = &W.st[s];
	bool uring = o->c & VIA_URING;
	struct seg sg = { .file = f, .off = o->off, .op = cur_op, .vend = -1 };
	loff_t off = o->off, pos;
	size_t size;
	ssize_t n;
	int err;

	if (!m->alive || skip_stable(o->flags) || skip_uring(o->c))
		return;
	sg.stable = o->flags & SPLICE_F_STABLE;
	sg.kind = m->racy ? SEG_RACY : sg.stable ? SEG_STABLE : SEG_PLAIN;
	sg.ver = m->racy ? (long)__atomic_load_n(&racy.done, __ATOMIC_SEQ_CST) :
		 cur_ver(f);
	size = m->racy ? RACY_SIZE : cur_size(f);
	if (o->c & VIA_POS) {
		lseek(m->fd, o->off, SEEK_SET);
		rec("\tlseek(%s, %ld, SEEK_SET);\n", fdn(m->fd), o->off);
		n = do_splice(uring, m->fd, NULL, st->wfd, NULL, o->len, o->flags);
	} else {
		n = do_splice(uring, m->fd, &off, st->wfd, NULL, o->len, o->flags);
	}
	err = errno;
	rec_show("splice file -> pipe");
	if (n < 0) {
		if (err != EAGAIN)
			unexpected("splice from a file", err);
		return;
	}
	if ((size_t)n > (size_t)o->len || (n && (size_t)o->off + n > size)) {
		bad_result(n, "splice of %ld bytes at %ld of file %d (%zu bytes) returned %zd",
			   o->len, o->off, f, size, n);
		return;
	}
	if (o->c & VIA_POS) {
		pos = lseek(m->fd, 0, SEEK_CUR);
		if (pos != o->off + n) {
			fail(F_RESULT, "file position %lld after splicing %zd bytes from %ld",
			     (long long)pos, n, o->off);
			return;
		}
	} else if (!uring && off != o->off + n) {
		fail(F_RESULT, "offset %lld after splicing %zd bytes from %ld",
		     (long long)off, n, o->off);
		return;
	}
	sg.len = n;
	push(st, &sg);
}

static void x_sendfile_fp(const struct op *o)
{
	int f = fidx(o->a), s = pidx(o->b);
	struct mfile *m = &W.f[f];
	struct seg sg = { .file = f, .off = o->off, .op = cur_op, .vend = -1 };
	loff_t off = o->off;
	ssize_t n;
	int err;

	if (!m->alive)
		return;
	sg.kind = m->racy ? SEG_RACY : SEG_PLAIN;
	sg.ver = m->racy ? (long)__atomic_load_n(&racy.done, __ATOMIC_SEQ_CST) :
		 cur_ver(f);
	n = sendfile(W.st[s].wfd, m->fd, &off, o->len);
	err = errno;
	rec("\to = %ld;\n\tn = sendfile(%s, %s, &o, %ld);\n", o->off,
	    fdn(W.st[s].wfd), fdn(m->fd), o->len);
	rec_show("sendfile file -> pipe");
	if (n < 0) {
		if (err != EAGAIN && err != EINVAL)
			unexpected("sendfile to a pipe", err);
		return;
	}
	if (off != o->off + n || (size_t)n > (size_t)o->len) {
		bad_result(n, "sendfile of %ld bytes returned %zd, offset %lld",
			   o->len, n, (long long)off);
		return;
	}
	sg.len = n;
	push(&W.st[s], &sg);
}

static void x_write_p(const struct op *o)
{
	struct stream *st = &W.st[pidx(o->b)];
	int pieces = 1 + o->c % 4;
	uint32_t tag = 0x20000 + cur_op;
	ssize_t n;

	fill(iobuf, tag, 0, o->len);
	rec("\tfill(buf, %#x, 0, %ld);\n", tag, o->len);
	if (pieces == 1) {
		n = write(st->wfd, iobuf, o->len);
		rec("\tn = write(%s, buf, %ld);\n", fdn(st->wfd), o->len);
	} else {
		n = writev(st->wfd, iov, iov_split(iobuf, o->len, pieces));
		rec("\tn = writev(%s, iov, iov_split(buf, %ld, %d));\n",
		    fdn(st->wfd), o->len, pieces);
	}
	if (n < 0 && errno != EAGAIN)
		unexpected("write to a pipe", errno);
	rec_show("write -> pipe");
	if (n > 0)
		push_exact(st, tag, 0, n);
}

static void x_vmsplice_p(const struct op *o)
{
	struct stream *st = &W.st[pidx(o->b)];
	int pieces = 1 + o->c % 4;
	/* never blocks: without it vmsplice(2) waits for room */
	unsigned int flags = kflags(o->flags) | SPLICE_F_NONBLOCK;
	uint32_t tag = 0x20000 + cur_op;
	unsigned char *p;
	ssize_t n;
	int err;

	/* The pipe refers to these pages: they are never written again. */
	p = mmap(NULL, o->len + 1, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fail(F_SETUP, "mmap: %s", strerror(errno));
		return;
	}
	fill(p, tag, 0, o->len);
	n = vmsplice(st->wfd, iov, iov_split(p, o->len, pieces), flags);
	err = errno;
	rec("\tn = vmsplice(%s, iov, iov_split(fresh(%#x, %ld), %ld, %d), %#x);\n",
	    fdn(st->wfd), tag, o->len, o->len, pieces, flags);
	rec_show("vmsplice -> pipe");
	if (must_reject(o->flags)) {
		if (check_rejected(n, err, "vmsplice"))
			return;
	} else if (n < 0) {
		if (err != EAGAIN)
			unexpected("vmsplice to a pipe", err);
		return;
	}
	push_exact(st, tag, 0, n);
}

static void x_splice_sp(const struct op *o)
{
	struct stream *ss = &W.st[sidx(o->a)], *st = &W.st[pidx(o->b)];
	bool stable = o->flags & SPLICE_F_STABLE;
	ssize_t n;
	int err;

	if (ss->rfd < 0 || skip_stable(o->flags) || skip_uring(o->c))
		return;
	n = do_splice(o->c & VIA_URING, ss->rfd, NULL, st->wfd, NULL, o->len,
		      o->flags);
	err = errno;
	rec_show("splice socket -> pipe");
	if (n < 0) {
		if (err != EAGAIN)
			unexpected("splice from a socket", err);
		return;
	}
	/* A stable splice copies: what was still shared stops changing. */
	move_bytes(ss, st, n, false, stable);
}

static void x_splice_zp(const struct op *o)
{
	struct stream *st = &W.st[pidx(o->b)];
	ssize_t n;
	int err;

	if (skip_stable(o->flags))
		return;
	n = do_splice(false, W.zero, NULL, st->wfd, NULL, o->len, o->flags);
	err = errno;
	rec_show("splice /dev/zero -> pipe");
	if (n < 0) {
		if (err != EAGAIN)
			unexpected("splice from /dev/zero", err);
		return;
	}
	if ((size_t)n > (size_t)o->len) {
		bad_result(n, "splice of %ld bytes from /dev/zero returned %zd",
			   o->len, n);
		return;
	}
	push_exact(st, 0, 0, n);
}

/* splice between pipes, or tee(2) (@copy) */
static void x_pipe_pipe(const struct op *o, bool copy)
{
	int a = pidx(o->a), b = pidx(o->b);
	const char *call = copy ? "tee" : "splice between pipes";
	ssize_t n;
	int err;

	if (a == b)
		b = (a + 1) % NPIPES;
	if (skip_uring(o->c))
		return;
	if (copy)
		n = do_tee(o->c & VIA_URING, W.st[a].rfd, W.st[b].wfd, o->len,
			   o->flags);
	else
		n = do_splice(o->c & VIA_URING, W.st[a].rfd, NULL, W.st[b].wfd,
			      NULL, o->len, o->flags);
	err = errno;
	rec_show(copy ? "tee pipe -> pipe" : "splice pipe -> pipe");
	if (must_reject(o->flags)) {
		if (check_rejected(n, err, call))
			return;
	} else if (n < 0) {
		/* EAGAIN: the source is empty or the target full */
		if (err == ESTALE)
			on_estale(a);
		else if (err == ENODATA)
			on_nodata(a, "ENODATA");
		else if (err != EAGAIN)
			unexpected(call, err);
		return;
	}
	move_bytes(&W.st[a], &W.st[b], n, copy, false);
}

static void x_write_s(const struct op *o)
{
	struct stream *ss = &W.st[sidx(o->a)];
	uint32_t tag = 0x20000 + cur_op;
	ssize_t n;

	if (ss->wfd < 0)
		return;
	fill(iobuf, tag, 0, o->len);
	n = write(ss->wfd, iobuf, o->len);
	if (n < 0 && errno != EAGAIN)
		unexpected("write to a socket", errno);
	rec("\tfill(buf, %#x, 0, %ld);\n\tn = write(%s, buf, %ld);\n", tag,
	    o->len, fdn(ss->wfd), o->len);
	rec_show("write -> socket");
	if (n > 0)
		push_exact(ss, tag, 0, n);
}

static void x_splice_ps(const struct op *o)
{
	int a = pidx(o->a);
	struct stream *ss = &W.st[sidx(o->b)];
	ssize_t n;
	int err;

	if (ss->wfd < 0 || skip_stable(o->flags) || skip_uring(o->c))
		return;
	n = do_splice(o->c & VIA_URING, W.st[a].rfd, NULL, ss->wfd, NULL, o->len,
		      o->flags);
	err = errno;
	rec_show("splice pipe -> socket");
	if (n < 0) {
		/* EAGAIN: the pipe is empty or the socket full */
		if (err == ESTALE)
			on_estale(a);
		else if (err == ENODATA)
			on_nodata(a, "ENODATA");
		else if (err != EAGAIN && err != ENOBUFS && err != ENOMEM)
			unexpected("splice to a socket", err);
		return;
	}
	if (!n) {
		consumed_result(a, 0, 0, "splice to a socket");
		return;
	}
	move_bytes(&W.st[a], ss, n, false, false);
}

static void x_sendfile_fs(const struct op *o)
{
	int f = fidx(o->a);
	struct mfile *m = &W.f[f];
	struct stream *ss = &W.st[sidx(o->b)];
	struct seg sg = { .file = f, .off = o->off, .op = cur_op, .vend = -1 };
	loff_t off = o->off;
	ssize_t n;
	int err;

	if (!m->alive || ss->wfd < 0)
		return;
	sg.kind = m->racy ? SEG_RACY : SEG_PLAIN;
	sg.ver = m->racy ? (long)__atomic_load_n(&racy.done, __ATOMIC_SEQ_CST) :
		 cur_ver(f);
	n = sendfile(ss->wfd, m->fd, &off, o->len);
	err = errno;
	rec("\to = %ld;\n\tn = sendfile(%s, %s, &o, %ld);\n", o->off,
	    fdn(ss->wfd), fdn(m->fd), o->len);
	rec_show("sendfile file -> socket");
	if (n < 0) {
		if (err != EAGAIN && err != ENOBUFS && err != ENOMEM)
			unexpected("sendfile to a socket", err);
		return;
	}
	if (off != o->off + n || (size_t)n > (size_t)o->len) {
		bad_result(n, "sendfile of %ld bytes returned %zd, offset %lld",
			   o->len, n, (long long)off);
		return;
	}
	sg.len = n;
	push(ss, &sg);
}

static void x_read_p(const struct op *o)
{
	int a = pidx(o->a);
	ssize_t n;
	int err;

	n = read(W.st[a].rfd, iobuf, o->len);
	err = errno;
	rec("\tn = read(%s, buf, %ld);\n", fdn(W.st[a].rfd), o->len);
	rec_show("read pipe");
	if (n > 0)
		deliver(a, iobuf, n, true);
	else
		consumed_result(a, n, err, "read(2) of a pipe");
}

static void x_vmsplice_r(const struct op *o)
{
	int a = pidx(o->a), pieces = 1 + o->c % 2;
	unsigned int flags = kflags(o->flags) | SPLICE_F_NONBLOCK;
	ssize_t n;
	int err;

	n = vmsplice(W.st[a].rfd, iov, iov_split(iobuf, o->len, pieces), flags);
	err = errno;
	rec("\tn = vmsplice(%s, iov, iov_split(buf, %ld, %d), %#x);\n",
	    fdn(W.st[a].rfd), o->len, pieces, flags);
	rec_show("vmsplice pipe -> memory");
	if (must_reject(o->flags)) {
		check_rejected(n, err, "vmsplice");
		if (n <= 0)
			return;
	}
	if (n > 0)
		deliver(a, iobuf, n, true);
	else
		consumed_result(a, n, err, "vmsplice(2) from a pipe");
}

static void x_splice_pf(const struct op *o)
{
	int a = pidx(o->a);
	bool uring = o->c & VIA_URING;
	loff_t off = W.sink_off;
	ssize_t n, got;
	int err;

	if (skip_stable(o->flags) || skip_uring(o->c))
		return;
	n = do_splice(uring, W.st[a].rfd, NULL, W.sink, &off, o->len, o->flags);
	err = errno;
	rec_show("splice pipe -> file");
	if (n <= 0) {
		consumed_result(a, n, err, "splice to a file");
		return;
	}
	if (!uring && off != W.sink_off + n) {
		fail(F_RESULT, "offset %lld after splicing %zd bytes to the sink at %lld",
		     (long long)off, n, (long long)W.sink_off);
		return;
	}
	got = pread(W.sink, iobuf, n, W.sink_off);
	rec("\tif (n > 0)\n\t\tn = pread(sink, buf, n, %lld);\n",
	    (long long)W.sink_off);
	if (got != n) {
		fail(F_RESULT, "splice wrote %zd bytes to the sink, %zd read back",
		     n, got);
		return;
	}
	deliver(a, iobuf, n, true);
	W.sink_off += n;
	if (W.sink_off > (32 << 20)) {
		W.sink_off = 0;
		if (ftruncate(W.sink, 0))
			fail(F_SETUP, "truncate the sink: %s", strerror(errno));
		rec("\tftruncate(sink, 0);\n");
	}
}

static void x_splice_pn(const struct op *o)
{
	int a = pidx(o->a);
	ssize_t n;
	int err;

	if (skip_stable(o->flags))
		return;
	n = do_splice(false, W.st[a].rfd, NULL, W.null, NULL, o->len, o->flags);
	err = errno;
	rec_show("splice pipe -> /dev/null");
	if (n > 0)
		deliver(a, NULL, n, false);
	else
		consumed_result(a, n, err, "splice to /dev/null");
}

static void x_recv_s(const struct op *o)
{
	int s = sidx(o->a);
	struct stream *ss = &W.st[s];
	ssize_t n;
	int err;

	if (ss->rfd < 0)
		return;
	n = read(ss->rfd, iobuf, o->len);
	err = errno;
	rec("\tn = read(%s, buf, %ld);\n", fdn(ss->rfd), o->len);
	rec_show("receive from socket");
	if (n > 0)
		deliver(s, iobuf, n, true);
	else if (!n)
		fail(F_RESULT, "end of file on %s", ss->name);
	else if (err != EAGAIN)
		unexpected("read(2) of a socket", err);
}

static void x_setpipe(const struct op *o)
{
	struct stream *st = &W.st[pidx(o->a)];
	long n = fcntl(st->wfd, F_SETPIPE_SZ, (int)o->len);

	rec("\tn = fcntl(%s, F_SETPIPE_SZ, %ld);\n", fdn(st->wfd), o->len);
	rec_show("F_SETPIPE_SZ");
	/* EBUSY (it holds more), EPERM (over the user's limit) are fine */
	if (n >= 0 && n < o->len)
		bad_result(n, "F_SETPIPE_SZ to %ld gave %ld", o->len, n);
}

/* ---- mutations ---------------------------------------------------------- */

static struct mfile *mutable(int f)
{
	struct mfile *m = &W.f[f];

	return m->alive && !m->racy ? m : NULL;
}

/* Keep [*off, *off + *len) within MAXF. */
static void clamp(long *off, long *len)
{
	if (*off >= MAXF)
		*off %= MAXF;
	if (*off + *len > MAXF)
		*len = MAXF - *off;
}

static void x_m_write(const struct op *o)
{
	int f = fidx(o->a), how = o->c % 7;
	struct mfile *m = mutable(f);
	uint32_t tag = 0x10000 + cur_op;
	long off = o->off, len = o->len;
	void *dbuf = NULL;
	ssize_t n = 0;
	int fd;

	if (!m)
		return;
	clamp(&off, &len);
	switch (how) {
	case 0:		/* pwrite(2) */
	case 1:		/* through a second descriptor */
	case 2:		/* through the hard link */
		fd = how == 0 ? m->fd : how == 1 || m->fdl < 0 ? m->fd2 : m->fdl;
		fill(iobuf, tag, off, len);
		n = pwrite(fd, iobuf, len, off);
		rec("\tfill(buf, %#x, %ld, %ld);\n\tn = pwrite(%s, buf, %ld, %ld);\n",
		    tag, off, len, fdn(fd), len, off);
		break;
	case 3:		/* O_DIRECT, aligned */
		off &= ~4095L;
		len = (len + 4095) & ~4095L;
		if (off + len > MAXF)
			len = MAXF - off;
		if (m->fdd < 0 || !len || posix_memalign(&dbuf, 4096, len))
			return;
		fill(dbuf, tag, off, len);
		n = pwrite(m->fdd, dbuf, len, off);
		rec("\tn = pwrite(%s, abuf(%#x, %ld, %ld), %ld, %ld);\n",
		    fdn(m->fdd), tag, off, len, len, off);
		free(dbuf);
		break;
	case 4:		/* O_APPEND: lands at the end */
		off = cur_size(f);
		if (off + len > MAXF)
			len = MAXF - off;
		fill(iobuf, tag, off, len);
		n = write(m->fda, iobuf, len);
		rec("\tfill(buf, %#x, %ld, %ld);\n\tn = write(%s, buf, %ld);\n",
		    tag, off, len, fdn(m->fda), len);
		break;
	case 5:		/* pwritev(2) */
		fill(iobuf, tag, off, len);
		n = pwritev(m->fd, iov, iov_split(iobuf, len, 3), off);
		rec("\tfill(buf, %#x, %ld, %ld);\n"
		    "\tn = pwritev(%s, iov, iov_split(buf, %ld, 3), %ld);\n",
		    tag, off, len, fdn(m->fd), len, off);
		break;
	case 6:		/* write(2) at the file position */
		fill(iobuf, tag, off, len);
		lseek(m->fd, off, SEEK_SET);
		n = write(m->fd, iobuf, len);
		rec("\tfill(buf, %#x, %ld, %ld);\n"
		    "\tlseek(%s, %ld, SEEK_SET);\n"
		    "\tn = write(%s, buf, %ld);\n",
		    tag, off, len, fdn(m->fd), off, fdn(m->fd), len);
		break;
	}
	rec_show("write the file");
	(void)n;
	snapshot(f, how == 3);
}

static void x_m_mmap(const struct op *o)
{
	int f = fidx(o->a), how = o->c % 4;
	struct mfile *m = mutable(f);
	uint32_t tag = 0x10000 + cur_op;
	long size, off = o->off, len = o->len;
	unsigned char *p;

	if (!m)
		return;
	size = cur_size(f);
	if (how >= 2) {
		if (how == 2 && m->map) {
			munmap(m->map, MAXF);
			m->map = NULL;
			rec("\tmunmap(hmap[%d], MAXF);\n", f);
		} else if (how == 3 && !m->map) {
			goto map;
		}
		return;
	}
	if (!size)
		return;
	off %= size;
	if (off + len > size)
		len = size - off;
	if (how == 0) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
		if (p == MAP_FAILED)
			return;
		fill(p + off, tag, off, len);
		munmap(p, size);
		rec("\tstore(%s, %ld, %ld, %#x, %ld);\n", fdn(m->fd), size, off,
		    tag, len);
		snapshot(f, false);
		return;
	}
map:
	if (!m->map) {
		/* held across ops: a stable splice of a mapped file copies */
		p = mmap(NULL, MAXF, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
		if (p == MAP_FAILED)
			return;
		m->map = p;
		rec("\thmap[%d] = mmap(NULL, MAXF, PROT_READ | PROT_WRITE, MAP_SHARED, %s, 0);\n",
		    f, fdn(m->fd));
	}
	if (how == 3 || !size)
		return;
	/* stores only within the file: beyond it they fault */
	fill(m->map + off, tag, off, len);
	rec("\tfill(hmap[%d] + %ld, %#x, %ld, %ld);\n", f, off, tag, off, len);
	snapshot(f, false);
}

static void x_m_trunc(const struct op *o)
{
	int f = fidx(o->a);
	struct mfile *m = mutable(f);
	long len = o->len % (MAXF + 1);
	long n;

	if (!m)
		return;
	n = ftruncate(m->fd, len);
	rec("\tn = ftruncate(%s, %ld);\n", fdn(m->fd), len);
	rec_show("truncate");
	(void)n;
	snapshot(f, true);
}

static void x_m_falloc(const struct op *o)
{
	static const int modes[] = {
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE,
		FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE,
		FALLOC_FL_INSERT_RANGE,
		FALLOC_FL_KEEP_SIZE,
		0,
	};
	int f = fidx(o->a), how = o->c % 7;
	struct mfile *m = mutable(f);
	long off = o->off, len = o->len, size;
	long n;

	if (!m || !len)
		return;
	clamp(&off, &len);
	size = cur_size(f);
	if (modes[how] & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		/* block aligned; collapse within the file, insert below MAXF */
		off &= ~4095L;
		len = (len + 4095) & ~4095L;
		if (modes[how] & FALLOC_FL_COLLAPSE_RANGE ?
		    off + len >= size : off >= size || size + len > MAXF)
			return;
	}
	if (!len)
		return;
	n = fallocate(m->fd, modes[how], off, len);
	rec("\tn = fallocate(%s, %#x, %ld, %ld);\n", fdn(m->fd), modes[how], off,
	    len);
	rec_show("fallocate");
	(void)n;
	snapshot(f, how <= 4);
}

/* copy_file_range, FICLONERANGE, FIDEDUPERANGE, sendfile into file a */
static void x_m_copy(const struct op *o)
{
	int f = fidx(o->a), g = fidx(o->b);
	struct mfile *m = mutable(f), *src = &W.f[g];
	long off = o->off, len = o->len, n = -1;
	loff_t soff = o->c, doff;

	if (!m || !src->alive)
		return;
	clamp(&off, &len);
	doff = off;
	switch (o->type) {
	case OP_M_COPY:
		n = copy_file_range(src->fd, &soff, m->fd, &doff, len, 0);
		rec("\t{\n"
		    "\t\tloff_t so = %d, dout = %ld;\n"
		    "\n"
		    "\t\tn = copy_file_range(%s, &so, %s, &dout, %ld, 0);\n"
		    "\t}\n",
		    o->c, off, fdn(src->fd), fdn(m->fd), len);
		break;
	case OP_M_CLONE: {
		struct file_clone_range r = {
			.src_fd = src->fd, .src_offset = o->c & ~4095L,
			.src_length = (len + 4095) & ~4095L,
			.dest_offset = off & ~4095L,
		};

		n = ioctl(m->fd, FICLONERANGE, &r);
		rec("\t{\n"
		    "\t\tstruct file_clone_range r = { %s, %llu, %llu, %llu };\n"
		    "\n"
		    "\t\tn = ioctl(%s, FICLONERANGE, &r);\n"
		    "\t}\n",
		    fdn(src->fd), (unsigned long long)r.src_offset,
		    (unsigned long long)r.src_length,
		    (unsigned long long)r.dest_offset, fdn(m->fd));
		break;
	}
	case OP_M_DEDUPE: {
		struct {
			struct file_dedupe_range r;
			struct file_dedupe_range_info info;
		} d = {
			.r = { .src_offset = o->c & ~4095L,
			       .src_length = (len + 4095) & ~4095L,
			       .dest_count = 1 },
			.info = { .dest_fd = m->fd, .dest_offset = off & ~4095L },
		};

		n = ioctl(src->fd, FIDEDUPERANGE, &d);
		rec("\t{\n"
		    "\t\tstruct {\n"
		    "\t\t\tstruct file_dedupe_range r;\n"
		    "\t\t\tstruct file_dedupe_range_info i;\n"
		    "\t\t} d = { { %llu, %llu, 1 }, { %s, %llu } };\n"
		    "\n"
		    "\t\tn = ioctl(%s, FIDEDUPERANGE, &d);\n"
		    "\t}\n",
		    (unsigned long long)d.r.src_offset,
		    (unsigned long long)d.r.src_length, fdn(m->fd),
		    (unsigned long long)d.info.dest_offset, fdn(src->fd));
		break;
	}
	case OP_M_SENDFILE:
		lseek(m->fd2, off, SEEK_SET);
		n = sendfile(m->fd2, src->fd, &soff, len);
		rec("\tlseek(%s, %ld, SEEK_SET);\n\to = %d;\n\tn = sendfile(%s, %s, &o, %ld);\n",
		    fdn(m->fd2), off, o->c, fdn(m->fd2), fdn(src->fd), len);
		break;
	}
	rec_show(op_names[o->type]);
	(void)n;
	/* reflinks and dedupe drop the cached pages of the range */
	snapshot(f, o->type != OP_M_SENDFILE);
}

static void x_m_splice(const struct op *o)
{
	int f = fidx(o->a), sp[2];
	struct mfile *m = mutable(f);
	uint32_t tag = 0x10000 + cur_op;
	long off = o->off, len = o->len > 65536 ? 65536 : o->len;
	loff_t doff;
	ssize_t n;

	if (!m || pipe2(sp, O_NONBLOCK))
		return;
	clamp(&off, &len);
	fill(iobuf, tag, off, len);
	n = write(sp[1], iobuf, len);
	doff = off;
	if (n > 0)
		n = splice(sp[0], NULL, m->fd, &doff, n, 0);
	rec("\t{\n"
	    "\t\tint sp[2];\n"
	    "\t\tloff_t d = %ld;\n"
	    "\n"
	    "\t\tpipe2(sp, O_NONBLOCK);\n"
	    "\t\tfill(buf, %#x, %ld, %ld);\n"
	    "\t\tn = write(sp[1], buf, %ld);\n"
	    "\t\tif (n > 0)\n"
	    "\t\t\tn = splice(sp[0], NULL, %s, &d, n, 0);\n"
	    "\t\tclose(sp[0]);\n"
	    "\t\tclose(sp[1]);\n"
	    "\t}\n",
	    off, tag, off, len, len, fdn(m->fd));
	rec_show("splice into the file");
	close(sp[0]);
	close(sp[1]);
	snapshot(f, false);
}

static void x_m_unlink(const struct op *o)
{
	int f = fidx(o->a), v;
	struct mfile *m = mutable(f);
	int *fds[5];
	unsigned int i;

	if (!m)
		return;
	fds[0] = &m->fd;
	fds[1] = &m->fd2;
	fds[2] = &m->fdl;
	fds[3] = &m->fdd;
	fds[4] = &m->fda;
	if (m->map) {
		munmap(m->map, MAXF);
		m->map = NULL;
		rec("\tmunmap(hmap[%d], MAXF);\n", f);
	}
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] < 0)
			continue;
		rec("\tclose(%s);\n", fdn(*fds[i]));
		close(*fds[i]);
		*fds[i] = -1;
	}
	unlink(m->path);
	unlink(m->link);
	rec("\tunlink(path(\"f%d\"));\n\tunlink(path(\"l%d\"));\n", f, f);
	m->alive = false;
	/* Same content; the pages go when the inode does. */
	v = m->nver;
	if (v < MAXVER) {
		m->ver[v] = m->ver[v - 1];
		m->vsize[v] = m->vsize[v - 1];
		m->vdrop[v] = true;
		m->vop[v] = cur_op;
		m->nver++;
		if (m->nver > res->maxver)
			res->maxver = m->nver;
		rec("\tmemcpy(ver[%d][%d], ver[%d][%d], MAXF);\n", f, v, f, v - 1);
	}
}

static void x_splice_pp(const struct op *o)
{
	x_pipe_pipe(o, false);
}

static void x_tee(const struct op *o)
{
	x_pipe_pipe(o, true);
}

static void (* const exec_op[NR_OPS])(const struct op *o) = {
	[OP_SPLICE_FP] = x_splice_fp,
	[OP_SENDFILE_FP] = x_sendfile_fp,
	[OP_WRITE_P] = x_write_p,
	[OP_VMSPLICE_P] = x_vmsplice_p,
	[OP_SPLICE_SP] = x_splice_sp,
	[OP_SPLICE_ZP] = x_splice_zp,
	[OP_SPLICE_PP] = x_splice_pp,
	[OP_TEE] = x_tee,
	[OP_WRITE_S] = x_write_s,
	[OP_SPLICE_PS] = x_splice_ps,
	[OP_SENDFILE_FS] = x_sendfile_fs,
	[OP_READ_P] = x_read_p,
	[OP_VMSPLICE_R] = x_vmsplice_r,
	[OP_SPLICE_PF] = x_splice_pf,
	[OP_SPLICE_PN] = x_splice_pn,
	[OP_RECV_S] = x_recv_s,
	[OP_SETPIPE] = x_setpipe,
	[OP_M_WRITE] = x_m_write,
	[OP_M_MMAP] = x_m_mmap,
	[OP_M_TRUNC] = x_m_trunc,
	[OP_M_FALLOC] = x_m_falloc,
	[OP_M_COPY] = x_m_copy,
	[OP_M_CLONE] = x_m_copy,
	[OP_M_DEDUPE] = x_m_copy,
	[OP_M_SENDFILE] = x_m_copy,
	[OP_M_SPLICE] = x_m_splice,
	[OP_M_UNLINK] = x_m_unlink,
};

/* ---- the world of one sequence (child) --------------------------------- */

static void *racy_main(void *arg)
{
	unsigned char *buf = malloc(RACY_SIZE);
	unsigned long g;
	size_t i;

	for (g = 1; buf && !__atomic_load_n(&racy.stop, __ATOMIC_SEQ_CST); g++) {
		for (i = 0; i < RACY_SIZE; i++)
			buf[i] = racy_byte(g, i);
		__atomic_store_n(&racy.begun, g, __ATOMIC_SEQ_CST);
		if (pwrite(racy.fd, buf, RACY_SIZE, 0) != RACY_SIZE)
			break;
		__atomic_store_n(&racy.done, g, __ATOMIC_SEQ_CST);
	}
	free(buf);
	return NULL;
}

static unsigned int used_mask(const struct seq *s)
{
	unsigned int u = s->w.racy ? U_FILE(1) | U_XFD(1) : 0;
	const struct op *o;
	int i, a, b;

	for (i = 0; i < s->nops; i++) {
		o = &s->ops[i];
		switch (o->type) {
		case OP_SPLICE_FP:
		case OP_SENDFILE_FP:
			u |= U_FILE(fidx(o->a)) | U_STREAM(pidx(o->b));
			break;
		case OP_SPLICE_ZP:
			u |= U_ZERO;
			fallthrough;
		case OP_WRITE_P:
		case OP_VMSPLICE_P:
			u |= U_STREAM(pidx(o->b));
			break;
		case OP_SPLICE_SP:
			u |= U_STREAM(sidx(o->a)) | U_STREAM(pidx(o->b));
			break;
		case OP_SPLICE_PP:
		case OP_TEE:
			a = pidx(o->a);
			b = pidx(o->b);
			if (a == b)
				b = (a + 1) % NPIPES;
			u |= U_STREAM(a) | U_STREAM(b);
			break;
		case OP_WRITE_S:
		case OP_RECV_S:
			u |= U_STREAM(sidx(o->a));
			break;
		case OP_SPLICE_PS:
			u |= U_STREAM(pidx(o->a)) | U_STREAM(sidx(o->b));
			break;
		case OP_SENDFILE_FS:
			u |= U_FILE(fidx(o->a)) | U_STREAM(sidx(o->b));
			break;
		case OP_SPLICE_PF:
			u |= U_SINK;
			fallthrough;
		case OP_READ_P:
		case OP_VMSPLICE_R:
		case OP_SETPIPE:
			u |= U_STREAM(pidx(o->a));
			break;
		case OP_SPLICE_PN:
			u |= U_STREAM(pidx(o->a)) | U_NULL;
			break;
		case OP_M_WRITE:
			if (o->c % 7 >= 1 && o->c % 7 <= 4)
				u |= U_XFD(fidx(o->a));
			u |= U_FILE(fidx(o->a));
			break;
		case OP_M_SENDFILE:
		case OP_M_UNLINK:
			u |= U_XFD(fidx(o->a));
			fallthrough;
		case OP_M_COPY:
		case OP_M_CLONE:
		case OP_M_DEDUPE:
			if (o->type != OP_M_UNLINK)
				u |= U_FILE(fidx(o->b));
			fallthrough;
		default:
			u |= U_FILE(fidx(o->a));
			break;
		}
	}
	return u;
}

static bool seq_uses_uring(const struct seq *s)
{
	int i;

	for (i = 0; i < s->nops; i++) {
		switch (s->ops[i].type) {
		case OP_SPLICE_FP:
		case OP_SPLICE_SP:
		case OP_SPLICE_PP:
		case OP_TEE:
		case OP_SPLICE_PS:
		case OP_SPLICE_PF:
			if (s->ops[i].c & VIA_URING)
				return true;
		}
	}
	return false;
}

static int open_named(const char *path, int flags, const char *fmt, int i,
		      int j, const char *rname)
{
	int fd = open(path, flags, 0600);

	if (fd < 0)
		return -1;
	name_fd(fd, fmt, i, j);
	rec("\t%s = open(%s, %s);\n", fdn(fd), rname,
	    flags & O_DIRECT ? "O_RDWR | O_DIRECT" :
	    flags & O_APPEND ? "O_WRONLY | O_APPEND" :
	    flags & O_CREAT ? "O_RDWR | O_CREAT | O_TRUNC, 0600" : "O_RDWR");
	return fd;
}

static int make_file(const struct seq *s, int f, const char *base)
{
	struct mfile *m = &W.f[f];
	long size = s->w.size[f] < 0 ? 0 : s->w.size[f] % (MAXF + 1);
	char rname[32];
	size_t i;

	m->racy = s->w.racy && f == 1;
	if (m->racy)
		size = RACY_SIZE;
	snprintf(m->path, sizeof(m->path), "%.4000s.f%d", base, f);
	snprintf(m->link, sizeof(m->link), "%.4000s.l%d", base, f);
	snprintf(rname, sizeof(rname), "path(\"f%d\")", f);
	m->fd = open_named(m->path, O_RDWR | O_CREAT | O_TRUNC, "f[%d][%d]", f, 0,
			   rname);
	if (m->fd < 0) {
		fail(F_SETUP, "create %s: %s", m->path, strerror(errno));
		return -1;
	}
	if (m->racy) {
		for (i = 0; i < RACY_SIZE; i++)
			iobuf[i] = racy_byte(0, i);
		rec("\tracy_fill(buf, 0);\n");
	} else {
		fill(iobuf, 1 + f, 0, size);
		rec("\tfill(buf, %d, 0, %ld);\n", 1 + f, size);
	}
	rec("\tpwrite(%s, buf, %ld, 0);\n", fdn(m->fd), size);
	if (pwrite(m->fd, iobuf, size, 0) != size) {
		fail(F_SETUP, "write %s: %s", m->path, strerror(errno));
		return -1;
	}
	/* the reproducer gets the other descriptors only when it uses them */
	rec_mute = !(W.used & U_XFD(f)) || !(W.used & U_FILE(f));
	m->fd2 = open_named(m->path, O_RDWR, "f[%d][%d]", f, 1, rname);
	m->fdl = -1;
	if (!link(m->path, m->link)) {
		rec("\tlink(path(\"f%d\"), path(\"l%d\"));\n", f, f);
		snprintf(rname, sizeof(rname), "path(\"l%d\")", f);
		m->fdl = open_named(m->link, O_RDWR, "f[%d][%d]", f, 2, rname);
		snprintf(rname, sizeof(rname), "path(\"f%d\")", f);
	}
	m->fdd = open_named(m->path, O_RDWR | O_DIRECT, "f[%d][%d]", f, 3, rname);
	m->fda = open_named(m->path, O_WRONLY | O_APPEND, "f[%d][%d]", f, 4, rname);
	rec_mute = !(W.used & U_FILE(f));
	m->alive = true;
	snapshot(f, false);
	if (m->racy) {
		racy.fd = m->fd2;
		rec("\tracy_start(%s);\n", fdn(m->fd2));
		if (pthread_create(&W.racy_thread, NULL, racy_main, NULL))
			fail(F_SETUP, "pthread_create: %s", strerror(errno));
		else
			W.racy_running = true;
	}
	return 0;
}

static int world_create(const struct seq *s)
{
	char base[PATH_MAX];
	int f, i, sv[2];

	snprintf(base, sizeof(base), "%s/splice_fuzz.%d.%lu", cfg.dir,
		 (int)getppid(), cfg.trials);
	for (f = 0; f < NFILES; f++) {
		rec_mute = !(W.used & U_FILE(f));
		if (make_file(s, f, base))
			return -1;
	}
	for (i = 0; i < NPIPES; i++) {
		struct stream *st = &W.st[i];
		int p[2];

		rec_mute = !(W.used & U_STREAM(i));
		if (pipe2(p, O_NONBLOCK)) {
			fail(F_SETUP, "pipe2: %s", strerror(errno));
			return -1;
		}
		st->rfd = p[0];
		st->wfd = p[1];
		st->is_pipe = true;
		snprintf(st->name, sizeof(st->name), "pipe %d", i);
		name_fd(p[0], "p[%d][0]", i);
		name_fd(p[1], "p[%d][1]", i);
		rec("\tpipe2(p[%d], O_NONBLOCK);\n", i);
	}
	/* sockets: [0] receives, [1] sends */
	rec_mute = !(W.used & U_STREAM(NPIPES));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) {
		fail(F_SETUP, "socketpair: %s", strerror(errno));
		return -1;
	}
	W.st[NPIPES].rfd = sv[0];
	W.st[NPIPES].wfd = sv[1];
	snprintf(W.st[NPIPES].name, sizeof(W.st[0].name), "unix socket");
	name_fd(sv[0], "s[0][0]");
	name_fd(sv[1], "s[0][1]");
	rec("\tsocketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s[0]);\n");
	rec_mute = !(W.used & U_STREAM(NPIPES + 1));
	snprintf(W.st[NPIPES + 1].name, sizeof(W.st[0].name), "TCP socket");
	W.st[NPIPES + 1].rfd = -1;
	W.st[NPIPES + 1].wfd = -1;
	if (!tcp_pair(sv, 0)) {
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		W.st[NPIPES + 1].rfd = sv[0];
		W.st[NPIPES + 1].wfd = sv[1];
		name_fd(sv[0], "s[1][0]");
		name_fd(sv[1], "s[1][1]");
		rec("\ttcp_pair(s[1]);\n");
	}
	rec_mute = !(W.used & U_ZERO);
	W.zero = open("/dev/zero", O_RDONLY);
	name_fd(W.zero, "zero");
	rec("\tzero = open(\"/dev/zero\", O_RDONLY);\n");
	rec_mute = !(W.used & U_NULL);
	W.null = open("/dev/null", O_WRONLY);
	name_fd(W.null, "null");
	rec("\tnull = open(\"/dev/null\", O_WRONLY);\n");
	rec_mute = !(W.used & U_SINK);
	snprintf(W.sink_path, sizeof(W.sink_path), "%.4000s.sink", base);
	W.sink = open_named(W.sink_path, O_RDWR | O_CREAT | O_TRUNC, "sink", 0, 0,
			    "path(\"sink\")");
	rec_mute = false;
	if (W.zero < 0 || W.null < 0 || W.sink < 0) {
		fail(F_SETUP, "open /dev/zero, /dev/null, the sink: %s",
		     strerror(errno));
		return -1;
	}
	if (cfg.uring && seq_uses_uring(s)) {
		W.ring_ok = !uring_setup(&W.ring);
		if (W.ring_ok) {
			name_fd(W.ring.fd, "ring");
			rec("\turing_setup();\n");
		}
	}
	return 0;
}

static void world_destroy(void)
{
	int f;

	if (W.racy_running) {
		__atomic_store_n(&racy.stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(W.racy_thread, NULL);
		W.racy_running = false;
	}
	for (f = 0; f < NFILES; f++) {
		if (W.f[f].path[0]) {
			unlink(W.f[f].path);
			unlink(W.f[f].link);
		}
		if (W.used & U_FILE(f) && W.f[f].alive)
			rec("\tunlink(path(\"f%d\"));\n", f);
		if (W.used & U_FILE(f) && W.used & U_XFD(f) && W.f[f].alive)
			rec("\tunlink(path(\"l%d\"));\n", f);
	}
	if (W.sink_path[0])
		unlink(W.sink_path);
	if (W.used & U_SINK)
		rec("\tunlink(path(\"sink\"));\n");
}

/* ---- the final drain ---------------------------------------------------- */

static void drain_pipe(int s)
{
	struct stream *st = &W.st[s];
	ssize_t n;
	int i, err;

	for (i = 0; i < 1000 && !res->kind; i++) {
		n = read(st->rfd, iobuf, DRAIN_CHUNK);
		err = errno;
		rec("\tn = read(%s, buf, %d);\n", fdn(st->rfd), DRAIN_CHUNK);
		rec_show("drain pipe");
		if (n > 0) {
			deliver(s, iobuf, n, true);
			continue;
		}
		if (n < 0 && err == ESTALE) {
			on_estale(s);
			continue;
		}
		consumed_result(s, n, err, "read(2) of the pipe");
		break;
	}
}

static void drain_sock(int s)
{
	struct stream *st = &W.st[s];
	struct pollfd pfd = { .fd = st->rfd, .events = POLLIN };
	char desc[160];
	ssize_t n;
	int i, err;

	if (st->rfd < 0)
		return;
	for (i = 0; i < 100000 && !res->kind; i++) {
		if (st->bytes && !st->untracked) {
			/* data may still be on its way (loopback, corking) */
			rec("\twait_in(%s, 2000);\n", fdn(st->rfd));
			if (poll(&pfd, 1, 2000) != 1) {
				fail_where = "socket";
				fail(F_LOST, "%s: %zu bytes never arrived, first the %s",
				     st->name, st->bytes,
				     seg_desc(front(st), desc, sizeof(desc)));
				rec("\tif (lgn[%d] < %zu)\n"
				    "\t\treproduced(\"data sent to the socket never arrived\");\n",
				    s, st->consumed + st->bytes);
				return;
			}
		}
		n = read(st->rfd, iobuf, DRAIN_CHUNK);
		err = errno;
		rec("\tn = read(%s, buf, %d);\n", fdn(st->rfd), DRAIN_CHUNK);
		rec_show("drain socket");
		if (n > 0) {
			deliver(s, iobuf, n, true);
			continue;
		}
		if (!n)
			fail(F_RESULT, "end of file on %s", st->name);
		else if (err != EAGAIN)
			unexpected("read(2) of a socket", err);
		break;
	}
}

static void drain(void)
{
	int s, one = 1;

	cur_op = W.s->nops;
	res->cur_op = cur_op;
	rec("\t/* the end: everything is read */\n");
	if (W.used & U_STREAM(NPIPES + 1) && W.st[NPIPES + 1].wfd >= 0) {
		/* push out what SPLICE_F_MORE left corked */
		setsockopt(W.st[NPIPES + 1].wfd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		rec("\tsetsockopt(s[1][1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));\n");
	}
	for (s = 0; s < NPIPES && !res->kind; s++)
		if (W.used & U_STREAM(s))
			drain_pipe(s);
	for (s = NPIPES; s < NSTREAMS && !res->kind; s++)
		if (W.used & U_STREAM(s))
			drain_sock(s);
}

static const char *op_text(const struct op *o, char *buf, size_t len);

static void run_sequence(const struct seq *s)
{
	char text[128];

	memset(&W, 0, sizeof(W));
	memset(fdname, 0, sizeof(fdname));
	memset((void *)&racy, 0, sizeof(racy));
	W.s = s;
	W.used = used_mask(s);
	cur_op = -1;
	if (!world_create(s)) {
		for (cur_op = 0; cur_op < s->nops && !res->kind; cur_op++) {
			res->cur_op = cur_op;
			rec("\t/* %d: %s */\n", cur_op,
			    op_text(&s->ops[cur_op], text, sizeof(text)));
			exec_op[s->ops[cur_op].type](&s->ops[cur_op]);
			res->ops_run++;
			if (cfg.verbose)
				fprintf(stderr, "  %2d %-40s pipes %zu %zu %zu socks %zu %zu\n",
					cur_op, op_text(&s->ops[cur_op], text, sizeof(text)),
					W.st[0].bytes, W.st[1].bytes, W.st[2].bytes,
					W.st[3].bytes, W.st[4].bytes);
		}
		if (!res->kind)
			drain();
	}
	world_destroy();
}

/* ---- sequences as text: what --replay takes ------------------------------ */

static const char *op_text(const struct op *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d,%d,%d,%ld,%ld,%#x", op_names[o->type], o->a,
		 o->b, o->c, o->off, o->len, o->flags);
	return buf;
}

static char *seq_text(const struct seq *s)
{
	size_t len = 64 + s->nops * 80, n;
	char *buf = malloc(len), t[128];
	int i;

	if (!buf)
		abort();
	n = snprintf(buf, len, "world:%ld,%ld,%d", s->w.size[0], s->w.size[1],
		     s->w.racy);
	for (i = 0; i < s->nops; i++)
		n += snprintf(buf + n, len - n, " %s", op_text(&s->ops[i], t, sizeof(t)));
	return buf;
}

static int parse_seq(const char *text, struct seq *s)
{
	char *copy = strdup(text), *tok, *save = NULL, name[32];
	struct op o;
	int t;

	memset(s, 0, sizeof(*s));
	s->w.size[0] = 65536;
	s->w.size[1] = 65536;
	for (tok = strtok_r(copy, " \t\n;", &save); tok;
	     tok = strtok_r(NULL, " \t\n;", &save)) {
		if (sscanf(tok, "world:%ld,%ld,%d", &s->w.size[0], &s->w.size[1],
			   &s->w.racy) == 3)
			continue;
		memset(&o, 0, sizeof(o));
		if (sscanf(tok, "%31[a-z_]:%d,%d,%d,%ld,%ld,%i", name, &o.a, &o.b,
			   &o.c, &o.off, &o.len, (int *)&o.flags) != 7)
			goto bad;
		for (t = 0; t < NR_OPS && strcmp(op_names[t], name); t++)
			;
		if (t == NR_OPS || s->nops == MAXOPS || o.a < 0 || o.b < 0 ||
		    o.c < 0 || o.off < 0 || o.len < 0 || o.len > MAXLEN)
			goto bad;
		o.type = t;
		s->ops[s->nops++] = o;
	}
	free(copy);
	return 0;
bad:
	fprintf(stderr, "bad operation in --replay: %s\n", tok);
	free(copy);
	return -1;
}

/* ---- the generator (parent) ---------------------------------------------- */

/*
 * Classes of sequences: one KTAP test each, each with its share of the
 * time.  They differ in what they pick more often; every class can use
 * every operation its weights list.
 */
struct cls {
	const char *name, *what;
	unsigned char w[NR_OPS];	/* weights of the operations */
	int p_stable_file;		/* % of file splices with the flag */
	int p_stable_src;		/* % of socket, /dev/zero splices */
	int p_uring;			/* % of splices through io_uring */
	int npipes;			/* pipes it spreads over */
	bool racy, needs_stable;
};

#define MUTATIONS \
	[OP_M_WRITE] = 10, [OP_M_MMAP] = 4, [OP_M_TRUNC] = 3, \
	[OP_M_FALLOC] = 4, [OP_M_COPY] = 2, [OP_M_CLONE] = 2, \
	[OP_M_DEDUPE] = 1, [OP_M_SENDFILE] = 1, [OP_M_SPLICE] = 1, \
	[OP_M_UNLINK] = 1

#define FILE_OPS \
	[OP_SPLICE_FP] = 20, [OP_SENDFILE_FP] = 3, [OP_TEE] = 3, \
	[OP_SPLICE_PP] = 3, [OP_SPLICE_PS] = 6, [OP_SENDFILE_FS] = 3, \
	[OP_READ_P] = 10, [OP_VMSPLICE_R] = 3, [OP_SPLICE_PF] = 5, \
	[OP_SPLICE_PN] = 3, [OP_RECV_S] = 6, [OP_SETPIPE] = 1, MUTATIONS

static const struct cls classes[] = {
	{ "file_plain", "plain splice from files to every consumer, files changed",
	  .w = { FILE_OPS }, .p_uring = 15, .npipes = 2 },
	{ "file_stable", "SPLICE_F_STABLE from files to every consumer, files changed",
	  .w = { FILE_OPS }, .p_stable_file = 80, .p_uring = 15, .npipes = 2,
	  .needs_stable = true },
	{ "multi_producer", "files, write(2), vmsplice(2), sockets, /dev/zero into one pipe",
	  .w = { [OP_SPLICE_FP] = 12, [OP_WRITE_P] = 10, [OP_VMSPLICE_P] = 6,
		 [OP_SPLICE_SP] = 3, [OP_WRITE_S] = 4, [OP_SPLICE_ZP] = 3,
		 [OP_SPLICE_PP] = 2, [OP_TEE] = 2, [OP_READ_P] = 10,
		 [OP_VMSPLICE_R] = 2, [OP_SPLICE_PF] = 4, [OP_SPLICE_PN] = 2,
		 [OP_SPLICE_PS] = 4, [OP_RECV_S] = 4, [OP_M_WRITE] = 8,
		 [OP_M_MMAP] = 2, [OP_M_TRUNC] = 2, [OP_M_FALLOC] = 2,
		 [OP_M_UNLINK] = 1 },
	  .p_stable_file = 50, .p_uring = 10, .npipes = 1 },
	{ "pipe_ops", "tee, pipe to pipe, F_SETPIPE_SZ, io_uring, sources closed early",
	  .w = { [OP_SETPIPE] = 6, [OP_TEE] = 8, [OP_SPLICE_PP] = 8,
		 [OP_SPLICE_FP] = 12, [OP_WRITE_P] = 6, [OP_VMSPLICE_P] = 3,
		 [OP_READ_P] = 8, [OP_SPLICE_PN] = 3, [OP_SPLICE_PF] = 4,
		 [OP_SPLICE_PS] = 3, [OP_RECV_S] = 3, [OP_M_WRITE] = 6,
		 [OP_M_TRUNC] = 2, [OP_M_FALLOC] = 2, [OP_M_UNLINK] = 3 },
	  .p_stable_file = 50, .p_uring = 50, .npipes = 3 },
	{ "racy", "a writer thread rewrites a file while it is spliced",
	  .w = { [OP_SPLICE_FP] = 20, [OP_SENDFILE_FP] = 2, [OP_READ_P] = 10,
		 [OP_SPLICE_PF] = 4, [OP_SPLICE_PS] = 4, [OP_RECV_S] = 4,
		 [OP_WRITE_P] = 4, [OP_TEE] = 2, [OP_SPLICE_PN] = 2,
		 [OP_M_WRITE] = 4 },
	  .p_stable_file = 50, .p_uring = 10, .npipes = 2, .racy = true },
	{ "stream_sources", "sockets, pipes, /dev/zero as sources, every flag",
	  .w = { [OP_WRITE_S] = 12, [OP_SPLICE_SP] = 12, [OP_SPLICE_ZP] = 5,
		 [OP_WRITE_P] = 4, [OP_VMSPLICE_P] = 3, [OP_SPLICE_PP] = 3,
		 [OP_TEE] = 3, [OP_SPLICE_PS] = 6, [OP_READ_P] = 8,
		 [OP_VMSPLICE_R] = 2, [OP_SPLICE_PF] = 3, [OP_SPLICE_PN] = 2,
		 [OP_RECV_S] = 8, [OP_SENDFILE_FS] = 2, [OP_SPLICE_FP] = 4,
		 [OP_M_WRITE] = 3 },
	  .p_stable_file = 30, .p_stable_src = 50, .p_uring = 15, .npipes = 2 },
};

#define NR_CLASSES	ARRAY_SIZE(classes)

static long gen_len(void)
{
	static const long lens[] = {
		1, 16, 100, 512, 4095, 4096, 4097, 8192, 12288, 16384, 32768,
		65536, 65536, 65536 + 123, 131072, MAXLEN,
	};

	return rnd(5) ? lens[rnd(ARRAY_SIZE(lens))] : 1 + rnd(MAXLEN);
}

static long gen_off(void)
{
	switch (rnd(5)) {
	case 0:
	case 1:
		return 0;
	case 2:
		return 4096 * rnd(40);
	case 3:
		return rnd(140000);
	default:
		return 4096 * rnd(16) + rnd(4096);
	}
}

static unsigned int gen_flags(int p_stable)
{
	unsigned int f = 0;

	if (!rnd(4))
		f |= SPLICE_F_MOVE;
	if (!rnd(3))
		f |= SPLICE_F_NONBLOCK;
	if (!rnd(4))
		f |= SPLICE_F_MORE;
	if (!rnd(6))
		f |= SPLICE_F_GIFT;
	if (rnd(100) < p_stable)
		f |= SPLICE_F_STABLE;
	return f;
}

static void gen_op(const struct cls *c, struct op *o)
{
	static const long trunc_sizes[] = { 0, 1000, 4096, 30000, 65536, 65636, 131072 };
	static const int mmap_hows[] = { 0, 0, 0, 1, 1, 2, 3 };
	unsigned int total = 0, i;
	long r;
	int uring = rnd(100) < c->p_uring ? VIA_URING : 0;
	int pipe = rnd(3) ? 0 : rnd(c->npipes);
	int pipe2 = rnd(c->npipes > 1 ? c->npipes : 2);
	int file = c->racy && rnd(10) < 7 ? 1 : rnd(NFILES);
	int mfile = c->racy ? 0 : rnd(NFILES);

	for (i = 0; i < NR_OPS; i++)
		total += c->w[i];
	r = rnd(total);
	for (i = 0; r >= c->w[i]; i++)
		r -= c->w[i];
	memset(o, 0, sizeof(*o));
	o->type = i;
	if (pipe2 == pipe)
		pipe2 = (pipe + 1) % NPIPES;
	switch (o->type) {
	case OP_SPLICE_FP:
		o->a = file;
		o->b = pipe;
		o->c = (rnd(5) ? 0 : VIA_POS) | uring;
		o->off = gen_off();
		o->len = gen_len();
		o->flags = gen_flags(c->p_stable_file);
		break;
	case OP_SENDFILE_FP:
	case OP_SENDFILE_FS:
		o->a = file;
		o->b = o->type == OP_SENDFILE_FP ? pipe : rnd(NSOCKS);
		o->off = gen_off();
		o->len = gen_len();
		break;
	case OP_WRITE_P:
		o->b = pipe;
		o->c = rnd(4);
		o->len = rnd(2) ? 16 << rnd(8) : gen_len();
		break;
	case OP_VMSPLICE_P:
		o->b = pipe;
		o->c = rnd(4);
		o->len = gen_len();
		o->flags = gen_flags(3);
		break;
	case OP_SPLICE_SP:
		o->a = rnd(NSOCKS);
		o->b = pipe;
		o->c = uring;
		o->len = gen_len();
		o->flags = gen_flags(c->p_stable_src);
		break;
	case OP_SPLICE_ZP:
		o->b = pipe;
		o->len = gen_len();
		o->flags = gen_flags(c->p_stable_src);
		break;
	case OP_SPLICE_PP:
	case OP_TEE:
		o->a = pipe;
		o->b = pipe2;
		o->c = uring;
		o->len = gen_len();
		o->flags = gen_flags(3);
		break;
	case OP_WRITE_S:
		o->a = rnd(NSOCKS);
		o->len = gen_len();
		break;
	case OP_SPLICE_PS:
		o->a = pipe;
		o->b = rnd(NSOCKS);
		o->c = uring;
		o->len = gen_len();
		o->flags = gen_flags(15);
		break;
	case OP_READ_P:
	case OP_RECV_S:
		o->a = o->type == OP_READ_P ? pipe : rnd(NSOCKS);
		o->len = gen_len();
		break;
	case OP_VMSPLICE_R:
		o->a = pipe;
		o->c = rnd(2);
		o->len = gen_len();
		o->flags = gen_flags(3);
		break;
	case OP_SPLICE_PF:
	case OP_SPLICE_PN:
		o->a = pipe;
		o->c = o->type == OP_SPLICE_PF ? uring : 0;
		o->len = gen_len();
		o->flags = gen_flags(15);
		break;
	case OP_SETPIPE:
		o->a = rnd(NPIPES);
		o->len = 4096L << rnd(9);
		break;
	case OP_M_WRITE:
	case OP_M_FALLOC:
		o->a = mfile;
		o->c = rnd(7);
		o->off = gen_off();
		o->len = rnd(3) ? gen_len() : 1 + rnd(64);
		break;
	case OP_M_MMAP:
		o->a = mfile;
		/* mostly stores, some through a held mapping, some unmap it */
		o->c = mmap_hows[rnd(ARRAY_SIZE(mmap_hows))];
		o->off = gen_off();
		o->len = gen_len();
		break;
	case OP_M_TRUNC:
		o->a = mfile;
		o->len = rnd(3) ? trunc_sizes[rnd(ARRAY_SIZE(trunc_sizes))] :
			 rnd(MAXF + 1);
		break;
	case OP_M_COPY:
	case OP_M_CLONE:
	case OP_M_DEDUPE:
	case OP_M_SENDFILE:
		o->a = mfile;
		o->b = rnd(NFILES);
		o->c = 4096 * rnd(32) + (rnd(3) ? 0 : rnd(4096));
		o->off = gen_off();
		o->len = gen_len();
		break;
	case OP_M_SPLICE:
		o->a = mfile;
		o->off = gen_off();
		o->len = gen_len();
		break;
	case OP_M_UNLINK:
		o->a = mfile;
		break;
	}
}

static void gen_seq(const struct cls *c, unsigned int ci, unsigned long n,
		    struct seq *s)
{
	static const long sizes[] = {
		0, 4096, 10000, 65536, 65536, 65536, 65536 + 100, 131072, 200000,
	};
	int i;

	/* each sequence from its own state: seed, class and number name it */
	rng_state = mix(cfg.seed * 0x9e3779b97f4a7c15ULL + ci * 1000003ULL + n) | 1;
	memset(s, 0, sizeof(*s));
	s->w.size[0] = sizes[rnd(ARRAY_SIZE(sizes))];
	s->w.size[1] = sizes[rnd(ARRAY_SIZE(sizes))];
	s->w.racy = c->racy;
	s->nops = 3 + rnd(22);
	for (i = 0; i < s->nops; i++)
		gen_op(c, &s->ops[i]);
}

/* ---- running a sequence (parent) ----------------------------------------- */

static __printf(1, 2) void kmsg_mark(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	int fd, len;

	if (!cfg.kmsg_wr)
		return;
	fd = open("/dev/kmsg", O_WRONLY);
	if (fd < 0) {
		cfg.kmsg_wr = false;
		return;
	}
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[len++] = '\n';
	/* one write() is one record */
	if (write(fd, line, len) != len)
		cfg.kmsg_wr = false;
	close(fd);
}

/* New kernel reports since the last look: the first one goes to @out. */
static void report_where(const char *report, char *out, size_t len);

static bool kmsg_scan(char *out, size_t len)
{
	static const char * const pat[] = {
		"WARNING:", "BUG:", "KASAN", "Oops", "possible circular locking",
		"UBSAN", "general protection fault", "kernel BUG",
	};
	static char rec_buf[8192];
	bool found = false;
	unsigned int i;
	char *msg, *nl;
	ssize_t n;

	if (cfg.kmsg_rd < 0)
		return false;
	for (;;) {
		n = read(cfg.kmsg_rd, rec_buf, sizeof(rec_buf) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten before we read it */
		if (n <= 0)
			break;
		rec_buf[n] = 0;
		msg = strchr(rec_buf, ';');
		msg = msg ? msg + 1 : rec_buf;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		for (i = 0; i < ARRAY_SIZE(pat); i++) {
			char where[100];
			size_t k = strlen(res->kreports);

			if (!strstr(msg, pat[i]))
				continue;
			if (!found)
				snprintf(out, len, "%.250s", msg);
			found = true;
			report_where(msg, where, sizeof(where));
			if (!strstr(res->kreports, where))
				snprintf(res->kreports + k, sizeof(res->kreports) - k,
					 "%s|", where);
			break;
		}
	}
	return found;
}

/*
 * Two kernel failures are alike when they share a report that is not just
 * the aftermath of memory corruption (an oops, a bad page).
 */
static bool kreports_meet(const char *a, const char *b)
{
	char where[100];
	const char *p, *q;
	size_t n;

	for (p = a; *p; p = q + 1) {
		q = strchr(p, '|');
		if (!q)
			break;
		n = q - p;
		if (!n || n >= sizeof(where))
			continue;
		memcpy(where, p, n);
		where[n] = 0;
		if (!strncmp(where, "Oops", 4) || strstr(where, "general protection") ||
		    strstr(where, "Bad page"))
			continue;
		strcat(where, "|");
		if (strstr(b, where))
			return true;
	}
	return false;
}

/*
 * What makes two kernel reports the same: the kind and where, without CPU,
 * PID, offsets and addresses ("WARNING at lib/iov_iter.c:344 page_copy_sane").
 */
static void report_where(const char *report, char *out, size_t len)
{
	const char *at = strstr(report, " at ");
	size_t n;

	if (at && strchr(report, ':') && strchr(report, ':') < at) {
		n = strchr(report, ':') - report;
		snprintf(out, len, "%.*s at %s", (int)n, report, at + 4);
	} else {
		snprintf(out, len, "%s", report);
	}
	n = strcspn(out, "+,");
	if (strstr(out, " 0x") && (size_t)(strstr(out, " 0x") - out) < n)
		n = strstr(out, " 0x") - out;
	if (strstr(out, "pte:") && (size_t)(strstr(out, "pte:") - out) < n)
		n = strstr(out, "pte:") - out;
	out[n] = 0;
}

static void cleanup_trial(void)
{
	static const char * const sfx[] = { "f0", "f1", "l0", "l1", "sink" };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sfx); i++) {
		snprintf(path, sizeof(path), "%s/splice_fuzz.%d.%lu.%s", cfg.dir,
			 (int)getpid(), cfg.trials, sfx[i]);
		unlink(path);
	}
}

/* Run @s in a fresh child; returns the failure kind (res has the rest). */
static int run_trial(const struct seq *s)
{
	char report[300], model[sizeof(res->msg)];
	struct pollfd pfd;
	int status = 0, p[2];
	pid_t pid;

	memset(res, 0, offsetof(struct outcome, code));
	res->code[0] = 0;
	cfg.trials++;
	kmsg_mark("splice_fuzz: begin seq %lu", cfg.trials);
	fflush(stdout);
	fflush(stderr);
	if (pipe(p)) {
		snprintf(res->msg, sizeof(res->msg), "pipe: %s", strerror(errno));
		snprintf(res->sig, sizeof(res->sig), "setup");
		return res->kind = F_SETUP;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(res->msg, sizeof(res->msg), "fork: %s", strerror(errno));
		snprintf(res->sig, sizeof(res->sig), "setup");
		close(p[0]);
		close(p[1]);
		return res->kind = F_SETUP;
	}
	if (!pid) {
		close(p[0]);
		alarm(SEQ_TIMEOUT);
		run_sequence(s);
		_exit(0);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	/* the pipe closes when the child is gone */
	if (poll(&pfd, 1, (SEQ_TIMEOUT + 10) * 1000) == 0) {
		kill(pid, SIGKILL);
		if (poll(&pfd, 1, 10000) == 0) {
			close(p[0]);
			snprintf(res->sig, sizeof(res->sig), "%s/stuck", fail_names[F_HANG]);
			snprintf(res->msg, sizeof(res->msg),
				 "the child is stuck in op %d (%s), SIGKILL does not end it",
				 res->cur_op, res->cur_op < s->nops ?
				 op_names[s->ops[res->cur_op].type] : "drain");
			return res->kind = F_HANG;
		}
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	cleanup_trial();
	if (WIFSIGNALED(status)) {
		res->kind = WTERMSIG(status) == SIGALRM || WTERMSIG(status) == SIGKILL ?
			    F_HANG : F_CRASH;
		res->op = res->cur_op;
		snprintf(res->sig, sizeof(res->sig), "%s/%d", fail_names[res->kind],
			 WTERMSIG(status));
		snprintf(res->msg, sizeof(res->msg), "op %d (%s): %s %d", res->cur_op,
			 res->cur_op < s->nops ? op_names[s->ops[res->cur_op].type] :
			 "drain", res->kind == F_HANG ?
			 "no progress for seconds:" : "killed by signal",
			 res->kind == F_HANG ? SEQ_TIMEOUT : WTERMSIG(status));
	} else if (!res->kind && WEXITSTATUS(status)) {
		res->kind = F_CRASH;
		snprintf(res->sig, sizeof(res->sig), "%s/exit", fail_names[F_CRASH]);
		snprintf(res->msg, sizeof(res->msg), "the child exited with %d",
			 WEXITSTATUS(status));
	}
	if (kmsg_scan(report, sizeof(report))) {
		snprintf(model, sizeof(model), "%s", res->msg);
		snprintf(res->msg, sizeof(res->msg), "kernel: \"%.250s\" (%s%.380s)", report,
			 res->kind ? "the model: " : "the model saw nothing wrong",
			 res->kind ? model : "");
		res->kind = F_KERNEL;
		report_where(report, model, sizeof(model));
		snprintf(res->sig, sizeof(res->sig), "%s/%.60s", fail_names[F_KERNEL],
			 model);
	}
	return res->kind;
}

/* Has the kernel oopsed or seen a bad page since the start? */
static bool kernel_damaged(void)
{
	unsigned long t = 0;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (f) {
		if (fscanf(f, "%lu", &t) != 1)
			t = 0;
		fclose(f);
	}
	/* TAINT_DIE (D), TAINT_BAD_PAGE (B) */
	t &= (1UL << 7) | (1UL << 5);
	if (t & ~cfg.taint0)
		cfg.damaged = true;
	return cfg.damaged;
}

/* ---- shrinking ---------------------------------------------------------- */

static int write_repro(const char *path, const struct seq *s, const char *cls,
		       const char *msg);

/* The same role with a plainer syscall: vmsplice -> write, mmap -> pwrite. */
static bool simpler_type(struct op *o)
{
	switch (o->type) {
	case OP_VMSPLICE_P:
	case OP_SPLICE_ZP:
		o->type = OP_WRITE_P;
		o->c = 0;
		o->flags = 0;
		return true;
	case OP_VMSPLICE_R:
	case OP_SPLICE_PN:
	case OP_SPLICE_PF:
		o->type = OP_READ_P;
		o->c = 0;
		o->flags = 0;
		return true;
	case OP_SENDFILE_FP:
		o->type = OP_SPLICE_FP;
		return true;
	case OP_M_MMAP:
	case OP_M_FALLOC:
	case OP_M_COPY:
	case OP_M_CLONE:
	case OP_M_DEDUPE:
	case OP_M_SENDFILE:
	case OP_M_SPLICE:
		o->type = OP_M_WRITE;
		o->b = 0;
		o->c = 0;
		return true;
	case OP_M_WRITE:
		if (!o->c)
			return false;
		o->c = 0;
		return true;
	}
	return false;
}

/* The @k-th simpler version of @o; false when there is none. */
static bool simplify(struct op *o, int k)
{
	static const unsigned int bits[] = {
		SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT,
		SPLICE_F_STABLE,
	};
	static const long lens[] = { 65536, 4096, 16, 1 };
	long *v;

	if (k < 5) {
		if (!(o->flags & bits[k]))
			return false;
		o->flags &= ~bits[k];
		return true;
	}
	k -= 5;
	if (k < 5) {
		long want = k < 4 ? lens[k] : o->len / 2;

		if (want >= o->len || want < 1)
			return false;
		o->len = want;
		return true;
	}
	k -= 5;
	if (k == 6)
		return simpler_type(o);
	switch (k) {
	case 0:
	case 1:
		v = &o->off;
		if (!*v || (k == 1 && !(*v & 4095)))
			return false;
		*v = k ? *v & ~4095L : 0;
		return true;
	case 2:
		v = NULL;
		if (!o->a)
			return false;
		o->a = 0;
		return true;
	case 3:
		if (!o->b)
			return false;
		o->b = 0;
		return true;
	case 4:
		if (!o->c)
			return false;
		o->c = 0;
		return true;
	case 5:
		if (o->c < 2 || (o->c & (o->c - 1)) == 0)
			return false;
		o->c &= o->c - 1;	/* drop the lowest bit */
		return true;
	}
	return false;
}

#define NR_SIMPLIFY	17

enum role { R_NONE, R_FILE, R_PIPE, R_SOCK };

/* What the a and b arguments of an op name. */
static void roles(int type, int *ra, int *rb)
{
	*ra = *rb = R_NONE;
	switch (type) {
	case OP_SPLICE_FP:
	case OP_SENDFILE_FP:
		*ra = R_FILE;
		*rb = R_PIPE;
		break;
	case OP_WRITE_P:
	case OP_VMSPLICE_P:
	case OP_SPLICE_ZP:
		*rb = R_PIPE;
		break;
	case OP_SPLICE_SP:
		*ra = R_SOCK;
		*rb = R_PIPE;
		break;
	case OP_SPLICE_PP:
	case OP_TEE:
		*ra = *rb = R_PIPE;
		break;
	case OP_WRITE_S:
	case OP_RECV_S:
		*ra = R_SOCK;
		break;
	case OP_SPLICE_PS:
		*ra = R_PIPE;
		*rb = R_SOCK;
		break;
	case OP_SENDFILE_FS:
		*ra = R_FILE;
		*rb = R_SOCK;
		break;
	case OP_READ_P:
	case OP_VMSPLICE_R:
	case OP_SPLICE_PF:
	case OP_SPLICE_PN:
	case OP_SETPIPE:
		*ra = R_PIPE;
		break;
	case OP_M_COPY:
	case OP_M_CLONE:
	case OP_M_DEDUPE:
	case OP_M_SENDFILE:
		*rb = R_FILE;
		fallthrough;
	default:
		*ra = R_FILE;
		break;
	}
}

/* Swap objects @x and @y of @role in every op: fewer objects in use. */
static void swap_objects(struct seq *s, int role, int x, int y)
{
	static const int count[] = { 1, NFILES, NPIPES, NSOCKS };
	int i, ra, rb, *v[2], k;
	long t;

	for (i = 0; i < s->nops; i++) {
		roles(s->ops[i].type, &ra, &rb);
		v[0] = ra == role ? &s->ops[i].a : NULL;
		v[1] = rb == role ? &s->ops[i].b : NULL;
		for (k = 0; k < 2; k++) {
			if (!v[k])
				continue;
			*v[k] %= count[role];
			if (*v[k] == x)
				*v[k] = y;
			else if (*v[k] == y)
				*v[k] = x;
		}
	}
	if (role == R_FILE) {
		t = s->w.size[x];
		s->w.size[x] = s->w.size[y];
		s->w.size[y] = t;
	}
}

/*
 * Delta debugging: drop runs of ops (halving their length), then make each
 * op's arguments simpler, keeping every change after which the sequence
 * still fails the same way in a fresh world; again until nothing changes.
 */
static char shrink_kreports[400];	/* the reports of the failure shrunk */
static char shrink_repro[PATH_MAX];	/* rewritten at each step */
static const char *shrink_cls;

static bool fails_alike(const struct seq *s, const char *sig)
{
	if (kernel_damaged())
		return false;	/* nothing the kernel does now counts */
	/* a run that took the kernel down still ran on a sound one */
	run_trial(s);
	kernel_damaged();
	if (res->kind == F_KERNEL && !strncmp(sig, fail_names[F_KERNEL],
					      strlen(fail_names[F_KERNEL])))
		return kreports_meet(shrink_kreports, res->kreports);
	return res->kind && !strcmp(res->sig, sig);
}

/* Shrinking so far, so that a fresh boot can go on (--replay @FILE --shrink). */
static void save_progress(const struct seq *s, const char *sig)
{
	char *text;
	FILE *f;

	if (!cfg.progress[0])
		return;
	f = fopen(cfg.progress, "w");
	if (!f)
		return;
	text = seq_text(s);
	fprintf(f, "%s\n%s\n%s\n", text, sig, shrink_kreports);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	free(text);
	/* res holds the run of @s that failed: its syscalls are the reproducer */
	if (shrink_repro[0] && res->kind)
		write_repro(shrink_repro, s, shrink_cls, res->msg);
}

static bool go_on(double deadline)
{
	return now() < deadline && !cfg.damaged;
}

static void shrink(struct seq *s, const char *sig, int *trials, double *secs)
{
	double t0 = now(), deadline = t0 + cfg.shrink_seconds;
	static const long sizes[] = { 65536, 4096, 0 };
	bool progress = true;
	struct seq c;
	int chunk, i, k, f;

	*trials = 0;
	while (progress && go_on(deadline)) {
		progress = false;
		for (chunk = s->nops / 2 ? s->nops / 2 : 1; chunk >= 1; chunk /= 2) {
			for (i = 0; i + chunk <= s->nops && s->nops > 1 &&
			     go_on(deadline);) {
				c = *s;
				memmove(&c.ops[i], &c.ops[i + chunk],
					(c.nops - i - chunk) * sizeof(c.ops[0]));
				c.nops -= chunk;
				++*trials;
				if (fails_alike(&c, sig)) {
					*s = c;
					save_progress(s, sig);
					progress = true;
				} else {
					i += chunk;
				}
			}
		}
		for (i = 0; i < s->nops && go_on(deadline); i++) {
			for (k = 0; k < NR_SIMPLIFY && go_on(deadline); k++) {
				c = *s;
				if (!simplify(&c.ops[i], k))
					continue;
				++*trials;
				if (fails_alike(&c, sig)) {
					*s = c;
					save_progress(s, sig);
					progress = true;
				}
			}
		}
		/* the first file, pipe, socket rather than others */
		for (k = 0; k < 4 && go_on(deadline); k++) {
			static const int swaps[][3] = {
				{ R_FILE, 0, 1 }, { R_PIPE, 0, 1 }, { R_PIPE, 0, 2 },
				{ R_SOCK, 0, 1 },
			};
			int ra, rb, used = 0;

			for (i = 0; i < s->nops; i++) {
				roles(s->ops[i].type, &ra, &rb);
				if (ra == swaps[k][0] && s->ops[i].a == swaps[k][2])
					used |= 2;
				if (rb == swaps[k][0] && s->ops[i].b == swaps[k][2])
					used |= 2;
				if ((ra == swaps[k][0] && s->ops[i].a == swaps[k][1]) ||
				    (rb == swaps[k][0] && s->ops[i].b == swaps[k][1]))
					used |= 1;
			}
			/* only when the higher one is used and the lower one is not */
			if (used != 2 || (s->w.racy && swaps[k][0] == R_FILE))
				continue;
			c = *s;
			swap_objects(&c, swaps[k][0], swaps[k][1], swaps[k][2]);
			++*trials;
			if (fails_alike(&c, sig)) {
				*s = c;
				save_progress(s, sig);
				progress = true;
			}
		}
		for (f = 0; f < NFILES && go_on(deadline); f++) {
			for (k = 0; k < (int)ARRAY_SIZE(sizes); k++) {
				c = *s;
				if (c.w.size[f] <= sizes[k])
					continue;
				c.w.size[f] = sizes[k];
				++*trials;
				if (fails_alike(&c, sig)) {
					*s = c;
					save_progress(s, sig);
					progress = true;
					break;
				}
			}
		}
	}
	*secs = now() - t0;
}

/* ---- reproducers -------------------------------------------------------- */

static const char repro_head[] =
"#define _GNU_SOURCE\n"
"#pragma GCC diagnostic ignored \"-Wunused-function\"\n"
"#pragma GCC diagnostic ignored \"-Wunused-variable\"\n"
"#include <errno.h>\n"
"#include <fcntl.h>\n"
"#include <poll.h>\n"
"#include <pthread.h>\n"
"#include <signal.h>\n"
"#include <stdint.h>\n"
"#include <stdio.h>\n"
"#include <stdlib.h>\n"
"#include <string.h>\n"
"#include <unistd.h>\n"
"#include <arpa/inet.h>\n"
"#include <linux/falloc.h>\n"
"#include <linux/fs.h>\n"
"#include <netinet/in.h>\n"
"#include <netinet/tcp.h>\n"
"#include <sys/ioctl.h>\n"
"#include <sys/mman.h>\n"
"#include <sys/sendfile.h>\n"
"#include <sys/socket.h>\n"
"#include <sys/syscall.h>\n"
"#include <sys/uio.h>\n"
"\n"
"#ifndef SPLICE_F_STABLE\n"
"#define SPLICE_F_STABLE 0x10\n"
"#endif\n"
"#define MAXF (256 * 1024)\n"
"#define LOGMAX (8 << 20)\n"
"\n"
"static const char *dir = \".\";\n"
"static int f[2][5] = { { -1, -1, -1, -1, -1 }, { -1, -1, -1, -1, -1 } };\n"
"static int p[3][2], s[2][2] = { { -1, -1 }, { -1, -1 } }, zero, null, sink;\n"
"static unsigned char *hmap[2];\n"
"static unsigned char buf[1 << 20], tmp[1 << 20];\n"
"static unsigned char lg[5][LOGMAX];	/* what came out of each pipe, socket */\n"
"static size_t lgn[5];\n"
"static struct iovec iov[4];\n"
"static int failed;\n";

static const char repro_show[] =
"\n"
"static void show(int op, const char *what, long n)\n"
"{\n"
"	int e = errno;\n"
"\n"
"	if (n < 0)\n"
"		printf(\"%3d %-28s -1 %s\\n\", op, what, strerror(e));\n"
"	else\n"
"		printf(\"%3d %-28s %ld\\n\", op, what, n);\n"
"	errno = e;\n"
"}\n";

static const char repro_reproduced[] =
"\n"
"static void reproduced(const char *what)\n"
"{\n"
"	printf(\"REPRODUCED: %s\\n\", what);\n"
"	failed = 1;\n"
"}\n";

static const char repro_logit[] =
"\n"
"static void logit(int i, const void *data, long n)\n"
"{\n"
"	if (lgn[i] + n > LOGMAX)\n"
"		n = LOGMAX - lgn[i];\n"
"	if (data)\n"
"		memcpy(lg[i] + lgn[i], data, n);\n"
"	lgn[i] += n;\n"
"}\n";

static const char repro_check_eq[] =
"\n"
"static void check_eq(int i, size_t at, const unsigned char *want, size_t len,\n"
"		     const char *what)\n"
"{\n"
"	size_t k, bad = 0;\n"
"\n"
"	if (lgn[i] < at + len)\n"
"		len = lgn[i] > at ? lgn[i] - at : 0;\n"
"	for (k = 0; k < len; k++)\n"
"		bad += lg[i][at + k] != want[k];\n"
"	printf(\"    stream %d bytes [%zu, +%zu): %zu differ (%s)\\n\", i, at, len,\n"
"	       bad, what);\n"
"	if (bad)\n"
"		reproduced(\"the data differs\");\n"
"}\n";

static const char repro_mix[] =
"\n"
"static uint64_t mix(uint64_t x)\n"
"{\n"
"	x ^= x >> 31;\n"
"	x *= 0xbf58476d1ce4e5b9ULL;\n"
"	x ^= x >> 29;\n"
"	x *= 0x94d049bb133111ebULL;\n"
"	x ^= x >> 32;\n"
"	return x;\n"
"}\n";

static const char repro_fill[] =
"\n"
"/* the data written with @tag, at @pos */\n"
"static void fill(unsigned char *b, uint32_t tag, uint64_t pos, size_t len)\n"
"{\n"
"	uint64_t h;\n"
"\n"
"	if (!tag) {\n"
"		memset(b, 0, len);\n"
"		return;\n"
"	}\n"
"	while (len) {\n"
"		h = mix((pos >> 3) * 0x9e3779b97f4a7c15ULL + tag * 0xd1b54a32d192ed03ULL + 1);\n"
"		h >>= (pos & 7) * 8;\n"
"		do {\n"
"			*b++ = h | 1;\n"
"			h >>= 8;\n"
"			len--;\n"
"		} while (len && (++pos & 7));\n"
"	}\n"
"}\n";

static const char repro_path_fn[] =
"\n"
"static const char *path(const char *name)\n"
"{\n"
"	static char pb[4][4096];\n"
"	static int i;\n"
"\n"
"	i = (i + 1) % 4;\n"
"	snprintf(pb[i], sizeof(pb[i]), \"%s/splice_repro.%s\", dir, name);\n"
"	return pb[i];\n"
"}\n";

static const char repro_iov_split[] =
"\n"
"static int iov_split(unsigned char *b, size_t len, int pieces)\n"
"{\n"
"	int i;\n"
"\n"
"	for (i = 0; i < pieces; i++) {\n"
"		iov[i].iov_base = b + len * i / pieces;\n"
"		iov[i].iov_len = len * (i + 1) / pieces - len * i / pieces;\n"
"	}\n"
"	return pieces;\n"
"}\n";

static const char repro_fresh[] =
"\n"
"/* user memory for vmsplice(2), never written again */\n"
"static unsigned char *fresh(uint32_t tag, size_t len)\n"
"{\n"
"	unsigned char *m = mmap(NULL, len + 1, PROT_READ | PROT_WRITE,\n"
"				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n"
"\n"
"	fill(m, tag, 0, len);\n"
"	return m;\n"
"}\n";

static const char repro_abuf[] =
"\n"
"/* an aligned buffer for O_DIRECT */\n"
"static unsigned char *abuf(uint32_t tag, long off, size_t len)\n"
"{\n"
"	void *m = NULL;\n"
"\n"
"	if (posix_memalign(&m, 4096, len))\n"
"		abort();\n"
"	fill(m, tag, off, len);\n"
"	return m;\n"
"}\n";

static const char repro_store[] =
"\n"
"/* a store through a shared mapping made for it */\n"
"static void store(int fd, size_t size, long off, uint32_t tag, size_t len)\n"
"{\n"
"	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,\n"
"				fd, 0);\n"
"\n"
"	if (m == MAP_FAILED)\n"
"		return;\n"
"	fill(m + off, tag, off, len);\n"
"	munmap(m, size);\n"
"}\n";

static const char repro_wait_in[] =
"\n"
"static void wait_in(int fd, int ms)\n"
"{\n"
"	struct pollfd pfd = { .fd = fd, .events = POLLIN };\n"
"\n"
"	poll(&pfd, 1, ms);\n"
"}\n";

static const char repro_on_alarm[] =
"\n"
"static void on_alarm(int sig)\n"
"{\n"
"	(void)sig;\n"
"	printf(\"REPRODUCED: no progress for 30 s\\n\");\n"
"	_exit(1);\n"
"}\n";

static const char repro_any[] =
"\n"
"/* plain splice: each byte is one some version of the file held there */\n"
"static void check_any(int i, size_t at, int fi, int v0, int v1, long off,\n"
"		      size_t len, int zero_ok)\n"
"{\n"
"	size_t k;\n"
"	int v;\n"
"\n"
"	for (k = 0; k < len && at + k < lgn[i]; k++) {\n"
"		if (zero_ok && !lg[i][at + k])\n"
"			continue;\n"
"		for (v = v0; v <= v1; v++)\n"
"			if (ver[fi][v][off + k] == lg[i][at + k])\n"
"				break;\n"
"		if (v > v1) {\n"
"			printf(\"    file offset %ld: %#x, held by no version\\n\",\n"
"			       off + (long)k, lg[i][at + k]);\n"
"			reproduced(\"a byte the file never held\");\n"
"			return;\n"
"		}\n"
"	}\n"
"}\n";

static const char repro_tcp[] =
"\n"
"/* a connected TCP pair over loopback: [0] receives, [1] sends */\n"
"static void tcp_pair(int sv[2])\n"
"{\n"
"	struct sockaddr_in a = { .sin_family = AF_INET,\n"
"				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };\n"
"	socklen_t alen = sizeof(a);\n"
"	int l = socket(AF_INET, SOCK_STREAM, 0);\n"
"\n"
"	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||\n"
"	    getsockname(l, (struct sockaddr *)&a, &alen)) {\n"
"		perror(\"tcp\");\n"
"		exit(2);\n"
"	}\n"
"	sv[1] = socket(AF_INET, SOCK_STREAM, 0);\n"
"	if (connect(sv[1], (struct sockaddr *)&a, sizeof(a))) {\n"
"		perror(\"connect\");\n"
"		exit(2);\n"
"	}\n"
"	sv[0] = accept(l, NULL, NULL);\n"
"	close(l);\n"
"	fcntl(sv[0], F_SETFL, O_NONBLOCK);\n"
"	fcntl(sv[1], F_SETFL, O_NONBLOCK);\n"
"}\n";

static const char repro_uring[] =
"\n"
"#include <linux/io_uring.h>\n"
"\n"
"static int ring = -1;\n"
"static unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;\n"
"static struct io_uring_sqe *sqes;\n"
"static struct io_uring_cqe *cqes;\n"
"\n"
"static void uring_setup(void)\n"
"{\n"
"	struct io_uring_params pa = { 0 };\n"
"	size_t len;\n"
"	char *sq;\n"
"\n"
"	ring = syscall(__NR_io_uring_setup, 4, &pa);\n"
"	len = pa.cq_off.cqes + pa.cq_entries * sizeof(struct io_uring_cqe);\n"
"	if (len < pa.sq_off.array + pa.sq_entries * sizeof(unsigned int))\n"
"		len = pa.sq_off.array + pa.sq_entries * sizeof(unsigned int);\n"
"	/* needs IORING_FEAT_SINGLE_MMAP (5.4) */\n"
"	sq = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,\n"
"		  ring, IORING_OFF_SQ_RING);\n"
"	sqes = mmap(NULL, pa.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,\n"
"		    MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);\n"
"	if (ring < 0 || sq == MAP_FAILED || sqes == MAP_FAILED) {\n"
"		perror(\"io_uring\");\n"
"		exit(2);\n"
"	}\n"
"	sq_tail = (void *)(sq + pa.sq_off.tail);\n"
"	sq_mask = (void *)(sq + pa.sq_off.ring_mask);\n"
"	sq_array = (void *)(sq + pa.sq_off.array);\n"
"	cq_head = (void *)(sq + pa.cq_off.head);\n"
"	cq_tail = (void *)(sq + pa.cq_off.tail);\n"
"	cq_mask = (void *)(sq + pa.cq_off.ring_mask);\n"
"	cqes = (void *)(sq + pa.cq_off.cqes);\n"
"}\n"
"\n"
"/* one IORING_OP_SPLICE or IORING_OP_TEE, waited for */\n"
"static long uring_op(int op, int in, long long off_in, int out,\n"
"		     long long off_out, unsigned int len, unsigned int flags)\n"
"{\n"
"	unsigned int t = *sq_tail, i = t & *sq_mask, h;\n"
"	struct io_uring_sqe *e = &sqes[i];\n"
"	long r;\n"
"\n"
"	memset(e, 0, sizeof(*e));\n"
"	e->opcode = op;\n"
"	e->fd = out;\n"
"	e->off = off_out;\n"
"	e->splice_off_in = off_in;\n"
"	e->splice_fd_in = in;\n"
"	e->len = len;\n"
"	e->splice_flags = flags;\n"
"	sq_array[i] = i;\n"
"	__atomic_store_n(sq_tail, t + 1, __ATOMIC_RELEASE);\n"
"	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)\n"
"		return -1;\n"
"	h = *cq_head;\n"
"	while (h == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))\n"
"		syscall(__NR_io_uring_enter, ring, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);\n"
"	r = cqes[h & *cq_mask].res;\n"
"	__atomic_store_n(cq_head, h + 1, __ATOMIC_RELEASE);\n"
"	if (r < 0) {\n"
"		errno = -r;\n"
"		return -1;\n"
"	}\n"
"	return r;\n"
"}\n";

static const char repro_racy[] =
"\n"
"/* the writer thread: rewrites file 1 with one generation after another */\n"
"static int racy_fd;\n"
"\n"
"static unsigned char racy_byte(unsigned long g, uint64_t pos)\n"
"{\n"
"	return (g + (mix(pos * 0x9e3779b97f4a7c15ULL + 0x5bd1e995) & 0xff) % 251) % 251 + 1;\n"
"}\n"
"\n"
"static void racy_fill(unsigned char *b, unsigned long g)\n"
"{\n"
"	size_t i;\n"
"\n"
"	for (i = 0; i < 32768; i++)\n"
"		b[i] = racy_byte(g, i);\n"
"}\n"
"\n"
"static void *racy_main(void *arg)\n"
"{\n"
"	static unsigned char rb[32768];\n"
"	unsigned long g;\n"
"\n"
"	for (g = 1;; g++) {\n"
"		racy_fill(rb, g);\n"
"		if (pwrite(racy_fd, rb, sizeof(rb), 0) != sizeof(rb))\n"
"			break;\n"
"	}\n"
"	return NULL;\n"
"}\n"
"\n"
"static void racy_start(int fd)\n"
"{\n"
"	pthread_t t;\n"
"\n"
"	racy_fd = fd;\n"
"	pthread_create(&t, NULL, racy_main, NULL);\n"
"}\n";

static const char repro_kmsg[] =
"\n"
"static int kmsg = -1;\n"
"\n"
"/* kernel reports in /dev/kmsg since the start (needs root) */\n"
"static void kmsg_check(void)\n"
"{\n"
"	static const char *const pat[] = { \"WARNING:\", \"BUG:\", \"KASAN\", \"Oops\",\n"
"		\"possible circular locking\", \"UBSAN\", \"general protection\" };\n"
"	char r[8192], *m;\n"
"	unsigned int i;\n"
"	ssize_t n;\n"
"\n"
"	while ((n = read(kmsg, r, sizeof(r) - 1)) != 0) {\n"
"		if (n < 0 && errno == EPIPE)\n"
"			continue;\n"
"		if (n < 0)\n"
"			break;\n"
"		r[n] = 0;\n"
"		m = strchr(r, ';') ? strchr(r, ';') + 1 : r;\n"
"		for (i = 0; i < sizeof(pat) / sizeof(pat[0]); i++) {\n"
"			if (strstr(m, pat[i])) {\n"
"				printf(\"    kernel: %.200s\", m);\n"
"				reproduced(\"kernel report\");\n"
"				return;\n"
"			}\n"
"		}\n"
"	}\n"
"}\n";

static bool code_has(const char *what)
{
	return strstr(res->code, what);
}

static bool fill_needed(void)
{
	return code_has("fill(") || code_has("fresh(") || code_has("abuf(") ||
	       code_has("store(");
}

static const struct {
	const char *needle;	/* used when the code has it; NULL: always */
	const char *text;
} helpers[] = {
	{ NULL, repro_show }, { NULL, repro_reproduced },
	{ "logit(", repro_logit }, { "check_eq(", repro_check_eq },
	{ "\x01", repro_mix }, { "\x01", repro_fill },	/* see fill_needed() */
	{ "path(", repro_path_fn }, { "iov_split(", repro_iov_split },
	{ "fresh(", repro_fresh }, { "abuf(", repro_abuf },
	{ "store(", repro_store }, { "wait_in(", repro_wait_in },
	{ NULL, repro_on_alarm },
};

/* The reproducer: the recorded syscalls of the failing run. */
static int write_repro(const char *path, const struct seq *s, const char *cls,
		       const char *msg)
{
	bool kernel = res->kind == F_KERNEL;
	char *text = seq_text(s);
	FILE *f = fopen(path, "w");
	unsigned int i;
	int ret;

	if (!f) {
		free(text);
		return -1;
	}
	fprintf(f, "// %s-License-Identifier: GPL-2.0\n/*\n"
		" * Reproducer written by splice_fuzz (%s on %s, seed %llu).\n"
		" *\n * %s\n *\n"
		" * Build and run: cc -o repro THIS.c && ./repro [DIR]\n"
		" * (DIR on the filesystem under test, default \".\"%s).  It makes the\n"
		" * syscalls the tester made and checks what the tester found wrong;\n"
		" * exit status 1 and \"REPRODUCED\" when it happens again.\n"
		" *\n * splice_fuzz --replay '%s'\n */\n",
		"SPDX", cls, cfg.fs, cfg.seed, msg,
		kernel ? "; as root, to read /dev/kmsg" : "", text);
	fputs(repro_head, f);
	/* only the helpers the recorded code uses */
	for (i = 0; i < ARRAY_SIZE(helpers); i++)
		if (!helpers[i].needle || code_has(helpers[i].needle) ||
		    (helpers[i].text == repro_fill && fill_needed()) ||
		    (helpers[i].text == repro_mix && (fill_needed() || code_has("racy_"))))
			fputs(helpers[i].text, f);
	fprintf(f, "static unsigned char ver[2][%d][MAXF];	/* each version of the files */\n",
		res->maxver > 0 ? res->maxver : 1);
	if (code_has("check_any("))
		fputs(repro_any, f);
	if (code_has("tcp_pair("))
		fputs(repro_tcp, f);
	if (code_has("uring_"))
		fputs(repro_uring, f);
	if (code_has("racy_"))
		fputs(repro_racy, f);
	if (kernel)
		fputs(repro_kmsg, f);
	fputs("\nint main(int argc, char **argv)\n{\n"
	      "	int one = 1, avail = 0, stale = 0;\n	loff_t o = 0;\n	long n = 0;\n\n"
	      "	if (argc > 1)\n		dir = argv[1];\n"
	      "	setvbuf(stdout, NULL, _IOLBF, 0);\n"
	      "	signal(SIGPIPE, SIG_IGN);\n"
	      "	signal(SIGALRM, on_alarm);\n	alarm(30);\n", f);
	if (kernel)
		fputs("	kmsg = open(\"/dev/kmsg\", O_RDONLY | O_NONBLOCK);\n"
		      "	if (kmsg < 0)\n		perror(\"/dev/kmsg\");\n"
		      "	lseek(kmsg, 0, SEEK_END);\n", f);
	fputs(res->code, f);
	if (res->code_truncated)
		fputs("	/* ... (the rest was too long to record) */\n", f);
	if (kernel)
		fputs("	kmsg_check();\n", f);
	fputs("	if (!failed)\n		printf(\"not reproduced\\n\");\n"
	      "	return failed;\n}\n", f);
	fflush(f);
	fsync(fileno(f));	/* the next sequence may take the kernel down */
	ret = fclose(f);
	free(text);
	return ret;
}

/* ---- main (parent) ------------------------------------------------------ */

static void mkdirs(const char *dir)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, 0755);
}

static void repro_path(char *path, size_t len, const char *cls, int n)
{
	mkdirs(cfg.out);
	snprintf(path, len, "%s/splice_fuzz-repro-%s-%s-%llu-%d.c", cfg.out,
		 cfg.fs, cls, cfg.seed, n);
}

/* 1: the kernel accepts SPLICE_F_STABLE, 0: EINVAL, -1: cannot tell */
static int probe_stable(void)
{
	char path[PATH_MAX];
	int p[2], fd, ret = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/splice_fuzz.%d.probe", cfg.dir,
		 (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	unlink(path);
	fill(iobuf, 1, 0, 4096);
	if (pwrite(fd, iobuf, 4096, 0) == 4096 && !pipe(p)) {
		n = splice(fd, NULL, p[1], NULL, 4096, SPLICE_F_STABLE);
		if (n > 0)
			ret = 1;
		else if (n < 0 && errno == EINVAL)
			ret = 0;
		close(p[0]);
		close(p[1]);
	}
	close(fd);
	return ret;
}

static bool probe_uring(void)
{
	struct uring r;
	bool ok = false;
	int p[2], z;

	if (uring_setup(&r))
		return false;
	z = open("/dev/zero", O_RDONLY);
	if (z >= 0 && !pipe2(p, O_NONBLOCK)) {
		ok = uring_op(&r, IORING_OP_SPLICE, z, -1, p[1], -1, 16, 0) == 16;
		close(p[0]);
		close(p[1]);
	}
	close(z);
	close(r.fd);
	return ok;
}

/* When a failure was found: since the start, and searching (less shrinking). */
struct found_at {
	double wall, search;
};

static struct found_at found_now(void)
{
	double wall = now() - cfg.start;

	return (struct found_at){ wall, wall - cfg.shrinking };
}

/*
 * A failure found at @when: print it, shrink it, write the reproducer.
 * @res holds its outcome.
 */
static void report_failure(const char *cls, const char *name, int idx,
			   struct seq *s, double into, unsigned long nseq,
			   struct found_at when, char *summary, size_t sumlen)
{
	double wall = when.wall, found = when.search;
	int kind = res->kind, trials = 0, again = 0, i;
	char path[PATH_MAX], first[sizeof(res->msg)], sig[sizeof(res->sig)], *text;
	bool written = false;
	double secs = 0;

	snprintf(first, sizeof(first), "%s", res->msg);
	snprintf(sig, sizeof(sig), "%s", res->sig);
	snprintf(shrink_kreports, sizeof(shrink_kreports), "%s", res->kreports);
	ksft_print_msg("%s: sequence %lu failed after %.1f s of search (class: %.1f s): %s: %s\n",
		       name, nseq, found, into, fail_names[kind], first);
	text = seq_text(s);
	ksft_print_msg("%s: as found (%d ops): --replay '%s'\n", name, s->nops, text);
	free(text);
	if (cfg.progress[0]) {
		/* resumed: go on with the same files */
		snprintf(path, sizeof(path), "%.*s.c", (int)strlen(cfg.progress) - 7,
			 cfg.progress);
	} else {
		repro_path(path, sizeof(path), cls, idx);
		snprintf(cfg.progress, sizeof(cfg.progress), "%.*s.shrink",
			 (int)strlen(path) - 2, path);
	}
	if (res->code_len && !write_repro(path, s, cls, first))
		ksft_print_msg("%s: reproducer of the sequence as found: %s\n", name, path);
	snprintf(shrink_repro, sizeof(shrink_repro), "%s", path);
	shrink_cls = cls;
	save_progress(s, sig);
	if (kind != F_SETUP && !kernel_damaged()) {
		ksft_print_msg("%s: shrinking (at most %d s)\n", name, cfg.shrink_seconds);
		shrink(s, sig, &trials, &secs);
		for (i = 0; i < 3 && !cfg.damaged; i++) {
			if (!fails_alike(s, sig))
				continue;
			again++;
			if (!written && !write_repro(path, s, cls, res->msg)) {
				snprintf(first, sizeof(first), "%s", res->msg);
				written = true;
			}
		}
	}
	if (cfg.damaged)
		ksft_print_msg("%s: the kernel oopsed: shrinking stopped; %s\n", name,
			       "go on in a fresh boot with --replay @FILE --shrink");
	if (cfg.damaged)
		ksft_print_msg("%s: FILE: %s\n", name, cfg.progress);
	else if (kind == F_KERNEL)
		ksft_print_msg("%s: reports seen in the failing runs: %s\n", name,
			       shrink_kreports);
	text = seq_text(s);
	ksft_print_msg("%s: %s sequence: %d ops, %d trials in %.1f s, fails %d of 3 runs: %s\n",
		       name, cfg.damaged ? "smallest" : "minimal", s->nops, trials, secs,
		       again, first);
	ksft_print_msg("%s: replay: splice_fuzz --dir %s --replay '%s'\n", name,
		       cfg.dir, text);
	ksft_print_msg("%s: reproducer: %s (cc -o repro FILE && ./repro DIR)\n",
		       name, path);
	ksft_print_msg("%s: time to find: %.1f s of search, %.1f s since the start\n",
		       name, found, wall);
	snprintf(summary, sumlen, "%s after %.1f s", sig, found);
	cfg.progress[0] = 0;
	shrink_repro[0] = 0;
	free(text);
}

/* What a class has done so far, over all its turns. */
struct class_state {
	char name[96];
	bool run;
	unsigned long n, ops, nfail, estale, unchanged;
	unsigned long seen[16];		/* repeats of found[] */
	double busy, bytes, sbytes;
	char summary[1000];
	bool stopped;			/* by a kernel report */
};

/*
 * A kernel report may mean that the kernel's memory is already corrupted
 * (v1's socket copy overran a page), and shrinking runs the sequence dozens
 * of times: the class that found it stops, and the sequence is shrunk once
 * the other classes have had their time, so that one bug taking the kernel
 * down does not hide the others.
 */
static struct deferred_failure {
	struct seq s;
	struct outcome res;
	unsigned int ci;
	int idx;
	unsigned long nseq;
	double into;
	struct found_at when;
} deferred[4];
static int ndeferred;

static char found[16][sizeof(((struct outcome *)0)->sig)];
static int nfound;

static void append_summary(struct class_state *st, const char *one)
{
	size_t len = strlen(st->summary);

	snprintf(st->summary + len, sizeof(st->summary) - len, "%s%s",
		 len ? "; " : "", one);
}

/* One turn of class @ci: sequences for @secs of search. */
static void run_slot(unsigned int ci, struct class_state *st, double secs)
{
	const struct cls *c = &classes[ci];
	double t0 = now(), end = t0 + secs, t = t0, t1, shrinking = 0;
	char one[200];
	struct seq s;
	int i;

	kmsg_mark("splice_fuzz: begin case %s", st->name);
	while (t < end) {
		gen_seq(c, ci, st->n, &s);
		run_trial(&s);
		st->n++;
		st->ops += res->ops_run;
		st->bytes += res->bytes_checked;
		st->sbytes += res->stable_bytes;
		st->estale += res->estale;
		st->unchanged += res->estale_unchanged;
		t = now();
		if (!res->kind && !kernel_damaged())
			continue;
		if (!res->kind) {
			ksft_print_msg("%s: the kernel oopsed, no report seen\n", st->name);
			break;
		}
		st->nfail++;
		for (i = 0; i < nfound && strcmp(found[i], res->sig); i++)
			;
		if (i < nfound) {
			/* the same failure again: counted, not shrunk again */
			st->seen[i]++;
			continue;
		}
		if (nfound < (int)ARRAY_SIZE(found))
			snprintf(found[nfound++], sizeof(found[0]), "%s", res->sig);
		if (res->kind == F_KERNEL && ndeferred < (int)ARRAY_SIZE(deferred)) {
			struct deferred_failure *d = &deferred[ndeferred++];

			*d = (struct deferred_failure){ .s = s, .res = *res, .ci = ci,
				.idx = nfound, .nseq = st->n - 1,
				.into = st->busy + t - t0 - shrinking, .when = found_now() };
			ksft_print_msg("%s: sequence %lu: %s: %s; the class stops, shrinking waits until the other classes have had their time\n",
				       st->name, d->nseq, fail_names[F_KERNEL], res->msg);
			st->stopped = true;
			break;
		}
		t1 = now();
		report_failure(c->name, st->name, nfound, &s, st->busy + t - t0 - shrinking,
			       st->n - 1, found_now(), one, sizeof(one));
		append_summary(st, one);
		/* shrinking does not eat the time to search */
		shrinking += now() - t1;
		cfg.shrinking += now() - t1;
		end += now() - t1;
		t = now();
		if (cfg.damaged)
			break;
	}
	st->busy += t - t0 - shrinking;
	if (cfg.damaged)
		ksft_print_msg("%s: the kernel oopsed: nothing after this can be trusted\n",
			       st->name);
}

static void report_deferred(struct class_state *cs)
{
	char one[200];
	int i;

	for (i = 0; i < ndeferred; i++) {
		struct deferred_failure *d = &deferred[i];

		*res = d->res;
		report_failure(classes[d->ci].name, cs[d->ci].name, d->idx, &d->s, d->into,
			       d->nseq, d->when, one, sizeof(one));
		append_summary(&cs[d->ci], one);
	}
}

static void usage(const char *prog)
{
	unsigned int i;

	fprintf(stderr,
		"usage: %s [--dir DIR] [--seed N] [--seconds N] [--shrink-seconds N]\n"
		"          [--class NAME[,NAME...]] [--replay OPS] [--verbose] [--list]\n"
		"  --dir             directory on the file system under test\n"
		"                    (default: $SPLICE_TEST_DIR, else .)\n"
		"  --seed            seed of the sequences (default: time)\n"
		"  --seconds         time for the search, shared by the classes (default: 20)\n"
		"  --shrink-seconds  time to shrink each failure (default: 30)\n"
		"  --class           run only these classes\n"
		"  --replay          run one sequence, as printed for a failure, or\n"
		"                    @FILE, the .shrink file a failure leaves\n"
		"  --shrink          with --replay: shrink it if it fails\n"
		"  --verbose         the model's view after every op (stderr)\n"
		"  --assume-stable   self-test of the checker: model splices with\n"
		"                    SPLICE_F_STABLE but do them without it (it must\n"
		"                    find that plain splice is not stable)\n"
		"Reproducers go to $SPLICE_TEST_OUT, else the current directory.\n"
		"Classes:\n", prog);
	for (i = 0; i < NR_CLASSES; i++)
		fprintf(stderr, "  %-16s %s\n", classes[i].name, classes[i].what);
	exit(KSFT_FAIL);
}

static bool class_selected(const char *name)
{
	const char *p = cfg.classes;
	size_t len = strlen(name);

	if (!p)
		return true;
	while ((p = strstr(p, name))) {
		if ((p == cfg.classes || p[-1] == ',') && (!p[len] || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}

static void run_replay(void)
{
	char name[128], path[PATH_MAX], summary[300], *text = NULL, *nl;
	const char *seqtext = cfg.replay;
	struct seq s;
	size_t len = 0;
	FILE *f;
	int kind;

	if (seqtext[0] == '@') {
		/* a file from shrinking: the sequence, its failure, its reports */
		f = fopen(seqtext + 1, "r");
		if (!f || getdelim(&text, &len, 0, f) < 0)
			ksft_exit_fail_msg("cannot read %s\n", seqtext + 1);
		fclose(f);
		nl = strchr(text, '\n');
		if (nl) {
			*nl++ = 0;
			snprintf(cfg.want_sig, sizeof(cfg.want_sig), "%.*s",
				 (int)strcspn(nl, "\n"), nl);
			nl = strchr(nl, '\n');
		}
		if (nl)
			snprintf(res->kreports, sizeof(res->kreports), "%.*s",
				 (int)strcspn(nl + 1, "\n"), nl + 1);
		seqtext = text;
	}
	if (parse_seq(seqtext, &s))
		ksft_exit_fail_msg("cannot parse --replay\n");
	ksft_set_plan(1);
	snprintf(name, sizeof(name), "%s.replay", cfg.fs);
	if (cfg.shrink_replay && cfg.want_sig[0]) {
		/*
		 * Go on shrinking where a boot that died left off, without
		 * running the sequence first: it may take the kernel down.
		 */
		snprintf(cfg.progress, sizeof(cfg.progress), "%s", cfg.replay + 1);
		for (kind = 1; kind < NR_FAILS && strncmp(cfg.want_sig, fail_names[kind],
							  strlen(fail_names[kind])); kind++)
			;
		res->kind = kind < NR_FAILS ? kind : F_KERNEL;
		snprintf(res->sig, sizeof(res->sig), "%s", cfg.want_sig);
		snprintf(res->msg, sizeof(res->msg), "as in %s", cfg.replay + 1);
		report_failure("replay", name, 0, &s, 0, 0, found_now(), summary,
			       sizeof(summary));
		ksft_test_result_code(KSFT_FAIL, name, "%s", summary);
		free(text);
		ksft_finished();
	}
	kind = run_trial(&s);
	ksft_print_msg("%d ops run, %lu bytes checked%s%s\n", res->ops_run,
		       res->bytes_checked, kind ? ", failed as " : "",
		       kind ? res->sig : "");
	if (kind && cfg.want_sig[0] && strcmp(res->sig, cfg.want_sig))
		ksft_print_msg("not the failure being shrunk: %s\n", cfg.want_sig);
	if (kind && cfg.shrink_replay &&
	    (!cfg.want_sig[0] || !strcmp(res->sig, cfg.want_sig))) {
		report_failure("replay", name, 0, &s, 0, 0, found_now(), summary,
			       sizeof(summary));
		ksft_test_result_code(KSFT_FAIL, name, "%s", summary);
	} else if (kind) {
		repro_path(path, sizeof(path), "replay", 0);
		if (!write_repro(path, &s, "replay", res->msg))
			ksft_print_msg("reproducer: %s\n", path);
		ksft_test_result_code(KSFT_FAIL, name, "%s: %s", fail_names[kind],
				      res->msg);
	} else {
		ksft_test_result_code(KSFT_PASS, name, NULL);
	}
	free(text);
	ksft_finished();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "shrink-seconds", required_argument, NULL, 'S' },
		{ "class", required_argument, NULL, 'c' },
		{ "replay", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "assume-stable", no_argument, NULL, 'A' },
		{ "shrink", no_argument, NULL, 'k' },
		{ "list", no_argument, NULL, 'l' },
		{ }
	};
	const char *env = getenv("SPLICE_TEST_DIR"), *out = getenv("SPLICE_TEST_OUT");
	static struct class_state cs[NR_CLASSES];
	unsigned long total = 0;
	unsigned int ci, nsel = 0, nrun;
	double share, slot, busy = 0;
	int opt, stable, i;
	bool more;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", env && *env ? env : ".");
	snprintf(cfg.out, sizeof(cfg.out), "%s", out && *out ? out : ".");
	cfg.seed = time(NULL);
	cfg.seconds = 20;
	cfg.shrink_seconds = 30;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			snprintf(cfg.dir, sizeof(cfg.dir), "%s", optarg);
			break;
		case 's':
			cfg.seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			cfg.seconds = atoi(optarg);
			break;
		case 'S':
			cfg.shrink_seconds = atoi(optarg);
			break;
		case 'c':
			cfg.classes = optarg;
			break;
		case 'r':
			cfg.replay = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'A':
			cfg.assume_stable = true;
			break;
		case 'k':
			cfg.shrink_replay = true;
			break;
		case 'l':
			for (ci = 0; ci < NR_CLASSES; ci++)
				printf("%s\n", classes[ci].name);
			return 0;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || cfg.seconds < 1 || cfg.shrink_seconds < 0)
		usage(argv[0]);
	for (ci = 0; ci < NR_CLASSES; ci++)
		nsel += class_selected(classes[ci].name);
	nrun = nsel;
	if (!nsel)
		usage(argv[0]);

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	mount_of(cfg.dir, cfg.fs, sizeof(cfg.fs), NULL, 0);
	cfg.start = now();
	ksft_print_header();
	stable = probe_stable();
	if (stable < 0)
		ksft_exit_fail_msg("cannot splice from a file in %s: %s\n", cfg.dir,
				   strerror(errno));
	cfg.stable = stable;
	if (cfg.assume_stable)
		ksft_print_msg("--assume-stable: the flag is modelled, not passed\n");
	cfg.uring = probe_uring();
	cfg.kmsg_rd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (cfg.kmsg_rd >= 0)
		lseek(cfg.kmsg_rd, 0, SEEK_END);
	cfg.kmsg_wr = !access("/dev/kmsg", W_OK);
	if (kernel_damaged()) {
		/* it was so before we started: judge only what changes */
		FILE *f = fopen("/proc/sys/kernel/tainted", "r");

		if (f && fscanf(f, "%lu", &cfg.taint0) != 1)
			cfg.taint0 = 0;
		if (f)
			fclose(f);
		cfg.damaged = false;
		ksft_print_msg("the kernel was tainted before the start (%#lx)\n", cfg.taint0);
	}
	ksft_print_msg("splice_fuzz: %s on %s, seed %llu (--seed %llu makes the same sequences)\n",
		       cfg.dir, cfg.fs, cfg.seed, cfg.seed);
	ksft_print_msg("SPLICE_F_STABLE %s; io_uring splice %s; kernel reports %s; markers %s\n",
		       cfg.stable ? "supported" : "not supported: operations needing it skip",
		       cfg.uring ? "used" : "not available: those operations are skipped",
		       cfg.kmsg_rd >= 0 ? "read from /dev/kmsg" : "not visible (no /dev/kmsg)",
		       cfg.kmsg_wr ? "written to /dev/kmsg" : "not written");
	if (cfg.replay)
		run_replay();

	ksft_set_plan(nsel);
	for (ci = 0; ci < NR_CLASSES; ci++)
		if (class_selected(classes[ci].name) && classes[ci].needs_stable &&
		    !cfg.stable && !cfg.assume_stable)
			nrun--;
	/*
	 * The classes take turns in short slots, so that each has had some
	 * time early on: a bug that takes the kernel down ends the run.
	 */
	share = (double)cfg.seconds / (nrun ? nrun : 1);
	slot = share / 5 < 1 ? 1 : share / 5 > 10 ? 10 : share / 5;
	for (ci = 0; ci < NR_CLASSES; ci++) {
		const struct cls *c = &classes[ci];

		snprintf(cs[ci].name, sizeof(cs[ci].name), "%s.%s", cfg.fs, c->name);
		cs[ci].run = class_selected(c->name) &&
			     (!c->needs_stable || cfg.stable || cfg.assume_stable);
		if (cs[ci].run)
			ksft_print_msg("%s: %s, %.0f s\n", cs[ci].name, c->what, share);
	}
	for (more = true; more && !cfg.damaged;) {
		more = false;
		for (ci = 0; ci < NR_CLASSES && !cfg.damaged; ci++) {
			if (cs[ci].run && !cs[ci].stopped && cs[ci].busy < share - 0.01) {
				run_slot(ci, &cs[ci], share - cs[ci].busy < slot ?
					 share - cs[ci].busy : slot);
				more = true;
			}
		}
	}
	report_deferred(cs);
	for (ci = 0; ci < NR_CLASSES; ci++) {
		struct class_state *st = &cs[ci];

		if (!class_selected(classes[ci].name))
			continue;
		if (!st->run) {
			ksft_test_result_code(KSFT_SKIP, st->name, "SPLICE_F_STABLE not supported");
			continue;
		}
		if (!st->n) {
			ksft_test_result_code(KSFT_SKIP, st->name, "the kernel oopsed first");
			continue;
		}
		for (i = 0; i < nfound; i++)
			if (st->seen[i])
				ksft_print_msg("%s: %lu more like \"%s\"\n", st->name,
					       st->seen[i], found[i]);
		if (cfg.stable || cfg.assume_stable)
			ksft_print_msg("%s: stable %.1f MiB intact, ESTALE %lu (%lu unchanged)\n",
				       st->name, st->sbytes / (1 << 20), st->estale,
				       st->unchanged);
		ksft_print_msg("%s: %lu sequences (%lu failed), %lu ops, %.1f MiB, %.1fs: %.1f/s\n",
			       st->name, st->n, st->nfail, st->ops, st->bytes / (1 << 20),
			       st->busy, st->n / (st->busy > 0 ? st->busy : 1));
		if (st->stopped)
			ksft_print_msg("%s: stopped at %.1f s by the kernel report\n",
				       st->name, st->busy);
		else if (cfg.damaged && st->busy < share - 0.01)
			ksft_print_msg("%s: cut short at %.1f s: the kernel oopsed\n",
				       st->name, st->busy);
		busy += st->busy;
		total += st->n;
		if (st->nfail && st->summary[0])
			ksft_test_result_code(KSFT_FAIL, st->name, "%s", st->summary);
		else if (st->nfail)
			ksft_test_result_code(KSFT_FAIL, st->name,
					      "%lu sequences failed as in an earlier class",
					      st->nfail);
		else
			ksft_test_result_code(KSFT_PASS, st->name, NULL);
	}
	if (busy > 0)
		ksft_print_msg("throughput: %lu sequences in %.1f s of search: %.1f sequences/s\n",
			       total, busy, total / busy);
	ksft_finished();
}
