/* router.c — routers across replicas (round robin, least loaded, least KV, cache aware, session sticky) and session shedding. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>

const char *const router_names[ROUTER_KIND_COUNT + 1] = {
    "round_robin", "least_loaded", "session_sticky", "least_kv", "cache_aware", NULL
};

void router_init(router *rt, const router_config *c)
{
    *rt = (router){ .kind = c->kind, .reps = c->reps, .n_reps = c->n_reps, .first_decode = c->first_decode,
                    .max_imbalance = c->max_imbalance, .shed_imbalance = c->shed_imbalance };
}

/* Routers pick among replicas [lo, hi): new requests go to the prefill
 * pool when serving is disaggregated, else anywhere. */

static int alive(const router *rt, int i) { return !rt->reps[i].failure.failed; }

/* The live replica with the fewest outstanding requests, -1 if none. */
static int least_loaded(const router *rt, int lo, int hi)
{
    int best = -1;
    for (int i = lo; i < hi; i++)
        if (alive(rt, i) && (best < 0 || replica_load(&rt->reps[i]) < replica_load(&rt->reps[best])))
            best = i;
    return best;
}

/* The live replica with the most free KV blocks (ties: the lowest index). */
static int least_kv(const router *rt, int lo, int hi)
{
    int best = -1;
    for (int i = lo; i < hi; i++)
        if (alive(rt, i) &&
            (best < 0 || kv_pool_free_blocks(rt->reps[i].kv) > kv_pool_free_blocks(rt->reps[best].kv)))
            best = i;
    return best;
}

/* The replica whose HBM already caches the longest prefix of the request,
 * among those whose load exceeds the least load L by at most
 * max_imbalance × max(L, 1) (so an idle fleet still lets a hit win); ties
 * and no hit at all go to the least loaded. */
static int cache_aware(const router *rt, int lo, int hi, const serve_req *q)
{
    int light = least_loaded(rt, lo, hi), best = light;
    if (light < 0)
        return -1;
    int least = replica_load(&rt->reps[light]);
    double limit = least + rt->max_imbalance * (least > 1 ? least : 1);
    int64_t best_hit = kv_pool_cached_prefix(rt->reps[light].kv, &q->content, q->rec.prompt_tokens);
    for (int i = lo; i < hi; i++) {
        if (i == light || !alive(rt, i) || replica_load(&rt->reps[i]) > limit)
            continue;
        int64_t hit = kv_pool_cached_prefix(rt->reps[i].kv, &q->content, q->rec.prompt_tokens);
        if (hit > best_hit) {
            best = i;
            best_hit = hit;
        }
    }
    return best;
}

/* The next live replica in turn, -1 if none. */
static int round_robin(router *rt, int hi)
{
    for (int k = 0; k < hi; k++) {
        int i = rt->rr_next++ % hi;
        if (alive(rt, i))
            return i;
    }
    return -1;
}

/* The session's replica while it lives, else the least loaded. */
static int session_sticky(const router *rt, int hi, int *sticky)
{
    if (*sticky < 0 || !alive(rt, *sticky))
        *sticky = least_loaded(rt, 0, hi);
    return *sticky;
}

int router_pick(router *rt, const serve_req *q, int *sticky)
{
    int hi = rt->first_decode;
    switch (rt->kind) {
    case ROUTER_ROUND_ROBIN:
        return round_robin(rt, hi);
    case ROUTER_LEAST_LOADED:
        return least_loaded(rt, 0, hi);
    case ROUTER_LEAST_KV:
        return least_kv(rt, 0, hi);
    case ROUTER_CACHE_AWARE:
        return cache_aware(rt, 0, hi, q);
    case ROUTER_SESSION_STICKY:
        return session_sticky(rt, hi, sticky);
    case ROUTER_KIND_COUNT:
        break;
    }
    fprintf(stderr, "kvtier: router: no router %d\n", (int)rt->kind);
    abort();
}

int router_pick_decode(const router *rt) { return least_loaded(rt, rt->first_decode, rt->n_reps); }

int router_shed(router *rt, int *sticky)
{
    if (rt->shed_imbalance <= 0 || rt->kind != ROUTER_SESSION_STICKY || *sticky < 0 || !alive(rt, *sticky))
        return -1;
    int cold = least_loaded(rt, 0, rt->first_decode), hot = *sticky;
    int least = replica_load(&rt->reps[cold]);
    if (replica_load(&rt->reps[hot]) <= least + rt->shed_imbalance * (least > 1 ? least : 1))
        return -1;
    *sticky = cold;
    return hot;
}
