/* curve.h — an efficiency against a size (tokens or bytes) from measured points, interpolated linearly in log size. */
#ifndef KT_CURVE_H
#define KT_CURVE_H

#include "err.h"

/* The least efficiency a point may give: a thousandth of a thousandth of
 * a percent above zero, far below any measured kernel (a 1 KiB all-reduce
 * reaches 1e-4 of NVLink), so that times stay far inside int64 ns. */
#define CURVE_Y_MIN 1e-5

/* Points one curve may hold: enough for a doubling series from 1 token to 8M. */
#define CURVE_MAX_POINTS 24

/* What a curve's x measures. */
typedef enum { CURVE_X_TOKENS, CURVE_X_BYTES } curve_x_kind;

/* What holds below a curve's first point: its efficiency (the caller floors
 * the time where a kernel has a minimum), or its time (a collective or a
 * kernel whose smallest measured size is already latency-bound: it cannot
 * finish faster on less data, so its efficiency falls in proportion to the
 * size). Above the last point the last efficiency holds either way. */
typedef enum { CURVE_HOLD_EFFICIENCY, CURVE_HOLD_TIME } curve_below;

/* Efficiency (achieved / peak rate) at sizes x[0..n).
 * Invariants: 0 <= n <= CURVE_MAX_POINTS (0: the profile gives none);
 * when n > 0: y_max >= 1, x strictly ascending, finite and > 0, y finite
 * and in [CURVE_Y_MIN, y_max]. */
typedef struct curve {
    int n;
    curve_x_kind x_kind;
    curve_below below;
    double y_max;              /* 1, or more where a rate beats its nominal peak (NVLS reductions) */
    double x[CURVE_MAX_POINTS];
    double y[CURVE_MAX_POINTS];
} curve;

/* Efficiency at size x (> 0) by the rules above. c must have n >= 1. */
double curve_eval(const curve *c, double x);
/* Efficiency a fraction t (in [0, 1]) of the way from curve a's to curve
 * b's at size x: (1 - t) × curve_eval(a, x) + t × curve_eval(b, x); a's own
 * when t is 0. Both must have n >= 1. */
double curve_eval_between(const curve *a, const curve *b, double t, double x);
/* Time in ns of `work` units (FLOP or bytes) at peak_per_s × curve_eval(c, x). */
double curve_time_ns(const curve *c, double x, double work, double peak_per_s);
/* The lowest efficiency c gives anywhere at or above its first point. */
double curve_min(const curve *c);
/* A curve with each segment's log width worked out once: its evaluations
 * take one logarithm rather than two and equal curve_eval's (and
 * curve_eval_between's, curve_time_ns's) bit for bit.
 * Invariants: c is not owned and outlives it, and is not changed after
 * curve_ln_init; ln_width[i] == log(c->x[i] / c->x[i - 1]) for 0 < i < c->n. */
typedef struct curve_ln {
    const curve *c;
    double ln_width[CURVE_MAX_POINTS];
} curve_ln;

/* Prepares l for c (any n, 0 included). */
void curve_ln_init(curve_ln *l, const curve *c);
/* curve_eval, curve_eval_between and curve_time_ns of the prepared curves. */
double curve_ln_eval(const curve_ln *l, double x);
double curve_ln_eval_between(const curve_ln *a, const curve_ln *b, double t, double x);
double curve_ln_time_ns(const curve_ln *l, double x, double work, double peak_per_s);
/* Checks curve's invariants; name goes into the message. */
int curve_check(const curve *c, const char *name, kt_err *err);

#endif
