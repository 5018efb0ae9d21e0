/* htab.h — an open-addressing map from non-zero 64-bit keys to 32-bit values, growing as it fills; and the 64-bit mixer kvtier hashes with. */
#ifndef KT_HTAB_H
#define KT_HTAB_H

#include <stdint.h>

#define HTAB_NONE UINT32_MAX

/* splitmix64's finalizer: a fast, well-mixed 64-bit permutation. */
static inline uint64_t kt_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Backward-shift deletion under linear probing: the entry at slot j, whose
 * home is home, moves back into the gap at slot i unless its home lies
 * cyclically in (i, j] (then it must stay where its probe finds it). */
static inline int htab_fills_gap(uint32_t home, uint32_t i, uint32_t j)
{
    return i <= j ? (home <= i || home > j) : (home <= i && home > j);
}

/* Invariants: mask + 1 slots, a power of two; key 0 marks an empty slot;
 * n live keys, n <= (mask + 1) / 2 so probing always ends; a key sits in
 * the first free slot at or after its home (linear probing, no tombstones). */
typedef struct htab {
    uint64_t *key;
    uint32_t *val;
    uint32_t mask, n;
} htab;

/* Room for at least expected keys without growing. Returns 0 or -1 (memory). */
int htab_init(htab *t, uint32_t expected);
void htab_destroy(htab *t);
/* The slot holding key, or the empty slot where it would go. */
static inline uint32_t htab_slot(const htab *t, uint64_t key)
{
    uint32_t i = (uint32_t)kt_mix64(key) & t->mask;
    while (t->key[i] && t->key[i] != key)
        i = (i + 1) & t->mask;
    return i;
}

/* The value of key, or HTAB_NONE. Inline: it is on every prefix lookup. */
static inline uint32_t htab_get(const htab *t, uint64_t key)
{
    uint32_t i = htab_slot(t, key);
    return t->key[i] ? t->val[i] : HTAB_NONE;
}
/* Slots, and a key/value by slot, for checkers (key 0 = empty). */
uint32_t htab_slots(const htab *t);
/* Doubles the table (rehashing every key). Returns 0 or -1 (memory). */
int htab_grow(htab *t);

/* Inserts or replaces (key != 0), doubling the table when half full.
 * Returns 0 or -1 (memory; the table is unchanged then). Inline, like the
 * rest of the probing: block allocation and prefix lookups live on it. */
static inline int htab_put(htab *t, uint64_t key, uint32_t val)
{
    uint32_t i = htab_slot(t, key);
    if (!t->key[i]) {
        if (2 * ((uint64_t)t->n + 1) > htab_slots(t)) {
            if (htab_grow(t) < 0)
                return -1;
            i = htab_slot(t, key);
        }
        t->n++;
    }
    t->key[i] = key;
    t->val[i] = val;
    return 0;
}

/* Removes key if present (backward-shift deletion, so no tombstones). */
static inline void htab_del(htab *t, uint64_t key)
{
    uint32_t i = htab_slot(t, key);
    if (!t->key[i])
        return;
    t->n--;
    uint32_t j = i;
    for (;;) {
        t->key[i] = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->key[j])
                return;
            if (htab_fills_gap((uint32_t)kt_mix64(t->key[j]) & t->mask, i, j))
                break;
        }
        t->key[i] = t->key[j];
        t->val[i] = t->val[j];
        i = j;
    }
}

#endif
