/* lt_gemm.c — cuBLASLt descriptors, layouts and heuristic algorithm choice for the GEMM, prefill and validation benchmarks. */
#include "lt_gemm.h"

#include <string.h>

static int lt_fail(cublasStatus_t st, const char *what, kt_err *err)
{
    KT_ERROR(err, NULL, 0, 0, "%s: cuBLASLt status %d", what, (int)st);
    return -1;
}

#define LT(call, what) \
    do { cublasStatus_t lt_st_ = (call); if (lt_st_ != CUBLAS_STATUS_SUCCESS) return lt_fail(lt_st_, (what), err); } while (0)

void kt_gemm_linear(kt_gemm_shape *s, kt_gemm_dtype dt, int64_t M, int64_t N, int64_t K)
{
    memset(s, 0, sizeof *s);
    s->dtype = dt;
    s->trans_a = 1;
    s->trans_b = 0;
    s->m = N;
    s->n = M;
    s->k = K;
    s->lda = K;
    s->ldb = K;
    s->ldc = N;
    s->batch = 1;
}

/* A stored matrix rows × cols (column-major, leading dimension ld), batched. */
static int layout(cublasLtMatrixLayout_t *l, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                  int batch, int64_t stride, kt_err *err)
{
    LT(cublasLtMatrixLayoutCreate(l, type, (uint64_t)rows, (uint64_t)cols, ld), "cublasLtMatrixLayoutCreate");
    if (batch > 1) {
        LT(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch),
           "batch count");
        LT(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
           "batch stride");
    }
    return 0;
}

static int describe(kt_gemm *g, const kt_gemm_shape *s, kt_err *err)
{
    cudaDataType_t in = s->dtype == KT_GEMM_FP8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    cublasOperation_t ta = s->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = s->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT(cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
    if (layout(&g->a, in, s->trans_a ? s->k : s->m, s->trans_a ? s->m : s->k, s->lda, s->batch, s->stride_a, err) < 0 ||
        layout(&g->b, in, s->trans_b ? s->n : s->k, s->trans_b ? s->k : s->n, s->ldb, s->batch, s->stride_b, err) < 0 ||
        layout(&g->c, CUDA_R_16BF, s->m, s->n, s->ldc, s->batch, s->stride_c, err) < 0)
        return -1;
    return 0;
}

int kt_gemm_init(kt_gemm *g, cublasLtHandle_t lt, const kt_gemm_shape *s, void *workspace,
                 size_t workspace_bytes, kt_err *err)
{
    memset(g, 0, sizeof *g);
    g->lt = lt;
    g->workspace = workspace;
    g->workspace_bytes = workspace_bytes;
    if (describe(g, s, err) < 0)
        return -1;
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &workspace_bytes, sizeof workspace_bytes);
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(lt, g->op, g->a, g->b, g->c, g->c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0))
        return 1;
    if (st != CUBLAS_STATUS_SUCCESS)
        return lt_fail(st, "cublasLtMatmulAlgoGetHeuristic", err);
    g->algo = result.algo;
    return 0;
}

int kt_gemm_run(const kt_gemm *g, const void *A, const void *B, void *C, cudaStream_t stream, kt_err *err)
{
    const float alpha = 1.0f, beta = 0.0f;
    LT(cublasLtMatmul(g->lt, g->op, &alpha, A, g->a, B, g->b, &beta, C, g->c, C, g->c, &g->algo, g->workspace,
                      g->workspace_bytes, stream), "cublasLtMatmul");
    return 0;
}

void kt_gemm_free(kt_gemm *g)
{
    if (!g)
        return;
    if (g->a)
        cublasLtMatrixLayoutDestroy(g->a);
    if (g->b)
        cublasLtMatrixLayoutDestroy(g->b);
    if (g->c)
        cublasLtMatrixLayoutDestroy(g->c);
    if (g->op)
        cublasLtMatmulDescDestroy(g->op);
    memset(g, 0, sizeof *g);
}
