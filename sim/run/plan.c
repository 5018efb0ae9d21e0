/* plan.c — the capacity planner: per candidate, a GSL bisection on the arrival rate for the highest load within the SLOs, then the fleet, its cost and the savings against a baseline. */
#include "plan.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>

#include "cli.h"
#include "conf.h"
#include "metrics.h"
#include "progress.h"
#include "scenario.h"
#include "sim.h"
#include "plan_json.h"
#include "plan_store.h"
#include "config.h"

/* Search defaults: a bracket of session arrivals per second (or trace
 * rate_scale) wide enough for one replica of any shipped model, and a
 * relative tolerance that makes the fleet size good to a few percent. */
#define PLAN_KNOB_LO 0.01
#define PLAN_KNOB_HI 100.0
#define PLAN_TOLERANCE 0.03
#define PLAN_PROBES 16
/* Back-offs when the operating point misses the SLOs over the longer horizon. */
#define PLAN_OP_TRIES 8
/* f(knob) is kept this far from zero so its sign always says meets / fails. */
#define PLAN_F_EPS 1e-9
/* Steady-state probe defaults (plan keys under `steady:`). A probe's measured
 * window (after a warm-up of at most half its horizon) spans at least this
 * many unloaded session spans (first arrival to last finish of a session), so
 * that the offered load has ramped up and a slow build-up of the queue has
 * time to show. */
#define PLAN_SERVICE_TIMES 4.0
/* and brings at least this many scored requests, so that a p99 rests on
 * twenty requests past it and a light probe is not judged on a handful. */
#define PLAN_MIN_REQUESTS 2000
/* The operating point is re-run over this many times its probe's horizon. */
#define PLAN_CONFIRM_FACTOR 4.0

/* ---------- loading ---------- */

void plan_free(plan_cfg *p)
{
    if (!p)
        return;
    for (int c = 0; c < p->n_cand; c++) {
        free(p->cand[c].scenario);
        for (int i = 0; i < p->cand[c].n_sets; i++)
            free(p->cand[c].sets[i]);
    }
    free(p->file);
    free(p->yaml);
    free(p);
}

static int load_candidate(plan_cfg *p, conf_node *n, const char *default_scenario, kt_err *err)
{
    plan_candidate *c = &p->cand[p->n_cand];
    const char *name, *scen = default_scenario;
    if (conf_expect(n, CONF_MAP, err) < 0 || conf_str(n, "name", CONF_REQUIRED, &name, err) < 0 ||
        conf_str(n, "scenario", conf_required_if(!default_scenario), &scen, err) < 0)
        return -1;
    for (int i = 0; i < p->n_cand; i++)
        if (!strcmp(p->cand[i].name, name)) {
            CONF_ERROR(err, conf_find(n, "name"), "candidate name '%s' used twice", name);
            return -1;
        }
    char path[4096];
    snprintf(c->name, sizeof c->name, "%s", name);
    conf_path_beside(n->file, scen, path, sizeof path);
    c->scenario = strdup(path);
    p->n_cand++;
    conf_node *sets = conf_take(n, "set");
    return sets ? conf_overrides(sets, PLAN_MAX_SETS, c->sets, &c->n_sets, err) : 0;
}

static int load_search(plan_cfg *p, conf_node *root, kt_err *err)
{
    p->knob_lo = PLAN_KNOB_LO;
    p->knob_hi = PLAN_KNOB_HI;
    p->tolerance = PLAN_TOLERANCE;
    p->max_probes = PLAN_PROBES;
    p->service_times = PLAN_SERVICE_TIMES;
    p->min_requests = PLAN_MIN_REQUESTS;
    p->growth_tolerance = METRICS_STEADY_GROWTH_TOLERANCE;
    p->confirm_factor = PLAN_CONFIRM_FACTOR;
    conf_node *st = conf_take(root, "steady");
    if (st && (conf_expect(st, CONF_MAP, err) < 0 ||
               conf_f64(st, "service_times", 0, 1, 1e6, &p->service_times, err) < 0 ||
               conf_i64(st, "min_requests", 0, 1, INT64_C(1000000000), &p->min_requests, err) < 0 ||
               conf_f64(st, "growth_tolerance", 0, 0, 1e6, &p->growth_tolerance, err) < 0 ||
               conf_f64(st, "confirm", 0, 1, 1e3, &p->confirm_factor, err) < 0))
        return -1;
    conf_node *s = conf_take(root, "search");
    if (!s)
        return 0;
    if (conf_expect(s, CONF_MAP, err) < 0 || conf_f64(s, "low", CONF_OPTIONAL, 1e-9, 1e9, &p->knob_lo, err) < 0 ||
        conf_f64(s, "high", CONF_OPTIONAL, 1e-9, 1e9, &p->knob_hi, err) < 0 ||
        conf_f64(s, "tolerance", CONF_OPTIONAL, 1e-6, 1, &p->tolerance, err) < 0 ||
        conf_int(s, "max_probes", CONF_OPTIONAL, 2, PLAN_MAX_PROBES, &p->max_probes, err) < 0)
        return -1;
    conf_node *low = conf_find(s, "low");
    if (low) {
        p->knob_lo_line = low->line;
        p->knob_lo_col = low->col;
    }
    if (p->knob_hi <= p->knob_lo) {
        CONF_ERROR(err, s, "search.high (%g) must exceed search.low (%g)", p->knob_hi, p->knob_lo);
        return -1;
    }
    return 0;
}

static int load_slo_target(plan_cfg *p, conf_node *root, kt_err *err)
{
    const int64_t day_ns = INT64_C(86400000000000);
    if (conf_qty(root, "target", CONF_REQUIRED, UNITS_RATE, 1e-9, 1e12, &p->target_rps, err) < 0)
        return -1;
    conf_node *slo = conf_take(root, "slo");
    if (!slo) {
        CONF_ERROR(err, root, "missing required key 'slo' (ttft_p99 and/or itl_p99)");
        return -1;
    }
    if (conf_expect(slo, CONF_MAP, err) < 0 ||
        conf_ns(slo, "ttft_p99", CONF_OPTIONAL, 1, day_ns, &p->slo_ttft_p99_ns, err) < 0 ||
        conf_ns(slo, "itl_p99", CONF_OPTIONAL, 1, day_ns, &p->slo_itl_p99_ns, err) < 0)
        return -1;
    if (!p->slo_ttft_p99_ns && !p->slo_itl_p99_ns) {
        CONF_ERROR(err, slo, "slo needs ttft_p99 or itl_p99");
        return -1;
    }
    return 0;
}

static int load_candidates(plan_cfg *p, conf_node *root, kt_err *err)
{
    const char *def = NULL, *base = NULL;
    if (conf_str(root, "scenario", CONF_OPTIONAL, &def, err) < 0)
        return -1;
    conf_node *cs = conf_take(root, "candidates");
    if (!cs) {
        CONF_ERROR(err, root, "missing required key 'candidates'");
        return -1;
    }
    if (conf_expect(cs, CONF_SEQ, err) < 0)
        return -1;
    if (cs->n_kids < 1 || cs->n_kids > PLAN_MAX_CANDIDATES) {
        CONF_ERROR(err, cs, "candidates: between 1 and %d entries", PLAN_MAX_CANDIDATES);
        return -1;
    }
    for (size_t i = 0; i < cs->n_kids; i++)
        if (load_candidate(p, cs->kids[i], def, err) < 0)
            return -1;
    p->baseline = -1;
    if (conf_str(root, "baseline", CONF_OPTIONAL, &base, err) < 0)
        return -1;
    for (int c = 0; base && c < p->n_cand; c++)
        if (!strcmp(p->cand[c].name, base))
            p->baseline = c;
    if (base && p->baseline < 0) {
        CONF_ERROR(err, conf_find(root, "baseline"), "baseline '%s' is not a candidate's name", base);
        return -1;
    }
    return 0;
}

static void *plan_build(conf_node *root, kt_err *err)
{
    plan_cfg *p = calloc(1, sizeof *p);
    const char *name = NULL;
    if (!p)
        return NULL;
    if (conf_expect(root, CONF_MAP, err) < 0 || conf_str(root, "name", CONF_REQUIRED, &name, err) < 0 ||
        load_slo_target(p, root, err) < 0 || load_search(p, root, err) < 0 ||
        load_candidates(p, root, err) < 0) {
        plan_free(p);
        return NULL;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    p->yaml = conf_to_yaml(root);
    return p;
}

static void plan_destroy(void *obj) { plan_free(obj); }

/* The arrival knob of a candidate: a trace's rate_scale, else the session rate. */
static void knob_set(const plan_candidate *c, double knob, char *buf, size_t n)
{
    if (c->trace)
        snprintf(buf, n, "workload.trace.rate_scale=%.17g", knob);
    else
        snprintf(buf, n, "workload.arrival.rate=%.17g/s", knob);
}

/* The overrides a probe adds: the knob, the sessions, kept gaps. */
#define PLAN_PROBE_SETS 3

/* Loads candidate c's scenario with its overrides, every extra one (the
 * command line's, however many), and the probe's (n_probe of them, at most
 * PLAN_PROBE_SETS). Caller frees. */
static scenario *candidate_load(const plan_candidate *c, char **extra, int n_extra, char **probe, int n_probe,
                                kt_err *err)
{
    char **sets = malloc(((size_t)c->n_sets + (size_t)n_extra + PLAN_PROBE_SETS) * sizeof *sets);
    if (!sets) {
        KT_ERROR(err, c->scenario, 0, 0, "candidate '%.63s': out of memory for %d overrides", c->name,
                 c->n_sets + n_extra);
        return NULL;
    }
    int n = 0;
    for (int i = 0; i < c->n_sets; i++)
        sets[n++] = c->sets[i];
    for (int i = 0; i < n_extra; i++)
        sets[n++] = extra[i];
    for (int i = 0; i < n_probe && i < PLAN_PROBE_SETS; i++)
        sets[n++] = probe[i];
    scenario *sc = scenario_load(c->scenario, sets, n, err);
    free(sets);
    if (!sc && err->line == 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "candidate '%.63s': %.900s", c->name, err->msg);
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return sc;
}

/* The longest probe of a synthetic candidate runs at the bracket's low end
 * with the most sessions a probe may ask for (the scenario's, or enough
 * for min_requests): its horizon must be within the scenario limit. */
static int check_bracket(const plan_cfg *p, const plan_candidate *c, const workload_cfg *w, kt_err *err)
{
    double turns = w->turns.mean > 1 ? w->turns.mean : 1;
    double by_reqs = (double)p->min_requests / (turns * (1 - METRICS_MSER_MAX_SHARE));
    workload_cfg most = *w;
    most.sessions = by_reqs > (double)w->sessions ? (int64_t)ceil(by_reqs) : w->sessions;
    double horizon_s = workload_horizon_s(&most, p->knob_lo);
    if (horizon_s <= SCENARIO_MAX_HORIZON_S)
        return 0;
    KT_ERROR(err, p->file, p->knob_lo_line, p->knob_lo_col,
             "search.low: at %.4g sessions/s a probe of candidate '%.63s' (%lld sessions) would simulate %.4g days,"
             " more than the limit of %.0f days", p->knob_lo, c->name, (long long)most.sessions, horizon_s / SCENARIO_S_PER_DAY,
             SCENARIO_MAX_HORIZON_S / SCENARIO_S_PER_DAY);
    return -1;
}

plan_cfg *plan_load(const char *path, char **extra_sets, int n_extra, kt_err *err)
{
    plan_cfg *p = conf_load_strict(path, plan_build, plan_destroy, err);
    if (!p)
        return NULL;
    p->file = strdup(path);
    for (int c = 0; c < p->n_cand; c++) {
        scenario *sc = candidate_load(&p->cand[c], extra_sets, n_extra, NULL, 0, err);
        if (!sc) {
            plan_free(p);
            return NULL;
        }
        p->cand[c].trace = sc->trace.on;
        p->cand[c].sessions = sc->workload.sessions;
        int bad = !sc->trace.on && check_bracket(p, &p->cand[c], &sc->workload, err) < 0;
        scenario_free(sc);
        if (bad) {
            plan_free(p);
            return NULL;
        }
    }
    return p;
}

/* ---------- one load point ---------- */

/* Request arrival rate a run offers. Synthetic sessions: the session rate
 * times the requests a session brings, reqs_per_session, measured once per
 * candidate so that every probe's rate is the same multiple of its knob (the
 * steady-state rate, which ramp-up and drain at the ends of a finite run
 * would bias low); a trace: (n - 1) gaps over its arrival span. */
static double arrival_rps(const scenario *sc, const metrics *m, double knob, double reqs_per_session)
{
    if (!sc->trace.on)
        return knob * reqs_per_session;
    if (m->n_reqs < 2)
        return 0;
    int64_t lo = m->reqs[0].arrival_ns, hi = lo;
    for (size_t i = 1; i < m->n_reqs; i++) {
        lo = m->reqs[i].arrival_ns < lo ? m->reqs[i].arrival_ns : lo;
        hi = m->reqs[i].arrival_ns > hi ? m->reqs[i].arrival_ns : hi;
    }
    return hi > lo ? (double)(m->n_reqs - 1) / ((double)(hi - lo) / 1e9) : 0;
}

/* Every request completed, the backlog steady, and the scored requests'
 * p99s within the SLOs. */
static int within_slo(const plan_cfg *p, const metrics_summary *s, const plan_probe *pr)
{
    return s->rejected == 0 && s->unfinished == 0 && s->completed > 0 && pr->steady && pr->scored > 0 &&
           (!p->slo_ttft_p99_ns || pr->ttft_p99_ms * 1e6 <= (double)p->slo_ttft_p99_ns) &&
           (!p->slo_itl_p99_ns || pr->itl_p99_ms * 1e6 <= (double)p->slo_itl_p99_ns);
}

/* Simulates candidate c at knob with sessions sessions (0: as written),
 * gaps kept for the windowed ITL. Returns the scenario and metrics (caller
 * frees both), or NULL with err. */
static scenario *probe_sim(const plan_candidate *c, char **extra, int n_extra, const sim_opts *opts, double knob,
                           int64_t sessions, metrics **m, kt_err *err)
{
    char kbuf[128], sbuf[64], gaps[] = "results.itl_gaps=true";
    char *probe[PLAN_PROBE_SETS] = { kbuf, gaps, sbuf };
    knob_set(c, knob, kbuf, sizeof kbuf);
    snprintf(sbuf, sizeof sbuf, "workload.sessions=%lld", (long long)sessions);
    scenario *sc = candidate_load(c, extra, n_extra, probe, sessions > 0 ? 3 : 2, err);
    if (!sc)
        return NULL;
    sim_stats st;
    *m = NULL;
    if (sim_run(sc, opts, m, &st, err) < 0) {
        metrics_free(*m);
        scenario_free(sc);
        return NULL;
    }
    return sc;
}

/* Scores a probe's run into pr: the backlog's steadiness over the arrival
 * horizon after warm-up, and the p99s of the requests arriving in it. */
static int probe_measure(const plan_cfg *p, const scenario *sc, const metrics *m, double knob,
                         double reqs_per_session, plan_probe *pr, kt_err *err)
{
    metrics_summary s;
    metrics_steady st;
    double ttft_ns, itl_ns;
    size_t scored;
    if (metrics_summarize(m, &sc->slo, &sc->cost, &s, err) < 0 ||
        metrics_steady_state(m, p->growth_tolerance, &st, err) < 0 ||
        metrics_window_p99(m, st.warmup_end_ns, st.window_end_ns, &ttft_ns, &itl_ns, &scored, err) < 0)
        return -1;
    *pr = (plan_probe){ .knob = knob, .rps = arrival_rps(sc, m, knob, reqs_per_session), .ttft_p99_ms = ttft_ns / 1e6,
                        .itl_p99_ms = itl_ns / 1e6,
                        .tokens_per_request = s.completed ? (double)(s.input_tokens + s.output_tokens) /
                                                                (double)s.completed
                                                          : 0,
                        .sessions = sc->trace.on ? 0 : sc->workload.sessions, .scored = scored,
                        .backlog_growth = st.backlog_growth, .steady = st.steady };
    pr->meets = within_slo(p, &s, pr);
    return 0;
}

/* Simulates candidate c at knob over sessions sessions and fills pr. */
static int probe_run(const plan_cfg *p, const plan_candidate *c, char **extra, int n_extra, const sim_opts *opts,
                     double knob, int64_t sessions, double reqs_per_session, plan_probe *pr, kt_err *err)
{
    metrics *m;
    scenario *sc = probe_sim(c, extra, n_extra, opts, knob, sessions, &m, err);
    if (!sc)
        return -1;
    int rc = probe_measure(p, sc, m, knob, reqs_per_session, pr, err);
    metrics_free(m);
    scenario_free(sc);
    return rc;
}

/* ---------- the search ---------- */

/* State the GSL function sees: memoized probes of one candidate, and what
 * sizes them (measured once at the bracket's low end). */
typedef struct search {
    const plan_cfg *p;
    const plan_candidate *c;
    char **extra;
    int n_extra;
    const sim_opts *opts;       /* every probe's run: the stop flag and wall-clock limit */
    double reqs_per_session;    /* requests a session brings */
    double span_s;              /* a session's span, unloaded: first arrival to last finish */
    plan_result *r;
    progress *notes;            /* each probe's result */
    int ci;                     /* the candidate's index in p->cand */
    int show_status;            /* a status line before each probe (opts->progress) */
    kt_err *err;
    int failed;
} search;

/* Runs a candidate's search may make, at most: the sizing run, max_probes
 * probes and one confirmation (back-offs aside); the plan's ETA counts
 * every candidate at this budget, the running one at the runs it made. */
static int search_budget(const plan_cfg *p) { return p->max_probes + 2; }

/* The status line before a run of s's search ("candidate 2/4 'dram',
 * probe 3/14, 1 min 05 s elapsed, ETA 4 min 10 s"); runs_done of this
 * candidate's budget are behind it. */
static void search_status(const search *s, const char *what, int runs_done)
{
    if (!s->show_status)
        return;
    const plan_cfg *p = s->p;
    double f = (double)(s->ci * search_budget(p) + runs_done) / (double)(p->n_cand * search_budget(p));
    char el[32], eta[48];
    progress_status(s->notes, "candidate %d/%d '%s', %s, %s elapsed, %s", s->ci + 1, p->n_cand, s->c->name, what,
                    progress_duration(progress_elapsed_s(s->notes), el, sizeof el),
                    progress_eta(s->notes, f, eta, sizeof eta));
}

static double slo_ratio(const plan_cfg *p, const plan_probe *pr)
{
    double t = p->slo_ttft_p99_ns ? pr->ttft_p99_ms * 1e6 / (double)p->slo_ttft_p99_ns : 0;
    double i = p->slo_itl_p99_ns ? pr->itl_p99_ms * 1e6 / (double)p->slo_itl_p99_ns : 0;
    return t > i ? t : i;
}

/* Sessions for a probe at knob: the arrival horizon (sessions / knob) spans
 * at least service_times session spans, and the requests at least
 * min_requests; both over the share MSER may keep (it cuts at most
 * METRICS_MSER_MAX_SHARE), never fewer than the scenario's own. A trace is
 * replayed as written (0). */
static int64_t probe_sessions(const search *s, double knob)
{
    const plan_cfg *p = s->p;
    if (s->c->trace)
        return 0;
    double kept = 1 - METRICS_MSER_MAX_SHARE;
    double by_span = p->service_times * s->span_s * knob / kept;
    double by_reqs = s->reqs_per_session > 0 ? (double)p->min_requests / (s->reqs_per_session * kept) : 0;
    double n = ceil(by_span > by_reqs ? by_span : by_reqs);
    return n > (double)s->c->sessions ? (int64_t)n : s->c->sessions;
}

/* Measures what sizes the probes: a run at the bracket's low end with the
 * scenario's own sessions (light load, so the span is the unloaded one). */
static int search_calibrate(search *s)
{
    metrics *m;
    search_status(s, "sizing run", 0);
    scenario *sc = probe_sim(s->c, s->extra, s->n_extra, s->opts, s->p->knob_lo, 0, &m, s->err);
    if (!sc)
        return -1;
    /* Requests a semantic cache answered were served too, without the engine. */
    double served = (double)m->n_reqs + (double)m->semcache.hits;
    s->reqs_per_session = sc->workload.sessions > 0 ? served / (double)sc->workload.sessions : 0;
    s->span_s = metrics_session_span_mean_ns(m) / 1e9;
    metrics_free(m);
    scenario_free(sc);
    return 0;
}

/* The probe at knob, run once. NULL when it could not run or the budget is spent. */
static const plan_probe *probe_at(search *s, double knob)
{
    plan_result *r = s->r;
    for (int i = 0; i < r->n_probes; i++)
        if (r->probes[i].knob == knob)
            return &r->probes[i];
    if (s->failed || r->n_probes == PLAN_MAX_PROBES)
        return NULL;
    plan_probe *pr = &r->probes[r->n_probes];
    char what[48];
    snprintf(what, sizeof what, "probe %d/%d", r->n_probes + 1, s->p->max_probes);
    search_status(s, what, 1 + r->n_probes);
    if (probe_run(s->p, s->c, s->extra, s->n_extra, s->opts, knob, probe_sessions(s, knob), s->reqs_per_session,
                  pr, s->err) < 0) {
        s->failed = 1;
        return NULL;
    }
    r->n_probes++;
    progress_note(s->notes,
                  "%s probe %d: knob %.4g, %lld sessions -> %.4g req/s, TTFT p99 %.3f s, ITL p99 %.2f ms over %zu"
                  " requests, backlog %s: %s",
                  s->c->name, r->n_probes, knob, (long long)pr->sessions, pr->rps, pr->ttft_p99_ms / 1e3,
                  pr->itl_p99_ms, pr->scored, pr->steady ? "steady" : "grows", pr->meets ? "meets the SLOs" : "misses");
    return pr;
}

/* Negative where the SLOs are met, positive where not: the bisection's f. */
static double slo_margin(double knob, void *ud)
{
    search *s = ud;
    const plan_probe *pr = probe_at(s, knob);
    if (!pr)
        return GSL_NAN;
    double f = slo_ratio(s->p, pr) - 1;
    return pr->meets ? (f < -PLAN_F_EPS ? f : -PLAN_F_EPS) : (f > PLAN_F_EPS ? f : PLAN_F_EPS);
}

/* The highest knob known to meet the SLOs, by GSL bisection inside
 * [knob_lo, knob_hi]. Returns it, 0 when even knob_lo misses, or -1 when a
 * probe failed to run. */
static double search_max_knob(search *s)
{
    const plan_cfg *p = s->p;
    double f_lo = slo_margin(p->knob_lo, s);
    if (s->failed)
        return -1;
    if (f_lo > 0)
        return 0;
    double f_hi = slo_margin(p->knob_hi, s);
    if (s->failed)
        return -1;
    if (f_hi < 0)
        return p->knob_hi;
    gsl_function F = { slo_margin, s };
    gsl_root_fsolver *solver = gsl_root_fsolver_alloc(gsl_root_fsolver_bisection);
    double lo = p->knob_lo;
    if (!solver || gsl_root_fsolver_set(solver, &F, p->knob_lo, p->knob_hi) != GSL_SUCCESS) {
        gsl_root_fsolver_free(solver);
        return lo;
    }
    while (s->r->n_probes < p->max_probes && !s->failed) {
        if (gsl_root_fsolver_iterate(solver) != GSL_SUCCESS)
            break;
        lo = gsl_root_fsolver_x_lower(solver);
        if (gsl_root_test_interval(lo, gsl_root_fsolver_x_upper(solver), 0, p->tolerance) == GSL_SUCCESS)
            break;
    }
    lo = gsl_root_fsolver_x_lower(solver);
    gsl_root_fsolver_free(solver);
    return s->failed ? -1 : lo;
}

/* ---------- cost ---------- */

static void cost_figures(const scenario *sc, plan_result *r)
{
    double years = sc->cost.amortization_years;
    snprintf(r->hardware, sizeof r->hardware, "%s", sc->hw->name);
    r->gpus_per_unit = sc->replicas * sc->gpus_per_replica;
    r->usd_per_gpu_year = metrics_gpu_usd_per_s(&sc->cost) * METRICS_SECONDS_PER_YEAR;
    r->gpu_price_usd = sc->cost.gpu_price_usd;
    r->tier_capex_per_unit_usd = scenario_tier_capex_usd(sc, 0) * sc->replicas;
    r->shared_tier_capex_usd = scenario_tier_capex_usd(sc, 1);
    r->tier_usd_per_unit_year = r->tier_capex_per_unit_usd / years;
    r->shared_tier_usd_year = r->shared_tier_capex_usd / years;
}

/* GPUs, $/year and capex of r->units units. */
static void price_units(plan_result *r)
{
    r->gpus = r->units * r->gpus_per_unit;
    r->usd_per_year = (double)r->gpus * r->usd_per_gpu_year + (double)r->units * r->tier_usd_per_unit_year +
                      r->shared_tier_usd_year;
    r->usd_capex = (double)r->gpus * r->gpu_price_usd + (double)r->units * r->tier_capex_per_unit_usd +
                   r->shared_tier_capex_usd;
}

void plan_price(const plan_cfg *p, plan_result *r)
{
    r->feasible = r->max_rps_per_unit > 0;
    if (!r->feasible) {
        r->units = r->gpus = 0;
        r->usd_per_year = r->usd_capex = 0;
        return;
    }
    r->units = (int64_t)ceil(p->target_rps / r->max_rps_per_unit);
    price_units(r);
}

void plan_savings_of(const plan_result *c, const plan_result *b, plan_savings *out)
{
    out->gpus_saved = b->gpus - c->gpus;
    out->fewer_gpus_frac = b->gpus ? (double)out->gpus_saved / (double)b->gpus : 0;
    double per_gpu_c = c->max_rps_per_unit / c->gpus_per_unit, per_gpu_b = b->max_rps_per_unit / b->gpus_per_unit;
    out->more_throughput_per_gpu_frac = per_gpu_b > 0 ? per_gpu_c / per_gpu_b - 1 : 0;
    out->usd_per_year_saved = b->usd_per_year - c->usd_per_year;
    out->usd_capex_saved = b->usd_capex - c->usd_capex;
}

/* ---------- one candidate, then all ---------- */

static int plan_candidate_run(const plan_cfg *p, int ci, char **extra, int n_extra, const sim_opts *opts,
                              plan_result *r, progress *notes, kt_err *err)
{
    const plan_candidate *c = &p->cand[ci];
    scenario *sc = candidate_load(c, extra, n_extra, NULL, 0, err);
    if (!sc)
        return -1;
    cost_figures(sc, r);
    scenario_free(sc);
    /* The probes run without the simulator's own progress line: the plan's is shown instead. */
    sim_opts probe_opts = *opts;
    probe_opts.progress = 0;
    search s = { .p = p, .c = c, .extra = extra, .n_extra = n_extra, .opts = &probe_opts, .r = r, .notes = notes,
                 .ci = ci, .show_status = opts->progress, .err = err };
    if (search_calibrate(&s) < 0)
        return -1;
    double knob = search_max_knob(&s);
    if (knob < 0)
        return -1;
    const plan_probe *best = knob > 0 ? probe_at(&s, knob) : NULL;
    r->max_rps_per_unit = best ? best->rps : 0;
    plan_price(p, r);
    if (!r->feasible)
        return 0;
    /* The operating point: the target spread over the units, the knob scaled
     * to it (arrivals scale linearly with the knob), confirmed over
     * confirm_factor times a probe's horizon: a slow build-up the probes were
     * too short to see shows there. When it misses the SLOs the plan backs
     * off: units grow by the search's tolerance (its resolution on the load,
     * so a fleet of hundreds does not creep up a unit at a time), at least
     * one, and it confirms again. */
    for (int tries = 0;; tries++) {
        double op_knob = knob * (p->target_rps / (double)r->units) / r->max_rps_per_unit;
        int64_t sessions = (int64_t)ceil(p->confirm_factor * (double)probe_sessions(&s, op_knob));
        search_status(&s, "confirming the operating point", search_budget(p) - 1);
        if (probe_run(p, c, extra, n_extra, &probe_opts, op_knob, sessions, s.reqs_per_session, &r->op, err) < 0)
            return -1;
        progress_note(notes, "%s operating point: %lld units, knob %.4g, %lld sessions -> TTFT p99 %.3f s, ITL p99"
                             " %.2f ms, backlog %s: %s",
                      c->name, (long long)r->units, op_knob, (long long)r->op.sessions, r->op.ttft_p99_ms / 1e3,
                      r->op.itl_p99_ms, r->op.steady ? "steady" : "grows", r->op.meets ? "confirmed" : "misses");
        if (r->op.meets || tries == PLAN_OP_TRIES)
            break;
        int64_t more = (int64_t)ceil((double)r->units * (1 + p->tolerance));
        more = more > r->units + 1 ? more : r->units + 1;
        r->backed_off += (int)(more - r->units);
        r->units = more;
        price_units(r);
    }
    r->margin = 1 - slo_ratio(p, &r->op);
    double tokens_per_s = p->target_rps * r->op.tokens_per_request;
    r->usd_per_m_tokens = tokens_per_s > 0 ? r->usd_per_year / (tokens_per_s * METRICS_SECONDS_PER_YEAR / 1e6) : 0;
    return 0;
}

static void rank_results(const plan_cfg *p, plan_result *res)
{
    for (int i = 0; i < p->n_cand; i++) {
        res[i].rank = 0;
        if (!res[i].feasible)
            continue;
        res[i].rank = 1;
        for (int j = 0; j < p->n_cand; j++)
            if (j != i && res[j].feasible &&
                (res[j].usd_per_year < res[i].usd_per_year || (res[j].usd_per_year == res[i].usd_per_year && j < i)))
                res[i].rank++;
    }
}

int plan_run(const plan_cfg *p, char **extra_sets, int n_extra, const sim_opts *opts, plan_result *res,
             FILE *progress_out, kt_err *err)
{
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    progress notes;
    progress_start_unsized(&notes, progress_out, "plan", 0);
    int rc = 0;
    for (int c = 0; c < p->n_cand && rc == 0; c++) {
        memset(&res[c], 0, sizeof res[c]);
        rc = plan_candidate_run(p, c, extra_sets, n_extra, opts, &res[c], &notes, err);
    }
    progress_finish(&notes);
    gsl_set_error_handler(old);
    if (rc == 0)
        rank_results(p, res);
    return rc;
}

/* ---------- report ---------- */

static int cheapest(const plan_cfg *p, const plan_result *res)
{
    for (int c = 0; c < p->n_cand; c++)
        if (res[c].rank == 1)
            return c;
    return -1;
}

static void report_savings(FILE *out, const plan_cfg *p, const plan_result *res)
{
    int b = p->baseline;
    if (b < 0 || !res[b].feasible)
        return;
    fprintf(out, "against the baseline '%s' (%lld GPUs, $%.2fM a year):\n", p->cand[b].name,
            (long long)res[b].gpus, res[b].usd_per_year / 1e6);
    for (int c = 0; c < p->n_cand; c++) {
        if (c == b || !res[c].feasible)
            continue;
        plan_savings sv;
        plan_savings_of(&res[c], &res[b], &sv);
        fprintf(out,
                "  %-20s %lld GPUs instead of %lld: %lld fewer (%.1f%% fewer GPUs; %+.1f%% throughput per GPU);"
                " $%.2fM less capex, $%.2fM less a year\n",
                p->cand[c].name, (long long)res[c].gpus, (long long)res[b].gpus, (long long)sv.gpus_saved,
                100 * sv.fewer_gpus_frac, 100 * sv.more_throughput_per_gpu_frac, sv.usd_capex_saved / 1e6,
                sv.usd_per_year_saved / 1e6);
    }
}

/* Candidates whose operating point missed the SLOs over the confirm horizon. */
static void report_backoffs(FILE *out, const plan_cfg *p, const plan_result *res)
{
    for (int c = 0; c < p->n_cand; c++) {
        const plan_result *x = &res[c];
        if (!x->feasible || (!x->backed_off && x->op.meets))
            continue;
        if (x->op.meets)
            fprintf(out, "  %s: missed the SLOs over the longer horizon at %lld units; backed off to %lld units\n",
                    p->cand[c].name, (long long)(x->units - x->backed_off), (long long)x->units);
        else
            fprintf(out, "  %s: still misses the SLOs over the longer horizon at %lld units (backlog %s):"
                         " not confirmed\n",
                    p->cand[c].name, (long long)x->units, x->op.steady ? "steady" : "grows");
    }
}

void plan_report(FILE *out, const plan_cfg *p, const plan_result *res)
{
    fprintf(out, "plan '%s': %.6g requests/s", p->name, p->target_rps);
    if (p->slo_ttft_p99_ns)
        fprintf(out, ", TTFT p99 <= %.3f s", (double)p->slo_ttft_p99_ns / 1e9);
    if (p->slo_itl_p99_ns)
        fprintf(out, ", ITL p99 <= %.1f ms", (double)p->slo_itl_p99_ns / 1e6);
    fprintf(out, "\n%4s  %-20s %-10s %9s %12s %8s %8s %10s %10s %8s %10s %10s %7s\n", "rank", "candidate", "gpu",
            "GPUs/unit", "max req/s", "units", "GPUs", "capex $M", "$M/year", "$/Mtok", "TTFT p99 s",
            "ITL p99 ms", "margin");
    for (int r = 1; r <= p->n_cand + 1; r++)
        for (int c = 0; c < p->n_cand; c++) {
            const plan_result *x = &res[c];
            if ((r <= p->n_cand && x->rank != r) || (r == p->n_cand + 1 && x->rank != 0))
                continue;
            if (!x->feasible) {
                fprintf(out, "%4s  %-20s %-10s %9d %12s  cannot meet the SLOs at %.4g (search.low)\n", "-",
                        p->cand[c].name, x->hardware, x->gpus_per_unit, "0", p->knob_lo);
                continue;
            }
            fprintf(out, "%4d  %-20s %-10s %9d %12.4g %8lld %8lld %10.2f %10.2f %8.4f %10.3f %10.2f %6.1f%%\n",
                    x->rank, p->cand[c].name, x->hardware, x->gpus_per_unit, x->max_rps_per_unit,
                    (long long)x->units, (long long)x->gpus, x->usd_capex / 1e6, x->usd_per_year / 1e6,
                    x->usd_per_m_tokens, x->op.ttft_p99_ms / 1e3, x->op.itl_p99_ms, 100 * x->margin);
        }
    fprintf(out, "operating points re-run over %.3g x the probes' horizon; margin: share of the SLO left over\n",
            p->confirm_factor);
    report_backoffs(out, p, res);
    int best = cheapest(p, res);
    if (best >= 0)
        fprintf(out, "cheapest: %s, %lld GPUs, $%.2fM a year ($%.2fM capex)\n", p->cand[best].name,
                (long long)res[best].gpus, res[best].usd_per_year / 1e6, res[best].usd_capex / 1e6);
    else
        fprintf(out, "no candidate meets the SLOs inside the search bracket\n");
    report_savings(out, p, res);
}

/* ---------- command ---------- */

static void usage_plan(FILE *out)
{
    fprintf(out,
            "usage: kvtier plan FILE [options]\n"
            "\n"
            "For each candidate configuration in the plan FILE (YAML; README.md \"Capacity planning\"),\n"
            "finds by bisection on the arrival rate the highest load one unit (the scenario's replicas)\n"
            "sustains at steady state within the p99 TTFT / ITL SLOs (probes long enough to fill, warm-up\n"
            "excluded, a growing backlog fails), then the units and GPUs the target load needs, checked\n"
            "over a longer run, and their cost: GPU capex amortized (or rent) plus power, plus KV-tier\n"
            "memory. Prints a ranked table, the cheapest configuration and the savings against the baseline.\n"
            "\n"
            "options:\n"
            "  --set KEY=VALUE   override a scenario key in every candidate (repeatable)\n"
            "  --db PATH         results database (default kvtier.db): tables plans, plan_candidates,\n"
            "                    plan_probes, written in one transaction\n"
            "  --no-db           do not write results\n"
            "  --max-wall D      give up after the duration D of wall-clock time (90s, 2h): exit 1,\n"
            "                    nothing written\n"
            "  --json            print the result as JSON instead of the table\n"
            "  --quiet           no progress lines on stderr\n"
            "  --progress        also a status line before each probe: candidate k of N, probe j,\n"
            "                    elapsed, ETA (the default when stderr is a terminal)\n"
            "  -h, --help        this text\n"
            "\n"
            "exit status: 0 done, 1 a probe failed to run or --max-wall ran out, 2 bad plan or options,\n"
            "128 + N ended by signal N (SIGINT, SIGTERM)\n");
}

enum { PLAN_EXIT_FAILED = 1, PLAN_EXIT_BAD_INPUT = 2 };

/* Says that signal sig ended the plan and what the database holds: the
 * plan is written in one transaction after every search, so all of it
 * (id > 0) or nothing. Returns 128 + sig. */
static int plan_interrupted(int sig, long long id, const char *db_path)
{
    char buf[32];
    const char *name = cli_signal_name(sig, buf, sizeof buf);
    if (id > 0)
        fprintf(stderr, "kvtier plan: interrupted (%s) after the plan was stored as plan %lld in %s\n", name, id,
                db_path);
    else if (db_path)
        fprintf(stderr, "kvtier plan: interrupted (%s); nothing was written to %s\n", name, db_path);
    else
        fprintf(stderr, "kvtier plan: interrupted (%s)\n", name);
    return CLI_EXIT_SIGNALED(sig);
}

int plan_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "set", required_argument, NULL, 's' }, { "db", required_argument, NULL, 'd' },
        { "no-db", no_argument, NULL, 'n' },     { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },      { "max-wall", required_argument, NULL, 'W' },
        { "progress", no_argument, NULL, 'p' },  { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int64_t deadline_ns = 0;
    const char *db_path = "kvtier.db";
    const char *file = NULL;
    int n_sets = 0, quiet = 0, json = 0, status = isatty(STDERR_FILENO), c, files = 0;
    optind = 0;
    while ((c = cli_option_next(argc, argv, "-:h", opts, "plan")) != -1) {
        if (c == 1) {
            file = optarg;
            files++;
        } else if (c == 's')
            sets[n_sets++] = optarg;
        else if (c == 'd' && cli_parse_path("plan", "--db", optarg, &db_path) == 0)
            continue;
        else if (c == 'n')
            db_path = NULL;
        else if (c == 'q')
            quiet = 1;
        else if (c == 'p')
            status = 1;
        else if (c == 'j')
            json = 1;
        else if (c == 'W' && cli_parse_max_wall("plan", optarg, &deadline_ns) == 0)
            continue;
        else {
            if (c == 'h')
                usage_plan(stdout);
            free(sets);
            return c == 'h' ? 0 : PLAN_EXIT_BAD_INPUT;
        }
    }
    if (files != 1) {
        cli_usage_error("plan", "expected one plan file, got %d", files);
        free(sets);
        return PLAN_EXIT_BAD_INPUT;
    }
    /* Caught from here on: a signal while the plan loads ends it at the first probe's first event. */
    sim_opts sim = { .stop = cli_catch_stop(), .wall_deadline_ns = deadline_ns, .progress = status && !quiet };
    kt_err err;
    plan_cfg *p = plan_load(file, sets, n_sets, &err);
    store *db = p && db_path ? store_open(db_path, &err) : NULL;
    if (!p || (db_path && !db)) {
        kt_err_print(&err, stderr);
        plan_free(p);
        free(sets);
        return PLAN_EXIT_BAD_INPUT;
    }
    plan_result *res = calloc((size_t)p->n_cand, sizeof *res);
    int rc = res ? plan_run(p, sets, n_sets, &sim, res, quiet ? NULL : stderr, &err) : -1;
    long long id = 0;
    if (rc == 0) {
        if (!json)
            plan_report(stdout, p, res);
        id = db ? plan_store_write(db, p, res, &err) : 0;
        if (id < 0)
            rc = -1;
        else if (json)
            plan_report_json(stdout, p, res, id, PACKAGE_VERSION);
        else if (id > 0)
            printf("results: plan %lld in %s\n", id, db_path);
    }
    int late = rc < 0 && !*sim.stop && sim_past_deadline(&sim);
    if (late)
        fprintf(stderr, "kvtier plan: %s; nothing was written%s%s\n", err.msg, db_path ? " to " : "",
                db_path ? db_path : "");
    else if (rc < 0 && !*sim.stop)
        kt_err_print(&err, stderr);
    store_close(db);
    free(res);
    plan_free(p);
    free(sets);
    if (*sim.stop)
        return plan_interrupted(*sim.stop, id, db_path);
    return rc < 0 ? PLAN_EXIT_FAILED : 0;
}
