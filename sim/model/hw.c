/* hw.c — GPU hardware profiles: reading figures with their provenance from YAML, checking them, and peak-rate lookup with dtype fallback. */
#include "hw.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "suggest.h"

/*
 * Profile layout (hwprofiles/README.md is the user-facing description):
 *
 *   name: h100-sxm
 *   gpu: NVIDIA H100 SXM5 80GB
 *   figures:
 *     peak_flops:                 # one figure per operand dtype; fp32 required
 *       bf16: {value: 989.4TFLOP/s, status: assumed, source: "..."}
 *     hbm_capacity: {value: 80GB, status: assumed, source: "..."}
 *     ...
 *     efficiency:
 *       gemm: {value: 0.7, status: assumed, source: "..."}
 *
 *   curves:                       # efficiency against size, each point a figure
 *     gemm:  {bf16: [{x: 1, value: 0.01, status: published, source: "..."}, ...], fp8: [...]}
 *     memory: [{x: 64KiB, value: 0.2, ...}, ...]
 *
 * Every figure is a mapping {value, status, source[, note]}; a measured one
 * may also carry `residual` (relative fit residual) and `samples` (how many
 * raw samples the fit used), as kvtier-calibrate writes them. Its provenance
 * is recorded under the figure's key below "figures", dotted for nested
 * groups: "hbm_bandwidth", "peak_flops.bf16", "efficiency.nvlink"; a curve
 * point's is "curves.gemm.bf16[3]".
 */

/* How a figure's value is written and where it lands in hw_profile. */
typedef enum {
    FIG_QTY,       /* quantity with a unit, stored as double in the base unit */
    FIG_COUNT,     /* plain positive integer, stored as int */
    FIG_NS,        /* duration with a unit, stored as int64_t nanoseconds */
    FIG_FRACTION,  /* plain number in (0, 1], stored as double */
    FIG_USD        /* plain positive number of US dollars, stored as double */
} fig_type;

typedef struct fig_spec {
    const char *key;
    fig_type type;
    units_kind units;          /* FIG_QTY only */
    size_t offset;             /* of the field in hw_profile */
} fig_spec;

#define FIG(key, type, units, field) { key, type, units, offsetof(hw_profile, field) }
#define NO_UNITS UNITS_KIND_COUNT  /* for figures written as plain numbers */

/* Figures directly under "figures", all required. */
static const fig_spec top_figs[] = {
    FIG("hbm_capacity", FIG_QTY, UNITS_BYTES, hbm_bytes),
    FIG("hbm_bandwidth", FIG_QTY, UNITS_BANDWIDTH, hbm_bw_Bps),
    FIG("sm_count", FIG_COUNT, NO_UNITS, sm_count),
    FIG("smem_per_sm", FIG_QTY, UNITS_BYTES, smem_per_sm_bytes),
    FIG("l2_cache", FIG_QTY, UNITS_BYTES, l2_bytes),
    FIG("nvlink_bandwidth", FIG_QTY, UNITS_BANDWIDTH, nvlink_bw_Bps),
    FIG("nvlink_latency", FIG_NS, NO_UNITS, nvlink_latency_ns),
    FIG("gpus_per_node", FIG_COUNT, NO_UNITS, gpus_per_node),
    FIG("nvlink_domain_gpus", FIG_COUNT, NO_UNITS, nvlink_domain_gpus),
    FIG("network_bandwidth", FIG_QTY, UNITS_BANDWIDTH, network_bw_Bps),
    FIG("network_latency", FIG_NS, NO_UNITS, network_latency_ns),
    FIG("pcie_bandwidth", FIG_QTY, UNITS_BANDWIDTH, pcie_bw_Bps),
    FIG("launch_overhead", FIG_NS, NO_UNITS, launch_ns),
    FIG("small_op_floor", FIG_NS, NO_UNITS, small_op_floor_ns),
    FIG("kernels_per_layer", FIG_COUNT, NO_UNITS, kernels_per_layer),
    FIG("price_usd", FIG_USD, NO_UNITS, price_usd),
    FIG("hourly_usd", FIG_USD, NO_UNITS, hourly_usd),
    FIG("power", FIG_QTY, UNITS_POWER, power_w),
    FIG("pcie_duplex_bandwidth", FIG_QTY, UNITS_BANDWIDTH, pcie_duplex_bw_Bps),
    FIG("nic_efficiency", FIG_FRACTION, NO_UNITS, eff_nic),
    FIG("nic_op_latency", FIG_NS, NO_UNITS, nic_op_ns),
};

/* Figures directly under "figures" that only some systems have: a CPU's
 * memory on a chip-to-chip link (Grace superchips). Absent: 0. */
static const fig_spec optional_figs[] = {
    FIG("c2c_bandwidth", FIG_QTY, UNITS_BANDWIDTH, c2c_bw_Bps),
    FIG("c2c_memory", FIG_QTY, UNITS_BYTES, c2c_memory_bytes),
    FIG("decode_attention_item", FIG_NS, NO_UNITS, decode_item_ns),
};

/* Figures under "figures.host_overhead", all required. */
static const fig_spec host_figs[] = {
    FIG("step", FIG_NS, NO_UNITS, host_step_ns),
    FIG("sequence", FIG_NS, NO_UNITS, host_seq_ns),
};

/* Figures under "figures.efficiency", all required. */
static const fig_spec eff_figs[] = {
    FIG("nvlink", FIG_FRACTION, NO_UNITS, eff_nvlink),
    FIG("network", FIG_FRACTION, NO_UNITS, eff_network),
};

/* Figures under "figures.collective_latency": optional as a group, given
 * with the all-gather, all-to-all and point-to-point curves. */
static const fig_spec coll_figs[] = {
    FIG("allgather", FIG_NS, NO_UNITS, allgather_latency_ns),
    FIG("alltoall", FIG_NS, NO_UNITS, alltoall_latency_ns),
    FIG("p2p", FIG_NS, NO_UNITS, p2p_latency_ns),
};

#define N_TOP_FIGS (sizeof top_figs / sizeof top_figs[0])
#define N_OPTIONAL_FIGS (sizeof optional_figs / sizeof optional_figs[0])
#define N_COLL_FIGS (sizeof coll_figs / sizeof coll_figs[0])
#define COLL_GROUP "collective_latency"
#define N_EFF_FIGS (sizeof eff_figs / sizeof eff_figs[0])
#define N_HOST_FIGS (sizeof host_figs / sizeof host_figs[0])
#define EFF_GROUP "efficiency"
#define HOST_GROUP "host_overhead"
#define CURVES_KEY "curves"
/* Longest curve name ("attention_prefill.bf16"), so that a point's
 * provenance key "curves.NAME[23]" fits hw_provenance.key. */
#define CURVE_NAME_MAX 40
#define PEAK_GROUP "peak_flops"

/* A duration figure above this is a unit slip ("2s" for "2us"), not hardware. */
#define FIG_NS_MAX 1000000000LL

/* Physical bounds of the figures, one row each (README, "Bounds of every
 * figure"). They lie far outside every GPU built or announced (H100 SXM:
 * 80 GB, 3.35 TB/s, 700 W), so a figure outside is a slip (a missing
 * prefix, a stray exponent), and every time worked out from figures inside
 * stays far within int64 nanoseconds. Durations are bounded by FIG_NS_MAX. */
typedef struct fig_bound {
    const char *key;           /* as in the provenance: "efficiency.nvlink" */
    double lo, hi;             /* in the figure's base unit */
} fig_bound;

static const fig_bound fig_bounds[] = {
    { "hbm_capacity", 1e8, 1e14 },           /* 100 MB .. 100 TB */
    { "hbm_bandwidth", 1e9, 1e15 },          /* 1 GB/s .. 1 PB/s */
    { "sm_count", 1, 1e5 },
    { "smem_per_sm", 1e3, 1e9 },             /* 1 kB .. 1 GB */
    { "l2_cache", 1e3, 1e11 },
    { "nvlink_bandwidth", 1e8, 1e15 },       /* 100 MB/s .. 1 PB/s */
    { "gpus_per_node", 1, 1e4 },
    { "nvlink_domain_gpus", 1, 1e6 },
    { "network_bandwidth", 1e6, 1e15 },      /* 1 MB/s .. 1 PB/s */
    { "pcie_bandwidth", 1e8, 1e15 },
    { "kernels_per_layer", 1, 1e4 },
    { "price_usd", 1, 1e8 },                 /* $1 .. $100M a GPU */
    { "hourly_usd", 1e-4, 1e5 },
    { "power", 1, 1e6 },                     /* 1 W .. 1 MW a GPU */
    { "pcie_duplex_bandwidth", 1e8, 1e15 },
    { "c2c_bandwidth", 1e8, 1e15 },
    { "c2c_memory", 1e8, 1e15 },             /* 100 MB .. 1 PB */
    { "nic_efficiency", 1e-3, 1 },
    { "efficiency.nvlink", 1e-3, 1 },
    { "efficiency.network", 1e-3, 1 },
};
/* Peak FLOP/s of any dtype the GPU runs (0 for none): 1 GFLOP/s .. 10 EFLOP/s. */
#define FIG_PEAK_FLOPS_LO 1e9
#define FIG_PEAK_FLOPS_HI 1e19

/* Fallback order for hw_peak_flops, terminated by -1. A dtype without a
 * tensor-core path is computed by dequantizing (or upcasting) its operands to
 * the nearest format the GPU does run: 1-byte formats go to fp8 first, then
 * the 16-bit formats, and fp32 ends every chain (so fp32 must be given). */
static const int peak_fallback[DTYPE_COUNT][DTYPE_COUNT + 1] = {
    [DTYPE_FP32] = { DTYPE_FP32, -1 },
    [DTYPE_BF16] = { DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
    [DTYPE_FP16] = { DTYPE_FP16, DTYPE_BF16, DTYPE_FP32, -1 },
    [DTYPE_FP8] = { DTYPE_FP8, DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
    [DTYPE_INT8] = { DTYPE_INT8, DTYPE_FP8, DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
    [DTYPE_INT4] = { DTYPE_INT4, DTYPE_INT8, DTYPE_FP8, DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
    /* No GPU multiplies 2-bit operands: 2-bit KV is dequantized first. */
    [DTYPE_INT2] = { DTYPE_INT2, DTYPE_INT4, DTYPE_INT8, DTYPE_FP8, DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
    [DTYPE_FP4] = { DTYPE_FP4, DTYPE_FP8, DTYPE_BF16, DTYPE_FP16, DTYPE_FP32, -1 },
};

const char *const hw_status_names[HW_STATUS_COUNT + 1] = { "assumed", "published", "measured", NULL };

/* Curves kept per operand dtype, and the single ones, with what their x
 * measures and how far their efficiency may go (an all-reduce's bus
 * bandwidth beats the link's when NVLink SHARP reduces in the switch: up to
 * twice, as the switch halves the data each GPU sends). */
#define ALLREDUCE_Y_MAX 2.0
typedef struct curve_spec {
    const char *key;
    curve_x_kind x_kind;
    curve_below below;
    double y_max;
    int required;              /* 0: a profile may leave it out (with its latency figure) */
    size_t offset;             /* of the curve (or curve[DTYPE_COUNT]) in hw_profile */
} curve_spec;
#define CURVE(key, x, below, ymax, req, field) { key, x, below, ymax, req, offsetof(hw_profile, field) }
/* Below their first points: GEMMs, attention and streaming kernels hold
 * their efficiency and the cost model floors a kernel at small_op_floor; a
 * decode-attention kernel and an all-reduce hold their first time (their
 * smallest measured sizes are latency-bound already); all-gather,
 * all-to-all and point-to-point hold their efficiency, as their latency is
 * a figure of its own. */
static const curve_spec dtype_curves[] = {
    CURVE("gemm", CURVE_X_TOKENS, CURVE_HOLD_EFFICIENCY, 1.0, 1, gemm),
    CURVE("attention_prefill", CURVE_X_TOKENS, CURVE_HOLD_EFFICIENCY, 1.0, 1, attn_prefill),
    CURVE("attention_prefill_hd64", CURVE_X_TOKENS, CURVE_HOLD_EFFICIENCY, 1.0, 0, attn_prefill_hd64),
    CURVE("attention_prefill_hd256", CURVE_X_TOKENS, CURVE_HOLD_EFFICIENCY, 1.0, 0, attn_prefill_hd256),
};
static const curve_spec single_curves[] = {
    CURVE("memory", CURVE_X_BYTES, CURVE_HOLD_EFFICIENCY, 1.0, 1, memory),
    CURVE("small_ops", CURVE_X_BYTES, CURVE_HOLD_EFFICIENCY, 1.0, 1, small_ops),
    CURVE("attention_decode", CURVE_X_BYTES, CURVE_HOLD_TIME, 1.0, 1, attn_decode),
    CURVE("allreduce", CURVE_X_BYTES, CURVE_HOLD_TIME, ALLREDUCE_Y_MAX, 1, allreduce),
    CURVE("allgather", CURVE_X_BYTES, CURVE_HOLD_EFFICIENCY, 1.0, 0, allgather),
    CURVE("alltoall", CURVE_X_BYTES, CURVE_HOLD_EFFICIENCY, 1.0, 0, alltoall),
    CURVE("p2p", CURVE_X_BYTES, CURVE_HOLD_EFFICIENCY, 1.0, 0, p2p),
};
#define N_DTYPE_CURVES (sizeof dtype_curves / sizeof dtype_curves[0])
#define N_SINGLE_CURVES (sizeof single_curves / sizeof single_curves[0])

/* ---------- small helpers ---------- */

static double *fig_double(hw_profile *h, const fig_spec *f) { return (double *)((char *)h + f->offset); }
static int *fig_int(hw_profile *h, const fig_spec *f) { return (int *)((char *)h + f->offset); }
static int64_t *fig_i64(hw_profile *h, const fig_spec *f) { return (int64_t *)((char *)h + f->offset); }

/* Reads a figure's stored value as a double, whatever its C type (for checks). */
static double fig_get(const hw_profile *h, const fig_spec *f)
{
    const char *field = (const char *)h + f->offset;
    switch (f->type) {
    case FIG_COUNT: return *(const int *)field;
    case FIG_NS: return (double)*(const int64_t *)field;
    default: return *(const double *)field;
    }
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* Copies src into dst[n]; returns -1 when it does not fit. */
static int copy_fits(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

/* Appends one provenance record to h->prov (owned by h). */
static int prov_add(hw_profile *h, const char *key, hw_status status, const char *source,
                    const conf_node *at, kt_err *err)
{
    hw_provenance *p = grow_array(h->prov, &h->cap_prov, h->n_prov + 1, sizeof *p);
    if (!p) {
        CONF_ERROR(err, at, "out of memory");
        return -1;
    }
    h->prov = p;
    p += h->n_prov;
    memset(p, 0, sizeof *p);
    snprintf(p->key, sizeof p->key, "%s", key);
    snprintf(p->source, sizeof p->source, "%s", source);
    p->status = status;
    h->n_prov++;
    return 0;
}

/* Reports a missing required key at map; when an unread key in the same map
 * is a near miss ("sm_cout"), names it, since that is the likely cause. */
static void missing_key(const conf_node *map, const char *key, kt_err *err)
{
    for (size_t i = 0; i < map->n_kids; i++) {
        const conf_node *k = map->kids[i];
        if (!k->used && suggest_distance(k->key, key) <= 2) {
            CONF_ERROR(err, map, "missing required key '%s' (is '%s' at line %d misspelt?)", key,
                       k->key, k->line);
            return;
        }
    }
    CONF_ERROR(err, map, "missing required key '%s'", key);
}

/* ---------- reading one figure ---------- */

/* Reads a figure's optional `residual` (relative fit residual, >= 0) and
 * `samples` (raw sample count, >= 1) into p. They describe a measurement, so
 * they are refused on a figure whose status is not measured. */
static int read_fit_keys(hw_provenance *p, conf_node *fig, kt_err *err)
{
    conf_node *res = conf_find(fig, "residual"), *cnt = conf_find(fig, "samples");
    if (!res && !cnt)
        return 0;
    if (p->status != HW_MEASURED) {
        CONF_ERROR(err, res ? res : cnt, "residual and samples describe a measurement: "
                   "allowed only with status: measured");
        return -1;
    }
    if (conf_f64(fig, "residual", CONF_OPTIONAL, 0, DBL_MAX, &p->residual, err) < 0 ||
        conf_i64(fig, "samples", CONF_OPTIONAL, 1, INT64_MAX, &p->samples, err) < 0)
        return -1;
    p->has_residual = res != NULL;
    return 0;
}

/* Checks figure node fig's {value, status, source} shape, records its
 * provenance under prov_key, and returns the value node (still to be
 * converted), or NULL with err set. */
static conf_node *figure_read(hw_profile *h, conf_node *fig, const char *prov_key, kt_err *err)
{
    fig->used = 1;
    if (fig->kind != CONF_MAP) {
        /* The common slip is a bare value with no provenance: say what is wanted. */
        CONF_ERROR(err, fig, "expected a mapping {value, status, source}, found %s",
                   fig->kind == CONF_SEQ ? "a sequence" : "a bare value");
        return NULL;
    }
    conf_node *value = conf_take(fig, "value");
    if (!value) {
        CONF_ERROR(err, fig, "missing required key 'value'");
        return NULL;
    }
    int status = 0;
    const char *source = NULL, *note = NULL;
    if (conf_enum(fig, "status", CONF_REQUIRED, hw_status_names, &status, err) < 0 ||
        conf_str(fig, "source", CONF_REQUIRED, &source, err) < 0 ||
        conf_str(fig, "note", CONF_OPTIONAL, &note, err) < 0)
        return NULL;
    conf_node *src_node = conf_find(fig, "source");
    if (is_blank(source)) {
        CONF_ERROR(err, src_node, "is empty: name the spec sheet, paper or measurement");
        return NULL;
    }
    if (strlen(source) >= sizeof h->prov[0].source) {
        CONF_ERROR(err, src_node, "is longer than %zu characters; move detail into 'note'",
                   sizeof h->prov[0].source - 1);
        return NULL;
    }
    if (prov_add(h, prov_key, (hw_status)status, source, fig, err) < 0 ||
        read_fit_keys(&h->prov[h->n_prov - 1], fig, err) < 0)
        return NULL;
    return value;
}

/* figure_read of the figure under `key` in map `parent`, which must be there. */
static conf_node *figure_take(hw_profile *h, conf_node *parent, const char *key,
                              const char *prov_key, kt_err *err)
{
    conf_node *fig = conf_take(parent, key);
    if (!fig) {
        missing_key(parent, key, err);
        return NULL;
    }
    return figure_read(h, fig, prov_key, err);
}

/* Must be > 0; the unit readers already reject negatives. */
static int need_positive(const conf_node *v, double x, kt_err *err)
{
    if (x > 0)
        return 0;
    CONF_ERROR(err, v, "must be greater than zero");
    return -1;
}

/* Converts a figure's value node according to f and stores it into h. */
static int figure_convert(hw_profile *h, const fig_spec *f, conf_node *v, kt_err *err)
{
    double x;
    int64_t i;
    switch (f->type) {
    case FIG_QTY:
        if (conf_scalar_qty(v, f->units, 0, DBL_MAX, &x, err) < 0 || need_positive(v, x, err) < 0)
            return -1;
        *fig_double(h, f) = x;
        return 0;
    case FIG_COUNT:
        if (conf_scalar_i64(v, 1, INT_MAX, &i, err) < 0)
            return -1;
        *fig_int(h, f) = (int)i;
        return 0;
    case FIG_NS:
        if (conf_scalar_ns(v, 0, FIG_NS_MAX, &i, err) < 0 || need_positive(v, (double)i, err) < 0)
            return -1;
        *fig_i64(h, f) = i;
        return 0;
    case FIG_FRACTION:
        if (conf_scalar_f64(v, -DBL_MAX, DBL_MAX, &x, err) < 0)
            return -1;
        if (!(x > 0 && x <= 1)) {
            CONF_ERROR(err, v, "must be in (0, 1], found %g", x);
            return -1;
        }
        *fig_double(h, f) = x;
        return 0;
    case FIG_USD:
        if (conf_scalar_f64(v, 0, DBL_MAX, &x, err) < 0 || need_positive(v, x, err) < 0)
            return -1;
        *fig_double(h, f) = x;
        return 0;
    }
    return -1;
}

/* x, the value of figure key at v, within [lo, hi]; else a located error. */
static int in_bounds(const conf_node *v, const char *key, double x, double lo, double hi, kt_err *err)
{
    if (x >= lo && x <= hi)
        return 0;
    CONF_ERROR(err, v, "%g is outside the physical bounds of %s, [%g, %g] (README, \"Bounds of every figure\")", x,
               key, lo, hi);
    return -1;
}

/* The figure prov_key of h at v within its row of fig_bounds (if it has one). */
static int figure_bounded(const hw_profile *h, const fig_spec *f, const char *prov_key, const conf_node *v,
                          kt_err *err)
{
    for (size_t i = 0; i < sizeof fig_bounds / sizeof fig_bounds[0]; i++)
        if (!strcmp(fig_bounds[i].key, prov_key))
            return in_bounds(v, prov_key, fig_get(h, f), fig_bounds[i].lo, fig_bounds[i].hi, err);
    return 0;
}

/* Reads the figures in specs[] from map `group`; prefix dots their
 * provenance keys. optional: a figure left out stays 0. */
static int read_figs(hw_profile *h, conf_node *group, const char *prefix, const fig_spec *specs,
                     size_t n, int optional, kt_err *err)
{
    for (size_t k = 0; k < n; k++) {
        if (optional && !conf_find(group, specs[k].key))
            continue;
        char prov_key[sizeof h->prov[0].key];
        snprintf(prov_key, sizeof prov_key, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                 specs[k].key);
        conf_node *v = figure_take(h, group, specs[k].key, prov_key, err);
        if (!v || figure_convert(h, &specs[k], v, err) < 0 || figure_bounded(h, &specs[k], prov_key, v, err) < 0)
            return -1;
    }
    return 0;
}

/* Takes a required sub-mapping of figures (e.g. "efficiency"). */
static conf_node *group_take(conf_node *figures, const char *key, kt_err *err)
{
    conf_node *g = conf_take(figures, key);
    if (!g) {
        missing_key(figures, key, err);
        return NULL;
    }
    return conf_expect(g, CONF_MAP, err) < 0 ? NULL : g;
}

/* ---------- peak FLOP/s per dtype ---------- */

static void dtype_list(char *buf, size_t n)
{
    buf[0] = '\0';
    for (int d = 0; d < DTYPE_COUNT; d++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", d ? ", " : "", dtype_name((kt_dtype)d));
    }
}

/* The dtype a group's key names ("bf16"), exactly as dtype_names spells
 * it; an error at the key otherwise. */
static int dtype_key(const conf_node *kid, kt_dtype *d, kt_err *err)
{
    if (dtype_parse(kid->key, d) == 0 && strcmp(kid->key, dtype_name(*d)) == 0)
        return 0;
    char known[128];
    dtype_list(known, sizeof known);
    CONF_ERROR(err, kid, "unknown dtype '%s' (known: %s)", kid->key, known);
    return -1;
}

/* Reads one peak figure; 0 is allowed (no tensor-core path) except for fp32,
 * which ends every fallback chain. */
static int read_peak(hw_profile *h, conf_node *group, kt_dtype d, kt_err *err)
{
    char prov_key[sizeof h->prov[0].key];
    snprintf(prov_key, sizeof prov_key, PEAK_GROUP ".%s", dtype_name(d));
    conf_node *v = figure_take(h, group, dtype_name(d), prov_key, err);
    double x;
    if (!v || conf_scalar_qty(v, UNITS_FLOPS, 0, DBL_MAX, &x, err) < 0)
        return -1;
    if (d == DTYPE_FP32 && !(x > 0)) {
        CONF_ERROR(err, v, "must be greater than zero: every other dtype falls back to fp32");
        return -1;
    }
    if (x > 0 && in_bounds(v, prov_key, x, FIG_PEAK_FLOPS_LO, FIG_PEAK_FLOPS_HI, err) < 0)
        return -1;
    h->peak_flops[d] = x;
    return 0;
}

/* Reads figures.peak_flops in document order, so an unknown dtype is named
 * where it stands; only fp32 is required. */
static int read_peaks(hw_profile *h, conf_node *figures, kt_err *err)
{
    conf_node *group = group_take(figures, PEAK_GROUP, err);
    if (!group)
        return -1;
    for (size_t k = 0; k < group->n_kids; k++) {
        conf_node *kid = group->kids[k];
        kt_dtype d;
        if (dtype_key(kid, &d, err) < 0)
            return -1;
        if (read_peak(h, group, d, err) < 0)
            return -1;
    }
    if (!conf_find(group, dtype_name(DTYPE_FP32))) {
        CONF_ERROR(err, group, "missing required key 'fp32' (every other dtype falls back to it)");
        return -1;
    }
    return 0;
}

/* ---------- efficiency curves ---------- */

static curve *spec_curve(hw_profile *h, const curve_spec *c, int dtype)
{
    return (curve *)((char *)h + c->offset) + dtype;
}

/* Reads one curve: a sequence of point figures {x, value, status, source},
 * x a token count or a byte size as spec says, ascending. */
static int read_curve(hw_profile *h, conf_node *seq, const curve_spec *spec, curve *c, const char *name,
                      kt_err *err)
{
    if (conf_expect(seq, CONF_SEQ, err) < 0)
        return -1;
    if (seq->n_kids < 1 || seq->n_kids > CURVE_MAX_POINTS) {
        CONF_ERROR(err, seq, "a curve needs 1 to %d points, found %zu", CURVE_MAX_POINTS, seq->n_kids);
        return -1;
    }
    c->x_kind = spec->x_kind;
    c->below = spec->below;
    c->y_max = spec->y_max;
    for (size_t i = 0; i < seq->n_kids; i++) {
        conf_node *pt = seq->kids[i];
        char prov_key[sizeof h->prov[0].key];
        snprintf(prov_key, sizeof prov_key, CURVES_KEY ".%s[%zu]", name, i);
        conf_node *x = pt->kind == CONF_MAP ? conf_take(pt, "x") : NULL;
        conf_node *v = figure_read(h, pt, prov_key, err);
        if (!v)
            return -1;
        if (!x) {
            CONF_ERROR(err, pt, "missing required key 'x' (the size this efficiency was measured at)");
            return -1;
        }
        units_kind units = spec->x_kind == CURVE_X_BYTES ? UNITS_BYTES : UNITS_TOKENS;
        double xv, yv;
        if (conf_scalar_qty(x, units, 0, DBL_MAX, &xv, err) < 0 || need_positive(x, xv, err) < 0 ||
            conf_scalar_f64(v, -DBL_MAX, DBL_MAX, &yv, err) < 0)
            return -1;
        if (i > 0 && !(xv > c->x[i - 1])) {
            CONF_ERROR(err, x, "points must be in ascending x: %g follows %g", xv, c->x[i - 1]);
            return -1;
        }
        if (!(yv >= CURVE_Y_MIN && yv <= spec->y_max)) {
            CONF_ERROR(err, v, "must be in [%g, %g], found %g", CURVE_Y_MIN, spec->y_max, yv);
            return -1;
        }
        c->x[i] = xv;
        c->y[i] = yv;
        c->n = (int)i + 1;
    }
    return 0;
}

/* Reads a per-dtype curve group {bf16: [...], fp8: [...]}; bf16 is required. */
static int read_dtype_curves(hw_profile *h, conf_node *group, const curve_spec *spec, kt_err *err)
{
    if (conf_expect(group, CONF_MAP, err) < 0)
        return -1;
    for (size_t k = 0; k < group->n_kids; k++) {
        conf_node *kid = group->kids[k];
        kt_dtype d;
        if (dtype_key(kid, &d, err) < 0)
            return -1;
        char name[CURVE_NAME_MAX];
        snprintf(name, sizeof name, "%s.%s", spec->key, kid->key);
        kid->used = 1;
        if (read_curve(h, kid, spec, spec_curve(h, spec, d), name, err) < 0)
            return -1;
    }
    if (!conf_find(group, dtype_name(DTYPE_BF16))) {
        CONF_ERROR(err, group, "missing required key 'bf16' (other dtypes fall back to it)");
        return -1;
    }
    return 0;
}

static int read_curves(hw_profile *h, conf_node *root, kt_err *err)
{
    conf_node *curves = conf_take(root, CURVES_KEY);
    if (!curves) {
        missing_key(root, CURVES_KEY, err);
        return -1;
    }
    if (conf_expect(curves, CONF_MAP, err) < 0)
        return -1;
    for (size_t i = 0; i < N_DTYPE_CURVES; i++) {
        conf_node *g = conf_take(curves, dtype_curves[i].key);
        if (!g && !dtype_curves[i].required)
            continue;
        if (!g) {
            missing_key(curves, dtype_curves[i].key, err);
            return -1;
        }
        if (read_dtype_curves(h, g, &dtype_curves[i], err) < 0)
            return -1;
    }
    for (size_t i = 0; i < N_SINGLE_CURVES; i++) {
        conf_node *seq = conf_take(curves, single_curves[i].key);
        if (!seq && !single_curves[i].required)
            continue;
        if (!seq) {
            missing_key(curves, single_curves[i].key, err);
            return -1;
        }
        if (read_curve(h, seq, &single_curves[i], spec_curve(h, &single_curves[i], 0), single_curves[i].key,
                       err) < 0)
            return -1;
    }
    return 0;
}

/* ---------- profile ---------- */

/* Reads a required string into a fixed buffer, failing at the node if too long. */
static int read_name(conf_node *root, const char *key, char *dst, size_t n, kt_err *err)
{
    const char *s;
    if (conf_str(root, key, CONF_REQUIRED, &s, err) < 0)
        return -1;
    conf_node *node = conf_find(root, key);
    if (is_blank(s)) {
        CONF_ERROR(err, node, "is empty");
        return -1;
    }
    if (copy_fits(dst, n, s) < 0) {
        CONF_ERROR(err, node, "is longer than %zu characters", n - 1);
        return -1;
    }
    return 0;
}

static int read_profile(hw_profile *h, conf_node *root, kt_err *err)
{
    if (conf_expect(root, CONF_MAP, err) < 0 ||
        read_name(root, "name", h->name, sizeof h->name, err) < 0 ||
        read_name(root, "gpu", h->gpu, sizeof h->gpu, err) < 0)
        return -1;
    conf_node *figures = conf_take(root, "figures");
    if (!figures) {
        missing_key(root, "figures", err);
        return -1;
    }
    if (conf_expect(figures, CONF_MAP, err) < 0 || read_peaks(h, figures, err) < 0 ||
        read_figs(h, figures, NULL, top_figs, N_TOP_FIGS, 0, err) < 0 ||
        read_figs(h, figures, NULL, optional_figs, N_OPTIONAL_FIGS, 1, err) < 0)
        return -1;
    conf_node *eff = group_take(figures, EFF_GROUP, err);
    if (!eff || read_figs(h, eff, EFF_GROUP, eff_figs, N_EFF_FIGS, 0, err) < 0)
        return -1;
    conf_node *host = group_take(figures, HOST_GROUP, err);
    if (!host || read_figs(h, host, HOST_GROUP, host_figs, N_HOST_FIGS, 0, err) < 0)
        return -1;
    conf_node *coll = conf_find(figures, COLL_GROUP);
    if (coll && (!group_take(figures, COLL_GROUP, err) ||
                 read_figs(h, coll, COLL_GROUP, coll_figs, N_COLL_FIGS, 0, err) < 0))
        return -1;
    if (read_curves(h, root, err) < 0)
        return -1;
    return hw_check(h, err);
}

/* Caller owns the result (hw_free). root stays the caller's; keys read are
 * marked used, and unknown keys are left for the caller's conf_check_unused
 * (a scenario may embed a profile in a larger tree). */
hw_profile *hw_from_conf(conf_node *root, kt_err *err)
{
    hw_profile *h = calloc(1, sizeof *h);
    if (!h) {
        CONF_ERROR(err, root, "out of memory");
        return NULL;
    }
    if (read_profile(h, root, err) < 0) {
        hw_free(h);
        return NULL;
    }
    return h;
}

/* Caller owns the result (hw_free). Unknown keys anywhere in the file are errors. */
static void *build_profile(conf_node *root, kt_err *err) { return hw_from_conf(root, err); }
static void destroy_profile(void *h) { hw_free(h); }

hw_profile *hw_load(const char *path, kt_err *err)
{
    return conf_load_strict(path, build_profile, destroy_profile, err);
}

hw_profile *hw_load_string(const char *text, size_t len, const char *name, kt_err *err)
{
    return conf_load_strict_string(text, len, name, build_profile, destroy_profile, err);
}

void hw_free(hw_profile *h)
{
    if (!h)
        return;
    free(h->prov);
    free(h);
}

/* ---------- lookup by name ---------- */

hw_profile *hw_load_named(const char *name, const char *const *dirs, kt_err *err)
{
    char path[4096];
    if (conf_resolve_named(name, dirs, "hardware profile", path, sizeof path, err) < 0)
        return NULL;
    return hw_load(path, err);
}

/* ---------- invariants and queries ---------- */

static int check_figs(const hw_profile *h, const char *prefix, const fig_spec *specs, size_t n,
                      kt_err *err)
{
    for (size_t k = 0; k < n; k++) {
        const fig_spec *f = &specs[k];
        double x = fig_get(h, f);
        int ok = isfinite(x) && x > 0 && (f->type != FIG_FRACTION || x <= 1);
        if (!ok) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': %s%s%s is %g, must be %s", h->name,
                     prefix ? prefix : "", prefix ? "." : "", f->key, x,
                     f->type == FIG_FRACTION ? "in (0, 1]" : "greater than zero");
            return -1;
        }
        char key[sizeof h->prov[0].key];
        snprintf(key, sizeof key, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", f->key);
        if (!hw_provenance_of(h, key)) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': %s has no provenance", h->name, key);
            return -1;
        }
    }
    return 0;
}

static int check_peaks(const hw_profile *h, kt_err *err)
{
    for (int d = 0; d < DTYPE_COUNT; d++) {
        double x = h->peak_flops[d];
        if (!isfinite(x) || x < 0 || (d == DTYPE_FP32 && x == 0)) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': peak_flops.%s is %g, must be %s",
                     h->name, dtype_name((kt_dtype)d), x,
                     d == DTYPE_FP32 ? "greater than zero" : "zero or more");
            return -1;
        }
        char key[sizeof h->prov[0].key];
        snprintf(key, sizeof key, PEAK_GROUP ".%s", dtype_name((kt_dtype)d));
        if (x > 0 && !hw_provenance_of(h, key)) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': %s has no provenance", h->name, key);
            return -1;
        }
    }
    return 0;
}

static int check_prov(const hw_profile *h, kt_err *err)
{
    if (h->n_prov && !h->prov) {
        KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': n_prov is %zu but prov is NULL", h->name,
                 h->n_prov);
        return -1;
    }
    for (size_t i = 0; i < h->n_prov; i++) {
        const hw_provenance *p = &h->prov[i];
        if (!p->key[0] || is_blank(p->source) || (int)p->status < 0 || p->status >= HW_STATUS_COUNT) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': provenance record %zu ('%s') needs "
                     "a key, a non-empty source and a known status", h->name, i, p->key);
            return -1;
        }
        int fit_ok = p->samples >= 0 && (!p->has_residual || (isfinite(p->residual) && p->residual >= 0));
        if (!fit_ok || ((p->has_residual || p->samples > 0) && p->status != HW_MEASURED)) {
            KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': provenance record %zu ('%s') has a "
                     "residual or sample count but is %s", h->name, i, p->key,
                     fit_ok ? "not measured" : "out of range (residual >= 0, samples >= 0)");
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(h->prov[j].key, p->key) == 0) {
                KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': two provenance records for %s",
                         h->name, p->key);
                return -1;
            }
    }
    return 0;
}

/* Every curve keeps curve_check's invariants, the required ones have
 * points, and every point has its provenance. */
static int check_curves(const hw_profile *h, kt_err *err)
{
    for (size_t i = 0; i < N_DTYPE_CURVES + N_SINGLE_CURVES; i++) {
        int per_dtype = i < N_DTYPE_CURVES;
        const curve_spec *spec = per_dtype ? &dtype_curves[i] : &single_curves[i - N_DTYPE_CURVES];
        for (int d = 0; d < (per_dtype ? DTYPE_COUNT : 1); d++) {
            const curve *c = spec_curve((hw_profile *)h, spec, d);
            char name[CURVE_NAME_MAX];
            snprintf(name, sizeof name, "%s%s%s", spec->key, per_dtype ? "." : "",
                     per_dtype ? dtype_name((kt_dtype)d) : "");
            int required = spec->required && (!per_dtype || d == DTYPE_BF16);
            if (curve_check(c, name, err) < 0)
                return -1;
            if (required && c->n == 0) {
                KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': curve %s has no points", h->name, name);
                return -1;
            }
            for (int k = 0; k < c->n; k++) {
                char key[sizeof h->prov[0].key];
                snprintf(key, sizeof key, CURVES_KEY ".%s[%d]", name, k);
                if (!hw_provenance_of(h, key)) {
                    KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': %s has no provenance", h->name, key);
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* An optional figure that is given (non-zero) keeps its rules and provenance. */
static int check_optional_figs(const hw_profile *h, kt_err *err)
{
    for (size_t i = 0; i < N_OPTIONAL_FIGS; i++)
        if (fig_get(h, &optional_figs[i]) != 0 && check_figs(h, NULL, &optional_figs[i], 1, err) < 0)
            return -1;
    return 0;
}

/* The all-gather, all-to-all and point-to-point curves come with their
 * latencies (figures.collective_latency), and the latencies with a curve. */
static int check_collectives(const hw_profile *h, kt_err *err)
{
    int lat = h->allgather_latency_ns || h->alltoall_latency_ns || h->p2p_latency_ns;
    int curves = h->allgather.n || h->alltoall.n || h->p2p.n;
    if (lat && check_figs(h, COLL_GROUP, coll_figs, N_COLL_FIGS, err) < 0)
        return -1;
    if (lat == curves && (!curves || (h->allgather.n && h->alltoall.n && h->p2p.n)))
        return 0;
    KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': curves allgather, alltoall and p2p and the figures "
             COLL_GROUP " go together: give all of them or none", h->name);
    return -1;
}

/* An NVLink domain is whole nodes (NVL72: 18 trays of 4) or an equal part of
 * one (NVLink-bridged pairs in a PCIe server); anything else is a slip. */
static int check_domain(const hw_profile *h, kt_err *err)
{
    int d = h->nvlink_domain_gpus, n = h->gpus_per_node;
    if (d % n == 0 || n % d == 0)
        return 0;
    KT_ERROR(err, NULL, 0, 0, "hardware profile '%s': nvlink_domain_gpus %d and gpus_per_node %d: "
             "an NVLink domain must be whole nodes or an equal part of one", h->name, d, n);
    return -1;
}

int hw_check(const hw_profile *h, kt_err *err)
{
    if (!h) {
        KT_ERROR(err, NULL, 0, 0, "no hardware profile");
        return -1;
    }
    if (!h->name[0] || !h->gpu[0]) {
        KT_ERROR(err, NULL, 0, 0, "hardware profile has no %s", h->name[0] ? "gpu" : "name");
        return -1;
    }
    if (check_prov(h, err) < 0 || check_peaks(h, err) < 0 ||
        check_figs(h, NULL, top_figs, N_TOP_FIGS, err) < 0 ||
        check_figs(h, EFF_GROUP, eff_figs, N_EFF_FIGS, err) < 0 ||
        check_figs(h, HOST_GROUP, host_figs, N_HOST_FIGS, err) < 0 || check_curves(h, err) < 0 ||
        check_collectives(h, err) < 0 || check_optional_figs(h, err) < 0 ||
        check_domain(h, err) < 0)
        return -1;
    return 0;
}

double hw_peak_flops(const hw_profile *h, kt_dtype d)
{
    if (!h || (int)d < 0 || d >= DTYPE_COUNT)
        return 0;
    for (const int *c = peak_fallback[d]; *c >= 0; c++)
        if (h->peak_flops[*c] > 0)
            return h->peak_flops[*c];
    return 0;
}

/* First curve along d's fallback chain that has points. */
static const curve *dtype_curve(const curve *by_dtype, kt_dtype d)
{
    if ((int)d < 0 || d >= DTYPE_COUNT)
        d = DTYPE_BF16;
    for (const int *c = peak_fallback[d]; *c >= 0; c++)
        if (by_dtype[*c].n > 0)
            return &by_dtype[*c];
    return &by_dtype[DTYPE_BF16];
}

const curve *hw_gemm_curve(const hw_profile *h, kt_dtype d) { return dtype_curve(h->gemm, d); }
const curve *hw_attn_prefill_curve(const hw_profile *h, kt_dtype d) { return dtype_curve(h->attn_prefill, d); }

/* The head dim of the attention_prefill curves; the optional ones lie one
 * doubling below (64) and above (256). */
#define HD_MID 128

void hw_attn_prefill_head_dim(const hw_profile *h, kt_dtype d, int head_dim, const curve **lo, const curve **hi,
                              double *t)
{
    const curve *mid = hw_attn_prefill_curve(h, d);
    /* The other head dim's curve of the same dtype as mid, never another's. */
    ptrdiff_t k = mid - h->attn_prefill;
    const curve *other = head_dim < HD_MID ? &h->attn_prefill_hd64[k] : &h->attn_prefill_hd256[k];
    double f = head_dim < HD_MID ? log2((double)HD_MID / head_dim) : log2((double)head_dim / HD_MID);
    *lo = *hi = mid;
    *t = 0;
    if (head_dim == HD_MID || head_dim <= 0 || other->n == 0)
        return;
    *hi = other;
    *t = f < 1 ? f : 1;
}

double hw_stream_efficiency(const hw_profile *h)
{
    return h->memory.y[h->memory.n - 1];
}

const hw_provenance *hw_provenance_of(const hw_profile *h, const char *key)
{
    if (!h || !key)
        return NULL;
    for (size_t i = 0; i < h->n_prov; i++)
        if (strcmp(h->prov[i].key, key) == 0)
            return &h->prov[i];
    return NULL;
}
