/* SPDX-License-Identifier: ISC */
/*
 * error.c: libpollex error codes, their descriptions, the mapping of varlink
 * error names to codes and the messages composed from error parameters.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pollex-int.h"
#include "proto.h"

static const char *px_param_str(json_object *, const char *);
static char *px_param_num(json_object *, const char *, char *, size_t);
static char *px_compose(const char *, json_object *);

/* Codes of the varlink errors the header lists; the rest are SERVER. */
static const int px_codes[PX_ERR_COUNT] = {
    [PX_ERR_TASK_NOT_FOUND] = POLLEX_E_NOTFOUND,
    [PX_ERR_POLLER_NOT_FOUND] = POLLEX_E_NOPOLLER,
    [PX_ERR_QUOTA_EXCEEDED] = POLLEX_E_QUOTA,
    [PX_ERR_IDEMPOTENCY_CONFLICT] = POLLEX_E_CONFLICT,
    [PX_ERR_SHUTTING_DOWN] = POLLEX_E_SHUTDOWN,
    [PX_ERR_MESSAGE_TOO_LARGE] = POLLEX_E_TOOBIG,
    [PX_ERR_STORE_FAILED] = POLLEX_E_STORE,
    [PX_ERR_INVALID_PARAMETER] = POLLEX_E_PARAM,
    [PX_ERR_METHOD_NOT_FOUND] = POLLEX_E_METHOD,
};

/* A static description of each POLLEX_E_* code. */
const char *
pollex_strerror(int err)
{
	switch (err) {
	case POLLEX_OK:
		return "success";
	case POLLEX_E_NOMEM:
		return "out of memory";
	case POLLEX_E_INVAL:
		return "invalid argument";
	case POLLEX_E_CONNECT:
		return "cannot connect to the daemon";
	case POLLEX_E_IO:
		return "input/output error on the connection";
	case POLLEX_E_CLOSED:
		return "connection closed";
	case POLLEX_E_PROTOCOL:
		return "protocol error: malformed message from the daemon";
	case POLLEX_E_TIMEOUT:
		return "timed out waiting for the daemon";
	case POLLEX_E_TOOBIG:
		return "message too large";
	case POLLEX_E_SERVER:
		return "the daemon answered an error";
	case POLLEX_E_NOTFOUND:
		return "no such task";
	case POLLEX_E_NOPOLLER:
		return "no such poller";
	case POLLEX_E_QUOTA:
		return "quota exceeded";
	case POLLEX_E_CONFLICT:
		return "idempotency key already used for another task";
	case POLLEX_E_SHUTDOWN:
		return "the daemon is shutting down";
	case POLLEX_E_PARAM:
		return "invalid parameter";
	case POLLEX_E_METHOD:
		return "no such method";
	case POLLEX_E_STORE:
		return "the daemon's store failed";
	}
	return "unknown error";
}

/* The POLLEX_E_* code of a varlink error name. */
int
px_error_code(const char *name)
{
	enum px_error e = px_error_from_name(name);

	if (e == PX_ERR_NONE || px_codes[e] == 0)
		return POLLEX_E_SERVER;
	return px_codes[e];
}

/* Forget the last failure. */
void
px_error_clear(pollex *c)
{
	free(c->err_name);
	free(c->err_msg);
	free(c->err_params);
	c->err_name = c->err_msg = c->err_params = NULL;
}

/* Record a local failure with its description; returns err. */
int
px_error_local(pollex *c, int err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	px_error_clear(c);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	c->err_msg = msg; /* NULL reads as "" */
	return err;
}

/* A string parameter, or NULL. */
static const char *
px_param_str(json_object *params, const char *key)
{
	return px_get_string(params, key);
}

/* An integer (or any scalar) parameter as text, or "?". */
static char *
px_param_num(json_object *params, const char *key, char *buf, size_t len)
{
	json_object *v;

	if (params == NULL || !json_object_object_get_ex(params, key, &v) ||
	    v == NULL)
		snprintf(buf, len, "?");
	else if (json_object_is_type(v, json_type_int))
		snprintf(buf, len, "%lld", (long long)json_object_get_int64(v));
	else
		snprintf(buf, len, "%s",
		    json_object_to_json_string_ext(v,
		        JSON_C_TO_STRING_PLAIN |
		            JSON_C_TO_STRING_NOSLASHESCAPE));
	return buf;
}

/* "NAME: description" composed from the error's parameters. */
static char *
px_compose(const char *name, json_object *params)
{
	enum px_error e = px_error_from_name(name);
	const char *s1, *s2;
	char n1[64];
	char *msg = NULL;
	int r = -1;

#define P(k)                                                                   \
	(px_param_str(params, (k)) != NULL ? px_param_str(params, (k)) : "?")
	switch (e) {
	case PX_ERR_TASK_NOT_FOUND:
		r = asprintf(&msg, "%s: no such task: %s", name, P("id"));
		break;
	case PX_ERR_POLLER_NOT_FOUND:
		r = asprintf(&msg, "%s: no such poller: %s", name, P("poller"));
		break;
	case PX_ERR_QUOTA_EXCEEDED:
		r = asprintf(&msg, "%s: quota exceeded: %s (limit %s)", name,
		    P("quota"), px_param_num(params, "limit", n1, sizeof n1));
		break;
	case PX_ERR_IDEMPOTENCY_CONFLICT:
		r = asprintf(&msg,
		    "%s: idempotency key \"%s\" already names task %s", name,
		    P("idempotency_key"), P("id"));
		break;
	case PX_ERR_SHUTTING_DOWN:
		r = asprintf(&msg, "%s: the daemon is shutting down", name);
		break;
	case PX_ERR_INVALID_MESSAGE:
		r = asprintf(
		    &msg, "%s: invalid message: %s", name, P("reason"));
		break;
	case PX_ERR_MESSAGE_TOO_LARGE:
		r = asprintf(&msg, "%s: message larger than %s bytes", name,
		    px_param_num(params, "limit", n1, sizeof n1));
		break;
	case PX_ERR_TOO_MANY_CONNECTIONS:
		r = asprintf(&msg, "%s: too many connections (limit %s)", name,
		    px_param_num(params, "limit", n1, sizeof n1));
		break;
	case PX_ERR_STORE_FAILED:
		r = asprintf(&msg, "%s: store failed: %s", name, P("reason"));
		break;
	case PX_ERR_INVALID_PARAMETER:
		s1 = P("parameter");
		s2 = px_param_str(params, "reason");
		if (s2 != NULL)
			r = asprintf(&msg, "%s: %s: %s", name, s1, s2);
		else
			r = asprintf(
			    &msg, "%s: invalid parameter: %s", name, s1);
		break;
	case PX_ERR_METHOD_NOT_FOUND:
		r = asprintf(&msg, "%s: no such method: %s", name, P("method"));
		break;
	case PX_ERR_METHOD_NOT_IMPLEMENTED:
		r = asprintf(
		    &msg, "%s: method not implemented: %s", name, P("method"));
		break;
	case PX_ERR_INTERFACE_NOT_FOUND:
		r = asprintf(
		    &msg, "%s: no such interface: %s", name, P("interface"));
		break;
	case PX_ERR_EXPECTED_MORE:
		r = asprintf(
		    &msg, "%s: the method needs a streaming call", name);
		break;
	case PX_ERR_PERMISSION_DENIED:
		r = asprintf(&msg, "%s: permission denied", name);
		break;
	case PX_ERR_NONE:
	case PX_ERR_COUNT:
		if (params != NULL && json_object_object_length(params) > 0)
			r = asprintf(&msg, "%s: %s", name,
			    json_object_to_json_string_ext(params,
			        JSON_C_TO_STRING_PLAIN |
			            JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			r = asprintf(&msg, "%s", name);
		break;
	}
#undef P
	return r == -1 ? NULL : msg;
}

/*
 * Record a varlink error reply (params may be NULL) and return its code.
 * Out of memory leaves the message empty but still returns the code.
 */
int
px_error_server(pollex *c, const char *name, json_object *params)
{
	px_error_clear(c);
	c->err_name = strdup(name);
	c->err_msg = px_compose(name, params);
	c->err_params = params != NULL ? px_json_text(params) : strdup("{}");
	return px_error_code(name);
}

const char *
pollex_error_name(const pollex *c)
{
	return c != NULL ? c->err_name : NULL;
}

const char *
pollex_error_message(const pollex *c)
{
	if (c == NULL || c->err_msg == NULL)
		return "";
	return c->err_msg;
}

const char *
pollex_error_parameters(const pollex *c)
{
	return c != NULL ? c->err_params : NULL;
}
