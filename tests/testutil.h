/* testutil.h — shared helpers for the CUnit test programs: data paths and the runner. */
#ifndef KT_TESTUTIL_H
#define KT_TESTUTIL_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Path of a source-tree file: $top_srcdir/rel (top_srcdir is set by make check).
 * Returns a static buffer, overwritten by the next call. */
static inline const char *tu_path(const char *rel)
{
    static char buf[4][4096];
    static int next;
    const char *top = getenv("top_srcdir");
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", top && *top ? top : ".", rel);
    return b;
}

/* Path of a build-tree file: $top_builddir/rel. */
static inline const char *tu_build_path(const char *rel)
{
    static char buf[4][4096];
    static int next;
    const char *top = getenv("top_builddir");
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", top && *top ? top : ".", rel);
    return b;
}

/* Appends one option to ASAN_OPTIONS when the sanitizers are on (the
 * variable is set only then); for a child process, between fork and exec. */
static inline void tu_asan_option_add(const char *opt)
{
    const char *opts = getenv("ASAN_OPTIONS");
    if (!opts)
        return;
    char buf[8192];
    snprintf(buf, sizeof buf, "%s:%s", opts, opt);
    setenv("ASAN_OPTIONS", buf, 1);
}

/* A process the test SIGKILLs on purpose has no exit to check for leaks, and
 * a kill that lands during LeakSanitizer's exit scan leaves a tracer report
 * about the vanished thread: such a child runs without the leak scan. */
static inline void tu_child_will_be_killed(void)
{
    tu_asan_option_add("detect_leaks=0");
}

/* What a command's main function printed. out and err are malloc'd. */
typedef struct tu_output {
    int rc;
    char *out, *err;
} tu_output;

typedef int (*tu_main_fn)(int argc, char **argv, void *ud);

static inline char *tu_slurp_fd(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (buf && n > 0 && pread(fd, buf, (size_t)n, 0) != n)
        buf[0] = '\0';
    return buf;
}

/* Two unlinked temporary files for a command's stdout and stderr (the
 * caller closes them), with this process's own streams flushed first. */
static inline void tu_capture_files(int *out_fd, int *err_fd)
{
    char out_path[] = "/tmp/kvtier_test_out_XXXXXX", err_path[] = "/tmp/kvtier_test_err_XXXXXX";
    *out_fd = mkstemp(out_path);
    *err_fd = mkstemp(err_path);
    CU_ASSERT_FATAL(*out_fd >= 0 && *err_fd >= 0);
    unlink(out_path);
    unlink(err_path);
    fflush(stdout);
    fflush(stderr);
}

/* Runs fn on the NULL-terminated args with stdout and stderr sent to
 * temporary files, and returns its exit code and what it printed (free
 * with tu_output_free). */
static inline tu_output tu_capture(tu_main_fn fn, char **args, void *ud)
{
    tu_output r = { 2, NULL, NULL };
    int argc = 0;
    while (args[argc])
        argc++;
    int out_fd, err_fd;
    tu_capture_files(&out_fd, &err_fd);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    r.rc = fn(argc, args, ud);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    r.out = tu_slurp_fd(out_fd);
    r.err = tu_slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    return r;
}

/* Waits for child pid, whose stdout and stderr went to out_fd and err_fd
 * (closed here), and returns its exit code (128 + the signal when one ended
 * it) and what it printed. */
static inline tu_output tu_wait_output(pid_t pid, int out_fd, int err_fd)
{
    tu_output r = { 2, NULL, NULL };
    int status = 0;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = tu_slurp_fd(out_fd);
    r.err = tu_slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    return r;
}

/* dir/name in one of four rotating buffers (a test's scratch paths). */
static inline const char *tu_path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* Writes text to path, replacing it. */
static inline void tu_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

/* Runs the program argv[0] (a path) on the NULL-terminated argv in a child
 * process, its stdout and stderr sent to temporary files, and returns its
 * exit code (128 + the signal when one ended it) and what it printed
 * (free with tu_output_free). */
static inline tu_output tu_exec(char *const *argv)
{
    int out_fd, err_fd;
    tu_capture_files(&out_fd, &err_fd);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return tu_wait_output(pid, out_fd, err_fd);
}

static inline void tu_output_free(tu_output *o)
{
    free(o->out);
    free(o->err);
}

/* One suite's tests. */
typedef struct tu_test { const char *name; void (*fn)(void); } tu_test;

/* Tests of this program that could not run their checks (say, the shared
 * traces are absent); the program then reports SKIP, not PASS. */
static int tu_skipped;

/* Notes that the calling test skips its checks, and why. */
static inline void tu_skip(const char *why)
{
    fprintf(stderr, "\n  skipped: %s\n", why);
    tu_skipped++;
}

/* Registers the tests as one suite, runs them verbosely, and returns the
 * process exit code: 0 all passed, 1 a failure, 2 CUnit itself failed, 77
 * (automake's SKIP) none failed but some skipped their checks. */
static inline int tu_run(const char *suite_name, const tu_test *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite_name, NULL, NULL);
    if (!s)
        return 2;
    for (const tu_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn))
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : tu_skipped ? 77 : 0;
}

#endif
