/* kvcalc.c — the `kvtier kv` calculator: KV bytes per layer kind, weights against KV on a GPU, and the longest context that fits. */
#include "kvcalc.h"

#include "config.h"
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_layout.h"
#include "kv_plan.h"
#include "scenario.h"
#include "units.h"

/* ------------------------------------------------------------------------ */
/* Computation                                                               */

/* KV bytes one token adds to layer l on one GPU of the tp group: the
 * head-share rule of kv_layout.h, which the simulator uses too. */
static double layer_bytes_per_token_gpu(const model_card *m, int layer, kt_dtype kv, int tp)
{
    return model_kv_stored_bytes_per_token_layer(m, layer, kv) * kv_layout_layer_share(m, layer, tp);
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b != 0);
}

/* KV bytes one GPU of the tp group holds for a context of ctx_tokens
 * (windows applied). With tp == 1 this is model_kv_bytes, term for term. */
static double kv_bytes_gpu(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        sum += (double)model_layer_kv_tokens(m, l, ctx_tokens) * layer_bytes_per_token_gpu(m, l, kv, tp);
    return sum;
}

/* KV bytes one more token costs one GPU in the layers whose KV grows without
 * bound (global and MLA layers: window_tokens == 0 by model.h's invariant). */
static double unbounded_bytes_per_token_gpu(const model_card *m, kt_dtype kv, int tp)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].window_tokens == 0)
            sum += layer_bytes_per_token_gpu(m, l, kv, tp);
    return sum;
}

static int64_t largest_window_tokens(const model_card *m)
{
    int64_t w = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].window_tokens > w)
            w = m->layers[l].window_tokens;
    return w;
}

/* Longest context whose per-GPU KV fits budget_bytes. The KV is
 * nondecreasing in the context but not linear (windowed layers stop growing
 * at their window), so bisect over integer tokens between a context that
 * fits (0) and one that does not. Returns INT64_MAX when every layer is
 * windowed and the capped KV fits: then any length fits. */
static int64_t max_tokens_fitting(const model_card *m, kt_dtype kv, int tp, double budget_bytes)
{
    if (budget_bytes < 0)
        return 0;
    /* Past every window only the unbounded layers grow, so KV(C) >= growth*C
     * and C = budget/growth + 1 cannot fit; without such layers KV stops
     * growing after the largest window. */
    const int64_t limit_tokens = INT64_MAX / 4;     /* keeps hi*2 and mid from overflowing */
    double growth = unbounded_bytes_per_token_gpu(m, kv, tp);
    int64_t hi;
    if (growth > 0) {
        double guess = floor(budget_bytes / growth) + 1;
        hi = guess < (double)limit_tokens ? (int64_t)guess : limit_tokens;
    } else {
        hi = largest_window_tokens(m) + 1;
        if (kv_bytes_gpu(m, hi, kv, tp) <= budget_bytes)
            return INT64_MAX;
    }
    /* Rounding in the sums could leave hi fitting after all; widen until it does not. */
    while (hi < limit_tokens && kv_bytes_gpu(m, hi, kv, tp) <= budget_bytes)
        hi *= 2;
    int64_t lo = 0;         /* invariant: lo fits, hi does not */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (kv_bytes_gpu(m, mid, kv, tp) <= budget_bytes)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void kvcalc_compute(const model_card *m, const hw_profile *gpu, int64_t ctx_tokens, kt_dtype kv,
                    int tp, double hbm_fraction, double reserve_bytes, kvcalc_result *r)
{
    memset(r, 0, sizeof *r);
    if (tp < 1)
        tp = 1;
    r->kv_bytes_per_token = model_kv_bytes_per_token(m, kv);
    r->kv_bytes_context = model_kv_bytes(m, ctx_tokens, kv);
    for (int l = 0; l < m->n_layers; l++) {
        model_attn_kind k = m->layers[l].attn;
        r->layers_of_kind[k]++;
        r->kv_bytes_per_token_kind[k] += model_kv_stored_bytes_per_token_layer(m, l, kv);
        r->kv_bytes_context_kind[k] +=
            (double)model_layer_kv_tokens(m, l, ctx_tokens) * model_kv_stored_bytes_per_token_layer(m, l, kv);
    }
    r->weight_bytes = model_weight_bytes(m);
    r->weight_bytes_per_gpu = r->weight_bytes / tp;
    if (!gpu)
        return;
    r->hbm_bytes_per_gpu = gpu->hbm_bytes;
    r->kv_budget_bytes_per_gpu = gpu->hbm_bytes * hbm_fraction - r->weight_bytes_per_gpu - reserve_bytes;
    r->max_tokens_per_gpu_group = max_tokens_fitting(m, kv, tp, r->kv_budget_bytes_per_gpu);
}

/* ------------------------------------------------------------------------ */
/* SRAM tiles                                                                */

/* A tile holds both K and V. */
#define KV_TENSORS 2

double kvcalc_tile_bytes(int64_t tile_tokens, int kv_heads, int head_dim, double elem_bytes)
{
    return (double)tile_tokens * kv_heads * head_dim * elem_bytes * KV_TENSORS;
}

double kvcalc_layer_tile_bytes(const model_card *m, int layer, int tp, int64_t tile_tokens, kt_dtype tile_dtype)
{
    if (tp < 1)
        tp = 1;
    if (m->layers[layer].attn == ATTN_MLA)
        return (double)tile_tokens * (m->mla_kv_lora_rank + m->mla_qk_rope_dim) * dtype_bytes(tile_dtype);
    return kvcalc_tile_bytes(tile_tokens, kv_layout_kv_heads_gpu(m, tp), m->head_dim, dtype_bytes(tile_dtype));
}

kt_dtype kvcalc_tile_dtype(kt_dtype kv)
{
    return kv == DTYPE_FP32 || kv == DTYPE_FP16 || kv == DTYPE_BF16 ? kv : DTYPE_BF16;
}

/* ------------------------------------------------------------------------ */
/* Paging                                                                    */

/* Bytes of the whole pages layer l holds on one GPU for a context. */
static double layer_paged_bytes(const model_card *m, int layer, int64_t ctx_tokens, kt_dtype kv, int tp,
                                int64_t page_tokens)
{
    int64_t pages = ceil_div(model_layer_kv_tokens(m, layer, ctx_tokens), page_tokens);
    return (double)(pages * page_tokens) * layer_bytes_per_token_gpu(m, layer, kv, tp);
}

/* Bytes of the whole pages all layers hold on one GPU for a context. */
static double paged_bytes_gpu(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp, int64_t page_tokens)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        sum += layer_paged_bytes(m, l, ctx_tokens, kv, tp, page_tokens);
    return sum;
}

void kvcalc_paging_compute(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp, int64_t page_tokens,
                           double meta_bytes_per_page, kvcalc_page_scope scope, kvcalc_paging *out)
{
    memset(out, 0, sizeof *out);
    if (tp < 1)
        tp = 1;
    out->page_tokens = page_tokens;
    out->kv_bytes = kv_bytes_gpu(m, ctx_tokens, kv, tp);
    out->page_bytes = paged_bytes_gpu(m, ctx_tokens, kv, tp, page_tokens);
    int64_t layer_pages = 0;
    for (int l = 0; l < m->n_layers; l++)
        layer_pages += ceil_div(model_layer_kv_tokens(m, l, ctx_tokens), page_tokens);
    out->pages = scope == KVCALC_PAGES_SHARED ? ceil_div(ctx_tokens, page_tokens) : layer_pages;
    out->meta_bytes = (double)out->pages * meta_bytes_per_page;
    out->slack_bytes = out->page_bytes - out->kv_bytes;
    out->slack_tokens = ceil_div(ctx_tokens, page_tokens) * page_tokens - ctx_tokens;
    out->meta_frac = out->page_bytes > 0 ? out->meta_bytes / out->page_bytes : 0;
}

int kvcalc_prealloc_compute(const model_card *m, kt_dtype kv, int tp, const kvcalc_length_bin *bins, int n_bins,
                            int64_t max_tokens, int64_t page_tokens, kvcalc_prealloc *out)
{
    memset(out, 0, sizeof *out);
    if (tp < 1)
        tp = 1;
    double reserved = kv_bytes_gpu(m, max_tokens, kv, tp);
    for (int i = 0; i < n_bins; i++) {
        if (bins[i].tokens > max_tokens || bins[i].tokens < 1 || bins[i].count < 1)
            return -1;
        double n = (double)bins[i].count;
        out->requests += bins[i].count;
        out->kv_bytes += n * kv_bytes_gpu(m, bins[i].tokens, kv, tp);
        out->contiguous_bytes += n * reserved;
        out->paged_bytes += n * paged_bytes_gpu(m, bins[i].tokens, kv, tp, page_tokens);
    }
    if (out->contiguous_bytes > 0)
        out->contiguous_waste_frac = (out->contiguous_bytes - out->kv_bytes) / out->contiguous_bytes;
    if (out->paged_bytes > 0)
        out->paged_waste_frac = (out->paged_bytes - out->kv_bytes) / out->paged_bytes;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One page size against Jenga's LCM pages                                   */

/* Largest LCM accepted, so large × LCM stays exact in int64 for any page count seen. */
#define JENGA_MAX_LCM_BYTES (INT64_C(1) << 62)

static int64_t gcd_i64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* LCM of the sizes, or -1 when it passes JENGA_MAX_LCM_BYTES. */
static int64_t lcm_of(const int64_t *sizes, int n)
{
    int64_t l = 1;
    for (int i = 0; i < n; i++) {
        int64_t step = sizes[i] / gcd_i64(l, sizes[i]);
        if (l > JENGA_MAX_LCM_BYTES / step)
            return -1;
        l *= step;
    }
    return l;
}

/* Index of size in out->size_page_bytes, adding it in ascending order if new;
 * -1 when the table is full. */
static int jenga_size_index(kvcalc_jenga *out, int64_t size)
{
    int i = 0;
    while (i < out->n_sizes && out->size_page_bytes[i] < size)
        i++;
    if (i < out->n_sizes && out->size_page_bytes[i] == size)
        return i;
    if (out->n_sizes == KVCALC_MAX_PAGE_SIZES)
        return -1;
    memmove(&out->size_page_bytes[i + 1], &out->size_page_bytes[i],
            (size_t)(out->n_sizes - i) * sizeof out->size_page_bytes[0]);
    memmove(&out->size_layers[i + 1], &out->size_layers[i], (size_t)(out->n_sizes - i) * sizeof out->size_layers[0]);
    out->size_page_bytes[i] = size;
    out->size_layers[i] = 0;
    out->n_sizes++;
    return i;
}

/* Whole bytes of one page of page_tokens tokens of a layer (rounded up, for int4). */
static int64_t page_bytes_of(double bytes_per_token, int64_t page_tokens)
{
    return (int64_t)ceil(bytes_per_token * (double)page_tokens);
}

int kvcalc_jenga_layers(const double *layer_bytes_per_token, const int64_t *layer_held_tokens, int n_layers,
                        int64_t ctx_tokens, int64_t page_tokens, kvcalc_jenga *out)
{
    memset(out, 0, sizeof *out);
    out->page_tokens = page_tokens;
    for (int l = 0; l < n_layers; l++) {
        int i = jenga_size_index(out, page_bytes_of(layer_bytes_per_token[l], page_tokens));
        if (i < 0)
            return -1;
        out->size_layers[i]++;
    }
    if (n_layers == 0 || (out->lcm_page_bytes = lcm_of(out->size_page_bytes, out->n_sizes)) < 0)
        return -1;
    out->uniform_page_bytes = out->size_page_bytes[out->n_sizes - 1];
    int64_t ctx_pages = ceil_div(ctx_tokens, page_tokens);
    int64_t small_pages[KVCALC_MAX_PAGE_SIZES] = { 0 };
    for (int l = 0; l < n_layers; l++) {
        int64_t page = page_bytes_of(layer_bytes_per_token[l], page_tokens);
        int64_t own = ceil_div(layer_held_tokens[l], page_tokens);
        double kv = (double)layer_held_tokens[l] * layer_bytes_per_token[l];
        out->kv_bytes += kv;
        out->slack_bytes += (double)own * (double)page - kv;
        out->uniform_pad_bytes += (double)ctx_pages * (double)(out->uniform_page_bytes - page);
        out->uniform_window_bytes += (double)(ctx_pages - own) * (double)page;
        small_pages[jenga_size_index(out, page)] += own;
    }
    out->uniform_bytes = (double)n_layers * (double)ctx_pages * (double)out->uniform_page_bytes;
    for (int i = 0; i < out->n_sizes; i++) {
        int64_t per_large = out->lcm_page_bytes / out->size_page_bytes[i];
        double large_bytes = (double)ceil_div(small_pages[i], per_large) * (double)out->lcm_page_bytes;
        out->jenga_bytes += large_bytes;
        out->jenga_tail_bytes += large_bytes - (double)small_pages[i] * (double)out->size_page_bytes[i];
    }
    return 0;
}

int kvcalc_jenga_compute(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp, int64_t page_tokens,
                         kvcalc_jenga *out)
{
    if (tp < 1)
        tp = 1;
    double *bytes = malloc((size_t)m->n_layers * sizeof *bytes);
    int64_t *held = malloc((size_t)m->n_layers * sizeof *held);
    int rc = -1;
    if (bytes && held) {
        for (int l = 0; l < m->n_layers; l++) {
            bytes[l] = layer_bytes_per_token_gpu(m, l, kv, tp);
            held[l] = model_layer_kv_tokens(m, l, ctx_tokens);
        }
        rc = kvcalc_jenga_layers(bytes, held, m->n_layers, ctx_tokens, page_tokens, out);
    }
    free(bytes);
    free(held);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Fixed against variable memory                                             */

void kvcalc_memory_compute(const model_card *m, const hw_profile *gpu, int64_t ctx_tokens, kt_dtype kv, int tp,
                           double hbm_fraction, double reserve_bytes, int node_gpus, kvcalc_memory *out)
{
    memset(out, 0, sizeof *out);
    if (tp < 1)
        tp = 1;
    if (node_gpus < 1)
        node_gpus = 1;
    out->weight_bytes_per_gpu = model_weight_bytes(m) / tp;
    out->reserve_bytes_per_gpu = reserve_bytes;
    out->fixed_bytes_per_gpu = out->weight_bytes_per_gpu + reserve_bytes;
    out->variable_bytes_per_gpu = kv_bytes_gpu(m, ctx_tokens, kv, tp);
    double total = out->fixed_bytes_per_gpu + out->variable_bytes_per_gpu;
    out->variable_frac = total > 0 ? out->variable_bytes_per_gpu / total : 0;
    out->node_gpus = node_gpus;
    if (!gpu)
        return;
    out->node_kv_budget_bytes_per_gpu = gpu->hbm_bytes * hbm_fraction - model_weight_bytes(m) / node_gpus - reserve_bytes;
    out->node_max_tokens = max_tokens_fitting(m, kv, node_gpus, out->node_kv_budget_bytes_per_gpu);
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

/* Most entries a list option (--tile-tokens, --page-tokens, --lengths) takes. */
#define KV_MAX_LIST 16
#define KV_MAX_LENGTH_BINS 256

/* What the command line asked for. Strings point into argv (not owned). */
typedef struct kv_args {
    const char *model;
    const char *gpu;            /* NULL: no memory figures */
    int64_t ctx_tokens;         /* 0: the card's max_context_tokens */
    kt_dtype kv;
    int tp;
    double hbm_fraction;
    double reserve_bytes;
    int json;
    kt_dtype weight_dtype;      /* with weight_dtype_set: overrides the card's */
    int weight_dtype_set;
    const char *kv_precision;   /* NULL, or a scenario's kv.precision in YAML */
    const char *kv_sharing;     /* NULL, or kv.sharing / the card's kv_sharing in YAML */
    /* sections */
    int show_tiles, show_paging, show_jenga, show_memory;
    int64_t tile_tokens[KV_MAX_LIST];
    int n_tile_tokens;
    kt_dtype tile_dtype;        /* with tile_dtype_set; else kvcalc_tile_dtype(kv) */
    int tile_dtype_set;
    int64_t page_tokens[KV_MAX_LIST];
    int n_page_tokens;
    double page_meta_bytes;
    kvcalc_page_scope page_scope;
    kvcalc_length_bin lengths[KV_MAX_LENGTH_BINS];  /* none: one request of the context */
    int n_lengths;
    int64_t max_len_tokens;     /* 0: the card's max context (or the longest length, if longer) */
    int node_gpus;
} kv_args;

/* Defaults, named so the usage text and the parser agree. */
#define KV_DEFAULT_DTYPE DTYPE_BF16
#define KV_DEFAULT_TP 1
#define KV_DEFAULT_HBM_FRACTION 0.9     /* what serving engines leave for KV + weights (vLLM's gpu_memory_utilization) */
#define KV_DEFAULT_TILE_TOKENS "16,32,64,128,256"
#define KV_DEFAULT_PAGE_TOKENS "16,32,64,128"  /* the block sizes serving engines offer */
#define KV_DEFAULT_NODE_GPUS 8          /* an HGX / DGX node */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier kv MODEL [--context N] [--dtype D] [--gpu PROFILE] [--tp N]\n"
            "                 [--hbm-fraction F] [--reserve BYTES] [--weight-dtype D] [--json]\n"
            "                 [--kv-precision YAML] [--kv-sharing YAML]\n"
            "                 [--tiles] [--tile-tokens LIST] [--tile-dtype D]\n"
            "                 [--paging] [--page-tokens LIST] [--page-meta-bytes B] [--page-scope S]\n"
            "                 [--lengths LIST] [--max-len N] [--jenga] [--memory] [--node-gpus N]\n"
            "                 [--all] [--help]\n"
            "\n"
            "KV cache bytes per token and per context, by attention layer kind, against\n"
            "the weights and a GPU's memory. Every figure after the first block is per GPU\n"
            "of the tp group.\n"
            "\n"
            "  MODEL             model card name (models/NAME.yaml) or path to a card\n"
            "  --context N       context length in tokens: 131072, 128K (x1024), 10M (x2^20);\n"
            "                    default: the card's max_context_tokens\n"
            "  --dtype D         KV cache dtype (fp32, bf16, fp16, fp8, int8, int4); default %s\n"
            "  --gpu PROFILE     GPU profile name (hwprofiles/NAME.yaml) or path; adds the\n"
            "                    memory budget and the longest context that fits\n"
            "  --tp N            tensor-parallel GPUs sharing the weights and KV heads; default %d\n"
            "  --hbm-fraction F  share of HBM usable for weights and KV, 0 < F <= 1; default %g\n"
            "  --reserve BYTES   HBM per GPU kept for activations and runtime (\"2GiB\"); default 0\n"
            "  --weight-dtype D  weights in this dtype instead of the card's\n"
            "  --kv-precision Y  KV dtype per layer group, as a scenario's kv.precision,\n"
            "                    e.g. '[{layers: 4, dtype: int8}, {dtype: int2}]'\n"
            "  --kv-sharing Y    layers reading an earlier layer's KV, as kv.sharing:\n"
            "                    '{every: 2}' or '{sources: [0, 0, 2, 2, ...]}'\n"
            "  --json            print the figures as one JSON object\n"
            "\n"
            "Sections (each also switched on by its own options; --all: every one):\n"
            "  --tiles           SRAM tiles of FlashAttention-style kernels: bytes of one K+V\n"
            "                    tile = tile tokens x KV heads x head dim x bytes x 2 (an MLA\n"
            "                    tile: tokens x (kv_lora_rank + rope dims) x bytes, no K/V\n"
            "                    split) against the GPU's shared memory per SM (needs --gpu\n"
            "                    for the fit); pages of the first --page-tokens size per tile\n"
            "  --tile-tokens LIST  tile sizes in tokens; default %s\n"
            "  --tile-dtype D    what a tile holds in SRAM; default: the KV dtype if 16 or 32\n"
            "                    bits, else bf16 (dequantized)\n"
            "  --paging          per page size: page-table entries and their metadata against\n"
            "                    the KV they map (target below %g%%), the slack of each layer's\n"
            "                    last page, and contiguous reservation against paging\n"
            "  --page-tokens LIST  page (block) sizes in tokens; default %s\n"
            "  --page-meta-bytes B metadata per page; default %d (kvtier's kv manager: table\n"
            "                    entry 4, ref count 4, prefix hash 8, LRU links 8, prefix\n"
            "                    table 2 x 12)\n"
            "  --page-scope S    shared: one table for all layers (an entry per page of\n"
            "                    tokens, default); layer: a table per layer\n"
            "  --lengths LIST    request lengths in tokens, N or N:COUNT each (\"100,1000:3\");\n"
            "                    default: one request of --context\n"
            "  --max-len N       what contiguous allocation reserves per request; default the\n"
            "                    card's max context (or the longest length if longer)\n"
            "  --jenga           one page size for all layers (the largest layer's, one table,\n"
            "                    so windowed layers keep the whole context) against Jenga-style\n"
            "                    pages (LCM of the layers' page sizes, each layer its own pages),\n"
            "                    with the memory each wastes, per --page-tokens size\n"
            "  --memory          fixed (weights / tp + reserve) against variable (KV) memory\n"
            "                    per GPU, and the longest context on a node (needs --gpu)\n"
            "  --node-gpus N     GPUs of a node, one model copy over all of them; default %d\n"
            "  --help            print this text\n"
            "\n"
            "Exit status: 0, or 2 on bad input (message on stderr).\n",
            dtype_name(KV_DEFAULT_DTYPE), KV_DEFAULT_TP, KV_DEFAULT_HBM_FRACTION, KV_DEFAULT_TILE_TOKENS,
            KVCALC_PAGE_META_TARGET_FRAC * 100, KV_DEFAULT_PAGE_TOKENS, KVCALC_DEFAULT_PAGE_META_BYTES,
            KV_DEFAULT_NODE_GPUS);
}

/* A token count for option name ("131072", "128K"). Returns 0, or -1 (message printed). */
static int parse_tokens(const char *name, const char *s, int64_t *out)
{
    char why[256];
    double v;
    /* Tokens past 2^53 would not be exact in the double sums; no model comes near. */
    const double max_tokens = 9007199254740992.0;
    if (units_parse(s, UNITS_TOKENS, &v, why, sizeof why) != 0) {
        fprintf(stderr, "kvtier kv: %s '%s': %s (e.g. %s)\n", name, s, why, units_example(UNITS_TOKENS));
        return -1;
    }
    if (v < 1 || v != floor(v) || v > max_tokens) {
        fprintf(stderr, "kvtier kv: %s '%s': need a whole number of tokens >= 1\n", name, s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int parse_context(const char *s, int64_t *out)
{
    return parse_tokens("--context", s, out);
}

/* A whole number in [1, hi] for option name. */
static int parse_count_to(const char *name, const char *s, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 1 || v > hi) {
        fprintf(stderr, "kvtier kv: %s '%s': need a whole number in [1, %ld]\n", name, s, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A whole number >= 1 for option name. */
static int parse_count(const char *name, const char *s, int *out)
{
    return parse_count_to(name, s, INT_MAX, out);
}

/* Bounded as a scenario's replicas.tensor_parallel is. */
static int parse_tp(const char *s, int *out)
{
    return parse_count_to("--tp", s, MAX_GPUS_PER_REPLICA, out);
}

/* Bounded as a scenario's kv.hbm_fraction is. */
static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = units_strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= SCENARIO_MIN_HBM_FRACTION && v <= 1)) {
        fprintf(stderr, "kvtier kv: --hbm-fraction '%s': need a number in [%g, 1]\n", s, SCENARIO_MIN_HBM_FRACTION);
        return -1;
    }
    *out = v;
    return 0;
}

/* A byte count with a unit ("2GiB"), or a bare whole number of bytes. */
static int parse_bytes(const char *name, const char *s, double *out)
{
    char why[256], *end;
    double v = units_strtod(s, &end);
    if (end != s && *end == '\0' && v >= 0 && v == floor(v)) {
        *out = v;
        return 0;
    }
    if (units_parse(s, UNITS_BYTES, out, why, sizeof why) != 0) {
        fprintf(stderr, "kvtier kv: %s '%s': %s (e.g. %s)\n", name, s, why, units_example(UNITS_BYTES));
        return -1;
    }
    return 0;
}

/* Bounded as a scenario's kv.activation_reserve is. */
static int parse_reserve(const char *s, double *out)
{
    if (parse_bytes("--reserve", s, out) < 0)
        return -1;
    if (*out <= SCENARIO_MAX_RESERVE_BYTES)
        return 0;
    fprintf(stderr, "kvtier kv: --reserve '%s': more than %g bytes\n", s, SCENARIO_MAX_RESERVE_BYTES);
    return -1;
}

static int parse_dtype_option(const char *name, const char *s, kt_dtype *out)
{
    if (dtype_parse(s, out) == 0)
        return 0;
    fprintf(stderr, "kvtier kv: %s '%s': unknown dtype (one of:", name, s);
    for (const char *const *d = dtype_names; *d; d++)
        fprintf(stderr, " %s", *d);
    fprintf(stderr, ")\n");
    return -1;
}

/* Comma-separated token counts into out[0..cap). Returns the count, or -1 (message printed). */
static int parse_token_list(const char *name, const char *s, int64_t *out, int cap)
{
    char *copy = strdup(s), *save = NULL;
    int n = 0, rc = copy ? 0 : -1;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap) {
            fprintf(stderr, "kvtier kv: %s '%s': at most %d entries\n", name, s, cap);
            rc = -1;
        } else {
            rc = parse_tokens(name, tok, &out[n++]);
        }
    }
    free(copy);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "kvtier kv: %s '%s': need at least one token count\n", name, s);
        rc = -1;
    }
    return rc == 0 ? n : -1;
}

/* --lengths "100,1000:3": lengths with optional counts. Returns the bin count, or -1 (message printed). */
static int parse_lengths(const char *s, kvcalc_length_bin *bins, int cap)
{
    char *copy = strdup(s), *save = NULL;
    int n = 0, rc = copy ? 0 : -1;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        int count = 1;
        if (colon)
            *colon = '\0';
        if (n == cap) {
            fprintf(stderr, "kvtier kv: --lengths: at most %d entries\n", cap);
            rc = -1;
        } else if (parse_tokens("--lengths", tok, &bins[n].tokens) != 0 ||
                   (colon && parse_count("--lengths count", colon + 1, &count) != 0)) {
            rc = -1;
        } else {
            bins[n++].count = count;
        }
    }
    free(copy);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "kvtier kv: --lengths '%s': need at least one length\n", s);
        rc = -1;
    }
    return rc == 0 ? n : -1;
}

static int parse_scope(const char *s, kvcalc_page_scope *out)
{
    if (strcmp(s, "shared") == 0)
        *out = KVCALC_PAGES_SHARED;
    else if (strcmp(s, "layer") == 0)
        *out = KVCALC_PAGES_PER_LAYER;
    else {
        fprintf(stderr, "kvtier kv: --page-scope '%s': shared or layer\n", s);
        return -1;
    }
    return 0;
}

/* kvtier kv's options; the values past the characters name the long-only ones. */
enum {
    KV_OPT_CONTEXT = 256, KV_OPT_DTYPE, KV_OPT_GPU, KV_OPT_TP, KV_OPT_HBM_FRACTION, KV_OPT_RESERVE,
    KV_OPT_WEIGHT_DTYPE, KV_OPT_TILE_TOKENS, KV_OPT_TILE_DTYPE, KV_OPT_NODE_GPUS, KV_OPT_PAGE_TOKENS,
    KV_OPT_PAGE_META_BYTES, KV_OPT_PAGE_SCOPE, KV_OPT_LENGTHS, KV_OPT_MAX_LEN, KV_OPT_JSON, KV_OPT_ALL,
    KV_OPT_TILES, KV_OPT_PAGING, KV_OPT_JENGA, KV_OPT_MEMORY, KV_OPT_HELP, KV_OPT_KV_PRECISION, KV_OPT_KV_SHARING,
};

static const struct option kv_options[] = {
    { "context", required_argument, NULL, KV_OPT_CONTEXT },
    { "dtype", required_argument, NULL, KV_OPT_DTYPE },
    { "gpu", required_argument, NULL, KV_OPT_GPU },
    { "tp", required_argument, NULL, KV_OPT_TP },
    { "hbm-fraction", required_argument, NULL, KV_OPT_HBM_FRACTION },
    { "reserve", required_argument, NULL, KV_OPT_RESERVE },
    { "weight-dtype", required_argument, NULL, KV_OPT_WEIGHT_DTYPE },
    { "tile-tokens", required_argument, NULL, KV_OPT_TILE_TOKENS },
    { "tile-dtype", required_argument, NULL, KV_OPT_TILE_DTYPE },
    { "node-gpus", required_argument, NULL, KV_OPT_NODE_GPUS },
    { "page-tokens", required_argument, NULL, KV_OPT_PAGE_TOKENS },
    { "page-meta-bytes", required_argument, NULL, KV_OPT_PAGE_META_BYTES },
    { "page-scope", required_argument, NULL, KV_OPT_PAGE_SCOPE },
    { "lengths", required_argument, NULL, KV_OPT_LENGTHS },
    { "max-len", required_argument, NULL, KV_OPT_MAX_LEN },
    { "json", no_argument, NULL, KV_OPT_JSON },
    { "all", no_argument, NULL, KV_OPT_ALL },
    { "tiles", no_argument, NULL, KV_OPT_TILES },
    { "paging", no_argument, NULL, KV_OPT_PAGING },
    { "jenga", no_argument, NULL, KV_OPT_JENGA },
    { "memory", no_argument, NULL, KV_OPT_MEMORY },
    { "help", no_argument, NULL, KV_OPT_HELP },
    { "kv-precision", required_argument, NULL, KV_OPT_KV_PRECISION },
    { "kv-sharing", required_argument, NULL, KV_OPT_KV_SHARING },
    { NULL, 0, NULL, 0 },
};

/* Applies one of the report's base options with value v. Returns 0, -1 on
 * an error (message printed), 1 when c is not one of them. */
static int apply_base_option(int c, const char *v, kv_args *a)
{
    switch (c) {
    case KV_OPT_CONTEXT: return parse_context(v, &a->ctx_tokens);
    case KV_OPT_DTYPE: return parse_dtype_option("--dtype", v, &a->kv);
    case KV_OPT_GPU: a->gpu = v; return 0;
    case KV_OPT_TP: return parse_tp(v, &a->tp);
    case KV_OPT_HBM_FRACTION: return parse_fraction(v, &a->hbm_fraction);
    case KV_OPT_RESERVE: return parse_reserve(v, &a->reserve_bytes);
    case KV_OPT_WEIGHT_DTYPE:
        a->weight_dtype_set = 1;
        return parse_dtype_option("--weight-dtype", v, &a->weight_dtype);
    case KV_OPT_JSON: a->json = 1; return 0;
    case KV_OPT_KV_PRECISION: a->kv_precision = v; return 0;
    case KV_OPT_KV_SHARING: a->kv_sharing = v; return 0;
    case KV_OPT_HELP: return 0;     /* kvcalc_main answers --help before parsing */
    default: return 1;
    }
}

/* Applies an option of the tile, paging, Jenga or memory section; each
 * switches its section on (--page-tokens also sets --jenga's sizes).
 * Returns 0, or -1 on an error (message printed). */
static int apply_section_option(int c, const char *v, kv_args *a)
{
    a->show_tiles |= c == KV_OPT_ALL || c == KV_OPT_TILES || c == KV_OPT_TILE_TOKENS || c == KV_OPT_TILE_DTYPE;
    a->show_paging |= c == KV_OPT_ALL || c == KV_OPT_PAGING || c == KV_OPT_PAGE_TOKENS ||
                      c == KV_OPT_PAGE_META_BYTES || c == KV_OPT_PAGE_SCOPE || c == KV_OPT_LENGTHS ||
                      c == KV_OPT_MAX_LEN;
    a->show_jenga |= c == KV_OPT_ALL || c == KV_OPT_JENGA;
    a->show_memory |= c == KV_OPT_ALL || c == KV_OPT_MEMORY || c == KV_OPT_NODE_GPUS;
    switch (c) {
    case KV_OPT_TILE_TOKENS:
        return (a->n_tile_tokens = parse_token_list("--tile-tokens", v, a->tile_tokens, KV_MAX_LIST)) < 0 ? -1 : 0;
    case KV_OPT_TILE_DTYPE:
        a->tile_dtype_set = 1;
        return parse_dtype_option("--tile-dtype", v, &a->tile_dtype);
    case KV_OPT_NODE_GPUS: return parse_count("--node-gpus", v, &a->node_gpus);
    case KV_OPT_PAGE_TOKENS:
        return (a->n_page_tokens = parse_token_list("--page-tokens", v, a->page_tokens, KV_MAX_LIST)) < 0 ? -1 : 0;
    case KV_OPT_PAGE_META_BYTES: return parse_bytes("--page-meta-bytes", v, &a->page_meta_bytes);
    case KV_OPT_PAGE_SCOPE: return parse_scope(v, &a->page_scope);
    case KV_OPT_LENGTHS: return (a->n_lengths = parse_lengths(v, a->lengths, KV_MAX_LENGTH_BINS)) < 0 ? -1 : 0;
    case KV_OPT_MAX_LEN: return parse_tokens("--max-len", v, &a->max_len_tokens);
    default: return 0;
    }
}

/* Takes the operand v as the MODEL. Returns 0, or -1 (message printed). */
static int take_model(const char *v, kv_args *a)
{
    if (v[0] == '-') {
        fprintf(stderr, "kvtier kv: unknown option '%s' (try kvtier kv --help)\n", v);
        return -1;
    }
    if (a->model) {
        fprintf(stderr, "kvtier kv: one MODEL only, got '%s' and '%s'\n", a->model, v);
        return -1;
    }
    a->model = v;
    return 0;
}

/* Fills the list defaults the command line left empty. */
static void default_lists(kv_args *a)
{
    if (!a->n_tile_tokens)
        a->n_tile_tokens = parse_token_list("--tile-tokens", KV_DEFAULT_TILE_TOKENS, a->tile_tokens, KV_MAX_LIST);
    if (!a->n_page_tokens)
        a->n_page_tokens = parse_token_list("--page-tokens", KV_DEFAULT_PAGE_TOKENS, a->page_tokens, KV_MAX_LIST);
}

/* Fills a from argv[1..argc). Returns 0, or -1 with a message on stderr. */
static int parse_args(int argc, char **argv, kv_args *a)
{
    *a = (kv_args){ .kv = KV_DEFAULT_DTYPE, .tp = KV_DEFAULT_TP, .hbm_fraction = KV_DEFAULT_HBM_FRACTION,
                    .page_meta_bytes = KVCALC_DEFAULT_PAGE_META_BYTES, .page_scope = KVCALC_PAGES_SHARED,
                    .node_gpus = KV_DEFAULT_NODE_GPUS };
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = cli_option_next(argc, argv, "-:", kv_options, "kv")) != -1) {
        if (c == '?')
            rc = -1;
        else if (c == 1)
            rc = take_model(optarg, a);
        else if ((rc = apply_base_option(c, optarg, a)) > 0)
            rc = apply_section_option(c, optarg, a);
    }
    if (rc < 0)
        return -1;
    if (!a->model) {
        cli_usage_error("kv", "missing MODEL");
        return -1;
    }
    default_lists(a);
    return 0;
}


/* ------------------------------------------------------------------------ */
/* Text report                                                               */

/* Writes v with thousands separators ("10,485,760"). Returns buf. */
static char *fmt_int(int64_t v, char *buf, size_t n)
{
    char digits[32];
    unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int len = snprintf(digits, sizeof digits, "%llu", mag);
    size_t o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 1 < n; i++) {
        buf[o++] = digits[i];
        int left = len - 1 - i;
        if (left > 0 && left % 3 == 0 && o + 1 < n)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* Exact byte count with separators and unit ("327,680 B"); int4 KV can
 * leave half bytes, shown as ".5". Returns buf. */
static char *fmt_bytes_exact(double v, char *buf, size_t n)
{
    char whole[40];
    double i = floor(v);
    fmt_int((int64_t)i, whole, sizeof whole);
    if (v == i)
        snprintf(buf, n, "%s B", whole);
    else
        snprintf(buf, n, "%s.%d B", whole, (int)lround((v - i) * 10));
    return buf;
}

static char *fmt_bytes(double v, char *buf, size_t n)
{
    return units_format(v, UNITS_BYTES, buf, n);
}

/* Smallest and largest number of tokens a layer of kind k holds for the context. */
static void kind_tokens_range(const model_card *m, model_attn_kind k, int64_t ctx_tokens,
                              int64_t *lo, int64_t *hi)
{
    *lo = INT64_MAX;
    *hi = 0;
    for (int l = 0; l < m->n_layers; l++) {
        if (m->layers[l].attn != k)
            continue;
        int64_t t = model_layer_kv_tokens(m, l, ctx_tokens);
        if (t < *lo)
            *lo = t;
        if (t > *hi)
            *hi = t;
    }
}

/* "80 global" / "12 global, 36 chunked" */
static void print_kind_summary(FILE *out, const kvcalc_result *r)
{
    const char *sep = "";
    for (int k = 0; k < ATTN_KIND_COUNT; k++) {
        if (!r->layers_of_kind[k])
            continue;
        fprintf(out, "%s%d %s", sep, r->layers_of_kind[k], model_attn_names[k]);
        sep = ", ";
    }
}

/* The label column of the report. */
#define KV_LABEL_WIDTH 28

static void print_per_token(FILE *out, const model_card *m, const kvcalc_result *r)
{
    char b[64], label[96];
    fprintf(out, "%-*s%s\n", KV_LABEL_WIDTH, "KV per token", fmt_bytes_exact(r->kv_bytes_per_token, b, sizeof b));
    for (int k = 0; k < ATTN_KIND_COUNT; k++) {
        if (!r->layers_of_kind[k])
            continue;
        snprintf(label, sizeof label, "  %-8s %3d layers", model_attn_names[k], r->layers_of_kind[k]);
        fprintf(out, "%-*s%s", KV_LABEL_WIDTH, label, fmt_bytes_exact(r->kv_bytes_per_token_kind[k], b, sizeof b));
        int64_t lo_w = INT64_MAX, hi_w = 0;
        for (int l = 0; l < m->n_layers; l++)
            if (m->layers[l].attn == (model_attn_kind)k && m->layers[l].window_tokens) {
                lo_w = m->layers[l].window_tokens < lo_w ? m->layers[l].window_tokens : lo_w;
                hi_w = m->layers[l].window_tokens > hi_w ? m->layers[l].window_tokens : hi_w;
            }
        char w1[32], w2[32];
        if (hi_w && lo_w == hi_w)
            fprintf(out, "   (up to %s tokens each)", fmt_int(hi_w, w1, sizeof w1));
        else if (hi_w)
            fprintf(out, "   (up to %s-%s tokens each)", fmt_int(lo_w, w1, sizeof w1), fmt_int(hi_w, w2, sizeof w2));
        fputc('\n', out);
    }
}

/* Per-layer precision and sharing (kv_plan), when the card or the options
 * set them: each dtype's stored bytes per token with the scale metadata of
 * sub-byte dtypes (one fp16 scale and zero point per group of
 * KV_LAYOUT_HBM_QUANT_GROUP elements, as HBM blocks hold them). */
static void print_plan(FILE *out, const model_card *m, const kv_args *a)
{
    if (!kv_plan_is_set(m))
        return;
    char b[64], c[64], label[96], desc[160];
    double data[DTYPE_COUNT] = { 0 }, elems[DTYPE_COUNT] = { 0 };
    int layers[DTYPE_COUNT] = { 0 };
    for (int l = 0; l < m->n_layers; l++)
        if (model_layer_stores_kv(m, l)) {
            kt_dtype d = model_layer_kv_dtype(m, l, a->kv);
            layers[d]++;
            data[d] += model_kv_stored_bytes_per_token_layer(m, l, a->kv);
            elems[d] += model_kv_elems_per_token_layer(m, l);
        }
    fprintf(out, "%-*s%s\n", KV_LABEL_WIDTH, "KV per layer", kv_plan_describe(m, a->kv, desc, sizeof desc));
    for (int d = 0; d < DTYPE_COUNT; d++) {
        if (!layers[d])
            continue;
        snprintf(label, sizeof label, "  %-8s %3d layers", dtype_name((kt_dtype)d), layers[d]);
        fprintf(out, "%-*s%s", KV_LABEL_WIDTH, label, fmt_bytes_exact(data[d], b, sizeof b));
        double scales = elems[d] * kv_layout_scale_bytes_elem((kt_dtype)d, KV_LAYOUT_HBM_QUANT_GROUP);
        if (scales > 0)
            fprintf(out, " + scales %s (per %d elements)", fmt_bytes_exact(scales, c, sizeof c),
                    KV_LAYOUT_HBM_QUANT_GROUP);
        fputc('\n', out);
    }
}

/* Label of kind k's line under "KV for N tokens": its layers and the tokens each holds. */
static void context_kind_label(const model_card *m, model_attn_kind k, int64_t ctx_tokens, int layers,
                               char *label, size_t n)
{
    char t1[32], t2[32], tokens[72];
    int64_t lo, hi;
    kind_tokens_range(m, k, ctx_tokens, &lo, &hi);
    if (lo == hi)
        snprintf(tokens, sizeof tokens, "%s", fmt_int(hi, t1, sizeof t1));
    else
        snprintf(tokens, sizeof tokens, "%s-%s", fmt_int(lo, t1, sizeof t1), fmt_int(hi, t2, sizeof t2));
    snprintf(label, n, "  %-8s %3d layers x %s tokens", model_attn_names[k], layers, tokens);
}

static void print_context(FILE *out, const model_card *m, const kv_args *a, const kvcalc_result *r)
{
    char b[64], e[64], t1[32], labels[ATTN_KIND_COUNT][128];
    snprintf(labels[0], sizeof labels[0], "KV for %s tokens", fmt_int(a->ctx_tokens, t1, sizeof t1));
    fprintf(out, "%-*s%s   (%s)\n", KV_LABEL_WIDTH, labels[0], fmt_bytes(r->kv_bytes_context, b, sizeof b),
            fmt_bytes_exact(r->kv_bytes_context, e, sizeof e));
    /* The kind labels carry token counts of any width; align the figures after the longest. */
    int width = KV_LABEL_WIDTH;
    for (int k = 0; k < ATTN_KIND_COUNT; k++) {
        labels[k][0] = '\0';
        if (!r->layers_of_kind[k])
            continue;
        context_kind_label(m, (model_attn_kind)k, a->ctx_tokens, r->layers_of_kind[k], labels[k], sizeof labels[k]);
        int len = (int)strlen(labels[k]) + 2;
        width = len > width ? len : width;
    }
    for (int k = 0; k < ATTN_KIND_COUNT; k++)
        if (r->layers_of_kind[k])
            fprintf(out, "%-*s%s   (%s)\n", width, labels[k], fmt_bytes(r->kv_bytes_context_kind[k], b, sizeof b),
                    fmt_bytes_exact(r->kv_bytes_context_kind[k], e, sizeof e));
}

static void print_memory(FILE *out, const hw_profile *gpu, const model_card *m, const kv_args *a,
                         const kvcalc_result *r)
{
    char hbm[32], usable[32], w[32], res[32], budget[48], need[32], t1[32], t2[32], label[96];
    double kv_gpu = kv_bytes_gpu(m, a->ctx_tokens, a->kv, a->tp);
    int fits = kv_gpu <= r->kv_budget_bytes_per_gpu;
    snprintf(label, sizeof label, "GPU %s", gpu->name);
    fprintf(out, "%-*s%s HBM per GPU (%s)\n", KV_LABEL_WIDTH, label, fmt_bytes(r->hbm_bytes_per_gpu, hbm, sizeof hbm),
            gpu->gpu);
    if (r->kv_budget_bytes_per_gpu >= 0)
        fmt_bytes(r->kv_budget_bytes_per_gpu, budget, sizeof budget);
    else
        snprintf(budget, sizeof budget, "0 B (weights do not fit)");
    fprintf(out, "%-*s%s x %g = %s, - %s weights - %s reserve = %s\n", KV_LABEL_WIDTH, "KV budget per GPU", hbm,
            a->hbm_fraction, fmt_bytes(r->hbm_bytes_per_gpu * a->hbm_fraction, usable, sizeof usable),
            fmt_bytes(r->weight_bytes_per_gpu, w, sizeof w), fmt_bytes(a->reserve_bytes, res, sizeof res), budget);
    snprintf(label, sizeof label, "%s tokens fit", fmt_int(a->ctx_tokens, t1, sizeof t1));
    fprintf(out, "%-*s%s: %s of KV per GPU %s budget\n", KV_LABEL_WIDTH, label, fits ? "yes" : "no",
            fmt_bytes(kv_gpu, need, sizeof need), fits ? "within the" : "exceeds the");
    if (r->max_tokens_per_gpu_group == INT64_MAX)
        fprintf(out, "%-*sany length (every layer is windowed and the capped KV fits)\n", KV_LABEL_WIDTH,
                "longest context");
    else
        fprintf(out, "%-*s%s tokens on %d GPU%s (card's max context: %s tokens)\n", KV_LABEL_WIDTH, "longest context",
                fmt_int(r->max_tokens_per_gpu_group, t1, sizeof t1), a->tp, a->tp == 1 ? "" : "s",
                fmt_int(m->max_context_tokens, t2, sizeof t2));
}

/* Says why the per-GPU KV is more than 1/tp of the whole (see kv_layout_layer_share). */
static void print_split_note(FILE *out, const model_card *m, int tp, const kvcalc_result *r)
{
    if (r->layers_of_kind[ATTN_MLA])
        fprintf(out, "; the MLA latent is not split, every GPU holds it whole");
    if (tp > m->n_kv_heads && r->layers_of_kind[ATTN_MLA] < m->n_layers)
        fprintf(out, "; %d KV heads over %d GPUs: heads replicated, 1 per GPU", m->n_kv_heads, tp);
}

/* ------------------------------------------------------------------------ */
/* Text sections: tiles, paging, Jenga, memory                               */

static kt_dtype tile_dtype_of(const kv_args *a)
{
    return a->tile_dtype_set ? a->tile_dtype : kvcalc_tile_dtype(a->kv);
}

/* First layer of each tile shape: [0] a layer with per-head K and V, [1] an
 * MLA layer; -1 when the model has none. */
static void tile_shape_layers(const model_card *m, int first[2])
{
    first[0] = first[1] = -1;
    for (int l = m->n_layers - 1; l >= 0; l--)
        first[m->layers[l].attn == ATTN_MLA] = l;
}

/* "4" pages per tile, "1/2" (a page holds 2 tiles) or "1.50 (misaligned)". */
static char *pages_per_tile_text(int64_t tile_tokens, int64_t page_tokens, char *buf, size_t n)
{
    if (tile_tokens % page_tokens == 0)
        snprintf(buf, n, "%" PRId64, tile_tokens / page_tokens);
    else if (page_tokens % tile_tokens == 0)
        snprintf(buf, n, "1/%" PRId64, page_tokens / tile_tokens);
    else
        snprintf(buf, n, "%.2f (misaligned: tiles straddle pages)", (double)tile_tokens / page_tokens);
    return buf;
}

/* How many tiles of this size fit one SM's shared memory at once: 1 or 2
 * (double-buffered, loading the next tile while computing on this one). */
#define TILE_PIPELINE_STAGES 2

static void print_tile_rows(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a, int layer)
{
    char b[48], ppt[64], head[48];
    kt_dtype td = tile_dtype_of(a);
    snprintf(head, sizeof head, "pages of %" PRId64 " tokens per tile", a->page_tokens[0]);
    fprintf(out, "    %-8s %-14s %-9s %-5s %-9s %s\n", "tokens", "tile bytes", "of SMEM", "fits", "2 stages", head);
    for (int i = 0; i < a->n_tile_tokens; i++) {
        double bytes = kvcalc_layer_tile_bytes(m, layer, a->tp, a->tile_tokens[i], td);
        char frac[16] = "-", fits[8] = "-", fits2[8] = "-";
        if (gpu) {
            snprintf(frac, sizeof frac, "%.1f%%", 100 * bytes / gpu->smem_per_sm_bytes);
            snprintf(fits, sizeof fits, "%s", bytes <= gpu->smem_per_sm_bytes ? "yes" : "no");
            snprintf(fits2, sizeof fits2, "%s", TILE_PIPELINE_STAGES * bytes <= gpu->smem_per_sm_bytes ? "yes" : "no");
        }
        fprintf(out, "    %-8" PRId64 " %-14s %-9s %-5s %-9s %s\n", a->tile_tokens[i], fmt_bytes_exact(bytes, b, sizeof b),
                frac, fits, fits2, pages_per_tile_text(a->tile_tokens[i], a->page_tokens[0], ppt, sizeof ppt));
    }
}

static void print_tiles(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a)
{
    char b[32];
    kt_dtype td = tile_dtype_of(a);
    fprintf(out, "SRAM tiles (K+V; %s in SRAM", dtype_name(td));
    if (!a->tile_dtype_set && td != a->kv)
        fprintf(out, ", dequantized from %s", dtype_name(a->kv));
    if (gpu)
        fprintf(out, "; %s of shared memory per SM on %s)\n", fmt_bytes_exact(gpu->smem_per_sm_bytes, b, sizeof b), gpu->name);
    else
        fprintf(out, "; give --gpu for the fit)\n");
    int first[2];
    tile_shape_layers(m, first);
    if (first[0] >= 0) {
        fprintf(out, "  %s layers: %d KV heads x %d dims per GPU: tokens x %d x %d x %g B x 2\n",
                model_attn_names[m->layers[first[0]].attn], kv_layout_kv_heads_gpu(m, a->tp), m->head_dim,
                kv_layout_kv_heads_gpu(m, a->tp), m->head_dim, dtype_bytes(td));
        print_tile_rows(out, m, gpu, a, first[0]);
    }
    if (first[1] >= 0) {
        fprintf(out, "  mla layers: one latent of %d + %d dims, no K/V split: tokens x %d x %g B\n",
                m->mla_kv_lora_rank, m->mla_qk_rope_dim, m->mla_kv_lora_rank + m->mla_qk_rope_dim, dtype_bytes(td));
        print_tile_rows(out, m, gpu, a, first[1]);
    }
}

static void print_paging_table(FILE *out, const model_card *m, const kv_args *a)
{
    char e[32], meta[48], pages[48], kvp[32], slack[48], frac[24];
    fprintf(out, "paging (%s; %g B of metadata per page; target below %g%% of the KV it maps)\n",
            a->page_scope == KVCALC_PAGES_SHARED ? "one page table for all layers" : "a page table per layer",
            a->page_meta_bytes, KVCALC_PAGE_META_TARGET_FRAC * 100);
    fprintf(out, "  %-8s %-14s %-14s %-12s %-10s %s\n", "page", "entries", "metadata", "KV in pages", "meta/KV",
            "last-page slack");
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_paging pg;
        kvcalc_paging_compute(m, a->ctx_tokens, a->kv, a->tp, a->page_tokens[i], a->page_meta_bytes, a->page_scope, &pg);
        fmt_int(pg.pages, pages, sizeof pages);
        fmt_bytes_exact(pg.meta_bytes, meta, sizeof meta);
        fmt_bytes(pg.page_bytes, kvp, sizeof kvp);
        snprintf(frac, sizeof frac, "%.4f%%", 100 * pg.meta_frac);
        snprintf(slack, sizeof slack, "%" PRId64 " tokens, %s", pg.slack_tokens, fmt_bytes(pg.slack_bytes, e, sizeof e));
        fprintf(out, "  %-8" PRId64 " %-14s %-14s %-12s %-10s %-26s %s\n", a->page_tokens[i], pages, meta, kvp, frac,
                slack, pg.meta_frac < KVCALC_PAGE_META_TARGET_FRAC ? "ok" : "over target");
    }
}

/* "3 requests (100, 1,000, 3,000 tokens)"; the first few lengths only. */
static void lengths_text(const kv_args *a, int64_t requests, char *buf, size_t n)
{
    const int shown_bins = 6;
    char t[32];
    size_t o = (size_t)snprintf(buf, n, "%" PRId64 " request%s (", requests, requests == 1 ? "" : "s");
    for (int i = 0; i < a->n_lengths && i < shown_bins && o < n; i++) {
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", fmt_int(a->lengths[i].tokens, t, sizeof t));
        if (a->lengths[i].count > 1 && o < n)
            o += (size_t)snprintf(buf + o, n - o, " x %" PRId64, a->lengths[i].count);
    }
    if (o < n)
        snprintf(buf + o, n - o, "%s tokens)", a->n_lengths > shown_bins ? ", ..." : "");
}

/* Requests of one kind that fit the KV budget, each needing per_request bytes. */
static int64_t requests_fitting(double budget_bytes, double per_request_bytes)
{
    if (budget_bytes <= 0 || per_request_bytes <= 0)
        return 0;
    return (int64_t)floor(budget_bytes / per_request_bytes);
}

static void print_prealloc(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                           const kvcalc_result *r)
{
    char b[32], t[32], label[64], lens[256];
    kvcalc_prealloc pa;
    kvcalc_prealloc_compute(m, a->kv, a->tp, a->lengths, a->n_lengths, a->max_len_tokens, a->page_tokens[0], &pa);
    lengths_text(a, pa.requests, lens, sizeof lens);
    fprintf(out, "%-*s%s; contiguous reserves %s tokens each\n", KV_LABEL_WIDTH, "contiguous vs paged", lens,
            fmt_int(a->max_len_tokens, t, sizeof t));
    fprintf(out, "%-*s%s\n", KV_LABEL_WIDTH, "  KV needed", fmt_bytes(pa.kv_bytes, b, sizeof b));
    fprintf(out, "%-*s%-12s waste %.2f%%\n", KV_LABEL_WIDTH, "  contiguous", fmt_bytes(pa.contiguous_bytes, b, sizeof b),
            100 * pa.contiguous_waste_frac);
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_prealloc_compute(m, a->kv, a->tp, a->lengths, a->n_lengths, a->max_len_tokens, a->page_tokens[i], &pa);
        snprintf(label, sizeof label, "  paged, %" PRId64 "-token pages", a->page_tokens[i]);
        fprintf(out, "%-*s%-12s waste %.2f%%\n", KV_LABEL_WIDTH, label, fmt_bytes(pa.paged_bytes, b, sizeof b),
                100 * pa.paged_waste_frac);
    }
    if (!gpu)
        return;
    kvcalc_prealloc_compute(m, a->kv, a->tp, a->lengths, a->n_lengths, a->max_len_tokens, a->page_tokens[0], &pa);
    char c1[32], c2[32];
    fprintf(out, "%-*scontiguous %s, paged (%" PRId64 "-token pages, this mix) %s\n", KV_LABEL_WIDTH,
            "  requests in KV budget",
            fmt_int(requests_fitting(r->kv_budget_bytes_per_gpu, pa.contiguous_bytes / pa.requests), c1, sizeof c1),
            a->page_tokens[0],
            fmt_int(requests_fitting(r->kv_budget_bytes_per_gpu, pa.paged_bytes / pa.requests), c2, sizeof c2));
}

static void print_jenga_one(FILE *out, const kvcalc_jenga *j)
{
    char b[32], w[32], p1[32], p2[32], p3[32], label[64], e[40];
    size_t o = 0;
    char sizes[256] = "";
    for (int i = 0; i < j->n_sizes && o < sizeof sizes; i++)
        o += (size_t)snprintf(sizes + o, sizeof sizes - o, "%s%s x %d layer%s", i ? ", " : "",
                              fmt_bytes_exact((double)j->size_page_bytes[i], e, sizeof e), j->size_layers[i],
                              j->size_layers[i] == 1 ? "" : "s");
    snprintf(label, sizeof label, "  %" PRId64 "-token pages", j->page_tokens);
    fprintf(out, "%-*s%s; LCM %s\n", KV_LABEL_WIDTH, label, sizes, fmt_bytes_exact((double)j->lcm_page_bytes, e, sizeof e));
    snprintf(label, sizeof label, "    one size, %s", fmt_bytes_exact((double)j->uniform_page_bytes, e, sizeof e));
    fprintf(out, "%-*s%-12s waste %s: padding %s, window %s, slack %s\n", KV_LABEL_WIDTH, label,
            fmt_bytes(j->uniform_bytes, b, sizeof b), fmt_bytes(j->uniform_bytes - j->kv_bytes, w, sizeof w),
            fmt_bytes(j->uniform_pad_bytes, p1, sizeof p1), fmt_bytes(j->uniform_window_bytes, p2, sizeof p2),
            fmt_bytes(j->slack_bytes, p3, sizeof p3));
    snprintf(label, sizeof label, "    Jenga, %s", fmt_bytes_exact((double)j->lcm_page_bytes, e, sizeof e));
    fprintf(out, "%-*s%-12s waste %s: slack %s, large-page tails %s\n", KV_LABEL_WIDTH, label,
            fmt_bytes(j->jenga_bytes, b, sizeof b), fmt_bytes(j->jenga_bytes - j->kv_bytes, w, sizeof w),
            fmt_bytes(j->slack_bytes, p1, sizeof p1), fmt_bytes(j->jenga_tail_bytes, p2, sizeof p2));
}

static void print_jenga(FILE *out, const model_card *m, const kv_args *a)
{
    char t[32], b[32];
    fprintf(out, "%-*scontext %s tokens, KV needed %s\n", KV_LABEL_WIDTH, "one page size vs Jenga",
            fmt_int(a->ctx_tokens, t, sizeof t), fmt_bytes(kv_bytes_gpu(m, a->ctx_tokens, a->kv, a->tp), b, sizeof b));
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_jenga j;
        if (kvcalc_jenga_compute(m, a->ctx_tokens, a->kv, a->tp, a->page_tokens[i], &j) == 0)
            print_jenga_one(out, &j);
        else
            fprintf(out, "  %" PRId64 "-token pages: too many page sizes, or their LCM is too large\n",
                    a->page_tokens[i]);
    }
}

static void print_memory_split(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a)
{
    char f[32], w[32], res[32], v[32], tot[32], t[32], label[64], bud[32];
    kvcalc_memory mm;
    kvcalc_memory_compute(m, gpu, a->ctx_tokens, a->kv, a->tp, a->hbm_fraction, a->reserve_bytes, a->node_gpus, &mm);
    fprintf(out, "%-*s%s (weights %s %s / tp %d + reserve %s)\n", KV_LABEL_WIDTH, "fixed per GPU",
            fmt_bytes(mm.fixed_bytes_per_gpu, f, sizeof f), fmt_bytes(mm.weight_bytes_per_gpu, w, sizeof w),
            dtype_name(m->weight_dtype), a->tp, fmt_bytes(mm.reserve_bytes_per_gpu, res, sizeof res));
    fprintf(out, "%-*s%s (KV of %s tokens, %s) = %.1f%% of %s\n", KV_LABEL_WIDTH, "variable per GPU",
            fmt_bytes(mm.variable_bytes_per_gpu, v, sizeof v), fmt_int(a->ctx_tokens, t, sizeof t), dtype_name(a->kv),
            100 * mm.variable_frac, fmt_bytes(mm.fixed_bytes_per_gpu + mm.variable_bytes_per_gpu, tot, sizeof tot));
    snprintf(label, sizeof label, "node of %d GPUs", mm.node_gpus);
    if (!gpu)
        fprintf(out, "%-*sgive --gpu for the longest context\n", KV_LABEL_WIDTH, label);
    else if (mm.node_max_tokens == INT64_MAX)
        fprintf(out, "%-*sany length (every layer is windowed and the capped KV fits)\n", KV_LABEL_WIDTH, label);
    else
        fprintf(out, "%-*slongest context %s tokens (one copy over %d x %s, tp %d; KV budget %s per GPU)\n",
                KV_LABEL_WIDTH, label, fmt_int(mm.node_max_tokens, t, sizeof t), mm.node_gpus, gpu->name, mm.node_gpus,
                fmt_bytes(mm.node_kv_budget_bytes_per_gpu > 0 ? mm.node_kv_budget_bytes_per_gpu : 0, bud, sizeof bud));
}

static void print_sections(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                           const kvcalc_result *r)
{
    if (a->show_memory)
        print_memory_split(out, m, gpu, a);
    if (a->show_tiles)
        print_tiles(out, m, gpu, a);
    if (a->show_paging) {
        print_paging_table(out, m, a);
        print_prealloc(out, m, gpu, a, r);
    }
    if (a->show_jenga)
        print_jenga(out, m, a);
}

static void print_report(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                         const kvcalc_result *r)
{
    char b[64], e[64];
    fprintf(out, "model %s  (%d layers: ", m->name, m->n_layers);
    print_kind_summary(out, r);
    fprintf(out, ")  KV dtype %s  tp %d\n", dtype_name(a->kv), a->tp);
    print_per_token(out, m, r);
    print_plan(out, m, a);
    print_context(out, m, a, r);
    if (a->tp > 1) {
        double kv_gpu = kv_bytes_gpu(m, a->ctx_tokens, a->kv, a->tp);
        fprintf(out, "%-*s%s   (%s) on each of %d GPUs", KV_LABEL_WIDTH, "KV per GPU", fmt_bytes(kv_gpu, b, sizeof b),
                fmt_bytes_exact(kv_gpu, e, sizeof e), a->tp);
        print_split_note(out, m, a->tp, r);
        fputc('\n', out);
    }
    fprintf(out, "%-*s%s total, ", KV_LABEL_WIDTH, "weights", fmt_bytes(r->weight_bytes, b, sizeof b));
    fprintf(out, "%s per GPU (%s)\n", fmt_bytes(r->weight_bytes_per_gpu, e, sizeof e), dtype_name(m->weight_dtype));
    if (gpu)
        print_memory(out, gpu, m, a, r);
    print_sections(out, m, gpu, a, r);
}

/* ------------------------------------------------------------------------ */
/* JSON report                                                               */

/* Byte counts as JSON integers when they are whole (they are, except int4
 * corner cases), so readers get exact figures. New reference. */
static json_t *json_bytes(double v)
{
    const double exact_limit = 9007199254740992.0;     /* 2^53 */
    if (v == floor(v) && fabs(v) <= exact_limit)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* One object per layer kind present. New reference. */
static json_t *json_kinds(const model_card *m, int64_t ctx_tokens, const kvcalc_result *r)
{
    json_t *arr = json_array();
    for (int k = 0; k < ATTN_KIND_COUNT; k++) {
        if (!r->layers_of_kind[k])
            continue;
        int64_t lo, hi;
        kind_tokens_range(m, (model_attn_kind)k, ctx_tokens, &lo, &hi);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:o, s:o}", "kind", model_attn_names[k],
                                             "layers", r->layers_of_kind[k], "kv_tokens_per_layer", (json_int_t)hi,
                                             "kv_bytes_per_token", json_bytes(r->kv_bytes_per_token_kind[k]),
                                             "kv_bytes_context", json_bytes(r->kv_bytes_context_kind[k])));
    }
    return arr;
}

/* The GPU part, or JSON null without a GPU. New reference. */
static json_t *json_memory(const hw_profile *gpu, const model_card *m, const kv_args *a, const kvcalc_result *r)
{
    if (!gpu)
        return json_null();
    double kv_gpu = kv_bytes_gpu(m, a->ctx_tokens, a->kv, a->tp);
    json_t *max_tokens = r->max_tokens_per_gpu_group == INT64_MAX ? json_null()   /* any length fits */
                                                                 : json_integer(r->max_tokens_per_gpu_group);
    return json_pack("{s:s, s:o, s:f, s:o, s:o, s:b, s:o}", "name", gpu->name,
                     "hbm_bytes_per_gpu", json_bytes(r->hbm_bytes_per_gpu), "hbm_fraction", a->hbm_fraction,
                     "reserve_bytes_per_gpu", json_bytes(a->reserve_bytes),
                     "kv_budget_bytes_per_gpu", json_bytes(r->kv_budget_bytes_per_gpu),
                     "context_fits", kv_gpu <= r->kv_budget_bytes_per_gpu,
                     "max_tokens_per_gpu_group", max_tokens);
}

/* A fraction (0..1) as a JSON real. New reference. */
static json_t *json_frac(double v)
{
    return json_real(v);
}

/* One tile shape's rows. New reference. */
static json_t *json_tile_rows(const model_card *m, const hw_profile *gpu, const kv_args *a, int layer)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->n_tile_tokens; i++) {
        double bytes = kvcalc_layer_tile_bytes(m, layer, a->tp, a->tile_tokens[i], tile_dtype_of(a));
        json_t *row = json_pack("{s:I, s:o}", "tile_tokens", (json_int_t)a->tile_tokens[i], "tile_bytes",
                                json_bytes(bytes));
        if (gpu) {
            json_object_set_new(row, "smem_frac", json_frac(bytes / gpu->smem_per_sm_bytes));
            json_object_set_new(row, "fits", json_boolean(bytes <= gpu->smem_per_sm_bytes));
            json_object_set_new(row, "fits_2_stages", json_boolean(TILE_PIPELINE_STAGES * bytes <= gpu->smem_per_sm_bytes));
        }
        json_array_append_new(arr, row);
    }
    return arr;
}

static json_t *json_tiles(const model_card *m, const hw_profile *gpu, const kv_args *a)
{
    int first[2];
    tile_shape_layers(m, first);
    json_t *shapes = json_array();
    if (first[0] >= 0)
        json_array_append_new(shapes, json_pack("{s:s, s:i, s:i, s:o}", "kind", "kv_heads", "kv_heads_per_gpu",
                                                kv_layout_kv_heads_gpu(m, a->tp), "head_dim", m->head_dim, "tiles",
                                                json_tile_rows(m, gpu, a, first[0])));
    if (first[1] >= 0)
        json_array_append_new(shapes, json_pack("{s:s, s:i, s:o}", "kind", "mla_latent", "latent_dims",
                                                m->mla_kv_lora_rank + m->mla_qk_rope_dim, "tiles",
                                                json_tile_rows(m, gpu, a, first[1])));
    return json_pack("{s:s, s:o, s:o}", "tile_dtype", dtype_name(tile_dtype_of(a)), "smem_per_sm_bytes",
                     gpu ? json_bytes(gpu->smem_per_sm_bytes) : json_null(), "shapes", shapes);
}

static json_t *json_prealloc(const model_card *m, const hw_profile *gpu, const kv_args *a, const kvcalc_result *r)
{
    kvcalc_prealloc pa;
    json_t *paged = json_array();
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_prealloc_compute(m, a->kv, a->tp, a->lengths, a->n_lengths, a->max_len_tokens, a->page_tokens[i], &pa);
        json_t *row = json_pack("{s:I, s:o, s:o}", "page_tokens", (json_int_t)a->page_tokens[i], "paged_bytes",
                                json_bytes(pa.paged_bytes), "paged_waste_frac", json_frac(pa.paged_waste_frac));
        if (gpu)
            json_object_set_new(row, "requests_fit", json_integer(requests_fitting(r->kv_budget_bytes_per_gpu,
                                                                                   pa.paged_bytes / pa.requests)));
        json_array_append_new(paged, row);
    }
    json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "requests", (json_int_t)pa.requests, "max_len_tokens",
                          (json_int_t)a->max_len_tokens, "kv_bytes", json_bytes(pa.kv_bytes), "contiguous_bytes",
                          json_bytes(pa.contiguous_bytes), "contiguous_waste_frac",
                          json_frac(pa.contiguous_waste_frac), "paged", paged);
    if (gpu)
        json_object_set_new(o, "contiguous_requests_fit",
                            json_integer(requests_fitting(r->kv_budget_bytes_per_gpu, pa.contiguous_bytes / pa.requests)));
    return o;
}

static json_t *json_paging(const model_card *m, const hw_profile *gpu, const kv_args *a, const kvcalc_result *r)
{
    json_t *pages = json_array();
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_paging pg;
        kvcalc_paging_compute(m, a->ctx_tokens, a->kv, a->tp, a->page_tokens[i], a->page_meta_bytes, a->page_scope, &pg);
        json_array_append_new(
            pages, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:b}", "page_tokens", (json_int_t)pg.page_tokens,
                             "pages", (json_int_t)pg.pages, "meta_bytes", json_bytes(pg.meta_bytes), "kv_bytes",
                             json_bytes(pg.kv_bytes), "page_bytes", json_bytes(pg.page_bytes), "slack_bytes",
                             json_bytes(pg.slack_bytes), "slack_tokens", (json_int_t)pg.slack_tokens, "meta_frac",
                             json_frac(pg.meta_frac), "below_target", pg.meta_frac < KVCALC_PAGE_META_TARGET_FRAC));
    }
    return json_pack("{s:s, s:o, s:f, s:o, s:o}", "scope", a->page_scope == KVCALC_PAGES_SHARED ? "shared" : "layer",
                     "meta_bytes_per_page", json_bytes(a->page_meta_bytes), "target_frac", KVCALC_PAGE_META_TARGET_FRAC,
                     "pages", pages, "prealloc", json_prealloc(m, gpu, a, r));
}

static json_t *json_jenga(const model_card *m, const kv_args *a)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->n_page_tokens; i++) {
        kvcalc_jenga j;
        if (kvcalc_jenga_compute(m, a->ctx_tokens, a->kv, a->tp, a->page_tokens[i], &j) != 0) {
            json_array_append_new(arr, json_pack("{s:I, s:n}", "page_tokens", (json_int_t)a->page_tokens[i], "lcm_page_bytes"));
            continue;
        }
        json_t *sizes = json_array();
        for (int k = 0; k < j.n_sizes; k++)
            json_array_append_new(sizes, json_pack("{s:I, s:i}", "page_bytes", (json_int_t)j.size_page_bytes[k],
                                                   "layers", j.size_layers[k]));
        json_array_append_new(
            arr, json_pack("{s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "page_tokens",
                           (json_int_t)j.page_tokens, "sizes", sizes, "lcm_page_bytes", (json_int_t)j.lcm_page_bytes,
                           "uniform_page_bytes", (json_int_t)j.uniform_page_bytes, "kv_bytes", json_bytes(j.kv_bytes),
                           "slack_bytes", json_bytes(j.slack_bytes), "uniform_bytes", json_bytes(j.uniform_bytes),
                           "uniform_pad_bytes", json_bytes(j.uniform_pad_bytes), "uniform_window_bytes",
                           json_bytes(j.uniform_window_bytes), "jenga_bytes", json_bytes(j.jenga_bytes),
                           "jenga_tail_bytes", json_bytes(j.jenga_tail_bytes)));
    }
    return arr;
}

static json_t *json_memory_split(const model_card *m, const hw_profile *gpu, const kv_args *a)
{
    kvcalc_memory mm;
    kvcalc_memory_compute(m, gpu, a->ctx_tokens, a->kv, a->tp, a->hbm_fraction, a->reserve_bytes, a->node_gpus, &mm);
    json_t *node_max = !gpu || mm.node_max_tokens == INT64_MAX ? json_null() : json_integer(mm.node_max_tokens);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o}", "weight_bytes_per_gpu",
                     json_bytes(mm.weight_bytes_per_gpu), "reserve_bytes_per_gpu", json_bytes(mm.reserve_bytes_per_gpu),
                     "fixed_bytes_per_gpu", json_bytes(mm.fixed_bytes_per_gpu), "variable_bytes_per_gpu",
                     json_bytes(mm.variable_bytes_per_gpu), "variable_frac", json_frac(mm.variable_frac), "node_gpus",
                     mm.node_gpus, "node_kv_budget_bytes_per_gpu",
                     gpu ? json_bytes(mm.node_kv_budget_bytes_per_gpu) : json_null(), "node_max_tokens", node_max);
}

/* Adds the requested sections to the report object o. */
static void json_sections(json_t *o, const model_card *m, const hw_profile *gpu, const kv_args *a,
                          const kvcalc_result *r)
{
    if (a->show_memory)
        json_object_set_new(o, "memory", json_memory_split(m, gpu, a));
    if (a->show_tiles)
        json_object_set_new(o, "tiles", json_tiles(m, gpu, a));
    if (a->show_paging)
        json_object_set_new(o, "paging", json_paging(m, gpu, a, r));
    if (a->show_jenga)
        json_object_set_new(o, "jenga", json_jenga(m, a));
}

/* Each layer's KV as held: its dtype, the layer whose KV it reads, and the
 * bytes per token it stores (0 when it reads another's). */
static json_t *json_kv_layers(const model_card *m, const kv_args *a)
{
    json_t *arr = json_array();
    for (int l = 0; l < m->n_layers; l++)
        json_array_append_new(arr, json_pack("{s:i, s:s, s:i, s:o}", "layer", l,
                                             "dtype", dtype_name(model_layer_kv_dtype(m, l, a->kv)),
                                             "source", l - m->layers[l].kv_back, "stored_bytes_per_token",
                                             json_bytes(model_kv_stored_bytes_per_token_layer(m, l, a->kv))));
    return arr;
}
/* The layout of kv --json's object (1: before it named its schema and program versions). */
#define KVCALC_JSON_SCHEMA_VERSION 2

static int print_json(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                      const kvcalc_result *r)
{
    double per_token_gpu = 0;
    for (int l = 0; l < m->n_layers; l++)
        per_token_gpu += layer_bytes_per_token_gpu(m, l, a->kv, a->tp);
    json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o}",
                          "schema_version", KVCALC_JSON_SCHEMA_VERSION, "program_version", PACKAGE_VERSION,
                          "model", m->name, "layers", m->n_layers, "kv_dtype", dtype_name(a->kv), "tp", a->tp,
                          "context_tokens", (json_int_t)a->ctx_tokens,
                          "card_max_context_tokens", (json_int_t)m->max_context_tokens,
                          "kv_bytes_per_token", json_bytes(r->kv_bytes_per_token),
                          "kv_bytes_per_token_per_gpu", json_bytes(per_token_gpu),
                          "kv_bytes_context", json_bytes(r->kv_bytes_context),
                          "kv_bytes_context_per_gpu", json_bytes(kv_bytes_gpu(m, a->ctx_tokens, a->kv, a->tp)),
                          "kinds", json_kinds(m, a->ctx_tokens, r),
                          "weight_bytes", json_bytes(r->weight_bytes),
                          "weight_bytes_per_gpu", json_bytes(r->weight_bytes_per_gpu),
                          "weight_dtype", dtype_name(m->weight_dtype),
                          "gpu", json_memory(gpu, m, a, r));
    if (!o) {
        fprintf(stderr, "kvtier kv: could not build the JSON report\n");
        return -1;
    }
    json_sections(o, m, gpu, a, r);
    if (kv_plan_is_set(m))
        json_object_set_new(o, "kv_layers", json_kv_layers(m, a));
    int rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', out);
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Command                                                                   */

/* Fills the defaults that depend on the card: one request of the context
 * when --lengths is not given, and what contiguous allocation reserves.
 * Returns 0, or -1 (message printed) when --max-len is shorter than a length. */
static int resolve_lengths(kv_args *a, const model_card *m)
{
    if (a->n_lengths == 0) {
        a->lengths[0] = (kvcalc_length_bin){ a->ctx_tokens, 1 };
        a->n_lengths = 1;
    }
    int64_t longest = 0;
    for (int i = 0; i < a->n_lengths; i++)
        longest = a->lengths[i].tokens > longest ? a->lengths[i].tokens : longest;
    if (a->max_len_tokens == 0) {
        a->max_len_tokens = m->max_context_tokens > longest ? m->max_context_tokens : longest;
    } else if (a->max_len_tokens < longest) {
        fprintf(stderr, "kvtier kv: --max-len %" PRId64 " is shorter than the longest of --lengths (%" PRId64 ")\n",
                a->max_len_tokens, longest);
        return -1;
    }
    return 0;
}

int kvcalc_main(int argc, char **argv, const char *const *model_dirs, const char *const *hw_dirs)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    kv_args a;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    kt_err err;
    memset(&err, 0, sizeof err);
    model_card *m = model_load_named(a.model, model_dirs, &err);
    if (!m) {
        fputs("kvtier kv: ", stderr);
        kt_err_print(&err, stderr);
        return 2;
    }
    hw_profile *gpu = NULL;
    if (a.gpu && !(gpu = hw_load_named(a.gpu, hw_dirs, &err))) {
        fputs("kvtier kv: ", stderr);
        kt_err_print(&err, stderr);
        model_free(m);
        return 2;
    }
    if (a.weight_dtype_set) {
        quant_cfg q = quant_from_dtype(a.weight_dtype);
        if (q.format == QUANT_COUNT) {
            fprintf(stderr, "kvtier kv: --weight-dtype %s: no weight format stores it\n", dtype_name(a.weight_dtype));
            hw_free(gpu);
            model_free(m);
            return 2;
        }
        model_set_quant(m, &q);
    }
    if (kv_plan_read_text(a.kv_sharing, "--kv-sharing", kv_plan_sharing_read, m, &err) != 0 ||
        kv_plan_read_text(a.kv_precision, "--kv-precision", kv_plan_precision_read, m, &err) != 0) {
        fputs("kvtier kv: ", stderr);
        kt_err_print(&err, stderr);
        if (gpu)
            hw_free(gpu);
        model_free(m);
        return 2;
    }
    if (a.ctx_tokens == 0)
        a.ctx_tokens = m->max_context_tokens;
    if (resolve_lengths(&a, m) != 0) {
        if (gpu)
            hw_free(gpu);
        model_free(m);
        return 2;
    }
    kvcalc_result r;
    kvcalc_compute(m, gpu, a.ctx_tokens, a.kv, a.tp, a.hbm_fraction, a.reserve_bytes, &r);
    int rc = 0;
    if (a.json)
        rc = print_json(stdout, m, gpu, &a, &r) == 0 ? 0 : 2;
    else
        print_report(stdout, m, gpu, &a, &r);
    fflush(stdout);
    if (gpu)
        hw_free(gpu);
    model_free(m);
    return rc;
}
