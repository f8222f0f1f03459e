/* SPDX-License-Identifier: ISC */
/* waits.c: Wait calls parked on tasks, and Watch streams. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "poller.h"
#include "waits.h"
#include "xmalloc.h"

struct waitop;

/* One waited task of one Wait; on the task's waiters list until done. */
struct waitlink {
	LIST_ENTRY(waitlink) entry;
	struct waitop *op;
	struct task *task;	/* NULL once done */
	char id[TASK_ID_LEN + 1];
};

struct waitop {
	LIST_ENTRY(waitop) entry;
	struct call *call;
	enum px_return_when mode;
	int more;
	size_t n, ndone, nexc;
	struct waitlink *links;
	json_object *done;	/* without "more": the finished tasks */
	struct event *timer;
};

struct watcher {
	LIST_ENTRY(watcher) entry;
	struct call *call;
	struct caller who;
	struct watch_filter f;
};

struct waits {
	LIST_HEAD(, waitop) ops;
	LIST_HEAD(, watcher) watchers;
};

struct waits *
waits_new(void)
{
	struct waits *w = xcalloc(1, sizeof *w);

	LIST_INIT(&w->ops);
	LIST_INIT(&w->watchers);
	return w;
}

void
waits_free(struct waits *w)
{
	if (w == NULL)
		return;
	/* The server aborted every call before this. */
	free(w);
}

int
waits_visible(const struct caller *who, const struct task *t)
{
	return who->privileged || who->uid == t->owner;
}

static void
waitop_free(struct waitop *op)
{
	size_t i;

	for (i = 0; i < op->n; i++)
		if (op->links[i].task != NULL)
			LIST_REMOVE(&op->links[i], entry);
	LIST_REMOVE(op, entry);
	if (op->timer != NULL)
		event_free(op->timer);
	json_object_put(op->done);
	free(op->links);
	free(op);
}

static void
waitop_abort_cb(struct call *c, void *arg)
{
	(void)c;
	waitop_free(arg);
}

static int
waitop_satisfied(const struct waitop *op)
{
	switch (op->mode) {
	case PX_RW_FIRST_COMPLETED:
		return op->ndone >= 1;
	case PX_RW_FIRST_EXCEPTION:
		return op->nexc >= 1 || op->ndone == op->n;
	default:
		return op->ndone == op->n;
	}
}

/* The final reply: done so far (or just last), not_done, timed_out. */
static void
waitop_finish(struct waitop *op, json_object *last, int timed_out)
{
	json_object *p = json_object_new_object(), *nd, *done;
	struct call *c = op->call;
	size_t i;

	nd = json_object_new_array();
	for (i = 0; i < op->n; i++)
		if (op->links[i].task != NULL)
			json_object_array_add(nd,
			    json_object_new_string(op->links[i].id));
	if (op->more) {
		done = json_object_new_array();
		if (last != NULL)
			json_object_array_add(done, last);
	} else {
		done = op->done;
		op->done = NULL;
	}
	json_object_object_add(p, "done", done);
	json_object_object_add(p, "not_done", nd);
	json_object_object_add(p, "timed_out",
	    json_object_new_boolean(timed_out));
	waitop_free(op);
	call_reply(c, p);
}

/* A reply of a streamed Wait before its last: one task in done. */
#define WAIT_MORE_HEAD "{\"done\":["
#define WAIT_MORE_TAIL "],\"timed_out\":false}"

/* One of the waited tasks finished; returns 1 when that ended the call. */
static int
waitop_task_done(struct waitop *op, struct task *t)
{
	char *text, *p;
	size_t len;

	op->ndone++;
	if (t->state == PX_STATE_FAILED || t->state == PX_STATE_EXPIRED)
		op->nexc++;
	if (waitop_satisfied(op)) {
		if (!op->more)
			json_object_array_add(op->done, task_to_json(t));
		waitop_finish(op, op->more ? task_to_json(t) : NULL, 0);
		return 1;
	}
	if (!op->more) {
		json_object_array_add(op->done, task_to_json(t));
		return 0;
	}
	/* One reply per task: written as text, the common path of a
	 * client waiting for many tasks.  It has what the IDL requires of
	 * every reply: done and timed_out; not_done is optional and only
	 * the last reply has it (repeating it would make a streamed Wait
	 * quadratic). */
	text = task_to_text(t, &len);
	p = xmalloc(len + sizeof WAIT_MORE_HEAD + sizeof WAIT_MORE_TAIL);
	memcpy(p, WAIT_MORE_HEAD, sizeof WAIT_MORE_HEAD - 1);
	memcpy(p + sizeof WAIT_MORE_HEAD - 1, text, len);
	memcpy(p + sizeof WAIT_MORE_HEAD - 1 + len, WAIT_MORE_TAIL,
	    sizeof WAIT_MORE_TAIL);
	call_reply_more_text(op->call, p,
	    len + sizeof WAIT_MORE_HEAD + sizeof WAIT_MORE_TAIL - 2);
	free(p);
	free(text);
	return 0;
}

static void
waitop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	waitop_finish(arg, NULL, 1);
}

void
waits_wait(struct waits *w, struct event_base *base, struct call *call,
    struct task **tasks, size_t n, enum px_return_when mode, double timeout)
{
	struct waitop *op = xcalloc(1, sizeof *op);
	struct timeval tv;
	struct task **done;
	size_t i, ndone = 0;

	op->call = call;
	op->mode = mode;
	op->more = call_wants_more(call);
	op->n = n;
	op->links = xcalloc(n, sizeof *op->links);
	op->done = json_object_new_array();
	LIST_INSERT_HEAD(&w->ops, op, entry);
	done = xcalloc(n, sizeof *done);
	for (i = 0; i < n; i++) {
		struct waitlink *l = &op->links[i];
		l->op = op;
		memcpy(l->id, tasks[i]->id, sizeof l->id);
		if (px_state_terminal((enum px_state)tasks[i]->state))
			done[ndone++] = tasks[i];
		else {
			l->task = tasks[i];
			LIST_INSERT_HEAD(&tasks[i]->waiters, l, entry);
		}
	}
	call_on_abort(call, waitop_abort_cb, op);
	call_set_held(call, sizeof *op + n * sizeof *op->links);
	/* Tasks already finished count at once (one reply each with "more");
	 * the one that satisfies the condition ends the call. */
	for (i = 0; i < ndone; i++)
		if (waitop_task_done(op, done[i])) {
			free(done);
			return;
		}
	free(done);
	if (timeout >= 0) {
		op->timer = evtimer_new(base, waitop_timer_cb, op);
		tv.tv_sec = (time_t)floor(timeout);
		tv.tv_usec = (suseconds_t)((timeout - floor(timeout)) * 1e6);
		evtimer_add(op->timer, &tv);
	}
}

void
watch_filter_clear(struct watch_filter *f)
{
	size_t i;

	for (i = 0; i < f->nids; i++)
		free(f->ids[i]);
	free(f->ids);
	free(f->poller);
	if (f->labels != NULL) {
		for (i = 0; f->labels[i] != NULL; i++)
			free(f->labels[i]);
		free(f->labels);
	}
	memset(f, 0, sizeof *f);
}

static int
watch_idcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
watch_matches(const struct watcher *wa, const struct task *t)
{
	const char *id = t->id;
	size_t i;

	if (!waits_visible(&wa->who, t))
		return 0;
	if (wa->f.ids != NULL && bsearch(&id, wa->f.ids, wa->f.nids,
	    sizeof *wa->f.ids, watch_idcmp) == NULL)
		return 0;
	if (wa->f.poller != NULL &&
	    strcmp(wa->f.poller, poller_name(t->poller)) != 0)
		return 0;
	if (wa->f.labels != NULL)
		for (i = 0; wa->f.labels[i] != NULL; i += 2)
			if (!task_has_label(t, wa->f.labels[i],
			    wa->f.labels[i + 1]))
				return 0;
	return 1;
}

static void
watch_send(struct watcher *wa, const char *event, const struct task *t)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "event", json_object_new_string(event));
	if (t != NULL) {
		json_object_object_add(p, "id", json_object_new_string(t->id));
		if (strcmp(event, "purged") != 0)
			json_object_object_add(p, "task", task_to_json(t));
	}
	call_reply_more(wa->call, p);
}

static void
watcher_abort_cb(struct call *c, void *arg)
{
	struct watcher *wa = arg;

	(void)c;
	LIST_REMOVE(wa, entry);
	watch_filter_clear(&wa->f);
	free(wa);
}

void
waits_watch(struct waits *w, struct call *call, struct watch_filter *f,
    int initial, struct tasktab *tt)
{
	struct watcher *wa = xcalloc(1, sizeof *wa);
	struct task *t;

	wa->call = call;
	wa->who = *call_caller(call);
	wa->f = *f;
	memset(f, 0, sizeof *f);
	if (wa->f.ids != NULL)
		qsort(wa->f.ids, wa->f.nids, sizeof *wa->f.ids, watch_idcmp);
	if (initial)
		for (t = tasktab_first(tt); t != NULL; t = tasktab_next(tt, t))
			if (watch_matches(wa, t))
				watch_send(wa, "current", t);
	watch_send(wa, "ready", NULL);
	LIST_INSERT_HEAD(&w->watchers, wa, entry);
	call_on_abort(call, watcher_abort_cb, wa);
	call_set_held(call, sizeof *wa + wa->f.nids * (sizeof *wa->f.ids +
	    TASK_ID_LEN + 1));
}

void
waits_task_event(struct waits *w, struct task *t, enum task_event ev)
{
	struct waitlink *l;
	struct watcher *wa;
	const char *name;

	switch (ev) {
	case TASK_EV_CREATED:
		name = "created";
		break;
	case TASK_EV_PURGED:
		name = "purged";
		break;
	default:
		name = "updated";
		break;
	}
	LIST_FOREACH(wa, &w->watchers, entry)
		if (watch_matches(wa, t))
			watch_send(wa, name, t);
	if (ev != TASK_EV_STATE || !px_state_terminal((enum px_state)t->state))
		return;
	/* Finishing one Wait never touches another's links on this task. */
	while ((l = LIST_FIRST(&t->waiters)) != NULL) {
		LIST_REMOVE(l, entry);
		l->task = NULL;
		waitop_task_done(l->op, t);
	}
}
