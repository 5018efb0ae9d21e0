/* calib_split.c — sizes the paged decode kernel's split-K grid from its occupancy (plain C, so the arithmetic is tested without a GPU). */
#include "calib_split.h"

static int at_least_one(int v) { return v > 0 ? v : 1; }

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

int calib_split_plan(int batch, int kv_heads, int max_ctx_tokens, int blocks_per_sm, int sm_count,
                     int tile_tokens, int *tokens_per_split)
{
    const long long wave = (long long)at_least_one(blocks_per_sm) * at_least_one(sm_count);
    const long long base = (long long)at_least_one(batch) * at_least_one(kv_heads);
    const int tile = at_least_one(tile_tokens), ctx = at_least_one(max_ctx_tokens);
    int splits = base >= wave ? 1 : (int)(wave / base);
    int tps = ceil_div(ceil_div(ctx, splits), tile) * tile;
    *tokens_per_split = tps;
    return ceil_div(ctx, tps);
}
