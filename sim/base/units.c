/* units.c — strict parsing and readable printing of quantities with units (sizes, bandwidths, durations, FLOP/s, power, rates, token counts). */
#include "units.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Spelling rules (strict on purpose, so a typo is an error, not a wrong
 * number):
 * - Units are case-sensitive. "B" is bytes and "b" bits; "M" is mega
 *   (or 2^20 tokens) and "m" milli (only in "ms", "min"); "G", "T", "P"
 *   are upper case. Kilo is "K" in KB, KiB, Kb/s, Kbit/s and Kbps as the
 *   header lists them, but "k" in "kW" (SI watts). A unit that matches only
 *   case-insensitively is rejected with a "did you mean" hint.
 * - The number is digits, optionally "." and more digits, optionally an
 *   exponent ("1e3", "2.5E-1"): no sign, no leading "." or trailing ".",
 *   no hex, no "inf" or "nan". It is converted without the C locale's
 *   decimal point, so "1.5" means 1.5 whatever setlocale() says.
 * - Spaces or tabs may separate number and unit; nothing else may precede
 *   or follow. */

typedef struct unit_def {
    const char *name;
    double mult;  /* base units per one of this unit */
} unit_def;

#define KIB 1024.0
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)
#define TIB (GIB * KIB)
#define PIB (TIB * KIB)

static const unit_def bytes_units[] = {
    { "B", 1 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 }, { "PB", 1e15 },
    { "KiB", KIB }, { "MiB", MIB }, { "GiB", GIB }, { "TiB", TIB }, { "PiB", PIB },
    { NULL, 0 },
};

/* Bit rates are divided by 8: the base unit is bytes per second. */
static const unit_def bandwidth_units[] = {
    { "B/s", 1 }, { "KB/s", 1e3 }, { "MB/s", 1e6 }, { "GB/s", 1e9 }, { "TB/s", 1e12 },
    { "PB/s", 1e15 },
    { "KiB/s", KIB }, { "MiB/s", MIB }, { "GiB/s", GIB }, { "TiB/s", TIB }, { "PiB/s", PIB },
    { "b/s", 1 / 8.0 }, { "Kb/s", 1e3 / 8 }, { "Mb/s", 1e6 / 8 }, { "Gb/s", 1e9 / 8 },
    { "Tb/s", 1e12 / 8 },
    { "bit/s", 1 / 8.0 }, { "Kbit/s", 1e3 / 8 }, { "Mbit/s", 1e6 / 8 }, { "Gbit/s", 1e9 / 8 },
    { "Tbit/s", 1e12 / 8 },
    { "bps", 1 / 8.0 }, { "Kbps", 1e3 / 8 }, { "Mbps", 1e6 / 8 }, { "Gbps", 1e9 / 8 },
    { "Tbps", 1e12 / 8 },
    { NULL, 0 },
};

/* Micro may be written "us", with MICRO SIGN U+00B5 or GREEK SMALL LETTER
 * MU U+03BC (keyboards produce either), both UTF-8. */
static const unit_def duration_units[] = {
    { "ns", 1 }, { "us", 1e3 }, { "\xC2\xB5s", 1e3 }, { "\xCE\xBCs", 1e3 }, { "ms", 1e6 },
    { "s", 1e9 }, { "min", 60e9 }, { "h", 3600e9 },
    { NULL, 0 },
};

static const unit_def flops_units[] = {
    { "FLOP/s", 1 }, { "GFLOP/s", 1e9 }, { "TFLOP/s", 1e12 }, { "PFLOP/s", 1e15 },
    { "FLOPS", 1 }, { "GFLOPS", 1e9 }, { "TFLOPS", 1e12 }, { "PFLOPS", 1e15 },
    { NULL, 0 },
};

static const unit_def power_units[] = {
    { "W", 1 }, { "kW", 1e3 }, { "MW", 1e6 },
    { NULL, 0 },
};

static const unit_def rate_units[] = {
    { "/s", 1 }, { "/min", 1 / 60.0 }, { "/h", 1 / 3600.0 },
    { "req/s", 1 }, { "req/min", 1 / 60.0 }, { "req/h", 1 / 3600.0 },
    { NULL, 0 },
};

/* Token counts use binary K and M because model contexts are quoted that
 * way: a "128K" context is 131072 tokens, "1M" is 1048576. */
static const unit_def tokens_units[] = {
    { "K", 1024 }, { "M", 1048576 },
    { NULL, 0 },
};

typedef struct kind_info {
    const char *what;          /* for messages: "a size in bytes" */
    const unit_def *units;
    const char *example;
} kind_info;

static const kind_info kinds[UNITS_KIND_COUNT] = {
    [UNITS_BYTES] = { "a size in bytes", bytes_units, "80GiB" },
    [UNITS_BANDWIDTH] = { "a bandwidth", bandwidth_units, "3.35TB/s" },
    [UNITS_DURATION] = { "a duration", duration_units, "2us" },
    [UNITS_FLOPS] = { "a FLOP rate", flops_units, "989TFLOP/s" },
    [UNITS_POWER] = { "a power", power_units, "700W" },
    [UNITS_RATE] = { "a rate", rate_units, "2.5/s" },
    [UNITS_TOKENS] = { "a token count", tokens_units, "128K" },
};

/* ---------- parsing ---------- */

static void why_set(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t n, const char *fmt, ...)
{
    if (!why || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Most significant digits kept; more are rejected rather than rounded. */
#define NUM_MAX_DIGITS 64
/* Exponents beyond this are clamped: the result is 0 or overflows anyway. */
#define NUM_MAX_EXP 100000L

/* A scanned number: its value and whether it was a plain digit string. */
typedef struct num {
    double value;
    int is_integer;  /* no "." and no exponent */
} num;

/* Reads an exponent "e[+-]digits" at *pp if there is one; returns 0 if
 * none (leaving *pp), 1 with *exp set if one was read. */
static int scan_exponent(const char **pp, long *exp)
{
    const char *p = *pp;
    if (*p != 'e' && *p != 'E')
        return 0;
    p++;
    int neg = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    if (!is_digit(*p))
        return 0;  /* "e" starts the unit, not an exponent */
    long e = 0;
    for (; is_digit(*p); p++)
        if (e < NUM_MAX_EXP)
            e = e * 10 + (*p - '0');
    *exp = neg ? -e : e;
    *pp = p;
    return 1;
}

/* Scans the number at the start of s. Builds "DIGITSeEXP" (no decimal
 * point, so strtod's locale does not matter) and converts it. Returns the
 * end of the number, or NULL with why set. */
static const char *scan_number(const char *s, num *out, char *why, size_t why_len)
{
    char buf[NUM_MAX_DIGITS + 32];
    size_t nd = 0;
    long frac = 0, exp = 0;
    const char *p = s;
    for (; is_digit(*p); p++) {
        if (nd == 0 && *p == '0')
            continue;  /* leading zeros carry no value */
        if (nd >= NUM_MAX_DIGITS) {
            why_set(why, why_len, "number has too many digits");
            return NULL;
        }
        buf[nd++] = *p;
    }
    out->is_integer = 1;
    if (*p == '.') {
        if (!is_digit(p[1])) {
            why_set(why, why_len, "malformed number (a '.' must be followed by digits)");
            return NULL;
        }
        out->is_integer = 0;
        for (p++; is_digit(*p); p++) {
            if (nd == 0 && *p == '0') {
                frac++;
                continue;
            }
            if (nd >= NUM_MAX_DIGITS) {
                why_set(why, why_len, "number has too many digits");
                return NULL;
            }
            buf[nd++] = *p;
            frac++;
        }
    }
    if (scan_exponent(&p, &exp))
        out->is_integer = 0;
    if (nd == 0) {
        out->value = 0;
        return p;
    }
    snprintf(buf + nd, sizeof buf - nd, "e%ld", exp - frac);
    out->value = strtod(buf, NULL);
    return p;
}

/* Length of the decimal number at the start of s (after white space, as
 * strtod skips it), 0 when none. */
static size_t decimal_span(const char *s)
{
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    const char *digits = p;
    while (is_digit(*p))
        p++;
    size_t n_int = (size_t)(p - digits), n_frac = 0;
    if (*p == '.') {
        const char *f = ++p;
        while (is_digit(*p))
            p++;
        n_frac = (size_t)(p - f);
    }
    if (n_int + n_frac == 0)
        return 0;
    long exp;
    scan_exponent(&p, &exp);
    return (size_t)(p - s);
}

double units_strtod(const char *s, char **end)
{
    char *e;
    double v = strtod(s, &e);
    size_t span = decimal_span(s);
    if (span == 0 || e != s + span) {
        *end = (char *)s;
        return 0;
    }
    *end = e;
    return v;
}

/* Explains why s does not start with a number. */
static void why_no_number(const char *s, char *why, size_t why_len)
{
    if (*s == '\0')
        why_set(why, why_len, "empty value");
    else if (*s == '-')
        why_set(why, why_len, "must not be negative");
    else if (*s == '+')
        why_set(why, why_len, "write the number without a '+' sign");
    else if (is_space(*s))
        why_set(why, why_len, "leading space");
    else if (*s == '.')
        why_set(why, why_len, "malformed number (write a digit before the '.')");
    else
        why_set(why, why_len, "must start with a number");
}

static const unit_def *find_unit(const unit_def *u, const char *name)
{
    for (; u->name; u++)
        if (strcmp(u->name, name) == 0)
            return u;
    return NULL;
}

/* Explains an unknown unit: a case slip, a unit of another kind, or junk. */
static void why_bad_unit(const char *unit, units_kind kind, char *why, size_t why_len)
{
    const char *alt[4];
    int n_alt = 0;
    for (const unit_def *u = kinds[kind].units; u->name && n_alt < 4; u++)
        if (strcasecmp(u->name, unit) == 0)
            alt[n_alt++] = u->name;
    size_t len = strlen(unit);
    char per_s[64];
    snprintf(per_s, sizeof per_s, "%s/s", unit);
    const char *bits = strchr(unit, 'b') && (kind == UNITS_BYTES || kind == UNITS_BANDWIDTH)
                           ? "; b is bits, B is bytes" : "";
    if (is_digit(*unit) || *unit == '.') {
        why_set(why, why_len, "malformed number");
    } else if (is_space(unit[len - 1])) {
        why_set(why, why_len, "trailing space after the unit");
    } else if (n_alt == 1) {
        why_set(why, why_len, "unknown unit '%s' (units are case-sensitive%s: did you mean '%s'?)",
                unit, bits, alt[0]);
    } else if (len < 32 && find_unit(kinds[kind].units, per_s)) {
        why_set(why, why_len, "unknown unit '%s' (did you mean '%s'?)", unit, per_s);
    } else if (n_alt >= 2) {
        why_set(why, why_len,
                "unknown unit '%s' (units are case-sensitive: did you mean '%s' or '%s'?)", unit,
                alt[0], alt[1]);
    } else {
        for (int k = 0; k < UNITS_KIND_COUNT; k++)
            if (k != (int)kind && find_unit(kinds[k].units, unit)) {
                why_set(why, why_len, "'%s' is a unit of %s, expected %s", unit, kinds[k].what,
                        kinds[kind].what);
                return;
            }
        why_set(why, why_len, "unknown unit '%s' for %s", unit, kinds[kind].what);
    }
}

/* The unit-less case: only a token count may be a bare whole number. */
static int parse_bare(const num *n, units_kind kind, double *out, char *why, size_t why_len)
{
    if (kind != UNITS_TOKENS) {
        why_set(why, why_len, "missing unit");
        return -1;
    }
    if (!n->is_integer) {
        why_set(why, why_len, "a token count without K or M must be a whole number in digits");
        return -1;
    }
    *out = n->value;
    return 0;
}

int units_parse(const char *s, units_kind kind, double *out, char *why, size_t why_len)
{
    if (!s || (int)kind < 0 || kind >= UNITS_KIND_COUNT) {
        why_set(why, why_len, "no value");
        return -1;
    }
    if (!is_digit(*s)) {
        why_no_number(s, why, why_len);
        return -1;
    }
    num n;
    const char *p = scan_number(s, &n, why, why_len);
    if (!p)
        return -1;
    if (!isfinite(n.value)) {
        why_set(why, why_len, "number is too large");
        return -1;
    }
    while (is_space(*p))
        p++;
    if (*p == '\0')
        return parse_bare(&n, kind, out, why, why_len);
    const unit_def *u = find_unit(kinds[kind].units, p);
    if (!u) {
        why_bad_unit(p, kind, why, why_len);
        return -1;
    }
    double v = n.value * u->mult;
    if (!isfinite(v)) {
        why_set(why, why_len, "value is too large");
        return -1;
    }
    if (kind == UNITS_TOKENS && v != floor(v)) {
        why_set(why, why_len, "%g is not a whole number of tokens", v);
        return -1;
    }
    *out = v;
    return 0;
}

/* 2^63, the first double past INT64_MAX (INT64_MAX itself rounds up to it). */
#define UNITS_I64_BOUND 9223372036854775808.0

int units_i64_of(double v, int64_t *out)
{
    double r = round(v);
    if (!(r > -UNITS_I64_BOUND && r < UNITS_I64_BOUND))
        return -1;
    *out = (int64_t)r;
    return 0;
}

const char *units_example(units_kind kind)
{
    if ((int)kind < 0 || kind >= UNITS_KIND_COUNT)
        return "";
    return kinds[kind].example;
}

/* ---------- formatting ---------- */

/* One rung of a display ladder: values with |v| >= from are shown in
 * this unit (scale base units each). */
typedef struct rung {
    double from, scale;
    const char *name;
} rung;

#define RUNGS_MAX 7

typedef struct ladder {
    rung r[RUNGS_MAX];
    int n;
} ladder;

static const ladder ladders[UNITS_KIND_COUNT] = {
    [UNITS_BYTES] = { { { 0, 1, "B" }, { 1e3, 1e3, "KB" }, { 1e6, 1e6, "MB" },
                        { 1e9, 1e9, "GB" }, { 1e12, 1e12, "TB" }, { 1e15, 1e15, "PB" } }, 6 },
    [UNITS_BANDWIDTH] = { { { 0, 1, "B/s" }, { 1e3, 1e3, "KB/s" }, { 1e6, 1e6, "MB/s" },
                            { 1e9, 1e9, "GB/s" }, { 1e12, 1e12, "TB/s" },
                            { 1e15, 1e15, "PB/s" } }, 6 },
    /* Seconds up to 999 s, then minutes up to 100 min, then hours. */
    [UNITS_DURATION] = { { { 0, 1, "ns" }, { 1e3, 1e3, "us" }, { 1e6, 1e6, "ms" },
                           { 1e9, 1e9, "s" }, { 1e12, 60e9, "min" },
                           { 6000e9, 3600e9, "h" } }, 6 },
    [UNITS_FLOPS] = { { { 0, 1, "FLOP/s" }, { 1e9, 1e9, "GFLOP/s" }, { 1e12, 1e12, "TFLOP/s" },
                        { 1e15, 1e15, "PFLOP/s" } }, 4 },
    [UNITS_POWER] = { { { 0, 1, "W" }, { 1e3, 1e3, "kW" }, { 1e6, 1e6, "MW" } }, 3 },
    [UNITS_RATE] = { { { 0, 1, "/s" } }, 1 },
    [UNITS_TOKENS] = { { { 0, 1, "" } }, 1 },
};

/* Formats magnitude m (>= 0) of one rung: two decimals below 100, none
 * up to a million, else three significant digits; below 1 (only on the
 * smallest rung) three significant digits. */
static void format_mantissa(double m, char *buf, size_t n)
{
    if (m < 1)
        snprintf(buf, n, "%#.3g", m);
    else if (m < 99.995)
        snprintf(buf, n, "%.2f", m);
    else if (m < 1e6)
        snprintf(buf, n, "%.0f", m);
    else
        snprintf(buf, n, "%.3g", m);
}

/* The rung for magnitude a, moved up one when rounding for display would
 * reach the next rung ("999.996 GB" prints as "1.00 TB"). */
static int pick_rung(const ladder *l, double a)
{
    int i = 0;
    while (i + 1 < l->n && a >= l->r[i + 1].from)
        i++;
    if (i + 1 < l->n) {
        double m = a / l->r[i].scale;
        double shown = m < 99.995 ? round(m * 100) / 100 : round(m);
        if (shown * l->r[i].scale >= l->r[i + 1].from)
            i++;
    }
    return i;
}

char *units_format(double v, units_kind kind, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    if ((int)kind < 0 || kind >= UNITS_KIND_COUNT) {
        snprintf(buf, n, "%g", v);
        return buf;
    }
    const ladder *l = &ladders[kind];
    const char *sep = kind == UNITS_TOKENS ? "" : " ";
    if (kind == UNITS_TOKENS && isfinite(v)) {
        snprintf(buf, n, "%.0f", v);
        return buf;
    }
    if (v == 0 || !isfinite(v)) {
        snprintf(buf, n, "%s%s%s", v == 0 ? "0" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf",
                 sep, l->r[0].name);
        return buf;
    }
    double a = fabs(v);
    int i = pick_rung(l, a);
    char m[48];
    format_mantissa(a / l->r[i].scale, m, sizeof m);
    snprintf(buf, n, "%s%s%s%s", v < 0 ? "-" : "", m, sep, l->r[i].name);
    return buf;
}
