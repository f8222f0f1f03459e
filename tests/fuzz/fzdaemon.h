/* SPDX-License-Identifier: ISC */
/* fzdaemon.h: an in-memory pollexd for the fuzz targets (no socket, no
 * store, no child processes: proc_start() is replaced by a recorder). */
#ifndef POLLEX_FZDAEMON_H
#define POLLEX_FZDAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>

#include "call.h"
#include "proc.h"

struct pxd;

/* A program the daemon "started": what it was given, and its callback. */
struct fz_proc {
	proc_cb cb;
	void *arg;
	char *argv0;
	char *input;		/* its stdin */
	size_t input_len;
	int aborted;
};
#define FZ_MAXPROCS 64
extern struct fz_proc *fz_procs[FZ_MAXPROCS];
extern size_t fz_nprocs;

/* Finish a recorded program as if it exited with status and printed out
 * (out_len bytes); its callback runs now, then it is forgotten. */
void fz_proc_finish(struct fz_proc *p, int status, int signo,
    const char *out, size_t out_len, const char *err_last);

/* One daemon: the configuration text is written to a file once. */
struct fzd {
	struct event_base *base;
	struct pxd *pxd;
	char **ids;		/* task ids from Submit replies, in order */
	size_t nids;
	struct fz_reply *calls;	/* calls not finished yet */
	size_t replies;
	int strict;		/* replies must be strict JSON */
};
void fzd_setup(const char *conf_text);
struct fzd *fzd_new(void);
/* Abort what is unfinished, then free everything. */
void fzd_free(struct fzd *d);
/* A client message (len bytes, no NUL), as the server makes it a call:
 * "$0".."$9" in it become the ids of the tasks submitted so far. */
void fzd_message(struct fzd *d, const struct caller *who, const char *msg,
    size_t len);
/* msg with $0..$9 replaced by the ids submitted so far (to free). */
char *fzd_subst(struct fzd *d, const char *msg, size_t len, size_t *outlen);
/* Run what the loop has ready (without waiting), then the work after an
 * iteration. */
void fzd_loop(struct fzd *d);
/* One loop iteration, waiting at most ms for something to happen. */
void fzd_wait(struct fzd *d, int ms);

#endif
