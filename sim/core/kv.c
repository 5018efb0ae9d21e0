/* kv.c — paged KV blocks: free list in LRU order, chained prefix hashes in an open-addressing table, per-sequence block tables. */
#include "kv.h"
#include "grow.h"
#include "htab.h"
#include "idxtab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KV_NONE UINT32_MAX

/* Blocks changed since the last kv_pool_check_touched, each listed once.
 * Invariants: tracking is off (list NULL, nothing recorded) until the
 * first kv_pool_check_touched; then list[0..n) holds distinct blocks and
 * mark[b] == 1 iff b is among them. */
typedef struct kv_touched {
    uint32_t *list;             /* n_blocks entries */
    uint8_t *mark;              /* n_blocks entries */
    uint32_t n;
} kv_touched;

/* The pool.
 * Invariants: a block is on the free list iff ref[b] == 0; the free list runs
 * from head (evicted first) to tail; n_free is its length; hash[b] != 0 iff
 * the table maps hash[b] -> b; n_cached counts free blocks with hash != 0;
 * n_hashed counts blocks with hash != 0 (as many as the table's entries);
 * ref_total is the sum of ref[] (as many as the sequences' block entries).
 * Eviction takes the cold list's head first; under heat eviction, cached
 * blocks whose content was reused go on the hot list and are taken only
 * when the cold list is empty (a segmented LRU). */
struct kv_pool {
    uint32_t n_blocks;
    int block_tokens;
    int prefix_cache;
    uint32_t *ref;
    uint64_t *hash;
    evict_lists free;           /* free blocks: cold, and hot (reused content under EVICT_HEAT) */
    uint32_t *prev, *next;      /* free.prev, free.next */
    uint8_t *seg;               /* free.seg: which free list a free block is on */
    uint32_t n_free, n_cached;
    uint16_t *heat;             /* times its content was found by a prefix lookup (when the policy counts reuse) */
    kv_eviction eviction;
    kv_evict_fn on_evict;
    void *evict_ud;
    kv_register_fn on_register;
    void *register_ud;
    int no_retain;
    uint64_t version;           /* bumped by every call that may change the pool */
    int n_windows;              /* window groups (kv_pool_set_windows); 0: every layer paged by token */
    int64_t window_tokens[KV_MAX_WINDOWS];
    double window_ratio[KV_MAX_WINDOWS];
    idxtab tab;                 /* content hash -> block, keyed through hash[]; sized for n_blocks, never grows */
    uint64_t ref_total;         /* sum of ref[] */
    uint32_t n_hashed;          /* blocks with hash != 0 (the table's count, kept apart to cross-check it) */
    kv_touched touched;         /* blocks changed since kv_pool_check_touched last ran */
};

/* ---------- hashing ---------- */

#define mix64 kt_mix64

/* Position in a kv_content: segment index and the token where it starts. */
typedef struct seg_cursor { uint32_t seg; int64_t seg_start; } seg_cursor;

/* Moves the cursor to the segment holding token pos (segments only forward). */
static void cursor_seek(const kv_content *c, seg_cursor *cur, int64_t pos)
{
    while (cur->seg + 1 < c->n_segs && pos >= cur->seg_start + c->segs[cur->seg].tokens) {
        cur->seg_start += c->segs[cur->seg].tokens;
        cur->seg++;
    }
}

/* Hash of the block covering tokens [start, start+len) chained on prev:
 * every (content, offset, length) piece the block spans is mixed in. Never 0. */
static uint64_t block_hash(uint64_t prev, const kv_content *c, seg_cursor *cur, int64_t start,
                           int64_t len)
{
    uint64_t h = mix64(prev);
    int64_t pos = start, end = start + len;
    while (pos < end) {
        cursor_seek(c, cur, pos);
        const kv_segment *s = &c->segs[cur->seg];
        int64_t seg_end = cur->seg + 1 < c->n_segs ? cur->seg_start + s->tokens : end;
        int64_t piece_end = seg_end < end ? seg_end : end;
        h = mix64(h ^ mix64(s->content_id) ^ mix64((uint64_t)(pos - cur->seg_start) * 0x100000001b3ULL +
                                                    (uint64_t)(piece_end - pos)));
        pos = piece_end;
    }
    return h ? h : 1;
}

/* ---------- hash table ---------- */

/* The table keeps block ids only: a block's key is its hash[] entry, which
 * is set before the block is indexed and cleared after it leaves. */
static uint32_t tab_get(const kv_pool *p, uint64_t key) { return idxtab_get(&p->tab, p->hash, key); }
static void tab_put(kv_pool *p, uint32_t block) { idxtab_put(&p->tab, p->hash, block); }
static void tab_del(kv_pool *p, uint64_t key) { idxtab_del(&p->tab, p->hash, key); }

/* ---------- change tracking ---------- */

/* Records that block b changed (its ref count, content or list links), once
 * until the next check; EVICT_NONE (a list end) and untracked pools skip. */
static void touch_block(kv_pool *p, uint32_t b)
{
    if (!p->touched.list || b == EVICT_NONE || p->touched.mark[b])
        return;
    p->touched.mark[b] = 1;
    p->touched.list[p->touched.n++] = b;
}

/* Gives block b content h: table entry, counter, change mark. */
static void hash_set(kv_pool *p, uint32_t b, uint64_t h)
{
    p->hash[b] = h;
    tab_put(p, b);
    p->n_hashed++;
    touch_block(p, b);
}

/* Takes block b's content out of the table (without the evict hook). */
static void hash_clear(kv_pool *p, uint32_t b)
{
    tab_del(p, p->hash[b]);
    p->hash[b] = 0;
    p->n_hashed--;
    touch_block(p, b);
}

/* Adds one reference to b (a caller takes b off the free list first when it had none). */
static void ref_add(kv_pool *p, uint32_t b)
{
    p->ref[b]++;
    p->ref_total++;
    touch_block(p, b);
}

/* Drops one reference from b; returns its count left. */
static uint32_t ref_drop(kv_pool *p, uint32_t b)
{
    p->ref_total--;
    touch_block(p, b);
    return --p->ref[b];
}

/* ---------- free list ---------- */

/* Both neighbours of b on its list and b itself change links. */
static void free_unlink(kv_pool *p, uint32_t b)
{
    touch_block(p, b);
    touch_block(p, p->prev[b]);
    touch_block(p, p->next[b]);
    evict_lists_unlink(&p->free, b);
    p->n_free--;
    if (p->hash[b])
        p->n_cached--;
}

/* Cached content a prefix lookup reused goes where the policy keeps reused
 * content (heat is counted only when the policy asks for it). */
static evict_segment free_list_of(const kv_pool *p, uint32_t b)
{
    return p->hash[b] && p->heat[b] > 0 ? evict_reused_segment(p->eviction) : EVICT_COLD;
}

static void free_push_tail(kv_pool *p, uint32_t b)
{
    touch_block(p, b);
    touch_block(p, p->free.tail[free_list_of(p, b)]);
    evict_lists_push_tail(&p->free, b, free_list_of(p, b));
    p->n_free++;
    if (p->hash[b])
        p->n_cached++;
}

static void free_push_head(kv_pool *p, uint32_t b)
{
    touch_block(p, b);
    touch_block(p, p->free.head[EVICT_COLD]);
    evict_lists_push_head(&p->free, b, EVICT_COLD);
    p->n_free++;
    if (p->hash[b])
        p->n_cached++;
}

/* ---------- pool ---------- */

kv_pool *kv_pool_new(uint32_t n_blocks, int block_tokens, kv_prefix_cache prefix_cache)
{
    kv_pool *p = calloc(1, sizeof *p);
    if (!p || block_tokens <= 0)
        goto fail;
    p->n_blocks = n_blocks;
    p->block_tokens = block_tokens;
    p->prefix_cache = prefix_cache == KV_PREFIX_CACHE_ON;
    p->ref = calloc(n_blocks + 1, sizeof *p->ref);
    p->seg = calloc(n_blocks + 1, sizeof *p->seg);
    p->heat = calloc(n_blocks + 1, sizeof *p->heat);
    p->hash = calloc(n_blocks + 1, sizeof *p->hash);
    p->prev = malloc((n_blocks + 1) * sizeof *p->prev);
    p->next = malloc((n_blocks + 1) * sizeof *p->next);
    if (!p->ref || !p->seg || !p->heat || !p->hash || !p->prev || !p->next || idxtab_init(&p->tab, n_blocks) < 0)
        goto fail;
    p->free = (evict_lists){ .prev = p->prev, .next = p->next, .seg = p->seg };
    evict_lists_clear(&p->free);
    for (uint32_t b = 0; b < n_blocks; b++)
        free_push_tail(p, b);
    return p;
fail:
    kv_pool_free(p);
    return NULL;
}

void kv_pool_free(kv_pool *p)
{
    if (!p)
        return;
    free(p->ref);
    free(p->seg);
    free(p->heat);
    free(p->hash);
    free(p->prev);
    free(p->next);
    free(p->touched.list);
    free(p->touched.mark);
    idxtab_destroy(&p->tab);
    free(p);
}

uint32_t kv_pool_blocks(const kv_pool *p) { return p->n_blocks; }
uint64_t kv_pool_version(const kv_pool *p) { return p->version; }
int kv_pool_block_tokens(const kv_pool *p) { return p->block_tokens; }
uint32_t kv_pool_free_blocks(const kv_pool *p) { return p->n_free; }
uint32_t kv_pool_cached_blocks(const kv_pool *p) { return p->n_cached; }

uint32_t kv_token_blocks_for(const kv_pool *p, int64_t tokens)
{
    return (uint32_t)((tokens + p->block_tokens - 1) / p->block_tokens);
}

/* A block's worth of tokens carries this much slack so that a ratio such as
 * 3.0 read from doubles never rounds up a block that is exactly full. */
#define KV_WINDOW_EPS 1e-9

uint32_t kv_window_blocks_for(const kv_pool *p, int64_t tokens)
{
    if (p->n_windows == 0)
        return 0;               /* most models: no floating point on the reserve path */
    double token_blocks = 0;
    for (int g = 0; g < p->n_windows; g++)
        token_blocks += p->window_ratio[g] * (double)(tokens < p->window_tokens[g] ? tokens : p->window_tokens[g]);
    return (uint32_t)ceil(token_blocks / p->block_tokens - KV_WINDOW_EPS);
}

uint32_t kv_blocks_for(const kv_pool *p, int64_t tokens)
{
    return kv_token_blocks_for(p, tokens) + kv_window_blocks_for(p, tokens);
}

int kv_pool_set_windows(kv_pool *p, int n, const int64_t *window_tokens, const double *ratio)
{
    if (n < 0 || n > KV_MAX_WINDOWS)
        return -1;
    p->n_windows = n;
    for (int g = 0; g < n; g++) {
        p->window_tokens[g] = window_tokens[g];
        p->window_ratio[g] = ratio[g];
    }
    return 0;
}

static uint32_t short_of(uint32_t want, uint32_t have) { return want > have ? want - have : 0; }

uint32_t kv_seq_blocks_short(const kv_pool *p, const kv_seq *seq, int64_t total_tokens)
{
    return short_of(kv_token_blocks_for(p, total_tokens), seq->n_blocks) +
           short_of(kv_window_blocks_for(p, total_tokens), seq->n_wblocks);
}

int64_t kv_seq_room_tokens(const kv_pool *p, const kv_seq *seq)
{
    int64_t hi = (int64_t)seq->n_blocks * p->block_tokens;
    if (kv_window_blocks_for(p, hi) <= seq->n_wblocks)
        return hi;
    /* The window blocks run out first. Their count only grows with the
     * tokens, so bisect: window blocks for lo fit (0 for 0 tokens), for hi not. */
    int64_t lo = 0;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (kv_window_blocks_for(p, mid) <= seq->n_wblocks)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int64_t kv_seq_commit_due_tokens(const kv_pool *p, const kv_seq *seq)
{
    /* kv_seq_commit hashes blocks [n_hashed, min(computed / block_tokens, n_blocks)). */
    if (!p->prefix_cache || seq->sealed || seq->n_hashed >= seq->n_blocks)
        return INT64_MAX;
    return ((int64_t)seq->n_hashed + 1) * p->block_tokens;
}

/* Forgets the content block b caches (b not on the free list). */
static void evict_content(kv_pool *p, uint32_t b)
{
    uint64_t h = p->hash[b];
    hash_clear(p, b);
    if (p->on_evict)
        p->on_evict(p->evict_ud, h);
}

/* Takes the least recently freed block, evicting the content it caches. */
static uint32_t take_free(kv_pool *p)
{
    uint32_t b = evict_lists_victim(&p->free);
    free_unlink(p, b);
    if (p->hash[b])
        evict_content(p, b);
    if (evict_counts_reuse(p->eviction))
        p->heat[b] = 0;
    return b;
}

/* ---------- sequences ---------- */

/* Appends block b to seq's table, growing it by doubling. */
static int seq_push(kv_seq *seq, uint32_t b)
{
    if (seq->n_blocks == UINT32_MAX)
        return -1;
    if (seq->n_blocks == seq->cap_blocks) {
        size_t cap = seq->cap_blocks;
        uint32_t *nb = grow_array(seq->blocks, &cap, (size_t)seq->n_blocks + 1, sizeof *nb);
        if (!nb)
            return -1;
        seq->blocks = nb;
        /* Room past UINT32_MAX entries can never be used (n_blocks is a uint32_t). */
        seq->cap_blocks = cap < UINT32_MAX ? (uint32_t)cap : UINT32_MAX;
    }
    seq->blocks[seq->n_blocks++] = b;
    return 0;
}

/* Blocks of the prompt that may come from the cache: whole ones, leaving the
 * last prompt token to compute. */
static int64_t matchable_blocks(const kv_pool *p, int64_t prompt_tokens)
{
    return prompt_tokens > 0 ? (prompt_tokens - 1) / p->block_tokens : 0;
}

/* What a content's block hashes depend on, its segments and the block
 * size, mixed into one word (never 0, which marks no hashes kept). */
static uint64_t content_fingerprint(const kv_content *c, int block_tokens)
{
    uint64_t f = mix64((uint64_t)block_tokens ^ ((uint64_t)c->n_segs << 32));
    for (uint32_t i = 0; i < c->n_segs; i++)
        f = mix64(f ^ mix64(c->segs[i].content_id) ^ (uint64_t)c->segs[i].tokens);
    return f ? f : 1;
}

/* Makes seq's kept hashes c's (forgetting another content's) with room
 * for n of them. Returns 0, or -1 when out of memory. */
static int seq_hashes_room(const kv_pool *p, kv_seq *seq, const kv_content *c, size_t n)
{
    uint64_t f = content_fingerprint(c, p->block_tokens);
    if (seq->hashes_of != f) {
        seq->hashes_of = f;
        seq->n_hashes = seq->hashes_checked = 0;
    }
    uint64_t *h = grow_array(seq->hashes, &seq->cap_hashes, n, sizeof *h);
    if (!h)
        return -1;
    seq->hashes = h;
    return 0;
}

/* The hash of block i of c when seq keeps the first i (room for one more
 * made): kept for later calls. cur moves forward only, as block_hash needs. */
static uint64_t seq_hash_next(const kv_pool *p, kv_seq *seq, const kv_content *c, seg_cursor *cur, size_t i)
{
    if (i < seq->n_hashes)
        return seq->hashes[i];
    uint64_t h = block_hash(i ? seq->hashes[i - 1] : 0, c, cur, (int64_t)i * p->block_tokens, p->block_tokens);
    seq->hashes[seq->n_hashes++] = h;
    return h;
}

const uint64_t *kv_seq_hashes(const kv_pool *p, kv_seq *seq, const kv_content *c, int64_t n_blocks)
{
    size_t n = n_blocks > 0 ? (size_t)n_blocks : 0;
    if (seq_hashes_room(p, seq, c, n) < 0)
        return NULL;
    seg_cursor cur = { 0, 0 };
    for (size_t i = seq->n_hashes; i < n; i++)
        seq_hash_next(p, seq, c, &cur, i);
    return seq->hashes;
}

int kv_seq_check_hashes(const kv_pool *p, kv_seq *seq, const kv_content *c, kt_err *err)
{
    if (seq->hashes_of != content_fingerprint(c, p->block_tokens) || seq->hashes_checked >= seq->n_hashes)
        return 0;
    seg_cursor cur = { 0, 0 };
    uint64_t h = 0;
    for (size_t i = 0; i < seq->n_hashes; i++) {
        h = block_hash(h, c, &cur, (int64_t)i * p->block_tokens, p->block_tokens);
        if (i >= seq->hashes_checked && h != seq->hashes[i]) {
            KT_ERROR(err, NULL, 0, 0, "kv: kept hash of block %zu differs from its content's", i);
            return -1;
        }
    }
    seq->hashes_checked = seq->n_hashes;
    return 0;
}

int64_t kv_pool_cached_prefix(const kv_pool *p, const kv_content *c, int64_t prompt_tokens)
{
    if (!p->prefix_cache)
        return 0;
    seg_cursor cur = { 0, 0 };
    uint64_t h = 0;
    int64_t n = matchable_blocks(p, prompt_tokens), i;
    for (i = 0; i < n; i++) {
        h = block_hash(h, c, &cur, i * p->block_tokens, p->block_tokens);
        if (tab_get(p, h) == KV_NONE)
            break;
    }
    return i * p->block_tokens;
}

int64_t kv_seq_attach_prefix(kv_pool *p, kv_seq *seq, const kv_content *c, int64_t prompt_tokens)
{
    p->version++;
    if (!p->prefix_cache)
        return 0;
    int64_t n = matchable_blocks(p, prompt_tokens);
    /* Hashes are kept only as far as the match goes: a later call (the
     * tiers' lookup, the next try) extends them. */
    if (seq_hashes_room(p, seq, c, (size_t)n) < 0)
        n = 0;
    seg_cursor cur = { 0, 0 };
    uint64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t hi = seq_hash_next(p, seq, c, &cur, (size_t)i);
        /* A retried admission matches the blocks it matched before: the
         * block this sequence last held at i is the match iff it holds the
         * content (the table maps each content to its one block), and its
         * entry is cheaper to read than the table. */
        uint32_t b = (uint32_t)i < seq->hint_blocks ? seq->blocks[i] : KV_NONE;
        if (b >= p->n_blocks || p->hash[b] != hi)
            b = tab_get(p, hi);
        if (b == KV_NONE || seq_push(seq, b) < 0)
            break;
        if (p->ref[b] == 0)
            free_unlink(p, b);
        ref_add(p, b);
        if (evict_counts_reuse(p->eviction) && p->heat[b] < UINT16_MAX)
            p->heat[b]++;
        h = hi;
        seq->n_hashed++;
    }
    seq->chain_hash = h;
    seq->retry_blocks = seq->n_blocks;
    return (int64_t)seq->n_blocks * p->block_tokens;
}

/* The segment a matched free block goes back to when a try releases it:
 * where free_push_tail puts it once the match counted its reuse. */
static evict_segment retry_segment(const kv_pool *p, uint32_t b)
{
    return evict_counts_reuse(p->eviction) ? evict_reused_segment(p->eviction) : free_list_of(p, b);
}

int64_t kv_seq_retry_prefix(const kv_pool *p, const kv_seq *seq, const kv_content *c, int64_t prompt_tokens,
                            uint32_t *free_blocks)
{
    int64_t n = matchable_blocks(p, prompt_tokens);
    uint32_t k = seq->retry_blocks;
    if (!p->prefix_cache || seq->n_blocks || k > n || k > seq->hint_blocks ||
        seq->hashes_of != content_fingerprint(c, p->block_tokens) || seq->n_hashes < (k < n ? k + 1 : k))
        return -1;
    /* The match: the blocks held last still hold their content (so the
     * table maps it to them), and the content after them is still missing. */
    if (k < n && tab_get(p, seq->hashes[k]) != KV_NONE)
        return -1;
    /* The free ones among them sit at the tails of the lists a release
     * returns them to, in the order it does (the last block first, so the
     * first block is the tail): attaching unlinks them, releasing puts them
     * back where they are. */
    uint32_t at[EVICT_SEGMENT_COUNT] = { p->free.tail[EVICT_COLD], p->free.tail[EVICT_HOT] }, nfree = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t b = seq->blocks[i];
        if (b >= p->n_blocks || p->hash[b] != seq->hashes[i])
            return -1;
        if (p->ref[b])
            continue;
        if (p->no_retain)
            return -1;          /* the release would evict it */
        evict_segment g = retry_segment(p, b);
        if (at[g] != b || p->seg[b] != g)
            return -1;
        at[g] = p->prev[b];
        nfree++;
    }
    *free_blocks = nfree;
    return (int64_t)k * p->block_tokens;
}

int kv_seq_retry_fits(const kv_pool *p, int64_t attached_tokens, uint32_t free_blocks, int64_t total_tokens)
{
    uint32_t need = short_of(kv_token_blocks_for(p, total_tokens), kv_token_blocks_for(p, attached_tokens)) +
                    kv_window_blocks_for(p, total_tokens);
    return need == 0 || need <= p->n_free - free_blocks;
}

/* Grows a block array to hold want entries (nothing else changes on failure).
 * Exact size, not grow_array's doubling: want is a whole request's final
 * reservation, and doubling could nearly double a long context's table. */
static int grow_table(uint32_t **blocks, uint32_t *cap, uint32_t want)
{
    if (want <= *cap)
        return 0;
    uint32_t *nb = grow_array_exact(*blocks, want, sizeof *nb);
    if (!nb)
        return -1;
    *blocks = nb;
    *cap = want;
    return 0;
}

/* Appends free blocks, each with one reference, until *n == want. */
static void take_into(kv_pool *p, uint32_t *blocks, uint32_t *n, uint32_t want)
{
    while (*n < want) {
        uint32_t b = take_free(p);
        ref_add(p, b);
        blocks[(*n)++] = b;
    }
}

int kv_seq_reserve(kv_pool *p, kv_seq *seq, int64_t total_tokens)
{
    p->version++;
    uint32_t want = kv_token_blocks_for(p, total_tokens), want_w = kv_window_blocks_for(p, total_tokens);
    uint32_t need = short_of(want, seq->n_blocks) + short_of(want_w, seq->n_wblocks);
    if (need == 0)
        return 0;
    if (need > p->n_free)
        return -1;
    /* Grow the tables first so that nothing is taken if that fails. */
    if (grow_table(&seq->blocks, &seq->cap_blocks, want) < 0 ||
        grow_table(&seq->wblocks, &seq->cap_wblocks, want_w) < 0)
        return -1;
    take_into(p, seq->blocks, &seq->n_blocks, want);
    take_into(p, seq->wblocks, &seq->n_wblocks, want_w);
    return 0;
}

void kv_seq_commit(kv_pool *p, kv_seq *seq, const kv_content *c, int64_t computed_tokens)
{
    p->version++;
    if (!p->prefix_cache || seq->sealed)
        return;
    int64_t full = computed_tokens / p->block_tokens;
    if (full > seq->n_blocks)
        full = seq->n_blocks;
    if (seq->n_hashed >= full)
        return;
    seg_cursor cur = { 0, 0 };
    for (int64_t i = seq->n_hashed; i < full; i++) {
        uint64_t h = block_hash(seq->chain_hash, c, &cur, i * p->block_tokens, p->block_tokens);
        uint32_t b = seq->blocks[i];
        /* Another block may already hold this content (two requests computed
         * the same prefix at once): keep the first, leave this one private. */
        if (!p->hash[b] && tab_get(p, h) == KV_NONE) {
            hash_set(p, b, h);
            if (p->on_register)
                p->on_register(p->register_ud, h);
        }
        seq->chain_hash = h;
        seq->n_hashed++;
    }
}

void kv_seq_release(kv_pool *p, kv_seq *seq)
{
    p->version++;
    /* Last blocks first, so a prefix's leading blocks are the last evicted. */
    for (uint32_t i = seq->n_blocks; i-- > 0;) {
        uint32_t b = seq->blocks[i];
        if (ref_drop(p, b) == 0) {
            if (p->hash[b] && p->no_retain)
                evict_content(p, b);
            if (p->hash[b])
                free_push_tail(p, b);
            else
                free_push_head(p, b);
        }
    }
    /* Window blocks hold no prefix content: plain free at once. */
    for (uint32_t i = seq->n_wblocks; i-- > 0;) {
        ref_drop(p, seq->wblocks[i]);
        free_push_head(p, seq->wblocks[i]);
    }
    seq->n_wblocks = 0;
    if (seq->n_blocks > seq->hint_blocks)
        seq->hint_blocks = seq->n_blocks;
    seq->n_blocks = 0;
    seq->checked_blocks = seq->checked_wblocks = 0;
    seq->n_hashed = 0;
    seq->chain_hash = 0;
    seq->sealed = 0;
}

void kv_seq_shrink(kv_pool *p, kv_seq *seq, uint32_t keep_blocks)
{
    p->version++;
    while (seq->n_blocks > keep_blocks) {
        uint32_t b = seq->blocks[--seq->n_blocks];
        if (ref_drop(p, b) == 0) {
            if (p->hash[b])
                free_push_tail(p, b);
            else
                free_push_head(p, b);
        }
    }
    for (uint32_t i = 0; i < seq->n_blocks; i++) {
        uint32_t b = seq->blocks[i];
        if (p->ref[b] == 1 && p->hash[b])
            hash_clear(p, b);
    }
    if (seq->checked_blocks > seq->n_blocks)
        seq->checked_blocks = seq->n_blocks;
    seq->n_hashed = 0;
    seq->chain_hash = 0;
    seq->sealed = 1;
}

void kv_seq_destroy(kv_seq *seq)
{
    free(seq->blocks);
    free(seq->wblocks);
    free(seq->hashes);
    memset(seq, 0, sizeof *seq);
}

/* ---------- content cache ---------- */

void kv_pool_set_evict_hook(kv_pool *p, kv_evict_fn fn, void *ud)
{
    p->on_evict = fn;
    p->evict_ud = ud;
}

void kv_pool_set_register_hook(kv_pool *p, kv_register_fn fn, void *ud)
{
    p->on_register = fn;
    p->register_ud = ud;
}

void kv_pool_set_freed(kv_pool *p, kv_freed freed) { p->no_retain = freed == KV_FREED_EVICT; }
void kv_pool_set_eviction(kv_pool *p, kv_eviction policy) { p->eviction = policy; }

int kv_pool_has(const kv_pool *p, uint64_t hash) { return tab_get(p, hash) != KV_NONE; }

void kv_pool_touch(kv_pool *p, uint64_t hash)
{
    p->version++;
    uint32_t b = tab_get(p, hash);
    if (b != KV_NONE && p->ref[b] == 0) {
        free_unlink(p, b);
        free_push_tail(p, b);
    }
}

int kv_pool_put(kv_pool *p, uint64_t hash)
{
    p->version++;
    if (kv_pool_has(p, hash)) {
        kv_pool_touch(p, hash);
        return 1;
    }
    if (!p->n_free)
        return -1;
    uint32_t b = take_free(p);
    hash_set(p, b, hash);
    free_push_tail(p, b);
    return 0;
}

int kv_pool_drop(kv_pool *p, uint64_t hash)
{
    p->version++;
    uint32_t b = tab_get(p, hash);
    if (b == KV_NONE)
        return 0;
    if (p->ref[b] == 0) {
        free_unlink(p, b);
        hash_clear(p, b);
        free_push_head(p, b);
    } else {
        hash_clear(p, b);
    }
    return 1;
}

void kv_content_hashes(const kv_content *c, int block_tokens, int64_t first, int64_t n, uint64_t prev,
                       uint64_t *out)
{
    seg_cursor cur = { 0, 0 };
    for (int64_t i = 0; i < n; i++) {
        prev = block_hash(prev, c, &cur, (first + i) * block_tokens, block_tokens);
        out[i] = prev;
    }
}

/* ---------- invariants ---------- */

/* A free-list entry must be a block of the pool with no reference. */
static int free_block_ok(const void *ud, uint32_t b)
{
    const kv_pool *p = ud;
    return b < p->n_blocks && p->ref[b] == 0 ? 0 : -1;
}

static int check_free_list(const kv_pool *p, kt_err *err)
{
    int l;
    uint32_t bad;
    int64_t listed = evict_lists_walk(&p->free, p->n_blocks, free_block_ok, p, &l, &bad);
    if (listed < 0) {
        if (bad == EVICT_NONE)
            KT_ERROR(err, NULL, 0, 0, "kv: free list %d does not end at its tail", l);
        else
            KT_ERROR(err, NULL, 0, 0, "kv: free list %d broken at block %u", l, bad);
        return -1;
    }
    /* Every listed block is unreferenced; when the counts below agree, the
     * lists hold exactly the unreferenced blocks. */
    uint32_t n = (uint32_t)listed, unref = 0, cached = 0;
    for (uint32_t b = 0; b < p->n_blocks; b++) {
        unref += p->ref[b] == 0;
        cached += p->ref[b] == 0 && p->hash[b] != 0;
    }
    if (n != p->n_free || (unref == n && cached != p->n_cached)) {
        KT_ERROR(err, NULL, 0, 0, "kv: free lists hold %u blocks (%u cached), counters say %u (%u)", n,
                 cached, p->n_free, p->n_cached);
        return -1;
    }
    if (unref != n) {
        KT_ERROR(err, NULL, 0, 0, "kv: %u blocks have no reference but %u are on the free lists", unref, n);
        return -1;
    }
    return 0;
}

static int check_table(const kv_pool *p, kt_err *err)
{
    uint32_t entries = 0;
    for (uint32_t i = 0; i < idxtab_slots(&p->tab); i++) {
        if (!p->tab.slot[i])
            continue;
        entries++;
        uint32_t b = p->tab.slot[i] - 1;
        if (b >= p->n_blocks || !p->hash[b] || tab_get(p, p->hash[b]) != b) {
            KT_ERROR(err, NULL, 0, 0, "kv: prefix table slot %u does not match block %u", i, b);
            return -1;
        }
    }
    uint32_t hashed = 0;
    for (uint32_t b = 0; b < p->n_blocks; b++)
        hashed += p->hash[b] != 0;
    if (hashed != entries) {
        KT_ERROR(err, NULL, 0, 0, "kv: %u blocks carry a hash but the table has %u entries", hashed, entries);
        return -1;
    }
    return 0;
}

/* Counts seq's references in a block table into count[] (last[] catches a
 * block held twice by one sequence). */
static int count_table(const kv_pool *p, const uint32_t *blocks, uint32_t n, size_t s, uint32_t *count,
                       size_t *last, kt_err *err)
{
    for (uint32_t i = 0; i < n; i++) {
        if (blocks[i] >= p->n_blocks || last[blocks[i]] == s + 1) {
            KT_ERROR(err, NULL, 0, 0, "kv: sequence %zu holds block %u twice or a bad block", s, blocks[i]);
            return -1;
        }
        count[blocks[i]]++;
        last[blocks[i]] = s + 1;
    }
    return 0;
}

/* Sequence s's counts: no more hashed blocks than blocks, and block hints
 * (entries a release left) within the array. */
static int check_seq_counts(const kv_seq *q, size_t s, kt_err *err)
{
    if (q->n_hashed <= q->n_blocks && q->hint_blocks <= q->cap_blocks)
        return 0;
    KT_ERROR(err, NULL, 0, 0, "kv: sequence %zu has %u hashed of %u blocks, hints for %u of %u entries", s,
             q->n_hashed, q->n_blocks, q->hint_blocks, q->cap_blocks);
    return -1;
}

static int check_refs(const kv_pool *p, const kv_seq *const *seqs, size_t n_seqs, kt_err *err)
{
    uint32_t *count = calloc(p->n_blocks + 1, sizeof *count);
    size_t *last = calloc(p->n_blocks + 1, sizeof *last);   /* sequence index + 1 that last held it */
    if (!count || !last) {
        free(count);
        free(last);
        return 0;
    }
    int rc = 0;
    for (size_t s = 0; s < n_seqs && rc == 0; s++) {
        const kv_seq *q = seqs[s];
        if (check_seq_counts(q, s, err) < 0) {
            rc = -1;
        } else if (count_table(p, q->blocks, q->n_blocks, s, count, last, err) < 0 ||
                   count_table(p, q->wblocks, q->n_wblocks, s, count, last, err) < 0) {
            rc = -1;
        }
        for (uint32_t i = 0; i < q->n_wblocks && rc == 0; i++)
            if (p->hash[q->wblocks[i]]) {
                KT_ERROR(err, NULL, 0, 0, "kv: sequence %zu's window block %u holds prefix content", s,
                         q->wblocks[i]);
                rc = -1;
            }
    }
    for (uint32_t b = 0; b < p->n_blocks && rc == 0; b++)
        if (count[b] != p->ref[b]) {
            KT_ERROR(err, NULL, 0, 0, "kv: block %u has ref %u but %u sequences hold it", b, p->ref[b], count[b]);
            rc = -1;
        }
    free(count);
    free(last);
    return rc;
}

int kv_pool_check(const kv_pool *p, const kv_seq *const *seqs, size_t n_seqs, kt_err *err)
{
    if (check_free_list(p, err) < 0 || check_table(p, err) < 0)
        return -1;
    return seqs ? check_refs(p, seqs, n_seqs, err) : 0;
}

/* ---------- invariants where the pool changed ---------- */

/* One changed block: its free-list links intact, on a free list iff it has
 * no reference, and its content (if any) in the table under it. */
static int check_touched_block(const kv_pool *p, uint32_t b, kt_err *err)
{
    int listed = evict_lists_entry_links(&p->free, b, p->n_blocks);
    if (listed < 0) {
        KT_ERROR(err, NULL, 0, 0, "kv: free-list links broken at block %u", b);
        return -1;
    }
    if (listed != (p->ref[b] == 0)) {
        KT_ERROR(err, NULL, 0, 0, "kv: block %u has ref %u but is %son a free list", b, p->ref[b],
                 listed ? "" : "not ");
        return -1;
    }
    if (p->hash[b] && tab_get(p, p->hash[b]) != b) {
        KT_ERROR(err, NULL, 0, 0, "kv: block %u's content is not in the prefix table under it", b);
        return -1;
    }
    return 0;
}

/* Entries blocks[from, n) of sequence s: blocks of the pool holding a
 * reference, and (window blocks) without prefix content. */
static int check_new_entries(const kv_pool *p, const uint32_t *blocks, uint32_t from, uint32_t n, int window,
                             size_t s, kt_err *err)
{
    for (uint32_t i = from; i < n; i++) {
        uint32_t b = blocks[i];
        if (b >= p->n_blocks || p->ref[b] == 0 || (window && p->hash[b])) {
            KT_ERROR(err, NULL, 0, 0, "kv: sequence %zu's %sblock %u is out of the pool, unreferenced or "
                     "holds prefix content", s, window ? "window " : "", b);
            return -1;
        }
    }
    return 0;
}

/* The sequences' entries added since the last check, and the sum of their
 * entries against the sum of ref counts. Marks the entries verified. */
static int check_touched_seqs(const kv_pool *p, kv_seq *const *seqs, size_t n_seqs, kt_err *err)
{
    uint64_t held = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        kv_seq *q = seqs[s];
        if (check_seq_counts(q, s, err) < 0)
            return -1;
        uint32_t from = q->checked_blocks < q->n_blocks ? q->checked_blocks : q->n_blocks;
        uint32_t wfrom = q->checked_wblocks < q->n_wblocks ? q->checked_wblocks : q->n_wblocks;
        if (check_new_entries(p, q->blocks, from, q->n_blocks, 0, s, err) < 0 ||
            check_new_entries(p, q->wblocks, wfrom, q->n_wblocks, 1, s, err) < 0)
            return -1;
        q->checked_blocks = q->n_blocks;
        q->checked_wblocks = q->n_wblocks;
        held += (uint64_t)q->n_blocks + q->n_wblocks;
    }
    if (held != p->ref_total) {
        KT_ERROR(err, NULL, 0, 0, "kv: ref counts add up to %llu but the sequences hold %llu blocks",
                 (unsigned long long)p->ref_total, (unsigned long long)held);
        return -1;
    }
    return 0;
}

/* The pool's counters against each other (O(1)). */
static int check_counters(const kv_pool *p, kt_err *err)
{
    if (p->n_free > p->n_blocks || p->n_cached > p->n_free || p->ref_total < p->n_blocks - p->n_free ||
        p->tab.n != p->n_hashed) {
        KT_ERROR(err, NULL, 0, 0, "kv: counters disagree: %u free, %u cached of %u blocks, %llu references, "
                 "%u table entries for %u blocks with content", p->n_free, p->n_cached, p->n_blocks,
                 (unsigned long long)p->ref_total, p->tab.n, p->n_hashed);
        return -1;
    }
    return 0;
}

/* Starts recording changes (tracking off until the first check). */
static int touched_start(kv_pool *p)
{
    p->touched.list = malloc(((size_t)p->n_blocks + 1) * sizeof *p->touched.list);
    p->touched.mark = calloc((size_t)p->n_blocks + 1, sizeof *p->touched.mark);
    if (p->touched.list && p->touched.mark)
        return 0;
    free(p->touched.list);
    free(p->touched.mark);
    p->touched = (kv_touched){ 0 };
    return -1;
}

int kv_pool_check_touched(kv_pool *p, kv_seq *const *seqs, size_t n_seqs, kt_err *err)
{
    if (!p->touched.list) {
        if (touched_start(p) < 0) {
            KT_ERROR(err, NULL, 0, 0, "out of memory");
            return -1;
        }
        if (kv_pool_check(p, (const kv_seq *const *)seqs, n_seqs, err) < 0)
            return -1;
    }
    int rc = check_counters(p, err);
    for (uint32_t i = 0; i < p->touched.n; i++) {
        uint32_t b = p->touched.list[i];
        p->touched.mark[b] = 0;
        if (rc == 0)
            rc = check_touched_block(p, b, err);
    }
    p->touched.n = 0;
    if (rc == 0 && seqs)
        rc = check_touched_seqs(p, seqs, n_seqs, err);
    return rc;
}
