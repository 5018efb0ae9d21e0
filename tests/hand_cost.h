/* hand_cost.h — the cost model's terms worked by hand for Llama-3.1-8B on the H100 profile with flat efficiency curves, shared by the tests that check iteration times. */
#ifndef KT_HAND_COST_H
#define KT_HAND_COST_H

#include "hw.h"

/* The H100 profile with the flat curves below (the including test loads it). */
static hw_profile *h100;

/* The flat efficiencies the hand formulas use. */
#define EFF_GEMM 0.7
#define EFF_ATTN 0.6
#define EFF_MEM 0.9
#define EFF_AR 0.8

/* One point at size 1: every real size is above it, so the curve is flat. */
static inline curve flat(double y, curve_x_kind kind)
{
    curve c = { .n = 1, .x_kind = kind, .y_max = 2, .x = { 1 }, .y = { y } };
    return c;
}

/* h's curves made flat and its host overhead zero; without all-gather,
 * all-to-all and point-to-point curves, NVLink transfers other than the
 * all-reduce run at efficiency.nvlink with one nvlink_latency each. */
static inline void flatten(hw_profile *h)
{
    for (int d = 0; d < DTYPE_COUNT; d++)
        h->gemm[d].n = h->attn_prefill[d].n = 0;
    h->gemm[DTYPE_BF16] = flat(EFF_GEMM, CURVE_X_TOKENS);
    h->attn_prefill[DTYPE_BF16] = flat(EFF_ATTN, CURVE_X_TOKENS);
    h->memory = h->small_ops = h->attn_decode = flat(EFF_MEM, CURVE_X_BYTES);
    h->allreduce = flat(EFF_AR, CURVE_X_BYTES);
    h->allgather.n = h->alltoall.n = h->p2p.n = 0;
    h->decode_item_ns = 0;
    for (int d = 0; d < DTYPE_COUNT; d++)
        h->attn_prefill_hd64[d].n = h->attn_prefill_hd256[d].n = 0;
    h->allgather_latency_ns = h->alltoall_latency_ns = h->p2p_latency_ns = 0;
    h->host_step_ns = h->host_seq_ns = 0;
}

/* A small memory-bound kernel moving b bytes: at EFF_MEM of HBM, never
 * under the profile's floor. */
static inline double small_k(double b)
{
    double t = 1e9 * b / (3.35e12 * EFF_MEM), f = (double)h100->small_op_floor_ns;
    return t > f ? t : f;
}

/* Llama-3.1-8B's small kernels for T tokens over `layers` layers, plus the
 * embedding, final norm and the sampling of L rows (128256 fp32 logits):
 * per layer two fused add+norms (4·T·4096·2 B), RoPE on 32 + 8 heads
 * (2·T·40·128·2 B), the KV write (T × 4096 B read, 4096 B written) and the
 * activation (3·T·14336·2 B). */
static inline double llama8b_small_ns(double layers, double T, double L)
{
    double layer = 2 * small_k(4 * T * 4096 * 2) + small_k(2 * T * 40 * 128 * 2) + small_k(T * 4096 * 2) +
                   small_k(3 * T * 14336 * 2);
    return layers * layer + 2 * small_k(2 * T * 4096 * 2) + (L > 0 ? small_k(2 * L * 128256 * 4) : 0);
}

/* max(compute, memory) of one op in ns, written out again here so the test
 * does not lean on cost.c's helper. */
static inline double op(double flops, double flops_per_s, double bytes, double bytes_per_s)
{
    double a = flops / flops_per_s, b = bytes / bytes_per_s;
    return 1e9 * (a > b ? a : b);
}

/* Llama-3.1-8B's four GEMMs per layer (hidden 4096, 32 heads, 8 KV heads,
 * head dim 128, FFN 14336) for T tokens over `layers` layers, one GPU. */
static inline double llama8b_layers_gemm_ns(double layers, double T)
{
    const double n[] = { (32 + 2 * 8) * 128, 4096, 2 * 14336, 4096 };
    const double k[] = { 4096, 32 * 128, 4096, 14336 };
    double gemm_fps = 989.4e12 * EFF_GEMM, bw = 3.35e12 * EFF_MEM, ns = 0;
    for (int i = 0; i < 4; i++)
        ns += layers * op(2 * T * n[i] * k[i], gemm_fps, 2 * n[i] * k[i] + 2 * T * (n[i] + k[i]), bw);
    return ns;
}

/* Its lm_head (vocab 128256 × hidden 4096) for L logit rows. */
static inline double llama8b_lm_ns(double L)
{
    return op(2 * L * 128256 * 4096.0, 989.4e12 * EFF_GEMM,
              2 * 128256 * 4096.0 + 2 * L * (128256 + 4096.0), 3.35e12 * EFF_MEM);
}

/* All 32 layers' GEMMs for T tokens plus the lm_head for L logits. */
static inline double llama8b_gemm_ns(double T, double L)
{
    return llama8b_layers_gemm_ns(32, T) + llama8b_lm_ns(L);
}

/* Llama-3.1-8B KV of one token in one layer, whole on one GPU: 2 × 8 heads × 128 × 2 B. */
#define LLAMA8B_KV_LAYER 4096.0

/* One global layer's attention FLOPs for n new tokens after c cached:
 * 4 × 32 heads × 128 × (n·c + n(n+1)/2). */
static inline double llama8b_attn_flops(double n, double c)
{
    return 4.0 * 32 * 128 * (n * c + n * (n + 1) / 2);
}

/* One layer's attention op: flops at the attention rate, bytes at HBM's. */
static inline double attn_op(double flops, double bytes)
{
    return op(flops, 989.4e12 * EFF_ATTN, bytes, 3.35e12 * EFF_MEM);
}

/* All 32 layers' attention for n new tokens after c cached, reading c+n tokens of KV. */
static inline double llama8b_attn_ns(double n, double c)
{
    return 32 * attn_op(llama8b_attn_flops(n, c), (c + n) * LLAMA8B_KV_LAYER);
}

#endif
