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
/* The value of key, or HTAB_NONE. */
uint32_t htab_get(const htab *t, uint64_t key);
/* Inserts or replaces (key != 0), doubling the table when half full.
 * Returns 0 or -1 (memory; the table is unchanged then). */
int htab_put(htab *t, uint64_t key, uint32_t val);
/* Removes key if present (backward-shift deletion). */
void htab_del(htab *t, uint64_t key);
/* Slots, and a key/value by slot, for checkers (key 0 = empty). */
uint32_t htab_slots(const htab *t);

#endif
