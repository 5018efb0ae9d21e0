/* test_cost.c — iteration times worked out by hand from the DESIGN.md formulas and the model's shapes, on the H100 profile with flat efficiency curves (so the arithmetic stays by hand) and, where the curves bend, on its real ones. */
#include <math.h>

#include "cost.h"
#include "kv_layout.h"
#include "hw.h"
#include "model.h"
#include "testutil.h"
#include "hand_cost.h"

#include <string.h>

static model_card *m8, *m70, *ds;
static hw_profile *h100_real; /* as the file gives it */

/* All-reduce of `bytes` among p GPUs inside an NVLink domain at bus
 * bandwidth EFF_AR × 450 GB/s: 2(p-1)/p × bytes / busbw (nccl-tests'
 * definition of bus bandwidth). */
static double nvlink_allreduce_ns(int p, double bytes)
{
    return 1e9 * 2.0 * (p - 1) / p * bytes / (450e9 * EFF_AR);
}

/* Ring all-reduce of `bytes` among p GPUs over a link of bw (achieved) and
 * lat per step: 2(p-1)/p × bytes / bw + 2(p-1) × lat. */
static double ring_allreduce_ns(int p, double bytes, double bw, double lat)
{
    return 1e9 * 2.0 * (p - 1) / p * bytes / bw + 2.0 * (p - 1) * lat;
}

static void test_profile_figures_used(void)
{
    /* The hand formulas above use the spec-sheet figures directly. */
    CU_ASSERT_DOUBLE_EQUAL(h100->peak_flops[DTYPE_BF16], 989.4e12, 1e6);
    CU_ASSERT_DOUBLE_EQUAL(h100->hbm_bw_Bps, 3.35e12, 1e3);
    /* The layouts below assume an 8-GPU NVLink domain with a 50 GB/s NIC per GPU. */
    CU_ASSERT_EQUAL(h100->nvlink_domain_gpus, 8);
    CU_ASSERT_DOUBLE_EQUAL(h100->nvlink_bw_Bps, 450e9, 1e3);
    CU_ASSERT_DOUBLE_EQUAL(h100->network_bw_Bps, 50e9, 1e3);
}

static void test_decode_step(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 1, 1000, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(1, 1))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(llama8b_attn_ns(1, 1000))) <= 1);
    CU_ASSERT_EQUAL(it.comm_ns, 0);
    CU_ASSERT(llabs(it.small_ns - llround(llama8b_small_ns(32, 1, 1))) <= 1);
    /* 320 launches × 2 µs = 0.64 ms are issued while the GPU reads the
     * weights (several ms): none exposed. */
    CU_ASSERT_EQUAL(it.launch_ns, 0);
    CU_ASSERT_EQUAL(it.host_ns, 0);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.small_ns);
    /* Decode is bandwidth bound: about 16 GB of weights at 3.35 TB/s × eff
     * is several ms, far above the few µs the FLOPs would take. */
    CU_ASSERT(it.gemm_ns > 4000000 && it.gemm_ns < 8000000);
}

static void test_prefill_chunk(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 2048, 0, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(2048, 1))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(llama8b_attn_ns(2048, 0))) <= 1);
    /* 2048 tokens × 2 FLOPs × ~7.0e9 linear params ≈ 28.7 TFLOP: compute bound. */
    double linear_flops = 2.0 * 2048 * 32 * (6144.0 * 4096 + 4096.0 * 4096 + 28672.0 * 4096 + 4096.0 * 14336);
    CU_ASSERT(it.gemm_ns > 1e9 * linear_flops / (989.4e12 * EFF_GEMM) - 1);
    CU_ASSERT(llabs(it.small_ns - llround(llama8b_small_ns(32, 2048, 1))) <= 1);
}

/* A speculative verify of k = 4 drafts at a 1,000-token context is a
 * decode of 5 queries: the GEMMs see 5 rows, the lm_head 5 logit rows, the
 * small kernels 5 tokens, and attention reads the 1,005 tokens of KV once
 * (32 layers × 1,005 × 4,096 B) in the paged decode kernel for the 5
 * queries' FLOPs (4 × 32 × 128 × (5 × 1000 + 15) a layer). The decode
 * kernel's efficiency is set apart (0.5, against 0.9 for streaming) so the
 * sum can only come out right through it. */
static void test_verify_step(void)
{
    cost_model cm;
    kt_err err;
    hw_profile h = *h100;
    h.attn_decode = flat(0.5, CURVE_X_BYTES);
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, &h, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 5, 1000, 0, 1 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 5, &it);
    double attn = 32 * op(4.0 * 32 * 128 * (5 * 1000 + 15), 989.4e12 * EFF_ATTN, 1005 * LLAMA8B_KV_LAYER,
                          3.35e12 * 0.5);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(5, 5))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(attn)) <= 1);
    CU_ASSERT(llabs(it.small_ns - llround(llama8b_small_ns(32, 5, 5))) <= 1);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.small_ns);
    /* The same 5 tokens as a prompt chunk stream the KV at 0.9 instead. */
    s.verify = 0;
    cost_iteration(&cm, &s, 1, 5, &it);
    CU_ASSERT(llabs(it.attn_ns - llround(llama8b_attn_ns(5, 1000))) <= 1);
}

static void test_mixed_batch_splits_prefill_and_decode(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    /* Prefill and decode attention are separate kernels: two max() terms. */
    cost_seq s[] = { { 512, 0, 0, 0 }, { 1, 3000, 0, 0 }, { 1, 5000, 0, 0 } };
    cost_iter it;
    cost_iteration(&cm, s, 3, 3, &it);
    double pre = llama8b_attn_ns(512, 0);
    /* Both decode sequences in one kernel: FLOPs and bytes add, then max. */
    double flops = 4.0 * 32 * 128 * ((3000 + 1) + (5000 + 1));
    double bytes = (3001.0 + 5001.0) * 4096;
    double dec = 32 * op(flops, 989.4e12 * EFF_ATTN, bytes, 3.35e12 * EFF_MEM);
    CU_ASSERT(llabs(it.attn_ns - llround(pre + dec)) <= 1);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(514, 3))) <= 1);
}

static void test_tensor_parallel_allreduce(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m70, h100, 8, DTYPE_BF16, &err), 0);
    cost_seq s = { 16, 4000, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    /* All-reduce of 16 tokens × 8192 × 2 B, twice per layer, 80 layers:
     * 2(p-1)/p × bytes / busbw each. */
    double bytes = 16.0 * 8192 * 2;
    CU_ASSERT(llabs(it.comm_ns - llround(2 * 80 * nvlink_allreduce_ns(8, bytes))) <= 1);
    CU_ASSERT_EQUAL(it.bubble_ns, 0);
    /* KV per GPU: 8 KV heads over 8 GPUs = 1 head: 80 × 2 × 128 × 2 B. */
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 80.0 * 2 * 128 * 2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), model_weight_bytes(m70) / 8, 1);
}

static void test_wasted_flops(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_iter all, none, half;
    cost_seq s = { 1000, 0, 1000, 0 };
    cost_iteration(&cm, &s, 1, 1, &all);
    CU_ASSERT_DOUBLE_EQUAL(all.flops_wasted / all.flops, 1.0, 1e-9);
    s.wasted_tokens = 0;
    cost_iteration(&cm, &s, 1, 1, &none);
    CU_ASSERT_DOUBLE_EQUAL(none.flops_wasted, 0, 1e-9);
    CU_ASSERT_EQUAL(all.total_ns, none.total_ns);
    /* The first 500 of 1000 tokens wasted: half the linear FLOPs and the
     * attention of the first 500 positions (500·501/2 of 1000·1001/2 spans). */
    s.wasted_tokens = 500;
    cost_iteration(&cm, &s, 1, 1, &half);
    double attn_all = 32 * 4.0 * 32 * 128 * (1000.0 * 1001 / 2);
    double attn_half = 32 * 4.0 * 32 * 128 * (500.0 * 501 / 2);
    double linear = all.flops - attn_all;
    CU_ASSERT_DOUBLE_EQUAL(half.flops_wasted, linear / 2 + attn_half, 1e3);
}

/* ---------- parallel layouts ---------- */

/* Prepares cm for m on hw at layout par, BF16 KV; the test stops if refused. */
static void init_layout(cost_model *cm, const model_card *m, const hw_profile *hw, cost_par par)
{
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init_par(cm, m, hw, &par, DTYPE_BF16, &err), 0);
}

/* One iteration of seqs[0..n), every sequence sampling, of m on hw at par. */
static cost_iter iterate(const model_card *m, const hw_profile *hw, cost_par par, const cost_seq *seqs, int n)
{
    cost_model cm;
    init_layout(&cm, m, hw, par);
    cost_iter it;
    cost_iteration(&cm, seqs, n, n, &it);
    return it;
}

#define PAR(tp, pp, cp, ep) ((cost_par){ (tp), (pp), (cp), (ep) })

static void test_par_identity(void)
{
    /* tp alone through cost_model_init_par is cost_model_init, to the bit. */
    const model_card *models[] = { m8, m70, ds };
    const int tps[] = { 1, 8 };
    cost_seq s[] = { { 512, 0, 100, 0 }, { 1, 3000, 0, 0 }, { 1, 5000, 0, 0 } };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            cost_model a, b;
            kt_err err;
            CU_ASSERT_EQUAL_FATAL(cost_model_init(&a, models[i], h100, tps[j], DTYPE_BF16, &err), 0);
            init_layout(&b, models[i], h100, PAR(tps[j], 1, 1, 1));
            cost_iter x, y;
            cost_iteration(&a, s, 3, 3, &x);
            cost_iteration(&b, s, 3, 3, &y);
            CU_ASSERT_EQUAL(x.total_ns, y.total_ns);
            CU_ASSERT_EQUAL(x.gemm_ns, y.gemm_ns);
            CU_ASSERT_EQUAL(x.attn_ns, y.attn_ns);
            CU_ASSERT_EQUAL(x.comm_ns, y.comm_ns);
            CU_ASSERT_EQUAL(x.launch_ns, y.launch_ns);
            CU_ASSERT_EQUAL(x.small_ns, y.small_ns);
            CU_ASSERT_EQUAL(y.bubble_ns, 0);
            CU_ASSERT_EQUAL(x.flops, y.flops);
            CU_ASSERT_EQUAL(x.flops_wasted, y.flops_wasted);
            CU_ASSERT_EQUAL(x.hbm_bytes, y.hbm_bytes);
            CU_ASSERT_EQUAL(kv_layout_paged_bytes_token_gpu(&a), kv_layout_paged_bytes_token_gpu(&b));
            CU_ASSERT_EQUAL(cost_weight_bytes_gpu(&a), cost_weight_bytes_gpu(&b));
            CU_ASSERT_EQUAL(cost_par_gpus(&b.par), tps[j]);
        }
}

static void test_pipeline_prefill(void)
{
    CU_ASSERT_EQUAL(cost_par_gpus(&PAR(1, 2, 1, 1)), 2);
    /* Two 1024-token prefills that both sample: m = min(pp 2, 2 sequences)
     * = 2 micro-batches of one sequence. A stage has 32 / 2 = 16 layers, the
     * last also the lm_head: one micro-batch on it is half the model by hand. */
    cost_seq s[] = { { 1024, 0, 0, 0 }, { 1024, 0, 0, 0 } };
    cost_iter it = iterate(m8, h100, PAR(1, 2, 1, 1), s, 2);
    double gemm = llama8b_layers_gemm_ns(16, 1024) + llama8b_lm_ns(1);
    double attn = 16 * attn_op(llama8b_attn_flops(1024, 0), 1024 * LLAMA8B_KV_LAYER);
    double small = llama8b_small_ns(16, 1024, 1);
    double stage_mb = gemm + attn + small;
    /* Hand-off: one micro-batch's activations, 1024 × 4096 × 2 B, from GPU 0
     * to GPU 1 inside the NVLink domain. */
    double xfer = 1e9 * 1024 * 4096 * 2 / (h100->nvlink_bw_Bps * h100->eff_nvlink) + h100->nvlink_latency_ns;
    CU_ASSERT(llabs(it.gemm_ns - llround(2 * gemm)) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(2 * attn)) <= 1);
    CU_ASSERT(llabs(it.comm_ns - llround(xfer)) <= 1);
    CU_ASSERT_EQUAL(it.launch_ns, 0);
    CU_ASSERT(llabs(it.small_ns - llround(2 * small)) <= 1);
    CU_ASSERT(llabs(it.bubble_ns - llround(stage_mb)) <= 1);
    /* Compute bound, so the batch's stage time is 2 micro-batch times, and
     * total = stage × (m + pp - 1) / m + (pp - 1) × hand-off. */
    double stage = 2 * stage_mb, m = 2, pp = 2;
    CU_ASSERT(llabs(it.total_ns - llround(stage * (m + pp - 1) / m + (pp - 1) * xfer)) <= 4);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.small_ns + it.bubble_ns);
    /* Work is the batch's, whatever the layout. */
    cost_iter ref = iterate(m8, h100, PAR(1, 1, 1, 1), s, 2);
    CU_ASSERT_DOUBLE_EQUAL(it.flops, ref.flops, ref.flops * 1e-12);
}

static void test_pipeline_decode(void)
{
    /* Four decodes at context 1000: 2 micro-batches of 2 tokens. Each reads
     * its stage's weights again, so a micro-batch costs nearly what the
     * whole batch would on that stage. */
    cost_seq s[] = { { 1, 1000, 0, 0 }, { 1, 1000, 0, 0 }, { 1, 1000, 0, 0 }, { 1, 1000, 0, 0 } };
    cost_iter it = iterate(m8, h100, PAR(1, 2, 1, 1), s, 4), ref = iterate(m8, h100, PAR(1, 1, 1, 1), s, 4);
    double attn = 16 * attn_op(2 * llama8b_attn_flops(1, 1000), 2 * 1001 * LLAMA8B_KV_LAYER);
    double stage_mb = llama8b_layers_gemm_ns(16, 2) + llama8b_lm_ns(2) + attn + llama8b_small_ns(16, 2, 2);
    double xfer = 1e9 * 2 * 4096 * 2 / (h100->nvlink_bw_Bps * h100->eff_nvlink) + h100->nvlink_latency_ns;
    CU_ASSERT(llabs(it.total_ns - llround(3 * stage_mb + xfer)) <= 4);
    CU_ASSERT(llabs(it.bubble_ns - llround(stage_mb)) <= 1);
    /* So PP decodes slower than one GPU: three half-model weight reads
     * against two. */
    CU_ASSERT(it.total_ns > ref.total_ns);
}

static void test_pipeline_hop_across_nodes(void)
{
    /* 16 GPUs: stage 0 on GPUs 0-7, stage 1 on 8-15. TP stays inside a node
     * (NVLink); the hand-off crosses nodes (network). One 512-token prefill:
     * one micro-batch; 80 / 2 = 40 layers a stage, two all-reduces each. */
    cost_seq s = { 512, 0, 0, 0 };
    cost_iter it = iterate(m70, h100, PAR(8, 2, 1, 1), &s, 1);
    double act = 512.0 * 8192 * 2;
    double ar = nvlink_allreduce_ns(8, act);
    double xfer = 1e9 * act / (h100->network_bw_Bps * h100->eff_network) + h100->network_latency_ns;
    CU_ASSERT(llabs(it.comm_ns - llround(2 * 40 * ar + xfer)) <= 1);
}

static void test_tp16_uses_network(void)
{
    /* TP 16 spans two 8-GPU NVLink domains: its ring's slowest hop is the NIC. */
    cost_seq s = { 16, 4000, 0, 0 };
    cost_iter it = iterate(m70, h100, PAR(16, 1, 1, 1), &s, 1);
    double bytes = 16.0 * 8192 * 2;
    double net = ring_allreduce_ns(16, bytes, h100->network_bw_Bps * h100->eff_network, h100->network_latency_ns);
    CU_ASSERT(llabs(it.comm_ns - llround(2 * 80 * net)) <= 1);
    /* The same on a 72-GPU NVLink domain (NVL72) stays on NVLink. */
    hw_profile nvl72 = *h100;  /* shallow: prov stays h100's */
    nvl72.nvlink_domain_gpus = 72;
    it = iterate(m70, &nvl72, PAR(16, 1, 1, 1), &s, 1);
    double nv = nvlink_allreduce_ns(16, bytes);
    CU_ASSERT(llabs(it.comm_ns - llround(2 * 80 * nv)) <= 1);
}

/* CP 2 on one GPU each (tp 1), GPUs 0 and 1 in one NVLink domain. A prefill
 * of n new tokens (no cache) runs 2 ring steps a layer: each attends the
 * GPU's n/2 queries to one n/2-token KV chunk (a quarter of the FLOPs)
 * while the chunk (n/2 × 4096 B) moves to the neighbour. */
static void cp_ring_step(double n, double *step, double *xfer)
{
    double chunk = n / 2 * LLAMA8B_KV_LAYER;
    *step = attn_op(llama8b_attn_flops(n, 0) / 4, chunk);
    *xfer = 1e9 * chunk / (h100->nvlink_bw_Bps * h100->eff_nvlink) + h100->nvlink_latency_ns;
}

static void test_cp_ring_hides_or_exposes(void)
{
    double step, xfer;
    cost_iter it;

    /* Long chunk, 32768 tokens: ~15 ms of compute a step against ~0.2 ms of
     * transfer, hidden; GEMMs see half the tokens. */
    cost_seq lng = { 32768, 0, 0, 0 };
    cp_ring_step(32768, &step, &xfer);
    CU_ASSERT_FATAL(step > xfer);
    it = iterate(m8, h100, PAR(1, 1, 2, 1), &lng, 1);
    CU_ASSERT(llabs(it.attn_ns - llround(32 * 2 * step)) <= 1);
    CU_ASSERT_EQUAL(it.comm_ns, 0);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(16384, 1))) <= 1);

    /* Short chunk, 512 tokens: the 1 MiB chunk takes longer on NVLink than
     * its attention, so one step a layer (the one that sends) waits. */
    cost_seq sht = { 512, 0, 0, 0 };
    cp_ring_step(512, &step, &xfer);
    CU_ASSERT_FATAL(xfer > step);
    it = iterate(m8, h100, PAR(1, 1, 2, 1), &sht, 1);
    CU_ASSERT(llabs(it.attn_ns - llround(32 * 2 * step)) <= 1);
    CU_ASSERT(llabs(it.comm_ns - llround(32 * (xfer - step))) <= 1);
}

static void test_cp_decode(void)
{
    /* One decode at context 100000: each GPU attends its half of the KV;
     * then the two partial outputs (32 heads × 128 × 2 B) are all-gathered,
     * one step a layer; the token's GEMMs run on both GPUs. */
    cost_seq s = { 1, 100000, 0, 0 };
    cost_iter it = iterate(m8, h100, PAR(1, 1, 2, 1), &s, 1);
    double attn = attn_op(llama8b_attn_flops(1, 100000) / 2, 100001 * LLAMA8B_KV_LAYER / 2);
    double gather = 1e9 * 32 * 128 * 2 / (h100->nvlink_bw_Bps * h100->eff_nvlink) + h100->nvlink_latency_ns;
    CU_ASSERT(llabs(it.attn_ns - llround(32 * attn)) <= 1);
    CU_ASSERT(llabs(it.comm_ns - llround(32 * gather)) <= 1);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(1, 1))) <= 1);
}

static void test_ep_alltoall_deepseek(void)
{
    /* DeepSeek-V3: 61 layers, the first 3 dense, so 58 MoE layers; hidden
     * 7168, 8 routed experts a token, FP8 weights with BF16 activations. */
    int moe = 0;
    for (int l = 0; l < ds->n_layers; l++)
        moe += ds->layers[l].ffn == FFN_MOE;
    CU_ASSERT_EQUAL_FATAL(moe, 61 - 3);
    cost_seq s = { 1000, 0, 0, 0 };
    cost_iter a = iterate(ds, h100, PAR(8, 1, 1, 1), &s, 1), b = iterate(ds, h100, PAR(8, 1, 1, 8), &s, 1);
    /* Each MoE layer: dispatch and combine of 1000 tokens × 8 copies × 7168
     * × 2 B × 7/8 over NVLink, plus one latency each. */
    double bytes = 1000.0 * 8 * 7168 * 2 * 7 / 8;
    double a2a = 1e9 * bytes / (h100->nvlink_bw_Bps * h100->eff_nvlink) + h100->nvlink_latency_ns;
    CU_ASSERT(llabs((b.comm_ns - a.comm_ns) - llround(58 * 2 * a2a)) <= 2);
    /* EP inside TP moves no FLOPs or weights in this model; but the
     * busiest part now sets the experts' pace, so their GEMMs take longer. */
    CU_ASSERT(b.gemm_ns > a.gemm_ns);
    /* Its expert GEMMs are memory bound (each GPU reads its share of all
     * the touched experts' FP8 weights, ~0.3 ms, against ~45 µs of FLOPs):
     * only the busiest part's extra activations add, 1000 × 8 rows ×
     * (4096 + 7168) and × (7168 + 2048) BF16 values over 8 GPUs, times the
     * imbalance's excess, at EFF_MEM of HBM, in 58 layers. */
    double act = 1000.0 * 8 * ((4096 + 7168) + (7168 + 2048)) * 2 / 8;
    double extra = 58 * 1e9 * act * (cost_ep_imbalance(8, 8000) - 1) / (3.35e12 * EFF_MEM);
    CU_ASSERT(llabs((b.gemm_ns - a.gemm_ns) - llround(extra)) <= 60);
    CU_ASSERT_EQUAL(a.attn_ns, b.attn_ns);
    CU_ASSERT_EQUAL(b.total_ns - a.total_ns, (b.comm_ns - a.comm_ns) + (b.gemm_ns - a.gemm_ns));

    /* EP 16 inside TP 16 spans two nodes: the all-to-alls take the network. */
    a = iterate(ds, h100, PAR(16, 1, 1, 1), &s, 1);
    b = iterate(ds, h100, PAR(16, 1, 1, 16), &s, 1);
    bytes = 1000.0 * 8 * 7168 * 2 * 15 / 16;
    a2a = 1e9 * bytes / (h100->network_bw_Bps * h100->eff_network) + h100->network_latency_ns;
    CU_ASSERT(llabs((b.comm_ns - a.comm_ns) - llround(58 * 2 * a2a)) <= 2);
}

static void test_ep_imbalance(void)
{
    /* 1000 tokens × 8 copies over 8 parts: each Binomial(8000, 1/8), mean
     * 1000, sd sqrt(8000 × 1/8 × 7/8) = sqrt(875); the busiest is about
     * mean + sd × sqrt(2 ln 8). */
    double expect = (1000 + sqrt(875.0) * sqrt(2 * log(8.0))) / 1000;
    CU_ASSERT_DOUBLE_EQUAL(cost_ep_imbalance(8, 8000), expect, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(expect, 1.0603, 1e-4);
    /* One copy over 8 parts: (1/8 + sqrt(7/64) × 2.0393) / (1/8) = 6.39. */
    CU_ASSERT_DOUBLE_EQUAL(cost_ep_imbalance(8, 1), 1 + sqrt(7.0) * sqrt(2 * log(8.0)), 1e-12);
    /* Never more than everything on one part; no parts, no imbalance. */
    CU_ASSERT_DOUBLE_EQUAL(cost_ep_imbalance(2, 0.01), 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cost_ep_imbalance(1, 8000), 1, 0);
}

/* The GEMM curve bends: 0.2 at M = 16, 0.8 at M = 4096. A 256-token prefill
 * sits halfway in log M (16 × 16 = 256, 256 × 16 = 4096): 0.5, and every
 * layer GEMM is compute bound there (intensity ≥ 227 FLOP/B against a ridge
 * of 989.4e12 × 0.5 / (3.35e12 × 0.9) = 164). */
/* All-gather, all-to-all and the pipeline hop on the H100 file's own
 * curves (hwprofiles/h100-sxm.yaml, collective_latency and curves p2p,
 * alltoall, allgather): latency + bytes / (450 GB/s × efficiency), the
 * efficiency interpolated by hand in log size between the file's points. */
static void test_collective_curves(void)
{
    /* The figures the arithmetic below reads off the file. */
    CU_ASSERT_EQUAL_FATAL(h100_real->p2p_latency_ns, 5000);
    CU_ASSERT_EQUAL_FATAL(h100_real->alltoall_latency_ns, 10600);
    CU_ASSERT_EQUAL_FATAL(h100_real->allgather_latency_ns, 10600);

    /* PP 2, one 1024-token prefill: one micro-batch hands 1024 × 4096 × 2 B
     * = 8 MiB to the next stage, between the p2p points 4 MiB (0.6658) and
     * 16 MiB (0.7609), halfway in log size: 0.71335; no other comm. */
    cost_seq pre = { 1024, 0, 0 };
    cost_iter it = iterate(m8, h100_real, PAR(1, 2, 1, 1), &pre, 1);
    double hop = 5000 + 1e9 * 8388608 / (450e9 * 0.71335);
    CU_ASSERT(llabs(it.comm_ns - llround(hop)) <= 1);
    /* One decode token: 8 KiB, below the first point (1 MiB): its
     * efficiency 0.4660 holds, so the hop is nearly the latency. */
    cost_seq dec = { 1, 1000, 0 };
    it = iterate(m8, h100_real, PAR(1, 2, 1, 1), &dec, 1);
    CU_ASSERT(llabs(it.comm_ns - llround(5000 + 1e9 * 8192 / (450e9 * 0.4660))) <= 1);

    /* EP 8 in TP 8, DeepSeek-V3, 1000 tokens: each GPU holds 1000 × 8
     * copies × 7168 × 2 B = 114,688,000 B (109.375 MiB), between the
     * all-to-all points 32 MiB (0.6658) and 128 MiB (0.7609): fraction
     * ln(109.375 / 32) / ln 4 = 0.88658, efficiency 0.75011; it sends 7/8 of
     * it, 100,352,000 B, twice (dispatch, combine) in each of 58 MoE layers. */
    cost_seq s = { 1000, 0, 0 };
    cost_iter a = iterate(ds, h100_real, PAR(8, 1, 1, 1), &s, 1), b = iterate(ds, h100_real, PAR(8, 1, 1, 8), &s, 1);
    double a2a = 10600 + 1e9 * 100352000 / (450e9 * (0.6658 + 0.88658 * (0.7609 - 0.6658)));
    CU_ASSERT(llabs((b.comm_ns - a.comm_ns) - llround(58 * 2 * a2a)) <= 60);

    /* CP 2 decode at context 100000: each GPU's part, 32 heads × 128 × 2 B
     * = 8 KiB, all-gathered (size 16 KiB, under the first point: 0.4660);
     * each GPU sends one part, once per layer. */
    cost_seq cp = { 1, 100000, 0 };
    it = iterate(m8, h100_real, PAR(1, 1, 2, 1), &cp, 1);
    CU_ASSERT(llabs(it.comm_ns - llround(32 * (10600 + 1e9 * 8192 / (450e9 * 0.4660)))) <= 1);
}

/* Prefill attention by head dim, on flat curves: 0.6 at head dim 128 (the
 * attention_prefill curve), 0.3 at 64 and 0.9 at 256; between, linear in
 * log2 of the head dim; beyond, the nearest. One 2048-token prefill of
 * Llama-3.1-8B with its head dim changed: attention is compute bound
 * (4 × 32 heads × d × 2048·2049/2 FLOPs a layer against 2048 × 2 × 8 × d
 * × 2 B of KV), so attn_ns = 32 × FLOPs / (989.4 TFLOP/s × efficiency). */
static void test_attention_head_dim(void)
{
    hw_profile h = *h100;  /* shallow: prov stays h100's */
    h.attn_prefill_hd64[DTYPE_BF16] = flat(0.3, CURVE_X_TOKENS);
    h.attn_prefill_hd256[DTYPE_BF16] = flat(0.9, CURVE_X_TOKENS);
    /* t = log2(128/96) = 0.415037 toward 64; log2(192/128) = 0.584963 toward 256. */
    const int dims[] = { 64, 96, 128, 192, 512 };
    const double eff[] = { 0.3, 0.584963 * 0.6 + 0.415037 * 0.3, 0.6, 0.415037 * 0.6 + 0.584963 * 0.9, 0.9 };
    cost_seq s = { 2048, 0, 0 };
    for (int i = 0; i < 5; i++) {
        model_card m = *m8;  /* shallow: the layers stay m8's */
        m.head_dim = dims[i];
        cost_iter it = iterate(&m, &h, PAR(1, 1, 1, 1), &s, 1);
        double flops = 4.0 * 32 * dims[i] * (2048.0 * 2049 / 2);
        CU_ASSERT_FATAL(flops / (989.4e12 * eff[i]) > 2048.0 * 2 * 8 * dims[i] * 2 / (3.35e12 * EFF_MEM));
        CU_ASSERT(llabs(it.attn_ns - llround(32 * 1e9 * flops / (989.4e12 * eff[i]))) <= 2);
    }
    /* Without the optional curves every head dim takes the 128 one. */
    model_card m = *m8;
    m.head_dim = 64;
    cost_iter it = iterate(&m, h100, PAR(1, 1, 1, 1), &s, 1);
    CU_ASSERT(llabs(it.attn_ns - llround(32 * 1e9 * 4.0 * 32 * 64 * (2048.0 * 2049 / 2) / (989.4e12 * EFF_ATTN))) <= 2);
}

/* MoE permute and unpermute: the permute reads each token's row once and
 * writes its k copies; the unpermute reads the k copies and writes one row.
 * DeepSeek-V3 (58 MoE layers, hidden 7168, expert FFN 2048) at TP 8, 4000
 * tokens, with 8 routed experts a token against 4 (a copy of the card):
 * the small kernels differ only in the copies and the activation's rows,
 * per MoE layer 2 × 4000 × 4 × 7168 × 2 B (permute and unpermute) +
 * 3 × 4000 × 4 × 2048 / 8 × 2 B (activation) = 483,328,000 B at 0.9 of
 * 3.35 TB/s: 160.308 µs, × 58 = 9.2979 ms (every kernel above the floor). */
static void test_moe_permute_bytes(void)
{
    cost_seq s = { 4000, 0, 0 };
    model_card half = *ds;  /* shallow: the layers stay ds's */
    half.n_experts_active = 4;
    cost_iter a = iterate(ds, h100, PAR(8, 1, 1, 1), &s, 1), b = iterate(&half, h100, PAR(8, 1, 1, 1), &s, 1);
    double per_layer = 2.0 * 4000 * 4 * 7168 * 2 + 3.0 * 4000 * 4 * 2048 / 8 * 2;
    CU_ASSERT(llabs((a.small_ns - b.small_ns) - llround(58 * 1e9 * per_layer / (3.35e12 * EFF_MEM))) <= 2);
}

/* Decode attention bound by its work items: at 1000 ns a (sequence, KV
 * head) on the flat profile, 64 Llama-3.1-8B decodes at context 32 are
 * 64 × 8 heads = 512 items, 512 µs a layer, against 64 × 33 × 4096 B =
 * 8.65 MB of KV at 0.9 of 3.35 TB/s (2.9 µs); at TP 2 a GPU holds 4 heads:
 * 256 items, 256 µs. One decode at context 100000 is 8 items (8 µs) against
 * 409.6 MB (135.9 µs): the bytes set the pace. Attention FLOPs are far
 * below either. */
static void test_decode_items(void)
{
    hw_profile h = *h100;  /* shallow: prov stays h100's */
    h.decode_item_ns = 1000;
    cost_seq s[64];
    for (int i = 0; i < 64; i++)
        s[i] = (cost_seq){ 1, 32, 0 };
    cost_iter it = iterate(m8, &h, PAR(1, 1, 1, 1), s, 64);
    CU_ASSERT(llabs(it.attn_ns - 32 * 512000) <= 1);
    it = iterate(m8, &h, PAR(2, 1, 1, 1), s, 64);
    CU_ASSERT(llabs(it.attn_ns - 32 * 256000) <= 1);
    cost_seq one = { 1, 100000, 0 };
    it = iterate(m8, &h, PAR(1, 1, 1, 1), &one, 1);
    CU_ASSERT(llabs(it.attn_ns - llround(32 * attn_op(llama8b_attn_flops(1, 100000), 100001 * LLAMA8B_KV_LAYER))) <= 1);
}

static void test_gemm_curve_bend(void)
{
    hw_profile bent = *h100;
    bent.gemm[DTYPE_BF16] = (curve){ .n = 2, .x_kind = CURVE_X_TOKENS, .y_max = 1, .x = { 16, 4096 }, .y = { 0.2, 0.8 } };
    cost_seq s = { 256, 0, 0, 0 };
    cost_iter it = iterate(m8, &bent, (cost_par){ 1, 1, 1, 1 }, &s, 1);
    const double n[] = { 6144, 4096, 28672, 4096 }, k[] = { 4096, 4096, 4096, 14336 };
    double layers = 0;
    for (int i = 0; i < 4; i++)
        layers += 32 * 1e9 * 2 * 256 * n[i] * k[i] / (989.4e12 * 0.5);
    /* The lm_head for one row: M = 1, below the curve (0.2), memory bound. */
    double lm = op(2 * 128256 * 4096.0, 989.4e12 * 0.2, 2 * 128256 * 4096.0 + 2 * (128256 + 4096.0), 3.35e12 * EFF_MEM);
    CU_ASSERT(llabs(it.gemm_ns - llround(layers + lm)) <= 2);
}

static void test_host_and_launch(void)
{
    /* Host time: the profile's per-step figure plus one per running sequence. */
    hw_profile h = *h100;
    h.host_step_ns = 3000000;
    h.host_seq_ns = 20000;
    cost_seq s[] = { { 1, 1000, 0, 0 }, { 1, 2000, 0, 0 }, { 100, 0, 0, 0 } };
    cost_iter it = iterate(m8, &h, (cost_par){ 1, 1, 1, 1 }, s, 3);
    CU_ASSERT_EQUAL(it.host_ns, 3000000 + 3 * 20000);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.small_ns + it.launch_ns + it.host_ns);
    /* Launches of 1 ms each: 32 layers × kernels_per_layer × 1 ms issued,
     * of which the GPU's own time hides its length. */
    h.host_step_ns = h.host_seq_ns = 0;
    h.launch_ns = 1000000;
    it = iterate(m8, &h, (cost_par){ 1, 1, 1, 1 }, s, 1);
    double gpu = (double)(it.gemm_ns + it.attn_ns + it.small_ns);
    CU_ASSERT(llabs(it.launch_ns - llround(32.0 * h.kernels_per_layer * 1e6 - gpu)) <= 3);
}

static void test_weight_formats(void)
{
    kt_err err;
    cost_model cm;
    model_card *q = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    /* INT4 weights in groups of 128 with fp16 scales and int4 zeros: 0.5 +
     * 2.5 / 128 B a parameter, multiplied in BF16 after dequantizing. */
    quant_cfg w4 = { QUANT_W4A16, 128 };
    model_set_quant(q, &w4);
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, q, h100_real, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL(cm.gemm_dtype, DTYPE_BF16);
    CU_ASSERT_EQUAL(cm.quantize_acts, 0);
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), model_params_total(q) * (0.5 + 2.5 / 128), 1);
    /* A decode step reads about a quarter of the BF16 bytes. */
    cost_model bf;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&bf, m8, h100_real, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 1, 100, 0, 0 };
    cost_iter a, b;
    cost_iteration(&cm, &s, 1, 1, &a);
    cost_iteration(&bf, &s, 1, 1, &b);
    CU_ASSERT(a.gemm_ns < 0.35 * b.gemm_ns);
    /* FP8 W8A8 runs natively on an H100 (inputs quantized first), in BF16
     * after dequantizing on a GPU without FP8 tensor cores. */
    quant_cfg f8 = { QUANT_FP8, 0 };
    model_set_quant(q, &f8);
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, q, h100_real, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL(cm.gemm_dtype, DTYPE_FP8);
    CU_ASSERT_EQUAL(cm.quantize_acts, 1);
    CU_ASSERT_DOUBLE_EQUAL(cm.gemm_peak_flops, 1978.9e12, 1e6);
    hw_profile no_fp8 = *h100_real;
    no_fp8.peak_flops[DTYPE_FP8] = 0;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, q, &no_fp8, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL(cm.gemm_dtype, DTYPE_BF16);
    CU_ASSERT_EQUAL(cm.quantize_acts, 0);
    /* NVFP4 runs natively where the profile has an FP4 rate. */
    quant_cfg f4 = { QUANT_NVFP4, 16 };
    model_set_quant(q, &f4);
    hw_profile fp4 = *h100_real;
    fp4.peak_flops[DTYPE_FP4] = 4000e12;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, q, &fp4, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL(cm.gemm_dtype, DTYPE_FP4);
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), model_params_total(q) * 0.5625, 1);
    model_free(q);
}

static void test_layout_errors(void)
{
    cost_model cm;
    kt_err err = { 0 };
    cost_par p = PAR(2, 1, 1, 2);
    CU_ASSERT_EQUAL(cost_model_init_par(&cm, m8, h100, &p, DTYPE_BF16, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dense"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "llama-3.1-8b"));
    p = PAR(4, 1, 1, 8);  /* ep must divide tp */
    CU_ASSERT_EQUAL(cost_model_init_par(&cm, ds, h100, &p, DTYPE_BF16, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "divide"));
    p = PAR(1, 33, 1, 1);  /* 32 layers cannot fill 33 stages */
    CU_ASSERT_EQUAL(cost_model_init_par(&cm, m8, h100, &p, DTYPE_BF16, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "33"));
    p = PAR(1, 1, 0, 1);
    CU_ASSERT_EQUAL(cost_model_init_par(&cm, m8, h100, &p, DTYPE_BF16, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "at least 1"));
    CU_ASSERT_EQUAL(cost_model_init(&cm, m8, h100, 0, DTYPE_BF16, &err), -1);
}

static void test_memory_per_gpu(void)
{
    cost_model cm;
    /* Llama-3.1-8B layer: qkv 6144×4096 + o 4096×4096 + gate_up 28672×4096
     * + down 4096×14336 + 2 norms × 4096 parameters; embedding and lm_head
     * 128256×4096 each (untied), final norm 4096; BF16. */
    double layer = 6144.0 * 4096 + 4096.0 * 4096 + 28672.0 * 4096 + 4096.0 * 14336 + 2 * 4096;
    double emb = 128256.0 * 4096;
    /* PP 2: a stage holds 16 layers; the last adds the lm_head and final norm. */
    init_layout(&cm, m8, h100, PAR(1, 2, 1, 1));
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), 2 * (16 * layer + emb + 4096), 1);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 16 * LLAMA8B_KV_LAYER, 1e-9);
    /* CP 2: whole weights on each GPU, half the tokens' KV. */
    init_layout(&cm, m8, h100, PAR(1, 1, 2, 1));
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), 2 * (32 * layer + 2 * emb + 4096), 1);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 32 * LLAMA8B_KV_LAYER / 2, 1e-9);
    /* DeepSeek-V3 TP 8, EP 8: 256 experts / 8 parts = 32 whole experts a GPU,
     * the same bytes as sharding every expert 8 ways; the MLA latent
     * (512 + 64 values × 2 B, 61 layers) sits whole on every GPU. */
    init_layout(&cm, ds, h100, PAR(8, 1, 1, 8));
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), model_weight_bytes(ds) / 8, 16);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 61.0 * (512 + 64) * 2, 1e-9);
    /* With PP 2 as well, 31 of 61 layers' latent on the larger stage. */
    init_layout(&cm, ds, h100, PAR(8, 2, 1, 8));
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 31.0 * (512 + 64) * 2, 1e-9);
}

/* Llama-4-Scout: 12 global and 36 chunked (8,192-token) layers, 8 KV heads
 * of 128 × BF16: 2 × 8 × 128 × 2 = 4,096 B a token a layer (DESIGN.md). */
static void test_windowed_kv_scout(void)
{
    kt_err err;
    model_card *scout = model_load(tu_path("models/llama-4-scout.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(scout);
    CU_ASSERT_EQUAL(model_layer_paged(scout, 0), 0);     /* chunked */
    CU_ASSERT_EQUAL(model_layer_paged(scout, 3), 1);     /* global */
    CU_ASSERT_DOUBLE_EQUAL(model_kv_paged_bytes_per_token(scout, DTYPE_BF16), 12 * 4096.0, 1e-9);
    cost_model cm;
    init_layout(&cm, scout, h100, PAR(8, 1, 1, 1));
    /* TP 8: one KV head a GPU, 512 B a token a layer. */
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 12 * 512.0, 1e-9);
    int64_t win[4];
    double bytes[4];
    CU_ASSERT_EQUAL_FATAL(kv_layout_window_groups(&cm, win, bytes, 4), 1);
    CU_ASSERT_EQUAL(win[0], 8192);
    CU_ASSERT_DOUBLE_EQUAL(bytes[0], 36 * 512.0, 1e-9);
    /* 10M tokens (10 × 2^20) on one GPU: 6,144 B × 10,485,760 globally plus
     * 18,432 B × 8,192 windowed = 64,424,509,440 + 150,994,944 B. */
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_context_bytes_gpu(&cm, 10485760), 64575504384.0, 1);
    /* Below the window every layer holds every token: 48 × 512 B × 1,000. */
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_context_bytes_gpu(&cm, 1000), 24576000.0, 1e-6);
    /* Across the GPUs it is the model's own windowed count. */
    CU_ASSERT_DOUBLE_EQUAL(8 * kv_layout_context_bytes_gpu(&cm, 10485760), model_kv_bytes(scout, 10485760, DTYPE_BF16),
                           1);
    /* A model without full-context layers pages every layer (Mistral-7B:
     * all sliding): no windows apart. */
    model_card *mis = model_load(tu_path("models/mistral-7b.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mis);
    init_layout(&cm, mis, h100, PAR(1, 1, 1, 1));
    CU_ASSERT_EQUAL(kv_layout_window_groups(&cm, win, bytes, 4), 0);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_paged_bytes_token_gpu(&cm), 32 * 2 * 8 * 128 * 2.0, 1e-9);
    model_free(mis);
    model_free(scout);
}

/* ---------- decode runs (cost_decode) ---------- */

/* 1 when a and b are the same in every field, bit for bit. */
static int iter_same(const cost_iter *a, const cost_iter *b)
{
    return a->total_ns == b->total_ns && a->gemm_ns == b->gemm_ns && a->attn_ns == b->attn_ns &&
           a->comm_ns == b->comm_ns && a->small_ns == b->small_ns && a->launch_ns == b->launch_ns &&
           a->host_ns == b->host_ns && a->bubble_ns == b->bubble_ns && a->dequant_ns == b->dequant_ns &&
           a->flops == b->flops && a->flops_wasted == b->flops_wasted && a->hbm_bytes == b->hbm_bytes &&
           a->wait_ns == b->wait_ns && a->draft_ns == b->draft_ns;
}

/* A fixed pseudo-random sequence (64-bit LCG, Knuth's MMIX constants),
 * so that a failure replays. */
static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

/* cm with every attention group walked row by row (no closed form): the
 * way every step was costed before. */
static cost_model walked(const cost_model *cm)
{
    cost_model w = *cm;
    for (int g = 0; g < w.n_groups; g++)
        w.groups[g].linear = 0;
    return w;
}

/* Step shift of a decode run, each way: cost_decode_step, and
 * cost_iteration, walking, of the batch as it stands at that step (every
 * context shift tokens further, the padding rows after it). They must
 * agree bit for bit: the closed form's sums are exact, and the skipped
 * curve evaluations cannot win the max. */
static int decode_step_same(const cost_model *cm, const cost_seq *seqs, int n, int n_pad, int n_logits,
                            int64_t shift)
{
    const cost_model walk = walked(cm);
    cost_seq rows[300 + 16];
    for (int i = 0; i < n + n_pad; i++)
        rows[i] = i < n ? (cost_seq){ 1, seqs[i].cached_tokens + shift, 0, 0 } : (cost_seq){ 1, 0, 1, 0 };
    cost_decode d;
    if (cost_decode_init(cm, seqs, n, n_pad, n_logits, &d) < 0)
        return 0;
    cost_iter fast, slow;
    cost_decode_step(cm, &d, shift, &fast);
    cost_iteration(&walk, rows, n + n_pad, n_logits, &slow);
    return iter_same(&fast, &slow);
}

/* Random decode batches (1 to 300 sequences, contexts up to 256k, up to 15
 * padding rows) on layouts and models that take each path: global layers
 * in closed form (Llama), MLA (DeepSeek-V3), windowed layers walked
 * (Scout), a tp that is not a power of two (walked), pipeline and context
 * parallelism, page-selecting sparse layers, FP8 KV, and the real H100
 * curves (which bend, and hold time below their first point). */
static void test_decode_run_equals_walk(void)
{
    kt_err err;
    model_card *scout = model_load(tu_path("models/llama-4-scout.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(scout);
    const struct {
        const model_card *m;
        const hw_profile *hw;
        cost_par par;
        kt_dtype kv;
        int sparse;
    } cases[] = {
        { m8, h100_real, PAR(1, 1, 1, 1), DTYPE_BF16, 0 },   { m8, h100, PAR(1, 1, 1, 1), DTYPE_BF16, 0 },
        { m8, h100_real, PAR(3, 1, 1, 1), DTYPE_BF16, 0 },   { m70, h100_real, PAR(8, 1, 1, 1), DTYPE_FP8, 0 },
        { m70, h100_real, PAR(4, 2, 1, 1), DTYPE_BF16, 0 },  { m70, h100_real, PAR(2, 1, 2, 1), DTYPE_BF16, 0 },
        { ds, h100_real, PAR(8, 1, 1, 8), DTYPE_BF16, 0 },   { scout, h100_real, PAR(8, 1, 1, 1), DTYPE_BF16, 0 },
        { m8, h100_real, PAR(1, 1, 1, 1), DTYPE_BF16, 1 },
    };
    uint64_t x = 12345;
    int compared = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cost_model cm;
        CU_ASSERT_EQUAL_FATAL(cost_model_init_par(&cm, cases[c].m, cases[c].hw, &cases[c].par, cases[c].kv, &err), 0);
        if (cases[c].sparse) {
            sparse_attn_cfg sp = { .on = 1, .budget_tokens = 2048, .page_tokens = 16, .dense_layers = 2,
                                   .kv_tier_index = -1 };
            CU_ASSERT_EQUAL_FATAL(cost_model_set_sparse(&cm, &sp, &err), 0);
        }
        for (int trial = 0; trial < 40; trial++) {
            cost_seq seqs[300];
            int n = 1 + (int)(lcg(&x) % 300), n_pad = (int)(lcg(&x) % 16);
            /* Short contexts in some batches, where the curves bend. */
            int64_t span = trial % 4 == 0 ? 64 : 262144;
            for (int i = 0; i < n; i++)
                seqs[i] = (cost_seq){ 1, (int64_t)(lcg(&x) % span), 0, 0 };
            for (int64_t shift = 0; shift < 1000; shift = shift * 3 + 1, compared++)
                if (!decode_step_same(&cm, seqs, n, n_pad, n + n_pad, shift)) {
                    CU_FAIL("cost_decode_step differs from cost_iteration");
                    fprintf(stderr, "case %zu trial %d n %d pad %d shift %lld\n", c, trial, n, n_pad,
                            (long long)shift);
                    model_free(scout);
                    return;
                }
        }
    }
    /* 9 cases × 40 batches × shifts 0, 1, 4, 13, 40, 121, 364. */
    CU_ASSERT_EQUAL(compared, 9 * 40 * 7);
    model_free(scout);
}

/* Random mixed batches (prefill chunks, plain and recomputing decodes,
 * speculative verifies, padding rows) cost the same bit for bit with the
 * decode rows' sums in closed form as walked, on the same layouts. */
static void test_mixed_batch_equals_walk(void)
{
    kt_err err;
    const struct {
        const model_card *m;
        cost_par par;
    } cases[] = { { m8, PAR(1, 1, 1, 1) }, { m70, PAR(8, 1, 1, 1) }, { m70, PAR(4, 2, 1, 1) },
                  { m70, PAR(2, 1, 2, 1) }, { ds, PAR(8, 1, 1, 8) } };
    uint64_t x = 777;
    int compared = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cost_model cm;
        CU_ASSERT_EQUAL_FATAL(cost_model_init_par(&cm, cases[c].m, h100_real, &cases[c].par, DTYPE_BF16, &err), 0);
        const cost_model walk = walked(&cm);
        for (int trial = 0; trial < 60; trial++, compared++) {
            cost_seq seqs[200];
            int n = 1 + (int)(lcg(&x) % 200), n_logits = 0;
            for (int i = 0; i < n; i++) {
                int64_t cached = (int64_t)(lcg(&x) % 100000);
                switch (lcg(&x) % 8) {
                case 0:  /* a prefill chunk */
                    seqs[i] = (cost_seq){ 1 + (int64_t)(lcg(&x) % 512), cached, 0, 0 };
                    break;
                case 1:  /* a verify of 4 drafts, in trials that speculate */
                    seqs[i] = trial % 2 ? (cost_seq){ 5, cached, 0, 1 } : (cost_seq){ 1, cached, 0, 0 };
                    break;
                case 2:  /* a decode recomputing its lost token, or a pad */
                    seqs[i] = (cost_seq){ 1, trial % 3 ? cached : 0, 1, 0 };
                    break;
                default:
                    seqs[i] = (cost_seq){ 1, cached, 0, 0 };
                }
                n_logits += seqs[i].new_tokens == 1;
            }
            cost_iter a, b;
            cost_iteration(&cm, seqs, n, n_logits, &a);
            cost_iteration(&walk, seqs, n, n_logits, &b);
            CU_ASSERT(iter_same(&a, &b));
        }
    }
    CU_ASSERT_EQUAL(compared, 5 * 60);
}

/* A prefilling, verifying or recomputing sequence is not a decode run's. */
static void test_decode_run_refuses(void)
{
    cost_model cm;
    kt_err err;
    cost_decode d;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    const cost_seq ok = { 1, 100, 0, 0 }, bad[] = { { 2, 100, 0, 0 }, { 1, 100, 0, 1 }, { 1, 100, 1, 0 } };
    CU_ASSERT_EQUAL(cost_decode_init(&cm, &ok, 1, 0, 1, &d), 0);
    CU_ASSERT_EQUAL(d.ctx_tokens, 101);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(cost_decode_init(&cm, &bad[i], 1, 0, 1, &d), -1);
}

/* Step 5 of a run of three sequences (1,000, 2,000 and 500 cached at its
 * start) and one padding row, by hand on the flat curves: the sequences
 * attend over 1,006, 2,006 and 506 tokens and the pad over 1; the decode
 * kernel reads all of their KV at once (max of the summed compute and the
 * summed memory time); GEMMs and small kernels for 4 tokens, all sampling.
 * The pad's FLOPs are wasted: a quarter of the GEMMs' (2 × 4 rows × the
 * layer weights' 218,103,808 multiply-adds... counted below) and its
 * attention, 32 layers × 4 × 32 × 128 × 1. */
static void test_decode_run_by_hand(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    const cost_seq seqs[] = { { 1, 1000, 0, 0 }, { 1, 2000, 0, 0 }, { 1, 500, 0, 0 } };
    cost_decode d;
    CU_ASSERT_EQUAL_FATAL(cost_decode_init(&cm, seqs, 3, 1, 4, &d), 0);
    cost_iter it;
    cost_decode_step(&cm, &d, 5, &it);
    double flops = llama8b_attn_flops(1, 1005) + llama8b_attn_flops(1, 2005) + llama8b_attn_flops(1, 505) +
                   llama8b_attn_flops(1, 0);
    double attn = 32 * attn_op(flops, (1006 + 2006 + 506 + 1) * LLAMA8B_KV_LAYER);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(4, 4))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(attn)) <= 1);
    CU_ASSERT(llabs(it.small_ns - llround(llama8b_small_ns(32, 4, 4))) <= 1);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.small_ns + it.launch_ns);
    /* Per layer the GEMMs multiply 6144×4096 + 4096×4096 + 28672×4096 +
     * 4096×14336 weights; the lm_head 128256×4096; 2 FLOPs a weight a row. */
    double weights = 32 * (6144.0 * 4096 + 4096.0 * 4096 + 28672.0 * 4096 + 4096.0 * 14336) + 128256.0 * 4096;
    CU_ASSERT_DOUBLE_EQUAL(it.flops, 2 * 4 * weights + 32 * flops, 1);
    CU_ASSERT_DOUBLE_EQUAL(it.flops_wasted, 2 * weights + 32 * 4.0 * 32 * 128, 1);
}

/* Decode attention that the curves make compute-bound is costed at its
 * compute time, not cut to the memory time: the bound must hold the step
 * to the walk. (a) A flat attention curve at 1e-3: 32 layers × Σ FLOPs /
 * (989.4 TFLOP/s × 1e-3). (b) A curve holding its time below 2^20 tokens
 * (efficiency x / 2^20 there): each sequence then takes 4·32·128·x FLOPs
 * at x / 2^20 of the peak, 1e9 × 16,384 × 2^20 / 989.4e12 ns a layer
 * whatever its context x; an efficiency bound that ignored the fall below
 * the first point would wrongly find these memory-bound. */
static void test_decode_run_compute_bound(void)
{
    kt_err err;
    const cost_seq seqs[] = { { 1, 1000, 0, 0 }, { 1, 2000, 0, 0 }, { 1, 500, 0, 0 } };
    hw_profile h = *h100;
    h.attn_prefill[DTYPE_BF16] = flat(1e-3, CURVE_X_TOKENS);
    cost_model cm;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, &h, 1, DTYPE_BF16, &err), 0);
    cost_decode d;
    CU_ASSERT_EQUAL_FATAL(cost_decode_init(&cm, seqs, 3, 0, 3, &d), 0);
    cost_iter it;
    cost_decode_step(&cm, &d, 0, &it);
    double flops = 4.0 * 32 * 128 * (1001 + 2001 + 501);
    CU_ASSERT(llabs(it.attn_ns - llround(32 * 1e9 * flops / (989.4e12 * 1e-3))) <= 1);
    /* The memory time it beats: 3,503 tokens × 4,096 B at 3.35 TB/s × 0.9. */
    CU_ASSERT(it.attn_ns > 10 * 32 * 1e9 * 3503 * 4096 / (3.35e12 * 0.9));

    h.attn_prefill[DTYPE_BF16] = (curve){ .n = 1, .x_kind = CURVE_X_TOKENS, .below = CURVE_HOLD_TIME, .y_max = 1,
                                          .x = { 1048576 }, .y = { 1 } };
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, &h, 1, DTYPE_BF16, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cost_decode_init(&cm, seqs, 3, 1, 4, &d), 0);
    cost_decode_step(&cm, &d, 0, &it);
    double per_seq_layer = 1e9 * 16384.0 * 1048576 / 989.4e12;
    CU_ASSERT(llabs(it.attn_ns - llround(32 * 4 * per_seq_layer)) <= 2);
}

int main(void)
{
    kt_err err;
    m8 = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    m70 = model_load(tu_path("models/llama-3.1-70b.yaml"), &err);
    ds = model_load(tu_path("models/deepseek-v3.yaml"), &err);
    h100 = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    h100_real = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    if (!m8 || !m70 || !ds || !h100 || !h100_real) {
        kt_err_print(&err, stderr);
        return 1;
    }
    flatten(h100);
    static const tu_test tests[] = {
        { "profile figures the formulas use", test_profile_figures_used },
        { "decode step by hand", test_decode_step },
        { "prefill chunk by hand", test_prefill_chunk },
        { "speculative verify: 5 queries in the decode kernel", test_verify_step },
        { "mixed batch: prefill and decode attention", test_mixed_batch_splits_prefill_and_decode },
        { "tensor-parallel all-reduce and KV split", test_tensor_parallel_allreduce },
        { "wasted FLOPs", test_wasted_flops },
        { "tp alone through init_par equals init", test_par_identity },
        { "pipeline: prefill micro-batches, bubble, hand-off", test_pipeline_prefill },
        { "pipeline: decode re-reads stage weights", test_pipeline_decode },
        { "pipeline: hand-off across nodes, TP inside", test_pipeline_hop_across_nodes },
        { "TP 16 all-reduces over the network", test_tp16_uses_network },
        { "context parallel: ring hides or exposes transfer", test_cp_ring_hides_or_exposes },
        { "context parallel: decode shards and gathers", test_cp_decode },
        { "expert parallel: DeepSeek-V3 all-to-alls", test_ep_alltoall_deepseek },
        { "expert parallel: the busiest part", test_ep_imbalance },
        { "all-gather, all-to-all and PP hop on their curves", test_collective_curves },
        { "prefill attention by head dim", test_attention_head_dim },
        { "MoE permute and unpermute bytes", test_moe_permute_bytes },
        { "decode attention bound by its work items", test_decode_items },
        { "GEMM efficiency where the curve bends", test_gemm_curve_bend },
        { "host overhead and exposed launches", test_host_and_launch },
        { "weight formats: bytes and GEMM path", test_weight_formats },
        { "layout errors", test_layout_errors },
        { "weights and KV per GPU under pp, cp, ep", test_memory_per_gpu },
        { "windowed layers: Scout's chunked KV held apart", test_windowed_kv_scout },
        { "decode run: every step equals the walk, bit for bit", test_decode_run_equals_walk },
        { "decode run: only plain decodes", test_decode_run_refuses },
        { "mixed batch: decode sums in closed form equal the walk", test_mixed_batch_equals_walk },
        { "decode run: a later step by hand", test_decode_run_by_hand },
        { "decode run: compute-bound attention is not cut", test_decode_run_compute_bound },
        { NULL, NULL },
    };
    int rc = tu_run("cost", tests);
    model_free(m8);
    model_free(m70);
    model_free(ds);
    hw_free(h100);
    hw_free(h100_real);
    return rc;
}
