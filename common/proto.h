/* SPDX-License-Identifier: ISC */
/* proto.h: names and limits of the io.pollex varlink protocol, shared by
 * pollexd and libpollex. */
#ifndef POLLEX_PROTO_H
#define POLLEX_PROTO_H

#include <stddef.h>
#include <sys/types.h>

#define PX_INTERFACE "io.pollex"
#define PX_VARLINK_SERVICE "org.varlink.service"

/* Largest message either side accepts by default (bytes, without the NUL). */
#define PX_MAX_MESSAGE_DEFAULT (8u * 1024 * 1024)
/* Deepest JSON nesting accepted in a message. */
#define PX_JSON_MAX_DEPTH 64

/* Every named error of the protocol: enum suffix, varlink name. */
#define PX_ERROR_LIST(X)                                                     \
	X(TASK_NOT_FOUND, "io.pollex.TaskNotFound")                          \
	X(POLLER_NOT_FOUND, "io.pollex.PollerNotFound")                      \
	X(QUOTA_EXCEEDED, "io.pollex.QuotaExceeded")                         \
	X(IDEMPOTENCY_CONFLICT, "io.pollex.IdempotencyConflict")             \
	X(SHUTTING_DOWN, "io.pollex.ShuttingDown")                           \
	X(INVALID_MESSAGE, "io.pollex.InvalidMessage")                       \
	X(MESSAGE_TOO_LARGE, "io.pollex.MessageTooLarge")                    \
	X(TOO_MANY_CONNECTIONS, "io.pollex.TooManyConnections")              \
	X(STORE_FAILED, "io.pollex.StoreFailed")                             \
	X(INVALID_PARAMETER, "org.varlink.service.InvalidParameter")         \
	X(METHOD_NOT_FOUND, "org.varlink.service.MethodNotFound")            \
	X(INTERFACE_NOT_FOUND, "org.varlink.service.InterfaceNotFound")      \
	X(METHOD_NOT_IMPLEMENTED, "org.varlink.service.MethodNotImplemented") \
	X(EXPECTED_MORE, "org.varlink.service.ExpectedMore")                 \
	X(PERMISSION_DENIED, "org.varlink.service.PermissionDenied")

enum px_error {
	PX_ERR_NONE = 0,
#define PX_ERR_ENUM(sym, name) PX_ERR_##sym,
	PX_ERROR_LIST(PX_ERR_ENUM)
#undef PX_ERR_ENUM
	PX_ERR_COUNT
};

/* Task states, in protocol order; the first two are outstanding. */
#define PX_STATE_LIST(X)            \
	X(STARTING, "starting")     \
	X(PENDING, "pending")       \
	X(SUCCEEDED, "succeeded")   \
	X(FAILED, "failed")         \
	X(CANCELLED, "cancelled")   \
	X(EXPIRED, "expired")

enum px_state {
#define PX_STATE_ENUM(sym, name) PX_STATE_##sym,
	PX_STATE_LIST(PX_STATE_ENUM)
#undef PX_STATE_ENUM
	PX_STATE_COUNT
};

const char *px_error_name(enum px_error);
enum px_error px_error_from_name(const char *);
const char *px_state_name(enum px_state);
int px_state_from_name(const char *, enum px_state *);
static inline int
px_state_terminal(enum px_state s)
{
	return s >= PX_STATE_SUCCEEDED;
}

/*
 * Return-when modes of Wait: enum suffix, the concurrent.futures name (what
 * libpollex sends: every pollexd accepts it), the IDL's name (varlink enum
 * values are field names, lower case).  pollexd accepts both.
 */
#define PX_RETURN_WHEN_LIST(X)                                     \
	X(FIRST_COMPLETED, "FIRST_COMPLETED", "first_completed")   \
	X(FIRST_EXCEPTION, "FIRST_EXCEPTION", "first_exception")   \
	X(ALL_COMPLETED, "ALL_COMPLETED", "all_completed")

enum px_return_when {
#define PX_RW_ENUM(sym, name, idl) PX_RW_##sym,
	PX_RETURN_WHEN_LIST(PX_RW_ENUM)
#undef PX_RW_ENUM
	PX_RW_COUNT
};
const char *px_return_when_name(enum px_return_when);
const char *px_return_when_idl_name(enum px_return_when);
int px_return_when_from_name(const char *, enum px_return_when *);

/*
 * Default socket paths.  px_socket_for_daemon: the path pollexd binds when
 * neither -S nor POLLEX_SOCKET is given; px_socket_for_client: the path
 * clients try (POLLEX_SOCKET, else the user's own daemon if its socket
 * exists, else the system daemon).  Both write into buf and return it, or
 * NULL when the path does not fit.
 */
#define PX_SYSTEM_SOCKET RUNSTATEDIR "/pollex/pollex.sock"
char *px_socket_for_daemon(char *buf, size_t len);
char *px_socket_for_client(char *buf, size_t len);
char *px_user_socket(char *buf, size_t len, uid_t uid);

#endif
