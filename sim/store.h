/* store.h — the SQLite results database: runs, requests, per-replica series and summaries, one transaction per run. */
#ifndef KT_STORE_H
#define KT_STORE_H

#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "plan.h"
#include "scenario.h"
#include "sim.h"

/* Schema version kept in PRAGMA user_version; bump when tables change. */
#define STORE_SCHEMA_VERSION 2

typedef struct store store;

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

/* Writes a plan — its file, every candidate's result and every probe — in a
 * single transaction. Returns the new plan id (> 0), or -1 with err. */
int64_t store_write_plan(store *st, const plan_cfg *p, const plan_result *res, kt_err *err);

#endif
