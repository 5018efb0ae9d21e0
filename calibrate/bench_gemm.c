/* bench_gemm.c — cuBLASLt GEMMs in BF16 and FP8 over M = 1 .. 16384 tokens for every (N, K) linear-layer shape of the chosen model cards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "calib_names.h"
#include "calib_plan.h"
#include "kt_kernels.h"
#include "lt_gemm.h"

#define MAX_SWEEP 32
#define FLOPS_PER_MAC 2.0
/* cuBLASLt workspace: what Hopper kernels ask for at most. */
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)
#define FILL_SEED 7u

typedef struct gemm_ctx {
    kt_gemm plan;
    void *w, *x, *out;
} gemm_ctx;

static int op_gemm(void *v, cudaStream_t s, kt_err *err)
{
    gemm_ctx *c = v;
    return kt_gemm_run(&c->plan, c->w, c->x, c->out, s, err);
}

/* Largest N × K, M × K and M × N over the shapes, for one allocation each. */
static void buffer_sizes(const calib_shape_set *set, int64_t max_m, size_t *w, size_t *x, size_t *out)
{
    *w = *x = *out = 0;
    for (int i = 0; i < set->n; i++) {
        size_t nk = (size_t)(set->s[i].n * set->s[i].k), mk = (size_t)(max_m * set->s[i].k);
        size_t mn = (size_t)(max_m * set->s[i].n);
        *w = nk > *w ? nk : *w;
        *x = mk > *x ? mk : *x;
        *out = mn > *out ? mn : *out;
    }
}

/* One shape in one dtype over the M sweep. Points cuBLASLt has no algorithm
 * for are left out; KT_BENCH_SKIPPED when that is all of them (FP8 before
 * compute capability 8.9). */
static int sweep_shape(kt_bench *b, cublasLtHandle_t lt, void *ws, gemm_ctx *c, kt_gemm_dtype dt,
                       calib_gemm_shape shape, double *ns, kt_err *err)
{
    size_t ms[MAX_SWEEP], skipped = 0;
    size_t n = kt_pow2_sweep(1, (size_t)b->p->gemm_max_tokens, ms, MAX_SWEEP);
    char name[96];
    snprintf(name, sizeof name, "%s/n=%lld/k=%lld", dt == KT_GEMM_FP8 ? "fp8" : "bf16", (long long)shape.n,
             (long long)shape.k);
    for (size_t i = 0; i < n; i++) {
        kt_gemm_shape s;
        kt_gemm_linear(&s, dt, (int64_t)ms[i], shape.n, shape.k);
        int rc = kt_gemm_init(&c->plan, lt, &s, ws, LT_WORKSPACE_BYTES, err);
        if (rc == 0) {
            double flops = FLOPS_PER_MAC * (double)ms[i] * (double)shape.n * (double)shape.k;
            rc = kt_sample_gpu(b, NULL, op_gemm, c, 1, ns, err) < 0 ||
                 kt_record(b, CALIB_BENCH_GEMM, name, (double)ms[i], flops, "FLOP", ns, err) < 0 ? -1 : 0;
        }
        kt_gemm_free(&c->plan);
        if (rc < 0)
            return KT_BENCH_FAILED;
        skipped += rc == 1;
    }
    if (skipped)
        printf("  gemm %s: no cuBLASLt algorithm on this GPU for %zu of %zu sizes; left out\n", name, skipped, n);
    return skipped == n ? KT_BENCH_SKIPPED : KT_BENCH_OK;
}

static int fill_operands(gemm_ctx *c, size_t w, size_t x, kt_gemm_dtype dt, cudaStream_t s, kt_err *err)
{
    kt_fill_kind kind = dt == KT_GEMM_FP8 ? KT_FILL_FP8 : KT_FILL_BF16;
    KT_CUDA(kt_launch_fill(c->w, w, kind, FILL_SEED, s), "fill weights", err);
    KT_CUDA(kt_launch_fill(c->x, x, kind, FILL_SEED + 1, s), "fill activations", err);
    KT_CUDA(cudaStreamSynchronize(s), "cudaStreamSynchronize", err);
    return 0;
}

static int run_sweeps(kt_bench *b, cublasLtHandle_t lt, void *ws, gemm_ctx *c, const calib_shape_set *set,
                      size_t w, size_t x, kt_err *err)
{
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    if (!ns)
        return KT_BENCH_FAILED;
    const kt_gemm_dtype dts[] = { KT_GEMM_BF16, KT_GEMM_FP8 };
    int rc = KT_BENCH_OK;
    for (size_t d = 0; d < sizeof dts / sizeof dts[0] && rc != KT_BENCH_FAILED; d++) {
        if (fill_operands(c, w, x, dts[d], b->stream, err) < 0) {
            rc = KT_BENCH_FAILED;
            break;
        }
        for (int i = 0; i < set->n; i++) {
            int r = sweep_shape(b, lt, ws, c, dts[d], set->s[i], ns, err);
            if (r == KT_BENCH_FAILED)
                rc = KT_BENCH_FAILED;
            if (r != KT_BENCH_OK)
                break;        /* failed, or the dtype has no algorithm at all: next dtype */
        }
    }
    free(ns);
    return rc;
}

int kt_bench_gemm(kt_bench *b, kt_err *err)
{
    calib_shape_set set = { .n = 0 };
    if (calib_gemm_shapes(b->p->gemm_models, &set, err) < 0)
        return KT_BENCH_FAILED;
    size_t w, x, out;
    buffer_sizes(&set, b->p->gemm_max_tokens, &w, &x, &out);
    printf("gemm: %d shapes from %s, BF16 and FP8 (cuBLASLt), M = 1 .. %d\n", set.n, b->p->gemm_models,
           b->p->gemm_max_tokens);
    cublasLtHandle_t lt = NULL;
    gemm_ctx c;
    memset(&c, 0, sizeof c);
    void *ws = NULL;
    int rc = KT_BENCH_FAILED;
    const size_t elem = 2;     /* bf16 buffers also hold the fp8 operands */
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS)
        KT_ERROR(err, NULL, 0, 0, "cublasLtCreate failed");
    else if (kt_dev_alloc(&ws, LT_WORKSPACE_BYTES, "cuBLASLt workspace", err) == 0 &&
             kt_dev_alloc(&c.w, w * elem, "GEMM weights", err) == 0 &&
             kt_dev_alloc(&c.x, x * elem, "GEMM activations", err) == 0 &&
             kt_dev_alloc(&c.out, out * elem, "GEMM output", err) == 0)
        rc = run_sweeps(b, lt, ws, &c, &set, w, x, err);
    cudaFree(ws);
    cudaFree(c.w);
    cudaFree(c.x);
    cudaFree(c.out);
    if (lt)
        cublasLtDestroy(lt);
    return rc;
}
