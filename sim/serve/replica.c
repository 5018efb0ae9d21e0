/* replica.c — a replica's continuous batching: queues, chunked prefill, preemption, multi-step decode runs. */
#include "serve_internal.h"
#include "fetch_policy.h"
#include "kv_layout.h"
#include "grow.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Bits in a word of the kv_due scratch (replica_step). */
#define DUE_WORD_BITS 64

const char *const replica_role_names[ROLE_COUNT + 1] = { "colocated", "prefill", "decode", NULL };
const char *const serve_too_long_names[TOO_LONG_COUNT + 1] = { "reject", "truncate", NULL };
const char *const serve_preemption_names[PREEMPT_MODE_COUNT + 1] = { "recompute", "swap", NULL };

/* Windowed layers next to full-context ones hold their windows in blocks
 * of the pool's size (kv_pool_set_windows): ratio = a window layer group's
 * bytes per token over a block's bytes per token. */
static void set_pool_windows(replica *r)
{
    kv_layout kl;
    kv_layout_init(&kl, r->cm, KV_LAYOUT_HBM_QUANT_GROUP, kv_pool_block_tokens(r->kv));
    kv_pool_set_windows(r->kv, kl.n_windows < KV_MAX_WINDOWS ? kl.n_windows : KV_MAX_WINDOWS, kl.window_tokens,
                        kl.window_ratio);
}

double replica_kv_bytes(const replica *r, int64_t tokens)
{
    return kv_layout_context_bytes_gpu(r->cm, tokens) * r->gpus;
}

/* Steps a run may hold: the rows of the per-step arrays. */
static int run_steps_cap(const serve_cfg *cfg)
{
    return cfg->max_multi_step > 0 ? cfg->max_multi_step : 1;
}

int replica_init(replica *r, const replica_config *c)
{
    const serve_cfg *cfg = c->cfg;
    memset(r, 0, sizeof *r);
    r->id = c->id;
    r->gpus = c->gpus;
    r->eng = c->eng;
    r->cm = c->cm;
    r->cfg = *cfg;
    r->met = c->met;
    r->acct = &c->met->replicas[c->id];
    r->acct->gpus = c->gpus;
    r->acct->peak_flops_gpu = c->cm->gemm_peak_flops;
    r->acct->peak_hbm_Bps = c->cm->hw->hbm_bw_Bps;
    r->on_done = c->on_done;
    r->ud = c->ud;
    admission_state_init(&r->adm);
    r->sparse.tier = -1;
    int steps = run_steps_cap(cfg);
    r->kv = kv_pool_new(c->kv_blocks, c->block_tokens, c->prefix_cache ? KV_PREFIX_CACHE_ON : KV_PREFIX_CACHE_OFF);
    if (r->kv)
        set_pool_windows(r);
    r->queue.running = calloc((size_t)cfg->max_running, sizeof *r->queue.running);
    r->step.batch = calloc((size_t)cfg->max_running, sizeof *r->step.batch);
    /* Room for a decode batch padded up to its CUDA-graph size. */
    int largest = cfg->n_graph_sizes ? cfg->graph_sizes[cfg->n_graph_sizes - 1] : 0;
    r->step.cseqs = calloc((size_t)(largest > cfg->max_running ? largest : cfg->max_running), sizeof *r->step.cseqs);
    r->step.step_end_ns = calloc((size_t)steps, sizeof *r->step.step_end_ns);
    r->step.step_cost = calloc((size_t)steps, sizeof *r->step.step_cost);
    r->step.kv_due_words = (cfg->max_running + DUE_WORD_BITS - 1) / DUE_WORD_BITS;
    r->step.kv_due = calloc((size_t)steps * (size_t)r->step.kv_due_words, sizeof *r->step.kv_due);
    int spec_rc = spec_state_init(&r->spec, c->spec, &cfg->spec_accept, c->seed, c->id, cfg->max_running);
    if (!r->kv || !r->queue.running || !r->step.batch || !r->step.cseqs || !r->step.step_end_ns ||
        !r->step.step_cost || !r->step.kv_due || spec_rc < 0) {
        replica_destroy(r);
        return -1;
    }
    return 0;
}

void replica_destroy(replica *r)
{
    tier_set_free(r->tiers);
    sparse_destroy(r);
    free(r->fetch.hash_scratch);
    kv_pool_free(r->kv);
    free(r->queue.running);
    free(r->step.batch);
    free(r->step.cseqs);
    free(r->step.step_end_ns);
    free(r->step.step_cost);
    free(r->step.kv_due);
    spec_state_free(&r->spec);
    memset(r, 0, sizeof *r);
}

int replica_load(const replica *r)
{
    return r->queue.n_running + r->queue.n_waiting + r->swap.n_swapped + r->disagg.n_in_wait + r->disagg.n_inbound;
}

/* Appends q to the queue (head, tail, count n) linked through next. */
void replica_queue_push_back(serve_req **head, serve_req **tail, int *n, serve_req *q)
{
    q->next = NULL;
    if (*tail)
        (*tail)->next = q;
    else
        *head = q;
    *tail = q;
    (*n)++;
}

/* Unlinks q from the queue (head, tail, count n) linked through next. */
void replica_queue_remove(serve_req **head, serve_req **tail, int *n, serve_req *q)
{
    serve_req *prev = NULL;
    for (serve_req *x = *head; x; prev = x, x = x->next)
        if (x == q) {
            if (prev)
                prev->next = q->next;
            else
                *head = q->next;
            if (*tail == q)
                *tail = prev;
            q->next = NULL;
            (*n)--;
            return;
        }
}

static void wait_push_back(replica *r, serve_req *q)
{
    replica_queue_push_back(&r->queue.wait_head, &r->queue.wait_tail, &r->queue.n_waiting, q);
}

void replica_wait_push_front(replica *r, serve_req *q)
{
    q->next = r->queue.wait_head;
    r->queue.wait_head = q;
    if (!r->queue.wait_tail)
        r->queue.wait_tail = q;
    r->queue.n_waiting++;
}

/* Unlinks q, whose predecessor in the queue is prev (NULL at the head). */
void replica_wait_remove(replica *r, serve_req *prev, serve_req *q)
{
    if (prev)
        prev->next = q->next;
    else
        r->queue.wait_head = q->next;
    if (r->queue.wait_tail == q)
        r->queue.wait_tail = prev;
    q->next = NULL;
    r->queue.n_waiting--;
}

/* Hands the finished record to metrics (which takes the gap array). */
void replica_req_leave(replica *r, serve_req *q, metrics_outcome outcome, int64_t now)
{
    q->rec.outcome = outcome;
    q->rec.replica = r->id;
    if (outcome == REQ_COMPLETED)
        q->rec.finish_ns = now;
    kv_seq_release(r->kv, &q->seq);
    metrics_add_request(r->met, &q->rec);
    q->rec.gaps = NULL;
    q->cap_gaps = 0;
    r->on_done(r->ud, q, now);
}

void replica_req_drop_kv(replica *r, serve_req *q)
{
    kv_seq_release(r->kv, &q->seq);
    if (q->computed > q->recompute_until)
        q->recompute_until = q->computed;
    q->computed = 0;
    q->retention_dropped_tokens = 0;
    q->remote_tokens = 0;
    sparse_forget(q);
}

/* Largest KV a request ever needs: its prompt and all but its last output token. */
static int64_t peak_kv_tokens(const serve_req *q)
{
    return q->rec.prompt_tokens + q->rec.output_tokens - 1;
}

/* Cuts q's fresh prompt (longer than the model's context) to its first
 * tokens as SGLang's auto-truncation does, clipping its output to what
 * fits after it. Returns 0, or -1 when the context is too short to keep
 * a prompt and an output token. */
static int truncate_prompt(const replica *r, serve_req *q)
{
    int64_t ctx = r->cm->m->max_context_tokens, keep = ctx - SERVE_TRUNCATE_MARGIN_TOKENS;
    int64_t out = ctx - SERVE_TRUNCATE_OUTPUT_MARGIN_TOKENS - keep;
    if (keep < 1 || out < 1 || q->generated > 0)
        return -1;
    q->rec.truncated_tokens = q->rec.prompt_tokens - keep;
    q->rec.prompt_tokens = q->num_tokens = keep;
    if (q->rec.output_tokens > out)
        q->rec.output_tokens = out;
    return 0;
}

/* Why r must refuse q, if it must (REJECT_NONE when not), noting in q's
 * record what it needs and what r has. */
static metrics_reject rejection(const replica *r, serve_req *q)
{
    int64_t context = r->cm->m->max_context_tokens;
    int64_t need = (int64_t)kv_blocks_for(r->kv, peak_kv_tokens(q)), have = (int64_t)kv_pool_blocks(r->kv);
    if (q->rec.prompt_tokens > context) {
        q->rec.reject_reason = REJECT_CONTEXT;
        q->rec.reject_need = q->rec.prompt_tokens;
        q->rec.reject_have = context;
    } else if (need > have) {
        q->rec.reject_reason = REJECT_KV_POOL;
        q->rec.reject_need = need;
        q->rec.reject_have = have;
    } else {
        return REJECT_NONE;
    }
    return q->rec.reject_reason;
}

/* Queues q (num_tokens set) at r, or rejects it when it can never fit:
 * every engine refuses a prompt longer than the model's context by default
 * (vLLM's input processor and SGLang's tokenizer manager raise an error;
 * TensorRT-LLM checks against its max sequence length) unless told to
 * truncate it (cfg.too_long), and a request whose KV can never fit the
 * pool could never finish. */
static void enqueue(replica *r, serve_req *q)
{
    q->rep = r;
    q->prefetch_slot = -1;
    if (q->rec.prompt_tokens > r->cm->m->max_context_tokens && r->cfg.too_long == TOO_LONG_TRUNCATE)
        truncate_prompt(r, q);
    if (rejection(r, q) != REJECT_NONE) {
        if (q->rec.first_sched_ns < 0)
            q->rec.first_sched_ns = q->rec.first_token_ns = engine_now(r->eng);
        replica_req_leave(r, q, REQ_REJECTED, engine_now(r->eng));
        return;
    }
    wait_push_back(r, q);
    if (r->tiers && fetch_policy_prefetch_on_arrival(r->tiers->cfg.fetch)) {
        q->prefetch_slot = replica_prefetch(r, &q->content, q->num_tokens);
        if (q->prefetch_slot >= 0)
            r->fetch.prefetches[q->prefetch_slot].waiter = q;
    }
    replica_sync(r);
    replica_step_if_idle(r);
}

/* A new request's state before any replica has taken it. */
static void req_fresh(serve_req *q)
{
    q->num_tokens = q->rec.prompt_tokens;
    q->rec.first_sched_ns = -1;
    q->rec.prefill_replica = -1;
    spec_req_fresh(&q->spec);
}

void replica_submit(replica *r, serve_req *q)
{
    req_fresh(q);
    enqueue(r, q);
}

void replica_resubmit(replica *r, serve_req *q) { enqueue(r, q); }

void replica_reject(replica *r, serve_req *q)
{
    int64_t now = engine_now(r->eng);
    if (!q->rep)
        req_fresh(q);           /* no replica was alive when it arrived */
    handoff_src_release(q);
    q->rec.reject_reason = REJECT_NO_REPLICA;
    if (q->rec.first_sched_ns < 0)
        q->rec.first_sched_ns = now;
    if (q->generated == 0)
        q->rec.first_token_ns = now;
    replica_req_leave(r, q, REQ_REJECTED, now);
}

/* Tokens of [from, from+n) below limit. */
static int64_t overlap(int64_t from, int64_t n, int64_t limit)
{
    int64_t end = from + n < limit ? from + n : limit;
    return end > from ? end - from : 0;
}

void replica_batch_add(replica *r, serve_req *q, int64_t tokens)
{
    r->step.n_batch_remote += q->remote_tokens > 0;
    int64_t limit = q->recompute_until > q->tier_recompute_until ? q->recompute_until : q->tier_recompute_until;
    int verify = spec_is_verify(&r->spec, q, tokens);
    if (q->computed >= limit) {     /* the usual case: nothing is recomputed */
        r->step.batch[r->step.n_batch++] = (serve_batch_entry){ q, tokens, 0, 0, verify };
        return;
    }
    int64_t all = overlap(q->computed, tokens, limit), tier = overlap(q->computed, tokens, q->tier_recompute_until);
    r->step.batch[r->step.n_batch++] = (serve_batch_entry){ q, tokens, all - tier, tier, verify };
}

/* Tokens q may compute this step within budget; 0 when it must wait.
 * Without chunked prefill a prompt longer than the whole token budget runs
 * alone, whole, in a step of its own (otherwise it could never run). A
 * decoding sequence under speculative decoding verifies k drafts (k + 1
 * positions) when the budget holds them. */
int64_t replica_step_tokens(const replica *r, const serve_req *q, int64_t budget)
{
    int64_t verify = spec_verify_tokens(&r->spec, q, budget);
    if (verify > 0)
        return verify;
    int64_t want = q->num_tokens - q->computed;
    if (want <= budget)
        return want;
    if (r->cfg.chunked_prefill)
        return budget;
    return budget == r->cfg.token_budget && want > r->cfg.token_budget ? want : 0;
}

int64_t replica_decode_tokens(const replica *r, const serve_req *q)
{
    (void)r;
    return spec_step_tokens(&q->spec);
}

/* Steps of a run, at most k, after which no tier traffic would be queued
 * inside it: copies to the tiers start when the event that queued them
 * flushes them (tier_set_flush), so a block filled under write-through
 * (registered at once) at any step but the run's last would start its copy
 * at the run's end instead of that step's, as stepping one at a time does. */
static int64_t tier_quiet_steps(const replica *r, int64_t k)
{
    if (!r->tiers || r->tiers->cfg.offload != OFFLOAD_WRITE_THROUGH)
        return k;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_req *q = r->step.batch[i].r;
        /* Step 0 holds the block its token goes to, so the first block a
         * commit would register is among those held (none: no prefix
         * cache, or sealed). The step that computes token due - 1
         * registers it: step ceil((due - computed) / n) - 1, which may be
         * the run's last. */
        int64_t n = replica_decode_tokens(r, q), due = kv_seq_commit_due_tokens(r->kv, &q->seq);
        if (due == INT64_MAX)
            continue;
        int64_t last = (due - q->computed + n - 1) / n;
        if (last < k)
            k = last;
    }
    return k;
}

/* Decode steps the batch may advance in one event with nothing able to
 * change in between: every entry decodes, no request could be admitted, no
 * sequence finishes before the last step, and the blocks they will need are
 * free now (only this replica takes blocks from its pool). Under
 * speculative decoding each step's tokens are drawn when it is applied, so
 * every step is an event of its own. */
static int multi_step_count(const replica *r)
{
    int could_admit = (r->queue.wait_head || r->disagg.in_wait_head || r->swap.head) &&
                      r->queue.n_running < r->cfg.max_running;
    if (r->cfg.max_multi_step <= 1 || could_admit || sparse_moves_pages(r) || r->spec.cost ||
        r->step.n_batch != r->queue.n_running || r->step.n_batch > r->cfg.token_budget)
        return 1;
    int64_t k = r->cfg.max_multi_step;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_req *q = r->step.batch[i].r;
        int64_t n = replica_decode_tokens(r, q);
        if (r->step.batch[i].tokens != n || q->generated < 1)
            return 1;
        int64_t steps_left = (q->rec.output_tokens - q->generated + n - 1) / n;
        if (steps_left < k)
            k = steps_left;
    }
    k = tier_quiet_steps(r, k);
    /* Under tiers a block taken from cached content evicts it, and its copy
     * would wait for the run's event: take only blocks holding nothing. */
    uint64_t free = kv_pool_free_blocks(r->kv) - (r->tiers ? kv_pool_cached_blocks(r->kv) : 0);
    for (; k > 1; k /= 2) {
        uint64_t need = 0;
        for (int i = 0; i < r->step.n_batch; i++) {
            const serve_req *q = r->step.batch[i].r;
            need += kv_seq_blocks_short(r->kv, &q->seq, serve_req_kv_tokens(q) + k * replica_decode_tokens(r, q));
        }
        if (need <= free)
            break;
    }
    return k < 1 ? 1 : (int)k;
}

/* Sequences attending to a prefix inside a tier: every layer waits for the
 * slowest tier's answer when it takes longer than the layer's GPU work. */
static void in_storage_wait(replica *r, cost_iter *it)
{
    const cost_model *cm = r->cm;
    if (!r->step.n_batch_remote)
        return;
    double gpu_layer = (double)it->total_ns / cm->m->n_layers, total = 0;
    for (int g = 0; g < cm->n_groups; g++) {
        double slowest = 0;
        for (int i = 0; i < r->step.n_batch; i++) {
            const serve_req *q = r->step.batch[i].r;
            if (q->remote_tokens > 0) {
                double ns = (double)tier_attention_layer_ns(r->tiers, q->remote_tier, cm->m, cm->groups[g].layer,
                                                            r->step.batch[i].tokens, q->remote_tokens);
                slowest = ns > slowest ? ns : slowest;
            }
        }
        total += cm->groups[g].count * (gpu_layer > slowest ? gpu_layer : slowest);
    }
    int64_t extra = llround(total) - it->total_ns;
    if (extra > 0) {
        it->total_ns += extra;
        it->wait_ns = extra;
    }
}

/* 1 when b, before its step, decodes: it has a token already and computes
 * the next one's KV only (no prompt, no recomputation). */
static int is_decode_entry(const replica *r, const serve_batch_entry *b)
{
    return b->tokens == replica_decode_tokens(r, b->r) && b->r->generated >= 1 && !b->wasted && !b->wasted_tier;
}

/* Rows a decode-only batch of n runs with: the smallest captured CUDA-graph
 * size holding it (vLLM, SGLang and TensorRT-LLM pad a decode batch up to
 * a captured size and replay that graph); n itself when no size holds it
 * (the step runs without a graph), or the batch also prefills, recomputes
 * or verifies drafts (so a padded step's only waste is its padding). */
static int graph_rows(const replica *r, int n)
{
    for (int i = 0; i < r->step.n_batch && i < n; i++)
        if (!is_decode_entry(r, &r->step.batch[i]) || r->step.batch[i].verify)
            return n;
    for (int i = 0; i < r->cfg.n_graph_sizes; i++)
        if (r->cfg.graph_sizes[i] >= n)
            return r->cfg.graph_sizes[i];
    return n;
}

/* Sequences the batch's step 0 samples a token for: a verify at every
 * position (the last token's and each draft's), others when their step
 * reaches the end of what they hold. Steps s > 0 of a run sample alike. */
static int step_logits(const replica *r)
{
    int n_logits = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_batch_entry *b = &r->step.batch[i];
        n_logits += b->verify ? (int)b->tokens : b->r->computed + b->tokens == b->r->num_tokens;
    }
    return n_logits;
}

/* Each step's cost from cseqs (step 0's batch and padding) with n_logits
 * rows sampling, when the run decodes one token a step without
 * speculation: the steps then differ only in their contexts, s tokens
 * further at step s, and cost_decode_step costs them without walking the
 * batch again. Returns 0 when it does not apply. */
static int cost_decode_steps(replica *r, int n_logits)
{
    if (r->spec.cost)
        return 0;
    for (int i = 0; i < r->step.n_batch; i++)
        if (replica_decode_tokens(r, r->step.batch[i].r) != 1)
            return 0;
    cost_decode d;
    if (cost_decode_init(r->cm, r->step.cseqs, r->step.n_batch, r->step.pad_rows, n_logits, &d) < 0)
        return 0;
    for (int s = 0; s < r->step.steps; s++)
        cost_decode_step(r->cm, &d, s, &r->step.step_cost[s]);
    return 1;
}

/* Costs each step of the run from the batch as it will be at that step;
 * the rows a CUDA graph pads the batch with are dummy decodes of one
 * token over no KV, marked wasted (account_step keeps them out of the
 * useful work). */
static void cost_steps(replica *r, int64_t start)
{
    int64_t t = start;
    r->step.start_ns = start;
    int rows = graph_rows(r, r->step.n_batch);
    r->step.pad_rows = rows - r->step.n_batch;
    for (int i = r->step.n_batch; i < rows; i++)
        r->step.cseqs[i] = (cost_seq){ 1, 0, 1, 0 };
    int n_logits = step_logits(r);
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_batch_entry *b = &r->step.batch[i];
        r->step.cseqs[i] = (cost_seq){ b->tokens, serve_req_attn_tokens(b->r), b->wasted + b->wasted_tier, b->verify };
    }
    int decoded = cost_decode_steps(r, n_logits + r->step.pad_rows);
    for (int s = 0; s < r->step.steps; s++) {
        if (!decoded) {
            for (int i = 0; i < r->step.n_batch && s > 0; i++) {
                const serve_batch_entry *b = &r->step.batch[i];
                /* Step s > 0 of a run is a decode step of every entry. */
                int64_t before = s * replica_decode_tokens(r, b->r);
                r->step.cseqs[i] = (cost_seq){ b->tokens, serve_req_attn_tokens(b->r) + before, 0, b->verify };
            }
            cost_iteration(r->cm, r->step.cseqs, rows, n_logits + r->step.pad_rows, &r->step.step_cost[s]);
        }
        in_storage_wait(r, &r->step.step_cost[s]);
        spec_step_cost(&r->spec, r->step.cseqs, r->step.n_batch, &r->step.step_cost[s]);
        t += r->step.step_cost[s].total_ns;
        r->step.step_end_ns[s] = t;
    }
}

/* The planned run's compute starts at now: its steps are costed, the
 * pages the next step is predicted to select start moving, and its end is
 * scheduled. */
static void start_compute(replica *r, int64_t now)
{
    cost_steps(r, now);
    sparse_step_compute(r);
    r->step.ev = engine_at(r->eng, r->step.step_end_ns[r->step.steps - 1], replica_on_step_end, r, 0);
}

/* Plans and starts the next run if there is work. */
static void replica_plan(replica *r)
{
    int64_t now = engine_now(r->eng), budget = r->cfg.token_budget;
    r->step.n_batch = 0;
    r->step.n_batch_remote = 0;
    if (r->disagg.in_wait_head && !r->queue.wait_head)
        handoff_drain(r);
    admission_fill_batch(r, &budget, now);
    if (r->step.n_batch == 0)
        return;
    r->step.steps = replica_kv_pending(r) ? 1 : multi_step_count(r);
    r->step.applied = 0;
    r->step.busy = 1;
    sparse_step_plan(r);
    if ((r->fetch.n_pending && !fetch_policy_overlaps_compute(r->tiers->cfg.fetch)) || r->swap.n_pending ||
        r->sparse.n_pending) {
        /* A page fault, or swap copies or selected pages queued ahead of
         * the forward pass: the GPU waits for them before the step. */
        r->step.wait = WAIT_START;
        r->step.wait_since_ns = now;
        return;
    }
    start_compute(r, now);
}

/* The last KV a waiting step needed has arrived at now. */
void replica_resume_after_fetch(replica *r, int64_t now)
{
    if (r->step.wait == WAIT_START) {
        r->acct->stall_ns += now - r->step.wait_since_ns;
        sparse_step_resumed(r, now - r->step.wait_since_ns);
        r->step.wait = WAIT_NONE;
        start_compute(r, now);
    } else if (r->step.wait == WAIT_END) {
        /* Layer by layer: only the last layer's compute is left once the
         * last layer's KV is in. */
        int64_t end = now + r->step.step_cost[0].total_ns / r->cm->m->n_layers;
        r->acct->stall_ns += end - r->step.wait_since_ns;
        r->step.step_end_ns[0] = end;
        r->step.wait = WAIT_NONE;
        r->step.ev = engine_at(r->eng, r->step.step_end_ns[r->step.steps - 1], replica_on_step_end, r, 0);
    }
}

static void note_gap(replica *r, serve_req *q, int64_t gap)
{
    q->rec.n_gaps++;
    q->rec.gap_sum_ns += gap;
    if (gap > q->rec.gap_max_ns)
        q->rec.gap_max_ns = gap;
    if (!r->cfg.keep_gaps)
        return;
    int64_t *g = grow_array(q->rec.gaps, &q->cap_gaps, (size_t)q->rec.n_gaps, sizeof *g);
    if (!g)
        return;
    q->rec.gaps = g;
    q->rec.gaps[q->rec.n_gaps - 1] = gap;
}

/* How a token's inter-token gap reaches the ITL histogram: as an entry of
 * its own, or within one weighted entry the step adds for its whole batch. */
typedef enum { ITL_GAP_OWN, ITL_GAP_SHARED } itl_gap;

/* q's KV is caught up at time t: it samples its next tokens
 * (replica_decode_tokens of them). Returns 1 when that was its last one. */
static int emit_token(replica *r, serve_req *q, int64_t t, itl_gap gap_entry)
{
    int64_t n = replica_decode_tokens(r, q);
    spec_step_emitted(&q->spec);
    q->generated += n;
    q->num_tokens += n;
    r->tokens_out += n;
    if (q->generated == n) {
        q->rec.first_token_ns = t;
    } else {
        int64_t gap = t - q->last_token_ns;
        note_gap(r, q, gap);
        if (gap_entry == ITL_GAP_OWN)
            metrics_itl_add(r->met, gap, 1);
        /* The drafts a verify accepted arrive with its token: gaps of 0. */
        for (int64_t i = 1; i < n; i++)
            note_gap(r, q, 0);
        if (n > 1)
            metrics_itl_add(r->met, 0, (double)(n - 1));
    }
    q->last_token_ns = t;
    return q->generated == q->rec.output_tokens;
}

/* Adds step s's time and work; wasted work (all of it in the run's first
 * step) is split between its causes in proportion to their tokens. */
static void account_step(replica *r, int s)
{
    const cost_iter *c = &r->step.step_cost[s];
    metrics_replica *a = r->acct;
    a->busy_ns += c->total_ns - c->wait_ns;
    a->stall_ns += c->wait_ns;
    a->dequant_ns += c->dequant_ns;
    a->iterations++;
    /* A padded decode step wastes nothing else: its wasted work is the padding. */
    a->flops += r->step.pad_rows ? c->flops - c->flops_wasted : c->flops;
    a->hbm_bytes += c->hbm_bytes;
    if (s > 0 || r->step.pad_rows || !(c->flops_wasted > 0 && c->flops > 0))
        return;
    double tok[WASTE_CAUSE_COUNT] = { 0 }, all = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        tok[WASTE_PREEMPTION] += r->step.batch[i].wasted;
        tok[WASTE_RECOMPUTE] += r->step.batch[i].wasted_tier;
    }
    for (int k = 0; k < WASTE_CAUSE_COUNT; k++)
        all += tok[k];
    for (int k = 0; k < WASTE_CAUSE_COUNT && all > 0; k++) {
        double f = c->flops_wasted * tok[k] / all;
        a->flops_wasted[k] += f;
        a->gpu_ns_wasted[k] += (double)c->total_ns * f / c->flops * r->gpus;
    }
}

/* Drops finished requests from running, keeping the order of the rest. */
static void compact_running(replica *r)
{
    int k = 0;
    for (int i = 0; i < r->queue.n_running; i++)
        if (r->queue.running[i]->generated < r->queue.running[i]->rec.output_tokens && !r->queue.running[i]->handoff)
            r->queue.running[k++] = r->queue.running[i];
    r->queue.n_running = k;
}

/* --timeline: step s of the run as a slice, before it is applied (an
 * entry's phase is read from what it had computed before the step; every
 * step after a run's first decodes). */
static void timeline_step(const replica *r, int s)
{
    int64_t prefill = 0, decode = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_batch_entry *b = &r->step.batch[i];
        if (s > 0 || is_decode_entry(r, b))
            decode += replica_decode_tokens(r, b->r);
        else
            prefill += b->tokens;
    }
    timeline_iteration(r->tl, timeline_replica_pid(r->id), s ? r->step.step_end_ns[s - 1] : r->step.start_ns,
                       r->step.step_end_ns[s], prefill, decode, r->step.n_batch);
}

/* --timeline: the queues and HBM blocks at t, after a step, when they
 * changed (a counter holds its value until the next). */
static void timeline_state(replica *r, int64_t t)
{
    int64_t now[4] = { r->queue.n_waiting, r->queue.n_running, kv_pool_blocks(r->kv) - kv_pool_free_blocks(r->kv),
                       kv_pool_cached_blocks(r->kv) };
    if (!memcmp(now, r->tl_shown, sizeof now))
        return;
    memcpy(r->tl_shown, now, sizeof now);
    timeline_counters(r->tl, timeline_replica_pid(r->id), t, (int)now[0], (int)now[1], now[2], now[3]);
}

/* Applies step s of the run: blocks for it (later steps of a multi-step
 * run reserve here, as stepping one by one would have at their start), KV
 * progress and hashes, tokens, finishes. */
static void apply_step(replica *r, int s)
{
    int64_t t = r->step.step_end_ns[s];
    if (s > 0)
        for (int i = 0; i < r->step.n_batch; i++)
            kv_seq_reserve(r->kv, &r->step.batch[i].r->seq,
                           serve_req_kv_tokens(r->step.batch[i].r) + replica_decode_tokens(r, r->step.batch[i].r));
    /* In a multi-step run every entry's gap after the first step is this
     * step's duration: one weighted histogram entry instead of n_batch. */
    itl_gap gap_entry = s > 0 ? ITL_GAP_SHARED : ITL_GAP_OWN;
    if (gap_entry == ITL_GAP_SHARED)
        metrics_itl_add(r->met, t - r->step.step_end_ns[s - 1], r->step.n_batch);
    int finished = 0, verified = 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        serve_batch_entry *b = &r->step.batch[i];
        serve_req *q = b->r;
        q->computed += b->tokens;
        if (b->verify)
            spec_verify_apply(&r->spec, q, r->acct);
        verified |= b->verify;
        q->rec.recomputed_tokens += s ? 0 : b->wasted + b->wasted_tier;
        kv_seq_commit(r->kv, &q->seq, &q->content, q->computed);
        if (q->computed - b->tokens < q->rec.prompt_tokens && q->computed >= q->rec.prompt_tokens) {
            if (r->cfg.retention_window_tokens)
                retention_apply(r, q);
            sparse_offload(r, q);
        }
        /* Caught up (a verify's accepted drafts run past it). */
        if (q->computed >= q->num_tokens) {
            int last = emit_token(r, q, t, gap_entry);
            /* A prefill replica's part ends with the first token. */
            q->handoff = !last && r->disagg.role == ROLE_PREFILL;
            finished += last || q->handoff;
        }
    }
    r->acct->spec_verify_steps += verified;
    account_step(r, s);
    if (!finished)
        return;
    /* Leave only after the running array no longer holds them: on_done may
     * recycle a request at once. */
    compact_running(r);
    for (int i = 0; i < r->step.n_batch; i++) {
        serve_req *q = r->step.batch[i].r;
        if (q->generated == q->rec.output_tokens)
            replica_req_leave(r, q, REQ_COMPLETED, t);
        else if (q->handoff)
            handoff_out(r, q, t);
    }
}

/* Index of x's lowest set bit (x != 0). */
static int lowest_bit(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    for (; !(x & 1); x >>= 1)
        n++;
    return n;
#endif
}

/* Marks in kv_due the first step after t (t = -1: the first) of a bulk
 * range of m steps at which batch entry i's reserve or commit would change
 * its blocks; nothing when that lies past the range. At bulk step t the
 * entry reserves serve_req_kv_tokens + t + 1 tokens and commits computed +
 * t + 1 (q's counters move only when the range is done), so its reserve
 * acts from the step its room runs out, its commit from the step its next
 * block fills. */
static void due_mark(replica *r, int i, int t, int m)
{
    const serve_req *q = r->step.batch[i].r;
    int64_t next = kv_seq_room_tokens(r->kv, &q->seq) - serve_req_kv_tokens(q);
    int64_t commit = kv_seq_commit_due_tokens(r->kv, &q->seq);
    if (commit != INT64_MAX && commit - q->computed - 1 < next)
        next = commit - q->computed - 1;
    /* Not behind t: a reserve that failed (it cannot in a run) retries at
     * the next step, as stepping one by one would. */
    if (next <= t)
        next = t + 1;
    if (next < m)
        r->step.kv_due[(size_t)next * (size_t)r->step.kv_due_words + (size_t)i / DUE_WORD_BITS] |=
            (uint64_t)1 << (i % DUE_WORD_BITS);
}

/* Words of a kv_due row that the batch's entries occupy. */
static int due_words_used(const replica *r)
{
    return (r->step.n_batch + DUE_WORD_BITS - 1) / DUE_WORD_BITS;
}

/* Reserves (commit 0) or commits (commit 1) for bulk step t the entries
 * whose blocks change there (kv_due row t), in batch order as apply_step
 * does; after a commit, marks each one's next such step (a later row) and
 * clears row t, so that kv_due is all zero again when the range is done. */
static void due_apply(replica *r, int t, int m, int commit)
{
    uint64_t *row = r->step.kv_due + (size_t)t * (size_t)r->step.kv_due_words;
    /* Only the words holding the batch's entries can be set. */
    for (int w = 0; w < due_words_used(r); w++) {
        for (uint64_t bits = row[w]; bits; bits &= bits - 1) {
            int i = w * DUE_WORD_BITS + lowest_bit(bits);
            serve_req *q = r->step.batch[i].r;
            if (!commit) {
                kv_seq_reserve(r->kv, &q->seq, serve_req_kv_tokens(q) + t + 1);
                continue;
            }
            kv_seq_commit(r->kv, &q->seq, &q->content, q->computed + t + 1);
            due_mark(r, i, t, m);
        }
        if (commit)
            row[w] = 0;
    }
}

/* Applies decode steps [a, b) of a multi-step run (0 < a < b < steps, no
 * entry finishing: see bulk_end) once per sequence instead of once per step
 * per sequence, with the results of apply_step called for each step:
 * - every entry decodes one token a step, its gap that step's duration
 *   (it emitted at the step before): over the range m gaps summing to the
 *   range's span (exact: integer nanoseconds), with their largest as max;
 * - the ITL histogram and the replica's accounts get their entries per
 *   step, as apply_step adds them;
 * - reserves and commits are called only at the steps where they change
 *   something (due_mark), in apply_step's order (all reserves of a step,
 *   then its commits, each in batch order), so the pool sees the same
 *   calls with the same effects (blocks taken, hashes, hooks) in the same
 *   order; the calls skipped would have changed nothing. Nothing else
 *   takes blocks inside a run, so the free count between steps, the only
 *   thing this moves earlier or later, is never observed. */
static void apply_decode_steps(replica *r, int a, int b)
{
    int m = b - a;
    const int64_t *end = r->step.step_end_ns;
    for (int i = 0; i < r->step.n_batch; i++)
        due_mark(r, i, -1, m);
    int64_t gap_max = 0;
    for (int t = 0; t < m; t++) {
        int64_t gap = end[a + t] - end[a + t - 1];
        due_apply(r, t, m, 0);
        metrics_itl_add(r->met, gap, r->step.n_batch);
        due_apply(r, t, m, 1);
        account_step(r, a + t);
        gap_max = gap > gap_max ? gap : gap_max;
    }
    for (int i = 0; i < r->step.n_batch; i++) {
        serve_req *q = r->step.batch[i].r;
        spec_step_emitted(&q->spec);
        q->computed += m;
        q->generated += m;
        q->num_tokens += m;
        q->rec.n_gaps += m;
        q->rec.gap_sum_ns += end[b - 1] - end[a - 1];
        if (gap_max > q->rec.gap_max_ns)
            q->rec.gap_max_ns = gap_max;
        q->last_token_ns = end[b - 1];
    }
    r->tokens_out += (int64_t)m * r->step.n_batch;
}

/* The end of the steps from s on that apply_decode_steps may apply at once
 * (s when none): those after the run's first (which may prefill, recompute
 * or take its first token) and before its last (where entries finish),
 * ended by now, when each step is one plain token per entry (no draft
 * verification) on a replica that keeps no per-token record (--timeline
 * slices, gap arrays) and hands nothing off. */
static int bulk_end(const replica *r, int s, int64_t now)
{
    int b = s;
    if (s == 0)
        return s;
    while (b < r->step.steps - 1 && r->step.step_end_ns[b] <= now)
        b++;
    if (b - s < 2 || r->tl || r->cfg.keep_gaps || r->disagg.role == ROLE_PREFILL)
        return s;
    for (int i = 0; i < r->step.n_batch; i++)
        if (r->step.batch[i].verify || replica_decode_tokens(r, r->step.batch[i].r) != 1)
            return s;
    return b;
}

/* Applies the steps that ended at or before now. */
void replica_apply_until(replica *r, int64_t now)
{
    while (r->step.applied < r->step.steps && r->step.step_end_ns[r->step.applied] <= now) {
        int b = bulk_end(r, r->step.applied, now);
        if (b > r->step.applied) {
            apply_decode_steps(r, r->step.applied, b);
            r->step.applied = b;
            continue;
        }
        int s = r->step.applied++;
        if (r->tl)
            timeline_step(r, s);
        apply_step(r, s);
        if (r->tl)
            timeline_state(r, r->step.step_end_ns[s]);
    }
}

void replica_on_step_end(engine *eng, void *ctx, uint64_t arg)
{
    replica *r = ctx;
    if (r->step.busy) {
        if (r->fetch.n_pending > 0) {
            /* Layer-by-layer fetch still behind the compute: wait for it. */
            r->step.wait = WAIT_END;
            r->step.wait_since_ns = engine_now(eng);
            return;
        }
        replica_apply_until(r, engine_now(eng));
        r->step.busy = 0;
    }
    replica_plan(r);
    if (r->tiers)
        tier_set_flush(r->tiers);
}

void replica_kv_landed(replica *r, int64_t now)
{
    if (replica_kv_pending(r) > 0)
        return;
    if (r->step.busy && r->step.wait == WAIT_START)
        replica_resume_after_fetch(r, now);
    else
        replica_step_if_idle(r);
}

void replica_sync(replica *r)
{
    if (!r->step.busy || r->step.steps <= 1)
        return;
    int64_t now = engine_now(r->eng);
    replica_apply_until(r, now);
    if (r->step.applied >= r->step.steps - 1)
        return;
    /* The step in progress becomes the run's last, exactly as if the run
     * had been planned one step at a time. */
    engine_cancel(r->eng, r->step.ev);
    r->step.steps = r->step.applied + 1;
    r->step.ev = engine_at(r->eng, r->step.step_end_ns[r->step.applied], replica_on_step_end, r, 0);
}

/* The pool and the set of sequences holding it, as last verified: equal
 * keys mean the ref-count walk would see exactly what it saw then. */
static int kv_unchanged_since_check(const replica *r)
{
    return r->kv_checked.version == kv_pool_version(r->kv) && r->kv_checked.running == r->queue.n_running &&
           r->kv_checked.out == r->disagg.n_out && r->kv_checked.inbound == r->disagg.n_inbound && r->kv_checked.valid;
}

/* Running plus arriving within the batch limit (O(1)). */
static int check_slots(const replica *r, kt_err *err)
{
    if (r->queue.n_running + r->disagg.n_inbound > r->cfg.max_running) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: %d running and %d arriving, more than %d", r->id, r->queue.n_running,
                 r->disagg.n_inbound, r->cfg.max_running);
        return -1;
    }
    return 0;
}

/* The waiting, swapped and handoff lists walked whole: lengths equal their
 * counters, and none of their requests holds blocks. */
static int check_lists(const replica *r, kt_err *err)
{
    int n = 0;
    for (const serve_req *q = r->queue.wait_head; q; q = q->next)
        if (++n > r->queue.n_waiting || q->seq.n_blocks) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: waiting queue broken", r->id);
            return -1;
        }
    if (n != r->queue.n_waiting) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: %d waiting but counter says %d", r->id, n, r->queue.n_waiting);
        return -1;
    }
    n = 0;
    for (const serve_req *q = r->swap.head; q; q = q->next)
        if (++n > r->swap.n_swapped || q->seq.n_blocks || q->swapped_tokens <= 0) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: swapped list broken", r->id);
            return -1;
        }
    if (n != r->swap.n_swapped || r->swap.used_blocks > r->swap.capacity_blocks) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: %d swapped but counter says %d, %lld of %lld swap blocks", r->id, n,
                 r->swap.n_swapped, (long long)r->swap.used_blocks, (long long)r->swap.capacity_blocks);
        return -1;
    }
    n = 0;
    for (const serve_req *q = r->disagg.in_wait_head; q; q = q->next)
        if (++n > r->disagg.n_in_wait || q->seq.n_blocks || !q->handoff) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: handoff queue broken", r->id);
            return -1;
        }
    return 0;
}

/* A FIFO list's ends, where appends and pops happen (O(1)): both ends set
 * iff n > 0, nothing after the tail, neither end holding blocks. */
static int list_ends_ok(const serve_req *head, const serve_req *tail, int n)
{
    if (!head || !tail)
        return !head && !tail && n == 0;
    return n > 0 && !tail->next && !head->seq.n_blocks && !tail->seq.n_blocks;
}

/* The lists where they change: their ends and counters (O(1)). */
static int check_list_ends(const replica *r, kt_err *err)
{
    if (!list_ends_ok(r->queue.wait_head, r->queue.wait_tail, r->queue.n_waiting) ||
        !list_ends_ok(r->swap.head, r->swap.tail, r->swap.n_swapped) ||
        !list_ends_ok(r->disagg.in_wait_head, r->disagg.in_wait_tail, r->disagg.n_in_wait) ||
        r->swap.used_blocks > r->swap.capacity_blocks) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: the ends of a waiting, swapped or handoff list disagree with its "
                 "counter", r->id);
        return -1;
    }
    return 0;
}

/* Every running request's token counts; the sequences holding this pool's
 * blocks (running, KV leaving on the prefill side, KV arriving on the
 * decode side) into *out, an array the caller frees. */
static int collect_seqs(replica *r, kv_seq ***out, size_t *n_out, kt_err *err)
{
    size_t k = 0, cap = (size_t)r->queue.n_running + (size_t)r->disagg.n_out + (size_t)r->disagg.n_inbound + 1;
    kv_seq **seqs = *out = malloc(cap * sizeof *seqs);
    if (!seqs) {
        KT_ERROR(err, NULL, 0, 0, "out of memory");
        return -1;
    }
    for (int i = 0; i < r->queue.n_running; i++) {
        serve_req *q = r->queue.running[i];
        if (q->computed > q->num_tokens || q->num_tokens != q->rec.prompt_tokens + q->generated ||
            q->generated > q->rec.output_tokens || q->handoff) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: request %lld token counts inconsistent", r->id,
                     (long long)q->rec.id);
            return -1;
        }
        if (spec_check_req(&q->spec, q->rec.id, err) < 0 || kv_seq_check_hashes(r->kv, &q->seq, &q->content, err) < 0)
            return -1;
        seqs[k++] = &q->seq;
    }
    for (serve_req *q = r->disagg.out_head; q && k < cap; q = q->out_next)
        seqs[k++] = &q->src_seq;
    for (serve_req *q = r->disagg.in_head; q && k < cap; q = q->in_next)
        seqs[k++] = &q->seq;
    *n_out = k;
    if (k != (size_t)r->queue.n_running + (size_t)r->disagg.n_out + (size_t)r->disagg.n_inbound) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: handoff lists and counters disagree", r->id);
        return -1;
    }
    return 0;
}

/* Each running request's blocks hold the KV it has computed (O(running)),
 * and once a run has applied a step, every entry's full blocks are
 * committed: apply_decode_steps calls reserve and commit only where they
 * change something, and this catches a call it skipped that would have. */
static int check_running_kv(const replica *r, kt_err *err)
{
    for (int i = 0; i < r->queue.n_running; i++) {
        const serve_req *q = r->queue.running[i];
        if (kv_seq_room_tokens(r->kv, &q->seq) < serve_req_kv_tokens(q)) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: request %lld holds blocks for %lld tokens of its %lld", r->id,
                     (long long)q->rec.id, (long long)kv_seq_room_tokens(r->kv, &q->seq),
                     (long long)serve_req_kv_tokens(q));
            return -1;
        }
    }
    if (!r->step.busy || r->step.applied < 1)
        return 0;
    for (int i = 0; i < r->step.n_batch; i++) {
        const serve_req *q = r->step.batch[i].r;
        if (q->computed >= kv_seq_commit_due_tokens(r->kv, &q->seq)) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: request %lld has %lld tokens computed but a full block "
                     "uncommitted", r->id, (long long)q->rec.id, (long long)q->computed);
            return -1;
        }
    }
    return 0;
}

/* The invariants of the decode-step extensions (speculation, sparse
 * pages), which every checker runs whole: their state is small. */
static int check_extensions(replica *r, kt_err *err)
{
    return spec_check(&r->spec, r->acct, r->id, err) < 0 || sparse_check(r, err) < 0 ? -1 : 0;
}

/* The bulk-apply scratch is all zero between ranges (walked whole). */
static int check_due_clear(const replica *r, kt_err *err)
{
    for (size_t k = 0; k < (size_t)run_steps_cap(&r->cfg) * (size_t)r->step.kv_due_words; k++)
        if (r->step.kv_due[k]) {
            KT_ERROR(err, NULL, 0, 0, "replica %d: bulk-apply scratch left set", r->id);
            return -1;
        }
    return 0;
}

int replica_check(replica *r, kt_err *err)
{
    if (r->failure.failed)
        return 0;               /* its pool is gone with it */
    if (check_slots(r, err) < 0 || check_lists(r, err) < 0 || check_extensions(r, err) < 0 ||
        check_running_kv(r, err) < 0 || check_due_clear(r, err) < 0)
        return -1;
    kv_seq **seqs = NULL;
    size_t k = 0;
    int rc = collect_seqs(r, &seqs, &k, err);
    if (rc == 0 && !kv_unchanged_since_check(r)) {
        rc = kv_pool_check(r->kv, (const kv_seq *const *)seqs, k, err);
        r->kv_checked.version = kv_pool_version(r->kv);
        r->kv_checked.running = r->queue.n_running;
        r->kv_checked.out = r->disagg.n_out;
        r->kv_checked.inbound = r->disagg.n_inbound;
        r->kv_checked.valid = rc == 0;
    }
    free(seqs);
    return rc;
}

int replica_check_touched(replica *r, kt_err *err)
{
    if (r->failure.failed)
        return 0;
    if (check_slots(r, err) < 0 || check_list_ends(r, err) < 0 || check_extensions(r, err) < 0 ||
        check_running_kv(r, err) < 0)
        return -1;
    kv_seq **seqs = NULL;
    size_t k = 0;
    int rc = collect_seqs(r, &seqs, &k, err);
    if (rc == 0)
        rc = kv_pool_check_touched(r->kv, seqs, k, err);
    free(seqs);
    return rc;
}
