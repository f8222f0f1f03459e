/* SPDX-License-Identifier: ISC */
/*
 * spec.c: task specifications for Submit and filters for List and Watch,
 * kept as the JSON objects the calls send.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pollex-int.h"
#include "proto.h"

struct pollex_spec {
	json_object *obj; /* the TaskSpec */
};

struct pollex_filter {
	json_object *states; /* array of state names, or NULL */
	json_object *ids;    /* array of ids, or NULL */
	json_object *labels; /* object, or NULL */
	char *poller;
	char *after;
	long owner;
	int has_owner;
	int limit;
	int has_limit;
};

static int px_spec_set_json(pollex_spec *, const char *, const char *);
static int px_set_string(json_object *, const char *, const char *);
static int px_add_label(json_object **, const char *, const char *);
static int px_append_string(json_object **, const char *);

/* Set key of o to a new string (a copy of s). */
static int
px_set_string(json_object *o, const char *key, const char *s)
{
	json_object *v;

	if ((v = json_object_new_string(s)) == NULL)
		return POLLEX_E_NOMEM;
	return px_add(o, key, v);
}

/* Add key=value to a labels object, creating it when needed. */
static int
px_add_label(json_object **labels, const char *key, const char *value)
{
	if (key == NULL || value == NULL || *key == '\0' ||
	    !px_utf8_valid(key) || !px_utf8_valid(value))
		return POLLEX_E_INVAL;
	if (*labels == NULL && (*labels = json_object_new_object()) == NULL)
		return POLLEX_E_NOMEM;
	return px_set_string(*labels, key, value);
}

/* Append a string to an array, creating it when needed. */
static int
px_append_string(json_object **array, const char *s)
{
	json_object *v;

	if (*array == NULL && (*array = json_object_new_array()) == NULL)
		return POLLEX_E_NOMEM;
	if ((v = json_object_new_string(s)) == NULL)
		return POLLEX_E_NOMEM;
	if (json_object_array_add(*array, v) != 0) {
		json_object_put(v);
		return POLLEX_E_NOMEM;
	}
	return 0;
}

/* A new TaskSpec for poller. */
pollex_spec *
pollex_spec_new(const char *poller)
{
	pollex_spec *s;

	if (poller == NULL || *poller == '\0' || !px_utf8_valid(poller)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	if ((s->obj = json_object_new_object()) == NULL ||
	    px_set_string(s->obj, "poller", poller) != 0) {
		pollex_spec_free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void
pollex_spec_free(pollex_spec *s)
{
	if (s == NULL)
		return;
	json_object_put(s->obj);
	free(s);
}

/* The TaskSpec object of s (owned by s). */
json_object *
px_spec_object(const pollex_spec *s)
{
	return s->obj;
}

/* Set ref or args from JSON text, which must be an object. */
static int
px_spec_set_json(pollex_spec *s, const char *key, const char *json)
{
	json_object *v;
	int r;

	if (s == NULL || json == NULL)
		return POLLEX_E_INVAL;
	if ((r = px_parse_object(json, &v)) != 0)
		return r;
	return px_add(s->obj, key, v);
}

int
pollex_spec_set_ref(pollex_spec *s, const char *json)
{
	return px_spec_set_json(s, "ref", json);
}

int
pollex_spec_set_args(pollex_spec *s, const char *json)
{
	return px_spec_set_json(s, "args", json);
}

/* Add or replace one label. */
int
pollex_spec_set_label(pollex_spec *s, const char *key, const char *value)
{
	json_object *labels = NULL;
	int r, added = 0;

	if (s == NULL)
		return POLLEX_E_INVAL;
	if (!json_object_object_get_ex(s->obj, "labels", &labels))
		added = 1;
	if ((r = px_add_label(&labels, key, value)) != 0) {
		if (added)
			json_object_put(labels);
		return r;
	}
	if (added)
		return px_add(s->obj, "labels", labels);
	return 0;
}

/* A relative deadline; excludes an absolute one. */
int
pollex_spec_set_timeout(pollex_spec *s, double seconds)
{
	json_object *v;

	if (s == NULL || !isfinite(seconds) || seconds < 0 ||
	    json_object_object_get_ex(s->obj, "deadline", NULL))
		return POLLEX_E_INVAL;
	if ((v = json_object_new_double(seconds)) == NULL)
		return POLLEX_E_NOMEM;
	return px_add(s->obj, "timeout", v);
}

/* An absolute deadline; excludes a relative one. */
int
pollex_spec_set_deadline(pollex_spec *s, double unix_time)
{
	json_object *v;

	if (s == NULL || !isfinite(unix_time) || unix_time < 0 ||
	    json_object_object_get_ex(s->obj, "timeout", NULL))
		return POLLEX_E_INVAL;
	if ((v = json_object_new_double(unix_time)) == NULL)
		return POLLEX_E_NOMEM;
	return px_add(s->obj, "deadline", v);
}

int
pollex_spec_set_idempotency_key(pollex_spec *s, const char *key)
{
	if (s == NULL || key == NULL || *key == '\0' || !px_utf8_valid(key))
		return POLLEX_E_INVAL;
	return px_set_string(s->obj, "idempotency_key", key);
}

pollex_filter *
pollex_filter_new(void)
{
	return calloc(1, sizeof(pollex_filter));
}

/* Free a filter and its JSON parts. */
void
pollex_filter_free(pollex_filter *f)
{
	if (f == NULL)
		return;
	json_object_put(f->states);
	json_object_put(f->ids);
	json_object_put(f->labels);
	free(f->poller);
	free(f->after);
	free(f);
}

int
pollex_filter_add_state(pollex_filter *f, enum pollex_state state)
{
	const char *name = pollex_state_name(state);

	if (f == NULL || name == NULL)
		return POLLEX_E_INVAL;
	return px_append_string(&f->states, name);
}

int
pollex_filter_add_id(pollex_filter *f, const char *id)
{
	if (f == NULL || id == NULL || *id == '\0' || !px_utf8_valid(id))
		return POLLEX_E_INVAL;
	return px_append_string(&f->ids, id);
}

/* Select one poller's tasks (replaces the previous one). */
int
pollex_filter_set_poller(pollex_filter *f, const char *poller)
{
	char *p;

	if (f == NULL || poller == NULL || *poller == '\0' ||
	    !px_utf8_valid(poller))
		return POLLEX_E_INVAL;
	if ((p = strdup(poller)) == NULL)
		return POLLEX_E_NOMEM;
	free(f->poller);
	f->poller = p;
	return 0;
}

int
pollex_filter_add_label(pollex_filter *f, const char *key, const char *value)
{
	if (f == NULL)
		return POLLEX_E_INVAL;
	return px_add_label(&f->labels, key, value);
}

int
pollex_filter_set_owner(pollex_filter *f, long uid)
{
	if (f == NULL || uid < 0)
		return POLLEX_E_INVAL;
	f->owner = uid;
	f->has_owner = 1;
	return 0;
}

/* The List cursor (replaces the previous one). */
int
pollex_filter_set_after(pollex_filter *f, const char *id)
{
	char *p;

	if (f == NULL || id == NULL || *id == '\0' || !px_utf8_valid(id))
		return POLLEX_E_INVAL;
	if ((p = strdup(id)) == NULL)
		return POLLEX_E_NOMEM;
	free(f->after);
	f->after = p;
	return 0;
}

int
pollex_filter_set_limit(pollex_filter *f, int limit)
{
	if (f == NULL || limit <= 0)
		return POLLEX_E_INVAL;
	f->limit = limit;
	f->has_limit = 1;
	return 0;
}

/* The parameters of List for f (NULL: none); ids are Watch only. */
int
px_filter_list_params(const pollex_filter *f, json_object **out)
{
	json_object *p, *v;
	int r = POLLEX_E_NOMEM;

	*out = NULL;
	if (f != NULL && f->ids != NULL)
		return POLLEX_E_INVAL;
	if ((p = json_object_new_object()) == NULL)
		return POLLEX_E_NOMEM;
	if (f == NULL)
		goto done;
	if (f->states != NULL &&
	    px_add(p, "states", json_object_get(f->states)) != 0)
		goto fail;
	if (f->poller != NULL && px_set_string(p, "poller", f->poller) != 0)
		goto fail;
	if (f->labels != NULL &&
	    px_add(p, "labels", json_object_get(f->labels)) != 0)
		goto fail;
	if (f->has_owner &&
	    ((v = json_object_new_int64(f->owner)) == NULL ||
	        px_add(p, "owner", v) != 0))
		goto fail;
	if (f->after != NULL && px_set_string(p, "after", f->after) != 0)
		goto fail;
	if (f->has_limit &&
	    ((v = json_object_new_int(f->limit)) == NULL ||
	        px_add(p, "limit", v) != 0))
		goto fail;
done:
	*out = p;
	return 0;
fail:
	json_object_put(p);
	return r;
}

/* The parameters of Watch for f; states, owner, after, limit are List only. */
int
px_filter_watch_params(const pollex_filter *f, int initial, json_object **out)
{
	json_object *p, *v;

	*out = NULL;
	if (f != NULL &&
	    (f->states != NULL || f->has_owner || f->after != NULL ||
	        f->has_limit))
		return POLLEX_E_INVAL;
	if ((p = json_object_new_object()) == NULL)
		return POLLEX_E_NOMEM;
	if (f != NULL) {
		if (f->ids != NULL &&
		    px_add(p, "ids", json_object_get(f->ids)) != 0)
			goto fail;
		if (f->poller != NULL &&
		    px_set_string(p, "poller", f->poller) != 0)
			goto fail;
		if (f->labels != NULL &&
		    px_add(p, "labels", json_object_get(f->labels)) != 0)
			goto fail;
	}
	if (initial &&
	    ((v = json_object_new_boolean(1)) == NULL ||
	        px_add(p, "initial", v) != 0))
		goto fail;
	*out = p;
	return 0;
fail:
	json_object_put(p);
	return POLLEX_E_NOMEM;
}
