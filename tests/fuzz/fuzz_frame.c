/* SPDX-License-Identifier: ISC */
/*
 * fuzz_frame.c: the daemon's framing and message parsing (common/frame.c,
 * common/proto.c).  The input is a client's byte stream: it is cut into
 * messages at each NUL as pollexd cuts it (frame_find), and every message
 * goes through frame_parse() (the daemon's reused tokener), frame_check()
 * (libpollex's in-place verdict) and a fresh strict json-c tokener; the
 * three must agree, an accepted message must read the same in place as
 * parsed, and what frame_serialize() writes must parse back to itself.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzzlib.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

FZ_DEFINE_INIT()

/* Does a member name hold an escaped NUL (pollex refuses those: json-c
 * would keep "a\u0000b" as "a")?  Read on its own: in JSON json-c took,
 * a string followed by a colon is a member name. */
static int
nul_name(const char *t, size_t n)
{
	size_t i = 0, k;
	int nul;

	while (i < n) {
		if (t[i] != '"') {
			i++;
			continue;
		}
		nul = 0;
		for (i++; i < n && t[i] != '"'; i++)
			if (t[i] == '\\' && i + 1 < n) {
				if (t[i + 1] == 'u' && i + 5 < n &&
				    memcmp(t + i + 2, "0000", 4) == 0)
					nul = 1;
				i++;
			}
		for (k = i + 1; k < n && strchr(" \t\r\n", t[k]) != NULL &&
		    t[k] != '\0'; k++)
			;
		if (nul && k < n && t[k] == ':')
			return 1;
		i++;
	}
	return 0;
}

/* json-c's strict verdict on msg with a tokener of its own: 1 when it is
 * one object with only white space after it, and holds no single-quoted
 * string (json-c takes those; pollex refuses them, docs/decisions.md). */
static int
fresh_verdict(const char *msg, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(PX_JSON_MAX_DEPTH);
	json_object *o;
	size_t end, i = 0;
	int ok;

	while (i < len && strchr(" \t\r\n", msg[i]) != NULL && msg[i] != '\0')
		i++;
	if (i == len || msg[i] != '{') {
		json_tokener_free(tok);
		return 0;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, msg + i, (int)(len - i));
	end = i + json_tokener_get_parse_end(tok);
	ok = o != NULL && json_object_is_type(o, json_type_object);
	for (; ok && end < len; end++)
		if (strchr(" \t\r\n", msg[end]) == NULL || msg[end] == '\0')
			ok = 0;
	json_object_put(o);
	json_tokener_free(tok);
	return ok && !fz_single_quoted(msg, len) && !nul_name(msg, len);
}

/* The names the protocol knows, looked up from the message. */
static void
names(json_object *obj)
{
	json_object *v;
	const char *s;
	enum px_error e;
	enum px_state st;
	enum px_return_when rw;

	if (json_object_object_get_ex(obj, "error", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		if ((e = px_error_from_name(s)) != PX_ERR_NONE)
			FZ_CHECK(strcmp(px_error_name(e), s) == 0,
			    "px_error_from_name(\"%s\") is %s", s,
			    px_error_name(e));
	}
	if (json_object_object_get_ex(obj, "method", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		if (px_state_from_name(s, &st) == 0)
			FZ_CHECK(strcmp(px_state_name(st), s) == 0,
			    "px_state_from_name(\"%s\")", s);
		/* Two spellings are accepted: the IDL's and the old one. */
		if (px_return_when_from_name(s, &rw) == 0)
			FZ_CHECK(strcmp(px_return_when_name(rw), s) == 0 ||
			    strcmp(px_return_when_idl_name(rw), s) == 0,
			    "px_return_when_from_name(\"%s\")", s);
	}
}

/* One message, without its NUL. */
static void
message(const char *msg, size_t len)
{
	json_object *obj, *again;
	const char *why = NULL, *why2 = NULL, *ser, *ser2;
	struct jspan span;
	size_t slen, slen2;
	int checked, fresh;
	char *copy;

	obj = frame_parse(msg, len, &why);
	checked = frame_check(msg, len, &span, &why2) == 0;
	fresh = fresh_verdict(msg, len);
	FZ_CHECK((obj != NULL) == fresh, "frame_parse %s (%s), a fresh "
	    "tokener %s", obj != NULL ? "took it" : "refused it",
	    why != NULL ? why : "", fresh ? "takes it" : "refuses it");
	FZ_CHECK((obj != NULL) == checked, "frame_parse %s (%s), frame_check "
	    "%s (%s)", obj != NULL ? "took it" : "refused it",
	    why != NULL ? why : "", checked ? "took it" : "refused it",
	    why2 != NULL ? why2 : "");
	if (obj == NULL) {
		FZ_CHECK(why != NULL && why2 != NULL && strcmp(why, why2) == 0,
		    "frame_parse says \"%s\", frame_check \"%s\"", why, why2);
		return;
	}
	FZ_CHECK(span.p >= msg && span.p + span.n <= msg + len && span.n > 0 &&
	    span.p[0] == '{' && span.p[span.n - 1] == '}',
	    "frame_check's span is not the object");
	fz_same("frame", obj, span, span);
	names(obj);

	/* What is sent parses back to the same text. */
	ser = frame_serialize(obj, &slen);
	FZ_CHECK(ser != NULL && strlen(ser) == slen,
	    "frame_serialize: a NUL inside the text");
	copy = fz_strndup((const uint8_t *)ser, slen);
	again = frame_parse(copy, slen, &why);
	FZ_CHECK(again != NULL, "frame_serialize wrote what frame_parse "
	    "refuses (%s): %s", why, copy);
	ser2 = frame_serialize(again, &slen2);
	FZ_CHECK(slen == slen2 && memcmp(ser2, copy, slen) == 0,
	    "serialized twice: %s then %s", copy, ser2);
	json_object_put(again);
	free(copy);
	json_object_put(obj);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	ssize_t n;
	int seen = 0;

	while (size > 0) {
		n = frame_find(buf, size);
		if (n < 0)
			break;		/* an unfinished message: never parsed */
		FZ_CHECK(buf[n] == '\0' && memchr(buf, '\0', (size_t)n) ==
		    NULL, "frame_find: not the first NUL");
		message(buf, (size_t)n);
		seen = 1;
		buf += n + 1;
		size -= (size_t)n + 1;
	}
	FZ_CHECK(size == 0 || frame_find(buf, size) == -1,
	    "frame_find: a NUL missed");
	/* Input without any NUL: one message (mutations of plain JSON). */
	if (!seen && size > 0)
		message(buf, size);
	frame_cleanup();
	return 0;
}
