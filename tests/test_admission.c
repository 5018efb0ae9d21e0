/* test_admission.c — each admission policy on a ten-block pool and three requests, worked by hand: blocks held, who waits, who is preempted and at which step; a prompt over the context limit is rejected, or truncated. */
#include <string.h>

#include "cost.h"
#include "engine.h"
#include "metrics.h"
#include "scenario.h"
#include "serve_internal.h"
#include "testutil.h"
#include "tier.h"

/* Every case: blocks of 16 tokens, three requests A, B, C arriving
 * together, each a 48-token prompt (3 blocks) and 40 output tokens, no
 * prefix caching, one step per event. Step s >= 2 of a decoding request
 * that has generated s - 1 tokens needs KV for 48 + s - 1 tokens: a 4th
 * block at step 2, a 5th at step 18 (65 > 64), a 6th at step 34 (81 > 80);
 * its 40th token ends step 40. */
#define N_REQ 3
#define BLOCK_TOKENS 16
#define PROMPT_TOKENS 48
#define OUTPUT_TOKENS 40

typedef struct harness {
    scenario *sc;
    cost_model cm;
    engine *eng;
    metrics *met;
    replica r;
    serve_req q[N_REQ];
    metrics_outcome outcome[N_REQ];
    int left[N_REQ];
} harness;

static void on_done(void *ud, serve_req *q, int64_t now_ns)
{
    (void)now_ns;
    harness *h = ud;
    for (int i = 0; i < N_REQ; i++)
        if (q == &h->q[i]) {
            h->left[i] = 1;
            h->outcome[i] = q->rec.outcome;
        }
}

/* A replica of kv_blocks blocks under cfg, with the lower tiers of the
 * scenario file (model and hardware from it too), the three requests
 * queued before its first step is planned. */
static int setup_in(harness *h, const char *file, uint32_t kv_blocks, serve_cfg cfg)
{
    kt_err err;
    memset(h, 0, sizeof *h);
    h->sc = scenario_load(tu_path(file), NULL, 0, &err);
    if (!h->sc || cost_model_init(&h->cm, h->sc->model, h->sc->hw, 1, DTYPE_BF16, &err) < 0)
        return -1;
    h->eng = engine_new(64);
    h->met = metrics_new(1);
    replica_config c = { .id = 0, .gpus = 1, .eng = h->eng, .cm = &h->cm, .kv_blocks = kv_blocks,
                         .block_tokens = BLOCK_TOKENS, .prefix_cache = 0, .cfg = &cfg, .met = h->met,
                         .on_done = on_done, .ud = h };
    if (!h->eng || !h->met || replica_init(&h->r, &c) < 0)
        return -1;
    if (h->sc->tiers.n) {
        tier_set_config tc = scenario_tier_set_config(h->sc, NULL);
        tier_set *ts = tier_set_new(&tc, h->eng, &err);
        if (!ts)
            return -1;
        replica_set_tiers(&h->r, ts);
    }
    /* Held busy while they arrive, so the first step sees all three. */
    h->r.step.busy = 1;
    for (int i = 0; i < N_REQ; i++) {
        serve_req *q = &h->q[i];
        q->rec.id = i;
        q->rec.prompt_tokens = PROMPT_TOKENS;
        q->rec.output_tokens = OUTPUT_TOKENS;
        q->inline_segs[0] = (kv_segment){ (uint64_t)i + 1, PROMPT_TOKENS };
        q->content = (kv_content){ q->inline_segs, 1 };
        replica_submit(&h->r, q);
    }
    h->r.step.busy = 0;
    replica_on_step_end(h->eng, &h->r, 0);
    return 0;
}

/* The same in e2e.yaml (no lower tiers). */
static int setup_cfg(harness *h, uint32_t kv_blocks, serve_cfg cfg)
{
    return setup_in(h, "tests/data/e2e.yaml", kv_blocks, cfg);
}

/* A replica of kv_blocks blocks under policy (max_output_tokens assumed),
 * chunked prefill within 1,024 tokens a step. */
static int setup(harness *h, uint32_t kv_blocks, admission_policy policy, int64_t max_output_tokens)
{
    serve_cfg cfg = { .max_running = 8, .token_budget = 1024, .chunked_prefill = 1, .max_multi_step = 1,
                      .admission = policy, .max_output_tokens = max_output_tokens };
    return setup_cfg(h, kv_blocks, cfg);
}

static void teardown(harness *h)
{
    replica_destroy(&h->r);
    for (int i = 0; i < N_REQ; i++)
        kv_seq_destroy(&h->q[i].seq);
    metrics_free(h->met);
    engine_free(h->eng);
    scenario_free(h->sc);
}

/* Runs events until step `step` has ended and the next one is planned. */
static void run_steps(harness *h, int *done, int step)
{
    kt_err err;
    for (; *done < step; (*done)++) {
        CU_ASSERT_EQUAL_FATAL(engine_step(h->eng), 1);
        CU_ASSERT_EQUAL_FATAL(replica_check(&h->r, &err), 0);
    }
}

static int running(const harness *h, int i, int who)
{
    return i < h->r.queue.n_running && h->r.queue.running[i] == &h->q[who];
}

enum { A, B, C };

/* preempt_newest and trtllm_max_utilization, which follow the same rule:
 * step 1 admits all three (9 blocks, 1 free). Step 2: A takes the last
 * block for its 4th; B finds none, so C, the newest, is preempted (3 back)
 * and B takes one: 2 free, C waiting (it needs 4 blocks for 49 tokens).
 * Step 18: A and B take their 5th (0 free). Step 34: A finds no 6th, B is
 * the newest and yields its 5 blocks; A takes one: 4 free, B (81 tokens,
 * 6 blocks) waits ahead of C. A ends at step 40; step 41 admits B (6
 * blocks) and C (4 blocks): 0 free. */
static void check_newest_first(admission_policy policy)
{
    harness h;
    int done = 0;
    CU_ASSERT_EQUAL_FATAL(setup(&h, 10, policy, OUTPUT_TOKENS), 0);
    CU_ASSERT_EQUAL(h.r.queue.n_running, 3);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 1);
    run_steps(&h, &done, 1);
    CU_ASSERT(running(&h, 0, A) && running(&h, 1, B));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 2);
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[C]);
    CU_ASSERT_EQUAL(h.q[C].rec.preemptions, 1);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 2);
    run_steps(&h, &done, 17);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 0);
    CU_ASSERT_EQUAL(h.q[B].rec.preemptions, 0);
    run_steps(&h, &done, 33);
    CU_ASSERT(running(&h, 0, A));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_EQUAL(h.q[B].rec.preemptions, 1);
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[B]);
    CU_ASSERT_EQUAL(h.r.queue.n_waiting, 2);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    run_steps(&h, &done, 39);
    CU_ASSERT_FALSE(h.left[A]);
    run_steps(&h, &done, 40);
    CU_ASSERT(h.left[A] && h.outcome[A] == REQ_COMPLETED);
    CU_ASSERT(running(&h, 0, B) && running(&h, 1, C));
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 0);
    CU_ASSERT_EQUAL(h.q[A].rec.preemptions, 0);
    teardown(&h);
}

static void test_preempt_newest(void) { check_newest_first(ADMISSION_PREEMPT_NEWEST); }

static void test_trtllm_max_utilization(void) { check_newest_first(ADMISSION_TRTLLM_MAX_UTILIZATION); }

/* trtllm_no_evict: each request may hold 48 + 40 - 1 = 87 tokens, 6
 * blocks. Step 1 admits A (10 free, 6 set aside, 3 taken now: 7 free); B
 * needs 6 of the 4 left and waits, C behind it. While A runs, free less
 * what A still needs is always 4: nobody joins and nobody is preempted.
 * A ends at step 40, B joins at step 41 (3 blocks, 7 free), ends at step
 * 80, and C joins at step 81. */
static void test_trtllm_no_evict(void)
{
    harness h;
    int done = 0;
    CU_ASSERT_EQUAL_FATAL(setup(&h, 10, ADMISSION_TRTLLM_NO_EVICT, OUTPUT_TOKENS), 0);
    CU_ASSERT(running(&h, 0, A));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_EQUAL(h.r.queue.n_waiting, 2);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 7);
    run_steps(&h, &done, 39);
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    run_steps(&h, &done, 40);
    CU_ASSERT(h.left[A] && running(&h, 0, B));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[C]);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 7);
    run_steps(&h, &done, 80);
    CU_ASSERT(h.left[B] && running(&h, 0, C));
    for (int i = 0; i < N_REQ; i++)
        CU_ASSERT_EQUAL(h.q[i].rec.preemptions, 0);
    teardown(&h);
}

/* sglang_conservative with an assumed maximum output of 8 (shorter than
 * the true 40: the engine cannot know). A new request needs 48 + 8 + 16
 * = 72 tokens below what is left of 160: A (88 left), B (16 left); C
 * waits. 6 blocks taken, 4 free. Steps 2 and 18 fit (2 blocks each
 * time): 0 free after step 18's. Step 34 needs 2 blocks, none free: B is
 * retracted (both have 33 tokens and equal prompts: the newest goes),
 * freeing 5; A takes 1 (4 free). The ratio becomes (33 + 20) / (8 + 1),
 * at most 1: 1. From step 35, B needs its 81 tokens plus 0 more output
 * plus 16 = 97 of the 64 left and waits; at step 41 it joins (6 blocks, 4
 * free, 63 left) and C (72) still waits. */
static void test_sglang_conservative(void)
{
    harness h;
    int done = 0;
    CU_ASSERT_EQUAL_FATAL(setup(&h, 10, ADMISSION_SGLANG_CONSERVATIVE, 8), 0);
    CU_ASSERT(running(&h, 0, A) && running(&h, 1, B));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 2);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    CU_ASSERT_DOUBLE_EQUAL(h.r.adm.new_token_ratio, ADMISSION_SGLANG_INIT_RATIO, 1e-12);
    run_steps(&h, &done, 17);
    CU_ASSERT_EQUAL(h.r.queue.n_running, 2);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 0);
    /* 17 steps ran: the ratio fell 17 times by (0.7 - 0.7 × 0.14) / 600. */
    CU_ASSERT_DOUBLE_EQUAL(h.r.adm.new_token_ratio, 0.7 - 17 * (0.7 - 0.098) / 600, 1e-12);
    run_steps(&h, &done, 33);
    CU_ASSERT(running(&h, 0, A));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_EQUAL(h.q[B].rec.preemptions, 1);
    CU_ASSERT_EQUAL(h.q[A].rec.preemptions, 0);
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[B]);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    CU_ASSERT_DOUBLE_EQUAL(h.r.adm.new_token_ratio, 1.0, 1e-12);
    run_steps(&h, &done, 39);
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    run_steps(&h, &done, 40);
    CU_ASSERT(h.left[A] && running(&h, 0, B));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[C]);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    teardown(&h);
}

/* Whether request who is in the step planned now, computing tokens. */
static int in_batch(const harness *h, int who, int64_t tokens)
{
    for (int i = 0; i < h->r.step.n_batch; i++)
        if (h->r.step.batch[i].r == &h->q[who])
            return h->r.step.batch[i].tokens == tokens;
    return 0;
}

/* vLLM without chunked prefill, a 100-token budget, 20 blocks (no
 * pressure): step 1 prefills A and B (48 + 48 = 96; C's 48 more would
 * make 144 > 100, so C waits); step 2 is C's prefill alone, A and B do not
 * decode; step 3 decodes all three. With chunking, step 1 would have
 * given C the 4 tokens left and step 2 decoded A and B beside C's rest. */
static void test_unchunked_prefill_steps(void)
{
    harness h;
    int done = 0;
    serve_cfg cfg = { .max_running = 8, .token_budget = 100, .chunked_prefill = 0, .max_multi_step = 1,
                      .admission = ADMISSION_PREEMPT_NEWEST };
    CU_ASSERT_EQUAL_FATAL(setup_cfg(&h, 20, cfg), 0);
    CU_ASSERT_EQUAL(h.r.step.n_batch, 2);
    CU_ASSERT(in_batch(&h, A, PROMPT_TOKENS) && in_batch(&h, B, PROMPT_TOKENS));
    CU_ASSERT_PTR_EQUAL(h.r.queue.wait_head, &h.q[C]);
    run_steps(&h, &done, 1);
    CU_ASSERT_EQUAL(h.q[A].generated, 1);
    CU_ASSERT_EQUAL(h.r.step.n_batch, 1);
    CU_ASSERT(in_batch(&h, C, PROMPT_TOKENS));
    run_steps(&h, &done, 2);
    CU_ASSERT_EQUAL(h.q[A].generated, 1); /* paused through C's prefill */
    CU_ASSERT_EQUAL(h.q[C].generated, 1);
    CU_ASSERT_EQUAL(h.r.step.n_batch, 3);
    CU_ASSERT(in_batch(&h, A, 1) && in_batch(&h, B, 1) && in_batch(&h, C, 1));
    run_steps(&h, &done, 3);
    CU_ASSERT_EQUAL(h.q[A].generated, 2);
    CU_ASSERT_EQUAL(h.q[C].generated, 2);
    teardown(&h);
    /* The same with chunking: C's first 4 tokens join step 1. */
    cfg.chunked_prefill = 1;
    CU_ASSERT_EQUAL_FATAL(setup_cfg(&h, 20, cfg), 0);
    CU_ASSERT_EQUAL(h.r.step.n_batch, 3);
    CU_ASSERT(in_batch(&h, C, 100 - 2 * PROMPT_TOKENS));
    teardown(&h);
}

/* Runs events until the replica has ended n iterations (the next one
 * planned); copies between tiers are events of their own. */
static void run_iterations(harness *h, int64_t n)
{
    kt_err err;
    while (h->r.acct->iterations < n) {
        CU_ASSERT_EQUAL_FATAL(engine_step(h->eng), 1);
        CU_ASSERT_EQUAL_FATAL(replica_check(&h->r, &err), 0);
    }
}

/* One copy of blocks Llama-3.1-8B blocks of 16 tokens (16 × 131,072 B =
 * 2,097,152 B each) between HBM and tiers.yaml's DRAM: the DRAM latency
 * (1 us) and the PCIe setup (10 us), then the bytes at the narrower of
 * PCIe (h100-sxm: 55 GB/s) and DRAM (100 GB/s). */
static int64_t swap_copy_ns(int64_t blocks)
{
    return 1000 + 10000 + (int64_t)(blocks * 2097152.0 / 55e9 * 1e9);
}

/* preempt_newest with preemption swap on the ten-block pool of
 * check_newest_first, with tiers.yaml's DRAM: the same sequences yield at
 * the same steps, but their KV goes to host memory instead of being freed
 * for recompute, and comes back oldest first as soon as it fits. Planning
 * step 2, C (48 tokens, 3 blocks) is swapped out and step 2 waits for the
 * copy: it ends exactly swap_copy_ns(3) later than under recompute.
 * Planning step 34, B (80 tokens, 5 blocks) follows: 8 blocks in swap, 4
 * free. Step 35 preempts nothing, so C (48 + 1 tokens: 4 blocks) comes
 * back into the 4 free blocks; B (81 tokens: 6 blocks) waits until A ends
 * at step 40, and planning step 41 brings it back; step 41 is C's and B's
 * decodes (after 54 and 80 tokens) behind that 5-block copy. Nothing is
 * recomputed; the GPU stalled for the four copies. */
static void test_swap(void)
{
    serve_cfg cfg = { .max_running = 8, .token_budget = 1024, .chunked_prefill = 1, .max_multi_step = 1,
                      .admission = ADMISSION_PREEMPT_NEWEST, .preemption = PREEMPT_RECOMPUTE,
                      .swap_space_bytes = SERVE_SWAP_SPACE_DEFAULT_BYTES };
    harness h;
    CU_ASSERT_EQUAL_FATAL(setup_in(&h, "tests/data/tiers.yaml", 10, cfg), 0);
    run_iterations(&h, 1);
    int64_t t1 = engine_now(h.eng);
    run_iterations(&h, 2);
    int64_t recompute_step2_ns = engine_now(h.eng) - t1;
    teardown(&h);

    cfg.preemption = PREEMPT_SWAP;
    CU_ASSERT_EQUAL_FATAL(setup_in(&h, "tests/data/tiers.yaml", 10, cfg), 0);
    /* 4 GiB of swap space over 2 MiB blocks. */
    CU_ASSERT_EQUAL(h.r.swap.capacity_blocks, 2048);
    run_iterations(&h, 1);
    t1 = engine_now(h.eng);
    CU_ASSERT(running(&h, 0, A) && running(&h, 1, B));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 2);
    CU_ASSERT_PTR_NULL(h.r.queue.wait_head);
    CU_ASSERT_PTR_EQUAL(h.r.swap.head, &h.q[C]);
    CU_ASSERT_EQUAL(h.q[C].swapped_tokens, 48);
    CU_ASSERT_EQUAL(h.q[C].rec.preemptions, 1);
    CU_ASSERT_EQUAL(h.q[C].rec.swap_outs, 1);
    CU_ASSERT_EQUAL(h.r.swap.used_blocks, 3);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 2);
    CU_ASSERT_EQUAL(h.r.step.wait, WAIT_START);
    run_iterations(&h, 2);
    int64_t d = engine_now(h.eng) - t1 - recompute_step2_ns - swap_copy_ns(3);
    CU_ASSERT(d >= -2 && d <= 2);
    run_iterations(&h, 33);
    CU_ASSERT(running(&h, 0, A));
    CU_ASSERT_EQUAL(h.r.queue.n_running, 1);
    CU_ASSERT_EQUAL(h.q[B].swapped_tokens, 80);
    CU_ASSERT_EQUAL(h.r.swap.n_swapped, 2);
    CU_ASSERT_EQUAL(h.r.swap.used_blocks, 8);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 4);
    run_iterations(&h, 34);
    CU_ASSERT(running(&h, 0, A) && running(&h, 1, C));
    CU_ASSERT_PTR_EQUAL(h.r.swap.head, &h.q[B]);
    CU_ASSERT_EQUAL(h.r.swap.used_blocks, 5);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 0);
    run_iterations(&h, 40);
    int64_t t40 = engine_now(h.eng);
    CU_ASSERT(h.left[A] && h.outcome[A] == REQ_COMPLETED);
    CU_ASSERT(running(&h, 0, C) && running(&h, 1, B));
    CU_ASSERT_PTR_NULL(h.r.swap.head);
    CU_ASSERT_EQUAL(h.r.swap.used_blocks, 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(h.r.kv), 0);
    run_iterations(&h, 41);
    cost_seq cs[2] = { { 1, 54, 0, 0 }, { 1, 80, 0, 0 } };
    cost_iter it;
    cost_iteration(&h.cm, cs, 2, 2, &it);
    d = engine_now(h.eng) - t40 - it.total_ns - swap_copy_ns(5);
    CU_ASSERT(d >= -2 && d <= 2);
    while (engine_step(h.eng) == 1)
        ;
    for (int i = 0; i < N_REQ; i++) {
        CU_ASSERT(h.left[i] && h.outcome[i] == REQ_COMPLETED);
        CU_ASSERT_EQUAL(h.q[i].rec.recomputed_tokens, 0);
    }
    CU_ASSERT_EQUAL(h.q[B].rec.swap_outs, 1);
    d = h.r.acct->stall_ns - 2 * swap_copy_ns(3) - 2 * swap_copy_ns(5);
    CU_ASSERT(d >= -4 && d <= 4);
    teardown(&h);
}

/* Llama-3.1-8B's card allows 131,072 tokens: a prompt one longer is
 * rejected at submit, even where the pool could hold it. */
static void test_context_limit(void)
{
    harness h;
    CU_ASSERT_EQUAL_FATAL(setup(&h, 20000, ADMISSION_PREEMPT_NEWEST, 0), 0);
    serve_req q = { 0 };
    q.rec.prompt_tokens = h.sc->model->max_context_tokens + 1;
    q.rec.output_tokens = 1;
    q.inline_segs[0] = (kv_segment){ 99, q.rec.prompt_tokens };
    q.content = (kv_content){ q.inline_segs, 1 };
    CU_ASSERT_EQUAL(h.sc->model->max_context_tokens, 131072);
    CU_ASSERT(20000u * BLOCK_TOKENS > (unsigned)q.rec.prompt_tokens);
    int waiting = h.r.queue.n_waiting;
    replica_submit(&h.r, &q);
    CU_ASSERT_EQUAL(q.rec.outcome, REQ_REJECTED);
    CU_ASSERT_EQUAL(h.r.queue.n_waiting, waiting);
    kv_seq_destroy(&q.seq);
    teardown(&h);
}

/* scheduler.too_long: truncate, as SGLang's auto-truncation: a prompt of
 * 131,072 + 100 tokens keeps its first 131,072 - 6 = 131,066 (106 cut)
 * and its 10 output tokens are clipped to 131,072 - 2 - 131,066 = 4; it
 * queues instead of being rejected, completes with 4 tokens, and the
 * summary counts one truncated request. */
static void test_truncate(void)
{
    harness h;
    CU_ASSERT_EQUAL_FATAL(setup(&h, 20000, ADMISSION_PREEMPT_NEWEST, 0), 0);
    h.r.cfg.too_long = TOO_LONG_TRUNCATE;
    serve_req q = { 0 };
    q.rec.id = 99;
    q.rec.prompt_tokens = 131072 + 100;
    q.rec.output_tokens = 10;
    q.inline_segs[0] = (kv_segment){ 99, q.rec.prompt_tokens };
    q.content = (kv_content){ q.inline_segs, 1 };
    int waiting = h.r.queue.n_waiting;
    replica_submit(&h.r, &q);
    CU_ASSERT_EQUAL(q.rec.prompt_tokens, 131066);
    CU_ASSERT_EQUAL(q.num_tokens, 131066);
    CU_ASSERT_EQUAL(q.rec.output_tokens, 4);
    CU_ASSERT_EQUAL(q.rec.truncated_tokens, 106);
    CU_ASSERT_EQUAL(h.r.queue.n_waiting, waiting + 1);
    while (!(q.rec.outcome == REQ_COMPLETED && q.generated == 4) && engine_step(h.eng) == 1)
        ;
    CU_ASSERT_EQUAL(q.generated, 4);
    CU_ASSERT_EQUAL(q.rec.outcome, REQ_COMPLETED);
    while (engine_step(h.eng) == 1)
        ;
    metrics_summary sum;
    metrics_slo slo = { 0 };
    metrics_cost cost = { 0 };
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(h.met, &slo, &cost, &sum, NULL), 0);
    CU_ASSERT_EQUAL(sum.truncated, 1);
    CU_ASSERT_EQUAL(sum.rejected, 0);
    /* Listed in the summary's fields only because it is not zero. */
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(&sum, f), found = 0;
    for (size_t i = 0; i < n; i++)
        found += strcmp(f[i].name, "truncated") == 0 && f[i].value == 1;
    CU_ASSERT_EQUAL(found, 1);
    kv_seq_destroy(&q.seq);
    teardown(&h);
}

static void test_names(void)
{
    const char *want[] = { "preempt_newest", "trtllm_no_evict", "trtllm_max_utilization", "sglang_conservative" };
    for (int i = 0; i < ADMISSION_POLICY_COUNT; i++)
        CU_ASSERT_STRING_EQUAL(admission_policy_names[i], want[i]);
    CU_ASSERT_PTR_NULL(admission_policy_names[ADMISSION_POLICY_COUNT]);
}

int main(void)
{
    static const tu_test tests[] = {
        { "preempt_newest: the newest yields, recomputes first", test_preempt_newest },
        { "trtllm_max_utilization pauses the last started", test_trtllm_max_utilization },
        { "trtllm_no_evict sets aside prompt + max output", test_trtllm_no_evict },
        { "sglang_conservative: ratio, retraction", test_sglang_conservative },
        { "a prompt over the context limit is rejected", test_context_limit },
        { "or truncated as SGLang does", test_truncate },
        { "no chunked prefill: prefill-only steps pause decodes", test_unchunked_prefill_steps },
        { "swap preemption: KV to host memory and back", test_swap },
        { "one name per policy", test_names },
        { NULL, NULL },
    };
    return tu_run("admission", tests);
}
