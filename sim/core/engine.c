/* engine.c — the discrete-event engine: an event pool, a min-heap on (time_ns, seq) and the run loop. */
#include "engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "grow.h"

/* Marks a pool record that is on the free list (not in the heap). */
#define EV_FREE UINT32_MAX
/* Largest pool: slot numbers must stay below EV_FREE. */
#define EV_MAX_SLOTS ((size_t)UINT32_MAX - 1)

/* One pool record: what a pending event will do, or a free slot. Its time
 * and seq live only in its heap entry.
 * Invariants:
 * - pending: pos < eng->n_heap and eng->heap[pos].slot is this record's slot.
 * - free: pos == EV_FREE and the record is on the free list, linked by
 *   next_free (EV_FREE ends the list).
 * - gen is never 0 (so a zeroed engine_handle is always stale) and changes
 *   every time the slot is released, so handles issued for earlier uses of
 *   the slot no longer match. */
typedef struct ev {
    engine_fn fn;
    void *ctx;
    uint64_t arg;
    uint32_t gen;
    uint32_t pos;        /* heap index while pending, EV_FREE while free */
    uint32_t next_free;  /* next free slot while free */
} ev;

/* Heap paths written since engine_check_touched last ran, for the check
 * of what changed: a sift writes the entries on one path between an entry
 * and one of its ancestors, recorded as the pair (deep end, shallow end),
 * once per sift rather than once per entry written (the hold loop stays as
 * fast). An event schedules or cancels a few events, one sift each, so
 * this many entries (2,048 sifts) are far more than the events between
 * two checks make; past it the record is dropped and the next check walks
 * the whole heap. */
#define ENGINE_TOUCHED_MAX 4096

/* Invariants: nothing is recorded until engine_check_touched first runs
 * (idx NULL); idx[0..n) holds pairs (deep, shallow) of heap indices, shallow
 * an ancestor of deep or deep itself, for the sifts since it last ran,
 * n <= ENGINE_TOUCHED_MAX and even; overflow 1 when more sifts ran than fit. */
typedef struct engine_touched {
    uint32_t *idx;
    size_t n;
    int overflow;
} engine_touched;

/* One heap entry: a pending event's key and its pool slot. The key is kept
 * here rather than in the pool so that sifting reads one array. */
typedef struct hent {
    int64_t time_ns;
    uint64_t seq;
    uint32_t slot;
} hent;

/* The engine.
 * Invariants:
 * - pool has cap records; every slot is either in the heap (n_heap of them)
 *   or on the free list (n_free of them): n_heap + n_free == cap.
 * - heap[0..n_heap) holds distinct slots ordered as a binary min-heap on
 *   (time_ns, seq): no entry's key is below its parent's.
 * - every pending seq is < next_seq and unique; next_seq only grows, so
 *   events at equal times run in scheduling order.
 * - now_ns never decreases and is <= every pending time_ns. */
struct engine {
    ev *pool;
    hent *heap;          /* cap entries, n_heap in use */
    size_t cap;
    size_t n_heap;
    uint32_t free_head;  /* first free slot, EV_FREE when none */
    size_t n_free;
    int64_t now_ns;
    uint64_t next_seq;
    uint64_t events_run;
    int stop;
    void (*after_hook)(engine *eng, void *ud);
    void *hook_ud;
    engine_touched touched;
};

/* ---------- pool ---------- */

/* Puts slots [from, to) on the free list, lowest slot first out. */
static void pool_free_range(engine *eng, size_t from, size_t to)
{
    for (size_t i = to; i-- > from;) {
        eng->pool[i].gen = 1;
        eng->pool[i].pos = EV_FREE;
        eng->pool[i].next_free = eng->free_head;
        eng->free_head = (uint32_t)i;
        eng->n_free++;
    }
}

/* Doubles the pool and the heap array. Aborts when memory runs out: the
 * header gives engine_at no way to report failure. */
static void pool_grow(engine *eng)
{
    if (eng->cap >= EV_MAX_SLOTS) {
        fprintf(stderr, "kvtier: engine: more than %zu pending events\n", eng->cap);
        abort();
    }
    size_t cap_pool = eng->cap, cap_heap = eng->cap;
    ev *pool = grow_array(eng->pool, &cap_pool, eng->cap + 1, sizeof *pool);
    if (pool)
        eng->pool = pool;
    hent *heap = pool ? grow_array(eng->heap, &cap_heap, eng->cap + 1, sizeof *heap) : NULL;
    if (!heap) {
        fprintf(stderr, "kvtier: engine: out of memory growing past %zu events\n", eng->cap);
        abort();
    }
    eng->heap = heap;
    /* Slot ids are uint32_t: room past EV_MAX_SLOTS stays unused. */
    size_t cap = cap_pool < EV_MAX_SLOTS ? cap_pool : EV_MAX_SLOTS;
    pool_free_range(eng, eng->cap, cap);
    eng->cap = cap;
}

/* Takes a slot off the free list (growing the pool if empty). */
static uint32_t pool_take(engine *eng)
{
    if (eng->free_head == EV_FREE)
        pool_grow(eng);
    uint32_t s = eng->free_head;
    eng->free_head = eng->pool[s].next_free;
    eng->n_free--;
    return s;
}

/* Returns slot s to the free list and makes its handles stale. */
static void pool_release(engine *eng, uint32_t s)
{
    ev *e = &eng->pool[s];
    e->gen = e->gen == UINT32_MAX ? 1 : e->gen + 1;
    e->pos = EV_FREE;
    e->next_free = eng->free_head;
    eng->free_head = s;
    eng->n_free++;
}

/* ---------- heap ---------- */

/* Hints the cache about heap entries a sift is about to compare. */
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

/* 1 when entry a must run before entry b. Written without short-circuit
 * operators so the compiler can avoid a hard-to-predict branch. */
static inline int before(const hent *a, const hent *b)
{
    return (a->time_ns < b->time_ns) | ((a->time_ns == b->time_ns) & (a->seq < b->seq));
}

/* Records that a sift wrote the path from heap index deep up to its
 * ancestor shallow (once tracking has begun). */
static inline void heap_touch_path(engine *eng, size_t deep, size_t shallow)
{
    engine_touched *t = &eng->touched;
    if (!t->idx)
        return;
    if (t->n + 2 <= ENGINE_TOUCHED_MAX) {
        t->idx[t->n++] = (uint32_t)deep;
        t->idx[t->n++] = (uint32_t)shallow;
    } else {
        t->overflow = 1;
    }
}

/* Stores h at heap index i and points its pool record back at i. */
static inline void heap_put(engine *eng, size_t i, hent h)
{
    eng->heap[i] = h;
    eng->pool[h.slot].pos = (uint32_t)i;
}

/* Moves h up from hole i to its place. */
static void sift_up(engine *eng, size_t i, hent h)
{
    size_t from = i;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&h, &eng->heap[p]))
            break;
        heap_put(eng, i, eng->heap[p]);
        i = p;
    }
    heap_put(eng, i, h);
    heap_touch_path(eng, from, i);
}

/* Moves h down from hole i to its place. The grandchildren are prefetched
 * while the children are compared: on large heaps this hides most of the
 * cache misses. */
static void sift_down(engine *eng, size_t i, hent h)
{
    size_t n = eng->n_heap, from = i;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (4 * i + 6 < n) {
            PREFETCH(&eng->heap[4 * i + 3]);
            PREFETCH(&eng->heap[4 * i + 6]);
        }
        if (c + 1 < n)
            c += (size_t)before(&eng->heap[c + 1], &eng->heap[c]);
        if (!before(&eng->heap[c], &h))
            break;
        heap_put(eng, i, eng->heap[c]);
        i = c;
    }
    heap_put(eng, i, h);
    heap_touch_path(eng, i, from);
}

/* Removes the entry at heap index i (the slot itself is not released). */
static void heap_remove(engine *eng, size_t i)
{
    hent last = eng->heap[--eng->n_heap];
    if (i == eng->n_heap)
        return;
    if (i > 0 && before(&last, &eng->heap[(i - 1) / 2]))
        sift_up(eng, i, last);
    else
        sift_down(eng, i, last);
}

/* ---------- public API ---------- */

engine *engine_new(size_t capacity)
{
    if (capacity < 1)
        capacity = 1;
    if (capacity > EV_MAX_SLOTS)
        return NULL;
    engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return NULL;
    eng->pool = malloc(capacity * sizeof *eng->pool);
    eng->heap = malloc(capacity * sizeof *eng->heap);
    if (!eng->pool || !eng->heap) {
        engine_free(eng);
        return NULL;
    }
    eng->cap = capacity;
    eng->free_head = EV_FREE;
    pool_free_range(eng, 0, capacity);
    return eng;
}

/* Frees the engine and its pool; ctx pointers of pending events are the
 * schedulers' and are not touched. */
void engine_free(engine *eng)
{
    if (!eng)
        return;
    free(eng->pool);
    free(eng->heap);
    free(eng->touched.idx);
    free(eng);
}

/* The engine keeps ctx as an opaque pointer; the caller keeps it alive
 * until the event runs or is cancelled. */
engine_handle engine_at(engine *eng, int64_t at_ns, engine_fn fn, void *ctx, uint64_t arg)
{
    assert(at_ns >= eng->now_ns && "engine_at: time is in the past");
    assert(fn != NULL);
    uint32_t s = pool_take(eng);
    ev *e = &eng->pool[s];
    e->fn = fn;
    e->ctx = ctx;
    e->arg = arg;
    sift_up(eng, eng->n_heap++, (hent){ .time_ns = at_ns, .seq = eng->next_seq++, .slot = s });
    return (engine_handle){ .slot = s, .gen = e->gen };
}

engine_handle engine_after(engine *eng, int64_t delay_ns, engine_fn fn, void *ctx, uint64_t arg)
{
    assert(delay_ns >= 0 && "engine_after: negative delay");
    assert(delay_ns <= INT64_MAX - eng->now_ns && "engine_after: time overflows");
    return engine_at(eng, eng->now_ns + delay_ns, fn, ctx, arg);
}

int engine_is_pending(const engine *eng, engine_handle h)
{
    return h.slot < eng->cap && eng->pool[h.slot].gen == h.gen &&
           eng->pool[h.slot].pos != EV_FREE;
}

int engine_cancel(engine *eng, engine_handle h)
{
    if (!engine_is_pending(eng, h))
        return 0;
    heap_remove(eng, eng->pool[h.slot].pos);
    pool_release(eng, h.slot);
    return 1;
}

int64_t engine_now(const engine *eng) { return eng->now_ns; }
size_t engine_pending(const engine *eng) { return eng->n_heap; }
uint64_t engine_events_run(const engine *eng) { return eng->events_run; }

/* The slot is released before the callback runs, so the callback may
 * schedule freely (it may reuse that slot) and its own handle is stale. */
int engine_step(engine *eng)
{
    if (eng->n_heap == 0)
        return 0;
    hent top = eng->heap[0];
    ev e = eng->pool[top.slot];
    heap_remove(eng, 0);
    pool_release(eng, top.slot);
    eng->now_ns = top.time_ns;
    eng->events_run++;
    e.fn(eng, e.ctx, e.arg);
    if (eng->after_hook)
        eng->after_hook(eng, eng->hook_ud);
    return 1;
}

/* A stop requested outside engine_run (say from engine_step) is forgotten
 * when the next engine_run starts. */
uint64_t engine_run(engine *eng, int64_t until_ns)
{
    uint64_t n = 0;
    eng->stop = 0;
    while (!eng->stop && eng->n_heap > 0 && eng->heap[0].time_ns <= until_ns) {
        engine_step(eng);
        n++;
    }
    eng->stop = 0;
    return n;
}

void engine_stop(engine *eng) { eng->stop = 1; }

void engine_set_after_hook(engine *eng, void (*hook)(engine *eng, void *ud), void *ud)
{
    eng->after_hook = hook;
    eng->hook_ud = ud;
}

/* ---------- invariant checks ---------- */

/* Heap entry i: slot in range, cross-linked, ordered after its parent,
 * not before now, seq already issued. */
static int check_heap_entry(const engine *eng, size_t i, kt_err *err)
{
    const hent *h = &eng->heap[i];
    if (h->slot >= eng->cap) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap[%zu] = slot %u, pool has %zu", i, h->slot, eng->cap);
        return -1;
    }
    const ev *e = &eng->pool[h->slot];
    if (e->pos != i || e->gen == 0) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap[%zu] = slot %u whose pos is %u (gen %u)", i,
                 h->slot, e->pos, e->gen);
        return -1;
    }
    if (i > 0 && !before(&eng->heap[(i - 1) / 2], h)) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap order broken at index %zu", i);
        return -1;
    }
    if (h->time_ns < eng->now_ns) {
        KT_ERROR(err, NULL, 0, 0, "engine: slot %u pending at %lld ns, before now %lld ns",
                 h->slot, (long long)h->time_ns, (long long)eng->now_ns);
        return -1;
    }
    if (h->seq >= eng->next_seq) {
        KT_ERROR(err, NULL, 0, 0, "engine: slot %u has seq %llu, not yet issued (next %llu)",
                 h->slot, (unsigned long long)h->seq, (unsigned long long)eng->next_seq);
        return -1;
    }
    return 0;
}

/* Walks the free list: slots in range, marked free, no cycle, count right. */
static int check_free_list(const engine *eng, kt_err *err)
{
    size_t n = 0;
    for (uint32_t s = eng->free_head; s != EV_FREE; s = eng->pool[s].next_free) {
        if (s >= eng->cap || n >= eng->cap) {
            KT_ERROR(err, NULL, 0, 0, "engine: free list broken at slot %u after %zu", s, n);
            return -1;
        }
        if (eng->pool[s].pos != EV_FREE || eng->pool[s].gen == 0) {
            KT_ERROR(err, NULL, 0, 0, "engine: free slot %u is marked pending", s);
            return -1;
        }
        n++;
    }
    if (n != eng->n_free || n + eng->n_heap != eng->cap) {
        KT_ERROR(err, NULL, 0, 0, "engine: %zu free (count says %zu) + %zu pending != pool %zu",
                 n, eng->n_free, eng->n_heap, eng->cap);
        return -1;
    }
    return 0;
}

int engine_check(const engine *eng, kt_err *err)
{
    if (eng->n_heap > eng->cap) {
        KT_ERROR(err, NULL, 0, 0, "engine: %zu pending in a pool of %zu", eng->n_heap, eng->cap);
        return -1;
    }
    for (size_t i = 0; i < eng->n_heap; i++)
        if (check_heap_entry(eng, i, err) < 0)
            return -1;
    return check_free_list(eng, err);
}

/* Heap entry i (when pending) and its children: every order relation an
 * entry written at i takes part in. */
static int check_around(const engine *eng, size_t i, kt_err *err)
{
    for (size_t k = i; k < eng->n_heap && k <= 2 * i + 2; k = k == i ? 2 * i + 1 : k + 1)
        if (check_heap_entry(eng, k, err) < 0)
            return -1;
    return 0;
}

/* check_around each entry on the path from deep up to its ancestor
 * shallow (a sift's writes). */
static int check_path(const engine *eng, size_t deep, size_t shallow, kt_err *err)
{
    for (size_t k = deep;; k = (k - 1) / 2) {
        if (check_around(eng, k, err) < 0)
            return -1;
        if (k <= shallow || k == 0)
            return 0;
    }
}

/* The counts, the root (every entry is at or after it, so none is before
 * now) and the free list's head (O(1)). */
static int check_ends(const engine *eng, kt_err *err)
{
    if (eng->n_heap > eng->cap || eng->n_heap + eng->n_free != eng->cap ||
        (eng->free_head == EV_FREE) != (eng->n_free == 0) ||
        (eng->free_head != EV_FREE && (eng->free_head >= eng->cap || eng->pool[eng->free_head].pos != EV_FREE))) {
        KT_ERROR(err, NULL, 0, 0, "engine: %zu free + %zu pending != pool %zu, or the free list's head is pending",
                 eng->n_free, eng->n_heap, eng->cap);
        return -1;
    }
    return eng->n_heap ? check_heap_entry(eng, 0, err) : 0;
}

int engine_check_touched(engine *eng, kt_err *err)
{
    engine_touched *t = &eng->touched;
    if (!t->idx || t->overflow) {
        if (!t->idx && !(t->idx = malloc(ENGINE_TOUCHED_MAX * sizeof *t->idx))) {
            KT_ERROR(err, NULL, 0, 0, "out of memory");
            return -1;
        }
        t->n = 0;
        t->overflow = 0;
        return engine_check(eng, err);
    }
    int rc = check_ends(eng, err);
    for (size_t k = 0; k + 1 < t->n && rc == 0; k += 2)
        rc = check_path(eng, t->idx[k], t->idx[k + 1], err);
    t->n = 0;
    return rc;
}
