/* SPDX-License-Identifier: ISC */
/* check_task.c: the task table. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "poller.h"
#include "pollexd.h"
#include "task.h"
#include "testlib.h"
#include "util.h"

static struct event_base *base;
static struct pxd *pxd;
static struct poller *pa, *pb;
static struct tasktab *tt;

#define MAXEV 64
static struct {
	enum task_event ev;
	enum px_state old, now;
	char id[TASK_ID_LEN + 1];
} evs[MAXEV];
static int nev;

static void
record(void *arg, struct task *t, enum task_event ev, enum px_state old)
{
	(void)arg;
	if (nev == MAXEV)
		return;
	evs[nev].ev = ev;
	evs[nev].old = old;
	evs[nev].now = (enum px_state)t->state;
	memcpy(evs[nev].id, t->id, sizeof evs[nev].id);
	nev++;
}

static const struct tasktab_hooks hooks = { record };

static void
setup(void)
{
	hash_init();
	base = event_base_new();
	pxd = pxd_new(base, conf_defaults());
	pa = poller_new(pxd_core(pxd)->pollers, "a");
	pb = poller_new(pxd_core(pxd)->pollers, "b");
	tt = tasktab_new(&hooks, NULL);
	nev = 0;
}

static void
teardown(void)
{
	tasktab_free(tt);
	pxd_free(pxd);
	event_base_free(base);
}

static struct task *
mk(struct poller *p, uid_t owner, const char *ref, const char *key,
    double deadline, double now)
{
	struct task_init in;

	memset(&in, 0, sizeof in);
	in.poller = p;
	in.owner = owner;
	in.ref = ref;
	in.idem_key = key;
	in.deadline = deadline;
	return tasktab_create(tt, &in, now);
}

START_TEST(test_ids_unique_and_ordered)
{
	struct task *t, *prev = NULL;
	int i;

	for (i = 0; i < 1000; i++) {
		/* Same millisecond for all: the sequence keeps them apart. */
		t = mk(pa, 1, "{\"n\":1}", NULL, 0, 1700000000.0);
		ck_assert_uint_eq(strlen(t->id), TASK_ID_LEN);
		ck_assert_uint_eq(strspn(t->id, "0123456789abcdef"), TASK_ID_LEN);
		if (prev != NULL)
			ck_assert_int_lt(strcmp(prev->id, t->id), 0);
		prev = t;
	}
	ck_assert_uint_eq(tasktab_size(tt), 1000);
	/* A clock that went back (a restart) still gives larger ids. */
	tasktab_id_floor(tt, 1800000000000ULL);
	t = mk(pa, 1, "{\"n\":1}", NULL, 0, 1700000000.0);
	ck_assert_int_lt(strcmp(prev->id, t->id), 0);
	ck_assert_str_eq(tasktab_after(tt, prev->id)->id, t->id);
	ck_assert_ptr_eq(tasktab_find(tt, t->id), t);
	ck_assert_ptr_null(tasktab_find(tt, "00000000000000000000"));
}
END_TEST

START_TEST(test_states_and_counts)
{
	struct task *s = mk(pa, 1, NULL, NULL, 0, 100);
	struct task *p = mk(pa, 1, "{\"x\":1}", NULL, 0, 100);

	ck_assert_int_eq(s->state, PX_STATE_STARTING);
	ck_assert_int_eq(p->state, PX_STATE_PENDING);
	ck_assert_uint_eq(tasktab_count(tt, PX_STATE_STARTING), 1);
	ck_assert_uint_eq(tasktab_count(tt, PX_STATE_PENDING), 1);
	ck_assert_uint_eq(tasktab_outstanding_of(tt, 1), 2);
	ck_assert_uint_eq(tasktab_outstanding_of(tt, 2), 0);
	tasktab_set_ref(tt, s, "{\"x\":2}", 101);
	ck_assert_int_eq(s->state, PX_STATE_PENDING);
	ck_assert_str_eq(s->ref, "{\"x\":2}");
	ck_assert_ptr_eq(tasktab_find_ref(tt, 1, pa, "{\"x\":2}"), s);
	ck_assert_int_eq(evs[nev - 1].ev, TASK_EV_STATE);
	ck_assert_int_eq(evs[nev - 1].old, PX_STATE_STARTING);
	/* Only a starting task takes a ref. */
	tasktab_set_ref(tt, p, "{\"x\":9}", 102);
	ck_assert_str_eq(p->ref, "{\"x\":1}");
	ck_assert_uint_eq(tasktab_count(tt, PX_STATE_PENDING), 2);
}
END_TEST

START_TEST(test_first_outcome_wins)
{
	struct task *t = mk(pa, 1, "{}", NULL, 0, 100);

	ck_assert_int_eq(tasktab_finish(tt, t, PX_STATE_SUCCEEDED, "{\"r\":1}",
	    NULL, NULL, NULL, 101), 0);
	ck_assert_int_eq(tasktab_finish(tt, t, PX_STATE_FAILED, NULL, "x",
	    "late", NULL, 102), -1);
	ck_assert_int_eq(tasktab_finish(tt, t, PX_STATE_CANCELLED, NULL,
	    "cancelled", "late", NULL, 102), -1);
	ck_assert_int_eq(t->state, PX_STATE_SUCCEEDED);
	ck_assert_str_eq(task_result(t), "{\"r\":1}");
	ck_assert_ptr_null(task_error(t));
	ck_assert(task_finished(t) == 101);
	ck_assert_uint_eq(tasktab_outstanding_of(tt, 1), 0);
	/* A non-terminal "outcome" is no outcome. */
	t = mk(pa, 1, "{\"b\":1}", NULL, 0, 100);
	ck_assert_int_eq(tasktab_finish(tt, t, PX_STATE_PENDING, NULL, NULL,
	    NULL, NULL, 101), -1);
}
END_TEST

START_TEST(test_indexes_are_per_owner)
{
	struct task *t = mk(pa, 1, "{\"id\":7}", "k1", 0, 100);

	ck_assert_ptr_eq(tasktab_find_key(tt, 1, "k1"), t);
	ck_assert_ptr_null(tasktab_find_key(tt, 2, "k1"));
	ck_assert_ptr_null(tasktab_find_key(tt, 1, "k2"));
	ck_assert_ptr_eq(tasktab_find_ref(tt, 1, pa, "{\"id\":7}"), t);
	ck_assert_ptr_null(tasktab_find_ref(tt, 2, pa, "{\"id\":7}"));
	ck_assert_ptr_null(tasktab_find_ref(tt, 1, pb, "{\"id\":7}"));
}
END_TEST

START_TEST(test_deadlines_expire_in_order)
{
	struct task *a = mk(pa, 1, "{\"a\":1}", NULL, 130, 100);
	struct task *b = mk(pa, 1, "{\"b\":1}", NULL, 110, 100);
	struct task *c = mk(pa, 1, "{\"c\":1}", NULL, 120, 100);
	struct task *d = mk(pa, 1, "{\"d\":1}", NULL, 0, 100);

	ck_assert(tasktab_next_deadline(tt) == 110);
	ck_assert(tasktab_expire(tt, 115) == 120);
	ck_assert_int_eq(b->state, PX_STATE_EXPIRED);
	ck_assert_str_eq(task_error(b)->code, "expired");
	ck_assert_int_eq(a->state, PX_STATE_PENDING);
	/* A task that finished leaves the heap. */
	tasktab_finish(tt, c, PX_STATE_SUCCEEDED, "1", NULL, NULL, NULL, 116);
	ck_assert(tasktab_next_deadline(tt) == 130);
	ck_assert(tasktab_expire(tt, 1000) == 0);
	ck_assert_int_eq(a->state, PX_STATE_EXPIRED);
	ck_assert_int_eq(c->state, PX_STATE_SUCCEEDED);
	ck_assert_int_eq(d->state, PX_STATE_PENDING);
}
END_TEST

START_TEST(test_many_deadlines_heap)
{
	struct task *t[500];
	double next;
	int i;

	srand(7);
	for (i = 0; i < 500; i++)
		t[i] = mk(pa, 1, "{}", NULL, 1000 + rand() % 10000, 100);
	for (i = 0; i < 500; i += 3)
		tasktab_finish(tt, t[i], PX_STATE_CANCELLED, NULL, "c", "c", NULL,
		    101);
	next = 0;
	while ((next = tasktab_next_deadline(tt)) > 0) {
		tasktab_expire(tt, next);
		for (i = 0; i < 500; i++)
			if (t[i]->state == PX_STATE_PENDING)
				ck_assert(t[i]->deadline > next);
	}
	for (i = 0; i < 500; i++)
		ck_assert_int_eq(t[i]->state, i % 3 == 0 ? PX_STATE_CANCELLED :
		    PX_STATE_EXPIRED);
}
END_TEST

START_TEST(test_purge_after_retention)
{
	struct task *a = mk(pa, 1, "{\"a\":1}", "ka", 0, 100);
	struct task *b = mk(pa, 1, "{\"b\":1}", NULL, 0, 100);
	struct task *c = mk(pa, 1, "{\"c\":1}", NULL, 0, 100);
	char ida[TASK_ID_LEN + 1];
	double next;

	memcpy(ida, a->id, sizeof ida);
	tasktab_finish(tt, a, PX_STATE_SUCCEEDED, "1", NULL, NULL, NULL, 110);
	tasktab_finish(tt, b, PX_STATE_FAILED, NULL, "x", "y", NULL, 120);
	ck_assert_uint_eq(tasktab_purge(tt, 105, 10, &next), 0);
	ck_assert(next == 110);
	ck_assert_uint_eq(tasktab_purge(tt, 125, 1, &next), 1);	/* max */
	ck_assert(next == 120);
	ck_assert_int_eq(evs[nev - 1].ev, TASK_EV_PURGED);
	ck_assert_str_eq(evs[nev - 1].id, ida);
	ck_assert_ptr_null(tasktab_find(tt, ida));
	ck_assert_ptr_null(tasktab_find_key(tt, 1, "ka"));
	ck_assert_ptr_null(tasktab_find_ref(tt, 1, pa, "{\"a\":1}"));
	ck_assert_uint_eq(tasktab_purge(tt, 125, 10, &next), 1);
	ck_assert(next == 0);
	/* Outstanding tasks are never purged. */
	ck_assert_ptr_eq(tasktab_find(tt, c->id), c);
	ck_assert_uint_eq(tasktab_size(tt), 1);
	ck_assert_uint_eq(tasktab_count(tt, PX_STATE_SUCCEEDED), 0);
}
END_TEST

START_TEST(test_progress_events)
{
	struct task *t = mk(pa, 1, "{}", NULL, 0, 100);

	nev = 0;
	tasktab_set_progress(tt, t, 0.5, 101);
	tasktab_set_progress(tt, t, 0.5, 102);	/* same: no event */
	tasktab_set_progress(tt, t, NAN, 103);	/* ignored */
	ck_assert_int_eq(nev, 1);
	ck_assert_int_eq(evs[0].ev, TASK_EV_PROGRESS);
	ck_assert(task_progress(t) == 0.5 && t->updated == 101);
}
END_TEST

START_TEST(test_labels_exact_match)
{
	struct task *t;
	json_object *l = json_tokener_parse(
	    "{\"env\":\"prod\",\"x\":\"a\\\",\\\"env\\\":\\\"dev\","
	    "\"team\":\"a,b\"}");
	char *canon = json_canonical(l);
	struct task_init in;

	memset(&in, 0, sizeof in);
	in.poller = pa;
	in.owner = 1;
	in.ref = "{}";
	in.labels = canon;
	t = tasktab_create(tt, &in, 100);
	ck_assert(task_has_label(t, "env", "prod"));
	ck_assert(task_has_label(t, "team", "a,b"));
	ck_assert(!task_has_label(t, "env", "dev"));	/* inside a value */
	ck_assert(!task_has_label(t, "env", "pro"));
	ck_assert(!task_has_label(t, "nv", "prod"));
	ck_assert(!task_has_label(t, "team", "a"));
	free(canon);
	json_object_put(l);
}
END_TEST

START_TEST(test_to_json)
{
	struct task *t = mk(pa, 42, "{\"id\":1}", "key", 500, 100);
	json_object *o, *e;

	tasktab_finish(tt, t, PX_STATE_FAILED, NULL, "boom", "it broke",
	    "{\"n\":3}", 150);
	o = task_to_json(t);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o,
	    "state")), "failed");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o,
	    "poller")), "a");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(o,
	    "owner")), 42);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o,
	    "idempotency_key")), "key");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    json_object_object_get(o, "ref"), "id")), 1);
	e = json_object_object_get(o, "error");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e,
	    "code")), "boom");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    json_object_object_get(e, "details"), "n")), 3);
	ck_assert(json_object_get_double(json_object_object_get(o,
	    "finished")) == 150);
	ck_assert_ptr_null(json_object_object_get(o, "result"));
	json_object_put(o);
}
END_TEST

/* task_to_text() writes what task_to_json() builds, for every shape of
 * task: with and without each optional member, escapes, numbers. */
START_TEST(test_to_text_matches_json)
{
	struct task_init in;
	struct task *t[5];
	json_object *a, *b;
	char *text;
	size_t len, i;

	memset(&in, 0, sizeof in);
	in.poller = pa;
	in.owner = 0;
	in.ref = "{\"id\":\"x\\\"y/\\u00e9\",\"n\":[1,2.5,-3e+20,null,true]}";
	in.args = "{\"object\":\"o\\n1\"}";
	in.labels = "{\"team\":\"web \\\"a\\\"\"}";
	in.idem_key = "key \"quoted\" \\ \x01 \xc3\xa9";
	in.deadline = 1764000000.125;
	t[0] = tasktab_create(tt, &in, 1763999999.5);
	tasktab_set_progress(tt, t[0], 0.25, 1763999999.75);
	t[1] = mk(pb, 4294967294u, "7", NULL, 0, 100);	/* no labels/args */
	tasktab_finish(tt, t[1], PX_STATE_SUCCEEDED, "{\"url\":\"https://x/y\"}",
	    NULL, NULL, NULL, 150);
	t[2] = mk(pa, 1000, "[]", NULL, 0, 1e9);
	tasktab_finish(tt, t[2], PX_STATE_FAILED, NULL, "boom",
	    "it \"broke\"\n\tbadly", "{\"n\":3}", 1e9 + 1);
	t[3] = mk(pa, 1000, "\"s\"", NULL, 0, 3);
	tasktab_finish(tt, t[3], PX_STATE_FAILED, NULL, "e", "m", NULL, 4);
	t[4] = mk(pb, 1, NULL, NULL, 0, 5);	/* starting: no ref */
	for (i = 0; i < 5; i++) {
		ck_assert_ptr_nonnull(t[i]);
		text = task_to_text(t[i], &len);
		ck_assert_uint_eq(len, strlen(text));
		a = json_tokener_parse(text);
		ck_assert_msg(a != NULL, "task %zu: not JSON: %s", i, text);
		b = task_to_json(t[i]);
		ck_assert_msg(json_object_equal(a, b), "task %zu:\n text %s\n json %s",
		    i, text, json_object_to_json_string(b));
		json_object_put(a);
		json_object_put(b);
		free(text);
	}
}
END_TEST

/* What the store loads is checked to be JSON before replies copy it. */
START_TEST(test_json_valid)
{
	ck_assert(task_json_valid("{\"a\":[1,2]}"));
	ck_assert(task_json_valid("42"));
	ck_assert(task_json_valid("null"));	/* json-c's NULL object */
	ck_assert(task_json_valid("\"s\" \n"));
	ck_assert(!task_json_valid(""));
	ck_assert(!task_json_valid("{\"a\":"));
	ck_assert(!task_json_valid("{} {}"));
	ck_assert(!task_json_valid("{\"a\":1}]"));
	ck_assert(!task_json_valid("nope"));
	/* Values older versions stored in json-c's lenient spellings still
	 * load (the strict in-place check is only the fast way). */
	ck_assert(task_json_valid("{\"n\": 1.}"));
	ck_assert(task_json_valid("[01]"));
}
END_TEST

static Suite *
task_suite(void)
{
	Suite *s = suite_create("task");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids_unique_and_ordered);
	tcase_add_test(tc, test_states_and_counts);
	tcase_add_test(tc, test_first_outcome_wins);
	tcase_add_test(tc, test_indexes_are_per_owner);
	tcase_add_test(tc, test_deadlines_expire_in_order);
	tcase_add_test(tc, test_many_deadlines_heap);
	tcase_add_test(tc, test_purge_after_retention);
	tcase_add_test(tc, test_progress_events);
	tcase_add_test(tc, test_labels_exact_match);
	tcase_add_test(tc, test_to_json);
	tcase_add_test(tc, test_to_text_matches_json);
	tcase_add_test(tc, test_json_valid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(task_suite());
}
