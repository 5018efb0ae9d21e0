/* trace.h — readers for request traces: Mooncake JSONL (with prefix hashes), Azure CSV, Vidur CSV, BurstGPT CSV and kvtier's native format streamed, ShareGPT conversation JSON read whole. */
#ifndef KT_TRACE_H
#define KT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workload.h"

typedef enum {
    TRACE_MOONCAKE, TRACE_AZURE, TRACE_VIDUR, TRACE_KVTIER, TRACE_BURSTGPT, TRACE_SHAREGPT, TRACE_FORMAT_COUNT
} trace_format;
/* "mooncake", "azure", "vidur", "kvtier", "burstgpt", "sharegpt" */
extern const char *const trace_format_names[TRACE_FORMAT_COUNT + 1];

/* How requests that share a coarse timestamp are released. */
typedef enum { TRACE_RELEASE_BURST, TRACE_RELEASE_SPREAD } trace_release;

/* The longest line a trace may hold, terminator excluded. A longer one (or
 * a file with no line breaks at all) is an error naming the file and line,
 * even with skip_bad, so that the reader's memory stays bounded. */
#define TRACE_LINE_MAX_BYTES (1024 * 1024)

/* ShareGPT's tokens per turn when the turn has no "tokens" field:
 * ceil(characters / chars_per_token), characters being Unicode code points. */
#define TRACE_SHAREGPT_CHARS_PER_TOKEN 4.0

/* What the ShareGPT format lacks: times and token counts.
 * chars_per_token > 0 (0: TRACE_SHAREGPT_CHARS_PER_TOKEN); max_conversations
 * (0: all) counts conversations that give requests; skip_not_human_first:
 * a conversation whose first turn is not "human" is passed over (not
 * counted as bad) instead of being malformed. arrivals: its arrival,
 * rate_per_s, burst_cv, think_ns and seed give conversation starts (a
 * renewal process at rate_per_s, the first at 0) and the gap from a turn's
 * arrival to the next turn's; rate_per_s > 0 is required. */
typedef struct trace_sharegpt_opts {
    double chars_per_token;
    int64_t max_conversations;
    int skip_not_human_first;
    workload_cfg arrivals;
} trace_sharegpt_opts;

/* Replay options.
 * rate_scale > 0: arrival times are divided by it (2 = twice as fast).
 * start_ns: skip records before this trace time (relative to the first record).
 * duration_ns: stop after this much trace time from start (0 = to the end).
 * limit: at most this many requests (0 = all).
 * release: BURST releases a group of equal timestamps at once; SPREAD spreads
 * the group uniformly over tick_ns (the gap to the next distinct timestamp
 * when tick_ns is 0). skip_bad: count malformed lines and go on instead of
 * failing. sharegpt: read by the ShareGPT format only. */
typedef struct trace_opts {
    double rate_scale;
    int64_t start_ns, duration_ns, limit;
    trace_release release;
    int64_t tick_ns;
    int skip_bad;
    trace_sharegpt_opts sharegpt;
} trace_opts;

/* One request of a trace.
 * Invariants: arrival_ns is non-decreasing from record to record and >= 0
 * (relative to the replay's start); input_tokens >= 1, output_tokens >= 1;
 * hash_ids (n_hash_ids entries, may be 0) belong to the reader and stay
 * valid until the next trace_next; session_id/turn are -1 when the format
 * has none. For Mooncake, hash_ids[i] names the prefix up to and including
 * 512-token block i and n_hash_ids == ceil(input_tokens / 512). For
 * ShareGPT, session_id is the conversation's 0-based index in the array,
 * turn its human turn's 0-based rank, input_tokens that turn's own tokens
 * (the earlier turns come from the session) and line the line where the
 * conversation's object opens. */
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
 * header is wrong. Caller closes with trace_close.
 * ShareGPT, one JSON array with no times, is read whole here: the file's
 * text and one conversation's JSON tree at a time while reading, then a
 * record (about 100 bytes) per request until trace_close. A malformed
 * conversation fails the open (err at the line its object opens), unless
 * skip_bad, when it is counted as a bad line; bad JSON syntax fails it
 * even with skip_bad (the array's end can no longer be found). */
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
