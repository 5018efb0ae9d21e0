/* export.h — a stored run's per-request, per-replica and per-tier tables written as CSV files. */
#ifndef KT_EXPORT_H
#define KT_EXPORT_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* Writes run_id's rows of the requests, replicas and tiers tables to
 * dir/requests.csv, dir/replicas.csv and dir/tiers.csv (dir is created when
 * missing). RFC 4180 CSV: a header row of the database's column names,
 * which carry their units (_ns, _bytes, _blocks, _tokens, _Bps); a NULL is an
 * empty field; BLOB columns (itl_gaps_ns) are left out. Each file is made
 * whole or not at all (outfile). Returns 0, or -1 with err. */
int export_run_csv(store *st, int64_t run_id, const char *dir, kt_err *err);

#endif
