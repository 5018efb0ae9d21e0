/* plan_json.h — a capacity plan's answer as one JSON object (kvtier plan --json). */
#ifndef KT_PLAN_JSON_H
#define KT_PLAN_JSON_H

#include <stdio.h>

#include "plan.h"

/* The layout of plan_report_json's object. */
#define PLAN_JSON_SCHEMA_VERSION 1

/* Writes the plan p and its results res (p->n_cand of them) to out: the
 * schema and program versions, the target and SLOs, then per candidate its
 * rank, fleet, cost, operating point, probes and savings against the
 * baseline; counts are integers, what a candidate lacks (an infeasible
 * one's fleet, savings without a baseline) null. plan_id is the stored
 * plan's id, 0 when not stored (null). */
void plan_report_json(FILE *out, const plan_cfg *p, const plan_result *res, long long plan_id,
                      const char *program_version);

#endif
