/* semcache.h — a semantic prompt cache in front of the engine: each request is embedded and looked up in a vector index; a hit above the similarity threshold answers from the cache with no GPU work, a miss pays the embedding and the lookup and goes on to the engine. */
#ifndef KT_SEMCACHE_H
#define KT_SEMCACHE_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"

typedef enum { SEMCACHE_INDEX_FLAT, SEMCACHE_INDEX_HNSW, SEMCACHE_INDEX_COUNT } semcache_index;
extern const char *const semcache_index_names[SEMCACHE_INDEX_COUNT + 1];   /* "flat", "hnsw" */

/* Lookup latencies a scenario may give for its index, by entries held. */
#define SEMCACHE_MAX_POINTS 8

/* One measured lookup: at `entries` vectors held, a query takes latency_ns. */
typedef struct semcache_point {
    double entries;
    int64_t latency_ns;
} semcache_point;

/* `semantic_cache:` of a scenario.
 * Invariants when on: 0 <= hit_rate <= 1; 0 <= false_hit_rate <= 1;
 * 1 <= n_points <= SEMCACHE_MAX_POINTS with entries strictly increasing
 * and >= 1; entry_bytes > 0; capacity_entries >= 1. */
typedef struct semcache_cfg {
    int on;
    double hit_rate;            /* share of requests whose nearest cached prompt scores above the threshold */
    double false_hit_rate;      /* share of those hits whose cached answer does not fit the prompt */
    int64_t embed_ns;           /* embedding one request: the fixed part */
    int64_t embed_token_ns;     /* and per prompt token */
    semcache_index index;
    semcache_point points[SEMCACHE_MAX_POINTS];
    int n_points;
    double entry_bytes;         /* one entry: its vector and the cached response */
    double capacity_bytes;      /* memory the entries may take */
    int64_t capacity_entries;   /* floor(capacity_bytes / entry_bytes) */
    char tier[32];              /* the memory they live in, as the scenario names it */
} semcache_cfg;

/* Reads n (the scenario's `semantic_cache:`, NULL: off; `enabled: false`
 * keeps the figures and turns it off) into c. Returns 0, or -1 with err at
 * the offending node. */
int semcache_cfg_from_conf(conf_node *n, semcache_cfg *c, kt_err *err);

/* Lookup latency with `entries` held, between the two points around it:
 * linear in entries for a flat index (a scan), in log(entries) for a graph
 * (HNSW: a walk of about log n hops); outside the points, the nearest. */
int64_t semcache_lookup_ns(const semcache_cfg *c, double entries);

/* What the cache answered for one request. */
typedef struct semcache_answer {
    int hit;                    /* 1: answered from the cache, no GPU work */
    int false_hit;              /* a hit whose answer does not fit the prompt */
    int64_t delay_ns;           /* embedding + lookup: before the answer, or before the engine sees a miss */
} semcache_answer;

/* Results of a run. Invariants: hits + misses == lookups; false_hits <= hits;
 * held <= capacity_entries; inserted - evicted == held. */
typedef struct semcache_stats {
    int64_t lookups, hits, misses, false_hits;
    int64_t capacity_misses;    /* similar prompts whose entry had been evicted */
    int64_t inserted, evicted, held;
    int64_t miss_delay_ns;      /* summed over misses: latency the cache added before the engine */
    int64_t hit_latency_ns;     /* summed over hits: their whole latency */
} semcache_stats;

/* The cache's entries in LRU order over slots, and where each entry ever
 * inserted sits. Invariants: used <= capacity_entries; slot_of[e] is -1 for
 * an evicted entry and a slot whose entry is e otherwise; the list from mru
 * through next[] visits each of the used slots once, ending at lru. */
typedef struct semcache {
    semcache_cfg cfg;
    gsl_rng *rng;               /* owned; seeded from the scenario seed */
    int64_t *slot_of;           /* per entry ever inserted; owned */
    size_t cap_entries;
    int64_t *entry, *prev, *next;   /* per slot; owned */
    size_t cap_slots;
    int64_t used, mru, lru;
    semcache_stats st;
} semcache;

/* A cache for cfg with its own generator seeded from seed. NULL when out of
 * memory. Caller frees with semcache_free. */
semcache *semcache_new(const semcache_cfg *cfg, uint64_t seed);
void semcache_free(semcache *s);
/* Embeds and looks up one request of prompt_tokens: a hit with
 * probability hit_rate when the entry it resembles (drawn uniformly from
 * the entries ever inserted) is still held; otherwise a miss, whose entry
 * is inserted (evicting the least recently used when full). Returns 0, or
 * -1 when out of memory (the cache is unchanged then). */
int semcache_lookup(semcache *s, int64_t prompt_tokens, semcache_answer *out);
/* Invariant checker for --check. */
int semcache_check(const semcache *s, kt_err *err);

#endif
