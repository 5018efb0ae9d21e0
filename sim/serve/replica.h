/* replica.h — a replica (one model copy on a tensor-parallel GPU group), the requests it serves and its continuous-batching scheduler. */
#ifndef KT_REPLICA_H
#define KT_REPLICA_H

#include <stdint.h>

#include "admission.h"
#include "cost.h"
#include "engine.h"
#include "err.h"
#include "fabric.h"
#include "kv.h"
#include "metrics.h"
#include "sparse.h"
#include "spec.h"
#include "tier.h"
#include "timeline.h"

/* What a replica does with a prompt longer than the model's context. */
typedef enum { TOO_LONG_REJECT, TOO_LONG_TRUNCATE, TOO_LONG_COUNT } serve_too_long;
extern const char *const serve_too_long_names[TOO_LONG_COUNT + 1];

/* Truncation as SGLang's --allow-auto-truncate does it: the prompt keeps
 * its first max_req_input_len = max_req_len - 5 tokens, where max_req_len
 * = context_len - 1 (scheduler.py), and its output is clipped to
 * max_req_len - prompt - 1 tokens (init_req_max_new_tokens): 6 tokens
 * short of the context, then at most 4 output tokens. */
#define SERVE_TRUNCATE_MARGIN_TOKENS 6
#define SERVE_TRUNCATE_OUTPUT_MARGIN_TOKENS 2

/* What happens to a preempted sequence's KV: freed and computed again
 * later, or copied to host memory and copied back before it resumes
 * (vLLM's PreemptionMode.RECOMPUTE and SWAP). */
typedef enum { PREEMPT_RECOMPUTE, PREEMPT_SWAP, PREEMPT_MODE_COUNT } serve_preemption;
extern const char *const serve_preemption_names[PREEMPT_MODE_COUNT + 1];

/* vLLM's --swap-space default: 4 GiB of pinned host memory per GPU
 * (CacheConfig.swap_space, vllm/config.py, v0.4). */
#define SERVE_SWAP_SPACE_DEFAULT_BYTES (4.0 * 1024 * 1024 * 1024)

/* CUDA-graph decode batch sizes a scenario may list at most (vLLM
 * captures 67 by default). */
#define SERVE_MAX_GRAPH_SIZES 128

typedef struct serve_cfg {
    int max_running;            /* sequences in a batch at most */
    int64_t token_budget;       /* tokens one iteration computes at most */
    int chunked_prefill;        /* 0: a prompt's prefill runs whole or waits */
    int max_multi_step;         /* decode iterations one event may advance (1 = step by step) */
    int keep_gaps;              /* keep every inter-token gap per request */
    admission_policy admission; /* who joins a step, who yields when blocks run out (0: today's, vLLM's) */
    int64_t max_output_tokens;  /* output a request may produce as the scheduler assumes it (0: the rest of the context) */
    serve_too_long too_long;    /* a prompt past the model's context: rejected (0) or truncated */
    serve_preemption preemption; /* a preempted sequence's KV: recomputed (0) or swapped to host memory */
    double swap_space_bytes;    /* host memory per GPU for swapped KV (preemption swap) */
    /* Decode batch sizes captured as CUDA graphs, ascending (n_graph_sizes
     * 0: none): a decode-only step of at most the largest runs padded up
     * to the next size, the padding rows costed as dummy decodes. */
    int graph_sizes[SERVE_MAX_GRAPH_SIZES];
    int n_graph_sizes;
    /* Retention (SnapKV-style); off when retention_window_tokens is 0: once
     * a prompt is prefilled, HBM keeps its last retention_window_tokens
     * tokens plus retention_keep_fraction of the older ones; the rest is
     * dropped, or written to the first lower tier when retention_offload. */
    int64_t retention_window_tokens;
    double retention_keep_fraction;
    int retention_offload;
    spec_accept spec_accept;    /* speculative decoding's acceptance (used when the replica has a spec_cost) */
} serve_cfg;

/* A request while it is in the system.
 * Invariants: 0 <= computed <= num_tokens; num_tokens == prompt + generated;
 * generated <= output target; the KV sequence holds blocks for at least
 * computed tokens, except while swapped out (swapped_tokens > 0: its KV is
 * in host memory and it holds none); a request is in exactly one of: a
 * replica's waiting queue, its running array, its swapped list, or none
 * (not yet routed, or finished). */
typedef struct serve_req {
    metrics_req rec;            /* results; rec.output_tokens is the target */
    kv_seq seq;
    kv_segment inline_segs[2];
    kv_segment *heap_segs;      /* for contents of many segments (traces); owned, reused */
    size_t cap_heap_segs;
    kv_content content;         /* what the tokens are (prefix identity) */
    int64_t num_tokens;         /* prompt + generated so far */
    int64_t computed;           /* tokens whose KV is in HBM */
    int64_t generated;
    int64_t recompute_until;    /* tokens below this, computed again, are waste */
    int64_t retention_dropped_tokens;  /* computed tokens whose KV retention removed from HBM */
    int64_t remote_tokens;      /* prefix tokens attended to inside a tier, not in HBM */
    int64_t swapped_tokens;     /* tokens whose KV lies in the replica's host swap space (0: none) */
    int remote_tier;
    spec_req spec;              /* speculative decoding: its acceptance rate, the tokens its verify yields */
    int64_t last_token_ns;
    size_t cap_gaps;
    int admitted;               /* has been admitted once (prefix hits counted then) */
    int fetching;               /* tier transfers still to arrive before its KV is whole */
    int lost;                   /* its replica failed while fetches were in flight: re-route when they end */
    int64_t fetch_start_ns;
    int64_t fetch_blocks[TIER_MAX];
    int64_t tier_recompute_until;  /* tokens below this were in a lower tier: recomputing is waste */
    int prefetch_slot;          /* prefetch record it waits for, -1 none */
    serve_sparse_pages sparse;  /* sparse attention's pages when its KV lies in a tier */
    /* Disaggregated serving: once prefilled, the prompt's KV moves from
     * the prefill replica (src_rep, blocks in src_seq) to a decode replica
     * (blocks reserved in seq) before the request decodes there. */
    kv_seq src_seq;
    struct replica *src_rep;
    int handoff;                /* 1 from the end of its prefill until its KV has arrived */
    int in_flight;              /* its KV transfer has started */
    int64_t handoff_start_ns;
    struct serve_req *out_next; /* src_rep's list of requests whose KV is leaving */
    struct serve_req *in_next;  /* the decode replica's list of transfers in flight */
    struct replica *rep;
    struct serve_req *next;     /* waiting-queue link */
    void *owner;                /* the workload's session, opaque here */
} serve_req;

/* Called when a request leaves the replica (completed or rejected); the
 * replica no longer refers to it. */
typedef void (*serve_done_fn)(void *ud, serve_req *r, int64_t now_ns);
/* Called when a prefill replica has produced a request's first token: the
 * callee picks a decode replica and hands it over with replica_handoff. */
typedef void (*serve_prefilled_fn)(void *ud, serve_req *r, int64_t now_ns);

/* What a replica does: both phases, or one side of disaggregated serving. */
typedef enum { ROLE_COLOCATED, ROLE_PREFILL, ROLE_DECODE, ROLE_COUNT } replica_role;
extern const char *const replica_role_names[ROLE_COUNT + 1];

/* One entry of the in-flight batch. */
typedef struct serve_batch_entry {
    serve_req *r;
    int64_t tokens;             /* computed this step (decode: 1; a speculative verify: k + 1) */
    int64_t wasted;             /* of which recompute after preemption */
    int64_t wasted_tier;        /* of which recompute of KV a lower tier held */
    int verify;                 /* a speculative verify of k drafts (spec_is_verify) */
} serve_batch_entry;

/* A prefetch of a prompt prefix from lower tiers into the HBM cache.
 * Invariants: pending > 0 while in flight; the blocks are [first, first+n)
 * of content, chained on prev_hash. */
typedef struct serve_prefetch {
    int pending;
    int64_t first, n;
    uint64_t prev_hash;
    kv_segment segs[2];
    kv_content content;
    int64_t blocks[TIER_MAX];
    int64_t start_ns;
    struct serve_req *waiter;   /* request held until it lands, or NULL */
    struct replica *rep;
} serve_prefetch;
#define SERVE_MAX_PREFETCHES 256

/* Why a planned step has not started or not ended. */
typedef enum { WAIT_NONE, WAIT_START, WAIT_END } serve_wait;

/* Requests a replica holds.
 * Invariants: n_running + disagg.n_inbound <= cfg.max_running; running[0,
 * n_running) is in admission order (preemption takes the last); the
 * waiting queue runs from wait_head to wait_tail through serve_req.next,
 * n_waiting long, and none of its requests holds blocks. */
typedef struct replica_queues {
    serve_req **running;        /* cfg.max_running entries */
    int n_running;
    serve_req *wait_head, *wait_tail;
    int n_waiting;
} replica_queues;

/* The run in progress (one or several iterations).
 * Invariants: while busy, either an end event (ev) is pending or the run
 * waits for KV (wait != WAIT_NONE); steps [applied, steps) are not yet
 * applied, their ends at step_end_ns[]; a multi-step run (steps > 1) has
 * only decode entries; the batch's requests are all in queues.running. */
typedef struct replica_step {
    int busy;
    engine_handle ev;
    serve_batch_entry *batch;   /* cfg.max_running entries */
    int n_batch;
    int n_batch_remote;         /* entries attending to a prefix inside a tier */
    int steps, applied;
    int64_t *step_end_ns;       /* max_multi_step entries */
    cost_iter *step_cost;       /* max_multi_step entries */
    cost_seq *cseqs;            /* scratch, max(max_running, largest CUDA-graph size) entries */
    /* Scratch for applying decode steps in bulk: max_multi_step rows of
     * kv_due_words words; bit i of row t set when batch entry i's blocks
     * may change at the bulk range's step t; all zero between ranges. */
    uint64_t *kv_due;
    int kv_due_words;
    int pad_rows;               /* dummy rows the run's CUDA graph pads every step with */
    serve_wait wait;
    int64_t wait_since_ns;      /* when the wait began */
    int64_t start_ns;           /* when the run's first step began computing (after any wait) */
} replica_step;

/* KV coming up from the lower tiers.
 * Invariants: n_pending batch entries of the run wait for their fetch, and
 * the run does not end while n_pending > 0; a prefetch record is free
 * when its pending is 0. */
typedef struct replica_fetch {
    int n_pending;
    uint64_t *hash_scratch;     /* owned; cap_hash_scratch entries */
    size_t cap_hash_scratch;
    serve_prefetch prefetches[SERVE_MAX_PREFETCHES];
} replica_fetch;

/* A failed replica holds nothing and takes nothing; requests it still
 * owes (tier transfers in flight) go to on_lost when they end. */
typedef struct replica_failure {
    int failed;                 /* the replica's node failed */
    serve_done_fn on_lost;      /* a request its failure took: the callee re-routes or rejects it */
} replica_failure;

/* Disaggregated serving (role != ROLE_COLOCATED) and the links used to
 * move KV between replicas.
 * Invariants: out_head lists (through out_next) n_out requests whose KV
 * is leaving this prefill replica, blocks still held here in src_seq;
 * in_wait_head..in_wait_tail (through next) holds n_in_wait handoffs
 * waiting for blocks here, holding none; in_head lists (through in_next)
 * n_inbound transfers arriving into blocks reserved here. */
typedef struct replica_disagg {
    replica_role role;
    serve_prefilled_fn on_prefilled;
    fabric *net;                /* not owned; the network between replicas */
    int nic_out, nic_in;        /* this replica's links in net */
    int64_t net_setup_ns;       /* one transfer's setup (network latency) */
    int64_t net_op_ns;          /* one block operation's cost over the NIC */
    serve_req *out_head;
    int n_out;
    serve_req *in_wait_head, *in_wait_tail;
    int n_in_wait;
    serve_req *in_head;
    int n_inbound;              /* holds running slots */
} replica_disagg;

/* KV of preempted sequences in host memory (preemption swap, vLLM's
 * swap space), moved over the host tier's links of the replica's fabric.
 * Invariants: head..tail (through next) lists n_swapped requests in the
 * order they were swapped out, each holding no HBM blocks and
 * swapped_tokens > 0; used_blocks <= capacity_blocks is what they hold;
 * n_pending transfers (either way) are in flight, and the planned step
 * does not start before they end. */
typedef struct replica_swap {
    serve_req *head, *tail;
    int n_swapped;
    int64_t used_blocks, capacity_blocks;
    int host_tier;              /* index of the host (DRAM) tier in tiers, -1 none */
    int n_pending;
} replica_swap;

/* What replica_check last verified of the pool: the pool version and the
 * sequence counts then (valid 0: nothing verified yet). */
typedef struct replica_check_cache {
    uint64_t version;
    int running, out, inbound, valid;
    /* For the caller's cadence of full walks: the pool version at its
     * last check of either kind, and how many of its checks since its
     * last full walk found the pool changed. */
    uint64_t seen_version;
    uint32_t changes;
} replica_check_cache;

/* A replica: one model copy, its KV pool and its scheduler. The
 * invariants of each part are written above its struct. */
typedef struct replica {
    int id;
    int gpus;
    engine *eng;                /* not owned */
    const cost_model *cm;       /* not owned */
    kv_pool *kv;                /* owned */
    tier_set *tiers;            /* owned; NULL when KV lives in HBM only */
    serve_cfg cfg;
    metrics *met;               /* not owned */
    metrics_replica *acct;      /* this replica's slot in met */
    serve_done_fn on_done;
    void *ud;
    int64_t tokens_out;         /* output tokens emitted so far */
    timeline *tl;               /* not owned; NULL: no timeline is written */
    int64_t tl_shown[4];        /* the counters last written to tl: waiting, running, blocks in use, cached */
    replica_queues queue;
    replica_step step;
    replica_fetch fetch;
    replica_failure failure;
    replica_disagg disagg;
    replica_check_cache kv_checked;
    admission_state adm;        /* the admission policy's memory */
    replica_swap swap;
    replica_sparse sparse;      /* sparse attention's page movement (sparse.c) */
    spec_state spec;            /* speculative decoding (off: spec.cost NULL) */
} replica;

/* What a replica is made of. The engine, cost model and metrics are not
 * owned and must outlive the replica; cfg is copied. */
typedef struct replica_config {
    int id;                     /* index of the replica's slot in met */
    int gpus;
    engine *eng;
    const cost_model *cm;
    uint32_t kv_blocks;         /* the HBM pool's size */
    int block_tokens;
    int prefix_cache;           /* share blocks of equal prefixes */
    const serve_cfg *cfg;
    metrics *met;
    serve_done_fn on_done;      /* a request leaves (completed or rejected) */
    void *ud;                   /* passed to every callback */
    const spec_cost *spec;      /* speculative decoding's draft, or NULL (off); must outlive the replica */
    uint64_t seed;              /* the run's seed: acceptance draws */
} replica_config;

/* Sets up r from c. Returns 0 or -1 (out of memory). */
int replica_init(replica *r, const replica_config *c);
void replica_destroy(replica *r);

/* A request arrives at the replica now. A prompt longer than the model's
 * context limit is rejected at once (on_done with outcome rejected), or
 * truncated when cfg.too_long says so; a request whose prompt plus output
 * can never fit the KV pool is rejected. */
void replica_submit(replica *r, serve_req *q);
/* A request that lost its KV when its replica failed arrives at r: it
 * computes its prompt and the tokens it has generated again (counted as
 * recomputed), then goes on generating. */
void replica_resubmit(replica *r, serve_req *q);
/* Ends q as rejected at r (no replica could take it). */
void replica_reject(replica *r, serve_req *q);

/* Tokens q's next step produces once q's KV is caught up: the step that
 * ends the prompt produces the first token, each decode step after it
 * produces this many and the next step computes their KV. The only place
 * that says how many tokens a step produces (1, or for a speculative
 * verify the accepted drafts + 1, at most what is left of the output, from
 * its acceptance until its emission): emitting, planning multi-step runs,
 * costing and reserving blocks for their later steps all ask it. */
int64_t replica_decode_tokens(const replica *r, const serve_req *q);
/* Brings a multi-step run up to now, so the replica's state is what
 * stepping one iteration at a time would show (for samplers). */
void replica_sync(replica *r);
/* Outstanding requests (running, waiting, swapped out, and on a decode
 * replica its handoffs waiting or in flight), for routing. */
int replica_load(const replica *r);
/* KV bytes a context of tokens tokens holds over all the replica's GPUs
 * (windowed layers counted up to their window). */
double replica_kv_bytes(const replica *r, int64_t tokens);

/* Invariant checker (queues, batch, KV ref counts against the running set).
 * Remembers the pool version and sequence counts it verified (r->kv_checked)
 * and walks the pool again only when they changed. */
int replica_check(replica *r, kt_err *err);
/* The same where changes happen, for a check after every event: the batch
 * limit, the ends and counters of the waiting, swapped and handoff lists
 * (appends and pops touch only those), every running request's token
 * counts, and kv_pool_check_touched over the sequences holding the pool.
 * What it cannot see (a list's middle, a ref count off by one where the
 * sum still agrees) replica_check finds. */
int replica_check_touched(replica *r, kt_err *err);

#endif
