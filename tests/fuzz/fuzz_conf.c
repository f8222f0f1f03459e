/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conf.c: the configuration loader (daemon/conf.c and the kinds'
 * readers: exec, http-batch, http-each, templates, outcome rules, the
 * HTTP client settings).  The input is a whole configuration file; it is
 * written to a temporary file and loaded with conf_load() twice: both
 * loads must agree (a reload of an unchanged file changes nothing), a
 * refusal must say why and name the file, and everything is freed.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzzlib.h"
#include "poller.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char path[256];

/* Before the first input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/pollex-fuzz-conf.XXXXXX";

	fz_init();
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/pollexd.conf", dir);
	return 0;
}

/* One load: 0 with *c, or -1 with *cause. */
static int
load(struct conf **c, char **cause)
{
	*c = NULL;
	*cause = NULL;
	return conf_load(path, c, cause);
}

/* One input (the format is at the top of this file). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *a, *b;
	char *ca, *cb;
	int ra, rb, fd;
	size_t i;

	if (size > 1 << 16)
		return 0;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, data, size) != (ssize_t)size || close(fd) == -1)
		abort();
	ra = load(&a, &ca);
	rb = load(&b, &cb);
	FZ_CHECK(ra == rb, "two loads of one file: %d then %d", ra, rb);
	if (ra == -1) {
		FZ_CHECK(ca != NULL && cb != NULL && strcmp(ca, cb) == 0,
		    "two refusals in other words: \"%s\", \"%s\"", ca, cb);
		FZ_CHECK(strstr(ca, path) != NULL, "the cause does not name "
		    "the file: %s", ca);
		free(ca);
		free(cb);
		return 0;
	}
	FZ_CHECK(a->npollers == b->npollers, "poller counts differ");
	for (i = 0; i < a->npollers; i++) {
		struct conf_poller *p = a->pollers[i], *q;

		FZ_CHECK(p->name != NULL && p->kind != NULL && p->text != NULL,
		    "poller %zu half made", i);
		FZ_CHECK((q = conf_find_poller(b, p->name)) != NULL,
		    "poller %s missing from the second load", p->name);
		FZ_CHECK(strcmp(p->text, q->text) == 0, "poller %s: \"%s\" "
		    "then \"%s\"", p->name, p->text, q->text);
		FZ_CHECK(poller_kind_find(p->kind->name) == p->kind,
		    "poller %s: kind %s not found by name", p->name,
		    p->kind->name);
		FZ_CHECK(p->kind->has_start(p->kconf) ==
		    q->kind->has_start(q->kconf), "has_start differs");
		FZ_CHECK(p->kind->has_cancel(p->kconf) ==
		    q->kind->has_cancel(q->kconf), "has_cancel differs");
	}
	conf_free(a);
	conf_free(b);
	return 0;
}
