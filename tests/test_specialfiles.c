/* test_specialfiles.c — FIFOs and devices where a regular file belongs fail at once with a located message; failed writes, file-size limits and SIGINT end a run or a plan with a message and a true exit status. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"
#include "trace.h"

/* A command that has not ended by then is hung: SIGALRM ends it (rc 142). */
#define HANG_LIMIT_S 20
/* How long the long run gets before the signal: past its scenario loading. */
#define SIGNAL_AFTER_MS 1500

static char dir[] = "/tmp/kvtier_special_XXXXXX";

static const char *in_dir(const char *name) { return tu_path_in(dir, name); }

/* How spawn runs the child. */
typedef struct spawn_opts {
    const char *stdout_path;   /* NULL: a temporary file */
    rlim_t fsize_limit_bytes;  /* 0: none */
    int signal;                /* sent after SIGNAL_AFTER_MS when nonzero */
} spawn_opts;

/* Runs sim/kvtier with args (NULL-terminated) in dir/s, under HANG_LIMIT_S.
 * Returns its exit status (128 + a signal that ended it) and its stderr. */
static tu_output spawn(char *const *args, const spawn_opts *o)
{
    char *argv[16];
    int n = 0;
    char bin[PATH_MAX];
    CU_ASSERT_FATAL(realpath(tu_build_path("sim/kvtier"), bin) != NULL);
    argv[n++] = bin;
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int out_fd, err_fd;
    tu_capture_files(&out_fd, &err_fd);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        if (o->stdout_path) {
            int fd = open(o->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0)
                _exit(127);
            dup2(fd, 1);
        } else {
            dup2(out_fd, 1);
        }
        dup2(err_fd, 2);
        if (o->fsize_limit_bytes) {
            struct rlimit rl = { o->fsize_limit_bytes, o->fsize_limit_bytes };
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (chdir(in_dir("s")) != 0)
            _exit(127);
        alarm(HANG_LIMIT_S); /* survives exec */
        execv(argv[0], argv);
        _exit(127);
    }
    if (o->signal) {
        struct timespec ts = { SIGNAL_AFTER_MS / 1000, (SIGNAL_AFTER_MS % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, o->signal);
    }
    return tu_wait_output(pid, out_fd, err_fd);
}

/* A one-replica replay of the trace at path in format fmt, with model card model. */
static void write_trace_scenario(const char *name, const char *model, const char *fmt, const char *path)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: special\nseed: 1\nmodel: %s\nhardware: h100-sxm\n"
             "replicas: {count: 1, gpus: 1, tensor_parallel: 1}\n"
             "kv: {block_tokens: 16, dtype: bf16, hbm_fraction: 0.9, activation_reserve: 4GiB}\n"
             "scheduler: {max_running: 128, token_budget: 8192}\n"
             "workload:\n  kind: trace\n  trace:\n    format: %s\n    path: %s\n"
             "slo: {ttft: 1s, tpot: 50ms}\n",
             model, fmt, path);
    tu_write_text(in_dir(name), text);
}

static void assert_refused(const char *scenario, const char *want_file, const char *want_msg)
{
    char *args[] = { "run", (char *)scenario, "--no-db", NULL };
    tu_output r = spawn(args, &(spawn_opts){ 0 });
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want_file));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want_msg));
    if (r.rc != 2)
        fprintf(stderr, "\nrc %d, stderr: %s\n", r.rc, r.err);
    tu_output_free(&r);
}

static void test_fifo_scenario(void)
{
    CU_ASSERT_FATAL(mkfifo(in_dir("s/fifo.yaml"), 0600) == 0);
    assert_refused("fifo.yaml", "fifo.yaml: ", "a FIFO, not a regular file");
}

static void test_fifo_model_card(void)
{
    CU_ASSERT_FATAL(mkfifo(in_dir("s/card.yaml"), 0600) == 0);
    tu_write_text(in_dir("s/trace.csv"), "TIMESTAMP,ContextTokens,GeneratedTokens\n0,100,10\n");
    write_trace_scenario("s/fifo-card.yaml", "./card.yaml", "azure", "trace.csv");
    assert_refused("fifo-card.yaml", "fifo-card.yaml:3:", "a FIFO, not a regular file");
}

static void test_fifo_trace(void)
{
    CU_ASSERT_FATAL(mkfifo(in_dir("s/trace.jsonl"), 0600) == 0);
    write_trace_scenario("s/fifo-trace.yaml", "llama-3.1-8b", "mooncake", "trace.jsonl");
    assert_refused("fifo-trace.yaml", "trace.jsonl: ", "a FIFO, not a regular file");
    /* A character device that never ends is refused the same way. */
    write_trace_scenario("s/zero-trace.yaml", "llama-3.1-8b", "mooncake", "/dev/zero");
    assert_refused("zero-trace.yaml", "/dev/zero: ", "a character device, not a regular file");
}

/* 3 MiB of NUL bytes and no line break: the reader stops at its line limit. */
static void test_long_line(void)
{
    const char *p = in_dir("s/zeros.csv");
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    static char zeros[64 * 1024];
    for (int i = 0; i < 48; i++)
        CU_ASSERT_FATAL(fwrite(zeros, 1, sizeof zeros, f) == sizeof zeros);
    CU_ASSERT_FATAL(fclose(f) == 0);
    char want[128];
    snprintf(want, sizeof want, "line longer than %d bytes", TRACE_LINE_MAX_BYTES);
    static const char *const fmts[] = { "azure", "vidur", "mooncake", "kvtier", "burstgpt" };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        write_trace_scenario("s/long.yaml", "llama-3.1-8b", fmts[i], "zeros.csv");
        assert_refused("long.yaml", "zeros.csv:1: ", want);
    }
}

static void test_hexmap_fifo(void)
{
    CU_ASSERT_FATAL(mkfifo(in_dir("s/pool.bin"), 0600) == 0);
    char *args[] = { "hexmap", "pool.bin", "--kv-dims", "2,8,32,16", "--dtype", "fp16", NULL };
    tu_output r = spawn(args, &(spawn_opts){ 0 });
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "pool.bin: cannot read: it is a FIFO, not a regular file"));
    tu_output_free(&r);
}

static void test_model_import_fifo(void)
{
    CU_ASSERT_FATAL(mkfifo(in_dir("s/config.json"), 0600) == 0);
    char *args[] = { "model", "import", "config.json", NULL };
    tu_output r = spawn(args, &(spawn_opts){ 0 });
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "config.json: cannot read: it is a FIFO, not a regular file"));
    tu_output_free(&r);
}

static void test_full_stdout(void)
{
    char *args[] = { "run", "scenario.yaml", "--no-db", "--json", NULL };
    tu_output r = spawn(args, &(spawn_opts){ .stdout_path = "/dev/full" });
    CU_ASSERT_EQUAL(r.rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "kvtier: write error on standard output: No space left on device"));
    tu_output_free(&r);
}

/* A file-size limit makes writes fail (EFBIG) instead of killing the run. */
static void test_file_size_limit(void)
{
    char *args[] = { "kv", "llama-3.1-8b", "--tiles", "--paging", "--jenga", NULL };
    tu_output r = spawn(args, &(spawn_opts){ .stdout_path = in_dir("kv.txt"), .fsize_limit_bytes = 1024 });
    CU_ASSERT_EQUAL(r.rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "kvtier: write error on standard output"));
    tu_output_free(&r);
    char *hx[] = { "hexmap", "--synthesize", "--kv-dims", "2,8,32,16", "--dtype", "fp16", "-o", "big.bin", NULL };
    r = spawn(hx, &(spawn_opts){ .fsize_limit_bytes = 1024 });
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "big.bin: File too large"));
    tu_output_free(&r);
}

/* Rows of table in the database at path; -1 when it cannot be read. */
static int count_rows(const char *path, const char *table)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void interrupt_long_run(int sig, const char *name)
{
    char scen[PATH_MAX], db[4096], want[4200];
    CU_ASSERT_FATAL(realpath(tu_path("scenarios/fleet-10k.yaml"), scen) != NULL);
    snprintf(db, sizeof db, "%s", in_dir(name));
    char *args[] = { "run", scen, "--db", db, NULL };
    tu_output r = spawn(args, &(spawn_opts){ .signal = sig });
    CU_ASSERT_EQUAL(r.rc, 128 + sig);
    snprintf(want, sizeof want, "kvtier run: interrupted (%s); nothing was written to %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM", db);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    CU_ASSERT_EQUAL(count_rows(db, "runs"), 0);
    tu_output_free(&r);
}

static void test_sigint_run(void)
{
    interrupt_long_run(SIGINT, "int.db");
    interrupt_long_run(SIGTERM, "term.db");
}

/* A plan interrupted while it searches: exit 128 + the signal, one line,
 * nothing in the database (a plan is one transaction, written last). */
static void interrupt_plan(int sig, const char *name)
{
    char plan[PATH_MAX], db[4096], want[4200];
    CU_ASSERT_FATAL(realpath(tu_path("tests/data/plan.yaml"), plan) != NULL);
    snprintf(db, sizeof db, "%s", in_dir(name));
    char *args[] = { "plan", plan, "--db", db, "--quiet", NULL };
    tu_output r = spawn(args, &(spawn_opts){ .signal = sig });
    CU_ASSERT_EQUAL(r.rc, 128 + sig);
    snprintf(want, sizeof want, "kvtier plan: interrupted (%s); nothing was written to %s\n",
             sig == SIGINT ? "SIGINT" : "SIGTERM", db);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    CU_ASSERT_STRING_EQUAL(r.out, "");
    CU_ASSERT_EQUAL(count_rows(db, "plans"), 0);
    CU_ASSERT_EQUAL(count_rows(db, "plan_probes"), 0);
    tu_output_free(&r);
}

static void test_sigint_plan(void)
{
    interrupt_plan(SIGINT, "plan-int.db");
    interrupt_plan(SIGTERM, "plan-term.db");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    char models[PATH_MAX], hw[PATH_MAX], scen[PATH_MAX];
    if (!realpath(tu_path("models"), models) || !realpath(tu_path("hwprofiles"), hw) ||
        !realpath(tu_path("scenarios/quickstart.yaml"), scen))
        return 2;
    /* Scenarios in dir/s find ../models and ../hwprofiles as in the tree;
     * kv, run from dir/s, finds models. */
    if (mkdir(in_dir("s"), 0700) != 0 || symlink(models, in_dir("models")) != 0 ||
        symlink(hw, in_dir("hwprofiles")) != 0 || symlink(models, in_dir("s/models")) != 0 || symlink(scen, in_dir("s/scenario.yaml")) != 0)
        return 2;
    static const tu_test tests[] = {
        { "a FIFO as scenario is refused at once", test_fifo_scenario },
        { "a FIFO as model card is refused at once", test_fifo_model_card },
        { "a FIFO or /dev/zero as trace is refused at once", test_fifo_trace },
        { "a 3 MiB trace line is refused in every format", test_long_line },
        { "hexmap refuses a FIFO as input", test_hexmap_fifo },
        { "model import refuses a FIFO", test_model_import_fifo },
        { "a full standard output is exit 1 with a message", test_full_stdout },
        { "a file-size limit is a write error", test_file_size_limit },
        { "SIGINT and SIGTERM end a run, nothing stored", test_sigint_run },
        { "SIGINT and SIGTERM end a plan, nothing stored", test_sigint_plan },
        { NULL, NULL },
    };
    int rc = tu_run("special files and failed writes", tests);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    system(cmd);
    return rc;
}
