/* calib_efftab.c — efficiency curves interpolated linearly in log x with GSL, and medians across curves. */
#include "calib_efftab.h"

#include <gsl/gsl_interp.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

void calib_efftab_init(calib_efftab *t, const char *name)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

static void curve_free(calib_curve *c)
{
    if (c->interp)
        gsl_interp_free(c->interp);
    free(c->logx);
    free(c->eff);
    memset(c, 0, sizeof *c);
}

void calib_efftab_free(calib_efftab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        curve_free(&t->curves[i]);
    free(t->curves);
    t->curves = NULL;
    t->n = 0;
    t->cap = 0;
}

static int points_ok(const double *x, const double *eff, size_t n)
{
    if (!x || !eff || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !(x[i] > 0) || !isfinite(eff[i]))
            return 0;
    return 1;
}

/* Fills c from the points, sorted by x; -1 on duplicate x or no memory. */
static int curve_build(calib_curve *c, const char *label, const double *x, const double *eff, size_t n)
{
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    size_t *order = malloc(n * sizeof *order);
    c->logx = malloc(n * sizeof *c->logx);
    c->eff = malloc(n * sizeof *c->eff);
    c->n = n;
    int rc = -1;
    if (order && c->logx && c->eff) {
        gsl_sort_index(order, x, 1, n);
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            c->logx[i] = log(x[order[i]]);
            c->eff[i] = eff[order[i]];
            if (i > 0 && !(c->logx[i] > c->logx[i - 1]))
                rc = -1;
        }
    }
    free(order);
    if (rc == 0 && n >= 2) {
        c->interp = gsl_interp_alloc(gsl_interp_linear, n);
        if (!c->interp || gsl_interp_init(c->interp, c->logx, c->eff, n) != 0)
            rc = -1;
    }
    if (rc < 0)
        curve_free(c);
    return rc;
}

int calib_efftab_add(calib_efftab *t, const char *label, const double *x, const double *eff, size_t n)
{
    if (!t || !label || !points_ok(x, eff, n) || calib_efftab_find(t, label))
        return -1;
    calib_curve *grown = grow_array(t->curves, &t->cap, t->n + 1, sizeof *grown);
    if (!grown)
        return -1;
    t->curves = grown;
    if (curve_build(&t->curves[t->n], label, x, eff, n) < 0)
        return -1;
    t->n++;
    return 0;
}

const calib_curve *calib_efftab_find(const calib_efftab *t, const char *label)
{
    if (!t || !label)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->curves[i].label, label) == 0)
            return &t->curves[i];
    return NULL;
}

double calib_curve_eval(const calib_curve *c, double x)
{
    if (!c || c->n == 0 || !(x > 0))
        return NAN;
    double lx = log(x);
    /* Clamp in log space before asking GSL, which treats points outside the
     * range as an error rather than extrapolating. */
    if (c->n == 1 || lx <= c->logx[0])
        return c->eff[0];
    if (lx >= c->logx[c->n - 1])
        return c->eff[c->n - 1];
    return gsl_interp_eval(c->interp, c->logx, c->eff, lx, NULL);
}

int calib_label_matches(const char *label, const char *const *filter)
{
    for (; filter && *filter; filter++)
        if (!strstr(label, *filter))
            return 0;
    return 1;
}

double calib_efftab_median_at(const calib_efftab *t, double x, const char *const *filter, size_t *n_used)
{
    size_t m = 0;
    double *v = t && t->n ? malloc(t->n * sizeof *v) : NULL;
    for (size_t i = 0; v && i < t->n; i++)
        if (calib_label_matches(t->curves[i].label, filter))
            v[m++] = calib_curve_eval(&t->curves[i], x);
    if (n_used)
        *n_used = m;
    double med = NAN;
    if (m > 0) {
        gsl_sort(v, 1, m);
        med = gsl_stats_median_from_sorted_data(v, 1, m);
    }
    free(v);
    return med;
}

/* ---------- pooled curves ---------- */

/* Bin of x for log2 bins of width w, centred on multiples of w. */
static long pool_bin(double x, double w) { return lround(log2(x) / w); }

/* Distinct bins among the points at width w. bins is scratch space of n. */
static size_t pool_count_bins(const calib_effpt *pts, size_t n, double w, double *bins)
{
    for (size_t i = 0; i < n; i++)
        bins[i] = (double)pool_bin(pts[i].x, w);
    gsl_sort(bins, 1, n);
    size_t distinct = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        distinct += bins[i] != bins[i - 1];
    return distinct;
}

/* Summarizes the points of bin b (width w) into *p; vals is scratch of n. */
static void pool_one_bin(const calib_effpt *pts, size_t n, double w, long b, double *vals, calib_pooled *p)
{
    double log_sum = 0;
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        if (pool_bin(pts[i].x, w) != b)
            continue;
        vals[p->n_values++] = pts[i].eff;
        log_sum += log(pts[i].x);
        p->samples += pts[i].samples;
    }
    gsl_sort(vals, 1, p->n_values);
    p->eff = gsl_stats_median_from_sorted_data(vals, 1, p->n_values);
    p->x = exp(log_sum / (double)p->n_values);
    double sum = 0;
    for (size_t i = 0; i < p->n_values; i++) {
        double rel = (vals[i] - p->eff) / p->eff;
        sum += rel * rel;
    }
    p->residual = sqrt(sum / (double)p->n_values);
}

size_t calib_effpts_pool(const calib_effpt *pts, size_t n, size_t max_out, calib_pooled *out)
{
    if (!pts || n == 0 || max_out == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(pts[i].x > 0) || !isfinite(pts[i].x) || !isfinite(pts[i].eff))
            return 0;
    double *bins = malloc(n * sizeof *bins), *vals = malloc(n * sizeof *vals);
    size_t m = 0;
    if (bins && vals) {
        double w = 1;
        while (pool_count_bins(pts, n, w, bins) > max_out)
            w *= 2;
        /* bins[] is sorted: walk its distinct values. */
        for (size_t i = 0; i < n; i++)
            if (i == 0 || bins[i] != bins[i - 1])
                pool_one_bin(pts, n, w, (long)bins[i], vals, &out[m++]);
    }
    free(bins);
    free(vals);
    return m;
}
