/* linkcost.c — achieved NIC rate, PCIe duplex total and queue-depth throughput, from a hardware profile's link figures. */
#include "linkcost.h"

double linkcost_nic_Bps(const hw_profile *hw, double line_Bps) { return line_Bps * hw->eff_nic; }

double linkcost_pcie_duplex_Bps(const hw_profile *hw, double pcie_Bps)
{
    return pcie_Bps * (hw->pcie_duplex_bw_Bps / hw->pcie_bw_Bps);
}

double linkcost_queue_Bps(double op_bytes, int64_t op_ns, double path_Bps, int depth)
{
    if (!(op_bytes > 0) || !(path_Bps > 0) || depth < 1)
        return 0;
    /* Little's law: depth operations in flight, each op_ns + its bytes' time long. */
    return depth * op_bytes / ((double)op_ns / 1e9 + op_bytes / path_Bps);
}
