/* test_engine.c — CUnit tests of the event engine: ordering, ties, cancellation, run bounds, growth, and a randomized check against a sorted-array model. */
#include <fcntl.h>
#include <gsl/gsl_rng.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "testutil.h"

/* ---------- a log of what ran ---------- */

#define LOG_MAX 4096

typedef struct ev_log {
    uint64_t arg[LOG_MAX];
    int64_t at[LOG_MAX];
    size_t n;
} ev_log;

/* Appends (now, arg) to the ev_log passed as ctx. */
static void log_fn(engine *eng, void *ctx, uint64_t arg)
{
    ev_log *log = ctx;
    if (log->n < LOG_MAX) {
        log->arg[log->n] = arg;
        log->at[log->n] = engine_now(eng);
    }
    log->n++;
}

static void assert_check(const engine *eng)
{
    kt_err err;
    int rc = engine_check(eng, &err);
    if (rc != 0)
        fprintf(stderr, "engine_check: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
}

/* ---------- basic ordering ---------- */

static void test_new_is_empty(void)
{
    engine *eng = engine_new(16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(eng);
    CU_ASSERT_EQUAL(engine_now(eng), 0);
    CU_ASSERT_EQUAL(engine_pending(eng), 0);
    CU_ASSERT_EQUAL(engine_events_run(eng), 0);
    CU_ASSERT_EQUAL(engine_step(eng), 0);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 0);
    assert_check(eng);
    engine_free(eng);
    engine_free(NULL);
}

static void test_runs_in_time_order(void)
{
    /* Scheduled out of order; must run sorted by time. */
    static const int64_t at[] = { 50, 10, 40, 0, 30, 20, 1000000000000LL, 5 };
    static const uint64_t want[] = { 3, 7, 1, 5, 4, 2, 0, 6 };
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    for (uint64_t i = 0; i < 8; i++)
        engine_at(eng, at[i], log_fn, &log, i);
    CU_ASSERT_EQUAL(engine_pending(eng), 8);
    assert_check(eng);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 8);
    CU_ASSERT_EQUAL_FATAL(log.n, 8);
    for (size_t i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(log.arg[i], want[i]);
        CU_ASSERT_EQUAL(log.at[i], at[want[i]]);
    }
    CU_ASSERT_EQUAL(engine_now(eng), 1000000000000LL);
    CU_ASSERT_EQUAL(engine_events_run(eng), 8);
    CU_ASSERT_EQUAL(engine_pending(eng), 0);
    assert_check(eng);
    engine_free(eng);
}

static void test_after_is_relative_to_now(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    engine_at(eng, 100, log_fn, &log, 1);
    engine_step(eng);
    engine_after(eng, 25, log_fn, &log, 2);
    engine_after(eng, 0, log_fn, &log, 3);
    engine_run(eng, INT64_MAX);
    CU_ASSERT_EQUAL_FATAL(log.n, 3);
    CU_ASSERT_EQUAL(log.arg[1], 3);
    CU_ASSERT_EQUAL(log.at[1], 100);
    CU_ASSERT_EQUAL(log.arg[2], 2);
    CU_ASSERT_EQUAL(log.at[2], 125);
    engine_free(eng);
}

/* ---------- ties ---------- */

static void test_ties_in_scheduling_order(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(8);
    /* 1000 events at t=5 interleaved with 1000 at t=3, scheduled in one loop. */
    for (uint64_t i = 0; i < 2000; i++)
        engine_at(eng, i % 2 ? 3 : 5, log_fn, &log, i);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 2000);
    CU_ASSERT_EQUAL_FATAL(log.n, 2000);
    /* First the odd args (t=3) ascending, then the even ones (t=5). */
    int ok = 1;
    for (uint64_t k = 0; k < 1000; k++) {
        ok &= log.arg[k] == 2 * k + 1 && log.at[k] == 3;
        ok &= log.arg[1000 + k] == 2 * k && log.at[1000 + k] == 5;
    }
    CU_ASSERT(ok);
    engine_free(eng);
}

typedef struct spawn_ctx {
    ev_log log;
    int children;
} spawn_ctx;

static void spawn_child_fn(engine *eng, void *ctx, uint64_t arg)
{
    log_fn(eng, &((spawn_ctx *)ctx)->log, arg);
}

/* Logs itself, then schedules `children` events at the current time with
 * args 100*arg + 1 .. 100*arg + children. */
static void spawn_fn(engine *eng, void *ctx, uint64_t arg)
{
    spawn_ctx *sc = ctx;
    log_fn(eng, &sc->log, arg);
    for (int i = 1; i <= sc->children; i++)
        engine_at(eng, engine_now(eng), spawn_child_fn, sc, 100 * arg + (uint64_t)i);
}

static void test_ties_scheduled_from_callbacks(void)
{
    spawn_ctx sc = { .log = { .n = 0 }, .children = 5 };
    engine *eng = engine_new(1);
    /* At t=10: spawner 1, plain 2, spawner 3, plain 4 (scheduled in that order).
     * The spawners' children are scheduled later than 2 and 4, so they run
     * after them, in the order they were scheduled; t=11 runs last. */
    engine_at(eng, 11, spawn_child_fn, &sc, 9);
    engine_at(eng, 10, spawn_fn, &sc, 1);
    engine_at(eng, 10, spawn_child_fn, &sc, 2);
    engine_at(eng, 10, spawn_fn, &sc, 3);
    engine_at(eng, 10, spawn_child_fn, &sc, 4);
    static const uint64_t want[] = { 1, 2, 3, 4, 101, 102, 103, 104, 105,
                                     301, 302, 303, 304, 305, 9 };
    size_t nwant = sizeof want / sizeof want[0];
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), nwant);
    CU_ASSERT_EQUAL_FATAL(sc.log.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        CU_ASSERT_EQUAL(sc.log.arg[i], want[i]);
        CU_ASSERT_EQUAL(sc.log.at[i], i + 1 == nwant ? 11 : 10);
    }
    engine_free(eng);
}

/* ---------- cancellation ---------- */

static void test_cancel_pending(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(2);
    engine_handle h[6];
    for (uint64_t i = 0; i < 6; i++)
        h[i] = engine_at(eng, (int64_t)(10 * i), log_fn, &log, i);
    CU_ASSERT(engine_is_pending(eng, h[2]));
    CU_ASSERT_EQUAL(engine_cancel(eng, h[2]), 1);
    CU_ASSERT(!engine_is_pending(eng, h[2]));
    CU_ASSERT_EQUAL(engine_cancel(eng, h[0]), 1); /* the heap root */
    CU_ASSERT_EQUAL(engine_cancel(eng, h[5]), 1); /* the last one */
    CU_ASSERT_EQUAL(engine_pending(eng), 3);
    assert_check(eng);
    /* Cancelled again: stale. */
    CU_ASSERT_EQUAL(engine_cancel(eng, h[2]), 0);
    CU_ASSERT_EQUAL(engine_pending(eng), 3);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 3);
    CU_ASSERT_EQUAL_FATAL(log.n, 3);
    CU_ASSERT_EQUAL(log.arg[0], 1);
    CU_ASSERT_EQUAL(log.arg[1], 3);
    CU_ASSERT_EQUAL(log.arg[2], 4);
    engine_free(eng);
}

static void test_cancel_stale_after_run(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    engine_handle a = engine_at(eng, 1, log_fn, &log, 1);
    engine_at(eng, 2, log_fn, &log, 2);
    CU_ASSERT_EQUAL(engine_step(eng), 1);
    CU_ASSERT(!engine_is_pending(eng, a));
    CU_ASSERT_EQUAL(engine_cancel(eng, a), 0);
    CU_ASSERT_EQUAL(engine_pending(eng), 1);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 1);
    CU_ASSERT_EQUAL(log.n, 2);
    engine_free(eng);
}

static void test_cancel_stale_after_slot_reuse(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(1);
    engine_handle old = engine_at(eng, 5, log_fn, &log, 1);
    CU_ASSERT_EQUAL(engine_cancel(eng, old), 1);
    /* The pool has one slot, so the next event must reuse it. */
    engine_handle fresh = engine_at(eng, 7, log_fn, &log, 2);
    CU_ASSERT_EQUAL(fresh.slot, old.slot);
    CU_ASSERT_NOT_EQUAL(fresh.gen, old.gen);
    CU_ASSERT(!engine_is_pending(eng, old));
    CU_ASSERT(engine_is_pending(eng, fresh));
    CU_ASSERT_EQUAL(engine_cancel(eng, old), 0);
    CU_ASSERT_EQUAL(engine_pending(eng), 1);
    /* Run it, then reuse the slot again: both old handles stay stale. */
    CU_ASSERT_EQUAL(engine_step(eng), 1);
    engine_handle third = engine_at(eng, 9, log_fn, &log, 3);
    CU_ASSERT_EQUAL(third.slot, old.slot);
    CU_ASSERT_EQUAL(engine_cancel(eng, old), 0);
    CU_ASSERT_EQUAL(engine_cancel(eng, fresh), 0);
    CU_ASSERT(engine_is_pending(eng, third));
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 1);
    CU_ASSERT_EQUAL_FATAL(log.n, 2);
    CU_ASSERT_EQUAL(log.arg[0], 2);
    CU_ASSERT_EQUAL(log.arg[1], 3);
    assert_check(eng);
    engine_free(eng);
}

static void test_zero_and_wild_handles_are_stale(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    engine_at(eng, 1, log_fn, &log, 1);
    engine_handle zero = { 0, 0 };
    engine_handle wild = { 1000000, 1 };
    CU_ASSERT(!engine_is_pending(eng, zero));
    CU_ASSERT_EQUAL(engine_cancel(eng, zero), 0);
    CU_ASSERT_EQUAL(engine_cancel(eng, wild), 0);
    CU_ASSERT_EQUAL(engine_pending(eng), 1);
    engine_free(eng);
}

typedef struct cancel_ctx {
    ev_log log;
    engine_handle victim;
    int cancel_rc;
} cancel_ctx;

static void cancel_victim_fn(engine *eng, void *ctx, uint64_t arg)
{
    cancel_ctx *cc = ctx;
    log_fn(eng, &cc->log, arg);
    cc->cancel_rc = engine_cancel(eng, cc->victim);
}

static void cancel_logged_fn(engine *eng, void *ctx, uint64_t arg)
{
    log_fn(eng, &((cancel_ctx *)ctx)->log, arg);
}

static void test_cancel_from_callback(void)
{
    cancel_ctx cc = { .log = { .n = 0 }, .cancel_rc = -1 };
    engine *eng = engine_new(4);
    engine_at(eng, 10, cancel_victim_fn, &cc, 1);
    cc.victim = engine_at(eng, 10, cancel_logged_fn, &cc, 2);
    engine_at(eng, 20, cancel_logged_fn, &cc, 3);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 2);
    CU_ASSERT_EQUAL(cc.cancel_rc, 1);
    CU_ASSERT_EQUAL_FATAL(cc.log.n, 2);
    CU_ASSERT_EQUAL(cc.log.arg[0], 1);
    CU_ASSERT_EQUAL(cc.log.arg[1], 3);
    engine_free(eng);
}

/* An event's own handle is stale while it runs (its slot is already free). */
static void self_cancel_fn(engine *eng, void *ctx, uint64_t arg)
{
    cancel_ctx *cc = ctx;
    cc->cancel_rc = engine_cancel(eng, cc->victim);
}

static void test_cancel_self_is_stale(void)
{
    cancel_ctx cc = { .log = { .n = 0 }, .cancel_rc = -1 };
    engine *eng = engine_new(4);
    cc.victim = engine_at(eng, 10, self_cancel_fn, &cc, 1);
    CU_ASSERT_EQUAL(engine_step(eng), 1);
    CU_ASSERT_EQUAL(cc.cancel_rc, 0);
    assert_check(eng);
    engine_free(eng);
}

/* ---------- run bounds, stop, hook ---------- */

static void test_run_until_bound(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    for (uint64_t i = 1; i <= 4; i++)
        engine_at(eng, (int64_t)(10 * i), log_fn, &log, i); /* 10 20 30 40 */
    CU_ASSERT_EQUAL(engine_run(eng, 25), 2);
    CU_ASSERT_EQUAL(engine_now(eng), 20);
    CU_ASSERT_EQUAL(engine_pending(eng), 2);
    /* The bound is inclusive. */
    CU_ASSERT_EQUAL(engine_run(eng, 30), 1);
    CU_ASSERT_EQUAL(engine_now(eng), 30);
    /* A bound before the next event runs nothing and leaves the clock. */
    CU_ASSERT_EQUAL(engine_run(eng, 35), 0);
    CU_ASSERT_EQUAL(engine_now(eng), 30);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 1);
    CU_ASSERT_EQUAL(engine_now(eng), 40);
    CU_ASSERT_EQUAL(log.n, 4);
    CU_ASSERT_EQUAL(engine_events_run(eng), 4);
    engine_free(eng);
}

static void stop_fn(engine *eng, void *ctx, uint64_t arg)
{
    log_fn(eng, ctx, arg);
    engine_stop(eng);
}

static void test_stop(void)
{
    ev_log log = { .n = 0 };
    engine *eng = engine_new(4);
    engine_at(eng, 10, log_fn, &log, 1);
    engine_at(eng, 10, stop_fn, &log, 2);
    engine_at(eng, 10, log_fn, &log, 3);
    engine_at(eng, 20, log_fn, &log, 4);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 2);
    CU_ASSERT_EQUAL(log.n, 2);
    CU_ASSERT_EQUAL(engine_pending(eng), 2);
    /* The next run starts afresh. */
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 2);
    CU_ASSERT_EQUAL_FATAL(log.n, 4);
    CU_ASSERT_EQUAL(log.arg[2], 3);
    CU_ASSERT_EQUAL(log.arg[3], 4);
    engine_free(eng);
}

typedef struct hook_state {
    int calls;
    int64_t last_now;
    int bad;
} hook_state;

static void hook_fn(engine *eng, void *ud)
{
    hook_state *hs = ud;
    hs->calls++;
    kt_err err;
    if (engine_check(eng, &err) != 0)
        hs->bad++;
    hs->last_now = engine_now(eng);
}

static void test_after_hook(void)
{
    ev_log log = { .n = 0 };
    hook_state hs = { 0, 0, 0 };
    engine *eng = engine_new(2);
    engine_set_after_hook(eng, hook_fn, &hs);
    for (uint64_t i = 0; i < 5; i++)
        engine_at(eng, (int64_t)(7 * i), log_fn, &log, i);
    engine_run(eng, INT64_MAX);
    CU_ASSERT_EQUAL(hs.calls, 5);
    CU_ASSERT_EQUAL(hs.last_now, 28);
    CU_ASSERT_EQUAL(hs.bad, 0);
    engine_set_after_hook(eng, NULL, NULL);
    engine_at(eng, 30, log_fn, &log, 9);
    engine_run(eng, INT64_MAX);
    CU_ASSERT_EQUAL(hs.calls, 5);
    engine_free(eng);
}

/* ---------- scheduling in the past is a programming error ---------- */

static void noop_fn(engine *eng, void *ctx, uint64_t arg) {}

/* Runs fn in a child process; 1 when it died of SIGABRT (a failed assert). */
static int aborts(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        fn();
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void schedule_in_past(void)
{
    engine *eng = engine_new(4);
    engine_at(eng, 100, noop_fn, NULL, 0);
    engine_step(eng);
    engine_at(eng, 99, noop_fn, NULL, 0);
}

static void negative_delay(void)
{
    engine *eng = engine_new(4);
    engine_after(eng, -1, noop_fn, NULL, 0);
}

static void test_past_time_asserts(void)
{
#ifdef NDEBUG
    fprintf(stderr, "(NDEBUG: asserts compiled out, not checked) ");
#else
    CU_ASSERT(aborts(schedule_in_past));
    CU_ASSERT(aborts(negative_delay));
#endif
}

/* ---------- pool growth ---------- */

static void test_growth_from_one(void)
{
    enum { N = 3000 };
    ev_log log = { .n = 0 };
    engine *eng = engine_new(1);
    engine_handle first = engine_at(eng, 5 * N, log_fn, &log, 0);
    /* Descending times, so every insert sifts to the root across regrowths. */
    for (uint64_t i = 1; i < N; i++)
        engine_at(eng, (int64_t)(5 * (N - i)), log_fn, &log, i);
    CU_ASSERT_EQUAL(engine_pending(eng), N);
    assert_check(eng);
    /* A handle from before all the growth still works. */
    CU_ASSERT(engine_is_pending(eng, first));
    CU_ASSERT_EQUAL(engine_cancel(eng, first), 1);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), N - 1);
    CU_ASSERT_EQUAL_FATAL(log.n, N - 1);
    int ok = 1;
    for (size_t k = 0; k < N - 1; k++)
        ok &= log.arg[k] == N - 1 - k && log.at[k] == (int64_t)(5 * (k + 1));
    CU_ASSERT(ok);
    assert_check(eng);
    engine_free(eng);

    eng = engine_new(0); /* treated as room for one */
    CU_ASSERT_PTR_NOT_NULL_FATAL(eng);
    engine_at(eng, 1, log_fn, &log, 0);
    engine_at(eng, 2, log_fn, &log, 0);
    CU_ASSERT_EQUAL(engine_run(eng, INT64_MAX), 2);
    engine_free(eng);
}

/* ---------- randomized comparison with a sorted-array model ---------- */

enum { ST_PENDING, ST_RAN, ST_CANCELLED };

typedef struct ref_ev { int64_t at; uint64_t seq; uint64_t id; } ref_ev;

/* State shared by the engine callbacks and the model. The model is a sorted
 * array of (at, seq, id), seq counting schedules in the order the test
 * makes them; the engine is expected to agree with it on every step. */
typedef struct rnd_state {
    engine *eng;
    ref_ev *pend;
    size_t n_pend;
    uint64_t ref_seq;
    engine_handle *handles;
    unsigned char *status;
    uint64_t next_id, max_ids;
    uint64_t expect_id;
    int64_t expect_at;
    uint64_t mismatches;
    uint64_t *log_id;   /* ids in the order they ran */
    int64_t *log_at;
    size_t n_log;
} rnd_state;

static int ref_less(const ref_ev *a, const ref_ev *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void ref_insert(rnd_state *st, int64_t at, uint64_t id)
{
    ref_ev e = { at, st->ref_seq++, id };
    size_t lo = 0, hi = st->n_pend;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ref_less(&st->pend[mid], &e))
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&st->pend[lo + 1], &st->pend[lo], (st->n_pend - lo) * sizeof e);
    st->pend[lo] = e;
    st->n_pend++;
}

static void ref_remove_at(rnd_state *st, size_t i)
{
    memmove(&st->pend[i], &st->pend[i + 1], (st->n_pend - i - 1) * sizeof *st->pend);
    st->n_pend--;
}

static void rnd_fn(engine *eng, void *ctx, uint64_t id);

/* Schedules a new event at `at` in both the engine and the model. */
static void rnd_schedule(rnd_state *st, int64_t at)
{
    if (st->next_id >= st->max_ids) {
        st->mismatches++;
        return;
    }
    uint64_t id = st->next_id++;
    st->handles[id] = engine_at(st->eng, at, rnd_fn, st, id);
    st->status[id] = ST_PENDING;
    ref_insert(st, at, id);
}

/* Runs as the engine's callback: must be the model's earliest event. Events
 * whose id is 3 mod 7 schedule a child at now + id mod 4 (often a tie). */
static void rnd_fn(engine *eng, void *ctx, uint64_t id)
{
    rnd_state *st = ctx;
    if (id != st->expect_id || engine_now(eng) != st->expect_at)
        st->mismatches++;
    st->log_id[st->n_log] = id;
    st->log_at[st->n_log++] = engine_now(eng);
    if (id % 7 == 3)
        rnd_schedule(st, engine_now(eng) + (int64_t)(id % 4));
}

static void rnd_step(rnd_state *st)
{
    if (st->n_pend == 0) {
        st->mismatches += engine_step(st->eng) != 0;
        return;
    }
    st->expect_id = st->pend[0].id;
    st->expect_at = st->pend[0].at;
    st->status[st->expect_id] = ST_RAN;
    ref_remove_at(st, 0);
    uint64_t before = st->n_log;
    st->mismatches += engine_step(st->eng) != 1;
    st->mismatches += st->n_log != before + 1;
}

static void rnd_cancel(rnd_state *st, uint64_t id)
{
    int want = st->status[id] == ST_PENDING;
    st->mismatches += engine_is_pending(st->eng, st->handles[id]) != want;
    st->mismatches += engine_cancel(st->eng, st->handles[id]) != want;
    if (!want)
        return;
    st->status[id] = ST_CANCELLED;
    for (size_t i = 0; i < st->n_pend; i++)
        if (st->pend[i].id == id) {
            ref_remove_at(st, i);
            return;
        }
    st->mismatches++;
}

/* Picks the operation mix by phase: fill, churn, drain. */
static void rnd_op(rnd_state *st, gsl_rng *r, uint64_t op, uint64_t n_ops)
{
    double p_sched = op < n_ops / 3 ? 0.55 : op < 2 * n_ops / 3 ? 0.35 : 0.2;
    double p_cancel = 0.12;
    double u = gsl_rng_uniform(r);
    if (u < p_sched) {
        /* Mostly short delays (many ties), sometimes far in the future. */
        int64_t d = gsl_rng_uniform(r) < 0.8 ? (int64_t)gsl_rng_uniform_int(r, 20)
                                             : (int64_t)gsl_rng_uniform_int(r, 1000000);
        rnd_schedule(st, engine_now(st->eng) + d);
    } else if (u < p_sched + p_cancel) {
        if (st->next_id > 0)
            rnd_cancel(st, gsl_rng_uniform_int(r, (unsigned long)st->next_id));
    } else {
        rnd_step(st);
    }
}

static uint64_t test_ops(void)
{
    const char *s = getenv("KT_TEST_OPS");
    return s && *s ? strtoull(s, NULL, 10) : 100000;
}

/* One randomized run; the execution log is left in st (caller frees with
 * rnd_free). Returns the number of engine_check and engine_check_touched
 * failures. */
static int rnd_run(rnd_state *st, unsigned long seed, size_t capacity, uint64_t n_ops)
{
    memset(st, 0, sizeof *st);
    st->max_ids = 2 * n_ops + 16;
    st->eng = engine_new(capacity);
    st->pend = malloc(st->max_ids * sizeof *st->pend);
    st->handles = malloc(st->max_ids * sizeof *st->handles);
    st->status = malloc(st->max_ids);
    st->log_id = malloc(st->max_ids * sizeof *st->log_id);
    st->log_at = malloc(st->max_ids * sizeof *st->log_at);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int bad_checks = 0;
    kt_err err;
    for (uint64_t op = 0; op < n_ops; op++) {
        rnd_op(st, r, op, n_ops);
        /* The check of what changed agrees after every operation. */
        bad_checks += engine_check_touched(st->eng, &err) != 0;
        if (op % 1000 == 0) {
            bad_checks += engine_check(st->eng, &err) != 0;
            st->mismatches += engine_pending(st->eng) != st->n_pend;
        }
    }
    while (st->n_pend > 0)
        rnd_step(st);
    st->mismatches += engine_step(st->eng) != 0;
    bad_checks += engine_check(st->eng, &err) != 0;
    gsl_rng_free(r);
    return bad_checks;
}

static void rnd_free(rnd_state *st)
{
    engine_free(st->eng);
    free(st->pend);
    free(st->handles);
    free(st->status);
    free(st->log_id);
    free(st->log_at);
}

static void test_random_against_model(void)
{
    rnd_state st;
    uint64_t n_ops = test_ops();
    int bad = rnd_run(&st, 20240611, 1, n_ops);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(st.mismatches, 0);
    /* Everything scheduled either ran or was cancelled. */
    uint64_t ran = 0, cancelled = 0;
    for (uint64_t i = 0; i < st.next_id; i++) {
        ran += st.status[i] == ST_RAN;
        cancelled += st.status[i] == ST_CANCELLED;
    }
    CU_ASSERT_EQUAL(ran + cancelled, st.next_id);
    CU_ASSERT_EQUAL(ran, st.n_log);
    CU_ASSERT_EQUAL(engine_events_run(st.eng), ran);
    /* The run must have exercised all three operations substantially. */
    CU_ASSERT(n_ops < 1000 || (ran > n_ops / 10 && cancelled > n_ops / 100));
    rnd_free(&st);
}

static void test_deterministic(void)
{
    uint64_t n_ops = test_ops() / 2;
    rnd_state a, b, c;
    rnd_run(&a, 7, 1, n_ops);
    rnd_run(&b, 7, 1, n_ops);
    rnd_run(&c, 7, 4096, n_ops); /* pool size must not change the order */
    CU_ASSERT(a.n_log > 0);
    CU_ASSERT_EQUAL_FATAL(a.n_log, b.n_log);
    CU_ASSERT_EQUAL_FATAL(a.n_log, c.n_log);
    CU_ASSERT(memcmp(a.log_id, b.log_id, a.n_log * sizeof *a.log_id) == 0);
    CU_ASSERT(memcmp(a.log_at, b.log_at, a.n_log * sizeof *a.log_at) == 0);
    CU_ASSERT(memcmp(a.log_id, c.log_id, a.n_log * sizeof *a.log_id) == 0);
    CU_ASSERT(memcmp(a.log_at, c.log_at, a.n_log * sizeof *a.log_at) == 0);
    rnd_free(&a);
    rnd_free(&b);
    rnd_free(&c);
}

int main(void)
{
    static const tu_test tests[] = {
        { "new engine is empty", test_new_is_empty },
        { "runs in time order", test_runs_in_time_order },
        { "engine_after is relative to now", test_after_is_relative_to_now },
        { "ties run in scheduling order", test_ties_in_scheduling_order },
        { "ties scheduled from callbacks", test_ties_scheduled_from_callbacks },
        { "cancel pending events", test_cancel_pending },
        { "cancel after run is stale", test_cancel_stale_after_run },
        { "cancel after slot reuse is stale", test_cancel_stale_after_slot_reuse },
        { "zero and wild handles are stale", test_zero_and_wild_handles_are_stale },
        { "cancel from a callback", test_cancel_from_callback },
        { "own handle is stale while running", test_cancel_self_is_stale },
        { "engine_run stops at the bound", test_run_until_bound },
        { "engine_stop", test_stop },
        { "after hook", test_after_hook },
        { "scheduling in the past asserts", test_past_time_asserts },
        { "pool grows from capacity 1", test_growth_from_one },
        { "random ops match a sorted-array model", test_random_against_model },
        { "identical random runs are identical", test_deterministic },
        { NULL, NULL },
    };
    return tu_run("engine", tests);
}
