/* SPDX-License-Identifier: ISC */
/* rules.h: the request templates and outcome rules of the HTTP pollers.
 *
 * A small configuration language (docs/configuration.md, "Templates" and
 * "Outcome rules"): requests are built from a task (its id, ref, Submit
 * arguments, labels; for a batch, every task's) and responses are read
 * with JSON pointers (RFC 6901), the HTTP status and headers.  Everything
 * is checked when the configuration is read; evaluation cannot fail on a
 * well-formed rule set, only report what the response lacks.
 */
#ifndef POLLEXD_RULES_H
#define POLLEXD_RULES_H

#include <stddef.h>

#include <json-c/json.h>

#include "jspan.h"
#include "poller.h"	/* struct outcome */

struct cfg;

/* JSON pointers: "" is the whole document, "/a/0/b~1c" per RFC 6901. */
int jptr_valid(const char *ptr);
json_object *jptr_get(json_object *doc, const char *ptr);	/* borrowed */
/* Parse a NUL-terminated JSON text (NULL when it is not JSON); a new
 * reference.  One tokener kept for the daemon's thread: the refs and
 * arguments of every poll are parsed without a tokener each. */
json_object *jparse(const char *text);
/*
 * A response body as JSON (NULL when empty or not JSON; a new reference):
 * the very text jspan_check_json() reads in place, parsed, so that a body
 * read whole (http-each) and one read in place (http-batch's items) say
 * the same: numbers json-c takes beyond RFC 8259 ("02.5", "1.") respelt,
 * strings repaired to UTF-8 (U+FFFD), in both.
 */
json_object *jparse_body(const char *text, size_t len);
/* The value of a span of checked JSON as a json-c value (a new reference;
 * NULL for null): scalars are made directly, containers parsed. */
json_object *jspan_json(struct jspan v);
/*
 * jspan_check() for text that json-c accepts too: what json-c's strict
 * mode takes and jspan refuses (a raw tab in a string, "1.", lax UTF-8) is
 * rewritten by json-c into *redo (to free; NULL when not needed) and that
 * is checked instead: every number respelt from its value ("02.5" is 2.5),
 * invalid UTF-8 (overlong forms, surrogates) repaired to U+FFFD.  0 with
 * *v, or -1 when neither takes it.
 */
int jspan_check_json(const char *text, size_t len, struct jspan *v,
    char **redo);

/* What a template is rendered from: JSON texts (NULL when absent). */
struct tmpl_task {
	const char *id;		/* the task id (a plain string, not JSON) */
	const char *ref;	/* JSON */
	const char *args;	/* JSON */
	const char *labels;	/* JSON object of strings */
	json_object *ref_doc;	/* ref already parsed (borrowed), or NULL */
};

/*
 * A request template: {"method", "url", "headers", "body"}.  Strings may
 * hold {{EXPR}} placeholders: id, ref, ref/POINTER, args, args/POINTER,
 * labels/NAME; in batch templates also ids, refs, refs/POINTER (the JSON
 * array of every task's value).  In the URL values are percent-encoded
 * (an array becomes a comma-separated list); in headers they are text and
 * may not contain CR or LF; in the body a string that is exactly one
 * placeholder becomes the JSON value itself, otherwise the text.
 */
struct req_tmpl;
/* Read the request object at key; NULL after cfg_error() (or absent:
 * NULL with !cfg_failed()).  batch: ids/refs are allowed. */
struct req_tmpl *req_tmpl_read(struct cfg *c, const char *key, int batch);
void req_tmpl_free(struct req_tmpl *t);

struct req {
	char *method;
	char *url;		/* as rendered: absolute or relative */
	char **headers;		/* "Name: value", NULL-ended */
	char *body;		/* NULL: no body */
};
/* Render for n tasks (n == 1 for per-task templates); -1 with *why (to
 * free) when a placeholder names something the task lacks. */
int req_tmpl_render(const struct req_tmpl *t, const struct tmpl_task *tasks,
    size_t n, struct req *out, char **why);
void req_clear(struct req *r);

/*
 * Outcome rules: {"rules": [...], "result", "error_message", "error_code",
 * "progress", "default"}.  A rule is one matcher and a "state"
 * ("succeeded", "failed" or "pending"); the first matching rule wins;
 * "default" (default "pending") applies when none matches.  Matchers:
 *   {"path": P, "equals": V}         the value at pointer P equals V
 *   {"path": P, "in": [V, ...]}      ... equals one of them
 *   {"path": P, "any": V} / "all"   any / all items of the array at P equal V
 *   {"path": P, "exists": true|false}
 *   {"status": 200} / [200, 201] / "2xx"   the HTTP status
 *   {"header": NAME, "exists": bool} / {"header": NAME, "equals": "v"}
 *   {"error": true}                  a transport error (no response)
 * with "ignore_case": true for string comparisons.  "result" (default "",
 * the whole document), "error_message", "error_code" and "progress" are
 * pointers; a missing error message becomes a message naming the rule.
 */
struct rules;
struct rules *rules_read(struct cfg *c, const char *key);
void rules_free(struct rules *r);

struct rule_input {
	long status;			/* 0: no response */
	int transport_error;		/* no response at all */
	const char *error_text;		/* with transport_error */
	json_object *doc;		/* the item or body; NULL: not JSON */
	const struct jspan *span;	/* or, without doc, its checked text */
	const struct jspan_index *span_index; /* optional: span's members */
	const char *(*header)(void *arg, const char *name);
	void *header_arg;
};

/* Evaluate; fills out.  Strings in out point into scratch, valid until
 * rules_scratch_clear(). */
struct rules_scratch {
	char *result, *code, *message;
};
void rules_eval(const struct rules *r, const struct rule_input *in,
    struct outcome *out, struct rules_scratch *sc);
void rules_scratch_clear(struct rules_scratch *sc);

#endif
