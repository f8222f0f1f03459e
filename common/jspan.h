/* SPDX-License-Identifier: ISC */
/*
 * jspan.h: reading JSON text in place, without building a tree.
 *
 * A span is the raw text of one JSON value inside a larger text.  The text
 * is checked once with jspan_check() (strict RFC 8259 JSON, valid UTF-8,
 * bounded nesting); after that, members, items and JSON pointers are found
 * by skipping over the text, and only what is needed is decoded.  This is
 * for the hot paths where json-c would allocate an object per value of a
 * large document only for a few of them to be read: the items of an HTTP
 * search response, the refs of a batch, the replies of Wait.
 *
 * Nothing here allocates except jspan_string() for strings with escapes
 * and jspan_pointer() for a pointer of 256 bytes or more,
 * and nothing aborts or logs (libpollex links it).
 */
#ifndef POLLEX_JSPAN_H
#define POLLEX_JSPAN_H

#include <stddef.h>
#include <stdint.h>

struct jspan {
	const char *p;		/* the value's first byte */
	size_t n;		/* its length */
};

enum jspan_type {
	JS_INVALID = 0,
	JS_OBJECT,
	JS_ARRAY,
	JS_STRING,
	JS_NUMBER,
	JS_TRUE,
	JS_FALSE,
	JS_NULL
};

/*
 * Check that text[0, len) is exactly one JSON value with nothing but white
 * space around it: strict JSON, valid UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF), arrays and objects nested at most
 * max_depth deep.  On success *v is the value without the white space and
 * 0 is returned; otherwise -1 with *why pointing to a static description
 * and *at (when not NULL) to the offset of the problem.
 */
int jspan_check(const char *text, size_t len, int max_depth, struct jspan *v,
    const char **why, size_t *at);

/*
 * Everything below assumes spans inside a text that passed jspan_check(),
 * or one that json-c's strict mode accepts: the readers find their way by
 * brackets, quotes, backslashes, commas and colons only, so what json-c
 * takes and jspan_check() refuses (a raw control character in a string, a
 * number spelt "1.", lax UTF-8) reads the same.  libpollex's frame_check()
 * relies on that; check_jspan tests it.  Member names in single quotes,
 * which json-c also takes, they cannot follow: frame_parse() refuses them,
 * and an iteration that meets one ends there, reading nothing past the
 * span.
 */

enum jspan_type jspan_type(struct jspan v);

/*
 * Iteration over an object's members or an array's items: key is the raw
 * text of the member's name, quotes included (for arrays key->n is 0).
 * jspan_next() returns 1 with the next member or item, 0 at the end.
 */
struct jspan_iter {
	const char *p, *end;
	int object;
};
void jspan_iter_init(struct jspan_iter *it, struct jspan container);
int jspan_next(struct jspan_iter *it, struct jspan *key, struct jspan *val);

/* Does the raw key (quotes included) name key[0, keylen)?  A name with an
 * escaped NUL is read up to it, as json-c keeps it ("a\u0000b" is "a"). */
int jspan_key_is(struct jspan rawkey, const char *key, size_t keylen);

/*
 * The member of object o named key[0, keylen): 1 with *out set, 0 when o
 * is not an object or has no such member.  When a name repeats, the last
 * one counts, as json-c keeps it.
 */
int jspan_member(struct jspan o, const char *key, size_t keylen,
    struct jspan *out);

/* Item i of array a: 1 with *out set, or 0. */
int jspan_item(struct jspan a, size_t i, struct jspan *out);

/*
 * Resolve a JSON pointer (RFC 6901: "" is the whole value, "/a/0/b~1c"
 * its parts).  1 with *out set, 0 when nothing is there or the pointer is
 * malformed (or memory ran out).  Reference tokens have no length limit,
 * as in jptr_get().
 */
int jspan_pointer(struct jspan doc, const char *ptr, struct jspan *out);

/*
 * An object's members found once, for several lookups: an item of a
 * search response is read by its id pointer and then by the rules, each
 * of which would otherwise scan the whole item (the last of repeated
 * names counts, so a scan cannot stop at the first match).  An object of
 * more than JSPAN_INDEX_MAX members, or a value that is not an object, is
 * not indexed: lookups then scan as jspan_pointer() does.
 */
/*
 * json-c 0.16 (Debian 12) reads an escaped surrogate pair whose code
 * point has its low 16 bits in D800-DFFF (U+1D800-U+1DFFF, U+2D800-
 * U+2DFFF, ...: 32 of the 1,024 high surrogates) as U+FFFD: a CJK
 * Extension character sent as "\ud876\ude00" would be stored
 * corrupted.  jspan_jsonc_text() gives text json-c reads right: NULL when
 * text[0, len) needs no change (nearly always), else a copy (to free,
 * NUL-terminated, *outlen bytes) with those pairs written as UTF-8, which
 * means the same JSON.  Every json-c parse of outside text goes through it.
 */
char *jspan_jsonc_text(const char *text, size_t len, size_t *outlen);

/*
 * Does a member name anywhere in v hold an escaped NUL ("a\u0000b")?
 * json-c keeps names as C strings, "a", so such a name would be stored
 * changed, or merged with another member: frame_parse() refuses it.
 */
int jspan_nul_name(struct jspan v);

#define JSPAN_INDEX_MAX 24
struct jspan_index {
	struct jspan obj;
	size_t n;			/* members; SIZE_MAX: not indexed */
	struct jspan key[JSPAN_INDEX_MAX];
	struct jspan val[JSPAN_INDEX_MAX];
};
void jspan_index_init(struct jspan_index *ix, struct jspan obj);
/* jspan_pointer() on ix's object, its first token through the index. */
int jspan_index_pointer(const struct jspan_index *ix, const char *ptr,
    struct jspan *out);

/* Is s a string without escapes (its content is s.p + 1, s.n - 2 bytes)? */
int jspan_plain_string(struct jspan s);

/*
 * A string's content.  Without escapes *out points into the text and
 * *alloc is NULL; with escapes the decoded content (NUL-terminated; \u0000
 * is kept as a NUL byte within *outlen) is malloc'd into *alloc and *out
 * points to it.  Returns 0, or -1 when s is not a string or memory ran out.
 */
int jspan_string(struct jspan s, const char **out, size_t *outlen,
    char **alloc);

/* A number that is an integer in int64 range, written as such (no
 * fraction or exponent): 1 with *out set, else 0. */
int jspan_int64(struct jspan s, int64_t *out);

#endif
