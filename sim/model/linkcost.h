/* linkcost.h — links costed as measurements show them: the achieved rate of a NIC path, PCIe's two directions sharing one total, and the throughput a queue of operations sustains. */
#ifndef KT_LINKCOST_H
#define KT_LINKCOST_H

#include <stdint.h>

#include "hw.h"

/* Operations a transfer keeps in flight when nothing says otherwise: gdsio
 * reached a GPU's PCIe limit (24.3 GiB/s at 8 MiB reads) with 4 workers per
 * GPU, one outstanding read each (gds-report.pages.dev, "gdsio - local NVMe";
 * validation/sources/kernels.yaml, links). */
#define LINKCOST_QUEUE_DEPTH_DEFAULT 4

/* Achieved rate of a NIC path whose line rate is line_Bps: line ×
 * hw->nic_efficiency. Every RDMA path (remote tiers, the prefill→decode
 * handoff, migration, the fleet's shared pool) takes its rate from here. */
double linkcost_nic_Bps(const hw_profile *hw, double line_Bps);

/* Total of both directions of a host link of pcie_Bps per direction while
 * both are busy: pcie_Bps × the profile's duplex / one-way ratio (a
 * scenario's own links.pcie keeps the profile's proportion). */
double linkcost_pcie_duplex_Bps(const hw_profile *hw, double pcie_Bps);

/* Rate a queue of depth operations of op_bytes each sustains when every one
 * costs op_ns plus op_bytes / path_Bps: depth × op_bytes / (op_ns + op_bytes
 * / path_Bps). Bytes per second; 0 when an argument is not positive (no
 * limit). */
double linkcost_queue_Bps(double op_bytes, int64_t op_ns, double path_Bps, int depth);

#endif
