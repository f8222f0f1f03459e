/* SPDX-License-Identifier: ISC */
/* check_jspan.c: common/jspan against hand-written cases and against
 * json-c's strict parser on generated documents. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "frame.h"
#include "jspan.h"
#include "rules.h"
#include "testlib.h"
#include "util.h"

static int
valid(const char *s)
{
	struct jspan v;
	const char *why;

	return jspan_check(s, strlen(s), 64, &v, &why, NULL) == 0;
}

/* json-c's verdict: strict, UTF-8 checked, one value and white space. */
static int
jsonc_valid(const char *s)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_object *o;
	size_t end, len = strlen(s);
	int ok;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	ok = json_tokener_get_error(tok) == json_tokener_success;
	end = json_tokener_get_parse_end(tok);
	while (ok && end < len && strchr(" \t\r\n", s[end]) != NULL)
		end++;
	ok = ok && end == len;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

START_TEST(test_check_accepts_and_refuses)
{
	static const char *good[] = {
		"{}", "[]", " { \"a\" : [1, -2.5e+3, 0, -0, 1E2, true, false, "
		"null, \"x\\u00e9\\n\"] } ", "\"caf\xc3\xa9\"", "0", "-1.25",
		"\"\xf0\x9f\x98\x80\"", "[[[]]]", "{\"\":{}}",
		"\"\\ud83d\\ude00\"", "\"\\/\\b\\f\\r\\t\\\"\\\\\"",
	};
	static const char *bad[] = {
		"", " ", "{", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}",
		"{a:1}", "'x'", "01", "1.", ".5", "-", "1e", "+1", "NaN",
		"Infinity", "tru", "nulls", "[1]x", "{}{}", "\"a", "\"\\x\"",
		"\"\\u12G4\"", "\"a\tb\"", "\"\xc3\"", "\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"",
		"[1,,2]", "{\"a\":}", "[-]", "1 2",
	};
	size_t i;

	for (i = 0; i < nitems(good); i++)
		ck_assert_msg(valid(good[i]), "refused %s", good[i]);
	for (i = 0; i < nitems(bad); i++)
		ck_assert_msg(!valid(bad[i]), "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_check_depth_and_position)
{
	char deep[200];
	struct jspan v;
	const char *why = NULL;
	size_t at = 0;

	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	ck_assert_int_eq(jspan_check(deep, 130, 64, &v, &why, &at), -1);
	ck_assert_str_eq(why, "nested too deeply");
	ck_assert_int_eq(jspan_check(deep + 1, 128, 64, &v, &why, &at), 0);
	ck_assert_int_eq(v.n, 128);
	/* The offset of the problem and a specific reason. */
	ck_assert_int_eq(jspan_check("[1, 2,, 3]", 10, 64, &v, &why, &at), -1);
	ck_assert_int_eq(at, 6);
	ck_assert_str_eq(why, "unexpected character");
	ck_assert_int_eq(jspan_check("{\"a\":1} x", 9, 64, &v, &why, &at), -1);
	ck_assert_str_eq(why, "trailing data after the value");
	/* Length is honoured: a NUL or garbage past it is not read. */
	ck_assert_int_eq(jspan_check("[1]garbage", 3, 64, &v, &why, &at), 0);
	ck_assert_int_eq(jspan_check("\"ab\"", 3, 64, &v, &why, &at), -1);
}
END_TEST

static struct jspan
doc(const char *s)
{
	struct jspan v;
	const char *why;

	ck_assert_int_eq(jspan_check(s, strlen(s), 64, &v, &why, NULL), 0);
	return v;
}

static int
span_is(struct jspan v, const char *text)
{
	return v.n == strlen(text) && memcmp(v.p, text, v.n) == 0;
}

START_TEST(test_members_items_pointers)
{
	struct jspan d = doc(" {\"id\": 17, \"state\" : \"done\", \"a/b\": "
	    "{\"m~n\": [10, {\"x\": [1, 2]}, \"s\"]}, \"e\\u0073c\": true, "
	    "\"dup\": 1, \"dup\": [2], \"\": null} "), v;
	struct jspan_iter it;
	struct jspan k;
	int64_t n;
	int count = 0;

	ck_assert_int_eq(jspan_type(d), JS_OBJECT);
	ck_assert(jspan_member(d, "id", 2, &v) && span_is(v, "17"));
	ck_assert(jspan_int64(v, &n) && n == 17);
	ck_assert(jspan_member(d, "state", 5, &v) && span_is(v, "\"done\""));
	ck_assert(!jspan_member(d, "stat", 4, &v));
	/* An escaped name matches its decoded text. */
	ck_assert(jspan_member(d, "esc", 3, &v) && span_is(v, "true"));
	/* The last of a repeated name counts, as in json-c. */
	ck_assert(jspan_member(d, "dup", 3, &v) && span_is(v, "[2]"));
	ck_assert(jspan_pointer(d, "", &v) && v.p == d.p && v.n == d.n);
	ck_assert(jspan_pointer(d, "/a~1b/m~0n/1/x/1", &v) && span_is(v, "2"));
	ck_assert(jspan_pointer(d, "/a~1b/m~0n/2", &v) && span_is(v, "\"s\""));
	ck_assert(jspan_pointer(d, "/", &v) && span_is(v, "null"));
	ck_assert(!jspan_pointer(d, "/a~1b/m~0n/3", &v));
	ck_assert(!jspan_pointer(d, "/a~1b/m~0n/01", &v));
	ck_assert(!jspan_pointer(d, "/a~1b/m~0n/-1", &v));
	ck_assert(!jspan_pointer(d, "/id/x", &v));
	ck_assert(!jspan_pointer(d, "/a~2b", &v));
	ck_assert(!jspan_pointer(d, "id", &v));
	jspan_iter_init(&it, d);
	while (jspan_next(&it, &k, &v))
		count++;
	ck_assert_int_eq(count, 7);
	d = doc("[ 1 , \"two\" , [3] , {} ]");
	jspan_iter_init(&it, d);
	ck_assert(jspan_next(&it, &k, &v) && span_is(v, "1"));
	ck_assert(jspan_next(&it, &k, &v) && span_is(v, "\"two\""));
	ck_assert(jspan_next(&it, &k, &v) && span_is(v, "[3]"));
	ck_assert(jspan_next(&it, &k, &v) && span_is(v, "{}"));
	ck_assert(!jspan_next(&it, &k, &v));
	jspan_iter_init(&it, doc("[]"));
	ck_assert(!jspan_next(&it, &k, &v));
	jspan_iter_init(&it, doc("3"));
	ck_assert(!jspan_next(&it, &k, &v));
}
END_TEST

/* The member index finds what jspan_pointer() finds: the last of a
 * repeated name, escaped names, deeper pointers, and a scan past
 * JSPAN_INDEX_MAX members or for a value that is not an object. */
START_TEST(test_member_index)
{
	static const char *ptrs[] = { "", "/", "/id", "/dup", "/esc",
	    "/a~1b/m~0n/1/x/1", "/a~1b/m~0n/3", "/nope", "/id/x", "/a~2b",
	    "id", "/m30", "/m0" };
	struct jspan_index ix;
	struct jspan d, v, w;
	char text[2048];
	size_t i, j, off;
	int a, b;

	for (j = 0; j < 3; j++) {
		if (j == 0)
			d = doc(" {\"id\": 17, \"a/b\": {\"m~n\": [10, "
			    "{\"x\": [1, 2]}]}, \"e\\u0073c\": true, "
			    "\"dup\": 1, \"dup\": [2], \"\": null} ");
		else if (j == 1) {
			/* More members than the index takes: scanned. */
			off = (size_t)snprintf(text, sizeof text, "{");
			for (i = 0; i <= JSPAN_INDEX_MAX + 8; i++)
				off += (size_t)snprintf(text + off,
				    sizeof text - off, "%s\"m%zu\": %zu",
				    i > 0 ? ", " : "", i, i);
			snprintf(text + off, sizeof text - off, ", \"m0\": "
			    "\"last\"}");
			d = doc(text);
		} else
			d = doc("[{\"id\": 1}]");
		jspan_index_init(&ix, d);
		ck_assert(j == 0 ? ix.n == 6 : ix.n == SIZE_MAX);
		for (i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
			a = jspan_pointer(d, ptrs[i], &v);
			b = jspan_index_pointer(&ix, ptrs[i], &w);
			ck_assert_msg(a == b && (!a || (v.p == w.p &&
			    v.n == w.n)), "doc %zu, pointer \"%s\"", j,
			    ptrs[i]);
		}
	}
	jspan_index_init(&ix, doc("{\"dup\": 1, \"dup\": [2]}"));
	ck_assert(jspan_index_pointer(&ix, "/dup", &v) && span_is(v, "[2]"));
}
END_TEST

/* The pairs json-c 0.16 misreads are written as UTF-8, and nothing
 * else changes: other pairs, lone halves, escaped backslashes. */
START_TEST(test_jsonc_text)
{
	static const struct {
		const char *in, *out;	/* out NULL: no change */
	} cases[] = {
		{ "{\"a\":\"\\ud83d\\ude00\"}", NULL },
		{ "{\"a\":\"\\ud876\\ude00\"}", "{\"a\":\"\xf0\xad\xa8\x80\"}" },
		{ "[\"x\\ud837\\uDE00y\\u00e9\\ud8b6\\udc00\"]",
		    "[\"x\xf0\x9d\xb8\x80y\\u00e9\xf0\xbd\xa0\x80\"]" },
		{ "\"\\\\ud876\\ude00\"", NULL },
		{ "\"\\\\\\ud876\\ude00\"", "\"\\\\\xf0\xad\xa8\x80\"" },
		{ "\"\\ud876\"", NULL },
		{ "\"\\ud876\\u0041\"", NULL },
		{ "\"\\ud876\\ude0", NULL },
		{ "\"\\", NULL },
	};
	char *out;
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		out = jspan_jsonc_text(cases[i].in, strlen(cases[i].in), &n);
		if (cases[i].out == NULL)
			ck_assert_msg(out == NULL, "%s: changed", cases[i].in);
		else {
			ck_assert_msg(out != NULL && n == strlen(out) &&
			    strcmp(out, cases[i].out) == 0, "%s: \"%s\"",
			    cases[i].in, out != NULL ? out : "(null)");
			/* json-c now reads what jspan reads. */
			json_object *o = json_tokener_parse(out);
			ck_assert_msg(o != NULL && strstr(
			    json_object_to_json_string(o), "\xef\xbf\xbd") ==
			    NULL, "%s: json-c", cases[i].in);
			json_object_put(o);
		}
		free(out);
	}
}
END_TEST

/* Member names of 256 bytes and more (the fuzz reproducer
 * jspan-long-pointer-token) are reached as short ones are, and as
 * jptr_get() reaches them in the parsed document. */
START_TEST(test_pointer_long_token)
{
	static const size_t lens[] = { 255, 256, 300, 5000 };
	char *name, *text, *ptr;
	struct jspan d, v;
	json_object *o;
	size_t i, n;

	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		n = lens[i];
		name = malloc(n + 1);
		memset(name, 'a', n);
		name[n - 1] = '/';	/* "~1" in the pointer */
		name[n] = '\0';
		text = malloc(n + 64);
		snprintf(text, n + 64, "{\"%s\": {\"b\": [1, 2]}}", name);
		ptr = malloc(n + 16);
		name[n - 1] = '\0';
		snprintf(ptr, n + 16, "/%s~1/b/1", name);
		d = doc(text);
		ck_assert_msg(jspan_pointer(d, ptr, &v) && span_is(v, "2"),
		    "name of %zu bytes not reached in place", n);
		o = json_tokener_parse(text);
		ck_assert_ptr_nonnull(o);
		ck_assert_msg(json_object_get_int(jptr_get(o, ptr)) == 2,
		    "name of %zu bytes not reached parsed", n);
		/* One byte short of the name: nothing there, both ways. */
		ptr[n - 1] = '\0';
		ck_assert(!jspan_pointer(d, ptr, &v));
		ck_assert_ptr_null(jptr_get(o, ptr));
		json_object_put(o);
		free(name);
		free(text);
		free(ptr);
	}
}
END_TEST

/* The readers on text json-c takes and jspan_check() refuses. */
START_TEST(test_readers_on_lenient_text)
{
	static const char text[] = "{\"a\": \"x\ty\", \"b\": 1., \"c\": "
	    "\"\xc0\xaf\", \"d\": [1., {\"e\": \"\xed\xa0\x80\"}], \"f\": -.5, "
	    "\"g\": 0.E5, \"h\": 3}";
	struct jspan d = { text, sizeof text - 1 }, v;
	const char *why;

	ck_assert_int_eq(jspan_check(text, sizeof text - 1, 64, &v, &why, NULL),
	    -1);
	ck_assert(jspan_member(d, "a", 1, &v) && span_is(v, "\"x\ty\""));
	ck_assert(jspan_member(d, "b", 1, &v) && span_is(v, "1."));
	ck_assert(jspan_pointer(d, "/d/1/e", &v) &&
	    span_is(v, "\"\xed\xa0\x80\""));
	ck_assert(jspan_pointer(d, "/d/0", &v) && span_is(v, "1."));
	ck_assert(jspan_member(d, "f", 1, &v) && span_is(v, "-.5"));
	ck_assert(jspan_member(d, "g", 1, &v) && span_is(v, "0.E5"));
	ck_assert(jspan_member(d, "h", 1, &v) && span_is(v, "3"));
}
END_TEST

START_TEST(test_strings_and_integers)
{
	const char *s;
	char *alloc;
	size_t n;
	int64_t i;

	ck_assert_int_eq(jspan_string(doc("\"plain\""), &s, &n, &alloc), 0);
	ck_assert_ptr_null(alloc);
	ck_assert(n == 5 && memcmp(s, "plain", 5) == 0);
	ck_assert_int_eq(jspan_string(doc("\"a\\n\\\"\\u00e9\\ud83d\\ude00"
	    "\\/\\u0000z\""), &s, &n, &alloc), 0);
	ck_assert_ptr_nonnull(alloc);
	ck_assert_int_eq(n, 12);
	ck_assert(memcmp(s, "a\n\"\xc3\xa9\xf0\x9f\x98\x80/\0z", 12) == 0);
	free(alloc);
	/* A lone surrogate becomes U+FFFD. */
	ck_assert_int_eq(jspan_string(doc("\"\\udc00\""), &s, &n, &alloc), 0);
	ck_assert(n == 3 && memcmp(s, "\xef\xbf\xbd", 3) == 0);
	free(alloc);
	ck_assert_int_eq(jspan_string(doc("12"), &s, &n, &alloc), -1);
	ck_assert(jspan_plain_string(doc("\"x\"")));
	ck_assert(!jspan_plain_string(doc("\"\\t\"")));
	ck_assert(!jspan_plain_string(doc("1")));
	ck_assert(jspan_int64(doc("9223372036854775807"), &i) &&
	    i == INT64_MAX);
	ck_assert(jspan_int64(doc("-9223372036854775808"), &i) &&
	    i == INT64_MIN);
	ck_assert(!jspan_int64(doc("9223372036854775808"), &i));
	ck_assert(!jspan_int64(doc("1.0"), &i));
	ck_assert(!jspan_int64(doc("1e3"), &i));
	ck_assert(!jspan_int64(doc("\"1\""), &i));
	ck_assert(jspan_int64(doc("-0"), &i) && i == 0);
}
END_TEST

/* Generated documents: the verdict and every value found by pointer
 * agree with json-c (and the daemon's jptr_get()). */
static const char *const atoms[] = {
	"0", "-1", "12.5", "1e3", "-0.0e-2", "true", "false", "null",
	"\"\"", "\"a\"", "\"\\u0041\\n\"", "\"x/y\"", "{}", "[]",
	/* and broken pieces (not "1.", which json-c's strict mode takes
	 * and RFC 8259 and jspan do not) */
	"01", "-", "\"", "tru", ",", ":", "]", "}", "'a'", "\"\\q\"",
};

static void
gen(char *buf, size_t cap, size_t *n, unsigned *seed, int depth)
{
	int r = rand_r(seed) % 10;
	size_t i, k;
	const char *a;

#define PUT(s) do { const char *s_ = (s); size_t l_ = strlen(s_); \
	if (*n + l_ < cap) { memcpy(buf + *n, s_, l_); *n += l_; } } while (0)
	if (depth > 3 || r < 4) {
		/* Mostly good atoms, now and then a broken one. */
		k = rand_r(seed) % 50 == 0 ? nitems(atoms) :
		    14;
		a = atoms[rand_r(seed) % k];
		PUT(a);
		return;
	}
	if (r < 7) {
		PUT("[");
		k = (size_t)(rand_r(seed) % 4);
		for (i = 0; i < k; i++) {
			if (i > 0)
				PUT(rand_r(seed) % 80 == 0 ? " " : ",");
			gen(buf, cap, n, seed, depth + 1);
		}
		PUT("]");
		return;
	}
	PUT("{");
	k = (size_t)(rand_r(seed) % 4);
	for (i = 0; i < k; i++) {
		static const char *const keys[] = { "\"a\"", "\"b\"",
			"\"a\\/\"", "\"\"", "\"a\"" };
		if (i > 0)
			PUT(",");
		PUT(keys[rand_r(seed) % nitems(keys)]);
		PUT(rand_r(seed) % 80 == 0 ? " " : ":");
		gen(buf, cap, n, seed, depth + 1);
	}
	PUT("}");
#undef PUT
}

START_TEST(test_agrees_with_jsonc)
{
	static const char *const ptrs[] = { "", "/a", "/b", "/0", "/1",
		"/a/0", "/a/a", "/0/a", "/1/b", "/a~1", "/", "/a/1/b",
		"/0/0", "/b/0/a" };
	unsigned seed = 20261123;
	char buf[4096];
	size_t n, i, agreed = 0, valid_docs = 0;
	struct jspan d, v;
	json_object *o, *jv, *sv;
	const char *why;
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		n = 0;
		buf[0] = '[';
		n = 1;
		gen(buf, sizeof buf - 2, &n, &seed, 0);
		buf[n++] = ']';
		buf[n] = '\0';
		ck_assert_msg(valid(buf) == jsonc_valid(buf),
		    "jspan says %d, json-c says %d: %s", valid(buf),
		    jsonc_valid(buf), buf);
		agreed++;
		if (!valid(buf))
			continue;
		valid_docs++;
		ck_assert_int_eq(jspan_check(buf, n, 64, &d, &why, NULL), 0);
		o = json_tokener_parse(buf);
		for (i = 0; i < nitems(ptrs); i++) {
			char p[16];
			int found_c, found_s;

			/* Pointers into the generated value (item 0). */
			snprintf(p, sizeof p, "/0%s", ptrs[i]);
			/* As the daemon's jptr_get() sees it: a null
			 * member is no value. */
			found_c = (jv = jptr_get(o, p)) != NULL;
			found_s = jspan_pointer(d, p, &v) &&
			    jspan_type(v) != JS_NULL;
			ck_assert_msg(found_c == found_s, "%s in %s: json-c %d "
			    "jspan %d", p, buf, found_c, found_s);
			if (!found_s)
				continue;
			/* The span parses to the same value. */
			{
				char *t = strndup(v.p, v.n);

				sv = json_tokener_parse(t);
				ck_assert_msg(json_object_equal(sv, jv),
				    "%s in %s: %s", p, buf, t);
				json_object_put(sv);
				free(t);
			}
		}
		json_object_put(o);
	}
	/* The generator made both kinds. */
	ck_assert_uint_gt(valid_docs, 5000);
	ck_assert_uint_lt(valid_docs, agreed);
}
END_TEST

/*
 * Single-quoted member names, which json-c's strict mode takes (values
 * it refuses): frame_check()
 * (libpollex's reader) and frame_parse() (the daemon's) refuse them alike,
 * and the readers never go past the span of such text (each text sits in
 * a buffer of its exact size, so AddressSanitizer sees any read past it).
 */
START_TEST(test_single_quoted)
{
	static const char *const texts[] = {
		"{'a':1}", "{'a':1,\"b\":2}", "{\"b\":{'a':[1]}}", "{'a\"':1}",
		"{'a b':1}", "{\"x\":1,'a':[1,{}]}", "{'a\\u0041':{}}",
	};
	struct jspan v, m;
	json_object *o;
	const char *why;
	char *buf;
	size_t i, n;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		n = strlen(texts[i]);
		buf = malloc(n);
		memcpy(buf, texts[i], n);
		ck_assert_msg(jsonc_valid(texts[i]), "%s", texts[i]);
		if (frame_check(buf, n, &v, &why) == 0) {
			/* Taken, it would be read: as libpollex reads. */
			jspan_member(v, "a", 1, &m);
			jspan_pointer(v, "/b/a/0", &m);
			ck_abort_msg("frame_check takes %s", texts[i]);
		}
		ck_assert_str_eq(why, "single-quoted string in JSON");
		o = frame_parse(buf, n, &why);
		ck_assert_msg(o == NULL, "frame_parse takes %s", texts[i]);
		json_object_put(o);
		/* The readers, given such text anyway, stay inside it. */
		v.p = buf;
		v.n = n;
		jspan_member(v, "a", 1, &m);
		jspan_member(v, "zz", 2, &m);
		jspan_pointer(v, "/b/a/0", &m);
		free(buf);
	}
	/* An apostrophe inside a string is only a character. */
	o = frame_parse("{\"a\":\"it's\"}", 12, &why);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	ck_assert_int_eq(frame_check("{\"a\":\"it's\"}", 12, &v, &why), 0);
}
END_TEST

static Suite *
jspan_suite(void)
{
	Suite *s = suite_create("jspan");
	TCase *tc = tcase_create("jspan");

	/* test_agrees_with_jsonc runs many texts: a bound, not a speed. */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_check_accepts_and_refuses);
	tcase_add_test(tc, test_check_depth_and_position);
	tcase_add_test(tc, test_members_items_pointers);
	tcase_add_test(tc, test_pointer_long_token);
	tcase_add_test(tc, test_member_index);
	tcase_add_test(tc, test_jsonc_text);
	tcase_add_test(tc, test_strings_and_integers);
	tcase_add_test(tc, test_readers_on_lenient_text);
	tcase_add_test(tc, test_single_quoted);
	tcase_add_test(tc, test_agrees_with_jsonc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(jspan_suite());
}
