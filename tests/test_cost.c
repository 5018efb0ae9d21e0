/* test_cost.c — iteration times worked out by hand from the DESIGN.md formulas and the model's shapes. */
#include <math.h>

#include "cost.h"
#include "hw.h"
#include "model.h"
#include "testutil.h"

static model_card *m8, *m70;
static hw_profile *h100;

/* max(compute, memory) of one op in ns, written out again here so the test
 * does not lean on cost.c's helper. */
static double op(double flops, double flops_per_s, double bytes, double bytes_per_s)
{
    double a = flops / flops_per_s, b = bytes / bytes_per_s;
    return 1e9 * (a > b ? a : b);
}

/* Llama-3.1-8B's four GEMMs per layer (hidden 4096, 32 heads, 8 KV heads,
 * head dim 128, FFN 14336) for T tokens, plus the lm_head for L logits. */
static double llama8b_gemm_ns(double T, double L)
{
    const double n[] = { (32 + 2 * 8) * 128, 4096, 2 * 14336, 4096 };
    const double k[] = { 4096, 32 * 128, 4096, 14336 };
    double gemm_fps = 989.4e12 * h100->eff_gemm, bw = 3.35e12 * h100->eff_mem, ns = 0;
    for (int i = 0; i < 4; i++)
        ns += 32 * op(2 * T * n[i] * k[i], gemm_fps, 2 * n[i] * k[i] + 2 * T * (n[i] + k[i]), bw);
    ns += op(2 * L * 128256 * 4096.0, gemm_fps, 2 * 128256 * 4096.0 + 2 * L * (128256 + 4096.0), bw);
    return ns;
}

/* One global layer's attention for n new tokens after c cached:
 * 4 × 32 heads × 128 × (n·c + n(n+1)/2) FLOPs; reads c+n tokens × 4096 B. */
static double llama8b_attn_ns(double n, double c)
{
    double flops = 4.0 * 32 * 128 * (n * c + n * (n + 1) / 2);
    double bytes = (c + n) * 2 * 8 * 128 * 2;
    return 32 * op(flops, 989.4e12 * h100->eff_attn, bytes, 3.35e12 * h100->eff_mem);
}

static void test_profile_figures_used(void)
{
    /* The hand formulas above use the spec-sheet figures directly. */
    CU_ASSERT_DOUBLE_EQUAL(h100->peak_flops[DTYPE_BF16], 989.4e12, 1e6);
    CU_ASSERT_DOUBLE_EQUAL(h100->hbm_bw_Bps, 3.35e12, 1e3);
}

static void test_decode_step(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 1, 1000, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(1, 1))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(llama8b_attn_ns(1, 1000))) <= 1);
    CU_ASSERT_EQUAL(it.comm_ns, 0);
    CU_ASSERT_EQUAL(it.launch_ns, 32LL * h100->kernels_per_layer * h100->launch_ns);
    CU_ASSERT_EQUAL(it.total_ns, it.gemm_ns + it.attn_ns + it.comm_ns + it.launch_ns);
    /* Decode is bandwidth bound: about 16 GB of weights at 3.35 TB/s × eff
     * is several ms, far above the few µs the FLOPs would take. */
    CU_ASSERT(it.gemm_ns > 4000000 && it.gemm_ns < 8000000);
}

static void test_prefill_chunk(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_seq s = { 2048, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(2048, 1))) <= 1);
    CU_ASSERT(llabs(it.attn_ns - llround(llama8b_attn_ns(2048, 0))) <= 1);
    /* 2048 tokens × 2 FLOPs × ~7.0e9 linear params ≈ 28.7 TFLOP: compute bound. */
    double linear_flops = 2.0 * 2048 * 32 * (6144.0 * 4096 + 4096.0 * 4096 + 28672.0 * 4096 + 4096.0 * 14336);
    CU_ASSERT(it.gemm_ns > 1e9 * linear_flops / (989.4e12 * h100->eff_gemm) - 1);
}

static void test_mixed_batch_splits_prefill_and_decode(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    /* Prefill and decode attention are separate kernels: two max() terms. */
    cost_seq s[] = { { 512, 0, 0 }, { 1, 3000, 0 }, { 1, 5000, 0 } };
    cost_iter it;
    cost_iteration(&cm, s, 3, 3, &it);
    double pre = llama8b_attn_ns(512, 0);
    /* Both decode sequences in one kernel: FLOPs and bytes add, then max. */
    double flops = 4.0 * 32 * 128 * ((3000 + 1) + (5000 + 1));
    double bytes = (3001.0 + 5001.0) * 4096;
    double dec = 32 * op(flops, 989.4e12 * h100->eff_attn, bytes, 3.35e12 * h100->eff_mem);
    CU_ASSERT(llabs(it.attn_ns - llround(pre + dec)) <= 1);
    CU_ASSERT(llabs(it.gemm_ns - llround(llama8b_gemm_ns(514, 3))) <= 1);
}

static void test_tensor_parallel_allreduce(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m70, h100, 8, DTYPE_BF16, &err), 0);
    cost_seq s = { 16, 4000, 0 };
    cost_iter it;
    cost_iteration(&cm, &s, 1, 1, &it);
    /* Ring all-reduce of 16 tokens × 8192 × 2 B, twice per layer, 80 layers:
     * 2(p-1)/p × bytes / (450 GB/s × eff) + 2(p-1) × latency each. */
    double bytes = 16.0 * 8192 * 2;
    double one = 1e9 * 14.0 / 8 * bytes / (450e9 * h100->eff_nvlink) + 14.0 * h100->nvlink_latency_ns;
    CU_ASSERT(llabs(it.comm_ns - llround(2 * 80 * one)) <= 1);
    /* KV per GPU: 8 KV heads over 8 GPUs = 1 head: 80 × 2 × 128 × 2 B. */
    CU_ASSERT_DOUBLE_EQUAL(cost_kv_bytes_per_token_gpu(&cm), 80.0 * 2 * 128 * 2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(cost_weight_bytes_gpu(&cm), model_weight_bytes(m70) / 8, 1);
}

static void test_wasted_flops(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_iter all, none, half;
    cost_seq s = { 1000, 0, 1000 };
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

int main(void)
{
    kt_err err;
    m8 = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    m70 = model_load(tu_path("models/llama-3.1-70b.yaml"), &err);
    h100 = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    if (!m8 || !m70 || !h100) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "profile figures the formulas use", test_profile_figures_used },
        { "decode step by hand", test_decode_step },
        { "prefill chunk by hand", test_prefill_chunk },
        { "mixed batch: prefill and decode attention", test_mixed_batch_splits_prefill_and_decode },
        { "tensor-parallel all-reduce and KV split", test_tensor_parallel_allreduce },
        { "wasted FLOPs", test_wasted_flops },
        { NULL, NULL },
    };
    int rc = tu_run("cost", tests);
    model_free(m8);
    model_free(m70);
    hw_free(h100);
    return rc;
}
