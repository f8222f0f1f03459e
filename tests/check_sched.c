/* SPDX-License-Identifier: ISC */
/* check_sched.c: scheduler decisions, driven by a fake clock. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "testlib.h"

static uint64_t now;		/* the fake clock, ms */
static uint64_t armed;		/* 0: disarmed */
static int narm;
static struct sched_batch *launched[64];
static int nlaunched;
static struct task *failed[64];
static int nfailed;
static uint64_t rnd;
static int ntouched;
static struct sched *s;
static struct task tasks[300];

static uint64_t
f_now(void *arg)
{
	(void)arg;
	return now;
}

static void
f_arm(void *arg, uint64_t at)
{
	(void)arg;
	armed = at;
	narm++;
}

static void
f_disarm(void *arg)
{
	(void)arg;
	armed = 0;
}

static void
f_launch(void *arg, struct sched_batch *b)
{
	(void)arg;
	ck_assert_int_lt(nlaunched, 64);
	launched[nlaunched++] = b;
}

static void
f_fail(void *arg, struct task *t, const char *error)
{
	(void)arg;
	ck_assert_ptr_nonnull(error);
	failed[nfailed++] = t;
	sched_remove(s, t);	/* as the task table's event would */
}

static uint64_t
f_random(void *arg)
{
	(void)arg;
	return rnd;
}

static void
f_touched(void *arg, struct task *t)
{
	(void)arg;
	(void)t;
	ntouched++;
}

static uint32_t ticked[64];
static int nticked;

static void
f_ticked(void *arg, uint32_t seq)
{
	(void)arg;
	ck_assert_int_lt(nticked, 64);
	ticked[nticked++] = seq;
}

static const struct sched_ops ops = { f_now, f_arm, f_disarm, f_launch,
	f_fail, f_random, f_touched, f_ticked };

static struct sched_policy
policy(void)
{
	struct sched_policy p;

	memset(&p, 0, sizeof p);
	p.interval = 5000;
	p.min_interval = 500;
	p.max_interval = 60000;
	p.coalesce = 10;
	p.backoff_initial = 1000;
	p.backoff_max = 16000;
	p.max_batch = 100;
	p.max_inflight = 2;
	p.fail_after = 3;
	return p;
}

static void
setup(void)
{
	struct sched_policy p = policy();

	now = 1000000;
	armed = 0;
	narm = nlaunched = nfailed = ntouched = nticked = 0;
	rnd = 0;
	memset(tasks, 0, sizeof tasks);
	s = sched_new(&p, &ops, NULL);
}

static void
teardown(void)
{
	int i;

	for (i = 0; i < nlaunched; i++)
		if (launched[i] != NULL)
			sched_abandon(s, launched[i]);
	sched_free(s);
}

/* Complete launched[i] as ok (delay secs) or failed. */
static void
finish(int i, int fail, double delay)
{
	struct sched_result r = { fail, fail ? "boom" : NULL, delay, 0 };

	sched_done(s, launched[i], &r);
	launched[i] = NULL;
}

/* Fire the timer at its armed time. */
static void
fire(void)
{
	ck_assert_msg(armed != 0, "no timer armed");
	now = armed;
	armed = 0;
	sched_fire(s);
}

START_TEST(test_idle_polls_nothing)
{
	ck_assert_int_eq(sched_state(s), SCHED_IDLE);
	ck_assert_uint_eq(armed, 0);
	ck_assert_int_eq(narm, 0);
}
END_TEST

START_TEST(test_wakeups_coalesce)
{
	int i;

	for (i = 0; i < 50; i++) {
		sched_add(s, &tasks[i]);
		now += 1;	/* 50 submits within the 10ms window... */
	}
	ck_assert_int_eq(narm, 1);	/* ...arm one tick */
	ck_assert_uint_eq(armed, 1000000 + 10);
	fire();
	ck_assert_int_eq(nlaunched, 1);	/* and share one poll */
	ck_assert_uint_eq(launched[0]->n, 50);
}
END_TEST

START_TEST(test_batches_and_inflight)
{
	int i;

	for (i = 0; i < 250; i++)
		sched_add(s, &tasks[i]);
	fire();
	ck_assert_int_eq(nlaunched, 2);	/* max_inflight */
	ck_assert_uint_eq(launched[0]->n, 100);	/* max_batch */
	ck_assert_uint_eq(launched[1]->n, 100);
	ck_assert_int_eq(tasks[0].qwhere, TASK_Q_FLIGHT);
	ck_assert_int_eq(tasks[249].qwhere, TASK_Q_TICK);
	now += 100;
	finish(0, 0, NAN);
	ck_assert_int_eq(nlaunched, 3);	/* the rest of the tick */
	ck_assert_uint_eq(launched[2]->n, 50);
	ck_assert_uint_eq(armed, 0);	/* the tick is not over */
	finish(1, 0, NAN);
	now += 50;
	finish(2, 0, NAN);
	ck_assert_uint_eq(armed, now + 5000);	/* interval after the end */
	ck_assert_int_eq(sched_state(s), SCHED_WAITING);
	ck_assert_uint_eq(tasks[0].polls, 1);
}
END_TEST

START_TEST(test_submit_during_poll_waits_for_next_tick)
{
	sched_add(s, &tasks[0]);
	fire();
	ck_assert_int_eq(nlaunched, 1);
	sched_add(s, &tasks[1]);	/* arrives while the poll runs */
	ck_assert_uint_eq(armed, 0);	/* no second poll now */
	ck_assert_int_eq(nlaunched, 1);
	now += 20;
	finish(0, 0, NAN);
	fire();
	ck_assert_int_eq(nlaunched, 2);
	ck_assert_uint_eq(launched[1]->n, 2);
	ck_assert_uint_eq(now, 1000000 + 10 + 20 + 5000);
}
END_TEST

START_TEST(test_no_poll_between_intervals)
{
	uint64_t start;

	sched_add(s, &tasks[0]);
	fire();
	finish(0, 0, NAN);
	start = now;
	/* A new task on a busy poller joins the scheduled tick. */
	sched_add(s, &tasks[1]);
	ck_assert_uint_eq(armed, start + 5000);
	fire();
	ck_assert_uint_eq(now - start, 5000);
}
END_TEST

START_TEST(test_returned_delay_clamped)
{
	static const struct {
		double delay;
		uint64_t want;
	} cases[] = {
		{ 2.0, 2000 }, { 0.001, 500 }, { 1e9, 60000 },
		{ NAN, 5000 }, { INFINITY, 5000 }, { -INFINITY, 5000 },
		{ 0, 5000 }, { -3, 5000 },
	};
	size_t i;

	sched_add(s, &tasks[0]);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fire();
		finish(nlaunched - 1, 0, cases[i].delay);
		ck_assert_msg(armed == now + cases[i].want,
		    "delay %g: armed in %llu, want %llu", cases[i].delay,
		    (unsigned long long)(armed - now),
		    (unsigned long long)cases[i].want);
	}
	ck_assert_uint_eq(sched_clamp_delay(sched_policy(s), 0.7), 700);
}
END_TEST

/* A delay the poll asked for was about the tasks it saw: a newcomer is
 * polled within one interval; a backoff is not cut short. */
START_TEST(test_newcomer_pulls_long_delay_forward)
{
	struct sched_policy p = policy();
	uint64_t end;

	p.interval = 600;
	sched_set_policy(s, &p);
	sched_add(s, &tasks[0]);
	fire();
	finish(0, 0, 30.0);
	end = now;
	ck_assert_uint_eq(armed, end + 30000);
	now += 1000;
	sched_add(s, &tasks[1]);
	ck_assert_uint_eq(armed, end + 1000 + 600);
	fire();
	ck_assert_uint_eq(launched[1]->n, 2);
	rnd = 1000;			/* the longest backoff: 1000ms */
	finish(1, 1, NAN);		/* a failed tick: backoff */
	end = armed;
	ck_assert_uint_eq(end, now + 1000);
	/* One that joins while a tick runs: the tick's long delay is cut
	 * to the interval at its end. */
	fire();
	ck_assert_uint_eq(launched[2]->n, 2);
	sched_add(s, &tasks[3]);
	finish(2, 0, 30.0);
	ck_assert_uint_eq(armed, now + 600);
	fire();
	ck_assert_uint_eq(launched[3]->n, 3);
	finish(3, 0, 30.0);		/* nobody joined: the delay stands */
	ck_assert_uint_eq(armed, now + 30000);
	rnd = 1000;
	fire();
	finish(4, 1, NAN);
	end = armed;
	ck_assert_uint_eq(end, now + 1000);
	now += 10;
	sched_add(s, &tasks[2]);	/* interval would say now + 600 */
	ck_assert_uint_eq(armed, end);	/* the backoff stands */
}
END_TEST

START_TEST(test_smallest_delay_of_a_tick)
{
	int i;

	for (i = 0; i < 150; i++)
		sched_add(s, &tasks[i]);
	fire();
	finish(0, 0, 9.0);
	finish(1, 0, 3.0);
	ck_assert_uint_eq(armed, now + 3000);
}
END_TEST

START_TEST(test_failures_backoff_and_fail_after)
{
	uint64_t prev = 0, d;

	rnd = 1000;		/* full jitter at its top: cap 1000 */
	sched_add(s, &tasks[0]);
	fire();
	finish(0, 1, NAN);
	d = armed - now;
	ck_assert_uint_eq(d, 1000);	/* backoff_initial */
	ck_assert_int_eq(sched_state(s), SCHED_BACKOFF);
	ck_assert_uint_eq(tasks[0].poll_failures, 1);
	prev = d;
	rnd = 2000;		/* the top again: the cap doubled */
	fire();
	finish(1, 1, NAN);
	d = armed - now;
	ck_assert_uint_gt(d, prev);	/* grows */
	ck_assert_int_eq(nfailed, 0);
	fire();
	finish(2, 1, NAN);
	ck_assert_int_eq(nfailed, 1);	/* fail_after 3 */
	ck_assert_ptr_eq(failed[0], &tasks[0]);
	ck_assert_uint_eq(sched_outstanding(s), 0);
	ck_assert_uint_eq(armed, 0);	/* nothing left: idle */
	ck_assert_uint_eq(sched_consecutive_failures(s), 3);
}
END_TEST

START_TEST(test_success_resets_failures)
{
	sched_add(s, &tasks[0]);
	fire();
	finish(0, 1, NAN);
	fire();
	finish(1, 1, NAN);
	ck_assert_uint_eq(tasks[0].poll_failures, 2);
	ck_assert_int_eq(ntouched, 2);	/* each failure is worth persisting */
	fire();
	finish(2, 0, NAN);
	ck_assert_uint_eq(tasks[0].poll_failures, 0);
	ck_assert_int_eq(ntouched, 3);	/* and so is the reset */
	ck_assert_uint_eq(sched_consecutive_failures(s), 0);
	ck_assert_uint_eq(armed, now + 5000);
	fire();
	finish(3, 0, NAN);
	ck_assert_int_eq(ntouched, 3);	/* a plain success is not */
	fire();
	finish(4, 1, NAN);
	fire();
	finish(5, 1, NAN);
	ck_assert_int_eq(nfailed, 0);	/* consecutive, not total */
}
END_TEST

START_TEST(test_fail_after_zero_never_fails)
{
	struct sched_policy p = policy();
	int i;

	p.fail_after = 0;
	sched_set_policy(s, &p);
	sched_add(s, &tasks[0]);
	for (i = 0; i < 20; i++) {
		fire();
		finish(nlaunched - 1, 1, NAN);
		nlaunched = 0;
	}
	ck_assert_int_eq(nfailed, 0);
	ck_assert_uint_eq(tasks[0].poll_failures, 20);
}
END_TEST

START_TEST(test_backoff_full_jitter_bounds)
{
	struct sched_policy p = policy();
	uint64_t d, cap, r;
	uint32_t n;

	for (n = 1; n <= 12; n++) {
		cap = p.backoff_initial << (n - 1);
		if (cap > p.backoff_max)
			cap = p.backoff_max;
		for (r = 0; r < 200000; r += 997) {
			d = sched_backoff(&p, n, r * 7919, 0);
			ck_assert_uint_ge(d, p.min_interval);
			ck_assert_uint_le(d, cap > p.min_interval ? cap :
			    p.min_interval);
		}
	}
	/* Retry-After wins over a shorter backoff, within max_interval. */
	ck_assert_uint_eq(sched_backoff(&p, 1, 0, 30), 30000);
	ck_assert_uint_eq(sched_backoff(&p, 1, 0, 1e6), 60000);
	ck_assert_uint_eq(sched_backoff(&p, 1, 0, NAN), 500);
}
END_TEST

START_TEST(test_remove_in_flight)
{
	sched_add(s, &tasks[0]);
	sched_add(s, &tasks[1]);
	fire();
	sched_remove(s, &tasks[0]);	/* cancelled while polled */
	ck_assert_ptr_null(launched[0]->tasks[0]);
	ck_assert_ptr_eq(launched[0]->tasks[1], &tasks[1]);
	ck_assert_int_eq(tasks[0].qwhere, TASK_Q_NONE);
	finish(0, 0, NAN);
	ck_assert_int_eq(tasks[0].qwhere, TASK_Q_NONE);	/* not requeued */
	ck_assert_int_eq(tasks[1].qwhere, TASK_Q_QUEUE);
	ck_assert_uint_eq(sched_outstanding(s), 1);
	sched_remove(s, &tasks[1]);
	ck_assert_uint_eq(armed, 0);
	ck_assert_int_eq(sched_state(s), SCHED_IDLE);
}
END_TEST

START_TEST(test_wake_respects_min_interval)
{
	sched_add(s, &tasks[0]);
	fire();
	now += 10;
	finish(0, 0, NAN);	/* tick ends */
	sched_remove(s, &tasks[0]);
	ck_assert_int_eq(sched_state(s), SCHED_IDLE);
	now += 100;
	sched_add(s, &tasks[1]);
	ck_assert_uint_eq(armed, now - 100 + 500);	/* last end + min */
}
END_TEST

START_TEST(test_not_before)
{
	tasks[0].not_before = now + 20000;
	sched_add(s, &tasks[0]);
	fire();			/* nothing eligible yet */
	ck_assert_int_eq(nlaunched, 0);
	ck_assert_uint_eq(armed, 1000000 + 20000);
	fire();
	ck_assert_int_eq(nlaunched, 1);
}
END_TEST

START_TEST(test_suspend_resume)
{
	sched_add(s, &tasks[0]);
	sched_suspend(s);
	ck_assert_uint_eq(armed, 0);
	ck_assert_int_eq(sched_state(s), SCHED_SUSPENDED);
	sched_add(s, &tasks[1]);
	ck_assert_uint_eq(armed, 0);
	sched_resume(s);
	fire();
	ck_assert_uint_eq(launched[0]->n, 2);
}
END_TEST

START_TEST(test_abandon)
{
	sched_add(s, &tasks[0]);
	fire();
	sched_abandon(s, launched[0]);
	launched[0] = NULL;
	ck_assert_int_eq(tasks[0].qwhere, TASK_Q_QUEUE);
	ck_assert_uint_eq(tasks[0].polls, 0);
	ck_assert_uint_eq(tasks[0].poll_failures, 0);
	ck_assert_uint_eq(sched_inflight(s), 0);
	sched_remove(s, &tasks[0]);
}
END_TEST

/* Poll now: a waiting scheduler polls the tasks asked for after the
 * coalescing window, ahead of the interval; the others keep their time. */
START_TEST(test_poll_now_brings_tick_forward)
{
	uint32_t tick;
	int i;

	for (i = 0; i < 3; i++)
		sched_add(s, &tasks[i]);
	fire();
	finish(0, 0, NAN);
	ck_assert_uint_eq(armed, now + 5000);
	now += 100;
	/* Many calls in one window: one tick, one poll. */
	tick = sched_poll_now(s, &tasks[1]);
	ck_assert_uint_eq(armed, now + 10);
	now += 5;
	ck_assert_uint_eq(sched_poll_now(s, &tasks[2]), tick);
	ck_assert_uint_eq(sched_poll_now(s, &tasks[1]), tick);
	ck_assert_uint_eq(armed, now - 5 + 10);
	fire();
	ck_assert_int_eq(nlaunched, 2);
	ck_assert_uint_eq(launched[1]->n, 2);	/* tasks 1 and 2 only */
	ck_assert_int_eq(tasks[0].qwhere, TASK_Q_QUEUE);
	ck_assert_uint_eq(tasks[1].polled_tick, tick);
	ck_assert_int_eq(nticked, 1);
	now += 20;
	finish(1, 0, NAN);
	ck_assert_int_eq(nticked, 2);
	ck_assert_uint_eq(ticked[1], tick);
	/* The ordinary tick keeps its time, and polls everything. */
	ck_assert_uint_eq(armed, 1000000 + 10 + 5000);
	fire();
	ck_assert_int_eq(nlaunched, 3);
	ck_assert_uint_eq(launched[2]->n, 3);
}
END_TEST

/* A call while a poll runs waits for the next tick, which comes right
 * after (not an interval later), even for a task of the running poll;
 * no more polls run than max_inflight. */
START_TEST(test_poll_now_during_tick)
{
	uint32_t tick;

	sched_add(s, &tasks[0]);
	sched_add(s, &tasks[1]);
	fire();
	ck_assert_int_eq(nlaunched, 1);
	tick = sched_poll_now(s, &tasks[0]);	/* in flight */
	ck_assert_uint_eq(armed, 0);
	ck_assert_int_eq(nlaunched, 1);
	now += 30;
	finish(0, 0, 60);	/* asked for a long delay */
	ck_assert_int_eq(nticked, 1);
	ck_assert_uint_ne(ticked[0], tick);
	ck_assert_uint_eq(armed, now + 10);	/* the coalescing window */
	fire();
	ck_assert_int_eq(nlaunched, 2);
	ck_assert_uint_eq(launched[1]->n, 1);
	ck_assert_ptr_eq(launched[1]->tasks[0], &tasks[0]);
	finish(1, 0, NAN);
	ck_assert_int_eq(nticked, 2);
	ck_assert_uint_eq(ticked[1], tick);
	ck_assert_uint_eq(tasks[0].polls, 2);
	ck_assert_uint_eq(tasks[1].polls, 1);
}
END_TEST

/* Poll now goes through a backoff; the backoff still holds for the
 * others.  A wanted tick whose tasks all left still ends (and says so). */
START_TEST(test_poll_now_backoff_and_gone)
{
	uint64_t backoff;
	uint32_t tick;

	sched_add(s, &tasks[0]);
	sched_add(s, &tasks[1]);
	fire();
	finish(0, 1, NAN);
	backoff = armed;
	ck_assert_uint_gt(backoff, now + 500 - 1);
	tick = sched_poll_now(s, &tasks[0]);
	ck_assert_uint_eq(armed, now + 10);
	sched_remove(s, &tasks[0]);
	sched_remove(s, &tasks[1]);
	fire();
	ck_assert_int_eq(nlaunched, 1);	/* nothing left to poll */
	ck_assert_int_eq(nticked, 2);
	ck_assert_uint_eq(ticked[1], tick);
	ck_assert_uint_eq(armed, 0);
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite *su = suite_create("sched");
	TCase *tc = tcase_create("decisions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_idle_polls_nothing);
	tcase_add_test(tc, test_wakeups_coalesce);
	tcase_add_test(tc, test_batches_and_inflight);
	tcase_add_test(tc, test_submit_during_poll_waits_for_next_tick);
	tcase_add_test(tc, test_no_poll_between_intervals);
	tcase_add_test(tc, test_returned_delay_clamped);
	tcase_add_test(tc, test_smallest_delay_of_a_tick);
	tcase_add_test(tc, test_newcomer_pulls_long_delay_forward);
	tcase_add_test(tc, test_failures_backoff_and_fail_after);
	tcase_add_test(tc, test_success_resets_failures);
	tcase_add_test(tc, test_fail_after_zero_never_fails);
	tcase_add_test(tc, test_backoff_full_jitter_bounds);
	tcase_add_test(tc, test_remove_in_flight);
	tcase_add_test(tc, test_wake_respects_min_interval);
	tcase_add_test(tc, test_not_before);
	tcase_add_test(tc, test_suspend_resume);
	tcase_add_test(tc, test_abandon);
	tcase_add_test(tc, test_poll_now_brings_tick_forward);
	tcase_add_test(tc, test_poll_now_during_tick);
	tcase_add_test(tc, test_poll_now_backoff_and_gone);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return check_run(sched_suite());
}
