/* kt_kernels.h — C interface to the calibration kernels written in CUDA (kernels_*.cu): streams, copies, launch probes, paged decode attention, prefill softmax and decoder elementwise work. */
#ifndef KT_KERNELS_H
#define KT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every launcher enqueues on stream s and returns cudaGetLastError(). Pointers
 * are device pointers (or mapped host pointers where said) owned by the caller. */

/* ---------- memory streams (kernels_mem.cu) ---------- */

/* Reads bytes (a multiple of 16) from src; folds what it read into *sink
 * only under a condition that never holds, so the loads cannot be elided. */
cudaError_t kt_launch_read(const void *src, size_t bytes, unsigned long long *sink, cudaStream_t s);
/* dst[i] = src[i] over bytes (a multiple of 16). Either side may be a peer
 * GPU's memory (peer access enabled) or mapped pinned host memory. */
cudaError_t kt_launch_copy(void *dst, const void *src, size_t bytes, cudaStream_t s);
/* a[i] = b[i] + scalar * c[i] over n floats (n a multiple of 4). */
cudaError_t kt_launch_triad(float *a, const float *b, const float *c, size_t n, float scalar,
                            cudaStream_t s);
/* Copies n_blocks blocks of block_bytes (a multiple of 16): block i from
 * src + src_offsets[i] to dst + dst_offsets[i] (byte offsets, device arrays).
 * With src in mapped pinned host memory this is the KV fetch gather; with
 * dst there, the offload scatter. */
cudaError_t kt_launch_block_copy(void *dst, const uint64_t *dst_offsets, const void *src,
                                 const uint64_t *src_offsets, size_t block_bytes, int n_blocks,
                                 cudaStream_t s);

/* Element formats the fill kernel writes. */
typedef enum { KT_FILL_BF16, KT_FILL_FP16, KT_FILL_FP8 } kt_fill_kind;
/* Fills n elements with pseudo-random values in [-1, 1) (a hash of the index
 * and seed): realistic operands for GEMMs and attention, never NaN. */
cudaError_t kt_launch_fill(void *buf, size_t n, kt_fill_kind kind, uint32_t seed, cudaStream_t s);

/* ---------- launch probes ---------- */

/* A kernel that does nothing (one block of one thread). */
cudaError_t kt_launch_empty(cudaStream_t s);
/* A kernel that spins for about ns nanoseconds of GPU time (globaltimer). */
cudaError_t kt_launch_spin(uint64_t ns, cudaStream_t s);

/* ---------- paged decode attention (kernels_attn.cu) ---------- */

typedef enum { KT_KV_FP16, KT_KV_FP8 } kt_kv_dtype;

/* Largest query-head group per KV head, and the token tile one block stages
 * in shared memory (splits are multiples of it). */
#define KT_ATTN_MAX_GROUP 8
#define KT_ATTN_TILE_TOKENS 64
/* From this group size on, KT_ATTN_MATH_AUTO scores and weighs on tensor
 * cores: a 16-row MMA then does at least a quarter useful work, and decode
 * engines (FlashInfer, vLLM) switch to tensor cores for such groups too. */
#define KT_ATTN_TENSOR_MIN_GROUP 4

/* Which arithmetic the split kernel uses: float FMA for any group, or FP16
 * MMA (wmma 16x16x16, float accumulation) with the group padded to 16 rows.
 * AUTO picks tensor cores for groups of KT_ATTN_TENSOR_MIN_GROUP or more. */
typedef enum { KT_ATTN_MATH_AUTO, KT_ATTN_MATH_FLOAT, KT_ATTN_MATH_TENSOR } kt_attn_math;

/* One decode step of paged attention: every sequence b has one new query
 * (kv_heads × group heads of head_dim) attending to ctx_len[b] cached tokens.
 * KV pools are [n_pages][kv_heads][page_tokens][head_dim] of kv_dtype (FP8:
 * e4m3, scale 1); sequence b's token t is in page block_table[b × max_pages
 * + t / page_tokens] at slot t % page_tokens. The context is split into
 * `splits` ranges of tokens_per_split tokens (a multiple of the tile); each
 * (sequence, KV head, split) block writes a partial softmax to the workspace
 * and a second kernel combines them (flash-decoding). A block reads each
 * KV row of its range from memory once and uses it for all `group` query
 * heads of its KV head.
 * Workspace: kt_attn_workspace_floats() floats. */
typedef struct kt_attn_args {
    const void *q;             /* bf16 [batch][q_stride]: query heads × head_dim first */
    int64_t q_stride;          /* elements between sequences' queries */
    const void *k_pool;
    const void *v_pool;
    const int32_t *block_table;/* [batch][max_pages] */
    const int32_t *ctx_len;    /* [batch] */
    int max_pages;
    int batch;
    int kv_heads;
    int group;                 /* query heads per KV head, 1..KT_ATTN_MAX_GROUP */
    int head_dim;              /* 64 or 128 */
    int page_log2;             /* page_tokens = 1 << page_log2 */
    kt_kv_dtype kv_dtype;
    int splits;
    int tokens_per_split;
    float *workspace;
    void *out;                 /* [batch][kv_heads × group][head_dim] */
    int out_bf16;              /* 1: bf16 output, 0: float */
    kt_attn_math math;         /* KT_ATTN_MATH_AUTO unless a check forces one path */
} kt_attn_args;

size_t kt_attn_workspace_floats(int batch, int kv_heads, int group, int head_dim, int splits);
/* 1 when a launch with this math and group runs the tensor-core kernel. */
int kt_attn_uses_tensor_cores(kt_attn_math math, int group);
/* Blocks of the split kernel that a's dtype, head dim, group and math select
 * that fit on one SM at once (cudaOccupancyMaxActiveBlocksPerMultiprocessor):
 * with the SM count, one wave of the grid (calib_decode_splits). */
cudaError_t kt_attn_blocks_per_sm(const kt_attn_args *a, int *blocks);
cudaError_t kt_launch_paged_decode(const kt_attn_args *a, cudaStream_t s);

/* ---------- prefill softmax (kernels_elem.cu) ---------- */

/* Causal softmax in place over rows of bf16 scores [heads][n][n]: row i keeps
 * columns j <= i, scaled by scale before exp; the rest become 0. */
cudaError_t kt_launch_causal_softmax(void *scores, int heads, int n, float scale, cudaStream_t s);

/* ---------- decoder elementwise work (kernels_elem.cu), bf16 ---------- */

/* out[r] = x[r] / rms(x[r]) * w, rows × hidden. */
cudaError_t kt_launch_rmsnorm(void *out, const void *x, const void *w, int rows, int hidden,
                              float eps, cudaStream_t s);
/* Rotary embedding in place on the q heads and k heads of each row of a
 * fused QKV activation [rows][row_stride] (q heads at 0, k heads after),
 * at position pos[r]. */
cudaError_t kt_launch_rope(void *qkv, int rows, int64_t row_stride, int q_heads, int kv_heads,
                           int head_dim, const int32_t *pos, float theta, cudaStream_t s);
/* Writes each row's k and v (at k_offset, v_offset elements into a QKV row)
 * as the token at position ctx_len[r] - 1 of sequence r into the FP16 pools. */
cudaError_t kt_launch_kv_append(void *k_pool, void *v_pool, const void *qkv, int rows,
                                int64_t row_stride, int64_t k_offset, int64_t v_offset,
                                int kv_heads, int head_dim, int page_log2,
                                const int32_t *block_table, int max_pages, const int32_t *ctx_len,
                                cudaStream_t s);
/* out[r][i] = silu(gu[r][i]) * gu[r][inter + i], rows × inter. */
cudaError_t kt_launch_silu_mul(void *out, const void *gate_up, int rows, int inter, cudaStream_t s);
/* x[i] += y[i] over n elements. */
cudaError_t kt_launch_add(void *x, const void *y, size_t n, cudaStream_t s);

/* ---------- host-side conversions (for data generation and references) ---------- */

/* Rounds f[i] to the nearest representable value of the format and writes
 * it to dst (bf16/fp16: 2 bytes each, fp8 e4m3: 1 byte); f[i] is replaced by
 * the rounded value, so a host reference sees exactly what the GPU reads. */
void kt_host_to_bf16(void *dst, float *f, size_t n);
void kt_host_to_kv(void *dst, float *f, size_t n, kt_kv_dtype dt);
/* Bytes of one KV element. */
size_t kt_kv_bytes(kt_kv_dtype dt);

#ifdef __cplusplus
}
#endif

#endif
