/* SPDX-License-Identifier: ISC */
/* check_daemon.c: the real pollexd on a private socket: start, stop,
 * reload, and the protocol at the byte level (framing, errors, limits,
 * ordering), with raw sockets. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"
#include "testlib.h"

#define T 5000		/* ms: generous bound for anything that should be quick */

static struct tdaemon *td;

static void
setup(void)
{
	td = td_new();
}

static void
teardown(void)
{
	td_finish(td);
}

static char *
conf_with(const char *daemon_keys)
{
	char *s;

	if (asprintf(&s, "{ %s%s \"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"interval\": \"200ms\", \"poll\": %s}}}", daemon_keys,
	    *daemon_keys ? "," : "", td->poll_argv) == -1)
		abort();
	return s;
}

static void
start_with(const char *daemon_keys)
{
	char *c = conf_with(daemon_keys);

	ck_assert_msg(td_start(td, c) == 0, "pollexd did not start: %s",
	    tail(td_log(td)));
	free(c);
}

/* Send one call on fd, return the parsed reply (within timeout_ms). */
static json_object *
rpc_within(int fd, const char *method, const char *params, int timeout_ms)
{
	char *msg, *reply;
	json_object *o;

	if (asprintf(&msg, "{\"method\": \"%s\", \"parameters\": %s}", method,
	    params != NULL ? params : "{}") == -1)
		abort();
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
	free(msg);
	reply = raw_recv(fd, timeout_ms, NULL);
	ck_assert_msg(reply != NULL, "no reply to %s", method);
	o = json_tokener_parse(reply);
	ck_assert_ptr_nonnull(o);
	free(reply);
	return o;
}

/* Send one call on fd, return the parsed reply. */
static json_object *
rpc(int fd, const char *method, const char *params)
{
	return rpc_within(fd, method, params, T);
}

static const char *
error_of(json_object *r)
{
	json_object *e;

	return json_object_object_get_ex(r, "error", &e) ?
	    json_object_get_string(e) : "";
}

static json_object *
param_of(json_object *r, const char *key)
{
	return json_object_object_get(json_object_object_get(r, "parameters"),
	    key);
}

/* Is the daemon still answering, on a fresh connection? */
static void
assert_alive(void)
{
	int fd = raw_connect(td->sock);
	json_object *r;

	ck_assert_int_ge(fd, 0);
	r = rpc(fd, "io.pollex.Stats", NULL);
	ck_assert_str_eq(error_of(r), "");
	json_object_put(r);
	close(fd);
}

/* A stop repeated while pollexd is stopping (a supervisor sending SIGTERM
 * again, Ctrl-C pressed twice) is still a clean stop: exit 0, not death
 * by the signal once the loop's handlers are gone. */
START_TEST(test_repeated_sigterm_still_clean)
{
	time_t end;
	int n = 0;

	start_with("");
	assert_alive();
	end = time(NULL) + 30;
	while (!td_exited(td) && time(NULL) < end) {
		kill(td->pid, n % 2 ? SIGINT : SIGTERM);
		n++;
	}
	ck_assert_msg(td_exited(td), "pollexd did not stop in 30 s");
	ck_assert_msg(WIFEXITED(td->status) && WEXITSTATUS(td->status) == 0,
	    "after %d signals pollexd %s %d", n,
	    WIFEXITED(td->status) ? "exited" : "was killed by signal",
	    WIFEXITED(td->status) ? WEXITSTATUS(td->status) :
	    WTERMSIG(td->status));
	ck_assert_int_gt(n, 1);
}
END_TEST

START_TEST(test_start_stop)
{
	struct stat st;

	start_with("");
	ck_assert_int_eq(stat(td->sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0660);
	assert_alive();
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	ck_assert_int_eq(stat(td->sock, &st), -1);	/* removed */
}
END_TEST

START_TEST(test_sigint_stops_too)
{
	start_with("\"socket_mode\": \"0600\"");
	{
		struct stat st;
		ck_assert_int_eq(stat(td->sock, &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0600);
	}
	ck_assert_int_eq(td_stop(td, SIGINT), 0);
}
END_TEST

START_TEST(test_refuses_second_daemon)
{
	struct tdaemon *other = td_new();
	char *c, *log;

	start_with("");
	free(other->sock);
	other->sock = strdup(td->sock);	/* the same socket */
	c = conf_with("");
	ck_assert_int_eq(td_start(other, c), -1);
	ck_assert(WIFEXITED(other->status));
	ck_assert_int_eq(WEXITSTATUS(other->status), 1);
	log = td_log(other);
	ck_assert_msg(strstr(log, "another pollexd is answering") != NULL,
	    "%s", tail(log));
	free(log);
	free(c);
	assert_alive();			/* the first one is untouched */
	td_free(other);
}
END_TEST

START_TEST(test_replaces_stale_socket)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char *log;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, td->sock);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);			/* a socket file nobody answers on */
	start_with("");
	assert_alive();
	log = td_log(td);
	ck_assert_ptr_nonnull(strstr(log, "removing stale socket"));
	free(log);
}
END_TEST

START_TEST(test_bad_config_refused)
{
	char *log;

	ck_assert_int_eq(td_start(td, "{\"pollers\": {\"p\": {\"kind\": "
	    "\"exec\", \"poll\": [\"/bin/true\"], \"intervall\": 3}}}"), -1);
	ck_assert(WIFEXITED(td->status));
	ck_assert_int_eq(WEXITSTATUS(td->status), 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, td->conf) != NULL, "%s", tail(log));
	ck_assert_msg(strstr(log, "pollers.p.intervall: unknown key") != NULL,
	    "%s", tail(log));
	free(log);
}
END_TEST

/* pollexd -n: the configuration is checked, nothing is started. */
static int
check_only(const char *conf_text, char **err)
{
	char *path = write_file(td->dir, "check.conf", conf_text, 0);
	char *errf, cmd[4096];
	int r;
	FILE *f;

	if (asprintf(&errf, "%s/check.err", td->dir) == -1)
		abort();
	snprintf(cmd, sizeof cmd, "%s -n -c %s >/dev/null 2>%s", bin_pollexd(),
	    path, errf);
	r = system(cmd);
	f = fopen(errf, "r");
	*err = calloc(1, 4096);
	if (f != NULL) {
		if (fread(*err, 1, 4095, f) == 0)
			(*err)[0] = '\0';
		fclose(f);
	}
	free(errf);
	free(path);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

START_TEST(test_check_mode)
{
	char *err, *c = conf_with("");

	ck_assert_int_eq(check_only(c, &err), 0);
	free(err);
	ck_assert_int_eq(check_only("{\"retention\": \"forever\"}", &err), 1);
	ck_assert_msg(strstr(err, "check.conf: retention: expected a "
	    "duration") != NULL, "%s", err);
	free(err);
	ck_assert_int_eq(check_only("{\n\"a\": 1,\n\"b\" 2}", &err), 1);
	ck_assert_msg(strstr(err, "check.conf:3:") != NULL, "%s", err);
	free(err);
	free(c);
	ck_assert_int_eq(access(td->sock, F_OK), -1);	/* nothing started */
}
END_TEST

/*
 * Members that are null count as absent, as in sd-varlink: varlink-go
 * sends "parameters": null for a call without parameters (GetInfo).
 */
START_TEST(test_null_members_are_absent)
{
	static const char getinfo[] = "{\"method\": "
	    "\"org.varlink.service.GetInfo\", \"parameters\": null}";
	static const char stats[] = "{\"method\": \"io.pollex.Stats\", "
	    "\"parameters\": null, \"more\": null, \"oneway\": null}";
	static const char get[] = "{\"method\": \"io.pollex.Get\", "
	    "\"parameters\": null}";
	static const char bad[] = "{\"method\": \"io.pollex.Stats\", "
	    "\"parameters\": 1}";
	json_object *r;
	char *reply;
	int fd;

	start_with("");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, getinfo, sizeof getinfo), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(reply);
	r = json_tokener_parse(reply);
	ck_assert_msg(*error_of(r) == '\0', "%s", reply);
	ck_assert_str_eq(json_object_get_string(param_of(r, "product")),
	    "pollexd");
	json_object_put(r);
	free(reply);
	ck_assert_int_eq(raw_send(fd, stats, sizeof stats), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(reply);
	r = json_tokener_parse(reply);
	ck_assert_msg(*error_of(r) == '\0', "%s", reply);
	ck_assert_ptr_nonnull(param_of(r, "tasks"));
	json_object_put(r);
	free(reply);
	/* A method that needs parameters says which one is missing. */
	ck_assert_int_eq(raw_send(fd, get, sizeof get), 0);
	reply = raw_recv(fd, T, NULL);
	r = json_tokener_parse(reply);
	ck_assert_str_eq(error_of(r), "org.varlink.service.InvalidParameter");
	ck_assert_str_eq(json_object_get_string(param_of(r, "parameter")), "id");
	json_object_put(r);
	free(reply);
	/* Anything else that is not an object is still refused. */
	ck_assert_int_eq(raw_send(fd, bad, sizeof bad), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(reply, "must be an object"));
	free(reply);
	close(fd);
}
END_TEST

START_TEST(test_invalid_messages_keep_connection)
{
	int fd, other;
	json_object *r;
	char *reply;
	static const char bad[] = "{\"method\": \"io.pollex.Stats\"";
	static const char bad_utf8[] = "{\"method\": \"\xff\"}";

	start_with("");
	fd = raw_connect(td->sock);
	other = raw_connect(td->sock);
	/* Not JSON. */
	ck_assert_int_eq(raw_send(fd, "nonsense", 9), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(reply);
	r = json_tokener_parse(reply);
	ck_assert_str_eq(error_of(r), "io.pollex.InvalidMessage");
	ck_assert_ptr_nonnull(strstr(json_object_get_string(param_of(r,
	    "reason")), "not a JSON object"));
	json_object_put(r);
	free(reply);
	/* JSON cut short by a NUL. */
	ck_assert_int_eq(raw_send(fd, bad, sizeof bad), 0);
	reply = raw_recv(fd, T, NULL);
	r = json_tokener_parse(reply);
	ck_assert_str_eq(error_of(r), "io.pollex.InvalidMessage");
	ck_assert_str_eq(json_object_get_string(param_of(r, "reason")),
	    "truncated JSON");
	json_object_put(r);
	free(reply);
	/* Invalid UTF-8. */
	ck_assert_int_eq(raw_send(fd, bad_utf8, sizeof bad_utf8), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(reply, "UTF-8"));
	free(reply);
	/* Valid JSON that is not a call. */
	r = rpc(fd, "io.pollex.Stats", "[1]");
	ck_assert_str_eq(error_of(r), "io.pollex.InvalidMessage");
	json_object_put(r);
	ck_assert_int_eq(raw_send(fd, "{\"parameters\": {}}", 19), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(reply, "needs \\\"method\\\""));
	free(reply);
	/* Unknown method, missing parameter. */
	r = rpc(fd, "io.pollex.Frobnicate", NULL);
	ck_assert_str_eq(error_of(r), "org.varlink.service.MethodNotFound");
	json_object_put(r);
	r = rpc(fd, "io.pollex.Get", NULL);
	ck_assert_str_eq(error_of(r), "org.varlink.service.InvalidParameter");
	ck_assert_str_eq(json_object_get_string(param_of(r, "parameter")), "id");
	json_object_put(r);
	/* The connection still works, and so does the other one. */
	r = rpc(fd, "io.pollex.Stats", NULL);
	ck_assert_str_eq(error_of(r), "");
	json_object_put(r);
	r = rpc(other, "io.pollex.Stats", NULL);
	ck_assert_str_eq(error_of(r), "");
	json_object_put(r);
	close(fd);
	close(other);
}
END_TEST

START_TEST(test_oversized_message_closes)
{
	char *big = malloc(10000), *reply;
	int fd, eof;
	json_object *r;

	start_with("\"max_message_size\": 4096");
	fd = raw_connect(td->sock);
	memset(big, 'x', 10000);
	big[0] = '{';
	ck_assert_int_eq(raw_send(fd, big, 10000), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(reply);
	r = json_tokener_parse(reply);
	ck_assert_str_eq(error_of(r), "io.pollex.MessageTooLarge");
	ck_assert_int_eq(json_object_get_int(param_of(r, "limit")), 4096);
	json_object_put(r);
	free(reply);
	ck_assert_ptr_null(raw_recv(fd, T, &eof));
	ck_assert_int_eq(eof, 1);	/* closed */
	close(fd);
	/* A complete message over the limit too. */
	fd = raw_connect(td->sock);
	big[9999] = '\0';
	ck_assert_int_eq(raw_send(fd, big, 10000), 0);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(reply, "MessageTooLarge"));
	free(reply);
	close(fd);
	free(big);
	assert_alive();
}
END_TEST

START_TEST(test_half_message_then_disconnect)
{
	int fd, i;
	char *log;

	start_with("");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, "{\"method\": \"io.pol", 18), 0);
	close(fd);
	for (i = 0, log = NULL; i < 1000; i++) {
		assert_alive();
		free(log);
		log = td_log(td);
		if (strstr(log, "closed in the middle of a message") != NULL)
			break;
	}
	ck_assert_msg(strstr(log, "closed in the middle of a message") != NULL,
	    "%s", tail(log));
	free(log);
}
END_TEST

START_TEST(test_stalled_message_closed)
{
	int fd, eof;

	start_with("\"message_timeout\": \"300ms\"");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, "{\"method\": \"io.pol", 18), 0);
	ck_assert_ptr_null(raw_recv(fd, T, &eof));
	ck_assert_int_eq(eof, 1);
	close(fd);
	assert_alive();
}
END_TEST

/*
 * message_timeout is the time one message may take, not a connection's
 * busy spell: a client that streams messages so that a piece of the next
 * one is always in flight (pollexctl submit --file does) is never closed.
 * The clock used to start with the first piece and never restart, and
 * such a client was closed after message_timeout of streaming.
 */
START_TEST(test_streaming_client_not_timed_out)
{
	static const char msg[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
	size_t half = sizeof msg / 2;
	char *r;
	int fd, i, eof = 0;

	start_with("\"message_timeout\": \"300ms\"");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, msg, half), 0);
	/* 20 pieces 100 ms apart: 2 s of streaming; each message is done
	 * within 100 ms of its first byte, yet one is always begun. */
	for (i = 0; i < 20; i++) {
		poll(NULL, 0, 100);
		ck_assert_msg(raw_send(fd, msg + half, sizeof msg - half) == 0 &&
		    raw_send(fd, msg, half) == 0, "closed after %d ms: %s",
		    (i + 1) * 100, tail(td_log(td)));
		r = raw_recv(fd, T, &eof);
		ck_assert_msg(r != NULL && strstr(r, "\"vendor\"") != NULL,
		    "message %d not answered (eof %d): %s", i, eof,
		    tail(td_log(td)));
		free(r);
	}
	close(fd);
	assert_alive();
}
END_TEST

START_TEST(test_split_and_merged_messages)
{
	static const char two[] =
	    "{\"method\":\"io.pollex.Stats\"}\0"
	    "{\"method\":\"org.varlink.service.GetInfo\"}";
	int fd;
	size_t i;
	char *a, *b;

	start_with("");
	fd = raw_connect(td->sock);
	/* Byte by byte, then two in one write. */
	for (i = 0; i < 29; i++)
		ck_assert_int_eq(raw_send(fd, two + i, 1), 0);
	a = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(a, "\"uptime\""));
	free(a);
	ck_assert_int_eq(raw_send(fd, two, sizeof two), 0);
	a = raw_recv(fd, T, NULL);
	b = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(a, "\"uptime\""));
	ck_assert_ptr_nonnull(strstr(b, "\"interfaces\""));
	free(a);
	free(b);
	close(fd);
}
END_TEST

START_TEST(test_pipelined_answered_in_order)
{
	static const char calls[] =
	    "{\"method\":\"io.pollex.Submit\",\"parameters\":{\"tasks\":"
	    "[{\"poller\":\"p\",\"ref\":{\"name\":\"never\"}}]}}\0"
	    "{\"method\":\"io.pollex.Get\",\"parameters\":{\"id\":\"x\"}}\0"
	    "{\"method\":\"io.pollex.Stats\"}\0";
	char wait[256], *a, *b, *c, *ids;
	json_object *r;
	int fd;

	start_with("");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, calls, sizeof calls - 1), 0);
	a = raw_recv(fd, T, NULL);
	b = raw_recv(fd, T, NULL);
	c = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(strstr(a, "\"ids\""));
	ck_assert_ptr_nonnull(strstr(b, "TaskNotFound"));
	ck_assert_ptr_nonnull(strstr(c, "\"uptime\""));
	/* A Wait holds back the answers queued behind it. */
	r = json_tokener_parse(a);
	ids = strdup(json_object_get_string(json_object_array_get_idx(
	    param_of(r, "ids"), 0)));
	json_object_put(r);
	snprintf(wait, sizeof wait, "{\"method\":\"io.pollex.Wait\","
	    "\"parameters\":{\"ids\":[\"%s\"],\"timeout\":0.4}}%c"
	    "{\"method\":\"io.pollex.Stats\"}%c", ids, 0, 0);
	ck_assert_int_eq(raw_send(fd, wait, strlen(wait) + 1 +
	    strlen(wait + strlen(wait) + 1) + 1), 0);
	free(a);
	free(b);
	free(c);
	a = raw_recv(fd, T, NULL);
	b = raw_recv(fd, T, NULL);
	ck_assert_msg(strstr(a, "\"timed_out\":true") != NULL, "%s", a);
	ck_assert_ptr_nonnull(strstr(b, "\"uptime\""));
	free(a);
	free(b);
	free(ids);
	close(fd);
}
END_TEST

START_TEST(test_oneway_gets_no_reply)
{
	static const char calls[] =
	    "{\"method\":\"io.pollex.Submit\",\"oneway\":true,\"parameters\":"
	    "{\"tasks\":[{\"poller\":\"p\",\"ref\":{\"name\":\"ow\"}}]}}\0"
	    "{\"method\":\"io.pollex.List\"}\0";
	json_object *r;
	char *a;
	int fd;

	start_with("");
	fd = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(fd, calls, sizeof calls - 1), 0);
	a = raw_recv(fd, T, NULL);	/* the List reply comes first */
	r = json_tokener_parse(a);
	ck_assert_ptr_nonnull(param_of(r, "tasks"));
	ck_assert_int_eq(json_object_array_length(param_of(r, "tasks")), 1);
	json_object_put(r);
	free(a);
	ck_assert_ptr_null(raw_recv(fd, 200, NULL));	/* nothing else */
	close(fd);
}
END_TEST

START_TEST(test_connection_limits)
{
	int a, b, c, eof;
	char *reply;

	start_with("\"max_connections_per_uid\": 2");
	a = raw_connect(td->sock);
	b = raw_connect(td->sock);
	c = raw_connect(td->sock);
	ck_assert_int_ge(c, 0);
	reply = raw_recv(c, T, NULL);
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_nonnull(strstr(reply, "io.pollex.TooManyConnections"));
	free(reply);
	ck_assert_ptr_null(raw_recv(c, T, &eof));
	ck_assert_int_eq(eof, 1);
	close(c);
	json_object_put(rpc(a, "io.pollex.Stats", NULL));
	close(b);
	close(a);
}
END_TEST

START_TEST(test_unread_replies_drop_client)
{
	static const char watch[] = "{\"method\":\"io.pollex.Watch\","
	    "\"more\":true,\"parameters\":{\"initial\":true}}";
	char *sub, *labels, *log;
	int fd, w, eof = 0, i, n;
	json_object *r;
	char buf[65536];

	start_with("\"max_output_buffer\": 65536");
	fd = raw_connect(td->sock);
	/* 400 tasks with 1 KiB labels: some 600 KiB of "current" events. */
	labels = malloc(1100);
	memset(labels, 'v', 1000);
	labels[1000] = '\0';
	for (i = 0; i < 400; i++) {
		if (asprintf(&sub, "{\"tasks\":[{\"poller\":\"p\",\"ref\":"
		    "{\"name\":\"n%d\"},\"labels\":{\"big\":\"%s\"}}]}", i,
		    labels) == -1)
			abort();
		r = rpc(fd, "io.pollex.Submit", sub);
		ck_assert_str_eq(error_of(r), "");
		json_object_put(r);
		free(sub);
	}
	free(labels);
	w = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(w, watch, sizeof watch), 0);
	/* The watcher does not read; the daemon gives up on it and lives. */
	assert_alive();
	log = NULL;
	for (i = 0; i < 100; i++) {
		free(log);
		log = td_log(td);
		if (strstr(log, "max_output_buffer 65536: dropping it") != NULL)
			break;
		assert_alive();
	}
	ck_assert_msg(strstr(log, "max_output_buffer 65536: dropping it") !=
	    NULL, "%s", tail(log));
	free(log);
	/* What it had buffered drains, then EOF. */
	while ((n = (int)recv(w, buf, sizeof buf, 0)) > 0)
		;
	eof = n == 0;
	ck_assert_int_eq(eof, 1);
	close(w);
	close(fd);
}
END_TEST

/* The daemon's count of calls so far (this Stats call included). */
static int64_t
calls_now(int fd)
{
	json_object *r = rpc(fd, "io.pollex.Stats", NULL);
	int64_t v = json_object_get_int64(param_of(r, "calls"));

	json_object_put(r);
	return v;
}

/* Wait until a call sent on another connection after calls_now() gave
 * base has been dispatched: the count then runs one ahead of ours. */
static int
wait_dispatched(int fd, int64_t base)
{
	int64_t k;

	for (k = 1; k < 5000; k++)
		if (calls_now(fd) >= base + k + 1)
			return 1;
	return 0;
}

/* One member of a Stats reply, as an integer (0 when absent). */
static int64_t
stat_of(int fd, const char *key)
{
	json_object *r = rpc(fd, "io.pollex.Stats", NULL);
	int64_t v = json_object_get_int64(param_of(r, key));

	json_object_put(r);
	return v;
}

/*
 * The daemon's resident set, in KiB (VmRSS of /proc/PID/status); -1 when
 * it says nothing about the daemon's own memory: under AddressSanitizer
 * (its quarantine keeps freed memory) or valgrind.
 */
static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

#if defined(__SANITIZE_ADDRESS__)
	return -1;
#endif
	if (getenv("POLLEX_TEST_WRAPPER") != NULL &&
	    *getenv("POLLEX_TEST_WRAPPER") != '\0')
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Submit a task nobody finishes (the test poller leaves unknown names
 * pending); its id, malloc'd. */
static char *
submit_never(int fd, const char *name)
{
	char params[256], *id;
	json_object *r;

	snprintf(params, sizeof params, "{\"tasks\":[{\"poller\":\"p\","
	    "\"ref\":{\"name\":\"%s\"}}]}", name);
	r = rpc(fd, "io.pollex.Submit", params);
	ck_assert_str_eq(error_of(r), "");
	id = strdup(json_object_get_string(json_object_array_get_idx(
	    param_of(r, "ids"), 0)));
	json_object_put(r);
	return id;
}

/* Issue 11, 2: 100,000 oneway Waits parked one call each, for good.  A
 * oneway Wait now does nothing (nobody reads its reply): nothing is
 * parked, the memory does not grow, and nothing is left to free. */
START_TEST(test_oneway_wait_parks_nothing)
{
	enum { N = 100000 };
	char one[256], *buf, *id;
	size_t len, i;
	long rss0, rss1;
	int fd, other;

	start_with("");
	fd = raw_connect(td->sock);
	id = submit_never(fd, "never");
	snprintf(one, sizeof one, "{\"method\":\"io.pollex.Wait\","
	    "\"oneway\":true,\"parameters\":{\"ids\":[\"%s\"]}}", id);
	len = strlen(one) + 1;
	buf = malloc(len * N);
	for (i = 0; i < N; i++)
		memcpy(buf + i * len, one, len);
	json_object_put(rpc(fd, "io.pollex.Stats", NULL));
	rss0 = rss_kib(td->pid);
	ck_assert_int_eq(raw_send(fd, buf, len * N), 0);
	free(buf);
	/* Answered in order: the Waits were all taken in before this. */
	ck_assert_int_eq(stat_of(fd, "calls"), N + 3);
	rss1 = rss_kib(td->pid);
	/* Parked, they took some 70 MB (690 bytes each). */
	ck_assert_msg(rss1 - rss0 < 16 * 1024 || rss0 == -1, "RSS grew from "
	    "%ld to %ld KiB", rss0, rss1);
	/* Only this Stats call is unanswered. */
	ck_assert_int_eq(stat_of(fd, "pending_calls"), 1);
	other = raw_connect(td->sock);
	close(fd);
	ck_assert_int_eq(stat_of(other, "pending_calls"), 1);
	close(other);
	free(id);
}
END_TEST

/* Issue 11, 2: a oneway call that waits (a Cancel waiting for its cancel
 * program) belongs to its connection: counted while it waits, freed when
 * the connection closes.  The cancel itself goes on. */
START_TEST(test_oneway_call_freed_with_connection)
{
	char *c, *id, msg[256], note[128];
	int64_t before, after;
	int fd, w, i, seen = 0;

	if (asprintf(&c, "{\"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"interval\": \"30s\", \"poll\": %s, \"cancel\": %s}}}",
	    td->poll_argv, td->cancel_argv) == -1)
		abort();
	ck_assert_msg(td_start(td, c) == 0, "%s", tail(td_log(td)));
	free(c);
	fd = raw_connect(td->sock);
	id = submit_never(fd, "c1");
	td_block(td);
	w = raw_connect(td->sock);
	snprintf(msg, sizeof msg, "{\"method\":\"io.pollex.Cancel\","
	    "\"oneway\":true,\"parameters\":{\"id\":\"%s\"}}", id);
	ck_assert_int_eq(raw_send(w, msg, strlen(msg) + 1), 0);
	while (!seen && td_note(td, T, note, sizeof note) == 0)
		seen = strncmp(note, "cancel 1 blocked", 16) == 0;
	ck_assert_msg(seen, "the cancel program did not run");
	/* The Cancel and this Stats are unanswered. */
	before = stat_of(fd, "pending_calls");
	close(w);
	for (i = 0; i < 5000 && stat_of(fd, "pending_calls") != 1; i++)
		;
	after = stat_of(fd, "pending_calls");
	/* The blocked programs go on (and end) whatever the outcome: a
	 * failed check must not leave them behind. */
	td_release(td);
	ck_assert_int_eq(before, 2);
	ck_assert_int_eq(after, 1);
	close(fd);
	free(id);
}
END_TEST

/* Issue 11, 3: replies held behind a parked Wait count against
 * max_output_buffer with the output.  The client that pipelines a Wait
 * and 100 List calls of 10,000 tasks is paused once it holds half the
 * cap, so the daemon's memory stays bounded (it grew by 276 MB), and all
 * of it is let go with the client. */
START_TEST(test_held_replies_count)
{
	enum { NTASKS = 10000, NLIST = 100 };
	static const char list[] = "{\"method\":\"io.pollex.List\","
	    "\"parameters\":{\"limit\":10000}}";
	char *sub, *id, *buf, wait[256];
	size_t len, off, i;
	long rss0, rss1;
	int64_t base, bytes = 0, calls = 0;
	json_object *r;
	int fd, a, k, eof;

	/* A short message_timeout: whole calls waiting while reading is
	 * paused are no unfinished message. */
	start_with("\"max_output_buffer\": 8388608, \"message_timeout\": "
	    "\"300ms\"");
	fd = raw_connect(td->sock);
	id = submit_never(fd, "never");
	/* 10,000 tasks: a List of them is some 3 MB. */
	len = 64 + NTASKS * 64;
	sub = malloc(len);
	off = (size_t)snprintf(sub, len, "{\"tasks\":[");
	for (i = 0; i < NTASKS; i++)
		off += (size_t)snprintf(sub + off, len - off, "%s{\"poller\":"
		    "\"p\",\"ref\":{\"name\":\"t%zu\"}}", i ? "," : "", i);
	snprintf(sub + off, len - off, "]}");
	r = rpc(fd, "io.pollex.Submit", sub);
	ck_assert_str_eq(error_of(r), "");
	json_object_put(r);
	free(sub);

	snprintf(wait, sizeof wait, "{\"method\":\"io.pollex.Wait\","
	    "\"parameters\":{\"ids\":[\"%s\"]}}", id);
	len = strlen(wait) + 1 + NLIST * sizeof list;
	buf = malloc(len);
	memcpy(buf, wait, strlen(wait) + 1);
	for (i = 0, off = strlen(wait) + 1; i < NLIST; i++, off += sizeof list)
		memcpy(buf + off, list, sizeof list);
	base = calls_now(fd);
	rss0 = rss_kib(td->pid);
	a = raw_connect(td->sock);
	ck_assert_int_eq(raw_send(a, buf, len), 0);
	free(buf);
	/* Until it is paused at half the cap (4 MiB), or (before the fix)
	 * every List was answered into held replies. */
	for (k = 1; k < 5000; k++) {
		/* Before the fix the daemon was busy with the Lists. */
		r = rpc_within(fd, "io.pollex.Stats", NULL, 60000);
		bytes = json_object_get_int64(param_of(r, "client_bytes"));
		calls = json_object_get_int64(param_of(r, "calls")) - base - k;
		json_object_put(r);
		if (bytes >= 4 * 1024 * 1024 || calls == 1 + NLIST)
			break;
	}
	rss1 = rss_kib(td->pid);
	ck_assert_msg(rss1 - rss0 < 64 * 1024 || rss0 == -1, "RSS grew from "
	    "%ld to %ld KiB (%lld calls taken in, %lld bytes held)", rss0, rss1,
	    (long long)calls, (long long)bytes);
	ck_assert_int_lt(calls, 1 + NLIST);
	ck_assert_int_le(bytes, 8 * 1024 * 1024);
	/* Paused, not dropped (it holds less than the cap), nor closed for
	 * its calls that wait in the input (message_timeout). */
	ck_assert_int_eq(stat_of(fd, "clients_dropped"), 0);
	ck_assert_ptr_null(raw_recv(a, 1000, &eof));
	ck_assert_msg(!eof, "the paused client was closed: %s",
	    tail(td_log(td)));
	/* Gone with the client, paused as it is. */
	close(a);
	for (k = 0; k < 5000 && stat_of(fd, "client_bytes") != 0; k++)
		;
	ck_assert_int_eq(stat_of(fd, "client_bytes"), 0);
	ck_assert_int_eq(stat_of(fd, "pending_calls"), 1);
	close(fd);
	free(id);
}
END_TEST

/*
 * A message half read when the daemon stops reading a client (it holds
 * more than half max_output_buffer: here Watch events it does not read)
 * is not the client's delay: the message_timeout clock stops while reading
 * is paused.  It used to run on, and a client pipelining big Submits (the
 * scale benchmark, at 700,000 tasks) was closed as "message not finished".
 * Here the half message is read with a Watch; Submits from another
 * connection make the watcher hold over half of max_output_buffer.
 */
START_TEST(test_paused_reading_stops_message_clock)
{
	static const char watch_and_half[] = "{\"method\":\"io.pollex.Watch\","
	    "\"more\":true,\"parameters\":{}}\0"
	    "{\"method\":\"org.varlink.service.GetInfo\"";
	char *sub, *msg, *log;
	size_t len, off, i;
	json_object *r;
	struct timespec t0, t1;
	long long spent;
	int64_t c0;
	int fd, a, k, eof = 0, found = 0;

	/* A message_timeout longer than filling the watcher's output takes
	 * even on a loaded machine; the wait below is counted from the half
	 * message, so the test lasts about that long however the filling
	 * went. */
	start_with("\"max_output_buffer\": 4194304, \"message_timeout\": "
	    "\"10s\"");
	fd = raw_connect(td->sock);
	a = raw_connect(td->sock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(raw_send(a, watch_and_half, sizeof watch_and_half - 1),
	    0);
	/* The Watch is parked (and the half message read with it). */
	for (k = 0; k < 5000 && stat_of(fd, "pending_calls") < 1; k++)
		;
	ck_assert_int_ge(stat_of(fd, "pending_calls"), 1);
	/* Events for the watcher until it holds more than half the cap
	 * (2 MiB), within the message's 10 s: reading it pauses (it is
	 * not dropped: less than the cap). */
	len = 64 + 1000 * 64;
	sub = malloc(len);
	for (k = 0; k < 100 && stat_of(fd, "client_bytes") < 2200 * 1024;
	    k++) {
		off = (size_t)snprintf(sub, len, "{\"tasks\":[");
		for (i = 0; i < 1000; i++)
			off += (size_t)snprintf(sub + off, len - off,
			    "%s{\"poller\":\"p\",\"ref\":{\"name\":"
			    "\"w%d-%zu\"}}", i ? "," : "", k, i);
		snprintf(sub + off, len - off, "]}");
		r = rpc(fd, "io.pollex.Submit", sub);
		ck_assert_str_eq(error_of(r), "");
		json_object_put(r);
	}
	free(sub);
	ck_assert_int_ge(stat_of(fd, "client_bytes"), 2200 * 1024);
	ck_assert_int_eq(stat_of(fd, "clients_dropped"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	spent = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(spent < 9000, "filling the output took %lld ms: the "
	    "message may have timed out before reading paused", spent);
	/* A slow reader: more than the message_timeout passes, since the
	 * half message came, while it is paused (nothing to wait for: the
	 * point is that nothing happens). */
	poll(NULL, 0, (int)(11000 - spent));
	/* It finishes its message and reads what it holds: reading
	 * resumes and the message becomes a call (its reply waits behind
	 * the Watch, which never ends: Stats counts the call); the
	 * connection was not closed. */
	c0 = stat_of(fd, "calls");
	ck_assert_int_eq(raw_send(a, "}", 2), 0);
	while ((msg = raw_recv(a, 500, &eof)) != NULL)
		free(msg);
	for (k = 0; k < 5000 && !found; k++)
		found = stat_of(fd, "calls") >= c0 + k + 2;
	log = td_log(td);
	ck_assert_msg(!eof && found, "the finished message was not taken "
	    "(closed: %d): %s", eof, tail(log));
	ck_assert_msg(strstr(log, "message not finished") == NULL, "%s",
	    tail(log));
	free(log);
	close(a);
	close(fd);
}
END_TEST

/* Issue 11, 3: the cap is per client, not per buffer.  Two Watch streams
 * on one connection that is not read: the first's events fill the
 * output, the second's are held behind it.  Together they pass 1 MiB
 * long before either does alone, and the client is dropped, logged and
 * counted. */
START_TEST(test_cap_counts_all_a_client_holds)
{
	static const char watches[] =
	    "{\"method\":\"io.pollex.Watch\",\"more\":true}\0"
	    "{\"method\":\"io.pollex.Watch\",\"more\":true}";
	char *labels, *sub, *log, rbuf[65536];
	int fd, w, i, j, n, dropped = 0;
	int64_t base;
	json_object *r;
	size_t off;

	start_with("\"max_output_buffer\": 1048576");
	fd = raw_connect(td->sock);
	w = raw_connect(td->sock);
	base = calls_now(fd);
	ck_assert_int_eq(raw_send(w, watches, sizeof watches), 0);
	/* Both watches in place: two calls more than ours. */
	for (i = 1; i < 5000 && calls_now(fd) < base + i + 2; i++)
		;
	ck_assert_int_lt(i, 5000);
	labels = malloc(1001);
	memset(labels, 'v', 1000);
	labels[1000] = '\0';
	/* Each task makes some 1.3 KB of events per watch: 1 MiB is some
	 * 800 of one watch's (beyond what the socket holds), 400 of both. */
	sub = malloc(64 * 1200);
	for (i = 0; i < 700 && !dropped; i += 50) {
		off = (size_t)sprintf(sub, "{\"tasks\":[");
		for (j = 0; j < 50; j++)
			off += (size_t)sprintf(sub + off, "%s{\"poller\":\"p\","
			    "\"ref\":{\"name\":\"w%d\"},\"labels\":"
			    "{\"big\":\"%s\"}}", j ? "," : "", i + j, labels);
		sprintf(sub + off, "]}");
		r = rpc(fd, "io.pollex.Submit", sub);
		ck_assert_str_eq(error_of(r), "");
		json_object_put(r);
		dropped = stat_of(fd, "clients_dropped") == 1;
	}
	free(sub);
	free(labels);
	ck_assert_msg(dropped, "not dropped after %d tasks", i);
	log = td_log(td);
	ck_assert_msg(strstr(log, "more than max_output_buffer 1048576: "
	    "dropping it") != NULL, "%s", tail(log));
	free(log);
	/* What was written drains, then EOF. */
	while ((n = (int)recv(w, rbuf, sizeof rbuf, 0)) > 0)
		;
	ck_assert_int_eq(n, 0);
	close(w);
	ck_assert_int_eq(stat_of(fd, "client_bytes"), 0);
	ck_assert_int_eq(stat_of(fd, "pending_calls"), 1);
	close(fd);
}
END_TEST

/* The descriptor limit that leaves the daemon exactly free descriptors
 * (new ones take the lowest numbers, so those above it do not count). */
static int
fd_limit_leaving(pid_t pid, int free)
{
	char path[64], used[4096];
	struct dirent *de;
	DIR *d;
	int fd, lim, n;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	memset(used, 0, sizeof used);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && (fd = atoi(de->d_name)) >= 0 &&
		    fd < (int)sizeof used)
			used[fd] = 1;
	closedir(d);
	for (lim = 0, n = 0; lim < (int)sizeof used; lim++) {
		if (!used[lim] && n == free)
			return lim;
		n += !used[lim];
	}
	return -1;
}

/* Issue 11, 9: with its descriptors used up, pollexd left new clients to
 * time out in the backlog.  It raises its soft limit at start-up; out of
 * descriptors, it refuses a new client at once (with the room its reserve
 * descriptor makes), pauses accepting, says so in the log and in Stats,
 * and serves again once a client has left. */
START_TEST(test_out_of_descriptors)
{
	enum { MAXC = 64 };
	static const char stats[] = "{\"method\":\"io.pollex.Stats\"}";
	struct rlimit rl, low;
	int fd, c[MAXC], lim, nserved = 0, refused = 0, eof, i;
	int64_t limit;
	rlim_t want;
	char *reply, *log;

	/* Started with a soft limit of 128: pollexd raises it. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	if (low.rlim_cur > 128)
		low.rlim_cur = 128;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	start_with("");
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	fd = raw_connect(td->sock);
	ck_assert_int_ge(fd, 0);
	want = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 65536 ?
	    rl.rlim_max : 65536;
	limit = stat_of(fd, "fd_limit");	/* asserted at the end */

	/* Now leave it a few descriptors (prlimit: as if LimitNOFILE= were
	 * low), and connect until a client is turned away. */
	lim = fd_limit_leaving(td->pid, 3);
	ck_assert_int_gt(lim, 0);
	low.rlim_cur = low.rlim_max = (rlim_t)lim;
	ck_assert_int_eq(prlimit(td->pid, RLIMIT_NOFILE, &low, NULL), 0);
	for (i = 0; i < MAXC && !refused; i++) {
		c[i] = raw_connect(td->sock);
		ck_assert_int_ge(c[i], 0);
		ck_assert_int_eq(raw_send(c[i], stats, sizeof stats), 0);
		/* Served, or told and closed, within T: never a hang. */
		reply = raw_recv(c[i], T, &eof);
		ck_assert_msg(reply != NULL || eof, "client %d: neither served "
		    "nor closed in %d ms", i, T);
		if (reply != NULL && strstr(reply, "\"uptime\"") != NULL)
			nserved++;
		else {
			ck_assert_msg(reply == NULL || strstr(reply,
			    "io.pollex.TooManyConnections") != NULL, "%s", reply);
			free(reply);
			reply = raw_recv(c[i], T, &eof);
			ck_assert_ptr_null(reply);
			ck_assert_int_eq(eof, 1);
			refused = 1;
		}
		free(reply);
	}
	ck_assert_msg(refused, "%d clients served, none refused", nserved);
	ck_assert_int_eq(nserved, 3);
	ck_assert_int_ge(stat_of(fd, "accept_pauses"), 1);
	log = td_log(td);
	ck_assert_msg(strstr(log, "out of file descriptors") != NULL, "%s",
	    tail(log));
	free(log);
	/* Clients leave: the next one is served at once. */
	while (i-- > 0)
		close(c[i]);
	c[0] = raw_connect(td->sock);
	json_object_put(rpc(c[0], "io.pollex.Stats", NULL));
	ck_assert_int_eq(stat_of(c[0], "accepts_paused"), 0);
	close(c[0]);
	close(fd);
	/* The limit raised at start-up (valgrind keeps the one it started
	 * with: it reserves descriptors above it). */
	if (getenv("POLLEX_TEST_WRAPPER") == NULL ||
	    strstr(getenv("POLLEX_TEST_WRAPPER"), "valgrind") == NULL)
		ck_assert_int_eq(limit, (int64_t)want);
}
END_TEST

START_TEST(test_sigterm_answers_waiters)
{
	char *sub, *reply;
	json_object *r;
	int64_t base;
	int fd, w;

	start_with("");
	fd = raw_connect(td->sock);
	r = rpc(fd, "io.pollex.Submit", "{\"tasks\":[{\"poller\":\"p\","
	    "\"ref\":{\"name\":\"forever\"}}]}");
	if (asprintf(&sub, "{\"method\":\"io.pollex.Wait\",\"parameters\":"
	    "{\"ids\":[\"%s\"]}}", json_object_get_string(
	    json_object_array_get_idx(param_of(r, "ids"), 0))) == -1)
		abort();
	json_object_put(r);
	w = raw_connect(td->sock);
	base = calls_now(fd);
	ck_assert_int_eq(raw_send(w, sub, strlen(sub) + 1), 0);
	free(sub);
	/* Count calls until the daemon has taken the Wait in. */
	ck_assert_msg(wait_dispatched(fd, base), "the Wait never arrived");
	ck_assert_ptr_null(raw_recv(w, 100, NULL));
	ck_assert_int_eq(td_stop(td, SIGTERM), 0);
	reply = raw_recv(w, T, NULL);
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_nonnull(strstr(reply, "io.pollex.ShuttingDown"));
	free(reply);
	close(w);
	close(fd);
}
END_TEST

START_TEST(test_reload)
{
	char *c, *log;
	json_object *r;
	int fd;

	start_with("");
	fd = raw_connect(td->sock);
	r = rpc(fd, "io.pollex.Submit", "{\"tasks\":[{\"poller\":\"p\","
	    "\"ref\":{\"name\":\"keep\"}}]}");
	json_object_put(r);
	/* Add a poller. */
	if (asprintf(&c, "{\"pollers\": {\"p\": {\"kind\": \"exec\", "
	    "\"interval\": \"200ms\", \"poll\": %s}, \"q\": {\"kind\": "
	    "\"exec\", \"poll\": %s}}}", td->poll_argv, td->poll_argv) == -1)
		abort();
	free(write_file(td->dir, "pollexd.conf", c, 0));
	free(c);
	ck_assert_int_eq(td_reload(td), 0);
	r = rpc(fd, "io.pollex.Pollers", NULL);
	ck_assert_int_eq(json_object_array_length(param_of(r, "pollers")), 2);
	json_object_put(r);
	/* A bad file keeps what runs. */
	free(write_file(td->dir, "pollexd.conf", "{\"pollers\": 3}", 0));
	ck_assert_int_eq(td_reload(td), 0);
	r = rpc(fd, "io.pollex.Pollers", NULL);
	ck_assert_int_eq(json_object_array_length(param_of(r, "pollers")), 2);
	json_object_put(r);
	log = td_log(td);
	ck_assert_ptr_nonnull(strstr(log, "reload failed, keeping the running "
	    "configuration"));
	ck_assert_ptr_nonnull(strstr(log, "pollers: expected an object"));
	free(log);
	/* Removing p keeps its task; new submits to p are refused. */
	if (asprintf(&c, "{\"pollers\": {\"q\": {\"kind\": \"exec\", "
	    "\"poll\": %s}}}", td->poll_argv) == -1)
		abort();
	free(write_file(td->dir, "pollexd.conf", c, 0));
	free(c);
	ck_assert_int_eq(td_reload(td), 0);
	r = rpc(fd, "io.pollex.Pollers", NULL);
	ck_assert_int_eq(json_object_array_length(param_of(r, "pollers")), 2);
	ck_assert(json_object_get_boolean(json_object_object_get(
	    json_object_array_get_idx(param_of(r, "pollers"), 0), "removed")));
	json_object_put(r);
	r = rpc(fd, "io.pollex.List", "{\"states\": [\"pending\"]}");
	ck_assert_int_eq(json_object_array_length(param_of(r, "tasks")), 1);
	json_object_put(r);
	r = rpc(fd, "io.pollex.Submit", "{\"tasks\":[{\"poller\":\"p\","
	    "\"ref\":{\"name\":\"new\"}}]}");
	ck_assert_str_eq(error_of(r), "io.pollex.PollerNotFound");
	json_object_put(r);
	close(fd);
}
END_TEST

/* Is key in r's parameters, of type ty? */
static int
has_member(json_object *r, const char *key, json_type ty)
{
	json_object *v;

	return json_object_object_get_ex(json_object_object_get(r,
	    "parameters"), key, &v) && json_object_is_type(v, ty);
}

/* Issue 14, 3: every reply of Wait has what the IDL requires (done and
 * timed_out), "continues" ones included; not_done is optional and the
 * reply that ends the call has it.  return_when takes the IDL's
 * spellings and the concurrent.futures ones. */
START_TEST(test_wait_replies_follow_idl)
{
	const char *ids[3];
	json_object *sub, *r, *nd;
	char *msg, *reply;
	int fd, n, last;

	start_with("");
	td_set(td, "outcomes/a", "{\"state\": \"succeeded\"}");
	td_set(td, "outcomes/b", "{\"state\": \"failed\", \"error\": "
	    "{\"code\": \"x\", \"message\": \"y\"}}");
	fd = raw_connect(td->sock);
	sub = rpc(fd, "io.pollex.Submit", "{\"tasks\":["
	    "{\"poller\":\"p\",\"ref\":{\"name\":\"a\"}},"
	    "{\"poller\":\"p\",\"ref\":{\"name\":\"b\"}},"
	    "{\"poller\":\"p\",\"ref\":{\"name\":\"forever\"}}]}");
	ck_assert_str_eq(error_of(sub), "");
	for (n = 0; n < 3; n++)
		ids[n] = json_object_get_string(json_object_array_get_idx(
		    param_of(sub, "ids"), n));
	/* Streamed, new spelling: one reply per task, then the last. */
	if (asprintf(&msg, "{\"method\":\"io.pollex.Wait\",\"more\":true,"
	    "\"parameters\":{\"ids\":[\"%s\",\"%s\"],\"return_when\":"
	    "\"all_completed\",\"timeout\":30}}", ids[0], ids[1]) == -1)
		abort();
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
	free(msg);
	for (n = 0, last = 0; !last; n++) {
		reply = raw_recv(fd, 3 * T, NULL);
		ck_assert_ptr_nonnull(reply);
		r = json_tokener_parse(reply);
		ck_assert_msg(*error_of(r) == '\0', "%s", reply);
		ck_assert_msg(has_member(r, "done", json_type_array), "%s",
		    reply);
		ck_assert_msg(has_member(r, "timed_out", json_type_boolean),
		    "%s", reply);
		ck_assert(!json_object_get_boolean(param_of(r, "timed_out")));
		last = !json_object_get_boolean(json_object_object_get(r,
		    "continues"));
		if (last)
			ck_assert_msg(has_member(r, "not_done",
			    json_type_array), "%s", reply);
		json_object_put(r);
		free(reply);
	}
	ck_assert_int_eq(n, 2);
	/* Old spelling, timed out: the last reply says so. */
	if (asprintf(&msg, "{\"method\":\"io.pollex.Wait\",\"more\":true,"
	    "\"parameters\":{\"ids\":[\"%s\"],\"return_when\":"
	    "\"FIRST_EXCEPTION\",\"timeout\":0.1}}", ids[2]) == -1)
		abort();
	ck_assert_int_eq(raw_send(fd, msg, strlen(msg) + 1), 0);
	free(msg);
	reply = raw_recv(fd, T, NULL);
	ck_assert_ptr_nonnull(reply);
	r = json_tokener_parse(reply);
	ck_assert_msg(*error_of(r) == '\0', "%s", reply);
	ck_assert(json_object_get_boolean(param_of(r, "timed_out")));
	nd = param_of(r, "not_done");
	ck_assert_int_eq(json_object_array_length(nd), 1);
	ck_assert_str_eq(json_object_get_string(
	    json_object_array_get_idx(nd, 0)), ids[2]);
	ck_assert_int_eq(json_object_array_length(param_of(r, "done")), 0);
	json_object_put(r);
	free(reply);
	/* Every spelling of the modes, and nothing else. */
	for (n = 0; n < 7; n++) {
		static const char *const rw[] = { "first_completed",
			"first_exception", "all_completed", "FIRST_COMPLETED",
			"FIRST_EXCEPTION", "ALL_COMPLETED", "First_Completed" };

		if (asprintf(&msg, "{\"ids\":[\"%s\"],\"return_when\":\"%s\"}",
		    ids[0], rw[n]) == -1)
			abort();
		r = rpc(fd, "io.pollex.Wait", msg);
		free(msg);
		ck_assert_str_eq(error_of(r), n < 6 ? "" :
		    "org.varlink.service.InvalidParameter");
		ck_assert_msg(n == 6 || has_member(r, "not_done",
		    json_type_array), "%s", json_object_get_string(r));
		json_object_put(r);
	}
	json_object_put(sub);
	close(fd);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("lifecycle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_start_stop);
	tcase_add_test(tc, test_repeated_sigterm_still_clean);
	tcase_add_test(tc, test_sigint_stops_too);
	tcase_add_test(tc, test_refuses_second_daemon);
	tcase_add_test(tc, test_replaces_stale_socket);
	tcase_add_test(tc, test_bad_config_refused);
	tcase_add_test(tc, test_check_mode);
	tcase_add_test(tc, test_sigterm_answers_waiters);
	tcase_add_test(tc, test_reload);
	suite_add_tcase(s, tc);
	tc = tcase_create("protocol");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_invalid_messages_keep_connection);
	tcase_add_test(tc, test_null_members_are_absent);
	tcase_add_test(tc, test_wait_replies_follow_idl);
	tcase_add_test(tc, test_oversized_message_closes);
	tcase_add_test(tc, test_half_message_then_disconnect);
	tcase_add_test(tc, test_stalled_message_closed);
	tcase_add_test(tc, test_split_and_merged_messages);
	tcase_add_test(tc, test_pipelined_answered_in_order);
	tcase_add_test(tc, test_oneway_gets_no_reply);
	tcase_add_test(tc, test_connection_limits);
	tcase_add_test(tc, test_out_of_descriptors);
	tcase_add_test(tc, test_unread_replies_drop_client);
	tcase_add_test(tc, test_oneway_wait_parks_nothing);
	tcase_add_test(tc, test_oneway_call_freed_with_connection);
	tcase_add_test(tc, test_held_replies_count);
	tcase_add_test(tc, test_paused_reading_stops_message_clock);
	tcase_add_test(tc, test_streaming_client_not_timed_out);
	tcase_add_test(tc, test_cap_counts_all_a_client_holds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return check_run(daemon_suite());
}
