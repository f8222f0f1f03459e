/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dispatch.c: the method dispatcher of an in-memory pollexd
 * (daemon/methods.c, call.c, waits.c, task.c, poller.c and the glue in
 * pollexd.c), fed a client's raw bytes.
 *
 * The first byte chooses the caller (uid 1000, 1001 or root; privileged
 * or not); the rest is cut into messages at each NUL, and each becomes a
 * call as server.c makes it (frame_parse, the call's fields, then
 * methods_dispatch); "$0".."$9" in a message become the ids of the tasks
 * submitted so far.  The loop runs (without waiting) after each message.
 * Every reply must be one message libpollex reads (no NUL inside,
 * frame_check), and strict JSON when the input was; at the end the
 * client goes away and everything must be freed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "fzdaemon.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char conf_text[] =
    "{\"max_submit\": 5, \"max_tasks_per_uid\": 8, \"store\": \"none\",\n"
    " \"pollers\": {\n"
    "  \"p\": {\"kind\": \"exec\", \"poll\": [\"/bin/true\"]},\n"
    "  \"s\": {\"kind\": \"exec\", \"poll\": [\"/bin/true\"],\n"
    "         \"start\": [\"/bin/true\"], \"max_starts\": 2},\n"
    "  \"c\": {\"kind\": \"exec\", \"poll\": [\"/bin/true\"],\n"
    "         \"cancel\": [\"/bin/true\"], \"coalesce\": \"0\"}}}\n";

/* Before the first input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fzd_setup(conf_text);
	return 0;
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uid_t uids[] = { 1000, 1001, 0, 1000 };
	struct caller who;
	struct fzd *d;
	const char *p, *end, *nul;

	if (size < 1 || size > 1 << 16)
		return 0;
	who.uid = uids[data[0] & 3];
	who.gid = who.uid;
	who.pid = 1;
	who.privileged = who.uid == 0 || (data[0] & 4) != 0;
	d = fzd_new();
	/* Every reply is strict JSON, whatever json-c took in. */
	d->strict = 1;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end && (nul = memchr(p, '\0', (size_t)(end - p))) != NULL) {
		fzd_message(d, &who, p, (size_t)(nul - p));
		fzd_loop(d);
		p = nul + 1;
	}
	fzd_free(d);
	return 0;
}
