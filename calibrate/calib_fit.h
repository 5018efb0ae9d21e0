/* calib_fit.h — weighted least-squares fits of time = latency + work / rate (copies, streams, launches) with relative-error weights. */
#ifndef KT_CALIB_FIT_H
#define KT_CALIB_FIT_H

#include <stddef.h>

#include "calib_stats.h"

/* A fit of t_ns = latency_ns + work × ns_per_unit, where work is bytes (then
 * rate_per_s is a bandwidth in B/s), kernels (ns_per_unit is the cost of one
 * more kernel) or FLOPs.
 * Invariants after a successful fit: n_points >= 2; residual >= 0;
 * rate_per_s == 1e9 / ns_per_unit when ns_per_unit > 0, else 0. */
typedef struct calib_fit {
    double latency_ns;         /* intercept: fixed cost of one call */
    double ns_per_unit;        /* slope */
    double rate_per_s;         /* units per second (B/s for bytes); 0 if slope <= 0 */
    double latency_sd_ns;      /* standard errors, from the weighted covariance */
    double ns_per_unit_sd;     /*   scaled by the observed relative scatter */
    double residual;           /* RMS relative residual: sqrt(mean(((fit - t) / t)^2)) */
    size_t n_points;
} calib_fit;

/* Fits t_ns[i] = latency + work[i] × slope by weighted least squares
 * (gsl_fit_wlinear) with weights 1 / t_ns[i]^2, so that every point counts
 * by its relative error: a 1 MiB copy taking 30 us and a 1 GiB copy taking
 * 20 ms both pull with the same strength. Needs n >= 2, every t_ns > 0 and
 * finite, and at least two distinct work values. Returns 0, or -1 (out
 * untouched). The arrays are the caller's and are only read. */
int calib_fit_latency_rate(const double *work, const double *t_ns, size_t n, calib_fit *out);

/* The same fit over the median times of points[0..n) (work vs median_ns). */
int calib_fit_points(const calib_point *points, size_t n, calib_fit *out);

#endif
