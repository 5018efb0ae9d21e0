/* serve_internal.h — what the serve layer's files share with one another and keep from their callers. */
#ifndef KT_SERVE_INTERNAL_H
#define KT_SERVE_INTERNAL_H

#include "serve.h"

/* Tokens of q whose KV is in HBM (retention may have removed some, and
 * sparse attention moved some to a tier). */
static inline int64_t serve_req_kv_tokens(const serve_req *q)
{
    return q->computed - q->retention_dropped_tokens - q->remote_tokens - q->sparse.freed_tokens;
}

/* Tokens q's decode attends over: those in HBM and those whose sparse
 * layers' KV lies in a tier (their selected pages come up each step). */
static inline int64_t serve_req_attn_tokens(const serve_req *q)
{
    return serve_req_kv_tokens(q) + q->sparse.freed_tokens;
}

/* replica.c */

/* Engine callback (ctx: the replica): a planned run ended, or the replica
 * is idle and has something new. Applies what ended and plans the next run. */
void replica_on_step_end(engine *eng, void *ctx, uint64_t arg);
/* Applies the steps of the run that ended at or before now. */
void replica_apply_until(replica *r, int64_t now);
/* The last KV a waiting step needed has arrived at now: the step starts or ends. */
void replica_resume_after_fetch(replica *r, int64_t now);
/* q leaves r (its KV released) with outcome; metrics take the record and
 * on_done the request. */
void replica_req_leave(replica *r, serve_req *q, metrics_outcome outcome, int64_t now);
/* q's KV at r is freed (preempted, or its replica failed): the tokens it
 * had are computed again, counted as waste, wherever it runs next. */
void replica_req_drop_kv(replica *r, serve_req *q);
/* Appends q to the queue (head, tail, count n) linked through next. */
void replica_queue_push_back(serve_req **head, serve_req **tail, int *n, serve_req *q);
/* Unlinks q from the queue (head, tail, count n) linked through next. */
void replica_queue_remove(serve_req **head, serve_req **tail, int *n, serve_req *q);

/* Tokens q may compute this step within budget; 0 when it must wait. */
int64_t replica_step_tokens(const replica *r, const serve_req *q, int64_t budget);
/* q joins the step's batch computing tokens (its waste worked out here). */
void replica_batch_add(replica *r, serve_req *q, int64_t tokens);
/* Puts q at the head of the waiting queue (a preempted sequence goes first). */
void replica_wait_push_front(replica *r, serve_req *q);
/* Unlinks q, whose predecessor in the waiting queue is prev (NULL at the head). */
void replica_wait_remove(replica *r, serve_req *prev, serve_req *q);

/* Plans r's next run now when it is idle (something it waited for arrived). */
static inline void replica_step_if_idle(replica *r)
{
    if (!r->step.busy)
        replica_on_step_end(r->eng, r, 0);
}

/* fetch.c */

/* After q's HBM prefix is attached at r: how much of the rest of its
 * prompt the lower tiers hold, and whether to fetch it (tokens returned,
 * blocks per tier in q->fetch_blocks) or recompute it (0 returned). */
int64_t fetch_tier_admit(replica *r, serve_req *q);
/* Starts fetching what fetch_tier_admit chose; q's KV counts as present,
 * the step that uses it waits for it. */
void fetch_start(replica *r, serve_req *q, int64_t tokens, int64_t now);

/* handoff.c */

/* q's prompt KV, prefilled on r, is ready to leave for a decode replica. */
void handoff_out(replica *r, serve_req *q, int64_t now);
/* Starts the handoffs queued at decode replica d that fit now, in order. */
void handoff_drain(replica *d);
/* The prefill replica frees the blocks q's KV left from (none: no-op). */
void handoff_src_release(serve_req *q);

/* retention.c */

/* q's prompt is in at r: retention keeps part of its KV in HBM. */
void retention_apply(replica *r, serve_req *q);

/* swap.c */

/* Finds r's host tier and sizes its swap space (after its tiers are set). */
void swap_init(replica *r);
/* v, just taken out of running, has its KV copied to host memory and
 * waits in r's swapped list (0), or -1 when swapping is off or cannot
 * take it (the caller frees its KV to recompute). */
int swap_out(replica *r, serve_req *v);
/* Swapped sequences, oldest first, rejoin the running set and this step's
 * batch while slots, *budget and HBM blocks allow; their KV is copied back
 * before the step starts. */
void swap_in_ready(replica *r, int64_t *budget);
/* r failed: its swapped sequences go to on_lost to start again elsewhere. */
void swap_lose_all(replica *r);
/* KV copies, fetches, swaps or sparse attention's pages, the planned step waits for. */
static inline int replica_kv_pending(const replica *r)
{
    return r->fetch.n_pending + r->swap.n_pending + r->sparse.n_pending;
}
/* A copy the planned step may wait for ended at now (its counter already
 * lowered): once none is left, the waiting step starts, or an idle
 * replica plans one. */
void replica_kv_landed(replica *r, int64_t now);

/* failure.c */

/* q's KV at failed replica r is gone: q goes to r's on_lost now, or when
 * its tier transfers end. */
void failure_lose(replica *r, serve_req *q);

#endif
