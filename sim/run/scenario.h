/* scenario.h — a scenario: model, hardware, replicas, KV and scheduler settings, workload, SLOs, cost, seed — loaded strictly from YAML. */
#ifndef KT_SCENARIO_H
#define KT_SCENARIO_H

#include <stdint.h>

#include "conf.h"
#include "dtype.h"
#include "err.h"
#include "hw.h"
#include "metrics.h"
#include "model.h"
#include "router.h"
#include "sparse_attn.h"
#include "serve.h"
#include "spec_cost.h"
#include "tier.h"
#include "trace.h"
#include "workload.h"

/* A node or replica failure at a time: replicas [first, first + count) fail. */
typedef struct scenario_fault {
    int64_t at_ns;
    int first, count;
} scenario_fault;
#define MAX_FAULTS 64

/* Bounds of a replica's figures, shared with `kvtier kv` (README, "Bounds
 * of every figure"): GPUs in one model copy, the least share of HBM, and
 * the most memory kept back for activations (1 PB: no GPU has as much). */
#define MAX_GPUS_PER_REPLICA 1024
#define SCENARIO_MIN_HBM_FRACTION 0.01
#define SCENARIO_MAX_RESERVE_BYTES 1e15

/* Bounds on what a synthetic workload may ask for, so that no run goes on
 * for ever or outgrows memory (README, "Limits"): the simulated time it
 * implies (workload_horizon_s), one year; the requests it implies, 100
 * million (each keeps a record of a few hundred bytes until the run is
 * stored). Runs that are legal but slow are --max-wall's to bound. */
#define SCENARIO_S_PER_DAY 86400.0   /* the limits are said in days */
#define SCENARIO_MAX_HORIZON_S (365.0 * SCENARIO_S_PER_DAY)
#define SCENARIO_MAX_REQUESTS 1e8
/* The longest one iteration, or one context's KV transfer to or from a
 * tier, may take (estimated before the run from the figures): an hour is
 * no inference step, and it keeps every time the run adds up a factor of
 * a million inside int64 nanoseconds. */
#define SCENARIO_MAX_STEP_S 3600.0
/* Bounds of speculative decoding's figures: drafted tokens per step (engines
 * draft a handful; 64 is far past any) and an EAGLE head's size in target
 * decoder layers. */
#define SCENARIO_MAX_SPEC_K 64
#define SCENARIO_MAX_SPEC_HEAD_LAYERS 64.0

/* Where a key that sizes the simulation's memory was given, so that an
 * allocation failure while building the world can name it at file:line.
 * Invariants: key is a static dotted path; line == 0 when the key was left
 * to its default (file is then the scenario's, or the enclosing section's). */
typedef struct scenario_origin {
    const char *key;
    char file[512];
    int line, col;
} scenario_origin;

/* A loaded scenario.
 * Invariants: model and hw are loaded and checked; gpus_per_replica ==
 * cost_par_gpus(&par); kv_blocks_per_replica >= 1 (the weights fit and leave
 * room for KV); yaml holds the effective scenario (after --set overrides). */
typedef struct scenario {
    char *file;
    char *yaml;                 /* effective scenario text, owned */
    char name[128];
    int engine;                 /* preset_engine of `engine:`, -1 without one */
    uint64_t seed;
    model_card *model;          /* owned */
    hw_profile *hw;             /* owned */
    int replicas, gpus_per_replica, tensor_parallel;
    cost_par par;               /* tp (== tensor_parallel), pp, cp, ep; gpus_per_replica == tp × pp × cp */
    router_kind router;
    int prefill_replicas;       /* disaggregated: replicas [0, this) prefill, the rest decode; 0 colocated */
    double shed_imbalance;      /* session_sticky: move a session off a replica this much busier (0 off) */
    double max_imbalance;       /* cache_aware: load may exceed the least L by this × max(L, 1) */
    int kv_block_tokens;
    kt_dtype kv_dtype;
    double hbm_fraction;
    double activation_reserve_bytes;
    int prefix_cache;
    kv_eviction eviction;       /* kv.eviction: of the HBM pool and every tier */
    uint32_t kv_blocks_per_replica;  /* derived: see scenario_kv_blocks */
    scenario_origin replicas_origin; /* replicas.count: sizes every per-replica array */
    scenario_origin kv_origin;       /* kv.hbm_fraction: sizes each replica's KV pool */
    serve_cfg sched;            /* with speculative.acceptance in sched.spec_accept */
    /* speculative: (method SPEC_OFF without it); k >= 1; draft (owned)
     * set iff method is SPEC_DRAFT, its vocabulary the model's;
     * head_layers > 0 iff method is SPEC_EAGLE. */
    struct {
        spec_method method;
        int k;
        model_card *draft;
        double head_layers;
    } spec;
    int64_t host_step_ns, host_seq_ns;  /* scheduler.host_*_overhead for the cost model; -1 unset */
    tiers_cfg tiers;            /* lower KV tiers and their policies (tiers.n may be 0) */
    sparse_attn_cfg sparse;     /* sparse_attention: decode by page selection (off unless given) */
    semcache_cfg semcache;      /* semantic_cache: a prompt cache in front of the engine (semcache.on 0: none) */
    workload_cfg workload;      /* synthetic workload (when trace.on is 0) */
    struct {
        int on;
        trace_format format;
        char path[4096];        /* resolved against the scenario's directory */
        trace_opts opts;
        int64_t requests;       /* counted by the check before the run */
        int64_t bad_lines;      /* skipped malformed lines (skip_bad) */
        int64_t first_bad[16];
    } trace;
    scenario_fault faults[MAX_FAULTS];
    int n_faults;
    metrics_slo slo;
    metrics_cost cost;
    int64_t sample_interval_ns;
} scenario;

/* Loads path, applies the n_sets "a.b=value" overrides in order, validates
 * everything (unknown keys included) and resolves the model card and
 * hardware profile. NULL with err (file:line:col: key: what) on failure.
 * Caller frees with scenario_free. */
scenario *scenario_load(const char *path, char *const *sets, int n_sets, kt_err *err);
/* The same for YAML text of len bytes; name stands for its file: errors
 * cite it, and model cards, profiles and traces are looked up next to it. */
scenario *scenario_load_string(const char *text, size_t len, const char *name, char *const *sets, int n_sets,
                               kt_err *err);
void scenario_free(scenario *sc);

/* Directories searched for model cards ("models") or profiles ("hwprofiles"):
 * $KVTIER_DATA/<sub>, <dir of near>/../<sub>, ./<sub>, then the program's
 * own: the source tree's <sub> for a program run from its build tree, else
 * the installed data directory's. Never near's own folder. Fills dirs
 * (NULL-terminated, at most max-1 entries) with strings owned by buf. near
 * may be NULL. */
void scenario_data_dirs(const char *near, const char *sub, char *buf, size_t buf_len,
                        const char **dirs, int max);

/* KV blocks per replica: per GPU, hbm × hbm_fraction − the weights one GPU
 * holds under the layout par − activation reserve − extra_weight_bytes_gpu,
 * divided by a block's bytes on one GPU (kv_layout's block_bytes_gpu:
 * sub-byte dtypes count their scales) plus block_tokens ×
 * extra_kv_bytes_token_gpu. The extras are a speculative draft's weights
 * and the KV it keeps beside each token (0 without one). 0 if none fit (or
 * the layout is invalid). */
uint32_t scenario_kv_blocks(const model_card *m, const hw_profile *hw, const cost_par *par, kt_dtype kv,
                            int block_tokens, double hbm_fraction, double reserve_bytes,
                            double extra_weight_bytes_gpu, double extra_kv_bytes_token_gpu);
/* The draft sc's speculative decoding adds on one GPU: weight bytes and KV
 * bytes per token (both 0 when off or the layout is invalid). */
void scenario_spec_extras(const scenario *sc, double *weight_bytes_gpu, double *kv_bytes_token_gpu);

/* The configuration of one replica's tier set under sc; shared as in
 * tier_set_config. sc must outlive the sets built from it. */
tier_set_config scenario_tier_set_config(const scenario *sc, tier_cache *const *shared);

/* Memory capex (USD) of the KV tiers in use: those of one replica
 * (fleet_shared 0), or the fleet's shared pools (1). Capacity × drives ×
 * cost.*_usd_per_gb of the tier's kind. */
double scenario_tier_capex_usd(const scenario *sc, int fleet_shared);

#endif
