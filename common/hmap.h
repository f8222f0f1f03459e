/* SPDX-License-Identifier: ISC */
/* hmap.h: an intrusive chained hash table; callers compare keys. */
#ifndef POLLEX_HMAP_H
#define POLLEX_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_node {
	struct hmap_node *next;
	uint64_t hash;
};

struct hmap {
	struct hmap_node **buckets;
	size_t mask;	/* number of buckets - 1, a power of two minus one */
	size_t count;
};

void hmap_init(struct hmap *);
void hmap_destroy(struct hmap *);	/* frees the buckets, not the nodes */
void hmap_insert(struct hmap *, struct hmap_node *, uint64_t hash);
/* Room for n nodes without growing (one rehash instead of many). */
void hmap_reserve(struct hmap *, size_t n);
void hmap_remove(struct hmap *, struct hmap_node *);

/* The chain that may hold hash; walk it with ->next, comparing ->hash. */
static inline struct hmap_node *
hmap_chain(const struct hmap *h, uint64_t hash)
{
	return h->buckets[hash & h->mask];
}

/* Start fetching the bucket for hash, to insert there a little later: at
 * a million entries each bucket is a cache (and TLB) miss, and a batch of
 * inserts whose misses overlap goes several times faster. */
static inline void
hmap_prefetch(const struct hmap *h, uint64_t hash)
{
	__builtin_prefetch(&h->buckets[hash & h->mask], 1);
}

#define hmap_entry(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))

#endif
