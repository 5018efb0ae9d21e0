/* test_curve.c — efficiency curves (interpolation in log size, the floors below the first point) and weight formats (bytes per parameter with scales), against hand arithmetic. */
#include <math.h>
#include <string.h>

#include "conf.h"
#include "curve.h"
#include "quant.h"
#include "testutil.h"

#define ASSERT_NEAR(a, b) CU_ASSERT(fabs((a) - (b)) <= 1e-12 * (fabs(b) + 1e-300))

/* Three points: 0.2 at 16, 0.6 at 256, 0.8 at 4096. */
static curve three(curve_below below)
{
    curve c = { .n = 3, .x_kind = CURVE_X_BYTES, .below = below, .y_max = 1, .x = { 16, 256, 4096 }, .y = { 0.2, 0.6, 0.8 } };
    return c;
}

static void test_points_and_between(void)
{
    curve c = three(CURVE_HOLD_EFFICIENCY);
    ASSERT_NEAR(curve_eval(&c, 16), 0.2);
    ASSERT_NEAR(curve_eval(&c, 256), 0.6);
    ASSERT_NEAR(curve_eval(&c, 4096), 0.8);
    /* 64 is halfway from 16 to 256 in log size (16·4 = 64, 64·4 = 256). */
    ASSERT_NEAR(curve_eval(&c, 64), 0.4);
    /* 1024: halfway from 256 to 4096. The slope bends at 256. */
    ASSERT_NEAR(curve_eval(&c, 1024), 0.7);
    /* A quarter of the way: 32 = 16·2, log 2 / log 16 = 1/4. */
    ASSERT_NEAR(curve_eval(&c, 32), 0.3);
}

static void test_outside(void)
{
    curve t = three(CURVE_HOLD_EFFICIENCY), b = three(CURVE_HOLD_TIME);
    ASSERT_NEAR(curve_eval(&t, 1e9), 0.8);
    ASSERT_NEAR(curve_eval(&b, 1e9), 0.8);
    ASSERT_NEAR(curve_eval(&t, 4), 0.2);          /* holding efficiency: the first one */
    ASSERT_NEAR(curve_eval(&b, 4), 0.05);         /* holding time: 0.2 × 4/16, the first point's time */
    /* So 4 bytes take as long as 16: 16 B / (1e9 B/s × 0.2) = 80 ns. */
    ASSERT_NEAR(curve_time_ns(&b, 4, 4, 1e9), 80);
    ASSERT_NEAR(curve_time_ns(&b, 16, 16, 1e9), 80);
}

static void test_time(void)
{
    curve c = three(CURVE_HOLD_EFFICIENCY);
    /* 1e12 FLOP at 1e15 FLOP/s × 0.7 (x = 1024): 1e12 / 7e14 s = 1/700 s. */
    ASSERT_NEAR(curve_time_ns(&c, 1024, 1e12, 1e15), 1e9 / 700);
    CU_ASSERT_EQUAL(curve_time_ns(&c, 1024, 0, 1e15), 0);
}

/* A prepared curve: its log widths are the segments' (16 to 256 and 256 to
 * 4096 are both × 16), its values curve_eval's bit for bit at points,
 * between them, below and above, under both rules below the first. */
static void test_prepared(void)
{
    for (int b = 0; b < 2; b++) {
        curve c = three(b ? CURVE_HOLD_TIME : CURVE_HOLD_EFFICIENCY);
        curve_ln l;
        curve_ln_init(&l, &c);
        CU_ASSERT_PTR_EQUAL(l.c, &c);
        ASSERT_NEAR(l.ln_width[1], log(16.0));
        ASSERT_NEAR(l.ln_width[2], log(16.0));
        ASSERT_NEAR(curve_ln_eval(&l, 64), 0.4);
        ASSERT_NEAR(curve_ln_time_ns(&l, 1024, 1e12, 1e15), 1e9 / 700);
        for (double x = 0.5; x < 1e5; x *= 1.37) {
            CU_ASSERT(curve_ln_eval(&l, x) == curve_eval(&c, x));
            CU_ASSERT(curve_ln_time_ns(&l, x, 3e9, 1e12) == curve_time_ns(&c, x, 3e9, 1e12));
            CU_ASSERT(curve_ln_eval_between(&l, &l, 0.25, x) == curve_eval_between(&c, &c, 0.25, x));
        }
    }
    /* A curve without points prepares to nothing to evaluate. */
    curve none = { 0 };
    curve_ln l;
    curve_ln_init(&l, &none);
    CU_ASSERT_EQUAL(l.c->n, 0);
}

static void test_check(void)
{
    kt_err err;
    curve c = three(CURVE_HOLD_EFFICIENCY);
    CU_ASSERT_EQUAL(curve_check(&c, "t", &err), 0);
    c.x[2] = 200;                                  /* not ascending */
    CU_ASSERT_EQUAL(curve_check(&c, "t", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ascending"));
    c = three(CURVE_HOLD_EFFICIENCY);
    c.y[1] = 1.5;                                  /* beyond y_max */
    CU_ASSERT_EQUAL(curve_check(&c, "t", &err), -1);
    c.y_max = 2;
    CU_ASSERT_EQUAL(curve_check(&c, "t", &err), 0);
    c.y[0] = 0;
    CU_ASSERT_EQUAL(curve_check(&c, "t", &err), -1);
}

static void test_quant_bytes(void)
{
    quant_cfg q = { QUANT_W4A16, 128 };
    /* 4 bits + (2 B fp16 scale + 0.5 B int4 zero) / 128 elements. */
    ASSERT_NEAR(quant_bytes_param(&q), 0.5 + 2.5 / 128);
    q.group = 32;
    ASSERT_NEAR(quant_bytes_param(&q), 0.578125);
    q.group = 0;                                   /* per channel: no per-group bytes */
    ASSERT_NEAR(quant_bytes_param(&q), 0.5);
    q = (quant_cfg){ QUANT_MXFP4, 32 };            /* 1 B E8M0 scale per 32 */
    ASSERT_NEAR(quant_bytes_param(&q), 0.53125);
    q = (quant_cfg){ QUANT_NVFP4, 16 };            /* 1 B E4M3 scale per 16 */
    ASSERT_NEAR(quant_bytes_param(&q), 0.5625);
    q = (quant_cfg){ QUANT_W8A16, 128 };
    ASSERT_NEAR(quant_bytes_param(&q), 1 + 2.0 / 128);
    q = quant_from_dtype(DTYPE_FP8);
    CU_ASSERT_EQUAL(q.format, QUANT_FP8);
    ASSERT_NEAR(quant_bytes_param(&q), 1);
    q = quant_from_dtype(DTYPE_BF16);
    ASSERT_NEAR(quant_bytes_param(&q), 2);
}

static void test_quant_conf(void)
{
    kt_err err;
    const char *ok = "quantization: {weights: w4a16, group: 32}\n";
    conf_node *root = conf_parse_string(ok, strlen(ok), "q.yaml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    quant_cfg q = { QUANT_BF16, 0 };
    CU_ASSERT_EQUAL(quant_from_conf(root, &q, &err), 0);
    CU_ASSERT_EQUAL(q.format, QUANT_W4A16);
    CU_ASSERT_EQUAL(q.group, 32);
    conf_free(root);

    const char *fixed = "quantization:\n  weights: nvfp4\n  group: 32\n";
    root = conf_parse_string(fixed, strlen(fixed), "q.yaml", &err);
    CU_ASSERT_EQUAL(quant_from_conf(root, &q, &err), -1);
    CU_ASSERT_EQUAL(err.line, 3);                  /* at the group */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "blocks of 16"));
    conf_free(root);

    const char *bad = "quantization: {weights: int3}\n";
    root = conf_parse_string(bad, strlen(bad), "q.yaml", &err);
    CU_ASSERT_EQUAL(quant_from_conf(root, &q, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "weights"));
    conf_free(root);
}

int main(void)
{
    static const tu_test tests[] = {
        { "points and between them", test_points_and_between },
        { "below and above the points", test_outside },
        { "time from a curve", test_time },
        { "prepared curves equal curve_eval", test_prepared },
        { "invariants", test_check },
        { "weight bytes with scales", test_quant_bytes },
        { "quantization key", test_quant_conf },
        { NULL, NULL },
    };
    return tu_run("curve", tests);
}
