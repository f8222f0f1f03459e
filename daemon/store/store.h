/* SPDX-License-Identifier: ISC */
/*
 * store.h: the durable task table as the daemon sees it: changes staged
 * per task, committed in epochs by a backend (backend.h), and the epoch
 * numbers replies wait on.
 *
 * Every change belongs to the open epoch.  A commit takes everything
 * staged as one epoch; when it ends the epoch is settled: durable (OK),
 * or rolled back because the store is full (its changes are retried with
 * the next commit).  What the daemon says about the table must wait until
 * store_epoch() at the time it was said is settled.
 */
#ifndef POLLEXD_STORE_H
#define POLLEXD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "backend.h"
#include "task.h"

struct metrics_hist;

#define STORE_FILE "pollex.db"
#define STORE_SCHEMA_VERSION 2

struct store;

/* An epoch's commit ended (r is never STORE_FATAL: that exits). */
typedef void (*store_settled_cb)(void *arg, uint64_t epoch,
    enum store_result r);

/*
 * Open the backend called name ("sqlite", "none", ...).  Returns -1 with
 * *cause naming what failed (an unknown name included).
 */
int store_open_backend(const char *name, const struct store_params *p,
    struct store **out, char **cause);
/* The SQLite store in dir (tests, tools): store_open_backend("sqlite"). */
int store_open(const char *dir, uint64_t max_size, struct store **out,
    char **cause);
void store_set_settled_cb(struct store *st, store_settled_cb cb, void *arg);
void store_close(struct store *st);
/* The backend's name for the log (the database file for SQLite). */
const char *store_path(const struct store *st);
const char *store_backend_name(const struct store *st);

/* How many tasks store_load() will give, as a hint; -1: unknown. */
int64_t store_count(struct store *st);
/* Every stored task, in id order. */
int store_load(struct store *st,
    void (*cb)(void *arg, const struct store_row *row), void *arg,
    char **cause);

/* Stage a task's row (written as it is when the commit begins), or its
 * removal. */
void store_put(struct store *st, struct task *t);
void store_forget(struct store *st, struct task *t);
/* Rows and removals waiting for a commit (a failed one's included). */
size_t store_staged(const struct store *st);

/* The epoch the table as it is now becomes durable with. */
uint64_t store_epoch(const struct store *st);
/* The newest settled epoch. */
uint64_t store_settled(const struct store *st);
/* Can the store take new work (a database reachable)?  *why if not. */
int store_healthy(const struct store *st, const char **why);
/* Is a commit in flight? */
int store_busy(const struct store *st);

/*
 * Begin a commit of everything staged as one epoch, unless one is in
 * flight or nothing is staged.  The settled callback follows, at once or
 * from the loop.  A fatal failure logs and exits: nothing acknowledged
 * may be lost.
 */
void store_commit_begin(struct store *st);
/*
 * The same, for callers without a loop (tests, the final commit of a
 * synchronous backend): the result of the commit when it ended at once,
 * STORE_OK when nothing was staged.  *cause for STORE_FATAL (no exit).
 */
enum store_result store_commit(struct store *st, char **cause);

/* For Stats: the backend, commits, mean and maximum commit time, batch
 * sizes, and the backend's own members. */
json_object *store_stats(struct store *st);
/* The commits' durations (its count: the commits). */
const struct metrics_hist *store_commit_hist(const struct store *st);

#endif
