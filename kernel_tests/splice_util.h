/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the splice test programs: loopback TCP pairs, the file
 * system a directory is on, and a monotonic clock.
 */
#ifndef SPLICE_UTIL_H
#define SPLICE_UTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Bring up the loopback interface if nobody did (minimal VMs). */
static inline void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0)
		return;
	if (!ioctl(s, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

/*
 * A connected TCP pair over loopback: sv[0] receives, sv[1] sends.  With
 * @bufsz, the socket buffers are set to it.
 */
static inline int tcp_pair(int sv[2], int bufsz)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t alen = sizeof(addr);
	int l, c = -1, a;

	loopback_up();
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&addr, &alen))
		goto err;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		goto err;
	if (bufsz)
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (connect(c, (struct sockaddr *)&addr, sizeof(addr)))
		goto err;
	a = accept(l, NULL, NULL);
	if (a < 0)
		goto err;
	if (bufsz)
		setsockopt(a, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	close(l);
	sv[0] = a;
	sv[1] = c;
	return 0;
err:
	if (c >= 0)
		close(c);
	close(l);
	return -1;
}

/*
 * The type and super block options of the file system @dir is on, from
 * mountinfo: statfs() on 9p reports the type of the file system it exports.
 * Returns 0, or -1 with @type set to "unknown".
 */
static inline int mount_of(const char *dir, char *type, size_t type_len,
			   char *opts, size_t opts_len)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	snprintf(type, type_len, "unknown");
	if (opts_len)
		opts[0] = 0;
	if (!realpath(dir, real))
		return -1;
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], t[64], o[1024];
		char *sep = strstr(line, " - ");
		size_t len;

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", t, o) != 2)
			continue;
		len = strlen(mnt);
		if (strncmp(real, mnt, len) ||
		    (real[len] != '/' && real[len] && len > 1))
			continue;
		if (len >= best) {
			best = len;
			snprintf(type, type_len, "%s", t);
			if (opts_len)
				snprintf(opts, opts_len, "%s", o);
		}
	}
	fclose(f);
	return best ? 0 : -1;
}

#endif /* SPLICE_UTIL_H */
