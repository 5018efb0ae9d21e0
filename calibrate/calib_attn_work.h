/* calib_attn_work.h — the work one attention call does, counted once for the benchmarks that record it and the plan that estimates it: causal FLOPs with a cached prefix, and the KV bytes a decode call reads. */
#ifndef KT_CALIB_ATTN_WORK_H
#define KT_CALIB_ATTN_WORK_H

#include <stdint.h>

/* FLOPs of causal attention for q_tokens new queries after prefix_tokens
 * cached ones (bottom-right aligned mask: new query i, 0-based, sees the
 * prefix and new keys 0..i), over heads query heads of head_dim: two
 * matrix products of 2·head_dim FLOPs per (query, visible key) pair, so
 * 4·heads·head_dim·(q·prefix + q(q+1)/2) — the count sim/model/model.c's
 * model_attn_flops makes for a layer. Pure; 0 for q_tokens <= 0. */
double calib_attn_work_causal_flops(int heads, int head_dim, int64_t q_tokens, int64_t prefix_tokens);

/* Bytes one decode call reads of the KV: K and V of ctx_tokens tokens, for
 * kv_heads heads of head_dim elements of elem_bytes each, per sequence of
 * batch. Queries, outputs and page tables are not counted (they are a
 * per-token fraction of it and the same for every KV layout). Pure. */
double calib_attn_work_decode_kv_bytes(int batch, int kv_heads, int head_dim, int64_t ctx_tokens,
                                       double elem_bytes);

#endif
