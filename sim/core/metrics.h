/* metrics.h — per-request records, the inter-token-latency distribution, per-replica accounting and the run summary. */
#ifndef KT_METRICS_H
#define KT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <gsl/gsl_histogram.h>

#include "err.h"

typedef enum { REQ_COMPLETED, REQ_REJECTED, REQ_UNFINISHED, REQ_OUTCOME_COUNT } metrics_outcome;
extern const char *const metrics_outcome_names[REQ_OUTCOME_COUNT + 1];

/* Why GPU time was wasted. */
typedef enum { WASTE_PREEMPTION, WASTE_RECOMPUTE, WASTE_CAUSE_COUNT } metrics_waste;

/* Why a request was rejected: its prompt outran the model's context, its
 * prompt plus output could never fit a replica's KV pool, or no replica was
 * alive to take it. */
typedef enum { REJECT_NONE, REJECT_CONTEXT, REJECT_KV_POOL, REJECT_NO_REPLICA, REJECT_REASON_COUNT } metrics_reject;
extern const char *const metrics_reject_names[REJECT_REASON_COUNT + 1];
#define METRICS_TIERS 4
extern const char *const metrics_waste_names[WASTE_CAUSE_COUNT + 1];

/* What happened to one request.
 * Invariants (completed requests): arrival <= first_sched <= first_token <=
 * finish; n_gaps == output_tokens - 1; gap_sum_ns == finish - first_token;
 * gaps (when kept) holds n_gaps values summing to gap_sum_ns. */
typedef struct metrics_req {
    int64_t id;
    int64_t session;
    int turn;
    int replica;
    metrics_outcome outcome;
    int64_t arrival_ns, first_sched_ns, first_token_ns, finish_ns;
    int64_t prompt_tokens, output_tokens;
    int64_t prefix_hit_tokens;      /* prompt tokens found in the prefix cache at first admission */
    int64_t recomputed_tokens;      /* tokens computed again after preemption */
    int preemptions;
    int swap_outs;                  /* of those preemptions, the ones that swapped its KV to host memory */
    int reroutes;                   /* times a failed replica handed it to another */
    int64_t tier_hit_tokens[METRICS_TIERS]; /* prompt tokens fetched from each lower tier */
    int64_t tier_recomputed_tokens; /* tokens a lower tier held but recomputing was cheaper */
    int64_t fetch_ns;               /* time spent waiting for KV to arrive from lower tiers */
    int prefill_replica;            /* disaggregated: where it was prefilled; -1 colocated */
    int64_t kv_transfer_ns;         /* disaggregated: first token to its KV landing on the decode replica;
                                     * migrated: arrival to its session's KV landing on the new replica */
    int64_t migrated_tokens;        /* its session moved replicas, carrying this many cached tokens' KV */
    int64_t retention_dropped_tokens;   /* prompt tokens KV retention dropped from HBM */
    int64_t in_storage_tokens;      /* prefix tokens attended to inside a storage tier */
    int64_t retention_offloaded_tokens; /* prompt tokens KV retention wrote to a lower tier instead of dropping */
    int64_t trace_blocks;           /* prefix-hash blocks of a trace request */
    int64_t trace_reused_blocks;    /* of which an earlier request of the trace had asked for */
    int64_t truncated_tokens;       /* prompt tokens cut off because the prompt outran the model's context */
    metrics_reject reject_reason;   /* REJECT_NONE unless rejected */
    int64_t reject_need, reject_have;   /* REJECT_CONTEXT: prompt and context tokens; REJECT_KV_POOL: KV
                                     * blocks needed and the replica's pool */
    int64_t n_gaps, gap_sum_ns, gap_max_ns;
    int64_t *gaps;                  /* every inter-token gap (ns) when kept; owned */
} metrics_req;

/* One replica's accounting over the run. */
typedef struct metrics_replica {
    int gpus;
    int64_t busy_ns;
    int64_t stall_ns;               /* GPU idle waiting for KV pages */
    int64_t dequant_ns;             /* part of busy_ns dequantizing KV before attention */
    int64_t iterations;
    double flops;
    double flops_wasted[WASTE_CAUSE_COUNT];
    double gpu_ns_wasted[WASTE_CAUSE_COUNT];  /* iteration time × share of wasted FLOPs × GPUs */
    double hbm_bytes;
    double peak_flops_gpu;          /* FLOP/s, for effective utilization */
    double peak_hbm_Bps;            /* for MBU */
    /* Sparse attention's pages of decode steps whose KV lies in a tier
     * (sim/serve/sparse.c), one page being one layer's: selected ==
     * resident (in HBM already) + prefetched (predicted a step ahead) +
     * faulted (fetched on demand). */
    int64_t sparse_pages_selected, sparse_pages_resident, sparse_pages_prefetched, sparse_pages_faulted;
    int64_t sparse_stall_ns;        /* of stall_ns: steps waiting for their selected pages */
    double sparse_bytes_prefetched, sparse_bytes_faulted;  /* moved from the tier into HBM */
    /* Speculative decoding: steps with a verify, sequences verified, tokens
     * drafted (k per verified sequence) and drafts accepted. */
    int64_t spec_verify_steps, spec_verify_seqs, spec_draft_tokens, spec_accepted_tokens;
} metrics_replica;

/* One sample of a replica's state (time series). */
typedef struct metrics_sample {
    int64_t t_ns;
    int replica;
    int running, waiting;
    uint32_t kv_used_blocks, kv_cached_blocks;
    double busy_frac;               /* busy share of the interval before t */
    int64_t tokens_out;             /* output tokens in the interval before t */
} metrics_sample;

/* A lower tier's totals at the end of a run. */
typedef struct metrics_tier {
    int replica, level;
    char name[32], kind[16];
    uint32_t capacity_blocks;
    double block_bytes;
    int64_t found_blocks;       /* blocks lookups found here (then fetched, attended in place, or recomputed) */
    int64_t fetched_blocks, stored_blocks, evicted_blocks;
} metrics_tier;

/* A link's totals, and its utilization samples. */
typedef struct metrics_link {
    int replica, link;
    char name[32];
    double bw_Bps, bytes_moved;
} metrics_link;

typedef struct metrics_link_sample {
    int64_t t_ns;
    int replica, link;
    double utilization;             /* bytes moved in the interval / (bandwidth × interval) */
} metrics_link_sample;

/* Blocks one KV tier holds at a sample time. Levels are the tiers table's
 * (lower tier 0 is the first below HBM); HBM is METRICS_HBM_LEVEL (blocks
 * in use or kept as prefix cache). A fleet-shared tier is one pool: it is sampled once, with
 * replica METRICS_SHARED_REPLICA. */
#define METRICS_SHARED_REPLICA (-1)
#define METRICS_HBM_LEVEL (-1)
typedef struct metrics_tier_sample {
    int64_t t_ns;
    int replica, level;
    uint64_t used_blocks;
} metrics_tier_sample;

/* Per-request SLOs; 0 = not set. A request meets them when each set bound holds. */
typedef struct metrics_slo {
    int64_t ttft_ns, tpot_ns, itl_ns;
} metrics_slo;

/* Cost inputs. */
typedef struct metrics_cost {
    double gpu_price_usd;           /* capex per GPU */
    double amortization_years;
    double hourly_usd;              /* if > 0, replaces capex amortization */
    double power_w;                 /* per GPU */
    double usd_per_kwh;
    double pue;
    double mem_usd_per_gb[4];       /* KV tier memory capex by tier kind: dram, cxl, nvme, remote */
} metrics_cost;

/* Seconds in a (Julian) year, for amortization and annual costs. */
#define METRICS_SECONDS_PER_YEAR (365.25 * 86400.0)
/* Dollars one GPU costs per second: amortized capex (or rent) plus power. */
double metrics_gpu_usd_per_s(const metrics_cost *c);

/* Quantiles of one quantity. */
typedef struct metrics_dist {
    double mean, p50, p90, p99, max;
    size_t n;
} metrics_dist;

/* Whether a run's arrivals saw a steady state (metrics_steady_state).
 * The backlog is the number of requests in the system (admitted, not yet
 * finished), sampled at each arrival. The measured window runs from the end
 * of the warm-up to the end of the arrival horizon (the last first turn of a
 * session: after it no new sessions come and the offered load falls).
 * Invariants: warmup_end_ns <= window_end_ns; steady == 1 when the window
 * holds fewer than METRICS_STEADY_MIN_SAMPLES arrivals (nothing to judge). */
typedef struct metrics_steady {
    int64_t first_arrival_ns, warmup_end_ns, window_end_ns;
    size_t samples;                 /* arrivals in the measured window */
    double backlog_mean;            /* requests in system, mean over those arrivals */
    double backlog_trend_per_s;     /* least-squares slope of the backlog against time */
    double backlog_growth;          /* trend × window length: requests the backlog grew by */
    int64_t backlog_at_end;         /* requests in system at the window's end */
    int steady;                     /* backlog_growth within the tolerance */
} metrics_steady;

/* The backlog must not grow by more than this share of its mean over the
 * measured window (metrics_backlog_steady); the plan key steady.growth_tolerance
 * overrides it for planner probes. A queue past capacity grows linearly: after
 * a warm-up of at most half the horizon its growth over the window is at least
 * 2/3 of its mean, far above this; a stable one's fitted growth is noise. */
#define METRICS_STEADY_GROWTH_TOLERANCE 0.25
/* The growth must also be significant: the backlog's samples are strongly
 * correlated, so the slope is tested on batch means (Schmeiser 1982: 10 to 30
 * batches), one-sided, with Student's t on batches - 2 degrees of freedom.
 * Without it a light load's backlog of a few requests, drifting by one or
 * two over a window, would read as growth. */
#define METRICS_STEADY_BATCHES 10
#define METRICS_STEADY_ALPHA 0.01
/* Fewer arrivals than this in the window: no line worth fitting. */
#define METRICS_STEADY_MIN_SAMPLES 8
/* A semantic prompt cache's totals, set by the simulator after the run (all
 * 0 without one). Invariants: hits + misses == lookups; false_hits <= hits. */
typedef struct metrics_semcache {
    int64_t lookups, hits, misses, false_hits, capacity_misses, evicted;
    int64_t miss_delay_ns;          /* summed over misses: embedding + lookup before the engine */
    int64_t hit_latency_ns;         /* summed over hits: the whole answer time */
    double held_bytes;              /* entries held at the end × entry bytes */
} metrics_semcache;

/* MSER never truncates more than this share of the samples (White 1997): a
 * series that needs more has no steady state to measure. */
#define METRICS_MSER_MAX_SHARE 0.5

typedef struct metrics_summary {
    size_t requests, completed, rejected, unfinished;
    int64_t duration_ns;            /* first arrival to last completion */
    int64_t input_tokens, output_tokens, prefix_hit_tokens, recomputed_tokens;
    int64_t tier_hit_tokens[METRICS_TIERS], tier_recomputed_tokens;
    double tier_hit_ratio[METRICS_TIERS];  /* of prompt tokens */
    double ttft_fetch_mean_ns;      /* mean TTFT part spent fetching */
    int64_t rerouted;               /* requests a failed replica handed on (at least once) */
    int64_t migrations;             /* requests whose session moved replicas with its KV */
    int64_t migrated_tokens;
    int64_t handoffs;               /* disaggregated: completed requests whose KV moved to a decode replica */
    metrics_dist kv_transfer_ns;    /* of those: first token to KV landing (queueing for blocks + transfer) */
    double stall_s;                 /* GPU-seconds idle waiting for pages */
    int64_t sparse_pages_selected, sparse_pages_resident, sparse_pages_prefetched, sparse_pages_faulted;
    double sparse_stall_s;          /* GPU-seconds of stall_s waiting for sparse attention's pages */
    double sparse_bytes_prefetched, sparse_bytes_faulted;
    double dequant_s;               /* GPU-seconds dequantizing KV before attention (kv.packed_attention false) */
    metrics_semcache semcache;      /* the semantic cache's totals, copied */
    double semcache_hit_ratio;      /* hits / lookups */
    double semcache_gpu_s_saved;    /* hits × the engine's busy GPU-seconds per completed request */
    double semcache_usd_saved;      /* those GPU-seconds at the GPUs' cost per second */
    double trace_block_reuse;       /* reused / all prefix-hash blocks of the trace's requests */
    int64_t retention_dropped_tokens, retention_offloaded_tokens, in_storage_tokens;
    int64_t preemptions;
    int64_t truncated;              /* requests whose prompt was cut to the model's context */
    int64_t rejected_by[REJECT_REASON_COUNT];   /* rejected requests per reason */
    int64_t reject_need_max[REJECT_REASON_COUNT];   /* the largest reject_need of each reason */
    int64_t reject_have[REJECT_REASON_COUNT];   /* its reject_have */
    int64_t swap_outs;              /* preemptions that swapped KV to host memory (recomputing nothing) */
    /* Speculative decoding, summed over replicas; mean accepted length is
     * the tokens a verified sequence gained per verify: (accepted drafts +
     * verified sequences) / verified sequences. */
    int64_t spec_verify_steps, spec_verify_seqs, spec_draft_tokens, spec_accepted_tokens;
    double spec_mean_accepted_length;
    double throughput_rps, throughput_tok_s, output_tok_s;
    metrics_dist ttft_ns, itl_ns, tpot_ns, e2e_ns, queue_ns;
    double goodput_rps;             /* completed requests meeting all SLOs, per second */
    double slo_attainment;          /* share of completed requests meeting all SLOs */
    double busy_util, effective_util, mbu;
    double gpu_s_wasted[WASTE_CAUSE_COUNT];
    double prefix_hit_ratio;        /* prefix-hit tokens / prompt tokens */
    int gpus;
    uint32_t kv_blocks_per_replica; /* HBM KV pool of each replica */
    double kv_block_bytes;          /* one HBM block over a replica's GPUs */
    double cost_usd;                /* GPUs over the run's duration */
    double usd_per_m_tokens, usd_per_m_output_tokens;
    metrics_steady steady;          /* at METRICS_STEADY_GROWTH_TOLERANCE */
} metrics_summary;

/* Collects results. Owns the request records (and their gap arrays). */
typedef struct metrics {
    metrics_req *reqs;
    size_t n_reqs, cap_reqs;
    gsl_histogram *itl;             /* log-spaced bins, see metrics.c */
    int64_t itl_max_ns;
    int64_t itl_last_gap_ns;        /* last gap added and its bin (a cache) */
    size_t itl_last_bin;
    metrics_replica *replicas;
    int n_replicas;
    metrics_sample *samples;
    size_t n_samples, cap_samples;
    metrics_tier *tiers;
    size_t n_tiers, cap_tiers;
    metrics_link *links;
    size_t n_links, cap_links;
    metrics_link_sample *link_samples;
    size_t n_link_samples, cap_link_samples;
    metrics_tier_sample *tier_samples;
    size_t n_tier_samples, cap_tier_samples;
    uint32_t kv_blocks_per_replica; /* HBM KV pool of each replica (set by the simulator) */
    double kv_block_bytes;          /* one HBM block over a replica's GPUs */
    metrics_semcache semcache;
} metrics;

metrics *metrics_new(int n_replicas);
void metrics_free(metrics *m);

/* Adds a record (copied; ownership of r->gaps moves to m). */
int metrics_add_request(metrics *m, const metrics_req *r);
int metrics_add_sample(metrics *m, const metrics_sample *s);
int metrics_add_tier(metrics *m, const metrics_tier *t);
int metrics_add_link(metrics *m, const metrics_link *l);
int metrics_add_link_sample(metrics *m, const metrics_link_sample *s);
int metrics_add_tier_sample(metrics *m, const metrics_tier_sample *s);
/* Counts weight gaps of gap_ns in the ITL distribution. */
void metrics_itl_add(metrics *m, int64_t gap_ns, double weight);
/* The q-quantile (0..1) of the ITL distribution, interpolated within its
 * bin (bins are 0.2% wide, so this is within 0.2% of the exact value). */
double metrics_itl_quantile(const metrics *m, double q);

/* Works out the summary (GSL sorts and quantiles) into *s (the caller's).
 * Returns 0, or -1 with err when its working arrays cannot be allocated
 * (*s is then incomplete). */
int metrics_summarize(const metrics *m, const metrics_slo *slo, const metrics_cost *cost, metrics_summary *s,
                      kt_err *err);
/* One replica's busy and effective utilization and MBU over a run of
 * duration_ns (the definitions of metrics_summary, for one replica). */
void metrics_replica_util(const metrics_replica *r, int64_t duration_ns, double *busy, double *effective,
                          double *mbu);
/* Whether a completed request meets the SLOs. */
int metrics_meets_slo(const metrics_req *r, const metrics_slo *slo);

/* MSER warm-up truncation (White 1997): the d in [0, n × METRICS_MSER_MAX_SHARE]
 * minimizing the squared standard error of the mean of x[d..n),
 * sum((x_i - mean_d)^2) / (n - d)^2. Returns 0 when n < 2. */
size_t metrics_mser_truncation(const double *x, size_t n);
/* Least-squares fit (gsl_fit_linear) of backlog[i] against t_s[i] (seconds,
 * ascending): *trend_per_s the slope, *growth = slope × (t_s[n-1] - t_s[0]),
 * *mean the backlog's mean. Grows (returns 0) when growth > growth_tolerance
 * × mean and the slope of the batch means is significantly positive
 * (METRICS_STEADY_BATCHES, METRICS_STEADY_ALPHA); steady (1) otherwise, and
 * when n < METRICS_STEADY_MIN_SAMPLES. Pure. */
int metrics_backlog_steady(const double *t_s, const double *backlog, size_t n, double growth_tolerance,
                           double *trend_per_s, double *growth, double *mean);
/* The backlog at each arrival, MSER warm-up over it, and the stationarity
 * test over the rest of the arrival horizon (see metrics_steady). Rejected
 * requests never enter; unfinished ones never leave. Returns 0, or -1 with
 * err when its working arrays cannot be allocated. */
int metrics_steady_state(const metrics *m, double growth_tolerance, metrics_steady *out, kt_err *err);
/* p99 TTFT and p99 ITL (ns) of the completed requests arriving in
 * [from_ns, to_ns], and how many there were. ITL comes from the requests'
 * stored gaps (results.itl_gaps), else the whole run's histogram. Returns 0,
 * or -1 with err when out of memory. */
int metrics_window_p99(const metrics *m, int64_t from_ns, int64_t to_ns, double *ttft_p99_ns, double *itl_p99_ns,
                       size_t *scored, kt_err *err);
/* Mean over sessions of first arrival to last finish (ns): how long a
 * session keeps offering load when unloaded. 0 without completed requests. */
double metrics_session_span_mean_ns(const metrics *m);

/* One named figure of a summary, with its unit, for tables, JSON and SQL. */
typedef struct metrics_field {
    char name[48];
    double value;
    const char *unit;
} metrics_field;
/* Room for every field metrics_summary_fields can list; field() asserts it. */
#define METRICS_MAX_FIELDS 192
/* Lists the summary's figures (latencies in ms, E2E and durations in s).
 * The counts of engine behaviours a scenario must ask for (truncated,
 * swap_outs, the speculative decoding counters)
 * are listed only when not zero, so runs without them list what they
 * always did. Returns how many were written to f (at most METRICS_MAX_FIELDS). */
size_t metrics_summary_fields(const metrics_summary *s, metrics_field *f);

/* The sparse page counts of replica r add up (see metrics_replica).
 * Returns 0, or -1 with err. */
int metrics_replica_check(const metrics_replica *r, int replica, kt_err *err);

/* Invariant checker over the stored records (see metrics_req). */
int metrics_check(const metrics *m, kt_err *err);

#endif
