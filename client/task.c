/* SPDX-License-Identifier: ISC */
/*
 * task.c: Task objects of the io.pollex protocol, read once from their JSON
 * text into a pollex_task with typed accessors.
 *
 * The text is read in place (common/jspan.h) rather than through a json-c
 * tree: a Wait of thousands of tasks reads one per reply, and building a
 * tree for each, then printing its members back to text, was most of the
 * client's work.  A task is a single allocation: the struct, the decoded
 * values of its labels, then its texts, each NUL-terminated: the whole
 * task as compact JSON, the compact JSON of ref, args, labels, result and
 * error details, and the decoded strings.  Nothing is computed on access,
 * so a task may be read from several threads at once.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "jspan.h"
#include "pollex-int.h"
#include "proto.h"

struct pollex_task {
	const char *json; /* the whole task, compact */
	const char *id;
	const char *poller;
	enum pollex_state state;
	long owner;
	const char *labels; /* JSON text, or NULL */
	size_t labels_len;
	const char **label_values; /* decoded, in the order of labels */
	const char *idempotency_key;
	const char *ref, *args, *result; /* JSON text, or NULL */
	const char *error_code, *error_message;
	const char *error_details; /* JSON text, or NULL */
	double created, updated, deadline, finished, progress;
	long polls, poll_failures;
};

/* The members of a Task this library reads. */
enum px_tmember {
	TM_ID,
	TM_POLLER,
	TM_STATE,
	TM_OWNER,
	TM_REF,
	TM_ARGS,
	TM_LABELS,
	TM_IDEMPOTENCY_KEY,
	TM_CREATED,
	TM_UPDATED,
	TM_DEADLINE,
	TM_FINISHED,
	TM_POLLS,
	TM_POLL_FAILURES,
	TM_PROGRESS,
	TM_RESULT,
	TM_ERROR,
	TM_COUNT
};

#define PX_NAME(s) {(s), sizeof(s) - 1}
static const struct {
	const char *name;
	size_t len;
} px_tmembers[TM_COUNT] = {
    [TM_ID] = PX_NAME("id"),
    [TM_POLLER] = PX_NAME("poller"),
    [TM_STATE] = PX_NAME("state"),
    [TM_OWNER] = PX_NAME("owner"),
    [TM_REF] = PX_NAME("ref"),
    [TM_ARGS] = PX_NAME("args"),
    [TM_LABELS] = PX_NAME("labels"),
    [TM_IDEMPOTENCY_KEY] = PX_NAME("idempotency_key"),
    [TM_CREATED] = PX_NAME("created"),
    [TM_UPDATED] = PX_NAME("updated"),
    [TM_DEADLINE] = PX_NAME("deadline"),
    [TM_FINISHED] = PX_NAME("finished"),
    [TM_POLLS] = PX_NAME("polls"),
    [TM_POLL_FAILURES] = PX_NAME("poll_failures"),
    [TM_PROGRESS] = PX_NAME("progress"),
    [TM_RESULT] = PX_NAME("result"),
    [TM_ERROR] = PX_NAME("error"),
};
#undef PX_NAME

static int px_tmember(struct jspan);
static int px_span_long(struct jspan, long *);
static int px_span_double(struct jspan, double *);
static int px_span_state(struct jspan, enum px_state *);
static char *px_put_json(char **, struct jspan);
static const char *px_put_string(char **, struct jspan);

/* Which of px_tmembers the raw member name k is, or -1. */
static int
px_tmember(struct jspan k)
{
	int i;

	if (!jspan_plain_string(k)) {
		/* Escapes in a name: rare, compare the decoded name. */
		for (i = 0; i < TM_COUNT; i++)
			if (jspan_key_is(k, px_tmembers[i].name,
			        px_tmembers[i].len))
				return i;
		return -1;
	}
	for (i = 0; i < TM_COUNT; i++)
		if (k.n - 2 == px_tmembers[i].len &&
		    memcmp(k.p + 1, px_tmembers[i].name, k.n - 2) == 0)
			return i;
	return -1;
}

/*
 * An integer member into *l: 0, or -1 when it is not an integer.  Integers
 * beyond int64 are clamped, as json-c reads them.
 */
static int
px_span_long(struct jspan v, long *l)
{
	int64_t i;

	if (jspan_type(v) != JS_NUMBER)
		return -1;
	if (jspan_int64(v, &i)) {
		*l = (long)i;
		return 0;
	}
	if (memchr(v.p, '.', v.n) != NULL || memchr(v.p, 'e', v.n) != NULL ||
	    memchr(v.p, 'E', v.n) != NULL)
		return -1;
	*l = v.p[0] == '-' ? (long)INT64_MIN : (long)INT64_MAX;
	return 0;
}

/*
 * A finite number into *d: 0, or -1.  strtod() stops at the end of the
 * span: in checked text a number is followed by a delimiter, and a member's
 * value by the rest of its object.
 */
static int
px_span_double(struct jspan v, double *d)
{
	char *end;

	if (jspan_type(v) != JS_NUMBER)
		return -1;
	*d = strtod(v.p, &end);
	if (end != v.p + v.n || !isfinite(*d))
		return -1;
	return 0;
}

/* A state's name into *st: 0, POLLEX_E_INVAL or POLLEX_E_NOMEM. */
static int
px_span_state(struct jspan s, enum px_state *st)
{
	const char *text;
	char *alloc, name[16];
	size_t len;
	int r = POLLEX_E_INVAL;

	if (jspan_type(s) != JS_STRING)
		return POLLEX_E_INVAL;
	if (jspan_string(s, &text, &len, &alloc) == -1)
		return POLLEX_E_NOMEM;
	/* No state's name is this long. */
	if (len < sizeof name) {
		memcpy(name, text, len);
		name[len] = '\0';
		if (px_state_from_name(name, st) == 0)
			r = 0;
	}
	free(alloc);
	return r;
}

/* px_json_compact() of v to *pp; returns where it starts and moves *pp
 * past its NUL. */
static char *
px_put_json(char **pp, struct jspan v)
{
	char *start = *pp;

	*pp += px_json_compact(start, v) + 1;
	return start;
}

/*
 * Decode the string s to *pp, NUL-terminated (a \u0000 in it ends the C
 * string early, as json-c's strings do); returns where it starts and moves
 * *pp past it, or NULL when memory ran out.  Decoding never makes a string
 * longer than its raw text less the quotes.
 */
static const char *
px_put_string(char **pp, struct jspan s)
{
	const char *text;
	char *alloc, *start = *pp;
	size_t len;

	if (jspan_string(s, &text, &len, &alloc) == -1)
		return NULL;
	memcpy(start, text, len);
	start[len] = '\0';
	free(alloc);
	*pp = start + len + 1;
	return start;
}

/*
 * Build a task from the span of a Task object in text frame_check() took
 * (a reply, or pollex_task_parse()'s argument).  JSON null counts as
 * absent.  Returns POLLEX_E_INVAL when a member is missing or of the wrong
 * type.
 */
int
px_task_from_text(struct jspan o, pollex_task **out)
{
	struct jspan m[TM_COUNT], code = {NULL, 0}, msg = {NULL, 0};
	struct jspan details = {NULL, 0}, k, v;
	struct jspan_iter it;
	pollex_task *t;
	enum px_state st;
	size_t size, nlabels = 0, i;
	char *p;
	int which, r;

	*out = NULL;
	if (jspan_type(o) != JS_OBJECT)
		return POLLEX_E_INVAL;
	memset(m, 0, sizeof m);
	/* One pass over the members; a repeated name: the last counts. */
	jspan_iter_init(&it, o);
	while (jspan_next(&it, &k, &v))
		if ((which = px_tmember(k)) >= 0) {
			if (jspan_type(v) == JS_NULL)
				v.n = 0;
			m[which] = v;
		}

	/* Check everything, and add up the room the texts need. */
	size = o.n + 1;
	if (jspan_type(m[TM_ID]) != JS_STRING ||
	    jspan_type(m[TM_POLLER]) != JS_STRING)
		return POLLEX_E_INVAL;
	if ((r = px_span_state(m[TM_STATE], &st)) != 0)
		return r;
	if (m[TM_IDEMPOTENCY_KEY].n > 0) {
		if (jspan_type(m[TM_IDEMPOTENCY_KEY]) != JS_STRING)
			return POLLEX_E_INVAL;
		size += m[TM_IDEMPOTENCY_KEY].n - 1;
	}
	size += m[TM_ID].n - 1 + m[TM_POLLER].n - 1;
	if (m[TM_LABELS].n > 0) {
		if (jspan_type(m[TM_LABELS]) != JS_OBJECT)
			return POLLEX_E_INVAL;
		jspan_iter_init(&it, m[TM_LABELS]);
		while (jspan_next(&it, NULL, &v)) {
			if (jspan_type(v) != JS_STRING)
				return POLLEX_E_INVAL;
			size += v.n - 1;
			nlabels++;
		}
		size += m[TM_LABELS].n + 1;
	}
	if (m[TM_ERROR].n > 0) {
		if (jspan_type(m[TM_ERROR]) != JS_OBJECT)
			return POLLEX_E_INVAL;
		jspan_iter_init(&it, m[TM_ERROR]);
		while (jspan_next(&it, &k, &v)) {
			if (jspan_type(v) == JS_NULL)
				v.n = 0;
			if (jspan_key_is(k, "code", 4))
				code = v;
			else if (jspan_key_is(k, "message", 7))
				msg = v;
			else if (jspan_key_is(k, "details", 7))
				details = v;
		}
		if (jspan_type(code) != JS_STRING ||
		    (msg.n > 0 && jspan_type(msg) != JS_STRING))
			return POLLEX_E_INVAL;
		size += code.n - 1 + (msg.n > 0 ? msg.n - 1 : 0);
		if (details.n > 0)
			size += details.n + 1;
	}
	if (m[TM_REF].n > 0)
		size += m[TM_REF].n + 1;
	if (m[TM_ARGS].n > 0)
		size += m[TM_ARGS].n + 1;
	if (m[TM_RESULT].n > 0)
		size += m[TM_RESULT].n + 1;

	if ((t = calloc(1, sizeof *t + nlabels * sizeof(char *) + size)) ==
	    NULL)
		return POLLEX_E_NOMEM;
	t->label_values = (const char **)(t + 1);
	p = (char *)(t->label_values + nlabels);
	t->state = (enum pollex_state)st;
	t->owner = -1;
	t->progress = NAN;

	if (m[TM_OWNER].n > 0 && px_span_long(m[TM_OWNER], &t->owner) != 0)
		goto invalid;
	if ((m[TM_POLLS].n > 0 && px_span_long(m[TM_POLLS], &t->polls) != 0) ||
	    (m[TM_POLL_FAILURES].n > 0 &&
	        px_span_long(m[TM_POLL_FAILURES], &t->poll_failures) != 0))
		goto invalid;
	if ((m[TM_CREATED].n > 0 &&
	        px_span_double(m[TM_CREATED], &t->created) != 0) ||
	    (m[TM_UPDATED].n > 0 &&
	        px_span_double(m[TM_UPDATED], &t->updated) != 0) ||
	    (m[TM_DEADLINE].n > 0 &&
	        px_span_double(m[TM_DEADLINE], &t->deadline) != 0) ||
	    (m[TM_FINISHED].n > 0 &&
	        px_span_double(m[TM_FINISHED], &t->finished) != 0) ||
	    (m[TM_PROGRESS].n > 0 &&
	        px_span_double(m[TM_PROGRESS], &t->progress) != 0))
		goto invalid;

	t->json = px_put_json(&p, o);
	if ((t->id = px_put_string(&p, m[TM_ID])) == NULL ||
	    (t->poller = px_put_string(&p, m[TM_POLLER])) == NULL)
		goto nomem;
	if (m[TM_IDEMPOTENCY_KEY].n > 0 &&
	    (t->idempotency_key = px_put_string(
	         &p, m[TM_IDEMPOTENCY_KEY])) == NULL)
		goto nomem;
	if (m[TM_LABELS].n > 0) {
		t->labels = px_put_json(&p, m[TM_LABELS]);
		t->labels_len = strlen(t->labels);
		jspan_iter_init(&it, m[TM_LABELS]);
		for (i = 0; jspan_next(&it, NULL, &v); i++)
			if ((t->label_values[i] = px_put_string(&p, v)) ==
			    NULL)
				goto nomem;
	}
	if (m[TM_REF].n > 0)
		t->ref = px_put_json(&p, m[TM_REF]);
	if (m[TM_ARGS].n > 0)
		t->args = px_put_json(&p, m[TM_ARGS]);
	if (m[TM_RESULT].n > 0)
		t->result = px_put_json(&p, m[TM_RESULT]);
	if (m[TM_ERROR].n > 0) {
		if ((t->error_code = px_put_string(&p, code)) == NULL)
			goto nomem;
		if (msg.n == 0)
			t->error_message = "";
		else if ((t->error_message = px_put_string(&p, msg)) == NULL)
			goto nomem;
		if (details.n > 0)
			t->error_details = px_put_json(&p, details);
	}
	*out = t;
	return 0;
invalid:
	free(t);
	return POLLEX_E_INVAL;
nomem:
	free(t);
	return POLLEX_E_NOMEM;
}

/* Parse a Task from JSON text. */
int
pollex_task_parse(const char *json, pollex_task **task)
{
	struct jspan v;
	const char *why;
	int r;

	if (task == NULL)
		return POLLEX_E_INVAL;
	*task = NULL;
	if (json == NULL)
		return POLLEX_E_INVAL;
	if (frame_check(json, strlen(json), &v, &why) != 0) {
		r = strcmp(why, "out of memory") == 0 ? POLLEX_E_NOMEM
		                                      : POLLEX_E_INVAL;
		/* The description may have come from json-c's parser. */
		frame_cleanup();
		return r;
	}
	return px_task_from_text(v, task);
}

/* Free a task (its texts are part of it). */
void
pollex_task_free(pollex_task *t)
{
	free(t);
}

/* Free n tasks and their array. */
void
pollex_tasks_free(pollex_task **tasks, size_t n)
{
	size_t i;

	if (tasks == NULL)
		return;
	for (i = 0; i < n; i++)
		pollex_task_free(tasks[i]);
	free(tasks);
}

const char *
pollex_task_id(const pollex_task *t)
{
	return t != NULL ? t->id : NULL;
}

const char *
pollex_task_poller(const pollex_task *t)
{
	return t != NULL ? t->poller : NULL;
}

enum pollex_state
pollex_task_state(const pollex_task *t)
{
	return t != NULL ? t->state : POLLEX_STARTING;
}

long
pollex_task_owner(const pollex_task *t)
{
	return t != NULL ? t->owner : -1;
}

const char *
pollex_task_ref(const pollex_task *t)
{
	return t != NULL ? t->ref : NULL;
}

const char *
pollex_task_args(const pollex_task *t)
{
	return t != NULL ? t->args : NULL;
}

const char *
pollex_task_labels(const pollex_task *t)
{
	return t != NULL ? t->labels : NULL;
}

/* The value of one label, or NULL; a repeated name: the last counts. */
const char *
pollex_task_label(const pollex_task *t, const char *key)
{
	struct jspan_iter it;
	struct jspan labels, k, v;
	const char *value = NULL;
	size_t i, klen;

	if (t == NULL || t->labels == NULL || key == NULL)
		return NULL;
	labels.p = t->labels;
	labels.n = t->labels_len;
	klen = strlen(key);
	jspan_iter_init(&it, labels);
	for (i = 0; jspan_next(&it, &k, &v); i++)
		if (jspan_key_is(k, key, klen))
			value = t->label_values[i];
	return value;
}

const char *
pollex_task_idempotency_key(const pollex_task *t)
{
	return t != NULL ? t->idempotency_key : NULL;
}

const char *
pollex_task_result(const pollex_task *t)
{
	return t != NULL ? t->result : NULL;
}

const char *
pollex_task_error_code(const pollex_task *t)
{
	return t != NULL ? t->error_code : NULL;
}

const char *
pollex_task_error_message(const pollex_task *t)
{
	return t != NULL ? t->error_message : NULL;
}

const char *
pollex_task_error_details(const pollex_task *t)
{
	return t != NULL ? t->error_details : NULL;
}

double
pollex_task_created(const pollex_task *t)
{
	return t != NULL ? t->created : 0;
}

double
pollex_task_updated(const pollex_task *t)
{
	return t != NULL ? t->updated : 0;
}

double
pollex_task_deadline(const pollex_task *t)
{
	return t != NULL ? t->deadline : 0;
}

double
pollex_task_finished(const pollex_task *t)
{
	return t != NULL ? t->finished : 0;
}

long
pollex_task_polls(const pollex_task *t)
{
	return t != NULL ? t->polls : 0;
}

long
pollex_task_poll_failures(const pollex_task *t)
{
	return t != NULL ? t->poll_failures : 0;
}

double
pollex_task_progress(const pollex_task *t)
{
	return t != NULL ? t->progress : NAN;
}

const char *
pollex_task_json(const pollex_task *t)
{
	return t != NULL ? t->json : NULL;
}
