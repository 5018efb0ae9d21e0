/* test_outfile.c — no command that writes a file destroys one: an existing output survives every failure, and non-regular files are refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "testutil.h"

/* What every pre-existing output file holds before a command runs. */
static const char KEEP[] = "precious bytes a failed command must not touch\n";

static char dir[] = "/tmp/kvtier_outfile_XXXXXX";

static const char *in_dir(const char *name) { return tu_path_in(dir, name); }

/* The file's contents (malloc'd), or NULL when it cannot be read. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 16);
    fread(b, 1, (1 << 16) - 1, f);
    fclose(f);
    return b;
}

static void assert_kept(const char *path)
{
    char *t = read_text(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t, KEEP);
    free(t);
}

/* Files in dir whose name starts with '.': left-over temporary files. */
static int hidden_files(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep '^\\.')\"", dir);
    return system(cmd) == 0 ? 0 : 1;
}

static tu_output kvtier(char *const *args)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)tu_build_path("sim/kvtier");
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return tu_exec(argv);
}

static void test_commit_replaces_and_keeps_mode(void)
{
    const char *p = in_dir("card.yaml");
    tu_write_text(p, KEEP);
    CU_ASSERT_FATAL(chmod(p, 0640) == 0);
    outfile of;
    kt_err err;
    CU_ASSERT_FATAL(outfile_open(&of, p, &err) == 0);
    fputs("new\n", of.f);
    assert_kept(p); /* nothing reaches the target before the commit */
    CU_ASSERT_EQUAL(outfile_commit(&of, &err), 0);
    char *t = read_text(p);
    CU_ASSERT_STRING_EQUAL(t, "new\n");
    free(t);
    struct stat sb;
    CU_ASSERT_FATAL(stat(p, &sb) == 0);
    CU_ASSERT_EQUAL(sb.st_mode & 0777, 0640);
    CU_ASSERT_EQUAL(hidden_files(), 0);
}

static void test_abort_leaves_target(void)
{
    const char *p = in_dir("abort.yaml");
    tu_write_text(p, KEEP);
    outfile of;
    kt_err err;
    CU_ASSERT_FATAL(outfile_open(&of, p, &err) == 0);
    fputs("half a card", of.f);
    outfile_abort(&of);
    assert_kept(p);
    CU_ASSERT_EQUAL(hidden_files(), 0);
    /* An aborted new file leaves nothing behind at all. */
    const char *q = in_dir("never.yaml");
    CU_ASSERT_FATAL(outfile_open(&of, q, &err) == 0);
    outfile_abort(&of);
    CU_ASSERT_EQUAL(access(q, F_OK), -1);
}

static void test_refuses_non_regular(void)
{
    const char *fifo = in_dir("fifo");
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    outfile of;
    kt_err err;
    CU_ASSERT_EQUAL(outfile_open(&of, fifo, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a FIFO, not a regular file"));
    CU_ASSERT_STRING_EQUAL(err.file, fifo);
    CU_ASSERT_EQUAL(outfile_open(&of, dir, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a directory"));
    CU_ASSERT_EQUAL(outfile_open(&of, "/dev/null", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a character device"));
    struct stat sb;
    CU_ASSERT_FATAL(lstat(fifo, &sb) == 0);
    CU_ASSERT(S_ISFIFO(sb.st_mode));
    CU_ASSERT_FATAL(stat("/dev/null", &sb) == 0);
    CU_ASSERT(S_ISCHR(sb.st_mode));
    CU_ASSERT_EQUAL(outfile_open(&of, "", &err), -1);
}

static void test_symlink_survives(void)
{
    const char *target = in_dir("real.yaml"), *link = in_dir("link.yaml");
    tu_write_text(target, KEEP);
    CU_ASSERT_FATAL(symlink("real.yaml", link) == 0);
    outfile of;
    kt_err err;
    CU_ASSERT_FATAL(outfile_open(&of, link, &err) == 0);
    fputs("through the link\n", of.f);
    CU_ASSERT_EQUAL(outfile_commit(&of, &err), 0);
    struct stat sb;
    CU_ASSERT_FATAL(lstat(link, &sb) == 0);
    CU_ASSERT(S_ISLNK(sb.st_mode));
    char *t = read_text(target);
    CU_ASSERT_STRING_EQUAL(t, "through the link\n");
    free(t);
    const char *dangling = in_dir("dangling.yaml");
    CU_ASSERT_FATAL(symlink("nowhere/x.yaml", dangling) == 0);
    CU_ASSERT_EQUAL(outfile_open(&of, dangling, &err), -1);
}

/* The reported case: a typo in the input name used to delete -o's file. */
static void test_model_import_typo_keeps_output(void)
{
    const char *out = in_dir("llama.yaml");
    tu_write_text(out, KEEP);
    char *args[] = { "model", "import", (char *)in_dir("no-such-config.json"), "-o", (char *)out, NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no-such-config.json"));
    tu_output_free(&r);
    assert_kept(out);
    /* A file that is not JSON at all: the same. */
    char *args2[] = { "model", "import", (char *)out, "-o", (char *)out, NULL };
    r = kvtier(args2);
    CU_ASSERT_EQUAL(r.rc, 2);
    tu_output_free(&r);
    assert_kept(out);
    CU_ASSERT_EQUAL(hidden_files(), 0);
}

static void test_model_import_refuses_device(void)
{
    char *args[] = { "model", "import", (char *)tu_path("tests/data/hf/llama-3.1-70b.config.json"), "-o",
                     "/dev/null", NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "not a regular file"));
    tu_output_free(&r);
    struct stat sb;
    CU_ASSERT_FATAL(stat("/dev/null", &sb) == 0);
    CU_ASSERT(S_ISCHR(sb.st_mode));
}

static void test_model_import_success_replaces(void)
{
    const char *out = in_dir("imported.yaml");
    tu_write_text(out, KEEP);
    char *args[] = { "model", "import", (char *)tu_path("tests/data/hf/llama-3.1-70b.config.json"), "-o",
                     (char *)out, NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_EQUAL(r.rc, 0);
    tu_output_free(&r);
    char *t = read_text(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nlayers: 80\n"));
    free(t);
}

static void test_hexmap_refuses_fifo(void)
{
    const char *fifo = in_dir("pool-fifo");
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    char *args[] = { "hexmap", "--synthesize", "--kv-dims", "2,1,2,8", "--dtype", "fp16", "-o", (char *)fifo, NULL };
    tu_output r = kvtier(args);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "a FIFO"));
    tu_output_free(&r);
}

/* gnuplot failing (a program that exits 1) leaves an existing figure. */
static void test_plot_failure_keeps_figure(void)
{
    const char *db = in_dir("plot.db");
    char *run[] = { "run", (char *)tu_path("tests/data/e2e.yaml"), "--db", (char *)db, NULL };
    tu_output r = kvtier(run);
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    tu_output_free(&r);
    const char *fig = in_dir("latency-run1.png");
    tu_write_text(fig, KEEP);
    setenv("KVTIER_GNUPLOT", "false", 1);
    char *plot[] = { "plot", "--db", (char *)db, "-o", dir, "--format", "png", "latency", NULL };
    r = kvtier(plot);
    unsetenv("KVTIER_GNUPLOT");
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    tu_output_free(&r);
    assert_kept(fig);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    static const tu_test tests[] = {
        { "a commit replaces the target and keeps its mode", test_commit_replaces_and_keeps_mode },
        { "an abort leaves the target as it was", test_abort_leaves_target },
        { "FIFOs, directories and devices are refused", test_refuses_non_regular },
        { "a symbolic link survives; a dangling one is refused", test_symlink_survives },
        { "model import with a mistyped input keeps -o's file", test_model_import_typo_keeps_output },
        { "model import refuses a device as -o", test_model_import_refuses_device },
        { "model import replaces -o when it succeeds", test_model_import_success_replaces },
        { "hexmap -o refuses a FIFO", test_hexmap_refuses_fifo },
        { "a failed plot keeps the existing figure", test_plot_failure_keeps_figure },
        { NULL, NULL },
    };
    int rc = tu_run("output files", tests);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    system(cmd);
    return rc;
}
