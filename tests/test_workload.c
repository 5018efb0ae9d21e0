/* test_workload.c — distributions read from YAML (sample moments, clamping, located errors) and the synthetic session generator (config, determinism, arrival gaps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "conf.h"
#include "testutil.h"
#include "workload.h"

#define N_DRAWS 200000

static conf_node *parse(const char *text, kt_err *err)
{
    return conf_parse_string(text, strlen(text), "w.yaml", err);
}

/* Parses text (one mapping or scalar at the root) as a distribution. */
static int dist_of_text(const char *text, units_kind unit, dist *d, kt_err *err)
{
    conf_node *root = parse(text, err);
    if (!root)
        return -2;
    int rc = dist_from_conf(root, unit, d, err);
    conf_free(root);
    return rc;
}

/* Draws N_DRAWS samples (caller frees). */
static double *draw(const dist *d, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    double *x = malloc(N_DRAWS * sizeof *x);
    for (int i = 0; i < N_DRAWS; i++)
        x[i] = dist_sample(d, r);
    gsl_rng_free(r);
    return x;
}

/* The sample mean is within 5 standard errors (sd / sqrt(n)) of mean, and
 * the sample variance within 3% of sd^2 (when var_check). */
static void check_moments(const char *text, double mean, double sd, int var_check)
{
    kt_err err;
    dist d;
    int rc = dist_of_text(text, UNITS_TOKENS, &d, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s: %s\n", text, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_DOUBLE_EQUAL(d.mean, mean, 1e-9);
    double *x = draw(&d, 12345);
    double m = gsl_stats_mean(x, 1, N_DRAWS);
    double tol = 5 * sd / sqrt((double)N_DRAWS);
    if (fabs(m - mean) > tol)
        fprintf(stderr, "\n  %s: sample mean %g, want %g ± %g\n", text, m, mean, tol);
    CU_ASSERT(fabs(m - mean) <= tol);
    if (var_check) {
        double v = gsl_stats_variance_m(x, 1, N_DRAWS, m);
        if (fabs(v / (sd * sd) - 1) > 0.03)
            fprintf(stderr, "\n  %s: sample variance %g, want %g\n", text, v, sd * sd);
        CU_ASSERT(fabs(v / (sd * sd) - 1) <= 0.03);
    }
    free(x);
}

/* ---------- distributions ---------- */

static void test_exponential(void)
{
    /* sd = mean. */
    check_moments("dist: exponential\nmean: 100\n", 100, 100, 1);
}

static void test_lognormal(void)
{
    /* Parameterized by the mean: mu = ln(1000) - 1/2, sigma 1;
     * sd = mean * sqrt(e^{sigma^2} - 1) = 1000 * sqrt(e - 1) (the variance
     * of a lognormal has a heavy tail: only the mean is checked). */
    check_moments("dist: lognormal\nmean: 1000\nsigma: 1\n", 1000, 1000 * sqrt(M_E - 1), 0);

    /* The median is e^mu = 1000 e^{-1/2} = 606.53; its standard error is
     * 1 / (2 f(median) sqrt(n)) with f(median) = 1 / (median sigma sqrt(2 pi)). */
    kt_err err;
    dist d;
    CU_ASSERT_EQUAL_FATAL(dist_of_text("dist: lognormal\nmean: 1000\nsigma: 1\n", UNITS_TOKENS, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(d.sigma, 1.0, 1e-12);
    double *x = draw(&d, 777);
    gsl_sort(x, 1, N_DRAWS);
    double med = gsl_stats_median_from_sorted_data(x, 1, N_DRAWS);
    double want = 1000 * exp(-0.5);
    double se = want * 1.0 * sqrt(2 * M_PI) / (2 * sqrt((double)N_DRAWS));
    CU_ASSERT(fabs(med - want) <= 5 * se);
    free(x);
}

static void test_gamma(void)
{
    /* shape k = 2, scale mean/k = 25: sd = mean / sqrt(k). */
    check_moments("dist: gamma\nmean: 50\nshape: 2\n", 50, 50 / sqrt(2.0), 1);
}

static void test_poisson(void)
{
    /* sd = sqrt(mean). */
    check_moments("dist: poisson\nmean: 7\n", 7, sqrt(7.0), 1);
}

static void test_geometric(void)
{
    /* p = 1/mean = 0.25 on {1, 2, ...}: variance (1-p)/p^2 = 0.75 / 0.0625 = 12. */
    check_moments("dist: geometric\nmean: 4\n", 4, sqrt(12.0), 1);
}

static void test_uniform(void)
{
    /* [10, 30]: mean 20, sd = 20 / sqrt(12). */
    check_moments("dist: uniform\nmin: 10\nmax: 30\n", 20, 20 / sqrt(12.0), 1);
    kt_err err;
    dist d;
    CU_ASSERT_EQUAL(dist_of_text("dist: uniform\nmin: 10\nmax: 30\n", UNITS_TOKENS, &d, &err), 0);
    CU_ASSERT_EQUAL(d.kind, DIST_UNIFORM);
    CU_ASSERT_DOUBLE_EQUAL(d.lo, 10, 0);
    CU_ASSERT_DOUBLE_EQUAL(d.hi, 30, 0);
}

static void test_clamping(void)
{
    kt_err err;
    dist d;
    CU_ASSERT_EQUAL_FATAL(dist_of_text("dist: exponential\nmean: 100\nmin: 50\nmax: 150\n", UNITS_TOKENS, &d, &err), 0);
    double *x = draw(&d, 99);
    int out = 0;
    long at_lo = 0, at_hi = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        out |= x[i] < 50 || x[i] > 150;
        at_lo += x[i] == 50;
        at_hi += x[i] == 150;
    }
    CU_ASSERT_FALSE(out);
    /* P(X < 50) = 1 - e^{-1/2} = 0.393469, P(X > 150) = e^{-3/2} = 0.223130;
     * binomial standard error sqrt(p(1-p)/n) < 0.0011 -> 5 sigma < 0.0055. */
    CU_ASSERT_DOUBLE_EQUAL((double)at_lo / N_DRAWS, 1 - exp(-0.5), 0.0055);
    CU_ASSERT_DOUBLE_EQUAL((double)at_hi / N_DRAWS, exp(-1.5), 0.0055);
    /* E[clamp(X)] = 50 P(X<50) + [(a+m)e^{-a/m} - (b+m)e^{-b/m}] + 150 P(X>150)
     * = 50 (1 - e^{-0.5}) + 150 e^{-0.5} - 250 e^{-1.5} + 150 e^{-1.5}
     * = 50 + 100 e^{-0.5} - 100 e^{-1.5} = 88.3382; sd < 50 -> 5 SE < 0.56. */
    double want = 50 + 100 * exp(-0.5) - 100 * exp(-1.5);
    CU_ASSERT_DOUBLE_EQUAL(gsl_stats_mean(x, 1, N_DRAWS), want, 0.56);
    free(x);

    /* A constant outside the clamp is clamped too. */
    CU_ASSERT_EQUAL(dist_of_text("dist: constant\nvalue: 900\nmax: 800\n", UNITS_TOKENS, &d, &err), 0);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_DOUBLE_EQUAL(dist_sample(&d, r), 800, 0);
    gsl_rng_free(r);
}

static void test_constants(void)
{
    kt_err err;
    dist d;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_EQUAL(dist_of_text("500\n", UNITS_TOKENS, &d, &err), 0);
    CU_ASSERT_EQUAL(d.kind, DIST_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(d.mean, 500, 0);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_DOUBLE_EQUAL(dist_sample(&d, r), 500, 0);

    /* 30 s = 30e9 ns. */
    CU_ASSERT_EQUAL(dist_of_text("30s\n", UNITS_DURATION, &d, &err), 0);
    CU_ASSERT_EQUAL(d.kind, DIST_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(dist_sample(&d, r), 30e9, 0);

    /* 128K tokens = 128 * 1024 = 131072. */
    CU_ASSERT_EQUAL(dist_of_text("128K\n", UNITS_TOKENS, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(dist_sample(&d, r), 131072, 0);

    /* The mapping form names it "value". */
    CU_ASSERT_EQUAL(dist_of_text("dist: constant\nvalue: 7\n", UNITS_TOKENS, &d, &err), 0);
    CU_ASSERT_EQUAL(d.kind, DIST_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(dist_sample(&d, r), 7, 0);

    /* A duration without a unit is an error. */
    CU_ASSERT_EQUAL(dist_of_text("30\n", UNITS_DURATION, &d, &err), -1);
    CU_ASSERT_EQUAL(err.line, 1);
    CU_ASSERT_EQUAL(err.col, 1);
    gsl_rng_free(r);
}

/* Reads key of a parsed document as a distribution; expects failure at
 * line:col with a message containing want. */
static void expect_dist_error(const char *text, const char *key, units_kind unit, int line, int col,
                              const char *want)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    conf_node *root = parse(text, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    conf_node *n = conf_find(root, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    dist d;
    CU_ASSERT_EQUAL(dist_from_conf(n, unit, &d, &err), -1);
    CU_ASSERT_STRING_EQUAL(err.file, "w.yaml");
    CU_ASSERT_EQUAL(err.line, line);
    CU_ASSERT_EQUAL(err.col, col);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (err.line != line || err.col != col || !strstr(err.msg, want))
        fprintf(stderr, "\n  got %d:%d: %s (wanted %d:%d: %s)\n", err.line, err.col, err.msg, line, col, want);
    conf_free(root);
}

static void test_dist_errors(void)
{
    /* The mapping starts at its first key: line 3, column 3. */
    expect_dist_error("seed: 1\ninput_tokens:\n  dist: exponential\n  min: 10\n", "input_tokens", UNITS_TOKENS,
                      3, 3, "input_tokens: missing required key 'mean'");
    /* The bad name itself: line 2, after "  dist: " -> column 9. */
    expect_dist_error("output_tokens:\n  dist: weibull\n  mean: 10\n", "output_tokens", UNITS_TOKENS, 2, 9,
                      "'weibull' is not one of: constant, uniform, exponential");
    expect_dist_error("think_time:\n  dist: exponential\n  mean: 10s\n  min: 20s\n  max: 5s\n", "think_time",
                      UNITS_DURATION, 2, 3, "min is greater than max");
    /* A geometric mean below 1 (p = 1/mean > 1): rejected at the mapping. */
    expect_dist_error("turns:\n  dist: geometric\n  mean: 0.5ns\n", "turns", UNITS_DURATION, 2, 3,
                      "at least 1");
    /* The same as a count (a count's parameters need not be whole). */
    expect_dist_error("turns:\n  dist: geometric\n  mean: 0.5\n", "turns", UNITS_TOKENS, 2, 3,
                      "at least 1");
    /* A count suffix still has to give a whole count: 0.3K is 307.2. */
    expect_dist_error("x:\n  dist: exponential\n  mean: 0.3K\n", "x", UNITS_TOKENS, 3, 9, "whole number");
    expect_dist_error("x:\n  dist: exponential\n  mean: 0\n", "x", UNITS_TOKENS, 2, 3, "greater than 0");
    expect_dist_error("x:\n  dist: lognormal\n  mean: 10\n", "x", UNITS_TOKENS, 2, 3, "missing required key 'sigma'");
    expect_dist_error("x:\n  dist: gamma\n  mean: 10\n", "x", UNITS_TOKENS, 2, 3, "missing required key 'shape'");
    expect_dist_error("x:\n  dist: uniform\n  min: 1\n", "x", UNITS_TOKENS, 2, 3, "missing required key 'max'");
    expect_dist_error("x:\n  mean: 10\n", "x", UNITS_TOKENS, 2, 3, "missing required key 'dist'");
    expect_dist_error("x: [1, 2]\n", "x", UNITS_TOKENS, 1, 4, "x:");
    /* Past 1e12 tokens or 1e18 ns a draw would not round to an int64. */
    expect_dist_error("x: {dist: constant, value: 1000000000000000000000000000000}\n", "x", UNITS_TOKENS, 1, 28,
                      "out of range");
    expect_dist_error("x: {dist: exponential, mean: 100000000h}\n", "x", UNITS_DURATION, 1, 30, "out of range");
}

/* ---------- the synthetic workload ---------- */

static const char *full_yaml =
    "sessions: 1000\n"
    "arrival: {process: gamma, rate: 2/s, cv: 2}\n"
    "turns: {dist: geometric, mean: 4, max: 20}\n"
    "input_tokens: {dist: lognormal, mean: 500, sigma: 0.8, min: 1, max: 8K}\n"
    "output_tokens: {dist: gamma, mean: 200, shape: 2}\n"
    "think_time: {dist: exponential, mean: 30s}\n"
    "system_prompt_tokens: 2K\n"
    "first_input_tokens: {dist: uniform, min: 4K, max: 8K}\n";

static int load(const char *text, workload_cfg *w, kt_err *err)
{
    conf_node *root = parse(text, err);
    if (!root)
        return -2;
    int rc = workload_from_conf(root, w, err);
    if (rc == 0)
        rc = conf_check_unused(root, err);
    conf_free(root);
    return rc;
}

static void test_workload_from_conf(void)
{
    kt_err err;
    workload_cfg w;
    int rc = load(full_yaml, &w, &err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(w.sessions, 1000);
    CU_ASSERT_EQUAL(w.arrival, ARRIVAL_GAMMA);
    CU_ASSERT_DOUBLE_EQUAL(w.rate_per_s, 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.burst_cv, 2, 0);
    CU_ASSERT_EQUAL(w.turns.kind, DIST_GEOMETRIC);
    CU_ASSERT_DOUBLE_EQUAL(w.turns.mean, 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.turns.hi, 20, 0);
    CU_ASSERT_EQUAL(w.input_tokens.kind, DIST_LOGNORMAL);
    CU_ASSERT_DOUBLE_EQUAL(w.input_tokens.mean, 500, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.input_tokens.sigma, 0.8, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(w.input_tokens.lo, 1, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.input_tokens.hi, 8192, 0);      /* 8K = 8 * 1024 */
    CU_ASSERT_EQUAL(w.output_tokens.kind, DIST_GAMMA);
    CU_ASSERT_DOUBLE_EQUAL(w.output_tokens.mean, 200, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.output_tokens.shape, 2, 0);
    CU_ASSERT_EQUAL(w.think_ns.kind, DIST_EXPONENTIAL);
    CU_ASSERT_DOUBLE_EQUAL(w.think_ns.mean, 30e9, 0);        /* 30 s in ns */
    CU_ASSERT_EQUAL(w.system_prompt_tokens, 2048);          /* 2K */
    CU_ASSERT_TRUE(w.has_first_input);
    CU_ASSERT_EQUAL(w.first_input_tokens.kind, DIST_UNIFORM);
    CU_ASSERT_DOUBLE_EQUAL(w.first_input_tokens.mean, 6144, 0); /* (4096 + 8192) / 2 */

    /* Defaults: Poisson arrivals, cv 1, no think time, no system prompt. */
    rc = load("sessions: 5\narrival: {rate: 30/min}\nturns: 1\ninput_tokens: 100\noutput_tokens: 10\n", &w, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(w.arrival, ARRIVAL_POISSON);
    CU_ASSERT_DOUBLE_EQUAL(w.rate_per_s, 0.5, 1e-12);       /* 30 per 60 s */
    CU_ASSERT_DOUBLE_EQUAL(w.burst_cv, 1, 0);
    CU_ASSERT_EQUAL(w.think_ns.kind, DIST_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(w.think_ns.mean, 0, 0);
    CU_ASSERT_EQUAL(w.system_prompt_tokens, 0);
    CU_ASSERT_FALSE(w.has_first_input);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    workload_turn t;
    workload_turn_draw(&w, 3, 0, r, &t);
    CU_ASSERT_EQUAL(t.new_tokens, 100);
    CU_ASSERT_EQUAL(t.output_tokens, 10);
    CU_ASSERT_EQUAL(t.think_ns, 0);
    CU_ASSERT_EQUAL(workload_session_turns(&w, 3, r), 1);
    gsl_rng_free(r);

    /* Errors are located. */
    CU_ASSERT_EQUAL(load("sessions: 5\nturns: 1\ninput_tokens: 100\noutput_tokens: 10\n", &w, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing required key 'arrival'"));
    CU_ASSERT_EQUAL(load("sessions: 5\narrival: {rate: 2}\nturns: 1\ninput_tokens: 100\noutput_tokens: 10\n", &w,
                         &err), -1);
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_EQUAL(err.col, 17);                           /* "arrival: {rate: " is 16 characters */
    CU_ASSERT_EQUAL(load("sessions: 5\narrival: {rate: 2/s}\nturns: 1\ninput_tokens: 100\n", &w, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing required key 'output_tokens'"));
    /* An unknown key is left for conf_check_unused to report. */
    CU_ASSERT_EQUAL(load("sessions: 5\narrival: {rate: 2/s}\nturns: 1\ninput_tokens: 100\noutput_tokens: 10\n"
                         "think: 3s\n", &w, &err), -1);
    CU_ASSERT_EQUAL(err.line, 6);
}

#define DS 20
#define DT 5

static void test_turn_draws_deterministic(void)
{
    kt_err err;
    workload_cfg w;
    CU_ASSERT_EQUAL_FATAL(load(full_yaml, &w, &err), 0);
    w.seed = 42;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    workload_turn fwd[DS][DT], rev[DS][DT];
    int turns_fwd[DS];
    for (int s = 0; s < DS; s++) {
        turns_fwd[s] = workload_session_turns(&w, (uint64_t)s, r);
        for (int t = 0; t < DT; t++)
            workload_turn_draw(&w, (uint64_t)s, t, r, &fwd[s][t]);
    }
    /* Again in reverse order, with unrelated use of the scratch stream. */
    int same = 1;
    for (int s = DS - 1; s >= 0; s--)
        for (int t = DT - 1; t >= 0; t--) {
            for (int i = 0; i < s + t; i++)
                gsl_rng_get(r);
            workload_turn_draw(&w, (uint64_t)s, t, r, &rev[s][t]);
            same &= rev[s][t].new_tokens == fwd[s][t].new_tokens &&
                    rev[s][t].output_tokens == fwd[s][t].output_tokens && rev[s][t].think_ns == fwd[s][t].think_ns;
            same &= workload_session_turns(&w, (uint64_t)s, r) == turns_fwd[s];
        }
    CU_ASSERT_TRUE(same);

    /* Every (session, turn) draws differently: think times are continuous
     * (exponential, mean 30 s, in ns), so no two of the 100 agree. */
    int distinct = 1, in_range = 1;
    for (int a = 0; a < DS * DT; a++) {
        const workload_turn *x = &fwd[a / DT][a % DT];
        for (int b = a + 1; b < DS * DT; b++)
            distinct &= x->think_ns != fwd[b / DT][b % DT].think_ns;
        /* Turn 0 draws from first_input_tokens (uniform 4K..8K), later ones
         * from input_tokens (clamped to [1, 8K]). */
        if (a % DT == 0)
            in_range &= x->new_tokens >= 4096 && x->new_tokens <= 8192;
        else
            in_range &= x->new_tokens >= 1 && x->new_tokens <= 8192;
        in_range &= x->output_tokens >= 1 && x->think_ns >= 0;
    }
    CU_ASSERT_TRUE(distinct);
    CU_ASSERT_TRUE(in_range);
    for (int s = 0; s < DS; s++)
        CU_ASSERT(turns_fwd[s] >= 1 && turns_fwd[s] <= 20);

    /* Another seed, other draws (and content ids). */
    workload_cfg w2 = w;
    w2.seed = 43;
    int differ = 0;
    for (int s = 0; s < DS; s++) {
        workload_turn t2;
        workload_turn_draw(&w2, (uint64_t)s, 1, r, &t2);
        differ += t2.think_ns != fwd[s][1].think_ns;
    }
    CU_ASSERT_EQUAL(differ, DS);
    CU_ASSERT_NOT_EQUAL(workload_system_content_id(&w), workload_system_content_id(&w2));
    CU_ASSERT_NOT_EQUAL(workload_session_content_id(&w, 1), workload_session_content_id(&w2, 1));
    CU_ASSERT_NOT_EQUAL(workload_session_content_id(&w, 1), workload_session_content_id(&w, 2));
    CU_ASSERT_NOT_EQUAL(workload_session_content_id(&w, 0), workload_system_content_id(&w));
    CU_ASSERT_EQUAL(workload_session_content_id(&w, 7), workload_session_content_id(&w, 7));
    gsl_rng_free(r);
}

/* Per-session turn counts follow the configured distribution across
 * sessions: geometric mean 4 clamped to 20 has mean
 * sum_{k=0}^{19} P(G > k) = sum 0.75^k = 4 (1 - 0.75^20) = 3.98732. */
static void test_session_turns_distribution(void)
{
    kt_err err;
    workload_cfg w;
    CU_ASSERT_EQUAL_FATAL(load(full_yaml, &w, &err), 0);
    w.seed = 7;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    const int n = 100000;
    double sum = 0;
    for (int s = 0; s < n; s++)
        sum += workload_session_turns(&w, (uint64_t)s, r);
    /* sd <= sqrt(12) = 3.46 -> 5 SE <= 0.055 */
    CU_ASSERT_DOUBLE_EQUAL(sum / n, 4 * (1 - pow(0.75, 20)), 0.055);
    gsl_rng_free(r);
}

/* Mean and coefficient of variation of N_DRAWS arrival gaps. */
static void gap_stats(const workload_cfg *w, double *mean, double *cv)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2024);
    double *g = malloc(N_DRAWS * sizeof *g);
    for (int i = 0; i < N_DRAWS; i++)
        g[i] = (double)workload_next_gap_ns(w, r);
    *mean = gsl_stats_mean(g, 1, N_DRAWS);
    *cv = gsl_stats_sd_m(g, 1, N_DRAWS, *mean) / *mean;
    free(g);
    gsl_rng_free(r);
}

static void test_arrival_gaps(void)
{
    kt_err err;
    workload_cfg w;
    CU_ASSERT_EQUAL_FATAL(load("sessions: 5\narrival: {process: poisson, rate: 2/s}\nturns: 1\n"
                               "input_tokens: 100\noutput_tokens: 10\n", &w, &err), 0);
    double mean, cv;
    gap_stats(&w, &mean, &cv);
    /* Exponential gaps, mean 1/rate = 0.5 s = 5e8 ns, sd the same:
     * 5 SE = 5 * 5e8 / sqrt(200000) = 5.59e6 ns. */
    CU_ASSERT_DOUBLE_EQUAL(mean, 5e8, 5 * 5e8 / sqrt((double)N_DRAWS));
    CU_ASSERT_DOUBLE_EQUAL(cv, 1.0, 0.03);

    CU_ASSERT_EQUAL_FATAL(load("sessions: 5\narrival: {process: gamma, rate: 2/s, cv: 2}\nturns: 1\n"
                               "input_tokens: 100\noutput_tokens: 10\n", &w, &err), 0);
    gap_stats(&w, &mean, &cv);
    /* Gamma gaps: same mean, sd = cv * mean = 1e9 -> 5 SE = 1.118e7 ns. */
    CU_ASSERT_DOUBLE_EQUAL(mean, 5e8, 5 * 1e9 / sqrt((double)N_DRAWS));
    CU_ASSERT_DOUBLE_EQUAL(cv, 2.0, 2.0 * 0.03);

    /* Smoother than Poisson: cv 0.5. */
    CU_ASSERT_EQUAL_FATAL(load("sessions: 5\narrival: {process: gamma, rate: 2/s, cv: 0.5}\nturns: 1\n"
                               "input_tokens: 100\noutput_tokens: 10\n", &w, &err), 0);
    gap_stats(&w, &mean, &cv);
    CU_ASSERT_DOUBLE_EQUAL(mean, 5e8, 5 * 0.5 * 5e8 / sqrt((double)N_DRAWS));
    CU_ASSERT_DOUBLE_EQUAL(cv, 0.5, 0.5 * 0.03);
}

int main(void)
{
    static const tu_test tests[] = {
        { "exponential mean and variance", test_exponential },
        { "lognormal parameterized by its mean", test_lognormal },
        { "gamma mean and variance", test_gamma },
        { "poisson mean and variance", test_poisson },
        { "geometric mean and variance", test_geometric },
        { "uniform mean and variance", test_uniform },
        { "samples are clamped to [min, max]", test_clamping },
        { "constants from plain scalars", test_constants },
        { "distribution errors carry line:col", test_dist_errors },
        { "workload_from_conf reads a full mapping", test_workload_from_conf },
        { "turn draws are deterministic per (session, turn)", test_turn_draws_deterministic },
        { "session turn counts follow their distribution", test_session_turns_distribution },
        { "arrival gaps: mean 1/rate and configured cv", test_arrival_gaps },
        { NULL, NULL },
    };
    return tu_run("workload", tests);
}
