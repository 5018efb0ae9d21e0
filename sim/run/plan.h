/* plan.h — the capacity planner: the highest load a replica sustains within SLOs, the fleet a target load needs, its cost, and savings against a baseline. */
#ifndef KT_PLAN_H
#define KT_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "sim.h"

#define PLAN_MAX_CANDIDATES 32
#define PLAN_MAX_PROBES 40
#define PLAN_MAX_SETS 32

/* One configuration to price: a scenario and overrides. Its "unit" is the
 * scenario's replicas as written (usually one replica; a disaggregated
 * prefill + decode group counts as one unit). */
typedef struct plan_candidate {
    char name[64];
    char *scenario;             /* path, owned */
    char *sets[PLAN_MAX_SETS];  /* "key=value", owned */
    int n_sets;
    int trace;                  /* its workload replays a trace (set by plan_load) */
    int64_t sessions;           /* synthetic: workload.sessions as written (the probes' floor) */
} plan_candidate;

/* A plan file, loaded strictly.
 * Invariants: 1 <= n_cand <= PLAN_MAX_CANDIDATES; 0 < knob_lo < knob_hi;
 * -1 <= baseline < n_cand; 2 <= max_probes <= PLAN_MAX_PROBES; at least one
 * of the SLOs is set (> 0). */
typedef struct plan_cfg {
    char *file;                 /* owned */
    char *yaml;                 /* the plan as read (written back as YAML), owned */
    char name[128];
    double target_rps;          /* requests per second the fleet must serve */
    int64_t slo_ttft_p99_ns, slo_itl_p99_ns;   /* 0: not constrained */
    double knob_lo, knob_hi;    /* search bracket: session arrivals/s, or a trace's rate_scale */
    int knob_lo_line, knob_lo_col; /* where search.low is written in file (0: the default) */
    double tolerance;           /* stop when (hi - lo) <= tolerance × lo */
    int max_probes;
    /* Steady-state probes (README "Capacity planning"): a probe's arrival
     * horizon spans at least service_times unloaded session spans and brings
     * at least min_requests scored requests; its backlog may grow by at most
     * growth_tolerance of its mean; the operating point is confirmed over
     * confirm_factor times its probe's horizon. */
    double service_times, growth_tolerance, confirm_factor;
    int64_t min_requests;
    int baseline;               /* candidate index, -1 none */
    plan_candidate cand[PLAN_MAX_CANDIDATES];
    int n_cand;
} plan_cfg;

/* One simulated load point. */
typedef struct plan_probe {
    double knob;                /* the arrival knob's value */
    double rps;                 /* request arrival rate the run saw (requests/s) */
    double ttft_p99_ms, itl_p99_ms;
    double tokens_per_request;  /* input + output, mean over completed requests */
    int64_t sessions;           /* sessions simulated (0: a trace as written) */
    size_t scored;              /* requests arriving in the measured window (after warm-up) */
    double backlog_growth;      /* requests the backlog grew by over that window */
    int steady;                 /* the backlog did not grow (metrics_steady) */
    int meets;                  /* every request completed, steady, and both p99s (of the scored
                                 * requests) within the SLOs */
} plan_probe;

/* The planner's answer for one candidate. */
typedef struct plan_result {
    char hardware[64];
    int gpus_per_unit;
    double max_rps_per_unit;    /* highest request rate within the SLOs; 0 when none */
    double usd_per_gpu_year;    /* amortized capex (or rent) plus power, one GPU */
    double tier_usd_per_unit_year, shared_tier_usd_year;  /* KV tier memory, amortized */
    double gpu_price_usd, tier_capex_per_unit_usd, shared_tier_capex_usd;
    int feasible;
    int64_t units, gpus;
    double usd_per_year, usd_capex, usd_per_m_tokens;
    plan_probe op;              /* at the operating point (the target load over the units), over
                                 * confirm_factor × the probe horizon */
    double margin;              /* 1 - max(p99 / SLO) at op: the share of the SLO left over */
    int backed_off;             /* units added because op missed the SLOs */
    int rank;                   /* 1 = cheapest feasible; 0 infeasible */
    plan_probe probes[PLAN_MAX_PROBES];
    int n_probes;
} plan_result;

/* Loads a plan file; extra_sets (applied to every candidate after its own)
 * may be NULL. Every candidate's scenario is loaded once to validate it.
 * Returns NULL with err (file:line:col: key: what). Caller frees. */
plan_cfg *plan_load(const char *path, char **extra_sets, int n_extra, kt_err *err);
void plan_free(plan_cfg *p);

/* Fleet and cost of a candidate whose unit sustains r->max_rps_per_unit
 * (and cost figures set): units = ceil(target / max), GPUs, $/year, capex.
 * Pure; sets feasible, units, gpus, usd_per_year, usd_capex. */
void plan_price(const plan_cfg *p, plan_result *r);

/* Runs the search for every candidate (progress lines on progress if not
 * NULL; with opts->progress also a status line before each run: candidate
 * k of N, probe j, elapsed, ETA; the probes' own simulations show none), prices them and ranks them, each probe simulated under opts (its
 * stop flag ends the plan at the running probe's next event). res has
 * p->n_cand entries. Returns 0, or -1 with err when a probe could not run
 * or was stopped. */
int plan_run(const plan_cfg *p, char **extra_sets, int n_extra, const sim_opts *opts, plan_result *res,
             FILE *progress, kt_err *err);

/* Prints the ranked table, the cheapest candidate and savings against the
 * baseline. */
void plan_report(FILE *out, const plan_cfg *p, const plan_result *res);

/* Savings of candidate c against baseline b, both feasible: GPUs saved
 * (b - c), the share of the baseline's GPUs, the throughput-per-GPU gain
 * (max rps per GPU of c over b's, minus 1) and dollars per year saved. */
typedef struct plan_savings {
    int64_t gpus_saved;
    double fewer_gpus_frac, more_throughput_per_gpu_frac, usd_per_year_saved, usd_capex_saved;
} plan_savings;
void plan_savings_of(const plan_result *c, const plan_result *b, plan_savings *out);

/* `kvtier plan` (argv[0] == "plan"). */
int plan_main(int argc, char **argv);

#endif
