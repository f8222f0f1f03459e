/* SPDX-License-Identifier: ISC */
/*
 * backend.h: what a store backend implements.
 *
 * A backend keeps the durable copy of the task table.  It never sees a
 * task: the store (store.c) hands it snapshots of rows, and reads rows
 * back at start-up.  One commit is in flight at a time; its completion
 * may come before commit() returns (SQLite, which writes and fsyncs in
 * the loop) or later from the event loop (a database across the network).
 * Backends are found by the name the "store" setting gives.
 */
#ifndef POLLEXD_STORE_BACKEND_H
#define POLLEXD_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "proto.h"

/* One task as stored. */
struct store_row {
	const char *id;
	const char *poller;
	uid_t owner;
	enum px_state state;
	const char *ref, *args, *labels, *idem_key, *result;
	const char *error_code, *error_message, *error_details;
	const char *kstate;
	double created, updated, deadline, finished, progress;
	int has_progress;
	uint32_t polls, poll_failures;
};

enum store_result {
	STORE_OK = 0,
	STORE_FULL = 1,		/* disk full or the configured size reached */
	STORE_FATAL = -1,	/* I/O error, corruption: stop the daemon */
};

/* What one commit writes: rows (inserted or replaced) and removals, in
 * one transaction.  The batch is the store's until done() was called. */
struct store_batch {
	struct store_row *puts;
	size_t nputs;
	char **dels;
	size_t ndels;
};

/* What a backend is opened with. */
struct store_params {
	const char *dir;		/* the state directory */
	uint64_t max_size;		/* bytes; 0: no limit */
	struct event_base *base;	/* for backends that complete later */
	const char *conninfo;		/* a database's connection string */
	const char *node;		/* this daemon's name in a cluster */
};

/* A commit's end: r, and for STORE_FATAL a cause naming the store. */
typedef void (*store_done_cb)(void *arg, enum store_result r,
    const char *cause);

struct store_backend {
	const char *name;
	/* Open (create, migrate); -1 with *cause naming what failed. */
	int (*open)(const struct store_params *p, void **h, char **cause);
	/* Optional: how many rows load() will give (a hint; -1: unknown). */
	int64_t (*count)(void *h);
	/* Every stored row, in id order; rows live during the callback. */
	int (*load)(void *h, void (*cb)(void *arg, const struct store_row *r),
	    void *arg, char **cause);
	/* Write b in one transaction, then call done, now or later. */
	void (*commit)(void *h, const struct store_batch *b,
	    store_done_cb done, void *arg);
	/* Its own Stats members ("path", sizes...), added to o. */
	void (*stats)(void *h, json_object *o);
	/* A name for the log ("/var/lib/pollex/pollex.db"). */
	const char *(*describe)(void *h);
	/* Optional: can it take new work now?  (A database that cannot be
	 * reached: Submit is refused, named, instead of waiting.)  *why says
	 * what is wrong. */
	int (*healthy)(void *h, const char **why);
	/* Close; a commit in flight is dropped (it is retried at start). */
	void (*close)(void *h);
};

/* The backends built in, and one a test adds. */
extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_none;
extern const struct store_backend store_backend_postgresql;
void store_backend_register(const struct store_backend *be);
const struct store_backend *store_backend_find(const char *name);

/* The schema of each SQLite version, for tests of the migrations. */
const char *store_schema_sql(int version);
/* Tests: load SQLite stores without the reader thread (as where none can
 * be started) when single is set. */
void store_sqlite_single_thread(int single);

#endif
