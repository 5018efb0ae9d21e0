/* fabric.h — links and the transfers that cross them: flows share each link's bandwidth max-min fairly and re-plan when one starts or ends. */
#ifndef KT_FABRIC_H
#define KT_FABRIC_H

#include <stdint.h>

#include "engine.h"
#include "err.h"
#include "timeline.h"

#define FABRIC_MAX_PATH 6

typedef struct fabric fabric;

/* Called when a transfer has delivered its last byte. */
typedef void (*fabric_done_fn)(void *ud, uint64_t tag, int64_t now_ns);

/* One link, one direction.
 * Invariants: bw_Bps > 0; n_active is the number of active flows crossing
 * it; the sum of their rates never exceeds bw_Bps (checked by fabric_check). */
typedef struct fabric_link {
    char name[32];
    double bw_Bps;
    double bytes_moved;         /* delivered through this link so far */
    int n_active;
} fabric_link;

/* Creates a fabric on eng with room for max_links links and max_flows
 * flows in flight (it grows if needed). Caller frees with fabric_free. */
fabric *fabric_new(engine *eng, int max_links, int max_flows);
void fabric_free(fabric *f);

/* Adds a link; returns its index, or -1 when bw_Bps is not positive. */
int fabric_add_link(fabric *f, const char *name, double bw_Bps);
int fabric_n_links(const fabric *f);
const fabric_link *fabric_link_at(const fabric *f, int i);

/* How a transfer of several operations moves (names in fabric_io_names). */
typedef enum fabric_io { FABRIC_IO_ASYNC = 0, FABRIC_IO_SYNC = 1 } fabric_io;
extern const char *const fabric_io_names[];

/* Moves n_ops operations of op_bytes each along path (link indices).
 * FABRIC_IO_ASYNC: the operations go as one stream: one setup_ns, then
 * n_ops × op_bytes bytes at the path's max-min fair rate. FABRIC_IO_SYNC:
 * one operation at a time, each paying setup_ns before its bytes move.
 * rate_cap_Bps > 0 limits the flow's own rate (an IOPS limit, say).
 * done(ud, tag, t) runs when the last byte arrives. Returns 0, or -1 if
 * the path is empty or names no link. */
int fabric_transfer(fabric *f, const int *path, int path_len, int64_t n_ops, double op_bytes,
                    int64_t setup_ns, fabric_io io, double rate_cap_Bps, fabric_done_fn done, void *ud,
                    uint64_t tag);

/* Writes every transfer that ends from now on to tl (not owned; NULL: none)
 * as slices of process pid, one per link it crossed. */
void fabric_set_timeline(fabric *f, timeline *tl, int pid);

/* Flows currently moving bytes (past their setup). */
int fabric_active_flows(const fabric *f);
/* Brings every link's byte counters up to now (before sampling them). */
void fabric_sync(fabric *f);

/* Checks link capacities against the flows' rates and the flow records. */
int fabric_check(const fabric *f, kt_err *err);

#endif
