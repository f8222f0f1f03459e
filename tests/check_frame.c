/* SPDX-License-Identifier: ISC */
/* check_frame.c: message framing and strict JSON parsing. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"
#include "testlib.h"

START_TEST(test_find_split_and_merged)
{
	const char two[] = "{\"a\":1}\0{\"b\":2}";	/* two messages */

	ck_assert_int_eq(frame_find("{\"a\":", 5), -1);	/* half a message */
	ck_assert_int_eq(frame_find(two, sizeof two), 7);
	ck_assert_int_eq(frame_find(two + 8, sizeof two - 8), 7);
	ck_assert_int_eq(frame_find("", 0), -1);
}
END_TEST

START_TEST(test_parse_valid)
{
	const char *why = NULL;
	json_object *o = frame_parse("{\"method\":\"x\"} \n", 16, &why);

	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o,
	    "method")), "x");
	json_object_put(o);
}
END_TEST

static void
expect_bad(const char *msg, size_t len, const char *want)
{
	const char *why = NULL;
	json_object *o = frame_parse(msg, len, &why);

	ck_assert_msg(o == NULL, "accepted: %.*s", (int)len, msg);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, want) != NULL, "%s: got \"%s\", want \"%s\"",
	    msg, why, want);
}

START_TEST(test_parse_truncated)
{
	expect_bad("{\"a\":", 5, "truncated");
	expect_bad("{\"a\":[1,2", 9, "truncated");
}
END_TEST

START_TEST(test_parse_not_object)
{
	expect_bad("[1,2]", 5, "not a JSON object");
	expect_bad("12", 2, "not a JSON object");
	expect_bad("\"s\"", 3, "not a JSON object");
	expect_bad("   ", 3, "empty");
	expect_bad("", 0, "empty");
}
END_TEST

START_TEST(test_parse_invalid_utf8)
{
	expect_bad("{\"a\":\"\xff\xfe\"}", 10, "UTF-8");
	expect_bad("{\"a\":\"\xc3\"}", 8, "UTF-8");	/* cut sequence */
}
END_TEST

START_TEST(test_parse_deep_nesting)
{
	char *deep = malloc(4 * PX_JSON_MAX_DEPTH + 16);
	size_t i, n = 0;

	deep[n++] = '{';
	memcpy(deep + n, "\"a\":", 4);
	n += 4;
	for (i = 0; i < PX_JSON_MAX_DEPTH + 2; i++)
		deep[n++] = '[';
	for (i = 0; i < PX_JSON_MAX_DEPTH + 2; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	expect_bad(deep, n, "deep");
	free(deep);
}
END_TEST

START_TEST(test_parse_trailing_garbage_and_lax_json)
{
	expect_bad("{\"a\":1} x", 9, "trailing");
	expect_bad("{\"a\":1}{\"b\":2}", 14, "trailing");
	expect_bad("{\"a\":1,}", 8, "invalid");		/* strict: no commas */
	expect_bad("{\"a\":1 /* c */}", 15, "invalid");	/* no comments */
	expect_bad("{'a':1}", 7, "single-quoted");	/* json-c takes it */
}
END_TEST

/*
 * A member name with an escaped NUL, at any depth, is refused by both
 * readers (json-c would keep "a\u0000b" as "a" and merge it with "a");
 * a NUL in a value, or an escaped backslash before "u0000", is not one.
 */
START_TEST(test_parse_nul_member_name)
{
	static const char *bad[] = {
		"{\"a\\u0000b\":1,\"a\":2}",
		"{\"p\":{\"t\":[{\"r\":{\"\\u0000\":1}}]}}",
		"{\"p\":[1,{\"x\\u0000\":\"\\u00e9\"}]}",
	};
	static const char *good[] = {
		"{\"a\":\"x\\u0000y\"}",
		"{\"\\\\u0000\":1}",
		"{\"a\":[\"\\u0000\",{\"b\":\"\\u0000\"}]}",
	};
	struct jspan v;
	const char *why;
	json_object *o;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect_bad(bad[i], strlen(bad[i]), "\\u0000");
		why = NULL;
		ck_assert_msg(frame_check(bad[i], strlen(bad[i]), &v, &why) ==
		    -1 && why != NULL && strstr(why, "\\u0000") != NULL,
		    "frame_check took %s", bad[i]);
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		o = frame_parse(good[i], strlen(good[i]), &why);
		ck_assert_msg(o != NULL, "%s: %s", good[i], why);
		json_object_put(o);
		ck_assert_int_eq(frame_check(good[i], strlen(good[i]), &v,
		    &why), 0);
	}
}
END_TEST

/* Integers beyond 64 bits keep their text through frame_parse() (json-c
 * alone clamps them); those within, fractions and exponents are as
 * before; a repeated name keeps its last value. */
START_TEST(test_parse_keeps_big_integers)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "{\"a\":12345678901234567890123}",
		    "{\"a\":12345678901234567890123}" },
		{ "{\"a\":[1,{\"b\":-9223372036854775809}],\"c\":2}",
		    "{\"a\":[1,{\"b\":-9223372036854775809}],\"c\":2}" },
		{ "{\"a\":18446744073709551615,\"b\":-9223372036854775808}",
		    "{\"a\":18446744073709551615,\"b\":-9223372036854775808}" },
		{ "{\"a\":1e400,\"b\":123456789012345678901.5}",
		    "{\"a\":1e400,\"b\":123456789012345678901.5}" },
		{ "{\"a\":99999999999999999999,\"a\":7}", "{\"a\":7}" },
		{ "{\"a\":7,\"a\":99999999999999999999}",
		    "{\"a\":99999999999999999999}" },
		{ "{\"s\":\"12345678901234567890123\"}",
		    "{\"s\":\"12345678901234567890123\"}" },
	};
	json_object *o;
	const char *why;
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		o = frame_parse(cases[i].in, strlen(cases[i].in), &why);
		ck_assert_msg(o != NULL, "%s: %s", cases[i].in, why);
		ck_assert_str_eq(frame_serialize(o, &n), cases[i].out);
		json_object_put(o);
	}
	/* A bare number, as libpollex and the rules read values. */
	o = frame_keep_numbers(json_tokener_parse("-123456789012345678901"),
	    "-123456789012345678901", 22);
	ck_assert_str_eq(json_object_to_json_string(o), "-123456789012345678901");
	json_object_put(o);
}
END_TEST

START_TEST(test_serialize_round_trip)
{
	json_object *o = json_object_new_object(), *back;
	const char *text, *why;
	size_t len;

	json_object_object_add(o, "path", json_object_new_string("/a/b\"c"));
	text = frame_serialize(o, &len);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert_ptr_null(strchr(text, '\n'));
	back = frame_parse(text, len, &why);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(back,
	    "path")), "/a/b\"c");
	json_object_put(back);
	json_object_put(o);
}
END_TEST

/* frame_check() takes what frame_parse() takes and tells why not in the
 * same words, without building a tree; what it takes, jspan reads. */
START_TEST(test_check_agrees)
{
	static const char *const msgs[] = {
	    "{}", " \t\r\n{\"a\" : [1, {\"b\":null}], \"c\":\"\\u00e9\"}\n",
	    "{\"parameters\":{\"done\":[{\"id\":\"a\"}]},\"continues\":true}",
	    "{\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	    "{\"n\":-0.5e+10,\"m\":0,\"k\":1E-2}",
	    "", "   ", "[1,2]", "12", "\"s\"", "null", "x",
	    "{\"a\":", "{\"a\":[1,2", "{\"a\":\"abc", "{\"a\":tr", "{",
	    "{\"a\":\"\xff\xfe\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xc3\x28\"}",
	    "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc0\xaf\"}",
	    "{\"a\":1} x", "{\"a\":1}{\"b\":2}", "{\"a\":1} 2",
	    "{\"a\":1,}", "{\"a\":1 /* c */}", "{a:1}", "{\"a\":'x'}",
	    "{\"a\":01}", "{\"a\":+1}", "{\"a\":.5}", "{\"a\":1e}",
	    "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\t\"}",
	    "{\"a\":nul}", "{\"a\":truex}", "{\"a\" 1}", "{\"a\":[1 2]}",
	    "{\"a\":[1,]}", "{,}", "{\"a\":1,,\"b\":2}",
	    /* json-c's strict mode takes these, RFC 8259 does not */
	    "{\"a\":1.}", "{\"a\":[-.5,0.E5]}", "{\"a\":\"\t\x01\"}",
	    "{\"a\":\"\xed\xa0\x80\",\"b\":\"\xc0\xaf\"}",
	};
	struct jspan v;
	json_object *o;
	const char *why_p, *why_c;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		len = strlen(msgs[i]);
		why_p = why_c = NULL;
		o = frame_parse(msgs[i], len, &why_p);
		rc = frame_check(msgs[i], len, &v, &why_c);
		ck_assert_msg((o != NULL) == (rc == 0),
		    "%s: frame_parse %s, frame_check %s", msgs[i],
		    o != NULL ? "takes it" : why_p, rc == 0 ? "takes it" : why_c);
		if (o != NULL) {
			/* The object, without the white space around it,
			 * with json-c's members found in it. */
			ck_assert(v.p >= msgs[i] && v.p + v.n <= msgs[i] + len);
			ck_assert_int_eq(v.p[0], '{');
			ck_assert_int_eq(v.p[v.n - 1], '}');
			json_object_object_foreach(o, key, val)
			{
				struct jspan m;

				(void)val;
				ck_assert_msg(
				    jspan_member(v, key, strlen(key), &m),
				    "%s: no %s", msgs[i], key);
			}
		} else
			ck_assert_msg(strcmp(why_p, why_c) == 0,
			    "%s: frame_parse \"%s\", frame_check \"%s\"",
			    msgs[i], why_p, why_c);
		json_object_put(o);
	}
	ck_assert_int_eq(frame_check("{\"a\":\"\x01\"} \n", 11, &v, &why_c), 0);
	ck_assert_uint_eq(v.n, 9);
}
END_TEST

/* Messages that stop inside or after an escaped high surrogate ("\ud83d")
 * or fail right after one leave nothing behind in the reused tokener: the
 * next message's "\u00e9" is "é", not U+FFFD followed by "é". */
START_TEST(test_parse_no_state_between_messages)
{
	static const char *const poison[] = {
		"{\"a\":\"\\ud83d", "{\"a\":\"\\ud83d\\", "{\"a\":\"\\ud83d\\u",
		"{\"a\":\"\\ud83d\\u00", "{\"a\":\"\\ud83d\\q\"}",
		"{\"a\":\"\\ud83d\\ud83d", "{\"a\":\"\\ud8",
		"{\"a\":\"\\ud83d\\u00zz\"}",
	};
	const char *why;
	json_object *o, *v;
	size_t i;

	for (i = 0; i < sizeof poison / sizeof poison[0]; i++) {
		ck_assert_ptr_null(frame_parse(poison[i], strlen(poison[i]),
		    &why));
		o = frame_parse("{\"a\":\"caf\\u00e9\"}", 17, &why);
		ck_assert_ptr_nonnull(o);
		ck_assert(json_object_object_get_ex(o, "a", &v));
		ck_assert_msg(json_object_get_string_len(v) == 5 &&
		    memcmp(json_object_get_string(v), "caf\xc3\xa9", 5) == 0,
		    "after %s: \"%s\"", poison[i], json_object_get_string(v));
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_names)
{
	enum px_state st;
	enum px_return_when rw;

	ck_assert_str_eq(px_error_name(PX_ERR_TASK_NOT_FOUND),
	    "io.pollex.TaskNotFound");
	ck_assert_int_eq(px_error_from_name("org.varlink.service.ExpectedMore"),
	    PX_ERR_EXPECTED_MORE);
	ck_assert_int_eq(px_error_from_name("no.such.Error"), PX_ERR_NONE);
	ck_assert_int_eq(px_state_from_name("expired", &st), 0);
	ck_assert_int_eq(st, PX_STATE_EXPIRED);
	ck_assert_int_eq(px_state_from_name("done", &st), -1);
	ck_assert(px_state_terminal(PX_STATE_CANCELLED));
	ck_assert(!px_state_terminal(PX_STATE_PENDING));
	ck_assert_int_eq(px_return_when_from_name("FIRST_EXCEPTION", &rw), 0);
	ck_assert_int_eq(rw, PX_RW_FIRST_EXCEPTION);
	rw = PX_RW_ALL_COMPLETED;
	ck_assert_int_eq(px_return_when_from_name("first_exception", &rw), 0);
	ck_assert_int_eq(rw, PX_RW_FIRST_EXCEPTION);
	ck_assert_str_eq(px_return_when_idl_name(PX_RW_ALL_COMPLETED),
	    "all_completed");
	ck_assert_str_eq(px_return_when_name(PX_RW_ALL_COMPLETED),
	    "ALL_COMPLETED");
	ck_assert_int_eq(px_return_when_from_name("First_Exception", &rw), -1);
	ck_assert_int_eq(px_return_when_from_name("any", &rw), -1);
}
END_TEST

START_TEST(test_socket_paths)
{
	char buf[256];

	setenv("POLLEX_SOCKET", "/x/y.sock", 1);
	ck_assert_str_eq(px_socket_for_daemon(buf, sizeof buf), "/x/y.sock");
	ck_assert_str_eq(px_socket_for_client(buf, sizeof buf), "/x/y.sock");
	unsetenv("POLLEX_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	ck_assert_str_eq(px_socket_for_daemon(buf, sizeof buf),
	    "/run/user/4242/pollex/pollex.sock");
	/* No user daemon there: clients go to the system one. */
	ck_assert_str_eq(px_socket_for_client(buf, sizeof buf),
	    PX_SYSTEM_SOCKET);
	ck_assert_ptr_null(px_socket_for_daemon(buf, 8));
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("framing");

	tcase_add_test(tc, test_find_split_and_merged);
	tcase_add_test(tc, test_parse_valid);
	tcase_add_test(tc, test_parse_truncated);
	tcase_add_test(tc, test_parse_nul_member_name);
	tcase_add_test(tc, test_parse_keeps_big_integers);
	tcase_add_test(tc, test_parse_not_object);
	tcase_add_test(tc, test_parse_invalid_utf8);
	tcase_add_test(tc, test_parse_deep_nesting);
	tcase_add_test(tc, test_parse_trailing_garbage_and_lax_json);
	tcase_add_test(tc, test_serialize_round_trip);
	tcase_add_test(tc, test_check_agrees);
	tcase_add_test(tc, test_parse_no_state_between_messages);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_socket_paths);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(frame_suite());
}
