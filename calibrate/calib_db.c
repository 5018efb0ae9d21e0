/* calib_db.c — SQLite schema and statements for raw calibration samples, runs, checks, validation points and derived figures. */
#include "calib_db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "infile.h"

struct calib_db {
    sqlite3 *db;
    char path[512];
};

/* Milliseconds a writer waits for another process holding the file. */
#define BUSY_TIMEOUT_MS 10000

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS calib_runs ("
    " id INTEGER PRIMARY KEY,"
    " started_utc TEXT NOT NULL,"
    " tool_version TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " options TEXT NOT NULL,"
    " gpu_name TEXT NOT NULL,"
    " pci_bus_id TEXT NOT NULL,"
    " gpu_count INTEGER NOT NULL,"
    " cc_major INTEGER NOT NULL,"
    " cc_minor INTEGER NOT NULL,"
    " driver_version INTEGER NOT NULL,"
    " runtime_version INTEGER NOT NULL,"
    " sm_count INTEGER NOT NULL,"
    " l2_bytes REAL NOT NULL,"
    " smem_per_sm_bytes REAL NOT NULL,"
    " hbm_bytes REAL NOT NULL,"
    " sm_clock_mhz REAL NOT NULL,"
    " mem_clock_mhz REAL NOT NULL,"
    " sm_clock_max_mhz REAL NOT NULL,"
    " mem_clock_max_mhz REAL NOT NULL,"
    " power_limit_w REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS calib_samples ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " bench TEXT NOT NULL,"
    " case_name TEXT NOT NULL,"
    " x REAL NOT NULL,"
    " work REAL NOT NULL,"
    " rep INTEGER NOT NULL,"
    " ns REAL NOT NULL,"
    " PRIMARY KEY (run_id, bench, case_name, x, rep));"
    "CREATE TABLE IF NOT EXISTS calib_checks ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " bench TEXT NOT NULL,"
    " case_name TEXT NOT NULL,"
    " max_abs_err REAL NOT NULL,"
    " tolerance REAL NOT NULL,"
    " passed INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS calib_validation ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " profile TEXT NOT NULL,"
    " batch INTEGER NOT NULL,"
    " context_tokens INTEGER NOT NULL,"
    " measured_ns REAL NOT NULL,"
    " measured_iqr_ns REAL NOT NULL,"
    " predicted_ns REAL NOT NULL,"
    " rel_err REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS calib_figures ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " key TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " residual REAL NOT NULL,"
    " samples INTEGER NOT NULL,"
    " source TEXT NOT NULL,"
    " PRIMARY KEY (run_id, key));"
    "CREATE TABLE IF NOT EXISTS calib_efficiency ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " tab TEXT NOT NULL,"
    " label TEXT NOT NULL,"
    " x REAL NOT NULL,"
    " eff REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS calib_failures ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " bench TEXT NOT NULL,"
    " message TEXT NOT NULL);"
    /* Schema 3: clocks at each benchmark's start (after the warm-up) and end. */
    "CREATE TABLE IF NOT EXISTS calib_clocks ("
    " run_id INTEGER NOT NULL REFERENCES calib_runs(id),"
    " bench TEXT NOT NULL,"
    " phase TEXT NOT NULL,"
    " sm_mhz REAL NOT NULL,"
    " mem_mhz REAL NOT NULL,"
    " sm_max_mhz REAL NOT NULL,"
    " mem_max_mhz REAL NOT NULL,"
    " reasons INTEGER NOT NULL,"
    " temp_c REAL NOT NULL,"
    " power_w REAL NOT NULL);";

static int db_fail(calib_db *db, const char *what, kt_err *err)
{
    KT_ERROR(err, db->path, 0, 0, "SQLite: %s: %s", what, sqlite3_errmsg(db->db));
    return -1;
}

static int exec_sql(calib_db *db, const char *sql, const char *what, kt_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    KT_ERROR(err, db->path, 0, 0, "SQLite: %s: %s", what, msg ? msg : sqlite3_errmsg(db->db));
    sqlite3_free(msg);
    return -1;
}

static int prepare(calib_db *db, const char *sql, sqlite3_stmt **st, kt_err *err)
{
    if (sqlite3_prepare_v2(db->db, sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    return db_fail(db, "prepare", err);
}

/* Steps a statement expecting SQLITE_DONE, then finalizes it. */
static int step_done(calib_db *db, sqlite3_stmt *st, const char *what, kt_err *err)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, what, err);
    sqlite3_finalize(st);
    return rc;
}

/* Creates the schema, or checks that an existing one is not newer. */
static int schema_init(calib_db *db, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "PRAGMA user_version", &st, err) < 0)
        return -1;
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (version < 0)
        return db_fail(db, "read schema version", err);
    if (version > CALIB_DB_SCHEMA_VERSION) {
        KT_ERROR(err, db->path, 0, 0, "calibration database schema version %d is newer than this "
                 "program's (%d)", version, CALIB_DB_SCHEMA_VERSION);
        return -1;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", CALIB_DB_SCHEMA_VERSION);
    return exec_sql(db, schema_sql, "create schema", err) < 0 ? -1
           : exec_sql(db, pragma, "set schema version", err);
}

calib_db *calib_db_open(const char *path, kt_err *err)
{
    calib_db *db = calloc(1, sizeof *db);
    if (!db) {
        KT_ERROR(err, path, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(db->path, sizeof db->path, "%s", path);
    if (sqlite3_open(path, &db->db) != SQLITE_OK) {
        db_fail(db, "open", err);
        calib_db_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS);
    if (schema_init(db, err) < 0) {
        calib_db_close(db);
        return NULL;
    }
    return db;
}

void calib_db_close(calib_db *db)
{
    if (!db)
        return;
    sqlite3_close(db->db);
    free(db);
}

/* Reads the whole file at path into a NUL-terminated buffer (caller frees). */
static char *slurp(const char *path, kt_err *err)
{
    FILE *f = infile_open(path, err);
    if (!f)
        return NULL;
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        /* Room for at least one more byte and the NUL. */
        char *grown = grow_array(buf, &cap, len + 2, 1);
        if (!grown) {
            free(buf);
            fclose(f);
            KT_ERROR(err, path, 0, 0, "out of memory");
            return NULL;
        }
        buf = grown;
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int calib_db_exec_file(calib_db *db, const char *sql_path, kt_err *err)
{
    char *sql = slurp(sql_path, err);
    if (!sql)
        return -1;
    int rc = exec_sql(db, sql, sql_path, err);
    free(sql);
    return rc;
}

int calib_db_begin(calib_db *db, kt_err *err) { return exec_sql(db, "BEGIN", "begin", err); }
int calib_db_commit(calib_db *db, kt_err *err) { return exec_sql(db, "COMMIT", "commit", err); }
void calib_db_rollback(calib_db *db) { sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL); }

/* ---------- runs ---------- */

#define RUN_COLUMNS \
    "started_utc, tool_version, host, options, gpu_name, pci_bus_id, gpu_count, cc_major, " \
    "cc_minor, driver_version, runtime_version, sm_count, l2_bytes, smem_per_sm_bytes, " \
    "hbm_bytes, sm_clock_mhz, mem_clock_mhz, sm_clock_max_mhz, mem_clock_max_mhz, power_limit_w"

int calib_db_add_run(calib_db *db, const calib_run_info *r, int64_t *run_id, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_runs (" RUN_COLUMNS ") VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st, err) < 0)
        return -1;
    const char *texts[] = { r->started_utc, r->tool_version, r->host, r->options, r->gpu_name,
                            r->pci_bus_id };
    const int ints[] = { r->gpu_count, r->cc_major, r->cc_minor, r->driver_version,
                         r->runtime_version, r->sm_count };
    const double reals[] = { r->l2_bytes, r->smem_per_sm_bytes, r->hbm_bytes, r->sm_clock_mhz,
                             r->mem_clock_mhz, r->sm_clock_max_mhz, r->mem_clock_max_mhz,
                             r->power_limit_w };
    int col = 1;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        sqlite3_bind_text(st, col++, texts[i], -1, SQLITE_TRANSIENT);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        sqlite3_bind_int(st, col++, ints[i]);
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        sqlite3_bind_double(st, col++, reals[i]);
    if (step_done(db, st, "insert run", err) < 0)
        return -1;
    *run_id = sqlite3_last_insert_rowid(db->db);
    return 0;
}

int calib_db_latest_run(calib_db *db, int64_t *run_id, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "SELECT max(id) FROM calib_runs", &st, err) < 0)
        return -1;
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *run_id = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        KT_ERROR(err, db->path, 0, 0, "no calibration runs in the database");
    }
    sqlite3_finalize(st);
    return rc;
}

static void column_text(sqlite3_stmt *st, int col, char *dst, size_t n)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", s ? (const char *)s : "");
}

int calib_db_run_info(calib_db *db, int64_t run_id, calib_run_info *r, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "SELECT " RUN_COLUMNS " FROM calib_runs WHERE id = ?", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        KT_ERROR(err, db->path, 0, 0, "no calibration run %lld", (long long)run_id);
        return -1;
    }
    memset(r, 0, sizeof *r);
    struct { char *dst; size_t n; } texts[] = {
        { r->started_utc, sizeof r->started_utc }, { r->tool_version, sizeof r->tool_version },
        { r->host, sizeof r->host }, { r->options, sizeof r->options },
        { r->gpu_name, sizeof r->gpu_name }, { r->pci_bus_id, sizeof r->pci_bus_id },
    };
    int *ints[] = { &r->gpu_count, &r->cc_major, &r->cc_minor, &r->driver_version,
                    &r->runtime_version, &r->sm_count };
    double *reals[] = { &r->l2_bytes, &r->smem_per_sm_bytes, &r->hbm_bytes, &r->sm_clock_mhz,
                        &r->mem_clock_mhz, &r->sm_clock_max_mhz, &r->mem_clock_max_mhz,
                        &r->power_limit_w };
    int col = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++, col++)
        column_text(st, col, texts[i].dst, texts[i].n);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        *ints[i] = sqlite3_column_int(st, col++);
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        *reals[i] = sqlite3_column_double(st, col++);
    sqlite3_finalize(st);
    return 0;
}

/* ---------- samples ---------- */

int calib_db_add_samples(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                         double x, double work, const double *ns, size_t n, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns) "
                "VALUES (?,?,?,?,?,?,?)", &st, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, case_name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, x);
        sqlite3_bind_double(st, 5, work);
        sqlite3_bind_int64(st, 6, (int64_t)i);
        sqlite3_bind_double(st, 7, ns[i]);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(db, "insert sample", err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Growable parallel arrays of (x, work, ns). */
typedef struct sample_buf {
    double *x, *work, *ns;
    size_t n, cap;
} sample_buf;

static int sample_push(sample_buf *b, double x, double work, double ns)
{
    if (b->n == b->cap) {
        /* The three arrays grow in turn; the capacity changes once all have. */
        size_t cap_x = b->cap, cap_w = b->cap, cap_n = b->cap;
        double *nx = grow_array(b->x, &cap_x, b->n + 1, sizeof *nx);
        if (!nx)
            return -1;
        b->x = nx;
        double *nw = grow_array(b->work, &cap_w, b->n + 1, sizeof *nw);
        if (!nw)
            return -1;
        b->work = nw;
        double *nn = grow_array(b->ns, &cap_n, b->n + 1, sizeof *nn);
        if (!nn)
            return -1;
        b->ns = nn;
        b->cap = cap_x;
    }
    b->x[b->n] = x;
    b->work[b->n] = work;
    b->ns[b->n] = ns;
    b->n++;
    return 0;
}

static void sample_buf_free(sample_buf *b)
{
    free(b->x);
    free(b->work);
    free(b->ns);
    memset(b, 0, sizeof *b);
}

static int load_samples(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                        sample_buf *b, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "SELECT x, work, ns FROM calib_samples WHERE run_id = ? AND bench = ? AND "
                "case_name = ? ORDER BY x, rep", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, case_name, -1, SQLITE_STATIC);
    int rc, ok = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ok == 0)
        ok = sample_push(b, sqlite3_column_double(st, 0), sqlite3_column_double(st, 1),
                         sqlite3_column_double(st, 2));
    sqlite3_finalize(st);
    if (ok < 0) {
        KT_ERROR(err, db->path, 0, 0, "out of memory reading samples");
        return -1;
    }
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(db, "read samples", err);
}

int calib_db_samples(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                     double **x, double **work, double **ns, size_t *n, kt_err *err)
{
    sample_buf b = { 0 };
    if (load_samples(db, run_id, bench, case_name, &b, err) < 0) {
        sample_buf_free(&b);
        return -1;
    }
    *n = b.n;
    *ns = b.ns;
    if (x)
        *x = b.x;
    else
        free(b.x);
    if (work)
        *work = b.work;
    else
        free(b.work);
    return 0;
}

/* Reduces the samples at b->x[lo..hi) (one x) to a point. */
static int make_point(const sample_buf *b, size_t lo, size_t hi, calib_point *p)
{
    calib_summary s;
    if (calib_summarize(b->ns + lo, hi - lo, &s) < 0)
        return -1;
    p->x = b->x[lo];
    p->work = b->work[lo];
    p->median_ns = s.median;
    p->iqr_ns = s.iqr;
    p->samples = s.n;
    return 0;
}

int calib_db_points(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                    calib_point **points, size_t *n, kt_err *err)
{
    sample_buf b = { 0 };
    *points = NULL;
    *n = 0;
    if (load_samples(db, run_id, bench, case_name, &b, err) < 0) {
        sample_buf_free(&b);
        return -1;
    }
    calib_point *p = b.n ? malloc(b.n * sizeof *p) : NULL;
    size_t np = 0;
    int rc = b.n && !p ? -1 : 0;
    for (size_t lo = 0; rc == 0 && lo < b.n;) {
        size_t hi = lo + 1;
        while (hi < b.n && b.x[hi] == b.x[lo])
            hi++;
        rc = make_point(&b, lo, hi, &p[np++]);
        lo = hi;
    }
    sample_buf_free(&b);
    if (rc < 0) {
        free(p);
        KT_ERROR(err, db->path, 0, 0, "%s/%s: samples could not be summarized (non-finite values?)",
                 bench, case_name);
        return -1;
    }
    *points = p;
    *n = np;
    return 0;
}

int calib_db_cases(calib_db *db, int64_t run_id, const char *bench, char ***names, size_t *n,
                   kt_err *err)
{
    sqlite3_stmt *st;
    *names = NULL;
    *n = 0;
    if (prepare(db, "SELECT DISTINCT case_name FROM calib_samples WHERE run_id = ? AND bench = ? "
                "ORDER BY case_name", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);
    int rc = 0;
    size_t cap = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char **grown = grow_array(*names, &cap, *n + 1, sizeof *grown);
        char *s = grown ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
        if (grown)
            *names = grown;
        if (!s)
            rc = -1;
        else
            (*names)[(*n)++] = s;
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        calib_db_free_names(*names, *n);
        *names = NULL;
        *n = 0;
        KT_ERROR(err, db->path, 0, 0, "out of memory listing cases");
    }
    return rc;
}

void calib_db_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---------- failures ---------- */

int calib_db_add_failure(calib_db *db, int64_t run_id, const char *bench, const char *message, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_failures (run_id, bench, message) VALUES (?,?,?)", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, message, -1, SQLITE_STATIC);
    return step_done(db, st, "insert failure", err);
}

int calib_db_failures(calib_db *db, int64_t run_id, char *buf, size_t n, size_t *count, kt_err *err)
{
    sqlite3_stmt *st;
    buf[0] = '\0';
    *count = 0;
    if (prepare(db, "SELECT bench, message FROM calib_failures WHERE run_id = ? ORDER BY rowid", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    size_t len = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (len + 1 < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s: %s", *count ? "; " : "",
                                    (const char *)sqlite3_column_text(st, 0),
                                    (const char *)sqlite3_column_text(st, 1));
        (*count)++;
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_fail(db, "read failures", err);
}

/* ---------- clocks ---------- */

int calib_db_add_clocks(calib_db *db, int64_t run_id, const calib_clock_sample *c, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_clocks (run_id, bench, phase, sm_mhz, mem_mhz, sm_max_mhz, mem_max_mhz, "
                "reasons, temp_c, power_w) VALUES (?,?,?,?,?,?,?,?,?,?)", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, c->bench, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->phase, -1, SQLITE_STATIC);
    const double reals[] = { c->sm_mhz, c->mem_mhz, c->sm_max_mhz, c->mem_max_mhz };
    for (int i = 0; i < 4; i++)
        sqlite3_bind_double(st, 4 + i, reals[i]);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)c->reasons);
    sqlite3_bind_double(st, 9, c->temp_c);
    sqlite3_bind_double(st, 10, c->power_w);
    return step_done(db, st, "insert clock sample", err);
}

int calib_db_clocks(calib_db *db, int64_t run_id, calib_clock_sample **out, size_t *n, kt_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (prepare(db, "SELECT bench, phase, sm_mhz, mem_mhz, sm_max_mhz, mem_max_mhz, reasons, temp_c, power_w "
                "FROM calib_clocks WHERE run_id = ? ORDER BY rowid", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    size_t cap = 0;
    int step, rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        calib_clock_sample *grown = grow_array(*out, &cap, *n + 1, sizeof *grown);
        if (!grown) {
            rc = -1;
            KT_ERROR(err, db->path, 0, 0, "out of memory reading clock samples");
            break;
        }
        *out = grown;
        calib_clock_sample *c = &grown[(*n)++];
        memset(c, 0, sizeof *c);
        column_text(st, 0, c->bench, sizeof c->bench);
        column_text(st, 1, c->phase, sizeof c->phase);
        double *reals[] = { &c->sm_mhz, &c->mem_mhz, &c->sm_max_mhz, &c->mem_max_mhz };
        for (int i = 0; i < 4; i++)
            *reals[i] = sqlite3_column_double(st, 2 + i);
        c->reasons = (uint64_t)sqlite3_column_int64(st, 6);
        c->temp_c = sqlite3_column_double(st, 7);
        c->power_w = sqlite3_column_double(st, 8);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(db, "read clock samples", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---------- checks, validation, figures, efficiency ---------- */

int calib_db_add_check(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                       double max_abs_err, double tolerance, int passed, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_checks (run_id, bench, case_name, max_abs_err, tolerance, "
                "passed) VALUES (?,?,?,?,?,?)", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, case_name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, max_abs_err);
    sqlite3_bind_double(st, 5, tolerance);
    sqlite3_bind_int(st, 6, passed != 0);
    return step_done(db, st, "insert check", err);
}

int calib_db_add_validation(calib_db *db, int64_t run_id, const char *profile, int batch,
                            int64_t context_tokens, double measured_ns, double measured_iqr_ns,
                            double predicted_ns, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_validation (run_id, profile, batch, context_tokens, "
                "measured_ns, measured_iqr_ns, predicted_ns, rel_err) VALUES (?,?,?,?,?,?,?,?)",
                &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, profile, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, batch);
    sqlite3_bind_int64(st, 4, context_tokens);
    sqlite3_bind_double(st, 5, measured_ns);
    sqlite3_bind_double(st, 6, measured_iqr_ns);
    sqlite3_bind_double(st, 7, predicted_ns);
    sqlite3_bind_double(st, 8, measured_ns > 0 ? (predicted_ns - measured_ns) / measured_ns : 0);
    return step_done(db, st, "insert validation point", err);
}

int calib_db_add_figure(calib_db *db, int64_t run_id, const char *key, double value,
                        double residual, int64_t samples, const char *source, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT OR REPLACE INTO calib_figures (run_id, key, value, residual, samples, "
                "source) VALUES (?,?,?,?,?,?)", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, value);
    sqlite3_bind_double(st, 4, residual);
    sqlite3_bind_int64(st, 5, samples);
    sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
    return step_done(db, st, "insert figure", err);
}

int calib_db_add_efficiency(calib_db *db, int64_t run_id, const char *tab, const char *label,
                            double x, double eff, kt_err *err)
{
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO calib_efficiency (run_id, tab, label, x, eff) VALUES (?,?,?,?,?)",
                &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, tab, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, label, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, x);
    sqlite3_bind_double(st, 5, eff);
    return step_done(db, st, "insert efficiency point", err);
}

int calib_db_clear_derived(calib_db *db, int64_t run_id, kt_err *err)
{
    static const char *const sql[] = { "DELETE FROM calib_figures WHERE run_id = ?",
                                        "DELETE FROM calib_efficiency WHERE run_id = ?" };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st;
        if (prepare(db, sql[i], &st, err) < 0)
            return -1;
        sqlite3_bind_int64(st, 1, run_id);
        if (step_done(db, st, "clear derived figures", err) < 0)
            return -1;
    }
    return 0;
}
