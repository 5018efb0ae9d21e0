/* calib_derive.h — turns a run's raw samples into profile figures: fitted bandwidths and launch cost, efficiency tables and the device's own figures. */
#ifndef KT_CALIB_DERIVE_H
#define KT_CALIB_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "calib_db.h"
#include "calib_efftab.h"
#include "err.h"
#include "hw.h"

/* At most this many figures come out of one run (the profile has 23). */
#define CALIB_MAX_FIGURES 32

/* One measured figure, ready to be written into a profile.
 * value is in the profile's base unit (B/s, B, ns, fraction, count). */
typedef struct calib_figure {
    char key[64];              /* provenance key: "hbm_bandwidth", "efficiency.gemm" */
    double value;
    double residual;           /* relative fit residual, >= 0 */
    int64_t samples;           /* raw samples behind it, >= 1 */
    char source[384];          /* "measured on <GPU> <date> by kvtier-calibrate ..." */
    char note[1024];           /* fit details (written as the figure's note) */
} calib_figure;

typedef struct calib_figures {
    calib_figure fig[CALIB_MAX_FIGURES];
    size_t n;
} calib_figures;

/* Which launch measurement becomes launch_overhead (see calib_names.h). */
typedef enum { CALIB_LAUNCH_EAGER, CALIB_LAUNCH_GRAPH, CALIB_LAUNCH_GAP } calib_launch_figure;

/* Where efficiencies are read off their tables. Defaults: calib_derive_defaults. */
typedef struct calib_derive_opts {
    double gemm_ref_tokens;    /* M of efficiency.gemm ("large GEMMs"): 8192 */
    double prefill_ref_tokens; /* sequence length of efficiency.attention: 8192 */
    double decode_ref_tokens;  /* context of efficiency.memory: 32768 */
    calib_launch_figure launch;/* CALIB_LAUNCH_EAGER */
} calib_derive_opts;

void calib_derive_defaults(calib_derive_opts *o);

/* Everything derived from one run. Owns its tables. */
typedef struct calib_result {
    calib_figures figs;
    calib_efftab gemm;         /* BF16 and FP8 GEMM efficiency over M, one curve per shape */
    calib_efftab prefill;      /* prefill attention efficiency over sequence length */
    calib_efftab decode;       /* paged decode bytes/s over HBM bandwidth, over context */
    char skipped[1024];        /* figures left assumed for lack of samples, comma-separated */
} calib_result;

/* Derives figures from run run_id in db. base is the spec-sheet profile the
 * calibration starts from (its peak FLOP/s are the denominators of the
 * efficiencies, its hbm_bandwidth that of decode when HBM was not measured).
 * Figures without samples are left out and named in out->skipped. Returns 0,
 * or -1 with err (database error, or a fit that failed on present samples).
 * Caller frees out with calib_result_free, also after a failure. */
int calib_derive(calib_db *db, int64_t run_id, const hw_profile *base, const calib_derive_opts *o,
                 calib_result *out, kt_err *err);
void calib_result_free(calib_result *r);

/* The figure with this key in figs, or NULL. */
const calib_figure *calib_figure_find(const calib_figures *figs, const char *key);

/* Stores r's figures and efficiency tables under run_id (tables calib_figures,
 * calib_efficiency), so a profile can be traced back to its samples. */
int calib_result_store(calib_db *db, int64_t run_id, const calib_result *r, kt_err *err);

#endif
