/* calib_attn_ref.c — straightforward double-precision paged decode attention on the host (two passes: max, then weighted sum). */
#include "calib_attn_ref.h"

#include <math.h>
#include <stdlib.h>

static int shape_ok(const calib_attn_shape *s)
{
    return s && s->batch >= 1 && s->kv_heads >= 1 && s->group >= 1 && s->head_dim >= 1 &&
           s->page_tokens >= 1 && s->max_pages >= 1 && s->n_pages >= 1;
}

/* Row of token t of sequence b for KV head h, or NULL when out of range. */
static const float *kv_row(const calib_attn_shape *s, const float *pool, const int32_t *blocks, int h, int t)
{
    int slot_page = t / s->page_tokens;
    if (slot_page >= s->max_pages)
        return NULL;
    int32_t page = blocks[slot_page];
    if (page < 0 || page >= s->n_pages)
        return NULL;
    size_t row = ((size_t)page * s->kv_heads + (size_t)h) * (size_t)s->page_tokens + (size_t)(t % s->page_tokens);
    return pool + row * (size_t)s->head_dim;
}

/* One query head of one sequence; scores[] has room for ctx entries. */
static int one_head(const calib_attn_shape *s, const float *q, const float *k_pool, const float *v_pool,
                    const int32_t *blocks, int h, int ctx, double *scores, float *out)
{
    const int D = s->head_dim;
    const double scale = 1.0 / sqrt((double)D);
    double m = -INFINITY;
    for (int t = 0; t < ctx; t++) {
        const float *k = kv_row(s, k_pool, blocks, h, t);
        if (!k)
            return -1;
        double dot = 0;
        for (int d = 0; d < D; d++)
            dot += (double)q[d] * k[d];
        scores[t] = dot * scale;
        m = fmax(m, scores[t]);
    }
    double sum = 0;
    for (int t = 0; t < ctx; t++) {
        scores[t] = exp(scores[t] - m);
        sum += scores[t];
    }
    for (int d = 0; d < D; d++) {
        double acc = 0;
        for (int t = 0; t < ctx; t++)
            acc += scores[t] * kv_row(s, v_pool, blocks, h, t)[d];
        out[d] = ctx > 0 ? (float)(acc / sum) : 0.0f;
    }
    return 0;
}

int calib_paged_attn_ref(const calib_attn_shape *s, const float *q, const float *k_pool,
                         const float *v_pool, const int32_t *block_table, const int32_t *ctx_len,
                         float *out)
{
    if (!shape_ok(s) || !q || !k_pool || !v_pool || !block_table || !ctx_len || !out)
        return -1;
    int max_ctx = 0;
    for (int b = 0; b < s->batch; b++) {
        if (ctx_len[b] < 0 || ctx_len[b] > s->max_pages * s->page_tokens)
            return -1;
        if (ctx_len[b] > max_ctx)
            max_ctx = ctx_len[b];
    }
    double *scores = malloc((size_t)(max_ctx > 0 ? max_ctx : 1) * sizeof *scores);
    if (!scores)
        return -1;
    const int hq = s->kv_heads * s->group, D = s->head_dim;
    int rc = 0;
    for (int b = 0; b < s->batch && rc == 0; b++)
        for (int qh = 0; qh < hq && rc == 0; qh++) {
            size_t at = ((size_t)b * hq + qh) * D;
            rc = one_head(s, q + at, k_pool, v_pool, block_table + (size_t)b * s->max_pages, qh / s->group,
                          ctx_len[b], scores, out + at);
        }
    free(scores);
    return rc;
}
