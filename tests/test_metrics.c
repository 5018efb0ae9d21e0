/* test_metrics.c — run summaries worked out by hand: counts, latency quantiles, SLOs, utilization, cost, the ITL histogram and the record checker. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "metrics.h"
#include "testutil.h"

#define MS 1000000LL            /* ns */

/* Relative closeness. */
static int close_rel(double got, double want, double rel)
{
    int ok = fabs(got - want) <= rel * fabs(want);
    if (!ok)
        fprintf(stderr, "\n  got %.12g, want %.12g (rel %g)\n", got, want, rel);
    return ok;
}

/* Completed request i of the reference set (i = 0..4):
 *   arrival      100 i ms
 *   queue        (i+1) ms          -> first_sched = arrival + (i+1) ms
 *   TTFT         10 (i+1) ms       -> first_token = arrival + 10 (i+1) ms
 *   11 output tokens, 10 gaps summing to 20 (i+1) ms (TPOT 2 (i+1) ms),
 *   largest gap 3 (i+1) ms         -> finish = first_token + 20 (i+1) ms
 *   prompt 1000 (i+1), prefix hits 500 i, tier-0 hits 100 (i+1),
 *   fetch (i+1) ms, preemptions i, recomputed 10 i, tier-recomputed 3. */
static metrics_req ref_req(int i)
{
    metrics_req r;
    memset(&r, 0, sizeof r);
    r.id = i;
    r.session = i;
    r.outcome = REQ_COMPLETED;
    r.arrival_ns = 100 * i * MS;
    r.first_sched_ns = r.arrival_ns + (i + 1) * MS;
    r.first_token_ns = r.arrival_ns + 10 * (i + 1) * MS;
    r.output_tokens = 11;
    r.n_gaps = 10;
    r.gap_sum_ns = 20 * (i + 1) * MS;
    r.gap_max_ns = 3 * (i + 1) * MS;
    r.finish_ns = r.first_token_ns + r.gap_sum_ns;
    r.prompt_tokens = 1000 * (i + 1);
    r.prefix_hit_tokens = 500 * i;
    r.tier_hit_tokens[0] = 100 * (i + 1);
    r.fetch_ns = (i + 1) * MS;
    r.preemptions = i;
    r.recomputed_tokens = 10 * i;
    r.tier_recomputed_tokens = 3;
    return r;
}

/* The five completed requests, one rejected (arrives at 50 ms) and one
 * unfinished (arrives at 450 ms, 2 preemptions, 50 recomputed tokens).
 * Finishes: 0+10+20 = 30, 100+20+40 = 160, 200+30+60 = 290, 300+40+80 = 420,
 * 400+50+100 = 550 ms; so the run lasts 550 ms from the first arrival (0). */
static metrics *ref_metrics(void)
{
    metrics *m = metrics_new(1);
    for (int i = 0; i < 5; i++) {
        metrics_req r = ref_req(i);
        metrics_add_request(m, &r);
    }
    metrics_req rej;
    memset(&rej, 0, sizeof rej);
    rej.id = 5;
    rej.outcome = REQ_REJECTED;
    rej.arrival_ns = 50 * MS;
    rej.prompt_tokens = 999;
    metrics_add_request(m, &rej);
    metrics_req un;
    memset(&un, 0, sizeof un);
    un.id = 6;
    un.outcome = REQ_UNFINISHED;
    un.arrival_ns = 450 * MS;
    un.first_sched_ns = 460 * MS;
    un.prompt_tokens = 999;
    un.preemptions = 2;
    un.recomputed_tokens = 50;
    metrics_add_request(m, &un);

    metrics_replica *rp = &m->replicas[0];
    rp->gpus = 8;
    rp->busy_ns = 440 * MS;
    rp->stall_ns = 100 * MS;
    rp->iterations = 1000;
    rp->flops = 1e15;
    rp->flops_wasted[WASTE_PREEMPTION] = 1e14;
    rp->flops_wasted[WASTE_RECOMPUTE] = 2e14;
    rp->gpu_ns_wasted[WASTE_PREEMPTION] = 1e9;
    rp->gpu_ns_wasted[WASTE_RECOMPUTE] = 2e9;
    rp->hbm_bytes = 1e12;
    rp->peak_flops_gpu = 1e15;
    rp->peak_hbm_Bps = 2e12;
    return m;
}

static const metrics_cost capex = { .gpu_price_usd = 36525, .amortization_years = 1, .power_w = 500,
                                    .usd_per_kwh = 0.10, .pue = 1.2 };

static void test_counts_and_tokens(void)
{
    metrics *m = ref_metrics();
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.requests, 7);
    CU_ASSERT_EQUAL(s.completed, 5);
    CU_ASSERT_EQUAL(s.rejected, 1);
    CU_ASSERT_EQUAL(s.unfinished, 1);
    CU_ASSERT_EQUAL(s.duration_ns, 550 * MS);
    /* Tokens of completed requests: 1000+...+5000 = 15000 in, 5 × 11 = 55 out. */
    CU_ASSERT_EQUAL(s.input_tokens, 15000);
    CU_ASSERT_EQUAL(s.output_tokens, 55);
    /* Prefix hits 0+500+1000+1500+2000 = 5000 of 15000 = 1/3. */
    CU_ASSERT_EQUAL(s.prefix_hit_tokens, 5000);
    CU_ASSERT(close_rel(s.prefix_hit_ratio, 1.0 / 3, 1e-12));
    /* Tier 0: 100+200+300+400+500 = 1500 of 15000 = 0.1. */
    CU_ASSERT_EQUAL(s.tier_hit_tokens[0], 1500);
    CU_ASSERT(close_rel(s.tier_hit_ratio[0], 0.1, 1e-12));
    CU_ASSERT_DOUBLE_EQUAL(s.tier_hit_ratio[1], 0, 0);
    CU_ASSERT_EQUAL(s.tier_recomputed_tokens, 15);  /* 5 × 3 */
    /* Preemptions and recomputation count over all requests:
     * 0+1+2+3+4 + 2 = 12; 0+10+20+30+40 + 50 = 150. */
    CU_ASSERT_EQUAL(s.preemptions, 12);
    CU_ASSERT_EQUAL(s.recomputed_tokens, 150);
    /* Mean fetch part of TTFT: (1+2+3+4+5)/5 = 3 ms. */
    CU_ASSERT(close_rel(s.ttft_fetch_mean_ns, 3e6, 1e-12));
    /* Throughput over 0.55 s. */
    CU_ASSERT(close_rel(s.throughput_rps, 5 / 0.55, 1e-12));
    CU_ASSERT(close_rel(s.throughput_tok_s, 15055 / 0.55, 1e-12));
    CU_ASSERT(close_rel(s.output_tok_s, 55 / 0.55, 1e-12));
    metrics_free(m);
}

static void test_latency_distributions(void)
{
    metrics *m = ref_metrics();
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    /* GSL quantile of sorted x[0..4]: position (n-1) q = 4q, linear between
     * neighbours. p50 -> 2 (x[2]); p90 -> 3.6 (x[3] + 0.6 (x[4]-x[3]));
     * p99 -> 3.96 (x[3] + 0.96 (x[4]-x[3])). */
    /* TTFT 10, 20, 30, 40, 50 ms. */
    CU_ASSERT_EQUAL(s.ttft_ns.n, 5);
    CU_ASSERT(close_rel(s.ttft_ns.mean, 30e6, 1e-12));
    CU_ASSERT(close_rel(s.ttft_ns.p50, 30e6, 1e-12));
    CU_ASSERT(close_rel(s.ttft_ns.p90, 46e6, 1e-12));       /* 40 + 0.6·10 */
    CU_ASSERT(close_rel(s.ttft_ns.p99, 49.6e6, 1e-12));     /* 40 + 0.96·10 */
    CU_ASSERT(close_rel(s.ttft_ns.max, 50e6, 1e-12));
    /* E2E = TTFT + decode = 30, 60, 90, 120, 150 ms. */
    CU_ASSERT(close_rel(s.e2e_ns.mean, 90e6, 1e-12));
    CU_ASSERT(close_rel(s.e2e_ns.p50, 90e6, 1e-12));
    CU_ASSERT(close_rel(s.e2e_ns.p90, 138e6, 1e-12));       /* 120 + 0.6·30 */
    CU_ASSERT(close_rel(s.e2e_ns.p99, 148.8e6, 1e-12));     /* 120 + 0.96·30 */
    CU_ASSERT(close_rel(s.e2e_ns.max, 150e6, 1e-12));
    /* Queue 1..5 ms. */
    CU_ASSERT(close_rel(s.queue_ns.mean, 3e6, 1e-12));
    CU_ASSERT(close_rel(s.queue_ns.p90, 4.6e6, 1e-12));     /* 4 + 0.6·1 */
    CU_ASSERT(close_rel(s.queue_ns.p99, 4.96e6, 1e-12));
    CU_ASSERT(close_rel(s.queue_ns.max, 5e6, 1e-12));
    /* TPOT = gap_sum / n_gaps = 2, 4, 6, 8, 10 ms. */
    CU_ASSERT_EQUAL(s.tpot_ns.n, 5);
    CU_ASSERT(close_rel(s.tpot_ns.mean, 6e6, 1e-12));
    CU_ASSERT(close_rel(s.tpot_ns.p50, 6e6, 1e-12));
    CU_ASSERT(close_rel(s.tpot_ns.p90, 9.2e6, 1e-12));      /* 8 + 0.6·2 */
    CU_ASSERT(close_rel(s.tpot_ns.p99, 9.92e6, 1e-12));     /* 8 + 0.96·2 */
    CU_ASSERT(close_rel(s.tpot_ns.max, 10e6, 1e-12));
    /* No gap was added to the ITL histogram. */
    CU_ASSERT_EQUAL(s.itl_ns.n, 0);
    metrics_free(m);

    /* Even count and unsorted input: TTFT 40, 10, 30, 20 ms ->
     * sorted 10, 20, 30, 40; p50 at 1.5 -> 25; p90 at 2.7 -> 37. */
    m = metrics_new(1);
    const int ttft[] = { 40, 10, 30, 20 };
    for (int i = 0; i < 4; i++) {
        metrics_req r;
        memset(&r, 0, sizeof r);
        r.outcome = REQ_COMPLETED;
        r.arrival_ns = i * MS;
        r.first_sched_ns = r.arrival_ns;
        r.first_token_ns = r.finish_ns = r.arrival_ns + ttft[i] * MS;
        r.output_tokens = 1;
        metrics_add_request(m, &r);
    }
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT(close_rel(s.ttft_ns.p50, 25e6, 1e-12));
    CU_ASSERT(close_rel(s.ttft_ns.p90, 37e6, 1e-12));
    /* Single-token outputs have no gaps: no TPOT samples. */
    CU_ASSERT_EQUAL(s.tpot_ns.n, 0);
    /* Duration: first arrival 0 to the last finish
     * max(0+40, 1+10, 2+30, 3+20) = 40 ms. */
    CU_ASSERT_EQUAL(s.duration_ns, 40 * MS);
    metrics_free(m);
}

/* Completed requests among the reference five meeting slo. */
static double attainment(const metrics_slo *slo, double *goodput)
{
    metrics *m = ref_metrics();
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, slo, &capex, &s, NULL), 0);
    int direct = 0;
    for (size_t i = 0; i < m->n_reqs; i++)
        direct += metrics_meets_slo(&m->reqs[i], slo);
    CU_ASSERT(fabs(s.slo_attainment * 5 - direct) < 1e-9);
    *goodput = s.goodput_rps;
    metrics_free(m);
    return s.slo_attainment;
}

static void test_slo_and_goodput(void)
{
    double g;
    /* No bound set: every completed request meets them, none of the others. */
    metrics_slo none = { 0, 0, 0 };
    CU_ASSERT(close_rel(attainment(&none, &g), 1.0, 1e-12));
    CU_ASSERT(close_rel(g, 5 / 0.55, 1e-12));
    /* TTFT <= 35 ms: 10, 20, 30 pass; TPOT <= 9 ms: 2..8 pass -> 3 of 5. */
    metrics_slo a = { .ttft_ns = 35 * MS, .tpot_ns = 9 * MS };
    CU_ASSERT(close_rel(attainment(&a, &g), 0.6, 1e-12));
    CU_ASSERT(close_rel(g, 3 / 0.55, 1e-12));
    /* Bounds are inclusive: TTFT 30 ms meets a 30 ms SLO -> 3 of 5. */
    metrics_slo b = { .ttft_ns = 30 * MS };
    CU_ASSERT(close_rel(attainment(&b, &g), 0.6, 1e-12));
    /* TPOT <= 6 ms: 2, 4, 6 -> 3 of 5. */
    metrics_slo c = { .tpot_ns = 6 * MS };
    CU_ASSERT(close_rel(attainment(&c, &g), 0.6, 1e-12));
    /* ITL bound applies to the largest gap 3, 6, 9, 12, 15 ms: <= 13 -> 4. */
    metrics_slo d = { .itl_ns = 13 * MS };
    CU_ASSERT(close_rel(attainment(&d, &g), 0.8, 1e-12));
    CU_ASSERT(close_rel(g, 4 / 0.55, 1e-12));
    /* TTFT <= 45 (4 pass) and ITL <= 8 ms (2 pass): 2 of 5. */
    metrics_slo e = { .ttft_ns = 45 * MS, .itl_ns = 8 * MS };
    CU_ASSERT(close_rel(attainment(&e, &g), 0.4, 1e-12));

    /* Rejected and unfinished requests never meet an SLO. */
    metrics_req r = ref_req(0);
    CU_ASSERT_TRUE(metrics_meets_slo(&r, &none));
    r.outcome = REQ_REJECTED;
    CU_ASSERT_FALSE(metrics_meets_slo(&r, &none));
    r.outcome = REQ_UNFINISHED;
    CU_ASSERT_FALSE(metrics_meets_slo(&r, &none));
}

/* TPOT is gap_sum / n_gaps exactly. 10 gaps summing to 10,000,009 ns give a
 * TPOT of 1,000,000.9 ns, which exceeds a 1,000,000 ns bound; the summary
 * reports that TPOT, so the request must not count as meeting the SLO
 * (integer division, 10000009 / 10 = 1000000, would wrongly let it pass). */
static void test_tpot_slo_uses_exact_tpot(void)
{
    metrics_req r;
    memset(&r, 0, sizeof r);
    r.outcome = REQ_COMPLETED;
    r.first_token_ns = 1 * MS;
    r.output_tokens = 11;
    r.n_gaps = 10;
    r.gap_sum_ns = 10000009;
    r.gap_max_ns = 1000009;
    r.finish_ns = r.first_token_ns + r.gap_sum_ns;
    metrics_slo slo = { .tpot_ns = 1000000 };
    CU_ASSERT_FALSE(metrics_meets_slo(&r, &slo));
    /* A bound equal to the exact TPOT is met: 20,000,000 / 10 = 2,000,000. */
    r.gap_sum_ns = 20000000;
    metrics_slo slo2 = { .tpot_ns = 2000000 };
    CU_ASSERT_TRUE(metrics_meets_slo(&r, &slo2));
}

static void test_utilization(void)
{
    metrics *m = ref_metrics();
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.gpus, 8);
    /* busy 0.44 s of 0.55 s on each of 8 GPUs: 0.8. */
    CU_ASSERT(close_rel(s.busy_util, 0.8, 1e-12));
    /* useful = 1e15 - 1e14 - 2e14 = 7e14 FLOPs of 1e15 × 8 × 0.55 = 4.4e15. */
    CU_ASSERT(close_rel(s.effective_util, 7e14 / 4.4e15, 1e-12));
    /* MBU over busy time: 1e12 B / (2e12 B/s × 8 × 0.44 s = 7.04e12). */
    CU_ASSERT(close_rel(s.mbu, 1e12 / 7.04e12, 1e-12));
    CU_ASSERT(close_rel(s.gpu_s_wasted[WASTE_PREEMPTION], 1.0, 1e-12));
    CU_ASSERT(close_rel(s.gpu_s_wasted[WASTE_RECOMPUTE], 2.0, 1e-12));
    CU_ASSERT(close_rel(s.stall_s, 0.8, 1e-12));            /* 0.1 s × 8 GPUs */

    double busy, eff, mbu;
    metrics_replica_util(&m->replicas[0], 550 * MS, &busy, &eff, &mbu);
    CU_ASSERT(close_rel(busy, 0.8, 1e-12));
    CU_ASSERT(close_rel(eff, 7e14 / 4.4e15, 1e-12));
    CU_ASSERT(close_rel(mbu, 1e12 / 7.04e12, 1e-12));
    metrics_free(m);

    /* Two replicas over a 1 s run: 8 GPUs busy 0.5 s, 2 GPUs busy 0.25 s. */
    m = metrics_new(2);
    metrics_req r;
    memset(&r, 0, sizeof r);
    r.outcome = REQ_COMPLETED;
    r.first_token_ns = r.finish_ns = 1000 * MS;
    r.first_sched_ns = 0;
    r.output_tokens = 1;
    r.prompt_tokens = 1000;
    metrics_add_request(m, &r);
    m->replicas[0] = (metrics_replica){ .gpus = 8, .busy_ns = 500 * MS, .flops = 4e15, .hbm_bytes = 1e12,
                                        .peak_flops_gpu = 1e15, .peak_hbm_Bps = 2e12 };
    m->replicas[1] = (metrics_replica){ .gpus = 2, .busy_ns = 250 * MS, .flops = 1e14, .hbm_bytes = 1e11,
                                        .peak_flops_gpu = 5e14, .peak_hbm_Bps = 1e12 };
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.gpus, 10);
    /* (0.5·8 + 0.25·2) / (10 · 1) = 4.5 / 10. */
    CU_ASSERT(close_rel(s.busy_util, 0.45, 1e-12));
    /* (4e15 + 1e14) / (1e15·8·1 + 5e14·2·1) = 4.1e15 / 9e15. */
    CU_ASSERT(close_rel(s.effective_util, 4.1e15 / 9e15, 1e-12));
    /* (1e12 + 1e11) / (2e12·8·0.5 + 1e12·2·0.25) = 1.1e12 / 8.5e12. */
    CU_ASSERT(close_rel(s.mbu, 1.1e12 / 8.5e12, 1e-12));
    metrics_replica_util(&m->replicas[1], 1000 * MS, &busy, &eff, &mbu);
    CU_ASSERT(close_rel(busy, 0.25, 1e-12));
    CU_ASSERT(close_rel(eff, 1e14 / 1e15, 1e-12));          /* 5e14 × 2 × 1 s */
    CU_ASSERT(close_rel(mbu, 1e11 / 5e11, 1e-12));          /* 1e12 × 2 × 0.25 s */
    metrics_free(m);
}

static void test_cost(void)
{
    metrics *m = ref_metrics();
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    /* Per GPU-second: 36,525 / (1 × 365.25 × 86,400) = 100 / 86,400 = 1/864
     * of capex, plus 500 W × 1.2 = 0.6 kW × $0.10/kWh = $0.06/h = 1/60,000
     * per s of power. 8 GPUs × 0.55 s = 4.4 GPU-s. */
    double per_s = 1.0 / 864 + 1.0 / 60000;
    double cost = 4.4 * per_s;
    CU_ASSERT(close_rel(s.cost_usd, cost, 1e-12));
    /* 15,055 tokens in all, 55 of them output. */
    CU_ASSERT(close_rel(s.usd_per_m_tokens, cost / 0.015055, 1e-12));
    CU_ASSERT(close_rel(s.usd_per_m_output_tokens, cost / 0.000055, 1e-12));

    /* An hourly price replaces the capex: $2.50/h = 2.5/3600 per s. */
    metrics_cost rent = capex;
    rent.hourly_usd = 2.5;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &rent, &s, NULL), 0);
    CU_ASSERT(close_rel(s.cost_usd, 4.4 * (2.5 / 3600 + 1.0 / 60000), 1e-12));

    /* pue 0 is taken as 1: 0.5 kW × $0.10 = $0.05/h. */
    metrics_cost nopue = capex;
    nopue.pue = 0;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &nopue, &s, NULL), 0);
    CU_ASSERT(close_rel(s.cost_usd, 4.4 * (1.0 / 864 + 0.05 / 3600), 1e-12));

    /* Two years halve the capex part: 1/1728 per s. */
    metrics_cost two = capex;
    two.amortization_years = 2;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &two, &s, NULL), 0);
    CU_ASSERT(close_rel(s.cost_usd, 4.4 * (1.0 / 1728 + 1.0 / 60000), 1e-12));
    metrics_free(m);
}

/* ---------- the ITL histogram ---------- */

#define ITL_N 100000

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The bin gsl_histogram_find gives v (its own binary search over the
 * ranges), with the ends' overflow in the first and last bins. */
static size_t itl_bin_of(const gsl_histogram *h, double v)
{
    size_t i;
    if (v < h->range[0])
        return 0;
    if (v >= h->range[h->n])
        return h->n - 1;
    CU_ASSERT_EQUAL(gsl_histogram_find(h, v, &i), 0);
    return i;
}

/* Gaps added in an order that keeps returning to the last one's bin, its
 * edges and away (the bin of the last gap is reused when it holds the
 * next): every gap is counted in the bin the ranges say holds it. */
static void test_itl_bins_at_edges(void)
{
    metrics *m = metrics_new(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const gsl_histogram *h = m->itl;
    /* In bin 1000 (about 100 × 1.002^1000 = 737 ns): its first and last
     * whole nanosecond, and the next bin's first. */
    int64_t first = (int64_t)ceil(h->range[1000]), next = (int64_t)ceil(h->range[1001]), last = next - 1;
    int64_t gaps[] = { first, last, next, last, first, 50, 50, 20000000000000, first, 20000000000000, next, 100 };
    size_t n = sizeof gaps / sizeof *gaps;
    double *want = calloc(h->n, sizeof *want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    for (size_t k = 0; k < n; k++) {
        metrics_itl_add(m, gaps[k], 1);
        want[itl_bin_of(h, (double)gaps[k])] += 1;
    }
    size_t bad = 0;
    for (size_t i = 0; i < h->n; i++)
        bad += h->bin[i] != want[i];
    CU_ASSERT_EQUAL(bad, 0);
    /* By hand: first three times and last twice in bin 1000, next twice in 1001. */
    CU_ASSERT_DOUBLE_EQUAL(h->bin[1000], 5, 0);
    CU_ASSERT_DOUBLE_EQUAL(h->bin[1001], 2, 0);
    free(want);
    metrics_free(m);
}

static void test_itl_histogram(void)
{
    metrics *m = metrics_new(1);
    /* 100,000 gaps spread evenly over [1 ms, 100 ms): 1e6 + 990 i ns, added
     * in a scrambled order (7919 is prime to 100,000); then 500 gaps of
     * 50 µs one by one, and 2,000 gaps of 200 ms as one add of weight 1500
     * and 500 adds of weight 1. */
    size_t n = ITL_N + 500 + 2000;
    int64_t *all = malloc(n * sizeof *all);
    size_t k = 0;
    for (long j = 0; j < ITL_N; j++) {
        long i = (j * 7919) % ITL_N;
        int64_t g = 1000000 + 990 * (int64_t)i;
        metrics_itl_add(m, g, 1);
        all[k++] = g;
    }
    for (int j = 0; j < 500; j++) {
        metrics_itl_add(m, 50000, 1);
        all[k++] = 50000;
    }
    metrics_itl_add(m, 200 * MS, 1500);
    metrics_itl_add(m, 3 * MS, 0);          /* weight 0 counts nothing */
    for (int j = 0; j < 500; j++)
        metrics_itl_add(m, 200 * MS, 1);
    for (int j = 0; j < 2000; j++)
        all[k++] = 200 * MS;
    CU_ASSERT_EQUAL(k, n);
    qsort(all, n, sizeof *all, cmp_i64);
    double *sorted = malloc(n * sizeof *sorted);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (double)all[i];
        sum += sorted[i];
    }

    /* The exact quantiles by sorting; the histogram's within 0.25%. */
    const double qs[] = { 0.003, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999 };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = gsl_stats_quantile_from_sorted_data(sorted, 1, n, qs[i]);
        double got = metrics_itl_quantile(m, qs[i]);
        if (!close_rel(got, exact, 0.0025))
            fprintf(stderr, "  (q = %g)\n", qs[i]);
        CU_ASSERT(close_rel(got, exact, 0.0025));
    }
    /* p99 lands in the 200 ms gaps: 0.99 × 102,500 = 101,475 > 100,500. */
    CU_ASSERT(close_rel(metrics_itl_quantile(m, 0.99), 200e6, 0.0025));
    /* p0.3% lands in the 50 µs ones: 0.003 × 102,500 = 307.5 < 500. */
    CU_ASSERT(close_rel(metrics_itl_quantile(m, 0.003), 50e3, 0.0025));
    CU_ASSERT_EQUAL(m->itl_max_ns, 200 * MS);
    CU_ASSERT_DOUBLE_EQUAL(metrics_itl_quantile(m, 1.0), 200e6, 0);

    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.itl_ns.n, n);
    CU_ASSERT_DOUBLE_EQUAL(s.itl_ns.max, 200e6, 0);
    /* Bin midpoints: within half a bin (0.1%) of the exact mean. */
    CU_ASSERT(close_rel(s.itl_ns.mean, sum / n, 0.001));
    CU_ASSERT(close_rel(s.itl_ns.p50, gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.5), 0.0025));
    CU_ASSERT(close_rel(s.itl_ns.p90, gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.9), 0.0025));
    CU_ASSERT(close_rel(s.itl_ns.p99, 200e6, 0.0025));
    free(sorted);
    free(all);
    metrics_free(m);

    /* Empty: quantiles are 0. */
    m = metrics_new(1);
    CU_ASSERT_DOUBLE_EQUAL(metrics_itl_quantile(m, 0.5), 0, 0);
    /* One gap: every quantile is that gap (clamped to the max). */
    metrics_itl_add(m, 7 * MS, 1);
    CU_ASSERT(close_rel(metrics_itl_quantile(m, 0.5), 7e6, 0.002));
    CU_ASSERT(metrics_itl_quantile(m, 0.99) <= 7e6);
    metrics_free(m);
}

/* ---------- record checker ---------- */

/* metrics_check of one record (its gaps array, if any, is copied). */
static int check_one(const metrics_req *r, const int64_t *gaps)
{
    metrics *m = metrics_new(1);
    metrics_req c = *r;
    if (gaps) {
        c.gaps = malloc((size_t)c.n_gaps * sizeof *c.gaps);
        memcpy(c.gaps, gaps, (size_t)c.n_gaps * sizeof *c.gaps);
    }
    metrics_add_request(m, &c);
    kt_err err;
    memset(&err, 0, sizeof err);
    int rc = metrics_check(m, &err);
    if (rc != 0)
        CU_ASSERT(strstr(err.msg, "metrics: request") != NULL);
    metrics_free(m);
    return rc;
}

static void test_check(void)
{
    /* Request 1: TTFT 20 ms, 10 gaps of 4 ms each = 40 ms. */
    metrics_req r = ref_req(1);
    CU_ASSERT_EQUAL(check_one(&r, NULL), 0);
    const int64_t gaps[10] = { 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS, 4 * MS };
    CU_ASSERT_EQUAL(check_one(&r, gaps), 0);
    /* Stored gaps summing to 41 ms. */
    int64_t bad_gaps[10];
    memcpy(bad_gaps, gaps, sizeof gaps);
    bad_gaps[3] += MS;
    CU_ASSERT_EQUAL(check_one(&r, bad_gaps), -1);
    /* gap_sum not finish - first_token. */
    metrics_req x = r;
    x.gap_sum_ns += 1;
    CU_ASSERT_EQUAL(check_one(&x, NULL), -1);
    x = r;
    x.finish_ns -= 1;
    CU_ASSERT_EQUAL(check_one(&x, NULL), -1);
    /* n_gaps != output_tokens - 1. */
    x = r;
    x.n_gaps = 11;
    CU_ASSERT_EQUAL(check_one(&x, NULL), -1);
    x = r;
    x.output_tokens = 10;
    CU_ASSERT_EQUAL(check_one(&x, NULL), -1);
    /* Times out of order. */
    x = r;
    x.first_sched_ns = x.arrival_ns - 1;
    CU_ASSERT_EQUAL(check_one(&x, NULL), -1);
    /* Only completed records are held to these rules. */
    x = r;
    x.outcome = REQ_UNFINISHED;
    x.n_gaps = 3;
    CU_ASSERT_EQUAL(check_one(&x, NULL), 0);
    /* The whole reference set is consistent. */
    metrics *m = ref_metrics();
    kt_err err;
    CU_ASSERT_EQUAL(metrics_check(m, &err), 0);
    metrics_free(m);
}

static void test_summary_fields(void)
{
    metrics *m = ref_metrics();
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(&s, f);
    CU_ASSERT(n > 0 && n <= METRICS_MAX_FIELDS);
    int unique = 1, units = 1;
    for (size_t i = 0; i < n; i++) {
        units &= f[i].name[0] != '\0' && f[i].unit != NULL && f[i].unit[0] != '\0';
        for (size_t j = i + 1; j < n; j++)
            unique &= strcmp(f[i].name, f[j].name) != 0;
    }
    CU_ASSERT_TRUE(unique);
    CU_ASSERT_TRUE(units);
    /* A few values, in the documented units (latencies ms, E2E and
     * durations s). */
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(f[i].name, "ttft_p90")) {
            CU_ASSERT(close_rel(f[i].value, 46, 1e-12));
            CU_ASSERT_STRING_EQUAL(f[i].unit, "ms");
            found++;
        } else if (!strcmp(f[i].name, "e2e_mean")) {
            CU_ASSERT(close_rel(f[i].value, 0.09, 1e-12));
            CU_ASSERT_STRING_EQUAL(f[i].unit, "s");
            found++;
        } else if (!strcmp(f[i].name, "duration")) {
            CU_ASSERT(close_rel(f[i].value, 0.55, 1e-12));
            found++;
        } else if (!strcmp(f[i].name, "completed")) {
            CU_ASSERT_DOUBLE_EQUAL(f[i].value, 5, 0);
            found++;
        }
    }
    CU_ASSERT_EQUAL(found, 4);
    metrics_free(m);
}

/* MSER by hand: 10, 8, 6, 4 then six 2s. Cutting the first four leaves a
 * flat tail (standard error 0); cutting five too ties, and the shorter cut
 * wins. Fewer than two values: nothing to cut. */
static void test_mser_truncation(void)
{
    const double x[] = { 10, 8, 6, 4, 2, 2, 2, 2, 2, 2 };
    CU_ASSERT_EQUAL(metrics_mser_truncation(x, 10), 4);
    CU_ASSERT_EQUAL(metrics_mser_truncation(x, 1), 0);
    /* Never more than half: a series still falling at its end is cut at 5. */
    const double down[] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    CU_ASSERT_EQUAL(metrics_mser_truncation(down, 10), 5);
}

/* The stationarity test on series by hand, t = 0..9 s. */
static void test_backlog_steady(void)
{
    double t[10], flat[10], wobble[10], grow[10], trend, growth, mean;
    for (int i = 0; i < 10; i++) {
        t[i] = i;
        flat[i] = 5;
        wobble[i] = 5 + i % 2;
        grow[i] = 2 + i;
    }
    /* Flat: slope 0, steady. */
    CU_ASSERT_TRUE(metrics_backlog_steady(t, flat, 10, 0.25, &trend, &growth, &mean));
    CU_ASSERT_DOUBLE_EQUAL(trend, 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(mean, 5, 1e-12);
    /* 5, 6, 5, 6, ...: Sxy = 2.5, Sxx = 82.5, slope 1/33, growth 9/33 =
     * 0.27 requests, under 0.25 × 5.5: steady. */
    CU_ASSERT_TRUE(metrics_backlog_steady(t, wobble, 10, 0.25, &trend, &growth, &mean));
    CU_ASSERT_DOUBLE_EQUAL(trend, 2.5 / 82.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(growth, 9 * 2.5 / 82.5, 1e-12);
    /* 2, 3, ..., 11: one request a second, growth 9 against a mean of 6.5
     * (0.25 × 6.5 = 1.625 allowed): grows. */
    CU_ASSERT_FALSE(metrics_backlog_steady(t, grow, 10, 0.25, &trend, &growth, &mean));
    CU_ASSERT_DOUBLE_EQUAL(trend, 1, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(growth, 9, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(mean, 6.5, 1e-12);
    /* With a tolerance of 1.5 (9.75 allowed) the same series passes. */
    CU_ASSERT_TRUE(metrics_backlog_steady(t, grow, 10, 1.5, &trend, &growth, &mean));
    /* Nine zeros then a 3: slope Sxy / Sxx = 13.5 / 82.5, growth 1.47 over a
     * mean of 0.3, but one burst is no trend: residual sum of squares
     * 8.1 - 13.5^2 / 82.5 = 5.891, slope error sqrt(5.891 / 8 / 82.5) =
     * 0.0945, t = 1.73 < t(0.01, 8 dof) = 2.90: steady. */
    double spike[10] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 3 };
    CU_ASSERT_TRUE(metrics_backlog_steady(t, spike, 10, 0.25, &trend, &growth, &mean));
    CU_ASSERT_DOUBLE_EQUAL(trend, 13.5 / 82.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.3, 1e-12);
    /* Too few samples to judge: steady. */
    CU_ASSERT_TRUE(metrics_backlog_steady(t, grow, METRICS_STEADY_MIN_SAMPLES - 1, 0.25, &trend, &growth, &mean));
}

/* Requests arriving every second (i s, i = 0..19, each a session's first
 * turn) and finishing every two (2i + 1 s): at arrival i the backlog is
 * floor(i/2) + 1. MSER cuts the first half; over i = 10..19 the backlog is
 * 6, 6, 7, 7, ..., 10, 10: mean 8, Sxy = 40, Sxx = 82.5, slope 40/82.5 per
 * second, growth 9 × 40/82.5 = 4.36 > 0.25 × 8. The summary says so. */
static void test_growing_backlog_reported(void)
{
    metrics *m = metrics_new(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    for (int i = 0; i < 20; i++) {
        metrics_req r;
        memset(&r, 0, sizeof r);
        r.id = r.session = i;
        r.outcome = REQ_COMPLETED;
        r.arrival_ns = r.first_sched_ns = r.first_token_ns = i * 1000 * MS;
        r.finish_ns = (2 * i + 1) * 1000 * MS;
        r.output_tokens = 1;
        CU_ASSERT_EQUAL(metrics_add_request(m, &r), 0);
    }
    metrics_slo none = { 0, 0, 0 };
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &none, &capex, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.steady.warmup_end_ns, 10000 * MS);
    CU_ASSERT_EQUAL(s.steady.window_end_ns, 19000 * MS);
    CU_ASSERT_EQUAL(s.steady.samples, 10);
    CU_ASSERT_DOUBLE_EQUAL(s.steady.backlog_mean, 8, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.steady.backlog_trend_per_s, 40 / 82.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s.steady.backlog_growth, 9 * 40 / 82.5, 1e-9);
    CU_ASSERT_FALSE(s.steady.steady);
    /* The run's JSON and database summary carry it. */
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(&s, f);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(f[i].name, "steady_state")) {
            CU_ASSERT_DOUBLE_EQUAL(f[i].value, 0, 0);
            found++;
        } else if (!strcmp(f[i].name, "backlog_at_end")) {
            CU_ASSERT_DOUBLE_EQUAL(f[i].value, 10, 0);
            found++;
        } else if (!strcmp(f[i].name, "warmup")) {
            CU_ASSERT_DOUBLE_EQUAL(f[i].value, 10, 1e-12);
            found++;
        }
    }
    CU_ASSERT_EQUAL(found, 3);
    metrics_free(m);
}

int main(void)
{
    static const tu_test tests[] = {
        { "counts, tokens and throughput", test_counts_and_tokens },
        { "TTFT, E2E, queue and TPOT quantiles", test_latency_distributions },
        { "SLO attainment and goodput", test_slo_and_goodput },
        { "the TPOT SLO uses the exact TPOT", test_tpot_slo_uses_exact_tpot },
        { "busy and effective utilization, MBU", test_utilization },
        { "cost per GPU-second", test_cost },
        { "ITL histogram quantiles", test_itl_histogram },
        { "metrics_check", test_check },
        { "summary fields", test_summary_fields },
        { "ITL gaps at bin edges land in their bins", test_itl_bins_at_edges },
        { "MSER warm-up truncation by hand", test_mser_truncation },
        { "a flat backlog is steady, a growing one is not", test_backlog_steady },
        { "a run whose backlog grows reports it", test_growing_backlog_reported },
        { NULL, NULL },
    };
    return tu_run("metrics", tests);
}
