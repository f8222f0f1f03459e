/* check_util.c: durations, canonical JSON, hashing and the hash table. */
#include "config.h"

#include <check.h>
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

START_TEST(test_hash_keyed)
{
	uint64_t a = hash_str("pollex"), b = hash_str("pollex"),
	    c = hash_str("pollez");

	ck_assert(a == b);
	ck_assert(a != c);
	ck_assert(hash_bytes("", 0) != hash_bytes("\0", 1));
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_duration_json);
	tcase_add_test(tc, test_canonical);
	tcase_add_test(tc, test_canonical_numbers);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_hmap);
	tcase_add_test(tc, test_hash_keyed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(util_suite());
}
