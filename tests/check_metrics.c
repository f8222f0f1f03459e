/* SPDX-License-Identifier: ISC */
/* check_metrics.c: GET /metrics of the real pollexd: the values against
 * Stats and the polls the test poller saw, the exposition format checked
 * line by line, and the listener's failures. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "harness.h"
#include "pollex.h"
#include "testlib.h"

#define T 10000		/* ms: bound for what should be quick */

static struct tdaemon *td;
static pollex *c;
static int held_fd = -1;	/* a listening socket holding a port */

static void
setup(void)
{
	td = td_new();
	c = NULL;
}

static void
teardown(void)
{
	pollex_close(c);
	if (held_fd != -1)
		close(held_fd);
	held_fd = -1;
	td_finish(td);
}

/* A TCP socket on 127.0.0.1 with a port the kernel chose; listening when
 * listen_too.  Its port in *port. */
static int
port_socket(int listen_too, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	if (listen_too)
		ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port nothing listens on now (the daemon takes it right after). */
static int
free_port(void)
{
	int port, fd = port_socket(0, &port);

	close(fd);
	return port;
}

/* Start with poller "p" on the test poller and metrics on port. */
static void
start(int port)
{
	char *conf;
	int r;

	if (asprintf(&conf, "{ \"metrics_listen\": \"127.0.0.1:%d\", "
	    "\"pollers\": {\"p\": {\"kind\": \"exec\", \"poll\": %s, "
	    "\"interval\": \"100ms\"}}}", port, td->poll_argv) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(conf);
	r = pollex_connect(td->sock, &c);
	ck_assert_msg(r == 0, "connect: %s", pollex_strerror(r));
	pollex_set_timeout(c, 20000);
}

/* GET path over HTTP/1.0 with a plain socket, bounded by T: the status
 * code, the whole response in *resp (headers and body). */
static int
http_get(int port, const char *path, char **resp)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	char req[256], *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, code = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "connect to port %d: %s", port, strerror(errno));
	snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
	    path);
	ck_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ck_assert_msg(poll(&pfd, 1, T) == 1, "no response in time");
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = read(fd, buf + len, cap - len - 1);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	sscanf(buf, "HTTP/1.%*d %d", &code);
	*resp = buf;
	return code;
}

/* The body of a response (after the blank line). */
static char *
body_of(char *resp)
{
	char *b = strstr(resp, "\r\n\r\n");

	ck_assert_ptr_nonnull(b);
	return b + 4;
}

/*
 * A strict reading of the text format 0.0.4: every line a HELP, a TYPE
 * (before the family's samples, one per family) or a sample of the family
 * of the last TYPE, with well-formed, escaped labels and a number.
 */
static void
check_format(const char *text)
{
	regex_t sample, help, type;
	regmatch_t m[2];
	char family[128] = "", ftype[32] = "", *copy, *line, *save, name[128];
	size_t nl;
	int nfam = 0;

	ck_assert_int_eq(regcomp(&sample, "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
	    "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
	    "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
	    " (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)$",
	    REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) "
	    "[^\n]+$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
	    "(counter|gauge|histogram|summary|untyped)$", REG_EXTENDED), 0);
	nl = strlen(text);
	ck_assert_msg(nl > 0 && text[nl - 1] == '\n', "no final newline");
	copy = strdup(text);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&help, line, 2, m, 0) == 0)
			continue;
		if (regexec(&type, line, 2, m, 0) == 0) {
			snprintf(family, sizeof family, "%.*s",
			    (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
			snprintf(ftype, sizeof ftype, "%s",
			    strrchr(line, ' ') + 1);
			ck_assert_msg(strncmp(family, "pollex_", 7) == 0,
			    "%s", line);
			if (strcmp(ftype, "counter") == 0)
				ck_assert_msg(strlen(family) > 6 &&
				    strcmp(family + strlen(family) - 6,
				    "_total") == 0, "counter %s", family);
			nfam++;
			continue;
		}
		ck_assert_msg(regexec(&sample, line, 2, m, 0) == 0,
		    "not a sample: \"%s\"", line);
		snprintf(name, sizeof name, "%.*s",
		    (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
		if (strcmp(ftype, "histogram") == 0) {
			size_t fl = strlen(family);
			ck_assert_msg(strncmp(name, family, fl) == 0 &&
			    (strcmp(name + fl, "_bucket") == 0 ||
			    strcmp(name + fl, "_sum") == 0 ||
			    strcmp(name + fl, "_count") == 0),
			    "%s outside family %s", name, family);
		} else
			ck_assert_msg(strcmp(name, family) == 0,
			    "%s outside family %s", name, family);
	}
	ck_assert_int_ge(nfam, 10);
	free(copy);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
}

/* The value of the sample line that starts with "series " (-1: none). */
static double
value_of(const char *text, const char *series)
{
	const char *p = text;
	size_t sl = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
		p += sl;
	}
	return -1;
}

static char *
submit(const char *name)
{
	pollex_spec *s = pollex_spec_new("p");
	char ref[256], *id = NULL;
	int r;

	snprintf(ref, sizeof ref, "{\"name\": \"%s\"}", name);
	ck_assert_int_eq(pollex_spec_set_ref(s, ref), 0);
	r = pollex_submit(c, s, &id, NULL);
	ck_assert_msg(r == 0, "submit: %s", pollex_error_message(c));
	pollex_spec_free(s);
	return id;
}

/* Stats' tasks.STATE. */
static long long
stats_tasks(const char *state)
{
	char *js = NULL;
	json_object *o, *tasks, *v;
	long long n;

	ck_assert_int_eq(pollex_stats(c, &js), 0);
	o = json_tokener_parse(js);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "tasks", &tasks));
	ck_assert(json_object_object_get_ex(tasks, state, &v));
	n = json_object_get_int64(v);
	json_object_put(o);
	free(js);
	return n;
}

START_TEST(test_metrics_match_stats)
{
	static const char *const states[] = { "starting", "pending",
		"succeeded", "failed", "cancelled", "expired" };
	const char *bounds[] = { "0.005", "0.01", "0.025", "0.05", "0.1",
		"0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf" };
	char *ids[3], *resp, *body, series[160], note[128];
	const char *wait_ids[2];
	pollex_task **done = NULL;
	size_t ndone, i;
	double prev, v, polls;
	int port = free_port(), r;

	td_set(td, "outcomes/a", "{\"state\": \"succeeded\", \"result\": 1}");
	td_set(td, "outcomes/b", "{\"state\": \"failed\", \"error\": "
	    "{\"code\": \"E\", \"message\": \"no\"}}");
	start(port);
	ids[0] = submit("a");
	ids[1] = submit("b");
	ids[2] = submit("c");
	wait_ids[0] = ids[0];
	wait_ids[1] = ids[1];
	r = pollex_wait(c, wait_ids, 2, POLLEX_ALL_COMPLETED, 10, &done,
	    &ndone, NULL);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(ndone, 2);
	pollex_tasks_free(done, ndone);
	/* The poll that settled a and b has ended; scrape until a later
	 * one (of c alone, notes "poll 1") has too, each try after a poll
	 * note (bounded by td_note's timeout). */
	for (i = 0;; i++) {
		ck_assert_int_eq(http_get(port, "/metrics", &resp), 200);
		if (value_of(body_of(resp),
		    "pollex_polls_total{poller=\"p\"}") >= 2)
			break;
		ck_assert_msg(i < 20, "polls not counted");
		free(resp);
		ck_assert_msg(td_note(td, T, note, sizeof note) == 0,
		    "no poll note");
	}
	ck_assert_msg(strstr(resp, "Content-Type: text/plain; version=0.0.4")
	    != NULL, "%s", resp);
	body = body_of(resp);
	check_format(body);

	for (i = 0; i < sizeof states / sizeof states[0]; i++) {
		snprintf(series, sizeof series,
		    "pollex_tasks{poller=\"p\",state=\"%s\"}", states[i]);
		ck_assert_msg(value_of(body, series) ==
		    (double)stats_tasks(states[i]), "%s: %g", series,
		    value_of(body, series));
	}
	ck_assert(value_of(body, "pollex_tasks{poller=\"p\",state=\"succeeded\"}")
	    == 1);
	ck_assert(value_of(body, "pollex_tasks{poller=\"p\",state=\"failed\"}")
	    == 1);
	ck_assert(value_of(body, "pollex_tasks{poller=\"p\",state=\"pending\"}")
	    == 1);
	ck_assert(value_of(body, "pollex_submits_total") == 3);
	ck_assert(value_of(body, "pollex_completions_total") == 2);
	ck_assert(value_of(body, "pollex_build_info{version=\""
	    PACKAGE_VERSION "\"}") == 1);
	ck_assert(value_of(body, "pollex_up") == 1);
	ck_assert(value_of(body, "pollex_connections") == 1);
	ck_assert(value_of(body, "pollex_clients_dropped_total") == 0);

	/* At least the poll that settled a and b and the one of c alone. */
	polls = value_of(body, "pollex_polls_total{poller=\"p\"}");
	ck_assert_msg(polls >= 2, "polls %g", polls);
	ck_assert(value_of(body, "pollex_poll_failures_total{poller=\"p\"}")
	    == 0);
	prev = 0;
	for (i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
		snprintf(series, sizeof series, "pollex_poll_duration_seconds_"
		    "bucket{poller=\"p\",le=\"%s\"}", bounds[i]);
		v = value_of(body, series);
		ck_assert_msg(v >= prev, "%s: %g < %g", series, v, prev);
		prev = v;
	}
	ck_assert(prev == polls);
	ck_assert(value_of(body,
	    "pollex_poll_duration_seconds_count{poller=\"p\"}") == polls);
	ck_assert(value_of(body,
	    "pollex_poll_duration_seconds_sum{poller=\"p\"}") > 0);

	/* Every Submit was acknowledged after a commit. */
	ck_assert(value_of(body, "pollex_store_commits_total") >= 1);
	ck_assert(value_of(body, "pollex_store_commit_duration_seconds_count")
	    == value_of(body, "pollex_store_commits_total"));
	ck_assert(value_of(body,
	    "pollex_store_commit_duration_seconds_bucket{le=\"+Inf\"}") ==
	    value_of(body, "pollex_store_commits_total"));
	free(resp);

	ck_assert_int_eq(http_get(port, "/other", &resp), 404);
	free(resp);
	ck_assert_int_eq(http_get(port, "/metrics?x=1", &resp), 200);
	free(resp);
	for (i = 0; i < 3; i++)
		free(ids[i]);
}
END_TEST

/* A port taken: pollexd does not start, and says which key. */
START_TEST(test_bind_failure_refuses_start)
{
	char *conf, *log;
	int port;

	held_fd = port_socket(1, &port);
	if (asprintf(&conf, "{ \"metrics_listen\": \"127.0.0.1:%d\" }",
	    port) == -1)
		abort();
	ck_assert_int_eq(td_start(td, conf), -1);
	free(conf);
	ck_assert(WIFEXITED(td->status));
	ck_assert_int_eq(WEXITSTATUS(td->status), 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, "metrics_listen") != NULL, "%s", tail(log));
	free(log);
}
END_TEST

/* Oversized request headers are refused; the daemon goes on. */
START_TEST(test_oversized_request)
{
	char *big, *resp, *conf;
	struct sockaddr_in sin;
	struct pollfd pfd;
	char buf[512];
	int port = free_port(), fd;
	size_t n = 64 * 1024;

	if (asprintf(&conf, "{ \"metrics_listen\": \"127.0.0.1:%d\" }",
	    port) == -1)
		abort();
	ck_assert_msg(td_start(td, conf) == 0, "%s", tail(td_log(td)));
	free(conf);
	big = malloc(n + 64);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "GET /metrics HTTP/1.0\r\nX: ");
	memset(big + strlen(big), 'a', n);
	big[n + 26] = '\0';
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	(void)!write(fd, big, strlen(big));
	pfd.fd = fd;
	pfd.events = POLLIN;
	/* Closed (or answered with an error), within the bound. */
	ck_assert_msg(poll(&pfd, 1, T) == 1, "no answer to oversized headers");
	if (read(fd, buf, sizeof buf - 1) > 0)
		ck_assert_msg(strncmp(buf, "HTTP/1.1 2", 10) != 0,
		    "oversized request answered 2xx");
	close(fd);
	free(big);
	ck_assert_int_eq(http_get(port, "/metrics", &resp), 200);
	free(resp);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_metrics_match_stats);
	tcase_add_test(tc, test_bind_failure_refuses_start);
	tcase_add_test(tc, test_oversized_request);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return check_run(metrics_suite());
}
