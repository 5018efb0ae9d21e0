/* idxtab.h — an open-addressing index of 32-bit ids whose 64-bit keys live in the caller's array (keys[id]): a third of a key/value table's memory. */
#ifndef KT_IDXTAB_H
#define KT_IDXTAB_H

#include "htab.h"

#include <stdint.h>

/* Invariants: mask + 1 slots, a power of two; slot value 0 is empty, v > 0
 * holds id v - 1, whose key is keys[v - 1] (non-zero, distinct among the
 * indexed ids); n ids indexed, n <= cap_ids, and cap_ids leaves a quarter
 * of the slots empty so probing always ends; an id sits in the first free
 * slot at or after its key's home (linear probing, no tombstones). The
 * caller keeps keys[id] unchanged while id is indexed. */
typedef struct idxtab {
    uint32_t *slot;
    uint32_t mask, n, cap_ids;
} idxtab;

/* Room for max_ids ids; the index never grows. Returns 0 or -1 (memory). */
int idxtab_init(idxtab *t, uint32_t max_ids);
void idxtab_destroy(idxtab *t);
uint32_t idxtab_slots(const idxtab *t);

static inline uint32_t idxtab_home(const idxtab *t, uint64_t key) { return (uint32_t)kt_mix64(key) & t->mask; }

/* The slot holding key's id, or the empty slot where it would go. */
static inline uint32_t idxtab_slot(const idxtab *t, const uint64_t *keys, uint64_t key)
{
    uint32_t i = idxtab_home(t, key);
    while (t->slot[i] && keys[t->slot[i] - 1] != key)
        i = (i + 1) & t->mask;
    return i;
}

/* The id whose key is key, or HTAB_NONE. */
static inline uint32_t idxtab_get(const idxtab *t, const uint64_t *keys, uint64_t key)
{
    uint32_t v = t->slot[idxtab_slot(t, keys, key)];
    return v ? v - 1 : HTAB_NONE;
}

/* Indexes id under keys[id] (non-zero, not indexed yet). Returns 0, or -1
 * when the index already holds cap_ids ids (unchanged then). */
static inline int idxtab_put(idxtab *t, const uint64_t *keys, uint32_t id)
{
    if (t->n >= t->cap_ids)
        return -1;
    t->slot[idxtab_slot(t, keys, keys[id])] = id + 1;
    t->n++;
    return 0;
}

/* Drops the id indexed under key, if any (backward-shift deletion: later
 * ids of the probe run move back, so no tombstones). */
static inline void idxtab_del(idxtab *t, const uint64_t *keys, uint64_t key)
{
    uint32_t i = idxtab_slot(t, keys, key);
    if (!t->slot[i])
        return;
    t->n--;
    uint32_t j = i;
    for (;;) {
        t->slot[i] = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slot[j])
                return;
            if (htab_fills_gap(idxtab_home(t, keys[t->slot[j] - 1]), i, j))
                break;
        }
        t->slot[i] = t->slot[j];
        i = j;
    }
}

#endif
