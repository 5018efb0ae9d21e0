/* sparse_attn.c — sparse decode attention by page selection: scenario settings, the layers that select, tokens read and metadata bytes per step. */
#include "sparse_attn.h"
#include "kv_layout.h"

#include <string.h>

const char *const sparse_attn_metadata_names[SPARSE_META_COUNT + 1] = { "minmax", "none", NULL };
/* prefetch: off | on, as the predictor is spoken of. */
static const char *const prefetch_names[] = { "off", "on", NULL };

/* budget_tokens must hold whole pages, at least one. */
static int check_budget(conf_node *n, const sparse_attn_cfg *c, kt_err *err)
{
    if (c->budget_tokens >= c->page_tokens && c->budget_tokens % c->page_tokens == 0)
        return 0;
    CONF_ERROR(err, conf_find(n, "budget_tokens"), "%lld is not a positive multiple of "
               "page_tokens %d", (long long)c->budget_tokens, c->page_tokens);
    return -1;
}

int sparse_attn_from_conf(conf_node *root, const model_card *m, int block_tokens, sparse_attn_cfg *c, kt_err *err)
{
    memset(c, 0, sizeof *c);
    c->kv_tier_index = -1;
    conf_node *n = conf_take(root, "sparse_attention");
    if (!n)
        return 0;
    double budget = 0, hbm = -1;
    int meta = SPARSE_META_MINMAX;
    c->on = 1;
    c->page_tokens = block_tokens;
    c->recall = 1;
    c->prefetch = 1;
    if (conf_expect(n, CONF_MAP, err) < 0 ||
        conf_qty(n, "budget_tokens", CONF_REQUIRED, UNITS_TOKENS, 1, 1e12, &budget, err) < 0 ||
        conf_i64_of(conf_find(n, "budget_tokens"), budget, &c->budget_tokens, err) < 0 ||
        conf_int(n, "page_tokens", CONF_OPTIONAL, 1, 65536, &c->page_tokens, err) < 0 ||
        conf_enum(n, "metadata", CONF_OPTIONAL, sparse_attn_metadata_names, &meta, err) < 0 ||
        conf_f64(n, "recall", CONF_OPTIONAL, 0, 1, &c->recall, err) < 0 ||
        conf_enum(n, "prefetch", CONF_OPTIONAL, prefetch_names, &c->prefetch, err) < 0 ||
        conf_int(n, "dense_layers", CONF_OPTIONAL, 0, m->n_layers - 1, &c->dense_layers, err) < 0 ||
        conf_str_copy(n, "kv_tier", CONF_OPTIONAL, c->kv_tier, sizeof c->kv_tier, err) < 0 ||
        conf_qty(n, "hbm_tokens", CONF_OPTIONAL, UNITS_TOKENS, 0, 1e12, &hbm, err) < 0)
        return -1;
    c->hbm_tokens = c->budget_tokens;
    if (hbm >= 0 && conf_i64_of(conf_find(n, "hbm_tokens"), hbm, &c->hbm_tokens, err) < 0)
        return -1;
    c->metadata = (sparse_attn_metadata)meta;
    if (check_budget(n, c, err) < 0)
        return -1;
    if (sparse_attn_sparse_layers(c, m) > 0)
        return 0;
    CONF_ERROR(err, n, "sparse_attention: no layer of %s selects pages (global-attention layers past the first "
               "%d dense ones)", m->name, c->dense_layers);
    return -1;
}

int sparse_attn_layer_sparse(const sparse_attn_cfg *c, const model_card *m, int layer)
{
    return c->on && layer >= c->dense_layers && m->layers[layer].attn == ATTN_GLOBAL;
}

int sparse_attn_sparse_layers(const sparse_attn_cfg *c, const model_card *m)
{
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        n += sparse_attn_layer_sparse(c, m, l);
    return n;
}

int64_t sparse_attn_pages(const sparse_attn_cfg *c, int64_t tokens)
{
    return (tokens + c->page_tokens - 1) / c->page_tokens;
}

int64_t sparse_attn_selected_pages(const sparse_attn_cfg *c, int64_t cached_tokens)
{
    int64_t all = sparse_attn_pages(c, cached_tokens), budget = c->budget_tokens / c->page_tokens;
    return all < budget ? all : budget;
}

int64_t sparse_attn_read_tokens(const sparse_attn_cfg *c, int64_t cached_tokens)
{
    int64_t t = sparse_attn_selected_pages(c, cached_tokens) * c->page_tokens;
    return t < cached_tokens ? t : cached_tokens;
}

int64_t sparse_attn_scored_tokens(const sparse_attn_cfg *c, int64_t cached_tokens)
{
    return c->metadata == SPARSE_META_MINMAX ? sparse_attn_pages(c, cached_tokens) : 0;
}

double sparse_attn_metadata_bytes_page_gpu(const sparse_attn_cfg *c, const model_card *m, int layer, kt_dtype kv,
                                           int tp)
{
    if (c->metadata == SPARSE_META_NONE)
        return 0;
    return 2.0 * m->head_dim * kv_layout_layer_heads_gpu(m, layer, tp) * dtype_bytes(kv);
}

double sparse_attn_layer_read_bytes_gpu(const sparse_attn_cfg *c, const model_card *m, int layer, kt_dtype kv, int tp,
                                        int64_t cached_tokens)
{
    return (double)sparse_attn_read_tokens(c, cached_tokens) * kv_layout_layer_bytes_token_gpu(m, layer, kv, tp) +
           (double)sparse_attn_pages(c, cached_tokens) * sparse_attn_metadata_bytes_page_gpu(c, m, layer, kv, tp);
}

double sparse_attn_page_bytes(const sparse_attn_cfg *c, const model_card *m, kt_dtype dtype)
{
    double sum = 0;
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (sparse_attn_layer_sparse(c, m, l)) {
            sum += model_kv_bytes_per_token_layer(m, l, dtype);
            n++;
        }
    return n ? sum / n * c->page_tokens : 0;
}

double sparse_attn_sparse_share(const sparse_attn_cfg *c, const model_card *m, kt_dtype dtype)
{
    double sparse = 0, all = 0;
    for (int l = 0; l < m->n_layers; l++) {
        double b = model_kv_bytes_per_token_layer(m, l, dtype);
        all += b;
        sparse += sparse_attn_layer_sparse(c, m, l) ? b : 0;
    }
    return all > 0 ? sparse / all : 0;
}
