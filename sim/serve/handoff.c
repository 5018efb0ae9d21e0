/* handoff.c — disaggregated serving: a prefilled prompt's KV moves from its prefill replica to a decode replica over the network. */
#include "serve_internal.h"

#include <stddef.h>

#include "linkcost.h"

void replica_set_role(replica *r, replica_role role, serve_prefilled_fn on_prefilled, fabric *net,
                      int nic_out, int nic_in, int64_t setup_ns, int64_t op_ns)
{
    r->disagg.net_op_ns = op_ns;
    r->disagg.role = role;
    r->disagg.on_prefilled = on_prefilled;
    r->disagg.net = net;
    r->disagg.nic_out = nic_out;
    r->disagg.nic_in = nic_in;
    r->disagg.net_setup_ns = setup_ns;
}

/* q's prompt KV is ready to leave: its blocks stay here, in src_seq, until
 * the transfer has moved them; q->seq is left empty for the decode side. */
void handoff_out(replica *r, serve_req *q, int64_t now)
{
    kv_seq empty = q->src_seq;
    q->src_seq = q->seq;
    q->seq = empty;
    q->src_rep = r;
    q->out_next = r->disagg.out_head;
    r->disagg.out_head = q;
    r->disagg.n_out++;
    q->handoff_start_ns = now;
    q->rec.prefill_replica = r->id;
    r->disagg.on_prefilled(r->ud, q, now);
}

/* Unlinks q from a list threaded through the field at offset link. */
static void list_remove(serve_req **head, serve_req *q, size_t link)
{
    for (serve_req **p = head; *p; p = (serve_req **)((char *)*p + link))
        if (*p == q) {
            *p = *(serve_req **)((char *)q + link);
            return;
        }
}

/* The prefill replica frees the blocks q's KV left from. */
void handoff_src_release(serve_req *q)
{
    replica *p = q->src_rep;
    if (!p)
        return;
    kv_seq_release(p->kv, &q->src_seq);
    list_remove(&p->disagg.out_head, q, offsetof(serve_req, out_next));
    p->disagg.n_out--;
    q->src_rep = NULL;
}

static void on_handoff_done(void *ud, uint64_t tag, int64_t now)
{
    serve_req *q = ud;
    replica *p = q->src_rep, *d = q->rep;
    (void)tag;
    list_remove(&d->disagg.in_head, q, offsetof(serve_req, in_next));
    d->disagg.n_inbound--;
    q->in_flight = 0;
    if (p->failure.failed) {
        /* The sender died before its last byte: the KV is nowhere whole. */
        kv_seq_release(d->kv, &q->seq);
        handoff_src_release(q);
        q->handoff = 0;
        failure_lose(p, q);
        if (!d->failure.failed && !d->step.busy)
            replica_on_step_end(d->eng, d, 0);
        return;
    }
    if (d->failure.failed) {
        /* The receiver died: the KV is still on p; another decode replica takes it. */
        kv_seq_release(d->kv, &q->seq);
        p->disagg.on_prefilled(p->ud, q, now);
        return;
    }
    handoff_src_release(q);
    q->handoff = 0;
    q->rec.kv_transfer_ns += now - q->handoff_start_ns;
    replica_sync(d);
    d->queue.running[d->queue.n_running++] = q;
    replica_step_if_idle(d);
    replica_step_if_idle(p);
}

/* Reserves d's blocks and a running slot for q's KV and starts moving it;
 * -1 when d has no room now. Runs between d's steps only, so a planned
 * multi-step run never finds its blocks taken. */
static int handoff_start(replica *d, serve_req *q)
{
    if (d->queue.n_running + d->disagg.n_inbound >= d->cfg.max_running ||
        kv_seq_reserve(d->kv, &q->seq, serve_req_kv_tokens(q)) < 0)
        return -1;
    q->in_next = d->disagg.in_head;
    d->disagg.in_head = q;
    d->disagg.n_inbound++;
    q->in_flight = 1;
    handoff_kv_send(q->src_rep, d, serve_req_kv_tokens(q), on_handoff_done, q, 0);
    return 0;
}

void handoff_kv_send(const replica *from, const replica *to, int64_t tokens, fabric_done_fn done, void *ud,
                     uint64_t tag)
{
    fabric *net = from->disagg.net;
    int path[2] = { from->disagg.nic_out, to->disagg.nic_in };
    double out_Bps = fabric_link_at(net, path[0])->bw_Bps, in_Bps = fabric_link_at(net, path[1])->bw_Bps;
    int64_t ops = kv_token_blocks_for(from->kv, tokens);
    ops = ops > 0 ? ops : 1;
    double op_bytes = replica_kv_bytes(from, tokens) / (double)ops;
    double cap = linkcost_queue_Bps(op_bytes, from->disagg.net_op_ns, out_Bps < in_Bps ? out_Bps : in_Bps,
                                    LINKCOST_QUEUE_DEPTH_DEFAULT);
    /* The path is valid: replica_set_role gave both ends links of net. */
    fabric_transfer(net, path, 2, ops, op_bytes, from->disagg.net_setup_ns + from->disagg.net_op_ns,
                    FABRIC_IO_ASYNC, cap, done, ud, tag);
}

void replica_handoff(replica *d, serve_req *q)
{
    q->rep = d;
    replica_queue_push_back(&d->disagg.in_wait_head, &d->disagg.in_wait_tail, &d->disagg.n_in_wait, q);
    /* d takes it at its next step boundary. */
    replica_sync(d);
    replica_step_if_idle(d);
}

/* Starts the queued handoffs that fit now, in order. */
void handoff_drain(replica *d)
{
    while (d->disagg.in_wait_head) {
        serve_req *q = d->disagg.in_wait_head, *next = q->next;
        if (handoff_start(d, q) < 0)
            return;
        d->disagg.in_wait_head = next;
        if (!next)
            d->disagg.in_wait_tail = NULL;
        d->disagg.n_in_wait--;
        q->next = NULL;
    }
}
