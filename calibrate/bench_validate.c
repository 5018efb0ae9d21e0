/* bench_validate.c — the composite validation: one decoder step of a dense model card (Llama-3.1-8B) run for real — GEMMs, our paged attention and the elementwise kernels in sequence — against the simulator's iteration time from a profile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "bench.h"
#include "calib_stats.h"
#include "cost.h"
#include "hw.h"
#include "kt_kernels.h"
#include "lt_gemm.h"
#include "model.h"

#define VALIDATE_MODEL "llama-3.1-8b"
#define PAGE_TOKENS 16
#define PAGE_LOG2 4
#define RMS_EPS 1e-5f
#define ROPE_THETA 500000.0f   /* Llama 3.1 config.json rope_theta */
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)
#define TARGET_ERR 0.05
/* Memory left free after allocating a point (cuBLASLt, fragmentation). */
#define HEADROOM_BYTES ((size_t)2 << 30)
#define FILL_SEED 31u
#define MAX_POINTS (KT_MAX_LIST * KT_MAX_LIST)
/* Kernels the step launches per layer: norm, QKV GEMM, RoPE, KV append,
 * attention split and combine, O GEMM, add, norm, gate/up GEMM, SiLU-mul,
 * down GEMM, add. The prediction uses this count, not the profile's. */
#define KERNELS_PER_LAYER 13

/* One layer's weights (bf16, row-major [out][in]) and KV pools. */
typedef struct layer_bufs {
    void *w_qkv, *w_o, *w_gu, *w_down, *norm1, *norm2;
    void *k_pool, *v_pool;
} layer_bufs;

typedef struct step_ctx {
    const model_card *m;
    int batch, ctx;
    int64_t qkv_dim, q_dim, inter;
    layer_bufs *layers;
    void *w_lm, *norm_f;
    void *x0, *x, *xn, *qkv, *attn, *o, *gu, *act, *down, *logits;
    int32_t *bt, *ctx_len, *pos;
    void *attn_ws;
    kt_attn_args attn_args;
    kt_gemm g_qkv, g_o, g_gu, g_down, g_lm;
} step_ctx;

static int dense_global(const model_card *m, kt_err *err)
{
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].attn != ATTN_GLOBAL || m->layers[l].ffn != FFN_DENSE) {
            KT_ERROR(err, NULL, 0, 0, "validation needs a dense model with global attention; %s is not", m->name);
            return -1;
        }
    return 0;
}

/* ---------- the step ---------- */

static int step_layer(step_ctx *c, const layer_bufs *L, cudaStream_t s, kt_err *err)
{
    const model_card *m = c->m;
    int B = c->batch;
    KT_CUDA(kt_launch_rmsnorm(c->xn, c->x, L->norm1, B, m->hidden, RMS_EPS, s), "rmsnorm", err);
    if (kt_gemm_run(&c->g_qkv, L->w_qkv, c->xn, c->qkv, s, err) < 0)
        return -1;
    KT_CUDA(kt_launch_rope(c->qkv, B, c->qkv_dim, m->n_heads, m->n_kv_heads, m->head_dim, c->pos, ROPE_THETA, s), "rope", err);
    KT_CUDA(kt_launch_kv_append(L->k_pool, L->v_pool, c->qkv, B, c->qkv_dim, c->q_dim,
                                c->q_dim + (int64_t)m->n_kv_heads * m->head_dim, m->n_kv_heads, m->head_dim, PAGE_LOG2,
                                c->bt, c->attn_args.max_pages, c->ctx_len, s), "kv append", err);
    kt_attn_args a = c->attn_args;
    a.k_pool = L->k_pool;
    a.v_pool = L->v_pool;
    KT_CUDA(kt_launch_paged_decode(&a, s), "paged attention", err);
    if (kt_gemm_run(&c->g_o, L->w_o, c->attn, c->o, s, err) < 0)
        return -1;
    KT_CUDA(kt_launch_add(c->x, c->o, (size_t)B * m->hidden, s), "add", err);
    KT_CUDA(kt_launch_rmsnorm(c->xn, c->x, L->norm2, B, m->hidden, RMS_EPS, s), "rmsnorm", err);
    if (kt_gemm_run(&c->g_gu, L->w_gu, c->xn, c->gu, s, err) < 0)
        return -1;
    KT_CUDA(kt_launch_silu_mul(c->act, c->gu, B, (int)c->inter, s), "silu_mul", err);
    if (kt_gemm_run(&c->g_down, L->w_down, c->act, c->down, s, err) < 0)
        return -1;
    KT_CUDA(kt_launch_add(c->x, c->down, (size_t)B * m->hidden, s), "add", err);
    return 0;
}

static int op_step(void *v, cudaStream_t s, kt_err *err)
{
    step_ctx *c = v;
    for (int l = 0; l < c->m->n_layers; l++)
        if (step_layer(c, &c->layers[l], s, err) < 0)
            return -1;
    KT_CUDA(kt_launch_rmsnorm(c->xn, c->x, c->norm_f, c->batch, c->m->hidden, RMS_EPS, s), "rmsnorm", err);
    return kt_gemm_run(&c->g_lm, c->w_lm, c->xn, c->logits, s, err);
}

/* Untimed before each step: the residual stream starts from the same values. */
static int pre_step(void *v, cudaStream_t s, kt_err *err)
{
    step_ctx *c = v;
    KT_CUDA(cudaMemcpyAsync(c->x, c->x0, (size_t)c->batch * c->m->hidden * 2, cudaMemcpyDeviceToDevice, s), "reset x", err);
    return 0;
}

/* ---------- buffers ---------- */

/* Allocates and fills n bf16 elements. */
static int bf16_buf(void **p, size_t n, const char *what, uint32_t seed, cudaStream_t s, kt_err *err)
{
    if (kt_dev_alloc(p, n * 2, what, err) < 0)
        return -1;
    KT_CUDA(kt_launch_fill(*p, n, KT_FILL_BF16, seed, s), what, err);
    return 0;
}

static int weights_alloc(step_ctx *c, cudaStream_t s, kt_err *err)
{
    const model_card *m = c->m;
    size_t h = (size_t)m->hidden;
    c->layers = calloc((size_t)m->n_layers, sizeof *c->layers);
    if (!c->layers)
        return -1;
    for (int l = 0; l < m->n_layers; l++) {
        layer_bufs *L = &c->layers[l];
        uint32_t seed = FILL_SEED + 8u * (uint32_t)l;
        if (bf16_buf(&L->w_qkv, (size_t)c->qkv_dim * h, "W_qkv", seed, s, err) < 0 ||
            bf16_buf(&L->w_o, h * (size_t)c->q_dim, "W_o", seed + 1, s, err) < 0 ||
            bf16_buf(&L->w_gu, 2 * (size_t)c->inter * h, "W_gate_up", seed + 2, s, err) < 0 ||
            bf16_buf(&L->w_down, h * (size_t)c->inter, "W_down", seed + 3, s, err) < 0 ||
            bf16_buf(&L->norm1, h, "norm", seed + 4, s, err) < 0 || bf16_buf(&L->norm2, h, "norm", seed + 5, s, err) < 0)
            return -1;
    }
    return bf16_buf(&c->w_lm, (size_t)m->vocab * h, "lm_head", FILL_SEED - 1, s, err) < 0 ||
           bf16_buf(&c->norm_f, h, "final norm", FILL_SEED - 2, s, err) < 0 ? -1 : 0;
}

static void weights_free(step_ctx *c)
{
    for (int l = 0; c->layers && l < c->m->n_layers; l++) {
        layer_bufs *L = &c->layers[l];
        void *bufs[] = { L->w_qkv, L->w_o, L->w_gu, L->w_down, L->norm1, L->norm2 };
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            cudaFree(bufs[i]);
    }
    cudaFree(c->w_lm);
    cudaFree(c->norm_f);
}

/* KV pool bytes of one layer (K or V) for the point. */
static size_t pool_bytes(const step_ctx *c, int batch, int ctx)
{
    size_t pages = (size_t)((ctx + 1 + PAGE_TOKENS - 1) / PAGE_TOKENS);
    return (size_t)batch * pages * PAGE_TOKENS * c->m->n_kv_heads * c->m->head_dim * 2;
}

static int activations_alloc(step_ctx *c, cudaStream_t s, kt_err *err)
{
    size_t B = (size_t)c->batch, h = (size_t)c->m->hidden;
    return bf16_buf(&c->x0, B * h, "x", FILL_SEED + 1000, s, err) < 0 || bf16_buf(&c->x, B * h, "x", 0, s, err) < 0 ||
           bf16_buf(&c->xn, B * h, "xn", 0, s, err) < 0 || bf16_buf(&c->qkv, B * c->qkv_dim, "qkv", 0, s, err) < 0 ||
           bf16_buf(&c->attn, B * c->q_dim, "attn", 0, s, err) < 0 || bf16_buf(&c->o, B * h, "o", 0, s, err) < 0 ||
           bf16_buf(&c->gu, B * 2 * c->inter, "gate_up", 0, s, err) < 0 ||
           bf16_buf(&c->act, B * c->inter, "act", 0, s, err) < 0 || bf16_buf(&c->down, B * h, "down", 0, s, err) < 0 ||
           bf16_buf(&c->logits, B * (size_t)c->m->vocab, "logits", 0, s, err) < 0 ? -1 : 0;
}

/* Block table (shuffled pages), context lengths (ctx cached + the new
 * token) and positions for the point; pools of every layer. */
static int kv_alloc(step_ctx *c, cudaStream_t s, kt_err *err)
{
    int B = c->batch, pages = (c->ctx + 1 + PAGE_TOKENS - 1) / PAGE_TOKENS;
    int32_t *bt = malloc((size_t)B * pages * sizeof *bt), *lens = malloc((size_t)B * 2 * sizeof *lens);
    if (!bt || !lens) {
        free(bt);
        free(lens);
        return -1;
    }
    kt_block_table(bt, B, pages, 1);
    for (int i = 0; i < B; i++) {
        lens[i] = c->ctx + 1;
        lens[B + i] = c->ctx;
    }
    int rc = kt_dev_alloc((void **)&c->bt, (size_t)B * pages * sizeof *bt, "block table", err) < 0 ||
             kt_dev_alloc((void **)&c->ctx_len, (size_t)B * sizeof *lens, "ctx", err) < 0 ||
             kt_dev_alloc((void **)&c->pos, (size_t)B * sizeof *lens, "pos", err) < 0 ? -1 : 0;
    if (rc == 0 && (cudaMemcpy(c->bt, bt, (size_t)B * pages * sizeof *bt, cudaMemcpyHostToDevice) != cudaSuccess ||
                    cudaMemcpy(c->ctx_len, lens, (size_t)B * sizeof *lens, cudaMemcpyHostToDevice) != cudaSuccess ||
                    cudaMemcpy(c->pos, lens + B, (size_t)B * sizeof *lens, cudaMemcpyHostToDevice) != cudaSuccess))
        rc = kt_cuda_fail(cudaGetLastError(), "upload block table", err);
    free(bt);
    free(lens);
    size_t pb = pool_bytes(c, B, c->ctx);
    for (int l = 0; rc == 0 && l < c->m->n_layers; l++)
        if (kt_dev_alloc(&c->layers[l].k_pool, pb, "K pool", err) < 0 || kt_dev_alloc(&c->layers[l].v_pool, pb, "V pool", err) < 0 ||
            kt_launch_fill(c->layers[l].k_pool, pb / 2, KT_FILL_FP16, FILL_SEED + 2000 + (uint32_t)l, s) != cudaSuccess ||
            kt_launch_fill(c->layers[l].v_pool, pb / 2, KT_FILL_FP16, FILL_SEED + 3000 + (uint32_t)l, s) != cudaSuccess)
            rc = -1;
    return rc;
}

static void point_free(step_ctx *c)
{
    void *bufs[] = { c->x0, c->x, c->xn, c->qkv, c->attn, c->o, c->gu, c->act, c->down, c->logits,
                     c->bt, c->ctx_len, c->pos, c->attn_ws };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
    for (int l = 0; c->layers && l < c->m->n_layers; l++) {
        cudaFree(c->layers[l].k_pool);
        cudaFree(c->layers[l].v_pool);
        c->layers[l].k_pool = c->layers[l].v_pool = NULL;
    }
    kt_gemm *plans[] = { &c->g_qkv, &c->g_o, &c->g_gu, &c->g_down, &c->g_lm };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++)
        kt_gemm_free(plans[i]);
    c->x0 = c->x = c->xn = c->qkv = c->attn = c->o = c->gu = c->act = c->down = c->logits = NULL;
    c->bt = c->ctx_len = c->pos = NULL;
    c->attn_ws = NULL;
}

static int plan(kt_gemm *g, cublasLtHandle_t lt, void *ws, int64_t M, int64_t N, int64_t K, kt_err *err)
{
    kt_gemm_shape s;
    kt_gemm_linear(&s, KT_GEMM_BF16, M, N, K);
    int rc = kt_gemm_init(g, lt, &s, ws, LT_WORKSPACE_BYTES, err);
    if (rc == 1)
        KT_ERROR(err, NULL, 0, 0, "no cuBLASLt algorithm for a BF16 GEMM %lldx%lldx%lld", (long long)M, (long long)N,
                 (long long)K);
    return rc == 0 ? 0 : -1;
}

static int point_setup(kt_bench *b, step_ctx *c, cublasLtHandle_t lt, void *ws, kt_err *err)
{
    const model_card *m = c->m;
    int B = c->batch;
    if (activations_alloc(c, b->stream, err) < 0 || kv_alloc(c, b->stream, err) < 0 ||
        plan(&c->g_qkv, lt, ws, B, c->qkv_dim, m->hidden, err) < 0 || plan(&c->g_o, lt, ws, B, m->hidden, c->q_dim, err) < 0 ||
        plan(&c->g_gu, lt, ws, B, 2 * c->inter, m->hidden, err) < 0 || plan(&c->g_down, lt, ws, B, m->hidden, c->inter, err) < 0 ||
        plan(&c->g_lm, lt, ws, B, m->vocab, m->hidden, err) < 0)
        return -1;
    kt_attn_args *a = &c->attn_args;
    *a = (kt_attn_args){ c->qkv, c->qkv_dim, NULL, NULL, c->bt, c->ctx_len, (c->ctx + 1 + PAGE_TOKENS - 1) / PAGE_TOKENS,
                         B, m->n_kv_heads, m->n_heads / m->n_kv_heads, m->head_dim, PAGE_LOG2, KT_KV_FP16, 1,
                         KT_ATTN_TILE_TOKENS, NULL, c->attn, 1, KT_ATTN_MATH_AUTO };
    if (kt_decode_plan_splits(b, a, c->ctx + 1, err) < 0)
        return -1;
    size_t wsf = kt_attn_workspace_floats(B, m->n_kv_heads, a->group, m->head_dim, a->splits);
    if (kt_dev_alloc(&c->attn_ws, wsf * sizeof(float), "attention workspace", err) < 0)
        return -1;
    a->workspace = c->attn_ws;
    KT_CUDA(cudaStreamSynchronize(b->stream), "setup", err);
    return 0;
}

/* ---------- prediction ---------- */

static double predict_ns(const model_card *m, const hw_profile *hw, int batch, int ctx, kt_err *err)
{
    hw_profile h = *hw;        /* shallow copy: prov stays hw's */
    h.kernels_per_layer = KERNELS_PER_LAYER;
    cost_model cm;
    if (cost_model_init(&cm, m, &h, 1, DTYPE_BF16, err) < 0)
        return -1;
    cost_seq *seqs = calloc((size_t)batch, sizeof *seqs);
    if (!seqs)
        return -1;
    for (int i = 0; i < batch; i++)
        seqs[i] = (cost_seq){ 1, ctx, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, seqs, batch, batch, &it);
    free(seqs);
    return (double)it.total_ns;
}

/* ---------- driver ---------- */

/* Whether a point fits: weights are already allocated; KV of every layer and
 * activations must fit in what is free, with headroom. */
static int point_fits(const step_ctx *c, int batch, int ctx)
{
    size_t kv = 2 * pool_bytes(c, batch, ctx) * (size_t)c->m->n_layers;
    size_t act = (size_t)batch * ((size_t)c->m->vocab + 4 * (size_t)c->inter + 8 * (size_t)c->m->hidden) * 2;
    return kv + act + HEADROOM_BYTES < kt_dev_free_bytes();
}

static int run_point(kt_bench *b, step_ctx *c, cublasLtHandle_t lt, void *ws, const hw_profile *hw,
                     const char *profile, double *abs_err, kt_err *err)
{
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    calib_summary sum;
    int rc = ns && point_setup(b, c, lt, ws, err) == 0 && kt_sample_gpu(b, pre_step, op_step, c, 1, ns, err) == 0 &&
             calib_summarize(ns, (size_t)b->p->samples, &sum) == 0 ? 0 : -1;
    point_free(c);
    free(ns);
    if (rc < 0)
        return -1;
    double pred = predict_ns(c->m, hw, c->batch, c->ctx, err);
    if (pred < 0)
        return -1;
    *abs_err = fabs(pred - sum.median) / sum.median;
    printf("  validate batch %-4d context %-7d measured %10.1f us (IQR %.1f)  predicted %10.1f us  error %+6.2f%%\n",
           c->batch, c->ctx, sum.median / 1e3, sum.iqr / 1e3, pred / 1e3, 100.0 * (pred - sum.median) / sum.median);
    return b->db ? calib_db_add_validation(b->db, b->run_id, profile, c->batch, c->ctx, sum.median, sum.iqr, pred, err) : 0;
}

static int validate_points(kt_bench *b, step_ctx *c, const hw_profile *hw, const char *profile, double *errs,
                           size_t *n_errs, kt_err *err)
{
    cublasLtHandle_t lt = NULL;
    void *ws = NULL;
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "cublasLtCreate failed");
        return -1;
    }
    int rc = kt_dev_alloc(&ws, LT_WORKSPACE_BYTES, "cuBLASLt workspace", err);
    for (int bi = 0; rc == 0 && bi < b->p->n_validate_batches; bi++)
        for (int ci = 0; rc == 0 && ci < b->p->n_validate_contexts; ci++) {
            c->batch = b->p->validate_batches[bi];
            c->ctx = b->p->validate_contexts[ci];
            if (!point_fits(c, c->batch, c->ctx)) {
                printf("  validate batch %d context %d: skipped (KV does not fit in free memory)\n", c->batch, c->ctx);
                continue;
            }
            rc = run_point(b, c, lt, ws, hw, profile, &errs[*n_errs], err);
            if (rc == 0)
                (*n_errs)++;
        }
    cudaFree(ws);
    cublasLtDestroy(lt);
    return rc;
}

int kt_validate(kt_bench *b, const char *profile_path, const char *const *model_dirs, double *median_abs_err,
                kt_err *err)
{
    hw_profile *hw = hw_load(profile_path, err);
    model_card *m = hw ? model_load_named(VALIDATE_MODEL, model_dirs, err) : NULL;
    step_ctx c;
    memset(&c, 0, sizeof c);
    double errs[MAX_POINTS];
    size_t n_errs = 0;
    int rc = m && dense_global(m, err) == 0 ? 0 : -1;
    if (rc == 0) {
        c.m = m;
        c.q_dim = (int64_t)m->n_heads * m->head_dim;
        c.qkv_dim = c.q_dim + 2 * (int64_t)m->n_kv_heads * m->head_dim;
        c.inter = m->ffn_dense;
        printf("validate: one %s decoder step (%d layers, %d kernels per layer) against %s\n", m->name, m->n_layers,
               KERNELS_PER_LAYER, profile_path);
        rc = weights_alloc(&c, b->stream, err) < 0 ? -1 : validate_points(b, &c, hw, hw->name, errs, &n_errs, err);
        weights_free(&c);
        free(c.layers);
    }
    *median_abs_err = NAN;
    if (rc == 0 && n_errs > 0) {
        gsl_sort(errs, 1, n_errs);
        *median_abs_err = gsl_stats_median_from_sorted_data(errs, 1, n_errs);
        printf("validate: median |error| %.2f%% over %zu points (target <= %.0f%%): %s\n", 100 * *median_abs_err, n_errs,
               100 * TARGET_ERR, *median_abs_err <= TARGET_ERR ? "met" : "NOT met");
    }
    model_free(m);
    hw_free(hw);
    return rc;
}
