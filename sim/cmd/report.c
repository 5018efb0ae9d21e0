/* report.c — prints a run's summary: a console table of latency quantiles and the run's totals, or JSON. */
#include "report.h"
#include "kv_plan.h"
#include "preset.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "config.h"

/* 1234567 -> "1,234,567" into buf. */
static const char *grouped(long long v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v), o = 0;
    if (v < 0 && (size_t)o + 1 < n)
        buf[o++] = '-';
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Why requests were rejected for reason why, with the largest need against
 * what a replica has ("their KV never fits a replica's pool: the largest
 * needs 39,159 blocks, a replica has 24,202"), into buf. */
static const char *rejection_text(const metrics_summary *s, metrics_reject why, char *buf, size_t n)
{
    char need[32], have[32];
    grouped(s->reject_need_max[why], need, sizeof need);
    grouped(s->reject_have[why], have, sizeof have);
    switch (why) {
    case REJECT_KV_POOL:
        snprintf(buf, n, "prompt and output never fit a replica's KV pool: the largest needs %s blocks, a replica "
                 "has %s", need, have);
        break;
    case REJECT_CONTEXT:
        snprintf(buf, n, "prompt longer than the model's context: the longest has %s tokens, the context %s "
                 "(scheduler.too_long: truncate cuts them instead)", need, have);
        break;
    case REJECT_NO_REPLICA:
        snprintf(buf, n, "no replica was alive to take them");
        break;
    default:
        snprintf(buf, n, "no reason recorded");
        break;
    }
    return buf;
}

/* The rejections by reason as JSON: reason, requests, the largest need and
 * what a replica has (blocks for kv_pool, tokens for context, null for
 * no_replica), and the summary's sentence. The caller owns the array. */
static json_t *rejections_json(const metrics_summary *s)
{
    static const char *const units[REJECT_REASON_COUNT] = {
        [REJECT_CONTEXT] = "tokens", [REJECT_KV_POOL] = "blocks",
    };
    json_t *a = json_array();
    char why[256];
    for (int r = 0; r < REJECT_REASON_COUNT; r++) {
        if (!s->rejected_by[r])
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "reason", json_string(metrics_reject_names[r]));
        json_object_set_new(e, "requests", json_integer(s->rejected_by[r]));
        json_object_set_new(e, "need", units[r] ? json_integer(s->reject_need_max[r]) : json_null());
        json_object_set_new(e, "have", units[r] ? json_integer(s->reject_have[r]) : json_null());
        json_object_set_new(e, "unit", units[r] ? json_string(units[r]) : json_null());
        json_object_set_new(e, "text", json_string(rejection_text(s, (metrics_reject)r, why, sizeof why)));
        json_array_append_new(a, e);
    }
    return a;
}

/* One line per reason requests were rejected for. */
static void report_rejections(FILE *out, const metrics_summary *s)
{
    char count[32], why[256];
    for (int r = 0; r < REJECT_REASON_COUNT; r++)
        if (s->rejected_by[r])
            fprintf(out, "  %s rejected: %s\n", grouped(s->rejected_by[r], count, sizeof count),
                    rejection_text(s, (metrics_reject)r, why, sizeof why));
}

static void dist_row(FILE *out, const char *label, const metrics_dist *d, double scale)
{
    fprintf(out, "  %-16s %10.2f %10.2f %10.2f %10.2f %10.2f\n", label, d->mean / scale, d->p50 / scale,
            d->p90 / scale, d->p99 / scale, d->max / scale);
}

static void slo_text(const scenario *sc, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    const char *names[] = { "TTFT", "TPOT", "max ITL" };
    const int64_t v[] = { sc->slo.ttft_ns, sc->slo.tpot_ns, sc->slo.itl_ns };
    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        char q[32];
        o += (size_t)snprintf(buf + o, n - o, "%s%s <= %s", o ? ", " : "", names[i],
                              units_format((double)v[i], UNITS_DURATION, q, sizeof q));
        if (o >= n)
            break;
    }
    if (!buf[0])
        snprintf(buf, n, "no SLOs set");
}

/* Hit share per tier, fetch part of TTFT, stall, and what was recomputed. */
static void report_tiers(FILE *out, const scenario *sc, const metrics_summary *s)
{
    fprintf(out, "tiers (%s, fetch %s, %s I/O):", tier_offload_names[sc->tiers.offload],
            tier_fetch_names[sc->tiers.fetch], fabric_io_names[sc->tiers.io]);
    for (int t = 0; t < sc->tiers.n; t++)
        fprintf(out, " %s %.1f%%", sc->tiers.tier[t].name, 100 * s->tier_hit_ratio[t]);
    fprintf(out, " of prompt tokens fetched\n");
    fprintf(out, "  TTFT mean %.2f ms = queueing %.2f + fetch %.2f + compute %.2f; GPU stalled %.2f GPU-s for pages; %lld tokens recomputed though a tier held them\n",
            s->ttft_ns.mean / 1e6, s->queue_ns.mean / 1e6, s->ttft_fetch_mean_ns / 1e6,
            (s->ttft_ns.mean - s->queue_ns.mean - s->ttft_fetch_mean_ns) / 1e6, s->stall_s,
            (long long)s->tier_recomputed_tokens);
}

/* Sparse attention: the selection, and with KV in a tier where the pages
 * came from and what waiting for them cost. */
static void report_sparse(FILE *out, const scenario *sc, const metrics_summary *s)
{
    const sparse_attn_cfg *c = &sc->sparse;
    char a[32], b[32], d[32], e[32], f[32], g[32];
    fprintf(out, "sparse attention: %lld tokens a step in pages of %d (metadata %s), first %d layers dense",
            (long long)c->budget_tokens, c->page_tokens, sparse_attn_metadata_names[c->metadata], c->dense_layers);
    if (c->kv_tier_index < 0) {
        fprintf(out, "; KV in HBM\n");
        return;
    }
    fprintf(out, "; KV in %s, recall %.2f, prefetch %s\n", c->kv_tier, c->recall, c->prefetch ? "on" : "off");
    fprintf(out, "  pages: %s selected = %s in HBM + %s prefetched + %s faulted; moved %s prefetched + %s faulted;"
                 " GPU stalled %.2f GPU-s for them\n",
            grouped(s->sparse_pages_selected, a, sizeof a), grouped(s->sparse_pages_resident, b, sizeof b),
            grouped(s->sparse_pages_prefetched, d, sizeof d), grouped(s->sparse_pages_faulted, e, sizeof e),
            units_format(s->sparse_bytes_prefetched, UNITS_BYTES, f, sizeof f),
            units_format(s->sparse_bytes_faulted, UNITS_BYTES, g, sizeof g), s->sparse_stall_s);
}

/* The semantic cache: what it answered, what it cost the misses, what it saved. */
static void report_semcache(FILE *out, const scenario *sc, const metrics_summary *s)
{
    const metrics_semcache *c = &s->semcache;
    fprintf(out, "semantic cache (%s index, in %s): %lld of %lld requests answered (%.1f%%), %lld of them wrongly;"
                 " %lld similar prompts found evicted\n",
            semcache_index_names[sc->semcache.index], sc->semcache.tier, (long long)c->hits, (long long)c->lookups,
            100 * s->semcache_hit_ratio, (long long)c->false_hits, (long long)c->capacity_misses);
    fprintf(out, "  hits answered in %.2f ms mean; misses waited %.2f ms more before the engine; %.2f GPU-s saved ($%.4f)\n",
            c->hits ? c->hit_latency_ns / 1e6 / (double)c->hits : 0,
            c->misses ? c->miss_delay_ns / 1e6 / (double)c->misses : 0, s->semcache_gpu_s_saved, s->semcache_usd_saved);
}

/* Disaggregated serving: the pools and what moving KV between them cost. */
static void report_handoffs(FILE *out, const scenario *sc, const metrics_summary *s)
{
    fprintf(out, "disaggregated: %d prefill + %d decode replicas; %lld requests' KV moved, transfer (ms) mean %.2f"
                 " p50 %.2f p99 %.2f max %.2f (queueing for decode blocks included)\n",
            sc->prefill_replicas, sc->replicas - sc->prefill_replicas, (long long)s->handoffs,
            s->kv_transfer_ns.mean / 1e6, s->kv_transfer_ns.p50 / 1e6, s->kv_transfer_ns.p99 / 1e6,
            s->kv_transfer_ns.max / 1e6);
}

/* Speculative decoding's line: what was drafted and accepted. */
static void report_spec(FILE *out, const scenario *sc, const metrics_summary *s)
{
    char a[32], b[32], c[32];
    fprintf(out, "speculative: %s%s%s, k %d: %s verify steps; %s tokens drafted, %s accepted (%.1f%%); mean accepted"
            " length %.3f tokens per verify\n", spec_method_names[sc->spec.method], sc->spec.draft ? " " : "",
            sc->spec.draft ? sc->spec.draft->name : "", sc->spec.k, grouped(s->spec_verify_steps, a, sizeof a),
            grouped(s->spec_draft_tokens, b, sizeof b), grouped(s->spec_accepted_tokens, c, sizeof c),
            s->spec_draft_tokens ? 100.0 * (double)s->spec_accepted_tokens / (double)s->spec_draft_tokens : 0.0,
            s->spec_mean_accepted_length);
}

/* A run whose backlog still grew over its measured window, or that left
 * requests unfinished, shows a ramp-up or a burst and its drain: its
 * latencies are not what the load gives once the queue has built up. */
static void report_steady(FILE *out, const metrics_summary *s)
{
    const metrics_steady *st = &s->steady;
    if (st->steady && s->unfinished == 0)
        return;
    fprintf(out, "warning: ");
    if (!st->steady)
        fprintf(out, "no steady state: the backlog grew by %.1f requests (%.3f/s) over the %.2f s after warm-up"
                     " (mean %.1f in system, %lld at the last session's arrival)%s",
                st->backlog_growth, st->backlog_trend_per_s, (st->window_end_ns - st->warmup_end_ns) / 1e9,
                st->backlog_mean, (long long)st->backlog_at_end, s->unfinished ? "; " : "");
    if (s->unfinished)
        fprintf(out, "%zu requests unfinished at the end", s->unfinished);
    fprintf(out, "; the latencies above are of a ramp-up or a burst draining, not of this load sustained\n");
}

void report_print(FILE *out, const scenario *sc, const metrics_summary *s, const sim_stats *st)
{
    char a[32], b[32], c[32], d[32], e[32], slo[160];
    fprintf(out, "kvtier run '%s': %s on %d x %s (%d replica%s, tensor parallel %d", sc->name, sc->model->name,
            s->gpus, sc->hw->name, sc->replicas, sc->replicas == 1 ? "" : "s", sc->tensor_parallel);
    if (sc->par.pp > 1)
        fprintf(out, ", pipeline parallel %d", sc->par.pp);
    if (sc->par.cp > 1)
        fprintf(out, ", context parallel %d", sc->par.cp);
    if (sc->par.ep > 1)
        fprintf(out, ", expert parallel %d", sc->par.ep);
    fprintf(out, "), seed %llu", (unsigned long long)sc->seed);
    if (sc->engine >= 0)
        fprintf(out, ", engine preset %s", preset_engine_names[sc->engine]);
    fputc('\n', out);
    if (sc->trace.on) {
        fprintf(out, "trace: %s (%s), %s requests replayed", sc->trace.path, trace_format_names[sc->trace.format],
                grouped(sc->trace.requests, a, sizeof a));
        if (s->trace_block_reuse > 0)
            fprintf(out, "; %.4f of its prefix blocks were asked for before", s->trace_block_reuse);
        if (sc->trace.bad_lines) {
            fprintf(out, "; %lld malformed lines skipped (first:", (long long)sc->trace.bad_lines);
            for (int64_t i = 0; i < sc->trace.bad_lines && i < 16; i++)
                fprintf(out, " %lld", (long long)sc->trace.first_bad[i]);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    fprintf(out, "requests: %s completed, %s rejected, %s unfinished; %s input + %s output tokens over %.2f s simulated\n",
            grouped((long long)s->completed, a, sizeof a), grouped((long long)s->rejected, b, sizeof b),
            grouped((long long)s->unfinished, c, sizeof c), grouped(s->input_tokens, d, sizeof d),
            grouped(s->output_tokens, e, sizeof e), s->duration_ns / 1e9);
    if (s->truncated)
        fprintf(out, "  %s prompts cut to the model's context (scheduler.too_long: truncate)\n",
                grouped(s->truncated, a, sizeof a));
    report_rejections(out, s);
    fprintf(out, "  %-16s %10s %10s %10s %10s %10s\n", "", "mean", "p50", "p90", "p99", "max");
    dist_row(out, "TTFT (ms)", &s->ttft_ns, 1e6);
    dist_row(out, "ITL (ms)", &s->itl_ns, 1e6);
    dist_row(out, "TPOT (ms)", &s->tpot_ns, 1e6);
    dist_row(out, "E2E (s)", &s->e2e_ns, 1e9);
    dist_row(out, "queueing (ms)", &s->queue_ns, 1e6);
    report_steady(out, s);
    slo_text(sc, slo, sizeof slo);
    fprintf(out, "throughput: %.3f req/s, %.1f tokens/s (%.1f output tokens/s)\n", s->throughput_rps,
            s->throughput_tok_s, s->output_tok_s);
    fprintf(out, "goodput: %.3f req/s; %.1f%% of completed requests within SLOs (%s)\n", s->goodput_rps,
            100 * s->slo_attainment, slo);
    fprintf(out, "utilization: busy %.1f%%, effective %.1f%%, MBU %.1f%%; wasted GPU-s: %.2f recomputing after preemption, %.2f recomputing KV a lower tier held\n",
            100 * s->busy_util, 100 * s->effective_util, 100 * s->mbu, s->gpu_s_wasted[WASTE_PREEMPTION],
            s->gpu_s_wasted[WASTE_RECOMPUTE]);
    fprintf(out, "KV: %s blocks of %d tokens per replica (%s); prefix cache hit %.1f%% of prompt tokens; %s preemptions\n",
            grouped(sc->kv_blocks_per_replica, b, sizeof b), sc->kv_block_tokens, dtype_name(sc->kv_dtype), 100 * s->prefix_hit_ratio,
            grouped(s->preemptions, a, sizeof a));
    if (kv_plan_is_set(sc->model))
        fprintf(out, "  KV per layer: %s; %s B per block over the replica; %.2f GPU-s dequantizing before attention\n",
                kv_plan_describe(sc->model, sc->kv_dtype, slo, sizeof slo), grouped(llround(s->kv_block_bytes), a, sizeof a),
                s->dequant_s);
    if (s->swap_outs)
        fprintf(out, "  of which %s swapped KV to host memory and back (scheduler.preemption: swap)\n",
                grouped(s->swap_outs, a, sizeof a));
    if (s->semcache.lookups)
        report_semcache(out, sc, s);
    if (sc->spec.method != SPEC_OFF)
        report_spec(out, sc, s);
    if (sc->tiers.n)
        report_tiers(out, sc, s);
    if (sc->sparse.on)
        report_sparse(out, sc, s);
    if (sc->prefill_replicas)
        report_handoffs(out, sc, s);
    if (sc->shed_imbalance > 0)
        fprintf(out, "shedding: %lld sessions' turns moved replicas, carrying %lld cached tokens' KV over the network\n",
                (long long)s->migrations, (long long)s->migrated_tokens);
    if (sc->n_faults)
        fprintf(out, "faults: %d scheduled; %lld requests re-routed after their replica failed (their tokens were recomputed: %lld tokens recomputed in all)\n",
                sc->n_faults, (long long)s->rerouted, (long long)s->recomputed_tokens);
    fprintf(out, "cost: $%.4f for %d GPU%s over the run; $%.4f per million tokens ($%.4f per million output tokens)\n",
            s->cost_usd, s->gpus, s->gpus == 1 ? "" : "s", s->usd_per_m_tokens, s->usd_per_m_output_tokens);
    if (st)
        fprintf(out, "simulator: %s events in %.3f s wall, %s simulated requests per wall-second\n",
                grouped((long long)st->events, a, sizeof a), st->wall_s,
                grouped(st->wall_s > 0 ? (long long)(s->requests / st->wall_s) : 0, b, sizeof b));
}

/* 1 when figure name means nothing for sc's run (a tier it lacks, a trace
 * figure of a synthetic workload, KV handoffs without disaggregation or
 * shedding): written as null rather than a 0 that reads as measured. */
static int not_applicable(const scenario *sc, const char *name)
{
    int tier;
    if (sscanf(name, "tier%d_hit_ratio", &tier) == 1)
        return tier >= sc->tiers.n;
    if (!strcmp(name, "trace_block_reuse"))
        return !sc->trace.on;
    if (!strncmp(name, "kv_transfer_", 12) || !strcmp(name, "kv_handoffs"))
        return !sc->prefill_replicas && !(sc->shed_imbalance > 0);
    if (!strcmp(name, "ttft_fetch_mean") || !strcmp(name, "gpu_stall"))
        return !sc->tiers.n;
    return 0;
}

/* Units whose figures are whole numbers. */
static int counted(const char *unit)
{
    static const char *const units[] = { "count", "requests", "tokens", "blocks", "GPUs", "bytes" };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcmp(unit, units[i]))
            return 1;
    return 0;
}

json_t *report_value_json(double value, const char *unit)
{
    if (!isfinite(value))
        return json_null();
    if (!strcmp(unit, "boolean"))
        return json_boolean(value != 0);
    if (counted(unit) && value == floor(value) && fabs(value) < 9e15)
        return json_integer((json_int_t)value);
    return json_real(value);
}

/* A summary figure as JSON: null when it does not apply to sc's run, else report_value_json. */
static json_t *figure_json(const scenario *sc, const metrics_field *f)
{
    return not_applicable(sc, f->name) ? json_null() : report_value_json(f->value, f->unit);
}

/* The lower tiers, in the order they are searched, with the share of prompt tokens each served. */
static json_t *tiers_json(const scenario *sc, const metrics_field *f, size_t n)
{
    json_t *a = json_array();
    for (int t = 0; t < sc->tiers.n; t++) {
        const tier_cfg *c = &sc->tiers.tier[t];
        char key[48];
        snprintf(key, sizeof key, "tier%d_hit_ratio", t);
        json_t *o = json_object(), *ratio = json_null();
        for (size_t i = 0; i < n; i++)
            if (!strcmp(f[i].name, key))
                ratio = json_real(f[i].value);
        json_object_set_new(o, "level", json_integer(t));
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "kind", json_string(tier_kind_names[c->kind]));
        json_object_set_new(o, "capacity_bytes", json_real(c->capacity_bytes));
        json_object_set_new(o, "fleet_shared", json_boolean(c->fleet_shared));
        json_object_set_new(o, "hit_ratio", ratio);
        json_array_append_new(a, o);
    }
    return a;
}

/* Each replica's totals and utilizations (metrics_replica_util's definitions). */
static json_t *replicas_json(const runner_result *res)
{
    if (!res->replicas)
        return json_null();
    json_t *a = json_array();
    for (int i = 0; i < res->n_replicas; i++) {
        const metrics_replica *r = &res->replicas[i];
        double busy, eff, mbu;
        metrics_replica_util(r, res->summary.duration_ns, &busy, &eff, &mbu);
        json_t *o = json_object();
        json_object_set_new(o, "replica", json_integer(i));
        json_object_set_new(o, "gpus", json_integer(r->gpus));
        json_object_set_new(o, "iterations", json_integer(r->iterations));
        json_object_set_new(o, "busy_ns", json_integer(r->busy_ns));
        json_object_set_new(o, "stall_ns", json_integer(r->stall_ns));
        json_object_set_new(o, "busy_util", json_real(busy));
        json_object_set_new(o, "effective_util", json_real(eff));
        json_object_set_new(o, "mbu", json_real(mbu));
        json_array_append_new(a, o);
    }
    return a;
}

/* The trace replayed, or null for a synthetic workload. */
static json_t *trace_json(const scenario *sc)
{
    if (!sc->trace.on)
        return json_null();
    json_t *o = json_object(), *first = json_array();
    for (int64_t i = 0; i < sc->trace.bad_lines && i < (int64_t)(sizeof sc->trace.first_bad / sizeof *sc->trace.first_bad);
         i++)
        json_array_append_new(first, json_integer(sc->trace.first_bad[i]));
    json_object_set_new(o, "format", json_string(trace_format_names[sc->trace.format]));
    json_object_set_new(o, "path", json_string(sc->trace.path));
    json_object_set_new(o, "requests", json_integer(sc->trace.requests));
    json_object_set_new(o, "skipped_lines", json_integer(sc->trace.bad_lines));
    json_object_set_new(o, "first_skipped_lines", first);
    return o;
}

void report_print_json(FILE *out, const scenario *sc, const runner_result *res)
{
    const metrics_summary *s = &res->summary;
    json_t *o = json_object(), *sum = json_object();
    json_object_set_new(o, "schema_version", json_integer(REPORT_JSON_SCHEMA_VERSION));
    json_object_set_new(o, "program_version", json_string(PACKAGE_VERSION));
    json_object_set_new(o, "scenario", json_string(sc->name));
    json_object_set_new(o, "model", json_string(sc->model->name));
    json_object_set_new(o, "hardware", json_string(sc->hw->name));
    json_object_set_new(o, "seed", json_integer((json_int_t)sc->seed));
    json_object_set_new(o, "run_id", res->run_id > 0 ? json_integer(res->run_id) : json_null());
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(s, f);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(sum, f[i].name, figure_json(sc, &f[i]));
    json_t *units = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(units, f[i].name, json_string(f[i].unit));
    json_object_set_new(o, "summary", sum);
    json_object_set_new(o, "units", units);
    json_object_set_new(o, "rejections", rejections_json(s));   /* [] when none was rejected */
    json_object_set_new(o, "tiers", tiers_json(sc, f, n));
    json_object_set_new(o, "replicas", replicas_json(res));
    json_object_set_new(o, "trace", trace_json(sc));
    json_object_set_new(o, "events", json_integer((json_int_t)res->stats.events));
    json_object_set_new(o, "wall_s", json_real(res->stats.wall_s));
    json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
}
