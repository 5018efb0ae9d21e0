/* evict.h — eviction order shared by the HBM pool and the lower tiers: the eviction policies, and the two LRU lists (cold, hot) a segmented LRU keeps over entries of a container. */
#ifndef KT_EVICT_H
#define KT_EVICT_H

#include <stdint.h>

/* How a cache picks a victim. LRU: least recently used first. HEAT: a
 * segmented LRU: entries whose content was reused live on a protected hot
 * list and go only when the cold list is empty. */
typedef enum { EVICT_LRU, EVICT_HEAT, EVICT_KIND_COUNT } kv_eviction;
extern const char *const kv_eviction_names[EVICT_KIND_COUNT + 1];

/* The two lists of a segmented LRU. */
typedef enum { EVICT_COLD, EVICT_HOT, EVICT_SEGMENT_COUNT } evict_segment;

#define EVICT_NONE UINT32_MAX

/* Two doubly linked lists, each from head (evicted first) to tail (most
 * recently used), threaded through the container's entries 0, 1, ...
 * Invariants: prev, next and seg have an element for every entry of the
 * container (they belong to it, and it may move them: realloc); an entry on
 * list s has seg == s and is reached from head[s]; its neighbours' links
 * point back at it; EVICT_NONE ends a list. */
typedef struct evict_lists {
    uint32_t *prev, *next;      /* not owned */
    uint8_t *seg;               /* not owned */
    uint32_t head[EVICT_SEGMENT_COUNT], tail[EVICT_SEGMENT_COUNT];
} evict_lists;

/* Empties both lists (the arrays are left as they are). */
void evict_lists_clear(evict_lists *l);
/* Takes entry e off its list; its links become EVICT_NONE. */
void evict_lists_unlink(evict_lists *l, uint32_t e);
/* Puts entry e (on no list) at the tail (most recently used) of list s. */
void evict_lists_push_tail(evict_lists *l, uint32_t e, evict_segment s);
/* Puts entry e (on no list) at the head of list s: evicted next. */
void evict_lists_push_head(evict_lists *l, uint32_t e, evict_segment s);
/* The next victim: the cold list's head, else the hot one's (EVICT_NONE
 * when both are empty). */
uint32_t evict_lists_victim(const evict_lists *l);

/* Called on each listed entry by evict_lists_walk: 0 if it belongs on its
 * list, -1 (with the container's own message) if not. */
typedef int (*evict_entry_fn)(const void *ud, uint32_t e);
/* Walks both lists, checking the invariants above and entry_ok on each
 * entry, and counting at most limit entries. Returns the count, or -1 at
 * the first broken link, a list longer than limit, or an entry entry_ok
 * refuses (*bad_list gets the list, *bad_entry the entry; EVICT_NONE
 * for a tail that is not the list's last entry). */
int64_t evict_lists_walk(const evict_lists *l, uint64_t limit, evict_entry_fn entry_ok, const void *ud,
                         int *bad_list, uint32_t *bad_entry);

/* Entry e's own links, for checks of what changed (O(1), where the walk
 * is O(entries)): its neighbours are entries below n_entries on its list
 * that point back at it, and a list end names it where it has no
 * neighbour. Returns 1 when e is on a list, 0 when on none (and no list
 * end names it), -1 when its links are broken. */
int evict_lists_entry_links(const evict_lists *l, uint32_t e, uint32_t n_entries);

/* The policy's decisions, one switch each. */
/* The list an entry goes on when its content was reused (touched, or found
 * by a prefix lookup): HEAT protects it on the hot list. */
evict_segment evict_reused_segment(kv_eviction policy);
/* 1 when the policy needs each entry's reuse counted (HEAT). */
int evict_counts_reuse(kv_eviction policy);

#endif
