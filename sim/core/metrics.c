/* metrics.c — request records, a log-binned ITL histogram, and the run summary with GSL quantiles. */
#include "metrics.h"

#include <math.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "tier.h"
#include "grow.h"

/* A request counts hits per lower tier in tier_hit_tokens[METRICS_TIERS]. */
_Static_assert(METRICS_TIERS == TIER_MAX, "metrics keep one count per lower tier a replica can have");

const char *const metrics_outcome_names[REQ_OUTCOME_COUNT + 1] = { "completed", "rejected", "unfinished", NULL };
const char *const metrics_reject_names[REJECT_REASON_COUNT + 1] = { "none", "context", "kv_pool", "no_replica",
                                                                    NULL };
const char *const metrics_waste_names[WASTE_CAUSE_COUNT + 1] = { "preemption", "recompute", NULL };

/* ITL bins: geometric from 100 ns to 10^4 s, each 0.2% wider than the last,
 * so a quantile read from a bin is within 0.2% of the exact one. */
#define ITL_LO_NS 1e2
#define ITL_HI_NS 1e13
#define ITL_RATIO 1.002


metrics *metrics_new(int n_replicas)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    size_t bins = (size_t)ceil(log(ITL_HI_NS / ITL_LO_NS) / log(ITL_RATIO));
    m->itl = gsl_histogram_alloc(bins);
    m->replicas = calloc((size_t)n_replicas, sizeof *m->replicas);
    m->n_replicas = n_replicas;
    if (!m->itl || !m->replicas) {
        metrics_free(m);
        return NULL;
    }
    double *ranges = m->itl->range;
    for (size_t i = 0; i <= bins; i++)
        ranges[i] = ITL_LO_NS * pow(ITL_RATIO, (double)i);
    memset(m->itl->bin, 0, bins * sizeof(double));
    m->itl_last_gap_ns = -1;
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_reqs; i++)
        free(m->reqs[i].gaps);
    free(m->reqs);
    if (m->itl)
        gsl_histogram_free(m->itl);
    free(m->replicas);
    free(m->samples);
    free(m->tiers);
    free(m->links);
    free(m->link_samples);
    free(m->tier_samples);
    free(m);
}

/* Appends the size-byte record rec to arr, which holds *n records with room
 * for *cap. Returns the array (arr itself, or grown with arr freed), or NULL
 * when memory runs out: arr is then unchanged and still the caller's. */
static void *append_record(void *arr, size_t *n, size_t *cap, const void *rec, size_t size)
{
    char *grown = grow_array(arr, cap, *n + 1, size);
    if (grown)
        memcpy(grown + (*n)++ * size, rec, size);
    return grown;
}

int metrics_add_request(metrics *m, const metrics_req *r)
{
    metrics_req *grown = append_record(m->reqs, &m->n_reqs, &m->cap_reqs, r, sizeof *r);
    if (grown)
        m->reqs = grown;
    return grown ? 0 : -1;
}

int metrics_add_sample(metrics *m, const metrics_sample *s)
{
    metrics_sample *grown = append_record(m->samples, &m->n_samples, &m->cap_samples, s, sizeof *s);
    if (grown)
        m->samples = grown;
    return grown ? 0 : -1;
}

int metrics_add_tier(metrics *m, const metrics_tier *t)
{
    metrics_tier *grown = append_record(m->tiers, &m->n_tiers, &m->cap_tiers, t, sizeof *t);
    if (grown)
        m->tiers = grown;
    return grown ? 0 : -1;
}

int metrics_add_link(metrics *m, const metrics_link *l)
{
    metrics_link *grown = append_record(m->links, &m->n_links, &m->cap_links, l, sizeof *l);
    if (grown)
        m->links = grown;
    return grown ? 0 : -1;
}

int metrics_add_link_sample(metrics *m, const metrics_link_sample *s)
{
    metrics_link_sample *grown = append_record(m->link_samples, &m->n_link_samples, &m->cap_link_samples, s, sizeof *s);
    if (grown)
        m->link_samples = grown;
    return grown ? 0 : -1;
}

int metrics_add_tier_sample(metrics *m, const metrics_tier_sample *s)
{
    metrics_tier_sample *grown = append_record(m->tier_samples, &m->n_tier_samples, &m->cap_tier_samples, s, sizeof *s);
    if (grown)
        m->tier_samples = grown;
    return grown ? 0 : -1;
}

/* The bin holding gap v: its logarithm settled on the ranges. Bins are
 * geometric, so the index is a logarithm rather than the binary search
 * gsl_histogram_accumulate does (this is per token). Kept out of line: most
 * gaps take the cached bin. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static size_t itl_bin(const gsl_histogram *h, double v)
{
    long i = v <= ITL_LO_NS ? 0 : (long)(log(v / ITL_LO_NS) / log(ITL_RATIO));
    if (i >= (long)h->n)
        i = (long)h->n - 1;
    /* Rounding in log() can be one bin off at an edge: settle on the range. */
    if (i > 0 && v < h->range[i])
        i--;
    else if (i + 1 < (long)h->n && v >= h->range[i + 1])
        i++;
    return (size_t)i;
}

void metrics_itl_add(metrics *m, int64_t gap_ns, double weight)
{
    if (gap_ns > m->itl_max_ns)
        m->itl_max_ns = gap_ns;
    gsl_histogram *h = m->itl;
    /* Sequences batched together mostly see the same gap, and a decode
     * run's next steps gaps within the same bin: keep the last gap's bin
     * when it holds this one (itl_bin settles every gap inside a bin's
     * range on that bin: the ranges are increasing). */
    if (gap_ns != m->itl_last_gap_ns) {
        double v = (double)gap_ns;
        if (!(v >= h->range[m->itl_last_bin] && v < h->range[m->itl_last_bin + 1]))
            m->itl_last_bin = itl_bin(h, v);
        m->itl_last_gap_ns = gap_ns;
    }
    h->bin[m->itl_last_bin] += weight;
}

double metrics_itl_quantile(const metrics *m, double q)
{
    const gsl_histogram *h = m->itl;
    double total = gsl_histogram_sum(h);
    if (total <= 0)
        return 0;
    double want = q * total, cum = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->bin[i] > 0 && cum + h->bin[i] >= want) {
            double frac = (want - cum) / h->bin[i];
            double v = h->range[i] + frac * (h->range[i + 1] - h->range[i]);
            return v > (double)m->itl_max_ns ? (double)m->itl_max_ns : v;
        }
        cum += h->bin[i];
    }
    return (double)m->itl_max_ns;
}

/* Sorts v[0..n) and fills d with its mean and quantiles (GSL's linear
 * interpolation between order statistics). */
static void dist_of(double *v, size_t n, metrics_dist *d)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    if (!n)
        return;
    gsl_sort(v, 1, n);
    d->mean = gsl_stats_mean(v, 1, n);
    d->p50 = gsl_stats_quantile_from_sorted_data(v, 1, n, 0.50);
    d->p90 = gsl_stats_quantile_from_sorted_data(v, 1, n, 0.90);
    d->p99 = gsl_stats_quantile_from_sorted_data(v, 1, n, 0.99);
    d->max = v[n - 1];
}

int metrics_meets_slo(const metrics_req *r, const metrics_slo *slo)
{
    if (r->outcome != REQ_COMPLETED)
        return 0;
    if (slo->ttft_ns && r->first_token_ns - r->arrival_ns > slo->ttft_ns)
        return 0;
    /* Exact: gap_sum / n_gaps > tpot without integer division's rounding. */
    if (slo->tpot_ns && r->n_gaps && r->gap_sum_ns > slo->tpot_ns * r->n_gaps)
        return 0;
    if (slo->itl_ns && r->gap_max_ns > slo->itl_ns)
        return 0;
    return 1;
}

/* Counts r's rejection by reason, keeping the largest need of each with
 * what the replica had. */
static void note_rejection(metrics_summary *s, const metrics_req *r)
{
    metrics_reject why = r->reject_reason;
    if ((unsigned)why >= REJECT_REASON_COUNT)
        why = REJECT_NONE;
    s->rejected_by[why]++;
    if (s->rejected_by[why] == 1 || r->reject_need > s->reject_need_max[why]) {
        s->reject_need_max[why] = r->reject_need;
        s->reject_have[why] = r->reject_have;
    }
}

/* Request-level distributions and token counts. Returns 0, or -1 when the
 * per-request arrays cannot be allocated. */
static int summarize_requests(const metrics *m, const metrics_slo *slo, metrics_summary *s)
{
    size_t n = m->n_reqs, k = 0, kt = 0;
    double *ttft = malloc((n + 1) * sizeof *ttft), *e2e = malloc((n + 1) * sizeof *e2e);
    double *queue = malloc((n + 1) * sizeof *queue), *tpot = malloc((n + 1) * sizeof *tpot);
    double *handoff = malloc((n + 1) * sizeof *handoff);
    if (!ttft || !e2e || !queue || !tpot || !handoff) {
        free(handoff);
        free(ttft);
        free(e2e);
        free(queue);
        free(tpot);
        return -1;
    }
    int64_t t_first = INT64_MAX, t_last = INT64_MIN, trace_blocks = 0, trace_reused = 0;
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        const metrics_req *r = &m->reqs[i];
        s->requests++;
        s->rejected += r->outcome == REQ_REJECTED;
        if (r->outcome == REQ_REJECTED)
            note_rejection(s, r);
        s->unfinished += r->outcome == REQ_UNFINISHED;
        s->preemptions += r->preemptions;
        s->truncated += r->truncated_tokens > 0;
        s->swap_outs += r->swap_outs;
        s->rerouted += r->reroutes > 0;
        s->migrations += r->migrated_tokens > 0;
        s->migrated_tokens += r->migrated_tokens;
        s->recomputed_tokens += r->recomputed_tokens;
        if (r->arrival_ns < t_first)
            t_first = r->arrival_ns;
        trace_blocks += r->trace_blocks;
        trace_reused += r->trace_reused_blocks;
        s->retention_dropped_tokens += r->retention_dropped_tokens;
        s->retention_offloaded_tokens += r->retention_offloaded_tokens;
        s->in_storage_tokens += r->in_storage_tokens;
        if (r->outcome != REQ_COMPLETED)
            continue;
        s->completed++;
        s->input_tokens += r->prompt_tokens;
        s->output_tokens += r->output_tokens;
        s->prefix_hit_tokens += r->prefix_hit_tokens;
        for (int t = 0; t < METRICS_TIERS; t++)
            s->tier_hit_tokens[t] += r->tier_hit_tokens[t];
        s->tier_recomputed_tokens += r->tier_recomputed_tokens;
        s->ttft_fetch_mean_ns += (double)r->fetch_ns;
        if (r->finish_ns > t_last)
            t_last = r->finish_ns;
        ttft[k] = (double)(r->first_token_ns - r->arrival_ns);
        e2e[k] = (double)(r->finish_ns - r->arrival_ns);
        queue[k] = (double)(r->first_sched_ns - r->arrival_ns);
        k++;
        if (r->n_gaps)
            tpot[kt++] = (double)r->gap_sum_ns / (double)r->n_gaps;
        if (r->prefill_replica >= 0 && r->output_tokens > 1)
            handoff[s->handoffs++] = (double)r->kv_transfer_ns;
        good += metrics_meets_slo(r, slo);
    }
    dist_of(ttft, k, &s->ttft_ns);
    dist_of(e2e, k, &s->e2e_ns);
    dist_of(queue, k, &s->queue_ns);
    dist_of(tpot, kt, &s->tpot_ns);
    dist_of(handoff, (size_t)s->handoffs, &s->kv_transfer_ns);
    free(handoff);
    free(ttft);
    free(e2e);
    free(queue);
    free(tpot);
    s->duration_ns = k ? t_last - t_first : 0;
    double dur_s = s->duration_ns / 1e9;
    if (dur_s > 0) {
        s->throughput_rps = s->completed / dur_s;
        s->throughput_tok_s = (s->input_tokens + s->output_tokens) / dur_s;
        s->output_tok_s = s->output_tokens / dur_s;
        s->goodput_rps = good / dur_s;
    }
    s->slo_attainment = k ? (double)good / k : 0;
    s->prefix_hit_ratio = s->input_tokens ? (double)s->prefix_hit_tokens / s->input_tokens : 0;
    for (int t = 0; t < METRICS_TIERS; t++)
        s->tier_hit_ratio[t] = s->input_tokens ? (double)s->tier_hit_tokens[t] / s->input_tokens : 0;
    s->ttft_fetch_mean_ns = k ? s->ttft_fetch_mean_ns / k : 0;
    s->trace_block_reuse = trace_blocks ? (double)trace_reused / (double)trace_blocks : 0;
    return 0;
}

static void summarize_itl(const metrics *m, metrics_summary *s)
{
    double total = gsl_histogram_sum(m->itl);
    s->itl_ns.n = (size_t)llround(total);
    if (total <= 0)
        return;
    double sum = 0;
    for (size_t i = 0; i < m->itl->n; i++)
        sum += m->itl->bin[i] * 0.5 * (m->itl->range[i] + m->itl->range[i + 1]);
    s->itl_ns.mean = sum / total;
    s->itl_ns.p50 = metrics_itl_quantile(m, 0.50);
    s->itl_ns.p90 = metrics_itl_quantile(m, 0.90);
    s->itl_ns.p99 = metrics_itl_quantile(m, 0.99);
    s->itl_ns.max = (double)m->itl_max_ns;
}

double metrics_gpu_usd_per_s(const metrics_cost *c)
{
    double own = c->hourly_usd > 0 ? c->hourly_usd / 3600.0
                 : c->amortization_years > 0 ? c->gpu_price_usd / (c->amortization_years * METRICS_SECONDS_PER_YEAR)
                                             : 0;
    double power = c->power_w * (c->pue > 0 ? c->pue : 1) / 1000.0 * c->usd_per_kwh / 3600.0;
    return own + power;
}

/* Useful (not wasted) FLOPs of a replica. */
static double useful_flops(const metrics_replica *r)
{
    double wasted = 0;
    for (int c = 0; c < WASTE_CAUSE_COUNT; c++)
        wasted += r->flops_wasted[c];
    return r->flops - wasted;
}

void metrics_replica_util(const metrics_replica *r, int64_t duration_ns, double *busy, double *effective,
                          double *mbu)
{
    double dur_s = duration_ns / 1e9, busy_s = r->busy_ns / 1e9;
    *busy = dur_s > 0 ? busy_s / dur_s : 0;
    *effective = dur_s > 0 && r->peak_flops_gpu > 0 ? useful_flops(r) / (r->peak_flops_gpu * r->gpus * dur_s) : 0;
    *mbu = busy_s > 0 && r->peak_hbm_Bps > 0 ? r->hbm_bytes / (r->peak_hbm_Bps * r->gpus * busy_s) : 0;
}

static void summarize_replicas(const metrics *m, const metrics_cost *cost, metrics_summary *s)
{
    double dur_s = s->duration_ns / 1e9, busy_gpu_s = 0, useful = 0, peak = 0, bytes = 0, bw_busy = 0;
    for (int i = 0; i < m->n_replicas; i++) {
        const metrics_replica *r = &m->replicas[i];
        s->gpus += r->gpus;
        busy_gpu_s += r->busy_ns / 1e9 * r->gpus;
        s->stall_s += r->stall_ns / 1e9 * r->gpus;
        s->sparse_stall_s += r->sparse_stall_ns / 1e9 * r->gpus;
        s->sparse_pages_selected += r->sparse_pages_selected;
        s->sparse_pages_resident += r->sparse_pages_resident;
        s->sparse_pages_prefetched += r->sparse_pages_prefetched;
        s->sparse_pages_faulted += r->sparse_pages_faulted;
        s->sparse_bytes_prefetched += r->sparse_bytes_prefetched;
        s->sparse_bytes_faulted += r->sparse_bytes_faulted;
        s->dequant_s += r->dequant_ns / 1e9 * r->gpus;
        s->spec_verify_steps += r->spec_verify_steps;
        s->spec_verify_seqs += r->spec_verify_seqs;
        s->spec_draft_tokens += r->spec_draft_tokens;
        s->spec_accepted_tokens += r->spec_accepted_tokens;
        for (int c = 0; c < WASTE_CAUSE_COUNT; c++)
            s->gpu_s_wasted[c] += r->gpu_ns_wasted[c] / 1e9;
        useful += useful_flops(r);
        peak += r->peak_flops_gpu * r->gpus * dur_s;
        bytes += r->hbm_bytes;
        bw_busy += r->peak_hbm_Bps * r->gpus * (r->busy_ns / 1e9);
    }
    if (dur_s > 0 && s->gpus) {
        s->busy_util = busy_gpu_s / (s->gpus * dur_s);
        s->effective_util = peak > 0 ? useful / peak : 0;
    }
    s->mbu = bw_busy > 0 ? bytes / bw_busy : 0;
    if (s->spec_verify_seqs)
        s->spec_mean_accepted_length =
            (double)(s->spec_accepted_tokens + s->spec_verify_seqs) / (double)s->spec_verify_seqs;
    s->cost_usd = metrics_gpu_usd_per_s(cost) * s->gpus * dur_s;
    int64_t tokens = s->input_tokens + s->output_tokens;
    s->usd_per_m_tokens = tokens ? s->cost_usd / (tokens / 1e6) : 0;
    s->usd_per_m_output_tokens = s->output_tokens ? s->cost_usd / (s->output_tokens / 1e6) : 0;
}

/* A hit spares the engine a request: it is credited the engine's mean
 * busy GPU-seconds per request it completed in the same run. */
static void summarize_semcache(const metrics *m, const metrics_cost *cost, metrics_summary *s)
{
    const metrics_semcache *c = &m->semcache;
    s->semcache = *c;
    if (c->lookups == 0)
        return;
    double busy_gpu_s = 0;
    for (int i = 0; i < m->n_replicas; i++)
        busy_gpu_s += m->replicas[i].busy_ns / 1e9 * m->replicas[i].gpus;
    s->semcache_hit_ratio = (double)c->hits / (double)c->lookups;
    s->semcache_gpu_s_saved = s->completed ? c->hits * busy_gpu_s / (double)s->completed : 0;
    s->semcache_usd_saved = s->semcache_gpu_s_saved * metrics_gpu_usd_per_s(cost);
}

int metrics_summarize(const metrics *m, const metrics_slo *slo, const metrics_cost *cost, metrics_summary *s,
                      kt_err *err)
{
    memset(s, 0, sizeof *s);
    if (summarize_requests(m, slo, s) < 0) {
        KT_ERROR(err, NULL, 0, 0, "metrics: out of memory summarizing %zu requests", m->n_reqs);
        return -1;
    }
    summarize_itl(m, s);
    summarize_replicas(m, cost, s);
    if (metrics_steady_state(m, METRICS_STEADY_GROWTH_TOLERANCE, &s->steady, err) < 0)
        return -1;
    summarize_semcache(m, cost, s);
    s->kv_blocks_per_replica = m->kv_blocks_per_replica;
    s->kv_block_bytes = m->kv_block_bytes;
    return 0;
}

/* ---------- steady state ---------- */

size_t metrics_mser_truncation(const double *x, size_t n)
{
    if (n < 2)
        return 0;
    /* Suffix sums give each candidate's mean and squared deviations in O(1). */
    size_t d_max = (size_t)((double)n * METRICS_MSER_MAX_SHARE), best = 0;
    double sum = 0, sum2 = 0, best_se = INFINITY;
    for (size_t i = n; i-- > 0;) {
        sum += x[i];
        sum2 += x[i] * x[i];
        if (i > d_max)
            continue;
        double k = (double)(n - i), ss = sum2 - sum * sum / k;
        double se = (ss > 0 ? ss : 0) / (k * k);
        if (se <= best_se) {    /* ties: the shorter truncation */
            best_se = se;
            best = i;
        }
    }
    return best;
}

/* Whether the slope of the batch means of y against t is significantly
 * positive (one-sided t test at METRICS_STEADY_ALPHA). n >= METRICS_STEADY_MIN_SAMPLES. */
static int batch_slope_significant(const double *t, const double *y, size_t n)
{
    size_t b = n < METRICS_STEADY_BATCHES ? n : METRICS_STEADY_BATCHES;
    double bt[METRICS_STEADY_BATCHES], by[METRICS_STEADY_BATCHES];
    for (size_t k = 0; k < b; k++) {
        size_t lo = k * n / b, hi = (k + 1) * n / b;
        bt[k] = gsl_stats_mean(t + lo, 1, hi - lo);
        by[k] = gsl_stats_mean(y + lo, 1, hi - lo);
    }
    double c0, c1, cov00, cov01, cov11, sumsq;
    gsl_fit_linear(bt, 1, by, 1, b, &c0, &c1, &cov00, &cov01, &cov11, &sumsq);
    if (c1 <= 0)
        return 0;
    return cov11 <= 0 || c1 / sqrt(cov11) > gsl_cdf_tdist_Qinv(METRICS_STEADY_ALPHA, (double)(b - 2));
}

int metrics_backlog_steady(const double *t_s, const double *backlog, size_t n, double growth_tolerance,
                           double *trend_per_s, double *growth, double *mean)
{
    *trend_per_s = *growth = *mean = 0;
    if (n == 0)
        return 1;
    *mean = gsl_stats_mean(backlog, 1, n);
    if (n < METRICS_STEADY_MIN_SAMPLES || t_s[n - 1] <= t_s[0])
        return 1;
    double c0, c1, cov00, cov01, cov11, sumsq;
    gsl_fit_linear(t_s, 1, backlog, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &sumsq);
    *trend_per_s = c1;
    *growth = c1 * (t_s[n - 1] - t_s[0]);
    if (*growth <= growth_tolerance * *mean)
        return 1;
    return !batch_slope_significant(t_s, backlog, n);
}

/* The end of the arrival horizon: the last arrival of a session's first
 * request (every request when the workload has no later turns). */
static int64_t horizon_end_ns(const metrics *m)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < m->n_reqs; i++)
        if (m->reqs[i].turn == 0 && m->reqs[i].arrival_ns > end)
            end = m->reqs[i].arrival_ns;
    return end;
}

/* Sorted arrival times of admitted requests into arr (n_arr) and sorted
 * finish times of completed ones into fin (n_fin). */
static void backlog_events(const metrics *m, double *arr, size_t *n_arr, double *fin, size_t *n_fin)
{
    *n_arr = *n_fin = 0;
    for (size_t i = 0; i < m->n_reqs; i++) {
        const metrics_req *r = &m->reqs[i];
        if (r->outcome == REQ_REJECTED)
            continue;
        arr[(*n_arr)++] = (double)r->arrival_ns;
        if (r->outcome == REQ_COMPLETED)
            fin[(*n_fin)++] = (double)r->finish_ns;
    }
    gsl_sort(arr, 1, *n_arr);
    gsl_sort(fin, 1, *n_fin);
}

int metrics_steady_state(const metrics *m, double growth_tolerance, metrics_steady *out, kt_err *err)
{
    memset(out, 0, sizeof *out);
    out->steady = 1;
    size_t n = m->n_reqs;
    double *arr = malloc((n + 1) * sizeof *arr), *fin = malloc((n + 1) * sizeof *fin);
    double *t_s = malloc((n + 1) * sizeof *t_s), *q = malloc((n + 1) * sizeof *q);
    if (!arr || !fin || !t_s || !q) {
        free(arr);
        free(fin);
        free(t_s);
        free(q);
        KT_ERROR(err, NULL, 0, 0, "metrics: out of memory for the backlog of %zu requests", n);
        return -1;
    }
    size_t n_arr, n_fin, k = 0, done = 0;
    backlog_events(m, arr, &n_arr, fin, &n_fin);
    double end = (double)horizon_end_ns(m);
    /* The backlog just after each arrival up to the horizon's end. */
    for (size_t i = 0; i < n_arr && arr[i] <= end; i++) {
        while (done < n_fin && fin[done] <= arr[i])
            done++;
        t_s[k] = (arr[i] - arr[0]) / 1e9;
        q[k++] = (double)(i + 1 - done);
    }
    if (k) {
        size_t d = metrics_mser_truncation(q, k);
        out->first_arrival_ns = (int64_t)arr[0];
        out->warmup_end_ns = (int64_t)arr[d];
        out->window_end_ns = (int64_t)arr[k - 1];
        out->samples = k - d;
        out->backlog_at_end = (int64_t)q[k - 1];
        out->steady = metrics_backlog_steady(t_s + d, q + d, k - d, growth_tolerance, &out->backlog_trend_per_s,
                                             &out->backlog_growth, &out->backlog_mean);
    }
    free(arr);
    free(fin);
    free(t_s);
    free(q);
    return 0;
}

int metrics_window_p99(const metrics *m, int64_t from_ns, int64_t to_ns, double *ttft_p99_ns, double *itl_p99_ns,
                       size_t *scored, kt_err *err)
{
    size_t n_ttft = 0, n_gaps = 0, have_gaps = 1;
    for (size_t i = 0; i < m->n_reqs; i++) {
        const metrics_req *r = &m->reqs[i];
        if (r->outcome == REQ_COMPLETED && r->arrival_ns >= from_ns && r->arrival_ns <= to_ns) {
            n_ttft++;
            n_gaps += (size_t)r->n_gaps;
            have_gaps &= r->n_gaps == 0 || r->gaps != NULL;
        }
    }
    double *ttft = malloc((n_ttft + 1) * sizeof *ttft), *gaps = malloc((n_gaps + 1) * sizeof *gaps);
    if (!ttft || !gaps) {
        free(ttft);
        free(gaps);
        KT_ERROR(err, NULL, 0, 0, "metrics: out of memory for the p99s of %zu requests", n_ttft);
        return -1;
    }
    size_t k = 0, g = 0;
    for (size_t i = 0; i < m->n_reqs; i++) {
        const metrics_req *r = &m->reqs[i];
        if (r->outcome != REQ_COMPLETED || r->arrival_ns < from_ns || r->arrival_ns > to_ns)
            continue;
        ttft[k++] = (double)(r->first_token_ns - r->arrival_ns);
        for (int64_t j = 0; have_gaps && j < r->n_gaps; j++)
            gaps[g++] = (double)r->gaps[j];
    }
    metrics_dist t, it;
    dist_of(ttft, k, &t);
    dist_of(gaps, g, &it);
    *ttft_p99_ns = t.p99;
    *itl_p99_ns = have_gaps ? it.p99 : metrics_itl_quantile(m, 0.99);
    *scored = k;
    free(ttft);
    free(gaps);
    return 0;
}

double metrics_session_span_mean_ns(const metrics *m)
{
    int64_t n_sess = 0;
    for (size_t i = 0; i < m->n_reqs; i++)
        if (m->reqs[i].session >= n_sess)
            n_sess = m->reqs[i].session + 1;
    int64_t *first = malloc((size_t)(n_sess + 1) * sizeof *first), *last = calloc((size_t)n_sess + 1, sizeof *last);
    if (!first || !last) {
        free(first);
        free(last);
        return 0;
    }
    for (int64_t s = 0; s < n_sess; s++)
        first[s] = INT64_MAX;
    for (size_t i = 0; i < m->n_reqs; i++) {
        const metrics_req *r = &m->reqs[i];
        if (r->session < 0 || r->outcome != REQ_COMPLETED)
            continue;
        first[r->session] = r->arrival_ns < first[r->session] ? r->arrival_ns : first[r->session];
        last[r->session] = r->finish_ns > last[r->session] ? r->finish_ns : last[r->session];
    }
    double sum = 0;
    int64_t k = 0;
    for (int64_t s = 0; s < n_sess; s++)
        if (first[s] != INT64_MAX) {
            sum += (double)(last[s] - first[s]);
            k++;
        }
    free(first);
    free(last);
    return k ? sum / (double)k : 0;
}

static size_t field(metrics_field *f, size_t n, const char *name, double v, const char *unit)
{
    assert(n < METRICS_MAX_FIELDS);
    snprintf(f[n].name, sizeof f[n].name, "%s", name);
    f[n].value = v;
    f[n].unit = unit;
    return n + 1;
}

/* A distribution's five figures, scaled from ns to the unit's size. */
static size_t dist_fields(metrics_field *f, size_t n, const char *name, const metrics_dist *d,
                          double ns_per_unit, const char *unit)
{
    const char *sfx[] = { "mean", "p50", "p90", "p99", "max" };
    const double v[] = { d->mean, d->p50, d->p90, d->p99, d->max };
    for (int i = 0; i < 5; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s_%s", name, sfx[i]);
        n = field(f, n, key, v[i] / ns_per_unit, unit);
    }
    return n;
}

/* The semantic cache's fields, only when the run had one. */
static size_t semcache_fields(metrics_field *f, size_t n, const metrics_summary *s)
{
    const metrics_semcache *c = &s->semcache;
    if (c->lookups == 0)
        return n;
    n = field(f, n, "semcache_lookups", (double)c->lookups, "requests");
    n = field(f, n, "semcache_hits", (double)c->hits, "requests");
    n = field(f, n, "semcache_hit_ratio", s->semcache_hit_ratio, "fraction");
    n = field(f, n, "semcache_false_hits", (double)c->false_hits, "requests");
    n = field(f, n, "semcache_capacity_misses", (double)c->capacity_misses, "requests");
    n = field(f, n, "semcache_evicted", (double)c->evicted, "entries");
    n = field(f, n, "semcache_held", c->held_bytes, "bytes");
    n = field(f, n, "semcache_miss_added_mean", c->misses ? c->miss_delay_ns / 1e6 / (double)c->misses : 0, "ms");
    n = field(f, n, "semcache_hit_latency_mean", c->hits ? c->hit_latency_ns / 1e6 / (double)c->hits : 0, "ms");
    n = field(f, n, "semcache_gpu_s_saved", s->semcache_gpu_s_saved, "GPU-s");
    n = field(f, n, "semcache_usd_saved", s->semcache_usd_saved, "USD");
    return n;
}

size_t metrics_summary_fields(const metrics_summary *s, metrics_field *f)
{
    size_t n = 0;
    n = field(f, n, "requests", (double)s->requests, "requests");
    n = field(f, n, "completed", (double)s->completed, "requests");
    n = field(f, n, "rejected", (double)s->rejected, "requests");
    n = field(f, n, "unfinished", (double)s->unfinished, "requests");
    n = field(f, n, "duration", s->duration_ns / 1e9, "s");
    n = field(f, n, "input_tokens", (double)s->input_tokens, "tokens");
    n = field(f, n, "output_tokens", (double)s->output_tokens, "tokens");
    n = field(f, n, "prefix_hit_tokens", (double)s->prefix_hit_tokens, "tokens");
    n = field(f, n, "prefix_hit_ratio", s->prefix_hit_ratio, "fraction");
    n = field(f, n, "recomputed_tokens", (double)s->recomputed_tokens, "tokens");
    n = field(f, n, "preemptions", (double)s->preemptions, "count");
    if (s->truncated)
        n = field(f, n, "truncated", (double)s->truncated, "requests");
    if (s->swap_outs)
        n = field(f, n, "swap_outs", (double)s->swap_outs, "count");
    if (s->spec_verify_seqs) {
        n = field(f, n, "spec_verify_steps", (double)s->spec_verify_steps, "count");
        n = field(f, n, "spec_draft_tokens", (double)s->spec_draft_tokens, "tokens");
        n = field(f, n, "spec_accepted_tokens", (double)s->spec_accepted_tokens, "tokens");
        n = field(f, n, "spec_mean_accepted_length", s->spec_mean_accepted_length, "tokens");
    }
    n = field(f, n, "rerouted", (double)s->rerouted, "requests");
    n = field(f, n, "migrations", (double)s->migrations, "requests");
    n = field(f, n, "migrated_tokens", (double)s->migrated_tokens, "tokens");
    for (int t = 0; t < METRICS_TIERS; t++) {
        char key[48];
        snprintf(key, sizeof key, "tier%d_hit_ratio", t);
        n = field(f, n, key, s->tier_hit_ratio[t], "fraction");
    }
    n = field(f, n, "tier_recomputed_tokens", (double)s->tier_recomputed_tokens, "tokens");
    n = field(f, n, "ttft_fetch_mean", s->ttft_fetch_mean_ns / 1e6, "ms");
    n = field(f, n, "kv_handoffs", (double)s->handoffs, "requests");
    n = dist_fields(f, n, "kv_transfer", &s->kv_transfer_ns, 1e6, "ms");
    n = field(f, n, "gpu_stall", s->stall_s, "GPU-s");
    if (s->sparse_pages_selected) {
        n = field(f, n, "sparse_pages_selected", (double)s->sparse_pages_selected, "pages");
        n = field(f, n, "sparse_pages_resident", (double)s->sparse_pages_resident, "pages");
        n = field(f, n, "sparse_pages_prefetched", (double)s->sparse_pages_prefetched, "pages");
        n = field(f, n, "sparse_pages_faulted", (double)s->sparse_pages_faulted, "pages");
        n = field(f, n, "sparse_stall", s->sparse_stall_s, "GPU-s");
        n = field(f, n, "sparse_bytes_prefetched", s->sparse_bytes_prefetched, "bytes");
        n = field(f, n, "sparse_bytes_faulted", s->sparse_bytes_faulted, "bytes");
    }
    if (s->dequant_s > 0)
        n = field(f, n, "kv_dequant", s->dequant_s, "GPU-s");
    n = semcache_fields(f, n, s);
    n = field(f, n, "trace_block_reuse", s->trace_block_reuse, "fraction");
    n = field(f, n, "retention_dropped_tokens", (double)s->retention_dropped_tokens, "tokens");
    n = field(f, n, "retention_offloaded_tokens", (double)s->retention_offloaded_tokens, "tokens");
    n = field(f, n, "in_storage_attention_tokens", (double)s->in_storage_tokens, "tokens");
    n = field(f, n, "throughput", s->throughput_rps, "req/s");
    n = field(f, n, "token_throughput", s->throughput_tok_s, "tokens/s");
    n = field(f, n, "output_token_throughput", s->output_tok_s, "tokens/s");
    n = dist_fields(f, n, "ttft", &s->ttft_ns, 1e6, "ms");
    n = dist_fields(f, n, "itl", &s->itl_ns, 1e6, "ms");
    n = dist_fields(f, n, "tpot", &s->tpot_ns, 1e6, "ms");
    n = dist_fields(f, n, "e2e", &s->e2e_ns, 1e9, "s");
    n = dist_fields(f, n, "queue", &s->queue_ns, 1e6, "ms");
    n = field(f, n, "goodput", s->goodput_rps, "req/s");
    n = field(f, n, "slo_attainment", s->slo_attainment, "fraction");
    n = field(f, n, "busy_utilization", s->busy_util, "fraction");
    n = field(f, n, "effective_utilization", s->effective_util, "fraction");
    n = field(f, n, "mbu", s->mbu, "fraction");
    for (int c = 0; c < WASTE_CAUSE_COUNT; c++) {
        char key[48];
        snprintf(key, sizeof key, "wasted_gpu_s_%s", metrics_waste_names[c]);
        n = field(f, n, key, s->gpu_s_wasted[c], "GPU-s");
    }
    n = field(f, n, "gpus", s->gpus, "GPUs");
    n = field(f, n, "kv_blocks_per_replica", s->kv_blocks_per_replica, "blocks");
    n = field(f, n, "kv_block_bytes", s->kv_block_bytes, "bytes");
    n = field(f, n, "cost", s->cost_usd, "USD");
    n = field(f, n, "usd_per_m_tokens", s->usd_per_m_tokens, "USD/Mtokens");
    n = field(f, n, "usd_per_m_output_tokens", s->usd_per_m_output_tokens, "USD/Mtokens");
    n = field(f, n, "steady_state", s->steady.steady, "boolean");
    n = field(f, n, "warmup", (s->steady.warmup_end_ns - s->steady.first_arrival_ns) / 1e9, "s");
    n = field(f, n, "backlog_trend", s->steady.backlog_trend_per_s, "requests/s");
    n = field(f, n, "backlog_at_end", (double)s->steady.backlog_at_end, "requests");
    return n;
}

static int check_request(const metrics_req *r, kt_err *err)
{
    if (r->outcome != REQ_COMPLETED)
        return 0;
    const char *bad = NULL;
    if (!(r->arrival_ns <= r->first_sched_ns && r->first_sched_ns <= r->first_token_ns &&
          r->first_token_ns <= r->finish_ns))
        bad = "times out of order";
    else if (r->n_gaps != r->output_tokens - 1)
        bad = "gap count is not output tokens - 1";
    else if (r->gap_sum_ns != r->finish_ns - r->first_token_ns)
        bad = "gaps do not add up to the decode time";
    if (!bad && r->gaps) {
        int64_t sum = 0;
        for (int64_t i = 0; i < r->n_gaps; i++)
            sum += r->gaps[i];
        if (sum != r->gap_sum_ns)
            bad = "stored gaps do not add up";
    }
    if (bad) {
        KT_ERROR(err, NULL, 0, 0, "metrics: request %lld: %s", (long long)r->id, bad);
        return -1;
    }
    return 0;
}

int metrics_replica_check(const metrics_replica *r, int replica, kt_err *err)
{
    if (r->sparse_pages_selected == r->sparse_pages_resident + r->sparse_pages_prefetched + r->sparse_pages_faulted &&
        r->sparse_pages_resident >= 0 && r->sparse_pages_prefetched >= 0 && r->sparse_pages_faulted >= 0 &&
        r->sparse_stall_ns <= r->stall_ns)
        return 0;
    KT_ERROR(err, NULL, 0, 0, "replica %d: %lld sparse pages selected but %lld resident + %lld prefetched + %lld "
             "faulted, or sparse stall %lld ns beyond the stall %lld ns", replica, (long long)r->sparse_pages_selected,
             (long long)r->sparse_pages_resident, (long long)r->sparse_pages_prefetched,
             (long long)r->sparse_pages_faulted, (long long)r->sparse_stall_ns, (long long)r->stall_ns);
    return -1;
}

int metrics_check(const metrics *m, kt_err *err)
{
    for (size_t i = 0; i < m->n_reqs; i++)
        if (check_request(&m->reqs[i], err) < 0)
            return -1;
    return 0;
}
