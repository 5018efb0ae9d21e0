/* workers.h — runs sweep points into one results database, in this process or in forked worker processes. */
#ifndef KT_WORKERS_H
#define KT_WORKERS_H

#include <stdint.h>

#include "err.h"
#include "sim.h"
#include "sweep.h"

/* Called in the calling process after each point, in completion order; ok
 * is 1 when the point ran and was stored. */
typedef void (*workers_report_fn)(int64_t point, int ok, void *ud);

typedef struct workers_opts {
    int jobs;                   /* processes; 1 runs the points in this one */
    sim_opts sim;
    workers_report_fn report;   /* may be NULL */
    void *ud;
} workers_opts;

/* Runs points[0..n) of sw into the database at db_path as its sweep
 * sweep_id (already recorded there), each point's run and sweep_points row
 * in one transaction. With jobs > 1, that many forked workers, each with
 * its own connection, take the next unclaimed point in list order as they
 * free up: a point's rows depend only on its scenario, never on its worker.
 * Workers die with the calling process. This process must hold no
 * connection to db_path while jobs > 1 (SQLite's locks do not survive
 * fork). A point that fails is reported on stderr and the others still
 * run. When o->sim.stop becomes nonzero (a signal; the workers get it too,
 * forwarded when it came to this process alone) or o->sim's wall-clock
 * deadline passes, every running point is abandoned and its transaction
 * rolled back, no further point starts, and the call returns as if the
 * points left had not been asked for: the caller reads *o->sim.stop and
 * sim_past_deadline to tell. Returns how many points failed, or -1
 * with err when the database could not be opened, a worker could not start
 * or a worker died. */
int64_t workers_run(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points, int64_t n,
                    const workers_opts *o, kt_err *err);

#endif
