/* SPDX-License-Identifier: ISC */
/* server.h: the Unix socket server: connections, framing, ordered replies. */
#ifndef POLLEXD_SERVER_H
#define POLLEXD_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "call.h"

struct server;

/* What the server enforces; from the configuration, again at a reload. */
struct server_limits {
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t max_message_size;	/* bytes */
	uint64_t max_output_buffer;	/* bytes one connection may hold */
	uint64_t message_timeout;	/* ms to finish a started message */
	int admin_group_set;		/* members of admin_gid privileged */
	gid_t admin_gid;
};

/* Every call, as it arrives: the dispatcher answers it, now or later. */
typedef void (*server_dispatch_cb)(void *arg, struct call *c,
    json_object *params);

struct server *server_new(struct event_base *base,
    const struct server_limits *lim, server_dispatch_cb dispatch, void *arg);
void server_set_limits(struct server *srv, const struct server_limits *lim);
void server_free(struct server *srv);

/*
 * Bind path: refuse when another daemon answers there, replace a stale
 * socket file, create missing parent directories, set mode and group
 * (group (gid_t)-1: leave it).  Returns -1 with *cause on failure.
 */
int server_listen(struct server *srv, const char *path, mode_t mode,
    gid_t group, char **cause);

/*
 * Serve on fd, a socket passed by systemd (socket activation): it must be
 * a listening AF_UNIX SOCK_STREAM socket.  It is never unlinked nor shut
 * down, only closed at the end.  Returns -1 with *cause when fd is not
 * such a socket.
 */
int server_adopt(struct server *srv, int fd, char **cause);

/* The socket's path (for messages). */
const char *server_path(const struct server *srv);

/*
 * Commit epochs.  Each reply or event is tagged, when it is made, with
 * the epoch fn(arg) gives then (what it reports is durable with it); a
 * connection's output goes out in order, each message once its epoch is
 * settled (server_settled()).  Without a source every epoch is 0.
 */
void server_set_epoch_source(struct server *srv, uint64_t (*fn)(void *),
    void *arg);
void server_settled(struct server *srv, uint64_t epoch);
/* Does output wait for an epoch to settle? */
int server_has_fenced(const struct server *srv);

/* Write the replies queued during this loop iteration. */
void server_flush(struct server *srv);
/* Are replies queued (to be written by server_flush())? */
int server_has_output(const struct server *srv);

/* Stop: no more connections; every unfinished call gets
 * io.pollex.ShuttingDown; replies are flushed and connections closed. */
void server_stop(struct server *srv);

unsigned int server_connections(const struct server *srv);
/* Add the server's Stats members to p: client_bytes, pending_calls,
 * clients_dropped, accepts_paused, accept_pauses, fd_limit. */
void server_stats(const struct server *srv, json_object *p);

#endif
