/* plan_store.h — a plan's results in the results database: the plan, every candidate's result and every probe, in one transaction. */
#ifndef KT_PLAN_STORE_H
#define KT_PLAN_STORE_H

#include <stdint.h>

#include "err.h"
#include "plan.h"
#include "store.h"

/* Writes a plan — its file, every candidate's result (res has p->n_cand
 * entries) and every probe — in a single transaction. Borrows everything.
 * Returns the new plan id (> 0), or -1 with err. */
int64_t plan_store_write(store *st, const plan_cfg *p, const plan_result *res, kt_err *err);

#endif
