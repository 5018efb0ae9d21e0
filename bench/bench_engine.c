/* bench_engine.c — the classic "hold" benchmark of the event engine: ns per (pop earliest + schedule one) at a fixed queue size. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"

#define REPS 5
#define INCR_COUNT (1u << 20)        /* ring of pre-drawn increments */
#define MEAN_INCR_NS 1000.0          /* Exp(mean 1 us) */
#define TARGET_S_PER_SIZE 1.5        /* all REPS of one queue size */
#define SEED 42

/* The increments, drawn before timing; the callback reads them in turn. */
typedef struct bench {
    int64_t *incr;
    uint32_t next;
} bench;

/* One hold's second half: schedule the replacement event. */
static void hold_fn(engine *eng, void *ctx, uint64_t arg)
{
    bench *b = ctx;
    int64_t d = b->incr[b->next++ & (INCR_COUNT - 1)];
    engine_at(eng, engine_now(eng) + d, hold_fn, ctx, arg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A queue of n pending events at Exp-distributed times, warmed up by n
 * holds so the time distribution in the queue is near steady state. */
static engine *prefill(bench *b, size_t n)
{
    engine *eng = engine_new(n + 1);
    if (!eng) {
        fprintf(stderr, "bench_engine: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        engine_at(eng, b->incr[b->next++ & (INCR_COUNT - 1)], hold_fn, b, 0);
    for (size_t i = 0; i < n; i++)
        engine_step(eng);
    return eng;
}

/* Times m holds on a queue of n; returns ns per hold. */
static double time_holds(bench *b, size_t n, uint64_t m)
{
    engine *eng = prefill(b, n);
    double t0 = now_s();
    for (uint64_t i = 0; i < m; i++)
        engine_step(eng);
    double dt = now_s() - t0;
    if (engine_pending(eng) != n) {
        fprintf(stderr, "bench_engine: queue size drifted to %zu\n", engine_pending(eng));
        exit(1);
    }
    engine_free(eng);
    return dt * 1e9 / (double)m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Picks m from a short pilot so that REPS runs take about TARGET_S_PER_SIZE. */
static uint64_t choose_m(bench *b, size_t n)
{
    double ns = time_holds(b, n, 200000);
    double m = TARGET_S_PER_SIZE * 1e9 / REPS / ns;
    uint64_t r = (uint64_t)(m / 100000 + 0.5) * 100000;
    return r < 100000 ? 100000 : r;
}

static void bench_size(bench *b, size_t n)
{
    uint64_t m = choose_m(b, n);
    double t[REPS];
    for (int r = 0; r < REPS; r++)
        t[r] = time_holds(b, n, m);
    qsort(t, REPS, sizeof t[0], cmp_double);
    printf("engine hold: pending=%-7zu median %.1f ns/hold  best %.1f ns/hold  (M=%llu holds, %d reps)\n",
           n, t[REPS / 2], t[0], (unsigned long long)m, REPS);
    fflush(stdout);
}

int main(void)
{
    static const size_t sizes[] = { 1000, 100000 };
    bench b = { .incr = malloc(INCR_COUNT * sizeof(int64_t)), .next = 0 };
    if (!b.incr) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 1;
    }
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, SEED);
    for (uint32_t i = 0; i < INCR_COUNT; i++)
        b.incr[i] = (int64_t)(gsl_ran_exponential(r, MEAN_INCR_NS) + 0.5);
    gsl_rng_free(r);

    printf("bench_engine: discrete-event engine, classic hold model\n"
           "  one hold = engine_step (pop the earliest event) + its callback's engine_at\n"
           "  (schedule one event at now + Exp(mean %.0f ns)); queue size stays constant.\n"
           "  Increments drawn beforehand (GSL mt19937, seed %d); wall time by\n"
           "  CLOCK_MONOTONIC; %d repetitions per size, median and best reported.\n",
           MEAN_INCR_NS, SEED, REPS);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bench_size(&b, sizes[i]);
    free(b.incr);
    return 0;
}
