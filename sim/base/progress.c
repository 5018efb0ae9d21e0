/* progress.c — a progress bar with elapsed time and ETA, or plain progress lines when stderr is not a terminal. */
#include "progress.h"

#include <stdarg.h>
#include <unistd.h>

/* Plain lines of a sized progress come at most this often, so a log of a long sweep stays short. */
#define PROGRESS_LINE_INTERVAL_S 5.0
/* Characters of the bar itself. */
#define PROGRESS_BAR_WIDTH 30
#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_HOUR 3600
/* ANSI: clear from the cursor to the end of the line (a shorter redraw leaves no tail). */
#define ERASE_TO_EOL "\033[K"

static double since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

const char *progress_duration(double s, char *buf, size_t n)
{
    long v = (long)(s + 0.5);
    if (v < SECONDS_PER_MINUTE)
        snprintf(buf, n, "%ld s", v);
    else if (v < SECONDS_PER_HOUR)
        snprintf(buf, n, "%ld min %02ld s", v / SECONDS_PER_MINUTE, v % SECONDS_PER_MINUTE);
    else
        snprintf(buf, n, "%ld h %02ld min", v / SECONDS_PER_HOUR, v % SECONDS_PER_HOUR / SECONDS_PER_MINUTE);
    return buf;
}

double progress_elapsed_s(const progress *p) { return since(&p->start); }

const char *progress_eta(const progress *p, double fraction, char *buf, size_t n)
{
    char d[32];
    if (!(fraction > 0))
        snprintf(buf, n, "ETA unknown");
    else
        snprintf(buf, n, "ETA %s",
                 progress_duration(since(&p->start) * (1 - (fraction < 1 ? fraction : 1)) / fraction, d, sizeof d));
    return buf;
}

/* ", ETA 41 s" from the rate of this invocation's items, or "" before the first. */
static void eta_text(const progress *p, char *buf, size_t n)
{
    int64_t ran = p->done - p->done_at_start;
    char e[40];
    if (ran <= 0 || p->done >= p->total)
        snprintf(buf, n, "%s", "");
    else
        snprintf(buf, n, ", %s",
                 progress_eta(p, (double)ran / (double)(p->total - p->done_at_start), e, sizeof e));
}

static void draw_bar(const progress *p)
{
    char bar[PROGRESS_BAR_WIDTH + 1], eta[48], el[32];
    int filled = p->total ? (int)(PROGRESS_BAR_WIDTH * p->done / p->total) : PROGRESS_BAR_WIDTH;
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[PROGRESS_BAR_WIDTH] = '\0';
    eta_text(p, eta, sizeof eta);
    fprintf(p->out, "\r%s [%s] %lld/%lld %s, %s elapsed%s" ERASE_TO_EOL, p->label, bar, (long long)p->done,
            (long long)p->total, p->unit, progress_duration(since(&p->start), el, sizeof el), eta);
    fflush(p->out);
}

static void draw_line(progress *p)
{
    int last = p->done >= p->total;
    if (!last && since(&p->last_line) < PROGRESS_LINE_INTERVAL_S)
        return;
    clock_gettime(CLOCK_MONOTONIC, &p->last_line);
    char eta[48], el[32];
    eta_text(p, eta, sizeof eta);
    if (last)
        snprintf(eta, sizeof eta, " in %s", progress_duration(since(&p->start), el, sizeof el));
    fprintf(p->out, "%s: %lld/%lld %s done%s\n", p->label, (long long)p->done, (long long)p->total, p->unit, eta);
}

void progress_start(progress *p, FILE *out, const char *label, const char *unit, int64_t total, int64_t already)
{
    *p = (progress){ .out = out, .tty = out && isatty(fileno(out)), .label = label, .unit = unit,
                     .total = total, .done = already, .done_at_start = already,
                     .line_interval_s = PROGRESS_LINE_INTERVAL_S };
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last_line = p->start;
    if (p->tty && p->done < p->total)
        draw_bar(p);
}

void progress_start_unsized(progress *p, FILE *out, const char *label, double interval_s)
{
    progress_start(p, out, label, "", 0, 0);
    p->line_interval_s = interval_s;
}

void progress_status(progress *p, const char *fmt, ...)
{
    if (!p->out || since(&p->last_line) < p->line_interval_s)
        return;
    clock_gettime(CLOCK_MONOTONIC, &p->last_line);
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->out, "%s%s ", p->tty ? "\r" : "", p->label);
    vfprintf(p->out, fmt, ap);
    fputs(p->tty ? ERASE_TO_EOL : "\n", p->out);
    va_end(ap);
    fflush(p->out);
    p->status_shown = p->tty;
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (!p->out)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->out, "%s%s: ", p->status_shown ? "\r" ERASE_TO_EOL : "", p->label);
    vfprintf(p->out, fmt, ap);
    fputc('\n', p->out);
    va_end(ap);
    p->status_shown = 0;
}

void progress_step(progress *p)
{
    if (p->done < p->total)
        p->done++;
    if (!p->out)
        return;
    if (p->tty)
        draw_bar(p);
    else
        draw_line(p);
}

void progress_finish(progress *p)
{
    if (p->out && p->tty && (p->done > p->done_at_start || p->status_shown))
        fputc('\n', p->out);
    p->status_shown = 0;
}
