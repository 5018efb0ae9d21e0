/* spec.h — speculative decoding on a replica: which sequences verify drafted tokens in a step, how many drafts each verify accepts (drawn from the scenario's seed), and the rollback of the rejected drafts' KV. */
#ifndef KT_SPEC_H
#define KT_SPEC_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "cost.h"
#include "err.h"
#include "metrics.h"
#include "spec_cost.h"

/* How drafted tokens are accepted: each draft in turn with probability α
 * until the first rejection. α is the request's own rate from its trace
 * record when from_trace is set and the record has one; else
 * acceptance_rate for every request (acceptance_concentration 0), or drawn
 * once per request from Beta(rate × c, (1 − rate) × c) (c =
 * acceptance_concentration > 0), whose mean is rate.
 * Invariants: 0 <= acceptance_rate <= 1; acceptance_concentration >= 0, and
 * > 0 only with 0 < acceptance_rate < 1. */
typedef struct spec_accept {
    double acceptance_rate;
    double acceptance_concentration;
    int from_trace;
} spec_accept;

/* A request's speculative state.
 * Invariants: alpha == -1 until its first verify, then 0 <= alpha <= 1;
 * step_tokens is 0 except between a verify's acceptance and the emission
 * of its tokens (inside one step's application), when it is 1 + the
 * accepted drafts, at most what is left of the output; trace_alpha is its
 * trace record's rate (0 to 1), set by the world before it is submitted,
 * or < 0 (none). */
typedef struct spec_req {
    double alpha;
    int64_t step_tokens;
    double trace_alpha;
} spec_req;

/* A replica's speculative decoding.
 * Invariants: cost == NULL (speculation off) or cost->method != SPEC_OFF,
 * rng and scratch (max_running entries) set and owned. */
typedef struct spec_state {
    const spec_cost *cost;      /* not owned */
    spec_accept accept;
    gsl_rng *rng;               /* owned: acceptance draws */
    cost_seq *scratch;          /* owned: the draft's steps */
} spec_state;

struct serve_req;

/* Sets s up for one replica (replica_id) of a run seeded seed, with
 * max_running sequences at most; cost NULL leaves speculation off. Returns
 * 0 or -1 (out of memory). */
int spec_state_init(spec_state *s, const spec_cost *cost, const spec_accept *accept, uint64_t seed, int replica_id,
                    int max_running);
void spec_state_free(spec_state *s);
/* q's state before its first verify (its trace rate kept). */
static inline void spec_req_fresh(spec_req *q)
{
    q->alpha = -1;
    q->step_tokens = 0;
}

/* Positions q computes in this step if it verifies drafts: its last token
 * and the k drafts (k + 1), when speculation is on, q is decoding (its KV
 * one token behind) and budget holds them; 0 otherwise (q decodes one
 * token, or prefills). */
int64_t spec_verify_tokens(const spec_state *s, const struct serve_req *q, int64_t budget);
/* Whether q computing tokens this step is a verify. */
int spec_is_verify(const spec_state *s, const struct serve_req *q, int64_t tokens);
/* Adds the draft's time and work to the iteration over seqs[0..n). */
void spec_step_cost(spec_state *s, const cost_seq *seqs, int n, cost_iter *it);
/* q's verify step has ended, q->computed counting all k + 1 positions:
 * draws how many drafts are accepted, keeps the KV of the last token and
 * the accepted drafts (rolling q->computed back over the rejected ones'),
 * sets q->spec.step_tokens and counts drafts and acceptances in acct. */
void spec_verify_apply(spec_state *s, struct serve_req *q, metrics_replica *acct);
/* Tokens q's step yields: the verify's, or 1. */
static inline int64_t spec_step_tokens(const spec_req *q)
{
    return q->step_tokens > 0 ? q->step_tokens : 1;
}
/* q's tokens are emitted: its step_tokens are spent. */
static inline void spec_step_emitted(spec_req *q)
{
    q->step_tokens = 0;
}

/* Invariant checker: acct's counters agree (drafts = k × verified
 * sequences, accepted <= drafts, verify steps <= verified sequences) and
 * q's state holds (see spec_req). */
int spec_check(const spec_state *s, const metrics_replica *acct, int replica_id, kt_err *err);
int spec_check_req(const spec_req *q, int64_t id, kt_err *err);

#endif
