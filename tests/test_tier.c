/* test_tier.c — KV tiers below HBM: block sizes per precision, conservation under random offload and lookup, the fetch-or-recompute crossover in closed form, and whole runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "cost.h"
#include "engine.h"
#include "scenario.h"
#include "sim.h"
#include "testutil.h"
#include "tier.h"

static model_card *m8;
static hw_profile *h100;

static tier_cfg dram(double capacity, double bw)
{
    tier_cfg t = { .kind = TIER_DRAM, .capacity_bytes = capacity, .read_Bps = bw, .write_Bps = bw,
                   .latency_ns = 1000, .drives = 1, .dtype = DTYPE_BF16, .quant_group = 32, .compression = 1,
                   .queue_depth = 4 };
    strcpy(t.name, "dram");
    return t;
}

/* A one-GPU replica's tiers c for Llama-3.1-8B on an H100: bf16 in HBM,
 * 16-token blocks, LRU. */
static tier_set *new_set(const tiers_cfg *c, engine *e, kt_err *err)
{
    const tier_set_config cfg = { .tiers = c, .model = m8, .hw = h100, .hbm_dtype = DTYPE_BF16,
                                  .block_tokens = 16, .gpus = 1, .eviction = EVICT_LRU };
    return tier_set_new(&cfg, e, err);
}

static void test_block_bytes_per_precision(void)
{
    /* Llama-3.1-8B: 32 layers × 2 × 8 heads × 128 = 65,536 elements per token. */
    CU_ASSERT_DOUBLE_EQUAL(tier_block_bytes(m8, DTYPE_BF16, 32, 16), 16 * 65536 * 2.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(tier_block_bytes(m8, DTYPE_FP8, 32, 16), 16 * 65536 * 1.0, 1e-6);
    /* int4: half a byte, plus an fp16 scale and zero (4 B) per 32 elements. */
    CU_ASSERT_DOUBLE_EQUAL(tier_block_bytes(m8, DTYPE_INT4, 32, 16), 16 * 65536 * (0.5 + 4.0 / 32), 1e-6);
    /* 2-bit (KIVI: keys grouped per channel over 128 tokens, values per
     * token over 128 channels): a quarter byte plus 4 B per 128 elements. */
    CU_ASSERT_DOUBLE_EQUAL(tier_block_bytes(m8, DTYPE_INT2, 128, 16), 16 * 65536 * (0.25 + 4.0 / 128), 1e-6);
}

/* Each fetch policy's answers, the table the scheduler follows. */
static void test_fetch_policy_table(void)
{
    static const struct { tier_fetch p; int on_arrival, overlaps, predicts; } want[] = {
        { FETCH_DEMAND, 0, 0, 0 },
        { FETCH_LAYERWISE, 0, 1, 0 },
        { FETCH_PREFETCH, 1, 0, 0 },
        { FETCH_PREDICTED, 1, 0, 1 },
    };
    CU_ASSERT_EQUAL(sizeof want / sizeof want[0], FETCH_KIND_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CU_ASSERT_EQUAL(fetch_policy_prefetch_on_arrival(want[i].p), want[i].on_arrival);
        CU_ASSERT_EQUAL(fetch_policy_overlaps_compute(want[i].p), want[i].overlaps);
        CU_ASSERT_EQUAL(fetch_policy_predicts(want[i].p), want[i].predicts);
    }
}

/* Offloading fresh content only: what every tier holds plus what fell off
 * the last one equals what went in; each store stays consistent. */
static void test_conservation_under_random_ops(void)
{
    engine *e = engine_new(64);
    tiers_cfg c = { .n = 3, .offload = OFFLOAD_WRITE_BACK, .pcie_setup_ns = 10000 };
    double block = tier_block_bytes(m8, DTYPE_BF16, 32, 16);
    c.tier[0] = dram(50 * block, 100e9);
    c.tier[1] = dram(120 * block, 50e9);
    c.tier[2] = dram(300 * block, 10e9);
    kt_err err;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    CU_ASSERT_EQUAL(ts->tiers[0].capacity_blocks, 50);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    uint64_t next = 1, offloaded = 0;
    int bad = 0;
    for (int op = 0; op < 20000 && !bad; op++) {
        unsigned k = gsl_rng_uniform_int(r, 10);
        if (k < 6) {
            tier_set_offload(ts, 0, next++);
            offloaded++;
        } else if (k < 9) {
            uint64_t h[8];
            uint64_t start = 1 + gsl_rng_uniform_int(r, (unsigned long)next);
            for (int i = 0; i < 8; i++)
                h[i] = start + (uint64_t)i;
            int64_t counts[TIER_MAX];
            int64_t run = tier_set_lookup(ts, h, 8, counts, NULL);
            int64_t sum = 0;
            for (int t = 0; t < TIER_MAX; t++)
                sum += counts[t];
            bad |= sum != run;
        } else {
            tier_set_flush(ts);
            engine_run(e, INT64_MAX);
        }
        uint64_t held = 0;
        for (int t = 0; t < ts->n; t++)
            held += tier_cached_blocks(ts, t);
        bad |= held + (uint64_t)ts->tiers[2].st.evicted_blocks != offloaded;
        bad |= tier_set_check(ts, &err) < 0;
        bad |= tier_set_check_touched(ts, &err) < 0;
    }
    CU_ASSERT_FALSE(bad);
    /* The cascade ran all the way down. */
    CU_ASSERT(ts->tiers[2].st.evicted_blocks > 0);
    CU_ASSERT_EQUAL(tier_cached_blocks(ts, 0), 50);
    gsl_rng_free(r);
    tier_set_free(ts);
    engine_free(e);
}

/* The check of what changed in a store: an entry an offload just wrote
 * (indexed under another key) is found at once; one no call touched since
 * the last check is left to tier_set_check's walk. */
static void test_check_touched_store(void)
{
    engine *e = engine_new(64);
    tiers_cfg c = { .n = 1, .offload = OFFLOAD_WRITE_BACK, .pcie_setup_ns = 10000 };
    c.tier[0] = dram(10 * tier_block_bytes(m8, DTYPE_BF16, 32, 16), 100e9);
    kt_err err;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    tier_cache *store = ts->tiers[0].store;
    for (uint64_t h = 1; h <= 10; h++)
        tier_set_offload(ts, 0, h);
    CU_ASSERT_EQUAL(tier_set_check_touched(ts, &err), 0);   /* the first: a walk; recording starts */
    tier_set_offload(ts, 0, 11);                             /* evicts 1, the least recently used */
    CU_ASSERT_EQUAL(store->n, 10);
    uint32_t newest = store->lists.tail[EVICT_COLD];
    CU_ASSERT_EQUAL_FATAL(store->key[newest], 11);
    store->key[newest] = 12;
    CU_ASSERT_EQUAL(tier_set_check_touched(ts, &err), -1);
    store->key[newest] = 11;
    CU_ASSERT_EQUAL(tier_set_check_touched(ts, &err), 0);

    /* The entry after the oldest: untouched by the last offload. */
    uint32_t away = store->lists.next[store->lists.head[EVICT_COLD]];
    CU_ASSERT_EQUAL_FATAL(store->key[away], 3);
    store->key[away] = 12;
    CU_ASSERT_EQUAL(tier_set_check_touched(ts, &err), 0);
    CU_ASSERT_EQUAL(tier_set_check(ts, &err), -1);
    store->key[away] = 3;
    CU_ASSERT_EQUAL(tier_set_check(ts, &err), 0);
    tier_set_free(ts);
    engine_free(e);
}

/* Looks up the one block h: the tier that supplies it, or -1. */
static int tier_of(tier_set *ts, uint64_t h)
{
    int64_t counts[TIER_MAX];
    if (tier_set_lookup(ts, &h, 1, counts, NULL) != 1)
        return -1;
    for (int t = 0; t < ts->n; t++)
        if (counts[t])
            return t;
    return -1;
}

/* A store past its first 1024 entries: the index rehashes as it grows
 * (buckets 1024 -> 2048 at entry 1025 -> 4096 at 2049) and still finds
 * every key; the entry arrays double 1024 -> 2048 and then stop at the
 * capacity, 3000, not 4096. LRU by hand: offload 1..3000, look up 2 (to
 * the tail: 1, 3, 4, ..., 3000, 2), offload 3001 and 3002: they evict 1
 * then 3, which write-back moves to the tier below. */
static void test_store_grows_to_capacity(void)
{
    engine *e = engine_new(64);
    tiers_cfg c = { .n = 2, .offload = OFFLOAD_WRITE_BACK, .pcie_setup_ns = 10000 };
    double block = tier_block_bytes(m8, DTYPE_BF16, 32, 16);
    c.tier[0] = dram(3000 * block, 100e9);
    c.tier[1] = dram(10 * block, 10e9);
    kt_err err;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    for (uint64_t h = 1; h <= 3000; h++)
        tier_set_offload(ts, 0, h);
    tier_cache *store = ts->tiers[0].store;
    CU_ASSERT_EQUAL(store->n, 3000);
    CU_ASSERT_EQUAL(store->cap_entries, 3000);
    CU_ASSERT_EQUAL(store->bucket_mask + 1, 4096);
    int missing = 0;
    for (uint64_t h = 1; h <= 3000; h++)    /* each to the tail in turn: the order stays 1..3000 */
        missing += tier_of(ts, h) != 0;
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(tier_of(ts, 2), 0);     /* 1, 3, 4, ..., 3000, 2 */
    CU_ASSERT_EQUAL(tier_of(ts, 3003), -1);
    tier_set_offload(ts, 0, 3001);
    tier_set_offload(ts, 0, 3002);
    CU_ASSERT_EQUAL(ts->tiers[0].st.evicted_blocks, 2);
    CU_ASSERT_EQUAL(tier_of(ts, 1), 1);
    CU_ASSERT_EQUAL(tier_of(ts, 3), 1);
    CU_ASSERT_EQUAL(tier_of(ts, 2), 0);
    CU_ASSERT_EQUAL(tier_of(ts, 4), 0);
    CU_ASSERT_EQUAL(tier_of(ts, 3002), 0);
    CU_ASSERT_EQUAL(store->cap_entries, 3000);
    CU_ASSERT_EQUAL(tier_set_check(ts, &err), 0);
    tier_set_free(ts);
    engine_free(e);
}

/* Recomputing n = 4096 tokens on Llama-3.1-8B (c = 0) takes one iteration
 * of the cost model (its arithmetic is test_cost's). Fetching them from DRAM
 * takes setup + 256 blocks × 2 MiB / bandwidth. Below the bandwidth where
 * the two meet, recomputing wins; above it, fetching. */
static void test_fetch_or_recompute_crossover(void)
{
    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, m8, h100, 1, DTYPE_BF16, &err), 0);
    cost_seq cs = { 4096, 0, 0, 0 };
    cost_iter it;
    cost_iteration(&cm, &cs, 1, 0, &it);
    double recompute_ns = (double)it.total_ns;
    double bytes = 256 * 16 * 131072.0;
    double setup_ns = 1000 + 10000;
    double crossover_Bps = bytes * 1e9 / (recompute_ns - setup_ns);

    const double factors[] = { 0.9, 1.1 };
    for (int i = 0; i < 2; i++) {
        engine *e = engine_new(8);
        /* PCIe wide open so the tier's own bandwidth decides. */
        tiers_cfg c = { .n = 1, .decide = DECIDE_COMPARE, .pcie_Bps = 1e15, .pcie_setup_ns = 10000 };
        c.tier[0] = dram(1e12, crossover_Bps * factors[i]);
        tier_set *ts = new_set(&c, e, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
        int64_t counts[TIER_MAX] = { 256 };
        int64_t fetch_ns = tier_set_fetch_estimate_ns(ts, counts);
        CU_ASSERT(fabs(fetch_ns - (setup_ns + 1e9 * bytes / (crossover_Bps * factors[i]))) < 2);
        CU_ASSERT_EQUAL(tier_should_fetch(&c, fetch_ns, it.total_ns), i == 1);
        tier_set_free(ts);
        engine_free(e);
    }
}

static void test_dequant_and_sync_estimates(void)
{
    engine *e = engine_new(8);
    kt_err err;
    tiers_cfg c = { .n = 1, .pcie_Bps = 1e15, .pcie_setup_ns = 10000, .io = FABRIC_IO_SYNC };
    c.tier[0] = dram(1e12, 10e9);
    c.tier[0].dtype = DTYPE_FP8;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    /* fp8 block: 1 MiB; dequantizing reads it and writes 2 MiB of bf16 at
     * the HBM streaming rate (the memory curve's last point). Sync: 10 calls
     * each paying 11 µs. */
    double fp8 = 16 * 65536.0, bf16 = 2 * fp8, stream = h100->memory.y[h100->memory.n - 1];
    double dq = 1e9 * 10 * (fp8 + bf16) / (h100->hbm_bw_Bps * stream);
    CU_ASSERT_EQUAL(tier_dequant_ns(ts, 0, 10), llround(dq));
    int64_t counts[TIER_MAX] = { 10 };
    double want = 10 * 11000.0 + 1e9 * 10 * fp8 / 10e9 + llround(dq);
    CU_ASSERT(fabs(tier_set_fetch_estimate_ns(ts, counts) - want) < 2);
    tier_set_free(ts);
    engine_free(e);
}

/* In-place attention of n = 200 new tokens to a 100,000-token prefix in a
 * tier with 10 TFLOP/s and 20 GB/s: per Llama-3.1-8B layer, 4·32·128·200·100,000
 * FLOPs (prefix part only) = 3.2768e11 -> 32.768 ms; scanning 100,000 ×
 * 4,096 B = 409.6 MB -> 20.48 ms; the slower counts, plus queries and
 * outputs (2 × 200 × 32 × 128 × 2 B over the 20 GB/s path) and two setups. */
static void test_attention_in_storage_layer(void)
{
    engine *e = engine_new(8);
    kt_err err;
    tiers_cfg c = { .n = 1, .pcie_Bps = 1e15, .pcie_setup_ns = 10000 };
    c.tier[0] = dram(1e12, 20e9);
    c.tier[0].attention_flops = 10e12;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    double compute_ns = 1e9 * 4.0 * 32 * 128 * 200 * 100000 / 10e12;
    double qo_ns = 1e9 * 2.0 * 200 * 32 * 128 * 2 / 20e9;
    int64_t want = llround(compute_ns + qo_ns) + 2 * (1000 + 10000);
    CU_ASSERT_EQUAL(tier_attention_layer_ns(ts, 0, m8, 0, 200, 100000), want);
    tier_set_free(ts);
    engine_free(e);
}

static int64_t fetched_at[TIER_MAX];
static void on_fetched(void *ud, uint64_t tier, int64_t now) { fetched_at[tier] = now; }

/* Two NVMe tiers behind one 10 GB/s PCIe switch: fetched together, each
 * gets half the switch (max-min), below its own 14 GB/s. A tier on C2C
 * leaves the GPU's PCIe link alone. */
static void test_topology_shared_switch_and_c2c(void)
{
    engine *e = engine_new(16);
    kt_err err;
    tiers_cfg c = { .n = 3, .pcie_Bps = 1e15, .pcie_setup_ns = 10000, .c2c_Bps = 450e9, .n_shared = 1 };
    strcpy(c.shared[0].name, "switch0");
    c.shared[0].bw_Bps = 10e9;
    for (int i = 0; i < 2; i++) {
        c.tier[i] = dram(1e12, 14e9);
        c.tier[i].kind = TIER_NVME;
        c.tier[i].latency_ns = 80000;
        c.tier[i].via[0] = 0;
        c.tier[i].n_via = 1;
    }
    c.tier[2] = dram(1e12, 400e9);
    c.tier[2].gpu_link = GPU_LINK_C2C;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    /* 100 blocks of 2 MiB from each drive: 209.7 MB at 5 GB/s = 41.94 ms,
     * after 80 µs + 10 µs of setup. */
    int64_t counts[TIER_MAX] = { 100, 100, 0 };
    CU_ASSERT_EQUAL(tier_set_fetch(ts, counts, on_fetched, NULL), 2);
    engine_run(e, INT64_MAX);
    double bytes = 100 * 16 * 131072.0;
    int64_t want = 90000 + (int64_t)ceil(bytes * 1e9 / 5e9);
    CU_ASSERT(llabs(fetched_at[0] - want) <= 1);
    CU_ASSERT(llabs(fetched_at[1] - want) <= 1);
    int64_t t0 = engine_now(e);
    int64_t c2c[TIER_MAX] = { 0, 0, 50 };
    tier_set_fetch(ts, c2c, on_fetched, NULL);
    engine_run(e, INT64_MAX);
    /* 50 blocks at min(400 GB/s device, 450 GB/s C2C) after 1 µs + 10 µs. */
    CU_ASSERT(llabs(fetched_at[2] - t0 - (11000 + (int64_t)ceil(50 * 16 * 131072.0 * 1e9 / 400e9))) <= 1);
    double pcie = 0, c2c_moved = 0;
    for (int l = 0; l < fabric_n_links(ts->fab); l++) {
        const fabric_link *k = fabric_link_at(ts->fab, l);
        if (!strcmp(k->name, "pcie.h2d"))
            pcie = k->bytes_moved;
        if (!strcmp(k->name, "c2c.h2d"))
            c2c_moved = k->bytes_moved;
    }
    CU_ASSERT_DOUBLE_EQUAL(pcie, 2 * bytes, 1);
    CU_ASSERT_DOUBLE_EQUAL(c2c_moved, 50 * 16 * 131072.0, 1);
    tier_set_free(ts);
    engine_free(e);
}

/* Bytes moved so far over the link of ts's fabric called name. */
static double link_bytes(const tier_set *ts, const char *name)
{
    for (int l = 0; l < fabric_n_links(ts->fab); l++)
        if (!strcmp(fabric_link_at(ts->fab, l)->name, name))
            return fabric_link_at(ts->fab, l)->bytes_moved;
    return -1;
}

/* A remote pool over a 400 Gb/s NIC (links.nic = 50 GB/s): h100-sxm.yaml
 * gives nic_efficiency 0.89 and nic_op_latency 315 ns, so the NIC carries
 * 44.5 GB/s, below the pool's 100 GB/s and the opened-up PCIe. 100 blocks
 * of 2 MiB (16 tokens × 131,072 B): setup = 10 µs device + 315 ns NIC
 * operation + 10 µs PCIe + 20 µs NIC = 40,315 ns, then 209,715,200 B /
 * 44.5 GB/s = 4,712,701.1 ns (four operations in flight would sustain
 * 4 × 2,097,152 B / (10,315 ns + 47,127 ns) = 146 GB/s: not the limit). */
static void test_remote_tier_nic_efficiency(void)
{
    engine *e = engine_new(16);
    kt_err err;
    tiers_cfg c = { .n = 1, .pcie_Bps = 1e15, .pcie_setup_ns = 10000, .nic_Bps = 50e9, .nic_setup_ns = 20000 };
    c.tier[0] = dram(1e12, 100e9);
    c.tier[0].kind = TIER_REMOTE;
    c.tier[0].latency_ns = 10000;
    tier_set *ts = new_set(&c, e, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
    int64_t counts[TIER_MAX] = { 100 };
    CU_ASSERT_EQUAL(tier_set_fetch(ts, counts, on_fetched, NULL), 1);
    engine_run(e, INT64_MAX);
    CU_ASSERT(llabs(fetched_at[0] - 4753017) <= 1);
    CU_ASSERT(llabs(tier_set_fetch_estimate_ns(ts, counts) - 4753016) <= 1);
    CU_ASSERT_DOUBLE_EQUAL(link_bytes(ts, "nic.in"), 209715200.0, 1);
    tier_set_free(ts);
    engine_free(e);
}

/* One NVMe drive (80 µs a read, 14 GB/s), PCIe opened up, 10 µs PCIe
 * setup; 100 reads of 2,097,152 B, each 149,796.57 ns of bytes.
 * sync: every read pays 90 µs of setup, then its bytes (rounded up to the
 * ns): 100 × (90,000 + 149,797) = 23,979,700 ns.
 * async, depth 1: one 90 µs setup, then one read in flight at a time:
 * 2,097,152 B / (80 µs + 149.797 µs) = 9.126 GB/s, 100 × 229,796.57 ns
 * = 22,979,657.1 ns after it.
 * async, depth 4: 36.5 GB/s in flight beats the drive: 90,000 ns +
 * 209,715,200 B / 14 GB/s = 90,000 + 14,979,657.1 ns. */
static void test_queue_depth_sync_async(void)
{
    static const struct { fabric_io io; int depth; int64_t want_ns; } cases[] = {
        { FABRIC_IO_SYNC, 4, 23979700 },
        { FABRIC_IO_ASYNC, 1, 90000 + 22979658 },
        { FABRIC_IO_ASYNC, 4, 90000 + 14979658 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        engine *e = engine_new(16);
        kt_err err;
        tiers_cfg c = { .n = 1, .pcie_Bps = 1e15, .pcie_setup_ns = 10000, .io = cases[i].io };
        c.tier[0] = dram(1e12, 14e9);
        c.tier[0].kind = TIER_NVME;
        c.tier[0].latency_ns = 80000;
        c.tier[0].queue_depth = cases[i].depth;
        tier_set *ts = new_set(&c, e, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
        int64_t counts[TIER_MAX] = { 100 };
        tier_set_fetch(ts, counts, on_fetched, NULL);
        engine_run(e, INT64_MAX);
        /* Sync rounds each read up to the ns; async one stream. */
        CU_ASSERT(llabs(fetched_at[0] - cases[i].want_ns) <= 1);
        CU_ASSERT(llabs(tier_set_fetch_estimate_ns(ts, counts) - cases[i].want_ns) <= 100);
        tier_set_free(ts);
        engine_free(e);
    }
}

/* PCIe's two directions share one total while both are busy: h100-sxm.yaml
 * gives 55 GB/s one way and 77.6 GB/s both ways. A DRAM tier (wide open)
 * fetching 100 blocks of 2 MiB while 100 others are written to it: each
 * direction gets 38.8 GB/s, both end at 11 µs setup + 209,715,200 B /
 * 38.8 GB/s = 11,000 + 5,405,030.9 ns. Fetching alone: 55 GB/s,
 * 11,000 + 3,813,003.6 ns. */
static void test_pcie_duplex_share(void)
{
    for (int both = 0; both < 2; both++) {
        engine *e = engine_new(16);
        kt_err err;
        tiers_cfg c = { .n = 1, .pcie_Bps = 55e9, .pcie_setup_ns = 10000, .offload = OFFLOAD_WRITE_BACK };
        c.tier[0] = dram(1e12, 1e15);
        tier_set *ts = new_set(&c, e, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
        for (uint64_t h = 1; both && h <= 100; h++)
            tier_set_offload(ts, 0, h);
        tier_set_flush(ts);
        int64_t counts[TIER_MAX] = { 100 };
        tier_set_fetch(ts, counts, on_fetched, NULL);
        engine_run(e, INT64_MAX);
        int64_t want = 11000 + (both ? 5405031 : 3813004);
        CU_ASSERT(llabs(fetched_at[0] - want) <= 1);
        CU_ASSERT_DOUBLE_EQUAL(link_bytes(ts, "pcie.duplex"), (both ? 2 : 1) * 209715200.0, 1);
        CU_ASSERT_DOUBLE_EQUAL(link_bytes(ts, "pcie.d2h"), both * 209715200.0, 1);
        tier_set_free(ts);
        engine_free(e);
    }
}

static void test_topology_errors(void)
{
    kt_err err;
    const char *text = "tiers:\n"
                       "  - {name: a, kind: nvme, capacity: 1TB, read: 1GB/s, write: 1GB/s, latency: 1us, via: [sw9]}\n"
                       "links: {pcie_setup: 1us, shared: [{name: sw0, bandwidth: 10GB/s}]}\n";
    conf_node *root = conf_parse_string(text, strlen(text), "t.yaml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    tiers_cfg c;
    CU_ASSERT_EQUAL(tiers_from_conf(root, 0, &c, &err), -1);
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no shared link 'sw9'"));
    conf_free(root);
    /* A queue holds at least one operation. */
    text = "tiers:\n"
           "  - {name: a, kind: nvme, capacity: 1TB, read: 1GB/s, write: 1GB/s, latency: 1us, queue_depth: 0}\n"
           "links: {pcie_setup: 1us}\n";
    root = conf_parse_string(text, strlen(text), "t.yaml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(tiers_from_conf(root, 0, &c, &err), -1);
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "queue_depth"));
    conf_free(root);
}

static metrics *run(char **sets, int n, scenario **out)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path("tests/data/tiers.yaml"), sets, n, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    sim_opts o = { .check = 1 };
    metrics *m = NULL;
    sim_stats st;
    if (sim_run(sc, &o, &m, &st, &err) < 0)
        kt_err_print(&err, stderr);
    *out = sc;
    return m;
}

/* With every invariant (tiers and links included) checked after every
 * event: returning sessions find their KV in DRAM/NVMe, and TTFT drops. */
static void test_tiers_cut_ttft(void)
{
    char *hbm_only[] = { "kv_policy.tiers_used=0" };
    scenario *s0, *s2;
    metrics *m0 = run(hbm_only, 1, &s0), *m2 = run(NULL, 0, &s2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
    metrics_summary a, b;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m0, &s0->slo, &s0->cost, &a, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(m2, &s2->slo, &s2->cost, &b, NULL), 0);
    CU_ASSERT_EQUAL(a.completed, 160);
    CU_ASSERT_EQUAL(b.completed, 160);
    CU_ASSERT_EQUAL(a.tier_hit_tokens[0] + a.tier_hit_tokens[1], 0);
    CU_ASSERT(b.tier_hit_tokens[0] > 0);
    CU_ASSERT(b.ttft_ns.mean < a.ttft_ns.mean);
    CU_ASSERT(b.stall_s > 0);
    /* Bytes fetched over PCIe: at least the fetched tokens' KV (bf16). */
    double h2d = 0;
    for (size_t i = 0; i < m2->n_links; i++)
        if (!strcmp(m2->links[i].name, "pcie.h2d"))
            h2d = m2->links[i].bytes_moved;
    CU_ASSERT(h2d >= (b.tier_hit_tokens[0] + b.tier_hit_tokens[1]) * 131072.0 - 1);
    metrics_free(m0);
    metrics_free(m2);
    scenario_free(s0);
    scenario_free(s2);
}

/* Layer-by-layer fetch hides transfer time behind compute, and prefetch at
 * arrival moves the wait off the GPU (into the request's queueing): both
 * stall the GPU less than fetching on demand. */
static void test_fetch_modes(void)
{
    char *layer[] = { "kv_policy.fetch=layerwise" }, *pre[] = { "kv_policy.fetch=prefetch" };
    scenario *sd, *sl, *sp;
    metrics *md = run(NULL, 0, &sd), *ml = run(layer, 1, &sl), *mp = run(pre, 1, &sp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(md);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mp);
    metrics_summary d, l, p;
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(md, &sd->slo, &sd->cost, &d, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(ml, &sl->slo, &sl->cost, &l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(metrics_summarize(mp, &sp->slo, &sp->cost, &p, NULL), 0);
    CU_ASSERT(l.stall_s < d.stall_s);
    CU_ASSERT(p.stall_s < d.stall_s);
    CU_ASSERT(p.queue_ns.mean > d.queue_ns.mean);
    CU_ASSERT_EQUAL(p.completed, 160);
    metrics_free(md);
    metrics_free(ml);
    metrics_free(mp);
    scenario_free(sd);
    scenario_free(sl);
    scenario_free(sp);
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    kt_err err;
    m8 = model_load(tu_path("models/llama-3.1-8b.yaml"), &err);
    h100 = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    if (!m8 || !h100) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "block bytes per precision", test_block_bytes_per_precision },
        { "the check of what changed in a store", test_check_touched_store },
        { "a store's index grows with it, its entries stop at the capacity, LRU order by hand", test_store_grows_to_capacity },
        { "blocks conserved across tiers under random offload and lookup", test_conservation_under_random_ops },
        { "fetch-or-recompute flips at the closed-form bandwidth", test_fetch_or_recompute_crossover },
        { "dequantization and sync I/O in the fetch estimate", test_dequant_and_sync_estimates },
        { "tiers cut TTFT, invariants checked after every event", test_tiers_cut_ttft },
        { "demand, layer-by-layer and speculative fetch", test_fetch_modes },
        { "fetch policy decisions", test_fetch_policy_table },
        { "attention inside a storage tier, one layer by hand", test_attention_in_storage_layer },
        { "topology: a shared switch, a C2C tier", test_topology_shared_switch_and_c2c },
        { "topology: an unknown shared link", test_topology_errors },
        { "a remote tier's NIC at the profile's efficiency, by hand", test_remote_tier_nic_efficiency },
        { "queue depth: sync, async depth 1 and 4, by hand", test_queue_depth_sync_async },
        { "PCIe duplex: both directions share the total, one alone runs full", test_pcie_duplex_share },
        { NULL, NULL },
    };
    int rc = tu_run("tier", tests);
    model_free(m8);
    hw_free(h100);
    return rc;
}
