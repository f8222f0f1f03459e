/* SPDX-License-Identifier: ISC */
/* methods.c: the io.pollex and org.varlink.service methods.
 *
 * Handlers take a decoded call and its parameters and answer through the
 * call; they never see a socket, so tests call them directly.  Every bad
 * parameter is refused with a named error before anything changes. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "methods.h"
#include "poller.h"
#include "core.h"
#include "server.h"
#include "store.h"
#include "util.h"
#include "waits.h"
#include "xmalloc.h"

#define LABELS_MAX 64
#define LABEL_KEY_MAX 128
#define LABEL_VALUE_MAX 1024
#define IDEM_KEY_MAX 256
#define WAIT_IDS_MAX 1000000
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 10000
#define TIMEOUT_MAX (10.0 * 366 * 24 * 3600)

extern const char px_varlink_idl[];

static const char varlink_service_idl[] =
    "# The varlink service interface: introspection of this service.\n"
    "interface org.varlink.service\n"
    "\n"
    "method GetInfo() -> (\n"
    "  vendor: string,\n"
    "  product: string,\n"
    "  version: string,\n"
    "  url: string,\n"
    "  interfaces: []string\n"
    ")\n"
    "\n"
    "method GetInterfaceDescription(interface: string) -> (description: string)\n"
    "\n"
    "error InterfaceNotFound (interface: string)\n"
    "error MethodNotFound (method: string)\n"
    "error MethodNotImplemented (method: string)\n"
    "error InvalidParameter (parameter: string)\n"
    "error PermissionDenied ()\n"
    "error ExpectedMore ()\n";

/*
 * The parameters each method accepts, and the fields of a TaskSpec, as
 * common/io.pollex.varlink names them (tests/check_idl holds the two to
 * each other).  Others are refused as unknown.
 */
static const char *const no_params[] = { NULL };
static const char *const submit_params[] = { "tasks", NULL };
static const char *const id_params[] = { "id", NULL };
static const char *const wait_params[] = { "ids", "return_when", "timeout",
	NULL };
static const char *const list_params[] = { "states", "poller", "labels",
	"owner", "after", "limit", NULL };
static const char *const watch_params[] = { "ids", "poller", "labels",
	"initial", NULL };
static const char *const getdesc_params[] = { "interface", NULL };
static const char *const poll_params[] = { "poller", "ids", NULL };
static const char *const spec_fields[] = { "poller", "ref", "args", "labels",
	"timeout", "deadline", "idempotency_key", NULL };

/* Refuse parameters other than the known ones. */
static int
params_known(struct call *c, json_object *params, const char *const *known)
{
	size_t i;

	if (params == NULL)
		return 0;
	json_object_object_foreach(params, key, val) {
		(void)val;
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], key) == 0)
				break;
		if (known[i] == NULL) {
			call_invalid(c, key, "unknown parameter");
			return -1;
		}
	}
	return 0;
}

/* A parameter, NULL when absent or JSON null. */
static json_object *
param(json_object *params, const char *key)
{
	json_object *v = NULL;

	if (params != NULL)
		json_object_object_get_ex(params, key, &v);
	return v;
}

/* A string without NUL bytes, at most max bytes. */
static int
string_ok(json_object *v, size_t max)
{
	size_t n;

	if (!json_object_is_type(v, json_type_string))
		return 0;
	n = (size_t)json_object_get_string_len(v);
	return n > 0 && n <= max && strlen(json_object_get_string(v)) == n;
}

static int
number_ok(json_object *v, double *out)
{
	if (!json_object_is_type(v, json_type_double) &&
	    !json_object_is_type(v, json_type_int))
		return 0;
	*out = json_object_get_double(v);
	return isfinite(*out);
}

/* Required id parameter that names a task the caller may see. */
static struct task *
param_task(struct core *core, struct call *c, json_object *v, const char *name)
{
	struct task *t;

	if (v == NULL) {
		call_invalid(c, name, "missing");
		return NULL;
	}
	if (!string_ok(v, 256)) {
		call_invalid(c, name, "expected a task id (a string)");
		return NULL;
	}
	t = tasktab_find(core->tt, json_object_get_string(v));
	if (t == NULL || !waits_visible(call_caller(c), t)) {
		call_error1(c, PX_ERR_TASK_NOT_FOUND, "id",
		    json_object_get_string(v));
		return NULL;
	}
	return t;
}

/* Labels: an object of at most LABELS_MAX string values; canonical text
 * in *out.  Returns NULL when good, else why not. */
static const char *
labels_check(json_object *v, char **out)
{
	if (!json_object_is_type(v, json_type_object))
		return "expected an object of strings";
	if (json_object_object_length(v) > LABELS_MAX)
		return "too many labels (at most 64)";
	json_object_object_foreach(v, key, val) {
		if (*key == '\0' || strlen(key) > LABEL_KEY_MAX)
			return "a label key is empty or longer than 128 bytes";
		if (!json_object_is_type(val, json_type_string) ||
		    (size_t)json_object_get_string_len(val) > LABEL_VALUE_MAX)
			return "label values must be strings of at most 1024 "
			    "bytes";
		if (strlen(json_object_get_string(val)) !=
		    (size_t)json_object_get_string_len(val))
			return "a label value holds \\u0000";
	}
	*out = json_canonical(v);
	return NULL;
}

struct spec {
	struct poller *poller;
	char *ref, *args, *labels;
	const char *key;
	double deadline;
	size_t index;
};

static void
specs_free(struct spec *specs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(specs[i].ref);
		free(specs[i].args);
		free(specs[i].labels);
	}
	free(specs);
}

/* Check one TaskSpec; 0, or -1 after answering the call. */
static int
spec_read(struct core *core, struct call *c, json_object *o, size_t i,
    struct spec *s, double now)
{
	char name[64];
	json_object *v;
	const char *why;
	double d;
	size_t k;

	s->index = i;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(name, sizeof name, "tasks[%zu]", i);
		call_invalid(c, name, "expected a TaskSpec object");
		return -1;
	}
	json_object_object_foreach(o, key, val) {
		(void)val;
		for (k = 0; spec_fields[k] != NULL &&
		    strcmp(spec_fields[k], key); k++)
			;
		if (spec_fields[k] == NULL) {
			snprintf(name, sizeof name, "tasks[%zu].%.32s", i, key);
			call_invalid(c, name, "unknown field");
			return -1;
		}
	}
#define BAD(field, ...)                                                 \
	do {                                                            \
		snprintf(name, sizeof name, "tasks[%zu].%s", i, field); \
		call_invalid(c, name, __VA_ARGS__);                     \
		return -1;                                              \
	} while (0)
	if ((v = param(o, "poller")) == NULL)
		BAD("poller", "missing");
	if (!string_ok(v, 64))
		BAD("poller", "expected a poller name");
	s->poller = poller_find(core->pollers, json_object_get_string(v));
	if (s->poller == NULL || poller_conf(s->poller) == NULL) {
		call_error1(c, PX_ERR_POLLER_NOT_FOUND, "poller",
		    json_object_get_string(v));
		return -1;
	}
	if ((v = param(o, "ref")) != NULL) {
		if (!json_object_is_type(v, json_type_object))
			BAD("ref", "expected a JSON object");
		if ((why = json_bad_number(v)) != NULL)
			BAD("ref", "%s is not a JSON number", why);
		s->ref = json_canonical(v);
	} else if (!poller_has_start(s->poller))
		BAD("ref", "missing: poller %s has no start function, so "
		    "the task's ref must be given",
		    poller_name(s->poller));
	if ((v = param(o, "args")) != NULL) {
		if (!json_object_is_type(v, json_type_object))
			BAD("args", "expected a JSON object");
		if ((why = json_bad_number(v)) != NULL)
			BAD("args", "%s is not a JSON number", why);
		s->args = json_canonical(v);
	}
	if ((v = param(o, "labels")) != NULL &&
	    (why = labels_check(v, &s->labels)) != NULL)
		BAD("labels", "%s", why);
	if ((v = param(o, "timeout")) != NULL) {
		if (!number_ok(v, &d) || d <= 0 || d > TIMEOUT_MAX)
			BAD("timeout", "expected a positive number of seconds, "
			    "at most ten years (316224000)");
		s->deadline = now + d;
	}
	if ((v = param(o, "deadline")) != NULL) {
		if (s->deadline > 0)
			BAD("deadline", "give timeout or deadline, not both");
		if (!number_ok(v, &d) || d <= 0)
			BAD("deadline", "expected a Unix time (seconds)");
		if (d <= now)
			BAD("deadline", "is in the past");
		if (d > now + TIMEOUT_MAX)
			BAD("deadline", "is more than ten years ahead (as a "
			    "timeout may be at most)");
		s->deadline = d;
	}
	if ((v = param(o, "idempotency_key")) != NULL) {
		if (json_object_is_type(v, json_type_string) &&
		    strlen(json_object_get_string(v)) !=
		    (size_t)json_object_get_string_len(v))
			BAD("idempotency_key", "holds \\u0000");
		if (!string_ok(v, IDEM_KEY_MAX))
			BAD("idempotency_key",
			    "expected a string of 1 to 256 bytes");
		s->key = json_object_get_string(v);
	}
#undef BAD
	return 0;
}

static int
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Does spec s describe task t (the same key must mean the same task)? */
static int
spec_same(const struct spec *s, const struct task *t)
{
	return s->poller == t->poller && str_eq(s->args, t->args) &&
	    (s->ref == NULL || t->ref == NULL || strcmp(s->ref, t->ref) == 0);
}

static int
spec_keycmp(const void *a, const void *b)
{
	const struct spec *x = *(const struct spec *const *)a;
	const struct spec *y = *(const struct spec *const *)b;

	return strcmp(x->key, y->key);
}

/* io.pollex.Submit: all or nothing. */
static void
m_submit(struct core *core, struct call *c, json_object *params)
{
	const struct caller *who = call_caller(c);
	struct spec *specs, **keyed;
	struct task *t;
	struct task_init in;
	json_object *tasks, *qp;
	double now = real_now();
	size_t i, n, nkeyed = 0, nnew = 0, nmade = 0, len, clen;
	char **made, *reply, *created;
	const char *why = NULL;

	if ((tasks = param(params, "tasks")) == NULL) {
		call_invalid(c, "tasks", "missing: an array of TaskSpec");
		return;
	}
	if (!json_object_is_type(tasks, json_type_array) ||
	    (n = json_object_array_length(tasks)) == 0) {
		call_invalid(c, "tasks", "expected a non-empty array of TaskSpec");
		return;
	}
	if (n > core->conf->max_submit) {
		call_invalid(c, "tasks", "at most %u tasks per call",
		    core->conf->max_submit);
		return;
	}
	/* A database that cannot be reached: refused now, named, rather
	 * than an acknowledgement that waits for it. */
	if (core->store != NULL && !store_healthy(core->store, &why)) {
		call_error1(c, PX_ERR_STORE_FAILED, "reason", why);
		return;
	}
	specs = xcalloc(n, sizeof *specs);
	keyed = xcalloc(n, sizeof *keyed);
	for (i = 0; i < n; i++) {
		if (spec_read(core, c, json_object_array_get_idx(tasks, i), i,
		    &specs[i], now) == -1)
			goto done;
		if (specs[i].key != NULL)
			keyed[nkeyed++] = &specs[i];
	}
	/* An idempotency key names one task: the same key with something
	 * else, already in the table or earlier in this call, is refused. */
	for (i = 0; i < nkeyed; i++) {
		t = tasktab_find_key(core->tt, who->uid, keyed[i]->key);
		if (t != NULL && !spec_same(keyed[i], t)) {
			qp = json_object_new_object();
			json_object_object_add(qp, "idempotency_key",
			    json_object_new_string(keyed[i]->key));
			json_object_object_add(qp, "id",
			    json_object_new_string(t->id));
			call_error(c, PX_ERR_IDEMPOTENCY_CONFLICT, qp);
			goto done;
		}
		if (t == NULL)
			nnew++;
	}
	qsort(keyed, nkeyed, sizeof *keyed, spec_keycmp);
	for (i = 1; i < nkeyed; i++)
		if (strcmp(keyed[i - 1]->key, keyed[i]->key) == 0 &&
		    (keyed[i - 1]->poller != keyed[i]->poller ||
		    !str_eq(keyed[i - 1]->ref, keyed[i]->ref) ||
		    !str_eq(keyed[i - 1]->args, keyed[i]->args))) {
			qp = json_object_new_object();
			json_object_object_add(qp, "idempotency_key",
			    json_object_new_string(keyed[i]->key));
			json_object_object_add(qp, "id", json_object_new_string(""));
			call_error(c, PX_ERR_IDEMPOTENCY_CONFLICT, qp);
			goto done;
		}
	if (tasktab_outstanding_of(core->tt, who->uid) + (n - nkeyed) + nnew >
	    core->conf->max_tasks_per_uid) {
		qp = json_object_new_object();
		json_object_object_add(qp, "quota",
		    json_object_new_string("max_tasks_per_uid"));
		json_object_object_add(qp, "limit",
		    json_object_new_int64((int64_t)core->conf->max_tasks_per_uid));
		call_error(c, PX_ERR_QUOTA_EXCEEDED, qp);
		goto done;
	}

	/* The reply is small and regular: written as text, not built. */
	reply = xmalloc(n * (TASK_ID_LEN + 9) + 32);
	len = (size_t)sprintf(reply, "{\"ids\":[");
	created = xmalloc(n * 6 + 16);
	clen = (size_t)sprintf(created, "],\"created\":[");
	made = xcalloc(n, sizeof *made);
	for (i = 0; i < n; i++) {
		struct spec *s = &specs[i];
		int fresh = 0;
		t = NULL;
		if (s->key != NULL)
			t = tasktab_find_key(core->tt, who->uid, s->key);
		if (t == NULL && s->ref != NULL)
			t = tasktab_find_ref(core->tt, who->uid, s->poller,
			    s->ref);
		if (t == NULL) {
			memset(&in, 0, sizeof in);
			in.poller = s->poller;
			in.owner = who->uid;
			in.ref = s->ref;
			in.args = s->args;
			in.labels = s->labels;
			in.idem_key = s->key;
			in.deadline = s->deadline;
			t = tasktab_create(core->tt, &in, now);
			made[nmade++] = xstrdup(t->id);
			core->counters.submitted++;
			fresh = 1;
		}
		if (i > 0) {
			reply[len++] = ',';
			created[clen++] = ',';
		}
		reply[len++] = '"';
		memcpy(reply + len, t->id, TASK_ID_LEN);
		len += TASK_ID_LEN;
		reply[len++] = '"';
		memcpy(created + clen, fresh ? "true" : "false", 5 - fresh);
		clen += 5 - (size_t)fresh;
	}
	memcpy(reply + len, created, clen);
	memcpy(reply + len + clen, "]}", 3);
	free(created);
	/* Acknowledged only once the new tasks are on disk. */
	core->reply_after_commit(core->glue, c, reply, made, nmade);
done:
	free(keyed);
	specs_free(specs, n);
}

struct cancel_wait {
	struct core *core;
	struct call *call;
	struct cancel_listener *listener;
	char id[TASK_ID_LEN + 1];
};

static void
cancel_reply(struct call *c, int cancelled, enum px_state st,
    const char *reason)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "cancelled",
	    json_object_new_boolean(cancelled));
	json_object_object_add(p, "state",
	    json_object_new_string(px_state_name(st)));
	if (reason != NULL)
		json_object_object_add(p, "reason",
		    json_object_new_string(reason));
	call_reply(c, p);
}

static void
cancel_wait_abort_cb(struct call *c, void *arg)
{
	struct cancel_wait *cw = arg;

	(void)c;
	poller_cancel_forget(cw->listener);
	free(cw);
}

/* The cancel function answered (the task was finished first if it said
 * yes); tell the caller what became of the task. */
static void
cancel_wait_cb(void *arg, enum cancel_verdict v, const char *reason)
{
	struct cancel_wait *cw = arg;
	struct task *t = tasktab_find(cw->core->tt, cw->id);
	enum px_state st = t != NULL ? (enum px_state)t->state :
	    PX_STATE_CANCELLED;
	char *why = NULL;

	call_on_abort(cw->call, NULL, NULL);
	if (v == CANCEL_DONE && st == PX_STATE_CANCELLED)
		cancel_reply(cw->call, 1, st, NULL);
	else if (v == CANCEL_DONE)
		cancel_reply(cw->call, 0, st, "the task finished first");
	else if (v == CANCEL_REFUSED)
		cancel_reply(cw->call, 0, st, reason != NULL ? reason :
		    "refused");
	else {
		xasprintf(&why, "the cancel function failed: %s",
		    reason != NULL ? reason : "error");
		cancel_reply(cw->call, 0, st, why);
		free(why);
	}
	free(cw);
}

/* io.pollex.Cancel */
static void
m_cancel(struct core *core, struct call *c, json_object *params)
{
	struct cancel_wait *cw;
	struct task *t;
	char *why;

	if ((t = param_task(core, c, param(params, "id"), "id")) == NULL)
		return;
	if (px_state_terminal((enum px_state)t->state)) {
		xasprintf(&why, "the task already %s",
		    t->state == PX_STATE_EXPIRED ? "expired" :
		    px_state_name((enum px_state)t->state));
		cancel_reply(c, 0, (enum px_state)t->state, why);
		free(why);
		return;
	}
	if (t->state == PX_STATE_PENDING && poller_has_cancel(t->poller)) {
		cw = xcalloc(1, sizeof *cw);
		cw->core = core;
		cw->call = c;
		memcpy(cw->id, t->id, sizeof cw->id);
		call_on_abort(c, cancel_wait_abort_cb, cw);
		cw->listener = poller_cancel(t->poller, t, cancel_wait_cb, cw);
		return;
	}
	/* Starting (the start is aborted) or no cancel function. */
	xasprintf(&why, "cancelled by uid %lu%s",
	    (unsigned long)call_caller(c)->uid,
	    t->state == PX_STATE_STARTING ? " while it was starting" : "");
	tasktab_finish(core->tt, t, PX_STATE_CANCELLED, NULL, "cancelled", why,
	    NULL, real_now());
	free(why);
	cancel_reply(c, 1, PX_STATE_CANCELLED, NULL);
}

/* io.pollex.Get */
static void
m_get(struct core *core, struct call *c, json_object *params)
{
	json_object *p;
	struct task *t;

	if ((t = param_task(core, c, param(params, "id"), "id")) == NULL)
		return;
	p = json_object_new_object();
	json_object_object_add(p, "task", task_to_json(t));
	call_reply(c, p);
}

static int
task_ptrcmp(const void *a, const void *b)
{
	const struct task *x = *(const struct task *const *)a;
	const struct task *y = *(const struct task *const *)b;

	return x < y ? -1 : x > y;
}

/* io.pollex.Wait */
static void
m_wait(struct core *core, struct call *c, json_object *params)
{
	enum px_return_when mode = PX_RW_ALL_COMPLETED;
	struct task **tasks, **sorted;
	json_object *ids, *v;
	double timeout = -1;
	char name[32];
	size_t i, j, n, m;

	/* A oneway Wait does nothing: its reply is all a Wait makes, and
	 * nobody reads it.  Nothing is parked (docs/protocol.md). */
	if (call_is_oneway(c)) {
		call_reply(c, NULL);
		return;
	}
	if ((ids = param(params, "ids")) == NULL) {
		call_invalid(c, "ids", "missing: an array of task ids");
		return;
	}
	if (!json_object_is_type(ids, json_type_array) ||
	    (n = json_object_array_length(ids)) == 0 || n > WAIT_IDS_MAX) {
		call_invalid(c, "ids", "expected an array of 1 to %d task ids",
		    WAIT_IDS_MAX);
		return;
	}
	if ((v = param(params, "return_when")) != NULL &&
	    (!json_object_is_type(v, json_type_string) ||
	    px_return_when_from_name(json_object_get_string(v), &mode) == -1)) {
		call_invalid(c, "return_when", "expected first_completed, "
		    "first_exception or all_completed");
		return;
	}
	if ((v = param(params, "timeout")) != NULL &&
	    (!number_ok(v, &timeout) || timeout < 0 || timeout > TIMEOUT_MAX)) {
		call_invalid(c, "timeout", "expected a number of seconds, 0 "
		    "or more, at most ten years (316224000)");
		return;
	}
	tasks = xcalloc(n, sizeof *tasks);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "ids[%zu]", i);
		if ((tasks[i] = param_task(core, c,
		    json_object_array_get_idx(ids, i), name)) == NULL) {
			free(tasks);
			return;
		}
	}
	/* The same id twice is one task: keep the first, in order. */
	sorted = xcalloc(n, sizeof *sorted);
	memcpy(sorted, tasks, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, task_ptrcmp);
	for (i = 1, m = 0; i < n; i++)
		if (sorted[i] == sorted[i - 1])
			m++;
	if (m > 0) {
		for (i = 0, m = 0; i < n; i++) {
			for (j = 0; j < m && tasks[j] != tasks[i]; j++)
				;
			if (j == m)
				tasks[m++] = tasks[i];
		}
		n = m;
	}
	free(sorted);
	waits_wait(core->waits, core->base, c, tasks, n, mode, timeout);
	free(tasks);
}

/* Read a labels filter into a NULL-terminated key, value array. */
static int
labels_filter(struct call *c, json_object *v, char ***out)
{
	char **kv;
	size_t i = 0;

	if (!json_object_is_type(v, json_type_object)) {
		call_invalid(c, "labels", "expected an object of strings");
		return -1;
	}
	kv = xcalloc(2 * (size_t)json_object_object_length(v) + 1, sizeof *kv);
	json_object_object_foreach(v, key, val) {
		if (!json_object_is_type(val, json_type_string)) {
			strv_free(kv);
			call_invalid(c, "labels", "label values are strings");
			return -1;
		}
		kv[i++] = xstrdup(key);
		kv[i++] = xstrdup(json_object_get_string(val));
	}
	*out = kv;
	return 0;
}

/* io.pollex.List */
static void
m_list(struct core *core, struct call *c, json_object *params)
{
	const struct caller *who = call_caller(c);
	unsigned int states = 0;
	enum px_state st;
	json_object *v, *out, *p;
	const char *poller = NULL;
	char **labels = NULL;
	struct task *t, *last = NULL;
	int64_t owner = -1, limit = LIST_LIMIT_DEFAULT, count = 0;
	size_t i;
	int more = 0, match;

	if ((v = param(params, "states")) != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			call_invalid(c, "states", "expected an array of states");
			return;
		}
		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *s = json_object_array_get_idx(v, i);
			if (!json_object_is_type(s, json_type_string) ||
			    px_state_from_name(json_object_get_string(s),
			    &st) == -1) {
				call_invalid(c, "states", "unknown state; "
				    "known: starting, pending, succeeded, "
				    "failed, cancelled, expired");
				return;
			}
			states |= 1u << st;
		}
	}
	if ((v = param(params, "poller")) != NULL) {
		if (!string_ok(v, 64)) {
			call_invalid(c, "poller", "expected a poller name");
			return;
		}
		poller = json_object_get_string(v);
	}
	if ((v = param(params, "owner")) != NULL) {
		if (!json_object_is_type(v, json_type_int) ||
		    (owner = json_object_get_int64(v)) < 0) {
			call_invalid(c, "owner", "expected a uid");
			return;
		}
	}
	if ((v = param(params, "limit")) != NULL) {
		if (!json_object_is_type(v, json_type_int) ||
		    (limit = json_object_get_int64(v)) < 1 ||
		    limit > LIST_LIMIT_MAX) {
			call_invalid(c, "limit", "expected 1 to %d",
			    LIST_LIMIT_MAX);
			return;
		}
	}
	if ((v = param(params, "after")) != NULL && !string_ok(v, 256)) {
		call_invalid(c, "after", "expected a task id");
		return;
	}
	if ((v = param(params, "labels")) != NULL &&
	    labels_filter(c, v, &labels) == -1)
		return;

	v = param(params, "after");
	t = v != NULL ? tasktab_after(core->tt, json_object_get_string(v)) :
	    tasktab_first(core->tt);
	out = json_object_new_array();
	for (; t != NULL; t = tasktab_next(core->tt, t)) {
		match = waits_visible(who, t) &&
		    (states == 0 || (states & (1u << t->state))) &&
		    (poller == NULL || strcmp(poller_name(t->poller),
		    poller) == 0) &&
		    (owner < 0 || (int64_t)t->owner == owner);
		for (i = 0; match && labels != NULL && labels[i] != NULL; i += 2)
			match = task_has_label(t, labels[i], labels[i + 1]);
		if (!match)
			continue;
		if (count == limit) {
			more = 1;
			break;
		}
		json_object_array_add(out, task_to_json(t));
		last = t;
		count++;
	}
	strv_free(labels);
	p = json_object_new_object();
	json_object_object_add(p, "tasks", out);
	if (more)
		json_object_object_add(p, "next", json_object_new_string(last->id));
	call_reply(c, p);
}

/* io.pollex.Watch */
static void
m_watch(struct core *core, struct call *c, json_object *params)
{
	struct watch_filter f;
	json_object *v, *e;
	int initial = 0;
	size_t i;

	if (!call_wants_more(c)) {
		call_error(c, PX_ERR_EXPECTED_MORE, NULL);
		return;
	}
	memset(&f, 0, sizeof f);
	if ((v = param(params, "initial")) != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			call_invalid(c, "initial", "expected true or false");
			return;
		}
		initial = json_object_get_boolean(v);
	}
	if ((v = param(params, "poller")) != NULL) {
		if (!string_ok(v, 64)) {
			call_invalid(c, "poller", "expected a poller name");
			return;
		}
		f.poller = xstrdup(json_object_get_string(v));
	}
	if ((v = param(params, "ids")) != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			watch_filter_clear(&f);
			call_invalid(c, "ids", "expected an array of task ids");
			return;
		}
		f.nids = json_object_array_length(v);
		f.ids = xcalloc(f.nids + 1, sizeof *f.ids);
		for (i = 0; i < f.nids; i++) {
			e = json_object_array_get_idx(v, i);
			if (!string_ok(e, 256)) {
				f.nids = i;
				watch_filter_clear(&f);
				call_invalid(c, "ids", "expected task ids");
				return;
			}
			f.ids[i] = xstrdup(json_object_get_string(e));
		}
	}
	if ((v = param(params, "labels")) != NULL &&
	    labels_filter(c, v, &f.labels) == -1) {
		watch_filter_clear(&f);
		return;
	}
	waits_watch(core->waits, c, &f, initial, core->tt);
}

struct poll_wait {
	struct call *call;
	struct poll_listener *listener;
	char poller[65];
};

static void
poll_reply(struct call *c, int64_t polled)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "polled", json_object_new_int64(polled));
	call_reply(c, p);
}

static void
poll_wait_abort_cb(struct call *c, void *arg)
{
	struct poll_wait *pw = arg;

	(void)c;
	poller_poll_forget(pw->listener);
	free(pw);
}

static void
poll_wait_cb(void *arg, int64_t polled)
{
	struct poll_wait *pw = arg;

	call_on_abort(pw->call, NULL, NULL);
	if (polled < 0)
		call_error1(pw->call, PX_ERR_POLLER_NOT_FOUND, "poller",
		    pw->poller);
	else
		poll_reply(pw->call, polled);
	free(pw);
}

/* io.pollex.Poll: poll now the caller's pending tasks of a poller (every
 * one for root and admins), or the ones named. */
static void
m_poll(struct core *core, struct call *c, json_object *params)
{
	const struct caller *who = call_caller(c);
	struct poll_wait *pw;
	struct poller *p;
	struct task **tasks = NULL, *t;
	json_object *v, *ids;
	char name[32];
	size_t i, n = 0, cap;

	if ((v = param(params, "poller")) == NULL) {
		call_invalid(c, "poller", "missing: a poller name");
		return;
	}
	if (!string_ok(v, 64)) {
		call_invalid(c, "poller", "expected a poller name");
		return;
	}
	p = poller_find(core->pollers, json_object_get_string(v));
	if (p == NULL || poller_conf(p) == NULL) {
		call_error1(c, PX_ERR_POLLER_NOT_FOUND, "poller",
		    json_object_get_string(v));
		return;
	}
	if ((ids = param(params, "ids")) != NULL) {
		if (!json_object_is_type(ids, json_type_array) ||
		    (cap = json_object_array_length(ids)) == 0 ||
		    cap > WAIT_IDS_MAX) {
			call_invalid(c, "ids", "expected an array of 1 to %d "
			    "task ids", WAIT_IDS_MAX);
			return;
		}
		tasks = xcalloc(cap, sizeof *tasks);
		for (i = 0; i < cap; i++) {
			snprintf(name, sizeof name, "ids[%zu]", i);
			if ((t = param_task(core, c,
			    json_object_array_get_idx(ids, i), name)) == NULL) {
				free(tasks);
				return;
			}
			if (t->poller != p) {
				call_invalid(c, name, "task %s belongs to "
				    "poller %s", t->id, poller_name(t->poller));
				free(tasks);
				return;
			}
			/* Starting or finished: nothing to poll. */
			if (t->state == PX_STATE_PENDING)
				tasks[n++] = t;
		}
		/* The same id twice is one task. */
		if (n > 1) {
			qsort(tasks, n, sizeof *tasks, task_ptrcmp);
			for (i = 1, cap = 1; i < n; i++)
				if (tasks[i] != tasks[cap - 1])
					tasks[cap++] = tasks[i];
			n = cap;
		}
	} else {
		cap = 0;
		for (t = tasktab_first(core->tt); t != NULL;
		    t = tasktab_next(core->tt, t)) {
			if (t->poller != p || t->state != PX_STATE_PENDING ||
			    !waits_visible(who, t))
				continue;
			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				tasks = xreallocarray(tasks, cap,
				    sizeof *tasks);
			}
			tasks[n++] = t;
		}
	}
	if (call_is_oneway(c) || n == 0) {
		poller_poll_now(p, tasks, n, NULL, NULL);
		free(tasks);
		if (call_is_oneway(c))
			call_reply(c, NULL);
		else
			poll_reply(c, 0);
		return;
	}
	pw = xcalloc(1, sizeof *pw);
	pw->call = c;
	snprintf(pw->poller, sizeof pw->poller, "%s", poller_name(p));
	pw->listener = poller_poll_now(p, tasks, n, poll_wait_cb, pw);
	free(tasks);
	call_on_abort(c, poll_wait_abort_cb, pw);
}

/* io.pollex.Pollers */
static void
m_pollers(struct core *core, struct call *c, json_object *params)
{
	json_object *a, *p;
	struct poller *pl;

	(void)params;
	a = json_object_new_array();
	for (pl = poller_first(core->pollers); pl != NULL; pl = poller_next(pl))
		json_object_array_add(a, poller_to_json(pl));
	p = json_object_new_object();
	json_object_object_add(p, "pollers", a);
	call_reply(c, p);
}

/* io.pollex.Stats */
static void
m_stats(struct core *core, struct call *c, json_object *params)
{
	json_object *p, *counts;
	double now = real_now();
	uint64_t polls, failed;
	int st;

	(void)params;
	p = json_object_new_object();
	json_object_object_add(p, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(p, "started", json_object_new_double(core->started));
	json_object_object_add(p, "uptime",
	    json_object_new_double(now - core->started));
	counts = json_object_new_object();
	for (st = 0; st < PX_STATE_COUNT; st++)
		json_object_object_add(counts, px_state_name((enum px_state)st),
		    json_object_new_int64((int64_t)tasktab_count(core->tt,
		    (enum px_state)st)));
	json_object_object_add(p, "tasks", counts);
	json_object_object_add(p, "submitted",
	    json_object_new_int64((int64_t)core->counters.submitted));
	json_object_object_add(p, "completed",
	    json_object_new_int64((int64_t)core->counters.completed));
	pollers_totals(core->pollers, &polls, &failed);
	json_object_object_add(p, "polls",
	    json_object_new_int64((int64_t)polls));
	json_object_object_add(p, "failed_polls",
	    json_object_new_int64((int64_t)failed));
	json_object_object_add(p, "connections", json_object_new_int64(
	    core->server != NULL ? server_connections(core->server) : 0));
	json_object_object_add(p, "calls",
	    json_object_new_int64((int64_t)core->counters.calls));
	if (core->server != NULL)
		server_stats(core->server, p);
	if (core->store != NULL)
		json_object_object_add(p, "store", store_stats(core->store));
	call_reply(c, p);
}

/* org.varlink.service.GetInfo */
static void
m_getinfo(struct core *core, struct call *c, json_object *params)
{
	json_object *p, *ifs;

	(void)params;
	(void)core;
	p = json_object_new_object();
	json_object_object_add(p, "vendor", json_object_new_string("pollex"));
	json_object_object_add(p, "product", json_object_new_string("pollexd"));
	json_object_object_add(p, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(p, "url", json_object_new_string(PACKAGE_URL));
	ifs = json_object_new_array();
	json_object_array_add(ifs, json_object_new_string(PX_VARLINK_SERVICE));
	json_object_array_add(ifs, json_object_new_string(PX_INTERFACE));
	json_object_object_add(p, "interfaces", ifs);
	call_reply(c, p);
}

/* org.varlink.service.GetInterfaceDescription */
static void
m_getdesc(struct core *core, struct call *c, json_object *params)
{
	json_object *v, *p;
	const char *name, *desc;

	(void)core;
	if ((v = param(params, "interface")) == NULL || !string_ok(v, 256)) {
		call_invalid(c, "interface", "expected an interface name");
		return;
	}
	name = json_object_get_string(v);
	if ((desc = methods_description(name)) == NULL) {
		call_error1(c, PX_ERR_INTERFACE_NOT_FOUND, "interface", name);
		return;
	}
	p = json_object_new_object();
	json_object_object_add(p, "description", json_object_new_string(desc));
	call_reply(c, p);
}

static const struct method {
	const char *name;
	void (*fn)(struct core *, struct call *, json_object *);
	const char *const *params;
} methods[] = {
	{ "io.pollex.Submit", m_submit, submit_params },
	{ "io.pollex.Cancel", m_cancel, id_params },
	{ "io.pollex.Get", m_get, id_params },
	{ "io.pollex.Wait", m_wait, wait_params },
	{ "io.pollex.List", m_list, list_params },
	{ "io.pollex.Watch", m_watch, watch_params },
	{ "io.pollex.Poll", m_poll, poll_params },
	{ "io.pollex.Pollers", m_pollers, no_params },
	{ "io.pollex.Stats", m_stats, no_params },
	{ "org.varlink.service.GetInfo", m_getinfo, no_params },
	{ "org.varlink.service.GetInterfaceDescription", m_getdesc,
	    getdesc_params },
};

size_t
methods_count(void)
{
	return nitems(methods);
}

const char *
methods_name(size_t i)
{
	return i < nitems(methods) ? methods[i].name : NULL;
}

const char *const *
methods_params(size_t i)
{
	return i < nitems(methods) ? methods[i].params : NULL;
}

const char *const *
methods_spec_fields(void)
{
	return spec_fields;
}

const char *
methods_description(const char *interface)
{
	if (strcmp(interface, PX_INTERFACE) == 0)
		return px_varlink_idl;
	if (strcmp(interface, PX_VARLINK_SERVICE) == 0)
		return varlink_service_idl;
	return NULL;
}

void
methods_dispatch(struct core *core, struct call *c, json_object *params)
{
	const char *name = call_method(c), *dot;
	size_t i, ilen;

	if (core->stopping) {
		call_error(c, PX_ERR_SHUTTING_DOWN, NULL);
		return;
	}
	for (i = 0; i < nitems(methods); i++)
		if (strcmp(methods[i].name, name) == 0) {
			if (params_known(c, params, methods[i].params) == 0)
				methods[i].fn(core, c, params);
			return;
		}
	/* A method of an interface we have, or an interface we lack? */
	if ((dot = strrchr(name, '.')) != NULL) {
		ilen = (size_t)(dot - name);
		if ((ilen == strlen(PX_INTERFACE) &&
		    strncmp(name, PX_INTERFACE, ilen) == 0) ||
		    (ilen == strlen(PX_VARLINK_SERVICE) &&
		    strncmp(name, PX_VARLINK_SERVICE, ilen) == 0)) {
			call_error1(c, PX_ERR_METHOD_NOT_FOUND, "method", name);
			return;
		}
		char *iface = xstrndup(name, ilen);
		call_error1(c, PX_ERR_INTERFACE_NOT_FOUND, "interface", iface);
		free(iface);
		return;
	}
	call_error1(c, PX_ERR_METHOD_NOT_FOUND, "method", name);
}
