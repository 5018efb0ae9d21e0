/* test_kv_layout.c — KV geometry worked out by hand: bytes per token, block and context per GPU, the head-share rule, scale metadata of int4 and int2, window ratios. */
#include "cost.h"
#include "kv_layout.h"
#include "scenario.h"
#include "testutil.h"

static model_card *m8, *scout;
static hw_profile *h100;

static void layout_of(kv_layout *l, cost_model *cm, const model_card *m, int tp, int pp, int cp, kt_dtype kv,
                      int quant_group, int block_tokens)
{
    const cost_par par = { tp, pp, cp, 1 };
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init_par(cm, m, h100, &par, kv, &err), 0);
    kv_layout_init(l, cm, quant_group, block_tokens);
}

/* Llama-3.1-8B: 32 layers × K and V × 8 KV heads × 128 × 2 B (bf16) =
 * 131,072 B a token; TP 8 puts one KV head on each GPU: 16,384 B. */
static void test_llama8b_bf16_tp8(void)
{
    cost_model cm;
    kv_layout l;
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token(m8, DTYPE_BF16), 131072.0, 0);
    layout_of(&l, &cm, m8, 8, 1, 1, DTYPE_BF16, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_EQUAL(kv_layout_kv_heads_gpu(m8, 8), 1);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 16384.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 262144.0, 0);         /* 16 tokens */
    CU_ASSERT_DOUBLE_EQUAL(l.scale_bytes_block_gpu, 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_data_bytes_replica, 8 * 262144.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_replica, 8 * 262144.0, 0);
    /* A tier stores the block once: 16 × 131,072 B. */
    CU_ASSERT_DOUBLE_EQUAL(l.stored_block_bytes, 16 * 131072.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_context_bytes_gpu(&cm, 1000), 1000 * 16384.0, 0);
    CU_ASSERT_EQUAL(l.n_windows, 0);
}

/* TP 16 over 8 KV heads: each GPU still holds a whole head (heads are
 * replicated), so a GPU's share is 1/8, not 1/16. */
static void test_head_share_tp_above_kv_heads(void)
{
    cost_model cm;
    kv_layout l;
    CU_ASSERT_EQUAL(kv_layout_kv_heads_gpu(m8, 16), 1);
    CU_ASSERT_EQUAL(kv_layout_kv_heads_gpu(m8, 3), 3);              /* ceil(8 / 3) */
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_layer_share(m8, 0, 16), 1.0 / 8, 0);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_layer_share(m8, 0, 3), 3.0 / 8, 0);
    layout_of(&l, &cm, m8, 16, 1, 1, DTYPE_BF16, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 16384.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 262144.0, 0);
    /* PP 2 and CP 2 at TP 8: half the layers, half the tokens. */
    layout_of(&l, &cm, m8, 8, 2, 2, DTYPE_BF16, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 4096.0, 0);
    CU_ASSERT_EQUAL(l.gpus, 32);
}

/* int4 with an fp16 scale and fp16 zero (4 B) per 32 elements. At TP 8 a
 * token is 8,192 elements on a GPU (16,384 B of bf16 / 2): 4,096 B of data.
 * A 16-token block: 65,536 B of data + 16 × 8,192 × 4 / 32 = 16,384 B of
 * scales = 81,920 B. Stored once: 16 × 65,536 elements × (0.5 + 0.125 B). */
static void test_int4_block_with_scales(void)
{
    cost_model cm;
    kv_layout l;
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_scale_bytes_elem(DTYPE_INT4, 32), 0.125, 0);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_scale_bytes_elem(DTYPE_BF16, 32), 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(kv_layout_elem_bytes(DTYPE_INT4, 32), 0.625, 0);
    layout_of(&l, &cm, m8, 8, 1, 1, DTYPE_INT4, 32, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 4096.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.scale_bytes_block_gpu, 16384.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 81920.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_data_bytes_replica, 8 * 65536.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_replica, 8 * 81920.0, 0);   /* what the run reports */
    CU_ASSERT_DOUBLE_EQUAL(l.stored_block_bytes, 655360.0, 0);
    /* int2, 128 elements a scale: 2,048 B of data + 16 × 8,192 × 4 / 128 =
     * 4,096 B of scales in a block, 2,048 × 16 + 4,096 = 36,864 B. */
    layout_of(&l, &cm, m8, 8, 1, 1, DTYPE_INT2, 128, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 36864.0, 0);
}

/* HBM sizing divides by the block with its scales: an H100 (80 GiB × 0.9)
 * less TP 8's weight share, over 81,920 B for int4 against 65,536 B. */
static void test_hbm_sizing_counts_scales(void)
{
    const cost_par par = { 8, 1, 1, 1 };
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init_par(&cm, m8, h100, &par, DTYPE_INT4, &err), 0);
    double budget = h100->hbm_bytes * 0.9 - cost_weight_bytes_gpu(&cm);
    CU_ASSERT_EQUAL(scenario_kv_blocks(m8, h100, &par, DTYPE_INT4, 16, 0.9, 0, 0, 0), (uint32_t)(budget / 81920.0));
    CU_ASSERT_EQUAL(scenario_kv_blocks(m8, h100, &par, DTYPE_BF16, 16, 0.9, 0, 0, 0), (uint32_t)(budget / 262144.0));
}

/* Llama-4-Scout at TP 8: 12 global layers paged at 512 B a token each; the
 * 36 chunked (8,192-token) layers hold their window apart, 36 × 512 B a
 * token: window blocks are 3 per token block, per token. */
static void test_window_ratio_scout(void)
{
    cost_model cm;
    kv_layout l;
    layout_of(&l, &cm, scout, 8, 1, 1, DTYPE_BF16, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 12 * 512.0, 0);
    CU_ASSERT_EQUAL_FATAL(l.n_windows, 1);
    CU_ASSERT_EQUAL(l.window_tokens[0], 8192);
    CU_ASSERT_DOUBLE_EQUAL(l.window_ratio[0], 3.0, 0);
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    kt_err err;
    m8 = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    scout = m8 ? model_load(tu_path("models/llama-4-scout.yaml"), &err) : NULL;
    h100 = scout ? hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err) : NULL;
    if (!m8 || !scout || !h100) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "Llama-3.1-8B bf16 at TP 8, by hand", test_llama8b_bf16_tp8 },
        { "head share when TP exceeds the KV heads", test_head_share_tp_above_kv_heads },
        { "int4 and int2 blocks with their scales", test_int4_block_with_scales },
        { "HBM sizing counts int4 scales", test_hbm_sizing_counts_scales },
        { "window ratio of a chunked model", test_window_ratio_scout },
        { NULL, NULL },
    };
    int rc = tu_run("kv_layout", tests);
    model_free(m8);
    model_free(scout);
    hw_free(h100);
    return rc;
}
