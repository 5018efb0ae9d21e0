/* sparse.h — sparse attention with KV in a lower tier: per decode step the selected pages come up to HBM, predicted ones a step ahead over the compute, the rest on demand (a page fault that stalls the step). */
#ifndef KT_SPARSE_H
#define KT_SPARSE_H

#include <stdint.h>
#include <gsl/gsl_rng.h>

#include "err.h"

struct replica;
struct serve_req;

/* One sequence's pages under sparse attention with KV in a tier.
 * Invariants: tier_tokens is a whole number of pages, <= the prompt;
 * freed_tokens <= tier_tokens; when drawn, 0 <= next_predicted <=
 * next_tier <= next_selected. */
typedef struct serve_sparse_pages {
    int64_t tier_tokens;        /* prompt tokens whose sparse-layer KV lives in the tier */
    int64_t freed_tokens;       /* HBM token-equivalents that left with them (tier_tokens × the sparse layers' share) */
    int drawn;                  /* the next step's pages are drawn and their prefetch started */
    int64_t next_selected;      /* pages (of one layer each) the next step selects, all sparse layers */
    int64_t next_tier;          /* of which lie in the tier */
    int64_t next_predicted;     /* of which the predictor named (prefetched) */
} serve_sparse_pages;

/* A replica's page movement for sparse attention.
 * Invariants: rng != NULL iff tier >= 0; n_pending >= 0 transfers are in
 * flight, and a planned step does not start while n_pending > 0. */
typedef struct replica_sparse {
    gsl_rng *rng;               /* owned; the page draws, seeded from the scenario seed */
    int tier;                   /* tier holding the sparse layers' KV; -1: pages never move */
    int layers;                 /* layers that select pages */
    double page_bytes;          /* one page of one sparse layer at the tier's precision, whole replica */
    double sparse_share;        /* of a token's HBM KV bytes, the sparse layers' */
    int n_pending;
    int waiting;                /* the planned step waits for pages */
} replica_sparse;

/* Sets r's page movement up from its cost model's sparse settings (after
 * its tiers are set); seed: the scenario's. Returns 0, or -1 when out of
 * memory. */
int sparse_init(struct replica *r, uint64_t seed);
void sparse_destroy(struct replica *r);
/* 1 when r's decode steps move pages (so each step is its own run). */
int sparse_moves_pages(const struct replica *r);
/* q's prompt is in at r: its sparse layers' KV, all but the budget's last
 * tokens, goes down to the tier and leaves HBM. */
void sparse_offload(struct replica *r, struct serve_req *q);
/* q's KV at r is gone (preempted, failed): nothing of it is in a tier or drawn. */
void sparse_forget(struct serve_req *q);
/* The planned step starts: the pages its decode entries drew and the
 * predictor missed are fetched now (the step waits for them and for
 * prefetches still in flight); counted. */
void sparse_step_plan(struct replica *r);
/* The planned step's compute starts: each entry that decodes next step
 * draws that step's pages, and the predicted ones start moving. */
void sparse_step_compute(struct replica *r);
/* The planned step was waiting for pages and now starts: waited_ns
 * counts as sparse stall. */
void sparse_step_resumed(struct replica *r, int64_t waited_ns);
/* r failed: transfers in flight are forgotten. */
void sparse_lose_all(struct replica *r);
/* The invariants of r's page state and of its running requests' pages. */
int sparse_check(const struct replica *r, kt_err *err);

#endif
