/* SPDX-License-Identifier: ISC */
/* poller.c: pollers at run time: scheduler, operations and their outcomes.
 *
 * A poller joins its scheduler (which tasks, when) to its kind (how): the
 * scheduler's launch becomes a poll operation of the kind, and the kind's
 * per-task outcomes go to the task table, whose events come back here.
 *
 * The rate limit: every operation (poll, start, cancel) takes a token of
 * the poller's bucket (rate tokens a second, at most burst) before the kind
 * sees it.  Operations that find none wait in one FIFO per type, and the
 * types take turns for the tokens that come: within a type the oldest goes
 * first, and whatever stream of starts (at most max_starts at a time) or
 * cancels waits, a poll gets one of the next three tokens, so starts cannot
 * starve polls however max_starts compares with max_inflight. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poller.h"
#include "util.h"
#include "xmalloc.h"

struct cancel_listener {
	LIST_ENTRY(cancel_listener) entry;
	struct op *op;
	cancel_cb cb;
	void *arg;
};

/* A Poll call waiting for the tick that polls its tasks. */
struct poll_listener {
	TAILQ_ENTRY(poll_listener) entry;
	struct poller *p;
	uint32_t tick;
	size_t n;
	char (*ids)[TASK_ID_LEN + 1];
	poll_cb cb;
	void *arg;
};

#define OP_NTYPES 3

/* Kinds of bad delays a poll returned, each warned about on its own. */
enum poller_delay_bad {
	DELAY_INVALID,		/* not a positive number: ignored */
	DELAY_SHORT,		/* below min_interval: clamped */
	DELAY_LONG,		/* above max_interval: clamped */
	DELAY_NBAD
};

#define POLLER_DELAY_WARN_MS 60000	/* one warning per kind per minute */

/* Every poller and every operation running. */
struct pollers {
	struct poller_env env;
	TAILQ_HEAD(, poller) list;
	TAILQ_HEAD(, op) ops;
	uint64_t polls, failed_polls;	/* of every poller, past ones too */
};

struct poller {
	TAILQ_ENTRY(poller) entry;
	struct pollers *ps;
	char *name;
	char *kind_name;		/* of the last definition */
	struct conf_poller *conf;	/* NULL: removed by a reload */
	struct sched *sched;
	struct event *timer;
	TAILQ_HEAD(, task) startq;	/* starting tasks waiting for a slot */
	uint32_t nstarting;
	uint32_t starts_running;
	uint32_t nops;
	uint64_t polls;
	uint64_t failed_polls;
	struct metrics_hist poll_duration;
	char *last_error;
	uint64_t delay_warned[DELAY_NBAD];	/* mono ms, 0: never */
	uint64_t delay_quiet[DELAY_NBAD];	/* held back since */
	TAILQ_HEAD(, poll_listener) poll_listeners;
	/* The rate limit (rate 0: none). */
	double rate;
	double burst;
	double tokens;
	uint64_t refilled;			/* mono ms */
	struct event *rate_timer;
	TAILQ_HEAD(, op) waitq[OP_NTYPES];	/* by enum op_type */
	int served;				/* the type served last */
	uint32_t nwaiting;
	uint64_t rate_waits;			/* operations that waited */
	uint64_t rate_waited;			/* ms, in total */
};

/* Scheduler callbacks. */
static uint64_t
poller_sched_now(void *arg)
{
	(void)arg;
	return mono_ms();
}

static void
poller_sched_arm(void *arg, uint64_t at)
{
	struct poller *p = arg;
	uint64_t now = mono_ms(), d = at > now ? at - now : 0;
	struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 };

	evtimer_add(p->timer, &tv);
}

static void
poller_sched_disarm(void *arg)
{
	struct poller *p = arg;

	evtimer_del(p->timer);
}

static void poller_sched_launch(void *, struct sched_batch *);

static void
poller_sched_fail(void *arg, struct task *t, const char *error)
{
	struct poller *p = arg;

	log_info("poller %s: task %s failed after %u failed polls: %s",
	    p->name, t->id, t->poll_failures, error);
	tasktab_finish(p->ps->env.tt, t, PX_STATE_FAILED, NULL, "poll_failed",
	    error, NULL, real_now());
}

static uint64_t
poller_sched_random(void *arg)
{
	struct poller *p = arg;

	return p->ps->env.random(p->ps->env.arg);
}

static void
poller_sched_touched(void *arg, struct task *t)
{
	struct poller *p = arg;

	p->ps->env.touched(p->ps->env.arg, t);
}

static void poller_sched_ticked(void *, uint32_t);

static const struct sched_ops poller_sched_ops = {
	poller_sched_now,
	poller_sched_arm,
	poller_sched_disarm,
	poller_sched_launch,
	poller_sched_fail,
	poller_sched_random,
	poller_sched_touched,
	poller_sched_ticked,
};

static void
poller_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;

	(void)fd;
	(void)what;
	sched_fire(p->sched);
}

static void poller_rate_cb(evutil_socket_t, short, void *);
static void poller_rate_refill(struct poller *);
static void poller_rate_arm(struct poller *);

struct pollers *
pollers_new(const struct poller_env *env)
{
	struct pollers *ps = xcalloc(1, sizeof *ps);

	ps->env = *env;
	TAILQ_INIT(&ps->list);
	TAILQ_INIT(&ps->ops);
	return ps;
}

void
pollers_free(struct pollers *ps)
{
	struct poller *p;

	if (ps == NULL)
		return;
	while ((p = TAILQ_FIRST(&ps->list)) != NULL)
		poller_free(p);
	free(ps);
}

int
pollers_busy(const struct pollers *ps)
{
	return !TAILQ_EMPTY(&ps->ops);
}

void
pollers_totals(const struct pollers *ps, uint64_t *polls,
    uint64_t *failed_polls)
{
	*polls = ps->polls;
	*failed_polls = ps->failed_polls;
}

struct poller *
poller_new(struct pollers *ps, const char *name)
{
	struct poller *p = xcalloc(1, sizeof *p);
	struct sched_policy pol = { 5000, 1000, 300000, 10, 1000, 300000, 100,
	    1, 10 };
	int i;

	p->ps = ps;
	p->name = xstrdup(name);
	p->kind_name = xstrdup("none");
	p->timer = evtimer_new(ps->env.base, poller_timer_cb, p);
	p->rate_timer = evtimer_new(ps->env.base, poller_rate_cb, p);
	p->sched = sched_new(&pol, &poller_sched_ops, p);
	sched_suspend(p->sched);
	TAILQ_INIT(&p->startq);
	TAILQ_INIT(&p->poll_listeners);
	for (i = 0; i < OP_NTYPES; i++)
		TAILQ_INIT(&p->waitq[i]);
	p->served = OP_NTYPES - 1;
	TAILQ_INSERT_TAIL(&ps->list, p, entry);
	return p;
}

static void poll_listener_free(struct poll_listener *);

void
poller_free(struct poller *p)
{
	if (p == NULL)
		return;
	poller_abort_all(p);
	/* Their calls were aborted (the server goes first). */
	while (!TAILQ_EMPTY(&p->poll_listeners))
		poll_listener_free(TAILQ_FIRST(&p->poll_listeners));
	TAILQ_REMOVE(&p->ps->list, p, entry);
	sched_free(p->sched);
	event_free(p->timer);
	event_free(p->rate_timer);
	conf_poller_unref(p->conf);
	free(p->name);
	free(p->kind_name);
	free(p->last_error);
	free(p);
}

struct poller *
poller_find(struct pollers *ps, const char *name)
{
	struct poller *p;

	TAILQ_FOREACH(p, &ps->list, entry)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

struct poller *
poller_first(struct pollers *ps)
{
	return TAILQ_FIRST(&ps->list);
}

struct poller *
poller_next(struct poller *p)
{
	return TAILQ_NEXT(p, entry);
}

const char *
poller_name(const struct poller *p)
{
	return p->name;
}

struct conf_poller *
poller_conf(const struct poller *p)
{
	return p->conf;
}

int
poller_has_start(const struct poller *p)
{
	return p->conf != NULL && p->conf->kind->has_start(p->conf->kconf);
}

int
poller_has_cancel(const struct poller *p)
{
	return p->conf != NULL && p->conf->kind->has_cancel(p->conf->kconf);
}

int
poller_idle(const struct poller *p)
{
	return sched_outstanding(p->sched) == 0 && p->nstarting == 0 &&
	    p->nops == 0;
}

static void poller_pump_starts(struct poller *);
static void poller_rate_pump(struct poller *);
static void poll_listeners_gone(struct poller *);

void
poller_set_conf(struct poller *p, struct conf_poller *conf)
{
	struct conf_poller *old = p->conf;
	double rate = conf != NULL ? conf->rate : 0;
	double burst = conf != NULL && conf->burst > 0 ? conf->burst : 1;

	if (conf != NULL) {
		conf_poller_ref(conf);
		free(p->kind_name);
		p->kind_name = xstrdup(conf->kind->name);
	}
	p->conf = conf;
	conf_poller_unref(old);
	/* A new bucket starts full; a changed one keeps its tokens (those
	 * gained under the old rate, up to the new burst). */
	if (p->rate > 0)
		poller_rate_refill(p);
	if (rate > 0 && p->rate == 0) {
		p->tokens = burst;
		p->refilled = mono_ms();
	} else if (p->tokens > burst)
		p->tokens = burst;
	if (rate != p->rate || burst != p->burst) {
		p->rate = rate;
		p->burst = burst;
		evtimer_del(p->rate_timer);
		poller_rate_pump(p);
	}
	if (conf == NULL) {
		sched_suspend(p->sched);
		poll_listeners_gone(p);
		return;
	}
	sched_set_policy(p->sched, &conf->policy);
	sched_resume(p->sched);
	poller_pump_starts(p);
}

/* Operations. */
static struct op *
op_new(struct poller *p, enum op_type type)
{
	struct op *op = xcalloc(1, sizeof *op);

	op->type = type;
	op->poller = p;
	op->conf = p->conf;
	conf_poller_ref(op->conf);
	op->base = p->ps->env.base;
	op->started = metrics_now();
	LIST_INIT(&op->listeners);
	TAILQ_INSERT_TAIL(&p->ps->ops, op, entry);
	p->nops++;
	return op;
}

static void
op_free(struct op *op)
{
	struct cancel_listener *l;

	while ((l = LIST_FIRST(&op->listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		free(l);
	}
	TAILQ_REMOVE(&op->poller->ps->ops, op, entry);
	op->poller->nops--;
	if (op->deferred != NULL)
		event_free(op->deferred);
	free(op->deferred_error);
	free(op->ref);
	free(op->args);
	free(op->labels);
	conf_poller_unref(op->conf);
	free(op);
}

const char *
op_describe(const struct op *op, char *buf, size_t len)
{
	switch (op->type) {
	case OP_POLL:
		snprintf(buf, len, "poller %s: poll of %u tasks",
		    op->poller->name, op->batch->n);
		break;
	case OP_START:
		snprintf(buf, len, "poller %s: start of task %s",
		    op->poller->name, op->id);
		break;
	case OP_CANCEL:
		snprintf(buf, len, "poller %s: cancel of task %s",
		    op->poller->name, op->id);
		break;
	}
	return buf;
}

/* An operation that could not even begin completes from the loop, never
 * from inside the call that began it. */
static void
op_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg;
	struct sched_result r = { 1, op->deferred_error, NAN, 0 };

	(void)fd;
	(void)what;
	if (op->skipped)
		r.failed = 0;
	switch (op->type) {
	case OP_POLL:
		op_poll_done(op, &r);
		break;
	case OP_START:
		op_start_done(op, NULL, "start_failed", op->deferred_error);
		break;
	case OP_CANCEL:
		if (op->skipped)
			op_cancel_done(op, CANCEL_DONE, NULL);
		else
			op_cancel_done(op, CANCEL_ERROR, op->deferred_error);
		break;
	}
}

/* Does an operation that waited still have something to send?  A poll
 * whose tasks all left, or a cancel of a task that finished meanwhile,
 * completes without the kind (and without a token). */
static int
op_has_work(struct op *op)
{
	struct task *t;
	uint32_t i;

	switch (op->type) {
	case OP_POLL:
		for (i = 0; i < op->batch->n; i++)
			if (op->batch->tasks[i] != NULL)
				return 1;
		return 0;
	case OP_CANCEL:
		t = tasktab_find(op->poller->ps->env.tt, op->id);
		return t != NULL && !px_state_terminal((enum px_state)t->state);
	default:
		return 1;
	}
}

static void op_begin_now(struct op *, int (*)(struct op *, char **));
static void op_skip(struct op *);

/* The rate limit's bucket. */
static void
poller_rate_refill(struct poller *p)
{
	uint64_t now = mono_ms();

	if (now > p->refilled) {
		p->tokens += (double)(now - p->refilled) * p->rate / 1000.0;
		if (p->tokens > p->burst)
			p->tokens = p->burst;
	}
	p->refilled = now;
}

/* Wake when the next token is there, if something waits for it. */
static void
poller_rate_arm(struct poller *p)
{
	struct timeval tv;
	double ms;

	if (p->nwaiting == 0 || p->rate <= 0 ||
	    evtimer_pending(p->rate_timer, NULL))
		return;
	ms = p->tokens >= 1 ? 0 : ceil((1.0 - p->tokens) * 1000.0 / p->rate);
	if (ms > 86400000.0)
		ms = 86400000.0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)fmod(ms, 1000.0) * 1000;
	evtimer_add(p->rate_timer, &tv);
}

/* Hand the tokens there are to the waiting operations, the types taking
 * turns, each type in order. */
static void
poller_rate_pump(struct poller *p)
{
	struct op *op;
	uint64_t now = mono_ms();
	int k, type = 0, work;

	if (p->rate > 0)
		poller_rate_refill(p);
	while (p->nwaiting > 0) {
		for (k = 1; k <= OP_NTYPES; k++) {
			type = (p->served + k) % OP_NTYPES;
			if (!TAILQ_EMPTY(&p->waitq[type]))
				break;
		}
		op = TAILQ_FIRST(&p->waitq[type]);
		work = op_has_work(op);
		if (work && p->rate > 0 && p->tokens < 1)
			break;
		TAILQ_REMOVE(&p->waitq[type], op, wait_entry);
		p->nwaiting--;
		op->waiting = 0;
		p->rate_waited += now - op->wait_since;
		if (!work) {
			op_skip(op);
			continue;
		}
		if (p->rate > 0)
			p->tokens -= 1;
		p->served = type;
		op->started = metrics_now();	/* durations leave the wait out */
		op_begin_now(op, op->begin);
	}
	poller_rate_arm(p);
}

static void
poller_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poller_rate_pump(arg);
}

/* Take a token, or wait for one. */
static void
op_begin(struct op *op, int (*fn)(struct op *, char **))
{
	struct poller *p = op->poller;

	if (p->rate > 0) {
		poller_rate_refill(p);
		if (p->nwaiting > 0 || p->tokens < 1) {
			op->waiting = 1;
			op->wait_since = mono_ms();
			op->begin = fn;
			TAILQ_INSERT_TAIL(&p->waitq[op->type], op, wait_entry);
			p->nwaiting++;
			p->rate_waits++;
			poller_rate_arm(p);
			return;
		}
		p->tokens -= 1;
	}
	op_begin_now(op, fn);
}

/* Complete an operation from the loop without the kind. */
static void
op_skip(struct op *op)
{
	op->skipped = 1;
	op->kstate = NULL;
	op->deferred = event_new(op->base, -1, 0, op_deferred_cb, op);
	event_active(op->deferred, 0, 0);
}

static void
op_begin_now(struct op *op, int (*fn)(struct op *, char **))
{
	char *cause = NULL, desc[128];

	if (fn(op, &cause) == 0)
		return;
	log_warnx("%s: %s", op_describe(op, desc, sizeof desc),
	    cause != NULL ? cause : "failed");
	op->deferred_error = cause != NULL ? cause : xstrdup("failed");
	op->kstate = NULL;
	op->deferred = event_new(op->base, -1, 0, op_deferred_cb, op);
	event_active(op->deferred, 0, 0);
}

static void
poller_sched_launch(void *arg, struct sched_batch *b)
{
	struct poller *p = arg;
	struct op *op = op_new(p, OP_POLL);

	op->batch = b;
	b->owner = op;
	op_begin(op, p->conf->kind->poll);
}

static void op_outcome_task(struct op *, struct task *,
    const struct outcome *);

void
op_outcome(struct op *op, const char *task_id, const struct outcome *o)
{
	struct task *t = tasktab_find(op->poller->ps->env.tt, task_id);

	if (t != NULL)
		op_outcome_task(op, t, o);
}

void
op_outcome_at(struct op *op, size_t idx, const struct outcome *o)
{
	struct task *t;

	if (op->batch != NULL && idx < op->batch->n &&
	    (t = op->batch->tasks[idx]) != NULL)
		op_outcome_task(op, t, o);
}

static void
op_outcome_task(struct op *op, struct task *t, const struct outcome *o)
{
	struct tasktab *tt = op->poller->ps->env.tt;
	double now = real_now();
	uint64_t d;

	/* Only tasks of this poll still waiting for it: the first outcome
	 * wins, a cancelled task's late outcome is dropped. */
	if (t->batch != op->batch || t->qwhere != TASK_Q_FLIGHT)
		return;
	if (isfinite(o->progress))
		tasktab_set_progress(tt, t, o->progress, now);
	/* An outcome means the poll reached the task: the run of failed
	 * polls is over (sched_done() saves this for pending tasks). */
	if (px_state_terminal(o->state))
		t->poll_failures = 0;
	switch (o->state) {
	case PX_STATE_SUCCEEDED:
		tasktab_finish(tt, t, PX_STATE_SUCCEEDED,
		    o->result != NULL ? o->result : "null", NULL, NULL, NULL,
		    now);
		break;
	case PX_STATE_FAILED:
		tasktab_finish(tt, t, PX_STATE_FAILED, NULL,
		    o->code != NULL ? o->code : "failed",
		    o->message != NULL ? o->message : "the task failed",
		    o->details, now);
		break;
	default:
		if (isfinite(o->delay) && o->delay > 0) {
			d = sched_clamp_delay(&op->conf->policy, o->delay);
			t->not_before = mono_ms() + d;
		}
		break;
	}
}

/* Warn about a bad delay, at most once per kind per POLLER_DELAY_WARN_MS;
 * the next warning counts those held back. */
static void
poller_delay_warn(struct poller *p, enum poller_delay_bad kind,
    const char *what, const char *text, const char *why)
{
	uint64_t now = mono_ms();
	char more[64] = "";

	if (p->delay_warned[kind] != 0 &&
	    now - p->delay_warned[kind] < POLLER_DELAY_WARN_MS) {
		p->delay_quiet[kind]++;
		return;
	}
	if (p->delay_quiet[kind] > 0)
		snprintf(more, sizeof more, " (and %llu more since the last "
		    "warning)", (unsigned long long)p->delay_quiet[kind]);
	log_warnx("poller %s: the poll returned %s %s, %s%s", p->name, what,
	    text, why, more);
	p->delay_warned[kind] = now;
	p->delay_quiet[kind] = 0;
}

double
op_delay(struct op *op, const char *what, double secs, const char *text)
{
	const struct sched_policy *pol = &op->conf->policy;
	struct poller *p = op->poller;
	char num[64], d[32], why[96];

	if (text == NULL) {
		snprintf(num, sizeof num, "%g", secs);
		text = num;
	}
	if (!isfinite(secs) || secs <= 0) {
		snprintf(why, sizeof why, "not a positive number of seconds: "
		    "ignored, the interval (%s) applies",
		    fmt_duration(pol->interval, d, sizeof d));
		poller_delay_warn(p, DELAY_INVALID, what, text, why);
		return NAN;
	}
	if (secs * 1000.0 < (double)pol->min_interval) {
		snprintf(why, sizeof why, "below min_interval: %s used",
		    fmt_duration(pol->min_interval, d, sizeof d));
		poller_delay_warn(p, DELAY_SHORT, what, text, why);
	} else if (secs * 1000.0 > (double)pol->max_interval) {
		snprintf(why, sizeof why, "above max_interval: %s used",
		    fmt_duration(pol->max_interval, d, sizeof d));
		poller_delay_warn(p, DELAY_LONG, what, text, why);
	}
	return secs;
}

void
op_poll_done(struct op *op, const struct sched_result *r)
{
	struct poller *p = op->poller;
	char desc[128];

	/* One that had nothing left to send is not counted. */
	if (!op->skipped) {
		p->polls++;
		p->ps->polls++;
		metrics_observe(&p->poll_duration,
		    metrics_now() - op->started);
	}
	if (r->failed) {
		p->failed_polls++;
		p->ps->failed_polls++;
		free(p->last_error);
		p->last_error = xstrdup(r->error != NULL ? r->error : "failed");
		log_warnx("%s failed: %s", op_describe(op, desc, sizeof desc),
		    p->last_error);
	}
	sched_done(p->sched, op->batch, r);
	op_free(op);
}

/* Start operations, at most max_starts at once. */
static void
poller_pump_starts(struct poller *p)
{
	struct task *t;
	struct op *op;

	while (p->conf != NULL && p->conf->kind->has_start(p->conf->kconf) &&
	    p->starts_running < p->conf->max_starts &&
	    (t = TAILQ_FIRST(&p->startq)) != NULL) {
		TAILQ_REMOVE(&p->startq, t, q_entry);
		t->qwhere = TASK_Q_NONE;
		op = op_new(p, OP_START);
		op->task = t;
		memcpy(op->id, t->id, sizeof op->id);
		t->op = op;
		p->starts_running++;
		op_begin(op, p->conf->kind->start);
	}
}

void
op_start_done(struct op *op, const char *ref, const char *code,
    const char *message)
{
	struct poller *p = op->poller;
	struct task *t = op->task;
	double now = real_now();

	t->op = NULL;
	p->starts_running--;
	if (ref != NULL)
		tasktab_set_ref(p->ps->env.tt, t, ref, now);
	else {
		log_info("poller %s: task %s failed to start: %s", p->name,
		    t->id, message != NULL ? message : "start failed");
		tasktab_finish(p->ps->env.tt, t, PX_STATE_FAILED, NULL,
		    code != NULL ? code : "start_failed",
		    message != NULL ? message : "start failed", NULL, now);
	}
	op_free(op);
	poller_pump_starts(p);
}

struct cancel_listener *
poller_cancel(struct poller *p, struct task *t, cancel_cb cb, void *arg)
{
	struct cancel_listener *l = xcalloc(1, sizeof *l);
	struct op *op = t->op;

	if (op == NULL || op->type != OP_CANCEL) {
		op = op_new(p, OP_CANCEL);
		memcpy(op->id, t->id, sizeof op->id);
		op->ref = t->ref != NULL ? xstrdup(t->ref) : NULL;
		op->args = t->args != NULL ? xstrdup(t->args) : NULL;
		op->labels = t->labels != NULL ? xstrdup(t->labels) : NULL;
		t->op = op;
		op_begin(op, p->conf->kind->cancel);
	}
	l->op = op;
	l->cb = cb;
	l->arg = arg;
	LIST_INSERT_HEAD(&op->listeners, l, entry);
	return l;
}

void
poller_cancel_forget(struct cancel_listener *l)
{
	LIST_REMOVE(l, entry);
	free(l);
}

void
op_cancel_done(struct op *op, enum cancel_verdict v, const char *reason)
{
	struct poller *p = op->poller;
	struct cancel_listener *l;
	struct task *t = tasktab_find(p->ps->env.tt, op->id);

	if (t != NULL && t->op == op)
		t->op = NULL;
	if (v == CANCEL_ERROR)
		log_warnx("poller %s: cancel of task %s failed: %s", p->name,
		    op->id, reason != NULL ? reason : "error");
	if (v == CANCEL_DONE && t != NULL)
		tasktab_finish(p->ps->env.tt, t, PX_STATE_CANCELLED, NULL,
		    "cancelled", "cancelled at a client's request; the "
		    "poller's cancel function accepted", NULL, real_now());
	while ((l = LIST_FIRST(&op->listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		l->cb(l->arg, v, reason);
		free(l);
	}
	op_free(op);
}

/* Stop an operation for good: the kind lets go, nothing completes. */
static void
op_abort(struct op *op)
{
	struct poller *p = op->poller;

	if (op->waiting) {
		TAILQ_REMOVE(&p->waitq[op->type], op, wait_entry);
		p->nwaiting--;
		p->rate_waited += mono_ms() - op->wait_since;
		op->waiting = 0;
		if (p->nwaiting == 0)
			evtimer_del(p->rate_timer);
	} else if (op->deferred == NULL)
		op->conf->kind->abort(op);
	switch (op->type) {
	case OP_POLL:
		sched_abandon(p->sched, op->batch);
		break;
	case OP_START:
		op->task->op = NULL;
		p->starts_running--;
		break;
	case OP_CANCEL:
		break;
	}
	op_free(op);
}

void
poller_task_changed(struct poller *p, struct task *t, enum px_state old,
    int created)
{
	enum px_state st = (enum px_state)t->state;

	if (created) {
		if (st == PX_STATE_STARTING) {
			p->nstarting++;
			t->qwhere = TASK_Q_STARTQ;
			TAILQ_INSERT_TAIL(&p->startq, t, q_entry);
			poller_pump_starts(p);
		} else if (st == PX_STATE_PENDING)
			sched_add(p->sched, t);
		return;
	}
	if (old == PX_STATE_STARTING) {
		p->nstarting--;
		if (t->qwhere == TASK_Q_STARTQ) {
			TAILQ_REMOVE(&p->startq, t, q_entry);
			t->qwhere = TASK_Q_NONE;
		}
		if (t->op != NULL && t->op->type == OP_START) {
			/* Cancelled or expired while starting. */
			op_abort(t->op);
			poller_pump_starts(p);
		}
		if (st == PX_STATE_PENDING)
			sched_add(p->sched, t);
		return;
	}
	if (old == PX_STATE_PENDING && px_state_terminal(st)) {
		sched_remove(p->sched, t);
		if (t->op != NULL)
			t->op = NULL;	/* a cancel goes on; it looks up by id */
	}
}

/* Poll now. */
static void
poll_listener_free(struct poll_listener *l)
{
	TAILQ_REMOVE(&l->p->poll_listeners, l, entry);
	free(l->ids);
	free(l);
}

struct poll_listener *
poller_poll_now(struct poller *p, struct task **tasks, size_t n, poll_cb cb,
    void *arg)
{
	struct poll_listener *l = NULL;
	uint32_t tick = 0;
	size_t i;

	if (n == 0)
		return NULL;
	if (cb != NULL) {
		l = xcalloc(1, sizeof *l);
		l->ids = xcalloc(n, sizeof *l->ids);
	}
	for (i = 0; i < n; i++) {
		tick = sched_poll_now(p->sched, tasks[i]);
		if (l != NULL)
			memcpy(l->ids[i], tasks[i]->id, sizeof l->ids[i]);
	}
	if (l == NULL)
		return NULL;
	l->p = p;
	l->n = n;
	l->tick = tick;
	l->cb = cb;
	l->arg = arg;
	TAILQ_INSERT_TAIL(&p->poll_listeners, l, entry);
	return l;
}

void
poller_poll_forget(struct poll_listener *l)
{
	poll_listener_free(l);
}

/* Answer the listeners of a tick (or every one, removed: -1). */
static void
poll_listeners_answer(struct poller *p, int all, uint32_t seq)
{
	TAILQ_HEAD(, poll_listener) done = TAILQ_HEAD_INITIALIZER(done);
	struct poll_listener *l, *next;
	struct task *t;
	int64_t polled;
	size_t i;

	TAILQ_FOREACH_SAFE(l, &p->poll_listeners, entry, next) {
		if (!all && !sched_tick_le(l->tick, seq))
			continue;
		TAILQ_REMOVE(&p->poll_listeners, l, entry);
		TAILQ_INSERT_TAIL(&done, l, entry);
	}
	while ((l = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, l, entry);
		polled = all ? -1 : 0;
		for (i = 0; !all && i < l->n; i++)
			if ((t = tasktab_find(p->ps->env.tt, l->ids[i])) !=
			    NULL && t->polled_tick != 0 &&
			    sched_tick_le(l->tick, t->polled_tick))
				polled++;
		l->cb(l->arg, polled);
		free(l->ids);
		free(l);
	}
}

static void
poller_sched_ticked(void *arg, uint32_t seq)
{
	poll_listeners_answer(arg, 0, seq);
}

static void
poll_listeners_gone(struct poller *p)
{
	poll_listeners_answer(p, 1, 0);
}

void
poller_abort_all(struct poller *p)
{
	struct op *op, *next;

	TAILQ_FOREACH_SAFE(op, &p->ps->ops, entry, next)
		if (op->poller == p)
			op_abort(op);
}

json_object *
poller_to_json(const struct poller *p)
{
	static const char *const states[] = { "idle", "waiting", "polling",
		"backoff", "idle" };
	const struct sched_policy *pol = sched_policy(p->sched);
	json_object *o = json_object_new_object();
	uint64_t next = sched_next_at(p->sched), now = mono_ms();

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "kind", json_object_new_string(p->kind_name));
	json_object_object_add(o, "removed",
	    json_object_new_boolean(p->conf == NULL));
	json_object_object_add(o, "state",
	    json_object_new_string(states[sched_state(p->sched)]));
	json_object_object_add(o, "outstanding",
	    json_object_new_int64(sched_outstanding(p->sched)));
	json_object_object_add(o, "starting",
	    json_object_new_int64(p->nstarting));
	json_object_object_add(o, "in_flight",
	    json_object_new_int64(sched_inflight(p->sched)));
	json_object_object_add(o, "interval",
	    json_object_new_double((double)pol->interval / 1000));
	json_object_object_add(o, "min_interval",
	    json_object_new_double((double)pol->min_interval / 1000));
	json_object_object_add(o, "max_interval",
	    json_object_new_double((double)pol->max_interval / 1000));
	json_object_object_add(o, "max_batch",
	    json_object_new_int64(pol->max_batch));
	json_object_object_add(o, "max_inflight",
	    json_object_new_int64(pol->max_inflight));
	json_object_object_add(o, "fail_after",
	    json_object_new_int64(pol->fail_after));
	json_object_object_add(o, "has_start",
	    json_object_new_boolean(poller_has_start(p)));
	json_object_object_add(o, "has_cancel",
	    json_object_new_boolean(poller_has_cancel(p)));
	if (next != 0)
		json_object_object_add(o, "next_poll", json_object_new_double(
		    next > now ? (double)(next - now) / 1000 : 0));
	json_object_object_add(o, "polls", json_object_new_int64(p->polls));
	json_object_object_add(o, "failed_polls",
	    json_object_new_int64(p->failed_polls));
	json_object_object_add(o, "consecutive_failures",
	    json_object_new_int64(sched_consecutive_failures(p->sched)));
	if (p->last_error != NULL)
		json_object_object_add(o, "last_error",
		    json_object_new_string(p->last_error));
	if (p->rate > 0) {
		json_object_object_add(o, "rate",
		    json_object_new_double(p->rate));
		json_object_object_add(o, "burst",
		    json_object_new_int64((int64_t)p->burst));
	}
	json_object_object_add(o, "waiting",
	    json_object_new_int64(p->nwaiting));
	json_object_object_add(o, "rate_waits",
	    json_object_new_int64((int64_t)p->rate_waits));
	json_object_object_add(o, "rate_limited",
	    json_object_new_double((double)p->rate_waited / 1000));
	if (p->conf != NULL && p->conf->kind->stats != NULL)
		json_object_object_add(o, p->conf->kind->stats_key != NULL ?
		    p->conf->kind->stats_key : p->conf->kind->name,
		    p->conf->kind->stats(p->conf->kconf));
	return o;
}

void
poller_counters(const struct poller *p, struct poller_counters *pc)
{
	pc->polls = p->polls;
	pc->failed_polls = p->failed_polls;
	pc->duration = &p->poll_duration;
	pc->rate_waited_ms = p->rate_waited;
	pc->waiting = p->nwaiting;
}
