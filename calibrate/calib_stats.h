/* calib_stats.h — summaries of repeated timing samples (median, quartiles, interquartile range) and per-size points for fits. */
#ifndef KT_CALIB_STATS_H
#define KT_CALIB_STATS_H

#include <stddef.h>

/* Summary of n repeated samples of one measurement.
 * Invariants: n >= 1; min <= q1 <= median <= q3 <= max; iqr == q3 - q1. */
typedef struct calib_summary {
    size_t n;
    double median, q1, q3, iqr, min, max;
} calib_summary;

/* Summarizes x[0..n) (left unmodified: a sorted copy is made). Quartiles are
 * GSL's linear-interpolation quantiles of the sorted samples. Returns 0, or
 * -1 when n == 0, a sample is not finite, or memory runs out. */
int calib_summarize(const double *x, size_t n, calib_summary *out);

/* One measured point of a sweep: every sample taken at one x (bytes, tokens,
 * kernels, context length), reduced to its median.
 * work is what the operation did at that x (bytes moved, FLOPs, kernels):
 * the fits and efficiency tables divide work by time. */
typedef struct calib_point {
    double x;
    double work;
    double median_ns;
    double iqr_ns;
    size_t samples;
} calib_point;

#endif
