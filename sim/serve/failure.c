/* failure.c — a replica's node fails: the requests it held start again elsewhere, KV in flight is settled when its transfer ends. */
#include "serve_internal.h"

/* q's KV at r is gone: the tokens it had are computed again wherever it
 * goes next. Handed to on_lost now, or when its tier transfers end. */
void failure_lose(replica *r, serve_req *q)
{
    replica_req_drop_kv(r, q);
    q->tier_recompute_until = 0;
    q->prefetch_slot = -1;
    q->rec.reroutes++;
    if (q->fetching) {
        q->lost = 1;
        return;
    }
    r->failure.on_lost(r->ud, q, engine_now(r->eng));
}

void replica_fail(replica *r, serve_done_fn on_lost)
{
    int64_t now = engine_now(r->eng);
    /* Steps of a multi-step run that ended by now did happen. */
    if (r->step.busy && r->step.wait == WAIT_NONE) {
        replica_apply_until(r, now);
        engine_cancel(r->eng, r->step.ev);
    }
    r->failure.failed = 1;
    r->failure.on_lost = on_lost;
    r->step.busy = 0;
    r->step.wait = WAIT_NONE;
    r->step.n_batch = 0;
    r->fetch.n_pending = 0;
    r->swap.n_pending = 0;
    sparse_lose_all(r);
    for (int i = 0; i < SERVE_MAX_PREFETCHES; i++)
        if (r->fetch.prefetches[i].waiter) {
            r->fetch.prefetches[i].waiter->prefetch_slot = -1;
            r->fetch.prefetches[i].waiter = NULL;
        }
    /* Detach everything first: on_lost hands requests to other replicas. */
    int n_run = r->queue.n_running;
    serve_req *wait = r->queue.wait_head, *in_wait = r->disagg.in_wait_head;
    r->queue.n_running = r->queue.n_waiting = r->disagg.n_in_wait = 0;
    r->queue.wait_head = r->queue.wait_tail = r->disagg.in_wait_head = r->disagg.in_wait_tail = NULL;
    for (int i = 0; i < n_run; i++)
        failure_lose(r, r->queue.running[i]);
    for (serve_req *q = wait, *next; q; q = next) {
        next = q->next;
        failure_lose(r, q);
    }
    swap_lose_all(r);
    /* Handoffs waiting here still have their KV on the prefill side. */
    for (serve_req *q = in_wait, *next; q; q = next) {
        next = q->next;
        q->next = NULL;
        r->disagg.on_prefilled(r->ud, q, now);
    }
    /* KV this replica was to send and had not started: lost with it. */
    for (serve_req *q = r->disagg.out_head, *next; q; q = next) {
        next = q->out_next;
        if (q->in_flight)
            continue;           /* settled when the transfer ends */
        replica *d = q->rep;
        replica_queue_remove(&d->disagg.in_wait_head, &d->disagg.in_wait_tail, &d->disagg.n_in_wait, q);
        handoff_src_release(q);
        q->handoff = 0;
        failure_lose(r, q);
    }
}
