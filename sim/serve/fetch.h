/* fetch.h — KV from the lower tiers: a replica's tiers, speculative prefetch, prefixes joining the HBM cache. */
#ifndef KT_FETCH_H
#define KT_FETCH_H

#include "replica.h"

/* Gives the replica lower KV tiers (it takes ownership) and sets its HBM
 * pool's offload hooks. */
void replica_set_tiers(replica *r, tier_set *ts);
/* Starts moving the cached blocks of content's first tokens that sit only
 * in lower tiers into the HBM prefix cache (speculative prefetch). Returns
 * the record index, or -1 when nothing is to be fetched or no record is free. */
int replica_prefetch(replica *r, const kv_content *c, int64_t tokens);

/* The first n_blocks blocks of content join r's HBM prefix cache (their KV
 * has arrived from elsewhere: a prefetch, a migrating session). */
void replica_cache_prefix(replica *r, const kv_content *c, int64_t n_blocks);

#endif
