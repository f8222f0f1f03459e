/* SPDX-License-Identifier: ISC */
/*
 * fuzz_client_reply.c: libpollex against a hostile daemon (client/conn.c,
 * error.c, task.c, libpollex.c, spec.c).
 *
 * The first byte chooses what the library does (a blocking call of the
 * public API, non-blocking calls through pollex_process(), or
 * pollex_task_parse()); the rest is everything the "daemon" sends: it
 * is written into the other end of a socket pair, which is then shut for
 * writing, so the library reads exactly these bytes and then the end of
 * the stream.  Whatever comes, the library must not crash, leak, hang or
 * hand out a task whose JSON accessors are not JSON.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "fuzzlib.h"
#include "pollex-int.h"
#include "pollex.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Before the first input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* A connection as pollex_connect() makes it, on fd. */
static pollex *
client_on(int fd)
{
	pollex *c = calloc(1, sizeof *c);

	if (c == NULL || (c->path = strdup("fuzz")) == NULL)
		abort();
	TAILQ_INIT(&c->calls);
	c->timeout_ms = 2000;
	c->max_message = 1 << 20;
	c->fd = fd;
	return c;
}

/* JSON text from the library (or NULL) must be JSON: json-c takes it. */
static void
json_or_null(const char *what, const char *text)
{
	struct jspan v;
	json_object *o;
	const char *why;

	if (text == NULL)
		return;
	if (jspan_check(text, strlen(text), 64, &v, &why, NULL) == 0)
		return;
	/* What json-c takes is what the daemon may send (its refs). */
	o = json_tokener_parse(text);
	FZ_CHECK(o != NULL || strcmp(text, "null") == 0, "%s is not JSON "
	    "(%s): %s", what, why, text);
	json_object_put(o);
}

/* Read every accessor of a task. */
static void
task_read(const pollex_task *t)
{
	const char *id;

	if (t == NULL)
		return;
	id = pollex_task_id(t);
	FZ_CHECK(id != NULL, "a task without an id");
	(void)pollex_task_poller(t);
	FZ_CHECK((int)pollex_task_state(t) >= 0 && (int)pollex_task_state(t) <
	    6, "task state %d", (int)pollex_task_state(t));
	(void)pollex_state_name(pollex_task_state(t));
	(void)pollex_task_owner(t);
	json_or_null("ref", pollex_task_ref(t));
	json_or_null("args", pollex_task_args(t));
	json_or_null("labels", pollex_task_labels(t));
	(void)pollex_task_label(t, "team");
	(void)pollex_task_idempotency_key(t);
	json_or_null("result", pollex_task_result(t));
	(void)pollex_task_error_code(t);
	(void)pollex_task_error_message(t);
	json_or_null("details", pollex_task_error_details(t));
	(void)pollex_task_created(t);
	(void)pollex_task_updated(t);
	(void)pollex_task_deadline(t);
	(void)pollex_task_finished(t);
	(void)pollex_task_polls(t);
	(void)pollex_task_poll_failures(t);
	(void)pollex_task_progress(t);
	json_or_null("task", pollex_task_json(t));
}

/* pollex_wait_each(): read each task. */
static int
each_cb(const pollex_task *t, void *arg)
{
	task_read(t);
	return ++*(int *)arg > 50;
}

/* pollex_watch(): read each event's task. */
static int
watch_cb(const char *event, const char *id, const pollex_task *t, void *arg)
{
	task_read(t);
	return ++*(int *)arg > 50;
}

/* pollex_call_async(): a reply's parameters are JSON. */
static void
async_cb(pollex *c, int err, const char *params, int continues, void *arg)
{
	if (err == 0)
		json_or_null("async reply", params);
	++*(int *)arg;
}

/* The library's error state must be consistent after a call. */
static void
after(pollex *c, int rv)
{
	(void)pollex_strerror(rv);
	if (pollex_error_name(c) != NULL)
		(void)pollex_error_message(c);
	json_or_null("error parameters", pollex_error_parameters(c));
}

/* One use of the library, chosen by op. */
static void
use(pollex *c, int op)
{
	static const char *const ids[] = { "01a206f9cb1d00000000",
		"01a206f9cb3000000000", "x" };
	pollex_task *t = NULL, **tasks = NULL;
	pollex_spec *spec;
	pollex_filter *f;
	char *s = NULL, **v = NULL, **nd = NULL;
	size_t n = 0;
	int rv = 0, k = 0, created = 0;

	switch (op) {
	case 0:
		rv = pollex_get(c, ids[0], &t);
		task_read(t);
		pollex_task_free(t);
		break;
	case 1:
		rv = pollex_wait(c, ids, 3, POLLEX_ALL_COMPLETED, -1, &tasks,
		    &n, &nd);
		if (rv >= 0) {
			for (k = 0; (size_t)k < n; k++)
				task_read(tasks[k]);
			pollex_tasks_free(tasks, n);
			pollex_strv_free(nd);
		}
		break;
	case 2:
		rv = pollex_wait_each(c, ids, 2, POLLEX_FIRST_EXCEPTION, 1.5,
		    each_cb, &k);
		break;
	case 3:
		f = pollex_filter_new();
		pollex_filter_set_poller(f, "p");
		pollex_filter_add_label(f, "team", "web");
		pollex_filter_set_limit(f, 10);
		rv = pollex_list(c, f, &tasks, &n, &s);
		if (rv >= 0) {
			for (k = 0; (size_t)k < n; k++)
				task_read(tasks[k]);
			pollex_tasks_free(tasks, n);
			free(s);
		}
		pollex_filter_free(f);
		break;
	case 4:
		spec = pollex_spec_new("p");
		pollex_spec_set_ref(spec, "{\"n\": 1}");
		pollex_spec_set_label(spec, "team", "web");
		rv = pollex_submit(c, spec, &s, &created);
		if (rv >= 0)
			free(s);
		pollex_spec_free(spec);
		break;
	case 5:
		rv = pollex_submit_json(c, "[{\"poller\": \"p\", \"ref\": {}}, "
		    "{\"poller\": \"p\", \"ref\": {\"a\": 2}}]", &v, &n);
		if (rv >= 0)
			pollex_strv_free(v);
		break;
	case 6:
		rv = pollex_cancel(c, ids[1], &k, &s);
		if (rv >= 0)
			free(s);
		break;
	case 7:
		f = pollex_filter_new();
		pollex_filter_add_state(f, POLLEX_PENDING);
		rv = pollex_watch(c, f, 1, watch_cb, &k);
		pollex_filter_free(f);
		break;
	case 8:
		rv = pollex_pollers(c, &s);
		if (rv >= 0) {
			json_or_null("pollers", s);
			free(s);
		}
		break;
	case 9:
		rv = pollex_stats(c, &s);
		if (rv >= 0) {
			json_or_null("stats", s);
			free(s);
		}
		break;
	case 10:
		rv = pollex_call(c, "io.pollex.Get", "{\"id\": \"x\"}", &s);
		if (rv >= 0) {
			json_or_null("call reply", s);
			free(s);
		}
		break;
	default:
		/* Non-blocking: calls queued, then processed as an event
		 * loop would (the fd is readable until the end). */
		pollex_call_async(c, "io.pollex.Get", "{\"id\": \"a\"}", 0,
		    async_cb, &k);
		pollex_call_async(c, "io.pollex.Watch", "{}",
		    POLLEX_CALL_MORE, async_cb, &k);
		pollex_call_async(c, "io.pollex.Stats", NULL,
		    POLLEX_CALL_ONEWAY, async_cb, &k);
		for (n = 0; n < 64 && pollex_pending(c) > 0; n++) {
			(void)pollex_events(c);
			(void)pollex_buffered(c);
			if ((rv = pollex_process(c)) < 0)
				break;
		}
		break;
	}
	after(c, rv);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pollex_task *t = NULL;
	pollex *c;
	char *text;
	int sv[2], op;
	size_t off = 0;
	ssize_t w;

	if (size < 1 || size > 1 << 16)
		return 0;
	op = data[0] % 13;
	if (op == 12) {
		/* The task parser alone (pollex_task_parse). */
		text = fz_strndup(data + 1, size - 1);
		if (pollex_task_parse(text, &t) == 0)
			task_read(t);
		pollex_task_free(t);
		free(text);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	while (off < size - 1) {
		w = write(sv[1], data + 1 + off, size - 1 - off);
		if (w <= 0)
			abort();	/* the socket buffer holds 64 KiB */
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		abort();
	c = client_on(sv[0]);
	use(c, op);
	pollex_close(c);
	close(sv[1]);
	return 0;
}
