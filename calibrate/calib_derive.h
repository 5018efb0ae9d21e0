/* calib_derive.h — turns a run's raw samples into profile figures and curves: fitted bandwidths and launch cost, efficiency curves by size, and the device's own figures. */
#ifndef KT_CALIB_DERIVE_H
#define KT_CALIB_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "calib_db.h"
#include "calib_efftab.h"
#include "curve.h"
#include "err.h"
#include "hw.h"

/* At most this many figures come out of one run (the profile has 28). */
#define CALIB_MAX_FIGURES 32
/* At most this many curves: gemm.bf16, gemm.fp8, attention_prefill.bf16,
 * attention_decode, memory, and room for more. */
#define CALIB_MAX_CURVES 8

/* One measured figure, ready to be written into a profile.
 * value is in the profile's base unit (B/s, B, ns, fraction, count). */
typedef struct calib_figure {
    char key[64];              /* provenance key: "hbm_bandwidth", "efficiency.nvlink" */
    double value;
    double residual;           /* relative fit residual, >= 0 */
    int64_t samples;           /* raw samples behind it, >= 1 */
    char source[384];          /* "measured on <GPU> <date> by kvtier-calibrate ..." */
    char note[1024];           /* fit details (written as the figure's note) */
    char benches[64];          /* benchmarks its samples come from, ","-separated ("" for the device's own) */
} calib_figure;

typedef struct calib_figures {
    calib_figure fig[CALIB_MAX_FIGURES];
    size_t n;
} calib_figures;

/* One measured curve, replacing the base profile's curve of the same key
 * (hwprofiles/README.md "Curves"). Points share source and note.
 * Invariants: 1 <= n <= CURVE_MAX_POINTS; pt[].x strictly ascending and
 * > 0; pt[].value in (0, 1]; pt[].samples >= 1. */
typedef struct calib_curve_fig {
    char key[64];              /* below curves: "gemm.bf16", "memory" */
    curve_x_kind x_kind;       /* tokens or bytes, as the profile reads x */
    calib_pooled pt[CURVE_MAX_POINTS]; /* x, value (eff), residual, samples per point */
    size_t n;
    char source[384];          /* "measured on <GPU> <date> by kvtier-calibrate ..." */
    char note[1024];           /* how the points were made (written on the first point) */
    char benches[64];          /* benchmarks its samples come from, ","-separated ("hbm,gemm") */
} calib_curve_fig;

typedef struct calib_curves {
    calib_curve_fig c[CALIB_MAX_CURVES];
    size_t n;
} calib_curves;

/* Which launch measurement becomes launch_overhead (see calib_names.h). The
 * cost model charges launches only where n kernels × launch_overhead exceed
 * the step's GPU time (sim/model/cost.c): the figure is the issue interval
 * a serving loop runs at, which for an engine that replays its decode step
 * as a CUDA graph is the graph's cost per node (the default). The eager
 * rate (host-bound cudaLaunchKernel) and the GPU gap are kept as
 * information. */
typedef enum { CALIB_LAUNCH_EAGER, CALIB_LAUNCH_GRAPH, CALIB_LAUNCH_GAP } calib_launch_figure;

/* Choices of the derivation. Defaults: calib_derive_defaults. */
typedef struct calib_derive_opts {
    calib_launch_figure launch;/* CALIB_LAUNCH_GRAPH */
} calib_derive_opts;

void calib_derive_defaults(calib_derive_opts *o);

/* Room for the lists of skipped and failed figures and of warnings. */
#define CALIB_LIST_CHARS 4096

/* Everything derived from one run. Owns its tables. info holds figures
 * that are reported (log, fit table, table calib_figures as "info.KEY",
 * durations in ns) but that no profile key takes: the launch fits other
 * than the one chosen, and the launch cost left exposed while the GPU is
 * busy. */
typedef struct calib_result {
    calib_figures figs;
    calib_figures info;
    calib_curves curves;
    calib_efftab gemm;         /* BF16 and FP8 GEMM efficiency over M, one curve per shape */
    calib_efftab prefill;      /* unfused prefill attention efficiency over sequence length */
    calib_efftab sdpa;         /* cuDNN fused attention efficiency over sequence length */
    calib_efftab sdpa_chunked; /* the same for chunks after a cached prefix, over context length */
    calib_efftab sdpa_decode;  /* cuDNN decode bytes/s over HBM bandwidth, over context */
    calib_efftab decode;       /* paged decode bytes/s over HBM bandwidth, over context */
    char skipped[CALIB_LIST_CHARS];  /* figures and curves left as the base has them for lack of samples, ", "-separated */
    char failed[CALIB_LIST_CHARS];   /* figures and curves whose samples could not be fitted, with why, "; "-separated */
    char warnings[CALIB_LIST_CHARS]; /* what was clamped or dropped, "; "-separated */
    char throttled[CALIB_LIST_CHARS];/* benchmarks whose clock samples show throttling, with why, "; "-separated */
    char throttled_benches[256];     /* their names, each between commas: ",gemm,decode," */
} calib_result;

/* 1 when any benchmark of the ","-separated list benches ran throttled in r. */
int calib_result_throttled(const calib_result *r, const char *benches);

/* Derives figures and curves from run run_id in db. base is the spec-sheet
 * profile the calibration starts from (its peak FLOP/s are the denominators
 * of the GEMM and prefill efficiencies, its hbm_bandwidth that of the
 * memory and decode curves when HBM was not measured). A figure or curve
 * without samples is left out and named in out->skipped; one whose samples
 * cannot be fitted is left out and named, with the reason, in out->failed;
 * an efficiency above 1 is clamped to 1 and one that is not positive
 * dropped, each named in out->warnings. Returns 0, or -1 with err on a
 * database error only. Caller frees out with calib_result_free, also after
 * a failure. */
int calib_derive(calib_db *db, int64_t run_id, const hw_profile *base, const calib_derive_opts *o,
                 calib_result *out, kt_err *err);
void calib_result_free(calib_result *r);

/* The figure with this key in figs, or NULL. */
const calib_figure *calib_figure_find(const calib_figures *figs, const char *key);
/* The curve with this key ("gemm.bf16") in curves, or NULL. */
const calib_curve_fig *calib_curve_fig_find(const calib_curves *curves, const char *key);

/* Stores r's figures and efficiency tables under run_id (tables calib_figures,
 * calib_efficiency), so a profile can be traced back to its samples. */
int calib_result_store(calib_db *db, int64_t run_id, const calib_result *r, kt_err *err);

#endif
