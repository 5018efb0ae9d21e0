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

double kv_layout_stored_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens)
{
    /* Elements per token of the paged layers: fp32 bytes / 4. */
    double elems = model_kv_paged_bytes_per_token(m, DTYPE_FP32) / 4.0;
    return block_tokens * elems * kv_layout_elem_bytes(dtype, quant_group);
}

/* One token of group g's layers on one GPU: its stage's share, 1/cp of the tokens. */
static double group_bytes_token_gpu(const cost_model *cm, const cost_attn_group *g)
{
    return g->count * g->kv_bytes_token_gpu * cm->stage_share / cm->par.cp;
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
        if (!model_layer_paged(cm->m, cm->groups[i].layer)) {
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
    if (dtype_bytes(l->dtype) < 1) {
        /* Scales as a tier counts them: per element of the block. */
        double elems_gpu = l->bytes_token_gpu / dtype_bytes(l->dtype);
        l->scale_bytes_block_gpu = block_tokens * elems_gpu * kv_layout_scale_bytes_elem(l->dtype, quant_group);
        l->block_bytes_gpu = block_tokens * elems_gpu * kv_layout_elem_bytes(l->dtype, quant_group);
        l->block_bytes_replica = l->block_bytes_gpu * l->gpus;
    }
    l->stored_block_bytes = kv_layout_stored_block_bytes(cm->m, l->dtype, quant_group, block_tokens);
    double bytes[KV_LAYOUT_MAX_WINDOWS];
    l->n_windows = kv_layout_window_groups(cm, l->window_tokens, bytes, KV_LAYOUT_MAX_WINDOWS);
    for (int g = 0; g < l->n_windows; g++)
        l->window_ratio[g] = bytes[g] / l->bytes_token_gpu;
}
