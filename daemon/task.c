/* SPDX-License-Identifier: ISC */
/* task.c: the task table: tasks, their indexes, deadlines and retention. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "jspan.h"
#include "log.h"
#include "poller.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "xmalloc.h"

struct uidcount {
	struct hmap_node node;
	uid_t uid;
	uint64_t outstanding;
};

/*
 * How many restored tasks wait for their index inserts: their buckets are
 * prefetched when they come, inserted into this many tasks later (about
 * the misses a core keeps in flight).
 */
#define RESTORE_AHEAD 16

struct restore_slot {
	struct task *t;
	uint64_t idh, refh;
};

struct tasktab {
	struct hmap ids;
	struct hmap keys;
	struct hmap refs;
	struct hmap uids;
	TAILQ_HEAD(task_all, task) all;		/* by id */
	TAILQ_HEAD(, task) retired;	/* terminal, by finish time */
	struct task **heap;		/* deadlines, a binary min-heap */
	size_t nheap, heapcap;
	uint64_t counts[PX_STATE_COUNT];
	uint64_t last_ms;		/* id generator */
	uint32_t seq;
	const struct tasktab_hooks *hooks;
	void *arg;
	struct restore_slot ahead[RESTORE_AHEAD];	/* a ring */
	size_t nahead, ahead_first;
};

static void task_free(struct task *);
static void heap_push(struct tasktab *, struct task *);
static void tasktab_index(struct tasktab *, struct task *);
static void heap_remove(struct tasktab *, struct task *);

static uint64_t
key_hash(uid_t owner, const char *key)
{
	return hash_str(key) ^ ((uint64_t)owner * 0x9e3779b97f4a7c15ULL);
}

static uint64_t
ref_hash(uid_t owner, const struct poller *p, const char *ref)
{
	return hash_str(ref) ^ hash_str(poller_name(p)) * 31 ^ owner;
}

struct tasktab *
tasktab_new(const struct tasktab_hooks *hooks, void *arg)
{
	struct tasktab *tt = xcalloc(1, sizeof *tt);

	hmap_init(&tt->ids);
	hmap_init(&tt->keys);
	hmap_init(&tt->refs);
	hmap_init(&tt->uids);
	TAILQ_INIT(&tt->all);
	TAILQ_INIT(&tt->retired);
	tt->hooks = hooks;
	tt->arg = arg;
	return tt;
}

void
tasktab_free(struct tasktab *tt)
{
	struct task *t;
	struct hmap_node *n, *next;
	size_t i;

	if (tt == NULL)
		return;
	while ((t = TAILQ_FIRST(&tt->all)) != NULL) {
		TAILQ_REMOVE(&tt->all, t, all_entry);
		task_free(t);
	}
	for (i = 0; i <= tt->uids.mask; i++)
		for (n = tt->uids.buckets[i]; n != NULL; n = next) {
			next = n->next;
			free(hmap_entry(n, struct uidcount, node));
		}
	hmap_destroy(&tt->ids);
	hmap_destroy(&tt->keys);
	hmap_destroy(&tt->refs);
	hmap_destroy(&tt->uids);
	free(tt->heap);
	free(tt);
}

void
tasktab_id_floor(struct tasktab *tt, uint64_t floor_ms)
{
	if (floor_ms > tt->last_ms) {
		tt->last_ms = floor_ms;
		tt->seq = 0;
	}
}

/* The time part of an id (its first 12 hex digits); -1 if they are not. */
static int
task_id_ms(const char *id, uint64_t *ms)
{
	uint64_t v = 0;
	int i, d;

	for (i = 0; i < 12; i++) {
		if (id[i] >= '0' && id[i] <= '9')
			d = id[i] - '0';
		else if (id[i] >= 'a' && id[i] <= 'f')
			d = id[i] - 'a' + 10;
		else if (id[i] >= 'A' && id[i] <= 'F')
			d = id[i] - 'A' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*ms = v;
	return 0;
}

/* n lowercase hex digits of v (printf is slow on this path). */
static void
task_hex(char *out, uint64_t v, int n)
{
	static const char hex[] = "0123456789abcdef";

	while (n-- > 0) {
		out[n] = hex[v & 0xf];
		v >>= 4;
	}
}

/* A new id: millisecond time and a sequence, strictly increasing. */
static void
tasktab_make_id(struct tasktab *tt, char *out, double now)
{
	uint64_t ms = (uint64_t)(now * 1000.0);

	if (ms > tt->last_ms) {
		tt->last_ms = ms;
		tt->seq = 0;
	} else if (++tt->seq == 0)
		tt->last_ms++;
	task_hex(out, tt->last_ms & 0xffffffffffffULL, 12);
	task_hex(out + 12, tt->seq, 8);
	out[TASK_ID_LEN] = '\0';
}

static struct uidcount *
tasktab_uid(struct tasktab *tt, uid_t uid, int create)
{
	struct hmap_node *n;
	struct uidcount *uc;
	uint64_t h = (uint64_t)uid * 0x9e3779b97f4a7c15ULL;

	for (n = hmap_chain(&tt->uids, h); n != NULL; n = n->next) {
		uc = hmap_entry(n, struct uidcount, node);
		if (n->hash == h && uc->uid == uid)
			return uc;
	}
	if (!create)
		return NULL;
	uc = xcalloc(1, sizeof *uc);
	uc->uid = uid;
	hmap_insert(&tt->uids, &uc->node, h);
	return uc;
}

static void
tasktab_emit(struct tasktab *tt, struct task *t, enum task_event ev,
    enum px_state old)
{
	if (tt->hooks != NULL && tt->hooks->event != NULL)
		tt->hooks->event(tt->arg, t, ev, old);
}

/* A copy of s (or NULL) as a task keeps its texts: valid UTF-8, U+FFFD
 * where the bytes that came in were not (json-c lets overlong forms and
 * encoded surrogates through; programs and services send anything). */
static char *
task_text(const char *s)
{
	return s != NULL ? utf8_repair(s, strlen(s), NULL) : NULL;
}

/* s, or its repair in *fixed (to free) when it is not valid UTF-8: what a
 * lookup compares with the kept texts. */
static const char *
task_lookup_text(const char *s, char **fixed)
{
	*fixed = NULL;
	if (utf8_valid(s, strlen(s)))
		return s;
	return *fixed = utf8_repair(s, strlen(s), NULL);
}

/*
 * A zeroed task with copies of ref, args and labels (each may be NULL)
 * after the struct, in the same block: at a million tasks a malloc block
 * per text costs its header and rounding, some 16 bytes a task (issue 17).
 * Texts of any size are kept so; the size of the block is theirs.
 */
static struct task *
task_alloc(const char *ref, const char *args, const char *labels)
{
	const char *in[3] = { ref, args, labels };
	size_t len[3], total = 0;
	struct task *t;
	char *p, **out[3];
	int i;

	for (i = 0; i < 3; i++) {
		len[i] = in[i] != NULL ? strlen(in[i]) + 1 : 0;
		if (len[i] > SIZE_MAX - sizeof *t - total)
			fatalx("task texts too long");
		total += len[i];
	}
	t = xcalloc(1, sizeof *t + total);
	out[0] = &t->ref;
	out[1] = &t->args;
	out[2] = &t->labels;
	p = (char *)(t + 1);
	for (i = 0; i < 3; i++) {
		if (in[i] == NULL)
			continue;
		*out[i] = memcpy(p, in[i], len[i]);
		p += len[i];
		t->inline_texts |= (uint8_t)(1 << i);
	}
	return t;
}

/* Free a text of t unless it lives in t's own block (bit of TASK_INL_*). */
static void
task_free_text(struct task *t, char **text, uint8_t bit)
{
	if (t->inline_texts & bit)
		t->inline_texts &= (uint8_t)~bit;
	else
		free(*text);
	*text = NULL;
}

/* t's side struct, made when first needed. */
static struct task_more *
task_more_of(struct task *t)
{
	if (t->more == NULL) {
		t->more = xcalloc(1, sizeof *t->more);
		t->more->task = t;
	}
	return t->more;
}

struct task *
tasktab_create(struct tasktab *tt, const struct task_init *in, double now)
{
	char *fixed[3];
	const char *ref, *args, *labels;
	struct task *t;
	int i;

	/* Kept texts are valid UTF-8 (task_text()), repaired if need be. */
	ref = in->ref != NULL ? task_lookup_text(in->ref, &fixed[0]) :
	    (fixed[0] = NULL);
	args = in->args != NULL ? task_lookup_text(in->args, &fixed[1]) :
	    (fixed[1] = NULL);
	labels = in->labels != NULL ?
	    task_lookup_text(in->labels, &fixed[2]) : (fixed[2] = NULL);
	t = task_alloc(ref, args, labels);
	for (i = 0; i < 3; i++)
		free(fixed[i]);
	tasktab_make_id(tt, t->id, now);
	LIST_INIT(&t->waiters);
	t->poller = in->poller;
	t->owner = in->owner;
	t->heap_idx = UINT32_MAX;
	t->store_idx = UINT32_MAX;
	t->state = in->ref != NULL ? PX_STATE_PENDING : PX_STATE_STARTING;
	if (in->idem_key != NULL)
		task_more_of(t)->idem_key = task_text(in->idem_key);
	t->created = t->updated = now;
	t->deadline = in->deadline;

	tasktab_index(tt, t);
	TAILQ_INSERT_TAIL(&tt->all, t, all_entry);
	if (t->deadline > 0)
		heap_push(tt, t);
	tt->counts[t->state]++;
	tasktab_uid(tt, t->owner, 1)->outstanding++;
	tasktab_emit(tt, t, TASK_EV_CREATED, (enum px_state)t->state);
	return t;
}

struct task *
tasktab_find(struct tasktab *tt, const char *id)
{
	struct hmap_node *n;
	struct task *t;
	uint64_t h = hash_str(id);

	for (n = hmap_chain(&tt->ids, h); n != NULL; n = n->next) {
		t = hmap_entry(n, struct task, id_node);
		if (n->hash == h && strcmp(t->id, id) == 0)
			return t;
	}
	return NULL;
}

struct task *
tasktab_find_key(struct tasktab *tt, uid_t owner, const char *key)
{
	struct hmap_node *n;
	struct task_more *m;
	char *fixed;
	uint64_t h;

	key = task_lookup_text(key, &fixed);
	h = key_hash(owner, key);
	for (n = hmap_chain(&tt->keys, h); n != NULL; n = n->next) {
		m = hmap_entry(n, struct task_more, key_node);
		if (n->hash == h && m->task->owner == owner &&
		    strcmp(m->idem_key, key) == 0)
			break;
	}
	free(fixed);
	return n != NULL ? m->task : NULL;
}

struct task *
tasktab_find_ref(struct tasktab *tt, uid_t owner, const struct poller *p,
    const char *ref)
{
	struct hmap_node *n;
	struct task *t;
	char *fixed;
	uint64_t h;

	ref = task_lookup_text(ref, &fixed);
	h = ref_hash(owner, p, ref);
	for (n = hmap_chain(&tt->refs, h); n != NULL; n = n->next) {
		t = hmap_entry(n, struct task, ref_node);
		if (n->hash == h && t->owner == owner && t->poller == p &&
		    strcmp(t->ref, ref) == 0)
			break;
	}
	free(fixed);
	return n != NULL ? t : NULL;
}

struct task *
tasktab_first(struct tasktab *tt)
{
	return TAILQ_FIRST(&tt->all);
}

struct task *
tasktab_next(struct tasktab *tt, struct task *t)
{
	(void)tt;
	return TAILQ_NEXT(t, all_entry);
}

struct task *
tasktab_after(struct tasktab *tt, const char *id)
{
	struct task *t;

	if ((t = tasktab_find(tt, id)) != NULL)
		return TAILQ_NEXT(t, all_entry);
	TAILQ_FOREACH(t, &tt->all, all_entry)
		if (strcmp(t->id, id) > 0)
			return t;
	return NULL;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Put a task in the indexes with its id's and ref's hashes. */
static void
tasktab_index_hashed(struct tasktab *tt, struct task *t, uint64_t idh,
    uint64_t refh)
{
	hmap_insert(&tt->ids, &t->id_node, idh);
	if (task_idem_key(t) != NULL)
		hmap_insert(&tt->keys, &t->more->key_node,
		    key_hash(t->owner, t->more->idem_key));
	if (t->ref != NULL) {
		hmap_insert(&tt->refs, &t->ref_node, refh);
		t->in_ref_index = 1;
	}
}

/* Put a task in the indexes (not the retention list). */
static void
tasktab_index(struct tasktab *tt, struct task *t)
{
	tasktab_index_hashed(tt, t, hash_str(t->id), t->ref != NULL ?
	    ref_hash(t->owner, t->poller, t->ref) : 0);
}

/* Index every restored task still waiting (before any lookup). */
static void
tasktab_restore_flush(struct tasktab *tt)
{
	struct restore_slot *rs;

	while (tt->nahead > 0) {
		rs = &tt->ahead[tt->ahead_first];
		tasktab_index_hashed(tt, rs->t, rs->idh, rs->refh);
		tt->ahead_first = (tt->ahead_first + 1) % RESTORE_AHEAD;
		tt->nahead--;
	}
}

/*
 * Index a restored task a few tasks later: its buckets are prefetched now
 * and written when RESTORE_AHEAD more have come, so the cache misses of
 * the inserts overlap (they were a fifth of a restart at a million).
 */
static void
tasktab_index_ahead(struct tasktab *tt, struct task *t)
{
	struct restore_slot *rs;
	uint64_t idh = hash_str(t->id), refh = 0;

	hmap_prefetch(&tt->ids, idh);
	if (t->ref != NULL) {
		refh = ref_hash(t->owner, t->poller, t->ref);
		hmap_prefetch(&tt->refs, refh);
	}
	if (tt->nahead == RESTORE_AHEAD) {
		rs = &tt->ahead[tt->ahead_first];
		tasktab_index_hashed(tt, rs->t, rs->idh, rs->refh);
		tt->ahead_first = (tt->ahead_first + 1) % RESTORE_AHEAD;
		tt->nahead--;
	}
	rs = &tt->ahead[(tt->ahead_first + tt->nahead) % RESTORE_AHEAD];
	rs->t = t;
	rs->idh = idh;
	rs->refh = refh;
	tt->nahead++;
}

void
tasktab_reserve(struct tasktab *tt, size_t n)
{
	hmap_reserve(&tt->ids, n);
	hmap_reserve(&tt->refs, n);
}

struct task *
tasktab_restore(struct tasktab *tt, const struct store_row *r,
    struct poller *p)
{
	struct task *t;
	struct task_more *m;
	uint64_t ms;

	/* Rows come in id order: one after the last is new (no lookup in
	 * the index, a cache miss per task at a million); only one out of
	 * order needs looking for. */
	if ((t = TAILQ_LAST(&tt->all, task_all)) != NULL &&
	    strcmp(r->id, t->id) <= 0) {
		tasktab_restore_flush(tt);
		if (tasktab_find(tt, r->id) != NULL)
			return NULL;
	}
	t = task_alloc(r->ref, r->args, r->labels);
	memcpy(t->id, r->id, TASK_ID_LEN);
	LIST_INIT(&t->waiters);
	t->poller = p;
	t->owner = r->owner;
	t->heap_idx = UINT32_MAX;
	t->store_idx = UINT32_MAX;
	t->state = (uint8_t)r->state;
	if (r->idem_key != NULL)
		task_more_of(t)->idem_key = xstrdup(r->idem_key);
	if (r->result != NULL)
		task_more_of(t)->result = xstrdup(r->result);
	if (r->kstate != NULL)
		task_more_of(t)->kstate = xstrdup(r->kstate);
	if (r->error_code != NULL) {
		m = task_more_of(t);
		m->error = xcalloc(1, sizeof *m->error);
		m->error->code = xstrdup(r->error_code);
		m->error->message = xstrdup(r->error_message != NULL ?
		    r->error_message : r->error_code);
		m->error->details = dup_or_null(r->error_details);
	}
	t->created = r->created;
	t->updated = r->updated;
	t->deadline = r->deadline;
	if (r->finished > 0)
		task_more_of(t)->finished = r->finished;
	if (r->has_progress) {
		t->has_progress = 1;
		task_more_of(t)->progress = r->progress;
	}
	t->polls = r->polls;
	t->poll_failures = r->poll_failures;
	tasktab_index_ahead(tt, t);
	TAILQ_INSERT_TAIL(&tt->all, t, all_entry);
	tt->counts[t->state]++;
	if (px_state_terminal((enum px_state)t->state)) {
		if (task_finished(t) <= 0)
			task_more_of(t)->finished = t->updated;
		TAILQ_INSERT_TAIL(&tt->retired, t, q_entry);
	} else {
		tasktab_uid(tt, t->owner, 1)->outstanding++;
		if (t->deadline > 0)
			heap_push(tt, t);
	}
	if (task_id_ms(t->id, &ms) == 0)
		tasktab_id_floor(tt, ms);
	return t;
}

static int
task_finished_cmp(const void *a, const void *b)
{
	const struct task *x = *(const struct task *const *)a;
	const struct task *y = *(const struct task *const *)b;

	double fx = task_finished(x), fy = task_finished(y);

	return fx < fy ? -1 : fx > fy;
}

void
tasktab_restore_done(struct tasktab *tt)
{
	struct task *t, **v;
	size_t n = 0, i;

	tasktab_restore_flush(tt);
	TAILQ_FOREACH(t, &tt->retired, q_entry)
		n++;
	if (n == 0)
		return;
	v = xcalloc(n, sizeof *v);
	i = 0;
	while ((t = TAILQ_FIRST(&tt->retired)) != NULL) {
		TAILQ_REMOVE(&tt->retired, t, q_entry);
		v[i++] = t;
	}
	qsort(v, n, sizeof *v, task_finished_cmp);
	for (i = 0; i < n; i++)
		TAILQ_INSERT_TAIL(&tt->retired, v[i], q_entry);
	free(v);
}

struct task *
tasktab_oldest_finished(struct tasktab *tt)
{
	return TAILQ_FIRST(&tt->retired);
}

void
tasktab_discard(struct tasktab *tt, struct task *t)
{
	double next;

	if (!px_state_terminal((enum px_state)t->state))
		tasktab_finish(tt, t, PX_STATE_FAILED, NULL, "discarded",
		    "discarded", NULL, t->updated);
	/* Purge just this one: move it to the head of the retention list. */
	TAILQ_REMOVE(&tt->retired, t, q_entry);
	TAILQ_INSERT_HEAD(&tt->retired, t, q_entry);
	task_more_of(t)->finished = 0;
	tasktab_purge(tt, 0, 1, &next);
}

static void
tasktab_set_state(struct tasktab *tt, struct task *t, enum px_state st,
    double now)
{
	enum px_state old = (enum px_state)t->state;

	tt->counts[old]--;
	tt->counts[st]++;
	t->state = (uint8_t)st;
	t->updated = now;
	if (px_state_terminal(st)) {
		task_more_of(t)->finished = now;
		tasktab_uid(tt, t->owner, 1)->outstanding--;
		heap_remove(tt, t);
	}
	tasktab_emit(tt, t, TASK_EV_STATE, old);
	/* q_entry passes from the scheduler to the retention list: only
	 * after the event, whose handler takes the task out of the
	 * scheduler's queue through that same entry. */
	if (px_state_terminal(st))
		TAILQ_INSERT_TAIL(&tt->retired, t, q_entry);
}

void
tasktab_set_ref(struct tasktab *tt, struct task *t, const char *ref,
    double now)
{
	if (t->state != PX_STATE_STARTING)
		return;
	task_free_text(t, &t->ref, TASK_INL_REF);
	t->ref = task_text(ref);
	hmap_insert(&tt->refs, &t->ref_node,
	    ref_hash(t->owner, t->poller, t->ref));
	t->in_ref_index = 1;
	tasktab_set_state(tt, t, PX_STATE_PENDING, now);
}

int
tasktab_finish(struct tasktab *tt, struct task *t, enum px_state st,
    const char *result, const char *code, const char *message,
    const char *details, double now)
{
	struct task_more *m;

	if (px_state_terminal((enum px_state)t->state) || !px_state_terminal(st))
		return -1;
	if (result != NULL)
		task_more_of(t)->result = task_text(result);
	if (code != NULL) {
		m = task_more_of(t);
		m->error = xcalloc(1, sizeof *m->error);
		m->error->code = task_text(code);
		m->error->message = task_text(message != NULL ? message : code);
		m->error->details = task_text(details);
	}
	tasktab_set_state(tt, t, st, now);
	return 0;
}

void
task_set_kstate(struct task *t, const char *kstate)
{
	if (kstate == NULL && t->more == NULL)
		return;
	free(task_more_of(t)->kstate);
	t->more->kstate = dup_or_null(kstate);
}

void
tasktab_set_progress(struct tasktab *tt, struct task *t, double progress,
    double now)
{
	if (px_state_terminal((enum px_state)t->state) || !isfinite(progress))
		return;
	if (t->has_progress && task_progress(t) == progress)
		return;
	task_more_of(t)->progress = progress;
	t->has_progress = 1;
	t->updated = now;
	tasktab_emit(tt, t, TASK_EV_PROGRESS, (enum px_state)t->state);
}

/* Deadline heap, ordered by task->deadline, positions in task->heap_idx. */
static void
heap_swap(struct tasktab *tt, size_t a, size_t b)
{
	struct task *t = tt->heap[a];

	tt->heap[a] = tt->heap[b];
	tt->heap[b] = t;
	tt->heap[a]->heap_idx = (uint32_t)a;
	tt->heap[b]->heap_idx = (uint32_t)b;
}

static void
heap_up(struct tasktab *tt, size_t i)
{
	while (i > 0 && tt->heap[(i - 1) / 2]->deadline > tt->heap[i]->deadline) {
		heap_swap(tt, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct tasktab *tt, size_t i)
{
	size_t l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < tt->nheap && tt->heap[l]->deadline < tt->heap[m]->deadline)
			m = l;
		if (r < tt->nheap && tt->heap[r]->deadline < tt->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(tt, i, m);
		i = m;
	}
}

static void
heap_push(struct tasktab *tt, struct task *t)
{
	if (tt->nheap == tt->heapcap) {
		tt->heapcap = tt->heapcap ? tt->heapcap * 2 : 64;
		tt->heap = xreallocarray(tt->heap, tt->heapcap, sizeof *tt->heap);
	}
	tt->heap[tt->nheap] = t;
	t->heap_idx = (uint32_t)tt->nheap++;
	heap_up(tt, t->heap_idx);
}

static void
heap_remove(struct tasktab *tt, struct task *t)
{
	size_t i = t->heap_idx;

	if (i == UINT32_MAX)
		return;
	t->heap_idx = UINT32_MAX;
	if (i == --tt->nheap)
		return;
	tt->heap[i] = tt->heap[tt->nheap];
	tt->heap[i]->heap_idx = (uint32_t)i;
	heap_down(tt, i);
	heap_up(tt, i);
}

double
tasktab_next_deadline(struct tasktab *tt)
{
	return tt->nheap > 0 ? tt->heap[0]->deadline : 0;
}

double
tasktab_expire(struct tasktab *tt, double now)
{
	struct task *t;

	while (tt->nheap > 0 && tt->heap[0]->deadline <= now) {
		t = tt->heap[0];
		if (tasktab_finish(tt, t, PX_STATE_EXPIRED, NULL, "expired",
		    "the task's deadline passed before it finished", NULL,
		    now) == -1)
			heap_remove(tt, t);	/* cannot happen: kept tidy */
	}
	return tasktab_next_deadline(tt);
}

size_t
tasktab_purge(struct tasktab *tt, double cutoff, size_t max, double *next)
{
	struct task *t;
	size_t n = 0;

	while ((t = TAILQ_FIRST(&tt->retired)) != NULL && n < max &&
	    task_finished(t) <= cutoff) {
		tasktab_emit(tt, t, TASK_EV_PURGED, (enum px_state)t->state);
		TAILQ_REMOVE(&tt->retired, t, q_entry);
		TAILQ_REMOVE(&tt->all, t, all_entry);
		hmap_remove(&tt->ids, &t->id_node);
		if (task_idem_key(t) != NULL)
			hmap_remove(&tt->keys, &t->more->key_node);
		if (t->in_ref_index)
			hmap_remove(&tt->refs, &t->ref_node);
		tt->counts[t->state]--;
		task_free(t);
		n++;
	}
	t = TAILQ_FIRST(&tt->retired);
	*next = t != NULL ? task_finished(t) : 0;
	return n;
}

uint64_t
tasktab_count(struct tasktab *tt, enum px_state st)
{
	return tt->counts[st];
}

uint64_t
tasktab_outstanding_of(struct tasktab *tt, uid_t owner)
{
	struct uidcount *uc = tasktab_uid(tt, owner, 0);

	return uc != NULL ? uc->outstanding : 0;
}

size_t
tasktab_size(struct tasktab *tt)
{
	return tt->ids.count;
}

static void
task_free(struct task *t)
{
	struct task_more *m = t->more;

	task_free_text(t, &t->ref, TASK_INL_REF);
	task_free_text(t, &t->args, TASK_INL_ARGS);
	task_free_text(t, &t->labels, TASK_INL_LABELS);
	if (m != NULL) {
		free(m->idem_key);
		free(m->result);
		free(m->kstate);
		if (m->error != NULL) {
			free(m->error->code);
			free(m->error->message);
			free(m->error->details);
			free(m->error);
		}
		free(m);
	}
	free(t);
}

/* Parse JSON text we stored ourselves; it is valid by construction. */
static json_object *
task_json_value(const char *text)
{
	json_object *v;
	size_t flen;
	char *fixed;

	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(text, strlen(text), &flen)) != NULL)
		text = fixed;
	v = json_tokener_parse(text);
	/* Integers beyond 64 bits as stored, not clamped (frame.h). */
	v = frame_keep_numbers(v, text, strlen(text));
	free(fixed);
	return v != NULL ? v : json_object_new_null();
}

json_object *
task_to_json(const struct task *t)
{
	json_object *o = json_object_new_object(), *e;
	const struct task_error *te;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "poller",
	    json_object_new_string(poller_name(t->poller)));
	json_object_object_add(o, "state",
	    json_object_new_string(px_state_name((enum px_state)t->state)));
	json_object_object_add(o, "owner", json_object_new_int64(t->owner));
	if (t->ref != NULL)
		json_object_object_add(o, "ref", task_json_value(t->ref));
	if (t->args != NULL)
		json_object_object_add(o, "args", task_json_value(t->args));
	if (t->labels != NULL)
		json_object_object_add(o, "labels", task_json_value(t->labels));
	if (task_idem_key(t) != NULL)
		json_object_object_add(o, "idempotency_key",
		    json_object_new_string(task_idem_key(t)));
	json_object_object_add(o, "created", json_object_new_double(t->created));
	json_object_object_add(o, "updated", json_object_new_double(t->updated));
	if (t->deadline > 0)
		json_object_object_add(o, "deadline",
		    json_object_new_double(t->deadline));
	if (task_finished(t) > 0)
		json_object_object_add(o, "finished",
		    json_object_new_double(task_finished(t)));
	json_object_object_add(o, "polls", json_object_new_int64(t->polls));
	json_object_object_add(o, "poll_failures",
	    json_object_new_int64(t->poll_failures));
	if (t->has_progress)
		json_object_object_add(o, "progress",
		    json_object_new_double(task_progress(t)));
	if (task_result(t) != NULL)
		json_object_object_add(o, "result",
		    task_json_value(task_result(t)));
	if ((te = task_error(t)) != NULL) {
		e = json_object_new_object();
		json_object_object_add(e, "code",
		    json_object_new_string(te->code));
		json_object_object_add(e, "message",
		    json_object_new_string(te->message));
		if (te->details != NULL)
			json_object_object_add(e, "details",
			    task_json_value(te->details));
		json_object_object_add(o, "error", e);
	}
	return o;
}

/* A growing text buffer for task_to_text(). */
struct tbuf {
	char *p;
	size_t n, cap;
};

static char *
tb_room(struct tbuf *b, size_t more)
{
	if (b->n + more + 1 > b->cap) {
		while (b->n + more + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 512;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	return b->p + b->n;
}

static void
tb_raw(struct tbuf *b, const char *s, size_t len)
{
	memcpy(tb_room(b, len), s, len);
	b->n += len;
}

/* ,"key": (the first key of the object is written with its brace). */
static void
tb_key(struct tbuf *b, const char *key)
{
	size_t len = strlen(key);
	char *p = tb_room(b, len + 4);

	*p++ = ',';
	*p++ = '"';
	memcpy(p, key, len);
	p[len] = '"';
	p[len + 1] = ':';
	b->n += len + 4;
}

static void
tb_str(struct tbuf *b, const char *s)
{
	size_t len = strlen(s);

	b->n += json_string_escape(tb_room(b, 6 * len + 3), s, len);
}

static void
tb_int(struct tbuf *b, int64_t v)
{
	b->n += (size_t)snprintf(tb_room(b, 24), 24, "%" PRId64, v);
}

/* As json-c prints a double: 17 significant digits, always a fraction
 * or an exponent, so that it reads back as a double. */
static void
tb_double(struct tbuf *b, double v)
{
	char *p = tb_room(b, 32);
	int n = snprintf(p, 32, "%.17g", isfinite(v) ? v : 0);

	if (strpbrk(p, ".eE") == NULL) {
		memcpy(p + n, ".0", 3);
		n += 2;
	}
	b->n += (size_t)n;
}

char *
task_to_text(const struct task *t, size_t *len)
{
	struct tbuf b = { NULL, 0, 0 };
	const struct task_error *te;

	tb_raw(&b, "{\"id\":", 6);
	tb_str(&b, t->id);
	tb_key(&b, "poller");
	tb_str(&b, poller_name(t->poller));
	tb_key(&b, "state");
	tb_str(&b, px_state_name((enum px_state)t->state));
	tb_key(&b, "owner");
	tb_int(&b, (int64_t)t->owner);
	/* The stored values are JSON already (checked when loaded). */
	if (t->ref != NULL) {
		tb_key(&b, "ref");
		tb_raw(&b, t->ref, strlen(t->ref));
	}
	if (t->args != NULL) {
		tb_key(&b, "args");
		tb_raw(&b, t->args, strlen(t->args));
	}
	if (t->labels != NULL) {
		tb_key(&b, "labels");
		tb_raw(&b, t->labels, strlen(t->labels));
	}
	if (task_idem_key(t) != NULL) {
		tb_key(&b, "idempotency_key");
		tb_str(&b, task_idem_key(t));
	}
	tb_key(&b, "created");
	tb_double(&b, t->created);
	tb_key(&b, "updated");
	tb_double(&b, t->updated);
	if (t->deadline > 0) {
		tb_key(&b, "deadline");
		tb_double(&b, t->deadline);
	}
	if (task_finished(t) > 0) {
		tb_key(&b, "finished");
		tb_double(&b, task_finished(t));
	}
	tb_key(&b, "polls");
	tb_int(&b, (int64_t)t->polls);
	tb_key(&b, "poll_failures");
	tb_int(&b, (int64_t)t->poll_failures);
	if (t->has_progress) {
		tb_key(&b, "progress");
		tb_double(&b, task_progress(t));
	}
	if (task_result(t) != NULL) {
		tb_key(&b, "result");
		tb_raw(&b, task_result(t), strlen(task_result(t)));
	}
	if ((te = task_error(t)) != NULL) {
		tb_key(&b, "error");
		tb_raw(&b, "{\"code\":", 8);
		tb_str(&b, te->code);
		tb_key(&b, "message");
		tb_str(&b, te->message);
		if (te->details != NULL) {
			tb_key(&b, "details");
			tb_raw(&b, te->details, strlen(te->details));
		}
		tb_raw(&b, "}", 1);
	}
	tb_raw(&b, "}", 1);
	b.p[b.n] = '\0';
	*len = b.n;
	return b.p;
}

int
task_json_valid(const char *text)
{
	json_tokener *tok;
	json_object *v;
	struct jspan span;
	const char *why;
	size_t len = strlen(text), end;
	int ok;

	/* What pollexd writes is strict JSON: checked in place, without a
	 * parse (a restart checks every stored value).  Values stored by
	 * older versions in json-c's lenient spellings take the long way. */
	if (jspan_check(text, len, 64, &span, &why, NULL) == 0)
		return 1;
	if ((tok = json_tokener_new()) == NULL)
		return 0;
	v = json_tokener_parse_ex(tok, text, -1);
	ok = json_tokener_get_error(tok) == json_tokener_success;
	/* One value and nothing after it but white space. */
	for (end = json_tokener_get_parse_end(tok); ok && end < len; end++)
		if (strchr(" \t\r\n", text[end]) == NULL)
			ok = 0;
	json_object_put(v);
	json_tokener_free(tok);
	return ok;
}

/*
 * Labels are kept as canonical JSON ({"k":"v",...}, keys sorted, compact),
 * where a bare '"' only ever starts or ends a string, so "key":"value"
 * preceded by '{' or ',' and followed by ',' or '}' is exactly one label.
 */
int
task_has_label(const struct task *t, const char *key, const char *value)
{
	char *pat, *p;
	size_t klen = strlen(key), vlen = strlen(value), n;
	int found = 0;

	if (t->labels == NULL)
		return 0;
	pat = xmalloc(6 * (klen + vlen) + 8);
	n = json_string_escape(pat, key, klen);
	pat[n++] = ':';
	n += json_string_escape(pat + n, value, vlen);
	pat[n] = '\0';
	for (p = t->labels; (p = strstr(p, pat)) != NULL; p++)
		if ((p[-1] == '{' || p[-1] == ',') &&
		    (p[n] == ',' || p[n] == '}')) {
			found = 1;
			break;
		}
	free(pat);
	return found;
}
