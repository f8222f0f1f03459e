/* SPDX-License-Identifier: ISC */
/* proc.h: run a program with non-blocking pipes on the event loop. */
#ifndef POLLEXD_PROC_H
#define POLLEXD_PROC_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct proc_spec {
	char *const *argv;	/* argv[0] with a '/' is a path, else PATH */
	char *const *env;	/* "K=V" added to the daemon's environment */
	const char *dir;	/* working directory, NULL: the daemon's */
	const char *input;	/* written to stdin, then stdin is closed */
	size_t input_len;
	uint64_t timeout;	/* ms until the process group is killed */
	size_t max_output;	/* stdout beyond this kills it */
	const char *tag;	/* prefix of its stderr lines in the log */
};

struct proc_result {
	int exited;		/* exit status in status */
	int status;
	int signo;		/* killed by this signal, when not exited */
	int timed_out;
	int held_open;		/* timed out after it exited: something it
				 * started held its output open */
	int overflow;		/* stdout exceeded max_output */
	const char *out;	/* stdout, NUL-terminated */
	size_t out_len;
	const char *err_last;	/* the last non-empty stderr line, or "" */
};

typedef void (*proc_cb)(void *arg, const struct proc_result *r);

struct proc;

/*
 * Start the program in its own process group.  cb runs once, from the
 * loop, after the process exited and its pipes closed (or it was killed);
 * at the timeout it runs at once, the killed child being reaped later.
 * Returns NULL with *cause when it cannot start (no such program...).
 */
struct proc *proc_start(struct event_base *base, const struct proc_spec *spec,
    proc_cb cb, void *arg, char **cause);

/* Kill the process group; cb will not run.  The child is reaped later. */
void proc_abort(struct proc *p);

/* Reap what was aborted (daemon stopping); waits for killed children. */
void proc_reap_all(void);

/*
 * A one-line account of a failed run: "exited with status 3: <stderr>",
 * "killed by signal 9", "timed out after 30s", "printed more than 4096
 * bytes".  Returns 1 and sets *msg (to free) when the run failed, 0 when
 * it exited with status 0.
 */
int proc_failure(const struct proc_result *r, const struct proc_spec *spec,
    char **msg);

#endif
