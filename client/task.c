/*
 * task.c: Task objects of the io.pollex protocol, parsed once into a
 * pollex_task with typed accessors.  The task keeps a reference to its JSON
 * object: the strings the accessors return live in it.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "pollex-int.h"
#include "proto.h"

struct pollex_task {
	json_object *obj;
	char *json; /* compact text of obj */
	const char *id;
	const char *poller;
	enum pollex_state state;
	long owner;
	json_object *labels;
	const char *idempotency_key;
	char *ref, *args, *labels_json, *result;
	const char *error_code, *error_message;
	char *error_details;
	double created, updated, deadline, finished, progress;
	long polls, poll_failures;
};

static int px_opt(json_object *, const char *, json_type, json_object **);
static int px_opt_number(json_object *, const char *, double *);
static int px_opt_int(json_object *, const char *, long *);
static int px_opt_text(json_object *, const char *, char **);

/*
 * Look up an optional member; JSON null counts as absent.  Returns 1 when
 * present with the type wanted (json_type_null: any type), 0 when absent,
 * -1 when of another type.
 */
static int
px_opt(json_object *o, const char *key, json_type type, json_object **v)
{
	if (!json_object_object_get_ex(o, key, v) || *v == NULL)
		return 0;
	if (type == json_type_null || json_object_is_type(*v, type))
		return 1;
	if (type == json_type_double && json_object_is_type(*v, json_type_int))
		return 1;
	return -1;
}

/* An optional number member into *d (left alone when absent). */
static int
px_opt_number(json_object *o, const char *key, double *d)
{
	json_object *v;
	int r = px_opt(o, key, json_type_double, &v);

	if (r == 1) {
		*d = json_object_get_double(v);
		if (!isfinite(*d))
			return -1;
	}
	return r < 0 ? -1 : 0;
}

/* An optional integer member into *l (left alone when absent). */
static int
px_opt_int(json_object *o, const char *key, long *l)
{
	json_object *v;
	int r = px_opt(o, key, json_type_int, &v);

	if (r == 1)
		*l = (long)json_object_get_int64(v);
	return r < 0 ? -1 : 0;
}

/* The compact text of an optional member of any type, or NULL. */
static int
px_opt_text(json_object *o, const char *key, char **text)
{
	json_object *v;

	*text = NULL;
	if (px_opt(o, key, json_type_null, &v) == 0)
		return 0;
	if ((*text = px_json_text(v)) == NULL)
		return POLLEX_E_NOMEM;
	return 0;
}

/*
 * Build a task from a Task object (a reference is taken).  Returns
 * POLLEX_E_INVAL when a member is missing or of the wrong type.
 */
int
px_task_from_json(json_object *o, pollex_task **out)
{
	pollex_task *t;
	json_object *v, *err;
	struct json_object_iterator it, end;
	enum px_state st;
	int r = POLLEX_E_INVAL;

	*out = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return POLLEX_E_INVAL;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return POLLEX_E_NOMEM;
	t->obj = json_object_get(o);
	t->owner = -1;
	t->progress = NAN;

	if (px_opt(o, "id", json_type_string, &v) != 1)
		goto fail;
	t->id = json_object_get_string(v);
	if (px_opt(o, "poller", json_type_string, &v) != 1)
		goto fail;
	t->poller = json_object_get_string(v);
	if (px_opt(o, "state", json_type_string, &v) != 1 ||
	    px_state_from_name(json_object_get_string(v), &st) != 0)
		goto fail;
	t->state = (enum pollex_state)st;
	if (px_opt_int(o, "owner", &t->owner) != 0 ||
	    px_opt_int(o, "polls", &t->polls) != 0 ||
	    px_opt_int(o, "poll_failures", &t->poll_failures) != 0 ||
	    px_opt_number(o, "created", &t->created) != 0 ||
	    px_opt_number(o, "updated", &t->updated) != 0 ||
	    px_opt_number(o, "deadline", &t->deadline) != 0 ||
	    px_opt_number(o, "finished", &t->finished) != 0 ||
	    px_opt_number(o, "progress", &t->progress) != 0)
		goto fail;
	switch (px_opt(o, "idempotency_key", json_type_string, &v)) {
	case 1:
		t->idempotency_key = json_object_get_string(v);
		break;
	case -1:
		goto fail;
	}
	switch (px_opt(o, "labels", json_type_object, &v)) {
	case 1:
		it = json_object_iter_begin(v);
		end = json_object_iter_end(v);
		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			if (!json_object_is_type(
			        json_object_iter_peek_value(&it),
			        json_type_string))
				goto fail;
		t->labels = v;
		break;
	case -1:
		goto fail;
	}
	switch (px_opt(o, "error", json_type_object, &err)) {
	case 1:
		if (px_opt(err, "code", json_type_string, &v) != 1)
			goto fail;
		t->error_code = json_object_get_string(v);
		if (px_opt(err, "message", json_type_string, &v) == -1)
			goto fail;
		t->error_message =
		    px_opt(err, "message", json_type_string, &v) == 1
		    ? json_object_get_string(v)
		    : "";
		r = px_opt_text(err, "details", &t->error_details);
		if (r != 0)
			goto fail;
		r = POLLEX_E_INVAL;
		break;
	case -1:
		goto fail;
	}
	r = POLLEX_E_NOMEM;
	if (px_opt_text(o, "ref", &t->ref) != 0 ||
	    px_opt_text(o, "args", &t->args) != 0 ||
	    px_opt_text(o, "labels", &t->labels_json) != 0 ||
	    px_opt_text(o, "result", &t->result) != 0 ||
	    (t->json = px_json_text(o)) == NULL)
		goto fail;
	*out = t;
	return 0;
fail:
	pollex_task_free(t);
	return r;
}

/* Parse a Task from JSON text. */
int
pollex_task_parse(const char *json, pollex_task **task)
{
	json_object *o;
	int r;

	if (task == NULL)
		return POLLEX_E_INVAL;
	*task = NULL;
	if (json == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_parse_object(json, &o)) != 0)
		return r;
	r = px_task_from_json(o, task);
	json_object_put(o);
	frame_cleanup();
	return r;
}

/* Free a task, its texts and its JSON object. */
void
pollex_task_free(pollex_task *t)
{
	if (t == NULL)
		return;
	free(t->json);
	free(t->ref);
	free(t->args);
	free(t->labels_json);
	free(t->result);
	free(t->error_details);
	json_object_put(t->obj);
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
	return t != NULL ? t->labels_json : NULL;
}

/* The value of one label, or NULL. */
const char *
pollex_task_label(const pollex_task *t, const char *key)
{
	json_object *v;

	if (t == NULL || t->labels == NULL || key == NULL ||
	    !json_object_object_get_ex(t->labels, key, &v))
		return NULL;
	return json_object_get_string(v);
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
