/* SPDX-License-Identifier: ISC */
/*
 * postgresql.c: the "postgresql" store backend: the task table in a
 * PostgreSQL database, written through libpq on the event loop.
 *
 * At start-up (before the loop runs) the backend connects, takes the
 * database's pollex lock, creates the tables and reads every row, all
 * synchronously.  After that nothing blocks: each commit is one multi-
 * statement transaction (upserts of whole rows, then removals) sent with
 * PQsendQuery() on a non-blocking connection and read back as the socket
 * becomes readable.  Rows are whole and upserted, so a commit whose fate
 * is unknown (the connection broke after it was sent) is simply sent
 * again once the connection is back: writing it twice leaves the same
 * table.  While the database cannot be reached the backend reconnects with
 * backoff and says so in the log; Submit is refused meanwhile (healthy()),
 * and the commit in flight waits, with the replies that depend on it.
 *
 * One daemon per database for now: the connection holds an advisory lock
 * (a second daemon is refused at start; a daemon that finds the lock taken
 * after reconnecting stops, since another wrote meanwhile).  Nodes sharing
 * a table through leases and shards are the next step (docs/cluster.md).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "xmalloc.h"

#define PG_LOCK_KEY "7283571623412"	/* pg_try_advisory_lock's key */
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_LOG_EVERY_MS 30000		/* repeat "cannot reach" this often */
#define PG_ROWS_PER_INSERT 500

enum pg_state {
	PG_DOWN,		/* waiting to reconnect */
	PG_CONNECTING,		/* PQconnectPoll() under way */
	PG_LOCKING,		/* the advisory lock asked for */
	PG_READY,		/* idle */
	PG_BUSY,		/* a commit sent, results not all read */
};

struct pg {
	PGconn *conn;
	char *conninfo;
	char *node;		/* this daemon's name (default: the host's) */
	char *name;		/* "postgresql database D on H" */
	struct event_base *base;
	struct event *ev;	/* the socket */
	struct event *retry;	/* reconnect timer */
	enum pg_state state;
	uint64_t backoff_ms;
	uint64_t down_since;	/* mono ms, 0: up */
	uint64_t down_logged;
	char *last_error;
	/* The commit in flight (sent or waiting for the connection). */
	const struct store_batch *batch;
	store_done_cb done;
	void *done_arg;
	char *err_state;	/* SQLSTATE of its first error */
	char *err_text;
	int flushing;
	int lock_ok;		/* 1 taken, 0 held by another, -1 failed */
	uint64_t reconnects, commits, resent;
};

static void pg_connect_start(struct pg *);
static void pg_io_cb(evutil_socket_t, short, void *);
static void pg_retry_cb(evutil_socket_t, short, void *);
static void pg_watch(struct pg *, short);
static void pg_send(struct pg *);

static const char *const pg_schema =
    "CREATE TABLE IF NOT EXISTS pollex_meta (\n"
    "  key text PRIMARY KEY, value text NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS pollex_tasks (\n"
    "  id text PRIMARY KEY,\n"
    "  poller text NOT NULL,\n"
    "  owner bigint NOT NULL,\n"
    "  state text NOT NULL,\n"
    "  ref text, args text, labels text, idem_key text, result text,\n"
    "  error_code text, error_message text, error_details text,\n"
    "  created double precision NOT NULL,\n"
    "  updated double precision NOT NULL,\n"
    "  deadline double precision, finished double precision,\n"
    "  progress double precision,\n"
    "  polls bigint NOT NULL DEFAULT 0,\n"
    "  poll_failures bigint NOT NULL DEFAULT 0,\n"
    "  kstate text);\n"
    "INSERT INTO pollex_meta VALUES ('schema_version', '1')\n"
    "  ON CONFLICT (key) DO NOTHING;\n";

static const char *const pg_columns =
    "id, poller, owner, state, ref, args, labels, idem_key, result, "
    "error_code, error_message, error_details, created, updated, "
    "deadline, finished, progress, polls, poll_failures, kstate";

/* libpq's messages on one line: breaks and tabs become one space, none
 * at the end. */
static void
pg_oneline(char *s)
{
	char *o = s, *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			if (o > s && o[-1] != ' ')
				*o++ = ' ';
			continue;
		}
		*o++ = *p;
	}
	while (o > s && o[-1] == ' ')
		o--;
	*o = '\0';
}

/* The server's notices ("relation ... already exists, skipping") go to
 * the debug log, not to stderr. */
static void
pg_notice(void *arg, const char *msg)
{
	char *m = xstrdup(msg);

	(void)arg;
	pg_oneline(m);
	log_debug("postgresql: %s", m);
	free(m);
}

static void
pg_set_error(struct pg *pg, const char *what, const char *msg)
{
	free(pg->last_error);
	xasprintf(&pg->last_error, "%s: %s", what, msg != NULL && *msg != '\0' ?
	    msg : "failed");
	pg_oneline(pg->last_error);
}

/* "postgresql database D on H:P" for the log, without the password. */
static void
pg_name(struct pg *pg)
{
	const char *host = PQhost(pg->conn), *port = PQport(pg->conn);

	free(pg->name);
	xasprintf(&pg->name, "postgresql database %s on %s%s%s",
	    PQdb(pg->conn) != NULL ? PQdb(pg->conn) : "?",
	    host != NULL && *host != '\0' ? host : "the default socket",
	    port != NULL && *port != '\0' ? ":" : "",
	    port != NULL ? port : "");
}

/* A query at start-up, synchronously; -1 with *cause. */
static int
pg_exec(struct pg *pg, const char *sql, ExecStatusType want, PGresult **out,
    char **cause)
{
	PGresult *r = PQexec(pg->conn, sql);

	if (PQresultStatus(r) != want) {
		xasprintf(cause, "%s: %s", pg->name,
		    PQresultErrorMessage(r)[0] != '\0' ?
		    PQresultErrorMessage(r) : PQerrorMessage(pg->conn));
		pg_oneline(*cause);
		PQclear(r);
		return -1;
	}
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static void pg_close(void *);

static int
pg_open(const struct store_params *p, void **h, char **cause)
{
	struct pg *pg = xcalloc(1, sizeof *pg);
	PGresult *r;

	*h = NULL;
	pg->base = p->base;
	pg->conninfo = xstrdup(p->conninfo != NULL ? p->conninfo : "");
	if (p->node != NULL)
		pg->node = xstrdup(p->node);
	else {
		char host[256];

		if (gethostname(host, sizeof host) == -1)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		pg->node = xstrdup(host);
	}
	pg->conn = PQconnectdb(pg->conninfo);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		/* Not the conninfo itself: it may hold a password. */
		xasprintf(cause, "postgresql: cannot connect (with the "
		    "postgresql.conninfo setting and the PG* environment): %s",
		    PQerrorMessage(pg->conn));
		pg_oneline(*cause);
		pg_close(pg);
		return -1;
	}
	PQsetNoticeProcessor(pg->conn, pg_notice, pg);
	pg_name(pg);
	if (pg_exec(pg, "SELECT pg_try_advisory_lock(" PG_LOCK_KEY ")",
	    PGRES_TUPLES_OK, &r, cause) == -1) {
		pg_close(pg);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		xasprintf(cause, "%s is in use by another pollexd (its "
		    "advisory lock is taken)", pg->name);
		pg_close(pg);
		return -1;
	}
	PQclear(r);
	if (pg_exec(pg, pg_schema, PGRES_COMMAND_OK, NULL, cause) == -1) {
		pg_close(pg);
		return -1;
	}
	if (PQsetnonblocking(pg->conn, 1) == -1) {
		xasprintf(cause, "%s: cannot make the connection "
		    "non-blocking", pg->name);
		pg_close(pg);
		return -1;
	}
	pg->state = PG_READY;
	if (pg->base != NULL) {
		pg->retry = evtimer_new(pg->base, pg_retry_cb, pg);
		/* Idle, the socket is read: a lost connection shows. */
		pg_watch(pg, EV_READ | EV_PERSIST);
	}
	log_info("store: %s, as node %s", pg->name, pg->node);
	*h = pg;
	return 0;
}

static const char *
pg_text(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static double
pg_double(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col),
	    NULL);
}

static int64_t
pg_count(void *h)
{
	struct pg *pg = h;
	PGresult *r;
	char *cause = NULL;
	int64_t n = -1;

	/* At start-up: blocking is fine. */
	PQsetnonblocking(pg->conn, 0);
	if (pg_exec(pg, "SELECT count(*) FROM pollex_tasks", PGRES_TUPLES_OK,
	    &r, &cause) == 0) {
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	free(cause);
	PQsetnonblocking(pg->conn, 1);
	return n;
}

static int
pg_load(void *h, void (*cb)(void *, const struct store_row *), void *arg,
    char **cause)
{
	struct pg *pg = h;
	struct store_row row;
	PGresult *r;
	const char *state;
	char sql[512];
	int i, n;

	/* At start-up, before the loop: blocking is fine. */
	PQsetnonblocking(pg->conn, 0);
	snprintf(sql, sizeof sql, "SELECT %s FROM pollex_tasks ORDER BY id COLLATE \"C\"",
	    pg_columns);
	if (pg_exec(pg, sql, PGRES_TUPLES_OK, &r, cause) == -1)
		return -1;
	PQsetnonblocking(pg->conn, 1);
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&row, 0, sizeof row);
		row.id = pg_text(r, i, 0);
		row.poller = pg_text(r, i, 1);
		row.owner = (uid_t)strtoll(PQgetvalue(r, i, 2), NULL, 10);
		state = pg_text(r, i, 3);
		if (row.id == NULL || row.poller == NULL || state == NULL ||
		    strlen(row.id) != TASK_ID_LEN ||
		    px_state_from_name(state, &row.state) == -1) {
			log_warnx("%s: skipping a malformed task row (%s)",
			    pg->name, row.id != NULL ? row.id : "no id");
			continue;
		}
		row.ref = pg_text(r, i, 4);
		row.args = pg_text(r, i, 5);
		row.labels = pg_text(r, i, 6);
		row.idem_key = pg_text(r, i, 7);
		row.result = pg_text(r, i, 8);
		row.error_code = pg_text(r, i, 9);
		row.error_message = pg_text(r, i, 10);
		row.error_details = pg_text(r, i, 11);
		row.created = pg_double(r, i, 12);
		row.updated = pg_double(r, i, 13);
		row.deadline = pg_double(r, i, 14);
		row.finished = pg_double(r, i, 15);
		row.has_progress = !PQgetisnull(r, i, 16);
		row.progress = pg_double(r, i, 16);
		row.polls = (uint32_t)strtoul(PQgetvalue(r, i, 17), NULL, 10);
		row.poll_failures = (uint32_t)strtoul(PQgetvalue(r, i, 18),
		    NULL, 10);
		row.kstate = pg_text(r, i, 19);
		if ((row.ref != NULL && !task_json_valid(row.ref)) ||
		    (row.args != NULL && !task_json_valid(row.args)) ||
		    (row.labels != NULL && !task_json_valid(row.labels)) ||
		    (row.result != NULL && !task_json_valid(row.result)) ||
		    (row.error_details != NULL &&
		    !task_json_valid(row.error_details))) {
			log_warnx("%s: skipping task %s: a JSON column is not "
			    "JSON", pg->name, row.id);
			continue;
		}
		cb(arg, &row);
	}
	PQclear(r);
	return 0;
}

/* ---- building a commit ------------------------------------------------ */

struct sqlbuf {
	char *p;
	size_t len, cap;
};

static void
sb_add(struct sqlbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sqlbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_literal(struct sqlbuf *b, PGconn *conn, const char *s)
{
	char *q;

	if (s == NULL) {
		sb_str(b, "NULL");
		return;
	}
	if ((q = PQescapeLiteral(conn, s, strlen(s))) == NULL)
		fatalx("postgresql: cannot quote a value: %s",
		    PQerrorMessage(conn));
	sb_str(b, q);
	PQfreemem(q);
}

static void
sb_num(struct sqlbuf *b, const char *fmt, double v, int null_if_zero)
{
	char num[64];

	if (null_if_zero && !(v > 0)) {
		sb_str(b, "NULL");
		return;
	}
	snprintf(num, sizeof num, fmt, v);
	sb_str(b, num);
}

/* Rows in id order, the last of each id kept (ON CONFLICT may not touch
 * a row twice in one statement). */
static int
pg_row_cmp(const void *a, const void *b, void *arg)
{
	const struct store_batch *bt = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(bt->puts[i].id, bt->puts[j].id);

	if (c != 0)
		return c;
	return i < j ? -1 : i > j;
}

static char *
pg_build(struct pg *pg, const struct store_batch *b)
{
	struct sqlbuf sb = { NULL, 0, 0 };
	const struct store_row *r;
	size_t *idx, i, k, n = 0, inrow = 0;
	char num[32];

	idx = xreallocarray(NULL, b->nputs + 1, sizeof *idx);
	for (i = 0; i < b->nputs; i++)
		idx[i] = i;
	qsort_r(idx, b->nputs, sizeof *idx, pg_row_cmp, (void *)b);
	for (i = 0, k = 0; i < b->nputs; i++)
		if (i + 1 == b->nputs || strcmp(b->puts[idx[i]].id,
		    b->puts[idx[i + 1]].id) != 0)
			idx[k++] = idx[i];
	n = k;
	sb_str(&sb, "BEGIN;\n");
	for (i = 0; i < n; i++) {
		r = &b->puts[idx[i]];
		if (inrow == 0) {
			sb_str(&sb, "INSERT INTO pollex_tasks (");
			sb_str(&sb, pg_columns);
			sb_str(&sb, ") VALUES ");
		} else
			sb_str(&sb, ",");
		sb_str(&sb, "(");
		sb_literal(&sb, pg->conn, r->id);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->poller);
		snprintf(num, sizeof num, ",%lld,", (long long)r->owner);
		sb_str(&sb, num);
		sb_literal(&sb, pg->conn, px_state_name(r->state));
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->ref);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->args);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->labels);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->idem_key);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->result);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->error_code);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->error_message);
		sb_str(&sb, ",");
		sb_literal(&sb, pg->conn, r->error_details);
		sb_str(&sb, ",");
		sb_num(&sb, "%.17g", r->created, 0);
		sb_str(&sb, ",");
		sb_num(&sb, "%.17g", r->updated, 0);
		sb_str(&sb, ",");
		sb_num(&sb, "%.17g", r->deadline, 1);
		sb_str(&sb, ",");
		sb_num(&sb, "%.17g", r->finished, 1);
		sb_str(&sb, ",");
		if (r->has_progress)
			sb_num(&sb, "%.17g", r->progress, 0);
		else
			sb_str(&sb, "NULL");
		snprintf(num, sizeof num, ",%u,%u,", r->polls, r->poll_failures);
		sb_str(&sb, num);
		sb_literal(&sb, pg->conn, r->kstate);
		sb_str(&sb, ")");
		if (++inrow == PG_ROWS_PER_INSERT || i + 1 == n) {
			sb_str(&sb, " ON CONFLICT (id) DO UPDATE SET "
			    "poller = EXCLUDED.poller, owner = EXCLUDED.owner, "
			    "state = EXCLUDED.state, ref = EXCLUDED.ref, "
			    "args = EXCLUDED.args, labels = EXCLUDED.labels, "
			    "idem_key = EXCLUDED.idem_key, "
			    "result = EXCLUDED.result, "
			    "error_code = EXCLUDED.error_code, "
			    "error_message = EXCLUDED.error_message, "
			    "error_details = EXCLUDED.error_details, "
			    "created = EXCLUDED.created, "
			    "updated = EXCLUDED.updated, "
			    "deadline = EXCLUDED.deadline, "
			    "finished = EXCLUDED.finished, "
			    "progress = EXCLUDED.progress, "
			    "polls = EXCLUDED.polls, "
			    "poll_failures = EXCLUDED.poll_failures, "
			    "kstate = EXCLUDED.kstate;\n");
			inrow = 0;
		}
	}
	for (i = 0; i < b->ndels; i++) {
		sb_str(&sb, i % PG_ROWS_PER_INSERT == 0 ?
		    "DELETE FROM pollex_tasks WHERE id IN (" : ",");
		sb_literal(&sb, pg->conn, b->dels[i]);
		if ((i + 1) % PG_ROWS_PER_INSERT == 0 || i + 1 == b->ndels)
			sb_str(&sb, ");\n");
	}
	sb_str(&sb, "COMMIT;\n");
	free(idx);
	return sb.p;
}

/* ---- the connection on the loop ----------------------------------------- */

static void
pg_watch(struct pg *pg, short what)
{
	if (pg->ev != NULL)
		event_free(pg->ev);
	pg->ev = event_new(pg->base, PQsocket(pg->conn), what, pg_io_cb, pg);
	event_add(pg->ev, NULL);
}

static void
pg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pg_connect_start(arg);
}

/* The connection is gone: try again later; the commit in flight waits. */
static void
pg_lost(struct pg *pg, const char *why)
{
	struct timeval tv;
	uint64_t now = mono_ms();

	if (why != NULL)
		pg_set_error(pg, "connection", why);
	if (pg->ev != NULL) {
		event_free(pg->ev);
		pg->ev = NULL;
	}
	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	if (pg->down_since == 0) {
		pg->down_since = now;
		pg->down_logged = now;
		pg->backoff_ms = PG_BACKOFF_MIN_MS;
		log_warnx("%s: %s; reconnecting (new tasks are refused, "
		    "replies that need a commit wait)", pg->name,
		    pg->last_error != NULL ? pg->last_error : "lost");
	} else {
		if (now - pg->down_logged >= PG_LOG_EVERY_MS) {
			pg->down_logged = now;
			log_warnx("%s: still unreachable after %llu s: %s",
			    pg->name, (unsigned long long)((now -
			    pg->down_since) / 1000), pg->last_error != NULL ?
			    pg->last_error : "?");
		}
		pg->backoff_ms *= 2;
		if (pg->backoff_ms > PG_BACKOFF_MAX_MS)
			pg->backoff_ms = PG_BACKOFF_MAX_MS;
	}
	pg->state = PG_DOWN;
	pg->flushing = 0;
	free(pg->err_state);
	free(pg->err_text);
	pg->err_state = pg->err_text = NULL;
	tv.tv_sec = (time_t)(pg->backoff_ms / 1000);
	tv.tv_usec = (suseconds_t)(pg->backoff_ms % 1000) * 1000;
	evtimer_add(pg->retry, &tv);
}

static void
pg_connect_start(struct pg *pg)
{
	pg->state = PG_CONNECTING;
	pg->reconnects++;
	if ((pg->conn = PQconnectStart(pg->conninfo)) == NULL ||
	    PQstatus(pg->conn) == CONNECTION_BAD) {
		pg_lost(pg, pg->conn != NULL ? PQerrorMessage(pg->conn) :
		    "out of memory");
		return;
	}
	PQsetnonblocking(pg->conn, 1);
	PQsetNoticeProcessor(pg->conn, pg_notice, pg);
	pg_watch(pg, EV_WRITE);
}

/* The connection is made: take the lock again before writing. */
static void
pg_connected(struct pg *pg)
{
	if (PQsendQuery(pg->conn, "SELECT pg_try_advisory_lock("
	    PG_LOCK_KEY ")") == 0) {
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->state = PG_LOCKING;
	pg->lock_ok = -1;
	pg->flushing = 1;
	pg_watch(pg, EV_READ | EV_WRITE);
}

/* The first error of the commit's statements, kept. */
static void
pg_note_error(struct pg *pg, PGresult *r)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (pg->err_state != NULL)
		return;
	pg->err_state = xstrdup(st != NULL ? st : "");
	pg->err_text = xstrdup(PQresultErrorMessage(r));
}

/* Every result of the commit is in: tell the store. */
static void
pg_commit_end(struct pg *pg)
{
	store_done_cb done = pg->done;
	void *arg = pg->done_arg;
	enum store_result res = STORE_OK;
	char *cause = NULL;

	pg->state = PG_READY;
	if (pg->err_state != NULL) {
		if (strncmp(pg->err_state, "08", 2) == 0 ||
		    strcmp(pg->err_state, "40001") == 0 ||
		    strcmp(pg->err_state, "40P01") == 0 ||
		    strncmp(pg->err_state, "57P", 3) == 0) {
			/* The connection, a conflict, a shutdown: again. */
			pg_set_error(pg, "commit", pg->err_text);
			pg->resent++;
			free(pg->err_state);
			free(pg->err_text);
			pg->err_state = pg->err_text = NULL;
			pg_send(pg);
			return;
		}
		if (strncmp(pg->err_state, "53", 2) == 0)
			res = STORE_FULL;	/* disk full, out of memory */
		else {
			res = STORE_FATAL;
			xasprintf(&cause, "%s: commit: %s (SQLSTATE %s)",
			    pg->name, pg->err_text, pg->err_state);
		}
		pg_set_error(pg, "commit", pg->err_text);
		free(pg->err_state);
		free(pg->err_text);
		pg->err_state = pg->err_text = NULL;
	} else
		pg->commits++;
	pg->batch = NULL;
	pg->done = NULL;
	pg->done_arg = NULL;
	done(arg, res, cause);
	free(cause);
}

/* The lock's answer is in: ready (and the commit in flight goes again),
 * or another daemon has the database. */
static void
pg_lock_end(struct pg *pg)
{
	if (pg->lock_ok == 0)
		fatalx("%s: another pollexd took the database while this one "
		    "was disconnected; stopping so that two daemons do not "
		    "write one table", pg->name);
	if (pg->lock_ok < 0) {
		pg_lost(pg, NULL);
		return;
	}
	log_notice("%s: connected again after %llu ms", pg->name,
	    (unsigned long long)(mono_ms() - pg->down_since));
	pg->down_since = 0;
	pg->state = PG_READY;
	pg_watch(pg, EV_READ | EV_PERSIST);
	if (pg->batch != NULL) {
		pg->resent++;
		pg_send(pg);
	}
}

/* Read what the server sent; results in order, never waiting. */
static void
pg_read(struct pg *pg)
{
	PGresult *r;
	PGnotify *n;

	if (PQconsumeInput(pg->conn) == 0 ||
	    PQstatus(pg->conn) == CONNECTION_BAD) {
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	while ((n = PQnotifies(pg->conn)) != NULL)
		PQfreemem(n);
	while (pg->state == PG_BUSY || pg->state == PG_LOCKING) {
		if (PQisBusy(pg->conn))
			return;
		if ((r = PQgetResult(pg->conn)) == NULL) {
			if (pg->state == PG_LOCKING)
				pg_lock_end(pg);
			else
				pg_commit_end(pg);
			return;
		}
		if (pg->state == PG_LOCKING) {
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				pg->lock_ok = strcmp(PQgetvalue(r, 0, 0),
				    "t") == 0;
			else {
				pg->lock_ok = -1;
				pg_set_error(pg, "lock",
				    PQresultErrorMessage(r));
			}
		} else if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK)
			pg_note_error(pg, r);
		PQclear(r);
	}
}

static void
pg_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg *pg = arg;
	int f;

	(void)fd;
	if (pg->state == PG_CONNECTING) {
		switch (PQconnectPoll(pg->conn)) {
		case PGRES_POLLING_READING:
			pg_watch(pg, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			pg_watch(pg, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			pg_connected(pg);
			return;
		default:
			pg_lost(pg, PQerrorMessage(pg->conn));
			return;
		}
	}
	if (pg->flushing && (what & EV_WRITE)) {
		if ((f = PQflush(pg->conn)) == -1) {
			pg_lost(pg, PQerrorMessage(pg->conn));
			return;
		}
		if (f == 0) {
			pg->flushing = 0;
			pg_watch(pg, EV_READ | EV_PERSIST);
		}
	}
	if (what & EV_READ)
		pg_read(pg);
}

/* Send the commit in flight (the connection is ready). */
static void
pg_send(struct pg *pg)
{
	char *sql = pg_build(pg, pg->batch);
	int f;

	if (PQsendQuery(pg->conn, sql) == 0) {
		free(sql);
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	free(sql);
	pg->state = PG_BUSY;
	if ((f = PQflush(pg->conn)) == -1) {
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->flushing = f == 1;
	pg_watch(pg, f == 1 ? EV_READ | EV_WRITE | EV_PERSIST :
	    EV_READ | EV_PERSIST);
}

static void
pg_commit(void *h, const struct store_batch *b, store_done_cb done, void *arg)
{
	struct pg *pg = h;

	pg->batch = b;
	pg->done = done;
	pg->done_arg = arg;
	if (pg->state == PG_READY)
		pg_send(pg);
	/* Otherwise it goes once the connection is back (pg_read()). */
}

static int
pg_healthy(void *h, const char **why)
{
	struct pg *pg = h;

	if (pg->state == PG_READY || pg->state == PG_BUSY)
		return 1;
	*why = pg->last_error != NULL ? pg->last_error :
	    "the database cannot be reached";
	return 0;
}

static void
pg_stats(void *h, json_object *o)
{
	struct pg *pg = h;

	json_object_object_add(o, "database", json_object_new_string(pg->name));
	json_object_object_add(o, "node", json_object_new_string(pg->node));
	json_object_object_add(o, "connected", json_object_new_boolean(
	    pg->state == PG_READY || pg->state == PG_BUSY));
	json_object_object_add(o, "reconnects",
	    json_object_new_int64((int64_t)pg->reconnects));
	json_object_object_add(o, "commits_resent",
	    json_object_new_int64((int64_t)pg->resent));
	if (pg->last_error != NULL)
		json_object_object_add(o, "last_error",
		    json_object_new_string(pg->last_error));
}

static const char *
pg_describe(void *h)
{
	return ((struct pg *)h)->name;
}

static void
pg_close(void *h)
{
	struct pg *pg = h;

	if (pg == NULL)
		return;
	if (pg->ev != NULL)
		event_free(pg->ev);
	if (pg->retry != NULL)
		event_free(pg->retry);
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	free(pg->conninfo);
	free(pg->node);
	free(pg->name);
	free(pg->last_error);
	free(pg->err_state);
	free(pg->err_text);
	free(pg);
}

const struct store_backend store_backend_postgresql = {
	.name = "postgresql",
	.open = pg_open,
	.count = pg_count,
	.load = pg_load,
	.commit = pg_commit,
	.stats = pg_stats,
	.describe = pg_describe,
	.healthy = pg_healthy,
	.close = pg_close,
};
