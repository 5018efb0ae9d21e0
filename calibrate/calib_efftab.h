/* calib_efftab.h — efficiency tables: measured/peak curves (GEMM by shape over tokens, attention by page size and dtype over context) interpolated in log space. */
#ifndef KT_CALIB_EFFTAB_H
#define KT_CALIB_EFFTAB_H

#include <stddef.h>

/* One curve eff(x), e.g. BF16 GEMM efficiency of one (N, K) shape over M
 * tokens. Between measured points eff is linear in log(x) (GSL linear
 * interpolation on log x); outside them it is held at the end values, never
 * extrapolated.
 * Invariants: n >= 1; logx strictly increasing; eff finite. */
typedef struct calib_curve {
    char label[96];            /* the benchmark case ("bf16/n=6144/k=4096") */
    double *logx;              /* owned, n entries: natural log of x */
    double *eff;               /* owned, n entries */
    size_t n;
    void *interp;              /* owned gsl_interp (n >= 2), else NULL */
    size_t samples;            /* raw samples behind the curve (set by the caller; 0 if unknown) */
} calib_curve;

/* A named set of curves ("gemm", "decode", "prefill").
 * Invariants: labels pairwise distinct. */
typedef struct calib_efftab {
    char name[32];
    calib_curve *curves;       /* owned, n entries, room for cap */
    size_t n, cap;
} calib_efftab;

/* Sets t empty with the given name. */
void calib_efftab_init(calib_efftab *t, const char *name);
/* Frees what t owns; t is empty afterwards. */
void calib_efftab_free(calib_efftab *t);

/* Adds a curve from points (x[i], eff[i]), i < n, in any order; copies them.
 * Needs n >= 1, every x > 0 and finite, distinct x, finite eff, and a label
 * not already in t. Returns 0, or -1 (t unchanged). */
int calib_efftab_add(calib_efftab *t, const char *label, const double *x, const double *eff, size_t n);

/* The curve with this label, or NULL. */
const calib_curve *calib_efftab_find(const calib_efftab *t, const char *label);

/* eff at x > 0 on curve c (clamped to the end values outside the measured range). */
double calib_curve_eval(const calib_curve *c, double x);

/* 1 when label contains every string of the NULL-terminated filter (a NULL
 * filter matches every label), else 0. */
int calib_label_matches(const char *label, const char *const *filter);

/* Median over the curves whose label contains every string of the
 * NULL-terminated filter (NULL filter: all curves) of their value at x.
 * Writes how many curves matched to *n_used (may be NULL). Returns the
 * median, or NAN when no curve matched. */
double calib_efftab_median_at(const calib_efftab *t, double x, const char *const *filter, size_t *n_used);

/* One measured efficiency: a benchmark point's rate over its peak at size x
 * (tokens or bytes), and how many raw samples its median rests on. */
typedef struct calib_effpt {
    double x, eff;
    size_t samples;
} calib_effpt;

/* One point of a pooled curve: the median of the efficiencies whose x fell
 * into one bin. Invariants: n_values >= 1; residual >= 0. */
typedef struct calib_pooled {
    double x;                  /* geometric mean of the bin's x (exact when they are equal) */
    double eff;                /* median of the bin's efficiencies */
    double residual;           /* RMS relative deviation of them from the median; 0 for one */
    size_t n_values, samples;  /* efficiencies and raw samples behind the point */
} calib_pooled;

/* Pools pts[0..n) (x > 0, eff finite; any order) into one curve of at most
 * max_out points: bins of log2 x of width w, centred on multiples of w (so
 * powers of two each have their own bin when w = 1), w the smallest power
 * of two that gives at most max_out bins. Writes the bins in ascending x to
 * out (room for max_out) and returns how many; 0 when n == 0, a point is
 * invalid or memory runs out. Nothing is kept. */
size_t calib_effpts_pool(const calib_effpt *pts, size_t n, size_t max_out, calib_pooled *out);

#endif
