/* units.h — strict parsing and printing of quantities written with units ("80GiB", "3.35TB/s", "2us"). */
#ifndef KT_UNITS_H
#define KT_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* What a quantity measures, and the base unit its parsed value is in. */
typedef enum {
    UNITS_BYTES,      /* B:  B KB MB GB TB PB (10^3) KiB MiB GiB TiB PiB (2^10) */
    UNITS_BANDWIDTH,  /* B/s: any byte unit + "/s", or bits: b/s Kb/s Mb/s Gb/s Tb/s (Gbit/s, Gbps) */
    UNITS_DURATION,   /* ns: ns us µs ms s min h */
    UNITS_FLOPS,      /* FLOP/s: FLOP/s GFLOP/s TFLOP/s PFLOP/s (also GFLOPS TFLOPS PFLOPS) */
    UNITS_POWER,      /* W: W kW */
    UNITS_RATE,       /* 1/s: "/s" "/min" "/h", optionally "req/s" */
    UNITS_TOKENS,     /* tokens: plain integer, or K (2^10) / M (2^20) suffix as in "128K" */
    UNITS_KIND_COUNT
} units_kind;

/* Parses s as a quantity of the given kind into the base unit.
 * Strict: the whole string must be a finite non-negative decimal number followed
 * by one unit of that kind (spaces allowed between). UNITS_TOKENS also takes a
 * bare integer. Returns 0, or -1 with a reason written into why. */
int units_parse(const char *s, units_kind kind, double *out, char *why, size_t why_len);

/* strtod restricted to decimal spellings: [+-]digits[.digits][e[+-]digits]
 * after optional leading white space, as strtod reads them (same value).
 * Hex floats ("0x1p3"), "inf", "infinity" and "nan" are not numbers here:
 * they leave *end at s and return 0. The one place user text becomes a
 * double outside units_parse, so every reader agrees on what a number is. */
double units_strtod(const char *s, char **end);

/* v rounded to the nearest int64 into *out. Returns 0, or -1 when v is not
 * finite or its rounding lies outside int64. Every conversion of a double
 * read or worked out from input to an int64 time or size goes through here
 * (conf_i64_of adds the file, line, column and key). */
int units_i64_of(double v, int64_t *out);

/* A short example of a valid value ("80GiB"), for error messages. */
const char *units_example(units_kind kind);

/* Writes v (base unit) with a readable prefix, e.g. "42.95 GB", "3.35 TB/s",
 * "1.50 ms". Returns buf. */
char *units_format(double v, units_kind kind, char *buf, size_t n);

#endif
