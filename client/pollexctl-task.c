/* SPDX-License-Identifier: ISC */
/*
 * pollexctl-task.c: the task commands of pollexctl: submit (one task or a
 * file of TaskSpec lines, pipelined), cancel, get, wait (with a progress
 * line on a terminal), list and watch.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pollexctl.h"

/* Specs per Submit call of submit --file, and calls in flight. */
#define CTL_CHUNK 1000
#define CTL_INFLIGHT 4

/* One Submit call of submit --file. */
struct ctl_chunk {
	size_t first, n; /* specs[first .. first + n) */
	int state;       /* CHUNK_* */
	char **ids;
	int *created;
	char *error; /* why it failed */
	int code;    /* exit code of the failure */
	long bad;    /* index in the chunk InvalidParameter names */
	size_t *inflight;
};
enum { CHUNK_UNSENT, CHUNK_SENT, CHUNK_OK, CHUNK_FAILED };

/*
 * One TaskSpec line of submit --file, checked: what the pollers check and
 * the Submit calls need.  The parsed object is not kept: thousands of
 * json-c trees cost more memory (page faults) than the line's text.
 */
struct ctl_spec {
	char *text;   /* the line, JSON */
	char *poller; /* its poller */
	size_t line;  /* its number */
	int has_ref;  /* with a (non-null) ref */
};

/* One waited task's progress, as the watcher last heard it. */
struct ctl_task_progress {
	const char *id;
	double progress; /* NaN: none reported */
	int done;
};

/* Progress of a wait. */
struct ctl_wait {
	pollex *c;
	size_t n, done, bad;
	int progress; /* drawing a progress line on stderr */
	/* On a terminal, a second connection watches the tasks for their
	 * progress (Wait reports only ends), in a thread of its own; the
	 * lock covers the table and the drawing. */
	struct ctl_task_progress *tp;
	pollex *wc;
	pthread_t watcher;
	int watching;
	pthread_mutex_t lock;
};

/* The progress line is on screen (cleared by the signal handler). */
static volatile sig_atomic_t ctl_progress_shown;

static const char *ctl_label_text(const pollex_task *, char *, size_t);
static void ctl_progress_clear(void);
static void ctl_progress_draw(const struct ctl_wait *);
static void ctl_on_signal(int);
static void ctl_print_task_line(const pollex_task *);
static int ctl_on_wait(const pollex_task *, void *);
static int ctl_wait_ids(
    pollex *, char *const *, size_t, enum pollex_return_when, double);
static void ctl_print_created(const char *, int);
static int ctl_submit_file(const char *, int, double);
static int ctl_spec_check(json_object *, const char **);
static int ctl_pollers_check(
    pollex *, const struct ctl_spec *, size_t, const char *);
static void ctl_on_chunk(pollex *, int, const char *, int, void *);
static int ctl_run_chunks(
    pollex *, const struct ctl_spec *, struct ctl_chunk *, size_t);
static void ctl_describe(const pollex_task *);
static int ctl_on_event(
    const char *, const char *, const pollex_task *, void *);

/* "k=v,k2=v2" of a task's labels, or "-". */
static const char *
ctl_label_text(const pollex_task *t, char *buf, size_t len)
{
	json_object *o;
	const char *why, *text = pollex_task_labels(t);
	size_t off = 0;
	int first = 1;

	snprintf(buf, len, "-");
	if (text == NULL || (o = ctl_parse_json(text, &why)) == NULL)
		return buf;
	json_object_object_foreach(o, k, v)
	{
		int n = snprintf(buf + off, len - off, "%s%s=%s",
		    first ? "" : ",", k, json_object_get_string(v));

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
		first = 0;
	}
	json_object_put(o);
	return buf;
}

/* ---- wait ------------------------------------------------------------- */

/* Remove the progress line. */
static void
ctl_progress_clear(void)
{
	if (ctl_progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		ctl_progress_shown = 0;
	}
}

/* A progress value as shown: a fraction as a percentage, else as it is. */
static void
ctl_progress_text(double p, char *buf, size_t len)
{
	if (p >= 0 && p <= 1)
		snprintf(buf, len, "%.0f%%", p * 100);
	else
		snprintf(buf, len, "%g", p);
}

/*
 * Redraw "12/100 done, 3 failed, 85 pending", then the progress of the
 * pending tasks that reported one ("...0002 40%"), as many as the
 * terminal's width holds.
 */
static void
ctl_progress_draw(const struct ctl_wait *w)
{
	struct winsize ws;
	char line[1024], pct[32];
	const char *cols;
	size_t i, width = 80, off;
	int k;

	if (!w->progress)
		return;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col;
	else if ((cols = getenv("COLUMNS")) != NULL && atoi(cols) > 20)
		width = (size_t)atoi(cols);
	if (width > sizeof line - 1)
		width = sizeof line - 1;
	k = snprintf(line, sizeof line, "%zu/%zu done, %zu failed, %zu pending",
	    w->done, w->n, w->bad, w->n - w->done);
	off = k > 0 ? (size_t)k : 0;
	for (i = 0; w->tp != NULL && i < w->n; i++) {
		if (w->tp[i].done || isnan(w->tp[i].progress))
			continue;
		ctl_progress_text(w->tp[i].progress, pct, sizeof pct);
		k = snprintf(line + off, sizeof line - off, "%s%s %s",
		    off > 0 ? ", " : "", w->tp[i].id, pct);
		if (k < 0 || off + (size_t)k >= width) {
			line[off] = '\0';
			break;
		}
		off += (size_t)k;
	}
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	ctl_progress_shown = 1;
}

/* The watcher's events: a waited task's progress changed. */
static int
ctl_on_progress(const char *event, const char *id, const pollex_task *t,
    void *arg)
{
	struct ctl_wait *w = arg;
	double p;
	size_t i;

	(void)event;
	if (t == NULL || id == NULL || isnan(p = pollex_task_progress(t)))
		return 0;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->n; i++)
		if (strcmp(w->tp[i].id, id) == 0 && w->tp[i].progress != p) {
			w->tp[i].progress = p;
			ctl_progress_draw(w);
			break;
		}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void *
ctl_watcher(void *arg)
{
	struct ctl_wait *w = arg;
	pollex_filter *f = pollex_filter_new();
	size_t i;

	for (i = 0; f != NULL && i < w->n; i++)
		pollex_filter_add_id(f, w->tp[i].id);
	/* Ends when the wait is over (ctl_watch_stop()) or on an error:
	 * the counts go on without per-task progress. */
	if (f != NULL)
		pollex_watch(w->wc, f, 1, ctl_on_progress, w);
	pollex_filter_free(f);
	return NULL;
}

/* On a terminal: watch the tasks' progress beside the wait. */
static void
ctl_watch_start(struct ctl_wait *w, char *const *ids)
{
	size_t i;

	pthread_mutex_init(&w->lock, NULL);
	if ((w->tp = calloc(w->n, sizeof *w->tp)) == NULL)
		return;
	for (i = 0; i < w->n; i++) {
		w->tp[i].id = ids[i];
		w->tp[i].progress = NAN;
	}
	if ((w->wc = ctl_connect_quiet()) == NULL)
		return;
	w->watching = pthread_create(&w->watcher, NULL, ctl_watcher, w) == 0;
}

static void
ctl_watch_stop(struct ctl_wait *w)
{
	if (w->watching) {
		/* Its read ends: pollex_watch() returns. */
		shutdown(pollex_fd(w->wc), SHUT_RDWR);
		pthread_join(w->watcher, NULL);
		w->watching = 0;
	}
	if (w->wc != NULL)
		pollex_close(w->wc);
	w->wc = NULL;
	free(w->tp);
	w->tp = NULL;
	pthread_mutex_destroy(&w->lock);
}

/* SIGINT/SIGTERM while a progress line shows: clear it, die as usual. */
static void
ctl_on_signal(int sig)
{
	static const char clear[] = "\r\033[K";
	ssize_t n = 0;

	if (ctl_progress_shown)
		n = write(STDERR_FILENO, clear, sizeof clear - 1);
	(void)n;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* "ID succeeded RESULT", "ID failed CODE: MESSAGE", "ID cancelled"... */
static void
ctl_print_task_line(const pollex_task *t)
{
	const char *id = pollex_task_id(t), *code, *msg;

	if (ctl.json) {
		puts(pollex_task_json(t));
		return;
	}
	switch (pollex_task_state(t)) {
	case POLLEX_SUCCEEDED:
		if (pollex_task_result(t) != NULL)
			printf("%s succeeded %s\n", id, pollex_task_result(t));
		else
			printf("%s succeeded\n", id);
		break;
	case POLLEX_FAILED:
		code = pollex_task_error_code(t);
		msg = pollex_task_error_message(t);
		if (code != NULL)
			printf("%s failed %s: %s\n", id, code,
			    msg != NULL ? msg : "");
		else
			printf("%s failed\n", id);
		break;
	default:
		printf("%s %s\n", id, pollex_state_name(pollex_task_state(t)));
		break;
	}
}

/*
 * Flush stdout once nothing more is at hand: a flush per line costs a
 * write(2) per task, yet no line may sit in the buffer while we wait for
 * the daemon (someone may be watching, or piping into another program).
 */
static void
ctl_flush_idle(pollex *c)
{
	if (!pollex_buffered(c))
		fflush(stdout);
}

/* A task finished: print it and update the progress. */
static int
ctl_on_wait(const pollex_task *t, void *arg)
{
	struct ctl_wait *w = arg;
	size_t i;

	if (w->progress)
		pthread_mutex_lock(&w->lock);
	ctl_progress_clear();
	ctl_print_task_line(t);
	ctl_flush_idle(w->c);
	w->done++;
	if (pollex_task_state(t) != POLLEX_SUCCEEDED)
		w->bad++;
	for (i = 0; w->tp != NULL && i < w->n; i++)
		if (strcmp(w->tp[i].id, pollex_task_id(t)) == 0)
			w->tp[i].done = 1;
	if (w->done < w->n)
		ctl_progress_draw(w);
	if (w->progress)
		pthread_mutex_unlock(&w->lock);
	return 0;
}

/* Wait for ids, printing each as it finishes; returns the exit code. */
static int
ctl_wait_ids(pollex *c, char *const *ids, size_t n,
    enum pollex_return_when when, double timeout)
{
	struct ctl_wait w = {.c = c, .n = n};
	struct sigaction sa;
	int r;

	w.progress = isatty(STDERR_FILENO);
	if (w.progress) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = ctl_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		ctl_watch_start(&w, ids);
		pthread_mutex_lock(&w.lock);
		ctl_progress_draw(&w);
		pthread_mutex_unlock(&w.lock);
	}
	r = pollex_wait_each(
	    c, (const char *const *)ids, n, when, timeout, ctl_on_wait, &w);
	if (w.progress) {
		ctl_watch_stop(&w);
		w.progress = 1;
	}
	fflush(stdout);
	ctl_progress_clear();
	if (r < 0)
		return ctl_fail(c, r);
	if (r == POLLEX_TIMED_OUT) {
		ctl_warnx("wait timed out: %zu of %zu task%s not done",
		    n - w.done, n, n == 1 ? "" : "s");
		return w.bad > 0 ? CTL_EXIT_FAILED : CTL_EXIT_TIMEDOUT;
	}
	return w.bad > 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

/* wait: wait for ids from the command line or stdin. */
int
ctl_cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"any", no_argument, NULL, 'A'},
	    {"first-exception", no_argument, NULL, 'x'},
	    {"timeout", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum pollex_return_when when = POLLEX_ALL_COMPLETED;
	struct ctl_strv ids = {0};
	double timeout = -1;
	char *line = NULL, *tok, *save;
	size_t cap = 0;
	int opt, modes = 0, i, rc;
	pollex *c;

	while ((opt = getopt_long(argc, argv, ":t:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			when = POLLEX_ALL_COMPLETED;
			modes |= 1;
			break;
		case 'A':
			when = POLLEX_FIRST_COMPLETED;
			modes |= 2;
			break;
		case 'x':
			when = POLLEX_FIRST_EXCEPTION;
			modes |= 4;
			break;
		case 't':
			if (ctl_duration(optarg, &timeout) != 0)
				ctl_usage_error(argv[0],
				    "--timeout: invalid "
				    "duration '%s'",
				    optarg);
			break;
		default:
			if (!ctl_json_opt(opt, argv))
				ctl_bad_option(opt, argv);
		}
	}
	if (modes != 0 && (modes & (modes - 1)) != 0)
		ctl_usage_error(argv[0],
		    "--all, --any and --first-exception "
		    "exclude each other");
	if (optind >= argc)
		ctl_usage_error(argv[0], "no task id given");
	if (argc - optind == 1 && strcmp(argv[optind], "-") == 0) {
		while (getline(&line, &cap, stdin) != -1)
			for (tok = strtok_r(line, " \t\r\n", &save);
			     tok != NULL;
			     tok = strtok_r(NULL, " \t\r\n", &save))
				ctl_strv_add(&ids, tok);
		free(line);
		if (ferror(stdin))
			ctl_fatalx("reading ids: %s", strerror(errno));
		if (ids.n == 0)
			ctl_usage_error(argv[0], "no task id on stdin");
	} else {
		for (i = optind; i < argc; i++) {
			if (*argv[i] == '\0' || strcmp(argv[i], "-") == 0)
				ctl_usage_error(
				    argv[0], "invalid task id '%s'", argv[i]);
			ctl_strv_add(&ids, argv[i]);
		}
	}
	c = ctl_connect();
	rc = ctl_wait_ids(c, ids.v, ids.n, when, timeout);
	pollex_close(c);
	ctl_strv_clear(&ids);
	return rc;
}

/* ---- submit ----------------------------------------------------------- */

/* The id of a submitted task, or {"id", "created"} with --json. */
static void
ctl_print_created(const char *id, int created)
{
	json_object *o;

	if (!ctl.json) {
		puts(id);
		return;
	}
	if ((o = json_object_new_object()) == NULL ||
	    json_object_object_add(o, "id", json_object_new_string(id)) != 0 ||
	    json_object_object_add(
	        o, "created", json_object_new_boolean(created)) != 0)
		ctl_fatalx("out of memory");
	ctl_print_json(o);
}

/*
 * Check one TaskSpec of submit --file as the daemon would: known members
 * with the types of io.pollex.varlink.  0, or -1 with *why set.
 */
static int
ctl_spec_check(json_object *o, const char **why)
{
	json_object *v;
	int has_timeout = 0, has_deadline = 0;

	if (!json_object_is_type(o, json_type_object)) {
		*why = "not a JSON object";
		return -1;
	}
	if (!json_object_object_get_ex(o, "poller", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0) {
		*why = "\"poller\" (a non-empty string) is required";
		return -1;
	}
	json_object_object_foreach(o, key, val)
	{
		json_type t = json_object_get_type(val);

		if (strcmp(key, "poller") == 0)
			continue;
		if (strcmp(key, "ref") == 0 || strcmp(key, "args") == 0) {
			if (t != json_type_object && t != json_type_null) {
				*why = strcmp(key, "ref") == 0
				    ? "\"ref\" must be an object"
				    : "\"args\" must be an object";
				return -1;
			}
		} else if (strcmp(key, "labels") == 0) {
			if (t == json_type_null)
				continue;
			if (t != json_type_object) {
				*why = "\"labels\" must be an object";
				return -1;
			}
			json_object_object_foreach(val, lk, lv)
			{
				(void)lk;
				if (!json_object_is_type(
				        lv, json_type_string)) {
					*why = "label values must be strings";
					return -1;
				}
			}
		} else if (strcmp(key, "timeout") == 0 ||
		    strcmp(key, "deadline") == 0) {
			if (t == json_type_null)
				continue;
			if ((t != json_type_int && t != json_type_double) ||
			    !isfinite(json_object_get_double(val)) ||
			    json_object_get_double(val) < 0) {
				*why = "\"timeout\" and \"deadline\" must be "
				       "non-negative numbers";
				return -1;
			}
			if (key[0] == 't')
				has_timeout = 1;
			else
				has_deadline = 1;
		} else if (strcmp(key, "idempotency_key") == 0) {
			if (t != json_type_string && t != json_type_null) {
				*why = "\"idempotency_key\" must be a string";
				return -1;
			}
		} else {
			*why = "unknown member (TaskSpec has poller, ref, "
			       "args, labels, timeout, deadline, "
			       "idempotency_key)";
			return -1;
		}
	}
	if (has_timeout && has_deadline) {
		*why = "\"timeout\" and \"deadline\" exclude each other";
		return -1;
	}
	return 0;
}

/*
 * Check the specs' pollers against the daemon's list (when it gives one):
 * unknown or removed pollers, a missing ref for a poller without start.
 * Returns 0 or the exit code after reporting every bad line.
 */
static int
ctl_pollers_check(
    pollex *c, const struct ctl_spec *specs, size_t n, const char *file)
{
	json_object *reply, *pollers, *p, *v;
	const char *why;
	char *text = NULL;
	size_t i, j, np;
	int r, bad = 0;

	if ((r = pollex_pollers(c, &text)) != 0) {
		if (pollex_error_name(c) != NULL)
			return 0; /* cannot tell: let Submit judge */
		return ctl_fail(c, r);
	}
	reply = ctl_parse_json(text, &why);
	free(text);
	if (reply == NULL ||
	    !json_object_object_get_ex(reply, "pollers", &pollers) ||
	    !json_object_is_type(pollers, json_type_array)) {
		json_object_put(reply);
		return 0;
	}
	np = json_object_array_length(pollers);
	for (i = 0; i < n; i++) {
		const char *name = specs[i].poller;

		for (j = 0; j < np; j++) {
			p = json_object_array_get_idx(pollers, j);
			if (json_object_object_get_ex(p, "name", &v) &&
			    json_object_is_type(v, json_type_string) &&
			    strcmp(json_object_get_string(v), name) == 0)
				break;
		}
		if (j == np) {
			ctl_warnx("%s:%zu: no such poller: %s", file,
			    specs[i].line, name);
			bad = 1;
			continue;
		}
		if (json_object_object_get_ex(p, "removed", &v) &&
		    json_object_get_boolean(v)) {
			ctl_warnx("%s:%zu: poller %s was removed", file,
			    specs[i].line, name);
			bad = 1;
			continue;
		}
		if (!specs[i].has_ref &&
		    json_object_object_get_ex(p, "has_start", &v) &&
		    !json_object_get_boolean(v)) {
			ctl_warnx("%s:%zu: \"ref\" is required: poller %s has "
			          "no start function",
			    file, specs[i].line, name);
			bad = 1;
		}
	}
	json_object_put(reply);
	return bad ? CTL_EXIT_DAEMON : 0;
}

/* Reply of one chunk's Submit call. */
static void
ctl_on_chunk(pollex *c, int err, const char *params, int continues, void *arg)
{
	struct ctl_chunk *ch = arg;
	json_object *o, *ids, *cr, *v;
	const char *why, *ptext, *param;
	size_t i;

	(void)continues;
	(*ch->inflight)--;
	if (err != 0) {
		ch->state = CHUNK_FAILED;
		ch->code = ctl_exit_code(c, err);
		ptext = pollex_error_message(c);
		ch->error =
		    ctl_strdup(*ptext != '\0' ? ptext : pollex_strerror(err));
		ptext = pollex_error_parameters(c);
		if (err == POLLEX_E_PARAM && ptext != NULL &&
		    (o = ctl_parse_json(ptext, &why)) != NULL) {
			if (json_object_object_get_ex(o, "parameter", &v) &&
			    (param = json_object_get_string(v)) != NULL &&
			    sscanf(param, "tasks[%ld]", &ch->bad) != 1)
				ch->bad = -1;
			json_object_put(o);
		}
		return;
	}
	o = ctl_parse_json(params, &why);
	if (o == NULL || !json_object_object_get_ex(o, "ids", &ids) ||
	    !json_object_object_get_ex(o, "created", &cr) ||
	    !json_object_is_type(ids, json_type_array) ||
	    !json_object_is_type(cr, json_type_array) ||
	    json_object_array_length(ids) != ch->n ||
	    json_object_array_length(cr) != ch->n) {
		json_object_put(o);
		ch->state = CHUNK_FAILED;
		ch->code = CTL_EXIT_UNREACHABLE;
		ch->error = ctl_strdup("malformed reply to Submit");
		return;
	}
	ch->ids = ctl_malloc(ch->n * sizeof *ch->ids);
	ch->created = ctl_malloc(ch->n * sizeof *ch->created);
	for (i = 0; i < ch->n; i++) {
		ch->ids[i] = ctl_strdup(
		    json_object_get_string(json_object_array_get_idx(ids, i)));
		ch->created[i] =
		    json_object_get_boolean(json_object_array_get_idx(cr, i));
	}
	json_object_put(o);
	ch->state = CHUNK_OK;
}

/*
 * Send the chunks' Submit calls: the first alone (a refusal then stops
 * everything), then up to CTL_INFLIGHT at a time; none after a failure.
 * A chunk's parameters are written from the specs' lines (checked JSON)
 * as they are, not built as a tree and printed.  Returns 0, or the exit
 * code when the daemon stopped answering.
 */
static int
ctl_run_chunks(pollex *c, const struct ctl_spec *specs,
    struct ctl_chunk *chunks, size_t nchunks)
{
	static const char head[] = "{\"tasks\":[", tail[] = "]}";
	struct pollfd pfd;
	size_t sent = 0, inflight = 0, i, len, off;
	char *params;
	int ok = 0, failed = 0, r, n;

	for (;;) {
		while (!failed && sent < nchunks &&
		    inflight < (ok ? CTL_INFLIGHT : 1)) {
			struct ctl_chunk *ch = &chunks[sent++];

			len = sizeof head + sizeof tail;
			for (i = 0; i < ch->n; i++)
				len += strlen(specs[ch->first + i].text) + 1;
			params = ctl_malloc(len);
			memcpy(params, head, sizeof head - 1);
			off = sizeof head - 1;
			for (i = 0; i < ch->n; i++) {
				if (i > 0)
					params[off++] = ',';
				len = strlen(specs[ch->first + i].text);
				memcpy(params + off, specs[ch->first + i].text,
				    len);
				off += len;
			}
			memcpy(params + off, tail, sizeof tail);
			ch->inflight = &inflight;
			r = pollex_call_async(
			    c, "io.pollex.Submit", params, 0, ctl_on_chunk, ch);
			free(params);
			if (r != 0) {
				ch->state = CHUNK_FAILED;
				ch->code = ctl_exit_code(c, r);
				ch->error = ctl_strdup(pollex_strerror(r));
				failed = 1;
				break;
			}
			ch->state = CHUNK_SENT;
			inflight++;
		}
		if (inflight == 0)
			return 0;
		pfd.fd = pollex_fd(c);
		pfd.events = (short)pollex_events(c);
		n = poll(&pfd, 1, ctl.io_timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			/* Silent daemon: we cannot tell what was created. */
			for (i = 0; i < nchunks; i++)
				if (chunks[i].state == CHUNK_SENT) {
					chunks[i].state = CHUNK_FAILED;
					chunks[i].code = CTL_EXIT_UNREACHABLE;
					chunks[i].error = ctl_strdup(
					    "no reply "
					    "in time: the tasks may have been "
					    "created");
				}
			return CTL_EXIT_UNREACHABLE;
		}
		if ((r = pollex_process(c)) < 0)
			failed = 1; /* the callbacks got the error */
		for (i = 0; i < sent; i++) {
			if (chunks[i].state == CHUNK_OK)
				ok = 1;
			else if (chunks[i].state == CHUNK_FAILED)
				failed = 1;
		}
	}
}

/* submit --file: JSON lines of TaskSpec objects. */
static int
ctl_submit_file(const char *path, int wait, double wait_timeout)
{
	FILE *fp;
	struct ctl_spec *specs = NULL, *ns;
	json_object *o, *v;
	struct ctl_chunk *chunks;
	struct ctl_strv ids = {0};
	const char *file, *why, *s;
	char *line = NULL;
	size_t cap = 0, lineno = 0, n = 0, scap = 0, nchunks, i, j;
	ssize_t len;
	int bad = 0, rc = CTL_EXIT_OK;
	pollex *c;

	if (strcmp(path, "-") == 0) {
		fp = stdin;
		file = "<stdin>";
	} else if ((fp = fopen(path, "r")) == NULL) {
		ctl_warnx("%s: %s", path, strerror(errno));
		return CTL_EXIT_USAGE;
	} else
		file = path;
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '\0' || *s == '\n' || *s == '\r' || *s == '#')
			continue;
		if (strlen(line) != (size_t)len) {
			ctl_warnx("%s:%zu: NUL byte in line", file, lineno);
			bad = 1;
			continue;
		}
		if ((o = ctl_parse_json(line, &why)) == NULL ||
		    ctl_spec_check(o, &why) != 0) {
			ctl_warnx("%s:%zu: %s", file, lineno, why);
			json_object_put(o);
			bad = 1;
			continue;
		}
		if (n == scap) {
			scap = scap == 0 ? 64 : scap * 2;
			if ((ns = reallocarray(specs, scap, sizeof *ns)) ==
			    NULL)
				ctl_fatalx("out of memory");
			specs = ns;
		}
		specs[n].text = ctl_strdup(line);
		json_object_object_get_ex(o, "poller", &v);
		specs[n].poller = ctl_strdup(json_object_get_string(v));
		specs[n].has_ref =
		    json_object_object_get_ex(o, "ref", &v) && v != NULL;
		specs[n++].line = lineno;
		json_object_put(o);
	}
	free(line);
	if (ferror(fp)) {
		ctl_warnx("%s: %s", file, strerror(errno));
		bad = 1;
	}
	if (fp != stdin)
		fclose(fp);
	if (bad) {
		ctl_warnx("%s: nothing submitted", file);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	if (n == 0)
		goto out;

	c = ctl_connect();
	if ((rc = ctl_pollers_check(c, specs, n, file)) != 0) {
		ctl_warnx("%s: nothing submitted", file);
		pollex_close(c);
		goto out;
	}
	nchunks = (n + CTL_CHUNK - 1) / CTL_CHUNK;
	chunks = ctl_malloc(nchunks * sizeof *chunks);
	memset(chunks, 0, nchunks * sizeof *chunks);
	for (i = 0; i < nchunks; i++) {
		chunks[i].first = i * CTL_CHUNK;
		chunks[i].n = n - chunks[i].first < CTL_CHUNK
		    ? n - chunks[i].first
		    : CTL_CHUNK;
		chunks[i].bad = -1;
	}
	rc = ctl_run_chunks(c, specs, chunks, nchunks);
	for (i = 0; i < nchunks; i++) {
		struct ctl_chunk *ch = &chunks[i];
		size_t l1 = specs[ch->first].line,
		       l2 = specs[ch->first + ch->n - 1].line;

		switch (ch->state) {
		case CHUNK_OK:
			for (j = 0; j < ch->n; j++) {
				ctl_print_created(ch->ids[j], ch->created[j]);
				ctl_strv_add(&ids, ch->ids[j]);
				free(ch->ids[j]);
			}
			break;
		case CHUNK_FAILED:
			if (ch->bad >= 0 && (size_t)ch->bad < ch->n)
				ctl_warnx("%s:%zu: %s", file,
				    specs[ch->first + (size_t)ch->bad].line,
				    ch->error);
			else
				ctl_warnx("%s", ch->error);
			ctl_warnx(
			    "%s: lines %zu-%zu not submitted", file, l1, l2);
			rc = ctl_worse(rc, ch->code);
			break;
		default:
			ctl_warnx("%s: lines %zu-%zu not submitted (an earlier "
			          "chunk failed)",
			    file, l1, l2);
			break;
		}
		free(ch->ids);
		free(ch->created);
		free(ch->error);
	}
	free(chunks);
	fflush(stdout);
	if (rc == CTL_EXIT_OK && wait)
		rc = ctl_wait_ids(
		    c, ids.v, ids.n, POLLEX_ALL_COMPLETED, wait_timeout);
	pollex_close(c);
out:
	for (i = 0; i < n; i++) {
		free(specs[i].text);
		free(specs[i].poller);
	}
	free(specs);
	ctl_strv_clear(&ids);
	return rc;
}

/* submit: one task from the command line, or --file. */
int
ctl_cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"args", required_argument, NULL, 'a'},
	    {"label", required_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"deadline", required_argument, NULL, 'd'},
	    {"key", required_argument, NULL, 'k'},
	    {"file", required_argument, NULL, 'f'},
	    {"wait", no_argument, NULL, 'w'},
	    {"wait-timeout", required_argument, NULL, 'W'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl_strv labels = {0};
	const char *args = NULL, *key = NULL, *file = NULL, *ref = NULL;
	double timeout = -1, deadline = -1, wait_timeout = -1;
	pollex_spec *spec;
	pollex *c;
	char *end, *k, *v, *id = NULL;
	int opt, wait = 0, has_wt = 0, created = 0, r, rc;
	size_t i;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			args = optarg;
			break;
		case 'l':
			if (ctl_label(optarg, &k, &v) != 0)
				ctl_usage_error(argv[0],
				    "--label: expected "
				    "KEY=VALUE, got '%s'",
				    optarg);
			free(k);
			free(v);
			ctl_strv_add(&labels, optarg);
			break;
		case 't':
			if (ctl_duration(optarg, &timeout) != 0)
				ctl_usage_error(argv[0],
				    "--timeout: invalid "
				    "duration '%s'",
				    optarg);
			break;
		case 'd':
			errno = 0;
			deadline = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(deadline) || deadline <= 0)
				ctl_usage_error(argv[0],
				    "--deadline: invalid "
				    "Unix time '%s'",
				    optarg);
			break;
		case 'k':
			if (*optarg == '\0')
				ctl_usage_error(argv[0], "--key: empty key");
			key = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'w':
			wait = 1;
			break;
		case 'W':
			if (ctl_duration(optarg, &wait_timeout) != 0)
				ctl_usage_error(argv[0],
				    "--wait-timeout: "
				    "invalid duration '%s'",
				    optarg);
			has_wt = 1;
			break;
		default:
			if (!ctl_json_opt(opt, argv))
				ctl_bad_option(opt, argv);
		}
	}
	if (has_wt && !wait)
		ctl_usage_error(argv[0], "--wait-timeout needs --wait");
	if (file != NULL) {
		if (optind < argc || args != NULL || labels.n > 0 ||
		    timeout >= 0 || deadline >= 0 || key != NULL)
			ctl_usage_error(argv[0],
			    "--file takes no POLLER, "
			    "REF_JSON, --args, --label, --timeout, --deadline "
			    "or --key");
		return ctl_submit_file(file, wait, wait_timeout);
	}
	if (optind >= argc)
		ctl_usage_error(argv[0], "no poller given");
	if (argc - optind > 2)
		ctl_usage_error(argv[0], "too many arguments");
	if (timeout >= 0 && deadline >= 0)
		ctl_usage_error(argv[0],
		    "--timeout and --deadline exclude "
		    "each other");
	if (argc - optind == 2)
		ref = argv[optind + 1];

	if ((spec = pollex_spec_new(argv[optind])) == NULL) {
		if (errno == ENOMEM)
			ctl_fatalx("out of memory");
		ctl_usage_error(
		    argv[0], "invalid poller name '%s'", argv[optind]);
	}
	if (ref != NULL && (r = pollex_spec_set_ref(spec, ref)) != 0) {
		if (r == POLLEX_E_NOMEM)
			ctl_fatalx("out of memory");
		ctl_usage_error(
		    argv[0], "REF_JSON: not a JSON object: %s", ref);
	}
	if (args != NULL && (r = pollex_spec_set_args(spec, args)) != 0) {
		if (r == POLLEX_E_NOMEM)
			ctl_fatalx("out of memory");
		ctl_usage_error(argv[0], "--args: not a JSON object: %s", args);
	}
	for (i = 0; i < labels.n; i++) {
		ctl_label(labels.v[i], &k, &v);
		if ((r = pollex_spec_set_label(spec, k, v)) != 0) {
			if (r == POLLEX_E_NOMEM)
				ctl_fatalx("out of memory");
			ctl_usage_error(argv[0], "--label: invalid label '%s'",
			    labels.v[i]);
		}
		free(k);
		free(v);
	}
	ctl_strv_clear(&labels);
	if ((timeout >= 0 && pollex_spec_set_timeout(spec, timeout) != 0) ||
	    (deadline >= 0 && pollex_spec_set_deadline(spec, deadline) != 0))
		ctl_fatalx("out of memory");
	if (key != NULL && pollex_spec_set_idempotency_key(spec, key) != 0)
		ctl_usage_error(argv[0], "--key: invalid key");

	c = ctl_connect();
	r = pollex_submit(c, spec, &id, &created);
	pollex_spec_free(spec);
	if (r != 0) {
		rc = ctl_fail(c, r);
		pollex_close(c);
		return rc;
	}
	ctl_print_created(id, created);
	fflush(stdout);
	rc = CTL_EXIT_OK;
	if (wait)
		rc =
		    ctl_wait_ids(c, &id, 1, POLLEX_ALL_COMPLETED, wait_timeout);
	free(id);
	pollex_close(c);
	return rc;
}

/* ---- cancel, get ------------------------------------------------------ */

/* cancel: cancel each id and say how it went. */
int
ctl_cmd_cancel(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	pollex_task *t;
	json_object *o;
	char *reason, *why;
	int opt, i, r, cancelled, rc = CTL_EXIT_OK, code;
	pollex *c;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1)
		if (!ctl_json_opt(opt, argv))
			ctl_bad_option(opt, argv);
	if (optind >= argc)
		ctl_usage_error(argv[0], "no task id given");
	c = ctl_connect();
	for (i = optind; i < argc; i++) {
		if ((r = pollex_cancel(c, argv[i], &cancelled, &reason)) != 0) {
			code = ctl_fail(c, r);
			rc = ctl_worse(rc, code);
			if (code == CTL_EXIT_UNREACHABLE)
				break;
			continue;
		}
		why = reason;
		if (!cancelled && why == NULL) {
			/* Only a finished task has no reason: tell which. */
			if (pollex_get(c, argv[i], &t) == 0 &&
			    asprintf(&why, "already %s",
			        pollex_state_name(pollex_task_state(t))) == -1)
				why = NULL;
			pollex_task_free(t);
			if (why == NULL)
				why = ctl_strdup("already finished");
		}
		if (ctl.json) {
			if ((o = json_object_new_object()) == NULL ||
			    json_object_object_add(o, "id",
			        json_object_new_string(argv[i])) != 0 ||
			    json_object_object_add(o, "cancelled",
			        json_object_new_boolean(cancelled)) != 0 ||
			    (why != NULL &&
			        json_object_object_add(o, "reason",
			            json_object_new_string(why)) != 0))
				ctl_fatalx("out of memory");
			ctl_print_json(o);
		} else if (cancelled)
			printf("%s cancelled\n", argv[i]);
		else
			printf("%s not cancelled: %s\n", argv[i], why);
		if (!cancelled)
			rc = ctl_worse(rc, CTL_EXIT_FAILED);
		free(why);
	}
	pollex_close(c);
	return rc;
}

/* poll: poll a poller's tasks now and say how many were polled. */
int
ctl_cmd_poll(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	json_object *o;
	int64_t polled = 0;
	int opt, r;
	pollex *c;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1)
		if (!ctl_json_opt(opt, argv))
			ctl_bad_option(opt, argv);
	if (optind >= argc)
		ctl_usage_error(argv[0], "no poller given");
	c = ctl_connect();
	r = pollex_poll(c, argv[optind], (const char *const *)argv + optind + 1,
	    (size_t)(argc - optind - 1), &polled);
	if (r != 0) {
		r = ctl_fail(c, r);
		pollex_close(c);
		return r;
	}
	if (ctl.json) {
		if ((o = json_object_new_object()) == NULL ||
		    json_object_object_add(o, "poller",
		        json_object_new_string(argv[optind])) != 0 ||
		    json_object_object_add(o, "polled",
		        json_object_new_int64(polled)) != 0)
			ctl_fatalx("out of memory");
		ctl_print_json(o);
	} else
		printf("%s: %lld task%s polled\n", argv[optind],
		    (long long)polled, polled == 1 ? "" : "s");
	pollex_close(c);
	return CTL_EXIT_OK;
}

/* The multi-line description of a task for get. */
static void
ctl_describe(const pollex_task *t)
{
	char buf[256], lab[4096];
	double d;

	printf("id:              %s\n", pollex_task_id(t));
	printf("poller:          %s\n", pollex_task_poller(t));
	printf(
	    "state:           %s\n", pollex_state_name(pollex_task_state(t)));
	printf("owner:           %ld\n", pollex_task_owner(t));
	if (pollex_task_ref(t) != NULL)
		printf("ref:             %s\n", pollex_task_ref(t));
	if (pollex_task_args(t) != NULL)
		printf("args:            %s\n", pollex_task_args(t));
	if (pollex_task_labels(t) != NULL)
		printf("labels:          %s\n",
		    ctl_label_text(t, lab, sizeof lab));
	if (pollex_task_idempotency_key(t) != NULL)
		printf("idempotency key: %s\n", pollex_task_idempotency_key(t));
	printf("created:         %s\n",
	    ctl_fmt_time(pollex_task_created(t), buf, sizeof buf));
	printf("updated:         %s\n",
	    ctl_fmt_time(pollex_task_updated(t), buf, sizeof buf));
	if (pollex_task_deadline(t) > 0)
		printf("deadline:        %s\n",
		    ctl_fmt_time(pollex_task_deadline(t), buf, sizeof buf));
	if (pollex_task_finished(t) > 0)
		printf("finished:        %s\n",
		    ctl_fmt_time(pollex_task_finished(t), buf, sizeof buf));
	printf("polls:           %ld (%ld failing)\n", pollex_task_polls(t),
	    pollex_task_poll_failures(t));
	if (!isnan(d = pollex_task_progress(t)))
		printf("progress:        %g\n", d);
	if (pollex_task_result(t) != NULL)
		printf("result:          %s\n", pollex_task_result(t));
	if (pollex_task_error_code(t) != NULL)
		printf("error:           %s: %s\n", pollex_task_error_code(t),
		    pollex_task_error_message(t));
	if (pollex_task_error_details(t) != NULL)
		printf("error details:   %s\n", pollex_task_error_details(t));
}

/* get: describe each id. */
int
ctl_cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	pollex_task *t;
	int opt, i, r, rc = CTL_EXIT_OK, code, shown = 0;
	pollex *c;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1)
		if (!ctl_json_opt(opt, argv))
			ctl_bad_option(opt, argv);
	if (optind >= argc)
		ctl_usage_error(argv[0], "no task id given");
	c = ctl_connect();
	for (i = optind; i < argc; i++) {
		if ((r = pollex_get(c, argv[i], &t)) != 0) {
			code = ctl_fail(c, r);
			rc = ctl_worse(rc, code);
			if (code == CTL_EXIT_UNREACHABLE)
				break;
			continue;
		}
		if (ctl.json)
			puts(pollex_task_json(t));
		else {
			if (shown++ > 0)
				putchar('\n');
			ctl_describe(t);
		}
		pollex_task_free(t);
	}
	pollex_close(c);
	return rc;
}

/* ---- list, watch ------------------------------------------------------ */

/* --poller and --label, shared by list and watch; 0 or a library code. */
static int
ctl_filter_opt(pollex_filter *f, int opt, const char *arg, const char *cmd)
{
	char *k, *v;
	int r;

	if (opt == 'p') {
		if ((r = pollex_filter_set_poller(f, arg)) == POLLEX_E_INVAL)
			ctl_usage_error(cmd, "--poller: invalid name '%s'",
			    arg);
		return r;
	}
	if (ctl_label(arg, &k, &v) != 0)
		ctl_usage_error(cmd, "--label: expected KEY=VALUE, got '%s'",
		    arg);
	if ((r = pollex_filter_add_label(f, k, v)) == POLLEX_E_INVAL)
		ctl_usage_error(cmd, "--label: invalid label '%s'", arg);
	free(k);
	free(v);
	return r;
}

/* list: one page or (--all) every page of tasks. */
int
ctl_cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},
	    {"poller", required_argument, NULL, 'p'},
	    {"label", required_argument, NULL, 'l'},
	    {"owner", required_argument, NULL, 'o'},
	    {"limit", required_argument, NULL, 'n'},
	    {"after", required_argument, NULL, 'A'},
	    {"all", no_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const header[] = {
	    "ID", "STATE", "POLLER", "AGE", "LABELS"};
	pollex_filter *f;
	pollex_task **tasks;
	char ***rows = NULL, ***nr, *next = NULL, *end, buf[4096];
	size_t n, i, nrows = 0, rcap = 0;
	long l;
	int opt, all = 0, r, rc = CTL_EXIT_OK, st;
	pollex *c;

	if ((f = pollex_filter_new()) == NULL)
		ctl_fatalx("out of memory");
	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 's':
			for (st = 0; pollex_state_name(st) != NULL; st++)
				if (strcmp(pollex_state_name(st), optarg) == 0)
					break;
			if (pollex_state_name(st) == NULL)
				ctl_usage_error(argv[0],
				    "--state: unknown "
				    "state '%s'",
				    optarg);
			r = pollex_filter_add_state(f, st);
			break;
		case 'p':
		case 'l':
			r = ctl_filter_opt(f, opt, optarg, argv[0]);
			break;
		case 'o':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    l < 0)
				ctl_usage_error(argv[0],
				    "--owner: invalid uid "
				    "'%s'",
				    optarg);
			r = pollex_filter_set_owner(f, l);
			break;
		case 'n':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    l <= 0 || l > 1000000000)
				ctl_usage_error(argv[0],
				    "--limit: invalid "
				    "number '%s'",
				    optarg);
			r = pollex_filter_set_limit(f, (int)l);
			break;
		case 'A':
			if ((r = pollex_filter_set_after(f, optarg)) ==
			    POLLEX_E_INVAL)
				ctl_usage_error(argv[0],
				    "--after: invalid id "
				    "'%s'",
				    optarg);
			break;
		case 'a':
			all = 1;
			break;
		default:
			if (!ctl_json_opt(opt, argv))
				ctl_bad_option(opt, argv);
		}
		if (r != 0)
			ctl_fatalx("out of memory");
	}
	if (optind < argc)
		ctl_usage_error(
		    argv[0], "unexpected argument '%s'", argv[optind]);
	c = ctl_connect();
	for (;;) {
		if ((r = pollex_list(c, f, &tasks, &n, &next)) != 0) {
			rc = ctl_fail(c, r);
			break;
		}
		for (i = 0; i < n; i++) {
			if (ctl.json) {
				puts(pollex_task_json(tasks[i]));
				continue;
			}
			if (nrows == rcap) {
				rcap = rcap == 0 ? 64 : rcap * 2;
				if ((nr = reallocarray(
				         rows, rcap, sizeof *nr)) == NULL)
					ctl_fatalx("out of memory");
				rows = nr;
			}
			rows[nrows] = ctl_malloc(5 * sizeof(char *));
			rows[nrows][0] = ctl_strdup(pollex_task_id(tasks[i]));
			rows[nrows][1] = ctl_strdup(
			    pollex_state_name(pollex_task_state(tasks[i])));
			rows[nrows][2] =
			    ctl_strdup(pollex_task_poller(tasks[i]));
			rows[nrows][3] = ctl_strdup(ctl_fmt_age(
			    pollex_task_created(tasks[i]), buf, sizeof buf));
			rows[nrows][4] = ctl_strdup(
			    ctl_label_text(tasks[i], buf, sizeof buf));
			nrows++;
		}
		pollex_tasks_free(tasks, n);
		if (next == NULL)
			break;
		if (!all) {
			fflush(stdout);
			ctl_warnx("more tasks follow: use --all, or --after %s",
			    next);
			free(next);
			break;
		}
		if (pollex_filter_set_after(f, next) != 0)
			ctl_fatalx("out of memory");
		free(next);
	}
	if (!ctl.json && rc == CTL_EXIT_OK) {
		char **hrow[1] = {(char **)header};

		if (nrows > 0) {
			nr = ctl_malloc((nrows + 1) * sizeof *nr);
			nr[0] = (char **)header;
			memcpy(nr + 1, rows, nrows * sizeof *nr);
			ctl_print_table(nr, nrows + 1, 5);
			free(nr);
		} else
			ctl_print_table(hrow, 1, 5);
	}
	for (i = 0; i < nrows; i++) {
		for (st = 0; st < 5; st++)
			free(rows[i][st]);
		free(rows[i]);
	}
	free(rows);
	pollex_filter_free(f);
	pollex_close(c);
	return rc;
}

/* One event of watch: "EVENT ID STATE" or the event object. */
static int
ctl_on_event(const char *event, const char *id, const pollex_task *t, void *arg)
{
	json_object *o, *task;
	const char *why;

	if (ctl.json) {
		if ((o = json_object_new_object()) == NULL ||
		    json_object_object_add(
		        o, "event", json_object_new_string(event)) != 0 ||
		    (id != NULL &&
		        json_object_object_add(
		            o, "id", json_object_new_string(id)) != 0))
			ctl_fatalx("out of memory");
		if (t != NULL) {
			if ((task = ctl_parse_json(
			         pollex_task_json(t), &why)) == NULL ||
			    json_object_object_add(o, "task", task) != 0)
				ctl_fatalx("out of memory");
		}
		ctl_print_json(o);
	} else if (id == NULL)
		printf("%s\n", event);
	else if (t == NULL)
		printf("%s %s\n", event, id);
	else if (!isnan(pollex_task_progress(t))) {
		char pct[32];

		ctl_progress_text(pollex_task_progress(t), pct, sizeof pct);
		printf("%s %s %s %s\n", event, id,
		    pollex_state_name(pollex_task_state(t)), pct);
	} else
		printf("%s %s %s\n", event, id,
		    pollex_state_name(pollex_task_state(t)));
	ctl_flush_idle(arg);
	return 0;
}

/* watch: print events until interrupted or the stream ends. */
int
ctl_cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"poller", required_argument, NULL, 'p'},
	    {"label", required_argument, NULL, 'l'},
	    {"initial", no_argument, NULL, 'i'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	pollex_filter *f;
	int opt, initial = 0, r, i;
	pollex *c;

	if ((f = pollex_filter_new()) == NULL)
		ctl_fatalx("out of memory");
	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'p':
		case 'l':
			r = ctl_filter_opt(f, opt, optarg, argv[0]);
			break;
		case 'i':
			initial = 1;
			break;
		default:
			if (!ctl_json_opt(opt, argv))
				ctl_bad_option(opt, argv);
		}
		if (r != 0)
			ctl_fatalx("out of memory");
	}
	for (i = optind; i < argc; i++)
		if ((r = pollex_filter_add_id(f, argv[i])) != 0) {
			if (r == POLLEX_E_NOMEM)
				ctl_fatalx("out of memory");
			ctl_usage_error(
			    argv[0], "invalid task id '%s'", argv[i]);
		}
	c = ctl_connect();
	r = pollex_watch(c, f, initial, ctl_on_event, c);
	pollex_filter_free(f);
	if (r != 0)
		r = ctl_fail(c, r);
	pollex_close(c);
	return r;
}
