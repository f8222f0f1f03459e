/* SPDX-License-Identifier: ISC */
/* kind.c: the registry of poller kinds (kind.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define KINDS_MAX 16

static const struct poller_kind *kinds[KINDS_MAX] = {
	&poller_kind_exec,
	&poller_kind_http_batch,
	&poller_kind_http_each,
};

void
poller_kind_register(const struct poller_kind *k)
{
	size_t i;

	for (i = 0; i < KINDS_MAX; i++)
		if (kinds[i] == NULL || strcmp(kinds[i]->name, k->name) == 0) {
			kinds[i] = k;
			return;
		}
	fatalx("too many poller kinds");
}

const struct poller_kind *
poller_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < KINDS_MAX && kinds[i] != NULL; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

const char *
poller_kind_names(void)
{
	static char buf[256];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < KINDS_MAX && kinds[i] != NULL; i++) {
		if (i > 0)
			strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
		strncat(buf, kinds[i]->name, sizeof buf - strlen(buf) - 1);
	}
	return buf;
}

int
poller_kinds_startup(struct event_base *base, char **cause)
{
	char *why = NULL;
	size_t i;

	for (i = 0; i < KINDS_MAX && kinds[i] != NULL; i++)
		if (kinds[i]->startup != NULL &&
		    kinds[i]->startup(base, &why) == -1) {
			xasprintf(cause, "poller kind %s: %s", kinds[i]->name,
			    why != NULL ? why : "start-up failed");
			free(why);
			return -1;
		}
	return 0;
}

void
poller_kinds_shutdown(void)
{
	size_t i;

	for (i = 0; i < KINDS_MAX && kinds[i] != NULL; i++)
		if (kinds[i]->shutdown != NULL)
			kinds[i]->shutdown();
}
