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
#include <pthread.h>
#include <signal.h>
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

/*
 * Is the file sound?  PRAGMA quick_check reads every page: mapped, they
 * are not copied by a read() each (at a million tasks it took 0.84 s so,
 * 0.47 s mapped).  Only for the check, as for the load (sq_load()): a
 * mapped file's I/O errors are signals.
 */
static int
store_check(struct sq *st, char **cause)
{
	sqlite3_stmt *s;
	const char *r;
	int rc;

	(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 2147418112", NULL, NULL,
	    NULL);
	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &s,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: cannot read the database: %s", st->path,
		    sqlite3_errmsg(st->db));
		(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 0", NULL, NULL,
		    NULL);
		return -1;
	}
	rc = sqlite3_step(s);
	r = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	if (r == NULL || strcmp(r, "ok") != 0) {
		xasprintf(cause, "%s is damaged (%s); pollexd leaves it as it "
		    "is: see docs/operations.md on recovering a state directory",
		    st->path, r != NULL ? r : sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 0", NULL, NULL,
		    NULL);
		return -1;
	}
	sqlite3_finalize(s);
	(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
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

/*
 * Loading runs in two threads (issue 17): a reader steps the SELECT and
 * copies the rows into chunks, the caller takes the chunks and gives each
 * row to cb, so SQLite's half of a restart (the VDBE, the column reads,
 * the checks) overlaps the table's half (allocation, the indexes).  The
 * caller gets every row in id order as before and the load is over when
 * sq_load() returns: nothing else runs meanwhile, the daemon answers no
 * call before its table is whole.  Without a thread it is all done in
 * the caller, as it was.
 */
#define LOAD_ROWS	256		/* rows per chunk */
#define LOAD_ARENA	(64 * 1024)	/* their strings, unless one is bigger */
#define LOAD_QUEUE	8		/* full chunks waiting, at most */

static int load_single;		/* no reader thread (tests) */

void
store_sqlite_single_thread(int single)
{
	load_single = single;
}

struct load_chunk {
	struct load_chunk *next;
	size_t n;
	struct store_row rows[LOAD_ROWS];
	const char *skip[LOAD_ROWS];	/* why row i is skipped, or NULL */
	char *arena;
	size_t used, cap;
};

struct loader {
	struct sq *st;
	sqlite3_stmt *s;
	void (*cb)(void *, const struct store_row *);
	void *arg;
	int threaded;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct load_chunk *full, **full_tail;	/* to the caller */
	size_t nfull;
	struct load_chunk *spare;		/* back to the reader */
	int done;				/* the reader is finished */
	char *error;				/* the reader's, at done */
};

static void
load_chunk_free(struct load_chunk *c)
{
	if (c != NULL) {
		free(c->arena);
		free(c);
	}
}

/* Give each row of c to the callback (in the caller's thread). */
static void
load_deliver(struct loader *l, struct load_chunk *c)
{
	const struct store_row *r;
	size_t i;

	for (i = 0; i < c->n; i++) {
		r = &c->rows[i];
		/* Replies copy these as they are: only JSON may come in.
		 * Checked here, not in the reader, which is the slower. */
		if (c->skip[i] == NULL)
			c->skip[i] = store_bad_json(r);
		if (c->skip[i] == NULL)
			l->cb(l->arg, r);
		else if (c->skip[i][0] == '\0')
			log_warnx("%s: skipping a malformed task row (%s)",
			    l->st->path, r->id != NULL ? r->id : "no id");
		else
			log_warnx("%s: skipping task %s: its %s is not JSON",
			    l->st->path, r->id, c->skip[i]);
	}
	c->n = 0;
	c->used = 0;
}

/* A chunk of rows is full (or the last): to the caller. */
static void
load_hand_over(struct loader *l, struct load_chunk *c)
{
	if (!l->threaded) {
		load_deliver(l, c);
		return;
	}
	pthread_mutex_lock(&l->mu);
	c->next = NULL;
	*l->full_tail = c;
	l->full_tail = &c->next;
	l->nfull++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* An empty chunk for the reader (c, or one the caller is done with),
 * with room for need bytes of strings; it waits while the caller has
 * LOAD_QUEUE chunks to take (the memory a load holds is bounded). */
static struct load_chunk *
load_empty(struct loader *l, struct load_chunk *c, size_t need)
{
	if (c == NULL && l->threaded) {
		pthread_mutex_lock(&l->mu);
		while (l->nfull >= LOAD_QUEUE)
			pthread_cond_wait(&l->cv, &l->mu);
		if ((c = l->spare) != NULL)
			l->spare = c->next;
		pthread_mutex_unlock(&l->mu);
	}
	if (c == NULL)
		c = xcalloc(1, sizeof *c);
	if (c->cap < need || c->cap < LOAD_ARENA) {
		c->cap = need > LOAD_ARENA ? need : LOAD_ARENA;
		free(c->arena);
		c->arena = xmalloc(c->cap);
	}
	c->n = 0;
	c->used = 0;
	return c;
}

/* The text columns of the SELECT, as read for one row. */
#define LOAD_NTEXT 12
static const int load_text_col[LOAD_NTEXT] = { 0, 1, 3, 4, 5, 6, 7, 8, 9,
	10, 11, 19 };

/* Text column i of the row (as in load_text_col) in c's arena, or NULL. */
static const char *
load_copy(struct load_chunk *c, const unsigned char *const *v,
    const int *len, int i)
{
	char *p;

	if (v[i] == NULL)
		return NULL;
	p = c->arena + c->used;
	memcpy(p, v[i], (size_t)len[i]);
	p[len[i]] = '\0';
	c->used += (size_t)len[i] + 1;
	return p;
}

/* The reader: every row into chunks; l->error set when it failed. */
static void
load_read(struct loader *l)
{
	struct sq *st = l->st;
	sqlite3_stmt *s = l->s;
	struct load_chunk *c = NULL;
	struct store_row *r;
	const unsigned char *v[LOAD_NTEXT];
	const char *state, **skip;
	int len[LOAD_NTEXT], i, rc;
	size_t need;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Each text once (its bytes are asked for after it, as
		 * SQLite wants; not for the many NULLs: the calls are most
		 * of the reader's time), then the room they take. */
		need = 0;
		for (i = 0; i < LOAD_NTEXT; i++) {
			v[i] = sqlite3_column_text(s, load_text_col[i]);
			len[i] = v[i] != NULL ?
			    sqlite3_column_bytes(s, load_text_col[i]) : 0;
			need += (size_t)len[i] + 1;
		}
		if (c != NULL && (c->n == LOAD_ROWS ||
		    c->cap - c->used < need)) {
			load_hand_over(l, c);
			/* Delivered already unless there is a thread. */
			c = l->threaded ? NULL : load_empty(l, c, need);
		}
		if (c == NULL)
			c = load_empty(l, NULL, need);
		r = &c->rows[c->n];
		skip = &c->skip[c->n];
		c->n++;
		memset(r, 0, sizeof *r);
		*skip = NULL;
		r->id = load_copy(c, v, len, 0);
		r->poller = load_copy(c, v, len, 1);
		r->owner = (uid_t)sqlite3_column_int64(s, 2);
		state = load_copy(c, v, len, 2);
		if (r->id == NULL || r->poller == NULL || state == NULL ||
		    strlen(r->id) != TASK_ID_LEN ||
		    px_state_from_name(state, &r->state) == -1) {
			*skip = "";
			continue;
		}
		r->ref = load_copy(c, v, len, 3);
		r->args = load_copy(c, v, len, 4);
		r->labels = load_copy(c, v, len, 5);
		r->idem_key = load_copy(c, v, len, 6);
		r->result = load_copy(c, v, len, 7);
		r->error_code = load_copy(c, v, len, 8);
		r->error_message = load_copy(c, v, len, 9);
		r->error_details = load_copy(c, v, len, 10);
		r->kstate = load_copy(c, v, len, 11);
		r->created = sqlite3_column_double(s, 12);
		r->updated = sqlite3_column_double(s, 13);
		r->deadline = sqlite3_column_double(s, 14);
		r->finished = sqlite3_column_double(s, 15);
		r->has_progress = sqlite3_column_type(s, 16) != SQLITE_NULL;
		r->progress = sqlite3_column_double(s, 16);
		r->polls = (uint32_t)sqlite3_column_int64(s, 17);
		r->poll_failures = (uint32_t)sqlite3_column_int64(s, 18);
	}
	if (c != NULL && c->n > 0) {
		load_hand_over(l, c);
		if (l->threaded)
			c = NULL;
	}
	if (c != NULL) {
		if (l->threaded) {
			pthread_mutex_lock(&l->mu);
			c->next = l->spare;
			l->spare = c;
			pthread_mutex_unlock(&l->mu);
		} else
			load_chunk_free(c);
	}
	if (rc != SQLITE_DONE)
		xasprintf(&l->error, "%s: reading tasks: %s", st->path,
		    sqlite3_errmsg(st->db));
}

static void *
load_thread(void *arg)
{
	struct loader *l = arg;

#ifdef __linux__
	(void)pthread_setname_np(pthread_self(), "pollexd-load");
#endif
	load_read(l);
	pthread_mutex_lock(&l->mu);
	l->done = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* The caller's side: chunks as they come, until the reader is done. */
static void
load_take(struct loader *l)
{
	struct load_chunk *c;

	for (;;) {
		pthread_mutex_lock(&l->mu);
		while (l->full == NULL && !l->done)
			pthread_cond_wait(&l->cv, &l->mu);
		if ((c = l->full) == NULL) {
			pthread_mutex_unlock(&l->mu);
			return;
		}
		if ((l->full = c->next) == NULL)
			l->full_tail = &l->full;
		l->nfull--;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		load_deliver(l, c);
		pthread_mutex_lock(&l->mu);
		c->next = l->spare;
		l->spare = c;
		pthread_mutex_unlock(&l->mu);
	}
}

static int
sq_load(void *h, void (*cb)(void *, const struct store_row *), void *arg,
    char **cause)
{
	struct sq *st = h;
	struct loader l;
	struct load_chunk *c;
	pthread_t thread;
	sigset_t all, old;
	int started = 0;

	memset(&l, 0, sizeof l);
	l.st = st;
	l.cb = cb;
	l.arg = arg;
	l.full_tail = &l.full;
	/* The whole file is read once: mapped, its pages are not copied
	 * by a read() each (only for the load: a mapped file's I/O errors
	 * are signals). */
	(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 2147418112", NULL, NULL,
	    NULL);
	if (sqlite3_prepare_v2(st->db, "SELECT id, poller, owner, state, ref, "
	    "args, labels, idem_key, result, error_code, error_message, "
	    "error_details, created, updated, deadline, finished, progress, "
	    "polls, poll_failures, kstate FROM tasks ORDER BY id", -1, &l.s,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 0", NULL, NULL,
		    NULL);
		return -1;
	}
	/* The connection is the reader's until it is done (SQLite built
	 * thread-safe); signals stay with the loop's thread. */
	if (!load_single && sqlite3_threadsafe() &&
	    pthread_mutex_init(&l.mu, NULL) == 0) {
		if (pthread_cond_init(&l.cv, NULL) == 0) {
			l.threaded = 1;
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			started = pthread_create(&thread, NULL, load_thread,
			    &l) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			if (!started) {
				l.threaded = 0;
				pthread_cond_destroy(&l.cv);
			}
		}
		if (!l.threaded)
			pthread_mutex_destroy(&l.mu);
	}
	if (started) {
		load_take(&l);
		pthread_join(thread, NULL);
		while ((c = l.spare) != NULL) {
			l.spare = c->next;
			load_chunk_free(c);
		}
		pthread_cond_destroy(&l.cv);
		pthread_mutex_destroy(&l.mu);
	} else
		load_read(&l);
	sqlite3_finalize(l.s);
	(void)sqlite3_exec(st->db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	if (l.error != NULL) {
		*cause = l.error;
		return -1;
	}
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
