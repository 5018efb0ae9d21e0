/* test_fabric.c — flows over links: setup latency, max-min fair sharing, re-planning when flows end, sync against async I/O. */
#include <math.h>

#include "engine.h"
#include "fabric.h"
#include "testutil.h"

#define NFLOWS 8
static int64_t done_at[NFLOWS];

static void on_done(void *ud, uint64_t tag, int64_t now) { done_at[tag] = now; }

static void reset(void)
{
    for (int i = 0; i < NFLOWS; i++)
        done_at[i] = -1;
}

/* ceil(bytes / bw) in ns, as the fabric rounds a completion up. */
static int64_t ns_for(double bytes, double bw) { return (int64_t)ceil(bytes * 1e9 / bw); }

static void test_one_flow_alone(void)
{
    engine *e = engine_new(16);
    fabric *f = fabric_new(e, 4, 4);
    int l = fabric_add_link(f, "pcie", 50e9);
    reset();
    /* 8 µs setup + 1 GB at 50 GB/s = 8 µs + 20 ms. */
    CU_ASSERT_EQUAL(fabric_transfer(f, &l, 1, 1, 1e9, 8000, FABRIC_IO_ASYNC, 0, on_done, NULL, 0), 0);
    engine_run(e, INT64_MAX);
    CU_ASSERT_EQUAL(done_at[0], 8000 + 20000000);
    CU_ASSERT_DOUBLE_EQUAL(fabric_link_at(f, l)->bytes_moved, 1e9, 1e-3);
    fabric_free(f);
    engine_free(e);
}

static void test_two_equal_flows_share_then_speed_up(void)
{
    engine *e = engine_new(16);
    fabric *f = fabric_new(e, 4, 4);
    int l = fabric_add_link(f, "nic", 10e9);
    reset();
    /* A: 1 GB, B: 3 GB, both start at 0 with no setup. Sharing 10 GB/s,
     * each gets 5 GB/s; A ends at 1 GB / 5 GB/s = 200 ms having let B move
     * 1 GB; B's last 2 GB then go at 10 GB/s: 200 ms more, B ends at 400 ms. */
    fabric_transfer(f, &l, 1, 1, 1e9, 0, FABRIC_IO_ASYNC, 0, on_done, NULL, 0);
    fabric_transfer(f, &l, 1, 1, 3e9, 0, FABRIC_IO_ASYNC, 0, on_done, NULL, 1);
    engine_step(e);
    engine_step(e);
    kt_err err;
    CU_ASSERT_EQUAL(fabric_check(f, &err), 0);
    CU_ASSERT_EQUAL(fabric_active_flows(f), 2);
    engine_run(e, INT64_MAX);
    CU_ASSERT_EQUAL(done_at[0], 200000000);
    CU_ASSERT(llabs(done_at[1] - 400000000) <= 1);
    fabric_free(f);
    engine_free(e);
}

static void test_max_min_leaves_the_rest(void)
{
    engine *e = engine_new(16);
    fabric *f = fabric_new(e, 4, 4);
    int a = fabric_add_link(f, "shared", 10e9), b = fabric_add_link(f, "slow", 2e9);
    reset();
    /* Flow 0 crosses shared and slow: limited to 2 GB/s by slow. Flow 1
     * crosses shared only: max-min gives it the remaining 8 GB/s, not 5.
     * 8 GB for flow 1 takes 1 s; 2 GB for flow 0 takes 1 s. */
    int p0[] = { a, b };
    fabric_transfer(f, p0, 2, 1, 2e9, 0, FABRIC_IO_ASYNC, 0, on_done, NULL, 0);
    fabric_transfer(f, &a, 1, 1, 8e9, 0, FABRIC_IO_ASYNC, 0, on_done, NULL, 1);
    engine_run(e, INT64_MAX);
    CU_ASSERT(llabs(done_at[0] - 1000000000) <= 1);
    CU_ASSERT(llabs(done_at[1] - 1000000000) <= 1);
    /* A rate cap acts like a private bottleneck: capped at 1 GB/s, flow 2
     * leaves 9 GB/s to flow 3 on a 10 GB/s link. */
    fabric_transfer(f, &a, 1, 1, 1e9, 0, FABRIC_IO_ASYNC, 1e9, on_done, NULL, 2);
    fabric_transfer(f, &a, 1, 1, 9e9, 0, FABRIC_IO_ASYNC, 0, on_done, NULL, 3);
    int64_t t0 = engine_now(e);
    engine_run(e, INT64_MAX);
    CU_ASSERT(llabs(done_at[2] - t0 - 1000000000) <= 1);
    CU_ASSERT(llabs(done_at[3] - t0 - 1000000000) <= 1);
    fabric_free(f);
    engine_free(e);
}

static void test_sync_against_async(void)
{
    engine *e = engine_new(16);
    fabric *f = fabric_new(e, 4, 4);
    int l = fabric_add_link(f, "gds", 25e9);
    reset();
    /* 1,000 blocks of 64 KiB with a 20 µs call overhead. Sync: each call in
     * series: 1000 × (20 µs + 65,536 B / 25 GB/s). Async: one overhead,
     * then 65.5 MB at 25 GB/s. */
    const double block = 65536;
    fabric_transfer(f, &l, 1, 1000, block, 20000, FABRIC_IO_SYNC, 0, on_done, NULL, 0);
    engine_run(e, INT64_MAX);
    CU_ASSERT_EQUAL(done_at[0], 1000 * (20000 + ns_for(block, 25e9)));
    int64_t t0 = engine_now(e);
    fabric_transfer(f, &l, 1, 1000, block, 20000, FABRIC_IO_ASYNC, 0, on_done, NULL, 1);
    engine_run(e, INT64_MAX);
    CU_ASSERT_EQUAL(done_at[1] - t0, 20000 + ns_for(1000 * block, 25e9));
    /* Async approaches bytes / bandwidth: the overhead is under 1% here. */
    CU_ASSERT(done_at[1] - t0 < 1.01 * 1000 * block / 25e9 * 1e9);
    fabric_free(f);
    engine_free(e);
}

int main(void)
{
    static const tu_test tests[] = {
        { "one flow alone: latency + bytes / bandwidth", test_one_flow_alone },
        { "two equal flows share, then one speeds up", test_two_equal_flows_share_then_speed_up },
        { "max-min: a flow limited elsewhere leaves the rest", test_max_min_leaves_the_rest },
        { "sync reads against async reads", test_sync_against_async },
        { NULL, NULL },
    };
    return tu_run("fabric", tests);
}
