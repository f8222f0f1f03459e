/* SPDX-License-Identifier: ISC */
/* loadgen.c: submit load against pollexd (or the bare-socket floor).
 *
 *   loadgen -S SOCK -m pipelined|serial|notify -c CLIENTS -n CALLS
 *           [-w WINDOW] [-p POLLER] [-b TASKS_PER_SUBMIT]
 *
 * Each of CLIENTS processes opens one connection and makes CALLS Submit
 * calls: "pipelined" keeps WINDOW calls in flight, "serial" waits for each
 * reply (recording its latency), "notify" submits one task at a time to a
 * poller whose poll program stamps its result with the time it answered
 * ({"t": ns}) and waits for it, recording answer-to-client delay.  Prints
 * one line of JSON with the totals and percentiles. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static const char *poller = "bench";
static int window = 64, per_submit = 1;
static pid_t run_id;	/* refs differ between runs: no dedupe */

static uint64_t
now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		perror(path);
		exit(2);
	}
	return fd;
}

static void
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("send");
			exit(2);
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* A reader that hands out NUL-terminated messages. */
struct reader {
	int fd;
	char buf[1 << 16];
	size_t off, len;
	char msg[1 << 20];
};

static const char *
next_msg(struct reader *r)
{
	size_t m = 0;
	ssize_t n;

	for (;;) {
		while (r->off < r->len) {
			char c = r->buf[r->off++];
			if (c == '\0') {
				r->msg[m] = '\0';
				return r->msg;
			}
			if (m + 1 < sizeof r->msg)
				r->msg[m++] = c;
		}
		n = recv(r->fd, r->buf, sizeof r->buf, 0);
		if (n <= 0) {
			fprintf(stderr, "loadgen: connection closed\n");
			exit(2);
		}
		r->off = 0;
		r->len = (size_t)n;
	}
}

static int
make_submit(char *out, size_t len, unsigned client, unsigned i)
{
	int n, k, o;

	o = snprintf(out, len, "{\"method\":\"io.pollex.Submit\","
	    "\"parameters\":{\"tasks\":[");
	for (k = 0; k < per_submit; k++) {
		n = snprintf(out + o, len - (size_t)o, "%s{\"poller\":\"%s\","
		    "\"ref\":{\"run\":%ld,\"task_id\":%llu}}", k ? "," : "",
		    poller, (long)run_id,
		    (unsigned long long)client * 1000000000ULL +
		    (unsigned long long)i * 1000ULL + (unsigned long long)k);
		o += n;
	}
	o += snprintf(out + o, len - (size_t)o, "]}}");
	return o + 1;	/* with the NUL */
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One client process; latencies (ns) go to lat[0..calls). */
static void
run_client(const char *mode, unsigned client, int calls, uint64_t *lat)
{
	struct reader *r = calloc(1, sizeof *r);
	char *msg = malloc(1 << 20), wait[256];
	const char *reply, *p;
	int sent = 0, got = 0, len;
	uint64_t t0, t;

	r->fd = connect_to(sock_path);
	if (strcmp(mode, "pipelined") == 0) {
		while (got < calls) {
			while (sent < calls && sent - got < window) {
				len = make_submit(msg, 1 << 20, client,
				    (unsigned)sent);
				send_all(r->fd, msg, (size_t)len);
				sent++;
			}
			reply = next_msg(r);
			if (strstr(reply, "\"error\"") != NULL) {
				fprintf(stderr, "loadgen: %s\n", reply);
				exit(3);
			}
			got++;
		}
	} else if (strcmp(mode, "serial") == 0) {
		for (sent = 0; sent < calls; sent++) {
			len = make_submit(msg, 1 << 20, client, (unsigned)sent);
			t0 = now_ns(CLOCK_MONOTONIC);
			send_all(r->fd, msg, (size_t)len);
			reply = next_msg(r);
			lat[sent] = now_ns(CLOCK_MONOTONIC) - t0;
			if (strstr(reply, "\"error\"") != NULL) {
				fprintf(stderr, "loadgen: %s\n", reply);
				exit(3);
			}
		}
	} else {	/* notify */
		for (sent = 0; sent < calls; sent++) {
			len = make_submit(msg, 1 << 20, client, (unsigned)sent);
			send_all(r->fd, msg, (size_t)len);
			reply = next_msg(r);
			if ((p = strstr(reply, "\"ids\":[\"")) == NULL) {
				fprintf(stderr, "loadgen: %s\n", reply);
				exit(3);
			}
			snprintf(wait, sizeof wait, "{\"method\":\"io.pollex.Wait\","
			    "\"parameters\":{\"ids\":[\"%.20s\"]}}", p + 8);
			send_all(r->fd, wait, strlen(wait) + 1);
			reply = next_msg(r);
			t = now_ns(CLOCK_REALTIME);
			if ((p = strstr(reply, "\"t\":")) == NULL) {
				fprintf(stderr, "loadgen: no stamp: %s\n", reply);
				exit(3);
			}
			lat[sent] = t - strtoull(p + 4, NULL, 10);
		}
	}
	close(r->fd);
	free(r);
	free(msg);
}

int
main(int argc, char **argv)
{
	const char *mode = "pipelined";
	int clients = 1, calls = 1000, ch, i, status;
	uint64_t *lat, t0, t1;
	size_t total;

	while ((ch = getopt(argc, argv, "S:m:c:n:w:p:b:")) != -1) {
		switch (ch) {
		case 'S': sock_path = optarg; break;
		case 'm': mode = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'n': calls = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'p': poller = optarg; break;
		case 'b': per_submit = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: loadgen -S sock -m mode -c clients "
			    "-n calls [-w window] [-p poller] [-b per_submit]\n");
			return 64;
		}
	}
	if (sock_path == NULL)
		return 64;
	run_id = getpid();
	total = (size_t)clients * (size_t)calls;
	/* Latencies shared with the children. */
	lat = mmap(NULL, total * sizeof *lat, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	t0 = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < clients; i++)
		if (fork() == 0) {
			run_client(mode, (unsigned)i, calls,
			    lat + (size_t)i * (size_t)calls);
			_exit(0);
		}
	for (i = 0; i < clients; i++) {
		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "loadgen: a client failed\n");
			return 1;
		}
	}
	t1 = now_ns(CLOCK_MONOTONIC);
	printf("{\"mode\":\"%s\",\"clients\":%d,\"calls\":%zu,"
	    "\"tasks\":%zu,\"seconds\":%.4f,\"calls_per_sec\":%.0f,"
	    "\"tasks_per_sec\":%.0f", mode, clients, total,
	    total * (size_t)per_submit, (double)(t1 - t0) / 1e9,
	    (double)total / ((double)(t1 - t0) / 1e9),
	    (double)total * per_submit / ((double)(t1 - t0) / 1e9));
	if (strcmp(mode, "pipelined") != 0) {
		qsort(lat, total, sizeof *lat, cmp_u64);
		printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f",
		    (double)lat[total / 2] / 1e3,
		    (double)lat[total * 99 / 100] / 1e3,
		    (double)lat[total - 1] / 1e3);
	}
	printf("}\n");
	return 0;
}
