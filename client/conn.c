/* SPDX-License-Identifier: ISC */
/*
 * conn.c: the connection to pollexd: connecting, the FIFO of outstanding
 * calls, non-blocking I/O with framing, reply dispatch and the loop that
 * blocking calls run until their own reply arrives.
 *
 * Replies are read in place (frame_check(), jspan.h): no json-c tree is
 * built for them, but for the parameters of an error.
 *
 * Reentrancy: callbacks may queue calls, run blocking calls or close the
 * connection.  Dispatch therefore consumes a message (and unlinks a finished
 * call) before running its callback, reads a copy of the message (a
 * blocking call reads into the input buffer, which may move), keeps every
 * position in the connection rather than in locals, and pollex_close()
 * inside a callback only marks the connection; the outermost library frame
 * frees it (px_leave()).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "pollex-int.h"
#include "proto.h"

/* How long pollex_connect() retries while the listen backlog is full. */
#define PX_CONNECT_WAIT_MS 5000
/* Smallest free space offered to one recv(). */
#define PX_READ_CHUNK 65536

static int64_t px_now_ms(void);
static int px_connect_fd(int, const struct sockaddr_un *);
static void px_free(pollex *);
static void px_shutdown(pollex *, int);
static void px_deliver(pollex *, struct px_call *, int, struct jspan, int);
static int px_server_error(pollex *, const char *, struct jspan);
static int px_dispatch(pollex *, struct jspan);
static int px_parse_frames(pollex *, struct px_sync *);
static int px_write(pollex *);
static int px_read(pollex *, struct px_sync *);
static int px_io(pollex *, struct px_sync *);
static char *px_wbuf_room(pollex *, size_t);
static size_t px_json_string(char *, const char *, size_t);
static int px_queue_text(pollex *, const char *, const struct jspan *,
    unsigned, struct px_sync *, pollex_reply_cb, void *);

/* Milliseconds of CLOCK_MONOTONIC. */
static int64_t
px_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect a non-blocking socket, waiting a bounded time; 0 or an errno. */
static int
px_connect_fd(int fd, const struct sockaddr_un *sun)
{
	int64_t end = px_now_ms() + PX_CONNECT_WAIT_MS;
	int backoff = 1, err;
	socklen_t len;
	struct pollfd pfd;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
			return 0;
		err = errno;
		if (err == EINTR)
			continue;
		if (err == EAGAIN) {
			/* Unix sockets: the backlog is full and the socket
			 * stays unconnected; poll cannot wait for room, so
			 * retry with a growing pause. */
			if (px_now_ms() >= end)
				return EAGAIN;
			poll(NULL, 0, backoff);
			if (backoff < 64)
				backoff *= 2;
			continue;
		}
		if (err != EINPROGRESS)
			return err;
		break;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		int64_t left = end - px_now_ms();
		int n;

		if (left <= 0)
			return ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n > 0)
			break;
	}
	len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

/* Connect to the daemon's socket (see pollex.h for the default path). */
int
pollex_connect(const char *path, pollex **out)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	struct sockaddr_un sun;
	pollex *c;
	int err;

	if (out == NULL)
		return POLLEX_E_INVAL;
	*out = NULL;
	if (path == NULL &&
	    (path = px_socket_for_client(buf, sizeof buf)) == NULL) {
		errno = ENAMETOOLONG;
		return POLLEX_E_CONNECT;
	}
	if (*path == '\0') {
		errno = EINVAL;
		return POLLEX_E_INVAL;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return POLLEX_E_CONNECT;
	}
	memcpy(sun.sun_path, path, strlen(path));

	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		errno = ENOMEM;
		return POLLEX_E_NOMEM;
	}
	TAILQ_INIT(&c->calls);
	c->timeout_ms = -1;
	c->max_message = PX_MAX_MESSAGE_DEFAULT;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd == -1) {
		err = errno;
		px_free(c);
		errno = err;
		return POLLEX_E_CONNECT;
	}
	if ((err = px_connect_fd(c->fd, &sun)) != 0) {
		px_free(c);
		errno = err;
		return POLLEX_E_CONNECT;
	}
	*out = c;
	return 0;
}

/* Free everything; the FIFO must already be empty or is dropped. */
static void
px_free(pollex *c)
{
	struct px_call *call;

	while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
		TAILQ_REMOVE(&c->calls, call, entry);
		free(call);
	}
	if (c->fd != -1)
		close(c->fd);
	px_error_clear(c);
	free(c->closed_msg);
	free(c->wbuf);
	free(c->rbuf);
	free(c->path);
	free(c);
}

/* Close and free c, or only close it when a callback of c is running. */
void
pollex_close(pollex *c)
{
	if (c == NULL)
		return;
	if (c->depth > 0) {
		/* Inside a callback: outer frames still use c.  Async calls
		 * are dropped silently, as they are below; a blocking call
		 * in an outer frame learns that its connection is gone. */
		struct px_call *call;

		while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
			TAILQ_REMOVE(&c->calls, call, entry);
			c->ncalls--;
			if (call->sync != NULL && !call->sync->done) {
				call->sync->err = POLLEX_E_CLOSED;
				call->sync->done = 1;
			}
			free(call);
		}
		px_shutdown(c, POLLEX_E_CLOSED);
		c->freeing = 1;
		return;
	}
	px_free(c);
	/* The parser is cached per thread; release it with the
	 * connection so a thread that exits leaks nothing. */
	frame_cleanup();
}

/* A library frame that may run callbacks begins; 0 or a code. */
int
px_enter(pollex *c)
{
	if (c == NULL)
		return POLLEX_E_INVAL;
	if (c->freeing)
		return POLLEX_E_CLOSED;
	c->depth++;
	px_error_clear(c);
	return 0;
}

/* The frame ends: free c if a callback closed it; returns rv. */
int
px_leave(pollex *c, int rv)
{
	if (--c->depth == 0 && c->freeing)
		px_free(c);
	return rv;
}

const char *
pollex_socket_path(const pollex *c)
{
	return c != NULL ? c->path : NULL;
}

void
pollex_set_timeout(pollex *c, int ms)
{
	if (c != NULL)
		c->timeout_ms = ms < 0 ? -1 : ms;
}

int
pollex_fd(const pollex *c)
{
	return c != NULL ? c->fd : -1;
}

/* POLLIN always, POLLOUT while queued output waits. */
int
pollex_events(const pollex *c)
{
	int ev;

	if (c == NULL || c->fd == -1)
		return 0;
	ev = POLLIN;
	if (c->wlen > c->woff && !c->wdead)
		ev |= POLLOUT;
	return ev;
}

size_t
pollex_pending(const pollex *c)
{
	return c != NULL ? c->ncalls : 0;
}

/*
 * More tasks of the reply in hand, or a complete reply in the input buffer
 * (rbuf[roff..rscan) has no NUL: look past it only).
 */
int
pollex_buffered(const pollex *c)
{
	if (c == NULL || c->fd == -1)
		return 0;
	if (c->held > 0)
		return 1;
	return c->rlen > c->rscan &&
	    memchr(c->rbuf + c->rscan, '\0', c->rlen - c->rscan) != NULL;
}

/*
 * Close the socket and fail every outstanding call with err, in FIFO order.
 * The message already recorded on c (by px_fail()) stays.
 */
static void
px_shutdown(pollex *c, int err)
{
	struct px_call *call;

	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->closed_err == 0) {
		c->closed_err = err;
		if (c->err_msg != NULL)
			c->closed_msg = strdup(c->err_msg);
	}
	c->woff = c->wlen = 0;
	c->roff = c->rscan = c->rlen = 0;
	while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
		px_deliver(c, call, err, (struct jspan){NULL, 0}, 0);
		free(call);
	}
}

/* Record a local failure, close the connection and fail every call. */
void
px_fail(pollex *c, int err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	px_error_clear(c);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	c->err_msg = msg;
	px_shutdown(c, err);
}

/* Room for n more bytes at the end of the output buffer, or NULL. */
static char *
px_wbuf_room(pollex *c, size_t n)
{
	size_t need, cap;
	char *nb;

	if (c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	if (n >= SIZE_MAX / 4 - c->wlen)
		return NULL;
	need = c->wlen + n;
	if (need > c->wcap) {
		cap = c->wcap < 4096 ? 4096 : c->wcap;
		while (cap < need)
			cap *= 2;
		if ((nb = realloc(c->wbuf, cap)) == NULL)
			return NULL;
		c->wbuf = nb;
		c->wcap = cap;
	}
	return c->wbuf + c->wlen;
}

/*
 * Write s[0, len) (valid UTF-8) as a JSON string to dst, which has room
 * for 6 * len + 2 bytes; returns the length written.
 */
static size_t
px_json_string(char *dst, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *o = dst;
	unsigned char ch;
	size_t i;

	*o++ = '"';
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
		} else if (ch < 0x20) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 0xf];
		} else
			*o++ = (char)ch;
	}
	*o++ = '"';
	return (size_t)(o - dst);
}

/*
 * Queue a call whose parameters are the JSON object params (a span of
 * text frame_check() took, or NULL for {}): write the message into the
 * output buffer, white space left out, and unless oneway put the call at
 * the tail of the FIFO.  Written as text: a Submit of a thousand tasks
 * would otherwise be parsed into a tree only to be printed again.
 */
static int
px_queue_text(pollex *c, const char *method, const struct jspan *params,
    unsigned flags, struct px_sync *sync, pollex_reply_cb cb, void *arg)
{
	static const char head[] = "{\"method\":", mid[] = ",\"parameters\":",
	    more[] = ",\"more\":true", oneway[] = ",\"oneway\":true";
	struct px_call *call = NULL;
	size_t mlen = strlen(method), need;
	char *start, *o;

	if (c->fd == -1) {
		if (c->closed_msg != NULL)
			return px_error_local(c, POLLEX_E_CLOSED,
			    "the "
			    "connection is closed (%s)",
			    c->closed_msg);
		return px_error_local(
		    c, POLLEX_E_CLOSED, "the connection is closed");
	}
	need = sizeof head + 6 * mlen + 2 + sizeof mid +
	    (params != NULL ? params->n : 2) + sizeof oneway + 2;
	if ((params != NULL && params->n > SIZE_MAX / 4) ||
	    mlen > SIZE_MAX / 64 ||
	    (!(flags & POLLEX_CALL_ONEWAY) &&
	        (call = calloc(1, sizeof *call)) == NULL) ||
	    (start = px_wbuf_room(c, need)) == NULL) {
		free(call);
		return px_error_local(c, POLLEX_E_NOMEM, "out of memory");
	}
	o = start;
	memcpy(o, head, sizeof head - 1);
	o += sizeof head - 1;
	o += px_json_string(o, method, mlen);
	memcpy(o, mid, sizeof mid - 1);
	o += sizeof mid - 1;
	if (params != NULL)
		o += px_json_compact(o, *params);
	else {
		memcpy(o, "{}", 2);
		o += 2;
	}
	if (flags & POLLEX_CALL_MORE) {
		memcpy(o, more, sizeof more - 1);
		o += sizeof more - 1;
	}
	if (flags & POLLEX_CALL_ONEWAY) {
		memcpy(o, oneway, sizeof oneway - 1);
		o += sizeof oneway - 1;
	}
	*o++ = '}';
	*o++ = '\0';
	c->wlen += (size_t)(o - start);
	if (call != NULL) {
		call->flags = flags;
		call->sync = sync;
		call->cb = cb;
		call->arg = arg;
		TAILQ_INSERT_TAIL(&c->calls, call, entry);
		c->ncalls++;
	}
	return 0;
}

/*
 * Queue a call with json-c parameters (consumed; NULL means {}): printed
 * once, then as px_queue_text().
 */
int
px_queue(pollex *c, const char *method, json_object *params, unsigned flags,
    struct px_sync *sync, pollex_reply_cb cb, void *arg)
{
	struct jspan v;
	const char *text = NULL;
	int r;

	if (params != NULL && c->fd != -1 &&
	    (text = frame_serialize(params, &v.n)) == NULL) {
		json_object_put(params);
		return px_error_local(c, POLLEX_E_NOMEM, "out of memory");
	}
	v.p = text;
	r = px_queue_text(c, method, text != NULL ? &v : NULL, flags, sync,
	    cb, arg);
	json_object_put(params);
	return r;
}

/* Hand one reply (or an error: err < 0, params unset) to its call. */
static void
px_deliver(pollex *c, struct px_call *call, int err, struct jspan params,
    int continues)
{
	struct px_sync *s = call->sync;
	char *text = NULL;
	int r;

	if (s == NULL) {
		if (call->cb == NULL)
			return;
		if (err == 0 && (text = px_json_copy(params)) == NULL)
			err = px_error_local(
			    c, POLLEX_E_NOMEM, "out of memory");
		call->cb(c, err, err == 0 ? text : NULL, err == 0 && continues,
		    call->arg);
		free(text);
		return;
	}
	if (s->done)
		return;
	s->replies++;
	if (err != 0) {
		s->err = err;
		s->done = 1;
		return;
	}
	r = s->handler(c, s, params, continues);
	if (r < 0) {
		s->err = r;
		s->done = 1;
		px_error_local(c, r, "%s",
		    r == POLLEX_E_PROTOCOL ? "malformed reply from the daemon"
		                           : pollex_strerror(r));
	} else if (r > 0)
		s->done = 1;
	else if (!continues)
		s->done = 1;
}

/*
 * Record the varlink error name (a decoded string) with its parameters
 * (params.p NULL: none) and return its code.  Errors are rare: their
 * parameters go through json-c as error.c wants them.
 */
static int
px_server_error(pollex *c, const char *name, struct jspan params)
{
	json_object *o = NULL;
	const char *why;
	int err;

	if (params.p != NULL)
		o = frame_parse(params.p, params.n, &why);
	err = px_error_server(c, name, o);
	json_object_put(o);
	return err;
}

/*
 * Handle one message (a span of checked text): match it to the head of the
 * FIFO and deliver it.  Returns 1 when a reply was handled, or a negative
 * code after which the connection is closed.
 */
static int
px_dispatch(pollex *c, struct jspan msg)
{
	static const struct jspan empty = {"{}", 2};
	struct jspan error = {NULL, 0}, params = {NULL, 0}, cont = {NULL, 0};
	struct jspan_iter it;
	struct jspan k, v;
	struct px_call *call;
	struct px_sync *s;
	char *name = NULL;
	int continues, err = 0, final;

	/* One pass over the members; a repeated name: the last counts. */
	jspan_iter_init(&it, msg);
	while (jspan_next(&it, &k, &v)) {
		if (jspan_key_is(k, "parameters", 10))
			params = v;
		else if (jspan_key_is(k, "continues", 9))
			cont = v;
		else if (jspan_key_is(k, "error", 5))
			error = v;
	}
	if ((error.p != NULL && jspan_type(error) != JS_STRING) ||
	    (params.p != NULL && jspan_type(params) != JS_OBJECT) ||
	    (cont.p != NULL && jspan_type(cont) != JS_TRUE &&
	        jspan_type(cont) != JS_FALSE)) {
		px_fail(c, POLLEX_E_PROTOCOL,
		    "malformed reply: error, parameters or continues of the "
		    "wrong type");
		return POLLEX_E_PROTOCOL;
	}
	continues = jspan_type(cont) == JS_TRUE;
	if (error.p != NULL && (name = px_string_copy(error)) == NULL) {
		px_fail(c, POLLEX_E_NOMEM, "out of memory");
		return POLLEX_E_NOMEM;
	}
	call = TAILQ_FIRST(&c->calls);
	if (call == NULL) {
		if (name != NULL) {
			/* A daemon refusing us (TooManyConnections) or
			 * going away (ShuttingDown) may speak first. */
			err = px_server_error(c, name, params);
			free(name);
			px_shutdown(c, err);
			return err;
		}
		px_fail(c, POLLEX_E_PROTOCOL,
		    "unexpected reply: no call is waiting for one");
		return POLLEX_E_PROTOCOL;
	}
	if (continues && name == NULL && !(call->flags & POLLEX_CALL_MORE)) {
		px_fail(c, POLLEX_E_PROTOCOL,
		    "malformed reply: \"continues\" "
		    "in the reply of a call without \"more\"");
		return POLLEX_E_PROTOCOL;
	}
	final = name != NULL || !continues;
	if (final) {
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
	}
	if (name != NULL) {
		err = px_server_error(c, name, params);
		free(name);
	}
	s = call->sync;
	if (final && s != NULL)
		s->finished = 1;
	px_deliver(c, call, err, params.p != NULL ? params : empty, !final);
	if (final) {
		free(call);
		return 1;
	}
	/*
	 * A stream its handler stopped or could not use: nothing else can
	 * be read on this connection.  Unless a blocking call run by the
	 * handler's callback read the rest of the stream: then the stream
	 * ended there, and call is gone.
	 */
	if (s != NULL && s->done && !s->finished && c->fd != -1) {
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
		free(call);
		if (s->err == 0) {
			px_error_clear(c);
			c->err_msg = strdup(
			    "connection closed after an unfinished stream");
		}
		px_shutdown(c, POLLEX_E_CLOSED);
	}
	return 1;
}

/*
 * Parse and dispatch the complete messages in the input buffer; stop early
 * once s (when not NULL) is done.  Returns the number handled, or a negative
 * code when the connection was closed.
 */
static int
px_parse_frames(pollex *c, struct px_sync *s)
{
	struct jspan msg;
	const char *why, *text;
	char *copy;
	ssize_t at;
	size_t len;
	int n = 0, r;

	while (c->fd != -1 && (s == NULL || !s->done)) {
		/* memchr() of an empty (maybe NULL) buffer is undefined */
		at = c->rlen > c->rscan
		    ? frame_find(c->rbuf + c->rscan, c->rlen - c->rscan)
		    : -1;
		if (at < 0) {
			c->rscan = c->rlen;
			if (c->rlen - c->roff > c->max_message) {
				px_fail(c, POLLEX_E_TOOBIG,
				    "reply larger than "
				    "%zu bytes",
				    c->max_message);
				return POLLEX_E_TOOBIG;
			}
			break;
		}
		len = c->rscan + (size_t)at - c->roff;
		if (len > c->max_message) {
			px_fail(c, POLLEX_E_TOOBIG,
			    "reply larger than %zu "
			    "bytes",
			    c->max_message);
			return POLLEX_E_TOOBIG;
		}
		text = c->rbuf + c->roff;
		if (frame_check(text, len, &msg, &why) != 0) {
			c->roff = c->rscan = c->roff + len + 1;
			px_fail(
			    c, POLLEX_E_PROTOCOL, "malformed reply: %s", why);
			return POLLEX_E_PROTOCOL;
		}
		/* Callbacks may run blocking calls, which read into rbuf
		 * and may move it: dispatch reads a copy.  The NUL ends
		 * it as it ended the message. */
		if ((copy = malloc(len + 1)) == NULL) {
			px_fail(c, POLLEX_E_NOMEM, "out of memory");
			return POLLEX_E_NOMEM;
		}
		memcpy(copy, text, len + 1);
		msg.p = copy + (msg.p - text);
		c->roff = c->rscan = c->roff + len + 1;
		r = px_dispatch(c, msg);
		free(copy);
		if (r < 0)
			return r;
		n++;
	}
	if (c->fd == -1)
		return c->closed_err != 0 ? c->closed_err : POLLEX_E_CLOSED;
	if (c->roff == c->rlen)
		c->roff = c->rscan = c->rlen = 0;
	return n;
}

/* Send what the socket takes now; 0 or a negative code (closed). */
static int
px_write(pollex *c)
{
	ssize_t n;

	while (c->fd != -1 && !c->wdead && c->wlen > c->woff) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (errno == EPIPE || errno == ECONNRESET) {
			/* The daemon closed; what it said before (an error
			 * such as MessageTooLarge) may still be readable. */
			c->wdead = 1;
			c->woff = c->wlen = 0;
			break;
		}
		px_fail(c, POLLEX_E_IO, "send: %s", strerror(errno));
		return POLLEX_E_IO;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	return 0;
}

/*
 * Read until the socket is drained (or s is done) and dispatch what came.
 * Returns the number of replies handled or a negative code (closed).
 */
static int
px_read(pollex *c, struct px_sync *s)
{
	size_t limit, cap;
	ssize_t n;
	char *nb;
	int handled = 0, r;

	while (c->fd != -1 && (s == NULL || !s->done)) {
		if (c->roff > 0 && c->rcap - c->rlen < PX_READ_CHUNK) {
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->rscan -= c->roff;
			c->roff = 0;
		}
		if (c->rcap - c->rlen < PX_READ_CHUNK) {
			/* Room for the largest message, its NUL and a chunk
			 * that shows it is too large. */
			limit = c->max_message + 1 + PX_READ_CHUNK;
			cap = c->rcap < PX_READ_CHUNK ? PX_READ_CHUNK
			                              : c->rcap * 2;
			if (cap > limit)
				cap = limit;
			if (cap > c->rcap) {
				if ((nb = realloc(c->rbuf, cap)) == NULL) {
					px_fail(
					    c, POLLEX_E_NOMEM, "out of memory");
					return POLLEX_E_NOMEM;
				}
				c->rbuf = nb;
				c->rcap = cap;
			}
		}
		if (c->rcap == c->rlen) {
			/* Not reached: px_parse_frames() rejects a buffer
			 * this full; but recv() of 0 bytes would read as
			 * the end of the stream. */
			px_fail(c, POLLEX_E_TOOBIG,
			    "reply larger than %zu "
			    "bytes",
			    c->max_message);
			return POLLEX_E_TOOBIG;
		}
		n = recv(
		    c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno != ECONNRESET) {
			px_fail(c, POLLEX_E_IO, "recv: %s", strerror(errno));
			return POLLEX_E_IO;
		}
		if (n <= 0) {
			if (c->rlen > c->roff)
				px_fail(c, POLLEX_E_CLOSED,
				    "the daemon closed "
				    "the connection in the middle of a reply");
			else
				px_fail(c, POLLEX_E_CLOSED,
				    "the daemon closed "
				    "the connection");
			return POLLEX_E_CLOSED;
		}
		c->rlen += (size_t)n;
		if ((r = px_parse_frames(c, s)) < 0)
			return r;
		handled += r;
	}
	return handled;
}

/* One non-blocking pass: send, receive, dispatch. */
static int
px_io(pollex *c, struct px_sync *s)
{
	int r;

	if (c->fd == -1)
		return c->closed_err != 0 ? c->closed_err : POLLEX_E_CLOSED;
	if ((r = px_write(c)) < 0)
		return r;
	/* Replies left from an earlier pass (a stopped blocking call). */
	if ((r = px_parse_frames(c, s)) < 0)
		return r;
	if (s != NULL && s->done)
		return r;
	return px_read(c, s);
}

/* Send, receive and dispatch without blocking (the async entry point). */
int
pollex_process(pollex *c)
{
	int r, handled;

	if (c == NULL)
		return POLLEX_E_INVAL;
	if (c->fd == -1 || c->freeing)
		return POLLEX_E_CLOSED;
	c->depth++;
	if ((r = px_write(c)) < 0)
		return px_leave(c, r);
	if ((handled = px_parse_frames(c, NULL)) < 0)
		return px_leave(c, handled);
	if ((r = px_read(c, NULL)) < 0)
		return px_leave(c, r);
	return px_leave(c, handled + r);
}

/* Check and queue a call whose replies go to cb. */
int
pollex_call_async(pollex *c, const char *method, const char *params_json,
    unsigned flags, pollex_reply_cb cb, void *arg)
{
	struct jspan params;
	const char *why;

	if (c == NULL)
		return POLLEX_E_INVAL;
	if (c->freeing || c->fd == -1)
		return POLLEX_E_CLOSED;
	if (method == NULL || *method == '\0' || !px_utf8_valid(method) ||
	    (flags & ~(unsigned)(POLLEX_CALL_MORE | POLLEX_CALL_ONEWAY)) ||
	    flags == (POLLEX_CALL_MORE | POLLEX_CALL_ONEWAY))
		return px_error_local(c, POLLEX_E_INVAL,
		    "invalid method or "
		    "flags");
	if (params_json == NULL)
		return px_queue_text(c, method, NULL, flags, NULL, cb, arg);
	/* Checked as a call's parameters always were, then copied. */
	if (frame_check(params_json, strlen(params_json), &params, &why) != 0) {
		if (strcmp(why, "out of memory") == 0)
			return px_error_local(c, POLLEX_E_NOMEM,
			    "parameters: out of memory");
		return px_error_local(
		    c, POLLEX_E_INVAL, "parameters: not a JSON object");
	}
	return px_queue_text(c, method, &params, flags, NULL, cb, arg);
}

/*
 * Run the I/O loop until s is done, waiting at most limit_ms (-1: no limit)
 * in all; running out closes the connection with POLLEX_E_TIMEOUT.
 */
int
px_run(pollex *c, struct px_sync *s, int64_t limit_ms)
{
	int64_t start = px_now_ms(), left;
	struct pollfd pfd;
	int n;

	for (;;) {
		if (!s->done)
			(void)px_io(c, s);
		if (s->done)
			return s->err;
		if (c->fd == -1) {
			/* Closed without failing s: cannot happen, as
			 * px_shutdown() fails every queued call. */
			return c->closed_err != 0 ? c->closed_err
			                          : POLLEX_E_CLOSED;
		}
		left = -1;
		if (limit_ms >= 0 && !(s->first_only && s->replies > 0)) {
			left = start + limit_ms - px_now_ms();
			if (left <= 0) {
				px_fail(c, POLLEX_E_TIMEOUT,
				    "no reply from the "
				    "daemon within %lld ms",
				    (long long)limit_ms);
				continue;
			}
			if (left > 1000 * 1000 * 1000)
				left = 1000 * 1000 * 1000;
		}
		pfd.fd = c->fd;
		pfd.events = (short)pollex_events(c);
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			px_fail(c, POLLEX_E_IO, "poll: %s", strerror(errno));
	}
}

/* Queue a call for a blocking caller and run the loop until it is done. */
int
px_call_sync(pollex *c, const char *method, json_object *params, unsigned flags,
    struct px_sync *s, int64_t limit_ms)
{
	int r;

	if ((r = px_queue(c, method, params, flags, s, NULL, NULL)) != 0)
		return r;
	return px_run(c, s, limit_ms);
}
