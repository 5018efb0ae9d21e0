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

/* What one kvcalc_main call printed. out and err are malloc'd, caller frees. */
typedef struct run_result {
    int rc;
    char *out, *err;
} run_result;

static char *slurp_fd(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (buf && n > 0 && pread(fd, buf, (size_t)n, 0) != n)
        buf[0] = '\0';
    return buf;
}

/* Runs kvcalc_main on the NULL-terminated args with stdout and stderr sent
 * to temporary files, and returns what it printed. */
static run_result run_kv(char **args)
{
    run_result r = { 2, NULL, NULL };
    int argc = 0;
    while (args[argc])
        argc++;
    char out_path[] = "/tmp/test_kvcalc_out_XXXXXX", err_path[] = "/tmp/test_kvcalc_err_XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    CU_ASSERT_FATAL(out_fd >= 0 && err_fd >= 0);
    unlink(out_path);
    unlink(err_path);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    r.rc = kvcalc_main(argc, args, model_dirs, hw_dirs);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    r.out = slurp_fd(out_fd);
    r.err = slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

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
        { NULL, NULL },
    };
    return tu_run("kvcalc", tests);
}
