/* semcache.c — the semantic prompt cache: its configuration, lookup latency by index size, hits drawn from the scenario's rates over entries held in LRU order. */
#include "semcache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

const char *const semcache_index_names[SEMCACHE_INDEX_COUNT + 1] = { "flat", "hnsw", NULL };

/* Reads `lookup: [{entries: N, latency: T}, ...]`, entries increasing. */
static int points_from_conf(conf_node *seq, semcache_cfg *c, kt_err *err)
{
    if (conf_expect(seq, CONF_SEQ, err) < 0)
        return -1;
    if (seq->n_kids < 1 || seq->n_kids > SEMCACHE_MAX_POINTS) {
        CONF_ERROR(err, seq, "give 1 to %d points of {entries, latency}", SEMCACHE_MAX_POINTS);
        return -1;
    }
    for (size_t i = 0; i < seq->n_kids; i++) {
        semcache_point *p = &c->points[i];
        if (conf_expect(seq->kids[i], CONF_MAP, err) < 0 ||
            conf_f64(seq->kids[i], "entries", CONF_REQUIRED, 1, 1e15, &p->entries, err) < 0 ||
            conf_ns(seq->kids[i], "latency", CONF_REQUIRED, 0, INT64_C(1000000000000), &p->latency_ns, err) < 0)
            return -1;
        if (i > 0 && !(p->entries > c->points[i - 1].entries)) {
            CONF_ERROR(err, seq->kids[i], "entries must increase from one point to the next");
            return -1;
        }
    }
    c->n_points = (int)seq->n_kids;
    return 0;
}

int semcache_cfg_from_conf(conf_node *n, semcache_cfg *c, kt_err *err)
{
    memset(c, 0, sizeof *c);
    if (!n)
        return 0;
    int index = 0, enabled = 1;
    conf_node *emb, *idx;
    if (conf_expect(n, CONF_MAP, err) < 0 ||
        conf_bool(n, "enabled", CONF_OPTIONAL, &enabled, err) < 0 ||
        conf_f64(n, "hit_rate", CONF_REQUIRED, 0, 1, &c->hit_rate, err) < 0 ||
        conf_f64(n, "false_hit_rate", CONF_REQUIRED, 0, 1, &c->false_hit_rate, err) < 0 ||
        conf_qty(n, "entry_bytes", CONF_REQUIRED, UNITS_BYTES, 1, 1e12, &c->entry_bytes, err) < 0 ||
        conf_qty(n, "capacity", CONF_REQUIRED, UNITS_BYTES, 1, 1e18, &c->capacity_bytes, err) < 0 ||
        conf_str_copy(n, "tier", CONF_REQUIRED, c->tier, sizeof c->tier, err) < 0)
        return -1;
    if (!(emb = conf_take(n, "embedding")) || !(idx = conf_take(n, "index"))) {
        CONF_ERROR(err, n, "missing required key '%s'", emb ? "index" : "embedding");
        return -1;
    }
    if (conf_expect(emb, CONF_MAP, err) < 0 ||
        conf_ns(emb, "latency", CONF_REQUIRED, 0, INT64_C(1000000000000), &c->embed_ns, err) < 0 ||
        conf_ns(emb, "per_token", CONF_OPTIONAL, 0, INT64_C(1000000000), &c->embed_token_ns, err) < 0 ||
        conf_expect(idx, CONF_MAP, err) < 0 ||
        conf_enum(idx, "kind", CONF_REQUIRED, semcache_index_names, &index, err) < 0)
        return -1;
    conf_node *pts = conf_take(idx, "lookup");
    if (!pts) {
        CONF_ERROR(err, idx, "missing required key 'lookup' (latency by entries held)");
        return -1;
    }
    if (points_from_conf(pts, c, err) < 0)
        return -1;
    c->capacity_entries = (int64_t)floor(c->capacity_bytes / c->entry_bytes);
    if (c->capacity_entries < 1) {
        CONF_ERROR(err, conf_find(n, "capacity"), "holds no entry of entry_bytes");
        return -1;
    }
    c->index = (semcache_index)index;
    c->on = enabled;
    return 0;
}

int64_t semcache_lookup_ns(const semcache_cfg *c, double entries)
{
    const semcache_point *p = c->points;
    int last = c->n_points - 1;
    if (entries <= p[0].entries)
        return p[0].latency_ns;
    if (entries >= p[last].entries)
        return p[last].latency_ns;
    int i = 1;
    while (p[i].entries < entries)
        i++;
    /* A flat index scans every vector: time grows with their count. A
     * graph index walks a path whose length grows with its logarithm. */
    double f = 0;
    switch (c->index) {
    case SEMCACHE_INDEX_FLAT: f = (entries - p[i - 1].entries) / (p[i].entries - p[i - 1].entries); break;
    case SEMCACHE_INDEX_HNSW: f = log(entries / p[i - 1].entries) / log(p[i].entries / p[i - 1].entries); break;
    case SEMCACHE_INDEX_COUNT: break;
    }
    return llround((double)p[i - 1].latency_ns + f * (double)(p[i].latency_ns - p[i - 1].latency_ns));
}

semcache *semcache_new(const semcache_cfg *cfg, uint64_t seed)
{
    semcache *s = calloc(1, sizeof *s);
    if (!s || !(s->rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        free(s);
        return NULL;
    }
    gsl_rng_set(s->rng, seed);
    s->cfg = *cfg;
    s->mru = s->lru = -1;
    return s;
}

void semcache_free(semcache *s)
{
    if (!s)
        return;
    gsl_rng_free(s->rng);
    free(s->slot_of);
    free(s->entry);
    free(s->prev);
    free(s->next);
    free(s);
}

/* Takes slot i out of the LRU list. */
static void unlink_slot(semcache *s, int64_t i)
{
    if (s->prev[i] >= 0)
        s->next[s->prev[i]] = s->next[i];
    else
        s->mru = s->next[i];
    if (s->next[i] >= 0)
        s->prev[s->next[i]] = s->prev[i];
    else
        s->lru = s->prev[i];
}

/* Puts slot i at the most recently used end. */
static void push_mru(semcache *s, int64_t i)
{
    s->prev[i] = -1;
    s->next[i] = s->mru;
    if (s->mru >= 0)
        s->prev[s->mru] = i;
    s->mru = i;
    if (s->lru < 0)
        s->lru = i;
}

/* Room for one more entry and, below capacity, one more slot. */
static int reserve(semcache *s)
{
    size_t ne = (size_t)s->st.inserted + 1, ns = (size_t)s->used + 1, cap;
    int64_t *p;
    if (ne > s->cap_entries) {
        cap = s->cap_entries;
        if (!(p = grow_array(s->slot_of, &cap, ne, sizeof *p)))
            return -1;
        s->slot_of = p;
        s->cap_entries = cap;
    }
    if (s->used < s->cfg.capacity_entries && ns > s->cap_slots) {
        int64_t **arrs[3] = { &s->entry, &s->prev, &s->next };
        for (int a = 0; a < 3; a++) {
            cap = s->cap_slots;
            if (!(p = grow_array(*arrs[a], &cap, ns, sizeof *p)))
                return -1;
            *arrs[a] = p;
        }
        s->cap_slots = cap;
    }
    return 0;
}

/* Inserts a new entry for a miss, evicting the least recently used when full. */
static void insert(semcache *s)
{
    int64_t e = s->st.inserted++, slot;
    if (s->used < s->cfg.capacity_entries) {
        slot = s->used++;
    } else {
        slot = s->lru;
        unlink_slot(s, slot);
        s->slot_of[s->entry[slot]] = -1;
        s->st.evicted++;
    }
    s->entry[slot] = e;
    s->slot_of[e] = slot;
    push_mru(s, slot);
    s->st.held = s->used;
}

int semcache_lookup(semcache *s, int64_t prompt_tokens, semcache_answer *out)
{
    const semcache_cfg *c = &s->cfg;
    if (reserve(s) < 0)
        return -1;
    *out = (semcache_answer){ 0 };
    out->delay_ns = c->embed_ns + c->embed_token_ns * prompt_tokens + semcache_lookup_ns(c, (double)s->used);
    s->st.lookups++;
    /* Both draws are made for every request, so one request's outcome
     * never shifts the stream the next one sees. */
    double similar = gsl_rng_uniform(s->rng), wrong = gsl_rng_uniform(s->rng);
    int64_t e = s->st.inserted > 0 ? (int64_t)gsl_rng_uniform_int(s->rng, (unsigned long)s->st.inserted) : -1;
    if (similar < c->hit_rate && e >= 0 && s->slot_of[e] >= 0) {
        int64_t slot = s->slot_of[e];
        unlink_slot(s, slot);
        push_mru(s, slot);
        out->hit = 1;
        out->false_hit = wrong < c->false_hit_rate;
        s->st.hits++;
        s->st.false_hits += out->false_hit;
        s->st.hit_latency_ns += out->delay_ns;
        return 0;
    }
    s->st.capacity_misses += similar < c->hit_rate && e >= 0;
    s->st.misses++;
    s->st.miss_delay_ns += out->delay_ns;
    insert(s);
    return 0;
}

int semcache_check(const semcache *s, kt_err *err)
{
    const semcache_stats *t = &s->st;
    if (t->hits + t->misses != t->lookups || t->false_hits > t->hits || t->held != s->used ||
        t->inserted - t->evicted != t->held || s->used > s->cfg.capacity_entries) {
        KT_ERROR(err, NULL, 0, 0, "semantic cache: counts disagree (lookups %lld, hits %lld, misses %lld, "
                 "false hits %lld, held %lld of %lld, inserted %lld, evicted %lld)", (long long)t->lookups,
                 (long long)t->hits, (long long)t->misses, (long long)t->false_hits, (long long)t->held,
                 (long long)s->cfg.capacity_entries, (long long)t->inserted, (long long)t->evicted);
        return -1;
    }
    int64_t n = 0;
    for (int64_t i = s->mru; i >= 0 && n <= s->used; i = s->next[i], n++)
        if (s->slot_of[s->entry[i]] != i) {
            KT_ERROR(err, NULL, 0, 0, "semantic cache: slot %lld holds entry %lld, which points elsewhere",
                     (long long)i, (long long)s->entry[i]);
            return -1;
        }
    if (n != s->used) {
        KT_ERROR(err, NULL, 0, 0, "semantic cache: the LRU list has %lld slots, %lld are used", (long long)n,
                 (long long)s->used);
        return -1;
    }
    return 0;
}
