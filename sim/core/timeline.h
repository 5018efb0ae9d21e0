/* timeline.h — a run's timeline as Chrome/Perfetto trace-event JSON: iterations and KV transfers as slices, queue and KV block counters. */
#ifndef KT_TIMELINE_H
#define KT_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

/* The Trace Event Format ("Trace Event Format", Google, the document
 * chrome://tracing and ui.perfetto.dev read): a JSON object whose
 * traceEvents array holds events with ph (phase), pid, tid, ts in
 * microseconds and, for complete events, dur. kvtier writes each replica
 * as a process (pid = replica + 1), its iterations as complete ("X")
 * slices on thread TIMELINE_TID_ITERATIONS, each link's transfers as
 * nestable async ("b"/"e") slices named after the link (they overlap, which
 * "X" slices on one thread may not), and counters ("C"). */
#define TIMELINE_TID_ITERATIONS 1
#define TIMELINE_TID_TRANSFERS 2

typedef struct timeline timeline;

/* Starts a timeline written to out (not owned; the caller closes it after
 * timeline_end). out is given a large buffer, so it must not have been
 * written yet: events cost a formatted write into memory. Returns NULL
 * when out of memory. */
timeline *timeline_new(FILE *out);
/* Finishes the JSON object (writing program version into otherData) and
 * flushes. Returns 0, or -1 when a write failed. */
int timeline_end(timeline *tl, const char *program_version);
/* Frees tl (after timeline_end, or to drop it); the stream is left open. */
void timeline_free(timeline *tl);

/* The pid of replica i (pids of 0 are taken for the idle process by some viewers). */
int timeline_replica_pid(int replica);
/* Names process pid and its two threads ("M" metadata events). */
void timeline_name_process(timeline *tl, int pid, const char *name, int sort_index);

/* One iteration of pid from start_ns to end_ns: prefill and decode tokens, batch size. */
void timeline_iteration(timeline *tl, int pid, int64_t start_ns, int64_t end_ns, int64_t prefill_tokens,
                        int64_t decode_tokens, int batch);
/* One transfer across link (its name) of pid, from start_ns (setup included) to end_ns. */
void timeline_transfer(timeline *tl, int pid, const char *link, int64_t start_ns, int64_t end_ns, double bytes);
/* pid's queue and KV counters at t_ns: waiting and running requests, HBM blocks in use and cached. */
void timeline_counters(timeline *tl, int pid, int64_t t_ns, int waiting, int running, int64_t kv_in_use_blocks,
                       int64_t kv_cached_blocks);

#endif
