/* SPDX-License-Identifier: ISC */
/* http.c: the HTTP transport: libcurl's multi interface on libevent.
 *
 * One multi handle per process (the daemon has one loop) holds the
 * connection cache; every attempt is an easy handle added to it.  libcurl
 * tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to
 * wake it (CURLMOPT_TIMERFUNCTION); events call curl_multi_socket_action()
 * and then drain curl_multi_info_read().  Redirects and retries are ours,
 * so the Authorization header, the redirect count and the waits (libevent
 * timers) stay under our control.  docs/http-transport.md has the policy.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "conf.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define HTTP_DEFAULT_UA "pollex/" PACKAGE_VERSION

struct http_sock {
	struct http *h;
	curl_socket_t fd;
	struct event *ev;
	struct http_sock *next;	/* on the free list */
};

TAILQ_HEAD(http_reqs, http_req);

TAILQ_HEAD(http_clients, http_client);

#define HTTP_POOL 128	/* idle easy handles kept for reuse */

struct http {
	struct event_base *base;
	struct http_clients clients;
	CURLM *multi;
	struct event *timer;
	uint64_t rng;
	int running;
	CURL *pool[HTTP_POOL];	/* reset easy handles: no setup per request */
	size_t npool;
	struct http_sock *sfree;	/* sockets' events, for reuse */
};

struct http_client {
	struct http *h;		/* NULL after http_shutdown() */
	TAILQ_ENTRY(http_client) entry;
	char *name;
	struct http_client_conf c;
	char *base_host;	/* lower case */
	long base_port;
	char *origin;		/* "scheme://host:port" of the base URL */
	char *token;
	struct timespec token_mtime;
	struct http_reqs reqs;	/* every live request */
	struct http_reqs queue;	/* waiting for a slot, FIFO */
	struct http_client_stats st;
	uint64_t trace_seq;	/* numbers requests in the trace */
};

enum http_req_state {
	REQ_QUEUED,
	REQ_RUNNING,
	REQ_WAITING,		/* retry timer, or a deferred callback */
};

struct http_req {
	struct http_client *cl;
	TAILQ_ENTRY(http_req) entry;
	TAILQ_ENTRY(http_req) qentry;
	enum http_req_state state;
	int done;		/* the outcome is set; the timer delivers it */

	http_cb cb;
	void *arg;

	char *method0, *url0, *body0;	/* as submitted */
	char *content_type;
	char **headers;
	int untrusted;
	int retry;

	char *method, *url;	/* this hop */
	int with_body;
	int send_auth;
	uint32_t redirects;

	CURL *easy;
	struct curl_slist *slist;
	char errbuf[CURL_ERROR_SIZE];
	int too_large;
	char *buf;
	size_t len, cap;
	char *hdrs;		/* "name\0value\0" for each header */
	size_t hlen, hcap;

	struct event *timer;
	struct http_response r;
	char *error_text;

	uint64_t trace_id;	/* "#N" in trace lines */
	int trace_level;	/* this attempt is traced at that level */
	uint64_t trace_start;	/* mono_us() when the attempt started */
};

static struct http *http_global;

static int	http_sock_cb(CURL *, curl_socket_t, int, void *, void *);
static int	http_timer_cb(CURLM *, long, void *);
static void	http_event(evutil_socket_t, short, void *);
static void	http_timeout(evutil_socket_t, short, void *);
static void	http_check_info(struct http *);
static void	http_req_start(struct http_req *);
static void	http_req_timer(evutil_socket_t, short, void *);
static void	http_req_free(struct http_req *);
static void	http_req_destroy(struct http_req *);
static void	http_client_pump(struct http_client *);

/* Random 64 bits for the backoff jitter (xorshift; not for secrets). */
static uint64_t
http_random(struct http *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

struct http *
http_get(struct event_base *base)
{
	struct http *h;
	const curl_version_info_data *vi;

	if (http_global != NULL) {
		if (http_global->base != base)
			fatalx("http: one event loop only");
		return http_global;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("http: curl_global_init failed");
	/*
	 * Name resolution must not block the loop: Debian's libcurl is built
	 * with the threaded resolver, which reports CURL_VERSION_ASYNCHDNS.
	 */
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("http: libcurl %s resolves names synchronously; "
		    "lookups will block the event loop", vi->version);

	h = xcalloc(1, sizeof *h);
	h->base = base;
	TAILQ_INIT(&h->clients);
	if (getrandom(&h->rng, sizeof h->rng, GRND_NONBLOCK) !=
	    sizeof h->rng || h->rng == 0)
		h->rng = (uint64_t)mono_us() | 1;
	if ((h->multi = curl_multi_init()) == NULL)
		fatalx("http: curl_multi_init failed");
	h->timer = evtimer_new(base, http_timeout, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	http_global = h;
	return h;
}

/*
 * libcurl tells which socket to watch for what; one event per socket.  A
 * kept-alive connection is removed when its transfer ends and added again
 * by the next one, so the events are reassigned, never freed, and kept on
 * a free list while no socket needs them.
 */
static int
http_sock_cb(CURL *e, curl_socket_t fd, int what, void *hp, void *sp)
{
	struct http *h = hp;
	struct http_sock *s = sp;
	short kind;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_del(s->ev);
			s->next = h->sfree;
			h->sfree = s;
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		if ((s = h->sfree) != NULL)
			h->sfree = s->next;
		else {
			s = xcalloc(1, sizeof *s);
			s->h = h;
			s->ev = event_new(h->base, -1, 0, http_event, s);
		}
		s->fd = fd;
		curl_multi_assign(h->multi, fd, s);
	} else
		event_del(s->ev);
	event_assign(s->ev, h->base, fd, kind, http_event, s);
	event_add(s->ev, NULL);
	return 0;
}

/*
 * Keep as many idle connections as the clients may have transfers at
 * once.  libcurl's default (four per easy handle added at the time) shrinks
 * as a burst of transfers ends and closes connections the next tick's
 * requests would have reused.
 */
static void
http_maxconnects(struct http *h)
{
	struct http_client *cl;
	long n = 0;

	TAILQ_FOREACH(cl, &h->clients, entry)
		n += (long)cl->c.max_requests;
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, n < 8 ? 8L : n);
}

/* One timer, replaced on each call; never calls back into libcurl. */
static int
http_timer_cb(CURLM *m, long ms, void *hp)
{
	struct http *h = hp;
	struct timeval tv;

	(void)m;
	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

static void
http_event(evutil_socket_t fd, short what, void *sp)
{
	struct http_sock *s = sp;
	struct http *h = s->h;
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &h->running);
	http_check_info(h);
}

static void
http_timeout(evutil_socket_t fd, short what, void *hp)
{
	struct http *h = hp;

	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	    &h->running);
	http_check_info(h);
}

/* Host names compare without case; the port only when one is given. */
static int
http_host_match(const char *entry, const char *host, long port)
{
	const char *colon, *end;
	size_t hlen;
	char *ep;
	long p;

	if (*entry == '[') {
		if ((end = strchr(entry, ']')) == NULL)
			return 0;
		entry++;
		hlen = (size_t)(end - entry);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(entry, ':');
		hlen = colon != NULL ? (size_t)(colon - entry) : strlen(entry);
	}
	if (strlen(host) != hlen || strncasecmp(entry, host, hlen) != 0)
		return 0;
	if (colon == NULL)
		return 1;
	p = strtol(colon + 1, &ep, 10);
	return *ep == '\0' && p == port;
}

/*
 * Resolve url (absolute, or relative to base) into *out; the scheme must be
 * http or https.  *host gets the lower-cased host name, *port the port.
 */
static int
http_url_resolve(const char *base, const char *url, char **out, char **host,
    long *port)
{
	CURLU *u;
	char *scheme = NULL, *h = NULL, *p = NULL, *s = NULL;
	int rv = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (base != NULL &&
	    curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0))
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
		goto out;
	if (host != NULL) {
		char *cp;

		/* IPv6 literals come back in brackets. */
		if (h[0] == '[' && h[strlen(h) - 1] == ']')
			*host = xstrndup(h + 1, strlen(h) - 2);
		else
			*host = xstrdup(h);
		for (cp = *host; *cp != '\0'; cp++)
			*cp = (char)tolower((unsigned char)*cp);
	}
	if (port != NULL)
		*port = strtol(p, NULL, 10);
	*out = xstrdup(s);
	rv = 0;
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_free(s);
	curl_url_cleanup(u);
	return rv;
}

/*
 * The common case without libcurl's URL parser: an absolute path (what
 * request templates make) on the base URL's origin.  Only paths libcurl
 * would keep as they are qualify: the characters RFC 3986 allows in a
 * path and query, no dot segments, no fragment.  Returns the URL, or NULL
 * when http_url_resolve() must decide.
 */
static char *
http_url_fast(const struct http_client *cl, const char *path)
{
	const char *p;
	char *url;

	if (cl->origin == NULL || path[0] != '/' || path[1] == '/')
		return NULL;
	for (p = path; *p != '\0'; p++) {
		if (*p == '%' && !(isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])))
			return NULL;
		if (isalnum((unsigned char)*p) ||
		    strchr("-_~%!$&'()*+,;=:@/?", *p) != NULL)
			continue;
		if (*p == '.' && p[-1] != '/')
			continue;
		return NULL;
	}
	xasprintf(&url, "%s%s", cl->origin, path);
	return url;
}

static int
http_allowed(const struct http_client *cl, const char *host, long port)
{
	char **a;

	if (cl->c.allowed_hosts == NULL)
		return cl->base_host != NULL &&
		    strcasecmp(cl->base_host, host) == 0;
	for (a = cl->c.allowed_hosts; *a != NULL; a++)
		if (http_host_match(*a, host, port))
			return 1;
	return 0;
}

/* Read the token file when its mtime changed (one stat per request). */
static void
http_token_check(struct http_client *cl)
{
	struct stat sb;
	FILE *f;
	char *line = NULL;
	size_t sz = 0;
	ssize_t n;

	if (cl->c.token_file == NULL)
		return;
	if (stat(cl->c.token_file, &sb) == -1) {
		log_warn("http %s: token file %s", cl->name, cl->c.token_file);
		return;
	}
	if (cl->token != NULL &&
	    sb.st_mtim.tv_sec == cl->token_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == cl->token_mtime.tv_nsec)
		return;
	if ((f = fopen(cl->c.token_file, "r")) == NULL) {
		log_warn("http %s: token file %s", cl->name, cl->c.token_file);
		return;
	}
	n = getline(&line, &sz, f);
	fclose(f);
	if (n <= 0) {
		free(line);
		log_warnx("http %s: token file %s is empty", cl->name,
		    cl->c.token_file);
		return;
	}
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	if (cl->token != NULL) {
		explicit_bzero(cl->token, strlen(cl->token));
		free(cl->token);
	}
	cl->token = line;
	cl->token_mtime = sb.st_mtim;
	log_debug("http %s: token read from %s", cl->name, cl->c.token_file);
}

static char **
http_strv_dup(char **v)
{
	char **n;
	size_t i, len = 0;

	if (v == NULL)
		return NULL;
	while (v[len] != NULL)
		len++;
	n = xcalloc(len + 1, sizeof *n);
	for (i = 0; i < len; i++)
		n[i] = xstrdup(v[i]);
	return n;
}

static char *
http_strdup0(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct http_client *
http_client_new(struct http *h, const struct http_client_conf *hc,
    const char *name, char **cause)
{
	struct http_client *cl;
	char *url;

	cl = xcalloc(1, sizeof *cl);
	cl->h = h;
	cl->name = xstrdup(name != NULL ? name : "http");
	TAILQ_INIT(&cl->reqs);
	TAILQ_INIT(&cl->queue);
	TAILQ_INSERT_TAIL(&h->clients, cl, entry);
	cl->c = *hc;
	cl->c.base_url = http_strdup0(hc->base_url);
	cl->c.headers = http_strv_dup(hc->headers);
	cl->c.user_agent = xstrdup(hc->user_agent != NULL ? hc->user_agent :
	    HTTP_DEFAULT_UA);
	cl->c.ca_file = http_strdup0(hc->ca_file);
	cl->c.ca_dir = http_strdup0(hc->ca_dir);
	cl->c.client_cert = http_strdup0(hc->client_cert);
	cl->c.client_key = http_strdup0(hc->client_key);
	cl->c.proxy = http_strdup0(hc->proxy);
	cl->c.token_file = http_strdup0(hc->token_file);
	cl->c.allowed_hosts = http_strv_dup(hc->allowed_hosts);
	cl->c.trace_redact = http_strv_dup(hc->trace_redact);
	if (cl->c.max_requests == 0)
		cl->c.max_requests = 1;
	http_maxconnects(h);
	if (cl->c.retry.attempts == 0)
		cl->c.retry.attempts = 1;
	if (cl->c.base_url != NULL) {
		if (http_url_resolve(NULL, cl->c.base_url, &url, &cl->base_host,
		    &cl->base_port) == -1) {
			xasprintf(cause, "url: must be an absolute http or "
			    "https URL");
			http_client_free(cl);
			return NULL;
		}
		free(url);
		/* What an absolute path resolves against, for
		 * http_url_fast(). */
		if (http_url_resolve(cl->c.base_url, "/", &url, NULL,
		    NULL) == 0) {
			if (strlen(url) > 1 && url[strlen(url) - 1] == '/')
				url[strlen(url) - 1] = '\0';
			cl->origin = url;
		}
	}
	if (cl->c.token_file != NULL) {
		http_token_check(cl);
		if (cl->token == NULL) {
			xasprintf(cause, "token_file: cannot read %s",
			    cl->c.token_file);
			http_client_free(cl);
			return NULL;
		}
	}
	return cl;
}

void
http_client_free(struct http_client *cl)
{
	struct http_req *req;

	if (cl == NULL)
		return;
	while ((req = TAILQ_FIRST(&cl->reqs)) != NULL)
		http_req_free(req);
	if (cl->h != NULL) {
		TAILQ_REMOVE(&cl->h->clients, cl, entry);
		http_maxconnects(cl->h);
	}
	http_client_conf_clear(&cl->c);
	free(cl->base_host);
	free(cl->origin);
	if (cl->token != NULL) {
		explicit_bzero(cl->token, strlen(cl->token));
		free(cl->token);
	}
	free(cl->name);
	free(cl);
}

void
http_client_stats(const struct http_client *cl, struct http_client_stats *st)
{
	*st = cl->st;
}

static size_t
http_write_cb(char *p, size_t size, size_t n, void *rp)
{
	struct http_req *req = rp;
	size_t len = size * n;

	if (req->len + len > req->cl->c.max_response) {
		req->too_large = 1;
		return 0;	/* aborts the transfer */
	}
	if (req->len + len + 1 > req->cap) {
		while (req->len + len + 1 > req->cap)
			req->cap = req->cap != 0 ? req->cap * 2 : 4096;
		req->buf = xreallocarray(req->buf, 1, req->cap);
	}
	memcpy(req->buf + req->len, p, len);
	req->len += len;
	req->buf[req->len] = '\0';
	return len;
}

/* Forget the headers (a new response starts); the buffer is kept. */
static void
http_hdrs_clear(struct http_req *req)
{
	req->hlen = 0;
}

static void
http_hdrs_add(struct http_req *req, const char *s, size_t len)
{
	const char *nul = memchr(s, '\0', len);

	if (nul != NULL)	/* the entries are NUL-terminated */
		len = (size_t)(nul - s);
	if (req->hlen + len + 1 > req->hcap) {
		req->hcap = (req->hlen + len + 1) * 2;
		req->hdrs = xreallocarray(req->hdrs, req->hcap, 1);
	}
	memcpy(req->hdrs + req->hlen, s, len);
	req->hdrs[req->hlen + len] = '\0';
	req->hlen += len + 1;
}

/* Keep the headers of the last response only (not those of a 100). */
static size_t
http_header_cb(char *p, size_t size, size_t n, void *rp)
{
	struct http_req *req = rp;
	size_t len = size * n, nl, flen;
	const char *colon, *v;
	char *fixed;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		http_hdrs_clear(req);
		return len;
	}
	if ((colon = memchr(p, ':', len)) == NULL)
		return len;
	nl = len;
	while (nl > 0 && (p[nl - 1] == '\r' || p[nl - 1] == '\n'))
		nl--;
	v = colon + 1;
	while (v < p + nl && (*v == ' ' || *v == '\t'))
		v++;
	/* Packed in one buffer per request: no allocation per header.
	 * Values end up in refs and messages: UTF-8, repaired. */
	http_hdrs_add(req, p, (size_t)(colon - p));
	if (utf8_valid(v, (size_t)(p + nl - v)))
		http_hdrs_add(req, v, (size_t)(p + nl - v));
	else {
		fixed = utf8_repair(v, (size_t)(p + nl - v), &flen);
		http_hdrs_add(req, fixed, flen);
		free(fixed);
	}
	return len;
}

/* The last header of that name (a repeated header's last value). */
static const char *
http_req_header(const struct http_req *req, const char *name)
{
	const char *p = req->hdrs, *end = req->hdrs + req->hlen, *v;
	const char *found = NULL;

	while (p != NULL && p < end) {
		v = p + strlen(p) + 1;
		if (strcasecmp(p, name) == 0)
			found = v;
		p = v + strlen(v) + 1;
	}
	return found;
}

const char *
http_response_header(const struct http_response *r, const char *name)
{
	return http_req_header(r->priv, name);
}

static int
http_is_header(const char *h, const char *name)
{
	size_t len = strlen(name);

	return strncasecmp(h, name, len) == 0 && h[len] == ':';
}

/* ---- the network trace (docs/http-transport.md, "Trace") ---- */

#define TRACE_LINE	1400	/* bytes of escaped text per log line: with
				 * the prefix, under log.c's 2048 */
#define TRACE_URL	1024	/* bytes of a URL in a trace line */

/* Headers whose values are never traced, whatever trace_redact says. */
static const char *const http_secret_headers[] = {
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
};

/* The level this client's requests are traced at, or 0. */
static int
http_trace_level(const struct http_client *cl)
{
	if (cl->c.trace == 1)
		return LOG_LVL_INFO;
	if (cl->c.trace == -1 && log_get_verbose() >= 1)
		return LOG_LVL_DEBUG;
	return 0;
}

static int
http_header_secret(const struct http_client *cl, const char *name,
    size_t len)
{
	char **r;
	size_t i;

	for (i = 0; i < nitems(http_secret_headers); i++)
		if (strlen(http_secret_headers[i]) == len &&
		    strncasecmp(http_secret_headers[i], name, len) == 0)
			return 1;
	for (r = cl->c.trace_redact; r != NULL && *r != NULL; r++)
		if (strlen(*r) == len && strncasecmp(*r, name, len) == 0)
			return 1;
	return 0;
}

/*
 * A copy of s[0, len) with each occurrence of the token overwritten by
 * '*', so that it cannot leave in a trace line even when the service
 * echoes it into a URL, a header or a body.  Done before the text is cut,
 * so that no cut leaves the start of a token.
 */
static char *
http_trace_scrub(const struct http_client *cl, const char *s, size_t len)
{
	char *copy = xmalloc(len + 1), *at, *p;
	size_t tl;

	memcpy(copy, s, len);
	copy[len] = '\0';
	if (cl->token == NULL || (tl = strlen(cl->token)) == 0)
		return copy;
	p = copy;
	while ((size_t)(p - copy) + tl <= len &&
	    (at = memmem(p, len - (size_t)(p - copy), cl->token, tl)) !=
	    NULL) {
		memset(at, '*', tl);
		p = at + tl;
	}
	return copy;
}

struct http_tlines {
	char **v;		/* lines of at most TRACE_LINE bytes */
	size_t n;
	char *cur;
	size_t len;
};

static void
http_tlines_flush(struct http_tlines *t)
{
	if (t->cur == NULL)
		return;
	t->v = xreallocarray(t->v, t->n + 1, sizeof *t->v);
	t->cur[t->len] = '\0';
	t->v[t->n++] = t->cur;
	t->cur = NULL;
	t->len = 0;
}

static void
http_tlines_add(struct http_tlines *t, const char *s, size_t n)
{
	if (t->cur != NULL && t->len + n > TRACE_LINE)
		http_tlines_flush(t);
	if (t->cur == NULL)
		t->cur = xmalloc(TRACE_LINE + 1);
	memcpy(t->cur + t->len, s, n);
	t->len += n;
}

static void
http_tlines_free(struct http_tlines *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	free(t->cur);
	memset(t, 0, sizeof *t);
}

/*
 * Text from outside (URLs, headers, bodies) for a log line: the token
 * scrubbed, cut at max bytes between characters, invalid UTF-8 repaired
 * (U+FFFD), and control characters (C0, DEL, C1) escaped as \n, \r, \t
 * or \xNN / \u00NN, so that a line is valid UTF-8 and one line.  Appended
 * to t in pieces of at most TRACE_LINE bytes; *cut is set when the text
 * was longer than max.
 */
static void
http_trace_text(const struct http_client *cl, struct http_tlines *t,
    const char *s, size_t len, size_t max, int *cut)
{
	char *copy, *fixed, esc[8];
	size_t n, flen, i, k;
	unsigned char ch;

	/* Only what is kept, and a token's length past the cut: a token
	 * across the cut is scrubbed whole, no piece of it stays. */
	n = len;
	if (max < len) {
		n = max + (cl->token != NULL ? strlen(cl->token) : 0);
		if (n > len)
			n = len;
	}
	copy = http_trace_scrub(cl, s, n);
	if (cut != NULL)
		*cut = len > max;
	n = len > max ? utf8_trim(copy, max) : n;
	fixed = utf8_repair(copy, n, &flen);
	free(copy);
	for (i = 0; i < flen; i += k) {
		ch = (unsigned char)fixed[i];
		k = 1;
		if (ch == '\n')
			http_tlines_add(t, "\\n", 2);
		else if (ch == '\r')
			http_tlines_add(t, "\\r", 2);
		else if (ch == '\t')
			http_tlines_add(t, "\\t", 2);
		else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", ch);
			http_tlines_add(t, esc, 4);
		} else if (ch < 0x80)
			http_tlines_add(t, fixed + i, 1);
		else {
			/* Valid UTF-8 after the repair: the lead byte says
			 * how long the sequence is. */
			k = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
			if (k > flen - i)
				k = flen - i;
			if (ch == 0xc2 && k == 2 &&
			    (unsigned char)fixed[i + 1] < 0xa0) {
				snprintf(esc, sizeof esc, "\\u00%02x",
				    (unsigned char)fixed[i + 1]);
				http_tlines_add(t, esc, 6);
			} else
				http_tlines_add(t, fixed + i, k);
		}
	}
	free(fixed);
}

/* A short text (URL, error) as one string for a trace line. */
static char *
http_trace_str(const struct http_client *cl, const char *s, size_t max)
{
	struct http_tlines t;
	char *out;
	int cut = 0;

	memset(&t, 0, sizeof t);
	http_trace_text(cl, &t, s, strlen(s), max, &cut);
	http_tlines_flush(&t);
	xasprintf(&out, "%s%s", t.n > 0 ? t.v[0] : "",
	    cut || t.n > 1 ? "..." : "");
	http_tlines_free(&t);
	return out;
}

/* A URL for a trace line, with user information (a password in
 * "https://user:secret@host/") replaced by REDACTED. */
static char *
http_trace_url(const struct http_client *cl, const char *url)
{
	const char *auth, *at, *end;
	char *copy, *out;

	if ((auth = strstr(url, "://")) == NULL)
		return http_trace_str(cl, url, TRACE_URL);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	if ((at = memrchr(auth, '@', (size_t)(end - auth))) == NULL)
		return http_trace_str(cl, url, TRACE_URL);
	xasprintf(&copy, "%.*sREDACTED%s", (int)(auth - url), url, at);
	out = http_trace_str(cl, copy, TRACE_URL);
	free(copy);
	return out;
}

/* Log lines "http NAME #N D what: text", numbered when more than one. */
static void
http_trace_lines(const struct http_req *req, char dir, const char *what,
    struct http_tlines *t, const char *note)
{
	size_t i;

	http_tlines_flush(t);
	for (i = 0; i < t->n; i++) {
		if (t->n == 1)
			log_emit(req->trace_level, "http %s #%llu %c %s: %s%s",
			    req->cl->name, (unsigned long long)req->trace_id,
			    dir, what, t->v[i], note);
		else
			log_emit(req->trace_level, "http %s #%llu %c %s "
			    "[%zu/%zu]: %s%s", req->cl->name,
			    (unsigned long long)req->trace_id, dir, what,
			    i + 1, t->n, t->v[i], i + 1 == t->n ? note : "");
	}
}

/* A body, cut at trace_body bytes. */
static void
http_trace_body(const struct http_req *req, char dir, const char *body,
    size_t len)
{
	struct http_tlines t;
	char note[96];
	int cut = 0;

	if (req->cl->c.trace_body == 0 || len == 0)
		return;
	memset(&t, 0, sizeof t);
	http_trace_text(req->cl, &t, body, len, req->cl->c.trace_body, &cut);
	if (cut)
		snprintf(note, sizeof note, " [cut at %llu of %zu bytes]",
		    (unsigned long long)req->cl->c.trace_body, len);
	else
		note[0] = '\0';
	http_trace_lines(req, dir, "body", &t, note);
	http_tlines_free(&t);
}

/* One header into a trace line, its value redacted when secret. */
static void
http_trace_header(const struct http_client *cl, struct http_tlines *t,
    const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (t->cur != NULL && t->len > 0)
		http_tlines_add(t, "; ", 2);
	http_trace_text(cl, t, name, nlen, 256, NULL);
	http_tlines_add(t, ": ", 2);
	if (http_header_secret(cl, name, nlen))
		http_tlines_add(t, "REDACTED", 8);
	else
		http_trace_text(cl, t, value, vlen, 4096, NULL);
}

/* An attempt starts: method, URL, attempt, request body. */
static void
http_trace_request(struct http_req *req)
{
	char *url = http_trace_url(req->cl, req->url);
	uint32_t attempt = req->redirects > 0 ? req->r.attempts :
	    req->r.attempts + 1;
	char hop[32] = "";

	if (req->redirects > 0)
		snprintf(hop, sizeof hop, ", redirect %u", req->redirects);
	log_emit(req->trace_level, "http %s #%llu > %s %s (attempt %u%s): "
	    "body %zu bytes", req->cl->name,
	    (unsigned long long)req->trace_id, req->method, url, attempt, hop,
	    req->with_body ? strlen(req->body0) : (size_t)0);
	free(url);
	if (req->with_body)
		http_trace_body(req, '>', req->body0, strlen(req->body0));
}

/* libcurl's verbose output: only the request headers as sent. */
static int
http_debug_cb(CURL *e, curl_infotype type, char *data, size_t size,
    void *rp)
{
	struct http_req *req = rp;
	struct http_tlines t;
	const char *p = data, *end = data + size, *nl, *colon, *v;
	size_t len;

	(void)e;
	if (type != CURLINFO_HEADER_OUT)
		return 0;
	memset(&t, 0, sizeof t);
	/* "GET /path HTTP/1.1\r\nName: value\r\n...\r\n\r\n" */
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if ((colon = memchr(p, ':', len)) == NULL || colon == p)
			continue;	/* the request line, the blank line */
		v = colon + 1;
		while (v < p + len && (*v == ' ' || *v == '\t'))
			v++;
		http_trace_header(req->cl, &t, p, (size_t)(colon - p), v,
		    (size_t)(p + len - v));
		if (nl == end)
			break;
	}
	http_trace_lines(req, '>', "headers", &t, "");
	http_tlines_free(&t);
	return 0;
}

/* The response's Content-Encoding, when it had one. */
static const char *
http_req_encoded(const struct http_req *req)
{
	const char *ce = http_req_header(req, "Content-Encoding");

	return ce != NULL && *ce != '\0' && strcasecmp(ce, "identity") != 0 ?
	    ce : NULL;
}

/* An attempt ended: status or error, time, sizes, headers, body. */
static void
http_trace_response(struct http_req *req, CURLcode rc, long status)
{
	const struct http_client *cl = req->cl;
	struct http_tlines t;
	curl_off_t wire = 0;
	long hsize = 0;
	uint64_t us = mono_us() - req->trace_start;
	const char *p, *end, *v, *enc;
	char *url, *err, wbuf[96] = "";

	url = http_trace_url(cl, req->url);
	if (rc != CURLE_OK) {
		if (req->too_large)
			xasprintf(&err, "response body over %llu bytes%s",
			    (unsigned long long)cl->c.max_response,
			    http_req_encoded(req) != NULL ?
			    " once decoded" : "");
		else
			err = http_trace_str(cl, req->errbuf[0] != '\0' ?
			    req->errbuf : curl_easy_strerror(rc), 512);
		log_emit(req->trace_level, "http %s #%llu < %s %s: failed "
		    "after %llu ms: %s; body %zu bytes so far", cl->name,
		    (unsigned long long)req->trace_id, req->method, url,
		    (unsigned long long)(us / 1000), err, req->len);
		free(err);
		free(url);
		return;
	}
	curl_easy_getinfo(req->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire);
	curl_easy_getinfo(req->easy, CURLINFO_HEADER_SIZE, &hsize);
	if ((enc = http_req_encoded(req)) != NULL) {
		err = http_trace_str(cl, enc, 64);
		snprintf(wbuf, sizeof wbuf, " (%lld on the wire, %s)",
		    (long long)wire, err);
		free(err);
	}
	log_emit(req->trace_level, "http %s #%llu < %ld %s %s: %llu ms, body "
	    "%zu bytes%s, headers %ld bytes", cl->name,
	    (unsigned long long)req->trace_id, status, req->method, url,
	    (unsigned long long)(us / 1000), req->len, wbuf, hsize);
	free(url);
	memset(&t, 0, sizeof t);
	p = req->hdrs;
	end = req->hdrs + req->hlen;
	while (p != NULL && p < end) {
		v = p + strlen(p) + 1;
		http_trace_header(cl, &t, p, strlen(p), v, strlen(v));
		p = v + strlen(v) + 1;
	}
	http_trace_lines(req, '<', "headers", &t, "");
	http_tlines_free(&t);
	http_trace_body(req, '<', req->buf, req->len);
}

/* An easy handle: a reset one from the pool, else a new one. */
static CURL *
http_easy_get(struct http *h)
{
	if (h != NULL && h->npool > 0)
		return h->pool[--h->npool];
	return curl_easy_init();
}

/* Done with an easy handle (already out of the multi). */
static void
http_easy_put(struct http *h, CURL *e)
{
	if (h != NULL && h->npool < HTTP_POOL) {
		curl_easy_reset(e);
		h->pool[h->npool++] = e;
	} else
		curl_easy_cleanup(e);
}

/* Drop an attempt's easy handle and its response. */
static void
http_req_reset(struct http_req *req)
{
	if (req->easy != NULL) {
		if (req->cl->h != NULL)
			curl_multi_remove_handle(req->cl->h->multi, req->easy);
		http_easy_put(req->cl->h, req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->slist);
	req->slist = NULL;
	free(req->buf);
	req->buf = NULL;
	req->len = req->cap = 0;
	req->too_large = 0;
	req->errbuf[0] = '\0';
	http_hdrs_clear(req);
}

/* Finish a request: the callback runs from the request's timer. */
static void
http_req_done(struct http_req *req, enum http_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
http_req_done(struct http_req *req, enum http_error err, const char *fmt, ...)
{
	struct timeval tv = { 0, 0 };
	va_list ap;
	char *at;

	req->done = 1;
	req->r.error = err;
	if (err != HTTP_OK) {
		req->cl->st.failures++;
		req->r.status = 0;
		req->r.http_version = 0;
		va_start(ap, fmt);
		if (vasprintf(&req->error_text, fmt, ap) == -1)
			req->error_text = NULL;
		va_end(ap);
		/* Belt and braces: the token never leaves in a message. */
		if (req->error_text != NULL && req->cl->token != NULL &&
		    *req->cl->token != '\0')
			while ((at = strstr(req->error_text,
			    req->cl->token)) != NULL)
				memset(at, '*', strlen(req->cl->token));
		/* Then UTF-8: it may quote what a server sent. */
		if (req->error_text != NULL && !utf8_valid(req->error_text,
		    strlen(req->error_text))) {
			at = utf8_repair(req->error_text,
			    strlen(req->error_text), NULL);
			free(req->error_text);
			req->error_text = at;
		}
		req->r.error_text = req->error_text != NULL ?
		    req->error_text : "out of memory";
	}
	req->r.body = req->buf != NULL ? req->buf : "";
	req->r.body_len = req->len;
	req->r.url = req->url;
	req->state = REQ_WAITING;
	evtimer_add(req->timer, &tv);
}

/* Take a slot for each queued request while there are free ones. */
static void
http_client_pump(struct http_client *cl)
{
	struct http_req *req;

	while (cl->st.in_flight < cl->c.max_requests &&
	    (req = TAILQ_FIRST(&cl->queue)) != NULL) {
		TAILQ_REMOVE(&cl->queue, req, qentry);
		cl->st.queued--;
		http_req_start(req);
	}
}

static void
http_req_enqueue(struct http_req *req)
{
	struct http_client *cl = req->cl;

	req->state = REQ_QUEUED;
	TAILQ_INSERT_TAIL(&cl->queue, req, qentry);
	cl->st.queued++;
	http_client_pump(cl);
}

/* One attempt (or redirect hop): an easy handle in the multi. */
static void
http_req_start(struct http_req *req)
{
	struct http_client *cl = req->cl;
	const struct http_client_conf *c = &cl->c;
	struct curl_slist *sl = NULL;
	char **hp, *line;
	const char *const *rh;
	CURL *e;

	req->state = REQ_RUNNING;
	if ((e = http_easy_get(cl->h)) == NULL) {
		http_req_done(req, HTTP_ERR_OTHER, "curl_easy_init failed");
		return;
	}
	req->easy = e;
	cl->st.in_flight++;
	cl->st.requests++;

	for (hp = c->headers; hp != NULL && *hp != NULL; hp++)
		if (req->send_auth || !http_is_header(*hp, "Authorization"))
			sl = curl_slist_append(sl, *hp);
	for (rh = (const char *const *)req->headers; rh != NULL && *rh != NULL;
	    rh++)
		if (req->send_auth || !http_is_header(*rh, "Authorization"))
			sl = curl_slist_append(sl, *rh);
	if (req->with_body) {
		xasprintf(&line, "Content-Type: %s", req->content_type != NULL ?
		    req->content_type : "application/json");
		sl = curl_slist_append(sl, line);
		free(line);
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	sl = curl_slist_append(sl, "Expect:");
	if (req->send_auth && cl->token != NULL) {
		xasprintf(&line, "Authorization: Bearer %s", cl->token);
		sl = curl_slist_append(sl, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	req->slist = sl;

	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	if (c->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_dir != NULL)
		curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_dir);
	if (c->client_cert != NULL)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert);
	if (c->client_key != NULL)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key);
	if (c->proxy != NULL)
		curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)c->max_response);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	/* Offer gzip and deflate; libcurl decodes, so http_write_cb() and
	 * max_response see the decoded bytes (a small compressed bomb is
	 * cut off at max_response like any large body). */
	if (c->compression)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
	if ((req->trace_level = http_trace_level(cl)) != 0) {
		/* The request headers as sent, for the trace (redacted). */
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, http_debug_cb);
		curl_easy_setopt(e, CURLOPT_DEBUGDATA, req);
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
		req->trace_start = mono_us();
		http_trace_request(req);
	}

	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (req->with_body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body0);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(req->body0));
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);

	if (curl_multi_add_handle(cl->h->multi, e) != CURLM_OK) {
		cl->st.in_flight--;
		http_req_done(req, HTTP_ERR_OTHER, "curl_multi_add_handle "
		    "failed");
	}
}

/* Set up attempt one (and each retry): the URL and method as submitted. */
static int
http_req_begin(struct http_req *req)
{
	struct http_client *cl = req->cl;
	char *host = NULL;
	long port;

	free(req->method);
	free(req->url);
	req->url = NULL;
	req->method = xstrdup(req->method0);
	req->with_body = req->body0 != NULL;
	req->redirects = 0;
	if (!req->untrusted &&
	    (req->url = http_url_fast(cl, req->url0)) != NULL) {
		req->send_auth = 1;	/* the base URL's own host */
		return 0;
	}
	if (http_url_resolve(cl->c.base_url, req->url0, &req->url, &host,
	    &port) == -1) {
		req->url = xstrdup(req->url0);
		http_req_done(req, HTTP_ERR_URL, "%s: not an http or https URL",
		    req->url0);
		return -1;
	}
	if (req->untrusted && !http_allowed(cl, host, port)) {
		http_req_done(req, HTTP_ERR_HOST, "%s: host %s is not allowed",
		    req->url, host);
		free(host);
		return -1;
	}
	req->send_auth = cl->base_host == NULL ||
	    strcasecmp(host, cl->base_host) == 0 || http_allowed(cl, host, port);
	free(host);
	return 0;
}

struct http_req *
http_submit(struct http_client *cl, const struct http_request *rq,
    http_cb cb, void *arg)
{
	struct http_req *req;
	size_t i, n = 0;

	if (cl->h == NULL)
		return NULL;
	req = xcalloc(1, sizeof *req);
	req->cl = cl;
	req->cb = cb;
	req->arg = arg;
	req->method0 = xstrdup(rq->method != NULL ? rq->method : "GET");
	req->url0 = xstrdup(rq->url != NULL ? rq->url : "");
	req->body0 = http_strdup0(rq->body);
	req->content_type = http_strdup0(rq->content_type);
	if (rq->headers != NULL) {
		while (rq->headers[n] != NULL)
			n++;
		req->headers = xcalloc(n + 1, sizeof *req->headers);
		for (i = 0; i < n; i++)
			req->headers[i] = xstrdup(rq->headers[i]);
	}
	req->untrusted = rq->untrusted_url;
	req->retry = rq->retry;
	req->trace_id = ++cl->trace_seq;
	req->r.retry_after = NAN;
	req->r.priv = req;
	req->timer = evtimer_new(cl->h->base, http_req_timer, req);
	TAILQ_INSERT_TAIL(&cl->reqs, req, entry);

	http_token_check(cl);
	if (http_req_begin(req) == 0)
		http_req_enqueue(req);
	return req;
}

/* Free a request that is off its client's lists and out of the multi. */
static void
http_req_destroy(struct http_req *req)
{
	curl_slist_free_all(req->slist);
	free(req->buf);
	free(req->hdrs);
	event_free(req->timer);
	free(req->method0);
	free(req->url0);
	free(req->body0);
	free(req->content_type);
	strv_free(req->headers);
	free(req->method);
	free(req->url);
	free(req->error_text);
	free(req);
}

/* Abort a request: out of the queue or the multi, no callback. */
static void
http_req_free(struct http_req *req)
{
	struct http_client *cl = req->cl;

	if (req->state == REQ_QUEUED) {
		TAILQ_REMOVE(&cl->queue, req, qentry);
		cl->st.queued--;
	} else if (req->state == REQ_RUNNING && req->easy != NULL)
		cl->st.in_flight--;
	TAILQ_REMOVE(&cl->reqs, req, entry);
	http_req_reset(req);
	http_req_destroy(req);
}

void
http_cancel(struct http_req *req)
{
	struct http_client *cl;

	if (req == NULL)
		return;
	cl = req->cl;
	http_req_free(req);
	http_client_pump(cl);
}

/* The request's timer: a retry wait ended, or the outcome is delivered. */
static void
http_req_timer(evutil_socket_t fd, short what, void *rp)
{
	struct http_req *req = rp;
	struct http_client *cl = req->cl;

	(void)fd;
	(void)what;
	if (!req->done) {
		http_req_reset(req);
		cl->st.retries++;
		if (http_req_begin(req) == 0)
			http_req_enqueue(req);
		return;
	}
	/* Off the client first: the callback may free the client. */
	TAILQ_REMOVE(&cl->reqs, req, entry);
	if (req->easy != NULL) {
		curl_multi_remove_handle(cl->h->multi, req->easy);
		http_easy_put(cl->h, req->easy);
		req->easy = NULL;
	}
	req->cb(req->arg, &req->r);
	http_req_destroy(req);
}

static int
http_status_retried(const struct http_retry *rp, long status)
{
	size_t i;

	for (i = 0; i < rp->nstatuses; i++)
		if (rp->statuses[i] == status)
			return 1;
	return 0;
}

static double
http_ms_header(const char *v)
{
	char *ep;
	double d;

	if (v == NULL || !isdigit((unsigned char)*v))
		return NAN;
	errno = 0;
	d = strtod(v, &ep);
	while (*ep == ' ' || *ep == '\t')
		ep++;
	if (errno != 0 || *ep != '\0' || !isfinite(d))
		return NAN;
	return d / 1000.0;
}

double
http_parse_retry_after(const char *v, double now)
{
	char *ep;
	unsigned long long s;
	time_t t;

	if (v == NULL)
		return NAN;
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		errno = 0;
		s = strtoull(v, &ep, 10);
		while (*ep == ' ' || *ep == '\t')
			ep++;
		if (errno != 0 || *ep != '\0')
			return NAN;
		return (double)s;
	}
	if ((t = curl_getdate(v, NULL)) == -1)
		return NAN;
	return (double)t > now ? (double)t - now : 0.0;
}

/* The server's wish in seconds, or NaN. */
static double
http_retry_after(const struct http_req *req)
{
	double d;

	d = http_ms_header(http_req_header(req, "retry-after-ms"));
	if (isnan(d))
		d = http_ms_header(http_req_header(req, "x-ms-retry-after-ms"));
	if (isnan(d))
		d = http_parse_retry_after(http_req_header(req, "Retry-After"),
		    real_now());
	return d;
}

/* Wait before the next attempt, or return 0: the outcome stands. */
static int
http_req_retry(struct http_req *req, int transport)
{
	struct http_client *cl = req->cl;
	const struct http_retry *rp = &cl->c.retry;
	uint64_t cap, ms;
	struct timeval tv;
	double ra = req->r.retry_after;
	uint32_t i, n = req->r.attempts;

	if (!req->retry || n >= rp->attempts)
		return 0;
	if (transport ? !rp->on_transport :
	    !http_status_retried(rp, req->r.status))
		return 0;
	if (!isnan(ra)) {
		if (ra * 1000.0 > (double)rp->retry_after_max)
			return 0;
		ms = (uint64_t)(ra * 1000.0);
	} else {
		/* Full jitter: uniform in [0, min(max, initial * 2^(n-1))]. */
		cap = rp->backoff_initial;
		for (i = 1; i < n && cap < rp->backoff_max; i++)
			cap *= 2;
		if (cap > rp->backoff_max)
			cap = rp->backoff_max;
		ms = http_random(cl->h) % (cap + 1);
	}
	log_debug("http %s: %s %s: attempt %u failed, retry in %llu ms",
	    cl->name, req->method, req->url, n, (unsigned long long)ms);
	http_req_reset(req);
	req->state = REQ_WAITING;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(req->timer, &tv);
	return 1;
}

static int
http_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

/* Follow a Location ourselves; 0 when the response stands as final. */
static int
http_req_redirect(struct http_req *req)
{
	struct http_client *cl = req->cl;
	const char *loc = http_req_header(req, "Location");
	char *url, *host, *ohost = NULL;
	long port, oport = 0, status = req->r.status;
	char *old;

	if (loc == NULL || cl->c.max_redirects == 0)
		return 0;
	if (req->redirects >= cl->c.max_redirects) {
		http_req_done(req, HTTP_ERR_REDIRECTS, "%s %s: more than %u "
		    "redirects", req->method, req->url, cl->c.max_redirects);
		return 1;
	}
	if (http_url_resolve(req->url, loc, &url, &host, &port) == -1) {
		http_req_done(req, HTTP_ERR_URL, "%s %s: bad redirect "
		    "location", req->method, req->url);
		return 1;
	}
	/* Redirects stay on the allowed hosts or the base URL's host. */
	if (!http_allowed(cl, host, port) && (cl->base_host == NULL ||
	    strcmp(host, cl->base_host) != 0)) {
		http_req_done(req, HTTP_ERR_HOST, "%s %s: redirect to host %s "
		    "is not allowed", req->method, req->url, host);
		free(url);
		free(host);
		return 1;
	}
	if (http_url_resolve(NULL, req->url, &old, &ohost, &oport) == 0)
		free(old);
	/* The credentials go no further once the host changes. */
	if (ohost == NULL || strcmp(ohost, host) != 0 || oport != port)
		req->send_auth = 0;
	free(ohost);
	free(host);
	if (status == 303 || ((status == 301 || status == 302) &&
	    strcmp(req->method, "POST") == 0)) {
		if (strcmp(req->method, "HEAD") != 0) {
			free(req->method);
			req->method = xstrdup("GET");
		}
		req->with_body = 0;
	}
	free(req->url);
	req->url = url;
	req->redirects++;
	http_req_reset(req);
	http_req_start(req);
	return 1;
}

static enum http_error
http_curl_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTP_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_ERR_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return HTTP_ERR_TLS;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return HTTP_ERR_URL;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return HTTP_ERR_TRANSFER;
	case CURLE_BAD_CONTENT_ENCODING:
		return HTTP_ERR_DECODE;
	default:
		return HTTP_ERR_OTHER;
	}
}

/* The version of the response as its digits (11 for HTTP/1.1), or 0. */
static int
http_version_of(CURL *e)
{
	long v = CURL_HTTP_VERSION_NONE;

	if (curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v) != CURLE_OK)
		return 0;
	switch (v) {
	case CURL_HTTP_VERSION_1_0:
		return 10;
	case CURL_HTTP_VERSION_1_1:
		return 11;
	case CURL_HTTP_VERSION_2_0:
		return 20;
	case CURL_HTTP_VERSION_3:
		return 30;
	default:
		return 0;
	}
}

/* A transfer ended: redirect, retry or deliver. */
static void
http_req_finished(struct http_req *req, CURLcode rc)
{
	struct http_client *cl = req->cl;
	enum http_error err;
	long status = 0, nconn = 0;

	curl_multi_remove_handle(cl->h->multi, req->easy);
	cl->st.in_flight--;
	req->r.attempts++;
	if (req->redirects > 0)
		req->r.attempts--;	/* a hop, not an attempt */
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &nconn) ==
	    CURLE_OK && nconn > 0)
		cl->st.connects += (uint64_t)nconn;
	req->r.retry_after = NAN;
	req->r.http_version = 0;	/* a failed retry has no version */

	if (req->trace_level != 0)
		http_trace_response(req, rc, status);
	if (rc == CURLE_OK) {
		req->r.status = status;
		req->r.http_version = http_version_of(req->easy);
		req->r.retry_after = http_retry_after(req);
		if (http_is_redirect(status) && http_req_redirect(req))
			goto out;
		if (!http_req_retry(req, 0))
			http_req_done(req, HTTP_OK, "%s", "");
		goto out;
	}
	err = req->too_large ? HTTP_ERR_TOO_LARGE : http_curl_error(rc);
	if ((err == HTTP_ERR_CONNECT || err == HTTP_ERR_TIMEOUT ||
	    err == HTTP_ERR_TRANSFER) && http_req_retry(req, 1))
		goto out;
	if (err == HTTP_ERR_TOO_LARGE && http_req_encoded(req) != NULL)
		http_req_done(req, err, "%s %s: response body over %llu bytes "
		    "once decoded (Content-Encoding: %s)", req->method,
		    req->url, (unsigned long long)cl->c.max_response,
		    http_req_encoded(req));
	else if (err == HTTP_ERR_TOO_LARGE)
		http_req_done(req, err, "%s %s: response body over %llu bytes",
		    req->method, req->url,
		    (unsigned long long)cl->c.max_response);
	else if (err == HTTP_ERR_DECODE)
		http_req_done(req, err, "%s %s: response body does not decode "
		    "(Content-Encoding: %s): %s", req->method, req->url,
		    http_req_encoded(req) != NULL ? http_req_encoded(req) :
		    "?", req->errbuf[0] != '\0' ? req->errbuf :
		    curl_easy_strerror(rc));
	else
		http_req_done(req, err, "%s %s: %s", req->method, req->url,
		    req->errbuf[0] != '\0' ? req->errbuf :
		    curl_easy_strerror(rc));
out:
	http_client_pump(cl);
}

static void
http_check_info(struct http *h)
{
	CURLMsg *m;
	int left;
	struct http_req *req;
	CURLcode rc;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &req);
		http_req_finished(req, rc);
	}
}

void
http_shutdown(void)
{
	struct http *h = http_global;
	struct http_client *cl;
	struct http_req *req;
	struct http_sock *s;

	if (h == NULL)
		return;
	/* Clients stay with their owners, detached; their requests go. */
	while ((cl = TAILQ_FIRST(&h->clients)) != NULL) {
		while ((req = TAILQ_FIRST(&cl->reqs)) != NULL)
			http_req_free(req);
		TAILQ_REMOVE(&h->clients, cl, entry);
		cl->h = NULL;
	}
	while (h->npool > 0)
		curl_easy_cleanup(h->pool[--h->npool]);
	curl_multi_cleanup(h->multi);
	while ((s = h->sfree) != NULL) {
		h->sfree = s->next;
		event_free(s->ev);
		free(s);
	}
	event_free(h->timer);
	free(h);
	http_global = NULL;
	curl_global_cleanup();
}

void
http_client_conf_clear(struct http_client_conf *hc)
{
	free(hc->base_url);
	strv_free(hc->headers);
	free(hc->user_agent);
	free(hc->ca_file);
	free(hc->ca_dir);
	free(hc->client_cert);
	free(hc->client_key);
	free(hc->proxy);
	free(hc->token_file);
	strv_free(hc->allowed_hosts);
	strv_free(hc->trace_redact);
	memset(hc, 0, sizeof *hc);
}

/* A relative file name is taken from dir. */
static int
http_conf_path(struct cfg *c, const char *key, const char *dir, char **out)
{
	char *p = NULL, *full;
	int rv;

	if ((rv = cfg_string(c, key, &p)) != 1)
		return rv;
	if (p[0] != '/' && dir != NULL) {
		xasprintf(&full, "%s/%s", dir, p);
		free(p);
		p = full;
	}
	free(*out);
	*out = p;
	return 1;
}

/*
 * A TLS file next to the configuration.  A missing or unreadable one is a
 * configuration error naming the key: at request time it would only be the
 * error "tls" on every request, far from the typo that caused it.
 */
static void
http_conf_file(struct cfg *c, const char *key, int mode, char **out)
{
	if (http_conf_path(c, key, cfg_dir(c), out) == 1 &&
	    access(*out, mode) == -1)
		cfg_error(c, key, "%s: %s", *out, strerror(errno));
}

static int
http_conf_retry(struct cfg *c, struct http_retry *rp)
{
	struct cfg *sub = NULL;
	json_object *on = NULL, *v;
	uint64_t n;
	size_t i, len;
	int rv = -1, r;

	if ((r = cfg_sub(c, "retry", &sub)) != 1)
		return r;
	if (cfg_uint(sub, "attempts", 1, 100, &n) == 1)
		rp->attempts = (uint32_t)n;
	cfg_duration(sub, "backoff_initial", &rp->backoff_initial);
	cfg_duration(sub, "backoff_max", &rp->backoff_max);
	cfg_duration(sub, "retry_after_max", &rp->retry_after_max);
	if (cfg_json(sub, "on", &on) == 1) {
		if (!json_object_is_type(on, json_type_array)) {
			cfg_error(sub, "on", "expected an array of statuses "
			    "and \"transport\"");
			goto out;
		}
		rp->on_transport = 0;
		rp->nstatuses = 0;
		len = json_object_array_length(on);
		for (i = 0; i < len; i++) {
			v = json_object_array_get_idx(on, i);
			if (json_object_is_type(v, json_type_string) &&
			    strcmp(json_object_get_string(v), "transport") == 0)
				rp->on_transport = 1;
			else if (json_object_is_type(v, json_type_int) &&
			    json_object_get_int64(v) >= 100 &&
			    json_object_get_int64(v) <= 599) {
				if (rp->nstatuses == sizeof rp->statuses /
				    sizeof rp->statuses[0]) {
					cfg_error(sub, "on", "at most %zu "
					    "statuses", rp->nstatuses);
					goto out;
				}
				rp->statuses[rp->nstatuses++] =
				    (uint16_t)json_object_get_int64(v);
			} else {
				cfg_error(sub, "on", "expected statuses "
				    "(100 to 599) and \"transport\"");
				goto out;
			}
		}
	}
	if (!cfg_failed(sub) && rp->backoff_initial > rp->backoff_max) {
		cfg_error(sub, "backoff_initial", "must not exceed backoff_max");
		goto out;
	}
	if (cfg_finish(sub) == 0 && !cfg_failed(sub))
		rv = 1;
out:
	json_object_put(on);
	cfg_free(sub);
	return rv;
}

int
http_client_conf_read(struct cfg *c, struct http_client_conf *hc)
{
	static const uint16_t statuses[] = { 408, 429, 500, 502, 503, 504 };
	json_object *ah = NULL, *v;
	char **env = NULL, *eq, *url, *host;
	const char *credir;
	uint64_t n;
	size_t i, len;
	long port;
	int r;

	memset(hc, 0, sizeof *hc);
	hc->user_agent = xstrdup(HTTP_DEFAULT_UA);
	hc->connect_timeout = 10000;
	hc->timeout = 30000;
	hc->tls_verify = 1;
	hc->max_response = 8 << 20;
	hc->max_redirects = 5;
	hc->max_requests = 64;
	hc->retry.attempts = 4;
	hc->retry.backoff_initial = 500;
	hc->retry.backoff_max = 30000;
	hc->retry.retry_after_max = 300000;
	hc->retry.on_transport = 1;
	hc->compression = 1;
	hc->trace = -1;
	hc->trace_body = 1024;
	memcpy(hc->retry.statuses, statuses, sizeof statuses);
	hc->retry.nstatuses = sizeof statuses / sizeof statuses[0];

	if ((r = cfg_string(c, "url", &hc->base_url)) == 0)
		cfg_error(c, "url", "required (an absolute http or https URL)");
	else if (r == 1) {
		if (http_url_resolve(NULL, hc->base_url, &url, &host,
		    &port) == -1)
			cfg_error(c, "url", "must be an absolute http or https "
			    "URL");
		else {
			free(url);
			free(host);
		}
	}
	if (cfg_env(c, "headers", &env) == 1) {
		for (i = 0; env[i] != NULL; i++) {
			eq = strchr(env[i], '=');
			/* A token: no separators, spaces or controls. */
			if (strcspn(env[i], "\r\n\t :()<>@,;\\\"/[]?{}") <
			    (size_t)(eq - env[i])) {
				cfg_error(c, "headers", "\"%.*s\": bad header "
				    "name", (int)(eq - env[i]), env[i]);
				break;
			}
			if (strpbrk(eq, "\r\n") != NULL) {
				cfg_error(c, "headers", "no line breaks in "
				    "header values");
				break;
			}
			*eq = '\0';
			xasprintf(&url, "%s: %s", env[i], eq + 1);
			free(env[i]);
			env[i] = url;
		}
		hc->headers = env;
	}
	cfg_string(c, "user_agent", &hc->user_agent);
	if (cfg_duration(c, "connect_timeout", &hc->connect_timeout) == 1 &&
	    hc->connect_timeout == 0)
		cfg_error(c, "connect_timeout", "must be positive");
	if (cfg_duration(c, "request_timeout", &hc->timeout) == 1 &&
	    hc->timeout == 0)
		cfg_error(c, "request_timeout", "must be positive");
	cfg_bool(c, "tls_verify", &hc->tls_verify);
	http_conf_file(c, "ca_file", R_OK, &hc->ca_file);
	http_conf_file(c, "ca_dir", R_OK|X_OK, &hc->ca_dir);
	http_conf_file(c, "client_cert", R_OK, &hc->client_cert);
	http_conf_file(c, "client_key", R_OK, &hc->client_key);
	cfg_string(c, "proxy", &hc->proxy);
	credir = getenv("CREDENTIALS_DIRECTORY");
	if (credir != NULL && *credir == '\0')
		credir = NULL;
	if (http_conf_path(c, "token_file", credir != NULL ? credir :
	    cfg_dir(c), &hc->token_file) == 1 &&
	    access(hc->token_file, R_OK) == -1)
		cfg_error(c, "token_file", "%s: %s", hc->token_file,
		    strerror(errno));
	if (cfg_uint(c, "max_response", 1, (uint64_t)1 << 40, &n) == 1)
		hc->max_response = n;
	if (cfg_uint(c, "max_redirects", 0, 50, &n) == 1)
		hc->max_redirects = (uint32_t)n;
	if (cfg_uint(c, "max_requests", 1, 100000, &n) == 1)
		hc->max_requests = (uint32_t)n;
	if (cfg_json(c, "allowed_hosts", &ah) == 1) {
		if (!json_object_is_type(ah, json_type_array))
			cfg_error(c, "allowed_hosts", "expected an array of "
			    "host names");
		else {
			len = json_object_array_length(ah);
			hc->allowed_hosts = xcalloc(len + 1,
			    sizeof *hc->allowed_hosts);
			for (i = 0; i < len; i++) {
				v = json_object_array_get_idx(ah, i);
				if (!json_object_is_type(v, json_type_string) ||
				    json_object_get_string_len(v) == 0 ||
				    strpbrk(json_object_get_string(v),
				    "/@ ") != NULL) {
					cfg_error(c, "allowed_hosts",
					    "expected host or host:port "
					    "strings");
					break;
				}
				hc->allowed_hosts[i] =
				    xstrdup(json_object_get_string(v));
			}
		}
		json_object_put(ah);
	}
	http_conf_retry(c, &hc->retry);
	cfg_bool(c, "compression", &hc->compression);
	cfg_bool(c, "trace", &hc->trace);
	cfg_uint(c, "trace_body", 0, 65536, &hc->trace_body);
	if (cfg_json(c, "trace_redact", &ah) == 1) {
		if (!json_object_is_type(ah, json_type_array))
			cfg_error(c, "trace_redact", "expected an array of "
			    "header names");
		else {
			len = json_object_array_length(ah);
			hc->trace_redact = xcalloc(len + 1,
			    sizeof *hc->trace_redact);
			for (i = 0; i < len; i++) {
				v = json_object_array_get_idx(ah, i);
				if (!json_object_is_type(v, json_type_string) ||
				    json_object_get_string_len(v) == 0 ||
				    strcspn(json_object_get_string(v),
				    "\r\n\t :()<>@,;\\\"/[]?{}") !=
				    (size_t)json_object_get_string_len(v)) {
					cfg_error(c, "trace_redact",
					    "expected header names");
					break;
				}
				hc->trace_redact[i] =
				    xstrdup(json_object_get_string(v));
			}
		}
		json_object_put(ah);
	}
	return cfg_failed(c) ? -1 : 0;
}
