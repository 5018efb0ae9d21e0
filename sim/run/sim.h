/* sim.h — one simulation run: the world (engine, replicas, sessions, router) built from a scenario, run to the end. */
#ifndef KT_SIM_H
#define KT_SIM_H

#include <signal.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "replica.h"
#include "scenario.h"
#include "timeline.h"

/* --check walks the whole event heap every this many events, and each
 * replica's pool, request lists and tier stores after every this many
 * events that changed its pool (so a fleet's replicas take their turns
 * rather than all walking at once); everything at the end of the run. The
 * events between get the checks of what they touched. A full walk of a
 * one-replica run takes about 1 ms (a pool of some 25,000 blocks), as long
 * as 80-170 of its events (7-11 us each: quickstart, bench-100k), so every
 * 1,024 events it adds under a fifth of an event's cost to each, while a
 * corruption the per-event checks cannot see is still reported within
 * 1,024 events of its replica (a few simulated seconds of a busy one). */
#define SIM_CHECK_FULL_EVENTS 1024

/* Called after every event, before the checks, with the count of events
 * run and the replicas (tests corrupt a structure through it to see the
 * checks find it). */
typedef void (*sim_event_fn)(void *ud, uint64_t events_run, replica *reps, int n_reps);

typedef struct sim_opts {
    int check;                  /* run the invariant checkers after every event (sim.h: SIM_CHECK_FULL_EVENTS) */
    sim_event_fn on_event;      /* NULL, or called after every event (tests) */
    void *on_event_ud;
    int progress;               /* print progress to stderr */
    const volatile sig_atomic_t *stop; /* NULL, or nonzero (a signal number) to end the run early */
    int64_t wall_deadline_ns;   /* 0, or the cli_wall_now_ns time at which the run gives up (--max-wall) */
    timeline *timeline;         /* NULL, or where iterations, transfers and counters go (--timeline; not owned) */
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
