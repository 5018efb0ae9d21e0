/* kv.h — paged KV block manager for one GPU pool: block tables, ref counts, prefix sharing by chained block hashes, LRU reuse of freed blocks. */
#ifndef KT_KV_H
#define KT_KV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "evict.h"

/* What the tokens of a sequence are, so equal prefixes hash equally without
 * carrying token ids. A sequence's token stream is the concatenation of its
 * segments; token p of segment s is identified by (s.content_id, offset).
 * Tokens past the last segment (generated ones) continue the last segment:
 * their offsets keep counting, so a session's turn k+1 sees turn k's output
 * under the same identity. */
typedef struct kv_segment {
    uint64_t content_id;
    int64_t tokens;
} kv_segment;

typedef struct kv_content {
    const kv_segment *segs;     /* not owned */
    uint32_t n_segs;            /* >= 1 */
} kv_content;

/* One sequence's block table.
 * Invariants: blocks[0..n_blocks) are distinct live blocks of the pool, each
 * holding a reference from this sequence; n_hashed <= n_blocks counts the
 * leading blocks that are full and registered (or matched) in the prefix
 * cache, chain_hash is the hash of block n_hashed-1 (0 when none). */
typedef struct kv_seq {
    uint32_t *blocks;
    uint32_t n_blocks, cap_blocks;
    /* Blocks holding the windowed layers' KV (kv_pool_set_windows): never
     * hashed or shared; as many as kv_window_blocks_for the tokens reserved. */
    uint32_t *wblocks;
    uint32_t n_wblocks, cap_wblocks;
    uint32_t n_hashed;
    uint64_t chain_hash;
    int sealed;                 /* shrunk: registers no content until released */
    /* Leading entries of blocks and wblocks kv_pool_check_touched verified,
     * unchanged since (0 for a new sequence: all unverified). */
    uint32_t checked_blocks, checked_wblocks;
    /* The chain hashes of the content's first n_hashes blocks (kv_seq_hashes),
     * kept across releases so that a request whose admission fails hashes its
     * prompt once, not on every try: hashes[i] is the hash of block i of the
     * content whose fingerprint (its segments and the block size) is
     * hashes_of (0: none); kv_seq_check_hashes verified the first
     * hashes_checked <= n_hashes. Owned; freed by kv_seq_destroy. */
    uint64_t *hashes;
    size_t n_hashes, cap_hashes, hashes_checked;
    uint64_t hashes_of;
    /* Entries [0, max(n_blocks, hint_blocks)) of blocks were written: after a
     * release they still name the blocks last held, which the next prefix
     * match tries before the table. */
    uint32_t hint_blocks;
    /* Blocks the last kv_seq_attach_prefix matched (kv_seq_retry_prefix). */
    uint32_t retry_blocks;
} kv_seq;

typedef struct kv_pool kv_pool;

/* Whether a pool hashes its blocks' content and shares blocks between
 * sequences with equal prefixes. */
typedef enum kv_prefix_cache { KV_PREFIX_CACHE_OFF = 0, KV_PREFIX_CACHE_ON = 1 } kv_prefix_cache;

/* A pool of n_blocks blocks of block_tokens tokens each. Caller frees with
 * kv_pool_free. */
kv_pool *kv_pool_new(uint32_t n_blocks, int block_tokens, kv_prefix_cache prefix_cache);
void kv_pool_free(kv_pool *p);

uint32_t kv_pool_blocks(const kv_pool *p);
/* Changes whenever a call may have changed the pool: a checker that
 * verified version v need not walk the pool again while it is still v. */
uint64_t kv_pool_version(const kv_pool *p);
int kv_pool_block_tokens(const kv_pool *p);
/* Blocks with no reference (free, some still caching a prefix). */
uint32_t kv_pool_free_blocks(const kv_pool *p);
/* Blocks with no reference that still hold a registered prefix. */
uint32_t kv_pool_cached_blocks(const kv_pool *p);
/* Blocks a sequence of tokens tokens holds: its token blocks plus, with
 * windowed layers, its window blocks. */
uint32_t kv_blocks_for(const kv_pool *p, int64_t tokens);
/* Token blocks alone: ceil(tokens / block_tokens). */
uint32_t kv_token_blocks_for(const kv_pool *p, int64_t tokens);

/* Models whose layers mix full-context attention with sliding or chunked
 * windows page only the full-context layers' KV by token: a block is
 * block_tokens tokens of those layers. Window group g (of n <= KV_MAX_WINDOWS)
 * holds at most window_tokens[g] tokens at ratio[g] times a block's bytes per
 * token, in window blocks of the same size that belong to the sequence:
 * ceil(sum_g ratio[g] × min(tokens, window_tokens[g]) / block_tokens) of
 * them. Set before any sequence holds blocks. Returns -1 if n is too large. */
#define KV_MAX_WINDOWS 4
int kv_pool_set_windows(kv_pool *p, int n, const int64_t *window_tokens, const double *ratio);
uint32_t kv_window_blocks_for(const kv_pool *p, int64_t tokens);
/* Blocks kv_seq_reserve(p, seq, total_tokens) would take from the pool. */
uint32_t kv_seq_blocks_short(const kv_pool *p, const kv_seq *seq, int64_t total_tokens);
/* The most tokens kv_seq_reserve(p, seq, total_tokens) can be asked for
 * without taking a block: a decode run reserves only at the steps that pass
 * it, the calls in between changing nothing (but kv_pool_version). */
int64_t kv_seq_room_tokens(const kv_pool *p, const kv_seq *seq);
/* The fewest computed tokens for which kv_seq_commit would hash a block of
 * seq with the blocks it holds now (INT64_MAX: none, whatever is computed:
 * no prefix cache, seq sealed, or every block it holds hashed). Below it
 * the call changes nothing (but kv_pool_version). */
int64_t kv_seq_commit_due_tokens(const kv_pool *p, const kv_seq *seq);

/* Starts a sequence by attaching the longest cached prefix of its first
 * prompt_tokens tokens (whole blocks only, and never the whole prompt: the
 * last prompt token is always computed so the model can sample). Returns the
 * number of tokens whose KV is now present (a multiple of block_tokens).
 * seq must be empty (n_blocks == 0). */
int64_t kv_seq_attach_prefix(kv_pool *p, kv_seq *seq, const kv_content *c, int64_t prompt_tokens);

/* A retried admission without its side effects. Attaching a prompt and
 * releasing it (a failed admission) leaves the pool as it was when the
 * blocks matched hold their content, the first block missed is missing,
 * and the free ones among them sit at their free lists' tails in the order
 * a release puts them (the last block first) — as the previous try of the
 * same prompt left them while nothing has moved since. This checks that
 * for the blocks seq matched last (O(blocks), no table probe but one):
 * then it returns the tokens kv_seq_attach_prefix would attach, and
 * *free_blocks the free blocks among them, changing nothing; otherwise
 * -1 (attach for real). seq must be empty. */
int64_t kv_seq_retry_prefix(const kv_pool *p, const kv_seq *seq, const kv_content *c, int64_t prompt_tokens,
                            uint32_t *free_blocks);
/* Whether kv_seq_reserve(p, seq, total_tokens) would succeed after
 * kv_seq_attach_prefix attached attached_tokens of which free_blocks
 * blocks were free (kv_seq_retry_prefix's answer): the test, without
 * either call. */
int kv_seq_retry_fits(const kv_pool *p, int64_t attached_tokens, uint32_t free_blocks, int64_t total_tokens);

/* Makes seq hold blocks for total_tokens tokens (token and window blocks), taking free blocks (evicting
 * the least recently freed cached prefix first). All or nothing: returns -1
 * and changes nothing when too few blocks are free. May grow seq->blocks
 * (amortized doubling; a reused kv_seq stops allocating). */
int kv_seq_reserve(kv_pool *p, kv_seq *seq, int64_t total_tokens);

/* Registers in the prefix cache every block of seq that is full of computed
 * tokens (the first computed_tokens tokens) and not yet registered. */
void kv_seq_commit(kv_pool *p, kv_seq *seq, const kv_content *c, int64_t computed_tokens);

/* Drops seq's references; blocks that reach zero become free, registered
 * ones kept as cache (most recently used last to go). seq is emptied but
 * keeps its array for reuse. */
void kv_seq_release(kv_pool *p, kv_seq *seq);
/* Keeps only seq's first keep_blocks blocks (KV retention (kv.retention)
 * compresses a sequence in place): the others lose this reference. The
 * kept blocks no longer hold plain prefix content, so those only this
 * sequence holds are unregistered (without the evict hook: nothing is
 * offloaded) and seq registers nothing more. */
void kv_seq_shrink(kv_pool *p, kv_seq *seq, uint32_t keep_blocks);

/* Frees seq's array (after kv_seq_release). */
void kv_seq_destroy(kv_seq *seq);

/* Prefix lookup without side effects: tokens of c's first prompt_tokens that
 * are cached in this pool (for cache-aware routing and tests). */
int64_t kv_pool_cached_prefix(const kv_pool *p, const kv_content *c, int64_t prompt_tokens);

/* ---- the pool as a content cache (lower tiers, prefetch) ---- */

/* Called when a registered block loses its content: it was free and is
 * being reused, or kv_pool_put pushed it out. hash names the content. */
typedef void (*kv_evict_fn)(void *ud, uint64_t hash);
void kv_pool_set_evict_hook(kv_pool *p, kv_evict_fn fn, void *ud);

/* Called when kv_seq_commit registers new content (for write-through). */
typedef void (*kv_register_fn)(void *ud, uint64_t hash);
void kv_pool_set_register_hook(kv_pool *p, kv_register_fn fn, void *ud);
/* What becomes of the content of a block that becomes free: KV_FREED_EVICT
 * evicts it at once (the evict hook fires); KV_FREED_RETAIN (the default)
 * keeps it as prefix cache until the block is reused. */
typedef enum kv_freed { KV_FREED_EVICT = 0, KV_FREED_RETAIN = 1 } kv_freed;
void kv_pool_set_freed(kv_pool *p, kv_freed freed);

/* How free blocks are reused (evict.h). EVICT_HEAT: freed blocks whose
 * content a prefix lookup reused are kept on a protected list and evicted
 * only after every block whose content was never reused (a segmented LRU).
 * Default: EVICT_LRU. */
void kv_pool_set_eviction(kv_pool *p, kv_eviction policy);

/* 1 when a block with this content is registered (free or held). */
int kv_pool_has(const kv_pool *p, uint64_t hash);
/* Stores content hash in a free block as cache (most recently used),
 * evicting the least recently used free block when needed. Returns 1 if it
 * was already present (then only refreshed), 0 stored, -1 no free block. */
int kv_pool_put(kv_pool *p, uint64_t hash);
/* Marks cached content as just used (moves a free block to the MRU end). */
void kv_pool_touch(kv_pool *p, uint64_t hash);
/* Drops cached content (a free block becomes plain free). 1 if it was there. */
int kv_pool_drop(kv_pool *p, uint64_t hash);

/* The chain hashes of blocks [0, n_blocks) of content c (the hashes
 * kv_seq_commit registers), kept in seq (its own copy, which a later call
 * for the same content extends and one for other content replaces): each
 * block of a request is hashed once however often its admission is tried.
 * Returns seq's array (valid until the next call on seq), or NULL when out
 * of memory. */
const uint64_t *kv_seq_hashes(const kv_pool *p, kv_seq *seq, const kv_content *c, int64_t n_blocks);
/* Invariant checker of seq's kept hashes when they are c's (seq's
 * content): those not verified before are recomputed from c and compared,
 * then marked verified. Hashes kept for other content (a recycled
 * request's) are left: the next kv_seq_hashes replaces them. Returns 0, or
 * -1 with err. */
int kv_seq_check_hashes(const kv_pool *p, kv_seq *seq, const kv_content *c, kt_err *err);

/* Chain hashes of blocks [first, first+n) of content c (block i covers
 * tokens [i·bt, (i+1)·bt)), given prev = the chain hash of block first-1
 * (0 for the first block). The same hashes kv_seq_commit registers. */
void kv_content_hashes(const kv_content *c, int block_tokens, int64_t first, int64_t n, uint64_t prev,
                       uint64_t *out);

/* Invariant checker: free-list links and count, ref counts against free
 * state, hash table entries against block hashes, and (when seqs != NULL)
 * every block's ref count equal to the number of sequences holding it. */
int kv_pool_check(const kv_pool *p, const kv_seq *const *seqs, size_t n_seqs, kt_err *err);

/* The same invariants, only where a call changed the pool since this
 * function last ran (O(changes), not O(blocks)): each changed block's
 * free-list links and membership against its ref count, its table entry;
 * each sequence's block entries added since (in range, referenced, window
 * blocks without content); and the counters: free blocks within the pool,
 * cached within free, table entries equal to blocks with content, and (when
 * seqs != NULL) the sum of ref counts equal to the block entries of seqs.
 * A corruption away from what changed is left to kv_pool_check. The first
 * call starts recording changes and runs kv_pool_check instead. Clears the
 * record and marks seqs' entries verified. Returns -1 (err set, or out of
 * memory for the record) or 0. */
int kv_pool_check_touched(kv_pool *p, kv_seq *const *seqs, size_t n_seqs, kt_err *err);

#endif
