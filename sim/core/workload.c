/* workload.c — GSL-backed distributions and the synthetic multi-turn session generator. */
#include "workload.h"
#include "htab.h"
#include "units.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_randist.h>

const char *const dist_names[DIST_KIND_COUNT + 1] = {
    "constant", "uniform", "exponential", "lognormal", "gamma", "poisson", "geometric", NULL
};
static const char *const arrival_names[ARRIVAL_KIND_COUNT + 1] = { "poisson", "gamma", NULL };

/* Stream tags keep the per-purpose random streams of one session apart. */
enum { STREAM_TURNS = 1, STREAM_TURN = 2, STREAM_SYSTEM = 3, STREAM_SESSION = 4 };

static uint64_t stream_seed(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b)
{
    return kt_mix64(seed ^ kt_mix64(tag ^ kt_mix64(a ^ kt_mix64(b))));
}

/* ---------- distributions ---------- */

/* Largest value a distribution may take, parameters included: a larger
 * one is a slip (a 1e30-token prompt), and every draw must still round to
 * an int64 count of tokens or ns. Tokens as model cards bound a context;
 * durations about 31 years. */
#define DIST_MAX_TOKENS 1e12
#define DIST_MAX_NS 1e18

static double dist_max(units_kind unit)
{
    return unit == UNITS_TOKENS ? DIST_MAX_TOKENS : unit == UNITS_DURATION ? DIST_MAX_NS : HUGE_VAL;
}

/* A number with no unit or suffix ("2.5"). */
static int plain_number(const conf_node *v)
{
    char *end;
    double x = units_strtod(v->value, &end);
    return v->kind == CONF_SCALAR && !v->quoted && end != v->value && !*end && isfinite(x);
}

static int dist_param(conf_node *n, const char *key, conf_need need, units_kind unit, double *out,
                      kt_err *err)
{
    /* Parameters of a count's distribution need not be whole: a mean of
     * 2.5 turns is fine, though every draw is rounded to a whole count. */
    conf_node *v = conf_find(n, key);
    if (unit == UNITS_TOKENS && v && plain_number(v)) {
        conf_take(n, key);
        return conf_scalar_f64(v, 0, dist_max(unit), out, err);
    }
    return conf_qty(n, key, need, unit, 0, dist_max(unit), out, err);
}

static int dist_validate(conf_node *n, dist *d, kt_err *err)
{
    if (d->lo > d->hi) {
        CONF_ERROR(err, n, "min is greater than max");
        return -1;
    }
    if (d->kind != DIST_CONSTANT && d->kind != DIST_UNIFORM && !(d->mean > 0)) {
        CONF_ERROR(err, n, "mean must be greater than 0");
        return -1;
    }
    if (d->kind == DIST_GEOMETRIC && d->mean < 1) {
        CONF_ERROR(err, n, "a geometric distribution's mean must be at least 1");
        return -1;
    }
    return 0;
}

int dist_from_conf(conf_node *n, units_kind unit, dist *d, kt_err *err)
{
    memset(d, 0, sizeof *d);
    d->lo = 0;
    d->hi = dist_max(unit);
    if (n->kind == CONF_SCALAR) {
        d->kind = DIST_CONSTANT;
        return conf_scalar_qty(n, unit, 0, d->hi, &d->mean, err);
    }
    if (conf_expect(n, CONF_MAP, err) < 0)
        return -1;
    n->used = 1;
    int kind = DIST_CONSTANT;
    if (conf_enum(n, "dist", CONF_REQUIRED, dist_names, &kind, err) < 0)
        return -1;
    d->kind = (dist_kind)kind;
    conf_need bounds = conf_required_if(d->kind == DIST_UNIFORM);
    if (dist_param(n, "min", bounds, unit, &d->lo, err) < 0 || dist_param(n, "max", bounds, unit, &d->hi, err) < 0)
        return -1;
    if (d->kind == DIST_UNIFORM)
        d->mean = (d->lo + d->hi) / 2;
    else if (dist_param(n, d->kind == DIST_CONSTANT ? "value" : "mean", CONF_REQUIRED, unit, &d->mean, err) < 0)
        return -1;
    d->sigma = 1;
    d->shape = 1;
    if (d->kind == DIST_LOGNORMAL && conf_f64(n, "sigma", CONF_REQUIRED, 1e-6, 10, &d->sigma, err) < 0)
        return -1;
    if (d->kind == DIST_GAMMA && conf_f64(n, "shape", CONF_REQUIRED, 1e-6, 1e6, &d->shape, err) < 0)
        return -1;
    return dist_validate(n, d, err);
}

double dist_sample(const dist *d, gsl_rng *r)
{
    double x;
    switch (d->kind) {
    case DIST_UNIFORM:
        x = gsl_ran_flat(r, d->lo, d->hi);
        break;
    case DIST_EXPONENTIAL:
        x = gsl_ran_exponential(r, d->mean);
        break;
    case DIST_LOGNORMAL:
        /* Parameterized by the mean of the values: mu = ln(mean) - sigma^2/2. */
        x = gsl_ran_lognormal(r, log(d->mean) - d->sigma * d->sigma / 2, d->sigma);
        break;
    case DIST_GAMMA:
        x = gsl_ran_gamma(r, d->shape, d->mean / d->shape);
        break;
    case DIST_POISSON:
        x = gsl_ran_poisson(r, d->mean);
        break;
    case DIST_GEOMETRIC:
        x = gsl_ran_geometric(r, 1.0 / d->mean);
        break;
    default:
        x = d->mean;
        break;
    }
    return x < d->lo ? d->lo : x > d->hi ? d->hi : x;
}

/* ---------- synthetic sessions ---------- */

static int read_dist(conf_node *map, const char *key, units_kind unit, dist *d, kt_err *err)
{
    if (conf_expect(map, CONF_MAP, err) < 0)
        return -1;
    conf_node *n = conf_take(map, key);
    if (!n) {
        CONF_ERROR(err, map, "missing required key '%s'", key);
        return -1;
    }
    return dist_from_conf(n, unit, d, err);
}

/* The arrival process only, for read_arrivals. */
static int read_arrival(conf_node *n, workload_cfg *w, kt_err *err)
{
    conf_node *a = conf_take(n, "arrival");
    if (!a) {
        CONF_ERROR(err, n, "missing required key 'arrival'");
        return -1;
    }
    if (conf_expect(a, CONF_MAP, err) < 0)
        return -1;
    int kind = ARRIVAL_POISSON;
    w->burst_cv = 1;
    if (conf_enum(a, "process", CONF_OPTIONAL, arrival_names, &kind, err) < 0 ||
        conf_qty(a, "rate", CONF_REQUIRED, UNITS_RATE, 1e-9, 1e9, &w->rate_per_s, err) < 0 ||
        conf_f64(a, "cv", CONF_OPTIONAL, 1e-3, 100, &w->burst_cv, err) < 0)
        return -1;
    w->arrival = (arrival_kind)kind;
    return 0;
}

int workload_arrivals_from_conf(conf_node *n, workload_cfg *w, kt_err *err)
{
    if (conf_expect(n, CONF_MAP, err) < 0 || read_arrival(n, w, err) < 0)
        return -1;
    w->think_ns.kind = DIST_CONSTANT;
    w->think_ns.mean = 0;
    w->think_ns.hi = dist_max(UNITS_DURATION);
    conf_node *think = conf_take(n, "think_time");
    return think ? dist_from_conf(think, UNITS_DURATION, &w->think_ns, err) : 0;
}

int workload_from_conf(conf_node *n, workload_cfg *w, kt_err *err)
{
    memset(w, 0, sizeof *w);
    double sys_tokens = 0;
    if (conf_expect(n, CONF_MAP, err) < 0 ||
        conf_i64(n, "sessions", CONF_REQUIRED, 1, INT64_C(1) << 40, &w->sessions, err) < 0 ||
        workload_arrivals_from_conf(n, w, err) < 0 ||
        read_dist(n, "turns", UNITS_TOKENS, &w->turns, err) < 0 ||
        read_dist(n, "input_tokens", UNITS_TOKENS, &w->input_tokens, err) < 0 ||
        read_dist(n, "output_tokens", UNITS_TOKENS, &w->output_tokens, err) < 0 ||
        conf_qty(n, "system_prompt_tokens", CONF_OPTIONAL, UNITS_TOKENS, 0, 1e9, &sys_tokens, err) < 0 ||
        conf_i64_of(conf_find(n, "system_prompt_tokens"), sys_tokens, &w->system_prompt_tokens, err) < 0)
        return -1;
    conf_node *first = conf_take(n, "first_input_tokens");
    if (first && dist_from_conf(first, UNITS_TOKENS, &w->first_input_tokens, err) < 0)
        return -1;
    w->has_first_input = first != NULL;
    return 0;
}

double workload_horizon_s(const workload_cfg *w, double rate_per_s)
{
    double turns = w->turns.mean > 1 ? w->turns.mean : 1;
    return (double)w->sessions / rate_per_s + turns * w->think_ns.mean / 1e9;
}

double workload_requests(const workload_cfg *w)
{
    return (double)w->sessions * (w->turns.mean > 1 ? w->turns.mean : 1);
}

int64_t workload_think_ns(const workload_cfg *w, gsl_rng *r)
{
    return llround(dist_sample(&w->think_ns, r));
}

int64_t workload_next_gap_ns(const workload_cfg *w, gsl_rng *r)
{
    double mean_ns = 1e9 / w->rate_per_s;
    double gap;
    if (w->arrival == ARRIVAL_GAMMA) {
        /* Gaps with coefficient of variation cv: shape 1/cv^2, same mean. */
        double k = 1.0 / (w->burst_cv * w->burst_cv);
        gap = gsl_ran_gamma(r, k, mean_ns / k);
    } else {
        gap = gsl_ran_exponential(r, mean_ns);
    }
    return llround(gap);
}

int workload_session_turns(const workload_cfg *w, uint64_t session, gsl_rng *r)
{
    gsl_rng_set(r, stream_seed(w->seed, STREAM_TURNS, session, 0));
    double t = llround(dist_sample(&w->turns, r));
    return t < 1 ? 1 : t > INT32_MAX ? INT32_MAX : (int)t;
}

/* Token counts are at least 1: an empty prompt or answer is not a request. */
static int64_t draw_tokens(const dist *d, gsl_rng *r)
{
    int64_t v = llround(dist_sample(d, r));
    return v < 1 ? 1 : v;
}

void workload_turn_draw(const workload_cfg *w, uint64_t session, int turn, gsl_rng *r, workload_turn *out)
{
    gsl_rng_set(r, stream_seed(w->seed, STREAM_TURN, session, (uint64_t)turn));
    out->new_tokens = draw_tokens(turn == 0 && w->has_first_input ? &w->first_input_tokens : &w->input_tokens, r);
    out->output_tokens = draw_tokens(&w->output_tokens, r);
    out->think_ns = workload_think_ns(w, r);
}

uint64_t workload_system_content_id(const workload_cfg *w)
{
    return stream_seed(w->seed, STREAM_SYSTEM, 0, 0);
}

uint64_t workload_session_content_id(const workload_cfg *w, uint64_t session)
{
    return stream_seed(w->seed, STREAM_SESSION, session, 0);
}
