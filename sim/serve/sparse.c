/* sparse.c — sparse attention with KV in a lower tier: the prompt's KV goes down once prefilled; each decode step's selected pages come up, predicted ones a step ahead under the compute, missed ones on demand. */
#include "serve_internal.h"
#include "sparse_attn.h"

#include <gsl/gsl_randist.h>
#include <math.h>

int sparse_init(replica *r, uint64_t seed)
{
    const sparse_attn_cfg *c = &r->cm->sparse;
    replica_sparse *s = &r->sparse;
    if (!c->on || c->kv_tier_index < 0 || !r->tiers || c->kv_tier_index >= r->tiers->n)
        return 0;
    s->rng = gsl_rng_alloc(gsl_rng_taus2);
    if (!s->rng)
        return -1;
    /* One stream per replica, apart from the arrivals' generator. */
    gsl_rng_set(s->rng, seed + (uint64_t)r->id);
    s->tier = c->kv_tier_index;
    s->layers = sparse_attn_sparse_layers(c, r->cm->m);
    s->page_bytes = sparse_attn_page_bytes(c, r->cm->m, r->tiers->tiers[s->tier].cfg.dtype);
    s->sparse_share = sparse_attn_sparse_share(c, r->cm->m, r->cm->kv_dtype);
    return 0;
}

void sparse_destroy(replica *r)
{
    if (r->sparse.rng)
        gsl_rng_free(r->sparse.rng);
    r->sparse.rng = NULL;
}

int sparse_moves_pages(const replica *r)
{
    return r->sparse.rng != NULL;
}

/* Prompt tokens whose sparse-layer KV the tier takes: whole pages, all but
 * the last hbm_tokens, which stay in HBM as the buffer the selected pages
 * are read from. */
static int64_t tier_tokens_for(const sparse_attn_cfg *c, int64_t prompt_tokens)
{
    int64_t t = (prompt_tokens - c->hbm_tokens) / c->page_tokens * c->page_tokens;
    return t > 0 ? t : 0;
}

void sparse_offload(replica *r, serve_req *q)
{
    if (!r->sparse.rng || q->sparse.tier_tokens)
        return;
    int64_t tier_tokens = tier_tokens_for(&r->cm->sparse, q->rec.prompt_tokens);
    if (tier_tokens == 0)
        return;
    q->sparse.tier_tokens = tier_tokens;
    q->sparse.freed_tokens = (int64_t)floor((double)tier_tokens * r->sparse.sparse_share);
    kv_seq_shrink(r->kv, &q->seq, kv_token_blocks_for(r->kv, serve_req_kv_tokens(q)));
    /* Written down once, as blocks of the HBM equivalent; not prefix content. */
    r->tiers->tiers[r->sparse.tier].pending_in += kv_token_blocks_for(r->kv, q->sparse.freed_tokens);
}

void sparse_forget(serve_req *q)
{
    q->sparse = (serve_sparse_pages){ 0 };
}

static void on_pages_done(void *ud, uint64_t tag, int64_t now)
{
    (void)tag;
    replica *r = ud;
    if (r->failure.failed)
        return;
    r->sparse.n_pending--;
    replica_kv_landed(r, now);
}

/* Starts moving n pages from the tier into HBM; returns their bytes. */
static double move_pages(replica *r, int64_t n)
{
    replica_sparse *s = &r->sparse;
    if (n <= 0 || tier_set_fetch_ops(r->tiers, s->tier, n, s->page_bytes, on_pages_done, r, 0) < 0)
        return 0;
    s->n_pending++;
    return (double)n * s->page_bytes;
}

void sparse_step_plan(replica *r)
{
    if (!r->sparse.rng)
        return;
    metrics_replica *a = r->acct;
    int64_t faulted = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        serve_sparse_pages *p = &r->step.batch[i].r->sparse;
        if (!p->drawn)
            continue;
        p->drawn = 0;
        a->sparse_pages_selected += p->next_selected;
        a->sparse_pages_resident += p->next_selected - p->next_tier;
        a->sparse_pages_prefetched += p->next_predicted;
        a->sparse_pages_faulted += p->next_tier - p->next_predicted;
        faulted += p->next_tier - p->next_predicted;
    }
    /* Missed pages are fetched now, on the link as it is now: a fault. */
    a->sparse_bytes_faulted += move_pages(r, faulted);
    r->sparse.waiting = r->sparse.n_pending > 0;
}

/* 1 when q, computing tokens this step, decodes again next step. */
static int decodes_next(const replica *r, const serve_req *q, int64_t tokens)
{
    return q->computed + tokens == q->num_tokens && q->generated + replica_decode_tokens(r, q) < q->rec.output_tokens &&
           r->disagg.role != ROLE_PREFILL;
}

/* Draws the pages q's next step selects over a context of ctx tokens, of
 * which the first tier_tokens lie in the tier: each selected page lies in
 * the tier with that share of the pages, and the predictor names each such
 * page with probability recall. */
static void draw_next(replica *r, serve_sparse_pages *p, int64_t ctx, int64_t tier_tokens)
{
    const sparse_attn_cfg *c = &r->cm->sparse;
    int64_t all = sparse_attn_pages(c, ctx), in_tier = tier_tokens / c->page_tokens;
    p->next_selected = sparse_attn_selected_pages(c, ctx) * r->sparse.layers;
    p->next_tier = gsl_ran_binomial(r->sparse.rng, (double)in_tier / (double)all, (unsigned)p->next_selected);
    p->next_predicted = c->prefetch ? gsl_ran_binomial(r->sparse.rng, c->recall, (unsigned)p->next_tier) : 0;
    p->drawn = 1;
}

void sparse_step_compute(replica *r)
{
    if (!r->sparse.rng)
        return;
    int64_t predicted = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_batch_entry *b = &r->step.batch[i];
        serve_req *q = b->r;
        /* The prompt's last chunk predicts the first decode step from its
         * last query; its KV goes down to the tier as the step ends. */
        int64_t tier_tokens = q->sparse.tier_tokens ? q->sparse.tier_tokens
                                                    : tier_tokens_for(&r->cm->sparse, q->rec.prompt_tokens);
        if (q->sparse.drawn || tier_tokens == 0 || !decodes_next(r, q, b->tokens))
            continue;
        draw_next(r, &q->sparse, serve_req_attn_tokens(q) + b->tokens, tier_tokens);
        predicted += q->sparse.next_predicted;
    }
    r->acct->sparse_bytes_prefetched += move_pages(r, predicted);
}

void sparse_step_resumed(replica *r, int64_t waited_ns)
{
    if (r->sparse.waiting)
        r->acct->sparse_stall_ns += waited_ns;
    r->sparse.waiting = 0;
}

void sparse_lose_all(replica *r)
{
    r->sparse.n_pending = 0;
    r->sparse.waiting = 0;
}

/* q's pages (see serve_sparse_pages). */
static int pages_ok(const replica *r, const serve_req *q)
{
    const serve_sparse_pages *p = &q->sparse;
    int page = r->cm->sparse.page_tokens;
    if (!r->sparse.rng)
        return !p->tier_tokens && !p->drawn;
    return p->tier_tokens % page == 0 && p->tier_tokens <= q->rec.prompt_tokens &&
           p->freed_tokens <= p->tier_tokens && p->freed_tokens >= 0 &&
           (!p->drawn || (0 <= p->next_predicted && p->next_predicted <= p->next_tier &&
                          p->next_tier <= p->next_selected));
}

int sparse_check(const replica *r, kt_err *err)
{
    if (r->sparse.n_pending < 0) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: %d page transfers in flight", r->id, r->sparse.n_pending);
        return -1;
    }
    for (int i = 0; i < r->queue.n_running; i++)
        if (!pages_ok(r, r->queue.running[i])) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: request %lld's sparse pages inconsistent", r->id,
                     (long long)r->queue.running[i]->rec.id);
            return -1;
        }
    return metrics_replica_check(r->acct, r->id, err);
}
