/* SPDX-License-Identifier: ISC */
/* check_store.c: the durable store: the module on its own (schema,
 * migrations, damaged files, locking, a full store), then the real daemon
 * restarted after SIGTERM and SIGKILL, and a kill -9 soak. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "harness.h"
#include "poller.h"
#include "pollexd.h"
#include "store.h"
#include "testlib.h"
#include "util.h"

#define T 10000

static char *dir;
static struct tdaemon *td;

/* ---- the module ------------------------------------------------------ */

static struct event_base *base;
static struct pxd *pxd;
static struct poller *pp;

static void
unit_setup(void)
{
	hash_init();
	dir = test_tmpdir();
	base = event_base_new();
	pxd = pxd_new(base, conf_defaults());
	pp = poller_new(pxd_core(pxd)->pollers, "p");
}

static void
unit_teardown(void)
{
	pxd_free(pxd);
	event_base_free(base);
	rm_rf(dir);
	free(dir);
}

static char *
db_path(void)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, STORE_FILE) == -1)
		abort();
	return p;
}

#define MAXROWS 64
static struct {
	char id[TASK_ID_LEN + 1];
	char state[16];
	char ref[64];
	char kstate[64];
	char err[64];
	uint32_t failures;
	int has_progress;
} rows[MAXROWS];
static int nrows;

static void
collect(void *arg, const struct store_row *r)
{
	(void)arg;
	if (nrows == MAXROWS) {
		nrows++;	/* counted, not kept */
		return;
	}
	if (nrows > MAXROWS) {
		nrows++;
		return;
	}
	snprintf(rows[nrows].id, sizeof rows[nrows].id, "%s", r->id);
	snprintf(rows[nrows].state, sizeof rows[nrows].state, "%s",
	    px_state_name(r->state));
	snprintf(rows[nrows].ref, sizeof rows[nrows].ref, "%s",
	    r->ref != NULL ? r->ref : "(null)");
	snprintf(rows[nrows].kstate, sizeof rows[nrows].kstate, "%s",
	    r->kstate != NULL ? r->kstate : "(null)");
	snprintf(rows[nrows].err, sizeof rows[nrows].err, "%s",
	    r->error_code != NULL ? r->error_code : "(null)");
	rows[nrows].failures = r->poll_failures;
	rows[nrows].has_progress = r->has_progress;
	nrows++;
}

static int
load_all(struct store *st)
{
	char *cause = NULL;

	nrows = 0;
	ck_assert_msg(store_load(st, collect, NULL, &cause) == 0, "%s", cause);
	return nrows;
}

static struct task *
mk(const char *ref)
{
	struct task_init in;

	memset(&in, 0, sizeof in);
	in.poller = pp;
	in.owner = 1000;
	in.ref = ref;
	return tasktab_create(pxd_core(pxd)->tt, &in, real_now());
}

START_TEST(test_round_trip)
{
	struct store *st = NULL;
	struct task *a, *b;
	char *cause = NULL;

	ck_assert_msg(store_open(dir, 0, &st, &cause) == 0, "%s", cause);
	a = mk("{\"n\":1}");
	b = mk("{\"n\":2}");
	task_set_kstate(b, "{\"url\":\"http://x/op/1\"}");
	b->poll_failures = 3;
	tasktab_finish(pxd_core(pxd)->tt, a, PX_STATE_FAILED, NULL, "boom", "it broke",
	    "[1]", real_now());
	store_put(st, a);
	store_put(st, b);
	store_put(st, b);		/* staged once */
	ck_assert_uint_eq(store_staged(st), 2);
	ck_assert_int_eq(load_all(st), 0);	/* nothing before the commit */
	ck_assert_int_eq(store_commit(st, &cause), STORE_OK);
	ck_assert_uint_eq(store_staged(st), 0);
	ck_assert_int_eq(load_all(st), 2);
	ck_assert_str_eq(rows[0].id, a->id);	/* in id order */
	ck_assert_str_eq(rows[0].state, "failed");
	ck_assert_str_eq(rows[0].err, "boom");
	ck_assert_str_eq(rows[1].ref, "{\"n\":2}");
	ck_assert_str_eq(rows[1].kstate, "{\"url\":\"http://x/op/1\"}");
	ck_assert_uint_eq(rows[1].failures, 3);
	ck_assert_int_eq(rows[1].has_progress, 0);
	/* Removal. */
	store_forget(st, a);
	ck_assert_int_eq(store_commit(st, &cause), STORE_OK);
	ck_assert_int_eq(load_all(st), 1);
	ck_assert_str_eq(rows[0].id, b->id);
	store_close(st);
}
END_TEST

/*
 * Many tasks with every field set one way or another, committed and read
 * back into a second daemon: each comes back the same (its whole Task
 * object, the kind's state), in the same order, and is found by id, ref
 * and idempotency key.  More rows than the loader's chunks in flight, and
 * texts bigger than a chunk's arena (issue 17).
 */
#define MANY 3000
/* A second daemon on dir has every task of tt as texts has them, found
 * by id, ref and key. */
static void
reload_and_compare(struct tasktab *tt, char **texts, const char *bigref,
    double now)
{
	struct pxd *pxd2 = pxd_new(base, conf_defaults());
	struct poller *p2 = poller_new(pxd_core(pxd2)->pollers, "p");
	struct tasktab *tt2;
	struct task_init in;
	struct task *t, *t2;
	char *text, *got, *cause = NULL;
	size_t len, i;
	int k;

	(void)poller_new(pxd_core(pxd2)->pollers, "q");
	pxd_set_state_dir(pxd2, dir);
	ck_assert_msg(pxd_open_store(pxd2, &cause) == 0, "%s", cause);
	tt2 = pxd_core(pxd2)->tt;
	ck_assert_uint_eq(tasktab_size(tt2), MANY);
	for (k = 0; k < PX_STATE_COUNT; k++)
		ck_assert_uint_eq(tasktab_count(tt2, (enum px_state)k),
		    tasktab_count(tt, (enum px_state)k));
	for (k = 1000; k < 1003; k++)
		ck_assert_uint_eq(tasktab_outstanding_of(tt2, (uid_t)k),
		    tasktab_outstanding_of(tt, (uid_t)k));
	i = 0;
	for (t2 = tasktab_first(tt2); t2 != NULL; t2 = tasktab_next(tt2, t2)) {
		ck_assert_uint_lt(i, MANY);
		text = task_to_text(t2, &len);
		if (asprintf(&got, "%s kstate=%s", text, task_kstate(t2) !=
		    NULL ? task_kstate(t2) : "-") == -1)
			abort();
		ck_assert_msg(strcmp(got, texts[i]) == 0,
		    "task %zu:\n%.300s\nwas\n%.300s", i, got, texts[i]);
		free(got);
		free(text);
		ck_assert_ptr_eq(tasktab_find(tt2, t2->id), t2);
		ck_assert_ptr_nonnull(t2->ref);
		ck_assert_ptr_eq(tasktab_find_ref(tt2, t2->owner,
		    t2->poller, t2->ref), t2);
		if (task_idem_key(t2) != NULL)
			ck_assert_ptr_eq(tasktab_find_key(tt2, t2->owner,
			    task_idem_key(t2)), t2);
		i++;
	}
	ck_assert_uint_eq(i, MANY);
	/* Not found where they are not. */
	ck_assert_ptr_null(tasktab_find_ref(tt2, 1001, p2,
	    "{\"n\":0}"));
	ck_assert_ptr_null(tasktab_find_key(tt2, 1001, "key-0"));
	ck_assert_ptr_nonnull(tasktab_find_key(tt2, 1000, "key-0"));
	ck_assert_ptr_eq(tasktab_find_ref(tt2, 1002, p2, bigref),
	    tasktab_find_key(tt2, 1002, "key-5"));
	/* New ids sort after every restored one. */
	memset(&in, 0, sizeof in);
	in.poller = p2;
	in.owner = 1000;
	in.ref = "{\"n\":\"new\"}";
	t = tasktab_create(tt2, &in, now - 3600);
	ck_assert_ptr_null(tasktab_next(tt2, t));
	tasktab_discard(tt2, t);	/* not stored: the next round reads */
	pxd_free(pxd2);
}

START_TEST(test_many_tasks_round_trip)
{
	struct poller *pq = poller_new(pxd_core(pxd)->pollers, "q");
	struct tasktab *tt = pxd_core(pxd)->tt;
	struct task_init in;
	struct store *st = NULL;
	struct task *t;
	char **texts, *big, *bigref, ref[64], args[64], labels[64], key[32];
	char detail[32], result[32], *text, *cause = NULL;
	double now = real_now();
	size_t len, n, i;
	int k;

	/* A ref of 100 KB, args of 200 KB: past the 64 KB arena. */
	big = malloc(200 * 1024 + 32);
	bigref = malloc(100 * 1024 + 32);
	ck_assert(big != NULL && bigref != NULL);
	strcpy(big, "{\"blob\":\"");
	memset(big + 9, 'x', 200 * 1024);
	strcpy(big + 9 + 200 * 1024, "\"}");
	strcpy(bigref, "{\"blob\":\"");
	memset(bigref + 9, 'y', 100 * 1024);
	strcpy(bigref + 9 + 100 * 1024, "\"}");
	for (k = 0; k < MANY; k++) {
		memset(&in, 0, sizeof in);
		in.poller = k % 2 ? pp : pq;
		in.owner = (uid_t)(1000 + k % 3);
		snprintf(ref, sizeof ref, "{\"n\":%d}", k);
		/* Some start without a ref and get one (not in the block). */
		in.ref = k == 5 ? bigref : k % 7 == 0 ? NULL : ref;
		snprintf(args, sizeof args, "{\"a\":[%d,\"x\"]}", k);
		in.args = k == 6 ? big : k % 3 == 0 ? args : NULL;
		snprintf(labels, sizeof labels, "{\"team\":\"t%d\"}", k % 5);
		in.labels = k % 4 == 0 ? labels : NULL;
		snprintf(key, sizeof key, "key-%d", k);
		in.idem_key = k % 5 == 0 ? key : NULL;
		in.deadline = k % 6 == 0 ? now + 3600 + k : 0;
		t = tasktab_create(tt, &in, now + k / 1000.0);
		if (k % 7 == 0)
			tasktab_set_ref(tt, t, ref, now + k / 1000.0 + 0.5);
		t->polls = (uint32_t)k;
		t->poll_failures = (uint32_t)(k % 4);
		snprintf(result, sizeof result, "{\"r\":%d}", k);
		snprintf(detail, sizeof detail, "[%d]", k);
		switch (k % 10) {
		case 1:
			tasktab_finish(tt, t, PX_STATE_SUCCEEDED, result, NULL,
			    NULL, NULL, now + 10 + k);
			break;
		case 2:
			tasktab_finish(tt, t, PX_STATE_FAILED, NULL, "boom",
			    "it broke", detail, now + 10 + k);
			break;
		case 3:
			tasktab_set_progress(tt, t, 0.25 + k, now + 5);
			break;
		case 4:
			tasktab_finish(tt, t, PX_STATE_CANCELLED, NULL,
			    "cancelled", NULL, NULL, now + 10 + k);
			break;
		case 5:
			task_set_kstate(t, "{\"url\":\"http://x/op/1\"}");
			break;
		case 6:
			tasktab_set_progress(tt, t, 0.5, now + 5);
			tasktab_finish(tt, t, PX_STATE_EXPIRED, NULL, "expired",
			    "late", NULL, now + 10 + k);
			break;
		}
	}
	ck_assert_uint_eq(tasktab_size(tt), MANY);
	ck_assert_msg(store_open(dir, 0, &st, &cause) == 0, "%s", cause);
	texts = calloc(MANY, sizeof *texts);
	n = 0;
	for (t = tasktab_first(tt); t != NULL; t = tasktab_next(tt, t)) {
		store_put(st, t);
		text = task_to_text(t, &len);
		if (asprintf(&texts[n++], "%s kstate=%s", text,
		    task_kstate(t) != NULL ? task_kstate(t) : "-") == -1)
			abort();
		free(text);
	}
	ck_assert_int_eq(store_commit(st, &cause), STORE_OK);
	store_close(st);

	/* Another daemon reads them back: with the reader thread, then
	 * without (as where none can be started). */
	reload_and_compare(tt, texts, bigref, now);
	store_sqlite_single_thread(1);
	reload_and_compare(tt, texts, bigref, now);
	store_sqlite_single_thread(0);
	for (i = 0; i < MANY; i++)
		free(texts[i]);
	free(texts);
	free(big);
	free(bigref);
}
END_TEST

START_TEST(test_forget_unstages_put)
{
	struct store *st = NULL;
	struct task *a;
	char *cause = NULL;

	ck_assert_int_eq(store_open(dir, 0, &st, &cause), 0);
	a = mk("{}");
	store_put(st, a);
	store_forget(st, a);		/* created and gone in one iteration */
	ck_assert_uint_eq(a->store_idx, UINT32_MAX);
	ck_assert_int_eq(store_commit(st, &cause), STORE_OK);
	ck_assert_int_eq(load_all(st), 0);
	store_close(st);
}
END_TEST

/* Make a database of an older schema version with one task in it. */
static void
make_v1(const char *path)
{
	sqlite3 *db;
	char *err = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, store_schema_sql(1), NULL, NULL,
	    &err) == SQLITE_OK, "%s", err);
	ck_assert_msg(sqlite3_exec(db, "INSERT INTO tasks (id, poller, owner, "
	    "state, ref, created, updated, polls, poll_failures) VALUES "
	    "('019000000000000000aa', 'p', 1000, 'pending', '{\"n\":7}', "
	    "1700000000, 1700000000, 4, 2)", NULL, NULL, &err) == SQLITE_OK,
	    "%s", err);
	sqlite3_close(db);
}

static int64_t
user_version(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

START_TEST(test_new_database_is_current)
{
	struct store *st = NULL;
	char *cause = NULL, *path = db_path();

	ck_assert_int_eq(store_open(dir, 0, &st, &cause), 0);
	store_close(st);
	ck_assert_int_eq(user_version(path), STORE_SCHEMA_VERSION);
	free(path);
}
END_TEST

START_TEST(test_migrates_from_v1)
{
	struct store *st = NULL;
	char *cause = NULL, *path = db_path();

	make_v1(path);
	ck_assert_int_eq(user_version(path), 1);
	ck_assert_msg(store_open(dir, 0, &st, &cause) == 0, "%s", cause);
	ck_assert_int_eq(load_all(st), 1);
	ck_assert_str_eq(rows[0].id, "019000000000000000aa");
	ck_assert_str_eq(rows[0].ref, "{\"n\":7}");
	ck_assert_str_eq(rows[0].kstate, "(null)");
	ck_assert_uint_eq(rows[0].failures, 2);
	store_close(st);
	ck_assert_int_eq(user_version(path), 2);
	free(path);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	struct store *st = NULL;
	char *cause = NULL, *path = db_path();
	sqlite3 *db;

	make_v1(path);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	ck_assert_int_eq(store_open(dir, 0, &st, &cause), -1);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(cause, path) != NULL && strstr(cause,
	    "schema version 99, made by a newer pollex") != NULL, "%s", cause);
	free(cause);
	ck_assert_int_eq(user_version(path), 99);	/* untouched */
	free(path);
}
END_TEST

/* The file's bytes, to check it was left alone. */
static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

START_TEST(test_garbage_file_refused_untouched)
{
	struct store *st = NULL;
	char *cause = NULL, *path = db_path(), *before, *after;
	size_t n1, n2;
	FILE *f = fopen(path, "wb");
	int i;

	for (i = 0; i < 4000; i++)
		fputs("this is not a database ", f);
	fclose(f);
	before = read_all(path, &n1);
	ck_assert_int_eq(store_open(dir, 0, &st, &cause), -1);
	ck_assert_msg(strstr(cause, "is not a database") != NULL, "%s", cause);
	ck_assert_ptr_nonnull(strstr(cause, path));
	after = read_all(path, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(memcmp(before, after, n1) == 0);
	free(before);
	free(after);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_damaged_database_refused)
{
	struct store *st = NULL;
	struct task *t;
	char *cause = NULL, *path = db_path();
	int fd, i;
	char junk[4096];

	ck_assert_int_eq(store_open(dir, 0, &st, &cause), 0);
	for (i = 0; i < 2000; i++) {
		char ref[256];
		snprintf(ref, sizeof ref, "{\"n\":%d,\"pad\":\"%0200d\"}", i, i);
		t = mk(ref);
		store_put(st, t);
	}
	ck_assert_int_eq(store_commit(st, &cause), STORE_OK);
	store_close(st);
	st = NULL;
	/* Scribble over pages in the middle of the file. */
	memset(junk, 0xa5, sizeof junk);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 8 * 4096), 4096);
	ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 20 * 4096), 4096);
	close(fd);
	ck_assert_int_eq(store_open(dir, 0, &st, &cause), -1);
	ck_assert_msg(strstr(cause, "damaged") != NULL ||
	    strstr(cause, "malformed") != NULL, "%s", cause);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_foreign_database_refused)
{
	struct store *st = NULL;
	char *cause = NULL, *path = db_path();
	sqlite3 *db;

	sqlite3_open(path, &db);
	sqlite3_exec(db, "CREATE TABLE photos (x)", NULL, NULL, NULL);
	sqlite3_close(db);
	ck_assert_int_eq(store_open(dir, 0, &st, &cause), -1);
	ck_assert_msg(strstr(cause, "is not a pollex database") != NULL, "%s",
	    cause);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_exclusive)
{
	struct store *a = NULL, *b = NULL;
	char *cause = NULL;

	ck_assert_int_eq(store_open(dir, 0, &a, &cause), 0);
	ck_assert_int_eq(store_open(dir, 0, &b, &cause), -1);
	ck_assert_msg(strstr(cause, "in use by another process") != NULL, "%s",
	    cause);
	free(cause);
	store_close(a);
}
END_TEST

START_TEST(test_full_keeps_what_was_committed)
{
	struct store *st = NULL;
	struct task *t;
	char *cause = NULL, ref[600];
	int i, committed = 0, r = STORE_OK;

	ck_assert_int_eq(store_open(dir, 64 * 1024, &st, &cause), 0);
	for (i = 0; i < 1000 && r == STORE_OK; i++) {
		snprintf(ref, sizeof ref, "{\"n\":%d,\"pad\":\"%0500d\"}", i, i);
		t = mk(ref);
		store_put(st, t);
		r = store_commit(st, &cause);
		if (r == STORE_OK)
			committed++;
	}
	ck_assert_int_eq(r, STORE_FULL);
	ck_assert_int_gt(committed, 10);
	ck_assert_uint_eq(store_staged(st), 1);	/* kept for a retry */
	ck_assert_int_eq(load_all(st), committed);
	store_close(st);
}
END_TEST

/* ---- the daemon ------------------------------------------------------ */

static void
d_setup(void)
{
	td = td_new();
}

static void
d_teardown(void)
{
	td_finish(td);
}

static char *
conf_text(const char *poller_keys, const char *daemon_keys)
{
	char *s;

	if (asprintf(&s, "{ %s%s \"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"interval\": \"100ms\", \"poll\": %s %s%s}}}",
	    daemon_keys ? daemon_keys : "", daemon_keys ? "," : "",
	    td->poll_argv, poller_keys ? "," : "",
	    poller_keys ? poller_keys : "") == -1)
		abort();
	return s;
}

static void
d_start(const char *poller_keys, const char *daemon_keys)
{
	char *c = conf_text(poller_keys, daemon_keys);

	ck_assert_msg(td_start(td, c) == 0, "did not start: %s",
	    tail(td_log(td)));
	free(c);
}

static json_object *
rpc(int fd, const char *method, const char *params)
{
	char *msg, *reply;
	json_object *o;

	if (asprintf(&msg, "{\"method\": \"%s\", \"parameters\": %s}", method,
	    params != NULL ? params : "{}") == -1)
		abort();
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
	free(msg);
	reply = raw_recv(fd, T, NULL);
	ck_assert_msg(reply != NULL, "no reply to %s", method);
	o = json_tokener_parse(reply);
	free(reply);
	return o;
}

static json_object *
param_of(json_object *r, const char *key)
{
	return json_object_object_get(json_object_object_get(r, "parameters"),
	    key);
}

static const char *
error_of(json_object *r)
{
	json_object *e;

	return json_object_object_get_ex(r, "error", &e) ?
	    json_object_get_string(e) : "";
}

/* Submit one task with ref {"name": NAME}; its id (malloc'd). */
static char *
submit(int fd, const char *name, const char *extra)
{
	char params[512], *id;
	json_object *r;

	snprintf(params, sizeof params, "{\"tasks\": [{\"poller\": \"p\", "
	    "\"ref\": {\"name\": \"%s\"}%s%s}]}", name, extra ? "," : "",
	    extra ? extra : "");
	r = rpc(fd, "io.pollex.Submit", params);
	ck_assert_msg(*error_of(r) == '\0', "%s", json_object_to_json_string(r));
	id = strdup(json_object_get_string(json_object_array_get_idx(
	    param_of(r, "ids"), 0)));
	json_object_put(r);
	return id;
}

static const char *
state_of(int fd, const char *id, char *buf, size_t len)
{
	char params[128];
	json_object *r;

	snprintf(params, sizeof params, "{\"id\": \"%s\"}", id);
	r = rpc(fd, "io.pollex.Get", params);
	if (*error_of(r) != '\0')
		snprintf(buf, len, "%s", error_of(r));
	else
		snprintf(buf, len, "%s", json_object_get_string(
		    json_object_object_get(param_of(r, "task"), "state")));
	json_object_put(r);
	return buf;
}

/* Wait (bounded) for ids to finish; the reply. */
static json_object *
wait_all(int fd, char **ids, int n)
{
	char params[4096];
	int i, o;

	o = snprintf(params, sizeof params, "{\"ids\": [");
	for (i = 0; i < n; i++)
		o += snprintf(params + o, sizeof params - (size_t)o, "%s\"%s\"",
		    i ? "," : "", ids[i]);
	snprintf(params + o, sizeof params - (size_t)o, "], \"timeout\": 10}");
	return rpc(fd, "io.pollex.Wait", params);
}

static void
restart_and_resume(int sig)
{
	char *a, *b, *k, buf[64], *ids[3];
	json_object *r;
	int fd;

	d_start(NULL, NULL);
	fd = raw_connect(td->sock);
	a = submit(fd, "a", NULL);
	b = submit(fd, "b", "\"labels\": {\"team\": \"web\"}, \"timeout\": 3600");
	k = submit(fd, "k", "\"idempotency_key\": \"build-1\"");
	close(fd);
	ck_assert_int_eq(td_stop(td, sig), sig == SIGKILL ? 128 + 9 : 0);
	/* Back up: the old ids are there and resume. */
	d_start(NULL, NULL);
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, a, buf, sizeof buf), "pending");
	ck_assert_str_eq(state_of(fd, b, buf, sizeof buf), "pending");
	r = rpc(fd, "io.pollex.Get", "{\"id\": \"0\"}");
	json_object_put(r);
	/* The idempotency key still maps to its task. */
	{
		char *k2 = submit(fd, "k", "\"idempotency_key\": \"build-1\"");
		ck_assert_str_eq(k2, k);
		free(k2);
	}
	/* So does the ref (Submit's dedup by ref). */
	{
		char *a2 = submit(fd, "a", NULL);
		ck_assert_str_eq(a2, a);
		free(a2);
	}
	/* Labels and deadline came back too. */
	r = rpc(fd, "io.pollex.List", "{\"labels\": {\"team\": \"web\"}}");
	ck_assert_int_eq(json_object_array_length(param_of(r, "tasks")), 1);
	ck_assert(json_object_get_double(json_object_object_get(
	    json_object_array_get_idx(param_of(r, "tasks"), 0), "deadline")) >
	    0);
	json_object_put(r);
	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": 1}");
	td_set(td, "outcomes/b", "{\"state\": \"succeeded\", \"result\": 2}");
	td_set(td, "outcomes/k", "{\"state\": \"succeeded\", \"result\": 3}");
	ids[0] = a;
	ids[1] = b;
	ids[2] = k;
	r = wait_all(fd, ids, 3);
	ck_assert_int_eq(json_object_array_length(param_of(r, "done")), 3);
	json_object_put(r);
	close(fd);
	free(a);
	free(b);
	free(k);
}

START_TEST(test_restart_after_sigterm)
{
	restart_and_resume(SIGTERM);
}
END_TEST

START_TEST(test_restart_after_sigkill)
{
	restart_and_resume(SIGKILL);
}
END_TEST

START_TEST(test_finished_tasks_survive_and_purge)
{
	char *a, buf[64], *ids[1];
	json_object *r;
	int fd;

	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": "
	    "{\"v\": 42}}");
	d_start(NULL, "\"retention\": \"1h\"");
	fd = raw_connect(td->sock);
	a = submit(fd, "a", NULL);
	ids[0] = a;
	json_object_put(wait_all(fd, ids, 1));
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
	d_start(NULL, "\"retention\": \"1h\"");
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, a, buf, sizeof buf), "succeeded");
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	/* A short retention purges it at start, and for good. */
	d_start(NULL, "\"retention\": \"1ms\"");
	fd = raw_connect(td->sock);
	r = rpc(fd, "io.pollex.List", "{}");
	ck_assert_int_eq(json_object_array_length(param_of(r, "tasks")), 0);
	json_object_put(r);
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	d_start(NULL, "\"retention\": \"1h\"");
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, a, buf, sizeof buf),
	    "io.pollex.TaskNotFound");
	close(fd);
	free(a);
}
END_TEST

/*
 * A long commit_delay holds back only changes nobody is told about: the
 * reply of Wait is written after the commit of the outcome it reports, so
 * a kill -9 the moment it arrives finds the task finished on restart.
 */
START_TEST(test_commit_delay_never_precedes_replies)
{
	const char *extra = "\"retention\": \"1h\", \"commit_delay\": \"1s\"";
	char *a, buf[64], *ids[1];
	json_object *r;
	int fd;

	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": 7}");
	d_start(NULL, extra);
	fd = raw_connect(td->sock);
	a = submit(fd, "a", NULL);
	ids[0] = a;
	r = wait_all(fd, ids, 1);
	ck_assert_ptr_nonnull(r);
	json_object_put(r);
	/* Killed the moment the reply is here. */
	ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
	close(fd);
	d_start(NULL, extra);
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, a, buf, sizeof buf), "succeeded");
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	free(a);
}
END_TEST

START_TEST(test_interrupted_start)
{
	char keys[1024], buf[64], note[64], params[128];
	json_object *r, *t;
	char *id;
	int fd;

	snprintf(keys, sizeof keys, "\"start\": %s", td->start_argv);
	td_block(td);
	d_start(keys, NULL);
	fd = raw_connect(td->sock);
	r = rpc(fd, "io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\", "
	    "\"args\": {\"name\": \"s\"}}]}");
	id = strdup(json_object_get_string(json_object_array_get_idx(
	    param_of(r, "ids"), 0)));
	json_object_put(r);
	ck_assert_int_eq(td_note(td, T, note, sizeof note), 0);
	ck_assert_str_eq(note, "start 1 blocked");
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
	/* The blocked start program outlived the daemon: end it. */
	ck_assert_int_eq(td_kill_orphans(), 1);
	td_unset(td, "mode");
	d_start(keys, NULL);
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, id, buf, sizeof buf), "failed");
	snprintf(params, sizeof params, "{\"id\": \"%s\"}", id);
	r = rpc(fd, "io.pollex.Get", params);
	t = json_object_object_get(param_of(r, "task"), "error");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(t,
	    "code")), "start_interrupted");
	json_object_put(r);
	close(fd);
	free(id);
}
END_TEST

START_TEST(test_idempotent_start_retried)
{
	char keys[1024], note[64], *ids[1];
	json_object *r, *t;
	int fd;

	snprintf(keys, sizeof keys, "\"start\": %s, \"start_idempotent\": true",
	    td->start_argv);
	td_block(td);
	td_set(td, "outcomes/s", "{\"state\": \"succeeded\"}");
	d_start(keys, NULL);
	fd = raw_connect(td->sock);
	r = rpc(fd, "io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\", "
	    "\"args\": {\"name\": \"s\"}}]}");
	ids[0] = strdup(json_object_get_string(json_object_array_get_idx(
	    param_of(r, "ids"), 0)));
	json_object_put(r);
	ck_assert_int_eq(td_note(td, T, note, sizeof note), 0);
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
	/* The blocked start program outlived the daemon: end it. */
	ck_assert_int_eq(td_kill_orphans(), 1);
	td_unset(td, "mode");
	d_start(keys, NULL);
	fd = raw_connect(td->sock);
	r = wait_all(fd, ids, 1);
	t = json_object_array_get_idx(param_of(r, "done"), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(t,
	    "state")), "succeeded");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_object_get(t, "ref"), "name")), "s");
	json_object_put(r);
	close(fd);
	free(ids[0]);
}
END_TEST

START_TEST(test_store_full_refuses_submit)
{
	char *first, buf[64], params[2048], pad[1001];
	json_object *r;
	int fd, i, refused = 0;

	d_start(NULL, "\"store_max_size\": 131072, \"retention\": \"1h\"");
	fd = raw_connect(td->sock);
	first = submit(fd, "first", NULL);
	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	for (i = 0; i < 2000 && !refused; i++) {
		snprintf(params, sizeof params, "{\"tasks\": [{\"poller\": "
		    "\"p\", \"ref\": {\"name\": \"n%d\", \"pad\": \"%s\"}}]}", i,
		    pad);
		r = rpc(fd, "io.pollex.Submit", params);
		if (strcmp(error_of(r), "io.pollex.StoreFailed") == 0) {
			refused = 1;
			ck_assert_ptr_nonnull(strstr(json_object_get_string(
			    param_of(r, "reason")), "store is full"));
		} else
			ck_assert_str_eq(error_of(r), "");
		json_object_put(r);
	}
	ck_assert_int_eq(refused, 1);
	/* What was acknowledged is intact, here and after a restart. */
	ck_assert_str_eq(state_of(fd, first, buf, sizeof buf), "pending");
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
	d_start(NULL, "\"store_max_size\": 131072, \"retention\": \"1h\"");
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, first, buf, sizeof buf), "pending");
	r = rpc(fd, "io.pollex.Stats", NULL);
	ck_assert_ptr_nonnull(strstr(json_object_get_string(
	    json_object_object_get(param_of(r, "store"), "path")), STORE_FILE));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    param_of(r, "store"), "schema_version")), STORE_SCHEMA_VERSION);
	json_object_put(r);
	close(fd);
	free(first);
}
END_TEST

/* An I/O error from SQLite (here EFBIG past RLIMIT_FSIZE, as from a
 * failing disk) stops pollexd with status 1 and a message naming the
 * file; the Submit of that commit is never acknowledged, and everything
 * acknowledged before is there after a restart. */
START_TEST(test_io_error_stops_loudly)
{
	char *ids[400], *msg, *reply, buf[64], pad[4001], *log;
	int fd, n = 0, i, lost = 0;

	memset(pad, 'x', 4000);
	pad[4000] = '\0';
	td->fsize_limit = 512 * 1024;
	d_start(NULL, NULL);
	td->fsize_limit = 0;
	fd = raw_connect(td->sock);
	while (n < (int)(sizeof ids / sizeof ids[0]) && !lost) {
		if (asprintf(&msg, "{\"method\": \"io.pollex.Submit\", "
		    "\"parameters\": {\"tasks\": [{\"poller\": \"p\", "
		    "\"ref\": {\"name\": \"n%d\", \"pad\": \"%s\"}}]}}",
		    n, pad) == -1)
			abort();
		if (raw_send(fd, msg, strlen(msg) + 1) != 0 ||
		    (reply = raw_recv(fd, T, NULL)) == NULL)
			lost = 1;	/* the daemon went away */
		else {
			json_object *r = json_tokener_parse(reply);
			ck_assert_msg(*error_of(r) == '\0', "%s", reply);
			ids[n++] = strdup(json_object_get_string(
			    json_object_array_get_idx(param_of(r, "ids"), 0)));
			json_object_put(r);
			free(reply);
		}
		free(msg);
	}
	close(fd);
	ck_assert_msg(lost, "%d submits of 4 kB went through a 512 kB limit",
	    n);
	ck_assert_int_gt(n, 10);
	/* Status 1, and the log says which file and what. */
	ck_assert_int_eq(td_stop(td, SIGTERM), 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, STORE_FILE) != NULL &&
	    strstr(log, "disk I/O error") != NULL &&
	    strstr(log, "stopping so that nothing acknowledged can be lost") !=
	    NULL, "log: %s", tail(log));
	free(log);
	/* Nothing acknowledged was lost. */
	d_start(NULL, NULL);
	fd = raw_connect(td->sock);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(state_of(fd, ids[i], buf, sizeof buf),
		    "pending");
		free(ids[i]);
	}
	close(fd);
}
END_TEST

/* A row whose JSON was damaged outside pollexd (replies copy the stored
 * JSON as it is) is skipped with a warning naming the task and the
 * column; the other tasks load. */
START_TEST(test_row_with_bad_json_skipped)
{
	char *good, *bad, *path, *sql, *err = NULL, *log, buf[64];
	sqlite3 *db;
	int fd;

	d_start(NULL, NULL);
	fd = raw_connect(td->sock);
	good = submit(fd, "good", NULL);
	bad = submit(fd, "bad", NULL);
	close(fd);
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	if (asprintf(&path, "%s/state/%s", td->dir, STORE_FILE) == -1 ||
	    asprintf(&sql, "UPDATE tasks SET args = '{\"a\": ' WHERE id = "
	    "'%s'", bad) == -1)
		abort();
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
	    "%s", err);
	sqlite3_close(db);
	d_start(NULL, NULL);
	fd = raw_connect(td->sock);
	ck_assert_str_eq(state_of(fd, good, buf, sizeof buf), "pending");
	ck_assert_str_eq(state_of(fd, bad, buf, sizeof buf),
	    "io.pollex.TaskNotFound");
	close(fd);
	log = td_log(td);
	ck_assert_msg(strstr(log, bad) != NULL &&
	    strstr(log, "its args is not JSON") != NULL, "%s", tail(log));
	free(log);
	free(sql);
	free(path);
	free(good);
	free(bad);
}
END_TEST

START_TEST(test_damaged_store_refused_at_start)
{
	char *path, *log;
	FILE *f;
	int i;

	if (asprintf(&path, "%s/state", td->dir) == -1)
		abort();
	mkdir(path, 0750);
	free(path);
	if (asprintf(&path, "%s/state/%s", td->dir, STORE_FILE) == -1)
		abort();
	f = fopen(path, "w");
	for (i = 0; i < 1000; i++)
		fputs("garbage garbage garbage ", f);
	fclose(f);
	{
		char *c = conf_text(NULL, NULL);
		ck_assert_int_eq(td_start(td, c), -1);
		free(c);
	}
	ck_assert(WIFEXITED(td->status) && WEXITSTATUS(td->status) == 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, path) != NULL && strstr(log,
	    "is not a database") != NULL, "%s", tail(log));
	free(log);
	free(path);
}
END_TEST

START_TEST(test_unwritable_state_dir)
{
	const char *extra[] = { "--state-dir", "/proc/pollex-no-such", NULL };
	char *c = conf_text(NULL, NULL), *log;

	ck_assert_int_eq(td_start_args(td, c, extra), -1);
	free(c);
	ck_assert(WIFEXITED(td->status) && WEXITSTATUS(td->status) == 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, "state directory /proc/pollex-no-such") !=
	    NULL, "%s", tail(log));
	free(log);
}
END_TEST

/* ---- kill -9 soak ---------------------------------------------------- */

/* A client: submit continuously with unique keys; after every
 * acknowledged Submit append "key id" to its file; on a broken
 * connection reconnect and submit the unacknowledged key again. */
static void
soak_client(const char *sock, const char *file, int who, int stop_fd)
{
	FILE *out = fopen(file, "w");
	char params[256], *reply;
	int fd = -1, n = 0, eof;
	struct pollfd pfd = { stop_fd, POLLIN, 0 };

	setvbuf(out, NULL, _IOLBF, 0);
	for (;;) {
		if (poll(&pfd, 1, 0) == 1)
			break;
		if (fd == -1 && (fd = raw_connect(sock)) == -1) {
			poll(NULL, 0, 5);	/* the daemon is restarting */
			continue;
		}
		snprintf(params, sizeof params, "{\"method\": \"io.pollex.Submit\","
		    " \"parameters\": {\"tasks\": [{\"poller\": \"p\", \"ref\": "
		    "{\"name\": \"ok\", \"n\": \"%d-%d\"}, \"idempotency_key\": "
		    "\"k-%d-%d\"}]}}", who, n, who, n);
		if (raw_send(fd, params, strlen(params) + 1) == -1 ||
		    (reply = raw_recv(fd, 10000, &eof)) == NULL) {
			close(fd);
			fd = -1;
			continue;	/* the same key again */
		}
		if (strstr(reply, "\"ids\":[\"") != NULL) {
			fprintf(out, "k-%d-%d %.20s\n", who, n,
			    strstr(reply, "\"ids\":[\"") + 8);
			n++;
		}
		free(reply);
	}
	fclose(out);
	_exit(0);
}

/* The acknowledgements the soak's clients have written so far. */
static int
soak_acked(char files[][4096], int n)
{
	FILE *f;
	int i, c, lines = 0;

	for (i = 0; i < n; i++) {
		if ((f = fopen(files[i], "r")) == NULL)
			continue;
		while ((c = getc(f)) != EOF)
			lines += c == '\n';
		fclose(f);
	}
	return lines;
}

START_TEST(test_kill9_soak)
{
	/* Bounded for make check; bench/soak.sh makes it larger. */
	int CLIENTS = getenv("POLLEX_SOAK_CLIENTS") ?
	    atoi(getenv("POLLEX_SOAK_CLIENTS")) : 4;
	int KILLS = getenv("POLLEX_SOAK_KILLS") ?
	    atoi(getenv("POLLEX_SOAK_KILLS")) : 5;
	char files[64][4096], line[256], key[64], id[32], note[64];
	pid_t kids[64];
	int stop[2], i, k, w, acked0, status, fd, acked = 0;
	unsigned seed = (unsigned)time(NULL);
	json_object *r;

	if (CLIENTS < 1 || CLIENTS > 64 || KILLS < 1)
		ck_abort_msg("POLLEX_SOAK_CLIENTS 1..64, POLLEX_SOAK_KILLS >= 1");
	td_set(td, "outcomes/ok", "{\"state\": \"succeeded\"}");
	d_start(NULL, NULL);
	(void)note;
	ck_assert_int_eq(pipe(stop), 0);
	for (i = 0; i < CLIENTS; i++) {
		snprintf(files[i], sizeof files[i], "%s/acked-%d", td->dir, i);
		if ((kids[i] = fork()) == 0)
			soak_client(td->sock, files[i], i, stop[0]);
	}
	fprintf(stderr, "kill9 soak: seed %u\n", seed);
	srand(seed);
	for (k = 0; k < KILLS; k++) {
		/* Each kill while Submits are being acknowledged: after at
		 * least ten more acknowledgements (however slow the daemon's
		 * start, under valgrind too; bounded), then at a random
		 * moment, 20 to 220 ms of traffic. */
		acked0 = soak_acked(files, CLIENTS);
		for (w = 0; w < 6000 &&
		    soak_acked(files, CLIENTS) < acked0 + 10; w++)
			poll(NULL, 0, 10);
		ck_assert_int_ge(soak_acked(files, CLIENTS), acked0 + 10);
		poll(NULL, 0, 20 + rand() % 200);
		ck_assert_int_eq(td_stop(td, SIGKILL), 128 + 9);
		d_start(NULL, NULL);
	}
	poll(NULL, 0, 100);
	ck_assert_int_eq(write(stop[1], "x", 1), 1);
	for (i = 0; i < CLIENTS; i++) {
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* Every acknowledged id exists, once per key, and finishes. */
	fd = raw_connect(td->sock);
	for (i = 0; i < CLIENTS; i++) {
		FILE *f = fopen(files[i], "r");
		while (fgets(line, sizeof line, f) != NULL) {
			char params[256], *ids[1];
			ck_assert_int_eq(sscanf(line, "%63s %31s", key, id), 2);
			snprintf(params, sizeof params, "{\"tasks\": [{\"poller\":"
			    " \"p\", \"ref\": {\"name\": \"ok\", \"n\": \"%s\"}, "
			    "\"idempotency_key\": \"%s\"}]}", key + 2, key);
			r = rpc(fd, "io.pollex.Submit", params);
			/* The key maps to the acknowledged id: no duplicate. */
			ck_assert_str_eq(json_object_get_string(
			    json_object_array_get_idx(param_of(r, "ids"), 0)), id);
			ck_assert(!json_object_get_boolean(
			    json_object_array_get_idx(param_of(r, "created"), 0)));
			json_object_put(r);
			ids[0] = id;
			r = wait_all(fd, ids, 1);
			ck_assert_msg(json_object_array_length(param_of(r,
			    "done")) == 1, "%s did not finish", id);
			json_object_put(r);
			acked++;
		}
		fclose(f);
	}
	ck_assert_int_gt(acked, 50);
	/* No task exists twice: the table holds at most one per key. */
	{
		int total = 0;
		char params[128], next[64] = "";
		for (;;) {
			snprintf(params, sizeof params, "{\"limit\": 10000%s%s%s}",
			    *next ? ", \"after\": \"" : "", next, *next ? "\"" : "");
			r = rpc(fd, "io.pollex.List", params);
			total += (int)json_object_array_length(param_of(r, "tasks"));
			if (param_of(r, "next") == NULL) {
				json_object_put(r);
				break;
			}
			snprintf(next, sizeof next, "%s",
			    json_object_get_string(param_of(r, "next")));
			json_object_put(r);
		}
		/* A Submit whose reply was lost was sent again with its
		 * key, so every task in the table was acknowledged once. */
		ck_assert_int_eq(total, acked);
		fprintf(stderr, "kill9 soak: %d acknowledged, %d in the table\n",
		    acked, total);
	}
	close(fd);
	close(stop[0]);
	close(stop[1]);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("module");
	tcase_add_checked_fixture(tc, unit_setup, unit_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_many_tasks_round_trip);
	tcase_add_test(tc, test_forget_unstages_put);
	tcase_add_test(tc, test_new_database_is_current);
	tcase_add_test(tc, test_migrates_from_v1);
	tcase_add_test(tc, test_newer_schema_refused);
	tcase_add_test(tc, test_garbage_file_refused_untouched);
	tcase_add_test(tc, test_damaged_database_refused);
	tcase_add_test(tc, test_foreign_database_refused);
	tcase_add_test(tc, test_exclusive);
	tcase_add_test(tc, test_full_keeps_what_was_committed);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, d_setup, d_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_restart_after_sigterm);
	tcase_add_test(tc, test_restart_after_sigkill);
	tcase_add_test(tc, test_finished_tasks_survive_and_purge);
	tcase_add_test(tc, test_commit_delay_never_precedes_replies);
	tcase_add_test(tc, test_interrupted_start);
	tcase_add_test(tc, test_idempotent_start_retried);
	tcase_add_test(tc, test_store_full_refuses_submit);
	tcase_add_test(tc, test_io_error_stops_loudly);
	tcase_add_test(tc, test_row_with_bad_json_skipped);
	tcase_add_test(tc, test_damaged_store_refused_at_start);
	tcase_add_test(tc, test_unwritable_state_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("soak");
	tcase_add_checked_fixture(tc, d_setup, d_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_kill9_soak);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return check_run(store_suite());
}
