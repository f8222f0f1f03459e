/* SPDX-License-Identifier: ISC */
/*
 * check_client.c: unit tests of libpollex and pollexctl.
 *
 * No daemon is needed: a scripted peer (a thread serving a listening socket
 * in a temporary directory) plays pollexd and sends crafted bytes: replies
 * split across writes, several in one write, malformed, oversized, cut off.
 * The peer synchronises with the test through pipes, never by sleeping;
 * every wait is bounded (Check's per-test timeout, pollex_set_timeout()).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "pollex.h"

/* ---- The scripted peer -------------------------------------------------- */

enum peer_op {
	P_END,
	P_ACCEPT, /* accept the client's connection */
	P_READ,   /* read one call (recorded in calls[]) */
	P_WRITE,  /* write data in one write */
	P_SPLIT,  /* write data in pieces of arg bytes */
	P_SYNC,   /* tell the test, wait for its go */
	P_CLOSE,  /* close the connection */
	P_BIG,    /* write arg bytes of 'x' (no NUL); errors ignored */
	P_EOF,    /* read until the client closes */
	P_SUBMIT, /* read a Submit call, answer ids "id-N" */
};

struct step {
	enum peer_op op;
	const char *data;
	size_t len;
	size_t arg;
};

#define S_ACCEPT                                                               \
	{                                                                      \
		P_ACCEPT, NULL, 0, 0                                           \
	}
#define S_READ                                                                 \
	{                                                                      \
		P_READ, NULL, 0, 0                                             \
	}
#define S_W(lit)                                                               \
	{                                                                      \
		P_WRITE, (lit), sizeof(lit) - 1, 0                             \
	}
#define S_SPLIT(lit, n)                                                        \
	{                                                                      \
		P_SPLIT, (lit), sizeof(lit) - 1, (n)                           \
	}
#define S_SYNC                                                                 \
	{                                                                      \
		P_SYNC, NULL, 0, 0                                             \
	}
#define S_CLOSE                                                                \
	{                                                                      \
		P_CLOSE, NULL, 0, 0                                            \
	}
#define S_BIG(n)                                                               \
	{                                                                      \
		P_BIG, NULL, 0, (n)                                            \
	}
#define S_EOF                                                                  \
	{                                                                      \
		P_EOF, NULL, 0, 0                                              \
	}
#define S_SUBMIT                                                               \
	{                                                                      \
		P_SUBMIT, NULL, 0, 0                                           \
	}
#define S_END                                                                  \
	{                                                                      \
		P_END, NULL, 0, 0                                              \
	}

#define MAX_CALLS 64

struct peer {
	char dir[64];
	char path[96];
	int lfd, fd;
	const struct step *script;
	pthread_t th;
	int to_test[2], to_peer[2];
	char *buf;
	size_t blen, bcap;
	json_object *calls[MAX_CALLS];
	char *raw[MAX_CALLS]; /* the calls' text */
	int ncalls;
	unsigned next_id;
	char why[256]; /* set when the script could not run */
};

/* Write all of data; -1 on error. */
static int
peer_write(struct peer *p, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(p->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one NUL-terminated call and record it; -1 at EOF or on error. */
static int
peer_read_call(struct peer *p, json_object **out)
{
	char *nul, *raw;
	ssize_t n;
	size_t len;

	for (;;) {
		if (p->blen > 0 &&
		    (nul = memchr(p->buf, '\0', p->blen)) != NULL) {
			len = (size_t)(nul - p->buf);
			*out = json_tokener_parse(p->buf);
			raw = strdup(p->buf);
			memmove(p->buf, nul + 1, p->blen - len - 1);
			p->blen -= len + 1;
			if (*out == NULL || p->ncalls >= MAX_CALLS) {
				free(raw);
				return *out == NULL ? -1 : 0;
			}
			p->raw[p->ncalls] = raw;
			p->calls[p->ncalls++] = json_object_get(*out);
			return 0;
		}
		if (p->bcap - p->blen < 65536) {
			p->bcap = p->bcap * 2 + 65536;
			if ((p->buf = realloc(p->buf, p->bcap)) == NULL)
				return -1;
		}
		n = read(p->fd, p->buf + p->blen, p->bcap - p->blen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p->blen += (size_t)n;
	}
}

/* Answer a Submit call with fresh ids. */
static int
peer_submit(struct peer *p)
{
	json_object *call, *params, *tasks, *reply, *rp, *ids, *created;
	const char *text;
	size_t i, n;
	char id[32];
	int r;

	if (peer_read_call(p, &call) != 0)
		return -1;
	if (!json_object_object_get_ex(call, "parameters", &params) ||
	    !json_object_object_get_ex(params, "tasks", &tasks)) {
		json_object_put(call);
		return -1;
	}
	n = json_object_array_length(tasks);
	reply = json_object_new_object();
	rp = json_object_new_object();
	ids = json_object_new_array();
	created = json_object_new_array();
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "id-%u", ++p->next_id);
		json_object_array_add(ids, json_object_new_string(id));
		json_object_array_add(created, json_object_new_boolean(1));
	}
	json_object_object_add(rp, "ids", ids);
	json_object_object_add(rp, "created", created);
	json_object_object_add(reply, "parameters", rp);
	text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	r = peer_write(p, text, strlen(text) + 1);
	json_object_put(reply);
	json_object_put(call);
	return r;
}

/* The peer thread: run the script. */
static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	const struct step *s;
	json_object *call;
	char c, big[65536];
	size_t off, n;

	for (s = p->script; s->op != P_END; s++) {
		switch (s->op) {
		case P_ACCEPT:
			p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (p->fd < 0) {
				snprintf(p->why, sizeof p->why, "accept: %s",
				    strerror(errno));
				return NULL;
			}
			break;
		case P_READ:
			if (peer_read_call(p, &call) != 0) {
				snprintf(p->why, sizeof p->why,
				    "step %d: no "
				    "call to read",
				    (int)(s - p->script));
				return NULL;
			}
			json_object_put(call);
			break;
		case P_WRITE:
			if (peer_write(p, s->data, s->len) != 0) {
				snprintf(p->why, sizeof p->why, "write: %s",
				    strerror(errno));
				return NULL;
			}
			break;
		case P_SPLIT:
			for (off = 0; off < s->len; off += n) {
				n = s->len - off < s->arg ? s->len - off
				                          : s->arg;
				if (peer_write(p, s->data + off, n) != 0) {
					snprintf(p->why, sizeof p->why,
					    "write: %s", strerror(errno));
					return NULL;
				}
			}
			break;
		case P_SYNC:
			if (write(p->to_test[1], "s", 1) != 1 ||
			    read(p->to_peer[0], &c, 1) != 1) {
				snprintf(p->why, sizeof p->why, "sync failed");
				return NULL;
			}
			break;
		case P_CLOSE:
			close(p->fd);
			p->fd = -1;
			break;
		case P_BIG:
			memset(big, 'x', sizeof big);
			for (off = 0; off < s->arg; off += n) {
				n = s->arg - off < sizeof big ? s->arg - off
				                              : sizeof big;
				if (peer_write(p, big, n) != 0)
					break; /* the client gave up */
			}
			break;
		case P_EOF:
			while (read(p->fd, big, sizeof big) > 0)
				;
			break;
		case P_SUBMIT:
			if (peer_submit(p) != 0) {
				snprintf(p->why, sizeof p->why,
				    "step %d: "
				    "Submit failed",
				    (int)(s - p->script));
				return NULL;
			}
			break;
		case P_END:
			break;
		}
	}
	return NULL;
}

/* Start a peer running script on a fresh socket. */
static struct peer *
peer_start(const struct step *script)
{
	struct sockaddr_un sun;
	struct peer *p;

	p = calloc(1, sizeof *p);
	ck_assert_ptr_nonnull(p);
	p->fd = -1;
	p->script = script;
	snprintf(p->dir, sizeof p->dir, "/tmp/pxtest.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
	snprintf(p->path, sizeof p->path, "%s/pollex.sock", p->dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", p->path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->lfd, 0);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(p->lfd, 8), 0);
	ck_assert_int_eq(pipe2(p->to_test, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(p->to_peer, O_CLOEXEC), 0);
	ck_assert_int_eq(pthread_create(&p->th, NULL, peer_main, p), 0);
	return p;
}

/* Wait (bounded) until the peer reaches a sync step. */
static void
peer_wait(struct peer *p)
{
	struct pollfd pfd = {.fd = p->to_test[0], .events = POLLIN};
	char c;

	ck_assert_msg(poll(&pfd, 1, 10000) == 1, "peer did not sync");
	ck_assert_int_eq(read(p->to_test[0], &c, 1), 1);
}

/* Let the peer go on after a sync step. */
static void
peer_go(struct peer *p)
{
	ck_assert_int_eq(write(p->to_peer[1], "g", 1), 1);
}

/* Wait for the script to end and check it ran. */
static void
peer_join(struct peer *p)
{
	ck_assert_int_eq(pthread_join(p->th, NULL), 0);
	ck_assert_msg(p->why[0] == '\0', "peer: %s", p->why);
}

/* Free the peer (after peer_join()). */
static void
peer_free(struct peer *p)
{
	int i;

	for (i = 0; i < p->ncalls; i++) {
		json_object_put(p->calls[i]);
		free(p->raw[i]);
	}
	if (p->fd != -1)
		close(p->fd);
	close(p->lfd);
	close(p->to_test[0]);
	close(p->to_test[1]);
	close(p->to_peer[0]);
	close(p->to_peer[1]);
	unlink(p->path);
	rmdir(p->dir);
	free(p->buf);
	free(p);
}

/* Connect a client to the peer, with a time limit on every call. */
static pollex *
peer_client(struct peer *p)
{
	pollex *c = NULL;

	ck_assert_int_eq(pollex_connect(p->path, &c), 0);
	ck_assert_ptr_nonnull(c);
	pollex_set_timeout(c, 10000);
	return c;
}

/* Assert that JSON value got equals the JSON text want. */
static void
check_json(json_object *got, const char *want)
{
	json_object *w = json_tokener_parse(want);

	ck_assert_msg(w != NULL, "bad expected JSON %s", want);
	ck_assert_msg(json_object_equal(got, w), "got %s, want %s",
	    json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN), want);
	json_object_put(w);
}

/* Assert that JSON text got equals the JSON text want. */
static void
check_json_text(const char *got, const char *want)
{
	json_object *g;

	ck_assert_ptr_nonnull(got);
	g = json_tokener_parse(got);
	ck_assert_msg(g != NULL, "not JSON: %s", got);
	check_json(g, want);
	json_object_put(g);
}

/* The parameters of the peer's call i, checking its method. */
static json_object *
call_params(struct peer *p, int i, const char *method)
{
	json_object *v;

	ck_assert_int_gt(p->ncalls, i);
	ck_assert(json_object_object_get_ex(p->calls[i], "method", &v));
	ck_assert_str_eq(json_object_get_string(v), method);
	ck_assert(json_object_object_get_ex(p->calls[i], "parameters", &v));
	return v;
}

/* Process the client until n more replies were handled (bounded). */
static void
process_until(pollex *c, int n)
{
	struct pollfd pfd;
	int r;

	while (n > 0) {
		pfd.fd = pollex_fd(c);
		pfd.events = (short)pollex_events(c);
		ck_assert_msg(poll(&pfd, 1, 10000) == 1, "no reply");
		r = pollex_process(c);
		ck_assert_int_ge(r, 0);
		n -= r;
	}
}

/* ---- Names and codes ---------------------------------------------------- */

START_TEST(test_strerror)
{
	const char *seen[18];
	int code, i;

	for (code = 0; code >= POLLEX_E_STORE; code--) {
		const char *s = pollex_strerror(code);

		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, "unknown error");
		for (i = 0; i < -code; i++)
			ck_assert_str_ne(s, seen[i]);
		seen[-code] = s;
	}
	ck_assert_str_eq(pollex_strerror(POLLEX_OK), "success");
	ck_assert_str_eq(pollex_strerror(POLLEX_E_NOTFOUND), "no such task");
	ck_assert_str_eq(pollex_strerror(-18), "unknown error");
	ck_assert_str_eq(pollex_strerror(1), "unknown error");
	ck_assert_str_eq(pollex_strerror(INT_MIN), "unknown error");
}
END_TEST

START_TEST(test_names)
{
	static const char *const names[] = {"starting", "pending", "succeeded",
	    "failed", "cancelled", "expired"};
	int i;

	for (i = 0; i < 6; i++)
		ck_assert_str_eq(
		    pollex_state_name((enum pollex_state)i), names[i]);
	ck_assert_ptr_null(pollex_state_name((enum pollex_state)6));
	ck_assert_ptr_null(pollex_state_name((enum pollex_state) - 1));
	ck_assert_str_eq(pollex_version(), PACKAGE_VERSION);
	ck_assert_ptr_null(pollex_error_name(NULL));
	ck_assert_str_eq(pollex_error_message(NULL), "");
}
END_TEST

/* ---- Tasks -------------------------------------------------------------- */

static const char full_task[] =
    "{\"id\":\"0193ab\",\"poller\":\"http\",\"state\":\"failed\","
    "\"owner\":1000,\"ref\":{\"job\":\"j1\"},\"args\":{\"n\":[1,2]},"
    "\"labels\":{\"env\":\"prod\",\"team\":\"ops\"},"
    "\"idempotency_key\":\"k-1\",\"created\":1700000000.5,"
    "\"updated\":1700000010.25,\"deadline\":1700003600,"
    "\"finished\":1700000011,\"polls\":7,\"poll_failures\":2,"
    "\"progress\":0.75,\"result\":null,"
    "\"error\":{\"code\":\"poll_failed\",\"message\":\"HTTP 500\","
    "\"details\":{\"status\":500}},\"future_field\":[true]}";

START_TEST(test_task_full)
{
	pollex_task *t = NULL;

	ck_assert_int_eq(pollex_task_parse(full_task, &t), 0);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(pollex_task_id(t), "0193ab");
	ck_assert_str_eq(pollex_task_poller(t), "http");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	ck_assert_int_eq(pollex_task_owner(t), 1000);
	check_json_text(pollex_task_ref(t), "{\"job\":\"j1\"}");
	check_json_text(pollex_task_args(t), "{\"n\":[1,2]}");
	check_json_text(
	    pollex_task_labels(t), "{\"env\":\"prod\",\"team\":\"ops\"}");
	ck_assert_str_eq(pollex_task_label(t, "env"), "prod");
	ck_assert_str_eq(pollex_task_label(t, "team"), "ops");
	ck_assert_ptr_null(pollex_task_label(t, "nope"));
	ck_assert_ptr_null(pollex_task_label(t, NULL));
	ck_assert_str_eq(pollex_task_idempotency_key(t), "k-1");
	ck_assert_ptr_null(pollex_task_result(t));
	ck_assert_str_eq(pollex_task_error_code(t), "poll_failed");
	ck_assert_str_eq(pollex_task_error_message(t), "HTTP 500");
	check_json_text(pollex_task_error_details(t), "{\"status\":500}");
	ck_assert_double_eq(pollex_task_created(t), 1700000000.5);
	ck_assert_double_eq(pollex_task_updated(t), 1700000010.25);
	ck_assert_double_eq(pollex_task_deadline(t), 1700003600);
	ck_assert_double_eq(pollex_task_finished(t), 1700000011);
	ck_assert_int_eq(pollex_task_polls(t), 7);
	ck_assert_int_eq(pollex_task_poll_failures(t), 2);
	ck_assert_double_eq(pollex_task_progress(t), 0.75);
	check_json_text(pollex_task_json(t), full_task);
	pollex_task_free(t);
}
END_TEST

START_TEST(test_task_minimal)
{
	pollex_task *t = NULL;

	ck_assert_int_eq(
	    pollex_task_parse(
	        "{\"id\":\"a\",\"poller\":\"p\","
	        "\"state\":\"succeeded\",\"result\":{\"x\":\"y/z\"},"
	        "\"progress\":null,\"deadline\":null,\"labels\":null}",
	        &t),
	    0);
	ck_assert_str_eq(pollex_task_id(t), "a");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_int_eq(pollex_task_owner(t), -1);
	ck_assert_ptr_null(pollex_task_ref(t));
	ck_assert_ptr_null(pollex_task_args(t));
	ck_assert_ptr_null(pollex_task_labels(t));
	ck_assert_ptr_null(pollex_task_label(t, "env"));
	ck_assert_ptr_null(pollex_task_idempotency_key(t));
	ck_assert_str_eq(pollex_task_result(t), "{\"x\":\"y/z\"}");
	ck_assert_ptr_null(pollex_task_error_code(t));
	ck_assert_ptr_null(pollex_task_error_message(t));
	ck_assert_ptr_null(pollex_task_error_details(t));
	ck_assert_double_eq(pollex_task_created(t), 0);
	ck_assert_double_eq(pollex_task_deadline(t), 0);
	ck_assert_double_eq(pollex_task_finished(t), 0);
	ck_assert_int_eq(pollex_task_polls(t), 0);
	ck_assert(isnan(pollex_task_progress(t)));
	pollex_task_free(t);

	/* Every state name parses; progress absent is NAN too. */
	ck_assert_int_eq(pollex_task_parse("{\"id\":\"a\",\"poller\":\"p\","
	                                   "\"state\":\"expired\"}",
	                     &t),
	    0);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_EXPIRED);
	ck_assert(isnan(pollex_task_progress(t)));
	pollex_task_free(t);

	/* NULL tasks are harmless. */
	pollex_task_free(NULL);
	pollex_tasks_free(NULL, 3);
	ck_assert_ptr_null(pollex_task_id(NULL));
	ck_assert(isnan(pollex_task_progress(NULL)));
}
END_TEST

START_TEST(test_task_invalid)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[1]",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\"} x",
	    "{\"poller\":\"p\",\"state\":\"pending\"}",
	    "{\"id\":1,\"poller\":\"p\",\"state\":\"pending\"}",
	    "{\"id\":\"a\",\"state\":\"pending\"}",
	    "{\"id\":\"a\",\"poller\":\"p\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"running\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"labels\":{\"k\":1}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"labels\":[\"k\"]}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"polls\":\"7\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"polls\":7.5}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"created\":\"now\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"failed\","
	    "\"error\":{\"message\":\"no code\"}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"failed\","
	    "\"error\":\"boom\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"idempotency_key\":5}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\",}",
	    "{\"id\":\"\xff\",\"poller\":\"p\",\"state\":\"pending\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"created\":1e400}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"polls\":1e2}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"progress\":true}",
	    "{\"id\":\"a\",\"poller\":[],\"state\":\"pending\"}",
	    "{\"id\":null,\"poller\":\"p\",\"state\":\"pending\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"error\":{\"code\":\"c\",\"message\":5}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"error\":{\"code\":null}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pend\\u0000\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"labels\":{\"a\":\"b\",\"k\":null}}",
	};
	pollex_task *t;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = (pollex_task *)&t;
		ck_assert_msg(pollex_task_parse(bad[i], &t) == POLLEX_E_INVAL,
		    "accepted %s", bad[i]);
		ck_assert_ptr_null(t);
	}
	ck_assert_int_eq(pollex_task_parse(NULL, &t), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_task_parse("{}", NULL), POLLEX_E_INVAL);
}
END_TEST

/* Is text JSON without white space outside its strings? */
static int
is_compact(const char *text)
{
	int in = 0;

	for (; *text != '\0'; text++) {
		if (in && *text == '\\')
			text++;
		else if (*text == '"')
			in = !in;
		else if (!in && strchr(" \t\r\n", *text) != NULL)
			return 0;
	}
	return 1;
}

/* A task's JSON text member: NULL when o has none (or null), else compact
 * JSON equal to it. */
static void
check_member_text(json_object *o, const char *key, const char *got)
{
	json_object *v = NULL, *g;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		ck_assert_msg(got == NULL, "%s: got %s, want none", key, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: none", key);
	ck_assert_msg(is_compact(got), "%s: not compact: %s", key, got);
	g = json_tokener_parse(got);
	ck_assert_msg(g != NULL, "%s: not JSON: %s", key, got);
	ck_assert_msg(json_object_equal(g, v), "%s: got %s, want %s", key, got,
	    json_object_to_json_string(v));
	json_object_put(g);
}

/* A string member (or NULL). */
static void
check_member_str(json_object *o, const char *key, const char *got)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		ck_assert_msg(got == NULL, "%s: got %s, want none", key, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: none", key);
	ck_assert_str_eq(got, json_object_get_string(v));
}

START_TEST(test_task_texts)
{
	/* Every shape: members present, absent and null; escapes in names
	 * and strings; white space; repeated names (the last counts, as in
	 * json-c); results that are not objects.  json-c's reading of the
	 * same text is the reference. */
	static const char *const shapes[] = {
	    full_task,
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"starting\","
	    "\"owner\":0,\"ref\":null,\"args\":null,\"labels\":null,"
	    "\"idempotency_key\":null,\"created\":1700000000.125,"
	    "\"updated\":1700000000.125,\"polls\":0,\"poll_failures\":0,"
	    "\"progress\":null,\"result\":null,\"error\":null}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"expired\","
	    "\"error\":{\"code\":\"expired\"}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"cancelled\","
	    "\"error\":{\"code\":\"cancelled\",\"message\":null,"
	    "\"details\":null}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"failed\","
	    "\"error\":{\"details\":[1,{\"x\":\"y\"}],\"code\":\"c\","
	    "\"message\":\"m \\\"q\\\" \\\\ \\/\"}}",
	    "  {\n \"id\" : \"a b\" ,\t\"poller\":\"p\", \"state\" :"
	    "\"succeeded\",\r\n \"ref\" : { \"k\" : [ 1 , 2 ] , \"s\" : "
	    "\"a \\\" b\" } , \"result\" : { } , \"labels\" : "
	    "{ \"env\" : \"prod\" } }  ",
	    "{\"\\u0069d\":\"\\u00e9\\n\\ud83d\\ude00\",\"poller\":\"p\","
	    "\"state\":\"\\u0070ending\",\"labels\":{\"k\\u00e9\":"
	    "\"v\\\"1\",\"x\":\"\\t\"},\"idempotency_key\":\"k\\/1\"}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"pending\","
	    "\"id\":\"b\",\"labels\":{\"k\":\"1\",\"k\":\"2\"},"
	    "\"ref\":{\"a\":1},\"ref\":null,\"args\":null,"
	    "\"args\":{\"b\":2}}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"succeeded\","
	    "\"result\":5}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"succeeded\","
	    "\"result\":\"done\",\"args\":[true,false,null,-0.5e-3]}",
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"succeeded\","
	    "\"result\":[],\"ref\":{\"deep\":[[[[{\"a\":[]}]]]]},"
	    "\"polls\":99999999999999999999,\"poll_failures\":-3,"
	    "\"owner\":-99999999999999999999,\"created\":1e3}",
	    /* what json-c takes and RFC 8259 does not, as before */
	    "{\"id\":\"a\",\"poller\":\"p\",\"state\":\"failed\","
	    "\"ref\":{\"s\":\"\xc0\xaf\xed\xa0\x80\"},\"created\":1.,"
	    "\"error\":{\"code\":\"c\",\"message\":\"a\tb\"}}",
	};
	json_object *o, *v, *e;
	pollex_task *t;
	const char *text;
	size_t i;

	for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		o = json_tokener_parse(shapes[i]);
		ck_assert_msg(o != NULL, "shape %zu is not JSON", i);
		ck_assert_msg(pollex_task_parse(shapes[i], &t) == 0,
		    "shape %zu refused", i);
		/* The whole task: compact, equal, and kept as written when
		 * it was compact already (as the daemon writes it). */
		text = pollex_task_json(t);
		ck_assert_msg(is_compact(text), "%zu: not compact: %s", i, text);
		check_json_text(text, shapes[i]);
		if (is_compact(shapes[i]))
			ck_assert_str_eq(text, shapes[i]);
		check_member_str(o, "id", pollex_task_id(t));
		check_member_str(o, "poller", pollex_task_poller(t));
		check_member_str(
		    o, "idempotency_key", pollex_task_idempotency_key(t));
		check_member_text(o, "ref", pollex_task_ref(t));
		check_member_text(o, "args", pollex_task_args(t));
		check_member_text(o, "labels", pollex_task_labels(t));
		check_member_text(o, "result", pollex_task_result(t));
		if (json_object_object_get_ex(o, "labels", &v) && v != NULL) {
			json_object_object_foreach(v, lk, lv)
			{
				ck_assert_ptr_nonnull(pollex_task_label(t, lk));
				ck_assert_str_eq(pollex_task_label(t, lk),
				    json_object_get_string(lv));
			}
		}
		ck_assert_ptr_null(pollex_task_label(t, "nope"));
		if (json_object_object_get_ex(o, "error", &e) && e != NULL) {
			check_member_str(
			    e, "code", pollex_task_error_code(t));
			if (json_object_object_get_ex(e, "message", &v) &&
			    v != NULL)
				ck_assert_str_eq(pollex_task_error_message(t),
				    json_object_get_string(v));
			else
				ck_assert_str_eq(
				    pollex_task_error_message(t), "");
			check_member_text(
			    e, "details", pollex_task_error_details(t));
		} else {
			ck_assert_ptr_null(pollex_task_error_code(t));
			ck_assert_ptr_null(pollex_task_error_message(t));
			ck_assert_ptr_null(pollex_task_error_details(t));
		}
		if (json_object_object_get_ex(o, "polls", &v) && v != NULL)
			ck_assert_int_eq(
			    pollex_task_polls(t), json_object_get_int64(v));
		if (json_object_object_get_ex(o, "owner", &v) && v != NULL)
			ck_assert_int_eq(
			    pollex_task_owner(t), json_object_get_int64(v));
		if (json_object_object_get_ex(o, "created", &v) && v != NULL)
			ck_assert_double_eq(
			    pollex_task_created(t), json_object_get_double(v));
		pollex_task_free(t);
		json_object_put(o);
	}

	/* The decoded values, spelled out for the escapes. */
	ck_assert_int_eq(pollex_task_parse(shapes[7], &t), 0);
	ck_assert_str_eq(pollex_task_id(t), "\xc3\xa9\n\xf0\x9f\x98\x80");
	ck_assert_int_eq(pollex_task_state(t), POLLEX_PENDING);
	ck_assert_str_eq(pollex_task_label(t, "k\xc3\xa9"), "v\"1");
	ck_assert_str_eq(pollex_task_label(t, "x"), "\t");
	ck_assert_str_eq(pollex_task_idempotency_key(t), "k/1");
	pollex_task_free(t);
	ck_assert_int_eq(pollex_task_parse(shapes[8], &t), 0);
	ck_assert_str_eq(pollex_task_id(t), "b");
	ck_assert_str_eq(pollex_task_label(t, "k"), "2");
	ck_assert_ptr_null(pollex_task_ref(t));
	ck_assert_str_eq(pollex_task_args(t), "{\"b\":2}");
	pollex_task_free(t);
	ck_assert_int_eq(pollex_task_parse(shapes[11], &t), 0);
	ck_assert_int_eq(pollex_task_polls(t), INT64_MAX);
	ck_assert_int_eq(pollex_task_owner(t), INT64_MIN);
	ck_assert_int_eq(pollex_task_poll_failures(t), -3);
	pollex_task_free(t);
}
END_TEST

/* ---- Specs and filters ------------------------------------------------- */

START_TEST(test_spec_setters)
{
	pollex_spec *s;

	ck_assert_ptr_null(pollex_spec_new(NULL));
	ck_assert_ptr_null(pollex_spec_new(""));
	ck_assert_ptr_null(pollex_spec_new("bad\xc3("));
	s = pollex_spec_new("http");
	ck_assert_ptr_nonnull(s);

	/* ref and args: JSON objects only. */
	ck_assert_int_eq(pollex_spec_set_ref(s, "{\"a\":"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "[1]"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "1"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "\"s\""), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "null"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "{a:1}"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "{\"a\":1,}"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, "{} {}"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_ref(s, NULL), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_args(s, "[]"), POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_spec_set_args(s, "{\"x\":\"\xff\"}"), POLLEX_E_INVAL);

	ck_assert_int_eq(pollex_spec_set_label(s, "", "v"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_label(s, "k", NULL), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_label(s, "k", "\xed\xa0\x80"),
	    POLLEX_E_INVAL); /* a UTF-16 surrogate */
	ck_assert_int_eq(pollex_spec_set_timeout(s, -1), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_timeout(s, NAN), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_timeout(s, INFINITY), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_spec_set_deadline(s, -5), POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_spec_set_idempotency_key(s, ""), POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_spec_set_idempotency_key(s, NULL), POLLEX_E_INVAL);

	/* At most one of timeout and deadline. */
	ck_assert_int_eq(pollex_spec_set_timeout(s, 30), 0);
	ck_assert_int_eq(pollex_spec_set_deadline(s, 1e9), POLLEX_E_INVAL);
	pollex_spec_free(s);
	s = pollex_spec_new("http");
	ck_assert_int_eq(pollex_spec_set_deadline(s, 1e9), 0);
	ck_assert_int_eq(pollex_spec_set_timeout(s, 30), POLLEX_E_INVAL);
	pollex_spec_free(s);
	pollex_spec_free(NULL);
}
END_TEST

START_TEST(test_spec_json)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"ids\":[\"t1\"],\"created\":[false]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"ids\":[\"t2\",\"t3\"],"
	        "\"created\":[true,true]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"ids\":[\"t4\"],\"created\":[true]}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	const pollex_spec *specs[2];
	pollex_spec *s, *s2;
	char *id = NULL, **ids = NULL;
	int created = -1, *cr = NULL;
	size_t n = 0;

	s = pollex_spec_new("http");
	ck_assert_int_eq(pollex_spec_set_ref(s, " {\"job\": \"j/1\"} "), 0);
	ck_assert_int_eq(
	    pollex_spec_set_args(s, "{\"n\":[1,{\"x\":null}]}"), 0);
	ck_assert_int_eq(pollex_spec_set_label(s, "env", "prod"), 0);
	ck_assert_int_eq(pollex_spec_set_label(s, "team", "ops"), 0);
	ck_assert_int_eq(pollex_spec_set_label(s, "env", "dev"), 0);
	ck_assert_int_eq(pollex_spec_set_timeout(s, 90.5), 0);
	ck_assert_int_eq(pollex_spec_set_idempotency_key(s, "key-1"), 0);
	ck_assert_int_eq(pollex_submit(c, s, &id, &created), 0);
	ck_assert_str_eq(id, "t1");
	ck_assert_int_eq(created, 0);
	free(id);

	s2 = pollex_spec_new("db");
	ck_assert_int_eq(pollex_spec_set_deadline(s2, 1700000000), 0);
	specs[0] = s2;
	specs[1] = s;
	ck_assert_int_eq(pollex_submit_many(c, specs, 2, &ids, &cr), 0);
	ck_assert_str_eq(ids[0], "t2");
	ck_assert_str_eq(ids[1], "t3");
	ck_assert_ptr_null(ids[2]);
	ck_assert_int_eq(cr[0], 1);
	ck_assert_int_eq(cr[1], 1);
	pollex_strv_free(ids);
	free(cr);

	/* submit_json: checked locally, sent as given. */
	ck_assert_int_eq(pollex_submit_json(c, "[{\"poller\":\"x\"}", &ids, &n),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_submit_json(c, "{\"poller\":\"x\"}", &ids, &n),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_submit_json(c, "[{\"poller\":\"x\"}, 1]", &ids, &n),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_submit_json(c, "[] , \"tasks\": [{}]", &ids, &n),
	    POLLEX_E_INVAL);
	ck_assert_ptr_null(ids);
	ck_assert_int_eq(pollex_submit_json(c, "[]", &ids, &n), 0);
	ck_assert_ptr_nonnull(ids);
	ck_assert_ptr_null(ids[0]);
	ck_assert_uint_eq(n, 0);
	pollex_strv_free(ids);
	ck_assert_int_eq(pollex_submit_json(c,
	                     " [{\"poller\":\"x\","
	                     "\"labels\":{\"a\":\"b\"}}] ",
	                     &ids, &n),
	    0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], "t4");
	pollex_strv_free(ids);

	pollex_close(c);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 3);
	check_json(call_params(p, 0, "io.pollex.Submit"),
	    "{\"tasks\":[{\"poller\":\"http\",\"ref\":{\"job\":\"j/1\"},"
	    "\"args\":{\"n\":[1,{\"x\":null}]},"
	    "\"labels\":{\"env\":\"dev\",\"team\":\"ops\"},"
	    "\"timeout\":90.5,\"idempotency_key\":\"key-1\"}]}");
	check_json(call_params(p, 1, "io.pollex.Submit"),
	    "{\"tasks\":[{\"poller\":\"db\",\"deadline\":1700000000.0},"
	    "{\"poller\":\"http\",\"ref\":{\"job\":\"j/1\"},"
	    "\"args\":{\"n\":[1,{\"x\":null}]},"
	    "\"labels\":{\"env\":\"dev\",\"team\":\"ops\"},"
	    "\"timeout\":90.5,\"idempotency_key\":\"key-1\"}]}");
	check_json(call_params(p, 2, "io.pollex.Submit"),
	    "{\"tasks\":[{\"poller\":\"x\",\"labels\":{\"a\":\"b\"}}]}");
	pollex_spec_free(s);
	pollex_spec_free(s2);
	peer_free(p);
}
END_TEST

/* Watch callback that stops at the first event. */
static int
stop_at_first(
    const char *event, const char *id, const pollex_task *t, void *arg)
{
	(void)event;
	(void)id;
	(void)t;
	(*(int *)arg)++;
	return 1;
}

START_TEST(test_filter_json)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"tasks\":[]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"tasks\":[]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"ready\"},\"continues\":true}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	pollex_filter *f, *w;
	pollex_task **tasks = NULL;
	size_t n = 99;
	char *next = (char *)"x";
	int events = 0;

	f = pollex_filter_new();
	ck_assert_int_eq(
	    pollex_filter_add_state(f, (enum pollex_state)6), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_filter_set_limit(f, 0), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_filter_set_owner(f, -1), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_filter_set_poller(f, ""), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_filter_add_label(f, "", "x"), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_filter_add_state(f, POLLEX_PENDING), 0);
	ck_assert_int_eq(pollex_filter_add_state(f, POLLEX_FAILED), 0);
	ck_assert_int_eq(pollex_filter_set_poller(f, "old"), 0);
	ck_assert_int_eq(pollex_filter_set_poller(f, "http"), 0);
	ck_assert_int_eq(pollex_filter_add_label(f, "env", "prod"), 0);
	ck_assert_int_eq(pollex_filter_set_owner(f, 1000), 0);
	ck_assert_int_eq(pollex_filter_set_after(f, "t9"), 0);
	ck_assert_int_eq(pollex_filter_set_limit(f, 50), 0);

	/* List-only fields make a Watch filter invalid, and vice versa;
	 * nothing is sent then. */
	ck_assert_int_eq(
	    pollex_watch(c, f, 0, stop_at_first, &events), POLLEX_E_INVAL);
	w = pollex_filter_new();
	ck_assert_int_eq(pollex_filter_add_id(w, "t1"), 0);
	ck_assert_int_eq(pollex_list(c, w, &tasks, &n, &next), POLLEX_E_INVAL);

	ck_assert_int_eq(pollex_list(c, f, &tasks, &n, &next), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(next);
	pollex_tasks_free(tasks, n);
	ck_assert_int_eq(pollex_list(c, NULL, &tasks, &n, NULL), 0);
	pollex_tasks_free(tasks, n);

	ck_assert_int_eq(pollex_filter_add_id(w, "t2"), 0);
	ck_assert_int_eq(pollex_filter_set_poller(w, "http"), 0);
	ck_assert_int_eq(pollex_filter_add_label(w, "env", "prod"), 0);
	ck_assert_int_eq(pollex_watch(c, w, 1, stop_at_first, &events), 0);
	ck_assert_int_eq(events, 1);

	pollex_close(c);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 3);
	check_json(call_params(p, 0, "io.pollex.List"),
	    "{\"states\":[\"pending\",\"failed\"],\"poller\":\"http\","
	    "\"labels\":{\"env\":\"prod\"},\"owner\":1000,\"after\":\"t9\","
	    "\"limit\":50}");
	check_json(call_params(p, 1, "io.pollex.List"), "{}");
	check_json(call_params(p, 2, "io.pollex.Watch"),
	    "{\"ids\":[\"t1\",\"t2\"],\"poller\":\"http\","
	    "\"labels\":{\"env\":\"prod\"},\"initial\":true}");
	check_json(p->calls[2],
	    "{\"method\":\"io.pollex.Watch\","
	    "\"parameters\":{\"ids\":[\"t1\",\"t2\"],\"poller\":\"http\","
	    "\"labels\":{\"env\":\"prod\"},\"initial\":true},\"more\":true}");
	pollex_filter_free(f);
	pollex_filter_free(w);
	pollex_filter_free(NULL);
	peer_free(p);
}
END_TEST

/* ---- Connecting --------------------------------------------------------- */

START_TEST(test_connect_errors)
{
	char longpath[200];
	pollex *c = (pollex *)&c;

	ck_assert_int_eq(
	    pollex_connect("/nonexistent/pollex.sock", &c), POLLEX_E_CONNECT);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(c);
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_int_eq(pollex_connect(longpath, &c), POLLEX_E_CONNECT);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_int_eq(pollex_connect("", &c), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_connect("/x", NULL), POLLEX_E_INVAL);

	/* path NULL: $POLLEX_SOCKET. */
	setenv("POLLEX_SOCKET", "/nonexistent/env.sock", 1);
	ck_assert_int_eq(pollex_connect(NULL, &c), POLLEX_E_CONNECT);
	ck_assert_int_eq(errno, ENOENT);
	unsetenv("POLLEX_SOCKET");

	/* Calls on NULL connections. */
	ck_assert_int_eq(pollex_process(NULL), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_fd(NULL), -1);
	ck_assert_int_eq(pollex_events(NULL), 0);
	ck_assert_uint_eq(pollex_pending(NULL), 0);
	ck_assert_int_eq(pollex_call(NULL, "a.B", NULL, NULL), POLLEX_E_INVAL);
	pollex_close(NULL);
}
END_TEST

START_TEST(test_connect_env)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"vendor\":\"test\"}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = NULL;
	char *reply = NULL;
	int flags;

	setenv("POLLEX_SOCKET", p->path, 1);
	ck_assert_int_eq(pollex_connect(NULL, &c), 0);
	unsetenv("POLLEX_SOCKET");
	ck_assert_str_eq(pollex_socket_path(c), p->path);
	/* close-on-exec and non-blocking, as documented. */
	ck_assert_int_ge(pollex_fd(c), 0);
	ck_assert(fcntl(pollex_fd(c), F_GETFD) & FD_CLOEXEC);
	flags = fcntl(pollex_fd(c), F_GETFL);
	ck_assert(flags & O_NONBLOCK);
	ck_assert_int_eq(pollex_events(c), POLLIN);
	ck_assert_int_eq(
	    pollex_call(c, "org.varlink.service.GetInfo", NULL, &reply), 0);
	check_json_text(reply, "{\"vendor\":\"test\"}");
	free(reply);
	pollex_close(c);
	peer_join(p);
	check_json(p->calls[0],
	    "{\"method\":\"org.varlink.service.GetInfo\","
	    "\"parameters\":{}}");
	peer_free(p);
}
END_TEST

/* ---- Framing ------------------------------------------------------------ */

#define TASK_A                                                                 \
	"{\"id\":\"a\",\"poller\":\"p\",\"state\":\"succeeded\","              \
	"\"result\":{\"v\":1}}"
#define TASK_B                                                                 \
	"{\"id\":\"b\",\"poller\":\"p\",\"state\":\"failed\","                 \
	"\"error\":{\"code\":\"poll_failed\",\"message\":\"boom\"}}"
#define TASK_C "{\"id\":\"c\",\"poller\":\"p\",\"state\":\"cancelled\"}"

START_TEST(test_split_bytes)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_SPLIT("{\"parameters\":{\"task\":" TASK_A "}}\0", 1),
	    S_READ,
	    S_SPLIT("  {\"parameters\" : {\"task\":" TASK_B "} }\n\0", 3),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	pollex_task *t = NULL;

	ck_assert_int_eq(pollex_get(c, "a", &t), 0);
	ck_assert_str_eq(pollex_task_id(t), "a");
	check_json_text(pollex_task_result(t), "{\"v\":1}");
	pollex_task_free(t);
	ck_assert_int_eq(pollex_get(c, "b", &t), 0);
	ck_assert_str_eq(pollex_task_error_message(t), "boom");
	pollex_task_free(t);
	pollex_close(c);
	peer_join(p);
	check_json(p->calls[0],
	    "{\"method\":\"io.pollex.Get\","
	    "\"parameters\":{\"id\":\"a\"}}");
	peer_free(p);
}
END_TEST

/* Replies of async calls, recorded in order. */
struct replies {
	int n;
	int err[8];
	int cont[8];
	int arg[8];
	char *params[8];
};

/* Where record_reply() keeps the replies of the running test. */
static struct replies *current_replies;

/* Record one reply; arg points to an int tag. */
static void
record_reply(pollex *c, int err, const char *params, int continues, void *arg)
{
	struct replies *r = current_replies;

	(void)c;
	ck_assert_int_lt(r->n, 8);
	r->err[r->n] = err;
	r->cont[r->n] = continues;
	r->arg[r->n] = *(int *)arg;
	r->params[r->n] = params != NULL ? strdup(params) : NULL;
	r->n++;
}

/* Free the recorded parameters. */
static void
replies_free(struct replies *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->params[i]);
}

START_TEST(test_split_sync)
{
	/* A reply in three pieces, the client processing in between. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parame"),
	    S_SYNC,
	    S_W("ters\":{\"x\":"),
	    S_SYNC,
	    S_W("1}}\0{\"parameters\":{\"x\":2}}"),
	    S_SYNC,
	    S_READ,
	    S_W("\0"),
	    S_EOF,
	    S_END,
	};
	struct replies r = {0};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	int tag1 = 1, tag2 = 2;

	current_replies = &r;
	ck_assert_int_eq(
	    pollex_call_async(c, "a.B", "{}", 0, record_reply, &tag1), 0);
	ck_assert_uint_eq(pollex_pending(c), 1);
	ck_assert_int_eq(pollex_events(c), POLLIN | POLLOUT);
	ck_assert_int_eq(pollex_process(c), 0); /* sends the call */
	ck_assert_int_eq(pollex_events(c), POLLIN);
	peer_wait(p);
	ck_assert_int_eq(pollex_process(c), 0);
	ck_assert_int_eq(r.n, 0);
	peer_go(p);
	peer_wait(p);
	ck_assert_int_eq(pollex_process(c), 0);
	ck_assert_int_eq(r.n, 0);
	peer_go(p);
	peer_wait(p);
	ck_assert_int_eq(pollex_process(c), 1);
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.err[0], 0);
	check_json_text(r.params[0], "{\"x\":1}");
	ck_assert_uint_eq(pollex_pending(c), 0);
	/* The second reply's start is buffered; its call comes now. */
	ck_assert_int_eq(
	    pollex_call_async(c, "a.C", NULL, 0, record_reply, &tag2), 0);
	peer_go(p);
	process_until(c, 1);
	ck_assert_int_eq(r.n, 2);
	ck_assert_int_eq(r.arg[1], 2);
	check_json_text(r.params[1], "{\"x\":2}");
	pollex_close(c);
	peer_join(p);
	replies_free(&r);
	peer_free(p);
}
END_TEST

START_TEST(test_pipelined)
{
	/* Three async calls and a blocking one; all replies in one write. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_READ,
	    S_READ,
	    S_READ,
	    S_W("{\"parameters\":{\"n\":1}}\0"
	        "{\"error\":\"io.pollex.TaskNotFound\","
	        "\"parameters\":{\"id\":\"zz\"}}\0"
	        "{\"parameters\":{\"n\":3}}\0"
	        "{\"parameters\":{\"task\":" TASK_C "}}\0"),
	    S_EOF,
	    S_END,
	};
	struct replies r = {0};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	pollex_task *t = NULL;
	int tags[3] = {10, 20, 30}, i;

	current_replies = &r;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(pollex_call_async(c, "x.Y", "{\"i\":1}", 0,
		                     record_reply, &tags[i]),
		    0);
	ck_assert_uint_eq(pollex_pending(c), 3);
	/* The blocking call runs the earlier callbacks first. */
	ck_assert_int_eq(pollex_get(c, "c", &t), 0);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_CANCELLED);
	pollex_task_free(t);
	ck_assert_uint_eq(pollex_pending(c), 0);
	ck_assert_int_eq(r.n, 3);
	ck_assert_int_eq(r.arg[0], 10);
	ck_assert_int_eq(r.arg[1], 20);
	ck_assert_int_eq(r.arg[2], 30);
	ck_assert_int_eq(r.err[0], 0);
	ck_assert_int_eq(r.err[1], POLLEX_E_NOTFOUND);
	ck_assert_ptr_null(r.params[1]);
	ck_assert_int_eq(r.err[2], 0);
	check_json_text(r.params[0], "{\"n\":1}");
	check_json_text(r.params[2], "{\"n\":3}");
	pollex_close(c);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 4);
	check_json(
	    p->calls[1], "{\"method\":\"x.Y\",\"parameters\":{\"i\":1}}");
	replies_free(&r);
	peer_free(p);
}
END_TEST

START_TEST(test_invalid_json)
{
	static const char *const bad[] = {
	    "{\"parameters\":{\"x\":1}\0", /* truncated */
	    "{\"parameters\":{x:1}}\0",    /* not JSON */
	    "[1,2]\0",                     /* not an object */
	    "{\"parameters\":{}} trailing\0",
	    "{\"parameters\":\"str\"}\0", /* wrong type */
	    "{\"error\":5}\0", "{\"parameters\":{},\"continues\":\"yes\"}\0",
	    "{\"parameters\":{},\"continues\":true}\0", /* without more */
	    "{\"parameters\":{\"s\":\"\xc3\x28\"}}\0",  /* bad UTF-8 */
	    "\0",                                       /* empty */
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct step script[] = {
		    S_ACCEPT,
		    S_READ,
		    S_READ,
		    {P_WRITE, bad[i], strlen(bad[i]) + 1, 0},
		    S_EOF,
		    S_END,
		};
		struct replies r = {0};
		struct peer *p = peer_start(script);
		pollex *c = peer_client(p);
		char *reply = (char *)"x";
		int tag = 1;

		current_replies = &r;
		ck_assert_int_eq(pollex_call_async(
		                     c, "x.Async", NULL, 0, record_reply, &tag),
		    0);
		ck_assert_msg(
		    pollex_call(c, "x.Sync", NULL, &reply) == POLLEX_E_PROTOCOL,
		    "case %zu: %s", i, pollex_error_message(c));
		ck_assert_ptr_null(reply);
		/* The async call queued before got the error too. */
		ck_assert_int_eq(r.n, 1);
		ck_assert_int_eq(r.err[0], POLLEX_E_PROTOCOL);
		ck_assert_ptr_null(pollex_error_name(c));
		ck_assert_msg(
		    strstr(pollex_error_message(c), "malformed") != NULL,
		    "message: %s", pollex_error_message(c));
		/* The connection is closed for good. */
		ck_assert_int_eq(pollex_fd(c), -1);
		ck_assert_int_eq(pollex_events(c), 0);
		ck_assert_int_eq(
		    pollex_call(c, "x.Sync", NULL, NULL), POLLEX_E_CLOSED);
		ck_assert_int_eq(pollex_process(c), POLLEX_E_CLOSED);
		ck_assert_int_eq(
		    pollex_call_async(c, "x.A", NULL, 0, NULL, NULL),
		    POLLEX_E_CLOSED);
		pollex_close(c);
		peer_join(p);
		replies_free(&r);
		peer_free(p);
	}
}
END_TEST

START_TEST(test_big_reply)
{
	/* A valid reply of 3 MB goes through; the buffer grows. */
	static const struct step head[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"s\":\""),
	    S_BIG(3 * 1024 * 1024),
	    S_W("\"}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(head);
	pollex *c = peer_client(p);
	char *reply = NULL;

	ck_assert_int_eq(pollex_call(c, "x.Big", NULL, &reply), 0);
	ck_assert_uint_eq(strlen(reply), 3 * 1024 * 1024 + 8);
	free(reply);
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_oversized)
{
	/* 8 MiB + 1 without a NUL: too big, whatever follows. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"s\":\""),
	    S_BIG(8 * 1024 * 1024 + 1),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	char *reply = NULL;

	ck_assert_int_eq(
	    pollex_call(c, "x.Big", NULL, &reply), POLLEX_E_TOOBIG);
	ck_assert_ptr_null(reply);
	ck_assert_int_eq(pollex_fd(c), -1);
	ck_assert_ptr_nonnull(strstr(pollex_error_message(c), "larger"));
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_closed_mid_reply)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"task\":{\"id\":"),
	    S_CLOSE,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	pollex_task *t = NULL;

	ck_assert_int_eq(pollex_get(c, "a", &t), POLLEX_E_CLOSED);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(pollex_error_message(c), "middle"));
	ck_assert_int_eq(pollex_get(c, "a", &t), POLLEX_E_CLOSED);
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_closed_no_sigpipe)
{
	/* The peer is gone before the call is written: EPIPE, no SIGPIPE
	 * (the default action would kill the test). */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_CLOSE,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	char *reply = NULL;
	int r;

	signal(SIGPIPE, SIG_DFL);
	peer_join(p);
	r = pollex_call(c, "x.Y", "{\"big\":\"....\"}", &reply);
	ck_assert_msg(r == POLLEX_E_CLOSED || r == POLLEX_E_IO, "got %d", r);
	ck_assert_int_eq(pollex_fd(c), -1);
	pollex_close(c);
	peer_free(p);
}
END_TEST

START_TEST(test_timeout)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	struct timespec t0, t1;
	pollex_task **done = NULL;
	size_t ndone = 7;
	const char *ids[] = {"a"};
	double ms;
	int r, tag = 1;
	struct replies rep = {0};

	current_replies = &rep;
	ck_assert_int_eq(
	    pollex_call_async(c, "x.A", NULL, 0, record_reply, &tag), 0);
	/* The wait's own timeout is added to the 100 ms limit. */
	pollex_set_timeout(c, 100);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pollex_wait(
	    c, ids, 1, POLLEX_ALL_COMPLETED, 0.3, &done, &ndone, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(r, POLLEX_E_TIMEOUT);
	ck_assert_ptr_null(done);
	ck_assert_uint_eq(ndone, 0);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms >= 395, "returned after %.0f ms", ms);
	ck_assert_int_eq(pollex_fd(c), -1);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.err[0], POLLEX_E_TIMEOUT);
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_unsolicited)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_W("{\"error\":\"io.pollex.TooManyConnections\","
	        "\"parameters\":{\"limit\":8}}\0"),
	    S_SYNC,
	    S_END,
	};
	static const struct step script2[] = {
	    S_ACCEPT,
	    S_W("{\"parameters\":{}}\0"),
	    S_SYNC,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);

	/* A daemon refusing us speaks first: the error is kept. */
	peer_wait(p);
	ck_assert_int_eq(pollex_process(c), POLLEX_E_SERVER);
	ck_assert_str_eq(pollex_error_name(c), "io.pollex.TooManyConnections");
	ck_assert_str_eq(pollex_error_message(c),
	    "io.pollex.TooManyConnections: too many connections (limit 8)");
	ck_assert_int_eq(pollex_fd(c), -1);
	pollex_close(c);
	peer_go(p);
	peer_join(p);
	peer_free(p);

	/* A reply nobody asked for is a protocol error. */
	p = peer_start(script2);
	c = peer_client(p);
	peer_wait(p);
	ck_assert_int_eq(pollex_process(c), POLLEX_E_PROTOCOL);
	pollex_close(c);
	peer_go(p);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_bad_reply_content)
{
	/* Well-framed replies with unusable content fail the call but keep
	 * the connection. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"ids\":[\"a\",\"b\"],"
	        "\"created\":[true,true]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"task\":{\"id\":\"a\"}}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"cancelled\":\"yes\"}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"cancelled\":false,\"state\":\"failed\","
	        "\"reason\":\"refused\"}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	pollex_spec *s = pollex_spec_new("http");
	pollex_task *t = NULL;
	char *id = NULL, *reason = NULL;
	int cancelled = 5;

	ck_assert_int_eq(pollex_submit(c, s, &id, NULL), POLLEX_E_PROTOCOL);
	ck_assert_ptr_null(id);
	ck_assert_int_eq(pollex_get(c, "a", &t), POLLEX_E_PROTOCOL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(
	    pollex_cancel(c, "a", &cancelled, &reason), POLLEX_E_PROTOCOL);
	ck_assert_int_eq(pollex_cancel(c, "a", &cancelled, &reason), 0);
	ck_assert_int_eq(cancelled, 0);
	ck_assert_str_eq(reason, "refused");
	free(reason);
	pollex_spec_free(s);
	pollex_close(c);
	peer_join(p);
	check_json(call_params(p, 3, "io.pollex.Cancel"), "{\"id\":\"a\"}");
	peer_free(p);
}
END_TEST

/* ---- Streams ------------------------------------------------------------ */

/* Tasks seen by a wait_each callback. */
struct seen {
	int n;
	char ids[8][8];
	int stop_at;
	struct peer *sync; /* sync with this peer after the first */
};

/* Record a finished task; stop when told. */
static int
on_task(const pollex_task *t, void *arg)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 8);
	snprintf(s->ids[s->n], sizeof s->ids[0], "%s", pollex_task_id(t));
	s->n++;
	if (s->sync != NULL && s->n == 1) {
		/* The peer sends the rest only after this: the task came
		 * while the stream was still open. */
		peer_wait(s->sync);
		peer_go(s->sync);
	}
	return s->n == s->stop_at;
}

START_TEST(test_wait_stream)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"),
	    S_SYNC,
	    S_SPLIT("{\"parameters\":{\"done\":[" TASK_B "]},"
	            "\"continues\":true}\0{\"parameters\":{\"done\":[],"
	            "\"not_done\":[\"c\"],\"timed_out\":true}}\0",
	        7),
	    /* pollex_wait, with the last task in the final reply */
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[" TASK_B "," TASK_C "],"
	        "\"not_done\":[],\"timed_out\":false}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	const char *ids[] = {"a", "b", "c"};
	struct seen s = {0};
	pollex_task **done = NULL;
	char **not_done = NULL;
	size_t ndone = 0;

	/* The peer holds the rest back until the callback saw the first
	 * task: the callback runs as each reply arrives. */
	s.stop_at = -1;
	s.sync = p;
	ck_assert_int_eq(pollex_wait_each(c, ids, 3, POLLEX_FIRST_EXCEPTION, 60,
	                     on_task, &s),
	    POLLEX_TIMED_OUT);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.ids[0], "a");
	ck_assert_str_eq(s.ids[1], "b");

	ck_assert_int_eq(pollex_wait(c, ids, 3, POLLEX_ALL_COMPLETED, -1, &done,
	                     &ndone, &not_done),
	    0);
	ck_assert_uint_eq(ndone, 3);
	ck_assert_str_eq(pollex_task_id(done[0]), "a");
	ck_assert_str_eq(pollex_task_id(done[1]), "b");
	ck_assert_str_eq(pollex_task_id(done[2]), "c");
	ck_assert_ptr_null(not_done[0]);
	pollex_tasks_free(done, ndone);
	pollex_strv_free(not_done);
	pollex_close(c);
	peer_join(p);
	check_json(p->calls[0],
	    "{\"method\":\"io.pollex.Wait\","
	    "\"parameters\":{\"ids\":[\"a\",\"b\",\"c\"],"
	    "\"return_when\":\"FIRST_EXCEPTION\",\"timeout\":60.0},"
	    "\"more\":true}");
	check_json(p->calls[1],
	    "{\"method\":\"io.pollex.Wait\","
	    "\"parameters\":{\"ids\":[\"a\",\"b\",\"c\"],"
	    "\"return_when\":\"ALL_COMPLETED\"},\"more\":true}");
	peer_free(p);
}
END_TEST

START_TEST(test_wait_not_done)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[],\"not_done\":[\"x\",\"y\"],"
	        "\"timed_out\":true}}\0"),
	    S_READ,
	    S_W("{\"error\":\"io.pollex.TaskNotFound\","
	        "\"parameters\":{\"id\":\"y\"}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	const char *ids[] = {"a", "x", "y"};
	pollex_task **done = NULL;
	char **not_done = NULL;
	size_t ndone = 0;

	ck_assert_int_eq(pollex_wait(c, ids, 3, POLLEX_FIRST_COMPLETED, 1.5,
	                     &done, &ndone, &not_done),
	    POLLEX_TIMED_OUT);
	ck_assert_uint_eq(ndone, 1);
	ck_assert_str_eq(pollex_task_id(done[0]), "a");
	ck_assert_str_eq(not_done[0], "x");
	ck_assert_str_eq(not_done[1], "y");
	ck_assert_ptr_null(not_done[2]);
	pollex_tasks_free(done, ndone);
	pollex_strv_free(not_done);
	ck_assert_int_eq(pollex_wait(c, ids, 3, POLLEX_ALL_COMPLETED, -1, &done,
	                     &ndone, &not_done),
	    POLLEX_E_NOTFOUND);
	ck_assert_ptr_null(done);
	ck_assert_ptr_null(not_done);
	ck_assert_str_eq(
	    pollex_error_message(c), "io.pollex.TaskNotFound: no such task: y");
	/* Bad arguments are refused before anything is sent. */
	ck_assert_int_eq(pollex_wait(c, ids, 3, (enum pollex_return_when)3, -1,
	                     &done, &ndone, NULL),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_wait(c, NULL, 2, POLLEX_ALL_COMPLETED, -1,
	                     &done, &ndone, NULL),
	    POLLEX_E_INVAL);
	pollex_close(c);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 2);
	check_json(call_params(p, 0, "io.pollex.Wait"),
	    "{\"ids\":[\"a\",\"x\",\"y\"],\"return_when\":\"FIRST_COMPLETED\","
	    "\"timeout\":1.5}");
	peer_free(p);
}
END_TEST

START_TEST(test_wait_stop)
{
	/* The callback stops after the first task: the stream is abandoned
	 * and the connection closed. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[" TASK_B "]},"
	        "\"continues\":true}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	const char *ids[] = {"a", "b", "c"};
	struct seen s = {.stop_at = 1};

	ck_assert_int_eq(
	    pollex_wait_each(c, ids, 3, POLLEX_ALL_COMPLETED, -1, on_task, &s),
	    0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(pollex_fd(c), -1);
	ck_assert_int_eq(pollex_get(c, "a", NULL), POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_call(c, "x.Y", NULL, NULL), POLLEX_E_CLOSED);
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

/* pollex_buffered() as a wait_each callback saw it, per task. */
struct held {
	pollex *c;
	struct peer *p;
	int n;
	int buffered[4];
};

/* Record pollex_buffered(); after the third task let the peer end. */
static int
on_task_held(const pollex_task *t, void *arg)
{
	struct held *h = arg;

	(void)t;
	ck_assert_int_lt(h->n, 4);
	h->buffered[h->n++] = pollex_buffered(h->c);
	if (h->n == 3) {
		peer_wait(h->p);
		peer_go(h->p);
	}
	return 0;
}

START_TEST(test_wait_buffered)
{
	/* Two replies in one write, the second with two tasks; the final
	 * reply only once the callback saw the third task. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[" TASK_B "," TASK_C "]},"
	        "\"continues\":true}\0"),
	    S_SYNC,
	    S_W("{\"parameters\":{\"done\":[],\"not_done\":[],"
	        "\"timed_out\":false}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	const char *ids[] = {"a", "b", "c"};
	struct held h = {.c = c, .p = p};

	ck_assert_int_eq(pollex_buffered(NULL), 0);
	ck_assert_int_eq(pollex_buffered(c), 0);
	ck_assert_int_eq(pollex_wait_each(c, ids, 3, POLLEX_ALL_COMPLETED, -1,
	                     on_task_held, &h),
	    0);
	ck_assert_int_eq(h.n, 3);
	/* a: the next reply is complete in the buffer; b: c comes in the
	 * same reply; c: the next reply is still to be sent. */
	ck_assert_int_eq(h.buffered[0], 1);
	ck_assert_int_eq(h.buffered[1], 1);
	ck_assert_int_eq(h.buffered[2], 0);
	ck_assert_int_eq(pollex_buffered(c), 0);
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_bad_wait_reply)
{
	/* Replies of Wait the library must refuse, whether the message is
	 * not JSON (framing) or its content is not a Wait reply. */
	static const struct {
		const char *reply;
		const char *message;
	} bad[] = {
	    {"{\"parameters\":{},\"continues\":true}", NULL},
	    {"{\"parameters\":{\"done\":null}}", NULL},
	    {"{\"parameters\":{\"done\":{}}}", NULL},
	    {"{\"parameters\":{\"done\":[1]}}", NULL},
	    {"{\"parameters\":{\"done\":[{\"poller\":\"p\","
	     "\"state\":\"pending\"}]}}",
	        NULL},
	    {"{\"parameters\":{\"done\":[{\"id\":\"a\",\"poller\":\"p\","
	     "\"state\":\"running\"}]}}",
	        NULL},
	    {"{\"parameters\":{\"done\":[{\"id\":\"a\",\"poller\":\"p\","
	     "\"state\":\"failed\",\"error\":{\"message\":\"x\"}}]}}",
	        NULL},
	    {"{\"parameters\":{\"done\":[{\"id\":\"a\",\"poller\":\"p\","
	     "\"state\":\"pending\",\"labels\":{\"k\":1}}]}}",
	        NULL},
	    {"{\"parameters\":{\"done\":[{\"id\":\"a\",\"poller\":\"p\","
	     "\"state\":\"pending\",\"polls\":1.5}]},\"continues\":true}",
	        NULL},
	    {"{\"parameters\":{\"done\":[],\"timed_out\":\"yes\"}}", NULL},
	    {"{\"parameters\":{\"done\":[],\"not_done\":[1]}}", NULL},
	    {"{\"parameters\":{\"done\":[],\"not_done\":\"a\"}}", NULL},
	    {"{\"parameters\":{\"done\":[]},\"continues\":1}",
	        "malformed reply: error, parameters or continues of the "
	        "wrong type"},
	    {"{\"parameters\":[],\"continues\":true}",
	        "malformed reply: error, parameters or continues of the "
	        "wrong type"},
	    {"{\"error\":null,\"parameters\":{\"done\":[]}}",
	        "malformed reply: error, parameters or continues of the "
	        "wrong type"},
	    {"{\"parameters\":{\"done\":[{\"id\":\"a\",}]}}",
	        "malformed reply: invalid JSON"},
	    {"{\"parameters\":{\"done\":[{\"id\":\"\xff\"}]}}",
	        "malformed reply: invalid UTF-8 in JSON string"},
	    {"{\"parameters\":{\"done\":[", "malformed reply: truncated JSON"},
	    {"{\"parameters\":{\"done\":[]}} x",
	        "malformed reply: trailing data after the JSON object"},
	    {"[{\"parameters\":{\"done\":[]}}]",
	        "malformed reply: message is not a JSON object"},
	};
	const char *ids[] = {"a"};
	pollex_task **done;
	size_t i, ndone;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct step script[] = {
		    S_ACCEPT,
		    S_READ,
		    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
		        "\"continues\":true}\0"),
		    {P_WRITE, bad[i].reply, strlen(bad[i].reply) + 1, 0},
		    S_EOF,
		    S_END,
		};
		struct peer *p = peer_start(script);
		pollex *c = peer_client(p);
		struct seen s = {.stop_at = -1};

		ck_assert_msg(pollex_wait_each(c, ids, 1, POLLEX_ALL_COMPLETED,
		                  -1, on_task, &s) == POLLEX_E_PROTOCOL,
		    "case %zu taken: %s", i, bad[i].reply);
		ck_assert_int_eq(s.n, 1);
		ck_assert_str_eq(pollex_error_message(c),
		    bad[i].message != NULL ? bad[i].message
		                           : "malformed reply from the daemon");
		ck_assert_ptr_null(pollex_error_name(c));
		pollex_close(c);
		peer_join(p);
		peer_free(p);

		/* The same, collected by pollex_wait(): nothing comes back. */
		p = peer_start(script);
		c = peer_client(p);
		done = (pollex_task **)&done;
		ndone = 7;
		ck_assert_int_eq(pollex_wait(c, ids, 1, POLLEX_ALL_COMPLETED,
		                     -1, &done, &ndone, NULL),
		    POLLEX_E_PROTOCOL);
		ck_assert_ptr_null(done);
		ck_assert_uint_eq(ndone, 0);
		pollex_close(c);
		peer_join(p);
		peer_free(p);
	}
}
END_TEST

#define REENTER_TASKS 3000

/*
 * Reentrancy: the first task's callback runs a blocking call, which reads
 * the rest of the stream (handing its tasks to this callback, nested) and
 * then its own reply; the input buffer grows and moves meanwhile.  Then
 * the second task of the first reply comes.
 */
struct reenter {
	pollex *c;
	int n, depth, max_depth, last;
	char seen[REENTER_TASKS];
	char *reply;
};

static int
on_task_reenter(const pollex_task *t, void *arg)
{
	struct reenter *r = arg;
	int i;

	ck_assert_int_eq(sscanf(pollex_task_id(t), "t%d", &i), 1);
	ck_assert(i >= 0 && i < REENTER_TASKS && !r->seen[i]);
	r->seen[i] = 1;
	r->last = i;
	r->n++;
	if (r->n == 1) {
		r->depth++;
		if (r->depth > r->max_depth)
			r->max_depth = r->depth;
		ck_assert_int_eq(pollex_call(r->c, "x.Y", NULL, &r->reply), 0);
		r->depth--;
	}
	return 0;
}

START_TEST(test_wait_reentrant)
{
	struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    {P_WRITE, NULL, 0, 0},
	    S_READ,
	    S_W("{ \"parameters\" : { \"v\" : [ 1 , \"a b\" ] } }\0"),
	    S_EOF,
	    S_END,
	};
	struct reenter r = {0};
	const char *ids[] = {"t0"};
	struct peer *p;
	char *blob, *o;
	int i;

	/* Tasks t0 and t1 in the first reply, every other task in a reply
	 * of its own, 170 bytes each: 510 kB. */
	blob = malloc(REENTER_TASKS * 256 + 128);
	ck_assert_ptr_nonnull(blob);
	o = blob;
	for (i = 0; i < REENTER_TASKS; i++)
		o += sprintf(o,
		         "%s{\"id\":\"t%d\",\"poller\":\"p\","
		         "\"state\":\"succeeded\","
		         "\"result\":{\"pad\":\"%060d\"}}%s",
		         i == 1 ? "," : "{\"parameters\":{\"done\":[", i, i,
		         i == 0 ? "" : "]},\"continues\":true}") +
		    (i == 0 ? 0 : 1);
	o += sprintf(o, "{\"parameters\":{\"done\":[],\"not_done\":[]}}") + 1;
	script[2].data = blob;
	script[2].len = (size_t)(o - blob);
	p = peer_start(script);
	r.c = peer_client(p);
	ck_assert_int_eq(pollex_wait_each(r.c, ids, 1, POLLEX_ALL_COMPLETED, -1,
	                     on_task_reenter, &r),
	    0);
	ck_assert_int_eq(r.n, REENTER_TASKS);
	ck_assert_int_eq(r.last, 1);
	ck_assert_int_eq(r.max_depth, 1);
	ck_assert_str_eq(r.reply, "{\"v\":[1,\"a b\"]}");
	free(r.reply);
	pollex_close(r.c);
	peer_join(p);
	peer_free(p);
	free(blob);
}
END_TEST

/* Events seen by a watch callback. */
struct events {
	int n;
	char line[8][64];
	int stop_at;
};

/* Record "event id state"; stop when told. */
static int
on_event(const char *event, const char *id, const pollex_task *t, void *arg)
{
	struct events *e = arg;

	ck_assert_int_lt(e->n, 8);
	snprintf(e->line[e->n], sizeof e->line[0], "%s %s %s", event,
	    id != NULL ? id : "-",
	    t != NULL ? pollex_state_name(pollex_task_state(t)) : "-");
	e->n++;
	return e->n == e->stop_at;
}

START_TEST(test_watch)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"current\",\"id\":\"a\","
	        "\"task\":" TASK_A "},\"continues\":true}\0"
	        "{\"parameters\":{\"event\":\"ready\"},\"continues\":true}\0"),
	    S_SPLIT("{\"parameters\":{\"event\":\"updated\",\"id\":\"b\","
	            "\"task\":" TASK_B "},\"continues\":true}\0"
	            "{\"parameters\":{\"event\":\"purged\",\"id\":\"a\"},"
	            "\"continues\":true}\0",
	        5),
	    S_EOF,
	    /* second connection: the daemon ends the stream */
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"ready\"},\"continues\":true}\0"
	        "{\"error\":\"io.pollex.ShuttingDown\",\"parameters\":{}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	struct events e = {.stop_at = 4};

	ck_assert_int_eq(pollex_watch(c, NULL, 1, on_event, &e), 0);
	ck_assert_int_eq(e.n, 4);
	ck_assert_str_eq(e.line[0], "current a succeeded");
	ck_assert_str_eq(e.line[1], "ready - -");
	ck_assert_str_eq(e.line[2], "updated b failed");
	ck_assert_str_eq(e.line[3], "purged a -");
	ck_assert_int_eq(pollex_fd(c), -1);
	pollex_close(c);

	c = peer_client(p);
	e.n = 0;
	e.stop_at = -1;
	ck_assert_int_eq(
	    pollex_watch(c, NULL, 0, on_event, &e), POLLEX_E_SHUTDOWN);
	ck_assert_int_eq(e.n, 1);
	ck_assert_str_eq(pollex_error_name(c), "io.pollex.ShuttingDown");
	pollex_close(c);
	peer_join(p);
	check_json(p->calls[0],
	    "{\"method\":\"io.pollex.Watch\","
	    "\"parameters\":{\"initial\":true},\"more\":true}");
	check_json(p->calls[1],
	    "{\"method\":\"io.pollex.Watch\","
	    "\"parameters\":{},\"more\":true}");
	peer_free(p);
}
END_TEST

START_TEST(test_bad_list_watch_reply)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"tasks\":[" TASK_A ",{\"id\":1}]}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"tasks\":[" TASK_A "],\"next\":5}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"tasks\":{}}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"ready\"},\"continues\":true}\0"
	        "{\"parameters\":{\"event\":5},\"continues\":true}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"updated\",\"id\":[],"
	        "\"task\":" TASK_A "},\"continues\":true}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"event\":\"updated\","
	        "\"task\":{\"id\":\"a\"}},\"continues\":true}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	struct events e = {.stop_at = -1};
	pollex_task **tasks;
	size_t n;
	char *next;
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(pollex_list(c, NULL, &tasks, &n, &next),
		    POLLEX_E_PROTOCOL);
		ck_assert_ptr_null(tasks);
		ck_assert_ptr_null(next);
	}
	pollex_close(c);
	for (i = 0; i < 3; i++) {
		c = peer_client(p);
		ck_assert_int_eq(pollex_watch(c, NULL, 0, on_event, &e),
		    POLLEX_E_PROTOCOL);
		ck_assert_str_eq(
		    pollex_error_message(c), "malformed reply from the daemon");
		pollex_close(c);
	}
	ck_assert_int_eq(e.n, 1);
	ck_assert_str_eq(e.line[0], "ready - -");
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_async_stream)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_READ,
	    S_W("{\"parameters\":{\"i\":1},\"continues\":true}\0"
	        "{\"parameters\":{\"i\":2},\"continues\":true}\0"
	        "{\"parameters\":{\"i\":3}}\0"),
	    S_EOF,
	    S_END,
	};
	struct replies r = {0};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	int tag = 7;

	current_replies = &r;
	ck_assert_int_eq(
	    pollex_call_async(c, "x.Stream", NULL,
	        POLLEX_CALL_MORE | POLLEX_CALL_ONEWAY, record_reply, &tag),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_call_async(c, "x.Stream", NULL, 0x10, record_reply, &tag),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(
	    pollex_call_async(c, "x.Stream", "[]", 0, record_reply, &tag),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_call_async(c, "", NULL, 0, record_reply, &tag),
	    POLLEX_E_INVAL);
	ck_assert_int_eq(pollex_call_async(c, "x.Oneway", "{\"a\":1}",
	                     POLLEX_CALL_ONEWAY, NULL, NULL),
	    0);
	ck_assert_uint_eq(pollex_pending(c), 0);
	ck_assert_int_eq(pollex_call_async(c, "x.Stream", NULL,
	                     POLLEX_CALL_MORE, record_reply, &tag),
	    0);
	ck_assert_uint_eq(pollex_pending(c), 1);
	process_until(c, 3);
	ck_assert_int_eq(r.n, 3);
	ck_assert_int_eq(r.cont[0], 1);
	ck_assert_int_eq(r.cont[1], 1);
	ck_assert_int_eq(r.cont[2], 0);
	check_json_text(r.params[2], "{\"i\":3}");
	ck_assert_uint_eq(pollex_pending(c), 0);
	pollex_close(c);
	peer_join(p);
	check_json(p->calls[0],
	    "{\"method\":\"x.Oneway\","
	    "\"parameters\":{\"a\":1},\"oneway\":true}");
	check_json(p->calls[1],
	    "{\"method\":\"x.Stream\","
	    "\"parameters\":{},\"more\":true}");
	replies_free(&r);
	peer_free(p);
}
END_TEST

START_TEST(test_async_text)
{
	/* Calls are written from the caller's text: compact, escapes and
	 * UTF-8 as given, the method name escaped; what json-c's strict
	 * parser takes is taken, the rest refused as before. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_READ,
	    S_READ,
	    S_EOF,
	    S_END,
	};
	static const char *const bad[] = {
	    "[]", "{} x", "{\"a\":}", "{\"a\":\"\xff\"}", "", " ", "{\"a\":1,}",
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	json_object *v;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(pollex_call_async(c, "x.Y", bad[i],
		                  POLLEX_CALL_ONEWAY, NULL, NULL) ==
		        POLLEX_E_INVAL,
		    "took %s", bad[i]);
	ck_assert_int_eq(pollex_call_async(c, "x.Y",
	                     " {\n \"a\" : [ 1 , \"b c\\\"\" ] ,\t\"\\u00e9\":"
	                     "\"\xc3\xa9\" }\r\n",
	                     POLLEX_CALL_ONEWAY, NULL, NULL),
	    0);
	ck_assert_int_eq(pollex_call_async(c, "x.\"Q\\\n\xc3\xa9", NULL,
	                     POLLEX_CALL_ONEWAY, NULL, NULL),
	    0);
	/* json-c's strict mode takes a raw tab in a string and "1." */
	ck_assert_int_eq(pollex_call_async(c, "x.Y",
	                     "{\"t\":\"a\tb\",\"n\":1.}", POLLEX_CALL_ONEWAY,
	                     NULL, NULL),
	    0);
	ck_assert_int_eq(pollex_process(c), 0);
	pollex_close(c);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 3);
	ck_assert_str_eq(p->raw[0],
	    "{\"method\":\"x.Y\",\"parameters\":{\"a\":[1,\"b c\\\"\"],"
	    "\"\\u00e9\":\"\xc3\xa9\"},\"oneway\":true}");
	ck_assert(json_object_object_get_ex(p->calls[1], "method", &v));
	ck_assert_str_eq(json_object_get_string(v), "x.\"Q\\\n\xc3\xa9");
	ck_assert_str_eq(p->raw[2],
	    "{\"method\":\"x.Y\",\"parameters\":{\"t\":\"a\tb\",\"n\":1.},"
	    "\"oneway\":true}");
	peer_free(p);
}
END_TEST

/* Close the connection from inside a reply callback. */
static void
close_in_callback(
    pollex *c, int err, const char *params, int continues, void *arg)
{
	(void)err;
	(void)params;
	(void)continues;
	(*(int *)arg)++;
	pollex_close(c);
}

START_TEST(test_close_in_callback)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_READ,
	    S_W("{\"parameters\":{}}\0{\"parameters\":{}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	int calls = 0;

	ck_assert_int_eq(
	    pollex_call_async(c, "x.A", NULL, 0, close_in_callback, &calls), 0);
	ck_assert_int_eq(
	    pollex_call_async(c, "x.B", NULL, 0, close_in_callback, &calls), 0);
	for (;;) {
		struct pollfd pfd = {
		    .fd = pollex_fd(c), .events = (short)pollex_events(c)};

		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		if (pollex_process(c) != 0)
			break; /* c is freed now */
	}
	/* The second call was dropped with the connection. */
	ck_assert_int_eq(calls, 1);
	peer_join(p);
	peer_free(p);
}
END_TEST

/* ---- Varlink errors ----------------------------------------------------- */

static const struct {
	const char *name;
	const char *params; /* NULL: no "parameters" member */
	int code;
	const char *message;
} error_cases[] = {
    {"io.pollex.TaskNotFound", "{\"id\":\"0193ab\"}", POLLEX_E_NOTFOUND,
        "io.pollex.TaskNotFound: no such task: 0193ab"},
    {"io.pollex.PollerNotFound", "{\"poller\":\"http\"}", POLLEX_E_NOPOLLER,
        "io.pollex.PollerNotFound: no such poller: http"},
    {"io.pollex.QuotaExceeded", "{\"quota\":\"tasks\",\"limit\":100}",
        POLLEX_E_QUOTA,
        "io.pollex.QuotaExceeded: quota exceeded: tasks (limit 100)"},
    {"io.pollex.IdempotencyConflict",
        "{\"idempotency_key\":\"k1\",\"id\":\"t1\"}", POLLEX_E_CONFLICT,
        "io.pollex.IdempotencyConflict: idempotency key \"k1\" already "
        "names task t1"},
    {"io.pollex.ShuttingDown", "{}", POLLEX_E_SHUTDOWN,
        "io.pollex.ShuttingDown: the daemon is shutting down"},
    {"io.pollex.InvalidMessage", "{\"reason\":\"not JSON\"}", POLLEX_E_SERVER,
        "io.pollex.InvalidMessage: invalid message: "
        "not JSON"},
    {"io.pollex.MessageTooLarge", "{\"limit\":1024}", POLLEX_E_TOOBIG,
        "io.pollex.MessageTooLarge: message larger than 1024 bytes"},
    {"io.pollex.TooManyConnections", "{\"limit\":8}", POLLEX_E_SERVER,
        "io.pollex.TooManyConnections: too many connections (limit 8)"},
    {"io.pollex.StoreFailed", "{\"reason\":\"disk full\"}", POLLEX_E_STORE,
        "io.pollex.StoreFailed: store failed: disk full"},
    {"org.varlink.service.InvalidParameter",
        "{\"parameter\":\"tasks[0].poller\",\"reason\":\"unknown poller\"}",
        POLLEX_E_PARAM,
        "org.varlink.service.InvalidParameter: "
        "tasks[0].poller: unknown poller"},
    {"org.varlink.service.InvalidParameter", "{\"parameter\":\"id\"}",
        POLLEX_E_PARAM,
        "org.varlink.service.InvalidParameter: "
        "invalid parameter: id"},
    {"org.varlink.service.MethodNotFound", "{\"method\":\"io.pollex.Nope\"}",
        POLLEX_E_METHOD,
        "org.varlink.service.MethodNotFound: no such method: "
        "io.pollex.Nope"},
    {"org.varlink.service.ExpectedMore", "{}", POLLEX_E_SERVER,
        "org.varlink.service.ExpectedMore: the method needs a streaming "
        "call"},
    {"com.example.Oops", "{\"x\":[1]}", POLLEX_E_SERVER,
        "com.example.Oops: {\"x\":[1]}"},
    {"com.example.Bare", NULL, POLLEX_E_SERVER, "com.example.Bare"},
    {"io.pollex.TaskNotFound", "{}", POLLEX_E_NOTFOUND,
        "io.pollex.TaskNotFound: no such task: ?"},
};
#define NERRORS (sizeof error_cases / sizeof error_cases[0])

START_TEST(test_error_mapping)
{
	struct step script[2 * NERRORS + 3];
	char *replies[NERRORS];
	struct peer *p;
	pollex *c;
	char *reply;
	size_t i, k = 0;
	int r;

	script[k++] = (struct step)S_ACCEPT;
	for (i = 0; i < NERRORS; i++) {
		if (error_cases[i].params != NULL)
			r = asprintf(&replies[i],
			    "{\"error\":\"%s\","
			    "\"parameters\":%s}",
			    error_cases[i].name, error_cases[i].params);
		else
			r = asprintf(&replies[i], "{\"error\":\"%s\"}",
			    error_cases[i].name);
		ck_assert_int_gt(r, 0);
		script[k++] = (struct step)S_READ;
		script[k++] =
		    (struct step){P_WRITE, replies[i], (size_t)r + 1, 0};
	}
	script[k++] = (struct step)S_EOF;
	script[k++] = (struct step)S_END;
	p = peer_start(script);
	c = peer_client(p);
	for (i = 0; i < NERRORS; i++) {
		reply = (char *)"x";
		r = pollex_call(
		    c, "io.pollex.Get", "{\"id\":\"0193ab\"}", &reply);
		ck_assert_msg(r == error_cases[i].code, "%s: got %d",
		    error_cases[i].name, r);
		ck_assert_ptr_null(reply);
		ck_assert_str_eq(pollex_error_name(c), error_cases[i].name);
		ck_assert_str_eq(
		    pollex_error_message(c), error_cases[i].message);
		check_json_text(pollex_error_parameters(c),
		    error_cases[i].params != NULL ? error_cases[i].params
		                                  : "{}");
		/* An error reply leaves the connection usable. */
		ck_assert_int_ge(pollex_fd(c), 0);
	}
	pollex_close(c);
	peer_join(p);
	for (i = 0; i < NERRORS; i++)
		free(replies[i]);
	peer_free(p);
}
END_TEST

START_TEST(test_error_reset)
{
	/* A successful call forgets the previous error. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"error\":\"io.pollex.TaskNotFound\","
	        "\"parameters\":{\"id\":\"a\"}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"pollers\":[]}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	pollex *c = peer_client(p);
	int cancelled;
	char *json = NULL;

	ck_assert_int_eq(
	    pollex_cancel(c, "a", &cancelled, NULL), POLLEX_E_NOTFOUND);
	ck_assert_str_eq(pollex_error_name(c), "io.pollex.TaskNotFound");
	ck_assert_int_eq(pollex_pollers(c, &json), 0);
	check_json_text(json, "{\"pollers\":[]}");
	free(json);
	ck_assert_ptr_null(pollex_error_name(c));
	ck_assert_str_eq(pollex_error_message(c), "");
	ck_assert_ptr_null(pollex_error_parameters(c));
	pollex_close(c);
	peer_join(p);
	peer_free(p);
}
END_TEST

/* ---- Exported symbols --------------------------------------------------- */

START_TEST(test_symbols)
{
	FILE *fp;
	char line[512], type, name[256];
	int n = 0;

	fp = popen("nm -D --defined-only " LIBPOLLEX_SO, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof line, fp) != NULL) {
		ck_assert_int_eq(sscanf(line, "%*s %c %255s", &type, name), 2);
		if (type == 'A') /* the version node */
			continue;
		ck_assert_msg(
		    strncmp(name, "pollex_", 7) == 0, "exported: %s", name);
		n++;
	}
	ck_assert_int_eq(pclose(fp), 0);
	ck_assert_int_gt(n, 60);
}
END_TEST

/* ---- pollexctl ---------------------------------------------------------- */

/* Output of a pollexctl run. */
struct run {
	int status; /* exit code, or -signal */
	char *out, *err;
};

/* Append what fd has to *buf; 0 at EOF. */
static int
drain(int fd, char **buf, size_t *len)
{
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof tmp);

	if (n <= 0)
		return 0;
	*buf = realloc(*buf, *len + (size_t)n + 1);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return 1;
}

/* Run pollexctl with args (NULL-terminated) and stdin text. */
static struct run
run_ctl(const char *in, const char *const *args)
{
	struct run r = {0};
	int pin[2], pout[2], perr[2], st;
	const char *argv[32];
	size_t i, olen = 0, elen = 0, inlen = in != NULL ? strlen(in) : 0;
	size_t inoff = 0;
	struct pollfd pfd[3];
	pid_t pid;
	ssize_t n;

	argv[0] = "pollexctl";
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		execv(POLLEXCTL_PATH, (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	r.out = strdup("");
	r.err = strdup("");
	while (pout[0] != -1 || perr[0] != -1) {
		pfd[0] = (struct pollfd){.fd = pout[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = perr[0], .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = pin[1], .events = POLLOUT};
		ck_assert_int_gt(poll(pfd, 3, 20000), 0);
		if (pfd[0].revents && !drain(pout[0], &r.out, &olen)) {
			close(pout[0]);
			pout[0] = -1;
		}
		if (pfd[1].revents && !drain(perr[0], &r.err, &elen)) {
			close(perr[0]);
			perr[0] = -1;
		}
		if (pfd[2].revents) {
			n = write(pin[1], in + inoff, inlen - inoff);
			if (n > 0)
				inoff += (size_t)n;
			if (n <= 0 || inoff == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pin[1] != -1)
		close(pin[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	return r;
}

/* Free a run's output. */
static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#define CTL(in, ...) run_ctl((in), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_ctl_usage)
{
	static const char *const cmds[] = {"submit", "cancel", "get", "wait",
	    "list", "watch", "pollers", "stats", "call"};
	struct run r;
	size_t i;

	r = CTL(NULL, "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
	ck_assert_ptr_nonnull(strstr(r.out, "wait timed out"));
	run_free(&r);
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		r = CTL(NULL, cmds[i], "--help");
		ck_assert_msg(
		    r.status == 0, "%s --help: %d", cmds[i], r.status);
		ck_assert_ptr_nonnull(strstr(r.out, cmds[i]));
		ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
		run_free(&r);
	}
	r = CTL(NULL, "frobnicate");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "pollexctl: "));
	run_free(&r);
	r = CTL(NULL, "--bogus", "stats");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "get", "--bogus", "a");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "submit", "http", "[1]");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "REF_JSON"));
	run_free(&r);
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "submit", "http",
	    "{\"a\":1}", "--args", "{oops");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "wait", "--timeout", "soon",
	    "a");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "call", "x.Y", "[]");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	r = CTL(NULL, "--io-timeout", "forever", "stats");
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
	/* A bad line: reported with its number, nothing submitted (the
	 * socket does not exist: connecting would exit 4). */
	r = CTL("{\"poller\":\"http\",\"ref\":{}}\n\n# note\n"
	        "{\"poller\":\"http\",\"ref\":[]}\n",
	    "-S", "/nonexistent/x.sock", "submit", "--file", "-");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "<stdin>:4:"));
	ck_assert_str_eq(r.out, "");
	run_free(&r);
	/* Unreachable daemon. */
	r = CTL(NULL, "-S", "/nonexistent/x.sock", "stats");
	ck_assert_int_eq(r.status, 4);
	ck_assert_str_eq(r.err,
	    "pollexctl: cannot connect to "
	    "/nonexistent/x.sock: No such file or directory\n");
	run_free(&r);
}
END_TEST

START_TEST(test_ctl_get)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"task\":" TASK_B "}}\0"),
	    S_READ,
	    S_W("{\"error\":\"io.pollex.TaskNotFound\","
	        "\"parameters\":{\"id\":\"zz\"}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"task\":" TASK_A "}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;

	r = CTL(NULL, "-S", p->path, "get", "b", "zz");
	ck_assert_int_eq(r.status, 5);
	ck_assert_ptr_nonnull(strstr(r.out, "state:           failed\n"));
	ck_assert_ptr_nonnull(strstr(r.out,
	    "error:           poll_failed: "
	    "boom\n"));
	ck_assert_str_eq(r.err,
	    "pollexctl: io.pollex.TaskNotFound: no such "
	    "task: zz\n");
	run_free(&r);
	r = CTL(NULL, "-S", p->path, "--json", "get", "a");
	ck_assert_int_eq(r.status, 0);
	check_json_text(r.out, TASK_A);
	run_free(&r);
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_ctl_wait)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[" TASK_B "]},"
	        "\"continues\":true}\0"
	        "{\"parameters\":{\"done\":[" TASK_C "],\"not_done\":[],"
	        "\"timed_out\":false}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "],"
	        "\"not_done\":[\"x\"],\"timed_out\":true}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[" TASK_A "],"
	        "\"not_done\":[],\"timed_out\":false}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;

	r = CTL(
	    NULL, "-S", p->path, "wait", "--first-exception", "a", "b", "c");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out,
	    "a succeeded {\"v\":1}\n"
	    "b failed poll_failed: boom\nc cancelled\n");
	run_free(&r);
	r = CTL(NULL, "-S", p->path, "wait", "--timeout", "250ms", "a", "x");
	ck_assert_int_eq(r.status, 3);
	ck_assert_str_eq(r.out, "a succeeded {\"v\":1}\n");
	ck_assert_str_eq(r.err,
	    "pollexctl: wait timed out: 1 of 2 tasks not "
	    "done\n");
	run_free(&r);
	r = CTL("a\n", "-S", p->path, "wait", "-");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "a succeeded {\"v\":1}\n");
	run_free(&r);
	peer_join(p);
	check_json(call_params(p, 0, "io.pollex.Wait"),
	    "{\"ids\":[\"a\",\"b\",\"c\"],\"return_when\":\"FIRST_"
	    "EXCEPTION\"}");
	check_json(call_params(p, 1, "io.pollex.Wait"),
	    "{\"ids\":[\"a\",\"x\"],\"return_when\":\"ALL_COMPLETED\","
	    "\"timeout\":0.25}");
	check_json(call_params(p, 2, "io.pollex.Wait"),
	    "{\"ids\":[\"a\"],\"return_when\":\"ALL_COMPLETED\"}");
	peer_free(p);
}
END_TEST

/* Start pollexctl with args; *out reads its stdout and stderr. */
static pid_t
spawn_ctl(const char *const *args, int *out)
{
	const char *argv[32];
	int pout[2], null;
	size_t i;
	pid_t pid;

	argv[0] = "pollexctl";
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(pout[1], 1);
		dup2(pout[1], 2);
		execv(POLLEXCTL_PATH, (char *const *)argv);
		_exit(127);
	}
	close(pout[1]);
	*out = pout[0];
	return pid;
}

/* Read fd into *buf until it holds want (bounded: 10 s without data). */
static void
read_until(int fd, char **buf, size_t *len, const char *want)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	while (*buf == NULL || strstr(*buf, want) == NULL) {
		ck_assert_msg(poll(&pfd, 1, 10000) == 1,
		    "no \"%s\" in time; got \"%s\"", want,
		    *buf != NULL ? *buf : "");
		ck_assert_msg(drain(fd, buf, len), "EOF before \"%s\": \"%s\"",
		    want, *buf != NULL ? *buf : "");
	}
}

#define WAIT_PROMPT_SCRIPT                                                     \
	S_ACCEPT, S_READ,                                                      \
	    S_W("{\"parameters\":{\"done\":[" TASK_A "]},"                    \
	        "\"continues\":true}\0"),                                      \
	    S_SYNC,                                                            \
	    S_W("{\"parameters\":{\"done\":[" TASK_B "," TASK_C "]},"         \
	        "\"continues\":true}\0"),                                      \
	    S_SYNC,                                                            \
	    S_W("{\"parameters\":{\"done\":[],\"not_done\":[],"               \
	        "\"timed_out\":false}}\0"),                                    \
	    S_EOF

START_TEST(test_ctl_wait_prompt)
{
	/* Each line shows while pollexctl waits for the next reply: the
	 * peer sends more only after the test saw the lines so far.  Plain
	 * lines, then --json. */
	static const struct step script[] = {
	    WAIT_PROMPT_SCRIPT,
	    WAIT_PROMPT_SCRIPT,
	    S_END,
	};
	static const char *const first[] = {
	    "a succeeded {\"v\":1}\n", TASK_A "\n"};
	static const char *const all[] = {
	    "a succeeded {\"v\":1}\nb failed poll_failed: boom\n"
	    "c cancelled\n",
	    TASK_A "\n" TASK_B "\n" TASK_C "\n"};
	struct peer *p = peer_start(script);
	char *buf;
	size_t len;
	int fd, st, i;
	pid_t pid;

	for (i = 0; i < 2; i++) {
		if (i == 0)
			pid = spawn_ctl((const char *const[]){"-S", p->path,
			                    "wait", "a", "b", "c", NULL},
			    &fd);
		else
			pid = spawn_ctl((const char *const[]){"-S", p->path,
			                    "--json", "wait", "a", "b", "c",
			                    NULL},
			    &fd);
		buf = NULL;
		len = 0;
		peer_wait(p);
		read_until(fd, &buf, &len, first[i]);
		peer_go(p);
		peer_wait(p);
		read_until(fd, &buf, &len, all[i]);
		peer_go(p);
		while (drain(fd, &buf, &len))
			;
		close(fd);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 1); /* b failed */
		ck_assert_str_eq(buf, all[i]);
		free(buf);
	}
	peer_join(p);
	peer_free(p);
}
END_TEST

START_TEST(test_ctl_submit)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_SUBMIT,
	    S_EOF,
	    S_ACCEPT,
	    S_SUBMIT,
	    S_READ,
	    S_W("{\"parameters\":{\"done\":[{\"id\":\"id-2\",\"poller\":"
	        "\"http\",\"state\":\"expired\"}],\"not_done\":[],"
	        "\"timed_out\":false}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;

	r = CTL(NULL, "-S", p->path, "submit", "http", "{\"job\":1}", "--label",
	    "env=prod", "--timeout", "5m", "--key", "k1");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "id-1\n");
	run_free(&r);
	r = CTL(NULL, "-S", p->path, "--json", "submit", "http", "--deadline",
	    "1700000000", "--wait", "--wait-timeout", "1m");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out,
	    "{\"id\":\"id-2\",\"created\":true}\n"
	    "{\"id\":\"id-2\",\"poller\":\"http\",\"state\":\"expired\"}\n");
	run_free(&r);
	peer_join(p);
	check_json(call_params(p, 0, "io.pollex.Submit"),
	    "{\"tasks\":[{\"poller\":\"http\",\"ref\":{\"job\":1},"
	    "\"labels\":{\"env\":\"prod\"},\"timeout\":300.0,"
	    "\"idempotency_key\":\"k1\"}]}");
	check_json(call_params(p, 1, "io.pollex.Submit"),
	    "{\"tasks\":[{\"poller\":\"http\",\"deadline\":1700000000.0}]}");
	check_json(call_params(p, 2, "io.pollex.Wait"),
	    "{\"ids\":[\"id-2\"],\"return_when\":\"ALL_COMPLETED\","
	    "\"timeout\":60.0}");
	peer_free(p);
}
END_TEST

START_TEST(test_ctl_submit_file)
{
	/* 2500 specs: Pollers, then Submit calls of 1000, 1000 and 500,
	 * printed in input order. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"pollers\":[{\"name\":\"http\","
	        "\"has_start\":false,\"removed\":false}]}}\0"),
	    S_SUBMIT,
	    S_SUBMIT,
	    S_SUBMIT,
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;
	char *in, *o, want[32];
	size_t i, len = 0;
	json_object *t;

	in = malloc(2500 * 48);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < 2500; i++)
		len += (size_t)sprintf(in + len,
		    i == 5 ? "%s { \"poller\" : \"http\" ,\t\"ref\":"
		             "{ \"n\":%zu } } \r\n"
		           : "%s{\"poller\":\"http\",\"ref\":{\"n\":%zu}}\n",
		    i == 7 ? "# skip me\n" : "", i);
	r = CTL(in, "-S", p->path, "submit", "--file", "-");
	free(in);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	o = r.out;
	for (i = 1; i <= 2500; i++) {
		snprintf(want, sizeof want, "id-%zu\n", i);
		ck_assert_msg(
		    strncmp(o, want, strlen(want)) == 0, "line %zu", i);
		o += strlen(want);
	}
	ck_assert_str_eq(o, "");
	run_free(&r);
	peer_join(p);
	ck_assert_int_eq(p->ncalls, 4);
	call_params(p, 0, "io.pollex.Pollers");
	for (i = 1; i <= 3; i++) {
		ck_assert(json_object_object_get_ex(
		    call_params(p, (int)i, "io.pollex.Submit"), "tasks", &t));
		ck_assert_uint_eq(
		    json_object_array_length(t), i < 3 ? 1000 : 500);
	}
	check_json(json_object_array_get_idx(t, 499),
	    "{\"poller\":\"http\",\"ref\":{\"n\":2499}}");
	/* The lines go as they are, white space left out. */
	ck_assert_ptr_nonnull(strstr(p->raw[1],
	    "{\"poller\":\"http\",\"ref\":{\"n\":4}},"
	    "{\"poller\":\"http\",\"ref\":{\"n\":5}},"));
	peer_free(p);
}
END_TEST

START_TEST(test_ctl_cancel_call)
{
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"cancelled\":true,"
	        "\"state\":\"cancelled\"}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"cancelled\":false,\"state\":\"pending\","
	        "\"reason\":\"remote refused\"}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"cancelled\":false,"
	        "\"state\":\"succeeded\"}}\0"),
	    S_READ,
	    S_W("{\"parameters\":{\"task\":" TASK_A "}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"vendor\":\"x\",\"a/b\":[1]}}\0"),
	    S_EOF,
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"error\":\"org.varlink.service.MethodNotFound\","
	        "\"parameters\":{\"method\":\"io.pollex.Nope\"}}\0"),
	    S_EOF,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;

	r = CTL(NULL, "-S", p->path, "cancel", "a", "b", "c");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out,
	    "a cancelled\nb not cancelled: remote "
	    "refused\nc not cancelled: already succeeded\n");
	run_free(&r);
	r = CTL(NULL, "-S", p->path, "call", "org.varlink.service.GetInfo");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "{\"vendor\":\"x\",\"a/b\":[1]}\n");
	run_free(&r);
	r = CTL(NULL, "-S", p->path, "call", "io.pollex.Nope", "{}");
	ck_assert_int_eq(r.status, 5);
	ck_assert_str_eq(r.err,
	    "pollexctl: org.varlink.service."
	    "MethodNotFound: no such method: io.pollex.Nope\n");
	run_free(&r);
	peer_join(p);
	check_json(call_params(p, 1, "io.pollex.Cancel"), "{\"id\":\"b\"}");
	peer_free(p);
}
END_TEST

START_TEST(test_ctl_lost)
{
	/* The daemon goes away mid-reply: exit 4. */
	static const struct step script[] = {
	    S_ACCEPT,
	    S_READ,
	    S_W("{\"parameters\":{\"pol"),
	    S_CLOSE,
	    S_END,
	};
	struct peer *p = peer_start(script);
	struct run r;

	r = CTL(NULL, "-S", p->path, "pollers");
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "pollexctl: "));
	run_free(&r);
	peer_join(p);
	peer_free(p);
}
END_TEST

/* One TCase per behaviour. */
static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

#define TC(name, ...)                                                          \
	do {                                                                   \
		const TTest *tests_[] = {__VA_ARGS__};                         \
		size_t i_;                                                     \
		tc = tcase_create(name);                                       \
		tcase_set_timeout(tc, 60);                                     \
		for (i_ = 0; i_ < sizeof tests_ / sizeof tests_[0]; i_++)      \
			tcase_add_test(tc, tests_[i_]);                        \
		suite_add_tcase(s, tc);                                        \
	} while (0)

	TC("names", test_strerror, test_names);
	TC("tasks", test_task_full, test_task_minimal, test_task_invalid,
	    test_task_texts);
	TC("specs", test_spec_setters, test_spec_json, test_filter_json);
	TC("connect", test_connect_errors, test_connect_env);
	TC("framing", test_split_bytes, test_split_sync, test_pipelined,
	    test_invalid_json, test_big_reply, test_oversized,
	    test_closed_mid_reply, test_closed_no_sigpipe, test_timeout,
	    test_unsolicited, test_bad_reply_content);
	TC("streams", test_wait_stream, test_wait_not_done, test_wait_stop,
	    test_wait_buffered, test_bad_wait_reply, test_wait_reentrant,
	    test_watch, test_bad_list_watch_reply, test_async_stream,
	    test_async_text, test_close_in_callback);
	TC("errors", test_error_mapping, test_error_reset);
	TC("symbols", test_symbols);
	TC("pollexctl", test_ctl_usage, test_ctl_get, test_ctl_wait,
	    test_ctl_wait_prompt, test_ctl_submit, test_ctl_submit_file, test_ctl_cancel_call,
	    test_ctl_lost);
#undef TC
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
