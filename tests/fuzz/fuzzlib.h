/* SPDX-License-Identifier: ISC */
/* fuzzlib.h: helpers shared by the libFuzzer targets (tests/fuzz). */
#ifndef POLLEX_FUZZLIB_H
#define POLLEX_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "jspan.h"

/* Report a failed check on the fuzzer's stderr and abort (a crash). */
void fz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
#define FZ_CHECK(cond, ...) do {					\
	if (!(cond))							\
		fz_fail(__VA_ARGS__);					\
} while (0)

/*
 * Are the guards around known bugs on?  They are unless the environment
 * has FUZZ_NO_GUARDS=1, which makes the reproducers in tests/fuzz/crashers
 * crash again (to check a fix).
 */
int fz_guard(void);

/* Keep a copy of stderr for fz_fail() (libFuzzer may close fd 2). */
void fz_init(void);

/* A NUL-terminated copy of data[0, len) (to free). */
char *fz_strndup(const uint8_t *data, size_t len);

/*
 * A fuzz input as pieces: the input is cut at each "\n--\n" separator.
 * fz_piece() returns the next piece (1) or 0 at the end.
 */
struct fz_cut {
	const uint8_t *p, *end;
};
void fz_cut_init(struct fz_cut *c, const uint8_t *data, size_t len);
int fz_piece(struct fz_cut *c, const uint8_t **p, size_t *len);

/*
 * Compare a json-c value with the span of its text: same type, same
 * strings, numbers, members (the last of a repeated name) and items, and
 * every JSON pointer into doc that leads to a node of v finds it.  Fails
 * (aborts) on a difference; what.. names the caller in the message.
 */
void fz_same(const char *what, json_object *o, struct jspan v,
    struct jspan doc);

/* Are a and b JSON texts of equal values (or both NULL)?  Spelling aside:
 * "1e1" and "10", "\u00e9" and "é" are the same. */
int fz_same_json(const char *a, const char *b);

/* Parse a configuration text as conf_load() does (json-c, not strict,
 * UTF-8 validated, depth 64): a new reference, or NULL. */
json_object *fz_conf_parse(const uint8_t *p, size_t len);

/*
 * What json-c takes and RFC 8259 does not (docs/testing.md): a word for
 * the first such thing in t[0, n), or NULL.
 */
const char *fz_lenient(const char *t, size_t n);

/* Does text[0, len) hold a \u escape of a high surrogate (\ud800..\udbff)? */
int fz_has_high_surrogate(const char *text, size_t len);

/* A target's LLVMFuzzerInitialize() when fz_init() is all it needs. */
#define FZ_DEFINE_INIT()						\
int LLVMFuzzerInitialize(int *, char ***);				\
int									\
LLVMFuzzerInitialize(int *argc, char ***argv)				\
{									\
	(void)argc;							\
	(void)argv;							\
	fz_init();							\
	return 0;							\
}
/* Does the text hold a single-quoted string (a quote outside "...")? */
int fz_single_quoted(const char *t, size_t n);

#endif
