/* calib_attn_ref.h — host reference for paged decode attention, against which the CUDA kernel is checked on small cases. */
#ifndef KT_CALIB_ATTN_REF_H
#define KT_CALIB_ATTN_REF_H

#include <stddef.h>
#include <stdint.h>

/* Shape of one decode step over a paged KV pool (see kt_kernels.h). */
typedef struct calib_attn_shape {
    int batch;
    int kv_heads;
    int group;                 /* query heads per KV head */
    int head_dim;
    int page_tokens;
    int max_pages;             /* block-table row length */
    int n_pages;               /* pages in the pool */
} calib_attn_shape;

/* out[b][qh][d] = Σ_t softmax_t(q[b][qh] · k_t / sqrt(head_dim)) v_t[d] over
 * the ctx_len[b] tokens of sequence b, where token t lives in page
 * block_table[b × max_pages + t / page_tokens] at slot t % page_tokens of
 * pools laid out [n_pages][kv_heads][page_tokens][head_dim], and query head
 * qh reads KV head qh / group. q is [batch][kv_heads × group][head_dim].
 * Accumulates in double. Sequences with ctx_len 0 get zeros. Returns 0, or
 * -1 for a shape or block-table entry out of range (out then undefined).
 * All arrays are the caller's. */
int calib_paged_attn_ref(const calib_attn_shape *s, const float *q, const float *k_pool,
                         const float *v_pool, const int32_t *block_table, const int32_t *ctx_len,
                         float *out);

#endif
