/* SPDX-License-Identifier: ISC */
/* pollexd.h: the daemon's life cycle: make, configure, serve, run, stop. */
#ifndef POLLEXD_H
#define POLLEXD_H

#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "compat.h"
#include "conf.h"
#include "core.h"
#include "task.h"

struct server;

/* The daemon: its parts (core.h) and the glue that keeps them in step.
 * Private to pollexd.c. */
struct pxd;

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
/* The parts (for tests and tools that drive a daemon in their process). */
struct core *pxd_core(struct pxd *pxd);
/* Where the store lives (before pxd_open_store()). */
void pxd_set_state_dir(struct pxd *pxd, const char *dir);
/* Make the server (not listening yet): its calls go to the methods, its
 * output waits for the commit epochs of what it reports. */
struct server *pxd_serve(struct pxd *pxd);
/* Open the store in the state directory and load its tasks. */
int pxd_open_store(struct pxd *pxd, char **cause);

int pollexd_main(int argc, char **argv);

#endif
