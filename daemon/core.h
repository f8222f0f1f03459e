/* SPDX-License-Identifier: ISC */
/*
 * core.h: the daemon's parts that calls act on and the metrics read: the
 * task table, the waiters, the pollers, the store, the server and the
 * counters.  The glue that keeps them in step (pollexd.c) owns them and
 * keeps its own state private; the methods (methods.c) and the metrics
 * (metrics.c) see only this.
 */
#ifndef POLLEXD_CORE_H
#define POLLEXD_CORE_H

#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

struct call;
struct conf;
struct pollers;
struct server;
struct store;
struct tasktab;
struct waits;

struct core_counters {
	uint64_t submitted;
	uint64_t completed;
	uint64_t calls;
};

struct core {
	struct event_base *base;
	struct conf *conf;		/* the configuration in force */
	struct tasktab *tt;
	struct waits *waits;
	struct pollers *pollers;
	struct store *store;		/* NULL: none opened (unit tests) */
	struct server *server;		/* NULL: no socket (unit tests) */
	struct core_counters counters;
	double started;			/* Unix time */
	int stopping;
	/*
	 * Answer call with reply (the JSON text of its parameters) once the
	 * changes it reports are durable; if their commit fails because the
	 * store is full, the tasks created for it (ids) are discarded and
	 * the call gets io.pollex.StoreFailed instead.  Takes reply and ids.
	 */
	void (*reply_after_commit)(void *arg, struct call *call, char *reply,
	    char **ids, size_t nids);
	void *glue;			/* their argument */
};

#endif
