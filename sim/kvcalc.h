/* kvcalc.h — the `kvtier kv` calculator: KV bytes by layer kind, weights against KV, and how many tokens fit. */
#ifndef KT_KVCALC_H
#define KT_KVCALC_H

#include <stdint.h>
#include <stdio.h>

#include "dtype.h"
#include "hw.h"
#include "model.h"

/* What the calculator works out for one model, context, KV dtype and GPU. */
typedef struct kvcalc_result {
    double kv_bytes_per_token;          /* all layers, windows ignored */
    double kv_bytes_per_token_kind[ATTN_KIND_COUNT]; /* per layer kind, summed over its layers */
    int layers_of_kind[ATTN_KIND_COUNT];
    double kv_bytes_context;            /* for ctx_tokens, windows applied */
    double kv_bytes_context_kind[ATTN_KIND_COUNT];
    double weight_bytes;                /* whole model */
    double weight_bytes_per_gpu;        /* / tp */
    double hbm_bytes_per_gpu;           /* 0 when no GPU profile given */
    double kv_budget_bytes_per_gpu;     /* hbm × hbm_fraction − weights/tp − reserve; may be < 0 */
    int64_t max_tokens_per_gpu_group;   /* longest single context whose KV fits the tp GPUs' budget */
} kvcalc_result;

/* Fills r. gpu may be NULL (then the memory figures are 0). The KV of a
 * context is split over tp GPUs (KV heads divided among them). */
void kvcalc_compute(const model_card *m, const hw_profile *gpu, int64_t ctx_tokens, kt_dtype kv,
                    int tp, double hbm_fraction, double reserve_bytes, kvcalc_result *r);

/* `kvtier kv MODEL [--context N] [--dtype D] [--gpu PROFILE] [--tp N] [--json]`:
 * parses its arguments (argv[0] is "kv"), prints the report, returns the exit code. */
int kvcalc_main(int argc, char **argv, const char *const *model_dirs, const char *const *hw_dirs);

#endif
