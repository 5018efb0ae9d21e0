/* progress.h — how far a batch of work has got, on stderr: a bar redrawn in place on a terminal, plain lines otherwise. */
#ifndef KT_PROGRESS_H
#define KT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Invariants: 0 <= done_at_start <= done <= total; the ETA extrapolates
 * the rate of the items done since the start (done - done_at_start) only. */
typedef struct progress {
    FILE *out;                  /* NULL: silent */
    int tty;                    /* redraw one line in place */
    const char *label, *unit;
    int64_t total, done, done_at_start;
    struct timespec start, last_line;
} progress;

/* Starts counting toward total items, already of them done before; out NULL keeps it silent. */
void progress_start(progress *p, FILE *out, const char *label, const char *unit, int64_t total, int64_t already);
/* Counts one more item done and shows it (plain lines at most every few seconds, and the last). */
void progress_step(progress *p);
/* Ends the bar's line on a terminal. */
void progress_finish(progress *p);

/* Writes a duration as "41 s", "3 min 05 s" or "2 h 10 min" into buf; returns buf. */
const char *progress_duration(double s, char *buf, size_t n);

#endif
