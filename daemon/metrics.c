/* SPDX-License-Identifier: ISC */
/* metrics.c: GET /metrics in the Prometheus text exposition format 0.0.4,
 * served by libevent's evhttp on the daemon's own loop.  Every value is
 * read when the scrape comes; nothing here keeps counters of its own but
 * the histograms the pollers and the store fill. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "metrics.h"
#include "poller.h"
#include "core.h"
#include "server.h"
#include "store.h"
#include "task.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define METRICS_MAX_HEADERS	8192	/* bytes of a request's headers */
#define METRICS_MAX_BODY	1024	/* a GET has none */
#define METRICS_TIMEOUT		10	/* seconds a connection may idle */
#define METRICS_ACCEPT_PAUSE	1	/* seconds: accept() failed */

static const double metrics_bounds[METRICS_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
static const char *const metrics_bound_text[METRICS_NBUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10", "30", "60"
};

struct metrics {
	struct evhttp *http;
	struct evconnlistener *lev;
	struct event *ev_resume;	/* accepting again after a pause */
	uint64_t pauses;
};

/* The listener's error callback gets evhttp's argument, not ours: the
 * one listener of the process, for it. */
static struct metrics *metrics_active;

void
metrics_observe(struct metrics_hist *h, double secs)
{
	size_t i;

	if (!(secs >= 0))
		secs = 0;
	for (i = 0; i < METRICS_NBUCKETS; i++)
		if (secs <= metrics_bounds[i]) {
			h->buckets[i]++;
			break;
		}
	h->count++;
	h->sum += secs;
}

double
metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
metrics_parse_listen(const char *s, char *host, size_t hostlen,
    uint16_t *port, const char **why)
{
	const char *colon, *h = s, *p;
	unsigned char addr[16];
	size_t hl;
	unsigned long v;
	char *end;

	*why = "expected \"ADDRESS:PORT\" with a numeric IPv4 address or "
	    "an IPv6 address in brackets, such as \"127.0.0.1:9464\"";
	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	hl = (size_t)(colon - s);
	if (*s == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -1;
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (inet_pton(*s == '[' ? AF_INET6 : AF_INET, host, addr) != 1)
		return -1;
	p = colon + 1;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*end != '\0' || errno != 0 || v < 1 || v > 65535) {
		*why = "the port must be a number from 1 to 65535";
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* A label value with \, " and newline escaped, as the format wants. */
static void
metrics_label(struct evbuffer *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\' && *s != '"' && *s != '\n')
			continue;
		evbuffer_add(b, run, (size_t)(s - run));
		evbuffer_add(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
		    "\\n", 2);
		run = s + 1;
	}
	evbuffer_add(b, run, (size_t)(s - run));
}

/* The HELP and TYPE lines of a metric family. */
static void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* One sample: name{poller="..."} value, the label left out when poller
 * is NULL. */
static void
metrics_sample(struct evbuffer *b, const char *name, const char *poller,
    uint64_t v)
{
	evbuffer_add_printf(b, "%s", name);
	if (poller != NULL) {
		evbuffer_add_printf(b, "{poller=\"");
		metrics_label(b, poller);
		evbuffer_add_printf(b, "\"}");
	}
	evbuffer_add_printf(b, " %llu\n", (unsigned long long)v);
}

/* name+suffix with its poller label, without the value. */
static void
metrics_suffixed(struct evbuffer *b, const char *name, const char *suffix,
    const char *poller)
{
	evbuffer_add_printf(b, "%s%s", name, suffix);
	if (poller != NULL) {
		evbuffer_add_printf(b, "{poller=\"");
		metrics_label(b, poller);
		evbuffer_add_printf(b, "\"}");
	}
}

/* The series of one histogram: cumulative buckets, +Inf, sum and count. */
static void
metrics_hist_samples(struct evbuffer *b, const char *name,
    const char *poller, const struct metrics_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= METRICS_NBUCKETS; i++) {
		if (i < METRICS_NBUCKETS)
			cum += h->buckets[i];
		else
			cum = h->count;
		evbuffer_add_printf(b, "%s_bucket{", name);
		if (poller != NULL) {
			evbuffer_add_printf(b, "poller=\"");
			metrics_label(b, poller);
			evbuffer_add_printf(b, "\",");
		}
		evbuffer_add_printf(b, "le=\"%s\"} %llu\n",
		    i < METRICS_NBUCKETS ? metrics_bound_text[i] : "+Inf",
		    (unsigned long long)cum);
	}
	metrics_suffixed(b, name, "_sum", poller);
	evbuffer_add_printf(b, " %.9g\n", h->sum);
	metrics_suffixed(b, name, "_count", poller);
	evbuffer_add_printf(b, " %llu\n", (unsigned long long)h->count);
}

/* Tasks by poller and state, in one pass over the table. */
static void
metrics_tasks(const struct core *core, struct evbuffer *b)
{
	struct poller *p, **ps = NULL;
	uint64_t (*counts)[PX_STATE_COUNT] = NULL;
	struct task *t;
	size_t n = 0, i, last = 0;
	int st;

	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p))
		n++;
	if (n == 0)
		return;
	ps = xcalloc(n, sizeof *ps);
	counts = xcalloc(n, sizeof *counts);
	for (i = 0, p = poller_first(core->pollers); p != NULL; p = poller_next(p))
		ps[i++] = p;
	for (t = tasktab_first(core->tt); t != NULL;
	    t = tasktab_next(core->tt, t)) {
		if (t->state >= PX_STATE_COUNT)
			continue;
		if (ps[last] != t->poller)
			for (last = 0; last < n && ps[last] != t->poller; last++)
				continue;
		if (last == n) {
			last = 0;
			continue;
		}
		counts[last][t->state]++;
	}
	for (i = 0; i < n; i++)
		for (st = 0; st < PX_STATE_COUNT; st++) {
			evbuffer_add_printf(b, "pollex_tasks{poller=\"");
			metrics_label(b, poller_name(ps[i]));
			evbuffer_add_printf(b, "\",state=\"%s\"} %llu\n",
			    px_state_name((enum px_state)st),
			    (unsigned long long)counts[i][st]);
		}
	free(counts);
	free(ps);
}

/* A member of a JSON object as a counter (absent: 0). */
static uint64_t
metrics_json_u64(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

void
metrics_render(const struct core *core, struct evbuffer *b)
{
	struct poller *p;
	struct poller_counters pc;
	json_object *srv = NULL, *http;
	const struct conf_poller *cp;
	const char *const https[2][3] = {
		{ "pollex_http_requests_total", "requests",
		  "HTTP requests an HTTP poller sent (each retry counts)." },
		{ "pollex_http_retries_total", "retries",
		  "HTTP requests an HTTP poller sent again." },
	};
	size_t k;

	metrics_family(b, "pollex_build_info", "gauge",
	    "The pollexd version; always 1.");
	evbuffer_add_printf(b, "pollex_build_info{version=\"");
	metrics_label(b, PACKAGE_VERSION);
	evbuffer_add_printf(b, "\"} 1\n");
	metrics_family(b, "pollex_up", "gauge", "1 while pollexd serves.");
	evbuffer_add_printf(b, "pollex_up 1\n");
	metrics_family(b, "pollex_start_time_seconds", "gauge",
	    "When pollexd started, in seconds since the epoch.");
	evbuffer_add_printf(b, "pollex_start_time_seconds %.3f\n",
	    core->started);

	metrics_family(b, "pollex_tasks", "gauge",
	    "Tasks in the table by poller and state.");
	metrics_tasks(core, b);
	metrics_family(b, "pollex_submits_total", "counter",
	    "Tasks created by Submit.");
	metrics_sample(b, "pollex_submits_total", NULL, core->counters.submitted);
	metrics_family(b, "pollex_completions_total", "counter",
	    "Tasks that reached a terminal state.");
	metrics_sample(b, "pollex_completions_total", NULL,
	    core->counters.completed);

	metrics_family(b, "pollex_polls_total", "counter",
	    "Poll operations that ended, by poller.");
	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
		poller_counters(p, &pc);
		metrics_sample(b, "pollex_polls_total", poller_name(p),
		    pc.polls);
	}
	metrics_family(b, "pollex_poll_failures_total", "counter",
	    "Poll operations that failed, by poller.");
	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
		poller_counters(p, &pc);
		metrics_sample(b, "pollex_poll_failures_total",
		    poller_name(p), pc.failed_polls);
	}
	metrics_family(b, "pollex_poll_duration_seconds", "histogram",
	    "Time from the start of a poll operation to its outcome.");
	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
		poller_counters(p, &pc);
		metrics_hist_samples(b, "pollex_poll_duration_seconds",
		    poller_name(p), pc.duration);
	}

	metrics_family(b, "pollex_rate_limited_seconds_total", "counter",
	    "Time operations waited for a token of the poller's rate limit.");
	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
		poller_counters(p, &pc);
		evbuffer_add_printf(b, "pollex_rate_limited_seconds_total"
		    "{poller=\"");
		metrics_label(b, poller_name(p));
		evbuffer_add_printf(b, "\"} %.3f\n",
		    (double)pc.rate_waited_ms / 1000);
	}
	metrics_family(b, "pollex_rate_waiting", "gauge",
	    "Operations waiting for a token of the poller's rate limit.");
	for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
		poller_counters(p, &pc);
		metrics_sample(b, "pollex_rate_waiting", poller_name(p),
		    pc.waiting);
	}

	for (k = 0; k < 2; k++) {
		metrics_family(b, https[k][0], "counter", https[k][2]);
		for (p = poller_first(core->pollers); p != NULL; p = poller_next(p)) {
			cp = poller_conf(p);
			if (cp == NULL || cp->kind->stats == NULL)
				continue;
			http = cp->kind->stats(cp->kconf);
			metrics_sample(b, https[k][0], poller_name(p),
			    metrics_json_u64(http, https[k][1]));
			json_object_put(http);
		}
	}

	if (core->store != NULL) {
		metrics_family(b, "pollex_store_commits_total", "counter",
		    "Transactions committed to the store.");
		metrics_sample(b, "pollex_store_commits_total", NULL,
		    store_commit_hist(core->store)->count);
		metrics_family(b, "pollex_store_commit_duration_seconds",
		    "histogram", "Time a store commit took, fsync included.");
		metrics_hist_samples(b, "pollex_store_commit_duration_seconds",
		    NULL, store_commit_hist(core->store));
	}

	if (core->server != NULL) {
		srv = json_object_new_object();
		server_stats(core->server, srv);
	}
	metrics_family(b, "pollex_connections", "gauge",
	    "Client connections open on the socket.");
	metrics_sample(b, "pollex_connections", NULL, core->server != NULL ?
	    (uint64_t)server_connections(core->server) : 0);
	metrics_family(b, "pollex_clients_dropped_total", "counter",
	    "Clients disconnected for breaking a limit.");
	metrics_sample(b, "pollex_clients_dropped_total", NULL,
	    metrics_json_u64(srv, "clients_dropped"));
	metrics_family(b, "pollex_calls_total", "counter",
	    "Calls received on the socket.");
	metrics_sample(b, "pollex_calls_total", NULL, core->counters.calls);
	json_object_put(srv);
}

/* GET /metrics. */
static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	const struct core *core = arg;
	struct evbuffer *b;

	b = evbuffer_new();
	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(core, b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* Every other path. */
static void
metrics_notfound_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

/* Accept again after a pause. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(m->lev);
}

/*
 * accept() failed other than transiently (out of descriptors, mostly):
 * without this libevent would warn and try again at once, spinning the
 * loop.  Accepting pauses for a second instead; the first pause is logged.
 * (arg is evhttp's.)
 */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct metrics *m = metrics_active;
	struct timeval tv = { METRICS_ACCEPT_PAUSE, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (m == NULL)
		return;
	if (m->pauses++ == 0)
		log_warnx("metrics_listen: accept: %s; accepting pauses for "
		    "%ds (logged once)", evutil_socket_error_to_string(err),
		    METRICS_ACCEPT_PAUSE);
	evconnlistener_disable(lev);
	evtimer_add(m->ev_resume, &tv);
}

int
metrics_start(struct core *core, const char *addr, struct metrics **out,
    char **cause)
{
	struct metrics *m;
	struct evhttp_bound_socket *bound;
	const char *why;
	char host[64];
	uint16_t port;

	if (metrics_parse_listen(addr, host, sizeof host, &port, &why) == -1) {
		xasprintf(cause, "metrics_listen: \"%s\": %s", addr, why);
		return -1;
	}
	m = xcalloc(1, sizeof *m);
	if ((m->http = evhttp_new(core->base)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(m->http, "/metrics", metrics_cb, core);
	evhttp_set_gencb(m->http, metrics_notfound_cb, NULL);
	errno = 0;
	if ((bound = evhttp_bind_socket_with_handle(m->http, host,
	    port)) == NULL) {
		xasprintf(cause, "metrics_listen: cannot listen on %s: %s",
		    addr, errno != 0 ? strerror(errno) : "failed");
		evhttp_free(m->http);
		free(m);
		return -1;
	}
	m->lev = evhttp_bound_socket_get_listener(bound);
	m->ev_resume = evtimer_new(core->base, metrics_resume_cb, m);
	evconnlistener_set_error_cb(m->lev, metrics_accept_error_cb);
	*out = m;
	metrics_active = m;
	log_info("metrics on http://%s/metrics", addr);
	return 0;
}

void
metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	metrics_active = NULL;
	event_free(m->ev_resume);
	evhttp_free(m->http);
	free(m);
}
