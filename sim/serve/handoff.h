/* handoff.h — disaggregated serving: prefill and decode replicas, and the KV handoff between them. */
#ifndef KT_HANDOFF_H
#define KT_HANDOFF_H

#include "replica.h"

/* Makes r one side of disaggregated serving. Prefill: after its first
 * token a request stays here only until its KV has left; on_prefilled
 * names the decode replica. Decode: takes requests from replica_handoff.
 * net (not owned) carries the KV, from the prefill replica's nic_out to
 * the decode replica's nic_in: setup_ns per transfer, op_ns per block
 * operation. */
void replica_set_role(replica *r, replica_role role, serve_prefilled_fn on_prefilled, fabric *net,
                      int nic_out, int nic_in, int64_t setup_ns, int64_t op_ns);
/* Moves the KV of tokens tokens from replica from to replica to over their
 * NICs (handoff and migration alike): one block operation per token block,
 * LINKCOST_QUEUE_DEPTH_DEFAULT of them in flight, after one setup (the
 * transfer's and its first operation's). done(ud, tag, t) runs when the
 * last byte has arrived. Nothing is owned; both replicas have roles. */
void handoff_kv_send(const replica *from, const replica *to, int64_t tokens, fabric_done_fn done, void *ud,
                     uint64_t tag);
/* Hands q, prefilled on q->rep (a prefill replica), to decode replica d:
 * d reserves blocks for the prompt's KV (or queues q until it can), the
 * KV crosses the network, then q joins d's batch; the prefill replica
 * frees its blocks when the last byte has left. */
void replica_handoff(replica *d, serve_req *q);

#endif
