/* idxtab.c — allocation of the id index (the probing is inline in idxtab.h). */
#include "idxtab.h"

#include <stdlib.h>

int idxtab_init(idxtab *t, uint32_t max_ids)
{
    /* At most three quarters full: linear probes stay short (expected
     * under 2.5 slots for a hit at that load). */
    uint64_t cap = 16;
    while (cap * 3 < 4 * ((uint64_t)max_ids + 1))
        cap *= 2;
    t->slot = calloc(cap, sizeof *t->slot);
    t->mask = (uint32_t)(cap - 1);
    t->n = 0;
    t->cap_ids = max_ids;
    return t->slot ? 0 : -1;
}

void idxtab_destroy(idxtab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->n = 0;
}

uint32_t idxtab_slots(const idxtab *t) { return t->mask + 1; }
