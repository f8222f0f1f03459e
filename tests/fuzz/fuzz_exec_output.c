/* SPDX-License-Identifier: ISC */
/*
 * fuzz_exec_output.c: what pollexd makes of an exec poller's programs
 * (daemon/exec/exec.c: exec_poll_cb, exec_start_cb, exec_cancel_cb,
 * and what they hand to poller.c, task.c and waits.c).
 *
 * No program runs: proc_start() is replaced (ld --wrap) by a recorder,
 * and the fuzzer finishes the recorded program with the input as its
 * standard output.  The first byte chooses the operation (poll, start,
 * cancel) and how the program ended (exit status 0, 1 or 2, or killed);
 * the rest is its output, where "$0".."$9" are the ids of the tasks.
 * Tasks are submitted and awaited through the methods (dispatch), so the
 * outcomes travel all the way to the replies, which must be readable;
 * what the daemon gives the programs on stdin must be strict JSON.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "fzdaemon.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char conf_text[] =
    "{\"store\": \"none\", \"pollers\": {\n"
    "  \"e\": {\"kind\": \"exec\", \"poll\": [\"/fuzz/poll\"],\n"
    "         \"start\": [\"/fuzz/start\"], \"cancel\": [\"/fuzz/cancel\"],\n"
    "         \"coalesce\": \"0\", \"interval\": \"1s\", \"fail_after\": 2}}}\n";

static const struct caller who = { 1000, 1000, 1, 0 };

/* Before the first input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fzd_setup(conf_text);
	return 0;
}

/* Send one call (JSON text). */
static void
call(struct fzd *d, const char *msg)
{
	fzd_message(d, &who, msg, strlen(msg));
	fzd_loop(d);
}

/* The recorded program whose argv[0] is name, or NULL. */
static struct fz_proc *
find(const char *name)
{
	size_t i;

	for (i = 0; i < fz_nprocs; i++)
		if (strcmp(fz_procs[i]->argv0, name) == 0)
			return fz_procs[i];
	return NULL;
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "/fuzz/poll", "/fuzz/start",
		"/fuzz/cancel", "/fuzz/poll" };
	struct fzd *d;
	struct fz_proc *p;
	struct jspan v;
	const char *why = NULL;
	char *out;
	size_t outlen;
	int op, status, signo, i;

	if (size < 1 || size > 1 << 16)
		return 0;
	op = data[0] & 3;
	status = (data[0] >> 2) & 3;
	signo = status == 3 ? SIGKILL : 0;
	d = fzd_new();
	/* Every reply is strict JSON, whatever the programs printed. */
	d->strict = 1;
	if (op == 1)
		call(d, "{\"method\":\"io.pollex.Submit\",\"parameters\":"
		    "{\"tasks\":[{\"poller\":\"e\",\"args\":{\"n\":1},"
		    "\"labels\":{\"l\":\"v\"}}]}}");
	else
		call(d, "{\"method\":\"io.pollex.Submit\",\"parameters\":"
		    "{\"tasks\":[{\"poller\":\"e\",\"ref\":{\"n\":1}},"
		    "{\"poller\":\"e\",\"ref\":{\"n\":2},\"args\":{\"k\":[1]}},"
		    "{\"poller\":\"e\",\"ref\":{\"n\":3},\"timeout\":60}]}}");
	if (op == 2)
		call(d, "{\"method\":\"io.pollex.Cancel\",\"parameters\":"
		    "{\"id\":\"$1\"}}");
	call(d, "{\"method\":\"io.pollex.Wait\",\"parameters\":{\"ids\":"
	    "[\"$0\",\"$1\",\"$2\"],\"return_when\":\"FIRST_COMPLETED\"},"
	    "\"more\":true}");
	/* The first tick is due at once, on a timer: wait for it. */
	for (i = 0; i < 3 && (p = find(names[op])) == NULL; i++)
		fzd_wait(d, 2);
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "%zu programs, %s %s\n", fz_nprocs,
		    names[op], p != NULL ? "found" : "not started");
	if (p != NULL) {
		FZ_CHECK(jspan_check(p->input, p->input_len, 64, &v, &why,
		    NULL) == 0, "%s got input that is not JSON (%s): %s",
		    p->argv0, why, p->input);
		out = fzd_subst(d, (const char *)data + 1, size - 1, &outlen);
		fz_proc_finish(p, status, signo, out, outlen,
		    "the last line of stderr");
		free(out);
		fzd_loop(d);
		call(d, "{\"method\":\"io.pollex.Get\",\"parameters\":"
		    "{\"id\":\"$0\"}}");
		call(d, "{\"method\":\"io.pollex.List\",\"parameters\":{}}");
	}
	fzd_free(d);
	return 0;
}
