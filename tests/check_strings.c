/* SPDX-License-Identifier: ISC */
/*
 * check_strings.c: text that comes from outside, through the real pollexd.
 *
 * Clients' JSON, the exec programs' output and stderr, HTTP services'
 * headers and bodies: what a task keeps and what pollexd sends is valid
 * UTF-8 (U+FFFD where the bytes were not, cut on character boundaries),
 * so Get, List and Watch through libpollex keep working; and one client's
 * malformed message changes nothing in the next one's.
 */
#include "config.h"

#include <check.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"
#include "pollex.h"
#include "testlib.h"
#include "tsvc.h"

#define FFFD "\xef\xbf\xbd"

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

/* Start pollexd with the pollers given (JSON members) and connect. */
static void
start(const char *pollers)
{
	char *conf;
	int r;

	if (asprintf(&conf, "{\"pollers\": {%s}}", pollers) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(conf);
	r = pollex_connect(td->sock, &c);
	ck_assert_msg(r == 0, "connect: %s", pollex_strerror(r));
	pollex_set_timeout(c, 30000);
}

/* RFC 3629 UTF-8, no NUL. */
static int
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k, j;
	uint32_t cp;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			k = 2;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			k = 3;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			k = 4;
			cp = *p & 0x07;
		} else
			return 0;
		for (j = 1; j < k; j++) {
			if ((p[j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) ||
		    (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += k;
	}
	return 1;
}

/* n copies of s. */
static char *
rep(const char *s, size_t n)
{
	size_t len = strlen(s), i;
	char *out = malloc(len * n + 1);

	for (i = 0; i < n; i++)
		memcpy(out + i * len, s, len);
	out[len * n] = '\0';
	return out;
}

/* Every text of the task is valid UTF-8. */
static void
task_utf8_ok(const pollex_task *t)
{
	const char *s[] = { pollex_task_ref(t), pollex_task_args(t),
		pollex_task_labels(t), pollex_task_result(t),
		pollex_task_error_code(t), pollex_task_error_message(t),
		pollex_task_idempotency_key(t), pollex_task_json(t) };
	size_t i;

	for (i = 0; i < sizeof s / sizeof s[0]; i++)
		ck_assert_msg(s[i] == NULL || utf8_ok(s[i]), "%s: text %zu "
		    "is not UTF-8: %s", pollex_task_id(t), i, s[i]);
}

static int
watch_cb(const char *event, const char *id, const pollex_task *t, void *arg)
{
	size_t *n = arg;

	(void)id;
	if (strcmp(event, "current") != 0)
		return 0;
	task_utf8_ok(t);
	return ++*n == 3;
}

/* Get each task, List them all and Watch them through libpollex (on
 * connections of their own): every reply reads, every text is UTF-8. */
static void
check_readable(char *const *ids, size_t n)
{
	pollex *w;
	pollex_task *t, **all = NULL;
	size_t i, nall = 0, seen = 0;
	char *next = NULL;
	int r;

	for (i = 0; i < n; i++) {
		r = pollex_get(c, ids[i], &t);
		ck_assert_msg(r == 0, "get %s: %s", ids[i],
		    pollex_strerror(r));
		task_utf8_ok(t);
		pollex_task_free(t);
	}
	r = pollex_list(c, NULL, &all, &nall, &next);
	ck_assert_msg(r == 0, "list: %s", pollex_strerror(r));
	ck_assert_uint_eq(nall, n);
	for (i = 0; i < nall; i++)
		task_utf8_ok(all[i]);
	pollex_tasks_free(all, nall);
	free(next);
	ck_assert_int_eq(pollex_connect(td->sock, &w), 0);
	pollex_set_timeout(w, 30000);
	r = pollex_watch(w, NULL, 1, watch_cb, &seen);
	ck_assert_msg(r == 0, "watch: %s", pollex_strerror(r));
	ck_assert_uint_eq(seen, n);
	pollex_close(w);
}

/* Wait for one task to finish (bounded). */
static pollex_task *
wait_one(const char *id)
{
	const char *ids[1] = { id };
	pollex_task **done = NULL, *t;
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

static char *
submit(const char *poller, const char *ref, const char *args)
{
	pollex_spec *s = pollex_spec_new(poller);
	char *id = NULL;
	int r;

	if (ref != NULL)
		ck_assert_int_eq(pollex_spec_set_ref(s, ref), 0);
	if (args != NULL)
		ck_assert_int_eq(pollex_spec_set_args(s, args), 0);
	r = pollex_submit(c, s, &id, NULL);
	ck_assert_msg(r == 0, "submit: %s", pollex_error_message(c));
	pollex_spec_free(s);
	return id;
}

/* ------------------------------------------------------------------ */

/* Send one message on a connection of its own and read the reply. */
static char *
raw_call(const char *msg)
{
	char *reply;
	int fd, eof = 0;

	fd = raw_connect(td->sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
	reply = raw_recv(fd, 10000, &eof);
	ck_assert_msg(reply != NULL, "no reply to %s", msg);
	close(fd);
	return reply;
}

/*
 * A method name that json-c let through with an overlong form comes back
 * in MethodNotFound repaired: the reply is valid UTF-8.
 */
START_TEST(test_method_name_repaired)
{
	char *reply;

	start("\"p\": {\"kind\": \"exec\", \"interval\": \"1h\", "
	    "\"poll\": [\"/bin/true\"]}");
	reply = raw_call("{\"method\":\"io.pollex.Ge\xc0\x91t\"}");
	ck_assert_msg(strstr(reply, "org.varlink.service.MethodNotFound") !=
	    NULL, "%s", reply);
	ck_assert_msg(strstr(reply, "io.pollex.Ge\xef\xbf\xbd") != NULL,
	    "not repaired: %s", reply);
	ck_assert_msg(utf8_valid(reply, strlen(reply)), "%s", reply);
	free(reply);
}
END_TEST

/*
 * A message that stops right after an escaped high surrogate, on one
 * connection, then a Submit with "caf\u00e9" everywhere on another: the
 * task keeps "café", byte for byte (the reused tokener used to hand the
 * pending half pair to the next \u escape: "caf\ufffd\u00e9").
 */
START_TEST(test_no_state_between_messages)
{
	static const char *const poison[] = {
		"{\"method\":\"io.pollex.Get\",\"parameters\":{\"id\":\"\\ud83d",
		"{\"method\":\"io.pollex.Get\",\"parameters\":{\"id\":"
		    "\"\\ud83d\\u00zz\"}}",
	};
	char msg[512], *reply, *id;
	json_object *o, *v;
	pollex_task *t;
	size_t i;

	start("\"p\": {\"kind\": \"exec\", \"interval\": \"1h\", "
	    "\"poll\": [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"]}");
	for (i = 0; i < sizeof poison / sizeof poison[0]; i++) {
		reply = raw_call(poison[i]);
		ck_assert_msg(strstr(reply, "\"error\"") != NULL, "%s", reply);
		free(reply);
		snprintf(msg, sizeof msg, "{\"method\":\"io.pollex.Submit\","
		    "\"parameters\":{\"tasks\":[{\"poller\":\"p\","
		    "\"ref\":{\"r\":\"caf\\u00e9%zu\"},"
		    "\"args\":{\"s\":\"caf\\u00e9\"},"
		    "\"labels\":{\"k\":\"caf\\u00e9\"},"
		    "\"idempotency_key\":\"caf\\u00e9%zu\"}]}}", i, i);
		reply = raw_call(msg);
		o = json_tokener_parse(reply);
		ck_assert_msg(o != NULL && json_object_object_get_ex(o,
		    "parameters", &v) && json_object_object_get_ex(v, "ids",
		    &v), "%s", reply);
		id = strdup(json_object_get_string(
		    json_object_array_get_idx(v, 0)));
		json_object_put(o);
		free(reply);

		ck_assert_int_eq(pollex_get(c, id, &t), 0);
		snprintf(msg, sizeof msg, "{\"r\":\"caf\xc3\xa9%zu\"}", i);
		ck_assert_str_eq(pollex_task_ref(t), msg);
		ck_assert_str_eq(pollex_task_args(t), "{\"s\":\"caf\xc3\xa9\"}");
		ck_assert_str_eq(pollex_task_label(t, "k"), "caf\xc3\xa9");
		snprintf(msg, sizeof msg, "caf\xc3\xa9%zu", i);
		ck_assert_str_eq(pollex_task_idempotency_key(t), msg);
		pollex_task_free(t);
		free(id);
	}
}
END_TEST

/*
 * Escaped pairs json-c 0.16 reads as U+FFFD (those whose code point's low
 * 16 bits fall in D800-DFFF, as U+2DA00, a CJK Extension B character):
 * ref, args, labels and idempotency key keep them, byte for byte, as they
 * keep U+1F600 (found by fuzz_frame: crashers/frame-jsonc-astral-pair).
 */
START_TEST(test_astral_escapes_kept)
{
	char *reply, *id;
	json_object *o, *v;
	pollex_task *t;

	start("\"p\": {\"kind\": \"exec\", \"interval\": \"1h\", "
	    "\"poll\": [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"]}");
	reply = raw_call("{\"method\":\"io.pollex.Submit\","
	    "\"parameters\":{\"tasks\":[{\"poller\":\"p\","
	    "\"ref\":{\"r\":\"\\ud876\\ude00\"},"
	    "\"args\":{\"s\":\"\\ud837\\ude00 \\ud83d\\ude00 \\\\ud876\"},"
	    "\"labels\":{\"k\":\"\\ud8b6\\udc00\"},"
	    "\"idempotency_key\":\"\\ud836\\udfff\"}]}}");
	o = json_tokener_parse(reply);
	ck_assert_msg(o != NULL && json_object_object_get_ex(o, "parameters",
	    &v) && json_object_object_get_ex(v, "ids", &v), "%s", reply);
	id = strdup(json_object_get_string(json_object_array_get_idx(v, 0)));
	json_object_put(o);
	free(reply);

	ck_assert_int_eq(pollex_get(c, id, &t), 0);
	ck_assert_str_eq(pollex_task_ref(t), "{\"r\":\"\xf0\xad\xa8\x80\"}");
	/* An escaped backslash before "ud876" is no escape. */
	ck_assert_str_eq(pollex_task_args(t), "{\"s\":\"\xf0\x9d\xb8\x80 "
	    "\xf0\x9f\x98\x80 \\\\ud876\"}");
	ck_assert_str_eq(pollex_task_label(t, "k"), "\xf0\xbd\xa0\x80");
	ck_assert_str_eq(pollex_task_idempotency_key(t), "\xf0\x9d\xaf\xbf");
	pollex_task_free(t);
	free(id);
}
END_TEST

/*
 * Integers beyond 64 bits come back as they were sent: json-c would clamp
 * 12345678901234567890123 to 18446744073709551615, and two refs that
 * differ only there would be taken for one task.
 */
START_TEST(test_big_integers_kept)
{
	static const char *refs[] = {
		"{\"r\":[18446744073709551616,-9223372036854775809],"
		    "\"t\":12345678901234567890123}",
		"{\"r\":[18446744073709551617,-9223372036854775809],"
		    "\"t\":12345678901234567890123}",
	};
	char msg[512], *reply, *id[2];
	json_object *o, *v;
	pollex_task *t;
	size_t i;

	start("\"p\": {\"kind\": \"exec\", \"interval\": \"1h\", "
	    "\"poll\": [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"]}");
	for (i = 0; i < 2; i++) {
		snprintf(msg, sizeof msg, "{\"method\":\"io.pollex.Submit\","
		    "\"parameters\":{\"tasks\":[{\"poller\":\"p\","
		    "\"ref\":%s,\"args\":{\"a\":99999999999999999999}}]}}",
		    refs[i]);
		reply = raw_call(msg);
		o = json_tokener_parse(reply);
		ck_assert_msg(o != NULL && json_object_object_get_ex(o,
		    "parameters", &v) && json_object_object_get_ex(v, "created",
		    &v) && json_object_get_boolean(json_object_array_get_idx(v,
		    0)), "%s: not created: %s", refs[i], reply);
		json_object_object_get_ex(o, "parameters", &v);
		json_object_object_get_ex(v, "ids", &v);
		id[i] = strdup(json_object_get_string(
		    json_object_array_get_idx(v, 0)));
		json_object_put(o);
		free(reply);
	}
	ck_assert_str_ne(id[0], id[1]);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pollex_get(c, id[i], &t), 0);
		ck_assert_str_eq(pollex_task_ref(t), refs[i]);
		ck_assert_str_eq(pollex_task_args(t),
		    "{\"a\":99999999999999999999}");
		pollex_task_free(t);
		free(id[i]);
	}
}
END_TEST

/* A poll program whose result holds what json-c lets through (an overlong
 * form, an encoded surrogate). */
static const char poll_ok[] =
    "#!/bin/sh\n"
    "id=$(grep -o '\"id\":\"[0-9a-f]*\"' | head -n 1)\n"
    "printf '{\"tasks\":[{%s,\"state\":\"succeeded\","
    "\"result\":{\"s\":\"a\\300\\257b\\355\\240\\200c\"}}]}\\n' \"$id\"\n";

/* A poll program that fails, its last stderr line long, multibyte and
 * with invalid bytes. */
static const char poll_bad[] =
    "#!/bin/sh\n"
    "cat >/dev/null\n"
    "echo 'first line' >&2\n"
    "printf 'bad:\\377\\300\\257\\355\\240\\200:' >&2\n"
    "i=0; while [ $i -lt 600 ]; do printf '\\303\\251' >&2; i=$((i+1)); "
    "done\n"
    "echo >&2\n"
    "exit 1\n";

/* A cancel program that refuses with a long first line of stdout. */
static const char cancel_no[] =
    "#!/bin/sh\n"
    "cat >/dev/null\n"
    "printf 'no:\\377'\n"
    "i=0; while [ $i -lt 200 ]; do printf '\\342\\202\\254'; i=$((i+1)); "
    "done\n"
    "printf '\\nsecond line\\n'\n"
    "exit 1\n";

/*
 * Exec programs' bytes: a result with an overlong form and a surrogate,
 * a stderr line (kept up to 1,024 bytes) with invalid bytes and 'é' cut
 * in half at the limit, a cancel program's refusal (512 bytes) with '€'
 * cut at the limit.  The texts come back repaired and cut on character
 * boundaries; Get, List and Watch read every task.
 */
START_TEST(test_exec_bytes)
{
	char *pok, *pbad, *cno, *conf, *ids[3], *want, *reason = NULL, *e;
	pollex_task *t;
	int cancelled = -1;

	pok = write_file(td->dir, "poll-ok", poll_ok, 1);
	pbad = write_file(td->dir, "poll-bad", poll_bad, 1);
	cno = write_file(td->dir, "cancel-no", cancel_no, 1);
	if (asprintf(&conf, "\"ok\": {\"kind\": \"exec\", \"poll\": [\"%s\"]}, "
	    "\"bad\": {\"kind\": \"exec\", \"poll\": [\"%s\"], "
	    "\"fail_after\": 1}, "
	    "\"c\": {\"kind\": \"exec\", \"interval\": \"1h\", \"poll\": "
	    "[\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{}'\"], "
	    "\"cancel\": [\"%s\"]}", pok, pbad, cno) == -1)
		abort();
	start(conf);
	free(conf);

	ids[0] = submit("ok", "{\"n\": 1}", NULL);
	t = wait_one(ids[0]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	ck_assert_str_eq(pollex_task_result(t),
	    "{\"s\":\"a" FFFD FFFD "b" FFFD FFFD FFFD "c\"}");
	pollex_task_free(t);

	ids[1] = submit("bad", "{\"n\": 2}", NULL);
	t = wait_one(ids[1]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	e = rep("\xc3\xa9", 500);	/* 1,024 bytes at most */
	if (asprintf(&want, "%s exited with status 1: bad:" FFFD FFFD FFFD
	    FFFD FFFD FFFD ":%s", pbad, e) == -1)
		abort();
	ck_assert_msg(strcmp(pollex_task_error_message(t), want) == 0,
	    "%s", pollex_task_error_message(t));
	free(want);
	free(e);
	pollex_task_free(t);

	ids[2] = submit("c", "{\"n\": 3}", NULL);
	ck_assert_int_eq(pollex_cancel(c, ids[2], &cancelled, &reason), 0);
	ck_assert_int_eq(cancelled, 0);
	e = rep("\xe2\x82\xac", 169);	/* 512 bytes at most, cut */
	if (asprintf(&want, "no:" FFFD "%s", e) == -1)
		abort();
	ck_assert_msg(reason != NULL && strcmp(reason, want) == 0, "%s",
	    reason);
	free(want);
	free(e);
	free(reason);

	check_readable(ids, 3);
	free(ids[0]);
	free(ids[1]);
	free(ids[2]);
	free(pok);
	free(pbad);
	free(cno);
}
END_TEST

/*
 * HTTP: a header stored in a ref (start_ref "header:X-Tag", an LRO's
 * Location) with bytes that are not UTF-8, and a remote error message
 * longer than the 300 bytes kept, 'é' cut at the limit.
 */
START_TEST(test_http_bytes)
{
	char *conf, *ids[3], *e, *msg, *args;
	json_object *o, *v;
	pollex_task *t;

	if (asprintf(&conf, "\"b\": {\"kind\": \"http-batch\", \"url\": \"%s\", "
	    "\"interval\": \"100ms\", \"min_interval\": \"50ms\", "
	    "\"start\": {\"method\": \"POST\", \"url\": \"/object/x/publish\", "
	    "  \"body\": \"{{args}}\"}, "
	    "\"start_ref\": {\"task_id\": \"/task_id\", \"tag\": \"header:X-Tag\"},"
	    "\"poll\": {\"method\": \"POST\", \"url\": \"/tasks/search\", "
	    "  \"body\": {\"task_id\": \"{{refs/task_id}}\"}}, "
	    "\"item_id\": \"/id\", \"ref_id\": \"/task_id\", "
	    "\"outcome\": {\"rules\": [{\"path\": \"/state\", \"equals\": "
	    "\"done\", \"state\": \"succeeded\"}], \"result\": \"/result\"}}, "
	    "\"e\": {\"kind\": \"http-each\", \"url\": \"%s\", "
	    "\"interval\": \"100ms\", \"min_interval\": \"50ms\", \"lro\": true, "
	    "\"start\": {\"method\": \"PUT\", \"url\": \"/resources/{{args/name}}\","
	    "  \"body\": \"{{args/body}}\"}}", svc.base, svc.base) == -1)
		abort();
	start(conf);
	free(conf);
	tsvc_fault(&svc, "{\"method\": \"POST\", \"path_prefix\": \"/object/\"}",
	    1, "{\"latin1\": true, \"headers\": {\"X-Tag\": "
	    "\"caf\\u00e9\\u00ff!\"}}");
	tsvc_fault(&svc, "{\"method\": \"PUT\", \"path_prefix\": "
	    "\"/resources/vm1\"}", 1, "{\"latin1\": true, \"headers\": "
	    "{\"Location\": \"/elsewhere/caf\\u00e9\"}}");

	ids[0] = submit("b", NULL, "{\"duration_ms\": 0, \"result\": 1}");
	t = wait_one(ids[0]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_SUCCEEDED);
	o = json_tokener_parse(pollex_task_ref(t));
	ck_assert(json_object_object_get_ex(o, "tag", &v));
	ck_assert_str_eq(json_object_get_string(v), "caf" FFFD FFFD "!");
	json_object_put(o);
	pollex_task_free(t);

	ids[1] = submit("e", NULL, "{\"name\": \"vm1\", \"body\": "
	    "{\"duration_ms\": 0}}");
	t = wait_one(ids[1]);
	ck_assert_msg(pollex_task_state(t) == POLLEX_SUCCEEDED, "%s",
	    pollex_task_error_message(t));
	o = json_tokener_parse(pollex_task_ref(t));
	ck_assert(json_object_object_get_ex(o, "location", &v));
	ck_assert_msg(strstr(json_object_get_string(v),
	    "/elsewhere/caf" FFFD) != NULL, "%s", json_object_get_string(v));
	json_object_put(o);
	pollex_task_free(t);

	/* 1 + 2 * 200 bytes of message: 300 kept, cut between characters. */
	e = rep("\xc3\xa9", 200);
	if (asprintf(&args, "{\"name\": \"vm2\", \"body\": {\"duration_ms\": 0, "
	    "\"outcome\": \"error\", \"message\": \"x%s\"}}", e) == -1)
		abort();
	free(e);
	ids[2] = submit("e", NULL, args);
	free(args);
	t = wait_one(ids[2]);
	ck_assert_int_eq(pollex_task_state(t), POLLEX_FAILED);
	e = rep("\xc3\xa9", 149);
	if (asprintf(&msg, "x%s", e) == -1)
		abort();
	ck_assert_msg(strcmp(pollex_task_error_message(t), msg) == 0, "%s",
	    pollex_task_error_message(t));
	free(msg);
	free(e);
	pollex_task_free(t);

	check_readable(ids, 3);
	free(ids[0]);
	free(ids[1]);
	free(ids[2]);
}
END_TEST

static Suite *
strings_suite(void)
{
	Suite *s = suite_create("strings");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_state_between_messages);
	tcase_add_test(tc, test_astral_escapes_kept);
	tcase_add_test(tc, test_big_integers_kept);
	tcase_add_test(tc, test_method_name_repaired);
	tcase_add_test(tc, test_exec_bytes);
	tcase_add_test(tc, test_http_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(strings_suite());
}
