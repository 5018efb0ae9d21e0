/* plan_json.c — a capacity plan's answer as JSON: candidates, their fleets and costs, probes and savings. */
#include "plan_json.h"

#include <jansson.h>

/* x when cond holds, else null. */
static json_t *real_if(int cond, double x) { return cond ? json_real(x) : json_null(); }
static json_t *int_if(int cond, long long x) { return cond ? json_integer(x) : json_null(); }

static json_t *probe_json(const plan_probe *pr)
{
    json_t *o = json_object();
    json_object_set_new(o, "knob", json_real(pr->knob));
    json_object_set_new(o, "rate_rps", json_real(pr->rps));
    json_object_set_new(o, "sessions", int_if(pr->sessions > 0, pr->sessions));
    json_object_set_new(o, "scored_requests", json_integer((json_int_t)pr->scored));
    json_object_set_new(o, "ttft_p99_ms", json_real(pr->ttft_p99_ms));
    json_object_set_new(o, "itl_p99_ms", json_real(pr->itl_p99_ms));
    json_object_set_new(o, "steady", json_boolean(pr->steady));
    json_object_set_new(o, "meets_slo", json_boolean(pr->meets));
    return o;
}

/* Savings of candidate c against the baseline b, or null (no baseline, c is it, or either infeasible). */
static json_t *savings_json(const plan_cfg *p, const plan_result *res, int c)
{
    int b = p->baseline;
    if (b < 0 || b == c || !res[b].feasible || !res[c].feasible)
        return json_null();
    plan_savings sv;
    plan_savings_of(&res[c], &res[b], &sv);
    json_t *o = json_object();
    json_object_set_new(o, "gpus_saved", json_integer(sv.gpus_saved));
    json_object_set_new(o, "fewer_gpus_fraction", json_real(sv.fewer_gpus_frac));
    json_object_set_new(o, "more_throughput_per_gpu_fraction", json_real(sv.more_throughput_per_gpu_frac));
    json_object_set_new(o, "usd_per_year_saved", json_real(sv.usd_per_year_saved));
    json_object_set_new(o, "usd_capex_saved", json_real(sv.usd_capex_saved));
    return o;
}

static json_t *candidate_json(const plan_cfg *p, const plan_result *res, int c)
{
    const plan_result *r = &res[c];
    int ok = r->feasible;
    json_t *o = json_object(), *probes = json_array();
    for (int i = 0; i < r->n_probes; i++)
        json_array_append_new(probes, probe_json(&r->probes[i]));
    json_object_set_new(o, "name", json_string(p->cand[c].name));
    json_object_set_new(o, "rank", int_if(ok, r->rank));
    json_object_set_new(o, "feasible", json_boolean(ok));
    json_object_set_new(o, "hardware", json_string(r->hardware));
    json_object_set_new(o, "gpus_per_unit", json_integer(r->gpus_per_unit));
    json_object_set_new(o, "max_rps_per_unit", json_real(r->max_rps_per_unit));
    json_object_set_new(o, "units", int_if(ok, r->units));
    json_object_set_new(o, "gpus", int_if(ok, r->gpus));
    json_object_set_new(o, "backed_off_units", int_if(ok, r->backed_off));
    json_object_set_new(o, "usd_per_year", real_if(ok, r->usd_per_year));
    json_object_set_new(o, "usd_capex", real_if(ok, r->usd_capex));
    json_object_set_new(o, "usd_per_m_tokens", real_if(ok, r->usd_per_m_tokens));
    json_object_set_new(o, "operating_point", ok ? probe_json(&r->op) : json_null());
    json_object_set_new(o, "margin", real_if(ok, r->margin));
    json_object_set_new(o, "probes", probes);
    json_object_set_new(o, "savings", savings_json(p, res, c));
    return o;
}

void plan_report_json(FILE *out, const plan_cfg *p, const plan_result *res, long long plan_id,
                      const char *program_version)
{
    json_t *o = json_object(), *cands = json_array(), *slo = json_object();
    int best = -1;
    for (int c = 0; c < p->n_cand; c++) {
        json_array_append_new(cands, candidate_json(p, res, c));
        best = res[c].rank == 1 ? c : best;
    }
    json_object_set_new(slo, "ttft_p99_ms", real_if(p->slo_ttft_p99_ns > 0, p->slo_ttft_p99_ns / 1e6));
    json_object_set_new(slo, "itl_p99_ms", real_if(p->slo_itl_p99_ns > 0, p->slo_itl_p99_ns / 1e6));
    json_object_set_new(o, "schema_version", json_integer(PLAN_JSON_SCHEMA_VERSION));
    json_object_set_new(o, "program_version", json_string(program_version));
    json_object_set_new(o, "plan", json_string(p->name));
    json_object_set_new(o, "plan_id", int_if(plan_id > 0, plan_id));
    json_object_set_new(o, "target_rps", json_real(p->target_rps));
    json_object_set_new(o, "slo", slo);
    json_object_set_new(o, "baseline", p->baseline >= 0 ? json_string(p->cand[p->baseline].name) : json_null());
    json_object_set_new(o, "cheapest", best >= 0 ? json_string(p->cand[best].name) : json_null());
    json_object_set_new(o, "candidates", cands);
    json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
}
