// SPDX-License-Identifier: GPL-2.0
/*
 * What SPLICE_F_STABLE costs: a file warm in the page cache is moved to a
 * sink (TCP loopback socket, unix socket, /dev/null, a file) by each method,
 * with each request size, a number of times:
 *
 *   pread_write   pread() into a buffer, write() it out
 *   sendfile      sendfile()
 *   splice        splice() file -> pipe -> sink
 *   stable        the same with SPLICE_F_STABLE (the optimistic, zero-copy
 *                 path where the file system opts in)
 *   stable_copy   SPLICE_F_STABLE while the file is mapped shared and
 *                 writable, which always takes the copy path
 *   memcpy        memcpy() of the same amount between two buffers: the
 *                 reference for the cost of a copy
 *
 * Every repetition's raw figures go to the JSON file given with --json:
 * guest time (CLOCK_MONOTONIC, deterministic under QEMU -icount), CPU time
 * (all threads, the socket receiver's included) and system calls made.  The
 * KTAP output has one case per (file system, sink, method, size) with the
 * median throughput; the stable methods skip on kernels without the flag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kselftest.h"
#include "splice_util.h"

#ifndef SPLICE_F_STABLE
#define SPLICE_F_STABLE		0x10
#endif

#define MAX_SIZES		16
#define MAX_REPS		64
#define RECV_BUF		(1024 * 1024)

enum method {
	M_PREAD_WRITE, M_SENDFILE, M_SPLICE, M_STABLE, M_STABLE_COPY, M_MEMCPY,
	NR_METHODS
};

enum sink { S_TCP, S_UNIX, S_DEVNULL, S_FILE, NR_SINKS };

static const char * const method_names[] = {
	"pread_write", "sendfile", "splice", "stable", "stable_copy", "memcpy"
};

static const char * const sink_names[] = { "tcp", "unix", "devnull", "file" };

struct config {
	char dir[PATH_MAX - 64];
	char fs[64];
	size_t file_size;
	size_t sizes[MAX_SIZES];
	int nr_sizes;
	int reps;
	bool methods[NR_METHODS];
	bool sinks[NR_SINKS];
	const char *json;
	bool stable;
};

static struct config cfg;

struct sample {
	double seconds;		/* guest time */
	double cpu_seconds;	/* user + system, all threads */
	unsigned long syscalls;
};

/* The sink of one repetition: where the data goes, and who drains it. */
struct target {
	enum sink sink;
	int fd;			/* what the method writes to */
	int peer;		/* the receiving end of a socket */
	char path[PATH_MAX];
	pthread_t receiver;
	size_t expect;
	size_t received;
	unsigned long recv_calls;
};

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void *receive(void *arg)
{
	struct target *t = arg;
	char *buf = malloc(RECV_BUF);
	ssize_t n;

	while (buf && t->received < t->expect) {
		n = recv(t->peer, buf, RECV_BUF, 0);
		t->recv_calls++;
		if (n <= 0)
			break;
		t->received += n;
	}
	free(buf);
	return NULL;
}

static int open_target(struct target *t, enum sink sink, size_t expect)
{
	int sv[2];

	memset(t, 0, sizeof(*t));
	t->sink = sink;
	t->expect = expect;
	t->peer = -1;
	switch (sink) {
	case S_TCP:
	case S_UNIX:
		if (sink == S_TCP ? tcp_pair(sv, 0) :
		    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return -1;
		t->peer = sv[0];
		t->fd = sv[1];
		return pthread_create(&t->receiver, NULL, receive, t) ? -1 : 0;
	case S_DEVNULL:
		t->fd = open("/dev/null", O_WRONLY);
		return t->fd < 0 ? -1 : 0;
	default:
		snprintf(t->path, sizeof(t->path), "%s/splice_perf.out.XXXXXX",
			 cfg.dir);
		t->fd = mkstemp(t->path);
		return t->fd < 0 ? -1 : 0;
	}
}

/* Wait for the receiver; returns 0 when everything arrived. */
static int close_target(struct target *t)
{
	int ret = 0;

	if (t->peer >= 0) {
		shutdown(t->fd, SHUT_WR);
		pthread_join(t->receiver, NULL);
		ret = t->received == t->expect ? 0 : -1;
		close(t->peer);
	}
	close(t->fd);
	if (t->path[0])
		unlink(t->path);
	return ret;
}

/* Write all of @buf to @fd; counts the calls. */
static int write_all(int fd, const char *buf, size_t len, unsigned long *calls)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		++*calls;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Move the file to @t with @method in @size requests; returns 0 or -errno. */
static int transfer(int fd, struct target *t, enum method method, size_t size,
		    char *buf, char *copy, unsigned long *calls)
{
	unsigned int flags = method == M_STABLE || method == M_STABLE_COPY ?
			     SPLICE_F_STABLE : 0;
	loff_t off = 0, out_off = 0;
	int p[2] = { -1, -1 };
	ssize_t n, m;

	errno = 0;
	if (method == M_SPLICE || flags) {
		if (pipe(p))
			return -errno;
		/* A pipe as large as a request, where allowed */
		fcntl(p[1], F_SETPIPE_SZ, size);
	}
	while ((size_t)off < cfg.file_size) {
		size_t want = cfg.file_size - off < size ? cfg.file_size - off : size;

		switch (method) {
		case M_MEMCPY:
			memcpy(copy, buf, want);
			/* keep the compiler from dropping the copy */
			__asm__ __volatile__("" : : "r"(copy) : "memory");
			off += want;
			continue;
		case M_PREAD_WRITE:
			n = pread(fd, buf, want, off);
			++*calls;
			if (n <= 0 || write_all(t->fd, buf, n, calls))
				goto err;
			off += n;
			continue;
		case M_SENDFILE:
			n = sendfile(t->fd, fd, &off, want);
			++*calls;
			if (n <= 0)
				goto err;
			continue;
		default:
			break;
		}
		n = splice(fd, &off, p[1], NULL, want, flags);
		++*calls;
		if (n <= 0)
			goto err;
		while (n) {
			m = splice(p[0], NULL, t->fd,
				   t->sink == S_FILE ? &out_off : NULL, n, flags);
			++*calls;
			if (m <= 0)
				goto err;
			n -= m;
		}
	}
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	return 0;
err:
	n = errno ? -errno : -EIO;
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	return n;
}

static int measure(int fd, enum sink sink, enum method method, size_t size,
		   char *buf, char *copy, struct sample *s)
{
	struct target t;
	unsigned char *map = NULL;
	double t0, c0;
	int err;

	if (method == M_STABLE_COPY) {
		map = mmap(NULL, cfg.file_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			return -errno;
	}
	/* memcpy has no sink: no receiver thread to start and join either */
	if (open_target(&t, method == M_MEMCPY ? S_DEVNULL : sink, cfg.file_size)) {
		err = -errno;
		goto out;
	}
	s->syscalls = 0;
	c0 = cpu_now();
	t0 = now();
	err = transfer(fd, &t, method, size, buf, copy, &s->syscalls);
	if (close_target(&t) && !err)
		err = -EPIPE;
	s->seconds = now() - t0;
	s->cpu_seconds = cpu_now() - c0;
	s->syscalls += t.recv_calls;
out:
	if (map)
		munmap(map, cfg.file_size);
	return err;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_mib_s(const struct sample *s, int n)
{
	double rates[MAX_REPS];
	int i;

	for (i = 0; i < n; i++)
		rates[i] = cfg.file_size / 1048576.0 / s[i].seconds;
	qsort(rates, n, sizeof(rates[0]), compare_doubles);
	return n % 2 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
}

static void detect_fs(void)
{
	mount_of(cfg.dir, cfg.fs, sizeof(cfg.fs), NULL, 0);
}

static bool probe_stable(int fd)
{
	int p[2];
	ssize_t n;

	if (pipe(p))
		return false;
	n = splice(fd, &(loff_t){ 0 }, p[1], NULL, 4096, SPLICE_F_STABLE);
	close(p[0]);
	close(p[1]);
	return n > 0;
}

static size_t parse_size(const char *s)
{
	char *end;
	size_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K':
		return v << 10;
	case 'm': case 'M':
		return v << 20;
	case 'g': case 'G':
		return v << 30;
	default:
		return *end ? 0 : v;
	}
}

static int parse_list(char *arg, const char * const *names, int nr,
		      bool *chosen)
{
	char *tok;
	int i;

	memset(chosen, 0, nr * sizeof(*chosen));
	for (tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
		for (i = 0; i < nr && strcmp(tok, names[i]); i++)
			;
		if (i == nr)
			return -1;
		chosen[i] = true;
	}
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--dir DIR] [--file-size N] [--sizes N,N...] [--reps N]\n"
		"          [--methods M,M...] [--sinks S,S...] [--json PATH]\n"
		"  sizes take K, M, G suffixes; methods: pread_write sendfile splice\n"
		"  stable stable_copy memcpy; sinks: tcp unix devnull file\n"
		"  (defaults: $SPLICE_TEST_DIR or /tmp, 32M, 4K,64K,1M,16M, 5, all, all)\n",
		prog);
	exit(KSFT_FAIL);
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "file-size", required_argument, NULL, 'f' },
		{ "sizes", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "methods", required_argument, NULL, 'm' },
		{ "sinks", required_argument, NULL, 'k' },
		{ "json", required_argument, NULL, 'j' },
		{ }
	};
	const char *env = getenv("SPLICE_TEST_DIR");
	char sizes[] = "4K,64K,1M,16M", *tok, *list = sizes;
	int opt, i;

	snprintf(cfg.dir, sizeof(cfg.dir), "%s", env && *env ? env : "/tmp");
	cfg.file_size = 32 << 20;
	cfg.reps = 5;
	for (i = 0; i < NR_METHODS; i++)
		cfg.methods[i] = true;
	for (i = 0; i < NR_SINKS; i++)
		cfg.sinks[i] = true;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			snprintf(cfg.dir, sizeof(cfg.dir), "%s", optarg);
			break;
		case 'f':
			cfg.file_size = parse_size(optarg);
			break;
		case 's':
			list = optarg;
			break;
		case 'r':
			cfg.reps = atoi(optarg);
			break;
		case 'm':
			if (parse_list(optarg, method_names, NR_METHODS, cfg.methods))
				usage(argv[0]);
			break;
		case 'k':
			if (parse_list(optarg, sink_names, NR_SINKS, cfg.sinks))
				usage(argv[0]);
			break;
		case 'j':
			cfg.json = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	for (tok = strtok(list, ","); tok && cfg.nr_sizes < MAX_SIZES;
	     tok = strtok(NULL, ","))
		cfg.sizes[cfg.nr_sizes++] = parse_size(tok);
	for (i = 0; i < cfg.nr_sizes; i++)
		if (!cfg.sizes[i])
			usage(argv[0]);
	if (optind != argc || !cfg.file_size || cfg.reps < 1 ||
	    cfg.reps > MAX_REPS || !cfg.nr_sizes)
		usage(argv[0]);
}

static int make_source(char *path, char **buf, char **copy)
{
	size_t max = 0, i;
	ssize_t n;
	int fd;

	for (i = 0; i < (size_t)cfg.nr_sizes; i++)
		if (cfg.sizes[i] > max)
			max = cfg.sizes[i];
	*buf = malloc(max);
	*copy = malloc(max);
	snprintf(path, PATH_MAX, "%s/splice_perf.in.XXXXXX", cfg.dir);
	fd = mkstemp(path);
	if (fd < 0 || !*buf || !*copy)
		return -1;
	for (i = 0; i < max; i++)
		(*buf)[i] = i * 7 + i / 4096;
	for (i = 0; i < cfg.file_size; i += n) {
		size_t want = cfg.file_size - i < max ? cfg.file_size - i : max;

		n = pwrite(fd, *buf, want, i);
		if (n <= 0)
			return -1;
	}
	/* Warm: every page in the page cache before the first measurement */
	for (i = 0; i < cfg.file_size; i += n) {
		n = pread(fd, *buf, max, i);
		if (n <= 0)
			return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sample samples[MAX_REPS];
	char path[PATH_MAX], *buf, *copy;
	int fd, s, m, z, r, plan = 0, err, first_sink;
	FILE *json = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	detect_fs();
	ksft_print_header();
	fd = make_source(path, &buf, &copy);
	if (fd < 0)
		ksft_exit_fail_msg("set up a %zu byte file in %s: %s\n",
				   cfg.file_size, cfg.dir, strerror(errno));
	cfg.stable = probe_stable(fd);
	ksft_print_msg("%s on %s: %zu byte file, %d repetitions%s\n", cfg.dir,
		       cfg.fs, cfg.file_size, cfg.reps,
		       cfg.stable ? "" : "; SPLICE_F_STABLE not supported");
	if (cfg.json) {
		json = fopen(cfg.json, "w");
		if (!json)
			ksft_exit_fail_msg("%s: %s\n", cfg.json, strerror(errno));
		fprintf(json, "{\"fs\": \"%s\", \"file_size\": %zu, \"stable\": %s, \"results\": [",
			cfg.fs, cfg.file_size, cfg.stable ? "true" : "false");
	}
	/* memcpy needs no sink: measured once, with the first one */
	for (first_sink = 0; !cfg.sinks[first_sink]; first_sink++)
		;
	for (s = 0; s < NR_SINKS; s++)
		for (m = 0; m < NR_METHODS; m++)
			plan += cfg.sinks[s] && cfg.methods[m] &&
				(m != M_MEMCPY || s == first_sink) ? cfg.nr_sizes : 0;
	ksft_set_plan(plan);

	for (s = 0; s < NR_SINKS; s++) {
		for (m = 0; m < NR_METHODS; m++) {
			if (!cfg.sinks[s] || !cfg.methods[m] ||
			    (m == M_MEMCPY && s != first_sink))
				continue;
			for (z = 0; z < cfg.nr_sizes; z++) {
				const char *sink = m == M_MEMCPY ? "none" : sink_names[s];
				char name[128];

				snprintf(name, sizeof(name), "%s.%s.%s.%zu", cfg.fs,
					 sink, method_names[m], cfg.sizes[z]);
				if ((m == M_STABLE || m == M_STABLE_COPY) && !cfg.stable) {
					ksft_test_result_code(KSFT_SKIP, name,
							      "SPLICE_F_STABLE not supported");
					continue;
				}
				for (r = 0, err = 0; r < cfg.reps && !err; r++)
					err = measure(fd, s, m, cfg.sizes[z], buf,
						      copy, &samples[r]);
				if (err) {
					ksft_test_result_code(KSFT_FAIL, name, "%s",
							      strerror(-err));
					continue;
				}
				if (json) {
					static bool first = true;

					fprintf(json, "%s\n {\"sink\": \"%s\", \"method\": \"%s\", \"size\": %zu, \"samples\": [",
						first ? "" : ",", sink,
						method_names[m], cfg.sizes[z]);
					first = false;
					for (r = 0; r < cfg.reps; r++)
						fprintf(json, "%s{\"seconds\": %.9f, \"cpu_seconds\": %.6f, \"syscalls\": %lu}",
							r ? ", " : "",
							samples[r].seconds,
							samples[r].cpu_seconds,
							samples[r].syscalls);
					fprintf(json, "]}");
					fflush(json);
				}
				ksft_test_result_code(KSFT_PASS, name, "%.1f MiB/s",
						      median_mib_s(samples, cfg.reps));
			}
		}
	}
	if (json) {
		fprintf(json, "\n]}\n");
		fclose(json);
	}
	close(fd);
	unlink(path);
	ksft_finished();
}
