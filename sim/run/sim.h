/* sim.h — one simulation run: the world (engine, replicas, sessions, router) built from a scenario, run to the end. */
#ifndef KT_SIM_H
#define KT_SIM_H

#include <signal.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "scenario.h"

typedef struct sim_opts {
    int check;                  /* run every invariant checker after every event */
    int progress;               /* print progress to stderr */
    const volatile sig_atomic_t *stop; /* NULL, or nonzero (a signal number) to end the run early */
    int64_t wall_deadline_ns;   /* 0, or the cli_wall_now_ns time at which the run gives up (--max-wall) */
} sim_opts;

/* 1 when opts has a wall-clock deadline and it has passed. */
int sim_past_deadline(const sim_opts *opts);

/* What a run produced besides the metrics. */
typedef struct sim_stats {
    uint64_t events;
    int64_t sim_end_ns;
    double wall_s;
} sim_stats;

/* Runs sc to completion. On success *out holds the results (caller frees
 * with metrics_free) and 0 is returned; -1 with err when an invariant check
 * failed (with opts->check), memory ran out, *opts->stop became nonzero or
 * the wall-clock deadline passed (the run is then abandoned after the
 * current event; the deadline is looked at every few thousand events). */
int sim_run(const scenario *sc, const sim_opts *opts, metrics **out, sim_stats *stats, kt_err *err);

#endif
