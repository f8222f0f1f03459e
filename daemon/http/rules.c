/* SPDX-License-Identifier: ISC */
/* rules.c: request templates and outcome rules of the HTTP pollers (see
 * rules.h and docs/http-templates.md).
 *
 * Templates are compiled when the configuration is read: a string becomes
 * a list of literal pieces and placeholders, a JSON body keeps its shape
 * with its strings compiled in walk order.  Rendering makes one pass and
 * parses each task's JSON at most once. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "frame.h"
#include "rules.h"
#include "util.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ */
/* JSON pointers */

int
jptr_valid(const char *p)
{
	if (p == NULL)
		return 0;
	if (*p == '\0')
		return 1;
	if (*p != '/')
		return 0;
	for (; *p != '\0'; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return 0;
	return 1;
}

/* The next reference token of p (after a '/') into buf, which has room
 * for all of p; returns the rest. */
static const char *
jptr_token(const char *p, char *buf)
{
	size_t n = 0;

	for (; *p != '\0' && *p != '/'; p++) {
		char ch = *p;

		if (ch == '~') {
			ch = p[1] == '1' ? '/' : '~';
			p++;
		}
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return p;
}

json_object *
jparse(const char *text)
{
	static json_tokener *tok;
	json_object *o;
	const char *end;
	char *fixed;
	size_t flen;

	if (text == NULL)
		return NULL;
	if (tok == NULL && (tok = json_tokener_new()) == NULL)
		return NULL;
	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(text, strlen(text), &flen)) != NULL)
		text = fixed;
	frame_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, text, -1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	} else {
		/* One value and nothing after it. */
		end = text + json_tokener_get_parse_end(tok);
		while (*end == ' ' || *end == '\t' || *end == '\n' ||
		    *end == '\r')
			end++;
		if (*end != '\0') {
			json_object_put(o);
			o = NULL;
		} else
			o = frame_keep_numbers(o, text, strlen(text));
	}
	free(fixed);
	return o;
}

#define JSPAN_TOK_DEPTH 256

/* json-c prints a number as it was spelt ("1."): set each again, so that
 * it prints its value ("1.0").  One too large for a double keeps its
 * spelling ("1e999", JSON, read as it is read without the rewrite): set,
 * it would print "Infinity". */
static void
respell_numbers(json_object *o)
{
	size_t i;

	switch (json_object_get_type(o)) {
	case json_type_double:
		if (isfinite(json_object_get_double(o)))
			json_object_set_double(o, json_object_get_double(o));
		break;
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			respell_numbers(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, val) {
			(void)k;
			respell_numbers(val);
		}
		break;
	}
	default:
		break;
	}
}

int
jspan_check_json(const char *text, size_t len, struct jspan *v, char **redo)
{
	static json_tokener *tok;
	json_object *o;
	const char *s;
	char *copy;
	int ok;

	*redo = NULL;
	if (jspan_check(text, len, 64, v, NULL, NULL) == 0)
		return 0;
	/* The rare way: as json-c reads it, NUL-terminated so that a bare
	 * number ends. */
	if (tok == NULL) {
		if ((tok = json_tokener_new_ex(64)) == NULL)
			return -1;
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
		    JSON_TOKENER_VALIDATE_UTF8);
	}
	if ((copy = jspan_jsonc_text(text, len, &len)) == NULL)
		copy = xstrndup(text, len);
	frame_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, copy, -1);
	ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success;
	if (ok) {
		const char *end = copy + json_tokener_get_parse_end(tok);

		while (*end == ' ' || *end == '\t' || *end == '\n' ||
		    *end == '\r')
			end++;
		ok = *end == '\0';
	}
	if (ok) {
		respell_numbers(o);
		/* Integers beyond 64 bits as they came, not clamped. */
		o = frame_keep_numbers(o, copy, strlen(copy));
		/* json-c also takes overlong forms and encoded surrogates,
		 * and writes them back as they came: U+FFFD for them. */
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		*redo = utf8_repair(s, strlen(s), NULL);
	}
	free(copy);
	json_object_put(o);
	if (*redo != NULL &&
	    jspan_check(*redo, strlen(*redo), 64, v, NULL, NULL) == 0)
		return 0;
	free(*redo);
	*redo = NULL;
	return -1;
}

json_object *
jparse_body(const char *text, size_t len)
{
	struct jspan v;
	json_object *o;
	char *redo;

	if (text == NULL || len == 0 ||
	    jspan_check_json(text, len, &v, &redo) == -1)
		return NULL;
	o = jspan_json(v);
	free(redo);
	return o;
}

json_object *
jspan_json(struct jspan v)
{
	static json_tokener *tok;
	json_object *o;
	const char *s;
	char *alloc;
	size_t len, flen;
	int64_t n;

	switch (jspan_type(v)) {
	case JS_NULL:
	case JS_INVALID:
		return NULL;
	case JS_TRUE:
	case JS_FALSE:
		return json_object_new_boolean(jspan_type(v) == JS_TRUE);
	case JS_STRING:
		if (v.n > INT32_MAX || jspan_string(v, &s, &len, &alloc) == -1)
			return NULL;
		o = json_object_new_string_len(s, (int)len);
		free(alloc);
		return o;
	case JS_NUMBER:
		if (jspan_int64(v, &n))
			return json_object_new_int64(n);
		/* json-c reads a number to its end only at a terminator:
		 * parse it NUL-terminated. */
		alloc = xstrndup(v.p, v.n);
		o = jparse(alloc);
		free(alloc);
		return o;
	default:
		/* Checked text: any depth jspan_check() allowed. */
		if (tok == NULL && (tok = json_tokener_new_ex(
		    JSPAN_TOK_DEPTH)) == NULL)
			return NULL;
		if (v.n > INT32_MAX)
			return NULL;
		frame_tokener_reset(tok);
		if ((alloc = jspan_jsonc_text(v.p, v.n, &flen)) != NULL) {
			v.p = alloc;
			v.n = flen;
		}
		o = json_tokener_parse_ex(tok, v.p, (int)v.n);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(o);
			o = NULL;
		} else
			o = frame_keep_numbers(o, v.p, v.n);
		free(alloc);
		return o;
	}
}

/* Resolve ptr in doc; a reference token of any length is decoded, into
 * tok or, when longer, into a buffer as long as the pointer. */
json_object *
jptr_get(json_object *doc, const char *ptr)
{
	char small[256], *tok = small, *big = NULL, *end;
	const char *p = ptr;
	json_object *v = doc;
	unsigned long idx;
	size_t len;

	if (ptr == NULL || !jptr_valid(ptr))
		return NULL;
	if ((len = strlen(ptr)) >= sizeof small)
		tok = big = xmalloc(len + 1);
	while (*p == '/' && v != NULL) {
		p = jptr_token(p + 1, tok);
		if (json_object_is_type(v, json_type_object)) {
			if (!json_object_object_get_ex(v, tok, &v))
				v = NULL;
		} else if (json_object_is_type(v, json_type_array)) {
			/* Digits, no leading zero; "-" (past the end) is never
			 * there. */
			if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0') ||
			    strspn(tok, "0123456789") != strlen(tok))
				v = NULL;
			else {
				errno = 0;
				idx = strtoul(tok, &end, 10);
				v = errno != 0 ||
				    idx >= json_object_array_length(v) ? NULL :
				    json_object_array_get_idx(v, idx);
			}
		} else
			v = NULL;
	}
	free(big);
	return v;
}

/* ------------------------------------------------------------------ */
/* String templates */

enum ph_kind { PH_ID, PH_REF, PH_ARGS, PH_LABEL, PH_IDS, PH_REFS };

struct piece {
	char *text;		/* literal, or NULL for a placeholder */
	enum ph_kind kind;
	char *arg;		/* pointer (ref, args, refs) or label name */
};

struct stmpl {
	struct piece *p;
	size_t n;
	int whole;		/* exactly one placeholder, nothing else */
};

enum tctx { T_URL, T_HEADER, T_BODY };

static void
stmpl_free(struct stmpl *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->p[i].text);
		free(t->p[i].arg);
	}
	free(t->p);
	free(t);
}

static void
stmpl_add(struct stmpl *t, char *text, enum ph_kind k, char *arg)
{
	t->p = xreallocarray(t->p, t->n + 1, sizeof *t->p);
	t->p[t->n].text = text;
	t->p[t->n].kind = k;
	t->p[t->n].arg = arg;
	t->n++;
}

/* Parse one placeholder expression; NULL with *why on error. */
static int
ph_parse(const char *e, size_t len, int batch, enum ph_kind *k, char **arg,
    char **why)
{
	static const struct {
		const char *name;
		enum ph_kind kind;
		int batch;	/* 1: batch only, 0: per task only */
	} names[] = {
		{ "id", PH_ID, 0 }, { "ref", PH_REF, 0 }, { "args", PH_ARGS, 0 },
		{ "labels", PH_LABEL, 0 }, { "ids", PH_IDS, 1 },
		{ "refs", PH_REFS, 1 },
	};
	char *s = xcalloc(1, len + 1), *rest;
	size_t i, nl;

	memcpy(s, e, len);
	*arg = NULL;
	for (i = 0; i < nitems(names); i++) {
		nl = strlen(names[i].name);
		if (strncmp(s, names[i].name, nl) != 0 ||
		    (s[nl] != '\0' && s[nl] != '/'))
			continue;
		rest = s + nl;
		if (names[i].batch != batch) {
			xasprintf(why, "{{%s}}: \"%s\" is only for %s templates",
			    s, names[i].name, batch ? "per-task" : "batch");
			goto bad;
		}
		*k = names[i].kind;
		if (*k == PH_ID || *k == PH_IDS) {
			if (*rest != '\0') {
				xasprintf(why, "{{%s}}: \"%s\" takes no pointer",
				    s, names[i].name);
				goto bad;
			}
		} else if (*k == PH_LABEL) {
			if (rest[0] != '/' || rest[1] == '\0' ||
			    strchr(rest + 1, '/') != NULL) {
				xasprintf(why, "{{%s}}: expected labels/NAME", s);
				goto bad;
			}
			*arg = xstrdup(rest + 1);
		} else {
			if (!jptr_valid(rest)) {
				xasprintf(why, "{{%s}}: \"%s\" is not a JSON "
				    "pointer", s, rest);
				goto bad;
			}
			*arg = xstrdup(rest);
		}
		free(s);
		return 0;
	}
	xasprintf(why, "{{%s}}: unknown placeholder (known: id, ref, ref/PTR, "
	    "args, args/PTR, labels/NAME%s)", s, batch ? ", ids, refs, "
	    "refs/PTR; id, ref, args and labels are per-task" : "");
bad:
	free(s);
	return -1;
}

static struct stmpl *
stmpl_compile(const char *s, int batch, char **why)
{
	struct stmpl *t = xcalloc(1, sizeof *t);
	const char *p = s, *open, *close;
	enum ph_kind k;
	char *arg;
	int nph = 0;

	while (*p != '\0') {
		if ((open = strstr(p, "{{")) == NULL) {
			stmpl_add(t, xstrdup(p), 0, NULL);
			break;
		}
		if (open > p)
			stmpl_add(t, strndup(p, (size_t)(open - p)), 0, NULL);
		if ((close = strstr(open + 2, "}}")) == NULL) {
			xasprintf(why, "\"{{\" without \"}}\" in \"%s\"", s);
			goto bad;
		}
		if (ph_parse(open + 2, (size_t)(close - open - 2), batch, &k,
		    &arg, why) == -1)
			goto bad;
		stmpl_add(t, NULL, k, arg);
		nph++;
		p = close + 2;
	}
	t->whole = t->n == 1 && nph == 1;
	return t;
bad:
	stmpl_free(t);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Rendering */

struct rctx {
	const struct tmpl_task *tasks;
	size_t n;
	json_object **labels;		/* parsed on demand */
};

static void
rctx_clear(struct rctx *r)
{
	size_t i;

	for (i = 0; i < r->n && r->labels != NULL; i++)
		json_object_put(r->labels[i]);
	free(r->labels);
}

static json_object *
rctx_labels(struct rctx *r, size_t i, const char *text)
{
	if (r->labels == NULL)
		r->labels = xcalloc(r->n, sizeof *r->labels);
	if (r->labels[i] == NULL && text != NULL)
		r->labels[i] = jparse(text);
	return r->labels[i];
}

/*
 * The value at ptr of a task's ref or arguments (a new reference; NULL
 * when absent or null): from doc when already parsed, else read in place
 * from the text, so a batch of 1,000 refs costs no json-c tree each.
 */
static json_object *
task_value(const char *text, json_object *doc, const char *ptr)
{
	struct jspan d, v;
	json_object *o = NULL;
	char *redo;

	if (doc != NULL)
		return json_object_get(jptr_get(doc, ptr));
	if (text != NULL && jspan_check_json(text, strlen(text), &d,
	    &redo) == 0) {
		if (jspan_pointer(d, ptr, &v))
			o = jspan_json(v);
		free(redo);
	}
	return o;
}

/* The value of a placeholder: a new reference, or NULL with *why. */
static json_object *
ph_value(struct rctx *r, const struct piece *pc, char **why)
{
	const struct tmpl_task *t = &r->tasks[0];
	json_object *doc, *v, *a;
	size_t i;

	switch (pc->kind) {
	case PH_ID:
		return json_object_new_string(t->id != NULL ? t->id : "");
	case PH_IDS:
		a = json_object_new_array_ext((int)r->n);
		for (i = 0; i < r->n; i++)
			json_object_array_add(a, json_object_new_string(
			    r->tasks[i].id != NULL ? r->tasks[i].id : ""));
		return a;
	case PH_REF:
	case PH_ARGS:
		if ((v = task_value(pc->kind == PH_REF ? t->ref : t->args,
		    pc->kind == PH_REF ? t->ref_doc : NULL, pc->arg)) == NULL) {
			xasprintf(why, "{{%s%s}}: task %s has no %s%s",
			    pc->kind == PH_REF ? "ref" : "args", pc->arg,
			    t->id != NULL ? t->id : "?", pc->kind == PH_REF ?
			    "ref" : "args", *pc->arg ? pc->arg : "");
			return NULL;
		}
		return v;
	case PH_LABEL:
		doc = rctx_labels(r, 0, t->labels);
		if (doc == NULL || !json_object_object_get_ex(doc, pc->arg, &v)) {
			xasprintf(why, "{{labels/%s}}: task %s has no label %s",
			    pc->arg, t->id != NULL ? t->id : "?", pc->arg);
			return NULL;
		}
		return json_object_get(v);
	case PH_REFS:
		a = json_object_new_array_ext((int)r->n);
		for (i = 0; i < r->n; i++) {
			if ((v = task_value(r->tasks[i].ref,
			    r->tasks[i].ref_doc, pc->arg)) == NULL) {
				xasprintf(why, "{{refs%s}}: task %s has no "
				    "ref%s", pc->arg, r->tasks[i].id != NULL ?
				    r->tasks[i].id : "?", pc->arg);
				json_object_put(a);
				return NULL;
			}
			json_object_array_add(a, v);
		}
		return a;
	}
	return NULL;
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		b->cap = (b->n + len + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void
sb_url(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~')
			sb_add(b, s, 1);
		else {
			e[0] = '%';
			e[1] = hex[ch >> 4];
			e[2] = hex[ch & 15];
			sb_add(b, e, 3);
		}
	}
}

/* A scalar's text: a string's content, anything else its JSON. */
static const char *
val_text(json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void
sb_value(struct sbuf *b, json_object *v, enum tctx ctx)
{
	size_t i;

	if (ctx == T_URL && json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v); i++) {
			if (i > 0)
				sb_add(b, ",", 1);
			sb_url(b, val_text(json_object_array_get_idx(v, i)));
		}
		return;
	}
	if (ctx == T_URL)
		sb_url(b, val_text(v));
	else {
		const char *s = val_text(v);
		sb_add(b, s, strlen(s));
	}
}

/* A JSON text that json-c prints as it is (see refs_raw()). */
static int
raw_serialize(json_object *o, struct printbuf *pb, int level, int flags)
{
	const char *text = json_object_get_userdata(o);

	(void)level;
	(void)flags;
	return printbuf_memappend(pb, text, (int)strlen(text));
}

static void
raw_free(json_object *o, void *userdata)
{
	(void)o;
	free(userdata);
}

/*
 * A body string that is exactly {{refs/PTR}}: the array written as text
 * from each ref's value in place (a search of 1,000 tasks would otherwise
 * make and print 1,000 json-c values), as a value json-c prints verbatim.
 */
static json_object *
refs_raw(struct rctx *r, const struct piece *pc, char **why)
{
	struct sbuf b = { NULL, 0, 0 };
	struct jspan d, v;
	json_object *o, *jv;
	const char *text;
	char *redo;
	size_t i;
	int ok;

	sb_add(&b, "[", 1);
	for (i = 0; i < r->n; i++) {
		if (i > 0)
			sb_add(&b, ",", 1);
		ok = 0;
		if (r->tasks[i].ref_doc != NULL) {
			if ((jv = jptr_get(r->tasks[i].ref_doc, pc->arg)) !=
			    NULL) {
				text = json_object_to_json_string_ext(jv,
				    JSON_C_TO_STRING_PLAIN |
				    JSON_C_TO_STRING_NOSLASHESCAPE);
				sb_add(&b, text, strlen(text));
				ok = 1;
			}
		} else if (r->tasks[i].ref != NULL &&
		    jspan_check_json(r->tasks[i].ref, strlen(r->tasks[i].ref),
		    &d, &redo) == 0) {
			if (jspan_pointer(d, pc->arg, &v) &&
			    jspan_type(v) != JS_NULL) {
				sb_add(&b, v.p, v.n);
				ok = 1;
			}
			free(redo);
		}
		if (!ok) {
			xasprintf(why, "{{refs%s}}: task %s has no ref%s",
			    pc->arg, r->tasks[i].id != NULL ? r->tasks[i].id :
			    "?", pc->arg);
			free(b.p);
			return NULL;
		}
	}
	sb_add(&b, "]", 1);
	o = json_object_new_array();
	json_object_set_serializer(o, raw_serialize, b.p, raw_free);
	return o;
}

/* Render a string template as text; NULL with *why. */
static char *
stmpl_text(const struct stmpl *t, struct rctx *r, enum tctx ctx, char **why)
{
	struct sbuf b = { NULL, 0, 0 };
	json_object *v;
	size_t i;

	sb_add(&b, "", 0);
	for (i = 0; i < t->n; i++) {
		if (t->p[i].text != NULL) {
			sb_add(&b, t->p[i].text, strlen(t->p[i].text));
			continue;
		}
		if ((v = ph_value(r, &t->p[i], why)) == NULL) {
			free(b.p);
			return NULL;
		}
		sb_value(&b, v, ctx);
		json_object_put(v);
	}
	return b.p;
}

/* ------------------------------------------------------------------ */
/* Request templates */

struct req_tmpl {
	char *method;
	struct stmpl *url;
	char **hnames;
	struct stmpl **hvals;
	size_t nheaders;
	json_object *body;		/* the body's shape */
	struct stmpl **bstr;		/* its strings, in walk order */
	size_t nbstr;
};

void
req_tmpl_free(struct req_tmpl *t)
{
	size_t i;

	if (t == NULL)
		return;
	free(t->method);
	stmpl_free(t->url);
	for (i = 0; i < t->nheaders; i++) {
		free(t->hnames[i]);
		stmpl_free(t->hvals[i]);
	}
	free(t->hnames);
	free(t->hvals);
	json_object_put(t->body);
	for (i = 0; i < t->nbstr; i++)
		stmpl_free(t->bstr[i]);
	free(t->bstr);
	free(t);
}

/* Compile every string of a body, in walk order. */
static int
body_compile(struct req_tmpl *t, json_object *v, int batch, char **why)
{
	struct stmpl *s;
	size_t i;

	switch (json_object_get_type(v)) {
	case json_type_string:
		if ((s = stmpl_compile(json_object_get_string(v), batch,
		    why)) == NULL)
			return -1;
		t->bstr = xreallocarray(t->bstr, t->nbstr + 1, sizeof *t->bstr);
		t->bstr[t->nbstr++] = s;
		return 0;
	case json_type_array:
		for (i = 0; i < json_object_array_length(v); i++)
			if (body_compile(t, json_object_array_get_idx(v, i),
			    batch, why) == -1)
				return -1;
		return 0;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if (body_compile(t, val, batch, why) == -1)
				return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* at, then a '/' and name as a reference token (~ as ~0, / as ~1). */
static char *
jptr_append(const char *at, const char *name)
{
	size_t n = strlen(at);
	char *out = xmalloc(n + 2 * strlen(name) + 2), *o = out + n;

	memcpy(out, at, n);
	*o++ = '/';
	for (; *name != '\0'; name++) {
		if (*name == '~' || *name == '/') {
			*o++ = '~';
			*o++ = *name == '~' ? '0' : '1';
		} else
			*o++ = *name;
	}
	*o = '\0';
	return out;
}

/*
 * The numbers of a body as JSON: json-c read the file leniently and keeps
 * a double's spelling ("01.5", "1.", "-.5"), which would be sent as it is;
 * one spelt otherwise than JSON is set again, so that it prints its value.
 * NaN and the infinities have no JSON spelling: 0, or -1 with *why naming
 * the first one's place.
 */
static int
body_numbers(json_object *v, const char *at, char **why)
{
	char *sub;
	size_t i;
	int rc = 0;

	switch (json_object_get_type(v)) {
	case json_type_double:
		if (json_bad_number(v) != NULL) {
			xasprintf(why, "%s%s%s is not a JSON number (JSON has no "
			    "NaN or Infinity)", at, *at != '\0' ? ": " : "",
			    json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN));
			return -1;
		}
		json_strict_numbers(v);
		return 0;
	case json_type_array:
		for (i = 0; rc == 0 && i < json_object_array_length(v); i++) {
			xasprintf(&sub, "%s/%zu", at, i);
			rc = body_numbers(json_object_array_get_idx(v, i), sub,
			    why);
			free(sub);
		}
		return rc;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			sub = jptr_append(at, key);
			rc = body_numbers(val, sub, why);
			free(sub);
			if (rc == -1)
				return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

static int
method_ok(const char *m)
{
	size_t i;

	for (i = 0; m[i] != '\0'; i++)
		if (!isupper((unsigned char)m[i]))
			return 0;
	return i > 0 && i <= 16;
}

static int
header_name_ok(const char *n)
{
	const char *p;

	if (*n == '\0')
		return 0;
	for (p = n; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			return 0;
	return 1;
}

struct req_tmpl *
req_tmpl_read(struct cfg *c, const char *key, int batch)
{
	struct req_tmpl *t;
	struct cfg *sub = NULL;
	json_object *headers = NULL;
	char *url = NULL, *why = NULL;
	struct stmpl *s;

	if (cfg_sub(c, key, &sub) != 1)
		return NULL;
	t = xcalloc(1, sizeof *t);
	if (cfg_string(sub, "method", &t->method) == 1 &&
	    !method_ok(t->method))
		cfg_error(sub, "method", "\"%s\" is not an HTTP method (upper "
		    "case letters, such as \"GET\" or \"POST\")", t->method);
	if (cfg_string(sub, "url", &url) == 0)
		cfg_error(sub, "url", "missing: the request's URL, absolute or "
		    "relative to the poller's url");
	else if (url != NULL && (t->url = stmpl_compile(url, batch,
	    &why)) == NULL)
		cfg_error(sub, "url", "%s", why);
	free(why);
	why = NULL;
	if (cfg_json(sub, "headers", &headers) == 1) {
		if (!json_object_is_type(headers, json_type_object))
			cfg_error(sub, "headers", "expected an object of "
			    "\"Name\": \"value\"");
		else {
			json_object_object_foreach(headers, name, val) {
				if (cfg_failed(sub))
					break;
				if (!header_name_ok(name)) {
					cfg_error(sub, "headers", "\"%s\" is not a "
					    "header name", name);
					break;
				}
				if (!json_object_is_type(val, json_type_string)) {
					cfg_error(sub, "headers", "%s: expected "
					    "a string", name);
					break;
				}
				if ((s = stmpl_compile(json_object_get_string(
				    val), batch, &why)) == NULL) {
					cfg_error(sub, "headers", "%s: %s", name,
					    why);
					free(why);
					why = NULL;
					break;
				}
				t->hnames = xreallocarray(t->hnames,
				    t->nheaders + 1, sizeof *t->hnames);
				t->hvals = xreallocarray(t->hvals,
				    t->nheaders + 1, sizeof *t->hvals);
				t->hnames[t->nheaders] = xstrdup(name);
				t->hvals[t->nheaders++] = s;
			}
		}
	}
	json_object_put(headers);
	if (cfg_json(sub, "body", &t->body) == 1 &&
	    (body_numbers(t->body, "", &why) == -1 ||
	    body_compile(t, t->body, batch, &why) == -1)) {
		cfg_error(sub, "body", "%s", why);
		free(why);
	}
	if (t->method == NULL)
		t->method = xstrdup(t->body != NULL ? "POST" : "GET");
	free(url);
	cfg_finish(sub);
	cfg_free(sub);
	if (cfg_failed(c)) {
		req_tmpl_free(t);
		return NULL;
	}
	return t;
}

/* Rebuild the body with its strings rendered; *i walks t->bstr. */
static json_object *
body_render(const struct req_tmpl *t, json_object *v, size_t *i,
    struct rctx *r, char **why)
{
	const struct stmpl *s;
	json_object *out, *e;
	char *text;
	size_t k;

	switch (json_object_get_type(v)) {
	case json_type_string:
		s = t->bstr[(*i)++];
		if (s->whole && s->p[0].kind == PH_REFS)
			return refs_raw(r, &s->p[0], why);
		if (s->whole)
			return ph_value(r, &s->p[0], why);
		if ((text = stmpl_text(s, r, T_BODY, why)) == NULL)
			return NULL;
		out = json_object_new_string(text);
		free(text);
		return out;
	case json_type_array:
		out = json_object_new_array();
		for (k = 0; k < json_object_array_length(v); k++) {
			if ((e = body_render(t, json_object_array_get_idx(v, k),
			    i, r, why)) == NULL &&
			    *why != NULL) {
				json_object_put(out);
				return NULL;
			}
			json_object_array_add(out, e);
		}
		return out;
	case json_type_object:
		out = json_object_new_object();
		{
			json_object_object_foreach(v, key, val) {
				if ((e = body_render(t, val, i, r, why)) ==
				    NULL && *why != NULL) {
					json_object_put(out);
					return NULL;
				}
				json_object_object_add(out, key, e);
			}
		}
		return out;
	default:
		return json_object_get(v);
	}
}

int
req_tmpl_render(const struct req_tmpl *t, const struct tmpl_task *tasks,
    size_t n, struct req *out, char **why)
{
	struct rctx r;
	json_object *b;
	char *v;
	size_t i, k = 0;

	memset(out, 0, sizeof *out);
	memset(&r, 0, sizeof r);
	*why = NULL;
	r.tasks = tasks;
	r.n = n;
	if (n == 0) {
		*why = xstrdup("no task to render the request for");
		return -1;
	}
	out->method = xstrdup(t->method);
	if ((out->url = stmpl_text(t->url, &r, T_URL, why)) == NULL)
		goto bad;
	out->headers = xcalloc(t->nheaders + 1, sizeof *out->headers);
	for (i = 0; i < t->nheaders; i++) {
		if ((v = stmpl_text(t->hvals[i], &r, T_HEADER, why)) == NULL)
			goto bad;
		if (strpbrk(v, "\r\n") != NULL) {
			xasprintf(why, "header %s: the value would contain a "
			    "line break", t->hnames[i]);
			free(v);
			goto bad;
		}
		xasprintf(&out->headers[i], "%s: %s", t->hnames[i], v);
		free(v);
	}
	if (t->nbstr == 1 && t->bstr[0]->whole &&
	    json_object_is_type(t->body, json_type_string) &&
	    t->bstr[0]->p[0].kind == PH_ARGS && *t->bstr[0]->p[0].arg == '\0' &&
	    tasks[0].args != NULL)
		/* "body": "{{args}}": the arguments as stored (compact JSON
		 * the daemon wrote), without a parse and a print. */
		out->body = xstrdup(tasks[0].args);
	else if (t->body != NULL) {
		if ((b = body_render(t, t->body, &k, &r, why)) == NULL &&
		    *why != NULL)
			goto bad;
		out->body = xstrdup(b == NULL ? "null" :
		    json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(b);
	}
	rctx_clear(&r);
	return 0;
bad:
	rctx_clear(&r);
	req_clear(out);
	return -1;
}

void
req_clear(struct req *r)
{
	size_t i;

	free(r->method);
	free(r->url);
	for (i = 0; r->headers != NULL && r->headers[i] != NULL; i++)
		free(r->headers[i]);
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */
/* Outcome rules */

enum mkind {
	M_EQUALS, M_IN, M_ANY, M_ALL, M_EXISTS, M_STATUS, M_HEADER_EXISTS,
	M_HEADER_EQUALS, M_ERROR,
};

struct matcher {
	enum mkind kind;
	char *path;		/* M_EQUALS .. M_EXISTS */
	char *header;
	json_object *value;	/* equals / in (array) / any / all / header */
	int exists;
	int ignore_case;
	int status_class;	/* 2 for "2xx", 0: a list */
	long statuses[16];
	size_t nstatuses;
	enum px_state state;
};

struct rules {
	struct matcher *m;
	size_t n;
	char *result, *error_message, *error_code, *progress;
	enum px_state dflt;
};

void
rules_free(struct rules *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->m[i].path);
		free(r->m[i].header);
		json_object_put(r->m[i].value);
	}
	free(r->m);
	free(r->result);
	free(r->error_message);
	free(r->error_code);
	free(r->progress);
	free(r);
}

static int
state_parse(const char *s, enum px_state *st)
{
	if (strcmp(s, "succeeded") == 0)
		*st = PX_STATE_SUCCEEDED;
	else if (strcmp(s, "failed") == 0)
		*st = PX_STATE_FAILED;
	else if (strcmp(s, "pending") == 0 || strcmp(s, "retry") == 0)
		*st = PX_STATE_PENDING;
	else
		return -1;
	return 0;
}

/* Read one rule object; -1 after cfg_error naming "rules[i].key". */
static int
rule_read(struct cfg *c, json_object *o, size_t i, struct matcher *m)
{
	static const char *const keys[] = { "path", "equals", "in", "any",
		"all", "exists", "status", "header", "error", "ignore_case",
		"state" };
	json_object *v;
	char key[64];
	size_t k, nk;
	int ok;

#define RERR(k_, ...) do {						\
	snprintf(key, sizeof key, "rules[%zu]%s%s", i, *(k_) ? "." : "",\
	    (k_));							\
	return cfg_error(c, key, __VA_ARGS__);				\
} while (0)

	memset(m, 0, sizeof *m);
	if (!json_object_is_type(o, json_type_object))
		RERR("", "expected an object such as {\"path\": \"/state\", "
		    "\"equals\": \"done\", \"state\": \"succeeded\"}");
	json_object_object_foreach(o, name, val) {
		(void)val;
		for (ok = 0, k = 0; k < nitems(keys) && !ok; k++)
			ok = strcmp(name, keys[k]) == 0;
		if (!ok)
			RERR(name, "unknown key");
	}
	if (!json_object_object_get_ex(o, "state", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    state_parse(json_object_get_string(v), &m->state) == -1)
		RERR("state", "expected \"succeeded\", \"failed\" or "
		    "\"pending\"");
	if (json_object_object_get_ex(o, "ignore_case", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			RERR("ignore_case", "expected true or false");
		m->ignore_case = json_object_get_boolean(v);
	}
	/* Exactly one subject: path, status, header or error. */
	nk = json_object_object_get_ex(o, "path", NULL) +
	    json_object_object_get_ex(o, "status", NULL) +
	    json_object_object_get_ex(o, "header", NULL) +
	    json_object_object_get_ex(o, "error", NULL);
	if (nk != 1)
		RERR("", "needs exactly one of \"path\", \"status\", \"header\" "
		    "or \"error\"");
	if (json_object_object_get_ex(o, "error", &v)) {
		if (!json_object_is_type(v, json_type_boolean) ||
		    !json_object_get_boolean(v))
			RERR("error", "expected true");
		if (json_object_object_length(o) != 2 + (m->ignore_case ||
		    json_object_object_get_ex(o, "ignore_case", NULL)))
			RERR("error", "takes nothing but \"state\"");
		m->kind = M_ERROR;
		return 0;
	}
	if (json_object_object_get_ex(o, "status", &v)) {
		m->kind = M_STATUS;
		if (json_object_is_type(v, json_type_string)) {
			const char *s = json_object_get_string(v);

			if (strlen(s) != 3 || s[0] < '1' || s[0] > '5' ||
			    strcasecmp(s + 1, "xx") != 0)
				RERR("status", "expected a status, a list of "
				    "them or a class such as \"2xx\"");
			m->status_class = s[0] - '0';
		} else if (json_object_is_type(v, json_type_int)) {
			m->statuses[m->nstatuses++] = json_object_get_int64(v);
		} else if (json_object_is_type(v, json_type_array) &&
		    json_object_array_length(v) > 0 &&
		    json_object_array_length(v) <= nitems(m->statuses)) {
			for (k = 0; k < json_object_array_length(v); k++) {
				json_object *e = json_object_array_get_idx(v, k);

				if (!json_object_is_type(e, json_type_int))
					RERR("status", "item %zu is not a status",
					    k);
				m->statuses[m->nstatuses++] =
				    json_object_get_int64(e);
			}
		} else
			RERR("status", "expected a status, a list of up to 16 "
			    "or a class such as \"2xx\"");
		for (k = 0; k < m->nstatuses; k++)
			if (m->statuses[k] < 100 || m->statuses[k] > 599)
				RERR("status", "%ld is not an HTTP status",
				    m->statuses[k]);
		if (json_object_object_length(o) > 2 + (json_object_object_get_ex(
		    o, "ignore_case", NULL)))
			RERR("status", "takes nothing but \"state\"");
		return 0;
	}
	if (json_object_object_get_ex(o, "header", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0)
			RERR("header", "expected a header name");
		m->header = xstrdup(json_object_get_string(v));
		if (json_object_object_get_ex(o, "exists", &v)) {
			if (!json_object_is_type(v, json_type_boolean))
				RERR("exists", "expected true or false");
			m->kind = M_HEADER_EXISTS;
			m->exists = json_object_get_boolean(v);
		} else if (json_object_object_get_ex(o, "equals", &v)) {
			if (!json_object_is_type(v, json_type_string))
				RERR("equals", "a header is compared with a "
				    "string");
			m->kind = M_HEADER_EQUALS;
			m->value = json_object_get(v);
		} else
			RERR("header", "needs \"exists\" or \"equals\"");
		return 0;
	}
	/* A path matcher. */
	json_object_object_get_ex(o, "path", &v);
	if (!json_object_is_type(v, json_type_string) ||
	    !jptr_valid(json_object_get_string(v)))
		RERR("path", "expected a JSON pointer (\"\" or \"/name/0/...\")");
	m->path = xstrdup(json_object_get_string(v));
	nk = json_object_object_get_ex(o, "equals", NULL) +
	    json_object_object_get_ex(o, "in", NULL) +
	    json_object_object_get_ex(o, "any", NULL) +
	    json_object_object_get_ex(o, "all", NULL) +
	    json_object_object_get_ex(o, "exists", NULL);
	if (nk != 1)
		RERR("path", "needs exactly one of \"equals\", \"in\", \"any\", "
		    "\"all\" or \"exists\"");
	if (json_object_object_get_ex(o, "equals", &v))
		m->kind = M_EQUALS;
	else if (json_object_object_get_ex(o, "in", &v)) {
		m->kind = M_IN;
		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) == 0)
			RERR("in", "expected a non-empty array of values");
	} else if (json_object_object_get_ex(o, "any", &v))
		m->kind = M_ANY;
	else if (json_object_object_get_ex(o, "all", &v))
		m->kind = M_ALL;
	else {
		json_object_object_get_ex(o, "exists", &v);
		if (!json_object_is_type(v, json_type_boolean))
			RERR("exists", "expected true or false");
		m->kind = M_EXISTS;
		m->exists = json_object_get_boolean(v);
		return 0;
	}
	m->value = json_object_get(v);
	return 0;
#undef RERR
}

static void
rules_pointer(struct cfg *c, const char *key, char **out)
{
	json_object *v = NULL;

	if (cfg_json(c, key, &v) != 1)
		return;
	if (!json_object_is_type(v, json_type_string) ||
	    !jptr_valid(json_object_get_string(v)))
		cfg_error(c, key, "expected a JSON pointer (\"\" or "
		    "\"/name/0/...\")");
	else
		*out = xstrdup(json_object_get_string(v));
	json_object_put(v);
}

struct rules *
rules_read(struct cfg *c, const char *key)
{
	struct rules *r;
	struct cfg *sub = NULL;
	json_object *list = NULL;
	char *d = NULL;
	size_t i, n;

	if (cfg_sub(c, key, &sub) != 1)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->dflt = PX_STATE_PENDING;
	if (cfg_json(sub, "rules", &list) != 1)
		cfg_error(sub, "rules", "missing: an array of rules, such as "
		    "[{\"path\": \"/state\", \"equals\": \"done\", "
		    "\"state\": \"succeeded\"}]");
	else if (!json_object_is_type(list, json_type_array))
		cfg_error(sub, "rules", "expected an array");
	else {
		n = json_object_array_length(list);
		r->m = xcalloc(n > 0 ? n : 1, sizeof *r->m);
		for (i = 0; i < n && !cfg_failed(sub); i++) {
			if (rule_read(sub, json_object_array_get_idx(list, i),
			    i, &r->m[i]) == -1) {
				/* Keep what was allocated for the free. */
				r->n = i + 1;
				break;
			}
			r->n = i + 1;
		}
	}
	json_object_put(list);
	rules_pointer(sub, "result", &r->result);
	rules_pointer(sub, "error_message", &r->error_message);
	rules_pointer(sub, "error_code", &r->error_code);
	rules_pointer(sub, "progress", &r->progress);
	if (cfg_string(sub, "default", &d) == 1 &&
	    state_parse(d, &r->dflt) == -1)
		cfg_error(sub, "default", "expected \"succeeded\", \"failed\" "
		    "or \"pending\"");
	free(d);
	cfg_finish(sub);
	cfg_free(sub);
	if (cfg_failed(c)) {
		rules_free(r);
		return NULL;
	}
	return r;
}

/* Equal strings of a and b bytes (NULs included), ASCII case ignored when
 * icase. */
static int
str_equal(const char *a, size_t an, const char *b, size_t bn, int icase)
{
	size_t i;

	if (an != bn)
		return 0;
	if (!icase)
		return memcmp(a, b, an) == 0;
	for (i = 0; i < an; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Equal JSON values: numbers by value, strings optionally ignoring case,
 * anything else by canonical text. */
static int
val_equal(json_object *a, json_object *b, int icase)
{
	enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
	char *ca, *cb;
	int eq;

	if ((ta == json_type_int || ta == json_type_double) &&
	    (tb == json_type_int || tb == json_type_double))
		return json_object_get_double(a) == json_object_get_double(b) &&
		    (ta != json_type_int || tb != json_type_int ||
		    json_object_get_int64(a) == json_object_get_int64(b));
	if (ta != tb)
		return 0;
	if (ta == json_type_null)
		return 1;
	if (ta == json_type_string)
		return str_equal(json_object_get_string(a),
		    (size_t)json_object_get_string_len(a),
		    json_object_get_string(b),
		    (size_t)json_object_get_string_len(b), icase);
	if (ta == json_type_boolean)
		return json_object_get_boolean(a) == json_object_get_boolean(b);
	ca = json_canonical(a);
	cb = json_canonical(b);
	eq = ca != NULL && cb != NULL && strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return eq;
}

/* A value found in checked text (null counts as absent, as with json-c). */
static int
span_get(const struct rule_input *in, const char *ptr, struct jspan *v)
{
	if (in->span_index != NULL)
		return jspan_index_pointer(in->span_index, ptr, v) &&
		    jspan_type(*v) != JS_NULL;
	return jspan_pointer(*in->span, ptr, v) && jspan_type(*v) != JS_NULL;
}

/* val_equal() of a span: strings compared in place, the rest made. */
static int
span_equal(struct jspan v, json_object *b, int icase)
{
	json_object *a;
	size_t n;
	int eq;

	if (json_object_is_type(b, json_type_string) &&
	    jspan_plain_string(v)) {
		n = v.n - 2;
		return str_equal(v.p + 1, n, json_object_get_string(b),
		    (size_t)json_object_get_string_len(b), icase);
	}
	a = jspan_json(v);
	eq = val_equal(a, b, icase);
	json_object_put(a);
	return eq;
}

/* The last pointer looked up in an item: rules mostly read one member
 * ("/state") several times. */
struct span_memo {
	const char *ptr;
	int found;
	struct jspan v;
};

/* matches() for an item read in place. */
static int
matches_span(const struct matcher *m, const struct rule_input *in,
    struct span_memo *memo)
{
	struct jspan_iter it;
	struct jspan v, e;
	size_t i, n = 0;
	int eq;

	if (memo->ptr == NULL || strcmp(memo->ptr, m->path) != 0) {
		memo->ptr = m->path;
		memo->found = span_get(in, m->path, &memo->v);
	}
	v = memo->v;
	if (!memo->found)
		return m->kind == M_EXISTS && !m->exists;
	switch (m->kind) {
	case M_EXISTS:
		return m->exists;
	case M_EQUALS:
		return span_equal(v, m->value, m->ignore_case);
	case M_IN:
		for (i = 0; i < json_object_array_length(m->value); i++)
			if (span_equal(v, json_object_array_get_idx(m->value, i),
			    m->ignore_case))
				return 1;
		return 0;
	case M_ANY:
	case M_ALL:
		if (jspan_type(v) != JS_ARRAY)
			return 0;
		jspan_iter_init(&it, v);
		while (jspan_next(&it, NULL, &e)) {
			n++;
			eq = span_equal(e, m->value, m->ignore_case);
			if (m->kind == M_ANY && eq)
				return 1;
			if (m->kind == M_ALL && !eq)
				return 0;
		}
		return n > 0 && m->kind == M_ALL;
	default:
		return 0;
	}
}

static int
matches(const struct matcher *m, const struct rule_input *in,
    struct span_memo *memo)
{
	json_object *v;
	const char *h;
	size_t i, n;

	switch (m->kind) {
	case M_ERROR:
		return in->transport_error;
	case M_STATUS:
		if (in->transport_error || in->status == 0)
			return 0;
		if (m->status_class != 0)
			return in->status / 100 == m->status_class;
		for (i = 0; i < m->nstatuses; i++)
			if (in->status == m->statuses[i])
				return 1;
		return 0;
	case M_HEADER_EXISTS:
	case M_HEADER_EQUALS:
		h = in->header != NULL && !in->transport_error ?
		    in->header(in->header_arg, m->header) : NULL;
		if (m->kind == M_HEADER_EXISTS)
			return (h != NULL) == m->exists;
		return h != NULL && (m->ignore_case ?
		    strcasecmp(h, json_object_get_string(m->value)) == 0 :
		    strcmp(h, json_object_get_string(m->value)) == 0);
	default:
		break;
	}
	if (in->doc == NULL && in->span != NULL)
		return matches_span(m, in, memo);
	v = in->doc != NULL ? jptr_get(in->doc, m->path) : NULL;
	switch (m->kind) {
	case M_EXISTS:
		return (v != NULL) == m->exists;
	case M_EQUALS:
		return v != NULL && val_equal(v, m->value, m->ignore_case);
	case M_IN:
		if (v == NULL)
			return 0;
		for (i = 0; i < json_object_array_length(m->value); i++)
			if (val_equal(v, json_object_array_get_idx(m->value, i),
			    m->ignore_case))
				return 1;
		return 0;
	case M_ANY:
	case M_ALL:
		if (v == NULL || !json_object_is_type(v, json_type_array))
			return 0;
		n = json_object_array_length(v);
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++) {
			int eq = val_equal(json_object_array_get_idx(v, i),
			    m->value, m->ignore_case);

			if (m->kind == M_ANY && eq)
				return 1;
			if (m->kind == M_ALL && !eq)
				return 0;
		}
		return m->kind == M_ALL;
	default:
		return 0;
	}
}

/* A value of the input for rules_eval(): borrowed from in->doc, or made
 * from in->span into *made (put by the caller). */
static json_object *
rin_get(const struct rule_input *in, const char *ptr, json_object **made)
{
	struct jspan v;

	*made = NULL;
	if (in->doc != NULL)
		return jptr_get(in->doc, ptr);
	if (in->span == NULL || !span_get(in, ptr, &v))
		return NULL;
	return *made = jspan_json(v);
}

void
rules_eval(const struct rules *r, const struct rule_input *in,
    struct outcome *out, struct rules_scratch *sc)
{
	json_object *v, *made;
	struct span_memo memo = { NULL, 0, { NULL, 0 } };
	size_t i;
	int has_doc = in->doc != NULL || in->span != NULL;

	memset(out, 0, sizeof *out);
	out->progress = NAN;
	out->delay = NAN;
	out->state = r->dflt;
	for (i = 0; i < r->n; i++)
		if (matches(&r->m[i], in, &memo)) {
			out->state = r->m[i].state;
			break;
		}
	if (r->progress != NULL && has_doc &&
	    (v = rin_get(in, r->progress, &made)) != NULL &&
	    (json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double)))
		out->progress = json_object_get_double(v);
	if (r->progress != NULL && has_doc)
		json_object_put(made);
	if (out->state == PX_STATE_SUCCEEDED) {
		v = has_doc ? rin_get(in, r->result != NULL ? r->result : "",
		    &made) : (made = NULL);
		sc->result = v != NULL ? json_canonical(v) : xstrdup("null");
		out->result = sc->result;
		json_object_put(made);
	} else if (out->state == PX_STATE_FAILED) {
		v = has_doc && r->error_code != NULL ?
		    rin_get(in, r->error_code, &made) : (made = NULL);
		sc->code = xstrdup(v != NULL ? val_text(v) :
		    in->transport_error ? "transport_error" : "failed");
		json_object_put(made);
		v = has_doc && r->error_message != NULL ?
		    rin_get(in, r->error_message, &made) : (made = NULL);
		if (v != NULL)
			sc->message = xstrdup(val_text(v));
		json_object_put(made);
		if (sc->message != NULL)
			;	/* from the response */
		else if (in->transport_error && in->error_text != NULL)
			sc->message = utf8_repair(in->error_text,
			    strlen(in->error_text), NULL);
		else if (i < r->n)
			xasprintf(&sc->message, "the response (HTTP %ld) matched "
			    "outcome rule %zu, which says failed", in->status, i);
		else
			xasprintf(&sc->message, "the response (HTTP %ld) matched "
			    "no outcome rule, and the default is failed",
			    in->status);
		out->code = sc->code;
		out->message = sc->message;
	}
}

void
rules_scratch_clear(struct rules_scratch *sc)
{
	free(sc->result);
	free(sc->code);
	free(sc->message);
	sc->result = sc->code = sc->message = NULL;
}
