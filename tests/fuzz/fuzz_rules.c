/* SPDX-License-Identifier: ISC */
/*
 * fuzz_rules.c: the outcome rules of the HTTP pollers (daemon/http/rules.c),
 * parsed against in place.
 *
 * The input is three pieces cut at "\n--\n": the "outcome" section of a
 * poller (rules, result, error_message, error_code, progress, default),
 * a response body, and the status and headers ("503\nRetry-After: 1\n").
 * The rules are read with rules_read(); the body is evaluated as
 * http-each reads it (json-c, strict, as hk_parse()) and as http-batch
 * reads it (jspan_check_json() and in place), the whole body and each
 * item of a top-level array: both readings must take the same bodies and
 * give the same outcome (state, result, code, message, details,
 * progress, delay).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "fuzzlib.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

FZ_DEFINE_INIT()

/* The headers piece, one "Name: value" a line. */
struct heads {
	char *text;
	char *name[16], *value[16];
	int n;
};

/* The header callback of the rules: the last header of that name. */
static const char *
header(void *arg, const char *name)
{
	struct heads *h = arg;
	int i;

	for (i = h->n - 1; i >= 0; i--)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* Split the third piece: a status line, then headers. */
static long
heads_read(struct heads *h, const uint8_t *p, size_t len)
{
	char *line, *save = NULL, *colon;
	long status = 200;
	int first = 1;

	h->n = 0;
	h->text = fz_strndup(p, len);
	for (line = strtok_r(h->text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			status = strtol(line, NULL, 10);
			first = 0;
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL || h->n == 16)
			continue;
		*colon = '\0';
		h->name[h->n] = line;
		h->value[h->n++] = colon + 1 + (colon[1] == ' ');
	}
	if (status < 0 || status > 999)
		status = 200;
	return status;
}

/* A body read whole, as http-each reads it (jparse_body(); NULL when
 * it is not JSON, and for the text null). */
static json_object *
parse_body(const char *body, size_t len)
{
	return jparse_body(body, len);
}

/* Two strings of the outcomes: both NULL or equal. */
static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Both numbers NaN or equal. */
static int
same_num(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

/* Evaluate doc both ways; the outcomes must be the same. */
static void
both(const struct rules *r, struct rule_input *in, json_object *doc,
    struct jspan span, int lenient)
{
	struct rules_scratch s1 = { NULL, NULL, NULL };
	struct rules_scratch s2 = { NULL, NULL, NULL };
	struct outcome o1, o2;

	in->doc = doc;
	in->span = NULL;
	rules_eval(r, in, &o1, &s1);
	in->doc = NULL;
	in->span = &span;
	rules_eval(r, in, &o2, &s2);
	FZ_CHECK(o1.state == o2.state, "state %d parsed, %d in place",
	    o1.state, o2.state);
	/* The same values; the spelling may differ where json-c rewrote a
	 * lenient body for the in-place reading (respelt numbers). */
	FZ_CHECK(same_str(o1.result, o2.result) || (lenient &&
	    fz_same_json(o1.result, o2.result)), "result %s parsed, %s in "
	    "place", o1.result, o2.result);
	FZ_CHECK(same_str(o1.code, o2.code), "code %s parsed, %s in place",
	    o1.code, o2.code);
	FZ_CHECK(same_str(o1.message, o2.message), "message %s parsed, %s "
	    "in place", o1.message, o2.message);
	FZ_CHECK(same_str(o1.details, o2.details) || (lenient &&
	    fz_same_json(o1.details, o2.details)), "details %s parsed, %s "
	    "in place", o1.details, o2.details);
	FZ_CHECK(same_num(o1.progress, o2.progress), "progress %g parsed, "
	    "%g in place", o1.progress, o2.progress);
	FZ_CHECK(same_num(o1.delay, o2.delay), "delay %g parsed, %g in place",
	    o1.delay, o2.delay);
	/* And in place through the index of the item's members (as
	 * http-batch reads items): the same outcome as without it. */
	{
		struct rules_scratch s3 = { NULL, NULL, NULL };
		struct jspan_index ix;
		struct outcome o3;

		jspan_index_init(&ix, span);
		in->span_index = &ix;
		rules_eval(r, in, &o3, &s3);
		in->span_index = NULL;
		FZ_CHECK(o3.state == o2.state && same_str(o3.result,
		    o2.result) && same_str(o3.code, o2.code) &&
		    same_str(o3.message, o2.message) && same_str(o3.details,
		    o2.details) && same_num(o3.progress, o2.progress) &&
		    same_num(o3.delay, o2.delay),
		    "an outcome differs through the member index");
		rules_scratch_clear(&s3);
	}
	rules_scratch_clear(&s1);
	rules_scratch_clear(&s2);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *why0;
	const uint8_t *pp[3] = { NULL, NULL, NULL };
	size_t pl[3] = { 0, 0, 0 }, k = 0;
	struct fz_cut cut;
	struct heads h;
	struct rule_input in;
	struct rules *r;
	struct cfg *c;
	json_object *conf, *wrap, *doc, *item;
	struct jspan body, it;
	struct jspan_iter iter;
	char *text, *redo = NULL;
	int ok, inplace;
	size_t i;

	if (size > 1 << 16)
		return 0;
	fz_cut_init(&cut, data, size);
	while (k < 3 && fz_piece(&cut, &pp[k], &pl[k]))
		k++;
	if (k < 2)
		return 0;
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
	json_object_object_add(wrap, "outcome", conf);
	c = cfg_open(wrap, "fuzz.conf", "/tmp");
	r = rules_read(c, "outcome");
	if (r == NULL)
		FZ_CHECK(cfg_errmsg(c) != NULL, "rules refused without a word");
	cfg_free(c);
	json_object_put(wrap);
	if (r == NULL)
		return 0;

	memset(&in, 0, sizeof in);
	in.status = heads_read(&h, pp[2] != NULL ? pp[2] : data, pl[2]);
	in.header = header;
	in.header_arg = &h;
	text = fz_strndup(pp[1], pl[1]);

	doc = parse_body(text, pl[1]);
	inplace = pl[1] > 0 &&
	    jspan_check_json(text, pl[1], &body, &redo) == 0;
	/* Both kinds take the same bodies: http-each reads the very text
	 * http-batch reads in place. */
	ok = doc != NULL || (inplace && jspan_type(body) == JS_NULL);
	FZ_CHECK(ok == inplace, "http-each %s the body, http-batch %s it",
	    ok ? "takes" : "refuses", inplace ? "takes" : "refuses");
	if (doc != NULL && inplace) {
		both(r, &in, doc, body, redo != NULL);
		/* http-batch evaluates the items of the search response. */
		if (json_object_is_type(doc, json_type_array) &&
		    jspan_type(body) == JS_ARRAY) {
			jspan_iter_init(&iter, body);
			for (i = 0; jspan_next(&iter, NULL, &it); i++) {
				FZ_CHECK(i < json_object_array_length(doc),
				    "more items in place");
				item = json_object_array_get_idx(doc, i);
				both(r, &in, item, it, redo != NULL);
			}
		}
	} else {
		struct rules_scratch s = { NULL, NULL, NULL };
		struct outcome o;

		/* Not JSON, or null: evaluated once each. */
		in.doc = doc;
		rules_eval(r, &in, &o, &s);
		rules_scratch_clear(&s);
		if (inplace) {
			in.doc = NULL;
			in.span = &body;
			rules_eval(r, &in, &o, &s);
			rules_scratch_clear(&s);
		}
		/* A transport error: no response at all. */
		memset(&in, 0, sizeof in);
		in.transport_error = 1;
		in.error_text = "connection refused";
		rules_eval(r, &in, &o, &s);
		rules_scratch_clear(&s);
	}
	free(redo);
	json_object_put(doc);
	free(text);
	free(h.text);
	rules_free(r);
	return 0;
}
