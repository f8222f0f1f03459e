/* SPDX-License-Identifier: ISC */
/* none.c: the "none" store backend: nothing is kept; every commit ends at
 * once.  Tasks live in memory only and are lost when pollexd stops. */
#include "config.h"

#include <stdlib.h>

#include "store.h"
#include "xmalloc.h"

static int
none_open(const struct store_params *p, void **h, char **cause)
{
	(void)p;
	(void)cause;
	*h = NULL;
	return 0;
}

static int
none_load(void *h, void (*cb)(void *, const struct store_row *), void *arg,
    char **cause)
{
	(void)h;
	(void)cb;
	(void)arg;
	(void)cause;
	return 0;
}

static void
none_commit(void *h, const struct store_batch *b, store_done_cb done,
    void *arg)
{
	(void)h;
	(void)b;
	done(arg, STORE_OK, NULL);
}

static void
none_stats(void *h, json_object *o)
{
	(void)h;
	(void)o;
}

static const char *
none_describe(void *h)
{
	(void)h;
	return "memory (\"store\": \"none\")";
}

static void
none_close(void *h)
{
	(void)h;
}

const struct store_backend store_backend_none = {
	.name = "none",
	.open = none_open,
	.load = none_load,
	.commit = none_commit,
	.stats = none_stats,
	.describe = none_describe,
	.close = none_close,
};
