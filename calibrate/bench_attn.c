/* bench_attn.c — attention benchmarks: our paged decode kernel (both its float and tensor-core paths checked against the host reference, then swept over page size, KV dtype, GQA group, head dim, block-table order, batch and context, with a split grid sized from its occupancy) and the prefill upper bound from batched GEMMs and a softmax. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "calib_attn_ref.h"
#include "calib_fit.h"
#include "calib_names.h"
#include "calib_split.h"
#include "kt_kernels.h"
#include "lt_gemm.h"

#define MAX_SWEEP 32
#define MIN_CONTEXT 512
#define MIN_PREFILL 512
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)
#define CHECK_DATA_SEED 2024u  /* the check's random operands */
#define FILL_SEED 11u
/* Correctness check: absolute tolerance on outputs of O(1) magnitude (the
 * GPU accumulates in float, the reference in double, from identical inputs). */
#define CHECK_TOLERANCE 2e-3
#define CHECK_BATCH 3
#define CHECK_SPLITS_TOKENS 128

static const int page_sizes[] = { 16, 32, 64, 128 };
static const int groups[] = { 1, 4, 8 };
static const int head_dims[] = { 64, 128 };
static const kt_kv_dtype kv_dtypes[] = { KT_KV_FP16, KT_KV_FP8 };
#define COUNT(a) (sizeof (a) / sizeof (a)[0])

static int log2_int(int v)
{
    int l = 0;
    while ((1 << l) < v)
        l++;
    return l;
}

/* xorshift32: the fixed pseudo-random sequence behind the check data. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static float rand_unit(uint32_t *x) { return (float)(next_rand(x) >> 8) / 8388608.0f - 1.0f; }

/* ---------- correctness against the host reference ---------- */

typedef struct check_data {
    float *q, *k, *v, *out_ref, *out_gpu;
    void *q_bf16, *k_raw, *v_raw;
    int32_t bt[CHECK_BATCH * 64];
    int32_t ctx[CHECK_BATCH];
    calib_attn_shape shape;
} check_data;

static void check_free(check_data *c)
{
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->out_ref);
    free(c->out_gpu);
    free(c->q_bf16);
    free(c->k_raw);
    free(c->v_raw);
}

/* Random operands, rounded to the formats the kernel reads. */
static int check_make(check_data *c, kt_kv_dtype dt, int D, int G, int P, int kv_heads)
{
    memset(c, 0, sizeof *c);
    const int ctx[CHECK_BATCH] = { 1, P + 3, 300 };   /* one token, a partial page, several tiles */
    int pages_per_seq = (300 + P - 1) / P;
    c->shape = (calib_attn_shape){ CHECK_BATCH, kv_heads, G, D, P, pages_per_seq, CHECK_BATCH * pages_per_seq };
    size_t nq = (size_t)CHECK_BATCH * kv_heads * G * D, nkv = (size_t)c->shape.n_pages * kv_heads * P * D;
    c->q = malloc(nq * sizeof(float));
    c->k = malloc(nkv * sizeof(float));
    c->v = malloc(nkv * sizeof(float));
    c->out_ref = malloc(nq * sizeof(float));
    c->out_gpu = malloc(nq * sizeof(float));
    c->q_bf16 = malloc(nq * 2);
    c->k_raw = malloc(nkv * kt_kv_bytes(dt));
    c->v_raw = malloc(nkv * kt_kv_bytes(dt));
    if (!c->q || !c->k || !c->v || !c->out_ref || !c->out_gpu || !c->q_bf16 || !c->k_raw || !c->v_raw)
        return -1;
    uint32_t x = CHECK_DATA_SEED + (uint32_t)(D + G + P);
    for (size_t i = 0; i < nq; i++)
        c->q[i] = 2.0f * rand_unit(&x);
    for (size_t i = 0; i < nkv; i++) {
        c->k[i] = rand_unit(&x);
        c->v[i] = rand_unit(&x);
    }
    kt_host_to_bf16(c->q_bf16, c->q, nq);
    kt_host_to_kv(c->k_raw, c->k, nkv, dt);
    kt_host_to_kv(c->v_raw, c->v, nkv, dt);
    kt_block_table(c->bt, CHECK_BATCH, pages_per_seq, 1);
    memcpy(c->ctx, ctx, sizeof ctx);
    return calib_paged_attn_ref(&c->shape, c->q, c->k, c->v, c->bt, c->ctx, c->out_ref);
}

/* Device copies of the check data, the kernel run with the given math, and the result back. */
static int check_run(check_data *c, kt_kv_dtype dt, kt_attn_math math, cudaStream_t s, kt_err *err)
{
    const calib_attn_shape *sh = &c->shape;
    size_t nq = (size_t)sh->batch * sh->kv_heads * sh->group * sh->head_dim;
    size_t nkv = (size_t)sh->n_pages * sh->kv_heads * sh->page_tokens * sh->head_dim * kt_kv_bytes(dt);
    int tps = CHECK_SPLITS_TOKENS, splits = (300 + tps - 1) / tps;
    void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL, *dbt = NULL, *dctx = NULL, *ws = NULL;
    size_t ws_floats = kt_attn_workspace_floats(sh->batch, sh->kv_heads, sh->group, sh->head_dim, splits);
    int rc = kt_dev_alloc(&dq, nq * 2, "check q", err) || kt_dev_alloc(&dk, nkv, "check k", err) ||
             kt_dev_alloc(&dv, nkv, "check v", err) || kt_dev_alloc(&dout, nq * sizeof(float), "check out", err) ||
             kt_dev_alloc(&dbt, sizeof c->bt, "check table", err) || kt_dev_alloc(&dctx, sizeof c->ctx, "check ctx", err) ||
             kt_dev_alloc(&ws, ws_floats * sizeof(float), "check workspace", err) ? -1 : 0;
    cudaError_t e = cudaSuccess;
    if (rc == 0) {
        cudaMemcpy(dq, c->q_bf16, nq * 2, cudaMemcpyHostToDevice);
        cudaMemcpy(dk, c->k_raw, nkv, cudaMemcpyHostToDevice);
        cudaMemcpy(dv, c->v_raw, nkv, cudaMemcpyHostToDevice);
        cudaMemcpy(dbt, c->bt, sizeof c->bt, cudaMemcpyHostToDevice);
        cudaMemcpy(dctx, c->ctx, sizeof c->ctx, cudaMemcpyHostToDevice);
        kt_attn_args a = { dq, (int64_t)sh->kv_heads * sh->group * sh->head_dim, dk, dv, dbt, dctx, sh->max_pages,
                           sh->batch, sh->kv_heads, sh->group, sh->head_dim, log2_int(sh->page_tokens), dt,
                           splits, tps, ws, dout, 0, math };
        e = kt_launch_paged_decode(&a, s);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s);
        if (e == cudaSuccess)
            e = cudaMemcpy(c->out_gpu, dout, nq * sizeof(float), cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
            rc = kt_cuda_fail(e, "paged decode check", err);
    }
    void *bufs[] = { dq, dk, dv, dout, dbt, dctx, ws };
    for (size_t i = 0; i < COUNT(bufs); i++)
        cudaFree(bufs[i]);
    return rc;
}

/* Checks one configuration with one math path; records the result as
 * "<name>/<float|tensor>"; fails the benchmark when off. */
static int check_path(kt_bench *b, kt_kv_dtype dt, int D, int G, int P, kt_attn_math math, const char *name,
                      kt_err *err)
{
    check_data c;
    char label[128];
    snprintf(label, sizeof label, "%s/%s", name, math == KT_ATTN_MATH_TENSOR ? "tensor" : "float");
    int rc = check_make(&c, dt, D, G, P, b->p->decode_kv_heads);
    if (rc < 0)
        KT_ERROR(err, NULL, 0, 0, "paged decode check %s: cannot build the reference", label);
    if (rc == 0)
        rc = check_run(&c, dt, math, b->stream, err);
    double worst = 0;
    size_t nq = (size_t)CHECK_BATCH * c.shape.kv_heads * G * D;
    for (size_t i = 0; rc == 0 && i < nq; i++)
        worst = fmax(worst, fabs((double)c.out_gpu[i] - c.out_ref[i]));
    check_free(&c);
    if (rc < 0)
        return -1;
    int passed = worst <= CHECK_TOLERANCE;
    if (b->db && calib_db_add_check(b->db, b->run_id, CALIB_BENCH_DECODE, label, worst, CHECK_TOLERANCE, passed, err) < 0)
        return -1;
    if (!passed) {
        KT_ERROR(err, NULL, 0, 0, "paged decode %s disagrees with the host reference: max |error| %g > %g", label,
                 worst, CHECK_TOLERANCE);
        return -1;
    }
    return 0;
}

/* Checks both paths of one configuration (the sweep runs the one
 * KT_ATTN_MATH_AUTO picks; the other stays a cross-check). */
static int check_config(kt_bench *b, kt_kv_dtype dt, int D, int G, int P, const char *name, kt_err *err)
{
    return check_path(b, dt, D, G, P, KT_ATTN_MATH_FLOAT, name, err) < 0 ||
           check_path(b, dt, D, G, P, KT_ATTN_MATH_TENSOR, name, err) < 0 ? -1 : 0;
}

/* ---------- decode sweep ---------- */

typedef struct decode_ctx {
    kt_attn_args a;
    void *k_pool, *v_pool, *q, *out, *ws;
    int32_t *bt_dev, *ctx_dev;
    int32_t *bt_host;
    size_t pool_bytes;         /* each of K and V */
    size_t ws_floats;
    int max_batch, max_pages_seq;
    double hbm_Bps;            /* this run's fitted HBM read bandwidth, 0 if not measured */
} decode_ctx;

/* The HBM read bandwidth fitted from this run's hbm/read samples, if any:
 * decode points are reported against it. */
static double measured_hbm_Bps(kt_bench *b)
{
    calib_point *p = NULL;
    size_t n = 0;
    calib_fit f;
    kt_err ignored;
    double bw = 0;
    if (b->db && calib_db_points(b->db, b->run_id, CALIB_BENCH_HBM, CALIB_CASE_HBM_READ, &p, &n, &ignored) == 0 &&
        calib_fit_points(p, n, &f) == 0)
        bw = f.rate_per_s;
    free(p);
    return bw;
}

/* Prints a decode point's bytes per second as a share of the measured HBM bandwidth. */
static void print_vs_hbm(const decode_ctx *c, double bytes, const double *ns, int samples)
{
    calib_summary s;
    if (c->hbm_Bps > 0 && calib_summarize(ns, (size_t)samples, &s) == 0)
        printf("  %-8s %-40s %.1f%% of the measured HBM read bandwidth\n", "", "",
               100.0 * bytes / (s.median * 1e-9) / c->hbm_Bps);
}

static int op_decode(void *v, cudaStream_t s, kt_err *err)
{
    KT_CUDA(kt_launch_paged_decode(&((decode_ctx *)v)->a, s), "paged decode", err);
    return 0;
}

int kt_decode_plan_splits(const kt_bench *b, kt_attn_args *a, int max_ctx_tokens, kt_err *err)
{
    int per_sm = 0;
    KT_CUDA(kt_attn_blocks_per_sm(a, &per_sm), "cudaOccupancyMaxActiveBlocksPerMultiprocessor (paged decode)", err);
    a->splits = calib_split_plan(a->batch, a->kv_heads, max_ctx_tokens, per_sm, b->sm_count, KT_ATTN_TILE_TOKENS,
                                 &a->tokens_per_split);
    return 0;
}

/* Sets a's shape for (batch, ctx), uploading the block table and context
 * lengths, growing the workspace if needed. */
static int decode_prepare(kt_bench *b, decode_ctx *c, int batch, int ctx, int P, int shuffled, kt_err *err)
{
    int pages_seq = (ctx + P - 1) / P;
    kt_block_table(c->bt_host, batch, pages_seq, shuffled);
    KT_CUDA(cudaMemcpy(c->bt_dev, c->bt_host, (size_t)batch * pages_seq * sizeof(int32_t), cudaMemcpyHostToDevice),
            "upload block table", err);
    int32_t *lens = malloc((size_t)batch * sizeof *lens);
    if (!lens)
        return -1;
    for (int i = 0; i < batch; i++)
        lens[i] = ctx;
    cudaError_t e = cudaMemcpy(c->ctx_dev, lens, (size_t)batch * sizeof *lens, cudaMemcpyHostToDevice);
    free(lens);
    KT_CUDA(e, "upload context lengths", err);
    c->a.max_pages = pages_seq;
    c->a.batch = batch;
    c->a.page_log2 = log2_int(P);
    if (kt_decode_plan_splits(b, &c->a, ctx, err) < 0)
        return -1;
    size_t need = kt_attn_workspace_floats(batch, c->a.kv_heads, c->a.group, c->a.head_dim, c->a.splits);
    if (need > c->ws_floats) {
        cudaFree(c->ws);
        c->ws_floats = 0;
        if (kt_dev_alloc(&c->ws, need * sizeof(float), "decode workspace", err) < 0)
            return -1;
        c->ws_floats = need;
    }
    c->a.workspace = c->ws;
    return 0;
}

/* Bytes one decode step moves: every KV row once, queries, outputs, table. */
static double decode_bytes(const decode_ctx *c, int batch, int ctx, int P)
{
    const kt_attn_args *a = &c->a;
    double kv = (double)batch * ctx * a->kv_heads * 2.0 * a->head_dim * (double)kt_kv_bytes(a->kv_dtype);
    double qo = (double)batch * a->kv_heads * a->group * a->head_dim * (2.0 + sizeof(float));
    double table = (double)batch * ((ctx + P - 1) / P) * sizeof(int32_t);
    return kv + qo + table;
}

static int decode_points(kt_bench *b, decode_ctx *c, int P, int shuffled, const char *prefix, double *ns, kt_err *err)
{
    size_t ctxs[MAX_SWEEP];
    size_t n_ctx = kt_pow2_sweep(MIN_CONTEXT, (size_t)b->p->decode_max_context, ctxs, MAX_SWEEP);
    size_t row = (size_t)c->a.kv_heads * c->a.head_dim * kt_kv_bytes(c->a.kv_dtype);
    for (int bi = 0; bi < b->p->n_decode_batches; bi++) {
        int batch = b->p->decode_batches[bi];
        char name[128];
        snprintf(name, sizeof name, "%s/b=%d/%s", prefix, batch, shuffled ? "shuffled" : "identity");
        for (size_t i = 0; i < n_ctx; i++) {
            int ctx = (int)ctxs[i], pages = (ctx + P - 1) / P;
            if (batch > c->max_batch || pages > c->max_pages_seq ||
                (size_t)batch * pages * P * row > c->pool_bytes)
                continue;      /* over the pool: the point is left out */
            double bytes = decode_bytes(c, batch, ctx, P);
            if (decode_prepare(b, c, batch, ctx, P, shuffled, err) < 0 ||
                kt_sample_gpu(b, NULL, op_decode, c, 1, ns, err) < 0 ||
                kt_record(b, CALIB_BENCH_DECODE, name, ctx, bytes, "B", ns, err) < 0)
                return -1;
            print_vs_hbm(c, bytes, ns, b->p->samples);
        }
    }
    return 0;
}

/* One (dtype, head dim, group, page size) configuration: check, then sweep. */
static int decode_config(kt_bench *b, decode_ctx *c, kt_kv_dtype dt, int D, int G, int P, double *ns, kt_err *err)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s/page=%d/g=%d/d=%d", dt == KT_KV_FP8 ? "fp8" : "fp16", P, G, D);
    if (check_config(b, dt, D, G, P, prefix, err) < 0)
        return -1;
    c->a.kv_dtype = dt;
    c->a.head_dim = D;
    c->a.group = G;
    c->a.q_stride = (int64_t)c->a.kv_heads * G * D;
    for (int shuffled = 1; shuffled >= 0; shuffled--)
        if (decode_points(b, c, P, shuffled, prefix, ns, err) < 0)
            return -1;
    return 0;
}

static int decode_alloc(kt_bench *b, decode_ctx *c, kt_err *err)
{
    memset(c, 0, sizeof *c);
    const kt_params *p = b->p;
    c->a.kv_heads = p->decode_kv_heads;
    c->max_batch = 0;
    for (int i = 0; i < p->n_decode_batches; i++)
        c->max_batch = p->decode_batches[i] > c->max_batch ? p->decode_batches[i] : c->max_batch;
    c->max_pages_seq = (p->decode_max_context + page_sizes[0] - 1) / page_sizes[0];
    size_t room = kt_dev_free_bytes() / 3;   /* K, V and everything else */
    c->pool_bytes = p->decode_max_bytes / 2 < room ? p->decode_max_bytes / 2 : room;
    size_t q_elems = (size_t)c->max_batch * c->a.kv_heads * KT_ATTN_MAX_GROUP * 128;
    size_t bt = (size_t)c->max_batch * c->max_pages_seq * sizeof(int32_t);
    c->bt_host = malloc(bt);
    if (!c->bt_host || kt_dev_alloc(&c->k_pool, c->pool_bytes, "K pool", err) < 0 ||
        kt_dev_alloc(&c->v_pool, c->pool_bytes, "V pool", err) < 0 || kt_dev_alloc(&c->q, q_elems * 2, "queries", err) < 0 ||
        kt_dev_alloc(&c->out, q_elems * sizeof(float), "outputs", err) < 0 ||
        kt_dev_alloc((void **)&c->bt_dev, bt, "block table", err) < 0 ||
        kt_dev_alloc((void **)&c->ctx_dev, (size_t)c->max_batch * sizeof(int32_t), "context lengths", err) < 0)
        return -1;
    KT_CUDA(kt_launch_fill(c->q, q_elems, KT_FILL_BF16, FILL_SEED, b->stream), "fill queries", err);
    c->hbm_Bps = measured_hbm_Bps(b);
    c->a = (kt_attn_args){ c->q, 0, c->k_pool, c->v_pool, c->bt_dev, c->ctx_dev, 0, 0, c->a.kv_heads, 1, 128, 4,
                           KT_KV_FP16, 1, KT_ATTN_TILE_TOKENS, NULL, c->out, 0, KT_ATTN_MATH_AUTO };
    return 0;
}

static void decode_free(decode_ctx *c)
{
    void *bufs[] = { c->k_pool, c->v_pool, c->q, c->out, c->ws, c->bt_dev, c->ctx_dev };
    for (size_t i = 0; i < COUNT(bufs); i++)
        cudaFree(bufs[i]);
    free(c->bt_host);
}

/* Fills both pools with random values of the dtype (bytes of another dtype
 * could read as NaN). */
static int fill_pools(kt_bench *b, decode_ctx *c, kt_kv_dtype dt, kt_err *err)
{
    size_t n = c->pool_bytes / kt_kv_bytes(dt);
    kt_fill_kind kind = dt == KT_KV_FP8 ? KT_FILL_FP8 : KT_FILL_FP16;
    KT_CUDA(kt_launch_fill(c->k_pool, n, kind, FILL_SEED + 1, b->stream), "fill K", err);
    KT_CUDA(kt_launch_fill(c->v_pool, n, kind, FILL_SEED + 2, b->stream), "fill V", err);
    KT_CUDA(cudaStreamSynchronize(b->stream), "cudaStreamSynchronize", err);
    return 0;
}

static int decode_sweep(kt_bench *b, decode_ctx *c, double *ns, kt_err *err)
{
    for (size_t di = 0; di < COUNT(kv_dtypes); di++) {
        if (fill_pools(b, c, kv_dtypes[di], err) < 0)
            return -1;
        for (size_t hi = 0; hi < COUNT(head_dims); hi++)
            for (size_t gi = 0; gi < COUNT(groups); gi++)
                for (size_t pi = 0; pi < COUNT(page_sizes); pi++)
                    if (decode_config(b, c, kv_dtypes[di], head_dims[hi], groups[gi], page_sizes[pi], ns, err) < 0)
                        return -1;
    }
    return 0;
}

int kt_bench_decode(kt_bench *b, kt_err *err)
{
    printf("decode: paged attention (ours), %d KV heads; float math below groups of %d, tensor cores from "
           "there; both paths checked against the host reference first; splits fill one wave at the "
           "kernel's occupancy\n", b->p->decode_kv_heads, KT_ATTN_TENSOR_MIN_GROUP);
    decode_ctx c;
    memset(&c, 0, sizeof c);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns && decode_alloc(b, &c, err) == 0 ? decode_sweep(b, &c, ns, err) : -1;
    decode_free(&c);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}

/* ---------- prefill upper bound ---------- */

typedef struct prefill_ctx {
    kt_gemm qk, pv;            /* per head group */
    void *q, *k, *v, *s, *o;
    int heads, group_heads, head_dim, n;
} prefill_ctx;

/* Every head group: S = Q K^T (batched), causal softmax, O = P V. */
static int op_prefill(void *v, cudaStream_t s, kt_err *err)
{
    prefill_ctx *c = v;
    size_t head = (size_t)c->n * c->head_dim * 2;
    for (int h0 = 0; h0 < c->heads; h0 += c->group_heads) {
        const char *q = (const char *)c->q + h0 * head, *k = (const char *)c->k + h0 * head;
        const char *vv = (const char *)c->v + h0 * head;
        char *o = (char *)c->o + h0 * head;
        if (kt_gemm_run(&c->qk, k, q, c->s, s, err) < 0)
            return -1;
        KT_CUDA(kt_launch_causal_softmax(c->s, c->group_heads, c->n, 1.0f / sqrtf((float)c->head_dim), s), "softmax", err);
        if (kt_gemm_run(&c->pv, vv, c->s, o, s, err) < 0)
            return -1;
    }
    return 0;
}

/* The two batched GEMMs of one head group at sequence length n. */
static int prefill_plan(prefill_ctx *c, cublasLtHandle_t lt, void *ws, kt_err *err)
{
    int64_t n = c->n, d = c->head_dim;
    kt_gemm_shape s;
    kt_gemm_linear(&s, KT_GEMM_BF16, n, n, d);      /* S[q][k] = Q[q] · K[k] */
    s.batch = c->group_heads;
    s.stride_a = s.stride_b = n * d;
    s.stride_c = n * n;
    int rc = kt_gemm_init(&c->qk, lt, &s, ws, LT_WORKSPACE_BYTES, err);
    if (rc != 0)
        return rc;
    s = (kt_gemm_shape){ KT_GEMM_BF16, 0, 0, d, n, n, d, n, d, c->group_heads, n * d, n * n, n * d };
    return kt_gemm_init(&c->pv, lt, &s, ws, LT_WORKSPACE_BYTES, err);  /* O^T = V^T P^T, column-major */
}

static int prefill_point(kt_bench *b, prefill_ctx *c, cublasLtHandle_t lt, void *ws, double *ns, kt_err *err)
{
    size_t per_head = (size_t)c->n * c->n * 2;
    /* The largest divisor of heads whose scores fit (at least one head). */
    for (c->group_heads = c->heads; c->group_heads > 1; c->group_heads--)
        if (c->heads % c->group_heads == 0 && (size_t)c->group_heads * per_head <= b->p->prefill_scores_bytes)
            break;
    int rc = prefill_plan(c, lt, ws, err);
    char name[96];
    snprintf(name, sizeof name, "bf16/h=%d/d=%d/b=1", c->heads, c->head_dim);
    double flops = 2.0 * c->heads * c->head_dim * (double)c->n * (c->n + 1.0);   /* causal: DESIGN.md */
    if (rc == 0)
        rc = kt_sample_gpu(b, NULL, op_prefill, c, 1, ns, err) < 0 ||
             kt_record(b, CALIB_BENCH_PREFILL, name, c->n, flops, "FLOP", ns, err) < 0 ? -1 : 0;
    if (rc == 1)
        KT_ERROR(err, NULL, 0, 0, "prefill: no cuBLASLt algorithm for the batched BF16 GEMMs");
    kt_gemm_free(&c->qk);
    kt_gemm_free(&c->pv);
    return rc == 0 ? 0 : -1;
}

int kt_bench_prefill(kt_bench *b, kt_err *err)
{
    prefill_ctx c;
    memset(&c, 0, sizeof c);
    c.heads = b->p->prefill_heads;
    c.head_dim = 128;
    size_t max_n = (size_t)b->p->prefill_max_tokens, qkv = (size_t)c.heads * max_n * c.head_dim * 2;
    size_t s_bytes = b->p->prefill_scores_bytes < max_n * max_n * 2 * c.heads ? b->p->prefill_scores_bytes
                                                                                 : max_n * max_n * 2 * c.heads;
    if (s_bytes < max_n * max_n * 2)
        s_bytes = max_n * max_n * 2;   /* at least one head */
    printf("prefill: UPPER BOUND on attention time (unfused: batched QK^T GEMM, causal softmax, PV GEMM), "
           "%d heads of dim %d\n", c.heads, c.head_dim);
    cublasLtHandle_t lt = NULL;
    void *ws = NULL;
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = 0;
    if (!ns || cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "prefill: %s", ns ? "cublasLtCreate failed" : "out of memory");
        rc = -1;
    }
    rc = rc < 0 || kt_dev_alloc(&ws, LT_WORKSPACE_BYTES, "cuBLASLt workspace", err) < 0 ||
             kt_dev_alloc(&c.q, qkv, "Q", err) < 0 || kt_dev_alloc(&c.k, qkv, "K", err) < 0 ||
             kt_dev_alloc(&c.v, qkv, "V", err) < 0 || kt_dev_alloc(&c.o, qkv, "O", err) < 0 ||
             kt_dev_alloc(&c.s, s_bytes, "scores", err) < 0 ? -1 : 0;
    void *fill[] = { c.q, c.k, c.v };
    for (size_t i = 0; rc == 0 && i < COUNT(fill); i++)
        if (kt_launch_fill(fill[i], qkv / 2, KT_FILL_BF16, FILL_SEED + (uint32_t)i, b->stream) != cudaSuccess)
            rc = kt_cuda_fail(cudaGetLastError(), "fill Q/K/V", err);
    size_t lens[MAX_SWEEP];
    size_t n = kt_pow2_sweep(MIN_PREFILL, max_n, lens, MAX_SWEEP);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        c.n = (int)lens[i];
        rc = prefill_point(b, &c, lt, ws, ns, err);
    }
    void *bufs[] = { ws, c.q, c.k, c.v, c.o, c.s };
    for (size_t i = 0; i < COUNT(bufs); i++)
        cudaFree(bufs[i]);
    if (lt)
        cublasLtDestroy(lt);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}
