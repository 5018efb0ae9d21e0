/* cost.h — the time of one batch iteration on one replica, from the model card and the hardware profile. */
#ifndef KT_COST_H
#define KT_COST_H

#include <stdint.h>

#include "dtype.h"
#include "err.h"
#include "hw.h"
#include "model.h"

/* One sequence's part of an iteration: new_tokens computed after
 * cached_tokens already in KV; the first wasted_tokens of the new ones
 * recompute KV that was lost (preemption) and are not useful work. */
typedef struct cost_seq {
    int64_t new_tokens;
    int64_t cached_tokens;
    int64_t wasted_tokens;
} cost_seq;

/* What one iteration costs on the replica (all its GPUs together). */
typedef struct cost_iter {
    int64_t total_ns;
    int64_t gemm_ns, attn_ns, comm_ns, launch_ns;
    double flops;               /* all GPUs of the replica */
    double flops_wasted;        /* part of flops spent on wasted_tokens */
    double hbm_bytes;           /* bytes read/written from HBM, all GPUs */
    int64_t wait_ns;            /* part of total_ns the GPU waits on storage (set by the caller) */
} cost_iter;

/* Distinct GEMM shapes of the model with how many layers have them. */
typedef struct cost_gemm {
    int64_t n, k;
    model_gemm_kind kind;
    int count;
} cost_gemm;

/* Layers that attend alike (same kind and window) with their count. */
typedef struct cost_attn_group {
    int layer;                  /* a representative layer index */
    int count;
    model_attn_kind kind;
    int64_t window_tokens;
    double kv_bytes_token_gpu;  /* one token, one layer, one GPU */
} cost_attn_group;

/* Precomputed per-replica constants.
 * Invariants: tp >= 1; groups and gemms cover every layer exactly once
 * (sum of counts == n_layers per GEMM position); efficiencies in (0, 1]. */
typedef struct cost_model {
    const model_card *m;        /* not owned */
    const hw_profile *hw;       /* not owned */
    int tp;
    kt_dtype kv_dtype, act_dtype;
    double gemm_flops_per_s;    /* peak × efficiency, one GPU */
    double attn_flops_per_s;
    double mem_bytes_per_s;
    cost_gemm gemms[MODEL_MAX_GEMMS * 4];
    int n_gemms;
    cost_attn_group groups[8];
    int n_groups;
    int64_t launch_ns_iter;
    double peak_flops_gpu;      /* for effective utilization */
} cost_model;

/* Prepares cm for model m on profile hw at tensor-parallel degree tp with KV
 * in kv_dtype. Returns 0, or -1 with err (e.g. more layer kinds than it
 * handles, or a GPU without the dtype). m and hw must outlive cm. */
int cost_model_init(cost_model *cm, const model_card *m, const hw_profile *hw, int tp, kt_dtype kv,
                    kt_err *err);

/* KV bytes one token takes on one GPU over all layers (windows ignored):
 * KV heads are split across tp GPUs (at least one head each); MLA's latent
 * KV is not split and sits whole on every GPU. */
double cost_kv_bytes_per_token_gpu(const cost_model *cm);
/* Weight bytes each GPU holds. */
double cost_weight_bytes_gpu(const cost_model *cm);

/* Time and work of one iteration over seqs[0..n). n_logits sequences
 * sample a token at its end (lm_head rows). Pure: reads cm only. */
void cost_iteration(const cost_model *cm, const cost_seq *seqs, int n, int n_logits, cost_iter *out);

#endif
