/* SPDX-License-Identifier: ISC */
/*
 * pollexctl-info.c: the daemon commands of pollexctl: pollers, stats and
 * call (any method, plain, streaming or oneway).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pollexctl.h"

/* State of call --more. */
struct ctl_stream {
	int done;
	int rc;
};

static const char *ctl_member(json_object *, const char *, char *, size_t);
static double ctl_number(json_object *, const char *);
static void ctl_on_reply(pollex *, int, const char *, int, void *);
static int ctl_simple_opts(int, char **);
static int ctl_drive(pollex *, int *);

/* A member of o as text: strings as they are, numbers, "-" when absent. */
static const char *
ctl_member(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		snprintf(buf, len, "-");
	else if (json_object_is_type(v, json_type_string))
		snprintf(buf, len, "%s", json_object_get_string(v));
	else
		snprintf(buf, len, "%s",
		    json_object_to_json_string_ext(v,
		        JSON_C_TO_STRING_PLAIN |
		            JSON_C_TO_STRING_NOSLASHESCAPE));
	return buf;
}

/* A number member of o, or -1 when absent. */
static double
ctl_number(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL ||
	    (!json_object_is_type(v, json_type_int) &&
	        !json_object_is_type(v, json_type_double)))
		return -1;
	return json_object_get_double(v);
}

/* Parse the options of a command that takes only --json and --help. */
static int
ctl_simple_opts(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1)
		if (!ctl_json_opt(opt, argv))
			ctl_bad_option(opt, argv);
	return optind;
}

/* A command without arguments that prints one reply: the reply text for
 * human output, or NULL when done (--json printed, or an error) with the
 * exit status in *rc. */
static char *
ctl_info_call(int argc, char **argv, int (*fn)(pollex *, char **), int *rc)
{
	char *text;
	pollex *c;
	int r;

	if (ctl_simple_opts(argc, argv) < argc)
		ctl_usage_error(
		    argv[0], "unexpected argument '%s'", argv[optind]);
	c = ctl_connect();
	if ((r = fn(c, &text)) != 0) {
		*rc = ctl_fail(c, r);
		pollex_close(c);
		return NULL;
	}
	pollex_close(c);
	*rc = CTL_EXIT_OK;
	if (ctl.json) {
		puts(text);
		free(text);
		return NULL;
	}
	return text;
}

/* pollers: the table of pollers, or the raw reply. */
int
ctl_cmd_pollers(int argc, char **argv)
{
	static const char *const header[] = {"NAME", "KIND", "STATE",
	    "OUTSTANDING", "IN-FLIGHT", "INTERVAL", "NEXT", "POLLS", "FAILED",
	    "LAST-ERROR"};
	enum { NCOL = sizeof header / sizeof header[0] };
	json_object *reply, *pollers, *p, *v;
	const char *why;
	char *text, ***rows, buf[1024], b2[64];
	size_t n, i, j;
	double d;
	int rc;

	if ((text = ctl_info_call(argc, argv, pollex_pollers, &rc)) == NULL)
		return rc;
	reply = ctl_parse_json(text, &why);
	free(text);
	if (reply == NULL ||
	    !json_object_object_get_ex(reply, "pollers", &pollers) ||
	    !json_object_is_type(pollers, json_type_array)) {
		json_object_put(reply);
		ctl_warnx("malformed reply to Pollers");
		return CTL_EXIT_UNREACHABLE;
	}
	n = json_object_array_length(pollers);
	rows = ctl_malloc((n + 1) * sizeof *rows);
	rows[0] = (char **)header;
	for (i = 0; i < n; i++) {
		char **row = ctl_malloc(NCOL * sizeof *row);

		p = json_object_array_get_idx(pollers, i);
		ctl_member(p, "name", buf, sizeof buf);
		if (json_object_object_get_ex(p, "removed", &v) &&
		    json_object_get_boolean(v))
			strncat(
			    buf, " (removed)", sizeof buf - strlen(buf) - 1);
		row[0] = ctl_strdup(buf);
		row[1] = ctl_strdup(ctl_member(p, "kind", buf, sizeof buf));
		row[2] = ctl_strdup(ctl_member(p, "state", buf, sizeof buf));
		row[3] =
		    ctl_strdup(ctl_member(p, "outstanding", buf, sizeof buf));
		row[4] =
		    ctl_strdup(ctl_member(p, "in_flight", buf, sizeof buf));
		d = ctl_number(p, "interval");
		row[5] =
		    ctl_strdup(d < 0 ? "-" : ctl_fmt_seconds(d, b2, sizeof b2));
		d = ctl_number(p, "next_poll");
		row[6] =
		    ctl_strdup(d < 0 ? "-" : ctl_fmt_seconds(d, b2, sizeof b2));
		row[7] = ctl_strdup(ctl_member(p, "polls", buf, sizeof buf));
		row[8] =
		    ctl_strdup(ctl_member(p, "failed_polls", buf, sizeof buf));
		row[9] =
		    ctl_strdup(ctl_member(p, "last_error", buf, sizeof buf));
		rows[i + 1] = row;
	}
	ctl_print_table(rows, n + 1, NCOL);
	for (i = 1; i <= n; i++) {
		for (j = 0; j < NCOL; j++)
			free(rows[i][j]);
		free(rows[i]);
	}
	free(rows);
	json_object_put(reply);
	return CTL_EXIT_OK;
}

/* stats: a summary of the counters, or the raw reply. */
/* Bytes as B / KiB / MiB / GiB with one decimal. */
static const char *
ctl_fmt_bytes(double n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	if (n < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	while (n >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
	return buf;
}

/* The durable store's part of Stats, for people. */
static void
ctl_print_store(json_object *st)
{
	char b1[256], b2[64], b3[64];

	printf("store:        %s\n", ctl_member(st, "path", b1, sizeof b1));
	printf("store size:   %s + %s write-ahead log (schema %s)\n",
	    ctl_fmt_bytes(ctl_number(st, "size_bytes"), b2, sizeof b2),
	    ctl_fmt_bytes(ctl_number(st, "wal_bytes"), b3, sizeof b3),
	    ctl_member(st, "schema_version", b1, sizeof b1));
	printf("commits:      %s, %.3fms mean, %.3fms max; %.1f rows mean, "
	    "%s max\n", ctl_member(st, "commits", b1, sizeof b1),
	    ctl_number(st, "commit_ms_mean"), ctl_number(st, "commit_ms_max"),
	    ctl_number(st, "batch_mean"),
	    ctl_member(st, "batch_max", b2, sizeof b2));
	printf("store errors: %s disk full\n",
	    ctl_member(st, "full_errors", b1, sizeof b1));
}

int
ctl_cmd_stats(int argc, char **argv)
{
	static const char *const states[] = {"starting", "pending", "succeeded",
	    "failed", "cancelled", "expired"};
	json_object *reply, *tasks, *store;
	const char *why;
	char *text, buf[256], b2[256];
	size_t i;
	int rc;

	if ((text = ctl_info_call(argc, argv, pollex_stats, &rc)) == NULL)
		return rc;
	if ((reply = ctl_parse_json(text, &why)) == NULL) {
		free(text);
		ctl_warnx("malformed reply to Stats");
		return CTL_EXIT_UNREACHABLE;
	}
	free(text);
	printf("version:      %s\n",
	    ctl_member(reply, "version", buf, sizeof buf));
	printf("started:      %s\n",
	    ctl_fmt_time(ctl_number(reply, "started"), buf, sizeof buf));
	printf("uptime:       %s\n",
	    ctl_number(reply, "uptime") < 0
	        ? "-"
	        : ctl_fmt_seconds(
	              ctl_number(reply, "uptime"), buf, sizeof buf));
	if (json_object_object_get_ex(reply, "tasks", &tasks) &&
	    json_object_is_type(tasks, json_type_object)) {
		printf("tasks:        ");
		for (i = 0; i < sizeof states / sizeof states[0]; i++)
			printf("%s%s %s", i > 0 ? ", " : "",
			    ctl_member(tasks, states[i], buf, sizeof buf),
			    states[i]);
		putchar('\n');
	}
	printf("submitted:    %s\n",
	    ctl_member(reply, "submitted", buf, sizeof buf));
	printf("completed:    %s\n",
	    ctl_member(reply, "completed", buf, sizeof buf));
	printf("polls:        %s (%s failed)\n",
	    ctl_member(reply, "polls", buf, sizeof buf),
	    ctl_member(reply, "failed_polls", b2, sizeof b2));
	printf("connections:  %s\n",
	    ctl_member(reply, "connections", buf, sizeof buf));
	printf(
	    "calls:        %s\n", ctl_member(reply, "calls", buf, sizeof buf));
	if (json_object_object_get_ex(reply, "store", &store) &&
	    json_object_is_type(store, json_type_object))
		ctl_print_store(store);
	else
		printf("store:        none (memory only)\n");
	json_object_put(reply);
	return CTL_EXIT_OK;
}

/* A reply of call --more: print it; the last one ends the stream. */
static void
ctl_on_reply(pollex *c, int err, const char *params, int continues, void *arg)
{
	struct ctl_stream *st = arg;

	if (err != 0) {
		st->rc = ctl_fail(c, err);
		st->done = 1;
		return;
	}
	puts(params);
	if (!continues)
		st->done = 1;
}

/*
 * Drive the connection until *done is set, or (done NULL) until the output
 * is sent.  Returns 0 or an exit code.
 */
static int
ctl_drive(pollex *c, int *done)
{
	struct pollfd pfd;
	int n, r;

	for (;;) {
		if (done != NULL ? *done : !(pollex_events(c) & POLLOUT))
			return 0;
		/* The replies printed go out before we wait for more
		 * (pollex_process() handles all that came at once). */
		fflush(stdout);
		pfd.fd = pollex_fd(c);
		pfd.events = (short)pollex_events(c);
		n = poll(&pfd, 1, ctl.io_timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			ctl_warnx("no reply from the daemon in time");
			return CTL_EXIT_UNREACHABLE;
		}
		if ((r = pollex_process(c)) < 0) {
			if (done != NULL && *done)
				return 0; /* the callback reported it */
			return ctl_fail(c, r);
		}
	}
}

/* call: any method, plain, streaming (--more) or oneway. */
int
ctl_cmd_call(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"more", no_argument, NULL, 'm'},
	    {"oneway", no_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl_stream st = {0, CTL_EXIT_OK};
	json_object *o;
	const char *method, *params = NULL, *why;
	char *reply = NULL;
	unsigned flags = 0;
	int opt, r, rc;
	pollex *c;

	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			flags |= POLLEX_CALL_MORE;
			break;
		case 'o':
			flags |= POLLEX_CALL_ONEWAY;
			break;
		default:
			if (!ctl_json_opt(opt, argv))
				ctl_bad_option(opt, argv);
		}
	}
	if (flags == (POLLEX_CALL_MORE | POLLEX_CALL_ONEWAY))
		ctl_usage_error(argv[0],
		    "--more and --oneway exclude each "
		    "other");
	if (optind >= argc)
		ctl_usage_error(argv[0], "no method given");
	if (argc - optind > 2)
		ctl_usage_error(argv[0], "too many arguments");
	method = argv[optind];
	if (strchr(method, '.') == NULL)
		ctl_usage_error(argv[0],
		    "METHOD must be qualified, as in "
		    "io.pollex.Stats");
	if (argc - optind == 2) {
		params = argv[optind + 1];
		if ((o = ctl_parse_json(params, &why)) == NULL ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			ctl_usage_error(argv[0],
			    "PARAMS_JSON: not a JSON "
			    "object: %s",
			    params);
		}
		json_object_put(o);
	}
	c = ctl_connect();
	if (flags == 0) {
		if ((r = pollex_call(c, method, params, &reply)) != 0)
			rc = ctl_fail(c, r);
		else {
			puts(reply);
			rc = CTL_EXIT_OK;
		}
		free(reply);
		pollex_close(c);
		return rc;
	}
	if ((r = pollex_call_async(
	         c, method, params, flags, ctl_on_reply, &st)) != 0) {
		rc = ctl_fail(c, r);
		pollex_close(c);
		return rc;
	}
	if (flags & POLLEX_CALL_ONEWAY)
		rc = ctl_drive(c, NULL);
	else if ((rc = ctl_drive(c, &st.done)) == 0)
		rc = st.rc;
	pollex_close(c);
	return rc;
}
