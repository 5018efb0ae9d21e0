/* failure.h — a replica's node failing, and the requests it held moving elsewhere. */
#ifndef KT_FAILURE_H
#define KT_FAILURE_H

#include "replica.h"

/* The replica's node fails now: its HBM (and node-local tiers) are gone.
 * Every request it holds is handed to on_lost (with its KV released and
 * rec.reroutes counted), except those still waiting for a tier's transfer,
 * which follow when it ends; KV it was sending or receiving between
 * prefill and decode replicas is re-routed when that transfer ends. */
void replica_fail(replica *r, serve_done_fn on_lost);
#endif
