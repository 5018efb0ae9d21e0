/* test_hw.c — hardware profiles: the shipped spec-sheet profiles, provenance, dtype fallback and located errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw.h"
#include "testutil.h"

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)

/* Relative comparison: spec figures are written as decimals ("3.35TB/s"). */
#define ASSERT_NEAR(actual, expected) \
    CU_ASSERT_DOUBLE_EQUAL((actual), (expected), fabs((double)(expected)) * 1e-9 + 1e-9)

static const char *const profile_names[] = { "h100-sxm", "h200-sxm", "a100-sxm-80gb", "b200", "gh200", "gb200-nvl72",
                                              "b300", NULL };

static hw_profile *load_profile(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "hwprofiles/%s.yaml", name);
    kt_err err = { 0 };
    hw_profile *h = hw_load(tu_path(rel), &err);
    if (!h)
        kt_err_print(&err, stderr);
    return h;
}

/* ---------- the shipped profiles ---------- */

static void test_profiles_load_and_check(void)
{
    for (int i = 0; profile_names[i]; i++) {
        hw_profile *h = load_profile(profile_names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        kt_err err = { 0 };
        CU_ASSERT_EQUAL(hw_check(h, &err), 0);
        CU_ASSERT_STRING_EQUAL(h->name, profile_names[i]);
        CU_ASSERT(h->gpu[0] != '\0');
        hw_free(h);
    }
}

/* Figures below are the spec-sheet numbers (dense, not sparse), written out. */
static void test_h100_figures(void)
{
    hw_profile *h = load_profile("h100-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->peak_flops[DTYPE_BF16], 989.4e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP16], 989.4e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP8], 1978.9e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_INT8], 1978.9e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP32], 66.9e12);
    CU_ASSERT_EQUAL(h->peak_flops[DTYPE_INT4], 0.0);       /* Hopper has no INT4 tensor path */
    ASSERT_NEAR(h->hbm_bytes, 80e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 3.35e12);
    CU_ASSERT_EQUAL(h->sm_count, 132);
    ASSERT_NEAR(h->smem_per_sm_bytes, 228 * KiB);
    ASSERT_NEAR(h->l2_bytes, 50 * MiB);
    ASSERT_NEAR(h->nvlink_bw_Bps, 450e9);                  /* 900 GB/s bidirectional */
    ASSERT_NEAR(h->pcie_bw_Bps, 55e9);
    CU_ASSERT_EQUAL(h->nvlink_latency_ns, 2000);
    CU_ASSERT_EQUAL(h->launch_ns, 2000);
    CU_ASSERT_EQUAL(h->kernels_per_layer, 10);
    ASSERT_NEAR(h->eff_nvlink, 0.8);
    CU_ASSERT_EQUAL(h->gpus_per_node, 8);                  /* DGX H100 */
    CU_ASSERT_EQUAL(h->nvlink_domain_gpus, 8);             /* NVLink stays in the node */
    ASSERT_NEAR(h->network_bw_Bps, 50e9);                  /* one 400 Gb/s ConnectX-7 per GPU */
    CU_ASSERT_EQUAL(h->network_latency_ns, 5000);
    ASSERT_NEAR(h->eff_network, 0.8);
    ASSERT_NEAR(h->price_usd, 37000);                      /* DESIGN.md default */
    ASSERT_NEAR(h->power_w, 700);
    CU_ASSERT(h->hourly_usd > 0);
    hw_free(h);
}

static void test_h200_figures(void)
{
    hw_profile *h = load_profile("h200-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->hbm_bytes, 141e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 4.8e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_BF16], 989.4e12);      /* same GH100 SXM5 compute as H100 */
    ASSERT_NEAR(h->peak_flops[DTYPE_FP8], 1978.9e12);
    CU_ASSERT_EQUAL(h->sm_count, 132);
    ASSERT_NEAR(h->smem_per_sm_bytes, 228 * KiB);
    ASSERT_NEAR(h->l2_bytes, 50 * MiB);
    ASSERT_NEAR(h->nvlink_bw_Bps, 450e9);
    ASSERT_NEAR(h->pcie_bw_Bps, 55e9);
    ASSERT_NEAR(h->network_bw_Bps, 50e9);                  /* DGX H200: 400 Gb/s ConnectX-7 per GPU */
    CU_ASSERT_EQUAL(h->gpus_per_node, 8);
    ASSERT_NEAR(h->power_w, 700);
    hw_free(h);
}

static void test_a100_figures(void)
{
    hw_profile *h = load_profile("a100-sxm-80gb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->peak_flops[DTYPE_BF16], 312e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP16], 312e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_INT8], 624e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_INT4], 1248e12);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP32], 19.5e12);
    CU_ASSERT_EQUAL(h->peak_flops[DTYPE_FP8], 0.0);        /* Ampere has no FP8 tensor path */
    ASSERT_NEAR(h->hbm_bytes, 80e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 2.039e12);
    CU_ASSERT_EQUAL(h->sm_count, 108);
    ASSERT_NEAR(h->smem_per_sm_bytes, 164 * KiB);
    ASSERT_NEAR(h->l2_bytes, 40 * MiB);
    ASSERT_NEAR(h->nvlink_bw_Bps, 300e9);                  /* 600 GB/s bidirectional */
    ASSERT_NEAR(h->pcie_bw_Bps, 27.5e9);                   /* Gen4 x16 */
    ASSERT_NEAR(h->network_bw_Bps, 25e9);                  /* DGX A100: 200 Gb/s HDR per GPU */
    CU_ASSERT_EQUAL(h->nvlink_domain_gpus, 8);
    ASSERT_NEAR(h->power_w, 400);
    hw_free(h);
}

static void test_b200_figures(void)
{
    hw_profile *h = load_profile("b200");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->peak_flops[DTYPE_BF16], 2.25e15);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP16], 2.25e15);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP8], 4.5e15);
    ASSERT_NEAR(h->peak_flops[DTYPE_INT8], 4.5e15);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP32], 75e12);
    ASSERT_NEAR(h->hbm_bytes, 180e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 7.7e12);
    CU_ASSERT_EQUAL(h->sm_count, 148);
    ASSERT_NEAR(h->smem_per_sm_bytes, 228 * KiB);
    ASSERT_NEAR(h->nvlink_bw_Bps, 900e9);                  /* 1.8 TB/s bidirectional */
    ASSERT_NEAR(h->network_bw_Bps, 50e9);                  /* DGX B200: 400 Gb/s ConnectX-7 per GPU */
    CU_ASSERT_EQUAL(h->gpus_per_node, 8);
    ASSERT_NEAR(h->pcie_bw_Bps, 55e9);
    ASSERT_NEAR(h->power_w, 1000);
    hw_free(h);
}

/* Rack-scale and next-generation profiles: the spec tables' totals over
 * their GPUs, worked out here. GB200 NVL72: 13.4 TB / 72 = 186 GB, 576 TB/s
 * / 72 = 8 TB/s, 130 TB/s NVLink / 72 = 1.8 TB/s both ways, FP8 720 PFLOPS
 * sparse / 72 / 2 = 5 PFLOPS dense; a Grace's 480 GB and 900 GB/s C2C (450
 * a direction) serve two GPUs: 240 GB and 225 GB/s each. GH200: 144 GB at
 * 4.9 TB/s, C2C 900 / 2 = 450 GB/s to 480 GB. B300: 2.3 TB / 8 = 288 GB,
 * FP4 108 PFLOPS dense / 8 = 13.5; PCIe Gen6 x16 121 GB/s after FLIT,
 * ~9% TLP overhead: 110 GB/s. A profile without C2C figures reads 0. */
static void test_rack_scale_figures(void)
{
    hw_profile *h = load_profile("gb200-nvl72");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->hbm_bytes, 186e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 8e12);
    ASSERT_NEAR(h->nvlink_bw_Bps, 900e9);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP8], 5e15);
    CU_ASSERT_EQUAL(h->nvlink_domain_gpus, 72);
    ASSERT_NEAR(h->c2c_bw_Bps, 225e9);
    ASSERT_NEAR(h->c2c_memory_bytes, 240e9);
    hw_free(h);
    h = load_profile("gh200");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->hbm_bytes, 144e9);
    ASSERT_NEAR(h->hbm_bw_Bps, 4.9e12);
    ASSERT_NEAR(h->c2c_bw_Bps, 450e9);
    ASSERT_NEAR(h->c2c_memory_bytes, 480e9);
    hw_free(h);
    h = load_profile("b300");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->hbm_bytes, 288e9);
    ASSERT_NEAR(h->peak_flops[DTYPE_FP4], 13.5e15);
    ASSERT_NEAR(h->pcie_bw_Bps, 110e9);
    CU_ASSERT_EQUAL(h->c2c_bw_Bps, 0);
    hw_free(h);
    h = load_profile("h200-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(h->c2c_bw_Bps, 0);
    CU_ASSERT_EQUAL(h->c2c_memory_bytes, 0);
    hw_free(h);
}

/* ---------- provenance ---------- */

static const char *const figure_keys[] = {
    "hbm_capacity", "hbm_bandwidth", "sm_count", "smem_per_sm", "l2_cache", "nvlink_bandwidth",
    "nvlink_latency", "pcie_bandwidth", "launch_overhead", "kernels_per_layer", "price_usd",
    "hourly_usd", "power", "gpus_per_node", "nvlink_domain_gpus", "network_bandwidth",
    "network_latency", "pcie_duplex_bandwidth", "nic_efficiency", "nic_op_latency", "small_op_floor", "decode_attention_item",
    "host_overhead.step", "host_overhead.sequence", "collective_latency.allgather",
    "collective_latency.alltoall", "collective_latency.p2p", "efficiency.nvlink", "efficiency.network", "peak_flops.fp32", "peak_flops.bf16", "peak_flops.fp16",
    "peak_flops.fp8", "peak_flops.int8", "peak_flops.int4", NULL
};

static void test_provenance_recorded(void)
{
    for (int i = 0; profile_names[i]; i++) {
        hw_profile *h = load_profile(profile_names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        size_t n = 0;
        for (int k = 0; figure_keys[k]; k++, n++) {
            const hw_provenance *p = hw_provenance_of(h, figure_keys[k]);
            CU_ASSERT_PTR_NOT_NULL(p);
            if (!p) {
                fprintf(stderr, "%s: no provenance for %s\n", profile_names[i], figure_keys[k]);
                continue;
            }
            CU_ASSERT_STRING_EQUAL(p->key, figure_keys[k]);
            CU_ASSERT_NOT_EQUAL(p->status, HW_MEASURED);               /* nothing is calibrated yet */
            CU_ASSERT(strlen(p->source) > 10);
        }
        n += hw_provenance_of(h, "peak_flops.fp4") != NULL;  /* only where an FP4 rate exists (B200) */
        n += hw_provenance_of(h, "c2c_bandwidth") != NULL;   /* only on Grace systems */
        n += hw_provenance_of(h, "c2c_memory") != NULL;
        /* Every curve point has its own record, with a source. */
        const curve *cs[] = { &h->memory, &h->small_ops, &h->attn_decode, &h->allreduce,
                              &h->allgather, &h->alltoall, &h->p2p };
        for (int d = 0; d < DTYPE_COUNT; d++)
            n += (size_t)h->gemm[d].n + (size_t)h->attn_prefill[d].n + (size_t)h->attn_prefill_hd64[d].n +
                 (size_t)h->attn_prefill_hd256[d].n;
        for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++)
            n += (size_t)cs[c]->n;
        for (size_t k = 0; k < h->n_prov; k++)
            if (strncmp(h->prov[k].key, "curves.", 7) == 0)
                CU_ASSERT(strlen(h->prov[k].source) > 10);
        CU_ASSERT_EQUAL(h->n_prov, n);                     /* one record per figure and point, no more */
        CU_ASSERT_PTR_NULL(hw_provenance_of(h, "no_such_figure"));
        hw_free(h);
    }
}

static void test_h100_price_source_is_design_doc(void)
{
    hw_profile *h = load_profile("h100-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const hw_provenance *p = hw_provenance_of(h, "price_usd");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->source, "DESIGN.md"));
    p = hw_provenance_of(h, "hbm_bandwidth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->source, "H100"));
    hw_free(h);
}

/* ---------- dtype fallback ---------- */

static void test_fallback_shipped(void)
{
    hw_profile *a100 = load_profile("a100-sxm-80gb");
    hw_profile *h100 = load_profile("h100-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h100);
    ASSERT_NEAR(hw_peak_flops(a100, DTYPE_FP8), 312e12);   /* fp8 on A100 runs at the bf16 rate */
    ASSERT_NEAR(hw_peak_flops(a100, DTYPE_INT4), 1248e12); /* supported: no fallback */
    ASSERT_NEAR(hw_peak_flops(h100, DTYPE_INT4), 1978.9e12); /* int4 -> int8 on Hopper */
    ASSERT_NEAR(hw_peak_flops(h100, DTYPE_BF16), 989.4e12);
    /* INT8 GEMMs have their own curve, an estimate until a measurement is
     * found: A100's first point is its bf16 one (M = 256, 0.669 in the
     * file), H100's its fp8 one (M = 2048, 0.511). */
    const curve *a = hw_gemm_curve(a100, DTYPE_INT8), *h = hw_gemm_curve(h100, DTYPE_INT8);
    CU_ASSERT_PTR_EQUAL(a, &a100->gemm[DTYPE_INT8]);
    CU_ASSERT_PTR_EQUAL(h, &h100->gemm[DTYPE_INT8]);
    ASSERT_NEAR(a->x[0], 256);
    ASSERT_NEAR(a->y[0], 0.669);
    ASSERT_NEAR(h->x[0], 2048);
    ASSERT_NEAR(h->y[0], 0.511);
    CU_ASSERT_EQUAL(hw_provenance_of(a100, "curves.gemm.int8[0]")->status, HW_ASSUMED);
    CU_ASSERT_EQUAL(hw_provenance_of(h100, "curves.gemm.int8[0]")->status, HW_ASSUMED);
    /* The decode kernel's time per (sequence, KV head): A100's fitted to
     * vidur's rows (46 ns), H100's scaled by SMs (46 × 108 / 132 = 38 ns). */
    CU_ASSERT_EQUAL(a100->decode_item_ns, 46);
    CU_ASSERT_EQUAL(hw_provenance_of(a100, "decode_attention_item")->status, HW_PUBLISHED);
    CU_ASSERT_EQUAL(h100->decode_item_ns, 38);
    hw_free(a100);
    hw_free(h100);
}

/* Prefill attention at a head dim between the file's curves and between
 * their points: H100 at context 3000 (ln(3000/2048)/ln 2 = 0.550747 of
 * the way from 2048 to 4096), head dim 96 (log2(128/96) = 0.415037 of the
 * way from the 128 curve to the 64 one). The file's points: 128 at 2048
 * 0.5716, at 4096 0.5966 (tritonbench FA3); 64 at 2048 0.4649, at 4096
 * 0.4811 (FA3 paper). So 0.585369 and 0.473822, and between them
 * 0.584963 × 0.585369 + 0.415037 × 0.473822 = 0.539073. */
static void test_attention_head_dim_curves(void)
{
    hw_profile *h = load_profile("h100-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const curve *lo, *hi;
    double t;
    hw_attn_prefill_head_dim(h, DTYPE_BF16, 96, &lo, &hi, &t);
    CU_ASSERT_PTR_EQUAL(lo, &h->attn_prefill[DTYPE_BF16]);
    CU_ASSERT_PTR_EQUAL(hi, &h->attn_prefill_hd64[DTYPE_BF16]);
    CU_ASSERT_DOUBLE_EQUAL(curve_eval_between(lo, hi, t, 3000), 0.539073, 1e-6);
    /* 128 is the head-dim-128 curve alone; FP8 has no head-dim curves in
     * the file, so FP8 at 64 stays on its own 128 one. */
    hw_attn_prefill_head_dim(h, DTYPE_BF16, 128, &lo, &hi, &t);
    CU_ASSERT(lo == hi && t == 0);
    hw_attn_prefill_head_dim(h, DTYPE_FP8, 64, &lo, &hi, &t);
    CU_ASSERT(lo == &h->attn_prefill[DTYPE_FP8] && hi == lo && t == 0);
    hw_free(h);
}

/* The documented chains: bf16->fp16->fp32, fp16->bf16->fp32,
 * fp8->bf16->fp16->fp32, int8->fp8->..., int4->int8->... */
static void test_fallback_order(void)
{
    hw_profile h;
    memset(&h, 0, sizeof h);
    h.peak_flops[DTYPE_FP32] = 1;
    for (int d = 0; d < DTYPE_COUNT; d++)
        CU_ASSERT_EQUAL(hw_peak_flops(&h, (kt_dtype)d), 1.0);
    h.peak_flops[DTYPE_FP16] = 2;
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_BF16), 2.0);
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_FP8), 2.0);
    h.peak_flops[DTYPE_BF16] = 3;
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_FP16), 2.0);   /* supported itself */
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_FP8), 3.0);    /* bf16 before fp16 */
    h.peak_flops[DTYPE_FP8] = 4;
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_INT8), 4.0);
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_INT4), 4.0);
    h.peak_flops[DTYPE_INT8] = 5;
    CU_ASSERT_EQUAL(hw_peak_flops(&h, DTYPE_INT4), 5.0);
    CU_ASSERT_EQUAL(hw_peak_flops(NULL, DTYPE_BF16), 0.0);
}

/* ---------- hw_check on profiles built in code ---------- */

static void test_check_rejects_broken_struct(void)
{
    hw_profile *h = load_profile("h100-sxm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    kt_err err = { 0 };
    h->eff_nvlink = 1.2;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "efficiency.nvlink"));
    h->eff_nvlink = 0.8;
    /* A collective curve without its latency, or a latency without its curve. */
    h->p2p_latency_ns = 0;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "collective_latency"));
    h->p2p_latency_ns = 5000;
    h->alltoall.n = 0;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "give all of them or none"));
    h->alltoall.n = 4;
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    h->memory.y[0] = 1.5;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "curve memory"));
    h->memory.y[0] = 0.5;
    h->hbm_bw_Bps = NAN;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "hbm_bandwidth"));
    h->hbm_bw_Bps = 3.35e12;
    h->nvlink_domain_gpus = 12;                            /* 1.5 nodes of 8 */
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nvlink_domain_gpus 12"));
    h->nvlink_domain_gpus = 72;                            /* NVL72: 9 nodes of 8 */
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    h->nvlink_domain_gpus = 2;                             /* bridged pairs in one node */
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    h->network_latency_ns = 0;
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "network_latency"));
    h->network_latency_ns = 5000;
    h->prov[0].source[0] = '\0';
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "source"));
    hw_free(h);
    CU_ASSERT_EQUAL(hw_check(NULL, &err), -1);
}

/* ---------- lookup by name ---------- */

static void test_load_named(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_path("hwprofiles"));
    const char *const dirs[] = { "/nonexistent-kvtier-dir", dir, NULL };
    kt_err err = { 0 };
    hw_profile *h = hw_load_named("h200-sxm", dirs, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_STRING_EQUAL(h->name, "h200-sxm");
    hw_free(h);

    h = hw_load_named(tu_path("hwprofiles/b200.yaml"), NULL, &err);   /* a path, no search */
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_STRING_EQUAL(h->name, "b200");
    hw_free(h);

    h = hw_load_named("h300", dirs, &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'h300'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "available: a100-sxm-80gb, b200, b300, gb200-nvl72, gh200, h100-sxm, h200-sxm"));
    hw_free(h);

    CU_ASSERT_PTR_NULL(hw_load_named("", dirs, &err));
}

/* ---------- located errors ---------- */

/* A valid profile, one figure per line, so a test can swap one line and
 * know exactly where the error must point. Lines are 1-based below. */
static const char *const base_lines[] = {
    "name: test-gpu",                                                                 /* 1 */
    "gpu: Test GPU",                                                                  /* 2 */
    "figures:",                                                                       /* 3 */
    "  peak_flops:",                                                                  /* 4 */
    "    fp32: {value: 60TFLOP/s, status: assumed, source: \"test sheet\"}",          /* 5 */
    "    bf16: {value: 900TFLOP/s, status: assumed, source: \"test sheet\"}",         /* 6 */
    "  hbm_capacity: {value: 80GB, status: assumed, source: \"test sheet\"}",         /* 7 */
    "  hbm_bandwidth: {value: 3.35TB/s, status: assumed, source: \"test sheet\"}",    /* 8 */
    "  sm_count: {value: 132, status: assumed, source: \"test sheet\"}",              /* 9 */
    "  smem_per_sm: {value: 228KiB, status: assumed, source: \"test sheet\"}",        /* 10 */
    "  l2_cache: {value: 50MiB, status: assumed, source: \"test sheet\"}",            /* 11 */
    "  nvlink_bandwidth: {value: 450GB/s, status: assumed, source: \"test sheet\"}",  /* 12 */
    "  nvlink_latency: {value: 2us, status: assumed, source: \"test sheet\"}",        /* 13 */
    "  pcie_bandwidth: {value: 55GB/s, status: assumed, source: \"test sheet\"}",     /* 14 */
    "  launch_overhead: {value: 2us, status: assumed, source: \"test sheet\"}",       /* 15 */
    "  kernels_per_layer: {value: 10, status: assumed, source: \"test sheet\"}",      /* 16 */
    "  price_usd: {value: 37000, status: assumed, source: \"test sheet\"}",           /* 17 */
    "  hourly_usd: {value: 2.5, status: assumed, source: \"test sheet\"}",            /* 18 */
    "  power: {value: 700W, status: measured, source: \"measured on test GPU\"}",     /* 19 */
    "  efficiency:",                                                                  /* 20 */
    "    nvlink: {value: 0.8, status: assumed, source: \"test sheet\"}",              /* 21 */
    "    network: {value: 0.8, status: assumed, source: \"test sheet\"}",             /* 22 */
    "  small_op_floor: {value: 4us, status: assumed, source: \"test sheet\"}",        /* 23 */
    "  host_overhead: {step: {value: 3ms, status: published, source: \"test run\"},"
    " sequence: {value: 20us, status: published, source: \"test run\"}}",            /* 24 */
    "  # the node's figures",                                                         /* 25 */
    "  gpus_per_node: {value: 8, status: assumed, source: \"test sheet\"}",          /* 26 */
    "  nvlink_domain_gpus: {value: 8, status: assumed, source: \"test sheet\"}",     /* 27 */
    "  network_bandwidth: {value: 50GB/s, status: assumed, source: \"test sheet\"}", /* 28 */
    "  network_latency: {value: 5us, status: assumed, source: \"test sheet\"}",      /* 29 */
    "  pcie_duplex_bandwidth: {value: 77GB/s, status: assumed, source: \"test sheet\"}", /* 30 */
    "  nic_efficiency: {value: 0.9, status: assumed, source: \"test sheet\"}",      /* 31 */
    "  nic_op_latency: {value: 300ns, status: assumed, source: \"test sheet\"}",    /* 32 */
    "curves:",                                                                        /* 33 */
    "  gemm:",                                                                        /* 34 */
    "    bf16:",                                                                      /* 35 */
    "      - {x: 1, value: 0.01, status: published, source: \"test bench\"}",         /* 36 */
    "      - {x: 4096, value: 0.7, status: published, source: \"test bench\"}",       /* 37 */
    "  attention_prefill:",                                                           /* 38 */
    "    bf16: [{x: 512, value: 0.4, status: published, source: \"test bench\"}]",   /* 39 */
    "  memory: [{x: 64KiB, value: 0.1, status: assumed, source: \"t\"}, {x: 1GiB, value: 0.9, status: assumed, source: \"t\"}]", /* 40 */
    "  attention_decode: [{x: 1MiB, value: 0.5, status: assumed, source: \"test sheet\"}]", /* 41 */
    "  allreduce: [{x: 1MiB, value: 1.2, status: published, source: \"test bench\"}]",     /* 42 */
    "  small_ops: [{x: 1MiB, value: 0.3, status: published, source: \"test bench\"}]",     /* 43 */
    NULL
};

/* Writes the base profile with line `line` replaced by `text` (NULL: dropped)
 * to a temp file, loads it, and removes the file. The temp path is left in
 * path[] for location checks. Caller frees the result. */
static hw_profile *load_variant(int line, const char *text, char *path, size_t path_len,
                                kt_err *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, path_len, "%s/kvtier-test-hw-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; base_lines[i]; i++) {
        const char *l = (i + 1 == line) ? text : base_lines[i];
        if (l)
            fprintf(f, "%s\n", l);
    }
    fclose(f);
    hw_profile *h = hw_load(path, err);
    unlink(path);
    return h;
}

/* 1-based column of the first `needle` in `line`. */
static int col_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return (int)(p - line) + 1;
}

/* Loads a variant that must fail at line:col with all of `words` in the message. */
static void expect_error(int line, const char *text, int err_line, int err_col,
                         const char *const *words)
{
    char path[4096];
    kt_err err = { 0 };
    hw_profile *h = load_variant(line, text, path, sizeof path, &err);
    CU_ASSERT_PTR_NULL(h);
    hw_free(h);
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, err_line);
    CU_ASSERT_EQUAL(err.col, err_col);
    for (int i = 0; words[i]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, words[i]));
    if (err.line != err_line || err.col != err_col)
        fprintf(stderr, "\n  expected %d:%d, got %d:%d: %s\n", err_line, err_col, err.line,
                err.col, err.msg);
}

static void test_base_profile_is_valid(void)
{
    char path[4096];
    kt_err err = { 0 };
    hw_profile *h = load_variant(0, NULL, path, sizeof path, &err);
    if (!h)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    /* 2 peaks + 20 figures + small_op_floor + 2 host + 2 efficiencies + 8 curve points */
    CU_ASSERT_EQUAL(h->n_prov, 35u);
    CU_ASSERT_EQUAL(h->small_op_floor_ns, 4000);
    CU_ASSERT_EQUAL(h->host_step_ns, 3000000);
    CU_ASSERT_EQUAL(h->host_seq_ns, 20000);
    CU_ASSERT_EQUAL(h->gemm[DTYPE_BF16].n, 2);
    ASSERT_NEAR(h->gemm[DTYPE_BF16].x[1], 4096);
    ASSERT_NEAR(h->memory.x[0], 64 * KiB);
    ASSERT_NEAR(h->memory.x[1], 1024 * MiB);
    ASSERT_NEAR(h->allreduce.y[0], 1.2);                   /* a bus bandwidth may beat the link's */
    CU_ASSERT_EQUAL(h->gemm[DTYPE_FP8].n, 0);
    CU_ASSERT_PTR_EQUAL(hw_gemm_curve(h, DTYPE_FP8), &h->gemm[DTYPE_BF16]);  /* fp8 falls back to bf16's */
    const hw_provenance *pt = hw_provenance_of(h, "curves.gemm.bf16[1]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pt);
    CU_ASSERT_EQUAL(pt->status, HW_PUBLISHED);
    CU_ASSERT_STRING_EQUAL(pt->source, "test bench");
    ASSERT_NEAR(h->pcie_duplex_bw_Bps, 77e9);
    ASSERT_NEAR(h->eff_nic, 0.9);
    CU_ASSERT_EQUAL(h->nic_op_ns, 300);
    CU_ASSERT_EQUAL(h->gpus_per_node, 8);
    CU_ASSERT_EQUAL(h->nvlink_domain_gpus, 8);
    ASSERT_NEAR(h->network_bw_Bps, 50e9);
    CU_ASSERT_EQUAL(h->network_latency_ns, 5000);
    ASSERT_NEAR(h->eff_network, 0.8);
    const hw_provenance *p = hw_provenance_of(h, "power");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    CU_ASSERT_STRING_EQUAL(p->source, "measured on test GPU");
    ASSERT_NEAR(hw_peak_flops(h, DTYPE_FP8), 900e12);      /* absent fp8 -> bf16 */
    ASSERT_NEAR(hw_peak_flops(h, DTYPE_FP16), 900e12);     /* absent fp16 -> bf16 */
    ASSERT_NEAR(hw_peak_flops(h, DTYPE_FP32), 60e12);
    hw_free(h);
}

static void test_error_missing_source(void)
{
    const char *l = "  hbm_bandwidth: {value: 3.35TB/s, status: assumed}";
    expect_error(8, l, 8, col_of(l, "{"),
                 (const char *const[]){ "figures.hbm_bandwidth", "'source'", NULL });
}

static void test_error_missing_status(void)
{
    const char *l = "  hbm_bandwidth: {value: 3.35TB/s, source: \"sheet\"}";
    expect_error(8, l, 8, col_of(l, "{"),
                 (const char *const[]){ "figures.hbm_bandwidth", "'status'", NULL });
}

static void test_error_bad_status(void)
{
    const char *l = "  hbm_bandwidth: {value: 3.35TB/s, status: guessed, source: \"sheet\"}";
    expect_error(8, l, 8, col_of(l, "guessed"),
                 (const char *const[]){ "figures.hbm_bandwidth.status", "guessed", "assumed",
                                        "published", "measured", NULL });
}

static void test_error_empty_source(void)
{
    const char *l = "  hbm_bandwidth: {value: 3.35TB/s, status: assumed, source: \"  \"}";
    expect_error(8, l, 8, col_of(l, "\"  \""),
                 (const char *const[]){ "figures.hbm_bandwidth.source", "empty", NULL });
}

static void test_error_bandwidth_without_unit(void)
{
    const char *l = "  hbm_bandwidth: {value: 3.35, status: assumed, source: \"sheet\"}";
    expect_error(8, l, 8, col_of(l, "3.35"),
                 (const char *const[]){ "figures.hbm_bandwidth.value", "3.35", NULL });
}

static void test_error_bandwidth_in_bytes(void)
{
    const char *l = "  hbm_bandwidth: {value: 80GiB, status: assumed, source: \"sheet\"}";
    expect_error(8, l, 8, col_of(l, "80GiB"),
                 (const char *const[]){ "figures.hbm_bandwidth.value", "80GiB", NULL });
}

static void test_error_bare_value(void)
{
    const char *l = "  hbm_bandwidth: 3.35TB/s";
    expect_error(8, l, 8, col_of(l, "3.35"),
                 (const char *const[]){ "figures.hbm_bandwidth", "value, status, source", NULL });
}

static void test_error_efficiency_above_one(void)
{
    const char *l = "    nvlink: {value: 1.5, status: assumed, source: \"sheet\"}";
    expect_error(21, l, 21, col_of(l, "1.5"),
                 (const char *const[]){ "figures.efficiency.nvlink.value", "(0, 1]", NULL });
}

static void test_error_efficiency_zero(void)
{
    const char *l = "    network: {value: 0, status: assumed, source: \"sheet\"}";
    expect_error(22, l, 22, col_of(l, "0,"),
                 (const char *const[]){ "figures.efficiency.network.value", "(0, 1]", NULL });
}

/* A curve point is a figure: it needs its x, its provenance and a value in
 * range, and the points must ascend; each error points at the point. */
static void test_error_curve_points(void)
{
    const char *no_src = "      - {x: 4096, value: 0.7, status: published}";
    expect_error(37, no_src, 37, col_of(no_src, "{"), (const char *const[]){ "curves.gemm.bf16[1]", "'source'", NULL });
    const char *no_x = "      - {value: 0.7, status: published, source: \"b\"}";
    expect_error(37, no_x, 37, col_of(no_x, "{"), (const char *const[]){ "curves.gemm.bf16[1]", "'x'", NULL });
    const char *down = "      - {x: 1, value: 0.7, status: published, source: \"b\"}";
    expect_error(37, down, 37, col_of(down, "1,"), (const char *const[]){ "ascending", NULL });
    const char *high = "      - {x: 4096, value: 1.7, status: published, source: \"b\"}";
    expect_error(37, high, 37, col_of(high, "1.7"), (const char *const[]){ "curves.gemm.bf16[1].value", "[1e-05, 1]", NULL });
    /* The all-reduce curve may exceed 1 (in-switch reduction), not 2. */
    const char *ar = "  allreduce: [{x: 1MiB, value: 2.5, status: published, source: \"b\"}]";
    expect_error(42, ar, 42, col_of(ar, "2.5"), (const char *const[]){ "[1e-05, 2]", NULL });
    const char *bytes = "  attention_decode: [{x: 1000 tokens, value: 0.5, status: assumed, source: \"s\"}]";
    expect_error(41, bytes, 41, col_of(bytes, "1000"), (const char *const[]){ "curves.attention_decode[0].x", NULL });
    /* Every profile needs the bf16 GEMM curve. */
    expect_error(35, "    fp8:", 35, 5, (const char *const[]){ "'bf16'", NULL });
    expect_error(40, NULL, 34, 3, (const char *const[]){ "missing required key 'memory'", NULL });
}

/* hw_check refuses a curve point whose provenance record is gone. */
static void test_curve_point_provenance_checked(void)
{
    char path[4096];
    kt_err err = { 0 };
    hw_profile *h = load_variant(0, NULL, path, sizeof path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(hw_check(h, &err), 0);
    hw_provenance *p = (hw_provenance *)hw_provenance_of(h, "curves.memory[1]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    snprintf(p->key, sizeof p->key, "renamed");
    CU_ASSERT_EQUAL(hw_check(h, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "curves.memory[1] has no provenance"));
    hw_free(h);
}

static void test_error_unknown_key_in_figure(void)
{
    const char *l = "  hbm_capacity: {value: 80GB, status: assumed, source: \"s\", colour: red}";
    /* conf marks a node where its value starts, so the error points at "red". */
    expect_error(7, l, 7, col_of(l, "red"),
                 (const char *const[]){ "figures.hbm_capacity.colour", "unknown key", NULL });
}

static void test_error_unknown_top_key(void)
{
    /* "gpu: Test GPU" then an extra line 3 "vendor: x" (value at column 9). */
    expect_error(2, "gpu: Test GPU\nvendor: x", 3, 9,
                 (const char *const[]){ "vendor", "unknown key", NULL });
}

static void test_error_missing_figure(void)
{
    /* Drop sm_count: the error sits on the figures mapping (its first key, line 4). */
    expect_error(9, NULL, 4, 3,
                 (const char *const[]){ "figures", "missing required key 'sm_count'", NULL });
}

static void test_error_misspelt_figure(void)
{
    /* The typo is both unknown and the reason sm_count is missing: name it. */
    const char *l = "  sm_cout: {value: 132, status: assumed, source: \"test sheet\"}";
    expect_error(9, l, 4, 3,
                 (const char *const[]){ "missing required key 'sm_count'", "'sm_cout' at line 9",
                                        NULL });
}

static void test_error_missing_node_figures(void)
{
    /* Node and fabric figures are required like the rest: dropping any one
     * names it, on the mapping it belongs in (figures at line 4, its
     * efficiency group at line 21). */
    static const struct { int line; const char *words; int err_line, err_col; } drops[] = {
        { 22, "missing required key 'network'", 21, 5 },
        { 26, "missing required key 'gpus_per_node'", 4, 3 },
        { 27, "missing required key 'nvlink_domain_gpus'", 4, 3 },
        { 28, "missing required key 'network_bandwidth'", 4, 3 },
        { 29, "missing required key 'network_latency'", 4, 3 },
        { 30, "missing required key 'pcie_duplex_bandwidth'", 4, 3 },
        { 31, "missing required key 'nic_efficiency'", 4, 3 },
        { 32, "missing required key 'nic_op_latency'", 4, 3 },
    };
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++)
        expect_error(drops[i].line, NULL, drops[i].err_line, drops[i].err_col,
                     (const char *const[]){ drops[i].words, NULL });
}

static void test_node_figures_read(void)
{
    char path[4096];
    kt_err err = { 0 };
    /* A NIC's line rate may be written as the datasheet gives it: 400 Gb/s = 50 GB/s. */
    hw_profile *h = load_variant(28, "  network_bandwidth: {value: 400Gb/s, status: assumed, source: \"s\"}",
                                 path, sizeof path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    ASSERT_NEAR(h->network_bw_Bps, 50e9);
    hw_free(h);
    /* A 12-GPU NVLink domain on 8-GPU nodes is neither whole nodes nor an equal part of one. */
    h = load_variant(27, "  nvlink_domain_gpus: {value: 12, status: assumed, source: \"s\"}", path, sizeof path,
                     &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nvlink_domain_gpus 12 and gpus_per_node 8"));
    /* An efficiency above 1 would make a NIC faster than its line rate. */
    h = load_variant(31, "  nic_efficiency: {value: 1.2, status: assumed, source: \"s\"}", path, sizeof path, &err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "must be in (0, 1]"));
    CU_ASSERT_EQUAL(err.line, 31);
}

static void test_error_network_bandwidth_in_bytes(void)
{
    const char *l = "  network_bandwidth: {value: 50GB, status: assumed, source: \"test sheet\"}";
    expect_error(28, l, 28, col_of(l, "50GB"),
                 (const char *const[]){ "figures.network_bandwidth.value", "50GB", NULL });
}

static void test_error_unknown_dtype(void)
{
    const char *l = "    fp6: {value: 1PFLOP/s, status: assumed, source: \"sheet\"}";
    expect_error(6, l, 6, col_of(l, "{"),
                 (const char *const[]){ "figures.peak_flops.fp6", "unknown dtype", NULL });
}

static void test_error_fp32_missing(void)
{
    const char *l = "    int8: {value: 1PFLOP/s, status: assumed, source: \"sheet\"}";
    expect_error(5, l, 5, 5,
                 (const char *const[]){ "figures.peak_flops", "'fp32'", NULL });
}

static void test_error_sm_count_zero(void)
{
    const char *l = "  sm_count: {value: 0, status: assumed, source: \"sheet\"}";
    expect_error(9, l, 9, col_of(l, "0,"),
                 (const char *const[]){ "figures.sm_count.value", "out of range", NULL });
}

static void test_error_latency_zero(void)
{
    const char *l = "  nvlink_latency: {value: 0us, status: assumed, source: \"sheet\"}";
    expect_error(13, l, 13, col_of(l, "0us"),
                 (const char *const[]){ "figures.nvlink_latency.value", "greater than zero", NULL });
}

static void test_error_flops_wrong_unit(void)
{
    const char *l = "    bf16: {value: 900TB/s, status: assumed, source: \"sheet\"}";
    expect_error(6, l, 6, col_of(l, "900TB/s"),
                 (const char *const[]){ "figures.peak_flops.bf16.value", NULL });
}

int main(void)
{
    static const tu_test tests[] = {
        { "shipped profiles load and pass hw_check", test_profiles_load_and_check },
        { "H100 SXM spec figures", test_h100_figures },
        { "H200 SXM spec figures", test_h200_figures },
        { "A100 SXM 80GB spec figures", test_a100_figures },
        { "B200 spec figures", test_b200_figures },
        { "GB200 NVL72, GH200 and B300 figures by hand", test_rack_scale_figures },
        { "every figure and curve point has its provenance", test_provenance_recorded },
        { "H100 price cites the design doc", test_h100_price_source_is_design_doc },
        { "dtype fallback on shipped profiles", test_fallback_shipped },
        { "dtype fallback order", test_fallback_order },
        { "prefill attention between head dims", test_attention_head_dim_curves },
        { "hw_check rejects a broken struct", test_check_rejects_broken_struct },
        { "hw_load_named: search, path, unknown", test_load_named },
        { "base test profile is valid", test_base_profile_is_valid },
        { "error: missing source", test_error_missing_source },
        { "error: missing status", test_error_missing_status },
        { "error: status not assumed/measured", test_error_bad_status },
        { "error: blank source", test_error_empty_source },
        { "error: bandwidth without unit", test_error_bandwidth_without_unit },
        { "error: bandwidth written in bytes", test_error_bandwidth_in_bytes },
        { "error: bare value without provenance", test_error_bare_value },
        { "error: efficiency 1.5", test_error_efficiency_above_one },
        { "error: efficiency 0", test_error_efficiency_zero },
        { "error: curve points located", test_error_curve_points },
        { "hw_check: a curve point without provenance", test_curve_point_provenance_checked },
        { "error: unknown key in a figure", test_error_unknown_key_in_figure },
        { "error: unknown top-level key", test_error_unknown_top_key },
        { "error: missing figure", test_error_missing_figure },
        { "error: misspelt figure", test_error_misspelt_figure },
        { "error: a node or network figure missing", test_error_missing_node_figures },
        { "node figures: bits per second, NVLink domain", test_node_figures_read },
        { "error: network bandwidth written in bytes", test_error_network_bandwidth_in_bytes },
        { "error: unknown dtype", test_error_unknown_dtype },
        { "error: fp32 peak missing", test_error_fp32_missing },
        { "error: sm_count 0", test_error_sm_count_zero },
        { "error: latency 0", test_error_latency_zero },
        { "error: FLOP/s written as bandwidth", test_error_flops_wrong_unit },
        { NULL, NULL }
    };
    return tu_run("hw", tests);
}
