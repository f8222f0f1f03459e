/* SPDX-License-Identifier: ISC */
/* hmap.c: an intrusive chained hash table that doubles at load factor 1. */
#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xmalloc.h"

void
hmap_init(struct hmap *h)
{
	h->mask = 15;
	h->count = 0;
	h->buckets = xcalloc(h->mask + 1, sizeof *h->buckets);
}

void
hmap_destroy(struct hmap *h)
{
	free(h->buckets);
	h->buckets = NULL;
	h->count = 0;
}

/*
 * n zeroed buckets.  Arrays of megabytes (a million entries) are asked for
 * in huge pages where the system has them: every insert and lookup touches
 * a random bucket, and with 4 KB pages that is a TLB miss as well as a
 * cache miss (a tenth of a restart at a million tasks).
 */
#define HMAP_HUGE (2U << 20)
static struct hmap_node **
hmap_buckets(size_t n)
{
	size_t size = n * sizeof(struct hmap_node *);
	void *p;

	if (n > SIZE_MAX / sizeof(struct hmap_node *))
		return xcalloc(n, sizeof(struct hmap_node *));	/* aborts */
#ifdef MADV_HUGEPAGE
	if (size >= HMAP_HUGE && posix_memalign(&p, HMAP_HUGE, size) == 0) {
		(void)madvise(p, size, MADV_HUGEPAGE);
		memset(p, 0, size);
		return p;
	}
#endif
	(void)p;
	return xcalloc(n, sizeof(struct hmap_node *));
}

static void
hmap_grow(struct hmap *h)
{
	struct hmap_node **nb, *n, *next;
	size_t i, nmask = h->mask * 2 + 1;

	nb = hmap_buckets(nmask + 1);
	for (i = 0; i <= h->mask; i++)
		for (n = h->buckets[i]; n != NULL; n = next) {
			next = n->next;
			n->next = nb[n->hash & nmask];
			nb[n->hash & nmask] = n;
		}
	free(h->buckets);
	h->buckets = nb;
	h->mask = nmask;
}

void
hmap_reserve(struct hmap *h, size_t n)
{
	while (h->mask < n && h->mask < SIZE_MAX / 4)
		hmap_grow(h);
}

void
hmap_insert(struct hmap *h, struct hmap_node *n, uint64_t hash)
{
	struct hmap_node **b;

	if (h->count > h->mask)
		hmap_grow(h);
	n->hash = hash;
	b = &h->buckets[hash & h->mask];
	n->next = *b;
	*b = n;
	h->count++;
}

void
hmap_remove(struct hmap *h, struct hmap_node *n)
{
	struct hmap_node **pp;

	for (pp = &h->buckets[n->hash & h->mask]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			h->count--;
			return;
		}
}
