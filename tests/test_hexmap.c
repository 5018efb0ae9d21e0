/* test_hexmap.c — checks `kvtier hexmap` labels, address <-> coordinate conversion and streaming against values worked out by hand. */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hexmap.h"
#include "testutil.h"

/* Search path for model cards: the shipped ones and the test card (set by dirs_init). */
static char model_dir[4096], test_model_dir[4096];
static const char *model_dirs[3];

static void dirs_init(void)
{
    snprintf(model_dir, sizeof model_dir, "%s", tu_path("models"));
    snprintf(test_model_dir, sizeof test_model_dir, "%s", tu_path("tests/data/hexmap"));
    model_dirs[0] = model_dir;
    model_dirs[1] = test_model_dir;
}

/* Sets up a pool; the test fails (and -1 comes back) when it cannot be. */
static int make_pool(hexmap_pool *p, int64_t kv, int64_t hk, int64_t t, int64_t d, int64_t blocks,
                     const char *layout, kt_dtype dtype)
{
    const int64_t dims[4] = { kv, hk, t, d };
    kt_err err;
    memset(&err, 0, sizeof err);
    int rc = hexmap_pool_init(p, dims, blocks, layout, dtype, &err);
    if (rc != 0)
        fprintf(stderr, "pool: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

/* Label of the line at addr. Returns a static buffer. */
static const char *label_at(const hexmap_pool *p, uint64_t addr)
{
    static char buf[HEXMAP_LINE_TEXT_MAX];
    return hexmap_line_label(p, addr, buf, sizeof buf);
}

static hexmap_coord coord(int64_t b, int64_t kv, int64_t h, int64_t t, int64_t d)
{
    return (hexmap_coord){ { b, kv, h, t, d } };
}

/* Asserts that addr holds element (b, kv, h, t, d), byte 0. */
static void assert_coord_at(const hexmap_pool *p, uint64_t addr, int64_t b, int64_t kv, int64_t h, int64_t t,
                            int64_t d)
{
    hexmap_coord c;
    int byte = -1;
    CU_ASSERT_EQUAL_FATAL(hexmap_coord_of(p, addr, &c, &byte), 0);
    CU_ASSERT_EQUAL(c.c[HEXMAP_BLOCK], b);
    CU_ASSERT_EQUAL(c.c[HEXMAP_KV], kv);
    CU_ASSERT_EQUAL(c.c[HEXMAP_HEAD], h);
    CU_ASSERT_EQUAL(c.c[HEXMAP_TOKEN], t);
    CU_ASSERT_EQUAL(c.c[HEXMAP_DIM], d);
    CU_ASSERT_EQUAL(byte, 0);
    hexmap_coord back = coord(b, kv, h, t, d);
    CU_ASSERT_EQUAL(hexmap_address(p, &back), addr);
}

/* ------------------------------------------------------------------------ */
/* Running hexmap_main with its output captured                              */

typedef tu_output run_result;

static int call_main(int argc, char **argv, void *ud)
{
    (void)ud;
    return hexmap_main(argc, argv, model_dirs);
}

/* Runs the command on the NULL-terminated args and returns what it printed. */
static run_result run_hexmap(char **args) { return tu_capture(call_main, args, NULL); }
static void run_free(run_result *r) { tu_output_free(r); }

/* Asserts that text holds want, and shows both when not. */
static void assert_has(const char *text, const char *want)
{
    int found = text && strstr(text, want) != NULL;
    if (!found)
        fprintf(stderr, "\nmissing: [%s]\nin: [%s]\n", want, text ? text : "(null)");
    CU_ASSERT_TRUE(found);
}

/* ------------------------------------------------------------------------ */
/* The default layout [2, Hk, T, D]                                          */

/* [2,8,32,16] fp16: one block = 2·8·32·16 elements × 2 B = 16,384 B = 0x4000.
 * Address of (kv, h, t, d) = (((kv·8 + h)·32 + t)·16 + d) × 2.
 *   0x3F00 = 16,128 B = element 8,064; 8,064 = 504·16 + 0 → d = 0;
 *   504 = 15·32 + 24 → t = 24; 15 = 1·8 + 7 → kv = 1 (V), h = 7.
 *   The line's 16 B are 8 elements: d = 0..7.
 *   0x3FF0 = 16,368 B = element 8,184 = 511·16 + 8 → d = 8; 511 = 15·32 + 31
 *   → t = 31, V, h = 7: the pool's last line holds V h=7 t=31 d=8..15.
 * Synthesized fp16 bytes: kv·16+h = 0x17, then t·16+d mod 16: t = 24 → 8,
 * so 80..87; t = 31 → F, d = 8..15 → F8..FF. */
static void test_default_layout_3f00_and_last_line(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 8, 32, 16, 1, "hnd", DTYPE_FP16) != 0)
        return;
    CU_ASSERT_EQUAL(p.block_bytes, 16384);
    CU_ASSERT_EQUAL(p.total_bytes, 0x4000);
    assert_coord_at(&p, 0x3F00, 0, 1, 7, 24, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x3F00), "block 0 V h=7 t=24 d=0..7");
    assert_coord_at(&p, 0x3FF0, 0, 1, 7, 31, 8);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x3FF0), "block 0 V h=7 t=31 d=8..15");
    /* The first line and the first V line: V starts after 8·32·16·2 = 8,192 B = 0x2000. */
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x0), "block 0 K h=0 t=0 d=0..7");
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x2000), "block 0 V h=0 t=0 d=0..7");
    /* A byte inside an element: 0x3FF5 is byte 1 of element 0x3FF4 = d = 8 + 2 = 10. */
    hexmap_coord c;
    int byte;
    CU_ASSERT_EQUAL(hexmap_coord_of(&p, 0x3FF5, &c, &byte), 0);
    CU_ASSERT_EQUAL(c.c[HEXMAP_DIM], 10);
    CU_ASSERT_EQUAL(byte, 1);
    CU_ASSERT_EQUAL(hexmap_coord_of(&p, 0x4000, &c, &byte), -1);

    uint8_t bytes[HEXMAP_LINE_BYTES];
    char text[HEXMAP_LINE_TEXT_MAX];
    hexmap_synth_fill(&p, 0x3F00, bytes, sizeof bytes);
    CU_ASSERT_STRING_EQUAL(hexmap_format_line(&p, 0x3F00, bytes, sizeof bytes, text, sizeof text),
                           "00003F00: 17 80 17 81 17 82 17 83 17 84 17 85 17 86 17 87  block 0 V h=7 t=24 d=0..7");
    hexmap_synth_fill(&p, 0x3FF0, bytes, sizeof bytes);
    CU_ASSERT_STRING_EQUAL(hexmap_format_line(&p, 0x3FF0, bytes, sizeof bytes, text, sizeof text),
                           "00003FF0: 17 F8 17 F9 17 FA 17 FB 17 FC 17 FD 17 FE 17 FF  block 0 V h=7 t=31 d=8..15");
}

/* The same through the command: line 0x3F0 starts at 0x3F00, line 0x3FF at
 * 0x3FF0, the last of 16,384 / 16 = 1,024 lines. */
static void test_cli_synthesized_lines(void)
{
    run_result r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp16",
                                          "--lines", "0x3F0..0x3FF", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "\n00003F00: 17 80 17 81 17 82 17 83 17 84 17 85 17 86 17 87  block 0 V h=7 t=24 d=0..7\n");
    assert_has(r.out, "\n00003F10: 17 88 17 89 17 8A 17 8B 17 8C 17 8D 17 8E 17 8F  block 0 V h=7 t=24 d=8..15\n");
    assert_has(r.out, "\n00003FF0: 17 F8 17 F9 17 FA 17 FB 17 FC 17 FD 17 FE 17 FF  block 0 V h=7 t=31 d=8..15\n");
    assert_has(r.out, "1 block x 16384 B = 16384 B, 1024 lines of 16 B");
    CU_ASSERT_PTR_NULL(strstr(r.out, "00003EF0"));
    run_free(&r);
}

/* Two blocks: block 1 starts at 1 × 0x4000; its last line is 0x4000 + 0x3FF0. */
static void test_block_boundary(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 8, 32, 16, 2, "hnd", DTYPE_FP16) != 0)
        return;
    CU_ASSERT_EQUAL(p.total_bytes, 0x8000);
    assert_coord_at(&p, 0x4000, 1, 0, 0, 0, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x4000), "block 1 K h=0 t=0 d=0..7");
    assert_coord_at(&p, 0x7FF0, 1, 1, 7, 31, 8);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x3FF0), "block 0 V h=7 t=31 d=8..15");
}

/* Lines that cross token, head, K/V and block boundaries.
 * [2,1,3,2] fp16: a token is 2 dims × 2 B = 4 B, K is 1·3·2·2 = 12 B, a
 * block 24 B. Line 0 (bytes 0..15): K t=0 (0..3), t=1 (4..7), t=2 (8..11),
 * V t=0 (12..15). Line 0x10 (16..31): V t=1 (16..19), V t=2 (20..23), block 1
 * K t=0 (24..27), K t=1 (28..31). Later pieces name only what changed. */
static void test_multi_piece_labels(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 1, 3, 2, 2, "hnd", DTYPE_FP16) != 0)
        return;
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x00), "block 0 K h=0 t=0 d=0..1, t=1 d=0..1, t=2 d=0..1, V t=0 d=0..1");
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x10), "block 0 V h=0 t=1 d=0..1, t=2 d=0..1, block 1 K t=0 d=0..1, t=1 d=0..1");
    /* The pool is 48 B: line 0x20 is bytes 32..47 = block 1 K t=2, V t=0..2. */
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x20), "block 1 K h=0 t=2 d=0..1, V t=0 d=0..1, t=1 d=0..1, t=2 d=0..1");

    /* [2,2,1,6] fp16: a head's token is 12 B, K is 24 B. Line 0x10 = bytes
     * 16..31 = elements 8..15: elements 8..11 are K h=1 d=2..5 (h=1 starts at
     * element 6), 12..15 are V h=0 d=0..3; t stays 0, so only K/V, h and d show. */
    if (make_pool(&p, 2, 2, 1, 6, 1, "hnd", DTYPE_FP16) != 0)
        return;
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x00), "block 0 K h=0 t=0 d=0..5, h=1 d=0..1");
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x10), "block 0 K h=1 t=0 d=2..5, V h=0 d=0..3");

    /* A short last line: [2,1,1,3] fp16 is 2·3·2 = 12 B, one line of 12 B,
     * printed with blank space for the 4 missing bytes so labels line up. */
    if (make_pool(&p, 2, 1, 1, 3, 1, "hnd", DTYPE_FP16) != 0)
        return;
    uint8_t bytes[12];
    char text[HEXMAP_LINE_TEXT_MAX];
    hexmap_synth_fill(&p, 0, bytes, sizeof bytes);
    CU_ASSERT_STRING_EQUAL(hexmap_format_line(&p, 0, bytes, sizeof bytes, text, sizeof text),
                           "00000000: 00 00 00 01 00 02 10 00 10 01 10 02              block 0 K h=0 t=0 d=0..2, V d=0..2");
}

/* ------------------------------------------------------------------------ */
/* Other layouts and dtypes                                                  */

/* K and V in separate pools, token-major ("split-nhd", vLLM's FlashAttention
 * layout [2][blocks][T][Hk][D]) for [2,2,2,8] bf16 with 2 blocks. Element
 * strides: d 1, h 8, t 2·8 = 16, block 2·16 = 32, kv 2·32 = 64; the K pool
 * is 64 elements = 128 B, so V starts at 0x80.
 *   (b1, V, h1, t1, d0) = 64 + 32 + 16 + 8 = element 120 = 240 B = 0xF0
 *   0x40 = element 32 = (b1, K, h0, t0, d0); 0x80 = element 64 = (b0, V, ...).
 * Head-major split pools ("split-hnd": [2][blocks][Hk][T][D]): strides d 1,
 * t 8, h 16, b 32, kv 64, so (b1, V, h1, t0, d0) = 64+32+16 = 112 → 0xE0. */
static void test_split_pools(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 2, 2, 8, 2, "split-nhd", DTYPE_BF16) != 0)
        return;
    CU_ASSERT_EQUAL(p.total_bytes, 256);
    assert_coord_at(&p, 0xF0, 1, 1, 1, 1, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0xF0), "block 1 V h=1 t=1 d=0..7");
    assert_coord_at(&p, 0x40, 1, 0, 0, 0, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x40), "block 1 K h=0 t=0 d=0..7");
    assert_coord_at(&p, 0x80, 0, 1, 0, 0, 0);
    assert_coord_at(&p, 0x10, 0, 0, 1, 0, 0);   /* token-major: h moves before t */
    /* The same pool written as axes is the same layout. */
    hexmap_pool q;
    if (make_pool(&q, 2, 2, 2, 8, 2, "kv,block,token,head,dim", DTYPE_BF16) != 0)
        return;
    CU_ASSERT_EQUAL(memcmp(q.stride_elems, p.stride_elems, sizeof p.stride_elems), 0);

    if (make_pool(&p, 2, 2, 2, 8, 2, "split-hnd", DTYPE_BF16) != 0)
        return;
    assert_coord_at(&p, 0xE0, 1, 1, 1, 0, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0xE0), "block 1 V h=1 t=0 d=0..7");
    assert_coord_at(&p, 0x10, 0, 0, 0, 1, 0);   /* head-major: t moves before h */
}

/* Token-major blocks ("nhd": [blocks][2][T][Hk][D]) for [2,4,16,8] fp16:
 *   nhd (b0, K, h3, t5, d0) = (t·Hk + h)·D = (5·4 + 3)·8 = 184 elements = 368 B = 0x170
 *   hnd (b0, K, h3, t5, d0) = (h·T + t)·D = (3·16 + 5)·8 = 424 elements = 848 B = 0x350
 *   nhd V starts at T·Hk·D = 16·4·8 = 512 elements = 1,024 B = 0x400. */
static void test_token_major(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 4, 16, 8, 1, "nhd", DTYPE_FP16) != 0)
        return;
    assert_coord_at(&p, 0x170, 0, 0, 3, 5, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x170), "block 0 K h=3 t=5 d=0..7");
    assert_coord_at(&p, 0x400, 0, 1, 0, 0, 0);
    if (make_pool(&p, 2, 4, 16, 8, 1, "hnd", DTYPE_FP16) != 0)
        return;
    assert_coord_at(&p, 0x350, 0, 0, 3, 5, 0);
}

/* fp8, one byte per element. [2,8,32,16] fp8: a block is 8,192 B = 0x2000.
 *   0x1F00 = element 7,936 = 496·16 + 0; 496 = 15·32 + 16 → V h=7 t=16,
 *   and the 16 B line is d = 0..15. Synthesized byte = (t mod 16)·16 + d:
 *   t = 16 → 0, so 00 01 .. 0F.
 *   0x1FF0 = element 8,176 = 511·16 → V h=7 t=31 d=0..15, bytes F0..FF.
 * Token-major fp8 with D = 4 ([2,2,4,4] nhd): a line holds 4 runs of 4 dims:
 * t0 h0, t0 h1, t1 h0, t1 h1. */
static void test_fp8(void)
{
    hexmap_pool p;
    if (make_pool(&p, 2, 8, 32, 16, 1, "hnd", DTYPE_FP8) != 0)
        return;
    CU_ASSERT_EQUAL(p.total_bytes, 0x2000);
    assert_coord_at(&p, 0x1F00, 0, 1, 7, 16, 0);
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x1F00), "block 0 V h=7 t=16 d=0..15");
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x1FF0), "block 0 V h=7 t=31 d=0..15");
    uint8_t bytes[HEXMAP_LINE_BYTES];
    char text[HEXMAP_LINE_TEXT_MAX];
    hexmap_synth_fill(&p, 0x1FF0, bytes, sizeof bytes);
    CU_ASSERT_STRING_EQUAL(hexmap_format_line(&p, 0x1FF0, bytes, sizeof bytes, text, sizeof text),
                           "00001FF0: F0 F1 F2 F3 F4 F5 F6 F7 F8 F9 FA FB FC FD FE FF  block 0 V h=7 t=31 d=0..15");
    if (make_pool(&p, 2, 2, 4, 4, 1, "nhd", DTYPE_INT8) != 0)
        return;
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x00), "block 0 K h=0 t=0 d=0..3, h=1 d=0..3, h=0 t=1 d=0..3, h=1 d=0..3");
    /* K is T·Hk·D = 32 B, so line 0x20 starts V. */
    CU_ASSERT_STRING_EQUAL(label_at(&p, 0x20), "block 0 V h=0 t=0 d=0..3, h=1 d=0..3, h=0 t=1 d=0..3, h=1 d=0..3");
}

/* The synthesized encodings, by hand:
 *   fp32 (b0, V, h2, t3, d4): bytes kv, h, t, d = 01 02 03 04
 *   bf16 (b0, V, h7, t24, d3): 0x17, (24 mod 16)·16 + 3 = 0x83
 *   fp16 h = 18, t = 35, d = 20 keep their low hex digits: 0x02, 0x34 */
static void test_synth_encoding(void)
{
    hexmap_pool p;
    uint8_t b[4];
    hexmap_coord c;
    if (make_pool(&p, 2, 8, 32, 16, 1, "hnd", DTYPE_FP32) != 0)
        return;
    c = coord(0, 1, 2, 3, 4);
    hexmap_synth_fill(&p, hexmap_address(&p, &c), b, 4);
    CU_ASSERT_TRUE(b[0] == 0x01 && b[1] == 0x02 && b[2] == 0x03 && b[3] == 0x04);
    if (make_pool(&p, 2, 8, 32, 16, 1, "hnd", DTYPE_BF16) != 0)
        return;
    c = coord(0, 1, 7, 24, 3);
    hexmap_synth_fill(&p, hexmap_address(&p, &c), b, 2);
    CU_ASSERT_TRUE(b[0] == 0x17 && b[1] == 0x83);
    /* Starting mid-element gives the element's second byte first. */
    hexmap_synth_fill(&p, hexmap_address(&p, &c) + 1, b, 1);
    CU_ASSERT_EQUAL(b[0], 0x83);
    if (make_pool(&p, 1, 32, 64, 32, 1, "hnd", DTYPE_FP16) != 0)
        return;
    c = coord(0, 0, 18, 35, 20);
    hexmap_synth_fill(&p, hexmap_address(&p, &c), b, 2);
    CU_ASSERT_TRUE(b[0] == 0x02 && b[1] == 0x34);
}

/* Every byte of a pool maps to one element and back, in every named layout,
 * an arbitrary axis order and three element sizes: address -> coordinates
 * -> address is the identity on element starts, and each element is hit
 * exactly elem_bytes times. [2,3,5,7] × 3 blocks has no power-of-two sizes,
 * so a wrong stride cannot hide behind a shift. */
static void test_round_trip_whole_pool(void)
{
    const char *layouts[] = { "hnd", "nhd", "split-nhd", "split-hnd", "d,t,h,kv,b", "t,b,d,kv,h" };
    const kt_dtype dtypes[] = { DTYPE_FP8, DTYPE_FP16, DTYPE_FP32 };
    for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++)
        for (size_t di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++) {
            hexmap_pool p;
            if (make_pool(&p, 2, 3, 5, 7, 3, layouts[li], dtypes[di]) != 0)
                return;
            const uint64_t elems = 3 * 2 * 3 * 5 * 7;
            CU_ASSERT_EQUAL(p.total_bytes, elems * (uint64_t)p.elem_bytes);
            unsigned char *hits = calloc(elems, 1);
            int bad = 0;
            for (uint64_t addr = 0; addr < p.total_bytes; addr++) {
                hexmap_coord c;
                int byte;
                if (hexmap_coord_of(&p, addr, &c, &byte) != 0 || hexmap_coord_check(&p, &c, NULL) != 0) {
                    bad++;
                    continue;
                }
                uint64_t start = hexmap_address(&p, &c);
                bad += start + (uint64_t)byte != addr;
                if (byte == 0)
                    hits[start / (uint64_t)p.elem_bytes]++;
            }
            for (uint64_t e = 0; e < elems; e++)
                bad += hits[e] != 1;
            free(hits);
            if (bad)
                fprintf(stderr, "layout %s dtype %s: %d mismatches\n", layouts[li], dtype_name(dtypes[di]), bad);
            CU_ASSERT_EQUAL(bad, 0);
        }
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

/* A 5 GiB sparse pool, read at high offsets: nothing but the asked-for
 * lines is read. 5 GiB = 5·2^30 = 0x140000000 B; [2,8,32,16] fp16 blocks of
 * 2^14 B give 5·2^16 = 327,680 blocks, the last one 327,679. The last line
 * is 0x140000000 − 16 = 0x13FFFFFF0 (line 0x13FFFFFF): offset 0x3FF0 of the
 * last block, V h=7 t=31 d=8..15. Addresses need 9 hex digits. 4 GiB =
 * 2^32 is the start of block 2^32 / 2^14 = 262,144. */
static void test_sparse_5gib_file(void)
{
    const off_t size = (off_t)5 << 30;
    char path[] = "/tmp/test_hexmap_pool_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    if (ftruncate(fd, size) != 0) {
        CU_FAIL("ftruncate to 5 GiB failed");
        close(fd);
        unlink(path);
        return;
    }
    const uint8_t mark[HEXMAP_LINE_BYTES] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                              0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF };
    CU_ASSERT_EQUAL(pwrite(fd, mark, sizeof mark, size - HEXMAP_LINE_BYTES), (ssize_t)sizeof mark);

    hexmap_pool p;
    if (make_pool(&p, 2, 8, 32, 16, 327680, "hnd", DTYPE_FP16) == 0) {
        CU_ASSERT_EQUAL(p.total_bytes, (uint64_t)size);
        CU_ASSERT_EQUAL(hexmap_addr_width(&p), 9);
        uint8_t got[HEXMAP_LINE_BYTES];
        hexmap_source src = { fd };
        CU_ASSERT_EQUAL(hexmap_read(&p, &src, 0x13FFFFFF0ULL, got, sizeof got, NULL), 0);
        CU_ASSERT_EQUAL(memcmp(got, mark, sizeof mark), 0);
        assert_coord_at(&p, 0x13FFFFFF0ULL, 327679, 1, 7, 31, 8);
        assert_coord_at(&p, 0x100000000ULL, 262144, 0, 0, 0, 0);
    }

    run_result r = run_hexmap((char *[]){ "hexmap", path, "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--lines",
                                          "0x13FFFFFF", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "327680 blocks x 16384 B = 5368709120 B");
    assert_has(r.out, "\n13FFFFFF0: 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF  block 327679 V h=7 t=31 d=8..15\n");
    run_free(&r);
    r = run_hexmap((char *[]){ "hexmap", path, "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--at", "100000000", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "100000000 -> block 262144 K h=0 t=0 d=0 (byte 0 of 2)\n");
    assert_has(r.out, "100000000: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  block 262144 K h=0 t=0 d=0..7\n");
    run_free(&r);
    close(fd);
    unlink(path);
}

/* -o writes the synthesized pool; reading the file back shows the same
 * bytes. [2,2,4,8] fp16: a block is 2·2·4·8 = 128 elements × 2 B = 256 B;
 * 3 blocks = 768 B. */
static void test_output_file_round_trip(void)
{
    char path[] = "/tmp/test_hexmap_written_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    run_result r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--kv-dims", "2,2,4,8", "--dtype", "fp16",
                                          "--blocks", "3", "-o", path, NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "3 blocks x 256 B = 768 B");
    run_free(&r);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 768);

    run_result from_file = run_hexmap((char *[]){ "hexmap", path, "--kv-dims", "2,2,4,8", "--dtype", "fp16", NULL });
    run_result synth = run_hexmap((char *[]){ "hexmap", "--synthesize", "--kv-dims", "2,2,4,8", "--dtype", "fp16",
                                              "--blocks", "3", NULL });
    CU_ASSERT_EQUAL(from_file.rc, 0);
    CU_ASSERT_EQUAL(synth.rc, 0);
    /* Same lines after the first header line (which names the source). */
    const char *a = strchr(from_file.out, '\n'), *b = strchr(synth.out, '\n');
    CU_ASSERT_TRUE(a && b && strcmp(a, b) == 0);
    /* Block 2 starts at 2 × 256 = 0x200: K h=0 t=0, kv·16+h = 00, t·16+d = 00..07. */
    assert_has(from_file.out, "\n00000200: 00 00 00 01 00 02 00 03 00 04 00 05 00 06 00 07  block 2 K h=0 t=0 d=0..7\n");
    run_free(&from_file);
    run_free(&synth);
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */

/* Shapes from model cards (per GPU with --tp; MLA as one latent head):
 *   llama-3.1-8b, tp 8: 8 KV heads / 8 = 1 per GPU, head_dim 128, T 16 (default)
 *   deepseek-v3: kv_lora_rank 512 + rope 64 = 576 dims, kv 1, one "head"
 *   hybrid-gqa-mla (test card): layer 2 is MLA (576 dims), layer 1 global (8 × 128). */
static void test_model_shapes(void)
{
    run_result r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--model", "llama-3.1-8b", "--tp", "8", "--lines",
                                          "0", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "kv-dims 2,1,16,128 bf16 (2 B)");
    assert_has(r.out, "8 KV heads / tp 8 = 1 per GPU");
    run_free(&r);

    /* An MLA block of 32 tokens: 32 × 576 × 1 B (fp8) = 18,432 B; line 0x240
     * = byte 576 = token 1, d = 0..15 (t·16+d: 10 11 ... 1F). */
    r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--model", "deepseek-v3", "--block-tokens", "32", "--dtype",
                               "fp8", "--lines", "0x24", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "kv-dims 1,1,32,576 fp8 (1 B)");
    assert_has(r.out, "1 block x 18432 B");
    assert_has(r.out, "no K/V split");
    assert_has(r.out, "\n00000240: 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F  block 0 L h=0 t=1 d=0..15\n");
    run_free(&r);

    r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--model", "hybrid-gqa-mla", "--layer", "2", "--lines", "0",
                               NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "kv-dims 1,1,16,576");
    assert_has(r.out, "--layer picks one");
    run_free(&r);
    r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--model", "hybrid-gqa-mla", "--layer", "1", "--lines", "0",
                               NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "kv-dims 2,8,16,128");
    run_free(&r);
}

/* --at and --coord without any bytes: pure conversions.
 *   (V, h7, t31, d15) in [2,8,32,16] fp16 = ((15·32 + 31)·16 + 15)·2 = 8,191·2 = 16,382 = 0x3FFE
 *   (block 1, K, 0, 0, 0) with 2 blocks = 0x4000 */
static void test_at_and_coord(void)
{
    run_result r = run_hexmap((char *[]){ "hexmap", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--at", "3f00",
                                          "--coord", "V,7,31,15", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "00003F00 -> block 0 V h=7 t=24 d=0 (byte 0 of 2)\n");
    assert_has(r.out, "block 0 V h=7 t=31 d=15 -> 00003FFE (line 0x3FF, byte 14 of the line)\n");
    run_free(&r);
    r = run_hexmap((char *[]){ "hexmap", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--blocks", "2", "--coord",
                               "1,0,0,0,0", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "block 1 K h=0 t=0 d=0 -> 00004000");
    run_free(&r);
    /* With bytes, the line holding the element follows. */
    r = run_hexmap((char *[]){ "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--at",
                               "0x3FF4", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "00003FF4 -> block 0 V h=7 t=31 d=10 (byte 0 of 2)\n");
    assert_has(r.out, "00003FF0: 17 F8 17 F9 17 FA 17 FB 17 FC 17 FD 17 FE 17 FF  block 0 V h=7 t=31 d=8..15\n");
    run_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Packed int4 and int2 pools                                                */

/* Llama-3.1-8B with layers 0-3 int8 and 4-31 int2, 16-token blocks, 64 of
 * them. An int2 layer's block is [2, 8, 16, 128] = 32,768 elements, 4 a
 * byte: 8,192 B = 0x2000 of data, then an fp16 scale and zero (4 B) per 32
 * elements: 1,024 × 4 = 4,096 B; 12,288 B = 0x3000 a block, 64 × 12,288 =
 * 786,432 B in all. Block 17 starts at 17 × 0x3000 = 0x33000.
 *   V h=3 t=8 d=5: n = ((1·8 + 3)·16 + 8)·128 + 5 = 23,557;
 *   byte 23,557 / 4 = 5,889 = 0x1701, bits (23,557 mod 4)·2 = 2..3
 *   → 0x33000 + 0x1701 = 0x34701, line 0x3470, byte 1 of the line.
 *   Its group: 23,557 / 32 = 736, entry at 0x2000 + 736·4 = 0x2B80
 *   → 0x35B80; byte 0x35B82 is the entry's byte 2 (the zero), for the group
 *   of elements 736·32 = 23,552 .. 23,583: V h=3 t=8 d=0..31.
 *   Byte 0x34701 holds elements 23,556 .. 23,559: d=4..7 at bits 0, 2, 4, 6.
 * Synthesized int2 elements hold d mod 4, so every data byte of d = 4i..4i+3
 * reads 0 | 1<<2 | 2<<4 | 3<<6 = 0xE4; scale entries read 00 3C 00 00. */
/* Runs hexmap on that pool's layer with one more option and its value. */
static run_result run_llama_int2(char *layer, char *opt, char *value)
{
    return run_hexmap((char *[]){ "hexmap", "--synthesize", "--model", "llama-3.1-8b", "--kv-precision",
                                  "[{layers: 4, dtype: int8}, {dtype: int2}]", "--blocks", "64", "--layer", layer,
                                  opt, value, NULL });
}

static void test_packed_int2_llama(void)
{
    run_result r = run_llama_int2("4", "--coord", "17,V,3,8,5");
    CU_ASSERT_EQUAL(r.rc, 0);
    assert_has(r.out, "block 17 V h=3 t=8 d=5 -> 00034701 bits 2..3 (line 0x3470, byte 1 of the line); "
                      "scale and zero at 00035B80 (line 0x35B8, byte 0 of the line)\n");
    assert_has(r.out, "\n00034700: E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4 E4  block 17 V h=3 t=8 d=0..63\n");
    assert_has(r.out, "\n00035B80: 00 3C 00 00 00 3C 00 00 00 3C 00 00 00 3C 00 00  scales of block 17 V h=3 t=8 "
                      "d=0..127\n");
    run_free(&r);
    /* The inverse: the byte, one bit position of it, and a scale byte; bit
     * 3 starts no int2 element, and a scale byte holds none. */
    struct { char *at; int rc; const char *want; } at[] = {
        { "0x34701", 0, "00034701 -> block 17 V h=3 t=8 d=4 bits 0..1, d=5 bits 2..3, d=6 bits 4..5, d=7 bits 6..7\n" },
        { "0x34701:2", 0, "00034701 bits 2..3 -> block 17 V h=3 t=8 d=5\n" },
        { "0x35B82", 0, "00035B82 -> scales of block 17 V h=3 t=8 d=0..31 (byte 2 of 4" },
        { "0x34701:3", 2, "no element starts at bit 3" },
        { "0x35B82:0", 2, "no element starts at bit 0" },
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        r = run_llama_int2("4", "--at", at[i].at);
        CU_ASSERT_EQUAL(r.rc, at[i].rc);
        assert_has(at[i].rc ? r.err : r.out, at[i].want);
        run_free(&r);
    }
    /* Layer 3 is int8: 1 B an element, 32,768 B a block, no scales. */
    r = run_llama_int2("3", "--lines", "0");
    assert_has(r.out, "kv-dims 2,8,16,128 int8 (1 B)");
    assert_has(r.out, "64 blocks x 32768 B");
    run_free(&r);
    r = run_llama_int2("4", "--lines", "0");
    assert_has(r.out, "kv-dims 2,8,16,128 int2 (2 bits)");
    assert_has(r.out, "64 blocks x 12288 B = 786432 B");
    assert_has(r.out, "element 4i+j in bits 2j..2j+1 of byte i");
    assert_has(r.out, "8192 B of data, then 4096 B of scales");
    run_free(&r);

    hexmap_pool p;
    if (make_pool(&p, 2, 8, 16, 128, 64, "hnd", DTYPE_INT2) != 0)
        return;
    CU_ASSERT_EQUAL(p.block_bytes, 12288);
    CU_ASSERT_EQUAL(p.total_bytes, 786432);
    hexmap_coord c = coord(17, 1, 3, 8, 5), back;
    CU_ASSERT_EQUAL(hexmap_address(&p, &c), 0x34701);
    CU_ASSERT_EQUAL(hexmap_bit_of(&p, &c), 2);
    CU_ASSERT_EQUAL(hexmap_scale_address(&p, &c), 0x35B80);
    CU_ASSERT_EQUAL_FATAL(hexmap_coord_of_bit(&p, 0x34701, 2, &back), 0);
    CU_ASSERT_EQUAL(memcmp(&back, &c, sizeof c), 0);
    hexmap_place pl;
    CU_ASSERT_EQUAL_FATAL(hexmap_place_of(&p, 0x35B82, &pl), 0);
    hexmap_coord group = coord(17, 1, 3, 8, 0);
    CU_ASSERT_TRUE(pl.scale && pl.elems == 32 && pl.byte == 2);
    CU_ASSERT_EQUAL(memcmp(&pl.first, &group, sizeof group), 0);
    CU_ASSERT_EQUAL(hexmap_coord_of_bit(&p, 0x35B82, 0, &back), -1);
}

/* int4 in vLLM's split-nhd order: a run is one block's K (or V),
 * [T][Hk][D] = 32 × 8 × 16 = 4,096 elements: 2,048 B of data then
 * 4,096 / 32 × 4 = 512 B of scales, 2,560 B; a block's K and V 5,120 B.
 * Element d = 2i in the low nibble, 2i + 1 in the high one: d = 0, 1 →
 * 0x10, d = 14, 15 → 0xFE. V of block 1 starts after both blocks' K runs:
 * 2 × 2,560 + 2,560 = 0x1E00; its scales at 0x1E00 + 2,048 = 0x2600.
 * V h=2 t=1 d=7 of block 1: n = (1·8 + 2)·16 + 7 = 167, byte 83 = 0x53,
 * bits 4..7 → 0x1E53; group 167 / 32 = 5 → 0x2600 + 20 = 0x2614. */
static void test_packed_int4_split(void)
{
    hexmap_pool p;
    uint8_t b[8];
    if (make_pool(&p, 2, 8, 32, 16, 2, "split-nhd", DTYPE_INT4) != 0)
        return;
    CU_ASSERT_EQUAL(p.run_elems, 4096);
    CU_ASSERT_EQUAL(p.block_bytes, 5120);
    hexmap_synth_fill(&p, 0, b, 8);
    CU_ASSERT_TRUE(b[0] == 0x10 && b[1] == 0x32 && b[7] == 0xFE);
    hexmap_coord c = coord(1, 1, 2, 1, 7);
    CU_ASSERT_EQUAL(hexmap_address(&p, &c), 0x1E53);
    CU_ASSERT_EQUAL(hexmap_bit_of(&p, &c), 4);
    CU_ASSERT_EQUAL(hexmap_scale_address(&p, &c), 0x2614);
    hexmap_synth_fill(&p, 0x2614, b, 4);
    CU_ASSERT_TRUE(b[0] == 0x00 && b[1] == 0x3C && b[2] == 0x00 && b[3] == 0x00);
    /* 0x1FF0 is the last data line of block 1's V (0x1E00 + 2,048 = 0x2600
     * ends it; 0x1FF0 − 0x1E00 = 496 B = elements 992..1023 = t=7 h=6..7). */
    assert_has(label_at(&p, 0x1FF0), "block 1 V h=6 t=7 d=0..15, h=7 d=0..15");
    /* Line 0x27F0 holds block 1's last 4 V scale entries (0x2600 + 512 =
     * 0x2800 ends the pool): groups 124..127 = elements 3,968..4,095 = t=31. */
    assert_has(label_at(&p, 0x27F0), "scales of block 1 V h=0 t=31 d=0..15, h=1 d=0..15");
    /* A layout whose block axis is innermost leaves runs of 1 element. */
    const int64_t dims[4] = { 2, 8, 32, 16 };
    kt_err err;
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(hexmap_pool_init(&p, dims, 2, "kv,h,t,d,b", DTYPE_INT4, &err), -1);
    assert_has(err.msg, "not a multiple of both");
}

/* Every data bit and scale byte of packed pools maps to one element (or
 * group) and back, in every named layout: [2,2,4,8] × 3 blocks. */
static void test_packed_round_trip(void)
{
    static const kt_dtype dtypes[] = { DTYPE_INT4, DTYPE_INT2 };
    for (size_t di = 0; di < 2; di++)
        for (int li = 0; hexmap_layout_names[li]; li++) {
            hexmap_pool p;
            if (make_pool(&p, 2, 2, 4, 8, 3, hexmap_layout_names[li], dtypes[di]) != 0)
                return;
            /* 384 elements: 4 or 2 bits each, 4 B per 32: 192 + 48 or 96 + 48. */
            CU_ASSERT_EQUAL(p.total_bytes, dtypes[di] == DTYPE_INT4 ? 240u : 144u);
            uint64_t scale_bytes = 0, elems = 0;
            for (uint64_t a = 0; a < p.total_bytes; a++) {
                hexmap_place pl;
                CU_ASSERT_EQUAL_FATAL(hexmap_place_of(&p, a, &pl), 0);
                if (pl.scale) {
                    scale_bytes++;
                    CU_ASSERT_EQUAL(hexmap_scale_address(&p, &pl.first) + (uint64_t)pl.byte, a);
                    continue;
                }
                for (int bit = 0; bit < 8; bit += p.elem_bits) {
                    hexmap_coord c;
                    CU_ASSERT_EQUAL_FATAL(hexmap_coord_of_bit(&p, a, bit, &c), 0);
                    CU_ASSERT_EQUAL(hexmap_address(&p, &c), a);
                    CU_ASSERT_EQUAL(hexmap_bit_of(&p, &c), bit);
                    elems++;
                }
            }
            CU_ASSERT_EQUAL(scale_bytes, 48);
            CU_ASSERT_EQUAL(elems, 384);
        }
}

/* Every bad input exits 2 with a message on stderr and nothing on stdout. */
static void test_errors(void)
{
    char short_path[] = "/tmp/test_hexmap_short_XXXXXX";
    int fd = mkstemp(short_path);
    CU_ASSERT_FATAL(fd >= 0);
    /* 100 bytes: less than one 16,384-byte block; 16,400 is a block and 16 trailing bytes. */
    CU_ASSERT_EQUAL(ftruncate(fd, 100), 0);
    close(fd);
    char odd_path[] = "/tmp/test_hexmap_odd_XXXXXX";
    fd = mkstemp(odd_path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ftruncate(fd, 16400), 0);
    close(fd);

    struct { const char *want; char *args[12]; } bad[] = {
        { "four whole numbers", { "hexmap", "--synthesize", "--kv-dims", "2,8,32", NULL } },
        { "2 (K and V) or 1", { "hexmap", "--synthesize", "--kv-dims", "3,8,32,16", NULL } },
        { "must be >= 1", { "hexmap", "--synthesize", "--kv-dims", "2,0,32,16", NULL } },
        { "unknown dtype", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp7", NULL } },
        { "unknown dtype", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp4", NULL } },
        { "layout 'b,kv,h,t'", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--layout", "b,kv,h,t", NULL } },
        { "address out of range", { "hexmap", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--at", "0x4000", NULL } },
        { "want a byte address", { "hexmap", "--kv-dims", "2,8,32,16", "--at", "0xZZ", NULL } },
        { "token 32 is out of range", { "hexmap", "--kv-dims", "2,8,32,16", "--coord", "V,7,32,0", NULL } },
        { "file too short", { "hexmap", short_path, "--kv-dims", "2,8,32,16", "--dtype", "fp16", NULL } },
        { "trailing bytes", { "hexmap", odd_path, "--kv-dims", "2,8,32,16", "--dtype", "fp16", NULL } },
        { "file too short", { "hexmap", odd_path, "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--blocks", "2", NULL } },
        { "out of range", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "--lines",
                            "0x3FF..0x400", NULL } },
        { "not both", { "hexmap", short_path, "--synthesize", "--kv-dims", "2,8,32,16", NULL } },
        { "missing the pool's shape", { "hexmap", "--synthesize", NULL } },
        { "nothing to do", { "hexmap", "--kv-dims", "2,8,32,16", NULL } },
        { "no-such-model", { "hexmap", "--synthesize", "--model", "no-such-model", NULL } },
        { "--layer 6", { "hexmap", "--synthesize", "--model", "hybrid-gqa-mla", "--layer", "6", NULL } },
        { "go with --model", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--tp", "2", NULL } },
        { "add --synthesize", { "hexmap", short_path, "--kv-dims", "2,8,32,16", "-o", "/tmp/x", NULL } },
        { "unknown option", { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--frobnicate", NULL } },
        { "needs a value", { "hexmap", "--synthesize", "--kv-dims", NULL } },
        { "No such file", { "hexmap", "/nonexistent/block_pool.bin", "--kv-dims", "2,8,32,16", NULL } },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r = run_hexmap(bad[i].args);
        if (r.rc != 2)
            fprintf(stderr, "case %zu (%s): rc %d\n", i, bad[i].want, r.rc);
        CU_ASSERT_EQUAL(r.rc, 2);
        assert_has(r.err, bad[i].want);
        CU_ASSERT_EQUAL(r.out[0], '\0');
        run_free(&r);
    }
    unlink(short_path);
    unlink(odd_path);
}

/* A dump to a full disk stops at the first chunk with an error instead of
 * formatting every line of a pool of 6.4 TB. */
static void test_write_error(void)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full) {
        tu_skip("no /dev/full");
        return;
    }
    hexmap_pool p;
    const int64_t blocks = 100000000;
    if (make_pool(&p, 2, 8, 32, 16, blocks, "hnd", DTYPE_FP16) != 0) {
        fclose(full);
        return;
    }
    hexmap_source synth = { -1 };
    kt_err err;
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(hexmap_dump(full, &p, &synth, 0, p.total_bytes / HEXMAP_LINE_BYTES - 1, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "write error"));
    fclose(full);
}

/* --help exits 0 and documents every option. */
static void test_help(void)
{
    run_result r = run_hexmap((char *[]){ "hexmap", "--help", NULL });
    CU_ASSERT_EQUAL(r.rc, 0);
    const char *opts[] = { "--synthesize", "--kv-dims", "--model", "--tp", "--layer", "--block-tokens", "--blocks",
                           "--layout", "--dtype", "--lines", "--at", "--coord", "--output", "split-nhd", "fp8, int8" };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_has(r.out, opts[i]);
    run_free(&r);
}

int main(void)
{
    dirs_init();
    static const tu_test tests[] = {
        { "[2,8,32,16] fp16: 0x3F00 and the last line 0x3FF0", test_default_layout_3f00_and_last_line },
        { "command prints synthesized lines", test_cli_synthesized_lines },
        { "block boundary", test_block_boundary },
        { "lines crossing token, head, K/V and block boundaries", test_multi_piece_labels },
        { "separate K and V pools", test_split_pools },
        { "token-major against head-major", test_token_major },
        { "fp8 and int8", test_fp8 },
        { "synthesized encodings", test_synth_encoding },
        { "address -> coord -> address over whole pools", test_round_trip_whole_pool },
        { "5 GiB sparse file read at high offsets", test_sparse_5gib_file },
        { "-o writes what the dump shows", test_output_file_round_trip },
        { "shapes from model cards (tp, MLA, mixed layers)", test_model_shapes },
        { "--at and --coord", test_at_and_coord },
        { "int2 Llama-3.1-8B layer: bits, scales, both directions", test_packed_int2_llama },
        { "int4 split pools: nibbles and scale regions", test_packed_int4_split },
        { "packed pools: every bit and scale byte and back", test_packed_round_trip },
        { "errors exit 2", test_errors },
        { "a write error ends the dump", test_write_error },
        { "--help", test_help },
        { NULL, NULL },
    };
    return tu_run("hexmap", tests);
}
