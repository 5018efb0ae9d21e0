/* trace.h — streaming readers for request traces: Mooncake JSONL (with prefix hashes), Azure CSV, Vidur CSV, BurstGPT CSV and kvtier's native format. */
#ifndef KT_TRACE_H
#define KT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum { TRACE_MOONCAKE, TRACE_AZURE, TRACE_VIDUR, TRACE_KVTIER, TRACE_BURSTGPT, TRACE_FORMAT_COUNT } trace_format;
/* "mooncake", "azure", "vidur", "kvtier", "burstgpt" */
extern const char *const trace_format_names[TRACE_FORMAT_COUNT + 1];

/* How requests that share a coarse timestamp are released. */
typedef enum { TRACE_RELEASE_BURST, TRACE_RELEASE_SPREAD } trace_release;

/* The longest line a trace may hold, terminator excluded. A longer one (or
 * a file with no line breaks at all) is an error naming the file and line,
 * even with skip_bad, so that the reader's memory stays bounded. */
#define TRACE_LINE_MAX_BYTES (1024 * 1024)

/* Replay options.
 * rate_scale > 0: arrival times are divided by it (2 = twice as fast).
 * start_ns: skip records before this trace time (relative to the first record).
 * duration_ns: stop after this much trace time from start (0 = to the end).
 * limit: at most this many requests (0 = all).
 * release: BURST releases a group of equal timestamps at once; SPREAD spreads
 * the group uniformly over tick_ns (the gap to the next distinct timestamp
 * when tick_ns is 0). skip_bad: count malformed lines and go on instead of
 * failing. */
typedef struct trace_opts {
    double rate_scale;
    int64_t start_ns, duration_ns, limit;
    trace_release release;
    int64_t tick_ns;
    int skip_bad;
} trace_opts;

/* One request of a trace.
 * Invariants: arrival_ns is non-decreasing from record to record and >= 0
 * (relative to the replay's start); input_tokens >= 1, output_tokens >= 1;
 * hash_ids (n_hash_ids entries, may be 0) belong to the reader and stay
 * valid until the next trace_next; session_id/turn are -1 when the format
 * has none. For Mooncake, hash_ids[i] names the prefix up to and including
 * 512-token block i and n_hash_ids == ceil(input_tokens / 512). */
typedef struct trace_record {
    int64_t arrival_ns;
    int64_t input_tokens, output_tokens;
    int64_t session_id;
    int turn;
    const uint64_t *hash_ids;
    uint32_t n_hash_ids;
    int64_t hash_block_tokens;  /* tokens each hash id covers (512 for Mooncake) */
    double acceptance;          /* speculative acceptance rate, 0-1 (kvtier format); -1 when absent */
    int64_t line;               /* 1-based line in the file */
} trace_record;

typedef struct trace_reader trace_reader;

/* Opens path for streaming (one pass, memory independent of the file's
 * length). NULL with err (file: what) when it cannot be opened or its
 * header is wrong. Caller closes with trace_close. */
trace_reader *trace_open(const char *path, trace_format fmt, const trace_opts *opts, kt_err *err);
/* Reads the next request into rec: 1 read, 0 end of trace (or of the
 * window/limit), -1 error with err = "file:line: what is wrong" (err->line
 * set; col 0) — unless skip_bad, when bad lines are counted and skipped. */
int trace_next(trace_reader *t, trace_record *rec, kt_err *err);
void trace_close(trace_reader *t);

/* Malformed lines skipped so far; the first (up to max) line numbers go to
 * lines. */
int64_t trace_bad_lines(const trace_reader *t, int64_t *lines, size_t max);

#endif
