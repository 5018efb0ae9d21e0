/* test_killsafe.c — `kvtier run` SIGKILLed at random moments, writing included: the results database stays readable, earlier runs keep every row, and a run is either all there or absent. */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <gsl/gsl_rng.h>

#include "testutil.h"

#define KILLS 12
#define SESSIONS_SET "workload.sessions=600"

/* Starts kvtier run into db; returns the child's pid. */
static pid_t start_run(const char *db, int will_be_killed)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (will_be_killed)
            tu_child_will_be_killed();
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(tu_build_path("sim/kvtier"), "kvtier", "run", tu_path("tests/data/e2e.yaml"), "--db", db, "--set",
              SESSIONS_SET, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int run_to_end(const char *db)
{
    int status;
    pid_t pid = start_run(db, 0);
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One integer from a query over db. */
static long long query_i64(sqlite3 *q, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(q, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A fingerprint of every stored row of the runs' data, run by run. */
static const char *const fingerprint_sql =
    "SELECT (SELECT count(*) FROM requests WHERE run_id <= %d) * 1000003 +"
    " (SELECT coalesce(sum(ttft_ns %% 1000003 + e2e_ns %% 999983 + output_tokens), 0) FROM requests WHERE run_id <= %d) +"
    " (SELECT count(*) FROM summary WHERE run_id <= %d) * 7919 +"
    " (SELECT count(*) FROM replica_samples WHERE run_id <= %d)";

static long long fingerprint(sqlite3 *q, int upto_run)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fingerprint_sql, upto_run, upto_run, upto_run, upto_run);
    return query_i64(q, sql);
}

static void test_kill_during_runs(void)
{
    if (access(tu_build_path("sim/kvtier"), X_OK) != 0) {
        tu_skip("sim/kvtier is not built");
        return;
    }
    char db[] = "/tmp/kvtier_kill_XXXXXX";
    int fd = mkstemp(db);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    unlink(db);
    CU_ASSERT_EQUAL_FATAL(run_to_end(db), 0);
    /* Kills land uniformly over 1.25 × the time a whole run takes here
     * (simulating, then writing about 2.4 MB): most hit the simulation or the
     * write, a few come after the commit. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL_FATAL(run_to_end(db), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    unsigned long window_us = (unsigned long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
    sqlite3 *q;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &q), SQLITE_OK);
    long long requests_per_run = query_i64(q, "SELECT count(*) FROM requests WHERE run_id = 1");
    CU_ASSERT(requests_per_run > 0);
    CU_ASSERT_EQUAL(query_i64(q, "SELECT count(*) FROM requests WHERE run_id = 2"), requests_per_run);
    long long before = fingerprint(q, 2);
    sqlite3_close(q);

    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 9);
    int committed = 0;
    for (int k = 0; k < KILLS; k++) {
        pid_t pid = start_run(db, 1);
        CU_ASSERT_FATAL(pid > 0);
        usleep((useconds_t)gsl_rng_uniform_int(rng, window_us * 5 / 4));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        committed += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        /* Readable, intact, the first two runs untouched, and every stored
         * run whole: as many request rows as a full run. */
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &q), SQLITE_OK);
        sqlite3_stmt *st;
        CU_ASSERT_EQUAL(sqlite3_prepare_v2(q, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
        CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        CU_ASSERT_EQUAL(fingerprint(q, 2), before);
        CU_ASSERT_EQUAL(query_i64(q, "SELECT count(*) FROM (SELECT run_id, count(*) AS n FROM requests"
                                     " GROUP BY run_id) WHERE n != (SELECT count(*) FROM requests WHERE run_id = 1)"),
                        0);
        CU_ASSERT_EQUAL(query_i64(q, "SELECT count(*) FROM runs WHERE id NOT IN (SELECT run_id FROM summary)"), 0);
        sqlite3_close(q);
    }
    fprintf(stderr, "\n  %d kills, %d runs had committed before their kill", KILLS, committed);
    /* The database still takes a run after all that. */
    CU_ASSERT_EQUAL(run_to_end(db), 0);
    gsl_rng_free(rng);
    char side[64];
    unlink(db);
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
}

int main(void)
{
    static const tu_test tests[] = {
        { "kvtier run SIGKILLed at random moments", test_kill_during_runs },
        { NULL, NULL },
    };
    return tu_run("killsafe", tests);
}
