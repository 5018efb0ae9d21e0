/* test_model.c — CUnit tests of model cards: loading and its errors, KV bytes, parameter counts, GEMM shapes, attention FLOPs, Hugging Face import. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "model.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Loads a shipped card by name; fails the test (and returns NULL) if it
 * does not load. Caller frees with model_free. */
static model_card *card(const char *name)
{
    const char *dirs[] = { tu_path("models"), NULL };
    kt_err err = { 0 };
    model_card *m = model_load_named(name, dirs, &err);
    if (!m)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL(m);
    return m;
}

/* Writes text to a new temporary file whose name is stored in path (size
 * cap). Returns 0, or -1. The caller unlinks it. */
static int write_temp(const char *text, char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/kvtier-test-model-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* |got - want| <= rel × want */
static int within(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

/* ------------------------------------------------------------------------ */
/* Shipped cards                                                             */

static const char *const card_names[] = {
    "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-4-scout", "mistral-7b", "deepseek-v3", NULL
};

static void test_all_cards_load(void)
{
    for (const char *const *n = card_names; *n; n++) {
        model_card *m = card(*n);
        if (!m)
            continue;
        kt_err err = { 0 };
        CU_ASSERT_STRING_EQUAL(m->name, *n);
        CU_ASSERT(strlen(m->source) > 0);
        CU_ASSERT_EQUAL(model_check(m, &err), 0);
        model_free(m);
    }
}

static void test_load_named(void)
{
    kt_err err = { 0 };
    const char *dirs[] = { "/nonexistent-kvtier-dir", tu_path("models"), NULL };
    model_card *m = model_load_named("mistral-7b", dirs, &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    model_free(m);
    /* A name with a '/' is a path, whatever the directories. */
    m = model_load_named(tu_path("models/mistral-7b.yaml"), NULL, &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    model_free(m);
    m = model_load_named("no-such-model", dirs, &err);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-model"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent-kvtier-dir"));
}

/* ------------------------------------------------------------------------ */
/* KV bytes                                                                  */

static void test_kv_llama(void)
{
    model_card *m8 = card("llama-3.1-8b"), *m70 = card("llama-3.1-70b");
    if (!m8 || !m70)
        goto out;
    /* layers · (K and V) · kv_heads · head_dim · bytes(bf16) */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m8, DTYPE_BF16), 32.0 * 2 * 8 * 128 * 2);   /* 131072 */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m8, DTYPE_BF16), 131072.0);
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m70, DTYPE_BF16), 80.0 * 2 * 8 * 128 * 2);  /* 327680 */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m70, DTYPE_BF16), 327680.0);
    /* One layer, one token: 2 · 8 · 128 · 2 = 4096 B. */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token_layer(m70, 0, DTYPE_BF16), 4096.0);
    /* FP8 KV halves it: 2 · 8 · 128 · 1. */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token_layer(m70, 0, DTYPE_FP8), 2048.0);
    /* A 128K context on 70B: 131072 tokens · 327680 B = 42,949,672,960 B (42.9 GB). */
    CU_ASSERT_EQUAL(model_kv_bytes(m70, 131072, DTYPE_BF16), 131072.0 * 327680.0);
    CU_ASSERT_EQUAL(model_kv_bytes(m70, 131072, DTYPE_BF16), 42949672960.0);
    /* Global layers hold the whole context. */
    CU_ASSERT_EQUAL(model_layer_kv_tokens(m70, 79, 131072), 131072);
out:
    model_free(m8);
    model_free(m70);
}

static void test_kv_scout_10m(void)
{
    model_card *m = card("llama-4-scout");
    if (!m)
        return;
    const int64_t ctx = 10000000;
    /* Layers 0,1,2 chunked, 3 global, and so on: 36 chunked, 12 global. */
    int chunked = 0, global = 0;
    for (int l = 0; l < m->n_layers; l++) {
        chunked += m->layers[l].attn == ATTN_CHUNKED;
        global += m->layers[l].attn == ATTN_GLOBAL;
    }
    CU_ASSERT_EQUAL(chunked, 36);
    CU_ASSERT_EQUAL(global, 12);
    CU_ASSERT_EQUAL(m->layers[0].attn, ATTN_CHUNKED);
    CU_ASSERT_EQUAL(m->layers[3].attn, ATTN_GLOBAL);
    CU_ASSERT_EQUAL(m->layers[47].attn, ATTN_GLOBAL);
    CU_ASSERT_EQUAL(model_layer_kv_tokens(m, 0, ctx), 8192);
    CU_ASSERT_EQUAL(model_layer_kv_tokens(m, 3, ctx), ctx);
    /* Shorter than a chunk: every layer holds the whole context. */
    CU_ASSERT_EQUAL(model_layer_kv_tokens(m, 0, 5000), 5000);
    /* Each token-layer: 2 · 8 · 128 · 2 = 4096 B.
     * 36 · 8192 · 4096 = 1,207,959,552 B; 12 · 10,000,000 · 4096 = 491,520,000,000 B;
     * sum 492,727,959,552 B. */
    const double tl = 2.0 * 8 * 128 * 2;
    CU_ASSERT_EQUAL(model_kv_bytes(m, ctx, DTYPE_BF16), 36.0 * 8192 * tl + 12.0 * 1e7 * tl);
    CU_ASSERT_EQUAL(model_kv_bytes(m, ctx, DTYPE_BF16), 492727959552.0);
    /* One more token in a short context costs all 48 layers: 48 · 4096. */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 48.0 * 4096);
    model_free(m);
}

static void test_kv_mistral_window(void)
{
    model_card *m = card("mistral-7b");
    if (!m)
        return;
    /* 32768 tokens but a 4096 window: 32 layers · 4096 tokens · 4096 B. */
    CU_ASSERT_EQUAL(model_layer_kv_tokens(m, 0, 32768), 4096);
    CU_ASSERT_EQUAL(model_kv_bytes(m, 32768, DTYPE_BF16), 32.0 * 4096 * (2 * 8 * 128 * 2));
    CU_ASSERT_EQUAL(model_kv_bytes(m, 32768, DTYPE_BF16), 536870912.0);
    /* Inside the window: 1000 tokens · 32 · 4096. */
    CU_ASSERT_EQUAL(model_kv_bytes(m, 1000, DTYPE_BF16), 1000.0 * 32 * 4096);
    model_free(m);
}

static void test_kv_deepseek_mla(void)
{
    model_card *m = card("deepseek-v3");
    if (!m)
        return;
    /* MLA caches kv_lora_rank + rope dim per token and layer, not per head:
     * 61 · (512 + 64) · 2 = 70,272 B. */
    CU_ASSERT_EQUAL(model_kv_bytes_per_token_layer(m, 0, DTYPE_BF16), (512.0 + 64) * 2);
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 61.0 * (512 + 64) * 2);
    CU_ASSERT_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 70272.0);
    CU_ASSERT_EQUAL(model_kv_bytes(m, 1000, DTYPE_BF16), 1000.0 * 70272);
    model_free(m);
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */

static void test_params_llama_8b_exact(void)
{
    model_card *m = card("llama-3.1-8b");
    if (!m)
        return;
    /* Per layer: q and o 4096·4096 each, k and v 4096·1024 each
     * (8 KV heads · 128), SwiGLU 3 · 4096 · 14336, two RMSNorms of 4096. */
    const double attn = 2.0 * 4096 * 4096 + 2.0 * 4096 * 1024;   /* 41,943,040 */
    const double ffn = 3.0 * 4096 * 14336;                        /* 176,160,768 */
    const double layer = attn + ffn + 2 * 4096;                   /* 218,112,000 */
    /* Untied embedding and lm_head 128256 · 4096 each, final norm 4096. */
    const double want = 32 * layer + 2.0 * 128256 * 4096 + 4096;  /* 8,030,261,248 */
    CU_ASSERT_EQUAL(model_params_total(m), want);
    CU_ASSERT_EQUAL(model_params_total(m), 8030261248.0);
    CU_ASSERT_EQUAL(model_params_active(m), want);  /* dense: all active */
    CU_ASSERT_EQUAL(model_weight_bytes(m), 2 * want);  /* bf16 */
    model_free(m);
}

/* Published totals, which include embeddings. */
static void test_params_published(void)
{
    static const struct { const char *name; double total, active, tol_total, tol_active; } pub[] = {
        { "llama-3.1-8b", 8.03e9, 8.03e9, 0.01, 0.01 },
        { "llama-3.1-70b", 70.6e9, 70.6e9, 0.01, 0.01 },
        { "llama-3.1-405b", 405.9e9, 405.9e9, 0.01, 0.01 },
        { "mistral-7b", 7.24e9, 7.24e9, 0.01, 0.01 },
        /* 109B includes the vision encoder (about 0.9B) that the card does
         * not model: the text decoder is 107.8B, 1.1% below. 17B active is
         * rounded: 48 · (attention 62.9M + shared and one routed expert
         * 2 · 125.8M + router) + embeddings 2.07B = 17.17B, 1.0% above. */
        { "llama-4-scout", 109e9, 17e9, 0.015, 0.015 },
        /* 671B and 37B exclude the 14B MTP module. Counting embedding and
         * lm_head as model.h asks gives 37.55B activated, 1.5% above the
         * rounded 37B (36.6B without the input embedding). */
        { "deepseek-v3", 671e9, 37e9, 0.01, 0.02 },
    };
    for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++) {
        model_card *m = card(pub[i].name);
        if (!m)
            continue;
        double t = model_params_total(m), a = model_params_active(m);
        printf("\n    %-15s total %8.3fB (published %6.2fB)  active %7.3fB (published %6.2fB)",
               pub[i].name, t / 1e9, pub[i].total / 1e9, a / 1e9, pub[i].active / 1e9);
        CU_ASSERT(within(t, pub[i].total, pub[i].tol_total));
        CU_ASSERT(within(a, pub[i].active, pub[i].tol_active));
        model_free(m);
    }
}

static void test_params_deepseek_by_hand(void)
{
    model_card *m = card("deepseek-v3");
    if (!m)
        return;
    /* MLA per layer: q_a 7168·1536, q_b 1536·(128·192), kv_a 7168·576,
     * kv_b 512·(128·256), o (128·128)·7168, norms 2·7168 + 1536 + 512. */
    const double mla = 7168.0 * 1536 + 1536.0 * 128 * 192 + 7168.0 * 576 + 512.0 * 128 * 256 +
                       128.0 * 128 * 7168 + 2 * 7168 + 1536 + 512;
    const double expert = 3.0 * 7168 * 2048;        /* one SwiGLU expert: 44,040,192 */
    const double dense = 3.0 * 7168 * 18432;
    const double router = 256.0 * 7168;
    const double outer = 2.0 * 129280 * 7168 + 7168;
    /* 3 dense layers, 58 MoE layers with 256 routed + 1 shared expert. */
    const double total = 61 * mla + 3 * dense + 58 * (router + 257 * expert) + outer;
    const double active = 61 * mla + 3 * dense + 58 * (router + (8 + 1) * expert) + outer;
    CU_ASSERT(within(model_params_total(m), total, 1e-12));
    CU_ASSERT(within(model_params_active(m), active, 1e-12));
    /* FP8 weights: one byte per parameter. */
    CU_ASSERT(within(model_weight_bytes(m), total, 1e-12));
    model_free(m);
}

/* ------------------------------------------------------------------------ */
/* GEMMs                                                                     */

static void expect_gemm(const model_gemm *g, const char *name, int64_t n, int64_t k, model_gemm_kind kind)
{
    CU_ASSERT_STRING_EQUAL(g->name, name);
    CU_ASSERT_EQUAL(g->n, n);
    CU_ASSERT_EQUAL(g->k, k);
    CU_ASSERT_EQUAL(g->kind, kind);
}

static void test_gemms_70b(void)
{
    model_card *m = card("llama-3.1-70b");
    if (!m)
        return;
    model_gemm g[MODEL_MAX_GEMMS];
    CU_ASSERT_EQUAL_FATAL(model_layer_gemms(m, 0, g), 4);
    expect_gemm(&g[0], "qkv", (64 + 2 * 8) * 128, 8192, MODEL_GEMM_DENSE);   /* n = 10240 */
    expect_gemm(&g[1], "o", 8192, 64 * 128, MODEL_GEMM_DENSE);
    expect_gemm(&g[2], "gate_up", 2 * 28672, 8192, MODEL_GEMM_DENSE);      /* n = 57344 */
    expect_gemm(&g[3], "down", 8192, 28672, MODEL_GEMM_DENSE);
    model_free(m);
}

static void test_gemms_deepseek(void)
{
    model_card *m = card("deepseek-v3");
    if (!m)
        return;
    model_gemm g[MODEL_MAX_GEMMS];
    /* Layer 0 is one of the 3 dense layers: 5 MLA projections + 2 FFN. */
    CU_ASSERT_EQUAL_FATAL(model_layer_gemms(m, 0, g), 7);
    expect_gemm(&g[0], "q_a", 1536, 7168, MODEL_GEMM_DENSE);
    expect_gemm(&g[1], "q_b", 128 * (128 + 64), 1536, MODEL_GEMM_DENSE);
    expect_gemm(&g[2], "kv_a", 512 + 64, 7168, MODEL_GEMM_DENSE);
    expect_gemm(&g[3], "kv_b", 128 * (128 + 128), 512, MODEL_GEMM_DENSE);
    expect_gemm(&g[4], "o", 7168, 128 * 128, MODEL_GEMM_DENSE);
    expect_gemm(&g[5], "gate_up", 2 * 18432, 7168, MODEL_GEMM_DENSE);
    expect_gemm(&g[6], "down", 7168, 18432, MODEL_GEMM_DENSE);
    /* Layer 3 is MoE: router, shared expert, one routed expert. */
    CU_ASSERT_EQUAL_FATAL(model_layer_gemms(m, 3, g), 10);
    expect_gemm(&g[5], "router", 256, 7168, MODEL_GEMM_DENSE);
    expect_gemm(&g[6], "shared_gate_up", 2 * 2048, 7168, MODEL_GEMM_DENSE);
    expect_gemm(&g[7], "shared_down", 7168, 2048, MODEL_GEMM_DENSE);
    expect_gemm(&g[8], "expert_gate_up", 2 * 2048, 7168, MODEL_GEMM_EXPERT);
    expect_gemm(&g[9], "expert_down", 7168, 2048, MODEL_GEMM_EXPERT);
    CU_ASSERT_EQUAL(m->layers[2].ffn, FFN_DENSE);
    CU_ASSERT_EQUAL(m->layers[60].ffn, FFN_MOE);
    model_free(m);
}

/* ------------------------------------------------------------------------ */
/* Attention FLOPs                                                           */

/* A tiny card: 4 heads of 16, layers sliding / global / chunked / sliding,
 * window 4. 2 · heads · (d_qk + d_v) = 2 · 4 · 32 = 256 FLOPs per unit of span. */
static const char tiny_card[] =
    "name: tiny\n"                             /* 1 */
    "source: test\n"                           /* 2 */
    "layers: 4\n"                              /* 3 */
    "hidden: 64\n"                             /* 4 */
    "heads: 4\n"                               /* 5 */
    "kv_heads: 2\n"                            /* 6 */
    "head_dim: 16\n"                           /* 7 */
    "vocab: 1000\n"                            /* 8 */
    "tie_embeddings: true\n"                   /* 9 */
    "weight_dtype: bf16\n"                     /* 10 */
    "max_context_tokens: 4K\n"                 /* 11 */
    "attention:\n"                             /* 12 */
    "  pattern: [sliding, global, chunked]\n"  /* 13 */
    "  window_tokens: 4\n"                     /* 14 */
    "ffn:\n"                                   /* 15 */
    "  pattern: [dense]\n"                     /* 16 */
    "  dense_intermediate: 128\n";             /* 17 */

/* Parses text as a card (name "mem"); NULL with err on failure. */
static model_card *card_from_text(const char *text, kt_err *err)
{
    conf_node *root = conf_parse_string(text, strlen(text), "mem", err);
    if (!root)
        return NULL;
    model_card *m = model_from_conf(root, err);
    if (m && conf_check_unused(root, err) != 0) {
        model_free(m);
        m = NULL;
    }
    conf_free(root);
    return m;
}

/* Σ span(p) by the definition in model.h, one position at a time. */
static double span_by_loop(const model_layer *l, int64_t n, int64_t c)
{
    double s = 0;
    for (int64_t p = c; p < c + n; p++) {
        int64_t w = l->window_tokens;
        if (l->attn == ATTN_SLIDING)
            s += (double)(p + 1 < w ? p + 1 : w);
        else if (l->attn == ATTN_CHUNKED)
            s += (double)(p % w + 1);
        else
            s += (double)(p + 1);
    }
    return s;
}

static void test_attn_flops_small(void)
{
    kt_err err = { 0 };
    model_card *m = card_from_text(tiny_card, &err);
    if (!m)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->layers[0].attn, ATTN_SLIDING);
    CU_ASSERT_EQUAL(m->layers[1].attn, ATTN_GLOBAL);
    CU_ASSERT_EQUAL(m->layers[2].attn, ATTN_CHUNKED);
    CU_ASSERT_EQUAL(m->layers[3].attn, ATTN_SLIDING);
    CU_ASSERT_EQUAL(m->layers[1].window_tokens, 0);
    CU_ASSERT_EQUAL(m->max_context_tokens, 4096);
    /* 5 new tokens after 2 cached: positions 2..6. */
    /* sliding W=4: min(p+1, 4) = 3,4,4,4,4 -> 19 */
    CU_ASSERT_EQUAL(model_attn_flops(m, 0, 5, 2), 256.0 * 19);
    /* global: p+1 = 3,4,5,6,7 -> 25 = n·c + n(n+1)/2 = 10 + 15 */
    CU_ASSERT_EQUAL(model_attn_flops(m, 1, 5, 2), 256.0 * 25);
    CU_ASSERT_EQUAL(model_attn_flops(m, 1, 5, 2), 4.0 * 4 * 16 * (5 * 2 + 5 * 6 / 2));
    /* chunked W=4: (p mod 4)+1 = 3,4,1,2,3 -> 13 */
    CU_ASSERT_EQUAL(model_attn_flops(m, 2, 5, 2), 256.0 * 13);
    /* decode steps on the chunked layer: p=8 opens a chunk (span 1), p=11 ends it (4) */
    CU_ASSERT_EQUAL(model_attn_flops(m, 2, 1, 8), 256.0 * 1);
    CU_ASSERT_EQUAL(model_attn_flops(m, 2, 1, 11), 256.0 * 4);
    CU_ASSERT_EQUAL(model_attn_flops(m, 0, 0, 7), 0.0);
    /* The closed forms agree with the definition on every small case. */
    for (int l = 0; l < 3; l++)
        for (int64_t c = 0; c < 13; c++)
            for (int64_t n = 1; n < 13; n++)
                CU_ASSERT_EQUAL(model_attn_flops(m, l, n, c), 256.0 * span_by_loop(&m->layers[l], n, c));
    /* Past 3e9 cached tokens the prefix sums outgrew int64: an 8K chunk
     * after 4e9 tokens under a 1e11 window spans p+1 for every p. */
    const int64_t chunk = 8192, cached = 4000000000, window = 100000000000;
    m->layers[0].window_tokens = window;
    m->layers[2].window_tokens = window;
    double want = 256.0 * ((double)chunk * cached + (double)chunk * (chunk + 1) / 2);
    for (int l = 0; l < 3; l++)
        CU_ASSERT_DOUBLE_EQUAL(model_attn_flops(m, l, chunk, cached), want, want * 1e-12);
    model_free(m);
}

static void test_attn_flops_cards(void)
{
    model_card *m70 = card("llama-3.1-70b"), *ds = card("deepseek-v3");
    if (!m70 || !ds)
        goto out;
    /* 70B global layer, 4 new tokens after 10: 4·64·128·(4·10 + 4·5/2) = 32768 · 50. */
    CU_ASSERT_EQUAL(model_attn_flops(m70, 0, 4, 10), 32768.0 * 50);
    /* A 128K prefill from scratch: 4·64·128 · 131072·131073/2 per layer. */
    CU_ASSERT_EQUAL(model_attn_flops(m70, 0, 131072, 0), 32768.0 * (131072.0 * 131073 / 2));
    /* DeepSeek MLA (unabsorbed): d_qk = 128+64, d_v = 128; decode at c=9
     * spans 10 tokens: 2 · 128 · (192 + 128) · 10 = 819,200. */
    CU_ASSERT_EQUAL(model_attn_flops(ds, 0, 1, 9), 819200.0);
out:
    model_free(m70);
    model_free(ds);
}

/* ------------------------------------------------------------------------ */
/* Loader errors                                                             */

/* tiny_card with line `line` (1-based) replaced by `with` ("" deletes it). */
static char *tiny_with(int line, const char *with)
{
    char *out = malloc(sizeof tiny_card + strlen(with) + 2);
    const char *p = tiny_card;
    size_t o = 0;
    for (int l = 1; *p; l++) {
        const char *eol = strchr(p, '\n');
        size_t len = (size_t)(eol - p) + 1;
        if (l == line) {
            if (*with)
                o += (size_t)sprintf(out + o, "%s\n", with);
        } else {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    out[o] = '\0';
    return out;
}

/* Loads tiny_card with one line changed from a temporary file and expects
 * an error at line:col whose message contains key. */
static void expect_load_error(int change_line, const char *with, int line, int col, const char *key)
{
    char *text = tiny_with(change_line, with);
    char path[512];
    CU_ASSERT_EQUAL_FATAL(write_temp(text, path, sizeof path), 0);
    kt_err err = { 0 };
    model_card *m = model_load(path, &err);
    CU_ASSERT_PTR_NULL(m);
    model_free(m);
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, line);
    CU_ASSERT_EQUAL(err.col, col);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, key));
    if (err.line != line || err.col != col || !strstr(err.msg, key))
        fprintf(stderr, "\n    expected %d:%d '%s', got: %d:%d: %s", line, col, key, err.line, err.col, err.msg);
    unlink(path);
    free(text);
}

static void test_load_errors(void)
{
    /* The base card itself loads from a file. */
    char path[512];
    kt_err err = { 0 };
    CU_ASSERT_EQUAL_FATAL(write_temp(tiny_card, path, sizeof path), 0);
    model_card *m = model_load(path, &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    model_free(m);
    unlink(path);

    /* Columns are 1-based and point at the value: "layers: " is 8 characters. */
    expect_load_error(3, "layers: -4", 3, 9, "layers");
    expect_load_error(4, "hidden: wide", 4, 9, "hidden");                   /* wrong type */
    expect_load_error(6, "kv_heads: 3", 6, 11, "kv_heads");                 /* 4 % 3 != 0 */
    expect_load_error(9, "tie_embeddings: 1", 9, 17, "tie_embeddings");
    expect_load_error(10, "weight_dtype: bf17", 10, 15, "weight_dtype");
    /* Unknown key, found after everything else was read (value at col 10). */
    expect_load_error(17, "  dense_intermediate: 128\n  bogus: 7", 18, 10, "ffn.bogus");
    expect_load_error(1, "name: tiny\nlayer_count: 4", 2, 14, "layer_count");
    /* Third pattern entry: "  pattern: [sliding, global, " is 29 characters. */
    expect_load_error(13, "  pattern: [sliding, global, local]", 13, 30, "attention.pattern[2]");
    /* Sliding layers need a window: reported at the attention mapping (line 13, col 3). */
    expect_load_error(14, "", 13, 3, "window_tokens");
    /* A window with no windowed layer means nothing. */
    expect_load_error(13, "  pattern: [global]", 14, 18, "window_tokens");
    expect_load_error(14, "  window_tokens: 0", 14, 18, "window_tokens");
    /* A pattern longer than the model. */
    expect_load_error(13, "  pattern: [global, global, global, global, global]", 13, 12, "attention.pattern");
    /* MoE figures with no MoE layer, and an mla block with no MLA layer. */
    expect_load_error(17, "  dense_intermediate: 128\n  experts: 8", 18, 12, "ffn.experts");
    expect_load_error(17, "  dense_intermediate: 128\nmla:\n  kv_lora_rank: 8", 19, 3, "mla");
    /* More active experts than experts. */
    expect_load_error(16, "  pattern: [moe]\n  experts: 4\n  experts_active: 5\n  expert_intermediate: 32",
                      18, 19, "experts_active");
    /* Missing required key: reported at the root mapping. */
    expect_load_error(8, "", 1, 1, "vocab");
}

static void test_model_check(void)
{
    model_card *m = card("llama-4-scout");
    if (!m)
        return;
    kt_err err = { 0 };
    CU_ASSERT_EQUAL(model_check(m, &err), 0);
    m->layers[0].window_tokens = 0;     /* chunked layer without a chunk */
    CU_ASSERT_EQUAL(model_check(m, &err), -1);
    m->layers[0].window_tokens = 8192;
    m->n_kv_heads = 7;                  /* 40 % 7 != 0 */
    CU_ASSERT_EQUAL(model_check(m, &err), -1);
    m->n_kv_heads = 8;
    m->n_experts_active = 17;           /* more than 16 */
    CU_ASSERT_EQUAL(model_check(m, &err), -1);
    m->n_experts_active = 1;
    m->layers[3].attn = ATTN_MLA;       /* no MLA ranks on this card */
    CU_ASSERT_EQUAL(model_check(m, &err), -1);
    model_free(m);
}

/* ------------------------------------------------------------------------ */
/* Hugging Face import                                                       */

/* Imports a config.json into memory and builds the card from it; NULL with
 * err on failure. */
static model_card *import_card(const char *json_path, const char *name, kt_err *err)
{
    char *yaml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&yaml, &len);
    if (!f)
        return NULL;
    int rc = model_import_hf(json_path, name, f, NULL, err);
    fclose(f);
    model_card *m = rc == 0 ? card_from_text(yaml, err) : NULL;
    if (rc == 0 && !m) {
        kt_err_print(err, stderr);
        fprintf(stderr, "%s", yaml);
    }
    if (m)
        CU_ASSERT_PTR_NOT_NULL(strstr(yaml, json_path));  /* source names the config */
    free(yaml);
    return m;
}

/* Every field but source, and every layer. */
static void expect_same_card(const model_card *a, const model_card *b)
{
    CU_ASSERT_STRING_EQUAL(a->name, b->name);
    CU_ASSERT_EQUAL(a->n_layers, b->n_layers);
    CU_ASSERT_EQUAL(a->hidden, b->hidden);
    CU_ASSERT_EQUAL(a->n_heads, b->n_heads);
    CU_ASSERT_EQUAL(a->n_kv_heads, b->n_kv_heads);
    CU_ASSERT_EQUAL(a->head_dim, b->head_dim);
    CU_ASSERT_EQUAL(a->vocab, b->vocab);
    CU_ASSERT_EQUAL(a->tie_embeddings, b->tie_embeddings);
    CU_ASSERT_EQUAL(a->ffn_dense, b->ffn_dense);
    CU_ASSERT_EQUAL(a->ffn_expert, b->ffn_expert);
    CU_ASSERT_EQUAL(a->ffn_shared, b->ffn_shared);
    CU_ASSERT_EQUAL(a->n_experts, b->n_experts);
    CU_ASSERT_EQUAL(a->n_experts_active, b->n_experts_active);
    CU_ASSERT_EQUAL(a->mla_q_lora_rank, b->mla_q_lora_rank);
    CU_ASSERT_EQUAL(a->mla_kv_lora_rank, b->mla_kv_lora_rank);
    CU_ASSERT_EQUAL(a->mla_qk_nope_dim, b->mla_qk_nope_dim);
    CU_ASSERT_EQUAL(a->mla_qk_rope_dim, b->mla_qk_rope_dim);
    CU_ASSERT_EQUAL(a->mla_v_head_dim, b->mla_v_head_dim);
    CU_ASSERT_EQUAL(a->weight_dtype, b->weight_dtype);
    CU_ASSERT_EQUAL(a->max_context_tokens, b->max_context_tokens);
    if (a->n_layers != b->n_layers)
        return;
    for (int l = 0; l < a->n_layers; l++) {
        CU_ASSERT_EQUAL(a->layers[l].attn, b->layers[l].attn);
        CU_ASSERT_EQUAL(a->layers[l].window_tokens, b->layers[l].window_tokens);
        CU_ASSERT_EQUAL(a->layers[l].ffn, b->layers[l].ffn);
    }
}

/* The card imported from the config.json at path equals the shipped card name. */
static void expect_import_matches(const char *path, const char *name)
{
    kt_err err = { 0 };
    model_card *got = import_card(path, name, &err);
    model_card *want = card(name);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got && want)
        expect_same_card(got, want);
    model_free(got);
    model_free(want);
}

static void test_import_llama_70b(void)
{
    expect_import_matches(tu_path("tests/data/hf/llama-3.1-70b.config.json"), "llama-3.1-70b");
}

static void test_import_llama4_scout(void)
{
    expect_import_matches(tu_path("tests/data/hf/llama-4-scout.config.json"), "llama-4-scout");
}

/* Imports JSON text written to a temporary file. */
static model_card *import_text(const char *json, kt_err *err, char *path, size_t cap)
{
    if (write_temp(json, path, cap) != 0)
        return NULL;
    model_card *m = import_card(path, "t", err);
    unlink(path);
    return m;
}

/* The card imported from JSON text equals the shipped card name. */
static void expect_text_import_matches(const char *json, const char *name)
{
    char path[512];
    if (write_temp(json, path, sizeof path) != 0) {
        CU_FAIL("cannot write a temporary file");
        return;
    }
    expect_import_matches(path, name);
    unlink(path);
}

/* DeepSeek-V3's published config.json (the keys the importer reads, and the
 * FP8 quantization_config), against the shipped card. */
static void test_import_deepseek(void)
{
    static const char json[] =
        "{\"model_type\": \"deepseek_v3\", \"first_k_dense_replace\": 3, \"hidden_size\": 7168,"
        " \"intermediate_size\": 18432, \"kv_lora_rank\": 512, \"max_position_embeddings\": 163840,"
        " \"moe_intermediate_size\": 2048, \"moe_layer_freq\": 1, \"n_routed_experts\": 256,"
        " \"n_shared_experts\": 1, \"num_attention_heads\": 128, \"num_experts_per_tok\": 8,"
        " \"num_hidden_layers\": 61, \"num_key_value_heads\": 128, \"num_nextn_predict_layers\": 1,"
        " \"q_lora_rank\": 1536, \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64,"
        " \"quantization_config\": {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\","
        " \"quant_method\": \"fp8\", \"weight_block_size\": [128, 128]},"
        " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"v_head_dim\": 128,"
        " \"vocab_size\": 129280}";
    expect_text_import_matches(json, "deepseek-v3");
}

/* Mistral v0.1: sliding_window on every layer. */
static void test_import_mistral(void)
{
    static const char json[] =
        "{\"hidden_size\": 4096, \"intermediate_size\": 14336, \"max_position_embeddings\": 32768,"
        " \"model_type\": \"mistral\", \"num_attention_heads\": 32, \"num_hidden_layers\": 32,"
        " \"num_key_value_heads\": 8, \"sliding_window\": 4096, \"tie_word_embeddings\": false,"
        " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 32000}";
    expect_text_import_matches(json, "mistral-7b");
}

/* Llama-4 without the per-layer lists: layer i is global when
 * (i+1) % 4 == 0, MoE when (i+1) % interleave_moe_layer_step == 0. */
static void test_import_llama4_rules(void)
{
    static const char json[] =
        "{\"model_type\": \"llama4\", \"tie_word_embeddings\": false, \"text_config\": {"
        " \"model_type\": \"llama4_text\", \"attention_chunk_size\": 16, \"head_dim\": 8,"
        " \"hidden_size\": 32, \"interleave_moe_layer_step\": 2, \"intermediate_size\": 24,"
        " \"intermediate_size_mlp\": 48, \"max_position_embeddings\": 1024,"
        " \"no_rope_layers\": [], \"num_attention_heads\": 4, \"num_experts_per_tok\": 1,"
        " \"num_hidden_layers\": 8, \"num_key_value_heads\": 2, \"num_local_experts\": 4,"
        " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 100}}";
    kt_err err = { 0 };
    char path[512];
    model_card *m = import_text(json, &err, path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    for (int i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(m->layers[i].attn, (i + 1) % 4 == 0 ? ATTN_GLOBAL : ATTN_CHUNKED);
        CU_ASSERT_EQUAL(m->layers[i].window_tokens, (i + 1) % 4 == 0 ? 0 : 16);
        CU_ASSERT_EQUAL(m->layers[i].ffn, (i + 1) % 2 == 0 ? FFN_MOE : FFN_DENSE);
    }
    CU_ASSERT_EQUAL(m->ffn_dense, 48);
    CU_ASSERT_EQUAL(m->ffn_expert, 24);
    CU_ASSERT_EQUAL(m->ffn_shared, 24);
    CU_ASSERT_EQUAL(m->n_experts, 4);
    model_free(m);
}

static void test_import_errors(void)
{
    kt_err err = { 0 };
    char path[512];
    /* No hidden_size. */
    model_card *m = import_text("{\"num_hidden_layers\": 2, \"num_attention_heads\": 2,"
                                " \"vocab_size\": 10, \"intermediate_size\": 8,"
                                " \"max_position_embeddings\": 64, \"torch_dtype\": \"bfloat16\"}",
                                &err, path, sizeof path);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "hidden_size"));
    /* Not JSON: jansson's position is passed on. */
    m = import_text("{\"hidden_size\": 8,\n oops}", &err, path, sizeof path);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, 2);
    /* A file that does not exist. */
    FILE *devnull = fopen("/dev/null", "w");
    CU_ASSERT_EQUAL(model_import_hf("/nonexistent-kvtier/config.json", "x", devnull, NULL, &err), -1);
    fclose(devnull);
    CU_ASSERT_STRING_EQUAL(err.file, "/nonexistent-kvtier/config.json");
}

/* A small Llama-style config with its KV heads, model_type and
 * architectures given (NULL: the key left out). */
static model_card *import_llama_like(int kv_heads, const char *model_type, const char *arch, const char *name,
                                     kt_err *err)
{
    char json[1024], mt[128] = "", ar[128] = "", path[512];
    if (model_type)
        snprintf(mt, sizeof mt, "\"model_type\": \"%s\", ", model_type);
    if (arch)
        snprintf(ar, sizeof ar, "\"architectures\": [\"%s\"], ", arch);
    snprintf(json, sizeof json,
             "{%s%s\"hidden_size\": 64, \"intermediate_size\": 128, \"max_position_embeddings\": 1024,"
             " \"num_attention_heads\": 8, \"num_hidden_layers\": 2, \"num_key_value_heads\": %d,"
             " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 100}", mt, ar, kv_heads);
    if (write_temp(json, path, sizeof path) != 0)
        return NULL;
    char *yaml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&yaml, &len);
    int rc = f ? model_import_hf(path, name, f, NULL, err) : -1;
    if (f)
        fclose(f);
    model_card *m = rc == 0 ? model_load_string(yaml, len, "imported.yaml", err) : NULL;
    CU_ASSERT(rc == 0 || len == 0);  /* a refused card writes nothing */
    free(yaml);
    unlink(path);
    return m;
}

/* What the importer refuses rather than write a wrong or unloadable card. */
static void test_import_refuses(void)
{
    kt_err err = { 0 };
    model_card *m = import_llama_like(2, "llama", "LlamaForCausalLM", "t", &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    CU_ASSERT_EQUAL(m ? m->n_kv_heads : 0, 2);
    model_free(m);
    /* More KV heads than attention heads, and a count that does not divide them. */
    CU_ASSERT_PTR_NULL(import_llama_like(16, "llama", NULL, "t", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'num_key_value_heads' is 16"));
    CU_ASSERT_PTR_NULL(import_llama_like(3, "llama", NULL, "t", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'num_key_value_heads' is 3"));
    /* An architecture the importer does not read is not taken for Llama. */
    CU_ASSERT_PTR_NULL(import_llama_like(2, "gpt2", NULL, "t", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'model_type' is 'gpt2'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "supported: llama, mistral"));
    CU_ASSERT_PTR_NULL(import_llama_like(2, NULL, "GPT2LMHeadModel", "t", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'architectures' is 'GPT2LMHeadModel'"));
    /* A card kvtier would refuse (a name past the card's limit) is not written. */
    char name[200];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    CU_ASSERT_PTR_NULL(import_llama_like(2, "llama", NULL, name, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not load: name"));
}

int main(void)
{
    static const tu_test tests[] = {
        { "all shipped cards load", test_all_cards_load },
        { "model_load_named", test_load_named },
        { "KV bytes: Llama 3.1 8B/70B", test_kv_llama },
        { "KV bytes: Llama-4-Scout at 10M tokens", test_kv_scout_10m },
        { "KV bytes: Mistral sliding window", test_kv_mistral_window },
        { "KV bytes: DeepSeek-V3 MLA", test_kv_deepseek_mla },
        { "params: Llama 3.1 8B exact", test_params_llama_8b_exact },
        { "params: published totals", test_params_published },
        { "params: DeepSeek-V3 by hand", test_params_deepseek_by_hand },
        { "GEMMs: Llama 3.1 70B", test_gemms_70b },
        { "import refuses bad heads, unknown architectures, unloadable cards", test_import_refuses },
        { "GEMMs: DeepSeek-V3 MLA and MoE", test_gemms_deepseek },
        { "attention FLOPs: closed forms", test_attn_flops_small },
        { "attention FLOPs: cards", test_attn_flops_cards },
        { "loader errors located", test_load_errors },
        { "model_check invariants", test_model_check },
        { "import HF: Llama 3.1 70B", test_import_llama_70b },
        { "import HF: Llama-4-Scout", test_import_llama4_scout },
        { "import HF: DeepSeek-V3", test_import_deepseek },
        { "import HF: Mistral 7B", test_import_mistral },
        { "import HF: Llama-4 default rules", test_import_llama4_rules },
        { "import HF: errors", test_import_errors },
        { NULL, NULL },
    };
    return tu_run("model", tests);
}
