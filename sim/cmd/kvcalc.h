/* kvcalc.h — the `kvtier kv` calculator: KV bytes by layer kind, weights against KV, how many tokens fit, SRAM tiles, paging overheads and Jenga pages. */
#ifndef KT_KVCALC_H
#define KT_KVCALC_H

#include <stdint.h>
#include <stdio.h>

#include "dtype.h"
#include "hw.h"
#include "model.h"

/* What the calculator works out for one model, context, KV dtype and GPU. */
typedef struct kvcalc_result {
    double kv_bytes_per_token;          /* all layers, windows ignored */
    double kv_bytes_per_token_kind[ATTN_KIND_COUNT]; /* per layer kind, summed over its layers */
    int layers_of_kind[ATTN_KIND_COUNT];
    double kv_bytes_context;            /* for ctx_tokens, windows applied */
    double kv_bytes_context_kind[ATTN_KIND_COUNT];
    double weight_bytes;                /* whole model */
    double weight_bytes_per_gpu;        /* / tp */
    double hbm_bytes_per_gpu;           /* 0 when no GPU profile given */
    double kv_budget_bytes_per_gpu;     /* hbm × hbm_fraction − weights/tp − reserve; may be < 0 */
    int64_t max_tokens_per_gpu_group;   /* longest single context whose KV fits the tp GPUs' budget */
} kvcalc_result;

/* Fills r. gpu may be NULL (then the memory figures are 0). The KV of a
 * context is split over tp GPUs (KV heads divided among them). */
void kvcalc_compute(const model_card *m, const hw_profile *gpu, int64_t ctx_tokens, kt_dtype kv,
                    int tp, double hbm_fraction, double reserve_bytes, kvcalc_result *r);

/* ------------------------------------------------------------------------ */
/* SRAM tiles (FlashAttention-style kernels)                                 */

/* Bytes of one K+V tile in shared memory:
 * tile_tokens × kv_heads × head_dim × elem_bytes × 2 (K and V). */
double kvcalc_tile_bytes(int64_t tile_tokens, int kv_heads, int head_dim, double elem_bytes);
/* The same for layer l of m on one GPU of a tp group, holding tile_dtype
 * elements: ceil(kv_heads / tp) heads for GQA/MHA layers; for an MLA layer
 * tile_tokens × (kv_lora_rank + qk_rope_dim) × bytes (one latent, no K/V
 * split, not split by tp). */
double kvcalc_layer_tile_bytes(const model_card *m, int layer, int tp, int64_t tile_tokens, kt_dtype tile_dtype);
/* What a KV tile holds once dequantized for the matrix units: kv itself when
 * it is fp32, fp16 or bf16; bf16 for fp8, int8 and int4. */
kt_dtype kvcalc_tile_dtype(kt_dtype kv);

/* ------------------------------------------------------------------------ */
/* Paging: page-table metadata, last-block slack, contiguous reservation     */

/* Who a page-table entry serves: one table (one block id per page of
 * tokens) for all layers, as kvtier's kv manager and vLLM keep it, or a
 * table per layer (per-layer-group allocators, layer-wise offload). */
typedef enum { KVCALC_PAGES_SHARED, KVCALC_PAGES_PER_LAYER } kvcalc_page_scope;

/* Metadata one page costs in kvtier's kv manager (sim/kv.c), the default of
 * --page-meta-bytes: the block id in the sequence's table (uint32), the ref
 * count (uint32), the prefix hash (uint64), the LRU free-list links (two
 * uint32) and the prefix table, kept at least twice the block count, of
 * (uint64 key + uint32 value) slots. */
#define KVCALC_META_TABLE_ENTRY_BYTES 4
#define KVCALC_META_REF_BYTES 4
#define KVCALC_META_HASH_BYTES 8
#define KVCALC_META_LRU_BYTES 8
#define KVCALC_META_PREFIX_SLOTS_PER_PAGE 2
#define KVCALC_META_PREFIX_SLOT_BYTES 12
#define KVCALC_DEFAULT_PAGE_META_BYTES                                                                      \
    (KVCALC_META_TABLE_ENTRY_BYTES + KVCALC_META_REF_BYTES + KVCALC_META_HASH_BYTES + KVCALC_META_LRU_BYTES + \
     KVCALC_META_PREFIX_SLOTS_PER_PAGE * KVCALC_META_PREFIX_SLOT_BYTES)
/* Page metadata should stay below this share of the KV it maps. */
#define KVCALC_PAGE_META_TARGET_FRAC 0.02

/* Paging figures for one context on one GPU of a tp group. */
typedef struct kvcalc_paging {
    int64_t page_tokens;
    int64_t pages;              /* page-table entries: ceil(ctx/P) shared, or Σ over layers ceil(held/P) */
    double meta_bytes;          /* pages × metadata per page */
    double kv_bytes;            /* exact KV (windows applied) */
    double page_bytes;          /* bytes of the pages each layer holds: Σ ceil(held/P) × P × bytes per token */
    double slack_bytes;         /* page_bytes − kv_bytes: the unused tail of each layer's last page */
    int64_t slack_tokens;       /* unused slots in the last page of a layer holding the whole context */
    double meta_frac;           /* meta_bytes / page_bytes */
} kvcalc_paging;

/* Fills out for ctx_tokens and pages of page_tokens (>= 1). */
void kvcalc_paging_compute(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp, int64_t page_tokens,
                           double meta_bytes_per_page, kvcalc_page_scope scope, kvcalc_paging *out);

/* count requests of tokens tokens each: one bin of a length distribution. */
typedef struct kvcalc_length_bin {
    int64_t tokens;
    int64_t count;
} kvcalc_length_bin;

/* Contiguous pre-allocation (every request reserves max_tokens of KV) against
 * paging (whole pages of what it holds), per GPU of a tp group. */
typedef struct kvcalc_prealloc {
    int64_t requests;
    double kv_bytes;            /* Σ exact KV */
    double contiguous_bytes;    /* Σ KV(max_tokens) */
    double paged_bytes;         /* Σ whole pages */
    double contiguous_waste_frac;  /* (contiguous − kv) / contiguous */
    double paged_waste_frac;       /* (paged − kv) / paged */
} kvcalc_prealloc;

/* Fills out for the n_bins bins (not owned). Returns 0, or -1 when a bin is
 * longer than max_tokens or has no requests. */
int kvcalc_prealloc_compute(const model_card *m, kt_dtype kv, int tp, const kvcalc_length_bin *bins, int n_bins,
                            int64_t max_tokens, int64_t page_tokens, kvcalc_prealloc *out);

/* ------------------------------------------------------------------------ */
/* One page size for all layers against Jenga-style LCM pages                */

#define KVCALC_MAX_PAGE_SIZES 8

/* Memory of one context under two allocators, per GPU.
 * - One page size for all: every page is as large as the largest layer's
 *   (smaller layers pad), and one table serves all layers, so every layer
 *   keeps pages for the whole context (windowed layers cannot drop old pages
 *   while global layers still need that block id).
 * - Jenga: large pages of lcm_page_bytes (the LCM of the layers' page sizes)
 *   split into whole small pages of one size each; every layer keeps only
 *   its own pages (windows applied); what is lost is the unused tail of each
 *   size's last large page (shared by all requests in a real pool, so this
 *   one-request figure is an upper bound).
 * Invariants: uniform_bytes == kv_bytes + uniform_pad_bytes +
 * uniform_window_bytes + slack_bytes; jenga_bytes == kv_bytes + slack_bytes +
 * jenga_tail_bytes. */
typedef struct kvcalc_jenga {
    int64_t page_tokens;
    int n_sizes;
    int64_t size_page_bytes[KVCALC_MAX_PAGE_SIZES];   /* distinct per-layer page sizes, ascending */
    int size_layers[KVCALC_MAX_PAGE_SIZES];           /* layers of each size */
    int64_t lcm_page_bytes;
    int64_t uniform_page_bytes;                       /* the largest */
    double kv_bytes;
    double slack_bytes;                               /* last-page tails of each layer's own pages */
    double uniform_bytes, uniform_pad_bytes, uniform_window_bytes;
    double jenga_bytes, jenga_tail_bytes;
} kvcalc_jenga;

/* The computation on plain per-layer figures: bytes one token adds to
 * layer l, and tokens layer l holds for a context of ctx_tokens. Returns 0,
 * or -1 when there are more than KVCALC_MAX_PAGE_SIZES sizes or the LCM
 * passes 2^62 bytes. */
int kvcalc_jenga_layers(const double *layer_bytes_per_token, const int64_t *layer_held_tokens, int n_layers,
                        int64_t ctx_tokens, int64_t page_tokens, kvcalc_jenga *out);
/* The same for a model card on one GPU of a tp group. */
int kvcalc_jenga_compute(const model_card *m, int64_t ctx_tokens, kt_dtype kv, int tp, int64_t page_tokens,
                         kvcalc_jenga *out);

/* ------------------------------------------------------------------------ */
/* Fixed against variable memory, and a node                                 */

typedef struct kvcalc_memory {
    double weight_bytes_per_gpu;        /* weights / tp */
    double reserve_bytes_per_gpu;
    double fixed_bytes_per_gpu;         /* weights / tp + reserve */
    double variable_bytes_per_gpu;      /* KV of the context */
    double variable_frac;               /* variable / (fixed + variable) */
    int node_gpus;
    double node_kv_budget_bytes_per_gpu;   /* hbm × fraction − weights / node_gpus − reserve (0 without a GPU) */
    int64_t node_max_tokens;               /* longest context with one model copy over the node's GPUs (tp =
                                              node_gpus); INT64_MAX: any length; 0 without a GPU */
} kvcalc_memory;

/* Fills out. gpu may be NULL (then the node figures are 0). */
void kvcalc_memory_compute(const model_card *m, const hw_profile *gpu, int64_t ctx_tokens, kt_dtype kv, int tp,
                           double hbm_fraction, double reserve_bytes, int node_gpus, kvcalc_memory *out);

/* `kvtier kv MODEL [--context N] [--dtype D] [--gpu PROFILE] [--tp N] [--json]
 * [--tiles] [--paging] [--jenga] [--memory] [--all] ...`: parses its
 * arguments (argv[0] is "kv"), prints the report, returns the exit code
 * (0, or 2 on bad input). */
int kvcalc_main(int argc, char **argv, const char *const *model_dirs, const char *const *hw_dirs);

#endif
