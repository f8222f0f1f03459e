/* SPDX-License-Identifier: ISC */
/*
 * check_epochs.c: commit epochs, with a store backend whose commits end
 * when the test says so (as a database across the network would).  The
 * daemon runs in this process, with its real server on a private socket
 * and real exec pollers; the test turns the loop and talks to the socket.
 *
 * - a reply goes out only when the epoch of what it reports is durable,
 *   and the replies of one connection keep their order across epochs;
 * - a new task's start runs only after its row committed; when the
 *   commit fails (the store full), the task is discarded, its Submit
 *   refused, and its start never runs.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "harness.h"
#include "util.h"
#include "poller.h"
#include "pollexd.h"
#include "server.h"
#include "store.h"
#include "testlib.h"

#define T 10000		/* ms: bound for anything that should be quick */

/* ---- a backend whose commits end when the test says ---------------- */

static struct {
	int requested;		/* commits begun */
	size_t rows;		/* rows and removals of the last one */
	store_done_cb done;	/* the commit in flight */
	void *arg;
} db;

static int
dl_open(const struct store_params *p, void **h, char **cause)
{
	(void)p;
	(void)cause;
	*h = &db;
	return 0;
}

static int
dl_load(void *h, void (*cb)(void *, const struct store_row *), void *arg,
    char **cause)
{
	(void)h;
	(void)cb;
	(void)arg;
	(void)cause;
	return 0;
}

static void
dl_commit(void *h, const struct store_batch *b, store_done_cb done,
    void *arg)
{
	(void)h;
	ck_assert_ptr_null(db.done);	/* one commit at a time */
	db.requested++;
	db.rows = b->nputs + b->ndels;
	db.done = done;
	db.arg = arg;
}

static void
dl_stats(void *h, json_object *o)
{
	(void)h;
	(void)o;
}

static const char *
dl_describe(void *h)
{
	(void)h;
	return "the test's delayed store";
}

static void
dl_close(void *h)
{
	(void)h;
}

static const struct store_backend delayed = {
	.name = "delayed",
	.open = dl_open,
	.load = dl_load,
	.commit = dl_commit,
	.stats = dl_stats,
	.describe = dl_describe,
	.close = dl_close,
};

/* End the commit in flight, as the backend's completion from the loop. */
static void
complete(enum store_result r)
{
	store_done_cb done = db.done;

	ck_assert_msg(done != NULL, "no commit in flight");
	db.done = NULL;
	done(db.arg, r, NULL);
}

/* ---- the daemon in this process -------------------------------------- */

static struct event_base *base;
static struct pxd *pxd;
static char *dir, *sock, *marker;

/* What each client connection read and did not use yet. */
#define MAXFD 256
static char inbuf[MAXFD][16384];
static size_t inlen[MAXFD];


static void
setup(void)
{
	struct conf *conf;
	char *path, *cause = NULL, *text;

	hash_init();
	memset(&db, 0, sizeof db);
	memset(inlen, 0, sizeof inlen);
	store_backend_register(&delayed);
	dir = test_tmpdir();
	if (asprintf(&marker, "%s/started", dir) == -1 ||
	    asprintf(&sock, "%s/s.sock", dir) == -1 ||
	    asprintf(&text, "{\"store\": \"delayed\", \"commit_delay\": 0,"
	    "\"pollers\": {"
	    "\"p\": {\"kind\": \"exec\", \"interval\": \"1h\", \"poll\": "
	    "  [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"]},"
	    "\"s\": {\"kind\": \"exec\", \"interval\": \"1h\", \"poll\": "
	    "  [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"],"
	    " \"start\": [\"/bin/sh\", \"-c\", \"cat >/dev/null; "
	    "  echo x >> %s; echo '{\\\"n\\\": 1}'\"]}}}", marker) == -1)
		abort();
	path = write_file(dir, "e.conf", text, 0);
	ck_assert_msg(conf_load(path, &conf, &cause) == 0, "%s", cause);
	base = event_base_new();
	pxd = pxd_new(base, NULL);
	pxd_apply_conf(pxd, conf);
	pxd_set_state_dir(pxd, dir);
	ck_assert_msg(pxd_open_store(pxd, &cause) == 0, "%s", cause);
	pxd_serve(pxd);
	ck_assert_msg(server_listen(pxd_core(pxd)->server, sock, 0600, (gid_t)-1,
	    &cause) == 0, "%s", cause);
	free(path);
	free(text);
}

static void
teardown(void)
{
	/* A commit still in flight ends before the daemon goes. */
	if (db.done != NULL)
		complete(STORE_OK);
	server_stop(pxd_core(pxd)->server);
	pxd_free(pxd);
	event_base_free(base);
	rm_rf(dir);
	free(dir);
	free(sock);
	free(marker);
}

/* One turn of the loop, without waiting, and the work after it. */
static void
turn(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
	pxd_after_iteration(pxd);
}

/* Turn the loop until db.requested reaches n (bounded). */
static void
until_commit(int n)
{
	uint64_t end = mono_ms() + (uint64_t)T;

	while (db.requested < n) {
		ck_assert_msg(mono_ms() < end, "commit %d never began", n);
		turn();
		poll(NULL, 0, 1);
	}
}

/* Bytes readable on fd now? */
static int
readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* Turn the loop until fd has a whole message; the message (malloc'd). */
static char *
until_reply(int fd)
{
	uint64_t end = mono_ms() + (uint64_t)T;
	char *nul, *msg, *buf;
	size_t *have;
	ssize_t n;

	ck_assert(fd >= 0 && fd < MAXFD);
	buf = inbuf[fd];
	have = &inlen[fd];
	for (;;) {
		if ((nul = memchr(buf, '\0', *have)) != NULL) {
			msg = strdup(buf);
			*have -= (size_t)(nul + 1 - buf);
			memmove(buf, nul + 1, *have);
			return msg;
		}
		ck_assert_msg(mono_ms() < end, "no reply");
		turn();
		if (readable(fd)) {
			ck_assert_uint_lt(*have, sizeof inbuf[fd]);
			n = read(fd, buf + *have, sizeof inbuf[fd] - *have);
			ck_assert_int_gt(n, 0);
			*have += (size_t)n;
		} else
			poll(NULL, 0, 1);
	}
}

/* The next message on fd holds want. */
static void
expect_reply(int fd, const char *want)
{
	char *r = until_reply(fd);

	ck_assert_msg(strstr(r, want) != NULL, "%s lacks %s", r, want);
	free(r);
}

/* A few more turns: replies that were free to go would have gone. */
static void
turns(int n)
{
	while (n-- > 0)
		turn();
}

static int
connect_sock(void)
{
	int fd = raw_connect(sock);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static void
send_msg(int fd, const char *msg)
{
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
}

static const char submit_p[] = "{\"method\": \"io.pollex.Submit\", "
    "\"parameters\": {\"tasks\": [{\"poller\": \"p\", \"ref\": {\"a\": 1}}]}}";
static const char submit_p2[] = "{\"method\": \"io.pollex.Submit\", "
    "\"parameters\": {\"tasks\": [{\"poller\": \"p\", \"ref\": {\"a\": 2}}]}}";
static const char submit_s[] = "{\"method\": \"io.pollex.Submit\", "
    "\"parameters\": {\"tasks\": [{\"poller\": \"s\", \"args\": {}}]}}";

static int
marker_exists(void)
{
	struct stat sb;

	return stat(marker, &sb) == 0;
}

/* The Submit's reply is held until its epoch is durable; a call after it
 * on the same connection (GetInfo, which changes nothing) waits behind
 * it; both go out, in order, once the commit ends. */
START_TEST(test_reply_waits_for_commit)
{
	int fd = connect_sock();

	send_msg(fd, submit_p);
	send_msg(fd, "{\"method\": \"org.varlink.service.GetInfo\"}");
	until_commit(1);
	ck_assert_uint_eq(db.rows, 1);
	turns(20);
	ck_assert_msg(!readable(fd), "a reply went out before its commit");
	complete(STORE_OK);
	expect_reply(fd, "\"ids\"");
	expect_reply(fd, "\"vendor\"");
	close(fd);
}
END_TEST

/* Id of the first task in a Submit reply. */
static char *
first_id(const char *reply)
{
	json_object *o = json_tokener_parse(reply), *v;
	char *id;

	ck_assert_msg(o != NULL && json_object_object_get_ex(o, "parameters",
	    &v) && json_object_object_get_ex(v, "ids", &v), "%s", reply);
	id = strdup(json_object_get_string(json_object_array_get_idx(v, 0)));
	json_object_put(o);
	return id;
}

/* A reply made at once (Cancel) that reports a change waits for the
 * change's commit; so does a Get on another connection that sees it,
 * while a Wait for the task on a third connection hears of the outcome
 * no earlier. */
START_TEST(test_change_reply_waits_for_commit)
{
	int fd = connect_sock(), fd2 = connect_sock(), fd3 = connect_sock();
	char *r, *id, msg[256];

	send_msg(fd, submit_p);
	until_commit(1);
	complete(STORE_OK);
	r = until_reply(fd);
	id = first_id(r);
	free(r);
	snprintf(msg, sizeof msg, "{\"method\": \"io.pollex.Wait\", "
	    "\"parameters\": {\"ids\": [\"%s\"]}}", id);
	send_msg(fd3, msg);
	turns(20);
	ck_assert(!readable(fd3));
	snprintf(msg, sizeof msg, "{\"method\": \"io.pollex.Cancel\", "
	    "\"parameters\": {\"id\": \"%s\"}}", id);
	send_msg(fd, msg);
	until_commit(2);
	snprintf(msg, sizeof msg, "{\"method\": \"io.pollex.Get\", "
	    "\"parameters\": {\"id\": \"%s\"}}", id);
	send_msg(fd2, msg);
	turns(20);
	ck_assert_msg(!readable(fd), "Cancel's reply passed its commit");
	ck_assert_msg(!readable(fd2), "Get told of an uncommitted change");
	ck_assert_msg(!readable(fd3), "Wait told of an uncommitted outcome");
	complete(STORE_OK);
	expect_reply(fd, "cancelled");
	expect_reply(fd2, "cancelled");
	expect_reply(fd3, "cancelled");
	free(id);
	close(fd);
	close(fd2);
	close(fd3);
}
END_TEST

/* Two Submits on one connection fall in two epochs (the second arrives
 * while the first commit is in flight): each reply goes out with its own
 * epoch, in order. */
START_TEST(test_epochs_release_in_order)
{
	int fd = connect_sock();

	send_msg(fd, submit_p);
	until_commit(1);
	send_msg(fd, submit_p2);
	/* The second task is made and staged while the first commit is in
	 * flight: its epoch is the next one. */
	{
		uint64_t end = mono_ms() + (uint64_t)T;
		while (tasktab_size(pxd_core(pxd)->tt) < 2) {
			ck_assert_msg(mono_ms() < end, "second Submit unread");
			turn();
			poll(NULL, 0, 1);
		}
	}
	turns(20);
	ck_assert(!readable(fd));
	ck_assert_int_eq(db.requested, 1);	/* one in flight at a time */
	complete(STORE_OK);
	expect_reply(fd, "\"ids\"");
	/* The second epoch's commit begins; its reply waits for it. */
	until_commit(2);
	turns(20);
	ck_assert_msg(!readable(fd), "the second reply passed its commit");
	complete(STORE_OK);
	expect_reply(fd, "\"ids\"");
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 2);
	close(fd);
}
END_TEST

/* A task's start runs only once its row is durable. */
START_TEST(test_start_after_commit)
{
	uint64_t end = mono_ms() + (uint64_t)T;
	int fd = connect_sock();
	struct task *t;

	send_msg(fd, submit_s);
	until_commit(1);
	turns(20);
	t = tasktab_first(pxd_core(pxd)->tt);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->state, PX_STATE_STARTING);
	ck_assert_msg(t->op == NULL && !pollers_busy(pxd_core(pxd)->pollers),
	    "the start runs before the task's row committed");
	ck_assert(!marker_exists());
	complete(STORE_OK);
	expect_reply(fd, "\"ids\"");
	while (!marker_exists() || t->state != PX_STATE_PENDING) {
		ck_assert_msg(mono_ms() < end, "the start never ran");
		turn();
		poll(NULL, 0, 5);
		if (db.done != NULL)
			complete(STORE_OK);	/* the ref's commit */
	}
	ck_assert_str_eq(t->ref, "{\"n\":1}");
	close(fd);
}
END_TEST

/* The commit of a new task fails (store full): the task is discarded, the
 * Submit refused, and its start never runs. */
START_TEST(test_failed_commit_no_start)
{
	int fd = connect_sock();

	send_msg(fd, submit_s);
	until_commit(1);
	turns(20);
	ck_assert(!pollers_busy(pxd_core(pxd)->pollers));
	complete(STORE_FULL);
	expect_reply(fd, "io.pollex.StoreFailed");
	ck_assert_uint_eq(tasktab_size(pxd_core(pxd)->tt), 0);
	/* The rolled back rows go again with the discard: a commit that
	 * writes and removes them. */
	until_commit(2);
	complete(STORE_OK);
	turns(50);
	ck_assert_msg(!pollers_busy(pxd_core(pxd)->pollers) && !marker_exists(),
	    "a start ran for a task whose commit failed");
	close(fd);
}
END_TEST

static Suite *
epochs_suite(void)
{
	Suite *s = suite_create("epochs");
	TCase *tc = tcase_create("delayed");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reply_waits_for_commit);
	tcase_add_test(tc, test_epochs_release_in_order);
	tcase_add_test(tc, test_change_reply_waits_for_commit);
	tcase_add_test(tc, test_start_after_commit);
	tcase_add_test(tc, test_failed_commit_no_start);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(epochs_suite());
}
