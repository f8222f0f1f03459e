/* SPDX-License-Identifier: ISC */
/* poller.h: pollers at run time, and the interface every kind implements. */
#ifndef POLLEXD_POLLER_H
#define POLLEXD_POLLER_H

#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "kind.h"
#include "metrics.h"
#include "sched.h"
#include "task.h"

struct cfg;

enum op_type {
	OP_POLL,
	OP_START,
	OP_CANCEL,
};

/* What a cancel function answered. */
enum cancel_verdict {
	CANCEL_DONE,		/* the remote task was cancelled */
	CANCEL_REFUSED,		/* the remote service said no; reason says why */
	CANCEL_ERROR,		/* the cancel function failed */
};

struct cancel_listener;
typedef void (*cancel_cb)(void *arg, enum cancel_verdict v,
    const char *reason);

/*
 * One operation of a kind: a poll of a batch, the start of a task or the
 * cancel of a task.  The kind keeps its own state in kstate and completes
 * the operation with op_poll_done(), op_start_done() or op_cancel_done(),
 * always from an event callback, never from inside poll/start/cancel.
 */
struct op {
	enum op_type type;
	struct poller *poller;
	struct conf_poller *conf;	/* held while the operation runs */
	struct event_base *base;
	struct sched_batch *batch;	/* OP_POLL */
	struct task *task;		/* OP_START: valid until done/abort */
	char id[TASK_ID_LEN + 1];	/* OP_START, OP_CANCEL */
	char *ref, *args, *labels;	/* OP_CANCEL: copies */
	void *kstate;
	double started;			/* metrics_now() at op_new() */
	struct event *deferred;
	char *deferred_error;
	int skipped;			/* nothing left to send: completed
					 * without the kind */
	LIST_HEAD(, cancel_listener) listeners;	/* OP_CANCEL */
	TAILQ_ENTRY(op) entry;
	/* Waiting for a token of the poller's rate limit. */
	int waiting;
	uint64_t wait_since;		/* mono ms */
	int (*begin)(struct op *, char **);
	TAILQ_ENTRY(op) wait_entry;
};

/* What a poll said about one task. */
struct outcome {
	enum px_state state;	/* PENDING, SUCCEEDED or FAILED */
	const char *result;	/* JSON text, SUCCEEDED */
	const char *code;	/* FAILED */
	const char *message;
	const char *details;	/* JSON text or NULL */
	double progress;	/* NaN: none */
	double delay;		/* seconds before this task's next poll; NaN */
};


/* Completion, called by the kinds. */
void op_outcome(struct op *op, const char *task_id, const struct outcome *o);
/* The same for the task at index idx of op's batch (gone: nothing). */
void op_outcome_at(struct op *op, size_t idx, const struct outcome *o);
void op_poll_done(struct op *op, const struct sched_result *r);
/*
 * Check a delay (seconds) a poll returned, for the poller (what "delay") or
 * a task (what "a task's delay"), shown as text (NULL: as secs).  One that
 * is not a positive finite number gives NaN (none: the interval applies);
 * one outside [min_interval, max_interval] is returned, to be clamped.
 * Either is logged, at most once a minute per poller and kind of fault.
 */
double op_delay(struct op *op, const char *what, double secs,
    const char *text);
void op_start_done(struct op *op, const char *ref, const char *code,
    const char *message);
void op_cancel_done(struct op *op, enum cancel_verdict v, const char *reason);
/* A short description for logs: "poller demo: poll of 12 tasks". */
const char *op_describe(const struct op *op, char *buf, size_t len);

/* Pollers at run time: one per name, kept while it has tasks even after a
 * reload removed its definition (it then polls nothing). */
struct poller;
struct pollers;

/* What the pollers need of the daemon. */
struct poller_env {
	struct event_base *base;
	struct tasktab *tt;	/* outcomes go to the table */
	/* A task changed in a way worth keeping that the table's events do
	 * not carry (its poll counters). */
	void (*touched)(void *arg, struct task *t);
	uint64_t (*random)(void *arg);	/* jitter */
	void *arg;
};

struct pollers *pollers_new(const struct poller_env *env);
/* Every poller goes (their operations were aborted). */
void pollers_free(struct pollers *ps);
int pollers_busy(const struct pollers *ps);	/* operations running */
/* Polls and failed polls of every poller since the start. */
void pollers_totals(const struct pollers *ps, uint64_t *polls,
    uint64_t *failed_polls);

struct poller *poller_new(struct pollers *ps, const char *name);
struct poller *poller_find(struct pollers *ps, const char *name);
struct poller *poller_first(struct pollers *ps);
struct poller *poller_next(struct poller *p);
void poller_free(struct poller *p);
const char *poller_name(const struct poller *p);
struct conf_poller *poller_conf(const struct poller *p);
/* A new definition, or NULL when the poller was removed. */
void poller_set_conf(struct poller *p, struct conf_poller *conf);
int poller_has_start(const struct poller *p);
int poller_has_cancel(const struct poller *p);
int poller_idle(const struct poller *p);	/* no tasks, no operations */

/* Task life cycle, from the glue's task event hook: created, or moved
 * from old to its current state. */
void poller_task_changed(struct poller *p, struct task *t, enum px_state old,
    int created);

/* Run the cancel function for a pending task; the listener hears the
 * verdict (several cancels of one task share one operation). */
struct cancel_listener *poller_cancel(struct poller *p, struct task *t,
    cancel_cb cb, void *arg);
void poller_cancel_forget(struct cancel_listener *l);

/*
 * Poll now (io.pollex.Poll): the pending tasks given go into the poller's
 * next tick (sched_poll_now()).  cb hears, once the tick that polls them
 * ended, how many of them it polled (those that left before are not
 * counted), or -1 when the poller was removed first.  NULL (and no call
 * of cb) when there is nothing to poll (n is 0) or cb is NULL (oneway).
 */
struct poll_listener;
typedef void (*poll_cb)(void *arg, int64_t polled);
struct poll_listener *poller_poll_now(struct poller *p, struct task **tasks,
    size_t n, poll_cb cb, void *arg);
void poller_poll_forget(struct poll_listener *l);

/* Abort every operation (daemon stopping). */
void poller_abort_all(struct poller *p);
json_object *poller_to_json(const struct poller *p);
/* A poller's counters for the metrics. */
struct poller_counters {
	uint64_t polls;
	uint64_t failed_polls;
	const struct metrics_hist *duration;	/* of the polls */
	uint64_t rate_waited_ms;	/* operations' waits for a token */
	uint32_t waiting;		/* operations waiting for one now */
};
void poller_counters(const struct poller *p, struct poller_counters *pc);

#endif
