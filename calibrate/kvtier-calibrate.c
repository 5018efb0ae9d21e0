/* kvtier-calibrate.c — the calibration program: runs the CUDA microbenchmarks on one GPU, stores raw samples in SQLite, fits them and writes a calibrated hardware profile; --fit-only refits a stored run without a GPU. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "calib_db.h"
#include "calib_derive.h"
#include "calib_plan.h"
#include "calib_write.h"
#include "config.h"
#include "conf.h"
#include "hw.h"
#include "scenario.h"
#include "units.h"

#define EXIT_USAGE 2
/* parse_options: go on with the run (any other value is the exit status). */
#define PARSE_GO_ON (-1)
#define MAX_DIRS 8
#define DIR_BUF 8192
#define PATH_LEN 4096
/* A profile's header comment: the run's description and four lists. */
#define COMMENT_LEN (3 * PATH_LEN + 4 * CALIB_LIST_CHARS)
/* Exit status of a measurement whose profile was written from what was
 * measured though some benchmark failed (documented in --help). */
#define EXIT_PARTIAL 3
/* Default wall-clock limit of one benchmark's process: the default sweeps
 * take well under this on an H100 (see --dry-run); a hung kernel is killed. */
#define DEFAULT_BENCH_TIMEOUT_S 600
/* How often the parent looks at a running benchmark process: 50 ms. */
#define CHILD_POLL_NS 50000000L

#if defined(__SANITIZE_ADDRESS__)
/* Under --enable-asan: the CUDA runtime maps device memory where ASan
 * protects the gap between its shadow regions, so its first call fails
 * unless that protection is off (the ASan documentation's setting for
 * CUDA). ASAN_OPTIONS may still override it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "protect_shadow_gap=0";
}
#endif

/* The base a dry run plans on when --base is not given (no device to ask). */
#define DRY_RUN_BASE "h100-sxm"
/* Minutes a default plan should stay under: one lent device session. */
#define PLAN_TARGET_S (8 * 60.0)

/* Spec-sheet profile chosen from the device name when --base is not given:
 * the first entry whose needle the name contains. */
static const struct { const char *needle, *profile; } base_by_name[] = {
    { "H200", "h200-sxm" }, { "H100", "h100-sxm" }, { "A100", "a100-sxm-80gb" }, { "B200", "b200" },
};

typedef struct benchmark {
    const char *name;
    int (*run)(kt_bench *b, kt_err *err);
} benchmark;

static const benchmark benchmarks[] = {
    { "hbm", kt_bench_hbm }, { "host", kt_bench_host }, { "peer", kt_bench_peer }, { "launch", kt_bench_launch },
    { "gemm", kt_bench_gemm }, { "decode", kt_bench_decode }, { "prefill", kt_bench_prefill }, { "sdpa", kt_bench_sdpa },
    { "sdpa-chunked", kt_bench_sdpa_chunked }, { "sdpa-decode", kt_bench_sdpa_decode }, { "storage", kt_bench_storage },
};
#define N_BENCHMARKS (sizeof benchmarks / sizeof benchmarks[0])

/* Everything the command line sets. */
typedef struct options {
    kt_params p;
    calib_derive_opts fit;
    char out[PATH_LEN], db[PATH_LEN], base[PATH_LEN], name[64], validate_only[PATH_LEN];
    char table[PATH_LEN];      /* fit table (TSV) to write beside the profile, "" for none */
    int selected[N_BENCHMARKS];
    int device, validate, fit_only, no_profile, check_device, check_graphs;
    int bench_timeout_s;       /* per benchmark process */
    int dry_run;
    int64_t run_id;            /* 0: newest */
    char cmdline[1024];        /* the command line, recorded with the run */
} options;

/* ---------- help ---------- */

static void usage(FILE *out)
{
    fputs(
        "Usage: kvtier-calibrate [OPTION]...\n"
        "Measure one GPU with CUDA microbenchmarks, keep every raw sample in SQLite, fit\n"
        "them, and write a calibrated hardware profile (hwprofiles/README.md schema).\n"
        "\n"
        "Output:\n"
        "  --out PATH              profile to write (default hwprofiles/BASE.calibrated.yaml)\n"
        "  --db PATH               SQLite file for raw samples and fits (default calib.db)\n"
        "  --base NAME|PATH        spec-sheet profile to start from; figures not measured\n"
        "                          keep its values and sources (default: from the GPU's\n"
        "                          name: H100 h100-sxm, H200 h200-sxm, A100 a100-sxm-80gb,\n"
        "                          B200 b200)\n"
        "  --name NAME             profile name written (default BASE.calibrated)\n"
        "  --no-profile            measure and store samples only\n"
        "  --table PATH            also write the fits as a table (TSV): every measured\n"
        "                          curve point and every benchmark case's efficiency\n"
        "  --fit-only              no GPU needed: fit a stored run of --db, write --out\n"
        "  --run-id N              the run --fit-only fits (default: the newest)\n"
        "\n"
        "What to run:\n"
        "  --bench LIST            comma-separated, from hbm,host,peer,launch,gemm,decode,\n"
        "                          prefill,sdpa,sdpa-chunked,sdpa-decode,storage (default:\n"
        "                          all; the sdpa ones need cuDNN 9)\n"
        "  --validate              then run the composite validation (one Llama-3.1-8B\n"
        "                          decoder step) against the profile just written\n"
        "  --validate-only PATH    run only the validation, against the profile at PATH\n"
        "  --device N              CUDA device (default 0)\n"
        "  --check-device          say whether a usable GPU is present; exit 0 or 77\n"
        "  --check-graphs          no GPU needed: build every kind of cuDNN attention graph\n"
        "                          the sdpa benchmarks time to a finalized operation graph;\n"
        "                          exit 0, 77 without cuDNN 9, 1 when cuDNN refuses one\n"
        "  --bench-timeout S       kill a benchmark's process after S seconds (600); each\n"
        "                          benchmark runs in its own process, so a crash, a hang or\n"
        "                          a CUDA error ends that benchmark only\n"
        "  --dry-run               print the plan (points, timed calls, estimated time per\n"
        "                          benchmark, from the base profile) and exit; no GPU needed\n"
        "\n"
        "Sampling (every point: warm-up, L2 flushed before each timed call, CUDA events):\n"
        "  --samples N             timed samples per point, at least 7 (default 11)\n"
        "  --warmup N              untimed calls before them (default 3)\n"
        "  --quick                 short sweeps for a smoke test; later options override\n"
        "\n"
        "Sweeps (sizes take units: 4KiB, 64MiB, 1GiB; ranges are powers of two):\n"
        "  --hbm-bytes MIN:MAX     HBM read/copy/triad arrays (1MiB:4GiB; MAX >= 4 x L2)\n"
        "  --host-bytes MIN:MAX    host<->device copies (4KiB:1GiB)\n"
        "  --peer-bytes MIN:MAX    peer copies, with two or more GPUs (1MiB:1GiB)\n"
        "  --kv-block-bytes LIST   KV block sizes of the offload pattern (16KiB,64KiB,256KiB)\n"
        "  --kv-max-blocks N       blocks per KV transfer, 1..N (1024)\n"
        "  --launch-max-kernels N  kernels per launch sequence, 1..N (1024)\n"
        "  --launch-busy-us LIST   durations of the busy kernels whose eager launches are\n"
        "                          timed against the same kernels queued (2,8,32)\n"
        "  --clock-warmup-ms N     HBM load before each benchmark that brings the clocks\n"
        "                          up before its first clock reading (1000; 0: none)\n"
        "  --gemm-models LIST      model cards whose (N, K) shapes are swept\n"
        "                          (llama-3.1-8b,llama-3.1-70b)\n"
        "  --gemm-max-tokens N     GEMM M = 1..N (16384)\n"
        "  --decode-max-context N  paged decode contexts 512..N (131072; sdpa-decode\n"
        "                          in powers of 4)\n"
        "  --decode-batches LIST   decode and sdpa-decode batch sizes (1,8,32)\n"
        "  --decode-kv-heads N     KV heads of decode and sdpa-decode (8)\n"
        "  --decode-max-bytes SIZE K plus V pool cap; larger points are left out (16GiB)\n"
        "  --prefill-max-tokens N  prefill and sdpa sequences 512..N (16384)\n"
        "  --prefill-heads N       query heads of prefill, sdpa and sdpa-chunked (32)\n"
        "  --prefill-scores-bytes SIZE  score matrix budget; heads run in groups (4GiB)\n"
        "  --storage-file PATH     file on the drive under test (storage is skipped without)\n"
        "  --storage-max-bytes SIZE largest read (1GiB)\n"
        "  --validate-batches LIST validation batch sizes (1,8,32,64)\n"
        "  --validate-contexts LIST validation contexts (1024,4096,16384)\n"
        "\n"
        "Fitting:\n"
        "  --launch-figure graph|eager|gap  launch fit that becomes launch_overhead (graph:\n"
        "                          per node of a CUDA graph replay, what a serving loop\n"
        "                          that graphs its steps pays; the others are reported)\n"
        "\n"
        "  --help                  this text\n"
        "  --version               the version\n"
        "\n"
        "Exit status: 0 done; 3 some benchmark failed, the profile was written from the\n"
        "rest (the failures are in table calib_failures and the profile's header); 77 no\n"
        "usable GPU (nothing measured); 1 error; 2 usage.\n",
        out);
}

/* ---------- option values ---------- */

static int parse_int(const char *opt, const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > INT32_MAX) {
        fprintf(stderr, "kvtier-calibrate: %s: expected an integer >= %d, got '%s'\n", opt, lo, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_bytes(const char *opt, const char *s, size_t *out)
{
    double v;
    char why[256];
    if (units_parse(s, UNITS_BYTES, &v, why, sizeof why) < 0 || !(v >= 1)) {
        fprintf(stderr, "kvtier-calibrate: %s: %s\n", opt, v >= 1 ? why : "expected a size such as 64MiB");
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_range(const char *opt, const char *s, size_t *lo, size_t *hi)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strchr(buf, ':');
    if (!colon) {
        fprintf(stderr, "kvtier-calibrate: %s: expected MIN:MAX, got '%s'\n", opt, s);
        return -1;
    }
    *colon = '\0';
    if (parse_bytes(opt, buf, lo) < 0 || parse_bytes(opt, colon + 1, hi) < 0)
        return -1;
    if (*lo > *hi) {
        fprintf(stderr, "kvtier-calibrate: %s: MIN is larger than MAX\n", opt);
        return -1;
    }
    return 0;
}

static int parse_int_list(const char *opt, const char *s, int *out, int *n)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == KT_MAX_LIST || parse_int(opt, tok, 1, &out[*n]) < 0)
            return -1;
        (*n)++;
    }
    return *n ? 0 : -1;
}

static int parse_bytes_list(const char *opt, const char *s, size_t *out, int *n)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == KT_MAX_LIST || parse_bytes(opt, tok, &out[*n]) < 0)
            return -1;
        if (out[*n] % 16) {
            fprintf(stderr, "kvtier-calibrate: %s: block sizes must be multiples of 16 bytes\n", opt);
            return -1;
        }
        (*n)++;
    }
    return *n ? 0 : -1;
}

static int parse_bench_list(const char *s, int *selected)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    memset(selected, 0, N_BENCHMARKS * sizeof *selected);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < N_BENCHMARKS && strcmp(benchmarks[i].name, tok) != 0)
            i++;
        if (i == N_BENCHMARKS) {
            fprintf(stderr, "kvtier-calibrate: --bench: unknown benchmark '%s' (known: hbm, host, peer, "
                    "launch, gemm, decode, prefill, sdpa, sdpa-chunked, sdpa-decode, storage)\n", tok);
            return -1;
        }
        selected[i] = 1;
    }
    return 0;
}

static int parse_launch_figure(const char *s, calib_launch_figure *out)
{
    static const char *const names[] = { "eager", "graph", "gap" };
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (calib_launch_figure)i;
            return 0;
        }
    fprintf(stderr, "kvtier-calibrate: --launch-figure: expected graph, eager or gap, got '%s'\n", s);
    return -1;
}

static int set_path(char *dst, const char *src)
{
    if (strlen(src) >= PATH_LEN) {
        fprintf(stderr, "kvtier-calibrate: path too long: %s\n", src);
        return -1;
    }
    strcpy(dst, src);
    return 0;
}

/* Short sweeps: a smoke test of every benchmark in well under a minute. */
static void apply_quick(kt_params *p)
{
    p->quick = 1;
    p->samples = KT_MIN_SAMPLES;
    p->warmup = 1;
    p->hbm_max_bytes = (size_t)256 << 20;
    p->host_max_bytes = (size_t)64 << 20;
    p->peer_max_bytes = (size_t)64 << 20;
    p->kv_max_blocks = 64;
    p->launch_max_kernels = 64;
    p->clock_warmup_ms = 200;
    snprintf(p->gemm_models, sizeof p->gemm_models, "llama-3.1-8b");
    p->chunk_max_prefix = p->chunk_min_prefix;
    p->gemm_max_tokens = 1024;
    p->decode_max_context = 8192;
    p->n_decode_batches = 2;
    p->decode_batches[0] = 1;
    p->decode_batches[1] = 8;
    p->prefill_max_tokens = 2048;
    p->storage_max_bytes = (size_t)64 << 20;
    p->n_validate_batches = 2;
    p->validate_batches[0] = 1;
    p->validate_batches[1] = 8;
    p->n_validate_contexts = 1;
    p->validate_contexts[0] = 1024;
}

/* ---------- the command line ---------- */

enum {
    OPT_OUT = 256, OPT_DB, OPT_BASE, OPT_NAME, OPT_NO_PROFILE, OPT_FIT_ONLY, OPT_RUN_ID, OPT_BENCH, OPT_VALIDATE,
    OPT_VALIDATE_ONLY, OPT_DEVICE, OPT_CHECK_DEVICE, OPT_CHECK_GRAPHS, OPT_BENCH_TIMEOUT, OPT_DRY_RUN, OPT_TABLE, OPT_SAMPLES, OPT_WARMUP, OPT_QUICK, OPT_HBM, OPT_HOST, OPT_PEER,
    OPT_KV_BLOCK, OPT_KV_MAX, OPT_LAUNCH_MAX, OPT_GEMM_MODELS, OPT_GEMM_MAX, OPT_DECODE_MAX, OPT_DECODE_BATCHES,
    OPT_DECODE_KV_HEADS, OPT_DECODE_BYTES, OPT_PREFILL_MAX, OPT_PREFILL_HEADS, OPT_PREFILL_BYTES, OPT_STORAGE_FILE,
    OPT_STORAGE_MAX, OPT_VALIDATE_BATCHES, OPT_VALIDATE_CONTEXTS, OPT_LAUNCH_FIGURE, OPT_LAUNCH_BUSY, OPT_CLOCK_WARMUP,
    OPT_HELP, OPT_VERSION
};

static const struct option long_opts[] = {
    { "out", required_argument, NULL, OPT_OUT }, { "db", required_argument, NULL, OPT_DB },
    { "base", required_argument, NULL, OPT_BASE }, { "name", required_argument, NULL, OPT_NAME },
    { "no-profile", no_argument, NULL, OPT_NO_PROFILE }, { "fit-only", no_argument, NULL, OPT_FIT_ONLY },
    { "run-id", required_argument, NULL, OPT_RUN_ID }, { "bench", required_argument, NULL, OPT_BENCH },
    { "validate", no_argument, NULL, OPT_VALIDATE }, { "validate-only", required_argument, NULL, OPT_VALIDATE_ONLY },
    { "device", required_argument, NULL, OPT_DEVICE }, { "check-device", no_argument, NULL, OPT_CHECK_DEVICE },
    { "check-graphs", no_argument, NULL, OPT_CHECK_GRAPHS },
    { "bench-timeout", required_argument, NULL, OPT_BENCH_TIMEOUT }, { "dry-run", no_argument, NULL, OPT_DRY_RUN },
    { "table", required_argument, NULL, OPT_TABLE },
    { "samples", required_argument, NULL, OPT_SAMPLES }, { "warmup", required_argument, NULL, OPT_WARMUP },
    { "quick", no_argument, NULL, OPT_QUICK }, { "hbm-bytes", required_argument, NULL, OPT_HBM },
    { "host-bytes", required_argument, NULL, OPT_HOST }, { "peer-bytes", required_argument, NULL, OPT_PEER },
    { "kv-block-bytes", required_argument, NULL, OPT_KV_BLOCK }, { "kv-max-blocks", required_argument, NULL, OPT_KV_MAX },
    { "launch-max-kernels", required_argument, NULL, OPT_LAUNCH_MAX },
    { "gemm-models", required_argument, NULL, OPT_GEMM_MODELS },
    { "gemm-max-tokens", required_argument, NULL, OPT_GEMM_MAX },
    { "decode-max-context", required_argument, NULL, OPT_DECODE_MAX },
    { "decode-batches", required_argument, NULL, OPT_DECODE_BATCHES },
    { "decode-kv-heads", required_argument, NULL, OPT_DECODE_KV_HEADS },
    { "decode-max-bytes", required_argument, NULL, OPT_DECODE_BYTES },
    { "prefill-max-tokens", required_argument, NULL, OPT_PREFILL_MAX },
    { "prefill-heads", required_argument, NULL, OPT_PREFILL_HEADS },
    { "prefill-scores-bytes", required_argument, NULL, OPT_PREFILL_BYTES },
    { "storage-file", required_argument, NULL, OPT_STORAGE_FILE },
    { "storage-max-bytes", required_argument, NULL, OPT_STORAGE_MAX },
    { "validate-batches", required_argument, NULL, OPT_VALIDATE_BATCHES },
    { "validate-contexts", required_argument, NULL, OPT_VALIDATE_CONTEXTS },
    { "launch-figure", required_argument, NULL, OPT_LAUNCH_FIGURE },
    { "launch-busy-us", required_argument, NULL, OPT_LAUNCH_BUSY },
    { "clock-warmup-ms", required_argument, NULL, OPT_CLOCK_WARMUP },
    { "help", no_argument, NULL, OPT_HELP }, { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

/* Options about outputs and the run. */
static int take_run_option(options *o, int c, const char *a)
{
    int id;
    switch (c) {
    case OPT_OUT: return set_path(o->out, a);
    case OPT_DB: return set_path(o->db, a);
    case OPT_BASE: return set_path(o->base, a);
    case OPT_NAME: snprintf(o->name, sizeof o->name, "%s", a); return 0;
    case OPT_NO_PROFILE: o->no_profile = 1; return 0;
    case OPT_FIT_ONLY: o->fit_only = 1; return 0;
    case OPT_RUN_ID: if (parse_int("--run-id", a, 1, &id) < 0) return -1; o->run_id = id; return 0;
    case OPT_BENCH: return parse_bench_list(a, o->selected);
    case OPT_VALIDATE: o->validate = 1; return 0;
    case OPT_VALIDATE_ONLY: return set_path(o->validate_only, a);
    case OPT_DEVICE: return parse_int("--device", a, 0, &o->device);
    case OPT_CHECK_DEVICE: o->check_device = 1; return 0;
    case OPT_CHECK_GRAPHS: o->check_graphs = 1; return 0;
    case OPT_BENCH_TIMEOUT: return parse_int("--bench-timeout", a, 1, &o->bench_timeout_s);
    case OPT_DRY_RUN: o->dry_run = 1; return 0;
    case OPT_TABLE: return set_path(o->table, a);
    case OPT_QUICK: return 0;   /* applied by options_defaults */
    case OPT_LAUNCH_FIGURE: return parse_launch_figure(a, &o->fit.launch);
    default: return 1;         /* not one of these */
    }
}

/* Sampling and sweep parameters. */
static int take_sweep_option(kt_params *p, int c, const char *a)
{
    switch (c) {
    case OPT_SAMPLES: return parse_int("--samples", a, KT_MIN_SAMPLES, &p->samples);
    case OPT_WARMUP: return parse_int("--warmup", a, 0, &p->warmup);
    case OPT_HBM: return parse_range("--hbm-bytes", a, &p->hbm_min_bytes, &p->hbm_max_bytes);
    case OPT_HOST: return parse_range("--host-bytes", a, &p->host_min_bytes, &p->host_max_bytes);
    case OPT_PEER: return parse_range("--peer-bytes", a, &p->peer_min_bytes, &p->peer_max_bytes);
    case OPT_KV_BLOCK: return parse_bytes_list("--kv-block-bytes", a, p->kv_block_bytes, &p->n_kv_block_bytes);
    case OPT_KV_MAX: return parse_int("--kv-max-blocks", a, 1, &p->kv_max_blocks);
    case OPT_LAUNCH_MAX: return parse_int("--launch-max-kernels", a, 1, &p->launch_max_kernels);
    case OPT_LAUNCH_BUSY: return parse_int_list("--launch-busy-us", a, p->launch_busy_us, &p->n_launch_busy);
    case OPT_CLOCK_WARMUP: return parse_int("--clock-warmup-ms", a, 0, &p->clock_warmup_ms);
    case OPT_GEMM_MODELS: snprintf(p->gemm_models, sizeof p->gemm_models, "%s", a); return 0;
    case OPT_GEMM_MAX: return parse_int("--gemm-max-tokens", a, 1, &p->gemm_max_tokens);
    case OPT_DECODE_MAX: return parse_int("--decode-max-context", a, 512, &p->decode_max_context);
    case OPT_DECODE_BATCHES: return parse_int_list("--decode-batches", a, p->decode_batches, &p->n_decode_batches);
    case OPT_DECODE_KV_HEADS: return parse_int("--decode-kv-heads", a, 1, &p->decode_kv_heads);
    case OPT_DECODE_BYTES: return parse_bytes("--decode-max-bytes", a, &p->decode_max_bytes);
    case OPT_PREFILL_MAX: return parse_int("--prefill-max-tokens", a, 512, &p->prefill_max_tokens);
    case OPT_PREFILL_HEADS: return parse_int("--prefill-heads", a, 1, &p->prefill_heads);
    case OPT_PREFILL_BYTES: return parse_bytes("--prefill-scores-bytes", a, &p->prefill_scores_bytes);
    case OPT_STORAGE_FILE: snprintf(p->storage_file, sizeof p->storage_file, "%s", a); return 0;
    case OPT_STORAGE_MAX: return parse_bytes("--storage-max-bytes", a, &p->storage_max_bytes);
    case OPT_VALIDATE_BATCHES:
        return parse_int_list("--validate-batches", a, p->validate_batches, &p->n_validate_batches);
    case OPT_VALIDATE_CONTEXTS:
        return parse_int_list("--validate-contexts", a, p->validate_contexts, &p->n_validate_contexts);
    default: return 1;
    }
}

/* The share of --bench-timeout after which a benchmark that builds a plan
 * per shape starts no new point: the rest leaves room for the point in
 * progress and the teardown, so that a slow build shortens the sweep
 * instead of having the process killed and its samples lost. */
#define SWEEP_BUDGET_SHARE 0.8

static void options_defaults(options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    kt_params_defaults(&o->p);
    calib_derive_defaults(&o->fit);
    snprintf(o->db, sizeof o->db, "calib.db");
    o->bench_timeout_s = DEFAULT_BENCH_TIMEOUT_S;
    for (size_t i = 0; i < N_BENCHMARKS; i++)
        o->selected[i] = 1;
    /* A first pass applies --quick wherever it stands, so that the options
     * the second pass reads override its sizes; errors wait for that pass. */
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
        if (c == OPT_QUICK)
            apply_quick(&o->p);
    opterr = 1;
    optind = 0;
}

/* Returns PARSE_GO_ON, or the exit status to stop with (--help, --version, a usage error). */
static int parse_options(options *o, int argc, char **argv)
{
    options_defaults(o, argc, argv);
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == OPT_HELP) {
            usage(stdout);
            return EXIT_SUCCESS;
        }
        if (c == OPT_VERSION) {
            printf("kvtier-calibrate %s\n", PACKAGE_VERSION);
            return EXIT_SUCCESS;
        }
        if (c == '?')
            return EXIT_USAGE;
        int rc = take_run_option(o, c, optarg);
        if (rc == 1)
            rc = take_sweep_option(&o->p, c, optarg);
        if (rc != 0)
            return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "kvtier-calibrate: unexpected argument '%s' (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    o->p.sweep_budget_s = SWEEP_BUDGET_SHARE * o->bench_timeout_s;
    return PARSE_GO_ON;
}

/* ---------- profiles ---------- */

static void data_dirs(const char *sub, char *buf, size_t n, const char **dirs)
{
    scenario_data_dirs(NULL, sub, buf, n, dirs, MAX_DIRS);
}

/* Resolves the base profile (by name or path; from the GPU name when none was given). */
static int resolve_base(const options *o, const char *gpu_name, char *path, size_t n, kt_err *err)
{
    const char *name = o->base[0] ? o->base : NULL;
    for (size_t i = 0; !name && i < sizeof base_by_name / sizeof base_by_name[0]; i++)
        if (strstr(gpu_name, base_by_name[i].needle))
            name = base_by_name[i].profile;
    if (!name) {
        KT_ERROR(err, NULL, 0, 0, "no spec-sheet profile is known for '%s': give one with --base", gpu_name);
        return -1;
    }
    char buf[DIR_BUF];
    const char *dirs[MAX_DIRS];
    data_dirs("hwprofiles", buf, sizeof buf, dirs);
    return conf_resolve_named(name, dirs, "hardware profile", path, n, err);
}

static void header_comment(char *buf, size_t n, const calib_run_info *ri, int64_t run, const char *db,
                           const char *base_path)
{
    snprintf(buf, n,
             "Calibrated profile written by kvtier-calibrate %s from run %lld of %s.\n"
             "Measured on %s (PCI %s) %s; driver %d, runtime %d, compute capability %d.%d;\n"
             "SM clock %.0f MHz (max %.0f), memory clock %.0f MHz (max %.0f) at the start (0: NVML absent).\n"
             "Starts from %s: figures not measured keep its values and sources (status: assumed).\n"
             "Schema and provenance policy: hwprofiles/README.md; method: calibrate/README.md.",
             PACKAGE_VERSION, (long long)run, db, ri->gpu_name, ri->pci_bus_id, ri->started_utc, ri->driver_version,
             ri->runtime_version, ri->cc_major, ri->cc_minor, ri->sm_clock_mhz, ri->sm_clock_max_mhz,
             ri->mem_clock_mhz, ri->mem_clock_max_mhz, base_path);
}

static void print_figures(const calib_result *r)
{
    for (size_t i = 0; i < r->figs.n; i++) {
        const calib_figure *f = &r->figs.fig[i];
        char v[64];
        calib_format_value(f->key, f->value, v, sizeof v);
        printf("  %-22s %-18s residual %.4f  samples %lld\n", f->key, v, f->residual, (long long)f->samples);
    }
    for (size_t i = 0; i < r->curves.n; i++) {
        const calib_curve_fig *c = &r->curves.c[i];
        printf("  curves.%-15s %zu points, x %.6g to %.6g, value %.4f to %.4f\n", c->key, c->n, c->pt[0].x,
               c->pt[c->n - 1].x, c->pt[0].eff, c->pt[c->n - 1].eff);
    }
    for (size_t i = 0; i < r->info.n; i++)
        printf("  (information) %-28s %8.0f ns  residual %.4f  samples %lld\n", r->info.fig[i].key,
               r->info.fig[i].value, r->info.fig[i].residual, (long long)r->info.fig[i].samples);
    if (r->throttled[0])
        printf("  WARNING: benchmarks that ran throttled (their figures are flagged in the fit table): %s\n",
               r->throttled);
    if (r->skipped[0])
        printf("  kept from the base (no samples): %s\n", r->skipped);
    if (r->failed[0])
        printf("  kept from the base (fit failed): %s\n", r->failed);
    if (r->warnings[0])
        printf("  warnings: %s\n", r->warnings);
}

/* One row of the fit table; throttled when a benchmark behind it ran so. */
static void table_row(FILE *f, const calib_result *r, const char *kind, const char *name, const char *benches,
                      double x, double value, double residual, long long samples)
{
    fprintf(f, "%s\t%s\t%.17g\t%.10g\t%.6g\t%lld\t%d\n", kind, name, x, value, residual, samples,
            calib_result_throttled(r, benches));
}

/* Writes the fit table: the measured figures (x 0) and informational
 * ones, the measured curves' points, then every case's efficiency at every
 * measured x (tab-separated, one header line); the last column is 1 where a
 * benchmark behind the row ran throttled. */
static int write_table(const char *path, const calib_result *r, kt_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        KT_ERROR(err, path, 0, 0, "cannot write the fit table: %s", strerror(errno));
        return -1;
    }
    fputs("kind\tname\tx\tvalue\tresidual\tsamples\tthrottled\n", f);
    const struct { const char *kind; const calib_figures *figs; } lists[] = { { "figure", &r->figs },
                                                                              { "info", &r->info } };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (size_t i = 0; i < lists[l].figs->n; i++) {
            const calib_figure *g = &lists[l].figs->fig[i];
            table_row(f, r, lists[l].kind, g->key, g->benches, 0, g->value, g->residual, (long long)g->samples);
        }
    for (size_t i = 0; i < r->curves.n; i++)
        for (size_t k = 0; k < r->curves.c[i].n; k++) {
            const calib_pooled *p = &r->curves.c[i].pt[k];
            table_row(f, r, "curve", r->curves.c[i].key, r->curves.c[i].benches, p->x, p->eff, p->residual,
                      (long long)p->samples);
        }
    const calib_efftab *tabs[] = { &r->gemm, &r->prefill, &r->sdpa, &r->sdpa_chunked, &r->decode, &r->sdpa_decode };
    for (size_t t = 0; t < sizeof tabs / sizeof tabs[0]; t++)
        for (size_t i = 0; i < tabs[t]->n; i++)
            for (size_t k = 0; k < tabs[t]->curves[i].n; k++)
                fprintf(f, "%s\t%s\t%.10g\t%.10g\t\t\t%d\n", tabs[t]->name, tabs[t]->curves[i].label,
                        exp(tabs[t]->curves[i].logx[k]), tabs[t]->curves[i].eff[k],
                        calib_result_throttled(r, tabs[t]->name));
    if (fclose(f) != 0) {
        KT_ERROR(err, path, 0, 0, "write error: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends "\n<title>: <list>" to the comment when the list is not empty. */
static void append_list(char *comment, size_t n, const char *title, const char *list)
{
    size_t len = strlen(comment);
    if (list[0] && len + 1 < n)
        snprintf(comment + len, n - len, "\n%s: %s", title, list);
}

/* Derives the figures of run and writes the profile to o->out (or the
 * default path, returned in out_path). */
static int fit_and_write(const options *o, calib_db *db, int64_t run, char *out_path, size_t n, kt_err *err)
{
    calib_run_info ri;
    char base_path[PATH_LEN];
    if (calib_db_run_info(db, run, &ri, err) < 0 || resolve_base(o, ri.gpu_name, base_path, sizeof base_path, err) < 0)
        return -1;
    hw_profile *base = hw_load(base_path, err);
    if (!base)
        return -1;
    char name[64], comment[COMMENT_LEN], failures[CALIB_LIST_CHARS];
    size_t n_failures = 0;
    snprintf(name, sizeof name, "%s", o->name[0] ? o->name : base->name);
    if (!o->name[0])
        snprintf(name + strlen(name), sizeof name - strlen(name), ".calibrated");
    snprintf(out_path, n, "%s", o->out);
    if (!o->out[0])
        snprintf(out_path, n, "hwprofiles/%s.calibrated.yaml", base->name);
    header_comment(comment, sizeof comment, &ri, run, o->db, base_path);
    calib_result r;
    int rc = calib_db_failures(db, run, failures, sizeof failures, &n_failures, err);
    if (rc == 0)
        rc = calib_derive(db, run, base, &o->fit, &r, err);
    else
        memset(&r, 0, sizeof r);
    if (rc == 0) {
        append_list(comment, sizeof comment, "Benchmarks that failed (what they measure keeps the base's figures)",
                    failures);
        append_list(comment, sizeof comment, "Fits that failed (kept from the base)", r.failed);
        append_list(comment, sizeof comment, "Warnings", r.warnings);
        append_list(comment, sizeof comment, "Benchmarks that ran throttled (clock samples)", r.throttled);
    }
    calib_write_opts wo = { name, ri.gpu_name, comment, &r.curves, &r };
    if (rc == 0)
        rc = calib_result_store(db, run, &r, err) < 0 ||
             calib_write_profile_file(base_path, &r.figs, &wo, out_path, err) < 0 ||
             (o->table[0] && write_table(o->table, &r, err) < 0) ? -1 : 0;
    if (rc == 0) {
        printf("profile %s (name %s) from run %lld, base %s:\n", out_path, name, (long long)run, base_path);
        print_figures(&r);
        if (n_failures)
            printf("  benchmarks that failed: %s\n", failures);
    }
    calib_result_free(&r);
    hw_free(base);
    return rc;
}

static void command_line(int argc, char **argv, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", i ? " " : "", argv[i]);
    }
}

/* ---------- modes ---------- */

static int fail(const kt_err *err)
{
    fputs("kvtier-calibrate: ", stderr);
    kt_err_print(err, stderr);
    return EXIT_FAILURE;
}


/* --dry-run: what would run, and an estimate of how long, from the base
 * profile; no GPU is touched. */
static int mode_dry_run(const options *o)
{
    kt_err err = { 0 };
    const char *steps[N_BENCHMARKS + 2];
    size_t n = 0;
    for (size_t i = 0; i < N_BENCHMARKS; i++)
        if (o->selected[i] && !o->validate_only[0])
            steps[n++] = benchmarks[i].name;
    if (o->validate || o->validate_only[0])
        steps[n++] = "validate";
    steps[n] = NULL;
    char base_path[PATH_LEN];
    options with_base = *o;
    if (!o->base[0])
        snprintf(with_base.base, sizeof with_base.base, "%s", DRY_RUN_BASE);
    if (resolve_base(&with_base, "", base_path, sizeof base_path, &err) < 0)
        return fail(&err);
    hw_profile *base = hw_load(base_path, &err);
    calib_plan plan;
    if (!base || calib_plan_make(&o->p, steps, base, &plan, &err) < 0) {
        hw_free(base);
        return fail(&err);
    }
    printf("kvtier-calibrate --dry-run: plan on %s (%s); %d samples + %d warm-up calls per point; "
           "one process per step\n", base->name, base_path, o->p.samples, o->p.warmup);
    printf("  %-12s %8s %12s %12s\n", "step", "points", "timed calls", "estimate");
    for (size_t i = 0; i < plan.n; i++) {
        const calib_plan_item *it = &plan.item[i];
        printf("  %-12s %8zu %12zu %10.1f s%s%s\n", it->name, it->points, it->calls, it->seconds,
               it->note[0] ? "  " : "", it->note);
    }
    printf("  %-12s %8s %12s %10.1f s (%.1f min)\n", "total", "", "", plan.seconds, plan.seconds / 60);
    printf("An estimate from the base profile's rates and curves, a fixed cost per call and a process "
           "start per step; each step is killed after --bench-timeout %d s.\n", o->bench_timeout_s);
    if (plan.seconds > PLAN_TARGET_S)
        printf("Over %.0f minutes: shorten the sweeps (--quick, --decode-batches, --gemm-models).\n",
               PLAN_TARGET_S / 60);
    hw_free(base);
    return EXIT_SUCCESS;
}

static int mode_fit_only(const options *o)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(o->db, &err);
    int64_t run = o->run_id;
    char out[PATH_LEN];
    int rc = db && (run > 0 || calib_db_latest_run(db, &run, &err) == 0) &&
             fit_and_write(o, db, run, out, sizeof out, &err) == 0 ? EXIT_SUCCESS : fail(&err);
    calib_db_close(db);
    return rc;
}

/* ---------- one process per benchmark ---------- */

/* Work done in a child process: returns its exit status. */
typedef int (*child_fn)(const options *o, const void *arg);

/* Runs fn(o, arg) in a child process and waits for it, killing it after
 * timeout_s seconds. Returns the child's exit status, or -1 with why
 * (a signal, the timeout, a failed fork). The parent never touches CUDA, so
 * a crash or a poisoned context ends one benchmark, not the calibration. */
static int run_child(child_fn fn, const options *o, const void *arg, int timeout_s, char *why, size_t n)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, n, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* _exit skips stdio's flush at exit: a piped log would lose the child's lines. */
        int st = fn(o, arg);
        fflush(stdout);
        fflush(stderr);
        _exit(st);
    }
    struct timespec start, now, pause = { 0, CHILD_POLL_NS };
    clock_gettime(CLOCK_MONOTONIC, &start);
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(why, n, "waitpid: %s", strerror(errno));
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            snprintf(why, n, "killed after %d s (--bench-timeout)", timeout_s);
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(st)) {
        snprintf(why, n, "ended by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return -1;
    }
    return WEXITSTATUS(st);
}

/* Child: whether the device is usable (77 with the reason when not). */
static int child_check_device(const options *o, const void *arg)
{
    (void)arg;
    char why[512];
    if (!kt_device_usable(o->device, why, sizeof why)) {
        fprintf(stderr, "kvtier-calibrate: no usable GPU: %s; nothing measured\n", why);
        return KT_EXIT_SKIP;
    }
    return EXIT_SUCCESS;
}

/* A benchmark (or the validation) for a child: which, and the run to add to (0: a new one). */
typedef struct bench_job {
    const benchmark *bench;    /* NULL: the validation */
    const char *profile;       /* the profile the validation checks */
    int64_t run_id;
} bench_job;

/* Runs the job itself; a failed benchmark rolls its samples back.
 * Returns 0, or -1 with err. */
static int job_measure(const bench_job *j, kt_bench *b, kt_err *err)
{
    if (!j->bench) {
        char buf[DIR_BUF];
        const char *dirs[MAX_DIRS];
        double med;
        data_dirs("models", buf, sizeof buf, dirs);
        return kt_validate(b, j->profile, dirs, &med, err);
    }
    if (calib_db_begin(b->db, err) < 0)
        return -1;
    if (j->bench->run(b, err) == KT_BENCH_FAILED) {
        calib_db_rollback(b->db);
        return -1;
    }
    return calib_db_commit(b->db, err);
}

/* Runs one job on an initialized device between two clock readings, the
 * first after a warm-up load; the readings are kept whatever the job did.
 * Returns 0, or -1 with err. */
static int job_run(const bench_job *j, const char *name, kt_bench *b, kt_err *err)
{
    if (kt_clocks_warm(b, err) < 0 || kt_clocks_record(b, name, "start", err) < 0)
        return -1;
    int rc = job_measure(j, b, err);
    kt_err end_err = { 0 };
    if (kt_clocks_record(b, name, "end", &end_err) < 0 && rc == 0) {
        *err = end_err;
        rc = -1;
    }
    return rc;
}

/* Child: one benchmark in its own CUDA context and database connection.
 * A failure is recorded in calib_failures of the run before it exits 1. */
static int child_bench(const options *o, const void *arg)
{
    const bench_job *j = arg;
    const char *name = j->bench ? j->bench->name : "validate";
    kt_err err = { 0 };
    calib_db *db = calib_db_open(o->db, &err);
    kt_bench b;
    memset(&b, 0, sizeof b);
    int rc = db && kt_bench_init(&b, o->device, &o->p, db, o->cmdline, j->run_id, &err) == 0 ? 0 : -1;
    if (rc == 0) {
        printf("kvtier-calibrate: %s on %s (%d SMs, L2 %.0f B), run %lld in %s\n", name, b.info.gpu_name,
               b.info.sm_count, b.info.l2_bytes, (long long)b.run_id, o->db);
        rc = job_run(j, name, &b, &err);
    }
    if (rc < 0) {
        fprintf(stderr, "kvtier-calibrate: %s failed: ", name);
        kt_err_print(&err, stderr);
        kt_err rec = { 0 };
        if (db && b.run_id > 0 && calib_db_add_failure(db, b.run_id, name, err.msg, &rec) < 0)
            kt_err_print(&rec, stderr);
    }
    kt_bench_free(&b);
    calib_db_close(db);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The newest run of the database at path, 0 when it has none. */
static int64_t newest_run(const char *path)
{
    kt_err err = { 0 };
    calib_db *db = calib_db_open(path, &err);
    int64_t run = 0;
    if (!db || calib_db_latest_run(db, &run, &err) < 0)
        run = 0;
    calib_db_close(db);
    return run;
}

/* Records in the run a failure the child could not record (a crash, the
 * timeout). */
static void record_failure(const options *o, int64_t run, const char *bench, const char *why)
{
    kt_err err = { 0 };
    calib_db *db = run > 0 ? calib_db_open(o->db, &err) : NULL;
    if (db && calib_db_add_failure(db, run, bench, why, &err) < 0)
        kt_err_print(&err, stderr);
    calib_db_close(db);
}

/* Failures that ended a step before any run was recorded, kept until one is. */
typedef struct pending {
    char name[N_BENCHMARKS + 1][16];
    char why[N_BENCHMARKS + 1][256];
    size_t n;
} pending;

/* Runs the job in a child; returns 0 when it succeeded, else 1 after
 * saying why and recording what the child could not: a crash, the
 * timeout, or a failure before the run existed (kept in p until it does). */
static int run_job(const options *o, bench_job *j, int64_t *run, int64_t before, pending *p)
{
    const char *name = j->bench ? j->bench->name : "validate";
    char why[256] = "";
    j->run_id = *run;
    int st = run_child(child_bench, o, j, o->bench_timeout_s, why, sizeof why);
    if (*run == 0 && newest_run(o->db) > before)
        *run = newest_run(o->db);
    /* A child that exits with an error has recorded it, when there was a run to record it in. */
    if ((st < 0 || (st > 0 && *run == 0)) && p->n < N_BENCHMARKS + 1) {
        if (st > 0)
            snprintf(why, sizeof why, "exited with status %d before the run was recorded (see the log)", st);
        else
            fprintf(stderr, "kvtier-calibrate: %s %s\n", name, why);
        snprintf(p->name[p->n], sizeof p->name[0], "%s", name);
        snprintf(p->why[p->n], sizeof p->why[0], "%s", why);
        p->n++;
    }
    for (size_t i = 0; *run > 0 && i < p->n; i++)
        record_failure(o, *run, p->name[i], p->why[i]);
    if (*run > 0)
        p->n = 0;
    return st != 0;
}

/* Runs the selected benchmarks, one child process each, all adding to one
 * run; writes the profile from whatever they stored; validates on request.
 * Returns 0, EXIT_PARTIAL when some benchmark failed (the profile is
 * written from the rest), or the exit status of a failure. */
static int mode_measure(const options *o)
{
    char why[256] = "";
    int st = run_child(child_check_device, o, NULL, o->bench_timeout_s, why, sizeof why);
    if (st != 0) {
        if (st < 0)
            fprintf(stderr, "kvtier-calibrate: the device check %s\n", why);
        return st == KT_EXIT_SKIP ? KT_EXIT_SKIP : EXIT_FAILURE;
    }
    int64_t before = newest_run(o->db), run = 0;
    pending p = { .n = 0 };
    if (o->validate_only[0]) {
        bench_job j = { NULL, o->validate_only, 0 };
        return run_job(o, &j, &run, before, &p) ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    int failed = 0;
    for (size_t i = 0; i < N_BENCHMARKS; i++) {
        bench_job j = { &benchmarks[i], NULL, 0 };
        if (o->selected[i])
            failed += run_job(o, &j, &run, before, &p);
    }
    if (run == 0) {
        fprintf(stderr, "kvtier-calibrate: no benchmark recorded a run in %s; nothing to fit\n", o->db);
        return EXIT_FAILURE;
    }
    if (o->no_profile)
        return failed ? EXIT_PARTIAL : EXIT_SUCCESS;
    kt_err err = { 0 };
    char out[PATH_LEN];
    calib_db *db = calib_db_open(o->db, &err);
    int rc = db && fit_and_write(o, db, run, out, sizeof out, &err) == 0 ? 0 : fail(&err);
    calib_db_close(db);
    if (rc == 0 && o->validate) {
        bench_job j = { NULL, out, 0 };
        failed += run_job(o, &j, &run, before, &p);
    }
    if (rc != 0)
        return rc;
    if (failed)
        fprintf(stderr, "kvtier-calibrate: %d of the steps failed; the profile was written from the rest "
                "(exit status %d)\n", failed, EXIT_PARTIAL);
    return failed ? EXIT_PARTIAL : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(&o, argc, argv);
    if (rc != PARSE_GO_ON)
        return rc;
    command_line(argc, argv, o.cmdline, sizeof o.cmdline);
    if (o.dry_run)
        return mode_dry_run(&o);
    if (o.fit_only)
        return mode_fit_only(&o);
    if (o.check_graphs) {
        kt_err err = { 0 };
        rc = kt_sdpa_check_graphs(&o.p, &err);
        return rc == KT_BENCH_OK ? EXIT_SUCCESS : rc == KT_BENCH_SKIPPED ? KT_EXIT_SKIP : fail(&err);
    }
    if (o.check_device) {
        char why[512];
        if (!kt_device_usable(o.device, why, sizeof why)) {
            fprintf(stderr, "kvtier-calibrate: no usable GPU: %s; nothing measured\n", why);
            return KT_EXIT_SKIP;
        }
        printf("kvtier-calibrate: device %d is usable\n", o.device);
        return EXIT_SUCCESS;
    }
    return mode_measure(&o);
}
