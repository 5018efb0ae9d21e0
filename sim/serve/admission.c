/* admission.c — admission and preemption policies behind one dispatch: vLLM's preempt-newest, TensorRT-LLM's no-evict and max-utilization, SGLang's conservative ratio. */
#include "serve_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const admission_policy_names[ADMISSION_POLICY_COUNT + 1] = {
    "preempt_newest", "trtllm_no_evict", "trtllm_max_utilization", "sglang_conservative", NULL
};

/* SGLang's floor for the ratio and its decay per step (the ratio walks
 * from its initial value down to the floor in DECAY_STEPS steps). */
#define SGLANG_MIN_RATIO (ADMISSION_SGLANG_INIT_RATIO * ADMISSION_SGLANG_MIN_RATIO_FACTOR)
#define SGLANG_RATIO_DECAY ((ADMISSION_SGLANG_INIT_RATIO - SGLANG_MIN_RATIO) / ADMISSION_SGLANG_DECAY_STEPS)

void admission_state_init(admission_state *s)
{
    s->new_token_ratio = ADMISSION_SGLANG_INIT_RATIO;
    s->iterations_seen = 0;
}

int64_t admission_max_output_tokens(const replica *r, const serve_req *q)
{
    int64_t rest = r->cm->m->max_context_tokens - q->rec.prompt_tokens;
    int64_t n = r->cfg.max_output_tokens > 0 && r->cfg.max_output_tokens < rest ? r->cfg.max_output_tokens : rest;
    return n > 1 ? n : 1;
}

/* What a policy's admission test has left in this step: blocks
 * (no-evict) or tokens (SGLang). */
typedef struct admission_room {
    int64_t blocks;
    double tokens;
} admission_room;

/* Whether q (its prefix attached, q->computed up to date) may join under
 * the policy's test; takes what it admits off room. */
typedef int (*admission_fits_fn)(const replica *r, const serve_req *q, admission_room *room);

/* v (running) yields its blocks: its KV is swapped to host memory
 * (preemption swap), or freed and computed again (counted as waste) when
 * it is admitted anew, ahead of every other waiting request. running
 * keeps its order. */
static void preempt_at(replica *r, int i)
{
    serve_req *v = r->queue.running[i];
    memmove(&r->queue.running[i], &r->queue.running[i + 1],
            (size_t)(r->queue.n_running - i - 1) * sizeof *r->queue.running);
    r->queue.n_running--;
    v->rec.preemptions++;
    if (swap_out(r, v) == 0)
        return;
    replica_req_drop_kv(r, v);
    replica_wait_push_front(r, v);
}

/* Gives running sequences their tokens, preempting the newest when blocks
 * run out. Returns 1 if anything was preempted. */
static int schedule_running(replica *r, int64_t *budget)
{
    int preempted = 0;
    for (int i = 0; i < r->queue.n_running && *budget > 0; i++) {
        serve_req *q = r->queue.running[i];
        int64_t x = replica_step_tokens(r, q, *budget);
        if (x <= 0)
            continue;
        int self = 0;
        while (kv_seq_reserve(r->kv, &q->seq, serve_req_kv_tokens(q) + x) < 0) {
            self = r->queue.n_running - 1 == i;
            preempt_at(r, r->queue.n_running - 1);
            preempted = 1;
            if (self)
                break;
        }
        if (self)
            break;
        replica_batch_add(r, q, x);
        *budget -= x;
    }
    return preempted;
}

/* Admits q (in the waiting queue) into this step, or returns -1 when the
 * budget, the policy's test (fits, none when NULL) or the blocks do not
 * allow it. */
static int admit(replica *r, serve_req *q, int64_t *budget, int64_t now, admission_fits_fn fits,
                 admission_room *room)
{
    /* A retry that would attach and release its prefix without changing
     * the pool only asks whether the reserve would succeed; it attaches
     * when it will (the policies' tests read the attached blocks: they
     * always attach). The pool and the tiers are apart, so attaching after
     * the tiers' lookup changes neither. */
    uint32_t free_matched = 0;
    int64_t found = fits ? -1 : kv_seq_retry_prefix(r->kv, &q->seq, &q->content, q->num_tokens, &free_matched);
    q->computed = found >= 0 ? found : kv_seq_attach_prefix(r->kv, &q->seq, &q->content, q->num_tokens);
    if (!q->admitted)
        q->rec.prefix_hit_tokens = q->computed;
    q->remote_tokens = 0;
    int64_t fetched = r->tiers ? fetch_tier_admit(r, q) : 0;
    q->computed += fetched + q->remote_tokens;
    int64_t x = replica_step_tokens(r, q, *budget), want = serve_req_kv_tokens(q) + x;
    int attached = found < 0, fail = x <= 0 || (fits && !fits(r, q, room));
    if (!fail && !attached) {
        fail = !kv_seq_retry_fits(r->kv, found, free_matched, want);
        attached = !fail && kv_seq_attach_prefix(r->kv, &q->seq, &q->content, q->num_tokens) == found;
    }
    if (fail || !attached || kv_seq_reserve(r->kv, &q->seq, want) < 0) {
        if (attached || q->seq.n_blocks)
            kv_seq_release(r->kv, &q->seq);
        q->computed = 0;
        q->remote_tokens = 0;
        return -1;
    }
    if (q->remote_tokens) {
        /* HBM holds what follows a gap now: its blocks are not prefix content. */
        q->seq.sealed = 1;
        q->rec.in_storage_tokens += q->remote_tokens;
    }
    q->computed -= fetched;
    if (fetched)
        fetch_start(r, q, fetched, now);
    if (q->tier_recompute_until > q->computed)
        q->rec.tier_recomputed_tokens += q->tier_recompute_until - q->computed;
    q->admitted = 1;
    if (q->rec.first_sched_ns < 0)
        q->rec.first_sched_ns = now;
    r->queue.running[r->queue.n_running++] = q;
    replica_batch_add(r, q, x);
    *budget -= x;
    return 0;
}

/* Admits waiting requests in arrival order while room remains (fits:
 * the policy's test, or NULL); requests whose prefetch is still in flight
 * keep their place and are passed over. */
static void schedule_waiting(replica *r, int64_t *budget, int64_t now, admission_fits_fn fits, admission_room *room)
{
    serve_req *prev = NULL, *q = r->queue.wait_head;
    while (q && r->queue.n_running + r->disagg.n_inbound < r->cfg.max_running && *budget > 0) {
        serve_req *next = q->next;
        if (q->prefetch_slot >= 0) {
            prev = q;
        } else if (admit(r, q, budget, now, fits, room) == 0) {
            replica_wait_remove(r, prev, q);
        } else {
            break;
        }
        q = next;
    }
}

/* ---------- TensorRT-LLM GUARANTEED_NO_EVICT ----------
 * Follows GuaranteedNoEvictScheduler in
 * cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp: requests already
 * generating are scheduled first and the blocks each still needs to reach
 * completion (NoEvictScheduledBlocksManager) are set aside; then pending
 * requests, in order, are scheduled while the blocks for their whole
 * prompt plus maximum new tokens fit in what is left, stopping at the
 * first that does not. Blocks are still taken step by step; the set-aside
 * is bookkeeping, so running sequences never run out (when a request
 * outgrows the assumed maximum output, the newest yields as a last resort). */

/* KV tokens q holds at most as the scheduler sees it: its prompt and all
 * but the last of its assumed maximum output. */
static int64_t assumed_peak_kv_tokens(const replica *r, const serve_req *q)
{
    return q->rec.prompt_tokens + admission_max_output_tokens(r, q) - 1;
}

/* Free blocks less what running sequences still need to finish. */
static int64_t no_evict_room_blocks(const replica *r)
{
    int64_t room = kv_pool_free_blocks(r->kv);
    for (int i = 0; i < r->queue.n_running; i++) {
        const serve_req *q = r->queue.running[i];
        room -= kv_seq_blocks_short(r->kv, &q->seq, assumed_peak_kv_tokens(r, q));
    }
    return room;
}

static int no_evict_fits(const replica *r, const serve_req *q, admission_room *room)
{
    int64_t need = kv_seq_blocks_short(r->kv, &q->seq, assumed_peak_kv_tokens(r, q));
    if (need > room->blocks)
        return 0;
    room->blocks -= need;
    return 1;
}

/* ---------- TensorRT-LLM MAX_UTILIZATION ----------
 * Follows MaxUtilizationScheduler in capacityScheduler.cpp: requests, in
 * order (started ones first), are scheduled while the blocks for their
 * next step fit; when one does not, the last started request is paused
 * (its blocks freed: LlmRequest::pause in llmRequest.h makes the tokens it
 * has so far its new prompt, computed again when it is scheduled anew)
 * and the test is repeated; a pending request that does not fit with no
 * started request behind it ends the pass, and nothing behind a paused
 * request is scheduled in that pass. That is exactly what
 * schedule_running and schedule_waiting do for preempt_newest, so the two
 * share those calls; they differ without chunked prefill, where
 * TensorRT-LLM still batches context and generation requests together
 * while vLLM runs prefill-only steps. */

/* ---------- SGLang conservative admission and retraction ----------
 * Follows PrefillAdder in python/sglang/srt/managers/schedule_policy.py:
 * the tokens left for new requests are the free (and evictable) ones less,
 * for each running request, min(max_new_tokens - generated, CLIP) times
 * new_token_ratio; a new request needs its uncached prompt plus
 * min(max_new_tokens, CLIP) plus one page, and is refused when that is
 * not below what is left. The ratio (scheduler.py, update_running_batch)
 * decays by (init - min) / DECAY_STEPS per decode step down to min; when
 * the next decode step does not fit, ScheduleBatch.retract_decode
 * (schedule_batch.py) retracts requests, the one with the fewest output
 * tokens first (ties: the longest prompt), freeing their KV to recompute
 * later, and sets the ratio to (decoded tokens + RETRACT_DECODE_STEPS per
 * remaining request) / (their max_new_tokens + 1), at most 1. */

/* Output q may still write as SGLang estimates it: what is left of its
 * maximum (none once a request outruns the assumed maximum), clipped. */
static int64_t sglang_new_tokens(const replica *r, const serve_req *q)
{
    int64_t left = admission_max_output_tokens(r, q) - q->generated;
    left = left > 0 ? left : 0;
    return left < ADMISSION_SGLANG_CLIP_MAX_NEW_TOKENS ? left : ADMISSION_SGLANG_CLIP_MAX_NEW_TOKENS;
}

/* The ratio decays once for every iteration run since it last did. */
static void sglang_decay(replica *r)
{
    int64_t steps = r->acct->iterations - r->adm.iterations_seen;
    r->adm.iterations_seen = r->acct->iterations;
    double ratio = r->adm.new_token_ratio - SGLANG_RATIO_DECAY * (double)steps;
    r->adm.new_token_ratio = ratio > SGLANG_MIN_RATIO ? ratio : SGLANG_MIN_RATIO;
}

/* Blocks the running sequences' next step takes from the pool, each given
 * its tokens within the step's budget as schedule_running will. */
static int64_t running_step_blocks(const replica *r)
{
    int64_t budget = r->cfg.token_budget, need = 0;
    for (int i = 0; i < r->queue.n_running && budget > 0; i++) {
        const serve_req *q = r->queue.running[i];
        int64_t x = replica_step_tokens(r, q, budget);
        if (x <= 0)
            continue;
        need += kv_seq_blocks_short(r->kv, &q->seq, serve_req_kv_tokens(q) + x);
        budget -= x;
    }
    return need;
}

/* The running sequence SGLang retracts first: fewest generated tokens,
 * then longest prompt, then the newest. */
static int sglang_victim(const replica *r)
{
    int v = r->queue.n_running - 1;
    for (int i = v - 1; i >= 0; i--) {
        const serve_req *a = r->queue.running[i], *b = r->queue.running[v];
        if (a->generated < b->generated || (a->generated == b->generated && a->rec.prompt_tokens > b->rec.prompt_tokens))
            v = i;
    }
    return v;
}

/* Retracts running sequences until their next step fits; when any was
 * retracted, re-estimates the ratio from those that remain. Returns 1 if
 * anything was retracted. */
static int sglang_retract(replica *r)
{
    int retracted = 0;
    while (r->queue.n_running > 0 && running_step_blocks(r) > (int64_t)kv_pool_free_blocks(r->kv)) {
        preempt_at(r, sglang_victim(r));
        retracted = 1;
    }
    if (!retracted)
        return 0;
    double decoded = 0, max_new = 0;
    for (int i = 0; i < r->queue.n_running; i++) {
        const serve_req *q = r->queue.running[i];
        decoded += (double)q->generated + ADMISSION_SGLANG_RETRACT_DECODE_STEPS;
        max_new += (double)admission_max_output_tokens(r, q);
    }
    double ratio = decoded / (max_new + 1);
    ratio = ratio < 1 ? ratio : 1;
    r->adm.new_token_ratio = ratio > SGLANG_MIN_RATIO ? ratio : SGLANG_MIN_RATIO;
    return 1;
}

/* Free tokens less what running requests may still write: the rest of a
 * prompt whose prefill is chunked in full (SGLang charges a chunked
 * request's whole input when it first adds it) and the ratio's share of
 * their output. */
static double sglang_room_tokens(const replica *r)
{
    double room = (double)kv_pool_free_blocks(r->kv) * kv_pool_block_tokens(r->kv);
    for (int i = 0; i < r->queue.n_running; i++) {
        const serve_req *q = r->queue.running[i];
        room -= (double)(q->num_tokens - q->computed) +
                (double)sglang_new_tokens(r, q) * r->adm.new_token_ratio;
    }
    return room;
}

static int sglang_fits(const replica *r, const serve_req *q, admission_room *room)
{
    double need = (double)(q->num_tokens - q->computed) +
                  (double)sglang_new_tokens(r, q) + kv_pool_block_tokens(r->kv);
    if (need >= room->tokens)
        return 0;
    room->tokens -= need;
    return 1;
}

/* vLLM without chunked prefill (Scheduler._schedule_default, vllm/core/
 * scheduler.py, v0.4): waiting prompts are scheduled first, whole, in
 * arrival order while the budget, the sequence slots and the blocks allow;
 * a step that scheduled any is a prefill step and the running sequences do
 * not decode in it; while any sequence is swapped out no prompt is.
 * Returns 1 when it filled a prefill step. */
static int vllm_prefill_step(replica *r, int64_t *budget, int64_t now)
{
    if (r->cfg.chunked_prefill || !r->queue.wait_head || r->swap.head)
        return 0;
    schedule_waiting(r, budget, now, NULL, NULL);
    return r->step.n_batch > 0;
}

void admission_fill_batch(replica *r, int64_t *budget, int64_t now)
{
    admission_room room = { 0, 0 };
    switch (r->cfg.admission) {
    case ADMISSION_PREEMPT_NEWEST:
        /* Without chunking, decodes run in the steps no prompt could take. */
        if (vllm_prefill_step(r, budget, now))
            return;
        /* A step that preempted swaps nothing in and admits nothing. */
        if (schedule_running(r, budget))
            return;
        swap_in_ready(r, budget);
        if (r->cfg.chunked_prefill)
            schedule_waiting(r, budget, now, NULL, NULL);
        return;
    case ADMISSION_TRTLLM_MAX_UTILIZATION:
        if (!schedule_running(r, budget))
            schedule_waiting(r, budget, now, NULL, NULL);
        return;
    case ADMISSION_TRTLLM_NO_EVICT:
        if (!schedule_running(r, budget)) {
            room.blocks = no_evict_room_blocks(r);
            schedule_waiting(r, budget, now, no_evict_fits, &room);
        }
        return;
    case ADMISSION_SGLANG_CONSERVATIVE:
        sglang_decay(r);
        /* Those retracted wait; the rest decode in this step. */
        if ((sglang_retract(r) | schedule_running(r, budget)) == 0) {
            room.tokens = sglang_room_tokens(r);
            schedule_waiting(r, budget, now, sglang_fits, &room);
        }
        return;
    case ADMISSION_POLICY_COUNT:
        break;
    }
    fprintf(stderr, "kvtier: admission: no policy %d\n", (int)r->cfg.admission);
    abort();
}
