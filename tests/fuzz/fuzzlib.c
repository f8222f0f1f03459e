/* SPDX-License-Identifier: ISC */
/* fuzzlib.c: helpers shared by the libFuzzer targets. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzlib.h"

static FILE *fz_err;

/* Keep a stream on a copy of fd 2 before libFuzzer may close it. */
void
fz_init(void)
{
	int fd;

	if (fz_err != NULL)
		return;
	if ((fd = dup(2)) != -1)
		fz_err = fdopen(fd, "w");
	if (fz_err == NULL)
		fz_err = stderr;
}

/* Guards on unless FUZZ_NO_GUARDS=1 (read once). */
int
fz_guard(void)
{
	static int guard = -1;
	const char *e;

	if (guard == -1)
		guard = (e = getenv("FUZZ_NO_GUARDS")) == NULL ||
		    strcmp(e, "1") != 0;
	return guard;
}

/* Print why the check failed and abort, which libFuzzer reports. */
void
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fz_init();
	fprintf(fz_err, "fuzz check failed: ");
	va_start(ap, fmt);
	vfprintf(fz_err, fmt, ap);
	va_end(ap);
	fprintf(fz_err, "\n");
	fflush(fz_err);
	abort();
}

/* A NUL-terminated copy of data[0, len); aborts without memory. */
char *
fz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* Start cutting data[0, len) into pieces. */
void
fz_cut_init(struct fz_cut *c, const uint8_t *data, size_t len)
{
	c->p = data;
	c->end = data + len;
}

/* The next piece up to a "\n--\n" separator (or the end). */
int
fz_piece(struct fz_cut *c, const uint8_t **p, size_t *len)
{
	const uint8_t *q;

	if (c->p == NULL)
		return 0;
	*p = c->p;
	q = memmem(c->p, (size_t)(c->end - c->p), "\n--\n", 4);
	if (q == NULL) {
		*len = (size_t)(c->end - c->p);
		c->p = NULL;
	} else {
		*len = (size_t)(q - c->p);
		c->p = q + 4;
	}
	return 1;
}

/* What conf_load() would make of the text. */
json_object *
fz_conf_parse(const uint8_t *p, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	char *text = fz_strndup(p, len), *fixed;
	json_object *o;

	/* conf_load() writes out the pairs json-c misreads (jspan.h). */
	if ((fixed = jspan_jsonc_text(text, len, &len)) != NULL) {
		free(text);
		text = fixed;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	free(text);
	return o;
}

/* Equal JSON values, whatever their spelling (json-c compares them). */
int
fz_same_json(const char *a, const char *b)
{
	json_object *x, *y;
	int eq;

	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a, b) == 0)
		return 1;
	x = json_tokener_parse(a);
	y = json_tokener_parse(b);
	eq = x != NULL && y != NULL && json_object_equal(x, y);
	json_object_put(x);
	json_object_put(y);
	return eq;
}

/* Look for the escape of a high surrogate, \\ud800 to \\udbff. */
int
fz_has_high_surrogate(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i + 4 < len; i++)
		if (text[i] == '\\' && text[i + 1] == 'u' &&
		    (text[i + 2] == 'd' || text[i + 2] == 'D') &&
		    strchr("89abAB", text[i + 3]) != NULL && text[i + 3] != '\0')
			return 1;
	return 0;
}

/* Is s[0, n) UTF-8 as RFC 3629 has it (no overlong forms, surrogates,
 * nothing past U+10FFFF)? */
static int
utf8_strict(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	unsigned int cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		for (k = 1; k <= need; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/*
 * What json-c's strict mode takes and RFC 8259 does not, as the project
 * documents it (docs/decisions.md, frame.h): a raw control character in a
 * string, a number such as "1." or "-.5", lax UTF-8, single-quoted
 * strings; and two it does not document: NaN and Infinity, leading zeros
 * ("00", "-01", "02.5").  Returns a word for the first one in text, or NULL.
 */
const char *
fz_lenient(const char *t, size_t n)
{
	size_t i;
	char q = 0;

	if (!utf8_strict((const unsigned char *)t, n))
		return "lax UTF-8";
	for (i = 0; i < n; i++) {
		if (q != 0) {
			if (t[i] == '\\')
				i++;
			else if (t[i] == q)
				q = 0;
			else if ((unsigned char)t[i] < 0x20)
				return "a control character in a string";
			continue;
		}
		if (t[i] == '"')
			q = '"';
		else if (t[i] == '\'')
			return "a single-quoted string";
		else if (t[i] == 'N' || t[i] == 'I')
			return "NaN or Infinity";
		else if (t[i] == '0' && i + 1 < n && t[i + 1] >= '0' &&
		    t[i + 1] <= '9' && (i == 0 || strchr("0123456789.eE",
		    t[i - 1]) == NULL))
			return "a number with a leading zero";
		else if (t[i] == '.' && (i + 1 == n || t[i + 1] < '0' ||
		    t[i + 1] > '9'))
			return "a number ending in \".\"";
		else if (t[i] == '.' && (i == 0 || t[i - 1] < '0' ||
		    t[i - 1] > '9'))
			return "a number starting with \".\"";
	}
	return NULL;
}

/* The JSON pointer being walked, for the messages and the pointer check. */
struct fz_walk {
	const char *what;
	struct jspan doc;
	char path[4096];
	size_t len;
	int nul;	/* a member name on the way holds a NUL */
	int longtok;	/* a reference token on the way is too long */
	int nodes;
	struct jspan_index ix;	/* doc's members, as http-batch reads */
};

/* Append one reference token (escaped) to the path; 0 when too long. */
static int
fz_push(struct fz_walk *w, const char *tok, size_t n)
{
	size_t i;

	if (w->len + 2 * n + 2 >= sizeof w->path)
		return 0;
	w->path[w->len++] = '/';
	for (i = 0; i < n; i++) {
		if (tok[i] == '~' || tok[i] == '/') {
			w->path[w->len++] = '~';
			w->path[w->len++] = tok[i] == '~' ? '0' : '1';
		} else
			w->path[w->len++] = tok[i];
	}
	w->path[w->len] = '\0';
	return 1;
}

static void fz_same1(struct fz_walk *w, json_object *o, struct jspan v);

/* Compare an object's members. */
static void
fz_same_object(struct fz_walk *w, json_object *o, struct jspan v)
{
	struct jspan_iter it;
	struct jspan k, val, found, kk, kv;
	const char *s;
	char *alloc;
	size_t n, distinct = 0, saved = w->len, count = 0;
	int nul = 0, long_before;

	/* Distinct names in the text (json-c keeps one per name). */
	jspan_iter_init(&it, v);
	while (jspan_next(&it, &k, &val)) {
		struct jspan_iter it2;
		int dup = 0;

		if (++count > 256)
			return;		/* quadratic below: enough */
		FZ_CHECK(jspan_string(k, &s, &n, &alloc) == 0,
		    "%s: %s: member name not a string", w->what, w->path);
		if (memchr(s, '\0', n) != NULL)
			nul = 1;
		free(alloc);
		jspan_iter_init(&it2, v);
		while (jspan_next(&it2, &kk, &kv) && kk.p != k.p)
			if (kk.n == k.n && memcmp(kk.p, k.p, k.n) == 0)
				dup = 1;
		if (!dup)
			distinct++;
	}
	/*
	 * json-c keeps member names as C strings: a name with \u0000 is cut
	 * at the NUL, so the two readings differ (a deliberate difference,
	 * docs/testing.md).  Differently escaped spellings of one name are
	 * counted twice above, so only "at most" holds for the count.
	 */
	if (nul) {
		w->nul = 1;
		return;
	}
	FZ_CHECK((size_t)json_object_object_length(o) <= distinct,
	    "%s: %s: json-c has %d members, the text %zu distinct names",
	    w->what, w->path, json_object_object_length(o), distinct);
	json_object_object_foreach(o, key, child) {
		FZ_CHECK(jspan_member(v, key, strlen(key), &found) == 1,
		    "%s: %s: member \"%s\" not found in place", w->what,
		    w->path, key);
		long_before = w->longtok;
		if (fz_push(w, key, strlen(key))) {
			fz_same1(w, child, found);
			w->len = saved;
			w->path[saved] = '\0';
		}
		w->longtok = long_before;
	}
}

/* Compare an array's items. */
static void
fz_same_array(struct fz_walk *w, json_object *o, struct jspan v)
{
	struct jspan_iter it;
	struct jspan k, val, item;
	size_t i = 0, saved = w->len;
	char tok[32];

	jspan_iter_init(&it, v);
	while (jspan_next(&it, &k, &val)) {
		FZ_CHECK(i < json_object_array_length(o),
		    "%s: %s: more items in place than parsed", w->what, w->path);
		FZ_CHECK(jspan_item(v, i, &item) == 1 && item.p == val.p &&
		    item.n == val.n, "%s: %s: jspan_item(%zu) is not the %zuth "
		    "item", w->what, w->path, i, i);
		snprintf(tok, sizeof tok, "%zu", i);
		if (fz_push(w, tok, strlen(tok))) {
			fz_same1(w, json_object_array_get_idx(o, i), val);
			w->len = saved;
			w->path[saved] = '\0';
		}
		i++;
	}
	FZ_CHECK(i == json_object_array_length(o),
	    "%s: %s: %zu items in place, %zu parsed", w->what, w->path, i,
	    json_object_array_length(o));
	FZ_CHECK(jspan_item(v, i, &item) == 0, "%s: %s: an item past the end",
	    w->what, w->path);
}

/* Compare one node, then its children. */
static void
fz_same1(struct fz_walk *w, json_object *o, struct jspan v)
{
	enum jspan_type t = jspan_type(v);
	struct jspan at;
	const char *s;
	char *alloc, *num;
	size_t n;
	int64_t i64;
	double d;

	if (++w->nodes > 2000)
		return;
	if (!w->nul && !w->longtok) {
		FZ_CHECK(jspan_pointer(w->doc, w->path, &at) == 1,
		    "%s: pointer \"%s\" finds nothing in place", w->what,
		    w->path);
		FZ_CHECK(at.p == v.p && at.n == v.n,
		    "%s: pointer \"%s\" finds another value", w->what, w->path);
		FZ_CHECK(jspan_index_pointer(&w->ix, w->path, &at) == 1 &&
		    at.p == v.p && at.n == v.n, "%s: pointer \"%s\" through "
		    "the member index finds another value", w->what, w->path);
	}
	switch (json_object_get_type(o)) {
	case json_type_null:
		FZ_CHECK(t == JS_NULL, "%s: %s: null parsed, type %d in place",
		    w->what, w->path, t);
		break;
	case json_type_boolean:
		FZ_CHECK(t == (json_object_get_boolean(o) ? JS_TRUE : JS_FALSE),
		    "%s: %s: boolean parsed, type %d in place", w->what, w->path,
		    t);
		break;
	case json_type_int:
	case json_type_double:
		FZ_CHECK(t == JS_NUMBER, "%s: %s: number parsed, type %d in "
		    "place", w->what, w->path, t);
		if (jspan_int64(v, &i64) && json_object_is_type(o,
		    json_type_int))
			FZ_CHECK(json_object_get_int64(o) == i64,
			    "%s: %s: %lld in place, %lld parsed", w->what,
			    w->path, (long long)i64,
			    (long long)json_object_get_int64(o));
		if (json_object_is_type(o, json_type_double)) {
			num = fz_strndup((const uint8_t *)v.p, v.n);
			d = strtod(num, NULL);
			FZ_CHECK(d == json_object_get_double(o) ||
			    (isnan(d) && isnan(json_object_get_double(o))),
			    "%s: %s: %s is %g parsed", w->what, w->path, num,
			    json_object_get_double(o));
			free(num);
		}
		break;
	case json_type_string:
		FZ_CHECK(t == JS_STRING, "%s: %s: string parsed, type %d in "
		    "place", w->what, w->path, t);
		FZ_CHECK(jspan_string(v, &s, &n, &alloc) == 0,
		    "%s: %s: jspan_string failed", w->what, w->path);
		FZ_CHECK(n == (size_t)json_object_get_string_len(o) &&
		    memcmp(s, json_object_get_string(o), n) == 0,
		    "%s: %s: string \"%.*s\" in place, \"%s\" parsed", w->what,
		    w->path, (int)n, s, json_object_get_string(o));
		if (jspan_plain_string(v))
			FZ_CHECK(alloc == NULL && n == v.n - 2,
			    "%s: %s: a plain string decoded differently",
			    w->what, w->path);
		free(alloc);
		break;
	case json_type_array:
		FZ_CHECK(t == JS_ARRAY, "%s: %s: array parsed, type %d in place",
		    w->what, w->path, t);
		fz_same_array(w, o, v);
		break;
	case json_type_object:
		FZ_CHECK(t == JS_OBJECT, "%s: %s: object parsed, type %d in "
		    "place", w->what, w->path, t);
		fz_same_object(w, o, v);
		break;
	}
}

/* Walk o and its span together from the root of doc. */
void
fz_same(const char *what, json_object *o, struct jspan v, struct jspan doc)
{
	struct fz_walk *w = calloc(1, sizeof *w);
	struct jspan whole;

	if (w == NULL)
		abort();
	w->what = what;
	w->doc = doc;
	jspan_index_init(&w->ix, doc);
	/* The walk's pointers are relative to v; v must be doc itself. */
	FZ_CHECK(jspan_pointer(doc, "", &whole) == 1 && whole.p == doc.p &&
	    whole.n == doc.n, "%s: pointer \"\" is not the document", what);
	fz_same1(w, o, v);
	free(w);
}

/* Does the text hold a single quote outside double-quoted strings? */
int
fz_single_quoted(const char *t, size_t n)
{
	size_t i;
	int in = 0;

	for (i = 0; i < n; i++) {
		if (in && t[i] == '\\')
			i++;
		else if (t[i] == '"')
			in = !in;
		else if (!in && t[i] == '\'')
			return 1;
	}
	return 0;
}
