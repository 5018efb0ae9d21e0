/* calib_stats.c — median and interquartile range of repeated samples, via GSL's sort and quantile functions. */
#include "calib_stats.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Q1_FRACTION 0.25
#define Q3_FRACTION 0.75

int calib_summarize(const double *x, size_t n, calib_summary *out)
{
    if (!x || n == 0 || !out)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return -1;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return -1;
    memcpy(s, x, n * sizeof *s);
    gsl_sort(s, 1, n);
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = gsl_stats_median_from_sorted_data(s, 1, n);
    out->q1 = gsl_stats_quantile_from_sorted_data(s, 1, n, Q1_FRACTION);
    out->q3 = gsl_stats_quantile_from_sorted_data(s, 1, n, Q3_FRACTION);
    out->iqr = out->q3 - out->q1;
    free(s);
    return 0;
}
