/* SPDX-License-Identifier: ISC */
/* check_conf.c: configuration files, good and bad. */
#include "config.h"

#include <check.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "poller.h"
#include "testlib.h"

static char *dir;

static void
setup(void)
{
	dir = test_tmpdir();
}

static void
teardown(void)
{
	rm_rf(dir);
	free(dir);
}

/* Load text; expect failure with every word of want in the message. */
static void
expect_error(const char *text, const char *want1, const char *want2)
{
	char *path = write_file(dir, "bad.conf", text, 0), *cause = NULL;
	struct conf *c = NULL;

	ck_assert_msg(conf_load(path, &c, &cause) == -1, "accepted: %s", text);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, path) != NULL, "file not named: %s", cause);
	ck_assert_msg(strstr(cause, want1) != NULL, "\"%s\" lacks \"%s\"",
	    cause, want1);
	if (want2 != NULL)
		ck_assert_msg(strstr(cause, want2) != NULL,
		    "\"%s\" lacks \"%s\"", cause, want2);
	free(cause);
	free(path);
}

static struct conf *
expect_ok(const char *text)
{
	char *path = write_file(dir, "good.conf", text, 0), *cause = NULL;
	struct conf *c = NULL;

	ck_assert_msg(conf_load(path, &c, &cause) == 0, "refused: %s",
	    cause != NULL ? cause : "?");
	free(path);
	return c;
}

START_TEST(test_full_configuration)
{
	struct conf *c = expect_ok(
	    "// pollexd.conf\n"
	    "{\n"
	    "  /* daemon */\n"
	    "  \"socket\": \"/run/x/p.sock\",\n"
	    "  \"socket_mode\": \"0600\",\n"
	    "  \"retention\": \"2h\",\n"
	    "  \"max_connections\": 10,\n"
	    "  \"message_timeout\": 2.5,\n"
	    "  \"commit_delay\": \"25ms\",\n"
	    "  \"pollers\": {\n"
	    "    \"builds\": {\n"
	    "      \"kind\": \"exec\",\n"
	    "      \"interval\": \"2s\",\n"
	    "      \"min_interval\": \"100ms\",\n"
	    "      \"max_batch\": 7,\n"
	    "      \"fail_after\": 0,\n"
	    "      \"poll\": [\"./poll\", \"--x\"],\n"
	    "      \"cancel\": [\"/bin/true\"],\n"
	    "      \"env\": {\"A\": \"b\"},\n"
	    "      \"timeout\": \"5s\",\n"
	    "    },\n"	/* trailing commas are fine */
	    "  },\n"
	    "}\n");
	struct conf_poller *p = conf_find_poller(c, "builds");

	ck_assert_str_eq(c->socket_path, "/run/x/p.sock");
	ck_assert_int_eq(c->socket_mode, 0600);
	ck_assert_uint_eq(c->retention, 7200000);
	ck_assert_uint_eq(c->max_connections, 10);
	ck_assert_uint_eq(c->message_timeout, 2500);
	ck_assert_uint_eq(c->commit_delay, 25);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->kind->name, "exec");
	ck_assert_uint_eq(p->policy.interval, 2000);
	ck_assert_uint_eq(p->policy.min_interval, 100);
	ck_assert_uint_eq(p->policy.max_interval, 300000);	/* default */
	ck_assert_uint_eq(p->policy.max_batch, 7);
	ck_assert_uint_eq(p->policy.fail_after, 0);
	ck_assert(!p->kind->has_start(p->kconf));
	ck_assert(p->kind->has_cancel(p->kconf));
	conf_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf *c = expect_ok("{\"pollers\": {\"p\": {\"kind\": \"exec\","
	    " \"poll\": [\"/bin/true\"]}}}");
	struct conf_poller *p = c->pollers[0];

	ck_assert_uint_eq(p->policy.interval, 5000);
	ck_assert_uint_eq(p->policy.min_interval, 1000);
	ck_assert_uint_eq(p->policy.fail_after, 10);
	ck_assert_uint_eq(c->retention, 3600000);
	ck_assert_int_eq(c->socket_mode, 0660);
	conf_free(c);
}
END_TEST

/* admin_group is resolved to its gid when the file loads, so accepting a
 * connection never asks NSS (which may block the loop). */
START_TEST(test_admin_group_resolved_at_load)
{
	struct group *gr;
	struct conf *c;
	char *name, text[512];
	gid_t gid;

	/* A group other than gid 0 when there is one: 0 is calloc's. */
	setgrent();
	while ((gr = getgrent()) != NULL && gr->gr_gid == 0)
		;
	if (gr == NULL)
		gr = getgrgid(0);
	ck_assert_ptr_nonnull(gr);
	name = strdup(gr->gr_name);
	gid = gr->gr_gid;
	endgrent();
	snprintf(text, sizeof text, "{\"admin_group\": \"%s\"}", name);
	c = expect_ok(text);
	ck_assert_str_eq(c->admin_group, name);
	ck_assert_uint_eq(c->admin_gid, gid);
	conf_free(c);
	expect_error("{\"admin_group\": \"no-such-group-pollex\"}",
	    "admin_group", "no such group");
	free(name);
}
END_TEST

START_TEST(test_syntax_errors_name_line)
{
	expect_error("{\n  \"retention\": \"1h\"\n  \"x\": 1\n}\n", ":3:",
	    "invalid JSON");
	expect_error("", ":1:", "invalid JSON");
	expect_error("[1, 2]", "must be a JSON object", NULL);
	expect_error("{} {}", "unexpected text", NULL);
}
END_TEST

START_TEST(test_unknown_keys)
{
	expect_error("{\"retension\": \"1h\"}", "retension", "unknown key");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"intervall\": \"5s\"}}}",
	    "pollers.p.intervall", "unknown key");
}
END_TEST

START_TEST(test_bad_values)
{
	expect_error("{\"retention\": \"soon\"}", "retention", "duration");
	expect_error("{\"commit_delay\": \"2s\"}", "commit_delay",
	    "at most 1s");
	expect_error("{\"retention\": -5}", "retention", "duration");
	expect_error("{\"max_connections\": 0}", "max_connections", "between");
	expect_error("{\"max_connections\": \"10\"}", "max_connections",
	    "whole number");
	expect_error("{\"socket\": \"relative.sock\"}", "socket", "absolute");
	expect_error("{\"socket_mode\": \"rw\"}", "socket_mode", "octal");
	expect_error("{\"socket_group\": \"no-such-group-pollex\"}",
	    "socket_group", "no such group");
	expect_error("{\"pollers\": []}", "pollers", "object");
}
END_TEST

/* A string or key that is not UTF-8, or holds "\u0000", is refused and
 * named: json-c's reading lets them through and templates send them on. */
START_TEST(test_strings_must_be_utf8)
{
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"http-each\", "
	    "\"poll\": {\"url\": \"http://127.0.0.1/\", \"body\": "
	    "{\"a\": [1, \"x\\u0000y\"]}}}}}", "pollers.p.poll.body.a.1",
	    "not valid UTF-8");
	/* An overlong form (C0 91) and a surrogate written in UTF-8. */
	expect_error("{\"socket_group\": \"g\xc0\x91\"}", "socket_group",
	    "not valid UTF-8");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"poll\": [\"/bin/\xed\xa0\xbd\"]}}}", "pollers.p.poll.0",
	    "not valid UTF-8");
	expect_error("{\"pollers\": {\"p\\u00e9\xc0\x80\": {}}}", "pollers",
	    "key");
}
END_TEST

START_TEST(test_metrics_listen)
{
	struct conf *c;

	expect_error("{\"metrics_listen\": \"nope\"}", "metrics_listen",
	    "ADDRESS:PORT");
	expect_error("{\"metrics_listen\": \"127.0.0.1:65536\"}",
	    "metrics_listen", "1 to 65535");
	expect_error("{\"metrics_listen\": \"127.0.0.1:0\"}",
	    "metrics_listen", "1 to 65535");
	expect_error("{\"metrics_listen\": \"127.0.0.1:\"}",
	    "metrics_listen", "ADDRESS:PORT");
	expect_error("{\"metrics_listen\": \"localhost:9464\"}",
	    "metrics_listen", "numeric");
	expect_error("{\"metrics_listen\": \"::1:9464\"}",
	    "metrics_listen", "brackets");
	expect_error("{\"metrics_listen\": 9464}", "metrics_listen", NULL);
	c = expect_ok("{\"metrics_listen\": \"[::1]:9464\"}");
	ck_assert_str_eq(c->metrics_listen, "[::1]:9464");
	conf_free(c);
	c = expect_ok("{}");
	ck_assert_ptr_null(c->metrics_listen);
	conf_free(c);
}
END_TEST

START_TEST(test_bad_pollers)
{
	expect_error("{\"pollers\": {\"p\": {\"poll\": [\"/bin/true\"]}}}",
	    "pollers.p.kind", "missing");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"ftp\"}}}",
	    "pollers.p.kind", "unknown kind \"ftp\"");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\"}}}",
	    "pollers.p.poll", "missing");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "\"/bin/true\"}}}", "pollers.p.poll", "array");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[]}}}", "pollers.p.poll", "non-empty");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\", 3]}}}", "pollers.p.poll", "element 1");
	expect_error("{\"pollers\": {\"bad name\": {\"kind\": \"exec\"}}}",
	    "bad name", "poller name");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"min_interval\": \"10s\"}}}",
	    "pollers.p.min_interval", "interval");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"interval\": \"1ms\"}}}",
	    "pollers.p.interval", "at least");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"max_batch\": 0}}}", "pollers.p.max_batch",
	    "between");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"env\": {\"A=B\": \"c\"}}}}", "pollers.p.env",
	    "'='");
	expect_error("{\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": "
	    "[\"/bin/true\"], \"timeout\": \"1ms\"}}}", "pollers.p.timeout",
	    "at least");
}
END_TEST

/* rate and burst: a positive number, a whole number with a rate; burst
 * defaults to max(1, rate rounded down); no rate, no limit. */
START_TEST(test_rate_limit)
{
	struct conf *c;
#define P(keys) "{\"pollers\": {\"p\": {\"kind\": \"exec\", " \
	"\"poll\": [\"/bin/true\"], " keys "}}}"

	expect_error(P("\"rate\": 0"), "pollers.p.rate", "more than 0");
	expect_error(P("\"rate\": -1"), "pollers.p.rate", "more than 0");
	expect_error(P("\"rate\": \"5/s\""), "pollers.p.rate", "number");
	expect_error(P("\"rate\": 5, \"burst\": 0"), "pollers.p.burst",
	    "between");
	expect_error(P("\"rate\": 5, \"burst\": 2.5"), "pollers.p.burst",
	    "whole");
	expect_error(P("\"burst\": 3"), "pollers.p.burst", "needs a rate");
	c = expect_ok(P("\"rate\": 7.5"));
	ck_assert_double_eq(c->pollers[0]->rate, 7.5);
	ck_assert_uint_eq(c->pollers[0]->burst, 7);
	conf_free(c);
	c = expect_ok(P("\"rate\": 0.2"));
	ck_assert_uint_eq(c->pollers[0]->burst, 1);
	conf_free(c);
	c = expect_ok(P("\"rate\": 2, \"burst\": 50"));
	ck_assert_uint_eq(c->pollers[0]->burst, 50);
	conf_free(c);
	c = expect_ok(P("\"interval\": \"5s\""));
	ck_assert(c->pollers[0]->rate == 0);
	conf_free(c);
#undef P
}
END_TEST

START_TEST(test_relative_program_path)
{
	struct conf *c = expect_ok("{\"pollers\": {\"p\": {\"kind\": \"exec\","
	    " \"poll\": [\"bin/poll\", \"a/b\"], \"start\": [\"sh\"]}}}");

	/* Relative to the file's directory; bare names use PATH. */
	ck_assert(c->npollers == 1);
	conf_free(c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf *c = NULL;
	char *cause = NULL;

	ck_assert_int_eq(conf_load("/nonexistent/pollexd.conf", &c, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/pollexd.conf"));
	ck_assert_ptr_nonnull(strstr(cause, "No such file"));
	free(cause);
	ck_assert_int_eq(conf_load(dir, &c, &cause), -1);	/* a directory */
	ck_assert_ptr_nonnull(strstr(cause, "not a regular file"));
	free(cause);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_configuration);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_admin_group_resolved_at_load);
	tcase_add_test(tc, test_syntax_errors_name_line);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_strings_must_be_utf8);
	tcase_add_test(tc, test_metrics_listen);
	tcase_add_test(tc, test_bad_pollers);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_relative_program_path);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(conf_suite());
}
