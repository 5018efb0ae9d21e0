// kernels_elem.cu — the non-GEMM work of the prefill upper bound (causal softmax) and of the validation decoder step (RMSNorm, RoPE, KV append, SiLU-mul, residual add), in bf16.
#include "kt_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

namespace {

constexpr int ROW_THREADS = 256;      // one block per row for row-wise kernels
constexpr int ELEM_THREADS = 256;
constexpr int WARP = 32;
constexpr int MAX_GRID_X = 65535 * 16;

__device__ float block_sum(float v, float *scratch)
{
    for (int o = WARP / 2; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < (int)(blockDim.x / WARP); w++)
        total += scratch[w];
    __syncthreads();
    return total;
}

__device__ float block_max(float v, float *scratch)
{
    for (int o = WARP / 2; o > 0; o /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    float m = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x / WARP); w++)
        m = fmaxf(m, scratch[w]);
    __syncthreads();
    return m;
}

// One block per row (head × query); columns j > row are masked.
__global__ void causal_softmax_kernel(__nv_bfloat16 *s, int n, float scale)
{
    __shared__ float scratch[ROW_THREADS / WARP];
    const size_t row = blockIdx.x;
    const int i = (int)(row % n);
    __nv_bfloat16 *r = s + row * n;
    float m = -INFINITY;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        m = fmaxf(m, __bfloat162float(r[j]) * scale);
    m = block_max(m, scratch);
    float sum = 0.f;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        sum += expf(__bfloat162float(r[j]) * scale - m);
    sum = block_sum(sum, scratch);
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        r[j] = __float2bfloat16(j <= i ? expf(__bfloat162float(r[j]) * scale - m) / sum : 0.f);
}

__global__ void rmsnorm_kernel(__nv_bfloat16 *out, const __nv_bfloat16 *x, const __nv_bfloat16 *w,
                               int hidden, float eps)
{
    __shared__ float scratch[ROW_THREADS / WARP];
    const __nv_bfloat16 *xr = x + (size_t)blockIdx.x * hidden;
    __nv_bfloat16 *o = out + (size_t)blockIdx.x * hidden;
    float ss = 0.f;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        float v = __bfloat162float(xr[i]);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / hidden + eps);
    for (int i = threadIdx.x; i < hidden; i += blockDim.x)
        o[i] = __float2bfloat16(__bfloat162float(xr[i]) * inv * __bfloat162float(w[i]));
}

// One block per row; threads cover (head, pair) of the q and k heads.
__global__ void rope_kernel(__nv_bfloat16 *qkv, int64_t row_stride, int heads, int head_dim,
                            const int32_t *pos, float theta)
{
    __nv_bfloat16 *r = qkv + (size_t)blockIdx.x * row_stride;
    const int half = head_dim / 2;
    const float p = (float)pos[blockIdx.x];
    for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
        int h = i / half, k = i % half;
        float freq = powf(theta, -2.0f * k / head_dim), sn, cs;
        sincosf(p * freq, &sn, &cs);
        __nv_bfloat16 *e = r + (size_t)h * head_dim;
        float a = __bfloat162float(e[k]), b = __bfloat162float(e[k + half]);
        e[k] = __float2bfloat16(a * cs - b * sn);
        e[k + half] = __float2bfloat16(b * cs + a * sn);
    }
}

// One block per row: writes its k and v heads into the token's page slot.
__global__ void kv_append_kernel(__half *k_pool, __half *v_pool, const __nv_bfloat16 *qkv,
                                 int64_t row_stride, int64_t k_off, int64_t v_off, int kv_heads,
                                 int head_dim, int page_log2, const int32_t *block_table,
                                 int max_pages, const int32_t *ctx_len)
{
    const int r = blockIdx.x, tok = ctx_len[r] - 1;
    const size_t page = (size_t)block_table[(size_t)r * max_pages + (tok >> page_log2)];
    const size_t slot = (size_t)(tok & ((1 << page_log2) - 1));
    const __nv_bfloat16 *row = qkv + (size_t)r * row_stride;
    for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
        int h = i / head_dim, d = i % head_dim;
        size_t dst = ((page * kv_heads + h) * ((size_t)1 << page_log2) + slot) * head_dim + d;
        k_pool[dst] = __float2half(__bfloat162float(row[k_off + i]));
        v_pool[dst] = __float2half(__bfloat162float(row[v_off + i]));
    }
}

__global__ void silu_mul_kernel(__nv_bfloat16 *out, const __nv_bfloat16 *gu, int inter, size_t n)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        size_t r = i / inter, c = i % inter;
        float g = __bfloat162float(gu[r * 2 * inter + c]), u = __bfloat162float(gu[r * 2 * inter + inter + c]);
        out[i] = __float2bfloat16(g / (1.f + expf(-g)) * u);
    }
}

__global__ void add_kernel(__nv_bfloat16 *x, const __nv_bfloat16 *y, size_t n)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        x[i] = __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(y[i]));
}

unsigned elem_blocks(size_t n)
{
    size_t b = (n + ELEM_THREADS - 1) / ELEM_THREADS;
    return (unsigned)(b < 1 ? 1 : b > (size_t)MAX_GRID_X ? (size_t)MAX_GRID_X : b);
}

}  // namespace

extern "C" cudaError_t kt_launch_causal_softmax(void *scores, int heads, int n, float scale, cudaStream_t s)
{
    causal_softmax_kernel<<<(unsigned)((size_t)heads * n), ROW_THREADS, 0, s>>>(
        static_cast<__nv_bfloat16 *>(scores), n, scale);
    return cudaGetLastError();
}

extern "C" cudaError_t kt_launch_rmsnorm(void *out, const void *x, const void *w, int rows, int hidden,
                                         float eps, cudaStream_t s)
{
    rmsnorm_kernel<<<rows, ROW_THREADS, 0, s>>>(static_cast<__nv_bfloat16 *>(out),
                                                static_cast<const __nv_bfloat16 *>(x),
                                                static_cast<const __nv_bfloat16 *>(w), hidden, eps);
    return cudaGetLastError();
}

extern "C" cudaError_t kt_launch_rope(void *qkv, int rows, int64_t row_stride, int q_heads, int kv_heads,
                                      int head_dim, const int32_t *pos, float theta, cudaStream_t s)
{
    rope_kernel<<<rows, ROW_THREADS, 0, s>>>(static_cast<__nv_bfloat16 *>(qkv), row_stride,
                                             q_heads + kv_heads, head_dim, pos, theta);
    return cudaGetLastError();
}

extern "C" cudaError_t kt_launch_kv_append(void *k_pool, void *v_pool, const void *qkv, int rows,
                                           int64_t row_stride, int64_t k_offset, int64_t v_offset,
                                           int kv_heads, int head_dim, int page_log2,
                                           const int32_t *block_table, int max_pages,
                                           const int32_t *ctx_len, cudaStream_t s)
{
    kv_append_kernel<<<rows, ROW_THREADS, 0, s>>>(
        static_cast<__half *>(k_pool), static_cast<__half *>(v_pool),
        static_cast<const __nv_bfloat16 *>(qkv), row_stride, k_offset, v_offset, kv_heads, head_dim,
        page_log2, block_table, max_pages, ctx_len);
    return cudaGetLastError();
}

extern "C" cudaError_t kt_launch_silu_mul(void *out, const void *gate_up, int rows, int inter, cudaStream_t s)
{
    size_t n = (size_t)rows * inter;
    silu_mul_kernel<<<elem_blocks(n), ELEM_THREADS, 0, s>>>(static_cast<__nv_bfloat16 *>(out),
                                                            static_cast<const __nv_bfloat16 *>(gate_up),
                                                            inter, n);
    return cudaGetLastError();
}

extern "C" cudaError_t kt_launch_add(void *x, const void *y, size_t n, cudaStream_t s)
{
    add_kernel<<<elem_blocks(n), ELEM_THREADS, 0, s>>>(static_cast<__nv_bfloat16 *>(x),
                                                       static_cast<const __nv_bfloat16 *>(y), n);
    return cudaGetLastError();
}
