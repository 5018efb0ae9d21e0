/* test_badinput.c — every class of bad scenario input (tests/data/bad/) through `kvtier run`: exit 2, an error at file:line naming the key, the results database untouched. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "store.h"
#include "testutil.h"

/* Bytes of the generated name in the huge-line case: a 1 MiB line. */
#define HUGE_LINE_BYTES (1 << 20)
/* Arguments after `kvtier run FILE --db DB`. */
#define MAX_EXTRA 2

/* One crafted input and what kvtier must say about it. */
typedef struct bad_case {
    const char *file;               /* under tests/data/bad, or a path */
    const char *extra[MAX_EXTRA + 1];
    const char *located;            /* the file the error names, under the source tree; NULL: file */
    int line;                       /* the line it names */
    const char *says;               /* the key and what is wrong, as printed after file:line:col: */
} bad_case;

static const bad_case cases[] = {
    { "syntax-error.yaml", { NULL }, NULL, 7, "YAML syntax error: did not find expected ',' or '}'" },
    { "wrong-type.yaml", { NULL }, NULL, 6, "replicas.count: expected an integer, found 'two'" },
    { "unknown-key.yaml", { NULL }, NULL, 7, "kv.block_tokns: unknown key" },
    { "duplicate-key.yaml", { NULL }, NULL, 20, "seed: duplicate key (first given at line 3)" },
    { "zero-gpus.yaml", { NULL }, NULL, 6, "replicas.gpus: 0 is out of range [1, 1024]" },
    { "huge-context.yaml", { NULL }, NULL, 15, "workload.input_tokens.value: 1e+30 is out of range" },
    { "negative.yaml", { NULL }, NULL, 18, "slo.ttft: '-500ms': must not be negative" },
    { "truncated.yaml", { NULL }, NULL, 13, "YAML syntax error" },
    { "binary.yaml", { NULL }, NULL, 1, "YAML syntax error: invalid leading UTF-8 octet" },
    { "control-character.yaml", { NULL }, NULL, 10, "control characters are not allowed (byte 0x01" },
    { "empty.yaml", { NULL }, NULL, 1, "empty file: expected a YAML mapping" },
    { "crlf-unknown-key.yaml", { NULL }, NULL, 19, "results.itl_gap: unknown key" },
    { "include-loop.yaml", { "--point", "0", NULL }, NULL, 3, "sweep: this is a sweep file, not a scenario" },
    { "bad-trace.yaml", { NULL }, "tests/data/bad/../traces/mooncake_bad.jsonl", 2, "bad JSON" },
    { "bad-sharegpt.yaml", { NULL }, "tests/data/bad/../traces/sharegpt_bad.json", 3,
      "conversation 1: conversations[1].from must be \"human\" or \"gpt\", got \"bot\"" },
    { "tag.yaml", { NULL }, NULL, 6, "tags are not supported (found '!!str')" },
    { "python-tag.yaml", { NULL }, NULL, 18, "tags are not supported (found '!!python/object:os.system')" },
    { "nul-byte.yaml", { NULL }, NULL, 2, "NUL bytes are not allowed in a value" },
    { "hex-float.yaml", { NULL }, NULL, 7, "kv.hbm_fraction: expected a number, found '0x1.cp-1'" },
    { "nan.yaml", { NULL }, NULL, 12, "workload.arrival.cv: expected a number, found 'nan'" },
    { "tier-too-small.yaml", { NULL }, NULL, 11, "tiers: tier dram: 1000000 bytes hold no block of 2097152 bytes" },
    { "quant-group.yaml", { NULL }, NULL, 8, "quantization.group: nvfp4 weights come in blocks of 16 elements" },
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---------- scratch files ---------- */

static char scratch_dir[] = "/tmp/kvtier_badinput_XXXXXX";

static const char *scratch(const char *name)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", scratch_dir, name);
    return b;
}

/* Writes the e2e scenario with a 1 MiB name into the scratch directory. */
static const char *write_huge_line(void)
{
    const char *path = scratch("huge-line.yaml");
    FILE *in = fopen(tu_path("tests/data/e2e.yaml"), "r"), *out = fopen(path, "w");
    CU_ASSERT_FATAL(in && out);
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "name:", strlen("name:")) != 0) {
            fputs(line, out);
            continue;
        }
        fputs("name: ", out);
        for (int i = 0; i < HUGE_LINE_BYTES; i++)
            fputc('a', out);
        fputc('\n', out);
    }
    fclose(in);
    fclose(out);
    return path;
}

/* ---------- the database ---------- */

/* Rows of runs in db, -1 when it cannot be read. */
static int64_t count_runs(const char *db)
{
    sqlite3 *h;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM runs", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* The database file's bytes (caller frees), to see that nothing touched it. */
static char *db_bytes(const char *db, size_t *len)
{
    int fd = open(db, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    char *buf = tu_slurp_fd(fd);
    *len = (size_t)lseek(fd, 0, SEEK_END);
    close(fd);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------- running kvtier ---------- */

/* `kvtier run FILE --db DB EXTRA...`. */
static tu_output run_kvtier(const char *file, const char *db, const char *const *extra)
{
    char *argv[6 + MAX_EXTRA] = { (char *)tu_build_path("sim/kvtier"), "run", (char *)file, "--db", (char *)db };
    int n = 5;
    for (int i = 0; extra[i] && i < MAX_EXTRA; i++)
        argv[n++] = (char *)extra[i];
    return tu_exec(argv);
}

/* Runs one bad input against an existing database and a path with none:
 * exit 2, "file:line:" and the message on stderr, nothing on stdout, the
 * database's bytes and runs unchanged, no database created. */
static void check_rejected(const char *file, const char *const *extra, const char *located, int line,
                           const char *says)
{
    const char *db = scratch("results.db"), *fresh = scratch("never.db");
    size_t len_before, len_after;
    int64_t runs_before = count_runs(db);
    char *before = db_bytes(db, &len_before);
    tu_output r = run_kvtier(file, db, extra);
    char where[8192];
    snprintf(where, sizeof where, "%s:%d:", located, line);
    if (r.rc != CLI_EXIT_BAD_INPUT || !strstr(r.err, where) || !strstr(r.err, says))
        fprintf(stderr, "\n  %s: exit %d, stderr: %.300s\n  want exit %d and '%s' ... '%s'\n", file, r.rc, r.err,
                CLI_EXIT_BAD_INPUT, where, says);
    CU_ASSERT_EQUAL(r.rc, CLI_EXIT_BAD_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, says));
    CU_ASSERT_STRING_EQUAL(r.out, "");
    char *after = db_bytes(db, &len_after);
    CU_ASSERT_EQUAL(count_runs(db), runs_before);
    CU_ASSERT(len_after == len_before && !memcmp(before, after, len_before));
    free(before);
    free(after);
    tu_output_free(&r);
    r = run_kvtier(file, fresh, extra);
    CU_ASSERT_EQUAL(r.rc, CLI_EXIT_BAD_INPUT);
    CU_ASSERT_FALSE(exists(fresh));
    tu_output_free(&r);
}

/* ---------- tests ---------- */

static void test_crafted_files(void)
{
    for (size_t i = 0; i < N_CASES; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "tests/data/bad/%s", cases[i].file);
        const char *file = tu_path(rel);
        check_rejected(file, cases[i].extra, cases[i].located ? tu_path(cases[i].located) : file, cases[i].line,
                       cases[i].says);
    }
}

/* A 1 MiB line: the name that long is refused, not cut to 127 characters. */
static void test_huge_line(void)
{
    static const char *const none[] = { NULL };
    const char *file = write_huge_line();
    char says[128];
    snprintf(says, sizeof says, "name: is %d characters long, at most 127", HUGE_LINE_BYTES);
    check_rejected(file, none, file, 2, says);
}

/* A model card name that resolves into a symlink loop: the error names the
 * path tried and why, not "no model card". */
static void test_symlink_loop(void)
{
    static const char *const none[] = { NULL };
    CU_ASSERT_FATAL(mkdir(scratch("models"), 0700) == 0 && mkdir(scratch("sub"), 0700) == 0);
    CU_ASSERT_FATAL(symlink("loop-b.yaml", scratch("models/loop-a.yaml")) == 0 &&
                    symlink("loop-a.yaml", scratch("models/loop-b.yaml")) == 0);
    char file[4096];  /* scratch's buffers are reused by check_rejected */
    snprintf(file, sizeof file, "%s", scratch("sub/loop.yaml"));
    FILE *in = fopen(tu_path("tests/data/e2e.yaml"), "r"), *out = fopen(file, "w");
    CU_ASSERT_FATAL(in && out);
    char line[4096];
    while (fgets(line, sizeof line, in))
        fputs(strncmp(line, "model:", strlen("model:")) ? line : "model: loop-a\n", out);
    fclose(in);
    fclose(out);
    check_rejected(file, none, file, 4, "model: model card 'loop-a': ");
    check_rejected(file, none, file, 4, "/../models/loop-a.yaml: Too many levels of symbolic links");
}

/* CRLF line endings are valid YAML: the scenario runs and is stored. */
static void test_crlf_accepted(void)
{
    static const char *const none[] = { NULL };
    const char *db = scratch("crlf.db");
    tu_output r = run_kvtier(tu_path("tests/data/bad/crlf.yaml"), db, none);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_STRING_EQUAL(r.err, "");
    CU_ASSERT_EQUAL(count_runs(db), 1);
    tu_output_free(&r);
    unlink(db);
}

/* A bad trace under --skip-bad runs, says what it skipped and stores the run. */
static void check_skip_bad(const char *scenario_rel, const char *db_name, const char *says)
{
    static const char *const skip[] = { "--skip-bad", NULL };
    const char *db = scratch(db_name);
    tu_output r = run_kvtier(tu_path(scenario_rel), db, skip);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, says));
    CU_ASSERT_EQUAL(count_runs(db), 1);
    tu_output_free(&r);
    unlink(db);
}

static void test_skip_bad_lines(void)
{
    check_skip_bad("tests/data/bad/bad-trace.yaml", "skip.db", "7 malformed lines skipped (first: 2 3 4 6 7 8 9)");
}

/* The ShareGPT file's six malformed conversations, skipped and counted at
 * the lines they open on (tests/data/traces/sharegpt_bad.json). */
static void test_skip_bad_sharegpt(void)
{
    check_skip_bad("tests/data/bad/bad-sharegpt.yaml", "skip-sharegpt.db",
                   "2 requests replayed; 6 malformed lines skipped (first: 3 4 5 6 7 8)");
}

/* `--db ''` names no database: run, sweep, plan and plot refuse it as a
 * usage error before reading their file, and create nothing. */
static void test_empty_db(void)
{
    static const char *const cmds[] = { "run", "sweep", "plan", "plot" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *argv[] = { (char *)tu_build_path("sim/kvtier"), (char *)cmds[i], "--db", "",
                         (char *)tu_path("tests/data/e2e.yaml"), NULL };
        if (!strcmp(cmds[i], "plot"))
            argv[4] = NULL;  /* plot takes no file */
        tu_output r = tu_exec(argv);
        char says[64];
        snprintf(says, sizeof says, "kvtier %s: --db: empty path", cmds[i]);
        if (r.rc != CLI_EXIT_BAD_INPUT || !strstr(r.err, says))
            fprintf(stderr, "\n  %s --db '': exit %d, stderr: %.300s\n", cmds[i], r.rc, r.err);
        CU_ASSERT_EQUAL(r.rc, CLI_EXIT_BAD_INPUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, says));
        CU_ASSERT_PTR_NULL(strstr(r.out, "results:"));
        tu_output_free(&r);
    }
}

/* Address space (KiB, as `ulimit -v` takes it) that holds the e2e scenario
 * with a few replicas but not with the figures below. */
#define OOM_LIMIT_KIB "300000"

/* `kvtier run tests/data/e2e.yaml --no-db --set A --set B` under OOM_LIMIT_KIB. */
static tu_output run_limited(const char *set_a, const char *set_b)
{
    char *argv[] = { "/bin/sh", "-c", "ulimit -v " OOM_LIMIT_KIB " && exec \"$0\" \"$@\"",
                     (char *)tu_build_path("sim/kvtier"), "run", (char *)tu_path("tests/data/e2e.yaml"), "--no-db",
                     "--set", (char *)set_a, "--set", (char *)set_b, NULL };
    return tu_exec(argv);
}

/* An allocation that fails while the world is built names the key whose
 * figure sized it, where it was given. Not under the sanitizers or
 * valgrind, whose own address space a limit would break. */
static void test_oom_names_key(void)
{
    const char *san = getenv("KT_SANITIZERS"), *vg = getenv("KT_VALGRIND");
    if ((san && *san) || (vg && *vg))
        return;
    static const struct { const char *a, *b, *says; } oom[] = {
        { "replicas.count=1000000", "seed=1",
          "--set:1:16: replicas.count: out of memory setting up the simulation of 1000000 replicas" },
        { "replicas.count=40", "kv.block_tokens=1", "e2e.yaml:7:51: kv.hbm_fraction: out of memory for replica " },
    };
    for (size_t i = 0; i < sizeof oom / sizeof oom[0]; i++) {
        tu_output r = run_limited(oom[i].a, oom[i].b);
        if (r.rc != CLI_EXIT_RUN_FAILED || !strstr(r.err, oom[i].says))
            fprintf(stderr, "\n  %s %s: exit %d, stderr: %.300s\n", oom[i].a, oom[i].b, r.rc, r.err);
        CU_ASSERT_EQUAL(r.rc, CLI_EXIT_RUN_FAILED);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, oom[i].says));
        tu_output_free(&r);
    }
}

/* The scratch directory and an empty results database in it. */
static int setup(void)
{
    if (!mkdtemp(scratch_dir))
        return -1;
    kt_err err;
    store *st = store_open(scratch("results.db"), &err);
    if (!st)
        kt_err_print(&err, stderr);
    store_close(st);
    return st ? 0 : -1;
}

static void cleanup(void)
{
    const char *const names[] = { "results.db", "huge-line.yaml", "models/loop-a.yaml", "models/loop-b.yaml",
                                  "sub/loop.yaml", NULL };
    for (int i = 0; names[i]; i++)
        unlink(scratch(names[i]));
    rmdir(scratch("models"));
    rmdir(scratch("sub"));
    rmdir(scratch_dir);
}

int main(void)
{
    if (setup() != 0) {
        fprintf(stderr, "test_badinput: cannot set up %s\n", scratch_dir);
        return 1;
    }
    static const tu_test tests[] = {
        { "crafted bad scenarios: exit 2, file:line: key, database untouched", test_crafted_files },
        { "a 1 MiB line", test_huge_line },
        { "CRLF line endings are accepted", test_crlf_accepted },
        { "--skip-bad runs past malformed trace lines", test_skip_bad_lines },
        { "--skip-bad runs past malformed ShareGPT conversations", test_skip_bad_sharegpt },
        { "a model card name in a symlink loop names the path", test_symlink_loop },
        { "--db '' is a usage error", test_empty_db },
        { "out of memory building the world names the key", test_oom_names_key },
        { NULL, NULL },
    };
    int rc = tu_run("bad input", tests);
    cleanup();
    return rc;
}
