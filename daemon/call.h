/* SPDX-License-Identifier: ISC */
/* call.h: one method call and its replies, independent of any socket. */
#ifndef POLLEXD_CALL_H
#define POLLEXD_CALL_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "proto.h"

/* Who is calling, from the peer credentials of the connection. */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int privileged;		/* root or in the admin group: sees all tasks */
};

struct call;

/*
 * Where replies go: the server's connection slot, or a test's collector.
 * msg is one serialized reply (without the NUL); final is set on the last.
 * A oneway call has no replies: its sink hears only of its end, once, with
 * msg NULL and final set.
 */
typedef void (*call_sink)(void *arg, const char *msg, size_t len, int final);
typedef void (*call_abort_cb)(struct call *c, void *arg);

struct call *call_new(const struct caller *who, const char *method, int more,
    int oneway, call_sink sink, void *sink_arg);

const struct caller *call_caller(const struct call *c);
const char *call_method(const struct call *c);
int call_wants_more(const struct call *c);
int call_is_oneway(const struct call *c);
/*
 * A handler that parks a call says roughly how many bytes it holds for it
 * (a Wait's links, a held reply), so that the server counts them against
 * the client's max_output_buffer.
 */
void call_set_held(struct call *c, size_t bytes);
size_t call_held(const struct call *c);

/*
 * Replies.  call_reply() and call_error() are final: they free the call, so
 * the handler must not touch it afterwards.  params is consumed (NULL: {}).
 * call_reply_more() sends a reply with "continues": true; only for calls
 * made with "more".
 */
void call_reply(struct call *c, json_object *params);
void call_reply_more(struct call *c, json_object *params);
/* A final reply whose parameters are already JSON text (an object). */
void call_reply_text(struct call *c, const char *params);
/* call_reply_more() with the parameters as JSON text of len bytes. */
void call_reply_more_text(struct call *c, const char *params, size_t len);
void call_error(struct call *c, enum px_error e, json_object *params);
/* org.varlink.service.InvalidParameter with the parameter and a reason. */
void call_invalid(struct call *c, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error with one string parameter: call_error1(c, e, "id", id). */
void call_error1(struct call *c, enum px_error e, const char *key,
    const char *value);

/*
 * A handler that answers later registers what to undo if the call ends
 * first: the client went away (call_abort) or the daemon is stopping
 * (call_shutdown, which then answers io.pollex.ShuttingDown).
 */
void call_on_abort(struct call *c, call_abort_cb cb, void *arg);
void call_abort(struct call *c);
void call_shutdown(struct call *c);

#endif
