/* kvcalc.c — the `kvtier kv` calculator: KV bytes per layer kind, weights against KV on a GPU, and the longest context that fits. */
#include "kvcalc.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

/* ------------------------------------------------------------------------ */
/* Computation                                                               */

/* KV heads one GPU of a tp group holds: at least one (heads are replicated
 * when tp > kv_heads). */
static int kv_heads_per_gpu(const model_card *m, int tp)
{
    return (m->n_kv_heads + tp - 1) / tp;
}

/* Fraction of layer l's KV that one GPU of a tensor-parallel group holds.
 * Same rule as cost.h (cost_kv_bytes_per_token_gpu), so the calculator and
 * the simulator agree: KV heads are split across the tp GPUs with at least one
 * head each (heads are replicated when tp > kv_heads, so the share is then
 * 1/kv_heads, not 1/tp); MLA's latent serves every head and sits whole on
 * every GPU. When tp divides kv_heads this is exactly 1/tp. */
static double layer_gpu_share(const model_card *m, int layer, int tp)
{
    if (m->layers[layer].attn == ATTN_MLA)
        return 1.0;
    return (double)kv_heads_per_gpu(m, tp) / m->n_kv_heads;
}

/* KV bytes one token adds to layer l on one GPU of the tp group. */
static double layer_bytes_per_token_gpu(const model_card *m, int layer, kt_dtype kv, int tp)
{
    return model_kv_bytes_per_token_layer(m, layer, kv) * layer_gpu_share(m, layer, tp);
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
        r->kv_bytes_per_token_kind[k] += model_kv_bytes_per_token_layer(m, l, kv);
        r->kv_bytes_context_kind[k] +=
            (double)model_layer_kv_tokens(m, l, ctx_tokens) * model_kv_bytes_per_token_layer(m, l, kv);
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
    return kvcalc_tile_bytes(tile_tokens, kv_heads_per_gpu(m, tp), m->head_dim, dtype_bytes(tile_dtype));
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
} kv_args;

/* Defaults, named so the usage text and the parser agree. */
#define KV_DEFAULT_DTYPE DTYPE_BF16
#define KV_DEFAULT_TP 1
#define KV_DEFAULT_HBM_FRACTION 0.9     /* what serving engines leave for KV + weights (vLLM's gpu_memory_utilization) */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier kv MODEL [--context N] [--dtype D] [--gpu PROFILE] [--tp N]\n"
            "                 [--hbm-fraction F] [--reserve BYTES] [--json] [--help]\n"
            "\n"
            "KV cache bytes per token and per context, by attention layer kind, against\n"
            "the weights and a GPU's memory.\n"
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
            "  --json            print the figures as one JSON object\n"
            "  --help            print this text\n",
            dtype_name(KV_DEFAULT_DTYPE), KV_DEFAULT_TP, KV_DEFAULT_HBM_FRACTION);
}

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE". Returns 1 with
 * *value set (pointing into argv) and *i advanced past a separate value, 0 when
 * argv[*i] is another option, -1 (message printed) when the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kvtier kv: %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

static int parse_context(const char *s, int64_t *out)
{
    char why[256];
    double v;
    /* Tokens past 2^53 would not be exact in the double sums; no model comes near. */
    const double max_tokens = 9007199254740992.0;
    if (units_parse(s, UNITS_TOKENS, &v, why, sizeof why) != 0) {
        fprintf(stderr, "kvtier kv: --context '%s': %s (e.g. %s)\n", s, why, units_example(UNITS_TOKENS));
        return -1;
    }
    if (v < 1 || v != floor(v) || v > max_tokens) {
        fprintf(stderr, "kvtier kv: --context '%s': need a whole number of tokens >= 1\n", s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int parse_tp(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 1 || v > INT_MAX) {
        fprintf(stderr, "kvtier kv: --tp '%s': need a whole number of GPUs >= 1\n", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0 && v <= 1)) {
        fprintf(stderr, "kvtier kv: --hbm-fraction '%s': need a number in (0, 1]\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_reserve(const char *s, double *out)
{
    char why[256];
    if (units_parse(s, UNITS_BYTES, out, why, sizeof why) != 0) {
        fprintf(stderr, "kvtier kv: --reserve '%s': %s (e.g. %s)\n", s, why, units_example(UNITS_BYTES));
        return -1;
    }
    return 0;
}

/* Applies one option with a value. Returns 1 handled, 0 not this kind of
 * option, -1 on an error (message printed). */
static int parse_valued_option(int argc, char **argv, int *i, kv_args *a)
{
    const char *v;
    int got;
    if ((got = option_value(argc, argv, i, "--context", &v)) != 0)
        return got < 0 ? -1 : parse_context(v, &a->ctx_tokens) == 0 ? 1 : -1;
    if ((got = option_value(argc, argv, i, "--dtype", &v)) != 0) {
        if (got < 0)
            return -1;
        if (dtype_parse(v, &a->kv) != 0) {
            fprintf(stderr, "kvtier kv: --dtype '%s': unknown dtype (one of:", v);
            for (const char *const *d = dtype_names; *d; d++)
                fprintf(stderr, " %s", *d);
            fprintf(stderr, ")\n");
            return -1;
        }
        return 1;
    }
    if ((got = option_value(argc, argv, i, "--gpu", &v)) != 0) {
        a->gpu = v;
        return got;
    }
    if ((got = option_value(argc, argv, i, "--tp", &v)) != 0)
        return got < 0 ? -1 : parse_tp(v, &a->tp) == 0 ? 1 : -1;
    if ((got = option_value(argc, argv, i, "--hbm-fraction", &v)) != 0)
        return got < 0 ? -1 : parse_fraction(v, &a->hbm_fraction) == 0 ? 1 : -1;
    if ((got = option_value(argc, argv, i, "--reserve", &v)) != 0)
        return got < 0 ? -1 : parse_reserve(v, &a->reserve_bytes) == 0 ? 1 : -1;
    return 0;
}

/* Fills a from argv[1..argc). Returns 0, or -1 with a message on stderr. */
static int parse_args(int argc, char **argv, kv_args *a)
{
    *a = (kv_args){ .kv = KV_DEFAULT_DTYPE, .tp = KV_DEFAULT_TP, .hbm_fraction = KV_DEFAULT_HBM_FRACTION };
    for (int i = 1; i < argc; i++) {
        int got = parse_valued_option(argc, argv, &i, a);
        if (got < 0)
            return -1;
        if (got > 0)
            continue;
        if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "kvtier kv: unknown option '%s' (try kvtier kv --help)\n", argv[i]);
            return -1;
        } else if (a->model) {
            fprintf(stderr, "kvtier kv: one MODEL only, got '%s' and '%s'\n", a->model, argv[i]);
            return -1;
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model) {
        fprintf(stderr, "kvtier kv: missing MODEL\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
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

/* Says why the per-GPU KV is more than 1/tp of the whole (see layer_gpu_share). */
static void print_split_note(FILE *out, const model_card *m, int tp, const kvcalc_result *r)
{
    if (r->layers_of_kind[ATTN_MLA])
        fprintf(out, "; the MLA latent is not split, every GPU holds it whole");
    if (tp > m->n_kv_heads && r->layers_of_kind[ATTN_MLA] < m->n_layers)
        fprintf(out, "; %d KV heads over %d GPUs: heads replicated, 1 per GPU", m->n_kv_heads, tp);
}

static void print_report(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                         const kvcalc_result *r)
{
    char b[64], e[64];
    fprintf(out, "model %s  (%d layers: ", m->name, m->n_layers);
    print_kind_summary(out, r);
    fprintf(out, ")  KV dtype %s  tp %d\n", dtype_name(a->kv), a->tp);
    print_per_token(out, m, r);
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

static int print_json(FILE *out, const model_card *m, const hw_profile *gpu, const kv_args *a,
                      const kvcalc_result *r)
{
    double per_token_gpu = 0;
    for (int l = 0; l < m->n_layers; l++)
        per_token_gpu += model_kv_bytes_per_token_layer(m, l, a->kv) * layer_gpu_share(m, l, a->tp);
    json_t *o = json_pack("{s:s, s:i, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o}",
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
    int rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', out);
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Command                                                                   */

int kvcalc_main(int argc, char **argv, const char *const *model_dirs, const char *const *hw_dirs)
{
    if (wants_help(argc, argv)) {
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
    if (a.ctx_tokens == 0)
        a.ctx_tokens = m->max_context_tokens;
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
