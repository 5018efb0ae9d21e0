/* lt_gemm.h — one cuBLASLt matrix multiply, planned once (layouts, heuristic algorithm) and run many times: BF16 or FP8 operands, BF16 output. */
#ifndef KT_LT_GEMM_H
#define KT_LT_GEMM_H

#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "err.h"

typedef enum { KT_GEMM_BF16, KT_GEMM_FP8 } kt_gemm_dtype;

/* Column-major C[m × n] = op(A)[m × k] · op(B)[k × n], batch times with the
 * given element strides. A is stored k × m when trans_a (else m × k), B n × k
 * when trans_b (else k × n). FP8 (e4m3, scale 1) needs trans_a and not trans_b
 * (cuBLASLt's "TN" layout) and compute capability 8.9 or newer. */
typedef struct kt_gemm_shape {
    kt_gemm_dtype dtype;
    int trans_a, trans_b;
    int64_t m, n, k;
    int64_t lda, ldb, ldc;
    int batch;
    int64_t stride_a, stride_b, stride_c;
} kt_gemm_shape;

/* A planned multiply. Owns its descriptors; lt and workspace are the caller's. */
typedef struct kt_gemm {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    void *workspace;
    size_t workspace_bytes;
} kt_gemm;

/* A linear layer out[M][N] = x[M][K] · W[N][K]^T with row-major x, W and
 * out: the TN call with A = W, B = x. */
void kt_gemm_linear(kt_gemm_shape *s, kt_gemm_dtype dt, int64_t M, int64_t N, int64_t K);

/* Plans s. Returns 0; 1 when cuBLASLt has no algorithm for it on this GPU
 * (e.g. FP8 before Ada/Hopper; g is then empty); -1 with err on an error.
 * kt_gemm_free afterwards in every case. */
int kt_gemm_init(kt_gemm *g, cublasLtHandle_t lt, const kt_gemm_shape *s, void *workspace,
                 size_t workspace_bytes, kt_err *err);
/* Enqueues C = op(A) · op(B) on stream. */
int kt_gemm_run(const kt_gemm *g, const void *A, const void *B, void *C, cudaStream_t stream, kt_err *err);
void kt_gemm_free(kt_gemm *g);

#endif
