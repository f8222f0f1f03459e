/* SPDX-License-Identifier: ISC */
/*
 * fuzz_jspan.c: common/jspan.c against json-c's strict parser.
 *
 * The input is one JSON text.  jspan_check() (RFC 8259, strict UTF-8,
 * depth 64) and json-c in strict mode with UTF-8 validation (depth 64)
 * must agree, except where json-c is knowingly more lenient (see
 * lenient() and docs/testing.md).  When json-c takes the text, jspan's
 * readers must find in it what json-c built: types, strings, numbers,
 * members (the last of a repeated name), items and JSON pointers; that
 * holds for json-c's lenient text too, which libpollex's frame_check()
 * and the rules read in place.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "jspan.h"

#define DEPTH 64

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

FZ_DEFINE_INIT()

/* json-c's verdict: 1 with *out the value (NULL for null), or 0 when it
 * refuses the text. */
static int
jsonc(const char *t, size_t n, json_object **out)
{
	struct json_tokener *tok = json_tokener_new_ex(DEPTH);
	json_object *o;
	size_t end, flen;
	char *fixed;
	int ok;

	/* As pollex has json-c read text: the pairs json-c 0.16 misreads
	 * written out first (jspan.h).  Positions and lengths stay the
	 * input's but for those pairs, which are inside strings. */
	if ((fixed = jspan_jsonc_text(t, n, &flen)) != NULL) {
		t = fixed;
		n = flen;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, t, (int)n);
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A number at the top level ends with what follows it. */
		o = json_tokener_parse_ex(tok, " ", 1);
		end = n;
	} else
		end = json_tokener_get_parse_end(tok);
	ok = json_tokener_get_error(tok) == json_tokener_success;
	for (; ok && end < n; end++)
		if (strchr(" \t\r\n", t[end]) == NULL || t[end] == '\0')
			ok = 0;
	json_tokener_free(tok);
	free(fixed);
	if (!ok) {
		json_object_put(o);
		o = NULL;
	}
	*out = o;
	return ok;
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data, *why = NULL, *len;
	struct jspan v, again;
	json_object *o;
	size_t at = (size_t)-1, a, b;
	int ok, cok;

	if (size > 1 << 16)
		return 0;
	ok = jspan_check(t, size, DEPTH, &v, &why, &at) == 0;
	if (ok) {
		FZ_CHECK(v.p >= t && v.p + v.n <= t + size && v.n > 0,
		    "the span is outside the text");
		for (a = 0; t + a < v.p; a++)
			FZ_CHECK(strchr(" \t\r\n", t[a]) != NULL && t[a] != 0,
			    "more than white space before the value");
		for (b = (size_t)(v.p - t) + v.n; b < size; b++)
			FZ_CHECK(strchr(" \t\r\n", t[b]) != NULL && t[b] != 0,
			    "more than white space after the value");
	} else
		FZ_CHECK(why != NULL && at <= size,
		    "a refusal without a reason or at %zu of %zu", at, size);
	if (memchr(t, '\0', size) != NULL) {
		/* json-c stops at a NUL; JSON never has one raw. */
		FZ_CHECK(!ok, "jspan_check took a raw NUL");
		return 0;
	}
	cok = jsonc(t, size, &o);
	if (ok) {
		FZ_CHECK(cok, "jspan_check takes what json-c refuses");
		fz_same("jspan", o, v, v);
		/* A span is a text of its own. */
		FZ_CHECK(jspan_check(v.p, v.n, DEPTH, &again, NULL, NULL) ==
		    0 && again.p == v.p && again.n == v.n,
		    "the checked span does not check alone");
	} else if (cok) {
		len = fz_lenient(t, size);
		FZ_CHECK(len != NULL, "jspan_check refuses (%s at %zu) what "
		    "json-c takes, and not for a documented reason", why, at);
		/*
		 * The readers must still find their way in json-c's lenient
		 * text (frame_check() and jspan_check_json() rely on it).
		 * Not text with single quotes: frame_parse() and
		 * frame_check() refuse it before anything reads it in place
		 * (docs/decisions.md); check_jspan's test_single_quoted
		 * holds the readers to its bounds.
		 */
		if (!fz_single_quoted(t, size)) {
			size_t s = 0, e = size;

			while (s < e && strchr(" \t\r\n", t[s]) != NULL)
				s++;
			while (e > s && strchr(" \t\r\n", t[e - 1]) != NULL)
				e--;
			v.p = t + s;
			v.n = e - s;
			fz_same("jspan (lenient text)", o, v, v);
		}
	}
	json_object_put(o);
	return 0;
}
