/* test_preset.c — engine presets: what `engine:` sets (from each engine's documented defaults), what a scenario's own keys override, bad names, and CUDA-graph padding of a decode step worked by hand. */
#include <string.h>

#include "cost.h"
#include "engine.h"
#include "metrics.h"
#include "preset.h"
#include "scenario.h"
#include "serve_internal.h"
#include "testutil.h"

/* A one-replica Llama-3.1-8B scenario on H100, with extra text (keys
 * of its own) appended. */
static scenario *load(const char *extra, char **sets, int n_sets, kt_err *err)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model: llama-3.1-8b\nhardware: h100-sxm\nreplicas: {count: 1, gpus: 1}\n"
             "workload: {kind: synthetic, sessions: 1, arrival: {process: poisson, rate: 1/s},"
             " turns: {dist: constant, value: 1}, input_tokens: {dist: constant, value: 8},"
             " output_tokens: {dist: constant, value: 2}}\n%s",
             extra);
    return scenario_load_string(text, strlen(text), tu_path("tests/data/preset.yaml"), sets, n_sets, err);
}

/* vLLM 0.10 V1, OpenAI server on an H100: preempt-newest with recompute,
 * 16-token blocks, chunked prefill in 8,192 tokens, 1,024 sequences; CUDA
 * graphs for 1, 2, 4, then every 8 to 248 (31 sizes), then every 16 from
 * 256 to min(2 × 1,024, 512) = 512 (17 sizes): 51 sizes. */
static void test_vllm(void)
{
    kt_err err;
    scenario *sc = load("engine: vllm\n", NULL, 0, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->engine, PRESET_VLLM);
    CU_ASSERT_EQUAL(sc->sched.admission, ADMISSION_PREEMPT_NEWEST);
    CU_ASSERT_EQUAL(sc->sched.preemption, PREEMPT_RECOMPUTE);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 16);
    CU_ASSERT_EQUAL(sc->sched.chunked_prefill, 1);
    CU_ASSERT_EQUAL(sc->sched.token_budget, 8192);
    CU_ASSERT_EQUAL(sc->sched.max_running, 1024);
    CU_ASSERT_EQUAL(sc->sched.too_long, TOO_LONG_REJECT);
    CU_ASSERT_EQUAL_FATAL(sc->sched.n_graph_sizes, 51);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[0], 1);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[2], 4);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[3], 8);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[33], 248);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[34], 256);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[50], 512);
    /* No host figure: the hardware profile's stands. */
    CU_ASSERT_EQUAL(sc->host_step_ns, -1);
    /* The effective scenario shows what the preset set. */
    CU_ASSERT(strstr(sc->yaml, "token_budget: 8192") != NULL);
    scenario_free(sc);
}

/* TensorRT-LLM 1.0: GUARANTEED_NO_EVICT, 32-token blocks, no chunked
 * context, max_num_tokens 8,192 (a longer prompt runs alone: the context
 * check is vLLM's), max_batch_size 2,048, no graph padding (padding is
 * off by default), host work hidden by the overlap scheduler. */
static void test_trtllm(void)
{
    kt_err err;
    scenario *sc = load("engine: trtllm\n", NULL, 0, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->sched.admission, ADMISSION_TRTLLM_NO_EVICT);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 32);
    CU_ASSERT_EQUAL(sc->sched.chunked_prefill, 0);
    CU_ASSERT_EQUAL(sc->sched.token_budget, 8192);
    CU_ASSERT_EQUAL(sc->sched.max_running, 2048);
    CU_ASSERT_EQUAL(sc->sched.n_graph_sizes, 0);
    CU_ASSERT_EQUAL(sc->host_step_ns, 0);
    CU_ASSERT_EQUAL(sc->host_seq_ns, 0);
    scenario_free(sc);
}

/* SGLang 0.4.9: conservative admission, one-token pages, chunked prefill
 * of 8,192, CUDA graphs for 1, 2, 4, 8 and every 8 from 16 to 160 (19):
 * 23 sizes. */
static void test_sglang(void)
{
    kt_err err;
    scenario *sc = load("engine: sglang\n", NULL, 0, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->sched.admission, ADMISSION_SGLANG_CONSERVATIVE);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 1);
    CU_ASSERT_EQUAL(sc->sched.chunked_prefill, 1);
    CU_ASSERT_EQUAL(sc->sched.token_budget, 8192);
    CU_ASSERT_EQUAL_FATAL(sc->sched.n_graph_sizes, 23);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[4], 16);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[22], 160);
    CU_ASSERT_EQUAL(sc->host_step_ns, 0);
    scenario_free(sc);
}

/* Keys the scenario writes, and --set, win over the preset; what it
 * leaves out still comes from the preset. */
static void test_overrides(void)
{
    kt_err err;
    char *sets[] = { "scheduler.token_budget=4096" };
    scenario *sc = load("engine: vllm\nscheduler: {max_running: 64, cuda_graph_batch_sizes: [1, 8]}\n"
                        "kv: {block_tokens: 32}\n",
                        sets, 1, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->sched.max_running, 64);
    CU_ASSERT_EQUAL(sc->sched.token_budget, 4096);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 32);
    CU_ASSERT_EQUAL(sc->sched.n_graph_sizes, 2);
    CU_ASSERT_EQUAL(sc->sched.graph_sizes[1], 8);
    CU_ASSERT_EQUAL(sc->sched.admission, ADMISSION_PREEMPT_NEWEST);
    scenario_free(sc);
    /* Without engine: today's defaults, no graphs, no host figures. */
    sc = load("", NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->engine, -1);
    CU_ASSERT_EQUAL(sc->sched.max_running, 256);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 16);
    CU_ASSERT_EQUAL(sc->sched.n_graph_sizes, 0);
    CU_ASSERT_EQUAL(sc->host_step_ns, -1);
    scenario_free(sc);
}

static void expect_error(const char *extra, const char *what)
{
    kt_err err;
    scenario *sc = load(extra, NULL, 0, &err);
    CU_ASSERT_PTR_NULL(sc);
    scenario_free(sc);
    CU_ASSERT(strstr(err.msg, what) != NULL);
    if (!strstr(err.msg, what))
        fprintf(stderr, "wanted '%s' in: %s\n", what, err.msg);
}

static void test_bad_input(void)
{
    expect_error("engine: tgi\n", "engine: 'tgi' is not one of: vllm, trtllm, sglang");
    expect_error("scheduler: {cuda_graph_batch_sizes: [1, 4, 2]}\n",
                 "scheduler.cuda_graph_batch_sizes[2]: 2 is not above the size before it (4)");
    expect_error("scheduler: {host_step_overhead: -1us}\n", "scheduler.host_step_overhead");
}

/* CUDA graphs captured for 1, 2, 4 and 8 sequences: three sequences
 * decoding run as a batch of 4, the fourth row a dummy decode of one token
 * over no KV. Three 48-token prompts prefill in step 1 (not a decode step:
 * no padding); step 2 decodes all three after 48 tokens each, costed as
 * those three rows and the dummy with four logits, and the dummy's work is
 * kept out of the useful FLOPs. */
static void test_graph_padding(void)
{
    kt_err err;
    scenario *sc = load("", NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    cost_model cm;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, sc->model, sc->hw, 1, DTYPE_BF16, &err), 0);
    engine *eng = engine_new(64);
    metrics *met = metrics_new(1);
    serve_cfg cfg = { .max_running = 8, .token_budget = 1024, .chunked_prefill = 1, .max_multi_step = 1,
                      .graph_sizes = { 1, 2, 4, 8 }, .n_graph_sizes = 4 };
    replica r;
    replica_config c = { .id = 0, .gpus = 1, .eng = eng, .cm = &cm, .kv_blocks = 40, .block_tokens = 16,
                         .cfg = &cfg, .met = met, .on_done = NULL };
    CU_ASSERT_EQUAL_FATAL(replica_init(&r, &c), 0);
    serve_req q[3];
    memset(q, 0, sizeof q);
    r.step.busy = 1;
    for (int i = 0; i < 3; i++) {
        q[i].rec.id = i;
        q[i].rec.prompt_tokens = 48;
        q[i].rec.output_tokens = 10;
        q[i].inline_segs[0] = (kv_segment){ (uint64_t)i + 1, 48 };
        q[i].content = (kv_content){ q[i].inline_segs, 1 };
        replica_submit(&r, &q[i]);
    }
    r.step.busy = 0;
    replica_on_step_end(eng, &r, 0);
    CU_ASSERT_EQUAL(r.step.pad_rows, 0);
    cost_seq pre[3] = { { 48, 0, 0, 0 }, { 48, 0, 0, 0 }, { 48, 0, 0, 0 } };
    cost_iter it;
    cost_iteration(&cm, pre, 3, 3, &it);
    CU_ASSERT_EQUAL(r.step.step_end_ns[0], it.total_ns);
    CU_ASSERT_EQUAL_FATAL(engine_step(eng), 1);
    CU_ASSERT_EQUAL(r.step.pad_rows, 1);
    int64_t t1 = engine_now(eng);
    double flops1 = r.acct->flops;
    cost_seq dec[4] = { { 1, 48, 0, 0 }, { 1, 48, 0, 0 }, { 1, 48, 0, 0 }, { 1, 0, 1, 0 } };
    cost_iteration(&cm, dec, 4, 4, &it);
    CU_ASSERT(it.flops_wasted > 0);
    CU_ASSERT_EQUAL_FATAL(engine_step(eng), 1);
    CU_ASSERT_EQUAL(engine_now(eng) - t1, it.total_ns);
    CU_ASSERT_DOUBLE_EQUAL(r.acct->flops - flops1, it.flops - it.flops_wasted, 1e-6 * it.flops);
    replica_destroy(&r);
    for (int i = 0; i < 3; i++)
        kv_seq_destroy(&q[i].seq);
    metrics_free(met);
    engine_free(eng);
    scenario_free(sc);
}

int main(void)
{
    static const tu_test tests[] = {
        { "vllm: its defaults", test_vllm },
        { "trtllm: its defaults", test_trtllm },
        { "sglang: its defaults", test_sglang },
        { "scenario keys override the preset", test_overrides },
        { "bad engine and graph sizes", test_bad_input },
        { "a decode batch padded to its CUDA-graph size", test_graph_padding },
        { NULL, NULL },
    };
    return tu_run("preset", tests);
}
