/* test_limits.c — runs that could never end or outgrow memory: workload horizons and request counts beyond the limits, a plan bracket too low, the time series' sample cap, and --max-wall on run, sweep and plan. */
#include <limits.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"

/* A run whose whole simulation would take minutes: --max-wall must end it long before. */
#define LONG_SCENARIO "scenarios/fleet-10k.yaml"
/* More than loading plus the limit, far less than the run: the limit held. */
#define MAX_WALL_SLACK_S 20

static char dir[] = "/tmp/kvtier_limits_XXXXXX";

static const char *in_dir(const char *name) { return tu_path_in(dir, name); }

/* `kvtier ARGS...` (NULL-terminated, at most 14 after the program). */
static tu_output kvtier(char **args)
{
    char *argv[16] = { (char *)tu_build_path("sim/kvtier") };
    int n = 1;
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return tu_exec(argv);
}

static double wall_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* One integer from a query on the database at path; -1 when it cannot be read. */
static long long query(const char *path, const char *sql)
{
    sqlite3 *db;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Exit 2 and stderr exactly want. */
static void assert_refused(char **args, const char *want)
{
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    if (strcmp(r.err, want) != 0)
        fprintf(stderr, "\n  got:  %s  want: %s", r.err, want);
    tu_output_free(&r);
}

/* 10 sessions at 1e-9/s arrive over 1e10 s = 115,740.7 days, far past the
 * 365-day limit; the error names the --set that made the rate. */
static void test_horizon_by_arrivals(void)
{
    char *args[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set", "workload.sessions=10",
                     "--set", "workload.arrival.rate=1e-9/s", NULL };
    assert_refused(args, "--set:1:23: workload.arrival.rate: the workload implies 1.157e+05 days of simulated time"
                         " (10 sessions arriving at 1e-09/s over 1.157e+05 days, then 4 turns of 20 s think time),"
                         " more than the limit of 365 days\n");
}

/* 4 turns (the quickstart's geometric mean) of 1e8 s think time: 4.63e3
 * days after 400 sessions arrive at 2/s over 200 s (0.002315 days). */
static void test_horizon_by_think_time(void)
{
    char *args[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                     "workload.think_time=100000000s", NULL };
    assert_refused(args, "--set:1:21: workload.think_time: the workload implies 4630 days of simulated time (400"
                         " sessions arriving at 2/s over 0.002315 days, then 4 turns of 1e+08 s think time), more"
                         " than the limit of 365 days\n");
}

/* Just inside and just outside the limit of 365 days, 31,536,000 s: 400
 * sessions at 1.26842e-5/s arrive over 31,535,296 s, and 4 turns of 20 s
 * think time add 80 s: 31,535,376 s, inside; at 1.26839e-5/s they arrive
 * over 31,536,042 s, outside. (The accepted one is only loaded:
 * --set of an unknown key after it stops the run before it simulates.) */
static void test_horizon_edge(void)
{
    char *inside[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                       "workload.arrival.rate=0.0000126842/s", "--set", "no_such_key=1", NULL };
    tu_output r = kvtier(inside);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no_such_key: unknown key"));
    tu_output_free(&r);
    char *outside[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                        "workload.arrival.rate=0.0000126839/s", NULL };
    r = kvtier(outside);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "more than the limit of 365 days"));
    tu_output_free(&r);
}

/* 10^8 sessions of 4 turns each: 4e8 requests, four times the limit. */
static void test_request_count(void)
{
    char *args[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                     "workload.sessions=100000000", "--set", "workload.arrival.rate=1000/s", NULL };
    char want[512];
    snprintf(want, sizeof want, "%s:30:10: workload.turns: the workload implies 4e+08 requests (100000000 sessions"
                                " of 4 turns), more than the limit of 100000000\n",
             tu_path("scenarios/quickstart.yaml"));
    assert_refused(args, want);
}

/* tests/data/plan.yaml's bracket moved down to 1e-9 sessions/s: the probe
 * that finds the requests per session runs the scenario's 300 sessions,
 * but the planner asks for min_requests = 2,000 scored requests, which at 3
 * turns a session and half the run kept (MSER may cut half) is
 * ceil(2000 / 1.5) = 1,334 sessions: 1.334e12 s = 1.544e7 days. */
static void test_plan_bracket(void)
{
    FILE *in = fopen(tu_path("tests/data/plan.yaml"), "r");
    CU_ASSERT_FATAL(in != NULL);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    /* The scenario by its absolute path; search.low stays at line 6, column 15. */
    char *scen = strstr(text, "scenario: e2e.yaml"), *low = strstr(text, "low: 0.5,");
    CU_ASSERT_FATAL(scen != NULL && low != NULL && scen < low);
    char e2e[PATH_MAX], plan[8192];
    CU_ASSERT_FATAL(realpath(tu_path("tests/data/e2e.yaml"), e2e) != NULL);
    snprintf(plan, sizeof plan, "%.*sscenario: %s%.*slow: 1e-9,%s", (int)(scen - text), text, e2e,
             (int)(low - scen - strlen("scenario: e2e.yaml")), scen + strlen("scenario: e2e.yaml"), low + strlen("low: 0.5,"));
    tu_write_text(in_dir("plan.yaml"), plan);
    char *args[] = { "plan", (char *)in_dir("plan.yaml"), "--no-db", "--quiet", NULL };
    char want[4400];
    snprintf(want, sizeof want, "%s:6:15: search.low: at 1e-09 sessions/s a probe of candidate 'one-gpu' (1334"
                                " sessions) would simulate 1.544e+07 days, more than the limit of 365 days\n",
             in_dir("plan.yaml"));
    assert_refused(args, want);
}

/* The time series at a 1 ms interval over the quickstart's ~676 s: 100,000
 * samples 1 ms apart (to 100 s), 100,000 2 ms apart (to 300 s), then 4 ms
 * apart to the end: 200,000 + (end - 300 s) / 4 ms in all, not ~676,000. */
static void test_sample_cap(void)
{
    const char *db = in_dir("samples.db");
    char *args[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--db", (char *)db, "--set",
                     "results.sample_interval=1ms", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    tu_output_free(&r);
    long long end_ns = query(db, "SELECT sim_end_ns FROM runs");
    CU_ASSERT_FATAL(end_ns > 300000000000LL);
    CU_ASSERT_EQUAL(query(db, "SELECT t_ns FROM replica_samples ORDER BY t_ns LIMIT 1 OFFSET 99999"),
                    100000000000LL);
    CU_ASSERT_EQUAL(query(db, "SELECT t_ns FROM replica_samples ORDER BY t_ns LIMIT 1 OFFSET 100000"),
                    100002000000LL);
    CU_ASSERT_EQUAL(query(db, "SELECT t_ns FROM replica_samples ORDER BY t_ns LIMIT 1 OFFSET 199999"),
                    300000000000LL);
    CU_ASSERT_EQUAL(query(db, "SELECT t_ns FROM replica_samples ORDER BY t_ns LIMIT 1 OFFSET 200000"),
                    300004000000LL);
    long long after = (end_ns - 300000000000LL) / 4000000LL;
    CU_ASSERT_EQUAL(query(db, "SELECT count(*) FROM replica_samples"), 200000 + after);
}

/* --max-wall on a run that would take minutes: exit 1 soon after the
 * limit, one line, nothing in the database. */
static void test_max_wall_run(void)
{
    const char *db = in_dir("wall-run.db");
    char *args[] = { "run", (char *)tu_path(LONG_SCENARIO), "--db", (char *)db, "--max-wall", "1s", NULL };
    double t0 = wall_now_s();
    tu_output r = kvtier(args);
    double took = wall_now_s() - t0;
    CU_ASSERT_EQUAL(r.rc, 1);
    CU_ASSERT(took >= 1 && took < 1 + MAX_WALL_SLACK_S);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "kvtier run: stopped at the wall-clock limit (--max-wall) at t="));
    char tail[4200];
    snprintf(tail, sizeof tail, " s of simulated time; nothing was written to %s\n", db);
    size_t ne = strlen(r.err), nt = strlen(tail);
    CU_ASSERT(ne >= nt && strcmp(r.err + ne - nt, tail) == 0);
    CU_ASSERT_EQUAL(query(db, "SELECT count(*) FROM runs"), 0);
    tu_output_free(&r);
    char *bad[] = { "run", (char *)tu_path(LONG_SCENARIO), "--no-db", "--max-wall", "5", NULL };
    r = kvtier(bad);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "kvtier run: --max-wall: '5': missing unit"));
    tu_output_free(&r);
}

/* --max-wall on a sweep whose first point alone outlasts it: no point stored. */
static void test_max_wall_sweep(void)
{
    const char *db = in_dir("wall-sweep.db");
    char *args[] = { "sweep", (char *)tu_path("tests/data/sweep.yaml"), "--db", (char *)db, "--quiet", "--set",
                     "workload.sessions=200000", "--jobs", "2", "--max-wall", "1s", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 1);
    char want[4400];
    snprintf(want, sizeof want, "kvtier sweep: stopped at the wall-clock limit (--max-wall); 0 of 6 points are"
                                " stored in %s, none in part (run the sweep again to resume)\n", db);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    CU_ASSERT_EQUAL(query(db, "SELECT count(*) FROM runs"), 0);
    tu_output_free(&r);
}

/* --max-wall on a plan (its search takes seconds): exit 1, nothing written. */
static void test_max_wall_plan(void)
{
    const char *db = in_dir("wall-plan.db");
    char *args[] = { "plan", (char *)tu_path("tests/data/plan.yaml"), "--db", (char *)db, "--quiet", "--max-wall",
                     "200ms", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "kvtier plan: stopped at the wall-clock limit (--max-wall) at t="));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "; nothing was written to "));
    CU_ASSERT_STRING_EQUAL(r.out, "");
    CU_ASSERT_EQUAL(query(db, "SELECT count(*) FROM plans"), 0);
    tu_output_free(&r);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    static const tu_test tests[] = {
        { "a horizon past a year by the arrival rate", test_horizon_by_arrivals },
        { "a horizon past a year by the think time", test_horizon_by_think_time },
        { "the horizon limit, just inside and just outside", test_horizon_edge },
        { "more requests than the limit", test_request_count },
        { "a plan bracket whose low end would run for ages", test_plan_bracket },
        { "the time series' interval doubles every 100,000 samples", test_sample_cap },
        { "--max-wall ends a run", test_max_wall_run },
        { "--max-wall ends a sweep", test_max_wall_sweep },
        { "--max-wall ends a plan", test_max_wall_plan },
        { NULL, NULL },
    };
    int rc = tu_run("limits", tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
