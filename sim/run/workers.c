/* workers.c — sweep points run here or in forked workers that claim points from a shared counter and report over a pipe. */
#include "workers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli.h"
#include "runner.h"
#include "store.h"

/* How often the parent, waiting for reports, looks whether a signal came
 * to it alone and must be forwarded to the workers: soon enough that an
 * interrupted sweep stops within a blink. */
#define STOP_POLL_MS 100

/* What became of one point. */
typedef enum point_outcome { POINT_STOPPED = -1, POINT_FAILED = 0, POINT_STORED = 1 } point_outcome;

/* 1 once a stop signal came or the wall-clock deadline passed. */
static int stopped(const sim_opts *o)
{
    return (o->stop && *o->stop) || sim_past_deadline(o);
}

/* What a worker tells the parent after each point. Smaller than PIPE_BUF,
 * so every write lands whole even with many workers on one pipe. */
typedef struct point_report {
    int64_t point;
    int64_t ok;
} point_report;

/* Runs and stores one point. Returns POINT_STORED, POINT_FAILED (said on
 * stderr) or POINT_STOPPED (a signal or the wall-clock deadline ended it
 * during the simulation, before its transaction: nothing of it is stored). */
static point_outcome run_point(const sweep *sw, store *db, int64_t sweep_id, int64_t point, const sim_opts *opts)
{
    kt_err err;
    runner_result res = { 0 };   /* want_replicas 0: nothing to free */
    scenario *sc = sweep_point_scenario(sw, point, &err);
    char *params = sc ? sweep_point_params(sw, point) : NULL;
    int ok = 0;
    if (sc && !params)
        KT_ERROR(&err, NULL, 0, 0, "out of memory");
    else if (sc) {
        store_point pt = { .sweep_id = sweep_id, .point = point, .params = params };
        ok = runner_run(sc, opts, db, &pt, &res, &err) == RUNNER_OK;
    }
    int stop = !ok && stopped(opts);
    if (!ok && !stop) {
        fprintf(stderr, "kvtier sweep: point %lld failed: ", (long long)point);
        kt_err_print(&err, stderr);
    }
    free(params);
    scenario_free(sc);
    return ok ? POINT_STORED : stop ? POINT_STOPPED : POINT_FAILED;
}

static int64_t run_here(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points, int64_t n,
                        const workers_opts *o, kt_err *err)
{
    store *db = store_open(db_path, err);
    if (!db)
        return -1;
    int64_t failed = 0;
    for (int64_t i = 0; i < n && !stopped(&o->sim); i++) {
        point_outcome r = run_point(sw, db, sweep_id, points[i], &o->sim);
        if (r == POINT_STOPPED)
            break;
        failed += r == POINT_FAILED;
        if (o->report)
            o->report(points[i], r == POINT_STORED, o->ud);
    }
    store_close(db);
    return failed;
}

/* ---------- forked workers ---------- */

/* Writes all of buf to fd, retrying after signals. Returns 0 or -1. */
static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes unless the pipe ends first. Returns 1, 0 at end, -1 on error. */
static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* A worker's life: claim the next point, run it, report it; exit when none is left. */
static void worker(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points, int64_t n,
                   const sim_opts *opts, atomic_llong *next, int report_fd, pid_t parent)
{
#ifdef __linux__
    /* A killed sweep takes its workers with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != parent)
        _exit(EXIT_FAILURE);
    kt_err err;
    store *db = store_open(db_path, &err);
    if (!db) {
        kt_err_print(&err, stderr);
        _exit(EXIT_FAILURE);
    }
    int64_t i;
    while (!stopped(opts) && (i = atomic_fetch_add(next, 1)) < n) {
        point_outcome out = run_point(sw, db, sweep_id, points[i], opts);
        if (out == POINT_STOPPED)
            break;
        point_report r = { .point = points[i], .ok = out == POINT_STORED };
        if (write_all(report_fd, &r, sizeof r) < 0)
            break;
    }
    store_close(db);
    fflush(stderr);
    _exit(EXIT_SUCCESS);
}

/* Waits for every worker; returns how many ended other than by a clean exit. */
static int reap(const pid_t *pids, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS)
            bad++;
    }
    return bad;
}

/* Waits until a report can be read from fd (or fd ends). A stop signal
 * that came to this process alone (kill PID, not a terminal's Ctrl-C to
 * the whole group) is forwarded to the workers once, *forwarded then set,
 * so that they stop between events too. Returns 1, or -1 on error. */
static int await_report(int fd, const sim_opts *opts, const pid_t *pids, int n, int *forwarded)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    for (;;) {
        if (opts->stop && *opts->stop && !*forwarded) {
            for (int i = 0; i < n; i++)
                kill(pids[i], *opts->stop);
            *forwarded = 1;
        }
        int r = poll(&pfd, 1, STOP_POLL_MS);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Starts jobs workers writing to report_fd; returns how many started (pids filled). */
static int spawn(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points, int64_t n,
                 const workers_opts *o, atomic_llong *next, const int pipe_fds[2], pid_t *pids)
{
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    /* Held back until a new worker catches every stop signal: a terminal's
     * and then the forwarded one must not kill it in a transaction. */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigprocmask(SIG_BLOCK, &stops, &old);
    int started = 0;
    for (; started < o->jobs; started++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            cli_catch_stop_always();
            sigprocmask(SIG_SETMASK, &old, NULL);
            close(pipe_fds[0]);
            worker(sw, db_path, sweep_id, points, n, &o->sim, next, pipe_fds[1], parent);
        }
        pids[started] = pid;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return started;
}

static int64_t run_forked(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points,
                          int64_t n, const workers_opts *o, kt_err *err)
{
    int fds[2];
    atomic_llong *next = mmap(NULL, sizeof *next, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t *pids = calloc((size_t)o->jobs, sizeof *pids);
    if (next == MAP_FAILED || !pids || pipe(fds) < 0) {
        KT_ERROR(err, NULL, 0, 0, "cannot start workers: %s", strerror(errno));
        free(pids);
        if (next != MAP_FAILED)
            munmap(next, sizeof *next);
        return -1;
    }
    atomic_init(next, 0);
    int started = spawn(sw, db_path, sweep_id, points, n, o, next, fds, pids);
    close(fds[1]);
    int64_t failed = 0, reported = 0;
    int forwarded = 0;
    point_report r;
    while (await_report(fds[0], &o->sim, pids, started, &forwarded) == 1 && read_all(fds[0], &r, sizeof r) == 1) {
        reported++;
        failed += !r.ok;
        if (o->report)
            o->report(r.point, (int)r.ok, o->ud);
    }
    close(fds[0]);
    int died = reap(pids, started);
    free(pids);
    munmap(next, sizeof *next);
    /* Fewer workers than asked for is slower, not wrong; a lost point is
     * wrong, unless a signal stopped the sweep. */
    if (died || (reported < n && !stopped(&o->sim))) {
        KT_ERROR(err, NULL, 0, 0, "%d of %d workers started, %d of them died; %lld of %lld points ran", started,
                 o->jobs, died, (long long)reported, (long long)n);
        return -1;
    }
    return failed;
}

int64_t workers_run(const sweep *sw, const char *db_path, int64_t sweep_id, const int64_t *points, int64_t n,
                    const workers_opts *o, kt_err *err)
{
    if (o->jobs <= 1 || n <= 1)
        return run_here(sw, db_path, sweep_id, points, n, o, err);
    workers_opts capped = *o;
    if (capped.jobs > n)
        capped.jobs = (int)n;
    return run_forked(sw, db_path, sweep_id, points, n, &capped, err);
}
