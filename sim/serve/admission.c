/* admission.c — admission and preemption policies behind one dispatch; today vLLM's admit-while-free, preempt-newest-by-recompute. */
#include "serve_internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *const admission_policy_names[ADMISSION_POLICY_COUNT + 1] = { "preempt_newest", NULL };

/* The newest running sequence yields its blocks: its KV is freed and
 * computed again (counted as waste) when it is admitted anew, ahead of
 * every other waiting request. */
static void preempt_newest(replica *r)
{
    serve_req *v = r->queue.running[--r->queue.n_running];
    replica_req_drop_kv(r, v);
    v->rec.preemptions++;
    replica_wait_push_front(r, v);
}

/* Gives running sequences their tokens, preempting the newest when blocks
 * run out. Returns 1 if anything was preempted. */
static int schedule_running(replica *r, int64_t *budget)
{
    int preempted = 0;
    for (int i = 0; i < r->queue.n_running && *budget > 0; i++) {
        serve_req *q = r->queue.running[i];
        int64_t x = replica_step_tokens(r, q, *budget);
        if (x <= 0)
            continue;
        int self = 0;
        while (kv_seq_reserve(r->kv, &q->seq, serve_req_kv_tokens(q) + x) < 0) {
            self = r->queue.n_running - 1 == i;
            preempt_newest(r);
            preempted = 1;
            if (self)
                break;
        }
        if (self)
            break;
        replica_batch_add(r, q, x);
        *budget -= x;
    }
    return preempted;
}

/* Admits q (in the waiting queue) into this step, or returns -1 when the
 * budget or the blocks do not allow it. */
static int admit(replica *r, serve_req *q, int64_t *budget, int64_t now)
{
    q->computed = kv_seq_attach_prefix(r->kv, &q->seq, &q->content, q->num_tokens);
    if (!q->admitted)
        q->rec.prefix_hit_tokens = q->computed;
    q->remote_tokens = 0;
    int64_t fetched = r->tiers ? fetch_tier_admit(r, q) : 0;
    q->computed += fetched + q->remote_tokens;
    int64_t x = replica_step_tokens(r, q, *budget);
    if (x <= 0 || kv_seq_reserve(r->kv, &q->seq, serve_req_kv_tokens(q) + x) < 0) {
        kv_seq_release(r->kv, &q->seq);
        q->computed = 0;
        q->remote_tokens = 0;
        return -1;
    }
    if (q->remote_tokens) {
        /* HBM holds what follows a gap now: its blocks are not prefix content. */
        q->seq.sealed = 1;
        q->rec.in_storage_tokens += q->remote_tokens;
    }
    q->computed -= fetched;
    if (fetched)
        fetch_start(r, q, fetched, now);
    if (q->tier_recompute_until > q->computed)
        q->rec.tier_recomputed_tokens += q->tier_recompute_until - q->computed;
    q->admitted = 1;
    if (q->rec.first_sched_ns < 0)
        q->rec.first_sched_ns = now;
    r->queue.running[r->queue.n_running++] = q;
    replica_batch_add(r, q, x);
    *budget -= x;
    return 0;
}

/* Admits waiting requests in arrival order while room remains; requests
 * whose prefetch is still in flight keep their place and are passed over. */
static void schedule_waiting(replica *r, int64_t *budget, int64_t now)
{
    serve_req *prev = NULL, *q = r->queue.wait_head;
    while (q && r->queue.n_running + r->disagg.n_inbound < r->cfg.max_running && *budget > 0) {
        serve_req *next = q->next;
        if (q->prefetch_slot >= 0) {
            prev = q;
        } else if (admit(r, q, budget, now) == 0) {
            replica_wait_remove(r, prev, q);
        } else {
            break;
        }
        q = next;
    }
}

void admission_fill_batch(replica *r, int64_t *budget, int64_t now)
{
    switch (r->cfg.admission) {
    case ADMISSION_PREEMPT_NEWEST:
        if (!schedule_running(r, budget))
            schedule_waiting(r, budget, now);
        return;
    case ADMISSION_POLICY_COUNT:
        break;
    }
    fprintf(stderr, "kvtier: admission: no policy %d\n", (int)r->cfg.admission);
    abort();
}
