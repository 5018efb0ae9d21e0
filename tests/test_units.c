/* test_units.c — CUnit tests of unit parsing and formatting: accepted spellings with hand-worked values, rejected strings, display format, round trips. */
#include <locale.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "units.h"

#define KiB 1024.0
#define MiB 1048576.0          /* 2^20 */
#define GiB 1073741824.0       /* 2^30 */
#define TiB 1099511627776.0    /* 2^40 */
#define PiB 1125899906842624.0 /* 2^50 */

typedef struct good_case {
    const char *text;
    units_kind kind;
    double want;
} good_case;

/* Every expected value is written out from the unit's definition. */
static const good_case good[] = {
    /* bytes: decimal and binary prefixes */
    { "80GiB", UNITS_BYTES, 80 * GiB },
    { "80 GiB", UNITS_BYTES, 80 * GiB },
    { "80\tGiB", UNITS_BYTES, 80 * GiB },
    { "80  GiB", UNITS_BYTES, 80 * GiB },
    { "1B", UNITS_BYTES, 1 },
    { "0B", UNITS_BYTES, 0 },
    { "1.5KB", UNITS_BYTES, 1500 },
    { "1KiB", UNITS_BYTES, 1024 },
    { "2MiB", UNITS_BYTES, 2 * 1048576.0 },
    { "3MB", UNITS_BYTES, 3000000 },
    { "4GB", UNITS_BYTES, 4000000000.0 },
    { "1TB", UNITS_BYTES, 1e12 },
    { "1TiB", UNITS_BYTES, TiB },
    { "2PB", UNITS_BYTES, 2e15 },
    { "1PiB", UNITS_BYTES, PiB },
    { "0.5GiB", UNITS_BYTES, 536870912 },
    { "007MB", UNITS_BYTES, 7e6 },
    { "1e3B", UNITS_BYTES, 1000 },
    { "2.5e-1KB", UNITS_BYTES, 250 },
    { "2E+2KiB", UNITS_BYTES, 200 * 1024.0 },
    { "0.001GB", UNITS_BYTES, 1e6 },
    /* bandwidth: bytes per second, and bits divided by 8 */
    { "3.35TB/s", UNITS_BANDWIDTH, 3.35e12 },
    { "64 GB/s", UNITS_BANDWIDTH, 64e9 },
    { "25GiB/s", UNITS_BANDWIDTH, 25 * GiB },
    { "1B/s", UNITS_BANDWIDTH, 1 },
    { "400Gb/s", UNITS_BANDWIDTH, 50e9 },
    { "400Gbit/s", UNITS_BANDWIDTH, 50e9 },
    { "400Gbps", UNITS_BANDWIDTH, 50e9 },
    { "400 Gbps", UNITS_BANDWIDTH, 50e9 },
    { "100Mb/s", UNITS_BANDWIDTH, 12.5e6 },
    { "8b/s", UNITS_BANDWIDTH, 1 },
    { "8Kb/s", UNITS_BANDWIDTH, 1000 },
    { "1Tb/s", UNITS_BANDWIDTH, 125e9 },
    { "200Gbps", UNITS_BANDWIDTH, 25e9 },
    /* duration in nanoseconds */
    { "2us", UNITS_DURATION, 2000 },
    { "2\xC2\xB5s", UNITS_DURATION, 2000 },  /* MICRO SIGN */
    { "2\xCE\xBCs", UNITS_DURATION, 2000 },  /* GREEK SMALL LETTER MU */
    { "5ns", UNITS_DURATION, 5 },
    { "1.5ms", UNITS_DURATION, 1.5e6 },
    { "3s", UNITS_DURATION, 3e9 },
    { "0.5 s", UNITS_DURATION, 5e8 },
    { "1.5min", UNITS_DURATION, 90e9 },
    { "2h", UNITS_DURATION, 7200e9 },
    { "1e-3s", UNITS_DURATION, 1e6 },
    /* FLOP/s */
    { "989TFLOP/s", UNITS_FLOPS, 989e12 },
    { "989TFLOPS", UNITS_FLOPS, 989e12 },
    { "1.979PFLOP/s", UNITS_FLOPS, 1.979e15 },
    { "500 GFLOP/s", UNITS_FLOPS, 500e9 },
    { "100FLOP/s", UNITS_FLOPS, 100 },
    /* power */
    { "700W", UNITS_POWER, 700 },
    { "700 W", UNITS_POWER, 700 },
    { "1.2kW", UNITS_POWER, 1200 },
    { "0W", UNITS_POWER, 0 },
    { "2MW", UNITS_POWER, 2e6 },
    /* rate per second */
    { "2.5/s", UNITS_RATE, 2.5 },
    { "2.5 /s", UNITS_RATE, 2.5 },
    { "30/min", UNITS_RATE, 0.5 },
    { "3600/h", UNITS_RATE, 1 },
    { "10req/s", UNITS_RATE, 10 },
    { "120 req/min", UNITS_RATE, 2 },
    { "7200req/h", UNITS_RATE, 2 },
    /* tokens: K = 2^10, M = 2^20 */
    { "128K", UNITS_TOKENS, 131072 },
    { "128 K", UNITS_TOKENS, 131072 },
    { "1M", UNITS_TOKENS, 1048576 },
    { "10M", UNITS_TOKENS, 10485760 },
    { "1.5K", UNITS_TOKENS, 1536 },
    { "0.5M", UNITS_TOKENS, 524288 },
    { "1000", UNITS_TOKENS, 1000 },
    { "0", UNITS_TOKENS, 0 },
    { "4096", UNITS_TOKENS, 4096 },
};

typedef struct bad_case {
    const char *text;
    units_kind kind;
} bad_case;

static const bad_case bad[] = {
    /* not a number, or not a plain non-negative decimal */
    { "", UNITS_BYTES },
    { "-1", UNITS_TOKENS },
    { "-1GB", UNITS_BYTES },
    { "+80GiB", UNITS_BYTES },
    { "nan", UNITS_BYTES },
    { "nanGB", UNITS_BYTES },
    { "inf", UNITS_BYTES },
    { "infGB", UNITS_BYTES },
    { "1.2.3", UNITS_TOKENS },
    { "1.2.3GB", UNITS_BYTES },
    { ".5GiB", UNITS_BYTES },
    { "5.GiB", UNITS_BYTES },
    { "0x10B", UNITS_BYTES },
    { "1,000B", UNITS_BYTES },
    { "1e999GB", UNITS_BYTES },
    { "1e308PB", UNITS_BYTES },   /* finite number, overflows with the unit */
    { "GB", UNITS_BYTES },
    /* stray spaces or trailing junk */
    { " 80GiB", UNITS_BYTES },
    { "80GiB ", UNITS_BYTES },
    { "80 G iB", UNITS_BYTES },
    { "80 GiBs", UNITS_BYTES },
    { "80GiB!", UNITS_BYTES },
    /* missing unit */
    { "80", UNITS_BYTES },
    { "80 ", UNITS_BYTES },
    { "1.5", UNITS_BANDWIDTH },
    { "2", UNITS_DURATION },
    { "700", UNITS_POWER },
    { "2.5", UNITS_RATE },
    { "989", UNITS_FLOPS },
    /* wrong case: b is bits, B bytes, m milli, M mega */
    { "80gb", UNITS_BYTES },
    { "80Gb", UNITS_BYTES },
    { "80gib", UNITS_BYTES },
    { "80kB", UNITS_BYTES },
    { "80KIB", UNITS_BYTES },
    { "400gbps", UNITS_BANDWIDTH },
    { "400gb/s", UNITS_BANDWIDTH },
    { "2S", UNITS_DURATION },
    { "2Ms", UNITS_DURATION },
    { "2NS", UNITS_DURATION },
    { "989tflops", UNITS_FLOPS },
    { "989TFLOP/S", UNITS_FLOPS },
    { "700w", UNITS_POWER },
    { "1.2KW", UNITS_POWER },
    { "700mW", UNITS_POWER },
    { "128k", UNITS_TOKENS },
    { "1m", UNITS_TOKENS },
    /* unknown or other-kind units */
    { "80GiB/s", UNITS_BYTES },
    { "400Gb", UNITS_BANDWIDTH },
    { "400 GB", UNITS_BANDWIDTH },
    { "3.35TB/sec", UNITS_BANDWIDTH },
    { "400Gbit", UNITS_BANDWIDTH },
    { "2 sec", UNITS_DURATION },
    { "1.5m", UNITS_DURATION },
    { "1hr", UNITS_DURATION },
    { "2 us s", UNITS_DURATION },
    { "989T", UNITS_FLOPS },
    { "989 TFLOP", UNITS_FLOPS },
    { "2.5/sec", UNITS_RATE },
    { "2.5 req", UNITS_RATE },
    { "2.5rps", UNITS_RATE },
    { "128KB", UNITS_TOKENS },
    { "128 K tokens", UNITS_TOKENS },
    { "128Ki", UNITS_TOKENS },
    /* token counts must be whole */
    { "1.5", UNITS_TOKENS },
    { "1e3", UNITS_TOKENS },
    { "0.3K", UNITS_TOKENS },     /* 307.2 tokens */
    { "1e-3M", UNITS_TOKENS },    /* 1048.576 tokens */
};

/* |got - want| within 1e-12 relative: the decimal text and the product with
 * the unit are each rounded once. */
static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-12 * fabs(want);
}

static void test_accepts(void)
{
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = -1;
        char why[256] = "";
        int rc = units_parse(good[i].text, good[i].kind, &v, why, sizeof why);
        if (rc != 0 || !close_to(v, good[i].want))
            fprintf(stderr, "\n  '%s': rc %d v %.17g want %.17g (%s)", good[i].text, rc, v,
                    good[i].want, why);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT(close_to(v, good[i].want));
    }
}

static void test_binary_values_are_exact(void)
{
    double v;
    CU_ASSERT_EQUAL_FATAL(units_parse("80GiB", UNITS_BYTES, &v, NULL, 0), 0);
    CU_ASSERT_EQUAL(v, 85899345920.0); /* 80 * 2^30 */
    CU_ASSERT_EQUAL_FATAL(units_parse("128K", UNITS_TOKENS, &v, NULL, 0), 0);
    CU_ASSERT_EQUAL(v, 131072.0);
    CU_ASSERT_EQUAL_FATAL(units_parse("400Gb/s", UNITS_BANDWIDTH, &v, NULL, 0), 0);
    CU_ASSERT_EQUAL(v, 50e9);
    CU_ASSERT_EQUAL_FATAL(units_parse("1.5min", UNITS_DURATION, &v, NULL, 0), 0);
    CU_ASSERT_EQUAL(v, 90e9);
}

static void test_rejects(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 12345;
        char why[256] = "";
        int rc = units_parse(bad[i].text, bad[i].kind, &v, why, sizeof why);
        if (rc != -1)
            fprintf(stderr, "\n  '%s' was accepted as %.17g", bad[i].text, v);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(v, 12345);     /* *out untouched on failure */
        CU_ASSERT(strlen(why) > 0);    /* and a reason is given */
    }
}

static void test_reasons(void)
{
    char why[256];
    double v;
    units_parse("80gib", UNITS_BYTES, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "'GiB'"));
    units_parse("400gb/s", UNITS_BANDWIDTH, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "'GB/s'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "'Gb/s'"));
    units_parse("80GiB/s", UNITS_BYTES, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "bandwidth"));
    units_parse("-1GB", UNITS_BYTES, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "negative"));
    units_parse("80", UNITS_BYTES, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "missing unit"));
    units_parse("", UNITS_BYTES, &v, why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "empty"));
    /* A short buffer is truncated, not overrun; NULL is allowed. */
    char small[8];
    memset(small, 'x', sizeof small);
    units_parse("80gib", UNITS_BYTES, &v, small, 5);
    CU_ASSERT_EQUAL(strlen(small), 4);
    CU_ASSERT_EQUAL(small[5], 'x');
    CU_ASSERT_EQUAL(units_parse("80gib", UNITS_BYTES, &v, NULL, 0), -1);
    CU_ASSERT_EQUAL(units_parse(NULL, UNITS_BYTES, &v, why, sizeof why), -1);
}

/* The decimal point is '.' whatever the locale, when a comma locale exists. */
static void test_locale_independent(void)
{
    static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", NULL };
    const char *got = NULL;
    for (int i = 0; names[i] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        fprintf(stderr, "(no comma locale installed; checked in C only) ");
    }
    double v;
    CU_ASSERT_EQUAL(units_parse("1.5KB", UNITS_BYTES, &v, NULL, 0), 0);
    CU_ASSERT_EQUAL(v, 1500);
    setlocale(LC_NUMERIC, "C");
}

static void test_examples_parse(void)
{
    static const char *const want[UNITS_KIND_COUNT] = {
        [UNITS_BYTES] = "80GiB", [UNITS_BANDWIDTH] = "3.35TB/s", [UNITS_DURATION] = "2us",
        [UNITS_FLOPS] = "989TFLOP/s", [UNITS_POWER] = "700W", [UNITS_RATE] = "2.5/s",
        [UNITS_TOKENS] = "128K",
    };
    for (int k = 0; k < UNITS_KIND_COUNT; k++) {
        double v;
        CU_ASSERT_STRING_EQUAL(units_example((units_kind)k), want[k]);
        CU_ASSERT_EQUAL(units_parse(units_example((units_kind)k), (units_kind)k, &v, NULL, 0), 0);
    }
}

typedef struct fmt_case {
    double v;
    units_kind kind;
    const char *want;
} fmt_case;

static const fmt_case fmts[] = {
    { 128 * 1024 * 327680.0, UNITS_BYTES, "42.95 GB" }, /* 128K tokens of Llama-3.1-70B KV */
    { 3.35e12, UNITS_BANDWIDTH, "3.35 TB/s" },
    { 1.5e6, UNITS_DURATION, "1.50 ms" },
    { 989e12, UNITS_FLOPS, "989 TFLOP/s" },
    { 700, UNITS_POWER, "700 W" },
    { 2.5, UNITS_RATE, "2.50 /s" },
    { 131072, UNITS_TOKENS, "131072" },
    { 0, UNITS_BYTES, "0 B" },
    { 0, UNITS_DURATION, "0 ns" },
    { 512, UNITS_BYTES, "512 B" },
    { 999, UNITS_BYTES, "999 B" },
    { 1000, UNITS_BYTES, "1.00 KB" },
    { 999.4e9, UNITS_BYTES, "999 GB" },
    { 999.6e9, UNITS_BYTES, "1.00 TB" },   /* rounds up into the next prefix */
    { 80 * GiB, UNITS_BYTES, "85.90 GB" },
    { -2e9, UNITS_BYTES, "-2.00 GB" },
    { 50e9, UNITS_BANDWIDTH, "50.00 GB/s" },
    { 2000, UNITS_DURATION, "2.00 us" },
    { 5, UNITS_DURATION, "5.00 ns" },
    { 90e9, UNITS_DURATION, "90.00 s" },
    { 1000e9, UNITS_DURATION, "16.67 min" },
    { 3600e9, UNITS_DURATION, "60.00 min" },
    { 3 * 3600e9, UNITS_DURATION, "3.00 h" },
    { 1.979e15, UNITS_FLOPS, "1.98 PFLOP/s" },
    { 1200, UNITS_POWER, "1.20 kW" },
    { 0.5, UNITS_RATE, "0.500 /s" },
    { 150, UNITS_RATE, "150 /s" },
    { 1048576, UNITS_TOKENS, "1048576" },
    { INFINITY, UNITS_BYTES, "inf B" },
};

static void test_format(void)
{
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char buf[64];
        char *r = units_format(fmts[i].v, fmts[i].kind, buf, sizeof buf);
        CU_ASSERT_PTR_EQUAL(r, buf);
        if (strcmp(buf, fmts[i].want) != 0)
            fprintf(stderr, "\n  %.17g: got '%s' want '%s'", fmts[i].v, buf, fmts[i].want);
        CU_ASSERT_STRING_EQUAL(buf, fmts[i].want);
    }
    char small[5];
    units_format(42949672960.0, UNITS_BYTES, small, sizeof small);
    CU_ASSERT_STRING_EQUAL(small, "42.9");
}

/* What units_format prints parses back to within its display rounding
 * (half a unit in the third significant digit: 0.5%). */
static void test_format_round_trips(void)
{
    for (int k = 0; k < UNITS_KIND_COUNT; k++)
        for (int e = 0; e <= 20; e++) {
            double v = 1.234567 * pow(10, e);
            if (k == UNITS_TOKENS)
                v = floor(v);
            char buf[64];
            double back = -1;
            units_format(v, (units_kind)k, buf, sizeof buf);
            int rc = units_parse(buf, (units_kind)k, &back, NULL, 0);
            if (rc != 0 || fabs(back - v) > 0.005 * v)
                fprintf(stderr, "\n  kind %d: %.17g -> '%s' -> %.17g", k, v, buf, back);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT(fabs(back - v) <= 0.005 * v);
        }
}

/* units_strtod: strtod's value for decimal spellings, where strtod ends;
 * no number at all for hex floats, inf and nan. */
static void test_strtod_decimal_only(void)
{
    static const struct { const char *s; double v; size_t end; } ok[] = {
        { "42", 42, 2 }, { "0.5", 0.5, 3 }, { ".5", 0.5, 2 }, { "1.", 1, 2 }, { "-2.5e3", -2500, 6 },
        { "1e", 1, 1 }, { "16GiB", 16, 2 }, { "2.5e-1x", 0.25, 6 }, { " 7", 7, 2 }, { "0", 0, 1 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *end;
        CU_ASSERT_EQUAL(units_strtod(ok[i].s, &end), ok[i].v);
        CU_ASSERT_EQUAL((size_t)(end - ok[i].s), ok[i].end);
    }
    static const char *const bad[] = { "0x1p3", "0X10", "inf", "-infinity", "nan", "NAN(1)", "", ".", "e5", "+" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *end;
        CU_ASSERT_EQUAL(units_strtod(bad[i], &end), 0);
        CU_ASSERT_PTR_EQUAL(end, bad[i]);
    }
}

int main(void)
{
    static const tu_test tests[] = {
        { "accepted spellings and values", test_accepts },
        { "binary multiples are exact", test_binary_values_are_exact },
        { "rejected strings", test_rejects },
        { "reasons name the problem", test_reasons },
        { "decimal point ignores the locale", test_locale_independent },
        { "examples parse", test_examples_parse },
        { "format", test_format },
        { "format round-trips through parse", test_format_round_trips },
        { "units_strtod takes decimal numbers only", test_strtod_decimal_only },
        { NULL, NULL },
    };
    return tu_run("units", tests);
}
