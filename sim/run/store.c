/* store.c — SQLite results: opening, schema creation and versioning, write transactions, runs and sweeps. */
#include "store.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "config.h"
#include "grow.h"

struct store {
    sqlite3 *db;
    char *path;
};

/* The runs table: one row per run. */
static const char *const runs_table_sql =
    "CREATE TABLE IF NOT EXISTS runs ("
    " id INTEGER PRIMARY KEY,"
    " started_utc TEXT NOT NULL,"
    " program_version TEXT NOT NULL,"
    " scenario_name TEXT NOT NULL,"
    " scenario_file TEXT NOT NULL,"
    " scenario_yaml TEXT NOT NULL,"
    " seed INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " hardware TEXT NOT NULL,"
    " events INTEGER NOT NULL,"
    " sim_end_ns INTEGER NOT NULL,"
    " wall_s REAL NOT NULL,"
    " trace_file TEXT,"
    " trace_bad_lines INTEGER NOT NULL DEFAULT 0,"
    " trace_first_bad_lines TEXT);";

/* The run's series and summary, created after the requests and replicas tables. */
static const char *const series_tables_sql =
    "CREATE TABLE IF NOT EXISTS replica_samples ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " replica INTEGER NOT NULL,"
    " t_ns INTEGER NOT NULL,"
    " running INTEGER NOT NULL,"
    " waiting INTEGER NOT NULL,"
    " kv_used_blocks INTEGER NOT NULL,"
    " kv_cached_blocks INTEGER NOT NULL,"
    " busy_frac REAL NOT NULL,"
    " tokens_out INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, replica, t_ns));"
    "CREATE TABLE IF NOT EXISTS tiers ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " replica INTEGER NOT NULL,"
    " level INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " capacity_blocks INTEGER NOT NULL,"
    " block_bytes REAL NOT NULL,"
    " found_blocks INTEGER NOT NULL,"
    " fetched_blocks INTEGER NOT NULL,"
    " stored_blocks INTEGER NOT NULL,"
    " evicted_blocks INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, replica, level));"
    "CREATE TABLE IF NOT EXISTS links ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " replica INTEGER NOT NULL,"
    " link INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " bw_Bps REAL NOT NULL,"
    " bytes_moved REAL NOT NULL,"
    " PRIMARY KEY (run_id, replica, link));"
    "CREATE TABLE IF NOT EXISTS link_samples ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " replica INTEGER NOT NULL,"
    " link INTEGER NOT NULL,"
    " t_ns INTEGER NOT NULL,"
    " utilization REAL NOT NULL,"
    " PRIMARY KEY (run_id, replica, link, t_ns));"
    "CREATE TABLE IF NOT EXISTS tier_samples ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " replica INTEGER NOT NULL,"
    " level INTEGER NOT NULL,"
    " t_ns INTEGER NOT NULL,"
    " used_blocks INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, replica, level, t_ns));"
    "CREATE TABLE IF NOT EXISTS summary ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " metric TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " unit TEXT NOT NULL,"
    " PRIMARY KEY (run_id, metric));";

/* Views for the common questions: the p99s of each run, and each lower
 * tier's share of the prompt tokens by its name (tiers.level is the N of
 * the summary's tierN_ metrics). Created with the tables, so an older
 * database gains them when opened. */
static const char *const views_sql =
    "CREATE VIEW IF NOT EXISTS run_p99 AS"
    " SELECT r.id AS run_id, r.scenario_name,"
    "  (SELECT value FROM summary WHERE run_id = r.id AND metric = 'ttft_p99') AS ttft_p99_ms,"
    "  (SELECT value FROM summary WHERE run_id = r.id AND metric = 'itl_p99') AS itl_p99_ms,"
    "  (SELECT value FROM summary WHERE run_id = r.id AND metric = 'tpot_p99') AS tpot_p99_ms,"
    "  (SELECT value FROM summary WHERE run_id = r.id AND metric = 'e2e_p99') AS e2e_p99_s"
    " FROM runs r;"
    "CREATE VIEW IF NOT EXISTS tier_hit_ratio AS"
    " SELECT t.run_id, t.level, t.name, t.kind,"
    "  (SELECT value FROM summary WHERE run_id = t.run_id AND metric = 'tier' || t.level || '_hit_ratio')"
    "   AS hit_ratio,"
    "  sum(t.found_blocks) AS found_blocks, sum(t.fetched_blocks) AS fetched_blocks"
    " FROM tiers t GROUP BY t.run_id, t.level, t.name, t.kind;";

/* Sweeps: key identifies the effective definition, so a rerun finds its
 * sweep; a point's row lands in its run's transaction. */
static const char *const sweep_tables_sql =
    "CREATE TABLE IF NOT EXISTS sweeps ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " file TEXT NOT NULL,"
    " key TEXT NOT NULL UNIQUE,"
    " created_utc TEXT NOT NULL,"
    " points INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sweep_points ("
    " sweep_id INTEGER NOT NULL REFERENCES sweeps(id),"
    " point INTEGER NOT NULL,"
    " params TEXT NOT NULL,"
    " run_id INTEGER NOT NULL UNIQUE REFERENCES runs(id),"
    " PRIMARY KEY (sweep_id, point));";

/* ---------- columns from descriptors ---------- */

/* A value read from a row, ready to bind. */
typedef enum { VAL_NULL, VAL_I64, VAL_F64, VAL_TEXT, VAL_BLOB } store_val_kind;
typedef struct store_val {
    store_val_kind kind;
    int64_t i;
    double f;
    const void *p;              /* text (NUL-terminated) or blob, borrowed from the row */
    int bytes;                  /* of a blob */
} store_val;

/* What a row is written against: its run, its index in its list, the run's duration. */
typedef struct store_row_ctx {
    int64_t run, index, duration_ns;
} store_row_ctx;

/* How a column reads its value: a field at off (int64_t, int, double, or
 * nanoseconds held in a double written as seconds), or get(row, off, ctx). */
typedef enum { COL_I64, COL_INT, COL_F64, COL_NS_AS_S, COL_GET } store_col_kind;

/* One column: its name and SQL declaration exactly as CREATE TABLE has them
 * (the text SQLite keeps, so changing either changes the stored schema), its
 * unit (for the reader of this list), how to read it, and the schema version
 * that added it (older databases get it through ALTER TABLE ... ADD COLUMN).
 * Adding a metric is a line in a list below and a STORE_SCHEMA_VERSION bump. */
typedef struct store_col {
    const char *name, *decl, *unit;
    store_col_kind kind;
    size_t off;
    store_val (*get)(const void *row, size_t off, const store_row_ctx *ctx);
    int since;
} store_col;

/* A table written from a list of rows. Invariant: cols are in the table's column order. */
typedef struct store_table {
    const char *name, *key;     /* key: the PRIMARY KEY's columns */
    const store_col *cols;
    size_t n_cols;
} store_table;

/* Appends text to buf (n bytes); returns 0, or -1 when it does not fit. */
static int sql_append(char *buf, size_t n, const char *text)
{
    size_t o = strlen(buf), len = strlen(text);
    if (o + len + 1 > n)
        return -1;
    memcpy(buf + o, text, len + 1);
    return 0;
}

/* Room for a generated CREATE TABLE, INSERT or ALTER TABLE statement list. */
#define STORE_SQL_LEN 4096

static store_val val_i64(int64_t i) { return (store_val){ .kind = VAL_I64, .i = i }; }
static store_val val_f64(double f) { return (store_val){ .kind = VAL_F64, .f = f }; }

static store_val col_run(const void *row, size_t off, const store_row_ctx *ctx) { return val_i64(ctx->run); }
static store_val col_index(const void *row, size_t off, const store_row_ctx *ctx) { return val_i64(ctx->index); }

static int64_t i64_at(const void *row, size_t off) { return *(const int64_t *)((const char *)row + off); }

/* An int that is absent when negative (a replica index). */
static store_val col_int_or_null(const void *row, size_t off, const store_row_ctx *ctx)
{
    int v = *(const int *)((const char *)row + off);
    return v >= 0 ? val_i64(v) : (store_val){ .kind = VAL_NULL };
}

static store_val col_outcome(const void *row, size_t off, const store_row_ctx *ctx)
{
    return (store_val){ .kind = VAL_TEXT, .p = metrics_outcome_names[((const metrics_req *)row)->outcome] };
}

/* A completed request's time (ns) at off; absent for the others. */
static store_val col_done_ns(const void *row, size_t off, const store_row_ctx *ctx)
{
    return ((const metrics_req *)row)->outcome == REQ_COMPLETED ? val_i64(i64_at(row, off))
                                                               : (store_val){ .kind = VAL_NULL };
}

/* A completed request's time at off less its arrival. */
static store_val col_since_arrival_ns(const void *row, size_t off, const store_row_ctx *ctx)
{
    const metrics_req *r = row;
    return r->outcome == REQ_COMPLETED ? val_i64(i64_at(row, off) - r->arrival_ns) : (store_val){ .kind = VAL_NULL };
}

/* Mean inter-token gap of a completed request with gaps. */
static store_val col_tpot_ns(const void *row, size_t off, const store_row_ctx *ctx)
{
    const metrics_req *r = row;
    return r->outcome == REQ_COMPLETED && r->n_gaps ? val_f64((double)r->gap_sum_ns / (double)r->n_gaps)
                                                    : (store_val){ .kind = VAL_NULL };
}

static store_val col_gaps(const void *row, size_t off, const store_row_ctx *ctx)
{
    const metrics_req *r = row;
    return r->gaps ? (store_val){ .kind = VAL_BLOB, .p = r->gaps, .bytes = (int)(r->n_gaps * (int64_t)sizeof *r->gaps) }
                   : (store_val){ .kind = VAL_NULL };
}

/* A replica's utilizations over the run, by metrics_replica_util's definitions. */
static void replica_util(const void *row, const store_row_ctx *ctx, double u[3])
{
    metrics_replica_util(row, ctx->duration_ns, &u[0], &u[1], &u[2]);
}
static store_val col_busy_util(const void *row, size_t off, const store_row_ctx *ctx)
{
    double u[3];
    replica_util(row, ctx, u);
    return val_f64(u[0]);
}
static store_val col_effective_util(const void *row, size_t off, const store_row_ctx *ctx)
{
    double u[3];
    replica_util(row, ctx, u);
    return val_f64(u[1]);
}
static store_val col_mbu(const void *row, size_t off, const store_row_ctx *ctx)
{
    double u[3];
    replica_util(row, ctx, u);
    return val_f64(u[2]);
}

#define NN "INTEGER NOT NULL"
#define RUN_ID { "run_id", "INTEGER NOT NULL REFERENCES runs(id)", "", COL_GET, 0, col_run, 1 }
#define REQ(name, decl, unit, kind, field) { name, decl, unit, kind, offsetof(metrics_req, field), NULL, 1 }
#define REQ_GET(name, decl, unit, get, field) { name, decl, unit, COL_GET, offsetof(metrics_req, field), get, 1 }
#define REQ_V2(name, decl, unit, kind, field, get) { name, decl, unit, kind, offsetof(metrics_req, field), get, 2 }
#define REQ_TIER_HIT(k) REQ("tier" #k "_hit_tokens", NN, "tokens", COL_I64, tier_hit_tokens[k])

_Static_assert(METRICS_TIERS == 4, "one tierN_hit_tokens column per lower tier");

/* The requests table: one row per request. */
static const store_col request_cols[] = {
    RUN_ID,
    REQ("id", NN, "", COL_I64, id),
    REQ("session", NN, "", COL_I64, session),
    REQ("turn", NN, "", COL_INT, turn),
    REQ("replica", NN, "", COL_INT, replica),
    REQ_GET("outcome", "TEXT NOT NULL", "", col_outcome, outcome),
    REQ("arrival_ns", NN, "ns", COL_I64, arrival_ns),
    REQ_GET("first_sched_ns", "INTEGER", "ns", col_done_ns, first_sched_ns),
    REQ_GET("first_token_ns", "INTEGER", "ns", col_done_ns, first_token_ns),
    REQ_GET("finish_ns", "INTEGER", "ns", col_done_ns, finish_ns),
    REQ_GET("ttft_ns", "INTEGER", "ns", col_since_arrival_ns, first_token_ns),
    REQ_GET("e2e_ns", "INTEGER", "ns", col_since_arrival_ns, finish_ns),
    REQ_GET("queue_ns", "INTEGER", "ns", col_since_arrival_ns, first_sched_ns),
    REQ_GET("tpot_ns", "REAL", "ns", col_tpot_ns, gap_sum_ns),
    REQ_GET("itl_max_ns", "INTEGER", "ns", col_done_ns, gap_max_ns),
    REQ("prompt_tokens", NN, "tokens", COL_I64, prompt_tokens),
    REQ("output_tokens", NN, "tokens", COL_I64, output_tokens),
    REQ("prefix_hit_tokens", NN, "tokens", COL_I64, prefix_hit_tokens),
    REQ("recomputed_tokens", NN, "tokens", COL_I64, recomputed_tokens),
    REQ("preemptions", NN, "count", COL_INT, preemptions),
    REQ_TIER_HIT(0),
    REQ_TIER_HIT(1),
    REQ_TIER_HIT(2),
    REQ_TIER_HIT(3),
    REQ("tier_recomputed_tokens", NN, "tokens", COL_I64, tier_recomputed_tokens),
    REQ("fetch_ns", NN, "ns", COL_I64, fetch_ns),
    REQ_GET("itl_gaps_ns", "BLOB", "ns (int64 each)", col_gaps, gaps),
    REQ_V2("prefill_replica", "INTEGER", "", COL_GET, prefill_replica, col_int_or_null),
    REQ_V2("kv_transfer_ns", NN " DEFAULT 0", "ns", COL_I64, kv_transfer_ns, NULL),
    REQ_V2("reroutes", NN " DEFAULT 0", "count", COL_INT, reroutes, NULL),
    REQ_V2("migrated_tokens", NN " DEFAULT 0", "tokens", COL_I64, migrated_tokens, NULL),
};

#define REP(name, decl, unit, kind, field) { name, decl, unit, kind, offsetof(metrics_replica, field), NULL, 1 }
#define REP_GET(name, unit, get) { name, "REAL NOT NULL", unit, COL_GET, 0, get, 1 }

_Static_assert(WASTE_PREEMPTION == 0 && WASTE_RECOMPUTE == 1 && WASTE_CAUSE_COUNT == 2,
               "one flops_wasted_ and gpu_s_wasted_ column pair per waste cause");

/* The replicas table: one row per replica. */
static const store_col replica_cols[] = {
    RUN_ID,
    { "replica", NN, "", COL_GET, 0, col_index, 1 },
    REP("gpus", NN, "GPUs", COL_INT, gpus),
    REP("busy_ns", NN, "ns", COL_I64, busy_ns),
    REP("stall_ns", NN, "ns", COL_I64, stall_ns),
    REP("iterations", NN, "count", COL_I64, iterations),
    REP("flops", "REAL NOT NULL", "FLOP", COL_F64, flops),
    REP("flops_wasted_preemption", "REAL NOT NULL", "FLOP", COL_F64, flops_wasted[WASTE_PREEMPTION]),
    REP("gpu_s_wasted_preemption", "REAL NOT NULL", "GPU-s", COL_NS_AS_S, gpu_ns_wasted[WASTE_PREEMPTION]),
    REP("flops_wasted_recompute", "REAL NOT NULL", "FLOP", COL_F64, flops_wasted[WASTE_RECOMPUTE]),
    REP("gpu_s_wasted_recompute", "REAL NOT NULL", "GPU-s", COL_NS_AS_S, gpu_ns_wasted[WASTE_RECOMPUTE]),
    REP("hbm_bytes", "REAL NOT NULL", "bytes", COL_F64, hbm_bytes),
    REP_GET("busy_util", "fraction", col_busy_util),
    REP_GET("effective_util", "fraction", col_effective_util),
    REP_GET("mbu", "fraction", col_mbu),
};

#define TABLE(name, key, cols) { name, key, cols, sizeof cols / sizeof *cols }
static const store_table requests_table = TABLE("requests", "run_id, id", request_cols);
static const store_table replicas_table = TABLE("replicas", "run_id, replica", replica_cols);

static store_val col_value(const store_col *c, const void *row, const store_row_ctx *ctx)
{
    const char *at = (const char *)row + c->off;
    switch (c->kind) {
    case COL_I64:
        return val_i64(*(const int64_t *)at);
    case COL_INT:
        return val_i64(*(const int *)at);
    case COL_F64:
        return val_f64(*(const double *)at);
    case COL_NS_AS_S:
        return val_f64(*(const double *)at / 1e9);
    case COL_GET:
        break;
    }
    return c->get(row, c->off, ctx);
}

/* "CREATE TABLE IF NOT EXISTS t ( c1 decl1, ..., PRIMARY KEY (key));" into buf. Returns 0 or -1 (too long). */
static int table_create_sql(const store_table *t, char *buf, size_t n)
{
    int rc = snprintf(buf, n, "CREATE TABLE IF NOT EXISTS %s (", t->name) >= (int)n ? -1 : 0;
    for (size_t i = 0; i < t->n_cols && rc == 0; i++)
        rc = sql_append(buf, n, " ") | sql_append(buf, n, t->cols[i].name) | sql_append(buf, n, " ") |
             sql_append(buf, n, t->cols[i].decl) | sql_append(buf, n, ",");
    return rc | sql_append(buf, n, " PRIMARY KEY (") | sql_append(buf, n, t->key) | sql_append(buf, n, "));");
}

/* "ALTER TABLE t ADD COLUMN c decl;" for every column added after schema version v, into buf. */
static int table_upgrade_sql(const store_table *t, int v, char *buf, size_t n)
{
    int rc = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n_cols && rc == 0; i++)
        if (t->cols[i].since > v)
            rc = sql_append(buf, n, "ALTER TABLE ") | sql_append(buf, n, t->name) |
                 sql_append(buf, n, " ADD COLUMN ") | sql_append(buf, n, t->cols[i].name) | sql_append(buf, n, " ") |
                 sql_append(buf, n, t->cols[i].decl) | sql_append(buf, n, ";");
    return rc;
}

/* Prepares "INSERT INTO t (c1, ...) VALUES (?, ...)"; NULL on error. */
static sqlite3_stmt *table_insert(sqlite3 *db, const store_table *t)
{
    char cols[STORE_SQL_LEN] = "", vals[STORE_SQL_LEN] = "", sql[2 * STORE_SQL_LEN];
    int rc = 0;
    for (size_t i = 0; i < t->n_cols && rc == 0; i++)
        rc = sql_append(cols, sizeof cols, i ? "," : "") | sql_append(cols, sizeof cols, t->cols[i].name) |
             sql_append(vals, sizeof vals, i ? ",?" : "?");
    sqlite3_stmt *s = NULL;
    if (rc == 0 && snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (%s)", t->name, cols, vals) < (int)sizeof sql)
        sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    return s;
}

/* Binds row's value of every column of t and writes it. Returns 0 or -1. */
static int table_write_row(sqlite3_stmt *s, const store_table *t, const void *row, const store_row_ctx *ctx)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        store_val v = col_value(&t->cols[i], row, ctx);
        int at = (int)i + 1;
        switch (v.kind) {
        case VAL_NULL:
            sqlite3_bind_null(s, at);
            break;
        case VAL_I64:
            sqlite3_bind_int64(s, at, v.i);
            break;
        case VAL_F64:
            sqlite3_bind_double(s, at, v.f);
            break;
        case VAL_TEXT:
            sqlite3_bind_text(s, at, v.p, -1, SQLITE_STATIC);
            break;
        case VAL_BLOB:
            sqlite3_bind_blob(s, at, v.p, v.bytes, SQLITE_STATIC);
            break;
        }
    }
    return store_step_reset(s);
}

static int db_fail(sqlite3 *db, kt_err *err, const char *path, const char *what)
{
    KT_ERROR(err, path, 0, 0, "SQLite: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static int exec(sqlite3 *db, const char *sql, const char *path, kt_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    KT_ERROR(err, path, 0, 0, "SQLite: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return -1;
}

static int schema_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* 1 when the query's single value is nonzero, 0 when zero, -1 on error. */
static int query_flag(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) != 0 : -1;
    sqlite3_finalize(q);
    return rc;
}

/* Brings a version 1 or 2 database's tiers and tier_samples to version 3
 * (inside ensure_schema's transaction). Returns 0 or -1 with err. */
static int upgrade_v3(sqlite3 *db, const char *path, kt_err *err)
{
    int rename = query_flag(db, "SELECT EXISTS (SELECT 1 FROM pragma_table_info('tiers') WHERE name = 'hit_blocks')");
    int renumber = query_flag(db, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'tier_samples')");
    if (rename < 0 || renumber < 0)
        return db_fail(db, err, path, "cannot read the schema");
    if (rename && exec(db, "ALTER TABLE tiers RENAME COLUMN hit_blocks TO found_blocks;", path, err) < 0)
        return -1;
    /* Through levels no row has, so that no row meets another's key on the way. */
    return renumber ? exec(db,
                           "UPDATE tier_samples SET level = level - 1 - 1000000;"
                           "UPDATE tier_samples SET level = level + 1000000;",
                           path, err)
                    : 0;
}

static int ensure_schema(sqlite3 *db, const char *path, kt_err *err)
{
    int v = 0;
    if (schema_version(db, &v) < 0)
        return db_fail(db, err, path, "cannot read the schema version");
    if (v > STORE_SCHEMA_VERSION) {
        KT_ERROR(err, path, 0, 0, "results database has schema version %d; this kvtier knows up to %d", v,
                 STORE_SCHEMA_VERSION);
        return -1;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", STORE_SCHEMA_VERSION);
    if (exec(db, "BEGIN IMMEDIATE;", path, err) < 0)
        return -1;
    /* The tables in the order they were always created, so `.schema` lists
     * them alike; columns a table gained since version v are added first
     * (version 1 lacked the disaggregation and failure columns: old rows get
     * NULL and 0). */
    const store_table *const generated[] = { &requests_table, &replicas_table };
    char made[sizeof generated / sizeof *generated][STORE_SQL_LEN], upgrade[STORE_SQL_LEN] = "";
    int rc = 0;
    for (size_t i = 0; i < sizeof generated / sizeof *generated && rc == 0; i++)
        rc = table_create_sql(generated[i], made[i], sizeof made[i]) |
             (v >= 1 ? table_upgrade_sql(generated[i], v, upgrade + strlen(upgrade), sizeof upgrade - strlen(upgrade))
                     : 0);
    if (rc < 0)
        KT_ERROR(err, path, 0, 0, "SQLite: a generated table definition is too long");
    const char *const tables[] = { upgrade, runs_table_sql, made[0], made[1], series_tables_sql,
                                   plan_store_tables_sql, sweep_tables_sql, views_sql };
    if (rc == 0 && v >= 1 && v < 3)
        rc = upgrade_v3(db, path, err);
    for (size_t i = 0; i < sizeof tables / sizeof *tables && rc == 0; i++)
        rc = exec(db, tables[i], path, err);
    if (rc < 0 || exec(db, sql, path, err) < 0) {
        exec(db, "ROLLBACK;", path, NULL);
        return -1;
    }
    return exec(db, "COMMIT;", path, err);
}

store *store_open(const char *path, kt_err *err)
{
    store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        KT_ERROR(err, path, 0, 0, "out of memory opening the results database");
        free(st);
        return NULL;
    }
    if (sqlite3_open(path, &st->db) != SQLITE_OK) {
        db_fail(st->db, err, path, "cannot open");
        store_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 10000);
    if (exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", path, err) < 0 ||
        ensure_schema(st->db, path, err) < 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

struct sqlite3 *store_db(store *st) { return st->db; }

void store_close(store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

const char *store_utc_now(char *buf, size_t n)
{
    time_t now = time(NULL);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    return buf;
}

/* ---------- writing a run ---------- */

/* Binds a list of int64 values to parameters 1..n. */
static void bind_i64s(sqlite3_stmt *s, const int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(s, i + 1, v[i]);
}

int store_step_reset(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t insert_run(store *st, const scenario *sc, const sim_stats *stats)
{
    sqlite3_stmt *s;
    const char *sql = "INSERT INTO runs (started_utc, program_version, scenario_name, scenario_file,"
                      " scenario_yaml, seed, model, hardware, events, sim_end_ns, wall_s, trace_file,"
                      " trace_bad_lines, trace_first_bad_lines) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    char when[32];
    sqlite3_bind_text(s, 1, store_utc_now(when, sizeof when), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, PACKAGE_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, sc->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, sc->file, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, sc->yaml ? sc->yaml : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (int64_t)sc->seed);
    sqlite3_bind_text(s, 7, sc->model->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, sc->hw->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, (int64_t)stats->events);
    sqlite3_bind_int64(s, 10, stats->sim_end_ns);
    sqlite3_bind_double(s, 11, stats->wall_s);
    char bad[256] = "";
    if (sc->trace.on) {
        sqlite3_bind_text(s, 12, sc->trace.path, -1, SQLITE_STATIC);
        for (int64_t i = 0; i < sc->trace.bad_lines && i < 16; i++) {
            size_t len = strlen(bad);
            snprintf(bad + len, sizeof bad - len, "%s%lld", i ? "," : "", (long long)sc->trace.first_bad[i]);
        }
    }
    sqlite3_bind_int64(s, 13, sc->trace.bad_lines);
    sqlite3_bind_text(s, 14, bad, -1, SQLITE_TRANSIENT);
    int rc = store_step_reset(s);
    sqlite3_finalize(s);
    return rc < 0 ? -1 : sqlite3_last_insert_rowid(st->db);
}

static int insert_requests(store *st, int64_t run, const metrics *m)
{
    sqlite3_stmt *s = table_insert(st->db, &requests_table);
    if (!s)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < m->n_reqs && rc == 0; i++) {
        store_row_ctx ctx = { .run = run, .index = (int64_t)i };
        rc = table_write_row(s, &requests_table, &m->reqs[i], &ctx);
    }
    sqlite3_finalize(s);
    return rc;
}

static int insert_replicas(store *st, int64_t run, const metrics *m, int64_t duration_ns)
{
    sqlite3_stmt *s = table_insert(st->db, &replicas_table);
    if (!s)
        return -1;
    int rc = 0;
    for (int i = 0; i < m->n_replicas && rc == 0; i++) {
        store_row_ctx ctx = { .run = run, .index = i, .duration_ns = duration_ns };
        rc = table_write_row(s, &replicas_table, &m->replicas[i], &ctx);
    }
    sqlite3_finalize(s);
    return rc;
}

static int insert_samples(store *st, int64_t run, const metrics *m)
{
    sqlite3_stmt *s;
    const char *sql = "INSERT INTO replica_samples (run_id, replica, t_ns, running, waiting, kv_used_blocks,"
                      " kv_cached_blocks, tokens_out, busy_frac) VALUES (?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < m->n_samples && rc == 0; i++) {
        const metrics_sample *p = &m->samples[i];
        int64_t v[] = { run, p->replica, p->t_ns, p->running, p->waiting, p->kv_used_blocks,
                        p->kv_cached_blocks, p->tokens_out };
        bind_i64s(s, v, 8);
        sqlite3_bind_double(s, 9, p->busy_frac);
        rc = store_step_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

static int insert_tiers_links(store *st, int64_t run, const metrics *m)
{
    sqlite3_stmt *t = NULL, *l = NULL, *ls = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "INSERT INTO tiers (run_id, replica, level, capacity_blocks, found_blocks, fetched_blocks,"
                                " stored_blocks, evicted_blocks, name, kind, block_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                -1, &t, NULL) == SQLITE_OK &&
                     sqlite3_prepare_v2(st->db,
                                        "INSERT INTO links (run_id, replica, link, name, bw_Bps, bytes_moved)"
                                        " VALUES (?,?,?,?,?,?)", -1, &l, NULL) == SQLITE_OK &&
                     sqlite3_prepare_v2(st->db,
                                        "INSERT INTO link_samples (run_id, replica, link, t_ns, utilization)"
                                        " VALUES (?,?,?,?,?)", -1, &ls, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    for (size_t i = 0; i < m->n_tiers && rc == 0; i++) {
        const metrics_tier *x = &m->tiers[i];
        int64_t v[] = { run, x->replica, x->level, x->capacity_blocks, x->found_blocks, x->fetched_blocks,
                        x->stored_blocks, x->evicted_blocks };
        bind_i64s(t, v, 8);
        sqlite3_bind_text(t, 9, x->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(t, 10, x->kind, -1, SQLITE_STATIC);
        sqlite3_bind_double(t, 11, x->block_bytes);
        rc = store_step_reset(t);
    }
    for (size_t i = 0; i < m->n_links && rc == 0; i++) {
        const metrics_link *x = &m->links[i];
        int64_t v[] = { run, x->replica, x->link };
        bind_i64s(l, v, 3);
        sqlite3_bind_text(l, 4, x->name, -1, SQLITE_STATIC);
        sqlite3_bind_double(l, 5, x->bw_Bps);
        sqlite3_bind_double(l, 6, x->bytes_moved);
        rc = store_step_reset(l);
    }
    for (size_t i = 0; i < m->n_link_samples && rc == 0; i++) {
        const metrics_link_sample *x = &m->link_samples[i];
        int64_t v[] = { run, x->replica, x->link, x->t_ns };
        bind_i64s(ls, v, 4);
        sqlite3_bind_double(ls, 5, x->utilization);
        rc = store_step_reset(ls);
    }
    sqlite3_finalize(t);
    sqlite3_finalize(l);
    sqlite3_finalize(ls);
    return rc;
}

static int insert_tier_samples(store *st, int64_t run, const metrics *m)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO tier_samples (run_id, replica, level, t_ns, used_blocks)"
                           " VALUES (?,?,?,?,?)", -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < m->n_tier_samples && rc == 0; i++) {
        const metrics_tier_sample *x = &m->tier_samples[i];
        int64_t v[] = { run, x->replica, x->level, x->t_ns, (int64_t)x->used_blocks };
        bind_i64s(s, v, 5);
        rc = store_step_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

static int insert_summary(store *st, int64_t run, const metrics_summary *sum)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO summary (run_id, metric, value, unit) VALUES (?,?,?,?)", -1,
                           &s, NULL) != SQLITE_OK)
        return -1;
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(sum, f);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_text(s, 2, f[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 3, f[i].value);
        sqlite3_bind_text(s, 4, f[i].unit, -1, SQLITE_STATIC);
        rc = store_step_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

/* Records that run is point pt of its sweep. */
static int insert_point(store *st, int64_t run, const store_point *pt)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO sweep_points (sweep_id, point, params, run_id) VALUES (?,?,?,?)",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, pt->sweep_id);
    sqlite3_bind_int64(s, 2, pt->point);
    sqlite3_bind_text(s, 3, pt->params, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, run);
    int rc = store_step_reset(s);
    sqlite3_finalize(s);
    return rc;
}

int64_t store_write_run(store *st, const scenario *sc, const metrics *m, const metrics_summary *s,
                        const sim_stats *stats, kt_err *err)
{
    return store_write_run_point(st, sc, m, s, stats, NULL, err);
}

int store_begin(store *st, kt_err *err) { return exec(st->db, "BEGIN IMMEDIATE;", st->path, err); }

int64_t store_finish(store *st, int64_t id, int ok, const char *what, kt_err *err)
{
    if (!ok) {
        db_fail(st->db, err, st->path, what);
        exec(st->db, "ROLLBACK;", st->path, NULL);
        return -1;
    }
    if (exec(st->db, "COMMIT;", st->path, err) < 0) {
        exec(st->db, "ROLLBACK;", st->path, NULL);
        return -1;
    }
    return id;
}

int64_t store_write_run_point(store *st, const scenario *sc, const metrics *m, const metrics_summary *s,
                              const sim_stats *stats, const store_point *pt, kt_err *err)
{
    if (store_begin(st, err) < 0)
        return -1;
    int64_t run = insert_run(st, sc, stats);
    int ok = !(run < 0 || insert_requests(st, run, m) < 0 || insert_replicas(st, run, m, s->duration_ns) < 0 ||
               insert_samples(st, run, m) < 0 || insert_tiers_links(st, run, m) < 0 ||
               insert_tier_samples(st, run, m) < 0 || insert_summary(st, run, s) < 0 ||
               (pt && insert_point(st, run, pt) < 0));
    return store_finish(st, run, ok, "writing the run", err);
}

/* ---------- sweeps ---------- */

int64_t store_sweep_add(store *st, const store_sweep *sw, kt_err *err)
{
    sqlite3_stmt *ins = NULL, *sel = NULL;
    char when[32];
    int64_t id = -1;
    /* INSERT OR IGNORE then SELECT: processes adding the same sweep at once all get the one row. */
    if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO sweeps (name, file, key, created_utc, points)"
                                   " VALUES (?,?,?,?,?)", -1, &ins, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(st->db, "SELECT id FROM sweeps WHERE key = ?", -1, &sel, NULL) == SQLITE_OK) {
        sqlite3_bind_text(ins, 1, sw->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, sw->file, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, sw->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, store_utc_now(when, sizeof when), -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 5, sw->points);
        sqlite3_bind_text(sel, 1, sw->key, -1, SQLITE_STATIC);
        if (store_step_reset(ins) == 0 && sqlite3_step(sel) == SQLITE_ROW)
            id = sqlite3_column_int64(sel, 0);
    }
    if (id < 0)
        db_fail(st->db, err, st->path, "recording the sweep");
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    return id;
}

int64_t store_sweep_done(store *st, int64_t sweep_id, unsigned char *done, int64_t n_points, kt_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "SELECT point FROM sweep_points WHERE sweep_id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_fail(st->db, err, st->path, "reading the sweep's points");
    memset(done, 0, (size_t)n_points);
    sqlite3_bind_int64(s, 1, sweep_id);
    int64_t count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t p = sqlite3_column_int64(s, 0);
        if (p >= 0 && p < n_points && !done[p]) {
            done[p] = 1;
            count++;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? count : db_fail(st->db, err, st->path, "reading the sweep's points");
}

int64_t store_sweep_point_run(store *st, int64_t sweep_id, int64_t point, kt_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "SELECT run_id FROM sweep_points WHERE sweep_id = ? AND point = ?", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(st->db, err, st->path, "reading the sweep's points");
    sqlite3_bind_int64(s, 1, sweep_id);
    sqlite3_bind_int64(s, 2, point);
    int rc = sqlite3_step(s);
    int64_t run = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? run : db_fail(st->db, err, st->path, "reading the sweep's points");
}

int store_sweep_results(store *st, int64_t sweep_id, int64_t n_points, const char *const *metrics, int n_metrics,
                        int64_t *run_ids, double *values, kt_err *err)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT sp.point, sp.run_id, s.value FROM sweep_points sp"
                      " LEFT JOIN summary s ON s.run_id = sp.run_id AND s.metric = ?2 WHERE sp.sweep_id = ?1";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st->db, err, st->path, "reading the sweep's results");
    memset(run_ids, 0, (size_t)n_points * sizeof *run_ids);
    for (int64_t i = 0; i < n_points * n_metrics; i++)
        values[i] = NAN;
    int rc = SQLITE_DONE;
    for (int j = 0; j < n_metrics && rc == SQLITE_DONE; j++) {
        sqlite3_bind_int64(s, 1, sweep_id);
        sqlite3_bind_text(s, 2, metrics[j], -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t p = sqlite3_column_int64(s, 0);
            if (p < 0 || p >= n_points)
                continue;
            run_ids[p] = sqlite3_column_int64(s, 1);
            if (sqlite3_column_type(s, 2) != SQLITE_NULL)
                values[p * n_metrics + j] = sqlite3_column_double(s, 2);
        }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st->db, err, st->path, "reading the sweep's results");
}

/* ---------- merging a shard ---------- */

/* Appends identifier id to buf (n bytes) in double quotes, quotes inside
 * doubled. Returns 0, or -1 when it does not fit (buf is then unchanged). */
static int sql_ident(char *buf, size_t n, const char *id)
{
    size_t o = strlen(buf);
    if (o + 2 * strlen(id) + 3 > n)
        return -1;
    buf[o++] = '"';
    for (; *id; id++) {
        if (*id == '"')
            buf[o++] = '"';
        buf[o++] = *id;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return 0;
}

/* Room for one generated INSERT ... SELECT statement. */
#define MERGE_SQL_LEN 8192

/* Builds "INSERT INTO main.T (cols) SELECT cols FROM shard.T WHERE key_col = ?1"
 * from the shard table's columns: run_id is replaced by ?2 and, for runs, id
 * is left out so the row gets a new one. Returns 1 when the table holds rows
 * keyed by run (a run_id column, or the runs table itself), 0 when not, -1 on error. */
static int merge_sql(sqlite3 *db, const char *table, char *sql, size_t n)
{
    int is_runs = strcmp(table, "runs") == 0, keyed = is_runs;
    char cols[MERGE_SQL_LEN / 2] = "", vals[MERGE_SQL_LEN / 2] = "";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1, 'shard') ORDER BY cid", -1, &s, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    int rc = 0;
    while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(s, 0);
        if (is_runs && strcmp(c, "id") == 0)
            continue;
        int run_col = strcmp(c, "run_id") == 0;
        keyed |= run_col;
        if (cols[0])
            rc = sql_append(cols, sizeof cols, ",") | sql_append(vals, sizeof vals, ",");
        rc |= sql_ident(cols, sizeof cols, c) | (run_col ? sql_append(vals, sizeof vals, "?2")
                                                           : sql_ident(vals, sizeof vals, c));
    }
    sqlite3_finalize(s);
    char qt[256] = "";
    if (rc < 0 || sql_ident(qt, sizeof qt, table) < 0)
        return -1;
    int len = snprintf(sql, n, "INSERT INTO main.%s (%s) SELECT %s FROM shard.%s WHERE %s = ?1", qt, cols, vals, qt,
                       is_runs ? "id" : "run_id");
    return len < 0 || (size_t)len >= n ? -1 : keyed;
}

/* The copying statements: [0] for runs, then one per run-keyed table. */
typedef struct merge_stmts {
    sqlite3_stmt **s;
    int n;
    size_t cap;
} merge_stmts;

static void merge_stmts_free(merge_stmts *m)
{
    for (int i = 0; i < m->n; i++)
        sqlite3_finalize(m->s[i]);
    free(m->s);
}

/* Prepares a copy for runs and every shard table keyed by run_id, except the
 * sweep tables, which are copied by their own statements. */
static int merge_prepare(sqlite3 *db, merge_stmts *m)
{
    sqlite3_stmt *t;
    const char *sql = "SELECT name FROM shard.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                      " AND name NOT IN ('sweeps', 'sweep_points') ORDER BY name = 'runs' DESC, name";
    if (sqlite3_prepare_v2(db, sql, -1, &t, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    while (rc == 0 && sqlite3_step(t) == SQLITE_ROW) {
        char ins[MERGE_SQL_LEN];
        int keyed = merge_sql(db, (const char *)sqlite3_column_text(t, 0), ins, sizeof ins);
        if (keyed <= 0) {
            rc = keyed;
            continue;
        }
        sqlite3_stmt **grown = grow_array(m->s, &m->cap, (size_t)m->n + 1, sizeof *grown);
        if (!grown || sqlite3_prepare_v2(db, ins, -1, &grown[m->n], NULL) != SQLITE_OK) {
            if (grown)
                m->s = grown;
            rc = -1;
            continue;
        }
        m->s = grown;
        m->n++;
    }
    sqlite3_finalize(t);
    return rc;
}

/* Copies shard run old_run under a new id with every row keyed by it; returns the new id or -1. */
static int64_t merge_run(sqlite3 *db, const merge_stmts *m, int64_t old_run)
{
    int64_t run = -1;
    for (int i = 0; i < m->n; i++) {
        sqlite3_bind_int64(m->s[i], 1, old_run);
        sqlite3_bind_int64(m->s[i], 2, run);
        if (store_step_reset(m->s[i]) < 0)
            return -1;
        if (i == 0)
            run = sqlite3_last_insert_rowid(db);
    }
    return run;
}

/* Copies the shard's sweep points that main lacks, with their runs, in point order. Returns how many or -1. */
static int64_t merge_points(sqlite3 *db, const merge_stmts *m)
{
    sqlite3_stmt *pts = NULL, *ins = NULL;
    const char *sel = "SELECT ms.id, sp.point, sp.params, sp.run_id FROM shard.sweep_points sp"
                      " JOIN shard.sweeps ss ON ss.id = sp.sweep_id JOIN main.sweeps ms ON ms.key = ss.key"
                      " WHERE NOT EXISTS (SELECT 1 FROM main.sweep_points x WHERE x.sweep_id = ms.id"
                      " AND x.point = sp.point) ORDER BY ms.id, sp.point";
    int64_t count = 0;
    if (sqlite3_exec(db, "INSERT OR IGNORE INTO main.sweeps (name, file, key, created_utc, points)"
                         " SELECT name, file, key, created_utc, points FROM shard.sweeps ORDER BY id",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sel, -1, &pts, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO main.sweep_points (sweep_id, point, params, run_id) VALUES (?,?,?,?)",
                           -1, &ins, NULL) != SQLITE_OK)
        count = -1;
    while (count >= 0 && sqlite3_step(pts) == SQLITE_ROW) {
        int64_t run = merge_run(db, m, sqlite3_column_int64(pts, 3));
        for (int k = 0; k < 3; k++)
            sqlite3_bind_value(ins, k + 1, sqlite3_column_value(pts, k));
        sqlite3_bind_int64(ins, 4, run);
        count = run < 0 || store_step_reset(ins) < 0 ? -1 : count + 1;
    }
    sqlite3_finalize(pts);
    sqlite3_finalize(ins);
    return count;
}

int64_t store_merge(store *st, const char *shard_path, kt_err *err)
{
    sqlite3_stmt *att;
    if (sqlite3_prepare_v2(st->db, "ATTACH DATABASE ? AS shard", -1, &att, NULL) != SQLITE_OK)
        return db_fail(st->db, err, st->path, "attaching a shard");
    sqlite3_bind_text(att, 1, shard_path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(att);
    sqlite3_finalize(att);
    if (rc != SQLITE_DONE)
        return db_fail(st->db, err, shard_path, "attaching as a shard");
    merge_stmts m = { 0 };
    int64_t count = -1;
    if (store_begin(st, err) == 0) {
        count = merge_prepare(st->db, &m) < 0 ? -1 : merge_points(st->db, &m);
        merge_stmts_free(&m);
        if (count < 0) {
            db_fail(st->db, err, shard_path, "merging the shard");
            exec(st->db, "ROLLBACK;", st->path, NULL);
        } else if (exec(st->db, "COMMIT;", st->path, err) < 0) {
            exec(st->db, "ROLLBACK;", st->path, NULL);
            count = -1;
        }
    }
    exec(st->db, "DETACH DATABASE shard;", st->path, NULL);
    return count;
}
