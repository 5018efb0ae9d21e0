/* model.c — model cards: loading and validating them, and the KV bytes, parameter counts, GEMM shapes and attention FLOPs they imply. */
#include "model.h"
#include "kv_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const model_attn_names[ATTN_KIND_COUNT + 1] = { "global", "sliding", "chunked", "mla", NULL };
const char *const model_ffn_names[FFN_KIND_COUNT + 1] = { "dense", "moe", NULL };

/* Sanity bounds for card figures. They are not model figures: they only
 * catch typos (a stray digit) and keep every product used below (n × k of a
 * GEMM, tokens × bytes) far inside int64 and exact in double. */
enum {
    CARD_MAX_LAYERS = 4096,
    CARD_MAX_DIM = 1 << 20,          /* hidden, head_dim, ranks, intermediate sizes */
    CARD_MAX_HEADS = 1 << 14,
    CARD_MAX_VOCAB = 1 << 24,
    CARD_MAX_EXPERTS = 1 << 16,
};
#define CARD_MAX_TOKENS 1e12        /* context length and window, in tokens */

/* RMSNorm weight vectors a pre-norm decoder layer carries (before attention
 * and before the FFN), each of length hidden. */
#define NORMS_PER_LAYER 2

/* ------------------------------------------------------------------------ */
/* Layer kinds                                                               */

static int attn_is_windowed(model_attn_kind k) { return k == ATTN_SLIDING || k == ATTN_CHUNKED; }

static int card_has_attn(const model_card *m, model_attn_kind k)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].attn == k)
            return 1;
    return 0;
}

static int card_has_ffn(const model_card *m, model_ffn_kind k)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].ffn == k)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loader                                                                    */

/* A list of layer kinds read from a YAML sequence of names ("pattern"). */
typedef struct kind_pattern {
    int *kinds;                /* owned */
    size_t len;
    conf_node *node;           /* the sequence, for error locations (borrowed) */
} kind_pattern;

/* Reads map[key] as a non-empty sequence of names from names[] into *p
 * (p->kinds owned by the caller). Returns 0 or -1 with err. */
static int read_pattern(conf_node *map, const char *key, const char *const *names,
                        int n_layers, kind_pattern *p, kt_err *err)
{
    p->node = conf_take(map, key);
    if (!p->node) {
        CONF_ERROR(err, map, "missing required key '%s'", key);
        return -1;
    }
    if (conf_expect(p->node, CONF_SEQ, err) != 0)
        return -1;
    if (p->node->n_kids == 0) {
        CONF_ERROR(err, p->node, "pattern is empty: list at least one layer kind");
        return -1;
    }
    /* A pattern longer than the model cannot be applied as written. */
    if (p->node->n_kids > (size_t)n_layers) {
        CONF_ERROR(err, p->node, "pattern has %zu entries but the model has only %d layers",
                   p->node->n_kids, n_layers);
        return -1;
    }
    p->len = p->node->n_kids;
    p->kinds = calloc(p->len, sizeof *p->kinds);
    if (!p->kinds) {
        CONF_ERROR(err, p->node, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->len; i++)
        if (conf_scalar_enum(p->node->kids[i], names, &p->kinds[i], err) != 0)
            return -1;
    return 0;
}

static int pattern_has(const kind_pattern *p, int kind)
{
    for (size_t i = 0; i < p->len; i++)
        if (p->kinds[i] == kind)
            return 1;
    return 0;
}

/* Reads a token count (plain integer or "8K"-style quantity) that must be a
 * whole number in [lo, CARD_MAX_TOKENS]. */
static int read_tokens(conf_node *map, const char *key, conf_need need, double lo,
                       int64_t *out, kt_err *err)
{
    double v = (double)*out;
    if (conf_qty(map, key, need, UNITS_TOKENS, lo, CARD_MAX_TOKENS, &v, err) != 0)
        return -1;
    if (v != floor(v)) {
        CONF_ERROR(err, conf_find(map, key), "%.3f is not a whole number of tokens", v);
        return -1;
    }
    return conf_i64_of(conf_find(map, key), v, out, err);
}

/* Rejects key when present: it means nothing for this card. */
static int reject_key(conf_node *map, const char *key, const char *why, kt_err *err)
{
    conf_node *n = conf_find(map, key);
    if (!n)
        return 0;
    conf_mark_used(n);
    CONF_ERROR(err, n, "not allowed here: %s", why);
    return -1;
}

/* Copies a string into a fixed-size card field; too long is an error at n. */
static int copy_field(char *dst, size_t cap, const char *s, conf_node *n, kt_err *err)
{
    if (strlen(s) >= cap) {
        CONF_ERROR(err, n, "too long (at most %zu characters)", cap - 1);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* "source": one string, or a list of strings joined with "; ". */
static int read_source(conf_node *root, model_card *m, kt_err *err)
{
    conf_node *n = conf_find(root, "source");
    if (!n) {
        CONF_ERROR(err, root, "missing required key 'source' (where the figures come from)");
        return -1;
    }
    if (n->kind == CONF_SCALAR) {
        const char *s;
        return conf_str(root, "source", CONF_REQUIRED, &s, err) ? -1
                                                                 : copy_field(m->source, sizeof m->source, s, n, err);
    }
    if (conf_expect(conf_take(root, "source"), CONF_SEQ, err) != 0)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < n->n_kids; i++) {
        const char *s;
        if (conf_scalar_str(n->kids[i], &s, err) != 0)
            return -1;
        int w = snprintf(m->source + used, sizeof m->source - used, "%s%s", i ? "; " : "", s);
        if (w < 0 || (size_t)w >= sizeof m->source - used) {
            CONF_ERROR(err, n, "too long (at most %zu characters in all)", sizeof m->source - 1);
            return -1;
        }
        used += (size_t)w;
    }
    return 0;
}

/* The top-level scalar figures. */
static int read_shape(conf_node *root, model_card *m, kt_err *err)
{
    const char *name;
    if (conf_str(root, "name", CONF_REQUIRED, &name, err) != 0 ||
        copy_field(m->name, sizeof m->name, name, conf_find(root, "name"), err) != 0)
        return -1;
    if (read_source(root, m, err) != 0)
        return -1;
    int dt = 0;
    if (conf_int(root, "layers", CONF_REQUIRED, 1, CARD_MAX_LAYERS, &m->n_layers, err) ||
        conf_int(root, "hidden", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->hidden, err) ||
        conf_int(root, "heads", CONF_REQUIRED, 1, CARD_MAX_HEADS, &m->n_heads, err) ||
        conf_int(root, "kv_heads", CONF_REQUIRED, 1, CARD_MAX_HEADS, &m->n_kv_heads, err) ||
        conf_int(root, "head_dim", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->head_dim, err) ||
        conf_int(root, "vocab", CONF_REQUIRED, 1, CARD_MAX_VOCAB, &m->vocab, err) ||
        conf_bool(root, "tie_embeddings", CONF_REQUIRED, &m->tie_embeddings, err) ||
        conf_enum(root, "weight_dtype", CONF_REQUIRED, dtype_names, &dt, err) ||
        read_tokens(root, "max_context_tokens", CONF_REQUIRED, 1, &m->max_context_tokens, err))
        return -1;
    m->weight_dtype = (kt_dtype)dt;
    m->quant = quant_from_dtype(m->weight_dtype);
    if (m->quant.format == QUANT_COUNT && !conf_find(root, "quantization")) {
        CONF_ERROR(err, conf_find(root, "weight_dtype"), "no weight format stores %s weights; give `quantization:`",
                   dtype_name(m->weight_dtype));
        return -1;
    }
    if (quant_from_conf(root, &m->quant, err) < 0)
        return -1;
    model_set_quant(m, &m->quant);
    /* Grouped-query attention shares each KV head among a whole number of
     * query heads. */
    if (m->n_heads % m->n_kv_heads != 0) {
        CONF_ERROR(err, conf_find(root, "kv_heads"),
                   "heads (%d) is not a multiple of kv_heads (%d)", m->n_heads, m->n_kv_heads);
        return -1;
    }
    return 0;
}

/* attention: {pattern: [...], window_tokens: W}. Fills layers[].attn and
 * window_tokens. */
static int read_attention(conf_node *root, model_card *m, kt_err *err)
{
    conf_node *a = conf_take(root, "attention");
    if (!a) {
        CONF_ERROR(err, root, "missing required key 'attention'");
        return -1;
    }
    if (conf_expect(a, CONF_MAP, err) != 0)
        return -1;
    kind_pattern p = { 0 };
    int rc = -1;
    int64_t window = 0;
    if (read_pattern(a, "pattern", model_attn_names, m->n_layers, &p, err) != 0)
        goto out;
    if (pattern_has(&p, ATTN_SLIDING) || pattern_has(&p, ATTN_CHUNKED)) {
        if (read_tokens(a, "window_tokens", CONF_REQUIRED, 1, &window, err) != 0)
            goto out;
    } else if (reject_key(a, "window_tokens", "no layer of the pattern is sliding or chunked", err) != 0) {
        goto out;
    }
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].attn = (model_attn_kind)p.kinds[(size_t)i % p.len];
        m->layers[i].window_tokens = attn_is_windowed(m->layers[i].attn) ? window : 0;
    }
    rc = 0;
out:
    free(p.kinds);
    return rc;
}

/* mla: {q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim,
 * v_head_dim}; present exactly when some layer is MLA. */
static int read_mla(conf_node *root, model_card *m, kt_err *err)
{
    if (!card_has_attn(m, ATTN_MLA))
        return reject_key(root, "mla", "no layer of the attention pattern is mla", err);
    conf_node *x = conf_take(root, "mla");
    if (!x) {
        CONF_ERROR(err, root, "missing required key 'mla' (the attention pattern has mla layers)");
        return -1;
    }
    if (conf_expect(x, CONF_MAP, err) != 0)
        return -1;
    /* q_lora_rank 0 means queries are projected directly (no low-rank step). */
    return (conf_int(x, "q_lora_rank", CONF_REQUIRED, 0, CARD_MAX_DIM, &m->mla_q_lora_rank, err) ||
            conf_int(x, "kv_lora_rank", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->mla_kv_lora_rank, err) ||
            conf_int(x, "qk_nope_head_dim", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->mla_qk_nope_dim, err) ||
            conf_int(x, "qk_rope_head_dim", CONF_REQUIRED, 0, CARD_MAX_DIM, &m->mla_qk_rope_dim, err) ||
            conf_int(x, "v_head_dim", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->mla_v_head_dim, err)) ? -1 : 0;
}

/* The routed/shared expert figures of ffn; present exactly when some layer
 * is MoE. */
static int read_experts(conf_node *f, model_card *m, kt_err *err)
{
    static const char *const keys[] = { "experts", "experts_active", "expert_intermediate",
                                         "shared_intermediate", NULL };
    if (!card_has_ffn(m, FFN_MOE)) {
        for (const char *const *k = keys; *k; k++)
            if (reject_key(f, *k, "no layer is moe", err) != 0)
                return -1;
        return 0;
    }
    if (conf_int(f, "experts", CONF_REQUIRED, 1, CARD_MAX_EXPERTS, &m->n_experts, err) ||
        conf_int(f, "experts_active", CONF_REQUIRED, 1, CARD_MAX_EXPERTS, &m->n_experts_active, err) ||
        conf_i64(f, "expert_intermediate", CONF_REQUIRED, 1, CARD_MAX_DIM, &m->ffn_expert, err) ||
        conf_i64(f, "shared_intermediate", CONF_OPTIONAL, 0, CARD_MAX_DIM, &m->ffn_shared, err))
        return -1;
    if (m->n_experts_active > m->n_experts) {
        CONF_ERROR(err, conf_find(f, "experts_active"), "%d active experts but only %d experts",
                   m->n_experts_active, m->n_experts);
        return -1;
    }
    return 0;
}

/* ffn: {pattern, first_dense_layers, dense_intermediate, experts, ...}.
 * Layer i is dense when i < first_dense_layers, else pattern[i % len]. */
static int read_ffn(conf_node *root, model_card *m, kt_err *err)
{
    conf_node *f = conf_take(root, "ffn");
    if (!f) {
        CONF_ERROR(err, root, "missing required key 'ffn'");
        return -1;
    }
    if (conf_expect(f, CONF_MAP, err) != 0)
        return -1;
    kind_pattern p = { 0 };
    int rc = -1, first_dense = 0;
    if (read_pattern(f, "pattern", model_ffn_names, m->n_layers, &p, err) != 0 ||
        conf_int(f, "first_dense_layers", CONF_OPTIONAL, 0, m->n_layers, &first_dense, err) != 0)
        goto out;
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].ffn = i < first_dense ? FFN_DENSE : (model_ffn_kind)p.kinds[(size_t)i % p.len];
    /* dense_intermediate may be given with no dense layer (Llama-4 configs
     * always state intermediate_size_mlp); it is required when one exists. */
    if (conf_i64(f, "dense_intermediate", conf_required_if(card_has_ffn(m, FFN_DENSE)), 1, CARD_MAX_DIM,
                 &m->ffn_dense, err) != 0 ||
        read_experts(f, m, err) != 0)
        goto out;
    rc = 0;
out:
    free(p.kinds);
    return rc;
}

model_card *model_from_conf(conf_node *root, kt_err *err)
{
    if (conf_expect(root, CONF_MAP, err) != 0)
        return NULL;
    model_card *m = calloc(1, sizeof *m);
    if (!m) {
        KT_ERROR(err, root->file, 0, 0, "out of memory");
        return NULL;
    }
    if (read_shape(root, m, err) != 0)
        goto fail;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    if (!m->layers) {
        CONF_ERROR(err, root, "out of memory");
        goto fail;
    }
    if (read_attention(root, m, err) != 0 || read_mla(root, m, err) != 0 ||
        read_ffn(root, m, err) != 0 || kv_plan_sharing_read(conf_take(root, "kv_sharing"), m, err) != 0)
        goto fail;
    /* The reads above validated each figure at its node; this catches any
     * combination they missed, without a location. */
    if (model_check(m, err) != 0) {
        if (err)
            snprintf(err->file, sizeof err->file, "%s", root->file ? root->file : "");
        goto fail;
    }
    return m;
fail:
    model_free(m);
    return NULL;
}

static void *build_card(conf_node *root, kt_err *err) { return model_from_conf(root, err); }
static void destroy_card(void *m) { model_free(m); }

model_card *model_load(const char *path, kt_err *err)
{
    return conf_load_strict(path, build_card, destroy_card, err);
}

model_card *model_load_string(const char *text, size_t len, const char *name, kt_err *err)
{
    return conf_load_strict_string(text, len, name, build_card, destroy_card, err);
}


model_card *model_load_named(const char *name, const char *const *dirs, kt_err *err)
{
    char path[4096];
    size_t len = strlen(name);
    if (len > 5 && strcmp(name + len - 5, ".json") == 0)
        return model_import_load(name, err);
    if (conf_resolve_named(name, dirs, "model card", path, sizeof path, err) < 0)
        return NULL;
    return model_load(path, err);
}

void model_free(model_card *m)
{
    if (!m)
        return;
    free(m->layers);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Invariants                                                                */

static int check_layer(const model_card *m, int i, kt_err *err)
{
    const model_layer *l = &m->layers[i];
    if ((unsigned)l->attn >= ATTN_KIND_COUNT || (unsigned)l->ffn >= FFN_KIND_COUNT) {
        KT_ERROR(err, NULL, 0, 0, "%s: layer %d: invalid kind", m->name, i);
        return -1;
    }
    if (attn_is_windowed(l->attn) ? l->window_tokens <= 0 : l->window_tokens != 0) {
        KT_ERROR(err, NULL, 0, 0, "%s: layer %d: %s attention with window_tokens %lld", m->name, i,
                 model_attn_names[l->attn], (long long)l->window_tokens);
        return -1;
    }
    if (l->attn == ATTN_MLA && m->mla_kv_lora_rank <= 0) {
        KT_ERROR(err, NULL, 0, 0, "%s: layer %d: mla attention but kv_lora_rank is 0", m->name, i);
        return -1;
    }
    if (l->ffn == FFN_MOE && !(m->n_experts > 0 && m->n_experts_active > 0 &&
                               m->n_experts_active <= m->n_experts && m->ffn_expert > 0)) {
        KT_ERROR(err, NULL, 0, 0, "%s: layer %d: moe with %d of %d experts of size %lld", m->name, i,
                 m->n_experts_active, m->n_experts, (long long)m->ffn_expert);
        return -1;
    }
    if (l->ffn == FFN_DENSE && m->ffn_dense <= 0) {
        KT_ERROR(err, NULL, 0, 0, "%s: layer %d: dense FFN but its intermediate size is 0", m->name, i);
        return -1;
    }
    return 0;
}

int model_check(const model_card *m, kt_err *err)
{
    if ((unsigned)m->quant.format >= QUANT_COUNT || quant_spec_of(m->quant.format)->stored != m->weight_dtype) {
        KT_ERROR(err, NULL, 0, 0, "%s: weight_dtype %s is not how its weight format stores weights", m->name,
                 (unsigned)m->weight_dtype < DTYPE_COUNT ? dtype_name(m->weight_dtype) : "?");
        return -1;
    }
    if (m->n_layers <= 0 || !m->layers || m->hidden <= 0 || m->n_heads <= 0 ||
        m->n_kv_heads <= 0 || m->head_dim <= 0 || m->vocab <= 0 || m->max_context_tokens <= 0) {
        KT_ERROR(err, NULL, 0, 0, "%s: layers, hidden, heads, kv_heads, head_dim, vocab and "
                 "max_context_tokens must all be positive", m->name);
        return -1;
    }
    if (m->n_heads % m->n_kv_heads != 0) {
        KT_ERROR(err, NULL, 0, 0, "%s: heads (%d) is not a multiple of kv_heads (%d)", m->name,
                 m->n_heads, m->n_kv_heads);
        return -1;
    }
    if ((unsigned)m->weight_dtype >= DTYPE_COUNT) {
        KT_ERROR(err, NULL, 0, 0, "%s: invalid weight dtype", m->name);
        return -1;
    }
    for (int i = 0; i < m->n_layers; i++)
        if (check_layer(m, i, err) != 0)
            return -1;
    return kv_plan_check(m, err);
}

/* ------------------------------------------------------------------------ */
/* KV cache                                                                  */

double model_kv_elems_per_token_layer(const model_card *m, int layer)
{
    /* MLA caches one compressed latent plus the shared RoPE key per token,
     * not K and V per head. */
    if (m->layers[layer].attn == ATTN_MLA)
        return (double)(m->mla_kv_lora_rank + m->mla_qk_rope_dim);
    return 2.0 * m->n_kv_heads * m->head_dim;
}

kt_dtype model_layer_kv_dtype(const model_card *m, int layer, kt_dtype kv)
{
    const model_layer *src = &m->layers[layer - m->layers[layer].kv_back];
    return src->kv_own_dtype ? src->kv_dtype : kv;
}

int model_layer_stores_kv(const model_card *m, int layer)
{
    return m->layers[layer].kv_back == 0;
}

double model_kv_bytes_per_token_layer(const model_card *m, int layer, kt_dtype kv)
{
    return model_kv_elems_per_token_layer(m, layer) * dtype_bytes(model_layer_kv_dtype(m, layer, kv));
}

double model_kv_stored_bytes_per_token_layer(const model_card *m, int layer, kt_dtype kv)
{
    return model_layer_stores_kv(m, layer) ? model_kv_bytes_per_token_layer(m, layer, kv) : 0;
}

double model_kv_bytes_per_token(const model_card *m, kt_dtype kv)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        sum += model_kv_stored_bytes_per_token_layer(m, l, kv);
    return sum;
}

int model_layer_paged(const model_card *m, int layer)
{
    if (!attn_is_windowed(m->layers[layer].attn))
        return 1;
    for (int l = 0; l < m->n_layers; l++)
        if (!attn_is_windowed(m->layers[l].attn))
            return 0;
    return 1;
}

double model_kv_paged_bytes_per_token(const model_card *m, kt_dtype kv)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (model_layer_paged(m, l))
            sum += model_kv_stored_bytes_per_token_layer(m, l, kv);
    return sum;
}

/* A chunked layer needs only the current chunk, which holds between 1 and W
 * tokens; we count W (the peak just before a chunk boundary) because
 * capacity is planned for the peak and paged allocators keep a W-token ring. */
int64_t model_layer_kv_tokens(const model_card *m, int layer, int64_t ctx_tokens)
{
    const model_layer *l = &m->layers[layer];
    if (attn_is_windowed(l->attn) && ctx_tokens > l->window_tokens)
        return l->window_tokens;
    return ctx_tokens;
}

double model_kv_bytes(const model_card *m, int64_t ctx_tokens, kt_dtype kv)
{
    double sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        sum += (double)model_layer_kv_tokens(m, l, ctx_tokens) * model_kv_stored_bytes_per_token_layer(m, l, kv);
    return sum;
}

/* ------------------------------------------------------------------------ */
/* GEMMs and parameters                                                      */

static int add_gemm(model_gemm *out, int n_out, const char *name, int64_t n, int64_t k,
                    model_gemm_kind kind)
{
    out[n_out] = (model_gemm){ .name = name, .n = n, .k = k, .kind = kind };
    return n_out + 1;
}

static int attn_gemms(const model_card *m, int layer, model_gemm *out, int c)
{
    const int64_t h = m->hidden, H = m->n_heads;
    if (m->layers[layer].attn != ATTN_MLA) {
        const int64_t d = m->head_dim;
        c = add_gemm(out, c, "qkv", (H + 2 * (int64_t)m->n_kv_heads) * d, h, MODEL_GEMM_DENSE);
        return add_gemm(out, c, "o", h, H * d, MODEL_GEMM_DENSE);
    }
    const int64_t qk = m->mla_qk_nope_dim + m->mla_qk_rope_dim;
    if (m->mla_q_lora_rank > 0) {
        c = add_gemm(out, c, "q_a", m->mla_q_lora_rank, h, MODEL_GEMM_DENSE);
        c = add_gemm(out, c, "q_b", H * qk, m->mla_q_lora_rank, MODEL_GEMM_DENSE);
    } else {
        c = add_gemm(out, c, "q", H * qk, h, MODEL_GEMM_DENSE);
    }
    c = add_gemm(out, c, "kv_a", m->mla_kv_lora_rank + m->mla_qk_rope_dim, h, MODEL_GEMM_DENSE);
    c = add_gemm(out, c, "kv_b", H * (m->mla_qk_nope_dim + m->mla_v_head_dim), m->mla_kv_lora_rank,
                 MODEL_GEMM_DENSE);
    return add_gemm(out, c, "o", h, H * m->mla_v_head_dim, MODEL_GEMM_DENSE);
}

/* Gated FFNs (SwiGLU): gate and up fused into one GEMM of width 2·ffn. */
static int ffn_gemms(const model_card *m, int layer, model_gemm *out, int c)
{
    const int64_t h = m->hidden;
    if (m->layers[layer].ffn == FFN_DENSE) {
        c = add_gemm(out, c, "gate_up", 2 * m->ffn_dense, h, MODEL_GEMM_DENSE);
        return add_gemm(out, c, "down", h, m->ffn_dense, MODEL_GEMM_DENSE);
    }
    c = add_gemm(out, c, "router", m->n_experts, h, MODEL_GEMM_DENSE);
    if (m->ffn_shared > 0) {
        c = add_gemm(out, c, "shared_gate_up", 2 * m->ffn_shared, h, MODEL_GEMM_DENSE);
        c = add_gemm(out, c, "shared_down", h, m->ffn_shared, MODEL_GEMM_DENSE);
    }
    c = add_gemm(out, c, "expert_gate_up", 2 * m->ffn_expert, h, MODEL_GEMM_EXPERT);
    return add_gemm(out, c, "expert_down", h, m->ffn_expert, MODEL_GEMM_EXPERT);
}

int model_layer_gemms(const model_card *m, int layer, model_gemm *out)
{
    int c = attn_gemms(m, layer, out, 0);
    return ffn_gemms(m, layer, out, c);
}

/* Norm weight vectors of layer l: the two pre-norms, plus MLA's norms on
 * the compressed query and KV latents. */
static double layer_norm_params(const model_card *m, int layer)
{
    double p = (double)NORMS_PER_LAYER * m->hidden;
    if (m->layers[layer].attn == ATTN_MLA)
        p += (double)m->mla_q_lora_rank + m->mla_kv_lora_rank;
    return p;
}

/* Weights of layer l; experts_counted of the routed experts are included
 * (n_experts for the total, n_experts_active for what one token touches). */
static double layer_params(const model_card *m, int layer, int experts_counted)
{
    model_gemm g[MODEL_MAX_GEMMS];
    int n = model_layer_gemms(m, layer, g);
    double p = layer_norm_params(m, layer);
    for (int i = 0; i < n; i++)
        p += (double)g[i].n * (double)g[i].k * (g[i].kind == MODEL_GEMM_EXPERT ? experts_counted : 1);
    return p;
}

double model_params_outer(const model_card *m)
{
    double emb = (double)m->vocab * m->hidden;
    return emb * (m->tie_embeddings ? 1 : 2) + m->hidden;
}

double model_params_total(const model_card *m)
{
    double p = model_params_outer(m);
    for (int l = 0; l < m->n_layers; l++)
        p += layer_params(m, l, m->n_experts);
    return p;
}

double model_params_active(const model_card *m)
{
    double p = model_params_outer(m);
    for (int l = 0; l < m->n_layers; l++)
        p += layer_params(m, l, m->n_experts_active);
    return p;
}

double model_weight_bytes(const model_card *m)
{
    return model_params_total(m) * quant_bytes_param(&m->quant);
}

void model_set_quant(model_card *m, const quant_cfg *q)
{
    m->quant = *q;
    m->weight_dtype = quant_spec_of(q->format)->stored;
}

/* ------------------------------------------------------------------------ */
/* Attention FLOPs                                                           */

/* Σ_{q=lo+1}^{hi} q = (hi - lo)(lo + hi + 1) / 2 for 0 <= lo <= hi, in
 * double: factored so that no large terms cancel, and no int64 product
 * overflows for contexts up to a card's 1e12 tokens. */
static double series(int64_t lo, int64_t hi)
{
    return (double)(hi - lo) * ((double)lo + (double)hi + 1) / 2;
}

/* Σ span(p) over positions p in [a, b) of a chunked layer, span(p) =
 * (p mod w) + 1: the rest of a's chunk, whole chunks, the start of b's. */
static double chunked_sum(int64_t w, int64_t a, int64_t b)
{
    int64_t fa = a / w, ra = a % w, fb = b / w, rb = b % w;
    if (fa == fb)
        return series(ra, rb);
    return series(ra, w) + (double)(fb - fa - 1) * series(0, w) + series(0, rb);
}

/* Σ span(p) over positions p in [a, b) of a sliding layer, span(p) =
 * min(p + 1, w): growing up to the window, then w each. */
static double sliding_sum(int64_t w, int64_t a, int64_t b)
{
    int64_t grow_end = b < w ? b : w, flat_start = a > w ? a : w;
    return (a < grow_end ? series(a, grow_end) : 0) + (b > flat_start ? (double)(b - flat_start) * (double)w : 0);
}

/* Σ span(p) over p = cached .. cached+n_new-1. */
static double span_sum(const model_layer *l, int64_t n_new, int64_t cached)
{
    int64_t end = cached + n_new;
    if (l->attn == ATTN_CHUNKED)
        return chunked_sum(l->window_tokens, cached, end);
    if (l->attn == ATTN_SLIDING)
        return sliding_sum(l->window_tokens, cached, end);
    return series(cached, end);  /* span(p) = p + 1 */
}

double model_attn_flops(const model_card *m, int layer, int64_t n_new, int64_t cached)
{
    const model_layer *l = &m->layers[layer];
    double d_qk = m->head_dim, d_v = m->head_dim;
    if (l->attn == ATTN_MLA) {
        d_qk = m->mla_qk_nope_dim + m->mla_qk_rope_dim;
        d_v = m->mla_v_head_dim;
    }
    if (n_new <= 0)
        return 0;
    return 2.0 * m->n_heads * (d_qk + d_v) * span_sum(l, n_new, cached);
}
