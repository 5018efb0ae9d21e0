/* test_spec.c — speculative decoding worked by hand: α = 0 costs exactly the draft and verify overhead, α = 1 yields k + 1 tokens a step, the mean accepted length follows (1 − α^(k+1)) / (1 − α), the draft's cost, KV and weights, and the scenario's errors. */
#include <math.h>
#include <string.h>

#include "cost.h"
#include "engine.h"
#include "metrics.h"
#include "scenario.h"
#include "serve_internal.h"
#include "sim.h"
#include "spec_cost.h"
#include "testutil.h"
#include "hand_cost.h"

/* Every run: Llama-3.1-8B on the H100 profile with flat curves and no host
 * time (hand_cost.h), drafting K tokens a step with Llama-3.1-8B itself
 * (so a draft step is the hand formulas' decode step), requests of
 * PROMPT_TOKENS tokens arriving together, one step per event, no prefix
 * caching. */
#define K 4
#define PROMPT_TOKENS 1000
#define MAX_REQ 8

typedef struct harness {
    scenario *sc;
    cost_model cm;
    spec_cost spec;
    engine *eng;
    metrics *met;
    replica r;
    serve_req q[MAX_REQ];
} harness;

static void on_done(void *ud, serve_req *q, int64_t now_ns)
{
    (void)ud;
    (void)q;
    (void)now_ns;
}

/* n requests of output_tokens each on one replica, speculating with method
 * at acceptance rate alpha (SPEC_OFF: plain decoding), run to the end with
 * every invariant checked after every event. */
static void run(harness *h, spec_method method, double alpha, int n, int64_t output_tokens)
{
    kt_err err;
    memset(h, 0, sizeof *h);
    h->sc = scenario_load(tu_path("tests/data/e2e.yaml"), NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->sc);
    flatten(h->sc->hw);
    h100 = h->sc->hw;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&h->cm, h->sc->model, h->sc->hw, 1, DTYPE_BF16, &err), 0);
    if (method != SPEC_OFF)
        CU_ASSERT_EQUAL_FATAL(spec_cost_init(&h->spec, method, K, &h->cm, h->sc->model, 1, &err), 0);
    serve_cfg cfg = { .max_running = MAX_REQ, .token_budget = 8192, .chunked_prefill = 1, .max_multi_step = 1,
                      .spec_accept = { alpha, 0, 0 } };
    h->eng = engine_new(64);
    h->met = metrics_new(1);
    replica_config c = { .id = 0, .gpus = 1, .eng = h->eng, .cm = &h->cm, .kv_blocks = 4096, .block_tokens = 16,
                         .prefix_cache = 0, .cfg = &cfg, .met = h->met, .on_done = on_done, .ud = h,
                         .spec = method != SPEC_OFF ? &h->spec : NULL, .seed = 7 };
    CU_ASSERT_FATAL(h->eng && h->met && replica_init(&h->r, &c) == 0);
    h->r.step.busy = 1;         /* held while they arrive, so the first step sees all */
    for (int i = 0; i < n; i++) {
        serve_req *q = &h->q[i];
        q->rec.id = i;
        q->rec.prompt_tokens = PROMPT_TOKENS;
        q->rec.output_tokens = output_tokens;
        q->inline_segs[0] = (kv_segment){ (uint64_t)i + 1, PROMPT_TOKENS };
        q->content = (kv_content){ q->inline_segs, 1 };
        replica_submit(&h->r, q);
    }
    h->r.step.busy = 0;
    replica_on_step_end(h->eng, &h->r, 0);
    while (engine_step(h->eng) == 1) {
        CU_ASSERT_EQUAL_FATAL(replica_check_touched(&h->r, &err), 0);
        CU_ASSERT_EQUAL_FATAL(replica_check(&h->r, &err), 0);
    }
    CU_ASSERT_EQUAL_FATAL(h->met->n_reqs, (size_t)n);
    CU_ASSERT_EQUAL(metrics_check(h->met, &err), 0);
}

static void teardown(harness *h)
{
    replica_destroy(&h->r);
    for (int i = 0; i < MAX_REQ; i++)
        kv_seq_destroy(&h->q[i].seq);
    metrics_free(h->met);
    engine_free(h->eng);
    scenario_free(h->sc);
}

/* One decode step of Llama-3.1-8B at context c by hand: 32 layers' GEMMs
 * and the lm_head for one row, attention over c + 1 tokens, small kernels. */
static double decode_ns(double c)
{
    return llama8b_gemm_ns(1, 1) + llama8b_attn_ns(1, c) + llama8b_small_ns(32, 1, 1);
}

/* A verify of K drafts at context c: 5 queries, 5 logit rows, the context
 * read once (attention FLOPs of 5 new tokens after c). */
static double verify_ns(double c)
{
    return llama8b_gemm_ns(K + 1, K + 1) + llama8b_attn_ns(K + 1, c) + llama8b_small_ns(32, K + 1, K + 1);
}

/* α = 0: every verify keeps only the target's own token, one a step as
 * without speculation, so each of the 32 decode steps (contexts 1000 ..
 * 1031) is slower by the verify's extra queries and four draft steps:
 * verify(c) − decode(c) + Σ_{j<4} decode(c + j). The prompt's step also
 * runs the draft's prefill of 1,000 tokens (no lm_head: the draft samples
 * nothing there): GEMMs, attention and small kernels of 1,000 tokens.
 * Every part is rounded to a nanosecond on its own: at most 3 ns an
 * iteration apart. */
static void test_alpha_zero_overhead(void)
{
    harness plain, spec;
    const int64_t out = 33;
    run(&plain, SPEC_OFF, 0, 1, out);
    run(&spec, SPEC_DRAFT, 0, 1, out);
    const metrics_req *p = &plain.met->reqs[0], *s = &spec.met->reqs[0];
    double overhead = 0;
    for (int i = 0; i < out - 1; i++) {
        double c = PROMPT_TOKENS + i;
        overhead += verify_ns(c) - decode_ns(c);
        for (int j = 0; j < K; j++)
            overhead += decode_ns(c + j);
    }
    double got = (double)((s->finish_ns - s->first_token_ns) - (p->finish_ns - p->first_token_ns));
    CU_ASSERT(fabs(got - overhead) <= 3.0 * (out - 1) * (K + 2));
    double prefill = llama8b_layers_gemm_ns(32, PROMPT_TOKENS) + llama8b_attn_ns(PROMPT_TOKENS, 0) +
                     llama8b_small_ns(32, PROMPT_TOKENS, 0);
    CU_ASSERT(fabs((double)(s->first_token_ns - p->first_token_ns) - prefill) <= 3.0);
    /* Every draft rejected: 32 verifies of 4 drafts, none accepted. */
    CU_ASSERT_EQUAL(spec.r.acct->spec_verify_seqs, out - 1);
    CU_ASSERT_EQUAL(spec.r.acct->spec_draft_tokens, K * (out - 1));
    CU_ASSERT_EQUAL(spec.r.acct->spec_accepted_tokens, 0);
    CU_ASSERT_EQUAL(spec.r.acct->iterations, plain.r.acct->iterations);
    teardown(&plain);
    teardown(&spec);
}

/* α = 1: every draft is accepted, so a verify yields K + 1 = 5 tokens. 43
 * tokens: the first from the prompt's step, then 8 verifies of 5 (40) and
 * a 9th whose 5 are clipped to the 2 left: 10 iterations; the verifier
 * accepted all 9 × 4 = 36 drafts. Each verify's tokens arrive together: 9
 * gaps of a step's length and 33 of 0. */
static void test_alpha_one_yields_k_plus_one(void)
{
    harness h;
    run(&h, SPEC_DRAFT, 1, 1, 43);
    const metrics_req *q = &h.met->reqs[0];
    CU_ASSERT_EQUAL(q->outcome, REQ_COMPLETED);
    CU_ASSERT_EQUAL(h.r.acct->iterations, 10);
    CU_ASSERT_EQUAL(h.r.acct->spec_verify_steps, 9);
    CU_ASSERT_EQUAL(h.r.acct->spec_verify_seqs, 9);
    CU_ASSERT_EQUAL(h.r.acct->spec_draft_tokens, 36);
    CU_ASSERT_EQUAL(h.r.acct->spec_accepted_tokens, 36);
    CU_ASSERT_EQUAL(q->n_gaps, 42);
    /* The 8 full verifies at contexts 1000, 1005, ..., 1035 and the 9th at
     * 1040, each with its four draft steps. */
    double decode = 0;
    for (int i = 0; i < 9; i++) {
        double c = PROMPT_TOKENS + 5 * i;
        decode += verify_ns(c);
        for (int j = 0; j < K; j++)
            decode += decode_ns(c + j);
    }
    CU_ASSERT(fabs((double)(q->finish_ns - q->first_token_ns) - decode) <= 3.0 * 9 * (K + 1));
    metrics_summary s;
    kt_err err;
    metrics_slo slo = { 0 };
    metrics_cost cost = { .amortization_years = 4, .pue = 1 };
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(h.met, &slo, &cost, &s, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(s.spec_mean_accepted_length, K + 1, 1e-12);
    teardown(&h);
}

/* Over many verifies the mean tokens a verify yields is E[1 + A], A the
 * accepted drafts: P(A = a) = α^a (1 − α) for a < k, P(A = k) = α^k, whose
 * mean is (1 − α^(k+1)) / (1 − α) = 2.77310 at α = 0.7, k = 4. The counters
 * count the verifier's acceptances (not clipped at an output's end), so
 * the sample mean of N ≈ 11,500 verifies (8 requests × 4,000 tokens / 2.77)
 * is within 4 standard errors, sd / sqrt(N) with sd from the same pmf
 * (about 1.556, so 4 se ≈ 0.058), of the closed form: a seeded run either
 * passes or fails, and 4 se fails a correct draw with probability 6e-5. */
static void test_mean_accepted_length_closed_form(void)
{
    const double alpha = 0.7;
    harness h;
    run(&h, SPEC_DRAFT, alpha, MAX_REQ, 4001);
    double closed = (1 - pow(alpha, K + 1)) / (1 - alpha), m1 = 0, m2 = 0;
    for (int a = 0; a <= K; a++) {
        double p = a < K ? pow(alpha, a) * (1 - alpha) : pow(alpha, K);
        m1 += p * (1 + a);
        m2 += p * (1 + a) * (1 + a);
    }
    CU_ASSERT_DOUBLE_EQUAL(m1, closed, 1e-12);
    const metrics_replica *a = h.r.acct;
    double n = (double)a->spec_verify_seqs, mean = (double)(a->spec_accepted_tokens + a->spec_verify_seqs) / n;
    CU_ASSERT(n > 11000);
    CU_ASSERT_DOUBLE_EQUAL(mean, closed, 4 * sqrt((m2 - m1 * m1) / n));
    teardown(&h);
}

/* An EAGLE-style head of one layer drafts each of its 4 tokens for 1/32 of
 * a target decode step without the lm_head (32 layers' GEMMs for one row,
 * attention at context 1000 + j, the small kernels without sampling); the
 * verify itself is unchanged. n-gram lookup costs the GPU nothing. */
static void test_head_and_ngram_draft_cost(void)
{
    cost_model cm;
    spec_cost sp;
    kt_err err;
    const model_card *m8 = NULL;
    scenario *sc = scenario_load(tu_path("tests/data/e2e.yaml"), NULL, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    flatten(sc->hw);
    h100 = sc->hw;
    m8 = sc->model;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, sc->hw, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL_FATAL(spec_cost_init(&sp, SPEC_EAGLE, K, &cm, NULL, 1, &err), 0);
    cost_seq s = { K + 1, 1000, 0, 1 }, scratch[1];
    cost_iter it = { 0 };
    spec_cost_draft(&sp, &s, 1, scratch, &it);
    double head = 0;
    for (int j = 0; j < K; j++)
        head += (llama8b_layers_gemm_ns(32, 1) + llama8b_attn_ns(1, 1000 + j) + llama8b_small_ns(32, 1, 0)) / 32;
    CU_ASSERT(fabs((double)it.draft_ns - head) <= 4.0);
    CU_ASSERT_EQUAL(it.total_ns, it.draft_ns);
    /* Its KV: one layer's, 2 × 8 heads × 128 × 2 B = 4,096 B a token; its
     * weights one decoder layer's: q, k, v (4096 × 6144), o (4096 ×
     * 4096), gate and up (4096 × 28672), down (14336 × 4096) and two norms
     * (2 × 4096): 218,112,000 parameters × 2 B. */
    CU_ASSERT_DOUBLE_EQUAL(spec_cost_kv_bytes_token_gpu(&sp), 4096, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(spec_cost_weight_bytes_gpu(&sp), 218112000.0 * 2, 1);
    CU_ASSERT_EQUAL_FATAL(spec_cost_init(&sp, SPEC_NGRAM, K, &cm, NULL, 0, &err), 0);
    it = (cost_iter){ 0 };
    spec_cost_draft(&sp, &s, 1, scratch, &it);
    CU_ASSERT_EQUAL(it.draft_ns, 0);
    CU_ASSERT_EQUAL(spec_cost_kv_bytes_token_gpu(&sp), 0);
    /* A Llama-3.1-8B draft keeps its 32 layers' KV: 131,072 B a token. */
    CU_ASSERT_EQUAL_FATAL(spec_cost_init(&sp, SPEC_DRAFT, K, &cm, m8, 0, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(spec_cost_kv_bytes_token_gpu(&sp), 131072, 1e-9);
    scenario_free(sc);
}

/* e2e.yaml with speculative settings appended (its model is Llama-3.1-8B),
 * and one --set override when set is not NULL. */
static scenario *load_with(const char *spec_yaml, const char *set, kt_err *err)
{
    char *sets[1] = { (char *)set };
    char text[8192];
    FILE *f = fopen(tu_path("tests/data/e2e.yaml"), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    strncat(text, spec_yaml, sizeof text - strlen(text) - 1);
    return scenario_load_string(text, strlen(text), tu_path("tests/data/spec.yaml"), sets, set ? 1 : 0, err);
}

/* A Llama-3.1-8B draft beside Llama-3.1-8B on one H100 takes its weights
 * and as much KV again per token: blocks = (HBM × 0.9 − 2 × weights − 4
 * GiB) / (2 × 16 × 131,072 B), against (HBM × 0.9 − weights − 4 GiB) /
 * (16 × 131,072 B) without. */
static void test_draft_takes_hbm(void)
{
    kt_err err;
    scenario *sc = load_with("speculative: {method: draft, draft_model: llama-3.1-8b, k: 4, acceptance: {rate: 0.8}}\n",
                             NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    double weights = model_params_total(sc->model) * 2, kv = sc->hw->hbm_bytes * 0.9 - 4.0 * (1 << 30);
    CU_ASSERT_EQUAL(sc->kv_blocks_per_replica, (uint32_t)floor((kv - 2 * weights) / (2 * 16 * 131072.0)));
    scenario_free(sc);
}

/* A kvtier trace's per-request rates (speculative.acceptance.trace), with
 * the scenario's rate for a record without one: tests/data/traces/
 * spec_acceptance.jsonl holds three requests of 11 tokens, at α = 1, α = 0
 * and no rate (the scenario's 1). The first and third take 2 verifies of 5
 * tokens each after their first token, accepting 4 drafts each time (16);
 * the second 10 verifies accepting none: 14 verified sequences, 56 drafts,
 * mean accepted length (16 + 14) / 14. */
static void test_acceptance_from_trace(void)
{
    static const char yaml[] =
        "model: llama-3.1-8b\nhardware: h100-sxm\nreplicas: {count: 1, gpus: 1}\n"
        "speculative: {method: ngram, k: 4, acceptance: {rate: 1, trace: true}}\n"
        "workload: {kind: trace, trace: {format: kvtier, path: traces/spec_acceptance.jsonl}}\n";
    kt_err err;
    scenario *sc = scenario_load_string(yaml, strlen(yaml), tu_path("tests/data/spec.yaml"), NULL, 0, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    sim_opts o = { .check = 1 };
    sim_stats st;
    metrics *m = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_run(sc, &o, &m, &st, &err), 0);
    metrics_summary s;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, &err), 0);
    CU_ASSERT_EQUAL(s.completed, 3);
    CU_ASSERT_EQUAL(s.spec_verify_seqs, 14);
    CU_ASSERT_EQUAL(s.spec_draft_tokens, 56);
    CU_ASSERT_EQUAL(s.spec_accepted_tokens, 16);
    CU_ASSERT_DOUBLE_EQUAL(s.spec_mean_accepted_length, 30.0 / 14, 1e-12);
    metrics_free(m);
    scenario_free(sc);
}

/* A trace's acceptance must be a rate: a number from 0 to 1, located at
 * its line. */
static void test_trace_acceptance_bad(void)
{
    static const char *const lines[] = {
        "{\"arrival\": 0, \"input_tokens\": 10, \"output_tokens\": 2, \"acceptance\": 1.5}\n",
        "{\"arrival\": 0, \"input_tokens\": 10, \"output_tokens\": 2, \"acceptance\": \"high\"}\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char path[] = "/tmp/kvtier-spec-trace-XXXXXX";
        int fd = mkstemp(path);
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_FATAL(write(fd, lines[i], strlen(lines[i])) == (ssize_t)strlen(lines[i]));
        close(fd);
        trace_opts o = { .rate_scale = 1 };
        kt_err err;
        trace_reader *t = trace_open(path, TRACE_KVTIER, &o, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        trace_record rec;
        CU_ASSERT_EQUAL(trace_next(t, &rec, &err), -1);
        CU_ASSERT_EQUAL(err.line, 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "field \"acceptance\" must be a number from 0 to 1"));
        trace_close(t);
        unlink(path);
    }
}

/* Each bad setting is refused before anything runs, located at its key. */
static void test_scenario_errors(void)
{
    static const struct {
        const char *yaml, *msg, *set;
    } cases[] = {
        { "speculative: {method: medusa, k: 4, acceptance: {rate: 0.8}}\n", "speculative.method", NULL },
        { "speculative: {method: draft, k: 4, acceptance: {rate: 0.8}}\n", "missing required key 'draft_model'", NULL },
        { "speculative: {method: draft, draft_model: qwen3-8b, k: 4, acceptance: {rate: 0.8}}\n",
          "vocabulary of 151936 tokens", NULL },
        { "speculative: {method: eagle, k: 4, acceptance: {rate: 0.8}}\n", "head_layers", NULL },
        { "speculative: {method: ngram, head_layers: 1, k: 4, acceptance: {rate: 0.8}}\n",
          "only method eagle takes it", NULL },
        { "speculative: {method: ngram, k: 0, acceptance: {rate: 0.8}}\n", "speculative.k", NULL },
        { "speculative: {method: ngram, k: 4, acceptance: {rate: 1.5}}\n", "speculative.acceptance.rate", NULL },
        { "speculative: {method: ngram, k: 4}\n", "missing required key 'acceptance'", NULL },
        { "speculative: {method: ngram, k: 4, acceptance: {rate: 1, concentration: 10}}\n",
          "strictly between 0 and 1", NULL },
        { "speculative: {method: ngram, k: 4, acceptance: {rate: 0.5}}\n", "more than scheduler.token_budget (4",
          "scheduler.token_budget=4" },
        { "speculative: {method: ngram, k: 4, acceptance: {rate: 0.5, trace: true}}\n",
          "come from a kvtier-format trace", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_err err;
        memset(&err, 0, sizeof err);
        scenario *sc = load_with(cases[i].yaml, cases[i].set, &err);
        CU_ASSERT_PTR_NULL(sc);
        scenario_free(sc);
        CU_ASSERT(err.line == 20);
        if (!strstr(err.msg, cases[i].msg) || err.line != 20)
            fprintf(stderr, "case %zu: %d:%d: %s\n", i, err.line, err.col, err.msg);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
    }
}

int main(void)
{
    static const tu_test tests[] = {
        { "alpha 0: slower by exactly the draft and verify overhead", test_alpha_zero_overhead },
        { "alpha 1: k + 1 tokens a verify", test_alpha_one_yields_k_plus_one },
        { "mean accepted length against the closed form", test_mean_accepted_length_closed_form },
        { "EAGLE head and n-gram draft costs, KV and weights", test_head_and_ngram_draft_cost },
        { "a draft model's weights and KV take HBM", test_draft_takes_hbm },
        { "acceptance rates from a trace", test_acceptance_from_trace },
        { "a trace's bad acceptance rate located", test_trace_acceptance_bad },
        { "bad speculative settings located", test_scenario_errors },
        { NULL, NULL },
    };
    return tu_run("spec", tests);
}
