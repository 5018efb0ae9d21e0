/* test_kv_plan.c — per-layer KV precision and cross-layer KV sharing worked out by hand: bytes per token and block, the KV write traffic, reads charged per layer, dequantization, and refusals of plans that cannot hold. */
#include <math.h>
#include <string.h>

#include "cost.h"
#include "kv_layout.h"
#include "kv_plan.h"
#include "scenario.h"
#include "testutil.h"

static hw_profile *h100;

static model_card *llama8b(void)
{
    kt_err err;
    model_card *m = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

/* Applies YAML text with read; returns its rc and leaves the message in err. */
static int apply(model_card *m, const char *text, int (*read)(conf_node *, model_card *, kt_err *), kt_err *err)
{
    memset(err, 0, sizeof *err);
    return kv_plan_read_text(text, "test", read, m, err);
}

static void init_cm(cost_model *cm, const model_card *m, kt_dtype kv)
{
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(cm, m, h100, 1, kv, &err), 0);
}

/* MiniKV-style: layers 0-3 int8, 4-31 int2, on Llama-3.1-8B (2 × 8 × 128 =
 * 2,048 KV elements a layer a token). Data: 4 × 2,048 × 1 B + 28 × 2,048 ×
 * 0.25 B = 8,192 + 14,336 = 22,528 B a token. Scales: an fp16 scale and
 * zero (4 B) per 32 int2 elements: 16 tokens × 28 × 2,048 × 4 / 32 =
 * 114,688 B a block; the block is 16 × 22,528 + 114,688 = 475,136 B. */
static void test_precision_groups_bytes(void)
{
    model_card *m = llama8b();
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(apply(m, "[{layers: 4, dtype: int8}, {dtype: int2}]", kv_plan_precision_read, &err), 0);
    CU_ASSERT_EQUAL(model_layer_kv_dtype(m, 3, DTYPE_BF16), DTYPE_INT8);
    CU_ASSERT_EQUAL(model_layer_kv_dtype(m, 4, DTYPE_BF16), DTYPE_INT2);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 22528.0, 0);
    cost_model cm;
    kv_layout l;
    init_cm(&cm, m, DTYPE_BF16);
    kv_layout_init(&l, &cm, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.bytes_token_gpu, 22528.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.scale_bytes_block_gpu, 114688.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 475136.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l.stored_block_bytes, 475136.0, 0);      /* one GPU: stored once as held */
    /* KV writes, mean over 32 layers: the new K and V read in bf16 (2 B)
     * and written at their precision. int8: 4 × 2,048 × (1 + 2) = 24,576;
     * int2: 28 × 512 × (1 + 2 / 0.25) = 129,024; (24,576 + 129,024) / 32 = 4,800 B. */
    CU_ASSERT_DOUBLE_EQUAL(cm.kv_write_bytes_token_layer_gpu, 4800.0, 1e-9);
    model_free(m);
}

/* The packed layout of one int2 layer's 16-token block of Llama-3.1-8B:
 * 2 × 8 × 16 × 128 = 32,768 elements, 4 a byte: 8,192 B of data, then
 * 32,768 / 32 = 1,024 scale entries of 4 B = 4,096 B: 12,288 B, the
 * 32,768 × (0.25 + 4 / 32) the byte counts use; with the 4 int8 layers
 * (32,768 B each) 4 × 32,768 + 28 × 12,288 = 475,136 B, the block above.
 * Element 23,557 (V h=3 t=8 d=5: ((1·8 + 3)·16 + 8)·128 + 5) sits in byte
 * 23,557 / 4 = 5,889 at bits (23,557 mod 4)·2 = 2..3; its group 23,557 /
 * 32 = 736 at 8,192 + 736·4 = 11,136; offset 11,138 is byte 2 (the zero)
 * of that entry, whose group starts at element 736·32 = 23,552. */
static void test_packed_run(void)
{
    int bit = -1;
    kv_layout_packed_at at;
    CU_ASSERT_EQUAL(kv_layout_packed_per_byte(DTYPE_INT2), 4);
    CU_ASSERT_EQUAL(kv_layout_packed_per_byte(DTYPE_INT4), 2);
    CU_ASSERT_EQUAL(kv_layout_packed_per_byte(DTYPE_INT8), 0);
    CU_ASSERT_EQUAL(kv_layout_packed_data_bytes(DTYPE_INT2, 32768), 8192);
    CU_ASSERT_EQUAL(kv_layout_packed_run_bytes(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP, 32768), 12288);
    CU_ASSERT_DOUBLE_EQUAL(32768 * kv_layout_elem_bytes(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP), 12288.0, 0);
    CU_ASSERT_EQUAL(4 * 32768 + 28 * kv_layout_packed_run_bytes(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP, 32768), 475136);
    CU_ASSERT_EQUAL(kv_layout_packed_elem_offset(DTYPE_INT2, 23557, &bit), 5889);
    CU_ASSERT_EQUAL(bit, 2);
    CU_ASSERT_EQUAL(kv_layout_packed_scale_offset(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP, 32768, 23557), 11136);
    kv_layout_packed_locate(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP, 32768, 5889, &at);
    CU_ASSERT_TRUE(!at.scale && at.first_elem == 23556 && at.elems == 4);
    CU_ASSERT_EQUAL(kv_layout_packed_elem_of_bit(DTYPE_INT2, 2), 1);
    CU_ASSERT_EQUAL(kv_layout_packed_elem_of_bit(DTYPE_INT2, 3), -1);
    kv_layout_packed_locate(DTYPE_INT2, KV_LAYOUT_HBM_QUANT_GROUP, 32768, 11138, &at);
    CU_ASSERT_TRUE(at.scale && at.first_elem == 23552 && at.elems == 32 && at.entry_byte == 2);
    /* int4: element 7 in byte 3, high nibble. */
    CU_ASSERT_EQUAL(kv_layout_packed_elem_offset(DTYPE_INT4, 7, &bit), 3);
    CU_ASSERT_EQUAL(bit, 4);
}

/* CLA with pairs: every second layer reads its neighbour's KV. Half the
 * layers store 4,096 B (bf16) a token: 16 × 4,096 = 65,536 B, half the
 * card's 131,072 B; writes halve too ((16 × 4,096 × 2) / 32 = 4,096 B a
 * layer against 8,192 B), but attention still reads 32 layers' KV, so a
 * decode step's attention takes exactly as long as without sharing. */
static void test_sharing_halves_memory_not_reads(void)
{
    model_card *plain = llama8b(), *m = llama8b();
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(apply(m, "{every: 2}", kv_plan_sharing_read, &err), 0);
    CU_ASSERT_FALSE(model_layer_stores_kv(m, 3));
    CU_ASSERT_EQUAL(m->layers[3].kv_back, 1);                       /* layer 3 reads layer 2 */
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token_layer(m, 3, DTYPE_BF16), 4096.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_stored_bytes_per_token_layer(m, 3, DTYPE_BF16), 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 65536.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes(m, 1000, DTYPE_BF16), 65536000.0, 0);
    cost_model cm, cp;
    kv_layout l;
    init_cm(&cm, m, DTYPE_BF16);
    init_cm(&cp, plain, DTYPE_BF16);
    kv_layout_init(&l, &cm, KV_LAYOUT_HBM_QUANT_GROUP, 16);
    CU_ASSERT_DOUBLE_EQUAL(l.block_bytes_gpu, 16 * 65536.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(cm.kv_write_bytes_token_layer_gpu, 4096.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(cp.kv_write_bytes_token_layer_gpu, 8192.0, 0);
    /* A 4,096-token prefill chunk after 100,000 cached tokens: its KV
     * write (16 MB shared against 32 MB) is well above the smallest
     * kernel's time, so the halving shows. */
    cost_seq s = { 4096, 100000, 0 };
    cost_iter a, b;
    cost_iteration(&cm, &s, 1, 1, &a);
    cost_iteration(&cp, &s, 1, 1, &b);
    CU_ASSERT_EQUAL(a.attn_ns, b.attn_ns);
    CU_ASSERT(a.small_ns < b.small_ns);
    model_free(m);
    model_free(plain);
}

/* YOCO-style: the second half of the layers (16-31) all read layer 15's
 * KV; 16 layers store: 65,536 B a token. */
static void test_sharing_sources_list(void)
{
    model_card *m = llama8b();
    kt_err err;
    char text[512] = "{sources: [";
    for (int l = 0; l < 32; l++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%d", l ? ", " : "", l < 16 ? l : 15);
    strcat(text, "]}");
    CU_ASSERT_EQUAL_FATAL(apply(m, text, kv_plan_sharing_read, &err), 0);
    CU_ASSERT_EQUAL(m->layers[31].kv_back, 16);
    CU_ASSERT_DOUBLE_EQUAL(model_kv_bytes_per_token(m, DTYPE_BF16), 65536.0, 0);
    model_free(m);
}

/* Without a kernel that reads packed KV, int8 KV is first widened to bf16
 * (a pass reading b bytes and writing 2b) and attention reads the bf16
 * copy: the attention part then costs what bf16 KV costs, exactly, and
 * the pass comes on top. With the packed kernel int8 reads half of bf16's
 * bytes and no pass is charged. */
static void test_dequant_pass(void)
{
    model_card *m = llama8b();
    cost_model c8, c16;
    cost_seq s = { 1, 100000, 0 };
    cost_iter packed, deq, wide;
    init_cm(&c16, m, DTYPE_BF16);
    cost_iteration(&c16, &s, 1, 1, &wide);
    init_cm(&c8, m, DTYPE_INT8);
    cost_iteration(&c8, &s, 1, 1, &packed);
    m->kv_dequant = 1;
    cost_iteration(&c8, &s, 1, 1, &deq);
    CU_ASSERT_EQUAL(packed.dequant_ns, 0);
    CU_ASSERT(packed.attn_ns < wide.attn_ns);
    CU_ASSERT(deq.dequant_ns > 0);
    CU_ASSERT(llabs(deq.attn_ns - deq.dequant_ns - wide.attn_ns) <= 1);
    model_free(m);
}

/* Plans that cannot hold are refused with the node and the reason. */
static void test_refusals(void)
{
    model_card *m = llama8b();
    kt_err err;
    CU_ASSERT_EQUAL(apply(m, "{sources: [1, 1]}", kv_plan_sharing_read, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2 entries but the model has 32 layers"));
    CU_ASSERT_EQUAL(apply(m, "[{layers: 40, dtype: int8}]", kv_plan_precision_read, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out of range"));
    CU_ASSERT_EQUAL(apply(m, "[{layers: 4, dtype: int8}, {layers: 4, dtype: int2}]", kv_plan_precision_read, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cover 8 of the 32 layers"));
    CU_ASSERT_EQUAL(apply(m, "{every: 2, sources: [0]}", kv_plan_sharing_read, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "exactly one of"));
    model_free(m);
    /* Llama-4-Scout: chunked, chunked, chunked, global. Layer 3 (global)
     * cannot read layer 2's (chunked) KV. */
    m = model_load(tu_path("models/llama-4-scout.yaml"), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(apply(m, "{every: 2}", kv_plan_sharing_read, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "layer 3 cannot share layer 2's KV: the source layer attends differently"));
    model_free(m);
}

/* The scenario's keys reach the HBM pool: quickstart's KV budget divided
 * by a block half as large holds twice the blocks (floor(2x) is 2·floor(x)
 * or one more). A misspelt key is refused at its place. */
static void test_scenario_keys(void)
{
    kt_err err;
    char *plain_sets[] = { "kv.block_tokens=16" };
    char *shared_sets[] = { "kv.sharing={every: 2}" };
    char *bad_sets[] = { "kv.sharing={evry: 2}" };
    scenario *a = scenario_load(tu_path("scenarios/quickstart.yaml"), plain_sets, 1, &err);
    scenario *b = scenario_load(tu_path("scenarios/quickstart.yaml"), shared_sets, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT(b->kv_blocks_per_replica == 2 * a->kv_blocks_per_replica ||
              b->kv_blocks_per_replica == 2 * a->kv_blocks_per_replica + 1);
    scenario_free(a);
    scenario_free(b);
    CU_ASSERT_PTR_NULL(scenario_load(tu_path("scenarios/quickstart.yaml"), bad_sets, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "evry"));
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    kt_err err;
    h100 = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    if (!h100) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "int8 then int2 layer groups, by hand", test_precision_groups_bytes },
        { "packed int2 run: element bits, scales, byte counts", test_packed_run },
        { "sharing every 2 halves memory and writes, not reads", test_sharing_halves_memory_not_reads },
        { "YOCO-style sources list", test_sharing_sources_list },
        { "dequantization pass without a packed kernel", test_dequant_pass },
        { "plans that cannot hold are refused", test_refusals },
        { "scenario keys reach the HBM pool", test_scenario_keys },
        { NULL, NULL },
    };
    int rc = tu_run("kv_plan", tests);
    hw_free(h100);
    return rc;
}
