/* swap.c — vLLM's swap preemption: a preempted sequence's KV copied to host memory over PCIe and back before it resumes. */
#include "serve_internal.h"

/* Follows vLLM's v0 scheduler (vllm/core/scheduler.py, v0.4,
 * PreemptionMode.SWAP): _preempt_by_swap moves every GPU block of the
 * victim to CPU blocks (block_manager.swap_out) and queues it on `swapped`;
 * the copies (blocks_to_swap_out) run on the model's stream before the
 * step's forward pass, so that step waits for them. A later step that
 * preempted nothing swaps sequences back in, oldest first, while slots,
 * budget and GPU blocks allow (_schedule_swapped); the copies in
 * (blocks_to_swap_in) again precede the forward pass. Without chunked
 * prefill no new prompt is scheduled while any sequence is swapped out
 * (_schedule_default). Where vLLM aborts the engine when the swap space is
 * full, this falls back to recomputing the victim. */

/* Host tier of r's tier set (the first DRAM tier), -1 when none. */
static int host_tier(const replica *r)
{
    for (int t = 0; r->tiers && t < r->tiers->n; t++)
        if (r->tiers->tiers[t].cfg.kind == TIER_DRAM)
            return t;
    return -1;
}

void swap_init(replica *r)
{
    r->swap.host_tier = host_tier(r);
    if (r->swap.host_tier < 0 || r->cfg.preemption != PREEMPT_SWAP)
        return;
    r->swap.capacity_blocks = (int64_t)(r->cfg.swap_space_bytes * r->gpus / r->tiers->hbm_block_bytes);
}

/* A copy between HBM and host memory ended. */
static void on_swap_done(void *ud, uint64_t tag, int64_t now)
{
    (void)tag;
    replica *r = ud;
    if (r->failure.failed)
        return;
    r->swap.n_pending--;
    replica_kv_landed(r, now);
}

/* Starts copying n_blocks blocks of KV between HBM and the host tier
 * (path_in: into HBM). The copy is paid as one stream on the tier's
 * links: the tier's latency and the PCIe setup, then its bytes. */
static void start_copy(replica *r, int64_t n_blocks, int into_hbm)
{
    const tier_set *ts = r->tiers;
    const tier *t = &ts->tiers[r->swap.host_tier];
    int64_t setup_ns = t->cfg.latency_ns + ts->cfg.pcie_setup_ns;
    const int *path = into_hbm ? t->path_in : t->path_out;
    int len = into_hbm ? t->path_in_len : t->path_out_len;
    if (fabric_transfer(ts->fab, path, len, n_blocks, ts->hbm_block_bytes, setup_ns, FABRIC_IO_ASYNC, 0,
                        on_swap_done, r, 0) == 0)
        r->swap.n_pending++;
}

/* Blocks a KV of tokens tokens fills in HBM: what is copied either way. */
static int64_t kv_blocks(const replica *r, int64_t tokens)
{
    return kv_blocks_for(r->kv, tokens);
}

int swap_out(replica *r, serve_req *v)
{
    int64_t tokens = serve_req_kv_tokens(v), blocks = kv_blocks(r, tokens);
    if (r->cfg.preemption != PREEMPT_SWAP || r->swap.host_tier < 0 || tokens <= 0 || v->fetching ||
        v->remote_tokens || v->retention_dropped_tokens || v->sparse.tier_tokens || r->swap.used_blocks + blocks > r->swap.capacity_blocks)
        return -1;
    start_copy(r, blocks, 0);
    kv_seq_release(r->kv, &v->seq);
    v->swapped_tokens = tokens;
    r->swap.used_blocks += blocks;
    v->rec.swap_outs++;
    replica_queue_push_back(&r->swap.head, &r->swap.tail, &r->swap.n_swapped, v);
    return 0;
}

void swap_in_ready(replica *r, int64_t *budget)
{
    while (r->swap.head && r->queue.n_running + r->disagg.n_inbound < r->cfg.max_running && *budget > 0) {
        serve_req *q = r->swap.head;
        int64_t x = replica_step_tokens(r, q, *budget);
        if (x <= 0 || kv_seq_reserve(r->kv, &q->seq, q->swapped_tokens + x) < 0)
            return;
        int64_t blocks = kv_blocks(r, q->swapped_tokens);
        replica_queue_remove(&r->swap.head, &r->swap.tail, &r->swap.n_swapped, q);
        r->swap.used_blocks -= blocks;
        q->swapped_tokens = 0;
        start_copy(r, blocks, 1);
        r->queue.running[r->queue.n_running++] = q;
        replica_batch_add(r, q, x);
        *budget -= x;
    }
}

void swap_lose_all(replica *r)
{
    serve_req *q = r->swap.head;
    r->swap.head = r->swap.tail = NULL;
    r->swap.n_swapped = 0;
    r->swap.used_blocks = 0;
    r->swap.n_pending = 0;
    for (serve_req *next; q; q = next) {
        next = q->next;
        q->next = NULL;
        q->swapped_tokens = 0;
        failure_lose(r, q);
    }
}
