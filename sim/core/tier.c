/* tier.c — lower KV tiers of a replica: configuration, block sizes per precision, offload cascade, lookup, fetch and its estimate. */
#include "tier.h"
#include "kv_layout.h"
#include "grow.h"
#include "htab.h"
#include "linkcost.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const tier_kind_names[TIER_KIND_COUNT + 1] = { "dram", "cxl", "nvme", "remote", NULL };
const char *const tier_offload_names[OFFLOAD_KIND_COUNT + 1] = { "drop", "write_back", "write_through", NULL };
const char *const tier_decide_names[DECIDE_KIND_COUNT + 1] = { "compare", "fetch", "recompute", NULL };
static const char *const gpu_link_names[GPU_LINK_COUNT + 1] = { "pcie", "c2c", "nvlink", NULL };

/* A tier's dtype left unset means "the HBM KV dtype". */
#define TIER_DTYPE_AS_HBM DTYPE_COUNT

/* ---------- configuration ---------- */

static int tier_from_conf(conf_node *n, tier_cfg *t, kt_err *err)
{
    const char *name = NULL;
    int kind = 0, dtype = TIER_DTYPE_AS_HBM;
    memset(t, 0, sizeof *t);
    t->drives = 1;
    t->quant_group = 32;
    t->compression = 1;
    t->dtype = TIER_DTYPE_AS_HBM;
    t->queue_depth = LINKCOST_QUEUE_DEPTH_DEFAULT;
    if (conf_expect(n, CONF_MAP, err) < 0 || conf_str(n, "name", CONF_REQUIRED, &name, err) < 0 ||
        conf_enum(n, "kind", CONF_REQUIRED, tier_kind_names, &kind, err) < 0 ||
        conf_qty(n, "capacity", CONF_REQUIRED, UNITS_BYTES, 1, 1e18, &t->capacity_bytes, err) < 0 ||
        conf_qty(n, "read", CONF_REQUIRED, UNITS_BANDWIDTH, 1, 1e15, &t->read_Bps, err) < 0 ||
        conf_qty(n, "write", CONF_REQUIRED, UNITS_BANDWIDTH, 1, 1e15, &t->write_Bps, err) < 0 ||
        conf_ns(n, "latency", CONF_REQUIRED, 0, INT64_C(1000000000), &t->latency_ns, err) < 0 ||
        conf_f64(n, "iops", CONF_OPTIONAL, 0, 1e12, &t->iops, err) < 0 ||
        conf_int(n, "queue_depth", CONF_OPTIONAL, 1, 65536, &t->queue_depth, err) < 0 ||
        conf_int(n, "drives", CONF_OPTIONAL, 1, 1024, &t->drives, err) < 0 ||
        conf_enum(n, "dtype", CONF_OPTIONAL, dtype_names, &dtype, err) < 0 ||
        conf_int(n, "quant_group", CONF_OPTIONAL, 1, 65536, &t->quant_group, err) < 0 ||
        conf_f64(n, "compression", CONF_OPTIONAL, 1, 100, &t->compression, err) < 0 ||
        conf_qty(n, "attention", CONF_OPTIONAL, UNITS_FLOPS, 0, 1e18, &t->attention_flops, err) < 0)
        return -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = (tier_kind)kind;
    t->dtype = (kt_dtype)dtype;
    int gl = GPU_LINK_PCIE;
    if (conf_enum(n, "gpu_link", CONF_OPTIONAL, gpu_link_names, &gl, err) < 0)
        return -1;
    t->gpu_link = (tier_gpu_link)gl;
    if (conf_bool(n, "shared", CONF_OPTIONAL, &t->fleet_shared, err) < 0)
        return -1;
    if (t->fleet_shared && t->kind != TIER_REMOTE) {
        CONF_ERROR(err, conf_find(n, "shared"), "only a remote tier can be shared by the fleet (this one is %s)",
                   tier_kind_names[t->kind]);
        return -1;
    }
    return 0;
}

/* A tier's `via: [name, ...]`: shared links named under links.shared. */
static int via_from_conf(conf_node *n, tier_cfg *t, const tiers_cfg *c, kt_err *err)
{
    conf_node *via = conf_take(n, "via");
    if (!via)
        return 0;
    if (conf_expect(via, CONF_SEQ, err) < 0)
        return -1;
    for (size_t i = 0; i < via->n_kids; i++) {
        const char *name;
        if (i >= TIER_MAX_VIA) {
            CONF_ERROR(err, via->kids[i], "at most %d shared links per tier", TIER_MAX_VIA);
            return -1;
        }
        if (conf_scalar_str(via->kids[i], &name, err) < 0)
            return -1;
        int found = -1;
        for (int k = 0; k < c->n_shared && found < 0; k++)
            if (!strcmp(c->shared[k].name, name))
                found = k;
        if (found < 0) {
            CONF_ERROR(err, via->kids[i], "no shared link '%s' under links.shared", name);
            return -1;
        }
        t->via[t->n_via++] = found;
    }
    return 0;
}

static int shared_from_conf(conf_node *l, tiers_cfg *c, kt_err *err)
{
    conf_node *sh = conf_take(l, "shared");
    if (!sh)
        return 0;
    if (conf_expect(sh, CONF_SEQ, err) < 0)
        return -1;
    for (size_t i = 0; i < sh->n_kids; i++) {
        const char *name;
        if (i >= TIER_MAX_SHARED) {
            CONF_ERROR(err, sh->kids[i], "at most %d shared links", TIER_MAX_SHARED);
            return -1;
        }
        if (conf_expect(sh->kids[i], CONF_MAP, err) < 0 ||
            conf_str(sh->kids[i], "name", CONF_REQUIRED, &name, err) < 0 ||
            conf_qty(sh->kids[i], "bandwidth", CONF_REQUIRED, UNITS_BANDWIDTH, 1, 1e15, &c->shared[i].bw_Bps, err) < 0)
            return -1;
        snprintf(c->shared[i].name, sizeof c->shared[i].name, "%s", name);
        c->n_shared++;
    }
    return 0;
}

static int policy_from_conf(conf_node *root, tiers_cfg *c, kt_err *err)
{
    conf_node *p = conf_take(root, "kv_policy");
    int off = c->n ? OFFLOAD_WRITE_BACK : OFFLOAD_DROP, fetch = FETCH_DEMAND, decide = DECIDE_COMPARE, io = 0;
    int used = c->n;
    c->hbm_cache = 1;
    if (p && (conf_expect(p, CONF_MAP, err) < 0 ||
              conf_enum(p, "offload", CONF_OPTIONAL, tier_offload_names, &off, err) < 0 ||
              conf_enum(p, "fetch", CONF_OPTIONAL, tier_fetch_names, &fetch, err) < 0 ||
              conf_enum(p, "decide", CONF_OPTIONAL, tier_decide_names, &decide, err) < 0 ||
              conf_enum(p, "io", CONF_OPTIONAL, fabric_io_names, &io, err) < 0 ||
              conf_bool(p, "hbm_cache", CONF_OPTIONAL, &c->hbm_cache, err) < 0 ||
              conf_ns(p, "prefetch_lead", CONF_OPTIONAL, 0, INT64_C(86400000000000), &c->prefetch_lead_ns, err) < 0 ||
              conf_int(p, "tiers_used", CONF_OPTIONAL, 0, c->n, &used, err) < 0 ||
              conf_bool(p, "track_evicted", CONF_OPTIONAL, &c->track_evicted, err) < 0 ||
              conf_bool(p, "in_storage_attention", CONF_OPTIONAL, &c->in_storage_attention, err) < 0))
        return -1;
    c->n = used;
    c->offload = (tier_offload)off;
    c->fetch = (tier_fetch)fetch;
    c->decide = (tier_decide)decide;
    c->io = (fabric_io)io;
    return 0;
}

/* Link figures are required once a tier needs them: no built-in guesses. */
static int links_from_conf(conf_node *root, tiers_cfg *c, kt_err *err)
{
    int remote = 0;
    for (int i = 0; i < c->n; i++)
        remote |= c->tier[i].kind == TIER_REMOTE;
    conf_need need_pcie = conf_required_if(c->n > 0), need_nic = conf_required_if(remote);
    conf_node *l = conf_take(root, "links");
    if (!l && c->n) {
        CONF_ERROR(err, root, "missing required key 'links' (pcie_setup%s) for the KV tiers",
                   remote ? ", nic, nic_setup" : "");
        return -1;
    }
    if (!l)
        return 0;
    return conf_expect(l, CONF_MAP, err) < 0 ||
                   conf_qty(l, "pcie", CONF_OPTIONAL, UNITS_BANDWIDTH, 1, 1e15, &c->pcie_Bps, err) < 0 ||
                   conf_qty(l, "c2c", CONF_OPTIONAL, UNITS_BANDWIDTH, 1, 1e15, &c->c2c_Bps, err) < 0 ||
                   shared_from_conf(l, c, err) < 0 ||
                   conf_ns(l, "pcie_setup", need_pcie, 0, INT64_C(1000000000), &c->pcie_setup_ns, err) < 0 ||
                   conf_qty(l, "nic", need_nic, UNITS_BANDWIDTH, 1, 1e15, &c->nic_Bps, err) < 0 ||
                   conf_ns(l, "nic_setup", need_nic, 0, INT64_C(1000000000), &c->nic_setup_ns, err) < 0
               ? -1
               : 0;
}

int tiers_from_conf(conf_node *root, double c2c_default_Bps, tiers_cfg *c, kt_err *err)
{
    memset(c, 0, sizeof *c);
    conf_node *seq = conf_take(root, "tiers");
    if (seq) {
        if (conf_expect(seq, CONF_SEQ, err) < 0)
            return -1;
        if (seq->n_kids > TIER_MAX) {
            CONF_ERROR(err, seq->kids[TIER_MAX], "at most %d tiers below HBM", TIER_MAX);
            return -1;
        }
        for (size_t i = 0; i < seq->n_kids; i++)
            if (tier_from_conf(seq->kids[i], &c->tier[c->n++], err) < 0)
                return -1;
    }
    if (policy_from_conf(root, c, err) < 0 || links_from_conf(root, c, err) < 0)
        return -1;
    for (int i = 0; seq && i < c->n; i++) {
        if (via_from_conf(seq->kids[i], &c->tier[i], c, err) < 0)
            return -1;
        if (c->tier[i].gpu_link == GPU_LINK_C2C && !(c->c2c_Bps > 0))
            c->c2c_Bps = c2c_default_Bps;
        if (c->tier[i].gpu_link == GPU_LINK_C2C && !(c->c2c_Bps > 0)) {
            CONF_ERROR(err, conf_find(seq->kids[i], "gpu_link"), "gpu_link c2c needs links.c2c (its bandwidth), or a profile with c2c_bandwidth");
            return -1;
        }
    }
    return 0;
}

/* ---------- sizes ---------- */

double tier_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens)
{
    return kv_layout_stored_block_bytes(m, dtype, quant_group, block_tokens);
}

/* ---------- the content cache ---------- */

#define NIL EVICT_NONE
/* Entry arrays start this large (then double, up to the capacity). */
#define CACHE_FIRST_ENTRIES 1024u

static int cache_init(tier_cache *c, uint64_t capacity, kv_eviction eviction)
{
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->eviction = eviction;
    evict_lists_clear(&c->lists);
    c->bucket = malloc(CACHE_FIRST_ENTRIES * sizeof *c->bucket);
    if (!c->bucket)
        return -1;
    memset(c->bucket, 0xff, CACHE_FIRST_ENTRIES * sizeof *c->bucket);   /* every head NIL */
    c->bucket_mask = CACHE_FIRST_ENTRIES - 1;
    return 0;
}

static void cache_destroy(tier_cache *c)
{
    free(c->key);
    free(c->chain);
    free(c->lists.prev);
    free(c->lists.next);
    free(c->lists.seg);
    free(c->bucket);
    free(c->touched.list);
}

/* ---------- the index: entries chained from bucket heads ---------- */

static uint32_t *cache_bucket(const tier_cache *c, uint64_t key)
{
    return &c->bucket[(uint32_t)kt_mix64(key) & c->bucket_mask];
}

/* The entry holding key, or NIL. */
static uint32_t cache_find(const tier_cache *c, uint64_t key)
{
    uint32_t e = *cache_bucket(c, key);
    while (e != NIL && c->key[e] != key)
        e = c->chain[e];
    return e;
}

/* Links entry e (its key set) into its bucket. */
static void cache_index_add(tier_cache *c, uint32_t e)
{
    uint32_t *head = cache_bucket(c, c->key[e]);
    c->chain[e] = *head;
    *head = e;
    c->indexed++;
}

/* Unlinks entry e (indexed under its key) from its bucket. */
static void cache_index_del(tier_cache *c, uint32_t e)
{
    uint32_t *link = cache_bucket(c, c->key[e]);
    while (*link != e)
        link = &c->chain[*link];
    *link = c->chain[e];
    c->indexed--;
}

/* Doubles the buckets once they are fewer than the entries, so chains
 * stay about one entry long; on failure the chains just grow longer. */
static void cache_index_grow(tier_cache *c)
{
    size_t n = (size_t)c->bucket_mask + 1;
    if (c->used_entries <= n || n > UINT32_MAX / 2)
        return;
    uint32_t *b = malloc(2 * n * sizeof *b);
    if (!b)
        return;
    memset(b, 0xff, 2 * n * sizeof *b);
    free(c->bucket);
    c->bucket = b;
    c->bucket_mask = (uint32_t)(2 * n - 1);
    c->indexed = 0;
    for (uint32_t e = 0; e < c->used_entries; e++)
        cache_index_add(c, e);
}

/* ---------- the lists ---------- */

/* Records that entry e's links changed (once tracking has started). */
static void cache_touch_entry(tier_cache *c, uint32_t e)
{
    tier_touched *t = &c->touched;
    if (!t->tracking || t->lost || e == EVICT_NONE)
        return;
    if (t->n == t->cap) {
        size_t cap = t->cap;
        uint32_t *l = grow_array(t->list, &cap, t->n + 1, sizeof *l);
        if (!l) {
            t->lost = 1;
            return;
        }
        t->list = l;
        t->cap = cap;
    }
    t->list[t->n++] = e;
}

/* e and both its neighbours change links. */
static void cache_unlink(tier_cache *c, uint32_t e)
{
    c->version++;
    cache_touch_entry(c, e);
    cache_touch_entry(c, c->lists.prev[e]);
    cache_touch_entry(c, c->lists.next[e]);
    evict_lists_unlink(&c->lists, e);
}

/* e and the list's old tail change links. */
static void cache_push_tail(tier_cache *c, uint32_t e, evict_segment s)
{
    c->version++;
    cache_touch_entry(c, e);
    cache_touch_entry(c, c->lists.tail[s]);
    evict_lists_push_tail(&c->lists, e, s);
}

/* Resizes *p to n elements of size bytes (unchanged on failure). */
static int resize(void *p, size_t n, size_t size)
{
    void *q = grow_array_exact(*(void **)p, n, size);
    if (!q)
        return -1;
    *(void **)p = q;
    return 0;
}

/* A new entry, growing the arrays by doubling up to the capacity. NIL when
 * out of memory. */
static uint32_t cache_entry(tier_cache *c)
{
    if (c->used_entries == c->cap_entries) {
        uint64_t cap = c->cap_entries ? 2 * (uint64_t)c->cap_entries : CACHE_FIRST_ENTRIES;
        cap = cap < c->capacity ? cap : c->capacity;
        cap = cap < NIL ? cap : NIL;    /* entry numbers stay below NIL */
        if (cap <= c->cap_entries)
            return NIL;
        /* The arrays grow in turn; the capacity changes once all have. */
        if (resize(&c->key, cap, sizeof *c->key) < 0 || resize(&c->chain, cap, sizeof *c->chain) < 0 ||
            resize(&c->lists.prev, cap, sizeof *c->lists.prev) < 0 ||
            resize(&c->lists.next, cap, sizeof *c->lists.next) < 0 ||
            resize(&c->lists.seg, cap, sizeof *c->lists.seg) < 0)
            return NIL;
        c->cap_entries = (uint32_t)cap;
    }
    return c->used_entries++;
}

/* A hit: most recently used, on the list the policy keeps reused content. */
static void cache_touch(tier_cache *c, uint32_t e)
{
    cache_unlink(c, e);
    cache_push_tail(c, e, evict_reused_segment(c->eviction));
}

/* Stores hash as most recently used. Returns 1 if present already, 0 if
 * stored, -1 out of memory. A full cache first evicts its least recently
 * used entry into *evicted (else *evicted = 0). */
static int cache_put(tier_cache *c, uint64_t hash, uint64_t *evicted)
{
    *evicted = 0;
    uint32_t e = cache_find(c, hash);
    if (e != NIL) {
        cache_touch(c, e);
        return 1;
    }
    if (c->n == c->capacity) {
        e = evict_lists_victim(&c->lists);
        *evicted = c->key[e];
        cache_unlink(c, e);
        cache_index_del(c, e);
    } else if ((e = cache_entry(c)) == NIL) {
        return -1;
    } else {
        c->n++;
    }
    c->key[e] = hash;
    cache_index_add(c, e);
    cache_index_grow(c);
    cache_push_tail(c, e, EVICT_COLD);
    return 0;
}

/* ---------- invariants ---------- */

/* A listed entry must be in use and indexed under its key. */
static int cache_entry_ok(const void *ud, uint32_t e)
{
    const tier_cache *c = ud;
    return e < c->used_entries && cache_find(c, c->key[e]) == e ? 0 : -1;
}

/* Entries the buckets reach, each checked to be in use and filed under
 * its key's bucket; -1 at the first that is not (or a chain longer than
 * the entries, which a cycle would make). */
static int64_t cache_count_indexed(const tier_cache *c)
{
    uint64_t count = 0;
    for (uint64_t b = 0; b <= c->bucket_mask; b++)
        for (uint32_t e = c->bucket[b]; e != NIL; e = c->chain[e]) {
            if (e >= c->used_entries || ++count > c->used_entries ||
                ((uint32_t)kt_mix64(c->key[e]) & c->bucket_mask) != b)
                return -1;
        }
    return (int64_t)count;
}

static int cache_check(const tier_cache *c, const char *name, kt_err *err)
{
    int l;
    uint32_t bad;
    int64_t listed = evict_lists_walk(&c->lists, c->n, cache_entry_ok, c, &l, &bad);
    if (listed < 0 && bad != EVICT_NONE) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: cache list broken at entry %u", name, bad);
        return -1;
    }
    uint64_t n = listed < 0 ? 0 : (uint64_t)listed;
    int64_t indexed = cache_count_indexed(c);
    if (listed < 0 || n != c->n || indexed < 0 || (uint64_t)indexed != c->n || c->indexed != c->n ||
        c->n != c->used_entries || c->n > c->capacity) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: %llu entries listed, %llu counted, %lld indexed, capacity %llu", name,
                 (unsigned long long)n, (unsigned long long)c->n, (long long)indexed,
                 (unsigned long long)c->capacity);
        return -1;
    }
    return 0;
}

/* The counts against each other (O(1)). */
static int cache_check_counts(const tier_cache *c, const char *name, kt_err *err)
{
    if (c->indexed != c->n || c->n > c->capacity || c->n != c->used_entries || c->used_entries > c->cap_entries) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: %llu entries counted, %llu indexed, %u in use, capacity %llu", name,
                 (unsigned long long)c->n, (unsigned long long)c->indexed, c->used_entries,
                 (unsigned long long)c->capacity);
        return -1;
    }
    return 0;
}

/* The entries changed since the record was cleared: each on a list, its
 * neighbours linked back, indexed under its key. Clears the record. */
static int cache_check_touched_entries(tier_cache *c, const char *name, kt_err *err)
{
    int rc = cache_check_counts(c, name, err);
    for (size_t i = 0; i < c->touched.n && rc == 0; i++) {
        uint32_t e = c->touched.list[i];
        if (e >= c->used_entries || evict_lists_entry_links(&c->lists, e, c->used_entries) != 1 ||
            cache_find(c, c->key[e]) != e) {
            KT_ERROR(err, NULL, 0, 0, "tier %s: cache entry %u unlisted, its links broken or not indexed", name, e);
            rc = -1;
        }
    }
    c->touched.n = 0;
    return rc;
}

uint64_t tier_cached_blocks(const tier_set *ts, int t) { return ts->tiers[t].store->n; }

/* ---------- building ---------- */

static void path_push(int *path, int *len, int link)
{
    if (link >= 0)
        path[(*len)++] = link;
}

/* Blocks tier configuration tc holds (its dtype resolved), 0 with err when none fits. */
static uint32_t tier_capacity_blocks(const tier_cfg *tc, double block_bytes, kt_err *err)
{
    double cap = floor(tc->capacity_bytes * tc->drives * tc->compression / block_bytes);
    if (cap < 1) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: %.0f bytes hold no block of %.0f bytes", tc->name, tc->capacity_bytes,
                 block_bytes);
        return 0;
    }
    return cap > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)cap;
}

static kt_dtype tier_dtype(const tier_cfg *tc, kt_dtype hbm_dtype)
{
    return tc->dtype == TIER_DTYPE_AS_HBM ? hbm_dtype : tc->dtype;
}

int tier_set_config_check(const tier_set_config *cfg, kt_err *err)
{
    for (int i = 0; i < cfg->tiers->n; i++) {
        const tier_cfg *tc = &cfg->tiers->tier[i];
        double block_bytes = tier_block_bytes(cfg->model, tier_dtype(tc, cfg->hbm_dtype), tc->quant_group,
                                              cfg->block_tokens);
        if (!tier_capacity_blocks(tc, block_bytes, err))
            return -1;
    }
    return 0;
}

tier_cache *tier_shared_new(const tier_set_config *cfg, int i, kt_err *err)
{
    const tier_cfg *tc = &cfg->tiers->tier[i];
    if (!tc->fleet_shared)
        return NULL;
    uint32_t cap = tier_capacity_blocks(tc, tier_block_bytes(cfg->model, tier_dtype(tc, cfg->hbm_dtype),
                                                             tc->quant_group, cfg->block_tokens), err);
    tier_cache *cache = cap ? calloc(1, sizeof *cache) : NULL;
    if (cap && (!cache || cache_init(cache, cap, cfg->eviction) < 0)) {
        free(cache);
        KT_ERROR(err, NULL, 0, 0, "tier %s: out of memory", tc->name);
        return NULL;
    }
    return cache;
}

void tier_shared_free(tier_cache *c)
{
    if (!c)
        return;
    cache_destroy(c);
    free(c);
}

static int build_tier(tier_set *ts, int i, const model_card *m, kt_dtype hbm_dtype, tier_cache *shared,
                      kt_err *err)
{
    tier *t = &ts->tiers[i];
    t->cfg = ts->cfg.tier[i];
    t->set = ts;
    t->level = i;
    t->cfg.dtype = tier_dtype(&t->cfg, hbm_dtype);
    t->block_bytes = tier_block_bytes(m, t->cfg.dtype, t->cfg.quant_group, ts->block_tokens);
    t->capacity_blocks = tier_capacity_blocks(&t->cfg, t->block_bytes, err);
    if (!t->capacity_blocks)
        return -1;
    t->store = shared ? shared : &t->own;
    if (!shared && cache_init(&t->own, t->capacity_blocks, ts->eviction) < 0) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: out of memory", t->cfg.name);
        return -1;
    }
    char name[32];
    double scale = t->cfg.drives * t->cfg.compression;
    snprintf(name, sizeof name, "%.20s.read", t->cfg.name);
    t->read_link = fabric_add_link(ts->fab, name, t->cfg.read_Bps * scale);
    snprintf(name, sizeof name, "%.20s.write", t->cfg.name);
    t->write_link = fabric_add_link(ts->fab, name, t->cfg.write_Bps * scale);
    int remote = t->cfg.kind == TIER_REMOTE;
    int gpu_in = t->cfg.gpu_link == GPU_LINK_C2C ? ts->c2c_in : t->cfg.gpu_link == GPU_LINK_NVLINK ? ts->nvl_in : ts->pcie_h2d;
    int gpu_out = t->cfg.gpu_link == GPU_LINK_C2C ? ts->c2c_out : t->cfg.gpu_link == GPU_LINK_NVLINK ? ts->nvl_out : ts->pcie_d2h;
    path_push(t->path_in, &t->path_in_len, t->read_link);
    for (int v = 0; v < t->cfg.n_via; v++)
        path_push(t->path_in, &t->path_in_len, ts->shared_link[t->cfg.via[v]]);
    path_push(t->path_in, &t->path_in_len, remote ? ts->nic_in : -1);
    path_push(t->path_in, &t->path_in_len, gpu_in);
    path_push(t->path_in, &t->path_in_len, gpu_in == ts->pcie_h2d ? ts->pcie_duplex : -1);
    path_push(t->path_out, &t->path_out_len, gpu_out == ts->pcie_d2h ? ts->pcie_duplex : -1);
    path_push(t->path_out, &t->path_out_len, gpu_out);
    path_push(t->path_out, &t->path_out_len, remote ? ts->nic_out : -1);
    for (int v = 0; v < t->cfg.n_via; v++)
        path_push(t->path_out, &t->path_out_len, ts->shared_link[t->cfg.via[v]]);
    path_push(t->path_out, &t->path_out_len, t->write_link);
    return 0;
}

tier_set *tier_set_new(const tier_set_config *cfg, engine *eng, kt_err *err)
{
    const tiers_cfg *c = cfg->tiers;
    const model_card *m = cfg->model;
    const hw_profile *hw = cfg->hw;
    kt_dtype hbm_dtype = cfg->hbm_dtype;
    int block_tokens = cfg->block_tokens, gpus = cfg->gpus;
    tier_cache *const *shared = cfg->shared;
    tier_set *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->cfg = *c;
    ts->eviction = cfg->eviction;
    ts->eng = eng;
    ts->block_tokens = block_tokens;
    ts->hbm_block_bytes = tier_block_bytes(m, hbm_dtype, KV_LAYOUT_HBM_QUANT_GROUP, block_tokens);
    ts->dequant_Bps = hw->hbm_bw_Bps * hw_stream_efficiency(hw) * gpus;
    ts->fab = fabric_new(eng, TIER_MAX_LINKS, 16);
    if (!ts->fab) {
        free(ts);
        return NULL;
    }
    double pcie = (c->pcie_Bps > 0 ? c->pcie_Bps : hw->pcie_bw_Bps) * gpus;
    ts->pcie_h2d = fabric_add_link(ts->fab, "pcie.h2d", pcie);
    ts->pcie_d2h = fabric_add_link(ts->fab, "pcie.d2h", pcie);
    /* Each direction alone runs at pcie; both busy share the duplex total. */
    ts->pcie_duplex = fabric_add_link(ts->fab, "pcie.duplex", linkcost_pcie_duplex_Bps(hw, pcie));
    ts->nic_op_ns = hw->nic_op_ns;
    ts->nic_in = ts->nic_out = ts->c2c_in = ts->c2c_out = ts->nvl_in = ts->nvl_out = -1;
    if (c->nic_Bps > 0) {
        ts->nic_in = fabric_add_link(ts->fab, "nic.in", linkcost_nic_Bps(hw, c->nic_Bps));
        ts->nic_out = fabric_add_link(ts->fab, "nic.out", linkcost_nic_Bps(hw, c->nic_Bps));
    }
    if (c->c2c_Bps > 0) {
        ts->c2c_in = fabric_add_link(ts->fab, "c2c.h2d", c->c2c_Bps * gpus);
        ts->c2c_out = fabric_add_link(ts->fab, "c2c.d2h", c->c2c_Bps * gpus);
    }
    int nvlink = 0;
    for (int i = 0; i < c->n; i++)
        nvlink |= c->tier[i].gpu_link == GPU_LINK_NVLINK;
    if (nvlink) {
        ts->nvl_in = fabric_add_link(ts->fab, "nvlink.in", hw->nvlink_bw_Bps * gpus);
        ts->nvl_out = fabric_add_link(ts->fab, "nvlink.out", hw->nvlink_bw_Bps * gpus);
    }
    for (int i = 0; i < c->n_shared; i++)
        ts->shared_link[i] = fabric_add_link(ts->fab, c->shared[i].name, c->shared[i].bw_Bps);
    for (int i = 0; i < c->n; i++, ts->n++)
        if (build_tier(ts, i, m, hbm_dtype, shared ? shared[i] : NULL, err) < 0) {
            tier_set_free(ts);
            return NULL;
        }
    if (c->track_evicted && cache_init(&ts->dropped, UINT64_MAX, EVICT_LRU) < 0) {
        tier_set_free(ts);
        return NULL;
    }
    return ts;
}

void tier_set_free(tier_set *ts)
{
    if (!ts)
        return;
    for (int i = 0; i < ts->n; i++)
        if (ts->tiers[i].store == &ts->tiers[i].own)
            cache_destroy(&ts->tiers[i].own);
    if (ts->cfg.track_evicted)
        cache_destroy(&ts->dropped);
    fabric_free(ts->fab);
    free(ts);
}

/* ---------- offload ---------- */

/* What one block operation on a tier costs besides its bytes: the
 * device's latency, and the NIC's per-operation cost for remote tiers. */
static int64_t op_ns(const tier_set *ts, const tier *t)
{
    return t->cfg.latency_ns + (t->cfg.kind == TIER_REMOTE ? ts->nic_op_ns : 0);
}

/* Setup a transfer over a tier's link pays: its first operation, the copy
 * engine's CPU round trip, and programming the NIC for remote tiers. */
static int64_t setup_ns(const tier_set *ts, const tier *t)
{
    return op_ns(ts, t) + ts->cfg.pcie_setup_ns + (t->cfg.kind == TIER_REMOTE ? ts->cfg.nic_setup_ns : 0);
}

/* The narrowest link's bandwidth along a path. */
static double path_bw(const tier_set *ts, const int *path, int len)
{
    double bw = HUGE_VAL;
    for (int k = 0; k < len; k++) {
        double b = fabric_link_at(ts->fab, path[k])->bw_Bps;
        if (b < bw)
            bw = b;
    }
    return bw;
}

/* A transfer's own rate limit along path for operations of op_bytes: an
 * IOPS limit caps them; an async transfer also cannot beat what queue_depth
 * operations in flight sustain (a sync one pays each operation in setup). */
static double rate_cap(const tier_set *ts, const tier *t, const int *path, int len, double op_bytes)
{
    double cap = t->cfg.iops > 0 ? t->cfg.iops * t->cfg.drives * op_bytes : 0;
    if (ts->cfg.io == FABRIC_IO_SYNC)
        return cap;
    double queue = linkcost_queue_Bps(op_bytes, op_ns(ts, t), path_bw(ts, path, len), t->cfg.queue_depth);
    return cap > 0 && cap < queue ? cap : queue;
}

/* Content that leaves the last place holding it. */
static void drop(tier_set *ts, uint64_t hash)
{
    uint64_t unused;
    if (ts->cfg.track_evicted)
        cache_put(&ts->dropped, hash, &unused);
}

static void store_into(tier_set *ts, int level, uint64_t hash)
{
    if (level >= ts->n) {
        drop(ts, hash);
        return;
    }
    tier *t = &ts->tiers[level];
    uint64_t evicted;
    if (cache_put(t->store, hash, &evicted) != 0)
        return;
    t->st.stored_blocks++;
    t->pending_in++;
    if (!evicted)
        return;
    t->st.evicted_blocks++;
    /* Write-back pushes it one tier down; write-through has a copy there,
     * unless this was the last tier. */
    if (ts->cfg.offload == OFFLOAD_WRITE_BACK)
        store_into(ts, level + 1, evicted);
    else if (level == ts->n - 1)
        drop(ts, evicted);
}

void tier_set_offload(tier_set *ts, int level, uint64_t hash)
{
    if (ts->cfg.offload == OFFLOAD_WRITE_BACK)
        store_into(ts, level, hash);
    else if (ts->cfg.offload == OFFLOAD_DROP || ts->n == 0)
        drop(ts, hash);
}

void tier_set_registered(tier_set *ts, uint64_t hash)
{
    if (ts->cfg.offload != OFFLOAD_WRITE_THROUGH)
        return;
    for (int i = 0; i < ts->n; i++)
        store_into(ts, i, hash);
}

static void write_done(void *ud, uint64_t tag, int64_t now) {}

void tier_set_flush(tier_set *ts)
{
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (!t->pending_in)
            continue;
        /* Write-back fills a tier from the one above; the first, and every
         * tier under write-through, straight from HBM. */
        int path[FABRIC_MAX_PATH], len = 0;
        if (i > 0 && ts->cfg.offload == OFFLOAD_WRITE_BACK) {
            path_push(path, &len, ts->tiers[i - 1].read_link);
            path_push(path, &len, t->cfg.kind == TIER_REMOTE ? ts->nic_out : -1);
            for (int v = 0; v < t->cfg.n_via; v++)
                path_push(path, &len, ts->shared_link[t->cfg.via[v]]);
            path_push(path, &len, t->write_link);
        } else {
            memcpy(path, t->path_out, sizeof path);
            len = t->path_out_len;
        }
        fabric_transfer(ts->fab, path, len, t->pending_in, t->block_bytes, setup_ns(ts, t), ts->cfg.io,
                        rate_cap(ts, t, path, len, t->block_bytes), write_done, NULL, (uint64_t)i);
        t->pending_in = 0;
    }
}

/* ---------- lookup and fetch ---------- */

int64_t tier_set_lookup(tier_set *ts, const uint64_t *hashes, int64_t n, int64_t counts[TIER_MAX],
                        int64_t *dropped)
{
    memset(counts, 0, TIER_MAX * sizeof counts[0]);
    int64_t i;
    for (i = 0; i < n; i++) {
        int found = -1;
        uint32_t e = NIL;
        for (int t = 0; t < ts->n && found < 0; t++)
            if ((e = cache_find(ts->tiers[t].store, hashes[i])) != NIL)
                found = t;
        if (found < 0)
            break;
        cache_touch(ts->tiers[found].store, e);
        ts->tiers[found].st.found_blocks++;
        counts[found]++;
    }
    if (dropped) {
        int64_t j = i;
        while (ts->cfg.track_evicted && j < n && cache_find(&ts->dropped, hashes[j]) != NIL)
            j++;
        *dropped = j - i;
    }
    return i;
}

int64_t tier_dequant_ns(const tier_set *ts, int t, int64_t n_blocks)
{
    const tier *x = &ts->tiers[t];
    if (x->block_bytes == ts->hbm_block_bytes)
        return 0;
    /* Read the stored block, write it at full precision. */
    return llround(1e9 * n_blocks * (x->block_bytes + ts->hbm_block_bytes) / ts->dequant_Bps);
}

int64_t tier_set_fetch_estimate_ns(const tier_set *ts, const int64_t counts[TIER_MAX])
{
    double worst = 0, pcie_bytes = 0;
    for (int i = 0; i < ts->n; i++) {
        const tier *t = &ts->tiers[i];
        if (!counts[i])
            continue;
        double bytes = counts[i] * t->block_bytes, bw = path_bw(ts, t->path_in, t->path_in_len);
        double cap = rate_cap(ts, t, t->path_in, t->path_in_len, t->block_bytes);
        if (cap > 0 && cap < bw)
            bw = cap;
        double setups = ts->cfg.io == FABRIC_IO_SYNC ? (double)counts[i] : 1.0;
        double ns = setups * setup_ns(ts, t) + 1e9 * bytes / bw + tier_dequant_ns(ts, i, counts[i]);
        worst = ns > worst ? ns : worst;
        pcie_bytes += t->cfg.gpu_link == GPU_LINK_PCIE ? bytes : 0;
    }
    /* Tiers reached over PCIe share the GPU's PCIe links. */
    double pcie_ns = 1e9 * pcie_bytes / fabric_link_at(ts->fab, ts->pcie_h2d)->bw_Bps;
    return llround(worst > pcie_ns ? worst : pcie_ns);
}

int tier_set_fetch_ops(tier_set *ts, int t, int64_t n_ops, double op_bytes, fabric_done_fn done, void *ud,
                       uint64_t tag)
{
    tier *x = &ts->tiers[t];
    return fabric_transfer(ts->fab, x->path_in, x->path_in_len, n_ops, op_bytes, setup_ns(ts, x), ts->cfg.io,
                           rate_cap(ts, x, x->path_in, x->path_in_len, op_bytes), done, ud, tag);
}

int tier_set_fetch(tier_set *ts, const int64_t counts[TIER_MAX], fabric_done_fn done, void *ud)
{
    int started = 0;
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (!counts[i])
            continue;
        t->st.fetched_blocks += counts[i];
        if (tier_set_fetch_ops(ts, i, counts[i], t->block_bytes, done, ud, (uint64_t)i) == 0)
            started++;
    }
    return started;
}

int64_t tier_attention_layer_ns(const tier_set *ts, int t, const model_card *m, int layer, int64_t n_new,
                                int64_t prefix_tokens)
{
    const tier *x = &ts->tiers[t];
    /* Attention of the new tokens to the prefix only: all minus self-attention. */
    double flops = model_attn_flops(m, layer, n_new, prefix_tokens) - model_attn_flops(m, layer, n_new, 0);
    double bytes = (double)model_layer_kv_tokens(m, layer, prefix_tokens) *
                   model_kv_bytes_per_token_layer(m, layer, x->cfg.dtype);
    double compute_s = flops / x->cfg.attention_flops;
    double scan_s = bytes / fabric_link_at(ts->fab, x->read_link)->bw_Bps;
    /* Queries out and outputs back: n_new × heads × head dim × 2 B each way. */
    double qo_bytes = 2.0 * n_new * m->n_heads * m->head_dim * dtype_bytes(DTYPE_BF16);
    double link_s = qo_bytes / path_bw(ts, x->path_in, x->path_in_len);
    return llround(1e9 * ((compute_s > scan_s ? compute_s : scan_s) + link_s)) + 2 * setup_ns(ts, x);
}

int tier_should_fetch(const tiers_cfg *c, int64_t fetch_ns, int64_t recompute_ns)
{
    return c->decide == DECIDE_FETCH || (c->decide == DECIDE_COMPARE && fetch_ns < recompute_ns);
}

/* cache_check, skipped when the cache has not changed since it last passed. */
static int cache_check_changed(tier_cache *c, const char *name, kt_err *err)
{
    if (c->checked && c->checked_version == c->version)
        return 0;
    int rc = cache_check(c, name, err);
    c->checked = rc == 0;
    c->checked_version = c->version;
    return rc;
}

/* What changed in c since the last call; the whole cache the first time
 * (tracking starts then) or after a lost record. */
static int cache_check_touched(tier_cache *c, const char *name, kt_err *err)
{
    tier_touched *t = &c->touched;
    if (t->tracking && !t->lost)
        return cache_check_touched_entries(c, name, err);
    t->tracking = 1;
    t->lost = 0;
    t->n = 0;
    return cache_check_changed(c, name, err);
}

int tier_set_check_touched(tier_set *ts, kt_err *err)
{
    if (ts->cfg.track_evicted && cache_check_touched(&ts->dropped, "(dropped)", err) < 0)
        return -1;
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (cache_check_touched(t->store, t->cfg.name, err) < 0)
            return -1;
    }
    return fabric_check(ts->fab, err);
}

int tier_set_check(tier_set *ts, kt_err *err)
{
    if (ts->cfg.track_evicted && cache_check_changed(&ts->dropped, "(dropped)", err) < 0)
        return -1;
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (cache_check_changed(t->store, t->cfg.name, err) < 0)
            return -1;
    }
    return fabric_check(ts->fab, err);
}
