/* SPDX-License-Identifier: ISC */
/* check_rules.c: JSON pointers, request templates and outcome rules. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "rules.h"
#include "testlib.h"

static json_object *
J(const char *text)
{
	json_object *o = json_tokener_parse(text);

	ck_assert_msg(o != NULL, "bad test JSON: %s", text);
	return o;
}

START_TEST(test_pointers)
{
	json_object *d = J("{\"a\": {\"b/c\": [10, 20, {\"~x\": 3}]}, "
	    "\"\": 7, \"n\": null}");

	ck_assert(jptr_valid(""));
	ck_assert(jptr_valid("/a/b~1c/0"));
	ck_assert(!jptr_valid("a"));
	ck_assert(!jptr_valid("/a~2"));
	ck_assert_ptr_eq(jptr_get(d, ""), d);
	ck_assert_int_eq(json_object_get_int(jptr_get(d, "/a/b~1c/1")), 20);
	ck_assert_int_eq(json_object_get_int(jptr_get(d, "/a/b~1c/2/~0x")), 3);
	ck_assert_int_eq(json_object_get_int(jptr_get(d, "/")), 7);
	ck_assert_ptr_null(jptr_get(d, "/a/b~1c/3"));
	ck_assert_ptr_null(jptr_get(d, "/a/b~1c/01"));
	ck_assert_ptr_null(jptr_get(d, "/a/b~1c/-"));
	ck_assert_ptr_null(jptr_get(d, "/a/x"));
	ck_assert_ptr_null(jptr_get(d, "/a/b~1c/0/deeper"));
	json_object_put(d);
}
END_TEST

/* Read a request template from JSON text; NULL and *err on error. */
static struct req_tmpl *
tread(const char *text, int batch, char *err, size_t len)
{
	json_object *o = J(text);
	struct cfg *c = cfg_open(o, "test.conf", "/tmp");
	struct req_tmpl *t = req_tmpl_read(c, "req", batch);

	snprintf(err, len, "%s", cfg_errmsg(c) != NULL ? cfg_errmsg(c) : "");
	cfg_free(c);
	json_object_put(o);
	return t;
}

START_TEST(test_render_per_task)
{
	struct tmpl_task tt = { "0123abcd", "{\"task_id\": 42, \"name\": "
	    "\"a b/c\"}", "{\"n\": [1, 2], \"s\": \"x\\ny\"}",
	    "{\"team\": \"web\"}", NULL };
	struct req_tmpl *t;
	struct req r;
	char err[512], *why = NULL;

	t = tread("{\"req\": {\"method\": \"PUT\", "
	    "\"url\": \"/things/{{ref/name}}/{{ref/task_id}}?n={{args/n}}\", "
	    "\"headers\": {\"Idempotency-Key\": \"k-{{id}}\", "
	    "\"X-Team\": \"{{labels/team}}\"}, "
	    "\"body\": {\"whole\": \"{{args/n}}\", \"text\": \"id={{ref/task_id}}\", "
	    "\"keep\": [true, null, 1.5], \"all\": \"{{args}}\"}}}", 0, err,
	    sizeof err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), 0);
	ck_assert_str_eq(r.method, "PUT");
	ck_assert_str_eq(r.url, "/things/a%20b%2Fc/42?n=1,2");
	ck_assert_str_eq(r.headers[0], "Idempotency-Key: k-0123abcd");
	ck_assert_str_eq(r.headers[1], "X-Team: web");
	ck_assert_ptr_null(r.headers[2]);
	ck_assert_str_eq(r.body, "{\"whole\":[1,2],\"text\":\"id=42\","
	    "\"keep\":[true,null,1.5],\"all\":{\"n\":[1,2],\"s\":\"x\\ny\"}}");
	req_clear(&r);

	/* A value with a line break cannot go into a header. */
	req_tmpl_free(t);
	t = tread("{\"req\": {\"url\": \"/x\", \"headers\": "
	    "{\"X-S\": \"{{args/s}}\"}}}", 0, err, sizeof err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), -1);
	ck_assert_msg(strstr(why, "line break") != NULL, "%s", why);
	free(why);
	why = NULL;
	req_tmpl_free(t);

	/* Something the task lacks is an error naming it. */
	t = tread("{\"req\": {\"url\": \"/x/{{ref/missing}}\"}}", 0, err,
	    sizeof err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), -1);
	ck_assert_msg(strstr(why, "0123abcd") && strstr(why, "/missing"),
	    "%s", why);
	free(why);
	req_tmpl_free(t);
	/* Method defaults: GET, or POST with a body. */
	t = tread("{\"req\": {\"url\": \"/x\", \"body\": {}}}", 0, err,
	    sizeof err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), 0);
	ck_assert_str_eq(r.method, "POST");
	req_clear(&r);
	req_tmpl_free(t);
}
END_TEST

/* Numbers in a body as JSON spells them: json-c reads the file leniently
 * and keeps "01.5", "1.", "-.5" (the fuzz reproducer
 * templates-number-spelling); a spelling JSON has is kept. */
START_TEST(test_render_number_spelling)
{
	struct tmpl_task tt = { "0123abcd", "{}", NULL, NULL, NULL };
	struct req_tmpl *t;
	struct req r;
	char err[512], *why = NULL;
	struct jspan v;

	t = tread("{\"req\": {\"url\": \"/x\", \"body\": {\"a\": 01.5, "
	    "\"b\": [1., -.5, 2.50, 1e2, 0.1, -0.0], \"c\": -01, "
	    "\"d\": \"{{id}}\"}}}", 0, err, sizeof err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), 0);
	ck_assert_msg(jspan_check(r.body, strlen(r.body), 64, &v, NULL,
	    NULL) == 0, "not JSON: %s", r.body);
	ck_assert_str_eq(r.body, "{\"a\":1.5,\"b\":[1.0,-0.5,2.50,1e2,0.1,"
	    "-0.0],\"c\":-1,\"d\":\"0123abcd\"}");
	req_clear(&r);
	req_tmpl_free(t);
	/* A body that is only a number. */
	t = tread("{\"req\": {\"url\": \"/x\", \"body\": -.5}}", 0, err,
	    sizeof err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &r, &why), 0);
	ck_assert_str_eq(r.body, "-0.5");
	req_clear(&r);
	req_tmpl_free(t);
}
END_TEST

START_TEST(test_render_batch)
{
	struct tmpl_task *tt = calloc(1000, sizeof *tt);
	char (*ref)[32] = calloc(1000, 32), id[32], err[512], *why = NULL;
	struct req_tmpl *t;
	struct req r;
	json_object *b, *a;
	size_t i;

	/* Even tasks give their ref as text; odd ones already parsed
	 * (with text that is not JSON, so only the parsed one can work). */
	for (i = 0; i < 1000; i++) {
		snprintf(ref[i], 32, "{\"task_id\": %zu}", i + 1);
		tt[i].id = "x";
		tt[i].ref = i % 2 ? "not JSON" : ref[i];
		tt[i].ref_doc = i % 2 ? jparse(ref[i]) : NULL;
	}
	t = tread("{\"req\": {\"method\": \"POST\", \"url\": "
	    "\"/search?first={{ids}}\", \"body\": {\"task_id\": "
	    "\"{{refs/task_id}}\"}}}", 1, err, sizeof err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(req_tmpl_render(t, tt, 1000, &r, &why), 0);
	b = J(r.body);
	ck_assert(json_object_object_get_ex(b, "task_id", &a));
	ck_assert_uint_eq(json_object_array_length(a), 1000);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(json_object_get_int(
		    json_object_array_get_idx(a, i)), (int)i + 1);
	json_object_put(b);
	ck_assert_int_eq(strncmp(r.url, "/search?first=x,x,", 18), 0);
	req_clear(&r);
	req_tmpl_free(t);
	(void)id;
	for (i = 0; i < 1000; i++)
		json_object_put(tt[i].ref_doc);
	free(tt);
	free(ref);
}
END_TEST

/* jparse: one tokener for every parse, reset between them. */
START_TEST(test_jparse)
{
	json_object *o;

	ck_assert_ptr_null(jparse(NULL));
	ck_assert_ptr_null(jparse("{\"a\": "));	/* incomplete */
	o = jparse("{\"a\": [1, 2]}");		/* after an incomplete one */
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_object_get_int(jptr_get(o, "/a/1")), 2);
	json_object_put(o);
	ck_assert_ptr_null(jparse("nope"));
	ck_assert_ptr_null(jparse("{\"a\": 1}}"));	/* trailing garbage */
	o = jparse("42");
	ck_assert_int_eq(json_object_get_int(o), 42);
	json_object_put(o);
}
END_TEST

/* Text json-c takes and jspan_check() refuses is still read in place
 * (after json-c rewrote it); text neither takes is refused. */
START_TEST(test_check_json_lenient)
{
	static const char text[] = "{\"a\": \"x\ty\", \"n\": 1., "
	    "\"id\": 7}   ";
	struct jspan d, v;
	const char *s;
	char *redo, *alloc;
	size_t n;
	json_object *o;
	struct tmpl_task tt = { "t1", "{\"task_id\": \"a\tb\"}", NULL, NULL,
	    NULL };
	struct req rq;
	struct req_tmpl *t;
	char *why = NULL, err[256];

	ck_assert_int_eq(jspan_check(text, strlen(text), 64, &d, NULL, NULL),
	    -1);
	ck_assert_int_eq(jspan_check_json(text, strlen(text), &d, &redo), 0);
	ck_assert_ptr_nonnull(redo);
	ck_assert(jspan_pointer(d, "/a", &v));
	ck_assert_int_eq(jspan_string(v, &s, &n, &alloc), 0);
	ck_assert(n == 3 && memcmp(s, "x\ty", 3) == 0);
	free(alloc);
	ck_assert(jspan_pointer(d, "/n", &v));
	o = jspan_json(v);
	ck_assert(json_object_get_double(o) == 1.0);
	json_object_put(o);
	free(redo);
	/* Good JSON needs no rewriting. */
	ck_assert_int_eq(jspan_check_json("{\"id\": 7}", 9, &d, &redo), 0);
	ck_assert_ptr_null(redo);
	ck_assert_int_eq(jspan_check_json("{\"a\": ", 6, &d, &redo), -1);
	ck_assert_ptr_null(redo);
	ck_assert_int_eq(jspan_check_json("{\"a\": 1} x", 10, &d, &redo), -1);
	/* A ref with a raw tab renders, as it did when refs were parsed. */
	t = tread("{\"req\": {\"method\": \"POST\", \"url\": \"/s\", "
	    "\"body\": {\"ids\": \"{{refs/task_id}}\"}}}", 1, err, sizeof err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(req_tmpl_render(t, &tt, 1, &rq, &why), 0);
	ck_assert_str_eq(rq.body, "{\"ids\":[\"a\\tb\"]}");
	req_clear(&rq);
	req_tmpl_free(t);
}
END_TEST

/* A text that fails right after "\ud83d" leaves nothing in the reused
 * tokeners for the next text: "\u00e9" is "é", not U+FFFD and "é". */
START_TEST(test_tokener_no_pending_surrogate)
{
	static const char cafe[] = "\"caf\xc3\xa9\"";
	static const char lax[] = "{\"a\": \"caf\\u00e9\", \"t\": \"\t\"}";
	struct jspan d, v;
	json_object *o;
	char *redo, *s;

	ck_assert_ptr_null(jparse("{\"a\": \"\\ud83d\\u00zz\"}"));
	o = jparse("\"caf\\u00e9\"");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_NOSLASHESCAPE), cafe);
	json_object_put(o);

	ck_assert_int_eq(jspan_check_json("{\"a\": \"\t\\ud83d\\u", 16, &d,
	    &redo), -1);
	ck_assert_int_eq(jspan_check_json(lax, strlen(lax), &d, &redo), 0);
	ck_assert_ptr_nonnull(redo);
	ck_assert(jspan_pointer(d, "/a", &v));
	s = strndup(v.p, v.n);
	ck_assert_str_eq(s, cafe);
	free(s);
	free(redo);
}
END_TEST

START_TEST(test_template_errors)
{
	static const struct {
		const char *text;
		int batch;
		const char *want;
	} cases[] = {
		{ "{\"req\": {\"url\": \"/x/{{nope}}\"}}", 0,
		  "test.conf: req.url: {{nope}}: unknown placeholder" },
		{ "{\"req\": {\"url\": \"/x/{{refs/id}}\"}}", 0,
		  "test.conf: req.url: {{refs/id}}: \"refs\" is only for batch" },
		{ "{\"req\": {\"url\": \"/x/{{ref/id}}\"}}", 1,
		  "test.conf: req.url: {{ref/id}}: \"ref\" is only for per-task" },
		{ "{\"req\": {\"url\": \"/x/{{ref\"}}", 0,
		  "test.conf: req.url: \"{{\" without \"}}\"" },
		{ "{\"req\": {\"url\": \"/x/{{refnope}}\"}}", 0,
		  "unknown placeholder" },
		{ "{\"req\": {\"url\": \"/x/{{ref~}}\"}}", 0, "unknown placeholder" },
		{ "{\"req\": {\"url\": \"/x\", \"method\": \"get\"}}", 0,
		  "test.conf: req.method: \"get\" is not an HTTP method" },
		{ "{\"req\": {\"method\": \"GET\"}}", 0,
		  "test.conf: req.url: missing" },
		{ "{\"req\": {\"url\": \"/x\", \"headers\": {\"Bad Name\": "
		  "\"v\"}}}", 0, "test.conf: req.headers: \"Bad Name\" is not" },
		{ "{\"req\": {\"url\": \"/x\", \"body\": {\"a\": [\"{{id}\"]}}}", 0,
		  "test.conf: req.body: \"{{\" without" },
		{ "{\"req\": {\"url\": \"/x\", \"bogus\": 1}}", 0,
		  "test.conf: req.bogus: unknown key" },
		{ "{\"req\": \"/x\"}", 0, "test.conf: req: must be an object" },
		/* JSON has no NaN or Infinity, which json-c reads. */
		{ "{\"req\": {\"url\": \"/x\", \"body\": {\"a\": [1, NaN]}}}",
		  0, "test.conf: req.body: /a/1: NaN is not a JSON number" },
		{ "{\"req\": {\"url\": \"/x\", \"body\": {\"a\": {\"b/~\": "
		  "-Infinity}}}}", 1, "test.conf: req.body: /a/b~1~0: -Infinity "
		  "is not a JSON number" },
		{ "{\"req\": {\"url\": \"/x\", \"body\": Infinity}}", 0,
		  "test.conf: req.body: Infinity is not a JSON number" },
	};
	char err[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(tread(cases[i].text, cases[i].batch, err,
		    sizeof err) == NULL, "case %zu accepted", i);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
	}
}
END_TEST

/* ------------------------------------------------------------------ */

static struct rules *
rread(const char *text, char *err, size_t len)
{
	json_object *o = J(text);
	struct cfg *c = cfg_open(o, "test.conf", "/tmp");
	struct rules *r = rules_read(c, "outcome");

	snprintf(err, len, "%s", cfg_errmsg(c) != NULL ? cfg_errmsg(c) : "");
	cfg_free(c);
	json_object_put(o);
	return r;
}

static const char *
hdr(void *arg, const char *name)
{
	(void)arg;
	return strcasecmp(name, "X-State") == 0 ? "Done" : NULL;
}

/* One evaluation: the state, result/message in buf, the progress. */
static enum px_state
eval1(struct rules *r, struct rule_input *in, char *buf, size_t len,
    double *progress)
{
	struct rules_scratch sc = { NULL, NULL, NULL };
	struct outcome o;

	rules_eval(r, in, &o, &sc);
	snprintf(buf, len, "%s%s%s", o.result ? o.result : "",
	    o.code ? o.code : "", o.message ? o.message : "");
	if (o.code != NULL && o.message != NULL)
		snprintf(buf, len, "%s: %s", o.code, o.message);
	*progress = o.progress;
	rules_scratch_clear(&sc);
	return o.state;
}

#define FFFD "\xef\xbf\xbd"		/* U+FFFD in UTF-8 */

/*
 * Evaluate rules on doc with status; returns the state, result/message in
 * buf.  A JSON doc is evaluated twice, parsed (as http-each reads a body,
 * jparse_body()) and read in place (as http-batch reads search items,
 * jspan_check_json()), and both must say the same; so must their verdicts
 * on whether doc is JSON at all (a doc that is not is evaluated as no
 * body).
 */
static enum px_state
eval(struct rules *r, const char *doc, long status, int terr, char *buf,
    size_t len, double *progress)
{
	struct rule_input in;
	struct jspan span;
	struct jspan_index ix;
	json_object *d = doc != NULL ? jparse_body(doc, strlen(doc)) : NULL;
	enum px_state st, st2;
	char buf2[512], *redo = NULL;
	double p, p2;
	int inplace;

	memset(&in, 0, sizeof in);
	in.status = status;
	in.transport_error = terr;
	in.error_text = terr ? "connection refused" : NULL;
	in.doc = d;
	in.header = hdr;
	st = eval1(r, &in, buf, len, &p);
	if (doc != NULL) {
		inplace = jspan_check_json(doc, strlen(doc), &span, &redo) == 0;
		ck_assert_msg(inplace == (d != NULL || strcmp(doc, "null") == 0),
		    "%s: JSON %s in place, %s parsed", doc,
		    inplace ? "yes" : "no", d != NULL ? "yes" : "no");
	} else
		inplace = 0;
	if (inplace) {
		in.doc = NULL;
		in.span = &span;
		st2 = eval1(r, &in, buf2, sizeof buf2, &p2);
		ck_assert_msg(st2 == st, "%s: state %d in place, %d parsed",
		    doc, st2, st);
		ck_assert_msg(strcmp(buf2, buf) == 0, "%s: \"%s\" in place, "
		    "\"%s\" parsed", doc, buf2, buf);
		ck_assert_msg((isnan(p) && isnan(p2)) || p == p2,
		    "%s: progress %g in place, %g parsed", doc, p2, p);
		/* Through the index of its members, as http-batch reads a
		 * search's items: the same again. */
		jspan_index_init(&ix, span);
		in.span_index = &ix;
		st2 = eval1(r, &in, buf2, sizeof buf2, &p2);
		ck_assert_msg(st2 == st && strcmp(buf2, buf) == 0 &&
		    ((isnan(p) && isnan(p2)) || p == p2),
		    "%s: through the member index: state %d \"%s\" %g, "
		    "parsed: %d \"%s\" %g", doc, st2, buf2, p2, st, buf, p);
	}
	free(redo);
	if (progress != NULL)
		*progress = p;
	json_object_put(d);
	return st;
}

START_TEST(test_rules_eval)
{
	struct rules *r;
	char err[512], buf[512];
	double p;

	r = rread("{\"outcome\": {\"rules\": ["
	    "{\"error\": true, \"state\": \"failed\"},"
	    "{\"status\": 404, \"state\": \"failed\"},"
	    "{\"status\": \"5xx\", \"state\": \"pending\"},"
	    "{\"path\": \"/status\", \"in\": [\"succeeded\", \"done\"], "
	    " \"ignore_case\": true, \"state\": \"succeeded\"},"
	    "{\"path\": \"/status\", \"equals\": \"Failed\", \"state\": \"failed\"},"
	    "{\"path\": \"/steps\", \"all\": \"ok\", \"state\": \"succeeded\"},"
	    "{\"path\": \"/steps\", \"any\": \"broken\", \"state\": \"failed\"},"
	    "{\"path\": \"/n\", \"equals\": 1, \"state\": \"succeeded\"},"
	    "{\"header\": \"X-State\", \"equals\": \"done\", \"ignore_case\": true,"
	    " \"state\": \"succeeded\"}],"
	    "\"result\": \"/out\", \"error_message\": \"/error/message\","
	    "\"error_code\": \"/error/code\", \"progress\": \"/pct\"}}",
	    err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(eval(r, NULL, 0, 1, buf, sizeof buf, NULL),
	    PX_STATE_FAILED);
	ck_assert_str_eq(buf, "transport_error: connection refused");
	ck_assert_int_eq(eval(r, "{}", 404, 0, buf, sizeof buf, NULL),
	    PX_STATE_FAILED);
	ck_assert_msg(strstr(buf, "HTTP 404") && strstr(buf, "rule 1"), "%s",
	    buf);
	ck_assert_int_eq(eval(r, "{\"status\": \"succeeded\"}", 503, 0, buf,
	    sizeof buf, NULL), PX_STATE_PENDING);
	ck_assert_int_eq(eval(r, "{\"status\": \"SUCCEEDED\", \"out\": "
	    "{\"b\": 2, \"a\": 1}, \"pct\": 0.5}", 200, 0, buf, sizeof buf, &p),
	    PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "{\"a\":1,\"b\":2}");
	ck_assert(p == 0.5);
	/* equals is case-sensitive without ignore_case: "FAILED" falls
	 * through to the last rule (the header, "Done" here) */
	ck_assert_int_eq(eval(r, "{\"status\": \"FAILED\"}", 200, 0, buf,
	    sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_int_eq(eval(r, "{\"status\": \"Failed\", \"error\": {\"code\": "
	    "\"Quota\", \"message\": \"no quota\"}}", 200, 0, buf, sizeof buf,
	    NULL), PX_STATE_FAILED);
	ck_assert_str_eq(buf, "Quota: no quota");
	ck_assert_int_eq(eval(r, "{\"steps\": [\"ok\", \"ok\"]}", 200, 0, buf,
	    sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "null");	/* no /out */
	ck_assert_int_eq(eval(r, "{\"steps\": [\"ok\", \"broken\"]}", 200, 0,
	    buf, sizeof buf, NULL), PX_STATE_FAILED);
	ck_assert_int_eq(eval(r, "{\"steps\": []}", 200, 0, buf, sizeof buf,
	    NULL), PX_STATE_SUCCEEDED);	/* the header rule */
	ck_assert_int_eq(eval(r, "{\"n\": 1.0}", 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_SUCCEEDED);
	/* Escapes, nulls, repeated names (the last counts), numbers in
	 * other spellings: the same outcome parsed and in place. */
	ck_assert_int_eq(eval(r, "{\"status\": \"D\\u006fne\", \"out\": "
	    "[1e2, -0, \"\\/x\\n\"], \"pct\": 25}", 200, 0, buf, sizeof buf,
	    &p), PX_STATE_SUCCEEDED);
	ck_assert(p == 25);
	ck_assert_int_eq(eval(r, "{\"status\": null, \"steps\": [\"ok\", "
	    "null]}", 200, 0, buf, sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"status\": "
	    "\"Failed\", \"error\": {\"code\": 7, \"message\": null}}", 200, 0,
	    buf, sizeof buf, NULL), PX_STATE_FAILED);
	ck_assert_int_eq(eval(r, "{\"n\": 10e-1, \"pct\": \"half\"}", 200,
	    0, buf, sizeof buf, &p), PX_STATE_SUCCEEDED);
	ck_assert(isnan(p));
	ck_assert_int_eq(eval(r, "{\"n\": 2, \"out\": 1}", 200, 0, buf,
	    sizeof buf, NULL), PX_STATE_SUCCEEDED);	/* the header rule */
	/* A number json-c takes beyond RFC 8259 is respelt, read whole or
	 * in place: the result is JSON, the same both ways. */
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"out\": {\"v\": 02.5, "
	    "\"w\": [-01, 1.]}}", 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "{\"v\":2.5,\"w\":[-1,1.0]}");
	/* Lax UTF-8 json-c takes (a 4-byte form past U+10FFFF, an overlong
	 * form, an encoded surrogate: the fuzz reproducer
	 * rules-lax-utf8-refused) is read both ways, as U+FFFD. */
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"out\": "
	    "\"\xf7\x96\x93\x86\"}", 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "\"" FFFD FFFD FFFD FFFD "\"");
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"out\": "
	    "[\"\xc0\xaf\", \"\xed\xa0\x80\"]}", 200, 0, buf, sizeof buf,
	    NULL), PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "[\"" FFFD FFFD "\",\"" FFFD FFFD FFFD "\"]");
	/* A number too large for a double keeps its spelling when a raw
	 * control character sends the text through json-c (the fuzz
	 * reproducer rules-overflow-respelt), as it does without one. */
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"out\": 1e999}",
	    200, 0, buf, sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "1e999");
	ck_assert_int_eq(eval(r, "{\"status\": \"done\", \"a\": \"\x01\", "
	    "\"out\": 1e999}", 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "1e999");
	/* A name with an escaped NUL is the part before it, both ways. */
	ck_assert_int_eq(eval(r, "{\"status\\u0000x\": \"done\"}", 200, 0,
	    buf, sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_int_eq(eval(r, "{\"out\\u0000\": 5, \"status\": \"done\"}",
	    200, 0, buf, sizeof buf, NULL), PX_STATE_SUCCEEDED);
	ck_assert_str_eq(buf, "5");
	rules_free(r);

	/* default state; a body that is not JSON sees no path matcher */
	r = rread("{\"outcome\": {\"rules\": [{\"path\": \"/x\", \"exists\": "
	    "false, \"state\": \"pending\"}], \"default\": \"failed\"}}", err,
	    sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(eval(r, NULL, 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_PENDING);
	ck_assert_int_eq(eval(r, "{\"x\": 1}", 200, 0, buf, sizeof buf, NULL),
	    PX_STATE_FAILED);
	ck_assert_msg(strstr(buf, "default is failed"), "%s", buf);
	rules_free(r);
}
END_TEST

/* Generated items: every rule kind, parsed and read in place, the same
 * outcome (eval() compares the two). */
START_TEST(test_rules_generated_items)
{
	static const char *const keys[] = { "status", "steps", "n", "out",
		"error", "pct", "st\\u0061tus", "status\\u0000x",
		"n\\u0000", "\\u006e", "out\\u0000\\u0000", "p\\u0063t" };
	static const char *const vals[] = { "\"succeeded\"", "\"DONE\"",
		"\"Failed\"", "\"fa\\u0069led\"", "\"ok\"", "\"broken\"", "1",
		"1.0", "10e-1", "-0", "2", "0.5", "null", "true", "[]",
		"[\"ok\"]", "[\"ok\", \"ok\"]", "[\"ok\", \"broken\"]",
		"[\"ok\", null]", "{\"code\": \"E\", \"message\": \"m\"}",
		"{\"code\": 7}", "{\"b\": [1, {\"c\": \"\\n\"}], \"a\": 1}",
		"\"\"",
		/* numbers json-c takes beyond RFC 8259, and edges */
		"02.5", "-01", "00", "1.", "-.5", "0.E5", "1e400", "-1e400",
		"1E+2", "1e0001", "-0.0", "2.50", "18446744073709551616",
		"9223372036854775808", "-9223372036854775809", "NaN",
		"[1, 02.5]", "{\"b\": 01.0, \"a\": [1.]}",
		/* strings with NULs, lone surrogates, bad UTF-8 */
		"\"done\\u0000\"", "\"a\\u0000b\"", "\"\\ud800\"",
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"d\tne\"",
		"[\"ok\", \"o\\u006b\"]" };
	struct rules *r, *r2;
	char err[512], buf[512], doc[1024];
	unsigned seed = 7;
	size_t n, k, m;
	int i, seen[PX_STATE_COUNT] = { 0 };

	r = rread("{\"outcome\": {\"rules\": ["
	    "{\"path\": \"/status\", \"in\": [\"succeeded\", \"done\"], "
	    " \"ignore_case\": true, \"state\": \"succeeded\"},"
	    "{\"path\": \"/status\", \"equals\": \"Failed\", \"state\": \"failed\"},"
	    "{\"path\": \"/steps\", \"all\": \"ok\", \"state\": \"succeeded\"},"
	    "{\"path\": \"/steps\", \"any\": \"broken\", \"state\": \"failed\"},"
	    "{\"path\": \"/error/code\", \"exists\": true, \"state\": \"failed\"},"
	    "{\"path\": \"/out/b/1/c\", \"equals\": \"\\n\", \"state\": "
	    "\"succeeded\"},"
	    "{\"path\": \"/n\", \"equals\": 1, \"state\": \"succeeded\"}],"
	    "\"result\": \"/out\", \"error_message\": \"/error/message\","
	    "\"error_code\": \"/error/code\", \"progress\": \"/pct\"}}",
	    err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	r2 = rread("{\"outcome\": {\"rules\": ["
	    "{\"path\": \"/status\", \"equals\": \"done\\u0000\", "
	    " \"state\": \"failed\"},"
	    "{\"path\": \"/n\", \"in\": [2.5, 100, -1], \"state\": "
	    "\"succeeded\"},"
	    "{\"path\": \"/status\", \"equals\": \"DONE\", \"ignore_case\": "
	    "true, \"state\": \"succeeded\"},"
	    "{\"path\": \"/out/b\", \"exists\": true, \"state\": \"failed\"},"
	    "{\"path\": \"/status\", \"equals\": \"\\ufffd\", \"state\": "
	    "\"failed\"}],"
	    "\"result\": \"\", \"error_message\": \"/status\","
	    "\"error_code\": \"/n\", \"progress\": \"/n\"}}",
	    err, sizeof err);
	ck_assert_msg(r2 != NULL, "%s", err);
	for (i = 0; i < 10000; i++) {
		n = (size_t)snprintf(doc, sizeof doc, "{");
		m = (size_t)(rand_r(&seed) % 5);
		for (k = 0; k < m; k++)
			n += (size_t)snprintf(doc + n, sizeof doc - n,
			    "%s\"%s\": %s", k > 0 ? ", " : "",
			    keys[rand_r(&seed) % (sizeof keys / sizeof keys[0])],
			    vals[rand_r(&seed) % (sizeof vals / sizeof vals[0])]);
		snprintf(doc + n, sizeof doc - n, "}");
		seen[eval(r, doc, 200, 0, buf, sizeof buf, NULL)]++;
		eval(r2, doc, 200, 0, buf, sizeof buf, NULL);
	}
	/* Every outcome came up. */
	ck_assert_int_gt(seen[PX_STATE_PENDING], 100);
	ck_assert_int_gt(seen[PX_STATE_SUCCEEDED], 100);
	ck_assert_int_gt(seen[PX_STATE_FAILED], 100);
	rules_free(r);
	rules_free(r2);
}
END_TEST

START_TEST(test_rules_errors)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "{\"outcome\": {}}", "test.conf: outcome.rules: missing" },
		{ "{\"outcome\": {\"rules\": {}}}", "outcome.rules: expected an array" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"equals\": 1}]}}",
		  "outcome.rules[0].state: expected" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"equals\": 1, "
		  "\"state\": \"ok\"}]}}", "outcome.rules[0].state: expected" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"equals\": 1, "
		  "\"state\": \"failed\"}, {\"path\": \"a\", \"equals\": 1, "
		  "\"state\": \"failed\"}]}}",
		  "outcome.rules[1].path: expected a JSON pointer" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"state\": "
		  "\"failed\"}]}}", "outcome.rules[0].path: needs exactly one of" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"status\": 200, "
		  "\"state\": \"failed\"}]}}", "outcome.rules[0]: needs exactly one" },
		{ "{\"outcome\": {\"rules\": [{\"status\": 700, \"state\": "
		  "\"failed\"}]}}", "outcome.rules[0].status: 700 is not" },
		{ "{\"outcome\": {\"rules\": [{\"status\": \"2yy\", \"state\": "
		  "\"failed\"}]}}", "outcome.rules[0].status: expected" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"in\": [], "
		  "\"state\": \"failed\"}]}}", "outcome.rules[0].in: expected" },
		{ "{\"outcome\": {\"rules\": [{\"path\": \"/a\", \"equals\": 1, "
		  "\"state\": \"failed\", \"colour\": 1}]}}",
		  "outcome.rules[0].colour: unknown key" },
		{ "{\"outcome\": {\"rules\": [{\"header\": \"X\", \"state\": "
		  "\"failed\"}]}}", "outcome.rules[0].header: needs" },
		{ "{\"outcome\": {\"rules\": [], \"result\": \"x\"}}",
		  "outcome.result: expected a JSON pointer" },
		{ "{\"outcome\": {\"rules\": [], \"default\": \"maybe\"}}",
		  "outcome.default: expected" },
		{ "{\"outcome\": {\"rules\": [], \"extra\": 1}}",
		  "outcome.extra: unknown key" },
	};
	char err[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(rread(cases[i].text, err, sizeof err) == NULL,
		    "case %zu accepted", i);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
	}
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("all");

	tcase_add_test(tc, test_pointers);
	tcase_add_test(tc, test_render_per_task);
	tcase_add_test(tc, test_render_number_spelling);
	tcase_add_test(tc, test_render_batch);
	tcase_add_test(tc, test_jparse);
	tcase_add_test(tc, test_tokener_no_pending_surrogate);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_rules_eval);
	tcase_add_test(tc, test_check_json_lenient);
	tcase_add_test(tc, test_rules_errors);
	suite_add_tcase(s, tc);
	/* Thousands of documents, two ways: more time under the sanitizers. */
	tc = tcase_create("generated");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rules_generated_items);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(rules_suite());
}
