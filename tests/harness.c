/* SPDX-License-Identifier: ISC */
/* harness.c: start the real pollexd for integration tests. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testlib.h"

#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 20000
#define CTL_TIMEOUT_MS 30000
#define LEFTOVER_GRACE_MS 2000	/* for orphans to end on their own */

static const char *
bin(const char *env, const char *fallback)
{
	const char *p = getenv(env);

	return p != NULL && *p != '\0' ? p : fallback;
}

const char *
bin_pollexd(void)
{
	return bin("POLLEXD", "daemon/pollexd");
}

const char *
bin_pollexctl(void)
{
	return bin("POLLEXCTL", "client/pollexctl");
}

const char *
bin_testpoller(void)
{
	return bin("TESTPOLLER", "tests/testpoller");
}

static char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
dgram_bind(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		abort();
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		perror(path);
		abort();
	}
	chmod(path, 0777);
	return fd;
}

/*
 * Each process in /proc whose parent is ppid: its pid, process group and
 * whether it is a zombie, to fn; stops when fn returns non-zero.  Returns
 * how many there were.
 */
static int
proc_each_child(pid_t ppid, int (*fn)(pid_t, pid_t, int, const char *,
    void *), void *arg)
{
	char path[300], buf[512], *rp, comm[64];
	DIR *d;
	struct dirent *de;
	FILE *f;
	char st;
	long pp, pg;
	int n = 0, len;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) == NULL) {
			fclose(f);
			continue;
		}
		fclose(f);
		/* "pid (comm) S ppid pgrp ...": comm may hold anything. */
		if ((rp = strrchr(buf, ')')) == NULL ||
		    sscanf(rp + 1, " %c %ld %ld", &st, &pp, &pg) != 3 ||
		    pp != (long)ppid)
			continue;
		len = (int)(rp - strchr(buf, '(')) - 1;
		snprintf(comm, sizeof comm, "%.*s", len < 0 ? 0 : len,
		    strchr(buf, '(') + 1);
		n++;
		if (fn != NULL && fn((pid_t)atol(de->d_name), (pid_t)pg,
		    st == 'Z', comm, arg) != 0)
			break;
	}
	closedir(d);
	return n;
}

static int
count_zombie(pid_t pid, pid_t pgrp, int zombie, const char *comm, void *arg)
{
	int *zombies = arg;

	(void)pid;
	(void)pgrp;
	(void)comm;
	if (zombie)
		(*zombies)++;
	return 0;
}

/* How many children ppid has, and how many of them are zombies. */
int
pid_children(pid_t ppid, int *zombies)
{
	int z = 0, n;

	n = proc_each_child(ppid, count_zombie, &z);
	if (zombies != NULL)
		*zombies = z;
	return n;
}

struct orphans {
	int live;
	int kill;		/* kill the live ones */
	char names[512];	/* "pid (comm) ..." of the live ones */
};

/* An orphan of pollexd's: in a process group other than ours, as pollexd
 * starts every program in a group of its own (the test's own children,
 * pollexd, pollexctl, test services, forked clients, are in ours). */
static int
orphan_one(pid_t pid, pid_t pgrp, int zombie, const char *comm, void *arg)
{
	struct orphans *o = arg;
	size_t len = strlen(o->names);
	int status;

	if (pgrp == getpgrp())
		return 0;
	if (zombie) {
		waitpid(pid, &status, WNOHANG);
		return 0;
	}
	o->live++;
	if (len + 40 < sizeof o->names)
		snprintf(o->names + len, sizeof o->names - len, "%s%ld (%s)",
		    len > 0 ? ", " : "", (long)pid, comm);
	if (o->kill) {
		kill(-pgrp, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return 0;
}

/* Kill (and reap) the live orphans of a pollexd killed on purpose. */
int
td_kill_orphans(void)
{
	struct orphans o;

	memset(&o, 0, sizeof o);
	o.kill = 1;
	proc_each_child(getpid(), orphan_one, &o);
	return o.live;
}

/*
 * Programs pollexd started that outlived it: reaped when they ended, else
 * killed after LEFTOVER_GRACE_MS; 0, or how many had to be killed (names
 * in buf).
 */
static int
td_leftovers(char *buf, size_t len)
{
	long long end = now_ms() + LEFTOVER_GRACE_MS;
	struct orphans o;

	for (;;) {
		memset(&o, 0, sizeof o);
		o.kill = now_ms() >= end;
		proc_each_child(getpid(), orphan_one, &o);
		if (o.live == 0 || o.kill)
			break;
		poll(NULL, 0, 10);
	}
	snprintf(buf, len, "%s", o.names);
	return o.live;
}

struct tdaemon *
td_new(void)
{
	struct tdaemon *td = calloc(1, sizeof *td);
	const char *tp = bin_testpoller();
	char *abs_tp;

	/* What pollexd leaves behind when it dies comes to us, so that
	 * td_free() can tell (and end it). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	td->pid = -1;
	td->dir = test_tmpdir();
	chmod(td->dir, 0755);
	td->sock = xprintf("%s/pollex.sock", td->dir);
	td->conf = xprintf("%s/pollexd.conf", td->dir);
	td->pdir = xprintf("%s/p", td->dir);
	td->logfile = xprintf("%s/pollexd.log", td->dir);
	mkdir(td->pdir, 0755);
	abs_tp = realpath(tp, NULL);
	if (abs_tp == NULL) {
		perror(tp);
		abort();
	}
	td->poll_argv = xprintf("[\"%s\", \"poll\", \"%s\"]", abs_tp, td->pdir);
	td->start_argv = xprintf("[\"%s\", \"start\", \"%s\"]", abs_tp,
	    td->pdir);
	td->cancel_argv = xprintf("[\"%s\", \"cancel\", \"%s\"]", abs_tp,
	    td->pdir);
	free(abs_tp);
	{
		char *p = xprintf("%s/notify", td->dir);
		td->ready_fd = dgram_bind(p);
		free(p);
		p = xprintf("%s/notes", td->dir);
		td->note_fd = dgram_bind(p);
		free(p);
	}
	return td;
}

/* Has the daemon exited?  Reaps it when so (td->status says how). */
int
td_exited(struct tdaemon *td)
{
	pid_t r;

	if (td->pid <= 0)
		return 1;
	r = waitpid(td->pid, &td->status, WNOHANG);
	if (r == td->pid) {
		td->pid = -1;
		return 1;
	}
	return 0;
}

/* Wait for a READY=1 datagram while the daemon lives. */
static int
td_wait_ready(struct tdaemon *td)
{
	long long end = now_ms() + READY_TIMEOUT_MS;
	struct pollfd pfd = { td->ready_fd, POLLIN, 0 };
	char buf[1024];
	ssize_t n;

	while (now_ms() < end) {
		if (poll(&pfd, 1, 50) == 1) {
			n = recv(td->ready_fd, buf, sizeof buf - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				if (strstr(buf, "READY=1") != NULL)
					return 0;
			}
			continue;
		}
		if (td_exited(td))
			return -1;
	}
	fprintf(stderr, "harness: pollexd not ready in %d ms\n",
	    READY_TIMEOUT_MS);
	return -1;
}

int
td_start_args(struct tdaemon *td, const char *conf_text,
    const char *const *extra)
{
	char *argv[64], *wrap = NULL, *tok, *save = NULL, *notify, *notes,
	    *state;
	const char *w = getenv("POLLEX_TEST_WRAPPER");
	int n = 0, i, fd;
	FILE *f;

	if ((f = fopen(td->conf, "w")) == NULL)
		abort();
	fputs(conf_text, f);
	fclose(f);
	if (w != NULL && *w != '\0') {
		wrap = strdup(w);
		for (tok = strtok_r(wrap, " ", &save); tok != NULL && n < 40;
		    tok = strtok_r(NULL, " ", &save))
			argv[n++] = tok;
	}
	argv[n++] = (char *)bin_pollexd();
	argv[n++] = (char *)"-c";
	argv[n++] = td->conf;
	argv[n++] = (char *)"-S";
	argv[n++] = td->sock;
	argv[n++] = (char *)"--state-dir";
	argv[n++] = state = xprintf("%s/state", td->dir);
	argv[n++] = (char *)"-v";
	for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	notify = xprintf("%s/notify", td->dir);
	notes = xprintf("%s/notes", td->dir);
	td->pid = fork();
	if (td->pid == 0) {
		/* Die with the test process, even when a check fails. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", notify, 1);
		setenv("PX_TEST_NOTIFY", notes, 1);
		unsetenv("POLLEX_SOCKET");
		fd = open(td->logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		close(fd);
		if (td->fsize_limit > 0) {
			/* An I/O error on demand: writes past the limit
			 * fail with EFBIG (the ignored SIGXFSZ is kept
			 * across exec). */
			struct rlimit rl;
			rl.rlim_cur = rl.rlim_max = (rlim_t)td->fsize_limit;
			setrlimit(RLIMIT_FSIZE, &rl);
			signal(SIGXFSZ, SIG_IGN);
		}
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	free(state);
	free(notify);
	free(notes);
	free(wrap);
	return td_wait_ready(td);
}

int
td_start(struct tdaemon *td, const char *conf_text)
{
	return td_start_args(td, conf_text, NULL);
}

int
td_stop(struct tdaemon *td, int sig)
{
	long long end = now_ms() + STOP_TIMEOUT_MS;

	if (td->pid <= 0)
		return -1;
	kill(td->pid, sig);
	while (now_ms() < end) {
		if (td_exited(td)) {
			if (WIFEXITED(td->status))
				return WEXITSTATUS(td->status);
			return 128 + WTERMSIG(td->status);
		}
		poll(NULL, 0, 5);
	}
	kill(td->pid, SIGKILL);
	waitpid(td->pid, &td->status, 0);
	td->pid = -1;
	return -1;
}

int
td_reload(struct tdaemon *td)
{
	if (td->pid <= 0)
		return -1;
	kill(td->pid, SIGHUP);
	return td_wait_ready(td);
}

void
td_finish(struct tdaemon *td)
{
	char *log;
	int r = td->pid > 0 ? td_stop(td, SIGTERM) : 0;

	if (r != 0) {
		log = td_log(td);
		ck_abort_msg("pollexd stopped with %d: %s", r, tail(log));
	}
	td_free(td);
}

void
td_free(struct tdaemon *td)
{
	char names[512];
	int left;

	if (td == NULL)
		return;
	if (td->pid > 0)
		td_stop(td, SIGKILL);
	left = td_leftovers(names, sizeof names);
	close(td->ready_fd);
	close(td->note_fd);
	if (getenv("POLLEX_TEST_KEEP") == NULL)
		rm_rf(td->dir);
	free(td->dir);
	free(td->sock);
	free(td->conf);
	free(td->pdir);
	free(td->logfile);
	free(td->poll_argv);
	free(td->start_argv);
	free(td->cancel_argv);
	free(td);
	ck_assert_msg(left == 0, "%d program(s) pollexd started were left "
	    "running (now killed): %s", left, names);
}

int
td_note(struct tdaemon *td, int timeout_ms, char *buf, size_t len)
{
	struct pollfd pfd = { td->note_fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	n = recv(td->note_fd, buf, len - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int
td_no_note(struct tdaemon *td, int timeout_ms)
{
	char buf[128];

	return td_note(td, timeout_ms, buf, sizeof buf) == -1;
}

void
td_set(struct tdaemon *td, const char *name, const char *content)
{
	char *path = xprintf("%s/%s", td->pdir, name), *slash, *tmp;
	FILE *f;

	for (slash = strchr(path + strlen(td->pdir) + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	/* Write then rename, so a poll never reads half a file. */
	tmp = xprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		abort();
	fputs(content, f);
	fclose(f);
	rename(tmp, path);
	free(tmp);
	free(path);
}

void
td_unset(struct tdaemon *td, const char *name)
{
	char *path = xprintf("%s/%s", td->pdir, name);

	unlink(path);
	free(path);
}

void
td_block(struct tdaemon *td)
{
	char *path = xprintf("%s/release", td->pdir);

	unlink(path);
	if (mkfifo(path, 0600) == -1)
		abort();
	free(path);
	td_set(td, "mode", "block");
}

void
td_release(struct tdaemon *td)
{
	char *path = xprintf("%s/release", td->pdir);
	int fd;

	/* The blocked reader has the FIFO open; this open does not block. */
	if ((fd = open(path, O_WRONLY | O_NONBLOCK)) != -1) {
		(void)!write(fd, "x", 1);
		close(fd);
	}
	free(path);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

const char *
tail(const char *s)
{
	size_t n = strlen(s);

	return n > 1500 ? s + n - 1500 : s;
}

char *
td_log(struct tdaemon *td)
{
	return slurp(td->logfile);
}

char **
td_runs(struct tdaemon *td, size_t *n)
{
	char *path = xprintf("%s/log", td->pdir), *text = slurp(path), *line,
	    *save = NULL, **v = NULL;

	*n = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		v = realloc(v, (*n + 1) * sizeof *v);
		v[(*n)++] = strdup(line);
	}
	free(text);
	free(path);
	return v;
}

void
strv_free_n(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Read everything from fd into a string. */
static char *
drain(int fd)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n > 0)
			len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	buf[len] = '\0';
	return buf;
}

int
run_ctl(struct tdaemon *td, const char *stdin_text, char **out, char **err,
    ...)
{
	char *argv[64], *outf, *errf, *inf;
	long long end;
	int n = 0, status, fd;
	va_list ap;
	pid_t pid;

	argv[n++] = (char *)bin_pollexctl();
	argv[n++] = (char *)"-S";
	argv[n++] = td->sock;
	va_start(ap, err);
	while (n < 62 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	outf = xprintf("%s/ctl.out", td->dir);
	errf = xprintf("%s/ctl.err", td->dir);
	inf = xprintf("%s/ctl.in", td->dir);
	fd = open(inf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (stdin_text != NULL)
		(void)!write(fd, stdin_text, strlen(stdin_text));
	close(fd);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(inf, O_RDONLY);
		dup2(fd, 0);
		fd = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execv(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	end = now_ms() + CTL_TIMEOUT_MS;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		poll(NULL, 0, 2);
	}
	if (out != NULL) {
		fd = open(outf, O_RDONLY);
		*out = drain(fd);
		close(fd);
	}
	if (err != NULL) {
		fd = open(errf, O_RDONLY);
		*err = drain(fd);
		close(fd);
	}
	free(outf);
	free(errf);
	free(inf);
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
raw_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

char *
raw_recv(int fd, int timeout_ms, int *eof)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	long long end = now_ms() + timeout_ms;
	size_t len = 0, cap = 256;
	char *buf = malloc(cap), c;
	ssize_t n;

	if (eof != NULL)
		*eof = 0;
	for (;;) {
		if (poll(&pfd, 1, (int)(end - now_ms() > 0 ? end - now_ms() :
		    0)) != 1)
			break;
		/* One byte at a time: never eat the next message. */
		n = recv(fd, &c, 1, 0);
		/* A peer that closed with our data unread resets. */
		if ((n == 0 || (n < 0 && errno == ECONNRESET)) && eof != NULL)
			*eof = 1;
		if (n <= 0)
			break;
		if (c == '\0') {
			buf[len] = '\0';
			return buf;
		}
		if (len + 2 > cap)
			buf = realloc(buf, cap *= 2);
		buf[len++] = c;
	}
	free(buf);
	return NULL;
}
