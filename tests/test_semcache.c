/* test_semcache.c — the semantic prompt cache worked out by hand: lookup latency by index size, hits and misses from its rates, LRU eviction at capacity, refusals, and a run's requests split between the cache and the engine. */
#include <math.h>
#include <string.h>

#include "scenario.h"
#include "semcache.h"
#include "sim.h"
#include "testutil.h"

/* A configuration of n points with 2 ms + 3.3 us a token of embedding. */
static semcache_cfg cfg_of(semcache_index kind, const semcache_point *pts, int n, double hit, double false_hit,
                           int64_t capacity_entries)
{
    semcache_cfg c = { .on = 1, .hit_rate = hit, .false_hit_rate = false_hit, .embed_ns = 2000000,
                       .embed_token_ns = 3300, .index = kind, .n_points = n, .entry_bytes = 4096,
                       .capacity_entries = capacity_entries };
    c.capacity_bytes = 4096.0 * capacity_entries;
    memcpy(c.points, pts, (size_t)n * sizeof *pts);
    return c;
}

/* HNSW, 0.102 ms at 10^4 and 0.153 ms at 10^6: at 10^5, halfway in log
 * entries, 0.102 + 0.5 × 0.051 = 0.1275 ms. Flat, 1.5 ms at 10^4 and 154 ms
 * at 10^6: at 505,000, halfway in entries, 1.5 + 0.5 × 152.5 = 77.75 ms.
 * Outside the points: the nearest point's figure. */
static void test_lookup_latency(void)
{
    const semcache_point hnsw[] = { { 1e4, 102000 }, { 1e6, 153000 } }, flat[] = { { 1e4, 1500000 }, { 1e6, 154000000 } };
    semcache_cfg h = cfg_of(SEMCACHE_INDEX_HNSW, hnsw, 2, 0, 0, 10), f = cfg_of(SEMCACHE_INDEX_FLAT, flat, 2, 0, 0, 10);
    CU_ASSERT_EQUAL(semcache_lookup_ns(&h, 1e5), 127500);
    CU_ASSERT_EQUAL(semcache_lookup_ns(&h, 10), 102000);
    CU_ASSERT_EQUAL(semcache_lookup_ns(&h, 1e9), 153000);
    CU_ASSERT_EQUAL(semcache_lookup_ns(&f, 505000), 77750000);
    CU_ASSERT_EQUAL(semcache_lookup_ns(&f, 1e4), 1500000);
}

/* hit_rate 1 with room for everything: the first request finds nothing
 * and misses, every later one resembles an entry still held and hits.
 * Each pays 2 ms + 1,000 × 3.3 us + 0.1 ms = 5.4 ms. */
static void test_all_hit(void)
{
    const semcache_point one[] = { { 1, 100000 } };
    semcache_cfg c = cfg_of(SEMCACHE_INDEX_HNSW, one, 1, 1.0, 0, 1000);
    semcache *s = semcache_new(&c, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    semcache_answer a;
    for (int i = 0; i < 100; i++) {
        CU_ASSERT_EQUAL_FATAL(semcache_lookup(s, 1000, &a), 0);
        CU_ASSERT_EQUAL(a.hit, i > 0);
        CU_ASSERT_EQUAL(a.delay_ns, 5400000);
    }
    CU_ASSERT_EQUAL(s->st.hits, 99);
    CU_ASSERT_EQUAL(s->st.false_hits, 0);
    CU_ASSERT_EQUAL(s->st.misses, 1);
    CU_ASSERT_EQUAL(s->st.miss_delay_ns, 5400000);
    CU_ASSERT_EQUAL(s->st.hit_latency_ns, 99 * 5400000LL);
    kt_err err;
    CU_ASSERT_EQUAL(semcache_check(s, &err), 0);
    semcache_free(s);
}

/* hit_rate 0 and room for 2 entries: 5 misses insert entries 0..4; the
 * least recently used go first, so 3 and 4 are held, 3 were evicted. */
static void test_lru_eviction(void)
{
    const semcache_point one[] = { { 1, 0 } };
    semcache_cfg c = cfg_of(SEMCACHE_INDEX_HNSW, one, 1, 0, 0, 2);
    semcache *s = semcache_new(&c, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    semcache_answer a;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL_FATAL(semcache_lookup(s, 10, &a), 0);
    CU_ASSERT_EQUAL(s->st.inserted, 5);
    CU_ASSERT_EQUAL(s->st.evicted, 3);
    CU_ASSERT_EQUAL(s->st.held, 2);
    CU_ASSERT(s->slot_of[0] < 0 && s->slot_of[1] < 0 && s->slot_of[2] < 0);
    CU_ASSERT(s->slot_of[3] >= 0 && s->slot_of[4] >= 0);
    CU_ASSERT_EQUAL(s->entry[s->mru], 4);
    CU_ASSERT_EQUAL(s->entry[s->lru], 3);
    kt_err err;
    CU_ASSERT_EQUAL(semcache_check(s, &err), 0);
    semcache_free(s);
}

/* With room for everything, hits / lookups tends to hit_rate and false
 * hits / hits to false_hit_rate: over 100,000 lookups at 0.3 and 0.1 the
 * standard deviations are sqrt(0.3 × 0.7 / 1e5) = 0.00145 and
 * sqrt(0.1 × 0.9 / 30,000) = 0.0017; four of them bound the test. The same
 * seed gives the same counts. */
static void test_rates(void)
{
    const semcache_point one[] = { { 1, 0 } };
    semcache_cfg c = cfg_of(SEMCACHE_INDEX_HNSW, one, 1, 0.3, 0.1, 1000000);
    semcache *s = semcache_new(&c, 42), *t = semcache_new(&c, 42);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    semcache_answer a;
    for (int i = 0; i < 100000; i++) {
        CU_ASSERT_EQUAL_FATAL(semcache_lookup(s, 10, &a), 0);
        CU_ASSERT_EQUAL_FATAL(semcache_lookup(t, 10, &a), 0);
    }
    CU_ASSERT_DOUBLE_EQUAL((double)s->st.hits / 1e5, 0.3, 4 * 0.00145);
    CU_ASSERT_DOUBLE_EQUAL((double)s->st.false_hits / (double)s->st.hits, 0.1, 4 * 0.0017);
    CU_ASSERT_EQUAL(s->st.capacity_misses, 0);
    CU_ASSERT_EQUAL(s->st.hits, t->st.hits);
    CU_ASSERT_EQUAL(s->st.false_hits, t->st.false_hits);
    semcache_free(s);
    semcache_free(t);
}

static int load_cfg(const char *text, semcache_cfg *c, kt_err *err)
{
    conf_node *root = conf_parse_string(text, strlen(text), "t.yaml", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int rc = semcache_cfg_from_conf(conf_find(root, "semantic_cache"), c, err);
    conf_free(root);
    return rc;
}

/* Refusals at their place: points whose entries do not increase, and a
 * capacity below one entry; 4 GB of 4 KB entries hold 10^6. */
static void test_config(void)
{
    const char *ok = "semantic_cache: {hit_rate: 0.2, false_hit_rate: 0.05, entry_bytes: 4KB, capacity: 4GB, "
                     "tier: dram, embedding: {latency: 2ms}, index: {kind: hnsw, lookup: [{entries: 10, latency: 1ms}]}}\n";
    semcache_cfg c;
    kt_err err;
    CU_ASSERT_EQUAL(load_cfg(ok, &c, &err), 0);
    CU_ASSERT_EQUAL(c.capacity_entries, 1000000);
    CU_ASSERT_EQUAL(c.embed_ns, 2000000);
    const char *bad = "semantic_cache: {hit_rate: 0.2, false_hit_rate: 0.05, entry_bytes: 4KB, capacity: 4GB, "
                      "tier: dram, embedding: {latency: 2ms}, index: {kind: flat, lookup: [{entries: 10, latency: 1ms}, "
                      "{entries: 10, latency: 2ms}]}}\n";
    CU_ASSERT_EQUAL(load_cfg(bad, &c, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "entries must increase"));
    const char *small = "semantic_cache: {hit_rate: 0.2, false_hit_rate: 0.05, entry_bytes: 4KB, capacity: 1KB, "
                        "tier: dram, embedding: {latency: 2ms}, index: {kind: hnsw, lookup: [{entries: 10, latency: 1ms}]}}\n";
    CU_ASSERT_EQUAL(load_cfg(small, &c, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "holds no entry"));
}

/* scenarios/semantic-cache.yaml: 2,000 one-question sessions. Every
 * request is answered by the cache or reaches the engine, never both; a
 * miss's TTFT includes at least the embedding's fixed 2 ms. With the cache
 * off every request reaches the engine. */
static void test_scenario_split(void)
{
    kt_err err;
    sim_opts opts = { .check = 1 };
    sim_stats st;
    metrics *m;
    scenario *sc = scenario_load(tu_path("scenarios/semantic-cache.yaml"), NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL_FATAL(sim_run(sc, &opts, &m, &st, &err), 0);
    CU_ASSERT_EQUAL(m->semcache.lookups, 2000);
    CU_ASSERT_EQUAL((int64_t)m->n_reqs + m->semcache.hits, 2000);
    CU_ASSERT(m->semcache.hits > 0);
    for (size_t i = 0; i < m->n_reqs; i++)
        CU_ASSERT(m->reqs[i].first_token_ns - m->reqs[i].arrival_ns >= 2000000);
    metrics_free(m);
    scenario_free(sc);
    char *off[] = { "semantic_cache.enabled=false" };
    sc = scenario_load(tu_path("scenarios/semantic-cache.yaml"), off, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL_FATAL(sim_run(sc, &opts, &m, &st, &err), 0);
    CU_ASSERT_EQUAL(m->n_reqs, 2000);
    CU_ASSERT_EQUAL(m->semcache.lookups, 0);
    metrics_free(m);
    scenario_free(sc);
}

/* A cache naming a KV tier takes its capacity from it: multiturn-tiers'
 * 96 GiB DRAM tier keeps 96 − 1 = 95 GiB for KV with a 1 GiB cache; one as
 * large as the tier is refused at its capacity. */
static void test_tier_capacity(void)
{
    kt_err err;
    char *sets[] = { "semantic_cache={hit_rate: 0.1, false_hit_rate: 0, entry_bytes: 4KB, capacity: 1GiB, tier: dram, "
                     "embedding: {latency: 1ms}, index: {kind: hnsw, lookup: [{entries: 1, latency: 0.1ms}]}}" };
    scenario *sc = scenario_load(tu_path("scenarios/multiturn-tiers.yaml"), sets, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_STRING_EQUAL(sc->tiers.tier[0].name, "dram");
    CU_ASSERT_DOUBLE_EQUAL(sc->tiers.tier[0].capacity_bytes, 95.0 * 1073741824.0, 0);
    scenario_free(sc);
    char *big[] = { "semantic_cache={hit_rate: 0.1, false_hit_rate: 0, entry_bytes: 4KB, capacity: 96GiB, tier: dram, "
                    "embedding: {latency: 1ms}, index: {kind: hnsw, lookup: [{entries: 1, latency: 0.1ms}]}}" };
    CU_ASSERT_PTR_NULL(scenario_load(tu_path("scenarios/multiturn-tiers.yaml"), big, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tier 'dram' holds"));
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "lookup latency by index size, by hand", test_lookup_latency },
        { "hit rate 1: all but the first hit", test_all_hit },
        { "LRU eviction at capacity", test_lru_eviction },
        { "hit and false-hit rates over many lookups", test_rates },
        { "configuration and its refusals", test_config },
        { "a run's requests split between cache and engine", test_scenario_split },
        { "a cache in a KV tier takes its capacity", test_tier_capacity },
        { NULL, NULL },
    };
    return tu_run("semcache", tests);
}
