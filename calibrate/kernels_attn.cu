// kernels_attn.cu — our paged decode attention: each (sequence, KV head, context split) block stages KV tiles through shared memory with an online softmax, a second kernel combines the splits.
#include "kt_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <math.h>

namespace {

constexpr int THREADS = 128;
constexpr int WARP = 32;
constexpr int WARPS = THREADS / WARP;
constexpr int TILE = KT_ATTN_TILE_TOKENS;
constexpr int MAX_G = KT_ATTN_MAX_GROUP;
constexpr int VEC = 16;               // bytes per vector load
constexpr int PAD_BYTES = 16;         // per staged row: keeps quarter-warp 16-byte reads conflict-free
constexpr int STAGE_UNROLL = 4;       // vector loads each thread keeps in flight per pool
constexpr int MAX_PAGE_LOG2 = 12;

__device__ __forceinline__ float kv_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float kv_to_float(__nv_fp8_e4m3 x) { return static_cast<float>(x); }

template <typename KV, int D>
struct layout {
    static constexpr int ROW_BYTES = D * (int)sizeof(KV);
    static constexpr int STRIDE = ROW_BYTES + PAD_BYTES;
    static constexpr int VECS = ROW_BYTES / VEC;
    static constexpr int PER_VEC = VEC / (int)sizeof(KV);
    static constexpr int HEADS_PER_PASS = THREADS / D;   // heads one thread column covers in turn
    static constexpr int ACC = MAX_G / HEADS_PER_PASS;
};

// Byte offset in a pool of token tok's row for KV head h.
__device__ __forceinline__ size_t row_offset(const kt_attn_args &a, const int32_t *blocks, int h, int tok,
                                             int row_bytes)
{
    size_t page = (size_t)blocks[tok >> a.page_log2];
    size_t slot = (size_t)(tok & ((1 << a.page_log2) - 1));
    return ((page * a.kv_heads + h) * ((size_t)1 << a.page_log2) + slot) * row_bytes;
}

// Copies the K and V rows of tokens [t0, t0 + n) into shared memory, with
// STAGE_UNROLL loads per pool in flight per thread.
template <typename KV, int D>
__device__ void stage_tiles(unsigned char *k_s, unsigned char *v_s, const kt_attn_args &a,
                            const int32_t *blocks, int h, int t0, int n)
{
    using L = layout<KV, D>;
    const unsigned char *kp = static_cast<const unsigned char *>(a.k_pool);
    const unsigned char *vp = static_cast<const unsigned char *>(a.v_pool);
    const int total = n * L::VECS;
    for (int base = threadIdx.x; base < total; base += THREADS * STAGE_UNROLL) {
        uint4 kr[STAGE_UNROLL], vr[STAGE_UNROLL];
#pragma unroll
        for (int u = 0; u < STAGE_UNROLL; u++) {
            int i = base + u * THREADS;
            if (i < total) {
                int tk = i / L::VECS, part = i - tk * L::VECS;
                size_t off = row_offset(a, blocks, h, t0 + tk, L::ROW_BYTES) + (size_t)part * VEC;
                kr[u] = *reinterpret_cast<const uint4 *>(kp + off);
                vr[u] = *reinterpret_cast<const uint4 *>(vp + off);
            }
        }
#pragma unroll
        for (int u = 0; u < STAGE_UNROLL; u++) {
            int i = base + u * THREADS;
            if (i < total) {
                int tk = i / L::VECS, part = i - tk * L::VECS;
                *reinterpret_cast<uint4 *>(k_s + tk * L::STRIDE + part * VEC) = kr[u];
                *reinterpret_cast<uint4 *>(v_s + tk * L::STRIDE + part * VEC) = vr[u];
            }
        }
    }
}

// q · k for one staged K row (q already scaled).
template <typename KV, int D>
__device__ float dot_row(const unsigned char *row, const float *q)
{
    using L = layout<KV, D>;
    float acc = 0.f;
#pragma unroll
    for (int part = 0; part < L::VECS; part++) {
        uint4 raw = *reinterpret_cast<const uint4 *>(row + part * VEC);
        const KV *e = reinterpret_cast<const KV *>(&raw);
#pragma unroll
        for (int j = 0; j < L::PER_VEC; j++)
            acc += q[part * L::PER_VEC + j] * kv_to_float(e[j]);
    }
    return acc;
}

__device__ float warp_max(float v)
{
    for (int o = WARP / 2; o > 0; o /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ float warp_sum(float v)
{
    for (int o = WARP / 2; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Online softmax over one tile's scores: turns p[g][*] into exp(s - m_new),
// and records the running max, sum and the rescale factor of the old sums.
__device__ void softmax_update(float (*p)[TILE], float *m, float *l, float *alpha, int G)
{
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    for (int g = warp; g < G; g += WARPS) {
        float tmax = -INFINITY;
        for (int t = lane; t < TILE; t += WARP)
            tmax = fmaxf(tmax, p[g][t]);
        tmax = warp_max(tmax);
        float m_new = fmaxf(m[g], tmax);
        float sum = 0.f;
        for (int t = lane; t < TILE; t += WARP) {
            float e = expf(p[g][t] - m_new);
            p[g][t] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            float a = expf(m[g] - m_new);
            alpha[g] = a;
            l[g] = l[g] * a + sum;
            m[g] = m_new;
        }
    }
}

template <typename KV, int D>
__global__ void __launch_bounds__(THREADS) decode_split_kernel(kt_attn_args a)
{
    using L = layout<KV, D>;
    __shared__ __align__(16) unsigned char k_s[TILE * L::STRIDE];
    __shared__ __align__(16) unsigned char v_s[TILE * L::STRIDE];
    __shared__ float q_s[MAX_G][D];
    __shared__ float p_s[MAX_G][TILE];
    __shared__ float m_s[MAX_G], l_s[MAX_G], alpha_s[MAX_G];

    const int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z, G = a.group;
    const int t_begin = split * a.tokens_per_split;
    const int t_end = min(a.ctx_len[b], t_begin + a.tokens_per_split);
    const int32_t *blocks = a.block_table + (size_t)b * a.max_pages;
    const float scale = rsqrtf((float)D);

    const __nv_bfloat16 *q = static_cast<const __nv_bfloat16 *>(a.q) + (size_t)b * a.q_stride +
                             (size_t)h * G * D;
    for (int i = threadIdx.x; i < G * D; i += THREADS)
        q_s[i / D][i % D] = __bfloat162float(q[i]) * scale;
    if (threadIdx.x < MAX_G) {
        m_s[threadIdx.x] = -INFINITY;
        l_s[threadIdx.x] = 0.f;
    }
    const int d = threadIdx.x % D, g0 = threadIdx.x / D;
    float acc[L::ACC];
#pragma unroll
    for (int k = 0; k < L::ACC; k++)
        acc[k] = 0.f;
    __syncthreads();

    for (int t0 = t_begin; t0 < t_end; t0 += TILE) {
        const int n = min(TILE, t_end - t0);
        stage_tiles<KV, D>(k_s, v_s, a, blocks, h, t0, n);
        __syncthreads();
        for (int j = threadIdx.x; j < G * TILE; j += THREADS) {
            int g = j / TILE, tk = j % TILE;
            p_s[g][tk] = tk < n ? dot_row<KV, D>(k_s + tk * L::STRIDE, q_s[g]) : -INFINITY;
        }
        __syncthreads();
        softmax_update(p_s, m_s, l_s, alpha_s, G);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < L::ACC; k++) {
            int g = g0 + k * L::HEADS_PER_PASS;
            if (g < G) {
                float sum = acc[k] * alpha_s[g];
                for (int tk = 0; tk < n; tk++)
                    sum += p_s[g][tk] * kv_to_float(reinterpret_cast<const KV *>(v_s + tk * L::STRIDE)[d]);
                acc[k] = sum;
            }
        }
        __syncthreads();
    }

    const size_t idx = ((size_t)b * a.kv_heads + h) * a.splits + split;
    const size_t n_idx = (size_t)a.batch * a.kv_heads * a.splits;
    float *ws_acc = a.workspace + idx * G * D;
    float *ws_m = a.workspace + n_idx * G * D + idx * G;
    float *ws_l = ws_m + n_idx * G;
#pragma unroll
    for (int k = 0; k < L::ACC; k++) {
        int g = g0 + k * L::HEADS_PER_PASS;
        if (g < G)
            ws_acc[g * D + d] = acc[k];
    }
    if (threadIdx.x < G) {
        ws_m[threadIdx.x] = m_s[threadIdx.x];
        ws_l[threadIdx.x] = l_s[threadIdx.x];
    }
}

__device__ __forceinline__ void store_out(float *out, size_t i, float v) { out[i] = v; }
__device__ __forceinline__ void store_out(__nv_bfloat16 *out, size_t i, float v) { out[i] = __float2bfloat16(v); }

// One block per (sequence, query head), one thread per element of head_dim.
template <typename OUT>
__global__ void decode_combine_kernel(kt_attn_args a)
{
    const int D = a.head_dim, G = a.group, d = threadIdx.x;
    const int qh = blockIdx.x, b = blockIdx.y, h = qh / G, g = qh % G;
    const size_t n_idx = (size_t)a.batch * a.kv_heads * a.splits;
    const size_t first = ((size_t)b * a.kv_heads + h) * a.splits;
    const float *ws_m = a.workspace + n_idx * G * D;
    const float *ws_l = ws_m + n_idx * G;
    float m_max = -INFINITY;
    for (int s = 0; s < a.splits; s++)
        m_max = fmaxf(m_max, ws_m[(first + s) * G + g]);
    float l = 0.f, o = 0.f;
    for (int s = 0; s < a.splits && m_max > -INFINITY; s++) {
        float m = ws_m[(first + s) * G + g];
        if (m == -INFINITY)
            continue;
        float w = expf(m - m_max);
        l += w * ws_l[(first + s) * G + g];
        o += w * a.workspace[((first + s) * G + g) * D + d];
    }
    store_out(static_cast<OUT *>(a.out), ((size_t)b * a.kv_heads * G + qh) * D + d, l > 0 ? o / l : 0.f);
}

bool args_ok(const kt_attn_args *a)
{
    return a && a->group >= 1 && a->group <= MAX_G && (a->head_dim == 64 || a->head_dim == 128) &&
           a->page_log2 >= 0 && a->page_log2 <= MAX_PAGE_LOG2 && a->splits >= 1 &&
           a->tokens_per_split > 0 && a->tokens_per_split % TILE == 0 && a->batch >= 1 &&
           a->kv_heads >= 1 && a->workspace && a->out && a->q && a->k_pool && a->v_pool;
}

template <typename KV>
void launch_split(const kt_attn_args *a, cudaStream_t s)
{
    dim3 grid(a->splits, a->kv_heads, a->batch);
    if (a->head_dim == 64)
        decode_split_kernel<KV, 64><<<grid, THREADS, 0, s>>>(*a);
    else
        decode_split_kernel<KV, 128><<<grid, THREADS, 0, s>>>(*a);
}

}  // namespace

extern "C" size_t kt_attn_workspace_floats(int batch, int kv_heads, int group, int head_dim, int splits)
{
    return (size_t)batch * kv_heads * splits * group * (head_dim + 2);
}

extern "C" int kt_attn_choose_splits(int batch, int kv_heads, int max_ctx, int target_blocks,
                                     int *tokens_per_split)
{
    int base = batch * kv_heads > 0 ? batch * kv_heads : 1;
    int splits = (target_blocks + base - 1) / base;
    if (splits < 1)
        splits = 1;
    int tps = (max_ctx + splits - 1) / splits;
    tps = ((tps + TILE - 1) / TILE) * TILE;
    if (tps < TILE)
        tps = TILE;
    *tokens_per_split = tps;
    return (max_ctx + tps - 1) / tps > 0 ? (max_ctx + tps - 1) / tps : 1;
}

extern "C" cudaError_t kt_launch_paged_decode(const kt_attn_args *a, cudaStream_t s)
{
    if (!args_ok(a))
        return cudaErrorInvalidValue;
    if (a->kv_dtype == KT_KV_FP8)
        launch_split<__nv_fp8_e4m3>(a, s);
    else
        launch_split<__half>(a, s);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    dim3 grid(a->kv_heads * a->group, a->batch);
    if (a->out_bf16)
        decode_combine_kernel<__nv_bfloat16><<<grid, a->head_dim, 0, s>>>(*a);
    else
        decode_combine_kernel<float><<<grid, a->head_dim, 0, s>>>(*a);
    return cudaGetLastError();
}

// ---------- host conversions ----------

extern "C" void kt_host_to_bf16(void *dst, float *f, size_t n)
{
    __nv_bfloat16 *d = static_cast<__nv_bfloat16 *>(dst);
    for (size_t i = 0; i < n; i++) {
        d[i] = __float2bfloat16(f[i]);
        f[i] = __bfloat162float(d[i]);
    }
}

extern "C" void kt_host_to_kv(void *dst, float *f, size_t n, kt_kv_dtype dt)
{
    if (dt == KT_KV_FP8) {
        __nv_fp8_e4m3 *d = static_cast<__nv_fp8_e4m3 *>(dst);
        for (size_t i = 0; i < n; i++) {
            d[i] = __nv_fp8_e4m3(f[i]);
            f[i] = static_cast<float>(d[i]);
        }
        return;
    }
    __half *d = static_cast<__half *>(dst);
    for (size_t i = 0; i < n; i++) {
        d[i] = __float2half(f[i]);
        f[i] = __half2float(d[i]);
    }
}

extern "C" size_t kt_kv_bytes(kt_kv_dtype dt) { return dt == KT_KV_FP8 ? 1 : 2; }
