/* test_sweep.c — sweeps: points and ranges worked out by hand, located errors, resuming after SIGKILL, --jobs, --list, run --point and MPI ranks giving the rows of a serial sweep. Built twice: with TEST_SWEEP_MPI it holds the MPI test alone. */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conf.h"
#include "sweep.h"
#include "testutil.h"

/* The checked-in 2 × 3 sweep: rate 2/s or 4/s, block tokens 16, 32, 48. */
#define FIXTURE "tests/data/sweep.yaml"
#define FIXTURE_POINTS 6
/* Its points, worked out by hand: the last axis varies fastest. */
static const char *const fixture_params[FIXTURE_POINTS] = {
    "workload.arrival.rate=2/s\nkv.block_tokens=16", "workload.arrival.rate=2/s\nkv.block_tokens=32",
    "workload.arrival.rate=2/s\nkv.block_tokens=48", "workload.arrival.rate=4/s\nkv.block_tokens=16",
    "workload.arrival.rate=4/s\nkv.block_tokens=32", "workload.arrival.rate=4/s\nkv.block_tokens=48",
};
/* Ten times the sessions: each point takes about a tenth of a second, so a
 * SIGKILL lands after the first point and well before the last. */
#define SLOW_SET "workload.sessions=2000"
/* How long the kill test waits for the first point, and how often it looks. */
#define KILL_WAIT_S 60
#define KILL_POLL_NS 2000000L
/* After a kill, longer than the sweep's remaining points would take. */
#define WORKER_SETTLE_NS 400000000L

/* ---------- scratch files ---------- */

static char scratch_dir[] = "/tmp/kvtier-sweep-XXXXXX";
/* Whether mkdtemp made it: its random suffix may itself end in 'X'. */
static int scratch_made;

/* Paths handed out so far: one per name, freed at the end. */
static char *scratch_paths[64];
static int n_scratch_paths;

/* The path of name under this program's scratch directory (made on first
 * use); the same name always gives the same string. */
static const char *scratch(const char *name)
{
    if (!scratch_made) {
        CU_ASSERT_FATAL(mkdtemp(scratch_dir) != NULL);
        scratch_made = 1;
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", scratch_dir, name);
    for (int i = 0; i < n_scratch_paths; i++)
        if (strcmp(scratch_paths[i], buf) == 0)
            return scratch_paths[i];
    CU_ASSERT_FATAL(n_scratch_paths < (int)(sizeof scratch_paths / sizeof scratch_paths[0]));
    return scratch_paths[n_scratch_paths++] = strdup(buf);
}

/* Removes the scratch directory and the files in it (it has no subdirectories). */
static void scratch_cleanup(void)
{
    if (!scratch_made)
        return;
    DIR *d = opendir(scratch_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", scratch_dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(scratch_dir);
    for (int i = 0; i < n_scratch_paths; i++)
        free(scratch_paths[i]);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---------- running kvtier ---------- */

/* In a sanitized build, makes the MPI ranks record whole allocation stacks:
 * Open MPI is built without frame pointers, and tests/lsan-thirdparty.supp
 * recognizes its leaks by the Open MPI frames deep in their stacks. Slow, so
 * for the ranks alone. */
static void asan_whole_stacks(void)
{
    tu_asan_option_add("fast_unwind_on_malloc=0");
}

/* How start() prepares the child's environment. */
enum { START_PLAIN = 0, START_MPI = 1, START_KILLED = 2 };

/* Starts argv (argv[0] looked up in PATH unless it contains '/') with
 * stdout and stderr going to files under the scratch directory. */
static pid_t start(char *const *argv, const char *out, const char *err, int how)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(127);
        if (how & START_KILLED)
            tu_child_will_be_killed();
        if (how & START_MPI) {
            /* CI runs as root; Open MPI refuses that unless told twice. */
            setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
            setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
            asan_whole_stacks();
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Runs argv to the end; returns its exit code (128 + signal when killed) and output. */
static tu_output run_argv(char *const *argv, int mpi_env)
{
    const char *out = scratch("stdout"), *err = scratch("stderr");
    int status;
    pid_t pid = start(argv, out, err, mpi_env);
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    tu_output r = { WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out), slurp(err) };
    return r;
}

/* `kvtier ARGS...` (NULL-terminated, at most 15). */
static tu_output kvtier(const char *first, ...)
{
    char *argv[16] = { (char *)tu_build_path("sim/kvtier") };
    va_list ap;
    va_start(ap, first);
    int n = 1;
    for (const char *a = first; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    return run_argv(argv, 0);
}

/* ---------- comparing databases ---------- */

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* 1 when column c is compared: not the run id (runs are matched by their
 * sweep point instead), a sweep id, a wall time or a time stamp, which
 * differ between equal sweeps; nor a row id (own_id: runs', or that of a
 * table not keyed by run), while a request's id within its run is compared. */
static int compared(const char *c, int own_id)
{
    static const char *const skipped[] = { "run_id", "sweep_id", "wall_s", "started_utc", "created_utc", NULL };
    for (int i = 0; skipped[i]; i++)
        if (!strcmp(c, skipped[i]))
            return 0;
    return !(own_id && !strcmp(c, "id"));
}

/* The compared columns of table as "t.a, t.b, ..." into cols; returns 1
 * when the table is keyed by run (runs itself, or a run_id column). */
static int compared_columns(sqlite3 *db, const char *table, char *cols, size_t n)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = 'run_id'", table);
    int is_runs = !strcmp(table, "runs"), by_run = is_runs || query_int(db, sql) > 0;
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') ORDER BY cid", table);
    sqlite3_stmt *st;
    cols[0] = '\0';
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        if (!compared(c, is_runs || !by_run))
            continue;
        size_t len = strlen(cols);
        snprintf(cols + len, n - len, "%st.\"%s\"", len ? ", " : "", c);
    }
    sqlite3_finalize(st);
    return by_run;
}

/* Rows of table that database a has and b lacks, plus the reverse, plus any
 * difference in row counts; rows of runs are matched by their sweep point. */
static int64_t table_difference(sqlite3 *db, const char *table)
{
    char cols[4096], q_main[8192], q_other[8192], sql[4 * 8192 + 1024];
    int by_run = compared_columns(db, table, cols, sizeof cols);
    const char *join = !by_run                  ? ""
                       : !strcmp(table, "runs") ? " JOIN %s.sweep_points sp ON sp.run_id = t.id"
                                                : " JOIN %s.sweep_points sp ON sp.run_id = t.run_id";
    const char *point = by_run ? "sp.point, " : "";
    char jm[128], jo[128];
    snprintf(jm, sizeof jm, join, "main");
    snprintf(jo, sizeof jo, join, "other");
    snprintf(q_main, sizeof q_main, "SELECT %s%s FROM main.\"%s\" t%s", point, cols, table, jm);
    snprintf(q_other, sizeof q_other, "SELECT %s%s FROM other.\"%s\" t%s", point, cols, table, jo);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + (SELECT count(*) FROM (%s EXCEPT %s))"
             " + abs((SELECT count(*) FROM main.\"%s\") - (SELECT count(*) FROM other.\"%s\"))",
             q_main, q_other, q_other, q_main, table, table);
    return query_int(db, sql);
}

/* Whether two sweep databases hold the same rows in every table (run ids,
 * wall and start times aside), and are both intact. */
static void assert_same_rows(const char *a, const char *b)
{
    sqlite3 *db;
    CU_ASSERT_FATAL(sqlite3_open(a, &db) == SQLITE_OK);
    char attach[4200];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS other", b);
    CU_ASSERT_FATAL(sqlite3_exec(db, attach, NULL, NULL, NULL) == SQLITE_OK);
    char *ok_a = query_text(db, "PRAGMA main.integrity_check"), *ok_b = query_text(db, "PRAGMA other.integrity_check");
    CU_ASSERT_STRING_EQUAL(ok_a ? ok_a : "", "ok");
    CU_ASSERT_STRING_EQUAL(ok_b ? ok_b : "", "ok");
    free(ok_a);
    free(ok_b);
    sqlite3_stmt *st;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name",
                                       -1, &st, NULL) == SQLITE_OK);
    int tables = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        int64_t d = table_difference(db, t);
        if (d != 0)
            fprintf(stderr, "\n  table %s: %lld rows differ between %s and %s\n", t, (long long)d, a, b);
        CU_ASSERT_EQUAL(d, 0);
        tables++;
    }
    sqlite3_finalize(st);
    CU_ASSERT(tables >= 10);
    sqlite3_close(db);
}

/* Checks the fixture sweep's points in database path: each stored once,
 * with the params worked out by hand, each run belonging to a point. */
static void assert_fixture_points(const char *path)
{
    sqlite3 *db;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(query_int(db, "SELECT count(*) FROM sweeps"), 1);
    CU_ASSERT_EQUAL(query_int(db, "SELECT points FROM sweeps"), FIXTURE_POINTS);
    CU_ASSERT_EQUAL(query_int(db, "SELECT count(*) FROM sweep_points"), FIXTURE_POINTS);
    CU_ASSERT_EQUAL(query_int(db, "SELECT count(DISTINCT point) FROM sweep_points"), FIXTURE_POINTS);
    CU_ASSERT_EQUAL(query_int(db, "SELECT count(*) FROM runs"), FIXTURE_POINTS);
    CU_ASSERT_EQUAL(query_int(db, "SELECT count(*) FROM runs WHERE id NOT IN (SELECT run_id FROM sweep_points)"), 0);
    for (int p = 0; p < FIXTURE_POINTS; p++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT params FROM sweep_points WHERE point = %d", p);
        char *params = query_text(db, sql);
        CU_ASSERT_STRING_EQUAL(params ? params : "", fixture_params[p]);
        free(params);
        /* The run really is that point: its effective scenario has the overrides. */
        snprintf(sql, sizeof sql,
                 "SELECT instr(r.scenario_yaml, 'block_tokens: %d') > 0 AND instr(r.scenario_yaml, 'rate: %d/s') > 0"
                 " FROM runs r JOIN sweep_points sp ON sp.run_id = r.id WHERE sp.point = %d",
                 16 * (p % 3 + 1), p < 3 ? 2 : 4, p);
        CU_ASSERT_EQUAL(query_int(db, sql), 1);
    }
    sqlite3_close(db);
}

/* A serial, uninterrupted sweep of the fixture (with extra --set args when
 * given) into a database of its own, made once per set. */
static const char *reference_db(const char *set)
{
    const char *path = scratch(set ? "reference-slow.db" : "reference.db");
    if (!exists(path)) {
        tu_output r = set ? kvtier("sweep", tu_path(FIXTURE), "--db", path, "--quiet", "--set", set, NULL)
                          : kvtier("sweep", tu_path(FIXTURE), "--db", path, "--quiet", NULL);
        CU_ASSERT_EQUAL(r.rc, 0);
        tu_output_free(&r);
    }
    return path;
}

#ifndef TEST_SWEEP_MPI

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A sweep file in the scratch directory over tests/data/e2e.yaml (absolute
 * path), with body the lines after "base:". Returns its path. */
static const char *sweep_file(const char *name, const char *body)
{
    char base[4096], text[8192];
    CU_ASSERT_FATAL(realpath(tu_path("tests/data/e2e.yaml"), base) != NULL);
    snprintf(text, sizeof text, "sweep:\n  base: %s\n%s", base, body);
    const char *path = scratch(name);
    write_file(path, text);
    return path;
}

/* ---------- points ---------- */

/* The 2 × 3 fixture: six points in order, the last axis fastest. */
static void test_points_in_order(void)
{
    kt_err err;
    sweep *sw = sweep_load(tu_path(FIXTURE), NULL, 0, &err);
    if (!sw)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sw);
    CU_ASSERT_EQUAL(sw->n_axes, 2);
    CU_ASSERT_EQUAL(sw->n_points, FIXTURE_POINTS);
    CU_ASSERT_STRING_EQUAL(sw->name, "test-sweep");
    CU_ASSERT_EQUAL(sw->n_sets, 2);
    CU_ASSERT_EQUAL(strlen(sw->key), SWEEP_KEY_HEX);
    /* The base is taken relative to the sweep file's directory. */
    CU_ASSERT_PTR_NOT_NULL(strstr(sw->base, "tests/data/e2e.yaml"));
    for (int p = 0; p < FIXTURE_POINTS; p++) {
        char *params = sweep_point_params(sw, p);
        CU_ASSERT_STRING_EQUAL(params, fixture_params[p]);
        free(params);
        CU_ASSERT_EQUAL(sweep_value_index(sw, p, 0), p / 3);
        CU_ASSERT_EQUAL(sweep_value_index(sw, p, 1), p % 3);
        char *sets[4];
        CU_ASSERT_EQUAL(sweep_point_sets(sw, p, sets), 4);
        CU_ASSERT_STRING_EQUAL(sets[0], "workload.sessions=200");
        CU_ASSERT_STRING_EQUAL(sets[1], "results.itl_gaps=false");
    }
    CU_ASSERT_STRING_EQUAL(sweep_point_value(sw, 4, 0), "4/s");
    CU_ASSERT_STRING_EQUAL(sweep_point_value(sw, 4, 1), "32");
    CU_ASSERT_EQUAL(sweep_validate(sw, &err), 0);
    sweep_free(sw);
}

/* The values of a one-axis sweep with the given axis body, joined by '|'. */
static char *axis_values(const char *axis, kt_err *err)
{
    char body[1024];
    snprintf(body, sizeof body, "  axes:\n    - key: x.y\n      %s\n", axis);
    sweep *sw = sweep_load(sweep_file("axis.yaml", body), NULL, 0, err);
    if (!sw)
        return NULL;
    char *out = calloc(1, 4096);
    for (int64_t p = 0; p < sw->n_points; p++) {
        size_t len = strlen(out);
        snprintf(out + len, 4096 - len, "%s%s", p ? "|" : "", sweep_point_value(sw, p, 0));
    }
    sweep_free(sw);
    return out;
}

static void check_axis(const char *axis, const char *want)
{
    kt_err err;
    char *got = axis_values(axis, &err);
    if (!got)
        kt_err_print(&err, stderr);
    CU_ASSERT_STRING_EQUAL(got ? got : "(error)", want);
    free(got);
}

/* Ranges are inclusive and computed as from + i × step, not by adding up. */
static void test_range_arithmetic(void)
{
    /* (0.5 - 0.1) / 0.1 = 3.9999999999999996: the end is still reached. */
    check_axis("range: {from: 0.1, to: 0.5, step: 0.1}", "0.1|0.2|0.3|0.4|0.5");
    /* 1, 1.3, 1.6, 1.9; 2.2 would pass 2. */
    check_axis("range: {from: 1, to: 2, step: 0.3}", "1|1.3|1.6|1.9");
    check_axis("range: {from: 10, to: 0, step: -5}", "10|5|0");
    /* -0.3 + 3 × 0.1 is 5.55e-17 in binary; it is written 0. */
    check_axis("range: {from: -0.3, to: 0.3, step: 0.1}", "-0.3|-0.2|-0.1|0|0.1|0.2|0.3");
    check_axis("range: {from: 16GiB, to: 64GiB, step: 16GiB}", "16GiB|32GiB|48GiB|64GiB");
    check_axis("range: {from: 7, to: 7, step: 1}", "7");
    check_axis("range: {from: 1000, to: 3000, step: 1000}", "1000|2000|3000");
}

/* Values keep their YAML type as flow text: numbers plain, strings quoted
 * when written quoted, lists and maps in flow style. */
static void test_flow_values(void)
{
    check_axis("values: [2/s, -1, \"8\", [1, 2], {dist: constant, value: 5}, 'a, b', ~]",
               "2/s|-1|\"8\"|[1, 2]|{dist: constant, value: 5}|\"a, b\"|~");
    check_axis("values:\n        - 1\n        - {a: [x, y]}", "1|{a: [x, y]}");
}

/* The key follows the effective definition, not the file's layout. */
static void test_key(void)
{
    kt_err err;
    const char *axes = "  axes:\n    - key: kv.block_tokens\n      values: [16, 32]\n";
    char body[1024];
    snprintf(body, sizeof body, "  set: [\"workload.sessions=50\"]\n%s", axes);
    sweep *a = sweep_load(sweep_file("k1.yaml", body), NULL, 0, &err);
    snprintf(body, sizeof body, "  # the same sweep, written differently\n  name: other-name\n  set:\n    - workload.sessions=50\n"
                                "  axes:\n    - {key: kv.block_tokens, values: [16, 32]}\n");
    sweep *b = sweep_load(sweep_file("k2.yaml", body), NULL, 0, &err);
    /* The same override given on the command line. */
    char *cli[] = { "workload.sessions=50" };
    sweep *c = sweep_load(sweep_file("k3.yaml", axes), cli, 1, &err);
    snprintf(body, sizeof body, "  set: [\"workload.sessions=51\"]\n%s", axes);
    sweep *d = sweep_load(sweep_file("k4.yaml", body), NULL, 0, &err);
    snprintf(body, sizeof body, "  set: [\"workload.sessions=50\"]\n  axes:\n    - key: kv.block_tokens\n      values: [16, 64]\n");
    sweep *e = sweep_load(sweep_file("k5.yaml", body), NULL, 0, &err);
    CU_ASSERT_FATAL(a && b && c && d && e);
    CU_ASSERT_STRING_EQUAL(a->key, b->key);
    CU_ASSERT_STRING_EQUAL(a->key, c->key);
    CU_ASSERT_STRING_NOT_EQUAL(a->key, d->key);
    CU_ASSERT_STRING_NOT_EQUAL(a->key, e->key);
    sweep_free(a);
    sweep_free(b);
    sweep_free(c);
    sweep_free(d);
    sweep_free(e);
}

/* ---------- errors ---------- */

/* Loads a sweep whose file is body (after "base:") and expects an error at
 * line:col whose message starts with want. */
static void expect_error(const char *body, int line, int col, const char *want)
{
    kt_err err = { 0 };
    const char *path = sweep_file("bad.yaml", body);
    sweep *sw = sweep_load(path, NULL, 0, &err);
    CU_ASSERT_PTR_NULL(sw);
    sweep_free(sw);
    if (strcmp(err.file, path) || err.line != line || err.col != col || strncmp(err.msg, want, strlen(want))) {
        fprintf(stderr, "\n  expected %d:%d: %s\n  got      ", line, col, want);
        kt_err_print(&err, stderr);
    }
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, line);
    CU_ASSERT_EQUAL(err.col, col);
    CU_ASSERT_NSTRING_EQUAL(err.msg, want, strlen(want));
}

/* Line 1 is "sweep:", line 2 "  base: ...": the body starts on line 3. */
static void test_errors_located(void)
{
    expect_error("  axes:\n    - key: a.b\n      valuez: [1]\n", 5, 15, "sweep.axes[0].valuez: unknown key");
    expect_error("  axes: 3\n", 3, 9, "sweep.axes: expected a sequence");
    expect_error("  axes: []\n", 3, 9, "sweep.axes: is empty");
    expect_error("  axes:\n    - key: a.b\n      values: []\n", 5, 15, "sweep.axes[0].values: is empty");
    expect_error("  axes:\n    - key: a.b\n      values: [1]\n      range: {from: 1, to: 2, step: 1}\n", 4, 7,
                 "sweep.axes[0]: give exactly one of 'values'");
    expect_error("  axes:\n    - key: a.b\n      range: {from: 1, to: 2, step: 0}\n", 5, 37,
                 "sweep.axes[0].range.step: must not be 0");
    expect_error("  axes:\n    - key: a.b\n      range: {from: 1, to: 0, step: 1}\n", 5, 37,
                 "sweep.axes[0].range.step: 1 never gets from 1 to 0");
    expect_error("  axes:\n    - key: a.b\n      range: {from: 1GB, to: 4GiB, step: 1GB}\n", 5, 30,
                 "sweep.axes[0].range.to: unit 'GiB' differs from from's 'GB'");
    expect_error("  axes:\n    - key: a.b\n      range: {from: one, to: 4, step: 1}\n", 5, 21,
                 "sweep.axes[0].range.from: expected a number");
    expect_error("  axes:\n    - key: a.b\n      range: {from: 1, step: 1}\n", 5, 14,
                 "sweep.axes[0].range: missing required key 'to'");
    expect_error("  axes:\n    - key: a.b\n      values: [1]\n    - key: a.b\n      values: [2]\n", 6, 12,
                 "sweep.axes[1].key: 'a.b' is already swept by axes[0]");
    expect_error("  axes:\n    - key: a..b\n      values: [1]\n", 4, 12, "sweep.axes[0].key: 'a..b' is not a dotted");
    expect_error("  set: [sessions]\n  axes:\n    - key: a.b\n      values: [1]\n", 3, 9,
                 "sweep.set[0]: 'sessions': expected KEY.PATH=VALUE");
    expect_error("  set: \"a=1\"\n  axes:\n    - key: a.b\n      values: [1]\n", 3, 8, "sweep.set: expected a sequence");
    /* Like every kvtier error, an unknown key is located at its value. */
    expect_error("  nmae: x\n  axes:\n    - key: a.b\n      values: [1]\n", 3, 9, "sweep.nmae: unknown key");
    /* 10 × 100 × 101 points. */
    expect_error("  axes:\n    - {key: a, range: {from: 1, to: 10, step: 1}}\n    - {key: b, range: {from: 1, to: 100, step: 1}}\n"
                 "    - {key: c, range: {from: 0, to: 100, step: 1}}\n", 6, 7,
                 "sweep.axes[2]: the axes so far make 101000 points, more than 100000");
    /* Not a sweep file at all. */
    kt_err err;
    CU_ASSERT_PTR_NULL(sweep_load(tu_path("tests/data/e2e.yaml"), NULL, 0, &err));
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing required key 'sweep'"));
}

static void test_missing_base(void)
{
    const char *path = scratch("nobase.yaml");
    write_file(path, "sweep:\n  base: no-such-scenario.yaml\n  axes:\n    - key: a.b\n      values: [1]\n");
    kt_err err;
    CU_ASSERT_PTR_NULL(sweep_load(path, NULL, 0, &err));
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_EQUAL(err.col, 9);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sweep.base: cannot read"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-scenario.yaml"));
}

/* A bad value of an axis is found before anything runs, located where the
 * sweep file wrote it, with its point named; exit 2 and no database. */
static void test_bad_point_exits_2(void)
{
    const char *path = sweep_file("badpoint.yaml", "  set: [\"workload.sessions=5\"]\n  axes:\n"
                                                   "    - key: kv.dtype\n      values: [bf16, fp8]\n"
                                                   "    - key: kv.block_tokens\n      values: [16, banana]\n");
    const char *db = scratch("badpoint.db");
    tu_output r = kvtier("sweep", path, "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    char want[4200];
    /* Line 8 is "      values: [16, banana]": banana starts at column 20. Point 1 is bf16 × banana. */
    snprintf(want, sizeof want, "%s:8:20: kv.block_tokens: expected an integer, found 'banana'", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "(sweep point 1: kv.dtype=bf16, kv.block_tokens=banana)"));
    CU_ASSERT_EQUAL(r.out[0], '\0');
    CU_ASSERT_FALSE(exists(db));
    tu_output_free(&r);

    /* A key the scenario does not have. */
    path = sweep_file("badkey.yaml", "  axes:\n    - key: kv.blocktokens\n      values: [16]\n");
    r = kvtier("sweep", path, "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    snprintf(want, sizeof want,
             "%s:5:16: kv.blocktokens: unknown key (did you mean 'block_tokens'?) (sweep point 0: kv.blocktokens=16)",
             path);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want));
    CU_ASSERT_FALSE(exists(db));
    tu_output_free(&r);

    /* A syntax error in the sweep file itself. */
    path = sweep_file("syntax.yaml", "  axes: [\n");
    r = kvtier("sweep", path, "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "YAML syntax error"));
    CU_ASSERT_FALSE(exists(db));
    tu_output_free(&r);
}

static void test_usage(void)
{
    tu_output r = kvtier("sweep", "--help", NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: kvtier sweep FILE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--jobs N"));
    tu_output_free(&r);
    r = kvtier("sweep", tu_path(FIXTURE), "--jobs", "0", NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    tu_output_free(&r);
    r = kvtier("sweep", tu_path(FIXTURE), "--metric", "ttft_p98", NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "--metric ttft_p98: not a summary metric"));
    tu_output_free(&r);
#ifndef KT_HAVE_MPI
    r = kvtier("sweep", tu_path(FIXTURE), "--mpi", NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "built without MPI"));
    tu_output_free(&r);
#endif
}

/* ---------- running ---------- */

/* --list: index, then the overrides, tab-separated; nothing runs. */
static void test_list(void)
{
    tu_output r = kvtier("sweep", tu_path(FIXTURE), "--list", "--db", scratch("list.db"), NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "0\tworkload.arrival.rate=2/s\tkv.block_tokens=16\n"
                                  "1\tworkload.arrival.rate=2/s\tkv.block_tokens=32\n"
                                  "2\tworkload.arrival.rate=2/s\tkv.block_tokens=48\n"
                                  "3\tworkload.arrival.rate=4/s\tkv.block_tokens=16\n"
                                  "4\tworkload.arrival.rate=4/s\tkv.block_tokens=32\n"
                                  "5\tworkload.arrival.rate=4/s\tkv.block_tokens=48\n");
    CU_ASSERT_FALSE(exists(scratch("list.db")));
    tu_output_free(&r);
}

/* The serial sweep: every point once, its table, and a rerun that runs nothing. */
static void test_serial(void)
{
    const char *ref = reference_db(NULL);
    assert_fixture_points(ref);
    tu_output r = kvtier("sweep", tu_path(FIXTURE), "--db", ref, "--metric", "completed", NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "6 points, 6 already in"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "point  run  workload.arrival.rate  kv.block_tokens  completed (requests)"));
    tu_output_free(&r);
    assert_fixture_points(ref);
}

/* Polls database path until its sweep has at least one point. Returns how many it saw. */
static int64_t wait_first_point(const char *path, pid_t child)
{
    struct timespec nap = { 0, KILL_POLL_NS };
    for (long i = 0; i < KILL_WAIT_S * (1000000000L / KILL_POLL_NS); i++) {
        sqlite3 *db;
        int64_t n = -1;
        if (exists(path) && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
            sqlite3_busy_timeout(db, 1000);
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sweep_points", -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            sqlite3_close(db);
        }
        if (n >= 1)
            return n;
        if (waitpid(child, NULL, WNOHANG) == child)
            return -1;
        nanosleep(&nap, NULL);
    }
    return -1;
}

/* How many points database path holds (-1 when it cannot be read). */
static int64_t stored_points(const char *path)
{
    sqlite3 *q;
    int64_t n = -1;
    if (sqlite3_open_v2(path, &q, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
        n = query_int(q, "SELECT count(*) FROM sweep_points");
    sqlite3_close(q);
    return n;
}

/* SIGKILL after the first point is stored, rerun: every point exactly once,
 * the same rows as an uninterrupted sweep, an intact database. With jobs
 * > 1 the workers stop with the sweep instead of running on to the end. */
static void kill_and_resume(const char *db_name, const char *jobs)
{
    const char *ref = reference_db(SLOW_SET), *db = scratch(db_name);
    char *argv[] = { (char *)tu_build_path("sim/kvtier"), "sweep", (char *)tu_path(FIXTURE), "--db", (char *)db,
                     "--quiet", "--set", SLOW_SET, "--jobs", (char *)jobs, NULL };
    pid_t child = start(argv, scratch("killed.out"), scratch("killed.err"), START_KILLED);
    int64_t seen = wait_first_point(db, child);
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CU_ASSERT(seen >= 1);
    /* Workers left running would finish the last points within this time. */
    struct timespec settle = { 0, WORKER_SETTLE_NS };
    nanosleep(&settle, NULL);
    int64_t stored = stored_points(db);
    nanosleep(&settle, NULL);
    CU_ASSERT_EQUAL(stored_points(db), stored);

    sqlite3 *q;
    CU_ASSERT_FATAL(sqlite3_open(db, &q) == SQLITE_OK);
    /* Killed mid-sweep: some points are in, not all; no run lacks its point. */
    CU_ASSERT(stored >= 1 && stored < FIXTURE_POINTS);
    CU_ASSERT_EQUAL(query_int(q, "SELECT count(*) FROM runs"), stored);
    char *ok = query_text(q, "PRAGMA integrity_check");
    CU_ASSERT_STRING_EQUAL(ok ? ok : "", "ok");
    free(ok);
    sqlite3_close(q);

    tu_output r = kvtier("sweep", tu_path(FIXTURE), "--db", db, "--set", SLOW_SET, "--jobs", jobs, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    char note[128];
    snprintf(note, sizeof note, "6 points, %lld already in", (long long)stored);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, note));
    tu_output_free(&r);
    assert_fixture_points(db);
    assert_same_rows(db, ref);
}

static void test_resume_after_kill(void)
{
    kill_and_resume("killed.db", "1");
}

static void test_resume_after_kill_jobs(void)
{
    kill_and_resume("killed-jobs.db", "2");
}

/* SIGINT or SIGTERM after the first point is stored: exit 128 + the
 * signal, one line saying how many points the database holds (as many as
 * its sweep_points rows, fewer than all), every run with its point, an
 * intact database; a rerun resumes to the rows of an uninterrupted sweep.
 * With jobs > 1 the signal goes to the sweep alone, as `kill PID` sends
 * it, and must reach the workers through it. */
static void interrupt_and_resume(const char *db_name, const char *jobs, int sig)
{
    const char *ref = reference_db(SLOW_SET), *db = scratch(db_name);
    char *argv[] = { (char *)tu_build_path("sim/kvtier"), "sweep", (char *)tu_path(FIXTURE), "--db", (char *)db,
                     "--quiet", "--set", SLOW_SET, "--jobs", (char *)jobs, NULL };
    pid_t child = start(argv, scratch("stopped.out"), scratch("stopped.err"), START_PLAIN);
    CU_ASSERT(wait_first_point(db, child) >= 1);
    kill(child, sig);
    int status;
    CU_ASSERT_FATAL(waitpid(child, &status, 0) == child);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 128 + sig);
    /* No worker is left to write after the sweep has gone. */
    struct timespec settle = { 0, WORKER_SETTLE_NS };
    nanosleep(&settle, NULL);
    int64_t stored = stored_points(db);
    CU_ASSERT(stored >= 1 && stored < FIXTURE_POINTS);
    char want[4400];
    snprintf(want, sizeof want,
             "kvtier sweep: interrupted (%s); %lld of 6 points are stored in %s, none in part (run the sweep again"
             " to resume)\n", sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)stored, db);
    char *err = slurp(scratch("stopped.err"));
    CU_ASSERT_STRING_EQUAL(err, want);
    free(err);

    sqlite3 *q;
    CU_ASSERT_FATAL(sqlite3_open(db, &q) == SQLITE_OK);
    CU_ASSERT_EQUAL(query_int(q, "SELECT count(*) FROM runs"), stored);
    CU_ASSERT_EQUAL(query_int(q, "SELECT count(*) FROM runs WHERE id NOT IN (SELECT run_id FROM sweep_points)"), 0);
    char *ok = query_text(q, "PRAGMA integrity_check");
    CU_ASSERT_STRING_EQUAL(ok ? ok : "", "ok");
    free(ok);
    sqlite3_close(q);

    tu_output r = kvtier("sweep", tu_path(FIXTURE), "--db", db, "--set", SLOW_SET, "--jobs", jobs, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    tu_output_free(&r);
    assert_fixture_points(db);
    assert_same_rows(db, ref);
}

static void test_interrupt(void)
{
    interrupt_and_resume("int.db", "1", SIGINT);
    interrupt_and_resume("term-jobs.db", "2", SIGTERM);
}

static void test_jobs(void)
{
    const char *db = scratch("jobs.db");
    tu_output r = kvtier("sweep", tu_path(FIXTURE), "--db", db, "--jobs", "3", NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "6/6 points done"));
    tu_output_free(&r);
    assert_fixture_points(db);
    assert_same_rows(db, reference_db(NULL));
}

/* run --point K stores exactly point K; again, it stores nothing; the sweep
 * then runs the other five. */
static void test_run_point(void)
{
    const char *db = scratch("point.db");
    tu_output r = kvtier("run", tu_path(FIXTURE), "--point", "4", "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "results: run 1 in"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "(point 4 of sweep 'test-sweep')"));
    tu_output_free(&r);
    sqlite3 *q;
    CU_ASSERT_FATAL(sqlite3_open(db, &q) == SQLITE_OK);
    CU_ASSERT_EQUAL(query_int(q, "SELECT count(*) FROM sweep_points"), 1);
    CU_ASSERT_EQUAL(query_int(q, "SELECT point FROM sweep_points"), 4);
    char *params = query_text(q, "SELECT params FROM sweep_points");
    CU_ASSERT_STRING_EQUAL(params ? params : "", "workload.arrival.rate=4/s\nkv.block_tokens=32");
    free(params);
    CU_ASSERT_EQUAL(query_int(q, "SELECT run_id FROM sweep_points"), 1);
    sqlite3_close(q);

    r = kvtier("run", tu_path(FIXTURE), "--point", "4", "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "point 4 of sweep 'test-sweep' is stored already: run 1"));
    tu_output_free(&r);
    r = kvtier("run", tu_path(FIXTURE), "--point", "6", "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "--point 6: the sweep has points 0..5"));
    tu_output_free(&r);

    r = kvtier("sweep", tu_path(FIXTURE), "--db", db, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "6 points, 1 already in"));
    tu_output_free(&r);
    assert_fixture_points(db);
    assert_same_rows(db, reference_db(NULL));
}

static const tu_test tests[] = {
    { "points in order (2 x 3)", test_points_in_order },
    { "range arithmetic", test_range_arithmetic },
    { "values as flow text", test_flow_values },
    { "key follows the definition", test_key },
    { "errors located", test_errors_located },
    { "missing base", test_missing_base },
    { "bad point: exit 2, nothing written", test_bad_point_exits_2 },
    { "usage", test_usage },
    { "--list", test_list },
    { "serial sweep and rerun", test_serial },
    { "resume after SIGKILL", test_resume_after_kill },
    { "resume after SIGKILL, --jobs 2", test_resume_after_kill_jobs },
    { "SIGINT, SIGTERM with --jobs 2: a message, whole points, resume", test_interrupt },
    { "--jobs 3 equals serial", test_jobs },
    { "run --point", test_run_point },
    { NULL, NULL },
};

#else

/* Whether program is an executable in PATH. */
static int in_path(const char *program)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path; p && *p;) {
        size_t len = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, program);
        if (access(buf, X_OK) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* 1 when kvtier has MPI and mpirun is here; otherwise notes the skip. */
static int mpi_available(void)
{
#ifndef KT_HAVE_MPI
    tu_skip("kvtier was built without MPI");
    return 0;
#endif
    if (!in_path("mpirun")) {
        tu_skip("mpirun is not installed");
        return 0;
    }
    return 1;
}

/* `mpirun -np ranks --oversubscribe kvtier sweep FIXTURE --mpi --db db`. */
static tu_output mpi_sweep(const char *ranks, const char *db)
{
    char *argv[] = { "mpirun", "-np", (char *)ranks, "--oversubscribe", (char *)tu_build_path("sim/kvtier"), "sweep",
                     (char *)tu_path(FIXTURE), "--mpi", "--db", (char *)db, NULL };
    tu_output r = run_argv(argv, 1);
    if (r.rc)
        fprintf(stderr, "\n%s%s", r.out, r.err);
    return r;
}

/* mpirun -np 3: shards merged into one database with the serial rows; a
 * rerun finds every point stored. */
static void test_mpi_ranks(void)
{
    if (!mpi_available())
        return;
    const char *db = scratch("mpi.db");
    tu_output r = mpi_sweep("3", db);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "on 3 ranks"));
    tu_output_free(&r);
    char shard[4200];
    for (int rank = 0; rank < 3; rank++) {
        snprintf(shard, sizeof shard, "%s.rank%d", db, rank);
        CU_ASSERT_FALSE(exists(shard));
    }
    assert_fixture_points(db);
    assert_same_rows(db, reference_db(NULL));

    /* Rank r ran points r and r + 3, and the shards were merged in rank order. */
    sqlite3 *q;
    CU_ASSERT_FATAL(sqlite3_open(db, &q) == SQLITE_OK);
    char *order = query_text(q, "SELECT group_concat(point, ',') FROM (SELECT point FROM sweep_points ORDER BY run_id)");
    CU_ASSERT_STRING_EQUAL(order ? order : "", "0,3,1,4,2,5");
    free(order);
    sqlite3_close(q);

    r = mpi_sweep("3", db);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "6 points, 6 already in"));
    tu_output_free(&r);
    assert_fixture_points(db);
}

/* A shard a killed run left behind (here: point 2 stored by hand into
 * DB.rank1) is merged first and its point not run again. */
static void test_mpi_leftover_shard(void)
{
    if (!mpi_available())
        return;
    const char *db = scratch("mpi-left.db"), *shard = scratch("mpi-left.db.rank1");
    tu_output r = kvtier("run", tu_path(FIXTURE), "--point", "2", "--db", shard, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    tu_output_free(&r);
    r = mpi_sweep("2", db);
    CU_ASSERT_EQUAL(r.rc, 0);
    char note[4300];
    snprintf(note, sizeof note, "merged 1 point from %s", shard);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, note));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "6 points, 1 already in"));
    tu_output_free(&r);
    CU_ASSERT_FALSE(exists(shard));
    assert_fixture_points(db);
    assert_same_rows(db, reference_db(NULL));
}

static const tu_test tests[] = {
    { "mpirun -np 3 equals serial", test_mpi_ranks },
    { "mpirun merges a leftover shard", test_mpi_leftover_shard },
    { NULL, NULL },
};

#endif

int main(void)
{
    /* Model cards and profiles come from the source tree, also in a VPATH build. */
    setenv("KVTIER_DATA", tu_path(""), 1);
    int rc = tu_run("sweep", tests);
    scratch_cleanup();
    return rc;
}
