/* spec_cost.h — what speculative decoding's draft costs on a replica: a draft model's own steps, a self-drafting head's share of a layer, or nothing for n-gram lookup; and the draft's weights and KV. */
#ifndef KT_SPEC_COST_H
#define KT_SPEC_COST_H

#include "cost.h"
#include "err.h"
#include "model.h"

/* How the drafted tokens are proposed: a draft model (a model card run on
 * the replica's GPUs), a self-drafting head on the target's hidden states
 * (EAGLE/Medusa-style), or n-gram lookup in the prompt (no GPU work). */
typedef enum { SPEC_OFF, SPEC_DRAFT, SPEC_EAGLE, SPEC_NGRAM, SPEC_METHOD_COUNT } spec_method;
extern const char *const spec_method_names[SPEC_METHOD_COUNT + 1];

/* The draft's cost on one replica.
 * Invariants: method != SPEC_OFF; k >= 1; target is prepared; for
 * SPEC_DRAFT, draft is prepared for the draft card on the target's tensor-
 * parallel GPUs (no pipeline or context split) with the target's KV dtype
 * and no host time of its own (the engine's host time per iteration is the
 * verify step's); head_layers > 0 for SPEC_EAGLE. */
typedef struct spec_cost {
    spec_method method;
    int k;                      /* tokens drafted per sequence and verify step */
    const cost_model *target;   /* not owned */
    cost_model draft;           /* SPEC_DRAFT only */
    double head_layers;         /* SPEC_EAGLE: the head's work, weights and KV in target decoder layers */
} spec_cost;

/* Prepares sc for method with k drafts per step on target. draft_card
 * (SPEC_DRAFT; must outlive sc) is run on target's tensor-parallel group;
 * head_layers sizes an EAGLE head. Returns 0, or -1 with err (the draft
 * card cannot run on the target's GPUs). */
int spec_cost_init(spec_cost *sc, spec_method method, int k, const cost_model *target,
                   const model_card *draft_card, double head_layers, kt_err *err);

/* Time and work of the draft for one iteration, added into *it (draft_ns,
 * total_ns, flops, hbm_bytes). seqs[0..n) are the iteration's sequences as
 * the target sees them; those with verify set draft k tokens: k sequential
 * draft steps of one token each at their growing context. The first draft
 * step also takes the other sequences' new tokens (a prompt chunk the draft
 * must prefill too). scratch holds n entries; nothing is allocated. */
void spec_cost_draft(const spec_cost *sc, const cost_seq *seqs, int n, cost_seq *scratch, cost_iter *it);

/* Weight bytes one GPU holds for the draft (0 for n-gram lookup). */
double spec_cost_weight_bytes_gpu(const spec_cost *sc);
/* KV bytes the draft keeps per token on one GPU beside the target's. */
double spec_cost_kv_bytes_token_gpu(const spec_cost *sc);

#endif
