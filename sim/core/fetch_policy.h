/* fetch_policy.h — when KV held in lower tiers comes back to HBM: the fetch policies and the decisions callers ask them for. */
#ifndef KT_FETCH_POLICY_H
#define KT_FETCH_POLICY_H

/* DEMAND: a request's tier-held prefix is fetched when it is scheduled,
 * and the GPU waits for all of it before the step (a page fault).
 * LAYERWISE: the same fetch, streamed layer by layer under the step's
 * compute. PREFETCH: the fetch starts when the request arrives.
 * PREDICTED: as PREFETCH, and a session's next turn is fetched ahead,
 * prefetch_lead before it is expected. */
typedef enum { FETCH_DEMAND, FETCH_LAYERWISE, FETCH_PREFETCH, FETCH_PREDICTED, FETCH_KIND_COUNT } tier_fetch;
extern const char *const tier_fetch_names[FETCH_KIND_COUNT + 1];

/* 1 when a request's fetch starts on its arrival, before it is scheduled. */
int fetch_policy_prefetch_on_arrival(tier_fetch p);
/* 1 when a step runs while its fetch is still streaming in (the transfer
 * hides under compute); 0 when the GPU waits for the fetch first. */
int fetch_policy_overlaps_compute(tier_fetch p);
/* 1 when a session's next turn is fetched before it arrives. */
int fetch_policy_predicts(tier_fetch p);

#endif
