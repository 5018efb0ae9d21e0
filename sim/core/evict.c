/* evict.c — the LRU and segmented-LRU lists of the HBM pool and the tiers, and the eviction policies' decisions. */
#include "evict.h"

#include <stdlib.h>

const char *const kv_eviction_names[EVICT_KIND_COUNT + 1] = { "lru", "heat", NULL };

void evict_lists_clear(evict_lists *l)
{
    for (int s = 0; s < EVICT_SEGMENT_COUNT; s++)
        l->head[s] = l->tail[s] = EVICT_NONE;
}

void evict_lists_unlink(evict_lists *l, uint32_t e)
{
    int s = l->seg[e];
    if (l->prev[e] != EVICT_NONE)
        l->next[l->prev[e]] = l->next[e];
    else
        l->head[s] = l->next[e];
    if (l->next[e] != EVICT_NONE)
        l->prev[l->next[e]] = l->prev[e];
    else
        l->tail[s] = l->prev[e];
    l->prev[e] = l->next[e] = EVICT_NONE;
}

void evict_lists_push_tail(evict_lists *l, uint32_t e, evict_segment s)
{
    l->seg[e] = (uint8_t)s;
    l->prev[e] = l->tail[s];
    l->next[e] = EVICT_NONE;
    if (l->tail[s] != EVICT_NONE)
        l->next[l->tail[s]] = e;
    else
        l->head[s] = e;
    l->tail[s] = e;
}

void evict_lists_push_head(evict_lists *l, uint32_t e, evict_segment s)
{
    l->seg[e] = (uint8_t)s;
    l->next[e] = l->head[s];
    l->prev[e] = EVICT_NONE;
    if (l->head[s] != EVICT_NONE)
        l->prev[l->head[s]] = e;
    else
        l->tail[s] = e;
    l->head[s] = e;
}

uint32_t evict_lists_victim(const evict_lists *l)
{
    return l->head[EVICT_COLD] != EVICT_NONE ? l->head[EVICT_COLD] : l->head[EVICT_HOT];
}

int64_t evict_lists_walk(const evict_lists *l, uint64_t limit, evict_entry_fn entry_ok, const void *ud,
                         int *bad_list, uint32_t *bad_entry)
{
    uint64_t n = 0;
    for (int s = 0; s < EVICT_SEGMENT_COUNT; s++) {
        uint32_t prev = EVICT_NONE;
        *bad_list = s;
        for (uint32_t e = l->head[s]; e != EVICT_NONE; e = l->next[e]) {
            *bad_entry = e;
            if (entry_ok(ud, e) < 0 || l->prev[e] != prev || l->seg[e] != s || ++n > limit)
                return -1;
            prev = e;
        }
        if (prev != l->tail[s]) {
            *bad_entry = EVICT_NONE;
            return -1;
        }
    }
    return (int64_t)n;
}

int evict_lists_entry_links(const evict_lists *l, uint32_t e, uint32_t n_entries)
{
    uint32_t prev = l->prev[e], next = l->next[e];
    int s = l->seg[e];
    if ((prev != EVICT_NONE && prev >= n_entries) || (next != EVICT_NONE && next >= n_entries))
        return -1;
    int listed = prev != EVICT_NONE || next != EVICT_NONE || (s < EVICT_SEGMENT_COUNT && l->head[s] == e);
    if (!listed) {
        for (int x = 0; x < EVICT_SEGMENT_COUNT; x++)
            if (l->head[x] == e || l->tail[x] == e)
                return -1;
        return 0;
    }
    if (s >= EVICT_SEGMENT_COUNT)
        return -1;
    if (prev != EVICT_NONE ? l->next[prev] != e || l->seg[prev] != s : l->head[s] != e)
        return -1;
    if (next != EVICT_NONE ? l->prev[next] != e || l->seg[next] != s : l->tail[s] != e)
        return -1;
    return 1;
}

evict_segment evict_reused_segment(kv_eviction policy)
{
    switch (policy) {
    case EVICT_LRU:
        return EVICT_COLD;
    case EVICT_HEAT:
        return EVICT_HOT;
    case EVICT_KIND_COUNT:
        break;
    }
    abort();                    /* not a policy: conf_enum admits only the names */
}

int evict_counts_reuse(kv_eviction policy)
{
    switch (policy) {
    case EVICT_LRU:
        return 0;
    case EVICT_HEAT:
        return 1;
    case EVICT_KIND_COUNT:
        break;
    }
    abort();                    /* not a policy: conf_enum admits only the names */
}
