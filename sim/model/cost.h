/* cost.h — the time of one batch iteration on one replica, from the model card and the hardware profile. */
#ifndef KT_COST_H
#define KT_COST_H

#include <stdint.h>

#include "dtype.h"
#include "err.h"
#include "hw.h"
#include "model.h"
#include "quant.h"
#include "sparse_attn.h"

/* One sequence's part of an iteration: new_tokens computed after
 * cached_tokens already in KV; the first wasted_tokens of the new ones
 * recompute KV that was lost (preemption) and are not useful work. A
 * speculative verify (verify 1) is a decode with new_tokens queries (the
 * last token and the drafts): its attention runs in the paged decode
 * kernel, reading the context once for all of them. */
typedef struct cost_seq {
    int64_t new_tokens;
    int64_t cached_tokens;
    int64_t wasted_tokens;
    int verify;
} cost_seq;

/* Whether seq's attention runs in the paged decode kernel: one new token,
 * or a speculative verify's few. */
static inline int cost_seq_decodes(const cost_seq *seq)
{
    return seq->new_tokens == 1 || seq->verify;
}

/* What one iteration costs on the replica (all its GPUs together).
 * total_ns = gemm_ns + attn_ns + comm_ns + small_ns + launch_ns + host_ns +
 * bubble_ns (+ wait_ns and draft_ns once the caller adds them). gemm, attn, comm, small and
 * launch are what the busiest pipeline stage spends on all micro-batches
 * (small: the memory-bound kernels between them; launch: kernel launches
 * the GPU waits for, beyond its own work); host_ns is the engine's CPU time
 * per iteration; bubble_ns is the pipeline's fill time. */
typedef struct cost_iter {
    int64_t total_ns;
    int64_t gemm_ns, attn_ns, comm_ns, small_ns, launch_ns, host_ns;
    int64_t bubble_ns;          /* pipeline fill: pp-1 micro-batch stage times; 0 without PP */
    int64_t dequant_ns;         /* part of attn_ns spent dequantizing KV before attention (model kv_dequant) */
    double flops;               /* all GPUs of the replica, the batch's work counted once */
    double flops_wasted;        /* part of flops spent on wasted_tokens */
    double hbm_bytes;           /* bytes read/written from HBM, all GPUs */
    int64_t wait_ns;            /* part of total_ns the GPU waits on storage (set by the caller) */
    int64_t draft_ns;           /* part of total_ns speculative decoding's draft takes (spec_cost_draft) */
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
    int network;                /* 1: crosses NVLink domains over the network */
} cost_link;

/* Distinct GEMM shapes of the model with how many layers have them. */
typedef struct cost_gemm {
    int64_t n, k;
    model_gemm_kind kind;
    int count;
} cost_gemm;

/* Distinct attention layer kinds a cost model tells apart. */
#define COST_MAX_ATTN_GROUPS 8

/* Layers that attend alike (same kind, window and KV precision) and
 * either all store their KV or all read another layer's, with their count. */
typedef struct cost_attn_group {
    int layer;                  /* a representative layer index */
    int count;
    model_attn_kind kind;
    int64_t window_tokens;
    double kv_bytes_token_gpu;  /* one token, one layer, one GPU, as attention reads it (kv_layout_layer_bytes_token_gpu) */
    int sparse;                 /* decode selects pages (sparse_attn_layer_sparse) */
    double meta_bytes_page_gpu; /* of a sparse group: one page's selection metadata on one GPU */
    kt_dtype kv_dtype;          /* the precision it is held in (model_layer_kv_dtype) */
    int stores;                 /* 1: the layers hold their own KV; 0: they read an earlier layer's (no memory, no writes) */
    double decode_flops_token;  /* model_attn_flops of one new token over no cached ones: a global or MLA
                                 * layer's decode at context x takes x times it */
    double kv_bytes_mantissa;   /* kv_bytes_token_gpu as an integer times a power of two: that integer */
    int linear;                 /* 1: no window, no page selection, tp a power of two and kv_bytes_mantissa > 0:
                                 * a decode batch's sums may come from its context total (cost_decode_step) */
} cost_attn_group;

/* The profile's curves a cost model evaluates, prepared (curve_ln). */
typedef struct cost_curves {
    curve_ln gemm, attn, attn_hd;           /* of gemm_curve, attn_curve, attn_curve_hd */
    curve_ln attn_decode, memory, small_ops, allreduce, p2p, alltoall, allgather; /* the profile's of that name */
} cost_curves;

/* Precomputed per-replica constants.
 * Invariants: par satisfies cost_par's invariants; groups and gemms cover
 * every layer exactly once (sum of counts == n_layers per GEMM position);
 * the curves are the profile's (not owned) and the peaks > 0; curves
 * holds them prepared (curve_ln's invariants);
 * stage_layers == ceil(n_layers / pp) and stage_share == stage_layers / n_layers. */
typedef struct cost_model {
    const model_card *m;        /* not owned */
    const hw_profile *hw;       /* not owned */
    cost_par par;
    kt_dtype kv_dtype, act_dtype;
    kt_dtype gemm_dtype;        /* operands the GEMMs multiply: the weight format's native path, or its emulation */
    kt_dtype attn_dtype;        /* prefill attention's path: fp8 with fp8 KV where the profile measures it */
    double gemm_peak_flops;     /* one GPU, gemm_dtype; also effective utilization's peak */
    double attn_peak_flops;     /* one GPU, attn_dtype */
    const curve *gemm_curve;
    const curve *attn_curve, *attn_curve_hd; /* prefill attention at the model's head dim: */
    double attn_hd_t;                        /* curve_eval_between(attn_curve, attn_curve_hd, attn_hd_t, x) */
    cost_curves curves;         /* the curves above and the profile's others, prepared */
    double weight_bytes_param;  /* HBM bytes of one parameter, scales included */
    int quantize_acts;          /* W8A8: each GEMM input is quantized to 1 byte first */
    int64_t host_step_ns;       /* per-iteration and per-running-sequence host (CPU) time the GPU waits on; */
    int64_t host_seq_ns;        /* set by the engine preset or scenario, else the hardware profile's figure */
    cost_gemm gemms[MODEL_MAX_GEMMS * 4];
    int n_gemms;
    cost_attn_group groups[COST_MAX_ATTN_GROUPS];
    int n_groups;
    int n_moe_layers;
    int stage_layers;           /* layers of the largest pipeline stage */
    double stage_share;         /* its share of the layers; 1 without PP */
    int64_t launch_ns_stage;    /* issuing the kernels of one micro-batch on that stage */
    cost_link tp_link, cp_link, ep_link;
    int pp_nvlink_hops;         /* of the pp-1 stage hand-offs, those inside an NVLink domain */
    double pp_net_ns_per_byte;  /* sum over the others (across domains) of 1e9 / network bandwidth */
    int64_t pp_net_latency_ns;  /* sum of their latencies */
    double attn_out_bytes_token_layer; /* one token's attention output on one GPU, mean over layers */
    double kv_bytes_token_layer_gpu;   /* one token's KV on one GPU, mean over layers */
    sparse_attn_cfg sparse;     /* sparse decode attention; off (zeroed) unless cost_model_set_sparse */
    double kv_write_bytes_token_layer_gpu; /* writing one token's KV on one GPU, mean over layers: its K and V read
                                            * in the activation dtype and written at their precision; sharing
                                            * layers write none */
    int decode_heads_gpu;       /* KV heads one GPU's decode kernel works through per sequence */
    double attn_eff_lo;         /* attention's efficiency at context x is at least attn_eff_lo × */
    double attn_eff_x;          /* min(1, x / attn_eff_x) (0 when no curve holds its time below its first point);
                                 * attn_eff_lo is 0 where no such bound is known */
    double attn_ub_ns_flop;     /* 1e9 / (attn_peak_flops × attn_eff_lo), raised by 1e-6 for rounding; 0 without */
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

/* Decode steps of cm attend by page selection as sp says (copied): the
 * attention groups are formed again, sparse layers apart from dense ones.
 * Returns 0, or -1 with err (more layer kinds than cm handles). */
int cost_model_set_sparse(cost_model *cm, const sparse_attn_cfg *sp, kt_err *err);

/* KV bytes per token, block and context: kv_layout.h. */
/* Weight bytes each GPU holds: its tensor-parallel share of its pipeline
 * stage's layers (the largest stage, which also holds the lm_head). Every
 * CP group holds a copy of the stage, and EP only regroups the experts
 * inside the TP group (n_experts / ep whole experts on tp / ep GPUs is
 * 1/tp of them), so neither changes it unless ep leaves uneven parts
 * (n_experts % ep != 0: the fullest part counts). */
double cost_weight_bytes_gpu(const cost_model *cm);

/* Load of the busiest of ep expert-parallel parts over the mean when
 * `assignments` token-to-expert copies spread uniformly (>= 1, <= ep). */
double cost_ep_imbalance(int ep, double assignments);

/* Time and work of one iteration over seqs[0..n). n_logits sequences
 * sample a token at its end (lm_head rows). Pure and allocation-free: reads
 * cm only. */
void cost_iteration(const cost_model *cm, const cost_seq *seqs, int n, int n_logits, cost_iter *out);

/* What an iteration's cost takes from its token counts alone (all but
 * attention), in ns of one micro-batch on the largest stage unless named
 * otherwise. Invariants: as cost_shape_init computed it for its counts;
 * mb >= 1 when tokens > 0. */
typedef struct cost_shape {
    double tokens, decode, running;
    int n_logits;
    double mb;                  /* micro-batches */
    double gemm_layers, lm_ns;  /* the layers' GEMMs (all stages), the lm_head */
    double gemm_flops;          /* the batch's GEMM FLOPs per TP rank */
    double gemm_bytes;          /* a micro-batch's GEMM bytes per GPU */
    double comm_ns;             /* collectives, CP transfers apart */
    double small_ns;            /* memory-bound kernels between the GEMMs */
    double handoff_ns;          /* pipeline hand-offs of the first micro-batch (all of it, not per micro-batch) */
} cost_shape;

/* The steps of a decode run: n sequences computing one token each (no
 * verify, none wasted), plus n_pad CUDA-graph padding rows (one token over
 * no KV, wasted). Step s (shift) has every sequence s tokens further.
 * Invariants: ctx_tokens == Σ over seqs of cached_tokens + 1; shape is of
 * n + n_pad decode tokens, as many running, n_logits sampling; fixed and
 * the stage times are the shape's, with no CP transfer exposed. */
typedef struct cost_decode {
    const cost_seq *seqs;       /* not owned; read by each cost_decode_step */
    int n, n_pad, n_logits;
    int64_t ctx_tokens;
    cost_shape shape;
    cost_iter fixed;            /* what every step shares: gemm_ns, comm_ns, small_ns, host_ns; the rest 0 */
    double gemm_stage_ns, comm_stage_ns; /* one micro-batch's GEMMs and collectives on the largest stage */
} cost_decode;

/* Prepares d for seqs[0..n) (the caller keeps them unchanged while it uses
 * d) and n_pad padding rows: walks them once and costs the shape. Returns
 * 0, or -1 when a sequence is not a plain decode (cost_iteration then). */
int cost_decode_init(const cost_model *cm, const cost_seq *seqs, int n, int n_pad, int n_logits, cost_decode *d);
/* Step shift of d: bit for bit cost_iteration of seqs[0..n), each with
 * shift more cached tokens, followed by the n_pad rows { 1, 0, 1, 0 }, and
 * n_logits. Does not walk the batch where attention groups allow
 * (global and MLA layers: running totals; others walk it without curve
 * evaluations while attention is provably memory-bound). Pure, allocation-free. */
void cost_decode_step(const cost_model *cm, const cost_decode *d, int64_t shift, cost_iter *out);

#endif
