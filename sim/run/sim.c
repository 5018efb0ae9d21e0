/* sim.c — builds the world for a scenario (engine, replicas, sessions, router), runs it, hands back the metrics. */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gsl/gsl_rng.h>

#include "engine.h"
#include "kv_layout.h"
#include "linkcost.h"
#include "htab.h"
#include "progress.h"
#include "trace.h"
#include "serve.h"
#include "cli.h"
#include "grow.h"

/* --progress: the status line is redrawn (or, off a terminal, written) at most this often. */
#define SIM_PROGRESS_INTERVAL_S 1.0
/* The time series' memory is bounded: after this many samples at one
 * interval, the interval doubles (so a run of any length keeps at most
 * this many samples per doubling of its length; 100,000 at the default 1 s
 * is 27.8 h of simulated time before the first doubling). */
#define SIM_SAMPLES_PER_INTERVAL 100000
/* The wall clock is read every this many events (about a millisecond of
 * simulation) to honour --max-wall. */
#define SIM_WALL_CHECK_EVENTS 1024

struct sim_world;

/* One user session: its turns are sequential, so it owns one request.
 * Invariants: turn < turns while active; history_tokens is everything said
 * in the earlier turns (their new tokens and answers). */
typedef struct session {
    uint64_t id;
    int turns, turn;
    int64_t history_tokens;
    int replica;                /* sticky routing target, -1 before the first turn */
    workload_turn cur;
    serve_req req;
    struct session *next_free;
    struct sim_world *w;
} session;

typedef struct sim_world {
    const scenario *sc;
    const sim_opts *opts;
    engine *eng;
    cost_model cm;
    spec_cost spec;             /* speculative decoding's draft (method SPEC_OFF: off) */
    metrics *met;
    replica *reps;
    int n_reps;
    router rt;                  /* picks replicas for requests */
    gsl_rng *arrival_rng, *scratch_rng;
    session *free_sessions;
    session **all_sessions;     /* every session struct made, for freeing */
    size_t n_all, cap_all;
    int64_t sessions_started, sessions_active, next_req_id;
    int64_t last_event_ns;      /* --check: simulated time of the previous event */
    int64_t *prev_busy_ns, *prev_tokens_out;
    double *prev_link_bytes;    /* per replica × link, at the last sample */
    int64_t sample_ns;          /* the time series' interval now: results.sample_interval, doubled as it fills */
    int64_t samples_at_interval; /* samples taken at sample_ns so far */
    int failed;
    kt_err *err;
    fabric *net;                /* links between replicas (disaggregated serving), or NULL */
    tier_cache *shared_tiers[TIER_MAX];   /* fleet-shared tiers' content, NULL for per-replica tiers */
    int first_decode;           /* replicas [0, first_decode) take new requests */
    struct timespec wall_start;
    progress prog;              /* --progress: a status line at most every SIM_PROGRESS_INTERVAL_S */
    /* Trace replay (sc->trace.on): the next record, read one ahead. */
    trace_reader *tr;
    trace_record cur;
    int has_cur;
    int64_t trace_index;
    htab seen;                  /* prefix hash ids asked for so far */
    semcache *sem;              /* semantic prompt cache in front of the engine, or NULL */
    htab trace_sessions;        /* native session id + 1 -> index in the arrays below */
    int64_t *sess_history;
    int *sess_replica;
    uint32_t n_sess;
    size_t cap_sess;
} sim_world;

static double wall_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (b.tv_nsec - a->tv_nsec) / 1e9;
}

/* ---------- sessions ---------- */

static session *session_get(sim_world *w)
{
    session *s = w->free_sessions;
    if (s) {
        w->free_sessions = s->next_free;
        return s;
    }
    session **all = grow_array(w->all_sessions, &w->cap_all, w->n_all + 1, sizeof *all);
    if (!all)
        return NULL;
    w->all_sessions = all;
    s = calloc(1, sizeof *s);
    if (s)
        w->all_sessions[w->n_all++] = s;
    return s;
}

static void session_put(sim_world *w, session *s)
{
    s->next_free = w->free_sessions;
    w->free_sessions = s;
    w->sessions_active--;
}

/* ---------- routing ---------- */

/* A replica for s's request among the live ones taking new requests; -1
 * when every one has failed. */
static int route(sim_world *w, session *s) { return router_pick(&w->rt, &s->req, &s->replica); }

/* The router reads r's load again from now to the end of the event: a
 * request is entering or leaving r, or has just left it (a callback from r
 * runs before r drops the request). */
static void touch(sim_world *w, const replica *r) { router_touch(&w->rt, r->id); }

/* q goes to replica i, which the router reads again from now on. */
static void submit_to(sim_world *w, int i, serve_req *q, int resubmit)
{
    touch(w, &w->reps[i]);
    if (resubmit)
        replica_resubmit(&w->reps[i], q);
    else
        replica_submit(&w->reps[i], q);
}

/* A session's cached conversation has crossed the network from its hot
 * replica to the cold one (arg): the cold replica's HBM cache gets the
 * blocks, and the session stays there. */
static void on_migrated(void *ud, uint64_t cold, int64_t now)
{
    session *s = ud;
    sim_world *w = s->w;
    serve_req *q = &s->req;
    replica *r = &w->reps[cold];
    q->rec.kv_transfer_ns += now - q->rec.arrival_ns;
    if (r->failure.failed) {
        s->replica = -1;
        int i = route(w, s);
        if (i < 0)
            replica_reject(r, q);
        else
            submit_to(w, i, q, 0);
        return;
    }
    replica_cache_prefix(r, &q->content, q->rec.migrated_tokens / kv_pool_block_tokens(r->kv));
    submit_to(w, (int)cold, q, 0);
}

/* Session-sticky shedding (router_shed decides): a session moving to a
 * less loaded replica takes the KV its old replica caches for it over
 * RDMA first. Returns 1 when the request now waits for that transfer. */
static int shed(sim_world *w, session *s)
{
    int hot = router_shed(&w->rt, &s->replica), cold = s->replica;
    if (hot < 0)
        return 0;
    serve_req *q = &s->req;
    replica *h = &w->reps[hot];
    int64_t tokens = kv_pool_cached_prefix(h->kv, &q->content, q->rec.prompt_tokens);
    if (tokens <= 0)
        return 0;
    q->rec.migrated_tokens = tokens;
    handoff_kv_send(h, &w->reps[cold], tokens, on_migrated, s, (uint64_t)cold);
    return 1;
}

/* Sends the session's request to a routed replica, or rejects it at from
 * (a replica, for its clock and accounts) when none is alive. */
static void dispatch(sim_world *w, session *s, replica *from, int resubmit)
{
    if (!resubmit && shed(w, s))
        return;
    int i = route(w, s);
    if (i < 0)
        replica_reject(from, &s->req);
    else
        submit_to(w, i, &s->req, resubmit);
}

/* A prefill replica is done with q's prompt: the live decode replica with
 * the fewest requests (running, queued or arriving) takes it. */
static void on_prefilled(void *ud, serve_req *q, int64_t now)
{
    sim_world *w = ud;
    (void)now;
    touch(w, q->src_rep);   /* q leaves its running set after this returns */
    int d = router_pick_decode(&w->rt);
    if (d < 0) {
        replica_reject(q->src_rep, q);
        return;
    }
    touch(w, &w->reps[d]);
    replica_handoff(&w->reps[d], q);
}

/* A failed replica's request: start it again elsewhere. */
static void on_lost(void *ud, serve_req *q, int64_t now)
{
    (void)now;
    touch(ud, q->rep);      /* a handoff's decode replica counted q until now */
    dispatch(ud, q->owner, q->rep, 1);
}

/* Faults: every replica the fault names fails now. */
static void on_fault(engine *eng, void *ctx, uint64_t k)
{
    sim_world *w = ctx;
    const scenario_fault *f = &w->sc->faults[k];
    (void)eng;
    for (int i = f->first; i < f->first + f->count; i++)
        if (!w->reps[i].failure.failed) {
            touch(w, &w->reps[i]);  /* first: on_lost and on_prefilled route while it fails */
            replica_fail(&w->reps[i], on_lost);
        }
}

/* ---------- arrivals ---------- */

/* Fills the session's request for its current turn. */
static void turn_request(sim_world *w, session *s, int64_t now)
{
    const workload_cfg *wl = &w->sc->workload;
    serve_req *q = &s->req;
    kv_seq seq = q->seq, src = q->src_seq;   /* keep the block-table arrays for reuse */
    memset(q, 0, sizeof *q);
    q->seq = seq;
    q->src_seq = src;
    q->owner = s;
    workload_turn_draw(wl, s->id, s->turn, w->scratch_rng, &s->cur);
    q->rec.id = w->next_req_id++;
    q->rec.session = (int64_t)s->id;
    q->rec.turn = s->turn;
    q->rec.arrival_ns = now;
    int64_t conv = s->history_tokens + s->cur.new_tokens;
    q->rec.prompt_tokens = wl->system_prompt_tokens + conv;
    q->rec.output_tokens = s->cur.output_tokens;
    q->spec.trace_alpha = -1;   /* a synthetic request has no trace record */
    uint32_t n = 0;
    if (wl->system_prompt_tokens > 0)
        q->inline_segs[n++] = (kv_segment){ workload_system_content_id(wl), wl->system_prompt_tokens };
    q->inline_segs[n++] = (kv_segment){ workload_session_content_id(wl, s->id), conv };
    q->content = (kv_content){ q->inline_segs, n };
}

static void on_semcache_hit(engine *eng, void *ctx, uint64_t arg);
static void on_semcache_miss(engine *eng, void *ctx, uint64_t arg);

static void on_turn(engine *eng, void *ctx, uint64_t arg)
{
    session *s = ctx;
    sim_world *w = s->w;
    turn_request(w, s, engine_now(eng));
    if (!w->sem) {
        dispatch(w, s, &w->reps[0], 0);
        return;
    }
    semcache_answer a;
    if (semcache_lookup(w->sem, s->req.rec.prompt_tokens, &a) < 0) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "out of memory in the semantic cache at request %lld", (long long)s->req.rec.id);
        engine_stop(eng);
        return;
    }
    engine_after(eng, a.delay_ns, a.hit ? on_semcache_hit : on_semcache_miss, s, 0);
}

static void on_session_arrival(engine *eng, void *ctx, uint64_t arg)
{
    sim_world *w = ctx;
    const workload_cfg *wl = &w->sc->workload;
    session *s = session_get(w);
    if (!s) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "out of memory starting session %lld", (long long)w->sessions_started);
        engine_stop(eng);
        return;
    }
    s->w = w;
    s->id = (uint64_t)w->sessions_started++;
    s->turns = workload_session_turns(wl, s->id, w->scratch_rng);
    s->turn = 0;
    s->history_tokens = 0;
    s->replica = -1;
    w->sessions_active++;
    if (w->sessions_started < wl->sessions)
        engine_after(eng, workload_next_gap_ns(wl, w->arrival_rng), on_session_arrival, w, 0);
    on_turn(eng, s, 0);
}

/* Speculative prefetch of the conversation so far, at the time the next
 * turn is expected (mean think time less the lead), unless it came first. */
static void on_predicted_prefetch(engine *eng, void *ctx, uint64_t turn)
{
    session *s = ctx;
    sim_world *w = s->w;
    if (s->turn != (int)turn || s->req.rec.turn == (int)turn || s->replica < 0 || w->reps[s->replica].failure.failed)
        return;
    const workload_cfg *wl = &w->sc->workload;
    kv_segment segs[2];
    uint32_t n = 0;
    if (wl->system_prompt_tokens > 0)
        segs[n++] = (kv_segment){ workload_system_content_id(wl), wl->system_prompt_tokens };
    segs[n++] = (kv_segment){ workload_session_content_id(wl, s->id), s->history_tokens };
    kv_content c = { segs, n };
    replica_prefetch(&w->reps[s->replica], &c, wl->system_prompt_tokens + s->history_tokens);
}

static void plan_predicted_prefetch(sim_world *w, session *s)
{
    const tiers_cfg *t = &w->sc->tiers;
    if (!t->n || !fetch_policy_predicts(t->fetch))
        return;
    int64_t at = llround(w->sc->workload.think_ns.mean) - t->prefetch_lead_ns;
    engine_after(w->eng, at > 0 ? at : 0, on_predicted_prefetch, s, (uint64_t)s->turn);
}

/* The session's turn got its answer (answered: 1) or not: it thinks,
 * then asks again, or ends. */
static void session_next(sim_world *w, session *s, int answered)
{
    if (!w->sc->trace.on && answered && s->turn + 1 < s->turns) {
        s->history_tokens += s->cur.new_tokens + s->cur.output_tokens;
        s->turn++;
        engine_after(w->eng, s->cur.think_ns, on_turn, s, 0);
        plan_predicted_prefetch(w, s);
        return;
    }
    session_put(w, s);
}

/* A request left its replica. */
static void on_request_done(void *ud, serve_req *q, int64_t now)
{
    (void)now;
    if (q->rep)
        touch(ud, q->rep);  /* q leaves its running set after this returns */
    session_next(ud, q->owner, q->rec.outcome == REQ_COMPLETED);
}

/* The semantic cache answered the turn: no GPU work. */
static void on_semcache_hit(engine *eng, void *ctx, uint64_t arg)
{
    session *s = ctx;
    (void)eng;
    (void)arg;
    session_next(s->w, s, 1);
}

/* The semantic cache missed: the engine sees the request now, its arrival
 * time unchanged, so TTFT counts the embedding and the lookup. */
static void on_semcache_miss(engine *eng, void *ctx, uint64_t arg)
{
    session *s = ctx;
    (void)eng;
    (void)arg;
    dispatch(s->w, s, &s->w->reps[0], 0);
}

/* ---------- trace replay ---------- */

/* The history slot of a native trace session, made on first sight. */
static int64_t trace_session(sim_world *w, int64_t id)
{
    uint32_t i = htab_get(&w->trace_sessions, (uint64_t)id + 1);
    if (i != HTAB_NONE)
        return i;
    if (w->n_sess == w->cap_sess) {
        /* The two arrays grow in turn; the capacity changes once both have. */
        size_t cap_h = w->cap_sess, cap_r = w->cap_sess;
        int64_t *h = grow_array(w->sess_history, &cap_h, (size_t)w->n_sess + 1, sizeof *h);
        if (!h)
            return -1;
        w->sess_history = h;
        int *r = grow_array(w->sess_replica, &cap_r, (size_t)w->n_sess + 1, sizeof *r);
        if (!r)
            return -1;
        w->sess_replica = r;
        w->cap_sess = cap_h;
    }
    if (htab_put(&w->trace_sessions, (uint64_t)id + 1, w->n_sess) < 0)
        return -1;
    w->sess_history[w->n_sess] = 0;
    w->sess_replica[w->n_sess] = -1;
    return w->n_sess++;
}

/* Room for n segments in q's own array. */
static kv_segment *req_segments(serve_req *q, uint32_t n)
{
    if (n <= 2)
        return q->inline_segs;
    kv_segment *g = grow_array(q->heap_segs, &q->cap_heap_segs, n, sizeof *g);
    if (g)
        q->heap_segs = g;
    return g;
}

/* The prompt's identity: a segment per prefix hash id (their tokens), the
 * conversation of a native session, or a fresh id; then an empty segment of
 * the request's own, so the tokens it generates are its own. */
static int trace_content(sim_world *w, serve_req *q, const trace_record *t, int64_t prompt, int64_t session)
{
    uint64_t own = kt_mix64(~(uint64_t)w->trace_index);
    uint32_t n = t->n_hash_ids + 2;
    kv_segment *g = req_segments(q, n);
    if (!g)
        return -1;
    uint32_t k = 0;
    int64_t covered = 0;
    for (uint32_t i = 0; i < t->n_hash_ids && covered < prompt; i++) {
        int64_t len = prompt - covered < t->hash_block_tokens ? prompt - covered : t->hash_block_tokens;
        g[k++] = (kv_segment){ kt_mix64(t->hash_ids[i] + 1), len };
        covered += len;
        q->rec.trace_blocks++;
        if (htab_get(&w->seen, t->hash_ids[i] + 1) != HTAB_NONE)
            q->rec.trace_reused_blocks++;
        else
            htab_put(&w->seen, t->hash_ids[i] + 1, 0);
    }
    if (covered < prompt)
        g[k++] = (kv_segment){ session >= 0 ? kt_mix64(w->sc->seed ^ kt_mix64((uint64_t)session)) : own,
                               prompt - covered };
    g[k++] = (kv_segment){ own, 0 };
    q->content = (kv_content){ g, k };
    return 0;
}

/* Fills the session's request from the current record. */
static int trace_request(sim_world *w, session *s, int64_t now)
{
    const trace_record *t = &w->cur;
    serve_req *q = &s->req;
    kv_seq seq = q->seq, src = q->src_seq;
    kv_segment *heap = q->heap_segs;
    size_t cap = q->cap_heap_segs;
    memset(q, 0, sizeof *q);
    q->seq = seq;
    q->src_seq = src;
    q->heap_segs = heap;
    q->cap_heap_segs = cap;
    q->owner = s;
    int64_t slot = t->session_id >= 0 ? trace_session(w, t->session_id) : -1, history = 0;
    if (t->session_id >= 0 && slot < 0)
        return -1;
    if (slot >= 0) {
        history = w->sess_history[slot];
        w->sess_history[slot] += t->input_tokens + t->output_tokens;
    }
    q->rec.id = w->next_req_id++;
    q->rec.session = t->session_id >= 0 ? t->session_id : w->trace_index;
    q->rec.turn = t->turn > 0 ? t->turn : 0;
    q->rec.arrival_ns = now;
    q->rec.prompt_tokens = history + t->input_tokens;
    q->rec.output_tokens = t->output_tokens;
    q->spec.trace_alpha = t->acceptance;
    s->replica = slot >= 0 ? w->sess_replica[slot] : -1;
    s->id = (uint64_t)q->rec.session;
    s->w = w;
    if (trace_content(w, q, t, q->rec.prompt_tokens, t->session_id) < 0)
        return -1;
    return (int)slot;
}

static void trace_read_next(sim_world *w)
{
    kt_err e;
    w->has_cur = trace_next(w->tr, &w->cur, &e) > 0;
}

static void on_trace_arrival(engine *eng, void *ctx, uint64_t arg)
{
    sim_world *w = ctx;
    session *s = session_get(w);
    int slot = s ? trace_request(w, s, engine_now(eng)) : -1;
    if (!s || (slot < 0 && w->cur.session_id >= 0)) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "out of memory replaying trace record %lld", (long long)w->trace_index);
        engine_stop(eng);
        return;
    }
    w->sessions_active++;
    w->trace_index++;
    int rep = route(w, s);
    if (slot >= 0)
        w->sess_replica[slot] = s->replica;
    trace_read_next(w);
    if (w->has_cur)
        engine_at(eng, w->cur.arrival_ns, on_trace_arrival, w, 0);
    if (rep < 0)
        replica_reject(&w->reps[0], &s->req);
    else
        submit_to(w, rep, &s->req, 0);
}

/* Opens the trace and schedules its first request. */
static int trace_start(sim_world *w, kt_err *err)
{
    const scenario *sc = w->sc;
    if (htab_init(&w->seen, 1024) < 0 || htab_init(&w->trace_sessions, 256) < 0)
        return -1;
    w->tr = trace_open(sc->trace.path, sc->trace.format, &sc->trace.opts, err);
    if (!w->tr)
        return -1;
    trace_read_next(w);
    if (w->has_cur)
        engine_at(w->eng, w->cur.arrival_ns, on_trace_arrival, w, 0);
    return 0;
}

/* ---------- sampling, progress, checks ---------- */

static int work_remains(const sim_world *w)
{
    if (w->sc->trace.on)
        return w->sessions_active > 0 || w->has_cur;
    return w->sessions_active > 0 || w->sessions_started < w->sc->workload.sessions;
}

static void sample_links(sim_world *w, int rep, int64_t now, int64_t interval)
{
    fabric *f = w->reps[rep].tiers->fab;
    fabric_sync(f);
    for (int l = 0; l < fabric_n_links(f); l++) {
        const fabric_link *k = fabric_link_at(f, l);
        double *prev = &w->prev_link_bytes[rep * TIER_MAX_LINKS + l];
        metrics_link_sample ls = { now, rep, l, (k->bytes_moved - *prev) / (k->bw_Bps * interval / 1e9) };
        *prev = k->bytes_moved;
        metrics_add_link_sample(w->met, &ls);
    }
}

/* Blocks each KV tier of replica rep holds now: HBM (in use or cached)
 * and its own lower tiers; fleet-shared tiers are sampled in on_sample. */
static void sample_tiers(sim_world *w, int rep, int64_t now)
{
    const replica *r = &w->reps[rep];
    metrics_tier_sample ts = { .t_ns = now, .replica = rep, .level = METRICS_HBM_LEVEL,
                               .used_blocks = kv_pool_blocks(r->kv) - kv_pool_free_blocks(r->kv) +
                                              kv_pool_cached_blocks(r->kv) };
    metrics_add_tier_sample(w->met, &ts);
    for (int t = 0; r->tiers && t < r->tiers->n; t++) {
        if (w->shared_tiers[t])
            continue;
        ts.level = t;
        ts.used_blocks = tier_cached_blocks(r->tiers, t);
        metrics_add_tier_sample(w->met, &ts);
    }
}

/* A fleet-shared tier is one pool: sampled once, not once per replica. */
static void sample_shared_tiers(sim_world *w, int64_t now)
{
    for (int t = 0; t < TIER_MAX; t++)
        if (w->shared_tiers[t]) {
            metrics_tier_sample ts = { .t_ns = now, .replica = METRICS_SHARED_REPLICA, .level = t,
                                       .used_blocks = w->shared_tiers[t]->n };
            metrics_add_tier_sample(w->met, &ts);
        }
}

static void on_sample(engine *eng, void *ctx, uint64_t arg)
{
    sim_world *w = ctx;
    int64_t now = engine_now(eng), interval = w->sample_ns;
    for (int i = 0; i < w->n_reps; i++) {
        replica *r = &w->reps[i];
        replica_sync(r);
        metrics_sample smp = {
            .t_ns = now, .replica = i, .running = r->queue.n_running, .waiting = r->queue.n_waiting,
            .kv_used_blocks = kv_pool_blocks(r->kv) - kv_pool_free_blocks(r->kv),
            .kv_cached_blocks = kv_pool_cached_blocks(r->kv),
            .busy_frac = (double)(r->acct->busy_ns - w->prev_busy_ns[i]) / (double)interval,
            .tokens_out = r->tokens_out - w->prev_tokens_out[i],
        };
        w->prev_busy_ns[i] = r->acct->busy_ns;
        w->prev_tokens_out[i] = r->tokens_out;
        metrics_add_sample(w->met, &smp);
        sample_tiers(w, i, now);
        if (r->tiers)
            sample_links(w, i, now, interval);
    }
    sample_shared_tiers(w, now);
    if (++w->samples_at_interval == SIM_SAMPLES_PER_INTERVAL && w->sample_ns <= INT64_MAX / 2) {
        w->sample_ns *= 2;
        w->samples_at_interval = 0;
    }
    if (work_remains(w))
        engine_after(eng, w->sample_ns, on_sample, w, 0);
}

/* --progress: the share of arrivals made (sessions started, or trace
 * requests read), which the ETA extrapolates at the wall-clock rate so far. */
static void show_progress(sim_world *w)
{
    int64_t started = w->sc->trace.on ? w->trace_index : w->sessions_started;
    int64_t total = w->sc->trace.on ? w->sc->trace.requests : w->sc->workload.sessions;
    double f = total > 0 ? (double)started / (double)total : 0;
    char eta[48], el[32];
    progress_status(&w->prog, "%.0f%%: %lld/%lld %s started, %.1f s simulated, %zu requests done, %s elapsed, %s",
                    100 * f, (long long)started, (long long)total, w->sc->trace.on ? "trace requests" : "sessions",
                    engine_now(w->eng) / 1e9, w->met->n_reqs,
                    progress_duration(progress_elapsed_s(&w->prog), el, sizeof el),
                    progress_eta(&w->prog, f, eta, sizeof eta));
}

/* Counts a check of r: 1 when its full walk is due, SIM_CHECK_FULL_EVENTS
 * of its checks having found its pool changed since the last one. */
static int replica_full_walk_due(replica *r)
{
    replica_check_cache *c = &r->kv_checked;
    uint64_t v = kv_pool_version(r->kv);
    if (v != c->seen_version) {
        c->seen_version = v;
        c->changes++;
    }
    if (c->changes < SIM_CHECK_FULL_EVENTS)
        return 0;
    c->changes = 0;
    return 1;
}

/* One replica's checks: the full walks or what changed. */
static int check_replica(replica *r, int full, kt_err *e)
{
    if (full)
        return replica_check(r, e) < 0 || (r->tiers && tier_set_check(r->tiers, e) < 0) ? -1 : 0;
    return replica_check_touched(r, e) < 0 || (r->tiers && tier_set_check_touched(r->tiers, e) < 0) ? -1 : 0;
}

/* The invariant checks of one moment: the heap walked whole when
 * heap_full, every replica walked whole when all_full (else each when its
 * turn has come), what changed otherwise. Returns 0 or -1 (e set). */
static int check_world(sim_world *w, int heap_full, int all_full, kt_err *e)
{
    int bad = (heap_full ? engine_check(w->eng, e) : engine_check_touched(w->eng, e)) < 0;
    for (int i = 0; i < w->n_reps && !bad; i++) {
        replica *r = &w->reps[i];
        bad = check_replica(r, replica_full_walk_due(r) || all_full, e) < 0;
    }
    if (!bad)
        bad = router_check(&w->rt, e) < 0;
    if (!bad && w->net)
        bad = fabric_check(w->net, e) < 0;
    if (!bad && w->sem)
        bad = semcache_check(w->sem, e) < 0;
    return bad ? -1 : 0;
}

/* --check after an event: simulated time never goes back, then
 * check_world (the heap walked whole every SIM_CHECK_FULL_EVENTS events). */
static void check_after_event(sim_world *w)
{
    kt_err e;
    int64_t now = engine_now(w->eng);
    int bad = now < w->last_event_ns;
    if (bad)
        KT_ERROR(&e, NULL, 0, 0, "engine: time went back from %lld ns", (long long)w->last_event_ns);
    w->last_event_ns = now;
    if (!bad)
        bad = check_world(w, engine_events_run(w->eng) % SIM_CHECK_FULL_EVENTS == 0, 0, &e) < 0;
    if (bad) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "invariant check failed at t=%lld ns: %s", (long long)now, e.msg);
        engine_stop(w->eng);
    }
}

static void after_event(engine *eng, void *ud)
{
    sim_world *w = ud;
    router_settle(&w->rt);
    if (w->opts->on_event)
        w->opts->on_event(w->opts->on_event_ud, engine_events_run(eng), w->reps, w->n_reps);
    if (w->opts->check && !w->failed)
        check_after_event(w);
    if (w->opts->progress && (engine_events_run(eng) & 0xfff) == 0)
        show_progress(w);
    if (!w->failed && engine_events_run(eng) % SIM_WALL_CHECK_EVENTS == 0 && sim_past_deadline(w->opts)) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "stopped at the wall-clock limit (--max-wall) at t=%.3f s of simulated time",
                 engine_now(eng) / 1e9);
        engine_stop(eng);
    }
    if (w->opts->stop && *w->opts->stop && !w->failed) {
        w->failed = 1;
        KT_ERROR(w->err, NULL, 0, 0, "interrupted at t=%lld ns of simulated time", (long long)engine_now(eng));
        engine_stop(eng);
    }
}

/* ---------- setup and teardown ---------- */

/* Disaggregated serving and session shedding move KV between replicas:
 * every replica gets a NIC link each way, as fast as its GPUs' scale-out
 * NICs together, and a role. */
static int network_init(sim_world *w, kt_err *err)
{
    const hw_profile *hw = w->sc->hw;
    double bw = linkcost_nic_Bps(hw, w->sc->gpus_per_replica * hw->network_bw_Bps);
    w->net = fabric_new(w->eng, 2 * w->n_reps, 64);
    if (!w->net) {
        KT_ERROR(err, NULL, 0, 0, "out of memory for the network");
        return -1;
    }
    for (int i = 0; i < w->n_reps; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%d.nic_out", i);
        int out = fabric_add_link(w->net, name, bw);
        snprintf(name, sizeof name, "r%d.nic_in", i);
        int in = fabric_add_link(w->net, name, bw);
        replica_role role = !w->sc->prefill_replicas ? ROLE_COLOCATED : i < w->first_decode ? ROLE_PREFILL : ROLE_DECODE;
        replica_set_role(&w->reps[i], role, on_prefilled, w->net, out, in, hw->network_latency_ns, hw->nic_op_ns);
    }
    return 0;
}

/* --timeline: every replica a process, its tiers' links and the fleet
 * network's (a process of its own after the replicas) write their transfers. */
static void timeline_attach(sim_world *w, timeline *tl)
{
    char name[48];
    for (int i = 0; i < w->n_reps; i++) {
        replica *r = &w->reps[i];
        int pid = timeline_replica_pid(i);
        snprintf(name, sizeof name, "replica %d", i);
        timeline_name_process(tl, pid, name, i);
        /* Every counter starts at 0 (the replica's tl_shown) and is written when it changes. */
        timeline_counters(tl, pid, 0, 0, 0, 0, 0);
        r->tl = tl;
        if (r->tiers)
            fabric_set_timeline(r->tiers->fab, tl, pid);
    }
    if (w->net) {
        int pid = timeline_replica_pid(w->n_reps);
        timeline_name_process(tl, pid, "fleet network", w->n_reps);
        fabric_set_timeline(w->net, tl, pid);
    }
}

static int world_init(sim_world *w, const scenario *sc, const sim_opts *opts, kt_err *err)
{
    memset(w, 0, sizeof *w);
    w->sc = sc;
    w->opts = opts;
    w->err = err;
    w->n_reps = sc->replicas;
    if (cost_model_init_par(&w->cm, sc->model, sc->hw, &sc->par, sc->kv_dtype, err) < 0 ||
        (sc->sparse.on && cost_model_set_sparse(&w->cm, &sc->sparse, err) < 0))
        return -1;
    /* Host overheads the scenario or its engine preset gives. */
    if (sc->host_step_ns >= 0)
        w->cm.host_step_ns = sc->host_step_ns;
    if (sc->host_seq_ns >= 0)
        w->cm.host_seq_ns = sc->host_seq_ns;
    if (sc->spec.method != SPEC_OFF && spec_cost_init(&w->spec, sc->spec.method, sc->spec.k, &w->cm, sc->spec.draft,
                                                      sc->spec.head_layers, err) < 0)
        return -1;
    w->eng = engine_new(1024);
    w->met = metrics_new(sc->replicas);
    if (w->met) {
        w->met->kv_blocks_per_replica = sc->kv_blocks_per_replica;
        kv_layout kl;
        kv_layout_init(&kl, &w->cm, KV_LAYOUT_HBM_QUANT_GROUP, sc->kv_block_tokens);
        w->met->kv_block_bytes = kl.block_bytes_replica;
    }
    w->reps = calloc((size_t)sc->replicas, sizeof *w->reps);
    w->prev_busy_ns = calloc((size_t)sc->replicas, sizeof *w->prev_busy_ns);
    w->prev_tokens_out = calloc((size_t)sc->replicas, sizeof *w->prev_tokens_out);
    w->arrival_rng = gsl_rng_alloc(gsl_rng_mt19937);
    w->scratch_rng = gsl_rng_alloc(gsl_rng_taus2);
    if (!w->eng || !w->met || !w->reps || !w->prev_busy_ns || !w->prev_tokens_out || !w->arrival_rng ||
        !w->scratch_rng) {
        const scenario_origin *o = &sc->replicas_origin;
        KT_ERROR(err, o->file, o->line, o->col, "%s: out of memory setting up the simulation of %d replicas", o->key,
                 sc->replicas);
        return -1;
    }
    gsl_rng_set(w->arrival_rng, sc->seed);
    /* Its own stream, seeded from the scenario's: the arrivals and the
     * workload draw the same numbers with the cache on or off. */
    if (sc->semcache.on && !(w->sem = semcache_new(&sc->semcache, kt_mix64(sc->seed)))) {
        KT_ERROR(err, NULL, 0, 0, "out of memory setting up the semantic cache");
        return -1;
    }
    for (int i = 0; i < w->n_reps; i++) {
        replica_config rc = { .id = i, .gpus = sc->gpus_per_replica, .eng = w->eng, .cm = &w->cm,
                              .kv_blocks = sc->kv_blocks_per_replica, .block_tokens = sc->kv_block_tokens,
                              .prefix_cache = sc->prefix_cache, .cfg = &sc->sched, .met = w->met,
                              .on_done = on_request_done, .ud = w,
                              .spec = sc->spec.method != SPEC_OFF ? &w->spec : NULL, .seed = sc->seed };
        if (replica_init(&w->reps[i], &rc) < 0) {
            const scenario_origin *o = &sc->kv_origin;
            KT_ERROR(err, o->file, o->line, o->col,
                     "%s: out of memory for replica %d's KV pool: %u blocks of %d tokens (%.0f%% of HBM) in each "
                     "of %d replicas",
                     o->key, i, sc->kv_blocks_per_replica, sc->kv_block_tokens, sc->hbm_fraction * 100, sc->replicas);
            return -1;
        }
        kv_pool_set_eviction(w->reps[i].kv, sc->eviction);
    }
    int tiered = sc->tiers.n || sc->tiers.track_evicted;
    const tier_set_config tset_cfg = scenario_tier_set_config(sc, w->shared_tiers);
    for (int t = 0; t < sc->tiers.n; t++) {
        w->shared_tiers[t] = tier_shared_new(&tset_cfg, t, err);
        if (!w->shared_tiers[t] && sc->tiers.tier[t].fleet_shared)
            return -1;
    }
    for (int i = 0; i < w->n_reps && tiered; i++) {
        tier_set *ts = tier_set_new(&tset_cfg, w->eng, err);
        if (!ts)
            return -1;
        replica_set_tiers(&w->reps[i], ts);
        if (sparse_init(&w->reps[i], sc->seed) < 0) {
            KT_ERROR(err, NULL, 0, 0, "out of memory for replica %d's page draws", i);
            return -1;
        }
    }
    if (tiered) {
        w->prev_link_bytes = calloc((size_t)w->n_reps * TIER_MAX_LINKS, sizeof *w->prev_link_bytes);
        if (!w->prev_link_bytes)
            return -1;
    }
    w->first_decode = sc->prefill_replicas ? sc->prefill_replicas : w->n_reps;
    if (router_init(&w->rt, &(router_config){ .kind = sc->router, .reps = w->reps, .n_reps = w->n_reps,
                                              .first_decode = w->first_decode, .max_imbalance = sc->max_imbalance,
                                              .shed_imbalance = sc->shed_imbalance }) < 0) {
        KT_ERROR(err, NULL, 0, 0, "out of memory for the router's tables");
        return -1;
    }
    for (int k = 0; k < sc->n_faults; k++)
        engine_at(w->eng, sc->faults[k].at_ns, on_fault, w, (uint64_t)k);
    if ((sc->prefill_replicas || sc->shed_imbalance > 0) && network_init(w, err) < 0)
        return -1;
    if (opts->timeline)
        timeline_attach(w, opts->timeline);
    engine_set_after_hook(w->eng, after_event, w);
    return 0;
}

static void world_free(sim_world *w)
{
    if (w->tr)
        trace_close(w->tr);
    htab_destroy(&w->seen);
    htab_destroy(&w->trace_sessions);
    free(w->sess_history);
    free(w->sess_replica);
    for (size_t i = 0; i < w->n_all; i++) {
        kv_seq_destroy(&w->all_sessions[i]->req.seq);
        kv_seq_destroy(&w->all_sessions[i]->req.src_seq);
        free(w->all_sessions[i]->req.heap_segs);
        free(w->all_sessions[i]->req.rec.gaps);
        free(w->all_sessions[i]);
    }
    free(w->all_sessions);
    router_destroy(&w->rt);
    for (int i = 0; w->reps && i < w->n_reps; i++)
        if (w->reps[i].kv)
            replica_destroy(&w->reps[i]);
    if (w->net)
        fabric_free(w->net);
    for (int t = 0; t < TIER_MAX; t++)
        tier_shared_free(w->shared_tiers[t]);
    free(w->reps);
    free(w->prev_busy_ns);
    free(w->prev_link_bytes);
    free(w->prev_tokens_out);
    engine_free(w->eng);
    semcache_free(w->sem);
    if (w->arrival_rng)
        gsl_rng_free(w->arrival_rng);
    if (w->scratch_rng)
        gsl_rng_free(w->scratch_rng);
}

/* Copies the semantic cache's totals into the metrics. */
static void collect_semcache(sim_world *w)
{
    if (!w->sem)
        return;
    const semcache_stats *t = &w->sem->st;
    w->met->semcache = (metrics_semcache){ t->lookups, t->hits, t->misses, t->false_hits, t->capacity_misses,
                                           t->evicted, t->miss_delay_ns, t->hit_latency_ns,
                                           t->held * w->sem->cfg.entry_bytes };
}

/* Copies each replica's tier and link totals into the metrics. */
static void collect_tiers(sim_world *w)
{
    for (int i = 0; i < w->n_reps; i++) {
        tier_set *ts = w->reps[i].tiers;
        if (!ts)
            continue;
        for (int t = 0; t < ts->n; t++) {
            const tier *x = &ts->tiers[t];
            metrics_tier mt = { .replica = i, .level = t, .capacity_blocks = x->capacity_blocks,
                                .block_bytes = x->block_bytes, .found_blocks = x->st.found_blocks,
                                .fetched_blocks = x->st.fetched_blocks, .stored_blocks = x->st.stored_blocks,
                                .evicted_blocks = x->st.evicted_blocks };
            snprintf(mt.name, sizeof mt.name, "%s", x->cfg.name);
            snprintf(mt.kind, sizeof mt.kind, "%s", tier_kind_names[x->cfg.kind]);
            metrics_add_tier(w->met, &mt);
        }
        fabric_sync(ts->fab);
        for (int l = 0; l < fabric_n_links(ts->fab); l++) {
            const fabric_link *k = fabric_link_at(ts->fab, l);
            metrics_link ml = { .replica = i, .link = l, .bw_Bps = k->bw_Bps, .bytes_moved = k->bytes_moved };
            snprintf(ml.name, sizeof ml.name, "%s", k->name);
            metrics_add_link(w->met, &ml);
        }
    }
}

/* --check at the end: every arrival was made, and every request the world
 * created left exactly once, completed or rejected (none is lost). */
static int check_end(const sim_world *w, kt_err *err)
{
    const scenario *sc = w->sc;
    int64_t want = sc->trace.on ? sc->trace.requests : sc->workload.sessions;
    int64_t started = sc->trace.on ? w->trace_index : w->sessions_started;
    if (started != want) {
        KT_ERROR(err, NULL, 0, 0, "run ended with %lld of %lld %s started", (long long)started, (long long)want,
                 sc->trace.on ? "trace requests" : "sessions");
        return -1;
    }
    int64_t answered = w->sem ? w->sem->st.hits : 0;    /* the semantic cache's, which no replica saw */
    if ((int64_t)w->met->n_reqs + answered != w->next_req_id) {
        KT_ERROR(err, NULL, 0, 0, "%lld requests were created but %zu left (completed or rejected) and the "
                 "semantic cache answered %lld", (long long)w->next_req_id, w->met->n_reqs, (long long)answered);
        return -1;
    }
    uint8_t *seen = calloc((size_t)w->next_req_id + 1, 1);
    int rc = 0;
    for (size_t i = 0; seen && i < w->met->n_reqs && rc == 0; i++) {
        int64_t id = w->met->reqs[i].id;
        if (id < 0 || id >= w->next_req_id || seen[id]++ || w->met->reqs[i].outcome == REQ_UNFINISHED) {
            KT_ERROR(err, NULL, 0, 0, "request %lld left twice, is unknown or never ended", (long long)id);
            rc = -1;
        }
    }
    free(seen);
    return rc;
}

/* --check at the end: the full walks, then check_end. */
static int check_at_end(sim_world *w, kt_err *err)
{
    kt_err e;
    if (check_world(w, 1, 1, &e) < 0) {
        KT_ERROR(err, NULL, 0, 0, "invariant check failed at the end of the run (t=%lld ns): %s",
                 (long long)engine_now(w->eng), e.msg);
        return -1;
    }
    return check_end(w, err);
}

int sim_past_deadline(const sim_opts *opts)
{
    return opts->wall_deadline_ns && cli_wall_now_ns() >= opts->wall_deadline_ns;
}

int sim_run(const scenario *sc, const sim_opts *opts, metrics **out, sim_stats *stats, kt_err *err)
{
    sim_world w;
    *out = NULL;
    int rc = world_init(&w, sc, opts, err);
    if (rc == 0) {
        clock_gettime(CLOCK_MONOTONIC, &w.wall_start);
        progress_start_unsized(&w.prog, opts->progress ? stderr : NULL, "[sim]", SIM_PROGRESS_INTERVAL_S);
        if (sc->trace.on)
            rc = trace_start(&w, err);
        else
            engine_at(w.eng, 0, on_session_arrival, &w, 0);
        w.sample_ns = sc->sample_interval_ns;
        engine_after(w.eng, w.sample_ns, on_sample, &w, 0);
        if (rc == 0)
            engine_run(w.eng, INT64_MAX);
        progress_finish(&w.prog);
        rc = rc < 0 || w.failed ? -1 : 0;
        if (rc == 0 && opts->check)
            rc = check_at_end(&w, err);
        if (stats)
            *stats = (sim_stats){ engine_events_run(w.eng), engine_now(w.eng), wall_since(&w.wall_start) };
    }
    if (rc == 0) {
        collect_tiers(&w);
        collect_semcache(&w);
        *out = w.met;
        w.met = NULL;
    }
    metrics_free(w.met);
    world_free(&w);
    return rc;
}
