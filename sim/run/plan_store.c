/* plan_store.c — a plan's tables in the results database and the plan written to them in one transaction. */
#include "plan_store.h"

#include <sqlite3.h>

const char plan_store_tables_sql[] =
    "CREATE TABLE IF NOT EXISTS plans ("
    " id INTEGER PRIMARY KEY, created_utc TEXT NOT NULL, name TEXT NOT NULL, file TEXT NOT NULL, yaml TEXT NOT NULL,"
    " target_rps REAL NOT NULL, slo_ttft_p99_ms REAL, slo_itl_p99_ms REAL,"
    " baseline INTEGER,"
    " best INTEGER);"
    "CREATE TABLE IF NOT EXISTS plan_candidates ("
    " plan_id INTEGER NOT NULL REFERENCES plans(id), candidate INTEGER NOT NULL, name TEXT NOT NULL,"
    " hardware TEXT NOT NULL, gpus_per_replica INTEGER NOT NULL,"
    " max_rps_per_replica REAL NOT NULL,"
    " usd_per_gpu_year REAL NOT NULL,"
    " tier_usd_per_replica_year REAL NOT NULL,"
    " replicas INTEGER, gpus INTEGER,"
    " usd_per_year REAL, usd_capex REAL, usd_per_m_tokens REAL,"
    " ttft_p99_ms REAL, itl_p99_ms REAL,"
    " feasible INTEGER NOT NULL, rank INTEGER,"
    " PRIMARY KEY (plan_id, candidate));"
    "CREATE TABLE IF NOT EXISTS plan_probes ("
    " plan_id INTEGER NOT NULL REFERENCES plans(id), candidate INTEGER NOT NULL, probe INTEGER NOT NULL,"
    " rate_rps REAL NOT NULL, ttft_p99_ms REAL, itl_p99_ms REAL, meets_slo INTEGER NOT NULL,"
    " PRIMARY KEY (plan_id, candidate, probe));";

/* Binds v, or NULL when absent. */
static void bind_opt_double(sqlite3_stmt *s, int i, int present, double v)
{
    if (present)
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static int64_t insert_plan(store *st, const plan_cfg *p, int best)
{
    sqlite3_stmt *s;
    const char *sql = "INSERT INTO plans (created_utc, name, file, yaml, target_rps, slo_ttft_p99_ms,"
                      " slo_itl_p99_ms, baseline, best) VALUES (?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    char when[32];
    sqlite3_bind_text(s, 1, store_utc_now(when, sizeof when), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, p->file, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, p->yaml ? p->yaml : "", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 5, p->target_rps);
    bind_opt_double(s, 6, p->slo_ttft_p99_ns > 0, (double)p->slo_ttft_p99_ns / 1e6);
    bind_opt_double(s, 7, p->slo_itl_p99_ns > 0, (double)p->slo_itl_p99_ns / 1e6);
    bind_opt_double(s, 8, p->baseline >= 0, p->baseline);
    bind_opt_double(s, 9, best >= 0, best);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc < 0 ? -1 : sqlite3_last_insert_rowid(store_db(st));
}

static int insert_candidate(sqlite3_stmt *s, int64_t plan, int c, const char *name, const plan_result *r)
{
    sqlite3_bind_int64(s, 1, plan);
    sqlite3_bind_int(s, 2, c);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->hardware, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, r->gpus_per_unit);
    sqlite3_bind_double(s, 6, r->max_rps_per_unit);
    sqlite3_bind_double(s, 7, r->usd_per_gpu_year);
    sqlite3_bind_double(s, 8, r->tier_usd_per_unit_year);
    const double opt[] = { (double)r->units, (double)r->gpus, r->usd_per_year, r->usd_capex, r->usd_per_m_tokens,
                           r->op.ttft_p99_ms, r->op.itl_p99_ms };
    for (int i = 0; i < 7; i++)
        bind_opt_double(s, 9 + i, r->feasible, opt[i]);
    sqlite3_bind_int(s, 16, r->feasible);
    bind_opt_double(s, 17, r->feasible, r->rank);
    return store_step_reset(s);
}

static int insert_probes(sqlite3_stmt *s, int64_t plan, int c, const plan_result *r)
{
    for (int i = 0; i < r->n_probes; i++) {
        const plan_probe *pr = &r->probes[i];
        sqlite3_bind_int64(s, 1, plan);
        sqlite3_bind_int(s, 2, c);
        sqlite3_bind_int(s, 3, i);
        sqlite3_bind_double(s, 4, pr->rps);
        sqlite3_bind_double(s, 5, pr->ttft_p99_ms);
        sqlite3_bind_double(s, 6, pr->itl_p99_ms);
        sqlite3_bind_int(s, 7, pr->meets);
        if (store_step_reset(s) < 0)
            return -1;
    }
    return 0;
}

static int insert_plan_rows(store *st, int64_t plan, const plan_cfg *p, const plan_result *res)
{
    sqlite3_stmt *cs = NULL, *ps = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(store_db(st),
                           "INSERT INTO plan_candidates (plan_id, candidate, name, hardware, gpus_per_replica,"
                           " max_rps_per_replica, usd_per_gpu_year, tier_usd_per_replica_year, replicas, gpus,"
                           " usd_per_year, usd_capex, usd_per_m_tokens, ttft_p99_ms, itl_p99_ms, feasible, rank)"
                           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &cs, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(store_db(st),
                           "INSERT INTO plan_probes (plan_id, candidate, probe, rate_rps, ttft_p99_ms, itl_p99_ms,"
                           " meets_slo) VALUES (?,?,?,?,?,?,?)",
                           -1, &ps, NULL) == SQLITE_OK) {
        rc = 0;
        for (int c = 0; c < p->n_cand && rc == 0; c++)
            if (insert_candidate(cs, plan, c, p->cand[c].name, &res[c]) < 0 || insert_probes(ps, plan, c, &res[c]) < 0)
                rc = -1;
    }
    sqlite3_finalize(cs);
    sqlite3_finalize(ps);
    return rc;
}

int64_t plan_store_write(store *st, const plan_cfg *p, const plan_result *res, kt_err *err)
{
    int best = -1;
    for (int c = 0; c < p->n_cand; c++)
        if (res[c].rank == 1)
            best = c;
    if (store_begin(st, err) < 0)
        return -1;
    int64_t plan = insert_plan(st, p, best);
    return store_finish(st, plan, plan >= 0 && insert_plan_rows(st, plan, p, res) == 0, "writing the plan", err);
}
