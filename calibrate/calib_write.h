/* calib_write.h — writes a calibrated hardware profile: the spec-sheet profile's figures and curves with the measured ones replaced, each with status, source, residual and sample count. */
#ifndef KT_CALIB_WRITE_H
#define KT_CALIB_WRITE_H

#include <stdio.h>

#include "calib_derive.h"
#include "err.h"

typedef struct calib_write_opts {
    const char *name;          /* the profile's name ("h100-sxm.calibrated"); required */
    const char *gpu;           /* product string for reports; NULL keeps the base's */
    const char *comment;       /* header comment, lines separated by '\n'; may be NULL */
    const calib_curves *curves;/* measured curves replacing the base's; may be NULL */
    const calib_result *tables;/* when not NULL its efficiency tables are appended as comments */
} calib_write_opts;

/* Writes to out the profile at base_path (a spec-sheet or earlier profile,
 * in hwprofiles/README.md's schema) with every figure in figs replaced by
 * its measured value (status: measured, figs' source, residual and samples,
 * and its note), and every curve of o->curves replacing the base's curve of
 * that key as a whole (each point measured, with its residual and
 * samples). Figures and curves not measured are copied unchanged, their
 * status, source and note included. Every figure of figs and every curve
 * must exist in the base, except a per-dtype curve ("gemm.fp8") whose group
 * the base has. Returns 0, or -1 with err. Nothing is owned or kept. */
int calib_write_profile(const char *base_path, const calib_figures *figs, const calib_write_opts *o,
                        FILE *out, kt_err *err);

/* Writes the profile to out_path: first to out_path.tmp, which must then
 * load with hw_load and pass hw_check, then renamed over out_path. On
 * failure out_path is left as it was and the temporary file removed. */
int calib_write_profile_file(const char *base_path, const calib_figures *figs,
                             const calib_write_opts *o, const char *out_path, kt_err *err);

/* Writes value (in the figure's base unit) as the profile writes it for key
 * ("hbm_bandwidth" -> "3001.234GB/s"). Returns buf, or NULL for a key the
 * writer does not know. */
const char *calib_format_value(const char *key, double value, char *buf, size_t n);

#endif
