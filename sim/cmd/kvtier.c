/* kvtier.c — the kvtier program: subcommands run, sweep, plan, kv, hexmap, model import, plot, version. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "suggest.h"
#include "config.h"
#include "export.h"
#include "hexmap.h"
#include "kvcalc.h"
#include "metrics.h"
#include "model.h"
#include "outfile.h"
#include "plan.h"
#include "plot.h"
#include "report.h"
#include "runner.h"
#include "scenario.h"
#include "sim.h"
#include "store.h"
#include "sweep.h"
#include "sweep_cmd.h"
#include "validate.h"

enum { EXIT_RUN_FAILED = CLI_EXIT_RUN_FAILED, EXIT_BAD_INPUT = CLI_EXIT_BAD_INPUT };

static void usage_main(FILE *out)
{
    fprintf(out,
            "usage: kvtier COMMAND [ARGS]\n"
            "\n"
            "Simulates LLM inference serving with KV caches held in tiers and reports latency,\n"
            "utilization and cost.\n"
            "\n"
            "commands:\n"
            "  run FILE          simulate a scenario; print a summary and store results in SQLite\n"
            "  sweep FILE        run every point of a parameter sweep (resumable; --jobs, --mpi)\n"
            "  plan FILE         capacity planner: the cheapest fleet meeting p99 SLOs at a target load,\n"
            "                    with costs and savings against a baseline\n"
            "  kv MODEL          KV-cache arithmetic: bytes per token, per context, what fits on a GPU;\n"
            "                    tiles, paging overhead, Jenga page sizes, fixed against variable memory\n"
            "  hexmap            labeled hex view of a KV block pool; address <-> (block, K/V, head, token, dim)\n"
            "  model import F    turn a Hugging Face config.json into a model card\n"
            "  plot [KIND...]    gnuplot figures from the results: latency CDFs, tier occupancy, links, plan cost\n"
            "  validate [DIR]    published end-to-end measurements against kvtier: the error of each case\n"
            "  version           print the version\n"
            "\n"
            "'kvtier help COMMAND' (or 'kvtier COMMAND --help') describes each command.\n");
}

static void usage_run(FILE *out)
{
    fprintf(out,
            "usage: kvtier run FILE [options]\n"
            "       kvtier run SWEEPFILE --point K [options]\n"
            "\n"
            "Simulates the scenario FILE (YAML; see scenarios/ and README.md) and prints TTFT, ITL,\n"
            "TPOT, E2E and queueing quantiles, throughput, goodput, utilization and cost.\n"
            "The scenario is validated completely before anything runs. With --point, FILE is a\n"
            "sweep file and point K of it runs and is stored as that sweep's point (job arrays).\n"
            "\n"
            "options:\n"
            "  --set KEY=VALUE   override a scenario key (dotted path), e.g. --set kv.block_tokens=32;\n"
            "                    repeatable, applied in order\n"
            "  --db PATH         results database (default kvtier.db); one transaction per run\n"
            "  --no-db           do not write results\n"
            "  --point K         run point K (0-based; kvtier sweep FILE --list shows them) of the\n"
            "                    sweep FILE; --set then adds fixed overrides, as for kvtier sweep\n"
            "  --json            print the summary as JSON instead of a table\n"
            "  --timeline FILE   write a trace-event JSON timeline (ui.perfetto.dev, chrome://tracing):\n"
            "                    iterations, KV transfers, queue and KV block counters per replica\n"
            "  --csv DIR         write the run's requests, replicas and tiers as DIR/requests.csv,\n"
            "                    DIR/replicas.csv and DIR/tiers.csv\n"
            "  --check           check the invariants: after every event what it touched, every\n"
            "                    %d events and at the end all of them (README: Invariants)\n"
            "  --progress        print progress on stderr while simulating (share of arrivals made,\n"
            "                    elapsed, ETA); the default when stderr is a terminal\n"
            "  --quiet           no progress, even on a terminal\n"
            "  --skip-bad        count and skip malformed trace lines instead of stopping\n"
            "                    (the count and the first line numbers are reported and stored)\n"
            "  --max-wall D      give up after the duration D of wall-clock time (90s, 2h):\n"
            "                    exit 1, nothing written\n"
            "  -h, --help        this text\n"
            "\n"
            "exit status: 0 done, 1 an invariant check failed or --max-wall ran out, 2 bad scenario\n"
            "or options, 128 + N ended by signal N (SIGINT, SIGTERM)\n", SIM_CHECK_FULL_EVENTS);
}

static void usage_model(FILE *out)
{
    fprintf(out,
            "usage: kvtier model import CONFIG.json [--name NAME] [-o OUT.yaml]\n"
            "\n"
            "Writes a model card (models/README.md describes the format) from a Hugging Face\n"
            "config.json: Llama 3.x, Llama 4 (text_config), Mistral, DeepSeek-V3.\n"
            "\n"
            "options:\n"
            "  --name NAME       the card's name (default: the file name without .json, or the\n"
            "                    folder's name for a file called config.json)\n"
            "  -o, --output F    write to F instead of standard output\n"
            "  -h, --help        this text\n");
}

/* ---------- run ---------- */

typedef struct run_args {
    const char *file, *db;
    const char *timeline;       /* --timeline FILE, or NULL */
    const char *csv_dir;        /* --csv DIR, or NULL */
    char **sets;
    int n_sets, json, check;
    int progress;               /* 1 --progress, -1 --quiet, 0 when stderr is a terminal */
    int64_t point;              /* -1: FILE is a scenario */
    int64_t wall_deadline_ns;   /* 0, or when --max-wall runs out (cli_wall_now_ns) */
} run_args;

/* Parses run's arguments into a; returns -1 with a message on bad usage, 1 for --help. */
static int run_parse(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        { "set", required_argument, NULL, 's' }, { "db", required_argument, NULL, 'd' },
        { "no-db", no_argument, NULL, 'n' },     { "json", no_argument, NULL, 'j' },
        { "check", no_argument, NULL, 'c' },     { "progress", no_argument, NULL, 'p' },
        { "skip-bad", no_argument, NULL, 'b' },  { "help", no_argument, NULL, 'h' },
        { "point", required_argument, NULL, 'P' }, { "max-wall", required_argument, NULL, 'W' },
        { "timeline", required_argument, NULL, 'T' }, { "csv", required_argument, NULL, 'C' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    static char skip_bad[] = "workload.trace.skip_bad=true";
    a->db = "kvtier.db";
    a->point = -1;
    a->sets = calloc((size_t)argc + 2, sizeof *a->sets);
    int c, files = 0;
    optind = 0;
    while ((c = cli_option_next(argc, argv, "-:h", opts, "run")) != -1) {
        switch (c) {
        case 1:
            a->file = optarg;
            files++;
            break;
        case 's': a->sets[a->n_sets++] = optarg; break;
        case 'd':
            if (cli_parse_path("run", "--db", optarg, &a->db) < 0)
                return -1;
            break;
        case 'n': a->db = NULL; break;
        case 'T':
            if (cli_parse_path("run", "--timeline", optarg, &a->timeline) < 0)
                return -1;
            break;
        case 'C':
            if (cli_parse_path("run", "--csv", optarg, &a->csv_dir) < 0)
                return -1;
            break;
        case 'j': a->json = 1; break;
        case 'c': a->check = 1; break;
        case 'p': a->progress = 1; break;
        case 'q': a->progress = -1; break;
        case 'b': a->sets[a->n_sets++] = skip_bad; break;
        case 'P':
            if (cli_parse_i64("run", "--point", optarg, 0, SWEEP_MAX_POINTS - 1, &a->point) < 0)
                return -1;
            break;
        case 'W':
            if (cli_parse_max_wall("run", optarg, &a->wall_deadline_ns) < 0)
                return -1;
            break;
        case 'h': return 1;
        default: return -1;
        }
    }
    if (files != 1) {
        cli_usage_error("run", "expected one scenario file, got %d", files);
        return -1;
    }
    return 0;
}

/* A sweep point to run: the sweep, and the point as the database records it.
 * Invariants: sw == NULL for a plain scenario; pt.params == params, owned here. */
typedef struct run_point {
    sweep *sw;                  /* NULL: a plain scenario */
    store_point pt;
    char *params;
} run_point;

static void run_point_free(run_point *rp)
{
    sweep_free(rp->sw);
    free(rp->params);
}

/* Loads point a->point of the sweep a->file (the --set overrides join its
 * fixed ones). Returns its scenario, or NULL with err. */
static scenario *load_point(const run_args *a, run_point *rp, kt_err *err)
{
    rp->sw = sweep_load(a->file, a->sets, a->n_sets, err);
    if (!rp->sw)
        return NULL;
    if (a->point >= rp->sw->n_points) {
        KT_ERROR(err, a->file, 0, 0, "--point %lld: the sweep has points 0..%lld", (long long)a->point,
                 (long long)rp->sw->n_points - 1);
        return NULL;
    }
    rp->pt.point = a->point;
    rp->pt.params = rp->params = sweep_point_params(rp->sw, a->point);
    return sweep_point_scenario(rp->sw, a->point, err);
}

/* Records the point's sweep in db. Returns 1 when the point is stored
 * already (said on stdout), 0 when it is to run, -1 with err. */
static int point_prepare(const run_args *a, run_point *rp, store *db, kt_err *err)
{
    rp->pt.sweep_id = sweepcmd_register(db, rp->sw, err);
    int64_t run = rp->pt.sweep_id > 0 ? store_sweep_point_run(db, rp->pt.sweep_id, rp->pt.point, err) : -1;
    if (run > 0)
        printf("point %lld of sweep '%s' is stored already: run %lld in %s\n", (long long)rp->pt.point,
               rp->sw->name, (long long)run, a->db);
    return run < 0 ? -1 : run > 0;
}

/* Prints what a run produced. */
static void run_report(const run_args *a, const run_point *rp, const scenario *sc, const runner_result *res)
{
    if (a->json) {
        report_print_json(stdout, sc, res);
        return;
    }
    report_print(stdout, sc, &res->summary, &res->stats);
    if (res->run_id > 0 && rp->sw)
        printf("results: run %lld in %s (point %lld of sweep '%s')\n", (long long)res->run_id, a->db,
               (long long)rp->pt.point, rp->sw->name);
    else if (res->run_id > 0 && a->db)
        printf("results: run %lld in %s\n", (long long)res->run_id, a->db);
}

/* --timeline: opens the file and starts the timeline in *tl (NULL
 * without the option). Returns 0, or -1 with err (nothing created). */
static int run_timeline_open(const run_args *a, outfile *of, timeline **tl, kt_err *err)
{
    *tl = NULL;
    if (!a->timeline)
        return 0;
    if (outfile_open(of, a->timeline, err) < 0)
        return -1;
    *tl = timeline_new(of->f);
    if (!*tl) {
        KT_ERROR(err, a->timeline, 0, 0, "out of memory for the timeline");
        outfile_abort(of);
        return -1;
    }
    return 0;
}

/* Ends the timeline: committed when the simulation finished (ok), else
 * dropped. Returns 0, or -1 with err when writing it failed. */
static int run_timeline_close(outfile *of, timeline *tl, int ok, kt_err *err)
{
    if (!tl)
        return 0;
    int rc = ok && timeline_end(tl, PACKAGE_VERSION) == 0 ? 0 : -1;
    timeline_free(tl);
    if (rc < 0) {
        if (ok)
            KT_ERROR(err, of->path, 0, 0, "cannot write the timeline");
        outfile_abort(of);
        return ok ? -1 : 0;
    }
    return outfile_commit(of, err);
}

/* What the run wrote besides its summary: the timeline, the CSV tables.
 * Returns 0, or -1 with err. */
static int run_outputs(const run_args *a, store *db, outfile *of, timeline *tl, runner_status st,
                       const runner_result *res, kt_err *err)
{
    int rc = run_timeline_close(of, tl, st != RUNNER_SIM_FAILED, err);
    if (rc == 0 && a->csv_dir && st == RUNNER_OK)
        rc = export_run_csv(db, res->run_id, a->csv_dir, err);
    return rc;
}

/* Says that signal sig ended the run and what the database holds: the run
 * is written in one transaction after the simulation, so either nothing or
 * all of it (run_id > 0). Returns the exit status, 128 + sig. */
static int run_interrupted(const run_args *a, int sig, int64_t run_id)
{
    char buf[32];
    const char *name = cli_signal_name(sig, buf, sizeof buf);
    if (run_id > 0)
        fprintf(stderr, "kvtier run: interrupted (%s) after the run was stored as run %lld in %s\n", name,
                (long long)run_id, a->db);
    else if (a->db)
        fprintf(stderr, "kvtier run: interrupted (%s); nothing was written to %s\n", name, a->db);
    else
        fprintf(stderr, "kvtier run: interrupted (%s)\n", name);
    return CLI_EXIT_SIGNALED(sig);
}

/* Opens the database (when one is wanted) and, for a sweep point, records
 * the sweep. Returns 0, 1 when the point is stored already, -1 with err. */
static int run_open(const run_args *a, run_point *rp, store **db, kt_err *err)
{
    /* --csv without a database exports from one kept in memory. */
    const char *path = a->db ? a->db : a->csv_dir ? ":memory:" : NULL;
    *db = path ? store_open(path, err) : NULL;
    if (path && !*db)
        return -1;
    return *db && rp->sw ? point_prepare(a, rp, *db, err) : 0;
}

static int cmd_run(int argc, char **argv)
{
    run_args a = { 0 };
    int rc = run_parse(argc, argv, &a);
    if (rc) {
        if (rc > 0)
            usage_run(stdout);
        free(a.sets);
        return rc > 0 ? 0 : EXIT_BAD_INPUT;
    }
    /* Caught from here on: a signal while the scenario loads ends the run at its first event. */
    const volatile sig_atomic_t *stop = cli_catch_stop();
    kt_err err;
    run_point rp = { 0 };
    outfile tl_file;
    timeline *tl = NULL;
    scenario *sc = a.point >= 0 ? load_point(&a, &rp, &err) : scenario_load(a.file, a.sets, a.n_sets, &err);
    free(a.sets);
    store *db = NULL;
    int ready = sc ? run_open(&a, &rp, &db, &err) : -1;
    if (ready < 0) {
        kt_err_print(&err, stderr);
        rc = EXIT_BAD_INPUT;
    } else if (ready == 0 && run_timeline_open(&a, &tl_file, &tl, &err) < 0) {
        kt_err_print(&err, stderr);
        rc = EXIT_BAD_INPUT;
    } else if (ready == 0) {
        sim_opts opts = { .check = a.check, .progress = a.progress > 0 || (!a.progress && isatty(STDERR_FILENO)),
                          .stop = stop,
                          .wall_deadline_ns = a.wall_deadline_ns, .timeline = tl };
        runner_result res = { .want_replicas = a.json };
        runner_status st = runner_run(sc, &opts, db, rp.sw && db ? &rp.pt : NULL, &res, &err);
        kt_err out_err;
        if (run_outputs(&a, db, &tl_file, tl, st, &res, &out_err) < 0) {
            kt_err_print(&out_err, stderr);
            rc = EXIT_RUN_FAILED;
        }
        if (st == RUNNER_SIM_FAILED && !*opts.stop && sim_past_deadline(&opts)) {
            fprintf(stderr, "kvtier run: %s; nothing was written%s%s\n", err.msg, a.db ? " to " : "",
                    a.db ? a.db : "");
            rc = EXIT_RUN_FAILED;
        } else if (st != RUNNER_OK && !*opts.stop) {
            kt_err_print(&err, stderr);
            rc = EXIT_RUN_FAILED;
        }
        if (st != RUNNER_SIM_FAILED)
            run_report(&a, &rp, sc, &res);
        runner_result_free(&res);
        if (*opts.stop)
            rc = run_interrupted(&a, *opts.stop, st == RUNNER_OK ? res.run_id : 0);
    }
    store_close(db);
    scenario_free(sc);
    run_point_free(&rp);
    return rc;
}

/* ---------- model import ---------- */

static int cmd_model(int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, 'n' }, { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
    };
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage_model(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "import") != 0) {
        cli_usage_error("model", "expected 'import' (kvtier model import CONFIG.json)");
        return EXIT_BAD_INPUT;
    }
    const char *name = NULL, *outpath = NULL, *in = NULL;
    int c, files = 0;
    optind = 0;
    while ((c = cli_option_next(argc - 1, argv + 1, "-:o:h", opts, "model")) != -1) {
        if (c == 1) {
            in = optarg;
            files++;
        } else if (c == 'n')
            name = optarg;
        else if (c == 'o')
            outpath = optarg;
        else if (c == 'h') {
            usage_model(stdout);
            return 0;
        } else
            return EXIT_BAD_INPUT;
    }
    if (files != 1) {
        cli_usage_error("model", "expected one config.json, got %d", files);
        return EXIT_BAD_INPUT;
    }
    char nb[256];
    kt_err err;
    outfile of;
    if (outpath && outfile_open(&of, outpath, &err) != 0) {
        kt_err_print(&err, stderr);
        return EXIT_BAD_INPUT;
    }
    /* The card goes to a temporary file: an existing -o file is replaced
     * only by a card that was imported whole. */
    int rc = model_import_hf(in, name ? name : model_import_card_name(in, nb, sizeof nb), outpath ? of.f : stdout, stderr, &err);
    if (rc < 0) {
        if (outpath)
            outfile_abort(&of);
        kt_err_print(&err, stderr);
        return EXIT_BAD_INPUT;
    }
    if (outpath && outfile_commit(&of, &err) != 0) {
        kt_err_print(&err, stderr);
        return EXIT_FAILURE;
    }
    return 0;
}

/* ---------- kv ---------- */

static int cmd_kv(int argc, char **argv)
{
    char mbuf[8192], hbuf[8192];
    const char *mdirs[8], *hdirs[8];
    scenario_data_dirs(NULL, "models", mbuf, sizeof mbuf, mdirs, 8);
    scenario_data_dirs(NULL, "hwprofiles", hbuf, sizeof hbuf, hdirs, 8);
    return kvcalc_main(argc, argv, mdirs, hdirs);
}

static int cmd_hexmap(int argc, char **argv)
{
    char mbuf[8192];
    const char *mdirs[8];
    scenario_data_dirs(NULL, "models", mbuf, sizeof mbuf, mdirs, 8);
    return hexmap_main(argc, argv, mdirs);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kvtier %s\n", PACKAGE_VERSION);
    return 0;
}

/* The subcommands: each takes its own argv (argv[0] its name). */
static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} commands[] = {
    { "run", cmd_run },          { "sweep", sweepcmd_main },     { "plan", plan_main },
    { "kv", cmd_kv },            { "hexmap", cmd_hexmap },       { "model", cmd_model },
    { "plot", plot_main },       { "validate", validate_main },  { "version", cmd_version },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Runs command name with argv (argv[0] is its name); an unknown name is a
 * one-line usage error naming the closest command. */
static int run_command(const char *name, int argc, char **argv)
{
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(name, commands[i].name))
            return commands[i].main(argc, argv);
        names[i] = commands[i].name;
    }
    char hint[96] = "";
    suggest_append(hint, sizeof hint, name, names, N_COMMANDS);
    fprintf(stderr, "kvtier: unknown command '%s'%s (try kvtier --help)\n", name, hint);
    return EXIT_BAD_INPUT;
}

/* Runs the subcommand argv[1]; returns the exit status. `kvtier help CMD`
 * is `kvtier CMD --help`. */
static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "kvtier: expected a command (try kvtier --help)\n");
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version"))
        return cmd_version(0, NULL);
    if (!strcmp(cmd, "help") && argc == 3) {
        char help[] = "--help";
        char *help_argv[] = { argv[2], help, NULL };
        return run_command(argv[2], 2, help_argv);
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        if (argc > 3) {
            fprintf(stderr, "kvtier help: expected at most one command (try kvtier --help)\n");
            return EXIT_BAD_INPUT;
        }
        usage_main(stdout);
        return 0;
    }
    return run_command(cmd, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    /* Past a file-size limit a write then fails with EFBIG and is reported
     * like any write error, instead of the signal ending the run unexplained. */
    signal(SIGXFSZ, SIG_IGN);
    int rc = dispatch(argc, argv);
    kt_err err;
    if (outfile_stdout_close(&err) != 0) {
        fputs("kvtier: ", stderr);
        kt_err_print(&err, stderr);
        return rc ? rc : EXIT_RUN_FAILED;
    }
    return rc;
}
