/* SPDX-License-Identifier: ISC */
/* task.h: the task table: tasks, their indexes, deadlines and retention. */
#ifndef POLLEXD_TASK_H
#define POLLEXD_TASK_H

#include "compat.h"
#include <sys/types.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hmap.h"
#include "proto.h"

#define TASK_ID_LEN 20		/* 12 hex digits of ms time + 8 of sequence */

struct poller;
struct sched_batch;
struct op;
struct waitlink;

struct task_error {
	char *code;
	char *message;
	char *details;		/* JSON text or NULL */
};

/* Where the scheduler holds a pending task (task->qwhere). */
enum task_qwhere {
	TASK_Q_NONE = 0,
	TASK_Q_QUEUE,		/* waiting for a tick */
	TASK_Q_TICK,		/* chosen for the current tick, not launched */
	TASK_Q_FLIGHT,		/* in a poll that is running */
	TASK_Q_STARTQ,		/* starting, waiting for a start slot */
};

/*
 * What only some tasks have: an idempotency key, an outcome, the kind's
 * state, progress.  Kept apart and allocated when first needed, so that a
 * million outstanding tasks do not each carry them (issue 17); read them
 * with the task_*() accessors below, which give NULL or 0 when unset.
 */
struct task_more {
	struct hmap_node key_node;	/* (owner, idempotency key) */
	struct task *task;		/* whose (key_node's way back) */
	char *idem_key;
	char *result;
	struct task_error *error;
	char *kstate;			/* the kind's own state, JSON or NULL */
	double finished;		/* Unix time; 0 unset */
	double progress;		/* when task->has_progress */
};

/* Which of ref, args and labels live in the task's own allocation, after
 * the struct (task->inline_texts), not in blocks of their own. */
#define TASK_INL_REF	0x1
#define TASK_INL_ARGS	0x2
#define TASK_INL_LABELS	0x4

/*
 * A task.  The table (task.c) owns it and changes its state; the scheduler
 * (sched.c) owns qwhere, q_entry, batch, batch_idx, not_before, urgent_tick
 * and polled_tick while the task is pending; ref, args, labels and result
 * are canonical JSON text so they cost a few bytes each and can be spliced
 * into requests as they are.  The texts a task is created with follow the
 * struct in the same allocation (a block less each, at a million).
 */
struct task {
	struct hmap_node id_node;
	struct hmap_node ref_node;	/* (owner, poller, ref) */
	TAILQ_ENTRY(task) all_entry;	/* table order, which is id order */
	TAILQ_ENTRY(task) q_entry;	/* scheduler queue, later retention */
	LIST_HEAD(, waitlink) waiters;
	struct poller *poller;
	struct sched_batch *batch;	/* the running poll holding it */
	struct op *op;			/* its start or cancel operation */
	struct task_more *more;		/* NULL until something in it is set */
	uint32_t batch_idx;
	uint32_t heap_idx;		/* deadline heap slot, or UINT32_MAX */
	uint32_t store_idx;		/* staged for the store, or UINT32_MAX */
	uid_t owner;
	uint32_t polls;
	uint32_t poll_failures;		/* consecutive failed polls */
	uint32_t urgent_tick;		/* a Poll call wants it in this tick
					 * (sched.c), 0: none */
	uint32_t polled_tick;		/* the tick that last launched it */
	uint8_t state;			/* enum px_state */
	uint8_t qwhere;			/* enum task_qwhere */
	uint8_t has_progress;
	uint8_t in_ref_index;
	uint8_t unadmitted;		/* created, its row not durable yet */
	uint8_t inline_texts;		/* TASK_INL_* */
	char id[TASK_ID_LEN + 1];
	char *ref;
	char *args;
	char *labels;
	double created, updated, deadline;	/* Unix time; 0 unset */
	uint64_t not_before;		/* monotonic ms before which not polled */
};

static inline const char *
task_idem_key(const struct task *t)
{
	return t->more != NULL ? t->more->idem_key : NULL;
}

static inline const char *
task_result(const struct task *t)
{
	return t->more != NULL ? t->more->result : NULL;
}

static inline const struct task_error *
task_error(const struct task *t)
{
	return t->more != NULL ? t->more->error : NULL;
}

static inline const char *
task_kstate(const struct task *t)
{
	return t->more != NULL ? t->more->kstate : NULL;
}

static inline double
task_finished(const struct task *t)
{
	return t->more != NULL ? t->more->finished : 0;
}

static inline double
task_progress(const struct task *t)
{
	return t->has_progress && t->more != NULL ? t->more->progress : 0;
}

/* What a new task is made of; the strings are copied. */
struct task_init {
	struct poller *poller;
	uid_t owner;
	const char *ref;	/* canonical JSON or NULL (then starting) */
	const char *args;
	const char *labels;
	const char *idem_key;
	double deadline;
};

/* Change notifications, so the glue can keep scheduler, waiters, watchers
 * and the store in step.  what is one of TASK_EV_*. */
enum task_event {
	TASK_EV_CREATED,
	TASK_EV_STATE,		/* state changed; old state given */
	TASK_EV_PROGRESS,
	TASK_EV_PURGED,		/* about to be freed */
};

struct tasktab_hooks {
	void (*event)(void *arg, struct task *t, enum task_event ev,
	    enum px_state old);
};

struct tasktab;

struct tasktab *tasktab_new(const struct tasktab_hooks *hooks, void *arg);
void tasktab_free(struct tasktab *tt);

/* Ids: never below floor_ms (the newest id's time, after a restart). */
void tasktab_id_floor(struct tasktab *tt, uint64_t floor_ms);

struct task *tasktab_create(struct tasktab *tt, const struct task_init *in,
    double now);
struct task *tasktab_find(struct tasktab *tt, const char *id);

/*
 * A task read back from the store, with its id, state, counters and times;
 * no event is emitted.  The last few restored are indexed only by
 * tasktab_restore_done(), which also puts the finished ones in retention
 * order: no lookup in between.
 */
struct store_row;
struct task *tasktab_restore(struct tasktab *tt, const struct store_row *r,
    struct poller *p);
void tasktab_restore_done(struct tasktab *tt);
/* Room in the indexes for n tasks (before restoring that many). */
void tasktab_reserve(struct tasktab *tt, size_t n);
/* The finished task that will be purged first, or NULL. */
struct task *tasktab_oldest_finished(struct tasktab *tt);
/* Remove a task that must never have existed (its Submit failed). */
void tasktab_discard(struct tasktab *tt, struct task *t);
struct task *tasktab_find_key(struct tasktab *tt, uid_t owner,
    const char *key);
struct task *tasktab_find_ref(struct tasktab *tt, uid_t owner,
    const struct poller *p, const char *ref);
struct task *tasktab_first(struct tasktab *tt);
struct task *tasktab_next(struct tasktab *tt, struct task *t);
/* The first task whose id sorts after id (which need not exist). */
struct task *tasktab_after(struct tasktab *tt, const char *id);

/* A starting task got its ref: it becomes pending. */
void tasktab_set_ref(struct tasktab *tt, struct task *t, const char *ref,
    double now);
/*
 * Moves an outstanding task to a terminal state with its result (JSON text,
 * for succeeded) or error; the first outcome wins: returns -1 and changes
 * nothing when the task has already finished.
 */
int tasktab_finish(struct tasktab *tt, struct task *t, enum px_state st,
    const char *result, const char *code, const char *message,
    const char *details, double now);
/* Replace the kind's own state of t (JSON text or NULL). */
void task_set_kstate(struct task *t, const char *kstate);
void tasktab_set_progress(struct tasktab *tt, struct task *t, double progress,
    double now);

/* Expires outstanding tasks whose deadline passed; returns the next
 * deadline, or 0 when none is left. */
double tasktab_expire(struct tasktab *tt, double now);
double tasktab_next_deadline(struct tasktab *tt);
/* Purges up to max terminal tasks finished before cutoff; returns how many
 * and sets *next to the finish time of the oldest left (0 when none). */
size_t tasktab_purge(struct tasktab *tt, double cutoff, size_t max,
    double *next);

uint64_t tasktab_count(struct tasktab *tt, enum px_state st);
uint64_t tasktab_outstanding_of(struct tasktab *tt, uid_t owner);
size_t tasktab_size(struct tasktab *tt);

/* The Task object of the protocol; a new reference. */
json_object *task_to_json(const struct task *t);
/* The same JSON as text, written directly (the stored JSON values are
 * copied, not parsed and printed again); a new string of *len bytes. */
char *task_to_text(const struct task *t, size_t *len);
/* Is text one JSON value (what the stored values must be)? */
int task_json_valid(const char *text);
/* Does the canonical labels text of t hold key = value? */
int task_has_label(const struct task *t, const char *key, const char *value);

#endif
