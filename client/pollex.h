/* SPDX-License-Identifier: ISC */
/*
 * pollex.h: client library for pollexd, the batched poll executor daemon.
 *
 * A connection (pollex) talks the io.pollex varlink protocol to pollexd over
 * its Unix socket.  Every method has a blocking call here; callers with their
 * own event loop use pollex_call_async() with pollex_fd(), pollex_events()
 * and pollex_process().  Calls on one connection are answered in order, so a
 * long pollex_wait() on a connection delays the calls queued behind it: use a
 * second connection for it.
 *
 * Errors: functions returning int give 0 (or a documented non-negative value)
 * on success and a negative POLLEX_E_* code on failure; pollex_strerror()
 * describes a code.  When the daemon answered with a varlink error,
 * pollex_error_name() and pollex_error_message() tell which and why.  The
 * library never exits, aborts or raises SIGPIPE, and its descriptors are
 * close-on-exec.  A connection is not thread-safe: use one per thread.
 *
 * Ownership: strings and arrays the library returns through pointer
 * arguments belong to the caller (free with free(), pollex_strv_free(),
 * pollex_task_free() or pollex_tasks_free() as stated per function); const
 * char * return values belong to the object they were read from.
 */
#ifndef POLLEX_H
#define POLLEX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes (negative) returned by the library's functions. */
enum pollex_error {
	POLLEX_OK = 0,
	POLLEX_E_NOMEM = -1,	  /**< out of memory */
	POLLEX_E_INVAL = -2,	  /**< invalid argument (bad JSON text, NULL...) */
	POLLEX_E_CONNECT = -3,	  /**< cannot connect to the daemon's socket */
	POLLEX_E_IO = -4,	  /**< read or write failed; connection is closed */
	POLLEX_E_CLOSED = -5,	  /**< the daemon closed the connection */
	POLLEX_E_PROTOCOL = -6,	  /**< the daemon sent something malformed */
	POLLEX_E_TIMEOUT = -7,	  /**< pollex_set_timeout() limit passed */
	POLLEX_E_TOOBIG = -8,	  /**< a message exceeds the size limit */
	POLLEX_E_SERVER = -9,	  /**< a varlink error not listed below */
	POLLEX_E_NOTFOUND = -10,  /**< io.pollex.TaskNotFound */
	POLLEX_E_NOPOLLER = -11,  /**< io.pollex.PollerNotFound */
	POLLEX_E_QUOTA = -12,	  /**< io.pollex.QuotaExceeded */
	POLLEX_E_CONFLICT = -13,  /**< io.pollex.IdempotencyConflict */
	POLLEX_E_SHUTDOWN = -14,  /**< io.pollex.ShuttingDown */
	POLLEX_E_PARAM = -15,	  /**< org.varlink.service.InvalidParameter */
	POLLEX_E_METHOD = -16,	  /**< org.varlink.service.MethodNotFound */
	POLLEX_E_STORE = -17,	  /**< io.pollex.StoreFailed */
};

/** Task states, in the protocol's order. */
enum pollex_state {
	POLLEX_STARTING = 0,
	POLLEX_PENDING,
	POLLEX_SUCCEEDED,
	POLLEX_FAILED,
	POLLEX_CANCELLED,
	POLLEX_EXPIRED,
};

/** When pollex_wait() returns (the concurrent.futures vocabulary). */
enum pollex_return_when {
	POLLEX_FIRST_COMPLETED = 0,
	POLLEX_FIRST_EXCEPTION,	/**< first failed or expired task */
	POLLEX_ALL_COMPLETED,
};

/** pollex_wait() return value when its timeout ended the wait. */
#define POLLEX_TIMED_OUT 1

/** Flags of pollex_call_async(). */
#define POLLEX_CALL_MORE 0x1	/**< streaming reply ("more": true) */
#define POLLEX_CALL_ONEWAY 0x2	/**< no reply ("oneway": true) */

typedef struct pollex pollex;
typedef struct pollex_task pollex_task;
typedef struct pollex_spec pollex_spec;
typedef struct pollex_filter pollex_filter;

/** The library's version, "MAJOR.MINOR.PATCH". */
const char *pollex_version(void);

/** A static description of an error code. */
const char *pollex_strerror(int err);

/** Name of a state ("pending"...), or NULL for an unknown value. */
const char *pollex_state_name(enum pollex_state state);

/* ---- Connections ------------------------------------------------------ */

/**
 * Connect to pollexd.  path NULL means: $POLLEX_SOCKET, else the calling
 * user's own daemon ($XDG_RUNTIME_DIR/pollex/pollex.sock) when that socket
 * exists, else the system daemon (/run/pollex/pollex.sock).
 * On success *out is a new connection, freed with pollex_close().
 */
int pollex_connect(const char *path, pollex **out);

/** Close the connection and free it; pending async calls are dropped. */
void pollex_close(pollex *c);

/** The socket path this connection uses (owned by c). */
const char *pollex_socket_path(const pollex *c);

/**
 * Limit every blocking call to ms milliseconds of waiting for the daemon
 * (-1, the default: no limit).  pollex_wait() adds its own timeout to it.
 * A call that runs out returns POLLEX_E_TIMEOUT and closes the connection.
 */
void pollex_set_timeout(pollex *c, int ms);

/**
 * The varlink error name of the last call that failed with a server error
 * ("io.pollex.TaskNotFound"), or NULL.  Owned by c, valid until the next call.
 */
const char *pollex_error_name(const pollex *c);

/**
 * A human-readable description of the last failure on c (server error with
 * its parameters, or the local cause), or "".  Owned by c.
 */
const char *pollex_error_message(const pollex *c);

/** The JSON text of the last server error's parameters, or NULL.  Owned by c. */
const char *pollex_error_parameters(const pollex *c);

/* ---- Tasks ------------------------------------------------------------ */

/** Parse one Task object (JSON text).  *task is freed with pollex_task_free(). */
int pollex_task_parse(const char *json, pollex_task **task);
void pollex_task_free(pollex_task *t);
/** Free an array of n tasks and the array itself. */
void pollex_tasks_free(pollex_task **tasks, size_t n);

/*
 * Accessors: strings are owned by the task; JSON values come as compact JSON
 * text, copied from the text the task was read from (white space outside
 * strings left out, escapes as written).
 */
const char *pollex_task_id(const pollex_task *t);
const char *pollex_task_poller(const pollex_task *t);
enum pollex_state pollex_task_state(const pollex_task *t);
long pollex_task_owner(const pollex_task *t);
const char *pollex_task_ref(const pollex_task *t);	    /**< JSON or NULL */
const char *pollex_task_args(const pollex_task *t);	    /**< JSON or NULL */
const char *pollex_task_labels(const pollex_task *t);	    /**< JSON or NULL */
const char *pollex_task_label(const pollex_task *t, const char *key);
const char *pollex_task_idempotency_key(const pollex_task *t);
const char *pollex_task_result(const pollex_task *t);	    /**< JSON or NULL */
const char *pollex_task_error_code(const pollex_task *t);   /**< or NULL */
const char *pollex_task_error_message(const pollex_task *t); /**< or NULL */
const char *pollex_task_error_details(const pollex_task *t); /**< JSON or NULL */
double pollex_task_created(const pollex_task *t);
double pollex_task_updated(const pollex_task *t);
double pollex_task_deadline(const pollex_task *t);	/**< 0 when none */
double pollex_task_finished(const pollex_task *t);	/**< 0 while outstanding */
long pollex_task_polls(const pollex_task *t);
long pollex_task_poll_failures(const pollex_task *t);
double pollex_task_progress(const pollex_task *t);	/**< NAN when none */
/** The whole task as compact JSON text (owned by t). */
const char *pollex_task_json(const pollex_task *t);

/* ---- Submitting ------------------------------------------------------- */

/** A new task specification for poller; freed with pollex_spec_free(). */
pollex_spec *pollex_spec_new(const char *poller);
void pollex_spec_free(pollex_spec *s);
/** ref and args are JSON objects given as text; they are copied. */
int pollex_spec_set_ref(pollex_spec *s, const char *json);
int pollex_spec_set_args(pollex_spec *s, const char *json);
int pollex_spec_set_label(pollex_spec *s, const char *key, const char *value);
/** Relative (seconds from now) or absolute (Unix time) deadline. */
int pollex_spec_set_timeout(pollex_spec *s, double seconds);
int pollex_spec_set_deadline(pollex_spec *s, double unix_time);
int pollex_spec_set_idempotency_key(pollex_spec *s, const char *key);

/**
 * Submit one task.  On success *id (freed with free()) is its id and, when
 * created is not NULL, *created is 0 when an existing task was given back.
 */
int pollex_submit(pollex *c, const pollex_spec *spec, char **id, int *created);

/**
 * Submit n tasks at once, all or none.  *ids is a NULL-terminated array of n
 * ids (freed with pollex_strv_free()); created may be NULL, else *created is
 * a malloc'd array of n flags (freed with free()).
 */
int pollex_submit_many(pollex *c, const pollex_spec *const *specs, size_t n,
    char ***ids, int **created);

/**
 * Submit the tasks of tasks_json, the JSON text of an array of TaskSpec
 * objects (see io.pollex.varlink).  *ids as for pollex_submit_many(); n may
 * be NULL.
 */
int pollex_submit_json(pollex *c, const char *tasks_json, char ***ids,
    size_t *n);

/** Free a NULL-terminated array of strings and the strings. */
void pollex_strv_free(char **v);

/* ---- Cancel, Get, Wait ------------------------------------------------ */

/**
 * Cancel a task.  *cancelled is 1 when it was cancelled, 0 when it had
 * already finished or the poller's cancel function refused or failed; then
 * *reason (may be NULL; freed with free()) says why.
 */
int pollex_cancel(pollex *c, const char *id, int *cancelled, char **reason);

/**
 * Poll now (io.pollex.Poll): wake the poller named for the caller's pending
 * tasks of it (every one for root and admins), or only for the n ids given
 * (n 0: all).  Returns once a poll that started after the call has polled
 * them; *polled (may be NULL) is how many it polled.  An unknown poller
 * gives POLLEX_E_NOPOLLER, an id that is not the caller's POLLEX_E_NOTFOUND,
 * a task of another poller POLLEX_E_PARAM.
 */
int pollex_poll(pollex *c, const char *poller, const char *const *ids,
    size_t n, int64_t *polled);

/** Fetch one task; *task is freed with pollex_task_free(). */
int pollex_get(pollex *c, const char *id, pollex_task **task);

/**
 * Wait for tasks.  timeout < 0 waits without limit.  Returns 0 when the
 * condition was met, POLLEX_TIMED_OUT when the timeout ended the wait, or a
 * negative error.  On success (either value) *done holds the finished tasks
 * (pollex_tasks_free(*done, *ndone)) and *not_done, when not NULL, a
 * NULL-terminated array of the other ids (pollex_strv_free()).
 */
int pollex_wait(pollex *c, const char *const *ids, size_t n,
    enum pollex_return_when when, double timeout, pollex_task ***done,
    size_t *ndone, char ***not_done);

/**
 * Callback of pollex_wait_each() and pollex_watch(); the task is owned by
 * the library and valid during the call only.  Return 0 to go on, anything
 * else to stop.
 */
typedef int (*pollex_task_cb)(const pollex_task *task, void *arg);

/**
 * Wait as pollex_wait() does, calling cb for each task as it finishes.
 * Returns 0, POLLEX_TIMED_OUT or a negative error.  When cb stops early the
 * stream is left unfinished and the connection is closed: later calls on it
 * fail with POLLEX_E_CLOSED.
 */
int pollex_wait_each(pollex *c, const char *const *ids, size_t n,
    enum pollex_return_when when, double timeout, pollex_task_cb cb,
    void *arg);

/* ---- List and Watch --------------------------------------------------- */

/** A filter for pollex_list() and pollex_watch(); all fields optional. */
pollex_filter *pollex_filter_new(void);
void pollex_filter_free(pollex_filter *f);
int pollex_filter_add_state(pollex_filter *f, enum pollex_state state);
int pollex_filter_add_id(pollex_filter *f, const char *id);  /**< Watch only */
int pollex_filter_set_poller(pollex_filter *f, const char *poller);
int pollex_filter_add_label(pollex_filter *f, const char *key, const char *value);
int pollex_filter_set_owner(pollex_filter *f, long uid);     /**< List only */
int pollex_filter_set_after(pollex_filter *f, const char *id); /**< List only */
int pollex_filter_set_limit(pollex_filter *f, int limit);      /**< List only */

/**
 * One page of tasks matching f (NULL: all of the caller's).  *next (freed
 * with free()) is the cursor for pollex_filter_set_after(), or NULL on the
 * last page.
 */
int pollex_list(pollex *c, const pollex_filter *f, pollex_task ***tasks,
    size_t *n, char **next);

/**
 * Callback of pollex_watch(): event is "ready", "current", "created",
 * "updated" or "purged"; task is NULL for "ready" and "purged" (id is set
 * for every event but "ready").
 */
typedef int (*pollex_event_cb)(const char *event, const char *id,
    const pollex_task *task, void *arg);

/**
 * Watch task events matching f until cb returns non-zero or the daemon ends
 * the stream; initial non-zero first sends every matching task as "current".
 * Returns 0 when cb stopped it (the connection is then closed, as for
 * pollex_wait_each()), or a negative error.
 */
int pollex_watch(pollex *c, const pollex_filter *f, int initial,
    pollex_event_cb cb, void *arg);

/* ---- Pollers, Stats, any call ----------------------------------------- */

/** The reply of Pollers / Stats as JSON text (freed with free()). */
int pollex_pollers(pollex *c, char **json);
int pollex_stats(pollex *c, char **json);

/**
 * Call any method ("io.pollex.Get", "org.varlink.service.GetInfo") with
 * params_json (NULL for {}); *reply_json (freed with free(); may be NULL to
 * ignore it) receives the reply's parameters.
 */
int pollex_call(pollex *c, const char *method, const char *params_json,
    char **reply_json);

/* ---- Non-blocking use ------------------------------------------------- */

/**
 * Reply callback of pollex_call_async().  err is 0 or a negative code (for
 * a server error, pollex_error_name(c) tells which); params_json is the
 * reply's parameters (valid during the call only; NULL on error);
 * continues is non-zero when more replies of this call follow.
 */
typedef void (*pollex_reply_cb)(pollex *c, int err, const char *params_json,
    int continues, void *arg);

/**
 * Queue a call without waiting; its reply comes through cb from
 * pollex_process() (or from a later blocking call on c, which processes the
 * replies queued before its own).  flags: POLLEX_CALL_MORE, POLLEX_CALL_ONEWAY
 * (cb is then never called and may be NULL).
 */
int pollex_call_async(pollex *c, const char *method, const char *params_json,
    unsigned flags, pollex_reply_cb cb, void *arg);

/** The connection's descriptor, for poll(2), epoll or an event library. */
int pollex_fd(const pollex *c);

/** The poll(2) events (POLLIN, POLLOUT) to wait for now. */
int pollex_events(const pollex *c);

/**
 * Send and receive what can be done without blocking and run the callbacks
 * of the replies that arrived.  Returns the number of replies handled, or a
 * negative error (the connection is then closed and pending calls get the
 * error through their callbacks).
 */
int pollex_process(pollex *c);

/** The number of async calls still waiting for (their last) reply. */
size_t pollex_pending(const pollex *c);

/**
 * Non-zero when the library holds replies it will hand out without waiting
 * for the daemon: a complete reply in c's input buffer or, inside a
 * pollex_wait_each() callback, more tasks of the same reply.  A callback
 * that writes output can flush it only when this is 0, that is when the
 * next callback may have to wait for the daemon (pollexctl does so).
 */
int pollex_buffered(const pollex *c);

#ifdef __cplusplus
}
#endif

#endif /* POLLEX_H */
