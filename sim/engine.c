/* engine.c — the discrete-event engine: an event pool, a min-heap on (time_ns, seq) and the run loop. */
#include "engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

/* Marks a pool record that is on the free list (not in the heap). */
#define EV_FREE UINT32_MAX
/* Largest pool: slot numbers must stay below EV_FREE. */
#define EV_MAX_SLOTS ((size_t)UINT32_MAX - 1)

/* One pool record: a pending event or a free slot.
 * Invariants:
 * - pending: pos < eng->n_heap and eng->heap[pos] is this record's slot;
 *   time_ns >= eng->now_ns; seq < eng->next_seq and unique among pending.
 * - free: pos == EV_FREE and the record is on the free list, linked by
 *   next_free (EV_FREE ends the list).
 * - gen is never 0 (so a zeroed engine_handle is always stale) and changes
 *   every time the slot is released, so handles issued for earlier uses of
 *   the slot no longer match. */
typedef struct ev {
    int64_t time_ns;
    uint64_t seq;
    engine_fn fn;
    void *ctx;
    uint64_t arg;
    uint32_t gen;
    uint32_t pos;        /* heap index while pending, EV_FREE while free */
    uint32_t next_free;  /* next free slot while free */
} ev;

/* The engine.
 * Invariants:
 * - pool has cap records; every slot is either in the heap (n_heap of them)
 *   or on the free list (n_free of them): n_heap + n_free == cap.
 * - heap[0..n_heap) holds distinct slots ordered as a binary min-heap on
 *   (time_ns, seq): no child's key is below its parent's.
 * - now_ns never decreases and is <= every pending time_ns.
 * - next_seq is the seq the next scheduled event gets; it only grows, so
 *   events at equal times run in scheduling order. */
struct engine {
    ev *pool;
    uint32_t *heap;
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
    size_t cap = eng->cap * 2;
    if (cap > EV_MAX_SLOTS)
        cap = EV_MAX_SLOTS;
    if (cap <= eng->cap) {
        fprintf(stderr, "kvtier: engine: more than %zu pending events\n", eng->cap);
        abort();
    }
    ev *pool = realloc(eng->pool, cap * sizeof *pool);
    if (pool)
        eng->pool = pool;
    uint32_t *heap = pool ? realloc(eng->heap, cap * sizeof *heap) : NULL;
    if (!heap) {
        fprintf(stderr, "kvtier: engine: out of memory growing to %zu events\n", cap);
        abort();
    }
    eng->heap = heap;
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

/* 1 when event a must run before event b. */
static inline int ev_before(const ev *a, const ev *b)
{
    return a->time_ns < b->time_ns || (a->time_ns == b->time_ns && a->seq < b->seq);
}

static inline void heap_put(engine *eng, size_t i, uint32_t s)
{
    eng->heap[i] = s;
    eng->pool[s].pos = (uint32_t)i;
}

/* Moves slot s up from hole i to its place. */
static void sift_up(engine *eng, size_t i, uint32_t s)
{
    const ev *e = &eng->pool[s];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        uint32_t ps = eng->heap[p];
        if (!ev_before(e, &eng->pool[ps]))
            break;
        heap_put(eng, i, ps);
        i = p;
    }
    heap_put(eng, i, s);
}

/* Moves slot s down from hole i to its place. */
static void sift_down(engine *eng, size_t i, uint32_t s)
{
    const ev *e = &eng->pool[s];
    size_t n = eng->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        uint32_t cs = eng->heap[c];
        if (c + 1 < n && ev_before(&eng->pool[eng->heap[c + 1]], &eng->pool[cs]))
            cs = eng->heap[++c];
        if (!ev_before(&eng->pool[cs], e))
            break;
        heap_put(eng, i, cs);
        i = c;
    }
    heap_put(eng, i, s);
}

/* Removes the entry at heap index i (the slot itself is not released). */
static void heap_remove(engine *eng, size_t i)
{
    uint32_t last = eng->heap[--eng->n_heap];
    if (i == eng->n_heap)
        return;
    if (i > 0 && ev_before(&eng->pool[last], &eng->pool[eng->heap[(i - 1) / 2]]))
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
    e->time_ns = at_ns;
    e->seq = eng->next_seq++;
    e->fn = fn;
    e->ctx = ctx;
    e->arg = arg;
    sift_up(eng, eng->n_heap++, s);
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
    uint32_t s = eng->heap[0];
    ev e = eng->pool[s];
    heap_remove(eng, 0);
    pool_release(eng, s);
    eng->now_ns = e.time_ns;
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
    while (!eng->stop && eng->n_heap > 0 && eng->pool[eng->heap[0]].time_ns <= until_ns) {
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

/* Heap entry i: slot in range, cross-linked, pending, ordered after its
 * parent, not before now. */
static int check_heap_entry(const engine *eng, size_t i, kt_err *err)
{
    uint32_t s = eng->heap[i];
    if (s >= eng->cap) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap[%zu] = slot %u, pool has %zu", i, s, eng->cap);
        return -1;
    }
    const ev *e = &eng->pool[s];
    if (e->pos != i) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap[%zu] = slot %u whose pos is %u", i, s, e->pos);
        return -1;
    }
    if (i > 0 && !ev_before(&eng->pool[eng->heap[(i - 1) / 2]], e)) {
        KT_ERROR(err, NULL, 0, 0, "engine: heap order broken at index %zu", i);
        return -1;
    }
    if (e->time_ns < eng->now_ns) {
        KT_ERROR(err, NULL, 0, 0, "engine: slot %u pending at %lld ns, before now %lld ns", s,
                 (long long)e->time_ns, (long long)eng->now_ns);
        return -1;
    }
    if (e->seq >= eng->next_seq || e->gen == 0) {
        KT_ERROR(err, NULL, 0, 0, "engine: slot %u has seq %llu (next %llu) gen %u", s,
                 (unsigned long long)e->seq, (unsigned long long)eng->next_seq, e->gen);
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
