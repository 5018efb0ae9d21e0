/* kv_layout.c — KV geometry: the head-share rule, scale metadata of sub-byte dtypes, and a replica's bytes per token, block and context. */
#include "kv_layout.h"

int kv_layout_kv_heads_gpu(const model_card *m, int tp)
{
    return (m->n_kv_heads + tp - 1) / tp;
}

int kv_layout_layer_heads_gpu(const model_card *m, int layer, int tp)
{
    return m->layers[layer].attn == ATTN_MLA ? m->n_kv_heads : kv_layout_kv_heads_gpu(m, tp);
}

double kv_layout_layer_share(const model_card *m, int layer, int tp)
{
    if (m->layers[layer].attn == ATTN_MLA)
        return 1.0;
    return (double)kv_layout_layer_heads_gpu(m, layer, tp) / m->n_kv_heads;
}

double kv_layout_layer_bytes_token_gpu(const model_card *m, int layer, kt_dtype kv, int tp)
{
    double per_token = model_kv_bytes_per_token_layer(m, layer, kv);
    if (m->layers[layer].attn == ATTN_MLA)
        return per_token;
    return per_token * kv_layout_layer_heads_gpu(m, layer, tp) / m->n_kv_heads;
}

double kv_layout_scale_bytes_elem(kt_dtype dtype, int quant_group)
{
    return dtype_bytes(dtype) < 1 ? KV_LAYOUT_SCALE_BYTES / quant_group : 0;
}

double kv_layout_elem_bytes(kt_dtype dtype, int quant_group)
{
    double per = dtype_bytes(dtype);
    if (per < 1)
        per += KV_LAYOUT_SCALE_BYTES / quant_group;
    return per;
}

/* Bits of one element of a sub-byte dtype (4 or 2). */
static int packed_bits(kt_dtype dtype)
{
    return (int)(dtype_bytes(dtype) * 8);
}

int kv_layout_packed_per_byte(kt_dtype dtype)
{
    return dtype_bytes(dtype) < 1 ? 8 / packed_bits(dtype) : 0;
}

int kv_layout_packed_elem_of_bit(kt_dtype dtype, int bit)
{
    int bits = packed_bits(dtype);
    return bit >= 0 && bit < 8 && bit % bits == 0 ? bit / bits : -1;
}

uint64_t kv_layout_packed_data_bytes(kt_dtype dtype, uint64_t run_elems)
{
    uint64_t per = (uint64_t)kv_layout_packed_per_byte(dtype);
    return (run_elems + per - 1) / per;
}

uint64_t kv_layout_packed_run_bytes(kt_dtype dtype, int quant_group, uint64_t run_elems)
{
    uint64_t groups = (run_elems + (uint64_t)quant_group - 1) / (uint64_t)quant_group;
    return kv_layout_packed_data_bytes(dtype, run_elems) + groups * (uint64_t)KV_LAYOUT_SCALE_BYTES;
}

uint64_t kv_layout_packed_elem_offset(kt_dtype dtype, uint64_t e, int *bit)
{
    uint64_t per = (uint64_t)kv_layout_packed_per_byte(dtype);
    *bit = (int)(e % per) * packed_bits(dtype);
    return e / per;
}

uint64_t kv_layout_packed_scale_offset(kt_dtype dtype, int quant_group, uint64_t run_elems, uint64_t e)
{
    return kv_layout_packed_data_bytes(dtype, run_elems) + e / (uint64_t)quant_group * (uint64_t)KV_LAYOUT_SCALE_BYTES;
}

void kv_layout_packed_locate(kt_dtype dtype, int quant_group, uint64_t run_elems, uint64_t offset,
                             kv_layout_packed_at *at)
{
    uint64_t data = kv_layout_packed_data_bytes(dtype, run_elems), per = (uint64_t)kv_layout_packed_per_byte(dtype);
    uint64_t first, last;
    if (offset < data) {
        first = offset * per;
        last = first + per;
        *at = (kv_layout_packed_at){ .scale = 0, .first_elem = first };
    } else {
        uint64_t g = (offset - data) / (uint64_t)KV_LAYOUT_SCALE_BYTES;
        first = g * (uint64_t)quant_group;
        last = first + (uint64_t)quant_group;
        *at = (kv_layout_packed_at){ .scale = 1, .first_elem = first,
                                     .entry_byte = (int)((offset - data) % (uint64_t)KV_LAYOUT_SCALE_BYTES) };
    }
    /* A run's last byte or group may be partly filled. */
    at->elems = (int)((last < run_elems ? last : run_elems) - first);
}

double kv_layout_stored_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens)
{
    /* Elements per token of the paged layers that store KV, by the dtype
     * each is held in (layers without one of their own: dtype). */
    double elems[DTYPE_COUNT] = { 0 }, b = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (model_layer_paged(m, l) && model_layer_stores_kv(m, l))
            elems[model_layer_kv_dtype(m, l, dtype)] += model_kv_elems_per_token_layer(m, l);
    for (int d = 0; d < DTYPE_COUNT; d++)
        if (elems[d] > 0)
            b += block_tokens * elems[d] * kv_layout_elem_bytes((kt_dtype)d, quant_group);
    return b;
}

/* One token of group g's layers on one GPU: its stage's share, 1/cp of the
 * tokens; 0 for layers that read another layer's KV. */
static double group_bytes_token_gpu(const cost_model *cm, const cost_attn_group *g)
{
    return g->stores ? g->count * g->kv_bytes_token_gpu * cm->stage_share / cm->par.cp : 0;
}

double kv_layout_paged_bytes_token_gpu(const cost_model *cm)
{
    double b = 0;
    for (int i = 0; i < cm->n_groups; i++)
        if (model_layer_paged(cm->m, cm->groups[i].layer))
            b += group_bytes_token_gpu(cm, &cm->groups[i]);
    return b;
}

int kv_layout_window_groups(const cost_model *cm, int64_t *window_tokens, double *bytes_token_gpu, int max)
{
    int n = 0;
    for (int i = 0; i < cm->n_groups && n < max; i++)
        if (!model_layer_paged(cm->m, cm->groups[i].layer) && cm->groups[i].stores) {
            window_tokens[n] = cm->groups[i].window_tokens;
            bytes_token_gpu[n++] = group_bytes_token_gpu(cm, &cm->groups[i]);
        }
    return n;
}

double kv_layout_context_bytes_gpu(const cost_model *cm, int64_t tokens)
{
    double b = kv_layout_paged_bytes_token_gpu(cm) * (double)tokens;
    for (int i = 0; i < cm->n_groups; i++)
        if (!model_layer_paged(cm->m, cm->groups[i].layer))
            b += group_bytes_token_gpu(cm, &cm->groups[i]) *
                 (double)model_layer_kv_tokens(cm->m, cm->groups[i].layer, tokens);
    return b;
}

void kv_layout_init(kv_layout *l, const cost_model *cm, int quant_group, int block_tokens)
{
    *l = (kv_layout){ .m = cm->m, .dtype = cm->kv_dtype, .quant_group = quant_group,
                      .block_tokens = block_tokens, .gpus = cost_par_gpus(&cm->par) };
    l->bytes_token_gpu = kv_layout_paged_bytes_token_gpu(cm);
    l->block_data_bytes_replica = l->bytes_token_gpu * block_tokens * l->gpus;
    l->block_bytes_gpu = l->bytes_token_gpu * block_tokens;
    l->block_bytes_replica = l->block_data_bytes_replica;
    /* Paged bytes per token on one GPU by the dtype they are held in. */
    double by_dtype[DTYPE_COUNT] = { 0 };
    for (int i = 0; i < cm->n_groups; i++)
        if (model_layer_paged(cm->m, cm->groups[i].layer))
            by_dtype[cm->groups[i].kv_dtype] += group_bytes_token_gpu(cm, &cm->groups[i]);
    int sub_byte = 0;
    for (int d = 0; d < DTYPE_COUNT; d++)
        sub_byte |= by_dtype[d] > 0 && dtype_bytes((kt_dtype)d) < 1;
    if (sub_byte) {
        /* Scales as a tier counts them: per element of the block. */
        l->block_bytes_gpu = 0;
        for (int d = 0; d < DTYPE_COUNT; d++) {
            double elems_gpu = by_dtype[d] / dtype_bytes((kt_dtype)d);
            l->scale_bytes_block_gpu += block_tokens * elems_gpu * kv_layout_scale_bytes_elem((kt_dtype)d, quant_group);
            l->block_bytes_gpu += block_tokens * elems_gpu * kv_layout_elem_bytes((kt_dtype)d, quant_group);
        }
        l->block_bytes_replica = l->block_bytes_gpu * l->gpus;
    }
    l->stored_block_bytes = kv_layout_stored_block_bytes(cm->m, l->dtype, quant_group, block_tokens);
    double bytes[KV_LAYOUT_MAX_WINDOWS];
    l->n_windows = kv_layout_window_groups(cm, l->window_tokens, bytes, KV_LAYOUT_MAX_WINDOWS);
    for (int g = 0; g < l->n_windows; g++)
        l->window_ratio[g] = bytes[g] / l->bytes_token_gpu;
}
