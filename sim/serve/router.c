/* router.c — routers across replicas (round robin, least loaded, least KV, cache aware, session sticky) and session shedding. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const router_names[ROUTER_KIND_COUNT + 1] = {
    "round_robin", "least_loaded", "session_sticky", "least_kv", "cache_aware", NULL
};

/* Routers pick among replicas [lo, hi): new requests go to the prefill
 * pool when serving is disaggregated, else anywhere. */

static int alive(const router *rt, int i) { return !rt->reps[i].failure.failed; }

/* ---------- loads: a tournament tree per pool ---------- */

/* The better of replicas a and b (-1: none), a being the lower index. */
static int better(const router *rt, int a, int b)
{
    if (a < 0 || b < 0)
        return a < 0 ? b : a;
    return rt->load_seen[b] < rt->load_seen[a] ? b : a;
}

/* The leaf replica i's liveness gives it. */
static int leaf_of(const router *rt, int i) { return alive(rt, i) ? i : -1; }

/* Sets replica i's leaf and replays the matches above it. */
static void tree_update(const router *rt, router_tree *t, int i)
{
    int j = t->size + (i - t->lo);
    t->win[j] = leaf_of(rt, i);
    for (j /= 2; j >= 1; j /= 2)
        t->win[j] = better(rt, t->win[2 * j], t->win[2 * j + 1]);
}

/* Builds t over [lo, hi) from the loads seen. Returns 0 or -1 (out of memory). */
static int tree_init(const router *rt, router_tree *t, int lo, int hi)
{
    int size = 1;
    while (size < hi - lo)
        size *= 2;
    *t = (router_tree){ .lo = lo, .hi = hi, .size = size, .win = malloc(2 * (size_t)size * sizeof *t->win) };
    if (!t->win)
        return -1;
    for (int k = 0; k < size; k++)
        t->win[size + k] = k < hi - lo ? leaf_of(rt, lo + k) : -1;
    for (int j = size - 1; j >= 1; j--)
        t->win[j] = better(rt, t->win[2 * j], t->win[2 * j + 1]);
    return 0;
}

static router_tree *tree_of(router *rt, int i) { return &rt->pools[i >= rt->first_decode]; }

/* Reads replica i again; its tree changes only when its load or liveness did. */
static void refresh(router *rt, int i)
{
    router_tree *t = tree_of(rt, i);
    int load = replica_load(&rt->reps[i]);
    if (load == rt->load_seen[i] && t->win[t->size + (i - t->lo)] == leaf_of(rt, i))
        return;
    rt->load_seen[i] = load;
    tree_update(rt, t, i);
}

/* Brings the touched replicas up to date (they stay touched: a load may
 * still change after this within the event). */
static void refresh_touched(router *rt)
{
    for (int k = 0; k < rt->n_dirty; k++)
        refresh(rt, rt->dirty[k]);
}

void router_touch(router *rt, int i)
{
    if (rt->is_dirty[i])
        return;
    rt->is_dirty[i] = 1;
    rt->dirty[rt->n_dirty++] = i;
}

void router_settle(router *rt)
{
    refresh_touched(rt);
    for (int k = 0; k < rt->n_dirty; k++)
        rt->is_dirty[rt->dirty[k]] = 0;
    rt->n_dirty = 0;
}

int router_init(router *rt, const router_config *c)
{
    *rt = (router){ .kind = c->kind, .reps = c->reps, .n_reps = c->n_reps, .first_decode = c->first_decode,
                    .max_imbalance = c->max_imbalance, .shed_imbalance = c->shed_imbalance };
    size_t n = c->n_reps > 0 ? (size_t)c->n_reps : 1;
    rt->load_seen = malloc(n * sizeof *rt->load_seen);
    rt->dirty = malloc(n * sizeof *rt->dirty);
    rt->is_dirty = calloc(n, 1);
    if (!rt->load_seen || !rt->dirty || !rt->is_dirty) {
        router_destroy(rt);
        return -1;
    }
    for (int i = 0; i < c->n_reps; i++)
        rt->load_seen[i] = replica_load(&c->reps[i]);
    if (tree_init(rt, &rt->pools[0], 0, c->first_decode) < 0 ||
        tree_init(rt, &rt->pools[1], c->first_decode, c->n_reps) < 0) {
        router_destroy(rt);
        return -1;
    }
    return 0;
}

void router_destroy(router *rt)
{
    free(rt->load_seen);
    free(rt->dirty);
    free(rt->is_dirty);
    free(rt->pools[0].win);
    free(rt->pools[1].win);
    memset(rt, 0, sizeof *rt);
}

int router_check(const router *rt, kt_err *err)
{
    if (rt->n_dirty) {
        KT_ERROR(err, NULL, 0, 0, "router: %d replicas touched and not settled", rt->n_dirty);
        return -1;
    }
    for (int i = 0; i < rt->n_reps; i++) {
        const router_tree *t = &rt->pools[i >= rt->first_decode];
        int load = replica_load(&rt->reps[i]), leaf = t->win[t->size + (i - t->lo)];
        /* A failed replica's load is never compared: its leaf is -1. */
        if (leaf != leaf_of(rt, i) || (leaf >= 0 && load != rt->load_seen[i])) {
            KT_ERROR(err, NULL, 0, 0,
                     "router: replica %d has load %d and is %s, the router last saw load %d and %s "
                     "(a change nothing touched)",
                     i, load, alive(rt, i) ? "live" : "failed", rt->load_seen[i], leaf < 0 ? "failed" : "live");
            return -1;
        }
    }
    for (int p = 0; p < 2; p++) {
        const router_tree *t = &rt->pools[p];
        for (int j = t->size - 1; j >= 1; j--)
            if (t->win[j] != better(rt, t->win[2 * j], t->win[2 * j + 1])) {
                KT_ERROR(err, NULL, 0, 0, "router: pool %d's node %d holds replica %d, its children's better is %d",
                         p, j, t->win[j], better(rt, t->win[2 * j], t->win[2 * j + 1]));
                return -1;
            }
    }
    return 0;
}

/* ---------- routers ---------- */

/* The live replica of the pool (0: new requests, 1: decode) with the
 * fewest outstanding requests, ties to the lowest index; -1 if none.
 * O(touched × log R), not a scan: the tree's root after the touched
 * replicas are read again. */
static int least_loaded(router *rt, int pool)
{
    refresh_touched(rt);
    return rt->pools[pool].win[1];
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
static int cache_aware(router *rt, int lo, int hi, const serve_req *q)
{
    int light = least_loaded(rt, 0), best = light;
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
static int session_sticky(router *rt, int *sticky)
{
    if (*sticky < 0 || !alive(rt, *sticky))
        *sticky = least_loaded(rt, 0);
    return *sticky;
}

int router_pick(router *rt, const serve_req *q, int *sticky)
{
    int hi = rt->first_decode;
    switch (rt->kind) {
    case ROUTER_ROUND_ROBIN:
        return round_robin(rt, hi);
    case ROUTER_LEAST_LOADED:
        return least_loaded(rt, 0);
    case ROUTER_LEAST_KV:
        return least_kv(rt, 0, hi);
    case ROUTER_CACHE_AWARE:
        return cache_aware(rt, 0, hi, q);
    case ROUTER_SESSION_STICKY:
        return session_sticky(rt, sticky);
    case ROUTER_KIND_COUNT:
        break;
    }
    fprintf(stderr, "kvtier: router: no router %d\n", (int)rt->kind);
    abort();
}

int router_pick_decode(router *rt) { return least_loaded(rt, 1); }

int router_shed(router *rt, int *sticky)
{
    if (rt->shed_imbalance <= 0 || rt->kind != ROUTER_SESSION_STICKY || *sticky < 0 || !alive(rt, *sticky))
        return -1;
    int cold = least_loaded(rt, 0), hot = *sticky;
    int least = replica_load(&rt->reps[cold]);
    if (replica_load(&rt->reps[hot]) <= least + rt->shed_imbalance * (least > 1 ? least : 1))
        return -1;
    *sticky = cold;
    return hot;
}
