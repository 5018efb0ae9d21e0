/* trace.c — readers for request traces: Mooncake JSONL, Azure CSV, Vidur CSV, BurstGPT CSV and kvtier JSONL streamed in one pass (memory bounded by the longest line and the largest group of equal timestamps); ShareGPT conversation JSON read whole, its times drawn. */

/*
 * The kvtier native trace format (also in docs/trace-format.md)
 * ====================================================================
 * JSON Lines: one JSON object per line, UTF-8, LF or CRLF line endings,
 * blank lines ignored, final newline optional, no header.
 *
 *   {"arrival": 12.25, "session_id": 7, "turn": 2, "input_tokens": 310,
 *    "output_tokens": 120, "hash_ids": [0, 41, 42], "hash_block_tokens": 512}
 *
 *   arrival            number, required: arrival time in seconds (decimal),
 *                      >= 0 and non-decreasing from line to line. Replay is
 *                      relative to the first record, so a file that starts
 *                      at 100.0 replays from 0. Read as a double and rounded
 *                      to the nearest ns (exact for 9 decimals up to ~40 days).
 *   input_tokens       integer >= 1, required: the request's new input
 *                      tokens. Without session_id this is the whole prompt;
 *                      with it, the tokens this turn adds to the session.
 *   output_tokens      integer >= 1, required: tokens to generate.
 *   session_id         integer >= 0, optional (-1 when absent).
 *   turn               integer >= 0, optional, only with session_id (-1 when
 *                      absent): 0-based turn within the session.
 *   hash_ids           array of integers >= 0, optional: prefix hashes as in
 *                      Mooncake — id i names the prompt's first
 *                      (i+1) * hash_block_tokens tokens (the last block may
 *                      be partial). Without session_id there are exactly
 *                      ceil(input_tokens / hash_block_tokens); with it the
 *                      ids cover the whole prompt (earlier turns + this
 *                      turn's tokens), so there are at least that many.
 *   hash_block_tokens  integer >= 1, optional (default 512): tokens per id.
 *   acceptance         number from 0 to 1, optional (-1 when absent): the
 *                      request's speculative-decoding acceptance rate, used
 *                      with speculative.acceptance.trace.
 * Any other key is an error (it catches misspelt optional fields).
 * trace_record.hash_block_tokens is 0 when a record has no hash_ids key.
 *
 * Reader behaviour common to all formats
 * --------------------------------------
 * - Trace time is relative to the first valid record; arrival_ns =
 *   (trace time - start_ns [+ SPREAD offset]) / rate_scale, rounded to ns.
 *   A zero rate_scale (a zero-initialised trace_opts) means 1.
 * - Window: records before start_ns are read (and checked) but skipped; the
 *   first record at or after start_ns + duration_ns ends the trace.
 * - SPREAD: record k of the n records sharing trace time t arrives at
 *   t + k * tick / n. tick is the gap to the next distinct timestamp (read
 *   even when it lies past the window), capped by opts.tick_ns when that is
 *   set so arrivals stay in order; for the last group, whose next timestamp
 *   is unknown, it is opts.tick_ns or else the previous group's gap (0 for a
 *   trace with one timestamp: a burst).
 * - A malformed line makes trace_next return -1; the next call goes on after
 *   it (skip_bad does that silently). Such lines are counted either way.
 *   Arrivals never go backwards, even when an error splits a SPREAD group.
 */
#include "trace.h"

#include <errno.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "grow.h"
#include "htab.h"
#include "infile.h"

#define MOONCAKE_BLOCK_TOKENS 512        /* Mooncake's documented hash block size */
#define KVTIER_DEFAULT_BLOCK_TOKENS 512  /* default of the native format's hash_block_tokens */
#define READ_CHUNK_BYTES (64 * 1024)     /* one fread */
#define LINE_INIT_BYTES 4096             /* first line buffer; doubles as needed */
#define HASH_INIT_IDS 256                /* first hash id buffer; doubles as needed */
#define GROUP_INIT_RECORDS 32            /* first SPREAD group buffer; doubles */
#define BAD_LINES_KEPT 16                /* line numbers of malformed lines remembered */
#define TIME_TEXT_BYTES 48               /* a timestamp as written, for messages */
#define HEADER_SHOWN_CHARS 200           /* of a wrong header, in its message */
#define CSV_COLUMNS 3                    /* columns the CSV formats need */
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define NS_DIGITS 9                      /* decimal places of a second in ns */
#define S_PER_DAY INT64_C(86400)
#define DECIMAL_EXP_MAX 30               /* larger exponents cannot give an int64 ns */

const char *const trace_format_names[TRACE_FORMAT_COUNT + 1] = {
    "mooncake", "azure", "vidur", "kvtier", "burstgpt", "sharegpt", NULL
};

/* Name of each format's timestamp field, for messages. */
static const char *const time_field[TRACE_FORMAT_COUNT] = {
    "timestamp", "TIMESTAMP", "arrived_at", "arrival", "Timestamp", "arrival"
};

/* The columns a CSV format needs: time, input tokens, output tokens. */
static const char *const csv_names[TRACE_FORMAT_COUNT][CSV_COLUMNS] = {
    [TRACE_AZURE] = { "TIMESTAMP", "ContextTokens", "GeneratedTokens" },
    [TRACE_VIDUR] = { "arrived_at", "num_prefill_tokens", "num_decode_tokens" },
    /* BurstGPT (HPMLL/BurstGPT README, "Schema"): seconds from the first
     * day's midnight; Model, Total tokens and Log Type are not needed. */
    [TRACE_BURSTGPT] = { "Timestamp", "Request tokens", "Response tokens" },
};

static const char *const kvtier_keys[] = {
    "arrival", "input_tokens", "output_tokens", "session_id", "turn", "hash_ids",
    "hash_block_tokens", "acceptance", NULL
};

/* One parsed request before windowing and release. */
typedef struct raw_rec {
    int64_t time_ns;        /* in the file's own origin */
    int64_t rel_ns;         /* time_ns minus the first valid record's */
    int64_t input_tokens, output_tokens, session_id;
    int turn;
    int64_t hash_block_tokens;
    double acceptance;      /* kvtier format's optional field, -1 absent */
    uint32_t n_hash_ids;
    size_t hash_off;        /* queued in a SPREAD group: first id in the pool */
    int64_t line;
} raw_rec;

/* Owns everything it points to. */
struct trace_reader {
    FILE *f;
    char *path;
    trace_format fmt;
    trace_opts opts;                       /* checked; rate_scale defaulted */

    char *chunk;                           /* READ_CHUNK_BYTES read ahead */
    size_t chunk_pos, chunk_end;
    int at_eof;
    char *line;                            /* current line, NUL-terminated, no EOL */
    size_t line_len, line_cap;
    int64_t line_no;

    int csv_col[CSV_COLUMNS];              /* CSV: where the needed columns are */
    int csv_n_cols;

    raw_rec cur;                           /* the last line parsed */
    uint64_t *hash;                        /* cur's hash ids */
    size_t hash_cap;
    char time_text[2][TIME_TEXT_BYTES];    /* cur's and the previous record's */
    int cur_text;

    int have_base;
    int64_t base_ns, prev_ns, prev_line;
    int64_t n_valid, n_returned, last_arrival_ns;
    int window_done, empty_reported;

    int64_t n_bad, bad_lines[BAD_LINES_KEPT];

    raw_rec *group;                        /* SPREAD: the records of one timestamp */
    size_t group_len, group_cap, group_next;
    uint64_t *pool;                        /* their hash ids */
    size_t pool_len, pool_cap;
    int64_t group_tick_ns, last_gap_ns;
    int pending;                           /* cur is the next group's first record */
    int has_stashed;                       /* an error to return after the group */
    kt_err stashed;

    raw_rec *sg;                           /* ShareGPT: every request, in arrival order */
    size_t sg_len, sg_cap, sg_next;
};

enum { PARSE_OK = 0, PARSE_BAD = -1, PARSE_FATAL = -2 };
enum { WIN_END = 0, WIN_IN = 1, WIN_PAST = 2 };

static int line_int(int64_t line) { return line > INT_MAX ? INT_MAX : (int)line; }

/* An error about the current line. */
#define BAD_LINE(t, err, ...) KT_ERROR((err), (t)->path, line_int((t)->line_no), 0, __VA_ARGS__)

/* ---------- buffers ---------- */

/* ---------- lines ---------- */

/* Refills the read-ahead chunk. Returns the bytes read, 0 at end of file,
 * -1 on a read error. */
static long fill_chunk(trace_reader *t, kt_err *err)
{
    if (t->at_eof)
        return 0;
    size_t n = fread(t->chunk, 1, READ_CHUNK_BYTES, t->f);
    if (n == 0) {
        if (ferror(t->f)) {
            KT_ERROR(err, t->path, 0, 0, "read error: %s", strerror(errno));
            return -1;
        }
        t->at_eof = 1;
    }
    t->chunk_pos = 0;
    t->chunk_end = n;
    return (long)n;
}

static int line_append(trace_reader *t, const char *p, size_t n, kt_err *err)
{
    if (t->line_len + n > TRACE_LINE_MAX_BYTES) {
        KT_ERROR(err, t->path, line_int(t->line_no + 1), 0,
                 "line longer than %d bytes, the most one trace line may hold (is this file in the %s format?)",
                 TRACE_LINE_MAX_BYTES, trace_format_names[t->fmt]);
        return -1;
    }
    char *line = grow_array(t->line, &t->line_cap, t->line_len + n + 1, 1);
    if (!line) {
        KT_ERROR(err, t->path, line_int(t->line_no + 1), 0, "out of memory for a line");
        return -1;
    }
    t->line = line;
    memcpy(t->line + t->line_len, p, n);
    t->line_len += n;
    return 0;
}

/* Reads the next line into t->line without its LF or CRLF (a last line
 * needs no LF) and drops a UTF-8 byte order mark before line 1.
 * Returns 1 a line, 0 end of file, -1 error. */
static int read_line(trace_reader *t, kt_err *err)
{
    int got = 0;
    t->line_len = 0;
    for (;;) {
        if (t->chunk_pos == t->chunk_end) {
            long r = fill_chunk(t, err);
            if (r < 0)
                return -1;
            if (r == 0) {
                if (!got)
                    return 0;
                break;
            }
        }
        const char *p = t->chunk + t->chunk_pos;
        size_t avail = t->chunk_end - t->chunk_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t n = nl ? (size_t)(nl - p) : avail;
        if (line_append(t, p, n, err) < 0)
            return -1;
        got = 1;
        t->chunk_pos += n + (nl != NULL);
        if (nl)
            break;
    }
    t->line_no++;
    if (t->line_len && t->line[t->line_len - 1] == '\r')
        t->line_len--;
    t->line[t->line_len] = '\0';
    static const char bom[] = "\xEF\xBB\xBF";
    if (t->line_no == 1 && t->line_len >= 3 && !memcmp(t->line, bom, 3)) {
        memmove(t->line, t->line + 3, t->line_len - 2);
        t->line_len -= 3;
    }
    return 1;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* ---------- numbers ---------- */

typedef struct span {
    const char *p;
    size_t n;
} span;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static span trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (span){ p, n };
}

/* A whole number of tokens: digits, optionally followed by ".0…" (pandas
 * writes whole floats that way). Returns 0 or -1. */
static int parse_count(span s, int64_t *out)
{
    size_t i = 0;
    int64_t v = 0;
    for (; i < s.n && is_digit(s.p[i]); i++) {
        int d = s.p[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (i == 0)
        return -1;
    if (i < s.n && s.p[i] == '.')
        for (i++; i < s.n && s.p[i] == '0'; i++)
            ;
    if (i != s.n)
        return -1;
    *out = v;
    return 0;
}

/* Digit i of a mantissa split into integer and fraction digits; 0 past its end. */
static int mantissa_digit(span ip, span fp, int64_t i)
{
    if (i < (int64_t)ip.n)
        return ip.p[i] - '0';
    i -= (int64_t)ip.n;
    return i < (int64_t)fp.n ? fp.p[i] - '0' : 0;
}

/* A non-negative decimal number of seconds ("0.0", "4.314579",
 * "5.8926549999999995", "1e-05") converted exactly into ns, rounded to the
 * nearest ns (halves up), without floating point. Returns 0 or -1. */
static int parse_seconds_ns(span s, int64_t *out)
{
    size_t i = 0;
    span ip = { s.p, 0 }, fp = { s.p, 0 };
    while (i < s.n && is_digit(s.p[i]))
        i++;
    ip.n = i;
    if (i < s.n && s.p[i] == '.') {
        fp.p = s.p + ++i;
        while (i < s.n && is_digit(s.p[i]))
            i++;
        fp.n = (size_t)(s.p + i - fp.p);
    }
    if (ip.n + fp.n == 0)
        return -1;
    int64_t exp = 0;
    if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
        int neg = 0;
        if (++i < s.n && (s.p[i] == '+' || s.p[i] == '-'))
            neg = s.p[i++] == '-';
        size_t e0 = i;
        for (; i < s.n && is_digit(s.p[i]); i++)
            if ((exp = exp * 10 + (s.p[i] - '0')) > DECIMAL_EXP_MAX)
                return -1;
        if (i == e0)
            return -1;
        if (neg)
            exp = -exp;
    }
    if (i != s.n)
        return -1;
    /* ns = the mantissa's digits up to NS_DIGITS places after the point. */
    int64_t keep = (int64_t)ip.n + exp + NS_DIGITS, ns = 0;
    for (int64_t k = 0; k < keep; k++) {
        int d = mantissa_digit(ip, fp, k);
        if (ns > (INT64_MAX - d) / 10)
            return -1;
        ns = ns * 10 + d;
    }
    if (keep >= 0 && mantissa_digit(ip, fp, keep) >= 5) {
        if (ns == INT64_MAX)
            return -1;
        ns++;
    }
    *out = ns;
    return 0;
}

/* Exactly n digits at *p. */
static int fixed_digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (*p == end || !is_digit(**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

static int is_leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return days[m - 1] + (m == 2 && is_leap_year(y));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil: 400-year eras of 146097 days, years
 * starting in March so the leap day comes last). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                              /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;      /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS[.f…]" (up to NS_DIGITS fraction digits; Azure writes
 * 7) into ns since 1970-01-01 00:00:00, exactly. Returns 0, or -1 with *why. */
static int parse_azure_time(span s, int64_t *out, const char **why)
{
    const char *p = s.p, *end = s.p + s.n;
    int y, mo, d, h, mi, sec;
    *why = "not YYYY-MM-DD HH:MM:SS.fffffff";
    if (fixed_digits(&p, end, 4, &y) || p == end || *p++ != '-' ||
        fixed_digits(&p, end, 2, &mo) || p == end || *p++ != '-' ||
        fixed_digits(&p, end, 2, &d) || p == end || *p++ != ' ' ||
        fixed_digits(&p, end, 2, &h) || p == end || *p++ != ':' ||
        fixed_digits(&p, end, 2, &mi) || p == end || *p++ != ':' ||
        fixed_digits(&p, end, 2, &sec))
        return -1;
    int64_t frac_ns = 0;
    if (p < end && *p == '.') {
        int n = 0;
        for (p++; p < end && is_digit(*p) && n < NS_DIGITS; p++, n++)
            frac_ns = frac_ns * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < NS_DIGITS; n++)
            frac_ns *= 10;
    }
    if (p != end)
        return -1;
    *why = "a field is out of range";
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    int64_t s_total = days_from_civil(y, mo, d) * S_PER_DAY + h * 3600 + mi * 60 + sec;
    *why = "year out of the range of 64-bit ns (1678-2261)";
    if (s_total > INT64_MAX / NS_PER_S - 1 || s_total < INT64_MIN / NS_PER_S + 1)
        return -1;
    *out = s_total * NS_PER_S + frac_ns;
    return 0;
}

/* ---------- JSON formats ---------- */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* An integer field >= min. Returns 1 read, 0 absent and optional, or PARSE_BAD. */
static int json_int_field(trace_reader *t, json_t *o, const char *key, conf_need need, int64_t min,
                          int64_t *out, kt_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (need == CONF_OPTIONAL)
            return 0;
        BAD_LINE(t, err, "missing field \"%s\"", key);
        return PARSE_BAD;
    }
    if (!json_is_integer(v)) {
        BAD_LINE(t, err, "field \"%s\" must be an integer, not %s", key, json_kind(v));
        return PARSE_BAD;
    }
    json_int_t x = json_integer_value(v);
    if (x < min) {
        BAD_LINE(t, err, "field \"%s\" must be >= %lld, got %lld", key, (long long)min, (long long)x);
        return PARSE_BAD;
    }
    *out = (int64_t)x;
    return 1;
}

/* Copies the array of non-negative integers v into t->hash. */
static int json_hash_ids(trace_reader *t, json_t *v, const char *key, kt_err *err)
{
    if (!json_is_array(v)) {
        BAD_LINE(t, err, "field \"%s\" must be an array, not %s", key, json_kind(v));
        return PARSE_BAD;
    }
    size_t n = json_array_size(v);
    if (n > UINT32_MAX) {
        BAD_LINE(t, err, "field \"%s\" has more than %u ids", key, (unsigned)UINT32_MAX);
        return PARSE_BAD;
    }
    uint64_t *hash = grow_array(t->hash, &t->hash_cap, n, sizeof *hash);
    if (!hash) {
        BAD_LINE(t, err, "out of memory for %zu hash ids", n);
        return PARSE_FATAL;
    }
    t->hash = hash;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0) {
            BAD_LINE(t, err, "%s[%zu] must be a non-negative integer, not %s", key, i,
                     json_is_integer(e) ? "a negative one" : json_kind(e));
            return PARSE_BAD;
        }
        t->hash[i] = (uint64_t)json_integer_value(e);
    }
    t->cur.n_hash_ids = (uint32_t)n;
    return PARSE_OK;
}

static int64_t blocks_for(int64_t tokens, int64_t block_tokens)
{
    return tokens / block_tokens + (tokens % block_tokens != 0);
}

static char *cur_time_text(trace_reader *t) { return t->time_text[t->cur_text]; }

/* The fields a valid Mooncake line sets besides its lengths and ids, from
 * its timestamp ms (0 <= ms <= INT64_MAX / NS_PER_MS). */
static void mooncake_accept(trace_reader *t, int64_t ms)
{
    raw_rec *r = &t->cur;
    r->time_ns = ms * NS_PER_MS;
    r->session_id = -1;
    r->turn = -1;
    r->hash_block_tokens = MOONCAKE_BLOCK_TOKENS;
    snprintf(cur_time_text(t), TIME_TEXT_BYTES, "%lld", (long long)ms);
}

/* Mooncake: {"timestamp": ms, "input_length", "output_length", "hash_ids"}. */
static int parse_mooncake(trace_reader *t, json_t *o, kt_err *err)
{
    raw_rec *r = &t->cur;
    int64_t ms;
    int rc;
    if ((rc = json_int_field(t, o, "timestamp", CONF_REQUIRED, 0, &ms, err)) < 0 ||
        (rc = json_int_field(t, o, "input_length", CONF_REQUIRED, 1, &r->input_tokens, err)) < 0 ||
        (rc = json_int_field(t, o, "output_length", CONF_REQUIRED, 1, &r->output_tokens, err)) < 0)
        return rc;
    if (ms > INT64_MAX / NS_PER_MS) {
        BAD_LINE(t, err, "field \"timestamp\" is too large (%lld ms)", (long long)ms);
        return PARSE_BAD;
    }
    json_t *ids = json_object_get(o, "hash_ids");
    if (!ids) {
        BAD_LINE(t, err, "missing field \"hash_ids\"");
        return PARSE_BAD;
    }
    if ((rc = json_hash_ids(t, ids, "hash_ids", err)) < 0)
        return rc;
    int64_t want = blocks_for(r->input_tokens, MOONCAKE_BLOCK_TOKENS);
    if (r->n_hash_ids != want) {
        BAD_LINE(t, err, "hash_ids has %u ids, but input_length %lld needs ceil(%lld/%d) = %lld",
                 r->n_hash_ids, (long long)r->input_tokens, (long long)r->input_tokens,
                 MOONCAKE_BLOCK_TOKENS, (long long)want);
        return PARSE_BAD;
    }
    mooncake_accept(t, ms);
    return PARSE_OK;
}

/* ---------- Mooncake lines without a JSON tree ---------- */

/*
 * Nearly every Mooncake line is the same flat object of three integers and
 * an array of integers. Building jansson's tree for it (an allocation per
 * value) is most of the cost of reading the trace, which a run reads twice
 * (the scenario's check, then the replay). mooncake_fast reads exactly
 * that shape in one pass: the four keys once each, in any order, plain
 * non-negative integers without leading zeros (at most 18 digits), JSON
 * whitespace. Anything else, or a line that would be refused (a missing
 * field, a length below 1, ids not matching the length), it leaves to the
 * jansson path, which gives the same record for what it accepts here and
 * the one error message for everything else.
 */

enum { FAST_DECLINED = 1 };
#define FAST_MAX_DIGITS 18               /* < 2^63: no overflow check needed */

typedef struct fast_cursor {
    const char *p, *end;
} fast_cursor;

static void fast_space(fast_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes ch after whitespace; 0 when it is not next. */
static int fast_char(fast_cursor *c, char ch)
{
    fast_space(c);
    if (c->p == c->end || *c->p != ch)
        return 0;
    c->p++;
    return 1;
}

/* A non-negative JSON integer; -1 when the next token is anything else. */
static int64_t fast_uint(fast_cursor *c)
{
    fast_space(c);
    const char *q = c->p;
    int64_t x = 0;
    while (c->p < c->end && is_digit(*c->p) && c->p - q < FAST_MAX_DIGITS)
        x = x * 10 + (*c->p++ - '0');
    size_t n = (size_t)(c->p - q);
    if (n == 0 || (n > 1 && *q == '0'))
        return -1;
    if (c->p < c->end && (is_digit(*c->p) || *c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return -1;              /* too long, or a real number: jansson's path says which */
    return x;
}

/* The array of ids into t->hash; FAST_DECLINED or PARSE_FATAL on failure. */
static int fast_ids(trace_reader *t, fast_cursor *c, uint32_t *n_out)
{
    if (!fast_char(c, '['))
        return FAST_DECLINED;
    size_t n = 0;
    if (!fast_char(c, ']')) {
        do {
            int64_t id = fast_uint(c);
            if (id < 0 || n == UINT32_MAX)
                return FAST_DECLINED;
            uint64_t *hash = grow_array(t->hash, &t->hash_cap, n + 1, sizeof *hash);
            if (!hash)
                return FAST_DECLINED;   /* the jansson path reports the shortage */
            t->hash = hash;
            t->hash[n++] = (uint64_t)id;
        } while (fast_char(c, ','));
        if (!fast_char(c, ']'))
            return FAST_DECLINED;
    }
    *n_out = (uint32_t)n;
    return PARSE_OK;
}

/* The line as a valid Mooncake record: PARSE_OK, or FAST_DECLINED (t->cur
 * and t->hash may be half written: the jansson path writes them again). */
static int mooncake_fast(trace_reader *t)
{
    static const char *const keys[] = { "timestamp", "input_length", "output_length", "hash_ids" };
    enum { K_TIME, K_INPUT, K_OUTPUT, K_IDS, K_COUNT };
    fast_cursor c = { t->line, t->line + t->line_len };
    int64_t v[K_COUNT] = { -1, -1, -1, -1 };
    uint32_t n_ids = 0;
    if (!fast_char(&c, '{'))
        return FAST_DECLINED;
    do {
        if (!fast_char(&c, '"'))
            return FAST_DECLINED;
        const char *key = c.p;
        while (c.p < c.end && *c.p != '"' && *c.p != '\\')
            c.p++;
        if (c.p == c.end || *c.p != '"')
            return FAST_DECLINED;
        size_t len = (size_t)(c.p++ - key);
        int k = 0;
        while (k < K_COUNT && !(strlen(keys[k]) == len && memcmp(keys[k], key, len) == 0))
            k++;
        if (k == K_COUNT || v[k] >= 0 || !fast_char(&c, ':'))
            return FAST_DECLINED;   /* another key, a repeated one, or no colon */
        if (k == K_IDS) {
            if (fast_ids(t, &c, &n_ids) != PARSE_OK)
                return FAST_DECLINED;
            v[k] = n_ids;
        } else if ((v[k] = fast_uint(&c)) < 0) {
            return FAST_DECLINED;
        }
    } while (fast_char(&c, ','));
    if (!fast_char(&c, '}'))
        return FAST_DECLINED;
    fast_space(&c);
    if (c.p != c.end || v[K_TIME] < 0 || v[K_INPUT] < 1 || v[K_OUTPUT] < 1 || v[K_IDS] < 0 ||
        v[K_TIME] > INT64_MAX / NS_PER_MS || n_ids != blocks_for(v[K_INPUT], MOONCAKE_BLOCK_TOKENS))
        return FAST_DECLINED;
    t->cur.input_tokens = v[K_INPUT];
    t->cur.output_tokens = v[K_OUTPUT];
    t->cur.n_hash_ids = n_ids;
    mooncake_accept(t, v[K_TIME]);
    return PARSE_OK;
}

/* kvtier's "arrival": a JSON number of seconds >= 0, into ns. */
static int kvtier_arrival(trace_reader *t, json_t *o, kt_err *err)
{
    json_t *v = json_object_get(o, "arrival");
    if (!v) {
        BAD_LINE(t, err, "missing field \"arrival\"");
        return PARSE_BAD;
    }
    if (!json_is_number(v)) {
        BAD_LINE(t, err, "field \"arrival\" must be a number of seconds, not %s", json_kind(v));
        return PARSE_BAD;
    }
    double s = json_number_value(v);
    if (!(s >= 0) || !(s < (double)(INT64_MAX / NS_PER_S))) {
        BAD_LINE(t, err, "field \"arrival\" must be >= 0 and < %lld s, got %.17g",
                 (long long)(INT64_MAX / NS_PER_S), s);
        return PARSE_BAD;
    }
    if (json_is_integer(v)) {
        t->cur.time_ns = (int64_t)json_integer_value(v) * NS_PER_S;
        snprintf(cur_time_text(t), TIME_TEXT_BYTES, "%lld", (long long)json_integer_value(v));
    } else {
        double whole = floor(s);  /* s - whole is exact, so only s's own rounding remains */
        t->cur.time_ns = (int64_t)whole * NS_PER_S + llround((s - whole) * (double)NS_PER_S);
        snprintf(cur_time_text(t), TIME_TEXT_BYTES, "%.15g", s);
    }
    return PARSE_OK;
}

static int kvtier_unknown_key(trace_reader *t, json_t *o, kt_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        const char *const *k = kvtier_keys;
        while (*k && strcmp(*k, key))
            k++;
        if (!*k) {
            BAD_LINE(t, err, "unknown field \"%s\" (known: arrival, input_tokens, output_tokens, "
                     "session_id, turn, hash_ids, hash_block_tokens, acceptance)", key);
            return PARSE_BAD;
        }
    }
    return PARSE_OK;
}

/* kvtier's optional acceptance rate: a number from 0 to 1. */
static int kvtier_acceptance(trace_reader *t, json_t *o, kt_err *err)
{
    json_t *v = json_object_get(o, "acceptance");
    if (!v)
        return PARSE_OK;
    double a = json_is_number(v) ? json_number_value(v) : -1;
    if (!(a >= 0 && a <= 1)) {
        BAD_LINE(t, err, "field \"acceptance\" must be a number from 0 to 1 (a rate), not %s",
                 json_is_number(v) ? "out of range" : json_kind(v));
        return PARSE_BAD;
    }
    t->cur.acceptance = a;
    return PARSE_OK;
}

/* kvtier's optional session_id, turn, hash_ids and acceptance. */
static int kvtier_optional(trace_reader *t, json_t *o, kt_err *err)
{
    raw_rec *r = &t->cur;
    int64_t turn = -1;
    int rc;
    if ((rc = kvtier_acceptance(t, o, err)) < 0)
        return rc;
    r->session_id = -1;
    r->hash_block_tokens = KVTIER_DEFAULT_BLOCK_TOKENS;
    if ((rc = json_int_field(t, o, "session_id", CONF_OPTIONAL, 0, &r->session_id, err)) < 0 ||
        (rc = json_int_field(t, o, "turn", CONF_OPTIONAL, 0, &turn, err)) < 0 ||
        (rc = json_int_field(t, o, "hash_block_tokens", CONF_OPTIONAL, 1, &r->hash_block_tokens, err)) < 0)
        return rc;
    if (turn > INT_MAX || (turn >= 0 && r->session_id < 0)) {
        BAD_LINE(t, err, turn > INT_MAX ? "field \"turn\" is too large"
                                        : "field \"turn\" needs a \"session_id\"");
        return PARSE_BAD;
    }
    r->turn = (int)turn;
    json_t *ids = json_object_get(o, "hash_ids");
    r->n_hash_ids = 0;
    if (!ids) {
        r->hash_block_tokens = 0;
        return PARSE_OK;
    }
    if ((rc = json_hash_ids(t, ids, "hash_ids", err)) < 0)
        return rc;
    int64_t want = blocks_for(r->input_tokens, r->hash_block_tokens);
    if (r->session_id < 0 ? r->n_hash_ids != want : r->n_hash_ids < want) {
        BAD_LINE(t, err, "hash_ids has %u ids, but input_tokens %lld needs %sceil(%lld/%lld) = %lld",
                 r->n_hash_ids, (long long)r->input_tokens, r->session_id < 0 ? "" : "at least ",
                 (long long)r->input_tokens, (long long)r->hash_block_tokens, (long long)want);
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static int parse_kvtier(trace_reader *t, json_t *o, kt_err *err)
{
    raw_rec *r = &t->cur;
    int rc;
    if ((rc = kvtier_unknown_key(t, o, err)) < 0 || (rc = kvtier_arrival(t, o, err)) < 0 ||
        (rc = json_int_field(t, o, "input_tokens", CONF_REQUIRED, 1, &r->input_tokens, err)) < 0 ||
        (rc = json_int_field(t, o, "output_tokens", CONF_REQUIRED, 1, &r->output_tokens, err)) < 0)
        return rc;
    return kvtier_optional(t, o, err);
}

static int parse_json_line(trace_reader *t, kt_err *err)
{
    if (t->fmt == TRACE_MOONCAKE && mooncake_fast(t) == PARSE_OK)
        return PARSE_OK;
    t->cur.n_hash_ids = 0;
    json_error_t je;
    json_t *o = json_loadb(t->line, t->line_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        BAD_LINE(t, err, "bad JSON: %s (column %d)", je.text, je.column);
        return PARSE_BAD;
    }
    int rc;
    if (!json_is_object(o)) {
        BAD_LINE(t, err, "expected a JSON object, got %s", json_kind(o));
        rc = PARSE_BAD;
    } else {
        rc = t->fmt == TRACE_MOONCAKE ? parse_mooncake(t, o, err) : parse_kvtier(t, o, err);
    }
    json_decref(o);
    return rc;
}

/* ---------- CSV formats ---------- */

/* Splits the line at commas and picks the needed columns into out. */
static int csv_pick(trace_reader *t, span out[CSV_COLUMNS], kt_err *err)
{
    const char *p = t->line, *end = t->line + t->line_len;
    int col = 0;
    for (;;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *fe = c ? c : end;
        for (int k = 0; k < CSV_COLUMNS; k++)
            if (col == t->csv_col[k])
                out[k] = trim(p, (size_t)(fe - p));
        col++;
        if (!c)
            break;
        p = c + 1;
    }
    if (col != t->csv_n_cols) {
        BAD_LINE(t, err, "expected %d comma-separated fields as in the header, got %d",
                 t->csv_n_cols, col);
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static int csv_count(trace_reader *t, span s, int k, int64_t *out, kt_err *err)
{
    if (parse_count(s, out) < 0 || *out < 1) {
        BAD_LINE(t, err, "%s must be a whole number >= 1, got \"%.*s\"", csv_names[t->fmt][k],
                 (int)s.n, s.p);
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static int parse_csv_line(trace_reader *t, kt_err *err)
{
    raw_rec *r = &t->cur;
    span f[CSV_COLUMNS];
    if (csv_pick(t, f, err) < 0)
        return PARSE_BAD;
    const char *name = csv_names[t->fmt][0];
    if (t->fmt == TRACE_AZURE) {
        const char *why;
        if (parse_azure_time(f[0], &r->time_ns, &why) < 0) {
            BAD_LINE(t, err, "%s \"%.*s\": %s", name, (int)f[0].n, f[0].p, why);
            return PARSE_BAD;
        }
    } else if (parse_seconds_ns(f[0], &r->time_ns) < 0) {
        BAD_LINE(t, err, "%s must be a decimal number of seconds >= 0, got \"%.*s\"", name,
                 (int)f[0].n, f[0].p);
        return PARSE_BAD;
    }
    if (csv_count(t, f[1], 1, &r->input_tokens, err) < 0 ||
        csv_count(t, f[2], 2, &r->output_tokens, err) < 0)
        return PARSE_BAD;
    r->session_id = -1;
    r->turn = -1;
    r->n_hash_ids = 0;
    r->hash_block_tokens = 0;
    snprintf(cur_time_text(t), TIME_TEXT_BYTES, "%.*s", (int)f[0].n, f[0].p);
    return PARSE_OK;
}

/* Reads line 1 and finds the needed columns (any order, others ignored). */
static int read_csv_header(trace_reader *t, kt_err *err)
{
    const char *const *names = csv_names[t->fmt];
    char want[3 * TIME_TEXT_BYTES], shown[HEADER_SHOWN_CHARS + 1];
    snprintf(want, sizeof want, "%s,%s,%s", names[0], names[1], names[2]);
    int r = read_line(t, err);
    if (r <= 0) {
        if (r == 0)
            KT_ERROR(err, t->path, 0, 0, "empty file: expected the header \"%s\"", want);
        return -1;
    }
    snprintf(shown, sizeof shown, "%s", t->line);
    for (int k = 0; k < CSV_COLUMNS; k++)
        t->csv_col[k] = -1;
    const char *p = t->line, *end = t->line + t->line_len;
    int col = 0;
    for (;; col++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        span f = trim(p, (size_t)((c ? c : end) - p));
        for (int k = 0; k < CSV_COLUMNS; k++)
            if (strlen(names[k]) == f.n && !memcmp(names[k], f.p, f.n)) {
                if (t->csv_col[k] >= 0) {
                    KT_ERROR(err, t->path, 1, 0, "wrong header: column \"%s\" appears twice in \"%s\"",
                             names[k], shown);
                    return -1;
                }
                t->csv_col[k] = col;
            }
        if (!c)
            break;
        p = c + 1;
    }
    t->csv_n_cols = col + 1;
    for (int k = 0; k < CSV_COLUMNS; k++)
        if (t->csv_col[k] < 0) {
            KT_ERROR(err, t->path, 1, 0,
                     "wrong header for the %s format: expected \"%s\", got \"%s\" (no column \"%s\")",
                     trace_format_names[t->fmt], want, shown, names[k]);
            return -1;
        }
    return 0;
}

/* ---------- records ---------- */

static int parse_line(trace_reader *t, kt_err *err)
{
    t->cur.line = t->line_no;
    t->cur.n_hash_ids = 0;
    t->cur.acceptance = -1;
    return t->fmt == TRACE_MOONCAKE || t->fmt == TRACE_KVTIER ? parse_json_line(t, err)
                                                             : parse_csv_line(t, err);
}

static int check_order(trace_reader *t, kt_err *err)
{
    if (!t->have_base || t->cur.time_ns >= t->prev_ns)
        return PARSE_OK;
    const char *name = time_field[t->fmt];
    BAD_LINE(t, err, "%s %s is before the previous record's %s %s (line %lld): timestamps must not go backwards",
             name, cur_time_text(t), name, t->time_text[!t->cur_text], (long long)t->prev_line);
    return PARSE_BAD;
}

static void accept_record(trace_reader *t)
{
    if (!t->have_base) {
        t->have_base = 1;
        t->base_ns = t->cur.time_ns;
    }
    t->cur.rel_ns = t->cur.time_ns - t->base_ns;
    t->prev_ns = t->cur.time_ns;
    t->prev_line = t->cur.line;
    t->cur_text = !t->cur_text;
    t->n_valid++;
}

static void note_bad(trace_reader *t)
{
    if (t->n_bad < BAD_LINES_KEPT)
        t->bad_lines[t->n_bad] = t->line_no;
    t->n_bad++;
}

/* At end of file: an error once when the file held no request at all. */
static int at_eof(trace_reader *t, kt_err *err)
{
    if (t->n_valid > 0 || t->empty_reported)
        return 0;
    t->empty_reported = 1;
    if (t->n_bad)
        KT_ERROR(err, t->path, 0, 0, "no valid requests: all %lld non-blank lines are malformed",
                 (long long)t->n_bad);
    else
        KT_ERROR(err, t->path, 0, 0, "no requests in the file");
    return -1;
}

/* ---------- ShareGPT ---------- */

/*
 * ShareGPT (also in docs/trace-format.md): one JSON array of conversations
 * {"id": ..., "conversations": [{"from": "human"|"gpt", "value": text}, ...]}.
 * Turns alternate human, gpt; each human turn answered by a gpt turn is a
 * request of the conversation's session: its own tokens are the human
 * text's, its output the reply's, and the session supplies the earlier
 * turns. A final human turn without a reply is not a request. Tokens are a
 * turn's optional integer "tokens", else ceil(code points / chars_per_token).
 * The file has no times: conversations start at the arrival process's
 * draws (the first at 0), and each further turn think_time after the
 * previous turn's arrival (open loop, as replay takes every trace).
 * Elements are parsed one at a time with jansson's JSON_DISABLE_EOF_CHECK,
 * which reports the bytes it read, so each is located at its line.
 */

enum { SG_SKIPPED = 1 };                 /* a conversation passed over on purpose */
#define SG_SEED_TAG UINT64_C(0x5348415245475054)  /* separates the think-time stream from the gaps' */

/* What conversation starts and think times are drawn from. Owns its rngs. */
typedef struct sg_gen {
    gsl_rng *gaps, *think;
    int64_t next_start_ns;
    int64_t accepted;                    /* conversations that gave requests */
} sg_gen;

/* A problem with conversation conv, reported at the line its object opens. */
__attribute__((format(printf, 4, 5)))
static int sharegpt_bad(trace_reader *t, kt_err *err, size_t conv, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    BAD_LINE(t, err, "conversation %zu: %s", conv, what);
    return PARSE_BAD;
}

/* Unicode code points in n bytes of UTF-8 (jansson has checked it). */
static int64_t utf8_chars(const char *s, size_t n)
{
    int64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Turn i of a conversation: its role (*human) and tokens. */
static int sharegpt_turn(trace_reader *t, json_t *turns, size_t conv, size_t i, int *human, int64_t *tokens,
                         kt_err *err)
{
    json_t *o = json_array_get(turns, i);
    if (!json_is_object(o))
        return sharegpt_bad(t, err, conv, "conversations[%zu] must be an object, not %s", i, json_kind(o));
    json_t *from = json_object_get(o, "from"), *value = json_object_get(o, "value");
    if (!json_is_string(from))
        return sharegpt_bad(t, err, conv, "conversations[%zu].from must be a string, not %s", i,
                            from ? json_kind(from) : "missing");
    const char *role = json_string_value(from);
    *human = !strcmp(role, "human");
    if (!*human && strcmp(role, "gpt"))
        return sharegpt_bad(t, err, conv, "conversations[%zu].from must be \"human\" or \"gpt\", got \"%.40s\"", i,
                            role);
    if (!json_is_string(value))
        return sharegpt_bad(t, err, conv, "conversations[%zu].value must be a string, not %s", i,
                            value ? json_kind(value) : "missing");
    json_t *given = json_object_get(o, "tokens");
    if (given) {
        if (!json_is_integer(given) || json_integer_value(given) < 1)
            return sharegpt_bad(t, err, conv, "conversations[%zu].tokens must be an integer >= 1, not %s", i,
                                json_is_integer(given) ? "a smaller one" : json_kind(given));
        *tokens = (int64_t)json_integer_value(given);
        return PARSE_OK;
    }
    double n = ceil((double)utf8_chars(json_string_value(value), json_string_length(value)) /
                    t->opts.sharegpt.chars_per_token);
    *tokens = n < 1 ? 1 : (int64_t)n;  /* an empty text is still a request of one token */
    return PARSE_OK;
}

/* Appends one request of conversation conv to t->sg. */
static int sharegpt_push(trace_reader *t, const raw_rec *r, kt_err *err)
{
    raw_rec *sg = grow_array(t->sg, &t->sg_cap, t->sg_len + 1, sizeof *sg);
    if (!sg) {
        BAD_LINE(t, err, "out of memory for %zu requests", t->sg_len + 1);
        return PARSE_FATAL;
    }
    t->sg = sg;
    t->sg[t->sg_len++] = *r;
    return PARSE_OK;
}

/* The requests of one conversation, appended to t->sg, or none: PARSE_OK,
 * SG_SKIPPED, PARSE_BAD or PARSE_FATAL. */
static int sharegpt_requests(trace_reader *t, json_t *o, size_t conv, kt_err *err)
{
    if (!json_is_object(o))
        return sharegpt_bad(t, err, conv, "expected an object {\"id\", \"conversations\"}, got %s", json_kind(o));
    json_t *turns = json_object_get(o, "conversations");
    if (!json_is_array(turns))
        return sharegpt_bad(t, err, conv, "field \"conversations\" must be an array of turns, not %s",
                            turns ? json_kind(turns) : "missing");
    raw_rec r = { .session_id = (int64_t)conv, .acceptance = -1, .line = t->line_no };
    size_t n = json_array_size(turns);
    for (size_t i = 0; i < n; i++) {
        int human = 0, rc;
        int64_t tokens = 0;
        if ((rc = sharegpt_turn(t, turns, conv, i, &human, &tokens, err)) < 0)
            return rc;
        if (i == 0 && !human && t->opts.sharegpt.skip_not_human_first)
            return SG_SKIPPED;
        if (human != (i % 2 == 0))
            return sharegpt_bad(t, err, conv, "conversations[%zu] is a %s turn where a %s turn was due (turns go "
                                "human, gpt, human, ...)", i, human ? "human" : "gpt", human ? "gpt" : "human");
        if (human) {
            r.input_tokens = tokens;
            continue;
        }
        r.output_tokens = tokens;
        if ((rc = sharegpt_push(t, &r, err)) < 0)
            return rc;
        r.turn++;
    }
    if (r.turn == 0)
        return sharegpt_bad(t, err, conv, "no human turn answered by a gpt turn (%zu turns)", n);
    return PARSE_OK;
}

/* Gives the requests t->sg[first..] of an accepted conversation their
 * times: the conversation's start, then a think time per further turn. */
static int sharegpt_times(trace_reader *t, sg_gen *g, size_t first, kt_err *err)
{
    const workload_cfg *a = &t->opts.sharegpt.arrivals;
    int64_t at = g->next_start_ns;
    for (size_t i = first; i < t->sg_len; i++) {
        if (i > first) {
            int64_t think = workload_think_ns(a, g->think);
            if (at > INT64_MAX - think) {
                BAD_LINE(t, err, "arrivals past 2^63 ns: lower think_time");
                return PARSE_FATAL;
            }
            at += think;
        }
        t->sg[i].time_ns = at;
    }
    int64_t gap = workload_next_gap_ns(a, g->gaps);
    if (g->next_start_ns > INT64_MAX - gap) {
        BAD_LINE(t, err, "arrivals past 2^63 ns: raise the arrival rate or set max_conversations");
        return PARSE_FATAL;
    }
    g->next_start_ns += gap;
    g->accepted++;
    return PARSE_OK;
}

/* Advances *p over JSON white space, counting lines. */
static void sharegpt_space(trace_reader *t, const char **p, const char *end)
{
    for (; *p < end && (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n'); (*p)++)
        t->line_no += **p == '\n';
}

static int64_t count_lines(const char *p, size_t n)
{
    int64_t k = 0;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
        k++;
    return k;
}

/* The next element at *p: parsed, turned into requests (or counted as bad
 * with skip_bad), *p past it. PARSE_OK or -1 with err. */
static int sharegpt_element(trace_reader *t, const char *text, const char **p, const char *end, size_t conv,
                            sg_gen *g, kt_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(*p, (size_t)(end - *p), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                           &je);
    int64_t at_line = t->line_no;
    if (!o) {
        /* jansson counts from *p: on the element's first line, add its column. */
        const char *sol = *p;
        while (sol > text && sol[-1] != '\n')
            sol--;
        t->line_no = at_line + je.line - 1;
        BAD_LINE(t, err, "bad JSON in conversation %zu: %s (column %d)", conv, je.text,
                 je.line == 1 ? (int)(*p - sol) + je.column : je.column);
        return -1;
    }
    kt_err scratch, *e = t->opts.skip_bad ? &scratch : err;
    size_t first = t->sg_len;
    int rc = sharegpt_requests(t, o, conv, e);
    json_decref(o);
    if (rc == PARSE_OK)
        rc = sharegpt_times(t, g, first, e);
    if (rc < 0)
        t->sg_len = first;
    if (rc == PARSE_BAD)
        note_bad(t);
    if (rc == PARSE_FATAL || (rc == PARSE_BAD && !t->opts.skip_bad)) {
        if (e != err && err)
            *err = *e;
        return -1;
    }
    t->line_no = at_line + count_lines(*p, (size_t)je.position);
    *p += je.position;
    return PARSE_OK;
}

/* Parses the array in text into t->sg, unsorted. 0 or -1 with err. */
static int sharegpt_parse(trace_reader *t, const char *text, size_t len, sg_gen *g, kt_err *err)
{
    const char *p = text, *end = text + len;
    t->line_no = 1;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    sharegpt_space(t, &p, end);
    if (p == end || *p != '[') {
        BAD_LINE(t, err, "expected a JSON array of conversations, '[', at the start of the file");
        return -1;
    }
    p++;
    sharegpt_space(t, &p, end);
    int closed = p < end && *p == ']';
    p += closed;
    sharegpt_space(t, &p, end);
    const trace_sharegpt_opts *o = &t->opts.sharegpt;
    for (size_t conv = 0; !closed; conv++) {
        if (o->max_conversations > 0 && g->accepted == o->max_conversations)
            return 0;  /* the rest is not read */
        if (sharegpt_element(t, text, &p, end, conv, g, err) < 0)
            return -1;
        sharegpt_space(t, &p, end);
        if (p < end && (*p == ',' || *p == ']')) {
            closed = *p++ == ']';
            sharegpt_space(t, &p, end);
            continue;
        }
        BAD_LINE(t, err, "expected ',' or ']' after conversation %zu", conv);
        return -1;
    }
    if (p != end) {
        BAD_LINE(t, err, "text after the array's closing ']'");
        return -1;
    }
    return 0;
}

static int sharegpt_order(const void *a, const void *b)
{
    const raw_rec *x = a, *y = b;
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    if (x->session_id != y->session_id)
        return x->session_id < y->session_id ? -1 : 1;
    return (x->turn > y->turn) - (x->turn < y->turn);
}

/* Reads the rest of the file (after the chunk trace_open read) into one
 * NUL-terminated buffer the caller frees. */
static char *read_whole(trace_reader *t, size_t *len, kt_err *err)
{
    char *text = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        size_t avail = t->chunk_end - t->chunk_pos;
        char *grown = grow_array(text, &cap, n + avail + 1, 1);
        if (!grown) {
            KT_ERROR(err, t->path, 0, 0, "out of memory reading the whole file (%zu bytes so far)", n);
            free(text);
            return NULL;
        }
        text = grown;
        memcpy(text + n, t->chunk + t->chunk_pos, avail);
        n += avail;
        t->chunk_pos = t->chunk_end;
        long r = fill_chunk(t, err);
        if (r < 0) {
            free(text);
            return NULL;
        }
        if (r == 0)
            break;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

/* Reads the whole ShareGPT file into t->sg, sorted by arrival. 0 or -1. */
static int sharegpt_load(trace_reader *t, kt_err *err)
{
    size_t len;
    char *text = read_whole(t, &len, err);
    if (!text)
        return -1;
    uint64_t seed = t->opts.sharegpt.arrivals.seed;
    sg_gen g = { gsl_rng_alloc(gsl_rng_mt19937), gsl_rng_alloc(gsl_rng_taus2), 0, 0 };
    int rc = -1;
    if (!g.gaps || !g.think) {
        KT_ERROR(err, t->path, 0, 0, "out of memory");
    } else {
        gsl_rng_set(g.gaps, seed);
        gsl_rng_set(g.think, kt_mix64(seed ^ SG_SEED_TAG));
        rc = sharegpt_parse(t, text, len, &g, err);
    }
    free(text);
    if (g.gaps)
        gsl_rng_free(g.gaps);
    if (g.think)
        gsl_rng_free(g.think);
    if (rc == 0 && t->sg_len)
        qsort(t->sg, t->sg_len, sizeof *t->sg, sharegpt_order);
    return rc;
}

/* The next request of a loaded ShareGPT file, as read_valid gives. */
static int sharegpt_next(trace_reader *t, kt_err *err)
{
    if (t->sg_next == t->sg_len)
        return at_eof(t, err);
    t->cur = t->sg[t->sg_next++];
    t->line_no = t->cur.line;
    accept_record(t);
    return 1;
}

/* Reads lines until one holds a valid record (in t->cur, order checked,
 * rel_ns set). Returns 1, 0 at end of file, or -1 (a bad line is consumed,
 * so the next call goes on after it). */
static int read_valid(trace_reader *t, kt_err *err)
{
    kt_err scratch;
    if (t->fmt == TRACE_SHAREGPT)
        return sharegpt_next(t, err);
    for (;;) {
        int r = read_line(t, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return at_eof(t, err);
        if (is_blank(t->line, t->line_len))
            continue;
        kt_err *e = t->opts.skip_bad ? &scratch : err;
        int rc = parse_line(t, e);
        if (rc == PARSE_OK)
            rc = check_order(t, e);
        if (rc == PARSE_OK) {
            accept_record(t);
            return 1;
        }
        if (rc == PARSE_FATAL || !t->opts.skip_bad) {
            if (rc == PARSE_BAD)
                note_bad(t);
            if (e != err && err)
                *err = *e;
            return -1;
        }
        note_bad(t);
    }
}

/* The next valid record inside the window: WIN_IN, WIN_PAST (t->cur is the
 * first record past the window's end), WIN_END (end of file) or -1. */
static int read_in_window(trace_reader *t, kt_err *err)
{
    for (;;) {
        int r = read_valid(t, err);
        if (r != 1)
            return r;
        if (t->cur.rel_ns < t->opts.start_ns)
            continue;
        if (t->opts.duration_ns > 0 && t->cur.rel_ns - t->opts.start_ns >= t->opts.duration_ns) {
            t->window_done = 1;
            return WIN_PAST;
        }
        return WIN_IN;
    }
}

/* Fills rec from r, arriving offset_ns after r's trace time. */
static int emit(trace_reader *t, const raw_rec *r, const uint64_t *hash, int64_t offset_ns,
                trace_record *rec, kt_err *err)
{
    int64_t x = r->rel_ns - t->opts.start_ns + offset_ns, a = x;
    if (t->opts.rate_scale != 1.0) {
        if (units_i64_of((double)x / t->opts.rate_scale, &a) < 0) {
            KT_ERROR(err, t->path, line_int(r->line), 0,
                     "arrival %lld ns / rate_scale %g does not fit in 64-bit ns", (long long)x,
                     t->opts.rate_scale);
            return -1;
        }
    }
    if (a < t->last_arrival_ns)
        a = t->last_arrival_ns;
    t->last_arrival_ns = a;
    rec->arrival_ns = a;
    rec->input_tokens = r->input_tokens;
    rec->output_tokens = r->output_tokens;
    rec->session_id = r->session_id;
    rec->turn = r->turn;
    rec->hash_ids = r->n_hash_ids ? hash : NULL;
    rec->n_hash_ids = r->n_hash_ids;
    rec->hash_block_tokens = r->hash_block_tokens;
    rec->acceptance = r->acceptance;
    rec->line = r->line;
    return 1;
}

static int next_burst(trace_reader *t, trace_record *rec, kt_err *err)
{
    if (t->window_done)
        return 0;
    int r = read_in_window(t, err);
    if (r != WIN_IN)
        return r == WIN_PAST ? 0 : r;
    return emit(t, &t->cur, t->hash, 0, rec, err);
}

/* Appends t->cur (and its hash ids) to the SPREAD group. */
static int group_push(trace_reader *t, kt_err *err)
{
    raw_rec *group = grow_array(t->group, &t->group_cap, t->group_len + 1, sizeof *group);
    if (group)
        t->group = group;
    uint64_t *pool = group ? grow_array(t->pool, &t->pool_cap, t->pool_len + t->cur.n_hash_ids, sizeof *pool) : NULL;
    if (!pool) {
        KT_ERROR(err, t->path, line_int(t->cur.line), 0, "out of memory for a group of %zu requests",
                 t->group_len + 1);
        return -1;
    }
    t->pool = pool;
    raw_rec *g = &t->group[t->group_len++];
    *g = t->cur;
    g->hash_off = t->pool_len;
    if (t->cur.n_hash_ids)
        memcpy(t->pool + t->pool_len, t->hash, t->cur.n_hash_ids * sizeof *t->pool);
    t->pool_len += t->cur.n_hash_ids;
    return 0;
}

/* The tick a group at group_rel spreads over; next_rel < 0 when unknown. */
static void set_group_tick(trace_reader *t, int64_t group_rel, int64_t next_rel)
{
    int64_t tick = t->opts.tick_ns;
    if (next_rel >= 0) {
        int64_t gap = next_rel - group_rel;
        t->last_gap_ns = gap;
        if (tick == 0 || tick > gap)
            tick = gap;
    } else if (tick == 0) {
        tick = t->last_gap_ns;
    }
    t->group_tick_ns = tick;
}

/* Reads the next group of records sharing one trace time, and the first
 * record after it (left in t->cur, pending). Returns 1, 0 or -1. */
static int fill_group(trace_reader *t, kt_err *err)
{
    t->group_len = t->group_next = t->pool_len = 0;
    if (!t->pending) {
        if (t->window_done)
            return 0;
        int r = read_in_window(t, err);
        if (r != WIN_IN)
            return r == WIN_PAST ? 0 : r;
    }
    t->pending = 0;
    if (group_push(t, err) < 0)
        return -1;
    int64_t group_rel = t->cur.rel_ns, next_rel = -1;
    for (;;) {
        int r = read_in_window(t, &t->stashed);
        if (r == WIN_IN && t->cur.rel_ns == group_rel) {
            if (group_push(t, err) < 0)
                return -1;
            continue;
        }
        if (r == WIN_IN || r == WIN_PAST)
            next_rel = t->cur.rel_ns;
        t->pending = r == WIN_IN;
        t->has_stashed = r < 0;
        break;
    }
    set_group_tick(t, group_rel, next_rel);
    return 1;
}

static int next_spread(trace_reader *t, trace_record *rec, kt_err *err)
{
    if (t->group_next == t->group_len) {
        if (t->has_stashed) {
            t->has_stashed = 0;
            if (err)
                *err = t->stashed;
            return -1;
        }
        int r = fill_group(t, err);
        if (r != 1)
            return r;
    }
    int64_t k = (int64_t)t->group_next++, n = (int64_t)t->group_len, tick = t->group_tick_ns;
    int64_t offset_ns = k * (tick / n) + k * (tick % n) / n;  /* k*tick/n without overflow */
    const raw_rec *g = &t->group[k];
    return emit(t, g, g->n_hash_ids ? t->pool + g->hash_off : NULL, offset_ns, rec, err);
}

/* ---------- interface ---------- */

/* What is wrong with the options, or NULL. */
static const char *opts_problem(trace_format fmt, const trace_opts *o)
{
    if ((unsigned)fmt >= TRACE_FORMAT_COUNT)
        return "unknown trace format";
    if (!(o->rate_scale > 0) || !isfinite(o->rate_scale))
        return "rate_scale must be a finite number > 0";
    if (o->start_ns < 0 || o->duration_ns < 0 || o->limit < 0 || o->tick_ns < 0)
        return "start_ns, duration_ns, limit and tick_ns must be >= 0";
    if (o->release != TRACE_RELEASE_BURST && o->release != TRACE_RELEASE_SPREAD)
        return "release must be BURST or SPREAD";
    if (fmt == TRACE_SHAREGPT) {
        const trace_sharegpt_opts *g = &o->sharegpt;
        if (!(g->chars_per_token > 0) || !isfinite(g->chars_per_token))
            return "chars_per_token must be a finite number > 0";
        if (g->max_conversations < 0)
            return "max_conversations must be >= 0";
        if (!(g->arrivals.rate_per_s > 0) || !isfinite(g->arrivals.rate_per_s))
            return "a ShareGPT trace needs a conversation arrival rate > 0 (arrival.rate)";
    }
    return NULL;
}

/* The read-ahead chunk and the first line, hash id and group buffers. */
static int alloc_buffers(trace_reader *t)
{
    if (!(t->chunk = malloc(READ_CHUNK_BYTES)))
        return -1;
    if (!(t->line = grow_array(NULL, &t->line_cap, LINE_INIT_BYTES, 1)) ||
        !(t->hash = grow_array(NULL, &t->hash_cap, HASH_INIT_IDS, sizeof *t->hash)))
        return -1;
    if (t->opts.release == TRACE_RELEASE_SPREAD &&
        !(t->group = grow_array(NULL, &t->group_cap, GROUP_INIT_RECORDS, sizeof *t->group)))
        return -1;
    return 0;
}

trace_reader *trace_open(const char *path, trace_format fmt, const trace_opts *opts, kt_err *err)
{
    trace_opts o = opts ? *opts : (trace_opts){ 0 };
    if (o.rate_scale == 0)
        o.rate_scale = 1.0;  /* a zero-initialised trace_opts replays at trace speed */
    if (o.sharegpt.chars_per_token == 0)
        o.sharegpt.chars_per_token = TRACE_SHAREGPT_CHARS_PER_TOKEN;
    const char *problem = opts_problem(fmt, &o);
    if (problem) {
        KT_ERROR(err, path, 0, 0, "%s", problem);
        return NULL;
    }
    trace_reader *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        KT_ERROR(err, path, 0, 0, "out of memory");
        free(t);
        return NULL;
    }
    t->fmt = fmt;
    t->opts = o;
    if (!(t->f = infile_open(path, err))) {
        trace_close(t);
        return NULL;
    }
    if (alloc_buffers(t) < 0) {
        KT_ERROR(err, path, 0, 0, "out of memory");
        trace_close(t);
        return NULL;
    }
    long n = fill_chunk(t, err);
    if (n == 0)
        KT_ERROR(err, path, 0, 0, "empty file: a %s trace needs at least one request",
                 trace_format_names[fmt]);
    if (n <= 0 || (csv_names[fmt][0] && read_csv_header(t, err) < 0) ||
        (fmt == TRACE_SHAREGPT && sharegpt_load(t, err) < 0)) {
        trace_close(t);
        return NULL;
    }
    return t;
}

int trace_next(trace_reader *t, trace_record *rec, kt_err *err)
{
    if (t->opts.limit > 0 && t->n_returned >= t->opts.limit)
        return 0;
    int r = t->opts.release == TRACE_RELEASE_SPREAD ? next_spread(t, rec, err)
                                                    : next_burst(t, rec, err);
    if (r == 1)
        t->n_returned++;
    return r;
}

void trace_close(trace_reader *t)
{
    if (!t)
        return;
    if (t->f)
        fclose(t->f);
    free(t->path);
    free(t->chunk);
    free(t->line);
    free(t->hash);
    free(t->group);
    free(t->pool);
    free(t->sg);
    free(t);
}

int64_t trace_bad_lines(const trace_reader *t, int64_t *lines, size_t max)
{
    size_t kept = t->n_bad < BAD_LINES_KEPT ? (size_t)t->n_bad : BAD_LINES_KEPT;
    for (size_t i = 0; i < kept && i < max; i++)
        lines[i] = t->bad_lines[i];
    return t->n_bad;
}
