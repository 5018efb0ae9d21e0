/* serve.h — the serving layer's interface: replicas and their scheduler, KV fetch from tiers, prefill/decode handoff, failures. */
#ifndef KT_SERVE_H
#define KT_SERVE_H

#include "failure.h"
#include "fetch.h"
#include "handoff.h"
#include "replica.h"

#endif
