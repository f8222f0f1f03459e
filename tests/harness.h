/* SPDX-License-Identifier: ISC */
/* harness.h: start the real pollexd for integration tests. */
#ifndef POLLEX_HARNESS_H
#define POLLEX_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct tdaemon {
	pid_t pid;
	int status;		/* wait status once it exited */
	char *dir;		/* private directory */
	char *sock;		/* its socket */
	char *conf;		/* its configuration file */
	char *pdir;		/* the test poller's directory */
	char *logfile;		/* its stderr */
	char *poll_argv;	/* JSON argv of testpoller poll|start|cancel */
	char *start_argv;
	char *cancel_argv;
	int ready_fd;		/* our NOTIFY_SOCKET */
	int note_fd;		/* testpoller notifications */
	long long fsize_limit;	/* > 0: RLIMIT_FSIZE of the next start, with
				 * SIGXFSZ ignored (writes fail with EFBIG) */
};

struct tdaemon *td_new(void);
/* Write the configuration and start pollexd; waits for READY=1.  Returns
 * 0, or -1 when it exited first (td->status has why). */
int td_start(struct tdaemon *td, const char *conf_text);
/* Start with extra command-line arguments (NULL-terminated). */
int td_start_args(struct tdaemon *td, const char *conf_text,
    const char *const *extra);
/* Signal and wait (bounded); the exit status, 128+N for signal N, or -1
 * when it did not stop in time (it is then killed). */
int td_stop(struct tdaemon *td, int sig);
/* Has it exited?  Reaps it when so; td->status then says how. */
int td_exited(struct tdaemon *td);
/* Stop (SIGKILL) if running and free; fails the test when a program
 * pollexd started is still running a moment after (td_new() made this
 * process their subreaper; it then kills them). */
void td_free(struct tdaemon *td);
/* A test's end: stop pollexd with SIGTERM if it runs, fail the test
 * unless it exited 0 (with the log's tail; under valgrind, no errors),
 * then td_free(). */
void td_finish(struct tdaemon *td);
/* Kill the programs that outlived a pollexd killed on purpose (as after
 * SIGKILL); how many there were. */
int td_kill_orphans(void);
/* How many children ppid has (*zombies: how many of them are zombies). */
int pid_children(pid_t ppid, int *zombies);
/* SIGHUP and wait for READY=1 again. */
int td_reload(struct tdaemon *td);

/* The next testpoller note ("poll 3", "poll 1 blocked"...) within
 * timeout_ms; 0, or -1 on timeout. */
int td_note(struct tdaemon *td, int timeout_ms, char *buf, size_t len);
/* Is there no note for timeout_ms?  1 when none came. */
int td_no_note(struct tdaemon *td, int timeout_ms);
/* Write content to PDIR/name (subdirectories made). */
void td_set(struct tdaemon *td, const char *name, const char *content);
void td_unset(struct tdaemon *td, const char *name);
/* Make testpoller runs block (announcing it) until td_release(). */
void td_block(struct tdaemon *td);
/* Let a testpoller run in "block" mode go on. */
void td_release(struct tdaemon *td);
/* The last part of a long text, for assertion messages. */
const char *tail(const char *s);
/* What the daemon logged so far (malloc'd). */
char *td_log(struct tdaemon *td);
/* Lines of the testpoller's log, "OP MONO_MS N IDS", as an array. */
char **td_runs(struct tdaemon *td, size_t *n);
void strv_free_n(char **v, size_t n);

/* Run pollexctl -S SOCK args... with stdin_text (may be NULL); returns
 * its exit status (-1 on timeout) and its output in *out / *err (may be
 * NULL). */
int run_ctl(struct tdaemon *td, const char *stdin_text, char **out,
    char **err, ...) __attribute__((sentinel));

/* A raw connection to the socket, for protocol-level tests. */
int raw_connect(const char *path);
int raw_send(int fd, const void *buf, size_t len);
/* Read one NUL-terminated message within timeout_ms: a malloc'd string,
 * or NULL on timeout, EOF or error (*eof set on EOF). */
char *raw_recv(int fd, int timeout_ms, int *eof);

/* Binaries under test. */
const char *bin_pollexd(void);
const char *bin_pollexctl(void);
const char *bin_testpoller(void);

#endif
