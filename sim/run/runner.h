/* runner.h — one scenario from simulation to stored results: simulate, check, summarize, write. */
#ifndef KT_RUNNER_H
#define KT_RUNNER_H

#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "scenario.h"
#include "sim.h"
#include "store.h"

typedef enum { RUNNER_OK, RUNNER_SIM_FAILED, RUNNER_STORE_FAILED } runner_status;

/* What a run produced.
 * Invariants: summary and stats are set unless the run's status is
 * RUNNER_SIM_FAILED; run_id > 0 exactly when the run was stored; with
 * want_replicas set by the caller beforehand, replicas holds n_replicas
 * per-replica totals (owned: runner_result_free), else NULL. */
typedef struct runner_result {
    metrics_summary summary;
    sim_stats stats;
    int64_t run_id;
    int want_replicas;
    metrics_replica *replicas;
    int n_replicas;
} runner_result;

/* Frees what out holds (its replicas). */
void runner_result_free(runner_result *out);

/* Simulates sc (under opts; with opts->check also checks the records),
 * summarizes it, and when db != NULL writes the run in one transaction — as
 * sweep point pt when pt != NULL. The metrics live only inside this call;
 * *out is the caller's. Returns the status, with err set unless RUNNER_OK
 * (RUNNER_SIM_FAILED also when the summary could not be worked out). */
runner_status runner_run(const scenario *sc, const sim_opts *opts, store *db, const store_point *pt,
                         runner_result *out, kt_err *err);

#endif
