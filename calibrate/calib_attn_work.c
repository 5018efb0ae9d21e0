/* calib_attn_work.c — FLOPs of causal attention with a cached prefix and KV bytes of a decode call. */
#include "calib_attn_work.h"

/* Q·Kᵀ and P·V each take a multiply and an add per element of head_dim. */
#define FLOPS_PER_PAIR_PER_DIM 4.0
/* A decode call reads both K and V. */
#define KV_TENSORS 2.0

double calib_attn_work_causal_flops(int heads, int head_dim, int64_t q_tokens, int64_t prefix_tokens)
{
    if (q_tokens <= 0)
        return 0;
    double q = (double)q_tokens, pairs = q * (double)prefix_tokens + q * (q + 1.0) / 2.0;
    return FLOPS_PER_PAIR_PER_DIM * heads * head_dim * pairs;
}

double calib_attn_work_decode_kv_bytes(int batch, int kv_heads, int head_dim, int64_t ctx_tokens,
                                       double elem_bytes)
{
    return KV_TENSORS * batch * kv_heads * head_dim * (double)ctx_tokens * elem_bytes;
}
