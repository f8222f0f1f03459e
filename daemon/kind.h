/* SPDX-License-Identifier: ISC */
/*
 * kind.h: what a poller kind implements, and the registry of kinds.
 *
 * A kind is how a poller reaches its remote service (run a program, speak
 * HTTP).  It reads its own keys of a poller's definition (configure) and
 * runs operations (poll, start, cancel) that poller.c hands it.  The
 * configuration loader finds kinds here, without the scheduler.
 */
#ifndef POLLEXD_KIND_H
#define POLLEXD_KIND_H

#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

struct cfg;
struct op;

struct poller_kind {
	const char *name;
	/* Polls one task per operation (max_batch is 1 and not a key). */
	int per_task;
	/* max_inflight when the configuration does not say (0: 4). */
	uint32_t default_inflight;
	/* Read the kind's keys; NULL after cfg_error(). */
	void *(*configure)(struct cfg *c);
	void (*free_conf)(void *kconf);
	int (*has_start)(const void *kconf);
	int (*has_cancel)(const void *kconf);
	/* Begin an operation; -1 with *cause when it cannot begin at all
	 * (the caller then completes it as failed). */
	int (*poll)(struct op *op, char **cause);
	int (*start)(struct op *op, char **cause);
	int (*cancel)(struct op *op, char **cause);
	/* Stop an operation without completing it and free kstate. */
	void (*abort)(struct op *op);
	/* Optional: the daemon starts (before any operation) and stops
	 * (after every operation ended or was aborted). */
	int (*startup)(struct event_base *base, char **cause);
	void (*shutdown)(void);
	/* Optional: the kind's counters of a poller, shown in Pollers under
	 * stats_key ("http", "exec"). */
	const char *stats_key;
	json_object *(*stats)(const void *kconf);
};

extern const struct poller_kind poller_kind_exec;
extern const struct poller_kind poller_kind_http_batch;
extern const struct poller_kind poller_kind_http_each;

const struct poller_kind *poller_kind_find(const char *name);
const char *poller_kind_names(void);	/* "exec, http-batch, ..." */
/* Add a kind (tests, extensions); one of the same name is replaced. */
void poller_kind_register(const struct poller_kind *k);
/* Every kind's start-up hook; -1 with *cause naming the kind. */
int poller_kinds_startup(struct event_base *base, char **cause);
/* Every kind's shutdown hook. */
void poller_kinds_shutdown(void);

#endif
