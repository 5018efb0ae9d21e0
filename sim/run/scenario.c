/* scenario.c — reads and validates a scenario YAML, resolves its model card and hardware profile, sizes the KV pool. */
#include "scenario.h"
#include "preset.h"

#include <libgen.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "kv_layout.h"
#include "kv_plan.h"

#ifndef KT_PKGDATADIR
#define KT_PKGDATADIR "/usr/local/share/kvtier"
#endif

static const char *const workload_kinds[] = { "synthetic", "trace", NULL };
static const char *const release_names[] = { "burst", "spread", NULL };

/* Upper bounds that catch typos (a 1e30-token context, a million GPUs per
 * replica) before they become absurd allocations. */
#define MAX_REPLICAS 1000000
#define MAX_RUNNING 65536
#define MAX_MULTI_STEP 4096

/* The program's own data folder for sub: the source tree's when this program
 * is the build tree's (it runs from under the build directory), else the
 * installed data directory. Writes into out (n bytes). */
static void program_data_dir(const char *sub, char *out, size_t n)
{
    char exe[4096], build[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int in_build = 0;
    if (len > 0 && realpath(KT_BUILDDIR, build)) {
        exe[len] = '\0';
        size_t bl = strlen(build);
        in_build = strncmp(exe, build, bl) == 0 && exe[bl] == '/';
    }
    snprintf(out, n, "%s/%s", in_build ? KT_SRCDIR : KT_PKGDATADIR, sub);
}

void scenario_data_dirs(const char *near, const char *sub, char *buf, size_t buf_len,
                        const char **dirs, int max)
{
    int n = 0;
    size_t used = 0;
    const char *env = getenv("KVTIER_DATA");
    char cand[4][4200];
    int nc = 0;
    if (env && *env)
        snprintf(cand[nc++], sizeof cand[0], "%s/%s", env, sub);
    if (near) {
        /* Beside the scenario's folder (scenarios/x.yaml -> models/), never in
         * it: a scenario there is not a card. */
        char tmp[2048];
        snprintf(tmp, sizeof tmp, "%s", near);
        snprintf(cand[nc++], sizeof cand[0], "%s/../%s", dirname(tmp), sub);
    }
    snprintf(cand[nc++], sizeof cand[0], "%s", sub);
    program_data_dir(sub, cand[nc++], sizeof cand[0]);
    for (int i = 0; i < nc && n < max - 1; i++) {
        size_t len = strlen(cand[i]) + 1;
        if (used + len > buf_len)
            break;
        memcpy(buf + used, cand[i], len);
        dirs[n++] = buf + used;
        used += len;
    }
    dirs[n] = NULL;
}

uint32_t scenario_kv_blocks(const model_card *m, const hw_profile *hw, const cost_par *par, kt_dtype kv,
                            int block_tokens, double hbm_fraction, double reserve_bytes,
                            double extra_weight_bytes_gpu, double extra_kv_bytes_token_gpu)
{
    cost_model cm;
    if (cost_model_init_par(&cm, m, hw, par, kv, NULL) < 0)
        return 0;
    kv_layout kl;
    kv_layout_init(&kl, &cm, KV_LAYOUT_HBM_QUANT_GROUP, block_tokens);
    double budget = hw->hbm_bytes * hbm_fraction - cost_weight_bytes_gpu(&cm) - reserve_bytes - extra_weight_bytes_gpu;
    double block_bytes = kl.block_bytes_gpu + block_tokens * extra_kv_bytes_token_gpu;
    if (budget < block_bytes)
        return 0;
    double blocks = floor(budget / block_bytes);
    return blocks > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)blocks;
}

/* ---------- sections ---------- */

static conf_node *section(conf_node *root, const char *key, conf_need need, kt_err *err, int *failed)
{
    conf_node *n = conf_take(root, key);
    if (!n && need == CONF_REQUIRED) {
        CONF_ERROR(err, root, "missing required key '%s'", key);
        *failed = 1;
    } else if (n && conf_expect(n, CONF_MAP, err) < 0) {
        *failed = 1;
        n = NULL;
    }
    return n;
}

/* A card or profile named at n failed to load with inner: a broken file
 * is reported where it is broken, a missing one at n. */
static void load_error(kt_err *err, const kt_err *inner, const conf_node *n)
{
    if (inner->line > 0)
        *err = *inner;
    else if (inner->file[0] && !strstr(inner->msg, inner->file))    /* a config.json that cannot be read */
        CONF_ERROR(err, n, "%s: %s", inner->file, inner->msg);
    else
        CONF_ERROR(err, n, "%s", inner->msg);
}

/* The model card named by scalar n (next to the scenario, or in the data
 * directories), or NULL with err. The caller owns the card. */
static model_card *load_card(const scenario *sc, conf_node *n, kt_err *err)
{
    char buf[8192];
    const char *dirs[8], *name;
    if (conf_scalar_str(n, &name, err) < 0)
        return NULL;
    scenario_data_dirs(sc->file, "models", buf, sizeof buf, dirs, 8);
    kt_err inner;
    model_card *m = model_load_named(name, dirs, &inner);
    if (!m)
        load_error(err, &inner, n);
    return m;
}

static int load_model_hw(scenario *sc, conf_node *root, kt_err *err)
{
    char buf[8192];
    const char *dirs[8], *name;
    conf_node *n = conf_take(root, "model");
    if (!n && conf_find(root, "sweep")) {
        /* Also what a sweep whose base is a sweep (itself, say) gets. */
        CONF_ERROR(err, conf_find(root, "sweep"),
                   "this is a sweep file, not a scenario: run it with kvtier sweep, or one point with kvtier run "
                   "FILE --point K; a sweep's base must be a scenario");
        return -1;
    }
    if (!n) {
        CONF_ERROR(err, root, "missing required key 'model'");
        return -1;
    }
    sc->model = load_card(sc, n, err);
    if (!sc->model)
        return -1;
    /* `quantization:` serves the card's weights in another format. */
    quant_cfg q = sc->model->quant;
    if (quant_from_conf(root, &q, err) < 0)
        return -1;
    model_set_quant(sc->model, &q);
    n = conf_take(root, "hardware");
    if (!n) {
        CONF_ERROR(err, root, "missing required key 'hardware'");
        return -1;
    }
    if (conf_scalar_str(n, &name, err) < 0)
        return -1;
    scenario_data_dirs(sc->file, "hwprofiles", buf, sizeof buf, dirs, 8);
    kt_err inner;
    sc->hw = hw_load_named(name, dirs, &inner);
    if (!sc->hw) {
        load_error(err, &inner, n);
        return -1;
    }
    return 0;
}

/* Records where key was given: at node n, else (defaulted) at the section
 * it belongs in, else nowhere in the scenario's file. */
static void origin_note(scenario_origin *o, const char *key, const conf_node *n, const conf_node *section,
                        const char *file)
{
    const conf_node *at = n ? n : section;
    o->key = key;
    snprintf(o->file, sizeof o->file, "%s", at && at->file ? at->file : file);
    o->line = at ? at->line : 0;
    o->col = at ? at->col : 0;
}

static int load_replicas(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0;
    conf_node *n = section(root, "replicas", CONF_REQUIRED, err, &failed);
    if (failed)
        return -1;
    sc->replicas = 1;
    sc->tensor_parallel = 1;
    sc->par = (cost_par){ 1, 1, 1, 1 };
    int router = ROUTER_SESSION_STICKY;
    sc->max_imbalance = 0.5;
    if (conf_int(n, "count", CONF_OPTIONAL, 1, MAX_REPLICAS, &sc->replicas, err) < 0 ||
        conf_int(n, "gpus", CONF_REQUIRED, 1, MAX_GPUS_PER_REPLICA, &sc->gpus_per_replica, err) < 0 ||
        conf_int(n, "tensor_parallel", CONF_OPTIONAL, 1, MAX_GPUS_PER_REPLICA, &sc->tensor_parallel, err) < 0 ||
        conf_int(n, "pipeline_parallel", CONF_OPTIONAL, 1, MAX_GPUS_PER_REPLICA, &sc->par.pp, err) < 0 ||
        conf_int(n, "context_parallel", CONF_OPTIONAL, 1, MAX_GPUS_PER_REPLICA, &sc->par.cp, err) < 0 ||
        conf_int(n, "expert_parallel", CONF_OPTIONAL, 1, MAX_GPUS_PER_REPLICA, &sc->par.ep, err) < 0 ||
        conf_enum(n, "router", CONF_OPTIONAL, router_names, &router, err) < 0 ||
        conf_f64(n, "max_imbalance", CONF_OPTIONAL, 0, 1000, &sc->max_imbalance, err) < 0 ||
        conf_int(n, "prefill_replicas", CONF_OPTIONAL, 0, MAX_REPLICAS, &sc->prefill_replicas, err) < 0 ||
        conf_f64(n, "shed_imbalance", CONF_OPTIONAL, 0, 1000, &sc->shed_imbalance, err) < 0)
        return -1;
    if (sc->prefill_replicas && sc->prefill_replicas >= sc->replicas) {
        CONF_ERROR(err, conf_find(n, "prefill_replicas"), "%d of %d replicas prefill, which leaves none to decode",
                   sc->prefill_replicas, sc->replicas);
        return -1;
    }
    origin_note(&sc->replicas_origin, "replicas.count", conf_find(n, "count"), n, sc->file);
    sc->router = (router_kind)router;
    sc->par.tp = sc->tensor_parallel;
    if (cost_par_gpus(&sc->par) != sc->gpus_per_replica) {
        CONF_ERROR(err, conf_find(n, "gpus"),
                   "%d GPUs per replica but tensor_parallel %d × pipeline_parallel %d × context_parallel %d = %d",
                   sc->gpus_per_replica, sc->par.tp, sc->par.pp, sc->par.cp, cost_par_gpus(&sc->par));
        return -1;
    }
    return 0;
}

static const char *const retention_rest_names[] = { "drop", "offload", NULL };

/* kv.retention: {window: tokens, keep: fraction of older tokens, rest: drop|offload}. */
static int load_retention(scenario *sc, conf_node *kv, kt_err *err)
{
    conf_node *n = conf_take(kv, "retention");
    if (!n)
        return 0;
    double window = 0;
    int rest = 0;
    sc->sched.retention_keep_fraction = 0;
    if (conf_expect(n, CONF_MAP, err) < 0 ||
        conf_qty(n, "window", CONF_REQUIRED, UNITS_TOKENS, 1, 1e12, &window, err) < 0 ||
        conf_f64(n, "keep", CONF_REQUIRED, 0, 1, &sc->sched.retention_keep_fraction, err) < 0 ||
        conf_enum(n, "rest", CONF_OPTIONAL, retention_rest_names, &rest, err) < 0 ||
        conf_i64_of(conf_find(n, "window"), window, &sc->sched.retention_window_tokens, err) < 0)
        return -1;
    sc->sched.retention_offload = rest;
    return 0;
}

static int load_kv(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0, dtype = DTYPE_BF16, eviction = EVICT_LRU;
    conf_node *n = section(root, "kv", CONF_OPTIONAL, err, &failed);
    sc->kv_block_tokens = 16;
    sc->hbm_fraction = 0.9;
    sc->prefix_cache = 1;
    if (failed)
        return -1;
    int packed = 1;
    if (n && (conf_int(n, "block_tokens", CONF_OPTIONAL, 1, 4096, &sc->kv_block_tokens, err) < 0 ||
              conf_enum(n, "dtype", CONF_OPTIONAL, dtype_names, &dtype, err) < 0 ||
              conf_f64(n, "hbm_fraction", CONF_OPTIONAL, SCENARIO_MIN_HBM_FRACTION, 1.0, &sc->hbm_fraction, err) < 0 ||
              conf_qty(n, "activation_reserve", CONF_OPTIONAL, UNITS_BYTES, 0, SCENARIO_MAX_RESERVE_BYTES, &sc->activation_reserve_bytes,
                       err) < 0 ||
              conf_bool(n, "prefix_caching", CONF_OPTIONAL, &sc->prefix_cache, err) < 0 ||
              conf_enum(n, "eviction", CONF_OPTIONAL, kv_eviction_names, &eviction, err) < 0 ||
              load_retention(sc, n, err) < 0 ||
              /* Sharing first: precision skips the layers that share. */
              kv_plan_sharing_read(conf_take(n, "sharing"), sc->model, err) < 0 ||
              kv_plan_precision_read(conf_take(n, "precision"), sc->model, err) < 0 ||
              conf_bool(n, "packed_attention", CONF_OPTIONAL, &packed, err) < 0))
        return -1;
    sc->model->kv_dequant = !packed;
    origin_note(&sc->kv_origin, "kv.hbm_fraction", n ? conf_find(n, "hbm_fraction") : NULL, n, sc->file);
    sc->kv_dtype = (kt_dtype)dtype;
    sc->eviction = (kv_eviction)eviction;
    return 0;
}

/* A semantic cache whose `tier` names one of the KV tiers takes its
 * capacity from that tier (every drive of it alike), so KV and cached
 * answers compete for the memory; any other name is memory kept apart. */
static int semcache_take_tier(scenario *sc, conf_node *n, kt_err *err)
{
    for (int i = 0; i < sc->tiers.n; i++) {
        tier_cfg *t = &sc->tiers.tier[i];
        if (strcmp(t->name, sc->semcache.tier) != 0)
            continue;
        double per_drive = sc->semcache.capacity_bytes / t->drives;
        if (!(per_drive < t->capacity_bytes)) {
            CONF_ERROR(err, conf_find(n, "capacity"), "tier '%s' holds %.0f B a drive: less than the cache's %.0f B",
                       t->name, t->capacity_bytes, per_drive);
            return -1;
        }
        t->capacity_bytes -= per_drive;
    }
    return 0;
}

/* semantic_cache: after the workload, which it must be synthetic for:
 * trace replay carries no answers a cache could have held. */
static int load_semcache(scenario *sc, conf_node *root, kt_err *err)
{
    conf_node *n = conf_take(root, "semantic_cache");
    if (semcache_cfg_from_conf(n, &sc->semcache, err) < 0)
        return -1;
    if (sc->semcache.on && sc->trace.on) {
        CONF_ERROR(err, n, "a semantic cache needs a synthetic workload (trace replay has no answers to cache)");
        return -1;
    }
    return sc->semcache.on ? semcache_take_tier(sc, n, err) : 0;
}

/* vLLM's token budget without chunked prefill when none is given:
 * max(max_model_len, 2048) (SchedulerConfig, vllm/config.py, v0.4; 2048
 * is its _DEFAULT_MAX_NUM_BATCHED_TOKENS). */
#define SCHED_UNCHUNKED_MIN_BUDGET_TOKENS 2048

/* Without chunked prefill a prompt runs whole in one step, so the budget
 * must hold the longest prompt the model takes: vLLM refuses
 * max_num_batched_tokens < max_model_len then (SchedulerConfig._verify_args).
 * A budget the scenario leaves unset becomes vLLM's default. The rule is
 * vLLM's: under the other engines' policies a prompt longer than the
 * budget runs alone in a step of its own instead. n: the scheduler
 * section or NULL. */
static int check_unchunked_budget(scenario *sc, conf_node *n, kt_err *err)
{
    int64_t ctx = sc->model->max_context_tokens;
    conf_node *at = n ? conf_find(n, "token_budget") : NULL;
    if (sc->sched.chunked_prefill || sc->sched.admission != ADMISSION_PREEMPT_NEWEST)
        return 0;
    if (!at) {
        sc->sched.token_budget = ctx > SCHED_UNCHUNKED_MIN_BUDGET_TOKENS ? ctx : SCHED_UNCHUNKED_MIN_BUDGET_TOKENS;
        return 0;
    }
    if (sc->sched.token_budget >= ctx)
        return 0;
    CONF_ERROR(err, at,
               "%lld tokens is less than the model's context (%lld tokens) with scheduler.chunked_prefill false:"
               " a longer prompt could never run (vLLM refuses max_num_batched_tokens < max_model_len without"
               " chunked prefill); raise scheduler.token_budget or turn scheduler.chunked_prefill on",
               (long long)sc->sched.token_budget, (long long)ctx);
    return -1;
}

/* scheduler.cuda_graph_batch_sizes: a sequence of ascending sizes. */
static int load_graph_sizes(serve_cfg *c, conf_node *n, kt_err *err)
{
    conf_node *seq = n ? conf_take(n, "cuda_graph_batch_sizes") : NULL;
    if (!seq)
        return 0;
    if (conf_expect(seq, CONF_SEQ, err) < 0)
        return -1;
    if (seq->n_kids > SERVE_MAX_GRAPH_SIZES) {
        CONF_ERROR(err, seq, "%zu sizes, at most %d", seq->n_kids, SERVE_MAX_GRAPH_SIZES);
        return -1;
    }
    c->n_graph_sizes = 0;
    for (size_t i = 0; i < seq->n_kids; i++) {
        int64_t v;
        if (conf_scalar_i64(seq->kids[i], 1, MAX_RUNNING, &v, err) < 0)
            return -1;
        if (i > 0 && v <= c->graph_sizes[i - 1]) {
            CONF_ERROR(err, seq->kids[i], "%lld is not above the size before it (%d): list the sizes ascending",
                       (long long)v, c->graph_sizes[i - 1]);
            return -1;
        }
        c->graph_sizes[c->n_graph_sizes++] = (int)v;
    }
    return 0;
}

static int load_scheduler(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0;
    conf_node *n = section(root, "scheduler", CONF_OPTIONAL, err, &failed);
    /* Field by field: kv.retention has set its part of sched already. */
    sc->sched.max_running = 256;
    sc->sched.token_budget = 8192;
    sc->sched.chunked_prefill = 1;
    sc->sched.max_multi_step = 64;
    if (failed)
        return -1;
    double budget = (double)sc->sched.token_budget, max_output = 0;
    int admission = ADMISSION_PREEMPT_NEWEST, too_long = TOO_LONG_REJECT, preemption = PREEMPT_RECOMPUTE;
    sc->sched.swap_space_bytes = SERVE_SWAP_SPACE_DEFAULT_BYTES;
    sc->sched.n_graph_sizes = 0;
    sc->host_step_ns = sc->host_seq_ns = -1;
    if (n && (conf_int(n, "max_running", CONF_OPTIONAL, 1, MAX_RUNNING, &sc->sched.max_running, err) < 0 ||
              conf_qty(n, "token_budget", CONF_OPTIONAL, UNITS_TOKENS, 1, 1e8, &budget, err) < 0 ||
              conf_bool(n, "chunked_prefill", CONF_OPTIONAL, &sc->sched.chunked_prefill, err) < 0 ||
              conf_int(n, "max_multi_step", CONF_OPTIONAL, 1, MAX_MULTI_STEP, &sc->sched.max_multi_step, err) < 0 ||
              conf_enum(n, "admission", CONF_OPTIONAL, admission_policy_names, &admission, err) < 0 ||
              conf_qty(n, "max_output_tokens", CONF_OPTIONAL, UNITS_TOKENS, 1, 1e9, &max_output, err) < 0 ||
              conf_enum(n, "too_long", CONF_OPTIONAL, serve_too_long_names, &too_long, err) < 0 ||
              conf_enum(n, "preemption", CONF_OPTIONAL, serve_preemption_names, &preemption, err) < 0 ||
              conf_qty(n, "swap_space", CONF_OPTIONAL, UNITS_BYTES, 1, 1e15, &sc->sched.swap_space_bytes, err) < 0 ||
              conf_ns(n, "host_step_overhead", CONF_OPTIONAL, 0, INT64_C(1000000000), &sc->host_step_ns, err) < 0 ||
              conf_ns(n, "host_seq_overhead", CONF_OPTIONAL, 0, INT64_C(1000000000), &sc->host_seq_ns, err) < 0 ||
              load_graph_sizes(&sc->sched, n, err) < 0))
        return -1;
    if (conf_i64_of(conf_find(n, "token_budget"), budget, &sc->sched.token_budget, err) < 0 ||
        conf_i64_of(conf_find(n, "max_output_tokens"), max_output, &sc->sched.max_output_tokens, err) < 0)
        return -1;
    sc->sched.preemption = (serve_preemption)preemption;
    sc->sched.too_long = (serve_too_long)too_long;
    sc->sched.admission = (admission_policy)admission;
    return check_unchunked_budget(sc, n, err);
}


/* Reads the whole trace once before the run, so a malformed line stops
 * everything before anything is simulated (or is counted, with skip_bad). */
static int check_trace(scenario *sc, conf_node *at, kt_err *err)
{
    trace_reader *t = trace_open(sc->trace.path, sc->trace.format, &sc->trace.opts, err);
    if (!t)
        return -1;
    trace_record rec;
    int rc;
    while ((rc = trace_next(t, &rec, err)) > 0)
        sc->trace.requests++;
    sc->trace.bad_lines = trace_bad_lines(t, sc->trace.first_bad, 16);
    trace_close(t);
    if (rc == 0 && sc->trace.requests == 0) {
        CONF_ERROR(err, at, "the trace %s has no request in the chosen window", sc->trace.path);
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

/* time_scale, the factor other simulators stretch trace time by (2 = half
 * as fast), is 1 / rate_scale; one of the two may be given. */
static int load_time_scale(conf_node *n, trace_opts *o, kt_err *err)
{
    double time_scale = 0;
    if (conf_f64(n, "time_scale", CONF_OPTIONAL, 1e-6, 1e6, &time_scale, err) < 0)
        return -1;
    if (time_scale == 0)
        return 0;
    if (conf_find(n, "rate_scale")) {
        CONF_ERROR(err, conf_find(n, "time_scale"),
                   "give rate_scale (2 = twice as fast) or time_scale (2 = half as fast), not both");
        return -1;
    }
    o->rate_scale = 1.0 / time_scale;
    return 0;
}

/* The keys only the ShareGPT format reads: it has no times and no token
 * counts. Elsewhere they are an error, not silently ignored. */
static int load_sharegpt(scenario *sc, conf_node *n, trace_format format, kt_err *err)
{
    static const char *const keys[] = { "arrival", "think_time", "chars_per_token", "max_conversations",
                                        "skip_not_human_first", NULL };
    if (format != TRACE_SHAREGPT) {
        for (const char *const *k = keys; *k; k++)
            if (conf_find(n, *k)) {
                CONF_ERROR(err, conf_find(n, *k), "'%s' is read only with format: sharegpt (the %s format has its own"
                           " times and token counts)", *k, trace_format_names[format]);
                return -1;
            }
        return 0;
    }
    trace_sharegpt_opts *g = &sc->trace.opts.sharegpt;
    g->chars_per_token = TRACE_SHAREGPT_CHARS_PER_TOKEN;
    g->arrivals.seed = sc->seed;
    return workload_arrivals_from_conf(n, &g->arrivals, err) < 0 ||
           conf_f64(n, "chars_per_token", CONF_OPTIONAL, 0.01, 1e6, &g->chars_per_token, err) < 0 ||
           conf_i64(n, "max_conversations", CONF_OPTIONAL, 0, INT64_MAX, &g->max_conversations, err) < 0 ||
           conf_bool(n, "skip_not_human_first", CONF_OPTIONAL, &g->skip_not_human_first, err) < 0 ? -1 : 0;
}

static int load_trace(scenario *sc, conf_node *w, kt_err *err)
{
    int failed = 0, format = 0, release = TRACE_RELEASE_BURST;
    const char *path = NULL;
    conf_node *n = section(w, "trace", CONF_REQUIRED, err, &failed);
    trace_opts *o = &sc->trace.opts;
    *o = (trace_opts){ .rate_scale = 1, .release = TRACE_RELEASE_BURST };
    if (failed || conf_enum(n, "format", CONF_REQUIRED, trace_format_names, &format, err) < 0 ||
        conf_str(n, "path", CONF_REQUIRED, &path, err) < 0 ||
        conf_f64(n, "rate_scale", CONF_OPTIONAL, 1e-6, 1e6, &o->rate_scale, err) < 0 ||
        conf_ns(n, "start", CONF_OPTIONAL, 0, INT64_MAX, &o->start_ns, err) < 0 ||
        conf_ns(n, "duration", CONF_OPTIONAL, 0, INT64_MAX, &o->duration_ns, err) < 0 ||
        conf_i64(n, "limit", CONF_OPTIONAL, 0, INT64_MAX, &o->limit, err) < 0 ||
        conf_enum(n, "release", CONF_OPTIONAL, release_names, &release, err) < 0 ||
        conf_ns(n, "tick", CONF_OPTIONAL, 0, INT64_MAX, &o->tick_ns, err) < 0 ||
        conf_bool(n, "skip_bad", CONF_OPTIONAL, &o->skip_bad, err) < 0 || load_time_scale(n, o, err) < 0 ||
        load_sharegpt(sc, n, (trace_format)format, err) < 0)
        return -1;
    o->release = (trace_release)release;
    sc->trace.on = 1;
    sc->trace.format = (trace_format)format;
    /* A relative trace path is relative to the scenario file's directory. */
    conf_path_beside(sc->file, path, sc->trace.path, sizeof sc->trace.path);
    return 0;
}

static int load_workload(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0, kind = 0;
    conf_node *n = section(root, "workload", CONF_REQUIRED, err, &failed);
    if (failed || conf_enum(n, "kind", CONF_REQUIRED, workload_kinds, &kind, err) < 0)
        return -1;
    if (kind == 1)
        return load_trace(sc, n, err);
    if (workload_from_conf(n, &sc->workload, err) < 0)
        return -1;
    sc->workload.seed = sc->seed;   /* after: workload_from_conf clears the struct */
    return 0;
}

/* A synthetic workload's implied horizon and requests within the limits:
 * an error at the key that makes them too large (the arrival rate or the
 * think time; the sessions or the turns). */
static int check_workload_bounds(const scenario *sc, conf_node *root, kt_err *err)
{
    const workload_cfg *w = &sc->workload;
    conf_node *wl = conf_find(root, "workload");
    double arrive_s = (double)w->sessions / w->rate_per_s, horizon_s = workload_horizon_s(w, w->rate_per_s);
    if (horizon_s > SCENARIO_MAX_HORIZON_S) {
        int by_arrivals = arrive_s >= horizon_s - arrive_s;
        conf_node *at = by_arrivals ? conf_find(conf_find(wl, "arrival"), "rate") : conf_find(wl, "think_time");
        CONF_ERROR(err, at ? at : wl,
                   "the workload implies %.4g days of simulated time (%lld sessions arriving at %.4g/s over %.4g"
                   " days, then %.4g turns of %.4g s think time), more than the limit of %.0f days",
                   horizon_s / SCENARIO_S_PER_DAY, (long long)w->sessions, w->rate_per_s, arrive_s / SCENARIO_S_PER_DAY, w->turns.mean,
                   w->think_ns.mean / 1e9, SCENARIO_MAX_HORIZON_S / SCENARIO_S_PER_DAY);
        return -1;
    }
    if (workload_requests(w) > SCENARIO_MAX_REQUESTS) {
        conf_node *at = w->turns.mean > 1 ? conf_find(wl, "turns") : conf_find(wl, "sessions");
        CONF_ERROR(err, at ? at : wl, "the workload implies %.4g requests (%lld sessions of %.4g turns), more than"
                   " the limit of %.0f", workload_requests(w), (long long)w->sessions, w->turns.mean,
                   SCENARIO_MAX_REQUESTS);
        return -1;
    }
    return 0;
}

/* Default memory prices for KV tiers, all assumed (late-2025 street prices):
 * a 64 GB DDR5-5600 RDIMM at about $250; a CXL 2.0 expander's DRAM plus its
 * controller at about 25% more; a 7.68 TB PCIe Gen5 data-center SSD at
 * about $900; a disaggregated pool mixing DRAM and flash. */
#define DRAM_USD_PER_GB 4.0
#define CXL_USD_PER_GB 5.0
#define NVME_USD_PER_GB 0.12
#define REMOTE_USD_PER_GB 1.0

double scenario_tier_capex_usd(const scenario *sc, int fleet_shared)
{
    double usd = 0;
    for (int i = 0; i < sc->tiers.n; i++) {
        const tier_cfg *t = &sc->tiers.tier[i];
        if (t->fleet_shared == fleet_shared)
            usd += t->capacity_bytes * t->drives / 1e9 * sc->cost.mem_usd_per_gb[t->kind];
    }
    return usd;
}

static int load_slo_cost(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0;
    conf_node *slo = section(root, "slo", CONF_OPTIONAL, err, &failed);
    if (failed)
        return -1;
    const int64_t day_ns = INT64_C(86400000000000);
    if (slo && (conf_ns(slo, "ttft", CONF_OPTIONAL, 1, day_ns, &sc->slo.ttft_ns, err) < 0 ||
                conf_ns(slo, "tpot", CONF_OPTIONAL, 1, day_ns, &sc->slo.tpot_ns, err) < 0 ||
                conf_ns(slo, "itl", CONF_OPTIONAL, 1, day_ns, &sc->slo.itl_ns, err) < 0))
        return -1;
    conf_node *cost = section(root, "cost", CONF_OPTIONAL, err, &failed);
    if (failed)
        return -1;
    sc->cost = (metrics_cost){ .gpu_price_usd = sc->hw->price_usd, .amortization_years = 4,
                               .hourly_usd = 0, .power_w = sc->hw->power_w, .usd_per_kwh = 0.10,
                               .pue = 1.3,
                               .mem_usd_per_gb = { DRAM_USD_PER_GB, CXL_USD_PER_GB, NVME_USD_PER_GB,
                                                   REMOTE_USD_PER_GB } };
    double *mem = sc->cost.mem_usd_per_gb;
    if (cost && (conf_f64(cost, "dram_usd_per_gb", CONF_OPTIONAL, 0, 1e6, &mem[TIER_DRAM], err) < 0 ||
                 conf_f64(cost, "cxl_usd_per_gb", CONF_OPTIONAL, 0, 1e6, &mem[TIER_CXL], err) < 0 ||
                 conf_f64(cost, "nvme_usd_per_gb", CONF_OPTIONAL, 0, 1e6, &mem[TIER_NVME], err) < 0 ||
                 conf_f64(cost, "remote_usd_per_gb", CONF_OPTIONAL, 0, 1e6, &mem[TIER_REMOTE], err) < 0))
        return -1;
    if (cost && (conf_f64(cost, "gpu_price_usd", CONF_OPTIONAL, 0, 1e9, &sc->cost.gpu_price_usd, err) < 0 ||
                 conf_f64(cost, "amortization_years", CONF_OPTIONAL, 0.01, 100, &sc->cost.amortization_years,
                          err) < 0 ||
                 conf_f64(cost, "hourly_usd", CONF_OPTIONAL, 0, 1e6, &sc->cost.hourly_usd, err) < 0 ||
                 conf_f64(cost, "usd_per_kwh", CONF_OPTIONAL, 0, 100, &sc->cost.usd_per_kwh, err) < 0 ||
                 conf_f64(cost, "pue", CONF_OPTIONAL, 1, 10, &sc->cost.pue, err) < 0))
        return -1;
    return 0;
}

static int load_results(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0;
    conf_node *n = section(root, "results", CONF_OPTIONAL, err, &failed);
    sc->sample_interval_ns = INT64_C(1000000000);
    if (failed)
        return -1;
    if (n && (conf_ns(n, "sample_interval", CONF_OPTIONAL, 1000, INT64_C(86400000000000), &sc->sample_interval_ns,
                      err) < 0 ||
              conf_bool(n, "itl_gaps", CONF_OPTIONAL, &sc->sched.keep_gaps, err) < 0))
        return -1;
    return 0;
}

tier_set_config scenario_tier_set_config(const scenario *sc, tier_cache *const *shared)
{
    return (tier_set_config){ .tiers = &sc->tiers, .model = sc->model, .hw = sc->hw, .hbm_dtype = sc->kv_dtype,
                              .block_tokens = sc->kv_block_tokens, .gpus = sc->gpus_per_replica,
                              .eviction = sc->eviction, .shared = shared };
}

/* Every tier must hold at least one block at its precision. */
/* Swap preemption is vLLM's, under its admission policy, and needs host
 * memory to swap to: a DRAM tier (its links carry the copies). */
static int check_swap(const scenario *sc, conf_node *root, kt_err *err)
{
    conf_node *at = conf_find(conf_find(root, "scheduler"), "preemption");
    if (sc->sched.preemption != PREEMPT_SWAP)
        return 0;
    if (sc->sched.admission != ADMISSION_PREEMPT_NEWEST) {
        CONF_ERROR(err, at, "swap is vLLM's preemption and needs scheduler.admission preempt_newest, not %s",
                   admission_policy_names[sc->sched.admission]);
        return -1;
    }
    for (int t = 0; t < sc->tiers.n; t++)
        if (sc->tiers.tier[t].kind == TIER_DRAM)
            return 0;
    CONF_ERROR(err, at, "swap needs host memory to swap to: a tier of kind dram under tiers");
    return -1;
}

/* sparse_attention.kv_tier names one of the tiers (did-you-mean from the
 * list), and the KV it holds is the prompt's on a replica that both
 * prefills and decodes, kept whole otherwise (no retention). */
static int check_sparse(scenario *sc, conf_node *root, kt_err *err)
{
    conf_node *n = conf_find(root, "sparse_attention"), *at = conf_find(n, "kv_tier");
    if (!sc->sparse.on || !sc->sparse.kv_tier[0])
        return 0;
    const char *names[TIER_MAX + 1] = { NULL };
    for (int t = 0; t < sc->tiers.n; t++)
        names[t] = sc->tiers.tier[t].name;
    if (!sc->tiers.n) {
        CONF_ERROR(err, at, "sparse_attention.kv_tier '%s' names a tier, but the scenario has no tiers",
                   sc->sparse.kv_tier);
        return -1;
    }
    if (conf_scalar_enum(at, names, &sc->sparse.kv_tier_index, err) < 0)
        return -1;
    if (sc->prefill_replicas || sc->sched.retention_window_tokens) {
        CONF_ERROR(err, at, "sparse_attention.kv_tier keeps a prompt's KV whole in a tier: not with %s",
                   sc->prefill_replicas ? "disaggregated prefill replicas" : "kv.retention");
        return -1;
    }
    return 0;
}

static int check_tiers(scenario *sc, conf_node *root, kt_err *err)
{
    kt_err inner;
    const tier_set_config cfg = scenario_tier_set_config(sc, NULL);
    if (tier_set_config_check(&cfg, &inner) == 0)
        return 0;
    CONF_ERROR(err, conf_find(root, "tiers"), "%s", inner.msg);
    return -1;
}

/* Seconds of the slowest step the scheduler may run: a prefill chunk of
 * the token budget at the end of the longest context, beside max_running
 * sequences' KV at that context, with every term at its figure's
 * efficiency. An estimate in double (no int64 can overflow here), within a
 * small factor of what the cost model will compute. */
static double slowest_step_s(const scenario *sc)
{
    const model_card *m = sc->model;
    const hw_profile *hw = sc->hw;
    double gpus = sc->gpus_per_replica;
    int64_t ctx = m->max_context_tokens, n = sc->sched.token_budget < ctx ? sc->sched.token_budget : ctx;
    double flops = 2 * model_params_active(m) * (double)n;
    for (int l = 0; l < m->n_layers; l++)
        flops += model_attn_flops(m, l, n, ctx - n);
    /* The lowest efficiency each curve gives, and the slowest path a GEMM
     * may take (the dequantized one). */
    double eff_g = curve_min(hw_gemm_curve(hw, m->weight_dtype)), eff_a = curve_min(hw_attn_prefill_curve(hw, DTYPE_BF16));
    double eff = eff_g < eff_a ? eff_g : eff_a;
    double peak = hw_peak_flops(hw, DTYPE_BF16) < hw_peak_flops(hw, m->weight_dtype) ? hw_peak_flops(hw, DTYPE_BF16)
                                                                                       : hw_peak_flops(hw, m->weight_dtype);
    double compute_s = flops / (gpus * peak * eff);
    double bytes = model_weight_bytes(m) + sc->sched.max_running * model_kv_bytes(m, ctx, sc->kv_dtype);
    double mem_eff = curve_min(&hw->memory) < curve_min(&hw->attn_decode) ? curve_min(&hw->memory)
                                                                          : curve_min(&hw->attn_decode);
    double memory_s = bytes / (gpus * hw->hbm_bw_Bps * mem_eff);
    /* Two all-reduces of the chunk's activations (2-byte) per layer, over the slower link. */
    double link = hw->nvlink_bw_Bps * hw->eff_nvlink, net = hw->network_bw_Bps * hw->eff_network;
    double comm_s = gpus > 1 ? 2.0 * m->n_layers * ((double)n * m->hidden * 2 / (link < net ? link : net) +
                                                     (double)(hw->nvlink_latency_ns + hw->network_latency_ns) / 1e9)
                             : 0;
    double launch_s = (double)m->n_layers * hw->kernels_per_layer * (double)hw->launch_ns / 1e9;
    double host_s = (double)(hw->host_step_ns + sc->sched.max_running * hw->host_seq_ns) / 1e9;
    return compute_s + memory_s + comm_s + launch_s + host_s;
}

/* Seconds to move one longest context's KV to or from tier t: bytes over
 * its slower direction and the PCIe or NIC link, one operation per block
 * at its IOPS, and its latency. */
static double slowest_transfer_s(const scenario *sc, const tier_cfg *t)
{
    double bytes = model_kv_bytes(sc->model, sc->model->max_context_tokens, sc->kv_dtype);
    double bw = (t->read_Bps < t->write_Bps ? t->read_Bps : t->write_Bps) * t->drives;
    double pcie = sc->tiers.pcie_Bps > 0 ? sc->tiers.pcie_Bps : sc->hw->pcie_bw_Bps;
    double s = bytes / bw + bytes / pcie + (double)t->latency_ns / 1e9;
    if (t->kind == TIER_REMOTE && sc->tiers.nic_Bps > 0)
        s += bytes / sc->tiers.nic_Bps;
    if (t->iops > 0)
        s += (double)sc->model->max_context_tokens / sc->kv_block_tokens / (t->iops * t->drives);
    return s;
}

/* The figures of card, profile and scenario together give steps and
 * transfers of sensible length: an error at the hardware (or the tier) when
 * one would take longer than SCENARIO_MAX_STEP_S. */
static int check_step_times(const scenario *sc, conf_node *root, kt_err *err)
{
    double step_s = slowest_step_s(sc);
    if (!(step_s <= SCENARIO_MAX_STEP_S)) {
        CONF_ERROR(err, conf_find(root, "hardware"),
                   "one step of %s on %d x %s (a %lld-token prefill chunk at a %lld-token context) would take %.4g s,"
                   " more than the limit of %.0f s: a figure of the card or the profile is out of all proportion",
                   sc->model->name, sc->gpus_per_replica, sc->hw->name, (long long)sc->sched.token_budget,
                   (long long)sc->model->max_context_tokens, step_s, SCENARIO_MAX_STEP_S);
        return -1;
    }
    conf_node *tiers = conf_find(root, "tiers");
    for (int i = 0; i < sc->tiers.n; i++) {
        double s = slowest_transfer_s(sc, &sc->tiers.tier[i]);
        if (s <= SCENARIO_MAX_STEP_S)
            continue;
        CONF_ERROR(err, tiers && (size_t)i < tiers->n_kids ? tiers->kids[i] : root,
                   "tiers: tier %s: moving one %lld-token context's KV would take %.4g s, more than the limit of"
                   " %.0f s", sc->tiers.tier[i].name, (long long)sc->model->max_context_tokens, s,
                   SCENARIO_MAX_STEP_S);
        return -1;
    }
    return 0;
}

void scenario_spec_extras(const scenario *sc, double *weight_bytes_gpu, double *kv_bytes_token_gpu)
{
    cost_model cm;
    spec_cost spec;
    *weight_bytes_gpu = *kv_bytes_token_gpu = 0;
    if (sc->spec.method == SPEC_OFF || cost_model_init_par(&cm, sc->model, sc->hw, &sc->par, sc->kv_dtype, NULL) < 0 ||
        spec_cost_init(&spec, sc->spec.method, sc->spec.k, &cm, sc->spec.draft, sc->spec.head_layers, NULL) < 0)
        return;
    *weight_bytes_gpu = spec_cost_weight_bytes_gpu(&spec);
    *kv_bytes_token_gpu = spec_cost_kv_bytes_token_gpu(&spec);
}

/* The weights must fit with room for at least one request's KV. */
static int size_kv(scenario *sc, conf_node *root, kt_err *err)
{
    double draft_weights, draft_kv;
    scenario_spec_extras(sc, &draft_weights, &draft_kv);
    sc->kv_blocks_per_replica = scenario_kv_blocks(sc->model, sc->hw, &sc->par, sc->kv_dtype,
                                                   sc->kv_block_tokens, sc->hbm_fraction,
                                                   sc->activation_reserve_bytes, draft_weights, draft_kv);
    if (sc->kv_blocks_per_replica > 0)
        return 0;
    char w[64], h[64], d[64];
    if (draft_weights > 0 && scenario_kv_blocks(sc->model, sc->hw, &sc->par, sc->kv_dtype, sc->kv_block_tokens,
                                                sc->hbm_fraction, sc->activation_reserve_bytes, 0, 0) > 0) {
        CONF_ERROR(err, conf_find(root, "speculative"),
                   "with the draft's weights (%s per GPU) and its KV beside every token, %.0f%% of %s"
                   " HBM holds no KV block of %s", units_format(draft_weights, UNITS_BYTES, d, sizeof d),
                   sc->hbm_fraction * 100, units_format(sc->hw->hbm_bytes, UNITS_BYTES, h, sizeof h),
                   sc->model->name);
        return -1;
    }
    cost_model cm;
    kt_err e2;
    if (cost_model_init_par(&cm, sc->model, sc->hw, &sc->par, sc->kv_dtype, &e2) < 0) {
        CONF_ERROR(err, conf_find(root, "replicas"), "%s", e2.msg);
        return -1;
    }
    CONF_ERROR(err, conf_find(conf_find(root, "replicas"), "tensor_parallel")
                        ? conf_find(conf_find(root, "replicas"), "tensor_parallel")
                        : conf_find(root, "replicas"),
               "%s weights need %s per GPU at tensor parallel %d, pipeline parallel %d; with %.0f%% of %s HBM nothing is left for KV",
               sc->model->name, units_format(cost_weight_bytes_gpu(&cm), UNITS_BYTES, w, sizeof w),
               sc->tensor_parallel, sc->par.pp, sc->hbm_fraction * 100,
               units_format(sc->hw->hbm_bytes, UNITS_BYTES, h, sizeof h));
    return -1;
}

/* faults: [{at: T, replica: R} | {at: T, node: N}]. A node holds the
 * profile's gpus_per_node GPUs; replica i holds GPUs [i·g, (i+1)·g), so a
 * node's failure takes every replica with a GPU on it. */
static int load_faults(scenario *sc, conf_node *root, kt_err *err)
{
    conf_node *list = conf_take(root, "faults");
    if (!list)
        return 0;
    if (conf_expect(list, CONF_SEQ, err) < 0)
        return -1;
    if (list->n_kids > MAX_FAULTS) {
        CONF_ERROR(err, list, "%zu faults, at most %d", list->n_kids, MAX_FAULTS);
        return -1;
    }
    int g = sc->gpus_per_replica, gpn = sc->hw->gpus_per_node;
    int nodes = (sc->replicas * g + gpn - 1) / gpn;
    for (size_t i = 0; i < list->n_kids; i++) {
        conf_node *f = list->kids[i];
        scenario_fault *x = &sc->faults[sc->n_faults++];
        int rep = -1, node = -1;
        if (conf_expect(f, CONF_MAP, err) < 0 || conf_ns(f, "at", CONF_REQUIRED, 0, INT64_MAX, &x->at_ns, err) < 0 ||
            conf_int(f, "replica", CONF_OPTIONAL, 0, sc->replicas - 1, &rep, err) < 0 ||
            conf_int(f, "node", CONF_OPTIONAL, 0, nodes - 1, &node, err) < 0)
            return -1;
        if ((rep < 0) == (node < 0)) {
            CONF_ERROR(err, f, "name exactly one of 'replica' (0..%d) or 'node' (0..%d)", sc->replicas - 1,
                       nodes - 1);
            return -1;
        }
        if (rep >= 0) {
            x->first = rep;
            x->count = 1;
        } else {
            x->first = node * gpn / g;
            int last = ((node + 1) * gpn - 1) / g;
            x->count = (last < sc->replicas ? last : sc->replicas - 1) - x->first + 1;
        }
    }
    return 0;
}

/* speculative.acceptance: {rate: α} for every request, or {rate: mean α,
 * concentration: c} for a Beta-distributed α per request; with trace:
 * true a kvtier trace's per-request `acceptance` wins where given. */
static int load_acceptance(spec_accept *a, conf_node *spec, kt_err *err)
{
    conf_node *n = conf_take(spec, "acceptance");
    if (!n) {
        CONF_ERROR(err, spec, "missing required key 'acceptance': give {rate: α} (0 to 1: the chance each drafted"
                   " token is accepted)");
        return -1;
    }
    *a = (spec_accept){ 0, 0, 0 };
    if (conf_expect(n, CONF_MAP, err) < 0 || conf_f64(n, "rate", CONF_REQUIRED, 0, 1, &a->acceptance_rate, err) < 0 ||
        conf_f64(n, "concentration", CONF_OPTIONAL, 0, 1e6, &a->acceptance_concentration, err) < 0 ||
        conf_bool(n, "trace", CONF_OPTIONAL, &a->from_trace, err) < 0)
        return -1;
    if (a->acceptance_concentration > 0 && (a->acceptance_rate <= 0 || a->acceptance_rate >= 1)) {
        CONF_ERROR(err, conf_find(n, "rate"), "a per-request distribution (concentration given) needs a mean strictly"
                   " between 0 and 1, not %g", a->acceptance_rate);
        return -1;
    }
    return 0;
}

/* speculative.draft_model: a card sharing the model's vocabulary. */
static int load_draft_model(scenario *sc, conf_node *spec, kt_err *err)
{
    conf_node *n = conf_take(spec, "draft_model");
    if (!n) {
        CONF_ERROR(err, spec, "missing required key 'draft_model': method draft needs a draft model card");
        return -1;
    }
    sc->spec.draft = load_card(sc, n, err);
    if (!sc->spec.draft)
        return -1;
    if (sc->spec.draft->vocab != sc->model->vocab) {
        CONF_ERROR(err, n, "%s has a vocabulary of %d tokens, %s of %d: a draft must share"
                   " the model's tokenizer", sc->spec.draft->name, sc->spec.draft->vocab, sc->model->name,
                   sc->model->vocab);
        return -1;
    }
    cost_model target, draft;
    kt_err inner;
    const cost_par par = { sc->par.tp, 1, 1, 1 };
    if (cost_model_init_par(&target, sc->model, sc->hw, &sc->par, sc->kv_dtype, NULL) == 0 &&
        cost_model_init_par(&draft, sc->spec.draft, sc->hw, &par, sc->kv_dtype, &inner) < 0) {
        CONF_ERROR(err, n, "%s", inner.msg);
        return -1;
    }
    return 0;
}

/* speculative: {method, k, draft_model | head_layers, acceptance}. */
static int load_speculative(scenario *sc, conf_node *root, kt_err *err)
{
    int failed = 0, method = SPEC_OFF;
    conf_node *n = section(root, "speculative", CONF_OPTIONAL, err, &failed);
    sc->spec.method = SPEC_OFF;
    if (failed)
        return -1;
    if (!n || conf_enum(n, "method", CONF_REQUIRED, spec_method_names, &method, err) < 0)
        return n ? -1 : 0;
    sc->spec.method = (spec_method)method;
    if (method == SPEC_OFF) {
        conf_mark_used(n);
        return 0;
    }
    static const char *const only[SPEC_METHOD_COUNT] = { NULL, "draft_model", "head_layers", NULL };
    for (int m = 0; m < SPEC_METHOD_COUNT; m++)
        if (only[m] && m != method && conf_find(n, only[m])) {
            CONF_ERROR(err, conf_find(n, only[m]), "only method %s takes it, not %s",
                       spec_method_names[m], spec_method_names[method]);
            return -1;
        }
    if (conf_int(n, "k", CONF_REQUIRED, 1, SCENARIO_MAX_SPEC_K, &sc->spec.k, err) < 0 ||
        conf_f64(n, "head_layers", conf_required_if(method == SPEC_EAGLE), 1e-3, SCENARIO_MAX_SPEC_HEAD_LAYERS,
                 &sc->spec.head_layers, err) < 0 ||
        load_acceptance(&sc->sched.spec_accept, n, err) < 0)
        return -1;
    if (sc->spec.k + 1 > sc->sched.token_budget) {
        CONF_ERROR(err, conf_find(n, "k"), "a verify computes k + 1 = %d positions a sequence, more than"
                   " scheduler.token_budget (%lld tokens): no sequence could ever verify", sc->spec.k + 1,
                   (long long)sc->sched.token_budget);
        return -1;
    }
    return method == SPEC_DRAFT ? load_draft_model(sc, n, err) : 0;
}

/* speculative.acceptance.trace reads the kvtier trace format's field. */
static int check_spec_trace(const scenario *sc, conf_node *root, kt_err *err)
{
    if (sc->spec.method == SPEC_OFF || !sc->sched.spec_accept.from_trace ||
        (sc->trace.on && sc->trace.format == TRACE_KVTIER))
        return 0;
    CONF_ERROR(err, conf_find(conf_find(conf_find(root, "speculative"), "acceptance"), "trace"),
               "per-request acceptance rates come from a kvtier-format trace's \"acceptance\" field: this"
               " scenario replays %s", sc->trace.on ? "another trace format" : "no trace (workload.kind synthetic)");
    return -1;
}

static int load_all(scenario *sc, conf_node *root, kt_err *err)
{
    int64_t seed = 1;
    snprintf(sc->name, sizeof sc->name, "unnamed");
    if (conf_expect(root, CONF_MAP, err) < 0 || preset_apply(root, sc->file, &sc->engine, err) < 0 ||
        conf_str_copy(root, "name", CONF_OPTIONAL, sc->name, sizeof sc->name, err) < 0 ||
        conf_i64(root, "seed", CONF_OPTIONAL, 0, INT64_MAX, &seed, err) < 0)
        return -1;
    sc->seed = (uint64_t)seed;
    if (load_model_hw(sc, root, err) < 0 || load_replicas(sc, root, err) < 0 || load_kv(sc, root, err) < 0 ||
        load_scheduler(sc, root, err) < 0 || load_speculative(sc, root, err) < 0 ||
        tiers_from_conf(root, sc->hw->c2c_bw_Bps, &sc->tiers, err) < 0 ||
        sparse_attn_from_conf(root, sc->model, sc->kv_block_tokens, &sc->sparse, err) < 0 ||
        load_workload(sc, root, err) < 0 || check_spec_trace(sc, root, err) < 0 || load_semcache(sc, root, err) < 0 ||
        load_slo_cost(sc, root, err) < 0 || load_results(sc, root, err) < 0 || load_faults(sc, root, err) < 0 ||
        conf_check_unused(root, err) < 0)
        return -1;
    if (size_kv(sc, root, err) < 0 || check_tiers(sc, root, err) < 0 || check_swap(sc, root, err) < 0 ||
        check_sparse(sc, root, err) < 0 ||
        check_step_times(sc, root, err) < 0 || (!sc->trace.on && check_workload_bounds(sc, root, err) < 0))
        return -1;
    /* Last, as the slowest check: read the whole trace once. */
    return sc->trace.on ? check_trace(sc, conf_find(conf_find(conf_find(root, "workload"), "trace"), "path"), err) : 0;
}

/* Builds the scenario of the tree root (NULL: parsing failed, err set),
 * read from file path. Frees root; the caller owns the result. */
static scenario *scenario_build(conf_node *root, const char *path, char *const *sets, int n_sets, kt_err *err)
{
    if (!root)
        return NULL;
    scenario *sc = calloc(1, sizeof *sc);
    sc->file = strdup(path);
    for (int i = 0; i < n_sets; i++)
        if (conf_set(root, sets[i], err) < 0)
            goto fail;
    if (load_all(sc, root, err) < 0)
        goto fail;
    sc->yaml = conf_to_yaml(root);
    conf_free(root);
    return sc;
fail:
    conf_free(root);
    scenario_free(sc);
    return NULL;
}

scenario *scenario_load(const char *path, char *const *sets, int n_sets, kt_err *err)
{
    return scenario_build(conf_parse_file(path, err), path, sets, n_sets, err);
}

scenario *scenario_load_string(const char *text, size_t len, const char *name, char *const *sets, int n_sets,
                               kt_err *err)
{
    return scenario_build(conf_parse_string(text, len, name, err), name, sets, n_sets, err);
}

void scenario_free(scenario *sc)
{
    if (!sc)
        return;
    model_free(sc->model);
    model_free(sc->spec.draft);
    hw_free(sc->hw);
    free(sc->file);
    free(sc->yaml);
    free(sc);
}
