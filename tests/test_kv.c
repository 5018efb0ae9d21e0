/* test_kv.c — the paged KV block manager: block arithmetic, all-or-nothing reserve, prefix sharing, LRU eviction order, and invariants under random operations. */
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "kv.h"
#include "testutil.h"

#define BT 16

/* kv_pool_check over a list of sequences; prints the message on failure. */
static int check(const kv_pool *p, kv_seq **seqs, size_t n)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    int rc = kv_pool_check(p, (const kv_seq *const *)seqs, n, &err);
    if (rc != 0)
        fprintf(stderr, "\n  kv_pool_check: %s\n", err.msg);
    return rc;
}

/* kv_pool_check expected to fail (no message printed). */
static int check_quiet(const kv_pool *p, kv_seq **seqs, size_t n)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    int rc = kv_pool_check(p, (const kv_seq *const *)seqs, n, &err);
    if (rc != 0)
        CU_ASSERT(err.msg[0] != '\0');
    return rc;
}

/* ---------- arithmetic and reserve ---------- */

static void test_blocks_for(void)
{
    kv_pool *p = kv_pool_new(10, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(kv_pool_blocks(p), 10);
    CU_ASSERT_EQUAL(kv_pool_block_tokens(p), BT);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 10);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 0);
    /* ceil(tokens / 16) */
    CU_ASSERT_EQUAL(kv_blocks_for(p, 0), 0);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 1), 1);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 15), 1);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 16), 1);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 17), 2);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 100), 7);      /* 100/16 = 6.25 -> 7 */
    CU_ASSERT_EQUAL(kv_blocks_for(p, 160), 10);     /* exactly 10 */
    CU_ASSERT_EQUAL(kv_blocks_for(p, 131072), 8192);
    kv_pool_free(p);

    kv_pool *q = kv_pool_new(4, 1, KV_PREFIX_CACHE_ON); /* one token per block */
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(kv_blocks_for(q, 3), 3);
    kv_pool_free(q);
}

static void test_reserve_all_or_nothing(void)
{
    kv_pool *p = kv_pool_new(10, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 }, b = { 0 }, c = { 0 };
    kv_seq *all[] = { &a, &b, &c };
    kv_segment seg = { 7, 32 };
    kv_content ct = { &seg, 1 };

    /* c: 2 blocks, committed and released -> 2 cached free blocks. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &c, 32), 0);
    kv_seq_commit(p, &c, &ct, 32);
    kv_seq_release(p, &c);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 10);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 2);

    /* a: 100 tokens -> 7 blocks; the 8 uncached free blocks go first, so
     * both cached ones survive: free 10 - 7 = 3, of them 2 cached. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 100), 0);
    CU_ASSERT_EQUAL(a.n_blocks, 7);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 3);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 2);

    /* b: 65 tokens needs 5 blocks > 3 free: refused, nothing changes. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 65), -1);
    CU_ASSERT_EQUAL(b.n_blocks, 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 3);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 2);

    /* a growing to 161 tokens needs 11 blocks: 4 more > 3 free: refused. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 161), -1);
    CU_ASSERT_EQUAL(a.n_blocks, 7);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 3);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 2);
    CU_ASSERT_EQUAL(check(p, all, 3), 0);

    /* Shrinking asks for nothing. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 50), 0);
    CU_ASSERT_EQUAL(a.n_blocks, 7);

    /* b: 48 tokens = 3 blocks = all free ones: 1 uncached, then both cached
     * (evicted): free 0, cached 0. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 48), 0);
    CU_ASSERT_EQUAL(b.n_blocks, 3);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ct, 33), 0);
    /* Even one more token is refused now (3 -> 4 blocks, none free). */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 49), -1);
    CU_ASSERT_EQUAL(b.n_blocks, 3);
    CU_ASSERT_EQUAL(check(p, all, 3), 0);

    kv_seq_release(p, &a);
    kv_seq_release(p, &b);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 10);
    CU_ASSERT_EQUAL(check(p, all, 3), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_seq_destroy(&c);
    kv_pool_free(p);
}

/* A pool of 40 blocks whose windowed layers are one group at 3× a block's
 * bytes per token (Scout's 36 chunked layers against its 12 global ones),
 * window 64 tokens. The caller frees it. */
static kv_pool *window_pool(void)
{
    kv_pool *p = kv_pool_new(40, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const int64_t win = 64;
    const double ratio = 3.0;
    CU_ASSERT_EQUAL(kv_pool_set_windows(p, 1, &win, &ratio), 0);
    return p;
}

/* Window blocks of window_pool's windowed group. */
static void test_window_blocks(void)
{
    kv_pool *p = window_pool();
    /* 10 tokens: 1 token block + ceil(30 / 16) = 2 window blocks. */
    CU_ASSERT_EQUAL(kv_token_blocks_for(p, 10), 1);
    CU_ASSERT_EQUAL(kv_window_blocks_for(p, 10), 2);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 10), 3);
    /* 16 tokens: 48 / 16 = exactly 3 window blocks, not 4. */
    CU_ASSERT_EQUAL(kv_window_blocks_for(p, 16), 3);
    /* Past the window the windowed part stops at 3 × 64 / 16 = 12 blocks. */
    CU_ASSERT_EQUAL(kv_window_blocks_for(p, 64), 12);
    CU_ASSERT_EQUAL(kv_window_blocks_for(p, 1000), 12);
    CU_ASSERT_EQUAL(kv_blocks_for(p, 200), 13 + 12);

    kv_seq a = { 0 }, b = { 0 };
    kv_seq *all[] = { &a, &b };
    kv_segment seg = { 9, 200 };
    kv_content ct = { &seg, 1 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 10), 0);
    CU_ASSERT_EQUAL(a.n_blocks, 1);
    CU_ASSERT_EQUAL(a.n_wblocks, 2);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 37);
    /* Growing to 100 tokens: 7 token blocks, 12 window blocks: 16 more. */
    CU_ASSERT_EQUAL(kv_seq_blocks_short(p, &a, 100), 16);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 100), 0);
    CU_ASSERT_EQUAL(a.n_blocks + a.n_wblocks, 19);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 21);
    kv_seq_commit(p, &a, &ct, 100);
    CU_ASSERT_EQUAL(a.n_hashed, 6);
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    /* b needs 7 + 12 = 19 <= 21: taken; then 3 more tokens' worth is refused
     * whole (a block of each kind is not split). */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 100), 0);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 200), -1);
    CU_ASSERT_EQUAL(b.n_blocks, 7);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 2);
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    /* Released: the window blocks come back uncached, the 6 committed token
     * blocks stay findable. */
    kv_seq_release(p, &a);
    kv_seq_release(p, &b);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 40);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 6);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ct, 200), 96);
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* ---------- prefix sharing ---------- */

static void test_prefix_sharing(void)
{
    kv_pool *p = kv_pool_new(64, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* A shared 100-token system prompt, then 60 tokens of each session. */
    kv_segment sa[] = { { 1, 100 }, { 10, 60 } }, sb[] = { { 1, 100 }, { 11, 60 } };
    kv_content ca = { sa, 2 }, cb = { sb, 2 };
    kv_seq a = { 0 }, b = { 0 };
    kv_seq *both[] = { &a, &b };

    /* Empty cache: nothing to attach. */
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &a, &ca, 160), 0);
    CU_ASSERT_EQUAL(a.n_blocks, 0);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 160), 0);
    CU_ASSERT_EQUAL(a.n_blocks, 10);                /* 160 / 16 */
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 54);    /* 64 - 10 */
    kv_seq_commit(p, &a, &ca, 160);
    CU_ASSERT_EQUAL(a.n_hashed, 10);

    /* b shares blocks 0..5 (tokens 0..95, all inside the system prompt);
     * block 6 spans tokens 96..111 = 4 system + 12 session tokens: differs. */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 160), 96);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &b, &cb, 160), 96);
    CU_ASSERT_EQUAL(b.n_blocks, 6);
    CU_ASSERT_EQUAL(b.n_hashed, 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(b.blocks[i], a.blocks[i]);
    /* The shared blocks were held already: no free block was taken. */
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 54);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 160), 0);
    CU_ASSERT_EQUAL(b.n_blocks, 10);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 50);    /* 54 - 4 private blocks */
    for (int i = 6; i < 10; i++)
        for (int j = 0; j < 10; j++)
            CU_ASSERT_NOT_EQUAL(b.blocks[i], a.blocks[j]);
    kv_seq_commit(p, &b, &cb, 160);
    CU_ASSERT_EQUAL(b.n_hashed, 10);

    /* Ref counts: the 6 shared blocks have ref 2, so the pool is consistent
     * with both sequences, and with either one alone it is not. */
    CU_ASSERT_EQUAL(check(p, both, 2), 0);
    CU_ASSERT_EQUAL(check_quiet(p, both, 1), -1);
    CU_ASSERT_EQUAL(check_quiet(p, both + 1, 1), -1);

    /* Release a: only its 4 private blocks become free (and cached). */
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(a.n_blocks, 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 54);    /* 50 + 4 */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 4);
    CU_ASSERT_EQUAL(check(p, both + 1, 1), 0);
    /* a's whole prompt (but the last token's block) is still cached:
     * (160 - 1) / 16 = 9 blocks = 144 tokens. */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ca, 160), 144);

    kv_seq_release(p, &b);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 64);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 14);  /* 6 shared + 4 + 4 */
    CU_ASSERT_EQUAL(check(p, both, 2), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

static void test_last_token_never_matched(void)
{
    kv_pool *p = kv_pool_new(16, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment s = { 42, 64 };
    kv_content c = { &s, 1 };
    kv_seq a = { 0 }, b = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 64), 0);
    kv_seq_commit(p, &a, &c, 64);
    CU_ASSERT_EQUAL(a.n_hashed, 4);
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 4);

    /* All 64 tokens are cached, but the last prompt token must be computed:
     * (64 - 1) / 16 = 3 whole blocks = 48 tokens. */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 64), 48);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 65), 64);   /* 64/16 = 4 blocks */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 17), 16);   /* 16/16 = 1 */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 16), 0);    /* 15/16 = 0 */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 1), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 0), 0);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &b, &c, 64), 48);
    CU_ASSERT_EQUAL(b.n_blocks, 3);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 13);             /* 16 - 3 */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 1);            /* block 3 still cached */
    kv_seq *all[] = { &b };
    CU_ASSERT_EQUAL(check(p, all, 1), 0);
    kv_seq_release(p, &b);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* Turn 2 of a session re-finds turn 1's prompt and output after release. */
static void test_next_turn_finds_previous(void)
{
    kv_pool *p = kv_pool_new(40, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* Turn 1: system 100 + session 60 = 160 prompt tokens, 40 output. */
    kv_segment t1[] = { { 1, 100 }, { 77, 60 } };
    kv_content c1 = { t1, 2 };
    kv_seq s = { 0 };
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c1, 160), 0);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &s, 200), 0);
    CU_ASSERT_EQUAL(s.n_blocks, 13);                /* ceil(200/16) = 13 */
    /* All 200 tokens computed (prompt + generated): 200/16 = 12 full blocks. */
    kv_seq_commit(p, &s, &c1, 200);
    CU_ASSERT_EQUAL(s.n_hashed, 12);
    kv_seq_release(p, &s);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 40);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 12);

    /* Turn 2: the session segment now holds turn 1's 60 + 40 output + 50
     * new = 150 tokens; prompt 250. Matchable: (250-1)/16 = 15 blocks, of
     * which the 12 turn 1 registered are found: 192 tokens. */
    kv_segment t2[] = { { 1, 100 }, { 77, 150 } };
    kv_content c2 = { t2, 2 };
    uint64_t h1[12], h2[12];
    kv_content_hashes(&c1, BT, 0, 12, 0, h1);
    kv_content_hashes(&c2, BT, 0, 12, 0, h2);
    for (int i = 0; i < 12; i++) {
        CU_ASSERT_EQUAL(h1[i], h2[i]);
        CU_ASSERT(kv_pool_has(p, h1[i]));
    }
    /* A different session's next turn shares only the system blocks. */
    kv_segment other[] = { { 1, 100 }, { 78, 150 } };
    kv_content co = { other, 2 };
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &co, 250), 96);

    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c2, 250), 192);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c2, 250), 192);
    CU_ASSERT_EQUAL(s.n_blocks, 12);
    CU_ASSERT_EQUAL(s.n_hashed, 12);
    CU_ASSERT_EQUAL(s.chain_hash, h1[11]);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 28);    /* 40 - 12 */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 0);
    /* Chained hashes: the hash of block i continues from block i-1. */
    uint64_t tail[3];
    kv_content_hashes(&c2, BT, 9, 3, h2[8], tail);
    CU_ASSERT_EQUAL(tail[0], h2[9]);
    CU_ASSERT_EQUAL(tail[2], h2[11]);

    /* Turn 2 continues: 250 prompt + 30 output = 280 tokens -> 18 blocks,
     * committed up to 280/16 = 17 full blocks. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &s, 280), 0);
    CU_ASSERT_EQUAL(s.n_blocks, 18);
    kv_seq_commit(p, &s, &c2, 280);
    CU_ASSERT_EQUAL(s.n_hashed, 17);
    kv_seq *all[] = { &s };
    CU_ASSERT_EQUAL(check(p, all, 1), 0);
    kv_seq_release(p, &s);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 17);
    kv_seq_destroy(&s);
    kv_pool_free(p);
}

/* A sequence keeps its prompt's hashes across releases: a retried
 * admission uses them instead of hashing again, and the checker recomputes
 * them. Content {5: 40 tokens, 6: 100}: a 140-token prompt has (140-1)/16
 * = 8 matchable blocks; 140/16 = 8 full blocks are committed. */
static void test_kept_hashes(void)
{
    kv_pool *p = kv_pool_new(20, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment g[] = { { 5, 40 }, { 6, 100 } };
    kv_content c = { g, 2 };
    uint64_t want[8];
    kv_content_hashes(&c, BT, 0, 8, 0, want);
    kv_seq s = { 0 };
    /* Empty pool: block 0 misses, so only its hash is kept. */
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 140), 0);
    CU_ASSERT_EQUAL(s.n_hashes, 1);
    CU_ASSERT_EQUAL(s.hashes[0], want[0]);
    const uint64_t *h = kv_seq_hashes(p, &s, &c, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(h[i], want[i]);
    CU_ASSERT_EQUAL(kv_seq_check_hashes(p, &s, &c, NULL), 0);
    CU_ASSERT_EQUAL(s.hashes_checked, 8);
    /* Another sequence computes the prompt: its 8 full blocks are cached. */
    kv_seq a = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 140), 0);
    kv_seq_commit(p, &a, &c, 140);
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 140), 128);     /* 8 blocks x 16 */
    kv_seq_release(p, &s);
    CU_ASSERT_EQUAL(s.n_hashes, 8);                 /* kept across the release */
    /* A kept hash is what the next try uses: spoil block 3's and only
     * blocks 0..2 (48 tokens) match; the checker sees the spoiled one. */
    s.hashes[3] ^= 1;
    s.hashes_checked = 0;
    kt_err err;
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(kv_seq_check_hashes(p, &s, &c, &err), -1);
    CU_ASSERT(err.msg[0] != '\0');
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 140), 48);
    kv_seq_release(p, &s);
    s.hashes[3] ^= 1;
    CU_ASSERT_EQUAL(kv_seq_check_hashes(p, &s, &c, NULL), 0);
    /* Other content (the session's next request): the kept hashes are
     * replaced, not extended. {5: 40, 7: 100} shares block 0..1 (32 tokens
     * of content 5) and block 2 mixes 5 and 7: 2 blocks match. */
    kv_segment g2[] = { { 5, 40 }, { 7, 100 } };
    kv_content c2 = { g2, 2 };
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c2, 140), 32);
    CU_ASSERT_EQUAL(s.n_hashes, 3);                 /* 2 matched, the third missed */
    CU_ASSERT_EQUAL(s.hashes[1], want[1]);
    CU_ASSERT_NOT_EQUAL(s.hashes[2], want[2]);
    CU_ASSERT_EQUAL(kv_seq_check_hashes(p, &s, &c2, NULL), 0);
    kv_seq_release(p, &s);
    kv_seq_destroy(&s);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* A retried match tries the blocks the sequence held last (its hints)
 * before the table, and takes one only while it still holds the content:
 * here block 3's content moves to another block between two tries, and
 * the second try follows it. Content {5: 140}: (140-1)/16 = 8 matchable
 * blocks, all cached by a first sequence. */
static void test_retry_hints(void)
{
    kv_pool *p = kv_pool_new(20, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment g[] = { { 5, 140 } };
    kv_content c = { g, 1 };
    kv_seq a = { 0 }, s = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 140), 0);
    kv_seq_commit(p, &a, &c, 140);
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 140), 128);
    uint32_t old[8];
    memcpy(old, s.blocks, sizeof old);
    kv_seq_release(p, &s);
    CU_ASSERT_EQUAL(s.hint_blocks, 8);
    /* Drop block 3's content: its block goes plain to the head of the free
     * list, so the next put (other content, 99) takes it; putting block 3's
     * content back takes the next block at the head, another one. */
    const uint64_t *h = kv_seq_hashes(p, &s, &c, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    uint64_t h3 = h[3];
    CU_ASSERT_EQUAL(kv_pool_drop(p, h3), 1);
    CU_ASSERT_EQUAL(kv_pool_put(p, 99), 0);
    CU_ASSERT_EQUAL(kv_pool_put(p, h3), 0);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 140), 128);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(s.blocks[i] == old[i], i != 3);
    kv_seq *all[] = { &s };
    CU_ASSERT_EQUAL(check(p, all, 1), 0);
    kv_seq_release(p, &s);
    kv_seq_destroy(&s);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* Attaches c's 300-token prompt to s and releases it: a failed admission. */
static int64_t try_and_fail(kv_pool *p, kv_seq *s, const kv_content *c)
{
    int64_t got = kv_seq_attach_prefix(p, s, c, 300);
    kv_seq_release(p, s);
    return got;
}

/* A retry that changes nothing is answered without attaching. Content
 * {5: 300}: the prompt has (300-1)/16 = 18 matchable blocks; a first
 * sequence caches 140/16 = 8 of them in a 20-block pool, so a try matches
 * 8 blocks (128 tokens), all free, and misses block 8. */
static void test_retry_without_attaching(void)
{
    kv_pool *p = kv_pool_new(20, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment g[] = { { 5, 300 } };
    kv_content c = { g, 1 };
    kv_seq a = { 0 }, s = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 140), 0);
    kv_seq_commit(p, &a, &c, 140);
    kv_seq_release(p, &a);
    uint32_t f = 99;
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), -1);      /* never tried */
    CU_ASSERT_EQUAL(try_and_fail(p, &s, &c), 128);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), 128);
    CU_ASSERT_EQUAL(f, 8);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 20);
    /* The reserve after it: 288 tokens need 18 blocks, 10 beyond the 8
     * attached, and 20 - 8 = 12 stay free: it fits; 336 tokens need 21,
     * 13 more: it does not, as the real reserve says. */
    CU_ASSERT_TRUE(kv_seq_retry_fits(p, 128, 8, 288));
    CU_ASSERT_FALSE(kv_seq_retry_fits(p, 128, 8, 336));
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &s, &c, 300), 128);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &s, 336), -1);
    kv_seq_release(p, &s);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), 128);    /* a failed try moved nothing */
    /* Another block at a free list's tail: a try would move the 8 past it. */
    CU_ASSERT_EQUAL(kv_pool_put(p, 99), 0);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), -1);
    CU_ASSERT_EQUAL(try_and_fail(p, &s, &c), 128);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), 128);
    /* Block 5's content dropped: the match would end at 5 blocks. */
    const uint64_t *h = kv_seq_hashes(p, &s, &c, 18);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(kv_pool_drop(p, h[5]), 1);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), -1);
    CU_ASSERT_EQUAL(try_and_fail(p, &s, &c), 80);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), 80);
    CU_ASSERT_EQUAL(f, 5);
    /* Held by another sequence, the blocks leave the free lists: a try
     * only adds and drops references; none of its 5 is free. */
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &a, &c, 300), 80);
    CU_ASSERT_EQUAL(kv_seq_retry_prefix(p, &s, &c, 300, &f), 80);
    CU_ASSERT_EQUAL(f, 0);
    kv_seq *all[] = { &a, &s };
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    kv_seq_release(p, &a);
    kv_seq_destroy(&s);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* ---------- LRU ---------- */

/* Reserves, commits and releases a 64-token sequence of content c. */
static void cache_content(kv_pool *p, const kv_content *c)
{
    kv_seq s = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &s, 64), 0);
    kv_seq_commit(p, &s, c, 64);
    kv_seq_release(p, &s);
    kv_seq_destroy(&s);
}

/* The shared lists by hand: four entries, 0..2 cold in that order, 3 hot.
 * The victim is the cold head; with the cold list empty, the hot head. */
static void test_evict_lists_order(void)
{
    uint32_t prev[4], next[4];
    uint8_t seg[4];
    evict_lists l = { .prev = prev, .next = next, .seg = seg };
    evict_lists_clear(&l);
    CU_ASSERT_EQUAL(evict_lists_victim(&l), EVICT_NONE);
    for (uint32_t e = 0; e < 3; e++)
        evict_lists_push_tail(&l, e, EVICT_COLD);
    evict_lists_push_tail(&l, 3, EVICT_HOT);
    CU_ASSERT_EQUAL(evict_lists_victim(&l), 0);
    evict_lists_unlink(&l, 0);                  /* 1 2 | 3 */
    CU_ASSERT_EQUAL(evict_lists_victim(&l), 1);
    evict_lists_unlink(&l, 2);
    evict_lists_push_head(&l, 2, EVICT_COLD);   /* 2 1 | 3 */
    CU_ASSERT_EQUAL(evict_lists_victim(&l), 2);
    evict_lists_unlink(&l, 2);
    evict_lists_unlink(&l, 1);                  /* | 3 */
    CU_ASSERT_EQUAL(evict_lists_victim(&l), 3);
    evict_lists_push_tail(&l, 0, EVICT_COLD);   /* 0 | 3 */
    CU_ASSERT_EQUAL(evict_lists_victim(&l), 0);
    /* Reused content: LRU keeps it cold, HEAT protects it. */
    CU_ASSERT_EQUAL(evict_reused_segment(EVICT_LRU), EVICT_COLD);
    CU_ASSERT_EQUAL(evict_reused_segment(EVICT_HEAT), EVICT_HOT);
    CU_ASSERT_EQUAL(evict_counts_reuse(EVICT_LRU), 0);
    CU_ASSERT_EQUAL(evict_counts_reuse(EVICT_HEAT), 1);
    CU_ASSERT_STRING_EQUAL(kv_eviction_names[EVICT_HEAT], "heat");
}

static void test_lru_order(void)
{
    /* 12 blocks: A and B (4 blocks each) cached, 4 never used. */
    kv_pool *p = kv_pool_new(12, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment sa = { 100, 64 }, sb = { 200, 64 };
    kv_content ca = { &sa, 1 }, cb = { &sb, 1 };
    cache_content(p, &ca);          /* released first */
    cache_content(p, &cb);          /* released second */
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 12);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 8);
    /* Prompt 65 -> up to 4 blocks matchable. */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ca, 65), 64);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 65), 64);

    /* Unhashed blocks released after the cached ones still go first. */
    kv_seq d = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &d, 64), 0);  /* takes the 4 uncached */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 8);
    kv_seq_release(p, &d);                          /* never committed */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 8);

    kv_seq x = { 0 };
    kv_seq *all[] = { &x };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &x, 64), 0);  /* 4 blocks: the uncached */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ca, 65), 64);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 65), 64);

    /* Now every further block comes out of A (released first), its tail
     * block first: A's cached prefix shrinks 64 -> 48 -> 32 -> 16 -> 0. */
    const int64_t want_a[] = { 48, 32, 16, 0 };
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(kv_seq_reserve(p, &x, 64 + 16 * (i + 1)), 0);
        CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ca, 65), want_a[i]);
        CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 65), 64);
        CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), (uint32_t)(7 - i));
        CU_ASSERT_EQUAL(check(p, all, 1), 0);
    }
    /* Then B, also tail first. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &x, 144), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 65), 48);
    kv_seq_release(p, &x);
    kv_seq_destroy(&x);
    kv_seq_destroy(&d);
    kv_pool_free(p);

    /* Using a prefix again makes it the most recently released: A cached
     * first, B second, then A attached and released again -> B goes first. */
    p = kv_pool_new(8, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    cache_content(p, &ca);
    cache_content(p, &cb);
    kv_seq e = { 0 };
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &e, &ca, 65), 64);
    kv_seq_release(p, &e);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &e, 16 * 5), 0);  /* 5 blocks: B's 4 and A's last */
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &cb, 65), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &ca, 65), 48);
    kv_seq_release(p, &e);
    kv_seq_destroy(&e);
    kv_pool_free(p);
}

static void test_prefix_cache_off(void)
{
    kv_pool *p = kv_pool_new(16, BT, KV_PREFIX_CACHE_OFF);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_segment s = { 5, 64 };
    kv_content c = { &s, 1 };
    kv_seq a = { 0 }, b = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 64), 0);
    kv_seq_commit(p, &a, &c, 64);
    CU_ASSERT_EQUAL(a.n_hashed, 0);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c, 65), 0);
    /* b with the same content while a still holds it: no sharing. */
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &b, &c, 65), 0);
    CU_ASSERT_EQUAL(b.n_blocks, 0);
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 16);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 0);
    CU_ASSERT_EQUAL(kv_seq_attach_prefix(p, &b, &c, 65), 0);
    uint64_t h[4];
    kv_content_hashes(&c, BT, 0, 4, 0, h);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_FALSE(kv_pool_has(p, h[i]));
    kv_seq *all[] = { &a, &b };
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* ---------- hooks and the content-cache calls ---------- */

#define HOOK_LOG_MAX 512
typedef struct hook_log { uint64_t h[HOOK_LOG_MAX]; int n; } hook_log;

static void log_hash(void *ud, uint64_t h)
{
    hook_log *l = ud;
    if (l->n < HOOK_LOG_MAX)
        l->h[l->n] = h;
    l->n++;
}

static void test_hooks_and_content_cache(void)
{
    kv_pool *p = kv_pool_new(4, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    hook_log reg = { { 0 }, 0 }, ev = { { 0 }, 0 };
    kv_pool_set_register_hook(p, log_hash, &reg);
    kv_pool_set_evict_hook(p, log_hash, &ev);
    kv_segment s = { 9, 48 };
    kv_content c = { &s, 1 };
    uint64_t h[3];
    kv_content_hashes(&c, BT, 0, 3, 0, h);

    kv_seq a = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 48), 0);
    kv_seq_commit(p, &a, &c, 40);                   /* 40/16 = 2 full blocks */
    CU_ASSERT_EQUAL(reg.n, 2);
    CU_ASSERT_EQUAL(reg.h[0], h[0]);
    CU_ASSERT_EQUAL(reg.h[1], h[1]);
    kv_seq_commit(p, &a, &c, 48);                   /* only block 2 is new */
    CU_ASSERT_EQUAL(reg.n, 3);
    CU_ASSERT_EQUAL(reg.h[2], h[2]);
    kv_seq_release(p, &a);                          /* 3 cached, 1 plain free */

    /* kv_pool_put of foreign content takes the plain free block first. */
    CU_ASSERT_EQUAL(kv_pool_put(p, 12345), 0);
    CU_ASSERT_EQUAL(ev.n, 0);
    CU_ASSERT_EQUAL(kv_pool_put(p, 12345), 1);      /* already there */
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 4);
    /* Now the LRU cached block is c's tail block h[2] (released first). */
    CU_ASSERT_EQUAL(kv_pool_put(p, 777), 0);
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.h[0], h[2]);
    CU_ASSERT_FALSE(kv_pool_has(p, h[2]));
    /* Touching h[1] saves it: h[0] is evicted next. */
    kv_pool_touch(p, h[1]);
    CU_ASSERT_EQUAL(kv_pool_put(p, 778), 0);
    CU_ASSERT_EQUAL(ev.n, 2);
    CU_ASSERT_EQUAL(ev.h[1], h[0]);
    CU_ASSERT_EQUAL(kv_pool_drop(p, h[1]), 1);
    CU_ASSERT_EQUAL(kv_pool_drop(p, h[1]), 0);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 3);   /* 12345, 777, 778 */
    CU_ASSERT_EQUAL(kv_pool_check(p, NULL, 0, NULL), 0);

    /* Content evicted at release. */
    kv_pool_set_freed(p, KV_FREED_EVICT);
    kv_seq b = { 0 };
    kv_segment s2 = { 10, 16 };
    kv_content c2 = { &s2, 1 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 16), 0);  /* the dropped, plain block */
    kv_seq_commit(p, &b, &c2, 16);
    int before = ev.n;
    kv_seq_release(p, &b);
    CU_ASSERT_EQUAL(ev.n, before + 1);
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(p), 3);
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(p, &c2, 17), 0);
    kv_seq *all[] = { &a, &b };
    CU_ASSERT_EQUAL(check(p, all, 2), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* ---------- random operations ---------- */

#define R_SEQS 50
#define R_BLOCKS 256
#define R_OPS 50000

typedef struct rseq {
    kv_seq s;
    kv_segment segs[3];
    kv_content c;
    int64_t reserved;       /* tokens reserved */
    int active;             /* content chosen */
} rseq;

static void random_content(gsl_rng *r, rseq *q)
{
    static const uint64_t sys_ids[] = { 11, 12 };
    static const int64_t sys_len[] = { 32, 100 };
    static const uint64_t mid_ids[] = { 21, 22, 23, 31, 32 };
    q->segs[0].content_id = sys_ids[gsl_rng_uniform_int(r, 2)];
    q->segs[0].tokens = sys_len[gsl_rng_uniform_int(r, 2)];
    q->segs[1].content_id = mid_ids[gsl_rng_uniform_int(r, 5)];
    q->segs[1].tokens = 1 + (int64_t)gsl_rng_uniform_int(r, 120);
    q->segs[2].content_id = 40 + gsl_rng_uniform_int(r, 3);
    q->segs[2].tokens = 1 + (int64_t)gsl_rng_uniform_int(r, 60);
    q->c.segs = q->segs;
    q->c.n_segs = 1 + (uint32_t)gsl_rng_uniform_int(r, 3);
    q->active = 1;
}

static int64_t content_tokens(const kv_content *c)
{
    int64_t n = 0;
    for (uint32_t i = 0; i < c->n_segs; i++)
        n += c->segs[i].tokens;
    return n;
}

static void test_random_conservation(void)
{
    kv_pool *p = kv_pool_new(R_BLOCKS, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 20240611);
    rseq *q = calloc(R_SEQS, sizeof *q);
    kv_seq *list[R_SEQS];
    unsigned char *seen = calloc(R_BLOCKS, 1);
    for (int i = 0; i < R_SEQS; i++)
        list[i] = &q[i].s;
    uint64_t hashes[256];
    long attach_hits = 0, reserve_fails = 0, evictions_seen = 0, shared_seen = 0;
    int bad = 0;

    for (long op = 0; op < R_OPS && !bad; op++) {
        rseq *x = &q[gsl_rng_uniform_int(r, R_SEQS)];
        /* An empty sequence attaches (60%) or reserves; a holding one
         * reserves more (40%), commits (30%) or is released (30%). */
        unsigned k = gsl_rng_uniform_int(r, 10);
        enum { OP_ATTACH, OP_RESERVE, OP_COMMIT, OP_RELEASE } kind;
        if (x->s.n_blocks == 0)
            kind = k < 6 ? OP_ATTACH : OP_RESERVE;
        else
            kind = k < 4 ? OP_RESERVE : k < 7 ? OP_COMMIT : OP_RELEASE;
        uint32_t free0 = kv_pool_free_blocks(p), cached0 = kv_pool_cached_blocks(p);
        if (kind == OP_ATTACH) {
            /* attach: must agree with the side-effect-free lookup and with
             * the registered chain hashes. */
            random_content(r, x);
            int64_t prompt = 1 + (int64_t)gsl_rng_uniform_int(r, (unsigned long)content_tokens(&x->c) + 32);
            int64_t expect = kv_pool_cached_prefix(p, &x->c, prompt);
            int64_t got = kv_seq_attach_prefix(p, &x->s, &x->c, prompt);
            int64_t max_blocks = (prompt - 1) / BT;
            bad |= got != expect || got % BT != 0 || got / BT > max_blocks;
            bad |= x->s.n_blocks != (uint32_t)(got / BT) || x->s.n_hashed != x->s.n_blocks;
            int64_t nh = got / BT + (got / BT < max_blocks);
            kv_content_hashes(&x->c, BT, 0, nh, 0, hashes);
            for (int64_t i = 0; i < got / BT; i++)
                bad |= !kv_pool_has(p, hashes[i]);
            if (got / BT < max_blocks)
                bad |= kv_pool_has(p, hashes[got / BT]);    /* the match stopped for a reason */
            if (got > 0)
                bad |= x->s.chain_hash != hashes[got / BT - 1];
            attach_hits += got > 0;
            x->reserved = got;
        } else if (kind == OP_RESERVE) {
            /* reserve more */
            if (!x->active)
                random_content(r, x);
            int64_t total = x->reserved + (int64_t)gsl_rng_uniform_int(r, 120);
            uint32_t have = x->s.n_blocks, want = (uint32_t)((total + BT - 1) / BT);
            uint32_t need = want > have ? want - have : 0;
            int rc = kv_seq_reserve(p, &x->s, total);
            if (need > free0) {
                reserve_fails++;
                bad |= rc != -1 || x->s.n_blocks != have || kv_pool_free_blocks(p) != free0 ||
                       kv_pool_cached_blocks(p) != cached0;
            } else {
                /* Uncached free blocks are taken before cached ones. */
                uint32_t plain = free0 - cached0;
                uint32_t evicted = need > plain ? need - plain : 0;
                evictions_seen += evicted > 0;
                bad |= rc != 0 || x->s.n_blocks != (want > have ? want : have) ||
                       kv_pool_free_blocks(p) != free0 - need || kv_pool_cached_blocks(p) != cached0 - evicted;
                if (total > x->reserved)
                    x->reserved = total;
            }
        } else if (kind == OP_COMMIT) {
            /* commit some of what is reserved */
            if (x->active && x->s.n_blocks > 0) {
                int64_t cap = (int64_t)x->s.n_blocks * BT;
                int64_t computed = (int64_t)gsl_rng_uniform_int(r, (unsigned long)cap + 1);
                uint32_t h0 = x->s.n_hashed;
                kv_seq_commit(p, &x->s, &x->c, computed);
                uint32_t full = (uint32_t)(computed / BT);
                uint32_t want_h = full > h0 ? full : h0;
                bad |= x->s.n_hashed != want_h;
                if (want_h > 0 && want_h <= 256) {
                    kv_content_hashes(&x->c, BT, 0, want_h, 0, hashes);
                    /* The newly committed blocks' content is registered (by
                     * this sequence, or already by another block). Earlier
                     * ones may have been left private as duplicates and
                     * their registered copy evicted since. */
                    for (uint32_t i = h0; i < want_h; i++)
                        bad |= !kv_pool_has(p, hashes[i]);
                    bad |= x->s.chain_hash != hashes[want_h - 1];
                }
                /* Committing moves no block on or off the free list. */
                bad |= kv_pool_free_blocks(p) != free0 || kv_pool_cached_blocks(p) != cached0;
            }
        } else {
            kv_seq_release(p, &x->s);
            bad |= x->s.n_blocks != 0 || x->s.n_hashed != 0;
            x->reserved = 0;
            x->active = 0;
        }

        if (bad)
            fprintf(stderr, "\n  op %ld (kind %d) broke an expectation\n", op, (int)kind);
        kt_err err;
        memset(&err, 0, sizeof err);
        if (kv_pool_check(p, (const kv_seq *const *)list, R_SEQS, &err) != 0) {
            fprintf(stderr, "\n  op %ld: %s\n", op, err.msg);
            bad = 1;
        }
        /* The check of what changed agrees that nothing is wrong. */
        if (kv_pool_check_touched(p, list, R_SEQS, &err) != 0) {
            fprintf(stderr, "\n  op %ld (touched): %s\n", op, err.msg);
            bad = 1;
        }
        /* Conservation, with held blocks counted from the tables alone. */
        memset(seen, 0, R_BLOCKS);
        uint32_t held = 0, refs = 0;
        for (int i = 0; i < R_SEQS; i++)
            for (uint32_t j = 0; j < q[i].s.n_blocks; j++) {
                uint32_t b = q[i].s.blocks[j];
                refs++;
                if (b < R_BLOCKS && !seen[b]) {
                    seen[b] = 1;
                    held++;
                }
            }
        shared_seen += refs > held;
        if (kv_pool_free_blocks(p) + held != R_BLOCKS || kv_pool_cached_blocks(p) > kv_pool_free_blocks(p)) {
            fprintf(stderr, "\n  op %ld: free %u + held %u != %u\n", op, kv_pool_free_blocks(p), held, R_BLOCKS);
            bad = 1;
        }
    }
    CU_ASSERT_FALSE(bad);
    /* The run exercised sharing, refusal and eviction. */
    CU_ASSERT(attach_hits > 100);
    CU_ASSERT(reserve_fails > 100);
    CU_ASSERT(evictions_seen > 100);
    CU_ASSERT(shared_seen > 100);

    for (int i = 0; i < R_SEQS; i++)
        kv_seq_release(p, &q[i].s);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), R_BLOCKS);
    CU_ASSERT_EQUAL(check(p, list, R_SEQS), 0);
    for (int i = 0; i < R_SEQS; i++)
        kv_seq_destroy(&q[i].s);
    free(seen);
    free(q);
    gsl_rng_free(r);
    kv_pool_free(p);
}

/* ---------- the checker itself ---------- */

static void test_check_detects_corruption(void)
{
    kv_pool *p = kv_pool_new(8, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 32), 0);  /* 2 blocks */
    kv_seq *one[] = { &a };
    CU_ASSERT_EQUAL(check(p, one, 1), 0);

    /* A sequence claiming a free block it never took. */
    uint32_t fake_blocks[1];
    uint32_t free_block = 0;
    while (free_block == a.blocks[0] || free_block == a.blocks[1])
        free_block++;
    fake_blocks[0] = free_block;
    kv_seq fake = { .blocks = fake_blocks, .n_blocks = 1, .cap_blocks = 1 };
    kv_seq *two[] = { &a, &fake };
    CU_ASSERT_EQUAL(check_quiet(p, two, 2), -1);

    /* ... or a block a holds (its ref is 1, two tables name it). */
    fake_blocks[0] = a.blocks[1];
    CU_ASSERT_EQUAL(check_quiet(p, two, 2), -1);

    /* ... or a block that does not exist. */
    fake_blocks[0] = 8;
    CU_ASSERT_EQUAL(check_quiet(p, two, 2), -1);

    /* ... or more hashed blocks than blocks. */
    fake.n_blocks = 0;
    fake.n_hashed = 1;
    CU_ASSERT_EQUAL(check_quiet(p, two, 2), -1);

    /* a forgetting one of its blocks leaves a ref nobody holds. */
    a.n_blocks = 1;
    CU_ASSERT_EQUAL(check_quiet(p, one, 1), -1);
    a.n_blocks = 2;
    CU_ASSERT_EQUAL(check(p, one, 1), 0);
    /* Without the sequence list the pool's own structure is still fine. */
    CU_ASSERT_EQUAL(kv_pool_check(p, NULL, 0, NULL), 0);

    kv_seq_release(p, &a);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* kv_pool_check_touched expected to fail (no message printed). */
static int check_touched_quiet(kv_pool *p, kv_seq **seqs, size_t n)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    int rc = kv_pool_check_touched(p, seqs, n, &err);
    if (rc != 0)
        CU_ASSERT(err.msg[0] != '\0');
    return rc;
}

/* A block of the pool no sequence of seqs holds (the pool has n_blocks). */
static uint32_t unheld_block(kv_seq **seqs, size_t n, uint32_t n_blocks)
{
    for (uint32_t b = 0; b < n_blocks; b++) {
        int held = 0;
        for (size_t s = 0; s < n; s++)
            for (uint32_t i = 0; i < seqs[s]->n_blocks; i++)
                held |= seqs[s]->blocks[i] == b;
        if (!held)
            return b;
    }
    return n_blocks;
}

/* What an operation just changed is checked at once: an entry it added that
 * names a block with no reference, or a sequence that lost an entry (the
 * ref counts then add up to more than the tables hold). */
static void test_check_touched_catches_what_changed(void)
{
    kv_pool *p = kv_pool_new(8, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 }, b = { 0 };
    kv_seq *both[] = { &a, &b };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 32), 0);   /* 2 blocks */
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);

    /* b takes 2 blocks; its second entry is then made to name a free one. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 32), 0);
    uint32_t taken = b.blocks[1];
    b.blocks[1] = unheld_block(both, 2, 8);
    CU_ASSERT_FATAL(b.blocks[1] < 8);
    CU_ASSERT_EQUAL(check_touched_quiet(p, both, 2), -1);
    b.blocks[1] = taken;
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);

    /* a grows to 3 blocks and then forgets its last: 5 references, 4 entries. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 48), 0);
    a.n_blocks = 2;
    CU_ASSERT_EQUAL(check_touched_quiet(p, both, 2), -1);
    a.n_blocks = 3;
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);
    CU_ASSERT_EQUAL(check(p, both, 2), 0);

    kv_seq_release(p, &a);
    kv_seq_release(p, &b);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* A corruption where nothing changed since the last check (an entry of a
 * verified table made to name another sequence's block, so both blocks
 * keep ref 1 and the sums agree) is invisible to the check of what
 * changed and found by kv_pool_check; the first kv_pool_check_touched of a
 * pool walks it whole, so one made before tracking began is found. */
static void test_check_touched_leaves_the_rest_to_the_full_check(void)
{
    kv_pool *p = kv_pool_new(8, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 }, b = { 0 };
    kv_seq *both[] = { &a, &b };
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 32), 0);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &b, 32), 0);
    uint32_t own = a.blocks[0];
    a.blocks[0] = b.blocks[0];
    CU_ASSERT_EQUAL(check_touched_quiet(p, both, 2), -1);     /* first call: the full walk */
    a.blocks[0] = own;
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);

    a.blocks[0] = b.blocks[0];
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, both, 2, NULL), 0);
    CU_ASSERT_EQUAL(check_quiet(p, both, 2), -1);
    a.blocks[0] = own;
    CU_ASSERT_EQUAL(check(p, both, 2), 0);

    kv_seq_release(p, &a);
    kv_seq_release(p, &b);
    kv_seq_destroy(&a);
    kv_seq_destroy(&b);
    kv_pool_free(p);
}

/* The content-cache calls and shrinking keep the record of changes right:
 * after each, the check of what changed passes, and so does the walk. */
static void test_check_touched_content_calls(void)
{
    kv_pool *p = kv_pool_new(6, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 };
    kv_seq *one[] = { &a };
    kv_segment seg = { 7, 64 };
    kv_content c = { &seg, 1 };
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 64), 0);
    kv_seq_commit(p, &a, &c, 64);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    CU_ASSERT_EQUAL(kv_pool_put(p, 1001), 0);
    CU_ASSERT_EQUAL(kv_pool_put(p, 1002), 0);
    kv_pool_touch(p, 1001);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    CU_ASSERT_EQUAL(kv_pool_put(p, 1003), 0);      /* evicts 1002, the least recently used */
    CU_ASSERT_EQUAL(kv_pool_has(p, 1002), 0);
    CU_ASSERT_EQUAL(kv_pool_drop(p, 1001), 1);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    kv_seq_shrink(p, &a, 2);
    CU_ASSERT_EQUAL(a.checked_blocks, 2);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    CU_ASSERT_EQUAL(check(p, one, 1), 0);
    kv_seq_release(p, &a);
    CU_ASSERT_EQUAL(kv_pool_check_touched(p, one, 1, NULL), 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 6);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* ---------- decode runs: calling only where a call changes something ---------- */

/* kv_seq_room_tokens and kv_seq_commit_due_tokens by hand, 16-token blocks. */
static void test_room_and_commit_due(void)
{
    kv_pool *p = kv_pool_new(20, BT, KV_PREFIX_CACHE_ON);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    kv_seq a = { 0 };
    kv_segment seg = { 4, 100 };
    kv_content ct = { &seg, 1 };
    /* An empty sequence has room for 0 tokens: reserving 1 takes a block. */
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 0);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), INT64_MAX);    /* no block to hash */
    /* 40 tokens: ceil(40/16) = 3 blocks, room for 3 × 16 = 48. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 40), 0);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 48);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 48), 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 17);                    /* 48 took nothing */
    /* Nothing hashed yet: block 0 fills at 16 computed tokens. */
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), 16);
    kv_seq_commit(p, &a, &ct, 15);
    CU_ASSERT_EQUAL(a.n_hashed, 0);
    kv_seq_commit(p, &a, &ct, 16);
    CU_ASSERT_EQUAL(a.n_hashed, 1);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), 32);
    /* All 3 held blocks hashed: nothing more to hash until a 4th is held. */
    kv_seq_commit(p, &a, &ct, 48);
    CU_ASSERT_EQUAL(a.n_hashed, 3);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), INT64_MAX);
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 49), 0);
    CU_ASSERT_EQUAL(kv_pool_free_blocks(p), 16);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 64);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), 64);           /* (3 + 1) × 16 */
    /* A shrunk (sealed) sequence registers nothing more. */
    kv_seq_shrink(p, &a, 2);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(p, &a), INT64_MAX);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 32);
    kv_seq_release(p, &a);
    kv_seq_destroy(&a);
    kv_pool_free(p);

    /* Without the prefix cache nothing is ever hashed. */
    kv_pool *off = kv_pool_new(4, BT, KV_PREFIX_CACHE_OFF);
    CU_ASSERT_PTR_NOT_NULL_FATAL(off);
    kv_seq b = { 0 };
    CU_ASSERT_EQUAL(kv_seq_reserve(off, &b, 20), 0);
    CU_ASSERT_EQUAL(kv_seq_commit_due_tokens(off, &b), INT64_MAX);
    kv_seq_release(off, &b);
    kv_seq_destroy(&b);
    kv_pool_free(off);
}

/* The room with window_pool's windowed group: W(t) = ceil(3 min(t, 64) / 16)
 * window blocks for t tokens. */
static void test_room_with_windows(void)
{
    kv_pool *p = window_pool();
    kv_seq a = { 0 };
    /* 10 tokens: 1 token block (room 16) and W(10) = ceil(1.875) = 2 window
     * blocks, which hold 3t <= 32 tokens' worth: t <= 10. The window blocks
     * run out first: room 10. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 10), 0);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 10);
    CU_ASSERT_EQUAL(kv_seq_blocks_short(p, &a, 10), 0);
    CU_ASSERT_EQUAL(kv_seq_blocks_short(p, &a, 11), 1);             /* W(11) = ceil(2.06) = 3 */
    /* 16 tokens: W(16) = 3 exactly; the token block's 16 bound it too. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 16), 0);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 16);
    /* 100 tokens: 7 token blocks (room 112), the windows full at W = 12. */
    CU_ASSERT_EQUAL(kv_seq_reserve(p, &a, 100), 0);
    CU_ASSERT_EQUAL(kv_seq_room_tokens(p, &a), 112);
    kv_seq_release(p, &a);
    kv_seq_destroy(&a);
    kv_pool_free(p);
}

/* With log_hash as the evict hook, both hooks go into one record in call
 * order: an eviction as its hash, a registration as the hash's complement. */
static void log_register(void *ud, uint64_t h) { log_hash(ud, ~h); }

#define RUN_SEQS 3
#define RUN_STEPS 100

/* A pool of 44 blocks with windowed layers (group at 1.5× a block's bytes
 * per token, window 48 tokens), hooks into log, and 20 cached blocks of
 * foreign content (hashes 1001..1020) for the decode runs' blocks to evict. */
static kv_pool *run_pool(hook_log *log)
{
    kv_pool *p = kv_pool_new(44, BT, KV_PREFIX_CACHE_ON);
    if (!p)
        return NULL;
    const int64_t win = 48;
    const double ratio = 1.5;
    kv_pool_set_windows(p, 1, &win, &ratio);
    for (uint64_t h = 1; h <= 20; h++)
        kv_pool_put(p, 1000 + h);
    kv_pool_set_evict_hook(p, log_hash, log);
    kv_pool_set_register_hook(p, log_register, log);
    return p;
}

/* A decode run of RUN_STEPS steps, one token per sequence a step, over
 * three sequences: the first two with the same content at different
 * lengths (so the shorter fills blocks the longer registered first, and
 * keeps them private), the third its own. every_step: kv_seq_reserve and
 * kv_seq_commit for each sequence at every step (all reserves of a step,
 * then its commits), as a replica applies steps one by one; otherwise only
 * at the steps where kv_seq_room_tokens / kv_seq_commit_due_tokens say a
 * call changes something, in the same order. */
static void decode_run(kv_pool *p, kv_seq *seqs, int every_step)
{
    static const kv_segment segs[RUN_SEQS] = { { 5, 40 }, { 5, 40 }, { 6, 40 } };
    static const int64_t start[RUN_SEQS] = { 20, 30, 25 };
    kv_content ct[RUN_SEQS];
    for (int i = 0; i < RUN_SEQS; i++) {
        ct[i] = (kv_content){ &segs[i], 1 };
        kv_seq_reserve(p, &seqs[i], start[i]);
        kv_seq_commit(p, &seqs[i], &ct[i], start[i]);
    }
    for (int s = 1; s <= RUN_STEPS; s++) {
        int due[RUN_SEQS];
        for (int i = 0; i < RUN_SEQS; i++) {
            int64_t tokens = start[i] + s;
            due[i] = every_step || tokens > kv_seq_room_tokens(p, &seqs[i]) ||
                     tokens >= kv_seq_commit_due_tokens(p, &seqs[i]);
            if (due[i])
                CU_ASSERT_EQUAL(kv_seq_reserve(p, &seqs[i], tokens), 0);
        }
        for (int i = 0; i < RUN_SEQS; i++)
            if (due[i])
                kv_seq_commit(p, &seqs[i], &ct[i], start[i] + s);
    }
}

/* A decode run calling reserve and commit only where they change something
 * leaves the pool, every sequence and the hooks' record exactly as calling
 * them at every step does: compared field by field and block by block. */
static void test_due_calls_equal_every_step(void)
{
    hook_log la = { { 0 }, 0 }, lb = { { 0 }, 0 };
    kv_pool *a = run_pool(&la), *b = run_pool(&lb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    kv_seq sa[RUN_SEQS] = { { 0 } }, sb[RUN_SEQS] = { { 0 } };
    kv_seq *pa[RUN_SEQS] = { &sa[0], &sa[1], &sa[2] }, *pb[RUN_SEQS] = { &sb[0], &sb[1], &sb[2] };
    decode_run(a, sa, 1);
    decode_run(b, sb, 0);
    /* By hand: the first sequence ends at 20 + 100 = 120 tokens: ceil(120/16)
     * = 8 token blocks, floor(120/16) = 7 hashed, window blocks
     * ceil(1.5 × 48 / 16) = ceil(4.5) = 5. */
    CU_ASSERT_EQUAL(sa[0].n_blocks, 8);
    CU_ASSERT_EQUAL(sa[0].n_hashed, 7);
    CU_ASSERT_EQUAL(sa[0].n_wblocks, 5);
    for (int i = 0; i < RUN_SEQS; i++) {
        CU_ASSERT_EQUAL(sa[i].n_blocks, sb[i].n_blocks);
        CU_ASSERT_EQUAL(sa[i].n_wblocks, sb[i].n_wblocks);
        CU_ASSERT_EQUAL(sa[i].n_hashed, sb[i].n_hashed);
        CU_ASSERT_EQUAL(sa[i].chain_hash, sb[i].chain_hash);
        CU_ASSERT(sa[i].n_blocks == sb[i].n_blocks &&
                  !memcmp(sa[i].blocks, sb[i].blocks, sa[i].n_blocks * sizeof *sa[i].blocks));
        CU_ASSERT(sa[i].n_wblocks == sb[i].n_wblocks &&
                  !memcmp(sa[i].wblocks, sb[i].wblocks, sa[i].n_wblocks * sizeof *sa[i].wblocks));
    }
    CU_ASSERT_EQUAL(kv_pool_free_blocks(a), kv_pool_free_blocks(b));
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(a), kv_pool_cached_blocks(b));
    /* 44 blocks less the held ones: ceil(120/16) + ceil(130/16) +
     * ceil(125/16) = 8 + 9 + 8 token blocks and 5 window blocks each. */
    CU_ASSERT_EQUAL(kv_pool_free_blocks(b), 44 - 25 - 15);
    /* The hooks fired the same calls in the same order (evictions of the
     * foreign blocks the run took, registrations of the blocks it filled). */
    CU_ASSERT_EQUAL_FATAL(la.n, lb.n);
    CU_ASSERT_FATAL(la.n <= HOOK_LOG_MAX);
    /* Of the 40 blocks taken, the 24 plain free ones went first, then 16
     * cached foreign ones, each evicted through the hook. */
    int evicted = 0;
    for (int i = 0; i < lb.n; i++)
        evicted += lb.h[i] >= 1001 && lb.h[i] <= 1020;
    CU_ASSERT_EQUAL(evicted, 16);
    CU_ASSERT(!memcmp(la.h, lb.h, (size_t)la.n * sizeof *la.h));
    CU_ASSERT_EQUAL(check(a, pa, RUN_SEQS), 0);
    CU_ASSERT_EQUAL(check(b, pb, RUN_SEQS), 0);
    /* Released, both pools cache the same contents: the same prefix is found. */
    kv_content c0 = { &(kv_segment){ 5, 40 }, 1 };
    for (int i = 0; i < RUN_SEQS; i++) {
        kv_seq_release(a, &sa[i]);
        kv_seq_release(b, &sb[i]);
    }
    CU_ASSERT_EQUAL(kv_pool_cached_prefix(a, &c0, 130), kv_pool_cached_prefix(b, &c0, 130));
    CU_ASSERT_EQUAL(kv_pool_cached_blocks(a), kv_pool_cached_blocks(b));
    for (int i = 0; i < RUN_SEQS; i++) {
        kv_seq_destroy(&sa[i]);
        kv_seq_destroy(&sb[i]);
    }
    kv_pool_free(a);
    kv_pool_free(b);
}

int main(void)
{
    static const tu_test tests[] = {
        { "kv_blocks_for arithmetic", test_blocks_for },
        { "reserve is all or nothing", test_reserve_all_or_nothing },
        { "window blocks of windowed layers", test_window_blocks },
        { "prefix sharing of a system prompt", test_prefix_sharing },
        { "the last prompt token is never matched", test_last_token_never_matched },
        { "a session's next turn re-finds the previous one", test_next_turn_finds_previous },
        { "a request's prompt hashes are kept across tries and checked", test_kept_hashes },
        { "a retried match follows content that moved to another block", test_retry_hints },
        { "a retry that changes nothing is answered without attaching", test_retry_without_attaching },
        { "LRU eviction order", test_lru_order },
        { "eviction lists by hand", test_evict_lists_order },
        { "prefix_cache = 0 disables matching", test_prefix_cache_off },
        { "hooks and the content-cache calls", test_hooks_and_content_cache },
        { "conservation under 50,000 random operations", test_random_conservation },
        { "kv_pool_check detects corruption", test_check_detects_corruption },
        { "the check of what changed catches it at once", test_check_touched_catches_what_changed },
        { "a corruption elsewhere is left to kv_pool_check", test_check_touched_leaves_the_rest_to_the_full_check },
        { "the content-cache calls keep the record right", test_check_touched_content_calls },
        { "room and commit-due tokens by hand", test_room_and_commit_due },
        { "room with windowed layers", test_room_with_windows },
        { "a decode run's due calls equal calls at every step", test_due_calls_equal_every_step },
        { NULL, NULL },
    };
    return tu_run("kv", tests);
}
