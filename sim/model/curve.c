/* curve.c — efficiency curves: log-size interpolation between measured points, with the rules of curve.h below the first. */
#include "curve.h"

#include <math.h>

/* Efficiency of c at x; ln_width, when not NULL, holds each segment's
 * log(x[i] / x[i-1]) worked out before (curve_ln), else it is taken here. */
static double eval_at(const curve *c, const double *ln_width, double x)
{
    if (x <= c->x[0])
        return c->below == CURVE_HOLD_TIME ? c->y[0] * x / c->x[0] : c->y[0];
    if (x >= c->x[c->n - 1])
        return c->y[c->n - 1];
    int i = 1;
    while (c->x[i] < x)
        i++;
    double t = log(x / c->x[i - 1]) / (ln_width ? ln_width[i] : log(c->x[i] / c->x[i - 1]));
    return c->y[i - 1] + t * (c->y[i] - c->y[i - 1]);
}

static double between_at(const curve *a, const double *wa, const curve *b, const double *wb, double t, double x)
{
    if (t == 0)
        return eval_at(a, wa, x);  /* the sum below then adds 0 × a finite efficiency: exactly a's */
    return (1.0 - t) * eval_at(a, wa, x) + t * eval_at(b, wb, x);
}

static double time_at(const curve *c, const double *ln_width, double x, double work, double peak_per_s)
{
    if (!(work > 0))
        return 0;
    return 1e9 * work / (peak_per_s * eval_at(c, ln_width, x));
}

double curve_eval(const curve *c, double x) { return eval_at(c, NULL, x); }

double curve_eval_between(const curve *a, const curve *b, double t, double x)
{
    return between_at(a, NULL, b, NULL, t, x);
}

double curve_time_ns(const curve *c, double x, double work, double peak_per_s)
{
    return time_at(c, NULL, x, work, peak_per_s);
}

void curve_ln_init(curve_ln *l, const curve *c)
{
    l->c = c;
    l->ln_width[0] = 0;
    for (int i = 1; i < c->n; i++)
        l->ln_width[i] = log(c->x[i] / c->x[i - 1]);
}

double curve_ln_eval(const curve_ln *l, double x) { return eval_at(l->c, l->ln_width, x); }

double curve_ln_eval_between(const curve_ln *a, const curve_ln *b, double t, double x)
{
    return between_at(a->c, a->ln_width, b->c, b->ln_width, t, x);
}

double curve_ln_time_ns(const curve_ln *l, double x, double work, double peak_per_s)
{
    return time_at(l->c, l->ln_width, x, work, peak_per_s);
}

double curve_min(const curve *c)
{
    double m = c->y[0];
    for (int i = 1; i < c->n; i++)
        m = c->y[i] < m ? c->y[i] : m;
    return m;
}

int curve_check(const curve *c, const char *name, kt_err *err)
{
    if (c->n == 0)
        return 0;              /* absent */
    if (c->n < 0 || c->n > CURVE_MAX_POINTS || !(c->y_max >= 1)) {
        KT_ERROR(err, NULL, 0, 0, "curve %s: %d points (at most %d), y_max %g (at least 1)", name, c->n,
                 CURVE_MAX_POINTS, c->y_max);
        return -1;
    }
    for (int i = 0; i < c->n; i++) {
        if (!(isfinite(c->x[i]) && c->x[i] > 0 && (i == 0 || c->x[i] > c->x[i - 1]))) {
            KT_ERROR(err, NULL, 0, 0, "curve %s: point %d has x %g; x must be positive and ascending", name, i,
                     c->x[i]);
            return -1;
        }
        if (!(isfinite(c->y[i]) && c->y[i] >= CURVE_Y_MIN && c->y[i] <= c->y_max)) {
            KT_ERROR(err, NULL, 0, 0, "curve %s: point %d has efficiency %g, must be in [%g, %g]", name, i,
                     c->y[i], CURVE_Y_MIN, c->y_max);
            return -1;
        }
    }
    return 0;
}
