/* validate.h — `kvtier validate`: published end-to-end measurements replayed as scenarios, with kvtier's error against each. */
#ifndef KT_VALIDATE_H
#define KT_VALIDATE_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "metrics.h"
#include "scenario.h"

/* What a case measures (validation/README.md describes each). */
typedef enum {
    VALIDATE_DECODE_BS1,
    VALIDATE_MAX_THROUGHPUT,
    VALIDATE_TTFT,
    VALIDATE_LATENCY_AT_RATE,
    VALIDATE_KV_TRANSFER,
    VALIDATE_KIND_COUNT
} validate_kind;

/* How the summary figure becomes the published quantity:
 * - TOTAL: as it is;
 * - PER_GPU: divided by the run's GPUs;
 * - RATE_FROM_MS: 1000 / a time in ms (a time per token as tokens per second);
 * - KV_BANDWIDTH: the KV bytes of one request's prompt (whole HBM blocks over
 *   a replica's GPUs) over a time in ms, in GB/s (decimal). */
typedef enum {
    VALIDATE_PER_TOTAL,
    VALIDATE_PER_GPU,
    VALIDATE_PER_RATE_FROM_MS,
    VALIDATE_PER_KV_BANDWIDTH,
    VALIDATE_PER_COUNT
} validate_per;

extern const char *const validate_kind_names[];
extern const char *const validate_per_names[];

/* One case file, loaded and checked.
 * Invariants: every string is owned and non-NULL except lacks (NULL when the
 * case needs nothing kvtier lacks); scenario is the path resolved against
 * the case file's directory; sets has n_sets entries; metric names a field
 * of metrics_summary_fields; published > 0. */
typedef struct validate_case {
    char *file, *name, *scenario, *metric, *unit;
    char *source_title, *source_where;  /* where: repo path@commit (table), or the URL */
    char *assumptions, *lacks;
    char **sets;
    int n_sets;
    validate_kind kind;
    validate_per per;
    double published;
} validate_case;

/* Loads the case file path strictly: unknown and missing keys are errors at
 * file:line:col. Returns the case (caller frees with validate_case_free) or
 * NULL with err. The scenario is not loaded here. */
validate_case *validate_case_load(const char *path, kt_err *err);
void validate_case_free(validate_case *c);

/* The published quantity kvtier's summary s gives under c's metric and
 * transform (block_tokens: the run's KV block size, for KV_BANDWIDTH).
 * Returns 0 with *out set, or -1 when the figure has no value (a time of 0,
 * no requests). */
int validate_case_value(const validate_case *c, const metrics_summary *s, int block_tokens, double *out);

/* Signed relative error in percent: (kvtier − published) / published × 100. */
double validate_error_pct(double kvtier, double published);

/* Median and hit counts of the |errors| of n cases (errors in %, the caller's
 * array, left as it was). */
typedef struct validate_stats {
    size_t n;
    double median_abs_pct;      /* NAN when n == 0 */
    size_t within_10, within_25;
} validate_stats;
void validate_stats_compute(const double *errors_pct, size_t n, validate_stats *out);

/* `kvtier validate [DIR] [--json] [--case GLOB]` (argv[0] is "validate"):
 * loads every case of DIR (default: validation/cases of the data
 * directories) and its scenario, runs each and prints the table. Returns
 * 0 (misses included), 1 when a run failed, 2 on bad input (nothing run). */
int validate_main(int argc, char **argv);

#endif
