/* spec.c — speculative decoding's verify steps: k + 1 positions per decoding sequence, acceptance drawn per draft from the seed, rejected drafts' KV rolled back. */
#include "serve_internal.h"
#include "htab.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>

/* Keeps the acceptance draws' stream apart from every other stream of a run. */
#define SPEC_STREAM_TAG UINT64_C(0x5350454344454331)

int spec_state_init(spec_state *s, const spec_cost *cost, const spec_accept *accept, uint64_t seed, int replica_id,
                    int max_running)
{
    *s = (spec_state){ 0 };
    if (!cost || cost->method == SPEC_OFF)
        return 0;
    s->cost = cost;
    s->accept = *accept;
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    s->scratch = calloc((size_t)max_running, sizeof *s->scratch);
    if (!s->rng || !s->scratch) {
        spec_state_free(s);
        return -1;
    }
    gsl_rng_set(s->rng, kt_mix64(seed ^ kt_mix64(SPEC_STREAM_TAG ^ kt_mix64((uint64_t)replica_id))));
    return 0;
}

void spec_state_free(spec_state *s)
{
    if (s->rng)
        gsl_rng_free(s->rng);
    free(s->scratch);
    *s = (spec_state){ 0 };
}

int64_t spec_verify_tokens(const spec_state *s, const serve_req *q, int64_t budget)
{
    if (!s->cost || q->generated < 1 || q->computed != q->num_tokens - 1)
        return 0;
    int64_t v = (int64_t)s->cost->k + 1;
    return v <= budget ? v : 0;
}

int spec_is_verify(const spec_state *s, const serve_req *q, int64_t tokens)
{
    return tokens > 1 && spec_verify_tokens(s, q, tokens) == tokens;
}

void spec_step_cost(spec_state *s, const cost_seq *seqs, int n, cost_iter *it)
{
    if (s->cost)
        spec_cost_draft(s->cost, seqs, n, s->scratch, it);
}

/* q's α: its trace record's, the constant, or a draw from the Beta
 * distribution. */
static double request_alpha(spec_state *s, const spec_req *q)
{
    const spec_accept *a = &s->accept;
    if (a->from_trace && q->trace_alpha >= 0)
        return q->trace_alpha;
    if (a->acceptance_concentration <= 0)
        return a->acceptance_rate;
    double c = a->acceptance_concentration;
    return gsl_ran_beta(s->rng, a->acceptance_rate * c, (1 - a->acceptance_rate) * c);
}

void spec_verify_apply(spec_state *s, serve_req *q, metrics_replica *acct)
{
    int k = s->cost->k;
    if (q->spec.alpha < 0)
        q->spec.alpha = request_alpha(s, &q->spec);
    int64_t accepted = 0;
    /* Drafts are checked in order; the first rejected one ends the run
     * (its place takes the target's own token). */
    while (accepted < k && gsl_rng_uniform(s->rng) < q->spec.alpha)
        accepted++;
    int64_t left = q->rec.output_tokens - q->generated;
    q->spec.step_tokens = accepted + 1 < left ? accepted + 1 : left;
    /* The verify computed KV for the last token and k drafts; the rejected
     * drafts' positions are given back (their blocks stay with the
     * sequence, as the next step's drafts reuse them). */
    q->computed -= k + 1 - q->spec.step_tokens;
    acct->spec_verify_seqs++;
    acct->spec_draft_tokens += k;
    acct->spec_accepted_tokens += accepted;
}

int spec_check(const spec_state *s, const metrics_replica *acct, int replica_id, kt_err *err)
{
    if (!s->cost)
        return 0;
    if (acct->spec_draft_tokens != (int64_t)s->cost->k * acct->spec_verify_seqs ||
        acct->spec_accepted_tokens > acct->spec_draft_tokens || acct->spec_accepted_tokens < 0 ||
        acct->spec_verify_steps > acct->spec_verify_seqs) {
        KT_ERROR(err, NULL, 0, 0, "replica %d: speculative counters disagree: %lld verify steps, %lld verified "
                 "sequences, %lld drafted and %lld accepted tokens at k %d", replica_id,
                 (long long)acct->spec_verify_steps, (long long)acct->spec_verify_seqs,
                 (long long)acct->spec_draft_tokens, (long long)acct->spec_accepted_tokens, s->cost->k);
        return -1;
    }
    return 0;
}

int spec_check_req(const spec_req *q, int64_t id, kt_err *err)
{
    if (q->step_tokens != 0 || q->alpha > 1 || (q->alpha < 0 && q->alpha != -1)) {
        KT_ERROR(err, NULL, 0, 0, "request %lld: speculative state broken (acceptance rate %g, %lld tokens pending)",
                 (long long)id, q->alpha, (long long)q->step_tokens);
        return -1;
    }
    return 0;
}
