/* hexmap.c — `kvtier hexmap`: a labeled hex view of a KV block pool (read from a file or synthesized), and address <-> coordinate conversion. */
#define _FILE_OFFSET_BITS 64
#include "hexmap.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_layout.h"
#include "kv_plan.h"
#include "model.h"
#include "infile.h"
#include "outfile.h"

/* ------------------------------------------------------------------------ */
/* Layouts                                                                   */

/* Axis strings of the named layouts, outermost first, parallel to the names. */
const char *const hexmap_layout_names[] = { "hnd", "nhd", "split-nhd", "split-hnd", NULL };
static const char *const layout_axes[] = { "b,kv,h,t,d", "b,kv,t,h,d", "kv,b,t,h,d", "kv,b,h,t,d" };
const char *const hexmap_layout_notes[] = {
    "[blocks][2][Hk][T][D]  K and V of a block together, head-major (the default; FlashInfer HND)",
    "[blocks][2][T][Hk][D]  K and V of a block together, token-major (FlashInfer NHD, vLLM's FlashInfer backend)",
    "[2][blocks][T][Hk][D]  a K pool, then a V pool, token-major (vLLM's FlashAttention backend; SGLang with T=1)",
    "[2][blocks][Hk][T][D]  a K pool, then a V pool, head-major",
    NULL,
};

/* What each axis is called in an axis string (short and long forms) and in labels. */
static const char *const axis_short[HEXMAP_AXES] = { "b", "kv", "h", "t", "d" };
static const char *const axis_long[HEXMAP_AXES] = { "block", "kv", "head", "token", "dim" };

static int axis_parse(const char *s, size_t len, hexmap_axis *out)
{
    for (int a = 0; a < HEXMAP_AXES; a++)
        if ((strlen(axis_short[a]) == len && strncmp(s, axis_short[a], len) == 0) ||
            (strlen(axis_long[a]) == len && strncmp(s, axis_long[a], len) == 0)) {
            *out = (hexmap_axis)a;
            return 0;
        }
    return -1;
}

static int layout_error(const char *s, kt_err *err)
{
    KT_ERROR(err, NULL, 0, 0,
             "layout '%s': want a layout name or the five axes b,kv,h,t,d in memory order, "
             "outermost first, each once (e.g. b,kv,t,h,d)", s);
    return -1;
}

/* Parses five comma-separated axis names, outermost first, each once. */
static int layout_parse_axes(const char *s, hexmap_axis order[HEXMAP_AXES], kt_err *err)
{
    int seen[HEXMAP_AXES] = { 0 };
    const char *p = s;
    for (int i = 0; i < HEXMAP_AXES; i++) {
        size_t len = strcspn(p, ",");
        hexmap_axis a;
        if (axis_parse(p, len, &a) != 0 || seen[a])
            return layout_error(s, err);
        seen[a] = 1;
        order[i] = a;
        p += len;
        /* Fewer than five axes: stop at the end of s, never past it. */
        if (i + 1 < HEXMAP_AXES) {
            if (*p != ',')
                return layout_error(s, err);
            p++;
        }
    }
    return *p == '\0' ? 0 : layout_error(s, err);
}

static int layout_parse(const char *s, hexmap_axis order[HEXMAP_AXES], kt_err *err)
{
    for (int i = 0; hexmap_layout_names[i]; i++)
        if (strcmp(s, hexmap_layout_names[i]) == 0)
            return layout_parse_axes(layout_axes[i], order, err);
    return layout_parse_axes(s, order, err);
}

/* ------------------------------------------------------------------------ */
/* The pool's arithmetic                                                     */

/* a × b into *out unless it passes limit. Returns 0, or -1 on overflow. */
static int mul_checked(uint64_t a, uint64_t b, uint64_t limit, uint64_t *out)
{
    if (a != 0 && b > limit / a)
        return -1;
    *out = a * b;
    return 0;
}

/* Element size of a whole-byte dtype, or 0 for a packed (sub-byte) one. */
static int elem_bytes_of(kt_dtype d)
{
    double b = dtype_bytes(d);
    if (b == 1 || b == 2 || b == 4)
        return (int)b;
    return 0;
}

/* 1 for a dtype the view shows: whole-byte, or int4 and int2 packed (fp4
 * serves weights here, and no KV pool of it is shown). */
static int dtype_shown(kt_dtype d)
{
    return elem_bytes_of(d) || d == DTYPE_INT4 || d == DTYPE_INT2;
}

/* 1 for a pool of int4 or int2, whose elements share bytes. */
static int is_packed(const hexmap_pool *p)
{
    return p->elem_bytes == 0;
}

static int check_dims(const int64_t kv_dims[4], int64_t blocks, kt_err *err)
{
    static const char *const what[4] = { "K/V count", "KV heads", "tokens per block", "head dim" };
    if (kv_dims[0] != 1 && kv_dims[0] != 2) {
        KT_ERROR(err, NULL, 0, 0, "kv-dims: the first number is 2 (K and V) or 1 (one cache, e.g. an MLA "
                 "latent), got %" PRId64, kv_dims[0]);
        return -1;
    }
    for (int i = 1; i < 4; i++)
        if (kv_dims[i] < 1) {
            KT_ERROR(err, NULL, 0, 0, "kv-dims: %s must be >= 1, got %" PRId64, what[i], kv_dims[i]);
            return -1;
        }
    if (blocks < 1) {
        KT_ERROR(err, NULL, 0, 0, "blocks must be >= 1, got %" PRId64, blocks);
        return -1;
    }
    return 0;
}

/* Fills block_bytes and total_bytes; -1 with err when the pool passes INT64_MAX bytes. */
static int pool_sizes(hexmap_pool *p, kt_err *err)
{
    uint64_t elems = 1;
    for (int a = 0; a < HEXMAP_AXES; a++)
        if (mul_checked(elems, (uint64_t)p->size[a], INT64_MAX, &elems) != 0)
            goto too_big;
    if (is_packed(p)) {
        /* Whole runs of the packed layout: the axes inside the block's. */
        p->run_elems = 1;
        for (int i = HEXMAP_AXES - 1; p->order[i] != HEXMAP_BLOCK; i--)
            p->run_elems *= p->size[p->order[i]];
        if (p->run_elems % p->quant_group != 0 || p->run_elems % kv_layout_packed_per_byte(p->dtype) != 0) {
            KT_ERROR(err, NULL, 0, 0, "%s packs a block's %" PRId64 " elements that lie together (layout %s) into "
                     "whole bytes of %d and scale groups of %d: %" PRId64 " is not a multiple of both",
                     dtype_name(p->dtype), p->run_elems, p->layout, kv_layout_packed_per_byte(p->dtype),
                     p->quant_group, p->run_elems);
            return -1;
        }
        p->run_data_bytes = kv_layout_packed_data_bytes(p->dtype, (uint64_t)p->run_elems);
        p->run_bytes = kv_layout_packed_run_bytes(p->dtype, p->quant_group, (uint64_t)p->run_elems);
        if (mul_checked(elems / (uint64_t)p->run_elems, p->run_bytes, INT64_MAX, &p->total_bytes) != 0)
            goto too_big;
    } else if (mul_checked(elems, (uint64_t)p->elem_bytes, INT64_MAX, &p->total_bytes) != 0)
        goto too_big;
    p->block_bytes = p->total_bytes / (uint64_t)p->size[HEXMAP_BLOCK];
    return 0;
too_big:
    KT_ERROR(err, NULL, 0, 0, "pool of %" PRId64 " blocks of [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
             "] is larger than %" PRId64 " bytes", p->size[HEXMAP_BLOCK], p->size[HEXMAP_KV], p->size[HEXMAP_HEAD],
             p->size[HEXMAP_TOKEN], p->size[HEXMAP_DIM], (int64_t)INT64_MAX);
    return -1;
}

int hexmap_pool_init(hexmap_pool *p, const int64_t kv_dims[4], int64_t blocks, const char *layout,
                     kt_dtype dtype, kt_err *err)
{
    memset(p, 0, sizeof *p);
    if (check_dims(kv_dims, blocks, err) != 0 || layout_parse(layout, p->order, err) != 0)
        return -1;
    p->elem_bytes = elem_bytes_of(dtype);
    p->elem_bits = (int)(dtype_bytes(dtype) * 8);
    p->quant_group = KV_LAYOUT_HBM_QUANT_GROUP;
    p->dtype = dtype;
    p->size[HEXMAP_BLOCK] = blocks;
    for (int i = 0; i < 4; i++)
        p->size[HEXMAP_KV + i] = kv_dims[i];
    snprintf(p->layout, sizeof p->layout, "%s", layout);
    if (pool_sizes(p, err) != 0)
        return -1;
    int64_t stride = 1;
    for (int i = HEXMAP_AXES - 1; i >= 0; i--) {
        p->stride_elems[p->order[i]] = stride;
        stride *= p->size[p->order[i]];
    }
    return 0;
}

/* Element number of c in memory order. */
static uint64_t elem_of_coord(const hexmap_pool *p, const hexmap_coord *c)
{
    uint64_t elem = 0;
    for (int a = 0; a < HEXMAP_AXES; a++)
        elem += (uint64_t)c->c[a] * (uint64_t)p->stride_elems[a];
    return elem;
}

uint64_t hexmap_address(const hexmap_pool *p, const hexmap_coord *c)
{
    uint64_t elem = elem_of_coord(p, c);
    if (!is_packed(p))
        return elem * (uint64_t)p->elem_bytes;
    int bit;
    uint64_t run = elem / (uint64_t)p->run_elems;
    return run * p->run_bytes + kv_layout_packed_elem_offset(p->dtype, elem % (uint64_t)p->run_elems, &bit);
}

int hexmap_bit_of(const hexmap_pool *p, const hexmap_coord *c)
{
    int bit = 0;
    if (is_packed(p))
        kv_layout_packed_elem_offset(p->dtype, elem_of_coord(p, c) % (uint64_t)p->run_elems, &bit);
    return bit;
}

uint64_t hexmap_scale_address(const hexmap_pool *p, const hexmap_coord *c)
{
    uint64_t elem = elem_of_coord(p, c), run = elem / (uint64_t)p->run_elems;
    return run * p->run_bytes +
           kv_layout_packed_scale_offset(p->dtype, p->quant_group, (uint64_t)p->run_elems, elem % (uint64_t)p->run_elems);
}

/* Coordinates of element number elem (elem < total elements). */
static void coord_of_elem(const hexmap_pool *p, uint64_t elem, hexmap_coord *c)
{
    for (int i = 0; i < HEXMAP_AXES; i++) {
        hexmap_axis a = p->order[i];
        c->c[a] = (int64_t)(elem / (uint64_t)p->stride_elems[a]);
        elem %= (uint64_t)p->stride_elems[a];
    }
}

/* Packed pools: the element number (memory order) the byte at addr starts
 * with, and what the byte is (kv_layout_packed_locate). */
static uint64_t packed_locate(const hexmap_pool *p, uint64_t addr, kv_layout_packed_at *at)
{
    uint64_t run = addr / p->run_bytes;
    kv_layout_packed_locate(p->dtype, p->quant_group, (uint64_t)p->run_elems, addr % p->run_bytes, at);
    return run * (uint64_t)p->run_elems + at->first_elem;
}

int hexmap_place_of(const hexmap_pool *p, uint64_t addr, hexmap_place *pl)
{
    if (addr >= p->total_bytes)
        return -1;
    if (!is_packed(p)) {
        *pl = (hexmap_place){ .elems = 1, .byte = (int)(addr % (uint64_t)p->elem_bytes) };
        coord_of_elem(p, addr / (uint64_t)p->elem_bytes, &pl->first);
        return 0;
    }
    kv_layout_packed_at at;
    uint64_t elem = packed_locate(p, addr, &at);
    *pl = (hexmap_place){ .scale = at.scale, .elems = at.elems, .byte = at.entry_byte };
    coord_of_elem(p, elem, &pl->first);
    return 0;
}

int hexmap_coord_of_bit(const hexmap_pool *p, uint64_t addr, int bit, hexmap_coord *c)
{
    hexmap_place pl;
    if (!is_packed(p) || hexmap_place_of(p, addr, &pl) != 0 || pl.scale)
        return -1;
    int k = kv_layout_packed_elem_of_bit(p->dtype, bit);
    if (k < 0 || k >= pl.elems)
        return -1;
    coord_of_elem(p, elem_of_coord(p, &pl.first) + (uint64_t)k, c);
    return 0;
}

int hexmap_coord_of(const hexmap_pool *p, uint64_t addr, hexmap_coord *c, int *byte_in_elem)
{
    hexmap_place pl;
    if (hexmap_place_of(p, addr, &pl) != 0)
        return -1;
    *c = pl.first;
    if (byte_in_elem)
        *byte_in_elem = pl.byte;
    return 0;
}

int hexmap_coord_check(const hexmap_pool *p, const hexmap_coord *c, kt_err *err)
{
    for (int a = 0; a < HEXMAP_AXES; a++)
        if (c->c[a] < 0 || c->c[a] >= p->size[a]) {
            KT_ERROR(err, NULL, 0, 0, "%s %" PRId64 " is out of range: the pool has %s 0..%" PRId64,
                     axis_long[a], c->c[a], axis_long[a], p->size[a] - 1);
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Labels                                                                    */

/* A bounded string being appended to. */
typedef struct strbuf {
    char *s;
    size_t n, len;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->s + b->len, b->n - b->len, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->len = b->len + (size_t)w < b->n ? b->len + (size_t)w : b->n - 1;
}

static char kv_letter(const hexmap_pool *p, int64_t kv)
{
    if (p->size[HEXMAP_KV] == 1)
        return 'L';
    return kv == 0 ? 'K' : 'V';
}

/* Appends axis a of c, as a range lo..hi when hi > lo, with a leading space
 * unless it starts the text. */
static void label_axis(strbuf *b, const hexmap_pool *p, hexmap_axis a, int64_t lo, int64_t hi)
{
    const char *sep = b->len == 0 || b->s[b->len - 1] == ' ' ? "" : " ";
    if (a == HEXMAP_KV) {
        if (lo == hi)
            sb_printf(b, "%s%c", sep, kv_letter(p, lo));
        else
            sb_printf(b, "%s%c..%c", sep, kv_letter(p, lo), kv_letter(p, hi));
        return;
    }
    static const char *const prefix[HEXMAP_AXES] = { "block ", "", "h=", "t=", "d=" };
    if (lo == hi)
        sb_printf(b, "%s%s%" PRId64, sep, prefix[a], lo);
    else
        sb_printf(b, "%s%s%" PRId64 "..%" PRId64, sep, prefix[a], lo, hi);
}

/* Appends one piece: the run of n elements starting at c along the innermost
 * axis. prev == NULL: every axis; otherwise the axes that differ from prev
 * and the innermost one. */
static void label_piece(strbuf *b, const hexmap_pool *p, const hexmap_coord *c, int64_t n, const hexmap_coord *prev)
{
    hexmap_axis inner = p->order[HEXMAP_AXES - 1];
    for (int a = 0; a < HEXMAP_AXES; a++) {
        if (a == (int)inner)
            label_axis(b, p, (hexmap_axis)a, c->c[a], c->c[a] + n - 1);
        else if (!prev || prev->c[a] != c->c[a])
            label_axis(b, p, (hexmap_axis)a, c->c[a], c->c[a]);
    }
}

/* Appends the pieces of elements [elem, end_elem) in memory order. *first:
 * no piece before, so the next names every axis; *prev: the last piece. */
static void label_elems(strbuf *b, const hexmap_pool *p, uint64_t elem, uint64_t end_elem, int *first,
                        hexmap_coord *prev)
{
    hexmap_axis inner = p->order[HEXMAP_AXES - 1];
    hexmap_coord c;
    while (elem < end_elem) {
        coord_of_elem(p, elem, &c);
        uint64_t run = (uint64_t)(p->size[inner] - c.c[inner]);
        if (run > end_elem - elem)
            run = end_elem - elem;
        if (!*first)
            sb_printf(b, ", ");
        label_piece(b, p, &c, (int64_t)run, *first ? NULL : prev);
        *prev = c;
        *first = 0;
        elem += run;
    }
}

/* A packed line's bytes [line_addr, end): its data as elements, its scale
 * entries as "scales of" the elements of their groups; each change of
 * region names every axis again. */
static void label_packed(strbuf *b, const hexmap_pool *p, uint64_t line_addr, uint64_t end)
{
    hexmap_coord prev;
    int first = 1;
    for (uint64_t a = line_addr; a < end;) {
        kv_layout_packed_at at, last;
        uint64_t elem = packed_locate(p, a, &at);
        uint64_t run_start = a / p->run_bytes * p->run_bytes;
        uint64_t seg_end = run_start + (at.scale ? p->run_bytes : p->run_data_bytes);
        if (seg_end > end)
            seg_end = end;
        uint64_t end_elem = packed_locate(p, seg_end - 1, &last) + (uint64_t)last.elems;
        if (!first)
            sb_printf(b, ", ");
        if (at.scale)
            sb_printf(b, "scales of ");
        first = 1;
        label_elems(b, p, elem, end_elem, &first, &prev);
        a = seg_end;
    }
}

char *hexmap_line_label(const hexmap_pool *p, uint64_t line_addr, char *buf, size_t n)
{
    strbuf b = { buf, n, 0 };
    if (n)
        buf[0] = '\0';
    uint64_t end = line_addr + HEXMAP_LINE_BYTES < p->total_bytes ? line_addr + HEXMAP_LINE_BYTES : p->total_bytes;
    hexmap_coord prev;
    int first = 1;
    if (is_packed(p))
        label_packed(&b, p, line_addr, end);
    else
        label_elems(&b, p, line_addr / (uint64_t)p->elem_bytes, end / (uint64_t)p->elem_bytes, &first, &prev);
    return buf;
}

char *hexmap_coord_label(const hexmap_pool *p, const hexmap_coord *c, char *buf, size_t n)
{
    strbuf b = { buf, n, 0 };
    if (n)
        buf[0] = '\0';
    for (int a = 0; a < HEXMAP_AXES; a++)
        label_axis(&b, p, (hexmap_axis)a, c->c[a], c->c[a]);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Synthesized values                                                        */

/* Masks of the fields the encodings keep (see hexmap_synth_fill). */
#define NIBBLE_MASK 0xFu
#define BYTE_MASK 0xFFu
#define NIBBLE_BITS 4

/* Writes element c's encoding into out[0 .. elem_bytes). */
static void synth_element(const hexmap_pool *p, const hexmap_coord *c, uint8_t *out)
{
    uint64_t kv = (uint64_t)c->c[HEXMAP_KV], h = (uint64_t)c->c[HEXMAP_HEAD];
    uint64_t t = (uint64_t)c->c[HEXMAP_TOKEN], d = (uint64_t)c->c[HEXMAP_DIM];
    uint8_t td = (uint8_t)(((t & NIBBLE_MASK) << NIBBLE_BITS) | (d & NIBBLE_MASK));
    switch (p->elem_bytes) {
    case 4:
        out[0] = (uint8_t)(kv & BYTE_MASK);
        out[1] = (uint8_t)(h & BYTE_MASK);
        out[2] = (uint8_t)(t & BYTE_MASK);
        out[3] = (uint8_t)(d & BYTE_MASK);
        break;
    case 2:
        out[0] = (uint8_t)(((kv & NIBBLE_MASK) << NIBBLE_BITS) | (h & NIBBLE_MASK));
        out[1] = td;
        break;
    default:
        out[0] = td;
        break;
    }
}

/* A synthesized packed byte: each element's d in its bits, or a byte of a
 * scale entry of fp16 1.0 and zero 0 (little-endian: 00 3C 00 00). */
static uint8_t synth_packed_byte(const hexmap_pool *p, uint64_t addr)
{
    static const uint8_t one_and_zero[4] = { 0x00, 0x3C, 0x00, 0x00 };
    kv_layout_packed_at at;
    uint64_t elem = packed_locate(p, addr, &at);
    if (at.scale)
        return one_and_zero[at.entry_byte];
    uint64_t mask = (1u << p->elem_bits) - 1;
    uint8_t v = 0;
    hexmap_coord c;
    for (int k = 0; k < at.elems; k++) {
        int bit;
        coord_of_elem(p, elem + (uint64_t)k, &c);
        kv_layout_packed_elem_offset(p->dtype, at.first_elem + (uint64_t)k, &bit);
        v |= (uint8_t)(((uint64_t)c.c[HEXMAP_DIM] & mask) << bit);
    }
    return v;
}

void hexmap_synth_fill(const hexmap_pool *p, uint64_t addr, uint8_t *buf, size_t n)
{
    if (is_packed(p)) {
        for (size_t i = 0; i < n; i++)
            buf[i] = synth_packed_byte(p, addr + i);
        return;
    }
    const uint64_t e = (uint64_t)p->elem_bytes;
    uint8_t elem_bytes[sizeof(uint32_t)];
    hexmap_coord c;
    size_t i = 0;
    while (i < n) {
        uint64_t a = addr + i, elem = a / e;
        coord_of_elem(p, elem, &c);
        synth_element(p, &c, elem_bytes);
        for (uint64_t k = a % e; k < e && i < n; k++)
            buf[i++] = elem_bytes[k];
    }
}

/* ------------------------------------------------------------------------ */
/* Reading and printing                                                      */

int hexmap_read(const hexmap_pool *p, const hexmap_source *src, uint64_t addr, uint8_t *buf, size_t n,
                kt_err *err)
{
    if (src->fd < 0) {
        hexmap_synth_fill(p, addr, buf, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(src->fd, buf + got, n - got, (off_t)(addr + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            KT_ERROR(err, NULL, 0, 0, "read at byte %" PRIu64 ": %s", addr + got, strerror(errno));
            return -1;
        }
        if (r == 0) {
            KT_ERROR(err, NULL, 0, 0, "file too short: it ends at byte %" PRIu64 ", the pool needs %" PRIu64,
                     addr + got, p->total_bytes);
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int hexmap_addr_width(const hexmap_pool *p)
{
    const int min_digits = 8;
    int digits = 0;
    for (uint64_t last = p->total_bytes - 1; last; last >>= NIBBLE_BITS)
        digits++;
    return digits > min_digits ? digits : min_digits;
}

char *hexmap_format_line(const hexmap_pool *p, uint64_t line_addr, const uint8_t *bytes, size_t n, char *out,
                         size_t out_len)
{
    strbuf b = { out, out_len, 0 };
    char label[HEXMAP_LINE_TEXT_MAX];
    if (out_len)
        out[0] = '\0';
    sb_printf(&b, "%0*" PRIX64 ":", hexmap_addr_width(p), line_addr);
    for (size_t i = 0; i < HEXMAP_LINE_BYTES; i++) {
        if (i < n)
            sb_printf(&b, " %02X", bytes[i]);
        else
            sb_printf(&b, "   ");
    }
    sb_printf(&b, "  %s", hexmap_line_label(p, line_addr, label, sizeof label));
    return out;
}

/* Lines read and printed per pread (64 KiB). */
#define DUMP_CHUNK_LINES 4096

int hexmap_dump(FILE *out, const hexmap_pool *p, const hexmap_source *src, uint64_t first_line,
                uint64_t last_line, kt_err *err)
{
    uint8_t *buf = malloc((size_t)DUMP_CHUNK_LINES * HEXMAP_LINE_BYTES);
    char text[HEXMAP_LINE_TEXT_MAX];
    if (!buf) {
        KT_ERROR(err, NULL, 0, 0, "out of memory");
        return -1;
    }
    int rc = 0;
    for (uint64_t line = first_line; line <= last_line && rc == 0;) {
        uint64_t lines = last_line - line + 1 < DUMP_CHUNK_LINES ? last_line - line + 1 : DUMP_CHUNK_LINES;
        uint64_t addr = line * HEXMAP_LINE_BYTES;
        uint64_t end = addr + lines * HEXMAP_LINE_BYTES;
        if (end > p->total_bytes)
            end = p->total_bytes;
        rc = hexmap_read(p, src, addr, buf, (size_t)(end - addr), err);
        for (uint64_t a = addr; rc == 0 && a < end; a += HEXMAP_LINE_BYTES) {
            size_t n = end - a < HEXMAP_LINE_BYTES ? (size_t)(end - a) : HEXMAP_LINE_BYTES;
            fprintf(out, "%s\n", hexmap_format_line(p, a, buf + (a - addr), n, text, sizeof text));
        }
        /* A full disk or a closed pipe ends the dump, which could run for days. */
        if (rc == 0 && ferror(out)) {
            KT_ERROR(err, NULL, 0, 0, "write error: %s", strerror(errno));
            rc = -1;
        }
        line += lines;
    }
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

/* What the command line asked for. Strings point into argv (not owned). */
typedef struct hx_args {
    const char *file;           /* pool file to read, or NULL */
    int synthesize;
    const char *kv_dims;        /* "2,8,32,16" */
    const char *model;
    int tp;
    int layer;
    int64_t block_tokens;       /* 0: not given */
    int64_t blocks;             /* 0: not given */
    const char *layout;
    kt_dtype dtype;
    int dtype_set;              /* --dtype given: it wins over a layer's own KV dtype */
    const char *kv_precision;   /* with --model: kv.precision in YAML, or NULL */
    const char *kv_sharing;     /* with --model: kv.sharing in YAML, or NULL */
    const char *lines;
    const char *at;
    const char *coord;
    const char *output;
} hx_args;

/* Defaults, named so the usage text and the parser agree. */
#define HX_DEFAULT_DTYPE DTYPE_BF16
#define HX_DEFAULT_LAYOUT "hnd"
#define HX_DEFAULT_BLOCK_TOKENS 16      /* vLLM's default block size */
#define HX_DEFAULT_BLOCKS 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier hexmap [FILE | --synthesize] (--kv-dims 2,HK,T,D | --model NAME [--tp N]\n"
            "                     [--layer L] [--block-tokens T]) [--blocks N] [--layout L] [--dtype D]\n"
            "                     [--lines A..B] [--at ADDRESS] [--coord [B,]KV,H,T,D] [-o FILE] [--help]\n"
            "\n"
            "A labeled hex view of a KV block pool: 16 bytes a line with the address, the\n"
            "bytes and what they hold (block, K or V, head, token, dims):\n"
            "  00003F00: 17 80 17 81 ... 17 87  block 0 V h=7 t=24 d=0..7\n"
            "\n"
            "  FILE               pool to read (block_pool.bin); read a chunk at a time with\n"
            "                     pread, so any size works. Its size must be whole blocks\n"
            "                     unless --blocks says how many to read\n"
            "  --synthesize       make the pool instead: every element encodes its own\n"
            "                     coordinates, its bytes in file order being\n"
            "                       fp16, bf16: kv·16+h, t·16+d  (one hex digit each, mod 16;\n"
            "                                   V h=7 t=24 d=3 reads 17 83)\n"
            "                       fp8, int8:  t·16+d           (mod 16; K/V and head do not fit)\n"
            "                       fp32:       kv, h, t, d      (one byte each, mod 256)\n"
            "                       int4, int2: d                (mod 16 / mod 4, in the element's\n"
            "                                   bits); scales fp16 1.0, zeros 0: 00 3C 00 00\n"
            "  --kv-dims 2,HK,T,D one block's shape: K and V, KV heads, tokens per block,\n"
            "                     head dim (always in this order; --layout says the memory\n"
            "                     order). 1 in place of 2: one cache with no K/V split (an\n"
            "                     MLA latent), labeled L\n"
            "  --model NAME       take the shape from a model card (models/NAME.yaml):\n"
            "                     HK = KV heads per GPU (ceil(kv_heads / tp)), D = head_dim;\n"
            "                     an MLA layer is one latent \"head\" of kv_lora_rank +\n"
            "                     qk_rope_head_dim dims with no K/V split, whole on every GPU\n"
            "  --tp N             tensor-parallel GPUs splitting the KV heads; default 1\n"
            "  --layer L          the layer whose pool to show (layers may differ, e.g. MLA\n"
            "                     next to GQA); default 0\n"
            "  --block-tokens T   tokens per block with --model; default %d\n"
            "  --kv-precision Y   with --model: KV dtype per layer group, as a scenario's\n"
            "                     kv.precision; the layer's dtype unless --dtype is given\n"
            "  --kv-sharing Y     with --model: layers reading an earlier layer's KV, as\n"
            "                     kv.sharing; such a layer shows its source layer's pool\n"
            "  --blocks N         blocks in the pool; default: the file's size / block bytes,\n"
            "                     or %d without a file\n"
            "  --layout L         memory order, a name or five axes outermost first\n"
            "                     (b,kv,h,t,d: block, K/V, head, token, dim); default %s\n",
            HX_DEFAULT_BLOCK_TOKENS, HX_DEFAULT_BLOCKS, HX_DEFAULT_LAYOUT);
    for (int i = 0; hexmap_layout_names[i]; i++)
        fprintf(out, "                       %-10s %s\n", hexmap_layout_names[i], hexmap_layout_notes[i]);
    fprintf(out,
            "  --dtype D          element type: fp16, bf16, fp8, int8, fp32, or packed int4,\n"
            "                     int2 (2 or 4 a byte, the first in the low bits; a block's\n"
            "                     data then an fp16 scale and zero per 32 elements); default %s\n"
            "  --lines A..B       print lines A to B inclusive (line L starts at address 16·L;\n"
            "                     decimal or 0x hex; A.. runs to the end); default: all\n"
            "  --at ADDRESS[:BIT] the element holding byte ADDRESS (hex, 0x optional); int4,\n"
            "                     int2: every element of the byte, or the one whose lowest bit\n"
            "                     is BIT, or the scale entry the byte is part of\n"
            "  --coord [B,]KV,H,T,D  the address of an element (KV: 0/1 or K/V; block 0\n"
            "                     unless given first)\n"
            "  -o, --output FILE  with --synthesize: write the pool to FILE instead\n"
            "  --help             print this text\n"
            "\n"
            "A label names every piece of its line: when D x bytes is not a multiple of 16,\n"
            "or a line crosses a token, head, K/V or block boundary, the first piece is\n"
            "named in full and each later one by the coordinates that changed plus its\n"
            "range: \"block 0 K h=0 t=3 d=0..3, t=4 d=0..3\", \"... t=31 d=12..15, V h=0 t=0\n"
            "d=0..3\". Address of element (b, kv, h, t, d) in the default layout:\n"
            "b·2·HK·T·D·e + (((kv·HK + h)·T + t)·D + d)·e for e bytes per element.\n"
            "Packed, element number n = ((kv·HK + h)·T + t)·D + d of block b sits in byte\n"
            "b·B + n·bits/8 (B: block bytes, scales included) at bits (n mod 8/bits)·bits;\n"
            "its scale entry at b·B + 2·HK·T·D·bits/8 + 4·(n/32).\n"
            "Exit status: 0, or 2 on bad input (message on stderr).\n",
            dtype_name(HX_DEFAULT_DTYPE));
}

/* Prints "kvtier hexmap: " and the message to stderr. */
static void hx_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hx_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kvtier hexmap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* How parse_u64 reads digits without a 0x prefix. */
typedef enum hx_radix { HX_DECIMAL = 10, HX_HEX = 16 } hx_radix;

/* Parses a whole non-negative number in radix; a 0x prefix always means
 * hex. Returns 0, or -1. */
static int parse_u64(const char *s, hx_radix radix, uint64_t *out)
{
    int base = (int)radix;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        base = 16;
    }
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (*end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

/* A whole number in [lo, hi] for option name. Returns 0, or -1 (message printed). */
static int parse_int_option(const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    uint64_t v;
    if (parse_u64(s, HX_DECIMAL, &v) != 0 || v < (uint64_t)lo || v > (uint64_t)hi) {
        hx_fail("%s '%s': need a whole number from %" PRId64 " to %" PRId64, name, s, lo, hi);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* kvtier hexmap's options; the values past the characters name the long-only ones. */
enum {
    HX_OPT_OUTPUT = 'o', HX_OPT_KV_DIMS = 256, HX_OPT_MODEL, HX_OPT_LAYOUT, HX_OPT_LINES, HX_OPT_AT, HX_OPT_COORD,
    HX_OPT_TP, HX_OPT_LAYER, HX_OPT_BLOCK_TOKENS, HX_OPT_BLOCKS, HX_OPT_DTYPE, HX_OPT_SYNTHESIZE, HX_OPT_HELP,
    HX_OPT_KV_PRECISION, HX_OPT_KV_SHARING,
};

static const struct option hx_options[] = {
    { "kv-dims", required_argument, NULL, HX_OPT_KV_DIMS },
    { "model", required_argument, NULL, HX_OPT_MODEL },
    { "layout", required_argument, NULL, HX_OPT_LAYOUT },
    { "lines", required_argument, NULL, HX_OPT_LINES },
    { "at", required_argument, NULL, HX_OPT_AT },
    { "coord", required_argument, NULL, HX_OPT_COORD },
    { "output", required_argument, NULL, HX_OPT_OUTPUT },
    { "tp", required_argument, NULL, HX_OPT_TP },
    { "layer", required_argument, NULL, HX_OPT_LAYER },
    { "block-tokens", required_argument, NULL, HX_OPT_BLOCK_TOKENS },
    { "blocks", required_argument, NULL, HX_OPT_BLOCKS },
    { "dtype", required_argument, NULL, HX_OPT_DTYPE },
    { "synthesize", no_argument, NULL, HX_OPT_SYNTHESIZE },
    { "help", no_argument, NULL, HX_OPT_HELP },
    { "kv-precision", required_argument, NULL, HX_OPT_KV_PRECISION },
    { "kv-sharing", required_argument, NULL, HX_OPT_KV_SHARING },
    { NULL, 0, NULL, 0 },
};

/* Applies the option c whose value v is kept as a string until the shape
 * is known. Returns 0, or 1 when c is not one of them. */
static int apply_string_option(int c, const char *v, hx_args *a)
{
    switch (c) {
    case HX_OPT_KV_DIMS: a->kv_dims = v; return 0;
    case HX_OPT_MODEL: a->model = v; return 0;
    case HX_OPT_LAYOUT: a->layout = v; return 0;
    case HX_OPT_LINES: a->lines = v; return 0;
    case HX_OPT_AT: a->at = v; return 0;
    case HX_OPT_COORD: a->coord = v; return 0;
    case HX_OPT_OUTPUT: a->output = v; return 0;
    case HX_OPT_SYNTHESIZE: a->synthesize = 1; return 0;
    case HX_OPT_KV_PRECISION: a->kv_precision = v; return 0;
    case HX_OPT_KV_SHARING: a->kv_sharing = v; return 0;
    case HX_OPT_HELP: return 0;     /* hexmap_main answers --help before parsing */
    default: return 1;
    }
}

/* Applies the option c with a number or dtype value v. Returns 0, or -1 on
 * an error (message printed). */
static int apply_number_option(int c, const char *v, hx_args *a)
{
    int64_t n;
    switch (c) {
    case HX_OPT_TP:
        if (parse_int_option("--tp", v, 1, INT_MAX, &n) != 0)
            return -1;
        a->tp = (int)n;
        return 0;
    case HX_OPT_LAYER:
        if (parse_int_option("--layer", v, 0, INT_MAX, &n) != 0)
            return -1;
        a->layer = (int)n;
        return 0;
    case HX_OPT_BLOCK_TOKENS: return parse_int_option("--block-tokens", v, 1, INT32_MAX, &a->block_tokens);
    case HX_OPT_BLOCKS: return parse_int_option("--blocks", v, 1, INT64_MAX, &a->blocks);
    case HX_OPT_DTYPE:
        if (dtype_parse(v, &a->dtype) != 0 || !dtype_shown(a->dtype)) {
            hx_fail("--dtype '%s': unknown dtype (one of: fp16, bf16, fp8, int8, fp32, int4, int2)", v);
            return -1;
        }
        a->dtype_set = 1;
        return 0;
    default: return 0;
    }
}

/* Takes the operand v as the pool FILE. Returns 0, or -1 (message printed). */
static int take_file(const char *v, hx_args *a)
{
    if (a->file) {
        hx_fail("one FILE only, got '%s' and '%s'", a->file, v);
        return -1;
    }
    a->file = v;
    return 0;
}

/* Fills a from argv[1..argc). Returns 0, or -1 with a message on stderr. */
static int parse_args(int argc, char **argv, hx_args *a)
{
    *a = (hx_args){ .tp = 1, .dtype = HX_DEFAULT_DTYPE, .layout = HX_DEFAULT_LAYOUT };
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = cli_option_next(argc, argv, "-:o:", hx_options, "hexmap")) != -1) {
        if (c == '?')
            rc = -1;
        else if (c == 1)
            rc = take_file(optarg, a);
        else if ((rc = apply_string_option(c, optarg, a)) > 0)
            rc = apply_number_option(c, optarg, a);
    }
    return rc < 0 ? -1 : 0;
}

/* Checks that the options asked for go together. Returns 0, or -1 (message printed). */
static int check_combination(const hx_args *a)
{
    if (a->file && a->synthesize) {
        hx_fail("give FILE or --synthesize, not both");
        return -1;
    }
    if (!a->kv_dims == !a->model) {
        hx_fail(a->model ? "give --kv-dims or --model, not both" : "missing the pool's shape: give --kv-dims "
                "2,HK,T,D or --model NAME");
        return -1;
    }
    if (a->kv_dims && (a->block_tokens || a->tp != 1 || a->layer || a->kv_precision || a->kv_sharing)) {
        hx_fail("--block-tokens, --tp, --layer, --kv-precision and --kv-sharing go with --model; with --kv-dims "
                "the shape is given whole");
        return -1;
    }
    if (a->output && !a->synthesize) {
        hx_fail("-o writes a synthesized pool: add --synthesize");
        return -1;
    }
    if (a->lines && !a->file && !a->synthesize) {
        hx_fail("--lines needs bytes to show: give FILE or --synthesize");
        return -1;
    }
    return 0;
}


/* Parses "2,8,32,16". Returns 0, or -1 (message printed). */
static int parse_kv_dims(const char *s, int64_t dims[4])
{
    char *copy = strdup(s), *save = NULL;
    int n = 0, bad = !copy;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !bad; tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (n == 4 || parse_u64(tok, HX_DECIMAL, &v) != 0 || v > INT32_MAX)
            bad = 1;
        else
            dims[n++] = (int64_t)v;
    }
    free(copy);
    if (bad || n != 4) {
        hx_fail("--kv-dims '%s': want four whole numbers 2,HK,T,D (K and V, KV heads, tokens per "
                "block, head dim), e.g. 2,8,32,16", s);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The pool's shape from a model card                                        */

/* What the header says about where the shape came from. */
typedef struct hx_origin {
    char text[512];
} hx_origin;

/* The dtype of layer a->layer's pool (its own KV dtype unless --dtype is
 * given) and, when it reads an earlier layer's KV, a note that the pool is
 * that layer's. Returns 0, or -1 (message printed) for a dtype the hex view
 * cannot show (fp4). */
static int layer_plan_note(const hx_args *a, const model_card *m, kt_dtype *dtype, hx_origin *o)
{
    size_t len = strlen(o->text);
    int src = a->layer - m->layers[a->layer].kv_back;
    if (src != a->layer)
        snprintf(o->text + len, sizeof o->text - len, "; layer %d reads layer %d's KV: this is layer %d's pool",
                 a->layer, src, src);
    *dtype = a->dtype_set ? a->dtype : model_layer_kv_dtype(m, a->layer, a->dtype);
    if (!dtype_shown(*dtype)) {
        hx_fail("layer %d holds its KV in %s, which the hex view cannot show (fp16, bf16, fp8, int8, fp32, int4, "
                "int2); give --dtype",
                a->layer, dtype_name(*dtype));
        return -1;
    }
    return 0;
}

/* Shape of layer a->layer's pool from the card: {2, ceil(kv_heads/tp),
 * block tokens, head_dim}, or {1, 1, block tokens, kv_lora_rank + rope}
 * for an MLA layer. Returns 0, or -1 (message printed). */
static int dims_from_model(const hx_args *a, const char *const *model_dirs, int64_t dims[4], kt_dtype *dtype,
                           hx_origin *o)
{
    kt_err err;
    memset(&err, 0, sizeof err);
    model_card *m = model_load_named(a->model, model_dirs, &err);
    if (m && (kv_plan_read_text(a->kv_sharing, "--kv-sharing", kv_plan_sharing_read, m, &err) != 0 ||
              kv_plan_read_text(a->kv_precision, "--kv-precision", kv_plan_precision_read, m, &err) != 0)) {
        model_free(m);
        m = NULL;
    }
    if (!m) {
        fputs("kvtier hexmap: ", stderr);
        kt_err_print(&err, stderr);
        return -1;
    }
    int rc = 0;
    int64_t t = a->block_tokens ? a->block_tokens : HX_DEFAULT_BLOCK_TOKENS;
    if (a->layer >= m->n_layers) {
        hx_fail("--layer %d: %s has layers 0..%d", a->layer, m->name, m->n_layers - 1);
        rc = -1;
    } else if (m->layers[a->layer].attn == ATTN_MLA) {
        int latent = m->mla_kv_lora_rank + m->mla_qk_rope_dim;
        int64_t mla[4] = { 1, 1, t, latent };
        memcpy(dims, mla, sizeof mla);
        snprintf(o->text, sizeof o->text,
                 "%s layer %d (mla): one latent \"head\" of kv_lora_rank %d + rope %d = %d dims, no K/V split "
                 "(labeled L), whole on every GPU whatever --tp; %" PRId64 " tokens per block",
                 m->name, a->layer, m->mla_kv_lora_rank, m->mla_qk_rope_dim, latent, t);
    } else {
        int heads_gpu = (m->n_kv_heads + a->tp - 1) / a->tp;
        int64_t gqa[4] = { 2, heads_gpu, t, m->head_dim };
        memcpy(dims, gqa, sizeof gqa);
        snprintf(o->text, sizeof o->text, "%s layer %d (%s): %d KV heads / tp %d = %d per GPU, head_dim %d, %" PRId64 " tokens per block",
                 m->name, a->layer, model_attn_names[m->layers[a->layer].attn], m->n_kv_heads, a->tp, heads_gpu,
                 m->head_dim, t);
    }
    if (rc == 0)
        rc = layer_plan_note(a, m, dtype, o);
    for (int l = 1; rc == 0 && l < m->n_layers; l++)
        if ((m->layers[l].attn == ATTN_MLA) != (m->layers[0].attn == ATTN_MLA)) {
            size_t len = strlen(o->text);
            snprintf(o->text + len, sizeof o->text - len, "; layers differ (MLA and not), --layer picks one");
            break;
        }
    model_free(m);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */

/* Blocks in the pool: --blocks, else the file's size / block bytes (which
 * must be whole), else the default. Returns 0, or -1 (message printed). */
static int pool_blocks(const hx_args *a, const hexmap_pool *one_block, int fd, int64_t *blocks)
{
    *blocks = a->blocks ? a->blocks : HX_DEFAULT_BLOCKS;
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        hx_fail("%s: %s", a->file, strerror(errno));
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size, block = one_block->block_bytes;
    if (a->blocks) {
        uint64_t need;
        if (mul_checked(block, (uint64_t)a->blocks, INT64_MAX, &need) != 0 || size < need) {
            hx_fail("%s: file too short: %" PRIu64 " bytes, %" PRId64 " blocks of %" PRIu64 " B need more",
                    a->file, size, a->blocks, block);
            return -1;
        }
        return 0;
    }
    if (size < block || size % block != 0) {
        hx_fail("%s: %s: %" PRIu64 " bytes is not a whole number of %" PRIu64 "-byte blocks (give --blocks N "
                "to read the first N)", a->file, size < block ? "file too short" : "trailing bytes", size, block);
        return -1;
    }
    *blocks = (int64_t)(size / block);
    return 0;
}

/* The pool the arguments describe. Returns 0, or -1 (message printed). */
static int build_pool(const hx_args *a, const char *const *model_dirs, int fd, hexmap_pool *p, hx_origin *o)
{
    int64_t dims[4];
    kt_dtype dtype = a->dtype;
    o->text[0] = '\0';
    if (a->kv_dims ? parse_kv_dims(a->kv_dims, dims) : dims_from_model(a, model_dirs, dims, &dtype, o))
        return -1;
    kt_err err;
    memset(&err, 0, sizeof err);
    int64_t blocks;
    if (hexmap_pool_init(p, dims, 1, a->layout, dtype, &err) != 0 || pool_blocks(a, p, fd, &blocks) != 0 ||
        hexmap_pool_init(p, dims, blocks, a->layout, dtype, &err) != 0) {
        if (err.msg[0]) {
            fputs("kvtier hexmap: ", stderr);
            kt_err_print(&err, stderr);
        }
        return -1;
    }
    return 0;
}

/* Memory order as brackets: "[blocks][2][Hk][T][D]". */
static void order_text(const hexmap_pool *p, char *buf, size_t n)
{
    static const char *const name[HEXMAP_AXES] = { "blocks", "2", "Hk", "T", "D" };
    strbuf b = { buf, n, 0 };
    if (n)
        buf[0] = '\0';
    for (int i = 0; i < HEXMAP_AXES; i++)
        sb_printf(&b, "[%s]", p->order[i] == HEXMAP_KV && p->size[HEXMAP_KV] == 1 ? "1" : name[p->order[i]]);
}

/* The packed layout in two header lines: which bits hold which element,
 * and where a run's scales sit. */
static void print_packed_header(FILE *out, const hexmap_pool *p, const char *order)
{
    int per = kv_layout_packed_per_byte(p->dtype), bits = p->elem_bits;
    fprintf(out, "# packed: %d elements a byte in memory order, element %di+j in bits %dj..%dj+%d of byte i (the "
            "first in the low bits)\n", per, per, bits, bits, bits - 1);
    fprintf(out, "# each run %s of %" PRId64 " elements: %" PRIu64 " B of data, then %" PRIu64 " B of scales (fp16 "
            "scale, fp16 zero: %d B per %d elements, in element order)\n", strstr(order, "[blocks]") + strlen("[blocks]"),
            p->run_elems, p->run_data_bytes, p->run_bytes - p->run_data_bytes, (int)KV_LAYOUT_SCALE_BYTES,
            p->quant_group);
}

static void print_header(FILE *out, const hexmap_pool *p, const hx_origin *o, const char *source)
{
    char order[64], size[32];
    order_text(p, order, sizeof order);
    snprintf(size, sizeof size, is_packed(p) ? "%d bits" : "%d B", is_packed(p) ? p->elem_bits : p->elem_bytes);
    fprintf(out, "# %s: kv-dims %" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 " %s (%s), layout %s %s\n", source,
            p->size[HEXMAP_KV], p->size[HEXMAP_HEAD], p->size[HEXMAP_TOKEN], p->size[HEXMAP_DIM], dtype_name(p->dtype),
            size, p->layout, order);
    fprintf(out, "# %" PRId64 " block%s x %" PRIu64 " B = %" PRIu64 " B, %" PRIu64 " lines of %d B\n",
            p->size[HEXMAP_BLOCK], p->size[HEXMAP_BLOCK] == 1 ? "" : "s", p->block_bytes, p->total_bytes,
            (p->total_bytes + HEXMAP_LINE_BYTES - 1) / HEXMAP_LINE_BYTES, HEXMAP_LINE_BYTES);
    if (is_packed(p))
        print_packed_header(out, p, order);
    if (o->text[0])
        fprintf(out, "# from %s\n", o->text);
}

/* Parses --lines "A..B", "A.." or "A" against the pool's lines. Returns 0, or -1 (message printed). */
static int parse_lines(const char *s, const hexmap_pool *p, uint64_t *first, uint64_t *last)
{
    uint64_t n_lines = (p->total_bytes + HEXMAP_LINE_BYTES - 1) / HEXMAP_LINE_BYTES;
    char a[64], b[64] = "";
    const char *dots = strstr(s, "..");
    size_t alen = dots ? (size_t)(dots - s) : strlen(s);
    if (alen >= sizeof a || (dots && strlen(dots + 2) >= sizeof b))
        goto bad;
    memcpy(a, s, alen);
    a[alen] = '\0';
    if (dots)
        strcpy(b, dots + 2);
    if (parse_u64(a, HX_DECIMAL, first) != 0)
        goto bad;
    if (!dots)
        *last = *first;
    else if (!b[0])
        *last = n_lines - 1;
    else if (parse_u64(b, HX_DECIMAL, last) != 0)
        goto bad;
    if (*first > *last) {
        hx_fail("--lines '%s': the first line is after the last", s);
        return -1;
    }
    if (*last >= n_lines) {
        hx_fail("--lines '%s': out of range, the pool has lines 0..%" PRIu64 " (0x0..0x%" PRIX64 ")", s,
                n_lines - 1, n_lines - 1);
        return -1;
    }
    return 0;
bad:
    hx_fail("--lines '%s': want A..B (line numbers, decimal or 0x hex; line L starts at address 16*L)", s);
    return -1;
}

/* Parses --coord "[B,]KV,H,T,D" (KV as 0/1 or K/V/L) and checks it. Returns 0, or -1 (message printed). */
static int parse_coord(const char *s, const hexmap_pool *p, hexmap_coord *c)
{
    int64_t v[HEXMAP_AXES];
    int n = 0, bad = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !bad; tok = strtok_r(NULL, ",", &save)) {
        uint64_t u;
        if (n == HEXMAP_AXES)
            bad = 1;
        else if (strcmp(tok, "K") == 0 || strcmp(tok, "k") == 0 || strcmp(tok, "L") == 0 || strcmp(tok, "l") == 0)
            v[n++] = 0;
        else if (strcmp(tok, "V") == 0 || strcmp(tok, "v") == 0)
            v[n++] = 1;
        else if (parse_u64(tok, HX_DECIMAL, &u) == 0 && u <= INT64_MAX)
            v[n++] = (int64_t)u;
        else
            bad = 1;
    }
    free(copy);
    if (bad || !copy || n < HEXMAP_AXES - 1) {
        hx_fail("--coord '%s': want KV,H,T,D or B,KV,H,T,D (KV as 0/1 or K/V), e.g. V,7,24,0", s);
        return -1;
    }
    c->c[HEXMAP_BLOCK] = n == HEXMAP_AXES ? v[0] : 0;
    for (int i = 0; i < HEXMAP_AXES - 1; i++)
        c->c[HEXMAP_KV + i] = v[i + n - (HEXMAP_AXES - 1)];
    kt_err err;
    memset(&err, 0, sizeof err);
    if (hexmap_coord_check(p, c, &err) != 0) {
        hx_fail("--coord '%s': %s", s, err.msg);
        return -1;
    }
    return 0;
}

/* Prints the line holding addr when there are bytes to show. Returns 0, or -1 (message printed). */
static int print_line_of(FILE *out, const hexmap_pool *p, const hexmap_source *src, uint64_t addr)
{
    if (!src)
        return 0;
    kt_err err;
    memset(&err, 0, sizeof err);
    uint64_t line = addr / HEXMAP_LINE_BYTES;
    if (hexmap_dump(out, p, src, line, line, &err) != 0) {
        fputs("kvtier hexmap: ", stderr);
        kt_err_print(&err, stderr);
        return -1;
    }
    return 0;
}

/* What a packed byte holds: "block 0 K h=0 t=0 d=4 bits 0..1, d=5 bits
 * 2..3, ..." or "scales of block 0 K h=0 t=0 d=0..31 (byte 1 of 4: ...)". */
static void packed_place_text(strbuf *b, const hexmap_pool *p, const hexmap_place *pl)
{
    uint64_t elem = elem_of_coord(p, &pl->first);
    hexmap_coord prev, c;
    int first = 1;
    if (pl->scale) {
        sb_printf(b, "scales of ");
        label_elems(b, p, elem, elem + (uint64_t)pl->elems, &first, &prev);
        sb_printf(b, " (byte %d of %d: the fp16 scale in bytes 0-1, the fp16 zero in 2-3)", pl->byte,
                  (int)KV_LAYOUT_SCALE_BYTES);
        return;
    }
    for (int k = 0; k < pl->elems; k++) {
        coord_of_elem(p, elem + (uint64_t)k, &c);
        int bit = hexmap_bit_of(p, &c);
        if (k)
            sb_printf(b, ", ");
        label_piece(b, p, &c, 1, k ? &prev : NULL);
        sb_printf(b, " bits %d..%d", bit, bit + p->elem_bits - 1);
        prev = c;
    }
}

/* --at: "00003F00 -> block 0 V h=7 t=24 d=0 (byte 0 of 2)". */
static int do_at(FILE *out, const char *s, const hexmap_pool *p, const hexmap_source *src)
{
    uint64_t addr;
    hexmap_place pl;
    char label[HEXMAP_LINE_TEXT_MAX], text[64];
    /* ADDRESS:BIT names one element of a packed byte. */
    const char *colon = strchr(s, ':');
    uint64_t bit = 0;
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    if (len >= sizeof text || (colon && (!is_packed(p) || parse_u64(colon + 1, HX_DECIMAL, &bit) != 0 || bit > 7))) {
        hx_fail("--at '%s': want a byte address in hex (0x optional), e.g. 0x3F00, and with int4 or int2 "
                "optionally :BIT, the element's lowest bit (0..7)", s);
        return -1;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    if (parse_u64(text, HX_HEX, &addr) != 0) {
        hx_fail("--at '%s': want a byte address in hex (0x optional), e.g. 0x3F00", s);
        return -1;
    }
    if (hexmap_place_of(p, addr, &pl) != 0) {
        hx_fail("--at '%s': address out of range, the pool's bytes are 0x0..0x%" PRIX64, s, p->total_bytes - 1);
        return -1;
    }
    if (colon) {
        hexmap_coord c;
        if (hexmap_coord_of_bit(p, addr, (int)bit, &c) != 0) {
            hx_fail("--at '%s': no element starts at bit %d of that byte (%s: bits 0, %d, ...; scale bytes hold "
                    "none)", s, (int)bit, dtype_name(p->dtype), p->elem_bits);
            return -1;
        }
        fprintf(out, "%0*" PRIX64 " bits %d..%d -> %s\n", hexmap_addr_width(p), addr, (int)bit,
                (int)bit + p->elem_bits - 1, hexmap_coord_label(p, &c, label, sizeof label));
    } else if (is_packed(p)) {
        strbuf b = { label, sizeof label, 0 };
        label[0] = '\0';
        packed_place_text(&b, p, &pl);
        fprintf(out, "%0*" PRIX64 " -> %s\n", hexmap_addr_width(p), addr, label);
    } else
        fprintf(out, "%0*" PRIX64 " -> %s (byte %d of %d)\n", hexmap_addr_width(p), addr,
                hexmap_coord_label(p, &pl.first, label, sizeof label), pl.byte, p->elem_bytes);
    return print_line_of(out, p, src, addr);
}

/* --coord: "block 0 V h=7 t=24 d=0 -> 00003F00 (line 0x3F0, byte 0 of the line)". */
static int do_coord(FILE *out, const char *s, const hexmap_pool *p, const hexmap_source *src)
{
    hexmap_coord c;
    char label[256];
    if (parse_coord(s, p, &c) != 0)
        return -1;
    uint64_t addr = hexmap_address(p, &c);
    if (is_packed(p)) {
        int bit = hexmap_bit_of(p, &c);
        uint64_t scale = hexmap_scale_address(p, &c);
        fprintf(out, "%s -> %0*" PRIX64 " bits %d..%d (line 0x%" PRIX64 ", byte %" PRIu64 " of the line); scale and "
                "zero at %0*" PRIX64 " (line 0x%" PRIX64 ", byte %" PRIu64 " of the line)\n",
                hexmap_coord_label(p, &c, label, sizeof label), hexmap_addr_width(p), addr, bit, bit + p->elem_bits - 1,
                addr / HEXMAP_LINE_BYTES, addr % HEXMAP_LINE_BYTES, hexmap_addr_width(p), scale,
                scale / HEXMAP_LINE_BYTES, scale % HEXMAP_LINE_BYTES);
        if (print_line_of(out, p, src, addr) != 0)
            return -1;
        return print_line_of(out, p, src, scale);
    }
    fprintf(out, "%s -> %0*" PRIX64 " (line 0x%" PRIX64 ", byte %" PRIu64 " of the line)\n",
            hexmap_coord_label(p, &c, label, sizeof label), hexmap_addr_width(p), addr, addr / HEXMAP_LINE_BYTES,
            addr % HEXMAP_LINE_BYTES);
    return print_line_of(out, p, src, addr);
}

/* Bytes written per fwrite when saving a synthesized pool (1 MiB). */
#define WRITE_CHUNK_BYTES (1u << 20)

/* Writes the synthesized pool to path, through a temporary file renamed
 * into place only when every byte is written. Returns 0, or -1 (message
 * printed). */
static int write_pool(const char *path, const hexmap_pool *p)
{
    kt_err err;
    outfile of;
    if (outfile_open(&of, path, &err) != 0) {
        kt_err_print(&err, stderr);
        return -1;
    }
    uint8_t *buf = malloc(WRITE_CHUNK_BYTES);
    if (!buf) {
        outfile_abort(&of);
        hx_fail("-o %s: out of memory", path);
        return -1;
    }
    int rc = 0;
    for (uint64_t addr = 0; rc == 0 && addr < p->total_bytes; addr += WRITE_CHUNK_BYTES) {
        size_t n = p->total_bytes - addr < WRITE_CHUNK_BYTES ? (size_t)(p->total_bytes - addr) : WRITE_CHUNK_BYTES;
        hexmap_synth_fill(p, addr, buf, n);
        if (fwrite(buf, 1, n, of.f) != n)
            rc = -1;
    }
    free(buf);
    if (rc != 0) {
        hx_fail("-o %s: %s", path, strerror(errno));
        outfile_abort(&of);
        return -1;
    }
    if (outfile_commit(&of, &err) != 0) {
        kt_err_print(&err, stderr);
        return -1;
    }
    return 0;
}

/* Everything after the pool is known: write, convert, dump. Returns the exit code. */
static int run(const hx_args *a, const hexmap_pool *p, const hx_origin *o, int fd)
{
    hexmap_source src_store = { fd };
    const hexmap_source *src = a->file || a->synthesize ? &src_store : NULL;
    uint64_t first = 0, last = (p->total_bytes + HEXMAP_LINE_BYTES - 1) / HEXMAP_LINE_BYTES - 1;
    if (a->lines && parse_lines(a->lines, p, &first, &last) != 0)
        return 2;
    if (a->output) {
        if (write_pool(a->output, p) != 0)
            return 2;
        fprintf(stdout, "wrote %s: %" PRId64 " block%s x %" PRIu64 " B = %" PRIu64 " B\n", a->output,
                p->size[HEXMAP_BLOCK], p->size[HEXMAP_BLOCK] == 1 ? "" : "s", p->block_bytes, p->total_bytes);
    }
    if (a->at && do_at(stdout, a->at, p, src) != 0)
        return 2;
    if (a->coord && do_coord(stdout, a->coord, p, src) != 0)
        return 2;
    int dump = a->lines || (src && !a->at && !a->coord && !a->output);
    if (!dump)
        return 0;
    kt_err err;
    memset(&err, 0, sizeof err);
    print_header(stdout, p, o, a->file ? a->file : "synthesized pool");
    if (hexmap_dump(stdout, p, src, first, last, &err) != 0) {
        fputs("kvtier hexmap: ", stderr);
        kt_err_print(&err, stderr);
        return 2;
    }
    return 0;
}

int hexmap_main(int argc, char **argv, const char *const *model_dirs)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    hx_args a;
    if (parse_args(argc, argv, &a) != 0 || check_combination(&a) != 0)
        return 2;
    if (!a.file && !a.synthesize && !a.at && !a.coord) {
        hx_fail("nothing to do: give FILE or --synthesize to see bytes, or --at / --coord to convert");
        return 2;
    }
    int fd = -1;
    kt_err err;
    if (a.file && (fd = infile_open_fd(a.file, &err)) < 0) {
        kt_err_print(&err, stderr);
        return 2;
    }
    hexmap_pool p;
    hx_origin o;
    int rc = build_pool(&a, model_dirs, fd, &p, &o) == 0 ? run(&a, &p, &o, fd) : 2;
    fflush(stdout);
    if (fd >= 0)
        close(fd);
    return rc;
}
