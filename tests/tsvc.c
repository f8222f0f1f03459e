/* SPDX-License-Identifier: ISC */
/* tsvc.c: the HTTP test service from a test (see tsvc.h). */
#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tsvc.h"

int
tsvc_start(struct tsvc *s, const char *const *extra)
{
	const char *bin = getenv("TESTSERVICE");
	const char *argv[32];
	struct pollfd pfd;
	char buf[32];
	size_t n = 0, i = 0;
	ssize_t r;
	int p[2];

	memset(s, 0, sizeof *s);
	if (bin == NULL)
		bin = "tests/testservice";
	argv[n++] = bin;
	argv[n++] = "-a";
	argv[n++] = "127.0.0.1";
	while (extra != NULL && extra[i] != NULL && n < 30)
		argv[n++] = extra[i++];
	argv[n] = NULL;
	if (pipe(p) == -1)
		return -1;
	if ((s->pid = fork()) == -1)
		return -1;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	/* It prints its port once it listens: wait for that, bounded. */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	n = 0;
	while (n < sizeof buf - 1 && memchr(buf, '\n', n) == NULL) {
		if (poll(&pfd, 1, 10000) != 1)
			break;
		if ((r = read(p[0], buf + n, sizeof buf - 1 - n)) <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	buf[n] = '\0';
	s->port = atoi(buf);
	if (s->port <= 0) {
		tsvc_stop(s);
		return -1;
	}
	snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
	return 0;
}

int
tsvc_stop(struct tsvc *s)
{
	int st, i;

	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	for (i = 0; i < 1000; i++) {	/* 10 s */
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
			    WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	return -1;
}

struct tsvc_buf {
	char *p;
	size_t n;
};

static size_t
tsvc_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct tsvc_buf *b = arg;
	size_t len = size * nmemb;
	char *p = realloc(b->p, b->n + len + 1);

	if (p == NULL)
		return 0;
	memcpy(p + b->n, data, len);
	b->p = p;
	b->n += len;
	p[b->n] = '\0';
	return len;
}

int
tsvc_call(struct tsvc *s, const char *method, const char *path,
    const char *body, json_object **out)
{
	struct tsvc_buf b = { NULL, 0 };
	CURL *e = curl_easy_init();
	char url[512];
	long status = -1;

	if (out != NULL)
		*out = NULL;
	if (e == NULL)
		return -1;
	snprintf(url, sizeof url, "%s%s", s->base, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tsvc_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (body != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	if (out != NULL && b.p != NULL)
		*out = json_tokener_parse(b.p);
	free(b.p);
	return (int)status;
}

long
tsvc_count(struct tsvc *s, const char *route)
{
	json_object *o = NULL, *by, *v;
	long n = -1;

	if (tsvc_call(s, "GET", "/_control/requests", NULL, &o) != 200)
		return -1;
	if (json_object_object_get_ex(o, "by_route", &by))
		n = json_object_object_get_ex(by, route, &v) ?
		    (long)json_object_get_int64(v) : 0;
	json_object_put(o);
	return n;
}

void
tsvc_fault(struct tsvc *s, const char *match_json, int count,
    const char *fault_json)
{
	char body[2048];

	snprintf(body, sizeof body, "{\"match\": %s, \"count\": %d, "
	    "\"fault\": %s}", match_json, count, fault_json);
	tsvc_call(s, "POST", "/_control/faults", body, NULL);
}
