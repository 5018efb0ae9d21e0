/* calib_derive.c — which samples become which profile figure or curve, and how: latency/bandwidth fits, efficiency curves pooled by size, device properties. */
#include "calib_derive.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_clocks.h"
#include "calib_fit.h"
#include "calib_names.h"
#include "grow.h"
#include "units.h"

#define NS_PER_S 1e9
/* Bytes of one BF16 element. */
#define BF16_BYTES 2.0
/* Where a GEMM case names its shape: "bf16/n=6144/k=4096" (bench_gemm.c). */
#define GEMM_SHAPE_TAG "n="

/* "2025-06-01T12:00:00Z" -> the date part. */
#define DATE_LEN 10

void calib_derive_defaults(calib_derive_opts *o)
{
    o->launch = CALIB_LAUNCH_GRAPH;
}

void calib_result_free(calib_result *r)
{
    if (!r)
        return;
    calib_efftab_free(&r->gemm);
    calib_efftab_free(&r->prefill);
    calib_efftab_free(&r->sdpa);
    calib_efftab_free(&r->sdpa_chunked);
    calib_efftab_free(&r->sdpa_decode);
    calib_efftab_free(&r->decode);
}

const calib_figure *calib_figure_find(const calib_figures *figs, const char *key)
{
    for (size_t i = 0; figs && i < figs->n; i++)
        if (strcmp(figs->fig[i].key, key) == 0)
            return &figs->fig[i];
    return NULL;
}

const calib_curve_fig *calib_curve_fig_find(const calib_curves *curves, const char *key)
{
    for (size_t i = 0; curves && i < curves->n; i++)
        if (strcmp(curves->c[i].key, key) == 0)
            return &curves->c[i];
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

/* Adds a figure (value, residual, samples) to f with the standard source
 * naming the GPU, the date and what produced it, and the benchmarks behind
 * it; returns it for a note, or NULL when the table is full (err set). */
static calib_figure *fig_add_to(derive_ctx *c, calib_figures *f, const char *benches, const char *key,
                                double value, double residual, int64_t samples, const char *what)
{
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
    snprintf(fig->benches, sizeof fig->benches, "%s", benches);
    return fig;
}

/* A figure for the profile. */
static calib_figure *fig_add(derive_ctx *c, const char *benches, const char *key, double value, double residual,
                             int64_t samples, const char *what)
{
    return fig_add_to(c, &c->out->figs, benches, key, value, residual, samples, what);
}

static void fig_note(calib_figure *fig, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fig_note(calib_figure *fig, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fig->note, sizeof fig->note, fmt, ap);
    va_end(ap);
}

/* Appends one item to a list of the result, after sep when not the first. */
static void list_add(char *list, size_t cap, const char *sep, const char *fmt, va_list ap)
{
    size_t len = strlen(list);
    if (len + 1 >= cap)
        return;
    if (len)
        len += (size_t)snprintf(list + len, cap - len, "%s", sep);
    if (len + 1 < cap)
        vsnprintf(list + len, cap - len, fmt, ap);
}

static void note_failed(derive_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_warning(derive_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Names a figure or curve whose samples could not be fitted, and why. */
static void note_failed(derive_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    list_add(c->out->failed, sizeof c->out->failed, "; ", fmt, ap);
    va_end(ap);
}

/* Names a value that was clamped or dropped. */
static void note_warning(derive_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    list_add(c->out->warnings, sizeof c->out->warnings, "; ", fmt, ap);
    va_end(ap);
}

/* Names a figure or curve left as the base has it for lack of samples. */
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

/* What fit_case found. */
enum { CASE_ERROR = -1, CASE_ABSENT = 0, CASE_FITTED = 1, CASE_UNFIT = 2 };

/* Fits bench/case_name. Returns CASE_FITTED with *cf filled, CASE_ABSENT
 * when the case has no samples, CASE_UNFIT (named in out->failed) when the
 * fit fails, CASE_ERROR with err on a database error. */
static int fit_case(derive_ctx *c, const char *bench, const char *case_name, case_fit *cf)
{
    calib_point *p;
    size_t n;
    if (calib_db_points(c->db, c->run, bench, case_name, &p, &n, c->err) < 0)
        return -1;
    if (n == 0)
        return CASE_ABSENT;
    int rc = calib_fit_points(p, n, &cf->fit);
    cf->samples = 0;
    for (size_t i = 0; i < n; i++)
        cf->samples += (int64_t)p[i].samples;
    cf->x_min = p[0].x;
    cf->x_max = p[n - 1].x;
    free(p);
    if (rc < 0 || !(cf->fit.rate_per_s > 0)) {
        note_failed(c, "%s/%s: the fit of time = latency + work / rate failed (%zu points; needs 2 or "
                    "more sizes and a positive slope)", bench, case_name, n);
        return CASE_UNFIT;
    }
    return CASE_FITTED;
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

/* A bandwidth figure = the fitted asymptotic rate of one case. Returns
 * what fit_case did, the figure added when CASE_FITTED. */
static int bandwidth_figure(derive_ctx *c, const char *key, const char *bench, const char *case_name,
                            double *bw_out)
{
    case_fit cf;
    int rc = fit_case(c, bench, case_name, &cf);
    if (rc != CASE_FITTED)
        return rc;
    char what[96], fit[512], clocks[160];
    snprintf(what, sizeof what, "%s/%s (fitted asymptotic bandwidth)", bench, case_name);
    calib_figure *f = fig_add(c, bench, key, cf.fit.rate_per_s, cf.fit.residual, cf.samples, what);
    if (!f)
        return -1;
    fit_text(&cf, UNITS_BYTES, fit, sizeof fit);
    clocks_text(&c->run_info, clocks, sizeof clocks);
    fig_note(f, "%s; %lld samples%s", fit, (long long)cf.samples, clocks);
    if (bw_out)
        *bw_out = cf.fit.rate_per_s;
    return CASE_FITTED;
}

static int derive_hbm(derive_ctx *c, double *hbm_bw)
{
    int rc = bandwidth_figure(c, "hbm_bandwidth", CALIB_BENCH_HBM, CALIB_CASE_HBM_READ, hbm_bw);
    if (rc == CASE_ABSENT)
        skip(c, "hbm_bandwidth");
    return rc < 0 ? -1 : 0;
}

static int derive_nvlink(derive_ctx *c)
{
    int rc = bandwidth_figure(c, "nvlink_bandwidth", CALIB_BENCH_PEER, CALIB_CASE_PEER_CE, NULL);
    if (rc == CASE_ABSENT)
        skip(c, "nvlink_bandwidth");
    return rc < 0 ? -1 : 0;
}

/* pcie_duplex_bandwidth: both pinned directions at once on two streams,
 * the fitted total rate (work counts both copies). It is warned about when
 * below the slower direction alone or above the sum of the two. */
static int derive_pcie_duplex(derive_ctx *c, const case_fit *h2d, const case_fit *d2h)
{
    double duplex_bw = 0;
    int rc = bandwidth_figure(c, "pcie_duplex_bandwidth", CALIB_BENCH_HOST, CALIB_CASE_BIDIR_PINNED, &duplex_bw);
    if (rc == CASE_ABSENT)
        skip(c, "pcie_duplex_bandwidth");
    if (rc != CASE_FITTED || !h2d || !d2h)
        return rc < 0 ? -1 : 0;
    double slow = fmin(h2d->fit.rate_per_s, d2h->fit.rate_per_s), sum = h2d->fit.rate_per_s + d2h->fit.rate_per_s;
    if (duplex_bw < slow || duplex_bw > sum)
        note_warning(c, "pcie_duplex_bandwidth: %.4g GB/s both ways is outside [%.4g, %.4g] GB/s (the slower "
                     "direction alone, the sum of both)", duplex_bw / 1e9, slow / 1e9, sum / 1e9);
    return 0;
}

/* PCIe: the profile has one figure per direction, so it takes the slower of
 * the two pinned directions (the note names the other); both directions at
 * once give the duplex figure. */
static int derive_pcie(derive_ctx *c)
{
    case_fit h2d, d2h;
    int a = fit_case(c, CALIB_BENCH_HOST, CALIB_CASE_H2D_PINNED, &h2d);
    int b = a < 0 ? -1 : fit_case(c, CALIB_BENCH_HOST, CALIB_CASE_D2H_PINNED, &d2h);
    if (a < 0 || b < 0)
        return -1;
    if (a == CASE_ABSENT || b == CASE_ABSENT)
        skip(c, "pcie_bandwidth");
    int both = a == CASE_FITTED && b == CASE_FITTED;
    if (both) {
        const case_fit *slow = h2d.fit.rate_per_s <= d2h.fit.rate_per_s ? &h2d : &d2h;
        const char *slow_case = slow == &h2d ? CALIB_CASE_H2D_PINNED : CALIB_CASE_D2H_PINNED;
        char what[128], fit[512], other[32];
        snprintf(what, sizeof what, "host/%s (slower pinned direction, fitted asymptotic bandwidth)",
                 slow_case);
        calib_figure *f = fig_add(c, CALIB_BENCH_HOST, "pcie_bandwidth", slow->fit.rate_per_s,
                                  fmax(h2d.fit.residual, d2h.fit.residual), h2d.samples + d2h.samples, what);
        if (!f)
            return -1;
        fit_text(slow, UNITS_BYTES, fit, sizeof fit);
        units_format(slow == &h2d ? d2h.fit.rate_per_s : h2d.fit.rate_per_s, UNITS_BANDWIDTH, other,
                     sizeof other);
        fig_note(f, "%s; the other direction (%s) reached %s; residual is the larger of the two fits'", fit,
                 slow == &h2d ? CALIB_CASE_D2H_PINNED : CALIB_CASE_H2D_PINNED, other);
    }
    return derive_pcie_duplex(c, both ? &h2d : NULL, both ? &d2h : NULL);
}

static const char *launch_case(calib_launch_figure which)
{
    switch (which) {
    case CALIB_LAUNCH_EAGER: return CALIB_CASE_LAUNCH_EAGER;
    case CALIB_LAUNCH_GAP: return CALIB_CASE_LAUNCH_GAP;
    case CALIB_LAUNCH_GRAPH: return CALIB_CASE_LAUNCH_GRAPH;
    }
    return CALIB_CASE_LAUNCH_GRAPH;
}

/* "per_kernel 1000.0 ns (sd 2), latency 10000.0 ns (sd 30) over 11 lengths 1 to 1024" */
static void launch_fit_text(const case_fit *cf, char *buf, size_t n)
{
    snprintf(buf, n, "per_kernel %.1f ns (sd %.2g), latency %.1f ns (sd %.3g) over %zu lengths %.0f to %.0f",
             cf->fit.ns_per_unit, cf->fit.ns_per_unit_sd, cf->fit.latency_ns, cf->fit.latency_sd_ns,
             cf->fit.n_points, cf->x_min, cf->x_max);
}

/* Adds a fitted launch case to the information list as "launch.<case>"
 * (ns per kernel) and "case X ns" to note. */
static int launch_info_add(derive_ctx *c, const char *case_name, const case_fit *cf, char *note, size_t n)
{
    char key[64], what[128], fit[256];
    snprintf(key, sizeof key, "launch.%s", case_name);
    snprintf(what, sizeof what, "launch/%s (fitted time per kernel)", case_name);
    calib_figure *f = fig_add_to(c, &c->out->info, CALIB_BENCH_LAUNCH, key, cf->fit.ns_per_unit, cf->fit.residual,
                                 cf->samples, what);
    if (!f)
        return -1;
    launch_fit_text(cf, fit, sizeof fit);
    fig_note(f, "%s", fit);
    size_t len = strlen(note);
    snprintf(note + len, n - len, "%s%s %.0f ns", len ? ", " : "", case_name, cf->fit.ns_per_unit);
    return 0;
}

/* Fits every plain launch case but the chosen one (fitted by the caller)
 * into the information list and the note. */
static int launch_info(derive_ctx *c, const char *chosen, char *note, size_t n)
{
    static const char *const cases[] = { CALIB_CASE_LAUNCH_EAGER, CALIB_CASE_LAUNCH_GAP, CALIB_CASE_LAUNCH_GRAPH,
                                          CALIB_CASE_LAUNCH_SYNC, CALIB_CASE_LAUNCH_ENQUEUE };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        case_fit cf;
        if (strcmp(cases[i], chosen) == 0)
            continue;
        int rc = fit_case(c, CALIB_BENCH_LAUNCH, cases[i], &cf);
        if (rc < 0 || (rc == CASE_FITTED && launch_info_add(c, cases[i], &cf, note, n) < 0))
            return -1;
    }
    return 0;
}

/* The launch cost left exposed while the GPU is busy: for each kernel
 * duration d, the fitted time per kernel of n kernels of d launched eagerly
 * minus that of the same kernels queued behind a spinning kernel (the GPU
 * alone: its run time and gap). What remains is what the host's issue rate
 * adds; 0 when launches hide behind kernels of d. Into the information
 * list as "launch.exposed/d=D" and the note. */
static int launch_exposed(derive_ctx *c, char *note, size_t n)
{
    char **names;
    size_t n_names;
    const char *prefix = CALIB_CASE_LAUNCH_BUSY_EAGER "/";
    if (calib_db_cases(c->db, c->run, CALIB_BENCH_LAUNCH, &names, &n_names, c->err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n_names; i++) {
        if (strncmp(names[i], prefix, strlen(prefix)) != 0)
            continue;
        const char *d = names[i] + strlen(prefix);
        char queued[96], key[64], what[320];
        snprintf(queued, sizeof queued, "%s/%s", CALIB_CASE_LAUNCH_BUSY_QUEUED, d);
        case_fit e, q;
        int a = fit_case(c, CALIB_BENCH_LAUNCH, names[i], &e);
        int b = a < 0 ? -1 : fit_case(c, CALIB_BENCH_LAUNCH, queued, &q);
        if (a < 0 || b < 0) {
            rc = -1;
            break;
        }
        if (a != CASE_FITTED || b != CASE_FITTED)
            continue;
        double exposed = e.fit.ns_per_unit - q.fit.ns_per_unit;
        snprintf(key, sizeof key, "launch.exposed/%s", d);
        snprintf(what, sizeof what, "launch/%s minus launch/%s (launch cost per kernel exposed while the GPU is "
                 "busy)", names[i], queued);
        calib_figure *f = fig_add_to(c, &c->out->info, CALIB_BENCH_LAUNCH, key, exposed,
                                     fmax(e.fit.residual, q.fit.residual), e.samples + q.samples, what);
        if (!f) {
            rc = -1;
            break;
        }
        fig_note(f, "eager %.1f ns per kernel, queued %.1f ns per kernel", e.fit.ns_per_unit, q.fit.ns_per_unit);
        size_t len = strlen(note);
        snprintf(note + len, n - len, "%sexposed while busy (kernels of %s) %.0f ns", len ? ", " : "", d, exposed);
    }
    calib_db_free_names(names, n_names);
    return rc;
}

/* launch_overhead: the fitted cost of one more kernel in a back-to-back
 * sequence (t(n) = latency + n × per_kernel) of the chosen case (the CUDA
 * graph's by default); the latency term is the one-off cost of the sequence
 * (events, synchronization) and is kept in the note, with every other
 * launch figure as information. */
static int derive_launch(derive_ctx *c)
{
    const char *which = launch_case(c->opts->launch);
    char others[768] = "";
    case_fit cf;
    int rc = fit_case(c, CALIB_BENCH_LAUNCH, which, &cf);
    if (rc < 0 || (rc == CASE_FITTED && launch_info_add(c, which, &cf, others, sizeof others) < 0) ||
        launch_info(c, which, others, sizeof others) < 0 || launch_exposed(c, others, sizeof others) < 0)
        return -1;
    if (rc != CASE_FITTED) {
        if (rc == CASE_ABSENT)
            skip(c, "launch_overhead");
        return 0;
    }
    char what[128], fit[256];
    snprintf(what, sizeof what, "launch/%s (fitted time per kernel of back-to-back launches)", which);
    calib_figure *f = fig_add(c, CALIB_BENCH_LAUNCH, "launch_overhead", cf.fit.ns_per_unit, cf.fit.residual,
                              cf.samples, what);
    if (!f)
        return -1;
    launch_fit_text(&cf, fit, sizeof fit);
    fig_note(f, "weighted least-squares fit (weights 1/t^2) of t(n) = latency + n x per_kernel: %s; %lld "
             "samples; the cost model overlaps n x launch_overhead with the step's GPU time; per kernel, for "
             "information (not in any profile figure): %s", fit, (long long)cf.samples, others);
    return 0;
}

/* ---------- efficiency curves ---------- */

/* Denominator of a case's efficiency: the peak rate it is compared with. */
typedef double (*peak_fn)(const derive_ctx *c, const char *case_name);

/* The dtype a GEMM or prefill case starts with ("bf16/..."); -1 if none. */
static int case_dtype(const char *case_name, kt_dtype *d)
{
    char dt[16];
    const char *slash = strchr(case_name, '/');
    size_t len = slash ? (size_t)(slash - case_name) : strlen(case_name);
    if (len >= sizeof dt)
        return -1;
    memcpy(dt, case_name, len);
    dt[len] = '\0';
    return dtype_parse(dt, d);
}

static double flops_peak(const derive_ctx *c, const char *case_name)
{
    kt_dtype d;
    return case_dtype(case_name, &d) < 0 ? 0 : hw_peak_flops(c->base, d);
}

/* Bytes/s of decode attention and HBM streaming are compared with the
 * measured HBM bandwidth, or the base's when it was not measured: the one
 * the written profile will carry. */
static double hbm_peak(const derive_ctx *c, const char *case_name)
{
    (void)case_name;
    const calib_figure *f = calib_figure_find(&c->out->figs, "hbm_bandwidth");
    return f ? f->value : c->base->hbm_bw_Bps;
}

/* Efficiencies collected for one pooled curve. Owns p. */
typedef struct effpts {
    calib_effpt *p;
    size_t n, cap;
} effpts;

static int effpts_add(effpts *e, double x, double eff, size_t samples)
{
    calib_effpt *grown = grow_array(e->p, &e->cap, e->n + 1, sizeof *grown);
    if (!grown)
        return -1;
    e->p = grown;
    e->p[e->n++] = (calib_effpt){ x, eff, samples };
    return 0;
}

/* Which cases of a table also feed a pooled curve, and at which x. */
typedef struct collect {
    const char *const *filter; /* labels that go in (all of these strings) */
    int x_is_work;             /* x = the work of a call (bytes moved), not the sweep's x */
    effpts *into;
} collect;

/* Adds one case's curve (eff = work / time / peak) to tab and its points to
 * the collects whose filter its label matches. Takes ownership of nothing. */
static int table_add_case(derive_ctx *c, const char *bench, const char *name, double denom,
                          calib_efftab *tab, const collect *cols, size_t n_cols)
{
    calib_point *p;
    size_t n;
    if (calib_db_points(c->db, c->run, bench, name, &p, &n, c->err) < 0)
        return -1;
    double *x = malloc((n ? n : 1) * sizeof *x), *eff = malloc((n ? n : 1) * sizeof *eff);
    size_t samples = 0;
    int rc = x && eff ? 0 : -1;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        x[k] = p[k].x;
        eff[k] = p[k].work / (p[k].median_ns / NS_PER_S) / denom;
        samples += p[k].samples;
        for (size_t j = 0; rc == 0 && j < n_cols; j++)
            if (calib_label_matches(name, cols[j].filter))
                rc = effpts_add(cols[j].into, cols[j].x_is_work ? p[k].work : p[k].x, eff[k], p[k].samples);
    }
    if (rc == 0 && calib_efftab_add(tab, name, x, eff, n) == 0) {
        tab->curves[tab->n - 1].samples = samples;
    } else {
        KT_ERROR(c->err, NULL, 0, 0, "%s/%s: cannot build its efficiency curve", bench, name);
        rc = -1;
    }
    free(x);
    free(eff);
    free(p);
    return rc;
}

/* Builds one curve per case of bench into tab (for the comment block and
 * table calib_efficiency) and feeds the collects. A case without a peak to
 * compare with is named in out->failed and left out. */
static int build_table(derive_ctx *c, const char *bench, peak_fn peak, calib_efftab *tab,
                       const collect *cols, size_t n_cols)
{
    char **names;
    size_t n_names;
    if (calib_db_cases(c->db, c->run, bench, &names, &n_names, c->err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n_names && rc == 0; i++) {
        double denom = peak(c, names[i]);
        if (!(denom > 0))
            note_failed(c, "%s/%s: no peak rate to compare with in the base profile", bench, names[i]);
        else
            rc = table_add_case(c, bench, names[i], denom, tab, cols, n_cols);
    }
    calib_db_free_names(names, n_names);
    return rc;
}

/* The points of a pooled curve that a profile accepts: value in (0, 1]
 * (above 1 clamped, others dropped, both warned), x strictly ascending
 * (token counts rounded to whole tokens). */
static void curve_keep_points(derive_ctx *c, calib_curve_fig *cf, const calib_pooled *pooled, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        calib_pooled pt = pooled[i];
        if (cf->x_kind == CURVE_X_TOKENS)
            pt.x = fmax(1.0, round(pt.x));
        if (!(pt.eff > 0) || (cf->n > 0 && !(pt.x > cf->pt[cf->n - 1].x))) {
            note_warning(c, "%s: point at x = %.6g dropped (efficiency %.6g)", cf->key, pt.x, pt.eff);
            continue;
        }
        if (pt.eff > 1) {
            note_warning(c, "%s: efficiency %.4g at x = %.6g clamped to 1 (check the base profile's "
                         "peak figures against the GPU)", cf->key, pt.eff, pt.x);
            pt.eff = 1;
        }
        cf->pt[cf->n++] = pt;
    }
}

/* Pools pts into the measured curve key: what names the benchmark in the
 * source, how says what the value is. Skipped without points. */
static int curve_add(derive_ctx *c, const char *key, const char *benches, curve_x_kind x_kind,
                     const effpts *pts, const char *what, const char *how)
{
    calib_curves *cs = &c->out->curves;
    if (pts->n == 0) {
        skip(c, key);
        return 0;
    }
    if (cs->n == CALIB_MAX_CURVES) {
        KT_ERROR(c->err, NULL, 0, 0, "too many calibrated curves");
        return -1;
    }
    calib_curve_fig *cf = &cs->c[cs->n];
    memset(cf, 0, sizeof *cf);
    snprintf(cf->key, sizeof cf->key, "%s", key);
    snprintf(cf->benches, sizeof cf->benches, "%s", benches);
    cf->x_kind = x_kind;
    calib_pooled pooled[CURVE_MAX_POINTS];
    size_t m = calib_effpts_pool(pts->p, pts->n, CURVE_MAX_POINTS, pooled);
    curve_keep_points(c, cf, pooled, m);
    if (cf->n == 0) {
        note_failed(c, "%s: no measured point has a positive efficiency", key);
        return 0;
    }
    snprintf(cf->source, sizeof cf->source, "measured on %s %.*s by kvtier-calibrate %s",
             c->run_info.gpu_name, DATE_LEN, c->run_info.started_utc, what);
    snprintf(cf->note, sizeof cf->note, "%s; each point the median of the %zu measured points whose x "
             "falls in its bin of log2 x (x the bins' geometric mean); residual = RMS relative spread "
             "of them around the median", how, pts->n);
    cs->n++;
    return 1;
}

static int derive_gemm(derive_ctx *c)
{
    const char *const bf16[] = { CALIB_DTYPE_BF16_PREFIX, NULL }, *const fp8[] = { CALIB_DTYPE_FP8_PREFIX, NULL };
    effpts b = { 0 }, f = { 0 };
    const collect cols[] = { { bf16, 0, &b }, { fp8, 0, &f } };
    int rc = build_table(c, CALIB_BENCH_GEMM, flops_peak, &c->out->gemm, cols, 2);
    if (rc == 0)
        rc = curve_add(c, "gemm.bf16", CALIB_BENCH_GEMM, CURVE_X_TOKENS, &b,
                       "gemm/bf16 (cuBLASLt, model-card shapes; FLOP/s / peak_flops.bf16)",
                       "BF16 GEMM FLOP/s over the dense BF16 peak by M tokens, median over the shapes");
    if (rc >= 0)
        rc = curve_add(c, "gemm.fp8", CALIB_BENCH_GEMM, CURVE_X_TOKENS, &f,
                       "gemm/fp8 (cuBLASLt e4m3, model-card shapes; FLOP/s / peak_flops.fp8)",
                       "FP8 GEMM FLOP/s over the dense FP8 peak by M tokens, median over the shapes");
    free(b.p);
    free(f.p);
    return rc < 0 ? -1 : 0;
}

/* attention_prefill.bf16: from cuDNN's fused flash attention when it ran
 * (what serving engines run) — whole sequences and chunks after a cached
 * prefix pooled by context length, the x the cost model looks it up by —
 * else from the unfused kernel, marked as the lower bound on efficiency it
 * is. All are tabled. */
static int derive_prefill(derive_ctx *c)
{
    const char *const bf16[] = { CALIB_DTYPE_BF16_PREFIX, NULL };
    effpts b = { 0 }, fused = { 0 }, chunked = { 0 };
    const collect cols[] = { { bf16, 0, &b } }, fused_cols[] = { { bf16, 0, &fused } };
    const collect chunked_cols[] = { { bf16, 0, &chunked } };
    int rc = build_table(c, CALIB_BENCH_PREFILL, flops_peak, &c->out->prefill, cols, 1);
    if (rc == 0)
        rc = build_table(c, CALIB_BENCH_SDPA, flops_peak, &c->out->sdpa, fused_cols, 1);
    if (rc == 0)
        rc = build_table(c, CALIB_BENCH_SDPA_CHUNKED, flops_peak, &c->out->sdpa_chunked, chunked_cols, 1);
    for (size_t i = 0; rc == 0 && i < chunked.n; i++)
        rc = effpts_add(&fused, chunked.p[i].x, chunked.p[i].eff, chunked.p[i].samples);
    if (rc == 0 && fused.n > 0)
        rc = curve_add(c, "attention_prefill.bf16",
                       chunked.n > 0 ? CALIB_BENCH_SDPA "," CALIB_BENCH_SDPA_CHUNKED : CALIB_BENCH_SDPA,
                       CURVE_X_TOKENS, &fused,
                       chunked.n > 0 ? "sdpa/bf16 and sdpa-chunked/bf16 (cuDNN fused flash attention, causal, "
                                       "whole sequences and chunks after a cached prefix; FLOP/s / peak_flops.bf16)"
                                     : "sdpa/bf16 (cuDNN fused flash attention, causal; FLOP/s / peak_flops.bf16)",
                       "causal attention FLOPs per second over the dense BF16 peak by context tokens (a chunk's "
                       "FLOPs count its cached prefix), cuDNN's fused scaled-dot-product attention (the unfused "
                       "prefill benchmark's table is kept in the sample DB)");
    else if (rc == 0)
        rc = curve_add(c, "attention_prefill.bf16", CALIB_BENCH_PREFILL, CURVE_X_TOKENS, &b,
                       "prefill/bf16 (UPPER BOUND on time: unfused batched GEMMs + softmax writing the "
                       "full score matrix; a fused kernel is faster)",
                       "causal attention FLOPs per second over the dense BF16 peak by sequence tokens; "
                       "a LOWER BOUND on a fused (FlashAttention) kernel's efficiency");
    free(b.p);
    free(fused.p);
    free(chunked.p);
    return rc < 0 ? -1 : 0;
}

/* attention_decode: from cuDNN's fused attention when it ran (paged KV, or
 * contiguous where cuDNN refused the paged graph), else from the own
 * kernel, which stays tabled as the cross-check. */
static int derive_decode(derive_ctx *c)
{
    const char *const fp16_shuffled[] = { CALIB_DTYPE_FP16_PREFIX, CALIB_DECODE_SHUFFLED, NULL };
    const char *const paged[] = { CALIB_SDPA_PAGED, NULL }, *const contiguous[] = { CALIB_SDPA_CONTIGUOUS, NULL };
    effpts e = { 0 }, lib_paged = { 0 }, lib_contiguous = { 0 };
    const collect cols[] = { { fp16_shuffled, 1, &e } };
    const collect lib_cols[] = { { paged, 1, &lib_paged }, { contiguous, 1, &lib_contiguous } };
    int rc = build_table(c, CALIB_BENCH_DECODE, hbm_peak, &c->out->decode, cols, 1);
    if (rc == 0)
        rc = build_table(c, CALIB_BENCH_SDPA_DECODE, hbm_peak, &c->out->sdpa_decode, lib_cols, 2);
    if (rc == 0 && lib_paged.n > 0)
        rc = curve_add(c, "attention_decode", CALIB_BENCH_SDPA_DECODE, CURVE_X_BYTES, &lib_paged,
                       "sdpa-decode (cuDNN fused attention, one query per sequence, paged KV; "
                       "KV bytes/s / hbm_bandwidth)",
                       "KV bytes one decode call reads per second over hbm_bandwidth, by those bytes, cuDNN's "
                       "fused attention through page tables (BF16 and FP16 KV, GQA groups 1-8); the own "
                       "kernel's table is kept as the cross-check");
    else if (rc == 0 && lib_contiguous.n > 0)
        rc = curve_add(c, "attention_decode", CALIB_BENCH_SDPA_DECODE, CURVE_X_BYTES, &lib_contiguous,
                       "sdpa-decode (cuDNN fused attention, one query per sequence, CONTIGUOUS KV: this "
                       "cuDNN refused the paged graph; KV bytes/s / hbm_bandwidth)",
                       "KV bytes one decode call reads per second over hbm_bandwidth, by those bytes, cuDNN's "
                       "fused attention over contiguous KV (no page-table indirection, so an upper bound on "
                       "paged efficiency); the own kernel's table is kept as the cross-check");
    else if (rc == 0)
        rc = curve_add(c, "attention_decode", CALIB_BENCH_DECODE, CURVE_X_BYTES, &e,
                       "decode/fp16 (own paged kernel, shuffled block tables; bytes/s / hbm_bandwidth)",
                       "bytes one paged decode call reads (KV once, queries, outputs, block table) per "
                       "second over hbm_bandwidth, by those bytes; describes kvtier-calibrate's own "
                       "kernel, not FlashInfer's or vLLM's");
    free(e.p);
    free(lib_paged.p);
    free(lib_contiguous.p);
    return rc < 0 ? -1 : 0;
}

/* Bytes a BF16 GEMM out[M][N] = x[M][K]·W[N][K]^T moves: both operands read
 * once, the output written once. */
static double gemm_bf16_bytes(double m, double n, double k)
{
    return BF16_BYTES * (m * k + n * k + m * n);
}

/* How far from the roofline's ridge a GEMM must be to count as memory
 * bound: near the ridge neither side reaches its peak, so such a point
 * would drag the curve down (the published curves use the same margin,
 * hwprofiles/fit/NOTES.md). */
#define GEMM_RIDGE_MARGIN 1.5

/* Adds the memory-bound points of one BF16 GEMM case (its FLOPs at the
 * dense peak take under 1 / GEMM_RIDGE_MARGIN of its bytes' time at
 * hbm_bw) to e as bytes/s over hbm_bw at x = bytes moved. */
static int gemm_memory_points(derive_ctx *c, const char *name, double hbm_bw, effpts *e)
{
    double n_dim, k_dim;
    const char *nk = strstr(name, GEMM_SHAPE_TAG);
    if (!nk || sscanf(nk, GEMM_SHAPE_TAG "%lf/k=%lf", &n_dim, &k_dim) != 2)
        return 0;
    calib_point *p;
    size_t n;
    if (calib_db_points(c->db, c->run, CALIB_BENCH_GEMM, name, &p, &n, c->err) < 0)
        return -1;
    double peak = hw_peak_flops(c->base, DTYPE_BF16);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        double bytes = gemm_bf16_bytes(p[i].x, n_dim, k_dim);
        if (GEMM_RIDGE_MARGIN * p[i].work / peak < bytes / hbm_bw)
            rc = effpts_add(e, bytes, bytes / (p[i].median_ns / NS_PER_S) / hbm_bw, p[i].samples);
    }
    free(p);
    return rc;
}

/* memory: HBM streaming reads and memory-bound BF16 GEMMs, bytes/s over
 * hbm_bandwidth by the bytes one kernel moves. */
static int derive_memory(derive_ctx *c)
{
    effpts e = { 0 };
    double hbm_bw = hbm_peak(c, NULL);
    calib_point *p;
    size_t n;
    int rc = calib_db_points(c->db, c->run, CALIB_BENCH_HBM, CALIB_CASE_HBM_READ, &p, &n, c->err);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = effpts_add(&e, p[i].work, p[i].work / (p[i].median_ns / NS_PER_S) / hbm_bw, p[i].samples);
        free(p);
    }
    char **names = NULL;
    size_t n_names = 0;
    if (rc == 0)
        rc = calib_db_cases(c->db, c->run, CALIB_BENCH_GEMM, &names, &n_names, c->err);
    for (size_t i = 0; rc == 0 && i < n_names; i++)
        if (strncmp(names[i], CALIB_DTYPE_BF16_PREFIX, strlen(CALIB_DTYPE_BF16_PREFIX)) == 0)
            rc = gemm_memory_points(c, names[i], hbm_bw, &e);
    calib_db_free_names(names, n_names);
    if (rc == 0)
        rc = curve_add(c, "memory", CALIB_BENCH_HBM "," CALIB_BENCH_GEMM, CURVE_X_BYTES, &e,
                       "hbm/read and memory-bound gemm/bf16 (bytes/s / hbm_bandwidth)",
                       "bytes moved per second over hbm_bandwidth by the bytes one kernel moves: HBM "
                       "streaming reads, and BF16 GEMMs whose bytes at hbm_bandwidth take longer than "
                       "their FLOPs at the dense peak (bytes = 2(MK + NK + MN))");
    free(e.p);
    return rc < 0 ? -1 : 0;
}

/* ---------- clocks ---------- */

/* Names every benchmark whose clock samples show a throttling reason, with
 * the reasons and the clocks, in out->throttled and out->throttled_benches. */
static int derive_throttled(derive_ctx *c)
{
    calib_clock_sample *cs;
    size_t n;
    if (calib_db_clocks(c->db, c->run, &cs, &n, c->err) < 0)
        return -1;
    calib_result *r = c->out;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = calib_clocks_throttling(cs[i].reasons);
        if (!t)
            continue;
        char why[256], tag[32];
        calib_clocks_reasons_text(t, why, sizeof why);
        size_t len = strlen(r->throttled);
        snprintf(r->throttled + len, sizeof r->throttled - len, "%s%s (%s: %s; SM %.0f of %.0f MHz, memory %.0f MHz)",
                 len ? "; " : "", cs[i].bench, cs[i].phase, why, cs[i].sm_mhz, cs[i].sm_max_mhz, cs[i].mem_mhz);
        snprintf(tag, sizeof tag, ",%s,", cs[i].bench);
        len = strlen(r->throttled_benches);
        if (!strstr(r->throttled_benches, tag))
            snprintf(r->throttled_benches + len, sizeof r->throttled_benches - len, "%s%s,", len ? "" : ",",
                     cs[i].bench);
    }
    free(cs);
    return 0;
}

int calib_result_throttled(const calib_result *r, const char *benches)
{
    char list[128], *save = NULL;
    snprintf(list, sizeof list, "%s", benches ? benches : "");
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char tag[32];
        snprintf(tag, sizeof tag, ",%s,", tok);
        if (strstr(r->throttled_benches, tag))
            return 1;
    }
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
        calib_figure *f = fig_add(c, "", dev[i].key, dev[i].v, 0.0, 1, dev[i].what);
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
    calib_efftab_init(&out->sdpa, CALIB_BENCH_SDPA);
    calib_efftab_init(&out->sdpa_chunked, CALIB_BENCH_SDPA_CHUNKED);
    calib_efftab_init(&out->sdpa_decode, CALIB_BENCH_SDPA_DECODE);
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
    if (derive_device(&c) < 0 || derive_hbm(&c, NULL) < 0 || derive_pcie(&c) < 0 ||
        derive_nvlink(&c) < 0 || derive_launch(&c) < 0 || derive_gemm(&c) < 0 ||
        derive_prefill(&c) < 0 || derive_decode(&c) < 0 || derive_memory(&c) < 0 || derive_throttled(&c) < 0)
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

/* A measured curve's points go to calib_figures as "curves.KEY[i]" with x in the source. */
static int store_curve(calib_db *db, int64_t run_id, const calib_curve_fig *cf, kt_err *err)
{
    for (size_t i = 0; i < cf->n; i++) {
        char key[128], source[512];
        snprintf(key, sizeof key, "curves.%s[%zu]", cf->key, i);
        snprintf(source, sizeof source, "x = %.17g; %s", cf->pt[i].x, cf->source);
        if (calib_db_add_figure(db, run_id, key, cf->pt[i].eff, cf->pt[i].residual,
                                (int64_t)cf->pt[i].samples, source, err) < 0)
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
    for (size_t i = 0; i < r->info.n && rc == 0; i++) {
        const calib_figure *f = &r->info.fig[i];
        char key[96];
        snprintf(key, sizeof key, "info.%s", f->key);
        rc = calib_db_add_figure(db, run_id, key, f->value, f->residual, f->samples, f->source, err);
    }
    for (size_t i = 0; i < r->curves.n && rc == 0; i++)
        rc = store_curve(db, run_id, &r->curves.c[i], err);
    if (rc == 0)
        rc = store_table(db, run_id, &r->gemm, err) < 0 || store_table(db, run_id, &r->prefill, err) < 0 ||
             store_table(db, run_id, &r->sdpa, err) < 0 || store_table(db, run_id, &r->sdpa_chunked, err) < 0 ||
             store_table(db, run_id, &r->sdpa_decode, err) < 0 ||
             store_table(db, run_id, &r->decode, err) < 0 ? -1 : 0;
    if (rc == 0)
        return calib_db_commit(db, err);
    calib_db_rollback(db);
    return -1;
}
