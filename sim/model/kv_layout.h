/* kv_layout.h — the KV cache's geometry: bytes per token, per block and per context, on one GPU and on a replica, from the model card, the parallel layout, the KV dtype and the block size. */
#ifndef KT_KV_LAYOUT_H
#define KT_KV_LAYOUT_H

#include <stdint.h>

#include "cost.h"
#include "dtype.h"
#include "model.h"

/* Sub-byte formats carry an fp16 scale and an fp16 zero point per group of
 * quant_group elements. */
#define KV_LAYOUT_SCALE_BYTES 4.0
/* Elements sharing one scale in HBM (tiers set their own quant_group). */
#define KV_LAYOUT_HBM_QUANT_GROUP 32
/* Window groups a layout tracks: every attention group of the cost model. */
#define KV_LAYOUT_MAX_WINDOWS COST_MAX_ATTN_GROUPS

/* The head-share rule. KV heads of a GQA/MHA layer that one GPU of a
 * tensor-parallel group of tp holds: ceil(kv_heads / tp), at least one
 * (heads are replicated when tp > kv_heads). */
int kv_layout_kv_heads_gpu(const model_card *m, int tp);
/* The same for layer `layer`: MLA's latent serves every head and sits
 * whole on every GPU, so an MLA layer counts all kv_heads. */
int kv_layout_layer_heads_gpu(const model_card *m, int layer, int tp);
/* Fraction of layer's KV one GPU of the tp group holds:
 * kv_layout_layer_heads_gpu / kv_heads (exactly 1/tp when tp divides
 * kv_heads, 1 for MLA). */
double kv_layout_layer_share(const model_card *m, int layer, int tp);
/* KV bytes one token adds to layer on one GPU of the tp group, before
 * pipeline and context parallelism: per-layer bytes × heads on the GPU /
 * kv_heads (in that order, exact for whole-byte sizes). */
double kv_layout_layer_bytes_token_gpu(const model_card *m, int layer, kt_dtype kv, int tp);

/* Scale metadata per element: KV_LAYOUT_SCALE_BYTES / quant_group for
 * sub-byte dtypes (int4, int2), 0 otherwise. */
double kv_layout_scale_bytes_elem(kt_dtype dtype, int quant_group);
/* Bytes per stored element: dtype_bytes plus its scale metadata. */
double kv_layout_elem_bytes(kt_dtype dtype, int quant_group);
/* The packed layout of sub-byte KV (int4, int2; scale counts above). The
 * unit is a run: the elements of one block that lie together in memory,
 * numbered in memory order (a whole block when the block is outermost; K or
 * V of a block when K and V are separate pools). A run of n elements keeps
 * its packed data first, 8 / bits elements a byte, element e in byte
 * e / (8 / bits) at bits (e mod (8 / bits)) × bits upward (the first
 * element in the low bits: int4 element 2i in bits 0..3, 2i+1 in 4..7);
 * then its scale region, group g = e / quant_group's fp16 scale (bytes 0-1)
 * and fp16 zero (bytes 2-3) at n × bits / 8 + 4g. With quant_group and
 * 8 / bits dividing n, a run takes n × kv_layout_elem_bytes bytes, as every
 * byte count above. */
/* Elements one byte holds: 8 / bits for sub-byte dtypes, 0 for whole-byte ones. */
int kv_layout_packed_per_byte(kt_dtype dtype);
/* Which of a byte's elements starts at bit (0 .. 8 / bits − 1), or -1 when
 * no element starts there. */
int kv_layout_packed_elem_of_bit(kt_dtype dtype, int bit);
/* Bytes of a run of run_elems elements: packed data, then scales. */
uint64_t kv_layout_packed_data_bytes(kt_dtype dtype, uint64_t run_elems);
uint64_t kv_layout_packed_run_bytes(kt_dtype dtype, int quant_group, uint64_t run_elems);
/* Byte offset in its run of element e, and its lowest bit in that byte
 * (*bit, the caller's). */
uint64_t kv_layout_packed_elem_offset(kt_dtype dtype, uint64_t e, int *bit);
/* Byte offset in its run of the scale entry of element e's group. */
uint64_t kv_layout_packed_scale_offset(kt_dtype dtype, int quant_group, uint64_t run_elems, uint64_t e);
/* What byte offset of a run holds: data (scale 0: elements first_elem ..
 * first_elem + elems − 1) or a scale entry (scale 1: group first_elem /
 * quant_group, its byte entry_byte of KV_LAYOUT_SCALE_BYTES). */
typedef struct kv_layout_packed_at {
    int scale;
    uint64_t first_elem;
    int elems;
    int entry_byte;
} kv_layout_packed_at;
/* Fills at (the caller's) for offset (< kv_layout_packed_run_bytes). */
void kv_layout_packed_locate(kt_dtype dtype, int quant_group, uint64_t run_elems, uint64_t offset,
                             kv_layout_packed_at *at);
/* One block of block_tokens tokens of the model's paged layers that store
 * KV, held once (as a lower tier stores it: no tensor-parallel split or
 * replication) at dtype, or at a layer's own dtype where it has one
 * (kv_plan), scale metadata included. */
double kv_layout_stored_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens);

/* KV bytes one token takes on one GPU over the paged layers
 * (model_layer_paged): each attention group's per-GPU bytes × its layer
 * count × the largest pipeline stage's share of the layers / cp. No scale
 * metadata. */
double kv_layout_paged_bytes_token_gpu(const cost_model *cm);
/* The windowed layers left out of kv_layout_paged_bytes_token_gpu, by
 * group: writes up to max (window tokens, bytes per token on one GPU)
 * pairs and returns the count. */
int kv_layout_window_groups(const cost_model *cm, int64_t *window_tokens, double *bytes_token_gpu, int max);
/* KV bytes a context of tokens tokens holds on one GPU: the paged layers'
 * share of every token plus each window's share of min(tokens, window). */
double kv_layout_context_bytes_gpu(const cost_model *cm, int64_t tokens);

/* The geometry of one replica's KV, computed once.
 * Invariants: bytes_token_gpu > 0; block_bytes_gpu == bytes_token_gpu ×
 * block_tokens when no paged layer is held in a sub-byte dtype, and that
 * plus scale_bytes_block_gpu otherwise; window_ratio[g] == window group g's bytes per token /
 * bytes_token_gpu, g < n_windows <= KV_LAYOUT_MAX_WINDOWS;
 * block_bytes_replica == block_bytes_gpu × gpus (== block_data_bytes_replica
 * for whole-byte dtypes). */
typedef struct kv_layout {
    const model_card *m;        /* not owned */
    kt_dtype dtype;             /* the served dtype; layers may hold their own (kv_plan) */
    int quant_group;            /* elements per scale (sub-byte dtypes) */
    int block_tokens;
    int gpus;                   /* tp × pp × cp */
    double bytes_token_gpu;     /* paged layers that store KV, one GPU, data only */
    double scale_bytes_block_gpu;  /* a block's scale metadata on one GPU (0 for whole-byte dtypes) */
    double block_bytes_gpu;     /* a block on one GPU, scales included: what HBM sizing divides by */
    double block_data_bytes_replica;  /* a block's data over every GPU of the replica (no scales) */
    double block_bytes_replica; /* a block over every GPU of the replica, scales included */
    double stored_block_bytes;  /* a block held once at dtype, scales included (kv_layout_stored_block_bytes) */
    int n_windows;
    int64_t window_tokens[KV_LAYOUT_MAX_WINDOWS];
    double window_ratio[KV_LAYOUT_MAX_WINDOWS];  /* window blocks per token block, per token */
} kv_layout;

/* Fills l for the replica cm describes (its model, layout and KV dtype)
 * with blocks of block_tokens tokens and quant_group elements per scale.
 * l keeps cm's model pointer, not cm: the model must outlive l. */
void kv_layout_init(kv_layout *l, const cost_model *cm, int quant_group, int block_tokens);

#endif
