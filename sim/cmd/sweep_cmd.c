/* sweep_cmd.c — `kvtier sweep`: runs the points a results database lacks, here, in worker processes or over MPI ranks, then tables them. */
#include "sweep_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "grow.h"
#include "metrics.h"
#include "progress.h"
#include "report.h"
#include "sim.h"
#include "sweep_mpi.h"
#include "workers.h"

/* The table's columns when no --metric is given. */
static const char *const default_metrics[] = { "ttft_p99", "itl_p99", "throughput" };
#define N_DEFAULT_METRICS ((int)(sizeof default_metrics / sizeof default_metrics[0]))
/* A shard is the results database's path with this and the rank appended. */
#define SHARD_SUFFIX ".rank"
/* Table figures carry about this many significant digits, and at most
 * TABLE_MAX_DECIMALS decimals. */
/* The layout of --json's object. */
#define SWEEP_JSON_SCHEMA_VERSION 1
#define TABLE_DIGITS 4
#define TABLE_MAX_DECIMALS 3

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier sweep FILE [options]\n"
            "\n"
            "Runs every point of the sweep FILE (YAML: a base scenario, fixed overrides and axes\n"
            "whose cartesian product makes the points; README.md, \"Sweeps\") and stores each point\n"
            "as a run. Every point is validated before the first runs. Points already in the\n"
            "database are skipped, so a killed sweep resumes where it stopped. At the end a table\n"
            "of the points' results goes to standard output.\n"
            "\n"
            "options:\n"
            "  --db PATH         results database (default kvtier.db)\n"
            "  --jobs N          run points in N worker processes (default 1)\n"
            "  --mpi             under mpirun: rank r runs points r, r+N, ... into PATH.rank<r>,\n"
            "                    then rank 0 merges the shards into PATH\n"
            "  --list            print the points, one per line: index, then its overrides,\n"
            "                    tab-separated; nothing runs (for job arrays: kvtier run FILE --point K)\n"
            "  --set KEY=VALUE   a fixed override for every point, after the file's own; repeatable\n"
            "  --metric NAME     a summary metric for the table (repeatable; default ttft_p99,\n"
            "                    itl_p99, throughput; any name of the summary table)\n"
            "  --check           check the invariants: after every event what it touched, every\n"
            "                    %d events and at the end all of them (README: Invariants)\n"
            "  --max-wall D      give up after the duration D of wall-clock time (90s, 2h): the\n"
            "                    running points are abandoned, whole points stay; exit 1\n"
            "  --quiet           no progress on standard error\n"
            "  --json            print the points' table as JSON (axis values, run ids, metrics)\n"
            "  -h, --help        this text\n"
            "\n"
            "exit status: 0 every point stored, 1 a point failed or --max-wall ran out, 2 bad sweep\n"
            "file or options (nothing run, nothing written), 128 + N ended by signal N\n", SIM_CHECK_FULL_EVENTS);
}

typedef struct sweep_args {
    const char *file, *db;
    char **sets;
    const char **metrics;
    int n_sets, n_metrics, jobs, list, mpi, check, quiet, json;
    const volatile sig_atomic_t *stop; /* nonzero (the signal) once SIGINT or SIGTERM came */
    int64_t wall_deadline_ns;   /* 0, or when --max-wall runs out (cli_wall_now_ns) */
} sweep_args;

/* The unit of summary metric name, or NULL when there is no such metric. */
static const char *metric_unit(const char *name)
{
    /* Counts listed only when not zero are named too. */
    metrics_summary every = { .truncated = 1, .swap_outs = 1 };
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(&every, f);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return f[i].unit;
    return NULL;
}

static int check_metric(const char *name)
{
    if (metric_unit(name))
        return 0;
    fprintf(stderr, "kvtier sweep: --metric %s: not a summary metric (see: sqlite3 DB \"SELECT metric FROM summary"
                    " WHERE run_id = 1\")\n", name);
    return -1;
}

/* Parses the arguments into a (a->sets and a->metrics are the caller's to
 * free). Returns 0, 1 for --help, -1 on bad usage (said on stderr). */
static int parse(int argc, char **argv, sweep_args *a)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },  { "jobs", required_argument, NULL, 'j' },
        { "mpi", no_argument, NULL, 'm' },       { "list", no_argument, NULL, 'l' },
        { "set", required_argument, NULL, 's' }, { "metric", required_argument, NULL, 'M' },
        { "check", no_argument, NULL, 'c' },     { "quiet", no_argument, NULL, 'q' },
        { "max-wall", required_argument, NULL, 'W' }, { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, 'J' },      { NULL, 0, NULL, 0 },
    };
    *a = (sweep_args){ .db = "kvtier.db", .jobs = 1 };
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    a->metrics = calloc((size_t)argc + 1, sizeof *a->metrics);
    if (!a->sets || !a->metrics)
        return -1;
    int c, files = 0;
    int64_t jobs;
    optind = 0;
    while ((c = cli_option_next(argc, argv, "-:h", opts, "sweep")) != -1) {
        switch (c) {
        case 1:
            a->file = optarg;
            files++;
            break;
        case 'd':
            if (cli_parse_path("sweep", "--db", optarg, &a->db) < 0)
                return -1;
            break;
        case 'j':
            if (cli_parse_i64("sweep", "--jobs", optarg, 1, SWEEP_MAX_POINTS, &jobs) < 0)
                return -1;
            a->jobs = (int)jobs;
            break;
        case 'm': a->mpi = 1; break;
        case 'l': a->list = 1; break;
        case 's': a->sets[a->n_sets++] = optarg; break;
        case 'M':
            if (check_metric(optarg) < 0)
                return -1;
            a->metrics[a->n_metrics++] = optarg;
            break;
        case 'c': a->check = 1; break;
        case 'q': a->quiet = 1; break;
        case 'J': a->json = 1; break;
        case 'W':
            if (cli_parse_max_wall("sweep", optarg, &a->wall_deadline_ns) < 0)
                return -1;
            break;
        case 'h': return 1;
        default: return -1;
        }
    }
    if (files != 1) {
        cli_usage_error("sweep", "expected one sweep file, got %d", files);
        return -1;
    }
    if (a->mpi && a->jobs > 1) {
        fprintf(stderr, "kvtier sweep: --mpi and --jobs: give one (mpirun -np N sets the parallelism)\n");
        return -1;
    }
    if (!a->n_metrics)
        for (int i = 0; i < N_DEFAULT_METRICS; i++)
            a->metrics[a->n_metrics++] = default_metrics[i];
    return 0;
}

/* Progress and notes go to stderr unless --quiet. */
static FILE *notes(const sweep_args *a)
{
    return a->quiet ? NULL : stderr;
}

/* ---------- listing ---------- */

static int list_points(const sweep *sw)
{
    for (int64_t p = 0; p < sw->n_points; p++) {
        printf("%lld", (long long)p);
        char *sets[sw->n_sets + sw->n_axes];
        int n = sweep_point_sets(sw, p, sets);
        for (int i = sw->n_sets; i < n; i++)
            printf("\t%s", sets[i]);
        putchar('\n');
    }
    return 0;
}

/* ---------- the database ---------- */

int64_t sweepcmd_register(store *db, const sweep *sw, kt_err *err)
{
    store_sweep ss = { .key = sw->key, .name = sw->name, .file = sw->file, .points = sw->n_points };
    return store_sweep_add(db, &ss, err);
}

/* Records sw in the database at path and, when done != NULL, marks its stored
 * points there (*n_done counts them). Closes the database again, so that
 * workers may fork. Returns the sweep's id, or -1 with err. */
static int64_t register_at(const char *path, const sweep *sw, unsigned char *done, int64_t *n_done, kt_err *err)
{
    store *db = store_open(path, err);
    if (!db)
        return -1;
    int64_t id = sweepcmd_register(db, sw, err);
    if (id > 0 && done) {
        *n_done = store_sweep_done(db, id, done, sw->n_points, err);
        if (*n_done < 0)
            id = -1;
    }
    store_close(db);
    return id;
}

/* Figures with about TABLE_DIGITS significant digits; "-" when absent. */
static void format_value(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "-");
        return;
    }
    int magnitude = v == 0 ? 0 : (int)floor(log10(fabs(v)));
    int decimals = TABLE_DIGITS - 1 - magnitude;
    decimals = decimals < 0 ? 0 : decimals > TABLE_MAX_DECIMALS ? TABLE_MAX_DECIMALS : decimals;
    snprintf(buf, n, "%.*f", decimals, v);
}

/* What the table shows: the points' runs and metric values. */
typedef struct table {
    const sweep *sw;
    const sweep_args *a;
    int64_t *runs;
    double *values;
} table;

/* Text of column col of row p (p < 0: the header) into buf. Columns: point,
 * run, one per axis, one per metric. Returns 1 for left-aligned text. */
static int cell(const table *t, int64_t p, int col, char *buf, size_t n)
{
    int n_axes = t->sw->n_axes;
    if (col < 2) {
        if (p < 0)
            snprintf(buf, n, "%s", col ? "run" : "point");
        else if (col == 1 && !t->runs[p])
            snprintf(buf, n, "-");
        else
            snprintf(buf, n, "%lld", (long long)(col ? t->runs[p] : p));
        return 0;
    }
    if (col < 2 + n_axes) {
        snprintf(buf, n, "%s", p < 0 ? t->sw->axes[col - 2].key : sweep_point_value(t->sw, p, col - 2));
        return 1;
    }
    int m = col - 2 - n_axes;
    if (p < 0)
        snprintf(buf, n, "%s (%s)", t->a->metrics[m], metric_unit(t->a->metrics[m]));
    else
        format_value(t->values[p * t->a->n_metrics + m], buf, n);
    return 0;
}

static void print_rows(const table *t)
{
    int n_cols = 2 + t->sw->n_axes + t->a->n_metrics;
    int width[n_cols];
    char buf[256];
    for (int c = 0; c < n_cols; c++) {
        width[c] = 0;
        for (int64_t p = -1; p < t->sw->n_points; p++) {
            cell(t, p, c, buf, sizeof buf);
            int len = (int)strlen(buf);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (int64_t p = -1; p < t->sw->n_points; p++) {
        for (int c = 0; c < n_cols; c++) {
            int left = cell(t, p, c, buf, sizeof buf);
            printf("%s%*s", c ? "  " : "", left ? -width[c] : width[c], buf);
        }
        putchar('\n');
    }
}

/* The table as one JSON object (--json): schema and program versions, the
 * sweep, its axes and metrics with units, then per point its index, run id
 * (null when not stored), axis values and metric values (null when absent). */
static void print_json(const table *t, int64_t sweep_id, const char *path)
{
    const sweep *sw = t->sw;
    json_t *o = json_object(), *axes = json_array(), *mets = json_object(), *points = json_array();
    for (int k = 0; k < sw->n_axes; k++)
        json_array_append_new(axes, json_string(sw->axes[k].key));
    for (int m = 0; m < t->a->n_metrics; m++)
        json_object_set_new(mets, t->a->metrics[m], json_string(metric_unit(t->a->metrics[m])));
    for (int64_t p = 0; p < sw->n_points; p++) {
        json_t *pt = json_object(), *params = json_object(), *vals = json_object();
        for (int k = 0; k < sw->n_axes; k++)
            json_object_set_new(params, sw->axes[k].key, json_string(sweep_point_value(sw, p, k)));
        for (int m = 0; m < t->a->n_metrics; m++)
            json_object_set_new(vals, t->a->metrics[m],
                                report_value_json(t->values[p * t->a->n_metrics + m], metric_unit(t->a->metrics[m])));
        json_object_set_new(pt, "point", json_integer(p));
        json_object_set_new(pt, "run_id", t->runs[p] ? json_integer(t->runs[p]) : json_null());
        json_object_set_new(pt, "params", params);
        json_object_set_new(pt, "metrics", vals);
        json_array_append_new(points, pt);
    }
    json_object_set_new(o, "schema_version", json_integer(SWEEP_JSON_SCHEMA_VERSION));
    json_object_set_new(o, "program_version", json_string(PACKAGE_VERSION));
    json_object_set_new(o, "sweep", json_string(sw->name));
    json_object_set_new(o, "sweep_id", json_integer(sweep_id));
    json_object_set_new(o, "database", json_string(path));
    json_object_set_new(o, "axes", axes);
    json_object_set_new(o, "units", mets);
    json_object_set_new(o, "points", points);
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(o);
}

/* Prints every point of sw with its run and metrics, from the database at path. */
static int print_table(const sweep_args *a, const sweep *sw, const char *path)
{
    kt_err err;
    table t = { .sw = sw, .a = a, .runs = calloc((size_t)sw->n_points, sizeof *t.runs),
                .values = calloc((size_t)(sw->n_points * a->n_metrics), sizeof *t.values) };
    store *db = t.runs && t.values ? store_open(path, &err) : NULL;
    int64_t id = db ? sweepcmd_register(db, sw, &err) : -1;
    int rc = id > 0 ? store_sweep_results(db, id, sw->n_points, a->metrics, a->n_metrics, t.runs, t.values, &err)
                    : -1;
    store_close(db);
    if (rc == 0 && a->json) {
        print_json(&t, id, path);
    } else if (rc == 0) {
        printf("sweep '%s': %lld points in %s\n", sw->name, (long long)sw->n_points, path);
        print_rows(&t);
    } else if (t.runs && t.values) {
        kt_err_print(&err, stderr);
    }
    free(t.runs);
    free(t.values);
    return rc;
}

/* ---------- shards ---------- */

/* Whether name is base + SHARD_SUFFIX + digits. */
static int is_shard_of(const char *name, const char *base)
{
    size_t b = strlen(base), s = strlen(SHARD_SUFFIX);
    if (strncmp(name, base, b) != 0 || strncmp(name + b, SHARD_SUFFIX, s) != 0 || !name[b + s])
        return 0;
    return strspn(name + b + s, "0123456789") == strlen(name + b + s);
}

static int by_rank(const void *x, const void *y)
{
    const char *a = strrchr(*(char *const *)x, '.'), *b = strrchr(*(char *const *)y, '.');
    long ra = strtol(a + strlen(SHARD_SUFFIX), NULL, 10), rb = strtol(b + strlen(SHARD_SUFFIX), NULL, 10);
    return (ra > rb) - (ra < rb);
}

/* Paths of the shards of the database at db_path (db_path.rank<r>), in rank
 * order; *n counts them. Caller frees each and the array. NULL when none. */
static char **find_shards(const char *db_path, int *n)
{
    char dir_buf[4096], base_buf[4096];
    snprintf(dir_buf, sizeof dir_buf, "%s", db_path);
    snprintf(base_buf, sizeof base_buf, "%s", db_path);
    const char *dir = dirname(dir_buf), *base = basename(base_buf);
    char **paths = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!is_shard_of(e->d_name, base))
            continue;
        char **grown = grow_array(paths, &cap, (size_t)*n + 1, sizeof *paths);
        if (!grown)
            break;
        paths = grown;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(paths[*n] = malloc(len)))
            break;
        snprintf(paths[(*n)++], len, "%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    if (paths)
        qsort(paths, (size_t)*n, sizeof *paths, by_rank);
    return paths;
}

/* Removes a database file and its WAL companions. */
static void remove_db(const char *path)
{
    static const char *const companions[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < sizeof companions / sizeof companions[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, companions[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            fprintf(stderr, "kvtier sweep: cannot remove %s: %s\n", p, strerror(errno));
    }
}

/* Merges every shard of the database at db_path into it, in rank order, and
 * removes each merged shard. Shards a killed run left behind are merged
 * like the others: their points are kept. Returns 0 or -1 with err (the
 * shard that failed and those after it stay). */
static int merge_shards(const sweep_args *a, kt_err *err)
{
    int n;
    char **shards = find_shards(a->db, &n);
    if (!n) {
        free(shards);
        return 0;
    }
    store *db = store_open(a->db, err);
    int rc = db ? 0 : -1;
    for (int i = 0; i < n; i++) {
        int64_t copied = rc == 0 ? store_merge(db, shards[i], err) : -1;
        if (copied >= 0) {
            if (notes(a))
                fprintf(stderr, "sweep: merged %lld point%s from %s\n", (long long)copied, copied == 1 ? "" : "s",
                        shards[i]);
            remove_db(shards[i]);
        }
        rc = copied < 0 ? -1 : rc;
        free(shards[i]);
    }
    free(shards);
    store_close(db);
    return rc;
}

/* ---------- running here ---------- */

/* The points a local sweep has stored, and its progress bar. */
typedef struct local_count {
    progress bar;
    int64_t stored;             /* points in the database, those found there at the start too */
} local_count;

static void count_point(int64_t point, int ok, void *ud)
{
    local_count *lc = ud;
    lc->stored += ok;
    progress_step(&lc->bar);
}

/* Says that signal sig (0: the --max-wall limit) ended the sweep and what
 * the database holds: each point is one transaction, so whole points only
 * (stored of n; stored < 0 when unknown). Returns 128 + sig, or 1. */
static int sweep_interrupted(int sig, int64_t stored, int64_t n, const char *where)
{
    char buf[32], count[64] = "", why[64];
    if (stored >= 0)
        snprintf(count, sizeof count, "%lld of %lld ", (long long)stored, (long long)n);
    if (sig)
        snprintf(why, sizeof why, "interrupted (%s)", cli_signal_name(sig, buf, sizeof buf));
    else
        snprintf(why, sizeof why, "stopped at the wall-clock limit (--max-wall)");
    fprintf(stderr, "kvtier sweep: %s; %spoints are stored in %s, none in part (run the sweep again to resume)\n",
            why, count, where);
    return sig ? CLI_EXIT_SIGNALED(sig) : CLI_EXIT_RUN_FAILED;
}

/* The points not yet stored, in order, into pending; returns how many. */
static int64_t pending_points(const unsigned char *done, int64_t n, int64_t rank, int64_t ranks, int64_t *pending)
{
    int64_t count = 0;
    for (int64_t p = rank; p < n; p += ranks)
        if (!done[p])
            pending[count++] = p;
    return count;
}

static int run_local(const sweep_args *a, const sweep *sw)
{
    kt_err err;
    int64_t n = sw->n_points, n_done = 0;
    unsigned char *done = calloc((size_t)n, 1);
    int64_t *pending = calloc((size_t)n, sizeof *pending);
    /* Shards of this database (from MPI or job-array tasks) are merged first. */
    int64_t id = done && pending && merge_shards(a, &err) == 0 ? register_at(a->db, sw, done, &n_done, &err) : -1;
    if (id < 0) {
        if (done && pending)
            kt_err_print(&err, stderr);
        free(done);
        free(pending);
        return CLI_EXIT_BAD_INPUT;
    }
    int64_t n_pending = pending_points(done, n, 0, 1, pending);
    if (notes(a))
        fprintf(stderr, "sweep '%s': %lld points, %lld already in %s, %lld to run\n", sw->name, (long long)n,
                (long long)n_done, a->db, (long long)n_pending);
    local_count lc = { .stored = n_done };
    progress_start(&lc.bar, notes(a), "sweep", "points", n, n_done);
    workers_opts o = { .jobs = a->jobs,
                       .sim = { .check = a->check, .stop = a->stop, .wall_deadline_ns = a->wall_deadline_ns },
                       .report = count_point, .ud = &lc };
    int64_t failed = workers_run(sw, a->db, id, pending, n_pending, &o, &err);
    progress_finish(&lc.bar);
    if (failed < 0)
        kt_err_print(&err, stderr);
    int rc;
    if (*a->stop || (failed >= 0 && lc.stored < n && sim_past_deadline(&o.sim)))
        rc = sweep_interrupted(*a->stop, lc.stored, n, a->db);
    else
        rc = print_table(a, sw, a->db) < 0 || failed ? CLI_EXIT_RUN_FAILED : 0;
    free(done);
    free(pending);
    return rc;
}

/* ---------- over MPI ranks ---------- */

/* The exit code every rank goes on with after a step that may have failed
 * (rc != 0, err saying why) on some ranks: the worst. Each failure is said
 * once: rank 0's when it failed (the others read the same files and failed
 * alike), else each failing rank's own (a file missing on its node, say). */
static int agree(const sweep_args *a, int rank, int rc, const kt_err *err)
{
    int rc0 = rc;
    if (a->mpi)
        sweepmpi_bcast(&rc0, sizeof rc0);
    if (rc && (rank == 0 || !rc0))
        kt_err_print(err, stderr);
    return a->mpi ? sweepmpi_max(rc) : rc;
}

/* Rank 0's view of the others' progress. */
typedef struct mpi_progress {
    progress bar;
    int finished;               /* ranks that said they are done */
} mpi_progress;

/* Whether hear_ranks blocks until a message comes. */
typedef enum hear_mode { HEAR_PENDING, HEAR_WAIT } hear_mode;

/* Takes the others' messages: those pending, or with HEAR_WAIT the next
 * one whenever it comes. Returns 0 when none was pending. */
static int hear_ranks(mpi_progress *mp, hear_mode mode)
{
    int64_t point;
    int ok;
    switch (sweepmpi_receive(mode == HEAR_WAIT, &point, &ok)) {
    case SWEEPMPI_POINT: progress_step(&mp->bar); return 1;
    case SWEEPMPI_FINISHED: mp->finished++; return 1;
    default: return 0;
    }
}

/* Rank 0 counts its own point and whatever the others reported meanwhile. */
static void rank0_point(int64_t point, int ok, void *ud)
{
    mpi_progress *mp = ud;
    progress_step(&mp->bar);
    while (hear_ranks(mp, HEAR_PENDING))
        ;
}

static void remote_point(int64_t point, int ok, void *ud)
{
    sweepmpi_report(point, ok);
}

/* Runs this rank's points into its shard; rank 0 also shows everyone's
 * progress until every other rank has finished. Returns how many failed, or -1. */
static int64_t run_rank(const sweep_args *a, const sweep *sw, const unsigned char *done, int64_t n_done, int rank,
                        int size)
{
    kt_err err;
    char shard[4200];
    snprintf(shard, sizeof shard, "%s%s%d", a->db, SHARD_SUFFIX, rank);
    int64_t *mine = calloc((size_t)sw->n_points, sizeof *mine);
    int64_t n_mine = mine ? pending_points(done, sw->n_points, rank, size, mine) : 0;
    mpi_progress mp = { .finished = 0 };
    progress_start(&mp.bar, rank == 0 ? notes(a) : NULL, "sweep", "points", sw->n_points, n_done);
    workers_opts o = { .jobs = 1,
                       .sim = { .check = a->check, .stop = a->stop, .wall_deadline_ns = a->wall_deadline_ns },
                       .report = rank == 0 ? rank0_point : remote_point, .ud = &mp };
    int64_t id = mine ? register_at(shard, sw, NULL, NULL, &err) : -1;
    int64_t failed = id > 0 ? workers_run(sw, shard, id, mine, n_mine, &o, &err) : -1;
    if (failed < 0)
        fprintf(stderr, "kvtier sweep: rank %d: %s\n", rank, mine ? err.msg : "out of memory");
    if (rank != 0)
        sweepmpi_finished();
    while (rank == 0 && mp.finished < size - 1)
        hear_ranks(&mp, HEAR_WAIT);
    progress_finish(&mp.bar);
    free(mine);
    return failed;
}

static int run_mpi(const sweep_args *a, const sweep *sw, int rank, int size)
{
    kt_err err;
    int64_t n_done = 0;
    unsigned char *done = calloc((size_t)sw->n_points, 1);
    int rc = 0;
    if (!done) {
        KT_ERROR(&err, NULL, 0, 0, "kvtier sweep: out of memory");
        rc = CLI_EXIT_RUN_FAILED;
    }
    /* Rank 0 first keeps what an earlier, killed run left in shards. */
    if (rank == 0 && rc == 0 && (merge_shards(a, &err) < 0 || register_at(a->db, sw, done, &n_done, &err) < 0))
        rc = CLI_EXIT_BAD_INPUT;
    rc = agree(a, rank, rc, &err);
    if (rc) {
        free(done);
        return rc;
    }
    sweepmpi_bcast(done, sw->n_points);
    if (rank == 0 && notes(a))
        fprintf(stderr, "sweep '%s': %lld points, %lld already in %s, %lld to run on %d rank%s\n", sw->name,
                (long long)sw->n_points, (long long)n_done, a->db, (long long)(sw->n_points - n_done), size,
                size == 1 ? "" : "s");
    int64_t failed = run_rank(a, sw, done, n_done, rank, size);
    free(done);
    /* Every shard is closed once all ranks are past this point. A signal on
     * any rank (mpirun forwards one to all) makes the worst status 128 + it. */
    sim_opts limit = { .wall_deadline_ns = a->wall_deadline_ns };
    int late = sweepmpi_max(sim_past_deadline(&limit));
    rc = sweepmpi_max(*a->stop ? CLI_EXIT_SIGNALED(*a->stop) : failed || late ? CLI_EXIT_RUN_FAILED : 0);
    if (rank == 0 && merge_shards(a, &err) < 0) {
        kt_err_print(&err, stderr);
        rc = CLI_EXIT_RUN_FAILED;
    }
    if (rank == 0 && (rc > CLI_EXIT_SIGNALED(0) || late)) {
        unsigned char *stored = calloc((size_t)sw->n_points, 1);
        n_done = 0;
        if (!stored || register_at(a->db, sw, stored, &n_done, &err) < 0)
            n_done = -1;
        free(stored);
        sweep_interrupted(rc > CLI_EXIT_SIGNALED(0) ? rc - CLI_EXIT_SIGNALED(0) : 0, n_done, sw->n_points, a->db);
    } else if (rank == 0 && print_table(a, sw, a->db) < 0)
        rc = CLI_EXIT_RUN_FAILED;
    return rc;
}

/* ---------- the command ---------- */

/* Loads the sweep, then lists it, or validates it (rank 0) and runs it. */
static int sweep_body(const sweep_args *a, int rank, int size)
{
    kt_err err;
    sweep *sw = sweep_load(a->file, a->sets, a->n_sets, &err);
    int rc = agree(a, rank, sw ? 0 : CLI_EXIT_BAD_INPUT, &err);
    if (rc == 0 && a->list)
        rc = rank == 0 ? list_points(sw) : 0;
    else if (rc == 0) {
        rc = agree(a, rank, rank == 0 && sweep_validate(sw, &err) < 0 ? CLI_EXIT_BAD_INPUT : 0, &err);
        if (rc == 0)
            rc = a->mpi ? run_mpi(a, sw, rank, size) : run_local(a, sw);
    }
    sweep_free(sw);
    return rc;
}

int sweepcmd_main(int argc, char **argv)
{
    sweep_args a;
    int rc = parse(argc, argv, &a);
    if (rc) {
        if (rc > 0)
            usage(stdout);
        rc = rc > 0 ? 0 : CLI_EXIT_BAD_INPUT;
    } else {
        int rank = 0, size = 1;
        kt_err err;
        if (a.mpi && sweepmpi_init(&rank, &size, &err) < 0) {
            kt_err_print(&err, stderr);
            rc = CLI_EXIT_BAD_INPUT;
        } else {
            a.stop = cli_catch_stop();
            rc = sweep_body(&a, rank, size);
            if (a.mpi)
                sweepmpi_finalize();
        }
    }
    free(a.sets);
    free(a.metrics);
    return rc;
}
