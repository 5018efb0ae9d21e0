/* test_plot.c — `kvtier plot`: CDF points, cost against load, savings and the Pareto front worked out by hand; per-tier samples against capacities; a sweep figure's rows against its database; figures drawn end to end; bad input. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan.h"
#include "plot.h"
#include "scenario.h"
#include "sim.h"
#include "store.h"
#include "testutil.h"

#define EPS 1e-9

/* ---------- data reductions by hand ---------- */

/* Sorted: 1 2 3 3 5. Every rank kept, the tie at 3 as one step to 4/5. */
static void test_cdf_points_every_rank(void)
{
    double v[] = { 5, 1, 3, 3, 2 };
    plot_xy p[5];
    size_t n = plot_cdf_points(v, 5, 100, p);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    double x[] = { 1, 2, 3, 5 }, y[] = { 0.2, 0.4, 0.8, 1.0 };
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_DOUBLE_EQUAL(p[i].x, x[i], EPS);
        CU_ASSERT_DOUBLE_EQUAL(p[i].y, y[i], EPS);
    }
}

/* 1..9 in 3 points: ranks ceil(9/3) = 3, 6, 9. Two points of 1 2 3 3 5:
 * rank ceil(5/2) = 3 holds 3, whose step ends at rank 4; then rank 5. */
static void test_cdf_points_thinned(void)
{
    double v[] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    plot_xy p[3];
    CU_ASSERT_EQUAL_FATAL(plot_cdf_points(v, 9, 3, p), 3);
    CU_ASSERT_DOUBLE_EQUAL(p[0].x, 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[0].y, 1.0 / 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[1].x, 6, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[1].y, 2.0 / 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[2].x, 9, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[2].y, 1, EPS);
    double w[] = { 5, 1, 3, 3, 2 };
    CU_ASSERT_EQUAL_FATAL(plot_cdf_points(w, 5, 2, p), 2);
    CU_ASSERT_DOUBLE_EQUAL(p[0].x, 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[0].y, 0.8, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[1].x, 5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(p[1].y, 1, EPS);
    CU_ASSERT_EQUAL(plot_cdf_points(w, 0, 2, p), 0);
}

/* The plan of the end-to-end fixture below: 10 req/s, SLO p99 TTFT 1 s. */
static plot_candidate cand(int number, const char *name, int gpus_per_replica, double max_rps, double usd_gpu,
                           double usd_tier, int feasible, int64_t gpus, double usd_year, double ttft_ms)
{
    plot_candidate c = { .candidate = number, .gpus_per_replica = gpus_per_replica, .max_rps_per_replica = max_rps,
                         .usd_per_gpu_year = usd_gpu, .tier_usd_per_replica_year = usd_tier, .feasible = feasible,
                         .has_gpus = feasible, .gpus = gpus, .usd_per_year = usd_year, .has_ttft = feasible,
                         .ttft_p99_ms = ttft_ms };
    snprintf(c.name, sizeof c.name, "%s", name);
    return c;
}

/* 1 GPU a replica, 2.5 req/s a replica, $10,000 a GPU-year, $3,000 of tiers a replica-year. */
static void test_cost_at_load(void)
{
    plot_candidate c = cand(0, "c", 1, 2.5, 10000, 3000, 1, 4, 0, 0);
    plot_cost pc;
    CU_ASSERT_EQUAL(plot_cost_at(&c, 0, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 0);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 0, EPS);
    CU_ASSERT_EQUAL(plot_cost_at(&c, 2.5, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 1);
    CU_ASSERT_EQUAL(pc.gpus, 1);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 13000, EPS);
    CU_ASSERT_EQUAL(plot_cost_at(&c, 2.6, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 2);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 26000, EPS);
    CU_ASSERT_EQUAL(plot_cost_at(&c, 10.01, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 5);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 65000, EPS);
    /* 8 GPUs a replica, 3 req/s: 100 req/s takes ceil(33.3) = 34 replicas, 272 GPUs,
     * 34 × (8 × $10,500 + $6,000) = $3,060,000. */
    plot_candidate big = cand(1, "big", 8, 3, 10500, 6000, 1, 0, 0, 0);
    CU_ASSERT_EQUAL(plot_cost_at(&big, 100, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 34);
    CU_ASSERT_EQUAL(pc.gpus, 272);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 3060000, EPS);
    /* 1.1 req/s at 0.1 req/s a replica is 11 replicas, whatever the rounding of 1.1 / 0.1. */
    plot_candidate slow = cand(3, "slow", 1, 0.1, 10000, 0, 1, 0, 0, 0);
    CU_ASSERT_EQUAL(plot_cost_at(&slow, 1.1, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 11);
    CU_ASSERT_EQUAL(plot_cost_at(&slow, 1.1001, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 12);
    plot_candidate none = cand(2, "none", 1, 0, 10000, 0, 0, 0, 0, 0);
    CU_ASSERT_EQUAL(plot_cost_at(&none, 1, &pc), -1);
    CU_ASSERT_EQUAL(plot_cost_at(&none, 0, &pc), 0);
}

/* Baseline 4 GPUs, $40,000; "dram" 3 GPUs, $36,000; "two" 4 GPUs, $42,000; one infeasible. */
static void fixture_candidates(plot_candidate *c)
{
    c[0] = cand(0, "baseline", 1, 2.5, 10000, 0, 1, 4, 40000, 900);
    c[1] = cand(1, "dram", 1, 4, 10000, 2000, 1, 3, 36000, 700);
    c[2] = cand(2, "infeasible", 1, 0, 10000, 0, 0, 0, 0, 0);
    c[3] = cand(3, "two", 2, 6, 10000, 1000, 1, 4, 42000, 400);
}

static void test_savings(void)
{
    plot_candidate c[4];
    fixture_candidates(c);
    plot_saving s[4];
    CU_ASSERT_EQUAL_FATAL(plot_savings(c, 4, 0, s), 2);
    CU_ASSERT_EQUAL(s[0].index, 1);
    CU_ASSERT_EQUAL(s[0].gpus_saved, 1);
    CU_ASSERT_DOUBLE_EQUAL(s[0].usd_per_year_saved, 4000, EPS);
    CU_ASSERT_EQUAL(s[1].index, 3);
    CU_ASSERT_EQUAL(s[1].gpus_saved, 0);
    CU_ASSERT_DOUBLE_EQUAL(s[1].usd_per_year_saved, -2000, EPS);
    /* Against "dram": the baseline needs 1 GPU and $4,000 more. */
    CU_ASSERT_EQUAL_FATAL(plot_savings(c, 4, 1, s), 2);
    CU_ASSERT_EQUAL(s[0].index, 0);
    CU_ASSERT_EQUAL(s[0].gpus_saved, -1);
    CU_ASSERT_EQUAL(plot_savings(c, 4, 2, s), -1); /* infeasible baseline */
    CU_ASSERT_EQUAL(plot_savings(c, 4, 9, s), -1); /* no such candidate */
}

/* Minimize both: A(900, 40k) is dominated by B(700, 36k); C(400, 42k) has
 * the lowest TTFT; D equals B (neither dominates the other); E(400, 50k)
 * ties C's TTFT at a higher cost; F(1000, 36k) ties B's cost, later. */
static void test_pareto_front(void)
{
    plot_xy p[] = { { 900, 40000 }, { 700, 36000 }, { 400, 42000 }, { 700, 36000 }, { 400, 50000 }, { 1000, 36000 } };
    int on[6];
    CU_ASSERT_EQUAL(plot_pareto_front(p, 6, on), 3);
    int want[] = { 0, 1, 1, 1, 0, 0 };
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(on[i], want[i]);
    CU_ASSERT_EQUAL(plot_pareto_front(p, 1, on), 1);
    CU_ASSERT_EQUAL(on[0], 1);
}

/* ---------- runs stored into a temporary database ---------- */

/* A fresh directory for one test's database and figures, in buf. */
static const char *temp_dir(char *buf, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/kvtier-plot-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(buf);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Simulates tests/data/tiers.yaml with the overrides and stores it in db_path. */
static int store_run(const char *db_path, char **sets, int n_sets)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path("tests/data/tiers.yaml"), sets, n_sets, &err);
    store *db = sc ? store_open(db_path, &err) : NULL;
    metrics *m = NULL;
    sim_opts o = { 0 };
    sim_stats st;
    int rc = db && sim_run(sc, &o, &m, &st, &err) == 0 ? 0 : -1;
    if (rc == 0) {
        metrics_summary s;
        CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, NULL), 0);
        rc = store_write_run(db, sc, m, &s, &st, &err) > 0 ? 0 : -1;
    }
    if (rc < 0)
        kt_err_print(&err, stderr);
    metrics_free(m);
    store_close(db);
    scenario_free(sc);
    return rc;
}

static long long query_ll(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

/* One HBM pool (level -1) and two lower tiers (tiers.yaml; levels 0 and 1,
 * as the tiers table numbers them) per sample: three rows a sample time,
 * none above its tier's capacity, and DRAM takes what HBM cannot hold. */
static void test_tier_samples_within_capacity(void)
{
    char dir[256], path[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    CU_ASSERT_EQUAL_FATAL(store_run(path, NULL, 0), 0);
    sqlite3 *q;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &q), SQLITE_OK);
    long long samples = query_ll(q, "SELECT count(*) FROM replica_samples WHERE run_id = 1");
    CU_ASSERT(samples > 10);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE run_id = 1"), 3 * samples);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE run_id = 1 AND level = -1"), samples);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples s JOIN tiers t ON t.run_id = s.run_id"
                                " AND t.replica = s.replica AND t.level = s.level WHERE s.run_id = 1"),
                    2 * samples);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples s JOIN tiers t ON t.run_id = s.run_id"
                                " AND t.replica = s.replica AND t.level = s.level"
                                " WHERE s.used_blocks > t.capacity_blocks"), 0);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = -1 AND used_blocks >"
                                " (SELECT value FROM summary WHERE run_id = 1 AND metric = 'kv_blocks_per_replica')"),
                    0);
    /* hbm_fraction 0.25: ~1,880 blocks of HBM, and sessions overflow it. */
    long long hbm = query_ll(q, "SELECT value FROM summary WHERE run_id = 1 AND metric = 'kv_blocks_per_replica'");
    CU_ASSERT(hbm > 1800 && hbm < 1960);
    CU_ASSERT(query_ll(q, "SELECT max(used_blocks) FROM tier_samples WHERE level = 0") > 0);
    /* Sample times are the replica samples' times. */
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples s LEFT JOIN replica_samples r"
                                " USING (run_id, replica, t_ns) WHERE r.running IS NULL"), 0);
    sqlite3_close(q);
    remove_dir(dir);
}

/* A fleet-shared pool (lower tier 1) is one pool: sampled once per time, as replica -1. */
static void test_shared_tier_sampled_once(void)
{
    char dir[256], path[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/s.db", dir);
    char *sets[] = { "replicas.count=2", "replicas.router=round_robin",
                     "tiers=[{name: dram, kind: dram, capacity: 8GiB, read: 100GB/s, write: 100GB/s, latency: 1us},"
                     " {name: pool, kind: remote, shared: true, capacity: 1TB, read: 50GB/s, write: 50GB/s,"
                     " latency: 10us}]",
                     "links={pcie_setup: 10us, nic: 400Gb/s, nic_setup: 20us}" };
    CU_ASSERT_EQUAL_FATAL(store_run(path, sets, 4), 0);
    sqlite3 *q;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &q), SQLITE_OK);
    long long times = query_ll(q, "SELECT count(DISTINCT t_ns) FROM replica_samples");
    CU_ASSERT(times > 10);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = 1"), times);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = 1 AND replica = -1"), times);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = 0"), 2 * times);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples s WHERE level = 1 AND used_blocks >"
                                " (SELECT min(capacity_blocks) FROM tiers WHERE level = 1)"), 0);
    CU_ASSERT(query_ll(q, "SELECT max(used_blocks) FROM tier_samples WHERE level = 1") > 0);
    sqlite3_close(q);
    remove_dir(dir);
}

/* ---------- figures end to end ---------- */

static int call_plot(int argc, char **argv, void *ud)
{
    (void)ud;
    return plot_main(argc, argv);
}

/* The plan of fixture_candidates, inserted as rows. */
static const char *const plan_sql =
    "INSERT INTO plans VALUES (1, '2026-01-01T00:00:00Z', 'fixture', 'plan.yaml', 'x: 1', 10, 1000, 50, 0, 1);"
    "INSERT INTO plan_candidates (plan_id, candidate, name, hardware, gpus_per_replica, max_rps_per_replica,"
    " usd_per_gpu_year, tier_usd_per_replica_year, replicas, gpus, usd_per_year, usd_capex, usd_per_m_tokens,"
    " ttft_p99_ms, itl_p99_ms, feasible, rank) VALUES"
    " (1, 0, 'baseline', 'h100-sxm', 1, 2.5, 10000, 0, 4, 4, 40000, 148000, 1.0, 900, 20, 1, 2),"
    " (1, 1, 'dram', 'h100-sxm', 1, 4, 10000, 2000, 3, 3, 36000, 111000, 0.9, 700, 20, 1, 1),"
    " (1, 2, 'infeasible', 'h100-sxm', 1, 0, 10000, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL),"
    " (1, 3, 'two', 'h100-sxm', 2, 6, 10000, 1000, 2, 4, 42000, 148000, 1.1, 400, 15, 1, 3);";

static int exec_sql(const char *db_path, const char *sql)
{
    sqlite3 *q;
    int rc = sqlite3_open(db_path, &q) == SQLITE_OK && sqlite3_exec(q, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(q);
    return rc;
}

/* A file's first n bytes are sig. */
static int starts_with(const char *path, const unsigned char *sig, size_t n)
{
    unsigned char buf[16] = { 0 };
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n, f) : 0;
    if (f)
        fclose(f);
    return got == n && memcmp(buf, sig, n) == 0;
}

/* A file holds text. */
static int contains(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    int found = buf && fread(buf, 1, (size_t)n, f) == (size_t)n && strstr(buf, text) != NULL;
    free(buf);
    fclose(f);
    return found;
}

static int gnuplot_missing(void)
{
    if (plot_program_found(plot_gnuplot_program()))
        return 0;
    tu_skip("gnuplot not found (apt-get install gnuplot-nox)");
    return 1;
}

/* Every kind in PNG and SVG: the PNG signature, and the title and axis labels in the SVG. */
static void test_figures_end_to_end(void)
{
    if (gnuplot_missing())
        return;
    char dir[256], db[512], out[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/e.db", dir);
    snprintf(out, sizeof out, "%s/figs", dir);
    char *sets[] = { "results.itl_gaps=true" };
    CU_ASSERT_EQUAL_FATAL(store_run(db, sets, 1), 0);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, plan_sql), 0);
    /* Two probes of the baseline, one within the SLOs (the chosen point) and one past them. */
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, "INSERT INTO plan_probes VALUES (1, 0, 0, 2.5, 800, 18, 1),"
                                       " (1, 0, 1, 5, 4000, 60, 0);"),
                          0);
    char *args[] = { "plot", "--db", db, "-o", out, "--format", "both", "--run", "1", "--plan", "1",
                     "latency", "tiers", "links", "cost", "savings", "pareto", "timeseries", "probes", NULL };
    tu_output o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    if (o.rc)
        fprintf(stderr, "%s", o.err);
    static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    static const struct {
        const char *stem, *title, *label;
    } want[] = {
        { "latency-run1", "Latency, run 1: tiers: CDFs", "fraction of requests above" },
        { "tiers-run1", "KV tier occupancy, run 1: tiers", "HBM cached (prefix cache)" },
        { "links-run1", "Link utilization, run 1: tiers", "utilization (%)" },
        /* Costs reach $63,000 at 15 req/s ("two": 3 replicas × $21,000): thousands. */
        { "cost-plan1", "Cost against load, plan 1 (fixture)", "annual cost ($k/year)" },
        { "savings-plan1", "Savings against the baseline baseline (4 GPUs, $40k/year)", "GPUs saved (GPUs)" },
        { "pareto-plan1", "Cost against p99 TTFT, plan 1 (fixture)", "p99 TTFT at the operating point (ms)" },
        { "timeseries-run1", "Over time, run 1: tiers", "requests waiting" },
        { "probes-plan1", "probes, plan 1 (fixture)", "p99 ITL (ms)" },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char p[1024], s[1024];
        snprintf(p, sizeof p, "%s/%s.png", out, want[i].stem);
        snprintf(s, sizeof s, "%s/%s.svg", out, want[i].stem);
        CU_ASSERT(strstr(o.out, p) != NULL);
        CU_ASSERT(starts_with(p, png, sizeof png));
        CU_ASSERT(contains(s, want[i].title));
        CU_ASSERT(contains(s, want[i].label));
    }
    /* The savings bars of both other feasible candidates, labelled. */
    char sv[1024];
    snprintf(sv, sizeof sv, "%s/savings-plan1.svg", out);
    CU_ASSERT(contains(sv, "$4k"));
    CU_ASSERT(contains(sv, "-$2k"));
    tu_output_free(&o);
    remove_dir(out);
    remove_dir(dir);
}

/* A plan that backed off: "two" (2 GPUs a replica, 6 req/s a replica)
 * needs ceil(10 / 6) = 2 replicas for 10 req/s, but its operating point
 * missed and the table holds 5 replicas, 10 GPUs. Drawn as planned, its
 * staircase steps every 10 / 5 = 2 req/s: 5 replicas up to 10 req/s, 6
 * just past it; one without a stored fleet steps as the search found. */
static void test_cost_as_planned(void)
{
    plot_candidate two = cand(3, "two", 2, 6, 10000, 1000, 1, 10, 105000, 400);
    plot_candidate x = plot_candidate_as_planned(&two, 10);
    plot_cost pc;
    CU_ASSERT_EQUAL(plot_cost_at(&x, 10, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 5);
    CU_ASSERT_EQUAL(pc.gpus, 10);
    CU_ASSERT_DOUBLE_EQUAL(pc.usd_per_year, 105000, EPS); /* 5 × (2 × $10,000 + $1,000) */
    CU_ASSERT_EQUAL(plot_cost_at(&x, 10.5, &pc), 0);
    CU_ASSERT_EQUAL(pc.replicas, 6);
    plot_candidate none = cand(2, "none", 1, 0, 10000, 0, 0, 0, 0, 0);
    x = plot_candidate_as_planned(&none, 10);
    CU_ASSERT_DOUBLE_EQUAL(x.max_rps_per_replica, 0, EPS);
}

/* The numbers in data block name of a gnuplot script (rows of three). */
static int read_block(const char *script, const char *name, double rows[][3], int max)
{
    const char *p = strstr(script, name);
    int n = 0;
    p = p ? strchr(p, '\n') : NULL;
    while (p && n < max && sscanf(p + 1, "%lf %lf %lf", &rows[n][0], &rows[n][1], &rows[n][2]) == 3) {
        n++;
        p = strchr(p + 1, '\n');
    }
    return n;
}

/* Installs a stand-in for gnuplot in dir as $KVTIER_GNUPLOT: it keeps
 * the script it is given as copy (caller's buffer) and writes a non-empty
 * figure, so a figure's data can be read back without gnuplot. */
static void fake_gnuplot(const char *dir, char *copy, size_t n)
{
    char fake[512], cmd[2048];
    snprintf(fake, sizeof fake, "%s/gnuplot.sh", dir);
    snprintf(copy, n, "%s/script.gp", dir);
    snprintf(cmd, sizeof cmd,
             "#!/bin/sh\ncp \"$1\" '%s'\necho x > \"$(sed -n \"s/^set output '\\(.*\\)'$/\\1/p\" \"$1\")\"\n",
             copy);
    tu_write_text(fake, cmd);
    CU_ASSERT_EQUAL_FATAL(chmod(fake, 0700), 0);
    setenv("KVTIER_GNUPLOT", fake, 1);
}

/* The script fake_gnuplot kept, into a static buffer. */
static const char *kept_script(const char *copy)
{
    static char script[1 << 16];
    FILE *f = fopen(copy, "r");
    size_t len = f ? fread(script, 1, sizeof script - 1, f) : 0;
    script[len] = 0;
    if (f)
        fclose(f);
    return script;
}

/* The cost figure drawn from the database: at the target load every
 * candidate's plotted GPUs and dollars are the table's, after a back-off
 * written into the table ("dram": 4 req/s a replica needs 3 replicas, the
 * table holds 5 after backing off: $60,000 = 5 × ($10,000 + $2,000)). */
static void test_cost_figure_equals_table(void)
{
    char dir[256], db[512], copy[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/c.db", dir);
    kt_err err;
    store *st = store_open(db, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_close(st);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, plan_sql), 0);
    CU_ASSERT_EQUAL_FATAL(
        exec_sql(db, "UPDATE plan_candidates SET replicas = 5, gpus = 5, usd_per_year = 60000 WHERE candidate = 1"), 0);
    fake_gnuplot(dir, copy, sizeof copy);
    char *args[] = { "plot", "--db", db, "-o", dir, "--format", "svg", "--plan", "1", "cost", NULL };
    tu_output o = tu_capture(call_plot, args, NULL);
    unsetenv("KVTIER_GNUPLOT");
    CU_ASSERT_EQUAL(o.rc, 0);
    if (o.rc)
        fprintf(stderr, "%s", o.err);
    tu_output_free(&o);
    const char *script = kept_script(copy);
    /* Candidate rows of the fixture: index, table GPUs, table $/year (the
     * figure's dollars are in thousands: "$k/year"). */
    static const struct { const char *block; double gpus, usd; } want[] = {
        { "$cost0 <<", 4, 40000 }, { "$cost1 <<", 5, 60000 }, { "$cost3 <<", 4, 42000 },
    };
    CU_ASSERT(strstr(script, "annual cost ($k/year)") != NULL);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        double rows[64][3];
        int n = read_block(script, want[i].block, rows, 64), found = 0;
        for (int k = 0; k < n; k++)
            if (fabs(rows[k][0] - 10) < EPS) {
                /* The step that ends at the target. */
                CU_ASSERT_DOUBLE_EQUAL(rows[k][2], want[i].gpus, EPS);
                CU_ASSERT_DOUBLE_EQUAL(rows[k][1] * 1000, want[i].usd, 1e-3);
                found = 1;
                break;
            }
        CU_ASSERT(found);
    }
    remove_dir(dir);
}

/* Without KIND: the latest run's and the latest plan's kinds with data. */
static void test_default_kinds(void)
{
    if (gnuplot_missing())
        return;
    char dir[256], db[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/d.db", dir);
    char *sets[] = { "kv_policy.tiers_used=0" }; /* HBM only: no links moved data */
    CU_ASSERT_EQUAL_FATAL(store_run(db, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(store_run(db, sets, 1), 0);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, plan_sql), 0);
    char *args[] = { "plot", "--db", db, "-o", dir, NULL };
    tu_output o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    char expect[5][600];
    const char *stems[] = { "latency-run2", "tiers-run2", "cost-plan1", "savings-plan1", "pareto-plan1" };
    for (int i = 0; i < 5; i++) {
        snprintf(expect[i], sizeof expect[i], "%s/%s.png\n", dir, stems[i]);
        CU_ASSERT(strstr(o.out, expect[i]) != NULL);
    }
    CU_ASSERT(strstr(o.out, "links-") == NULL);
    CU_ASSERT(strstr(o.out, "-run1.") == NULL);
    tu_output_free(&o);
    remove_dir(dir);
}

/* The sweep tables as `kvtier sweep` writes them (created here when this
 * build's schema lacks them): two points of a block-size sweep. */
static const char *const sweep_sql =
    "CREATE TABLE IF NOT EXISTS sweeps (id INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL,"
    " key TEXT NOT NULL UNIQUE, created_utc TEXT NOT NULL, points INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sweep_points (sweep_id INTEGER NOT NULL REFERENCES sweeps(id),"
    " point INTEGER NOT NULL, params TEXT NOT NULL, run_id INTEGER NOT NULL UNIQUE REFERENCES runs(id),"
    " PRIMARY KEY (sweep_id, point));"
    "INSERT INTO sweeps VALUES (1, 'blocks', 'sweep.yaml', 'k1', '2026-01-01T00:00:00Z', 2);"
    "INSERT INTO sweep_points VALUES (1, 0, 'kv.block_tokens=32', 2), (1, 1, 'kv.block_tokens=16', 1);";

/* A sweep's runs, in point order, labelled with their parameters. */
static void test_sweep(void)
{
    if (gnuplot_missing())
        return;
    char dir[256], db[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/w.db", dir);
    char *sets[] = { "kv.block_tokens=32" };
    CU_ASSERT_EQUAL_FATAL(store_run(db, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(store_run(db, sets, 1), 0);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, sweep_sql), 0);
    char *args[] = { "plot", "--db", db, "-o", dir, "--sweep", "1", "--format", "svg", NULL };
    tu_output o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    char svg[600];
    snprintf(svg, sizeof svg, "%s/latency-sweep1.svg", dir);
    CU_ASSERT(strstr(o.out, svg) != NULL);
    CU_ASSERT(contains(svg, "Latency, sweep 1 (blocks): CDFs"));
    /* Labelled with each point's parameters, keys shortened to their last part. */
    CU_ASSERT(contains(svg, "run 2: block_tokens=32"));
    CU_ASSERT(contains(svg, "run 1: block_tokens=16"));
    /* Per-run kinds follow the sweep's runs; its one axis, unitless, is the sweep figure's x. */
    snprintf(svg, sizeof svg, "%s/sweep-sweep1.svg", dir);
    CU_ASSERT(strstr(o.out, svg) != NULL);
    CU_ASSERT(contains(svg, "kv.block_tokens"));
    CU_ASSERT(contains(svg, "throughput (req/s)"));
    CU_ASSERT(strstr(o.out, "tiers-run2.svg") != NULL);
    CU_ASSERT(strstr(o.out, "tiers-run1.svg") != NULL);
    tu_output_free(&o);
    char *unknown[] = { "plot", "--db", db, "-o", dir, "--sweep", "9", NULL };
    o = tu_capture(call_plot, unknown, NULL);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT(strstr(o.err, "sweep 9 not found") != NULL);
    tu_output_free(&o);
    remove_dir(dir);
}

/* A 2 × 2 sweep (rate 1/s, 2/s × block_tokens 16, 32) with three of its
 * four points stored, as a sweep still running leaves it: point p is rate
 * p ÷ 2, block_tokens p mod 2, so points 0, 1 and 3 are (1/s, 16) run 1,
 * (1/s, 32) run 2 and (2/s, 32) run 3. Their ttft_p99 and throughput are
 * set by hand; run 3 has no throughput. */
static const char *const sweep2_sql =
    "INSERT INTO sweeps VALUES (1, 'grid', 'grid.yaml', 'k2', '2026-01-01T00:00:00Z', 4);"
    "INSERT INTO sweep_points VALUES"
    " (1, 0, 'workload.arrival.rate=1/s' || char(10) || 'kv.block_tokens=16', 1),"
    " (1, 1, 'workload.arrival.rate=1/s' || char(10) || 'kv.block_tokens=32', 2),"
    " (1, 3, 'workload.arrival.rate=2/s' || char(10) || 'kv.block_tokens=32', 3);"
    "UPDATE summary SET value = CASE run_id WHEN 1 THEN 120 WHEN 2 THEN 340 ELSE 900 END WHERE metric = 'ttft_p99';"
    "UPDATE summary SET value = CASE run_id WHEN 1 THEN 1.5 ELSE 1.25 END WHERE metric = 'throughput';"
    "DELETE FROM summary WHERE run_id = 3 AND metric = 'throughput';";

/* The sweep figure's data against the rows above, by hand. The rate is the
 * first axis with numbers in one unit ("/s"): x. block_tokens makes the
 * lines, in order of first appearance: line 0 is block_tokens=16 (point 0
 * only), line 1 block_tokens=32 (points 1 and 3). A row is x, then the
 * metrics in the order asked (ttft_p99, throughput):
 *   $sweep0: 1 120 1.5
 *   $sweep1: 1 340 1.25, then 2 900 NaN (run 3 has no throughput).
 * TTFT's SLO (slo.ttft=750ms in every run) is drawn on the TTFT panel. */
static void test_sweep_figure_rows(void)
{
    char dir[256], db[512], copy[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/g.db", dir);
    char *sets[] = { "slo.ttft=750ms" };
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(store_run(db, sets, 1), 0);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, sweep2_sql), 0);
    fake_gnuplot(dir, copy, sizeof copy);
    char *args[] = { "plot", "--db", db, "-o", dir, "--sweep", "1", "--metric", "ttft_p99", "--metric", "throughput",
                     "sweep", NULL };
    tu_output o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    if (o.rc)
        fprintf(stderr, "%s", o.err);
    CU_ASSERT(strstr(o.out, "/sweep-sweep1.png") != NULL);
    tu_output_free(&o);
    const char *script = kept_script(copy);
    double rows[8][3];
    CU_ASSERT_EQUAL_FATAL(read_block(script, "$sweep0 <<", rows, 8), 1);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][0], 1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][1], 120, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][2], 1.5, EPS);
    CU_ASSERT_EQUAL_FATAL(read_block(script, "$sweep1 <<", rows, 8), 2);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][0], 1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][1], 340, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[0][2], 1.25, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[1][0], 2, EPS);
    CU_ASSERT_DOUBLE_EQUAL(rows[1][1], 900, EPS);
    CU_ASSERT(isnan(rows[1][2]));
    CU_ASSERT(strstr(script, "$sweep2 <<") == NULL); /* two lines only */
    /* The axis with its unit, a panel per metric with the unit the summary stores, the lines' names, the SLO. */
    CU_ASSERT(strstr(script, "set xlabel 'workload.arrival.rate (1/s)'") != NULL);
    CU_ASSERT(strstr(script, "set ylabel 'TTFT (ms)'") != NULL);
    CU_ASSERT(strstr(script, "set ylabel 'throughput (req/s)'") != NULL);
    CU_ASSERT(strstr(script, "title 'block_tokens=16'") != NULL);
    CU_ASSERT(strstr(script, "title 'block_tokens=32'") != NULL);
    CU_ASSERT(strstr(script, "'SLO 750 ms'") != NULL);
    /* A metric the runs lack is named, with the closest they have. */
    char *typo[] = { "plot", "--db", db, "-o", dir, "--sweep", "1", "--metric", "ttft_p9", "sweep", NULL };
    o = tu_capture(call_plot, typo, NULL);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT(strstr(o.err, "--metric ttft_p9: not a summary metric of sweep 1's runs (did you mean 'ttft_p90'?)") !=
              NULL);
    tu_output_free(&o);
    unsetenv("KVTIER_GNUPLOT");
    remove_dir(dir);
}

static int call_plan(int argc, char **argv, void *ud)
{
    (void)ud;
    return plan_main(argc, argv);
}

/* What `kvtier plan` stores is what the plan figures read: tests/data/plan.yaml
 * has a baseline, one cheaper candidate and one that meets no SLO. One
 * saving only, and positive: its bars have no label below zero. */
static void test_figures_from_the_planner(void)
{
    if (gnuplot_missing())
        return;
    char dir[256], db[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/p.db", dir);
    char *plan_args[] = { "plan", (char *)tu_path("tests/data/plan.yaml"), "--db", db, "--quiet", NULL };
    tu_output o = tu_capture(call_plan, plan_args, NULL);
    CU_ASSERT_EQUAL_FATAL(o.rc, 0);
    tu_output_free(&o);
    char *args[] = { "plot", "--db", db, "-o", dir, "--format", "svg", NULL };
    o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    if (o.rc)
        fprintf(stderr, "%s", o.err);
    const char *stems[] = { "cost-plan1", "savings-plan1", "pareto-plan1" };
    for (int i = 0; i < 3; i++) {
        char svg[600];
        snprintf(svg, sizeof svg, "%s/%s.svg", dir, stems[i]);
        CU_ASSERT(strstr(o.out, svg) != NULL);
        CU_ASSERT(contains(svg, "test-plan"));
    }
    char sv[600];
    snprintf(sv, sizeof sv, "%s/savings-plan1.svg", dir);
    CU_ASSERT(contains(sv, "two-gpus (best)"));
    CU_ASSERT(!contains(sv, "impossible"));
    tu_output_free(&o);
    remove_dir(dir);
}

/* ---------- bad input ---------- */

/* Runs plot_main with args and checks exit status 2 and that stderr names what. */
static void expect_bad(char **args, const char *what)
{
    tu_output o = tu_capture(call_plot, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT(strstr(o.err, what) != NULL);
    if (!strstr(o.err, what))
        fprintf(stderr, "wanted '%s' in: %s", what, o.err);
    CU_ASSERT_EQUAL(o.out[0], '\0');
    tu_output_free(&o);
}

/* Errors found before drawing need no gnuplot: /bin/true stands in for it. */
static void test_bad_input(void)
{
    char dir[256], db[512], missing[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(temp_dir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/b.db", dir);
    snprintf(missing, sizeof missing, "%s/none.db", dir);
    CU_ASSERT_EQUAL_FATAL(store_run(db, NULL, 0), 0);
    setenv("KVTIER_GNUPLOT", "/bin/true", 1);
    char *unknown_run[] = { "plot", "--db", db, "-o", dir, "--run", "7", NULL };
    expect_bad(unknown_run, "run 7 not found");
    char *no_db[] = { "plot", "--db", missing, "-o", dir, NULL };
    expect_bad(no_db, "no such results database");
    CU_ASSERT(access(missing, F_OK) != 0); /* not created */
    char *bad_kind[] = { "plot", "--db", db, "bogus", NULL };
    expect_bad(bad_kind, "unknown kind 'bogus'");
    char *no_plan[] = { "plot", "--db", db, "-o", dir, "cost", NULL };
    expect_bad(no_plan, "holds no plans");
    char *bad_id[] = { "plot", "--db", db, "--run", "x1", NULL };
    expect_bad(bad_id, "--run 'x1'");
    char *bad_format[] = { "plot", "--db", db, "--format", "gif", NULL };
    expect_bad(bad_format, "--format 'gif'");
    /* A plan without a baseline has no savings to draw. */
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, plan_sql), 0);
    CU_ASSERT_EQUAL_FATAL(exec_sql(db, "UPDATE plans SET baseline = NULL"), 0);
    char *no_base[] = { "plot", "--db", db, "-o", dir, "savings", NULL };
    expect_bad(no_base, "plan 1 has no baseline");
    setenv("KVTIER_GNUPLOT", "/nonexistent/gnuplot", 1);
    char *no_gnuplot[] = { "plot", "--db", db, "-o", dir, NULL };
    expect_bad(no_gnuplot, "apt-get install gnuplot-nox");
    unsetenv("KVTIER_GNUPLOT");
    /* Nothing was drawn: the directory holds only the database. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int others = 0;
    while (d && (e = readdir(d)))
        others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strncmp(e->d_name, "b.db", 4);
    if (d)
        closedir(d);
    CU_ASSERT_EQUAL(others, 0);
    remove_dir(dir);
}

int main(void)
{
    /* Model cards and profiles come from the source tree, also in a VPATH build. */
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "CDF points, every rank", test_cdf_points_every_rank },
        { "CDF points, thinned", test_cdf_points_thinned },
        { "cost against load by hand", test_cost_at_load },
        { "savings against the baseline", test_savings },
        { "Pareto front", test_pareto_front },
        { "tier samples within capacity", test_tier_samples_within_capacity },
        { "shared tier sampled once", test_shared_tier_sampled_once },
        { "figures end to end", test_figures_end_to_end },
        { "default kinds", test_default_kinds },
        { "sweep", test_sweep },
        { "sweep figure's rows by hand", test_sweep_figure_rows },
        { "figures from the planner", test_figures_from_the_planner },
        { "cost drawn as planned", test_cost_as_planned },
        { "cost figure equals the table", test_cost_figure_equals_table },
        { "bad input", test_bad_input },
        { NULL, NULL },
    };
    return tu_run("plot", tests);
}
