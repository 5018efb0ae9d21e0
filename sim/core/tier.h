/* tier.h — a replica's KV tiers below HBM (DRAM, CXL, NVMe, remote): content caches on the fabric, with offload, lookup and fetch. */
#ifndef KT_TIER_H
#define KT_TIER_H

#include <stdint.h>

#include "conf.h"
#include "dtype.h"
#include "engine.h"
#include "err.h"
#include "evict.h"
#include "fabric.h"
#include "fetch_policy.h"
#include "hw.h"
#include "kv.h"
#include "model.h"

#define TIER_MAX 4
#define TIER_MAX_SHARED 8       /* named links several tiers may cross (a PCIe switch) */
#define TIER_MAX_VIA 2          /* shared links one tier's transfers cross */

/* Links of one replica's fabric at most: PCIe, NIC, C2C and NVLink each way,
 * PCIe's two directions together, the shared links, and each tier's read
 * and write. */
#define TIER_MAX_LINKS (9 + TIER_MAX_SHARED + 2 * TIER_MAX)

/* The link a tier's transfers take on the GPU side. */
typedef enum { GPU_LINK_PCIE, GPU_LINK_C2C, GPU_LINK_NVLINK, GPU_LINK_COUNT } tier_gpu_link;

typedef enum { TIER_DRAM, TIER_CXL, TIER_NVME, TIER_REMOTE, TIER_KIND_COUNT } tier_kind;
typedef enum { OFFLOAD_DROP, OFFLOAD_WRITE_BACK, OFFLOAD_WRITE_THROUGH, OFFLOAD_KIND_COUNT } tier_offload;
typedef enum { DECIDE_COMPARE, DECIDE_FETCH, DECIDE_RECOMPUTE, DECIDE_KIND_COUNT } tier_decide;

extern const char *const tier_kind_names[TIER_KIND_COUNT + 1];
extern const char *const tier_offload_names[OFFLOAD_KIND_COUNT + 1];
extern const char *const tier_decide_names[DECIDE_KIND_COUNT + 1];

/* One tier as configured, per replica (its share of the node).
 * Invariants: capacity, bandwidths > 0; drives >= 1; compression >= 1;
 * quant_group > 0; queue_depth >= 1. Sizes and rates are per drive; drives
 * stripe. */
typedef struct tier_cfg {
    char name[32];
    tier_kind kind;
    double capacity_bytes, read_Bps, write_Bps;
    int64_t latency_ns;         /* per operation on the device */
    double iops;                /* per drive, 0 = no limit */
    int queue_depth;            /* block operations an async transfer keeps in flight */
    int drives;
    kt_dtype dtype;             /* KV precision stored here */
    int quant_group;            /* elements sharing one fp16 scale + zero (int4) */
    double compression;         /* transparent: capacity and device bandwidth × this */
    double attention_flops;     /* FLOP/s the device can spend on attention in place (0: none) */
    tier_gpu_link gpu_link;     /* PCIe (default), C2C (Grace memory), NVLink (a peer GPU's HBM) */
    int via[TIER_MAX_VIA];      /* shared links crossed, indices into tiers_cfg.shared */
    int n_via;
    int fleet_shared;           /* remote only: one pool for every replica; survives node failures */
} tier_cfg;

/* Tier settings of a scenario. */
typedef struct tiers_cfg {
    tier_cfg tier[TIER_MAX];
    int n;
    tier_offload offload;
    tier_fetch fetch;
    tier_decide decide;
    fabric_io io;               /* how a batch of blocks moves: one stream or one block at a time */
    int hbm_cache;              /* keep freed HBM blocks as prefix cache */
    double pcie_Bps;            /* 0: the profile's figure */
    int64_t pcie_setup_ns;      /* GPU↔CPU round trip to start a copy */
    double nic_Bps;
    int64_t nic_setup_ns;       /* programming the NIC from the CPU */
    int64_t prefetch_lead_ns;   /* predicted prefetch starts this long before the expected turn */
    int track_evicted;          /* remember dropped content, to count its recomputation as waste */
    int in_storage_attention;   /* attend to a prefix where it lies, when its tier can */
    struct { char name[32]; double bw_Bps; } shared[TIER_MAX_SHARED];
    int n_shared;
    double c2c_Bps;             /* chip-to-chip link to host memory, per GPU (0: none) */
} tiers_cfg;

/* Reads `tiers:` (a sequence, may be absent) and `kv_policy:` / `links:`
 * (mappings, may be absent) from the scenario root. When a tier is on
 * gpu_link c2c, links.c2c defaults to c2c_default_Bps (the profile's
 * chip-to-chip figure; 0: none, and links.c2c is then required). */
int tiers_from_conf(conf_node *root, double c2c_default_Bps, tiers_cfg *c, kt_err *err);

/* Statistics of one tier. */
typedef struct tier_stats {
    int64_t found_blocks, fetched_blocks, stored_blocks, evicted_blocks;
} tier_stats;

/* Entries of a tier cache whose links changed since
 * tier_set_check_touched last ran, repeats allowed.
 * Invariants: nothing is recorded until that check first runs (tracking
 * 0); lost 1 when the record could not grow (the next check walks the
 * whole cache instead); list[0..n) < the cache's used entries. */
typedef struct tier_touched {
    uint32_t *list;             /* owned; cap entries */
    size_t n, cap;
    int tracking, lost;
} tier_touched;

/* Content a tier holds, least recently used first. Memory grows with the
 * content, not the capacity, so a 100 TB tier costs nothing until filled;
 * the entry arrays never grow past the capacity. The index chains entries
 * through the entry arrays themselves (no table of its own beside the
 * bucket heads): a filled NVMe tier holds millions of entries, and a
 * separate open-addressing table kept each key twice at half load.
 * Invariants: n == used_entries <= capacity, cap_entries; entries [0, n)
 * are all in use (none is ever removed: an eviction reuses its entry) and
 * sit on the list seg names, the two lists holding n together; each is
 * reached from bucket[mix(key) & bucket_mask] through chain, as many
 * (indexed) as there are entries; bucket_mask + 1 is a power of two.
 * Eviction takes the cold list's head, else the hot one's
 * (evict_lists_victim); a hit goes where the policy keeps reused content
 * (evict_reused_segment). */
typedef struct tier_cache {
    uint64_t capacity, n;
    uint64_t *key;              /* cap_entries each: key, chain and the lists' arrays */
    uint32_t *chain;            /* next entry in the same bucket (EVICT_NONE ends) */
    evict_lists lists;          /* owns its prev, next and seg arrays */
    uint32_t cap_entries, used_entries;
    uint32_t *bucket;           /* bucket_mask + 1 heads (EVICT_NONE: empty) */
    uint32_t bucket_mask;
    uint64_t indexed;           /* entries linked into the buckets */
    kv_eviction eviction;
    uint64_t version;           /* bumped by every change to the lists */
    uint64_t checked_version;   /* the version tier_set_check last verified */
    int checked;
    tier_touched touched;
} tier_cache;

/* One tier of a replica.
 * Invariants: block_bytes > 0; the paths name links of the replica's fabric. */
typedef struct tier {
    tier_cfg cfg;
    tier_cache own;
    tier_cache *store;          /* &own, or the fleet's shared pool (not owned) */
    uint32_t capacity_blocks;
    double block_bytes;         /* one block at this tier's precision */
    int read_link, write_link;
    int path_in[FABRIC_MAX_PATH], path_in_len;    /* to HBM */
    int path_out[FABRIC_MAX_PATH], path_out_len;  /* from HBM */
    tier_stats st;
    int pending_in;             /* blocks waiting to be written (batched per flush) */
    struct tier_set *set;
    int level;
} tier;

/* All lower tiers of one replica and its fabric. */
typedef struct tier_set {
    tiers_cfg cfg;
    tier tiers[TIER_MAX];
    int n;
    fabric *fab;                /* owned */
    engine *eng;                /* not owned */
    int pcie_h2d, pcie_d2h, nic_in, nic_out, c2c_in, c2c_out, nvl_in, nvl_out;
    int pcie_duplex;            /* both PCIe directions together: every PCIe path crosses it too */
    int64_t nic_op_ns;          /* per-operation cost of the NIC (the profile's nic_op_latency) */
    int shared_link[TIER_MAX_SHARED];
    double hbm_block_bytes;     /* one block in HBM at the KV dtype */
    double dequant_Bps;         /* HBM streaming rate for dequantization */
    int block_tokens;
    kv_eviction eviction;       /* of every tier's own store */
    tier_cache dropped;         /* content no tier keeps any more (track_evicted) */
} tier_set;

/* What one replica's tier set is built from. Nothing here is owned: every
 * pointer must outlive the sets built from it. */
typedef struct tier_set_config {
    const tiers_cfg *tiers;     /* the tiers and their policies */
    const model_card *model;    /* block sizes at each tier's precision */
    const hw_profile *hw;       /* link figures the settings leave unset */
    kt_dtype hbm_dtype;         /* KV precision in HBM */
    int block_tokens;
    int gpus;                   /* of the replica: each GPU has its own PCIe link */
    kv_eviction eviction;       /* of every tier's store */
    /* NULL, or per tier the content index it uses instead of its own (a
     * fleet-shared pool from tier_shared_new; NULL entries for the others). */
    tier_cache *const *shared;
} tier_set_config;

/* Builds the tiers of one replica: block sizes from the model at each
 * tier's precision, links from the profile and the settings (the replica's
 * PCIe is gpus × one). Returns NULL (err set) on bad sizes; caller frees
 * with tier_set_free. */
tier_set *tier_set_new(const tier_set_config *cfg, engine *eng, kt_err *err);
/* Checks what tier_set_new would reject in cfg alone, without building
 * anything: every tier holds at least one block at its precision. Returns
 * 0, or -1 with err (the same message tier_set_new gives). */
int tier_set_config_check(const tier_set_config *cfg, kt_err *err);
void tier_set_free(tier_set *ts);

/* The content index of tier i of cfg->tiers when it is fleet_shared (else
 * NULL, with err unset): one pool of the tier's capacity that every
 * replica's tier set reads and writes (cfg->shared is not read). Caller
 * frees with tier_shared_free. */
tier_cache *tier_shared_new(const tier_set_config *cfg, int i, kt_err *err);
void tier_shared_free(tier_cache *c);

/* Bytes of one block of block_tokens tokens at dtype, including the scale
 * metadata of sub-byte formats (an fp16 scale and zero per quant_group):
 * kv_layout_stored_block_bytes. */
double tier_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens);

/* Content hash evicted from HBM (or from tier level-1 when level > 0):
 * kept in tier `level` per the offload policy, written there in the next
 * flush. */
void tier_set_offload(tier_set *ts, int level, uint64_t hash);
/* Content just registered in HBM: write-through copies it down. */
void tier_set_registered(tier_set *ts, uint64_t hash);
/* Starts the writes collected since the last flush, one transfer per tier. */
void tier_set_flush(tier_set *ts);

/* Looks up blocks hashes[0..n) (consecutive prefix blocks) tier by tier:
 * the run stops at the first block no tier holds. counts[t] gets how many
 * of the run each tier supplies. Returns the run's length. Hits are
 * refreshed (LRU) and counted. When dropped is not NULL it gets how many
 * blocks after the run had existed but were dropped (track_evicted). */
int64_t tier_set_lookup(tier_set *ts, const uint64_t *hashes, int64_t n, int64_t counts[TIER_MAX],
                        int64_t *dropped);

/* Estimated time to bring counts[t] blocks from each tier into HBM:
 * transfers in parallel, each setup (per operation when sync) + bytes over
 * its path's slowest link or what its queue of operations sustains, not
 * faster than all bytes over the PCIe link, plus dequantization when a
 * tier's precision differs from HBM's. */
int64_t tier_set_fetch_estimate_ns(const tier_set *ts, const int64_t counts[TIER_MAX]);

/* Starts the fetch of counts[t] blocks from each tier. done(ud, t, now)
 * runs once per tier transfer started; returns how many were started. */
int tier_set_fetch(tier_set *ts, const int64_t counts[TIER_MAX], fabric_done_fn done, void *ud);

/* Starts moving n_ops operations of op_bytes each (pages, say) from tier t
 * into HBM along its path, paying the setup and the rate limits a block
 * fetch pays. done(ud, tag, now) runs when the last byte arrives. Returns
 * 0, or -1 when nothing was started. */
int tier_set_fetch_ops(tier_set *ts, int t, int64_t n_ops, double op_bytes, fabric_done_fn done, void *ud,
                       uint64_t tag);

/* Dequantization time of n blocks from tier t into HBM's dtype (0 when equal). */
int64_t tier_dequant_ns(const tier_set *ts, int t, int64_t n_blocks);

/* Time one layer spends attending, inside tier t, from n_new query tokens to
 * a prefix of prefix_tokens tokens it holds: the device's scan (its compute
 * or its read bandwidth, whichever is slower) plus the round trip that
 * sends the queries and brings the outputs back. */
int64_t tier_attention_layer_ns(const tier_set *ts, int t, const model_card *m, int layer, int64_t n_new,
                                int64_t prefix_tokens);

/* Fetch or recompute: 1 when fetching is the better (or the forced) choice. */
int tier_should_fetch(const tiers_cfg *c, int64_t fetch_ns, int64_t recompute_ns);

/* Blocks tier t holds now. */
uint64_t tier_cached_blocks(const tier_set *ts, int t);

/* Conservation in every tier's store and the fabric's link budgets. A store
 * unchanged since it last passed is not walked again. */
int tier_set_check(tier_set *ts, kt_err *err);
/* The same where the stores changed since this function last ran: each
 * changed entry's list links and its index entry, and the counts (listed,
 * indexed, within capacity); then fabric_check. A store this function has
 * not seen before, or whose record of changes was lost, is walked whole. */
int tier_set_check_touched(tier_set *ts, kt_err *err);

#endif
