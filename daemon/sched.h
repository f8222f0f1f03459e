/* SPDX-License-Identifier: ISC */
/* sched.h: the per-poller scheduler: when to poll and which tasks. */
#ifndef POLLEXD_SCHED_H
#define POLLEXD_SCHED_H

#include <stdint.h>

#include "task.h"

/* Times are monotonic milliseconds, durations milliseconds. */
struct sched_policy {
	uint64_t interval;	/* between the end of a tick and the next */
	uint64_t min_interval;	/* floor for returned delays and wake-ups */
	uint64_t max_interval;	/* ceiling for returned delays and backoff */
	uint64_t coalesce;	/* wake-ups within this window share a tick */
	uint64_t backoff_initial;
	uint64_t backoff_max;
	uint32_t max_batch;	/* tasks per poll */
	uint32_t max_inflight;	/* polls running at once */
	uint32_t fail_after;	/* consecutive failed polls that fail a
				   task; 0: never (only its deadline) */
};

/* One poll: up to max_batch tasks.  A slot is NULL when its task left
 * (cancelled, expired) while the poll ran. */
struct sched_batch {
	struct sched *sched;
	struct task **tasks;
	uint32_t n;
	uint64_t started;
	void *owner;		/* the poll operation running it */
};

/* How a poll went, as far as the scheduler cares. */
struct sched_result {
	int failed;		/* transport error, bad output, timeout... */
	const char *error;	/* why, when failed */
	double delay;		/* seconds the poll function asked for, or NaN */
	double retry_after;	/* seconds a failed poll was told to wait, or 0 */
};

struct sched_ops {
	uint64_t (*now)(void *arg);
	void (*arm)(void *arg, uint64_t at);	/* call sched_fire() at "at" */
	void (*disarm)(void *arg);
	void (*launch)(void *arg, struct sched_batch *b);
	/* A task reached fail_after failed polls: fail it (it must leave the
	 * scheduler through sched_remove()). */
	void (*fail_task)(void *arg, struct task *t, const char *error);
	uint64_t (*random)(void *arg);	/* for jitter */
	/* A task's failure counter changed (worth persisting). */
	void (*touched)(void *arg, struct task *t);
	/* Optional: tick number seq ended (its polls all finished). */
	void (*ticked)(void *arg, uint32_t seq);
};

enum sched_state {
	SCHED_IDLE,		/* nothing outstanding, no timer */
	SCHED_WAITING,		/* a tick is scheduled */
	SCHED_POLLING,		/* a tick is running */
	SCHED_BACKOFF,		/* waiting after failed polls */
	SCHED_SUSPENDED,	/* poller removed: tasks kept, no polling */
};

struct sched;

struct sched *sched_new(const struct sched_policy *pol,
    const struct sched_ops *ops, void *arg);
/* Frees the scheduler; it must hold no task and run no poll. */
void sched_free(struct sched *s);
void sched_set_policy(struct sched *s, const struct sched_policy *pol);
const struct sched_policy *sched_policy(const struct sched *s);

/* A pending task joins; an idle scheduler wakes after the coalescing
 * window (and no sooner than min_interval after its last tick). */
void sched_add(struct sched *s, struct task *t);
/* A task leaves (finished, cancelled, expired, purged). */
void sched_remove(struct sched *s, struct task *t);
/* The armed time has come: start a tick. */
void sched_fire(struct sched *s);
/* A launched poll finished; per-task outcomes were applied before. */
void sched_done(struct sched *s, struct sched_batch *b,
    const struct sched_result *r);
/* Give a running poll's tasks back without counting it (stopping). */
void sched_abandon(struct sched *s, struct sched_batch *b);
/*
 * Poll now (io.pollex.Poll): task t (pending, held by s) goes into the
 * next tick to start, whatever its delay, the interval, min_interval or a
 * backoff say; that tick starts after the coalescing window, once the tick
 * running (if any) ended.  A tick brought forward this way polls only the
 * tasks asked for; the others keep their time.  Returns the number of
 * that tick: once ops->ticked() reports it, t was polled (unless it left).
 * sched_poll_next() asks for that tick without naming a task.
 */
uint32_t sched_poll_now(struct sched *s, struct task *t);
uint32_t sched_poll_next(struct sched *s);
/* Is tick number a no later than b (the numbers wrap)? */
int sched_tick_le(uint32_t a, uint32_t b);

/* Stop (and later resume) polling without dropping tasks. */
void sched_suspend(struct sched *s);
void sched_resume(struct sched *s);

enum sched_state sched_state(const struct sched *s);
uint64_t sched_next_at(const struct sched *s);	/* 0 when not armed */
uint32_t sched_outstanding(const struct sched *s);
uint32_t sched_inflight(const struct sched *s);
uint32_t sched_consecutive_failures(const struct sched *s);

/* The delay rules, exposed for tests: a returned delay (seconds) clamped
 * to [min_interval, max_interval], or interval when it is NaN, infinite,
 * zero or negative; the backoff after n consecutive failed ticks. */
uint64_t sched_clamp_delay(const struct sched_policy *pol, double secs);
uint64_t sched_backoff(const struct sched_policy *pol, uint32_t n,
    uint64_t rnd, double retry_after);

#endif
