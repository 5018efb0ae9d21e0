/* test_sparse.c — sparse attention by page selection: the bytes a decode step reads with a budget, pages faulted or prefetched by recall, and the stall of faulted pages over a link of known bandwidth and latency. */
#include <math.h>
#include <string.h>

#include "cost.h"
#include "scenario.h"
#include "sim.h"
#include "sparse_attn.h"
#include "testutil.h"

static model_card *m8;
static hw_profile *h200;

/* Llama-3.1-8B (models/llama-3.1-8b.yaml): 32 global layers, 8 KV heads
 * of 128 dims; bf16 is 2 bytes. One token of one layer's K and V:
 * 2 × 8 × 128 × 2 = 4,096 B; one page of 16 tokens: 65,536 B. */
#define TOKEN_LAYER_BYTES 4096.0
#define PAGE_BYTES 65536.0

static sparse_attn_cfg quest(void)
{
    return (sparse_attn_cfg){ .on = 1, .budget_tokens = 1024, .page_tokens = 16, .metadata = SPARSE_META_MINMAX,
                              .recall = 1, .prefetch = 1, .dense_layers = 2, .kv_tier_index = -1 };
}

/* At an 8,192-token context a 1,024-token budget selects 64 of its 512
 * pages; minmax metadata is 2 × 128 × 8 × 2 = 4,096 B a page on one GPU.
 * Read: 64 × 16 × 4,096 + 512 × 4,096 = 4,194,304 + 2,097,152 =
 * 6,291,456 B a layer. With tp 8 one GPU holds one KV head: 512 B of
 * K and V a token, 2 × 128 × 1 × 2 = 512 B of metadata a page:
 * 1,024 × 512 + 512 × 512 = 786,432 B. */
static void test_read_bytes_with_budget(void)
{
    sparse_attn_cfg c = quest();
    CU_ASSERT_EQUAL(sparse_attn_pages(&c, 8192), 512);
    CU_ASSERT_EQUAL(sparse_attn_selected_pages(&c, 8192), 64);
    CU_ASSERT_EQUAL(sparse_attn_read_tokens(&c, 8192), 1024);
    CU_ASSERT_DOUBLE_EQUAL(sparse_attn_metadata_bytes_page_gpu(&c, m8, 5, DTYPE_BF16, 1), 4096.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(sparse_attn_layer_read_bytes_gpu(&c, m8, 5, DTYPE_BF16, 1, 8192), 6291456.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(sparse_attn_layer_read_bytes_gpu(&c, m8, 5, DTYPE_BF16, 8, 8192), 786432.0, 0);
    /* A context shorter than the budget: every page, every token once
     * (1,000 tokens span 63 pages, the last one part full). */
    CU_ASSERT_EQUAL(sparse_attn_selected_pages(&c, 1000), 63);
    CU_ASSERT_EQUAL(sparse_attn_read_tokens(&c, 1000), 1000);
    /* Layers 0 and 1 are dense; the other 30 select. */
    CU_ASSERT_FALSE(sparse_attn_layer_sparse(&c, m8, 1));
    CU_ASSERT_TRUE(sparse_attn_layer_sparse(&c, m8, 2));
    CU_ASSERT_EQUAL(sparse_attn_sparse_layers(&c, m8), 30);
    CU_ASSERT_DOUBLE_EQUAL(sparse_attn_page_bytes(&c, m8, DTYPE_BF16), PAGE_BYTES, 0);
    CU_ASSERT_DOUBLE_EQUAL(sparse_attn_sparse_share(&c, m8, DTYPE_BF16), 30.0 / 32.0, 1e-15);
}

/* One decode step at an 8,192-token context, dense against sparse: only
 * the 30 sparse layers' attention reads change. Dense, a layer reads
 * 8,193 tokens (the context and the new one); sparse, 1,025 tokens and
 * 512 pages of metadata: (1,025 − 8,193) × 4,096 + 512 × 4,096 =
 * −27,262,976 B a layer, −817,889,280 B over 30. Everything else (weights,
 * activations) reads the same. */
static void test_cost_model_charges_budget_and_metadata(void)
{
    cost_model dense, sparse;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&dense, m8, h200, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&sparse, m8, h200, 1, DTYPE_BF16, &err), 0);
    sparse_attn_cfg c = quest();
    CU_ASSERT_EQUAL_FATAL(cost_model_set_sparse(&sparse, &c, &err), 0);
    cost_seq s = { 1, 8192, 0 };
    cost_iter a, b;
    cost_iteration(&dense, &s, 1, 1, &a);
    cost_iteration(&sparse, &s, 1, 1, &b);
    CU_ASSERT_DOUBLE_EQUAL(b.hbm_bytes - a.hbm_bytes, -817889280.0, 1e-3);
    CU_ASSERT_TRUE(b.attn_ns < a.attn_ns);
    /* A prefill chunk attends densely: no change. */
    cost_seq p = { 512, 8192, 0 };
    cost_iteration(&dense, &p, 1, 1, &a);
    cost_iteration(&sparse, &p, 1, 1, &b);
    CU_ASSERT_DOUBLE_EQUAL(b.hbm_bytes, a.hbm_bytes, 0);
    CU_ASSERT_EQUAL(b.total_ns, a.total_ns);
}

/* Loads tests/data/sparse.yaml with the overrides, runs it with the
 * invariant checks after every event and summarizes into *sum. */
static int run_sparse(char **sets, int n, metrics_summary *sum)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path("tests/data/sparse.yaml"), sets, n, &err);
    if (!sc) {
        kt_err_print(&err, stderr);
        return -1;
    }
    sim_opts o = { .check = 1 };
    metrics *m = NULL;
    sim_stats st;
    int rc = sim_run(sc, &o, &m, &st, &err);
    if (rc == 0)
        rc = metrics_summarize(m, &sc->slo, &sc->cost, sum, &err);
    if (rc < 0)
        kt_err_print(&err, stderr);
    metrics_free(m);
    scenario_free(sc);
    return rc;
}

/* Two output tokens: one decode step, over the 8,192-token prompt, all of
 * whose 512 pages lie in the tier (hbm_tokens 0). It selects 64 pages in
 * each of 30 layers, 1,920, all from the tier. Recall 1: the predictor
 * named them all, none faults. Recall 0 (or no predictor): all fault. */
static void test_recall_one_and_zero(void)
{
    metrics_summary s;
    char *one[] = { "sparse_attention.recall=1" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(one, 1, &s), 0);
    CU_ASSERT_EQUAL(s.sparse_pages_selected, 1920);
    CU_ASSERT_EQUAL(s.sparse_pages_resident, 0);
    CU_ASSERT_EQUAL(s.sparse_pages_prefetched, 1920);
    CU_ASSERT_EQUAL(s.sparse_pages_faulted, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.sparse_bytes_prefetched, 1920 * PAGE_BYTES, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.sparse_bytes_faulted, 0, 0);
    char *zero[] = { "sparse_attention.recall=0" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(zero, 1, &s), 0);
    CU_ASSERT_EQUAL(s.sparse_pages_prefetched, 0);
    CU_ASSERT_EQUAL(s.sparse_pages_faulted, 1920);
    CU_ASSERT_DOUBLE_EQUAL(s.sparse_bytes_faulted, 1920 * PAGE_BYTES, 0);
    char *off[] = { "sparse_attention.prefetch=off" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(off, 1, &s), 0);
    CU_ASSERT_EQUAL(s.sparse_pages_prefetched, 0);
    CU_ASSERT_EQUAL(s.sparse_pages_faulted, 1920);
}

/* Recall 0: the decode step waits for its 1,920 faulted pages,
 * 1,920 × 65,536 = 125,829,120 B over the 50 GB/s link after the 10 us
 * setup (the tier's operations cost nothing more, its own 1,000 GB/s
 * read is wider): 10,000 + 125,829,120 / 50 = 2,526,582.4 ns of stall on
 * one GPU. Recall 1: the pages came while the prompt's last chunk
 * computed (tens of ms), no stall. */
static void test_fault_stall_over_link(void)
{
    metrics_summary s;
    char *zero[] = { "sparse_attention.recall=0" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(zero, 1, &s), 0);
    CU_ASSERT_DOUBLE_EQUAL(s.sparse_stall_s, 2526582.4e-9, 2e-9);
    CU_ASSERT_DOUBLE_EQUAL(s.stall_s, s.sparse_stall_s, 0);
    char *one[] = { "sparse_attention.recall=1" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(one, 1, &s), 0);
    CU_ASSERT_DOUBLE_EQUAL(s.sparse_stall_s, 0, 0);
}

/* Nine output tokens: eight decode steps at contexts of 8,192 to 8,199
 * tokens (512 or 513 pages), each selecting 64 pages in 30 layers:
 * 8 × 64 × 30 = 15,360 pages, each in HBM, prefetched or faulted. Of
 * those from the tier, recall 0.9 prefetches a binomial share: over some
 * 15,000 pages its standard deviation is sqrt(0.09 / 15,000) = 0.0025, so
 * 0.88..0.92 holds it by eight of them. */
static void test_counts_add_up(void)
{
    metrics_summary s;
    char *sets[] = { "workload.output_tokens.value=9" };
    CU_ASSERT_EQUAL_FATAL(run_sparse(sets, 1, &s), 0);
    CU_ASSERT_EQUAL(s.sparse_pages_selected, 15360);
    CU_ASSERT_EQUAL(s.sparse_pages_resident + s.sparse_pages_prefetched + s.sparse_pages_faulted, 15360);
    double moved = (double)(s.sparse_pages_prefetched + s.sparse_pages_faulted);
    CU_ASSERT_TRUE(moved > 15000);
    CU_ASSERT_TRUE(s.sparse_pages_prefetched / moved > 0.88 && s.sparse_pages_prefetched / moved < 0.92);
}

/* Bad settings stop before simulating, at the key, with what is allowed. */
static void test_bad_settings(void)
{
    struct { const char *set, *want; } cases[] = {
        { "sparse_attention.kv_tier=dramm", "'dramm' is not one of: dram" },
        { "sparse_attention.budget_tokens=1000", "1000 is not a positive multiple of page_tokens 16" },
        { "sparse_attention.recall=1.5", "sparse_attention.recall" },
        { "sparse_attention.prefetch=yes", "sparse_attention.prefetch" },
        { "sparse_attention.dense_layers=32", "sparse_attention.dense_layers" },
        { "sparse_attention.metadata=lowrank", "sparse_attention.metadata" },
        /* DeepSeek-V3's layers are all MLA: none selects. */
        { "model=deepseek-v3", "no layer of deepseek-v3 selects pages" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *sets[] = { (char *)cases[i].set };
        kt_err err;
        scenario *sc = scenario_load(tu_path("tests/data/sparse.yaml"), sets, 1, &err);
        CU_ASSERT_PTR_NULL(sc);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].want));
        if (!strstr(err.msg, cases[i].want))
            fprintf(stderr, "%s: %s\n", cases[i].set, err.msg);
        scenario_free(sc);
    }
}

int main(void)
{
    kt_err err;
    m8 = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    h200 = m8 ? hw_load(tu_path("hwprofiles/h200-sxm.yaml"), &err) : NULL;
    if (!m8 || !h200) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "read bytes with a budget: pages plus metadata", test_read_bytes_with_budget },
        { "cost model charges the budget and the metadata", test_cost_model_charges_budget_and_metadata },
        { "recall 1: no faults; recall 0: all fault", test_recall_one_and_zero },
        { "faulted pages stall the step over the link", test_fault_stall_over_link },
        { "selected = resident + prefetched + faulted", test_counts_add_up },
        { "bad settings are refused at the key", test_bad_settings },
        { NULL, NULL },
    };
    int rc = tu_run("sparse", tests);
    model_free(m8);
    hw_free(h200);
    return rc;
}
