/* router.h — routers: which replica takes a new request, which decode replica takes a prefilled one, when a session moves. */
#ifndef KT_ROUTER_H
#define KT_ROUTER_H

#include "replica.h"

/* Adding a router: a value here, its name in router_names (the scenario's
 * replicas.router), its case in router_pick. */
typedef enum {
    ROUTER_ROUND_ROBIN, ROUTER_LEAST_LOADED, ROUTER_SESSION_STICKY, ROUTER_LEAST_KV, ROUTER_CACHE_AWARE,
    ROUTER_KIND_COUNT
} router_kind;
extern const char *const router_names[ROUTER_KIND_COUNT + 1];

/* A tournament tree over the replicas [lo, hi) of one pool, keyed by the
 * loads the router last read (router.load_seen).
 * Invariants: size is the least power of two >= hi - lo (at least 1);
 * win[size + k] is lo + k when that replica is live, else -1 (so are the
 * padding leaves k >= hi - lo); every inner node win[j] (1 <= j < size)
 * is the better of win[2j] and win[2j + 1]: a live one over -1, then the
 * smaller load, then the lower index (the left child), so win[1] is the
 * replica a scan of [lo, hi) for the strictly smallest load would find. */
typedef struct router_tree {
    int lo, hi, size;
    int *win;                   /* owned; 2 × size entries (win[0] unused) */
} router_tree;

/* Routing over a fleet of replicas.
 * Invariants: replicas [0, first_decode) take new requests (all of them
 * when serving is colocated), [first_decode, n_reps) take prefilled ones;
 * 0 <= rr_next counts the round-robin turns taken. Loads: dirty[0,
 * n_dirty) lists without repeats the replicas touched since the last
 * router_settle (is_dirty[i] marks them); every other replica's
 * load_seen[i] is replica_load() of it and its leaf says whether it lives,
 * so a pick need only read the touched ones again. */
typedef struct router {
    router_kind kind;
    replica *reps;              /* not owned; n_reps of them */
    int n_reps;
    int first_decode;
    int rr_next;
    double max_imbalance;       /* cache_aware: load may exceed the least L by this × max(L, 1) */
    double shed_imbalance;      /* session_sticky: move a session off a replica this much busier (0 off) */
    int *load_seen;             /* owned; n_reps entries */
    router_tree pools[2];       /* the replicas taking new requests, the decode ones */
    int *dirty;                 /* owned; n_reps entries */
    unsigned char *is_dirty;    /* owned; n_reps entries */
    int n_dirty;
} router;

/* What a router is made of; reps must outlive it. */
typedef struct router_config {
    router_kind kind;
    replica *reps;
    int n_reps;
    int first_decode;           /* n_reps when colocated */
    double max_imbalance;
    double shed_imbalance;
} router_config;

/* Sets rt up over c's replicas, reading every load now. Returns 0, or -1
 * when memory runs out (rt then holds nothing to free). rt owns its
 * tables until router_destroy. */
int router_init(router *rt, const router_config *c);
void router_destroy(router *rt);

/* Replica i's load (replica_load) or its liveness may have changed, or
 * is about to within the current event: picks read it again until the
 * next router_settle. Everything that moves a request into or out of a
 * replica, or fails it, must touch it before the next pick; a load
 * changed without a touch is what router_check reports. */
void router_touch(router *rt, int i);
/* The end of an event: the touched replicas' loads are read a last time
 * and the touched list is emptied. */
void router_settle(router *rt);
/* Invariant checker: settled, every load_seen equal to replica_load() and
 * every leaf to its replica's liveness (recomputed from scratch), every
 * inner node the better of its children. Returns 0 or -1 (err set). */
int router_check(const router *rt, kt_err *err);

/* The live replica taking new request q, -1 when every one has failed.
 * *sticky is q's session's replica (-1 none yet): session_sticky keeps it
 * while it lives and sets it otherwise; other routers leave it. Aborts on
 * a kind outside the enum. */
int router_pick(router *rt, const serve_req *q, int *sticky);
/* The live decode replica with the fewest requests (running, queued or
 * arriving; ties: the lowest index), -1 if none. */
int router_pick_decode(router *rt);
/* Session-sticky shedding: when the session's replica *sticky carries more
 * than the least loaded one's load L plus shed_imbalance × max(L, 1), the
 * session moves there (*sticky set to it) and the replica it leaves is
 * returned; -1 when it stays (shedding off, another router, no live
 * replica of its own yet). */
int router_shed(router *rt, int *sticky);

#endif
