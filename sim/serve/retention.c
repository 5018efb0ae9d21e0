/* retention.c — KV retention (SnapKV-style): once a prompt is in, HBM keeps its last window of tokens and a share of the older ones. */
#include "serve_internal.h"

#include <math.h>

/* The prompt is in: keep its last window of tokens and a share of the
 * older ones in HBM; drop or offload the rest. */
void retention_apply(replica *r, serve_req *q)
{
    int64_t prompt = q->rec.prompt_tokens, window = r->cfg.retention_window_tokens;
    if (prompt <= window || q->retention_dropped_tokens)
        return;
    int64_t keep = window + (int64_t)floor(r->cfg.retention_keep_fraction * (double)(prompt - window));
    int64_t gone = prompt - keep;
    q->retention_dropped_tokens = gone;
    kv_seq_shrink(r->kv, &q->seq, kv_token_blocks_for(r->kv, serve_req_kv_tokens(q)));
    if (r->cfg.retention_offload && r->tiers && r->tiers->n) {
        /* Written down once; not prefix content, so not findable by lookups. */
        tier *t = &r->tiers->tiers[0];
        t->pending_in += kv_token_blocks_for(r->kv, gone);
        q->rec.retention_offloaded_tokens += gone;
    } else {
        q->rec.retention_dropped_tokens += gone;
    }
}
