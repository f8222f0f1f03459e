/* SPDX-License-Identifier: ISC */
/*
 * fuzz_templates.c: the request templates of the HTTP pollers
 * (daemon/http/rules.c: req_tmpl_read, req_tmpl_render).
 *
 * The input's first byte chooses per-task or batch and the number of
 * tasks (1 to 4); the rest is four pieces cut at "\n--\n": the request
 * template ("method", "url", "headers", "body"), then a ref, arguments
 * and labels (JSON texts, each used only when json-c takes it).  Every
 * task is rendered with its ref as text (read in place) and again with
 * the ref already parsed (ref_doc, as the batch pollers pass some): both
 * must give the same request.  A request must be well formed: a method,
 * a URL, headers without CR or LF, and a body that is JSON.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzzlib.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

FZ_DEFINE_INIT()

/* A piece as JSON text when json-c's strict mode takes it, else NULL. */
static char *
json_piece(const uint8_t *p, size_t len, json_type want)
{
	struct json_tokener *tok;
	json_object *o;
	char *text;
	int ok;

	if (p == NULL)
		return NULL;
	text = fz_strndup(p, len);
	tok = json_tokener_new_ex(64);
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) >= len &&
	    (want == json_type_null || json_object_is_type(o, want));
	json_tokener_free(tok);
	/* Labels are an object of strings. */
	if (ok && want == json_type_object) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (!json_object_is_type(v, json_type_string))
				ok = 0;
		}
	}
	json_object_put(o);
	if (!ok) {
		free(text);
		return NULL;
	}
	return text;
}

/* Two rendered requests are the same. */
static void
same_req(const struct req *a, const struct req *b, int lenient)
{
	size_t i;

	/* A lenient ref ("1.", lax UTF-8, NaN) renders differently read in
	 * place and parsed; pollexd never has one, since refs are stored as
	 * strict JSON (json_canonical(), UTF-8 repaired). */
	if (lenient)
		return;

	FZ_CHECK(strcmp(a->method, b->method) == 0, "method %s / %s",
	    a->method, b->method);
	FZ_CHECK(strcmp(a->url, b->url) == 0, "url %s in place, %s parsed",
	    a->url, b->url);
	for (i = 0; a->headers[i] != NULL && b->headers[i] != NULL; i++)
		FZ_CHECK(strcmp(a->headers[i], b->headers[i]) == 0,
		    "header %s in place, %s parsed", a->headers[i],
		    b->headers[i]);
	FZ_CHECK(a->headers[i] == NULL && b->headers[i] == NULL,
	    "header counts differ");
	/* A value is copied as it was spelt in place and printed by json-c
	 * parsed ("\u00e9" or "é"): the same JSON, not the same bytes. */
	FZ_CHECK(fz_same_json(a->body, b->body),
	    "body %s in place, %s parsed", a->body, b->body);
}

/* A rendered request is well formed. */
static void
well_formed(const struct req *r)
{
	struct jspan v;
	size_t i;

	FZ_CHECK(r->method != NULL && *r->method != '\0', "no method");
	FZ_CHECK(r->url != NULL, "no url");
	for (i = 0; r->headers != NULL && r->headers[i] != NULL; i++)
		FZ_CHECK(strpbrk(r->headers[i], "\r\n") == NULL,
		    "a line break in header \"%s\"", r->headers[i]);
	if (r->body != NULL)
		FZ_CHECK(jspan_check(r->body, strlen(r->body), 256, &v, NULL,
		    NULL) == 0, "the body is not JSON: %s", r->body);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *why0;
	const uint8_t *pp[4] = { NULL, NULL, NULL, NULL };
	size_t pl[4] = { 0, 0, 0, 0 }, k = 0, n, i;
	struct fz_cut cut;
	struct tmpl_task tt[4], tp[4];
	struct req_tmpl *t;
	struct req r1, r2;
	struct cfg *c;
	json_object *conf, *wrap, *refdoc;
	char *ref, *args, *labels, *why1 = NULL, *why2 = NULL;
	char ids[4][24];
	int batch, rv1, rv2, lenient;

	if (size < 1 || size > 1 << 16)
		return 0;
	batch = data[0] & 1;
	n = batch ? 1 + ((data[0] >> 1) & 3) : 1;
	fz_cut_init(&cut, data + 1, size - 1);
	while (k < 4 && fz_piece(&cut, &pp[k], &pl[k]))
		k++;
	conf = fz_conf_parse(pp[0], pl[0]);
	if (conf == NULL)
		return 0;
	/* conf_load() refuses a file with a string that is not UTF-8. */
	if (conf_check_strings(conf, "", &why0) == -1) {
		free(why0);
		json_object_put(conf);
		return 0;
	}
	wrap = json_object_new_object();
	json_object_object_add(wrap, "req", conf);
	c = cfg_open(wrap, "fuzz.conf", "/tmp");
	t = req_tmpl_read(c, "req", batch);
	if (t == NULL)
		FZ_CHECK(cfg_errmsg(c) != NULL, "template refused without a "
		    "word");
	cfg_free(c);
	json_object_put(wrap);
	if (t == NULL)
		return 0;

	ref = json_piece(pp[1], pl[1], json_type_null);
	args = json_piece(pp[2], pl[2], json_type_null);
	labels = json_piece(pp[3], pl[3], json_type_object);
	/* Arguments and labels are stored as strict JSON (Submit writes
	 * them with json_canonical()), and "body": "{{args}}" sends them as
	 * stored: what json-c's strict mode takes beyond that (a raw control
	 * character in a string, "1.", lax UTF-8) never reaches a template. */
	if (args != NULL && fz_lenient(args, strlen(args)) != NULL) {
		free(args);
		args = NULL;
	}
	if (labels != NULL && fz_lenient(labels, strlen(labels)) != NULL) {
		free(labels);
		labels = NULL;
	}
	refdoc = ref != NULL ? jparse(ref) : NULL;
	lenient = ref != NULL && fz_lenient(ref, strlen(ref)) != NULL;
	for (i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "%019zx%c", i, 'a');
		tt[i].id = ids[i];
		tt[i].ref = ref;
		tt[i].args = args;
		tt[i].labels = labels;
		tt[i].ref_doc = NULL;
		tp[i] = tt[i];
		/* Every other task with its ref parsed, as a batch has it. */
		tp[i].ref_doc = i % 2 == 0 ? refdoc : NULL;
	}
	rv1 = req_tmpl_render(t, tt, n, &r1, &why1);
	rv2 = req_tmpl_render(t, tp, n, &r2, &why2);
	/* Nor one that cannot be read in place (see same_req()). */
	if (rv1 != rv2 && lenient) {
		if (rv1 == 0)
			req_clear(&r1);
		if (rv2 == 0)
			req_clear(&r2);
		rv1 = rv2 = -1;
	}
	FZ_CHECK(rv1 == rv2, "render %d in place, %d parsed (%s / %s)", rv1,
	    rv2, why1 != NULL ? why1 : "", why2 != NULL ? why2 : "");
	if (rv1 == 0) {
		/* (A lenient ref, which pollexd never stores, is copied as
		 * it is: no well-formed body to expect.) */
		if (!lenient)
			well_formed(&r1);
		same_req(&r1, &r2, lenient);
		req_clear(&r1);
		req_clear(&r2);
	} else
		FZ_CHECK((why1 != NULL || rv1 != rv2 || lenient) &&
		    (why2 != NULL || lenient), "a failure without why");
	free(why1);
	free(why2);
	json_object_put(refdoc);
	free(ref);
	free(args);
	free(labels);
	req_tmpl_free(t);
	return 0;
}
