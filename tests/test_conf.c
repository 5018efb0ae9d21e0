/* test_conf.c — YAML loading: located errors, strict typed accessors, --set overrides, and scenario validation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "model.h"
#include "scenario.h"
#include "testutil.h"

static conf_node *parse(const char *text, kt_err *err)
{
    return conf_parse_string(text, strlen(text), "t.yaml", err);
}

static void test_paths_and_values(void)
{
    kt_err err;
    conf_node *r = parse("kv:\n  block_tokens: 16\n  dtype: bf16\nlayers:\n  - {kind: global}\n  - {kind: sliding}\n",
                         &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    conf_node *kv = conf_take(r, "kv");
    int64_t bt = 0;
    CU_ASSERT_EQUAL(conf_i64(kv, "block_tokens", CONF_REQUIRED, 1, 1024, &bt, &err), 0);
    CU_ASSERT_EQUAL(bt, 16);
    CU_ASSERT_STRING_EQUAL(conf_find(kv, "dtype")->path, "kv.dtype");
    conf_node *layers = conf_take(r, "layers");
    CU_ASSERT_EQUAL(layers->n_kids, 2);
    CU_ASSERT_STRING_EQUAL(conf_find(layers->kids[1], "kind")->path, "layers[1].kind");
    CU_ASSERT_EQUAL(conf_find(layers->kids[1], "kind")->line, 6);
    conf_free(r);
}

static void test_syntax_error_location(void)
{
    kt_err err;
    /* The flow sequence opened on line 1 is never closed; libyaml reports
     * where it noticed, on line 2. */
    conf_node *r = parse("a: [1, 2\nb: 3\n", &err);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT_STRING_EQUAL(err.file, "t.yaml");
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "YAML syntax error"));
}

static void test_duplicate_key(void)
{
    kt_err err;
    conf_node *r = parse("seed: 1\nname: x\nseed: 2\n", &err);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT_EQUAL(err.line, 3);
    CU_ASSERT_EQUAL(err.col, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "seed: duplicate key (first given at line 1)"));
}

static void test_empty_and_aliases(void)
{
    kt_err err;
    CU_ASSERT_PTR_NULL(parse("", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty"));
    CU_ASSERT_EQUAL(err.line, 1);
    /* Comments only: where the stream ends. */
    CU_ASSERT_PTR_NULL(parse("# nothing\n\n", &err));
    CU_ASSERT_EQUAL(err.line, 3);
    CU_ASSERT_PTR_NULL(parse("a: &x 1\nb: *x\n", &err));
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NULL(parse("a: 1\n---\nb: 2\n", &err));
}

/* Strings into fixed buffers: a longer one is an error, never cut short. */
static void test_str_copy(void)
{
    kt_err err;
    conf_node *r = parse("a: four\nb: fives\n", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char buf[5] = "x";
    CU_ASSERT_EQUAL(conf_str_copy(r, "a", CONF_REQUIRED, buf, sizeof buf, &err), 0);
    CU_ASSERT_STRING_EQUAL(buf, "four");
    CU_ASSERT_EQUAL(conf_str_copy(r, "b", CONF_REQUIRED, buf, sizeof buf, &err), -1);
    CU_ASSERT_STRING_EQUAL(err.msg, "b: is 5 characters long, at most 4");
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_STRING_EQUAL(buf, "four");
    CU_ASSERT_EQUAL(conf_str_copy(r, "c", CONF_OPTIONAL, buf, sizeof buf, &err), 0);
    /* A key needed only when a condition holds. */
    CU_ASSERT_EQUAL(conf_str_copy(r, "c", conf_required_if(1), buf, sizeof buf, &err), -1);
    CU_ASSERT_EQUAL(conf_str_copy(r, "c", conf_required_if(0), buf, sizeof buf, &err), 0);
    conf_free(r);
}

/* Bad bytes are located at their line and column, not at 1:1. */
static void test_reader_errors(void)
{
    kt_err err;
    CU_ASSERT_PTR_NULL(parse("a: 1\nb: x\x01y\n", &err));
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_EQUAL(err.col, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "control characters"));
    CU_ASSERT_PTR_NULL(parse("a: 1\nb: 2\nc: \xff\n", &err));
    CU_ASSERT_EQUAL(err.line, 3);
    CU_ASSERT_EQUAL(err.col, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "byte 0xFF"));
}

static void test_typed_errors(void)
{
    kt_err err;
    conf_node *r = parse("n: \"8\"\nm: 3.5\nbig: 99\nsz: 80\nbw: 3.35TB/s\nt: 2us\nflag: yes\nmode: fast\nnone:\n",
                         &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int64_t i = 0;
    double d = 0;
    int b = 0, e = 0;
    CU_ASSERT_EQUAL(conf_i64(r, "n", CONF_REQUIRED, 0, 100, &i, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "n: expected an integer, found the quoted string"));
    CU_ASSERT_EQUAL(err.line, 1);
    CU_ASSERT_EQUAL(err.col, 4);
    CU_ASSERT_EQUAL(conf_i64(r, "m", CONF_REQUIRED, 0, 100, &i, &err), -1);
    CU_ASSERT_EQUAL(conf_i64(r, "big", CONF_REQUIRED, 0, 10, &i, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "big: 99 is out of range [0, 10]"));
    CU_ASSERT_EQUAL(conf_qty(r, "sz", CONF_REQUIRED, UNITS_BYTES, 0, 1e15, &d, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sz: '80'"));
    CU_ASSERT_EQUAL(conf_qty(r, "bw", CONF_REQUIRED, UNITS_BANDWIDTH, 0, 1e15, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 3.35e12, 1);
    int64_t ns = 0;
    CU_ASSERT_EQUAL(conf_ns(r, "t", CONF_REQUIRED, 0, INT64_MAX, &ns, &err), 0);
    CU_ASSERT_EQUAL(ns, 2000);
    CU_ASSERT_EQUAL(conf_bool(r, "flag", CONF_REQUIRED, &b, &err), -1);
    static const char *const modes[] = { "slow", "steady", NULL };
    CU_ASSERT_EQUAL(conf_enum(r, "mode", CONF_REQUIRED, modes, &e, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mode: 'fast' is not one of: slow, steady"));
    CU_ASSERT_EQUAL(conf_i64(r, "none", CONF_REQUIRED, 0, 10, &i, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "none: has no value"));
    CU_ASSERT_EQUAL(conf_i64(r, "absent", CONF_REQUIRED, 0, 10, &i, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing required key 'absent'"));
    i = 7;
    CU_ASSERT_EQUAL(conf_i64(r, "absent", CONF_OPTIONAL, 0, 10, &i, &err), 0);
    CU_ASSERT_EQUAL(i, 7);
    conf_free(r);
}

static void test_unknown_key(void)
{
    kt_err err;
    conf_node *r = parse("kv:\n  block_tokens: 16\n  blok: 3\nseed: 1\n", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int64_t v;
    conf_i64(conf_take(r, "kv"), "block_tokens", CONF_REQUIRED, 1, 64, &v, &err);
    conf_i64(r, "seed", CONF_REQUIRED, 0, 9, &v, &err);
    CU_ASSERT_EQUAL(conf_check_unused(r, &err), -1);
    CU_ASSERT_EQUAL(err.line, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv.blok: unknown key"));
    conf_free(r);
}

static void test_set_overrides(void)
{
    kt_err err;
    conf_node *r = parse("kv:\n  block_tokens: 16\nname: a\n", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(conf_set(r, "kv.block_tokens=32", &err), 0);
    CU_ASSERT_EQUAL(conf_set(r, "workload.arrival.rate=5/s", &err), 0);
    CU_ASSERT_EQUAL(conf_set(r, "list=[1, 2, 3]", &err), 0);
    int64_t bt = 0;
    CU_ASSERT_EQUAL(conf_i64(conf_take(r, "kv"), "block_tokens", CONF_REQUIRED, 1, 64, &bt, &err), 0);
    CU_ASSERT_EQUAL(bt, 32);
    conf_node *rate = conf_find(conf_find(conf_find(r, "workload"), "arrival"), "rate");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rate);
    CU_ASSERT_STRING_EQUAL(rate->path, "workload.arrival.rate");
    CU_ASSERT_STRING_EQUAL(rate->file, "--set");
    CU_ASSERT_EQUAL(conf_find(r, "list")->n_kids, 3);
    /* Through a scalar, or without '=', is an error naming the argument. */
    CU_ASSERT_EQUAL(conf_set(r, "name.x=1", &err), -1);
    CU_ASSERT_STRING_EQUAL(err.file, "--set");
    CU_ASSERT_EQUAL(conf_set(r, "kv.block_tokens", &err), -1);
    CU_ASSERT_EQUAL(conf_set(r, "a..b=1", &err), -1);
    conf_free(r);
}

static void test_yaml_round_trip(void)
{
    kt_err err;
    const char *text = "name: \"a: b\"\nkv:\n  block_tokens: 16\nlist:\n- 1\n- x y\n";
    conf_node *r = parse(text, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char *out = conf_to_yaml(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    conf_node *r2 = parse(out, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
    CU_ASSERT_STRING_EQUAL(conf_find(r2, "name")->value, "a: b");
    CU_ASSERT_STRING_EQUAL(conf_find(conf_find(r2, "kv"), "block_tokens")->value, "16");
    CU_ASSERT_STRING_EQUAL(conf_find(r2, "list")->kids[1]->value, "x y");
    free(out);
    conf_free(r);
    conf_free(r2);
}

/* ---------- scenarios ---------- */

static const char *base_scenario =
    "name: t\n"                                         /* 1 */
    "seed: 7\n"                                         /* 2 */
    "model: llama-3.1-8b\n"                             /* 3 */
    "hardware: h100-sxm\n"                              /* 4 */
    "replicas:\n"                                       /* 5 */
    "  count: 1\n"                                      /* 6 */
    "  gpus: 1\n"                                       /* 7 */
    "  tensor_parallel: 1\n"                            /* 8 */
    "kv:\n"                                             /* 9 */
    "  block_tokens: 16\n"                              /* 10 */
    "  activation_reserve: 2GiB\n"                      /* 11 */
    "workload:\n"                                       /* 12 */
    "  kind: synthetic\n"                               /* 13 */
    "  sessions: 3\n"                                   /* 14 */
    "  arrival: {process: poisson, rate: 1/s}\n"        /* 15 */
    "  turns: 2\n"                                      /* 16 */
    "  input_tokens: 100\n"                             /* 17 */
    "  output_tokens: 10\n";                            /* 18 */

/* Writes text to a temp file and loads it as a scenario with overrides. */
static scenario *load_text(const char *text, char *const *sets, int n_sets, kt_err *err, char *path)
{
    strcpy(path, "/tmp/kvtier-test-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    scenario *sc = scenario_load(path, sets, n_sets, err);
    unlink(path);
    return sc;
}

/* Replaces the first occurrence of from in base_scenario with to. */
static char *edit(const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(base_scenario, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t pre = (size_t)(at - base_scenario);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, base_scenario, to, at + strlen(from));
    return buf;
}

/* Loading text must fail at line:col with a message containing want. */
static void expect_error(const char *text, char *const *sets, int n_sets, int line, int col, const char *want)
{
    kt_err err;
    char path[64];
    scenario *sc = load_text(text, sets, n_sets, &err, path);
    CU_ASSERT_PTR_NULL(sc);
    scenario_free(sc);
    CU_ASSERT_EQUAL(err.line, line);
    if (col)
        CU_ASSERT_EQUAL(err.col, col);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (!strstr(err.msg, want) || err.line != line)
        fprintf(stderr, "\n  got %s:%d:%d: %s (wanted line %d: %s)\n", err.file, err.line, err.col, err.msg,
                line, want);
}

static void test_scenario_valid(void)
{
    kt_err err;
    char path[64];
    scenario *sc = load_text(base_scenario, NULL, 0, &err, path);
    if (!sc)
        fprintf(stderr, "\n  %s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->seed, 7);
    CU_ASSERT_EQUAL(sc->workload.seed, 7);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 16);
    CU_ASSERT_STRING_EQUAL(sc->model->name, "llama-3.1-8b");
    /* Pool size by hand: per GPU, HBM × 0.9 − weights − 2 GiB, over
     * 16 tokens × 131,072 B (Llama-3.1-8B bf16 KV per token). */
    double budget = sc->hw->hbm_bytes * 0.9 - model_weight_bytes(sc->model) - 2.0 * 1073741824.0;
    CU_ASSERT_EQUAL(sc->kv_blocks_per_replica, (uint32_t)(budget / (16 * 131072.0)));
    scenario_free(sc);
}

/* Did-you-mean everywhere a name is read: a key ("dtpye" is 2 edits from
 * kv's "dtype"; "zzz" is 3 or more from every key kv takes, so no hint), an
 * enum value, a model card and a profile name (each 1 edit or a prefix). */
static void test_did_you_mean(void)
{
    char *key[] = { "kv.dtpye=fp8" };
    expect_error(base_scenario, key, 1, 1, 0, "kv.dtpye: unknown key (did you mean 'dtype'?)");
    char *far_key[] = { "kv.zzz=1" };
    expect_error(base_scenario, far_key, 1, 1, 0, "kv.zzz: unknown key");
    kt_err err;
    char path[64];
    scenario *sc = load_text(base_scenario, far_key, 1, &err, path);
    CU_ASSERT_PTR_NULL(sc);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "did you mean"));
    char *dtype[] = { "kv.dtype=bf61" };
    expect_error(base_scenario, dtype, 1, 1, 0, "'bf61' is not one of: ");
    expect_error(base_scenario, dtype, 1, 1, 0, "(did you mean 'bf16'?)");
    char *model[] = { "model=llama-3.1-8" };
    expect_error(base_scenario, model, 1, 1, 0, "no model card 'llama-3.1-8' (did you mean 'llama-3.1-8b'?)");
    char *gpu[] = { "hardware=h100" };
    expect_error(base_scenario, gpu, 1, 1, 0, "no hardware profile 'h100' (did you mean 'h100-sxm'?)");
}

/* A scenario's own folder is not searched for cards: scenarios/azure.yaml
 * is there, yet model=azure finds no card, and "available:" lists only
 * models/ (its first entry, deepseek-v3, sorts before azure would not). */
static void test_model_not_from_scenario_folder(void)
{
    CU_ASSERT_EQUAL_FATAL(access(tu_path("scenarios/azure.yaml"), R_OK), 0);
    char *sets[] = { "model=azure" };
    kt_err err;
    scenario *sc = scenario_load(tu_path("scenarios/quickstart.yaml"), sets, 1, &err);
    CU_ASSERT_PTR_NULL(sc);
    scenario_free(sc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no model card 'azure'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "available: deepseek-v3, "));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "quickstart"));
}

/* model: a Hugging Face config.json, imported on the fly. Llama-3.1-70B's
 * config (tests/data/hf) has 80 layers, 8 KV heads, head dim 8192/64 = 128:
 * 80 x 2 x 8 x 128 x 2 B = 327,680 B of bf16 KV per token (DESIGN.md); the
 * card is named after the file. */
static void test_model_from_config_json(void)
{
    char model[4200];
    snprintf(model, sizeof model, "model=%s", tu_path("tests/data/hf/llama-3.1-70b.config.json"));
    char *sets[] = { model, "replicas.gpus=4", "replicas.tensor_parallel=4" };
    kt_err err;
    char path[64];
    scenario *sc = load_text(base_scenario, sets, 3, &err, path);
    if (!sc)
        fprintf(stderr, "\n  %s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->model->n_layers, 80);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token(sc->model, DTYPE_BF16), 327680.0, 0);
    CU_ASSERT_STRING_EQUAL(sc->model->name, "llama-3.1-70b.config");
    scenario_free(sc);
    char *missing[] = { "model=no/such/config.json" };
    expect_error(base_scenario, missing, 1, 1, 0, "no/such/config.json");
}

/* time_scale is 1 / rate_scale: 0.5 replays twice as fast, as rate_scale 2
 * does; both at once are refused. */
static void test_trace_time_scale(void)
{
    char trace[4400];
    snprintf(trace, sizeof trace, "  kind: trace\n  trace: {format: azure, path: %s}\n",
             tu_path("data/traces/AzureLLMInferenceTrace_conv.csv"));
    char *text = edit("  kind: synthetic\n  sessions: 3\n  arrival: {process: poisson, rate: 1/s}\n"
                      "  turns: 2\n  input_tokens: 100\n  output_tokens: 10\n", trace);
    kt_err err;
    char path[64];
    char *half[] = { "workload.trace.time_scale=0.5" };
    scenario *sc = load_text(text, half, 1, &err, path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_DOUBLE_EQUAL(sc->trace.opts.rate_scale, 2.0, 0);
    scenario_free(sc);
    char *rate[] = { "workload.trace.rate_scale=4" };
    sc = load_text(text, rate, 1, &err, path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_DOUBLE_EQUAL(sc->trace.opts.rate_scale, 4.0, 0);
    scenario_free(sc);
    char *both[] = { "workload.trace.time_scale=0.5", "workload.trace.rate_scale=2" };
    expect_error(text, both, 2, 1, 0, "workload.trace.time_scale: give rate_scale (2 = twice as fast) or "
                                      "time_scale (2 = half as fast), not both");
}

static void test_scenario_errors(void)
{
    expect_error(edit("  block_tokens: 16\n", "  block_tokens: 16\n  blok: 3\n"), NULL, 0, 11, 0,
                 "kv.blok: unknown key");
    expect_error(edit("model: llama-3.1-8b\n", ""), NULL, 0, 1, 1, "missing required key 'model'");
    expect_error(edit("  gpus: 1\n", "  gpus: 0\n"), NULL, 0, 7, 9, "replicas.gpus: 0 is out of range");
    expect_error(edit("2GiB", "2"), NULL, 0, 11, 23, "kv.activation_reserve: '2'");
    expect_error(edit("rate: 1/s", "rate: fast"), NULL, 0, 15, 37, "workload.arrival.rate: 'fast'");
    expect_error(edit("llama-3.1-8b", "llama-9"), NULL, 0, 3, 8, "model: ");
    expect_error(edit("  tensor_parallel: 1\n", "  tensor_parallel: 2\n"), NULL, 0, 7, 0, "replicas.gpus:");
    expect_error(edit("input_tokens: 100", "input_tokens: {dist: lognormal, mean: 100}"), NULL, 0, 17, 17,
                 "sigma");
    expect_error(edit("seed: 7", "seed: -1"), NULL, 0, 2, 7, "seed: -1 is out of range");
    /* Llama-3.1-405B's 811 GB of bf16 weights cannot sit on one 80 GB GPU. */
    expect_error(edit("llama-3.1-8b", "llama-3.1-405b"), NULL, 0, 8, 0, "nothing is left for KV");
    char *bad_set[] = { "kv.block_tokens=abc" };
    expect_error(base_scenario, bad_set, 1, 1, 0, "kv.block_tokens: expected an integer");
    char *typo_set[] = { "kv.blocktokens=32" };
    expect_error(base_scenario, typo_set, 1, 1, 0, "kv.blocktokens: unknown key (did you mean 'block_tokens'?)");
    /* Fleet settings: a disaggregated fleet needs a decode replica; a fault
     * names one replica or one node, within the fleet; only a remote tier
     * can be shared; pipeline stages need their GPUs (that error points
     * at the file's gpus). --set values are located on the --set line. */
    char *all_prefill[] = { "replicas.prefill_replicas=1" };
    expect_error(base_scenario, all_prefill, 1, 1, 0, "1 of 1 replicas prefill, which leaves none to decode");
    char *both[] = { "faults=[{at: 1s, replica: 0, node: 0}]" };
    expect_error(base_scenario, both, 1, 1, 0, "faults[0]: name exactly one of 'replica'");
    char *far[] = { "faults=[{at: 1s, replica: 5}]" };
    expect_error(base_scenario, far, 1, 1, 0, "faults[0].replica: 5 is out of range");
    char *no_at[] = { "faults=[{replica: 0}]" };
    expect_error(base_scenario, no_at, 1, 1, 0, "missing required key 'at'");
    char *shared_dram[] = { "tiers=[{name: d, kind: dram, shared: true, capacity: 1TB, read: 1GB/s, write: 1GB/s,"
                            " latency: 1us}]" };
    expect_error(base_scenario, shared_dram, 1, 1, 0, "only a remote tier can be shared");
    char *layout[] = { "replicas.pipeline_parallel=2" };
    expect_error(base_scenario, layout, 1, 7, 9, "replicas.gpus: 1 GPUs per replica but tensor_parallel 1");
}

static void test_scenario_set_applies(void)
{
    kt_err err;
    char path[64];
    char *sets[] = { "kv.block_tokens=64", "seed=99", "scheduler.max_running=8" };
    scenario *sc = load_text(base_scenario, sets, 3, &err, path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->kv_block_tokens, 64);
    CU_ASSERT_EQUAL(sc->seed, 99);
    CU_ASSERT_EQUAL(sc->workload.seed, 99);
    CU_ASSERT_EQUAL(sc->sched.max_running, 8);
    CU_ASSERT_PTR_NOT_NULL(strstr(sc->yaml, "block_tokens: 64"));
    scenario_free(sc);
}

int main(void)
{
    /* Model cards and profiles come from the source tree. */
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "paths and values", test_paths_and_values },
        { "syntax error location", test_syntax_error_location },
        { "duplicate key", test_duplicate_key },
        { "empty files, aliases, several documents", test_empty_and_aliases },
        { "unreadable bytes located by line and column", test_reader_errors },
        { "strings into fixed buffers", test_str_copy },
        { "typed accessor errors", test_typed_errors },
        { "unknown key", test_unknown_key },
        { "--set overrides", test_set_overrides },
        { "YAML round trip", test_yaml_round_trip },
        { "valid scenario and KV pool size", test_scenario_valid },
        { "scenario errors name file:line:col and key", test_scenario_errors },
        { "did you mean: keys, values, cards, profiles", test_did_you_mean },
        { "a scenario's folder holds no cards", test_model_not_from_scenario_folder },
        { "model: a config.json imported on the fly", test_model_from_config_json },
        { "trace time_scale against rate_scale", test_trace_time_scale },
        { "--set applies to scenarios", test_scenario_set_applies },
        { NULL, NULL },
    };
    return tu_run("conf", tests);
}
