/* calib_plan.h — what a calibration will run before it runs: the GEMM shapes of the model cards, and per benchmark its points, timed calls and estimated time from the base profile (--dry-run). */
#ifndef KT_CALIB_PLAN_H
#define KT_CALIB_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "calib_params.h"
#include "err.h"
#include "hw.h"

/* ---------- GEMM shapes ---------- */

#define CALIB_MAX_GEMM_SHAPES 64

/* One linear layer's weight: out[M][N] = x[M][K]·W[N][K]^T. */
typedef struct calib_gemm_shape {
    int64_t n, k;
} calib_gemm_shape;

/* Distinct shapes, in the order first met. Invariants: 0 <= n <= CALIB_MAX_GEMM_SHAPES, pairwise distinct. */
typedef struct calib_shape_set {
    calib_gemm_shape s[CALIB_MAX_GEMM_SHAPES];
    int n;
} calib_shape_set;

/* Adds to set every distinct linear-layer shape (lm_head included) of the
 * comma-separated model cards in models (found in the data directories as
 * the simulator finds them). Returns 0, or -1 with err (a card that does
 * not load). */
int calib_gemm_shapes(const char *models, calib_shape_set *set, kt_err *err);

/* ---------- the plan ---------- */

#define CALIB_PLAN_MAX_ITEMS 16

/* One step of a calibration: a benchmark, or the validation. */
typedef struct calib_plan_item {
    char name[16];
    size_t points;             /* sweep points */
    size_t calls;              /* points × (warm-up + samples) */
    double seconds;            /* estimated wall time, process start included */
    char note[160];            /* why it may not run ("needs two GPUs"), or "" */
} calib_plan_item;

typedef struct calib_plan {
    calib_plan_item item[CALIB_PLAN_MAX_ITEMS];
    size_t n;
    double seconds;            /* sum over the items */
} calib_plan;

/* Plans the steps named in the NULL-terminated list steps ("hbm", "host",
 * "peer", "launch", "gemm", "decode", "prefill", "sdpa", "sdpa-chunked",
 * "sdpa-decode", "storage", "validate")
 * with sweep parameters p on the GPU that base describes. Each timed call is
 * estimated as the L2 flush (flush bytes at hbm_bandwidth) plus the call at
 * the base's rates and curves plus a fixed call overhead; each step adds a
 * process start (CUDA context, allocations) and the clock warm-up
 * (p->clock_warmup_ms). An estimate, not a bound: it
 * says what the sweeps cost on a GPU that performs as its profile says.
 * Returns 0, or -1 with err (an unknown step, a model card). Nothing is kept. */
int calib_plan_make(const kt_params *p, const char *const *steps, const hw_profile *base, calib_plan *out,
                    kt_err *err);

#endif
