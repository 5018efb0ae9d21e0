/* calib_derive.c — which samples become which profile figure, and how: latency/bandwidth fits, efficiency tables read at reference sizes, device properties. */
#include "calib_derive.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_fit.h"
#include "calib_names.h"
#include "units.h"

#define NS_PER_S 1e9

/* Reference sizes for reading efficiencies off their tables (documented in
 * calibrate/README.md and `kvtier-calibrate --help`). */
#define DEFAULT_GEMM_REF_TOKENS 8192.0
#define DEFAULT_PREFILL_REF_TOKENS 8192.0
#define DEFAULT_DECODE_REF_TOKENS 32768.0

/* "2025-06-01T12:00:00Z" -> the date part. */
#define DATE_LEN 10

void calib_derive_defaults(calib_derive_opts *o)
{
    o->gemm_ref_tokens = DEFAULT_GEMM_REF_TOKENS;
    o->prefill_ref_tokens = DEFAULT_PREFILL_REF_TOKENS;
    o->decode_ref_tokens = DEFAULT_DECODE_REF_TOKENS;
    o->launch = CALIB_LAUNCH_EAGER;
}

void calib_result_free(calib_result *r)
{
    if (!r)
        return;
    calib_efftab_free(&r->gemm);
    calib_efftab_free(&r->prefill);
    calib_efftab_free(&r->decode);
}

const calib_figure *calib_figure_find(const calib_figures *figs, const char *key)
{
    for (size_t i = 0; figs && i < figs->n; i++)
        if (strcmp(figs->fig[i].key, key) == 0)
            return &figs->fig[i];
    return NULL;
}

/* ---------- figure records ---------- */

/* The context every figure of one derivation shares. */
typedef struct derive_ctx {
    calib_db *db;
    int64_t run;
    calib_run_info run_info;
    const hw_profile *base;
    const calib_derive_opts *opts;
    calib_result *out;
    kt_err *err;
} derive_ctx;

/* Adds a figure (value, residual, samples) with the standard source naming
 * the GPU, the date and what produced it; returns it for a note, or NULL
 * when the table is full (err set). */
static calib_figure *fig_add(derive_ctx *c, const char *key, double value, double residual,
                             int64_t samples, const char *what)
{
    calib_figures *f = &c->out->figs;
    if (f->n == CALIB_MAX_FIGURES) {
        KT_ERROR(c->err, NULL, 0, 0, "too many calibrated figures");
        return NULL;
    }
    calib_figure *fig = &f->fig[f->n++];
    memset(fig, 0, sizeof *fig);
    snprintf(fig->key, sizeof fig->key, "%s", key);
    fig->value = value;
    fig->residual = residual;
    fig->samples = samples;
    snprintf(fig->source, sizeof fig->source, "measured on %s %.*s by kvtier-calibrate %s",
             c->run_info.gpu_name, DATE_LEN, c->run_info.started_utc, what);
    return fig;
}

static void fig_note(calib_figure *fig, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fig_note(calib_figure *fig, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fig->note, sizeof fig->note, fmt, ap);
    va_end(ap);
}

/* Names a figure left assumed for lack of samples. */
static void skip(derive_ctx *c, const char *key)
{
    size_t len = strlen(c->out->skipped);
    snprintf(c->out->skipped + len, sizeof c->out->skipped - len, "%s%s", len ? ", " : "", key);
}

/* The clocks the run recorded, for notes ("" when NVML was unavailable). */
static void clocks_text(const calib_run_info *ri, char *buf, size_t n)
{
    if (ri->sm_clock_mhz > 0)
        snprintf(buf, n, "; clocks at start SM %.0f MHz (max %.0f), memory %.0f MHz (max %.0f)",
                 ri->sm_clock_mhz, ri->sm_clock_max_mhz, ri->mem_clock_mhz, ri->mem_clock_max_mhz);
    else
        buf[0] = '\0';
}

/* ---------- fitted figures ---------- */

/* A fitted case: its fit and how many raw samples went into it. */
typedef struct case_fit {
    calib_fit fit;
    int64_t samples;
    double x_min, x_max;
} case_fit;

/* Fits bench/case_name. Returns 1 with *cf filled, 0 when the case has no
 * samples, -1 with err on a database error or a fit that fails. */
static int fit_case(derive_ctx *c, const char *bench, const char *case_name, case_fit *cf)
{
    calib_point *p;
    size_t n;
    if (calib_db_points(c->db, c->run, bench, case_name, &p, &n, c->err) < 0)
        return -1;
    if (n == 0)
        return 0;
    int rc = calib_fit_points(p, n, &cf->fit);
    cf->samples = 0;
    for (size_t i = 0; i < n; i++)
        cf->samples += (int64_t)p[i].samples;
    cf->x_min = p[0].x;
    cf->x_max = p[n - 1].x;
    free(p);
    if (rc < 0 || !(cf->fit.rate_per_s > 0)) {
        KT_ERROR(c->err, NULL, 0, 0, "%s/%s: the fit of time = latency + work / rate failed "
                 "(%zu points; needs 2 or more sizes and a positive slope)", bench, case_name, n);
        return -1;
    }
    return 1;
}

/* Writes "fit t = 3.01 us + bytes / 3.00 TB/s (latency ±0.1 us, slope ±0.2%) over N
 * sizes (lo-hi)" into buf. */
static void fit_text(const case_fit *cf, units_kind x_units, char *buf, size_t n)
{
    char lat[32], rate[32], lo[32], hi[32];
    units_format(cf->fit.latency_ns, UNITS_DURATION, lat, sizeof lat);
    units_format(cf->fit.rate_per_s, UNITS_BANDWIDTH, rate, sizeof rate);
    units_format(cf->x_min, x_units, lo, sizeof lo);
    units_format(cf->x_max, x_units, hi, sizeof hi);
    snprintf(buf, n, "weighted least-squares fit (weights 1/t^2) of t = latency + bytes / bandwidth: "
             "latency %s (sd %.3g ns), bandwidth %s (slope sd %.2g%%), over %zu sizes %s to %s",
             lat, cf->fit.latency_sd_ns, rate, 100.0 * cf->fit.ns_per_unit_sd / cf->fit.ns_per_unit,
             cf->fit.n_points, lo, hi);
}

/* A bandwidth figure = the fitted asymptotic rate of one case. Returns 1
 * when added, 0 when there were no samples, -1 on error. */
static int bandwidth_figure(derive_ctx *c, const char *key, const char *bench, const char *case_name,
                            double *bw_out)
{
    case_fit cf;
    int rc = fit_case(c, bench, case_name, &cf);
    if (rc <= 0)
        return rc;
    char what[96], fit[512], clocks[160];
    snprintf(what, sizeof what, "%s/%s (fitted asymptotic bandwidth)", bench, case_name);
    calib_figure *f = fig_add(c, key, cf.fit.rate_per_s, cf.fit.residual, cf.samples, what);
    if (!f)
        return -1;
    fit_text(&cf, UNITS_BYTES, fit, sizeof fit);
    clocks_text(&c->run_info, clocks, sizeof clocks);
    fig_note(f, "%s; %lld samples%s", fit, (long long)cf.samples, clocks);
    if (bw_out)
        *bw_out = cf.fit.rate_per_s;
    return 1;
}

static int derive_hbm(derive_ctx *c, double *hbm_bw)
{
    int rc = bandwidth_figure(c, "hbm_bandwidth", CALIB_BENCH_HBM, CALIB_CASE_HBM_READ, hbm_bw);
    if (rc == 0)
        skip(c, "hbm_bandwidth");
    return rc < 0 ? -1 : 0;
}

static int derive_nvlink(derive_ctx *c)
{
    int rc = bandwidth_figure(c, "nvlink_bandwidth", CALIB_BENCH_PEER, CALIB_CASE_PEER_CE, NULL);
    if (rc == 0)
        skip(c, "nvlink_bandwidth");
    return rc < 0 ? -1 : 0;
}

/* PCIe: the profile has one figure per direction, so it takes the slower of
 * the two pinned directions. */
static int derive_pcie(derive_ctx *c)
{
    case_fit h2d, d2h;
    int a = fit_case(c, CALIB_BENCH_HOST, CALIB_CASE_H2D_PINNED, &h2d);
    int b = a < 0 ? -1 : fit_case(c, CALIB_BENCH_HOST, CALIB_CASE_D2H_PINNED, &d2h);
    if (a < 0 || b < 0)
        return -1;
    if (a == 0 || b == 0) {
        skip(c, "pcie_bandwidth");
        return 0;
    }
    const case_fit *slow = h2d.fit.rate_per_s <= d2h.fit.rate_per_s ? &h2d : &d2h;
    const char *slow_case = slow == &h2d ? CALIB_CASE_H2D_PINNED : CALIB_CASE_D2H_PINNED;
    char what[128], fit[512], other[32];
    snprintf(what, sizeof what, "host/%s (slower pinned direction, fitted asymptotic bandwidth)",
             slow_case);
    calib_figure *f = fig_add(c, "pcie_bandwidth", slow->fit.rate_per_s,
                              fmax(h2d.fit.residual, d2h.fit.residual), h2d.samples + d2h.samples, what);
    if (!f)
        return -1;
    fit_text(slow, UNITS_BYTES, fit, sizeof fit);
    units_format(slow == &h2d ? d2h.fit.rate_per_s : h2d.fit.rate_per_s, UNITS_BANDWIDTH, other,
                 sizeof other);
    fig_note(f, "%s; the other direction reached %s; residual is the larger of the two fits'", fit,
             other);
    return 0;
}

static const char *launch_case(calib_launch_figure which)
{
    switch (which) {
    case CALIB_LAUNCH_GRAPH: return CALIB_CASE_LAUNCH_GRAPH;
    case CALIB_LAUNCH_GAP: return CALIB_CASE_LAUNCH_GAP;
    default: return CALIB_CASE_LAUNCH_EAGER;
    }
}

/* launch_overhead: the fitted cost of one more kernel in a back-to-back
 * sequence (t(n) = latency + n × per_kernel); the latency term is the
 * one-off cost of the sequence (events, synchronization) and is kept in the note. */
static int derive_launch(derive_ctx *c)
{
    const char *which = launch_case(c->opts->launch);
    case_fit cf;
    int rc = fit_case(c, CALIB_BENCH_LAUNCH, which, &cf);
    if (rc <= 0) {
        if (rc == 0)
            skip(c, "launch_overhead");
        return rc;
    }
    char what[128];
    snprintf(what, sizeof what, "launch/%s (fitted time per kernel of back-to-back launches)", which);
    calib_figure *f = fig_add(c, "launch_overhead", cf.fit.ns_per_unit, cf.fit.residual, cf.samples,
                              what);
    if (!f)
        return -1;
    fig_note(f, "weighted least-squares fit (weights 1/t^2) of t(n) = latency + n x per_kernel over "
             "%zu sequence lengths %.0f to %.0f kernels: per_kernel %.1f ns (sd %.2g), latency %.1f ns "
             "(sd %.3g); %lld samples", cf.fit.n_points, cf.x_min, cf.x_max, cf.fit.ns_per_unit,
             cf.fit.ns_per_unit_sd, cf.fit.latency_ns, cf.fit.latency_sd_ns, (long long)cf.samples);
    return 1;
}

/* ---------- efficiency tables ---------- */

/* Denominator of a case's efficiency: the peak rate it is compared with. */
typedef double (*peak_fn)(const derive_ctx *c, const char *case_name);

/* GEMM and prefill cases start with their operand dtype ("bf16/..."). */
static double flops_peak(const derive_ctx *c, const char *case_name)
{
    char dt[16];
    const char *slash = strchr(case_name, '/');
    size_t len = slash ? (size_t)(slash - case_name) : strlen(case_name);
    if (len >= sizeof dt)
        return 0;
    memcpy(dt, case_name, len);
    dt[len] = '\0';
    kt_dtype d;
    return dtype_parse(dt, &d) < 0 ? 0 : hw_peak_flops(c->base, d);
}

/* Builds one curve per case of bench: eff = work / time / peak(case). */
static int build_table(derive_ctx *c, const char *bench, peak_fn peak, calib_efftab *tab)
{
    char **names;
    size_t n_names;
    if (calib_db_cases(c->db, c->run, bench, &names, &n_names, c->err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n_names && rc == 0; i++) {
        double denom = peak(c, names[i]);
        calib_point *p;
        size_t n;
        if (!(denom > 0) || calib_db_points(c->db, c->run, bench, names[i], &p, &n, c->err) < 0) {
            if (!(denom > 0))
                KT_ERROR(c->err, NULL, 0, 0, "%s/%s: no peak rate to compare with", bench, names[i]);
            rc = -1;
            break;
        }
        double *x = malloc((n ? n : 1) * sizeof *x), *eff = malloc((n ? n : 1) * sizeof *eff);
        size_t samples = 0;
        for (size_t k = 0; x && eff && k < n; k++) {
            x[k] = p[k].x;
            eff[k] = p[k].work / (p[k].median_ns / NS_PER_S) / denom;
            samples += p[k].samples;
        }
        if (!x || !eff || calib_efftab_add(tab, names[i], x, eff, n) < 0) {
            KT_ERROR(c->err, NULL, 0, 0, "%s/%s: cannot build its efficiency curve", bench, names[i]);
            rc = -1;
        } else {
            tab->curves[tab->n - 1].samples = samples;
        }
        free(x);
        free(eff);
        free(p);
    }
    calib_db_free_names(names, n_names);
    return rc;
}

/* What a table-read figure summarizes: median over the matching curves at x. */
typedef struct table_read {
    double value, residual;
    size_t curves;
    int64_t samples;
} table_read;

/* Reads tab at x over the curves matching filter. The residual is the RMS
 * relative deviation of the curves' values from their median: how well one
 * number stands for all of them. */
static int table_at(const calib_efftab *tab, double x, const char *const *filter, table_read *r)
{
    memset(r, 0, sizeof *r);
    r->value = calib_efftab_median_at(tab, x, filter, &r->curves);
    if (r->curves == 0)
        return 0;
    double sum = 0;
    for (size_t i = 0; i < tab->n; i++) {
        if (!calib_label_matches(tab->curves[i].label, filter))
            continue;
        double v = calib_curve_eval(&tab->curves[i], x), rel = (r->value - v) / v;
        sum += rel * rel;
        r->samples += (int64_t)tab->curves[i].samples;
    }
    r->residual = sqrt(sum / (double)r->curves);
    return 1;
}

/* An efficiency figure read off a table; skipped when no curve matches. */
static int efficiency_figure(derive_ctx *c, const char *key, const calib_efftab *tab, double x,
                             const char *const *filter, const char *what, const char *how)
{
    table_read tr;
    if (!table_at(tab, x, filter, &tr)) {
        skip(c, key);
        return 0;
    }
    if (!(tr.value > 0 && tr.value <= 1)) {
        KT_ERROR(c->err, NULL, 0, 0, "%s: measured efficiency %g is outside (0, 1]: check the peak "
                 "figures of the base profile against the GPU", key, tr.value);
        return -1;
    }
    calib_figure *f = fig_add(c, key, tr.value, tr.residual, tr.samples, what);
    if (!f)
        return -1;
    fig_note(f, "%s; median over %zu curves at %.0f, each interpolated linearly in log space; "
             "residual = RMS relative spread of the curves around the median; %lld samples", how,
             tr.curves, x, (long long)tr.samples);
    return 1;
}

static double decode_peak(const derive_ctx *c, const char *case_name)
{
    (void)case_name;
    const calib_figure *f = calib_figure_find(&c->out->figs, "hbm_bandwidth");
    return f ? f->value : c->base->hbm_bw_Bps;
}

static int derive_gemm(derive_ctx *c)
{
    if (build_table(c, CALIB_BENCH_GEMM, flops_peak, &c->out->gemm) < 0)
        return -1;
    const char *const bf16[] = { CALIB_DTYPE_BF16_PREFIX, NULL };
    return efficiency_figure(c, "efficiency.gemm", &c->out->gemm, c->opts->gemm_ref_tokens, bf16,
                             "gemm/bf16 (cuBLASLt, model-card shapes; measured/peak_flops.bf16)",
                             "BF16 GEMM FLOP/s over the dense BF16 peak at M tokens") < 0 ? -1 : 0;
}

static int derive_prefill(derive_ctx *c)
{
    if (build_table(c, CALIB_BENCH_PREFILL, flops_peak, &c->out->prefill) < 0)
        return -1;
    const char *const bf16[] = { CALIB_DTYPE_BF16_PREFIX, NULL };
    return efficiency_figure(c, "efficiency.attention", &c->out->prefill, c->opts->prefill_ref_tokens,
                             bf16, "prefill/bf16 (UPPER BOUND on time: unfused batched GEMMs + "
                             "softmax; a fused kernel is faster)",
                             "causal attention FLOPs per second over the dense BF16 peak at "
                             "sequence length; a lower bound on a fused kernel's efficiency") < 0 ? -1 : 0;
}

/* efficiency.memory: paged decode attention's bytes/s against the measured
 * HBM bandwidth. Without decode samples but with a measured HBM bandwidth
 * it is 1 by construction (that bandwidth is already the achieved rate). */
static int derive_memory(derive_ctx *c)
{
    if (build_table(c, CALIB_BENCH_DECODE, decode_peak, &c->out->decode) < 0)
        return -1;
    const char *const fp16_shuffled[] = { CALIB_DTYPE_FP16_PREFIX, CALIB_DECODE_SHUFFLED, NULL };
    table_read tr;
    if (table_at(&c->out->decode, c->opts->decode_ref_tokens, fp16_shuffled, &tr))
        return efficiency_figure(c, "efficiency.memory", &c->out->decode, c->opts->decode_ref_tokens,
                                 fp16_shuffled, "decode/fp16 paged attention (shuffled block "
                                 "table; bytes/s over the measured hbm_bandwidth)",
                                 "KV bytes read per second by the paged decode kernel over the "
                                 "fitted HBM read bandwidth at context tokens") < 0 ? -1 : 0;
    const calib_figure *hbm = calib_figure_find(&c->out->figs, "hbm_bandwidth");
    if (!hbm) {
        skip(c, "efficiency.memory");
        return 0;
    }
    int64_t samples = hbm->samples;
    calib_figure *f = fig_add(c, "efficiency.memory", 1.0, 0.0, samples,
                              "hbm/read: 1 by construction, hbm_bandwidth is the measured streaming "
                              "read rate (no paged-decode samples)");
    if (!f)
        return -1;
    fig_note(f, "Run the decode benchmark to measure how close paged attention comes to it.");
    return 0;
}

/* ---------- the device's own figures ---------- */

/* Sizes and counts the device reports: one reading each, no fit. */
static int derive_device(derive_ctx *c)
{
    const calib_run_info *ri = &c->run_info;
    struct { const char *key; double v; const char *what; } dev[] = {
        { "hbm_capacity", ri->hbm_bytes, "(cudaMemGetInfo total bytes)" },
        { "sm_count", ri->sm_count, "(cudaDevAttrMultiProcessorCount)" },
        { "l2_cache", ri->l2_bytes, "(cudaDevAttrL2CacheSize)" },
        { "smem_per_sm", ri->smem_per_sm_bytes, "(cudaDevAttrMaxSharedMemoryPerMultiprocessor)" },
    };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) {
        if (!(dev[i].v > 0)) {
            skip(c, dev[i].key);
            continue;
        }
        calib_figure *f = fig_add(c, dev[i].key, dev[i].v, 0.0, 1, dev[i].what);
        if (!f)
            return -1;
        fig_note(f, "Read from the device, not fitted: residual 0, one sample.");
    }
    return 0;
}

int calib_derive(calib_db *db, int64_t run_id, const hw_profile *base, const calib_derive_opts *o,
                 calib_result *out, kt_err *err)
{
    memset(out, 0, sizeof *out);
    calib_efftab_init(&out->gemm, "gemm");
    calib_efftab_init(&out->prefill, "prefill");
    calib_efftab_init(&out->decode, "decode");
    calib_derive_opts defaults;
    if (!o) {
        calib_derive_defaults(&defaults);
        o = &defaults;
    }
    derive_ctx c;
    memset(&c, 0, sizeof c);
    c.db = db;
    c.run = run_id;
    c.base = base;
    c.opts = o;
    c.out = out;
    c.err = err;
    if (calib_db_run_info(db, run_id, &c.run_info, err) < 0)
        return -1;
    double hbm_bw = 0;
    if (derive_device(&c) < 0 || derive_hbm(&c, &hbm_bw) < 0 || derive_pcie(&c) < 0 ||
        derive_nvlink(&c) < 0 || derive_launch(&c) < 0 || derive_gemm(&c) < 0 ||
        derive_prefill(&c) < 0 || derive_memory(&c) < 0)
        return -1;
    return 0;
}

/* ---------- storing what was derived ---------- */

static int store_table(calib_db *db, int64_t run_id, const calib_efftab *t, kt_err *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const calib_curve *cv = &t->curves[i];
        for (size_t k = 0; k < cv->n; k++)
            if (calib_db_add_efficiency(db, run_id, t->name, cv->label, exp(cv->logx[k]), cv->eff[k],
                                        err) < 0)
                return -1;
    }
    return 0;
}

int calib_result_store(calib_db *db, int64_t run_id, const calib_result *r, kt_err *err)
{
    if (calib_db_begin(db, err) < 0)
        return -1;
    int rc = calib_db_clear_derived(db, run_id, err);
    for (size_t i = 0; i < r->figs.n && rc == 0; i++) {
        const calib_figure *f = &r->figs.fig[i];
        rc = calib_db_add_figure(db, run_id, f->key, f->value, f->residual, f->samples, f->source, err);
    }
    if (rc == 0)
        rc = store_table(db, run_id, &r->gemm, err) < 0 || store_table(db, run_id, &r->prefill, err) < 0 ||
             store_table(db, run_id, &r->decode, err) < 0 ? -1 : 0;
    if (rc == 0)
        return calib_db_commit(db, err);
    calib_db_rollback(db);
    return -1;
}
