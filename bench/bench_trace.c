/* bench_trace.c — reads each whole shipped trace (data/traces) with the streaming reader (no simulation): wall time (best and median of 5), records/s, MB/s and peak RSS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "trace.h"

#define REPS 5
#define DEFAULT_TRACES_DIR "data/traces"   /* the shipped traces, from the repository root */
#define BYTES_PER_MB 1e6
#define KIB_PER_MIB 1024.0

/* One trace to read, and how. */
typedef struct bench_case {
    const char *file;
    trace_format fmt;
    trace_release release;
} bench_case;

static const bench_case cases[] = {
    { "mooncake_fast25_conversation_trace.jsonl", TRACE_MOONCAKE, TRACE_RELEASE_BURST },
    { "mooncake_fast25_conversation_trace.jsonl", TRACE_MOONCAKE, TRACE_RELEASE_SPREAD },
    { "AzureLLMInferenceTrace_conv.csv", TRACE_AZURE, TRACE_RELEASE_BURST },
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / KIB_PER_MIB;  /* ru_maxrss is in KiB on Linux */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads path once; returns the records read (summing the tokens into
 * *tokens so the loop cannot be optimised away), or -1 with a message. */
static int64_t read_once(const char *path, const bench_case *c, int64_t *tokens)
{
    trace_opts o = { .rate_scale = 1.0, .release = c->release };
    kt_err err;
    trace_reader *t = trace_open(path, c->fmt, &o, &err);
    if (!t) {
        kt_err_print(&err, stderr);
        return -1;
    }
    trace_record rec;
    int64_t n = 0;
    int r;
    while ((r = trace_next(t, &rec, &err)) == 1) {
        n++;
        *tokens += rec.input_tokens + rec.output_tokens + rec.n_hash_ids;
    }
    trace_close(t);
    if (r < 0) {
        kt_err_print(&err, stderr);
        return -1;
    }
    return n;
}

/* Times REPS whole reads of one case and prints a line. Returns 0, or -1. */
static int bench_one(const char *dir, const bench_case *c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, c->file);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("%-9s %-6s  skipped: %s is missing\n", trace_format_names[c->fmt],
               c->release == TRACE_RELEASE_SPREAD ? "spread" : "burst", path);
        return 0;
    }
    double dt[REPS];
    int64_t n = 0, tokens = 0;
    for (int i = 0; i < REPS; i++) {
        double t0 = now_s();
        n = read_once(path, c, &tokens);
        dt[i] = now_s() - t0;
        if (n < 0)
            return -1;
    }
    qsort(dt, REPS, sizeof *dt, cmp_double);
    double best = dt[0], median = dt[REPS / 2];
    printf("%-9s %-6s %8lld records %9.2f MB  best %8.2f ms  median %8.2f ms  %6.3f M records/s  %7.1f MB/s\n",
           trace_format_names[c->fmt], c->release == TRACE_RELEASE_SPREAD ? "spread" : "burst",
           (long long)n, (double)st.st_size / BYTES_PER_MB, best * 1e3, median * 1e3,
           (double)n / best / 1e6, (double)st.st_size / BYTES_PER_MB / best);
    if (tokens == 0)
        printf("(no tokens read)\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : DEFAULT_TRACES_DIR;
    printf("trace readers, whole files from %s; %d reads each; records/s and MB/s from the best read\n",
           dir, REPS);
    double rss0 = peak_rss_mib();
    int rc = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        rc |= bench_one(dir, &cases[i]);
    printf("peak RSS: %.1f MiB (%.1f MiB before the first read)\n", peak_rss_mib(), rss0);
    return rc ? 1 : 0;
}
