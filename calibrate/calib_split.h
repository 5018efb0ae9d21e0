/* calib_split.h — the split-K grid of the paged decode kernel: how many context ranges per (sequence, KV head) fill one wave of the GPU at the kernel's occupancy. */
#ifndef KT_CALIB_SPLIT_H
#define KT_CALIB_SPLIT_H

/* Splits of a decode step over batch sequences of kv_heads KV heads, the
 * longest max_ctx_tokens long, for a kernel of which blocks_per_sm blocks
 * fit on each of sm_count SMs (cudaOccupancyMaxActiveBlocksPerMultiprocessor).
 * The grid of batch × kv_heads × splits blocks stays within one wave
 * (blocks_per_sm × sm_count; a second, partial wave would idle most SMs
 * while it runs) and each split is a whole number of tile_tokens tiles:
 * splits = floor(wave / (batch × kv_heads)), at least 1; then
 * tokens_per_split = ceil(max_ctx_tokens / splits) rounded up to a tile,
 * and splits = ceil(max_ctx_tokens / tokens_per_split), at least 1.
 * Writes *tokens_per_split; returns the splits. Non-positive inputs count
 * as 1 (a context of 0 tokens as one tile). */
int calib_split_plan(int batch, int kv_heads, int max_ctx_tokens, int blocks_per_sm, int sm_count,
                     int tile_tokens, int *tokens_per_split);

#endif
