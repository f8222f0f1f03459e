/* SPDX-License-Identifier: ISC */
/* poller_http.c: the HTTP poller kinds, http-batch and http-each.
 *
 * http-batch is PollExecutor's example as configuration: per batch of
 * pending tasks one request (a search) whose response holds many items;
 * each item is matched to its task by an id and read by the outcome rules.
 * http-each makes one status request per task (the scheduler runs one
 * operation per task, all of a tick's at once); with "lro" it follows the
 * long-running-operation strategies of Azure's LROPoller: a start response
 * with Operation-Location / Azure-AsyncOperation is polled for its status
 * body, one with Location is polled until it stops answering 202, one with
 * neither is final; a final GET fetches the result.  Both kinds may create
 * tasks with a start request and cancel them with a cancel request.
 *
 * Requests go through http.c (libcurl multi on the loop); templates and
 * rules through rules.c.  URLs taken from responses or refs are marked
 * untrusted so the transport holds them to the allowed hosts. */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "http.h"
#include "log.h"
#include "poller.h"
#include "rules.h"
#include "util.h"
#include "xmalloc.h"

#define HK_MAX_REFUSED	16
#define HK_MSG_MAX	300	/* bytes of a remote message quoted in errors */

enum hk_final {
	FINAL_DEFAULT,		/* by the start request's method */
	FINAL_LOCATION,
	FINAL_OPERATION,	/* the status monitor's body is the result */
	FINAL_ORIGINAL,
};

struct hk_refsrc {		/* one field of a ref made from a start */
	char *name;
	char *pointer;		/* into the body, or */
	char *header;		/* a response header */
};

struct hk_conf {
	int each;
	struct http_client_conf hc;
	struct req_tmpl *poll;
	struct rules *outcome;
	/* http-batch */
	char *items, *item_id, *ref_id;
	int absent_failed;
	/* start and cancel */
	struct req_tmpl *start;
	struct hk_refsrc *refsrc;
	size_t nrefsrc;
	struct req_tmpl *cancel;
	uint16_t refused[HK_MAX_REFUSED];
	size_t nrefused;
	char *cancel_message;
	/* http-each LROs */
	int lro;
	enum hk_final final;
	/* run time */
	struct http_client *client;
};

/* An operation's state. */
struct hk_op {
	struct op *op;
	struct hk_conf *hk;
	struct http_req *req;
	struct event *ev;		/* a completion without a request */
	struct req rq;
	struct tmpl_task *tt;		/* the batch, for the search */
	size_t ntt;
	char **tids;			/* http-each: the task's id */
	size_t *tidx;			/* http-batch: index in the batch */
	char **keys;			/* http-batch: each task's match key */
	json_object *ref;		/* http-each: the task's ref */
	json_object *status_doc;	/* LRO: the status monitor's body */
	int stage;			/* LRO: 0 status, 1 final GET */
	char *url;			/* the URL being requested */
};

static void hk_free_conf(void *);

/* ------------------------------------------------------------------ */
/* Configuration */

/* A JSON pointer key ("" is the whole document). */
static int
hk_read_pointer(struct cfg *c, const char *key, char **out)
{
	json_object *v = NULL;
	int r;

	if ((r = cfg_json(c, key, &v)) != 1)
		return r;
	if (!json_object_is_type(v, json_type_string) ||
	    !jptr_valid(json_object_get_string(v))) {
		json_object_put(v);
		return cfg_error(c, key, "expected a JSON pointer (\"\" or "
		    "\"/name/0/...\")");
	}
	*out = xstrdup(json_object_get_string(v));
	json_object_put(v);
	return 1;
}

static void
hk_read_refsrc(struct cfg *c, struct hk_conf *hk)
{
	json_object *o = NULL;
	struct hk_refsrc *rs;
	const char *v;

	if (cfg_json(c, "start_ref", &o) != 1)
		return;
	if (!json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) == 0) {
		cfg_error(c, "start_ref", "must be an object of ref fields, "
		    "each \"/pointer\" into the start response's body or "
		    "\"header:Name\"");
		goto out;
	}
	hk->refsrc = xcalloc(json_object_object_length(o), sizeof *rs);
	json_object_object_foreach(o, name, val) {
		rs = &hk->refsrc[hk->nrefsrc++];
		rs->name = xstrdup(name);
		if (!json_object_is_type(val, json_type_string)) {
			cfg_error(c, "start_ref", "%s: expected a string", name);
			goto out;
		}
		v = json_object_get_string(val);
		if (strncasecmp(v, "header:", 7) == 0 && v[7] != '\0')
			rs->header = xstrdup(v + 7);
		else if (jptr_valid(v))
			rs->pointer = xstrdup(v);
		else {
			cfg_error(c, "start_ref", "%s: \"%s\" is neither a JSON "
			    "pointer nor \"header:Name\"", name, v);
			goto out;
		}
	}
out:
	json_object_put(o);
}

static void
hk_read_refused(struct cfg *c, struct hk_conf *hk)
{
	json_object *o = NULL, *e;
	size_t i;
	int64_t v;

	hk->refused[0] = 409;
	hk->nrefused = 1;
	if (cfg_json(c, "cancel_refused", &o) != 1)
		return;
	if (!json_object_is_type(o, json_type_array) ||
	    json_object_array_length(o) > HK_MAX_REFUSED) {
		cfg_error(c, "cancel_refused", "expected an array of at most %d "
		    "HTTP statuses", HK_MAX_REFUSED);
		goto out;
	}
	hk->nrefused = 0;
	for (i = 0; i < json_object_array_length(o); i++) {
		e = json_object_array_get_idx(o, i);
		v = json_object_get_int64(e);
		if (!json_object_is_type(e, json_type_int) || v < 100 ||
		    v > 599) {
			cfg_error(c, "cancel_refused", "item %zu is not an HTTP "
			    "status (100 to 599)", i);
			goto out;
		}
		hk->refused[hk->nrefused++] = (uint16_t)v;
	}
out:
	json_object_put(o);
}

static void *
hk_configure(struct cfg *c, int each)
{
	struct hk_conf *hk = xcalloc(1, sizeof *hk);
	char *s = NULL;

	hk->each = each;
	if (http_client_conf_read(c, &hk->hc) == -1)
		goto bad;
	cfg_bool(c, "lro", &hk->lro);
	if (hk->lro && !each)
		cfg_error(c, "lro", "only http-each pollers follow "
		    "long-running operations");
	hk->poll = req_tmpl_read(c, "poll", !each);
	if (hk->poll == NULL && !cfg_failed(c) && !hk->lro)
		cfg_error(c, "poll", "missing: the %s request, {\"method\", "
		    "\"url\", \"headers\", \"body\"}", each ? "status" :
		    "search");
	hk->outcome = rules_read(c, "outcome");
	if (hk->outcome == NULL && !cfg_failed(c) && !hk->lro)
		cfg_error(c, "outcome", "missing: the rules that read a "
		    "response, {\"rules\": [...]}");
	if (hk->lro && (hk->poll != NULL || hk->outcome != NULL))
		cfg_error(c, hk->poll != NULL ? "poll" : "outcome",
		    "an \"lro\" poller polls the URLs its start responses "
		    "name and reads their status itself");
	if (!each) {
		hk_read_pointer(c, "items", &hk->items);
		if (hk_read_pointer(c, "item_id", &hk->item_id) == 0)
			cfg_error(c, "item_id", "missing: the JSON pointer to "
			    "an item's task id, such as \"/id\"");
		if (hk_read_pointer(c, "ref_id", &hk->ref_id) == 0)
			cfg_error(c, "ref_id", "missing: the JSON pointer to "
			    "the id in a task's ref, such as \"/task_id\"");
		if (cfg_string(c, "absent", &s) == 1) {
			if (strcmp(s, "failed") == 0)
				hk->absent_failed = 1;
			else if (strcmp(s, "pending") != 0)
				cfg_error(c, "absent", "expected \"pending\" or "
				    "\"failed\"");
		}
		free(s);
		s = NULL;
	}
	if (each && cfg_string(c, "final_state_via", &s) == 1) {
		if (strcmp(s, "location") == 0)
			hk->final = FINAL_LOCATION;
		else if (strcmp(s, "operation-location") == 0 ||
		    strcmp(s, "azure-async-operation") == 0)
			hk->final = FINAL_OPERATION;
		else if (strcmp(s, "original-uri") == 0)
			hk->final = FINAL_ORIGINAL;
		else
			cfg_error(c, "final_state_via", "expected \"location\", "
			    "\"operation-location\", \"azure-async-operation\" "
			    "or \"original-uri\"");
		if (!hk->lro)
			cfg_error(c, "final_state_via", "needs \"lro\": true");
	}
	free(s);
	hk->start = req_tmpl_read(c, "start", 0);
	hk_read_refsrc(c, hk);
	if (hk->refsrc != NULL && hk->start == NULL && !cfg_failed(c))
		cfg_error(c, "start_ref", "needs a \"start\" request");
	if (hk->lro && hk->start == NULL && !cfg_failed(c))
		cfg_error(c, "lro", "needs a \"start\" request, whose response "
		    "names the operation to poll");
	hk->cancel = req_tmpl_read(c, "cancel", 0);
	hk_read_refused(c, hk);
	hk_read_pointer(c, "cancel_message", &hk->cancel_message);
	if (cfg_failed(c))
		goto bad;
	return hk;
bad:
	hk_free_conf(hk);
	return NULL;
}

static void *
hk_configure_batch(struct cfg *c)
{
	return hk_configure(c, 0);
}

static void *
hk_configure_each(struct cfg *c)
{
	return hk_configure(c, 1);
}

static void
hk_free_conf(void *arg)
{
	struct hk_conf *hk = arg;
	size_t i;

	if (hk == NULL)
		return;
	http_client_free(hk->client);
	http_client_conf_clear(&hk->hc);
	req_tmpl_free(hk->poll);
	rules_free(hk->outcome);
	free(hk->items);
	free(hk->item_id);
	free(hk->ref_id);
	req_tmpl_free(hk->start);
	for (i = 0; i < hk->nrefsrc; i++) {
		free(hk->refsrc[i].name);
		free(hk->refsrc[i].pointer);
		free(hk->refsrc[i].header);
	}
	free(hk->refsrc);
	req_tmpl_free(hk->cancel);
	free(hk->cancel_message);
	free(hk);
}

static int
hk_has_start(const void *arg)
{
	const struct hk_conf *hk = arg;

	return hk->start != NULL;
}

static int
hk_has_cancel(const void *arg)
{
	const struct hk_conf *hk = arg;

	return hk->cancel != NULL;
}

/* ------------------------------------------------------------------ */
/* Helpers */

/* The body as JSON, or NULL (empty or not JSON): read as http-batch reads
 * its items in place (jparse_body()), so both kinds judge alike. */
static json_object *
hk_parse(const struct http_response *r)
{
	return jparse_body(r->body, r->body_len);
}

/* A short message from a remote error body, or "". */
static void
hk_remote_message(json_object *doc, const char *pointer, char *buf,
    size_t len)
{
	static const char *const guesses[] = { "/error/message", "/message",
		"/error", "/detail", "/title" };
	json_object *v = NULL;
	size_t i;

	buf[0] = '\0';
	if (doc == NULL)
		return;
	if (pointer != NULL)
		v = jptr_get(doc, pointer);
	for (i = 0; v == NULL && i < nitems(guesses); i++) {
		v = jptr_get(doc, guesses[i]);
		if (v != NULL && !json_object_is_type(v, json_type_string))
			v = NULL;
	}
	/* Cut on a character boundary (and valid UTF-8 whatever json-c
	 * let through). */
	if (v != NULL)
		utf8_copy(buf, len, json_object_get_string(v),
		    strlen(json_object_get_string(v)));
}

/* "HTTP 503 from GET http://...: the message" or the transport error;
 * never more than the URL, the status and the remote message. */
static char *
hk_describe(const char *method, const char *url,
    const struct http_response *r, json_object *doc, const char *pointer)
{
	char msg[HK_MSG_MAX + 1], *s, *v;

	if (r->error != HTTP_OK)
		xasprintf(&s, "%s %s: %s", method, url,
		    r->error_text != NULL ? r->error_text : "request failed");
	else {
		hk_remote_message(doc, pointer, msg, sizeof msg);
		xasprintf(&s, "HTTP %ld from %s %s%s%s", r->status, method,
		    url, *msg ? ": " : "", msg);
	}
	/* The URL may come from a response's header. */
	v = utf8_repair(s, strlen(s), NULL);
	free(s);
	return v;
}

static int
hk_2xx(const struct http_response *r)
{
	return r->error == HTTP_OK && r->status >= 200 && r->status < 300;
}

static const char *
hk_header_cb(void *arg, const char *name)
{
	return http_response_header(arg, name);
}

static struct http_client *
hk_client(struct op *op, struct hk_conf *hk, char **cause)
{
	if (hk->client == NULL)
		hk->client = http_client_new(http_get(op->base), &hk->hc,
		    poller_name(op->poller), cause);
	return hk->client;
}

static struct hk_op *
hk_op_new(struct op *op)
{
	struct hk_op *h = xcalloc(1, sizeof *h);

	h->op = op;
	h->hk = op->conf->kconf;
	op->kstate = h;
	return h;
}

static void
hk_op_free(struct hk_op *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->req != NULL)
		http_cancel(h->req);
	if (h->ev != NULL)
		event_free(h->ev);
	req_clear(&h->rq);
	free(h->tt);
	for (i = 0; i < h->ntt; i++) {
		if (h->tids != NULL)
			free(h->tids[i]);
		if (h->keys != NULL)
			free(h->keys[i]);
	}
	free(h->tids);
	free(h->tidx);
	free(h->keys);
	json_object_put(h->ref);
	json_object_put(h->status_doc);
	free(h->url);
	free(h);
}

/* Send h->rq (or a GET of url, when url is set). */
static int
hk_send(struct hk_op *h, const char *url, int untrusted, int retry,
    http_cb cb, char **cause)
{
	struct http_client *cl;
	struct http_request rq;

	if ((cl = hk_client(h->op, h->hk, cause)) == NULL)
		return -1;
	memset(&rq, 0, sizeof rq);
	if (url != NULL) {
		rq.method = "GET";
		rq.url = url;
	} else {
		rq.method = h->rq.method;
		rq.url = h->rq.url;
		rq.body = h->rq.body;
		rq.headers = (const char *const *)h->rq.headers;
	}
	rq.untrusted_url = untrusted;
	rq.retry = retry;
	free(h->url);
	h->url = xstrdup(rq.url);
	if ((h->req = http_submit(cl, &rq, cb, h)) == NULL) {
		*cause = xstrdup("out of memory");
		return -1;
	}
	return 0;
}

static void
hk_task_view(const struct task *t, struct tmpl_task *tt)
{
	tt->id = t->id;
	tt->ref = t->ref;
	tt->args = t->args;
	tt->labels = t->labels;
	tt->ref_doc = NULL;
}

static void
hk_outcome_init(struct outcome *o, enum px_state st)
{
	memset(o, 0, sizeof *o);
	o->state = st;
	o->progress = NAN;
	o->delay = NAN;
}

/* The operation ends: free its state, then complete it (which frees op). */
static struct op *
hk_detach(struct hk_op *h)
{
	struct op *op = h->op;

	op->kstate = NULL;
	hk_op_free(h);
	return op;
}

static void
hk_poll_failed(struct hk_op *h, const char *why, double retry_after)
{
	struct sched_result r = { 1, why, NAN,
		isfinite(retry_after) && retry_after > 0 ? retry_after : 0 };

	op_poll_done(hk_detach(h), &r);
}

static void
hk_poll_ok(struct hk_op *h, double delay)
{
	struct sched_result r = { 0, NULL, delay, 0 };

	op_poll_done(hk_detach(h), &r);
}

/* ------------------------------------------------------------------ */
/* http-batch: one search per batch */

/* n in decimal, as "%" PRId64 writes it, without the cost of printf
 * (a search of 1,000 tasks formats 2,000 ids). */
static const char *
hk_i64_text(int64_t n, char *buf, size_t len)
{
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = n < 0 ? -(uint64_t)n : (uint64_t)n;
	size_t k;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (n < 0)
		*--p = '-';
	k = (size_t)(tmp + sizeof tmp - p);
	if (k > len)
		return NULL;
	memcpy(buf, p, k);
	return buf;
}

/* The text two ids are compared by: a string's content, else its JSON. */
static const char *
hk_id_text(json_object *v, char *buf, size_t len)
{
	int64_t n;

	if (v == NULL)
		return NULL;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	/* Integers, the common id, without json-c's string buffer; the
	 * same text json-c would write (INT64_MAX may be a larger uint64). */
	if (json_object_is_type(v, json_type_int) &&
	    (n = json_object_get_int64(v)) != INT64_MAX &&
	    hk_i64_text(n, buf, len) != NULL)
		return buf;
	snprintf(buf, len, "%s", json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN));
	return buf;
}

/* hk_id_text() of the value at ptr in checked JSON text, read in place
 * when it is a plain string or an integer; *alloc holds what must be
 * freed. */
static const char *
hk_span_id(const struct jspan_index *doc, const char *ptr, char *buf,
    size_t len, char **alloc)
{
	struct jspan v;
	json_object *o;
	const char *key;
	int64_t n;

	*alloc = NULL;
	if (!jspan_index_pointer(doc, ptr, &v) || jspan_type(v) == JS_NULL)
		return NULL;
	if (jspan_plain_string(v) && v.n - 2 < len) {
		memcpy(buf, v.p + 1, v.n - 2);
		buf[v.n - 2] = '\0';
		return buf;
	}
	if (jspan_int64(v, &n) && n != INT64_MAX &&
	    hk_i64_text(n, buf, len) != NULL)
		return buf;
	if ((o = jspan_json(v)) == NULL)
		return NULL;
	if ((key = hk_id_text(o, buf, len)) != buf)
		key = *alloc = xstrdup(key);
	json_object_put(o);
	return key;
}

static void
hk_batch_done(void *arg, const struct http_response *r)
{
	struct hk_op *h = arg;
	struct hk_conf *hk = h->hk;
	struct op *op = h->op;
	struct rules_scratch sc = { NULL, NULL, NULL };
	struct rule_input in;
	struct outcome o;
	struct jspan body, items, item;
	struct jspan_index ix;
	struct jspan_iter it;
	json_object *doc;
	char buf[128], *why, *seen, *kalloc, *redo = NULL;
	const char *key;
	size_t i, j, t, cap, *slot, *next;
	const size_t NONE = SIZE_MAX;
	int json;

	h->req = NULL;
	if (!hk_2xx(r)) {
		doc = hk_parse(r);
		why = hk_describe(h->rq.method, h->url, r, doc, NULL);
		json_object_put(doc);
		hk_poll_failed(h, why, r->retry_after);
		free(why);
		return;
	}
	/* The response is read in place: a search of 1,000 tasks would
	 * cost thousands of json-c values for the few members the rules
	 * read. */
	json = r->body != NULL && r->body_len > 0 &&
	    jspan_check_json(r->body, r->body_len, &body, &redo) == 0;
	if (!json || !jspan_pointer(body, hk->items != NULL ? hk->items : "",
	    &items) || jspan_type(items) != JS_ARRAY) {
		xasprintf(&why, "%s %s: the response has no array of items "
		    "at \"%s\"%s", h->rq.method, h->url, hk->items != NULL ?
		    hk->items : "", !json ? " (the body is not JSON)" : "");
		hk_poll_failed(h, why, NAN);
		free(why);
		free(redo);
		return;
	}
	/* The tasks by key (open addressing; tasks sharing a key are
	 * chained), then each item to its tasks: the first item for a key
	 * wins, tasks no item names are absent. */
	cap = 16;
	while (cap < 2 * h->ntt)
		cap <<= 1;
	slot = xmalloc(cap * sizeof *slot);
	for (j = 0; j < cap; j++)
		slot[j] = NONE;
	next = xmalloc((h->ntt + 1) * sizeof *next);
	seen = xcalloc(h->ntt + 1, 1);
	for (i = 0; i < h->ntt; i++) {
		next[i] = NONE;
		if (h->keys[i] == NULL)
			continue;
		for (j = hash_str(h->keys[i]) & (cap - 1); slot[j] != NONE;
		    j = (j + 1) & (cap - 1))
			if (strcmp(h->keys[slot[j]], h->keys[i]) == 0)
				break;
		if (slot[j] == NONE)
			slot[j] = i;
		else {			/* after the others of its key */
			for (t = slot[j]; next[t] != NONE; t = next[t])
				;
			next[t] = i;
		}
	}
	memset(&in, 0, sizeof in);
	in.status = r->status;
	in.header = hk_header_cb;
	in.header_arg = (void *)r;
	jspan_iter_init(&it, items);
	while (jspan_next(&it, NULL, &item)) {
		/* Its members found once for the id and the rules. */
		jspan_index_init(&ix, item);
		if ((key = hk_span_id(&ix, hk->item_id, buf, sizeof buf,
		    &kalloc)) == NULL)
			continue;
		for (j = hash_str(key) & (cap - 1); slot[j] != NONE;
		    j = (j + 1) & (cap - 1))
			if (strcmp(h->keys[slot[j]], key) == 0)
				break;
		free(kalloc);
		if (slot[j] == NONE || seen[slot[j]])
			continue;
		in.span = &item;
		in.span_index = &ix;
		rules_eval(hk->outcome, &in, &o, &sc);
		for (t = slot[j]; t != NONE; t = next[t]) {
			seen[t] = 1;
			op_outcome_at(op, h->tidx[t], &o);
		}
		rules_scratch_clear(&sc);
	}
	for (i = 0; i < h->ntt && hk->absent_failed; i++) {
		if (seen[i])
			continue;
		hk_outcome_init(&o, PX_STATE_FAILED);
		o.code = "absent";
		o.message = "the remote service does not know the task "
		    "(absent from the search response)";
		op_outcome_at(op, h->tidx[i], &o);
	}
	free(slot);
	free(next);
	free(seen);
	free(redo);
	hk_poll_ok(h, r->retry_after);
}

static int
hk_batch_poll(struct op *op, char **cause)
{
	struct hk_op *h = hk_op_new(op);
	struct sched_batch *b = op->batch;
	struct task *t;
	struct jspan rs;
	struct jspan_index rix;
	const char *key, *ref;
	char buf[128], *kalloc, *redo;
	size_t i;
	int r;

	h->tt = xcalloc(b->n, sizeof *h->tt);
	h->tidx = xcalloc(b->n, sizeof *h->tidx);
	h->keys = xcalloc(b->n, sizeof *h->keys);
	for (i = 0; i < b->n; i++) {
		if ((t = b->tasks[i]) == NULL)
			continue;
		hk_task_view(t, &h->tt[h->ntt]);
		h->tidx[h->ntt++] = i;
	}
	/* The key each task is matched by: the text of its ref's id, read
	 * in place.  The views point into the tasks, which may go while the
	 * request runs: only the batch indexes and keys are kept. */
	for (i = 0; i < h->ntt; i++) {
		ref = h->tt[i].ref;
		key = kalloc = redo = NULL;
		if (ref != NULL && jspan_check_json(ref, strlen(ref), &rs,
		    &redo) == 0) {
			jspan_index_init(&rix, rs);
			key = hk_span_id(&rix, h->hk->ref_id, buf, sizeof buf,
			    &kalloc);
		}
		h->keys[i] = kalloc != NULL ? kalloc : key != NULL ?
		    xstrdup(key) : NULL;
		free(redo);
	}
	r = req_tmpl_render(h->hk->poll, h->tt, h->ntt, &h->rq, cause);
	free(h->tt);
	h->tt = NULL;
	if (r == -1 || hk_send(h, NULL, 0, 1, hk_batch_done, cause) == -1) {
		op->kstate = NULL;
		hk_op_free(h);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* http-each: one request per task */

static const char *
hk_ref_string(json_object *ref, const char *key)
{
	json_object *v;

	if (ref == NULL || !json_object_object_get_ex(ref, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
hk_each_outcome(struct hk_op *h, const struct outcome *o)
{
	op_outcome(h->op, h->tids[0], o);
	hk_poll_ok(h, NAN);
}

/* A status-check poller: the rules read the response. */
static void
hk_each_done(void *arg, const struct http_response *r)
{
	struct hk_op *h = arg;
	struct rules_scratch sc = { NULL, NULL, NULL };
	struct rule_input in;
	struct outcome o;
	json_object *doc;
	char *why;

	h->req = NULL;
	doc = hk_parse(r);
	memset(&in, 0, sizeof in);
	in.status = r->error == HTTP_OK ? r->status : 0;
	in.transport_error = r->error != HTTP_OK;
	in.error_text = r->error_text;
	in.doc = doc;
	in.header = hk_header_cb;
	in.header_arg = (void *)r;
	rules_eval(h->hk->outcome, &in, &o, &sc);
	if (o.state == PX_STATE_PENDING && !hk_2xx(r)) {
		/* Nothing decided on an error: a failed poll, which counts
		 * towards fail_after. */
		why = hk_describe(h->rq.method, h->url, r, doc, NULL);
		hk_poll_failed(h, why, r->retry_after);
		free(why);
	} else {
		if (o.state == PX_STATE_PENDING && isfinite(r->retry_after))
			o.delay = r->retry_after;
		hk_each_outcome(h, &o);
	}
	rules_scratch_clear(&sc);
	json_object_put(doc);
}

static void hk_lro_done(void *, const struct http_response *);

/* A status-monitor body: "succeeded", "failed", "canceled" or other. */
static enum px_state
hk_lro_status(json_object *doc, const char **word)
{
	json_object *v = doc != NULL ? jptr_get(doc, "/status") : NULL;
	const char *s;

	if (v == NULL)
		v = doc != NULL ? jptr_get(doc, "/properties/provisioningState") :
		    NULL;
	*word = NULL;
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return PX_STATE_PENDING;
	s = *word = json_object_get_string(v);
	if (strcasecmp(s, "succeeded") == 0)
		return PX_STATE_SUCCEEDED;
	if (strcasecmp(s, "failed") == 0 || strcasecmp(s, "canceled") == 0 ||
	    strcasecmp(s, "cancelled") == 0)
		return PX_STATE_FAILED;
	return PX_STATE_PENDING;
}

/* Which URL holds the final result, or NULL when the status body is it. */
static const char *
hk_final_url(struct hk_op *h)
{
	const char *method = hk_ref_string(h->ref, "method");
	json_object *v;

	v = h->status_doc != NULL ? jptr_get(h->status_doc,
	    "/resourceLocation") : NULL;
	if (v != NULL && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	switch (h->hk->final) {
	case FINAL_LOCATION:
		return hk_ref_string(h->ref, "location");
	case FINAL_ORIGINAL:
		return hk_ref_string(h->ref, "original");
	case FINAL_OPERATION:
		return NULL;
	case FINAL_DEFAULT:
		break;
	}
	if (method != NULL && strcasecmp(method, "PUT") == 0)
		return hk_ref_string(h->ref, "original");
	if (method != NULL && strcasecmp(method, "POST") == 0)
		return hk_ref_string(h->ref, "location");
	return NULL;
}

static void
hk_succeed_with(struct hk_op *h, json_object *doc, const char *body_text)
{
	struct outcome o;
	char *text = NULL;

	hk_outcome_init(&o, PX_STATE_SUCCEEDED);
	if (doc != NULL)
		text = json_canonical(doc);
	else if (body_text != NULL)
		text = xstrdup(body_text);
	o.result = text != NULL ? text : "null";
	hk_each_outcome(h, &o);
	free(text);
}

static void
hk_fail_with(struct hk_op *h, json_object *doc, const char *code,
    const char *fallback)
{
	struct outcome o;
	json_object *v;
	char msg[HK_MSG_MAX + 1];

	hk_outcome_init(&o, PX_STATE_FAILED);
	o.code = code;
	v = doc != NULL ? jptr_get(doc, "/error/code") : NULL;
	if (v != NULL && json_object_is_type(v, json_type_string))
		o.code = json_object_get_string(v);
	hk_remote_message(doc, NULL, msg, sizeof msg);
	o.message = *msg ? msg : fallback;
	hk_each_outcome(h, &o);
}

/* Begin the final GET, or finish with the status body. */
static void
hk_lro_final(struct hk_op *h)
{
	const char *url = hk_final_url(h);
	char *cause = NULL;

	if (url == NULL) {
		hk_succeed_with(h, h->status_doc, NULL);
		return;
	}
	h->stage = 1;
	if (hk_send(h, url, 1, 1, hk_lro_done, &cause) == -1) {
		hk_poll_failed(h, cause, NAN);
		free(cause);
	}
}

static void
hk_lro_done(void *arg, const struct http_response *r)
{
	struct hk_op *h = arg;
	const char *kind = hk_ref_string(h->ref, "lro"), *word;
	json_object *doc;
	enum px_state st;
	struct outcome o;
	char *why;

	h->req = NULL;
	doc = hk_parse(r);
	if (h->stage == 1) {			/* the final GET */
		if (hk_2xx(r))
			hk_succeed_with(h, doc, NULL);
		else
			goto failed_poll;
		json_object_put(doc);
		return;
	}
	if (kind != NULL && strcmp(kind, "location") == 0) {
		if (r->error == HTTP_OK && r->status == 202) {
			hk_outcome_init(&o, PX_STATE_PENDING);
			o.delay = r->retry_after;
			hk_each_outcome(h, &o);
		} else if (r->error == HTTP_OK && (r->status == 200 ||
		    r->status == 201 || r->status == 204))
			hk_succeed_with(h, doc, NULL);
		else if (r->error == HTTP_OK && r->status >= 400 &&
		    r->status < 500 && r->status != 408 && r->status != 429) {
			why = hk_describe("GET", h->url, r, doc, NULL);
			hk_fail_with(h, doc, "operation_failed", why);
			free(why);
		} else
			goto failed_poll;
		json_object_put(doc);
		return;
	}
	/* operation-location: the status monitor. */
	if (!hk_2xx(r) || doc == NULL)
		goto failed_poll;
	st = hk_lro_status(doc, &word);
	if (st == PX_STATE_PENDING) {
		hk_outcome_init(&o, PX_STATE_PENDING);
		o.delay = r->retry_after;
		hk_each_outcome(h, &o);
		json_object_put(doc);
	} else if (st == PX_STATE_FAILED) {
		xasprintf(&why, "the operation ended \"%s\"", word);
		hk_fail_with(h, doc, strcasecmp(word, "failed") == 0 ?
		    "operation_failed" : "operation_canceled", why);
		free(why);
		json_object_put(doc);
	} else {
		h->status_doc = doc;
		hk_lro_final(h);
	}
	return;
failed_poll:
	why = hk_describe("GET", h->url, r, doc, NULL);
	if (doc == NULL && hk_2xx(r)) {
		free(why);
		xasprintf(&why, "GET %s: the status body is not JSON", h->url);
	}
	hk_poll_failed(h, why, r->retry_after);
	free(why);
	json_object_put(doc);
}

/* A start response that was final: no request, the result is in the ref. */
static void
hk_final_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_op *h = arg;
	json_object *v = NULL;

	(void)fd;
	(void)what;
	json_object_object_get_ex(h->ref, "result", &v);
	hk_succeed_with(h, v, v == NULL ? "null" : NULL);
}

static int
hk_each_poll(struct op *op, char **cause)
{
	struct hk_op *h = hk_op_new(op);
	struct hk_conf *hk = h->hk;
	struct task *t = op->batch->tasks[0];
	struct tmpl_task tt;
	const char *kind, *url;

	h->tids = xcalloc(1, sizeof *h->tids);
	h->tids[0] = xstrdup(t->id);
	h->ntt = 1;
	if (!hk->lro) {
		hk_task_view(t, &tt);
		if (req_tmpl_render(hk->poll, &tt, 1, &h->rq, cause) == -1 ||
		    hk_send(h, NULL, 0, 1, hk_each_done, cause) == -1)
			goto bad;
		return 0;
	}
	h->ref = jparse(t->ref);
	kind = hk_ref_string(h->ref, "lro");
	url = hk_ref_string(h->ref, "url");
	if (kind != NULL && strcmp(kind, "done") == 0) {
		h->ev = event_new(op->base, -1, 0, hk_final_cb, h);
		event_active(h->ev, 0, 0);
		return 0;
	}
	if (kind == NULL || url == NULL || (strcmp(kind, "location") != 0 &&
	    strcmp(kind, "operation-location") != 0)) {
		*cause = xstrdup("the task's ref names no operation to poll "
		    "({\"lro\": \"operation-location\" or \"location\", "
		    "\"url\": ...})");
		goto bad;
	}
	if (hk_send(h, url, 1, 1, hk_lro_done, cause) == -1)
		goto bad;
	return 0;
bad:
	op->kstate = NULL;
	hk_op_free(h);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Start and cancel */

/* Join a URL from a response header to the URL it came from. */
static char *
hk_join(const char *base, const char *loc)
{
	const char *p;
	char *s;

	if (strstr(loc, "://") != NULL || base == NULL)
		return xstrdup(loc);
	if ((p = strstr(base, "://")) == NULL)
		return xstrdup(loc);
	p += 3;
	p += strcspn(p, "/?#");
	if (loc[0] == '/') {
		xasprintf(&s, "%.*s%s", (int)(p - base), base, loc);
		return s;
	}
	/* Relative to the directory of the base's path. */
	{
		const char *q = base + strcspn(base, "?#"), *slash = q;

		while (slash > p && slash[-1] != '/')
			slash--;
		if (slash == p)
			xasprintf(&s, "%.*s/%s", (int)(p - base), base, loc);
		else
			xasprintf(&s, "%.*s%s", (int)(slash - base), base, loc);
	}
	return s;
}

/* A JSON string of text from a response (a header, a URL): UTF-8, with
 * U+FFFD for what was not. */
static json_object *
hk_string(const char *s)
{
	json_object *o;
	char *v;

	if (utf8_valid(s, strlen(s)))
		return json_object_new_string(s);
	v = utf8_repair(s, strlen(s), NULL);
	o = json_object_new_string(v);
	free(v);
	return o;
}

static void
hk_add_lro(json_object *ref, const struct http_response *r,
    const char *method, json_object *doc)
{
	const char *op_loc, *loc;
	char *u;

	op_loc = http_response_header(r, "Azure-AsyncOperation");
	if (op_loc == NULL || *op_loc == '\0')
		op_loc = http_response_header(r, "Operation-Location");
	loc = http_response_header(r, "Location");
	if (loc != NULL && *loc == '\0')
		loc = NULL;
	json_object_object_add(ref, "method", json_object_new_string(method));
	json_object_object_add(ref, "original", hk_string(r->url));
	if (loc != NULL) {
		u = hk_join(r->url, loc);
		json_object_object_add(ref, "location", hk_string(u));
		free(u);
	}
	if (op_loc != NULL && *op_loc != '\0') {
		json_object_object_add(ref, "lro",
		    json_object_new_string("operation-location"));
		u = hk_join(r->url, op_loc);
		json_object_object_add(ref, "url", hk_string(u));
		free(u);
	} else if (loc != NULL) {
		json_object_object_add(ref, "lro",
		    json_object_new_string("location"));
		u = hk_join(r->url, loc);
		json_object_object_add(ref, "url", hk_string(u));
		free(u);
	} else {
		json_object_object_add(ref, "lro", json_object_new_string("done"));
		json_object_object_add(ref, "result", doc != NULL ?
		    json_object_get(doc) : NULL);
	}
}

static void
hk_start_done(void *arg, const struct http_response *r)
{
	struct hk_op *h = arg;
	struct hk_conf *hk = h->hk;
	struct hk_refsrc *rs;
	json_object *doc, *ref = NULL, *v;
	const char *hv;
	char *why = NULL, *text;
	size_t i;

	h->req = NULL;
	doc = hk_parse(r);
	if (!hk_2xx(r)) {
		why = hk_describe(h->rq.method, h->url, r, doc, NULL);
		goto failed;
	}
	if (hk->refsrc != NULL) {
		ref = json_object_new_object();
		for (i = 0; i < hk->nrefsrc; i++) {
			rs = &hk->refsrc[i];
			if (rs->header != NULL) {
				if ((hv = http_response_header(r,
				    rs->header)) == NULL) {
					xasprintf(&why, "%s %s: the response "
					    "has no %s header", h->rq.method,
					    h->url, rs->header);
					goto failed;
				}
				v = hk_string(hv);
			} else {
				if (doc == NULL || (v = jptr_get(doc,
				    rs->pointer)) == NULL) {
					xasprintf(&why, "%s %s: the response "
					    "has nothing at \"%s\"%s",
					    h->rq.method, h->url, rs->pointer,
					    doc == NULL ? " (not JSON)" : "");
					goto failed;
				}
				v = json_object_get(v);
			}
			json_object_object_add(ref, rs->name, v);
		}
	} else if (hk->lro)
		ref = json_object_new_object();
	else if (doc != NULL && json_object_is_type(doc, json_type_object))
		ref = json_object_get(doc);
	else {
		xasprintf(&why, "%s %s: the response body is not a JSON object "
		    "(set \"start_ref\" to say where the ref is)", h->rq.method,
		    h->url);
		goto failed;
	}
	if (hk->lro)
		hk_add_lro(ref, r, h->rq.method, doc);
	text = json_canonical(ref);
	json_object_put(ref);
	json_object_put(doc);
	op_start_done(hk_detach(h), text, NULL, NULL);
	free(text);
	return;
failed:
	json_object_put(ref);
	json_object_put(doc);
	op_start_done(hk_detach(h), NULL, "start_failed", why);
	free(why);
}

static int
hk_start(struct op *op, char **cause)
{
	struct hk_op *h = hk_op_new(op);
	struct tmpl_task tt;

	hk_task_view(op->task, &tt);
	tt.ref = NULL;
	if (req_tmpl_render(h->hk->start, &tt, 1, &h->rq, cause) == -1 ||
	    hk_send(h, NULL, 0, op->conf->start_idempotent, hk_start_done,
	    cause) == -1) {
		op->kstate = NULL;
		hk_op_free(h);
		return -1;
	}
	return 0;
}

static void
hk_cancel_done(void *arg, const struct http_response *r)
{
	struct hk_op *h = arg;
	json_object *doc;
	char msg[HK_MSG_MAX + 1], *why;
	size_t i;

	h->req = NULL;
	doc = hk_parse(r);
	if (hk_2xx(r)) {
		json_object_put(doc);
		op_cancel_done(hk_detach(h), CANCEL_DONE, NULL);
		return;
	}
	for (i = 0; r->error == HTTP_OK && i < h->hk->nrefused; i++)
		if (r->status == h->hk->refused[i])
			break;
	if (r->error == HTTP_OK && i < h->hk->nrefused) {
		hk_remote_message(doc, h->hk->cancel_message, msg, sizeof msg);
		if (*msg == '\0')
			snprintf(msg, sizeof msg, "the remote service refused "
			    "(HTTP %ld)", r->status);
		json_object_put(doc);
		op_cancel_done(hk_detach(h), CANCEL_REFUSED, msg);
		return;
	}
	why = hk_describe(h->rq.method, h->url, r, doc, h->hk->cancel_message);
	json_object_put(doc);
	op_cancel_done(hk_detach(h), CANCEL_ERROR, why);
	free(why);
}

static int
hk_cancel(struct op *op, char **cause)
{
	struct hk_op *h = hk_op_new(op);
	struct tmpl_task tt;

	memset(&tt, 0, sizeof tt);
	tt.id = op->id;
	tt.ref = op->ref;
	tt.args = op->args;
	tt.labels = op->labels;
	if (req_tmpl_render(h->hk->cancel, &tt, 1, &h->rq, cause) == -1 ||
	    hk_send(h, NULL, 0, 1, hk_cancel_done, cause) == -1) {
		op->kstate = NULL;
		hk_op_free(h);
		return -1;
	}
	return 0;
}

static void
hk_abort(struct op *op)
{
	hk_op_free(op->kstate);
	op->kstate = NULL;
}

/* The transport's counters (Pollers "http"): zero before the first
 * request, since the client is made then. */
static json_object *
hk_stats(const void *arg)
{
	const struct hk_conf *hk = arg;
	struct http_client_stats st;
	json_object *o = json_object_new_object();
	size_t i;

	memset(&st, 0, sizeof st);
	if (hk->client != NULL)
		http_client_stats(hk->client, &st);
	const struct {
		const char *key;
		uint64_t v;
	} f[] = {
		{ "requests", st.requests }, { "retries", st.retries },
		{ "failures", st.failures }, { "connects", st.connects },
		{ "in_flight", st.in_flight }, { "queued", st.queued },
	};

	for (i = 0; i < nitems(f); i++)
		json_object_object_add(o, f[i].key,
		    json_object_new_int64((int64_t)f[i].v));
	return o;
}

/* The transport is made at start-up (curl_global_init() before anything
 * else runs) and shared by every HTTP poller. */
static int
hk_startup(struct event_base *base, char **cause)
{
	(void)cause;
	http_get(base);
	return 0;
}

const struct poller_kind poller_kind_http_batch = {
	.name = "http-batch",
	.configure = hk_configure_batch,
	.free_conf = hk_free_conf,
	.has_start = hk_has_start,
	.has_cancel = hk_has_cancel,
	.poll = hk_batch_poll,
	.start = hk_start,
	.cancel = hk_cancel,
	.abort = hk_abort,
	.startup = hk_startup,
	.shutdown = http_shutdown,
	.stats_key = "http",
	.stats = hk_stats,
};

const struct poller_kind poller_kind_http_each = {
	.name = "http-each",
	.per_task = 1,
	.default_inflight = 1024,
	.configure = hk_configure_each,
	.free_conf = hk_free_conf,
	.has_start = hk_has_start,
	.has_cancel = hk_has_cancel,
	.poll = hk_each_poll,
	.start = hk_start,
	.cancel = hk_cancel,
	.abort = hk_abort,
	.startup = hk_startup,
	.shutdown = http_shutdown,
	.stats_key = "http",
	.stats = hk_stats,
};
