/* SPDX-License-Identifier: ISC */
/* testpoller.c: an exec poll / start / cancel program for the integration
 * tests, steered through files in a directory:
 *
 *   testpoller poll|start|cancel DIR
 *
 *   DIR/outcomes/NAME  what to answer for the task whose ref is {"name":
 *                      NAME}: one outcome object ({"state": "succeeded",
 *                      "result": ...}) or an array of them (each becomes an
 *                      entry for the task, in order); absent: pending
 *   DIR/delay          a JSON number answered as "delay"
 *   DIR/mode           "exit N", "garbage", "hang", "huge", "block"
 *                      (announce, then wait until DIR/release, a FIFO, is
 *                      written), or "slow MS"
 *   DIR/cancel/NAME    "accept", "refuse REASON", "error"
 *   DIR/log            one line per run: "OP MONO_MS N ID,ID,..."
 *
 * After reading its input it sends "OP N [blocked]" to the datagram socket
 * $PX_TEST_NOTIFY, so tests can wait for polls instead of sleeping. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

static const char *dir;

static char *
slurp_fd(FILE *f)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((buf = realloc(buf, cap)) == NULL)
				exit(70);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	buf[len] = '\0';
	return buf;
}

/* The content of DIR/name, or NULL. */
static char *
read_file(const char *name)
{
	char path[4096], *s;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	s = slurp_fd(f);
	fclose(f);
	return s;
}

static void
notify(const char *msg)
{
	const char *path = getenv("PX_TEST_NOTIFY");
	struct sockaddr_un sun;
	int fd;

	if (path == NULL || strlen(path) >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1)
		return;
	/* Never block: a test that does not read its notes must not stall
	 * the poller. */
	sendto(fd, msg, strlen(msg), MSG_DONTWAIT, (struct sockaddr *)&sun,
	    sizeof sun);
	close(fd);
}

static void
log_run(const char *op, json_object *in)
{
	json_object *tasks, *id;
	struct timespec ts;
	char path[4096];
	size_t i, n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/log", dir);
	if ((f = fopen(path, "a")) == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (json_object_object_get_ex(in, "tasks", &tasks))
		n = json_object_array_length(tasks);
	fprintf(f, "%s %lld %zu ", op,
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    json_object_object_get_ex(in, "tasks", NULL) ? n : (size_t)1);
	if (n == 0 && json_object_object_get_ex(in, "id", &id))
		fputs(json_object_get_string(id), f);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", json_object_get_string(
		    json_object_object_get(json_object_array_get_idx(tasks, i),
		    "id")));
	fputc('\n', f);
	fclose(f);
}

/* Apply DIR/mode; returns only when the run should answer normally. */
static void
apply_mode(const char *op, size_t n)
{
	char *mode = read_file("mode"), path[4096], note[64], c;
	int fd;

	if (mode == NULL)
		return;
	mode[strcspn(mode, "\n")] = '\0';
	if (strncmp(mode, "exit ", 5) == 0) {
		snprintf(note, sizeof note, "%s %zu failed", op, n);
		notify(note);
		fprintf(stderr, "testpoller: told to exit %d\n", atoi(mode + 5));
		exit(atoi(mode + 5));
	}
	if (strcmp(mode, "garbage") == 0) {
		puts("this is not JSON");
		exit(0);
	}
	if (strcmp(mode, "hang") == 0)
		for (;;)
			pause();
	if (strcmp(mode, "huge") == 0) {
		for (;;)
			fputs("{\"tasks\": [], \"padding\": \"xxxxxxxxxxxxxxxxxxx\"}\n",
			    stdout);
	}
	if (strncmp(mode, "slow ", 5) == 0) {
		struct timespec ts = { atoi(mode + 5) / 1000,
			(atoi(mode + 5) % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (strcmp(mode, "block") == 0) {
		snprintf(note, sizeof note, "%s %zu blocked", op, n);
		notify(note);
		snprintf(path, sizeof path, "%s/release", dir);
		if ((fd = open(path, O_RDONLY)) != -1) {
			while (read(fd, &c, 1) == -1 && errno == EINTR)
				;
			close(fd);
		}
	}
	free(mode);
}

static int
do_poll(json_object *in)
{
	json_object *tasks, *t, *ref, *name, *out, *arr, *o, *item, *entry;
	char path[4096], *text, note[64];
	size_t i, j, n;

	tasks = json_object_object_get(in, "tasks");
	n = json_object_array_length(tasks);
	snprintf(note, sizeof note, "poll %zu", n);
	apply_mode("poll", n);
	out = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(tasks, i);
		ref = json_object_object_get(t, "ref");
		if (!json_object_object_get_ex(ref, "name", &name))
			continue;
		snprintf(path, sizeof path, "outcomes/%s",
		    json_object_get_string(name));
		if ((text = read_file(path)) == NULL)
			continue;
		o = json_tokener_parse(text);
		free(text);
		if (o == NULL)
			continue;
		for (j = 0; j < (json_object_is_type(o, json_type_array) ?
		    json_object_array_length(o) : 1); j++) {
			item = json_object_is_type(o, json_type_array) ?
			    json_object_array_get_idx(o, j) : o;
			entry = json_object_new_object();
			json_object_object_add(entry, "id", json_object_get(
			    json_object_object_get(t, "id")));
			json_object_object_foreach(item, k, v)
				json_object_object_add(entry, k,
				    json_object_get(v));
			json_object_array_add(arr, entry);
		}
		json_object_put(o);
	}
	json_object_object_add(out, "tasks", arr);
	if ((text = read_file("delay")) != NULL) {
		json_object_object_add(out, "delay", json_tokener_parse(text));
		free(text);
	}
	puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(out);
	notify(note);
	return 0;
}

static int
do_start(json_object *in)
{
	json_object *args = json_object_object_get(in, "args"), *v;

	apply_mode("start", 1);
	notify("start 1");
	if (json_object_object_get_ex(args, "fail", &v)) {
		fprintf(stderr, "cannot create: %s\n", json_object_get_string(v));
		return 2;
	}
	if (!json_object_object_get_ex(args, "name", &v)) {
		puts("{}");
		return 0;
	}
	printf("{\"name\": %s, \"created_by\": \"testpoller\"}\n",
	    json_object_to_json_string(v));
	return 0;
}

static int
do_cancel(json_object *in)
{
	json_object *ref = json_object_object_get(in, "ref"), *name;
	char path[4096], *verdict;
	int r = 0;

	apply_mode("cancel", 1);
	notify("cancel 1");
	if (!json_object_object_get_ex(ref, "name", &name))
		return 0;
	snprintf(path, sizeof path, "cancel/%s", json_object_get_string(name));
	if ((verdict = read_file(path)) == NULL)
		return 0;
	verdict[strcspn(verdict, "\n")] = '\0';
	if (strncmp(verdict, "refuse", 6) == 0) {
		printf("%s\n", verdict[6] == ' ' ? verdict + 7 : "no");
		r = 1;
	} else if (strcmp(verdict, "error") == 0) {
		fprintf(stderr, "remote service unavailable\n");
		r = 3;
	}
	free(verdict);
	return r;
}

int
main(int argc, char **argv)
{
	json_object *in;
	char *text;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: testpoller poll|start|cancel DIR\n");
		return 64;
	}
	dir = argv[2];
	text = slurp_fd(stdin);
	if ((in = json_tokener_parse(text)) == NULL) {
		fprintf(stderr, "testpoller: bad input: %s\n", text);
		return 65;
	}
	free(text);
	log_run(argv[1], in);
	if (strcmp(argv[1], "poll") == 0)
		r = do_poll(in);
	else if (strcmp(argv[1], "start") == 0)
		r = do_start(in);
	else if (strcmp(argv[1], "cancel") == 0)
		r = do_cancel(in);
	else
		r = 64;
	json_object_put(in);
	return r;
}
