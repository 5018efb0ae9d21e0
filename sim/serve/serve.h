/* serve.h — the serving layer's interface: replicas and their scheduler, KV fetch from tiers, prefill/decode handoff, failures, routers. */
#ifndef KT_SERVE_H
#define KT_SERVE_H

#include "admission.h"
#include "failure.h"
#include "fetch.h"
#include "handoff.h"
#include "replica.h"
#include "router.h"
#include "semcache.h"

#endif
