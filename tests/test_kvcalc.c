/* test_kvcalc.c — checks the `kvtier kv` calculator against KV and memory figures worked out by hand. */
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvcalc.h"
#include "testutil.h"

/* Search paths for cards and profiles in the source tree (set by dirs_init). */
static char model_dir[4096], hw_dir[4096];
static const char *model_dirs[2], *hw_dirs[2];

static void dirs_init(void)
{
    snprintf(model_dir, sizeof model_dir, "%s", tu_path("models"));
    snprintf(hw_dir, sizeof hw_dir, "%s", tu_path("hwprofiles"));
    model_dirs[0] = model_dir;
    hw_dirs[0] = hw_dir;
}

/* Loads a shipped card; the test fails (and NULL comes back) if it is missing. */
static model_card *load_model(const char *name)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    model_card *m = model_load_named(name, model_dirs, &err);
    if (!m)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL(m);
    return m;
}

static hw_profile *load_gpu(const char *name)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    hw_profile *h = hw_load_named(name, hw_dirs, &err);
    if (!h)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL(h);
    return h;
}

/* ------------------------------------------------------------------------ */
/* Running kvcalc_main with its output captured                              */

typedef tu_output run_result;

static int call_main(int argc, char **argv, void *ud)
{
    (void)ud;
    return kvcalc_main(argc, argv, model_dirs, hw_dirs);
}

/* Runs the command on the NULL-terminated args and returns what it printed. */
static run_result run_kv(char **args) { return tu_capture(call_main, args, NULL); }
static void run_free(run_result *r) { tu_output_free(r); }

/* Runs a --json command and parses what it printed. Caller json_decref's. */
static json_t *run_json(char **args)
{
    run_result r = run_kv(args);
    CU_ASSERT_EQUAL(r.rc, 0);
    json_error_t jerr;
    json_t *o = json_loads(r.out ? r.out : "", 0, &jerr);
    if (!o)
        fprintf(stderr, "bad JSON (%s): %s\nstderr: %s\n", jerr.text, r.out, r.err);
    CU_ASSERT_PTR_NOT_NULL(o);
    run_free(&r);
    return o;
}

/* A JSON number as an integer (the calculator prints whole byte counts as integers). */
static json_int_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    CU_ASSERT_TRUE(json_is_integer(v));
    return json_integer_value(v);
}

/* The entry of the "kinds" array for one attention kind, or NULL. */
static json_t *json_kind(const json_t *o, const char *kind)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(o, "kinds"), i, k)
        if (strcmp(json_string_value(json_object_get(k, "kind")), kind) == 0)
            return k;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* KV bytes                                                                  */

/* Llama-3.1-70B: 80 layers × 2 (K and V) × 8 KV heads × head_dim 128 × 2 B
 * (bf16) = 327,680 B per token; a 131,072-token context holds
 * 327,680 × 131,072 = 42,949,672,960 B. */
static void test_llama70b_kv(void)
{
    model_card *m = load_model("llama-3.1-70b");
    if (!m)
        return;
    kvcalc_result r;
    kvcalc_compute(m, NULL, 131072, DTYPE_BF16, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 80.0 * 2 * 8 * 128 * 2);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 327680.0);
    CU_ASSERT_EQUAL(r.layers_of_kind[ATTN_GLOBAL], 80);
    CU_ASSERT_EQUAL(r.layers_of_kind[ATTN_CHUNKED], 0);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token_kind[ATTN_GLOBAL], 327680.0);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 42949672960.0);
    CU_ASSERT_EQUAL(r.kv_bytes_context_kind[ATTN_GLOBAL], 42949672960.0);
    /* No GPU: no memory figures. */
    CU_ASSERT_EQUAL(r.hbm_bytes_per_gpu, 0);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, 0);
    /* fp8 KV halves it: 1 B per element. */
    kvcalc_compute(m, NULL, 131072, DTYPE_FP8, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 80.0 * 2 * 8 * 128 * 1);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 21474836480.0);
    model_free(m);
}

/* Llama-4-Scout: 48 layers, 8 KV heads × 128 dims × 2 (K, V) × 2 B = 4,096 B
 * per layer per token. 36 layers are chunked (chunk 8,192), 12 global.
 * At 10,000,000 tokens a chunked layer holds only 8,192 tokens:
 *   chunked 36 × 8,192 × 4,096          =   1,207,959,552 B
 *   global  12 × 10,000,000 × 4,096     = 491,520,000,000 B
 *   total                               = 492,727,959,552 B
 * Per token with windows ignored: 48 × 4,096 = 196,608 B. */
static void test_scout_10m_kv(void)
{
    model_card *m = load_model("llama-4-scout");
    if (!m)
        return;
    kvcalc_result r;
    kvcalc_compute(m, NULL, 10000000, DTYPE_BF16, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.layers_of_kind[ATTN_CHUNKED], 36);
    CU_ASSERT_EQUAL(r.layers_of_kind[ATTN_GLOBAL], 12);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 196608.0);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token_kind[ATTN_CHUNKED], 36.0 * 4096);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token_kind[ATTN_GLOBAL], 12.0 * 4096);
    CU_ASSERT_EQUAL(r.kv_bytes_context_kind[ATTN_CHUNKED], 36.0 * 8192 * 4096);
    CU_ASSERT_EQUAL(r.kv_bytes_context_kind[ATTN_CHUNKED], 1207959552.0);
    CU_ASSERT_EQUAL(r.kv_bytes_context_kind[ATTN_GLOBAL], 12.0 * 10000000 * 4096);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 36.0 * 8192 * 4096 + 12.0 * 10000000 * 4096);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 492727959552.0);
    /* Below the chunk every layer holds the whole context: 4,000 × 196,608 B. */
    kvcalc_compute(m, NULL, 4000, DTYPE_BF16, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 4000.0 * 196608);
    model_free(m);
}

/* DeepSeek-V3 caches the MLA latent: (kv_lora_rank 512 + rope dim 64) × 2 B
 * = 1,152 B per layer per token, × 61 layers = 70,272 B. */
static void test_deepseek_mla_kv(void)
{
    model_card *m = load_model("deepseek-v3");
    if (!m)
        return;
    kvcalc_result r;
    kvcalc_compute(m, NULL, 1000, DTYPE_BF16, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.layers_of_kind[ATTN_MLA], 61);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 61.0 * (512 + 64) * 2);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 1000.0 * 70272);
    model_free(m);
}

/* ------------------------------------------------------------------------ */
/* Memory budget and the longest context                                     */

/* Llama-3.1-8B on one H100: budget = HBM × 0.9 − weights; KV per token is
 * 32 layers × 2 × 8 × 128 × 2 B = 131,072 B and every layer is global, so
 * the longest context is floor(budget / 131,072).
 * With the shipped figures: HBM 80 GB = 80,000,000,000 B, × 0.9 =
 * 72,000,000,000 B; weights 2 B × 8,030,261,248 params = 16,060,522,496 B;
 * budget 55,939,477,504 B; / 131,072 = 426,784.34 → 426,784 tokens.
 * HBM and weights are read from the loaded profile and card (so a corrected
 * spec figure does not break the test); the token count is worked out here
 * without the calculator. */
static void test_max_tokens_llama8b_h100(void)
{
    model_card *m = load_model("llama-3.1-8b");
    hw_profile *h = load_gpu("h100-sxm");
    if (!m || !h)
        goto out;
    const double fraction = 0.9;
    double budget = h->hbm_bytes * fraction - model_weight_bytes(m);
    int64_t expect = (int64_t)floor(budget / 131072.0);
    kvcalc_result r;
    kvcalc_compute(m, h, m->max_context_tokens, DTYPE_BF16, 1, fraction, 0, &r);
    CU_ASSERT_EQUAL(r.kv_bytes_per_token, 131072.0);
    CU_ASSERT_EQUAL(r.hbm_bytes_per_gpu, h->hbm_bytes);
    CU_ASSERT_DOUBLE_EQUAL(r.kv_budget_bytes_per_gpu, budget, 1.0);
    CU_ASSERT_EQUAL(r.weight_bytes_per_gpu, r.weight_bytes);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, expect);
    /* Sanity of the hand estimate above: between 400K and 450K tokens. */
    CU_ASSERT_TRUE(expect > 400000 && expect < 450000);

    /* A reserve comes straight off the budget: 1 GiB = 8,192 tokens of 131,072 B. */
    kvcalc_compute(m, h, m->max_context_tokens, DTYPE_BF16, 1, fraction, 1073741824.0, &r);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, (int64_t)floor((budget - 1073741824.0) / 131072.0));
    /* Weights larger than the usable HBM: no budget, no tokens. */
    kvcalc_compute(m, h, m->max_context_tokens, DTYPE_BF16, 1, 0.1, 0, &r);
    CU_ASSERT_TRUE(r.kv_budget_bytes_per_gpu < 0);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, 0);
out:
    model_free(m);
    if (h)
        hw_free(h);
}

/* tp = 8 on Llama-3.1-70B: its 8 KV heads go one per GPU, so each GPU holds
 * 1/8 of the KV (42,949,672,960 / 8 = 5,368,709,120 B at 128K) and 1/8 of
 * the weights; a GPU's KV per token is 327,680 / 8 = 40,960 B, so the
 * longest context is floor((HBM × 0.9 − weights / 8) / 40,960). */
static void test_tp8_splits_kv(void)
{
    model_card *m = load_model("llama-3.1-70b");
    hw_profile *h = load_gpu("h100-sxm");
    if (!m || !h)
        goto out;
    kvcalc_result r;
    kvcalc_compute(m, h, 131072, DTYPE_BF16, 8, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.weight_bytes_per_gpu, model_weight_bytes(m) / 8);
    double budget = h->hbm_bytes * 0.9 - model_weight_bytes(m) / 8;
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, (int64_t)floor(budget / 40960.0));

    json_t *o = run_json((char *[]){ "kv", "llama-3.1-70b", "--context", "128K", "--tp", "8", "--json", NULL });
    if (o) {
        CU_ASSERT_EQUAL(jint(o, "context_tokens"), 131072);
        CU_ASSERT_EQUAL(jint(o, "kv_bytes_context"), 42949672960LL);
        CU_ASSERT_EQUAL(jint(o, "kv_bytes_context_per_gpu"), 5368709120LL);
        CU_ASSERT_EQUAL(jint(o, "kv_bytes_per_token_per_gpu"), 40960);
        json_decref(o);
    }
    /* tp = 1: the GPU holds it all. */
    o = run_json((char *[]){ "kv", "llama-3.1-70b", "--context", "131072", "--json", NULL });
    if (o) {
        CU_ASSERT_EQUAL(jint(o, "kv_bytes_context_per_gpu"), 42949672960LL);
        json_decref(o);
    }
out:
    model_free(m);
    if (h)
        hw_free(h);
}

/* MLA's latent is shared by all heads, so tensor parallelism does not split
 * it: every GPU of a tp = 8 group holds all 70,272 B per token (the rule
 * cost.h uses too). */
static void test_tp8_mla_not_split(void)
{
    json_t *o = run_json((char *[]){ "kv", "deepseek-v3", "--context", "1000", "--tp", "8", "--json", NULL });
    if (!o)
        return;
    CU_ASSERT_EQUAL(jint(o, "kv_bytes_per_token_per_gpu"), 70272);
    CU_ASSERT_EQUAL(jint(o, "kv_bytes_context_per_gpu"), 70272000LL);
    json_decref(o);
}

/* Scout on 8 H100s, where the answer is not linear. Per GPU (8 KV heads, one
 * per GPU) a token costs 4,096 / 8 = 512 B per layer. Past the 8,192-token
 * chunk only the 12 global layers grow, so for C >= 8,192:
 *   KV_gpu(C) = (36 × 8,192 + 12 × C) × 512 B
 *   C_max     = floor((budget / 512 − 36 × 8,192) / 12).
 * A linear estimate from the per-token figure, floor(budget / (48 × 512)),
 * is about 4 times too small. */
static void test_max_tokens_scout_nonlinear(void)
{
    model_card *m = load_model("llama-4-scout");
    hw_profile *h = load_gpu("h100-sxm");
    if (!m || !h)
        goto out;
    const int64_t chunk_tokens = 8192;
    double budget = h->hbm_bytes * 0.9 - model_weight_bytes(m) / 8;
    if (budget <= 0) {
        CU_FAIL("Scout's weights do not fit 8 H100s");
        goto out;
    }
    int64_t expect = (int64_t)floor((budget / 512.0 - 36.0 * chunk_tokens) / 12.0);
    int64_t linear = (int64_t)floor(budget / (48.0 * 512));
    kvcalc_result r;
    kvcalc_compute(m, h, 10000000, DTYPE_BF16, 8, 0.9, 0, &r);
    CU_ASSERT_TRUE(expect > chunk_tokens);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, expect);
    CU_ASSERT_TRUE(r.max_tokens_per_gpu_group > 3 * linear);
    /* The edge, checked with the card's own KV: C_max fits, C_max + 1 does not. */
    CU_ASSERT_TRUE(model_kv_bytes(m, expect, DTYPE_BF16) / 8 <= r.kv_budget_bytes_per_gpu);
    CU_ASSERT_TRUE(model_kv_bytes(m, expect + 1, DTYPE_BF16) / 8 > r.kv_budget_bytes_per_gpu);

    /* Inside the chunk KV is linear again: reserve all but 1,000 tokens'
     * worth (1,000 × 48 × 512 B) plus 5 B of slack, and 1,000 tokens fit. */
    double want_budget = 1000.0 * 48 * 512 + 5;
    kvcalc_compute(m, h, 10000000, DTYPE_BF16, 8, 0.9, budget - want_budget, &r);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, 1000);
out:
    model_free(m);
    if (h)
        hw_free(h);
}

/* Mistral-7B (v0.1) slides a 4,096-token window on every layer, so its KV
 * stops at 32 × 4,096 × 4,096 B = 536,870,912 B whatever the context: any
 * length fits (INT64_MAX; JSON null). */
static void test_all_windowed_fits_any_length(void)
{
    model_card *m = load_model("mistral-7b");
    hw_profile *h = load_gpu("h100-sxm");
    if (!m || !h)
        goto out;
    kvcalc_result r;
    kvcalc_compute(m, h, 1000000, DTYPE_BF16, 1, 0.9, 0, &r);
    CU_ASSERT_EQUAL(r.kv_bytes_context, 536870912.0);
    CU_ASSERT_EQUAL(r.max_tokens_per_gpu_group, INT64_MAX);
    json_t *o = run_json((char *[]){ "kv", "mistral-7b", "--gpu", "h100-sxm", "--json", NULL });
    if (o) {
        CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(o, "gpu"), "max_tokens_per_gpu_group")));
        json_decref(o);
    }
out:
    model_free(m);
    if (h)
        hw_free(h);
}

/* ------------------------------------------------------------------------ */
/* SRAM tiles                                                                */

/* A K+V tile = tile tokens × KV heads × head dim × bytes × 2:
 *   64 × 8 × 128 × 2 B × 2 = 262,144 B (Llama-3.1-8B, bf16, tp 1)
 *   16 tokens: 65,536 B; 32 tokens: 131,072 B
 *   tp 8 leaves 1 KV head per GPU: 64 × 1 × 128 × 2 × 2 = 32,768 B
 *   fp8 KV is dequantized to bf16 in SRAM, so its tile is the bf16 one
 *   MLA (DeepSeek-V3): one latent, no K/V split, not split by tp:
 *   64 × (512 + 64) × 2 B = 73,728 B. */
static void test_tile_bytes(void)
{
    CU_ASSERT_EQUAL(kvcalc_tile_bytes(64, 8, 128, 2), 262144.0);
    model_card *m = load_model("llama-3.1-8b");
    model_card *ds = load_model("deepseek-v3");
    if (!m || !ds)
        goto out;
    CU_ASSERT_EQUAL(kvcalc_layer_tile_bytes(m, 0, 1, 16, DTYPE_BF16), 65536.0);
    CU_ASSERT_EQUAL(kvcalc_layer_tile_bytes(m, 0, 1, 32, DTYPE_BF16), 131072.0);
    CU_ASSERT_EQUAL(kvcalc_layer_tile_bytes(m, 0, 8, 64, DTYPE_BF16), 32768.0);
    CU_ASSERT_EQUAL(kvcalc_tile_dtype(DTYPE_FP8), DTYPE_BF16);
    CU_ASSERT_EQUAL(kvcalc_tile_dtype(DTYPE_INT4), DTYPE_BF16);
    CU_ASSERT_EQUAL(kvcalc_tile_dtype(DTYPE_FP16), DTYPE_FP16);
    CU_ASSERT_EQUAL(kvcalc_tile_dtype(DTYPE_FP32), DTYPE_FP32);
    CU_ASSERT_EQUAL(kvcalc_layer_tile_bytes(ds, 0, 1, 64, DTYPE_BF16), 73728.0);
    CU_ASSERT_EQUAL(kvcalc_layer_tile_bytes(ds, 0, 8, 64, DTYPE_BF16), 73728.0);
out:
    model_free(m);
    model_free(ds);
}

/* The tile table against the H100's shared memory per SM (228 KiB =
 * 233,472 B in the shipped profile): with fp8 KV dequantized to bf16,
 * 32 tokens (131,072 B) fit, 64 (262,144 B) do not; double-buffered, 16
 * tokens (2 × 65,536) fit and 32 (2 × 131,072 = 262,144) do not. The fits
 * are checked against the loaded figure so a corrected spec stays consistent. */
static void test_tiles_json(void)
{
    hw_profile *h = load_gpu("h100-sxm");
    json_t *o = run_json((char *[]){ "kv", "llama-3.1-8b", "--dtype", "fp8", "--gpu", "h100-sxm", "--tile-tokens",
                                     "16,32,64", "--json", NULL });
    if (!o || !h)
        goto out;
    json_t *tiles = json_object_get(o, "tiles");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(tiles, "tile_dtype")), "bf16");
    CU_ASSERT_EQUAL(jint(tiles, "smem_per_sm_bytes"), (json_int_t)h->smem_per_sm_bytes);
    json_t *shape = json_array_get(json_object_get(tiles, "shapes"), 0);
    CU_ASSERT_EQUAL(jint(shape, "kv_heads_per_gpu"), 8);
    json_t *rows = json_object_get(shape, "tiles");
    CU_ASSERT_EQUAL_FATAL(json_array_size(rows), 3);
    const json_int_t want_bytes[3] = { 65536, 131072, 262144 };
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(rows, i);
        CU_ASSERT_EQUAL(jint(row, "tile_bytes"), want_bytes[i]);
        CU_ASSERT_EQUAL(json_is_true(json_object_get(row, "fits")), want_bytes[i] <= h->smem_per_sm_bytes);
        CU_ASSERT_EQUAL(json_is_true(json_object_get(row, "fits_2_stages")), 2 * want_bytes[i] <= h->smem_per_sm_bytes);
    }
    CU_ASSERT_EQUAL(h->smem_per_sm_bytes, 233472.0);
    CU_ASSERT_TRUE(json_is_true(json_object_get(json_array_get(rows, 1), "fits")));
    CU_ASSERT_TRUE(json_is_false(json_object_get(json_array_get(rows, 2), "fits")));
out:
    if (o)
        json_decref(o);
    if (h)
        hw_free(h);
}

/* ------------------------------------------------------------------------ */
/* Paging                                                                    */

/* Llama-3.1-8B, bf16, 1,000 tokens, 16-token pages (131,072 B per token):
 *   pages        ceil(1,000 / 16) = 63, holding 63 × 16 = 1,008 tokens
 *   page bytes   1,008 × 131,072 = 132,120,576 B; KV 1,000 × 131,072 = 131,072,000 B
 *   slack        8 tokens × 131,072 = 1,048,576 B in the last page
 *   metadata     shared table: 63 × 48 B = 3,024 B = 0.00229% of the pages
 *                a table per layer: 32 × 63 = 2,016 entries × 48 = 96,768 B
 * The default 48 B is kvtier's kv manager: 4 + 4 + 8 + 8 + 2 × 12.
 * fp8, 1-token pages per layer: a layer's page is 1 × 2 × 8 × 128 × 1 B =
 * 2,048 B, so 48 B is 2.34375% (over the 2% target); 2-token pages: 1.171875%. */
static void test_paging_overhead(void)
{
    CU_ASSERT_EQUAL(KVCALC_DEFAULT_PAGE_META_BYTES, 48);
    model_card *m = load_model("llama-3.1-8b");
    if (!m)
        return;
    kvcalc_paging pg;
    kvcalc_paging_compute(m, 1000, DTYPE_BF16, 1, 16, 48, KVCALC_PAGES_SHARED, &pg);
    CU_ASSERT_EQUAL(pg.pages, 63);
    CU_ASSERT_EQUAL(pg.page_bytes, 132120576.0);
    CU_ASSERT_EQUAL(pg.kv_bytes, 131072000.0);
    CU_ASSERT_EQUAL(pg.slack_tokens, 8);
    CU_ASSERT_EQUAL(pg.slack_bytes, 1048576.0);
    CU_ASSERT_EQUAL(pg.meta_bytes, 3024.0);
    CU_ASSERT_DOUBLE_EQUAL(pg.meta_frac, 3024.0 / 132120576.0, 1e-15);
    kvcalc_paging_compute(m, 1000, DTYPE_BF16, 1, 16, 48, KVCALC_PAGES_PER_LAYER, &pg);
    CU_ASSERT_EQUAL(pg.pages, 2016);
    CU_ASSERT_EQUAL(pg.meta_bytes, 96768.0);
    /* A whole number of pages leaves no slack: 1,024 tokens. */
    kvcalc_paging_compute(m, 1024, DTYPE_BF16, 1, 16, 48, KVCALC_PAGES_SHARED, &pg);
    CU_ASSERT_EQUAL(pg.slack_tokens, 0);
    CU_ASSERT_EQUAL(pg.slack_bytes, 0.0);

    kvcalc_paging_compute(m, 1000, DTYPE_FP8, 1, 1, 48, KVCALC_PAGES_PER_LAYER, &pg);
    CU_ASSERT_EQUAL(pg.pages, 32000);
    CU_ASSERT_DOUBLE_EQUAL(pg.meta_frac, 0.0234375, 1e-12);
    CU_ASSERT_TRUE(pg.meta_frac > KVCALC_PAGE_META_TARGET_FRAC);
    kvcalc_paging_compute(m, 1000, DTYPE_FP8, 1, 2, 48, KVCALC_PAGES_PER_LAYER, &pg);
    CU_ASSERT_DOUBLE_EQUAL(pg.meta_frac, 0.01171875, 1e-12);
    CU_ASSERT_TRUE(pg.meta_frac < KVCALC_PAGE_META_TARGET_FRAC);

    json_t *o = run_json((char *[]){ "kv", "llama-3.1-8b", "--context", "1000", "--dtype", "fp8", "--page-tokens",
                                     "1,2", "--page-scope", "layer", "--json", NULL });
    if (o) {
        json_t *pages = json_object_get(json_object_get(o, "paging"), "pages");
        CU_ASSERT_EQUAL(jint(json_array_get(pages, 0), "meta_bytes"), 1536000);
        CU_ASSERT_TRUE(json_is_false(json_object_get(json_array_get(pages, 0), "below_target")));
        CU_ASSERT_TRUE(json_is_true(json_object_get(json_array_get(pages, 1), "below_target")));
        json_decref(o);
    }
    model_free(m);
}

/* Contiguous reservation against paging, Llama-3.1-8B bf16 (131,072 B per
 * token), requests of 100, 1,000 and 3,000 tokens, contiguous reserving 4,096:
 *   needed      100 + 1,000 + 3,000 = 4,100 tokens = 537,395,200 B
 *   contiguous  3 × 4,096 = 12,288 tokens = 1,610,612,736 B, waste 8,188 / 12,288 = 66.63%
 *   16-token pages  7 + 63 + 188 = 258 pages = 4,128 tokens = 541,065,216 B, waste 28 / 4,128 = 0.68%
 *   128-token pages 1 + 8 + 24 = 33 pages = 4,224 tokens = 553,648,128 B, waste 124 / 4,224
 * Mistral-7B slides a 4,096-token window, so contiguous allocation reserves
 * at most the window per layer: 32 layers × 4,096 tokens × 4,096 B = 536,870,912 B
 * whatever --max-len beyond it. */
static void test_contiguous_vs_paged(void)
{
    model_card *m = load_model("llama-3.1-8b");
    model_card *mistral = load_model("mistral-7b");
    if (!m || !mistral)
        goto out;
    const kvcalc_length_bin bins[] = { { 100, 1 }, { 1000, 1 }, { 3000, 1 } };
    kvcalc_prealloc pa;
    CU_ASSERT_EQUAL(kvcalc_prealloc_compute(m, DTYPE_BF16, 1, bins, 3, 4096, 16, &pa), 0);
    CU_ASSERT_EQUAL(pa.requests, 3);
    CU_ASSERT_EQUAL(pa.kv_bytes, 537395200.0);
    CU_ASSERT_EQUAL(pa.contiguous_bytes, 1610612736.0);
    CU_ASSERT_EQUAL(pa.paged_bytes, 541065216.0);
    CU_ASSERT_DOUBLE_EQUAL(pa.contiguous_waste_frac, 8188.0 / 12288.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(pa.paged_waste_frac, 28.0 / 4128.0, 1e-12);
    CU_ASSERT_EQUAL(kvcalc_prealloc_compute(m, DTYPE_BF16, 1, bins, 3, 4096, 128, &pa), 0);
    CU_ASSERT_EQUAL(pa.paged_bytes, 553648128.0);
    CU_ASSERT_DOUBLE_EQUAL(pa.paged_waste_frac, 124.0 / 4224.0, 1e-12);
    /* Counts weigh the bins: 3 requests of 1,000 tokens = 3 × 131,072,000 B. */
    const kvcalc_length_bin three[] = { { 1000, 3 } };
    CU_ASSERT_EQUAL(kvcalc_prealloc_compute(m, DTYPE_BF16, 1, three, 1, 4096, 16, &pa), 0);
    CU_ASSERT_EQUAL(pa.requests, 3);
    CU_ASSERT_EQUAL(pa.kv_bytes, 3 * 131072000.0);
    /* A request longer than the reservation cannot be served contiguously. */
    CU_ASSERT_EQUAL(kvcalc_prealloc_compute(m, DTYPE_BF16, 1, bins, 3, 2000, 16, &pa), -1);

    const kvcalc_length_bin one[] = { { 1000, 1 } };
    CU_ASSERT_EQUAL(kvcalc_prealloc_compute(mistral, DTYPE_BF16, 1, one, 1, 32768, 16, &pa), 0);
    CU_ASSERT_EQUAL(pa.contiguous_bytes, 536870912.0);
    CU_ASSERT_EQUAL(pa.kv_bytes, 131072000.0);

    json_t *o = run_json((char *[]){ "kv", "llama-3.1-8b", "--lengths", "100,1000,3000", "--max-len", "4096",
                                     "--page-tokens", "16", "--json", NULL });
    if (o) {
        json_t *pre = json_object_get(json_object_get(o, "paging"), "prealloc");
        CU_ASSERT_EQUAL(jint(pre, "requests"), 3);
        CU_ASSERT_EQUAL(jint(pre, "contiguous_bytes"), 1610612736LL);
        CU_ASSERT_EQUAL(jint(json_array_get(json_object_get(pre, "paged"), 0), "paged_bytes"), 541065216LL);
        json_decref(o);
    }
    o = run_json((char *[]){ "kv", "llama-3.1-8b", "--lengths", "1000:3", "--max-len", "4096", "--json", NULL });
    if (o) {
        CU_ASSERT_EQUAL(jint(json_object_get(json_object_get(o, "paging"), "prealloc"), "requests"), 3);
        json_decref(o);
    }
out:
    model_free(m);
    model_free(mistral);
}

/* ------------------------------------------------------------------------ */
/* One page size against Jenga                                               */

/* Layers of two sizes: 4 GQA layers of 4,096 B per token (8 × 128 × 2 × 2 B)
 * and 2 MLA layers of 1,152 B ((512 + 64) × 2 B), 1,000 tokens, 16-token pages:
 *   page sizes   16 × 1,152 = 18,432 B = 2^11 × 9, 16 × 4,096 = 65,536 B = 2^16
 *   LCM          2^16 × 9 = 589,824 B; one size for all = 65,536 B
 *   KV           1,000 × (4 × 4,096 + 2 × 1,152) = 18,688,000 B
 *   pages        ceil(1,000 / 16) = 63 per layer, slack 8 tokens × 18,688 = 149,504 B
 *   one size     6 × 63 × 65,536 = 24,772,608 B; padding 2 × 63 × (65,536 − 18,432) = 5,935,104 B
 *   Jenga        65,536-B pages: 4 × 63 = 252, 9 per large page → 28 large pages
 *                18,432-B pages: 2 × 63 = 126, 32 per large page → 4 large pages,
 *                tail 4 × 589,824 − 126 × 18,432 = 36,864 B
 *                total 32 × 589,824 = 18,874,368 B = 18,688,000 + 149,504 + 36,864.
 * The test card hybrid-gqa-mla has exactly these layers. */
static void test_jenga_mixed_sizes(void)
{
    const double bytes[6] = { 4096, 4096, 1152, 4096, 4096, 1152 };
    const int64_t held[6] = { 1000, 1000, 1000, 1000, 1000, 1000 };
    kvcalc_jenga j;
    CU_ASSERT_EQUAL_FATAL(kvcalc_jenga_layers(bytes, held, 6, 1000, 16, &j), 0);
    CU_ASSERT_EQUAL(j.n_sizes, 2);
    CU_ASSERT_EQUAL(j.size_page_bytes[0], 18432);
    CU_ASSERT_EQUAL(j.size_layers[0], 2);
    CU_ASSERT_EQUAL(j.size_page_bytes[1], 65536);
    CU_ASSERT_EQUAL(j.size_layers[1], 4);
    CU_ASSERT_EQUAL(j.lcm_page_bytes, 589824);
    CU_ASSERT_EQUAL(j.uniform_page_bytes, 65536);
    CU_ASSERT_EQUAL(j.kv_bytes, 18688000.0);
    CU_ASSERT_EQUAL(j.slack_bytes, 149504.0);
    CU_ASSERT_EQUAL(j.uniform_bytes, 24772608.0);
    CU_ASSERT_EQUAL(j.uniform_pad_bytes, 5935104.0);
    CU_ASSERT_EQUAL(j.uniform_window_bytes, 0.0);
    CU_ASSERT_EQUAL(j.jenga_bytes, 18874368.0);
    CU_ASSERT_EQUAL(j.jenga_tail_bytes, 36864.0);

    json_t *o = run_json((char *[]){ "kv", (char *)tu_path("tests/data/hexmap/hybrid-gqa-mla.yaml"), "--context",
                                     "1000", "--jenga", "--page-tokens", "16", "--json", NULL });
    if (o) {
        json_t *row = json_array_get(json_object_get(o, "jenga"), 0);
        CU_ASSERT_EQUAL(jint(row, "lcm_page_bytes"), 589824);
        CU_ASSERT_EQUAL(jint(row, "uniform_bytes"), 24772608);
        CU_ASSERT_EQUAL(jint(row, "jenga_bytes"), 18874368);
        CU_ASSERT_EQUAL(jint(row, "jenga_tail_bytes"), 36864);
        json_decref(o);
    }
}

/* Windows, one size: one table for all layers makes windowed layers keep
 * the whole context; Jenga gives each its own pages.
 * Llama-4-Scout at 10,000,000 tokens, 16-token pages of 16 × 4,096 = 65,536 B
 * (LCM = the one size):
 *   one size   48 layers × 625,000 pages × 65,536 B = 1,966,080,000,000 B
 *   window     36 chunked layers × (625,000 − 8,192/16 = 512) pages × 65,536 B
 *              = 36 × 624,488 × 65,536 = 1,473,352,040,448 B
 *   Jenga      the KV itself, 492,727,959,552 B (no slack: both divide by 16)
 * A Mistral-like mix (5 sliding layers of window 1,024 and 1 global, 4,096 B
 * per token each, 4,000 tokens, 16-token pages): one size 6 × 250 × 65,536 =
 * 98,304,000 B; window 5 × (250 − 64) × 65,536 = 60,948,480 B; Jenga
 * (5 × 64 + 250) × 65,536 = 37,355,520 B = the KV (5 × 1,024 + 4,000) × 4,096.
 * Mistral-7B itself at 32,768 tokens: one size 32 × 2,048 × 65,536 =
 * 4,294,967,296 B; Jenga 32 × 4,096 × 4,096 = 536,870,912 B. */
static void test_jenga_windows(void)
{
    model_card *scout = load_model("llama-4-scout");
    model_card *mistral = load_model("mistral-7b");
    if (!scout || !mistral)
        goto out;
    kvcalc_jenga j;
    CU_ASSERT_EQUAL_FATAL(kvcalc_jenga_compute(scout, 10000000, DTYPE_BF16, 1, 16, &j), 0);
    CU_ASSERT_EQUAL(j.n_sizes, 1);
    CU_ASSERT_EQUAL(j.lcm_page_bytes, 65536);
    CU_ASSERT_EQUAL(j.uniform_page_bytes, 65536);
    CU_ASSERT_EQUAL(j.uniform_bytes, 1966080000000.0);
    CU_ASSERT_EQUAL(j.uniform_window_bytes, 1473352040448.0);
    CU_ASSERT_EQUAL(j.uniform_pad_bytes, 0.0);
    CU_ASSERT_EQUAL(j.jenga_bytes, 492727959552.0);
    CU_ASSERT_EQUAL(j.kv_bytes, 492727959552.0);

    const double bytes[6] = { 4096, 4096, 4096, 4096, 4096, 4096 };
    const int64_t held[6] = { 1024, 1024, 1024, 1024, 1024, 4000 };
    CU_ASSERT_EQUAL_FATAL(kvcalc_jenga_layers(bytes, held, 6, 4000, 16, &j), 0);
    CU_ASSERT_EQUAL(j.uniform_bytes, 98304000.0);
    CU_ASSERT_EQUAL(j.uniform_window_bytes, 60948480.0);
    CU_ASSERT_EQUAL(j.jenga_bytes, 37355520.0);
    CU_ASSERT_EQUAL(j.kv_bytes, 37355520.0);

    CU_ASSERT_EQUAL_FATAL(kvcalc_jenga_compute(mistral, 32768, DTYPE_BF16, 1, 16, &j), 0);
    CU_ASSERT_EQUAL(j.uniform_bytes, 4294967296.0);
    CU_ASSERT_EQUAL(j.jenga_bytes, 536870912.0);
out:
    model_free(scout);
    model_free(mistral);
}

/* ------------------------------------------------------------------------ */
/* Fixed against variable memory                                             */

/* Llama-3.1-8B at 131,072 tokens on one H100:
 *   fixed     weights 2 B × params = model_weight_bytes (16,060,522,496 B shipped)
 *   variable  131,072 × 131,072 B = 17,179,869,184 B
 *   with --weight-dtype fp8 the weights halve.
 * A node of 8: one copy with tp 8 keeps weights / 8 and 131,072 / 8 =
 * 16,384 B of KV per token per GPU, so the longest context is
 * floor((HBM × 0.9 − weights / 8) / 16,384); with the shipped figures
 * (72,000,000,000 − 2,007,565,312) / 16,384 = 4,271,999.6 → 4,271,999. */
static void test_memory_split(void)
{
    model_card *m = load_model("llama-3.1-8b");
    hw_profile *h = load_gpu("h100-sxm");
    if (!m || !h)
        goto out;
    kvcalc_memory mm;
    kvcalc_memory_compute(m, h, 131072, DTYPE_BF16, 1, 0.9, 0, 8, &mm);
    CU_ASSERT_EQUAL(mm.fixed_bytes_per_gpu, model_weight_bytes(m));
    CU_ASSERT_EQUAL(mm.variable_bytes_per_gpu, 17179869184.0);
    CU_ASSERT_DOUBLE_EQUAL(mm.variable_frac, 17179869184.0 / (17179869184.0 + model_weight_bytes(m)), 1e-12);
    CU_ASSERT_EQUAL(mm.node_gpus, 8);
    int64_t expect = (int64_t)floor((h->hbm_bytes * 0.9 - model_weight_bytes(m) / 8) / 16384.0);
    CU_ASSERT_EQUAL(mm.node_max_tokens, expect);
    if (h->hbm_bytes == 80e9 && model_weight_bytes(m) == 16060522496.0)
        CU_ASSERT_EQUAL(mm.node_max_tokens, 4271999);
    /* A reserve is fixed memory. */
    kvcalc_memory_compute(m, h, 131072, DTYPE_BF16, 1, 0.9, 2147483648.0, 8, &mm);
    CU_ASSERT_EQUAL(mm.fixed_bytes_per_gpu, model_weight_bytes(m) + 2147483648.0);
    /* Without a GPU there is no node figure. */
    kvcalc_memory_compute(m, NULL, 131072, DTYPE_BF16, 1, 0.9, 0, 8, &mm);
    CU_ASSERT_EQUAL(mm.node_max_tokens, 0);

    json_t *o = run_json((char *[]){ "kv", "llama-3.1-8b", "--gpu", "h100-sxm", "--memory", "--weight-dtype", "fp8",
                                     "--json", NULL });
    if (o) {
        json_t *mem = json_object_get(o, "memory");
        CU_ASSERT_EQUAL(jint(mem, "weight_bytes_per_gpu"), (json_int_t)(model_weight_bytes(m) / 2));
        CU_ASSERT_EQUAL(jint(mem, "variable_bytes_per_gpu"), 17179869184LL);
        CU_ASSERT_EQUAL(jint(mem, "node_gpus"), 8);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "weight_dtype")), "fp8");
        json_decref(o);
    }
out:
    model_free(m);
    if (h)
        hw_free(h);
}

/* The sections appear in the text report on request, and their bad options exit 2. */
static void test_sections_text_and_errors(void)
{
    run_result r = run_kv((char *[]){ "kv", "llama-3.1-8b", "--context", "1000", "--gpu", "h100-sxm", "--all", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "SRAM tiles"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "paging (one page table for all layers"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "contiguous vs paged"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "one page size vs Jenga"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "fixed per GPU"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node of 8 GPUs"));
    run_free(&r);
    /* Without sections the report is as before. */
    r = run_kv((char *[]){ "kv", "llama-3.1-8b", NULL });
    CU_ASSERT_PTR_NULL(strstr(r.out, "SRAM tiles"));
    run_free(&r);

    char *bad[][8] = {
        { "kv", "llama-3.1-8b", "--page-scope", "global", NULL },
        { "kv", "llama-3.1-8b", "--page-tokens", "0", NULL },
        { "kv", "llama-3.1-8b", "--tile-tokens", "x", NULL },
        { "kv", "llama-3.1-8b", "--lengths", "1000:0", NULL },
        { "kv", "llama-3.1-8b", "--lengths", "100,3000", "--max-len", "2000", NULL },
        { "kv", "llama-3.1-8b", "--node-gpus", "0", NULL },
        { "kv", "llama-3.1-8b", "--tile-dtype", "fp7", NULL },
        { "kv", "llama-3.1-8b", "--weight-dtype", "fp7", NULL },
        { "kv", "llama-3.1-8b", "--page-meta-bytes", "lots", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_kv(bad[i]);
        CU_ASSERT_EQUAL(r.rc, 2);
        CU_ASSERT_TRUE(r.err[0] != '\0');
        CU_ASSERT_EQUAL(r.out[0], '\0');
        run_free(&r);
    }
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */

static void test_json_scout(void)
{
    json_t *o = run_json((char *[]){ "kv", "llama-4-scout", "--context", "10000000", "--gpu", "h100-sxm",
                                     "--tp", "8", "--json", NULL });
    if (!o)
        return;
    CU_ASSERT_EQUAL(jint(o, "context_tokens"), 10000000);
    CU_ASSERT_EQUAL(jint(o, "kv_bytes_per_token"), 196608);
    CU_ASSERT_EQUAL(jint(o, "kv_bytes_context"), 492727959552LL);
    CU_ASSERT_EQUAL(jint(o, "kv_bytes_context_per_gpu"), 492727959552LL / 8);
    json_t *chunked = json_kind(o, "chunked"), *global = json_kind(o, "global");
    CU_ASSERT_PTR_NOT_NULL_FATAL(chunked);
    CU_ASSERT_PTR_NOT_NULL_FATAL(global);
    CU_ASSERT_EQUAL(jint(chunked, "layers"), 36);
    CU_ASSERT_EQUAL(jint(chunked, "kv_tokens_per_layer"), 8192);
    CU_ASSERT_EQUAL(jint(chunked, "kv_bytes_context"), 36LL * 8192 * 4096);
    CU_ASSERT_EQUAL(jint(global, "kv_tokens_per_layer"), 10000000);
    CU_ASSERT_EQUAL(jint(global, "kv_bytes_context"), 12LL * 10000000 * 4096);
    json_t *gpu = json_object_get(o, "gpu");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(gpu, "name")), "h100-sxm");
    CU_ASSERT_TRUE(json_integer_value(json_object_get(gpu, "max_tokens_per_gpu_group")) > 8192);
    json_decref(o);
}

/* --context takes units: 10M = 10 × 2^20 = 10,485,760 tokens; without it
 * the card's max context is used (Llama-3.1-8B: 131,072). */
static void test_context_units_and_default(void)
{
    json_t *o = run_json((char *[]){ "kv", "llama-4-scout", "--context=10M", "--json", NULL });
    if (o) {
        CU_ASSERT_EQUAL(jint(o, "context_tokens"), 10485760);
        CU_ASSERT_TRUE(json_is_null(json_object_get(o, "gpu")));
        json_decref(o);
    }
    o = run_json((char *[]){ "kv", "llama-3.1-8b", "--json", NULL });
    if (o) {
        CU_ASSERT_EQUAL(jint(o, "context_tokens"), 131072);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "kv_dtype")), "bf16");
        CU_ASSERT_EQUAL(jint(o, "tp"), 1);
        json_decref(o);
    }
}

/* The text report shows exact figures with separators and units. */
static void test_text_report(void)
{
    run_result r = run_kv((char *[]){ "kv", "llama-3.1-70b", "--context", "128K", "--gpu", "h100-sxm", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "model llama-3.1-70b  (80 layers: 80 global)  KV dtype bf16  tp 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "327,680 B"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "KV for 131,072 tokens"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "(42,949,672,960 B)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "longest context"));
    run_free(&r);

    r = run_kv((char *[]){ "kv", "llama-4-scout", "--context", "10000000", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "chunked   36 layers x 8,192 tokens"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "(1,207,959,552 B)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "global    12 layers x 10,000,000 tokens"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "(492,727,959,552 B)"));
    run_free(&r);
}

/* Usage errors exit 2 with a message on stderr; --help exits 0 with the usage on stdout. */
static void test_exit_codes(void)
{
    run_result r = run_kv((char *[]){ "kv", "--help", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: kvtier kv MODEL"));
    run_free(&r);

    r = run_kv((char *[]){ "kv", "no-such-model", NULL });
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no-such-model"));
    CU_ASSERT_EQUAL(r.out[0], '\0');
    run_free(&r);

    char *bad[][6] = {
        { "kv", NULL },                                             /* no model */
        { "kv", "llama-3.1-8b", "--context", "12Q", NULL },         /* bad unit */
        { "kv", "llama-3.1-8b", "--context", "0", NULL },           /* no tokens */
        { "kv", "llama-3.1-8b", "--context", NULL },                /* missing value */
        { "kv", "llama-3.1-8b", "--dtype", "fp7", NULL },           /* unknown dtype */
        { "kv", "llama-3.1-8b", "--gpu", "no-such-gpu", NULL },     /* unknown profile */
        { "kv", "llama-3.1-8b", "--tp", "0", NULL },
        { "kv", "llama-3.1-8b", "--hbm-fraction", "1.5", NULL },
        { "kv", "llama-3.1-8b", "--reserve", "2 apples", NULL },
        { "kv", "llama-3.1-8b", "--frobnicate", NULL },
        { "kv", "llama-3.1-8b", "llama-3.1-70b", NULL },            /* two models */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_kv(bad[i]);
        CU_ASSERT_EQUAL(r.rc, 2);
        CU_ASSERT_TRUE(r.err[0] != '\0');
        run_free(&r);
    }
}

int main(void)
{
    dirs_init();
    static const tu_test tests[] = {
        { "Llama-3.1-70B KV per token and at 128K", test_llama70b_kv },
        { "Llama-4-Scout at 10M: chunked layers capped at 8192", test_scout_10m_kv },
        { "DeepSeek-V3 MLA latent KV", test_deepseek_mla_kv },
        { "Llama-3.1-8B longest context on one H100", test_max_tokens_llama8b_h100 },
        { "tp 8 splits KV heads", test_tp8_splits_kv },
        { "tp 8 keeps the MLA latent whole", test_tp8_mla_not_split },
        { "Scout longest context is not linear", test_max_tokens_scout_nonlinear },
        { "all-windowed model fits any length", test_all_windowed_fits_any_length },
        { "JSON report for Scout 10M tp 8", test_json_scout },
        { "--context units and default", test_context_units_and_default },
        { "text report", test_text_report },
        { "exit codes", test_exit_codes },
        { "SRAM tile bytes", test_tile_bytes },
        { "tile table against shared memory", test_tiles_json },
        { "page-table metadata and last-page slack", test_paging_overhead },
        { "contiguous reservation against paging", test_contiguous_vs_paged },
        { "Jenga LCM page for layers of two sizes", test_jenga_mixed_sizes },
        { "one page size keeps windowed layers whole", test_jenga_windows },
        { "fixed against variable memory, node", test_memory_split },
        { "sections in the text report; their errors", test_sections_text_and_errors },
        { NULL, NULL },
    };
    return tu_run("kvcalc", tests);
}
