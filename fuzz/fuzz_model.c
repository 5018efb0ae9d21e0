/* fuzz_model.c — fuzz target: a model card through model_load_string, then the arithmetic the simulator does with it. */
#include "fuzz.h"
#include "model.h"

/* New tokens per step the attention FLOPs are asked for: a typical prefill chunk. */
#define CHUNK_TOKENS 8192

/* Everything a scenario asks of a loaded card, at its longest context,
 * where an overflow would show. */
static void use_card(const model_card *m)
{
    for (int d = 0; d < DTYPE_COUNT; d++) {
        model_kv_bytes_per_token(m, (kt_dtype)d);
        model_kv_paged_bytes_per_token(m, (kt_dtype)d);
        model_kv_bytes(m, m->max_context_tokens, (kt_dtype)d);
    }
    model_params_total(m);
    model_params_active(m);
    model_weight_bytes(m);
    for (int l = 0; l < m->n_layers; l++) {
        model_gemm g[MODEL_MAX_GEMMS];
        model_layer_gemms(m, l, g);
        model_layer_kv_tokens(m, l, m->max_context_tokens);
        model_attn_flops(m, l, CHUNK_TOKENS, m->max_context_tokens);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_err err;
    model_card *m = model_load_string((const char *)data, size, "fuzz.yaml", &err);
    if (m)
        use_card(m);
    model_free(m);
    return 0;
}
