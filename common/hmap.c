/* SPDX-License-Identifier: ISC */
/* hmap.c: an intrusive chained hash table that doubles at load factor 1. */
#include "config.h"

#include <stdlib.h>

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

static void
hmap_grow(struct hmap *h)
{
	struct hmap_node **nb, *n, *next;
	size_t i, nmask = h->mask * 2 + 1;

	nb = xcalloc(nmask + 1, sizeof *nb);
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
