/* SPDX-License-Identifier: ISC */
/* pollexd.h: the daemon's shared state and the glue between its parts. */
#ifndef POLLEXD_H
#define POLLEXD_H

#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "compat.h"
#include "conf.h"
#include "task.h"

struct server;
struct poller;
struct op;
struct waits;
struct store;
struct call;
struct ack;
struct metrics;

struct pxd_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t polls;
	uint64_t failed_polls;
	uint64_t calls;
};

struct pxd {
	struct event_base *base;
	struct conf *conf;
	char *conf_file;		/* NULL: built-in defaults */
	char *socket_path;
	char *state_dir;
	struct tasktab *tt;
	struct server *server;
	struct waits *waits;
	struct store *store;		/* NULL: memory only (tests) */
	struct metrics *metrics;	/* NULL: no metrics_listen */
	TAILQ_HEAD(ack_list, ack) acks;	/* replies waiting for the commit */
	uint64_t acking;		/* the epoch of the ack replying now */
	struct admit *admits;		/* new tasks waiting for their commit */
	size_t nadmit, capadmit, admit_head;
	TAILQ_HEAD(poller_list, poller) pollers;
	TAILQ_HEAD(op_list, op) ops;
	struct event *ev_deadline;
	struct event *ev_commit;	/* a delayed group commit is due */
	uint64_t staged_since;		/* mono ms of the oldest staged change */
	struct event *ev_purge;
	struct event *ev_signals[4];
	struct event *ev_notify;	/* STATUS= and WATCHDOG=1 timer */
	uint64_t watchdog_usec;		/* 0: no watchdog */
	int watchdog_due;		/* send WATCHDOG=1 after this iteration */
	int store_failing;		/* the last commit found the store full */
	char status[160];		/* the last STATUS= sent */
	struct pxd_stats stats;
	double started;
	uint64_t rng;
	int stopping;
};

/* Make a daemon state without a socket (tests use it as it is). */
struct pxd *pxd_new(struct event_base *base, struct conf *conf);
void pxd_free(struct pxd *pxd);
/* Install a configuration: pollers added, changed or removed. */
void pxd_apply_conf(struct pxd *pxd, struct conf *conf);
/* Run the loop until pxd_stop(); after each loop iteration, replies are
 * flushed to the clients. */
int pxd_run(struct pxd *pxd);
void pxd_stop(struct pxd *pxd);
/* Work that follows one loop iteration: replies out. */
void pxd_after_iteration(struct pxd *pxd);
uint64_t pxd_random(struct pxd *pxd);
/* A task changed in a way worth persisting, outside the table's events. */
void pxd_task_touched(struct pxd *pxd, struct task *t);
/*
 * Answer call with reply once this iteration's changes are committed; if
 * the commit fails because the store is full, the tasks created for it
 * (ids) are discarded and the call gets io.pollex.StoreFailed instead.
 * Without a store the reply goes at once.  reply is the JSON text of the
 * reply's parameters; takes reply and ids.
 */
void pxd_reply_after_commit(struct pxd *pxd, struct call *call,
    char *reply, char **ids, size_t nids);
/* The server replies and events go through; its output waits for the
 * commit epochs of what it reports. */
void pxd_set_server(struct pxd *pxd, struct server *srv);
/* Open the store in the state directory and load its tasks. */
int pxd_open_store(struct pxd *pxd, char **cause);

int pollexd_main(int argc, char **argv);

#endif
