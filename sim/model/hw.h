/* hw.h — hardware profiles: one GPU's peak rates, memories, links, efficiencies and price, each figure with its provenance. */
#ifndef KT_HW_H
#define KT_HW_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "curve.h"
#include "dtype.h"
#include "err.h"

/* How a figure is known: an estimate or spec-sheet reading, someone else's
 * measurement (a paper, a vendor's or a project's benchmark results), or
 * our own calibration run. */
typedef enum { HW_ASSUMED, HW_PUBLISHED, HW_MEASURED, HW_STATUS_COUNT } hw_status;

extern const char *const hw_status_names[HW_STATUS_COUNT + 1];

/* Where one figure of a profile came from. */
typedef struct hw_provenance {
    char key[64];              /* figure name as in the YAML ("hbm_bandwidth", "curves.gemm.bf16[3]") */
    hw_status status;
    char source[384];          /* spec sheet, paper, or "measured on <GPU> <date>" */
    /* Optional, measured figures only (written by kvtier-calibrate): */
    int has_residual;          /* 1 when the figure gave `residual` */
    double residual;           /* relative fit residual (RMS of (fit - measured) / measured), >= 0 */
    int64_t samples;           /* raw samples behind the figure; 0 when not given */
} hw_provenance;

/* A GPU hardware profile.
 * Invariants: every rate and size > 0 except peak_flops[d] == 0 for dtypes
 * the GPU has no tensor-core path for; efficiencies in (0, 1]; an NVLink
 * domain is a whole number of nodes or a whole fraction of one
 * (nvlink_domain_gpus and gpus_per_node divide one another); every curve
 * satisfies curve_check, and gemm[bf16], attn_prefill[bf16], memory,
 * small_ops, attn_decode and allreduce have points; n_prov == number of figures and
 * curve points read, each with a non-empty source. */
typedef struct hw_profile {
    char name[64];             /* "h100-sxm" */
    char gpu[128];             /* "NVIDIA H100 SXM5 80GB" */
    double peak_flops[DTYPE_COUNT];  /* dense tensor FLOP/s by operand dtype */
    double hbm_bytes;
    double hbm_bw_Bps;
    int sm_count;
    double smem_per_sm_bytes;
    double l2_bytes;
    double nvlink_bw_Bps;      /* per GPU, per direction */
    int64_t nvlink_latency_ns; /* one step of a collective over NVLink */
    int gpus_per_node;         /* GPUs in one server (8 on DGX/HGX boards) */
    int nvlink_domain_gpus;    /* GPUs one GPU reaches over NVLink (8 on HGX, 72 on an NVL72 rack) */
    double network_bw_Bps;     /* scale-out NIC bandwidth per GPU, per direction */
    int64_t network_latency_ns; /* one step of a collective across nodes */
    double pcie_bw_Bps;        /* host link, per direction */
    double pcie_duplex_bw_Bps; /* host link, both directions together while both are busy */
    double c2c_bw_Bps;         /* chip-to-chip link to a CPU's memory (NVLink-C2C), per GPU per direction; 0: none */
    double c2c_memory_bytes;   /* CPU memory behind that link, per GPU (a Grace shared by two GPUs: half); 0: none */
    double eff_nic;            /* achieved / line rate of RDMA KV transfers (large operations) */
    int64_t nic_op_ns;         /* per-operation cost of an RDMA transfer, beside bytes / achieved rate */
    int64_t launch_ns;         /* one kernel launch, as seen in a serving loop */
    int kernels_per_layer;     /* kernels one decoder layer launches */
    int64_t small_op_floor_ns; /* shortest GPU time of one small kernel (a norm, an add) */
    int64_t host_step_ns;      /* CPU time per engine iteration the GPU waits on */
    int64_t host_seq_ns;       /* the same, per running sequence */
    int64_t decode_item_ns;    /* optional (0: not given): GPU time per work item (a sequence's KV head) of a
                                * paged decode kernel, which bounds it below when contexts are short */
    /* Efficiency curves (curve.h), each point a figure with provenance:
     * GEMM compute by M and prefill attention by sequence length, per
     * operand dtype (n == 0 where none is given: hw_gemm_curve falls back);
     * HBM streaming (weights, KV) and small elementwise kernels, by the
     * bytes one kernel moves; decode attention by KV bytes
     * read; all-reduce bus bandwidth / nvlink_bw by message bytes. */
    curve gemm[DTYPE_COUNT];
    curve attn_prefill[DTYPE_COUNT];           /* head dim 128, and any head dim without the two below */
    curve attn_prefill_hd64[DTYPE_COUNT];      /* optional: head dim 64 (n == 0 where not given) */
    curve attn_prefill_hd256[DTYPE_COUNT];     /* optional: head dim 256 */
    curve memory;
    curve small_ops;
    curve attn_decode;
    curve allreduce;
    /* Optional (n == 0: not given): all-gather and all-to-all bus bandwidth
     * and a point-to-point send's bandwidth, / nvlink_bw, by message bytes,
     * each beside its own latency below; together with the latencies or not
     * at all. Without them those collectives use eff_nvlink and
     * nvlink_latency_ns. */
    curve allgather, alltoall, p2p;
    int64_t allgather_latency_ns, alltoall_latency_ns, p2p_latency_ns; /* 0 when the curves are not given */
    double eff_nvlink;         /* achieved / peak NVLink bandwidth of NVLink transfers the profile has no curve for */
    double eff_network;        /* achieved / peak network bandwidth in collectives across nodes */
    double price_usd;          /* purchase price of one GPU (capex) */
    double hourly_usd;         /* rental price per GPU-hour */
    double power_w;            /* board power */
    hw_provenance *prov;       /* owned, n_prov entries, room for cap_prov */
    size_t n_prov, cap_prov;
} hw_profile;

/* Loads a profile strictly from a YAML file (hwprofiles/NAME.yaml), or from
 * YAML text of len bytes that errors call name. NULL with err on failure.
 * Caller frees with hw_free. */
hw_profile *hw_load(const char *path, kt_err *err);
hw_profile *hw_load_string(const char *text, size_t len, const char *name, kt_err *err);
/* Builds a profile from a parsed mapping; marks keys it reads. */
hw_profile *hw_from_conf(conf_node *root, kt_err *err);
hw_profile *hw_load_named(const char *name, const char *const *dirs, kt_err *err);
void hw_free(hw_profile *h);
int hw_check(const hw_profile *h, kt_err *err);

/* Peak dense FLOP/s for operands of dtype d; falls back to the nearest wider
 * dtype the GPU supports (fp8 on an A100 runs at the bf16 rate). */
double hw_peak_flops(const hw_profile *h, kt_dtype d);
/* The GEMM (or prefill attention) curve for operands of dtype d: d's own,
 * else the first along hw_peak_flops' fallback chain that the profile gives
 * (the bf16 one at least, which every profile must have). */
const curve *hw_gemm_curve(const hw_profile *h, kt_dtype d);
const curve *hw_attn_prefill_curve(const hw_profile *h, kt_dtype d);
/* The two prefill attention curves (dtype d's, as hw_attn_prefill_curve
 * picks it) that bracket head dimension head_dim among 64, 128 and 256, and
 * how far between them it lies, linearly in log2 of the head dim: *lo, *hi
 * and *t such that curve_eval_between(*lo, *hi, *t, x) is the efficiency.
 * A head dim beyond the curves the profile gives takes the nearest one;
 * 128, or a profile with the head-dim-128 curve alone, gives it with t = 0. */
void hw_attn_prefill_head_dim(const hw_profile *h, kt_dtype d, int head_dim, const curve **lo, const curve **hi,
                              double *t);
/* HBM efficiency of a long streaming kernel: the memory curve's plateau. */
double hw_stream_efficiency(const hw_profile *h);
/* Provenance of a figure by key, or NULL. */
const hw_provenance *hw_provenance_of(const hw_profile *h, const char *key);

#endif
