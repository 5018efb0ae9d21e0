/* test_plan.c — the capacity planner: fleet size and cost by hand, savings as two different numbers, the bisection's bracket, infeasible candidates, bad plan files, and the stored plan. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "plan.h"
#include "sim.h"
#include "scenario.h"
#include "plan_store.h"
#include "testutil.h"

/* Hand-made cost figures: a unit of 8 GPUs at $10,000 a GPU-year and
 * $37,000 each, $500 a year ($2,000) of tier memory per unit, a shared pool
 * of $1,000 a year ($4,000). */
static plan_result unit_of(double max_rps)
{
    plan_result r;
    memset(&r, 0, sizeof r);
    r.gpus_per_unit = 8;
    r.max_rps_per_unit = max_rps;
    r.usd_per_gpu_year = 10000;
    r.gpu_price_usd = 37000;
    r.tier_usd_per_unit_year = 500;
    r.tier_capex_per_unit_usd = 2000;
    r.shared_tier_usd_year = 1000;
    r.shared_tier_capex_usd = 4000;
    return r;
}

static void test_price_by_hand(void)
{
    plan_cfg p;
    memset(&p, 0, sizeof p);
    p.target_rps = 1000;
    plan_result r = unit_of(1.6);
    plan_price(&p, &r);
    /* 1000 / 1.6 = 625 units exactly; 5,000 GPUs. */
    CU_ASSERT_TRUE(r.feasible);
    CU_ASSERT_EQUAL(r.units, 625);
    CU_ASSERT_EQUAL(r.gpus, 5000);
    CU_ASSERT_DOUBLE_EQUAL(r.usd_per_year, 5000 * 10000.0 + 625 * 500.0 + 1000, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r.usd_capex, 5000 * 37000.0 + 625 * 2000.0 + 4000, 1e-6);
    /* 1000 / 1.7 = 588.2: 589 units. */
    r = unit_of(1.7);
    plan_price(&p, &r);
    CU_ASSERT_EQUAL(r.units, 589);
    CU_ASSERT_EQUAL(r.gpus, 4712);
    /* A unit that sustains nothing is infeasible and costs nothing. */
    r = unit_of(0);
    plan_price(&p, &r);
    CU_ASSERT_FALSE(r.feasible);
    CU_ASSERT_EQUAL(r.gpus, 0);
}

/* "x% more throughput per GPU" and "y% fewer GPUs" differ: the baseline
 * serves 0.8 req/s on 8 GPUs (0.1 per GPU); the candidate 2.0 on 16 (0.125).
 * Throughput per GPU: +25%. GPUs for 1,000 req/s: 1,250 × 8 = 10,000
 * against 500 × 16 = 8,000: 20% fewer (1 − 1/1.25, not 25%). */
static void test_savings_two_numbers(void)
{
    plan_cfg p;
    memset(&p, 0, sizeof p);
    p.target_rps = 1000;
    plan_result b = unit_of(0.8), c = unit_of(2.0);
    c.gpus_per_unit = 16;
    plan_price(&p, &b);
    plan_price(&p, &c);
    CU_ASSERT_EQUAL(b.gpus, 10000);
    CU_ASSERT_EQUAL(c.gpus, 8000);
    plan_savings sv;
    plan_savings_of(&c, &b, &sv);
    CU_ASSERT_EQUAL(sv.gpus_saved, 2000);
    CU_ASSERT_DOUBLE_EQUAL(sv.fewer_gpus_frac, 0.20, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(sv.more_throughput_per_gpu_frac, 0.25, 1e-12);
    /* $/year: 10,000 × 10,000 + 1,250 × 500 against 8,000 × 10,000 + 500 × 500. */
    CU_ASSERT_DOUBLE_EQUAL(sv.usd_per_year_saved, (1e8 + 625000.0) - (8e7 + 250000.0), 1e-6);
}

/* Memory prices: 1 TiB of DRAM at $4/GB, 4 × 7.68 TB of NVMe at $0.12/GB,
 * a 20 TB remote share at $1/GB (the defaults README lists). */
static void test_tier_capex(void)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path("scenarios/fleet-cost-savings-replica.yaml"), NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    const double dram = 1099.511627776 * 4, nvme = 4 * 7680 * 0.12, remote = 20000 * 1.0;
    CU_ASSERT_DOUBLE_EQUAL(scenario_tier_capex_usd(sc, 0), dram + nvme + remote, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(scenario_tier_capex_usd(sc, 1), 0, 0);
    scenario_free(sc);
    char *one[] = { "kv_policy.tiers_used=1", "cost.dram_usd_per_gb=2.5" };
    sc = scenario_load(tu_path("scenarios/fleet-cost-savings-replica.yaml"), one, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_DOUBLE_EQUAL(scenario_tier_capex_usd(sc, 0), 1099.511627776 * 2.5, 1e-6);
    scenario_free(sc);
}

static const plan_probe *probe_with_knob(const plan_result *r, double knob)
{
    for (int i = 0; i < r->n_probes; i++)
        if (r->probes[i].knob == knob)
            return &r->probes[i];
    return NULL;
}

/* The highest knob that met the SLOs, and the lowest that missed above it. */
static void bracket_of(const plan_result *r, double *met, double *missed)
{
    *met = 0;
    *missed = INFINITY;
    for (int i = 0; i < r->n_probes; i++)
        if (r->probes[i].meets && r->probes[i].knob > *met)
            *met = r->probes[i].knob;
    for (int i = 0; i < r->n_probes; i++)
        if (!r->probes[i].meets && r->probes[i].knob > *met && r->probes[i].knob < *missed)
            *missed = r->probes[i].knob;
}

/* Runs tests/data/e2e.yaml with sets and summarizes it into s. */
static int e2e_run(char **sets, int n_sets, metrics_summary *s)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path("tests/data/e2e.yaml"), sets, n_sets, &err);
    if (!sc) {
        kt_err_print(&err, stderr);
        return -1;
    }
    sim_opts o = { 0 };
    sim_stats st;
    metrics *m = NULL;
    int rc = sim_run(sc, &o, &m, &st, &err);
    if (rc == 0)
        rc = metrics_summarize(m, &sc->slo, &sc->cost, s, &err);
    metrics_free(m);
    scenario_free(sc);
    return rc;
}

/* The planned per-unit load holds over ten times the probes' sessions: the
 * whole run's p99s (warm-up included) within the SLOs, every request done,
 * the backlog steady. */
static void check_tenfold(const plan_cfg *p, const plan_result *r, int replicas)
{
    double met, missed;
    bracket_of(r, &met, &missed);
    const plan_probe *best = probe_with_knob(r, met);
    CU_ASSERT_PTR_NOT_NULL_FATAL(best);
    char rep[64], sess[64], rate[64];
    snprintf(rep, sizeof rep, "replicas.count=%d", replicas);
    snprintf(sess, sizeof sess, "workload.sessions=%lld", (long long)(10 * best->sessions));
    snprintf(rate, sizeof rate, "workload.arrival.rate=%.17g/s", r->op.knob);
    char *sets[] = { rep, sess, rate };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(e2e_run(sets, 3, &s), 0);
    CU_ASSERT_EQUAL(s.unfinished, 0);
    CU_ASSERT_EQUAL(s.rejected, 0);
    CU_ASSERT_TRUE(s.steady.steady);
    CU_ASSERT(s.ttft_ns.p99 <= (double)p->slo_ttft_p99_ns);
    CU_ASSERT(s.itl_ns.p99 <= (double)p->slo_itl_p99_ns);
}

/* One GPU offered 40 sessions/s (about 120 requests/s, several times what it
 * serves): the backlog grows, and the run says so. */
static void test_run_past_capacity(void)
{
    char *sets[] = { "replicas.count=1", "workload.sessions=1000", "workload.arrival.rate=40/s" };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(e2e_run(sets, 3, &s), 0);
    CU_ASSERT_FALSE(s.steady.steady);
    CU_ASSERT(s.steady.backlog_trend_per_s > 0);
    CU_ASSERT(s.steady.backlog_at_end > 0);
}

static void test_plan_run(void)
{
    kt_err err;
    plan_cfg *p = plan_load(tu_path("tests/data/plan.yaml"), NULL, 0, &err);
    if (!p)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(p->n_cand, 3);
    CU_ASSERT_EQUAL(p->baseline, 0);
    CU_ASSERT_DOUBLE_EQUAL(p->target_rps, 140, 0);
    CU_ASSERT_EQUAL(p->slo_ttft_p99_ns, 500000000);
    plan_result res[3];
    CU_ASSERT_EQUAL_FATAL(plan_run(p, NULL, 0, &(sim_opts){ 0 }, res, NULL, &err), 0);
    for (int c = 0; c < 2; c++) {
        const plan_result *r = &res[c];
        CU_ASSERT_TRUE(r->feasible);
        /* The search closed its bracket to the tolerance (5%) within the
         * probe budget, and the answer is the rate the highest passing probe saw. */
        double met, missed;
        bracket_of(r, &met, &missed);
        CU_ASSERT(met > 0);
        CU_ASSERT(r->n_probes <= p->max_probes + 1);
        CU_ASSERT(missed <= met * (1 + p->tolerance) + 1e-9);
        const plan_probe *best = probe_with_knob(r, met);
        CU_ASSERT_PTR_NOT_NULL_FATAL(best);
        CU_ASSERT_DOUBLE_EQUAL(r->max_rps_per_unit, best->rps, 1e-9);
        /* Synthetic sessions: requests/s = sessions/s × requests per session,
         * the same ratio at every knob of one scenario (the draws do not
         * depend on the rate). */
        CU_ASSERT_DOUBLE_EQUAL(best->rps / best->knob, r->probes[0].rps / r->probes[0].knob, 1e-9);
        /* Enough units for the target; the operating point meets the SLOs. */
        CU_ASSERT(r->units * r->max_rps_per_unit >= p->target_rps);
        CU_ASSERT_TRUE(r->op.meets);
        CU_ASSERT(r->op.ttft_p99_ms <= 500);
        /* Every probe long enough: the scenario's sessions at least, and at
         * least min_requests of them scored... */
        for (int i = 0; i < r->n_probes; i++)
            CU_ASSERT(r->probes[i].sessions >= 300);
        CU_ASSERT(best->scored >= (size_t)p->min_requests);
        CU_ASSERT_TRUE(best->steady);
        /* ...the operating point confirmed over 4 × a probe's horizon, with
         * its margin, and backed off only by whole units. */
        CU_ASSERT(r->op.sessions >= 4 * 300);
        CU_ASSERT_TRUE(r->op.steady);
        CU_ASSERT(r->margin >= 0 && r->margin < 1);
        CU_ASSERT(r->backed_off >= 0 && r->backed_off <= r->units);
        check_tenfold(p, r, c + 1);
        /* H100 defaults: $37,000 over 4 years, 700 W × PUE 1.3 at $0.10/kWh
         * for 8,766 hours a year (hwprofiles/h100-sxm.yaml, README). */
        CU_ASSERT_DOUBLE_EQUAL(r->usd_per_gpu_year, 37000 / 4.0 + 0.7 * 1.3 * 0.10 * 8766, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(r->tier_usd_per_unit_year, 0, 0);
    }
    CU_ASSERT_EQUAL(res[0].gpus_per_unit, 1);
    CU_ASSERT_EQUAL(res[1].gpus_per_unit, 2);
    /* 30,000-token prompts on 70B miss 500 ms even at the lowest rate: one
     * probe, infeasible, unranked. */
    CU_ASSERT_FALSE(res[2].feasible);
    CU_ASSERT_EQUAL(res[2].n_probes, 1);
    CU_ASSERT_EQUAL(res[2].rank, 0);
    CU_ASSERT_EQUAL(res[2].gpus_per_unit, 8);
    /* Ranks follow $/year; a tie goes to the candidate listed first. */
    int first = res[0].usd_per_year <= res[1].usd_per_year ? 0 : 1;
    CU_ASSERT_EQUAL(res[first].rank, 1);
    CU_ASSERT_EQUAL(res[1 - first].rank, 2);

    /* Stored in one transaction: one plan, three candidates, every probe. */
    char db_path[] = "/tmp/kvtier_plan_XXXXXX";
    int fd = mkstemp(db_path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    store *db = store_open(db_path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT(plan_store_write(db, p, res, &err) > 0);
    store_close(db);
    sqlite3 *q;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(db_path, &q), SQLITE_OK);
    sqlite3_stmt *st;
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(q,
                                             "SELECT (SELECT count(*) FROM plans), (SELECT count(*) FROM plan_candidates),"
                                             " (SELECT count(*) FROM plan_probes), (SELECT best FROM plans),"
                                             " (SELECT baseline FROM plans),"
                                             " (SELECT gpus FROM plan_candidates WHERE candidate = 2)",
                                             -1, &st, NULL),
                          SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_step(st), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int(st, 0), 1);
    CU_ASSERT_EQUAL(sqlite3_column_int(st, 1), 3);
    CU_ASSERT_EQUAL(sqlite3_column_int(st, 2), res[0].n_probes + res[1].n_probes + res[2].n_probes);
    CU_ASSERT_EQUAL(sqlite3_column_int(st, 3), first);
    CU_ASSERT_EQUAL(sqlite3_column_int(st, 4), 0);
    CU_ASSERT_EQUAL(sqlite3_column_type(st, 5), SQLITE_NULL);
    sqlite3_finalize(st);
    sqlite3_close(q);
    unlink(db_path);
    plan_free(p);
}

static int run_plan_main(int argc, char **argv, void *ud)
{
    (void)ud;
    return plan_main(argc, argv);
}

/* Writes text to a temporary plan file beside tests/data (so that
 * "scenario: e2e.yaml" resolves) and runs kvtier plan on it. */
static tu_output plan_text(const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_build_path("bad-plan.yaml"));
    char scen[4096];
    snprintf(scen, sizeof scen, "%s", tu_path("tests/data/e2e.yaml"));
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, text, scen);
    fclose(f);
    char *args[] = { "plan", path, "--no-db", "--quiet", NULL };
    tu_output o = tu_capture(run_plan_main, args, NULL);
    unlink(path);
    return o;
}

static void expect_bad(const char *text, const char *where, const char *what)
{
    tu_output o = plan_text(text);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, what));
    if (!strstr(o.err, where) || !strstr(o.err, what))
        fprintf(stderr, "\n  got: %s", o.err);
    CU_ASSERT_EQUAL(o.out[0], '\0');
    tu_output_free(&o);
}

static void test_bad_plans(void)
{
    const char *head = "name: x\nscenario: %s\ntarget: 10/s\nslo: {ttft_p99: 1s}\n";
    char t[1024];
    snprintf(t, sizeof t, "%s%s", head, "candidates:\n  - {name: a}\ncolour: blue\n");
    expect_bad(t, "bad-plan.yaml:7:9", "colour: unknown key");   /* at its value */
    snprintf(t, sizeof t, "%s%s", head, "baseline: b\ncandidates:\n  - {name: a}\n");
    expect_bad(t, "bad-plan.yaml:5:11", "baseline 'b'");
    snprintf(t, sizeof t, "%s%s", head, "candidates:\n  - {name: a}\n  - {name: a}\n");
    expect_bad(t, "bad-plan.yaml:7:12", "used twice");
    snprintf(t, sizeof t, "%s%s", head, "search: {low: 5, high: 1}\ncandidates:\n  - {name: a}\n");
    expect_bad(t, "bad-plan.yaml:5:9", "must exceed");
    snprintf(t, sizeof t, "%s%s", "name: x\nscenario: %s\nslo: {ttft_p99: 1s}\n", "candidates:\n  - {name: a}\n");
    expect_bad(t, "bad-plan.yaml:1:1", "target");
    snprintf(t, sizeof t, "%s%s", head, "candidates:\n  - {name: a, set: [replicas.gpus]}\n");
    expect_bad(t, "bad-plan.yaml:6:21", "KEY=VALUE");
    /* A candidate whose scenario override is out of range fails before any run. */
    snprintf(t, sizeof t, "%s%s", head, "candidates:\n  - {name: a, set: [replicas.count=0]}\n");
    expect_bad(t, "--set", "replicas.count");
}

/* Command-line overrides past the first 64 still apply: the last of 70
 * (replicas.count=0) makes every candidate's scenario invalid. */
static void test_many_sets(void)
{
    enum { N_SETS = 70 };
    char *sets[N_SETS];
    for (int i = 0; i < N_SETS - 1; i++)
        sets[i] = "seed=7";
    sets[N_SETS - 1] = "replicas.count=0";
    kt_err err;
    plan_cfg *p = plan_load(tu_path("tests/data/plan.yaml"), sets, N_SETS, &err);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replicas.count"));
    plan_free(p);
}

int main(void)
{
    /* Model cards and profiles come from the source tree, also in a VPATH build. */
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "fleet and cost by hand", test_price_by_hand },
        { "fewer GPUs and more throughput per GPU differ", test_savings_two_numbers },
        { "KV tier memory capex", test_tier_capex },
        { "a plan: bisection bracket, operating point, ranking, stored", test_plan_run },
        { "bad plan files name file, line and key", test_bad_plans },
        { "every command-line override applies, however many", test_many_sets },
        { "a run past capacity reports its growing backlog", test_run_past_capacity },
        { NULL, NULL },
    };
    return tu_run("plan", tests);
}
