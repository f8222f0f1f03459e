/* SPDX-License-Identifier: ISC */
/*
 * store.c: the store as the daemon sees it (store.h): the staged changes,
 * the commit epochs, snapshots for the backend, the counters.
 *
 * Staging keeps a pointer per changed task (task->store_idx), so a task
 * changed many times in an epoch is written once, as it is when the
 * commit begins.  Then its row is copied: the backend gets a snapshot it
 * may hold until its commit ends, whatever happens to the task meanwhile.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "poller.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define STORE_BACKENDS_MAX 8

/* A commit's rows and the one allocation their strings live in. */
struct snap {
	struct store_batch b;
	char *arena;
};

struct store {
	const struct store_backend *be;
	void *h;
	struct task **puts;		/* staged rows; task->store_idx */
	size_t nputs, capputs;
	char **dels;			/* staged removals */
	size_t ndels, capdels;
	struct snap *inflight;		/* the commit in flight */
	struct snap *retry;		/* rolled back (full): goes again */
	uint64_t open;			/* the epoch staged changes are in */
	uint64_t inflight_epoch;
	uint64_t settled;
	struct timespec began;
	int sync;			/* store_commit(): no exit on fatal */
	enum store_result sync_r;
	char *sync_cause;
	store_settled_cb settled_cb;
	void *settled_arg;
	uint64_t commits, rows_written, rows_deleted, full;
	uint64_t batch_max;
	double commit_total_ms, commit_max_ms;
	struct metrics_hist commit_hist;
};

static const struct store_backend *backends[STORE_BACKENDS_MAX] = {
	&store_backend_sqlite, &store_backend_none, &store_backend_postgresql,
};

void
store_backend_register(const struct store_backend *be)
{
	size_t i;

	for (i = 0; i < STORE_BACKENDS_MAX; i++)
		if (backends[i] == NULL || strcmp(backends[i]->name,
		    be->name) == 0) {
			backends[i] = be;
			return;
		}
	fatalx("too many store backends");
}

const struct store_backend *
store_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < STORE_BACKENDS_MAX && backends[i] != NULL; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

int
store_open_backend(const char *name, const struct store_params *p,
    struct store **out, char **cause)
{
	const struct store_backend *be = store_backend_find(name);
	struct store *st;

	*out = NULL;
	if (be == NULL) {
		xasprintf(cause, "no store backend \"%s\"", name);
		return -1;
	}
	st = xcalloc(1, sizeof *st);
	st->be = be;
	st->open = 1;
	if (be->open(p, &st->h, cause) == -1) {
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

int
store_open(const char *dir, uint64_t max_size, struct store **out,
    char **cause)
{
	struct store_params p = { dir, max_size, NULL, NULL, NULL };

	return store_open_backend("sqlite", &p, out, cause);
}

void
store_set_settled_cb(struct store *st, store_settled_cb cb, void *arg)
{
	st->settled_cb = cb;
	st->settled_arg = arg;
}

static void
snap_free(struct snap *s)
{
	if (s == NULL)
		return;
	free(s->b.puts);
	free(s->b.dels);
	free(s->arena);
	free(s);
}

static void
snap_free_dels(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->b.ndels; i++)
		free(s->b.dels[i]);
	s->b.ndels = 0;
	snap_free(s);
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	/* A commit in flight is the backend's to end or drop. */
	st->be->close(st->h);
	for (i = 0; i < st->nputs; i++)
		st->puts[i]->store_idx = UINT32_MAX;
	free(st->puts);
	for (i = 0; i < st->ndels; i++)
		free(st->dels[i]);
	free(st->dels);
	if (st->inflight != NULL)
		snap_free_dels(st->inflight);
	if (st->retry != NULL)
		snap_free_dels(st->retry);
	free(st->sync_cause);
	free(st);
}

const char *
store_path(const struct store *st)
{
	return st->be->describe(st->h);
}

const char *
store_backend_name(const struct store *st)
{
	return st->be->name;
}

int64_t
store_count(struct store *st)
{
	return st->be->count != NULL ? st->be->count(st->h) : -1;
}

int
store_load(struct store *st, void (*cb)(void *, const struct store_row *),
    void *arg, char **cause)
{
	return st->be->load(st->h, cb, arg, cause);
}

void
store_put(struct store *st, struct task *t)
{
	if (t->store_idx != UINT32_MAX)
		return;		/* staged already: the commit writes it as it is */
	if (st->nputs == st->capputs) {
		st->capputs = st->capputs ? st->capputs * 2 : 256;
		st->puts = xreallocarray(st->puts, st->capputs, sizeof *st->puts);
	}
	t->store_idx = (uint32_t)st->nputs;
	st->puts[st->nputs++] = t;
}

void
store_forget(struct store *st, struct task *t)
{
	size_t i = t->store_idx;

	if (i != UINT32_MAX) {
		st->puts[i] = st->puts[--st->nputs];
		st->puts[i]->store_idx = (uint32_t)i;
		t->store_idx = UINT32_MAX;
	}
	if (st->ndels == st->capdels) {
		st->capdels = st->capdels ? st->capdels * 2 : 256;
		st->dels = xreallocarray(st->dels, st->capdels, sizeof *st->dels);
	}
	st->dels[st->ndels++] = xstrdup(t->id);
}

size_t
store_staged(const struct store *st)
{
	return st->nputs + st->ndels + (st->retry != NULL ?
	    st->retry->b.nputs + st->retry->b.ndels : 0);
}

uint64_t
store_epoch(const struct store *st)
{
	if (st->nputs + st->ndels > 0)
		return st->open;
	if (st->inflight != NULL)
		return st->inflight_epoch;
	return st->open - 1;
}

uint64_t
store_settled(const struct store *st)
{
	return st->settled;
}

int
store_healthy(const struct store *st, const char **why)
{
	return st->be->healthy == NULL || st->be->healthy(st->h, why);
}

int
store_busy(const struct store *st)
{
	return st->inflight != NULL;
}

/* The strings of a row, in the arena at *p. */
static size_t
row_len(const struct store_row *r)
{
	const char *const s[] = { r->id, r->poller, r->ref, r->args, r->labels,
		r->idem_key, r->result, r->error_code, r->error_message,
		r->error_details, r->kstate };
	size_t i, n = 0;

	for (i = 0; i < nitems(s); i++)
		if (s[i] != NULL)
			n += strlen(s[i]) + 1;
	return n;
}

static const char *
arena_copy(char **p, const char *s)
{
	char *d = *p;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*p += n;
	return d;
}

static void
row_of(struct store_row *r, const struct task *t)
{
	const struct task_error *e;

	memset(r, 0, sizeof *r);
	r->id = t->id;
	r->poller = poller_name(t->poller);
	r->owner = t->owner;
	r->state = (enum px_state)t->state;
	r->ref = t->ref;
	r->args = t->args;
	r->labels = t->labels;
	r->idem_key = task_idem_key(t);
	r->result = task_result(t);
	if ((e = task_error(t)) != NULL) {
		r->error_code = e->code;
		r->error_message = e->message;
		r->error_details = e->details;
	}
	r->kstate = task_kstate(t);
	r->created = t->created;
	r->updated = t->updated;
	r->deadline = t->deadline;
	r->finished = task_finished(t);
	r->has_progress = t->has_progress;
	r->progress = task_progress(t);
	r->polls = t->polls;
	r->poll_failures = t->poll_failures;
}

/* A row whose strings move to the arena at *p. */
static void
row_move(struct store_row *r, char **p)
{
	r->id = arena_copy(p, r->id);
	r->poller = arena_copy(p, r->poller);
	r->ref = arena_copy(p, r->ref);
	r->args = arena_copy(p, r->args);
	r->labels = arena_copy(p, r->labels);
	r->idem_key = arena_copy(p, r->idem_key);
	r->result = arena_copy(p, r->result);
	r->error_code = arena_copy(p, r->error_code);
	r->error_message = arena_copy(p, r->error_message);
	r->error_details = arena_copy(p, r->error_details);
	r->kstate = arena_copy(p, r->kstate);
}

/*
 * One snapshot of what a failed commit left (first: written before what
 * changed since) and everything staged; the staged set is emptied.
 */
static struct snap *
store_snapshot(struct store *st)
{
	struct snap *s = xcalloc(1, sizeof *s), *old = st->retry;
	size_t i, n = 0, nold = old != NULL ? old->b.nputs : 0;
	size_t dold = old != NULL ? old->b.ndels : 0;
	char *p;

	s->b.nputs = nold + st->nputs;
	s->b.puts = xreallocarray(NULL, s->b.nputs + 1, sizeof *s->b.puts);
	for (i = 0; i < nold; i++) {
		s->b.puts[i] = old->b.puts[i];
		n += row_len(&s->b.puts[i]);
	}
	for (i = 0; i < st->nputs; i++) {
		row_of(&s->b.puts[nold + i], st->puts[i]);
		n += row_len(&s->b.puts[nold + i]);
		st->puts[i]->store_idx = UINT32_MAX;
	}
	p = s->arena = xmalloc(n + 1);
	for (i = 0; i < s->b.nputs; i++)
		row_move(&s->b.puts[i], &p);
	s->b.ndels = dold + st->ndels;
	s->b.dels = xreallocarray(NULL, s->b.ndels + 1, sizeof *s->b.dels);
	for (i = 0; i < dold; i++)
		s->b.dels[i] = old->b.dels[i];
	for (i = 0; i < st->ndels; i++)
		s->b.dels[dold + i] = st->dels[i];
	if (old != NULL) {
		/* The removals moved; the rows were copied. */
		old->b.ndels = 0;
		snap_free(old);
		st->retry = NULL;
	}
	st->nputs = 0;
	st->ndels = 0;
	return s;
}

static void
store_done(void *arg, enum store_result r, const char *cause)
{
	struct store *st = arg;
	struct snap *s = st->inflight;
	struct timespec now;
	uint64_t epoch = st->inflight_epoch;
	size_t n = s->b.nputs + s->b.ndels;
	double ms;

	st->inflight = NULL;
	if (r == STORE_FATAL) {
		if (st->sync) {
			st->sync_r = r;
			free(st->sync_cause);
			st->sync_cause = xstrdup(cause != NULL ? cause :
			    "the store failed");
			st->retry = s;
			return;
		}
		log_emit(LOG_LVL_ERR, "%s; stopping so that nothing "
		    "acknowledged can be lost", cause != NULL ? cause :
		    "the store failed");
		exit(1);
	}
	st->settled = epoch;
	st->sync_r = r;
	if (r == STORE_FULL) {
		st->full++;
		st->retry = s;
	} else {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (double)(now.tv_sec - st->began.tv_sec) * 1e3 +
		    (double)(now.tv_nsec - st->began.tv_nsec) / 1e6;
		st->commits++;
		metrics_observe(&st->commit_hist, ms / 1000);
		st->commit_total_ms += ms;
		if (ms > st->commit_max_ms)
			st->commit_max_ms = ms;
		if (n > st->batch_max)
			st->batch_max = n;
		st->rows_written += s->b.nputs;
		st->rows_deleted += s->b.ndels;
		snap_free_dels(s);
	}
	if (st->settled_cb != NULL)
		st->settled_cb(st->settled_arg, epoch, r);
}

void
store_commit_begin(struct store *st)
{
	if (st->inflight != NULL || store_staged(st) == 0)
		return;
	st->inflight = store_snapshot(st);
	st->inflight_epoch = st->open++;
	clock_gettime(CLOCK_MONOTONIC, &st->began);
	st->be->commit(st->h, &st->inflight->b, store_done, st);
}

enum store_result
store_commit(struct store *st, char **cause)
{
	*cause = NULL;
	if (st->inflight != NULL || store_staged(st) == 0)
		return STORE_OK;
	st->sync = 1;
	st->sync_r = STORE_OK;
	store_commit_begin(st);
	st->sync = 0;
	if (st->sync_r == STORE_FATAL) {
		*cause = st->sync_cause;
		st->sync_cause = NULL;
	}
	return st->sync_r;
}

json_object *
store_stats(struct store *st)
{
	json_object *o = json_object_new_object();
	uint64_t rows = st->rows_written + st->rows_deleted;

	json_object_object_add(o, "backend",
	    json_object_new_string(st->be->name));
	st->be->stats(st->h, o);
	json_object_object_add(o, "commits",
	    json_object_new_int64((int64_t)st->commits));
	json_object_object_add(o, "rows_written",
	    json_object_new_int64((int64_t)st->rows_written));
	json_object_object_add(o, "rows_deleted",
	    json_object_new_int64((int64_t)st->rows_deleted));
	json_object_object_add(o, "commit_ms_mean", json_object_new_double(
	    st->commits ? st->commit_total_ms / (double)st->commits : 0));
	json_object_object_add(o, "commit_ms_max",
	    json_object_new_double(st->commit_max_ms));
	json_object_object_add(o, "batch_mean", json_object_new_double(
	    st->commits ? (double)rows / (double)st->commits : 0));
	json_object_object_add(o, "batch_max",
	    json_object_new_int64((int64_t)st->batch_max));
	json_object_object_add(o, "full_errors",
	    json_object_new_int64((int64_t)st->full));
	json_object_object_add(o, "epoch",
	    json_object_new_int64((int64_t)store_epoch(st)));
	json_object_object_add(o, "settled_epoch",
	    json_object_new_int64((int64_t)st->settled));
	json_object_object_add(o, "commit_in_flight",
	    json_object_new_boolean(st->inflight != NULL));
	return o;
}

const struct metrics_hist *
store_commit_hist(const struct store *st)
{
	return &st->commit_hist;
}
