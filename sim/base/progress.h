/* progress.h — how far a batch of work has got, on stderr: a bar redrawn in place on a terminal, plain lines otherwise. */
#ifndef KT_PROGRESS_H
#define KT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Invariants: 0 <= done_at_start <= done <= total; the ETA extrapolates
 * the rate of the items done since the start (done - done_at_start) only.
 * A progress of unknown size has total 0 and shows statuses and notes only. */
typedef struct progress {
    FILE *out;                  /* NULL: silent */
    int tty;                    /* redraw one line in place */
    int status_shown;           /* a status line is open on the terminal */
    const char *label, *unit;
    int64_t total, done, done_at_start;
    double line_interval_s;     /* plain lines (and statuses) at most this often */
    struct timespec start, last_line;
} progress;

/* Starts counting toward total items, already of them done before; out NULL keeps it silent. */
void progress_start(progress *p, FILE *out, const char *label, const char *unit, int64_t total, int64_t already);
/* Starts a progress of work whose size is not known ahead (a simulation,
 * a search): it shows statuses at most every interval_s, and notes. */
void progress_start_unsized(progress *p, FILE *out, const char *label, double interval_s);
/* Shows what the work is doing, "LABEL TEXT": on a terminal one line
 * redrawn in place, else a line; at most one every interval_s. */
void progress_status(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes "LABEL: TEXT" on a line of its own, every time (a probe's result, say). */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts one more item done and shows it (plain lines at most every few seconds, and the last). */
void progress_step(progress *p);
/* Ends the bar's (or the status's) line on a terminal. */
void progress_finish(progress *p);

/* Seconds since p started. */
double progress_elapsed_s(const progress *p);
/* "ETA 41 s" into buf for work that is the share fraction (0..1) done after
 * progress_elapsed_s, at the rate so far; "ETA unknown" before any is done.
 * Returns buf. */
const char *progress_eta(const progress *p, double fraction, char *buf, size_t n);

/* Writes a duration as "41 s", "3 min 05 s" or "2 h 10 min" into buf; returns buf. */
const char *progress_duration(double s, char *buf, size_t n);

#endif
