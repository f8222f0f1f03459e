/* SPDX-License-Identifier: ISC */
/* check_http.c: the HTTP transport against the real test service. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "http.h"
#include "testlib.h"

#define LOOP_LIMIT_MS	10000

static pid_t svc_pid = -1;
static int svc_port;
static char svc_base[64];
/* A second instance, serving HTTPS, for the "tls" case. */
static pid_t tls_pid = -1;
static int tls_port;
static char tls_base[64];
/* nghttpd, an HTTP/2 server, for the "http2" case. */
static pid_t h2_pid = -1;
static int h2_port;
static struct event_base *base;
static struct http *h;
static struct http_client *cl;
static char *tmpdir;

/* What callbacks saw. */
struct result {
	int calls;
	enum http_error error;
	long status;
	int http_version;
	char *body;
	char *error_text;
	char *url;
	double retry_after;
	uint32_t attempts;
	char *content_type;
};
static struct result res[16];
static int ndone, nwant;
static uint32_t max_in_flight;

/* Start a test service with extra options; returns its port. */
static int
svc_spawn(const char *const extra[], pid_t *pidp)
{
	const char *path = getenv("TESTSERVICE");
	const char *argv[16];
	int fds[2], argc = 0;
	struct pollfd pfd;
	char buf[32];
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	ck_assert_msg(path != NULL, "TESTSERVICE not set");
	argv[argc++] = path;
	argv[argc++] = "-a";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = "0";
	while (extra != NULL && *extra != NULL && argc < 15)
		argv[argc++] = *extra++;
	argv[argc] = NULL;
	ck_assert_int_eq(pipe(fds), 0);
	*pidp = pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		/* Die with the test, even when Check kills it on a timeout. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	/* The port and a newline, once listening; bounded wait. */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (len < sizeof buf - 1 && memchr(buf, '\n', len) == NULL) {
		ck_assert_msg(poll(&pfd, 1, 10000) == 1,
		    "testservice did not start");
		n = read(fds[0], buf + len, sizeof buf - 1 - len);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fds[0]);
	ck_assert_int_gt(atoi(buf), 0);
	return atoi(buf);
}

static void
svc_start(void)
{
	svc_port = svc_spawn(NULL, &svc_pid);
	snprintf(svc_base, sizeof svc_base, "http://127.0.0.1:%d", svc_port);
}

static void
svc_kill(pid_t *pidp)
{
	int status;

	if (*pidp > 0) {
		kill(*pidp, SIGTERM);
		waitpid(*pidp, &status, 0);
		*pidp = -1;
	}
}

static void
svc_stop(void)
{
	svc_kill(&svc_pid);
}

static size_t
ctl_write(char *p, size_t size, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, n, f);
}

/*
 * A blocking call to the control API (the test's side only) of the service
 * at base; ca_file verifies an HTTPS one.
 */
static json_object *
ctl_at(const char *at, const char *ca_file, const char *method,
    const char *path, const char *body)
{
	CURL *e;
	char url[256], *out = NULL;
	size_t outlen = 0;
	FILE *f;
	json_object *j;
	CURLcode rc;

	snprintf(url, sizeof url, "%s%s", at, path);
	f = open_memstream(&out, &outlen);
	e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	if (body != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(e);
	curl_easy_cleanup(e);
	fclose(f);
	ck_assert_msg(rc == CURLE_OK, "control %s %s failed", method, path);
	j = json_tokener_parse(out);
	free(out);
	return j;
}

static json_object *
ctl(const char *method, const char *path, const char *body)
{
	return ctl_at(svc_base, NULL, method, path, body);
}

static void
fault(const char *json)
{
	json_object *j = ctl("POST", "/_control/faults", json);

	ck_assert_msg(j != NULL && json_object_object_get_ex(j, "id", NULL),
	    "fault refused: %s", json);
	json_object_put(j);
}

/* The request log's "recent" entries (oldest first); put the result. */
static json_object *
log_get(void)
{
	return ctl("GET", "/_control/requests", NULL);
}

static json_object *
log_entry(json_object *log, size_t i)
{
	json_object *recent;

	ck_assert(json_object_object_get_ex(log, "recent", &recent));
	ck_assert_uint_gt(json_object_array_length(recent), i);
	return json_object_array_get_idx(recent, i);
}

static size_t
log_total(void)
{
	json_object *log = log_get(), *t;
	size_t n;

	ck_assert(json_object_object_get_ex(log, "total", &t));
	n = (size_t)json_object_get_int(t);
	json_object_put(log);
	return n;
}

static const char *
field(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

static void
setup(void)
{
	memset(res, 0, sizeof res);
	ndone = nwant = 0;
	max_in_flight = 0;
	svc_start();
	tmpdir = test_tmpdir();
	base = event_base_new();
	h = http_get(base);
}

static void
teardown(void)
{
	size_t i;

	http_client_free(cl);
	cl = NULL;
	http_shutdown();
	event_base_free(base);
	svc_stop();
	rm_rf(tmpdir);
	free(tmpdir);
	for (i = 0; i < sizeof res / sizeof res[0]; i++) {
		free(res[i].body);
		free(res[i].error_text);
		free(res[i].url);
		free(res[i].content_type);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* Read a client configuration from JSON; "URL" in it is the service. */
static int
conf_from(const char *fmt, struct http_client_conf *hc, char **err)
{
	char text[2048];
	json_object *obj;
	struct cfg *c;
	int rv;

	snprintf(text, sizeof text, fmt, svc_port, svc_port, svc_port);
	obj = json_tokener_parse(text);
	ck_assert_msg(obj != NULL, "bad JSON: %s", text);
	c = cfg_open(obj, "test.conf", tmpdir);
	rv = http_client_conf_read(c, hc);
	if (rv == 0)
		rv = cfg_finish(c);
	if (err != NULL)
		*err = cfg_errmsg(c) != NULL ? strdup(cfg_errmsg(c)) : NULL;
	else if (rv != 0)
		ck_abort_msg("config error: %s", cfg_errmsg(c));
	cfg_free(c);
	json_object_put(obj);
	return rv;
}

/* A client from JSON (%d is the service's port). */
static void
client(const char *fmt)
{
	struct http_client_conf hc;
	char *cause = NULL;

	conf_from(fmt, &hc, NULL);
	cl = http_client_new(h, &hc, "test", &cause);
	ck_assert_msg(cl != NULL, "http_client_new: %s", cause);
	http_client_conf_clear(&hc);
}

#define CONF(extra) "{\"url\": \"http://127.0.0.1:%d/\"" extra "}"

static void
on_done(void *arg, const struct http_response *r)
{
	struct result *x = arg;
	const char *ct;
	struct http_client_stats st;

	x->calls++;
	x->error = r->error;
	x->status = r->status;
	x->http_version = r->http_version;
	x->body = r->body != NULL ? strndup(r->body, r->body_len) : NULL;
	x->error_text = r->error_text != NULL ? strdup(r->error_text) : NULL;
	x->url = r->url != NULL ? strdup(r->url) : NULL;
	x->retry_after = r->retry_after;
	x->attempts = r->attempts;
	if (r->error == HTTP_OK && (ct = http_response_header(r,
	    "content-type")) != NULL)
		x->content_type = strdup(ct);
	if (cl != NULL) {
		http_client_stats(cl, &st);
		if (st.in_flight > max_in_flight)
			max_in_flight = st.in_flight;
	}
	if (++ndone >= nwant)
		event_base_loopbreak(base);
}

/* Run the loop until nwant callbacks or ms pass. */
static void
run(int want, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	nwant = want;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static struct http_req *
submit(const char *method, const char *url, const char *body, int retry,
    struct result *x)
{
	struct http_request rq;

	memset(&rq, 0, sizeof rq);
	rq.method = method;
	rq.url = url;
	rq.body = body;
	rq.retry = retry;
	return http_submit(cl, &rq, on_done, x);
}

START_TEST(test_get_post)
{
	const char *hdrs[] = { "Idempotency-Key: k-1", NULL };
	struct http_request rq;
	json_object *log, *e;
	char want[128];

	client(CONF(", \"headers\": {\"X-Test\": \"yes\"}"));
	memset(&rq, 0, sizeof rq);
	rq.method = "POST";
	rq.url = "tasks";
	rq.body = "{\"object\": \"o1\", \"duration_ms\": 0}";
	rq.headers = hdrs;
	ck_assert_ptr_nonnull(http_submit(cl, &rq, on_done, &res[0]));
	ck_assert_int_eq(res[0].calls, 0);	/* never inside submit */
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 1);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	ck_assert_int_eq(res[0].status, 201);
	ck_assert_ptr_nonnull(strstr(res[0].body, "\"task_id\":1"));
	ck_assert_str_eq(res[0].content_type, "application/json");
	ck_assert_uint_eq(res[0].attempts, 1);

	submit("GET", "/tasks/1", NULL, 1, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[1].status, 200);
	ck_assert_int_eq(res[1].http_version, 11);	/* no h2 in clear */
	ck_assert_ptr_nonnull(strstr(res[1].body, "\"object\":\"o1\""));
	snprintf(want, sizeof want, "%s/tasks/1", svc_base);
	ck_assert_str_eq(res[1].url, want);

	log = log_get();
	e = log_entry(log, 0);
	ck_assert_str_eq(field(e, "method"), "POST");
	ck_assert_str_eq(field(e, "idempotency_key"), "k-1");
	ck_assert_str_eq(field(e, "user_agent"), "pollex/" PACKAGE_VERSION);
	ck_assert_int_gt(atoi(field(e, "body_bytes")), 10);
	e = log_entry(log, 1);
	ck_assert_str_eq(field(e, "route"), "GET /tasks/:id");
	json_object_put(log);
}
END_TEST

START_TEST(test_connection_reuse)
{
	struct http_client_stats st;
	json_object *log;
	const char *peer;
	int i;

	client(CONF(""));
	for (i = 0; i < 4; i++) {
		submit("GET", "tasks/search?task_id=1", NULL, 0, &res[i]);
		run(1, LOOP_LIMIT_MS);
		ck_assert_int_eq(res[i].status, 200);
	}
	/* One connection: every request came from the same peer. */
	log = log_get();
	peer = field(log_entry(log, 0), "peer");
	ck_assert_ptr_nonnull(peer);
	for (i = 1; i < 4; i++)
		ck_assert_str_eq(field(log_entry(log, (size_t)i), "peer"), peer);
	json_object_put(log);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.connects, 1);
}
END_TEST

START_TEST(test_relative_urls)
{
	char want[128];

	/* Relative to a base with a path: "tasks/1" lands under it. */
	client("{\"url\": \"http://127.0.0.1:%d/tasks/\", \"user_agent\": "
	    "\"agent/7\"}");
	submit("POST", "/tasks", "{}", 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 201);
	submit("GET", "1", NULL, 0, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[1].status, 200);
	snprintf(want, sizeof want, "%s/tasks/1", svc_base);
	ck_assert_str_eq(res[1].url, want);
	submit("GET", "ftp://127.0.0.1/x", NULL, 0, &res[2]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[2].error, HTTP_ERR_URL);
	ck_assert_uint_eq(log_total(), 2);
	{
		json_object *log = log_get();

		ck_assert_str_eq(field(log_entry(log, 1), "user_agent"),
		    "agent/7");
		json_object_put(log);
	}
}
END_TEST

/* Absolute paths on the base's origin skip libcurl's URL parser when
 * they need no normalising; the URL requested is the same either way. */
START_TEST(test_absolute_path_urls)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{ "/tasks/1", "/tasks/1" },
		{ "/tasks/1?x=%2F&y=a.b,c;d:e@f", "/tasks/1?x=%2F&y=a.b,c;d:e@f" },
		{ "/x/../tasks/1", "/tasks/1" },	/* dot segments */
		{ "/./tasks/1", "/tasks/1" },
	};
	char want[256];
	size_t i;

	client("{\"url\": \"http://127.0.0.1:%d/api/v1/\"}");
	submit("POST", "/tasks", "{}", 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 201);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		submit("GET", cases[i].path, NULL, 0, &res[1 + i]);
		run(1, LOOP_LIMIT_MS);
		snprintf(want, sizeof want, "%s%s", svc_base, cases[i].want);
		ck_assert_str_eq(res[1 + i].url, want);
		ck_assert_int_eq(res[1 + i].status, 200);
	}
}
END_TEST

START_TEST(test_retry_then_success)
{
	struct http_client_stats st;

	client(CONF(", \"retry\": {\"backoff_initial\": \"5ms\", "
	    "\"backoff_max\": \"20ms\"}"));
	fault("{\"match\": {\"path_prefix\": \"/tasks/search\"}, \"count\": 2, "
	    "\"fault\": {\"status\": 503}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	ck_assert_int_eq(res[0].status, 200);
	ck_assert_uint_eq(res[0].attempts, 3);
	ck_assert_uint_eq(log_total(), 3);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.requests, 3);
	ck_assert_uint_eq(st.retries, 2);
	ck_assert_uint_eq(st.in_flight, 0);
}
END_TEST

START_TEST(test_no_retry_when_not_asked)
{
	client(CONF(""));
	fault("{\"count\": 2, \"fault\": {\"status\": 503}}");
	submit("POST", "tasks", "{}", 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 503);
	ck_assert_uint_eq(res[0].attempts, 1);
	ck_assert_uint_eq(log_total(), 1);
}
END_TEST

/* The gap between the first two logged requests, in ms. */
static long
log_gap(void)
{
	json_object *log = log_get();
	long a, b;

	a = atol(field(log_entry(log, 0), "time_ms"));
	b = atol(field(log_entry(log, 1), "time_ms"));
	json_object_put(log);
	return b - a;
}

START_TEST(test_retry_after_seconds)
{
	client(CONF(", \"retry\": {\"backoff_max\": \"1ms\", "
	    "\"backoff_initial\": \"1ms\"}"));
	fault("{\"count\": 1, \"fault\": {\"status\": 503, "
	    "\"retry_after\": \"1\"}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 200);
	ck_assert_uint_eq(res[0].attempts, 2);
	ck_assert_int_ge(log_gap(), 900);
}
END_TEST

START_TEST(test_retry_after_date)
{
	client(CONF(", \"retry\": {\"backoff_max\": \"1ms\", "
	    "\"backoff_initial\": \"1ms\"}"));
	fault("{\"count\": 1, \"fault\": {\"status\": 429, "
	    "\"retry_after_date\": 2}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 200);
	ck_assert_uint_eq(res[0].attempts, 2);
	/* A date has one-second resolution: at least one second. */
	ck_assert_int_ge(log_gap(), 900);
}
END_TEST

START_TEST(test_retry_after_ms)
{
	client(CONF(", \"retry\": {\"backoff_max\": \"1ms\", "
	    "\"backoff_initial\": \"1ms\", \"attempts\": 2}"));
	fault("{\"count\": -1, \"fault\": {\"status\": 503, "
	    "\"retry_after_ms\": 300}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 503);
	ck_assert_uint_eq(res[0].attempts, 2);
	ck_assert(fabs(res[0].retry_after - 0.3) < 1e-9);
	ck_assert_int_ge(log_gap(), 250);
}
END_TEST

START_TEST(test_attempts_exhausted)
{
	client(CONF(", \"retry\": {\"attempts\": 3, \"backoff_initial\": "
	    "\"1ms\", \"backoff_max\": \"5ms\"}"));
	fault("{\"fault\": {\"status\": 502, \"retry_after\": \"0\"}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	ck_assert_int_eq(res[0].status, 502);
	ck_assert_uint_eq(res[0].attempts, 3);
	ck_assert(res[0].retry_after == 0.0);
	ck_assert_ptr_nonnull(strstr(res[0].body, "InjectedFault"));
	ck_assert_uint_eq(log_total(), 3);
}
END_TEST

START_TEST(test_retry_after_too_long)
{
	client(CONF(", \"retry\": {\"retry_after_max\": \"2s\"}"));
	fault("{\"fault\": {\"status\": 429, \"retry_after\": \"100\"}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 429);
	ck_assert_uint_eq(res[0].attempts, 1);
	ck_assert(res[0].retry_after == 100.0);
	ck_assert_uint_eq(log_total(), 1);
}
END_TEST

START_TEST(test_status_not_retried)
{
	client(CONF(", \"retry\": {\"on\": [500]}"));
	fault("{\"fault\": {\"status\": 503}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 503);
	ck_assert_uint_eq(res[0].attempts, 1);
}
END_TEST

/* A port nothing listens on. */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(s);
	return port;
}

START_TEST(test_connection_refused)
{
	char text[256];

	snprintf(text, sizeof text, "{\"url\": \"http://127.0.0.1:%d/\", "
	    "\"retry\": {\"attempts\": 2, \"backoff_initial\": \"1ms\"}}",
	    closed_port());
	client(text);
	submit("GET", "x", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_CONNECT);
	ck_assert_int_eq(res[0].status, 0);
	ck_assert_uint_eq(res[0].attempts, 2);
	ck_assert_ptr_nonnull(res[0].error_text);
}
END_TEST

START_TEST(test_timeout)
{
	client(CONF(", \"request_timeout\": \"300ms\""));
	fault("{\"fault\": {\"delay_ms\": 3000}}");
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_TIMEOUT);
	ck_assert_uint_eq(res[0].attempts, 1);
}
END_TEST

START_TEST(test_reset_and_truncated)
{
	client(CONF(""));
	fault("{\"count\": 1, \"fault\": {\"reset_mid_body\": true}}");
	fault("{\"count\": 1, \"fault\": {\"truncated\": true}}");
	fault("{\"count\": 1, \"fault\": {\"reset\": true}}");
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[1]);
	run(1, LOOP_LIMIT_MS);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[2]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_TRANSFER);
	ck_assert_int_eq(res[1].error, HTTP_ERR_TRANSFER);
	ck_assert_int_eq(res[2].error, HTTP_ERR_TRANSFER);
	/* Retried on transport errors when asked: the fault is spent. */
	fault("{\"count\": 1, \"fault\": {\"reset_mid_body\": true}}");
	submit("GET", "tasks/search?task_id=1", NULL, 1, &res[3]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[3].error, HTTP_OK);
	ck_assert_uint_eq(res[3].attempts, 2);
}
END_TEST

START_TEST(test_too_large)
{
	client(CONF(", \"max_response\": 1000"));
	fault("{\"count\": 1, \"fault\": {\"oversized_bytes\": 100000}}");
	fault("{\"count\": 1, \"fault\": {\"oversized_bytes\": 100000, "
	    "\"chunked\": true}}");
	fault("{\"count\": 1, \"fault\": {\"oversized_bytes\": 1000}}");
	submit("GET", "a", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	submit("GET", "a", NULL, 1, &res[1]);
	run(1, LOOP_LIMIT_MS);
	submit("GET", "a", NULL, 1, &res[2]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_TOO_LARGE);
	ck_assert_int_eq(res[1].error, HTTP_ERR_TOO_LARGE);
	ck_assert_uint_eq(res[1].attempts, 1);	/* not retried */
	ck_assert_int_eq(res[2].error, HTTP_OK);
	ck_assert_uint_eq(strlen(res[2].body), 1000);
}
END_TEST

START_TEST(test_redirect_loop)
{
	client(CONF(", \"max_redirects\": 3"));
	fault("{\"fault\": {\"redirect_loop\": true}}");
	submit("GET", "tasks/1", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_REDIRECTS);
	ck_assert_uint_eq(log_total(), 4);
}
END_TEST

START_TEST(test_redirect_methods)
{
	json_object *log, *e;

	client(CONF(""));
	fault("{\"match\": {\"path_prefix\": \"/object/\"}, \"count\": 1, "
	    "\"fault\": {\"status\": 303, \"redirect_to\": "
	    "\"/tasks/search?task_id=1\"}}");
	fault("{\"match\": {\"path_prefix\": \"/object/\"}, \"count\": 1, "
	    "\"fault\": {\"status\": 307, \"redirect_to\": \"/tasks\"}}");
	submit("POST", "object/a/publish", "{\"duration_ms\": 5}", 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 200);
	ck_assert_uint_eq(res[0].attempts, 1);
	submit("POST", "object/b/publish", "{\"duration_ms\": 5}", 0, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[1].status, 201);
	log = log_get();
	e = log_entry(log, 1);
	ck_assert_str_eq(field(e, "route"), "GET /tasks/search");
	ck_assert_str_eq(field(e, "body_bytes"), "0");
	e = log_entry(log, 3);
	ck_assert_str_eq(field(e, "route"), "POST /tasks");
	ck_assert_int_gt(atoi(field(e, "body_bytes")), 0);
	json_object_put(log);
}
END_TEST

static void
token_write(const char *dir, const char *text, time_t mtime)
{
	char *p = write_file(dir, "tok", text, 0);
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

START_TEST(test_authorization_dropped_on_host_change)
{
	char fmt[256];
	json_object *log;

	token_write(tmpdir, "s3cret\n", 1000);
	client(CONF(", \"token_file\": \"tok\", \"allowed_hosts\": "
	    "[\"127.0.0.1\", \"localhost:%d\"]"));
	snprintf(fmt, sizeof fmt, "{\"match\": {\"path_prefix\": "
	    "\"/tasks/search\"}, \"count\": 1, \"fault\": {\"redirect_to\": "
	    "\"http://localhost:%d/tasks/1\"}}", svc_port);
	fault(fmt);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	ck_assert_int_eq(res[0].status, 404);	/* no task 1 */
	ck_assert_ptr_nonnull(strstr(res[0].url, "localhost"));
	log = log_get();
	ck_assert_str_eq(field(log_entry(log, 0), "authorization"),
	    "Bearer s3cret");
	ck_assert_ptr_null(field(log_entry(log, 1), "authorization"));
	json_object_put(log);
}
END_TEST

START_TEST(test_redirect_host_not_allowed)
{
	char fmt[256];

	client(CONF(""));
	snprintf(fmt, sizeof fmt, "{\"count\": 1, \"fault\": "
	    "{\"redirect_to\": \"http://localhost:%d/tasks/1\"}}", svc_port);
	fault(fmt);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_ERR_HOST);
	ck_assert_uint_eq(log_total(), 1);
}
END_TEST

START_TEST(test_untrusted_url)
{
	char url[128];
	struct http_request rq;

	client(CONF(""));
	memset(&rq, 0, sizeof rq);
	rq.method = "GET";
	snprintf(url, sizeof url, "http://localhost:%d/tasks/1", svc_port);
	rq.url = url;
	rq.untrusted_url = 1;
	http_submit(cl, &rq, on_done, &res[0]);
	ck_assert_int_eq(res[0].calls, 0);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 1);
	ck_assert_int_eq(res[0].error, HTTP_ERR_HOST);
	ck_assert_uint_eq(log_total(), 0);
	/* The base URL's host is allowed by default. */
	snprintf(url, sizeof url, "%s/tasks/1", svc_base);
	http_submit(cl, &rq, on_done, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[1].error, HTTP_OK);
	ck_assert_int_eq(res[1].status, 404);
	ck_assert_uint_eq(log_total(), 1);
}
END_TEST

START_TEST(test_token_credentials_directory)
{
	char *cred;

	cred = test_tmpdir();
	setenv("CREDENTIALS_DIRECTORY", cred, 1);
	token_write(cred, "from-creds\n", 1000);
	json_object_put(ctl("POST", "/_control/auth",
	    "{\"bearer\": \"from-creds\"}"));
	client(CONF(", \"token_file\": \"tok\""));
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].status, 200);

	/* A new token with a new mtime is read on the next request. */
	token_write(cred, "rotated", 2000);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[1].status, 401);
	json_object_put(ctl("POST", "/_control/auth",
	    "{\"bearer\": \"rotated\"}"));
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[2]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[2].status, 200);
	rm_rf(cred);
	free(cred);
}
END_TEST

START_TEST(test_token_never_in_error_text)
{
	char text[256];
	size_t i;

	token_write(tmpdir, "TOPSECRET", 1000);
	snprintf(text, sizeof text, "{\"url\": \"http://127.0.0.1:%d/\", "
	    "\"token_file\": \"tok\", \"request_timeout\": \"200ms\"}",
	    closed_port());
	client(text);
	/* The token in the URL too: the message must still hide it. */
	submit("GET", "TOPSECRET", NULL, 0, &res[0]);
	submit("GET", "x", NULL, 0, &res[1]);
	run(2, LOOP_LIMIT_MS);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(res[i].error, HTTP_ERR_CONNECT);
		ck_assert_ptr_nonnull(res[i].error_text);
		ck_assert_ptr_null(strstr(res[i].error_text, "TOPSECRET"));
	}
}
END_TEST

START_TEST(test_max_requests)
{
	struct http_client_stats st;
	int i;

	client(CONF(", \"max_requests\": 2"));
	fault("{\"fault\": {\"delay_ms\": 200}}");
	for (i = 0; i < 6; i++)
		submit("GET", "tasks/search?task_id=1", NULL, 0, &res[i]);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight, 2);
	ck_assert_uint_eq(st.queued, 4);
	run(6, LOOP_LIMIT_MS);
	ck_assert_int_eq(ndone, 6);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(res[i].status, 200);
	ck_assert_uint_le(max_in_flight, 2);
	ck_assert_uint_ge(max_in_flight, 1);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.requests, 6);
}
END_TEST

START_TEST(test_cancel)
{
	struct http_req *a, *b;
	struct http_client_stats st;

	client(CONF(", \"max_requests\": 1"));
	fault("{\"count\": 1, \"fault\": {\"delay_ms\": 1000}}");
	a = submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	b = submit("GET", "tasks/search?task_id=1", NULL, 0, &res[1]);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[2]);
	run(99, 200);		/* a is mid-transfer */
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.queued, 2);
	http_cancel(b);		/* queued */
	http_cancel(a);		/* mid-transfer */
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight, 1);	/* the third one started */
	ck_assert_uint_eq(st.queued, 0);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 0);
	ck_assert_int_eq(res[1].calls, 0);
	ck_assert_int_eq(res[2].calls, 1);
	ck_assert_int_eq(res[2].status, 200);
	/* A client freed with requests running calls nobody back. */
	fault("{\"count\": 2, \"fault\": {\"delay_ms\": 1000}}");
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[3]);
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[4]);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight + st.queued, 2);
	run(99, 100);
	http_client_free(cl);
	cl = NULL;
	run(99, 300);
	ck_assert_int_eq(res[3].calls + res[4].calls, 0);
}
END_TEST

static void
conf_err(const char *json, const char *want)
{
	struct http_client_conf hc;
	char *err = NULL;

	ck_assert_int_eq(conf_from(json, &hc, &err), -1);
	ck_assert_msg(err != NULL && strstr(err, want) != NULL,
	    "%s: expected \"%s\" in \"%s\"", json, want, err);
	http_client_conf_clear(&hc);
	free(err);
}

START_TEST(test_conf_errors)
{
	struct http_client_conf hc;

	conf_err("{}", "url");
	conf_err("{\"url\": \"ftp://x/\"}", "url: must be an absolute http");
	conf_err("{\"url\": \"tasks/\"}", "url: must be an absolute http");
	conf_err(CONF(", \"headers\": {\"A\": 1}"), "headers");
	conf_err(CONF(", \"headers\": {\"A B\": \"x\"}"), "headers");
	conf_err(CONF(", \"headers\": {\"A\": \"x\\r\\nB: y\"}"),
	    "headers");
	conf_err(CONF(", \"max_requests\": 0"), "max_requests");
	conf_err(CONF(", \"max_redirects\": -1"), "max_redirects");
	conf_err(CONF(", \"request_timeout\": \"soon\""), "request_timeout");
	conf_err(CONF(", \"token_file\": \"missing\""), "token_file");
	conf_err(CONF(", \"allowed_hosts\": \"x\""), "allowed_hosts");
	conf_err(CONF(", \"retry\": {\"on\": [42]}"), "retry.on");
	conf_err(CONF(", \"retry\": {\"on\": [\"sometimes\"]}"), "retry.on");
	conf_err(CONF(", \"retry\": {\"attempts\": 0}"), "retry.attempts");
	conf_err(CONF(", \"retry\": {\"typo\": 1}"), "retry.typo");
	conf_err(CONF(", \"tls_verify\": \"no\""), "tls_verify");
	conf_err(CONF(", \"compression\": \"gzip\""), "compression");
	conf_err(CONF(", \"trace\": 1"), "trace");
	conf_err(CONF(", \"trace_body\": -1"), "trace_body");
	conf_err(CONF(", \"trace_body\": 100000"), "trace_body");
	conf_err(CONF(", \"trace_redact\": \"X-Key\""), "trace_redact");
	conf_err(CONF(", \"trace_redact\": [\"X Key\"]"), "trace_redact");

	/* Defaults and a full read. */
	conf_from(CONF(""), &hc, NULL);
	ck_assert_str_eq(hc.user_agent, "pollex/" PACKAGE_VERSION);
	ck_assert_uint_eq(hc.retry.attempts, 4);
	ck_assert_uint_eq(hc.retry.nstatuses, 6);
	ck_assert_int_eq(hc.retry.on_transport, 1);
	ck_assert_int_eq(hc.tls_verify, 1);
	ck_assert_uint_eq(hc.max_requests, 64);
	ck_assert_ptr_null(hc.allowed_hosts);
	ck_assert_int_eq(hc.compression, 1);
	ck_assert_int_eq(hc.trace, -1);
	ck_assert_uint_eq(hc.trace_body, 1024);
	ck_assert_ptr_null(hc.trace_redact);
	http_client_conf_clear(&hc);
	conf_from(CONF(", \"compression\": false, \"trace\": true, "
	    "\"trace_body\": 0, \"trace_redact\": [\"X-Api-Key\"]"), &hc,
	    NULL);
	ck_assert_int_eq(hc.compression, 0);
	ck_assert_int_eq(hc.trace, 1);
	ck_assert_uint_eq(hc.trace_body, 0);
	ck_assert_str_eq(hc.trace_redact[0], "X-Api-Key");
	ck_assert_ptr_null(hc.trace_redact[1]);
	http_client_conf_clear(&hc);
	free(write_file(tmpdir, "ca.pem", "", 0));
	conf_from(CONF(", \"headers\": {\"X-A\": \"b\"}, \"ca_file\": "
	    "\"ca.pem\", \"retry\": {\"on\": [\"transport\", 418], "
	    "\"attempts\": 2, \"backoff_max\": \"2s\"}, \"connect_timeout\": "
	    "\"1s\""), &hc, NULL);
	ck_assert_str_eq(hc.headers[0], "X-A: b");
	ck_assert_ptr_nonnull(strstr(hc.ca_file, "/ca.pem"));
	ck_assert_int_eq(hc.ca_file[0], '/');
	ck_assert_uint_eq(hc.retry.nstatuses, 1);
	ck_assert_uint_eq(hc.retry.statuses[0], 418);
	ck_assert_uint_eq(hc.retry.backoff_max, 2000);
	ck_assert_uint_eq(hc.connect_timeout, 1000);
	http_client_conf_clear(&hc);
}
END_TEST

START_TEST(test_parse_retry_after)
{
	ck_assert(http_parse_retry_after("120", 0) == 120.0);
	ck_assert(isnan(http_parse_retry_after("soon", 0)));
	ck_assert(isnan(http_parse_retry_after("-1", 0)));
	ck_assert(isnan(http_parse_retry_after(NULL, 0)));
	ck_assert(http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
	    784111777.0 - 30) == 30.0);
	ck_assert(http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
	    784111777.0 + 30) == 0.0);
}
END_TEST

START_TEST(test_proxy)
{
	json_object *log, *routes, *n;
	int before = 0;

	/* The proxy must be used for this name whatever the environment. */
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	log = log_get();
	ck_assert(json_object_object_get_ex(log, "by_route", &routes));
	if (json_object_object_get_ex(routes, "GET /tasks/search", &n))
		before = json_object_get_int(n);
	json_object_put(log);

	/* The name does not resolve: only the proxy can answer. */
	client("{\"url\": \"http://pollex-proxy-test.invalid:1/\", "
	    "\"proxy\": \"http://127.0.0.1:%d\"}");
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	ck_assert_int_eq(res[0].status, 200);
	ck_assert_uint_eq(res[0].attempts, 1);
	ck_assert_str_eq(res[0].url,
	    "http://pollex-proxy-test.invalid:1/tasks/search?task_id=1");

	log = log_get();
	ck_assert(json_object_object_get_ex(log, "by_route", &routes));
	ck_assert(json_object_object_get_ex(routes, "GET /tasks/search", &n));
	ck_assert_int_eq(json_object_get_int(n), before + 1);
	/* The proxy saw the absolute form a client sends to a proxy. */
	ck_assert_str_eq(field(log_entry(log, 0), "uri"),
	    "http://pollex-proxy-test.invalid:1/tasks/search?task_id=1");
	json_object_put(log);
}
END_TEST

/*
 * TLS.  The certificates are made for each test with the openssl command in
 * the test's directory, so none is committed or expires: ca.pem signs
 * server.pem (IP:127.0.0.1, DNS:localhost), other.pem (DNS:other.example
 * only) and client.pem (client authentication); cadir/ holds the CA under
 * its hash name, as ca_dir wants it.
 */
static const char tls_cnf[] =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = unused\n"
    "[ca]\n"
    "basicConstraints = critical,CA:TRUE\n"
    "keyUsage = critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
    "[other]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:other.example\n"
    "[client]\n"
    "basicConstraints = CA:FALSE\n"
    "extendedKeyUsage = clientAuth\n";

static const char tls_sh[] =
    "command -v openssl >/dev/null || {\n"
    "	echo 'openssl: command not found'; exit 127; }\n"
    "set -e\n"
    "k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 -config certs.cnf -extensions ca $k -days 2 \\\n"
    "    -subj '/CN=pollex test CA' -keyout ca.key -out ca.pem\n"
    "serial=1\n"
    "for n in server other client; do\n"
    "	serial=$((serial + 1))\n"
    "	openssl req -new -config certs.cnf $k -subj \"/CN=pollex $n\" \\\n"
    "	    -keyout $n.key -out $n.csr\n"
    "	openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key \\\n"
    "	    -set_serial $serial -days 2 -extfile certs.cnf \\\n"
    "	    -extensions $n -out $n.pem\n"
    "done\n"
    "mkdir cadir\n"
    "cp ca.pem \"cadir/$(openssl x509 -hash -noout -in ca.pem).0\"\n";

static void
tls_certs(void)
{
	char cmd[1024], out[2048], p[512];
	size_t n = 0;
	FILE *f;
	int status;

	free(write_file(tmpdir, "certs.cnf", tls_cnf, 0));
	free(write_file(tmpdir, "certs.sh", tls_sh, 0));
	snprintf(cmd, sizeof cmd,
	    "cd '%s' && /bin/sh ./certs.sh >certs.log 2>&1", tmpdir);
	status = system(cmd);
	if (status == 0)
		return;
	snprintf(p, sizeof p, "%s/certs.log", tmpdir);
	if ((f = fopen(p, "r")) != NULL) {
		n = fread(out, 1, sizeof out - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	/* Loud: CI installs openssl, so a missing one is a broken setup. */
	ck_abort_msg("cannot make the test certificates (the TLS tests need "
	    "the openssl command; scripts/install-deps installs it): %s", out);
}

static void
tls_setup(void)
{
	setup();
	tls_certs();
}

static void
tls_teardown(void)
{
	svc_kill(&tls_pid);
	teardown();
}

/* The HTTPS service with certificate NAME.pem; client_ca: require one. */
static void
tls_start(const char *name, int client_ca)
{
	char pair[1024], ca[512];
	const char *extra[] = { "-T", pair, NULL, NULL, NULL };

	snprintf(pair, sizeof pair, "%s/%s.pem:%s/%s.key", tmpdir, name,
	    tmpdir, name);
	if (client_ca) {
		snprintf(ca, sizeof ca, "%s/ca.pem", tmpdir);
		extra[2] = "-C";
		extra[3] = ca;
	}
	tls_port = svc_spawn(extra, &tls_pid);
	snprintf(tls_base, sizeof tls_base, "https://127.0.0.1:%d", tls_port);
}

/* A client of the HTTPS service at host, with more keys. */
static void
tls_client(const char *host, const char *extra)
{
	char text[1024];

	http_client_free(cl);
	snprintf(text, sizeof text, "{\"url\": \"https://%s:%d/\"%s}", host,
	    tls_port, extra);
	client(text);
}

/* Requests the HTTPS service answered (verified with the test CA). */
static size_t
tls_log_total(void)
{
	char ca[512];
	json_object *log, *t;
	size_t n;

	snprintf(ca, sizeof ca, "%s/ca.pem", tmpdir);
	log = ctl_at(tls_base, ca, "GET", "/_control/requests", NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert(json_object_object_get_ex(log, "total", &t));
	n = (size_t)json_object_get_int(t);
	json_object_put(log);
	return n;
}

/* One GET with retries on; it must succeed with the search's answer. */
static void
tls_get_ok(struct result *x)
{
	submit("GET", "tasks/search?task_id=1", NULL, 1, x);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(x->calls, 1);
	ck_assert_msg(x->error == HTTP_OK, "error %d: %s", x->error,
	    x->error_text);
	ck_assert_int_eq(x->status, 200);
	ck_assert_ptr_nonnull(x->body);
	ck_assert_str_eq(x->body, "[]\n");	/* no task 1 yet */
	ck_assert_uint_eq(x->attempts, 1);
}

/* One GET with retries on; it must fail with a TLS error, once. */
static void
tls_get_fails(struct result *x)
{
	struct http_client_stats st;

	submit("GET", "tasks/search?task_id=1", NULL, 1, x);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(x->calls, 1);
	ck_assert_msg(x->error == HTTP_ERR_TLS, "error %d (%s), want tls",
	    x->error, x->error_text);
	ck_assert_int_eq(x->status, 0);
	ck_assert_uint_eq(x->attempts, 1);	/* not retried */
	ck_assert_ptr_nonnull(x->error_text);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.retries, 0);
}

#define TLS_RETRY ", \"retry\": {\"backoff_initial\": \"1ms\"}"

START_TEST(test_tls_unknown_ca)
{
	tls_start("server", 0);
	tls_client("127.0.0.1", TLS_RETRY);
	tls_get_fails(&res[0]);
	ck_assert_uint_eq(tls_log_total(), 0);
}
END_TEST

START_TEST(test_tls_ca_file)
{
	tls_start("server", 0);
	tls_client("127.0.0.1", TLS_RETRY ", \"ca_file\": \"ca.pem\"");
	tls_get_ok(&res[0]);
	ck_assert_uint_eq(tls_log_total(), 1);
}
END_TEST

START_TEST(test_tls_ca_dir)
{
	/* By name this time: the certificate's DNS entry. */
	tls_start("server", 0);
	tls_client("localhost", TLS_RETRY ", \"ca_dir\": \"cadir\"");
	tls_get_ok(&res[0]);
}
END_TEST

START_TEST(test_tls_host_name)
{
	/* A certificate the CA signed, but for another name. */
	tls_start("other", 0);
	tls_client("127.0.0.1", TLS_RETRY ", \"ca_file\": \"ca.pem\"");
	tls_get_fails(&res[0]);
}
END_TEST

START_TEST(test_tls_verify_off)
{
	tls_start("other", 0);
	tls_client("127.0.0.1", TLS_RETRY ", \"tls_verify\": false");
	tls_get_ok(&res[0]);
}
END_TEST

START_TEST(test_tls_client_cert)
{
	tls_start("server", 1);
	tls_client("127.0.0.1", ", \"ca_file\": \"ca.pem\"");
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 1);
	ck_assert_int_eq(res[0].status, 0);
	ck_assert_uint_eq(res[0].attempts, 1);
	/*
	 * With TLS 1.3 the client's side of the handshake is over before the
	 * server checks the (missing) certificate, so the refusal arrives as
	 * an alert on the first read, or a reset on the first write: libcurl
	 * says "receive" or "send" error, which is the error transfer.
	 */
	ck_assert_msg(res[0].error == HTTP_ERR_TRANSFER ||
	    res[0].error == HTTP_ERR_TLS, "error %d (%s)", res[0].error,
	    res[0].error_text);
	tls_client("127.0.0.1", TLS_RETRY ", \"ca_file\": \"ca.pem\", "
	    "\"client_cert\": \"client.pem\", \"client_key\": \"client.key\"");
	tls_get_ok(&res[1]);
}
END_TEST

static void
tls_conf_err(const char *extra, const char *want)
{
	char text[1024];

	snprintf(text, sizeof text, "{\"url\": \"https://127.0.0.1:1/\"%s}",
	    extra);
	conf_err(text, want);
}

START_TEST(test_tls_bad_files)
{
	/* Missing files: the configuration names the key. */
	tls_conf_err(", \"ca_file\": \"missing.pem\"", "ca_file: ");
	tls_conf_err(", \"ca_dir\": \"missing\"", "ca_dir: ");
	tls_conf_err(", \"client_cert\": \"missing.pem\", "
	    "\"client_key\": \"client.key\"", "client_cert: ");
	tls_conf_err(", \"client_cert\": \"client.pem\", "
	    "\"client_key\": \"missing.key\"", "client_key: ");

	/* Files that are there but are no certificates: the error tls. */
	free(write_file(tmpdir, "junk.pem", "not a certificate\n", 0));
	tls_start("server", 0);
	tls_client("127.0.0.1", TLS_RETRY ", \"ca_file\": \"junk.pem\"");
	tls_get_fails(&res[0]);
	tls_client("127.0.0.1", TLS_RETRY ", \"ca_file\": \"ca.pem\", "
	    "\"client_cert\": \"client.pem\", \"client_key\": \"junk.pem\"");
	tls_get_fails(&res[1]);
	ck_assert_uint_eq(tls_log_total(), 0);
}
END_TEST

/*
 * HTTP/2.  The test service is evhttp, which speaks HTTP/1.1 only, so these
 * tests serve a file with nghttpd (Debian's nghttp2-server) over TLS with
 * the test CA's server certificate: ALPN offers h2 and libcurl takes it.
 */
static const char h2_body[] = "hello over HTTP/2\n";

static void
h2_kill(void)
{
	int status;

	/* SIGKILL: nothing to flush, and the wait is never unbounded. */
	if (h2_pid > 0) {
		kill(h2_pid, SIGKILL);
		waitpid(h2_pid, &status, 0);
		h2_pid = -1;
	}
}

static void
h2_teardown(void)
{
	h2_kill();
	tls_teardown();
}

static uint64_t
h2_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Wait until nghttpd accepts on h2_port: 1, or 0 when it exited first (the
 * port taken between closed_port() and its bind).  nghttpd says nothing
 * when it is listening, so connect() is tried until it succeeds; the
 * pause between tries only paces them, the connect decides.
 */
static int
h2_wait(void)
{
	struct sockaddr_in sin;
	uint64_t deadline = h2_now_ms() + LOOP_LIMIT_MS;
	int s, rv, status;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)h2_port);
	for (;;) {
		if (waitpid(h2_pid, &status, WNOHANG) == h2_pid) {
			h2_pid = -1;
			return 0;
		}
		ck_assert_int_ge(s = socket(AF_INET, SOCK_STREAM, 0), 0);
		rv = connect(s, (struct sockaddr *)&sin, sizeof sin);
		close(s);
		if (rv == 0)
			return 1;
		ck_assert_msg(h2_now_ms() < deadline, "nghttpd is not accepting "
		    "on port %d after %d ms", h2_port, LOOP_LIMIT_MS);
		poll(NULL, 0, 10);
	}
}

/*
 * nghttpd's path.  Debian installs it in /usr/sbin, which is not in a user's
 * PATH, so the sbin directories are searched after PATH.
 */
static void
h2_find(char *out, size_t len)
{
	const char *env = getenv("PATH");
	char dirs[4096], *dir, *last;

	snprintf(dirs, sizeof dirs, "%s:/usr/local/sbin:/usr/sbin:/sbin",
	    env != NULL ? env : "");
	for (dir = strtok_r(dirs, ":", &last); dir != NULL;
	    dir = strtok_r(NULL, ":", &last)) {
		snprintf(out, len, "%s/nghttpd", dir);
		if (access(out, X_OK) == 0)
			return;
	}
	/* Loud: CI installs it, so a missing one is a broken setup. */
	ck_abort_msg("nghttpd not found in PATH or the sbin directories: the "
	    "HTTP/2 test needs it (Debian's nghttp2-server; "
	    "scripts/install-deps installs it)");
}

/* Start nghttpd serving htdocs/hello.txt; h2_port is its port. */
static void
h2_start(void)
{
	char docs[512], key[512], cert[512], port[16], logp[512], out[2048];
	char path[4096];
	size_t n = 0;
	pid_t parent = getpid();
	FILE *f;
	int tries, fd;

	h2_find(path, sizeof path);
	snprintf(docs, sizeof docs, "%s/htdocs", tmpdir);
	ck_assert_int_eq(mkdir(docs, 0755), 0);
	free(write_file(docs, "hello.txt", h2_body, 0));
	snprintf(key, sizeof key, "%s/server.key", tmpdir);
	snprintf(cert, sizeof cert, "%s/server.pem", tmpdir);
	snprintf(logp, sizeof logp, "%s/nghttpd.log", tmpdir);
	for (tries = 1; tries <= 3; tries++) {
		h2_port = closed_port();
		snprintf(port, sizeof port, "%d", h2_port);
		h2_pid = fork();
		ck_assert_int_ne(h2_pid, -1);
		if (h2_pid == 0) {
			/* Die with the test: a timeout skips the teardown. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
			    getppid() != parent)
				_exit(126);
			fd = open(logp, O_WRONLY|O_CREAT|O_APPEND, 0644);
			if (fd != -1) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
			execl(path, "nghttpd", "-a", "127.0.0.1", "-d",
			    docs, port, key, cert, (char *)NULL);
			_exit(127);
		}
		if (h2_wait())
			return;
	}
	if ((f = fopen(logp, "r")) != NULL) {
		n = fread(out, 1, sizeof out - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	ck_abort_msg("nghttpd exited before it listened: %s", out);
}

START_TEST(test_http2_alpn)
{
	struct http_client_stats st;
	char text[1024];
	int i;

	h2_start();
	snprintf(text, sizeof text, "{\"url\": \"https://127.0.0.1:%d/\", "
	    "\"ca_file\": \"ca.pem\"}", h2_port);
	client(text);

	/*
	 * Both at once, so both are in flight before any connection exists:
	 * with CURLOPT_PIPEWAIT the second waits for the first's connection,
	 * learns from ALPN that it multiplexes, and goes on it as a stream.
	 */
	submit("GET", "hello.txt", NULL, 0, &res[0]);
	submit("GET", "hello.txt", NULL, 0, &res[1]);
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.in_flight, 2);
	run(2, LOOP_LIMIT_MS);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert_msg(res[i].error == HTTP_OK, "error %d: %s",
		    res[i].error, res[i].error_text);
		ck_assert_int_eq(res[i].status, 200);
		ck_assert_str_eq(res[i].body, h2_body);
		ck_assert_int_eq(res[i].http_version, 20);
	}
	http_client_stats(cl, &st);
	ck_assert_uint_eq(st.requests, 2);
	ck_assert_uint_eq(st.connects, 1);

	/* The HTTPS test service offers no h2: the same client settings
	 * fall back to HTTP/1.1. */
	tls_start("server", 0);
	tls_client("127.0.0.1", ", \"ca_file\": \"ca.pem\"");
	tls_get_ok(&res[2]);
	ck_assert_int_eq(res[2].http_version, 11);
}
END_TEST

/* ---- compressed responses ---- */

/* The service compresses its real answers (a fault with only "encoding"):
 * pollexd asked for gzip, and the callback gets the decoded body. */
START_TEST(test_gzip_decoded)
{
	json_object *log, *e;

	client(CONF(""));
	fault("{\"count\": 1, \"fault\": {\"encoding\": \"gzip\"}}");
	fault("{\"count\": 1, \"fault\": {\"encoding\": \"deflate\", "
	    "\"body\": {\"deflated\": \"h\u00e9llo\"}}}");
	submit("POST", "tasks", "{\"object\": \"z1\", \"duration_ms\": 0}", 0,
	    &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_msg(res[0].error == HTTP_OK, "%s", res[0].error_text);
	ck_assert_int_eq(res[0].status, 201);
	ck_assert_str_eq(res[0].body, "{\"task_id\":1}\n");
	submit("GET", "anything", NULL, 0, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_msg(res[1].error == HTTP_OK, "%s", res[1].error_text);
	ck_assert_str_eq(res[1].body, "{\"deflated\":\"h\u00e9llo\"}");
	log = log_get();
	e = log_entry(log, 0);
	ck_assert_ptr_nonnull(field(e, "accept_encoding"));
	ck_assert_ptr_nonnull(strstr(field(e, "accept_encoding"), "gzip"));
	ck_assert_ptr_nonnull(strstr(field(e, "accept_encoding"), "deflate"));
	json_object_put(log);
}
END_TEST

/* max_response is the decoded size: 10 MB of JSON gzipped to ~10 kB is
 * refused at 1 MiB, named as a decoded body, in one attempt. */
START_TEST(test_gzip_bomb)
{
	client(CONF(", \"max_response\": 1048576"));
	fault("{\"count\": 1, \"fault\": {\"bomb_bytes\": 10000000}}");
	submit("GET", "a", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 1);
	ck_assert_int_eq(res[0].error, HTTP_ERR_TOO_LARGE);
	ck_assert_uint_eq(res[0].attempts, 1);
	ck_assert_msg(strstr(res[0].error_text, "over 1048576 bytes once "
	    "decoded (Content-Encoding: gzip)") != NULL, "%s",
	    res[0].error_text);
	/* A bomb under the limit decodes whole. */
	fault("{\"count\": 1, \"fault\": {\"bomb_bytes\": 1000000}}");
	submit("GET", "a", NULL, 1, &res[1]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_msg(res[1].error == HTTP_OK, "%s", res[1].error_text);
	ck_assert_uint_eq(strlen(res[1].body), 1000000);
}
END_TEST

/* A body that does not decode is the error "decode", not retried. */
START_TEST(test_gzip_corrupt)
{
	client(CONF(""));
	fault("{\"count\": 1, \"fault\": {\"corrupt_encoding\": true, "
	    "\"body\": {\"a\": \"bcdefghijklmnopqrstuvwxyz\"}}}");
	submit("GET", "a", NULL, 1, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].calls, 1);
	ck_assert_int_eq(res[0].error, HTTP_ERR_DECODE);
	ck_assert_uint_eq(res[0].attempts, 1);
	ck_assert_msg(strstr(res[0].error_text, "does not decode "
	    "(Content-Encoding: gzip)") != NULL, "%s", res[0].error_text);
	ck_assert_uint_eq(log_total(), 1);
}
END_TEST

/* "compression": false asks for nothing (and decodes nothing). */
START_TEST(test_compression_off)
{
	json_object *log;

	client(CONF(", \"compression\": false"));
	submit("GET", "tasks/search?task_id=1", NULL, 0, &res[0]);
	run(1, LOOP_LIMIT_MS);
	ck_assert_int_eq(res[0].error, HTTP_OK);
	log = log_get();
	ck_assert_ptr_null(field(log_entry(log, 0), "accept_encoding"));
	json_object_put(log);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_get_post);
	tcase_add_test(tc, test_relative_urls);
	tcase_add_test(tc, test_absolute_path_urls);
	tcase_add_test(tc, test_connection_reuse);
	tcase_add_test(tc, test_max_requests);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_proxy);
	suite_add_tcase(s, tc);

	/* Each test makes its certificates and starts a second service. */
	tc = tcase_create("tls");
	tcase_add_checked_fixture(tc, tls_setup, tls_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tls_unknown_ca);
	tcase_add_test(tc, test_tls_ca_file);
	tcase_add_test(tc, test_tls_ca_dir);
	tcase_add_test(tc, test_tls_host_name);
	tcase_add_test(tc, test_tls_verify_off);
	tcase_add_test(tc, test_tls_client_cert);
	tcase_add_test(tc, test_tls_bad_files);
	suite_add_tcase(s, tc);

	/* nghttpd as well as the HTTPS service: a generous timeout. */
	tc = tcase_create("http2");
	tcase_add_checked_fixture(tc, tls_setup, h2_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_http2_alpn);
	suite_add_tcase(s, tc);

	tc = tcase_create("retries");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_retry_then_success);
	tcase_add_test(tc, test_no_retry_when_not_asked);
	tcase_add_test(tc, test_retry_after_seconds);
	tcase_add_test(tc, test_retry_after_date);
	tcase_add_test(tc, test_retry_after_ms);
	tcase_add_test(tc, test_attempts_exhausted);
	tcase_add_test(tc, test_retry_after_too_long);
	tcase_add_test(tc, test_status_not_retried);
	tcase_add_test(tc, test_parse_retry_after);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_reset_and_truncated);
	tcase_add_test(tc, test_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("compression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_gzip_decoded);
	tcase_add_test(tc, test_gzip_bomb);
	tcase_add_test(tc, test_gzip_corrupt);
	tcase_add_test(tc, test_compression_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("redirects and hosts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_redirect_loop);
	tcase_add_test(tc, test_redirect_methods);
	tcase_add_test(tc, test_authorization_dropped_on_host_change);
	tcase_add_test(tc, test_redirect_host_not_allowed);
	tcase_add_test(tc, test_untrusted_url);
	suite_add_tcase(s, tc);

	tc = tcase_create("token and configuration");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_token_credentials_directory);
	tcase_add_test(tc, test_token_never_in_error_text);
	tcase_add_test(tc, test_conf_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(http_suite());
}
