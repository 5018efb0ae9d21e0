/* model.h — model cards: the shapes of a transformer, per-layer attention kind, and the FLOPs and bytes they imply. */
#ifndef KT_MODEL_H
#define KT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "dtype.h"
#include "err.h"
#include "quant.h"

typedef enum { ATTN_GLOBAL, ATTN_SLIDING, ATTN_CHUNKED, ATTN_MLA, ATTN_KIND_COUNT } model_attn_kind;
typedef enum { FFN_DENSE, FFN_MOE, FFN_KIND_COUNT } model_ffn_kind;

extern const char *const model_attn_names[ATTN_KIND_COUNT + 1]; /* "global","sliding","chunked","mla" */
extern const char *const model_ffn_names[FFN_KIND_COUNT + 1];   /* "dense","moe" */

/* One decoder layer. window_tokens: the sliding window or the chunk size
 * (0 for global and MLA layers, which see the whole context). kv_back and
 * kv_dtype are set by kv_plan (cross-layer sharing, per-layer precision);
 * zero means the layer stores its own KV at the served dtype.
 * Invariants (kv_plan_check): the source layer (index − kv_back) stores its
 * own KV and attends alike (same kind and window); a sharing layer has no
 * dtype of its own. */
typedef struct model_layer {
    model_attn_kind attn;
    int64_t window_tokens;
    model_ffn_kind ffn;
    int kv_back;               /* layers back to the one whose KV this layer attends to; 0: its own */
    int kv_own_dtype;          /* 1: kv_dtype replaces the served KV dtype for this layer */
    kt_dtype kv_dtype;
} model_layer;

/* A model card.
 * Invariants: n_layers == length of layers; n_heads % n_kv_heads == 0;
 * every ATTN_SLIDING/ATTN_CHUNKED layer has window_tokens > 0, every other 0;
 * ATTN_MLA layers only when mla_kv_lora_rank > 0; FFN_MOE layers only when
 * n_experts > 0 and 0 < n_experts_active <= n_experts. */
typedef struct model_card {
    char name[64];
    char source[512];          /* where the figures came from (config.json URL, paper) */
    int n_layers;
    int hidden;                /* d_model */
    int n_heads;               /* query heads */
    int n_kv_heads;
    int head_dim;
    int vocab;
    int tie_embeddings;        /* lm_head shares the embedding matrix */
    int64_t ffn_dense;         /* intermediate size of dense FFN layers (gated: 3 matrices) */
    int64_t ffn_expert;        /* intermediate size of one routed expert */
    int64_t ffn_shared;        /* intermediate size of the shared expert(s) total, 0 if none */
    int n_experts;             /* routed experts (0 for dense models) */
    int n_experts_active;      /* routed experts per token */
    /* MLA (DeepSeek-V2/V3); all 0 when the model has no MLA layers. */
    int mla_q_lora_rank;
    int mla_kv_lora_rank;
    int mla_qk_nope_dim;
    int mla_qk_rope_dim;
    int mla_v_head_dim;
    kt_dtype weight_dtype;     /* element format of the weights in HBM (== quant's stored format) */
    quant_cfg quant;           /* weight format with its scales: from weight_dtype, or `quantization:` */
    int64_t max_context_tokens;
    int kv_dequant;            /* 1: attention first dequantizes KV narrower than the activations in a pass of its
                                * own; 0: its kernel reads the packed format (kv.packed_attention) */
    model_layer *layers;       /* n_layers entries, owned */
} model_card;

/* Loads a card from a YAML file (models/NAME.yaml). NULL with err on failure
 * (file:line:col: key: what). Caller frees with model_free. */
model_card *model_load(const char *path, kt_err *err);
/* The same for YAML text of len bytes that errors call name. */
model_card *model_load_string(const char *text, size_t len, const char *name, kt_err *err);
/* Builds a card from a parsed YAML mapping; marks the keys it reads.
 * Unknown keys are left for the caller's conf_check_unused. */
model_card *model_from_conf(conf_node *root, kt_err *err);
void model_free(model_card *m);
/* Serves m's weights in format q (a scenario's `quantization:`): sets
 * quant and weight_dtype together. */
void model_set_quant(model_card *m, const quant_cfg *q);
/* Invariant checker for the struct above. */
int model_check(const model_card *m, kt_err *err);

/* KV elements per token of the KV layer `layer` attends to: 2 × kv_heads ×
 * head_dim, or kv_lora_rank + qk_rope_dim for MLA layers. */
double model_kv_elems_per_token_layer(const model_card *m, int layer);
/* The dtype that KV is held in: its source layer's own dtype, else kv. */
kt_dtype model_layer_kv_dtype(const model_card *m, int layer, kt_dtype kv);
/* 1 when layer stores KV of its own (0: it reads an earlier layer's). */
int model_layer_stores_kv(const model_card *m, int layer);
/* KV bytes per token that layer attends over (what its attention reads):
 * model_kv_elems_per_token_layer × bytes of model_layer_kv_dtype. */
double model_kv_bytes_per_token_layer(const model_card *m, int layer, kt_dtype kv);
/* KV bytes one token adds to layer's store: the bytes above when it stores
 * its own KV, 0 when it shares another layer's. */
double model_kv_stored_bytes_per_token_layer(const model_card *m, int layer, kt_dtype kv);
/* Stored bytes summed over all layers, ignoring windows (what one more
 * token costs in a context shorter than every window). */
double model_kv_bytes_per_token(const model_card *m, kt_dtype kv);
/* 1 when layer l's KV is paged by token (a KV block holds block_tokens
 * tokens of every such layer): it sees the whole context, or no layer of the
 * model does. Otherwise its KV is a window the sequence holds apart. */
int model_layer_paged(const model_card *m, int layer);
/* Sum of model_kv_stored_bytes_per_token_layer over the paged layers. */
double model_kv_paged_bytes_per_token(const model_card *m, kt_dtype kv);
/* KV held for a context of ctx tokens: windowed and chunked layers hold at
 * most window_tokens tokens each; sharing layers hold none. */
double model_kv_bytes(const model_card *m, int64_t ctx_tokens, kt_dtype kv);
/* Tokens of KV layer l holds for a context of ctx tokens. */
int64_t model_layer_kv_tokens(const model_card *m, int layer, int64_t ctx_tokens);

/* Parameter counts (weights, not bytes). total counts every expert; active
 * counts the routed experts a token uses plus shared ones. Both include the
 * embedding and (untied) lm_head matrices. */
double model_params_total(const model_card *m);
double model_params_active(const model_card *m);
/* The part of both outside the decoder layers: embedding, final norm and
 * (unless tied) the lm_head. */
double model_params_outer(const model_card *m);
/* Weight bytes = total params × quant_bytes_param (scales included). */
double model_weight_bytes(const model_card *m);

/* The matrix multiplies of one layer, for the cost model. A GEMM multiplies
 * [tokens × k] by [k × n]. DENSE: every token of the batch goes through it.
 * EXPERT: one routed expert's matrix; each token goes through
 * n_experts_active of the n_experts copies. */
typedef enum { MODEL_GEMM_DENSE, MODEL_GEMM_EXPERT } model_gemm_kind;
typedef struct model_gemm {
    const char *name;          /* "qkv", "o", "gate_up", "down", "q_a", ... (static) */
    int64_t n, k;
    model_gemm_kind kind;
} model_gemm;
#define MODEL_MAX_GEMMS 12
/* Fills out[] with layer l's GEMMs (attention projections, FFN / shared
 * expert / one routed expert, router). Returns the count (<= MODEL_MAX_GEMMS). */
int model_layer_gemms(const model_card *m, int layer, model_gemm *out);

/* Attention FLOPs of layer l for n_new tokens appended after cached ones
 * (QK^T and PV, 2 FLOPs per multiply-add): 2 × heads × (d_qk + d_v) × Σ span(p)
 * over the new positions p = cached .. cached+n_new-1, where span(p) = p+1 for
 * global/MLA layers, min(p+1, W) for sliding, (p mod W)+1 for chunked.
 * For a global layer with d_qk = d_v = head_dim this is
 * 4 × heads × head_dim × (n·c + n(n+1)/2). */
double model_attn_flops(const model_card *m, int layer, int64_t n_new, int64_t cached);

/* Looks a card up by name: "llama-3.1-8b" -> <dir>/llama-3.1-8b.yaml; a
 * path ending in ".json" is a Hugging Face config.json, imported on the fly
 * (model_import_load). */
model_card *model_load_named(const char *name, const char *const *dirs, kt_err *err);

/* Converts a Hugging Face config.json into model card YAML written to out.
 * Handles Llama (incl. Llama-4 text_config), Mistral, Mixtral, DeepSeek-V3;
 * refuses any other model_type or architecture, and a card kvtier's own
 * reader would refuse (nothing is written to out then). Each default taken
 * for a key the config leaves out is said on notes, one line each (NULL:
 * silent). Returns 0, or -1 with err (file and what key is wrong). */
int model_import_hf(const char *config_json_path, const char *name, FILE *out, FILE *notes, kt_err *err);

/* The card name for a config.json at path: its file name without ".json",
 * or, for a file called config.json, its folder's name (a Hugging Face
 * checkout: "Llama-3.1-8B/config.json" -> "Llama-3.1-8B"). Written into buf
 * (n bytes), which is returned. */
const char *model_import_card_name(const char *path, char *buf, size_t n);

/* Imports a config.json in memory and loads the card (model_import_hf, then
 * model_load_string; the defaults it assumes are not printed: `kvtier model
 * import` shows them). Caller frees with model_free; NULL with err. */
model_card *model_import_load(const char *config_json_path, kt_err *err);

#endif
