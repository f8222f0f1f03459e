/* SPDX-License-Identifier: ISC */
/* poller_exec.c: the exec kind: a program of the user's is the poll function.
 *
 * Once per batch the poll program gets {"poller", "operation", "tasks": [{id,
 * ref, labels, args, created, deadline, polls}]} on stdin and answers
 * {"tasks": [{id, state, result | error, progress, delay}], "delay"} on
 * stdout.  The optional start program gets one task's arguments and prints
 * its ref; the optional cancel program exits 0 (cancelled), 1 (refused, the
 * reason on stdout) or anything else (error).  docs/exec-poller.md has the
 * contract. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "conf.h"
#include "frame.h"
#include "log.h"
#include "poller.h"
#include "proc.h"
#include "util.h"
#include "xmalloc.h"

struct exec_conf {
	char **poll;
	char **start;
	char **cancel;
	char **env;
	char *dir;
	uint64_t timeout;
	uint64_t max_output;
};

struct exec_run {
	struct proc *proc;
	struct proc_spec spec;
	char **env;
	char tag[128];
};

static void
exec_free_conf(void *arg)
{
	struct exec_conf *ec = arg;

	strv_free(ec->poll);
	strv_free(ec->start);
	strv_free(ec->cancel);
	strv_free(ec->env);
	free(ec->dir);
	free(ec);
}

static void *
exec_configure(struct cfg *c)
{
	struct exec_conf *ec = xcalloc(1, sizeof *ec);

	ec->timeout = 60 * 1000;
	ec->max_output = 16 * 1024 * 1024;
	if (cfg_argv(c, "poll", &ec->poll) == 0)
		cfg_error(c, "poll", "missing: an exec poller needs its poll "
		    "program, [\"/path/to/program\", \"argument\", ...]");
	cfg_argv(c, "start", &ec->start);
	cfg_argv(c, "cancel", &ec->cancel);
	cfg_env(c, "env", &ec->env);
	cfg_string(c, "directory", &ec->dir);
	if (cfg_duration(c, "timeout", &ec->timeout) == 1 && ec->timeout < 10)
		cfg_error(c, "timeout", "must be at least 10ms");
	cfg_uint(c, "max_output", 1024, 1024ULL * 1024 * 1024, &ec->max_output);
	if (ec->dir != NULL && ec->dir[0] != '/')
		cfg_error(c, "directory", "must be an absolute path");
	if (cfg_failed(c)) {
		exec_free_conf(ec);
		return NULL;
	}
	return ec;
}

static int
exec_has_start(const void *arg)
{
	const struct exec_conf *ec = arg;

	return ec->start != NULL;
}

static int
exec_has_cancel(const void *arg)
{
	const struct exec_conf *ec = arg;

	return ec->cancel != NULL;
}

static void
exec_run_free(struct exec_run *run)
{
	strv_free(run->env);
	free(run);
}

/* Start argv for op with input; the run is op->kstate until it ends. */
static int
exec_launch(struct op *op, char **argv, struct evbuffer *in, proc_cb cb,
    const char *what, char **cause)
{
	struct exec_conf *ec = op->conf->kconf;
	struct exec_run *run = xcalloc(1, sizeof *run);
	size_t i, n = 0;

	while (ec->env != NULL && ec->env[n] != NULL)
		n++;
	run->env = xcalloc(n + 4, sizeof *run->env);
	for (i = 0; i < n; i++)
		run->env[i] = xstrdup(ec->env[i]);
	xasprintf(&run->env[n++], "POLLEX_POLLER=%s", poller_name(op->poller));
	xasprintf(&run->env[n++], "POLLEX_OPERATION=%s", what);
	if (op->type != OP_POLL)
		xasprintf(&run->env[n++], "POLLEX_TASK_ID=%s", op->id);
	snprintf(run->tag, sizeof run->tag, "poller %s: %s",
	    poller_name(op->poller), what);
	run->spec.argv = argv;
	run->spec.env = run->env;
	run->spec.dir = ec->dir;
	run->spec.input_len = evbuffer_get_length(in);
	run->spec.input = (const char *)evbuffer_pullup(in, -1);
	run->spec.timeout = ec->timeout;
	run->spec.max_output = ec->max_output;
	run->spec.tag = run->tag;
	run->proc = proc_start(op->base, &run->spec, cb, op, cause);
	run->spec.input = NULL;
	run->spec.input_len = 0;
	evbuffer_free(in);
	if (run->proc == NULL) {
		exec_run_free(run);
		return -1;
	}
	op->kstate = run;
	return 0;
}

/* Append "key":JSON-text, when text is set. */
static void
exec_add_raw(struct evbuffer *b, const char *key, const char *text)
{
	if (text != NULL)
		evbuffer_add_printf(b, ",\"%s\":%s", key, text);
}

static void
exec_add_header(struct evbuffer *b, struct op *op, const char *what)
{
	char name[6 * 64 + 3];

	name[json_string_escape(name, poller_name(op->poller),
	    strlen(poller_name(op->poller)))] = '\0';
	evbuffer_add_printf(b, "{\"poller\":%s,\"operation\":\"%s\"", name,
	    what);
}

/* Check one item of the poll output; NULL when it is good. */
static const char *
exec_check_item(json_object *it, struct outcome *o)
{
	json_object *v, *e;
	const char *s;

	memset(o, 0, sizeof *o);
	o->progress = NAN;
	o->delay = NAN;
	if (!json_object_is_type(it, json_type_object))
		return "is not an object";
	if (!json_object_object_get_ex(it, "id", &v) ||
	    !json_object_is_type(v, json_type_string))
		return "needs \"id\", a string";
	if (!json_object_object_get_ex(it, "state", &v) ||
	    !json_object_is_type(v, json_type_string))
		return "needs \"state\": \"succeeded\", \"failed\" or \"pending\"";
	s = json_object_get_string(v);
	if (strcmp(s, "succeeded") == 0)
		o->state = PX_STATE_SUCCEEDED;
	else if (strcmp(s, "failed") == 0)
		o->state = PX_STATE_FAILED;
	else if (strcmp(s, "pending") == 0)
		o->state = PX_STATE_PENDING;
	else
		return "has a \"state\" other than \"succeeded\", \"failed\" or "
		    "\"pending\"";
	if (json_object_object_get_ex(it, "progress", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return "has a \"progress\" that is not a number";
		o->progress = json_object_get_double(v);
	}
	if (json_object_object_get_ex(it, "delay", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return "has a \"delay\" that is not a number";
		o->delay = json_object_get_double(v);
	}
	if (o->state == PX_STATE_SUCCEEDED) {
		/* JSON for clients: numbers json-c took beyond it are
		 * respelt, NaN and Infinity become null. */
		if (!json_object_object_get_ex(it, "result", &v) ||
		    (json_strict_numbers(v) > 0 &&
		    json_object_is_type(v, json_type_double)))
			o->result = "null";
		else
			o->result = json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE);
	}
	if (o->state != PX_STATE_FAILED)
		return NULL;
	o->code = "failed";
	o->message = "the poll program reported the task as failed";
	if (!json_object_object_get_ex(it, "error", &e) || e == NULL)
		return NULL;
	if (json_object_is_type(e, json_type_string)) {
		o->message = json_object_get_string(e);
		return NULL;
	}
	if (!json_object_is_type(e, json_type_object))
		return "has an \"error\" that is neither a string nor an object";
	if (json_object_object_get_ex(e, "code", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return "has an \"error.code\" that is not a string";
		o->code = json_object_get_string(v);
	}
	if (json_object_object_get_ex(e, "message", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return "has an \"error.message\" that is not a string";
		o->message = json_object_get_string(v);
	}
	if (json_object_object_get_ex(e, "details", &v) && v != NULL)
		o->details = json_strict_numbers(v) > 0 &&
		    json_object_is_type(v, json_type_double) ? "null" :
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
	return NULL;
}

static void
exec_poll_cb(void *arg, const struct proc_result *r)
{
	struct op *op = arg;
	struct exec_run *run = op->kstate;
	struct sched_result sr = { 0, NULL, NAN, 0 };
	struct outcome *outs = NULL;
	json_object *obj = NULL, *tasks = NULL, *v, *delay = NULL;
	char *msg = NULL;
	const char *why;
	size_t i, n = 0;

	if (proc_failure(r, &run->spec, &msg))
		goto failed;
	if ((obj = frame_parse(r->out, r->out_len, &why)) == NULL) {
		xasprintf(&msg, "%s printed invalid output (expected one "
		    "JSON object): %s", run->spec.argv[0], why);
		goto failed;
	}
	if (json_object_object_get_ex(obj, "delay", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int)) {
			xasprintf(&msg, "%s printed invalid output: \"delay\" "
			    "is not a number", run->spec.argv[0]);
			goto failed;
		}
		delay = v;
	}
	if (json_object_object_get_ex(obj, "tasks", &tasks) && tasks != NULL) {
		if (!json_object_is_type(tasks, json_type_array)) {
			xasprintf(&msg, "%s printed invalid output: \"tasks\" "
			    "is not an array", run->spec.argv[0]);
			goto failed;
		}
		n = json_object_array_length(tasks);
	}
	/* All or nothing: check every item before applying any. */
	if (n > 0)
		outs = xcalloc(n, sizeof *outs);
	for (i = 0; i < n; i++)
		if ((why = exec_check_item(json_object_array_get_idx(tasks, i),
		    &outs[i])) != NULL) {
			xasprintf(&msg, "%s printed invalid output: tasks[%zu] "
			    "%s", run->spec.argv[0], i, why);
			goto failed;
		}
	/* Delays that are no delay (0, negative, NaN, Infinity: json-c
	 * takes those tokens) are ignored, out of range ones clamped; both
	 * logged.  The rest of the output stands. */
	if (delay != NULL)
		sr.delay = op_delay(op, "delay", json_object_get_double(delay),
		    json_object_to_json_string(delay));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(tasks, i);
		if (outs[i].state == PX_STATE_PENDING &&
		    json_object_object_get_ex(v, "delay", &delay) &&
		    delay != NULL)
			outs[i].delay = op_delay(op, "a task's delay",
			    outs[i].delay, json_object_to_json_string(delay));
		op_outcome(op, json_object_get_string(json_object_object_get(v,
		    "id")), &outs[i]);
	}
	free(outs);
	json_object_put(obj);
	exec_run_free(run);
	op->kstate = NULL;
	op_poll_done(op, &sr);
	return;
failed:
	free(outs);
	json_object_put(obj);
	exec_run_free(run);
	op->kstate = NULL;
	sr.failed = 1;
	sr.error = msg;
	op_poll_done(op, &sr);
	free(msg);
}

static int
exec_poll(struct op *op, char **cause)
{
	struct exec_conf *ec = op->conf->kconf;
	struct evbuffer *in = evbuffer_new();
	struct task *t;
	uint32_t i;
	int first = 1;

	exec_add_header(in, op, "poll");
	evbuffer_add_printf(in, ",\"tasks\":[");
	for (i = 0; i < op->batch->n; i++) {
		if ((t = op->batch->tasks[i]) == NULL)
			continue;
		evbuffer_add_printf(in, "%s{\"id\":\"%s\",\"ref\":%s",
		    first ? "" : ",", t->id, t->ref);
		exec_add_raw(in, "labels", t->labels);
		exec_add_raw(in, "args", t->args);
		evbuffer_add_printf(in, ",\"created\":%.3f,\"polls\":%u",
		    t->created, t->polls);
		if (t->deadline > 0)
			evbuffer_add_printf(in, ",\"deadline\":%.3f",
			    t->deadline);
		evbuffer_add(in, "}", 1);
		first = 0;
	}
	evbuffer_add_printf(in, "]}\n");
	return exec_launch(op, ec->poll, in, exec_poll_cb, "poll", cause);
}

static void
exec_start_cb(void *arg, const struct proc_result *r)
{
	struct op *op = arg;
	struct exec_run *run = op->kstate;
	json_object *obj = NULL;
	char *msg = NULL, *ref = NULL;
	const char *why;

	if (proc_failure(r, &run->spec, &msg))
		;
	else if ((obj = frame_parse(r->out, r->out_len, &why)) == NULL)
		xasprintf(&msg, "%s printed no valid ref: %s (expected one "
		    "JSON object)", run->spec.argv[0], why);
	else
		ref = json_canonical(obj);
	json_object_put(obj);
	exec_run_free(run);
	op->kstate = NULL;
	if (ref != NULL)
		op_start_done(op, ref, NULL, NULL);
	else
		op_start_done(op, NULL, "start_failed", msg);
	free(ref);
	free(msg);
}

static int
exec_start(struct op *op, char **cause)
{
	struct exec_conf *ec = op->conf->kconf;
	struct evbuffer *in = evbuffer_new();
	struct task *t = op->task;

	exec_add_header(in, op, "start");
	evbuffer_add_printf(in, ",\"id\":\"%s\"", t->id);
	exec_add_raw(in, "args", t->args);
	exec_add_raw(in, "labels", t->labels);
	evbuffer_add_printf(in, "}\n");
	return exec_launch(op, ec->start, in, exec_start_cb, "start", cause);
}

static void
exec_cancel_cb(void *arg, const struct proc_result *r)
{
	struct op *op = arg;
	struct exec_run *run = op->kstate;
	const char *line;
	char *msg = NULL, *reason;
	size_t len;

	if (r->exited && r->status == 0 && !r->timed_out && !r->overflow) {
		exec_run_free(run);
		op->kstate = NULL;
		op_cancel_done(op, CANCEL_DONE, NULL);
		return;
	}
	if (r->exited && r->status == 1 && !r->timed_out && !r->overflow) {
		/* The first line of stdout says why, else stderr's last. */
		line = r->out + strspn(r->out, " \t\r\n");
		len = strcspn(line, "\r\n");
		reason = utf8_repair(line, len <= 512 ? len :
		    utf8_trim(line, 512), NULL);
		if (*reason == '\0') {
			free(reason);
			reason = xstrdup(r->err_last[0] != '\0' ? r->err_last :
			    "the cancel program refused");
		}
		exec_run_free(run);
		op->kstate = NULL;
		op_cancel_done(op, CANCEL_REFUSED, reason);
		free(reason);
		return;
	}
	proc_failure(r, &run->spec, &msg);
	exec_run_free(run);
	op->kstate = NULL;
	op_cancel_done(op, CANCEL_ERROR, msg);
	free(msg);
}

static int
exec_cancel(struct op *op, char **cause)
{
	struct exec_conf *ec = op->conf->kconf;
	struct evbuffer *in = evbuffer_new();

	exec_add_header(in, op, "cancel");
	evbuffer_add_printf(in, ",\"id\":\"%s\"", op->id);
	exec_add_raw(in, "ref", op->ref);
	exec_add_raw(in, "args", op->args);
	exec_add_raw(in, "labels", op->labels);
	evbuffer_add_printf(in, "}\n");
	return exec_launch(op, ec->cancel, in, exec_cancel_cb, "cancel", cause);
}

static void
exec_abort(struct op *op)
{
	struct exec_run *run = op->kstate;

	if (run == NULL)
		return;
	proc_abort(run->proc);
	exec_run_free(run);
	op->kstate = NULL;
}

const struct poller_kind poller_kind_exec = {
	.name = "exec",
	.configure = exec_configure,
	.free_conf = exec_free_conf,
	.has_start = exec_has_start,
	.has_cancel = exec_has_cancel,
	.poll = exec_poll,
	.start = exec_start,
	.cancel = exec_cancel,
	.abort = exec_abort,
};
