/* SPDX-License-Identifier: ISC */
/*
 * pollex-int.h: libpollex internals shared by its source files (conn.c,
 * error.c, task.c, spec.c, libpollex.c).  Nothing here is exported: the
 * version script keeps every symbol but pollex_* local.
 */
#ifndef POLLEX_INT_H
#define POLLEX_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "jspan.h"
#include "pollex.h"

struct px_sync;

/*
 * Handler of a blocking call's replies: params is the reply's parameters
 * object ({} when it had none) in the text of the message, which
 * frame_check() took; read it with jspan.h, during the call only.  Returns
 * 0 to go on, 1 to stop a stream early (the connection is then closed) or a
 * negative POLLEX_E_* code when the reply is unusable (the call fails with
 * it).
 */
typedef int (*px_handler)(
    pollex *c, struct px_sync *s, struct jspan params, int continues);

/* State of one blocking call, on the stack of its caller. */
struct px_sync {
	px_handler handler;
	void *ctx;
	int done;       /* last reply handled, or the call failed */
	int err;        /* 0 or the negative code the call failed with */
	size_t replies; /* replies seen so far */
	int first_only; /* the time limit covers the first reply only */
	int finished;   /* its last reply came: the call left the FIFO */
};

/* One outstanding call, in the connection's FIFO. */
struct px_call {
	TAILQ_ENTRY(px_call) entry;
	unsigned flags;
	struct px_sync *sync; /* blocking call, or NULL for an async one */
	pollex_reply_cb cb;
	void *arg;
};
TAILQ_HEAD(px_calls, px_call);

struct pollex {
	int fd; /* -1 once closed */
	char *path;
	int timeout_ms;     /* -1: no limit */
	size_t max_message; /* largest reply accepted, without its NUL */

	/* Output not yet sent: wbuf[woff..wlen). */
	char *wbuf;
	size_t woff, wlen, wcap;
	int wdead; /* the daemon stopped reading (EPIPE) */

	/* Input: rbuf[roff..rlen) is unparsed, rbuf[roff..rscan) has no NUL. */
	char *rbuf;
	size_t roff, rscan, rlen, rcap;

	struct px_calls calls;
	size_t ncalls;
	/* More tasks of the Wait reply being delivered follow
	 * (pollex_buffered()). */
	int held;

	int closed_err;   /* why the connection closed; 0 while open */
	char *closed_msg; /* and the message then, or NULL */
	int depth;        /* library frames that may run callbacks */
	int freeing;      /* pollex_close() ran inside a callback */

	/* Last failure: varlink error name, message, parameters. */
	char *err_name;
	char *err_msg;
	char *err_params;
};

/* conn.c */
int px_enter(pollex *c);
int px_leave(pollex *c, int rv);
int px_queue(pollex *c, const char *method, json_object *params, unsigned flags,
    struct px_sync *sync, pollex_reply_cb cb, void *arg);
int px_run(pollex *c, struct px_sync *s, int64_t limit_ms);
int px_call_sync(pollex *c, const char *method, json_object *params,
    unsigned flags, struct px_sync *s, int64_t limit_ms);
void px_fail(pollex *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* error.c */
void px_error_clear(pollex *c);
int px_error_local(pollex *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int px_error_server(pollex *c, const char *name, json_object *params);
int px_error_code(const char *name);

/* task.c */
int px_task_from_text(struct jspan o, pollex_task **out);

/* spec.c */
json_object *px_spec_object(const pollex_spec *s);
int px_filter_list_params(const pollex_filter *f, json_object **out);
int px_filter_watch_params(
    const pollex_filter *f, int initial, json_object **out);

/* libpollex.c: JSON helpers */
size_t px_json_compact(char *dst, struct jspan v);
char *px_json_copy(struct jspan v);
char *px_string_copy(struct jspan s);
int px_member(struct jspan o, const char *key, struct jspan *v);
int px_utf8_valid(const char *s);
int px_parse_object(const char *text, json_object **out);
int px_add(json_object *o, const char *key, json_object *v);
char *px_json_text(json_object *o);
const char *px_get_string(json_object *o, const char *key);

#endif
