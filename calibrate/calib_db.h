/* calib_db.h — the SQLite store of raw calibration samples: one row per timed call, grouped into runs that record the GPU and its clocks. */
#ifndef KT_CALIB_DB_H
#define KT_CALIB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "calib_clocks.h"
#include "calib_stats.h"
#include "err.h"

/* Schema version written to PRAGMA user_version. */
#define CALIB_DB_SCHEMA_VERSION 3

/* An open sample database (opaque; wraps one sqlite3 connection). */
typedef struct calib_db calib_db;

/* What a calibration run measured on: one row of calib_runs. Clock and
 * power fields are 0 when NVML was not available to read them. */
typedef struct calib_run_info {
    char started_utc[32];      /* ISO 8601, "2025-06-01T12:00:00Z" */
    char tool_version[32];
    char host[128];
    char options[1024];        /* the command line, for the record */
    char gpu_name[128];        /* cudaDeviceProp::name */
    char pci_bus_id[32];
    int gpu_count;
    int cc_major, cc_minor;
    int driver_version, runtime_version;   /* as cudaDriverGetVersion reports: 13000 = 13.0 */
    int sm_count;
    double l2_bytes, smem_per_sm_bytes, hbm_bytes;
    double sm_clock_mhz, mem_clock_mhz;         /* current clocks when the run started */
    double sm_clock_max_mhz, mem_clock_max_mhz; /* maximum clocks */
    double power_limit_w;
} calib_run_info;

/* Opens (creating when missing) the database at path, ":memory:" for a
 * private in-memory one, and creates the schema. Caller owns the result
 * (calib_db_close). NULL with err on failure or a newer schema version. */
calib_db *calib_db_open(const char *path, kt_err *err);
void calib_db_close(calib_db *db);

/* Runs every SQL statement in the file at sql_path (fixtures, repairs). */
int calib_db_exec_file(calib_db *db, const char *sql_path, kt_err *err);

/* Transactions around many inserts (each insert alone would sync the file). */
int calib_db_begin(calib_db *db, kt_err *err);
int calib_db_commit(calib_db *db, kt_err *err);
/* Abandons the open transaction (errors are ignored: this is the error path). */
void calib_db_rollback(calib_db *db);

/* Inserts a run; writes its id to *run_id. */
int calib_db_add_run(calib_db *db, const calib_run_info *info, int64_t *run_id, kt_err *err);
/* The newest run (largest id); -1 with err when there is none. */
int calib_db_latest_run(calib_db *db, int64_t *run_id, kt_err *err);
/* Reads run run_id into *out; -1 with err when there is no such run. */
int calib_db_run_info(calib_db *db, int64_t run_id, calib_run_info *out, kt_err *err);

/* Stores n raw samples ns[0..n) of one measurement: benchmark bench, case
 * case_name (e.g. "hbm", "read"), at sweep position x doing work units of
 * work per call (bytes, FLOPs, kernels). Repetitions are numbered 0..n-1.
 * Strings and the array are the caller's. */
int calib_db_add_samples(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                         double x, double work, const double *ns, size_t n, kt_err *err);

/* The raw samples of one case in (x, rep) order. On success *ns (owned by
 * the caller, free) holds *n values and, when x and work are not NULL, *x
 * and *work (caller frees) the matching positions. n == 0 is not an error. */
int calib_db_samples(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                     double **x, double **work, double **ns, size_t *n, kt_err *err);

/* The case's samples reduced to one point per distinct x (median and IQR of
 * its samples), in increasing x. *points is the caller's to free; *n may be 0. */
int calib_db_points(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                    calib_point **points, size_t *n, kt_err *err);

/* Distinct case names of a benchmark in a run, sorted. *names (an array of
 * *n strings) is the caller's: free with calib_db_free_names. */
int calib_db_cases(calib_db *db, int64_t run_id, const char *bench, char ***names, size_t *n,
                   kt_err *err);
void calib_db_free_names(char **names, size_t n);

/* Records that benchmark bench failed in run_id (its samples were not
 * kept), with what went wrong. Strings are the caller's. */
int calib_db_add_failure(calib_db *db, int64_t run_id, const char *bench, const char *message, kt_err *err);

/* The failures of run_id as "bench: message; bench: message" in buf (n
 * bytes, cut short when longer) and their number in *count. */
int calib_db_failures(calib_db *db, int64_t run_id, char *buf, size_t n, size_t *count, kt_err *err);

/* One clock reading taken around a benchmark of run_id (table calib_clocks,
 * schema 3). The sample is the caller's. */
int calib_db_add_clocks(calib_db *db, int64_t run_id, const calib_clock_sample *s, kt_err *err);

/* The clock readings of run_id in the order they were taken. *out (*n
 * entries, possibly 0) is the caller's to free. */
int calib_db_clocks(calib_db *db, int64_t run_id, calib_clock_sample **out, size_t *n, kt_err *err);

/* A correctness check of a benchmark kernel against a host reference. */
int calib_db_add_check(calib_db *db, int64_t run_id, const char *bench, const char *case_name,
                       double max_abs_err, double tolerance, int passed, kt_err *err);

/* One point of the composite validation: measured decoder-step time against
 * the simulator's prediction from the profile named profile. */
int calib_db_add_validation(calib_db *db, int64_t run_id, const char *profile, int batch,
                            int64_t context_tokens, double measured_ns, double measured_iqr_ns,
                            double predicted_ns, kt_err *err);

/* A figure derived from run_id (value in the profile's base unit). Replaces
 * an earlier record of the same key for the run. */
int calib_db_add_figure(calib_db *db, int64_t run_id, const char *key, double value,
                        double residual, int64_t samples, const char *source, kt_err *err);

/* Deletes run_id's derived figures and efficiency points (before storing new ones). */
int calib_db_clear_derived(calib_db *db, int64_t run_id, kt_err *err);

/* One efficiency-table point: table tab ("gemm"), curve label, x, eff. */
int calib_db_add_efficiency(calib_db *db, int64_t run_id, const char *tab, const char *label,
                            double x, double eff, kt_err *err);

#endif
