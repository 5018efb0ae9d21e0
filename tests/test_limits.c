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

/* ---------- figures out of all proportion ---------- */

/* The text of the file at path (malloc'd). */
static char *slurp_path(const char *path)
{
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The text of dir/name, and of source-tree file rel (malloc'd). */
static char *slurp_dir(const char *name) { return slurp_path(in_dir(name)); }
static char *slurp_src(const char *rel) { return slurp_path(tu_path(rel)); }

/* Copies source-tree file rel to dir/to with the first `from` replaced by
 * `with`; *line and *col give where `from` began (1-based). */
static void write_mutant(const char *rel, const char *to, const char *from, const char *with, int *line, int *col)
{
    char *text = slurp_src(rel), *at = strstr(text, from);
    CU_ASSERT_FATAL(at != NULL);
    *line = 1;
    const char *bol = text;
    for (const char *p = text; p < at; p++)
        if (*p == '\n') {
            (*line)++;
            bol = p + 1;
        }
    *col = (int)(at - bol) + 1;
    size_t n = strlen(text) + strlen(with) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, with, at + strlen(from));
    tu_write_text(in_dir(to), out);
    free(out);
    free(text);
}

/* The quickstart scenario in dir/s, its hardware the profile
 * dir/hwprofiles/h100-sxm.yaml (a mutant written by the test), its model
 * found in dir/models (the tree's). Made once. */
static const char *mutant_scenario(void)
{
    static char path[4200];
    if (path[0])
        return path;
    char models[PATH_MAX];
    CU_ASSERT_FATAL(realpath(tu_path("models"), models) != NULL);
    CU_ASSERT_FATAL(mkdir(in_dir("s"), 0700) == 0 && mkdir(in_dir("hwprofiles"), 0700) == 0);
    CU_ASSERT_FATAL(symlink(models, in_dir("models")) == 0);
    /* The profile by its path: KVTIER_DATA (set by make check) would find the tree's first. */
    char *q = slurp_src("scenarios/quickstart.yaml"), *hw = strstr(q, "hardware: h100-sxm");
    CU_ASSERT_FATAL(hw != NULL);
    size_t n = strlen(q) + 4200;
    char *text = malloc(n);
    snprintf(text, n, "%.*shardware: %s%s", (int)(hw - q), q, in_dir("hwprofiles/h100-sxm.yaml"),
             hw + strlen("hardware: h100-sxm"));
    tu_write_text(in_dir("s/quickstart.yaml"), text);
    free(text);
    free(q);
    snprintf(path, sizeof path, "%s", in_dir("s/quickstart.yaml"));
    return path;
}

/* h100-sxm with `from` (a figure's value as written) replaced by `with`:
 * exit 2 and an error at the value naming the figure and its bounds. */
static void assert_figure_refused(const char *from, const char *with, const char *says)
{
    const char *scen = mutant_scenario();
    int line, col;
    write_mutant("hwprofiles/h100-sxm.yaml", "hwprofiles/h100-sxm.yaml", from, with, &line, &col);
    char want[1024];
    /* The error stands at the value, past "value: ". */
    snprintf(want, sizeof want, "%s:%d:%d: %s\n", in_dir("hwprofiles/h100-sxm.yaml"), line,
             col + (int)strlen("value: "), says);
    char *args[] = { "run", (char *)scen, "--no-db", "--set", "workload.sessions=2", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    /* The profile is found through the scenario's directory: compare from the file's name on. */
    const char *tail = strstr(want, "hwprofiles/h100-sxm.yaml:");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, tail));
    if (!strstr(r.err, tail))
        fprintf(stderr, "\n  rc %d got:  %s  want: %s", r.rc, r.err, tail);
    tu_output_free(&r);
}

/* The figures: a bandwidth of a few bytes a second, a GPU drawing
 * 1e300 W, two billion kernels a layer, a 1 FLOP/s GPU, an efficiency of
 * 1e-300. Each is outside its row of the bounds table. */
static void test_profile_bounds(void)
{
    assert_figure_refused("value: 3.35TB/s", "value: 5B/s",
                          "figures.hbm_bandwidth.value: 5 is outside the physical bounds of hbm_bandwidth,"
                          " [1e+09, 1e+15] (README, \"Bounds of every figure\")");
    assert_figure_refused("value: 700W", "value: 1e300W",
                          "figures.power.value: 1e+300 is outside the physical bounds of power, [1, 1e+06]"
                          " (README, \"Bounds of every figure\")");
    assert_figure_refused("value: 10\n", "value: 2000000000\n",
                          "figures.kernels_per_layer.value: 2e+09 is outside the physical bounds of"
                          " kernels_per_layer, [1, 10000] (README, \"Bounds of every figure\")");
    assert_figure_refused("value: 66.9TFLOP/s", "value: 1FLOP/s",
                          "figures.peak_flops.fp32.value: 1 is outside the physical bounds of peak_flops.fp32,"
                          " [1e+09, 1e+19] (README, \"Bounds of every figure\")");
    assert_figure_refused("value: 0.8\n", "value: 1e-300\n",
                          "figures.efficiency.nvlink.value: 1e-300 is outside the physical bounds of"
                          " efficiency.nvlink, [0.001, 1] (README, \"Bounds of every figure\")");
}

/* Figures each inside its bounds that together make an absurd step: bf16
 * at the lowest peak (1 GFLOP/s). An 8,192-token chunk of Llama-3.1-8B at
 * the end of its 131,072 context is 2 × 8.03e9 × 8,192 = 1.315e14 FLOPs of
 * weights plus 4 × 32 layers × 32 heads × 128 × 8,192 × (122,880 + 4,096)
 * = 5.454e14 of attention: 6.769e14 FLOPs, at least 6.769e5 s even at full
 * efficiency, far past the hour. */
static void test_step_time(void)
{
    const char *scen = mutant_scenario();
    int line, col;
    char *text = slurp_src("hwprofiles/h100-sxm.yaml");
    /* bf16's peak is the second peak_flops value in the file. */
    char *bf16 = strstr(text, "bf16:");
    CU_ASSERT_FATAL(bf16 != NULL);
    char *v = strstr(bf16, "value: "), *end = strchr(v, '\n');
    char from[128];
    snprintf(from, sizeof from, "%.*s", (int)(end - v), v);
    free(text);
    write_mutant("hwprofiles/h100-sxm.yaml", "h100-step.yaml", from, "value: 1GFLOP/s", &line, &col);
    char *mid = slurp_dir("h100-step.yaml");
    tu_write_text(in_dir("hwprofiles/h100-sxm.yaml"), mid);
    free(mid);
    char *args[] = { "run", (char *)scen, "--no-db", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "s/quickstart.yaml:6:11: hardware: one step of llama-3.1-8b on 1 x h100-sxm"
                                         " (a 8192-token prefill chunk at a 131072-token context) would take"));
    const char *took = strstr(r.err, "would take ");
    CU_ASSERT(took && strtod(took + strlen("would take "), NULL) >= 6.769e5);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "s, more than the limit of 3600 s"));
    tu_output_free(&r);
}

/* A DRAM tier at 1 MB/s (inside the tier's own bounds): one 131,072-token
 * context of Llama-3.1-8B is 131,072 × 131,072 B = 1.718e10 B, 17,180 s
 * at 1 MB/s (PCIe adds 0.27 s): past the hour, at the tier. */
static void test_tier_transfer(void)
{
    char *args[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                     "tiers=[{name: dram, kind: dram, capacity: 96GiB, read: 1MB/s, write: 1MB/s, latency: 1us}]",
                     "--set", "links={pcie_setup: 10us}", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "--set:1:2: tiers[0]: tiers: tier dram: moving one 131072-token context's KV would take"
                                         " 1.718e+04 s, more than the limit of 3600 s"));
    tu_output_free(&r);
}

/* Numbers near 2^63 and a tensor-parallel degree of 2^31: located errors. */
static void test_huge_integers(void)
{
    char *tokens[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                       "workload.input_tokens=9223372036854775807", NULL };
    assert_refused(tokens, "--set:1:23: workload.input_tokens: 9223372036854775808 is out of range [0,"
                           " 1000000000000]\n");
    char *start[] = { "run", (char *)tu_path("scenarios/azure.yaml"), "--no-db", "--set",
                      "workload.trace.start=9223372036854775807ns", NULL };
    assert_refused(start, "--set:1:22: workload.trace.start: 9.2233720368547758e+18 does not fit in a 64-bit"
                          " integer\n");
    char *tp[] = { "run", (char *)tu_path("scenarios/quickstart.yaml"), "--no-db", "--set",
                   "replicas.tensor_parallel=2147483648", NULL };
    assert_refused(tp, "--set:1:26: replicas.tensor_parallel: 2147483648 is out of range [1, 1024]\n");
    char *kv[] = { "kv", "llama-3.1-8b", "--tp", "2147483647", NULL };
    tu_output r = kvtier(kv);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_STRING_EQUAL(r.err, "kvtier kv: --tp '2147483647': need a whole number in [1, 1024]\n");
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
        { "the issue's profile figures are outside their bounds", test_profile_bounds },
        { "figures inside their bounds that make an hour-long step", test_step_time },
        { "a tier that takes hours to move one context", test_tier_transfer },
        { "integers near 2^63 and tp 2^31", test_huge_integers },
        { NULL, NULL },
    };
    int rc = tu_run("limits", tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
