/* SPDX-License-Identifier: ISC */
/* waits.h: Wait calls parked on tasks, and Watch streams. */
#ifndef POLLEXD_WAITS_H
#define POLLEXD_WAITS_H

#include <stddef.h>

#include "call.h"
#include "proto.h"
#include "task.h"

struct waits;

struct watch_filter {
	char **ids;		/* sorted; NULL: any */
	size_t nids;
	char *poller;		/* NULL: any */
	char **labels;		/* key, value, key, value, ..., NULL */
};

struct waits *waits_new(void);
void waits_free(struct waits *w);

/*
 * Park call until tasks (distinct, visible to the caller) satisfy mode or
 * timeout seconds pass (timeout < 0: no limit).  Answers at once when the
 * condition already holds.
 */
void waits_wait(struct waits *w, struct event_base *base, struct call *call,
    struct task **tasks, size_t n, enum px_return_when mode, double timeout);

/* Stream events of tasks matching f (taken over) to call, which wants
 * "more"; with initial, the matching tasks of tt come first. */
void waits_watch(struct waits *w, struct call *call, struct watch_filter *f,
    int initial, struct tasktab *tt);

/* From the glue's task event hook. */
void waits_task_event(struct waits *w, struct task *t, enum task_event ev);

int waits_visible(const struct caller *who, const struct task *t);
void watch_filter_clear(struct watch_filter *f);

#endif
