/* cost.c — iteration time as a sum over kernels of max(compute, memory) at the efficiency the profile's curves give for each kernel's size, plus collectives, launches and host overhead. */
#include "cost.h"
#include "kv_layout.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Activations move between kernels in the model's weight precision at best
 * 16 bits: serving engines keep activations in bf16 even with fp8 weights. */
static kt_dtype activation_dtype(kt_dtype weights)
{
    return dtype_bytes(weights) < dtype_bytes(DTYPE_BF16) ? DTYPE_BF16 : weights;
}

int cost_par_gpus(const cost_par *p)
{
    return p->tp * p->pp * p->cp;
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

/* v > 0 as an odd integer times a power of two: that integer (0 for
 * anything else). Products of it with integers whose sums stay below 2^53
 * are exact, and so are v's. */
static double odd_mantissa(double v)
{
    if (!(v > 0) || !isfinite(v))
        return 0;
    int e;
    double m = ldexp(frexp(v, &e), DBL_MANT_DIG);  /* an integer: every bit of v's mantissa */
    while (fmod(m, 2) == 0)
        m /= 2;
    return m;
}

static int add_group(cost_model *cm, int layer, kt_err *err)
{
    const model_layer *l = &cm->m->layers[layer];
    int sparse = sparse_attn_layer_sparse(&cm->sparse, cm->m, layer);
    for (int i = 0; i < cm->n_groups; i++) {
        cost_attn_group *g = &cm->groups[i];
        if (g->kind == l->attn && g->window_tokens == l->window_tokens && g->sparse == sparse &&
            model_kv_bytes_per_token_layer(cm->m, layer, cm->kv_dtype) ==
                model_kv_bytes_per_token_layer(cm->m, g->layer, cm->kv_dtype) &&
            g->kv_dtype == model_layer_kv_dtype(cm->m, layer, cm->kv_dtype) &&
            g->stores == model_layer_stores_kv(cm->m, layer)) {
            g->count++;
            return 0;
        }
    }
    if (cm->n_groups == (int)(sizeof cm->groups / sizeof cm->groups[0])) {
        KT_ERROR(err, NULL, 0, 0, "model %s: too many distinct attention layer kinds", cm->m->name);
        return -1;
    }
    double per_token = kv_layout_layer_bytes_token_gpu(cm->m, layer, cm->kv_dtype, cm->par.tp);
    kt_dtype kv_dtype = model_layer_kv_dtype(cm->m, layer, cm->kv_dtype);
    double meta = sparse ? sparse_attn_metadata_bytes_page_gpu(&cm->sparse, cm->m, layer, kv_dtype, cm->par.tp) : 0;
    cm->groups[cm->n_groups++] = (cost_attn_group){ layer, 1, l->attn, l->window_tokens, per_token, sparse, meta,
                                                    kv_dtype, model_layer_stores_kv(cm->m, layer),
                                                    model_attn_flops(cm->m, layer, 1, 0), odd_mantissa(per_token), 0 };
    cost_attn_group *g = &cm->groups[cm->n_groups - 1];
    int tp = cm->par.tp;
    g->linear = !g->window_tokens && !g->sparse && !(tp & (tp - 1)) && g->kv_bytes_mantissa > 0;
    return 0;
}

int cost_model_set_sparse(cost_model *cm, const sparse_attn_cfg *sp, kt_err *err)
{
    cm->sparse = *sp;
    cm->n_groups = 0;
    for (int l = 0; l < cm->m->n_layers; l++)
        if (add_group(cm, l, err) < 0)
            return -1;
    return 0;
}

/* The curves cm evaluates, each prepared once (curve_ln). */
static void init_curves(cost_model *cm)
{
    const hw_profile *hw = cm->hw;
    cost_curves *c = &cm->curves;
    curve_ln_init(&c->gemm, cm->gemm_curve);
    curve_ln_init(&c->attn, cm->attn_curve);
    curve_ln_init(&c->attn_hd, cm->attn_curve_hd);
    curve_ln_init(&c->attn_decode, &hw->attn_decode);
    curve_ln_init(&c->memory, &hw->memory);
    curve_ln_init(&c->small_ops, &hw->small_ops);
    curve_ln_init(&c->allreduce, &hw->allreduce);
    curve_ln_init(&c->p2p, &hw->p2p);
    curve_ln_init(&c->alltoall, &hw->alltoall);
    curve_ln_init(&c->allgather, &hw->allgather);
}

/* Attention's efficiency bound (cost_model's attn_eff_lo, attn_eff_x): each
 * curve gives at least its lowest point's efficiency at or above its first
 * point, and below it either that too or, holding its time, that × x / x0;
 * the blend of two at t in [0, 1] is at least the same blend of those. */
static void init_attn_bound(cost_model *cm)
{
    const curve *c[2] = { cm->attn_curve, cm->attn_curve_hd };
    double t = cm->attn_hd_t;
    cm->attn_eff_lo = cm->attn_eff_x = cm->attn_ub_ns_flop = 0;
    if (!(t >= 0 && t <= 1) || !c[0] || !c[1] || c[0]->n < 1 || c[1]->n < 1)
        return;
    for (int i = 0; i < 2; i++)
        if (c[i]->below == CURVE_HOLD_TIME && c[i]->x[0] > cm->attn_eff_x)
            cm->attn_eff_x = c[i]->x[0];
    cm->attn_eff_lo = (1.0 - t) * curve_min(c[0]) + t * curve_min(c[1]);
    if (cm->attn_eff_lo > 0)
        cm->attn_ub_ns_flop = 1e9 / (cm->attn_peak_flops * cm->attn_eff_lo) * (1 + 1e-6);
}

/* The GEMM and attention paths: a weight format runs natively where the GPU
 * has a tensor-core rate for it, else dequantized to its emulation dtype in
 * the kernel (FP8 weights on an A100, FP4 before Blackwell). Prefill
 * attention runs in FP8 (FlashAttention-3's FP8 path) when the KV is FP8 and
 * the profile measures that path. */
static int init_paths(cost_model *cm, kt_err *err)
{
    const model_card *m = cm->m;
    const hw_profile *hw = cm->hw;
    const quant_spec *q = quant_spec_of(m->quant.format);
    cm->act_dtype = activation_dtype(m->weight_dtype);
    cm->gemm_dtype = hw->peak_flops[q->native] > 0 ? q->native : q->emulated;
    cm->quantize_acts = dtype_bytes(cm->gemm_dtype) < dtype_bytes(cm->act_dtype) && q->native == cm->gemm_dtype &&
                        dtype_bytes(q->native) == dtype_bytes(q->stored);
    cm->gemm_peak_flops = hw_peak_flops(hw, cm->gemm_dtype);
    cm->attn_dtype = cm->kv_dtype == DTYPE_FP8 && hw->attn_prefill[DTYPE_FP8].n > 0 ? DTYPE_FP8 : cm->act_dtype;
    cm->attn_peak_flops = hw_peak_flops(hw, cm->attn_dtype);
    if (!(cm->gemm_peak_flops > 0) || !(cm->attn_peak_flops > 0)) {
        KT_ERROR(err, NULL, 0, 0, "%s has no FLOP/s figure usable for %s weights", hw->name,
                 quant_names[m->quant.format]);
        return -1;
    }
    cm->gemm_curve = hw_gemm_curve(hw, cm->gemm_dtype);
    hw_attn_prefill_head_dim(hw, cm->attn_dtype, m->head_dim, &cm->attn_curve, &cm->attn_curve_hd, &cm->attn_hd_t);
    init_curves(cm);
    cm->weight_bytes_param = quant_bytes_param(&m->quant);
    cm->host_step_ns = hw->host_step_ns;
    cm->host_seq_ns = hw->host_seq_ns;
    init_attn_bound(cm);
    return 0;
}

/* Refuses a layout that breaks cost_par's invariants for model m. */
static int check_par(const cost_par *p, const model_card *m, int n_moe_layers, kt_err *err)
{
    if (p->tp < 1 || p->pp < 1 || p->cp < 1 || p->ep < 1) {
        KT_ERROR(err, NULL, 0, 0, "parallel degrees must be at least 1 (tp %d, pp %d, cp %d, ep %d)",
                 p->tp, p->pp, p->cp, p->ep);
        return -1;
    }
    if ((int64_t)p->tp * p->pp * p->cp > INT_MAX) {
        KT_ERROR(err, NULL, 0, 0, "tp %d × pp %d × cp %d GPUs is more than one replica can have", p->tp,
                 p->pp, p->cp);
        return -1;
    }
    if (p->pp > m->n_layers) {
        KT_ERROR(err, NULL, 0, 0, "pipeline parallelism %d exceeds the %d layers of %s: every stage needs a layer",
                 p->pp, m->n_layers, m->name);
        return -1;
    }
    if (p->ep > 1 && n_moe_layers == 0) {
        KT_ERROR(err, NULL, 0, 0, "model %s is dense: expert parallelism (ep %d) needs MoE layers", m->name,
                 p->ep);
        return -1;
    }
    if (p->tp % p->ep != 0 || (p->ep > 1 && p->ep > m->n_experts)) {
        KT_ERROR(err, NULL, 0, 0, "expert parallelism %d must divide tensor parallelism %d (experts are spread "
                 "over the tensor-parallel group) and not exceed the %d routed experts of %s",
                 p->ep, p->tp, m->n_experts, m->name);
        return -1;
    }
    return 0;
}

/* NVLink as a transfer without a curve of its own sees it: the flat
 * efficiency and one step's latency of the profile. */
static cost_link nvlink_flat(const hw_profile *hw)
{
    return (cost_link){ hw->nvlink_bw_Bps * hw->eff_nvlink, hw->nvlink_latency_ns, 0 };
}

/* The link that collectives among g GPUs spaced stride apart use, for every
 * such group among GPUs [first, first + n) of the replica. The groups tile
 * blocks of g × stride consecutive GPUs; a block inside one NVLink domain
 * talks over NVLink, one spanning domains over the network (its slowest
 * hop). The replica steps in lockstep, so the slowest group sets the pace. */
static cost_link group_link(const hw_profile *hw, int first, int n, int g, int stride)
{
    int64_t block = (int64_t)g * stride, domain = hw->nvlink_domain_gpus;
    for (int64_t b = first; b < (int64_t)first + n; b += block)
        if (b / domain != (b + block - 1) / domain)
            return (cost_link){ hw->network_bw_Bps * hw->eff_network, hw->network_latency_ns, 1 };
    return nvlink_flat(hw);
}

static void init_links(cost_model *cm)
{
    const cost_par *p = &cm->par;
    int gpus = cost_par_gpus(p), stage_gpus = p->tp * p->cp;
    cm->tp_link = group_link(cm->hw, 0, gpus, p->tp, 1);
    cm->cp_link = group_link(cm->hw, 0, gpus, p->cp, p->tp);
    cm->ep_link = group_link(cm->hw, 0, gpus, p->ep, 1);
    /* Stage s hands its activations to stage s+1, GPU j to GPU j; hops
     * inside a domain run on NVLink, the others on the network. */
    for (int s = 0; s + 1 < p->pp; s++) {
        cost_link l = group_link(cm->hw, s * stage_gpus, 2 * stage_gpus, 2, stage_gpus);
        if (!l.network) {
            cm->pp_nvlink_hops++;
            continue;
        }
        cm->pp_net_ns_per_byte += 1e9 / l.bw_Bps;
        cm->pp_net_latency_ns += l.latency_ns;
    }
}

/* Time of a transfer or collective over link l that moves `moved` bytes
 * out of each GPU, its message being x bytes (nccl-tests' size). Inside an
 * NVLink domain, where the profile measures this collective (curve c with
 * latency lat_ns): lat_ns + moved / (NVLink × c's efficiency at x), i.e.
 * latency + size / bus bandwidth. Otherwise the link's achieved rate and
 * one latency. */
static double link_op_ns(const cost_model *cm, const curve_ln *c, int64_t lat_ns, cost_link l, double x, double moved)
{
    if (l.network || c->c->n == 0)
        return 1e9 * moved / l.bw_Bps + (double)l.latency_ns;
    return (double)lat_ns + curve_ln_time_ns(c, x, moved, cm->hw->nvlink_bw_Bps);
}

/* One point-to-point send of bytes over link l. */
static double p2p_ns(const cost_model *cm, cost_link l, double bytes)
{
    return link_op_ns(cm, &cm->curves.p2p, cm->hw->p2p_latency_ns, l, bytes, bytes);
}

/* Attention output one token leaves on one GPU per layer, mean over layers:
 * its heads (split across tp, at least one each) × the value width. */
static double attn_out_bytes(const cost_model *cm)
{
    const model_card *m = cm->m;
    double heads_gpu = (m->n_heads + cm->par.tp - 1) / cm->par.tp, sum = 0;
    for (int l = 0; l < m->n_layers; l++)
        sum += heads_gpu * (m->layers[l].attn == ATTN_MLA ? m->mla_v_head_dim : m->head_dim);
    return sum * dtype_bytes(cm->act_dtype) / m->n_layers;
}

int cost_model_init_par(cost_model *cm, const model_card *m, const hw_profile *hw, const cost_par *par,
                        kt_dtype kv, kt_err *err)
{
    memset(cm, 0, sizeof *cm);
    for (int l = 0; l < m->n_layers; l++)
        cm->n_moe_layers += m->layers[l].ffn == FFN_MOE;
    if (check_par(par, m, cm->n_moe_layers, err) < 0)
        return -1;
    cm->m = m;
    cm->hw = hw;
    cm->par = *par;
    cm->kv_dtype = kv;
    if (init_paths(cm, err) < 0)
        return -1;
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
    /* The largest stage sets the pipeline's pace. Its layers are taken as an
     * even mix of the model's layer kinds (exact for models that repeat one
     * pattern), so its share of every per-layer cost is stage_share. */
    cm->stage_layers = (m->n_layers + par->pp - 1) / par->pp;
    cm->stage_share = (double)cm->stage_layers / m->n_layers;
    cm->launch_ns_stage = (int64_t)cm->stage_layers * hw->kernels_per_layer * hw->launch_ns;
    cm->attn_out_bytes_token_layer = attn_out_bytes(cm);
    double ab = dtype_bytes(cm->act_dtype);
    for (int i = 0; i < cm->n_groups; i++) {
        const cost_attn_group *g = &cm->groups[i];
        if (g->stores)
            cm->kv_write_bytes_token_layer_gpu +=
                g->count * g->kv_bytes_token_gpu / m->n_layers * (1.0 + ab / dtype_bytes(g->kv_dtype));
    }
    cm->decode_heads_gpu = kv_layout_kv_heads_gpu(m, par->tp);
    for (int i = 0; i < cm->n_groups; i++)
        cm->kv_bytes_token_layer_gpu += cm->groups[i].count * cm->groups[i].kv_bytes_token_gpu / m->n_layers;
    init_links(cm);
    return 0;
}

int cost_model_init(cost_model *cm, const model_card *m, const hw_profile *hw, int tp, kt_dtype kv,
                    kt_err *err)
{
    const cost_par par = { tp, 1, 1, 1 };
    return cost_model_init_par(cm, m, hw, &par, kv, err);
}

double cost_weight_bytes_gpu(const cost_model *cm)
{
    const model_card *m = cm->m;
    const cost_par *p = &cm->par;
    double outer = model_params_outer(m), layers = model_params_total(m) - outer, experts = 0;
    for (int i = 0; i < cm->n_gemms; i++)
        if (cm->gemms[i].kind == MODEL_GEMM_EXPERT)
            experts += (double)cm->gemms[i].count * cm->gemms[i].n * cm->gemms[i].k * m->n_experts;
    /* A part of the TP group holds ceil(n_experts / ep) experts on tp / ep
     * GPUs: relative to an even tp-way split that is this factor (1 when ep
     * divides n_experts). */
    double uneven = experts > 0 ? (double)((m->n_experts + p->ep - 1) / p->ep) * p->ep / m->n_experts : 1;
    /* With PP the first stage holds the embedding and the last the lm_head
     * (a copy of the embedding when tied) and final norm; the last, with as
     * many layers, is the larger. */
    double edge = p->pp == 1 || m->tie_embeddings ? outer : outer - (double)m->vocab * m->hidden;
    double params = (layers - experts + experts * uneven) * cm->stage_share + edge;
    return params * cm->weight_bytes_param / p->tp;
}

/* Time of moving bytes through HBM in one kernel, at the memory curve's
 * efficiency for that size (its first point's time at least). */
static double mem_ns(const cost_model *cm, double bytes)
{
    return curve_ln_time_ns(&cm->curves.memory, bytes, bytes, cm->hw->hbm_bw_Bps);
}

/* One kernel of flops at compute curve c (x its size) or bytes through HBM,
 * whichever takes longer: the roofline, each side at its measured
 * efficiency; never shorter than the profile's shortest kernel. */
static double kernel_ns(const cost_model *cm, const curve_ln *c, double x, double flops, double peak, double bytes)
{
    double t_c = curve_ln_time_ns(c, x, flops, peak), t_m = mem_ns(cm, bytes), f = (double)cm->hw->small_op_floor_ns;
    double t = t_c > t_m ? t_c : t_m;
    return t > f ? t : f;
}

/* A small memory-bound kernel (a norm, an add, a rope): bytes through HBM
 * at the small-op curve's efficiency, never faster than the profile's
 * shortest kernel. */
static double small_ns(const cost_model *cm, double bytes)
{
    double t = curve_ln_time_ns(&cm->curves.small_ops, bytes, bytes, cm->hw->hbm_bw_Bps);
    double floor_ns = (double)cm->hw->small_op_floor_ns;
    return t > floor_ns ? t : floor_ns;
}

/* Expected distinct experts that tokens tokens, each routed to active of
 * experts uniformly, touch: E·(1 − (1 − k/E)^T). */
static double experts_touched(int experts, int active, double tokens)
{
    return experts * (1.0 - pow(1.0 - (double)active / experts, tokens));
}

/* Expected load on the busiest of ep expert-parallel parts, relative to the
 * mean, when assignments tokens spread uniformly over them: each part's load
 * is Binomial(assignments, 1/ep), and the expected maximum of ep such loads
 * is about mean + sd·sqrt(2 ln ep) (the Gaussian extreme-value bound; e.g.
 * Gumbel, "Statistics of Extremes", 1958). Never more than all on one part. */
double cost_ep_imbalance(int ep, double assignments)
{
    if (ep <= 1 || assignments <= 0)
        return 1;
    double mean = assignments / ep, sd = sqrt(assignments * (1.0 / ep) * (1.0 - 1.0 / ep));
    double f = (mean + sd * sqrt(2.0 * log(ep))) / mean;
    return f < ep ? f : ep;
}

/* GEMMs of all layers for T tokens on one GPU; the lm_head for n_logits
 * rows goes to *lm_ns. Adds per-GPU FLOPs and bytes. A routed expert's
 * GEMM runs at the efficiency of its own rows (tokens per touched expert),
 * as a grouped GEMM does, and with expert parallelism the busiest part sets
 * the pace. */
static double gemm_time_ns(const cost_model *cm, double tokens, double n_logits, double *lm_ns, double *flops,
                           double *bytes)
{
    const model_card *m = cm->m;
    int tp = cm->par.tp;
    double wb = cm->weight_bytes_param, ab = dtype_bytes(cm->act_dtype), ns = 0;
    for (int i = 0; i < cm->n_gemms; i++) {
        const cost_gemm *g = &cm->gemms[i];
        double rows = tokens, mats = 1, busiest = 1;
        if (g->kind == MODEL_GEMM_EXPERT) {
            rows = tokens * m->n_experts_active;
            mats = experts_touched(m->n_experts, m->n_experts_active, tokens);
            busiest = cost_ep_imbalance(cm->par.ep, rows);
        }
        double per_matrix_rows = mats > 0 ? rows / mats : rows;
        double f = 2.0 * rows * g->n * g->k / tp;
        double w = mats * g->n * g->k * wb / tp, act = rows * (g->n + g->k) * ab / tp, b = w + act;
        /* The busiest part multiplies more rows over the same share of
         * weights: its FLOPs and activations grow, its weight reads do not. */
        ns += g->count * kernel_ns(cm, &cm->curves.gemm, per_matrix_rows * busiest, f * busiest, cm->gemm_peak_flops,
                                   w + act * busiest);
        *flops += g->count * f;
        *bytes += g->count * b;
    }
    *lm_ns = 0;
    if (n_logits == 0)
        return ns;              /* no sequence samples: no lm_head */
    double f = 2.0 * n_logits * m->vocab * m->hidden / tp;
    double b = ((double)m->vocab * m->hidden * wb + n_logits * (double)(m->vocab + m->hidden) * ab) / tp;
    *lm_ns = kernel_ns(cm, &cm->curves.gemm, n_logits, f, cm->gemm_peak_flops, b);
    *flops += f;
    *bytes += b;
    return ns;
}

/* Bytes attention reads for bytes of group g's KV. Without a kernel that
 * reads the packed format (kv_dequant), KV narrower than the activations is
 * first dequantized by a pass of its own, which reads the packed bytes and
 * writes them wide (its time goes to *pass_ns); attention then reads the
 * wide copy. */
static double attn_read_bytes(const cost_model *cm, const cost_attn_group *g, double bytes, double *pass_ns)
{
    if (!cm->m->kv_dequant || bytes <= 0)
        return bytes;
    double ab = dtype_bytes(cm->act_dtype), kb = dtype_bytes(g->kv_dtype);
    if (kb >= ab)
        return bytes;
    double wide = bytes * ab / kb;
    *pass_ns += mem_ns(cm, bytes + wide);
    return wide;
}

/* Prefill attention's compute time for flops at context length x, at the
 * efficiency of the model's head dim (hw_attn_prefill_head_dim). */
static double attn_compute_ns(const cost_model *cm, double x, double flops)
{
    if (!(flops > 0))
        return 0;
    double eff = curve_ln_eval_between(&cm->curves.attn, &cm->curves.attn_hd, cm->attn_hd_t, x);
    return 1e9 * flops / (cm->attn_peak_flops * eff);
}

/* A paged decode kernel over `bytes` of KV for `seqs` sequences: the decode
 * curve's time for those bytes, but never less than the profile's time per
 * work item (one sequence's KV head) times the items: with short contexts
 * the items, not the bytes, set its pace. */
static double decode_attn_ns(const cost_model *cm, double bytes, double seqs)
{
    double t = curve_ln_time_ns(&cm->curves.attn_decode, bytes, bytes, cm->hw->hbm_bw_Bps);
    double items = seqs * cm->decode_heads_gpu * (double)cm->hw->decode_item_ns;
    return t > items ? t : items;
}

/* The rows of a batch part attention walks: seqs[0..n), each with shift
 * more cached tokens (step shift of a decode run), then n_pad padding rows
 * (cost_pad_row). */
typedef struct attn_rows {
    const cost_seq *seqs;
    int n;
    int64_t shift;
    int n_pad;
} attn_rows;

/* A padding row of a CUDA-graph decode batch: one token over no KV, wasted. */
static const cost_seq cost_pad_row = { 1, 0, 1, 0 };

/* Row i of rows. */
static cost_seq attn_row(const attn_rows *rows, int i)
{
    if (i >= rows->n)
        return cost_pad_row;
    cost_seq q = rows->seqs[i];
    q.cached_tokens += rows->shift;
    return q;
}

/* One group's sums over a batch part: FLOPs per TP rank, KV bytes per GPU,
 * sequences, and ub, a bound on the compute time's numerator: Σ FLOPs ×
 * max(1, attn_eff_x / x) (attn_memory_bound). */
typedef struct attn_sums {
    double f, b, n_seqs, ub;
} attn_sums;

/* Row q's attention in group g: FLOPs per TP rank (*fs) at context *x; adds
 * its KV and selection bytes to s->b. Returns 0 when q is not of the part. */
static int attn_seq(const cost_model *cm, const cost_attn_group *g, const cost_seq *q, int decode, attn_sums *s,
                    double *fs, double *x)
{
    if (q->new_tokens <= 0 || cost_seq_decodes(q) != decode)
        return 0;
    /* A sparse layer's decode attends to its selected pages and scores
     * every page from its metadata. */
    int64_t cached = q->cached_tokens, scored = 0;
    if (decode && g->sparse) {
        scored = sparse_attn_scored_tokens(&cm->sparse, cached);
        s->b += (double)sparse_attn_pages(&cm->sparse, cached) * g->meta_bytes_page_gpu;
        cached = sparse_attn_read_tokens(&cm->sparse, cached);
    }
    /* Each sequence's attention runs at the efficiency of its own context
     * length (the length of the kernel's inner loop). */
    *fs = model_attn_flops(cm->m, g->layer, q->new_tokens, cached + scored) / cm->par.tp;
    *x = (double)(cached + q->new_tokens);
    s->b += model_layer_kv_tokens(cm->m, g->layer, cached + q->new_tokens) * g->kv_bytes_token_gpu;
    return 1;
}

/* Group g's sums over the rows of the part, walking them; their wasted
 * FLOPs go to *flops_wasted. */
static void attn_walk(const cost_model *cm, const cost_attn_group *g, const attn_rows *rows, int decode,
                      attn_sums *s, double *flops_wasted)
{
    double X = cm->attn_eff_x;
    for (int i = 0; i < rows->n + rows->n_pad; i++) {
        cost_seq q = attn_row(rows, i);
        double fs, x;
        if (!attn_seq(cm, g, &q, decode, s, &fs, &x))
            continue;
        s->n_seqs++;
        s->f += fs;
        s->ub += x < X ? fs * (X / x) : fs;
        if (q.wasted_tokens > 0)
            *flops_wasted += g->count * model_attn_flops(cm->m, g->layer, q.wasted_tokens, q.cached_tokens);
    }
}

/* Group g's compute time: Σ over the rows of the part of each one's FLOPs at
 * its context's efficiency, in row order. */
static double attn_walk_compute_ns(const cost_model *cm, const cost_attn_group *g, const attn_rows *rows, int decode)
{
    double t_c = 0;
    for (int i = 0; i < rows->n + rows->n_pad; i++) {
        cost_seq q = attn_row(rows, i);
        attn_sums unused = { 0 };
        double fs, x;
        if (attn_seq(cm, g, &q, decode, &unused, &fs, &x))
            t_c += attn_compute_ns(cm, x, fs);
    }
    return t_c;
}

/* Whether decode rows of s in a micro-batch of 1/mb certainly compute in
 * less time than step_m, their memory time. The efficiency at x is at
 * least attn_eff_lo × min(1, x / attn_eff_x) (cost_model), so their
 * compute time is at most 1e9 × ub / (peak × attn_eff_lo); the margin of
 * 1e-6 covers the rounding of a sum of up to millions of terms (below
 * 1e-9). Then the step is step_m whatever the curves give, and their
 * per-row evaluations can be left out. */
static int attn_memory_bound(const cost_model *cm, const attn_sums *s, double mb, double step_m)
{
    return cm->attn_ub_ns_flop > 0 && s->ub * cm->attn_ub_ns_flop / mb / cm->par.cp < step_m;
}

/* Group g's part of an iteration from its sums s over rows: the time of
 * one of mb micro-batches on one GPU, all the group's layers. Adds the
 * batch's FLOPs per TP rank and the micro-batch's bytes per GPU.
 * Context parallelism: a decode GPU reads its 1/cp shard of the KV. A
 * prefill runs as a ring of cp steps, each attending the GPU's 1/cp of the
 * new tokens to one 1/cp chunk of the KV (balanced causal work, as zigzag
 * layouts make it) while the chunk moves on to the next GPU; a step takes
 * max(compute, transfer), so transfer time beyond the compute of the cp-1
 * steps that send goes to *exposed_ns. */
static double attn_group_ns(const cost_model *cm, const cost_attn_group *g, const attn_sums *s,
                            const attn_rows *rows, int decode, double mb, double *exposed_ns, double *flops,
                            double *bytes, double *dequant_ns)
{
    int cp = cm->par.cp, steps = decode ? 1 : cp;
    double step_b = s->b / mb / cp, pass = 0;
    double read_b = attn_read_bytes(cm, g, step_b, &pass);
    /* Decode reads the batch's KV in one paged kernel at the decode
     * curve's efficiency for that many bytes, or its work items' pace
     * (decode_attn_ns); prefill streams it. */
    double step_m = decode ? decode_attn_ns(cm, read_b, s->n_seqs / mb) : mem_ns(cm, read_b);
    double step_c = 0;         /* no rows, or at most step_m (attn_memory_bound): the step is step_m either way */
    if (s->n_seqs > 0 && (!decode || !attn_memory_bound(cm, s, mb, step_m)))
        step_c = attn_walk_compute_ns(cm, g, rows, decode) / mb / cp / steps;
    double step = (step_c > step_m ? step_c : step_m) + pass;
    *dequant_ns += g->count * steps * pass;
    if (steps > 1 && step_b > 0) {
        double xfer = p2p_ns(cm, cm->cp_link, step_b);
        *exposed_ns += xfer > step ? g->count * (steps - 1) * (xfer - step) : 0;
    }
    *flops += g->count * s->f;
    *bytes += g->count * steps * (read_b + (read_b != step_b ? step_b + read_b : 0));
    return g->count * steps * step;
}

/* 2^53: integers up to it are exact in a double, and so is any sum of them
 * that stays below it. */
#define EXACT_INT_LIMIT 9007199254740992.0

/* A batch's decode rows as the closed form needs them: rows of them, each
 * computing one new token; ctx, the sum of their contexts x (cached + 1);
 * wasted_ctx, that sum over those whose token is wasted. Invariant: ok is
 * 0 when some decode row computes more than one token or wastes more than
 * its one (the caller then walks). */
typedef struct decode_totals {
    int ok;
    double rows;
    int64_t ctx, wasted_ctx;
} decode_totals;

/* Adds row q to t when it decodes. */
static void decode_totals_add(decode_totals *t, const cost_seq *q)
{
    if (q->new_tokens <= 0 || !cost_seq_decodes(q))
        return;
    if (q->new_tokens != 1 || q->wasted_tokens < 0 || q->wasted_tokens > 1 || q->cached_tokens < 0)
        t->ok = 0;
    int64_t x = q->cached_tokens + 1;
    t->rows++;
    t->ctx += x;
    t->wasted_ctx += q->wasted_tokens ? x : 0;
}

/* Group g's decode sums from the totals t, where that gives the walk's
 * values bit for bit; 0 when it cannot (a group that is not linear, sums
 * too large to be exact), and the caller walks. A global or MLA layer's
 * decode row at context x has FLOPs K·x / tp (K = decode_flops_token),
 * holds x tokens of KV and, when wasted, wastes count·K·x FLOPs: the walk's
 * terms are integers (over tp, a power of two) and integer multiples of
 * kv_bytes_token_gpu's mantissa, whose partial sums are exact below 2^53 in
 * any order, so the totals give the same f, b and wasted FLOPs (added to
 * *flops_wasted only while it stays an integer below 2^53). Each row adds
 * at most K·(x + X) / tp to ub (attn_walk). */
static int attn_closed_form(const cost_model *cm, const cost_attn_group *g, const decode_totals *t, attn_sums *s,
                            double *flops_wasted)
{
    double K = g->decode_flops_token, x = (double)t->ctx;
    double wasted = g->count * K * (double)t->wasted_ctx, aw = *flops_wasted;
    if (!t->ok || !g->linear || !(K * x < EXACT_INT_LIMIT) || !(g->kv_bytes_mantissa * x < EXACT_INT_LIMIT) ||
        !(aw + wasted < EXACT_INT_LIMIT) || aw != trunc(aw))
        return 0;
    int tp = cm->par.tp;
    s->f = K * x / tp;
    s->b = x * g->kv_bytes_token_gpu;
    s->n_seqs = t->rows;
    s->ub = s->f + t->rows * K * cm->attn_eff_x / tp;
    *flops_wasted = aw + wasted;
    return 1;
}

/* Attention of one batch part (prefill or decode sequences), all layers, for
 * one of mb micro-batches (1/mb of the batch) on one GPU (attn_group_ns);
 * t, for the decode part, its rows' totals (attn_closed_form). */
static double attn_time_ns(const cost_model *cm, const attn_rows *rows, int decode, const decode_totals *t,
                           double mb, double *exposed_ns, double *flops, double *bytes, double *flops_wasted,
                           double *dequant_ns)
{
    double ns = 0;
    for (int gi = 0; gi < cm->n_groups; gi++) {
        attn_sums s = { 0 };
        if (!decode || !attn_closed_form(cm, &cm->groups[gi], t, &s, flops_wasted))
            attn_walk(cm, &cm->groups[gi], rows, decode, &s, flops_wasted);
        ns += attn_group_ns(cm, &cm->groups[gi], &s, rows, decode, mb, exposed_ns, flops, bytes, dequant_ns);
    }
    return ns;
}

/* Ring all-reduce among the tp GPUs of T tokens' hidden states, one of the
 * two a layer runs (after attention and after the FFN). */
static double allreduce_ns(const cost_model *cm, double tokens)
{
    int tp = cm->par.tp;
    if (tp <= 1)
        return 0;
    double bytes = tokens * cm->m->hidden * dtype_bytes(cm->act_dtype);
    double steps = 2.0 * (tp - 1);
    /* Inside an NVLink domain: the bus bandwidth collective benchmarks
     * measure at this message size (latency included), as nccl-tests
     * defines it: time = 2(n-1)/n × bytes / busbw. Across nodes: the ring's
     * steps over the network. */
    if (!cm->tp_link.network)
        return curve_ln_time_ns(&cm->curves.allreduce, bytes, steps / tp * bytes, cm->hw->nvlink_bw_Bps);
    return 1e9 * steps / tp * bytes / cm->tp_link.bw_Bps + steps * (double)cm->tp_link.latency_ns;
}

/* Dispatch and combine all-to-alls of one MoE layer for T tokens: each GPU
 * holds the n_experts_active copies of every token (nccl-tests' all-to-all
 * size) and sends those bound for experts in the other ep-1 parts
 * ((ep-1)/ep of them under uniform routing), and receives as many back. */
static double alltoall_ns(const cost_model *cm, double tokens)
{
    int ep = cm->par.ep;
    if (ep <= 1)
        return 0;
    double size = tokens * cm->m->n_experts_active * cm->m->hidden * dtype_bytes(cm->act_dtype);
    return 2.0 * link_op_ns(cm, &cm->curves.alltoall, cm->hw->alltoall_latency_ns, cm->ep_link, size,
                            size * (ep - 1) / ep);
}

/* CP decode, one layer: each GPU's partial attention output over its KV
 * shard is all-gathered among the cp GPUs (each sends its part to the
 * cp-1 others: nccl-tests' all-gather of cp parts) and combined locally;
 * the softmax sums that ride along are negligible. */
static double cp_combine_ns(const cost_model *cm, double decode_tokens)
{
    int cp = cm->par.cp;
    if (cp <= 1 || decode_tokens <= 0)
        return 0;
    double part = decode_tokens * cm->attn_out_bytes_token_layer;
    if (cm->cp_link.network || cm->hw->allgather.n == 0)
        return (cp - 1) * (1e9 * part / cm->cp_link.bw_Bps + (double)cm->cp_link.latency_ns);
    return link_op_ns(cm, &cm->curves.allgather, cm->hw->allgather_latency_ns, cm->cp_link, cp * part, (cp - 1) * part);
}

/* Memory-bound kernels of one layer for T tokens on one GPU: two fused
 * residual-add + RMSNorm kernels (read x and the residual, write both),
 * RoPE on q and k in place, the KV-cache write (read the new K and V, write
 * them at the KV precision), the gated activation (read gate and up, write
 * their product: ffn_rows rows of width ffn), for MoE the routing top-k
 * over the router's logits and the permute and unpermute of the token
 * copies (the copies once and one row a token each), and with W8A8 the
 * quantization of the four GEMM inputs. */
static double layer_small_ns(const cost_model *cm, double tokens, int moe)
{
    const model_card *m = cm->m;
    int tp = cm->par.tp;
    double ab = dtype_bytes(cm->act_dtype), h = (double)m->hidden;
    double heads_gpu = (double)(m->n_heads + m->n_kv_heads) / tp;
    double ffn = moe ? (double)m->ffn_expert : (double)m->ffn_dense;
    double ffn_rows = moe ? tokens * m->n_experts_active : tokens;
    double ns = 2 * small_ns(cm, 4.0 * tokens * h * ab) +
                small_ns(cm, 2.0 * tokens * heads_gpu * m->head_dim * ab) +
                small_ns(cm, tokens * cm->kv_write_bytes_token_layer_gpu) +
                small_ns(cm, 3.0 * ffn_rows * ffn / tp * ab);
    if (moe) {
        /* The permute reads each token once and writes its copies, one per
         * routed expert; the unpermute reads the copies and writes the
         * weighted sum: each moves the copies and one row a token. */
        double copies = tokens * m->n_experts_active * h * ab;
        ns += small_ns(cm, tokens * m->n_experts * sizeof(float)) + 2 * small_ns(cm, copies + tokens * h * ab);
    }
    if (cm->quantize_acts) {
        double q_bytes = tokens * (ab + dtype_bytes(cm->gemm_dtype));
        ns += 2 * small_ns(cm, q_bytes * h) + small_ns(cm, q_bytes * m->n_heads * m->head_dim / tp) +
              small_ns(cm, q_bytes * ffn / tp);
    }
    return ns;
}

/* Memory-bound kernels of one micro-batch on the largest stage: its layers'
 * (dense and MoE in the model's proportion), plus the embedding lookup,
 * the final norm and sampling over n_logits rows of fp32 logits (read,
 * softmax, write), which the edge stages run. */
static double stage_small_ns(const cost_model *cm, double tokens, double n_logits)
{
    const model_card *m = cm->m;
    double ab = dtype_bytes(cm->act_dtype), h = (double)m->hidden;
    double dense = m->n_layers - cm->n_moe_layers, ns = 0;
    if (dense > 0)
        ns += dense * cm->stage_share * layer_small_ns(cm, tokens, 0);
    if (cm->n_moe_layers > 0)
        ns += cm->n_moe_layers * cm->stage_share * layer_small_ns(cm, tokens, 1);
    ns += small_ns(cm, 2.0 * tokens * h * ab) + small_ns(cm, 2.0 * tokens * h * ab);
    if (n_logits > 0)
        ns += small_ns(cm, 2.0 * n_logits * m->vocab * sizeof(float) / cm->par.tp);
    return ns;
}

/* The shape of an iteration computing tokens new tokens (decode of them in
 * the paged decode kernel) for running sequences, n_logits of them
 * sampling: everything of its cost but attention. */
static void cost_shape_init(const cost_model *cm, double tokens, double decode, double running, int n_logits,
                            cost_shape *sh)
{
    const cost_par *p = &cm->par;
    memset(sh, 0, sizeof *sh);
    sh->tokens = tokens;
    sh->decode = decode;
    sh->running = running;
    sh->n_logits = n_logits;
    if (tokens <= 0)
        return;
    /* Sequences are not split between micro-batches: at most one each. */
    double mb = running < p->pp ? running : p->pp;
    /* One micro-batch on one GPU: CP splits prefill tokens cp ways; a decode
     * token runs on every GPU of its CP group, each needing the query for
     * its KV shard. */
    double tokens_mb = ((tokens - decode) / p->cp + decode) / mb, logits_mb = n_logits / mb;
    sh->mb = mb;
    sh->gemm_layers = gemm_time_ns(cm, tokens_mb, logits_mb, &sh->lm_ns, &sh->gemm_flops, &sh->gemm_bytes);
    if (tokens_mb != tokens || logits_mb != n_logits) {
        /* Useful work is the batch's, counted once: not a micro-batch, and
         * not decode GEMMs repeated on every CP GPU. */
        double unused_lm, unused_bytes = 0;
        sh->gemm_flops = 0;
        gemm_time_ns(cm, tokens, n_logits, &unused_lm, &sh->gemm_flops, &unused_bytes);
    }
    double share = cm->stage_share;
    sh->comm_ns = 2.0 * cm->stage_layers * allreduce_ns(cm, tokens_mb) +
                  cm->stage_layers * cp_combine_ns(cm, decode / mb) +
                  cm->n_moe_layers * share * alltoall_ns(cm, tokens_mb);
    sh->small_ns = stage_small_ns(cm, tokens_mb, logits_mb);
    /* The first micro-batch reaches the last stage after pp-1 stage times and
     * pp-1 hand-offs of its activations; the last stage then runs all mb
     * micro-batches back to back, later hand-offs overlapping compute. */
    double act_mb = tokens_mb * cm->m->hidden * dtype_bytes(cm->act_dtype);
    sh->handoff_ns = p->pp > 1 ? cm->pp_nvlink_hops * p2p_ns(cm, nvlink_flat(cm->hw), act_mb) +
                                     act_mb * cm->pp_net_ns_per_byte + (double)cm->pp_net_latency_ns
                               : 0;
}

/* llround(x), its value for every x: exact, as x minus its integer part is,
 * and without the library call that costing every step would pay. */
static int64_t round_ns(double x)
{
    if (!(fabs(x) < 0x1p62))
        return llround(x);     /* out of int64 range or NaN: the library's answer */
    double whole = (double)(int64_t)x, frac = x - whole;
    return (int64_t)whole + (frac >= 0.5) - (frac <= -0.5);
}

/* The figures of an iteration of shape sh that its attention leaves alone,
 * exposed_ns of CP transfers behind its collectives: out's gemm_ns,
 * comm_ns, small_ns and host_ns, and one micro-batch's GEMM and collective
 * time on the largest stage (*gemm, *comm), which cost_finish adds up. */
static void finish_fixed(const cost_model *cm, const cost_shape *sh, double exposed, cost_iter *out, double *gemm,
                         double *comm)
{
    double mb = sh->mb, share = cm->stage_share;
    /* One micro-batch on the largest stage, which also runs the lm_head. */
    *gemm = sh->gemm_layers * share + sh->lm_ns;
    *comm = sh->comm_ns + exposed * share;
    out->gemm_ns = round_ns(mb * *gemm);
    out->comm_ns = round_ns(mb * *comm + sh->handoff_ns);
    out->small_ns = round_ns(mb * sh->small_ns);
    out->host_ns = cm->host_step_ns + (int64_t)sh->running * cm->host_seq_ns;
}

/* The rest of out (finish_fixed's figures in it, gemm and comm its times)
 * for attention (all groups, both parts) of attn ns, aflops FLOPs per TP
 * rank, aw wasted FLOPs and dequant ns of dequantization, the GEMMs' bytes
 * plus attention's being bytes; wasted of the tokens recompute lost KV. */
static void cost_finish(const cost_model *cm, const cost_shape *sh, double gemm, double comm, double wasted,
                        double attn, double aflops, double aw, double dequant, double bytes, cost_iter *out)
{
    const cost_par *p = &cm->par;
    double mb = sh->mb, share = cm->stage_share;
    double attn_stage = attn * share;
    double gpu = gemm + attn_stage + comm + sh->small_ns;
    /* Kernels are issued ahead while the GPU works: launches cost only what
     * their issue time exceeds the GPU time. */
    double launch = (double)cm->launch_ns_stage > gpu ? (double)cm->launch_ns_stage - gpu : 0;
    double stage = gpu + launch;
    out->attn_ns = round_ns(mb * attn_stage);
    out->dequant_ns = round_ns(mb * dequant * share);
    out->launch_ns = round_ns(mb * launch);
    out->bubble_ns = round_ns((p->pp - 1) * stage);
    out->total_ns = out->gemm_ns + out->attn_ns + out->comm_ns + out->small_ns + out->launch_ns + out->host_ns +
                    out->bubble_ns;
    out->flops = (sh->gemm_flops + aflops) * p->tp;
    out->flops_wasted = sh->gemm_flops * p->tp * (wasted / sh->tokens) + aw;
    /* Per-GPU bytes cover every layer once per micro-batch: summed over the
     * stages they are each (TP, CP) position's traffic. */
    out->hbm_bytes = bytes * mb * p->tp * p->cp;
}

/* Prefill rows cost_iteration gathers apart, so that their part's walks
 * skip the decode rows; more than this and they walk the whole batch. */
#define COST_PREFILL_ROWS 32

void cost_iteration(const cost_model *cm, const cost_seq *seqs, int n, int n_logits, cost_iter *out)
{
    memset(out, 0, sizeof *out);
    double tokens = 0, decode = 0, wasted = 0, running = 0;
    decode_totals t = { 1, 0, 0, 0 };
    cost_seq prefill[COST_PREFILL_ROWS];
    int n_prefill = 0;
    for (int s = 0; s < n; s++) {
        const cost_seq *q = &seqs[s];
        tokens += q->new_tokens;
        wasted += q->wasted_tokens;
        decode += cost_seq_decodes(q) ? (double)q->new_tokens : 0;
        running += q->new_tokens > 0;
        decode_totals_add(&t, q);
        if (q->new_tokens > 0 && !cost_seq_decodes(q) && n_prefill++ < COST_PREFILL_ROWS)
            prefill[n_prefill - 1] = *q;
    }
    if (tokens <= 0)
        return;
    cost_shape sh;
    cost_shape_init(cm, tokens, decode, running, n_logits, &sh);
    /* The prefill part's walk sees its rows in batch order either way. */
    const attn_rows rows = { seqs, n, 0, 0 }, prefill_rows = { prefill, n_prefill, 0, 0 };
    const attn_rows *part = n_prefill <= COST_PREFILL_ROWS ? &prefill_rows : &rows;
    double aflops = 0, bytes = sh.gemm_bytes, aw = 0, exposed = 0, dequant = 0;
    double attn = attn_time_ns(cm, part, 0, NULL, sh.mb, &exposed, &aflops, &bytes, &aw, &dequant);
    attn += attn_time_ns(cm, &rows, 1, &t, sh.mb, &exposed, &aflops, &bytes, &aw, &dequant);
    double gemm, comm;
    finish_fixed(cm, &sh, exposed, out, &gemm, &comm);
    cost_finish(cm, &sh, gemm, comm, wasted, attn, aflops, aw, dequant, bytes, out);
}

int cost_decode_init(const cost_model *cm, const cost_seq *seqs, int n, int n_pad, int n_logits, cost_decode *d)
{
    memset(d, 0, sizeof *d);
    int64_t ctx = 0;
    for (int i = 0; i < n; i++) {
        const cost_seq *q = &seqs[i];
        if (q->new_tokens != 1 || q->wasted_tokens != 0 || q->verify || q->cached_tokens < 0)
            return -1;
        ctx += q->cached_tokens + 1;
    }
    if (n + n_pad <= 0)
        return -1;
    d->seqs = seqs;
    d->n = n;
    d->n_pad = n_pad;
    d->ctx_tokens = ctx;
    double rows = n + n_pad;
    cost_shape_init(cm, rows, rows, rows, n_logits, &d->shape);
    /* Decode attention runs in one step, never a CP ring: nothing exposed. */
    finish_fixed(cm, &d->shape, 0, &d->fixed, &d->gemm_stage_ns, &d->comm_stage_ns);
    return 0;
}

void cost_decode_step(const cost_model *cm, const cost_decode *d, int64_t shift, cost_iter *out)
{
    *out = d->fixed;
    const cost_shape *sh = &d->shape;
    const attn_rows rows = { d->seqs, d->n, shift, d->n_pad };
    /* No row prefills: that part of attn_time_ns adds exact zeros. The
     * totals: every row is x further at step shift, a pad is x = 1. */
    const decode_totals t = { 1, (double)d->n + d->n_pad, d->ctx_tokens + (int64_t)d->n * shift + d->n_pad, d->n_pad };
    double aflops = 0, bytes = sh->gemm_bytes, aw = 0, exposed = 0, dequant = 0;
    double attn = attn_time_ns(cm, &rows, 1, &t, sh->mb, &exposed, &aflops, &bytes, &aw, &dequant);
    cost_finish(cm, sh, d->gemm_stage_ns, d->comm_stage_ns, d->n_pad, attn, aflops, aw, dequant, bytes, out);
}
