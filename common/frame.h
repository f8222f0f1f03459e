/* SPDX-License-Identifier: ISC */
/* frame.h: varlink message framing (NUL-terminated JSON objects). */
#ifndef POLLEX_FRAME_H
#define POLLEX_FRAME_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "jspan.h"

/*
 * frame_find: the length of the first complete message in buf (the offset of
 * its terminating NUL), or -1 when no NUL has arrived yet.
 */
ssize_t frame_find(const char *buf, size_t len);

/*
 * frame_parse: parse one message (len bytes, without its NUL): strict JSON,
 * valid UTF-8, nesting at most PX_JSON_MAX_DEPTH, a single top-level object
 * with nothing but white space after it.  Single-quoted strings, which
 * json-c's strict mode takes, are refused ("single-quoted string in JSON").  Returns a new reference, or NULL
 * with *why pointing to a static description of what is wrong.
 */
json_object *frame_parse(const char *msg, size_t len, const char **why);

/*
 * json-c clamps an integer beyond 64 bits to INT64_MIN or UINT64_MAX
 * (12345678901234567890123 would come back as 18446744073709551615, a ref
 * naming another remote task).  frame_keep_numbers() puts each such
 * number of o, parsed from text[0, len), back as a json-c number that
 * keeps its text, so it is sent back as it came; it returns o, or the
 * replacement when o itself is one.  It costs a scan for a run of 19
 * digits when there is none.
 */
json_object *frame_keep_numbers(json_object *o, const char *text,
    size_t len);

/*
 * frame_check: frame_parse()'s verdict without building anything, for
 * readers that take what they need from the text with jspan.h.  Returns 0
 * with *obj the object's span (the white space around it left out), or -1
 * with *why set as frame_parse() sets it.  What it takes is JSON in
 * structure, but not always jspan_check()'s strict JSON: json-c's strict
 * mode also takes control characters and malformed UTF-8 (overlong forms,
 * surrogates) in strings and numbers such as "1." or "-.5"; jspan's readers
 * find members and items in such text all the same.
 */
int frame_check(const char *msg, size_t len, struct jspan *obj,
    const char **why);

/*
 * frame_tokener_reset: json_tokener_reset() and what it forgets.  json-c
 * (0.16) keeps a pending high surrogate across a reset: after a text that
 * stopped (or failed) right after "\ud83d", the next \u escape the tokener
 * reads, in any later text, gains a U+FFFD.  Every tokener that is reused
 * is reset with this.  The fields are public in json_tokener.h.
 */
static inline void
frame_tokener_reset(struct json_tokener *tok)
{
	json_tokener_reset(tok);
	tok->high_surrogate = 0;
	tok->ucs_char = 0;
}

/* Free what frame_parse() keeps between calls (the calling thread's). */
void frame_cleanup(void);

/*
 * frame_serialize: the compact text of obj, for sending; the caller appends
 * the NUL.  The string belongs to obj and lives until obj is changed or freed.
 */
const char *frame_serialize(json_object *obj, size_t *len);

#endif
