/* workload.h — random distributions from YAML (GSL) and the synthetic multi-turn session generator. */
#ifndef KT_WORKLOAD_H
#define KT_WORKLOAD_H

#include <stdint.h>
#include <gsl/gsl_rng.h>

#include "conf.h"
#include "err.h"
#include "units.h"

typedef enum {
    DIST_CONSTANT, DIST_UNIFORM, DIST_EXPONENTIAL, DIST_LOGNORMAL, DIST_GAMMA, DIST_POISSON,
    DIST_GEOMETRIC, DIST_KIND_COUNT
} dist_kind;

extern const char *const dist_names[DIST_KIND_COUNT + 1];

/* A distribution of non-negative values in a base unit (tokens, ns, count).
 * Invariants: mean > 0 except for constant; lognormal sigma > 0; gamma
 * shape > 0; geometric mean >= 1; lo <= hi; samples are clamped to [lo, hi]. */
typedef struct dist {
    dist_kind kind;
    double mean;       /* constant: the value; uniform: (lo+hi)/2 */
    double sigma;      /* lognormal: std. dev. of log */
    double shape;      /* gamma: shape k */
    double lo, hi;     /* clamp (uniform: its range) */
} dist;

/* Reads a distribution: a plain scalar is a constant ("500", "30s"); a
 * mapping is {dist: NAME, mean: V, sigma:, shape:, min:, max:}. Values are in
 * the given unit kind (UNITS_TOKENS for counts). */
int dist_from_conf(conf_node *n, units_kind unit, dist *d, kt_err *err);
double dist_sample(const dist *d, gsl_rng *r);

/* Session-arrival process. */
typedef enum { ARRIVAL_POISSON, ARRIVAL_GAMMA, ARRIVAL_KIND_COUNT } arrival_kind;

/* The synthetic multi-turn workload.
 * Each session has a turn count, and for every turn new user tokens, output
 * tokens and the think time before the next turn, all drawn from a random
 * stream seeded by (seed, session, turn) — so a session's content does not
 * depend on how the simulation schedules it. Turn k's prompt is the shared
 * system prompt + everything said before in the session + its new tokens. */
typedef struct workload_cfg {
    int64_t sessions;              /* how many sessions arrive */
    arrival_kind arrival;
    double rate_per_s;             /* session arrivals per second */
    double burst_cv;               /* gamma: coefficient of variation of the gaps */
    dist turns, input_tokens, output_tokens, think_ns;
    dist first_input_tokens;       /* turn 0's new tokens (a long document, say) */
    int has_first_input;
    int64_t system_prompt_tokens;
    uint64_t seed;
} workload_cfg;

int workload_from_conf(conf_node *n, workload_cfg *w, kt_err *err);
/* Reads the map's `arrival: {process, rate, cv}` (required) and
 * `think_time` (a distribution, optional, 0 s when absent) into w's
 * arrival, rate_per_s, burst_cv and think_ns, leaving the rest of w alone:
 * the synthetic workload and the ShareGPT trace reader share them. */
int workload_arrivals_from_conf(conf_node *n, workload_cfg *w, kt_err *err);

/* One turn's draw. */
typedef struct workload_turn {
    int64_t new_tokens;
    int64_t output_tokens;
    int64_t think_ns;              /* after this turn's answer, before the next turn */
} workload_turn;

/* The simulated time a workload implies before load stretches it: the
 * sessions' arrival span (sessions / rate) plus one session's span of
 * think time (mean turns × mean think time), in seconds, at rate_per_s
 * sessions per second (the workload's own, or a planner's knob). */
double workload_horizon_s(const workload_cfg *w, double rate_per_s);
/* The requests a workload implies: sessions × mean turns (at least 1). */
double workload_requests(const workload_cfg *w);

/* Gap to the next session arrival, drawn from r (the arrival stream). */
int64_t workload_next_gap_ns(const workload_cfg *w, gsl_rng *r);
/* A think time drawn from r (ns, >= 0). */
int64_t workload_think_ns(const workload_cfg *w, gsl_rng *r);
/* Turns of session s (>= 1). r is scratch state, reseeded. */
int workload_session_turns(const workload_cfg *w, uint64_t session, gsl_rng *r);
/* The draw of turn k (0-based) of session s. r is scratch state, reseeded. */
void workload_turn_draw(const workload_cfg *w, uint64_t session, int turn, gsl_rng *r, workload_turn *out);

/* Content id of the shared system prompt and of a session's conversation
 * (for kv_segment.content_id). */
uint64_t workload_system_content_id(const workload_cfg *w);
uint64_t workload_session_content_id(const workload_cfg *w, uint64_t session);

#endif
