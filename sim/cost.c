/* cost.c — iteration time as a sum over ops of max(compute, memory), plus tensor-parallel all-reduce and launch overhead. */
#include "cost.h"

#include <math.h>
#include <string.h>

/* Activations move between kernels in the model's weight precision at best
 * 16 bits: serving engines keep activations in bf16 even with fp8 weights. */
static kt_dtype activation_dtype(kt_dtype weights)
{
    return dtype_bytes(weights) < dtype_bytes(DTYPE_BF16) ? DTYPE_BF16 : weights;
}

static void add_gemm(cost_model *cm, const model_gemm *g)
{
    for (int i = 0; i < cm->n_gemms; i++) {
        cost_gemm *c = &cm->gemms[i];
        if (c->n == g->n && c->k == g->k && c->kind == g->kind) {
            c->count++;
            return;
        }
    }
    cm->gemms[cm->n_gemms++] = (cost_gemm){ g->n, g->k, g->kind, 1 };
}

static int add_group(cost_model *cm, int layer, kt_err *err)
{
    const model_layer *l = &cm->m->layers[layer];
    for (int i = 0; i < cm->n_groups; i++) {
        cost_attn_group *g = &cm->groups[i];
        if (g->kind == l->attn && g->window_tokens == l->window_tokens &&
            model_kv_bytes_per_token_layer(cm->m, layer, cm->kv_dtype) ==
                model_kv_bytes_per_token_layer(cm->m, g->layer, cm->kv_dtype)) {
            g->count++;
            return 0;
        }
    }
    if (cm->n_groups == (int)(sizeof cm->groups / sizeof cm->groups[0])) {
        KT_ERROR(err, NULL, 0, 0, "model %s: too many distinct attention layer kinds", cm->m->name);
        return -1;
    }
    double per_token = model_kv_bytes_per_token_layer(cm->m, layer, cm->kv_dtype);
    if (l->attn != ATTN_MLA) {
        int heads_gpu = (cm->m->n_kv_heads + cm->tp - 1) / cm->tp;
        per_token = per_token * heads_gpu / cm->m->n_kv_heads;
    }
    cm->groups[cm->n_groups++] = (cost_attn_group){ layer, 1, l->attn, l->window_tokens, per_token };
    return 0;
}

int cost_model_init(cost_model *cm, const model_card *m, const hw_profile *hw, int tp, kt_dtype kv,
                    kt_err *err)
{
    memset(cm, 0, sizeof *cm);
    cm->m = m;
    cm->hw = hw;
    cm->tp = tp;
    cm->kv_dtype = kv;
    cm->act_dtype = activation_dtype(m->weight_dtype);
    cm->peak_flops_gpu = hw_peak_flops(hw, m->weight_dtype);
    if (!(cm->peak_flops_gpu > 0)) {
        KT_ERROR(err, NULL, 0, 0, "%s has no FLOP/s figure usable for %s weights", hw->name,
                 dtype_name(m->weight_dtype));
        return -1;
    }
    cm->gemm_flops_per_s = cm->peak_flops_gpu * hw->eff_gemm;
    cm->attn_flops_per_s = hw_peak_flops(hw, cm->act_dtype) * hw->eff_attn;
    cm->mem_bytes_per_s = hw->hbm_bw_Bps * hw->eff_mem;
    for (int l = 0; l < m->n_layers; l++) {
        model_gemm g[MODEL_MAX_GEMMS];
        int n = model_layer_gemms(m, l, g);
        for (int i = 0; i < n; i++) {
            if (cm->n_gemms == (int)(sizeof cm->gemms / sizeof cm->gemms[0])) {
                KT_ERROR(err, NULL, 0, 0, "model %s: too many distinct GEMM shapes", m->name);
                return -1;
            }
            add_gemm(cm, &g[i]);
        }
        if (add_group(cm, l, err) < 0)
            return -1;
    }
    cm->launch_ns_iter = (int64_t)m->n_layers * hw->kernels_per_layer * hw->launch_ns;
    return 0;
}

double cost_kv_bytes_per_token_gpu(const cost_model *cm)
{
    double b = 0;
    for (int i = 0; i < cm->n_groups; i++)
        b += cm->groups[i].count * cm->groups[i].kv_bytes_token_gpu;
    return b;
}

double cost_weight_bytes_gpu(const cost_model *cm)
{
    return model_weight_bytes(cm->m) / cm->tp;
}

/* max(compute, memory) of one op on one GPU, in ns. */
static double op_ns(double flops, double flops_per_s, double bytes, double bytes_per_s)
{
    double c = flops / flops_per_s, mem = bytes / bytes_per_s;
    return 1e9 * (c > mem ? c : mem);
}

/* Expected distinct experts that tokens tokens, each routed to active of
 * experts uniformly, touch: E·(1 − (1 − k/E)^T). */
static double experts_touched(int experts, int active, double tokens)
{
    return experts * (1.0 - pow(1.0 - (double)active / experts, tokens));
}

/* GEMMs of all layers plus the lm_head, for T tokens of which n_logits sample. */
static double gemm_time_ns(const cost_model *cm, double tokens, int n_logits, double *flops, double *bytes)
{
    const model_card *m = cm->m;
    double wb = dtype_bytes(m->weight_dtype), ab = dtype_bytes(cm->act_dtype), ns = 0;
    for (int i = 0; i < cm->n_gemms; i++) {
        const cost_gemm *g = &cm->gemms[i];
        double rows = tokens, mats = 1;
        if (g->kind == MODEL_GEMM_EXPERT) {
            rows = tokens * m->n_experts_active;
            mats = experts_touched(m->n_experts, m->n_experts_active, tokens);
        }
        double f = 2.0 * rows * g->n * g->k / cm->tp;
        double b = (mats * g->n * g->k * wb + rows * (g->n + g->k) * ab) / cm->tp;
        ns += g->count * op_ns(f, cm->gemm_flops_per_s, b, cm->mem_bytes_per_s);
        *flops += g->count * f;
        *bytes += g->count * b;
    }
    if (n_logits == 0)
        return ns;              /* no sequence samples: no lm_head */
    double f = 2.0 * n_logits * m->vocab * m->hidden / cm->tp;
    double b = ((double)m->vocab * m->hidden * wb + n_logits * (double)(m->vocab + m->hidden) * ab) / cm->tp;
    ns += op_ns(f, cm->gemm_flops_per_s, b, cm->mem_bytes_per_s);
    *flops += f;
    *bytes += b;
    return ns;
}

/* Attention of one batch part (prefill or decode sequences), all layers. */
static double attn_time_ns(const cost_model *cm, const cost_seq *seqs, int n, int decode,
                           double *flops, double *bytes, double *flops_wasted)
{
    double ns = 0;
    for (int gi = 0; gi < cm->n_groups; gi++) {
        const cost_attn_group *g = &cm->groups[gi];
        double f = 0, b = 0;
        for (int s = 0; s < n; s++) {
            const cost_seq *q = &seqs[s];
            if (q->new_tokens <= 0 || (q->new_tokens == 1) != decode)
                continue;
            f += model_attn_flops(cm->m, g->layer, q->new_tokens, q->cached_tokens) / cm->tp;
            int64_t held = model_layer_kv_tokens(cm->m, g->layer, q->cached_tokens + q->new_tokens);
            b += held * g->kv_bytes_token_gpu;
            if (q->wasted_tokens > 0)
                *flops_wasted += g->count * model_attn_flops(cm->m, g->layer, q->wasted_tokens,
                                                             q->cached_tokens);
        }
        ns += g->count * op_ns(f, cm->attn_flops_per_s, b, cm->mem_bytes_per_s);
        *flops += g->count * f;
        *bytes += g->count * b;
    }
    return ns;
}

/* Ring all-reduce of T tokens' hidden states, twice per layer. */
static double comm_time_ns(const cost_model *cm, double tokens)
{
    if (cm->tp <= 1)
        return 0;
    const hw_profile *hw = cm->hw;
    double bytes = tokens * cm->m->hidden * dtype_bytes(cm->act_dtype);
    double steps = 2.0 * (cm->tp - 1);
    double one = 1e9 * steps / cm->tp * bytes / (hw->nvlink_bw_Bps * hw->eff_nvlink) +
                 steps * (double)hw->nvlink_latency_ns;
    return 2.0 * cm->m->n_layers * one;
}

void cost_iteration(const cost_model *cm, const cost_seq *seqs, int n, int n_logits, cost_iter *out)
{
    memset(out, 0, sizeof *out);
    double tokens = 0, wasted = 0, gflops = 0, aflops = 0, bytes = 0, aw = 0;
    for (int s = 0; s < n; s++) {
        tokens += seqs[s].new_tokens;
        wasted += seqs[s].wasted_tokens;
    }
    if (tokens <= 0)
        return;
    double gemm = gemm_time_ns(cm, tokens, n_logits, &gflops, &bytes);
    double attn = attn_time_ns(cm, seqs, n, 0, &aflops, &bytes, &aw) +
                  attn_time_ns(cm, seqs, n, 1, &aflops, &bytes, &aw);
    double comm = comm_time_ns(cm, tokens);
    out->gemm_ns = llround(gemm);
    out->attn_ns = llround(attn);
    out->comm_ns = llround(comm);
    out->launch_ns = cm->launch_ns_iter;
    out->total_ns = out->gemm_ns + out->attn_ns + out->comm_ns + out->launch_ns;
    out->flops = (gflops + aflops) * cm->tp;
    out->flops_wasted = gflops * cm->tp * (wasted / tokens) + aw;
    out->hbm_bytes = bytes * cm->tp;
}
