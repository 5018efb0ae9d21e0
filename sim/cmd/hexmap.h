/* hexmap.h — `kvtier hexmap`: a labeled hex view of a KV block pool, and address <-> (block, K/V, head, token, dim) conversion. */
#ifndef KT_HEXMAP_H
#define KT_HEXMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dtype.h"
#include "err.h"

/* The five coordinates of one KV element. The canonical order (the order of
 * this enum, of hexmap_coord.c[] and of the labels) is block, K/V, head,
 * token, dim, whatever order the layout keeps them in memory. */
typedef enum {
    HEXMAP_BLOCK, HEXMAP_KV, HEXMAP_HEAD, HEXMAP_TOKEN, HEXMAP_DIM,
    HEXMAP_AXES
} hexmap_axis;

/* Bytes one hex line shows (and the alignment of every line address). */
#define HEXMAP_LINE_BYTES 16
/* Room for one formatted line: the address, 16 bytes in hex and a label of
 * up to 64 pieces (one per element of int2 with a head dim of 1). */
#define HEXMAP_LINE_TEXT_MAX 4096

/* A KV block pool: its shape, its memory order and its element type.
 * Invariants (hexmap_pool_init establishes them): every size[a] >= 1;
 * size[HEXMAP_KV] is 1 (one cache not split into K and V, e.g. an MLA
 * latent) or 2; order[] is a permutation of the axes, outermost first;
 * stride_elems[a] is the element distance between neighbours along a;
 * total_bytes == product of sizes × elem_bytes (packed: runs × run_bytes)
 * and fits an int64. */
typedef struct hexmap_pool {
    int64_t size[HEXMAP_AXES];          /* blocks, 2 (or 1), KV heads, tokens per block, head dim */
    hexmap_axis order[HEXMAP_AXES];     /* memory order, outermost first */
    int64_t stride_elems[HEXMAP_AXES];
    int elem_bytes;                     /* 1, 2 or 4: always divides HEXMAP_LINE_BYTES; 0 when packed */
    int elem_bits;                      /* 8 × elem_bytes, or 4 (int4) / 2 (int2): packed, several a byte */
    kt_dtype dtype;
    /* Packed pools only (kv_layout's packed layout): a run is the elements
     * of one block that lie together, its data then its scales. */
    int quant_group;                    /* elements per fp16 scale and zero */
    int64_t run_elems;
    uint64_t run_data_bytes, run_bytes;
    uint64_t block_bytes;               /* 2·Hk·T·D·e (packed: plus scales): one block's K and V */
    uint64_t total_bytes;
    char layout[64];                    /* the layout's name or axis string as given */
} hexmap_pool;

/* One element's coordinates, indexed by hexmap_axis. */
typedef struct hexmap_coord {
    int64_t c[HEXMAP_AXES];
} hexmap_coord;

/* The named layouts, NULL-terminated ("hnd", "nhd", "split-nhd", "split-hnd"),
 * with a one-line description each for --help. */
extern const char *const hexmap_layout_names[];
extern const char *const hexmap_layout_notes[];

/* Sets up p for kv_dims = {2 (or 1), Hk, T, D} (always given in that order),
 * blocks blocks, a layout (a name from hexmap_layout_names, or five axis
 * letters outermost first such as "b,kv,t,h,d") and a dtype: 1, 2 or 4
 * bytes (fp8, int8, fp16, bf16, fp32), or packed (int4, int2, with
 * KV_LAYOUT_HBM_QUANT_GROUP elements per scale; a run must hold whole
 * bytes and whole groups). Returns 0, or -1 with err saying what is wrong. */
int hexmap_pool_init(hexmap_pool *p, const int64_t kv_dims[4], int64_t blocks, const char *layout,
                     kt_dtype dtype, kt_err *err);

/* Byte address of the first byte of element c (coordinates must be in
 * range); packed: of the byte holding it. */
uint64_t hexmap_address(const hexmap_pool *p, const hexmap_coord *c);
/* The lowest bit of element c in the byte at hexmap_address: 0 unless packed. */
int hexmap_bit_of(const hexmap_pool *p, const hexmap_coord *c);
/* Packed pools: address of the 4-byte scale entry (fp16 scale, fp16 zero)
 * of element c's group. */
uint64_t hexmap_scale_address(const hexmap_pool *p, const hexmap_coord *c);
/* What the byte at an address holds. */
typedef struct hexmap_place {
    int scale;          /* 1: a byte of a scale entry (packed pools) */
    hexmap_coord first; /* the byte's first element, or the scale group's first element */
    int elems;          /* elements of the byte (consecutive in memory; 1 unless packed) or of the group */
    int byte;           /* which byte of the element (whole-byte dtypes) or of the scale entry */
} hexmap_place;
/* Fills pl (the caller's) for addr. Returns 0, or -1 when addr is past the
 * end of the pool. */
int hexmap_place_of(const hexmap_pool *p, uint64_t addr, hexmap_place *pl);
/* Packed pools: the element whose bits start at bit of the data byte at
 * addr. Returns 0, or -1 when addr is past the pool, a scale byte, or no
 * element starts at bit. */
int hexmap_coord_of_bit(const hexmap_pool *p, uint64_t addr, int bit, hexmap_coord *c);
/* Coordinates of the element holding byte addr, and which of its bytes addr
 * is (0 .. elem_bytes-1) when byte_in_elem is not NULL; packed: the byte's
 * first element, or a scale byte's group's first element (hexmap_place_of
 * tells them apart). Returns 0, or -1 when addr is past the end of the pool. */
int hexmap_coord_of(const hexmap_pool *p, uint64_t addr, hexmap_coord *c, int *byte_in_elem);
/* Checks c against the pool's sizes. Returns 0, or -1 with err naming the
 * coordinate out of range. */
int hexmap_coord_check(const hexmap_pool *p, const hexmap_coord *c, kt_err *err);

/* Writes the label of the line starting at line_addr (a multiple of
 * HEXMAP_LINE_BYTES inside the pool) into buf: one piece per run of elements
 * in which only the innermost axis moves; the first piece names every
 * coordinate ("block 0 V h=7 t=24 d=0..7"), later ones only those that
 * changed plus the range ("t=3 d=0..3, t=4 d=0..3"; "K h=7 t=31 d=12..15,
 * V h=0 t=0 d=0..3" across the K/V boundary). K/V shows as K or V, or L
 * when the pool has one cache (kv size 1). Returns buf. */
char *hexmap_line_label(const hexmap_pool *p, uint64_t line_addr, char *buf, size_t n);

/* Coordinates as a label: "block 0 V h=7 t=24 d=0". Returns buf. */
char *hexmap_coord_label(const hexmap_pool *p, const hexmap_coord *c, char *buf, size_t n);

/* The synthesized pool's bytes [addr, addr+n): each element encodes its own
 * coordinates, its bytes in file order being
 *   4-byte dtypes: kv, h, t, d            (one byte each, mod 256)
 *   2-byte dtypes: kv·16+h, t·16+d        (one hex digit each, mod 16)
 *   1-byte dtypes: t·16+d                 (mod 16 each; kv and head do not fit)
 *   packed (int4, int2):  d mod 16 or mod 4 in each element's bits; every
 *                         scale entry fp16 1.0 and zero 0 (00 3C 00 00)
 * so [2,8,32,16] fp16's V h=7 t=24 d=0..7 reads 17 80 17 81 ... 17 87. */
void hexmap_synth_fill(const hexmap_pool *p, uint64_t addr, uint8_t *buf, size_t n);

/* Where a dump reads its bytes: an open file (fd >= 0, read with pread, so
 * only the requested lines are read) or, with fd < 0, the synthesized pool. */
typedef struct hexmap_source {
    int fd;
} hexmap_source;

/* Reads bytes [addr, addr+n) of the pool from src. Returns 0, or -1 with err
 * (a read error, or the file ending early). */
int hexmap_read(const hexmap_pool *p, const hexmap_source *src, uint64_t addr, uint8_t *buf, size_t n,
                kt_err *err);

/* Hex digits of the address column: 8, or more for pools past 4 GiB. */
int hexmap_addr_width(const hexmap_pool *p);

/* Formats one line: "00003F00: 17 80 ... 17 87  block 0 V h=7 t=24 d=0..7"
 * (n <= HEXMAP_LINE_BYTES bytes; a short last line is padded so the labels
 * line up). Returns out. */
char *hexmap_format_line(const hexmap_pool *p, uint64_t line_addr, const uint8_t *bytes, size_t n, char *out,
                         size_t out_len);

/* Prints lines first_line..last_line (inclusive, line L starting at address
 * 16·L) read from src, streaming a chunk at a time. Returns 0, or -1 with err. */
int hexmap_dump(FILE *out, const hexmap_pool *p, const hexmap_source *src, uint64_t first_line,
                uint64_t last_line, kt_err *err);

/* `kvtier hexmap [FILE | --synthesize] ...` (argv[0] is "hexmap"): parses its
 * arguments, prints the dump or conversion, returns 0, or 2 on bad input
 * (message on stderr). model_dirs: where --model NAME is looked up. */
int hexmap_main(int argc, char **argv, const char *const *model_dirs);

#endif
