/* model_import.c — turns a Hugging Face config.json (Llama 3.x, Mistral, Llama-4, DeepSeek-V3) into a kvtier model card in YAML. */
#include "model.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infile.h"

/* Defaults that transformers applies when a config leaves a key out; they
 * belong to the config format, not to any model. */
#define HF_LLAMA4_NOPE_INTERVAL_DEFAULT 4   /* Llama4TextConfig.no_rope_layer_interval */
#define HF_LLAMA4_MOE_STEP_DEFAULT 1        /* Llama4TextConfig.interleave_moe_layer_step */
#define HF_DEEPSEEK_MOE_FREQ_DEFAULT 1      /* DeepseekV3Config.moe_layer_freq */

/* What the importer has gathered; written out by emit_card. */
typedef struct hf_card {
    int64_t layers, hidden, heads, kv_heads, head_dim, vocab, max_ctx;
    int tie;
    kt_dtype dtype;
    int64_t window;                        /* sliding window or chunk, 0 if none */
    int64_t dense_ffn, expert_ffn, shared_ffn, experts, experts_active;
    int has_dense_ffn;                     /* dense_ffn is known (written even if unused) */
    int64_t q_lora, kv_lora, nope, rope, v_dim;
    model_attn_kind *attn;                 /* per layer, owned */
    model_ffn_kind *ffn;                   /* per layer, owned */
} hf_card;

/* Reading context: the JSON objects keys are looked up in, and where errors go. */
typedef struct hf_src {
    const char *path;
    json_t *cfg;                           /* text_config when present, else the root (borrowed) */
    json_t *root;                          /* borrowed */
    FILE *notes;                           /* what was assumed goes here; NULL: nowhere */
    kt_err *err;
} hf_src;

/* Architectures the importer reads faithfully, by model_type and by the
 * class names in "architectures"; anything else is refused rather than
 * read as Llama. */
static const char *const hf_model_types[] = {
    "llama", "mistral", "mixtral", "llama4", "llama4_text", "deepseek_v3",
};
static const char *const hf_architectures[] = {
    "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM",
    "Llama4ForConditionalGeneration", "Llama4ForCausalLM", "DeepseekV3ForCausalLM",
};
#define HF_N_MODEL_TYPES (sizeof hf_model_types / sizeof hf_model_types[0])
#define HF_N_ARCHITECTURES (sizeof hf_architectures / sizeof hf_architectures[0])

/* ------------------------------------------------------------------------ */
/* Typed lookups; JSON null counts as absent (HF writes "q_lora_rank": null). */

static json_t *hf_get(const hf_src *s, const char *key)
{
    json_t *v = json_object_get(s->cfg, key);
    if ((!v || json_is_null(v)) && s->cfg != s->root)
        v = json_object_get(s->root, key);   /* tie_word_embeddings, torch_dtype sit at the top in Llama-4 */
    return v && !json_is_null(v) ? v : NULL;
}

static int hf_missing(const hf_src *s, const char *key)
{
    KT_ERROR(s->err, s->path, 0, 0, "missing required key '%s'", key);
    return -1;
}

/* Says on s->notes what the card assumes that the config did not say. */
static void hf_assumed(const hf_src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hf_assumed(const hf_src *s, const char *fmt, ...)
{
    if (!s->notes)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(s->notes, "kvtier model import: %s: assumed ", s->path);
    vfprintf(s->notes, fmt, ap);
    fputc('\n', s->notes);
    va_end(ap);
}

/* 1 when name is one of the n names. */
static int hf_known(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return 0;
}

/* Refuses "what" (a model_type or an architecture) when not one of names,
 * listing those. */
static int hf_unsupported(const hf_src *s, const char *key, const char *what, const char *const *names,
                          size_t n)
{
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    KT_ERROR(s->err, s->path, 0, 0, "'%s' is '%s', which kvtier cannot import (supported: %s)", key, what, list);
    return -1;
}

/* Checks model_type and every entry of architectures against what the
 * importer understands. A config with neither is read as Llama-style, and
 * says so. */
static int hf_architecture(const hf_src *s)
{
    json_t *mt = hf_get(s, "model_type"), *arch = hf_get(s, "architectures");
    if (mt && (!json_is_string(mt) || !hf_known(json_string_value(mt), hf_model_types, HF_N_MODEL_TYPES)))
        return hf_unsupported(s, "model_type", json_is_string(mt) ? json_string_value(mt) : "(not a string)",
                              hf_model_types, HF_N_MODEL_TYPES);
    if (arch && !json_is_array(arch)) {
        KT_ERROR(s->err, s->path, 0, 0, "'architectures' is not a list of class names");
        return -1;
    }
    size_t i;
    json_t *a;
    json_array_foreach(arch, i, a) {
        if (!json_is_string(a) || !hf_known(json_string_value(a), hf_architectures, HF_N_ARCHITECTURES))
            return hf_unsupported(s, "architectures", json_is_string(a) ? json_string_value(a) : "(not a string)",
                                  hf_architectures, HF_N_ARCHITECTURES);
    }
    if (!mt && (!arch || json_array_size(arch) == 0))
        hf_assumed(s, "a Llama-style decoder (no model_type or architectures given)");
    return 0;
}

/* Reads an integer key in [lo, hi]. Absent: error when CONF_REQUIRED, else
 * *out is left as it was. */
static int hf_int(const hf_src *s, const char *key, conf_need need, int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = hf_get(s, key);
    if (!v)
        return need == CONF_REQUIRED ? hf_missing(s, key) : 0;
    if (!json_is_integer(v)) {
        KT_ERROR(s->err, s->path, 0, 0, "'%s' is not an integer", key);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        KT_ERROR(s->err, s->path, 0, 0, "'%s' is %lld, outside [%lld, %lld]", key, (long long)x,
                 (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int hf_bool(const hf_src *s, const char *key, int *out)
{
    json_t *v = hf_get(s, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        KT_ERROR(s->err, s->path, 0, 0, "'%s' is not true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* Reads key as an array of n_layers integers into out[]. Returns 1 when
 * read, 0 when absent or empty, -1 on error. */
static int hf_layer_list(const hf_src *s, const char *key, int64_t n_layers, int *out)
{
    json_t *v = hf_get(s, key);
    if (!v || (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    if (!json_is_array(v) || json_array_size(v) != (size_t)n_layers) {
        KT_ERROR(s->err, s->path, 0, 0, "'%s' is not a list of num_hidden_layers (%lld) entries",
                 key, (long long)n_layers);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_integer(x)) {
            KT_ERROR(s->err, s->path, 0, 0, "'%s'[%zu] is not an integer", key, i);
            return -1;
        }
        out[i] = (int)json_integer_value(x);
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Shape                                                                     */

/* torch_dtype (or "dtype" in newer configs); a fp8 quantization_config wins,
 * since that is what the released weights are stored as (DeepSeek-V3). */
static int hf_dtype(const hf_src *s, kt_dtype *out)
{
    static const struct { const char *hf; kt_dtype d; } map[] = {
        { "bfloat16", DTYPE_BF16 }, { "float16", DTYPE_FP16 }, { "float32", DTYPE_FP32 },
    };
    json_t *q = hf_get(s, "quantization_config");
    const char *method = q ? json_string_value(json_object_get(q, "quant_method")) : NULL;
    if (method && strcmp(method, "fp8") == 0) {
        *out = DTYPE_FP8;
        return 0;
    }
    json_t *v = hf_get(s, "torch_dtype");
    if (!v)
        v = hf_get(s, "dtype");
    if (!v)
        return hf_missing(s, "torch_dtype");
    const char *name = json_string_value(v);
    for (size_t i = 0; name && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].hf) == 0) {
            *out = map[i].d;
            return 0;
        }
    KT_ERROR(s->err, s->path, 0, 0, "torch_dtype '%s' is not one kvtier knows", name ? name : "(not a string)");
    return -1;
}

static int hf_shape(const hf_src *s, hf_card *c)
{
    const int64_t big = INT32_MAX;
    if (hf_int(s, "num_hidden_layers", CONF_REQUIRED, 1, big, &c->layers) ||
        hf_int(s, "hidden_size", CONF_REQUIRED, 1, big, &c->hidden) ||
        hf_int(s, "num_attention_heads", CONF_REQUIRED, 1, big, &c->heads) ||
        hf_int(s, "vocab_size", CONF_REQUIRED, 1, big, &c->vocab) ||
        hf_int(s, "max_position_embeddings", CONF_REQUIRED, 1, INT64_MAX, &c->max_ctx))
        return -1;
    /* transformers' defaults: kv heads = query heads (no GQA), head_dim =
     * hidden / heads, untied embeddings (Llama, Mistral, DeepSeek configs). */
    c->kv_heads = c->heads;
    c->head_dim = c->hidden / c->heads;
    c->tie = 0;
    if (hf_int(s, "num_key_value_heads", CONF_OPTIONAL, 1, big, &c->kv_heads) ||
        hf_int(s, "head_dim", CONF_OPTIONAL, 1, big, &c->head_dim) ||
        hf_bool(s, "tie_word_embeddings", &c->tie) || hf_dtype(s, &c->dtype))
        return -1;
    if (!hf_get(s, "head_dim") && c->hidden % c->heads != 0) {
        KT_ERROR(s->err, s->path, 0, 0, "no 'head_dim' and hidden_size %lld is not a multiple of "
                 "num_attention_heads %lld", (long long)c->hidden, (long long)c->heads);
        return -1;
    }
    if (c->kv_heads > c->heads || c->heads % c->kv_heads != 0) {
        KT_ERROR(s->err, s->path, 0, 0, "'num_key_value_heads' is %lld: num_attention_heads (%lld) must be a "
                 "multiple of it", (long long)c->kv_heads, (long long)c->heads);
        return -1;
    }
    if (!hf_get(s, "num_key_value_heads"))
        hf_assumed(s, "kv_heads = num_attention_heads = %lld (no 'num_key_value_heads')", (long long)c->heads);
    if (!hf_get(s, "head_dim") && !hf_get(s, "kv_lora_rank"))
        hf_assumed(s, "head_dim = hidden_size / num_attention_heads = %lld (no 'head_dim')",
                   (long long)c->head_dim);
    if (!hf_get(s, "tie_word_embeddings"))
        hf_assumed(s, "untied embeddings (no 'tie_word_embeddings')");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Attention kinds per layer                                                 */

static int hf_attn_mla(const hf_src *s, hf_card *c)
{
    const int64_t big = INT32_MAX;
    c->q_lora = 0;                          /* null: queries projected without a low-rank step */
    if (hf_int(s, "q_lora_rank", CONF_OPTIONAL, 0, big, &c->q_lora) ||
        hf_int(s, "kv_lora_rank", CONF_REQUIRED, 1, big, &c->kv_lora) ||
        hf_int(s, "qk_nope_head_dim", CONF_REQUIRED, 1, big, &c->nope) ||
        hf_int(s, "qk_rope_head_dim", CONF_REQUIRED, 0, big, &c->rope) ||
        hf_int(s, "v_head_dim", CONF_REQUIRED, 1, big, &c->v_dim))
        return -1;
    /* The card's head_dim is the query/key width of one head. */
    c->head_dim = c->nope + c->rope;
    for (int64_t i = 0; i < c->layers; i++)
        c->attn[i] = ATTN_MLA;
    return 0;
}

/* Llama-4: layers that use RoPE attend within chunks of attention_chunk_size;
 * the NoPE layers (no_rope_layers[i] == 0) are global. */
static int hf_attn_llama4(const hf_src *s, hf_card *c)
{
    int *rope = calloc((size_t)c->layers, sizeof *rope);
    if (!rope) {
        KT_ERROR(s->err, s->path, 0, 0, "out of memory");
        return -1;
    }
    int got = hf_layer_list(s, "no_rope_layers", c->layers, rope);
    int64_t interval = HF_LLAMA4_NOPE_INTERVAL_DEFAULT;
    if (got == 0 && hf_int(s, "no_rope_layer_interval", CONF_OPTIONAL, 1, INT32_MAX, &interval) != 0)
        got = -1;
    for (int64_t i = 0; got >= 0 && i < c->layers; i++) {
        int uses_rope = got ? rope[i] : (i + 1) % interval != 0;
        c->attn[i] = uses_rope && c->window > 0 ? ATTN_CHUNKED : ATTN_GLOBAL;
    }
    free(rope);
    return got < 0 ? -1 : 0;
}

/* Newer configs spell kinds out per layer ("layer_types"). Returns 1 when
 * used, 0 when absent, -1 on error. */
static int hf_attn_layer_types(const hf_src *s, hf_card *c)
{
    static const struct { const char *hf; model_attn_kind k; } map[] = {
        { "full_attention", ATTN_GLOBAL }, { "sliding_attention", ATTN_SLIDING },
        { "chunked_attention", ATTN_CHUNKED },
    };
    json_t *v = hf_get(s, "layer_types");
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) != (size_t)c->layers) {
        KT_ERROR(s->err, s->path, 0, 0, "'layer_types' is not a list of num_hidden_layers names");
        return -1;
    }
    for (int64_t i = 0; i < c->layers; i++) {
        const char *t = json_string_value(json_array_get(v, (size_t)i));
        size_t j = 0;
        while (j < sizeof map / sizeof map[0] && !(t && strcmp(t, map[j].hf) == 0))
            j++;
        if (j == sizeof map / sizeof map[0]) {
            KT_ERROR(s->err, s->path, 0, 0, "'layer_types'[%lld] '%s' is not a known kind",
                     (long long)i, t ? t : "(not a string)");
            return -1;
        }
        c->attn[i] = map[j].k;
        if (c->attn[i] != ATTN_GLOBAL && c->window <= 0) {
            KT_ERROR(s->err, s->path, 0, 0, "'layer_types'[%lld] is '%s' but no window size is given",
                     (long long)i, t);
            return -1;
        }
    }
    return 1;
}

static int hf_attention(const hf_src *s, hf_card *c, int llama4)
{
    if (hf_get(s, "kv_lora_rank"))
        return hf_attn_mla(s, c);
    /* Mistral v0.1: "sliding_window": 4096; Qwen-style configs carry a
     * window but switch it off with use_sliding_window: false. */
    int use_sliding = 1;
    c->window = 0;
    if (hf_int(s, llama4 ? "attention_chunk_size" : "sliding_window", CONF_OPTIONAL, 1, INT64_MAX, &c->window) ||
        hf_bool(s, "use_sliding_window", &use_sliding))
        return -1;
    if (!use_sliding && !llama4)
        c->window = 0;
    int rc = hf_attn_layer_types(s, c);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (llama4)
        return hf_attn_llama4(s, c);
    for (int64_t i = 0; i < c->layers; i++)
        c->attn[i] = c->window > 0 ? ATTN_SLIDING : ATTN_GLOBAL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* FFN kinds per layer                                                       */

/* Llama-4: routed experts and the one shared expert are intermediate_size
 * wide; the dense layers use intermediate_size_mlp. MoE layers are listed in
 * moe_layers, or every interleave_moe_layer_step-th layer ending a step. */
static int hf_ffn_llama4(const hf_src *s, hf_card *c)
{
    const int64_t big = INT32_MAX;
    if (hf_int(s, "intermediate_size_mlp", CONF_REQUIRED, 1, big, &c->dense_ffn) ||
        hf_int(s, "intermediate_size", CONF_REQUIRED, 1, big, &c->expert_ffn) ||
        hf_int(s, "num_local_experts", CONF_REQUIRED, 1, big, &c->experts) ||
        hf_int(s, "num_experts_per_tok", CONF_REQUIRED, 1, c->experts, &c->experts_active))
        return -1;
    c->shared_ffn = c->expert_ffn;
    c->has_dense_ffn = 1;
    for (int64_t i = 0; i < c->layers; i++)
        c->ffn[i] = FFN_DENSE;
    json_t *list = hf_get(s, "moe_layers");
    if (list && json_is_array(list) && json_array_size(list) > 0) {
        size_t i;
        json_t *x;
        json_array_foreach(list, i, x) {
            json_int_t l = json_integer_value(x);
            if (!json_is_integer(x) || l < 0 || l >= c->layers) {
                KT_ERROR(s->err, s->path, 0, 0, "'moe_layers'[%zu] is not a layer index", i);
                return -1;
            }
            c->ffn[l] = FFN_MOE;
        }
        return 0;
    }
    int64_t step = HF_LLAMA4_MOE_STEP_DEFAULT;
    if (hf_int(s, "interleave_moe_layer_step", CONF_OPTIONAL, 1, big, &step))
        return -1;
    for (int64_t i = 0; i < c->layers; i++)
        c->ffn[i] = (i + 1) % step == 0 ? FFN_MOE : FFN_DENSE;
    return 0;
}

/* DeepSeek-V3: the first first_k_dense_replace layers are dense, then every
 * moe_layer_freq-th layer is MoE with n_shared_experts shared experts. */
static int hf_ffn_deepseek(const hf_src *s, hf_card *c)
{
    const int64_t big = INT32_MAX;
    int64_t first_dense = 0, freq = HF_DEEPSEEK_MOE_FREQ_DEFAULT, n_shared = 0;
    if (hf_int(s, "intermediate_size", CONF_REQUIRED, 1, big, &c->dense_ffn) ||
        hf_int(s, "moe_intermediate_size", CONF_REQUIRED, 1, big, &c->expert_ffn) ||
        hf_int(s, "n_routed_experts", CONF_REQUIRED, 1, big, &c->experts) ||
        hf_int(s, "num_experts_per_tok", CONF_REQUIRED, 1, c->experts, &c->experts_active) ||
        hf_int(s, "n_shared_experts", CONF_OPTIONAL, 0, big, &n_shared) ||
        hf_int(s, "first_k_dense_replace", CONF_OPTIONAL, 0, c->layers, &first_dense) ||
        hf_int(s, "moe_layer_freq", CONF_OPTIONAL, 1, big, &freq))
        return -1;
    c->shared_ffn = n_shared * c->expert_ffn;
    c->has_dense_ffn = 1;
    for (int64_t i = 0; i < c->layers; i++)
        c->ffn[i] = i >= first_dense && i % freq == 0 ? FFN_MOE : FFN_DENSE;
    return 0;
}

/* Mixtral-style: every layer MoE, experts intermediate_size wide, none shared. */
static int hf_ffn_mixtral(const hf_src *s, hf_card *c)
{
    if (hf_int(s, "intermediate_size", CONF_REQUIRED, 1, INT32_MAX, &c->expert_ffn) ||
        hf_int(s, "num_local_experts", CONF_REQUIRED, 1, INT32_MAX, &c->experts) ||
        hf_int(s, "num_experts_per_tok", CONF_REQUIRED, 1, c->experts, &c->experts_active))
        return -1;
    c->shared_ffn = 0;
    for (int64_t i = 0; i < c->layers; i++)
        c->ffn[i] = FFN_MOE;
    return 0;
}

static int hf_ffn(const hf_src *s, hf_card *c, int llama4)
{
    if (llama4)
        return hf_ffn_llama4(s, c);
    if (hf_get(s, "n_routed_experts"))
        return hf_ffn_deepseek(s, c);
    if (hf_get(s, "num_local_experts"))
        return hf_ffn_mixtral(s, c);
    if (hf_int(s, "intermediate_size", CONF_REQUIRED, 1, INT32_MAX, &c->dense_ffn))
        return -1;
    c->has_dense_ffn = 1;
    for (int64_t i = 0; i < c->layers; i++)
        c->ffn[i] = FFN_DENSE;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Compressing per-layer kinds into the card's pattern form                  */

/* Does kinds[] equal "layers below first are dense (kind 0 == FFN_DENSE),
 * the rest kinds[i % period]" with the pattern taken from the layers
 * themselves? pat[] receives the pattern. */
static int pattern_fits(const int *kinds, int64_t n, int64_t period, int64_t first, int *pat)
{
    for (int64_t i = 0; i < first; i++)
        if (kinds[i] != FFN_DENSE)
            return 0;
    for (int64_t i = first; i < first + period; i++)
        pat[i % period] = kinds[i];
    for (int64_t i = first + period; i < n; i++)
        if (kinds[i] != pat[i % period])
            return 0;
    return 1;
}

/* Shortest period, then fewest leading dense layers (only when allow_first). */
static void pattern_find(const int *kinds, int64_t n, int allow_first, int *pat, int64_t *period,
                         int64_t *first)
{
    for (int64_t p = 1; p <= n; p++)
        for (int64_t f = 0; f + p <= n && (allow_first || f == 0); f++)
            if (pattern_fits(kinds, n, p, f, pat)) {
                *period = p;
                *first = f;
                return;
            }
}

static void emit_pattern(FILE *out, const int *pat, int64_t len, const char *const *names)
{
    fputs("[", out);
    for (int64_t i = 0; i < len; i++)
        fprintf(out, "%s%s", i ? ", " : "", names[pat[i]]);
    fputs("]", out);
}

/* Writes s as a YAML double-quoted scalar. */
static void emit_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static int emit_card(FILE *out, const char *name, const char *src_path, const hf_card *c, kt_err *err)
{
    int *kinds = calloc((size_t)c->layers, sizeof *kinds);
    int *pat = calloc((size_t)c->layers, sizeof *pat);
    if (!kinds || !pat) {
        free(kinds);
        free(pat);
        KT_ERROR(err, src_path, 0, 0, "out of memory");
        return -1;
    }
    int64_t period = 0, first = 0;
    fprintf(out, "# Model card imported by kvtier from a Hugging Face config.json.\nname: ");
    emit_quoted(out, name);
    fputs("\nsource: ", out);
    emit_quoted(out, src_path);
    fprintf(out, "\nlayers: %lld\nhidden: %lld\nheads: %lld\nkv_heads: %lld\nhead_dim: %lld\n"
            "vocab: %lld\ntie_embeddings: %s\nweight_dtype: %s\nmax_context_tokens: %lld\n",
            (long long)c->layers, (long long)c->hidden, (long long)c->heads, (long long)c->kv_heads,
            (long long)c->head_dim, (long long)c->vocab, c->tie ? "true" : "false",
            dtype_name(c->dtype), (long long)c->max_ctx);

    for (int64_t i = 0; i < c->layers; i++)
        kinds[i] = c->attn[i];
    pattern_find(kinds, c->layers, 0, pat, &period, &first);
    fputs("attention:\n  pattern: ", out);
    emit_pattern(out, pat, period, model_attn_names);
    int windowed = 0, mla = 0;
    for (int64_t i = 0; i < period; i++) {
        windowed |= pat[i] == ATTN_SLIDING || pat[i] == ATTN_CHUNKED;
        mla |= pat[i] == ATTN_MLA;
    }
    fputs("\n", out);
    if (windowed)
        fprintf(out, "  window_tokens: %lld\n", (long long)c->window);
    if (mla)
        fprintf(out, "mla:\n  q_lora_rank: %lld\n  kv_lora_rank: %lld\n  qk_nope_head_dim: %lld\n"
                "  qk_rope_head_dim: %lld\n  v_head_dim: %lld\n", (long long)c->q_lora,
                (long long)c->kv_lora, (long long)c->nope, (long long)c->rope, (long long)c->v_dim);

    for (int64_t i = 0; i < c->layers; i++)
        kinds[i] = c->ffn[i];
    pattern_find(kinds, c->layers, 1, pat, &period, &first);
    fputs("ffn:\n  pattern: ", out);
    emit_pattern(out, pat, period, model_ffn_names);
    fputs("\n", out);
    if (first > 0)
        fprintf(out, "  first_dense_layers: %lld\n", (long long)first);
    if (c->has_dense_ffn)
        fprintf(out, "  dense_intermediate: %lld\n", (long long)c->dense_ffn);
    int moe = 0;
    for (int64_t i = 0; i < c->layers; i++)
        moe |= c->ffn[i] == FFN_MOE;
    if (moe)
        fprintf(out, "  experts: %lld\n  experts_active: %lld\n  expert_intermediate: %lld\n"
                "  shared_intermediate: %lld\n", (long long)c->experts, (long long)c->experts_active,
                (long long)c->expert_ffn, (long long)c->shared_ffn);
    free(kinds);
    free(pat);
    if (ferror(out)) {
        KT_ERROR(err, NULL, 0, 0, "writing the model card failed");
        return -1;
    }
    return 0;
}

/* Llama-4 configs say so by model_type ("llama4", "llama4_text"), or,
 * without one, by their chunked-attention key (Mixtral shares the expert
 * keys, so those prove nothing). */
static int hf_is_llama4(const hf_src *s)
{
    const char *mt = json_string_value(hf_get(s, "model_type"));
    if (mt)
        return strncmp(mt, "llama4", strlen("llama4")) == 0;
    return hf_get(s, "attention_chunk_size") != NULL;
}

/* Writes the card to a buffer, loads it back with kvtier's own card reader,
 * and only then copies it to out: a card that kvtier would refuse is never
 * written. */
static int emit_verified(FILE *out, const char *name, const char *src_path, const hf_card *c, kt_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *buf = open_memstream(&text, &len);
    if (!buf) {
        KT_ERROR(err, src_path, 0, 0, "out of memory");
        return -1;
    }
    int rc = emit_card(buf, name, src_path, c, err);
    if (fclose(buf) != 0 && rc == 0) {
        KT_ERROR(err, src_path, 0, 0, "out of memory");
        rc = -1;
    }
    if (rc == 0) {
        kt_err load_err;
        model_card *m = model_load_string(text, len, "imported card", &load_err);
        if (!m) {
            KT_ERROR(err, src_path, 0, 0, "the card imported from it does not load: %s", load_err.msg);
            rc = -1;
        }
        model_free(m);
    }
    if (rc == 0 && fwrite(text, 1, len, out) != len) {
        KT_ERROR(err, NULL, 0, 0, "writing the model card failed");
        rc = -1;
    }
    free(text);
    return rc;
}

int model_import_hf(const char *config_json_path, const char *name, FILE *out, FILE *notes, kt_err *err)
{
    json_error_t jerr;
    FILE *in = infile_open(config_json_path, err);
    if (!in)
        return -1;
    json_t *root = json_loadf(in, 0, &jerr);
    fclose(in);
    if (!root) {
        /* jansson reports column 0 at the end of a line; the line is still right. */
        int line = jerr.line > 0 ? jerr.line : 0;
        KT_ERROR(err, config_json_path, line, line ? (jerr.column > 0 ? jerr.column : 1) : 0, "%s", jerr.text);
        return -1;
    }
    int rc = -1;
    hf_card c = { 0 };
    hf_src s = { .path = config_json_path, .root = root, .cfg = root, .notes = notes, .err = err };
    if (!json_is_object(root)) {
        KT_ERROR(err, config_json_path, 0, 0, "not a JSON object");
        goto out;
    }
    json_t *text = json_object_get(root, "text_config");
    if (json_is_object(text))
        s.cfg = text;
    if (hf_architecture(&s) != 0)
        goto out;
    int llama4 = hf_is_llama4(&s);
    if (hf_shape(&s, &c) != 0)
        goto out;
    c.attn = calloc((size_t)c.layers, sizeof *c.attn);
    c.ffn = calloc((size_t)c.layers, sizeof *c.ffn);
    if (!c.attn || !c.ffn) {
        KT_ERROR(err, config_json_path, 0, 0, "out of memory");
        goto out;
    }
    if (hf_attention(&s, &c, llama4) != 0 || hf_ffn(&s, &c, llama4) != 0)
        goto out;
    rc = emit_verified(out, name, config_json_path, &c, err);
out:
    free(c.attn);
    free(c.ffn);
    json_decref(root);
    return rc;
}

const char *model_import_card_name(const char *path, char *buf, size_t n)
{
    const char *b = strrchr(path, '/');
    snprintf(buf, n, "%s", b ? b + 1 : path);
    char *dot = strstr(buf, ".json");
    if (dot)
        *dot = '\0';
    /* A Hugging Face checkout names the file config.json: its folder names the model. */
    if (b && b > path && strcmp(buf, "config") == 0) {
        const char *start = b;
        while (start > path && start[-1] != '/')
            start--;
        if (b - start > 0 && !(b - start == 1 && *start == '.'))
            snprintf(buf, n, "%.*s", (int)(b - start), start);
    }
    return buf;
}

model_card *model_import_load(const char *config_json_path, kt_err *err)
{
    char *text = NULL, name[256];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        KT_ERROR(err, config_json_path, 0, 0, "out of memory");
        return NULL;
    }
    int rc = model_import_hf(config_json_path, model_import_card_name(config_json_path, name, sizeof name), f,
                             NULL, err);
    model_card *m = NULL;
    if (fclose(f) == 0 && rc == 0)
        m = model_load_string(text, len, config_json_path, err);
    else if (rc == 0)
        KT_ERROR(err, config_json_path, 0, 0, "out of memory");
    free(text);
    return m;
}
