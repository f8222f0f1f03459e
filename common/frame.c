/* SPDX-License-Identifier: ISC */
/* frame.c: varlink message framing (NUL-terminated JSON objects). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "jspan.h"
#include "proto.h"

ssize_t
frame_find(const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);

	return nul == NULL ? -1 : nul - buf;
}

static __thread struct json_tokener *frame_tokener;

void
frame_cleanup(void)
{
	if (frame_tokener != NULL) {
		json_tokener_free(frame_tokener);
		frame_tokener = NULL;
	}
}

/* Is msg[0, len) one complete JSON object?  (Tells "trailing data" from
 * plain invalid JSON when strict parsing stopped after a good object.) */
static int
frame_prefix_is_object(const char *msg, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(PX_JSON_MAX_DEPTH);
	json_object *obj;
	int ok;

	if (tok == NULL)
		return 0;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, msg, (int)len);
	ok = obj != NULL;
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

/* Does text json-c took hold a single-quoted string ('a', which its strict
 * mode takes)?  The first quote outside a "..." string tells. */
static int
frame_single_quoted(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	if (memchr(msg, '\'', len) == NULL)
		return 0;
	for (; p < end; p++) {
		if (*p == '\'')
			return 1;
		if (*p != '"')
			continue;
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\')
				p++;
	}
	return 0;
}

static json_object *frame_parse1(const char *, size_t, const char **);

/* Is the span an integer json-c cannot hold (beyond int64 and uint64)? */
static int
big_int(struct jspan v)
{
	char buf[64], *end;
	size_t i;

	if (jspan_type(v) != JS_NUMBER || v.n < 19)
		return 0;
	for (i = v.p[0] == '-'; i < v.n; i++)
		if (v.p[i] < '0' || v.p[i] > '9')
			return 0;	/* a fraction or exponent: a double */
	if (v.n >= sizeof buf)
		return 1;
	memcpy(buf, v.p, v.n);
	buf[v.n] = '\0';
	errno = 0;
	if (buf[0] == '-')
		(void)strtoll(buf, &end, 10);
	else
		(void)strtoull(buf, &end, 10);
	return errno == ERANGE;
}

static json_object *
kept_number(struct jspan v)
{
	char *text = malloc(v.n + 1);
	json_object *n;

	if (text == NULL)
		return NULL;
	memcpy(text, v.p, v.n);
	text[v.n] = '\0';
	n = json_object_new_double_s(strtod(text, NULL), text);
	free(text);
	return n;
}

/* Walk o and its text v together, replacing the clamped integers. */
static void
keep_numbers(json_object *o, struct jspan v)
{
	struct jspan_iter it;
	struct jspan k, e, last;
	json_object *child, *n;
	const char *name;
	char *alloc;
	size_t len, i = 0;

	jspan_iter_init(&it, v);
	while (jspan_next(&it, &k, &e)) {
		if (json_object_is_type(o, json_type_array)) {
			child = json_object_array_get_idx(o, i);
			if (big_int(e) && (n = kept_number(e)) != NULL)
				json_object_array_put_idx(o, i, n);
			else if (child != NULL)
				keep_numbers(child, e);
			i++;
			continue;
		}
		if (!json_object_is_type(o, json_type_object) ||
		    jspan_string(k, &name, &len, &alloc) == -1)
			continue;
		/* A plain name is read in place: json-c wants it ended.
		 * json-c keeps a name up to an escaped NUL, as jspan reads
		 * it ("a\u0000b" is "a"). */
		len = strnlen(name, len);
		if (alloc == NULL && (name = alloc = strndup(name, len)) ==
		    NULL)
			continue;
		/* Of a repeated name json-c keeps the last. */
		if (jspan_member(v, name, len, &last) && last.p == e.p &&
		    json_object_object_get_ex(o, name, &child)) {
			if (big_int(e) && (n = kept_number(e)) != NULL)
				json_object_object_add(o, name, n);
			else if (child != NULL)
				keep_numbers(child, e);
		}
		free(alloc);
	}
}

json_object *
frame_keep_numbers(json_object *o, const char *text, size_t len)
{
	struct jspan v;
	size_t i, run = 0;
	json_object *n;

	for (i = 0; i < len; i++) {
		if (text[i] >= '0' && text[i] <= '9') {
			if (++run == 19)
				break;
		} else
			run = 0;
	}
	if (i == len || o == NULL)
		return o;
	/* Text json-c took: jspan's readers find their way in it. */
	while (len > 0 && strchr(" \t\r\n", *text) != NULL && *text != '\0') {
		text++;
		len--;
	}
	while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL &&
	    text[len - 1] != '\0')
		len--;
	v.p = text;
	v.n = len;
	if (big_int(v)) {
		if ((n = kept_number(v)) == NULL)
			return o;
		json_object_put(o);
		return n;
	}
	keep_numbers(o, v);
	return o;
}

/* A member name with an escaped NUL, which json-c would keep cut. */
#define NUL_NAME "a member name holds \\u0000, which pollex cannot keep"

static int
frame_nul_name(const char *msg, size_t len)
{
	struct jspan v;

	if (memmem(msg, len, "\\u0000", 6) == NULL)
		return 0;
	/* Text json-c took: jspan's readers find their way in it. */
	v.p = msg;
	v.n = len;
	while (v.n > 0 && strchr(" \t\r\n", v.p[v.n - 1]) != NULL)
		v.n--;
	return jspan_nul_name(v);
}

json_object *
frame_parse(const char *msg, size_t len, const char **why)
{
	json_object *obj;
	size_t flen;
	char *fixed;

	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(msg, len, &flen)) == NULL)
		return frame_parse1(msg, len, why);
	obj = frame_parse1(fixed, flen, why);
	free(fixed);
	return obj;
}

static json_object *
frame_parse1(const char *msg, size_t len, const char **why)
{
	struct json_tokener *tok;
	json_object *obj;
	enum json_tokener_error err;
	size_t end;

	/* Anything but an object cannot be a call or a reply; checking the
	 * first byte also keeps bare numbers (which json-c parses only once
	 * it sees a terminator) out of the tokenizer. */
	while (len > 0 && strchr(" \t\r\n", *msg) != NULL) {
		msg++;
		len--;
	}
	if (len == 0) {
		*why = "empty message";
		return NULL;
	}
	if (*msg != '{') {
		*why = "message is not a JSON object";
		return NULL;
	}
	/* One tokener per thread, reset for each message: making one costs
	 * more than parsing a small message. */
	if ((tok = frame_tokener) == NULL) {
		if ((tok = json_tokener_new_ex(PX_JSON_MAX_DEPTH)) == NULL) {
			*why = "out of memory";
			return NULL;
		}
		json_tokener_set_flags(tok,
		    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		frame_tokener = tok;
	} else
		frame_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, msg, (int)len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	frame_tokener_reset(tok);
	if (obj == NULL && err != json_tokener_continue && end > 0 &&
	    end <= len && frame_prefix_is_object(msg, end)) {
		*why = "trailing data after the JSON object";
		return NULL;
	}
	if (obj == NULL) {
		switch (err) {
		case json_tokener_continue:
			*why = "truncated JSON";
			break;
		case json_tokener_error_depth:
			*why = "JSON nested too deeply";
			break;
		case json_tokener_error_parse_utf8_string:
			*why = "invalid UTF-8 in JSON string";
			break;
		default:
			*why = "invalid JSON";
			break;
		}
		return NULL;
	}
	for (; end < len; end++)
		if (strchr(" \t\r\n", msg[end]) == NULL) {
			json_object_put(obj);
			*why = "trailing data after the JSON object";
			return NULL;
		}
	/* Not JSON, and what jspan's readers (libpollex) cannot follow. */
	if (frame_single_quoted(msg, len)) {
		json_object_put(obj);
		*why = "single-quoted string in JSON";
		return NULL;
	}
	if (frame_nul_name(msg, len)) {
		json_object_put(obj);
		*why = NUL_NAME;
		return NULL;
	}
	return frame_keep_numbers(obj, msg, len);
}

int
frame_check(const char *msg, size_t len, struct jspan *obj, const char **why)
{
	json_object *o;
	const char *p = msg;
	size_t n = len;

	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		n--;
	}
	if (n == 0) {
		*why = "empty message";
		return -1;
	}
	if (*p != '{') {
		*why = "message is not a JSON object";
		return -1;
	}
	if (jspan_check(p, n, PX_JSON_MAX_DEPTH, obj, NULL, NULL) == 0) {
		if (jspan_nul_name(*obj)) {
			*why = NUL_NAME;
			return -1;
		}
		return 0;
	}
	/*
	 * jspan refused it (rare): json-c decides, so that this takes and
	 * refuses what frame_parse() does, in the same words.  The text the
	 * daemon sends back is what json-c took in from its clients: a
	 * control character or an overlong UTF-8 form in a stored ref must
	 * not make every later reply about the task unreadable.  The
	 * differences are inside strings and numbers, which jspan's readers
	 * skip by their quotes and delimiters, so the span reads as well.
	 */
	if ((o = frame_parse(msg, len, why)) == NULL)
		return -1;
	json_object_put(o);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
	    p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	obj->p = p;
	obj->n = n;
	return 0;
}

const char *
frame_serialize(json_object *obj, size_t *len)
{
	return json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}
