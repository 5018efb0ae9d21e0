/* test_linkcost.c — links costed as measured: the achieved NIC rate, the PCIe duplex total and a queue's throughput by hand, and the shipped NIC fit against the published RDMA block transfers it came from. */
#include <math.h>
#include <stdlib.h>

#include "hw.h"
#include "linkcost.h"
#include "testutil.h"

/* Equal to a part in 10^9: the arithmetic is a product or two. */
#define ASSERT_NEAR(actual, expected) \
    CU_ASSERT_DOUBLE_EQUAL((actual), (expected), fabs((double)(expected)) * 1e-9)

static hw_profile *h100, *a100;

/* h100-sxm.yaml: nic_efficiency 0.89 of its 50 GB/s NIC = 44.5 GB/s; an
 * A100's 25 GB/s (200 Gb/s HDR) at the same 0.89 = 22.25 GB/s. */
static void test_nic_rate(void)
{
    ASSERT_NEAR(linkcost_nic_Bps(h100, 50e9), 44.5e9);
    ASSERT_NEAR(linkcost_nic_Bps(a100, 25e9), 22.25e9);
}

/* a100-sxm-80gb.yaml: 27.5 GB/s one way, 36 GB/s both ways (nvbandwidth
 * issues #11, #53). A scenario's 20 GB/s PCIe keeps the proportion:
 * 20 × 36 / 27.5 = 26.18 GB/s; h100-sxm: 55 → 77.6 GB/s. */
static void test_pcie_duplex(void)
{
    ASSERT_NEAR(linkcost_pcie_duplex_Bps(a100, 27.5e9), 36e9);
    ASSERT_NEAR(linkcost_pcie_duplex_Bps(a100, 20e9), 20e9 * 36 / 27.5);
    ASSERT_NEAR(linkcost_pcie_duplex_Bps(h100, 55e9), 77.6e9);
}

/* 1 MB operations costing 100 µs each plus 1 MB / 10 GB/s = 100 µs of
 * bytes: one in flight sustains 1 MB / 200 µs = 5 GB/s, four 20 GB/s. */
static void test_queue_rate(void)
{
    ASSERT_NEAR(linkcost_queue_Bps(1e6, 100000, 10e9, 1), 5e9);
    ASSERT_NEAR(linkcost_queue_Bps(1e6, 100000, 10e9, 4), 20e9);
    /* Nothing to limit: no rate. */
    CU_ASSERT_EQUAL(linkcost_queue_Bps(0, 100000, 10e9, 4), 0);
    CU_ASSERT_EQUAL(linkcost_queue_Bps(1e6, 100000, 10e9, 0), 0);
}

/* The fit behind nic_efficiency and nic_op_latency, one operation in flight
 * over a 400 Gb/s port, against the Mooncake transfer_engine_bench figures
 * it was fitted to (validation/sources/kernels.yaml, links: one ConnectX-7
 * 400G port, 1 thread): within 5% from 16 KiB to 256 KiB. */
static void test_nic_fit_matches_measurement(void)
{
    static const struct { double kib, GBps; } measured[] = {
        { 16, 23.42 }, { 32, 31.58 }, { 64, 38.39 }, { 128, 40.11 }, { 256, 40.71 },
    };
    for (size_t i = 0; i < sizeof measured / sizeof measured[0]; i++) {
        double s = measured[i].kib * 1024;
        double fit = linkcost_queue_Bps(s, h100->nic_op_ns, linkcost_nic_Bps(h100, 50e9), 1);
        CU_ASSERT(fabs(fit / (measured[i].GBps * 1e9) - 1) < 0.05);
    }
}

int main(void)
{
    kt_err err;
    h100 = hw_load(tu_path("hwprofiles/h100-sxm.yaml"), &err);
    a100 = h100 ? hw_load(tu_path("hwprofiles/a100-sxm-80gb.yaml"), &err) : NULL;
    if (!h100 || !a100) {
        kt_err_print(&err, stderr);
        return 1;
    }
    static const tu_test tests[] = {
        { "achieved NIC rate from the profile's efficiency", test_nic_rate },
        { "PCIe duplex total from the profile's proportion", test_pcie_duplex },
        { "queue of operations: depth 1 and 4 by hand", test_queue_rate },
        { "NIC fit within 5% of the RDMA block measurements", test_nic_fit_matches_measurement },
        { NULL, NULL },
    };
    int rc = tu_run("linkcost", tests);
    hw_free(h100);
    hw_free(a100);
    return rc;
}
