/* report.h — a run's summary on the console (a table with units) or as JSON. */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdio.h>

#include "metrics.h"
#include "runner.h"
#include "scenario.h"
#include "sim.h"

/* The layout of report_print_json's object: 1 had summary figures all as
 * reals and none of the keys version 2 added (schema_version,
 * program_version, tiers, replicas, trace). */
#define REPORT_JSON_SCHEMA_VERSION 2

void report_print(FILE *out, const scenario *sc, const metrics_summary *s, const sim_stats *st);
/* One JSON object: the schema and program versions, scenario identity,
 * run_id (null when not stored), every summary figure (counts as integers,
 * figures that do not apply to the run as null) with its unit, the lower
 * tiers by name, per-replica figures (when res->replicas), the trace read
 * (null for a synthetic workload) with its skipped-line count, run stats. */
void report_print_json(FILE *out, const scenario *sc, const runner_result *res);

/* A summary figure of the given unit as JSON (a new reference): null when
 * not a number, an integer for counts (count, requests, tokens, blocks,
 * GPUs, bytes), true/false for a boolean, else a real. */
struct json_t *report_value_json(double value, const char *unit);

#endif
