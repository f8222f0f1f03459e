/* SPDX-License-Identifier: ISC */
/* check_methods.c: call validation and method semantics, calling the
 * handlers directly with a reply collector (no socket). */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "call.h"
#include "jspan.h"
#include "methods.h"
#include "poller.h"
#include "pollexd.h"
#include "testlib.h"
#include "util.h"

static struct event_base *base;
static struct pxd *pxd;
static char *dir;

#define MAXREPLIES 32
static json_object *replies[MAXREPLIES];
static int nreplies, finals;

static char last[4096];		/* the last reply's text */

/* Collect a reply; every reply must be RFC 8259 JSON (jspan_check()),
 * which Python's json or Go's encoding/json would take. */
static void
sink(void *arg, const char *msg, size_t len, int final)
{
	struct jspan v;
	const char *why = NULL;

	(void)arg;
	ck_assert_msg(jspan_check(msg, len, 64, &v, &why, NULL) == 0,
	    "a reply that is not strict JSON (%s): %s", why, msg);
	snprintf(last, sizeof last, "%s", msg);
	ck_assert_int_lt(nreplies, MAXREPLIES);
	replies[nreplies] = json_tokener_parse(msg);
	ck_assert_ptr_nonnull(replies[nreplies]);
	ck_assert_uint_eq(strlen(msg), len);
	nreplies++;
	finals += final;
}

static void
clear_replies(void)
{
	while (nreplies > 0)
		json_object_put(replies[--nreplies]);
	finals = 0;
}

static void
setup(void)
{
	struct conf *conf;
	char *path, *cause = NULL, *text;

	hash_init();
	dir = test_tmpdir();
	if (asprintf(&text, "{\"max_submit\": 5, \"max_tasks_per_uid\": 8,"
	    "\"pollers\": {"
	    "\"p\": {\"kind\": \"exec\", \"poll\": [\"/bin/true\"]},"
	    "\"s\": {\"kind\": \"exec\", \"poll\": [\"/bin/true\"],"
	    "        \"start\": [\"/bin/false\"]}}}") == -1)
		abort();
	path = write_file(dir, "m.conf", text, 0);
	ck_assert_msg(conf_load(path, &conf, &cause) == 0, "%s", cause);
	base = event_base_new();
	pxd = pxd_new(base, NULL);
	pxd_apply_conf(pxd, conf);
	free(path);
	free(text);
	nreplies = finals = 0;
}

static void
teardown(void)
{
	clear_replies();
	pxd_free(pxd);
	event_base_free(base);
	rm_rf(dir);
	free(dir);
}

/* Call method as uid with params (JSON text); returns the last reply. */
static json_object *
call_as(uid_t uid, const char *method, const char *params, int more)
{
	struct caller who = { uid, uid, 1, uid == 0 };
	json_object *p = params != NULL ? json_tokener_parse(params) : NULL;
	struct call *c;

	ck_assert(params == NULL || p != NULL);
	clear_replies();
	c = call_new(&who, method, more, 0, sink, NULL);
	methods_dispatch(pxd_core(pxd), c, p);
	json_object_put(p);
	return nreplies > 0 ? replies[nreplies - 1] : NULL;
}

static json_object *
call_m(const char *method, const char *params)
{
	return call_as(1000, method, params, 0);
}

static const char *
err_of(json_object *r)
{
	json_object *e;

	ck_assert_ptr_nonnull(r);
	return json_object_object_get_ex(r, "error", &e) ?
	    json_object_get_string(e) : "";
}

static json_object *
params_of(json_object *r)
{
	return json_object_object_get(r, "parameters");
}

static const char *
pstr(json_object *r, const char *key)
{
	return json_object_get_string(json_object_object_get(params_of(r), key));
}

static void
expect_invalid(const char *method, const char *params, const char *param,
    const char *reason)
{
	json_object *r = call_m(method, params);

	ck_assert_msg(strcmp(err_of(r),
	    "org.varlink.service.InvalidParameter") == 0, "%s %s: %s", method,
	    params, json_object_to_json_string(r));
	ck_assert_str_eq(pstr(r, "parameter"), param);
	if (reason != NULL)
		ck_assert_msg(strstr(pstr(r, "reason"), reason) != NULL,
		    "reason \"%s\" lacks \"%s\"", pstr(r, "reason"), reason);
	ck_assert_int_eq(finals, 1);
}

static const char *
submit_one(const char *spec)
{
	static char id[64];
	char *params;
	json_object *r;

	if (asprintf(&params, "{\"tasks\": [%s]}", spec) == -1)
		abort();
	r = call_m("io.pollex.Submit", params);
	free(params);
	ck_assert_msg(*err_of(r) == '\0', "%s", json_object_to_json_string(r));
	snprintf(id, sizeof id, "%s", json_object_get_string(
	    json_object_array_get_idx(json_object_object_get(params_of(r),
	    "ids"), 0)));
	return id;
}

START_TEST(test_submit_validation)
{
	expect_invalid("io.pollex.Submit", "{}", "tasks", "missing");
	expect_invalid("io.pollex.Submit", "{\"tasks\": 3}", "tasks", NULL);
	expect_invalid("io.pollex.Submit", "{\"tasks\": []}", "tasks", NULL);
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{}], \"x\": 1}", "x",
	    "unknown parameter");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [7]}", "tasks[0]", NULL);
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"colour\": 1}]}",
	    "tasks[0].colour", "unknown field");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{\"ref\": {}}]}",
	    "tasks[0].poller", "missing");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": 5}]}", "tasks[0].ref",
	    "object");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\"}]}",
	    "tasks[0].ref", "start function");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"labels\": "
	    "{\"a\": 1}}]}", "tasks[0].labels", "strings");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"timeout\": -1}]}",
	    "tasks[0].timeout", NULL);
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"timeout\": 5, "
	    "\"deadline\": 9999999999}]}", "tasks[0].deadline", "not both");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"deadline\": 1}]}",
	    "tasks[0].deadline", "past");
	/* Too far: said as such, not as "not positive". */
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"deadline\": "
	    "1e20}]}", "tasks[0].deadline", "ten years");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"timeout\": "
	    "1e308}]}", "tasks[0].timeout", "at most ten years");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, "
	    "\"idempotency_key\": \"\"}]}", "tasks[0].idempotency_key", NULL);
	/* A NUL would cut the key or value where pollex keeps it: said. */
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, "
	    "\"idempotency_key\": \"a\\u0000b\"}]}",
	    "tasks[0].idempotency_key", "\\u0000");
	expect_invalid("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {}, \"labels\": "
	    "{\"a\": \"x\\u0000\"}}]}", "tasks[0].labels", "\\u0000");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\", "
	    "\"ref\": {\"n\":1}}, {\"poller\": \"p\", \"ref\": {\"n\":2}}, "
	    "{\"poller\": \"p\", \"ref\": {\"n\":3}}, {\"poller\": \"p\", "
	    "\"ref\": {\"n\":4}}, {\"poller\": \"p\", \"ref\": {\"n\":5}}, "
	    "{\"poller\": \"p\", \"ref\": {\"n\":6}}]}", "tasks", "at most 5");
	/* Nothing was created by any of them. */
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 0);
}
END_TEST

START_TEST(test_submit_unknown_poller)
{
	json_object *r = call_m("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"nope\", \"ref\": {}}]}");

	ck_assert_str_eq(err_of(r), "io.pollex.PollerNotFound");
	ck_assert_str_eq(pstr(r, "poller"), "nope");
}
END_TEST

START_TEST(test_submit_all_or_nothing)
{
	json_object *r = call_m("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {\"a\": 1}},"
	    "            {\"poller\": \"nope\", \"ref\": {}}]}");

	ck_assert_str_eq(err_of(r), "io.pollex.PollerNotFound");
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 0);
}
END_TEST

START_TEST(test_submit_and_dedupe)
{
	json_object *r, *ids, *created;
	char id1[64];

	r = call_m("io.pollex.Submit", "{\"tasks\": ["
	    "{\"poller\": \"p\", \"ref\": {\"a\": 1, \"b\": 2}, "
	    " \"idempotency_key\": \"k\"},"
	    "{\"poller\": \"p\", \"ref\": {\"b\": 2, \"a\": 1}},"	/* same ref */
	    "{\"poller\": \"p\", \"ref\": {\"a\": 1, \"b\": 2}, "
	    " \"idempotency_key\": \"k\"},"
	    "{\"poller\": \"s\", \"args\": {\"x\": 1}}]}");
	ck_assert_str_eq(err_of(r), "");
	ids = json_object_object_get(params_of(r), "ids");
	created = json_object_object_get(params_of(r), "created");
	ck_assert_uint_eq(json_object_array_length(ids), 4);
	snprintf(id1, sizeof id1, "%s",
	    json_object_get_string(json_object_array_get_idx(ids, 0)));
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(ids,
	    1)), id1);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(ids,
	    2)), id1);
	ck_assert(json_object_get_boolean(json_object_array_get_idx(created, 0)));
	ck_assert(!json_object_get_boolean(json_object_array_get_idx(created, 1)));
	ck_assert(!json_object_get_boolean(json_object_array_get_idx(created, 2)));
	ck_assert(json_object_get_boolean(json_object_array_get_idx(created, 3)));
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 2);
	ck_assert_int_eq(tasktab_find(pxd_core(pxd)->tt, json_object_get_string(
	    json_object_array_get_idx(ids, 3)))->state, PX_STATE_STARTING);
	/* Another uid with the same key and ref gets a task of its own. */
	r = call_as(1001, "io.pollex.Submit", "{\"tasks\": [{\"poller\": "
	    "\"p\", \"ref\": {\"a\": 1, \"b\": 2}, \"idempotency_key\": "
	    "\"k\"}]}", 0);
	ck_assert_str_ne(json_object_get_string(json_object_array_get_idx(
	    json_object_object_get(params_of(r), "ids"), 0)), id1);
	/* The same key for something else is a conflict. */
	r = call_m("io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\", "
	    "\"ref\": {\"a\": 9}, \"idempotency_key\": \"k\"}]}");
	ck_assert_str_eq(err_of(r), "io.pollex.IdempotencyConflict");
	ck_assert_str_eq(pstr(r, "id"), id1);
	r = call_m("io.pollex.Submit", "{\"tasks\": ["
	    "{\"poller\": \"p\", \"ref\": {\"z\": 1}, \"idempotency_key\": \"j\"},"
	    "{\"poller\": \"p\", \"ref\": {\"z\": 2}, \"idempotency_key\": \"j\"}]}");
	ck_assert_str_eq(err_of(r), "io.pollex.IdempotencyConflict");
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 3);
}
END_TEST

/* Numbers json-c takes beyond RFC 8259 ("1.", "01.5", "-.5") in a ref or
 * args are kept as their values; NaN and Infinity, which JSON cannot
 * spell, are refused; every reply is strict JSON (the sink checks). */
START_TEST(test_submit_lenient_numbers)
{
	char id[64], params[256];
	json_object *r;

	snprintf(id, sizeof id, "%s", submit_one("{\"poller\": \"p\", "
	    "\"ref\": {\"n\": 1., \"m\": [01.5, -.5, 2.50, -0.0], "
	    "\"big\": 1e999, \"i\": -01}, \"args\": {\"x\": 10.}}"));
	snprintf(params, sizeof params, "{\"id\": \"%s\"}", id);
	r = call_m("io.pollex.Get", params);
	ck_assert_str_eq(err_of(r), "");
	ck_assert_msg(strstr(last, "\"ref\":{\"big\":1e999,\"i\":-1,"
	    "\"m\":[1.5,-0.5,2.50,-0.0],\"n\":1.0}") != NULL, "%s", last);
	ck_assert_msg(strstr(last, "\"args\":{\"x\":10.0}") != NULL, "%s",
	    last);
	r = call_m("io.pollex.List", "{}");
	ck_assert_str_eq(err_of(r), "");
	tasktab_finish(pxd_core(pxd)->tt, tasktab_find(pxd_core(pxd)->tt, id),
	    PX_STATE_SUCCEEDED, "1", NULL, NULL, NULL, real_now());
	snprintf(params, sizeof params, "{\"ids\": [\"%s\"]}", id);
	r = call_m("io.pollex.Wait", params);
	ck_assert_str_eq(err_of(r), "");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{\"poller\": "
	    "\"p\", \"ref\": {\"a\": [1, NaN]}}]}", "tasks[0].ref",
	    "NaN is not a JSON number");
	expect_invalid("io.pollex.Submit", "{\"tasks\": [{\"poller\": "
	    "\"p\", \"ref\": {\"a\": 1}, \"args\": {\"b\": {\"c\": "
	    "-Infinity}}}]}", "tasks[0].args", "-Infinity is not a JSON "
	    "number");
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 1);
}
END_TEST

START_TEST(test_quota)
{
	json_object *r;
	int i;
	char spec[64];

	for (i = 0; i < 8; i++) {
		snprintf(spec, sizeof spec, "{\"poller\": \"p\", \"ref\": "
		    "{\"n\": %d}}", i);
		submit_one(spec);
	}
	r = call_m("io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {\"n\": 99}}]}");
	ck_assert_str_eq(err_of(r), "io.pollex.QuotaExceeded");
	ck_assert_str_eq(pstr(r, "quota"), "max_tasks_per_uid");
	/* Another uid has its own quota. */
	r = call_as(7, "io.pollex.Submit",
	    "{\"tasks\": [{\"poller\": \"p\", \"ref\": {\"n\": 99}}]}", 0);
	ck_assert_str_eq(err_of(r), "");
}
END_TEST

START_TEST(test_owner_isolation)
{
	char id[64], params[128];
	json_object *r;

	snprintf(id, sizeof id, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 1}}"));
	snprintf(params, sizeof params, "{\"id\": \"%s\"}", id);
	r = call_as(1001, "io.pollex.Get", params, 0);
	ck_assert_str_eq(err_of(r), "io.pollex.TaskNotFound");
	ck_assert_str_eq(pstr(r, "id"), id);
	r = call_as(1001, "io.pollex.Cancel", params, 0);
	ck_assert_str_eq(err_of(r), "io.pollex.TaskNotFound");
	r = call_as(1001, "io.pollex.List", "{}", 0);
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "tasks")), 0);
	r = call_as(0, "io.pollex.Get", params, 0);	/* root sees all */
	ck_assert_str_eq(err_of(r), "");
	ck_assert_int_eq(tasktab_find(pxd_core(pxd)->tt, id)->state, PX_STATE_PENDING);
}
END_TEST

START_TEST(test_poll_validation)
{
	char id[64], sid[64], params[256];
	json_object *r;
	int i;

	expect_invalid("io.pollex.Poll", "{}", "poller", "missing");
	expect_invalid("io.pollex.Poll", "{\"poller\": 3}", "poller", NULL);
	expect_invalid("io.pollex.Poll", "{\"poller\": \"p\", \"x\": 1}", "x",
	    "unknown parameter");
	expect_invalid("io.pollex.Poll", "{\"poller\": \"p\", \"ids\": []}",
	    "ids", NULL);
	expect_invalid("io.pollex.Poll", "{\"poller\": \"p\", \"ids\": [3]}",
	    "ids[0]", NULL);
	r = call_m("io.pollex.Poll", "{\"poller\": \"nope\"}");
	ck_assert_str_eq(err_of(r), "io.pollex.PollerNotFound");
	ck_assert_str_eq(pstr(r, "poller"), "nope");
	/* Nothing to poll: answered at once. */
	r = call_m("io.pollex.Poll", "{\"poller\": \"p\"}");
	ck_assert_str_eq(err_of(r), "");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    params_of(r), "polled")), 0);
	snprintf(id, sizeof id, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 1}}"));
	snprintf(sid, sizeof sid, "%s", submit_one("{\"poller\": \"s\"}"));
	/* Another poller's task; another uid's task. */
	snprintf(params, sizeof params, "{\"poller\": \"p\", \"ids\": "
	    "[\"%s\", \"%s\"]}", id, sid);
	expect_invalid("io.pollex.Poll", params, "ids[1]", "poller s");
	snprintf(params, sizeof params, "{\"poller\": \"p\", \"ids\": "
	    "[\"%s\"]}", id);
	r = call_as(1001, "io.pollex.Poll", params, 0);
	ck_assert_str_eq(err_of(r), "io.pollex.TaskNotFound");
	ck_assert_str_eq(pstr(r, "id"), id);
	r = call_as(1001, "io.pollex.Poll", "{\"poller\": \"p\"}", 0);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    params_of(r), "polled")), 0);
	/* The owner's call is answered once the poll ran (/bin/true does
	 * not read the batch: pollexd ignores SIGPIPE, so does this). */
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < 1000 && tasktab_find(pxd_core(pxd)->tt, id)->state !=
	    PX_STATE_PENDING; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert_int_eq(tasktab_find(pxd_core(pxd)->tt, id)->state,
	    PX_STATE_PENDING);
	call_m("io.pollex.Poll", params);
	for (i = 0; i < 2000 && nreplies == 0; i++) {
		struct timeval tv = { 0, 5000 };

		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
	ck_assert_int_eq(nreplies, 1);
	ck_assert_msg(*err_of(replies[0]) == '\0', "%s", last);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	    params_of(replies[0]), "polled")), 1);
}
END_TEST

START_TEST(test_cancel_local_and_terminal)
{
	char id[64], params[128];
	json_object *r;

	snprintf(id, sizeof id, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 1}}"));
	snprintf(params, sizeof params, "{\"id\": \"%s\"}", id);
	r = call_m("io.pollex.Cancel", params);
	ck_assert(json_object_get_boolean(json_object_object_get(params_of(r),
	    "cancelled")));
	ck_assert_str_eq(pstr(r, "state"), "cancelled");
	r = call_m("io.pollex.Cancel", params);
	ck_assert(!json_object_get_boolean(json_object_object_get(params_of(r),
	    "cancelled")));
	ck_assert_ptr_nonnull(strstr(pstr(r, "reason"), "already"));
	expect_invalid("io.pollex.Cancel", "{}", "id", "missing");
	expect_invalid("io.pollex.Cancel", "{\"id\": 5}", "id", NULL);
	r = call_m("io.pollex.Cancel", "{\"id\": \"0000\"}");
	ck_assert_str_eq(err_of(r), "io.pollex.TaskNotFound");
}
END_TEST

START_TEST(test_wait_validation_and_immediate)
{
	char id[64], params[256];
	json_object *r;

	expect_invalid("io.pollex.Wait", "{}", "ids", "missing");
	expect_invalid("io.pollex.Wait", "{\"ids\": []}", "ids", NULL);
	expect_invalid("io.pollex.Wait", "{\"ids\": [\"x\"], \"return_when\": "
	    "\"SOON\"}", "return_when", NULL);
	expect_invalid("io.pollex.Wait", "{\"ids\": [\"x\"], \"timeout\": -1}",
	    "timeout", NULL);
	expect_invalid("io.pollex.Wait", "{\"ids\": [\"x\"], \"timeout\": "
	    "1e308}", "timeout", "at most ten years");
	r = call_m("io.pollex.Wait", "{\"ids\": [\"nope\"]}");
	ck_assert_str_eq(err_of(r), "io.pollex.TaskNotFound");

	snprintf(id, sizeof id, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 1}}"));
	tasktab_finish(pxd_core(pxd)->tt, tasktab_find(pxd_core(pxd)->tt, id), PX_STATE_FAILED,
	    NULL, "e", "m", NULL, real_now());
	snprintf(params, sizeof params, "{\"ids\": [\"%s\", \"%s\"]}", id, id);
	r = call_m("io.pollex.Wait", params);	/* done already: at once */
	ck_assert_int_eq(finals, 1);
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "done")), 1);	/* the same id twice is one */
	ck_assert(!json_object_get_boolean(json_object_object_get(
	    params_of(r), "timed_out")));
}
END_TEST

START_TEST(test_wait_more_streams)
{
	char a[64], b[64], params[256];

	snprintf(a, sizeof a, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 1}}"));
	snprintf(b, sizeof b, "%s",
	    submit_one("{\"poller\": \"p\", \"ref\": {\"x\": 2}}"));
	tasktab_finish(pxd_core(pxd)->tt, tasktab_find(pxd_core(pxd)->tt, a), PX_STATE_SUCCEEDED,
	    "1", NULL, NULL, NULL, real_now());
	tasktab_finish(pxd_core(pxd)->tt, tasktab_find(pxd_core(pxd)->tt, b), PX_STATE_SUCCEEDED,
	    "2", NULL, NULL, NULL, real_now());
	snprintf(params, sizeof params, "{\"ids\": [\"%s\", \"%s\"]}", a, b);
	call_as(1000, "io.pollex.Wait", params, 1);
	ck_assert_int_eq(nreplies, 2);
	ck_assert_int_eq(finals, 1);
	ck_assert(json_object_get_boolean(json_object_object_get(replies[0],
	    "continues")));
	ck_assert_ptr_null(json_object_object_get(replies[1], "continues"));
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(replies[1]), "not_done")), 0);
}
END_TEST

START_TEST(test_list_paging_and_filters)
{
	json_object *r;
	char params[128], next[64];
	int i, seen = 0;

	for (i = 0; i < 7; i++) {
		char spec[128];
		snprintf(spec, sizeof spec, "{\"poller\": \"p\", \"ref\": "
		    "{\"n\": %d}, \"labels\": {\"odd\": \"%s\"}}", i,
		    i % 2 ? "yes" : "no");
		submit_one(spec);
	}
	expect_invalid("io.pollex.List", "{\"limit\": 0}", "limit", NULL);
	expect_invalid("io.pollex.List", "{\"states\": [\"done\"]}", "states",
	    "unknown state");
	r = call_m("io.pollex.List", "{\"limit\": 3}");
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "tasks")), 3);
	snprintf(next, sizeof next, "%s", pstr(r, "next"));
	seen = 3;
	for (;;) {
		snprintf(params, sizeof params,
		    "{\"limit\": 3, \"after\": \"%s\"}", next);
		r = call_m("io.pollex.List", params);
		seen += (int)json_object_array_length(json_object_object_get(
		    params_of(r), "tasks"));
		if (json_object_object_get(params_of(r), "next") == NULL)
			break;
		snprintf(next, sizeof next, "%s", pstr(r, "next"));
	}
	ck_assert_int_eq(seen, 7);
	r = call_m("io.pollex.List", "{\"labels\": {\"odd\": \"yes\"}}");
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "tasks")), 3);
	r = call_m("io.pollex.List", "{\"states\": [\"succeeded\"]}");
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "tasks")), 0);
	r = call_m("io.pollex.List", "{\"poller\": \"s\"}");
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "tasks")), 0);
}
END_TEST

START_TEST(test_watch_needs_more)
{
	struct caller who = { 1000, 1000, 1, 0 };
	json_object *r = call_m("io.pollex.Watch", "{}"), *p;
	struct call *c;

	ck_assert_str_eq(err_of(r), "org.varlink.service.ExpectedMore");
	submit_one("{\"poller\": \"p\", \"ref\": {\"w\": 0}}");
	clear_replies();
	c = call_new(&who, "io.pollex.Watch", 1, 0, sink, NULL);
	p = json_tokener_parse("{\"initial\": true}");
	methods_dispatch(pxd_core(pxd), c, p);
	json_object_put(p);
	ck_assert_int_eq(nreplies, 2);
	ck_assert_int_eq(finals, 0);
	ck_assert_str_eq(pstr(replies[0], "event"), "current");
	ck_assert_str_eq(pstr(replies[1], "event"), "ready");
	/* A submit reaches the watcher as "created"; another uid's not. */
	call_as(1001, "io.pollex.Submit", "{\"tasks\": [{\"poller\": \"p\", "
	    "\"ref\": {\"w\": 2}}]}", 0);
	ck_assert_int_eq(nreplies, 1);
	submit_one("{\"poller\": \"p\", \"ref\": {\"w\": 1}}");
	ck_assert_int_eq(nreplies, 2);
	ck_assert_str_eq(pstr(replies[0], "event"), "created");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_object_get(params_of(replies[0]), "task"), "state")),
	    "pending");
	call_abort(c);	/* the client went away */
	submit_one("{\"poller\": \"p\", \"ref\": {\"w\": 3}}");
	ck_assert_int_eq(nreplies, 1);
}
END_TEST

START_TEST(test_introspection_and_unknown)
{
	json_object *r;

	r = call_m("org.varlink.service.GetInfo", NULL);
	ck_assert_str_eq(pstr(r, "product"), "pollexd");
	r = call_m("org.varlink.service.GetInterfaceDescription",
	    "{\"interface\": \"io.pollex\"}");
	ck_assert_ptr_nonnull(strstr(pstr(r, "description"),
	    "interface io.pollex"));
	ck_assert_ptr_nonnull(strstr(pstr(r, "description"), "method Submit("));
	r = call_m("org.varlink.service.GetInterfaceDescription",
	    "{\"interface\": \"com.example\"}");
	ck_assert_str_eq(err_of(r), "org.varlink.service.InterfaceNotFound");
	r = call_m("io.pollex.Frobnicate", "{}");
	ck_assert_str_eq(err_of(r), "org.varlink.service.MethodNotFound");
	ck_assert_str_eq(pstr(r, "method"), "io.pollex.Frobnicate");
	r = call_m("com.example.Do", "{}");
	ck_assert_str_eq(err_of(r), "org.varlink.service.InterfaceNotFound");
	r = call_m("io.pollex.Pollers", "{}");
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(
	    params_of(r), "pollers")), 2);
	r = call_m("io.pollex.Stats", "{\"x\": 1}");
	ck_assert_str_eq(err_of(r), "org.varlink.service.InvalidParameter");
	pxd_core(pxd)->stopping = 1;
	r = call_m("io.pollex.Stats", NULL);
	ck_assert_str_eq(err_of(r), "io.pollex.ShuttingDown");
	pxd_core(pxd)->stopping = 0;
}
END_TEST

static Suite *
methods_suite(void)
{
	Suite *s = suite_create("methods");
	TCase *tc = tcase_create("methods");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_submit_validation);
	tcase_add_test(tc, test_submit_unknown_poller);
	tcase_add_test(tc, test_submit_all_or_nothing);
	tcase_add_test(tc, test_submit_and_dedupe);
	tcase_add_test(tc, test_submit_lenient_numbers);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_owner_isolation);
	tcase_add_test(tc, test_cancel_local_and_terminal);
	tcase_add_test(tc, test_poll_validation);
	tcase_add_test(tc, test_wait_validation_and_immediate);
	tcase_add_test(tc, test_wait_more_streams);
	tcase_add_test(tc, test_list_paging_and_filters);
	tcase_add_test(tc, test_watch_needs_more);
	tcase_add_test(tc, test_introspection_and_unknown);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(methods_suite());
}
