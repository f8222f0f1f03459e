/* SPDX-License-Identifier: ISC */
/* sqlite.c: the "sqlite" store backend: SQLite in WAL mode.
 *
 * One writer, the event loop.  Each commit (a batch of rows and removals
 * from store.c) is one transaction, written and fsynced (synchronous=FULL)
 * before commit() returns: its completion comes at once.  The database is
 * opened in exclusive locking mode, so a second daemon on the same state
 * directory is refused instead of interleaving writes. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "xmalloc.h"

/* "st": the handle was the whole store before backends. */
struct sq {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *put, *del, *begin, *commit, *rollback;
};

/*
 * The schema of every version.  Version 1 was the first; version 2 added
 * tasks.kstate (the kind's own state of a task, such as the status URL an
 * HTTP poller follows).  A migration takes a database one version up.
 */
static const char *const schema_v1 =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE tasks (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  poller TEXT NOT NULL,\n"
    "  owner INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  ref TEXT, args TEXT, labels TEXT, idem_key TEXT, result TEXT,\n"
    "  error_code TEXT, error_message TEXT, error_details TEXT,\n"
    "  created REAL NOT NULL, updated REAL NOT NULL,\n"
    "  deadline REAL, finished REAL, progress REAL,\n"
    "  polls INTEGER NOT NULL DEFAULT 0,\n"
    "  poll_failures INTEGER NOT NULL DEFAULT 0\n"
    ") WITHOUT ROWID;\n"
    "PRAGMA user_version = 1;\n";

static const char *const schema_v2 =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE tasks (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  poller TEXT NOT NULL,\n"
    "  owner INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  ref TEXT, args TEXT, labels TEXT, idem_key TEXT, result TEXT,\n"
    "  error_code TEXT, error_message TEXT, error_details TEXT,\n"
    "  created REAL NOT NULL, updated REAL NOT NULL,\n"
    "  deadline REAL, finished REAL, progress REAL,\n"
    "  polls INTEGER NOT NULL DEFAULT 0,\n"
    "  poll_failures INTEGER NOT NULL DEFAULT 0,\n"
    "  kstate TEXT\n"
    ") WITHOUT ROWID;\n"
    "PRAGMA user_version = 2;\n";

/* migrations[v] takes a version v database to version v + 1. */
static const char *const migrations[] = {
	[1] = "ALTER TABLE tasks ADD COLUMN kstate TEXT;\n"
	      "PRAGMA user_version = 2;\n",
};

const char *
store_schema_sql(int version)
{
	switch (version) {
	case 1:
		return schema_v1;
	case 2:
		return schema_v2;
	default:
		return NULL;
	}
}

static int
store_exec(struct sq *st, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	xasprintf(cause, "%s: %s", st->path, err != NULL ? err :
	    sqlite3_errmsg(st->db));
	sqlite3_free(err);
	return -1;
}

/* A single integer from a query, or -1 with *cause. */
static int64_t
store_int(struct sq *st, const char *sql, char **cause)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return v;
}

/* Is the file sound?  PRAGMA quick_check reads every page. */
static int
store_check(struct sq *st, char **cause)
{
	sqlite3_stmt *s;
	const char *r;
	int rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &s,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: cannot read the database: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	rc = sqlite3_step(s);
	r = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	if (r == NULL || strcmp(r, "ok") != 0) {
		xasprintf(cause, "%s is damaged (%s); pollexd leaves it as it "
		    "is: see docs/operations.md on recovering a state directory",
		    st->path, r != NULL ? r : sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* Create, migrate or refuse the schema. */
static int
store_schema(struct sq *st, char **cause)
{
	int64_t version, tables;
	int v;

	if ((version = store_int(st, "PRAGMA user_version", cause)) < 0)
		return -1;
	tables = store_int(st, "SELECT count(*) FROM sqlite_master", cause);
	if (tables < 0)
		return -1;
	if (version == 0 && tables == 0) {
		if (store_exec(st, "BEGIN", cause) == -1 ||
		    store_exec(st, schema_v2, cause) == -1 ||
		    store_exec(st, "INSERT INTO meta VALUES ('created_by', "
		    "'pollex " PACKAGE_VERSION "')", cause) == -1 ||
		    store_exec(st, "COMMIT", cause) == -1)
			return -1;
		log_info("created %s (schema version %d)", st->path,
		    STORE_SCHEMA_VERSION);
		return 0;
	}
	if (version == 0 || version > 1000) {
		xasprintf(cause, "%s is not a pollex database (it has tables "
		    "but no pollex schema version); pollexd leaves it as it is",
		    st->path);
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		xasprintf(cause, "%s has schema version %lld, made by a newer "
		    "pollex; this pollexd %s knows versions up to %d: run the "
		    "newer pollexd, or restore a backup", st->path,
		    (long long)version, PACKAGE_VERSION, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (v = (int)version; v < STORE_SCHEMA_VERSION; v++) {
		if (store_exec(st, "BEGIN", cause) == -1)
			return -1;
		if (store_exec(st, migrations[v], cause) == -1) {
			store_exec(st, "ROLLBACK", cause);
			return -1;
		}
		if (store_exec(st, "COMMIT", cause) == -1)
			return -1;
		log_notice("%s: schema migrated from version %d to %d",
		    st->path, v, v + 1);
	}
	return 0;
}

static int
store_prepare(struct sq *st, const char *sql, sqlite3_stmt **s,
    char **cause)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s,
	    NULL) == SQLITE_OK)
		return 0;
	xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

static void sq_close(void *);

static int
sq_open(const struct store_params *p, void **out, char **cause)
{
	struct sq *st = xcalloc(1, sizeof *st);
	uint64_t max_size = p->max_size;
	char sql[128];
	int rc;

	*out = NULL;
	xasprintf(&st->path, "%s/%s", p->dir, STORE_FILE);
	rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "cannot open %s: %s", st->path,
		    st->db != NULL ? sqlite3_errmsg(st->db) :
		    sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* Exclusive: the lock is taken by the first read and kept. */
	if (store_exec(st, "PRAGMA locking_mode = EXCLUSIVE", cause) == -1)
		goto fail;
	rc = (int)store_int(st, "SELECT count(*) FROM sqlite_master", cause);
	if (rc < 0) {
		free(*cause);
		*cause = NULL;
		rc = sqlite3_errcode(st->db);
		if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
			xasprintf(cause, "%s is in use by another process "
			    "(another pollexd with the same state directory?)",
			    st->path);
		else if ((rc & 0xff) == SQLITE_NOTADB)
			xasprintf(cause, "%s is not a database; pollexd leaves "
			    "it as it is: see docs/operations.md on recovering "
			    "a state directory", st->path);
		else
			xasprintf(cause, "cannot read %s: %s", st->path,
			    sqlite3_errmsg(st->db));
		goto fail;
	}
	if (store_check(st, cause) == -1)
		goto fail;
	if (store_exec(st, "PRAGMA journal_mode = WAL", cause) == -1 ||
	    store_exec(st, "PRAGMA synchronous = FULL", cause) == -1)
		goto fail;
	if (max_size > 0) {
		int64_t page = store_int(st, "PRAGMA page_size", cause);
		if (page <= 0)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA max_page_count = %llu",
		    (unsigned long long)(max_size / (uint64_t)page + 1));
		if (store_exec(st, sql, cause) == -1)
			goto fail;
	}
	if (store_schema(st, cause) == -1)
		goto fail;
	if (store_prepare(st, "INSERT OR REPLACE INTO tasks (id, poller, owner, "
	    "state, ref, args, labels, idem_key, result, error_code, "
	    "error_message, error_details, created, updated, deadline, "
	    "finished, progress, polls, poll_failures, kstate) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
	    "?17, ?18, ?19, ?20)", &st->put, cause) == -1 ||
	    store_prepare(st, "DELETE FROM tasks WHERE id = ?1", &st->del,
	    cause) == -1 ||
	    store_prepare(st, "BEGIN", &st->begin, cause) == -1 ||
	    store_prepare(st, "COMMIT", &st->commit, cause) == -1 ||
	    store_prepare(st, "ROLLBACK", &st->rollback, cause) == -1)
		goto fail;
	*out = st;
	return 0;
fail:
	sq_close(st);
	return -1;
}

static void
sq_close(void *h)
{
	struct sq *st = h;

	if (st == NULL)
		return;
	sqlite3_finalize(st->put);
	sqlite3_finalize(st->del);
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_finalize(st->rollback);
	if (st->db != NULL)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}

static const char *
sq_describe(void *h)
{
	return ((struct sq *)h)->path;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* The name of a JSON column of r that is not one JSON value, or NULL. */
static const char *
store_bad_json(const struct store_row *r)
{
	if (r->ref != NULL && !task_json_valid(r->ref))
		return "ref";
	if (r->args != NULL && !task_json_valid(r->args))
		return "args";
	if (r->labels != NULL && !task_json_valid(r->labels))
		return "labels";
	if (r->result != NULL && !task_json_valid(r->result))
		return "result";
	if (r->error_details != NULL && !task_json_valid(r->error_details))
		return "error details";
	return NULL;
}

static int64_t
sq_count(void *h)
{
	struct sq *st = h;
	char *cause = NULL;
	int64_t n = store_int(st, "SELECT count(*) FROM tasks", &cause);

	free(cause);
	return n;
}

static int
sq_load(void *h, void (*cb)(void *, const struct store_row *), void *arg,
    char **cause)
{
	struct sq *st = h;
	struct store_row r;
	sqlite3_stmt *s;
	const char *state, *bad;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT id, poller, owner, state, ref, "
	    "args, labels, idem_key, result, error_code, error_message, "
	    "error_details, created, updated, deadline, finished, progress, "
	    "polls, poll_failures, kstate FROM tasks ORDER BY id", -1, &s,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof r);
		r.id = col_text(s, 0);
		r.poller = col_text(s, 1);
		r.owner = (uid_t)sqlite3_column_int64(s, 2);
		state = col_text(s, 3);
		if (r.id == NULL || r.poller == NULL || state == NULL ||
		    strlen(r.id) != TASK_ID_LEN ||
		    px_state_from_name(state, &r.state) == -1) {
			log_warnx("%s: skipping a malformed task row (%s)",
			    st->path, r.id != NULL ? r.id : "no id");
			continue;
		}
		r.ref = col_text(s, 4);
		r.args = col_text(s, 5);
		r.labels = col_text(s, 6);
		r.idem_key = col_text(s, 7);
		r.result = col_text(s, 8);
		r.error_code = col_text(s, 9);
		r.error_message = col_text(s, 10);
		r.error_details = col_text(s, 11);
		r.created = sqlite3_column_double(s, 12);
		r.updated = sqlite3_column_double(s, 13);
		r.deadline = sqlite3_column_double(s, 14);
		r.finished = sqlite3_column_double(s, 15);
		r.has_progress = sqlite3_column_type(s, 16) != SQLITE_NULL;
		r.progress = sqlite3_column_double(s, 16);
		r.polls = (uint32_t)sqlite3_column_int64(s, 17);
		r.poll_failures = (uint32_t)sqlite3_column_int64(s, 18);
		r.kstate = col_text(s, 19);
		/* Replies copy these as they are: only JSON may come in. */
		if ((bad = store_bad_json(&r)) != NULL) {
			log_warnx("%s: skipping task %s: its %s is not JSON",
			    st->path, r.id, bad);
			continue;
		}
		cb(arg, &r);
	}
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "%s: reading tasks: %s", st->path,
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void
bind_time(sqlite3_stmt *s, int i, double v)
{
	if (v > 0)
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int
store_write_row(struct sq *st, const struct store_row *t)
{
	sqlite3_stmt *s = st->put;
	int rc;

	sqlite3_reset(s);
	bind_text(s, 1, t->id);
	bind_text(s, 2, t->poller);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)t->owner);
	bind_text(s, 4, px_state_name(t->state));
	bind_text(s, 5, t->ref);
	bind_text(s, 6, t->args);
	bind_text(s, 7, t->labels);
	bind_text(s, 8, t->idem_key);
	bind_text(s, 9, t->result);
	bind_text(s, 10, t->error_code);
	bind_text(s, 11, t->error_message);
	bind_text(s, 12, t->error_details);
	sqlite3_bind_double(s, 13, t->created);
	sqlite3_bind_double(s, 14, t->updated);
	bind_time(s, 15, t->deadline);
	bind_time(s, 16, t->finished);
	if (t->has_progress)
		sqlite3_bind_double(s, 17, t->progress);
	else
		sqlite3_bind_null(s, 17);
	sqlite3_bind_int64(s, 18, t->polls);
	sqlite3_bind_int64(s, 19, t->poll_failures);
	bind_text(s, 20, t->kstate);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

static int
store_step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc;
}

/* How bad is rc?  Full (retry later) or fatal. */
static enum store_result
store_failure(struct sq *st, int rc, const char *what, char **cause)
{
	if ((rc & 0xff) == SQLITE_FULL) {
		store_step(st->rollback);
		return STORE_FULL;
	}
	xasprintf(cause, "%s: %s: %s (%s)", st->path, what, sqlite3_errstr(rc),
	    sqlite3_errmsg(st->db));
	store_step(st->rollback);
	return STORE_FATAL;
}

static enum store_result
sq_write(struct sq *st, const struct store_batch *b, char **cause)
{
	size_t i;
	int rc;

	if ((rc = store_step(st->begin)) != SQLITE_DONE)
		return store_failure(st, rc, "BEGIN", cause);
	for (i = 0; i < b->nputs; i++)
		if ((rc = store_write_row(st, &b->puts[i])) != SQLITE_DONE)
			return store_failure(st, rc, "writing a task", cause);
	for (i = 0; i < b->ndels; i++) {
		sqlite3_bind_text(st->del, 1, b->dels[i], -1, SQLITE_STATIC);
		if ((rc = store_step(st->del)) != SQLITE_DONE)
			return store_failure(st, rc, "deleting a task", cause);
	}
	if ((rc = store_step(st->commit)) != SQLITE_DONE)
		return store_failure(st, rc, "COMMIT", cause);
	return STORE_OK;
}

/* Synchronous: written and fsynced before it returns. */
static void
sq_commit(void *h, const struct store_batch *b, store_done_cb done,
    void *arg)
{
	char *cause = NULL;
	enum store_result r = sq_write(h, b, &cause);

	done(arg, r, cause);
	free(cause);
}

static int64_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void
sq_stats(void *h, json_object *o)
{
	struct sq *st = h;
	char wal[4096];

	snprintf(wal, sizeof wal, "%s-wal", st->path);
	json_object_object_add(o, "path", json_object_new_string(st->path));
	json_object_object_add(o, "size_bytes",
	    json_object_new_int64(file_size(st->path)));
	json_object_object_add(o, "wal_bytes",
	    json_object_new_int64(file_size(wal)));
	json_object_object_add(o, "schema_version",
	    json_object_new_int(STORE_SCHEMA_VERSION));
	json_object_object_add(o, "sqlite_memory_bytes",
	    json_object_new_int64(sqlite3_memory_used()));
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.count = sq_count,
	.load = sq_load,
	.commit = sq_commit,
	.stats = sq_stats,
	.describe = sq_describe,
	.close = sq_close,
};
