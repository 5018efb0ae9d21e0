/* plot.h — `kvtier plot`: gnuplot figures from the results database, and the data reductions behind them. */
#ifndef KT_PLOT_H
#define KT_PLOT_H

#include <stddef.h>
#include <stdint.h>

/* One point of a curve. */
typedef struct plot_xy {
    double x, y;
} plot_xy;

/* Empirical CDF of values[0..n): the points (x_(k), k/n) for ranks k of the
 * sorted values, at most max_points of them (max_points >= 1). With n <=
 * max_points every rank is kept; otherwise the ranks ceil(j·n/max_points),
 * j = 1..max_points, so the largest value is always the last point. Of equal
 * values only the highest rank is kept (a step of the CDF). Sorts values in
 * place. Writes into out (caller's, room for min(n, max_points) points) and
 * returns how many were written. */
size_t plot_cdf_points(double *values, size_t n, size_t max_points, plot_xy *out);

/* One candidate configuration of a capacity plan (a plan_candidates row).
 * Invariants: gpus_per_replica >= 1; max_rps_per_replica >= 0 (0: one
 * replica meets the SLOs at no load); has_gpus says whether replicas, gpus
 * and usd_per_year were stored (NULL when infeasible); has_ttft likewise. */
typedef struct plot_candidate {
    int candidate;
    char name[64];
    int gpus_per_replica;
    double max_rps_per_replica;
    double usd_per_gpu_year;
    double tier_usd_per_replica_year;
    int feasible;
    int has_gpus;
    int64_t gpus;
    double usd_per_year;
    int has_ttft;
    double ttft_p99_ms;
} plot_candidate;

/* What a candidate needs for a load. */
typedef struct plot_cost {
    int64_t replicas, gpus;
    double usd_per_year;
} plot_cost;

/* Replicas, GPUs and $/year candidate c needs at load_rps (requests/s):
 * replicas = ceil(load / max_rps_per_replica), GPUs = replicas ×
 * gpus_per_replica, $/year = replicas × (gpus_per_replica ×
 * usd_per_gpu_year + tier_usd_per_replica_year). Returns 0, or -1 when c
 * cannot serve a load > 0 (max_rps_per_replica is 0). */
int plot_cost_at(const plot_candidate *c, double load_rps, plot_cost *out);

/* c as the cost figure draws it (a copy): when the plan stored its fleet,
 * the staircase steps by the per-replica load the plan settled on, the
 * target over its final replicas (after any back-off), so the figure at
 * target_rps shows the table's replicas and GPUs; otherwise c unchanged
 * (stepping by max_rps_per_replica). */
plot_candidate plot_candidate_as_planned(const plot_candidate *c, double target_rps);

/* GPUs and dollars a candidate saves against the plan's baseline. */
typedef struct plot_saving {
    int index;                  /* into the candidates array */
    int64_t gpus_saved;         /* baseline GPUs − its GPUs (negative: it needs more) */
    double usd_per_year_saved;
} plot_saving;

/* Savings of every feasible candidate other than the baseline (the element
 * of c whose candidate number is baseline; it must be feasible with stored
 * GPUs), in the order of c. Writes into out (caller's, room for n) and
 * returns how many; -1 when the baseline is missing or has no GPUs. */
int plot_savings(const plot_candidate *c, size_t n, int baseline, plot_saving *out);

/* Marks on_front[i] = 1 for the points not dominated by another (both
 * coordinates to be minimized: j dominates i when x_j <= x_i and y_j <= y_i,
 * one strictly), else 0. Returns how many are on the front. */
size_t plot_pareto_front(const plot_xy *pts, size_t n, int *on_front);

/* The gnuplot program to run: $KVTIER_GNUPLOT when set, else the one
 * configure found. Returns a static string or the environment's. */
const char *plot_gnuplot_program(void);

/* 1 when prog names an executable file, directly (with a '/') or on PATH. */
int plot_program_found(const char *prog);

/* `kvtier plot [--db PATH] [--run ID]... [--sweep ID] [--plan ID]
 * [--metric NAME]... [--format png|svg|both] [-o DIR] [KIND...]`: writes the figures and prints
 * each path. Returns 0, or 2 (bad input, missing data or no gnuplot) with a
 * message on stderr, or 1 when gnuplot failed on a figure. */
int plot_main(int argc, char **argv);

#endif
