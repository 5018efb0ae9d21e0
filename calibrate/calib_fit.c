/* calib_fit.c — latency + work/rate fits by relative-error weighted least squares (GSL gsl_fit_wlinear) and their residuals. */
#include "calib_fit.h"

#include <gsl/gsl_fit.h>
#include <math.h>
#include <stdlib.h>

#define NS_PER_S 1e9

/* Fit needs two parameters, so at least two points with distinct work. */
#define FIT_MIN_POINTS 2

static int inputs_ok(const double *work, const double *t_ns, size_t n)
{
    if (!work || !t_ns || n < FIT_MIN_POINTS)
        return 0;
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(work[i]) || !isfinite(t_ns[i]) || !(t_ns[i] > 0))
            return 0;
        if (work[i] != work[0])
            distinct = 1;
    }
    return distinct;
}

/* RMS of the relative deviations of the fitted line from the samples. */
static double relative_rms(const double *work, const double *t_ns, size_t n, double c0, double c1)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double rel = (c0 + c1 * work[i] - t_ns[i]) / t_ns[i];
        sum += rel * rel;
    }
    return sqrt(sum / (double)n);
}

int calib_fit_latency_rate(const double *work, const double *t_ns, size_t n, calib_fit *out)
{
    if (!out || !inputs_ok(work, t_ns, n))
        return -1;
    double *w = malloc(n * sizeof *w);
    if (!w)
        return -1;
    for (size_t i = 0; i < n; i++)
        w[i] = 1.0 / (t_ns[i] * t_ns[i]);
    double c0, c1, cov00, cov01, cov11, chisq;
    int rc = gsl_fit_wlinear(work, 1, w, 1, t_ns, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &chisq);
    free(w);
    if (rc != 0 || !isfinite(c0) || !isfinite(c1))
        return -1;
    /* The weights say "sigma_i = t_i"; the actual relative scatter is
     * sqrt(chisq / dof), so the covariance is scaled by chisq / dof. */
    double scale = n > FIT_MIN_POINTS ? chisq / (double)(n - FIT_MIN_POINTS) : 0;
    out->latency_ns = c0;
    out->ns_per_unit = c1;
    out->rate_per_s = c1 > 0 ? NS_PER_S / c1 : 0;
    out->latency_sd_ns = sqrt(cov00 * scale);
    out->ns_per_unit_sd = sqrt(cov11 * scale);
    out->residual = relative_rms(work, t_ns, n, c0, c1);
    out->n_points = n;
    return 0;
}

int calib_fit_points(const calib_point *points, size_t n, calib_fit *out)
{
    if (!points || n < FIT_MIN_POINTS)
        return -1;
    double *work = malloc(n * sizeof *work), *t = malloc(n * sizeof *t);
    int rc = -1;
    if (work && t) {
        for (size_t i = 0; i < n; i++) {
            work[i] = points[i].work;
            t[i] = points[i].median_ns;
        }
        rc = calib_fit_latency_rate(work, t, n, out);
    }
    free(work);
    free(t);
    return rc;
}
