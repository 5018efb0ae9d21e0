/* test_router.c — routers over a hand-made fleet: round robin past a failed replica, least loaded, least KV, session sticky, shedding, the decode pool. */
#include "router.h"
#include "testutil.h"

#define N 4

static replica reps[N];

/* A fleet of N idle replicas whose loads are load[i] waiting requests. */
static void fleet(const int *load)
{
    for (int i = 0; i < N; i++) {
        kv_pool_free(reps[i].kv);
        reps[i] = (replica){ .id = i };
        reps[i].queue.n_waiting = load[i];
    }
}

static router make(router_kind kind, int first_decode, double shed_imbalance)
{
    router rt;
    router_init(&rt, &(router_config){ .kind = kind, .reps = reps, .n_reps = N, .first_decode = first_decode,
                                       .max_imbalance = 0.5, .shed_imbalance = shed_imbalance });
    return rt;
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
    reps[0].failure.failed = reps[2].failure.failed = 1;
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), -1);
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
    reps[3].failure.failed = 1;
    CU_ASSERT_EQUAL(router_pick_decode(&rt), -1);
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
    reps[1].queue.n_waiting = 50;
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 1);
    /* Its replica failed: the least loaded of the rest (2, load 4). */
    reps[1].failure.failed = 1;
    CU_ASSERT_EQUAL(router_pick(&rt, &q, &sticky), 2);
    CU_ASSERT_EQUAL(sticky, 2);
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
        { NULL, NULL },
    };
    int rc = tu_run("router", tests);
    for (int i = 0; i < N; i++)
        kv_pool_free(reps[i].kv);
    return rc;
}
