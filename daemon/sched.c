/* SPDX-License-Identifier: ISC */
/* sched.c: the per-poller scheduler: when to poll and which tasks.
 *
 * A tick takes every eligible pending task, cuts it into batches of at most
 * max_batch and runs them at most max_inflight at a time; when the last poll
 * of the tick ends, the next tick is armed after the interval, the delay the
 * poll function asked for, or a backoff when a poll failed.  Tasks that join
 * while a tick runs wait for the next one; a scheduler with nothing
 * outstanding arms nothing.  The clock, the timer and the polls themselves
 * are the caller's (sched_ops), so tests drive it with a fake clock.
 *
 * Poll now: sched_poll_now() marks a task urgent for the next tick to start
 * and wants that tick after the coalescing window (urgent_at).  The timer
 * is armed for the earlier of the ordinary tick (regular_at) and the wanted
 * one; a tick that fires before its ordinary time polls the urgent tasks
 * only and leaves the ordinary time as it was.  Ticks are numbered, so a
 * caller knows when the tick that polled its tasks ended (ops->ticked). */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "sched.h"
#include "xmalloc.h"

struct sched {
	struct sched_policy pol;
	const struct sched_ops *ops;
	void *arg;
	TAILQ_HEAD(, task) queue;	/* waiting for a tick */
	TAILQ_HEAD(task_tq, task) tick; /* chosen for this tick, not launched */
	uint32_t ntick;
	uint32_t outstanding;
	uint32_t inflight;
	uint32_t consec_failed;
	uint64_t next_at;		/* armed time, 0 when not armed */
	uint64_t regular_at;		/* the ordinary tick's time, 0: none */
	uint64_t urgent_at;		/* the wanted tick's time, when want */
	uint64_t saved_regular;		/* regular_at kept over an urgent tick */
	uint32_t tick_seq;		/* the number of the last tick started */
	int want;			/* a Poll call wants the next tick */
	int tick_urgent;		/* this tick polls urgent tasks only */
	uint64_t last_end;		/* end of the last tick, 0 never */
	uint64_t backoff_until;		/* no wake-up before this */
	int ticking;
	int suspended;
	int tick_launched;
	int tick_failed;
	int tick_joined;		/* tasks joined while the tick ran */
	double tick_delay;
	double tick_retry_after;
};

static void sched_launch_more(struct sched *);
static void sched_tick_end(struct sched *);

struct sched *
sched_new(const struct sched_policy *pol, const struct sched_ops *ops,
    void *arg)
{
	struct sched *s = xcalloc(1, sizeof *s);

	s->pol = *pol;
	s->ops = ops;
	s->arg = arg;
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->tick);
	return s;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	if (s->next_at != 0)
		s->ops->disarm(s->arg);
	free(s);
}

void
sched_set_policy(struct sched *s, const struct sched_policy *pol)
{
	s->pol = *pol;
	if (s->ticking && !s->suspended)
		sched_launch_more(s);
}

const struct sched_policy *
sched_policy(const struct sched *s)
{
	return &s->pol;
}

int
sched_tick_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/* Arm the timer for the earlier of the ordinary tick and a wanted one, or
 * disarm it when there is neither. */
static void
sched_rearm(struct sched *s)
{
	uint64_t at = s->regular_at;

	if (s->want && (at == 0 || s->urgent_at < at))
		at = s->urgent_at > 0 ? s->urgent_at : 1;
	if (s->ticking || s->suspended)
		at = 0;
	if (at == 0) {
		if (s->next_at != 0)
			s->ops->disarm(s->arg);
		s->next_at = 0;
		return;
	}
	s->next_at = at;
	s->ops->arm(s->arg, s->next_at);
}

/* The ordinary tick is due at "at". */
static void
sched_arm(struct sched *s, uint64_t at)
{
	s->regular_at = at > 0 ? at : 1;
	sched_rearm(s);
}

/* Wake an idle scheduler: soon, but not before min_interval since the last
 * tick ended nor inside a backoff. */
static void
sched_wake(struct sched *s)
{
	uint64_t at = s->ops->now(s->arg) + s->pol.coalesce;

	if (s->last_end != 0 && s->last_end + s->pol.min_interval > at)
		at = s->last_end + s->pol.min_interval;
	if (s->backoff_until > at)
		at = s->backoff_until;
	sched_arm(s, at);
}

/* A task joins a waiting scheduler.  A delay the poll function asked for
 * was about the tasks it saw; a newcomer is polled within one interval,
 * which pulls a longer wait forward (never inside a backoff, never sooner
 * than min_interval after the last tick). */
static void
sched_pull(struct sched *s)
{
	uint64_t now = s->ops->now(s->arg), at = now + s->pol.interval;

	if (s->backoff_until > now)
		return;
	if (s->last_end != 0 && s->last_end + s->pol.min_interval > at)
		at = s->last_end + s->pol.min_interval;
	if (at < s->regular_at) {
		s->ops->disarm(s->arg);
		sched_arm(s, at);
	}
}

void
sched_add(struct sched *s, struct task *t)
{
	if (t->qwhere != TASK_Q_NONE)
		return;
	t->qwhere = TASK_Q_QUEUE;
	TAILQ_INSERT_TAIL(&s->queue, t, q_entry);
	s->outstanding++;
	if (s->ticking)
		s->tick_joined = 1;
	if (s->ticking || s->suspended)
		return;
	if (s->regular_at == 0)
		sched_wake(s);
	else
		sched_pull(s);
}

void
sched_remove(struct sched *s, struct task *t)
{
	switch (t->qwhere) {
	case TASK_Q_QUEUE:
		TAILQ_REMOVE(&s->queue, t, q_entry);
		break;
	case TASK_Q_TICK:
		TAILQ_REMOVE(&s->tick, t, q_entry);
		s->ntick--;
		break;
	case TASK_Q_FLIGHT:
		t->batch->tasks[t->batch_idx] = NULL;
		t->batch = NULL;
		break;
	default:
		return;
	}
	t->qwhere = TASK_Q_NONE;
	t->urgent_tick = 0;
	s->outstanding--;
	/* A wanted tick still comes: it tells its callers it ended. */
	if (s->outstanding == 0 && !s->ticking && s->regular_at != 0) {
		s->regular_at = 0;
		sched_rearm(s);
	}
}

void
sched_fire(struct sched *s)
{
	struct task *t, *next;
	uint64_t now = s->ops->now(s->arg);

	s->next_at = 0;
	if (s->suspended || s->ticking)
		return;
	/* Brought forward by a Poll call: only the urgent tasks go. */
	s->tick_urgent = s->want && (s->regular_at == 0 || s->regular_at > now);
	s->saved_regular = s->tick_urgent ? s->regular_at : 0;
	s->regular_at = 0;
	s->want = 0;
	if (++s->tick_seq == 0)
		s->tick_seq = 1;
	s->ticking = 1;
	s->tick_launched = 0;
	s->tick_failed = 0;
	s->tick_joined = 0;
	s->tick_delay = NAN;
	s->tick_retry_after = 0;
	TAILQ_FOREACH_SAFE(t, &s->queue, q_entry, next) {
		if (t->urgent_tick == 0 &&
		    (s->tick_urgent || t->not_before > now))
			continue;
		TAILQ_REMOVE(&s->queue, t, q_entry);
		TAILQ_INSERT_TAIL(&s->tick, t, q_entry);
		t->qwhere = TASK_Q_TICK;
		s->ntick++;
	}
	if (s->ntick == 0)
		sched_tick_end(s);
	else
		sched_launch_more(s);
}

/* Start polls from the tick's tasks while max_inflight allows. */
static void
sched_launch_more(struct sched *s)
{
	struct sched_batch *b;
	struct task *t;
	uint32_t i, n;

	while (s->inflight < s->pol.max_inflight && s->ntick > 0) {
		n = s->ntick < s->pol.max_batch ? s->ntick : s->pol.max_batch;
		b = xcalloc(1, sizeof *b);
		b->sched = s;
		b->tasks = xcalloc(n, sizeof *b->tasks);
		b->n = n;
		b->started = s->ops->now(s->arg);
		for (i = 0; i < n; i++) {
			t = TAILQ_FIRST(&s->tick);
			TAILQ_REMOVE(&s->tick, t, q_entry);
			s->ntick--;
			t->qwhere = TASK_Q_FLIGHT;
			t->batch = b;
			t->batch_idx = i;
			t->polls++;
			t->polled_tick = s->tick_seq;
			/* Asked for during this tick: polled again next. */
			if (t->urgent_tick != 0 &&
			    sched_tick_le(t->urgent_tick, s->tick_seq))
				t->urgent_tick = 0;
			b->tasks[i] = t;
		}
		s->inflight++;
		s->tick_launched = 1;
		s->ops->launch(s->arg, b);
	}
}

void
sched_done(struct sched *s, struct sched_batch *b,
    const struct sched_result *r)
{
	struct task *t, **doomed = NULL;
	uint32_t i, ndoomed = 0;

	s->inflight--;
	for (i = 0; i < b->n; i++) {
		if ((t = b->tasks[i]) == NULL)
			continue;
		t->batch = NULL;
		t->qwhere = TASK_Q_QUEUE;
		TAILQ_INSERT_TAIL(&s->queue, t, q_entry);
		if (!r->failed) {
			if (t->poll_failures != 0) {
				t->poll_failures = 0;
				s->ops->touched(s->arg, t);
			}
			continue;
		}
		t->poll_failures++;
		s->ops->touched(s->arg, t);
		if (s->pol.fail_after != 0 &&
		    t->poll_failures >= s->pol.fail_after) {
			if (doomed == NULL)
				doomed = xcalloc(b->n, sizeof *doomed);
			doomed[ndoomed++] = t;
		}
	}
	if (r->failed) {
		s->tick_failed = 1;
		if (isfinite(r->retry_after) && r->retry_after > s->tick_retry_after)
			s->tick_retry_after = r->retry_after;
	} else if (isfinite(r->delay) && r->delay > 0 &&
	    (isnan(s->tick_delay) || r->delay < s->tick_delay))
		s->tick_delay = r->delay;
	free(b->tasks);
	free(b);

	/* Failing a task calls back into sched_remove(): the task is in the
	 * queue by now, so that is an ordinary removal. */
	for (i = 0; i < ndoomed; i++)
		s->ops->fail_task(s->arg, doomed[i],
		    r->error != NULL ? r->error : "poll failed");
	free(doomed);

	if (s->suspended) {
		if (s->inflight == 0)
			s->ticking = 0;
		return;
	}
	sched_launch_more(s);
	if (s->ticking && s->ntick == 0 && s->inflight == 0)
		sched_tick_end(s);
}

/* The tick is over: arm the next one, unless nothing is outstanding. */
static void
sched_tick_end(struct sched *s)
{
	struct task *t;
	uint64_t now = s->ops->now(s->arg), d, at, nb = 0, cap;
	uint32_t seq = s->tick_seq;

	s->ticking = 0;
	s->last_end = now;
	if (s->tick_failed) {
		s->consec_failed++;
		d = sched_backoff(&s->pol, s->consec_failed,
		    s->ops->random(s->arg), s->tick_retry_after);
		s->backoff_until = now + d;
	} else {
		if (s->tick_launched)
			s->consec_failed = 0;
		d = sched_clamp_delay(&s->pol, s->tick_delay);
		/* The delay was about the tasks this tick saw; ones that
		 * joined meanwhile wait no longer than the interval. */
		cap = s->pol.interval > s->pol.min_interval ?
		    s->pol.interval : s->pol.min_interval;
		if (s->tick_joined && d > s->pol.interval)
			d = cap;
		s->backoff_until = 0;
	}
	if (s->want)
		s->urgent_at = now + s->pol.coalesce;
	if (s->tick_urgent) {
		/* The others keep their time; a failure backs off, a task
		 * that joined is polled within the interval. */
		s->tick_urgent = 0;
		at = s->saved_regular;
		if (s->tick_failed && at < now + d)
			at = now + d;
		if (s->tick_joined || at == 0) {
			cap = now + (s->pol.interval > s->pol.min_interval ?
			    s->pol.interval : s->pol.min_interval);
			if (at == 0 || at > cap)
				at = cap;
		}
		s->tick_joined = 0;
		s->regular_at = s->outstanding == 0 || s->suspended ? 0 :
		    at > 0 ? at : 1;
		sched_rearm(s);
		goto told;
	}
	s->tick_joined = 0;
	if (s->outstanding == 0 || s->suspended) {
		sched_rearm(s);
		goto told;
	}
	TAILQ_FOREACH(t, &s->queue, q_entry)
		if (nb == 0 || t->not_before < nb)
			nb = t->not_before;
	/* Nothing was eligible: go when the first task becomes eligible. */
	at = s->tick_launched ? now + d : now;
	if (nb > at)
		at = nb;
	if (at <= now)
		at = now + (s->pol.min_interval > 0 ? s->pol.min_interval : 1);
	sched_arm(s, at);
told:
	if (s->ops->ticked != NULL)
		s->ops->ticked(s->arg, seq);
}

void
sched_abandon(struct sched *s, struct sched_batch *b)
{
	struct task *t;
	uint32_t i;

	s->inflight--;
	for (i = 0; i < b->n; i++) {
		if ((t = b->tasks[i]) == NULL)
			continue;
		t->batch = NULL;
		t->polls--;
		t->qwhere = TASK_Q_QUEUE;
		TAILQ_INSERT_TAIL(&s->queue, t, q_entry);
	}
	free(b->tasks);
	free(b);
	if (s->inflight == 0 && s->ntick == 0)
		s->ticking = 0;
}

void
sched_suspend(struct sched *s)
{
	struct task *t;

	s->suspended = 1;
	s->regular_at = 0;
	s->want = 0;
	if (s->next_at != 0) {
		s->ops->disarm(s->arg);
		s->next_at = 0;
	}
	while ((t = TAILQ_LAST(&s->tick, task_tq)) != NULL) {
		TAILQ_REMOVE(&s->tick, t, q_entry);
		TAILQ_INSERT_HEAD(&s->queue, t, q_entry);
		t->qwhere = TASK_Q_QUEUE;
	}
	s->ntick = 0;
	if (s->inflight == 0)
		s->ticking = 0;
}

void
sched_resume(struct sched *s)
{
	if (!s->suspended)
		return;
	s->suspended = 0;
	if (s->outstanding > 0 && !s->ticking && s->next_at == 0)
		sched_wake(s);
}

uint32_t
sched_poll_next(struct sched *s)
{
	uint32_t next = s->tick_seq + 1 != 0 ? s->tick_seq + 1 : 1;

	if (s->suspended)
		return next;
	if (!s->want) {
		s->want = 1;
		s->urgent_at = s->ops->now(s->arg) + s->pol.coalesce;
	}
	if (!s->ticking)
		sched_rearm(s);
	return next;
}

uint32_t
sched_poll_now(struct sched *s, struct task *t)
{
	uint32_t next = sched_poll_next(s);

	if (t->qwhere == TASK_Q_QUEUE || t->qwhere == TASK_Q_TICK ||
	    t->qwhere == TASK_Q_FLIGHT)
		t->urgent_tick = next;
	return next;
}

enum sched_state
sched_state(const struct sched *s)
{
	if (s->suspended)
		return SCHED_SUSPENDED;
	if (s->ticking)
		return SCHED_POLLING;
	if (s->next_at == 0)
		return SCHED_IDLE;
	return s->consec_failed > 0 ? SCHED_BACKOFF : SCHED_WAITING;
}

uint64_t
sched_next_at(const struct sched *s)
{
	return s->next_at;
}

uint32_t
sched_outstanding(const struct sched *s)
{
	return s->outstanding;
}

uint32_t
sched_inflight(const struct sched *s)
{
	return s->inflight;
}

uint32_t
sched_consecutive_failures(const struct sched *s)
{
	return s->consec_failed;
}

uint64_t
sched_clamp_delay(const struct sched_policy *pol, double secs)
{
	double ms;

	if (!isfinite(secs) || secs <= 0)
		return pol->interval;
	ms = secs * 1000.0;
	if (ms < (double)pol->min_interval)
		return pol->min_interval;
	if (ms > (double)pol->max_interval)
		return pol->max_interval;
	return (uint64_t)ms;
}

/* Exponential backoff with full jitter: uniform in [0, min(cap, base *
 * 2^(n-1))], then no less than min_interval nor than Retry-After, and no
 * more than the larger of backoff_max and max_interval. */
uint64_t
sched_backoff(const struct sched_policy *pol, uint32_t n, uint64_t rnd,
    double retry_after)
{
	uint64_t cap = pol->backoff_initial, ceil, d;

	while (n-- > 1 && cap < pol->backoff_max)
		cap = cap * 2 > cap ? cap * 2 : UINT64_MAX;
	if (cap > pol->backoff_max)
		cap = pol->backoff_max;
	d = cap == UINT64_MAX ? rnd : rnd % (cap + 1);
	if (d < pol->min_interval)
		d = pol->min_interval;
	if (isfinite(retry_after) && retry_after > 0 &&
	    retry_after * 1000.0 > (double)d)
		d = retry_after * 1000.0 > 1e15 ? UINT64_MAX :
		    (uint64_t)(retry_after * 1000.0);
	ceil = pol->backoff_max > pol->max_interval ? pol->backoff_max :
	    pol->max_interval;
	return d > ceil ? ceil : d;
}
