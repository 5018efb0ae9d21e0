/* runner.c — one scenario from simulation to stored results, shared by `kvtier run` and sweeps. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

/* Copies m's per-replica totals into out when the caller asked for them. */
static void keep_replicas(const metrics *m, runner_result *out)
{
    if (!out->want_replicas || !(out->replicas = malloc((size_t)m->n_replicas * sizeof *out->replicas)))
        return;
    memcpy(out->replicas, m->replicas, (size_t)m->n_replicas * sizeof *out->replicas);
    out->n_replicas = m->n_replicas;
}

void runner_result_free(runner_result *out)
{
    free(out->replicas);
    out->replicas = NULL;
    out->n_replicas = 0;
}

runner_status runner_run(const scenario *sc, const sim_opts *opts, store *db, const store_point *pt,
                         runner_result *out, kt_err *err)
{
    metrics *m = NULL;
    out->run_id = 0;
    out->replicas = NULL;
    out->n_replicas = 0;
    if (sim_run(sc, opts, &m, &out->stats, err) < 0 || (opts->check && metrics_check(m, err) < 0) ||
        metrics_summarize(m, &sc->slo, &sc->cost, &out->summary, err) < 0) {
        metrics_free(m);
        return RUNNER_SIM_FAILED;
    }
    keep_replicas(m, out);
    runner_status rc = RUNNER_OK;
    if (db) {
        out->run_id = store_write_run_point(db, sc, m, &out->summary, &out->stats, pt, err);
        if (out->run_id < 0) {
            out->run_id = 0;
            rc = RUNNER_STORE_FAILED;
        }
    }
    metrics_free(m);
    return rc;
}
