/* SPDX-License-Identifier: ISC */
/* fzdaemon.c: an in-memory pollexd for the fuzz targets. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "frame.h"
#include "fuzzlib.h"
#include "fzdaemon.h"
#include "log.h"
#include "methods.h"
#include "pollexd.h"
#include "util.h"

struct fz_proc *fz_procs[FZ_MAXPROCS];
size_t fz_nprocs;

/* One call made from a message; finished once its last reply came. */
struct fz_reply {
	struct fz_reply *next;
	struct fzd *d;
	struct call *c;
	int finished;
};

static char fz_conf_path[256];

struct proc *__wrap_proc_start(struct event_base *, const struct proc_spec *,
    proc_cb, void *, char **);
void __wrap_proc_abort(struct proc *);

/* proc_start() without a child: the program is recorded, and runs when
 * the target finishes it with fz_proc_finish(). */
struct proc *
__wrap_proc_start(struct event_base *base, const struct proc_spec *spec,
    proc_cb cb, void *arg, char **cause)
{
	struct fz_proc *p;

	if (fz_nprocs == FZ_MAXPROCS) {
		*cause = strdup("too many programs for the fuzzer");
		return NULL;
	}
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	p->cb = cb;
	p->arg = arg;
	p->argv0 = strdup(spec->argv[0]);
	p->input = fz_strndup((const uint8_t *)spec->input, spec->input_len);
	p->input_len = spec->input_len;
	fz_procs[fz_nprocs++] = p;
	return (struct proc *)p;
}

/* Forget a recorded program. */
static void
fz_proc_forget(struct fz_proc *p)
{
	size_t i;

	for (i = 0; i < fz_nprocs; i++)
		if (fz_procs[i] == p) {
			fz_procs[i] = fz_procs[--fz_nprocs];
			break;
		}
	free(p->argv0);
	free(p->input);
	free(p);
}

/* proc_abort(): the callback must never run after it. */
void
__wrap_proc_abort(struct proc *proc)
{
	fz_proc_forget((struct fz_proc *)proc);
}

/* Run a recorded program's callback with a made-up result. */
void
fz_proc_finish(struct fz_proc *p, int status, int signo, const char *out,
    size_t out_len, const char *err_last)
{
	struct proc_result r;
	char *copy = fz_strndup((const uint8_t *)out, out_len);

	memset(&r, 0, sizeof r);
	r.exited = signo == 0;
	r.status = status;
	r.signo = signo;
	r.out = copy;
	r.out_len = out_len;
	r.err_last = err_last;
	/* As proc.c does: the process is gone before its callback. */
	{
		proc_cb cb = p->cb;
		void *arg = p->arg;

		fz_proc_forget(p);
		cb(arg, &r);
	}
	free(copy);
}

/* Write the configuration once; logs, hashing and stderr set up. */
void
fzd_setup(const char *conf_text)
{
	char dir[] = "/tmp/pollex-fuzz.XXXXXX";
	int fd;

	fz_init();
	hash_init();
	log_init("pollexd-fuzz", 0);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(fz_conf_path, sizeof fz_conf_path, "%s/pollexd.conf", dir);
	if ((fd = open(fz_conf_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
	    -1 || write(fd, conf_text, strlen(conf_text)) !=
	    (ssize_t)strlen(conf_text) || close(fd) == -1)
		abort();
}

/* A fresh daemon with the configuration applied. */
struct fzd *
fzd_new(void)
{
	struct fzd *d = calloc(1, sizeof *d);
	struct conf *conf;
	char *cause = NULL;

	if (d == NULL)
		abort();
	if (conf_load(fz_conf_path, &conf, &cause) != 0)
		fz_fail("the fuzzer's configuration: %s", cause);
	d->base = event_base_new();
	d->pxd = pxd_new(d->base, NULL);
	pxd_apply_conf(d->pxd, conf);
	return d;
}

/* Take the ids of a Submit reply. */
static void
fzd_take_ids(struct fzd *d, json_object *reply)
{
	json_object *p, *ids, *v;
	size_t i;

	if (!json_object_object_get_ex(reply, "parameters", &p) ||
	    !json_object_object_get_ex(p, "ids", &ids) ||
	    !json_object_is_type(ids, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(ids) && d->nids < 10; i++) {
		v = json_object_array_get_idx(ids, i);
		if (!json_object_is_type(v, json_type_string))
			continue;
		d->ids = realloc(d->ids, (d->nids + 1) * sizeof *d->ids);
		d->ids[d->nids++] = strdup(json_object_get_string(v));
	}
}

/* The sink of a call: every reply must be a message a client reads. */
static void
fzd_sink(void *arg, const char *msg, size_t len, int final)
{
	struct fz_reply *r = arg;
	struct jspan span;
	const char *why = NULL;
	json_object *o;

	FZ_CHECK(memchr(msg, '\0', len) == NULL, "a NUL inside a reply: the "
	    "framing breaks");
	FZ_CHECK(frame_check(msg, len, &span, &why) == 0, "libpollex "
	    "refuses a reply (%s): %.*s", why, (int)len, msg);
	if (r->d->strict)
		FZ_CHECK(jspan_check(msg, len, 64, &span, &why, NULL) == 0,
		    "a reply that is not strict JSON (%s): %.*s", why,
		    (int)len, msg);
	if ((o = frame_parse(msg, len, &why)) != NULL) {
		fzd_take_ids(r->d, o);
		json_object_put(o);
	}
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "reply: %.*s\n", (int)len, msg);
	r->d->replies++;
	if (final)
		r->finished = 1;
}

char *
fzd_subst(struct fzd *d, const char *msg, size_t len, size_t *outlen)
{
	size_t i, n = 0, cap = len + 1;
	char *out = malloc(cap);
	const char *id;

	for (i = 0; i < len; i++) {
		id = NULL;
		if (msg[i] == '$' && i + 1 < len && msg[i + 1] >= '0' &&
		    msg[i + 1] <= '9' && (size_t)(msg[i + 1] - '0') < d->nids)
			id = d->ids[msg[i + 1] - '0'];
		if (n + (id != NULL ? strlen(id) : 1) + 1 > cap) {
			cap = 2 * cap + 64;
			out = realloc(out, cap);
		}
		if (id != NULL) {
			memcpy(out + n, id, strlen(id));
			n += strlen(id);
			i++;
		} else
			out[n++] = msg[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* What server.c's client_message() does with one message. */
void
fzd_message(struct fzd *d, const struct caller *who, const char *text,
    size_t tlen)
{
	json_object *obj, *v, *params = NULL;
	const char *why = NULL;
	struct fz_reply *r;
	struct call *c;
	int more = 0, oneway = 0;
	size_t len;
	char *msg = fzd_subst(d, text, tlen, &len);

	r = calloc(1, sizeof *r);
	r->d = d;
	r->next = d->calls;
	d->calls = r;
	if ((obj = frame_parse(msg, len, &why)) == NULL) {
		c = call_new(who, "", 0, 0, fzd_sink, r);
		call_error(c, PX_ERR_INVALID_MESSAGE, NULL);
		free(msg);
		return;
	}
	if (!json_object_object_get_ex(obj, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		why = "method";
	else if (json_object_object_get_ex(obj, "parameters", &params) &&
	    !json_object_is_type(params, json_type_object))
		why = "parameters";
	else if (json_object_object_get_ex(obj, "more", &v) &&
	    !json_object_is_type(v, json_type_boolean))
		why = "more";
	else if (json_object_object_get_ex(obj, "oneway", &v) &&
	    !json_object_is_type(v, json_type_boolean))
		why = "oneway";
	if (why == NULL) {
		json_object_object_get_ex(obj, "more", &v);
		more = v != NULL && json_object_get_boolean(v);
		json_object_object_get_ex(obj, "oneway", &v);
		oneway = v != NULL && json_object_get_boolean(v);
		if (more && oneway)
			why = "both";
	}
	if (why != NULL) {
		c = call_new(who, "", 0, 0, fzd_sink, r);
		call_error(c, PX_ERR_INVALID_MESSAGE, NULL);
	} else {
		json_object_object_get_ex(obj, "method", &v);
		if (oneway) {
			r->finished = 1;	/* nothing will come back */
			c = call_new(who, json_object_get_string(v), 0, 1,
			    NULL, NULL);
		} else
			c = call_new(who, json_object_get_string(v), more, 0,
			    fzd_sink, r);
		r->c = c;
		methods_dispatch(pxd_core(d->pxd), c, params);
	}
	json_object_put(obj);
	free(msg);
}

/* One turn of the loop without waiting, then the after-work. */
void
fzd_loop(struct fzd *d)
{
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	pxd_after_iteration(d->pxd);
}

/* Nothing to do: the timer only bounds the wait. */
static void
fzd_wake(evutil_socket_t fd, short what, void *arg)
{
}

/* One turn of the loop that may wait up to ms for an event. */
void
fzd_wait(struct fzd *d, int ms)
{
	struct timeval tv = { 0, ms * 1000 };
	struct event *ev = evtimer_new(d->base, fzd_wake, NULL);

	evtimer_add(ev, &tv);
	event_base_loop(d->base, EVLOOP_ONCE);
	event_free(ev);
	pxd_after_iteration(d->pxd);
}

/* The client goes away, then the daemon stops. */
void
fzd_free(struct fzd *d)
{
	struct fz_reply *r, *next;
	size_t i;

	/* The client went away: what is unfinished is aborted, as the
	 * server aborts a closed connection's calls. */
	for (r = d->calls; r != NULL; r = r->next)
		if (!r->finished && r->c != NULL) {
			r->finished = 1;
			call_abort(r->c);
		}
	pxd_free(d->pxd);
	event_base_free(d->base);
	for (r = d->calls; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	for (i = 0; i < d->nids; i++)
		free(d->ids[i]);
	free(d->ids);
	while (fz_nprocs > 0)
		fz_proc_forget(fz_procs[0]);
	free(d);
}
