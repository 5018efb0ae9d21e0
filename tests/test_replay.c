/* test_replay.c — replaying the real Mooncake and Azure traces end to end: every request, the trace's own prefix reuse, tiers against HBM only, bad lines; a ShareGPT conversation's turns. */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "plan.h"
#include "scenario.h"
#include "sim.h"
#include "testutil.h"

#define MOONCAKE "data/traces/mooncake_fast25_conversation_trace.jsonl"
#define AZURE "data/traces/AzureLLMInferenceTrace_conv.csv"
/* The real traces ship in the repository (data/traces), so no test skips. */


static metrics *run(const char *scenario_rel, char **sets, int n, scenario **out)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path(scenario_rel), sets, n, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    sim_opts o = { 0 };
    metrics *m = NULL;
    sim_stats st;
    if (sim_run(sc, &o, &m, &st, &err) < 0)
        kt_err_print(&err, stderr);
    *out = sc;
    return m;
}

/* Fraction of the trace's hash ids that an earlier line already had,
 * read straight from the file with jansson. */
static double mooncake_reuse(const char *path, long *lines, long long *output_tokens)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long total = 0, seen = 0;
    /* Hash ids are small integers: a bitmap of those met so far. */
    size_t nbits = 1 << 22;
    unsigned char *met = calloc(nbits / 8, 1);
    *lines = 0;
    *output_tokens = 0;
    while (f && met && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *ids = json_object_get(o, "hash_ids");
        (*lines)++;
        *output_tokens += json_integer_value(json_object_get(o, "output_length"));
        for (size_t i = 0; i < json_array_size(ids); i++) {
            size_t h = (size_t)json_integer_value(json_array_get(ids, i));
            total++;
            if (h < nbits && (met[h / 8] >> (h % 8)) & 1)
                seen++;
            else if (h < nbits)
                met[h / 8] |= (unsigned char)(1 << (h % 8));
        }
        json_decref(o);
    }
    free(line);
    free(met);
    if (f)
        fclose(f);
    return total ? (double)seen / total : -1;
}

static void test_mooncake_whole_trace(void)
{
    const char *path = tu_path(MOONCAKE);
    long lines;
    long long out_tokens;
    double reuse = mooncake_reuse(path, &lines, &out_tokens);
    CU_ASSERT_EQUAL(lines, 12031);
    /* The traces README: 0.3664. */
    CU_ASSERT_DOUBLE_EQUAL(reuse, 0.3664, 0.00005);
    scenario *sc;
    metrics *m = run("scenarios/mooncake.yaml", NULL, 0, &sc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.requests, 12031);
    CU_ASSERT_EQUAL(s.completed + s.rejected, 12031);
    CU_ASSERT_EQUAL(s.rejected, 0);
    CU_ASSERT_EQUAL(s.output_tokens, out_tokens);
    /* Replay keeps the trace's own reuse: each hash id becomes the same
     * content in the simulator, whatever its block size. */
    CU_ASSERT_DOUBLE_EQUAL(s.trace_block_reuse, reuse, 1e-12);
    metrics_free(m);
    scenario_free(sc);
}

static void test_mooncake_tiers_against_hbm_only(void)
{
    char *hbm_only[] = { "kv_policy.tiers_used=0" };
    scenario *s0, *s2;
    metrics *m0 = run("scenarios/mooncake.yaml", hbm_only, 1, &s0);
    metrics *m2 = run("scenarios/mooncake.yaml", NULL, 0, &s2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
    metrics_summary a, b;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m0, &s0->slo, &s0->cost, &a, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m2, &s2->slo, &s2->cost, &b, NULL), 0);
    CU_ASSERT(b.tier_hit_ratio[0] > 0);
    CU_ASSERT(b.tier_hit_ratio[1] > 0);
    CU_ASSERT(b.ttft_ns.mean < a.ttft_ns.mean);
    CU_ASSERT(b.gpu_s_wasted[WASTE_RECOMPUTE] < a.gpu_s_wasted[WASTE_RECOMPUTE]);
    metrics_free(m0);
    metrics_free(m2);
    scenario_free(s0);
    scenario_free(s2);
}

static void test_azure_whole_trace(void)
{
    const char *path = tu_path(AZURE);
    /* Sums straight from the CSV: header, then TIMESTAMP,context,generated. */
    FILE *f = fopen(path, "r");
    char line[256];
    long rows = 0;
    long long in = 0, out = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        long long c, g;
        char *comma = strchr(line, ',');
        if (comma && sscanf(comma + 1, "%lld,%lld", &c, &g) == 2) {
            rows++;
            in += c;
            out += g;
        }
    }
    fclose(f);
    CU_ASSERT_EQUAL(rows, 19366);
    scenario *sc;
    metrics *m = run("scenarios/azure.yaml", NULL, 0, &sc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.completed, 19366);
    CU_ASSERT_EQUAL(s.input_tokens, in);
    CU_ASSERT_EQUAL(s.output_tokens, out);
    metrics_free(m);
    scenario_free(sc);
}

/* A malformed line stops loading, naming file and line, before anything
 * runs; with skip_bad it is counted instead. */
static void test_bad_trace(void)
{
    char path[] = "/tmp/kvtier-replay-XXXXXX.yaml";
    char trace[] = "/tmp/kvtier-replay-XXXXXX.jsonl";
    int fd = mkstemps(trace, 6);
    CU_ASSERT_FATAL(fd >= 0);
    const char *lines = "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [1, 2]}\n"
                        "{\"timestamp\": 10, \"input_length\": 100, \"output_length\": 5, \"hash_ids\": [1]}\n"
                        "{\"timestamp\": 20, \"input_length\": -4, \"output_length\": 5, \"hash_ids\": []}\n"
                        "{\"timestamp\": 30, \"input_length\": 100, \"output_length\": 5, \"hash_ids\": [3]}\n";
    CU_ASSERT_FATAL(write(fd, lines, strlen(lines)) == (ssize_t)strlen(lines));
    close(fd);
    char text[2048];
    snprintf(text, sizeof text,
             "model: llama-3.1-8b\nhardware: h100-sxm\nreplicas: {gpus: 1}\n"
             "workload: {kind: trace, trace: {format: mooncake, path: %s}}\n", trace);
    fd = mkstemps(path, 5);
    CU_ASSERT_FATAL(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    kt_err err;
    scenario *sc = scenario_load(path, NULL, 0, &err);
    CU_ASSERT_PTR_NULL(sc);
    CU_ASSERT_STRING_EQUAL(err.file, trace);
    CU_ASSERT_EQUAL(err.line, 3);
    char *skip[] = { "workload.trace.skip_bad=true" };
    sc = scenario_load(path, skip, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->trace.requests, 3);
    CU_ASSERT_EQUAL(sc->trace.bad_lines, 1);
    CU_ASSERT_EQUAL(sc->trace.first_bad[0], 3);
    /* The second request reuses hash id 1: 1 of 4 ids (2 + 1 + 1). */
    sim_opts o = { .check = 1 };
    metrics *m = NULL;
    sim_stats st;
    CU_ASSERT_EQUAL(sim_run(sc, &o, &m, &st, &err), 0);
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.completed, 3);
    CU_ASSERT_DOUBLE_EQUAL(s.trace_block_reuse, 0.25, 1e-12);
    metrics_free(m);
    scenario_free(sc);
    unlink(path);
    unlink(trace);
}

/* Seconds between the first and the n-th request of the Azure CSV
 * (TIMESTAMP "YYYY-MM-DD HH:MM:SS.fffffff"), read straight from the file. */
static double azure_span_s(const char *path, int n)
{
    FILE *f = fopen(path, "r");
    char line[256];
    double first = 0, last = 0;
    int k = 0;
    while (f && k < n && fgets(line, sizeof line, f)) {
        struct tm tm = { 0 };
        double sec;
        if (sscanf(line, "%d-%d-%d %d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &sec) != 6)
            continue;       /* the header */
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        double t = (double)timegm(&tm) + sec;
        if (k++ == 0)
            first = t;
        last = t;
    }
    if (f)
        fclose(f);
    return last - first;
}

/* The planner on a trace: the knob is rate_scale, and the request rate a
 * probe sees is rate_scale × (n − 1) over the trace's own span. */
static void test_plan_on_a_trace(void)
{
    const char *azure = tu_path(AZURE);
    char plan_path[] = "/tmp/kvtier_trace_plan_XXXXXX";
    int fd = mkstemp(plan_path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "name: trace-plan\nscenario: %s\ntarget: 50/s\nslo: {ttft_p99: 1s, itl_p99: 100ms}\n"
            "search: {low: 0.1, high: 50, tolerance: 0.05, max_probes: 12}\n"
            "candidates:\n  - {name: azure, set: [workload.trace.limit=2000]}\n",
            tu_path("scenarios/azure.yaml"));
    fclose(f);
    kt_err err;
    plan_cfg *p = plan_load(plan_path, NULL, 0, &err);
    unlink(plan_path);
    if (!p)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    plan_result r;
    CU_ASSERT_EQUAL_FATAL(plan_run(p, NULL, 0, &(sim_opts){ 0 }, &r, NULL, &err), 0);
    CU_ASSERT_TRUE(r.feasible);
    double native_rps = 1999 / azure_span_s(azure, 2000);
    CU_ASSERT(r.n_probes >= 3);
    for (int i = 0; i < r.n_probes; i++)
        CU_ASSERT_DOUBLE_EQUAL(r.probes[i].rps / r.probes[i].knob, native_rps, native_rps * 1e-6);
    CU_ASSERT(r.max_rps_per_unit > 0.1 * native_rps);
    CU_ASSERT_TRUE(r.op.meets);
    CU_ASSERT(r.units * r.max_rps_per_unit >= 50);
    plan_free(p);
}

/* A ShareGPT conversation replayed: each turn's prompt is the earlier
 * turns' tokens plus its own. In tests/data/traces/sharegpt_small.json
 * (token counts worked out in test_trace.c) conversation 0 asks 5 tokens,
 * gets 9, then asks 3 more: its second prompt is 5 + 9 + 3 = 17 tokens,
 * arriving the scenario's 30 s think time after the first. Conversations 2
 * and 3 are single turns of 5 and 4 tokens; 1 opens with a gpt turn and is
 * passed over (skip_not_human_first). */
static void test_sharegpt_turns(void)
{
    scenario *sc;
    metrics *m = run("tests/data/traces/sharegpt_small.yaml", NULL, 0, &sc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(sc->trace.requests, 4);
    CU_ASSERT_EQUAL_FATAL(m->n_reqs, 4);
    const struct { int64_t session; int turn; int64_t prompt, output; } want[] = {
        { 0, 0, 5, 9 }, { 0, 1, 17, 40 }, { 2, 0, 5, 1 }, { 3, 0, 4, 2 },
    };
    int64_t turn0_ns = -1, turn1_ns = -1;
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        int found = 0;
        for (size_t i = 0; i < m->n_reqs; i++) {
            const metrics_req *r = &m->reqs[i];
            if (r->session != want[k].session || r->turn != want[k].turn)
                continue;
            found++;
            CU_ASSERT_EQUAL(r->prompt_tokens, want[k].prompt);
            CU_ASSERT_EQUAL(r->output_tokens, want[k].output);
            CU_ASSERT_EQUAL(r->outcome, REQ_COMPLETED);
            if (r->session == 0)
                *(r->turn ? &turn1_ns : &turn0_ns) = r->arrival_ns;
        }
        CU_ASSERT_EQUAL(found, 1);
    }
    CU_ASSERT_EQUAL(turn0_ns, 0);
    CU_ASSERT_EQUAL(turn1_ns, INT64_C(30000000000));
    metrics_free(m);
    scenario_free(sc);
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "Mooncake: every request, the trace's own reuse", test_mooncake_whole_trace },
        { "Mooncake: DRAM/NVMe tiers against HBM only", test_mooncake_tiers_against_hbm_only },
        { "Azure: every request with its tokens", test_azure_whole_trace },
        { "bad trace lines: stop before running, or skip and count", test_bad_trace },
        { "the planner on a trace: rate_scale is the knob", test_plan_on_a_trace },
        { "ShareGPT: a turn's prompt holds the earlier turns", test_sharegpt_turns },
        { NULL, NULL },
    };
    return tu_run("replay", tests);
}
