/* sparse_attn.h — sparse decode attention by page selection (Quest-style): which layers select, how many tokens a decode step reads, and the bytes of the per-page metadata it scores pages with. */
#ifndef KT_SPARSE_ATTN_H
#define KT_SPARSE_ATTN_H

#include <stdint.h>

#include "conf.h"
#include "dtype.h"
#include "err.h"
#include "model.h"

/* What a step scores pages with: the element-wise minimum and maximum of
 * each page's keys (Quest), or nothing (the selection is given, or every
 * page is selected). */
typedef enum { SPARSE_META_MINMAX, SPARSE_META_NONE, SPARSE_META_COUNT } sparse_attn_metadata;
extern const char *const sparse_attn_metadata_names[SPARSE_META_COUNT + 1];

/* The scenario's `sparse_attention:` section; off when on is 0.
 * Invariants (on): page_tokens >= 1; budget_tokens a positive multiple of
 * page_tokens; 0 <= recall <= 1; 0 <= dense_layers < the model's layers;
 * hbm_tokens >= 0 (budget_tokens unless given);
 * kv_tier_index is -1 (KV stays in HBM) or the index of the tier named
 * kv_tier, which holds the prompt's KV of the sparse layers. */
typedef struct sparse_attn_cfg {
    int on;
    int64_t budget_tokens;      /* tokens each sparse layer attends to per decode step */
    int page_tokens;            /* one page: the unit of selection and of transfer */
    sparse_attn_metadata metadata;
    double recall;              /* share of a step's tier pages the predictor named the step before */
    int prefetch;               /* 0: no predictor; every page from the tier faults */
    int dense_layers;           /* the first layers attend to the whole context (and keep it in HBM) */
    char kv_tier[32];           /* "" when the KV stays in HBM */
    int64_t hbm_tokens;         /* with kv_tier: the prompt's last tokens the sparse layers keep in HBM */
    int kv_tier_index;          /* resolved by the scenario loader; -1 none */
} sparse_attn_cfg;

/* Reads `sparse_attention` (optional) from the scenario root for model m,
 * page_tokens defaulting to the KV block's block_tokens. Leaves kv_tier
 * unresolved (kv_tier_index -1). Returns 0, or -1 with err at the key. */
int sparse_attn_from_conf(conf_node *root, const model_card *m, int block_tokens, sparse_attn_cfg *c, kt_err *err);

/* 1 when layer selects pages at decode: sparse attention is on, the layer
 * is past the dense ones and attends globally (windowed layers already
 * hold little; MLA has no per-head keys to bound). */
int sparse_attn_layer_sparse(const sparse_attn_cfg *c, const model_card *m, int layer);
/* Layers of m that select pages. */
int sparse_attn_sparse_layers(const sparse_attn_cfg *c, const model_card *m);

/* Pages a context of tokens tokens spans: ceil(tokens / page_tokens). */
int64_t sparse_attn_pages(const sparse_attn_cfg *c, int64_t tokens);
/* Pages a decode step selects in one sparse layer over a cached context:
 * the budget's pages, or every page when the context has fewer. */
int64_t sparse_attn_selected_pages(const sparse_attn_cfg *c, int64_t cached_tokens);
/* Tokens a decode step reads in one sparse layer: its selected pages,
 * never more than the context. */
int64_t sparse_attn_read_tokens(const sparse_attn_cfg *c, int64_t cached_tokens);
/* Tokens' worth of attention work that scoring the pages costs: one query
 * against a page's minimum and maximum keys is one token's QK and PV work
 * (4 × heads × head_dim FLOPs), so one per page with minmax, none without. */
int64_t sparse_attn_scored_tokens(const sparse_attn_cfg *c, int64_t cached_tokens);
/* Metadata bytes one page of layer holds on one GPU of a tp group: with
 * minmax two key vectors, 2 × head_dim × (KV heads on the GPU) × bytes of
 * the KV dtype; 0 without. */
double sparse_attn_metadata_bytes_page_gpu(const sparse_attn_cfg *c, const model_card *m, int layer, kt_dtype kv,
                                           int tp);
/* HBM bytes one decode step of one sequence reads in sparse layer `layer`
 * on one GPU: the selected pages' KV plus the metadata of every page of
 * the context (the sum the cost model charges). */
double sparse_attn_layer_read_bytes_gpu(const sparse_attn_cfg *c, const model_card *m, int layer, kt_dtype kv, int tp,
                                        int64_t cached_tokens);
/* Bytes of one page of one sparse layer over the whole replica (every KV
 * head once) at dtype: what moves when the page moves. Mean over the sparse
 * layers; 0 when none. */
double sparse_attn_page_bytes(const sparse_attn_cfg *c, const model_card *m, kt_dtype dtype);
/* Share of a token's KV bytes (all layers, at dtype) in the sparse layers:
 * what leaves HBM when a token's KV goes to the tier. */
double sparse_attn_sparse_share(const sparse_attn_cfg *c, const model_card *m, kt_dtype dtype);

#endif
