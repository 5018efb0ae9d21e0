/* store.h — the SQLite results database: opening and schema versioning, write transactions, and runs (requests, per-replica series, summaries) and sweeps. */
#ifndef KT_STORE_H
#define KT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "scenario.h"
#include "sim.h"

/* Schema version kept in PRAGMA user_version; bump when tables change. */
#define STORE_SCHEMA_VERSION 3

typedef struct store store;
struct sqlite3_stmt;

/* The plan tables' CREATE TABLE IF NOT EXISTS statements, defined beside the
 * planner (plan_store.c). store_open creates them between the run tables and
 * the sweep tables, where they always were, so every database's schema reads
 * the same. */
extern const char plan_store_tables_sql[];

/* Opens (creating if needed) the database at path and brings its schema to
 * STORE_SCHEMA_VERSION. A database with a newer schema is refused. Caller
 * closes with store_close. */
store *store_open(const char *path, kt_err *err);
void store_close(store *st);

/* The open connection, for modules that query the results (plot). Owned by
 * st: valid until store_close. */
struct sqlite3 *store_db(store *st);

/* Writes one run — its scenario, every request, the replica series and
 * summaries — in a single transaction: all of it lands or none does.
 * Returns the new run id (> 0), or -1 with err. */
int64_t store_write_run(store *st, const scenario *sc, const metrics *m, const metrics_summary *s,
                        const sim_stats *stats, kt_err *err);

/* Opens a write transaction (BEGIN IMMEDIATE). Returns 0, or -1 with err.
 * Every writer ends it with store_finish. */
int store_begin(store *st, kt_err *err);

/* Ends the transaction store_begin opened: commits when ok (id is then the
 * new row's id, > 0), else rolls back with err naming what was being written.
 * Returns id, or -1. */
int64_t store_finish(store *st, int64_t id, int ok, const char *what, kt_err *err);

/* Steps an INSERT, then resets it and clears its bindings for the next row.
 * Returns 0 when the row was written, -1 when not. */
int store_step_reset(struct sqlite3_stmt *s);

/* UTC now as ISO 8601 (2026-01-31T12:00:00Z) into buf of n >= 21 bytes; returns buf. */
const char *store_utc_now(char *buf, size_t n);

/* A sweep as the database knows it. key identifies its effective definition. */
typedef struct store_sweep {
    const char *key, *name, *file;
    int64_t points;
} store_sweep;

/* Point `point` of sweep sweep_id, with its overrides (one per line). */
typedef struct store_point {
    int64_t sweep_id, point;
    const char *params;
} store_point;

/* Like store_write_run, and when pt != NULL the run's sweep_points row in
 * the same transaction: a run is never stored without its point or a point
 * without its run. Storing a point twice fails (and stores nothing). */
int64_t store_write_run_point(store *st, const scenario *sc, const metrics *m, const metrics_summary *s,
                              const sim_stats *stats, const store_point *pt, kt_err *err);

/* The id of the sweep with sw->key, added first when absent (safe when
 * several processes add it at once). Returns the id (> 0) or -1 with err. */
int64_t store_sweep_add(store *st, const store_sweep *sw, kt_err *err);

/* Sets done[p] = 1 for every stored point p < n_points of the sweep, 0 for
 * the others. Returns how many are stored, or -1 with err. */
int64_t store_sweep_done(store *st, int64_t sweep_id, unsigned char *done, int64_t n_points, kt_err *err);

/* The run stored as point `point` of the sweep: its id, 0 when none, -1 with err. */
int64_t store_sweep_point_run(store *st, int64_t sweep_id, int64_t point, kt_err *err);

/* For each point p < n_points: run_ids[p] (0 when not stored) and the summary
 * values of the n_metrics metrics in values[p * n_metrics + j] (NaN when
 * absent). The caller owns both arrays. Returns 0 or -1 with err. */
int store_sweep_results(store *st, int64_t sweep_id, int64_t n_points, const char *const *metrics, int n_metrics,
                        int64_t *run_ids, double *values, kt_err *err);

/* Copies the sweep points of the database at shard_path that st lacks —
 * each with its run under a new id and the rows of every table keyed by
 * run_id, remapped — in one transaction, in point order. Sweeps are matched
 * by key. Returns how many points were copied, or -1 with err (nothing copied). */
int64_t store_merge(store *st, const char *shard_path, kt_err *err);

#endif
