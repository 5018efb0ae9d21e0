/* test_router.c — routers over a hand-made fleet: round robin past a failed replica, least loaded, least KV, session sticky, shedding, the decode pool, and the load tree against a brute-force scan. */
#include <gsl/gsl_rng.h>

#include "router.h"
#include "testutil.h"

#define N 4
/* The randomized comparison's fleet: not a power of two, so the tree has padding leaves. */
#define BIG_N 37

static replica reps[N];
static replica big[BIG_N];

/* A fleet of N idle replicas whose loads are load[i] waiting requests. */
static void fleet(const int *load)
{
    for (int i = 0; i < N; i++) {
        kv_pool_free(reps[i].kv);
        reps[i] = (replica){ .id = i };
        reps[i].queue.n_waiting = load[i];
    }
}

/* A router over reps; the caller destroys it. */
static router make(router_kind kind, int first_decode, double shed_imbalance)
{
    router rt;
    CU_ASSERT_FATAL(router_init(&rt, &(router_config){ .kind = kind, .reps = reps, .n_reps = N,
                                                       .first_decode = first_decode, .max_imbalance = 0.5,
                                                       .shed_imbalance = shed_imbalance }) == 0);
    return rt;
}

/* Sets replica i's waiting count and tells the router, as the simulator does. */
static void set_load(router *rt, int i, int load)
{
    reps[i].queue.n_waiting = load;
    router_touch(rt, i);
}

/* Fails replica i and tells the router. */
static void fail(router *rt, int i)
{
    reps[i].failure.failed = 1;
    router_touch(rt, i);
}

static void test_round_robin_skips_failed(void)
{
    fleet((int[N]){ 0, 0, 0, 0 });
    reps[1].failure.failed = 1;
    router rt = make(ROUTER_ROUND_ROBIN, 3, 0);
    serve_req q = { 0 };
    int sticky = -1;
    /* Turns 0, 1 (failed: on to 2), 3 % 3 = 0, 4 % 3 = 1 (failed: 2). */
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 0);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 2);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 0);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 2);
    CU_ASSERT_EQUAL(sticky, -1);
    fail(&rt, 0);
    fail(&rt, 2);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), -1);
    router_destroy(&rt);
}

static void test_least_loaded_and_decode_pool(void)
{
    fleet((int[N]){ 3, 1, 1, 0 });
    router rt = make(ROUTER_LEAST_LOADED, 3, 0);
    serve_req q = { 0 };
    int sticky = -1;
    /* Replica 3 (load 0) decodes only; 1 and 2 tie at 1: the lower wins. */
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 1);
    CU_ASSERT_EQUAL(router_pick_decode(&rt), 3);
    fail(&rt, 3);
    CU_ASSERT_EQUAL(router_pick_decode(&rt), -1);
    /* Replica 1 busier (load 5) than 2 (1) and 0 (3): 2; then 2 fails: 0. */
    set_load(&rt, 1, 5);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 2);
    fail(&rt, 2);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 0);
    router_settle(&rt);
    kt_err e;
    CU_ASSERT_EQUAL(router_check(&rt, &e), 0);
    router_destroy(&rt);
}

static void test_least_kv(void)
{
    fleet((int[N]){ 0, 0, 0, 0 });
    uint32_t blocks[N] = { 10, 20, 20, 30 };
    for (int i = 0; i < N; i++)
        reps[i].kv = kv_pool_new(blocks[i], 16, KV_PREFIX_CACHE_OFF);
    reps[3].failure.failed = 1;
    router rt = make(ROUTER_LEAST_KV, N, 0);
    serve_req q = { 0 };
    int sticky = -1;
    /* 30 free blocks on a failed replica do not count; 20 ties 20. */
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 1);
    router_destroy(&rt);
}

static void test_session_sticky(void)
{
    fleet((int[N]){ 5, 2, 4, 9 });
    router rt = make(ROUTER_SESSION_STICKY, N, 0);
    serve_req q = { 0 };
    int sticky = -1;
    /* First turn: the least loaded, remembered; it stays however loaded. */
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 1);
    CU_ASSERT_EQUAL(sticky, 1);
    set_load(&rt, 1, 50);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 1);
    /* Its replica failed: the least loaded of the rest (2, load 4). */
    fail(&rt, 1);
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 2);
    CU_ASSERT_EQUAL(sticky, 2);
    router_destroy(&rt);
}

static void test_shed(void)
{
    fleet((int[N]){ 4, 1, 3, 2 });
    router rt = make(ROUTER_SESSION_STICKY, N, 0.5);
    /* Least load L = 1 (replica 1): a session moves off a replica with
     * more than 1 + 0.5 × max(1, 1) = 1.5: off 0 (4) and 3 (2), not 1. */
    int sticky = 0;
    CU_ASSERT_EQUAL(router_shed(&rt, &sticky), 0);
    CU_ASSERT_EQUAL(sticky, 1);
    CU_ASSERT_EQUAL(router_shed(&rt, &sticky), -1);
    CU_ASSERT_EQUAL(sticky, 1);
    sticky = 3;
    CU_ASSERT_EQUAL(router_shed(&rt, &sticky), 3);
    CU_ASSERT_EQUAL(sticky, 1);
    /* Shedding belongs to session_sticky, and needs a session replica. */
    sticky = -1;
    CU_ASSERT_EQUAL(router_shed(&rt, &sticky), -1);
    router ll = make(ROUTER_LEAST_LOADED, N, 0.5);
    sticky = 0;
    CU_ASSERT_EQUAL(router_shed(&ll, &sticky), -1);
    CU_ASSERT_EQUAL(sticky, 0);
    router_destroy(&ll);
    router_destroy(&rt);
}

/* The strictly least load among the live replicas [lo, hi), the first
 * such in index order: the scan the tree replaces, written out here. */
static int scan_least(int lo, int hi)
{
    int best = -1;
    for (int i = lo; i < hi; i++)
        if (!big[i].failure.failed &&
            (best < 0 || big[i].queue.n_waiting < big[best].queue.n_waiting))
            best = i;
    return best;
}

/* 20,000 random load changes (small loads, so ties are common) and
 * failures over a fleet of 37 split 23 new-request / 14 decode replicas,
 * each told to the router: after every change both pools' picks equal the
 * brute-force scan, and after every settle the checker agrees. */
static void test_tree_matches_scan(void)
{
    const int first_decode = 23;
    for (int i = 0; i < BIG_N; i++)
        big[i] = (replica){ .id = i };
    router rt;
    CU_ASSERT_FATAL(router_init(&rt, &(router_config){ .kind = ROUTER_LEAST_LOADED, .reps = big, .n_reps = BIG_N,
                                                       .first_decode = first_decode }) == 0);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 12345);
    serve_req q = { 0 };
    int sticky = -1, mismatches = 0, ties = 0;
    kt_err e;
    for (int step = 0; step < 20000; step++) {
        int i = (int)gsl_rng_uniform_int(g, BIG_N);
        /* One change in 200 fails a replica; failures stay, as in a run. */
        if (gsl_rng_uniform_int(g, 200) == 0)
            big[i].failure.failed = 1;
        else
            big[i].queue.n_waiting = (int)gsl_rng_uniform_int(g, 4);
        router_touch(&rt, i);
        int want = scan_least(0, first_decode), want_d = scan_least(first_decode, BIG_N);
        for (int k = want + 1; want >= 0 && k < first_decode; k++)
            if (!big[k].failure.failed && big[k].queue.n_waiting == big[want].queue.n_waiting) {
                ties++;         /* a higher index shared the least load: the tie-break decided */
                break;
            }
        mismatches += router_pick(&rt, &q, &sticky) != want;
        mismatches += router_pick_decode(&rt) != want_d;
        if (step % 3 == 0) {
            router_settle(&rt);
            mismatches += router_check(&rt, &e) != 0;
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    /* With 23 replicas and loads 0..3 the least load is nearly always
     * shared, so the tie-break was exercised on most steps, not by luck. */
    CU_ASSERT(ties > 10000);
    /* Every replica failed: no pick, as the scan finds none. */
    for (int i = 0; i < BIG_N; i++) {
        big[i].failure.failed = 1;
        router_touch(&rt, i);
    }
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), -1);
    CU_ASSERT_EQUAL(router_pick_decode(&rt), -1);
    gsl_rng_free(g);
    router_destroy(&rt);
}

/* A load changed without router_touch is what the checker exists to catch. */
static void test_check_sees_untouched_change(void)
{
    fleet((int[N]){ 2, 1, 3, 0 });
    router rt = make(ROUTER_LEAST_LOADED, N, 0);
    kt_err e;
    CU_ASSERT_EQUAL(router_check(&rt, &e), 0);
    reps[2].queue.n_waiting = 0;
    CU_ASSERT_EQUAL(router_check(&rt, &e), -1);
    router_touch(&rt, 2);
    CU_ASSERT_EQUAL(router_check(&rt, &e), -1);    /* touched, not settled */
    router_settle(&rt);
    CU_ASSERT_EQUAL(router_check(&rt, &e), 0);
    router_destroy(&rt);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(router_names[ROUTER_SESSION_STICKY], "session_sticky");
    CU_ASSERT_PTR_NULL(router_names[ROUTER_KIND_COUNT]);
    CU_ASSERT_STRING_EQUAL(admission_policy_names[ADMISSION_PREEMPT_NEWEST], "preempt_newest");
    CU_ASSERT_PTR_NULL(admission_policy_names[ADMISSION_POLICY_COUNT]);
}

int main(void)
{
    static const tu_test tests[] = {
        { "round robin skips failed replicas", test_round_robin_skips_failed },
        { "least loaded; the decode pool", test_least_loaded_and_decode_pool },
        { "least KV: most free blocks among the live", test_least_kv },
        { "session sticky keeps a live replica", test_session_sticky },
        { "shedding moves a session off a busy replica", test_shed },
        { "one name per router and admission policy", test_names },
        { "the load tree picks what a scan picks, ties to the lowest index", test_tree_matches_scan },
        { "the checker sees a load changed without a touch", test_check_sees_untouched_change },
        { NULL, NULL },
    };
    int rc = tu_run("router", tests);
    for (int i = 0; i < N; i++)
        kv_pool_free(reps[i].kv);
    return rc;
}
