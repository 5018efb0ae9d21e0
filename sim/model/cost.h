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

/* What one iteration costs on the replica (all its GPUs together).
 * total_ns = gemm_ns + attn_ns + comm_ns + launch_ns + bubble_ns (+ wait_ns
 * once the caller adds it). The first four are what the busiest pipeline
 * stage spends on all micro-batches; bubble_ns is the pipeline's fill time. */
typedef struct cost_iter {
    int64_t total_ns;
    int64_t gemm_ns, attn_ns, comm_ns, launch_ns;
    int64_t bubble_ns;          /* pipeline fill: pp-1 micro-batch stage times; 0 without PP */
    double flops;               /* all GPUs of the replica, the batch's work counted once */
    double flops_wasted;        /* part of flops spent on wasted_tokens */
    double hbm_bytes;           /* bytes read/written from HBM, all GPUs */
    int64_t wait_ns;            /* part of total_ns the GPU waits on storage (set by the caller) */
} cost_iter;

/* A replica's parallel layout: tensor (tp), pipeline (pp), context (cp) and
 * expert (ep) parallel degrees.
 * Invariants: each >= 1. The replica has tp × pp × cp GPUs, numbered tp
 * innermost, then cp, then pp (a TP group is contiguous), from the start of
 * an NVLink domain. ep divides tp: the routed experts are spread over ep
 * parts of each tensor-parallel group, n_experts / ep experts to a part, each
 * sharded over the part's tp / ep GPUs (expert parallelism within TP, as
 * serving engines do it); ep > 1 only for MoE models, ep <= n_experts.
 * pp <= n_layers (every stage has a layer). */
typedef struct cost_par {
    int tp, pp, cp, ep;
} cost_par;

/* GPUs one replica of layout p takes: tp × pp × cp. */
int cost_par_gpus(const cost_par *p);

/* A link as a collective sees it: achieved bandwidth (peak × efficiency of
 * the profile) and one step's latency. */
typedef struct cost_link {
    double bw_Bps;
    int64_t latency_ns;
} cost_link;

/* Distinct GEMM shapes of the model with how many layers have them. */
typedef struct cost_gemm {
    int64_t n, k;
    model_gemm_kind kind;
    int count;
} cost_gemm;

/* Distinct attention layer kinds a cost model tells apart. */
#define COST_MAX_ATTN_GROUPS 8

/* Layers that attend alike (same kind and window) with their count. */
typedef struct cost_attn_group {
    int layer;                  /* a representative layer index */
    int count;
    model_attn_kind kind;
    int64_t window_tokens;
    double kv_bytes_token_gpu;  /* one token, one layer, one GPU (kv_layout_layer_bytes_token_gpu) */
} cost_attn_group;

/* Precomputed per-replica constants.
 * Invariants: par satisfies cost_par's invariants; groups and gemms cover
 * every layer exactly once (sum of counts == n_layers per GEMM position);
 * efficiencies in (0, 1]; stage_layers == ceil(n_layers / pp) and
 * stage_share == stage_layers / n_layers. */
typedef struct cost_model {
    const model_card *m;        /* not owned */
    const hw_profile *hw;       /* not owned */
    cost_par par;
    kt_dtype kv_dtype, act_dtype;
    double gemm_flops_per_s;    /* peak × efficiency, one GPU */
    double attn_flops_per_s;
    double mem_bytes_per_s;
    cost_gemm gemms[MODEL_MAX_GEMMS * 4];
    int n_gemms;
    cost_attn_group groups[COST_MAX_ATTN_GROUPS];
    int n_groups;
    int n_moe_layers;
    int stage_layers;           /* layers of the largest pipeline stage */
    double stage_share;         /* its share of the layers; 1 without PP */
    int64_t launch_ns_stage;    /* kernel launches of one micro-batch on that stage */
    cost_link tp_link, cp_link, ep_link;
    double pp_hop_ns_per_byte;  /* sum over the pp-1 stage hand-offs of 1e9 / bandwidth */
    int64_t pp_hop_latency_ns;  /* sum of their latencies */
    double attn_out_bytes_token_layer; /* one token's attention output on one GPU, mean over layers */
    double peak_flops_gpu;      /* for effective utilization */
    /* per-iteration and per-running-sequence host (CPU) time the GPU waits
     * on; set by the engine preset or scenario, else the hardware profile's
     * figure */
    int64_t host_step_ns, host_seq_ns;
} cost_model;

/* Prepares cm for model m on profile hw with parallel layout par and KV in
 * kv_dtype. Returns 0, or -1 with err (a layout breaking cost_par's
 * invariants, more layer kinds than it handles, a GPU without the dtype).
 * m and hw must outlive cm. */
int cost_model_init_par(cost_model *cm, const model_card *m, const hw_profile *hw, const cost_par *par,
                        kt_dtype kv, kt_err *err);
/* cost_model_init_par with tensor parallelism tp alone (pp = cp = ep = 1). */
int cost_model_init(cost_model *cm, const model_card *m, const hw_profile *hw, int tp, kt_dtype kv,
                    kt_err *err);

/* KV bytes per token, block and context: kv_layout.h. */
/* Weight bytes each GPU holds: its tensor-parallel share of its pipeline
 * stage's layers (the largest stage, which also holds the lm_head). Every
 * CP group holds a copy of the stage, and EP only regroups the experts
 * inside the TP group (n_experts / ep whole experts on tp / ep GPUs is
 * 1/tp of them), so neither changes it unless ep leaves uneven parts
 * (n_experts % ep != 0: the fullest part counts). */
double cost_weight_bytes_gpu(const cost_model *cm);

/* Time and work of one iteration over seqs[0..n). n_logits sequences
 * sample a token at its end (lm_head rows). Pure and allocation-free: reads
 * cm only. */
void cost_iteration(const cost_model *cm, const cost_seq *seqs, int n, int n_logits, cost_iter *out);

#endif
