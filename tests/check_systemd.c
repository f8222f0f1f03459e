/* SPDX-License-Identifier: ISC */
/* check_systemd.c: pollexd under the systemd protocols, without systemd:
 * the notify messages through our own NOTIFY_SOCKET (READY, STATUS,
 * RELOADING, STOPPING, WATCHDOG) and socket activation (LISTEN_FDS, and
 * systemd-socket-activate where it is installed). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testlib.h"

#define T 5000		/* ms: bound for anything that should be quick */
#define CONF "{ \"store\": \"none\" }\n"
#define GETINFO "{\"method\":\"org.varlink.service.GetInfo\"}"

static struct tdaemon *td;

static long long
mono_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
path_in(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", td->dir, name) == -1)
		abort();
	return p;
}

/*
 * Start pollexd with NOTIFY_SOCKET set, extra environment entries
 * ("K=V"; "K=" unsets), and, when listen_fd is not -1, that descriptor
 * passed as fd 3 with LISTEN_FDS=1 for the child.  Does not wait.
 */
static void
spawn(const char *const *env, int listen_fd, int with_socket_opt)
{
	FILE *f;
	char *state = path_in("state"), *notify = path_in("notify");
	char pid[32];
	int fd, i;

	if ((f = fopen(td->conf, "w")) == NULL)
		abort();
	fputs(CONF, f);
	fclose(f);
	td->pid = fork();
	if (td->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", notify, 1);
		unsetenv("POLLEX_SOCKET");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		for (i = 0; env != NULL && env[i] != NULL; i++) {
			char *kv = strdup(env[i]), *eq = strchr(kv, '=');
			*eq = '\0';
			if (eq[1] == '\0')
				unsetenv(kv);
			else
				setenv(kv, eq + 1, 1);
			free(kv);
		}
		if (listen_fd != -1) {
			if (listen_fd != 3) {
				dup2(listen_fd, 3);
				close(listen_fd);
			} else
				fcntl(3, F_SETFD, 0);
			snprintf(pid, sizeof pid, "%ld", (long)getpid());
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDS", "1", 1);
		}
		fd = open(td->logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		close(fd);
		if (with_socket_opt)
			execl(bin_pollexd(), "pollexd", "-c", td->conf, "-S",
			    td->sock, "--state-dir", state, "-v", (char *)NULL);
		else
			execl(bin_pollexd(), "pollexd", "-c", td->conf,
			    "--state-dir", state, "-v", (char *)NULL);
		_exit(127);
	}
	free(state);
	free(notify);
}

/* The next notify datagram within timeout_ms, NUL-terminated in buf;
 * 0, or -1 on timeout. */
static int
note(int timeout_ms, char *buf, size_t len)
{
	struct pollfd pfd = { td->ready_fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	if ((n = recv(td->ready_fd, buf, len - 1, 0)) < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Read datagrams until one holds want; the text of all of them so far
 * goes to seen (may be NULL).  0, or -1 on timeout. */
static int
note_until(const char *want, int timeout_ms, char *seen, size_t seenlen)
{
	long long end = mono_ms_now() + timeout_ms;
	char buf[1024];
	int left;

	if (seen != NULL)
		seen[0] = '\0';
	while ((left = (int)(end - mono_ms_now())) > 0) {
		if (note(left, buf, sizeof buf) == -1)
			return -1;
		if (seen != NULL && strlen(seen) + strlen(buf) + 2 < seenlen) {
			strcat(seen, buf);
			strcat(seen, "|");
		}
		if (strstr(buf, want) != NULL)
			return 0;
	}
	return -1;
}

/* One GetInfo call on path answered within T. */
static int
answered(const char *path)
{
	int fd = raw_connect(path), eof = 0;
	char *r;

	if (fd == -1)
		return 0;
	raw_send(fd, GETINFO, sizeof GETINFO);
	r = raw_recv(fd, T, &eof);
	close(fd);
	if (r == NULL)
		return 0;
	eof = strstr(r, "\"vendor\"") != NULL;
	free(r);
	return eof;
}

static void
setup(void)
{
	td = td_new();
}

static void
teardown(void)
{
	td_free(td);
}

START_TEST(ready_when_answering)
{
	char seen[4096];

	spawn(NULL, -1, 1);
	ck_assert_msg(note_until("READY=1", 20000, seen, sizeof seen) == 0,
	    "no READY=1: %s", tail(td_log(td)));
	/* The moment READY=1 is out, calls are answered. */
	ck_assert_msg(answered(td->sock), "READY=1 but no answer");
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

START_TEST(status_line)
{
	char seen[4096];

	spawn(NULL, -1, 1);
	ck_assert(note_until("READY=1", 20000, seen, sizeof seen) == 0);
	if (strstr(seen, "STATUS=") == NULL)
		ck_assert(note_until("STATUS=", T, seen, sizeof seen) == 0);
	ck_assert_msg(strstr(seen, "STATUS=0 tasks outstanding, 0 pollers") !=
	    NULL, "status: %s", seen);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

START_TEST(reload_notifies)
{
	char seen[4096], *p;
	unsigned long long usec;
	long long before;

	spawn(NULL, -1, 1);
	ck_assert(note_until("READY=1", 20000, NULL, 0) == 0);
	before = mono_ms_now();
	kill(td->pid, SIGHUP);
	ck_assert_msg(note_until("RELOADING=1", T, seen, sizeof seen) == 0,
	    "no RELOADING=1: %s", seen);
	p = strstr(seen, "MONOTONIC_USEC=");
	ck_assert_msg(p != NULL, "RELOADING=1 without MONOTONIC_USEC: %s",
	    seen);
	usec = strtoull(p + strlen("MONOTONIC_USEC="), NULL, 10);
	/* Our CLOCK_MONOTONIC and the daemon's are one clock. */
	ck_assert_msg(usec / 1000 + 1 >= (unsigned long long)before &&
	    usec / 1000 <= (unsigned long long)mono_ms_now(),
	    "MONOTONIC_USEC=%llu, now %lld ms", usec, mono_ms_now());
	ck_assert_msg(strstr(seen, "READY=1") != NULL ||
	    note_until("READY=1", T, seen, sizeof seen) == 0,
	    "no READY=1 after the reload");
	ck_assert(answered(td->sock));
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

START_TEST(stopping_notified)
{
	char seen[4096];

	spawn(NULL, -1, 1);
	ck_assert(note_until("READY=1", 20000, NULL, 0) == 0);
	kill(td->pid, SIGTERM);
	ck_assert_msg(note_until("STOPPING=1", T, seen, sizeof seen) == 0,
	    "no STOPPING=1: %s", seen);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

START_TEST(watchdog_kept)
{
	static const char *const env[] = { "WATCHDOG_USEC=200000", NULL };
	long long t0;
	int n = 0;

	spawn(env, -1, 1);
	ck_assert(note_until("READY=1", 20000, NULL, 0) == 0);
	t0 = mono_ms_now();
	while (n < 4 && mono_ms_now() - t0 < T)
		if (note_until("WATCHDOG=1", T, NULL, 0) == 0)
			n++;
	ck_assert_msg(n == 4, "%d WATCHDOG=1 in %lld ms", n,
	    mono_ms_now() - t0);
	/* Every 100 ms (half of WATCHDOG_USEC), give or take. */
	ck_assert_msg(mono_ms_now() - t0 < 2000, "4 keep-alives took %lld ms",
	    mono_ms_now() - t0);
	ck_assert(answered(td->sock));
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

START_TEST(watchdog_other_pid)
{
	/* WATCHDOG_PID names someone else: no keep-alives from us. */
	static const char *const env[] = { "WATCHDOG_USEC=100000",
	    "WATCHDOG_PID=1", NULL };
	char seen[4096];

	spawn(env, -1, 1);
	ck_assert(note_until("READY=1", 20000, NULL, 0) == 0);
	ck_assert_msg(note_until("WATCHDOG=1", 600, seen, sizeof seen) == -1,
	    "WATCHDOG=1 meant for pid 1: %s", seen);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
}
END_TEST

/* A listening socket of ours, as systemd would pass it. */
static int
listener(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(fd != -1);
	ck_assert(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
	ck_assert(listen(fd, 16) == 0);
	return fd;
}

START_TEST(activation_listen_fds)
{
	char *path = path_in("activated.sock");
	struct stat st, st2;
	int fd = listener(path);

	ck_assert(stat(path, &st) == 0);
	spawn(NULL, fd, 0);
	close(fd);
	ck_assert_msg(note_until("READY=1", 20000, NULL, 0) == 0,
	    "no READY=1: %s", tail(td_log(td)));
	ck_assert(answered(path));
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	/* systemd's socket is left as it was. */
	ck_assert_msg(stat(path, &st2) == 0, "the socket was removed");
	ck_assert(st.st_ino == st2.st_ino);
	free(path);
}
END_TEST

START_TEST(activation_refuses_bad_fd)
{
	int sv[2], fd;
	char *log;

	/* Not listening: a connected pair. */
	ck_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	spawn(NULL, sv[0], 0);
	close(sv[0]);
	/* Signal 0: only wait (bounded) for it to exit. */
	ck_assert_int_eq(td_stop(td, 0), 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, "not a listening Unix stream socket") != NULL,
	    "%s", tail(log));
	free(log);
	close(sv[1]);
	/* A datagram socket. */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	spawn(NULL, fd, 0);
	close(fd);
	ck_assert_int_eq(td_stop(td, 0), 1);
}
END_TEST

START_TEST(activation_systemd_socket_activate)
{
	char *path = path_in("ssa.sock"), *notify = path_in("notify"),
	    *state = path_in("state"), *envn;
	long long end;
	int fd, eof = 0;
	char *r;

	if (access("/usr/bin/systemd-socket-activate", X_OK) == -1 &&
	    access("/bin/systemd-socket-activate", X_OK) == -1) {
		fprintf(stderr, "SKIP: systemd-socket-activate is not "
		    "installed\n");
		free(path);
		free(notify);
		free(state);
		return;
	}
	if (asprintf(&envn, "NOTIFY_SOCKET=%s", notify) == -1)
		abort();
	{
		FILE *f = fopen(td->conf, "w");
		fputs(CONF, f);
		fclose(f);
	}
	td->pid = fork();
	if (td->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(td->logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		close(fd);
		execlp("systemd-socket-activate", "systemd-socket-activate",
		    "-l", path, "-E", envn, bin_pollexd(), "-c", td->conf,
		    "--state-dir", state, "-v", (char *)NULL);
		_exit(127);
	}
	/* The socket appears before pollexd runs: the first connection
	 * starts it. */
	end = mono_ms_now() + T;
	while ((fd = raw_connect(path)) == -1 && mono_ms_now() < end)
		poll(NULL, 0, 10);
	ck_assert_msg(fd != -1, "no socket: %s", tail(td_log(td)));
	raw_send(fd, GETINFO, sizeof GETINFO);
	r = raw_recv(fd, 20000, &eof);
	ck_assert_msg(r != NULL && strstr(r, "\"vendor\"") != NULL,
	    "no answer: %s", tail(td_log(td)));
	free(r);
	close(fd);
	ck_assert(note_until("READY=1", T, NULL, 0) == 0);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	ck_assert_msg(access(path, F_OK) == 0, "pollexd removed the socket");
	free(envn);
	free(path);
	free(notify);
	free(state);
}
END_TEST

static Suite *
systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc;

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ready_when_answering);
	tcase_add_test(tc, status_line);
	tcase_add_test(tc, reload_notifies);
	tcase_add_test(tc, stopping_notified);
	tcase_add_test(tc, watchdog_kept);
	tcase_add_test(tc, watchdog_other_pid);
	suite_add_tcase(s, tc);
	tc = tcase_create("activation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, activation_listen_fds);
	tcase_add_test(tc, activation_refuses_bad_fd);
	tcase_add_test(tc, activation_systemd_socket_activate);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(systemd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
