/* SPDX-License-Identifier: ISC */
/* jspan.c: reading JSON text in place, without building a tree. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jspan.h"

/* ------------------------------------------------------------------ */
/* Checking */

struct jcheck {
	const char *p, *end, *why;
	int depth, max_depth;
};

static int check_value(struct jcheck *);

static void
check_ws(struct jcheck *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
check_fail(struct jcheck *c, const char *why)
{
	c->why = why;
	return -1;
}

static int
hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* One UTF-8 sequence starting at a byte >= 0x80: its length, or 0. */
static size_t
utf8_len(const unsigned char *s, const unsigned char *end)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int
check_string(struct jcheck *c)
{
	const unsigned char *s = (const unsigned char *)c->p + 1;
	const unsigned char *end = (const unsigned char *)c->end;
	size_t n;
	int i;

	for (;;) {
		/* The common case: plain ASCII. */
		while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' &&
		    *s != '\\')
			s++;
		if (s >= end) {
			c->p = (const char *)s;
			return check_fail(c, "unterminated string");
		}
		if (*s == '"') {
			c->p = (const char *)s + 1;
			return 0;
		}
		if (*s == '\\') {
			if (s + 1 >= end) {
				c->p = (const char *)s;
				return check_fail(c, "unterminated string");
			}
			switch (s[1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				s += 2;
				continue;
			case 'u':
				for (i = 0; i < 4; i++)
					if (s + 2 + i >= end ||
					    hexval(s[2 + i]) < 0) {
						c->p = (const char *)s;
						return check_fail(c, "bad \\u "
						    "escape in a string");
					}
				s += 6;
				continue;
			default:
				c->p = (const char *)s;
				return check_fail(c, "bad escape in a string");
			}
		}
		if (*s < 0x20) {
			c->p = (const char *)s;
			return check_fail(c, "control character in a string");
		}
		if ((n = utf8_len(s, end)) == 0) {
			c->p = (const char *)s;
			return check_fail(c, "invalid UTF-8 in a string");
		}
		s += n;
	}
}

static int
isdigit_(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
check_number(struct jcheck *c)
{
	const char *p = c->p, *end = c->end;

	if (p < end && *p == '-')
		p++;
	if (p >= end || !isdigit_(*p))
		goto bad;
	if (*p == '0')
		p++;
	else
		while (p < end && isdigit_(*p))
			p++;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !isdigit_(*p))
			goto bad;
		while (p < end && isdigit_(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit_(*p))
			goto bad;
		while (p < end && isdigit_(*p))
			p++;
	}
	/* A number runs into nothing but a delimiter. */
	if (p < end && (isdigit_(*p) || *p == '.' || *p == 'e' || *p == 'E' ||
	    *p == '+' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
	    (*p >= 'A' && *p <= 'Z')))
		goto bad;
	c->p = p;
	return 0;
bad:
	c->p = p;
	return check_fail(c, "malformed number");
}

static int
check_word(struct jcheck *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return check_fail(c, "unexpected character");
	c->p += n;
	if (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') ||
	    (*c->p >= 'A' && *c->p <= 'Z') || isdigit_(*c->p)))
		return check_fail(c, "unexpected character");
	return 0;
}

static int
check_container(struct jcheck *c, char close)
{
	int first = 1;

	if (++c->depth > c->max_depth)
		return check_fail(c, "nested too deeply");
	c->p++;
	for (;;) {
		check_ws(c);
		if (c->p >= c->end)
			return check_fail(c, close == '}' ?
			    "unterminated object" : "unterminated array");
		if (*c->p == close && first) {
			c->p++;
			break;
		}
		if (close == '}') {
			if (*c->p != '"')
				return check_fail(c, "expected a member name");
			if (check_string(c) == -1)
				return -1;
			check_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return check_fail(c, "expected ':' after a "
				    "member name");
			c->p++;
		}
		if (check_value(c) == -1)
			return -1;
		check_ws(c);
		if (c->p >= c->end)
			return check_fail(c, close == '}' ?
			    "unterminated object" : "unterminated array");
		if (*c->p == close) {
			c->p++;
			break;
		}
		if (*c->p != ',')
			return check_fail(c, close == '}' ?
			    "expected ',' or '}' in an object" :
			    "expected ',' or ']' in an array");
		c->p++;
		first = 0;
	}
	c->depth--;
	return 0;
}

static int
check_value(struct jcheck *c)
{
	check_ws(c);
	if (c->p >= c->end)
		return check_fail(c, "expected a value");
	switch (*c->p) {
	case '{':
		return check_container(c, '}');
	case '[':
		return check_container(c, ']');
	case '"':
		return check_string(c);
	case 't':
		return check_word(c, "true", 4);
	case 'f':
		return check_word(c, "false", 5);
	case 'n':
		return check_word(c, "null", 4);
	default:
		if (*c->p == '-' || isdigit_(*c->p))
			return check_number(c);
		return check_fail(c, "unexpected character");
	}
}

int
jspan_check(const char *text, size_t len, int max_depth, struct jspan *v,
    const char **why, size_t *at)
{
	struct jcheck c = { text, text + len, NULL, 0, max_depth };
	const char *start;

	check_ws(&c);
	start = c.p;
	if (check_value(&c) == 0) {
		v->p = start;
		v->n = (size_t)(c.p - start);
		check_ws(&c);
		if (c.p == c.end)
			return 0;
		c.why = "trailing data after the value";
	}
	if (why != NULL)
		*why = c.why;
	if (at != NULL)
		*at = (size_t)(c.p - text);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Reading checked text */

enum jspan_type
jspan_type(struct jspan v)
{
	if (v.n == 0)
		return JS_INVALID;
	switch (v.p[0]) {
	case '{':
		return JS_OBJECT;
	case '[':
		return JS_ARRAY;
	case '"':
		return JS_STRING;
	case 't':
		return JS_TRUE;
	case 'f':
		return JS_FALSE;
	case 'n':
		return JS_NULL;
	default:
		return JS_NUMBER;
	}
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/* Past the string that starts at p (its opening quote). */
static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

/* Past the (checked) value that starts at p, never past end. */
static const char *
skip_value(const char *p, const char *end)
{
	int depth = 0;

	if (p >= end)
		return end;
	do {
		switch (*p) {
		case '"':
			p = skip_string(p, end);
			continue;
		case '{':
		case '[':
			depth++;
			p++;
			continue;
		case '}':
		case ']':
			depth--;
			p++;
			continue;
		default:
			break;
		}
		if (depth > 0) {
			p++;	/* ',' ':' white space, words, numbers */
			continue;
		}
		/* A scalar at the top: number or word. */
		while (p < end && *p != ',' && *p != '}' && *p != ']' &&
		    *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		return p;
	} while (depth > 0 && p < end);
	return p;
}

void
jspan_iter_init(struct jspan_iter *it, struct jspan c)
{
	enum jspan_type t = jspan_type(c);

	if (t != JS_OBJECT && t != JS_ARRAY) {
		it->p = it->end = NULL;
		it->object = 0;
		return;
	}
	it->object = t == JS_OBJECT;
	it->p = c.p + 1;
	it->end = c.p + c.n - 1;	/* the closing bracket */
}

int
jspan_next(struct jspan_iter *it, struct jspan *key, struct jspan *val)
{
	const char *p = it->p, *end = it->end, *q;

	if (p == NULL)
		return 0;
	p = skip_ws(p, end);
	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p >= end) {
		it->p = end;
		return 0;
	}
	if (it->object) {
		q = skip_string(p, end);
		if (key != NULL) {
			key->p = p;
			key->n = (size_t)(q - p);
		}
		p = skip_ws(q, end);
		if (p >= end || *p != ':') {
			/* Not text these readers know (a name in single
			 * quotes): the end, and no read past it. */
			it->p = end;
			return 0;
		}
		p = skip_ws(p + 1, end);
	} else if (key != NULL) {
		key->p = p;
		key->n = 0;
	}
	q = skip_value(p, end);
	val->p = p;
	val->n = (size_t)(q - p);
	it->p = q;
	return 1;
}

/* Decode one \uXXXX (p at the backslash) into code point *cp. */
static unsigned
u4(const char *p)
{
	return (unsigned)(hexval((unsigned char)p[2]) << 12 |
	    hexval((unsigned char)p[3]) << 8 |
	    hexval((unsigned char)p[4]) << 4 | hexval((unsigned char)p[5]));
}

static size_t
put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A pair json-c 0.16 would read as U+FFFD (see jspan.h), at p? */
static int
jsonc_bad_pair(const char *p, const char *end, unsigned *cp)
{
	unsigned hi, lo;

	if (end - p < 12 || p[1] != 'u' || p[6] != '\\' || p[7] != 'u')
		return 0;
	for (hi = 2; hi < 6; hi++)
		if (hexval((unsigned char)p[hi]) < 0 ||
		    hexval((unsigned char)p[hi + 6]) < 0)
			return 0;
	hi = u4(p);
	lo = u4(p + 6);
	if (hi < 0xd800 || hi > 0xdbff || lo < 0xdc00 || lo > 0xdfff)
		return 0;
	*cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	return (*cp & 0xf800) == 0xd800;
}

char *
jspan_jsonc_text(const char *text, size_t len, size_t *outlen)
{
	const char *p, *end = text + len, *from;
	char *buf, *o;
	unsigned cp;

	/* Escapes are read in order, so "\\ud876" is no escape of u. */
	for (p = text; (p = memchr(p, '\\', (size_t)(end - p))) != NULL;
	    p += end - p >= 2 ? 2 : 1)
		if (jsonc_bad_pair(p, end, &cp))
			break;
	if (p == NULL)
		return NULL;
	/* Each pair of 12 bytes becomes 4. */
	if ((buf = malloc(len + 1)) == NULL)
		return NULL;
	o = buf;
	from = text;
	for (p = text; (p = memchr(p, '\\', (size_t)(end - p))) != NULL;) {
		if (!jsonc_bad_pair(p, end, &cp)) {
			p += end - p >= 2 ? 2 : 1;
			continue;
		}
		memcpy(o, from, (size_t)(p - from));
		o += p - from;
		o += put_utf8(o, cp);
		p += 12;
		from = p;
	}
	memcpy(o, from, (size_t)(end - from));
	o += end - from;
	*o = '\0';
	*outlen = (size_t)(o - buf);
	return buf;
}

int
jspan_nul_name(struct jspan v)
{
	struct jspan_iter it;
	struct jspan k, e;
	const char *s;
	char *alloc;
	size_t n;
	int nul;

	if (v.n < 8 || memmem(v.p, v.n, "\\u0000", 6) == NULL)
		return 0;	/* no escaped NUL anywhere: the common case */
	jspan_iter_init(&it, v);
	while (jspan_next(&it, &k, &e)) {
		if (it.object && k.n > 2 &&
		    memchr(k.p + 1, '\\', k.n - 2) != NULL &&
		    jspan_string(k, &s, &n, &alloc) == 0) {
			nul = memchr(s, '\0', n) != NULL;
			free(alloc);
			if (nul)
				return 1;
		}
		/* Checked text is nested PX_JSON_MAX_DEPTH deep at most. */
		if (jspan_nul_name(e))
			return 1;
	}
	return 0;
}

int
jspan_plain_string(struct jspan s)
{
	return jspan_type(s) == JS_STRING && s.n >= 2 &&
	    memchr(s.p + 1, '\\', s.n - 2) == NULL;
}

int
jspan_string(struct jspan s, const char **out, size_t *outlen, char **alloc)
{
	const char *p, *end;
	char *o, *buf;
	unsigned cp, lo;

	*alloc = NULL;
	if (jspan_type(s) != JS_STRING || s.n < 2)
		return -1;
	if (jspan_plain_string(s)) {
		*out = s.p + 1;
		*outlen = s.n - 2;
		return 0;
	}
	/* Decoding never makes the text longer (an escape of 6 bytes is at
	 * most 3 bytes of UTF-8, a pair of 12 is 4). */
	if ((buf = malloc(s.n)) == NULL)
		return -1;
	o = buf;
	end = s.p + s.n - 1;
	for (p = s.p + 1; p < end; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		switch (p[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			/* p is at the backslash; a high surrogate may be
			 * followed by the escape of its low half. */
			cp = u4(p);
			if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 12 &&
			    p[6] == '\\' && p[7] == 'u' &&
			    (lo = u4(p + 6)) >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;	/* a lone surrogate */
			o += put_utf8(o, cp);
			p += 4;		/* to the last hex digit */
			break;
		default:		/* " \ / */
			*o++ = p[1];
			break;
		}
		p++;
	}
	*o = '\0';
	*alloc = buf;
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;
}

int
jspan_key_is(struct jspan raw, const char *key, size_t keylen)
{
	const char *s;
	char *alloc;
	size_t n;
	int eq;

	if (raw.n < 2 || raw.n - 2 < keylen)
		return 0;	/* escapes only make a name shorter */
	if (raw.n - 2 == keylen)	/* equal only if the same, unescaped */
		return memcmp(raw.p + 1, key, keylen) == 0 &&
		    memchr(raw.p + 1, '\\', raw.n - 2) == NULL;
	if (memchr(raw.p + 1, '\\', raw.n - 2) == NULL)
		return 0;
	if (jspan_string(raw, &s, &n, &alloc) == -1)
		return 0;
	/* A name is what comes before an escaped NUL ("a\u0000b" is "a"),
	 * as json-c keeps names: read parsed or in place, the same member. */
	n = strnlen(s, n);
	eq = n == keylen && memcmp(s, key, keylen) == 0;
	free(alloc);
	return eq;
}

int
jspan_member(struct jspan o, const char *key, size_t keylen,
    struct jspan *out)
{
	struct jspan_iter it;
	struct jspan k, v;
	int found = 0;

	if (jspan_type(o) != JS_OBJECT)
		return 0;
	jspan_iter_init(&it, o);
	while (jspan_next(&it, &k, &v))
		if (jspan_key_is(k, key, keylen)) {
			*out = v;
			found = 1;
		}
	return found;
}

int
jspan_item(struct jspan a, size_t i, struct jspan *out)
{
	struct jspan_iter it;
	struct jspan v;
	size_t k = 0;

	if (jspan_type(a) != JS_ARRAY)
		return 0;
	jspan_iter_init(&it, a);
	while (jspan_next(&it, NULL, &v))
		if (k++ == i) {
			*out = v;
			return 1;
		}
	return 0;
}

void
jspan_index_init(struct jspan_index *ix, struct jspan obj)
{
	struct jspan_iter it;
	struct jspan k, v;

	ix->obj = obj;
	ix->n = SIZE_MAX;
	if (jspan_type(obj) != JS_OBJECT)
		return;
	ix->n = 0;
	jspan_iter_init(&it, obj);
	while (jspan_next(&it, &k, &v)) {
		if (ix->n == JSPAN_INDEX_MAX) {
			ix->n = SIZE_MAX;
			return;
		}
		ix->key[ix->n] = k;
		ix->val[ix->n++] = v;
	}
}

/* jspan_member() through the index: the last match, so from the end. */
static int
index_member(const struct jspan_index *ix, const char *key, size_t keylen,
    struct jspan *out)
{
	size_t i;

	for (i = ix->n; i > 0; i--)
		if (jspan_key_is(ix->key[i - 1], key, keylen)) {
			*out = ix->val[i - 1];
			return 1;
		}
	return 0;
}

static int pointer(struct jspan, const char *, struct jspan *,
    const struct jspan_index *);

int
jspan_pointer(struct jspan doc, const char *ptr, struct jspan *out)
{
	return pointer(doc, ptr, out, NULL);
}

int
jspan_index_pointer(const struct jspan_index *ix, const char *ptr,
    struct jspan *out)
{
	return pointer(ix->obj, ptr, out, ix->n == SIZE_MAX ? NULL : ix);
}

/* Resolve ptr in doc token by token; a token of any length is decoded,
 * into tok or, when longer, into a buffer as long as the pointer.  With
 * ix (doc's index), the first token is looked up there. */
static int
pointer(struct jspan doc, const char *ptr, struct jspan *out,
    const struct jspan_index *ix)
{
	char small[256], *tok = small, *big = NULL;
	const char *p = ptr;
	struct jspan v = doc;
	size_t n, len;
	unsigned long idx;
	char *e;
	int found = 0;

	if (ptr == NULL)
		return 0;
	len = strlen(ptr);
	if (len >= sizeof small) {
		/* No token is longer than the pointer. */
		if ((big = malloc(len + 1)) == NULL)
			return 0;
		tok = big;
	}
	while (*p == '/') {
		p++;
		/* One reference token, ~1 and ~0 decoded. */
		for (n = 0; *p != '\0' && *p != '/'; p++) {
			if (*p == '~') {
				if (p[1] == '0')
					tok[n++] = '~';
				else if (p[1] == '1')
					tok[n++] = '/';
				else
					goto done;
				p++;
			} else
				tok[n++] = *p;
		}
		tok[n] = '\0';
		switch (jspan_type(v)) {
		case JS_OBJECT:
			if (ix != NULL ? !index_member(ix, tok, n, &v) :
			    !jspan_member(v, tok, n, &v))
				goto done;
			ix = NULL;
			break;
		case JS_ARRAY:
			if (n == 0 || (n > 1 && tok[0] == '0') ||
			    !isdigit_(tok[0]))
				goto done;
			errno = 0;
			idx = strtoul(tok, &e, 10);
			if (*e != '\0' || errno != 0 || !jspan_item(v, idx, &v))
				goto done;
			break;
		default:
			goto done;
		}
	}
	if (*p != '\0')
		goto done;
	*out = v;
	found = 1;
done:
	free(big);
	return found;
}

int
jspan_int64(struct jspan s, int64_t *out)
{
	const char *p = s.p, *end = s.p + s.n;
	int neg = 0;
	uint64_t v = 0, lim;

	if (jspan_type(s) != JS_NUMBER)
		return 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (p >= end)
		return 0;
	for (; p < end; p++) {
		if (!isdigit_(*p))
			return 0;	/* a fraction or an exponent */
		if (v > (lim - (uint64_t)(*p - '0')) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 1;
}
