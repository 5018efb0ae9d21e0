/* htab.c — linear-probing hash map with backward-shift deletion and doubling. */
#include "htab.h"

#include <stdlib.h>

static uint32_t slot_of(const htab *t, uint64_t key)
{
    uint32_t i = (uint32_t)kt_mix64(key) & t->mask;
    while (t->key[i] && t->key[i] != key)
        i = (i + 1) & t->mask;
    return i;
}

int htab_init(htab *t, uint32_t expected)
{
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)expected + 2)
        cap *= 2;
    t->key = calloc(cap, sizeof *t->key);
    t->val = calloc(cap, sizeof *t->val);
    t->mask = (uint32_t)(cap - 1);
    t->n = 0;
    if (!t->key || !t->val) {
        htab_destroy(t);
        return -1;
    }
    return 0;
}

void htab_destroy(htab *t)
{
    free(t->key);
    free(t->val);
    t->key = NULL;
    t->val = NULL;
    t->n = 0;
}

uint32_t htab_slots(const htab *t) { return t->mask + 1; }

uint32_t htab_get(const htab *t, uint64_t key)
{
    uint32_t i = slot_of(t, key);
    return t->key[i] ? t->val[i] : HTAB_NONE;
}

static int grow(htab *t)
{
    htab bigger;
    if (htab_init(&bigger, htab_slots(t)) < 0)
        return -1;
    for (uint32_t i = 0; i <= t->mask; i++)
        if (t->key[i]) {
            uint32_t j = slot_of(&bigger, t->key[i]);
            bigger.key[j] = t->key[i];
            bigger.val[j] = t->val[i];
            bigger.n++;
        }
    htab_destroy(t);
    *t = bigger;
    return 0;
}

int htab_put(htab *t, uint64_t key, uint32_t val)
{
    uint32_t i = slot_of(t, key);
    if (!t->key[i]) {
        if (2 * ((uint64_t)t->n + 1) > htab_slots(t)) {
            if (grow(t) < 0)
                return -1;
            i = slot_of(t, key);
        }
        t->n++;
    }
    t->key[i] = key;
    t->val[i] = val;
    return 0;
}

void htab_del(htab *t, uint64_t key)
{
    uint32_t i = slot_of(t, key);
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
            uint32_t home = (uint32_t)kt_mix64(t->key[j]) & t->mask;
            /* Move j back to i unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        t->key[i] = t->key[j];
        t->val[i] = t->val[j];
        i = j;
    }
}
