/* SPDX-License-Identifier: ISC */
/* tsvc.h: the HTTP test service (tests/testservice) from a test: start it
 * on 127.0.0.1 with a free port, call its control API, stop it. */
#ifndef POLLEX_TSVC_H
#define POLLEX_TSVC_H

#include <sys/types.h>

#include <json-c/json.h>

struct tsvc {
	pid_t pid;
	int port;
	char base[64];		/* "http://127.0.0.1:PORT" */
};

/* Start it (extra options NULL-terminated, may be NULL); 0 or -1. */
int tsvc_start(struct tsvc *s, const char *const *extra);
/* SIGTERM and wait (bounded); its exit status or -1. */
int tsvc_stop(struct tsvc *s);
/* One request to the service (blocking, bounded by 10 s): the status, or
 * -1; the body as JSON in *out when out is not NULL (NULL if not JSON). */
int tsvc_call(struct tsvc *s, const char *method, const char *path,
    const char *body, json_object **out);
/* Requests of a route ("POST /tasks/search") in the request log. */
long tsvc_count(struct tsvc *s, const char *route);
/* Add a fault: match_json and fault_json are JSON objects, count -1 for
 * every request. */
void tsvc_fault(struct tsvc *s, const char *match_json, int count,
    const char *fault_json);

#endif
