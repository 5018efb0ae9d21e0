/* report.h — a run's summary on the console (a table with units) or as JSON. */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdio.h>

#include "metrics.h"
#include "scenario.h"
#include "sim.h"

void report_print(FILE *out, const scenario *sc, const metrics_summary *s, const sim_stats *st);
/* One JSON object: scenario identity, every summary field (name_unit keys), run stats. */
void report_print_json(FILE *out, const scenario *sc, const metrics_summary *s, const sim_stats *st,
                       long long run_id);

#endif
