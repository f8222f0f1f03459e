/* SPDX-License-Identifier: ISC */
/* sdnotify.c: the systemd notification and socket-activation protocols,
 * without libsystemd.
 * A datagram with "KEY=VALUE" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a leading '@' means the abstract namespace). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

int
sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	ssize_t n;
	int fd;

	if (path == NULL || *path == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sun.sun_path)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* Never block the loop on a receiver that does not read. */
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&sun, len);
	close(fd);
	return n == (ssize_t)strlen(state) ? 0 : -1;
}

/* A decimal number without sign or trailing garbage; -1 when it is not. */
static int
sd_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*v = n;
	return 0;
}

int
sd_listen_fds(void)
{
	uint64_t pid, n;
	int fd, flags, r = 0;

	if (sd_parse_u64(getenv("LISTEN_PID"), &pid) == -1 ||
	    pid != (uint64_t)getpid())
		goto out;
	if (sd_parse_u64(getenv("LISTEN_FDS"), &n) == -1 || n > 64)
		goto out;
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)n;
	    fd++) {
		if ((flags = fcntl(fd, F_GETFD)) == -1)
			goto out;
		if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1)
			goto out;
	}
	r = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

uint64_t
sd_watchdog_usec(void)
{
	uint64_t usec, pid;
	const char *p = getenv("WATCHDOG_PID");

	if (sd_parse_u64(getenv("WATCHDOG_USEC"), &usec) == -1 || usec == 0)
		return 0;
	/* Meant for another process (a parent that did not unset it). */
	if (p != NULL && (sd_parse_u64(p, &pid) == -1 ||
	    pid != (uint64_t)getpid()))
		return 0;
	return usec;
}
