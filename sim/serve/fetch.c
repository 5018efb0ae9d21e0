/* fetch.c — KV from the lower tiers: fetch on admission (a page fault), speculative prefetch into the HBM prefix cache, offload hooks. */
#include "serve_internal.h"

#include <string.h>

#include "grow.h"

/* Room for n hashes in the replica's scratch. */
static uint64_t *hash_scratch(replica *r, int64_t n)
{
    uint64_t *h = grow_array(r->fetch.hash_scratch, &r->fetch.cap_hash_scratch, n > 0 ? (size_t)n : 0, sizeof *h);
    if (h)
        r->fetch.hash_scratch = h;
    return h;
}

/* After q's HBM prefix is attached (or found: q->computed tokens): how much of the rest of its prompt the
 * lower tiers hold, and whether to fetch it (tokens returned, blocks per
 * tier in q->fetch_blocks) or recompute it (0 returned, counted as such). */
int64_t fetch_tier_admit(replica *r, serve_req *q)
{
    int bt = kv_pool_block_tokens(r->kv);
    int64_t first = q->computed / bt, n = (q->num_tokens - 1) / bt - first;
    /* The request keeps its prompt's hashes: a retried admission does not hash again. */
    const uint64_t *all = n > 0 ? kv_seq_hashes(r->kv, &q->seq, &q->content, first + n) : NULL;
    if (!all)
        return 0;
    const uint64_t *h = all + first;
    int64_t counts[TIER_MAX], dropped = 0;
    int64_t k = tier_set_lookup(r->tiers, h, n, counts, &dropped);
    /* KV that existed but was dropped is recomputed, and that is waste. */
    q->tier_recompute_until = q->computed + (k + dropped) * bt;
    if (k == 0)
        return 0;
    for (int t = 0; t < r->tiers->n && r->tiers->cfg.in_storage_attention; t++)
        if (counts[t] == k && r->tiers->tiers[t].cfg.attention_flops > 0) {
            /* Leave the prefix where it is and attend to it there. */
            q->remote_tokens = k * bt;
            q->remote_tier = t;
            return 0;
        }
    cost_seq cs = { k * bt, q->computed, 0, 0 };
    cost_iter it;
    cost_iteration(r->cm, &cs, 1, 0, &it);
    if (tier_should_fetch(&r->tiers->cfg, tier_set_fetch_estimate_ns(r->tiers, counts), it.total_ns)) {
        memcpy(q->fetch_blocks, counts, sizeof counts);
        return k * bt;
    }
    return 0;
}

static void on_fetch_part(void *ud, uint64_t tier_idx, int64_t now);

/* Starts fetching what fetch_tier_admit chose; q's KV counts as present, the
 * step that uses it waits for it. */
void fetch_start(replica *r, serve_req *q, int64_t tokens, int64_t now)
{
    int bt = kv_pool_block_tokens(r->kv);
    for (int t = 0; t < TIER_MAX; t++)
        q->rec.tier_hit_tokens[t] += q->fetch_blocks[t] * bt;
    q->computed += tokens;
    q->fetch_start_ns = now;
    q->fetching = tier_set_fetch(r->tiers, q->fetch_blocks, on_fetch_part, q);
    if (q->fetching)
        r->fetch.n_pending++;
}

static void fetch_part_done(serve_req *q, int64_t now)
{
    if (--q->fetching > 0)
        return;
    replica *r = q->rep;
    if (q->lost) {
        q->lost = 0;
        r->failure.on_lost(r->ud, q, now);
        return;
    }
    q->rec.fetch_ns += now - q->fetch_start_ns;
    if (--r->fetch.n_pending == 0 && replica_kv_pending(r) == 0)
        replica_resume_after_fetch(r, now);
}

static void on_fetch_dequantized(engine *eng, void *ctx, uint64_t arg)
{
    fetch_part_done(ctx, engine_now(eng));
}

static void on_fetch_part(void *ud, uint64_t tier_idx, int64_t now)
{
    serve_req *q = ud;
    int64_t dq = tier_dequant_ns(q->rep->tiers, (int)tier_idx, q->fetch_blocks[tier_idx]);
    if (dq > 0)
        engine_after(q->rep->eng, dq, on_fetch_dequantized, q, tier_idx);
    else
        fetch_part_done(q, now);
}

static void on_hbm_evict(void *ud, uint64_t hash)
{
    replica *r = ud;
    tier_set_offload(r->tiers, 0, hash);
}

static void on_hbm_register(void *ud, uint64_t hash)
{
    replica *r = ud;
    tier_set_registered(r->tiers, hash);
}

void replica_set_tiers(replica *r, tier_set *ts)
{
    r->tiers = ts;
    kv_pool_set_evict_hook(r->kv, on_hbm_evict, r);
    if (ts->cfg.offload == OFFLOAD_WRITE_THROUGH)
        kv_pool_set_register_hook(r->kv, on_hbm_register, r);
    kv_pool_set_freed(r->kv, ts->cfg.hbm_cache ? KV_FREED_RETAIN : KV_FREED_EVICT);
    swap_init(r);
}

/* Blocks [first, first + n) of content (chained on prev_hash) join the
 * HBM prefix cache. */
static void cache_blocks(replica *r, const kv_content *c, int64_t first, int64_t n, uint64_t prev_hash)
{
    uint64_t *h = hash_scratch(r, n);
    if (!h)
        return;
    kv_content_hashes(c, kv_pool_block_tokens(r->kv), first, n, prev_hash, h);
    for (int64_t i = 0; i < n; i++)
        kv_pool_put(r->kv, h[i]);
}

void replica_cache_prefix(replica *r, const kv_content *c, int64_t n_blocks) { cache_blocks(r, c, 0, n_blocks, 0); }

/* A prefetch landed: its blocks join the HBM prefix cache. */
static void prefetch_done(serve_prefetch *p, int64_t now)
{
    if (--p->pending > 0)
        return;
    replica *r = p->rep;
    if (r->failure.failed)
        return;
    cache_blocks(r, &p->content, p->first, p->n, p->prev_hash);
    /* The request's wait for its prefetch shows as queueing. */
    if (p->waiter) {
        p->waiter->prefetch_slot = -1;
        p->waiter = NULL;
    }
    tier_set_flush(r->tiers);
    replica_sync(r);
    replica_step_if_idle(r);
}

static void on_prefetch_dequantized(engine *eng, void *ctx, uint64_t arg) { prefetch_done(ctx, engine_now(eng)); }

static void on_prefetch_part(void *ud, uint64_t tier_idx, int64_t now)
{
    serve_prefetch *p = ud;
    int64_t dq = tier_dequant_ns(p->rep->tiers, (int)tier_idx, p->blocks[tier_idx]);
    if (dq > 0)
        engine_after(p->rep->eng, dq, on_prefetch_dequantized, p, tier_idx);
    else
        prefetch_done(p, now);
}

int replica_prefetch(replica *r, const kv_content *c, int64_t tokens)
{
    int bt = kv_pool_block_tokens(r->kv);
    int64_t max = (tokens - 1) / bt, first = kv_pool_cached_prefix(r->kv, c, tokens) / bt;
    int slot = -1;
    for (int i = 0; i < SERVE_MAX_PREFETCHES && slot < 0; i++)
        if (!r->fetch.prefetches[i].pending)
            slot = i;
    uint64_t *h = max > first ? hash_scratch(r, max) : NULL;
    if (!r->tiers || slot < 0 || !h || c->n_segs > 2)
        return -1;
    kv_content_hashes(c, bt, 0, max, 0, h);
    int64_t counts[TIER_MAX];
    int64_t k = tier_set_lookup(r->tiers, h + first, max - first, counts, NULL);
    if (k == 0)
        return -1;
    serve_prefetch *p = &r->fetch.prefetches[slot];
    memset(p, 0, sizeof *p);
    memcpy(p->segs, c->segs, c->n_segs * sizeof *c->segs);
    p->content = (kv_content){ p->segs, c->n_segs };
    p->first = first;
    p->n = k;
    p->prev_hash = first ? h[first - 1] : 0;
    memcpy(p->blocks, counts, sizeof counts);
    p->rep = r;
    p->start_ns = engine_now(r->eng);
    p->pending = tier_set_fetch(r->tiers, counts, on_prefetch_part, p);
    return p->pending ? slot : -1;
}
