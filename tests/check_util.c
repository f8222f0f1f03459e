/* SPDX-License-Identifier: ISC */
/* check_util.c: durations, canonical JSON, UTF-8, hashing and the hash
 * table. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "testlib.h"
#include "util.h"

START_TEST(test_durations)
{
	static const struct {
		const char *in;
		int ok;
		uint64_t ms;
	} cases[] = {
		{ "250ms", 0, 250 }, { "1.5s", 0, 1500 }, { "5s", 0, 5000 },
		{ "2m", 0, 120000 }, { "1h", 0, 3600000 }, { "1d", 0, 86400000 },
		{ "3", 0, 3000 }, { "0.001", 0, 1 }, { "0", 0, 0 },
		{ "", -1, 0 }, { "-1s", -1, 0 }, { "1x", -1, 0 }, { "s", -1, 0 },
		{ "nan", -1, 0 }, { "inf", -1, 0 }, { "0x10", -1, 0 },
		{ " 1s", -1, 0 }, { "1e3", -1, 0 }, { "99999d", -1, 0 },
	};
	uint64_t ms;
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		ms = 12345;
		ck_assert_msg(parse_duration(cases[i].in, &ms) == cases[i].ok,
		    "\"%s\"", cases[i].in);
		if (cases[i].ok == 0)
			ck_assert_msg(ms == cases[i].ms, "\"%s\": %llu",
			    cases[i].in, (unsigned long long)ms);
	}
}
END_TEST

START_TEST(test_duration_json)
{
	json_object *v;
	uint64_t ms;

	v = json_object_new_double(0.25);
	ck_assert_int_eq(parse_duration_json(v, &ms), 0);
	ck_assert_uint_eq(ms, 250);
	json_object_put(v);
	v = json_object_new_int(-3);
	ck_assert_int_eq(parse_duration_json(v, &ms), -1);
	json_object_put(v);
	v = json_object_new_boolean(1);
	ck_assert_int_eq(parse_duration_json(v, &ms), -1);
	json_object_put(v);
}
END_TEST

START_TEST(test_canonical)
{
	json_object *a = json_tokener_parse(
	    "{\"b\": [1, {\"z\": null, \"y\": true}], \"a\": \"x\\ny\"}");
	json_object *b = json_tokener_parse(
	    "{\"a\":\"x\\ny\",\"b\":[1,{\"y\":true,\"z\":null}]}");
	char *ca = json_canonical(a), *cb = json_canonical(b);

	ck_assert_str_eq(ca, cb);
	ck_assert_str_eq(ca, "{\"a\":\"x\\ny\",\"b\":[1,{\"y\":true,\"z\":null}]}");
	free(ca);
	free(cb);
	json_object_put(a);
	json_object_put(b);
}
END_TEST

START_TEST(test_canonical_numbers)
{
	json_object *a = json_tokener_parse("{\"a\": [0, -1, 42, "
	    "-9223372036854775808, 9223372036854775807, 18446744073709551615, "
	    "1.5, -0.25]}");
	char *ca = json_canonical(a);

	ck_assert_str_eq(ca, "{\"a\":[0,-1,42,-9223372036854775808,"
	    "9223372036854775807,18446744073709551615,1.5,-0.25]}");
	free(ca);
	json_object_put(a);
}
END_TEST

START_TEST(test_escape)
{
	char out[64];
	size_t n = json_string_escape(out, "a\"\\\x01", 4);

	out[n] = '\0';
	ck_assert_str_eq(out, "\"a\\\"\\\\\\u0001\"");
}
END_TEST

struct item {
	struct hmap_node node;
	int key;
};

START_TEST(test_hmap)
{
	struct hmap h;
	struct item *items = calloc(10000, sizeof *items);
	struct hmap_node *n;
	int i, found;

	hash_init();
	hmap_init(&h);
	for (i = 0; i < 10000; i++) {
		items[i].key = i;
		hmap_insert(&h, &items[i].node, hash_bytes(&i, sizeof i));
	}
	ck_assert_uint_eq(h.count, 10000);
	ck_assert_uint_ge(h.mask + 1, 10000);	/* it grew */
	for (i = 0; i < 10000; i += 2)
		hmap_remove(&h, &items[i].node);
	ck_assert_uint_eq(h.count, 5000);
	for (i = 0; i < 10000; i++) {
		found = 0;
		uint64_t hv = hash_bytes(&i, sizeof i);
		for (n = hmap_chain(&h, hv); n != NULL; n = n->next)
			if (n->hash == hv &&
			    hmap_entry(n, struct item, node)->key == i)
				found = 1;
		ck_assert_int_eq(found, i % 2);
	}
	hmap_destroy(&h);
	free(items);
}
END_TEST

/* Reserved room: the buckets are there before the nodes, and inserting
 * that many changes nothing more (no rehash), and every node is found. */
START_TEST(test_hmap_reserve)
{
	struct hmap h;
	struct item *items = calloc(5000, sizeof *items);
	struct hmap_node *n, **buckets;
	size_t mask;
	int i, found;

	hash_init();
	hmap_init(&h);
	hmap_reserve(&h, 5000);
	ck_assert_uint_ge(h.mask + 1, 5000);
	mask = h.mask;
	buckets = h.buckets;
	for (i = 0; i < 5000; i++) {
		items[i].key = i;
		hmap_insert(&h, &items[i].node, hash_bytes(&i, sizeof i));
	}
	ck_assert_uint_eq(h.mask, mask);
	ck_assert_ptr_eq(h.buckets, buckets);
	for (i = 0; i < 5000; i++) {
		uint64_t hv = hash_bytes(&i, sizeof i);

		found = 0;
		for (n = hmap_chain(&h, hv); n != NULL; n = n->next)
			if (hmap_entry(n, struct item, node)->key == i)
				found = 1;
		ck_assert_int_eq(found, 1);
	}
	/* Reserving less than there is does nothing. */
	hmap_reserve(&h, 10);
	ck_assert_uint_eq(h.mask, mask);
	hmap_destroy(&h);
	free(items);
}
END_TEST

START_TEST(test_hash_keyed)
{
	uint64_t a = hash_str("pollex"), b = hash_str("pollex"),
	    c = hash_str("pollez");

	ck_assert(a == b);
	ck_assert(a != c);
	ck_assert(hash_bytes("", 0) != hash_bytes("\0", 1));
}
END_TEST

/* A reference to compare with: decode by the formula, then refuse what
 * RFC 3629 refuses. */
static int
ref_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, j, k;
	uint32_t cp;

	while (i < n) {
		if (s[i] == 0)
			return 0;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (i + k > n)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) ||
		    (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

/* utf8_valid() agrees with the reference; a repair is valid, and is the
 * input itself when the input is valid. */
static void
utf8_one(const unsigned char *s, size_t n)
{
	char r[16];
	size_t rn;
	int v = utf8_valid((const char *)s, n);

	if (v != ref_utf8_valid(s, n))
		ck_abort_msg("%02x %02x %02x %02x (%zu): utf8_valid %d", s[0],
		    n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, v);
	rn = utf8_copy(r, sizeof r, (const char *)s, n);
	if (!ref_utf8_valid((unsigned char *)r, rn) || strlen(r) != rn ||
	    (v && (rn != n || memcmp(r, s, n) != 0)))
		ck_abort_msg("%02x %02x %02x %02x (%zu): bad repair", s[0],
		    n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n);
}

/* Every sequence of one to three bytes, and the four-byte ones with a
 * lead byte F0-F7 and the others on the edges of the continuation range
 * (and of F0's and F4's narrower second byte). */
START_TEST(test_utf8_exhaustive)
{
	static const unsigned char edge[] = { 0x00, 0x41, 0x7f, 0x80, 0x81,
		0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc3, 0xf0, 0xff };
	unsigned char b[4];
	unsigned a, c, d, e;

	for (a = 0; a < 256; a++) {
		b[0] = (unsigned char)a;
		utf8_one(b, 1);
		for (c = 0; c < 256; c++) {
			b[1] = (unsigned char)c;
			utf8_one(b, 2);
			if (a < 0xc0)
				continue;
			for (d = 0; d < 256; d++) {
				b[2] = (unsigned char)d;
				utf8_one(b, 3);
			}
		}
	}
	for (a = 0xf0; a < 0xf8; a++)
		for (c = 0; c < 256; c++)
			for (d = 0; d < nitems(edge); d++)
				for (e = 0; e < nitems(edge); e++) {
					b[0] = (unsigned char)a;
					b[1] = (unsigned char)c;
					b[2] = edge[d];
					b[3] = edge[e];
					utf8_one(b, 4);
				}
}
END_TEST

#define FFFD "\xef\xbf\xbd"

/* What each kind of bad input becomes: one U+FFFD per longest start of a
 * sequence that cannot go on. */
START_TEST(test_utf8_repair)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf",
		  15, "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"
		  "\xf4\x8f\xbf\xbf" },			/* the edges */
		{ "\xed\x9f\xbf\xee\x80\x80", 6, "\xed\x9f\xbf\xee\x80\x80" },
		/* overlong forms */
		{ "\xc0\x80", 2, FFFD FFFD }, { "\xc1\xbf", 2, FFFD FFFD },
		{ "\xe0\x80\x80", 3, FFFD FFFD FFFD },
		{ "\xe0\x9f\xbf", 3, FFFD FFFD FFFD },
		{ "\xf0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD },
		{ "\xf0\x8f\xbf\xbf", 4, FFFD FFFD FFFD FFFD },
		/* surrogates encoded in UTF-8 */
		{ "\xed\xa0\x80", 3, FFFD FFFD FFFD },
		{ "\xed\xbf\xbf", 3, FFFD FFFD FFFD },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6, FFFD FFFD FFFD FFFD FFFD FFFD },
		/* past U+10FFFF, bytes that are never UTF-8 */
		{ "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD },
		{ "\xf5\x80\x80\x80", 4, FFFD FFFD FFFD FFFD },
		{ "a\xffz\xfe", 4, "a" FFFD "z" FFFD },
		{ "\x80\xbf", 2, FFFD FFFD },		/* lone continuations */
		/* sequences cut short: one U+FFFD for what there is */
		{ "\xe2\x82", 2, FFFD }, { "\xe2\x82" "A", 3, FFFD "A" },
		{ "\xf0\x9f\x98", 3, FFFD }, { "\xf0\x9f\x98" "A", 4, FFFD "A" },
		{ "\xc3", 1, FFFD }, { "\xc3\xc3\xa9", 3, FFFD "\xc3\xa9" },
		{ "\xf0\x9f\xe2\x82\xac", 5, FFFD "\xe2\x82\xac" },
		/* NUL bytes */
		{ "a\0b", 3, "a" FFFD "b" }, { "\0", 1, FFFD },
		{ "", 0, "" },
	};
	char *r;
	size_t i, n;

	for (i = 0; i < nitems(cases); i++) {
		r = utf8_repair(cases[i].in, cases[i].len, &n);
		ck_assert_msg(n == strlen(cases[i].out) &&
		    strcmp(r, cases[i].out) == 0, "case %zu: \"%s\"", i, r);
		ck_assert_int_eq(utf8_valid(cases[i].in, cases[i].len),
		    strcmp(r, cases[i].in) == 0 &&
		    strlen(cases[i].in) == cases[i].len);
		free(r);
	}
}
END_TEST

/* Cutting at a byte limit: never inside a character. */
START_TEST(test_utf8_cut)
{
	static const char s[] = "ab\xf0\x9f\x98\x80" "c\xc3\xa9";
	char buf[16];
	size_t max;

	/* utf8_trim(s, max): a four-byte character cut after 1, 2, 3
	 * bytes goes entirely; complete ones stay. */
	ck_assert_uint_eq(utf8_trim(s, 2), 2);
	for (max = 3; max < 6; max++)
		ck_assert_uint_eq(utf8_trim(s, max), 2);
	ck_assert_uint_eq(utf8_trim(s, 6), 6);
	ck_assert_uint_eq(utf8_trim(s, 7), 7);
	ck_assert_uint_eq(utf8_trim(s, 8), 7);
	ck_assert_uint_eq(utf8_trim(s, 9), 9);
	ck_assert_uint_eq(utf8_trim("", 0), 0);
	/* Not cut short but invalid: left for the repair. */
	ck_assert_uint_eq(utf8_trim("a\xe0\x80", 3), 3);
	ck_assert_uint_eq(utf8_trim("a\xff", 2), 2);
	ck_assert_uint_eq(utf8_trim("a\x80\x80\x80\x80", 5), 5);
	ck_assert_uint_eq(utf8_trim("\xc3\xa9\xa9", 3), 3);

	/* utf8_copy() stops before what does not fit. */
	for (max = 1; max <= 11; max++) {
		memset(buf, 'x', sizeof buf);
		utf8_copy(buf, max, s, sizeof s - 1);
		ck_assert_str_eq(buf, max == 1 ? "" : max == 2 ? "a" :
		    max <= 6 ? "ab" : max == 7 ? "ab\xf0\x9f\x98\x80" :
		    max <= 9 ? "ab\xf0\x9f\x98\x80" "c" :
		    "ab\xf0\x9f\x98\x80" "c\xc3\xa9");
	}
	ck_assert_uint_eq(utf8_copy(buf, 3, "\xff\xff", 2), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(utf8_copy(buf, 6, "\xff\xff", 2), 3);
	ck_assert_str_eq(buf, FFFD);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_hmap_reserve);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_duration_json);
	tcase_add_test(tc, test_canonical);
	tcase_add_test(tc, test_canonical_numbers);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_hmap);
	tcase_add_test(tc, test_hash_keyed);
	tcase_add_test(tc, test_utf8_repair);
	tcase_add_test(tc, test_utf8_cut);
	suite_add_tcase(s, tc);
	/* Millions of sequences: more time under the sanitizers. */
	tc = tcase_create("utf8-exhaustive");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_utf8_exhaustive);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(util_suite());
}
