/* htab.c — linear-probing hash map with backward-shift deletion and doubling. */
#include "htab.h"

#include <stdlib.h>

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

int htab_grow(htab *t)
{
    htab bigger;
    if (htab_init(&bigger, htab_slots(t)) < 0)
        return -1;
    for (uint32_t i = 0; i <= t->mask; i++)
        if (t->key[i]) {
            uint32_t j = htab_slot(&bigger, t->key[i]);
            bigger.key[j] = t->key[i];
            bigger.val[j] = t->val[i];
            bigger.n++;
        }
    htab_destroy(t);
    *t = bigger;
    return 0;
}

