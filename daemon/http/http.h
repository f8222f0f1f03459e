/* SPDX-License-Identifier: ISC */
/* http.h: the HTTP transport of the HTTP poller kinds.
 *
 * One libcurl multi handle per event loop, driven by libevent through
 * CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION (the pattern of curl's
 * docs/examples/hiperfifo.c): nothing ever blocks the loop, connections are
 * reused, HTTP/2 is used where the server offers it.  A client holds one
 * poller's settings (base URL, headers, TLS, proxy, token, limits, retry
 * policy, allowed hosts); a request is one logical call with its retries.
 */
#ifndef POLLEXD_HTTP_H
#define POLLEXD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct cfg;

/* The retry policy of a client. */
struct http_retry {
	uint32_t attempts;		/* total tries, >= 1 (default 4) */
	uint64_t backoff_initial;	/* ms (default 500) */
	uint64_t backoff_max;		/* ms (default 30000) */
	uint64_t retry_after_max;	/* ms: longer Retry-After fails at once
					 * (default 300000) */
	int on_transport;		/* retry connection errors and timeouts
					 * (default 1) */
	uint16_t statuses[16];		/* statuses to retry (default 408, 429,
					 * 500, 502, 503, 504) */
	size_t nstatuses;
};

/* One poller's HTTP settings, read from its configuration section. */
struct http_client_conf {
	char *base_url;			/* "url": absolute http(s) URL */
	char **headers;			/* "headers": "Name: value", NULL-ended */
	char *user_agent;		/* default "pollex/VERSION" */
	uint64_t connect_timeout;	/* ms (default 10000) */
	uint64_t timeout;		/* ms, whole transfer (default 30000) */
	int tls_verify;			/* default 1 */
	char *ca_file, *ca_dir;
	char *client_cert, *client_key;
	char *proxy;			/* NULL: libcurl's default (env) */
	char *token_file;		/* bearer token; see http_client_new() */
	uint64_t max_response;		/* bytes of body (default 8 MiB) */
	uint32_t max_redirects;		/* default 5; 0 disables */
	uint32_t max_requests;		/* transfers in flight (default 64) */
	char **allowed_hosts;		/* for URLs taken from responses;
					 * default: the base URL's host */
	struct http_retry retry;
	int compression;		/* "compression": ask for gzip and
					 * deflate and decode (default 1);
					 * max_response is the decoded size */
	int trace;			/* "trace": log each request and
					 * response: 1 at info, 0 never, -1
					 * (default) at debug level (-v) */
	uint64_t trace_body;		/* bytes of bodies traced (default
					 * 1024; 0: none) */
	char **trace_redact;		/* more header names whose values are
					 * never traced (Authorization,
					 * Proxy-Authorization, Cookie,
					 * Set-Cookie always) */
};

/*
 * Read the HTTP keys of a poller section (docs/configuration.md lists
 * them: url, headers, user_agent, connect_timeout, request_timeout,
 * tls_verify, ca_file, ca_dir, client_cert, client_key, proxy, token_file,
 * max_response, max_redirects, max_requests, allowed_hosts, retry {attempts,
 * on, backoff_initial, backoff_max, retry_after_max}, compression, trace,
 * trace_body, trace_redact).  Returns 0, or -1
 * after cfg_error() naming the key.  The token file is checked for
 * readability here (relative names are looked up in
 * $CREDENTIALS_DIRECTORY, else next to the configuration file).
 */
int http_client_conf_read(struct cfg *c, struct http_client_conf *hc);
void http_client_conf_clear(struct http_client_conf *hc);

/* The transport of one event loop: created on first use, freed at exit. */
struct http;
struct http *http_get(struct event_base *base);
void http_shutdown(void);	/* abort everything, free the multi handle */

/* A poller's client.  The token is read here (and again when the file
 * changes); it is sent as "Authorization: Bearer ..." and never logged nor
 * put in an error message.  NULL with *cause on error. */
struct http_client;
struct http_client *http_client_new(struct http *h,
    const struct http_client_conf *hc, const char *name, char **cause);
/* Aborts the client's requests without calling back. */
void http_client_free(struct http_client *cl);

struct http_client_stats {
	uint64_t requests;	/* attempts sent (each retry counts) */
	uint64_t retries;
	uint64_t failures;	/* requests that ended in a transport error */
	uint64_t connects;	/* connections opened (CURLINFO_NUM_CONNECTS
				 * summed over attempts): fewer than requests
				 * when connections are reused or multiplexed */
	uint32_t in_flight;
	uint32_t queued;	/* waiting for a max_requests slot */
};
void http_client_stats(const struct http_client *cl,
    struct http_client_stats *st);

struct http_request {
	const char *method;	/* "GET", "POST", "PUT", "DELETE", ... */
	const char *url;	/* absolute, or relative to the base URL */
	const char *body;	/* NULL: no body */
	const char *content_type; /* default "application/json" with a body */
	const char *const *headers; /* extra "Name: value", NULL-ended */
	/* The URL came from the remote service (Operation-Location,
	 * Location, resourceLocation): refused unless on an allowed host. */
	int untrusted_url;
	/* Retry per the client's policy (start requests that are not
	 * idempotent pass 0: one attempt only). */
	int retry;
};

enum http_error {
	HTTP_OK = 0,		/* a response arrived (any status) */
	HTTP_ERR_CONNECT,	/* could not connect / resolve */
	HTTP_ERR_TIMEOUT,
	HTTP_ERR_TRANSFER,	/* reset, truncated, protocol error */
	HTTP_ERR_TOO_LARGE,	/* body over max_response (decoded) */
	HTTP_ERR_TLS,
	HTTP_ERR_REDIRECTS,	/* more than max_redirects */
	HTTP_ERR_URL,		/* malformed, or a scheme other than http(s) */
	HTTP_ERR_HOST,		/* untrusted URL on a host not allowed */
	HTTP_ERR_DECODE,	/* a Content-Encoding that does not decode */
	HTTP_ERR_OTHER,
};

struct http_response {
	enum http_error error;
	const char *error_text;	/* HTTP_ERR_*: a message for logs and tasks
				 * (no token, no Authorization value) */
	long status;		/* 0 unless error == HTTP_OK */
	int http_version;	/* of the response: 10, 11, 20 or 30; 0 unless
				 * error == HTTP_OK */
	const char *body;	/* NUL-terminated, body_len bytes (decoded
				 * when it came compressed) */
	size_t body_len;
	const char *url;	/* the final URL (after redirects) */
	double retry_after;	/* seconds from Retry-After, retry-after-ms or
				 * x-ms-retry-after-ms; NaN when absent */
	uint32_t attempts;
	void *priv;		/* the transport's */
};

/* A response header (case-insensitive name, last one wins), or NULL. */
const char *http_response_header(const struct http_response *r,
    const char *name);

/*
 * Send a request.  cb runs exactly once, from an event callback (never
 * inside http_submit()), with the final response after retries; the
 * response is valid only during the callback.  Returns NULL only when out
 * of memory.  http_cancel() aborts a request: cb is not called.
 */
struct http_req;
typedef void (*http_cb)(void *arg, const struct http_response *r);
struct http_req *http_submit(struct http_client *cl,
    const struct http_request *rq, http_cb cb, void *arg);
void http_cancel(struct http_req *req);

/* Parse a Retry-After value (delta seconds or an HTTP date) into
 * seconds from now; NaN when invalid. */
double http_parse_retry_after(const char *v, double now);

#endif
