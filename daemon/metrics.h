/* SPDX-License-Identifier: ISC */
/* metrics.h: the Prometheus text exposition of pollexd's counters, served
 * over HTTP on metrics_listen. */
#ifndef POLLEXD_METRICS_H
#define POLLEXD_METRICS_H

#include <stdint.h>

struct core;
struct metrics;
struct evbuffer;

/* Fixed histogram buckets (seconds), shared by every duration metric. */
#define METRICS_NBUCKETS 13

struct metrics_hist {
	uint64_t buckets[METRICS_NBUCKETS];	/* not cumulative */
	uint64_t count;
	double sum;				/* seconds */
};

/* Count one observation of secs seconds. */
void metrics_observe(struct metrics_hist *h, double secs);
/* A monotonic clock in seconds, for durations. */
double metrics_now(void);

/*
 * Parse "ADDRESS:PORT" (a numeric IPv4 address, or an IPv6 one in
 * brackets; a port from 1 to 65535): 0 with the parts in host (at least
 * 46 bytes) and *port, or -1 with a reason in *why.
 */
int metrics_parse_listen(const char *s, char *host, size_t hostlen,
    uint16_t *port, const char **why);

/* Listen on addr; -1 with *cause (to free) naming the key on failure. */
int metrics_start(struct core *core, const char *addr, struct metrics **out,
    char **cause);
void metrics_stop(struct metrics *m);

/* Append the exposition of pxd's metrics to buf. */
void metrics_render(const struct core *core, struct evbuffer *buf);

#endif
