/* SPDX-License-Identifier: ISC */
/* util.h: clocks, durations, canonical JSON, UTF-8, hashing. */
#ifndef POLLEX_UTIL_H
#define POLLEX_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds / microseconds of CLOCK_MONOTONIC. */
uint64_t mono_ms(void);
uint64_t mono_us(void);
/* Seconds since the Unix epoch, with sub-second precision. */
double real_now(void);

/*
 * parse_duration: "250ms", "1.5s", "2m", "1h", "1d", or a bare number of
 * seconds, into milliseconds.  Returns -1 for anything else, for negative,
 * NaN or infinite values and for values past ten years.
 */
int parse_duration(const char *s, uint64_t *ms);
/* The same for a JSON number (seconds) or string. */
int parse_duration_json(json_object *v, uint64_t *ms);
/* A short human form of a duration: "250ms", "1.5s", "2m", "1h30m". */
const char *fmt_duration(uint64_t ms, char *buf, size_t len);

/*
 * json_canonical: compact JSON text of v with object keys sorted, so equal
 * values give equal strings, and RFC 8259 JSON whatever json-c took: a
 * double keeps its spelling when that is a JSON number, another prints as
 * json-c prints its value ("1." is 1.0, "01.5" is 1.5), and NaN and the
 * infinities, which JSON cannot spell, are null.  Returns a malloc'd string
 * or NULL when out of memory.
 */
char *json_canonical(json_object *v);

/*
 * The text of double v as a JSON number: its spelling when that is one
 * (including "1e999", too large for a double), else json-c's form of its
 * value written into buf (JSON_DOUBLE_TEXT bytes).  NULL for NaN and the
 * infinities spelt otherwise ("NaN", "Infinity", "-1.e999").
 */
#define JSON_DOUBLE_TEXT 32
const char *json_double_text(json_object *v, char *buf, size_t len);

/* The spelling of the first number in v that JSON cannot carry (NaN,
 * Infinity: json_double_text() refuses it), or NULL when there is none. */
const char *json_bad_number(json_object *v);

/*
 * Make v's doubles print as JSON, in place: each one spelt otherwise is set
 * again (json_double_text()), and those JSON cannot carry become null
 * (except v itself).  Returns how many became null, or 1 when v itself is
 * one.
 */
int json_strict_numbers(json_object *v);

/*
 * json_string_escape: append the JSON string literal of s (n bytes) to out,
 * which must have room for 6 * n + 3 bytes; returns the bytes written.
 */
size_t json_string_escape(char *out, const char *s, size_t n);

/*
 * UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF)
 * for bytes from outside (programs' output, HTTP headers and bodies,
 * clients) that become JSON strings.  A NUL byte counts as invalid: the
 * strings are C strings.
 *
 * utf8_valid: is s[0, len) valid UTF-8 without NUL bytes?
 * utf8_copy: s[0, len) into dst (size dstlen >= 1, NUL-terminated), each
 * invalid sequence (the longest start of a sequence that cannot go on, as
 * Unicode recommends: "\xe2\x82" is one, "\xc0\xaf" two) and each NUL
 * replaced with U+FFFD; it stops before a character that does not fit.
 * Returns the bytes written, without the NUL.
 * utf8_repair: the same into a malloc'd string (aborts when out of memory);
 * *outlen (when not NULL) is its length.
 * utf8_trim: len without a character cut short at the end of s[0, len)
 * (the start of a sequence that is valid so far), so that text cut at a
 * byte limit ends on a character boundary: utf8_trim(s, max).
 */
int utf8_valid(const char *s, size_t len);
size_t utf8_copy(char *dst, size_t dstlen, const char *s, size_t len);
char *utf8_repair(const char *s, size_t len, size_t *outlen);
size_t utf8_trim(const char *s, size_t len);

/* Keyed hash (SipHash-1-3) with a per-process random key. */
void hash_init(void);
uint64_t hash_bytes(const void *p, size_t n);
static inline uint64_t
hash_str(const char *s)
{
	size_t n = 0;
	while (s[n] != '\0')
		n++;
	return hash_bytes(s, n);
}

#endif
