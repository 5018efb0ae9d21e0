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

/* Routing over a fleet of replicas.
 * Invariants: replicas [0, first_decode) take new requests (all of them
 * when serving is colocated), [first_decode, n_reps) take prefilled ones;
 * 0 <= rr_next counts the round-robin turns taken. */
typedef struct router {
    router_kind kind;
    replica *reps;              /* not owned; n_reps of them */
    int n_reps;
    int first_decode;
    int rr_next;
    double max_imbalance;       /* cache_aware: load may exceed the least L by this × max(L, 1) */
    double shed_imbalance;      /* session_sticky: move a session off a replica this much busier (0 off) */
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

void router_init(router *rt, const router_config *c);

/* The live replica taking new request q, -1 when every one has failed.
 * *sticky is q's session's replica (-1 none yet): session_sticky keeps it
 * while it lives and sets it otherwise; other routers leave it. Aborts on
 * a kind outside the enum. */
int router_pick(router *rt, const serve_req *q, int *sticky);
/* The live decode replica with the fewest requests (running, queued or
 * arriving), -1 if none. */
int router_pick_decode(const router *rt);
/* Session-sticky shedding: when the session's replica *sticky carries more
 * than the least loaded one's load L plus shed_imbalance × max(L, 1), the
 * session moves there (*sticky set to it) and the replica it leaves is
 * returned; -1 when it stays (shedding off, another router, no live
 * replica of its own yet). */
int router_shed(router *rt, int *sticky);

#endif
