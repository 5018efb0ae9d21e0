/* spec_cost.c — speculative decoding's draft cost: k sequential draft steps of a draft model or a self-drafting head, costed by the cost model; its weights and KV per token. */
#include "spec_cost.h"
#include "kv_layout.h"

#include <math.h>
#include <string.h>

const char *const spec_method_names[SPEC_METHOD_COUNT + 1] = { "off", "draft", "eagle", "ngram", NULL };

int spec_cost_init(spec_cost *sc, spec_method method, int k, const cost_model *target,
                   const model_card *draft_card, double head_layers, kt_err *err)
{
    memset(sc, 0, sizeof *sc);
    sc->method = method;
    sc->k = k;
    sc->target = target;
    sc->head_layers = head_layers;
    if (method != SPEC_DRAFT)
        return 0;
    /* The draft shares the replica's tensor-parallel GPUs; its few layers
     * are not pipelined or split by context. */
    const cost_par par = { target->par.tp, 1, 1, 1 };
    if (cost_model_init_par(&sc->draft, draft_card, target->hw, &par, target->kv_dtype, err) < 0)
        return -1;
    sc->draft.host_step_ns = sc->draft.host_seq_ns = 0;
    return 0;
}

/* Draft step j's sequences into scratch: each verifying sequence drafts
 * one token after its context and the j tokens drafted before it; in step
 * 0 the others bring their new tokens (a prompt chunk the draft prefills,
 * a token decoded without drafts), sampling nothing. Returns the entries
 * and, in *n_logits, the rows that sample a draft token. */
static int draft_step_seqs(const cost_seq *seqs, int n, int j, cost_seq *scratch, int *n_logits)
{
    int m = 0;
    *n_logits = 0;
    for (int i = 0; i < n; i++) {
        if (seqs[i].verify) {
            scratch[m++] = (cost_seq){ 1, seqs[i].cached_tokens + j, 0, 0 };
            (*n_logits)++;
        } else if (j == 0 && seqs[i].new_tokens > 0) {
            scratch[m++] = (cost_seq){ seqs[i].new_tokens, seqs[i].cached_tokens, 0, 0 };
        }
    }
    return m;
}

/* One draft step of an EAGLE-style head: head_layers of the target's
 * decoder layers over the step's tokens (the GPU work of the iteration
 * without its lm_head, per layer of the largest stage). */
static void head_step(const spec_cost *sc, const cost_seq *s, int m, cost_iter *out)
{
    cost_iter full;
    cost_iteration(sc->target, s, m, 0, &full);
    double f = sc->head_layers / sc->target->stage_layers;
    memset(out, 0, sizeof *out);
    out->total_ns = llround(f * (double)(full.gemm_ns + full.attn_ns + full.comm_ns + full.small_ns));
    out->flops = f * full.flops;
    out->hbm_bytes = f * full.hbm_bytes;
}

void spec_cost_draft(const spec_cost *sc, const cost_seq *seqs, int n, cost_seq *scratch, cost_iter *it)
{
    if (sc->method == SPEC_NGRAM || sc->method == SPEC_OFF)
        return;                 /* n-gram lookup runs on the host beside the scheduler */
    for (int j = 0; j < sc->k; j++) {
        int n_logits, m = draft_step_seqs(seqs, n, j, scratch, &n_logits);
        if (m == 0 || (j > 0 && n_logits == 0))
            break;              /* nothing to prefill or draft */
        cost_iter step;
        if (sc->method == SPEC_DRAFT)
            cost_iteration(&sc->draft, scratch, m, n_logits, &step);
        else
            head_step(sc, scratch, m, &step);
        it->draft_ns += step.total_ns;
        it->total_ns += step.total_ns;
        it->flops += step.flops;
        it->hbm_bytes += step.hbm_bytes;
    }
}

/* One decoder layer's weights on one GPU of the target: the layers'
 * parameters (the model's less its embedding, lm_head and final norm) over
 * the layer count and the tensor-parallel group. */
static double target_layer_weight_bytes_gpu(const cost_model *cm)
{
    const model_card *m = cm->m;
    return (model_params_total(m) - model_params_outer(m)) / m->n_layers * cm->weight_bytes_param / cm->par.tp;
}

double spec_cost_weight_bytes_gpu(const spec_cost *sc)
{
    switch (sc->method) {
    case SPEC_DRAFT:
        return cost_weight_bytes_gpu(&sc->draft);
    case SPEC_EAGLE:
        return sc->head_layers * target_layer_weight_bytes_gpu(sc->target);
    case SPEC_OFF:
    case SPEC_NGRAM:
    case SPEC_METHOD_COUNT:
        break;
    }
    return 0;
}

double spec_cost_kv_bytes_token_gpu(const spec_cost *sc)
{
    switch (sc->method) {
    case SPEC_DRAFT:
        return kv_layout_paged_bytes_token_gpu(&sc->draft);
    case SPEC_EAGLE:
        return sc->head_layers * sc->target->kv_bytes_token_layer_gpu;
    case SPEC_OFF:
    case SPEC_NGRAM:
    case SPEC_METHOD_COUNT:
        break;
    }
    return 0;
}
