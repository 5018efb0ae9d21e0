/* test_validate.c — kvtier validate: case files read strictly, the error arithmetic and median, and values equal to kvtier run's. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "validate.h"

/* The fixture cases (tests/data/validate/cases), in the order the table lists them. */
#define N_FIXTURES 3
static const struct {
    const char *name, *scenario, *sets[2], *field;
    double published;
    int per_gpu, rate_from_ms;
} fixtures[N_FIXTURES] = {
    { "a-decode", "tests/data/validate/scenarios/decode.yaml", { NULL }, "tpot_mean", 150, 0, 1 },
    { "b-batch", "tests/data/validate/scenarios/batch.yaml", { "workload.output_tokens=40" },
      "output_token_throughput", 2000, 1, 0 },
    { "c-ttft", "tests/data/validate/scenarios/decode.yaml",
      { "workload.input_tokens=2000", "workload.output_tokens=1" }, "ttft_mean", 40, 0, 0 },
};

static void test_error_pct(void)
{
    CU_ASSERT_DOUBLE_EQUAL(validate_error_pct(110, 100), 10.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(validate_error_pct(75, 100), -25.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(validate_error_pct(3, 2), 50.0, 1e-12);
}

static void test_stats(void)
{
    /* |errors| 5, 30, 12, 20 sorted: 5 12 20 30; median (12 + 20) / 2 = 16;
     * within 10%: 5; within 25%: 5, 12, 20. The input is left as it was. */
    double e[] = { 5, -30, 12, -20 };
    validate_stats st;
    validate_stats_compute(e, 4, &st);
    CU_ASSERT_EQUAL(st.n, 4);
    CU_ASSERT_DOUBLE_EQUAL(st.median_abs_pct, 16.0, 1e-12);
    CU_ASSERT_EQUAL(st.within_10, 1);
    CU_ASSERT_EQUAL(st.within_25, 3);
    CU_ASSERT_DOUBLE_EQUAL(e[1], -30.0, 0);
    /* Odd count: the middle one; a case exactly at 10% or 25% counts as within. */
    double f[] = { -10, 25, 40 };
    validate_stats_compute(f, 3, &st);
    CU_ASSERT_DOUBLE_EQUAL(st.median_abs_pct, 25.0, 1e-12);
    CU_ASSERT_EQUAL(st.within_10, 1);
    CU_ASSERT_EQUAL(st.within_25, 2);
    validate_stats_compute(NULL, 0, &st);
    CU_ASSERT_EQUAL(st.n, 0);
    CU_ASSERT(isnan(st.median_abs_pct));
}

static void test_case_load(void)
{
    kt_err err;
    validate_case *c = validate_case_load(tu_path("tests/data/validate/cases/b-batch.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->name, "b-batch");
    CU_ASSERT_EQUAL(c->kind, VALIDATE_MAX_THROUGHPUT);
    CU_ASSERT_EQUAL(c->per, VALIDATE_PER_GPU);
    CU_ASSERT_STRING_EQUAL(c->metric, "output_token_throughput");
    CU_ASSERT_DOUBLE_EQUAL(c->published, 2000, 0);
    CU_ASSERT_STRING_EQUAL(c->unit, "tok/s/GPU");
    CU_ASSERT_EQUAL(c->n_sets, 1);
    CU_ASSERT_STRING_EQUAL(c->sets[0], "workload.output_tokens=40");
    CU_ASSERT_PTR_NOT_NULL(strstr(c->scenario, "tests/data/validate/cases/../scenarios/batch.yaml"));
    CU_ASSERT_STRING_EQUAL(c->source_where, "example/none README.md@0123456789ab, first");
    CU_ASSERT_STRING_EQUAL(c->lacks, "nothing; marks the case");
    validate_case_free(c);
    c = validate_case_load(tu_path("tests/data/validate/cases/a-decode.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NULL(c->lacks);
    CU_ASSERT_EQUAL(c->n_sets, 0);
    CU_ASSERT_STRING_EQUAL(c->source_where, "https://example.org/none");
    validate_case_free(c);
}

/* Loading rel fails at line:col with a message containing what. */
static void expect_bad_case(const char *rel, int line, int col, const char *what)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    validate_case *c = validate_case_load(tu_path(rel), &err);
    CU_ASSERT_PTR_NULL(c);
    validate_case_free(c);
    CU_ASSERT_EQUAL(err.line, line);
    CU_ASSERT_EQUAL(err.col, col);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
    if (!strstr(err.msg, what) || err.line != line || err.col != col)
        fprintf(stderr, "\n  %s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
}

static void test_case_bad(void)
{
    /* "published: {value: 40, unit: ms, note: x}": a key is located at its
     * value, note's x in column 40 of line 5. */
    expect_bad_case("tests/data/validate/bad/unknown-key.yaml", 5, 40, "published.note: unknown key");
    /* No metric: reported at the document (line 1, column 1). */
    expect_bad_case("tests/data/validate/bad/missing-key.yaml", 1, 1, "missing required key 'metric'");
    /* rate_from_ms on a rate: at the metric's value (line 4, column 9). */
    expect_bad_case("tests/data/validate/bad/bad-metric.yaml", 4, 9, "needs a time in ms");
}

static int call_validate(int argc, char **argv, void *ud) { return validate_main(argc, argv); }

/* A bad case file stops the suite before anything runs: exit 2, nothing on stdout. */
static void test_bad_dir_runs_nothing(void)
{
    char *args[] = { "validate", (char *)tu_path("tests/data/validate/bad"), NULL };
    tu_output o = tu_capture(call_validate, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT_STRING_EQUAL(o.out, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "bad-metric.yaml:4:9: metric:"));
    tu_output_free(&o);
    char *nomatch[] = { "validate", (char *)tu_path("tests/data/validate/cases"), "--case", "zz*", NULL };
    o = tu_capture(call_validate, nomatch, NULL);
    CU_ASSERT_EQUAL(o.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "no case matches 'zz*'"));
    tu_output_free(&o);
}

/* The JSON a command printed on stdout; frees the output. */
static json_t *output_json(tu_output *o)
{
    json_error_t je;
    json_t *root = json_loads(o->out, 0, &je);
    tu_output_free(o);
    return root;
}

/* The summary field of `kvtier run SCENARIO --set ... --json --no-db`, the program's own path. */
static double run_field(int i)
{
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)tu_build_path("sim/kvtier");
    argv[n++] = "run";
    argv[n++] = (char *)tu_path(fixtures[i].scenario);
    for (int k = 0; k < 2 && fixtures[i].sets[k]; k++) {
        argv[n++] = "--set";
        argv[n++] = (char *)fixtures[i].sets[k];
    }
    argv[n++] = "--json";
    argv[n++] = "--no-db";
    argv[n] = NULL;
    tu_output o = tu_exec(argv);
    CU_ASSERT_EQUAL(o.rc, 0);
    json_t *root = output_json(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *sum = json_object_get(root, "summary");
    double v = json_number_value(json_object_get(sum, fixtures[i].field));
    if (fixtures[i].per_gpu)
        v /= json_number_value(json_object_get(sum, "gpus"));
    if (fixtures[i].rate_from_ms)
        v = 1000.0 / v;
    json_decref(root);
    return v;
}

static int by_abs(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return (x > y) - (x < y);
}

/* validate --json on the fixtures: each kvtier value is the figure kvtier
 * run prints for the same scenario, each error (v − p) / p, the median the
 * middle |error| of three. */
static void test_fixture_suite(void)
{
    char *args[] = { "validate", (char *)tu_path("tests/data/validate/cases"), "--json", NULL };
    tu_output o = tu_capture(call_validate, args, NULL);
    CU_ASSERT_EQUAL_FATAL(o.rc, 0);
    json_t *root = output_json(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *cases = json_object_get(root, "cases");
    CU_ASSERT_EQUAL_FATAL(json_array_size(cases), N_FIXTURES);
    double errs[N_FIXTURES];
    for (int i = 0; i < N_FIXTURES; i++) {
        json_t *c = json_array_get(cases, (size_t)i);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "name")), fixtures[i].name);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "gpu")), "h100-sxm");
        double v = json_number_value(json_object_get(c, "kvtier")), expect = run_field(i);
        CU_ASSERT(v > 0);
        CU_ASSERT_DOUBLE_EQUAL(v, expect, 1e-9 * expect);
        errs[i] = (expect - fixtures[i].published) / fixtures[i].published * 100.0;
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(c, "error_pct")), errs[i], 1e-9);
    }
    CU_ASSERT(json_is_null(json_object_get(json_array_get(cases, 0), "lacks")));
    CU_ASSERT(json_is_string(json_object_get(json_array_get(cases, 1), "lacks")));
    qsort(errs, N_FIXTURES, sizeof errs[0], by_abs);
    json_t *sum = json_object_get(root, "summary");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(sum, "median_abs_error_pct")), fabs(errs[1]), 1e-9);
    size_t within_10 = 0, within_25 = 0;
    for (int i = 0; i < N_FIXTURES; i++) {
        within_10 += fabs(errs[i]) <= 10;
        within_25 += fabs(errs[i]) <= 25;
    }
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "within_10pct")), (json_int_t)within_10);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "within_25pct")), (json_int_t)within_25);
    json_decref(root);
}

/* The table marks the case that lacks something and ends with the median line; --case selects by name. */
static void test_table(void)
{
    char *args[] = { "validate", (char *)tu_path("tests/data/validate/cases"), "--case", "[bc]-*", NULL };
    tu_output o = tu_capture(call_validate, args, NULL);
    CU_ASSERT_EQUAL(o.rc, 0);
    CU_ASSERT_PTR_NULL(strstr(o.out, "a-decode"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "b-batch*"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "* b-batch lacks: nothing; marks the case"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "over 2 of 2 cases"));
    tu_output_free(&o);
}

int main(void)
{
    /* Model cards and profiles come from the source tree, also in a VPATH build. */
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "error arithmetic", test_error_pct },
        { "median and counts by hand", test_stats },
        { "case file", test_case_load },
        { "bad case files located", test_case_bad },
        { "a bad case runs nothing", test_bad_dir_runs_nothing },
        { "fixture suite against kvtier run", test_fixture_suite },
        { "table", test_table },
        { NULL, NULL },
    };
    return tu_run("validate", tests);
}
