/* SPDX-License-Identifier: ISC */
/* proc.c: run a program with non-blocking pipes on the event loop.
 *
 * posix_spawn in a new process group with default signal dispositions and an
 * empty mask (the daemon ignores SIGPIPE; its children must not).  Exit is
 * seen through a pidfd, so no SIGCHLD handler is needed; kernels without
 * pidfd_open get a short waitpid timer instead.
 *
 * The loop uses libevent's epoll change list, which defers epoll_ctl(DEL)
 * until after we close the fd.  A posix_spawn child holds a copy of every fd
 * until its exec closes them (posix_spawn returns a little before that), so
 * an fd we close meanwhile stays in the epoll set, and its readiness is then
 * reported under its number, to whatever we watch on that number next: a
 * new child's pidfd woke up while that child had just started.  The child
 * therefore closes every other fd before its exec (closefrom), and a pidfd
 * wake-up is only a hint: one that reaps nothing disarms the pidfd for a
 * moment (the waitpid timer re-arms it), never for good.  A killed child
 * (timeout, output cap, abort) gets the waitpid timer until reaped, so
 * reaping never depends on a notification alone; and the timeout ends the
 * run at once, whether or not the child was reaped yet (it then is later,
 * in the background). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "xmalloc.h"

extern char **environ;

#define PROC_ERR_LINE 1024
#define PROC_ERR_LINES 200	/* stderr lines logged per run */

struct proc {
	LIST_ENTRY(proc) entry;
	struct event_base *base;
	pid_t pid;
	int pidfd;
	int fd_in, fd_out, fd_err;
	struct event *ev_in, *ev_out, *ev_err, *ev_pid, *ev_timeout;
	struct event *ev_reap;		/* waitpid timer */
	unsigned int reap_ms;		/* its next period */
	char *input;
	size_t input_len, input_off;
	char *out;
	size_t out_len, out_cap, max_output;
	char errline[PROC_ERR_LINE + 1];
	size_t errline_len;
	char errlast[PROC_ERR_LINE + 1];
	unsigned int err_lines;
	char *tag;
	int exited, status, signo, timed_out, held_open, overflow;
	int killed;
	int aborted;			/* cb does not (or no more) run */
	proc_cb cb;
	void *arg;
};

static LIST_HEAD(, proc) procs = LIST_HEAD_INITIALIZER(procs);

#define PROC_REAP_MS_MAX 50	/* longest period of the waitpid timer */

static void proc_check_done(struct proc *);
static void proc_free(struct proc *);
static void proc_reap_later(struct proc *);

static int
proc_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static void
proc_close_fd(int *fd, struct event **ev)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Kill the process group; the waitpid timer then reaps the child even
 * if no exit notification comes. */
static void
proc_kill(struct proc *p)
{
	if (p->exited || p->pid <= 0)
		return;
	kill(-p->pid, SIGKILL);
	p->killed = 1;
	proc_reap_later(p);
}

static void
proc_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;
	ssize_t n;

	(void)what;
	while (p->input_off < p->input_len) {
		n = write(fd, p->input + p->input_off,
		    p->input_len - p->input_off);
		if (n > 0) {
			p->input_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;	/* EV_PERSIST brings us back */
		/* EPIPE: the program did not read all its input; its exit
		 * status and output decide what that means. */
		break;
	}
	proc_close_fd(&p->fd_in, &p->ev_in);
}

static void
proc_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;
	ssize_t n;

	(void)what;
	for (;;) {
		if (p->out_cap - p->out_len < 4096) {
			p->out_cap = p->out_cap ? p->out_cap * 2 : 8192;
			p->out = xreallocarray(p->out, p->out_cap, 1);
		}
		n = read(fd, p->out + p->out_len, p->out_cap - p->out_len - 1);
		if (n > 0) {
			p->out_len += (size_t)n;
			if (p->out_len > p->max_output) {
				p->overflow = 1;
				proc_kill(p);
				break;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	proc_close_fd(&p->fd_out, &p->ev_out);
	proc_check_done(p);
}

static void
proc_err_line(struct proc *p)
{
	p->errline[p->errline_len] = '\0';
	if (p->errline_len > 0) {
		/* Kept for messages: UTF-8, cut on a character boundary. */
		utf8_copy(p->errlast, sizeof p->errlast, p->errline,
		    p->errline_len < PROC_ERR_LINE ? p->errline_len :
		    utf8_trim(p->errline, p->errline_len));
		if (p->err_lines < PROC_ERR_LINES)
			log_notice("%s[%ld]: %s", p->tag, (long)p->pid,
			    p->errline);
		else if (p->err_lines == PROC_ERR_LINES)
			log_notice("%s[%ld]: (more stderr lines not logged)",
			    p->tag, (long)p->pid);
		p->err_lines++;
	}
	p->errline_len = 0;
}

static void
proc_err_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;
	char buf[4096];
	ssize_t n, i;

	(void)what;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n > 0) {
			for (i = 0; i < n; i++) {
				if (buf[i] == '\n') {
					proc_err_line(p);
				} else if (p->errline_len < PROC_ERR_LINE)
					p->errline[p->errline_len++] =
					    buf[i] == '\0' ? ' ' : buf[i];
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	proc_err_line(p);
	proc_close_fd(&p->fd_err, &p->ev_err);
	proc_check_done(p);
}

/* Collect the exit status if the child has exited; then stop watching. */
static void
proc_reap(struct proc *p)
{
	int status = 0, lost = 0;
	pid_t r;

	if (p->exited || p->pid <= 0)
		return;
	do
		r = waitpid(p->pid, &status, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == -1 && errno == ECHILD) {
		/* Not ours to wait for any more: nothing would tell us. */
		log_warnx("%s[%ld]: exit status lost", p->tag, (long)p->pid);
		lost = 1;
	} else if (r != p->pid)
		return;
	p->exited = 1;
	p->status = -1;
	if (!lost && WIFEXITED(status))
		p->status = WEXITSTATUS(status);
	else if (!lost && WIFSIGNALED(status))
		p->signo = WTERMSIG(status);
	if (p->ev_pid != NULL) {
		event_free(p->ev_pid);
		p->ev_pid = NULL;
	}
	if (p->ev_reap != NULL) {
		event_free(p->ev_reap);
		p->ev_reap = NULL;
	}
	if (p->pidfd != -1) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}

/* Try waitpid() again shortly (1ms, doubling up to PROC_REAP_MS_MAX). */
static void
proc_reap_later(struct proc *p)
{
	struct timeval tv;

	if (p->exited || p->pid <= 0 || evtimer_pending(p->ev_reap, NULL))
		return;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)p->reap_ms * 1000;
	evtimer_add(p->ev_reap, &tv);
	if (p->reap_ms < PROC_REAP_MS_MAX)
		p->reap_ms = p->reap_ms * 2 < PROC_REAP_MS_MAX ?
		    p->reap_ms * 2 : PROC_REAP_MS_MAX;
}

/* The waitpid timer: reaped, else back to the pidfd, else again later. */
static void
proc_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	(void)fd;
	(void)what;
	proc_reap(p);
	if (p->exited) {
		proc_check_done(p);
		return;
	}
	if (p->ev_pid != NULL && !p->killed) {
		/* After a false wake-up: the pidfd again (level-triggered,
		 * so an exit meanwhile is not missed). */
		event_add(p->ev_pid, NULL);
		return;
	}
	proc_reap_later(p);
}

/* The pidfd woke us: reaped, or a false wake-up. */
static void
proc_pid_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	(void)fd;
	(void)what;
	proc_reap(p);
	if (!p->exited) {
		/* A false wake-up (see the top): look again shortly rather
		 * than at once, in case the cause is still there. */
		event_del(p->ev_pid);
		proc_reap_later(p);
		return;
	}
	proc_check_done(p);
}

/* Run cb with what the run gave; it does not run again. */
static void
proc_deliver(struct proc *p)
{
	struct proc_result r;

	if (p->errline_len > 0)
		proc_err_line(p);
	memset(&r, 0, sizeof r);
	if (p->exited) {
		r.exited = p->signo == 0;
		r.status = p->status;
		r.signo = p->signo;
	} else {
		/* Killed, not reaped yet. */
		r.status = -1;
		r.signo = SIGKILL;
	}
	r.timed_out = p->timed_out;
	r.held_open = p->held_open;
	r.overflow = p->overflow;
	if (p->out == NULL)
		p->out = xcalloc(1, 1);
	p->out[p->out_len] = '\0';
	r.out = p->out;
	r.out_len = p->out_len;
	r.err_last = p->errlast;
	p->aborted = 1;
	p->cb(p->arg, &r);
}

/* The timeout ends the run now, reaped or not: kill, close, deliver. */
static void
proc_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	(void)fd;
	(void)what;
	/* Killing the group ends grandchildren too; pipes they still hold
	 * are closed here, so nothing can keep us waiting. */
	p->timed_out = 1;
	/*
	 * Exited, and reaped, yet its output is still open: a process it
	 * started in the background holds it.  Its group is ended too, or
	 * each run would leave one more such process behind.  The group id
	 * is not reused while a member is left in it.
	 */
	proc_reap(p);
	if (p->exited && p->pid > 0 && (p->fd_out != -1 || p->fd_err != -1)) {
		p->held_open = 1;
		(void)kill(-p->pid, SIGKILL);
	}
	proc_kill(p);
	proc_close_fd(&p->fd_in, &p->ev_in);
	proc_close_fd(&p->fd_out, &p->ev_out);
	proc_close_fd(&p->fd_err, &p->ev_err);
	proc_reap(p);
	if (p->exited) {
		proc_check_done(p);
		return;
	}
	/* Still to be reaped: the waitpid timer armed by proc_kill() does
	 * it, then frees the proc (aborted by now). */
	proc_deliver(p);
}

static void
proc_check_done(struct proc *p)
{
	if (!p->exited || p->fd_out != -1 || p->fd_err != -1)
		return;
	if (!p->aborted)
		proc_deliver(p);
	proc_free(p);
}

static void
proc_free(struct proc *p)
{
	LIST_REMOVE(p, entry);
	proc_close_fd(&p->fd_in, &p->ev_in);
	proc_close_fd(&p->fd_out, &p->ev_out);
	proc_close_fd(&p->fd_err, &p->ev_err);
	if (p->ev_pid != NULL)
		event_free(p->ev_pid);
	if (p->ev_reap != NULL)
		event_free(p->ev_reap);
	if (p->ev_timeout != NULL)
		event_free(p->ev_timeout);
	if (p->pidfd != -1)
		close(p->pidfd);
	free(p->input);
	free(p->out);
	free(p->tag);
	free(p);
}

/* The daemon's environment with spec's variables added or replaced. */
static char **
proc_environ(char *const *extra)
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;
	const char *eq;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	env = xcalloc(n + m + 1, sizeof *env);
	for (i = 0; i < n; i++) {
		eq = strchr(environ[i], '=');
		for (j = 0; j < m && eq != NULL; j++)
			if (strncmp(environ[i], extra[j],
			    (size_t)(eq - environ[i]) + 1) == 0)
				break;
		if (eq == NULL || j == m)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		env[k++] = extra[j];
	return env;
}

static int
proc_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

struct proc *
proc_start(struct event_base *base, const struct proc_spec *spec, proc_cb cb,
    void *arg, char **cause)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	struct proc *p;
	struct timeval tv;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	char **env;
	int r;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
	/* Before the exec, while posix_spawn still waits: see the top. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (spec->dir != NULL)
		posix_spawn_file_actions_addchdir_np(&fa, spec->dir);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	env = proc_environ(spec->env);
	p = xcalloc(1, sizeof *p);
	if (strchr(spec->argv[0], '/') != NULL)
		r = posix_spawn(&p->pid, spec->argv[0], &fa, &attr,
		    spec->argv, env);
	else
		r = posix_spawnp(&p->pid, spec->argv[0], &fa, &attr,
		    spec->argv, env);
	free(env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		xasprintf(cause, "cannot run %s: %s", spec->argv[0], strerror(r));
		free(p);
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	p->base = base;
	p->fd_in = in[1];
	p->fd_out = out[0];
	p->fd_err = err[0];
	proc_nonblock(p->fd_in);
	proc_nonblock(p->fd_out);
	proc_nonblock(p->fd_err);
	p->max_output = spec->max_output;
	p->tag = xstrdup(spec->tag != NULL ? spec->tag : spec->argv[0]);
	p->cb = cb;
	p->arg = arg;
	LIST_INSERT_HEAD(&procs, p, entry);

	if (spec->input_len > 0) {
		p->input = xmalloc(spec->input_len);
		memcpy(p->input, spec->input, spec->input_len);
		p->input_len = spec->input_len;
		p->ev_in = event_new(base, p->fd_in, EV_WRITE | EV_PERSIST,
		    proc_in_cb, p);
		event_add(p->ev_in, NULL);
	} else
		proc_close_fd(&p->fd_in, &p->ev_in);
	p->ev_out = event_new(base, p->fd_out, EV_READ | EV_PERSIST,
	    proc_out_cb, p);
	event_add(p->ev_out, NULL);
	p->ev_err = event_new(base, p->fd_err, EV_READ | EV_PERSIST,
	    proc_err_cb, p);
	event_add(p->ev_err, NULL);
	p->ev_reap = evtimer_new(base, proc_reap_cb, p);
	p->reap_ms = 1;
	if ((p->pidfd = proc_pidfd_open(p->pid)) != -1) {
		/* Persistent: disarmed only by a wake-up that reaps
		 * nothing (proc_pid_cb), or when reaped. */
		p->ev_pid = event_new(base, p->pidfd, EV_READ | EV_PERSIST,
		    proc_pid_cb, p);
		event_add(p->ev_pid, NULL);
	} else
		proc_reap_later(p);	/* no pidfd: waitpid timer only */
	p->ev_timeout = evtimer_new(base, proc_timeout_cb, p);
	tv.tv_sec = (time_t)(spec->timeout / 1000);
	tv.tv_usec = (suseconds_t)(spec->timeout % 1000) * 1000;
	evtimer_add(p->ev_timeout, &tv);
	return p;
fail:
	for (r = 0; r < 2; r++) {
		if (in[r] != -1)
			close(in[r]);
		if (out[r] != -1)
			close(out[r]);
		if (err[r] != -1)
			close(err[r]);
	}
	return NULL;
}

void
proc_abort(struct proc *p)
{
	p->aborted = 1;
	proc_kill(p);	/* and the waitpid timer frees it once reaped */
	proc_close_fd(&p->fd_in, &p->ev_in);
	proc_close_fd(&p->fd_out, &p->ev_out);
	proc_close_fd(&p->fd_err, &p->ev_err);
	if (p->ev_timeout != NULL) {
		event_free(p->ev_timeout);
		p->ev_timeout = NULL;
	}
	proc_reap(p);
	proc_check_done(p);	/* frees it when already reaped */
}

void
proc_reap_all(void)
{
	struct proc *p;
	int status;

	while ((p = LIST_FIRST(&procs)) != NULL) {
		proc_kill(p);
		if (!p->exited && p->pid > 0)
			while (waitpid(p->pid, &status, 0) == -1 &&
			    errno == EINTR)
				;
		p->exited = 1;
		proc_free(p);
	}
}

int
proc_failure(const struct proc_result *r, const struct proc_spec *spec,
    char **msg)
{
	char d[32];
	const char *sep = r->err_last[0] != '\0' ? ": " : "";

	if (r->timed_out && r->held_open)
		xasprintf(msg, "%s exited, but its output stayed open until "
		    "the timeout (%s): a process it started holds it (its "
		    "process group was killed)", spec->argv[0],
		    fmt_duration(spec->timeout, d, sizeof d));
	else if (r->timed_out)
		xasprintf(msg, "%s timed out after %s and was killed",
		    spec->argv[0], fmt_duration(spec->timeout, d, sizeof d));
	else if (r->overflow)
		xasprintf(msg, "%s printed more than %zu bytes and was killed",
		    spec->argv[0], spec->max_output);
	else if (!r->exited)
		xasprintf(msg, "%s was killed by signal %d%s%s", spec->argv[0],
		    r->signo, sep, r->err_last);
	else if (r->status != 0)
		xasprintf(msg, "%s exited with status %d%s%s", spec->argv[0],
		    r->status, sep, r->err_last);
	else
		return 0;
	return 1;
}
