/* test_calibrate_cli.c — kvtier-calibrate as a program on a machine without a usable GPU (as in CI): --help, exit 77 with a reason, usage errors, and --fit-only from the recorded fixture to a profile hw_load accepts. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calib_db.h"
#include "hw.h"
#include "testutil.h"

#define EXIT_SKIP 77
#define OUT_MAX 65536

static const char *const program = "calibrate/kvtier-calibrate";

/* Runs the program with args (a shell-quoted string), capturing stdout and
 * stderr together into out. Returns the exit status, or -1. */
static int run(const char *args, char *out, size_t n)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", tu_build_path(program), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


/* The whole text of the file at path (caller frees), "" when unreadable. */
static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    char *text = fd >= 0 ? tu_slurp_fd(fd) : calloc(1, 1);
    if (fd >= 0)
        close(fd);
    return text;
}

/* Whether this machine has a usable GPU, as the program sees it. */
static int gpu_present(void)
{
    static char out[OUT_MAX];
    return run("--check-device", out, sizeof out) == 0;
}

static void temp_path(char *buf, size_t n, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/kvtier-test-cli-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    int fd = mkstemp(buf);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
}

static void test_help_lists_every_option(void)
{
    static char out[OUT_MAX];
    CU_ASSERT_EQUAL(run("--help", out, sizeof out), 0);
    const char *const opts[] = { "--out", "--db", "--base", "--name", "--no-profile", "--fit-only", "--run-id",
                                 "--bench", "--validate", "--validate-only", "--device", "--check-device", "--check-graphs",
                                 "--samples", "--warmup", "--quick", "--hbm-bytes", "--host-bytes", "--peer-bytes",
                                 "--kv-block-bytes", "--kv-max-blocks", "--launch-max-kernels", "--gemm-models",
                                 "--gemm-max-tokens", "--decode-max-context", "--decode-batches",
                                 "--decode-kv-heads", "--decode-max-bytes", "--prefill-max-tokens",
                                 "--prefill-heads", "--prefill-scores-bytes", "--storage-file",
                                 "--storage-max-bytes", "--validate-batches", "--validate-contexts",
                                 "--launch-figure", "--launch-busy-us", "--clock-warmup-ms", "--bench-timeout", "--dry-run", "--table", "--help",
                                 "--version", NULL };
    for (int i = 0; opts[i]; i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(out, opts[i]));
        if (!strstr(out, opts[i]))
            fprintf(stderr, "\n  --help lacks %s\n", opts[i]);
    }
    CU_ASSERT_EQUAL(run("--version", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "kvtier-calibrate"));
}

static void test_usage_errors(void)
{
    static char out[OUT_MAX];
    CU_ASSERT_EQUAL(run("--samples 3", out, sizeof out), 2);            /* fewer than 7 */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--samples"));
    CU_ASSERT_EQUAL(run("--bench hbm,nosuch", out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nosuch"));
    CU_ASSERT_EQUAL(run("--hbm-bytes 4GiB:1MiB", out, sizeof out), 2);
    CU_ASSERT_EQUAL(run("--kv-block-bytes 10B", out, sizeof out), 2);   /* not a multiple of 16 */
    CU_ASSERT_EQUAL(run("--launch-figure later", out, sizeof out), 2);
    CU_ASSERT_EQUAL(run("stray", out, sizeof out), 2);
}

/* Without a GPU every benchmark says why and exits 77, writing nothing. */
static void test_no_gpu_exits_77(void)
{
    if (gpu_present()) {
        fprintf(stderr, "\n  (a GPU is present: the no-GPU path is not exercised here)\n");
        return;
    }
    static char out[OUT_MAX];
    char db[4096], profile[4096], args[9000];
    temp_path(db, sizeof db, "db");
    temp_path(profile, sizeof profile, "yaml");
    unlink(db);
    unlink(profile);
    const char *const benches[] = { "hbm", "host", "peer", "launch", "gemm", "decode", "prefill", "sdpa",
                                    "sdpa-chunked", "sdpa-decode", "storage", NULL };
    for (int i = 0; benches[i]; i++) {
        snprintf(args, sizeof args, "--bench %s --db '%s' --out '%s'", benches[i], db, profile);
        CU_ASSERT_EQUAL(run(args, out, sizeof out), EXIT_SKIP);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "no usable GPU"));
    }
    CU_ASSERT_EQUAL(run("--check-device", out, sizeof out), EXIT_SKIP);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no usable GPU"));
    snprintf(args, sizeof args, "--validate-only '%s'", profile);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), EXIT_SKIP);
    CU_ASSERT_EQUAL(access(db, F_OK), -1);                  /* nothing created */
    CU_ASSERT_EQUAL(access(profile, F_OK), -1);
}

/* --fit-only needs no GPU: the recorded fixture becomes a loadable profile. */
static void test_fit_only_from_fixture(void)
{
    char db_path[4096], profile[4096], args[9000];
    temp_path(db_path, sizeof db_path, "fixture-db");
    temp_path(profile, sizeof profile, "fixture-yaml");
    unlink(db_path);
    kt_err err = { 0 };
    calib_db *db = calib_db_open(db_path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path("tests/data/calibrate/h100-fixture.sql"), &err), 0);
    calib_db_close(db);
    static char out[OUT_MAX];
    char table[4096];
    temp_path(table, sizeof table, "fixture-tsv");
    snprintf(args, sizeof args, "--fit-only --db '%s' --base '%s' --out '%s' --name test.calibrated --table '%s'",
             db_path, tu_path("hwprofiles/h100-sxm.yaml"), profile, table);
    int rc = run(args, out, sizeof out);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    hw_profile *h = hw_load(profile, &err);
    if (!h)
        kt_err_print(&err, stderr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_STRING_EQUAL(h->name, "test.calibrated");
    const hw_provenance *p = hw_provenance_of(h, "hbm_bandwidth");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    CU_ASSERT_EQUAL(p->samples, 91);
    CU_ASSERT_DOUBLE_EQUAL(h->hbm_bw_Bps, 3.0e12, 0.03e12);
    CU_ASSERT_DOUBLE_EQUAL(h->pcie_bw_Bps, 50e9, 0.5e9);
    /* The GEMM curve is measured: 15 M values, 0.76 · M / (M + 512) (the
     * fixture's median shape), over the four BF16 shapes' 7 samples each. */
    CU_ASSERT_EQUAL(h->gemm[DTYPE_BF16].n, 15);
    CU_ASSERT_DOUBLE_EQUAL(h->gemm[DTYPE_BF16].y[13], 0.76 * 8192 / 8704, 0.015 * 0.76);
    p = hw_provenance_of(h, "curves.gemm.bf16[13]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    CU_ASSERT_EQUAL(p->samples, 4 * 7);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "curves.gemm.bf16"));
    hw_free(h);
    /* The profile's header names the throttled benchmark; so does the log. */
    char *yaml = read_text(profile);
    CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
    CU_ASSERT_PTR_NOT_NULL(strstr(yaml, "# Benchmarks that ran throttled (clock samples): gemm (end: sw power cap"));
    free(yaml);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "WARNING: benchmarks that ran throttled"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(information) launch.eager"));
    /* The fit table: a header; the 8 measured figures (hbm, PCIe one way and
     * duplex, launch, the 4 device figures) and 5 informational ones (launch
     * eager, gap, graph, exposed at 2 and 32 us); the five curves' 15 + 15 +
     * 7 + 9 + 13 points; every case's points (gemm 5 × 15, prefill 7,
     * decode 4 × 9). Flagged throttled (the fixture's gemm ran under a power
     * cap): the gemm table's 75 rows, the gemm curves' 30 points and the
     * memory curve's 13, which pools the GEMMs with the reads. */
    FILE *t = fopen(table, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char row[4096];
    int rows = 0, curve_rows = 0, figure_rows = 0, info_rows = 0, flagged = 0;
    while (fgets(row, sizeof row, t)) {
        rows++;
        curve_rows += strncmp(row, "curve\t", 6) == 0;
        figure_rows += strncmp(row, "figure\t", 7) == 0;
        info_rows += strncmp(row, "info\t", 5) == 0;
        size_t len = strlen(row);
        flagged += len > 2 && strcmp(row + len - 3, "\t1\n") == 0;
        if (strncmp(row, "figure\thbm_bandwidth\t", 22) == 0)
            CU_ASSERT_STRING_EQUAL(row + len - 3, "\t0\n");
    }
    fclose(t);
    CU_ASSERT_EQUAL(figure_rows, 8);
    CU_ASSERT_EQUAL(info_rows, 5);
    CU_ASSERT_EQUAL(curve_rows, 15 + 15 + 7 + 9 + 13);
    CU_ASSERT_EQUAL(rows, 1 + 8 + 5 + curve_rows + 5 * 15 + 7 + 4 * 9);
    CU_ASSERT_EQUAL(flagged, 5 * 15 + 15 + 15 + 13);
    unlink(table);

    /* The base is found from the run's GPU name when --base is not given,
     * and a run that is not there is an error. */
    snprintf(args, sizeof args, "--fit-only --db '%s' --out '%s' --run-id 2", db_path, profile);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no calibration run 2"));
    unlink(profile);
    unlink(db_path);
}

/* A run in which a benchmark failed still becomes a profile: the failure is
 * printed and written into the profile's header, the figures that benchmark
 * gives keep the base's values (tests/data/calibrate/h100-fixture-failed.sql). */
static void test_fit_only_with_failed_benchmark(void)
{
    char db_path[4096], profile[4096], args[9000];
    temp_path(db_path, sizeof db_path, "failed-db");
    temp_path(profile, sizeof profile, "failed-yaml");
    unlink(db_path);
    kt_err err = { 0 };
    calib_db *db = calib_db_open(db_path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path("tests/data/calibrate/h100-fixture.sql"), &err), 0);
    CU_ASSERT_EQUAL_FATAL(calib_db_exec_file(db, tu_path("tests/data/calibrate/h100-fixture-failed.sql"), &err), 0);
    calib_db_close(db);
    static char out[OUT_MAX];
    snprintf(args, sizeof args, "--fit-only --db '%s' --base '%s' --out '%s'", db_path,
             tu_path("hwprofiles/h100-sxm.yaml"), profile);
    int rc = run(args, out, sizeof out);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "benchmarks that failed: gemm: cublasLtMatmul"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "launch/eager"));
    char *text = read_text(profile);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "# Benchmarks that failed (what they measure keeps the base's figures): "
                                        "gemm: cublasLtMatmul: CUBLAS_STATUS_EXECUTION_FAILED (synthetic)"));
    free(text);
    hw_profile *h = hw_load(profile, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const hw_provenance *p = hw_provenance_of(h, "curves.gemm.bf16[0]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_NOT_EQUAL(p->status, HW_MEASURED);
    p = hw_provenance_of(h, "curves.memory[0]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->status, HW_MEASURED);
    hw_free(h);
    unlink(profile);
    unlink(db_path);
}

/* --dry-run needs no GPU: per step its points and timed calls (HBM over
 * 1 .. 4 MiB raised to 4 × L2 = 200 MiB on an H100: 8 sizes × 3 cases = 24
 * points, × (7 + 1) calls = 192), and a default plan under 8 minutes. */
static void test_dry_run(void)
{
    static char out[OUT_MAX];
    char args[9000];
    snprintf(args, sizeof args, "--dry-run --bench hbm --hbm-bytes 1MiB:4MiB --samples 7 --warmup 1 --base '%s'",
             tu_path("hwprofiles/h100-sxm.yaml"));
    CU_ASSERT_EQUAL_FATAL(run(args, out, sizeof out), 0);
    int points = 0, calls = 0;
    const char *line = strstr(out, "\n  hbm ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    CU_ASSERT_EQUAL(sscanf(line, " hbm %d %d", &points, &calls), 2);
    CU_ASSERT_EQUAL(points, 24);
    CU_ASSERT_EQUAL(calls, 192);
    CU_ASSERT_PTR_NULL(strstr(out, "\n  gemm "));
    snprintf(args, sizeof args, "--dry-run --validate --base '%s'", tu_path("hwprofiles/h100-sxm.yaml"));
    CU_ASSERT_EQUAL_FATAL(run(args, out, sizeof out), 0);
    double total = 0;
    line = strstr(out, "\n  total ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    CU_ASSERT_EQUAL(sscanf(line, " total %lf s", &total), 1);
    CU_ASSERT(total > 0 && total < 8 * 60);
    const char *const steps[] = { "hbm", "host", "peer", "launch", "gemm", "decode", "prefill", "sdpa",
                                  "sdpa-chunked", "sdpa-decode", "storage", "validate", NULL };
    for (int i = 0; steps[i]; i++) {
        char want[32];
        snprintf(want, sizeof want, "\n  %s ", steps[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    }
}

/* --check-graphs needs no GPU: with cuDNN 9 loadable, cuDNN finalizes an
 * operation graph of every kind the sdpa benchmarks time (it refuses
 * inconsistent tensors and operations there): the whole sequence, the
 * three default chunk lengths, and paged and contiguous decode for BF16 at
 * groups 1, 4, 8 and FP16 at 4 — 1 + 3 + 4 × 2 = 12 lines, each
 * "finalized". Without cuDNN it exits 77 and says so. */
static void test_check_graphs(void)
{
    static char out[OUT_MAX];
    int st = run("--check-graphs", out, sizeof out);
    if (st == EXIT_SKIP) {
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "cuDNN 9 cannot be loaded"));
        fprintf(stderr, "\n  (no cuDNN 9 here: the graphs are not checked)\n");
        return;
    }
    CU_ASSERT_EQUAL(st, 0);
    int lines = 0, finalized = 0;
    for (const char *l = strstr(out, "cuDNN graph "); l; l = strstr(l + 1, "cuDNN graph ")) {
        lines++;
        const char *eol = strchr(l, '\n');
        const char *f = strstr(l, "finalized");
        finalized += f && (!eol || f < eol);
    }
    CU_ASSERT_EQUAL(lines, 12);
    CU_ASSERT_EQUAL(finalized, 12);
    const char *const kinds[] = { "sdpa n=512", "sdpa-chunked q=8192 prefix=1024", "sdpa-decode bf16 g=8 paged",
                                  "sdpa-decode fp16 g=4 contiguous", NULL };
    for (int i = 0; kinds[i]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(out, kinds[i]));
}

int main(void)
{
    const tu_test tests[] = {
        { "--help lists every option", test_help_lists_every_option },
        { "usage errors exit 2", test_usage_errors },
        { "no GPU: exit 77 with the reason", test_no_gpu_exits_77 },
        { "--fit-only from the fixture", test_fit_only_from_fixture },
        { "--fit-only with a failed benchmark", test_fit_only_with_failed_benchmark },
        { "--dry-run: the plan without a GPU", test_dry_run },
        { "--check-graphs: cuDNN finalizes every graph kind, no GPU", test_check_graphs },
        { NULL, NULL },
    };
    return tu_run("calibrate-cli", tests);
}
