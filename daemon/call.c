/* SPDX-License-Identifier: ISC */
/* call.c: one method call and its replies, independent of any socket. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "frame.h"
#include "util.h"
#include "xmalloc.h"

struct call {
	struct caller who;
	char *method;
	int more;
	int oneway;
	size_t held;		/* bytes a parked call holds */
	call_sink sink;
	void *sink_arg;
	call_abort_cb abort_cb;
	void *abort_arg;
};

struct call *
call_new(const struct caller *who, const char *method, int more, int oneway,
    call_sink sink, void *sink_arg)
{
	struct call *c = xcalloc(1, sizeof *c);

	c->who = *who;
	/* The name comes back in MethodNotFound and in the log: json-c
	 * lets some invalid UTF-8 through, so it is repaired here. */
	c->method = utf8_valid(method, strlen(method)) ? xstrdup(method) :
	    utf8_repair(method, strlen(method), NULL);
	c->more = more;
	c->oneway = oneway;
	c->sink = sink;
	c->sink_arg = sink_arg;
	return c;
}

static void
call_free(struct call *c)
{
	free(c->method);
	free(c);
}

const struct caller *
call_caller(const struct call *c)
{
	return &c->who;
}

const char *
call_method(const struct call *c)
{
	return c->method;
}

int
call_wants_more(const struct call *c)
{
	return c->more;
}

int
call_is_oneway(const struct call *c)
{
	return c->oneway;
}

void
call_set_held(struct call *c, size_t bytes)
{
	c->held = bytes;
}

size_t
call_held(const struct call *c)
{
	return c->held;
}

/* A oneway call ended: its sink hears of it, without a reply. */
static void
call_oneway_end(struct call *c, int final)
{
	if (final && c->sink != NULL)
		c->sink(c->sink_arg, NULL, 0, 1);
}

/* Serialize one reply and hand it to the sink. */
static void
call_send(struct call *c, json_object *msg, int final)
{
	const char *text;
	size_t len;

	if (c->oneway)
		call_oneway_end(c, final);
	else if (c->sink != NULL) {
		text = frame_serialize(msg, &len);
		c->sink(c->sink_arg, text, len, final);
	}
	json_object_put(msg);
}

void
call_reply(struct call *c, json_object *params)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "parameters",
	    params != NULL ? params : json_object_new_object());
	call_send(c, msg, 1);
	call_free(c);
}

void
call_reply_text(struct call *c, const char *params)
{
	static const char head[] = "{\"parameters\":";
	size_t plen = strlen(params), len = sizeof head - 1 + plen + 1;
	char *msg;

	if (c->oneway)
		call_oneway_end(c, 1);
	else if (c->sink != NULL) {
		msg = xmalloc(len + 1);
		memcpy(msg, head, sizeof head - 1);
		memcpy(msg + sizeof head - 1, params, plen);
		msg[len - 1] = '}';
		msg[len] = '\0';
		c->sink(c->sink_arg, msg, len, 1);
		free(msg);
	}
	call_free(c);
}

void
call_reply_more(struct call *c, json_object *params)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "parameters",
	    params != NULL ? params : json_object_new_object());
	json_object_object_add(msg, "continues", json_object_new_boolean(1));
	call_send(c, msg, 0);
}

void
call_reply_more_text(struct call *c, const char *params, size_t plen)
{
	static const char head[] = "{\"parameters\":";
	static const char tail[] = ",\"continues\":true}";
	size_t len = sizeof head - 1 + plen + sizeof tail - 1;
	char *msg;

	if (c->oneway || c->sink == NULL)
		return;
	msg = xmalloc(len + 1);
	memcpy(msg, head, sizeof head - 1);
	memcpy(msg + sizeof head - 1, params, plen);
	memcpy(msg + sizeof head - 1 + plen, tail, sizeof tail);
	c->sink(c->sink_arg, msg, len, 0);
	free(msg);
}

void
call_error(struct call *c, enum px_error e, json_object *params)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "error",
	    json_object_new_string(px_error_name(e)));
	json_object_object_add(msg, "parameters",
	    params != NULL ? params : json_object_new_object());
	call_send(c, msg, 1);
	call_free(c);
}

void
call_error1(struct call *c, enum px_error e, const char *key,
    const char *value)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, key, json_object_new_string(value));
	call_error(c, e, p);
}

void
call_invalid(struct call *c, const char *param, const char *fmt, ...)
{
	json_object *p = json_object_new_object();
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	json_object_object_add(p, "parameter", json_object_new_string(param));
	json_object_object_add(p, "reason", json_object_new_string(reason));
	call_error(c, PX_ERR_INVALID_PARAMETER, p);
}

void
call_on_abort(struct call *c, call_abort_cb cb, void *arg)
{
	c->abort_cb = cb;
	c->abort_arg = arg;
}

void
call_abort(struct call *c)
{
	if (c->abort_cb != NULL)
		c->abort_cb(c, c->abort_arg);
	call_free(c);
}

void
call_shutdown(struct call *c)
{
	if (c->abort_cb != NULL)
		c->abort_cb(c, c->abort_arg);
	c->abort_cb = NULL;
	call_error(c, PX_ERR_SHUTTING_DOWN, NULL);
}
