/* SPDX-License-Identifier: ISC */
/* check_exec.c: the exec poller end to end: the real pollexd, the test
 * poll program, driven through libpollex. */
#include "config.h"

#include <check.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pollex.h"
#include "testlib.h"

#define T 10000		/* ms: bound for what should be quick */

static struct tdaemon *td;
static pollex *c;

static void
setup(void)
{
	td = td_new();
	c = NULL;
}

static void
teardown(void)
{
	pollex_close(c);
	td_finish(td);
}

/* Start with poller "p" running poll_argv (a JSON array), settings in
 * poller_keys, and connect. */
static void
start_argv(const char *poll_argv, const char *poller_keys,
    const char *daemon_keys)
{
	char *conf;
	int r;

	if (asprintf(&conf, "{ %s%s \"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"poll\": %s, %s}}}", daemon_keys != NULL ? daemon_keys : "",
	    daemon_keys != NULL ? "," : "", poll_argv, poller_keys) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(conf);
	r = pollex_connect(td->sock, &c);
	ck_assert_msg(r == 0, "connect: %s", pollex_strerror(r));
	pollex_set_timeout(c, 20000);
}

/* Start with poller "p" running the test poller. */
static void
start(const char *poller_keys, const char *daemon_keys)
{
	start_argv(td->poll_argv, poller_keys, daemon_keys);
}

static char *
submit(const char *name, const char *extra_json)
{
	pollex_spec *s = pollex_spec_new("p");
	char ref[256], *id = NULL;
	int r;

	snprintf(ref, sizeof ref, "{\"name\": \"%s\"}", name);
	ck_assert_int_eq(pollex_spec_set_ref(s, ref), 0);
	if (extra_json != NULL)
		ck_assert_int_eq(pollex_spec_set_args(s, extra_json), 0);
	r = pollex_submit(c, s, &id, NULL);
	ck_assert_msg(r == 0, "submit: %s: %s", pollex_strerror(r),
	    pollex_error_message(c));
	pollex_spec_free(s);
	return id;
}

static pollex_task *
get(const char *id)
{
	pollex_task *t = NULL;
	int r = pollex_get(c, id, &t);

	ck_assert_msg(r == 0, "get %s: %s", id, pollex_error_message(c));
	return t;
}

/* Wait for one task to finish (bounded) and return it. */
static pollex_task *
wait_one(const char *id)
{
	const char *ids[1] = { id };
	pollex_task **done = NULL;
	size_t ndone = 0;
	int r;

	r = pollex_wait(c, ids, 1, POLLEX_ALL_COMPLETED, 10.0, &done, &ndone,
	    NULL);
	ck_assert_msg(r == 0, "wait %s: %d %s", id, r, pollex_error_message(c));
	ck_assert_uint_eq(ndone, 1);
	{
		pollex_task *t = done[0];
		free(done);
		return t;
	}
}

static void
expect_note(const char *prefix)
{
	char buf[128];

	ck_assert_msg(td_note(td, T, buf, sizeof buf) == 0, "no \"%s\" note",
	    prefix);
	ck_assert_msg(strncmp(buf, prefix, strlen(prefix)) == 0,
	    "note \"%s\", want \"%s\"", buf, prefix);
}

/* Milliseconds between poll runs i and j of the test poller's log. */
static long long
run_gap(size_t i, size_t j)
{
	size_t n;
	char **runs = td_runs(td, &n);
	long long a, b;

	ck_assert_uint_gt(n, j);
	a = atoll(strchr(runs[i], ' ') + 1);
	b = atoll(strchr(runs[j], ' ') + 1);
	strv_free_n(runs, n);
	return b - a;
}

START_TEST(test_one_poll_resolves_many)
{
	pollex_spec *specs[3];
	char **ids = NULL;
	const char *wait_ids[2];
	pollex_task **done = NULL, *t;
	size_t ndone, i;
	int r;

	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": "
	    "{\"v\": 1}}");
	td_set(td, "outcomes/b", "{\"state\": \"failed\", \"error\": "
	    "{\"code\": \"E42\", \"message\": \"broken\", \"details\": [7]}}");
	start("\"interval\": \"30s\"", NULL);
	for (i = 0; i < 3; i++) {
		char ref[64];
		specs[i] = pollex_spec_new("p");
		snprintf(ref, sizeof ref, "{\"name\": \"%c\"}", (int)('a' + i));
		pollex_spec_set_ref(specs[i], ref);
	}
	r = pollex_submit_many(c, (const pollex_spec *const *)specs, 3, &ids,
	    NULL);
	ck_assert_msg(r == 0, "%s", pollex_error_message(c));
	for (i = 0; i < 3; i++)
		pollex_spec_free(specs[i]);
	expect_note("poll 3");	/* one poll saw all three */
	wait_ids[0] = ids[0];
	wait_ids[1] = ids[1];
	r = pollex_wait(c, wait_ids, 2, POLLEX_ALL_COMPLETED, 10, &done,
	    &ndone, NULL);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(ndone, 2);
	pollex_tasks_free(done, ndone);
	t = get(ids[0]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_result(t), "{\"v\":1}");
	ck_assert_int_eq(pollex_task_polls(t), 1);
	pollex_task_free(t);
	t = get(ids[1]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "E42");
	ck_assert_str_eq(pollex_task_error_message(t), "broken");
	ck_assert_str_eq(pollex_task_error_details(t), "[7]");
	pollex_task_free(t);
	t = get(ids[2]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	ck_assert_int_eq(pollex_task_polls(t), 1);
	pollex_task_free(t);
	pollex_strv_free(ids);
}
END_TEST

START_TEST(test_prompt_poll_then_interval)
{
	char *id;

	start("\"interval\": \"30s\"", NULL);
	id = submit("x", NULL);
	/* Promptly after the submit, not after 30s... */
	expect_note("poll 1");
	/* ...and then not again before the interval. */
	ck_assert(td_no_note(td, 1500));
	free(id);
}
END_TEST

START_TEST(test_polls_spaced_by_interval)
{
	char *id;

	start("\"interval\": \"400ms\"", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	expect_note("poll 1");
	expect_note("poll 1");
	ck_assert_int_ge(run_gap(0, 1), 390);
	ck_assert_int_ge(run_gap(1, 2), 390);
	free(id);
}
END_TEST

START_TEST(test_returned_delay_used)
{
	char *id;

	td_set(td, "delay", "0.3");
	start("\"interval\": \"30s\", \"min_interval\": \"100ms\"", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	expect_note("poll 1");	/* well before 30s */
	ck_assert_int_ge(run_gap(0, 1), 290);
	free(id);
}
END_TEST

START_TEST(test_returned_delay_clamped)
{
	char *id;

	td_set(td, "delay", "0.001");	/* below min_interval */
	start("\"interval\": \"30s\", \"min_interval\": \"500ms\"", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	expect_note("poll 1");
	ck_assert_int_ge(run_gap(0, 1), 490);
	free(id);
}
END_TEST

START_TEST(test_returned_delay_clamped_above)
{
	char *id;

	td_set(td, "delay", "100000");	/* above max_interval */
	start("\"interval\": \"200ms\", \"min_interval\": \"100ms\", "
	    "\"max_interval\": \"300ms\"", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	expect_note("poll 1");	/* within max_interval, not 100000s */
	free(id);
}
END_TEST

/* Bad delays: each value, where it goes, what the warning says, the
 * shortest gap between polls it may give (ms). */
static const struct {
	const char *value;
	int per_task;
	const char *keys;
	const char *want;
	long long gap;
} bad_delays[] = {
	{ "NaN", 0, "", "returned delay NaN, not a positive number of "
	    "seconds: ignored, the interval (200ms) applies", 190 },
	{ "Infinity", 0, "", "returned delay Infinity, not a positive number",
	    190 },
	{ "-Infinity", 0, "", "returned delay -Infinity, not a positive "
	    "number", 190 },
	{ "1e999", 0, "", "returned delay 1e999, not a positive number", 190 },
	{ "0", 0, "", "returned delay 0, not a positive number", 190 },
	{ "-5", 0, "", "returned delay -5, not a positive number", 190 },
	{ "1e308", 0, ", \"max_interval\": \"300ms\"", "returned delay 1e308, "
	    "above max_interval: 300ms used", 290 },
	{ "0.001", 0, ", \"min_interval\": \"150ms\"", "returned delay 0.001, "
	    "below min_interval: 150ms used", 140 },
	{ "NaN", 1, "", "returned a task's delay NaN, not a positive number "
	    "of seconds: ignored", 190 },
	{ "-1", 1, "", "returned a task's delay -1, not a positive number", 190 },
};

/* Issue 11 #10: a bad delay is ignored (or clamped) and logged with its
 * value, once for many polls; the poller keeps its interval. */
START_TEST(test_bad_delay_warned_once)
{
	char keys[256], outcome[128], *id, *log, *p;
	size_t i, n;
	char **runs;
	int count = 0;

	if (bad_delays[_i].per_task) {
		snprintf(outcome, sizeof outcome, "{\"state\": \"pending\", "
		    "\"delay\": %s}", bad_delays[_i].value);
		td_set(td, "outcomes/x", outcome);
	} else
		td_set(td, "delay", bad_delays[_i].value);
	snprintf(keys, sizeof keys, "\"interval\": \"200ms\"%s",
	    bad_delays[_i].keys);
	start(keys, NULL);
	id = submit("x", NULL);
	for (i = 0; i < 8; i++)
		expect_note("poll 1");
	/* Polled at the interval (or the clamped delay), never sooner: no
	 * busy loop, and not parked at max_interval either (the notes came
	 * within T each). */
	for (i = 1; i < 8; i++)
		ck_assert_msg(run_gap(i - 1, i) >= bad_delays[_i].gap,
		    "polls %zu and %zu %lld ms apart", i - 1, i,
		    run_gap(i - 1, i));
	runs = td_runs(td, &n);
	strv_free_n(runs, n);
	log = td_log(td);
	for (p = log; (p = strstr(p, "poller p: the poll returned")) != NULL;
	    p++)
		count++;
	ck_assert_msg(count == 1, "%d warnings for %zu polls: %s", count, n,
	    tail(log));
	ck_assert_msg(strstr(log, bad_delays[_i].want) != NULL, "want \"%s\" "
	    "in %s", bad_delays[_i].want, tail(log));
	free(log);
	free(id);
}
END_TEST

START_TEST(test_failing_poll_fails_after_n)
{
	pollex_task *t;
	char *id;

	td_set(td, "mode", "exit 3");
	start("\"interval\": \"100ms\", \"min_interval\": \"50ms\", "
	    "\"backoff_initial\": \"50ms\", \"backoff_max\": \"100ms\", "
	    "\"fail_after\": 3", NULL);
	id = submit("x", NULL);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "poll_failed");
	ck_assert_msg(strstr(pollex_task_error_message(t),
	    "exited with status 3: testpoller: told to exit 3") != NULL, "%s",
	    pollex_task_error_message(t));
	ck_assert_int_eq(pollex_task_polls(t), 3);
	ck_assert_int_eq(pollex_task_poll_failures(t), 3);
	pollex_task_free(t);
	free(id);
}
END_TEST

START_TEST(test_failing_poll_recovers)
{
	pollex_task *t;
	char *id;

	td_set(td, "mode", "exit 1");
	td_set(td, "outcomes/x", "{\"state\": \"succeeded\", \"result\": 5}");
	start("\"interval\": \"100ms\", \"min_interval\": \"50ms\", "
	    "\"backoff_initial\": \"50ms\", \"backoff_max\": \"100ms\", "
	    "\"fail_after\": 0", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	expect_note("poll 1");
	expect_note("poll 1");
	t = get(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	ck_assert_int_ge(pollex_task_poll_failures(t), 2);
	pollex_task_free(t);
	td_unset(td, "mode");	/* the service is back */
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_result(t), "5");
	ck_assert_int_eq(pollex_task_poll_failures(t), 0);
	pollex_task_free(t);
	free(id);
}
END_TEST

/* Fail the first poll in a given way; the task fails with that error. */
static void
fail_first_poll(const char *mode, const char *keys, const char *want)
{
	pollex_task *t;
	char *id, *json = NULL, conf[512];

	td_set(td, "mode", mode);
	snprintf(conf, sizeof conf, "\"fail_after\": 1, %s", keys);
	start(conf, NULL);
	id = submit("x", NULL);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_msg(strstr(pollex_task_error_message(t), want) != NULL,
	    "\"%s\" lacks \"%s\"", pollex_task_error_message(t), want);
	pollex_task_free(t);
	ck_assert_int_eq(pollex_pollers(c, &json), 0);
	{
		/* The poller reports the same error as its last_error. */
		json_object *o = json_tokener_parse(json), *p, *e;

		ck_assert_ptr_nonnull(o);
		ck_assert(json_object_object_get_ex(o, "pollers", &p));
		ck_assert(json_object_object_get_ex(
		    json_object_array_get_idx(p, 0), "last_error", &e));
		ck_assert_msg(strstr(json_object_get_string(e), want) != NULL,
		    "last_error: %s", json);
		json_object_put(o);
	}
	free(json);
	free(id);
}

START_TEST(test_garbage_output_is_a_failed_poll)
{
	fail_first_poll("garbage", "\"interval\": \"1s\"",
	    "printed invalid output (expected one JSON object): "
	    "message is not a JSON object");
}
END_TEST

START_TEST(test_poll_timeout_kills)
{
	fail_first_poll("hang", "\"timeout\": \"300ms\"",
	    "timed out after 300ms and was killed");
}
END_TEST

START_TEST(test_output_cap)
{
	fail_first_poll("huge", "\"max_output\": 4096",
	    "printed more than 4096 bytes and was killed");
}
END_TEST

START_TEST(test_bad_outcome_entry)
{
	td_set(td, "outcomes/x", "{\"state\": \"done\"}");
	fail_first_poll("none", "\"interval\": \"1s\"",
	    "tasks[0] has a \"state\" other than");
}
END_TEST

START_TEST(test_first_outcome_wins)
{
	pollex_task *t;
	char *id;

	td_set(td, "outcomes/x", "[{\"state\": \"succeeded\", \"result\": 1}, "
	    "{\"state\": \"failed\", \"error\": \"late\"}]");
	start("\"interval\": \"1s\"", NULL);
	id = submit("x", NULL);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_result(t), "1");
	ck_assert_ptr_null(pollex_task_error_code(t));
	pollex_task_free(t);
	free(id);
}
END_TEST

START_TEST(test_progress_reported)
{
	pollex_task *t;
	char *id;

	td_set(td, "outcomes/x", "{\"state\": \"pending\", \"progress\": 0.25}");
	start("\"interval\": \"30s\"", NULL);
	id = submit("x", NULL);
	expect_note("poll 1");
	/* The poll's outcome is applied after the program exits; a Wait
	 * with a timeout lets the daemon get there without a sleep here. */
	{
		const char *ids[1] = { id };
		pollex_task **done = NULL;
		size_t n = 0;
		ck_assert_int_eq(pollex_wait(c, ids, 1, POLLEX_ALL_COMPLETED,
		    0.3, &done, &n, NULL), POLLEX_TIMED_OUT);
		pollex_tasks_free(done, n);
	}
	t = get(id);
	ck_assert(fabs(pollex_task_progress(t) - 0.25) < 1e-9);
	pollex_task_free(t);
	free(id);
}
END_TEST

static void
cancel_expect(const char *id, int want_cancelled, const char *want_reason)
{
	char *reason = NULL;
	int cancelled = -1, r;

	r = pollex_cancel(c, id, &cancelled, &reason);
	ck_assert_msg(r == 0, "cancel: %s", pollex_error_message(c));
	ck_assert_int_eq(cancelled, want_cancelled);
	if (want_reason != NULL)
		ck_assert_msg(reason != NULL && strstr(reason, want_reason),
		    "reason \"%s\", want \"%s\"", reason ? reason : "(none)",
		    want_reason);
	free(reason);
}

START_TEST(test_cancel_without_cancel_function)
{
	pollex_task *t;
	char *id;

	start("\"interval\": \"30s\"", NULL);
	id = submit("x", NULL);
	cancel_expect(id, 1, NULL);
	t = get(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	ck_assert_str_eq(pollex_task_error_code(t), "cancelled");
	pollex_task_free(t);
	cancel_expect(id, 0, "already cancelled");
	free(id);
}
END_TEST

/* A task cancelled while it waits in the scheduler's queue leaves the
 * queue: later polls see only the others, and the poller keeps working
 * for new tasks (the retention list once shared the queue's link). */
START_TEST(test_cancel_queued_task_leaves_the_queue)
{
	pollex_task *t;
	char *x, *y, *z, buf[64];
	long ypolls;
	int i, seen = 0;

	start("\"interval\": \"300ms\", \"min_interval\": \"100ms\"", NULL);
	x = submit("x", NULL);
	y = submit("y", NULL);
	do
		ck_assert_msg(td_note(td, T, buf, sizeof buf) == 0, "no poll");
	while (strcmp(buf, "poll 2") != 0);
	cancel_expect(y, 1, NULL);
	t = get(y);
	ypolls = pollex_task_polls(t);
	pollex_task_free(t);
	/* A poll may have begun before the cancel; within two more, one
	 * has only x. */
	for (i = 0; i < 3 && !seen; i++) {
		ck_assert_msg(td_note(td, T, buf, sizeof buf) == 0, "no poll");
		seen = strcmp(buf, "poll 1") == 0;
	}
	ck_assert_msg(seen, "the cancelled task is still polled: %s", buf);
	t = get(y);
	ck_assert_int_eq(pollex_task_polls(t), ypolls);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	pollex_task_free(t);
	/* Now the last queued task goes too; a new one is polled (and
	 * the cancelled one is not) and completes. */
	cancel_expect(x, 1, NULL);
	t = get(x);
	ypolls = pollex_task_polls(t);
	pollex_task_free(t);
	td_set(td, "outcomes/z", "{\"state\": \"succeeded\", \"result\": 1}");
	z = submit("z", NULL);
	t = wait_one(z);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	pollex_task_free(t);
	t = get(x);
	ck_assert_int_eq(pollex_task_polls(t), ypolls);
	pollex_task_free(t);
	free(x);
	free(y);
	free(z);
}
END_TEST

START_TEST(test_cancel_function_verdicts)
{
	char keys[1024], *a, *r, *e, *log;
	pollex_task *t;

	snprintf(keys, sizeof keys, "\"interval\": \"30s\", \"cancel\": %s",
	    td->cancel_argv);
	td_set(td, "cancel/acc", "accept");
	td_set(td, "cancel/ref", "refuse the build is half done");
	td_set(td, "cancel/err", "error");
	start(keys, NULL);
	a = submit("acc", NULL);
	r = submit("ref", NULL);
	e = submit("err", NULL);
	cancel_expect(a, 1, NULL);
	cancel_expect(r, 0, "the build is half done");
	cancel_expect(e, 0, "the cancel function failed");
	t = get(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	pollex_task_free(t);
	t = get(r);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	pollex_task_free(t);
	t = get(e);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	pollex_task_free(t);
	log = td_log(td);
	ck_assert_msg(strstr(log, "remote service unavailable") != NULL, "%s",
	    tail(log));
	ck_assert_ptr_nonnull(strstr(log, "exited with status 3"));
	free(log);
	free(a);
	free(r);
	free(e);
}
END_TEST

START_TEST(test_cancel_while_poll_in_flight)
{
	char note[128], *a, *b, **runs;
	pollex_task *t;
	size_t n;

	td_block(td);
	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": 1}");
	start("\"interval\": \"200ms\"", NULL);
	a = submit("a", NULL);
	b = submit("b", NULL);
	ck_assert_int_eq(td_note(td, T, note, sizeof note), 0);
	ck_assert_msg(strstr(note, "blocked") != NULL, "%s", note);
	cancel_expect(a, 1, NULL);	/* while its poll runs */
	td_unset(td, "mode");
	td_release(td);			/* the poll answers "succeeded" */
	expect_note("poll");		/* the blocked poll finishing */
	expect_note("poll 1");		/* the next one: b alone */
	runs = td_runs(td, &n);
	ck_assert_ptr_null(strstr(runs[n - 1], a));
	ck_assert_ptr_nonnull(strstr(runs[n - 1], b));
	strv_free_n(runs, n);
	t = get(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	ck_assert_ptr_null(pollex_task_result(t));
	pollex_task_free(t);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_many_processes_wait_for_one_task)
{
	pid_t kids[3];
	int i, status, ready[2];
	char *id, byte;

	start("\"interval\": \"100ms\"", NULL);
	id = submit("shared", NULL);
	ck_assert_int_eq(pipe(ready), 0);
	for (i = 0; i < 3; i++) {
		if ((kids[i] = fork()) == 0) {
			pollex *k = NULL;
			const char *ids[1] = { id };
			pollex_task **done = NULL;
			size_t n = 0;
			int r;

			if (pollex_connect(td->sock, &k) != 0)
				_exit(10);
			if (write(ready[1], "r", 1) != 1)
				_exit(11);
			r = pollex_wait(k, ids, 1, POLLEX_ALL_COMPLETED, 20,
			    &done, &n, NULL);
			if (r != 0 || n != 1)
				_exit(12);
			if (pollex_task_state(done[0]) != POLLEX_SUCCEEDED ||
			    strcmp(pollex_task_result(done[0]), "\"ok\"") != 0)
				_exit(13);
			pollex_tasks_free(done, n);
			pollex_close(k);
			_exit(0);
		}
	}
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	td_set(td, "outcomes/shared", "{\"state\": \"succeeded\", "
	    "\"result\": \"ok\"}");
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "waiter %d: status %d", i, status);
	}
	free(id);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

START_TEST(test_wait_modes)
{
	char *ok, *bad, *slow;
	const char *ids[3];
	pollex_task **done = NULL;
	char **not_done = NULL;
	size_t n = 0;
	int r;

	td_set(td, "outcomes/ok", "{\"state\": \"succeeded\"}");
	start("\"interval\": \"100ms\"", NULL);
	ok = submit("ok", NULL);
	slow = submit("slow", NULL);
	ids[0] = ok;
	ids[1] = slow;
	r = pollex_wait(c, ids, 2, POLLEX_FIRST_COMPLETED, 10, &done, &n,
	    &not_done);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(pollex_task_id(done[0]), ok);
	ck_assert_str_eq(not_done[0], slow);
	ck_assert_ptr_null(not_done[1]);
	pollex_tasks_free(done, n);
	pollex_strv_free(not_done);

	/* ALL_COMPLETED with a timeout: timed out, the rest not done. */
	r = pollex_wait(c, ids, 2, POLLEX_ALL_COMPLETED, 0.3, &done, &n,
	    &not_done);
	ck_assert_int_eq(r, POLLEX_TIMED_OUT);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(not_done[0], slow);
	pollex_tasks_free(done, n);
	pollex_strv_free(not_done);

	/* FIRST_EXCEPTION returns at the failure, with slow pending. */
	bad = submit("bad", NULL);
	td_set(td, "outcomes/bad", "{\"state\": \"failed\", \"error\": \"no\"}");
	ids[2] = bad;
	r = pollex_wait(c, ids, 3, POLLEX_FIRST_EXCEPTION, 10, &done, &n,
	    &not_done);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, 2);	/* ok (already) and bad */
	ck_assert_str_eq(not_done[0], slow);
	pollex_tasks_free(done, n);
	pollex_strv_free(not_done);
	free(ok);
	free(bad);
	free(slow);
}
END_TEST

static int
count_cb(const pollex_task *t, void *arg)
{
	int *n = arg;

	(void)t;
	(*n)++;
	return 0;
}

START_TEST(test_wait_each_streams)
{
	char *a, *b;
	const char *ids[2];
	int n = 0;

	td_set(td, "outcomes/a", "{\"state\": \"succeeded\"}");
	td_set(td, "outcomes/b", "{\"state\": \"succeeded\"}");
	start("\"interval\": \"100ms\"", NULL);
	a = submit("a", NULL);
	b = submit("b", NULL);
	ids[0] = a;
	ids[1] = b;
	ck_assert_int_eq(pollex_wait_each(c, ids, 2, POLLEX_ALL_COMPLETED, 10,
	    count_cb, &n), 0);
	ck_assert_int_eq(n, 2);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_idempotent_submit)
{
	pollex_spec *s = pollex_spec_new("p");
	char *id1 = NULL, *id2 = NULL;
	int created = -1;

	start("\"interval\": \"30s\"", NULL);
	pollex_spec_set_ref(s, "{\"name\": \"k\"}");
	pollex_spec_set_idempotency_key(s, "build-42");
	ck_assert_int_eq(pollex_submit(c, s, &id1, &created), 0);
	ck_assert_int_eq(created, 1);
	ck_assert_int_eq(pollex_submit(c, s, &id2, &created), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_str_eq(id1, id2);
	free(id2);
	id2 = NULL;
	pollex_spec_free(s);
	s = pollex_spec_new("p");
	pollex_spec_set_ref(s, "{\"name\": \"other\"}");
	pollex_spec_set_idempotency_key(s, "build-42");
	ck_assert_int_eq(pollex_submit(c, s, &id2, NULL) == 0 ? 0 : -1, -1);
	ck_assert_str_eq(pollex_error_name(c), "io.pollex.IdempotencyConflict");
	pollex_spec_free(s);
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_other_uid_sees_nothing)
{
	pid_t pid;
	int status;
	char *id;

	if (geteuid() != 0) {
		fprintf(stderr, "test_other_uid_sees_nothing: not root, so no "
		    "second uid to test with; skipped\n");
		return;
	}
	start("\"interval\": \"30s\"", "\"socket_mode\": \"0666\"");
	id = submit("mine", NULL);
	if ((pid = fork()) == 0) {
		pollex *k = NULL;
		pollex_task *t = NULL;
		pollex_task **tasks = NULL;
		size_t n = 99;
		int cancelled = 0;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		if (pollex_connect(td->sock, &k) != 0)
			_exit(11);
		if (pollex_get(k, id, &t) != POLLEX_E_NOTFOUND)
			_exit(12);
		if (pollex_cancel(k, id, &cancelled, NULL) != POLLEX_E_NOTFOUND)
			_exit(13);
		if (pollex_list(k, NULL, &tasks, &n, NULL) != 0 || n != 0)
			_exit(14);
		{
			int64_t polled = -1;

			if (pollex_poll(k, "p", (const char *const *)&id, 1,
			    &polled) != POLLEX_E_NOTFOUND)
				_exit(15);
			if (pollex_poll(k, "p", NULL, 0, &polled) != 0 ||
			    polled != 0)
				_exit(16);
		}
		pollex_tasks_free(tasks, n);
		pollex_close(k);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", WEXITSTATUS(status));
	{
		pollex_task *t = get(id);
		ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
		pollex_task_free(t);
	}
	free(id);
}
END_TEST

/* Poll runs in the test poller's log (starts and cancels left out). */
static size_t
poll_runs(char ***out)
{
	size_t n, i, m = 0;
	char **runs = td_runs(td, &n);

	for (i = 0; i < n; i++) {
		if (strncmp(runs[i], "poll ", 5) == 0)
			runs[m++] = runs[i];
		else
			free(runs[i]);
	}
	if (out != NULL)
		*out = runs;
	else
		strv_free_n(runs, m);
	return m;
}

/* A number of Stats. */
static int64_t
stat_int(const char *key)
{
	json_object *o, *v;
	char *text = NULL;
	int64_t n = -1;

	ck_assert_int_eq(pollex_stats(c, &text), 0);
	o = json_tokener_parse(text);
	if (json_object_object_get_ex(o, key, &v))
		n = json_object_get_int64(v);
	json_object_put(o);
	free(text);
	return n;
}

/* Poll now: with a 60 s interval, a task whose remote state changed is
 * seen at once; ids narrow the poll; errors name the poller or task. */
START_TEST(test_poll_now)
{
	const char *only[2];
	char *a, *b, **runs;
	pollex_task *t;
	int64_t polled = -1;

	start("\"interval\": \"60s\"", NULL);
	a = submit("a", NULL);
	b = submit("b", NULL);
	expect_note("poll 2");	/* the prompt poll after the submits */
	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": 7}");
	ck_assert_int_eq(pollex_poll(c, "p", NULL, 0, &polled), 0);
	ck_assert_int_eq(polled, 2);
	/* Answered once that poll finished: the outcome is there. */
	t = get(a);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_int_eq(pollex_task_polls(t), 2);
	pollex_task_free(t);
	/* Only the task named; a finished one is not polled. */
	only[0] = b;
	only[1] = a;
	ck_assert_int_eq(pollex_poll(c, "p", only, 2, &polled), 0);
	ck_assert_int_eq(polled, 1);
	ck_assert_uint_eq(poll_runs(&runs), 3);
	ck_assert_msg(strstr(runs[2], " 1 ") != NULL &&
	    strstr(runs[2], b) != NULL, "%s", runs[2]);
	strv_free_n(runs, 3);
	only[0] = a;
	ck_assert_int_eq(pollex_poll(c, "p", only, 1, &polled), 0);
	ck_assert_int_eq(polled, 0);
	ck_assert_uint_eq(poll_runs(NULL), 3);
	/* Errors. */
	ck_assert_int_eq(pollex_poll(c, "nope", NULL, 0, &polled),
	    POLLEX_E_NOPOLLER);
	only[0] = "0000000000000000000000000";
	ck_assert_int_eq(pollex_poll(c, "p", only, 1, &polled),
	    POLLEX_E_NOTFOUND);
	/* pollexctl poll. */
	{
		char *out = NULL, *err = NULL;
		int rc = run_ctl(td, NULL, &out, &err, "poll", "p", b, NULL);

		ck_assert_msg(rc == 0, "pollexctl poll: %d %s", rc, err);
		ck_assert_str_eq(out, "p: 1 task polled\n");
		free(out);
		free(err);
		rc = run_ctl(td, NULL, &out, &err, "poll", "nope", NULL);
		ck_assert_int_eq(rc, 5);
		free(out);
		free(err);
	}
	ck_assert_uint_eq(poll_runs(NULL), 4);
	/* Oneway: the poll runs, nothing answers. */
	{
		char msg[256], *r;
		int fd = raw_connect(td->sock), i, eof = 0;

		snprintf(msg, sizeof msg, "{\"method\": \"io.pollex.Poll\", "
		    "\"parameters\": {\"poller\": \"p\", \"ids\": [\"%s\"]}, "
		    "\"oneway\": true}", b);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
		for (i = 0; i < 1000 && poll_runs(NULL) < 5; i++)
			usleep(10000);
		ck_assert_uint_eq(poll_runs(NULL), 5);
		r = raw_recv(fd, 200, &eof);
		ck_assert_msg(r == NULL, "a oneway call answered: %s", r);
		close(fd);
	}
	free(a);
	free(b);
}
END_TEST

/* Calls that arrive while a poll runs share the next poll: twenty of
 * them, one more program run, every call answered. */
START_TEST(test_poll_now_coalesces)
{
	static const char msg[] = "{\"method\": \"io.pollex.Poll\", "
	    "\"parameters\": {\"poller\": \"p\"}}";
	int fds[20], i, eof;
	char note[128], *a, *b, *r;
	size_t n;

	td_block(td);
	start("\"interval\": \"60s\"", NULL);
	a = submit("a", NULL);
	b = submit("b", NULL);
	ck_assert_int_eq(td_note(td, T, note, sizeof note), 0);
	ck_assert_msg(strstr(note, "blocked") != NULL, "%s", note);
	for (i = 0; i < 20; i++) {
		fds[i] = raw_connect(td->sock);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(raw_send(fds[i], msg, sizeof msg), 0);
	}
	/* Every call is in the daemon (Stats' own call is one more). */
	for (i = 0; i < 500 && stat_int("pending_calls") < 21; i++)
		usleep(10000);
	ck_assert_int_ge(stat_int("pending_calls"), 21);
	td_unset(td, "mode");
	td_release(td);
	for (i = 0; i < 20; i++) {
		r = raw_recv(fds[i], T, &eof);
		ck_assert_msg(r != NULL, "call %d not answered", i);
		ck_assert_msg(strstr(r, "\"polled\":2") != NULL, "%s", r);
		free(r);
		close(fds[i]);
	}
	n = poll_runs(NULL);
	ck_assert_msg(n == 2, "%zu poll runs for 20 calls", n);
	free(a);
	free(b);
}
END_TEST

/* A flood of Poll calls under a rate limit: no more program runs than
 * the rate allows (without it, each call would run the program). */
START_TEST(test_poll_now_rate_limited)
{
	struct timespec t0, t1;
	int64_t polled, calls = 0;
	double secs;
	size_t n;
	char *a;

	start("\"interval\": \"60s\", \"rate\": 4, \"burst\": 1", NULL);
	a = submit("a", NULL);
	expect_note("poll 1");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ck_assert_int_eq(pollex_poll(c, "p", NULL, 0, &polled), 0);
		ck_assert_int_eq(polled, 1);
		calls++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (secs < 2.0);
	n = poll_runs(NULL);
	/* The first run took the one token; then 4 a second. */
	ck_assert_msg(n <= 1 + 1 + (size_t)(4 * secs), "%zu runs in %.2fs",
	    n, secs);
	ck_assert_msg(n >= 5, "%zu runs in %.2fs", n, secs);
	ck_assert_int_eq(calls, (int64_t)n - 1);
	free(a);
}
END_TEST

START_TEST(test_start_program)
{
	pollex_spec *s;
	pollex_task *t;
	char keys[1024], *id = NULL, *bad = NULL;

	snprintf(keys, sizeof keys, "\"interval\": \"100ms\", \"start\": %s",
	    td->start_argv);
	td_set(td, "outcomes/made", "{\"state\": \"succeeded\", \"result\": "
	    "\"built\"}");
	start(keys, NULL);
	s = pollex_spec_new("p");
	pollex_spec_set_args(s, "{\"name\": \"made\"}");
	ck_assert_int_eq(pollex_submit(c, s, &id, NULL), 0);
	pollex_spec_free(s);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_ref(t),
	    "{\"created_by\":\"testpoller\",\"name\":\"made\"}");
	ck_assert_str_eq(pollex_task_args(t), "{\"name\":\"made\"}");
	pollex_task_free(t);
	s = pollex_spec_new("p");
	pollex_spec_set_args(s, "{\"fail\": \"quota exceeded\"}");
	ck_assert_int_eq(pollex_submit(c, s, &bad, NULL), 0);
	pollex_spec_free(s);
	t = wait_one(bad);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_str_eq(pollex_task_error_code(t), "start_failed");
	ck_assert_msg(strstr(pollex_task_error_message(t),
	    "cannot create: quota exceeded") != NULL, "%s",
	    pollex_task_error_message(t));
	ck_assert_ptr_null(pollex_task_ref(t));
	pollex_task_free(t);
	free(id);
	free(bad);
}
END_TEST

/* Numbers json-c takes beyond RFC 8259 in a start program's ref and a
 * poll program's result ("10.", "-01.5", "-.5") reach clients as their
 * values, NaN and Infinity as null: replies other clients can parse. */
START_TEST(test_lenient_numbers_in_output)
{
	pollex_spec *s;
	pollex_task *t;
	char *id = NULL;

	td_set(td, "outcomes/made", "{\"state\": \"succeeded\", \"result\": "
	    "{\"r\": [10., -.5], \"n\": NaN, \"i\": [Infinity]}}");
	start_argv(td->poll_argv, "\"interval\": \"100ms\", \"start\": "
	    "[\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{\\\"name\\\": "
	    "\\\"made\\\", \\\"r\\\": [10., 2222], \\\"n\\\": NaN, \\\"z\\\": "
	    "-01.5}'\"]", NULL);
	s = pollex_spec_new("p");
	ck_assert_int_eq(pollex_submit(c, s, &id, NULL), 0);
	pollex_spec_free(s);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_ref(t),
	    "{\"n\":null,\"name\":\"made\",\"r\":[10.0,2222],\"z\":-1.5}");
	ck_assert_str_eq(pollex_task_result(t),
	    "{\"r\":[10.0,-0.5],\"n\":null,\"i\":[null]}");
	pollex_task_free(t);
	free(id);
}
END_TEST

START_TEST(test_cancel_while_starting)
{
	pollex_spec *s;
	pollex_task *t;
	char keys[1024], *id = NULL, note[128];
	size_t n;
	char **runs;

	snprintf(keys, sizeof keys, "\"interval\": \"100ms\", \"start\": %s",
	    td->start_argv);
	td_block(td);
	start(keys, NULL);
	s = pollex_spec_new("p");
	pollex_spec_set_args(s, "{\"name\": \"never\"}");
	ck_assert_int_eq(pollex_submit(c, s, &id, NULL), 0);
	pollex_spec_free(s);
	ck_assert_int_eq(td_note(td, T, note, sizeof note), 0);
	ck_assert_str_eq(note, "start 1 blocked");
	t = get(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_STARTING);
	pollex_task_free(t);
	cancel_expect(id, 1, NULL);
	t = get(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	ck_assert_ptr_nonnull(strstr(pollex_task_error_message(t),
	    "while it was starting"));
	pollex_task_free(t);
	/* The start was killed: it never printed a ref, nothing polls it. */
	ck_assert(td_no_note(td, 500));
	runs = td_runs(td, &n);
	ck_assert_uint_eq(n, 1);
	strv_free_n(runs, n);
	free(id);
}
END_TEST

START_TEST(test_deadline_expires)
{
	pollex_spec *s = pollex_spec_new("p");
	pollex_task *t;
	char *id = NULL;

	start("\"interval\": \"100ms\"", NULL);
	pollex_spec_set_ref(s, "{\"name\": \"late\"}");
	pollex_spec_set_timeout(s, 0.3);
	ck_assert_int_eq(pollex_submit(c, s, &id, NULL), 0);
	pollex_spec_free(s);
	t = wait_one(id);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_EXPIRED);
	ck_assert_str_eq(pollex_task_error_code(t), "expired");
	ck_assert(pollex_task_deadline(t) > 0);
	pollex_task_free(t);
	free(id);
}
END_TEST

static int
purged_cb(const char *event, const char *id, const pollex_task *t, void *arg)
{
	(void)t;
	return strcmp(event, "purged") == 0 && strcmp(id, arg) == 0;
}

START_TEST(test_retention_purges)
{
	pollex *w = NULL;
	pollex_filter *f;
	pollex_task *t = NULL;
	char *id;

	td_set(td, "outcomes/gone", "{\"state\": \"succeeded\"}");
	start("\"interval\": \"100ms\"", "\"retention\": \"300ms\"");
	ck_assert_int_eq(pollex_connect(td->sock, &w), 0);
	pollex_set_timeout(w, 10000);
	id = submit("gone", NULL);
	f = pollex_filter_new();
	pollex_filter_add_id(f, id);
	ck_assert_int_eq(pollex_watch(w, f, 1, purged_cb, id), 0);
	pollex_filter_free(f);
	ck_assert_int_eq(pollex_get(c, id, &t), POLLEX_E_NOTFOUND);
	pollex_close(w);
	free(id);
}
END_TEST

/* The daemon's count of calls so far (this Stats call included). */
static long long
calls_now(void)
{
	char *json, *p;
	long long v;

	if (pollex_stats(c, &json) != 0)
		return -1;
	p = strstr(json, "\"calls\":");
	v = p != NULL ? atoll(p + 8) : -1;
	free(json);
	return v;
}

/* Wait until n calls made elsewhere after calls_now() gave base have been
 * dispatched: the count then runs n ahead of our own Stats calls. */
static int
calls_dispatched(long long base, int n)
{
	long long k;

	for (k = 1; k < 5000; k++)
		if (calls_now() >= base + k + n)
			return 1;
	return 0;
}

START_TEST(test_sigterm_while_waiting)
{
	const char *ids[1];
	pollex_task **done = NULL;
	size_t n = 0;
	char *id;
	pid_t pid;
	int status, ready[2];
	long long base;
	char byte;

	start("\"interval\": \"30s\"", NULL);
	id = submit("forever", NULL);
	ck_assert_int_eq(pipe(ready), 0);
	base = calls_now();	/* before the child can call */
	if ((pid = fork()) == 0) {
		pollex *k = NULL;
		if (pollex_connect(td->sock, &k) != 0)
			_exit(10);
		ids[0] = id;
		(void)!write(ready[1], "r", 1);
		_exit(pollex_wait(k, ids, 1, POLLEX_ALL_COMPLETED, -1, &done,
		    &n, NULL) == POLLEX_E_SHUTDOWN ? 0 : 12);
	}
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	ck_assert_msg(calls_dispatched(base, 1),
	    "the child's Wait never arrived");
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "waiter status %d", WEXITSTATUS(status));
	free(id);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

/* ---- many programs at once ------------------------------------------- */

/* No poll ends for this long: the poller is stuck (scaled like Check's
 * timeouts, for runs under valgrind). */
#define STALL_MS (5000 * slow())

/* CK_TIMEOUT_MULTIPLIER, or 1. */
static long long
slow(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");

	return m != NULL && atoi(m) > 1 ? atoi(m) : 1;
}

struct pstat {
	long long polls, failed, in_flight, outstanding;
	char state[16];
	char last_error[256];
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poller "p" as Pollers shows it. */
static void
pstat(struct pstat *ps)
{
	json_object *o, *arr, *p, *v;
	char *json = NULL;

	memset(ps, 0, sizeof *ps);
	ck_assert_int_eq(pollex_pollers(c, &json), 0);
	ck_assert_ptr_nonnull(o = json_tokener_parse(json));
	ck_assert(json_object_object_get_ex(o, "pollers", &arr));
	p = json_object_array_get_idx(arr, 0);
	ck_assert_ptr_nonnull(p);
	ps->polls = json_object_get_int64(json_object_object_get(p, "polls"));
	ps->failed = json_object_get_int64(json_object_object_get(p,
	    "failed_polls"));
	ps->in_flight = json_object_get_int64(json_object_object_get(p,
	    "in_flight"));
	ps->outstanding = json_object_get_int64(json_object_object_get(p,
	    "outstanding"));
	snprintf(ps->state, sizeof ps->state, "%s", json_object_get_string(
	    json_object_object_get(p, "state")));
	if (json_object_object_get_ex(p, "last_error", &v))
		snprintf(ps->last_error, sizeof ps->last_error, "%s",
		    json_object_get_string(v));
	json_object_put(o);
	free(json);
}

/*
 * Wait until the poller has ended want polls (failed ones included); fails
 * as soon as the count stops growing for STALL_MS, or after limit_ms.
 */
static void
await_polls(long long want, long long limit_ms)
{
	struct pstat ps;
	long long last = -1, since = mono_ms(), end = mono_ms() + limit_ms;
	int zombies, kids;

	for (;;) {
		pstat(&ps);
		if (ps.polls >= want)
			return;
		if (ps.polls != last) {
			last = ps.polls;
			since = mono_ms();
		} else if (mono_ms() - since > STALL_MS || mono_ms() > end) {
			kids = pid_children(td->pid, &zombies);
			ck_abort_msg("polls stuck at %lld of %lld for %lld ms: "
			    "state %s, in_flight %lld, %d children (%d "
			    "zombies)", ps.polls, want, mono_ms() - since,
			    ps.state, ps.in_flight, kids, zombies);
		}
		poll(NULL, 0, 20);
	}
}

/* Submit n tasks {"name": "tNNN"}; their ids (NULL-terminated). */
static char **
submit_n(size_t n)
{
	pollex_spec **specs = calloc(n, sizeof *specs);
	char **ids = NULL, ref[64];
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		specs[i] = pollex_spec_new("p");
		snprintf(ref, sizeof ref, "{\"name\": \"t%03zu\"}", i);
		ck_assert_int_eq(pollex_spec_set_ref(specs[i], ref), 0);
	}
	r = pollex_submit_many(c, (const pollex_spec *const *)specs, n, &ids,
	    NULL);
	ck_assert_msg(r == 0, "submit: %s", pollex_error_message(c));
	for (i = 0; i < n; i++)
		pollex_spec_free(specs[i]);
	free(specs);
	return ids;
}

/* With no task left, the poller must come to rest (bounded) with no
 * child left, running or zombie. */
static void
await_rest(void)
{
	struct pstat ps;
	long long end;
	int kids = -1, zombies = 0;

	for (end = mono_ms() + T; mono_ms() < end; poll(NULL, 0, 20)) {
		pstat(&ps);
		kids = pid_children(td->pid, &zombies);
		if (ps.in_flight == 0 && ps.outstanding == 0 && kids == 0)
			return;
	}
	ck_abort_msg("not at rest: state %s, in_flight %lld, outstanding "
	    "%lld, %d children (%d zombies)", ps.state, ps.in_flight,
	    ps.outstanding, kids, zombies);
}

/* Cancel every task (no cancel program: at once), then await_rest(). */
static void
cancel_all_and_rest(char **ids)
{
	size_t i;

	for (i = 0; ids[i] != NULL; i++)
		cancel_expect(ids[i], 1, NULL);
	await_rest();
}

/* Issue 11 #1: several poll programs exiting in the same loop pass once
 * lost one's exit for good (a zombie, a poll in flight for ever). */
START_TEST(test_many_short_programs_never_stall)
{
	char **ids;

	start_argv("[\"/bin/sh\", \"-c\", \"cat >/dev/null; "
	    "echo '{\\\"tasks\\\": []}'\"]", "\"interval\": \"10ms\", "
	    "\"max_batch\": 1, \"max_inflight\": 6, \"timeout\": \"2s\"",
	    NULL);
	ids = submit_n(40);
	await_polls(2000, 100000 * slow());
	{
		struct pstat ps;

		pstat(&ps);
		ck_assert_msg(ps.failed == 0, "%lld failed polls: %s",
		    ps.failed, ps.last_error);
	}
	cancel_all_and_rest(ids);
	pollex_strv_free(ids);
}
END_TEST

/* A program that ignores SIGTERM and never ends: every run is killed at
 * the timeout, reaped, and counted as a failed poll, many at once. */
START_TEST(test_timeouts_kill_reap_and_count)
{
	struct pstat ps;
	char **ids;

	start_argv("[\"/bin/sh\", \"-c\", \"trap '' TERM; exec sleep 600\"]",
	    "\"interval\": \"10ms\", \"max_batch\": 1, \"max_inflight\": 8, "
	    "\"timeout\": \"50ms\", \"fail_after\": 0, "
	    "\"backoff_initial\": \"10ms\", \"backoff_max\": \"10ms\"", NULL);
	ids = submit_n(16);
	await_polls(600, 60000 * slow());
	pstat(&ps);
	ck_assert_int_eq(ps.failed, ps.polls);
	ck_assert_msg(strstr(ps.last_error, "timed out after 50ms and was "
	    "killed") != NULL, "last_error: %s", ps.last_error);
	cancel_all_and_rest(ids);
	pollex_strv_free(ids);
}
END_TEST

/* The first line of a file, or "" (to free). */
static char *
first_line(const char *path)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		if (fgets(buf, sizeof buf, f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	return strdup(buf);
}

/* Is process pid gone (or a zombie: dead, waiting for its reaper)? */
static int
proc_gone(long pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int gone = 1;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ')
		gone = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return gone;
}

/*
 * A poll program that exits but leaves a background process holding its
 * output: each run fails at the timeout with that said, and the process
 * it left is ended with its group (it used to stay, one more per run).
 */
START_TEST(test_background_child_holding_output)
{
	struct pstat ps;
	char argv[512], *path, *ids[2] = { NULL, NULL }, *pidtext;
	long pid;
	int k;

	path = write_file(td->dir, "bg.pid", "", 0);
	snprintf(argv, sizeof argv, "[\"/bin/sh\", \"-c\", \"sleep 300 & "
	    "echo $! > %s; cat >/dev/null; echo '{\\\"tasks\\\": []}'\"]",
	    path);
	start_argv(argv, "\"interval\": \"1h\", \"timeout\": \"300ms\", "
	    "\"fail_after\": 0", NULL);
	ids[0] = submit("x", NULL);
	await_polls(1, 60000 * slow());
	for (k = 0; k < 3000; k++) {
		pstat(&ps);
		if (ps.failed >= 1)
			break;
		poll(NULL, 0, 10);
	}
	ck_assert_int_ge(ps.failed, 1);
	ck_assert_msg(strstr(ps.last_error, "exited, but its output stayed "
	    "open") != NULL, "last_error: %s", ps.last_error);
	pidtext = first_line(path);
	ck_assert_msg(sscanf(pidtext, "%ld", &pid) == 1 && pid > 1,
	    "bg.pid: \"%s\"", pidtext);
	for (k = 0; k < 3000 && !proc_gone(pid); k++)
		poll(NULL, 0, 10);
	ck_assert_msg(proc_gone(pid), "the background process %ld is left",
	    pid);
	free(pidtext);
	free(path);
	cancel_all_and_rest(ids);
	free(ids[0]);
}
END_TEST

/* The same with start programs: each one ending starts the next waiting
 * task's at once; all 500 tasks get their ref (none stays starting), and
 * nothing is left running. */
START_TEST(test_many_start_programs_never_stall)
{
	enum { N = 500 };
	pollex_spec **specs = calloc(N, sizeof *specs);
	char keys[1024], args[64], **ids = NULL, *json = NULL;
	long long starting, last = -1, since = mono_ms(), end;
	json_object *o, *arr;
	size_t i;
	int kids, zombies;

	snprintf(keys, sizeof keys, "\"interval\": \"30s\", \"max_starts\": 8, "
	    "\"start\": %s", td->start_argv);
	start(keys, NULL);
	for (i = 0; i < N; i++) {
		specs[i] = pollex_spec_new("p");
		snprintf(args, sizeof args, "{\"name\": \"s%03zu\"}", i);
		ck_assert_int_eq(pollex_spec_set_args(specs[i], args), 0);
	}
	ck_assert_msg(pollex_submit_many(c, (const pollex_spec *const *)specs,
	    N, &ids, NULL) == 0, "submit: %s", pollex_error_message(c));
	for (i = 0; i < N; i++)
		pollex_spec_free(specs[i]);
	free(specs);
	for (end = mono_ms() + 60000 * slow();; poll(NULL, 0, 20)) {
		ck_assert_int_eq(pollex_pollers(c, &json), 0);
		ck_assert_ptr_nonnull(o = json_tokener_parse(json));
		ck_assert(json_object_object_get_ex(o, "pollers", &arr));
		starting = json_object_get_int64(json_object_object_get(
		    json_object_array_get_idx(arr, 0), "starting"));
		json_object_put(o);
		free(json);
		if (starting == 0)
			break;
		if (starting != last) {
			last = starting;
			since = mono_ms();
		} else if (mono_ms() - since > STALL_MS || mono_ms() > end) {
			kids = pid_children(td->pid, &zombies);
			ck_abort_msg("%lld tasks still starting after %lld ms "
			    "without change; %d children (%d zombies)",
			    starting, mono_ms() - since, kids, zombies);
		}
	}
	for (i = 0; i < N; i += 37) {
		pollex_task *t = get(ids[i]);
		ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
		ck_assert_ptr_nonnull(strstr(pollex_task_ref(t), "testpoller"));
		pollex_task_free(t);
	}
	cancel_all_and_rest(ids);
	pollex_strv_free(ids);
}
END_TEST

/* Issue 11 #1 at ordinary settings: Cancel calls that never got a reply.
 * Clients cancel at once, each call running the cancel program, while the
 * poller polls the same tasks with several programs in flight; every call
 * is answered and everything comes to rest, no child left. */
START_TEST(test_concurrent_cancels_all_answered)
{
	enum { CLIENTS = 8, EACH = 30 };
	char **ids, buf[16];
	pid_t kids[CLIENTS];
	int i, j, status, done[2], eof = 0;
	struct pstat ps;
	struct pollfd pfd;
	long long end;

	start_argv("[\"/bin/sh\", \"-c\", \"cat >/dev/null; "
	    "echo '{\\\"tasks\\\": []}'\"]", "\"interval\": \"10ms\", "
	    "\"max_batch\": 1, \"max_inflight\": 8, \"timeout\": \"2s\", "
	    "\"cancel\": [\"/bin/sh\", \"-c\", \"cat >/dev/null\"]", NULL);
	ids = submit_n(CLIENTS * EACH);
	ck_assert_int_eq(pipe(done), 0);
	for (i = 0; i < CLIENTS; i++) {
		if ((kids[i] = fork()) == 0) {
			pollex *k = NULL;
			int cancelled;

			close(done[0]);
			if (pollex_connect(td->sock, &k) != 0)
				_exit(10);
			pollex_set_timeout(k, T);
			for (j = 0; j < EACH; j++) {
				cancelled = 0;
				if (pollex_cancel(k, ids[i * EACH + j],
				    &cancelled, NULL) != 0)
					_exit(11);	/* no reply in T */
				if (!cancelled)
					_exit(12);
			}
			pollex_close(k);
			_exit(0);	/* done[1] closes with us */
		}
	}
	close(done[1]);
	/* EOF once every client has exited, bounded. */
	pfd.fd = done[0];
	pfd.events = POLLIN;
	for (end = mono_ms() + 3 * T; !eof && mono_ms() < end; )
		eof = poll(&pfd, 1, (int)(end - mono_ms())) == 1 &&
		    read(done[0], buf, sizeof buf) == 0;
	close(done[0]);
	for (i = 0; i < CLIENTS; i++) {
		if (!eof)
			kill(kids[i], SIGKILL);
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "client %d: %s %d (11: a Cancel got no reply)", i,
		    WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ?
		    WEXITSTATUS(status) : WTERMSIG(status));
	}
	/* Every task cancelled: the poller comes to rest, nothing left. */
	await_rest();
	pstat(&ps);
	ck_assert_int_gt(ps.polls, 0);
	pollex_strv_free(ids);
}
END_TEST

static Suite *
exec_suite(void)
{
	Suite *s = suite_create("exec");
	TCase *tc;

	tc = tcase_create("polling");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_one_poll_resolves_many);
	tcase_add_test(tc, test_prompt_poll_then_interval);
	tcase_add_test(tc, test_polls_spaced_by_interval);
	tcase_add_test(tc, test_returned_delay_used);
	tcase_add_test(tc, test_returned_delay_clamped);
	tcase_add_test(tc, test_returned_delay_clamped_above);
	tcase_add_loop_test(tc, test_bad_delay_warned_once, 0,
	    (int)(sizeof bad_delays / sizeof bad_delays[0]));
	tcase_add_test(tc, test_failing_poll_fails_after_n);
	tcase_add_test(tc, test_failing_poll_recovers);
	tcase_add_test(tc, test_garbage_output_is_a_failed_poll);
	tcase_add_test(tc, test_poll_timeout_kills);
	tcase_add_test(tc, test_output_cap);
	tcase_add_test(tc, test_bad_outcome_entry);
	tcase_add_test(tc, test_first_outcome_wins);
	tcase_add_test(tc, test_progress_reported);
	tcase_add_test(tc, test_deadline_expires);
	tcase_add_test(tc, test_retention_purges);
	tcase_add_test(tc, test_poll_now);
	tcase_add_test(tc, test_poll_now_coalesces);
	tcase_add_test(tc, test_poll_now_rate_limited);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cancel_without_cancel_function);
	tcase_add_test(tc, test_cancel_queued_task_leaves_the_queue);
	tcase_add_test(tc, test_cancel_function_verdicts);
	tcase_add_test(tc, test_cancel_while_poll_in_flight);
	tcase_add_test(tc, test_start_program);
	tcase_add_test(tc, test_lenient_numbers_in_output);
	tcase_add_test(tc, test_cancel_while_starting);
	suite_add_tcase(s, tc);

	tc = tcase_create("clients");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_many_processes_wait_for_one_task);
	tcase_add_test(tc, test_wait_modes);
	tcase_add_test(tc, test_wait_each_streams);
	tcase_add_test(tc, test_idempotent_submit);
	tcase_add_test(tc, test_other_uid_sees_nothing);
	tcase_add_test(tc, test_sigterm_while_waiting);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_many_short_programs_never_stall);
	tcase_add_test(tc, test_timeouts_kill_reap_and_count);
	tcase_add_test(tc, test_background_child_holding_output);
	tcase_add_test(tc, test_many_start_programs_never_stall);
	tcase_add_test(tc, test_concurrent_cancels_all_answered);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return check_run(exec_suite());
}
