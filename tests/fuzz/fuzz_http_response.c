/* SPDX-License-Identifier: ISC */
/*
 * fuzz_http_response.c: what the HTTP pollers make of responses
 * (daemon/http/kinds.c: http-batch searches, http-each status polls,
 * start responses and start_ref, long-running operations, cancels; with
 * rules.c reading them), from status, headers and body to outcomes.
 *
 * No request leaves: the transport's entry points are replaced (ld
 * --wrap) by a recorder, and the fuzzer answers each recorded request.
 * The first byte chooses the scenario (see scenarios[]); the rest is up
 * to four responses cut at "\n--\n", each "STATUS\nName: value\n...\n\n"
 * then the body (STATUS 0: a transport error).  "$0".."$9" become the
 * task ids.  Tasks are submitted, waited for and read through the
 * methods, so outcomes travel to the replies, which must be readable.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzzlib.h"
#include "fzdaemon.h"
#include "http.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char conf_text[] =
    "{\"store\": \"none\", \"pollers\": {\n"
    " \"b\": {\"kind\": \"http-batch\", \"url\": \"http://svc.test\",\n"
    "  \"coalesce\": \"0\", \"interval\": \"10ms\", \"fail_after\": 2,\n"
    "  \"start\": {\"method\": \"POST\", \"url\": \"/start\", \"body\": \"{{args}}\"},\n"
    "  \"start_ref\": {\"task_id\": \"/task_id\", \"loc\": \"header:Location\"},\n"
    "  \"poll\": {\"method\": \"POST\", \"url\": \"/search?ids={{ids}}\",\n"
    "           \"body\": {\"task_id\": \"{{refs/task_id}}\"}},\n"
    "  \"items\": \"/items\", \"item_id\": \"/id\", \"ref_id\": \"/task_id\",\n"
    "  \"absent\": \"failed\",\n"
    "  \"outcome\": {\"rules\": [\n"
    "    {\"path\": \"/state\", \"equals\": \"done\", \"state\": \"succeeded\"},\n"
    "    {\"path\": \"/state\", \"in\": [\"error\", \"cancelled\"], \"state\": \"failed\"},\n"
    "    {\"header\": \"X-Stop\", \"exists\": true, \"state\": \"failed\"}],\n"
    "   \"result\": \"/result\", \"error_message\": \"/message\",\n"
    "   \"error_code\": \"/code\", \"progress\": \"/progress\"},\n"
    "  \"cancel\": {\"method\": \"DELETE\", \"url\": \"/t/{{ref/task_id}}\"},\n"
    "  \"cancel_refused\": [409, 412], \"cancel_message\": \"/message\"},\n"
    " \"h\": {\"kind\": \"http-each\", \"url\": \"http://svc.test/api/\",\n"
    "  \"coalesce\": \"0\", \"interval\": \"10ms\", \"fail_after\": 2,\n"
    "  \"poll\": {\"url\": \"t/{{ref/task_id}}\", \"headers\": {\"X-Id\": \"{{id}}\"}},\n"
    "  \"outcome\": {\"rules\": [\n"
    "    {\"status\": 404, \"state\": \"failed\"},\n"
    "    {\"status\": \"5xx\", \"state\": \"pending\"},\n"
    "    {\"path\": \"/steps\", \"all\": \"ok\", \"state\": \"succeeded\"},\n"
    "    {\"path\": \"/steps\", \"any\": \"broken\", \"ignore_case\": true, \"state\": \"failed\"}],\n"
    "   \"result\": \"\", \"progress\": \"/pct\"},\n"
    "  \"cancel\": {\"method\": \"POST\", \"url\": \"t/{{ref/task_id}}/cancel\"}},\n"
    " \"l\": {\"kind\": \"http-each\", \"url\": \"http://svc.test\", \"lro\": true,\n"
    "  \"coalesce\": \"0\", \"interval\": \"10ms\", \"fail_after\": 2,\n"
    "  \"allowed_hosts\": [\"svc.test\", \"other.test\"],\n"
    "  \"start\": {\"method\": \"PUT\", \"url\": \"/r/{{args/name}}\",\n"
    "            \"body\": {\"size\": \"{{args/size}}\"}}},\n"
    " \"f\": {\"kind\": \"http-each\", \"url\": \"http://svc.test\", \"lro\": true,\n"
    "  \"coalesce\": \"0\", \"interval\": \"10ms\", \"final_state_via\": \"original-uri\",\n"
    "  \"start\": {\"method\": \"POST\", \"url\": \"/r\", \"body\": \"{{args}}\"}}}}\n";

/* What each scenario submits, and the call made after it (or NULL). */
static const struct {
	const char *submit, *then;
} scenarios[8] = {
	{ "{\"poller\":\"b\",\"ref\":{\"task_id\":1}},"
	  "{\"poller\":\"b\",\"ref\":{\"task_id\":\"2\"}},"
	  "{\"poller\":\"b\",\"ref\":{\"task_id\":1}}", NULL },
	{ "{\"poller\":\"h\",\"ref\":{\"task_id\":\"a/b c\"}}", NULL },
	{ "{\"poller\":\"b\",\"args\":{\"n\":1}}", NULL },
	{ "{\"poller\":\"l\",\"args\":{\"name\":\"vm1\",\"size\":\"s\"}}", NULL },
	{ "{\"poller\":\"h\",\"ref\":{\"task_id\":7}}",
	  "{\"method\":\"io.pollex.Cancel\",\"parameters\":{\"id\":\"$0\"}}" },
	{ "{\"poller\":\"b\",\"ref\":{\"task_id\":8}}",
	  "{\"method\":\"io.pollex.Cancel\",\"parameters\":{\"id\":\"$0\"}}" },
	{ "{\"poller\":\"f\",\"args\":{\"x\":[1]}}", NULL },
	{ "{\"poller\":\"h\",\"ref\":{\"task_id\":1}},"
	  "{\"poller\":\"h\",\"ref\":{\"task_id\":2}}", NULL },
};

/* A request the poller sent: answered by the fuzzer. */
struct fz_req {
	http_cb cb;
	void *arg;
	char *method, *url, *body;
	int live;
};
static struct fz_req reqs[16];
static size_t nreqs;

/* The headers of the response being delivered. */
struct fz_heads {
	char *name[16], *value[16];
	int n;
};

/* A fake that is never dereferenced (http_get, http_client_new). */
static char fake_http, fake_client;

struct http *__wrap_http_get(struct event_base *);
struct http_client *__wrap_http_client_new(struct http *,
    const struct http_client_conf *, const char *, char **);
void __wrap_http_client_free(struct http_client *);
void __wrap_http_client_stats(const struct http_client *,
    struct http_client_stats *);
struct http_req *__wrap_http_submit(struct http_client *,
    const struct http_request *, http_cb, void *);
void __wrap_http_cancel(struct http_req *);
const char *__wrap_http_response_header(const struct http_response *,
    const char *);

/* http_get() without a transport. */
struct http *
__wrap_http_get(struct event_base *base)
{
	return (struct http *)&fake_http;
}

/* http_client_new() without a transport. */
struct http_client *
__wrap_http_client_new(struct http *h, const struct http_client_conf *hc,
    const char *name, char **cause)
{
	return (struct http_client *)&fake_client;
}

/* Nothing was allocated. */
void
__wrap_http_client_free(struct http_client *cl)
{
}

/* No transport, no counters. */
void
__wrap_http_client_stats(const struct http_client *cl,
    struct http_client_stats *st)
{
	memset(st, 0, sizeof *st);
}

/* Record the request; the fuzzer answers it (or it is cancelled). */
struct http_req *
__wrap_http_submit(struct http_client *cl, const struct http_request *rq,
    http_cb cb, void *arg)
{
	struct fz_req *r;

	if (nreqs == sizeof reqs / sizeof reqs[0])
		fz_fail("more requests than the fuzzer keeps");
	FZ_CHECK(rq->method != NULL && rq->url != NULL, "a request without "
	    "method or URL");
	r = &reqs[nreqs++];
	r->cb = cb;
	r->arg = arg;
	r->method = strdup(rq->method);
	r->url = strdup(rq->url);
	r->body = rq->body != NULL ? strdup(rq->body) : NULL;
	r->live = 1;
	return (struct http_req *)r;
}

/* Forget a request's copies. */
static void
req_done(struct fz_req *r)
{
	free(r->method);
	free(r->url);
	free(r->body);
	r->method = r->url = r->body = NULL;
	r->live = 0;
}

/* http_cancel(): the request will not be answered. */
void
__wrap_http_cancel(struct http_req *req)
{
	struct fz_req *r = (struct fz_req *)req;

	FZ_CHECK(r->live, "http_cancel() of a finished request");
	req_done(r);
}

/* Headers of the response being delivered, last one wins. */
const char *
__wrap_http_response_header(const struct http_response *resp,
    const char *name)
{
	struct fz_heads *h = resp->priv;
	int i;

	for (i = h->n - 1; i >= 0; i--)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* Before the first input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fzd_setup(conf_text);
	return 0;
}

static const struct caller who = { 1000, 1000, 1, 0 };

/* Send one call (JSON text). */
static void
call(struct fzd *d, const char *msg)
{
	fzd_message(d, &who, msg, strlen(msg));
	fzd_loop(d);
}

/* The oldest request not answered yet, or NULL. */
static struct fz_req *
pending(void)
{
	size_t i;

	for (i = 0; i < nreqs; i++)
		if (reqs[i].live)
			return &reqs[i];
	return NULL;
}

/* Answer r with one response piece: head lines, a blank line, body. */
static void
answer(struct fzd *d, struct fz_req *r, const uint8_t *p, size_t len)
{
	struct http_response resp;
	struct fz_heads h;
	char *text, *body, *line, *save = NULL, *colon, *url;
	size_t blen;
	http_cb cb = r->cb;
	void *arg = r->arg;
	const char *ra;

	text = fzd_subst(d, (const char *)p, len, &len);
	if ((body = strstr(text, "\n\n")) != NULL) {
		*body = '\0';
		body += 2;
		blen = len - (size_t)(body - text);
	} else {
		body = text + len;
		blen = 0;
	}
	memset(&resp, 0, sizeof resp);
	memset(&h, 0, sizeof h);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (resp.status == 0 && h.n == 0 && line == text) {
			resp.status = strtol(line, NULL, 10);
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL || h.n == 16)
			continue;
		*colon = '\0';
		h.name[h.n] = line;
		h.value[h.n++] = colon + 1 + (colon[1] == ' ');
	}
	if (resp.status <= 0 || resp.status > 999) {
		resp.status = 0;
		resp.error = HTTP_ERR_CONNECT;
		resp.error_text = "connection refused";
	} else {
		resp.http_version = 11;
		resp.body = body;
		resp.body_len = blen;
	}
	url = strdup(r->url);
	resp.url = url;
	resp.attempts = 1;
	resp.priv = &h;
	ra = __wrap_http_response_header(&resp, "Retry-After");
	resp.retry_after = ra != NULL ? http_parse_retry_after(ra, 0) : NAN;
	req_done(r);
	cb(arg, &resp);
	free(url);
	free(text);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	struct fz_cut cut;
	struct fz_req *r;
	struct fzd *d;
	char msg[1024];
	size_t len, i;
	int s, waits = 0;

	if (size < 1 || size > 1 << 16)
		return 0;
	s = data[0] & 7;
	d = fzd_new();
	/* Every reply is strict JSON, whatever the service sent. */
	d->strict = 1;
	snprintf(msg, sizeof msg, "{\"method\":\"io.pollex.Submit\","
	    "\"parameters\":{\"tasks\":[%s]}}", scenarios[s].submit);
	call(d, msg);
	if (scenarios[s].then != NULL) {
		/* A cancel needs the task pending (after its first poll). */
		call(d, scenarios[s].then);
	}
	call(d, "{\"method\":\"io.pollex.Wait\",\"parameters\":{\"ids\":"
	    "[\"$0\"]},\"more\":true}");
	fz_cut_init(&cut, data + 1, size - 1);
	while (fz_piece(&cut, &p, &len)) {
		while ((r = pending()) == NULL && waits < 3) {
			fzd_wait(d, 11);
			waits++;
		}
		if (r == NULL)
			break;
		answer(d, r, p, len);
		fzd_loop(d);
	}
	call(d, "{\"method\":\"io.pollex.List\",\"parameters\":{}}");
	call(d, "{\"method\":\"io.pollex.Pollers\"}");
	fzd_free(d);
	for (i = 0; i < nreqs; i++)
		if (reqs[i].live)
			req_done(&reqs[i]);
	nreqs = 0;
	return 0;
}
