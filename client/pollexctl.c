/* SPDX-License-Identifier: ISC */
/*
 * pollexctl.c: the command line client of pollexd: global options, the
 * command table, help texts, exit codes and the helpers the commands share.
 * It uses libpollex's public API only.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "pollexctl.h"
#include "proto.h"
#include "jspan.h"
#include "util.h"

struct ctl_options ctl = {.io_timeout_ms = -1};

static const struct ctl_command ctl_commands[] = {
    {"submit", ctl_cmd_submit,
        "submit POLLER [REF_JSON] [--args JSON] [--label K=V]...\n"
        "       [--timeout DURATION | --deadline UNIX_TIME] [--key KEY]\n"
        "       [--wait [--wait-timeout DURATION]]\n"
        "submit --file FILE|- [--wait [--wait-timeout DURATION]]",
        "Submit a task and print its id (--json: {\"id\", \"created\"}).\n"
        "REF_JSON is the JSON object the remote service knows the task by\n"
        "(optional when the poller has a start function, which then gets\n"
        "--args).  --timeout is relative, --deadline absolute; --key is an\n"
        "idempotency key.  --wait then waits for the task as 'wait' does.\n"
        "\n"
        "--file reads JSON lines, one TaskSpec object each (blank lines and\n"
        "lines starting with # are skipped).  Bad lines are reported with\n"
        "their number and nothing is submitted; the tasks go in Submit\n"
        "calls of at most 1000, several in flight, and the ids are printed\n"
        "in input order, one per line.  A chunk the daemon refuses is\n"
        "reported on stderr with its line numbers.\n"
        "\n"
        "Options:\n"
        "  --args JSON            arguments of the poller's start function\n"
        "  --label K=V            add a label (repeatable)\n"
        "  --timeout DURATION     expire the task after DURATION\n"
        "  --deadline UNIX_TIME   expire the task at UNIX_TIME\n"
        "  --key KEY              idempotency key\n"
        "  --file FILE            submit the TaskSpec lines of FILE\n"
        "                         (- is standard input)\n"
        "  --wait                 wait for the task(s) to finish\n"
        "  --wait-timeout DURATION  stop waiting after DURATION (exit 3)\n"},
    {"cancel", ctl_cmd_cancel, "cancel ID...",
        "Cancel tasks; prints \"ID cancelled\" or\n"
        "\"ID not cancelled: REASON\" for each (--json: {\"id\",\n"
        "\"cancelled\", \"reason\"} lines).  Exits 1 when a task was not\n"
        "cancelled.\n"},
    {"poll", ctl_cmd_poll, "poll POLLER [ID...]",
        "Poll now, without waiting for the poller's interval: your pending\n"
        "tasks of POLLER (every one for root and admins), or only the\n"
        "IDs given.  Returns once a poll that started after the call has\n"
        "polled them and prints how many it polled (--json: {\"poller\",\n"
        "\"polled\"}).  Calls within the poller's coalesce window share one\n"
        "poll; the poller's rate limit holds.\n"},
    {"get", ctl_cmd_get, "get ID...",
        "Describe tasks (--json: one Task object per line).\n"},
    {"wait", ctl_cmd_wait,
        "wait [--all | --any | --first-exception] [--timeout DURATION] ID...\n"
        "wait [options] -",
        "Wait for tasks and print a line per task as it finishes:\n"
        "  ID succeeded RESULT_JSON\n"
        "  ID failed CODE: MESSAGE\n"
        "  ID cancelled\n"
        "  ID expired\n"
        "(--json: one Task object per line).  With - as the only argument\n"
        "the ids are read from standard input.  On a terminal a progress\n"
        "line is kept on stderr: the counts and each pending task's\n"
        "progress, when its poller reports one.\n"
        "\n"
        "Options:\n"
        "  --all                  until every task finished (default)\n"
        "  --any                  until one task finished\n"
        "  --first-exception      until one task failed or expired, or all\n"
        "                         finished\n"
        "  --timeout DURATION     stop waiting after DURATION (exit 3)\n"},
    {"list", ctl_cmd_list,
        "list [--state STATE]... [--poller POLLER] [--label K=V]...\n"
        "     [--owner UID] [--limit N] [--after ID] [--all]",
        "List tasks as a table (ID STATE POLLER AGE LABELS), or one Task\n"
        "object per line with --json.  One page unless --all; when more\n"
        "follow, stderr tells the --after cursor.\n"
        "\n"
        "Options:\n"
        "  --state STATE          starting, pending, succeeded, failed,\n"
        "                         cancelled or expired (repeatable)\n"
        "  --poller POLLER        tasks of this poller\n"
        "  --label K=V            tasks with this label (repeatable)\n"
        "  --owner UID            tasks of this uid (root and admins)\n"
        "  --limit N              page size\n"
        "  --after ID             the page after this id\n"
        "  --all                  every page\n"},
    {"watch", ctl_cmd_watch,
        "watch [--poller POLLER] [--label K=V]... [--initial] [ID...]",
        "Print task events as they come, \"EVENT ID STATE\" (\"ready\" once\n"
        "the watch is in place, \"purged ID\" for a task that left the\n"
        "table), until interrupted; --json prints the event objects.\n"
        "\n"
        "Options:\n"
        "  --poller POLLER        events of this poller's tasks\n"
        "  --label K=V            events of tasks with this label\n"
        "  --initial              first every matching task, as \"current\"\n"},
    {"pollers", ctl_cmd_pollers, "pollers",
        "Show the pollers and their schedulers (--json: the raw reply).\n"},
    {"stats", ctl_cmd_stats, "stats",
        "Show the daemon's counters (--json: the raw reply).\n"},
    {"call", ctl_cmd_call, "call [--more | --oneway] METHOD [PARAMS_JSON]",
        "Call any method and print the reply's parameters as JSON, e.g.\n"
        "  pollexctl call org.varlink.service.GetInfo\n"
        "  pollexctl call io.pollex.Get '{\"id\": \"...\"}'\n"
        "\n"
        "Options:\n"
        "  --more                 streaming call: print every reply\n"
        "  --oneway               send the call and expect no reply\n"},
};

static const char ctl_exit_help[] =
    "Exit status:\n"
    "  0  success (every waited task succeeded, every cancel was done)\n"
    "  1  a task failed, was cancelled or expired, or a cancel was not done\n"
    "  2  usage error (bad option, bad JSON argument)\n"
    "  3  the wait timed out\n"
    "  4  the daemon is unreachable (connect failed, connection lost)\n"
    "  5  the daemon answered an error (TaskNotFound, InvalidParameter...)\n";

static void ctl_main_help(FILE *);
static const struct ctl_command *ctl_find(const char *);

/* Print a message to stderr as "pollexctl: ...". */
void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	ctl_out_flush();
	fputs("pollexctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print a message and exit 1 (out of memory and such). */
void
ctl_fatalx(const char *fmt, ...)
{
	va_list ap;

	ctl_out_flush();
	fputs("pollexctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(CTL_EXIT_FAILED);
}

/* Flush stdout so that stdout and stderr lines keep their order. */
void
ctl_out_flush(void)
{
	fflush(stdout);
}

/* malloc or die. */
void *
ctl_malloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		ctl_fatalx("out of memory");
	return p;
}

/* strdup or die. */
char *
ctl_strdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		ctl_fatalx("out of memory");
	return p;
}

/* Append a copy of s. */
void
ctl_strv_add(struct ctl_strv *sv, const char *s)
{
	char **nv;

	if (sv->n + 1 >= sv->cap) {
		sv->cap = sv->cap == 0 ? 16 : sv->cap * 2;
		if ((nv = reallocarray(sv->v, sv->cap, sizeof *nv)) == NULL)
			ctl_fatalx("out of memory");
		sv->v = nv;
	}
	sv->v[sv->n++] = ctl_strdup(s);
	sv->v[sv->n] = NULL;
}

/* Free the strings and the array. */
void
ctl_strv_clear(struct ctl_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

/* Report a usage error for cmd (NULL: global) and exit 2. */
void
ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	ctl_out_flush();
	fputs("pollexctl: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd != NULL)
		fprintf(stderr, "Try 'pollexctl %s --help'.\n", cmd);
	else
		fputs("Try 'pollexctl --help'.\n", stderr);
	exit(CTL_EXIT_USAGE);
}

/* The main help text. */
static void
ctl_main_help(FILE *fp)
{
	size_t i;

	fputs("Usage: pollexctl [-S SOCKET] [--json] [--io-timeout DURATION] "
	      "COMMAND [ARGS]\n"
	      "\n"
	      "Talk to pollexd, the batched poll executor daemon.\n"
	      "\n"
	      "Options:\n"
	      "  -S, --socket SOCKET      the daemon's socket (default: "
	      "$POLLEX_SOCKET,\n"
	      "                           else the user's daemon, else the "
	      "system one)\n"
	      "  -j, --json               JSON output (JSON lines for lists "
	      "and streams)\n"
	      "  -t, --io-timeout DURATION  give up when the daemon does not "
	      "answer\n"
	      "                           in time (exit 4)\n"
	      "  -h, --help               this help; COMMAND --help for a "
	      "command's\n"
	      "  -V, --version            the version\n"
	      "\n"
	      "Commands:\n",
	    fp);
	for (i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
		const char *s = ctl_commands[i].synopsis;

		fputs("  ", fp);
		for (; *s != '\0'; s++) {
			fputc(*s, fp);
			if (*s == '\n')
				fputs("  ", fp);
		}
		fputc('\n', fp);
	}
	fputs("\nDurations: 250ms, 30s, 5m, 1h, 1d or plain seconds.\n\n", fp);
	fputs(ctl_exit_help, fp);
}

/* Print a command's help to stdout and exit 0. */
void
ctl_help(const char *name)
{
	const struct ctl_command *cmd = ctl_find(name);
	const char *s;

	if (cmd == NULL)
		exit(CTL_EXIT_USAGE);
	fputs("Usage: pollexctl [global options] ", stdout);
	for (s = cmd->synopsis; *s != '\0'; s++) {
		putchar(*s);
		if (*s == '\n')
			fputs("       pollexctl [global options] ", stdout);
	}
	printf("\n\n%s", cmd->help);
	if (strstr(cmd->help, "Options:\n") == NULL)
		fputs("\nOptions:\n", stdout);
	printf("  --json                 JSON output\n"
	       "  -h, --help             this help\n\n%s",
	    ctl_exit_help);
	exit(CTL_EXIT_OK);
}

/* The command called name, or NULL. */
static const struct ctl_command *
ctl_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* A second connection for a side task (progress); NULL on failure. */
pollex *
ctl_connect_quiet(void)
{
	pollex *c;

	return pollex_connect(ctl.socket, &c) == 0 ? c : NULL;
}

/* Connect to the daemon or exit 4. */
pollex *
ctl_connect(void)
{
	const char *path = ctl.socket;
	pollex *c;
	int r;

	if (path == NULL && (path = getenv("POLLEX_SOCKET")) != NULL &&
	    *path == '\0')
		path = NULL;
	if ((r = pollex_connect(ctl.socket, &c)) != 0) {
		int err = errno;
		char user[PATH_MAX], tried[2 * PATH_MAX + 64];
		const char *hint = "";

		if (r == POLLEX_E_NOMEM)
			ctl_fatalx("out of memory");
		if (err == EACCES || err == EPERM)
			hint = " (the socket is for the members of its group, "
			    "usually \"pollex\": usermod -aG pollex USER, then "
			    "log in again)";
		if (path == NULL) {
			/* Name the paths px_socket_for_client() tried. */
			if (px_user_socket(user, sizeof user, geteuid()) ==
			    NULL)
				snprintf(user, sizeof user, "(too long)");
			snprintf(tried, sizeof tried, "%s and %s", user,
			    PX_SYSTEM_SOCKET);
		}
		if (err == EAGAIN)
			ctl_warnx("cannot connect to %s: the daemon is not "
			          "accepting connections (listen queue full)",
			    path != NULL ? path : "pollexd");
		else if (path != NULL)
			ctl_warnx("cannot connect to %s: %s%s", path,
			    strerror(err), hint);
		else
			ctl_warnx("cannot connect to pollexd (no -S, "
			          "POLLEX_SOCKET unset; tried %s): %s%s",
			    tried, strerror(err), hint);
		exit(r == POLLEX_E_INVAL ? CTL_EXIT_USAGE
		                         : CTL_EXIT_UNREACHABLE);
	}
	pollex_set_timeout(c, ctl.io_timeout_ms);
	return c;
}

/* The exit code for a failed library call. */
int
ctl_exit_code(pollex *c, int err)
{
	if (c != NULL && pollex_error_name(c) != NULL)
		return CTL_EXIT_DAEMON;
	switch (err) {
	case POLLEX_OK:
		return CTL_EXIT_OK;
	case POLLEX_E_INVAL:
		return CTL_EXIT_USAGE;
	case POLLEX_E_NOMEM:
		return CTL_EXIT_FAILED;
	case POLLEX_E_CONNECT:
	case POLLEX_E_IO:
	case POLLEX_E_CLOSED:
	case POLLEX_E_PROTOCOL:
	case POLLEX_E_TIMEOUT:
	case POLLEX_E_TOOBIG:
		return CTL_EXIT_UNREACHABLE;
	default:
		return CTL_EXIT_DAEMON;
	}
}

/* Report a failed library call on stderr; returns its exit code. */
int
ctl_fail(pollex *c, int err)
{
	const char *msg = c != NULL ? pollex_error_message(c) : "";

	if (*msg == '\0' && c != NULL && pollex_error_name(c) != NULL)
		msg = pollex_error_name(c);
	if (*msg == '\0')
		msg = pollex_strerror(err);
	ctl_warnx("%s", msg);
	return ctl_exit_code(c, err);
}

/*
 * The exit code to keep of two: usage, unreachable and daemon errors win,
 * then a failed task (1) over a timed out wait (3), then success.
 */
int
ctl_worse(int a, int b)
{
	static const int rank[] = {
	    [CTL_EXIT_OK] = 0,
	    [CTL_EXIT_TIMEDOUT] = 1,
	    [CTL_EXIT_FAILED] = 2,
	    [CTL_EXIT_DAEMON] = 3,
	    [CTL_EXIT_UNREACHABLE] = 4,
	    [CTL_EXIT_USAGE] = 5,
	};

	return rank[b] > rank[a] ? b : a;
}

/* Parse a duration ("250ms", "30s", "5m", "1h", "1d", seconds). */
int
ctl_duration(const char *s, double *secs)
{
	uint64_t ms;

	if (parse_duration(s, &ms) != 0)
		return -1;
	*secs = (double)ms / 1000;
	return 0;
}

/* Split "K=V" (K not empty); the strings are malloc'd. */
int
ctl_label(const char *kv, char **k, char **v)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL || eq == kv)
		return -1;
	*k = ctl_strdup(kv);
	(*k)[eq - kv] = '\0';
	*v = ctl_strdup(eq + 1);
	return 0;
}

/* A duration in seconds, short: "250ms", "30s", "5m0s", "2h3m". */
const char *
ctl_fmt_seconds(double secs, char *buf, size_t len)
{
	if (!isfinite(secs) || secs < 0)
		secs = 0;
	if (secs > 1e11)
		secs = 1e11;
	return fmt_duration((uint64_t)llround(secs * 1000), buf, len);
}

/* The age of something created at t (Unix time): "45s", "12m", "3h", "2d". */
const char *
ctl_fmt_age(double t, char *buf, size_t len)
{
	struct timespec ts;
	double age;

	clock_gettime(CLOCK_REALTIME, &ts);
	age = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t;
	if (!isfinite(age) || age < 0)
		age = 0;
	if (age < 60)
		snprintf(buf, len, "%.0fs", floor(age));
	else if (age < 3600)
		snprintf(buf, len, "%.0fm", floor(age / 60));
	else if (age < 86400)
		snprintf(buf, len, "%.0fh", floor(age / 3600));
	else
		snprintf(buf, len, "%.0fd", floor(age / 86400));
	return buf;
}

/* Local time with the distance to now: "2026-11-23 01:22:38 (5m ago)". */
const char *
ctl_fmt_time(double t, char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	time_t secs;
	char when[64], d[32];
	double now, delta;

	if (!isfinite(t) || t <= 0 || t > 1e11) {
		snprintf(buf, len, "-");
		return buf;
	}
	secs = (time_t)t;
	if (localtime_r(&secs, &tm) == NULL ||
	    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(when, sizeof when, "%.3f", t);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	delta = now - t;
	if (fabs(delta) < 1)
		snprintf(buf, len, "%s (now)", when);
	else if (delta > 0)
		snprintf(buf, len, "%s (%s ago)", when,
		    ctl_fmt_seconds(floor(delta), d, sizeof d));
	else
		snprintf(buf, len, "%s (in %s)", when,
		    ctl_fmt_seconds(floor(-delta), d, sizeof d));
	return buf;
}

/*
 * Parse JSON text strictly; NULL with *why set when it is not JSON.  One
 * tokener serves every call (reset after each): making one costs more than
 * parsing a TaskSpec line, and submit --file parses thousands.
 */
static json_object *ctl_parse_json1(const char *, const char **);

json_object *
ctl_parse_json(const char *text, const char **why)
{
	json_object *o;
	size_t flen;
	char *fixed;

	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(text, strlen(text), &flen)) == NULL)
		return ctl_parse_json1(text, why);
	o = ctl_parse_json1(fixed, why);
	free(fixed);
	return o;
}

static json_object *
ctl_parse_json1(const char *text, const char **why)
{
	static struct json_tokener *tok;
	json_object *o;
	size_t len = strlen(text), end;

	*why = "invalid JSON";
	if (tok == NULL) {
		if ((tok = json_tokener_new_ex(64)) == NULL)
			ctl_fatalx("out of memory");
		json_tokener_set_flags(
		    tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	}
	/* Passing the NUL too ends bare numbers and literals. */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL &&
	    json_tokener_get_error(tok) == json_tokener_error_parse_utf8_string)
		*why = "invalid UTF-8 in JSON";
	frame_tokener_reset(tok);
	if (o == NULL)
		return NULL;
	for (; end < len; end++)
		if (strchr(" \t\r\n", text[end]) == NULL) {
			*why = "trailing data after the JSON value";
			json_object_put(o);
			return NULL;
		}
	return frame_keep_numbers(o, text, len);
}

/* Print rows of ncol cells as aligned columns (the last one unpadded). */
void
ctl_print_table(char ***rows, size_t nrows, size_t ncol)
{
	size_t *w, i, j, len;

	w = ctl_malloc(ncol * sizeof *w);
	memset(w, 0, ncol * sizeof *w);
	for (i = 0; i < nrows; i++)
		for (j = 0; j < ncol; j++)
			if ((len = strlen(rows[i][j])) > w[j])
				w[j] = len;
	for (i = 0; i < nrows; i++) {
		for (j = 0; j + 1 < ncol; j++)
			printf("%-*s  ", (int)w[j], rows[i][j]);
		printf("%s\n", rows[i][ncol - 1]);
	}
	free(w);
}

/*
 * Accept the options every command takes (--json, --help) in a command's
 * own getopt loop: returns 1 when opt was one of them.
 */
int
ctl_json_opt(int opt, char **argv)
{
	switch (opt) {
	case 'j':
		ctl.json = 1;
		return 1;
	case 'h':
		ctl_help(argv[0]);
		return 1;
	}
	return 0;
}

/* Report an option getopt_long() refused (opt '?' or ':'); exits 2. */
void
ctl_bad_option(int opt, char **argv)
{
	if (opt == ':')
		ctl_usage_error(
		    argv[0], "option '%s' needs an argument", argv[optind - 1]);
	if (optopt != 0 && optopt != '?')
		ctl_usage_error(argv[0], "unknown option '-%c'", optopt);
	ctl_usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
}

/* Print o as one compact JSON line and drop the reference. */
void
ctl_print_json(json_object *o)
{
	const char *s;

	if (o == NULL ||
	    (s = json_object_to_json_string_ext(
	         o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) ==
	        NULL)
		ctl_fatalx("out of memory");
	puts(s);
	json_object_put(o);
}

/* Parse the global options and run the command. */
int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"io-timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const struct ctl_command *cmd;
	double secs;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:S:jt:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			if (*optarg == '\0')
				ctl_usage_error(NULL, "-S: empty socket path");
			ctl.socket = optarg;
			break;
		case 'j':
			ctl.json = 1;
			break;
		case 't':
			if (ctl_duration(optarg, &secs) != 0 ||
			    secs > 86400.0 * 24)
				ctl_usage_error(NULL,
				    "--io-timeout: invalid "
				    "duration '%s'",
				    optarg);
			ctl.io_timeout_ms = (int)llround(secs * 1000);
			break;
		case 'h':
			ctl_main_help(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("pollexctl %s (libpollex %s)\n", PACKAGE_VERSION,
			    pollex_version());
			return CTL_EXIT_OK;
		case ':':
			ctl_usage_error(NULL, "option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			if (optopt != 0 && optopt != '?')
				ctl_usage_error(
				    NULL, "unknown option '-%c'", optopt);
			ctl_usage_error(
			    NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		ctl_usage_error(NULL, "no command given");
	if ((cmd = ctl_find(argv[optind])) == NULL)
		ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
	argc -= optind;
	argv += optind;
	optind = 0; /* GNU getopt: start afresh for the command */
	return cmd->run(argc, argv);
}
