/* SPDX-License-Identifier: ISC */
/* store.h: the durable task table: SQLite in WAL mode, group commit. */
#ifndef POLLEXD_STORE_H
#define POLLEXD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "task.h"

struct metrics_hist;

#define STORE_FILE "pollex.db"
#define STORE_SCHEMA_VERSION 2

/* One task as stored; strings belong to the store during the callback. */
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

struct store;

/*
 * Open or create DIR/pollex.db: take it exclusively (a second daemon on
 * the same directory is refused), check it, migrate an older schema,
 * refuse a newer one.  max_size (bytes, 0: no limit) caps the file.
 * Returns -1 with *cause naming the file when it cannot be used; the file
 * is then left as it was.
 */
int store_open(const char *dir, uint64_t max_size, struct store **out,
    char **cause);
void store_close(struct store *st);
const char *store_path(const struct store *st);

/* Every stored task, in id order. */
int store_load(struct store *st,
    void (*cb)(void *arg, const struct store_row *row), void *arg,
    char **cause);

/* Stage a task's current row, or its removal; nothing is written before
 * store_commit(). */
void store_put(struct store *st, struct task *t);
void store_forget(struct store *st, struct task *t);
size_t store_staged(const struct store *st);

/*
 * Write everything staged in one transaction and fsync (synchronous=FULL).
 * STORE_FULL: rolled back, the changes stay staged for the next commit.
 * STORE_FATAL: *cause says why, naming the file.
 */
enum store_result store_commit(struct store *st, char **cause);

/* For Stats: size, commits, mean and maximum commit time, batch sizes. */
json_object *store_stats(struct store *st);
/* The commits' durations (its count: the commits). */
const struct metrics_hist *store_commit_hist(const struct store *st);

/* The schema of each version, for tests of the migrations. */
const char *store_schema_sql(int version);

#endif
