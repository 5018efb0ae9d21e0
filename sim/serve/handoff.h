/* handoff.h — disaggregated serving: prefill and decode replicas, and the KV handoff between them. */
#ifndef KT_HANDOFF_H
#define KT_HANDOFF_H

#include "replica.h"

/* Makes r one side of disaggregated serving. Prefill: after its first
 * token a request stays here only until its KV has left; on_prefilled
 * names the decode replica. Decode: takes requests from replica_handoff.
 * net carries the KV, from the prefill replica's nic_out to the decode
 * replica's nic_in, setup_ns per transfer. */
void replica_set_role(replica *r, replica_role role, serve_prefilled_fn on_prefilled, fabric *net,
                      int nic_out, int nic_in, int64_t setup_ns);
/* Hands q, prefilled on q->rep (a prefill replica), to decode replica d:
 * d reserves blocks for the prompt's KV (or queues q until it can), the
 * KV crosses the network, then q joins d's batch; the prefill replica
 * frees its blocks when the last byte has left. */
void replica_handoff(replica *d, serve_req *q);

#endif
