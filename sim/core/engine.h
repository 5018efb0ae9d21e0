/* engine.h — the discrete-event engine: a clock and events ordered by (time_ns, seq). It knows nothing of the model. */
#ifndef KT_ENGINE_H
#define KT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct engine engine;

/* An event's action. ctx and arg are whatever the scheduler passed; the
 * engine never looks at them. */
typedef void (*engine_fn)(engine *eng, void *ctx, uint64_t arg);

/* Names a scheduled event so it can be cancelled. A handle whose event has
 * run or been cancelled is stale: cancelling it is a harmless no-op. */
typedef struct engine_handle { uint32_t slot; uint32_t gen; } engine_handle;

/* Creates an engine at time 0 with room for capacity pending events before
 * its pool must grow. Caller frees with engine_free. */
engine *engine_new(size_t capacity);
void engine_free(engine *eng);

/* Schedules fn(eng, ctx, arg) at absolute time at_ns (>= engine_now()).
 * Events at equal times run in the order they were scheduled. Does not
 * allocate unless the pool is full (then it doubles). */
engine_handle engine_at(engine *eng, int64_t at_ns, engine_fn fn, void *ctx, uint64_t arg);
/* Same, delay_ns (>= 0) after now. */
engine_handle engine_after(engine *eng, int64_t delay_ns, engine_fn fn, void *ctx, uint64_t arg);
/* Removes a pending event. Returns 1 if it was pending, 0 if stale. */
int engine_cancel(engine *eng, engine_handle h);
/* 1 while the handle's event is still pending. */
int engine_is_pending(const engine *eng, engine_handle h);

int64_t engine_now(const engine *eng);
size_t engine_pending(const engine *eng);
uint64_t engine_events_run(const engine *eng);

/* Runs the earliest event. Returns 0 when none is pending. */
int engine_step(engine *eng);
/* Runs events while any is pending at or before until_ns (INT64_MAX: all)
 * and engine_stop has not been called. Returns the number run. */
uint64_t engine_run(engine *eng, int64_t until_ns);
/* Makes engine_run return after the current event. */
void engine_stop(engine *eng);

/* Called after every event (for --check invariant runs); NULL to clear. */
void engine_set_after_hook(engine *eng, void (*hook)(engine *eng, void *ud), void *ud);

/* Invariant checker: heap order, slot/heap cross-links, free-list count,
 * clock not behind any pending event. Returns 0, or -1 with err set. */
int engine_check(const engine *eng, kt_err *err);
/* The same where the heap changed since this function last ran: every
 * entry written since, against its parent and its children, the root
 * against now, the counts and the free list's head; O(changes), where
 * engine_check is O(pending). The first call (which starts recording
 * what changes) and a call after more changes than the record holds run
 * engine_check. A corruption away from what changed (a free-list link
 * further down) is left to engine_check. */
int engine_check_touched(engine *eng, kt_err *err);

#endif
