/* fetch_policy.c — the fetch policies' decisions, one switch over every policy each. */
#include "fetch_policy.h"

#include <stdlib.h>

const char *const tier_fetch_names[FETCH_KIND_COUNT + 1] = { "demand", "layerwise", "prefetch", "predicted", NULL };

int fetch_policy_prefetch_on_arrival(tier_fetch p)
{
    switch (p) {
    case FETCH_DEMAND:
    case FETCH_LAYERWISE:
        return 0;
    case FETCH_PREFETCH:
    case FETCH_PREDICTED:
        return 1;
    case FETCH_KIND_COUNT:
        break;
    }
    abort();                    /* not a policy: conf_enum admits only the names */
}

int fetch_policy_overlaps_compute(tier_fetch p)
{
    switch (p) {
    case FETCH_LAYERWISE:
        return 1;
    case FETCH_DEMAND:
    case FETCH_PREFETCH:
    case FETCH_PREDICTED:
        return 0;
    case FETCH_KIND_COUNT:
        break;
    }
    abort();                    /* not a policy: conf_enum admits only the names */
}

int fetch_policy_predicts(tier_fetch p)
{
    switch (p) {
    case FETCH_PREDICTED:
        return 1;
    case FETCH_DEMAND:
    case FETCH_LAYERWISE:
    case FETCH_PREFETCH:
        return 0;
    case FETCH_KIND_COUNT:
        break;
    }
    abort();                    /* not a policy: conf_enum admits only the names */
}
