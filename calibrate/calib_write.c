/* calib_write.c — emits profile YAML from a base profile's tree and the measured figures and curves, quoting strings and writing values with their units. */
#include "calib_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "outfile.h"
#include "hw.h"

#define KIB 1024.0
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)
#define GIGA 1e9
#define TERA 1e12

/* Significant digits of written values: far below any fit's uncertainty, so
 * the profile reads back as the fitted number. */
#define VALUE_DIGITS 10

/* Spaces per YAML nesting level. */
#define INDENT 2

/* ---------- values ---------- */

/* Bytes in the largest binary unit that divides them exactly. */
static void format_bytes(double v, char *buf, size_t n)
{
    static const struct { double mult; const char *unit; } u[] = {
        { GIB, "GiB" }, { MIB, "MiB" }, { KIB, "KiB" },
    };
    double whole = round(v);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (whole >= u[i].mult && fmod(whole, u[i].mult) == 0) {
            snprintf(buf, n, "%.0f%s", whole / u[i].mult, u[i].unit);
            return;
        }
    snprintf(buf, n, "%.0fB", whole);
}

typedef enum { FMT_BYTES, FMT_BW, FMT_NS, FMT_COUNT, FMT_PLAIN, FMT_FLOPS, FMT_WATTS } value_fmt;

/* How each figure's value is written (units as hwprofiles/README.md gives them). */
static const struct { const char *key; value_fmt fmt; } key_formats[] = {
    { "hbm_capacity", FMT_BYTES }, { "smem_per_sm", FMT_BYTES }, { "l2_cache", FMT_BYTES },
    { "hbm_bandwidth", FMT_BW }, { "nvlink_bandwidth", FMT_BW }, { "pcie_bandwidth", FMT_BW },
    { "network_bandwidth", FMT_BW }, { "pcie_duplex_bandwidth", FMT_BW },
    { "nvlink_latency", FMT_NS }, { "launch_overhead", FMT_NS }, { "network_latency", FMT_NS },
    { "sm_count", FMT_COUNT }, { "kernels_per_layer", FMT_COUNT },
    { "gpus_per_node", FMT_COUNT }, { "nvlink_domain_gpus", FMT_COUNT },
    { "price_usd", FMT_PLAIN }, { "hourly_usd", FMT_PLAIN }, { "power", FMT_WATTS },
    { "efficiency.nvlink", FMT_PLAIN }, { "efficiency.network", FMT_PLAIN },
    { "small_op_floor", FMT_NS }, { "host_overhead.step", FMT_NS }, { "host_overhead.sequence", FMT_NS },
};

#define PEAK_PREFIX "peak_flops."

const char *calib_format_value(const char *key, double value, char *buf, size_t n)
{
    int fmt = -1;
    if (strncmp(key, PEAK_PREFIX, strlen(PEAK_PREFIX)) == 0)
        fmt = FMT_FLOPS;
    for (size_t i = 0; fmt < 0 && i < sizeof key_formats / sizeof key_formats[0]; i++)
        if (strcmp(key_formats[i].key, key) == 0)
            fmt = (int)key_formats[i].fmt;
    switch (fmt) {
    case FMT_BYTES: format_bytes(value, buf, n); break;
    case FMT_BW: snprintf(buf, n, "%.*gGB/s", VALUE_DIGITS, value / GIGA); break;
    case FMT_NS: snprintf(buf, n, "%lldns", (long long)fmax(1.0, round(value))); break;
    case FMT_COUNT: snprintf(buf, n, "%.0f", round(value)); break;
    case FMT_PLAIN: snprintf(buf, n, "%.*g", VALUE_DIGITS, value); break;
    case FMT_FLOPS: snprintf(buf, n, "%.*gTFLOP/s", VALUE_DIGITS, value / TERA); break;
    case FMT_WATTS: snprintf(buf, n, "%.*gW", VALUE_DIGITS, value); break;
    default: return NULL;
    }
    return buf;
}

/* ---------- YAML output ---------- */

/* Writes s as a double-quoted YAML scalar. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* "key: value" at depth, the value quoted when it was quoted in the base. */
static void put_scalar(FILE *out, int depth, const char *key, const char *value, int quoted)
{
    fprintf(out, "%*s%s: ", depth * INDENT, "", key);
    if (quoted)
        put_quoted(out, value);
    else
        fputs(value, out);
    fputc('\n', out);
}

static void put_comment(FILE *out, const char *text)
{
    const char *line = text;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(out, "#%s%.*s\n", len ? " " : "", len, line);
        line = nl ? nl + 1 : NULL;
    }
}

/* A measured figure: value, status, source, residual, samples, note. */
static void put_measured(FILE *out, int depth, const char *key, const calib_figure *f, const char *value)
{
    fprintf(out, "%*s%s:\n", depth * INDENT, "", key);
    put_scalar(out, depth + 1, "value", value, 0);
    put_scalar(out, depth + 1, "status", "measured", 0);
    put_scalar(out, depth + 1, "source", f->source, 1);
    fprintf(out, "%*sresidual: %.6g\n", (depth + 1) * INDENT, "", f->residual);
    fprintf(out, "%*ssamples: %lld\n", (depth + 1) * INDENT, "", (long long)f->samples);
    if (f->note[0])
        put_scalar(out, depth + 1, "note", f->note, 1);
}

/* A figure copied from the base: its keys in their order, scalars as written. */
static int put_copied(FILE *out, int depth, const conf_node *fig, kt_err *err)
{
    fprintf(out, "%*s%s:\n", depth * INDENT, "", fig->key);
    for (size_t i = 0; i < fig->n_kids; i++) {
        const conf_node *k = fig->kids[i];
        if (k->kind != CONF_SCALAR) {
            CONF_ERROR(err, k, "expected a scalar in a figure");
            return -1;
        }
        /* Sources and notes are always quoted; values keep their style. */
        int quoted = k->quoted || strcmp(k->key, "source") == 0 || strcmp(k->key, "note") == 0;
        put_scalar(out, depth + 1, k->key, k->value, quoted);
    }
    return 0;
}

/* ---------- walking the base profile ---------- */

typedef struct write_ctx {
    FILE *out;
    const calib_figures *figs;
    int *used;                 /* per figs entry: written */
    const calib_curves *curves;/* may be NULL */
    int curve_used[CALIB_MAX_CURVES];
    kt_err *err;
} write_ctx;

static int is_figure(const conf_node *n) { return n->kind == CONF_MAP && conf_find(n, "value"); }

static int put_figure(write_ctx *w, int depth, const conf_node *fig, const char *prov_key)
{
    for (size_t i = 0; i < w->figs->n; i++) {
        const calib_figure *f = &w->figs->fig[i];
        if (strcmp(f->key, prov_key) != 0)
            continue;
        char value[64];
        if (!calib_format_value(f->key, f->value, value, sizeof value)) {
            CONF_ERROR(w->err, fig, "no unit known for measured figure %s", f->key);
            return -1;
        }
        put_measured(w->out, depth, fig->key, f, value);
        w->used[i] = 1;
        return 0;
    }
    return put_copied(w->out, depth, fig, w->err);
}

/* A group of figures (peak_flops, efficiency): one level of nesting. */
static int put_group(write_ctx *w, const conf_node *group)
{
    fprintf(w->out, "%*s%s:\n", INDENT, "", group->key);
    for (size_t i = 0; i < group->n_kids; i++) {
        const conf_node *fig = group->kids[i];
        char prov_key[128];
        snprintf(prov_key, sizeof prov_key, "%s.%s", group->key, fig->key);
        if (!is_figure(fig)) {
            CONF_ERROR(w->err, fig, "expected a figure {value, status, source}");
            return -1;
        }
        if (put_figure(w, 2, fig, prov_key) < 0)
            return -1;
    }
    return 0;
}

static int put_figures(write_ctx *w, const conf_node *figures)
{
    if (conf_expect(figures, CONF_MAP, w->err) < 0)
        return -1;
    fputs("figures:\n", w->out);
    for (size_t i = 0; i < figures->n_kids; i++) {
        const conf_node *n = figures->kids[i];
        int rc = is_figure(n) ? put_figure(w, 1, n, n->key)
                 : n->kind == CONF_MAP ? put_group(w, n)
                 : (CONF_ERROR(w->err, n, "expected a figure or a group of figures"), -1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---------- curves ---------- */

/* Spaces before a curve's "- " points: below curves: and a dtype group. */
#define CURVE_POINT_DEPTH 3

/* The measured curve with this key, marked written; NULL when none. */
static const calib_curve_fig *take_curve(write_ctx *w, const char *key)
{
    for (size_t i = 0; w->curves && i < w->curves->n; i++)
        if (strcmp(w->curves->c[i].key, key) == 0) {
            w->curve_used[i] = 1;
            return &w->curves->c[i];
        }
    return NULL;
}

/* A measured curve's points, one flow mapping per line. */
static void put_measured_curve(FILE *out, int depth, const calib_curve_fig *cf)
{
    for (size_t i = 0; i < cf->n; i++) {
        const calib_pooled *p = &cf->pt[i];
        char x[64];
        if (cf->x_kind == CURVE_X_BYTES)
            format_bytes(p->x, x, sizeof x);
        else
            snprintf(x, sizeof x, "%.0f", p->x);
        fprintf(out, "%*s- {x: %s, value: %.*g, status: measured, source: ", depth * INDENT, "", x,
                VALUE_DIGITS, p->eff);
        put_quoted(out, cf->source);
        fprintf(out, ", residual: %.6g, samples: %zu", p->residual, p->samples);
        if (i == 0 && cf->note[0]) {
            fputs(", note: ", out);
            put_quoted(out, cf->note);
        }
        fputs("}\n", out);
    }
}

/* A base curve copied point by point, each as the flow text it reads back as. */
static int put_copied_curve(write_ctx *w, int depth, const conf_node *seq)
{
    if (conf_expect(seq, CONF_SEQ, w->err) < 0)
        return -1;
    for (size_t i = 0; i < seq->n_kids; i++) {
        char *flow = conf_to_flow(seq->kids[i]);
        if (!flow) {
            CONF_ERROR(w->err, seq->kids[i], "out of memory");
            return -1;
        }
        fprintf(w->out, "%*s- %s\n", depth * INDENT, "", flow);
        free(flow);
    }
    return 0;
}

/* "key:" and the curve at key (the measured one when there is one). */
static int put_curve(write_ctx *w, int depth, const char *name, const char *key, const conf_node *seq)
{
    fprintf(w->out, "%*s%s:\n", depth * INDENT, "", name);
    const calib_curve_fig *cf = take_curve(w, key);
    if (cf) {
        put_measured_curve(w->out, depth + 1, cf);
        return 0;
    }
    return put_copied_curve(w, depth + 1, seq);
}

/* A per-dtype group {bf16: [...], fp8: [...]}, with measured dtypes the
 * base lacks added at its end. */
static int put_curve_group(write_ctx *w, const conf_node *group)
{
    fprintf(w->out, "%*s%s:\n", INDENT, "", group->key);
    char key[128];
    for (size_t i = 0; i < group->n_kids; i++) {
        snprintf(key, sizeof key, "%s.%s", group->key, group->kids[i]->key);
        if (put_curve(w, 2, group->kids[i]->key, key, group->kids[i]) < 0)
            return -1;
    }
    size_t prefix = strlen(group->key);
    for (size_t i = 0; w->curves && i < w->curves->n; i++) {
        const calib_curve_fig *cf = &w->curves->c[i];
        if (w->curve_used[i] || strncmp(cf->key, group->key, prefix) != 0 || cf->key[prefix] != '.')
            continue;
        fprintf(w->out, "%*s%s:\n", 2 * INDENT, "", cf->key + prefix + 1);
        put_measured_curve(w->out, CURVE_POINT_DEPTH, cf);
        w->curve_used[i] = 1;
    }
    return 0;
}

static int put_curves(write_ctx *w, const conf_node *curves)
{
    if (conf_expect(curves, CONF_MAP, w->err) < 0)
        return -1;
    fputs("curves:\n", w->out);
    for (size_t i = 0; i < curves->n_kids; i++) {
        const conf_node *n = curves->kids[i];
        int rc = n->kind == CONF_MAP ? put_curve_group(w, n) : put_curve(w, 1, n->key, n->key, n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void put_tables(FILE *out, const calib_result *r)
{
    const calib_efftab *tabs[] = { &r->gemm, &r->prefill, &r->sdpa, &r->sdpa_chunked, &r->decode, &r->sdpa_decode };
    fputs("\n# Efficiency tables behind the figures and curves above (measured / peak; interpolated in\n"
          "# log x between points). Full precision: table calib_efficiency of the sample DB.\n", out);
    for (size_t t = 0; t < sizeof tabs / sizeof tabs[0]; t++)
        for (size_t i = 0; i < tabs[t]->n; i++) {
            const calib_curve *c = &tabs[t]->curves[i];
            fprintf(out, "#   %s %s:", tabs[t]->name, c->label);
            for (size_t k = 0; k < c->n; k++)
                fprintf(out, " %.0f=%.3f", exp(c->logx[k]), c->eff[k]);
            fputc('\n', out);
        }
}

/* Checks that every measured figure and curve found its place in the base. */
static int all_used(const write_ctx *w, const char *base_path)
{
    for (size_t i = 0; i < w->figs->n; i++)
        if (!w->used[i]) {
            KT_ERROR(w->err, base_path, 0, 0, "measured figure %s is not in the base profile",
                     w->figs->fig[i].key);
            return -1;
        }
    for (size_t i = 0; w->curves && i < w->curves->n; i++)
        if (!w->curve_used[i]) {
            KT_ERROR(w->err, base_path, 0, 0, "measured curve %s is not in the base profile",
                     w->curves->c[i].key);
            return -1;
        }
    return 0;
}

static int put_profile(write_ctx *w, const conf_node *root, const calib_write_opts *o,
                       const char *base_path)
{
    const char *base_gpu = NULL;
    const conf_node *figures = conf_find(root, "figures"), *curves = conf_find(root, "curves");
    conf_node *gpu = conf_find(root, "gpu");
    if (conf_expect(root, CONF_MAP, w->err) < 0 || !figures || !gpu || !curves ||
        conf_scalar_str(gpu, &base_gpu, w->err) < 0) {
        if (!figures || !gpu || !curves)
            KT_ERROR(w->err, base_path, 0, 0, "base profile has no %s",
                     !figures ? "figures" : !gpu ? "gpu" : "curves");
        return -1;
    }
    if (o->comment)
        put_comment(w->out, o->comment);
    put_scalar(w->out, 0, "name", o->name, 1);
    put_scalar(w->out, 0, "gpu", o->gpu ? o->gpu : base_gpu, 1);
    if (put_figures(w, figures) < 0 || put_curves(w, curves) < 0 || all_used(w, base_path) < 0)
        return -1;
    if (o->tables)
        put_tables(w->out, o->tables);
    return 0;
}

int calib_write_profile(const char *base_path, const calib_figures *figs, const calib_write_opts *o,
                        FILE *out, kt_err *err)
{
    if (!o || !o->name || !o->name[0]) {
        KT_ERROR(err, NULL, 0, 0, "a calibrated profile needs a name");
        return -1;
    }
    conf_node *root = conf_parse_file(base_path, err);
    if (!root)
        return -1;
    write_ctx w = { out, figs, calloc(figs->n + 1, sizeof(int)), o->curves, { 0 }, err };
    int rc = -1;
    if (!w.used)
        KT_ERROR(err, base_path, 0, 0, "out of memory");
    else
        rc = put_profile(&w, root, o, base_path);
    free(w.used);
    conf_free(root);
    if (rc == 0 && ferror(out)) {
        KT_ERROR(err, NULL, 0, 0, "write error");
        rc = -1;
    }
    return rc;
}

/* Loads the written file back and checks it as the simulator will. */
static int verify_profile(const char *path, kt_err *err)
{
    hw_profile *h = hw_load(path, err);
    int rc = h && hw_check(h, err) == 0 ? 0 : -1;
    hw_free(h);
    return rc;
}

int calib_write_profile_file(const char *base_path, const calib_figures *figs,
                             const calib_write_opts *o, const char *out_path, kt_err *err)
{
    /* Written and checked in a temporary file beside out_path; an existing
     * profile is replaced only by one that loads. */
    outfile of;
    if (outfile_open(&of, out_path, err) != 0)
        return -1;
    int rc = calib_write_profile(base_path, figs, o, of.f, err);
    if (rc == 0)
        rc = outfile_close_stream(&of, err);
    if (rc == 0)
        rc = verify_profile(of.tmp, err);
    if (rc == 0)
        return outfile_commit(&of, err);
    outfile_abort(&of);
    return -1;
}
