/* SPDX-License-Identifier: ISC */
/* pollexd.c: start-up, the loop, signals, reload, and the glue that keeps
 * task table, pollers, waiters and timers in step. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "methods.h"
#include "metrics.h"
#include "poller.h"
#include "pollexd.h"
#include "proc.h"
#include "sdnotify.h"
#include "server.h"
#include "call.h"
#include "store.h"
#include "util.h"
#include "waits.h"
#include "xmalloc.h"

#define PURGE_BATCH 1000	/* tasks purged per loop iteration */
#define STATUS_PERIOD_US 5000000	/* STATUS= at most this often */
#define DEFAULT_CONF SYSCONFDIR "/pollex/pollexd.conf"
#define NOFILE_WANT 65536	/* descriptors wanted at least */
#define NOFILE_SPARE 1024	/* beyond clients: pollers, the store */

/* The daemon. */
struct pxd {
	struct core core;		/* what the methods and metrics see */
	struct pollers *pollers;	/* = core.pollers */
	char *conf_file;		/* NULL: built-in defaults */
	char *socket_path;
	char *state_dir;
	struct metrics *metrics;	/* NULL: no metrics_listen */
	TAILQ_HEAD(ack_list, ack) acks;	/* replies waiting for the commit */
	uint64_t acking;		/* the epoch of the ack replying now */
	struct admit *admits;		/* new tasks waiting for their commit */
	size_t nadmit, capadmit, admit_head;
	struct event *ev_deadline;
	int deadline_dirty;		/* the next deadline may have moved */
	struct event *ev_commit;	/* a delayed group commit is due */
	uint64_t staged_since;		/* mono ms of the oldest staged change */
	struct event *ev_purge;
	struct event *ev_signals[4];
	struct event *ev_notify;	/* STATUS= and WATCHDOG=1 timer */
	uint64_t watchdog_usec;		/* 0: no watchdog */
	int watchdog_due;		/* send WATCHDOG=1 after this iteration */
	int store_failing;		/* the last commit found the store full */
	char status[160];		/* the last STATUS= sent */
	uint64_t rng;
};

/* A reply held until the commit of the changes it reports. */
struct ack {
	TAILQ_ENTRY(ack) entry;
	struct pxd *pxd;
	struct call *call;
	uint64_t epoch;		/* durable with this epoch */
	char *reply;		/* the reply's parameters, JSON text */
	char **ids;
	size_t nids;
};

/* A new task that enters its poller when its row is durable (NULL: it
 * went before, see pxd_admit_forget()). */
struct admit {
	uint64_t epoch;
	struct task *t;
};

static uint64_t
pxd_random(void *arg)
{
	struct pxd *pxd = arg;

	/* xorshift64*: jitter only, not secrets. */
	pxd->rng ^= pxd->rng >> 12;
	pxd->rng ^= pxd->rng << 25;
	pxd->rng ^= pxd->rng >> 27;
	return pxd->rng * 0x2545f4914f6cdd1dULL;
}

static void
pxd_timer_add(struct event *ev, double secs)
{
	struct timeval tv;

	if (!(secs > 0))
		secs = 0;
	if (secs > 1e8)
		secs = 1e8;
	tv.tv_sec = (time_t)floor(secs);
	tv.tv_usec = (suseconds_t)((secs - floor(secs)) * 1e6);
	evtimer_add(ev, &tv);
}

static void
pxd_arm_purge(struct pxd *pxd, double finished)
{
	if (evtimer_pending(pxd->ev_purge, NULL))
		return;
	pxd_timer_add(pxd->ev_purge,
	    finished + (double)pxd->core.conf->retention / 1000 - real_now());
}

/* t enters its poller once the epoch its creation is staged in is
 * durable (pxd_admit()). */
static void
pxd_admit_later(struct pxd *pxd, struct task *t)
{
	struct admit *a;

	if (pxd->nadmit == pxd->capadmit) {
		if (pxd->admit_head > 0) {
			memmove(pxd->admits, pxd->admits + pxd->admit_head,
			    (pxd->nadmit - pxd->admit_head) *
			    sizeof *pxd->admits);
			pxd->nadmit -= pxd->admit_head;
			pxd->admit_head = 0;
		}
		if (pxd->nadmit == pxd->capadmit) {
			pxd->capadmit = pxd->capadmit ? pxd->capadmit * 2 :
			    256;
			pxd->admits = xreallocarray(pxd->admits,
			    pxd->capadmit, sizeof *pxd->admits);
		}
	}
	a = &pxd->admits[pxd->nadmit++];
	a->epoch = store_epoch(pxd->core.store);
	a->t = t;
	t->unadmitted = 1;
}

/* A task waiting for admission is freed (discarded when its commit
 * failed, or purged): rare, and the queue holds only the tasks of epochs
 * not settled yet. */
static void
pxd_admit_forget(struct pxd *pxd, struct task *t)
{
	size_t i;

	for (i = pxd->admit_head; i < pxd->nadmit; i++)
		if (pxd->admits[i].t == t) {
			pxd->admits[i].t = NULL;
			return;
		}
}

/* The tasks created in epochs up to durable enter their pollers: starts
 * run, polls are scheduled.  Those gone since (discarded, purged) or
 * finished (cancelled, expired) are skipped. */
static void
pxd_admit(struct pxd *pxd, uint64_t durable)
{
	struct admit *a;
	struct task *t;

	while (pxd->admit_head < pxd->nadmit) {
		a = &pxd->admits[pxd->admit_head];
		if (a->epoch > durable)
			break;
		pxd->admit_head++;
		if ((t = a->t) == NULL || !t->unadmitted)
			continue;
		t->unadmitted = 0;
		if (!px_state_terminal((enum px_state)t->state))
			poller_task_changed(t->poller, t,
			    (enum px_state)t->state, 1);
	}
	if (pxd->admit_head == pxd->nadmit)
		pxd->admit_head = pxd->nadmit = 0;
}

/* Task events: scheduler and starts first, then waiters and watchers. */
static void
pxd_task_event(void *arg, struct task *t, enum task_event ev,
    enum px_state old)
{
	struct pxd *pxd = arg;

	switch (ev) {
	case TASK_EV_CREATED:
		if (pxd->core.store != NULL) {
			/* Nothing runs for it before its row is durable. */
			store_put(pxd->core.store, t);
			pxd_admit_later(pxd, t);
		} else
			poller_task_changed(t->poller, t, old, 1);
		if (t->deadline > 0)
			pxd->deadline_dirty = 1;
		break;
	case TASK_EV_STATE:
		if (pxd->core.store != NULL)
			store_put(pxd->core.store, t);
		if (!t->unadmitted)
			poller_task_changed(t->poller, t, old, 0);
		if (px_state_terminal((enum px_state)t->state)) {
			pxd->core.counters.completed++;
			pxd_arm_purge(pxd, task_finished(t));
			if (t->deadline > 0)
				pxd->deadline_dirty = 1;
		}
		break;
	case TASK_EV_PURGED:
		if (pxd->core.store != NULL)
			store_forget(pxd->core.store, t);
		if (t->unadmitted)
			pxd_admit_forget(pxd, t);
		break;
	default:
		break;
	}
	waits_task_event(pxd->core.waits, t, ev);
}

static const struct tasktab_hooks pxd_task_hooks = { pxd_task_event };

static void pxd_commit_cb(evutil_socket_t, short, void *);
static void pxd_final_commit(struct pxd *);

static void
pxd_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pxd *pxd = arg;

	(void)fd;
	(void)what;
	tasktab_expire(pxd->core.tt, real_now());
	pxd->deadline_dirty = 1;
}

static void
pxd_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pxd *pxd = arg;
	double now = real_now(), next;
	size_t n;

	(void)fd;
	(void)what;
	n = tasktab_purge(pxd->core.tt, now - (double)pxd->core.conf->retention / 1000,
	    PURGE_BATCH, &next);
	if (n > 0)
		log_debug("purged %zu finished tasks", n);
	if (next > 0)
		pxd_arm_purge(pxd, next);
}

/* A task changed in a way worth persisting, outside the table's events. */
static void
pxd_task_touched(void *arg, struct task *t)
{
	struct pxd *pxd = arg;

	if (pxd->core.store != NULL)
		store_put(pxd->core.store, t);
}

static void
ack_free(struct ack *a)
{
	size_t i;

	TAILQ_REMOVE(&a->pxd->acks, a, entry);
	for (i = 0; i < a->nids; i++)
		free(a->ids[i]);
	free(a->ids);
	free(a->reply);
	free(a);
}

static void
ack_abort_cb(struct call *c, void *arg)
{
	(void)c;
	ack_free(arg);
}

static void
pxd_reply_after_commit(void *arg, struct call *call, char *reply,
    char **ids, size_t nids)
{
	struct pxd *pxd = arg;
	struct ack *a;
	size_t i;

	if (pxd->core.store == NULL ||
	    store_epoch(pxd->core.store) <= store_settled(pxd->core.store)) {
		/* Nothing it reports waits for a commit (a Submit that
		 * found its tasks by idempotency key). */
		for (i = 0; i < nids; i++)
			free(ids[i]);
		free(ids);
		call_reply_text(call, reply);
		free(reply);
		return;
	}
	a = xcalloc(1, sizeof *a);
	a->pxd = pxd;
	a->call = call;
	a->epoch = store_epoch(pxd->core.store);
	a->reply = reply;
	a->ids = ids;
	a->nids = nids;
	TAILQ_INSERT_TAIL(&pxd->acks, a, entry);
	call_on_abort(call, ack_abort_cb, a);
	call_set_held(call, sizeof *a + strlen(reply) + 1 +
	    nids * (sizeof *ids + TASK_ID_LEN + 1));
}

/* The epoch a reply or event said now must wait for. */
static uint64_t
pxd_reply_epoch(void *arg)
{
	struct pxd *pxd = arg;

	if (pxd->core.store == NULL)
		return 0;
	if (pxd->acking != 0)
		return pxd->acking;
	return store_epoch(pxd->core.store);
}

/*
 * An epoch's commit ended.  Durable: the Submits it carries are answered,
 * its new tasks enter their pollers, and what clients were told about it
 * goes out.  Full: it was rolled back and is retried with the next commit;
 * the tasks submitted in it are discarded and their Submits refused (the
 * other changes stay in memory, and what was said of them goes out).
 */
static void
pxd_settled(void *arg, uint64_t epoch, enum store_result r)
{
	struct pxd *pxd = arg;
	struct ack *a, *next;
	struct call *c;
	struct task *t;
	size_t i;
	static uint64_t full_logged;

	pxd->store_failing = r != STORE_OK;
	/* What was said up to this epoch goes first; the replies made
	 * below follow it, straight to the clients' output. */
	if (pxd->core.server != NULL)
		server_settled(pxd->core.server, epoch);
	if (r == STORE_FULL) {
		if (mono_ms() - full_logged > 10000) {
			log_warnx("%s: the store is full (disk full or "
			    "store_max_size reached): new tasks are refused; "
			    "other changes are kept in memory and retried",
			    store_path(pxd->core.store));
			full_logged = mono_ms();
		}
		/* What was submitted in this epoch never happened. */
		TAILQ_FOREACH_SAFE(a, &pxd->acks, entry, next) {
			if (a->epoch > epoch)
				continue;
			for (i = 0; i < a->nids; i++)
				if ((t = tasktab_find(pxd->core.tt, a->ids[i])) !=
				    NULL)
					tasktab_discard(pxd->core.tt, t);
			c = a->call;
			call_on_abort(c, NULL, NULL);
			pxd->acking = a->epoch;
			ack_free(a);
			call_error1(c, PX_ERR_STORE_FAILED, "reason",
			    "the store is full (disk full or store_max_size "
			    "reached); nothing was submitted");
			pxd->acking = 0;
		}
	} else {
		/* In order; each reply needs only its own epoch. */
		TAILQ_FOREACH_SAFE(a, &pxd->acks, entry, next) {
			if (a->epoch > epoch)
				continue;
			c = a->call;
			call_on_abort(c, NULL, NULL);
			pxd->acking = a->epoch;
			call_reply_text(c, a->reply);
			pxd->acking = 0;
			ack_free(a);
		}
		pxd_admit(pxd, epoch);
	}
}

/* A call from a client. */
static void
pxd_dispatch(void *arg, struct call *c, json_object *params)
{
	struct pxd *pxd = arg;

	pxd->core.counters.calls++;
	methods_dispatch(&pxd->core, c, params);
}

static void
pxd_server_limits(const struct conf *conf, struct server_limits *l)
{
	memset(l, 0, sizeof *l);
	l->max_connections = conf->max_connections;
	l->max_connections_per_uid = conf->max_connections_per_uid;
	l->max_message_size = conf->max_message_size;
	l->max_output_buffer = conf->max_output_buffer;
	l->message_timeout = conf->message_timeout;
	l->admin_group_set = conf->admin_group != NULL;
	l->admin_gid = conf->admin_gid;
}

struct core *
pxd_core(struct pxd *pxd)
{
	return &pxd->core;
}

void
pxd_set_state_dir(struct pxd *pxd, const char *dir)
{
	free(pxd->state_dir);
	pxd->state_dir = xstrdup(dir);
}

struct server *
pxd_serve(struct pxd *pxd)
{
	struct server_limits lim;

	pxd_server_limits(pxd->core.conf, &lim);
	pxd->core.server = server_new(pxd->core.base, &lim, pxd_dispatch, pxd);
	server_set_epoch_source(pxd->core.server, pxd_reply_epoch, pxd);
	return pxd->core.server;
}

struct restore_ctx {
	struct pxd *pxd;
	struct task **outstanding;
	size_t n, cap;
	size_t loaded;
};

/* One stored row back into the table; a poller the configuration no
 * longer has is kept, removed, to hold its tasks. */
static void
pxd_restore_cb(void *arg, const struct store_row *r)
{
	struct restore_ctx *rc = arg;
	struct poller *p = poller_find(rc->pxd->pollers, r->poller);
	struct task *t;

	if (p == NULL) {
		log_warnx("stored tasks of poller %s, which the configuration "
		    "does not have: kept, not polled", r->poller);
		p = poller_new(rc->pxd->pollers, r->poller);
	}
	if ((t = tasktab_restore(rc->pxd->core.tt, r, p)) == NULL)
		return;
	rc->loaded++;
	if (!px_state_terminal((enum px_state)t->state)) {
		if (rc->n == rc->cap) {
			rc->cap = rc->cap ? rc->cap * 2 : 1024;
			rc->outstanding = xreallocarray(rc->outstanding, rc->cap,
			    sizeof *rc->outstanding);
		}
		rc->outstanding[rc->n++] = t;
	}
}

int
pxd_open_store(struct pxd *pxd, char **cause)
{
	struct restore_ctx rc = { pxd, NULL, 0, 0, 0 };
	struct store_params sp = { pxd->state_dir, pxd->core.conf->store_max_size,
		pxd->core.base, pxd->core.conf->pg_conninfo,
		pxd->core.conf->node };
	struct conf_poller *cp;
	struct task *t, *first;
	double now = real_now();
	size_t i, interrupted = 0;
	int64_t count;

	if (strcmp(pxd->core.conf->store, "none") == 0)
		log_warnx("\"store\": \"none\": tasks are kept in memory only "
		    "and lost when pollexd stops");
	if (store_open_backend(pxd->core.conf->store, &sp, &pxd->core.store,
	    cause) == -1)
		return -1;
	store_set_settled_cb(pxd->core.store, pxd_settled, pxd);
	/* One rehash of the indexes instead of twenty at a million. */
	if ((count = store_count(pxd->core.store)) > 0)
		tasktab_reserve(pxd->core.tt, (size_t)count);
	if (store_load(pxd->core.store, pxd_restore_cb, &rc, cause) == -1) {
		free(rc.outstanding);
		return -1;
	}
	tasktab_restore_done(pxd->core.tt);
	/* Outstanding tasks resume.  One that was starting when the daemon
	 * stopped may or may not have reached the remote service: its start
	 * runs again only where the poller says that is safe. */
	for (i = 0; i < rc.n; i++) {
		t = rc.outstanding[i];
		cp = poller_conf(t->poller);
		if (t->state == PX_STATE_STARTING &&
		    (cp == NULL || !cp->start_idempotent)) {
			tasktab_finish(pxd->core.tt, t, PX_STATE_FAILED, NULL,
			    "start_interrupted", "pollexd stopped while the "
			    "task was starting: its start may or may not have "
			    "reached the remote service, and the poller does "
			    "not declare its start idempotent; submit it again "
			    "if it did not", NULL, now);
			interrupted++;
			continue;
		}
		poller_task_changed(t->poller, t, (enum px_state)t->state, 1);
	}
	free(rc.outstanding);
	pxd->deadline_dirty = 1;
	if ((first = tasktab_oldest_finished(pxd->core.tt)) != NULL)
		pxd_arm_purge(pxd, task_finished(first));
	log_info("%s: %zu tasks loaded, %zu outstanding%s", store_path(
	    pxd->core.store), rc.loaded, rc.n - interrupted,
	    interrupted ? "; some starts were interrupted (failed)" : "");
	if (interrupted > 0)
		log_warnx("%zu tasks were starting when pollexd stopped; they "
		    "failed with start_interrupted", interrupted);
	return 0;
}

struct pxd *
pxd_new(struct event_base *base, struct conf *conf)
{
	struct pxd *pxd = xcalloc(1, sizeof *pxd);

	pxd->core.base = base;
	pxd->core.conf = conf;
	pxd->core.started = real_now();
	if (getrandom(&pxd->rng, sizeof pxd->rng, GRND_NONBLOCK) !=
	    (ssize_t)sizeof pxd->rng || pxd->rng == 0)
		pxd->rng = mono_us() | 1;
	TAILQ_INIT(&pxd->acks);
	pxd->core.tt = tasktab_new(&pxd_task_hooks, pxd);
	pxd->core.waits = waits_new();
	{
		struct poller_env env = { base, pxd->core.tt,
			pxd_task_touched, pxd_random, pxd };

		pxd->core.pollers = pxd->pollers = pollers_new(&env);
	}
	pxd->core.reply_after_commit = pxd_reply_after_commit;
	pxd->core.glue = pxd;
	pxd->ev_deadline = evtimer_new(base, pxd_deadline_cb, pxd);
	pxd->ev_commit = evtimer_new(base, pxd_commit_cb, pxd);
	pxd->ev_purge = evtimer_new(base, pxd_purge_cb, pxd);
	return pxd;
}

void
pxd_free(struct pxd *pxd)
{
	struct poller *p;
	sigset_t stop_sigs, old_sigs;
	size_t i;
	int sig;

	if (pxd == NULL)
		return;
	metrics_stop(pxd->metrics);
	pxd->metrics = NULL;
	if (pxd->core.server != NULL) {
		server_free(pxd->core.server);
		pxd->core.server = NULL;
	}
	for (p = poller_first(pxd->pollers); p != NULL; p = poller_next(p))
		poller_abort_all(p);
	proc_reap_all();
	/* What is staged is written before the end (a clean stop). */
	pxd_final_commit(pxd);
	store_close(pxd->core.store);
	pxd->core.store = NULL;
	/* Tasks leave their schedulers before the schedulers go. */
	tasktab_free(pxd->core.tt);
	pollers_free(pxd->pollers);
	waits_free(pxd->core.waits);
	free(pxd->admits);
	event_free(pxd->ev_deadline);
	event_free(pxd->ev_commit);
	event_free(pxd->ev_purge);
	if (pxd->ev_notify != NULL)
		event_free(pxd->ev_notify);
	/* The stop is under way: a second SIGTERM (an impatient operator,
	 * a supervisor repeating itself) must not turn a clean exit into
	 * death by signal when libevent restores the default handlers.
	 * Blocked while the events go, then ignored: one that arrived in
	 * between is discarded, not delivered. */
	sigemptyset(&stop_sigs);
	for (i = 0; i < nitems(pxd->ev_signals); i++)
		if (pxd->ev_signals[i] != NULL)
			sigaddset(&stop_sigs, event_get_signal(pxd->ev_signals[i]));
	sigprocmask(SIG_BLOCK, &stop_sigs, &old_sigs);
	for (i = 0; i < nitems(pxd->ev_signals); i++)
		if (pxd->ev_signals[i] != NULL) {
			sig = event_get_signal(pxd->ev_signals[i]);
			event_free(pxd->ev_signals[i]);
			signal(sig, SIG_IGN);
		}
	sigprocmask(SIG_SETMASK, &old_sigs, NULL);
	conf_free(pxd->core.conf);
	/* The kinds' shared parts (the HTTP transport) go last: the HTTP
	 * pollers' clients went with their configurations. */
	poller_kinds_shutdown();
	free(pxd->conf_file);
	free(pxd->socket_path);
	free(pxd->state_dir);
	free(pxd);
}

void
pxd_apply_conf(struct pxd *pxd, struct conf *conf)
{
	struct conf *old = pxd->core.conf;
	struct poller *p, *next;
	struct conf_poller *cp;
	size_t i;

	for (i = 0; i < conf->npollers; i++) {
		cp = conf->pollers[i];
		if ((p = poller_find(pxd->pollers, cp->name)) == NULL) {
			p = poller_new(pxd->pollers, cp->name);
			if (old != NULL)
				log_info("poller %s added", cp->name);
		} else if (poller_conf(p) == NULL)
			log_info("poller %s is back; its tasks resume", cp->name);
		else if (strcmp(poller_conf(p)->text, cp->text) != 0)
			log_info("poller %s changed", cp->name);
		poller_set_conf(p, cp);
	}
	for (p = poller_first(pxd->pollers); p != NULL; p = next) {
		next = poller_next(p);
		if (conf_find_poller(conf, poller_name(p)) != NULL)
			continue;
		if (poller_conf(p) != NULL) {
			log_info("poller %s removed; its outstanding tasks are "
			    "kept, not polled, until it comes back",
			    poller_name(p));
			poller_set_conf(p, NULL);
		}
		if (poller_idle(p))
			poller_free(p);
	}
	pxd->core.conf = conf;
	if (pxd->core.server != NULL) {
		struct server_limits lim;

		pxd_server_limits(conf, &lim);
		server_set_limits(pxd->core.server, &lim);
	}
	if (old != NULL && old != conf)
		conf_free(old);
}

/* STATUS= for systemctl status: outstanding tasks and pollers, sent when
 * it changed. */
static void
pxd_notify_status(struct pxd *pxd, int force)
{
	char msg[sizeof pxd->status];
	uint64_t out;
	size_t np = 0;
	struct poller *p;

	for (p = poller_first(pxd->pollers); p != NULL; p = poller_next(p))
		if (poller_conf(p) != NULL)
			np++;
	out = tasktab_count(pxd->core.tt, PX_STATE_STARTING) +
	    tasktab_count(pxd->core.tt, PX_STATE_PENDING);
	snprintf(msg, sizeof msg, "STATUS=%llu task%s outstanding, %zu "
	    "poller%s%s", (unsigned long long)out, out == 1 ? "" : "s", np,
	    np == 1 ? "" : "s", pxd->store_failing ? "; the store is full" :
	    "");
	if (!force && strcmp(msg, pxd->status) == 0)
		return;
	memcpy(pxd->status, msg, sizeof msg);
	sd_notify_send(msg);
}

/* The notify timer: STATUS= when it changed, and a watchdog keep-alive
 * that goes out after this loop iteration, if it went well. */
static void
pxd_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pxd *pxd = arg;

	(void)fd;
	(void)what;
	pxd_notify_status(pxd, 0);
	if (pxd->watchdog_usec > 0)
		pxd->watchdog_due = 1;
}

/* Start the notify timer: half the watchdog interval, or the status
 * period without a watchdog.  Nothing without $NOTIFY_SOCKET. */
static void
pxd_notify_start(struct pxd *pxd)
{
	struct timeval tv;
	uint64_t us = STATUS_PERIOD_US;
	const char *ns = getenv("NOTIFY_SOCKET");

	if (ns == NULL || *ns == '\0')
		return;
	pxd->watchdog_usec = sd_watchdog_usec();
	if (pxd->watchdog_usec > 0) {
		us = pxd->watchdog_usec / 2;
		if (us == 0)
			us = 1;
		if (us > STATUS_PERIOD_US)
			us = STATUS_PERIOD_US;
		log_info("watchdog: every %llu ms (WATCHDOG_USEC=%llu)",
		    (unsigned long long)(us / 1000),
		    (unsigned long long)pxd->watchdog_usec);
	}
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	pxd->ev_notify = event_new(pxd->core.base, -1, EV_PERSIST, pxd_notify_cb,
	    pxd);
	event_add(pxd->ev_notify, &tv);
}

/*
 * Raise the soft RLIMIT_NOFILE (1024 by default, also under systemd) to
 * what max_connections and the pollers need, within the hard limit: at
 * least NOFILE_WANT, or two per connection and NOFILE_SPARE.  Never
 * lowers it.  Says what it did, and warns when max_connections cannot be
 * reached.
 */
static void
pxd_raise_nofile(const struct conf *conf)
{
	struct rlimit rl;
	rlim_t want, old;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	old = rl.rlim_cur;
	want = (rlim_t)conf->max_connections * 2 + NOFILE_SPARE;
	if (want < NOFILE_WANT)
		want = NOFILE_WANT;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (old != RLIM_INFINITY && want > old) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("cannot raise the file descriptor limit from "
			    "%llu to %llu", (unsigned long long)old,
			    (unsigned long long)want);
			rl.rlim_cur = old;
		} else
			log_info("file descriptor limit raised from %llu to "
			    "%llu (hard limit %llu)", (unsigned long long)old,
			    (unsigned long long)want,
			    (unsigned long long)rl.rlim_max);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <
	    (rlim_t)conf->max_connections + 64)
		log_warnx("only %llu file descriptors (RLIMIT_NOFILE; "
		    "LimitNOFILE= under systemd): max_connections %u cannot "
		    "be reached", (unsigned long long)rl.rlim_cur,
		    conf->max_connections);
}

/* SIGHUP: a new configuration, or the old one and a log line saying why. */
static void
pxd_reload(struct pxd *pxd)
{
	struct conf *conf;
	char *cause, msg[128];

	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)mono_us());
	sd_notify_send(msg);
	if (pxd->conf_file == NULL) {
		log_info("reload: no configuration file; nothing to do");
		sd_notify_send("READY=1");
		return;
	}
	if (conf_load(pxd->conf_file, &conf, &cause) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", cause);
		free(cause);
		sd_notify_send("READY=1\nSTATUS=reload failed; running the "
		    "previous configuration");
		return;
	}
#define SAME(f) ((conf->f == NULL && pxd->core.conf->f == NULL) || \
    (conf->f != NULL && pxd->core.conf->f != NULL &&               \
    strcmp(conf->f, pxd->core.conf->f) == 0))
	if (!SAME(socket_path) || !SAME(state_dir) || !SAME(socket_group) ||
	    conf->socket_mode != pxd->core.conf->socket_mode)
		log_warnx("reload: socket and state_dir settings take effect "
		    "at the next start");
	if (!SAME(metrics_listen))
		log_warnx("reload: metrics_listen takes effect at the next "
		    "start");
	if (!SAME(store) || conf->store_max_size !=
	    pxd->core.conf->store_max_size)
		log_warnx("reload: store and store_max_size take effect at the "
		    "next start");
#undef SAME
	pxd_apply_conf(pxd, conf);
	pxd_raise_nofile(conf);
	log_info("configuration reloaded from %s (%zu pollers)",
	    pxd->conf_file, conf->npollers);
	sd_notify_send("READY=1");
	pxd_notify_status(pxd, 1);
}

static void
pxd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct pxd *pxd = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		pxd_reload(pxd);
		break;
	default:
		log_info("%s: stopping", strsignal((int)sig));
		pxd_stop(pxd);
		break;
	}
}

void
pxd_stop(struct pxd *pxd)
{
	pxd->core.stopping = 1;
	event_base_loopbreak(pxd->core.base);
}

/*
 * Write what is staged before the end (a clean stop): one commit, or two
 * when one is in flight, each waited for through the loop, for at most
 * 10 s in all.
 */
static void
pxd_final_commit(struct pxd *pxd)
{
	uint64_t until = mono_ms() + 10000;
	int round;

	if (pxd->core.store == NULL)
		return;
	for (round = 0; round < 2; round++) {
		if (!store_busy(pxd->core.store))
			store_commit_begin(pxd->core.store);
		while (store_busy(pxd->core.store) && mono_ms() < until)
			event_base_loop(pxd->core.base, EVLOOP_ONCE);
		if (store_staged(pxd->core.store) == 0 || pxd->store_failing)
			break;
	}
	if (store_busy(pxd->core.store) || store_staged(pxd->core.store) > 0)
		log_warnx("final commit: %zu changes not written (%s)",
		    store_staged(pxd->core.store), pxd->store_failing ?
		    "the store is full" : "the store did not answer");
}

/* The commit timer only ends a loop iteration; pxd_commit_due() then
 * finds the delay over. */
static void
pxd_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/*
 * Commit now?  Yes when anything will be said about the changes (a Submit
 * to acknowledge, any reply or event queued for a client: replies never
 * go out ahead of the commit), when stopping, when many rows are staged,
 * or when the oldest staged change has waited commit_delay.  Otherwise
 * (the start responses and outcomes nobody is waiting on) the changes
 * wait for company and the timer is armed: under a stream of such
 * changes one commit and one fsync carry many loop iterations' worth.
 */
static int
pxd_commit_due(struct pxd *pxd)
{
	uint64_t now, delay = pxd->core.conf->commit_delay;
	size_t n;

	if (pxd->core.store == NULL || store_busy(pxd->core.store))
		return 0;
	if ((n = store_staged(pxd->core.store)) == 0)
		return 0;
	if (!TAILQ_EMPTY(&pxd->acks) || delay == 0 || pxd->core.stopping ||
	    n >= 4096 || (pxd->core.server != NULL &&
	    server_has_fenced(pxd->core.server)))
		return 1;
	now = mono_ms();
	if (pxd->staged_since == 0)
		pxd->staged_since = now;
	if (now - pxd->staged_since >= delay)
		return 1;
	if (!evtimer_pending(pxd->ev_commit, NULL))
		pxd_timer_add(pxd->ev_commit,
		    (double)(pxd->staged_since + delay - now) / 1000);
	return 0;
}

void
pxd_after_iteration(struct pxd *pxd)
{
	struct poller *p, *next;
	double d;

	if (pxd->deadline_dirty) {
		pxd->deadline_dirty = 0;
		if ((d = tasktab_next_deadline(pxd->core.tt)) > 0)
			pxd_timer_add(pxd->ev_deadline, d - real_now());
		else
			evtimer_del(pxd->ev_deadline);
	}
	/* Group commit: everything staged since the last one, as one
	 * epoch; what was said about it goes out when it is durable
	 * (pxd_settled(), at once for a backend that commits in the loop). */
	if (pxd_commit_due(pxd)) {
		evtimer_del(pxd->ev_commit);
		pxd->staged_since = 0;
		store_commit_begin(pxd->core.store);
	}
	/* Pollers removed by a reload go once their last task has. */
	for (p = poller_first(pxd->pollers); p != NULL; p = next) {
		next = poller_next(p);
		if (poller_conf(p) == NULL && poller_idle(p))
			poller_free(p);
	}
	if (pxd->core.server != NULL)
		server_flush(pxd->core.server);
	/* The watchdog hears from us only while the loop turns, after the
	 * commit: a loop or an fsync that hangs stops the keep-alives.  A
	 * full store does not: it is a state pollexd works in (Submit is
	 * refused, STATUS= says so), and a restart would not empty it. */
	if (pxd->watchdog_due) {
		pxd->watchdog_due = 0;
		sd_notify_send("WATCHDOG=1");
	}
}

/* Catch SIGTERM, SIGINT and SIGHUP in the loop; before READY=1, so that
 * a stop or reload that follows it at once is not fatal. */
static void
pxd_signals(struct pxd *pxd)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	size_t i;

	for (i = 0; i < nitems(sigs); i++) {
		if (pxd->ev_signals[i] != NULL)
			continue;
		pxd->ev_signals[i] = evsignal_new(pxd->core.base, sigs[i],
		    pxd_signal_cb, pxd);
		evsignal_add(pxd->ev_signals[i], NULL);
	}
}

int
pxd_run(struct pxd *pxd)
{
	pxd_signals(pxd);
	while (!pxd->core.stopping) {
		if (event_base_loop(pxd->core.base, EVLOOP_ONCE) == -1) {
			log_warnx("event loop failed");
			return -1;
		}
		pxd_after_iteration(pxd);
	}
	sd_notify_send("STOPPING=1\nSTATUS=stopping");
	if (pxd->ev_notify != NULL)
		event_del(pxd->ev_notify);
	/* What clients were told becomes durable and goes out; then
	 * waiters hear that the daemon stops; outstanding tasks stay. */
	pxd_final_commit(pxd);
	if (pxd->core.server != NULL)
		server_stop(pxd->core.server);
	return 0;
}

/* Make sure descriptors 0, 1 and 2 exist, so no pipe or socket lands on
 * them and a child's stdio is what we meant. */
static void
pxd_sane_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static char *
pxd_default_state_dir(void)
{
	const char *env;
	char *dir;

	if ((env = getenv("STATE_DIRECTORY")) != NULL && *env == '/') {
		/* systemd may list several, separated by ':'. */
		dir = xstrdup(env);
		dir[strcspn(dir, ":")] = '\0';
		return dir;
	}
	if (geteuid() == 0 && getenv("XDG_RUNTIME_DIR") == NULL)
		return xstrdup(LOCALSTATEDIR "/lib/pollex");
	if ((env = getenv("XDG_STATE_HOME")) != NULL && *env == '/')
		return (xasprintf(&dir, "%s/pollex", env), dir);
	if ((env = getenv("HOME")) != NULL && *env == '/')
		return (xasprintf(&dir, "%s/.local/state/pollex", env), dir);
	return (xasprintf(&dir, "/tmp/pollex-state-%lu",
	    (unsigned long)geteuid()), dir);
}

/* mkdir -p, the last component with mode. */
static int
pxd_mkdir_p(const char *path, mode_t mode)
{
	char *dup = xstrdup(path), *p;
	int r = 0;

	for (p = dup + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dup, 0755) == -1 && errno != EEXIST)
			r = -1;
		*p = '/';
	}
	if (mkdir(dup, mode) == -1 && errno != EEXIST)
		r = -1;
	free(dup);
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: pollexd [-nv] [-c file] [-S socket] [--state-dir dir]\n"
	    "\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -S, --socket PATH     listen on PATH (default: $POLLEX_SOCKET,\n"
	    "                        the file's \"socket\", else\n"
	    "                        $XDG_RUNTIME_DIR/pollex/pollex.sock or\n"
	    "                        %s for the system service)\n"
	    "      --state-dir DIR   where state is kept\n"
	    "  -n, --check           check the configuration and exit\n"
	    "  -v, --verbose         log more (debug)\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            this help\n",
	    DEFAULT_CONF, PX_SYSTEM_SOCKET);
}

int
pollexd_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_file = NULL, *sock = NULL, *state = NULL, *env;
	struct event_base *base;
	struct event_config *ecfg;
	struct conf *conf;
	struct pxd *pxd;
	struct group *gr;
	char *cause, buf[512];
	int ch, check = 0, verbose = 0, r, nfds;
	struct stat st;

	while ((ch = getopt_long(argc, argv, "c:S:nvVh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_file = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'D':
			state = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("pollexd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("pollexd", verbose);
	/* Before anything opens a descriptor or starts a child. */
	nfds = check ? 0 : sd_listen_fds();
	pxd_sane_stdio();
	signal(SIGPIPE, SIG_IGN);
	hash_init();

	if (conf_file == NULL && stat(DEFAULT_CONF, &st) == 0)
		conf_file = DEFAULT_CONF;
	if (conf_file != NULL) {
		if (conf_load(conf_file, &conf, &cause) == -1) {
			if (check)
				fprintf(stderr, "pollexd: %s\n", cause);
			else
				log_emit(LOG_LVL_ERR, "%s", cause);
			free(cause);
			return 1;
		}
	} else
		conf = conf_defaults();
	if (check) {
		printf("%s: configuration OK (%zu poller%s)\n",
		    conf_file != NULL ? conf_file : "built-in defaults",
		    conf->npollers, conf->npollers == 1 ? "" : "s");
		conf_free(conf);
		return 0;
	}
	if (conf_file == NULL)
		log_notice("no configuration file (%s): running with no pollers",
		    DEFAULT_CONF);
	pxd_raise_nofile(conf);

	/* epoll's change list: libcurl drops a kept-alive connection's
	 * socket from the loop when a transfer ends and adds it back for the
	 * next, often in the same iteration; the changes then cancel out
	 * instead of costing an epoll_ctl() each.  Its caveat is a watched
	 * file that outlives its fd number: the epoll entry stays, and its
	 * events come under that number to whatever is watched there next.
	 * A spawned child's copies of the loop's fds were such files until
	 * its exec closed them; proc.c now closes them before the exec, and
	 * treats a child-exit wake-up that reaps nothing as possibly false
	 * (docs/decisions.md). */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == -1 ||
	    (base = event_base_new_with_config(ecfg)) == NULL)
		fatalx("cannot create the event loop");
	event_config_free(ecfg);
	if (poller_kinds_startup(base, &cause) == -1)
		fatalx("%s", cause);
	pxd = pxd_new(base, NULL);
	pxd->conf_file = conf_file != NULL ? xstrdup(conf_file) : NULL;
	pxd_apply_conf(pxd, conf);

	if (sock == NULL && ((env = getenv("POLLEX_SOCKET")) == NULL ||
	    *env == '\0'))
		sock = conf->socket_path;
	if (sock == NULL && px_socket_for_daemon(buf, sizeof buf) != NULL)
		sock = buf;
	if (sock == NULL)
		sock = getenv("POLLEX_SOCKET");
	if (sock == NULL)
		fatalx("cannot work out a socket path; give one with -S");
	pxd->socket_path = xstrdup(sock);

	if (state == NULL && getenv("STATE_DIRECTORY") == NULL)
		state = conf->state_dir;
	pxd->state_dir = state != NULL ? xstrdup(state) :
	    pxd_default_state_dir();
	if (pxd_mkdir_p(pxd->state_dir, 0750) == -1 ||
	    access(pxd->state_dir, W_OK | X_OK) == -1) {
		log_emit(LOG_LVL_ERR, "state directory %s: %s (pollexd needs "
		    "to create and write files there; see --state-dir)",
		    pxd->state_dir, strerror(errno));
		pxd_free(pxd);
		event_base_free(base);
		return 1;
	}

	if (pxd_open_store(pxd, &cause) == -1) {
		log_emit(LOG_LVL_ERR, "%s", cause);
		free(cause);
		pxd_free(pxd);
		event_base_free(base);
		return 1;
	}
	pxd_serve(pxd);
	if (nfds > 1)
		log_warnx("socket activation passed %d sockets; pollexd uses "
		    "the first only", nfds);
	if (nfds > 0) {
		r = server_adopt(pxd->core.server, SD_LISTEN_FDS_START, &cause);
		if (r == 0) {
			free(pxd->socket_path);
			pxd->socket_path = xstrdup(server_path(pxd->core.server));
		}
	} else {
		gr = conf->socket_group != NULL ?
		    getgrnam(conf->socket_group) : NULL;
		r = server_listen(pxd->core.server, pxd->socket_path,
		    conf->socket_mode, gr != NULL ? gr->gr_gid : (gid_t)-1,
		    &cause);
	}
	if (r == 0 && conf->metrics_listen != NULL)
		r = metrics_start(&pxd->core, conf->metrics_listen,
		    &pxd->metrics, &cause);
	if (r == -1) {
		log_emit(LOG_LVL_ERR, "%s", cause);
		free(cause);
		pxd_free(pxd);
		event_base_free(base);
		return 1;
	}
	log_info("pollexd %s listening on %s%s (state in %s; %zu poller%s "
	    "from %s)", PACKAGE_VERSION, pxd->socket_path, nfds > 0 ?
	    " (socket activation)" : "", pxd->state_dir,
	    conf->npollers, conf->npollers == 1 ? "" : "s",
	    conf_file != NULL ? conf_file : "built-in defaults");
	/* Calls are answered from here on: the socket listens, the store is
	 * loaded and the loop is about to run. */
	pxd_signals(pxd);
	sd_notify_send("READY=1");
	pxd_notify_status(pxd, 1);
	pxd_notify_start(pxd);
	r = pxd_run(pxd);
	pxd_free(pxd);
	event_base_free(base);
	libevent_global_shutdown();
	frame_cleanup();
	log_info("stopped");
	return r == 0 ? 0 : 1;
}
