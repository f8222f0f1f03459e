/* SPDX-License-Identifier: ISC */
/* check_http_poller.c: the http-batch and http-each kinds end to end: the
 * real pollexd polling the real HTTP test service, driven through
 * libpollex.  The service's request log says what pollexd sent. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"
#include "pollex.h"
#include "testlib.h"
#include "tsvc.h"
#include "util.h"

static struct tdaemon *td;
static struct tsvc svc;
static pollex *c;

static void
setup(void)
{
	ck_assert_msg(tsvc_start(&svc, NULL) == 0, "the test service did not "
	    "start");
	td = td_new();
	c = NULL;
}

static void
teardown(void)
{
	pollex_close(c);
	td_finish(td);
	ck_assert_int_eq(tsvc_stop(&svc), 0);
}

/* Start pollexd with one poller "p" of kind with the keys given (the
 * service's URL is added) and connect. */
static void
start(const char *kind, const char *keys)
{
	char *conf;
	int r;

	if (asprintf(&conf, "{\"pollers\": {\"p\": {\"kind\": \"%s\", "
	    "\"url\": \"%s\", %s}}}", kind, svc.base, keys) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(conf);
	r = pollex_connect(td->sock, &c);
	ck_assert_msg(r == 0, "connect: %s", pollex_strerror(r));
	pollex_set_timeout(c, 30000);
}

/* The PollExecutor example: publish creates, search polls, DELETE cancels. */
#define BATCH_KEYS \
	"\"interval\": \"200ms\", \"min_interval\": \"50ms\", " \
	"\"start\": {\"method\": \"POST\", " \
	"  \"url\": \"/object/{{args/object}}/publish\", \"body\": \"{{args}}\"}," \
	"\"start_ref\": {\"task_id\": \"/task_id\"}, " \
	"\"poll\": {\"method\": \"POST\", \"url\": \"/tasks/search\", " \
	"  \"body\": {\"task_id\": \"{{refs/task_id}}\"}}, " \
	"\"item_id\": \"/id\", \"ref_id\": \"/task_id\", " \
	"\"cancel\": {\"method\": \"DELETE\", " \
	"  \"url\": \"/tasks/{{ref/task_id}}\"}, " \
	"\"outcome\": {\"rules\": [" \
	"  {\"path\": \"/state\", \"equals\": \"done\", \"state\": \"succeeded\"}," \
	"  {\"path\": \"/state\", \"in\": [\"error\", \"cancelled\"], " \
	"   \"state\": \"failed\"}], " \
	"  \"result\": \"/result\", \"error_message\": \"/message\", " \
	"  \"progress\": \"/progress\"}"

static char *
submit_args(const char *args)
{
	pollex_spec *s = pollex_spec_new("p");
	char *id = NULL;
	int r;

	ck_assert_int_eq(pollex_spec_set_args(s, args), 0);
	r = pollex_submit(c, s, &id, NULL);
	ck_assert_msg(r == 0, "submit: %s", pollex_error_message(c));
	pollex_spec_free(s);
	return id;
}

static char *
submit_ref(const char *ref)
{
	pollex_spec *s = pollex_spec_new("p");
	char *id = NULL;
	int r;

	ck_assert_int_eq(pollex_spec_set_ref(s, ref), 0);
	r = pollex_submit(c, s, &id, NULL);
	ck_assert_msg(r == 0, "submit: %s", pollex_error_message(c));
	pollex_spec_free(s);
	return id;
}

static pollex_task *
wait_one(const char *id)
{
	const char *ids[1] = { id };
	pollex_task **done = NULL;
	pollex_task *t;
	size_t n = 0;
	int r;

	r = pollex_wait(c, ids, 1, POLLEX_ALL_COMPLETED, 20.0, &done, &n,
	    NULL);
	ck_assert_msg(r == 0, "wait %s: %s: %s", id, pollex_strerror(r),
	    tail(td_log(td)));
	ck_assert_uint_eq(n, 1);
	t = done[0];
	free(done);
	return t;
}

static pollex_task *
get(const char *id)
{
	pollex_task *t = NULL;

	ck_assert_int_eq(pollex_get(c, id, &t), 0);
	return t;
}

/* The value at key of a task's result or ref (JSON text), as JSON. */
static json_object *
jget(const char *text, const char *key)
{
	json_object *o = json_tokener_parse(text), *v = NULL;

	ck_assert_msg(o != NULL, "not JSON: %s", text);
	if (json_object_object_get_ex(o, key, &v))
		json_object_get(v);
	json_object_put(o);
	return v;
}

/* ------------------------------------------------------------------ */

/* Twenty tasks created by the start request, resolved by a handful of
 * searches that each carry many ids. */
START_TEST(test_batch_start_and_search)
{
	char *ids[20], args[128];
	const char *cids[20];
	pollex_task **done = NULL;
	json_object *v;
	size_t n = 0, i;
	long searches;

	start("http-batch", BATCH_KEYS);
	for (i = 0; i < 20; i++) {
		snprintf(args, sizeof args, "{\"object\": \"img-%zu\", "
		    "\"duration_ms\": 600, \"result\": {\"n\": %zu}}", i, i);
		ids[i] = submit_args(args);
		cids[i] = ids[i];
	}
	ck_assert_int_eq(pollex_wait(c, cids, 20, POLLEX_ALL_COMPLETED, 20.0,
	    &done, &n, NULL), 0);
	ck_assert_uint_eq(n, 20);
	for (i = 0; i < n; i++) {
		ck_assert_msg(pollex_task_state(done[i]) == POLLEX_SUCCEEDED,
		    "%s: %s", pollex_task_id(done[i]),
		    pollex_task_error_message(done[i]) ?: "");
		v = jget(pollex_task_result(done[i]), "n");
		ck_assert_ptr_nonnull(v);
		/* Each task got its own item's result. */
		ck_assert_str_eq(pollex_task_id(done[i]),
		    ids[json_object_get_int(v)]);
		json_object_put(v);
		v = jget(pollex_task_ref(done[i]), "task_id");
		ck_assert(json_object_is_type(v, json_type_int));
		json_object_put(v);
	}
	pollex_tasks_free(done, n);
	ck_assert_int_eq(tsvc_count(&svc, "POST /object/:id/publish"), 20);
	searches = tsvc_count(&svc, "POST /tasks/search");
	/* 600 ms of work, polled every 200 ms: a few searches, not one per
	 * task per tick. */
	ck_assert_msg(searches >= 2 && searches <= 10, "%ld searches",
	    searches);
	/* Pollers shows the transport's counters: every request the service
	 * saw, over kept-alive connections. */
	{
		json_object *all, *http;
		char *text = NULL;
		int64_t req, conn;

		ck_assert_int_eq(pollex_pollers(c, &text), 0);
		all = json_tokener_parse(text);
		ck_assert_ptr_nonnull(all);
		http = json_object_object_get(json_object_array_get_idx(
		    json_object_object_get(all, "pollers"), 0), "http");
		ck_assert_ptr_nonnull(http);
		req = json_object_get_int64(json_object_object_get(http,
		    "requests"));
		conn = json_object_get_int64(json_object_object_get(http,
		    "connects"));
		ck_assert_int_eq(req, 20 + searches);
		ck_assert_msg(conn >= 1 && conn < req, "%" PRId64
		    " connections for %" PRId64 " requests", conn, req);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(
		    http, "failures")), 0);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(
		    http, "in_flight")), 0);
		json_object_put(all);
		free(text);
	}
	for (i = 0; i < 20; i++)
		free(ids[i]);
}
END_TEST

/* Remote failures, remote cancellation and progress through the rules. */
START_TEST(test_batch_outcomes)
{
	pollex_task *t;
	char *a, *b, *d;

	start("http-batch", BATCH_KEYS);
	a = submit_args("{\"object\": \"a\", \"duration_ms\": 300, "
	    "\"outcome\": \"error\", \"message\": \"disk full\"}");
	b = submit_args("{\"object\": \"b\", \"duration_ms\": 300, "
	    "\"outcome\": \"cancelled\"}");
	d = submit_args("{\"object\": \"d\", \"duration_ms\": 60000}");
	t = wait_one(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_message(t), "disk full");
	pollex_task_free(t);
	t = wait_one(b);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	pollex_task_free(t);
	t = get(d);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	ck_assert_msg(pollex_task_progress(t) >= 0 &&
	    pollex_task_progress(t) < 0.5, "progress %g",
	    pollex_task_progress(t));
	pollex_task_free(t);
	free(a);
	free(b);
	free(d);
}
END_TEST

/* A task the service does not know stays pending by default, fails with
 * "absent": "failed". */
START_TEST(test_batch_absent)
{
	pollex_task *t;
	char *x;

	start("http-batch", BATCH_KEYS ", \"absent\": \"failed\"");
	x = submit_ref("{\"task_id\": 99999}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "absent");
	pollex_task_free(t);
	free(x);
}
END_TEST

START_TEST(test_batch_absent_stays_pending)
{
	pollex_task *t;
	char *x;
	long n0;

	start("http-batch", BATCH_KEYS);
	x = submit_ref("{\"task_id\": 99999}");
	/* Wait for three searches (bounded by the wait's own timeout). */
	n0 = tsvc_count(&svc, "POST /tasks/search");
	{
		const char *ids[1] = { x };
		pollex_task **done = NULL;
		size_t n = 0;

		ck_assert_int_eq(pollex_wait(c, ids, 1, POLLEX_ALL_COMPLETED,
		    1.0, &done, &n, NULL), POLLEX_TIMED_OUT);
		pollex_tasks_free(done, n);
	}
	ck_assert_int_ge(tsvc_count(&svc, "POST /tasks/search") - n0, 2);
	t = get(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	ck_assert_int_eq(pollex_task_poll_failures(t), 0);
	pollex_task_free(t);
	free(x);
}
END_TEST

/* 503s with Retry-After are retried by the transport; the search goes
 * through and the task completes. */
START_TEST(test_batch_retries_503)
{
	pollex_task *t;
	char *x;

	start("http-batch", BATCH_KEYS ", \"retry\": {\"attempts\": 4, "
	    "\"backoff_initial\": \"50ms\"}");
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", 2,
	    "{\"status\": 503, \"retry_after\": \"1\"}");
	x = submit_args("{\"object\": \"r\", \"duration_ms\": 0}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_int_eq(pollex_task_poll_failures(t), 0);
	pollex_task_free(t);
	ck_assert_int_eq(tsvc_count(&svc, "POST /tasks/search"), 3);
	free(x);
}
END_TEST

/* Garbage from the service is a failed poll, named in the task's error. */
static void
batch_garbage(const char *fault, const char *want)
{
	pollex_task *t;
	char *x;

	start("http-batch", BATCH_KEYS ", \"fail_after\": 1, "
	    "\"retry\": {\"attempts\": 1}");
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", -1, fault);
	x = submit_args("{\"object\": \"g\", \"duration_ms\": 0}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "poll_failed");
	ck_assert_msg(strstr(pollex_task_error_message(t), want) != NULL,
	    "\"%s\" lacks \"%s\"", pollex_task_error_message(t), want);
	pollex_task_free(t);
	free(x);
}

START_TEST(test_batch_non_json)
{
	batch_garbage("{\"body\": \"<html>oops</html>\", "
	    "\"content_type\": \"text/html\"}", "not JSON");
}
END_TEST

/* A search body json-c takes though RFC 8259 does not (a raw tab in a
 * string, "1.") is read as before the body was read in place. */
START_TEST(test_batch_lenient_json)
{
	pollex_task *t;
	json_object *v;
	char *x;

	start("http-batch", BATCH_KEYS);
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", -1,
	    "{\"body\": \"[{\\\"id\\\": 4242, \\\"state\\\": \\\"done\\\", "
	    "\\\"result\\\": {\\\"note\\\": \\\"a\\tb\\\", "
	    "\\\"n\\\": 1.}}]\"}");
	x = submit_ref("{\"task_id\": 4242}");
	t = wait_one(x);
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_json(t));
	v = jget(pollex_task_result(t), "note");
	ck_assert_str_eq(json_object_get_string(v), "a\tb");
	json_object_put(v);
	v = jget(pollex_task_result(t), "n");
	ck_assert(json_object_get_double(v) == 1.0);
	json_object_put(v);
	pollex_task_free(t);
	free(x);
}
END_TEST

START_TEST(test_batch_truncated)
{
	batch_garbage("{\"truncated\": true}", "/tasks/search");
}
END_TEST

START_TEST(test_batch_reset)
{
	batch_garbage("{\"reset_mid_body\": true}", "/tasks/search");
}
END_TEST

START_TEST(test_batch_oversized)
{
	pollex_task *t;
	char *x;

	start("http-batch", BATCH_KEYS ", \"fail_after\": 1, "
	    "\"max_response\": 65536, \"retry\": {\"attempts\": 1}");
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", -1,
	    "{\"oversized_bytes\": 10000000}");
	x = submit_args("{\"object\": \"o\", \"duration_ms\": 0}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "poll_failed");
	pollex_task_free(t);
	free(x);
}
END_TEST

START_TEST(test_batch_redirect_loop)
{
	batch_garbage("{\"redirect_loop\": true}", "/tasks/search");
}
END_TEST

/* Cancel: 2xx cancels, 409 refuses with the service's message. */
START_TEST(test_cancel_requests)
{
	pollex_task *t;
	char *a, *b, *reason = NULL;
	int cancelled = -1;

	start("http-batch", BATCH_KEYS);
	a = submit_args("{\"object\": \"a\", \"duration_ms\": 60000}");
	b = submit_args("{\"object\": \"b\", \"duration_ms\": 60000, "
	    "\"cancellable\": false}");
	t = get(a);
	pollex_task_free(t);
	/* Both must have been started before a cancel reaches the service. */
	{
		int i;

		for (i = 0; i < 500; i++) {
			pollex_task *ta = get(a), *tb = get(b);
			int ok = pollex_task_state(ta) == POLLEX_PENDING &&
			    pollex_task_state(tb) == POLLEX_PENDING;

			pollex_task_free(ta);
			pollex_task_free(tb);
			if (ok)
				break;
			usleep(10000);
		}
	}
	ck_assert_int_eq(pollex_cancel(c, a, &cancelled, &reason), 0);
	ck_assert_int_eq(cancelled, 1);
	free(reason);
	reason = NULL;
	ck_assert_int_eq(pollex_cancel(c, b, &cancelled, &reason), 0);
	ck_assert_int_eq(cancelled, 0);
	ck_assert_msg(reason != NULL && strstr(reason, "cannot be cancelled"),
	    "reason: %s", reason ? reason : "(none)");
	free(reason);
	ck_assert_int_eq(tsvc_count(&svc, "DELETE /tasks/:id"), 2);
	t = get(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	pollex_task_free(t);
	t = get(b);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	pollex_task_free(t);
	free(a);
	free(b);
}
END_TEST

/* The rate limit: 5 a second, burst 1, over 100 starts and the searches
 * that poll them.  In the first 10 s the service sees at most 5 x 10 + 1
 * requests, and both kinds progress: the searches are not starved by the
 * stream of starts (max_starts 16 of them wait at any time). */
START_TEST(test_rate_limit)
{
	json_object *o = NULL, *recent, *e, *v;
	int64_t t0 = -1, tm, waits;
	long in_window = 0, starts = 0, searches = 0;
	char args[128], *id, *text = NULL;
	double waited;
	size_t i, n;
	int k;

	start("http-batch", BATCH_KEYS ", \"rate\": 5, \"burst\": 1, "
	    "\"max_starts\": 16");
	for (i = 0; i < 100; i++) {
		snprintf(args, sizeof args, "{\"object\": \"r-%zu\", "
		    "\"duration_ms\": 3000}", i);
		id = submit_args(args);
		free(id);
	}
	/* Watch the service's log until 10 s passed since its first
	 * request (a bounded look every 250 ms: the window is the point). */
	for (k = 0; k < 200; k++) {
		json_object_put(o);
		o = NULL;
		ck_assert_int_eq(tsvc_call(&svc, "GET", "/_control/requests",
		    NULL, &o), 200);
		recent = json_object_object_get(o, "recent");
		if (json_object_array_length(recent) > 0) {
			e = json_object_array_get_idx(recent, 0);
			t0 = json_object_get_int64(json_object_object_get(e,
			    "time_ms"));
			e = json_object_array_get_idx(recent,
			    json_object_array_length(recent) - 1);
			/* The log keeps the last 100: the first one gone
			 * means far more than the rate allows. */
			ck_assert_msg(json_object_get_int64(
			    json_object_object_get(json_object_array_get_idx(
			    recent, 0), "seq")) == 1, "over 100 requests in "
			    "%" PRId64 " ms", json_object_get_int64(
			    json_object_object_get(e, "time_ms")) - t0);
			if (json_object_get_int64(json_object_object_get(e,
			    "time_ms")) > t0 + 10000)
				break;
		}
		usleep(250000);
	}
	ck_assert_int_lt(k, 200);
	recent = json_object_object_get(o, "recent");
	n = json_object_array_length(recent);
	ck_assert_int_lt(n, 100);	/* the log holds them all */
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(recent, i);
		tm = json_object_get_int64(json_object_object_get(e, "time_ms"));
		if (tm > t0 + 10000)
			break;
		in_window++;
		v = json_object_object_get(e, "route");
		if (strcmp(json_object_get_string(v),
		    "POST /object/:id/publish") == 0)
			starts++;
		else if (strcmp(json_object_get_string(v),
		    "POST /tasks/search") == 0)
			searches++;
	}
	json_object_put(o);
	fprintf(stderr, "test_rate_limit: %ld requests in 10 s: %ld starts, "
	    "%ld searches\n", in_window, starts, searches);
	ck_assert_msg(in_window <= 5 * 10 + 1, "%ld requests in 10 s",
	    in_window);
	ck_assert_msg(in_window >= 40, "%ld requests in 10 s", in_window);
	/* The types take turns: a poll waits for at most a start's token. */
	ck_assert_msg(starts >= 15 && searches >= 10,
	    "%ld starts, %ld searches in 10 s", starts, searches);
	/* Pollers shows the waits. */
	ck_assert_int_eq(pollex_pollers(c, &text), 0);
	o = json_tokener_parse(text);
	free(text);
	e = json_object_array_get_idx(json_object_object_get(o, "pollers"), 0);
	ck_assert_double_eq(json_object_get_double(json_object_object_get(e,
	    "rate")), 5);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(e,
	    "burst")), 1);
	ck_assert_int_ge(json_object_get_int64(json_object_object_get(e,
	    "waiting")), 1);
	waits = json_object_get_int64(json_object_object_get(e, "rate_waits"));
	waited = json_object_get_double(json_object_object_get(e,
	    "rate_limited"));
	ck_assert_msg(waits >= 30 && waited > 10, "%" PRId64 " waits, %.1f s",
	    waits, waited);
	json_object_put(o);
}
END_TEST

/* A start the service refuses fails the task with the HTTP error; a
 * cancel during a slow start aborts it. */
START_TEST(test_start_failures)
{
	pollex_task *t;
	char *a, *b, *reason = NULL;
	int cancelled = -1;

	start("http-batch", BATCH_KEYS);
	a = submit_args("{\"object\": \"a\", \"duration_ms\": \"soon\"}");
	t = wait_one(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "start_failed");
	ck_assert_msg(strstr(pollex_task_error_message(t), "HTTP 400") != NULL,
	    "%s", pollex_task_error_message(t));
	pollex_task_free(t);

	tsvc_fault(&svc, "{\"path_prefix\": \"/object/\"}", 1,
	    "{\"delay_ms\": 5000}");
	b = submit_args("{\"object\": \"b\", \"duration_ms\": 0}");
	t = get(b);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_STARTING);
	pollex_task_free(t);
	ck_assert_int_eq(pollex_cancel(c, b, &cancelled, &reason), 0);
	ck_assert_int_eq(cancelled, 1);
	free(reason);
	t = get(b);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	pollex_task_free(t);
	free(a);
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* http-each */

#define EACH_STATUS_KEYS \
	"\"interval\": \"200ms\", \"min_interval\": \"50ms\", " \
	"\"start\": {\"method\": \"POST\", \"url\": \"/tasks\", " \
	"  \"body\": \"{{args}}\"}, " \
	"\"start_ref\": {\"task_id\": \"/task_id\"}, " \
	"\"poll\": {\"url\": \"/tasks/{{ref/task_id}}\"}, " \
	"\"outcome\": {\"rules\": [" \
	"  {\"path\": \"/state\", \"equals\": \"done\", \"state\": \"succeeded\"}," \
	"  {\"status\": 404, \"state\": \"failed\"}," \
	"  {\"path\": \"/state\", \"equals\": \"error\", \"state\": \"failed\"}], " \
	"  \"result\": \"/result\", \"error_message\": \"/message\"}"

/* One status request per task per tick. */
START_TEST(test_each_status_check)
{
	char *ids[5];
	const char *cids[5];
	pollex_task **done = NULL;
	size_t n = 0, i;
	long gets;

	start("http-each", EACH_STATUS_KEYS);
	for (i = 0; i < 5; i++) {
		ids[i] = submit_args("{\"duration_ms\": 500, "
		    "\"result\": {\"ok\": true}}");
		cids[i] = ids[i];
	}
	ck_assert_int_eq(pollex_wait(c, cids, 5, POLLEX_ALL_COMPLETED, 20.0,
	    &done, &n, NULL), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(pollex_task_state(done[i]), POLLEX_SUCCEEDED);
		ck_assert_str_eq(pollex_task_result(done[i]), "{\"ok\":true}");
	}
	pollex_tasks_free(done, n);
	gets = tsvc_count(&svc, "GET /tasks/:id");
	/* About three ticks of five requests; never a request per task per
	 * millisecond. */
	ck_assert_msg(gets >= 5 && gets <= 5 * 8, "%ld status requests",
	    gets);
	for (i = 0; i < 5; i++)
		free(ids[i]);
}
END_TEST

/* A 404 decided by a status rule fails the task. */
START_TEST(test_each_rule_on_status)
{
	pollex_task *t;
	char *x;

	start("http-each", EACH_STATUS_KEYS);
	x = submit_ref("{\"task_id\": 424242}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	pollex_task_free(t);
	free(x);
}
END_TEST

/* Retry-After on a status answer sets that task's next poll. */
START_TEST(test_each_retry_after_spacing)
{
	json_object *log, *recent, *e;
	pollex_task *t;
	long last = -1, gap, mingap = 1000000;
	size_t i, polls = 0;
	char *x;

	start("http-each", EACH_STATUS_KEYS);
	x = submit_args("{\"duration_ms\": 2500, \"retry_after\": 1}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	pollex_task_free(t);
	ck_assert_int_eq(tsvc_call(&svc, "GET", "/_control/requests", NULL,
	    &log), 200);
	ck_assert(json_object_object_get_ex(log, "recent", &recent));
	for (i = 0; i < json_object_array_length(recent); i++) {
		e = json_object_array_get_idx(recent, i);
		if (strcmp(json_object_get_string(json_object_object_get(e,
		    "route")), "GET /tasks/:id") != 0)
			continue;
		gap = json_object_get_int64(json_object_object_get(e,
		    "time_ms")) - last;
		if (last >= 0 && gap < mingap)
			mingap = gap;
		last = json_object_get_int64(json_object_object_get(e,
		    "time_ms"));
		polls++;
	}
	json_object_put(log);
	/* Without Retry-After it would be polled every 200 ms. */
	ck_assert_msg(polls >= 2 && polls <= 4, "%zu polls", polls);
	ck_assert_msg(mingap >= 900, "polls %ld ms apart", mingap);
	free(x);
}
END_TEST

/* Azure-style long-running operations. */
#define LRO_KEYS(start_json) \
	"\"interval\": \"200ms\", \"min_interval\": \"50ms\", " \
	"\"lro\": true, \"start\": " start_json

static pollex_task *
lro_run(const char *keys, const char *args)
{
	char *x;
	pollex_task *t;

	start("http-each", keys);
	x = submit_args(args);
	t = wait_one(x);
	free(x);
	return t;
}

/* PUT with Operation-Location: poll the monitor, then GET the resource
 * (the original URI) for the result. */
START_TEST(test_lro_operation_location)
{
	pollex_task *t;
	json_object *v;

	t = lro_run(LRO_KEYS("{\"method\": \"PUT\", "
	    "\"url\": \"/resources/{{args/name}}?duration_ms=400\", "
	    "\"body\": {\"properties\": \"{{args/properties}}\"}}"),
	    "{\"name\": \"vm1\", \"properties\": {\"size\": \"small\"}}");
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_error_message(t) ?: "");
	v = jget(pollex_task_result(t), "provisioningState");
	ck_assert_str_eq(json_object_get_string(v), "Succeeded");
	json_object_put(v);
	pollex_task_free(t);
	ck_assert_int_ge(tsvc_count(&svc, "GET /operations/:n"), 1);
	ck_assert_int_eq(tsvc_count(&svc, "GET /resources/:name"), 1);
}
END_TEST

/* Azure-AsyncOperation with lower-case "cancelled" spelling: failed. */
START_TEST(test_lro_canceled_spellings)
{
	pollex_task *t;

	t = lro_run(LRO_KEYS("{\"method\": \"PUT\", "
	    "\"url\": \"/resources/vm2?duration_ms=300&mode=azure-asyncoperation"
	    "&outcome=cancelled&status_case=lower&cancel_spelling=cancelled\"}"),
	    "{}");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "operation_canceled");
	pollex_task_free(t);
}
END_TEST

START_TEST(test_lro_failed)
{
	pollex_task *t;

	t = lro_run(LRO_KEYS("{\"method\": \"PUT\", "
	    "\"url\": \"/resources/vm3?duration_ms=300&outcome=error"
	    "&code=QuotaExceeded&message=no+quota\"}"), "{}");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "QuotaExceeded");
	ck_assert_str_eq(pollex_task_error_message(t), "no quota");
	pollex_task_free(t);
}
END_TEST

/* POST action with Location: 202 until done, then 200 with the result. */
START_TEST(test_lro_location)
{
	pollex_task *t;
	json_object *v;

	t = lro_run(LRO_KEYS("{\"method\": \"POST\", "
	    "\"url\": \"/resources/web/actions/build?duration_ms=400\"}"), "{}");
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_error_message(t) ?: "");
	v = jget(pollex_task_result(t), "built");
	ck_assert_str_eq(json_object_get_string(v), "web");
	json_object_put(v);
	pollex_task_free(t);
	ck_assert_int_ge(tsvc_count(&svc, "GET /results/:n"), 2);
}
END_TEST

/* final-state-via location: the result comes from the Location URL. */
START_TEST(test_lro_final_state_via_location)
{
	pollex_task *t;
	json_object *v;

	t = lro_run(LRO_KEYS("{\"method\": \"POST\", "
	    "\"url\": \"/resources/app/actions/build?duration_ms=300"
	    "&mode=operation-location&final_state_via=location\"}, "
	    "\"final_state_via\": \"location\""), "{}");
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_error_message(t) ?: "");
	v = jget(pollex_task_result(t), "built");
	ck_assert_str_eq(json_object_get_string(v), "app");
	json_object_put(v);
	pollex_task_free(t);
	ck_assert_int_ge(tsvc_count(&svc, "GET /operations/:n"), 1);
	ck_assert_int_ge(tsvc_count(&svc, "GET /results/:n"), 1);
}
END_TEST

/* Neither header: the start response is final. */
START_TEST(test_lro_status_mode_final)
{
	pollex_task *t;
	json_object *v;

	t = lro_run(LRO_KEYS("{\"method\": \"PUT\", "
	    "\"url\": \"/resources/db?mode=status\", "
	    "\"body\": {\"properties\": {\"tier\": 1}}}"), "{}");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	v = jget(pollex_task_result(t), "provisioningState");
	ck_assert_str_eq(json_object_get_string(v), "Succeeded");
	json_object_put(v);
	pollex_task_free(t);
	ck_assert_int_eq(tsvc_count(&svc, "GET /operations/:n"), 0);
	ck_assert_int_eq(tsvc_count(&svc, "GET /resources/:name"), 0);
}
END_TEST

/* URLs a response names on a host that is not allowed are not followed,
 * and a ref naming one (a client's own choice) is not either. */
START_TEST(test_lro_foreign_host_refused)
{
	pollex_task *t;
	char *x;

	start("http-each", LRO_KEYS("{\"method\": \"PUT\", "
	    "\"url\": \"/resources/evil?duration_ms=300"
	    "&header_host=http://evil.example:1234\"}") ", \"fail_after\": 1, "
	    "\"retry\": {\"attempts\": 1}");
	x = submit_args("{}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_msg(strstr(pollex_task_error_message(t), "evil.example"),
	    "%s", pollex_task_error_message(t));
	pollex_task_free(t);
	free(x);
	/* A client-made ref pointing elsewhere. */
	x = submit_ref("{\"lro\": \"location\", "
	    "\"url\": \"http://169.254.169.254/latest/meta-data\"}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_msg(strstr(pollex_task_error_message(t), "169.254.169.254"),
	    "%s", pollex_task_error_message(t));
	pollex_task_free(t);
	free(x);
	ck_assert_int_eq(tsvc_count(&svc, "GET (unmatched)"), 0);
}
END_TEST

/* Bad configurations are refused at start, naming the key. */
START_TEST(test_config_errors)
{
	static const struct {
		const char *keys, *want;
	} cases[] = {
		{ "\"poll\": {\"url\": \"/x\"}, \"item_id\": \"/id\", "
		  "\"ref_id\": \"/id\"", "pollers.p.outcome" },
		{ BATCH_KEYS ", \"absent\": \"maybe\"", "pollers.p.absent" },
		{ BATCH_KEYS ", \"item_id\": \"id\"", "pollers.p.item_id" },
		{ BATCH_KEYS ", \"cancel_refused\": [99]",
		  "pollers.p.cancel_refused" },
		{ BATCH_KEYS ", \"lro\": true", "pollers.p.lro" },
	};
	char *conf, *log;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tdaemon *d = td_new();

		if (asprintf(&conf, "{\"pollers\": {\"p\": {\"kind\": "
		    "\"http-batch\", \"url\": \"%s\", %s}}}", svc.base,
		    cases[i].keys) == -1)
			abort();
		ck_assert_msg(td_start(d, conf) == -1, "case %zu started", i);
		log = td_log(d);
		ck_assert_msg(strstr(log, cases[i].want) != NULL,
		    "case %zu: \"%s\" lacks %s", i, tail(log), cases[i].want);
		free(log);
		free(conf);
		td_free(d);
	}
}
END_TEST

/* ---- network trace and compressed responses ---- */

#define TRACE_TOKEN "tok-3f9a7c1e-SECRET-d41d8cd98f00"

/* The trace lines of a log: those with "http p #". */
static int
trace_lines(const char *log, const char *needle)
{
	const char *p;
	int n = 0;

	for (p = log; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Is every line of text valid UTF-8 without control characters? */
static void
assert_clean_lines(const char *log)
{
	const char *p;

	ck_assert_msg(utf8_valid(log, strlen(log)), "log not UTF-8");
	for (p = log; *p != '\0'; p++)
		ck_assert_msg((unsigned char)*p >= 0x20 || *p == '\n',
		    "control character %#x in the log at \"%.40s\"",
		    (unsigned char)*p, p > log + 40 ? p - 40 : log);
}

/*
 * "trace": true with a token file: each request and response is logged
 * (method, URL, status, time, sizes, headers, bodies cut at trace_body),
 * and the token is nowhere in the log, although it was sent (the service
 * requires it), its header is traced (redacted) and the service echoes it
 * in a body.
 */
START_TEST(test_trace_token)
{
	char keys[4096], want[256], *log, *x, *tok;
	const char *cut;
	pollex_task *t;
	FILE *f;

	ck_assert_int_gt(asprintf(&tok, "%s/p.token", td->dir), 0);
	f = fopen(tok, "w");
	ck_assert_ptr_nonnull(f);
	fputs(TRACE_TOKEN "\n", f);
	fclose(f);
	free(tok);
	ck_assert_int_eq(tsvc_call(&svc, "POST", "/_control/auth",
	    "{\"bearer\": \"" TRACE_TOKEN "\"}", NULL), 200);
	snprintf(keys, sizeof keys, "%s, \"token_file\": \"p.token\", "
	    "\"headers\": {\"X-Api-Key\": \"key-7d0e\", \"Cookie\": "
	    "\"session=c00k1e\"}, \"trace\": true, \"trace_body\": 64, "
	    "\"trace_redact\": [\"x-api-key\"]", BATCH_KEYS);
	start("http-batch", keys);
	/* One search answered with a long body: the token from byte 44 to
	 * 76, across the cut at 64, and text past the cut; no item of ours,
	 * so the task stays pending. */
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", 1,
	    "{\"body\": \"[{\\\"id\\\": 99999, \\\"note\\\": \\\"echo of the "
	    "bearer: "
	    TRACE_TOKEN "\\\"},\\n\\t{\\\"id\\\": 99998, \\\"state\\\": "
	    "\\\"caf\u00e9 AFTER-THE-CUT\\\"}]\"}");
	x = submit_args("{\"object\": \"t1\", \"duration_ms\": 300}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	pollex_task_free(t);
	free(x);
	ck_assert_int_ge(tsvc_count(&svc, "POST /tasks/search"), 2);

	log = td_log(td);
	/* Requests: method, URL, attempt, body size; the body. */
	snprintf(want, sizeof want, "http p #1 > POST %s/object/t1/publish "
	    "(attempt 1): body ", svc.base);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in %s", want,
	    tail(log));
	ck_assert_ptr_nonnull(strstr(log, "http p #1 > body: "
	    "{\"duration_ms\":300,\"object\":\"t1\"}\n"));
	snprintf(want, sizeof want, "> POST %s/tasks/search (attempt 1): "
	    "body ", svc.base);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in %s", want,
	    tail(log));
	/* Responses: status, method, URL, time, sizes. */
	snprintf(want, sizeof want, "http p #1 < 201 POST %s/object/t1/"
	    "publish: ", svc.base);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in %s", want,
	    tail(log));
	ck_assert_ptr_nonnull(strstr(strstr(log, want), " ms, body "));
	ck_assert_ptr_nonnull(strstr(strstr(log, want), " bytes, headers "));
	snprintf(want, sizeof want, "< 200 POST %s/tasks/search: ", svc.base);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in %s", want,
	    tail(log));
	/* Headers: secret values redacted, others shown. */
	ck_assert_ptr_nonnull(strstr(log, "Authorization: REDACTED"));
	ck_assert_ptr_nonnull(strstr(log, "Cookie: REDACTED"));
	ck_assert_ptr_nonnull(strstr(log, "X-Api-Key: REDACTED"));
	ck_assert_ptr_null(strstr(log, "key-7d0e"));
	ck_assert_ptr_null(strstr(log, "c00k1e"));
	ck_assert_ptr_nonnull(strstr(log, "Content-Type: application/json"));
	/* The long body: cut at 64 bytes, the part of the token before
	 * the cut scrubbed. */
	cut = strstr(log, "< body: [{\"id\": 99999, \"note\": \"echo of the "
	    "bearer: ******************** [cut at 64 of ");
	ck_assert_msg(cut != NULL, "no cut body in %s", tail(log));
	ck_assert_ptr_null(strstr(log, "AFTER-THE-CUT"));
	/* Nowhere the token, nor a piece of it as long as a third. */
	ck_assert_msg(strstr(log, TRACE_TOKEN) == NULL, "token in the log");
	ck_assert_ptr_null(strstr(log, "3f9a7c1e"));
	ck_assert_ptr_null(strstr(log, "SECRET"));
	ck_assert_ptr_null(strstr(log, "d41d8cd98f00"));
	assert_clean_lines(log);
	free(log);
}
END_TEST

/* A body with a newline, a tab and invalid UTF-8 inside the cut: escaped
 * and repaired on one line. */
START_TEST(test_trace_escapes)
{
	char *log, *x;
	pollex_task *t;

	start("http-batch", BATCH_KEYS ", \"trace\": true, \"trace_body\": 40");
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", 1,
	    "{\"latin1\": true, \"body\": \"[\\n\\t{\\\"id\\\": 99999, "
	    "\\\"n\\\": \\\"caf\u00e9\\\"}]\"}");
	x = submit_args("{\"object\": \"t2\", \"duration_ms\": 200}");
	t = wait_one(x);
	pollex_task_free(t);
	free(x);
	log = td_log(td);
	ck_assert_msg(strstr(log, "< body: [\\n\\t{\"id\": 99999, \"n\": "
	    "\"caf\xef\xbf\xbd\"}]") != NULL, "no escaped body in %s",
	    tail(log));
	assert_clean_lines(log);
	free(log);
}
END_TEST

/* A password in the base URL ("http://user:password@host/") is sent
 * (as Basic authentication) but not traced. */
START_TEST(test_trace_userinfo)
{
	char *conf, *log, *x, want[128];
	pollex_task *t;
	int r;

	if (asprintf(&conf, "{\"pollers\": {\"p\": {\"kind\": "
	    "\"http-batch\", \"url\": \"http://u:pa55w0rd@127.0.0.1:%d/\", "
	    "\"trace\": true, %s}}}", svc.port, BATCH_KEYS) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(conf);
	r = pollex_connect(td->sock, &c);
	ck_assert_msg(r == 0, "connect: %s", pollex_strerror(r));
	x = submit_args("{\"object\": \"u1\", \"duration_ms\": 0}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	pollex_task_free(t);
	free(x);
	log = td_log(td);
	snprintf(want, sizeof want, "> POST http://REDACTED@127.0.0.1:%d/"
	    "object/u1/publish (attempt 1)", svc.port);
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in %s", want,
	    tail(log));
	ck_assert_ptr_nonnull(strstr(log, "Authorization: REDACTED"));
	ck_assert_ptr_null(strstr(log, "pa55w0rd"));
	/* Nor its Basic form (base64 of "u:pa55w0rd"). */
	ck_assert_ptr_null(strstr(log, "dTpwYTU1dzByZA"));
	free(log);
}
END_TEST

/* At debug level (the harness runs pollexd with -v) every poller is
 * traced without the key; "trace": false silences one; trace_body 0 logs
 * no bodies. */
START_TEST(test_trace_debug_level)
{
	char *log, *x;
	pollex_task *t;
	int n;

	start("http-batch", BATCH_KEYS ", \"trace_body\": 0");
	x = submit_args("{\"object\": \"t3\", \"duration_ms\": 0}");
	t = wait_one(x);
	pollex_task_free(t);
	free(x);
	log = td_log(td);
	ck_assert_msg(strstr(log, " debug: http p #1 > POST ") != NULL,
	    "no debug trace in %s", tail(log));
	ck_assert_ptr_nonnull(strstr(log, " debug: http p #1 < 201 POST "));
	ck_assert_ptr_null(strstr(log, "> body:"));
	ck_assert_ptr_null(strstr(log, "< body:"));
	free(log);
	td_finish(td);

	/* "trace": false: no trace at debug level either. */
	td = td_new();
	pollex_close(c);
	start("http-batch", BATCH_KEYS ", \"trace\": false");
	x = submit_args("{\"object\": \"t4\", \"duration_ms\": 0}");
	t = wait_one(x);
	pollex_task_free(t);
	free(x);
	log = td_log(td);
	n = trace_lines(log, "http p #");
	ck_assert_msg(n == 0, "%d trace lines: %s", n, tail(log));
	free(log);
}
END_TEST

/* The service gzips its answers to every request: tasks resolve. */
START_TEST(test_gzip_responses)
{
	pollex_task *t;
	json_object *v;
	char *x;

	start("http-batch", BATCH_KEYS);
	tsvc_fault(&svc, "{}", -1, "{\"encoding\": \"gzip\"}");
	x = submit_args("{\"object\": \"z\", \"duration_ms\": 300, "
	    "\"result\": {\"n\": 7}}");
	t = wait_one(x);
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_json(t));
	v = jget(pollex_task_result(t), "n");
	ck_assert_int_eq(json_object_get_int(v), 7);
	json_object_put(v);
	pollex_task_free(t);
	free(x);
	ck_assert_int_ge(tsvc_count(&svc, "POST /tasks/search"), 1);
}
END_TEST

/* A compressed bomb (10 MB of JSON in ~10 kB of gzip) against
 * max_response 1 MiB: a failed poll naming it; pollexd goes on. */
START_TEST(test_gzip_bomb_refused)
{
	pollex_task *t;
	char *x, *y;

	start("http-batch", BATCH_KEYS ", \"fail_after\": 1, "
	    "\"max_response\": 1048576, \"retry\": {\"attempts\": 1}");
	tsvc_fault(&svc, "{\"path_prefix\": \"/tasks/search\"}", 1,
	    "{\"bomb_bytes\": 10000000}");
	x = submit_args("{\"object\": \"b\", \"duration_ms\": 0}");
	t = wait_one(x);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "poll_failed");
	ck_assert_msg(strstr(pollex_task_error_message(t), "over 1048576 "
	    "bytes once decoded (Content-Encoding: gzip)") != NULL, "%s",
	    pollex_task_error_message(t));
	pollex_task_free(t);
	/* The next task is polled as usual. */
	y = submit_args("{\"object\": \"c\", \"duration_ms\": 0}");
	t = wait_one(y);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	pollex_task_free(t);
	free(x);
	free(y);
}
END_TEST

START_TEST(test_gzip_corrupt)
{
	batch_garbage("{\"corrupt_encoding\": true, \"body\": \"[]\"}",
	    "does not decode (Content-Encoding: gzip)");
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http-poller");
	TCase *tc;

	tc = tcase_create("batch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_batch_start_and_search);
	tcase_add_test(tc, test_batch_outcomes);
	tcase_add_test(tc, test_batch_absent);
	tcase_add_test(tc, test_batch_absent_stays_pending);
	tcase_add_test(tc, test_batch_retries_503);
	tcase_add_test(tc, test_batch_non_json);
	tcase_add_test(tc, test_batch_lenient_json);
	tcase_add_test(tc, test_batch_truncated);
	tcase_add_test(tc, test_batch_reset);
	tcase_add_test(tc, test_batch_oversized);
	tcase_add_test(tc, test_batch_redirect_loop);
	tcase_add_test(tc, test_cancel_requests);
	tcase_add_test(tc, test_start_failures);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_rate_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("each");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_each_status_check);
	tcase_add_test(tc, test_each_rule_on_status);
	tcase_add_test(tc, test_each_retry_after_spacing);
	tcase_add_test(tc, test_lro_operation_location);
	tcase_add_test(tc, test_lro_canceled_spellings);
	tcase_add_test(tc, test_lro_failed);
	tcase_add_test(tc, test_lro_location);
	tcase_add_test(tc, test_lro_final_state_via_location);
	tcase_add_test(tc, test_lro_status_mode_final);
	tcase_add_test(tc, test_lro_foreign_host_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("trace and compression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_trace_token);
	tcase_add_test(tc, test_trace_escapes);
	tcase_add_test(tc, test_trace_userinfo);
	tcase_add_test(tc, test_trace_debug_level);
	tcase_add_test(tc, test_gzip_responses);
	tcase_add_test(tc, test_gzip_bomb_refused);
	tcase_add_test(tc, test_gzip_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return check_run(http_suite());
}
