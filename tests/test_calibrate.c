/* test_calibrate.c — calibration without a GPU: fits with known answers, log-space efficiency tables, the SQLite sample store, and a calibrated profile written from a fixture and loaded back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calib_attn_ref.h"
#include "calib_attn_work.h"
#include "calib_db.h"
#include "calib_derive.h"
#include "calib_efftab.h"
#include "calib_fit.h"
#include "calib_plan.h"
#include "calib_split.h"
#include "calib_stats.h"
#include "calib_write.h"
#include "hw.h"
#include "testutil.h"

#define KIB 1024.0
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)

/* |actual - expected| <= rel × |expected| */
#define ASSERT_REL(actual, expected, rel) \
    CU_ASSERT_DOUBLE_EQUAL((actual), (expected), fabs((double)(expected)) * (rel))

/* The example: 8 us + bytes / 50 GB/s. */
#define EX_LATENCY_NS 8000.0
#define EX_BW_BPS 50e9
/* Host copy sweep: 4 KiB .. 1 GiB in powers of two (19 sizes). */
#define EX_MIN_BYTES (4 * KIB)
#define EX_MAX_BYTES GIB

static const char *const fixture = "tests/data/calibrate/h100-fixture.sql";
static const char *const fixture_failed = "tests/data/calibrate/h100-fixture-failed.sql";
static const char *const base_profile = "hwprofiles/h100-sxm.yaml";

/* A temp file path under $TMPDIR (created empty, so the name is ours). */
static void temp_path(char *buf, size_t n, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/kvtier-test-calib-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    int fd = mkstemp(buf);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
}

/* Deterministic relative noise in [-2%, +2%]: -2, -1, 0, +1, +2 % by i mod 5. */
static double noise(size_t i) { return 1.0 + 0.01 * ((double)(i % 5) - 2.0); }

/* ---------- statistics ---------- */

static void test_summary(void)
{
    const double x[] = { 9, 1, 5, 3, 7, 11, 13 };   /* sorted: 1 3 5 7 9 11 13 */
    calib_summary s;
    CU_ASSERT_EQUAL_FATAL(calib_summarize(x, 7, &s), 0);
    CU_ASSERT_EQUAL(s.n, 7u);
    CU_ASSERT_DOUBLE_EQUAL(s.median, 7, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.q1, 4, 1e-12);           /* 1 + 0.25 × 6 = rank 1.5: (3 + 5) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(s.q3, 10, 1e-12);          /* rank 4.5: (9 + 11) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(s.iqr, 6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.min, 1, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.max, 13, 0);
    CU_ASSERT_DOUBLE_EQUAL(x[0], 9, 0);               /* input untouched */
    const double bad[] = { 1, NAN };
    CU_ASSERT_EQUAL(calib_summarize(bad, 2, &s), -1);
    CU_ASSERT_EQUAL(calib_summarize(x, 0, &s), -1);
}

/* ---------- latency + bytes / bandwidth fits ---------- */

/* Fills bytes[] with the host sweep and t[] with the example's times,
 * scaled by noise when noisy; returns the count. */
static size_t example_points(double *bytes, double *t, size_t cap, int noisy)
{
    size_t n = 0;
    for (double b = EX_MIN_BYTES; b <= EX_MAX_BYTES && n < cap; b *= 2, n++) {
        bytes[n] = b;
        t[n] = (EX_LATENCY_NS + b / EX_BW_BPS * 1e9) * (noisy ? noise(n) : 1.0);
    }
    return n;
}

static void test_fit_exact(void)
{
    double bytes[32], t[32];
    size_t n = example_points(bytes, t, 32, 0);
    CU_ASSERT_EQUAL(n, 19u);
    calib_fit f;
    CU_ASSERT_EQUAL_FATAL(calib_fit_latency_rate(bytes, t, n, &f), 0);
    ASSERT_REL(f.latency_ns, EX_LATENCY_NS, 1e-9);
    ASSERT_REL(f.rate_per_s, EX_BW_BPS, 1e-9);
    CU_ASSERT(f.residual < 1e-12);
    CU_ASSERT_EQUAL(f.n_points, n);
}

/* ±2% noise on every point: both parameters come back within 2%, and the
 * residual reports the scatter (RMS of the -2..+2 % pattern is 1.41%). */
static void test_fit_noisy(void)
{
    double bytes[32], t[32];
    size_t n = example_points(bytes, t, 32, 1);
    calib_fit f;
    CU_ASSERT_EQUAL_FATAL(calib_fit_latency_rate(bytes, t, n, &f), 0);
    ASSERT_REL(f.latency_ns, EX_LATENCY_NS, 0.02);
    ASSERT_REL(f.rate_per_s, EX_BW_BPS, 0.02);
    CU_ASSERT(f.residual > 0.005 && f.residual < 0.02);
    CU_ASSERT(f.latency_sd_ns > 0 && f.latency_sd_ns < 0.05 * EX_LATENCY_NS);
    CU_ASSERT(f.ns_per_unit_sd > 0 && f.ns_per_unit_sd < 0.05 * f.ns_per_unit);
}

/* Relative weights: an unweighted fit would let the 1 GiB point's 2% (0.4 ms)
 * swamp the 8 us latency; the weighted one still finds it. */
static void test_fit_relative_weighting(void)
{
    double bytes[32], t[32];
    size_t n = example_points(bytes, t, 32, 0);
    t[n - 1] *= 1.02;
    calib_fit f;
    CU_ASSERT_EQUAL_FATAL(calib_fit_latency_rate(bytes, t, n, &f), 0);
    ASSERT_REL(f.latency_ns, EX_LATENCY_NS, 0.01);
    ASSERT_REL(f.rate_per_s, EX_BW_BPS, 0.02);
}

static void test_fit_points_and_rejects(void)
{
    calib_point p[] = {
        { 1 * MIB, 1 * MIB, EX_LATENCY_NS + MIB / EX_BW_BPS * 1e9, 0, 7 },
        { 1 * GIB, 1 * GIB, EX_LATENCY_NS + GIB / EX_BW_BPS * 1e9, 0, 7 },
    };
    calib_fit f;
    CU_ASSERT_EQUAL_FATAL(calib_fit_points(p, 2, &f), 0);
    ASSERT_REL(f.rate_per_s, EX_BW_BPS, 1e-9);
    ASSERT_REL(f.latency_ns, EX_LATENCY_NS, 1e-6);
    CU_ASSERT_EQUAL(calib_fit_points(p, 1, &f), -1);            /* one point: no line */
    const double same_x[] = { 4096, 4096, 4096 }, t[] = { 1, 2, 3 };
    CU_ASSERT_EQUAL(calib_fit_latency_rate(same_x, t, 3, &f), -1);
    const double x[] = { 1, 2, 3 }, t0[] = { 1, 0, 3 };
    CU_ASSERT_EQUAL(calib_fit_latency_rate(x, t0, 3, &f), -1); /* t must be > 0 */
}

/* ---------- efficiency tables ---------- */

/* Points (1, 0.1), (16, 0.5), (256, 0.9): linear in log x, so x = 4 lies a
 * half of the way from 1 to 16 (log 4 / log 16 = 0.5) -> 0.3; x = 64 is
 * half-way from 16 to 256 -> 0.7; x = 2: log 2 / log 16 = 0.25 -> 0.2. */
static void test_efftab_log_interpolation(void)
{
    calib_efftab t;
    calib_efftab_init(&t, "gemm");
    const double x[] = { 256, 1, 16 }, eff[] = { 0.9, 0.1, 0.5 };   /* any order */
    CU_ASSERT_EQUAL_FATAL(calib_efftab_add(&t, "bf16/n=1/k=1", x, eff, 3), 0);
    const calib_curve *c = calib_efftab_find(&t, "bf16/n=1/k=1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 4), 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 64), 0.7, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 2), 0.2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 16), 0.5, 1e-12);   /* a measured point */
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 0.25), 0.1, 0);     /* clamped, not extrapolated */
    CU_ASSERT_DOUBLE_EQUAL(calib_curve_eval(c, 1e6), 0.9, 0);
    CU_ASSERT(isnan(calib_curve_eval(c, 0)));

    /* A second and third curve; the median at x = 4 over bf16 curves is
     * the middle of 0.3, 0.4 (constant) and 0.6. */
    const double one_x[] = { 8 }, one_eff[] = { 0.4 };
    const double lin_x[] = { 1, 16 }, lin_eff[] = { 0.4, 0.8 };
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "bf16/n=2/k=2", one_x, one_eff, 1), 0);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "bf16/n=3/k=3", lin_x, lin_eff, 2), 0);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "fp8/n=3/k=3", lin_x, one_eff, 1), 0);
    size_t used;
    const char *const bf16[] = { "bf16/", NULL };
    CU_ASSERT_DOUBLE_EQUAL(calib_efftab_median_at(&t, 4, bf16, &used), 0.4, 1e-12);
    CU_ASSERT_EQUAL(used, 3u);
    const char *const n3[] = { "n=3", NULL };
    CU_ASSERT_DOUBLE_EQUAL(calib_efftab_median_at(&t, 4, n3, &used), (0.6 + 0.4) / 2, 1e-12);
    CU_ASSERT_EQUAL(used, 2u);
    const char *const none[] = { "fp4/", NULL };
    CU_ASSERT(isnan(calib_efftab_median_at(&t, 4, none, &used)));
    CU_ASSERT_EQUAL(used, 0u);
    calib_efftab_free(&t);
}

/* Pooling by hand: (1, 0.2), (1, 0.4), (1, 0.3) share the bin of 2^0:
 * median 0.3, spread sqrt((1/3)^2 · 2 / 3) = 0.2722; 3 and 4 round to the
 * bin of 2^2 (log2 3 = 1.58): median (0.5 + 0.7) / 2 = 0.6 at x = sqrt 12;
 * 1024 alone. With room for two points the bins widen: width 2 and 4 still
 * give three (1024 is 2^10), width 8 puts 1 .. 4 in one bin (median of
 * 0.2 0.3 0.4 0.5 0.7 = 0.4 at x = 12^(1/5)) and 1024 in the other. */
static void test_effpts_pool(void)
{
    const calib_effpt pts[] = { { 4, 0.7, 7 }, { 1, 0.2, 7 }, { 1024, 0.9, 11 }, { 1, 0.4, 7 },
                                { 3, 0.5, 7 }, { 1, 0.3, 7 } };
    calib_pooled out[3];
    CU_ASSERT_EQUAL_FATAL(calib_effpts_pool(pts, 6, 3, out), 3u);
    CU_ASSERT_DOUBLE_EQUAL(out[0].x, 1, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(out[0].eff, 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(out[0].residual, sqrt(2.0 / 27.0), 1e-12);
    CU_ASSERT_EQUAL(out[0].n_values, 3u);
    CU_ASSERT_EQUAL(out[0].samples, 21u);
    CU_ASSERT_DOUBLE_EQUAL(out[1].x, sqrt(12.0), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(out[1].eff, 0.6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(out[2].x, 1024, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(out[2].residual, 0, 0);
    CU_ASSERT_EQUAL(out[2].samples, 11u);
    CU_ASSERT_EQUAL_FATAL(calib_effpts_pool(pts, 6, 2, out), 2u);
    CU_ASSERT_DOUBLE_EQUAL(out[0].eff, 0.4, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(out[0].x, pow(12.0, 0.2), 1e-12);
    CU_ASSERT_EQUAL(out[0].n_values, 5u);
    CU_ASSERT_DOUBLE_EQUAL(out[1].eff, 0.9, 0);
    const calib_effpt bad[] = { { 0, 0.5, 7 } };
    CU_ASSERT_EQUAL(calib_effpts_pool(bad, 1, 3, out), 0u);
    CU_ASSERT_EQUAL(calib_effpts_pool(pts, 0, 3, out), 0u);
}

static void test_efftab_rejects(void)
{
    calib_efftab t;
    calib_efftab_init(&t, "decode");
    const double x[] = { 1, 2 }, dup_x[] = { 2, 2 }, eff[] = { 0.5, 0.6 };
    const double bad_x[] = { 0, 2 }, nan_eff[] = { 0.5, NAN };
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", dup_x, eff, 2), -1);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", bad_x, eff, 2), -1);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", x, nan_eff, 2), -1);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", x, eff, 0), -1);
    CU_ASSERT_EQUAL(t.n, 0u);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", x, eff, 2), 0);
    CU_ASSERT_EQUAL(calib_efftab_add(&t, "a", x, eff, 2), -1);        /* duplicate label */
    CU_ASSERT_EQUAL(t.n, 1u);
    calib_efftab_free(&t);
    CU_ASSERT_EQUAL(t.n, 0u);
}

/* ---------- paged attention reference ---------- */

/* One sequence, one KV head, head dim 2, pages of 2 tokens (table [1, 0]:
 * tokens 0-1 in page 1, token 2 in page 0). q = (sqrt 2 · ln 3, 0) and
 * K = (1, 0), (0, 0), (0, 0): scores ln 3, 0, 0 after the 1/sqrt(2) scale,
 * so weights 3/5, 1/5, 1/5. */
static void test_attn_ref_by_hand(void)
{
    calib_attn_shape s = { 1, 1, 1, 2, 2, 2, 2 };
    const float q[] = { (float)(sqrt(2.0) * log(3.0)), 0 };
    /* pool [page][head][slot][dim]: page 0 holds token 2 (and an unused slot) */
    const float k[] = { 0, 0, 9, 9, /* page 1: */ 1, 0, 0, 0 };
    const float v[] = { 5, -5, 9, 9, /* page 1: */ 10, 0, 0, 10 };
    const int32_t bt[] = { 1, 0 }, ctx[] = { 3 };
    float out[2];
    CU_ASSERT_EQUAL_FATAL(calib_paged_attn_ref(&s, q, k, v, bt, ctx, out), 0);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 0.6 * 10 + 0.2 * 0 + 0.2 * 5, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 0.6 * 0 + 0.2 * 10 + 0.2 * -5, 1e-5);
}

/* GQA: query heads 0 and 1 share KV head 0; one token gives back its V;
 * a context of 0 gives zeros; a page outside the pool is refused. */
static void test_attn_ref_gqa_and_edges(void)
{
    calib_attn_shape s = { 2, 1, 2, 2, 4, 1, 2 };
    const float q[] = { 1, 2, -3, 4, /* sequence 1: */ 1, 1, 1, 1 };
    float k[2 * 4 * 2], v[2 * 4 * 2];
    for (int i = 0; i < 16; i++) {
        k[i] = 0.1f * (float)i;
        v[i] = (float)i;
    }
    const int32_t bt[] = { 1, 0 }, ctx[] = { 1, 0 };
    float out[8];
    CU_ASSERT_EQUAL_FATAL(calib_paged_attn_ref(&s, q, k, v, bt, ctx, out), 0);
    for (int qh = 0; qh < 2; qh++) {                    /* token 0 of page 1: v[8], v[9] */
        CU_ASSERT_DOUBLE_EQUAL(out[qh * 2], 8, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(out[qh * 2 + 1], 9, 1e-6);
    }
    for (int i = 4; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(out[i], 0, 0);
    const int32_t bad_bt[] = { 2, 0 };
    CU_ASSERT_EQUAL(calib_paged_attn_ref(&s, q, k, v, bad_bt, ctx, out), -1);
    const int32_t long_ctx[] = { 5, 0 };                /* more than one page of 4 */
    CU_ASSERT_EQUAL(calib_paged_attn_ref(&s, q, k, v, bt, long_ctx, out), -1);
}

/* The indirection changes where tokens live, not the result: a shuffled
 * table over a permuted pool equals the identity table over the original. */
static void test_attn_ref_shuffle_invariant(void)
{
    enum { B = 2, H = 2, G = 4, D = 8, P = 4, PAGES = 3 };
    calib_attn_shape s = { B, H, G, D, P, PAGES, B * PAGES };
    static float q[B * H * G * D], k[B * PAGES * H * P * D], v[B * PAGES * H * P * D];
    static float k2[B * PAGES * H * P * D], v2[B * PAGES * H * P * D], o1[B * H * G * D], o2[B * H * G * D];
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        q[i] = (float)sin(0.7 * (double)i);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        k[i] = (float)cos(0.3 * (double)i);
        v[i] = (float)sin(0.11 * (double)i + 1);
    }
    const int32_t ident[] = { 0, 1, 2, 3, 4, 5 }, perm[] = { 4, 0, 5, 2, 1, 3 };
    const int32_t ctx[] = { 11, 7 };
    const size_t page = (size_t)H * P * D;
    for (int i = 0; i < B * PAGES; i++) {                /* logical page i goes to pool slot perm[i] */
        memcpy(k2 + (size_t)perm[i] * page, k + (size_t)ident[i] * page, page * sizeof(float));
        memcpy(v2 + (size_t)perm[i] * page, v + (size_t)ident[i] * page, page * sizeof(float));
    }
    CU_ASSERT_EQUAL_FATAL(calib_paged_attn_ref(&s, q, k, v, ident, ctx, o1), 0);
    CU_ASSERT_EQUAL_FATAL(calib_paged_attn_ref(&s, q, k2, v2, perm, ctx, o2), 0);
    for (size_t i = 0; i < sizeof o1 / sizeof o1[0]; i++)
        CU_ASSERT_DOUBLE_EQUAL(o1[i], o2[i], 0);
}


/* The decode kernel's split grid, worked by hand (calib_split.h's rule) on
 * an H100's 132 SMs, mostly with 4 blocks per SM: one wave is 528 blocks. */
static void test_split_plan_by_hand(void)
{
    static const struct {
        int batch, kv_heads, ctx, per_sm, sms;
        int splits, tokens_per_split;
    } cases[] = {
        /* floor(528 / 8) = 66 splits; ceil(131072 / 66) = 1986 tokens, up to
         * whole tiles of 64: 2048; 131072 / 2048 = 64 splits, 512 blocks. */
        { 1, 8, 131072, 4, 132, 64, 2048 },
        /* 256 blocks a split: floor(528 / 256) = 2 splits of 2048. */
        { 32, 8, 4096, 4, 132, 2, 2048 },
        /* 512 blocks fill all but 16 of the wave: one split, the whole context. */
        { 64, 8, 4096, 4, 132, 1, 4096 },
        /* 1024 blocks, over a wave already: one split of ceil(1000 / 64) = 16 tiles. */
        { 128, 8, 1000, 4, 132, 1, 1024 },
        /* 66 splits wanted, but 100 tokens are two tiles. */
        { 1, 8, 100, 4, 132, 2, 64 },
        /* 2 blocks per SM halve the wave: 264 / 8 = 33 splits; ceil(131072 /
         * 33) = 3972 -> 4032 (63 tiles); ceil(131072 / 4032) = 33 splits. */
        { 1, 8, 131072, 2, 132, 33, 4032 },
        /* Occupancy 0 (a query that failed) counts as 1; an empty context as one tile. */
        { 1, 1, 0, 0, 0, 1, 64 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tps = 0;
        int splits = calib_split_plan(cases[i].batch, cases[i].kv_heads, cases[i].ctx, cases[i].per_sm,
                                      cases[i].sms, 64, &tps);
        CU_ASSERT_EQUAL(splits, cases[i].splits);
        CU_ASSERT_EQUAL(tps, cases[i].tokens_per_split);
        if (splits != cases[i].splits || tps != cases[i].tokens_per_split)
            fprintf(stderr, "\n  case %zu: %d splits of %d tokens\n", i, splits, tps);
    }
}


/* ---------- SQLite sample store ---------- */

static calib_run_info sample_run(void)
{
    calib_run_info r;
    memset(&r, 0, sizeof r);
    snprintf(r.started_utc, sizeof r.started_utc, "2025-02-03T04:05:06Z");
    snprintf(r.tool_version, sizeof r.tool_version, "0.1.0");
    snprintf(r.host, sizeof r.host, "node17");
    snprintf(r.options, sizeof r.options, "kvtier-calibrate --bench hbm");
    snprintf(r.gpu_name, sizeof r.gpu_name, "NVIDIA H100 80GB HBM3");
    snprintf(r.pci_bus_id, sizeof r.pci_bus_id, "00000000:18:00.0");
    r.gpu_count = 8;
    r.cc_major = 9;
    r.driver_version = 13000;
    r.runtime_version = 13000;
    r.sm_count = 132;
    r.l2_bytes = 50 * MIB;
    r.smem_per_sm_bytes = 228 * KIB;
    r.hbm_bytes = 85520809984.0;
    r.sm_clock_mhz = 1980;
    r.mem_clock_mhz = 2619;
    r.sm_clock_max_mhz = 1980;
    r.mem_clock_max_mhz = 2619;
    r.power_limit_w = 700;
    return r;
}

/* A private in-memory sample database holding sample_run() as *run. */
static calib_db *db_with_run(int64_t *run)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    calib_run_info ri = sample_run();
    CU_ASSERT_EQUAL_FATAL(calib_db_add_run(db, &ri, run, &err), 0);
    return db;
}

static void test_db_round_trip(void)
{
    char path[4096];
    temp_path(path, sizeof path, "db");
    kt_err err = { 0 };
    calib_db *db = calib_db_open(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    calib_run_info in = sample_run(), out;
    int64_t run = 0, latest = 0;
    CU_ASSERT_EQUAL_FATAL(calib_db_add_run(db, &in, &run, &err), 0);
    const double a[] = { 30, 10, 20, 50, 40, 60, 70 }, b[] = { 5, 4, 3, 2, 1, 6, 7 };
    CU_ASSERT_EQUAL(calib_db_begin(db, &err), 0);
    CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "hbm", "read", 2 * MIB, 2 * MIB, a, 7, &err), 0);
    CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "hbm", "read", 1 * MIB, 1 * MIB, b, 7, &err), 0);
    CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "hbm", "copy", 1 * MIB, 2 * MIB, b, 7, &err), 0);
    CU_ASSERT_EQUAL(calib_db_commit(db, &err), 0);
    /* The same (run, bench, case, x, rep) twice is refused. */
    CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "hbm", "read", 1 * MIB, 1 * MIB, b, 1, &err), -1);
    calib_db_close(db);

    db = calib_db_open(path, &err);                     /* reopen: it is all on disk */
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(calib_db_latest_run(db, &latest, &err), 0);
    CU_ASSERT_EQUAL(latest, run);
    CU_ASSERT_EQUAL_FATAL(calib_db_run_info(db, run, &out, &err), 0);
    CU_ASSERT_STRING_EQUAL(out.gpu_name, in.gpu_name);
    CU_ASSERT_STRING_EQUAL(out.started_utc, in.started_utc);
    CU_ASSERT_STRING_EQUAL(out.options, in.options);
    CU_ASSERT_STRING_EQUAL(out.pci_bus_id, in.pci_bus_id);
    CU_ASSERT_EQUAL(out.sm_count, 132);
    CU_ASSERT_EQUAL(out.gpu_count, 8);
    CU_ASSERT_EQUAL(out.driver_version, 13000);
    CU_ASSERT_DOUBLE_EQUAL(out.hbm_bytes, in.hbm_bytes, 0);
    CU_ASSERT_DOUBLE_EQUAL(out.sm_clock_mhz, 1980, 0);
    CU_ASSERT_DOUBLE_EQUAL(out.power_limit_w, 700, 0);

    double *x, *work, *ns;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(calib_db_samples(db, run, "hbm", "read", &x, &work, &ns, &n, &err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 14u);
    for (size_t i = 0; i < 7; i++) {                     /* ordered by x, then repetition */
        CU_ASSERT_DOUBLE_EQUAL(x[i], 1 * MIB, 0);
        CU_ASSERT_DOUBLE_EQUAL(ns[i], b[i], 0);
        CU_ASSERT_DOUBLE_EQUAL(x[7 + i], 2 * MIB, 0);
        CU_ASSERT_DOUBLE_EQUAL(ns[7 + i], a[i], 0);
    }
    free(x);
    free(work);
    free(ns);

    calib_point *p;
    CU_ASSERT_EQUAL_FATAL(calib_db_points(db, run, "hbm", "read", &p, &n, &err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2u);
    CU_ASSERT_DOUBLE_EQUAL(p[0].median_ns, 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(p[1].median_ns, 40, 0);
    CU_ASSERT_DOUBLE_EQUAL(p[1].iqr_ns, 30, 1e-12);      /* q1 25, q3 55 */
    CU_ASSERT_EQUAL(p[1].samples, 7u);
    free(p);

    char **names;
    CU_ASSERT_EQUAL_FATAL(calib_db_cases(db, run, "hbm", &names, &n, &err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2u);
    CU_ASSERT_STRING_EQUAL(names[0], "copy");
    CU_ASSERT_STRING_EQUAL(names[1], "read");
    calib_db_free_names(names, n);
    CU_ASSERT_EQUAL(calib_db_points(db, run, "hbm", "none", &p, &n, &err), 0);
    CU_ASSERT_EQUAL(n, 0u);
    free(p);
    CU_ASSERT_EQUAL(calib_db_add_check(db, run, "decode", "fp16/page=16", 1e-3, 2e-2, 1, &err), 0);
    CU_ASSERT_EQUAL(calib_db_add_validation(db, run, "h100-sxm.calibrated", 8, 4096, 1e6, 1e4, 1.02e6,
                                            &err), 0);
    CU_ASSERT_EQUAL(calib_db_run_info(db, run + 1, &out, &err), -1);
    calib_db_close(db);
    unlink(path);
}

static void test_db_empty(void)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    int64_t run;
    CU_ASSERT_EQUAL(calib_db_latest_run(db, &run, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no calibration runs"));
    CU_ASSERT_EQUAL(calib_db_exec_file(db, "/nonexistent/kvtier.sql", &err), -1);
    calib_db_close(db);
}

/* NVML's reason bits (nvml.h: idle 0x1, applications clocks 0x2, sw power
 * cap 0x4, hw slowdown 0x8, sync boost 0x10, sw thermal 0x20, hw thermal
 * 0x40, power brake 0x80, display 0x100): the caps and slowdowns are
 * throttling, the rest not; clock samples go through the database. */
static void test_clocks_reasons_and_store(void)
{
    CU_ASSERT_EQUAL(calib_clocks_throttling(0x1 | 0x2 | 0x10 | 0x100), 0u);
    CU_ASSERT_EQUAL(calib_clocks_throttling(0x1ff), 0x4u | 0x8u | 0x20u | 0x40u | 0x80u);
    CU_ASSERT_EQUAL(calib_clocks_throttling(0x44), 0x44u);
    char buf[256];
    CU_ASSERT_STRING_EQUAL(calib_clocks_reasons_text(0, buf, sizeof buf), "none");
    CU_ASSERT_STRING_EQUAL(calib_clocks_reasons_text(0x44, buf, sizeof buf), "sw power cap, hw thermal slowdown");
    CU_ASSERT_STRING_EQUAL(calib_clocks_reasons_text(0x1 | 0x1000, buf, sizeof buf), "gpu idle, other (0x1000)");
    kt_err err = { 0 };
    int64_t run;
    calib_db *db = db_with_run(&run);
    calib_clock_sample a = { "gemm", "start", 1980, 2619, 1980, 2619, 0, 45, 310 };
    calib_clock_sample b = { "gemm", "end", 1755, 2619, 1980, 2619, 0x4, 71, 699.5 };
    CU_ASSERT_EQUAL(calib_db_add_clocks(db, run, &a, &err), 0);
    CU_ASSERT_EQUAL(calib_db_add_clocks(db, run, &b, &err), 0);
    calib_clock_sample *got;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(calib_db_clocks(db, run, &got, &n, &err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2u);
    CU_ASSERT_STRING_EQUAL(got[0].phase, "start");
    CU_ASSERT_STRING_EQUAL(got[1].bench, "gemm");
    CU_ASSERT_DOUBLE_EQUAL(got[1].sm_mhz, 1755, 0);
    CU_ASSERT_EQUAL(got[1].reasons, 0x4u);
    CU_ASSERT_DOUBLE_EQUAL(got[1].power_w, 699.5, 0);
    free(got);
    CU_ASSERT_EQUAL(calib_db_clocks(db, run + 1, &got, &n, &err), 0);
    CU_ASSERT_EQUAL(n, 0u);
    free(got);
    calib_db_close(db);
}

/* ---------- from the fixture to a profile ---------- */

/* Loads the fixture into a fresh in-memory store and derives run 1 against
 * the H100 spec-sheet profile (whose peak FLOP/s the efficiencies divide by). */
static calib_db *fixture_db(hw_profile **base, calib_result *r)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    if (calib_db_exec_file(db, tu_path(fixture), &err) < 0)
        kt_err_print(&err, stderr);
    *base = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*base);
    if (calib_derive(db, 1, *base, NULL, r, &err) < 0) {
        kt_err_print(&err, stderr);
        CU_FAIL_FATAL("calib_derive failed on the fixture");
    }
    return db;
}

/* ---------- the fixture's formulas (h100-fixture.sql), without noise ---------- */

#define FX_PEAK_BF16 989.4e12
#define FX_PEAK_FP8 1978.9e12
#define FX_GEMM_KNEE 512.0          /* efficiency E · M / (M + 512) */
#define FX_HBM_LAT_NS 3000.0
#define FX_HBM_BPS 3.0e12
#define FX_REPS 7

/* The four BF16 shapes (N, K, E) and the FP8 one. */
static const struct { double n, k, e; } fx_bf16[] = {
    { 6144, 4096, 0.70 }, { 4096, 4096, 0.74 }, { 28672, 4096, 0.78 }, { 4096, 14336, 0.80 },
};
#define FX_N_BF16 4

/* Decode KV bytes of the fixture's batch of 8 at context ctx (fp16). */
static double fx_decode_bytes(double ctx) { return 8.0 * ctx * 8 * 2 * 128 * 2; }

/* Mean (= median of two) of the two fp16 shuffled decode curves at ctx,
 * bytes/s over hbm_bw. */
static double fx_decode_eff(double ctx, double hbm_bw)
{
    const double bytes = fx_decode_bytes(ctx), e[] = { 0.80, 0.84 };
    double sum = 0;
    for (int i = 0; i < 2; i++)
        sum += bytes / ((5000.0 + bytes / (e[i] * 3.0e12) * 1e9) * 1e-9) / hbm_bw;
    return sum / 2;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The memory curve's value in the bin of 2^b bytes, from the fixture's
 * formulas: the HBM read of 2^b bytes (bytes / (3 us + bytes / 3 TB/s)) and
 * every BF16 GEMM point whose bytes 2(MK + NK + MN) round to 2^b in log2
 * and whose FLOPs at the BF16 peak take less time than its bytes at
 * hbm_bw, each over hbm_bw; the median of them. */
static double fx_memory_bin(int b, double hbm_bw, size_t *n_values)
{
    double v[64];
    size_t n = 0;
    double x = ldexp(1.0, b);
    if (b >= 20 && b <= 32)                            /* the HBM sweep: 1 MiB .. 4 GiB */
        v[n++] = x / ((FX_HBM_LAT_NS + x / FX_HBM_BPS * 1e9) * 1e-9) / hbm_bw;
    for (int s = 0; s < FX_N_BF16; s++)
        for (double m = 1; m <= 16384; m *= 2) {
            double nn = fx_bf16[s].n, k = fx_bf16[s].k, bytes = 2 * (m * k + nn * k + m * nn);
            double flops = 2 * m * nn * k, t = flops / (FX_PEAK_BF16 * fx_bf16[s].e * m / (m + FX_GEMM_KNEE));
            /* Memory bound with a margin of 1.5 from the ridge, as the derivation asks. */
            if (1.5 * flops / FX_PEAK_BF16 < bytes / hbm_bw && lround(log2(bytes)) == b && n < 64)
                v[n++] = bytes / t / hbm_bw;
        }
    *n_values = n;
    qsort(v, n, sizeof v[0], cmp_double);
    return n == 0 ? NAN : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void test_derive_fixture_known_answers(void)
{
    hw_profile *base;
    calib_result r;
    calib_db *db = fixture_db(&base, &r);
    const calib_figures *f = &r.figs;
    const calib_figure *hbm = calib_figure_find(f, "hbm_bandwidth");
    const calib_figure *pcie = calib_figure_find(f, "pcie_bandwidth");
    const calib_figure *launch = calib_figure_find(f, "launch_overhead");
    CU_ASSERT_PTR_NOT_NULL_FATAL(hbm);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pcie);
    CU_ASSERT_PTR_NOT_NULL_FATAL(launch);
    /* The medians carry at most ±1% of noise, so fits land within ~1%. */
    ASSERT_REL(hbm->value, 3.0e12, 0.01);
    ASSERT_REL(pcie->value, 50e9, 0.01);                   /* h2d, the slower direction */
    ASSERT_REL(launch->value, 1000, 0.01);                 /* the graph's per node, the default */
    CU_ASSERT_EQUAL(hbm->samples, 13 * 7);
    CU_ASSERT_EQUAL(pcie->samples, 2 * 19 * 7);
    CU_ASSERT_EQUAL(launch->samples, 11 * 7);
    CU_ASSERT_PTR_NOT_NULL(strstr(launch->source, "launch/graph"));
    CU_ASSERT_STRING_EQUAL(launch->benches, "launch");
    CU_ASSERT_PTR_NOT_NULL(strstr(pcie->note, "d2h/pinned"));
    /* Both directions at once: work 2 x bytes in 12 us + 2 x bytes / 75 GB/s. */
    const calib_figure *duplex = calib_figure_find(f, "pcie_duplex_bandwidth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(duplex);
    ASSERT_REL(duplex->value, 75e9, 0.01);
    CU_ASSERT_EQUAL(duplex->samples, 19 * 7);
    CU_ASSERT_PTR_NOT_NULL(strstr(duplex->source, "host/bidir/pinned"));
    /* 75 GB/s lies between 50 (the slower direction) and 102 (the sum): no warning. */
    CU_ASSERT_PTR_NULL(strstr(r.warnings, "pcie_duplex_bandwidth"));
    /* Information only, never in the profile: every plain launch fit, and
     * the cost exposed while busy, worked from the noise-free busy cases:
     * 4000 - 2600 = 1400 ns with kernels of 2 us, 32700 - 32700 = 0 with 32 us. */
    const calib_figure *eager = calib_figure_find(&r.info, "launch.eager");
    const calib_figure *gap = calib_figure_find(&r.info, "launch.gap");
    const calib_figure *exp2 = calib_figure_find(&r.info, "launch.exposed/d=2us");
    const calib_figure *exp32 = calib_figure_find(&r.info, "launch.exposed/d=32us");
    CU_ASSERT_PTR_NOT_NULL_FATAL(eager);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(exp2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(exp32);
    ASSERT_REL(eager->value, 2500, 0.01);
    ASSERT_REL(gap->value, 800, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(exp2->value, 1400, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(exp32->value, 0, 1e-6);
    CU_ASSERT_EQUAL(exp2->samples, 2 * 11 * 7);
    CU_ASSERT_PTR_NULL(calib_figure_find(&r.info, "launch.exposed/d=8us"));
    CU_ASSERT_PTR_NULL(calib_figure_find(f, "launch.eager"));
    double eager_in_note = 0;
    const char *at = strstr(launch->note, "eager ");
    CU_ASSERT(at && sscanf(at, "eager %lf ns", &eager_in_note) == 1);
    ASSERT_REL(eager_in_note, 2500, 0.01);
    CU_ASSERT_PTR_NOT_NULL(strstr(launch->note, "exposed while busy (kernels of d=2us) 1400 ns"));
    /* Clocks: gemm's end reading had a power cap (0x4): flagged; hbm's idle
     * (0x1) and sync boost (0x10) are not throttling. */
    CU_ASSERT_STRING_EQUAL(r.throttled_benches, ",gemm,");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.throttled, "gemm (end: sw power cap; SM 1755 of 1980 MHz"));
    CU_ASSERT_EQUAL(calib_result_throttled(&r, "hbm,gemm"), 1);
    CU_ASSERT_EQUAL(calib_result_throttled(&r, "gemm"), 1);
    CU_ASSERT_EQUAL(calib_result_throttled(&r, "hbm"), 0);
    CU_ASSERT_EQUAL(calib_result_throttled(&r, ""), 0);
    CU_ASSERT(hbm->residual > 0 && hbm->residual < 0.02);
    CU_ASSERT_PTR_NOT_NULL(strstr(hbm->source, "measured on NVIDIA H100 80GB HBM3 (synthetic fixture) 2025-01-15"));
    /* The scalar efficiencies are gone: curves replace them. */
    CU_ASSERT_PTR_NULL(calib_figure_find(f, "efficiency.gemm"));
    CU_ASSERT_PTR_NULL(calib_figure_find(f, "efficiency.memory"));
    CU_ASSERT_EQUAL(r.failed[0], '\0');

    /* gemm.bf16: at every M = 1 .. 16384 the median over the four shapes of
     * E · M / (M + 512), E = 0.70, 0.74, 0.78, 0.80: (0.74 + 0.78) / 2 = 0.76.
     * The noise factor at one M is the same for all shapes, so the spread
     * around the median is exactly that of the E: RMS of E / 0.76 - 1. */
    const calib_curve_fig *g = calib_curve_fig_find(&r.curves, "gemm.bf16");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->x_kind, CURVE_X_TOKENS);
    CU_ASSERT_EQUAL_FATAL(g->n, 15u);
    double spread = 0;
    for (int s = 0; s < FX_N_BF16; s++)
        spread += (fx_bf16[s].e / 0.76 - 1) * (fx_bf16[s].e / 0.76 - 1);
    spread = sqrt(spread / FX_N_BF16);                     /* 0.0510 */
    for (size_t i = 0; i < g->n; i++) {
        double m = ldexp(1.0, (int)i);
        CU_ASSERT_DOUBLE_EQUAL(g->pt[i].x, m, 0);
        ASSERT_REL(g->pt[i].eff, 0.76 * m / (m + FX_GEMM_KNEE), 0.015);
        ASSERT_REL(g->pt[i].residual, spread, 1e-6);
        CU_ASSERT_EQUAL(g->pt[i].samples, FX_N_BF16 * FX_REPS);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(g->source, "measured on NVIDIA H100 80GB HBM3 (synthetic fixture) 2025-01-15"));
    CU_ASSERT_PTR_NOT_NULL(strstr(g->source, "gemm/bf16"));
    /* gemm.fp8: one shape, 0.60 · M / (M + 512) over the FP8 peak. */
    const calib_curve_fig *g8 = calib_curve_fig_find(&r.curves, "gemm.fp8");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g8);
    CU_ASSERT_EQUAL_FATAL(g8->n, 15u);
    ASSERT_REL(g8->pt[14].eff, 0.60 * 16384 / (16384 + FX_GEMM_KNEE), 0.015);
    ASSERT_REL(g8->pt[0].eff, 0.60 * 1 / (1 + FX_GEMM_KNEE), 0.015);
    CU_ASSERT_DOUBLE_EQUAL(g8->pt[0].residual, 0, 0);
    CU_ASSERT_EQUAL(g8->pt[0].samples, FX_REPS);
    /* attention_prefill.bf16: 0.45 at the 7 sequence lengths 512 .. 32768,
     * marked as the upper bound on time it is. */
    const calib_curve_fig *pf = calib_curve_fig_find(&r.curves, "attention_prefill.bf16");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
    CU_ASSERT_EQUAL_FATAL(pf->n, 7u);
    for (size_t i = 0; i < pf->n; i++) {
        CU_ASSERT_DOUBLE_EQUAL(pf->pt[i].x, 512 * ldexp(1.0, (int)i), 0);
        ASSERT_REL(pf->pt[i].eff, 0.45, 0.015);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(pf->source, "UPPER BOUND"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pf->note, "LOWER BOUND"));
    /* attention_decode by KV bytes: contexts 512 .. 131072 of the fp16
     * shuffled cases (pages 16 and 64), the identity and fp8 cases left out. */
    const calib_curve_fig *d = calib_curve_fig_find(&r.curves, "attention_decode");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(d->x_kind, CURVE_X_BYTES);
    CU_ASSERT_EQUAL_FATAL(d->n, 9u);
    for (size_t i = 0; i < d->n; i++) {
        double ctx = 512 * ldexp(1.0, (int)i);
        CU_ASSERT_DOUBLE_EQUAL(d->pt[i].x, fx_decode_bytes(ctx), 1e-3);
        ASSERT_REL(d->pt[i].eff, fx_decode_eff(ctx, hbm->value), 0.015);
        CU_ASSERT_EQUAL(d->pt[i].samples, 2 * FX_REPS);
    }
    /* memory: bins of 1 MiB .. 4 GiB; those from 32 MiB up also hold the
     * memory-bound BF16 GEMMs of the shape whose weights are that large. */
    const calib_curve_fig *mem = calib_curve_fig_find(&r.curves, "memory");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    CU_ASSERT_EQUAL_FATAL(mem->n, 13u);
    size_t mixed = 0;
    for (size_t i = 0; i < mem->n; i++) {
        size_t nv;
        double want = fx_memory_bin(20 + (int)i, hbm->value, &nv);
        ASSERT_REL(mem->pt[i].eff, fmin(1.0, want), 0.015);
        CU_ASSERT_EQUAL(mem->pt[i].n_values, nv);
        CU_ASSERT(mem->pt[i].eff > 0 && mem->pt[i].eff <= 1);
        mixed += nv > 1;
    }
    CU_ASSERT_EQUAL(mixed, 4u);                            /* bins 2^25 .. 2^28: one shape each */
    CU_ASSERT_DOUBLE_EQUAL(mem->pt[0].x, MIB, 1e-6);       /* 1 MiB read alone in its bin */
    CU_ASSERT_EQUAL(mem->pt[0].samples, FX_REPS);
    /* Device figures: read, not fitted. */
    const calib_figure *cap = calib_figure_find(f, "hbm_capacity"), *l2 = calib_figure_find(f, "l2_cache");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
    CU_ASSERT_DOUBLE_EQUAL(cap->value, 85520809984.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l2->value, 50 * MIB, 0);
    CU_ASSERT_EQUAL(cap->samples, 1);
    /* No peer samples: NVLink stays assumed. */
    CU_ASSERT_PTR_NULL(calib_figure_find(f, "nvlink_bandwidth"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.skipped, "nvlink_bandwidth"));
    /* Tables: five GEMM curves (four BF16, one FP8), four decode curves. */
    CU_ASSERT_EQUAL(r.gemm.n, 5u);
    CU_ASSERT_EQUAL(r.decode.n, 4u);
    const calib_curve *fp8 = calib_efftab_find(&r.gemm, "fp8/n=6144/k=4096");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp8);
    ASSERT_REL(calib_curve_eval(fp8, 16384), 0.60 * 16384 / (16384 + 512), 0.015);

    kt_err err = { 0 };
    CU_ASSERT_EQUAL(calib_result_store(db, 1, &r, &err), 0);
    CU_ASSERT_EQUAL(calib_result_store(db, 1, &r, &err), 0);  /* replaces, no duplicates */
    calib_result_free(&r);
    hw_free(base);
    calib_db_close(db);
}

/* A GEMM faster than the base's peak (a base profile of a slower GPU):
 * efficiencies above 1 are clamped to 1 with a warning, not refused; an HBM
 * sweep of one size cannot be fitted and is named, the run goes on. */
static void test_derive_clamps_and_goes_on(void)
{
    kt_err err = { 0 };
    int64_t run;
    calib_db *db = db_with_run(&run);
    hw_profile *base = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    /* M = 4096, N = K = 4096: 2·4096³ = 1.374e11 FLOP. At 1.2 × the BF16
     * peak it takes 1.374e11 / (1.2 × 989.4e12) s; at M = 8192, 0.5 × peak. */
    const double peak = hw_peak_flops(base, DTYPE_BF16), m[] = { 4096, 8192 }, e[] = { 1.2, 0.5 };
    for (int i = 0; i < 2; i++) {
        double flops = 2 * m[i] * 4096 * 4096, ns[7];
        for (int r = 0; r < 7; r++)
            ns[r] = flops / (e[i] * peak) * 1e9;
        CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "gemm", "bf16/n=4096/k=4096", m[i], flops, ns, 7, &err), 0);
    }
    const double one[] = { 1e5, 1e5, 1e5, 1e5, 1e5, 1e5, 1e5 };
    CU_ASSERT_EQUAL(calib_db_add_samples(db, run, "hbm", "read", 256 * MIB, 256 * MIB, one, 7, &err), 0);
    calib_result r;
    CU_ASSERT_EQUAL_FATAL(calib_derive(db, run, base, NULL, &r, &err), 0);
    const calib_curve_fig *g = calib_curve_fig_find(&r.curves, "gemm.bf16");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL_FATAL(g->n, 2u);
    CU_ASSERT_DOUBLE_EQUAL(g->pt[0].eff, 1, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->pt[1].eff, 0.5, 1e-12);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.warnings, "gemm.bf16: efficiency 1.2 at x = 4096 clamped to 1"));
    CU_ASSERT_PTR_NULL(calib_figure_find(&r.figs, "hbm_bandwidth"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.failed, "hbm/read"));
    CU_ASSERT_PTR_NULL(strstr(r.skipped, "hbm_bandwidth"));   /* failed, not merely absent */
    calib_result_free(&r);
    hw_free(base);
    calib_db_close(db);
}

/* The fixture in an in-memory database and the base profile; NULLs when
 * either fails. fixture_free frees both and a derived result. */
static calib_db *fixture_with_base(hw_profile **base, kt_err *err)
{
    calib_db *db = calib_db_open(":memory:", err);
    *base = NULL;
    if (db && calib_db_exec_file(db, tu_path(fixture), err) == 0 && (*base = hw_load(tu_path(base_profile), err)))
        return db;
    calib_db_close(db);
    return NULL;
}

static void fixture_free(calib_db *db, hw_profile *base, calib_result *r)
{
    calib_result_free(r);
    hw_free(base);
    calib_db_close(db);
}

/* Adds cuDNN whole-sequence samples (32 heads of 128, 2·32·128·n(n+1)
 * FLOPs) at n = lo .. hi in powers of two, taking eff × the BF16 peak. */
static void add_fused_prefill(calib_db *db, const hw_profile *base, double lo, double hi, double eff, kt_err *err)
{
    for (double n = lo; n <= hi; n *= 2) {
        double flops = 2.0 * 32 * 128 * n * (n + 1), ns[7];
        for (int r = 0; r < 7; r++)
            ns[r] = flops / (eff * hw_peak_flops(base, DTYPE_BF16)) * 1e9;
        CU_ASSERT_EQUAL(calib_db_add_samples(db, 1, "sdpa", "bf16/h=32/d=128/b=1/causal", n, flops, ns, 7, err), 0);
    }
}

/* With cuDNN's fused attention measured, attention_prefill.bf16 comes from
 * it: 32 heads of 128 at n = 512 .. 4096 taking 2·32·128·n(n+1) FLOPs at
 * 0.6 × the BF16 peak give 0.6 at each n; the unfused prefill stays tabled. */
static void test_derive_prefers_fused_attention(void)
{
    kt_err err = { 0 };
    hw_profile *base;
    calib_db *db = fixture_with_base(&base, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    add_fused_prefill(db, base, 512, 4096, 0.6, &err);
    calib_result r;
    CU_ASSERT_EQUAL_FATAL(calib_derive(db, 1, base, NULL, &r, &err), 0);
    const calib_curve_fig *pf = calib_curve_fig_find(&r.curves, "attention_prefill.bf16");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
    CU_ASSERT_EQUAL_FATAL(pf->n, 4u);
    for (size_t i = 0; i < pf->n; i++) {
        CU_ASSERT_DOUBLE_EQUAL(pf->pt[i].x, 512 * ldexp(1.0, (int)i), 0);
        CU_ASSERT_DOUBLE_EQUAL(pf->pt[i].eff, 0.6, 1e-12);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(pf->source, "cuDNN fused flash attention"));
    CU_ASSERT_PTR_NULL(strstr(pf->source, "UPPER BOUND"));
    CU_ASSERT_EQUAL(r.sdpa.n, 1u);
    CU_ASSERT_EQUAL(r.prefill.n, 1u);
    fixture_free(db, base, &r);
}

/* Chunks after a cached prefix join the fused prefill curve at x = context
 * tokens. Whole sequences of 512 and 1024 at 0.6 × the BF16 peak (32
 * heads of 128, 2·32·128·n(n+1) FLOPs); chunks of 512 after 3584 and 7680
 * cached tokens (contexts 4096 and 8192) at 0.5, their FLOPs
 * 4·32·128·(512·P + 512·513/2) written out here: four points, 0.6, 0.6,
 * 0.5, 0.5, from both benchmarks, each tabled. */
static void test_derive_chunked_prefill(void)
{
    kt_err err = { 0 };
    hw_profile *base;
    calib_db *db = fixture_with_base(&base, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    const double peak = hw_peak_flops(base, DTYPE_BF16);
    double ns[7];
    add_fused_prefill(db, base, 512, 1024, 0.6, &err);
    for (double prefix = 3584; prefix <= 7680; prefix += 4096) {
        double flops = 4.0 * 32 * 128 * (512 * prefix + 512.0 * 513 / 2);
        for (int r = 0; r < 7; r++)
            ns[r] = flops / (0.5 * peak) * 1e9;
        CU_ASSERT_EQUAL(calib_db_add_samples(db, 1, "sdpa-chunked", "bf16/h=32/d=128/b=1/causal/q=512",
                                             prefix + 512, flops, ns, 7, &err), 0);
    }
    calib_result r;
    CU_ASSERT_EQUAL_FATAL(calib_derive(db, 1, base, NULL, &r, &err), 0);
    const calib_curve_fig *pf = calib_curve_fig_find(&r.curves, "attention_prefill.bf16");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
    CU_ASSERT_EQUAL_FATAL(pf->n, 4u);
    const double x[] = { 512, 1024, 4096, 8192 }, eff[] = { 0.6, 0.6, 0.5, 0.5 };
    for (size_t i = 0; i < pf->n; i++) {
        CU_ASSERT_DOUBLE_EQUAL(pf->pt[i].x, x[i], 0);
        CU_ASSERT_DOUBLE_EQUAL(pf->pt[i].eff, eff[i], 1e-12);
    }
    CU_ASSERT_STRING_EQUAL(pf->benches, "sdpa,sdpa-chunked");
    CU_ASSERT_PTR_NOT_NULL(strstr(pf->source, "sdpa-chunked"));
    CU_ASSERT_EQUAL(r.sdpa.n, 1u);
    CU_ASSERT_EQUAL(r.sdpa_chunked.n, 1u);
    fixture_free(db, base, &r);
}

/* Writes the profile of r (on the base profile) to a new temporary file,
 * named in path, and loads it; NULL (reported) when either fails. The
 * caller frees the profile and removes the file. */
static hw_profile *write_and_load(const calib_result *r, const char *tag, char *path, size_t n)
{
    kt_err err = { 0 };
    temp_path(path, n, tag);
    calib_write_opts o = { "h100-sxm.calibrated", NULL, NULL, &r->curves, r };
    hw_profile *h = calib_write_profile_file(tu_path(base_profile), &r->figs, &o, path, &err) == 0
                    ? hw_load(path, &err) : NULL;
    if (!h)
        kt_err_print(&err, stderr);
    return h;
}

/* Adds cuDNN decode samples of case name at contexts 512 .. 4096 (batch 1,
 * 8 KV heads of 128, BF16: K and V 2·8·128·2 = 4096 B a token) read at
 * eff × 3.0 TB/s, the fixture's HBM bandwidth. */
static void add_cudnn_decode(calib_db *db, const char *name, double eff, kt_err *err)
{
    for (double ctx = 512; ctx <= 4096; ctx *= 2) {
        double bytes = 4096 * ctx, ns[7];
        for (int r = 0; r < 7; r++)
            ns[r] = bytes / (eff * 3.0e12) * 1e9;
        CU_ASSERT_EQUAL(calib_db_add_samples(db, 1, "sdpa-decode", name, ctx, bytes, ns, 7, err), 0);
    }
}

/* attention_decode comes from cuDNN's decode when it ran, paged in
 * preference to contiguous, over the own kernel's fixture points (which
 * stay tabled): 4 points at KV bytes 2, 4, 8, 16 MiB and the efficiency the
 * samples were made with (within the ±1 % noise of the fitted HBM
 * bandwidth it is measured against). Contiguous alone is used, and says
 * so; neither gives the own kernel's 9 points. The profile written from
 * each loads with those points, measured, its source naming the choice. */
static void test_derive_prefers_cudnn_decode(void)
{
    const struct { int paged, contiguous; double eff; const char *says; size_t n; } cases[] = {
        { 1, 1, 0.7, "paged KV", 4 }, { 0, 1, 0.6, "CONTIGUOUS", 4 }, { 0, 0, 0, "own paged kernel", 9 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        kt_err err = { 0 };
        hw_profile *base;
        calib_db *db = fixture_with_base(&base, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(db);
        if (cases[k].paged)
            add_cudnn_decode(db, "bf16/page=16/g=4/d=128/b=1/paged", 0.7, &err);
        if (cases[k].contiguous)
            add_cudnn_decode(db, "bf16/page=0/g=4/d=128/b=1/contiguous", 0.6, &err);
        calib_result r;
        CU_ASSERT_EQUAL_FATAL(calib_derive(db, 1, base, NULL, &r, &err), 0);
        const calib_curve_fig *d = calib_curve_fig_find(&r.curves, "attention_decode");
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_PTR_NOT_NULL(strstr(d->source, cases[k].says));
        CU_ASSERT_EQUAL_FATAL(d->n, cases[k].n);
        for (size_t i = 0; cases[k].eff > 0 && i < d->n; i++) {
            CU_ASSERT_DOUBLE_EQUAL(d->pt[i].x, 4096 * 512 * ldexp(1.0, (int)i), 1e-3);
            ASSERT_REL(d->pt[i].eff, cases[k].eff, 0.015);
        }
        CU_ASSERT_EQUAL(r.decode.n > 0, 1);                          /* the own kernel, tabled */
        CU_ASSERT_EQUAL(r.sdpa_decode.n, (size_t)(cases[k].paged + cases[k].contiguous));
        /* The written profile carries the chosen points, measured. */
        char path[4096];
        hw_profile *h = write_and_load(&r, "decode", path, sizeof path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        CU_ASSERT_EQUAL_FATAL(h->attn_decode.n, (int)cases[k].n);
        for (int i = 0; cases[k].eff > 0 && i < h->attn_decode.n; i++) {
            CU_ASSERT_DOUBLE_EQUAL(h->attn_decode.x[i], 4096 * 512 * ldexp(1.0, i), 0.5);
            ASSERT_REL(h->attn_decode.y[i], cases[k].eff, 0.015);
        }
        const hw_provenance *pv = hw_provenance_of(h, "curves.attention_decode[0]");
        CU_ASSERT_PTR_NOT_NULL_FATAL(pv);
        CU_ASSERT_EQUAL(pv->status, HW_MEASURED);
        CU_ASSERT_PTR_NOT_NULL(strstr(pv->source, cases[k].says));
        hw_free(h);
        unlink(path);
        fixture_free(db, base, &r);
    }
}

/* The launch figure can come from the eager sequence instead (then only information). */
static void test_derive_launch_choice(void)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path(fixture), &err), 0);
    hw_profile *base = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    calib_derive_opts o;
    calib_derive_defaults(&o);
    CU_ASSERT_EQUAL(o.launch, CALIB_LAUNCH_GRAPH);
    o.launch = CALIB_LAUNCH_EAGER;
    calib_result r;
    CU_ASSERT_EQUAL_FATAL(calib_derive(db, 1, base, &o, &r, &err), 0);
    const calib_figure *launch = calib_figure_find(&r.figs, "launch_overhead");
    CU_ASSERT_PTR_NOT_NULL_FATAL(launch);
    ASSERT_REL(launch->value, 2500, 0.01);
    calib_result_free(&r);
    hw_free(base);
    calib_db_close(db);
}

static void test_format_value(void)
{
    char buf[64];
    CU_ASSERT_STRING_EQUAL(calib_format_value("hbm_bandwidth", 3.0e12, buf, sizeof buf), "3000GB/s");
    CU_ASSERT_STRING_EQUAL(calib_format_value("l2_cache", 50 * MIB, buf, sizeof buf), "50MiB");
    CU_ASSERT_STRING_EQUAL(calib_format_value("smem_per_sm", 228 * KIB, buf, sizeof buf), "228KiB");
    CU_ASSERT_STRING_EQUAL(calib_format_value("hbm_capacity", 85520809984.0, buf, sizeof buf), "81559MiB");
    CU_ASSERT_STRING_EQUAL(calib_format_value("launch_overhead", 2500.4, buf, sizeof buf), "2500ns");
    CU_ASSERT_STRING_EQUAL(calib_format_value("sm_count", 132, buf, sizeof buf), "132");
    CU_ASSERT_STRING_EQUAL(calib_format_value("efficiency.nvlink", 0.715, buf, sizeof buf), "0.715");
    CU_ASSERT_STRING_EQUAL(calib_format_value("host_overhead.step", 3e6, buf, sizeof buf), "3000000ns");
    CU_ASSERT_PTR_NULL(calib_format_value("efficiency.gemm", 0.7, buf, sizeof buf));   /* a curve now */
    CU_ASSERT_STRING_EQUAL(calib_format_value("peak_flops.bf16", 989.4e12, buf, sizeof buf), "989.4TFLOP/s");
    CU_ASSERT_PTR_NULL(calib_format_value("no_such_figure", 1, buf, sizeof buf));
}

/* Checks a measured figure read back by hw_load against what was derived. */
static void check_measured(const hw_profile *h, const calib_figure *f, double loaded, double tol)
{
    const hw_provenance *p = hw_provenance_of(h, f->key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    CU_ASSERT_EQUAL(p->has_residual, 1);
    CU_ASSERT_DOUBLE_EQUAL(p->residual, f->residual, fabs(f->residual) * 1e-5 + 1e-12);
    CU_ASSERT_EQUAL(p->samples, f->samples);
    CU_ASSERT_STRING_EQUAL(p->source, f->source);
    CU_ASSERT_DOUBLE_EQUAL(loaded, f->value, fabs(f->value) * tol);
    if (fabs(loaded - f->value) > fabs(f->value) * tol)
        fprintf(stderr, "\n  %s: loaded %.12g, derived %.12g\n", f->key, loaded, f->value);
}

/* A curve read back by hw_load equals the measured one, point for point,
 * each point measured with its residual, samples and source. */
static void check_measured_curve(const hw_profile *h, const curve *c, const calib_curve_fig *cf)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(cf);
    CU_ASSERT_EQUAL_FATAL(c->n, (int)cf->n);
    for (int i = 0; i < c->n; i++) {
        char key[96];
        snprintf(key, sizeof key, "curves.%s[%d]", cf->key, i);
        CU_ASSERT_DOUBLE_EQUAL(c->x[i], cf->pt[i].x, 0.5);          /* bytes written whole */
        CU_ASSERT_DOUBLE_EQUAL(c->y[i], cf->pt[i].eff, cf->pt[i].eff * 1e-9);
        const hw_provenance *p = hw_provenance_of(h, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(p->status, HW_MEASURED);
        CU_ASSERT_EQUAL(p->samples, (int64_t)cf->pt[i].samples);
        CU_ASSERT_DOUBLE_EQUAL(p->residual, cf->pt[i].residual, cf->pt[i].residual * 1e-5 + 1e-12);
        CU_ASSERT_STRING_EQUAL(p->source, cf->source);
    }
}

/* A curve not measured is the base's: same points, status and source. */
static void check_copied_curve(const hw_profile *h, const hw_profile *base, const curve *c, const curve *b,
                               const char *key)
{
    CU_ASSERT_EQUAL_FATAL(c->n, b->n);
    for (int i = 0; i < c->n; i++) {
        char k[96];
        snprintf(k, sizeof k, "curves.%s[%d]", key, i);
        CU_ASSERT_DOUBLE_EQUAL(c->x[i], b->x[i], 0);
        CU_ASSERT_DOUBLE_EQUAL(c->y[i], b->y[i], 0);
        const hw_provenance *p = hw_provenance_of(h, k), *q = hw_provenance_of(base, k);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_EQUAL(p->status, q->status);
        CU_ASSERT_NOT_EQUAL(p->status, HW_MEASURED);
        CU_ASSERT_STRING_EQUAL(p->source, q->source);
    }
}

static void test_write_profile_from_fixture(void)
{
    hw_profile *base;
    calib_result r;
    calib_db *db = fixture_db(&base, &r);
    char path[4096];
    temp_path(path, sizeof path, "profile");
    kt_err err = { 0 };
    calib_write_opts o = { "h100-sxm.calibrated", "NVIDIA H100 80GB HBM3", "test profile\nline two", &r.curves,
                           &r };
    if (calib_write_profile_file(tu_path(base_profile), &r.figs, &o, path, &err) < 0)
        kt_err_print(&err, stderr);
    hw_profile *h = hw_load(path, &err);
    if (!h)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    CU_ASSERT_STRING_EQUAL(h->name, "h100-sxm.calibrated");
    CU_ASSERT_STRING_EQUAL(h->gpu, "NVIDIA H100 80GB HBM3");
    /* Every figure and curve point, no more: the five measured curves
     * replace the base's (gemm bf16 and fp8 15 points each, prefill 7,
     * decode 9, memory 13). */
    int replaced = base->gemm[DTYPE_BF16].n + base->gemm[DTYPE_FP8].n + base->attn_prefill[DTYPE_BF16].n +
                   base->attn_decode.n + base->memory.n;
    CU_ASSERT_EQUAL(h->n_prov, base->n_prov - (size_t)replaced + 15 + 15 + 7 + 9 + 13);

    /* Values as derived (bandwidths and fractions to 10 digits, ns rounded). */
    const calib_figures *f = &r.figs;
    check_measured(h, calib_figure_find(f, "hbm_bandwidth"), h->hbm_bw_Bps, 1e-9);
    check_measured(h, calib_figure_find(f, "pcie_bandwidth"), h->pcie_bw_Bps, 1e-9);
    check_measured(h, calib_figure_find(f, "launch_overhead"), (double)h->launch_ns, 0.5 / 1000);
    check_measured(h, calib_figure_find(f, "pcie_duplex_bandwidth"), h->pcie_duplex_bw_Bps, 1e-9);
    ASSERT_REL(h->pcie_duplex_bw_Bps, 75e9, 0.01);
    ASSERT_REL((double)h->launch_ns, 1000, 0.01);
    check_measured(h, calib_figure_find(f, "hbm_capacity"), h->hbm_bytes, 0);
    check_measured(h, calib_figure_find(f, "sm_count"), h->sm_count, 0);
    check_measured(h, calib_figure_find(f, "l2_cache"), h->l2_bytes, 0);
    check_measured(h, calib_figure_find(f, "smem_per_sm"), h->smem_per_sm_bytes, 0);
    ASSERT_REL(h->hbm_bw_Bps, 3.0e12, 0.01);
    ASSERT_REL(h->pcie_bw_Bps, 50e9, 0.01);

    /* Figures not measured keep status assumed, value and original source. */
    const char *const assumed[] = { "nvlink_bandwidth", "nvlink_latency", "kernels_per_layer",
                                    "price_usd", "hourly_usd", "power", "efficiency.nvlink",
                                    "peak_flops.bf16", "peak_flops.fp8", "peak_flops.int4", NULL };
    for (int i = 0; assumed[i]; i++) {
        const hw_provenance *p = hw_provenance_of(h, assumed[i]), *q = hw_provenance_of(base, assumed[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_NOT_EQUAL(p->status, HW_MEASURED);
        CU_ASSERT_EQUAL(p->has_residual, 0);
        CU_ASSERT_EQUAL(p->samples, 0);
        CU_ASSERT_STRING_EQUAL(p->source, q->source);
    }
    CU_ASSERT_DOUBLE_EQUAL(h->nvlink_bw_Bps, base->nvlink_bw_Bps, 0);
    CU_ASSERT_DOUBLE_EQUAL(h->price_usd, base->price_usd, 0);
    CU_ASSERT_EQUAL(h->nvlink_latency_ns, base->nvlink_latency_ns);
    for (int d = 0; d < DTYPE_COUNT; d++)
        CU_ASSERT_DOUBLE_EQUAL(h->peak_flops[d], base->peak_flops[d], 0);
    CU_ASSERT_EQUAL(h->small_op_floor_ns, base->small_op_floor_ns);
    CU_ASSERT_EQUAL(h->host_step_ns, base->host_step_ns);

    /* Measured curves replaced whole; the others copied point by point. */
    check_measured_curve(h, &h->gemm[DTYPE_BF16], calib_curve_fig_find(&r.curves, "gemm.bf16"));
    check_measured_curve(h, &h->gemm[DTYPE_FP8], calib_curve_fig_find(&r.curves, "gemm.fp8"));
    check_measured_curve(h, &h->attn_prefill[DTYPE_BF16], calib_curve_fig_find(&r.curves, "attention_prefill.bf16"));
    check_measured_curve(h, &h->attn_decode, calib_curve_fig_find(&r.curves, "attention_decode"));
    check_measured_curve(h, &h->memory, calib_curve_fig_find(&r.curves, "memory"));
    check_copied_curve(h, base, &h->small_ops, &base->small_ops, "small_ops");
    check_copied_curve(h, base, &h->allreduce, &base->allreduce, "allreduce");
    check_copied_curve(h, base, &h->attn_prefill[DTYPE_FP8], &base->attn_prefill[DTYPE_FP8], "attention_prefill.fp8");
    /* The BF16 GEMM curve the cost model reads: 0.76 · 8192 / 8704 at M = 8192. */
    ASSERT_REL(curve_eval(hw_gemm_curve(h, DTYPE_BF16), 8192), 0.76 * 8192 / 8704, 0.015);
    hw_free(h);

    /* The written profile drives a simulation: the quickstart scenario, and
     * the tiered one whose DRAM tier's path is built from the measured PCIe
     * figures (one direction and the duplex total), each shortened to 5
     * sessions. */
    char set_hw[4200];
    snprintf(set_hw, sizeof set_hw, "hardware=%s", path);
    const char *const scenarios[] = { "scenarios/quickstart.yaml", "scenarios/multiturn-tiers.yaml" };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char *argv[] = { (char *)tu_build_path("sim/kvtier"), "run", (char *)tu_path(scenarios[i]), "--no-db",
                         "--set", set_hw, "--set", "workload.sessions=5", NULL };
        tu_output out = tu_exec(argv);
        CU_ASSERT_EQUAL(out.rc, 0);
        if (out.rc != 0)
            fprintf(stderr, "\n%s: %s\n", scenarios[i], out.err);
        CU_ASSERT_PTR_NOT_NULL(strstr(out.out, "on 1 x h100-sxm.calibrated"));
        CU_ASSERT_PTR_NULL(strstr(out.out, "requests: 0 completed"));
        tu_output_free(&out);
    }
    unlink(path);
    calib_result_free(&r);
    hw_free(base);
    calib_db_close(db);
}

/* A measured figure the base lacks, or one with no known unit, is refused
 * and the output file is not created. */
static void test_write_refuses_unknown_figure(void)
{
    calib_figures figs;
    memset(&figs, 0, sizeof figs);
    figs.n = 1;
    snprintf(figs.fig[0].key, sizeof figs.fig[0].key, "efficiency.decode");
    figs.fig[0].value = 0.5;
    figs.fig[0].samples = 7;
    snprintf(figs.fig[0].source, sizeof figs.fig[0].source, "measured on test");
    char path[4096];
    temp_path(path, sizeof path, "refused");
    unlink(path);
    kt_err err = { 0 };
    calib_write_opts o = { "x.calibrated", NULL, NULL, NULL, NULL };
    CU_ASSERT_EQUAL(calib_write_profile_file(tu_path(base_profile), &figs, &o, path, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "efficiency.decode"));
    CU_ASSERT_EQUAL(access(path, F_OK), -1);
    /* The same for a curve the schema does not have. */
    static calib_curves curves;
    memset(&curves, 0, sizeof curves);
    curves.n = 1;
    snprintf(curves.c[0].key, sizeof curves.c[0].key, "attention_verify");
    curves.c[0].n = 1;
    curves.c[0].pt[0] = (calib_pooled){ 4096, 0.5, 0, 1, 7 };
    figs.n = 0;
    o.curves = &curves;
    CU_ASSERT_EQUAL(calib_write_profile_file(tu_path(base_profile), &figs, &o, path, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "measured curve attention_verify is not in the base profile"));
    CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

/* A run in which gemm failed and launch cannot be fitted still gives a
 * profile: what was measured is measured, the rest is the base's. */
static void test_derive_failed_benchmark(void)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path(fixture), &err), 0);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path(fixture_failed), &err), 0);
    char failures[512];
    size_t n_failures;
    CU_ASSERT_EQUAL(calib_db_failures(db, 1, failures, sizeof failures, &n_failures, &err), 0);
    CU_ASSERT_EQUAL(n_failures, 1u);
    CU_ASSERT_STRING_EQUAL(failures, "gemm: cublasLtMatmul: CUBLAS_STATUS_EXECUTION_FAILED (synthetic)");
    hw_profile *base = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    calib_result r;
    CU_ASSERT_EQUAL_FATAL(calib_derive(db, 1, base, NULL, &r, &err), 0);
    const calib_figure *hbm = calib_figure_find(&r.figs, "hbm_bandwidth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(hbm);
    ASSERT_REL(hbm->value, 3.0e12, 0.01);
    CU_ASSERT_PTR_NULL(calib_figure_find(&r.figs, "launch_overhead"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.failed, "launch/eager"));
    CU_ASSERT_PTR_NULL(calib_curve_fig_find(&r.curves, "gemm.bf16"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.skipped, "gemm.bf16"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.skipped, "gemm.fp8"));
    /* memory: the 13 reads alone, each x / (3 us + x / 3 TB/s) over hbm. */
    const calib_curve_fig *mem = calib_curve_fig_find(&r.curves, "memory");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    CU_ASSERT_EQUAL_FATAL(mem->n, 13u);
    for (size_t i = 0; i < mem->n; i++) {
        double x = MIB * ldexp(1.0, (int)i);
        CU_ASSERT_EQUAL(mem->pt[i].n_values, 1u);
        ASSERT_REL(mem->pt[i].eff, fmin(1.0, x / ((FX_HBM_LAT_NS + x / FX_HBM_BPS * 1e9) * 1e-9) / hbm->value),
                   0.015);
    }
    CU_ASSERT_PTR_NOT_NULL(calib_curve_fig_find(&r.curves, "attention_decode"));

    /* The profile: gemm curves and launch_overhead are the base's. */
    char path[4096];
    hw_profile *h = write_and_load(&r, "failed", path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    check_copied_curve(h, base, &h->gemm[DTYPE_BF16], &base->gemm[DTYPE_BF16], "gemm.bf16");
    check_copied_curve(h, base, &h->gemm[DTYPE_FP8], &base->gemm[DTYPE_FP8], "gemm.fp8");
    check_measured_curve(h, &h->memory, mem);
    const hw_provenance *p = hw_provenance_of(h, "launch_overhead"), *q = hw_provenance_of(base, "launch_overhead");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(p->status, q->status);
    CU_ASSERT_STRING_EQUAL(p->source, q->source);
    CU_ASSERT_EQUAL(h->launch_ns, base->launch_ns);
    hw_free(h);
    unlink(path);
    calib_result_free(&r);
    hw_free(base);
    calib_db_close(db);
}

/* ---------- the plan (--dry-run) ---------- */

/* The plan's documented costs (calib_plan.h): 20 us per timed call beyond
 * its work and the flush, 5 s per process, 10 us per synchronize. */
#define PLAN_CALL_S 20e-6
#define PLAN_START_S 5.0
#define PLAN_SYNC_S 10e-6

/* HBM over 1 .. 4 MiB is raised to 4 × L2 = 200 MiB on an H100: the
 * arrays 1, 2, .., 128 MiB (8 sizes, 255 MiB together) in 3 cases moving
 * 1, 2 and 3 × the array; launch over 1, 2, 4 kernels in 5 cases, one of
 * them synchronizing after each, then busy kernels of 10 us launched
 * eagerly (10 us + launch_overhead each) and queued (10 us each after a
 * spin of 10 us per kernel and 100 us). 7 samples + 1 warm-up = 8 calls a
 * point, each after a flush of max(2 × 50 MiB, 128 MiB) = 128 MiB; each
 * step starts a process (5 s) and warms the clocks (250 ms here). */
static void test_plan_by_hand(void)
{
    kt_err err = { 0 };
    hw_profile *h = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_DOUBLE_EQUAL(h->l2_bytes, 50 * MIB, 0);     /* the premise of the arithmetic below */
    kt_params p;
    kt_params_defaults(&p);
    p.samples = 7;
    p.warmup = 1;
    p.hbm_min_bytes = (size_t)MIB;
    p.hbm_max_bytes = (size_t)(4 * MIB);
    p.launch_max_kernels = 4;
    p.n_launch_busy = 1;
    p.launch_busy_us[0] = 10;
    p.clock_warmup_ms = 250;
    const char *const steps[] = { "hbm", "launch", NULL };
    calib_plan plan;
    CU_ASSERT_EQUAL_FATAL(calib_plan_make(&p, steps, h, &plan, &err), 0);
    CU_ASSERT_EQUAL_FATAL(plan.n, 2u);
    double flush = 128 * MIB / h->hbm_bw_Bps, per_call = flush + PLAN_CALL_S, start = PLAN_START_S + 0.25;
    CU_ASSERT_EQUAL(plan.item[0].points, 24u);
    CU_ASSERT_EQUAL(plan.item[0].calls, 192u);
    double hbm = 192 * per_call + 8 * (1 + 2 + 3) * 255 * MIB / h->hbm_bw_Bps + start;
    ASSERT_REL(plan.item[0].seconds, hbm, 1e-9);
    CU_ASSERT_EQUAL(plan.item[1].points, 15u + 6u);
    CU_ASSERT_EQUAL(plan.item[1].calls, 168u);
    double launch_s = (double)h->launch_ns * 1e-9;
    double busy = 8 * (7 * (10e-6 + launch_s)) + 8 * (7 * (10e-6 + 10e-6) + 3 * 100e-6);
    double launch = 168 * per_call + 8 * (5 * 7 * launch_s + 7 * PLAN_SYNC_S) + busy + start;
    ASSERT_REL(plan.item[1].seconds, launch, 1e-9);
    ASSERT_REL(plan.seconds, hbm + launch, 1e-9);

    /* The default calibration (every benchmark and the validation) is
     * planned to fit in 8 minutes of a lent GPU. */
    kt_params_defaults(&p);
    const char *const all[] = { "hbm", "host", "peer", "launch", "gemm", "decode", "prefill", "sdpa",
                                "sdpa-chunked", "sdpa-decode", "storage", "validate", NULL };
    CU_ASSERT_EQUAL_FATAL(calib_plan_make(&p, all, h, &plan, &err), 0);
    CU_ASSERT_EQUAL(plan.n, 12u);
    CU_ASSERT(plan.seconds > 11 * PLAN_START_S && plan.seconds < 8 * 60);
    const char *const bad[] = { "hbm", "nosuch", NULL };
    CU_ASSERT_EQUAL(calib_plan_make(&p, bad, h, &plan, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nosuch"));
    hw_free(h);
}

/* The cuDNN attention steps' points by hand. Chunks of 512, 2048 and 8192
 * tokens after prefixes 1024 .. 65536 (7 powers of two): 21 points, 21 ×
 * (7 + 1) = 168 calls. Decode over contexts 512 · 4^k up to 128K (512,
 * 2K, 8K, 32K, 128K) with a 1 GiB cap on K plus V (512 MiB each): K of a
 * point is b × 8 heads × 128 × ctx × 2 B = 2^11 · b · ctx bytes, at most
 * 2^29, so b · ctx <= 2^18: batch 1 keeps all 5 contexts, batch 8 the 4 up
 * to 32K, batch 32 the 3 up to 8K; 12 per configuration, × 4 (BF16 at
 * groups 1, 4, 8 and FP16 at 4) = 48 points, 384 calls. Each point also
 * builds a cuDNN plan (1 s). */
static void test_plan_sdpa_steps(void)
{
    kt_err err = { 0 };
    hw_profile *h = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    kt_params p;
    kt_params_defaults(&p);
    p.samples = 7;
    p.warmup = 1;
    p.decode_max_bytes = (size_t)1024 * MIB;
    const char *const steps[] = { "sdpa-chunked", "sdpa-decode", NULL };
    calib_plan plan;
    CU_ASSERT_EQUAL_FATAL(calib_plan_make(&p, steps, h, &plan, &err), 0);
    CU_ASSERT_EQUAL_FATAL(plan.n, 2u);
    CU_ASSERT_EQUAL(plan.item[0].points, 21u);
    CU_ASSERT_EQUAL(plan.item[0].calls, 168u);
    CU_ASSERT_EQUAL(plan.item[1].points, 48u);
    CU_ASSERT_EQUAL(plan.item[1].calls, 384u);
    CU_ASSERT(plan.item[0].seconds > 21 * 1.0 && plan.item[1].seconds > 48 * 1.0);
    hw_free(h);
}

/* The work of one attention call, by hand. Causal with a prefix of 5
 * before 3 new queries of 2 heads of dim 4: the queries see 6, 7 and 8
 * keys, 21 pairs, each 2·4 FLOPs in Q·Kᵀ and 2·4 in P·V per head:
 * 21 × 16 × 2 = 672. Without a prefix, 1 + 2 + 3 = 6 pairs: 192, which is
 * 2·h·d·n(n+1) = 2·2·4·3·4 of the whole-sequence count. A chunk of 512
 * after 1536 cached tokens, 32 heads of 128: pairs 512·1536 + 512·513/2 =
 * 786432 + 131328 = 917760, × 4 · 32 · 128 = 16384: 15,036,579,840 FLOPs.
 * Decode KV bytes: 2 sequences × 8 heads × 128 × 1000 tokens × 2 B, for K
 * and V: 8,192,000; FP8 (1 B) halves it. */
static void test_attn_work(void)
{
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_causal_flops(2, 4, 3, 5), 672, 0);
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_causal_flops(2, 4, 3, 0), 192, 0);
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_causal_flops(32, 128, 512, 1536), 15036579840.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_causal_flops(32, 128, 0, 1536), 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_decode_kv_bytes(2, 8, 128, 1000, 2), 8192000, 0);
    CU_ASSERT_DOUBLE_EQUAL(calib_attn_work_decode_kv_bytes(2, 8, 128, 1000, 1), 4096000, 0);
}

/* The GEMM shapes of Llama-3.1-8B (hidden 4096, 32 heads of 128, 8 KV
 * heads, FFN 14336, vocabulary 128256): QKV 6144 × 4096, O 4096 × 4096,
 * gate+up 28672 × 4096, down 4096 × 14336, lm_head 128256 × 4096. */
static void test_gemm_shapes(void)
{
    kt_err err = { 0 };
    calib_shape_set set = { .n = 0 };
    CU_ASSERT_EQUAL_FATAL(calib_gemm_shapes("llama-3.1-8b", &set, &err), 0);
    const calib_gemm_shape want[] = { { 6144, 4096 }, { 4096, 4096 }, { 28672, 4096 }, { 4096, 14336 },
                                      { 128256, 4096 } };
    CU_ASSERT_EQUAL_FATAL(set.n, 5);
    for (int i = 0; i < 5; i++) {
        int found = 0;
        for (int j = 0; j < set.n; j++)
            found += set.s[j].n == want[i].n && set.s[j].k == want[i].k;
        CU_ASSERT_EQUAL(found, 1);
    }
    CU_ASSERT_EQUAL(calib_gemm_shapes("no-such-model", &set, &err), -1);
}

/* A measured dtype the base's group lacks (the H100 profile has no FP16
 * GEMM curve) is added to the group; the rest of the group is copied. */
static void test_write_adds_dtype_curve(void)
{
    static calib_curves curves;
    memset(&curves, 0, sizeof curves);
    curves.n = 1;
    calib_curve_fig *cf = &curves.c[0];
    snprintf(cf->key, sizeof cf->key, "gemm.fp16");
    cf->x_kind = CURVE_X_TOKENS;
    cf->n = 2;
    cf->pt[0] = (calib_pooled){ 64, 0.25, 0.01, 2, 14 };
    cf->pt[1] = (calib_pooled){ 4096, 0.75, 0, 1, 7 };
    snprintf(cf->source, sizeof cf->source, "measured on test");
    calib_figures figs;
    memset(&figs, 0, sizeof figs);
    kt_err err = { 0 };
    hw_profile *base = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    CU_ASSERT_EQUAL_FATAL(base->gemm[DTYPE_FP16].n, 0);     /* the premise */
    char path[4096];
    temp_path(path, sizeof path, "dtype");
    calib_write_opts o = { "x.calibrated", NULL, NULL, &curves, NULL };
    CU_ASSERT_EQUAL(calib_write_profile_file(tu_path(base_profile), &figs, &o, path, &err), 0);
    hw_profile *h = hw_load(path, &err);
    if (!h)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    check_measured_curve(h, &h->gemm[DTYPE_FP16], cf);
    check_copied_curve(h, base, &h->gemm[DTYPE_BF16], &base->gemm[DTYPE_BF16], "gemm.bf16");
    check_copied_curve(h, base, &h->gemm[DTYPE_FP8], &base->gemm[DTYPE_FP8], "gemm.fp8");
    CU_ASSERT_EQUAL(h->n_prov, base->n_prov + 2);
    hw_free(h);
    hw_free(base);
    unlink(path);
}

/* ---------- hw.c: residual and samples ---------- */

/* Loads a profile whose hbm_bandwidth line is `fig`, the rest valid. */
static hw_profile *load_with_hbm(const char *fig, kt_err *err)
{
    char path[4096];
    temp_path(path, sizeof path, "hw");
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f,
            "name: t\ngpu: T\nfigures:\n"
            "  peak_flops:\n    fp32: {value: 60TFLOP/s, status: assumed, source: \"s\"}\n"
            "  hbm_capacity: {value: 80GB, status: assumed, source: \"s\"}\n"
            "  hbm_bandwidth: %s\n"
            "  sm_count: {value: 132, status: assumed, source: \"s\"}\n"
            "  smem_per_sm: {value: 228KiB, status: assumed, source: \"s\"}\n"
            "  l2_cache: {value: 50MiB, status: assumed, source: \"s\"}\n"
            "  nvlink_bandwidth: {value: 450GB/s, status: assumed, source: \"s\"}\n"
            "  nvlink_latency: {value: 2us, status: assumed, source: \"s\"}\n"
            "  gpus_per_node: {value: 8, status: assumed, source: \"s\"}\n"
            "  nvlink_domain_gpus: {value: 8, status: assumed, source: \"s\"}\n"
            "  network_bandwidth: {value: 50GB/s, status: assumed, source: \"s\"}\n"
            "  network_latency: {value: 5us, status: assumed, source: \"s\"}\n"
            "  pcie_bandwidth: {value: 55GB/s, status: assumed, source: \"s\"}\n"
            "  launch_overhead: {value: 2us, status: assumed, source: \"s\"}\n"
            "  kernels_per_layer: {value: 10, status: assumed, source: \"s\"}\n"
            "  price_usd: {value: 37000, status: assumed, source: \"s\"}\n"
            "  hourly_usd: {value: 2.5, status: assumed, source: \"s\"}\n"
            "  power: {value: 700W, status: assumed, source: \"s\"}\n"
            "  pcie_duplex_bandwidth: {value: 77GB/s, status: assumed, source: \"s\"}\n"
            "  nic_efficiency: {value: 0.9, status: assumed, source: \"s\"}\n"
            "  nic_op_latency: {value: 300ns, status: assumed, source: \"s\"}\n"
            "  small_op_floor: {value: 4us, status: assumed, source: \"s\"}\n"
            "  host_overhead:\n"
            "    step: {value: 3ms, status: assumed, source: \"s\"}\n"
            "    sequence: {value: 20us, status: assumed, source: \"s\"}\n"
            "  efficiency:\n"
            "    nvlink: {value: 0.8, status: assumed, source: \"s\"}\n"
            "    network: {value: 0.8, status: assumed, source: \"s\"}\n"
            "curves:\n"
            "  gemm: {bf16: [{x: 1, value: 0.7, status: assumed, source: \"s\"}]}\n"
            "  attention_prefill: {bf16: [{x: 1, value: 0.6, status: assumed, source: \"s\"}]}\n"
            "  memory: [{x: 1MiB, value: 0.9, status: assumed, source: \"s\"}]\n"
            "  small_ops: [{x: 1MiB, value: 0.5, status: assumed, source: \"s\"}]\n"
            "  attention_decode: [{x: 1MiB, value: 0.5, status: assumed, source: \"s\"}]\n"
            "  allreduce: [{x: 1MiB, value: 0.5, status: assumed, source: \"s\"}]\n", fig);
    fclose(f);
    hw_profile *h = hw_load(path, err);
    unlink(path);
    return h;
}

static void test_hw_fit_keys(void)
{
    kt_err err = { 0 };
    hw_profile *h = load_with_hbm("{value: 3TB/s, status: measured, source: \"m\", residual: 0.0125, "
                                  "samples: 91}", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const hw_provenance *p = hw_provenance_of(h, "hbm_bandwidth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    CU_ASSERT_EQUAL(p->has_residual, 1);
    CU_ASSERT_DOUBLE_EQUAL(p->residual, 0.0125, 0);
    CU_ASSERT_EQUAL(p->samples, 91);
    p = hw_provenance_of(h, "sm_count");
    CU_ASSERT_EQUAL(p->has_residual, 0);
    CU_ASSERT_EQUAL(p->samples, 0);
    hw_free(h);

    h = load_with_hbm("{value: 3TB/s, status: measured, source: \"m\", samples: 7}", &err);
    CU_ASSERT_PTR_NOT_NULL(h);                            /* either key alone is fine */
    hw_free(h);

    h = load_with_hbm("{value: 3TB/s, status: assumed, source: \"m\", residual: 0.01}", &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "only with status: measured"));
    CU_ASSERT_EQUAL(err.line, 7);
    hw_free(h);

    h = load_with_hbm("{value: 3TB/s, status: measured, source: \"m\", residual: -0.1}", &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "residual"));
    hw_free(h);

    h = load_with_hbm("{value: 3TB/s, status: measured, source: \"m\", samples: 0}", &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "samples"));
    hw_free(h);

    h = load_with_hbm("{value: 3TB/s, status: measured, source: \"m\", sample: 7}", &err);
    CU_ASSERT_PTR_NULL(h);                                /* misspelt: unknown key */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sample"));
    hw_free(h);
}

/* hw_check refuses a fit record on an assumed figure built in code. */
static void test_hw_check_fit_record(void)
{
    kt_err err = { 0 };
    hw_profile *h = hw_load(tu_path(base_profile), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    h->prov[0].samples = 5;                               /* prov[0] is assumed */
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not measured"));
    h->prov[0].status = HW_MEASURED;
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    h->prov[0].has_residual = 1;
    h->prov[0].residual = NAN;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    hw_free(h);
}

int main(void)
{
    const tu_test tests[] = {
        { "summary: median, quartiles, IQR", test_summary },
        { "fit: 8 us + bytes / 50 GB/s, exact", test_fit_exact },
        { "fit: 8 us + bytes / 50 GB/s, +-2% noise", test_fit_noisy },
        { "fit: relative weighting", test_fit_relative_weighting },
        { "fit: points and rejected inputs", test_fit_points_and_rejects },
        { "efficiency table: log-space interpolation", test_efftab_log_interpolation },
        { "efficiency table: rejected inputs", test_efftab_rejects },
        { "efficiency points: pooled by log2 bins", test_effpts_pool },
        { "attention reference: by hand", test_attn_ref_by_hand },
        { "attention reference: GQA and edges", test_attn_ref_gqa_and_edges },
        { "attention reference: shuffled = identity", test_attn_ref_shuffle_invariant },
        { "decode split grid: one wave at the occupancy, by hand", test_split_plan_by_hand },
        { "sample db: round trip through a file", test_db_round_trip },
        { "sample db: empty", test_db_empty },
        { "clocks: throttle reasons and their store", test_clocks_reasons_and_store },
        { "derive: fixture known answers", test_derive_fixture_known_answers },
        { "derive: launch figure choice", test_derive_launch_choice },
        { "derive: fused attention preferred for prefill", test_derive_prefers_fused_attention },
        { "derive: chunks after a prefix join the fused prefill curve", test_derive_chunked_prefill },
        { "derive: cuDNN decode preferred, paged over contiguous", test_derive_prefers_cudnn_decode },
        { "derive: clamps above 1, goes on past a failed fit", test_derive_clamps_and_goes_on },
        { "write: value formats", test_format_value },
        { "write: calibrated profile loads with hw_load", test_write_profile_from_fixture },
        { "write: unknown figure refused", test_write_refuses_unknown_figure },
        { "derive and write: a run with a failed benchmark", test_derive_failed_benchmark },
        { "write: a measured dtype the base lacks", test_write_adds_dtype_curve },
        { "plan: points, calls and time by hand", test_plan_by_hand },
        { "plan: GEMM shapes of a model card", test_gemm_shapes },
        { "plan: cuDNN chunked prefill and decode points by hand", test_plan_sdpa_steps },
        { "attention work: causal FLOPs with a prefix, decode KV bytes", test_attn_work },
        { "hw: residual and samples keys", test_hw_fit_keys },
        { "hw: hw_check of fit records", test_hw_check_fit_record },
        { NULL, NULL },
    };
    return tu_run("calibrate", tests);
}
