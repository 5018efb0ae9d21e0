/* calib_plan.c — counts a calibration's sweep points as the benchmarks enumerate them and estimates their time from the base profile, without a GPU. */
#include "calib_plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "calib_attn_work.h"
#include "curve.h"
#include "model.h"
#include "scenario.h"

#define MAX_DIRS 8
#define DIR_BUF 8192
#define MAX_SWEEP 64
#define FLOPS_PER_MAC 2.0
#define BF16_BYTES 2.0

/* Fixed cost of one timed call beyond its work: the flush kernel's launch,
 * two event records and the host waiting on the stop event. Estimate: a
 * launch costs a few µs on Hopper, an event wait wakes the host after
 * about 5-10 µs. */
#define PLAN_CALL_OVERHEAD_S 20e-6
/* Start of one benchmark process: CUDA context creation (1-3 s on an
 * eight-GPU node), cuBLASLt handle, allocations and fills. Estimate. */
#define PLAN_PROCESS_START_S 5.0
/* Pageable copies go through a pinned bounce buffer: about half the pinned
 * rate (estimate). */
#define PLAN_PAGEABLE_SLOWDOWN 2.0
/* Host cost of one cudaMemcpyAsync call in the KV block pattern (estimate). */
#define PLAN_MEMCPY_CALL_S 2e-6
/* A launch followed by cudaStreamSynchronize: the synchronize's round trip (estimate). */
#define PLAN_SYNC_S 10e-6
/* Sequential reads of a PCIe Gen4 NVMe drive (estimate). */
#define PLAN_STORAGE_BPS 5e9

/* The benchmarks' own sweeps (bench_mem.c, bench_attn.c, bench_storage.c). */
#define HBM_CASES_MOVED { 1.0, 2.0, 3.0 }       /* read, copy, triad: bytes moved per array byte */
#define HBM_TOP_L2_MULTIPLE 4                   /* the largest array at least 4 × L2 */
#define HBM_ARRAYS_PLUS_ONE 4                   /* three arrays and the rest share free memory */
#define HOST_DIRECTIONS 3                       /* h2d, d2h, both */
#define HOST_MEMORIES 2                         /* pinned, pageable */
#define KV_CASES 6                              /* separate, batched, kernel; each way */
#define FLUSH_L2_MULTIPLE 2                     /* the flush buffer: max(2 × L2, flush_min_bytes) */
#define PEER_CASES 3
#define LAUNCH_CASES 5                          /* enqueue, gap, eager, sync, graph */
#define LAUNCH_SYNC_CASE 3                      /* the one that synchronizes after each kernel */
#define LAUNCH_BUSY_CASES 2                     /* busy kernels: eager, queued */
#define LAUNCH_QUEUE_SPIN_S 10e-6               /* bench_launch.c's spin per queued kernel (SPIN_NS_PER_KERNEL) */
#define LAUNCH_QUEUE_MARGIN_S 100e-6            /* and its margin (SPIN_MARGIN_NS) */
#define GEMM_DTYPES 2                           /* bf16, fp8 */
#define DECODE_MIN_CONTEXT 512
#define DECODE_TABLE_KINDS 2                    /* shuffled, identity */
#define DECODE_POOL_SHARE 3                     /* K, V and the rest share free memory */
#define DECODE_POOLS 2                          /* --decode-max-bytes caps K plus V */
#define PREFILL_MIN_TOKENS 512
#define PREFILL_HEAD_DIM 128
#define PREFILL_SCORE_BYTES 4.0                 /* softmax reads and writes each BF16 score */
#define STORAGE_MIN_BYTES 4096
#define STORAGE_CASES 2
#define VALIDATE_MODEL "llama-3.1-8b"
static const int decode_pages[] = { 16, 32, 64, 128 };
static const int decode_groups[] = { 1, 4, 8 };
static const int decode_dims[] = { 64, 128 };
static const double decode_elem_bytes[] = { 2, 1 };   /* fp16, fp8 KV */
/* cuDNN builds (heuristics, then runtime compilation of the fused engine)
 * a plan for every shape a benchmark times. Estimate: on the order of a
 * second each; the first device run's log tells. */
#define PLAN_CUDNN_BUILD_S 1.0
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------- GEMM shapes ---------- */

static void shape_add(calib_shape_set *set, int64_t n, int64_t k)
{
    for (int i = 0; i < set->n; i++)
        if (set->s[i].n == n && set->s[i].k == k)
            return;
    if (set->n < CALIB_MAX_GEMM_SHAPES)
        set->s[set->n++] = (calib_gemm_shape){ n, k };
}

static model_card *load_card(const char *name, kt_err *err)
{
    char buf[DIR_BUF];
    const char *dirs[MAX_DIRS];
    scenario_data_dirs(NULL, "models", buf, sizeof buf, dirs, MAX_DIRS);
    return model_load_named(name, dirs, err);
}

int calib_gemm_shapes(const char *models, calib_shape_set *set, kt_err *err)
{
    char list[512], *save = NULL;
    snprintf(list, sizeof list, "%s", models);
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        model_card *m = load_card(tok, err);
        if (!m)
            return -1;
        for (int l = 0; l < m->n_layers; l++) {
            model_gemm g[MODEL_MAX_GEMMS];
            int n = model_layer_gemms(m, l, g);
            for (int i = 0; i < n; i++)
                shape_add(set, g[i].n, g[i].k);
        }
        shape_add(set, m->vocab, m->hidden);
        model_free(m);
    }
    return 0;
}

/* ---------- estimates ---------- */

/* What the steps share: parameters, profile, the time of one flush. */
typedef struct plan_ctx {
    const kt_params *p;
    const hw_profile *h;
    double flush_s;
    kt_err *err;
} plan_ctx;

/* Adds one point of n calls, each of op_s seconds, to it. */
static void point(const plan_ctx *c, calib_plan_item *it, double op_s)
{
    size_t calls = (size_t)(c->p->warmup + c->p->samples);
    it->points++;
    it->calls += calls;
    it->seconds += (double)calls * (c->flush_s + op_s + PLAN_CALL_OVERHEAD_S);
}

static size_t sweep(size_t lo, size_t hi, size_t *out) { return kt_pow2_sweep(lo, hi, out, MAX_SWEEP); }

static int plan_hbm(const plan_ctx *c, calib_plan_item *it)
{
    size_t top = c->p->hbm_max_bytes, l2x4 = HBM_TOP_L2_MULTIPLE * (size_t)c->h->l2_bytes;
    size_t room = (size_t)(c->h->hbm_bytes / HBM_ARRAYS_PLUS_ONE), x[MAX_SWEEP];
    if (top < l2x4)
        top = l2x4;
    while (top > room && top > c->p->hbm_min_bytes)
        top /= 2;
    const double moved[] = HBM_CASES_MOVED;
    size_t n = sweep(c->p->hbm_min_bytes, top, x);
    for (size_t k = 0; k < COUNT(moved); k++)
        for (size_t i = 0; i < n; i++)
            point(c, it, moved[k] * (double)x[i] / c->h->hbm_bw_Bps);
    return 0;
}

static int plan_host(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], blocks[MAX_SWEEP];
    size_t n = sweep(c->p->host_min_bytes, c->p->host_max_bytes, x);
    for (int mem = 0; mem < HOST_MEMORIES; mem++)
        for (int d = 0; d < HOST_DIRECTIONS; d++)
            for (size_t i = 0; i < n; i++)
                point(c, it, (double)x[i] / c->h->pcie_bw_Bps * (mem ? PLAN_PAGEABLE_SLOWDOWN : 1.0));
    size_t nb = sweep(1, (size_t)c->p->kv_max_blocks, blocks);
    for (int b = 0; b < c->p->n_kv_block_bytes; b++)
        for (int k = 0; k < KV_CASES; k++)
            for (size_t i = 0; i < nb; i++)
                point(c, it, (double)blocks[i] * ((double)c->p->kv_block_bytes[b] / c->h->pcie_bw_Bps +
                                                  PLAN_MEMCPY_CALL_S));
    return 0;
}

static int plan_peer(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], n = sweep(c->p->peer_min_bytes, c->p->peer_max_bytes, x);
    for (int k = 0; k < PEER_CASES; k++)
        for (size_t i = 0; i < n; i++)
            point(c, it, (double)x[i] / c->h->nvlink_bw_Bps);
    snprintf(it->note, sizeof it->note, "runs only with two or more GPUs");
    return 0;
}

/* The plain cases at the base's launch_overhead each; then per busy
 * duration d, n kernels of d launched eagerly (d + launch each) and queued
 * (d each, after a spin that lets the host enqueue them all). */
static int plan_launch(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], n = sweep(1, (size_t)c->p->launch_max_kernels, x);
    double launch_s = (double)c->h->launch_ns * 1e-9;
    for (int k = 0; k < LAUNCH_CASES; k++)
        for (size_t i = 0; i < n; i++)
            point(c, it, (double)x[i] * (launch_s + (k == LAUNCH_SYNC_CASE ? PLAN_SYNC_S : 0)));
    for (int b = 0; b < c->p->n_launch_busy; b++)
        for (int k = 0; k < LAUNCH_BUSY_CASES; k++)
            for (size_t i = 0; i < n; i++) {
                double d = c->p->launch_busy_us[b] * 1e-6, kernels = (double)x[i];
                point(c, it, k == 0 ? kernels * (d + launch_s)
                                    : kernels * (d + LAUNCH_QUEUE_SPIN_S) + LAUNCH_QUEUE_MARGIN_S);
            }
    return 0;
}

/* Time of flops at dtype d's peak and the base's GEMM curve at m rows. */
static double gemm_s(const plan_ctx *c, kt_dtype d, double m, double flops)
{
    return curve_time_ns(hw_gemm_curve(c->h, d), m, flops, hw_peak_flops(c->h, d)) * 1e-9;
}

static int plan_gemm(const plan_ctx *c, calib_plan_item *it)
{
    calib_shape_set set = { .n = 0 };
    if (calib_gemm_shapes(c->p->gemm_models, &set, c->err) < 0)
        return -1;
    const kt_dtype dts[GEMM_DTYPES] = { DTYPE_BF16, DTYPE_FP8 };
    size_t m[MAX_SWEEP], n = sweep(1, (size_t)c->p->gemm_max_tokens, m);
    for (int d = 0; d < GEMM_DTYPES; d++)
        for (int s = 0; s < set.n; s++)
            for (size_t i = 0; i < n; i++)
                point(c, it, gemm_s(c, dts[d], (double)m[i],
                                    FLOPS_PER_MAC * (double)m[i] * (double)set.s[s].n * (double)set.s[s].k));
    snprintf(it->note, sizeof it->note, "%d shapes of %.100s", set.n, c->p->gemm_models);
    return 0;
}

/* Decode points as bench_attn.c enumerates them: those whose K (or V)
 * pages exceed the pool are left out. */
static int plan_decode(const plan_ctx *c, calib_plan_item *it)
{
    size_t ctx[MAX_SWEEP], n = sweep(DECODE_MIN_CONTEXT, (size_t)c->p->decode_max_context, ctx);
    double pool = fmin((double)c->p->decode_max_bytes / DECODE_POOLS, c->h->hbm_bytes / DECODE_POOL_SHARE);
    for (size_t e = 0; e < COUNT(decode_elem_bytes); e++)
        for (size_t di = 0; di < COUNT(decode_dims); di++)
            for (size_t g = 0; g < COUNT(decode_groups); g++)
                for (size_t pg = 0; pg < COUNT(decode_pages); pg++)
                    for (int kind = 0; kind < DECODE_TABLE_KINDS; kind++)
                        for (int b = 0; b < c->p->n_decode_batches; b++)
                            for (size_t i = 0; i < n; i++) {
                                double row = c->p->decode_kv_heads * decode_dims[di] * decode_elem_bytes[e];
                                double pages = ceil((double)ctx[i] / decode_pages[pg]);
                                double kv = c->p->decode_batches[b] * pages * decode_pages[pg] * row;
                                if (kv <= pool)
                                    point(c, it, curve_time_ns(&c->h->attn_decode, DECODE_POOLS * kv, DECODE_POOLS * kv,
                                                               c->h->hbm_bw_Bps) * 1e-9);
                            }
    return 0;
}

/* Unfused prefill: S = QK^T and O = PV over the full square, and a softmax
 * that reads and writes every score. */
static int plan_prefill(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], n = sweep(PREFILL_MIN_TOKENS, (size_t)c->p->prefill_max_tokens, x);
    for (size_t i = 0; i < n; i++) {
        double t = (double)x[i], h = c->p->prefill_heads;
        double gemms = 2 * gemm_s(c, DTYPE_BF16, t, FLOPS_PER_MAC * h * t * t * PREFILL_HEAD_DIM);
        point(c, it, gemms + h * t * t * PREFILL_SCORE_BYTES / c->h->hbm_bw_Bps);
    }
    return 0;
}

/* A point of a cuDNN benchmark: its plan built once, then its calls. */
static void cudnn_point(const plan_ctx *c, calib_plan_item *it, double op_s)
{
    point(c, it, op_s);
    it->seconds += PLAN_CUDNN_BUILD_S;
}

/* Fused causal attention of flops over ctx_tokens of context: at the BF16
 * peak and the base's prefill attention curve at that context. */
static double fused_attn_s(const plan_ctx *c, double ctx_tokens, double flops)
{
    return curve_time_ns(hw_attn_prefill_curve(c->h, DTYPE_BF16), ctx_tokens, flops,
                         hw_peak_flops(c->h, DTYPE_BF16)) * 1e-9;
}

static int plan_sdpa(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], n = sweep(PREFILL_MIN_TOKENS, (size_t)c->p->prefill_max_tokens, x);
    for (size_t i = 0; i < n; i++) {
        double flops = calib_attn_work_causal_flops(c->p->prefill_heads, PREFILL_HEAD_DIM, (int64_t)x[i], 0);
        cudnn_point(c, it, fused_attn_s(c, (double)x[i], flops));
    }
    snprintf(it->note, sizeof it->note, "runs only where cuDNN 9 loads");
    return 0;
}

/* Chunks of each length after each cached prefix, as bench_sdpa.c sweeps them. */
static int plan_sdpa_chunked(const plan_ctx *c, calib_plan_item *it)
{
    size_t x[MAX_SWEEP], n = sweep((size_t)c->p->chunk_min_prefix, (size_t)c->p->chunk_max_prefix, x);
    for (int q = 0; q < c->p->n_chunk_tokens; q++)
        for (size_t i = 0; i < n; i++) {
            int64_t chunk = c->p->chunk_tokens[q];
            double flops = calib_attn_work_causal_flops(c->p->prefill_heads, PREFILL_HEAD_DIM, chunk, (int64_t)x[i]);
            cudnn_point(c, it, fused_attn_s(c, (double)x[i] + (double)chunk, flops));
        }
    snprintf(it->note, sizeof it->note, "runs only where cuDNN 9 loads");
    return 0;
}

/* cuDNN decode: the KV read at the base's attention_decode curve; points
 * whose K (or V) exceeds the pool are left out, as bench_sdpa.c leaves them. */
static int plan_sdpa_decode(const plan_ctx *c, calib_plan_item *it)
{
    size_t ctx[MAX_SWEEP], n = kt_geometric_sweep(KT_SDPA_DECODE_MIN_CONTEXT, (size_t)c->p->decode_max_context,
                                                  KT_SDPA_DECODE_CONTEXT_STEP, ctx, MAX_SWEEP);
    double pool = fmin((double)c->p->decode_max_bytes / DECODE_POOLS, c->h->hbm_bytes / DECODE_POOL_SHARE);
    for (size_t k = 0; k < kt_n_sdpa_decode_cfgs; k++)
        for (int b = 0; b < c->p->n_decode_batches; b++)
            for (size_t i = 0; i < n; i++) {
                double kv = calib_attn_work_decode_kv_bytes(c->p->decode_batches[b], c->p->decode_kv_heads,
                                                            KT_SDPA_DECODE_HEAD_DIM, (int64_t)ctx[i], BF16_BYTES);
                if (kv / DECODE_POOLS <= pool)
                    cudnn_point(c, it, curve_time_ns(&c->h->attn_decode, kv, kv, c->h->hbm_bw_Bps) * 1e-9);
            }
    snprintf(it->note, sizeof it->note, "runs only where cuDNN 9 loads; paged KV where it takes the graph");
    return 0;
}

static int plan_storage(const plan_ctx *c, calib_plan_item *it)
{
    if (!c->p->storage_file[0]) {
        snprintf(it->note, sizeof it->note, "skipped: no --storage-file");
        return 0;
    }
    size_t x[MAX_SWEEP], n = sweep(STORAGE_MIN_BYTES, c->p->storage_max_bytes, x);
    for (int k = 0; k < STORAGE_CASES; k++)
        for (size_t i = 0; i < n; i++)
            point(c, it, (double)x[i] / PLAN_STORAGE_BPS);
    return 0;
}

/* One Llama-3.1-8B decoder step per call: its weights and the batch's KV
 * read once at hbm_bandwidth; points whose KV does not fit beside the
 * weights are left out, as bench_validate.c leaves them out. */
static int plan_validate(const plan_ctx *c, calib_plan_item *it)
{
    model_card *m = load_card(VALIDATE_MODEL, c->err);
    if (!m)
        return -1;
    for (int b = 0; b < c->p->n_validate_batches; b++)
        for (int x = 0; x < c->p->n_validate_contexts; x++) {
            double kv = c->p->validate_batches[b] * model_kv_bytes(m, c->p->validate_contexts[x], DTYPE_BF16);
            if (model_weight_bytes(m) + kv <= c->h->hbm_bytes)
                point(c, it, (model_weight_bytes(m) + kv) / c->h->hbm_bw_Bps);
        }
    model_free(m);
    return 0;
}

typedef int (*plan_fn)(const plan_ctx *c, calib_plan_item *it);

static const struct { const char *name; plan_fn fn; } plan_steps[] = {
    { "hbm", plan_hbm }, { "host", plan_host }, { "peer", plan_peer }, { "launch", plan_launch },
    { "gemm", plan_gemm }, { "decode", plan_decode }, { "prefill", plan_prefill }, { "sdpa", plan_sdpa },
    { "sdpa-chunked", plan_sdpa_chunked }, { "sdpa-decode", plan_sdpa_decode }, { "storage", plan_storage },
    { "validate", plan_validate },
};

int calib_plan_make(const kt_params *p, const char *const *steps, const hw_profile *base, calib_plan *out,
                    kt_err *err)
{
    memset(out, 0, sizeof *out);
    double flush_bytes = fmax(FLUSH_L2_MULTIPLE * base->l2_bytes, (double)p->flush_min_bytes);
    plan_ctx c = { p, base, flush_bytes / base->hbm_bw_Bps, err };
    for (; steps && *steps; steps++) {
        size_t i = 0;
        while (i < COUNT(plan_steps) && strcmp(plan_steps[i].name, *steps) != 0)
            i++;
        if (i == COUNT(plan_steps) || out->n == CALIB_PLAN_MAX_ITEMS) {
            KT_ERROR(err, NULL, 0, 0, "no calibration step '%s' to plan", *steps);
            return -1;
        }
        calib_plan_item *it = &out->item[out->n++];
        snprintf(it->name, sizeof it->name, "%s", *steps);
        if (plan_steps[i].fn(&c, it) < 0)
            return -1;
        it->seconds += PLAN_PROCESS_START_S + p->clock_warmup_ms * 1e-3;
        out->seconds += it->seconds;
    }
    return 0;
}
