/* SPDX-License-Identifier: ISC */
/* floor.c: the floor for the submit benchmarks: a bare request/response
 * server on a Unix socket, one epoll loop, reading NUL-terminated messages
 * and answering each with a fixed reply shaped like a Submit reply.  No
 * parsing, no state: what any daemon on this machine pays for the socket
 * round trip alone.
 *
 *   floor SOCK */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY "{\"parameters\":{\"ids\":[\"019ab3f1c2d400000000\"]," \
    "\"created\":[true]}}"

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct epoll_event ev, evs[64];
	static char buf[1 << 16], out[1 << 20];
	int lfd, ep, n, i, fd;
	ssize_t r, k, o;

	if (argc != 2)
		return 64;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(lfd, 512) == -1) {
		perror(argv[1]);
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof buf);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			/* One reply per NUL received. */
			for (k = 0, o = 0; k < r; k++)
				if (buf[k] == '\0') {
					memcpy(out + o, REPLY, sizeof REPLY);
					o += sizeof REPLY;
				}
			if (o > 0 && write(fd, out, (size_t)o) != o)
				close(fd);
		}
	}
}
