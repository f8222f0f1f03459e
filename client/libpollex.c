/* SPDX-License-Identifier: ISC */
/*
 * libpollex.c: the methods of io.pollex as blocking calls (Submit, Cancel,
 * Get, Wait, List, Watch, Pollers, Stats, any call) and the JSON helpers
 * the library's files share.  Every call here is queued on the connection's
 * FIFO and run by px_run() until its own reply arrived; its reply is read
 * in place with jspan.h (calls are still built with json-c).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "pollex-int.h"
#include "jspan.h"
#include "proto.h"

/* The public enums are the protocol's lists, in the same order. */
_Static_assert((int)POLLEX_STARTING == PX_STATE_STARTING &&
        (int)POLLEX_EXPIRED == PX_STATE_EXPIRED && PX_STATE_COUNT == 6,
    "pollex_state follows PX_STATE_LIST");
_Static_assert((int)POLLEX_FIRST_COMPLETED == PX_RW_FIRST_COMPLETED &&
        (int)POLLEX_FIRST_EXCEPTION == PX_RW_FIRST_EXCEPTION &&
        (int)POLLEX_ALL_COMPLETED == PX_RW_ALL_COMPLETED,
    "pollex_return_when follows PX_RETURN_WHEN_LIST");

/* Reply of Submit. */
struct px_submit {
	size_t n;
	char **ids;
	int *created;
};

/* Reply of Cancel. */
struct px_cancel {
	int cancelled;
	char *reason;
};

/* Reply of Wait (collected or handed to a callback). */
struct px_wait {
	pollex_task_cb cb;
	void *arg;
	pollex_task **done;
	size_t ndone, cap;
	char **not_done;
	int timed_out;
	int final;
};

/* Reply of List. */
struct px_list {
	pollex_task **tasks;
	size_t n;
	char *next;
};

/* Events of Watch. */
struct px_watch {
	pollex_event_cb cb;
	void *arg;
};

static size_t px_count(struct jspan);
static int px_strv_from(struct jspan, size_t, char ***);
static int px_parse_array(const char *, json_object **);
static int px_check_ids(const char *const *, size_t);
static int px_limit(pollex *, double, int64_t *);
static int px_submit_params(const pollex_spec *const *, size_t, json_object **);
static int px_submit_run(pollex *, json_object *, size_t, struct px_submit *);
static int px_on_submit(pollex *, struct px_sync *, struct jspan, int);
static int px_on_cancel(pollex *, struct px_sync *, struct jspan, int);
static int px_on_get(pollex *, struct px_sync *, struct jspan, int);
static int px_on_wait(pollex *, struct px_sync *, struct jspan, int);
static int px_on_list(pollex *, struct px_sync *, struct jspan, int);
static int px_on_watch(pollex *, struct px_sync *, struct jspan, int);
static int px_on_text(pollex *, struct px_sync *, struct jspan, int);
static int px_on_poll(pollex *, struct px_sync *, struct jspan, int);
static int px_wait_run(pollex *, const char *const *, size_t,
    enum pollex_return_when, double, struct px_wait *);
static int px_text_call(pollex *, const char *, json_object *, char **);

const char *
pollex_version(void)
{
	return PACKAGE_VERSION;
}

const char *
pollex_state_name(enum pollex_state state)
{
	if ((int)state < 0 || (int)state >= PX_STATE_COUNT)
		return NULL;
	return px_state_name((enum px_state)state);
}

/* Whether s is well-formed UTF-8 (no overlong forms, no surrogates). */
int
px_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* Parse text that must be one JSON object (strict, as messages are). */
int
px_parse_object(const char *text, json_object **out)
{
	const char *why;

	*out = NULL;
	if (text == NULL)
		return POLLEX_E_INVAL;
	if ((*out = frame_parse(text, strlen(text), &why)) == NULL)
		return strcmp(why, "out of memory") == 0 ? POLLEX_E_NOMEM
		                                         : POLLEX_E_INVAL;
	return 0;
}

/* Parse text that must be one JSON array, with frame_parse()'s rules. */
static int px_parse_array1(const char *, json_object **);

static int
px_parse_array(const char *text, json_object **out)
{
	size_t flen;
	char *fixed;
	int r;

	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(text, strlen(text), &flen)) == NULL)
		return px_parse_array1(text, out);
	r = px_parse_array1(fixed, out);
	free(fixed);
	return r;
}

static int
px_parse_array1(const char *text, json_object **out)
{
	struct json_tokener *tok;
	size_t len, end;
	int r = POLLEX_E_INVAL;

	*out = NULL;
	len = strlen(text);
	while (len > 0 && strchr(" \t\r\n", *text) != NULL) {
		text++;
		len--;
	}
	if (len == 0 || *text != '[' || len > INT32_MAX)
		return POLLEX_E_INVAL;
	if ((tok = json_tokener_new_ex(PX_JSON_MAX_DEPTH)) == NULL)
		return POLLEX_E_NOMEM;
	json_tokener_set_flags(
	    tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*out = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (*out == NULL)
		return r;
	for (; end < len; end++)
		if (strchr(" \t\r\n", text[end]) == NULL) {
			json_object_put(*out);
			*out = NULL;
			return r;
		}
	*out = frame_keep_numbers(*out, text, len);
	return 0;
}

/* Add key: v to object o; v is consumed even on failure. */
int
px_add(json_object *o, const char *key, json_object *v)
{
	if (v == NULL)
		return POLLEX_E_NOMEM;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return POLLEX_E_NOMEM;
	}
	return 0;
}

/* A malloc'd copy of the compact text of o, or NULL. */
char *
px_json_text(json_object *o)
{
	const char *s;
	size_t len;
	char *copy;

	if ((s = frame_serialize(o, &len)) == NULL)
		return NULL;
	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(copy, s, len + 1);
	return copy;
}

/* A string member of o, or NULL when absent or not a string. */
const char *
px_get_string(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Copy the JSON value v (in text frame_check() took) to dst without the
 * white space outside its strings, and a NUL; returns the length copied,
 * without the NUL.  dst has room for v.n + 1 bytes.  The daemon's text is
 * compact already; a peer's may not be.
 */
size_t
px_json_compact(char *dst, struct jspan v)
{
	const char *p = v.p, *end = v.p + v.n;
	char *o = dst, ch;

	while (p < end) {
		ch = *p++;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			continue;
		*o++ = ch;
		if (ch != '"')
			continue;
		/* A checked string: copy through its closing quote. */
		while (p < end) {
			ch = *p++;
			*o++ = ch;
			if (ch == '"')
				break;
			if (ch == '\\')
				*o++ = *p++;
		}
	}
	*o = '\0';
	return (size_t)(o - dst);
}

/* A malloc'd compact copy of the JSON value v, or NULL. */
char *
px_json_copy(struct jspan v)
{
	char *text;

	if ((text = malloc(v.n + 1)) != NULL)
		px_json_compact(text, v);
	return text;
}

/* A malloc'd copy of the decoded string s, or NULL (out of memory). */
char *
px_string_copy(struct jspan s)
{
	const char *text;
	char *alloc, *copy;
	size_t len;

	if (jspan_string(s, &text, &len, &alloc) == -1)
		return NULL;
	if (alloc != NULL)
		return alloc; /* decoded, NUL-terminated */
	if ((copy = malloc(len + 1)) != NULL) {
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	return copy;
}

/* Member key of object o, JSON null counting as absent: 1 with *v, or 0. */
int
px_member(struct jspan o, const char *key, struct jspan *v)
{
	if (!jspan_member(o, key, strlen(key), v) || jspan_type(*v) == JS_NULL)
		return 0;
	return 1;
}

/* Free a NULL-terminated string array. */
void
pollex_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* The number of items of an array. */
static size_t
px_count(struct jspan a)
{
	struct jspan_iter it;
	struct jspan v;
	size_t n = 0;

	jspan_iter_init(&it, a);
	while (jspan_next(&it, NULL, &v))
		n++;
	return n;
}

/*
 * A NULL-terminated copy of an array of strings (n: the length it must
 * have, or SIZE_MAX for any).  POLLEX_E_PROTOCOL when it is something else.
 */
static int
px_strv_from(struct jspan a, size_t n, char ***out)
{
	struct jspan_iter it;
	struct jspan v;
	size_t i, len;
	char **sv;

	*out = NULL;
	if (jspan_type(a) != JS_ARRAY)
		return POLLEX_E_PROTOCOL;
	len = px_count(a);
	if (n != SIZE_MAX && len != n)
		return POLLEX_E_PROTOCOL;
	if ((sv = calloc(len + 1, sizeof *sv)) == NULL)
		return POLLEX_E_NOMEM;
	jspan_iter_init(&it, a);
	for (i = 0; jspan_next(&it, NULL, &v); i++) {
		if (jspan_type(v) != JS_STRING) {
			pollex_strv_free(sv);
			return POLLEX_E_PROTOCOL;
		}
		if ((sv[i] = px_string_copy(v)) == NULL) {
			pollex_strv_free(sv);
			return POLLEX_E_NOMEM;
		}
	}
	*out = sv;
	return 0;
}

/* Check an array of n ids given by the caller. */
static int
px_check_ids(const char *const *ids, size_t n)
{
	size_t i;

	if (n > 0 && ids == NULL)
		return POLLEX_E_INVAL;
	for (i = 0; i < n; i++)
		if (ids[i] == NULL || *ids[i] == '\0' || !px_utf8_valid(ids[i]))
			return POLLEX_E_INVAL;
	return 0;
}

/* The time limit of a call that waits extra seconds (< 0: forever). */
static int
px_limit(pollex *c, double extra, int64_t *ms)
{
	if (c->timeout_ms < 0 || extra < 0 || isnan(extra)) {
		*ms = -1;
		return 0;
	}
	if (extra > 1e12)
		*ms = -1;
	else
		*ms = c->timeout_ms + (int64_t)ceil(extra * 1000);
	return 0;
}

/* ---- Submit ------------------------------------------------------------ */

/* Handle the reply of Submit. */
static int
px_on_submit(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct px_submit *sub = s->ctx;
	struct jspan_iter it;
	struct jspan a, v;
	size_t i;
	int r;

	(void)c;
	(void)more;
	if (!px_member(params, "ids", &a))
		return POLLEX_E_PROTOCOL;
	if ((r = px_strv_from(a, sub->n, &sub->ids)) != 0)
		return r;
	if (!px_member(params, "created", &a) || jspan_type(a) != JS_ARRAY ||
	    px_count(a) != sub->n)
		return POLLEX_E_PROTOCOL;
	if ((sub->created = calloc(sub->n + 1, sizeof(int))) == NULL)
		return POLLEX_E_NOMEM;
	jspan_iter_init(&it, a);
	for (i = 0; jspan_next(&it, NULL, &v); i++) {
		if (jspan_type(v) != JS_TRUE && jspan_type(v) != JS_FALSE)
			return POLLEX_E_PROTOCOL;
		sub->created[i] = jspan_type(v) == JS_TRUE;
	}
	return 0;
}

/* Run Submit with params {tasks: [n specs]} (consumed). */
static int
px_submit_run(pollex *c, json_object *params, size_t n, struct px_submit *sub)
{
	struct px_sync s = {.handler = px_on_submit, .ctx = sub};
	int64_t limit;
	int r;

	sub->n = n;
	px_limit(c, 0, &limit);
	r = px_call_sync(c, PX_INTERFACE ".Submit", params, 0, &s, limit);
	if (r != 0) {
		pollex_strv_free(sub->ids);
		free(sub->created);
		sub->ids = NULL;
		sub->created = NULL;
	}
	return r;
}

/* {tasks: [...]} for n specs. */
static int
px_submit_params(const pollex_spec *const *specs, size_t n, json_object **out)
{
	json_object *p, *a;
	size_t i;

	*out = NULL;
	if ((p = json_object_new_object()) == NULL)
		return POLLEX_E_NOMEM;
	if ((a = json_object_new_array_ext((int)n)) == NULL ||
	    px_add(p, "tasks", a) != 0) {
		json_object_put(p);
		return POLLEX_E_NOMEM;
	}
	for (i = 0; i < n; i++) {
		json_object *o = json_object_get(px_spec_object(specs[i]));

		if (json_object_array_add(a, o) != 0) {
			json_object_put(o);
			json_object_put(p);
			return POLLEX_E_NOMEM;
		}
	}
	*out = p;
	return 0;
}

/* Submit one spec: pollex_submit_many() with n = 1. */
int
pollex_submit(pollex *c, const pollex_spec *spec, char **id, int *created)
{
	const pollex_spec *specs[1];
	char **ids;
	int *cr;
	int r;

	if (id != NULL)
		*id = NULL;
	if (c == NULL || spec == NULL || id == NULL)
		return POLLEX_E_INVAL;
	specs[0] = spec;
	if ((r = pollex_submit_many(c, specs, 1, &ids, &cr)) != 0)
		return r;
	*id = ids[0];
	ids[0] = NULL;
	if (created != NULL)
		*created = cr[0];
	pollex_strv_free(ids);
	free(cr);
	return 0;
}

/* Submit specs in one Submit call, all or none. */
int
pollex_submit_many(pollex *c, const pollex_spec *const *specs, size_t n,
    char ***ids, int **created)
{
	struct px_submit sub = {0};
	json_object *params;
	size_t i;
	int r;

	if (ids != NULL)
		*ids = NULL;
	if (created != NULL)
		*created = NULL;
	if (c == NULL || ids == NULL || (n > 0 && specs == NULL) ||
	    n > INT32_MAX)
		return POLLEX_E_INVAL;
	for (i = 0; i < n; i++)
		if (specs[i] == NULL)
			return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if (n == 0) {
		/* Nothing to create: no need to ask. */
		if ((*ids = calloc(1, sizeof **ids)) == NULL ||
		    (created != NULL &&
		        (*created = calloc(1, sizeof **created)) == NULL)) {
			free(*ids);
			*ids = NULL;
			return px_leave(c, POLLEX_E_NOMEM);
		}
		return px_leave(c, 0);
	}
	if ((r = px_submit_params(specs, n, &params)) != 0)
		return px_leave(c, px_error_local(c, r, "out of memory"));
	if ((r = px_submit_run(c, params, n, &sub)) != 0)
		return px_leave(c, r);
	*ids = sub.ids;
	if (created != NULL)
		*created = sub.created;
	else
		free(sub.created);
	return px_leave(c, 0);
}

/* Submit the TaskSpec array of tasks_json as it is. */
int
pollex_submit_json(pollex *c, const char *tasks_json, char ***ids, size_t *n)
{
	struct px_submit sub = {0};
	json_object *a, *params;
	size_t i, len;
	int r;

	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (c == NULL || tasks_json == NULL || ids == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if ((r = px_parse_array(tasks_json, &a)) != 0)
		return px_leave(c,
		    px_error_local(c, r, "tasks: %s",
		        r == POLLEX_E_NOMEM ? "out of memory"
		                            : "not a JSON array"));
	len = json_object_array_length(a);
	for (i = 0; i < len; i++)
		if (!json_object_is_type(
		        json_object_array_get_idx(a, i), json_type_object)) {
			json_object_put(a);
			return px_leave(c,
			    px_error_local(c, POLLEX_E_INVAL,
			        "tasks[%zu]: not a JSON object", i));
		}
	if (len == 0) {
		json_object_put(a);
		if ((*ids = calloc(1, sizeof **ids)) == NULL)
			return px_leave(c, POLLEX_E_NOMEM);
		return px_leave(c, 0);
	}
	if ((params = json_object_new_object()) == NULL ||
	    px_add(params, "tasks", a) != 0) {
		if (params == NULL)
			json_object_put(a);
		json_object_put(params);
		return px_leave(
		    c, px_error_local(c, POLLEX_E_NOMEM, "out of memory"));
	}
	if ((r = px_submit_run(c, params, len, &sub)) != 0)
		return px_leave(c, r);
	free(sub.created);
	*ids = sub.ids;
	if (n != NULL)
		*n = len;
	return px_leave(c, 0);
}

/* ---- Cancel, Get ------------------------------------------------------- */

/* Handle the reply of Cancel. */
static int
px_on_cancel(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct px_cancel *can = s->ctx;
	struct jspan v;

	(void)c;
	(void)more;
	if (!px_member(params, "cancelled", &v) ||
	    (jspan_type(v) != JS_TRUE && jspan_type(v) != JS_FALSE))
		return POLLEX_E_PROTOCOL;
	can->cancelled = jspan_type(v) == JS_TRUE;
	if (px_member(params, "reason", &v)) {
		if (jspan_type(v) != JS_STRING)
			return POLLEX_E_PROTOCOL;
		if ((can->reason = px_string_copy(v)) == NULL)
			return POLLEX_E_NOMEM;
	}
	return 0;
}

/* Cancel one task. */
int
pollex_cancel(pollex *c, const char *id, int *cancelled, char **reason)
{
	struct px_cancel can = {0};
	struct px_sync s = {.handler = px_on_cancel, .ctx = &can};
	json_object *params, *v;
	int64_t limit;
	int r;

	if (cancelled != NULL)
		*cancelled = 0;
	if (reason != NULL)
		*reason = NULL;
	if (c == NULL || px_check_ids(&id, 1) != 0)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if ((params = json_object_new_object()) == NULL ||
	    (v = json_object_new_string(id)) == NULL ||
	    px_add(params, "id", v) != 0) {
		json_object_put(params);
		return px_leave(
		    c, px_error_local(c, POLLEX_E_NOMEM, "out of memory"));
	}
	px_limit(c, 0, &limit);
	r = px_call_sync(c, PX_INTERFACE ".Cancel", params, 0, &s, limit);
	if (r == 0) {
		if (cancelled != NULL)
			*cancelled = can.cancelled;
		if (reason != NULL) {
			*reason = can.reason;
			can.reason = NULL;
		}
	}
	free(can.reason);
	return px_leave(c, r);
}

/* ---- Poll ------------------------------------------------------------- */

/* Handle the reply of Poll. */
static int
px_on_poll(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	int64_t *polled = s->ctx;
	struct jspan v;

	(void)c;
	(void)more;
	if (!px_member(params, "polled", &v) || !jspan_int64(v, polled) ||
	    *polled < 0)
		return POLLEX_E_PROTOCOL;
	return 0;
}

/* Poll a poller's tasks now (all the caller's, or the ids given). */
int
pollex_poll(pollex *c, const char *poller, const char *const *ids, size_t n,
    int64_t *polled)
{
	int64_t got = 0, limit;
	struct px_sync s = {.handler = px_on_poll, .ctx = &got};
	json_object *params, *v, *a;
	size_t i;
	int r;

	if (polled != NULL)
		*polled = 0;
	if (c == NULL || poller == NULL || *poller == '\0' ||
	    !px_utf8_valid(poller) || px_check_ids(ids, n) != 0)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if ((params = json_object_new_object()) == NULL ||
	    (v = json_object_new_string(poller)) == NULL ||
	    px_add(params, "poller", v) != 0)
		goto nomem;
	if (n > 0) {
		if ((a = json_object_new_array_ext(n > INT32_MAX ? 0 :
		    (int)n)) == NULL || px_add(params, "ids", a) != 0)
			goto nomem;
		for (i = 0; i < n; i++)
			if ((v = json_object_new_string(ids[i])) == NULL ||
			    json_object_array_add(a, v) != 0) {
				json_object_put(v);
				goto nomem;
			}
	}
	px_limit(c, 0, &limit);
	r = px_call_sync(c, PX_INTERFACE ".Poll", params, 0, &s, limit);
	if (r == 0 && polled != NULL)
		*polled = got;
	return px_leave(c, r);
nomem:
	json_object_put(params);
	return px_leave(c, px_error_local(c, POLLEX_E_NOMEM, "out of memory"));
}

/* Handle the reply of Get. */
static int
px_on_get(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct jspan v;
	int r;

	(void)c;
	(void)more;
	if (!px_member(params, "task", &v))
		return POLLEX_E_PROTOCOL;
	r = px_task_from_text(v, (pollex_task **)s->ctx);
	return r == POLLEX_E_INVAL ? POLLEX_E_PROTOCOL : r;
}

/* Fetch one task. */
int
pollex_get(pollex *c, const char *id, pollex_task **task)
{
	struct px_sync s = {.handler = px_on_get};
	json_object *params, *v;
	pollex_task *t = NULL;
	int64_t limit;
	int r;

	if (task != NULL)
		*task = NULL;
	if (c == NULL || task == NULL || px_check_ids(&id, 1) != 0)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	s.ctx = &t;
	if ((params = json_object_new_object()) == NULL ||
	    (v = json_object_new_string(id)) == NULL ||
	    px_add(params, "id", v) != 0) {
		json_object_put(params);
		return px_leave(
		    c, px_error_local(c, POLLEX_E_NOMEM, "out of memory"));
	}
	px_limit(c, 0, &limit);
	r = px_call_sync(c, PX_INTERFACE ".Get", params, 0, &s, limit);
	if (r == 0)
		*task = t;
	else
		pollex_task_free(t);
	return px_leave(c, r);
}

/* ---- Wait -------------------------------------------------------------- */

/*
 * Handle a reply of Wait (with "more"): every task in done is collected or
 * handed to the callback; the last reply also carries not_done and
 * timed_out.  Returns 1 when the callback stops.
 */
static int
px_on_wait(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct px_wait *w = s->ctx;
	struct jspan_iter it;
	struct jspan a, v, next;
	pollex_task *t, **nd;
	int r, stop, have;

	if (!px_member(params, "done", &a) || jspan_type(a) != JS_ARRAY)
		return POLLEX_E_PROTOCOL;
	/* One task ahead, so that the callback can learn whether more of
	 * this reply follow (pollex_buffered()). */
	jspan_iter_init(&it, a);
	have = jspan_next(&it, NULL, &next);
	while (have) {
		v = next;
		have = jspan_next(&it, NULL, &next);
		r = px_task_from_text(v, &t);
		if (r != 0)
			return r == POLLEX_E_INVAL ? POLLEX_E_PROTOCOL : r;
		if (w->cb != NULL) {
			/* Set before each call: a blocking call inside cb
			 * may run a Wait of its own. */
			c->held = have;
			stop = w->cb(t, w->arg);
			c->held = 0;
			pollex_task_free(t);
			if (stop != 0)
				return 1;
			continue;
		}
		if (w->ndone == w->cap) {
			size_t cap = w->cap == 0 ? 16 : w->cap * 2;

			if ((nd = reallocarray(w->done, cap, sizeof *nd)) ==
			    NULL) {
				pollex_task_free(t);
				return POLLEX_E_NOMEM;
			}
			w->done = nd;
			w->cap = cap;
		}
		w->done[w->ndone++] = t;
	}
	if (more)
		return 0;
	w->final = 1;
	if (px_member(params, "timed_out", &v)) {
		if (jspan_type(v) != JS_TRUE && jspan_type(v) != JS_FALSE)
			return POLLEX_E_PROTOCOL;
		w->timed_out = jspan_type(v) == JS_TRUE;
	}
	if (px_member(params, "not_done", &a))
		return px_strv_from(a, SIZE_MAX, &w->not_done);
	if ((w->not_done = calloc(1, sizeof(char *))) == NULL)
		return POLLEX_E_NOMEM;
	return 0;
}

/* Run Wait with "more" for ids; w says where finished tasks go. */
static int
px_wait_run(pollex *c, const char *const *ids, size_t n,
    enum pollex_return_when when, double timeout, struct px_wait *w)
{
	struct px_sync s = {.handler = px_on_wait, .ctx = w};
	json_object *params, *a, *v;
	const char *rw;
	int64_t limit;
	size_t i;
	int r;

	if ((int)when < 0 || (int)when >= PX_RW_COUNT || isnan(timeout) ||
	    px_check_ids(ids, n) != 0)
		return px_error_local(c, POLLEX_E_INVAL, "invalid argument");
	rw = px_return_when_name((enum px_return_when)when);
	if ((params = json_object_new_object()) == NULL ||
	    (a = json_object_new_array_ext(n > INT32_MAX ? 0 : (int)n)) ==
	        NULL ||
	    px_add(params, "ids", a) != 0)
		goto nomem;
	for (i = 0; i < n; i++)
		if ((v = json_object_new_string(ids[i])) == NULL ||
		    json_object_array_add(a, v) != 0) {
			json_object_put(v);
			goto nomem;
		}
	if ((v = json_object_new_string(rw)) == NULL ||
	    px_add(params, "return_when", v) != 0)
		goto nomem;
	if (timeout >= 0 &&
	    ((v = json_object_new_double(timeout)) == NULL ||
	        px_add(params, "timeout", v) != 0))
		goto nomem;
	px_limit(c, timeout, &limit);
	r = px_call_sync(
	    c, PX_INTERFACE ".Wait", params, POLLEX_CALL_MORE, &s, limit);
	if (r != 0)
		return r;
	if (!w->final)
		return 0; /* the callback stopped it */
	return w->timed_out ? POLLEX_TIMED_OUT : 0;
nomem:
	json_object_put(params);
	return px_error_local(c, POLLEX_E_NOMEM, "out of memory");
}

/* Wait for tasks, collecting the finished ones. */
int
pollex_wait(pollex *c, const char *const *ids, size_t n,
    enum pollex_return_when when, double timeout, pollex_task ***done,
    size_t *ndone, char ***not_done)
{
	struct px_wait w = {0};
	int r;

	if (done != NULL)
		*done = NULL;
	if (ndone != NULL)
		*ndone = 0;
	if (not_done != NULL)
		*not_done = NULL;
	if (c == NULL || done == NULL || ndone == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	r = px_wait_run(c, ids, n, when, timeout, &w);
	if (r < 0) {
		pollex_tasks_free(w.done, w.ndone);
		pollex_strv_free(w.not_done);
		return px_leave(c, r);
	}
	if (w.done == NULL && (w.done = calloc(1, sizeof *w.done)) == NULL) {
		pollex_strv_free(w.not_done);
		return px_leave(
		    c, px_error_local(c, POLLEX_E_NOMEM, "out of memory"));
	}
	*done = w.done;
	*ndone = w.ndone;
	if (not_done != NULL)
		*not_done = w.not_done;
	else
		pollex_strv_free(w.not_done);
	return px_leave(c, r);
}

/* Wait for tasks, handing each to cb as it finishes. */
int
pollex_wait_each(pollex *c, const char *const *ids, size_t n,
    enum pollex_return_when when, double timeout, pollex_task_cb cb, void *arg)
{
	struct px_wait w = {.cb = cb, .arg = arg};
	int r;

	if (c == NULL || cb == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	r = px_wait_run(c, ids, n, when, timeout, &w);
	pollex_strv_free(w.not_done);
	return px_leave(c, r);
}

/* ---- List, Watch ------------------------------------------------------- */

/* Handle the reply of List. */
static int
px_on_list(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct px_list *l = s->ctx;
	struct jspan_iter it;
	struct jspan a, v;
	int r;

	(void)c;
	(void)more;
	if (!px_member(params, "tasks", &a) || jspan_type(a) != JS_ARRAY)
		return POLLEX_E_PROTOCOL;
	if ((l->tasks = calloc(px_count(a) + 1, sizeof *l->tasks)) == NULL)
		return POLLEX_E_NOMEM;
	jspan_iter_init(&it, a);
	while (jspan_next(&it, NULL, &v)) {
		r = px_task_from_text(v, &l->tasks[l->n]);
		if (r != 0)
			return r == POLLEX_E_INVAL ? POLLEX_E_PROTOCOL : r;
		l->n++;
	}
	if (px_member(params, "next", &v)) {
		if (jspan_type(v) != JS_STRING)
			return POLLEX_E_PROTOCOL;
		if ((l->next = px_string_copy(v)) == NULL)
			return POLLEX_E_NOMEM;
	}
	return 0;
}

/* Fetch one page of tasks. */
int
pollex_list(pollex *c, const pollex_filter *f, pollex_task ***tasks, size_t *n,
    char **next)
{
	struct px_list l = {0};
	struct px_sync s = {.handler = px_on_list, .ctx = &l};
	json_object *params;
	int64_t limit;
	int r;

	if (tasks != NULL)
		*tasks = NULL;
	if (n != NULL)
		*n = 0;
	if (next != NULL)
		*next = NULL;
	if (c == NULL || tasks == NULL || n == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if ((r = px_filter_list_params(f, &params)) != 0)
		return px_leave(c,
		    px_error_local(c, r, "%s",
		        r == POLLEX_E_INVAL ? "filter: ids apply to Watch only"
		                            : "out of memory"));
	px_limit(c, 0, &limit);
	r = px_call_sync(c, PX_INTERFACE ".List", params, 0, &s, limit);
	if (r != 0) {
		pollex_tasks_free(l.tasks, l.n);
		free(l.next);
		return px_leave(c, r);
	}
	*tasks = l.tasks;
	*n = l.n;
	if (next != NULL)
		*next = l.next;
	else
		free(l.next);
	return px_leave(c, 0);
}

/* Handle one event of Watch; returns 1 when the callback stops. */
static int
px_on_watch(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	struct px_watch *w = s->ctx;
	struct jspan v;
	pollex_task *t = NULL;
	char *event = NULL, *id = NULL;
	int r;

	(void)c;
	(void)more;
	if (!px_member(params, "event", &v) || jspan_type(v) != JS_STRING)
		return POLLEX_E_PROTOCOL;
	if ((event = px_string_copy(v)) == NULL)
		return POLLEX_E_NOMEM;
	r = POLLEX_E_PROTOCOL;
	if (px_member(params, "id", &v)) {
		if (jspan_type(v) != JS_STRING)
			goto out;
		r = POLLEX_E_NOMEM;
		if ((id = px_string_copy(v)) == NULL)
			goto out;
	}
	if (px_member(params, "task", &v)) {
		r = px_task_from_text(v, &t);
		if (r != 0) {
			if (r == POLLEX_E_INVAL)
				r = POLLEX_E_PROTOCOL;
			goto out;
		}
	}
	r = w->cb(event, id != NULL ? id : pollex_task_id(t), t, w->arg);
	r = r != 0 ? 1 : 0;
out:
	pollex_task_free(t);
	free(event);
	free(id);
	return r;
}

/* Stream task events to cb until it stops or the stream ends. */
int
pollex_watch(pollex *c, const pollex_filter *f, int initial, pollex_event_cb cb,
    void *arg)
{
	struct px_watch w = {.cb = cb, .arg = arg};
	struct px_sync s = {.handler = px_on_watch, .ctx = &w, .first_only = 1};
	json_object *params;
	int64_t limit;
	int r;

	if (c == NULL || cb == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if ((r = px_filter_watch_params(f, initial, &params)) != 0)
		return px_leave(c,
		    px_error_local(c, r, "%s",
		        r == POLLEX_E_INVAL
		            ? "filter: states, owner, after and "
		              "limit apply to List only"
		            : "out of memory"));
	px_limit(c, 0, &limit);
	r = px_call_sync(
	    c, PX_INTERFACE ".Watch", params, POLLEX_CALL_MORE, &s, limit);
	return px_leave(c, r);
}

/* ---- Pollers, Stats, any call ------------------------------------------ */

/* Keep the reply's parameters as (compact) text. */
static int
px_on_text(pollex *c, struct px_sync *s, struct jspan params, int more)
{
	(void)c;
	(void)more;
	if ((*(char **)s->ctx = px_json_copy(params)) == NULL)
		return POLLEX_E_NOMEM;
	return 0;
}

/* Call method with params (consumed) and return the reply as text. */
static int
px_text_call(pollex *c, const char *method, json_object *params, char **out)
{
	struct px_sync s = {.handler = px_on_text};
	char *text = NULL;
	int64_t limit;
	int r;

	s.ctx = &text;
	px_limit(c, 0, &limit);
	r = px_call_sync(c, method, params, 0, &s, limit);
	if (r != 0) {
		free(text);
		return r;
	}
	if (out != NULL)
		*out = text;
	else
		free(text);
	return 0;
}

/* The reply of Pollers as JSON text. */
int
pollex_pollers(pollex *c, char **json)
{
	int r;

	if (json != NULL)
		*json = NULL;
	if (c == NULL || json == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	return px_leave(
	    c, px_text_call(c, PX_INTERFACE ".Pollers", NULL, json));
}

/* The reply of Stats as JSON text. */
int
pollex_stats(pollex *c, char **json)
{
	int r;

	if (json != NULL)
		*json = NULL;
	if (c == NULL || json == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	return px_leave(c, px_text_call(c, PX_INTERFACE ".Stats", NULL, json));
}

/* Call any method; the reply's parameters as JSON text. */
int
pollex_call(
    pollex *c, const char *method, const char *params_json, char **reply_json)
{
	json_object *params = NULL;
	int r;

	if (reply_json != NULL)
		*reply_json = NULL;
	if (c == NULL || method == NULL || *method == '\0' ||
	    !px_utf8_valid(method))
		return POLLEX_E_INVAL;
	if ((r = px_enter(c)) != 0)
		return r;
	if (params_json != NULL &&
	    (r = px_parse_object(params_json, &params)) != 0)
		return px_leave(c,
		    px_error_local(c, r, "parameters: %s",
		        r == POLLEX_E_NOMEM ? "out of memory"
		                            : "not a JSON object"));
	return px_leave(c, px_text_call(c, method, params, reply_json));
}
