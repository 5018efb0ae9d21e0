/* test_scenarios.c — every file in scenarios/, shortened, runs with the invariant checks after every event (plan files: each candidate's scenario); a corruption an event made is found after it, one elsewhere by its replica's next full walk. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "plan.h"
#include "scenario.h"
#include "sim.h"
#include "testutil.h"

/* Checks run after every event cost time in proportion to the KV pool, so
 * each scenario is cut to this much work; its features (tiers, routing,
 * disaggregation, failures, traces) are kept. */
#define SHORT_SESSIONS 30
#define SHORT_TRACE_REQUESTS 200
#define SHORT_FLEET_REPLICAS 4
#define FLEET_REPLICAS 16
/* A fault is moved to when about this many sessions have arrived. */
#define FAULT_AFTER_SESSIONS 10
#define MAX_OVERRIDES (PLAN_MAX_SETS + 4)

/* Overrides that shorten sc; strings in bufs (caller's), pointers appended to sets. */
static int shorten(const scenario *sc, char bufs[][128], char **sets, int n)
{
    int k = 0;
    if (sc->trace.on) {
        snprintf(bufs[k], 128, "workload.trace.limit=%d", SHORT_TRACE_REQUESTS);
        sets[n++] = bufs[k++];
    } else if (sc->workload.sessions > SHORT_SESSIONS) {
        snprintf(bufs[k], 128, "workload.sessions=%d", SHORT_SESSIONS);
        sets[n++] = bufs[k++];
    }
    if (sc->replicas > FLEET_REPLICAS && sc->n_faults == 0 && sc->prefill_replicas == 0) {
        snprintf(bufs[k], 128, "replicas.count=%d", SHORT_FLEET_REPLICAS);
        sets[n++] = bufs[k++];
    }
    if (sc->n_faults > 0 && !sc->trace.on) {
        snprintf(bufs[k], 128, "faults=[{at: %.6gs, replica: %d}]",
                 FAULT_AFTER_SESSIONS / sc->workload.rate_per_s, sc->faults[0].first);
        sets[n++] = bufs[k++];
    }
    return n;
}

/* Loads path with sets, shortens it, runs it with the checks on, and checks
 * every request's record and that none is missing. */
static void run_checked(const char *path, char **sets, int n_sets)
{
    kt_err err;
    scenario *sc = scenario_load(path, sets, n_sets, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    char bufs[4][128];
    char *all[MAX_OVERRIDES];
    for (int i = 0; i < n_sets; i++)
        all[i] = sets[i];
    int n = shorten(sc, bufs, all, n_sets);
    scenario_free(sc);
    sc = scenario_load(path, all, n, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    sim_opts o = { .check = 1 };
    metrics *m = NULL;
    sim_stats st;
    int rc = sim_run(sc, &o, &m, &st, &err);
    if (rc < 0)
        fprintf(stderr, "\n  %s: ", path), kt_err_print(&err, stderr);
    CU_ASSERT_EQUAL(rc, 0);
    if (m) {
        CU_ASSERT(m->n_reqs > 0);
        CU_ASSERT_EQUAL(metrics_check(m, &err), 0);
        metrics_summary s;
        CU_ASSERT_EQUAL_FATAL(metrics_summarize(m, &sc->slo, &sc->cost, &s, NULL), 0);
        CU_ASSERT_EQUAL(s.completed + s.rejected + s.unfinished, s.requests);
        CU_ASSERT_EQUAL(s.unfinished, 0);
        /* A failure moved up into the shortened run: nothing that arrives
         * later is served there, and some requests do arrive later. */
        if (sc->n_faults > 0) {
            const scenario_fault *f = &sc->faults[0];
            size_t later = 0;
            for (size_t i = 0; i < m->n_reqs; i++)
                if (m->reqs[i].arrival_ns > f->at_ns) {
                    later++;
                    CU_ASSERT(m->reqs[i].replica < f->first || m->reqs[i].replica >= f->first + f->count);
                }
            CU_ASSERT(later > 0);
        }
        fprintf(stderr, "\n  %s: %zu requests, %llu events", strrchr(path, '/') + 1, s.requests,
                (unsigned long long)st.events);
    }
    metrics_free(m);
    scenario_free(sc);
}

static int is_plan(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int plan = 0;
    while (f && !plan && fgets(line, sizeof line, f))
        plan = strncmp(line, "candidates:", 11) == 0;
    if (f)
        fclose(f);
    return plan;
}

static void run_plan_candidates(const char *path)
{
    kt_err err;
    plan_cfg *p = plan_load(path, NULL, 0, &err);
    if (!p)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int c = 0; c < p->n_cand; c++)
        run_checked(p->cand[c].scenario, p->cand[c].sets, p->cand[c].n_sets);
    plan_free(p);
}

static int yaml_name(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

static void test_every_scenario(void)
{
    struct dirent **names;
    int n = scandir(tu_path("scenarios"), &names, yaml_name, alphasort);
    CU_ASSERT_FATAL(n > 0);
    int ran = 0;
    for (int i = 0; i < n; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "scenarios/%s", names[i]->d_name);
        const char *path = tu_path(rel);
        if (is_plan(path))
            run_plan_candidates(path);
        else
            run_checked(path, NULL, 0);
        ran++;
        free(names[i]);
    }
    free(names);
    CU_ASSERT(ran >= 12);
}

/* ---------- a corruption under --check ---------- */

/* Corrupts one replica's running sequences once, after the first event at
 * or past from_event that is not a full-check event and offers what the
 * corruption needs; remembers that event and the last one seen (the run
 * stops after the event whose check failed). */
typedef struct corrupter {
    int away;                   /* 1: a verified entry no event touches; 0: one the event just added */
    uint64_t from_event, injected_at, last_event;
    uint64_t version;           /* replica 0's pool version after the previous event */
    uint64_t changes;           /* events from the corruption on that changed replica 0's pool */
} corrupter;

/* Running sequences of r whose tables hold block b. */
static int holders(const replica *r, uint32_t b)
{
    int n = 0;
    for (int i = 0; i < r->queue.n_running; i++) {
        const kv_seq *x = &r->queue.running[i]->seq;
        for (uint32_t k = 0; k < x->n_blocks; k++)
            n += x->blocks[k] == b;
    }
    return n;
}

/* x's last verified entry (not its first) made to name x's first block, a
 * shared one (the system prompt's, held by at least SHARED_HOLDERS running
 * sequences): x's own block keeps a reference nobody holds, the shared one
 * has a holder more than references, the sums agree, and no entry changed
 * since it was verified. When x is released the shared block's count
 * drops by one too many, but others still hold it, so no per-event check
 * sees a ref count go below zero. */
#define SHARED_HOLDERS 3
static int corrupt_verified_entry(replica *r)
{
    for (int i = 0; i < r->queue.n_running; i++) {
        kv_seq *x = &r->queue.running[i]->seq;
        if (x->checked_blocks < 2 || x->checked_blocks > x->n_blocks || holders(r, x->blocks[0]) < SHARED_HOLDERS ||
            holders(r, x->blocks[x->checked_blocks - 1]) != 1)
            continue;
        x->blocks[x->checked_blocks - 1] = x->blocks[0];
        return 1;
    }
    return 0;
}

/* An entry this event added (past the verified ones) made to name a block
 * past the pool's end. */
static int corrupt_new_entry(replica *r)
{
    for (int i = 0; i < r->queue.n_running; i++) {
        kv_seq *x = &r->queue.running[i]->seq;
        if (x->n_blocks > x->checked_blocks) {
            x->blocks[x->n_blocks - 1] = kv_pool_blocks(r->kv);
            return 1;
        }
    }
    return 0;
}

static void corrupt_after_event(void *ud, uint64_t events_run, replica *reps, int n_reps)
{
    corrupter *c = ud;
    c->last_event = events_run;
    if (n_reps < 1)
        return;
    uint64_t v = kv_pool_version(reps[0].kv);
    int changed = v != c->version;
    c->version = v;
    if (c->injected_at) {
        c->changes += changed;
        return;
    }
    /* Away from a full walk: not at the heap's, and (away) just after the
     * replica's own, when the checks since have found no change. */
    if (events_run < c->from_event || events_run % SIM_CHECK_FULL_EVENTS == 0 ||
        (c->away && reps[0].kv_checked.changes != 0))
        return;
    if (c->away ? corrupt_verified_entry(&reps[0]) : corrupt_new_entry(&reps[0])) {
        c->injected_at = events_run;
        c->changes = changed;
    }
}

/* Runs the quickstart with --check and c's corruption; returns sim_run's
 * status with its message in err. */
static int run_corrupted(corrupter *c, kt_err *err)
{
    scenario *sc = scenario_load(tu_path("scenarios/quickstart.yaml"), NULL, 0, err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    sim_opts o = { .check = 1, .on_event = corrupt_after_event, .on_event_ud = c };
    metrics *m = NULL;
    sim_stats st;
    int rc = sim_run(sc, &o, &m, &st, err);
    metrics_free(m);
    scenario_free(sc);
    return rc;
}

/* A block table entry corrupted where no event looks again (verified, and
 * the ref-count sums still agree) passes the per-event checks and is
 * found by the replica's next full walk: when SIM_CHECK_FULL_EVENTS events
 * have changed its pool since the last one. Injected just after a full
 * walk, so the per-event checks have the whole interval to miss it. */
static void test_check_finds_untouched_corruption(void)
{
    corrupter c = { .away = 1, .from_event = 2 };
    kt_err err;
    CU_ASSERT_EQUAL(run_corrupted(&c, &err), -1);
    CU_ASSERT_FATAL(c.injected_at > 0);
    CU_ASSERT(c.last_event > c.injected_at);
    CU_ASSERT_EQUAL(c.changes, SIM_CHECK_FULL_EVENTS);
    CU_ASSERT(strstr(err.msg, "sequences hold it") || strstr(err.msg, "holds block"));
    fprintf(stderr, "\n  corrupted after event %llu, found after event %llu (%llu that changed the pool): %s\n  ",
            (unsigned long long)c.injected_at, (unsigned long long)c.last_event, (unsigned long long)c.changes,
            err.msg);
}

/* An entry the event itself added, corrupted, is found after that event. */
static void test_check_finds_touched_corruption(void)
{
    corrupter c = { .away = 0, .from_event = SIM_CHECK_FULL_EVENTS + 1 };
    kt_err err;
    CU_ASSERT_EQUAL(run_corrupted(&c, &err), -1);
    CU_ASSERT_FATAL(c.injected_at > 0);
    CU_ASSERT_EQUAL(c.last_event, c.injected_at);
    CU_ASSERT_NOT_EQUAL(c.injected_at % SIM_CHECK_FULL_EVENTS, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out of the pool"));
    fprintf(stderr, "\n  corrupted after event %llu, found after event %llu: %s\n  ", (unsigned long long)c.injected_at,
            (unsigned long long)c.last_event, err.msg);
}

int main(void)
{
    static const tu_test tests[] = {
        { "every scenario in scenarios/ with --check", test_every_scenario },
        { "a corruption no event touches: the full walk, within SIM_CHECK_FULL_EVENTS events of its replica",
          test_check_finds_untouched_corruption },
        { "a corruption where an event changed the pool: found after that event", test_check_finds_touched_corruption },
        { NULL, NULL },
    };
    return tu_run("scenarios", tests);
}
