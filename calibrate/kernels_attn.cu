// kernels_attn.cu — our paged decode attention: each (sequence, KV head, context split) block stages KV tiles through shared memory once for all query heads of its GQA group, scores them with an online softmax (float math, or tensor-core MMA for groups of 4 or more), and a second kernel combines the splits.
#include "kt_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <math.h>
#include <mma.h>

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
constexpr int MMA = 16;               // wmma m = n = k for FP16 operands
constexpr int HALF_PAD = 8;           // halves of padding per staged FP16 row (wmma: a multiple of 8)
constexpr int FLOAT_PAD = 4;          // floats of padding per staged float row (wmma: a multiple of 4)

__device__ __forceinline__ float kv_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float kv_to_float(__nv_fp8_e4m3 x) { return static_cast<float>(x); }

template <typename KV, int D>
struct layout {
    static constexpr int ROW_BYTES = D * (int)sizeof(KV);
    static constexpr int STRIDE = ROW_BYTES + PAD_BYTES;
    static constexpr int VECS = ROW_BYTES / VEC;
    static constexpr int PER_VEC = VEC / (int)sizeof(KV);
    static constexpr int TOKEN_PARTS = THREADS / D;     // threads sharing one d in the PV pass, each a token range
    static constexpr int DOT_PARTS = THREADS / TILE;    // threads sharing one token's dot products
};

// Byte offset in a pool of token tok's row for KV head h.
__device__ __forceinline__ size_t row_offset(const kt_attn_args &a, const int32_t *blocks, int h, int tok,
                                             int row_bytes)
{
    size_t page = (size_t)blocks[tok >> a.page_log2];
    size_t slot = (size_t)(tok & ((1 << a.page_log2) - 1));
    return ((page * a.kv_heads + h) * ((size_t)1 << a.page_log2) + slot) * row_bytes;
}

// Where a staged 16-byte vector goes: raw bytes (float path) or FP16
// elements (tensor path, FP8 widened exactly).
__device__ __forceinline__ void put_raw_vec(unsigned char *dst, uint4 raw) { *reinterpret_cast<uint4 *>(dst) = raw; }

__device__ __forceinline__ void put_half_vec(__half *dst, uint4 raw, __half) { *reinterpret_cast<uint4 *>(dst) = raw; }
__device__ __forceinline__ void put_half_vec(__half *dst, uint4 raw, __nv_fp8_e4m3)
{
    const __nv_fp8_e4m3 *e = reinterpret_cast<const __nv_fp8_e4m3 *>(&raw);
    __align__(16) __half h[VEC];
#pragma unroll
    for (int j = 0; j < VEC; j++)
        h[j] = __float2half(static_cast<float>(e[j]));
    reinterpret_cast<uint4 *>(dst)[0] = reinterpret_cast<const uint4 *>(h)[0];
    reinterpret_cast<uint4 *>(dst)[1] = reinterpret_cast<const uint4 *>(h)[1];
}

// Loads the K and V rows of tokens [t0, t0 + n) from the pools, with
// STAGE_UNROLL loads per pool in flight per thread, and hands each 16-byte
// vector (token tk, part) to put(k_vec, v_vec, tk, part): every KV byte is
// read from memory once per block, whatever the group size.
template <typename KV, int D, typename PUT>
__device__ __forceinline__ void load_tiles(const kt_attn_args &a, const int32_t *blocks, int h, int t0, int n, PUT put)
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
                int tk = i / L::VECS;
                put(kr[u], vr[u], tk, i - tk * L::VECS);
            }
        }
    }
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

// Online softmax over one tile's scores of head g (one warp): turns them into
// exp(s - m_new) through put(t, e), which returns the weight it kept (the
// tensor path keeps it rounded to FP16, and sums what it multiplies), and
// records the running max, sum and the rescale factor of the old sums.
template <typename GET, typename PUT>
__device__ __forceinline__ void softmax_row(int g, float *m, float *l, float *alpha, GET get, PUT put)
{
    const int lane = threadIdx.x % WARP;
    float tmax = -INFINITY;
    for (int t = lane; t < TILE; t += WARP)
        tmax = fmaxf(tmax, get(t));
    tmax = warp_max(tmax);
    float m_new = fmaxf(m[g], tmax);
    float sum = 0.f;
    for (int t = lane; t < TILE; t += WARP)
        sum += put(t, expf(get(t) - m_new));
    sum = warp_sum(sum);
    if (lane == 0) {
        float a = expf(m[g] - m_new);
        alpha[g] = a;
        l[g] = l[g] * a + sum;
        m[g] = m_new;
    }
}

// Where a block's partial softmax goes: acc [G][D], then m [G], then l [G]
// per (sequence, KV head, split), as decode_combine_kernel reads them.
struct partial_out {
    float *acc, *m, *l;
    __device__ partial_out(const kt_attn_args &a, int b, int h, int split)
    {
        const size_t idx = ((size_t)b * a.kv_heads + h) * a.splits + split;
        const size_t n_idx = (size_t)a.batch * a.kv_heads * a.splits;
        acc = a.workspace + idx * a.group * a.head_dim;
        m = a.workspace + n_idx * a.group * a.head_dim + idx * a.group;
        l = m + n_idx * a.group;
    }
};

// What one block of the split kernel covers: sequence b, KV head h, tokens
// [t_begin, t_end) of its context (empty for a split past a short one), its
// block-table row, and its group's queries.
struct block_range {
    int split, h, b, t_begin, t_end;
    const int32_t *blocks;
    const __nv_bfloat16 *q;    // [group][head_dim]
    __device__ explicit block_range(const kt_attn_args &a)
        : split(blockIdx.x), h(blockIdx.y), b(blockIdx.z), t_begin(split * a.tokens_per_split),
          t_end(min(a.ctx_len[b], t_begin + a.tokens_per_split)), blocks(a.block_table + (size_t)b * a.max_pages),
          q(static_cast<const __nv_bfloat16 *>(a.q) + (size_t)b * a.q_stride + (size_t)h * a.group * a.head_dim)
    {
    }
};

// ---------- float path: any group ----------

// Each token's K row is read from shared memory once for all G heads (a pair
// of threads per token, each half the dimensions); each V element once per
// token for all G heads (a thread per dimension, and per token range when
// THREADS > D). Invariant between tiles: acc[g] holds the unnormalized output
// of this thread's token range, scaled to the running max m_s[g].
template <typename KV, int D>
__global__ void __launch_bounds__(THREADS) decode_split_float(kt_attn_args a)
{
    using L = layout<KV, D>;
    static_assert(THREADS % TILE == 0 && THREADS % D == 0 && L::VECS % L::DOT_PARTS == 0, "thread mapping");
    __shared__ __align__(16) unsigned char k_s[TILE * L::STRIDE];
    __shared__ __align__(16) unsigned char v_s[TILE * L::STRIDE];
    __shared__ float q_s[MAX_G][D];
    __shared__ float p_s[MAX_G][TILE];
    __shared__ float red_s[L::TOKEN_PARTS][MAX_G][D];
    __shared__ float m_s[MAX_G], l_s[MAX_G], alpha_s[MAX_G];

    const block_range r(a);
    const int G = a.group;
    const float scale = rsqrtf((float)D);

    for (int i = threadIdx.x; i < G * D; i += THREADS)
        q_s[i / D][i % D] = __bfloat162float(r.q[i]) * scale;
    if (threadIdx.x < MAX_G) {
        m_s[threadIdx.x] = -INFINITY;
        l_s[threadIdx.x] = 0.f;
    }
    const int d = threadIdx.x % D, part = threadIdx.x / D;            // PV pass
    const int tok = threadIdx.x / L::DOT_PARTS, dot_part = threadIdx.x % L::DOT_PARTS;   // QK pass
    constexpr int DOT_DIMS = D / L::DOT_PARTS;
    float acc[MAX_G];
#pragma unroll
    for (int g = 0; g < MAX_G; g++)
        acc[g] = 0.f;
    __syncthreads();

    for (int t0 = r.t_begin; t0 < r.t_end; t0 += TILE) {
        const int n = min(TILE, r.t_end - t0);
        load_tiles<KV, D>(a, r.blocks, r.h, t0, n, [&](uint4 kv, uint4 vv, int tk, int vec) {
            put_raw_vec(k_s + tk * L::STRIDE + vec * VEC, kv);
            put_raw_vec(v_s + tk * L::STRIDE + vec * VEC, vv);
        });
        __syncthreads();
        // Scores: this thread's share of token tok's row, against every head.
        float dot[MAX_G];
#pragma unroll
        for (int g = 0; g < MAX_G; g++)
            dot[g] = 0.f;
        const unsigned char *krow = k_s + tok * L::STRIDE + dot_part * (L::ROW_BYTES / L::DOT_PARTS);
        for (int v = 0; v < L::VECS / L::DOT_PARTS; v++) {
            uint4 raw = *reinterpret_cast<const uint4 *>(krow + v * VEC);
            const KV *e = reinterpret_cast<const KV *>(&raw);
#pragma unroll
            for (int j = 0; j < L::PER_VEC; j++) {
                const float k = kv_to_float(e[j]);
                const int dim = dot_part * DOT_DIMS + v * L::PER_VEC + j;
#pragma unroll
                for (int g = 0; g < MAX_G; g++)
                    if (g < G)
                        dot[g] += q_s[g][dim] * k;
            }
        }
#pragma unroll
        for (int g = 0; g < MAX_G; g++) {
            if (g < G) {
                float s = dot[g];
                for (int o = L::DOT_PARTS / 2; o > 0; o /= 2)
                    s += __shfl_xor_sync(0xffffffffu, s, o);
                if (dot_part == 0)
                    p_s[g][tok] = tok < n ? s : -INFINITY;
            }
        }
        __syncthreads();
        for (int g = threadIdx.x / WARP; g < G; g += WARPS)
            softmax_row(g, m_s, l_s, alpha_s, [&](int t) { return p_s[g][t]; },
                        [&](int t, float e) { p_s[g][t] = e; return e; });
        __syncthreads();
        // Weighted values: one V element per token, every head.
#pragma unroll
        for (int g = 0; g < MAX_G; g++)
            if (g < G)
                acc[g] *= alpha_s[g];
        for (int tk = part; tk < n; tk += L::TOKEN_PARTS) {
            float v = kv_to_float(reinterpret_cast<const KV *>(v_s + tk * L::STRIDE)[d]);
#pragma unroll
            for (int g = 0; g < MAX_G; g++)
                if (g < G)
                    acc[g] += p_s[g][tk] * v;
        }
        __syncthreads();
    }

    partial_out out(a, r.b, r.h, r.split);
#pragma unroll
    for (int g = 0; g < MAX_G; g++)
        if (g < G)
            red_s[part][g][d] = acc[g];
    __syncthreads();
    for (int i = threadIdx.x; i < G * D; i += THREADS) {
        float sum = 0.f;
        for (int p = 0; p < L::TOKEN_PARTS; p++)
            sum += red_s[p][i / D][i % D];
        out.acc[i] = sum;
    }
    if (threadIdx.x < G) {
        out.m[threadIdx.x] = m_s[threadIdx.x];
        out.l[threadIdx.x] = l_s[threadIdx.x];
    }
}

// ---------- tensor-core path: FP16 MMA, the group padded to 16 rows ----------

// Shared memory of the tensor path. Rows of 16 + padding keep every wmma
// pointer 32-byte aligned (checked below). o (one tile's P·V) reuses k's
// space: K is no longer needed once the scores are out.
template <int D>
struct tc_smem {
    union {
        __half k[TILE][D + HALF_PAD];
        float o[MMA][D + FLOAT_PAD];
    } ko;
    __half v[TILE][D + HALF_PAD];
    __half q[MMA][D + HALF_PAD];
    float s[MMA][TILE + FLOAT_PAD];
    __half p[MMA][TILE + HALF_PAD];
    float m[MMA], l[MMA], alpha[MMA];
};

// S = Q·Kᵀ (warp w: tokens 16w..16w+15) and O_tile = P·V (warp w: dimension
// blocks w, w + WARPS, ...) on tensor cores in FP16 with float accumulation;
// softmax and the running rescale in float. K and V are staged once, as
// FP16 (FP8 widened exactly), and shared by all heads of the group.
template <typename KV, int D>
__global__ void __launch_bounds__(THREADS) decode_split_tensor(kt_attn_args a)
{
    using namespace nvcuda;
    using L = layout<KV, D>;
    static_assert(TILE == WARPS * MMA, "one 16-token score block per warp");
    static_assert(sizeof(tc_smem<D>::ko) % 32 == 0 && (D + HALF_PAD) * 2 * MMA % 32 == 0 &&
                  (TILE + FLOAT_PAD) * 4 * MMA % 32 == 0, "wmma alignment");
    __shared__ __align__(32) tc_smem<D> sm;

    const block_range r(a);
    const int G = a.group, warp = threadIdx.x / WARP;
    const float scale = rsqrtf((float)D);

    // Queries as FP16 (BF16 values in [-2, 2) convert exactly but for
    // subnormals); rows G..15 and the padding rows of P stay zero.
    for (int i = threadIdx.x; i < MMA * D; i += THREADS)
        sm.q[i / D][i % D] = __float2half(i / D < G ? __bfloat162float(r.q[i]) : 0.f);
    for (int i = threadIdx.x; i < MMA * TILE; i += THREADS)
        sm.p[i / TILE][i % TILE] = __float2half(0.f);
    if (threadIdx.x < MMA) {
        sm.m[threadIdx.x] = -INFINITY;
        sm.l[threadIdx.x] = 0.f;
    }
    constexpr int PER_THREAD = MAX_G * D / THREADS;    // output elements (g, d) per thread
    float acc[PER_THREAD];
#pragma unroll
    for (int k = 0; k < PER_THREAD; k++)
        acc[k] = 0.f;
    __syncthreads();

    for (int t0 = r.t_begin; t0 < r.t_end; t0 += TILE) {
        const int n = min(TILE, r.t_end - t0);
        load_tiles<KV, D>(a, r.blocks, r.h, t0, n, [&](uint4 kv, uint4 vv, int tk, int vec) {
            put_half_vec(&sm.ko.k[tk][vec * L::PER_VEC], kv, KV());
            put_half_vec(&sm.v[tk][vec * L::PER_VEC], vv, KV());
        });
        // Rows past the context: zeros, so that 0 · V stays 0 (stale bytes could be NaN).
        for (int i = n * D + threadIdx.x; i < TILE * D; i += THREADS) {
            sm.ko.k[i / D][i % D] = __float2half(0.f);
            sm.v[i / D][i % D] = __float2half(0.f);
        }
        __syncthreads();
        {
            wmma::fragment<wmma::matrix_a, MMA, MMA, MMA, __half, wmma::row_major> fq;
            wmma::fragment<wmma::matrix_b, MMA, MMA, MMA, __half, wmma::col_major> fk;
            wmma::fragment<wmma::accumulator, MMA, MMA, MMA, float> fs;
            wmma::fill_fragment(fs, 0.f);
#pragma unroll
            for (int kk = 0; kk < D; kk += MMA) {
                wmma::load_matrix_sync(fq, &sm.q[0][kk], D + HALF_PAD);
                wmma::load_matrix_sync(fk, &sm.ko.k[warp * MMA][kk], D + HALF_PAD);
                wmma::mma_sync(fs, fq, fk, fs);
            }
            wmma::store_matrix_sync(&sm.s[0][warp * MMA], fs, TILE + FLOAT_PAD, wmma::mem_row_major);
        }
        __syncthreads();
        for (int g = warp; g < G; g += WARPS)
            softmax_row(g, sm.m, sm.l, sm.alpha,
                        [&](int t) { return t < n ? sm.s[g][t] * scale : -INFINITY; },
                        [&](int t, float e) {
                            __half r = __float2half(e);
                            sm.p[g][t] = r;
                            return __half2float(r);
                        });
        __syncthreads();
        for (int j = warp; j < D / MMA; j += WARPS) {
            wmma::fragment<wmma::matrix_a, MMA, MMA, MMA, __half, wmma::row_major> fp;
            wmma::fragment<wmma::matrix_b, MMA, MMA, MMA, __half, wmma::row_major> fv;
            wmma::fragment<wmma::accumulator, MMA, MMA, MMA, float> fo;
            wmma::fill_fragment(fo, 0.f);
#pragma unroll
            for (int kk = 0; kk < TILE; kk += MMA) {
                wmma::load_matrix_sync(fp, &sm.p[0][kk], TILE + HALF_PAD);
                wmma::load_matrix_sync(fv, &sm.v[kk][j * MMA], D + HALF_PAD);
                wmma::mma_sync(fo, fp, fv, fo);
            }
            wmma::store_matrix_sync(&sm.ko.o[0][j * MMA], fo, D + FLOAT_PAD, wmma::mem_row_major);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < PER_THREAD; k++) {
            int i = threadIdx.x + k * THREADS, g = i / D;
            if (g < G)
                acc[k] = acc[k] * sm.alpha[g] + sm.ko.o[g][i % D];
        }
        __syncthreads();
    }

    partial_out out(a, r.b, r.h, r.split);
#pragma unroll
    for (int k = 0; k < PER_THREAD; k++) {
        int i = threadIdx.x + k * THREADS;
        if (i / D < G)
            out.acc[i] = acc[k];
    }
    if (threadIdx.x < G) {
        out.m[threadIdx.x] = sm.m[threadIdx.x];
        out.l[threadIdx.x] = sm.l[threadIdx.x];
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
           a->kv_heads >= 1 && a->workspace && a->out && a->q && a->k_pool && a->v_pool &&
           (a->math == KT_ATTN_MATH_AUTO || a->math == KT_ATTN_MATH_FLOAT || a->math == KT_ATTN_MATH_TENSOR);
}

typedef void (*split_kernel)(kt_attn_args);

template <typename KV, int D>
split_kernel pick_math(const kt_attn_args *a)
{
    return kt_attn_uses_tensor_cores(a->math, a->group) ? decode_split_tensor<KV, D> : decode_split_float<KV, D>;
}

template <typename KV>
split_kernel pick_dim(const kt_attn_args *a)
{
    return a->head_dim == 64 ? pick_math<KV, 64>(a) : pick_math<KV, 128>(a);
}

// The split kernel a launch with these arguments runs (launch and occupancy ask the same).
split_kernel pick_split_kernel(const kt_attn_args *a)
{
    return a->kv_dtype == KT_KV_FP8 ? pick_dim<__nv_fp8_e4m3>(a) : pick_dim<__half>(a);
}

}  // namespace

extern "C" int kt_attn_uses_tensor_cores(kt_attn_math math, int group)
{
    return math == KT_ATTN_MATH_TENSOR || (math == KT_ATTN_MATH_AUTO && group >= KT_ATTN_TENSOR_MIN_GROUP);
}

extern "C" size_t kt_attn_workspace_floats(int batch, int kv_heads, int group, int head_dim, int splits)
{
    return (size_t)batch * kv_heads * splits * group * (head_dim + 2);
}

extern "C" cudaError_t kt_attn_blocks_per_sm(const kt_attn_args *a, int *blocks)
{
    *blocks = 0;
    if (!a || a->group < 1 || a->group > MAX_G || (a->head_dim != 64 && a->head_dim != 128))
        return cudaErrorInvalidValue;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, pick_split_kernel(a), THREADS, 0);
}

extern "C" cudaError_t kt_launch_paged_decode(const kt_attn_args *a, cudaStream_t s)
{
    if (!args_ok(a))
        return cudaErrorInvalidValue;
    dim3 grid(a->splits, a->kv_heads, a->batch);
    pick_split_kernel(a)<<<grid, THREADS, 0, s>>>(*a);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    dim3 cgrid(a->kv_heads * a->group, a->batch);
    if (a->out_bf16)
        decode_combine_kernel<__nv_bfloat16><<<cgrid, a->head_dim, 0, s>>>(*a);
    else
        decode_combine_kernel<float><<<cgrid, a->head_dim, 0, s>>>(*a);
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
