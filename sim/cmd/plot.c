/* plot.c — `kvtier plot`: gnuplot figures (latency CDFs, tier occupancy, link utilization, plan cost, savings, Pareto front, metrics against a sweep's axis) from the results database. */
#include "plot.h"

#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "config.h"
#include "err.h"
#include "grow.h"
#include "outfile.h"
#include "metrics.h"
#include "store.h"
#include "suggest.h"
#include "units.h"

enum { PLOT_EXIT_FAILED = 1, PLOT_EXIT_BAD_INPUT = 2 };

#define PLOT_DEFAULT_DB "kvtier.db"
#define PLOT_DEFAULT_DIR "."
#define PLOT_GNUPLOT_ENV "KVTIER_GNUPLOT"
#define PLOT_MAX_RUNS 12            /* curves on one latency figure: more are not legible */
#define PLOT_CDF_MAX_POINTS 2000    /* per CDF curve: finer than the figure's pixels */
#define PLOT_COST_MAX_STEPS 4000    /* a cost staircase with more steps is drawn from samples */
#define PLOT_LOG_SPAN 10.0          /* log x axis once the largest value is this many times the smallest */
#define PLOT_SWEEP_LOG_SPAN 100.0   /* the same for a sweep's axis and metrics: swept values are often
                                     * linear steps, which read better on a linear axis */
#define PLOT_MAX_METRICS 8          /* --metric at most this many times */
#define PLOT_LOAD_SPAN 1.5          /* cost against load: from 0 to this × the plan's target */
#define PLOT_WIDTH_PX 1200
#define PLOT_HEIGHT_PX 800
#define PLOT_FONT_PT 14
#define PLOT_LINE_WIDTH 2.5
#define PLOT_MARK_LINE_WIDTH 2.0    /* marker lines (a target, an SLO) and point outlines */
#define PLOT_POINT_SIZE 1.8
#define PLOT_DASHED 2               /* gnuplot dashtype of marker lines and of repeated curve colors */
#define PLOT_VLINE_LABEL_Y 0.04     /* a marker line's label, as a fraction of the plot's height */
#define PLOT_LABEL_GAP_CH 0.5       /* labels this many characters right of what they name */
#define PLOT_LABEL_RISE_CH 0.8      /* and above (bar values, candidate names) */
#define GP_OPEN_CIRCLE 6            /* gnuplot point types */
#define GP_FILLED_CIRCLE 7
#define PLOT_STACKED_LMARGIN 11     /* characters left of stacked panels, for their y labels and tics */
#define PLOT_GRID_TITLE 0.06        /* shares of a grid figure's height: its title, */
#define PLOT_KEY_ROW_HEIGHT 0.04    /* a row of its legend strip, */
#define PLOT_GRID_TITLE_GAP 0.07    /* a panel title's room, */
#define PLOT_GRID_BOTTOM 0.09       /* under the lowest panels, */
#define PLOT_GRID_VSPACE 0.1        /* between panel rows; of its width: */
#define PLOT_GRID_LEFT 0.1
#define PLOT_GRID_RIGHT 0.98
#define PLOT_GRID_HSPACE 0.11
#define PLOT_KEY_ONE_ROW 3          /* legends of up to this many curves stay on one row; */
#define PLOT_KEY_COLUMNS 2          /* longer ones take this many columns */
#define PLOT_CCDF_FLOOR 1e-4        /* the tail panels' lowest fraction above */
#define PLOT_LABEL_ROW 0.07         /* a text label's height, as a share of the points' y span */
#define PLOT_LABEL_ROW_FIT (1 - 1e-9) /* labels this share of a row apart or more do not collide */
#define PLOT_LABEL_ROW_AXIS 0.055   /* and as a share of an axis from 0 to its top */
#define PLOT_DASH_PATTERNS 5        /* gnuplot's dash types 1..5, one per candidate in turn */
#define PLOT_LABEL_NEAR 0.3         /* labels whose points are this close in x (share of the span) may collide */
#define PLOT_SLO_ROOM 1.25          /* an SLO past every value: the axis reaches this × it */
#define PLOT_MAX_LEVELS (1 + METRICS_TIERS) /* HBM and the lower tiers */
#define PLOT_NONE (-1)              /* no baseline or best candidate */
#define PLOT_RATIO_SLACK 1e-9       /* a load / rate ratio this close above a whole number is that number
                                     * (1.1 / 0.1 is 11.000000000000002 in binary floating point) */
#define NS_PER_MS 1e6
#define NS_PER_S 1e9
#define STR_(x) #x
#define STR(x) STR_(x)              /* a macro's value as SQL text */

typedef enum {
    KIND_LATENCY, KIND_TIERS, KIND_LINKS, KIND_TIMESERIES, KIND_COST, KIND_SAVINGS, KIND_PARETO, KIND_PROBES,
    KIND_SWEEP, KIND_COUNT
} plot_kind;
static const char *const kind_names[KIND_COUNT] = { "latency", "tiers",   "links",  "timeseries", "cost",
                                                    "savings", "pareto",  "probes", "sweep" };

typedef enum { FORMAT_PNG, FORMAT_SVG, FORMAT_COUNT } plot_format;
static const char *const format_ext[FORMAT_COUNT] = { "png", "svg" };

/* What a figure shows: the selected runs together, one run, the plan, or a sweep's points. */
typedef enum { SUBJECT_RUNS, SUBJECT_RUN, SUBJECT_PLAN, SUBJECT_SWEEP } plot_subject;

/* The command line.
 * Invariants: runs holds n_runs ids >= 1 (owned); sweep and plan are 0 when
 * not given; formats and kinds are bit sets (kinds 0: every kind with data);
 * metrics holds n_metrics names borrowed from argv (0: the defaults). */
typedef struct plot_args {
    const char *db, *dir;
    long long *runs;
    int n_runs;
    long long sweep, plan;
    unsigned formats, kinds;
    const char *metrics[PLOT_MAX_METRICS];
    int n_metrics;
} plot_args;

/* What the figures are drawn from.
 * Invariants: db belongs to st; runs holds n_runs existing run ids (owned);
 * sweep is the sweep the runs are (0: none); plan is an existing plan id or
 * 0; sweep_fig is the sweep the sweep figure draws (0: none); metrics
 * holds n_metrics >= 1 names (borrowed). */
typedef struct plot_ctx {
    store *st;
    sqlite3 *db;
    const char *db_path, *dir;
    long long *runs;
    int n_runs;
    long long sweep, plan, sweep_fig;
    unsigned formats;
    const char *const *metrics;
    int n_metrics;
} plot_ctx;

/* ---------- data reductions (plot.h) ---------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t plot_cdf_points(double *values, size_t n, size_t max_points, plot_xy *out)
{
    if (n == 0 || max_points == 0)
        return 0;
    qsort(values, n, sizeof *values, cmp_double);
    size_t steps = n < max_points ? n : max_points, k = 0;
    for (size_t j = 1; j <= steps; j++) {
        size_t rank = (j * n + steps - 1) / steps; /* ceil(j·n/steps), 1-based */
        /* Equal values: the step goes to the highest rank holding the value. */
        while (rank < n && values[rank] == values[rank - 1])
            rank++;
        if (k > 0 && out[k - 1].x == values[rank - 1])
            continue;
        out[k++] = (plot_xy){ values[rank - 1], (double)rank / (double)n };
    }
    return k;
}

int plot_cost_at(const plot_candidate *c, double load_rps, plot_cost *out)
{
    if (load_rps > 0 && !(c->max_rps_per_replica > 0))
        return -1;
    int64_t replicas = load_rps > 0 ? (int64_t)ceil(load_rps / c->max_rps_per_replica * (1 - PLOT_RATIO_SLACK)) : 0;
    out->replicas = replicas;
    out->gpus = replicas * c->gpus_per_replica;
    out->usd_per_year = (double)replicas * (c->gpus_per_replica * c->usd_per_gpu_year + c->tier_usd_per_replica_year);
    return 0;
}

plot_candidate plot_candidate_as_planned(const plot_candidate *c, double target_rps)
{
    plot_candidate x = *c;
    int64_t replicas = c->gpus_per_replica > 0 ? c->gpus / c->gpus_per_replica : 0;
    if (c->feasible && c->has_gpus && replicas > 0 && target_rps > 0)
        x.max_rps_per_replica = target_rps / (double)replicas;
    return x;
}

static const plot_candidate *find_candidate(const plot_candidate *c, size_t n, int number)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].candidate == number)
            return &c[i];
    return NULL;
}

int plot_savings(const plot_candidate *c, size_t n, int baseline, plot_saving *out)
{
    const plot_candidate *b = find_candidate(c, n, baseline);
    if (!b || !b->feasible || !b->has_gpus)
        return -1;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (&c[i] == b || !c[i].feasible || !c[i].has_gpus)
            continue;
        out[k++] = (plot_saving){ (int)i, b->gpus - c[i].gpus, b->usd_per_year - c[i].usd_per_year };
    }
    return k;
}

size_t plot_pareto_front(const plot_xy *pts, size_t n, int *on_front)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        on_front[i] = 1;
        for (size_t j = 0; j < n && on_front[i]; j++)
            if (pts[j].x <= pts[i].x && pts[j].y <= pts[i].y && (pts[j].x < pts[i].x || pts[j].y < pts[i].y))
                on_front[i] = 0;
        k += (size_t)on_front[i];
    }
    return k;
}

/* ---------- gnuplot as a program ---------- */

const char *plot_gnuplot_program(void)
{
    const char *env = getenv(PLOT_GNUPLOT_ENV);
    return env && *env ? env : KT_GNUPLOT;
}

int plot_program_found(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        char full[4096];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, p, prog);
        if (len && access(full, X_OK) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* Writes s as a gnuplot string expression: single-quoted (no escapes
 * interpreted), quotes doubled, line breaks joined in as "\n". */
static void gp_str(FILE *o, const char *s)
{
    fputc('\'', o);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("''", o);
        else if (*s == '\n')
            fputs("' . \"\\n\" . '", o);
        else
            fputc(*s, o);
    }
    fputc('\'', o);
}

/* Writes "set WHAT '<formatted text>'". */
static void gp_set(FILE *o, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void gp_set(FILE *o, const char *what, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(o, "set %s ", what);
    gp_str(o, buf);
    fputc('\n', o);
}

/* Starts a multiplot of rows × cols panels under a title. */
static void gp_multiplot(FILE *o, int rows, int cols, const char *title)
{
    fprintf(o, "set multiplot layout %d,%d title ", rows, cols);
    gp_str(o, title);
    fputc('\n', o);
    if (cols == 1) /* panels one above the other share their x axis: align them */
        fprintf(o, "set lmargin %d\n", PLOT_STACKED_LMARGIN);
}

/* Writes " title '<text>'" for one curve. */
static void gp_title(FILE *o, const char *text)
{
    fputs(" title ", o);
    gp_str(o, text);
}

/* Writes s as one double-quoted column of a data block; characters that
 * would end the column or the line become blanks. */
static void gp_datum(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++)
        fputc(*s == '"' || *s == '\n' || *s == '\r' || *s == '\\' ? ' ' : *s, o);
    fputs("\" ", o);
}

static void gp_xy_block(FILE *o, const char *name, int index, const plot_xy *p, size_t n)
{
    fprintf(o, "$%s%d << EOD\n", name, index);
    for (size_t i = 0; i < n; i++)
        fprintf(o, "%.9g %.9g\n", p[i].x, p[i].y);
    fputs("EOD\n", o);
}

/* Log x axis when the values [lo, hi] span a factor of span or more. */
static void gp_x_scale(FILE *o, double lo, double hi, double span)
{
    if (lo > 0 && hi / lo >= span)
        fputs("set logscale x 10\nset mxtics 10\n", o);
    else
        fputs("unset logscale x\nset mxtics default\n", o);
}

/* A tick step of 1, 2 or 5 × 10^k giving at most max_ticks steps up to top. */
static double nice_step(double top, int max_ticks)
{
    static const double mantissas[] = { 1, 2, 5, 10 };
    double raw = top / max_ticks, decade = pow(10, floor(log10(raw)));
    for (size_t i = 0; i < sizeof mantissas / sizeof *mantissas; i++)
        if (mantissas[i] * decade >= raw)
            return mantissas[i] * decade;
    return 10 * decade;
}

/* A dashed vertical line at x across the plot, labelled near its foot
 * (where curves that rise with x leave room): right of the line, or left of
 * it with label_left (a line near the plot's right edge). */
static void gp_vline_at(FILE *o, int tag, double x, const char *label, int label_left)
{
    fprintf(o, "set arrow %d from %.9g, graph 0 to %.9g, graph 1 nohead dashtype %d lw %g lc rgb 'black' front\n",
            tag, x, x, PLOT_DASHED, PLOT_MARK_LINE_WIDTH);
    fprintf(o, "set label %d ", tag);
    gp_str(o, label);
    fprintf(o, " at %.9g, graph %g %s offset character %g, 0 front\n", x, PLOT_VLINE_LABEL_Y,
            label_left ? "right" : "left", label_left ? -PLOT_LABEL_GAP_CH : PLOT_LABEL_GAP_CH);
}

static void gp_vline(FILE *o, int tag, double x, const char *label) { gp_vline_at(o, tag, x, label, 0); }

/* A dashed horizontal line at y across the plot (a 100% mark, an SLO),
 * labelled at its right end just above it when label is not NULL, on an
 * opaque box: a curve may pass anywhere, and the label stays legible. */
static void gp_hline(FILE *o, int tag, double y, const char *label)
{
    fprintf(o, "set arrow %d from graph 0, first %.9g to graph 1, first %.9g nohead dashtype %d lw %g"
               " lc rgb 'black' front\n",
            tag, y, y, PLOT_DASHED, PLOT_MARK_LINE_WIDTH);
    if (!label)
        return;
    fprintf(o, "set label %d ", tag);
    gp_str(o, label);
    fprintf(o, " at graph 0.99, first %.9g right offset 0, character %g boxed front\n"
               "set style textbox opaque noborder\n", y, PLOT_LABEL_RISE_CH);
}

/* Curve colors told apart with color-blind vision (Okabe and Ito); curves
 * past their count repeat them dashed. */
static const char *const palette[] = { "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000" };
#define PALETTE_N (sizeof palette / sizeof *palette)

static void gp_linetypes(FILE *o)
{
    for (size_t i = 0; i < 2 * PALETTE_N; i++)
        fprintf(o, "set linetype %zu lc rgb '%s' lw %g dashtype %d\n", i + 1, palette[i % PALETTE_N],
                PLOT_LINE_WIDTH, i < PALETTE_N ? 1 : PLOT_DASHED);
    fprintf(o, "set linetype cycle %zu\n", 2 * PALETTE_N);
}

/* Settings every figure shares, after the terminal. */
static const char *const gp_style =
    "set border lw 1.5\n"
    "set grid xtics ytics mxtics mytics lc rgb '#c8c8c8' lw 1, lc rgb '#ececec' lw 1\n"
    "set key nobox samplen 3 spacing 1.2 height 1\n"
    "set format x '%g'\n"
    "set format y '%g'\n"
    "set tics out nomirror\n";

/* The terminal for a format at the figure size and font. */
static void gp_terminal(FILE *o, plot_format f)
{
    if (f == FORMAT_PNG)
        fprintf(o, "set terminal pngcairo size %d,%d font ',%d' noenhanced\n", PLOT_WIDTH_PX, PLOT_HEIGHT_PX,
                PLOT_FONT_PT);
    else
        fprintf(o, "set terminal svg size %d,%d font 'sans-serif,%d' noenhanced background rgb 'white'\n",
                PLOT_WIDTH_PX, PLOT_HEIGHT_PX, PLOT_FONT_PT);
}

/* Writes the script (terminal, output path, style, body) to a temporary
 * file. Returns the open stream, its name in path (caller's), or NULL. */
static FILE *script_file(char *path, size_t n, plot_format f, const char *out, const char *body)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/kvtier-plot-XXXXXX.gp", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemps(path, 3);
    FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!o)
        return NULL;
    gp_terminal(o, f);
    fputs("set output ", o);
    gp_str(o, out);
    fputs("\n", o);
    gp_linetypes(o);
    fputs(gp_style, o);
    fputs(body, o);
    fputs("unset output\n", o);
    return o;
}

/* Runs gnuplot on the script; returns its exit status (-1: not started). */
static int run_gnuplot(const char *script)
{
    const char *prog = plot_gnuplot_program();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp(prog, prog, script, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Draws body into out with gnuplot in format f. gnuplot writes a temporary
 * file beside out, renamed over it only when gnuplot succeeded, so a failed
 * plot leaves an existing out as it was; the script of a failed plot is
 * kept for inspection. */
static int draw(const char *body, plot_format f, const char *out, kt_err *err)
{
    outfile of;
    if (outfile_open(&of, out, err) != 0 || outfile_close_stream(&of, err) != 0) {
        outfile_abort(&of);
        return -1;
    }
    char script[4096];
    FILE *o = script_file(script, sizeof script, f, of.tmp, body);
    if (!o || fclose(o) != 0) {
        outfile_abort(&of);
        KT_ERROR(err, NULL, 0, 0, "kvtier plot: cannot write a gnuplot script in %s", script);
        return -1;
    }
    int rc = run_gnuplot(script);
    struct stat sb;
    if (rc != 0 || stat(of.tmp, &sb) != 0 || sb.st_size == 0) {
        outfile_abort(&of);
        KT_ERROR(err, NULL, 0, 0, "kvtier plot: gnuplot (%s) failed on %s (exit status %d); its script is %s",
                 plot_gnuplot_program(), out, rc, script);
        return -1;
    }
    remove(script);
    return outfile_commit(&of, err);
}

/* ---------- reading the database ---------- */

/* A growable array of doubles. Invariants: n <= cap; v is owned. */
typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

/* Appends x; -1 when out of memory (d unchanged). */
static int dvec_push(dvec *d, double x)
{
    double *v = grow_array(d->v, &d->cap, d->n + 1, sizeof *v);
    if (!v)
        return -1;
    d->v = v;
    d->v[d->n++] = x;
    return 0;
}

/* Prepares sql with its first parameter bound to id. Caller finalizes;
 * NULL with err naming the database. */
static sqlite3_stmt *prep(const plot_ctx *c, const char *sql, long long id, kt_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        KT_ERROR(err, c->db_path, 0, 0, "SQLite: %s", sqlite3_errmsg(c->db));
        return NULL;
    }
    if (sqlite3_bind_parameter_count(s) >= 1)
        sqlite3_bind_int64(s, 1, id);
    return s;
}

/* The first column of the first row of sql (parameter 1 = id) as a number;
 * 0 when there is no row or it is NULL. Returns 0, or -1 with err. */
static int query_num(const plot_ctx *c, const char *sql, long long id, double *out, kt_err *err)
{
    sqlite3_stmt *s = prep(c, sql, id, err);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_double(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        KT_ERROR(err, c->db_path, 0, 0, "SQLite: %s", sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

/* query_num for counts and ids; -1 on error. */
static long long query_int(const plot_ctx *c, const char *sql, long long id, kt_err *err)
{
    double v;
    return query_num(c, sql, id, &v, err) < 0 ? -1 : (long long)v;
}

/* Appends column 0 of every row of sql (parameter 1 = id), divided by
 * scale, to d. Returns 0, or -1 with err. */
static int query_column(const plot_ctx *c, const char *sql, long long id, double scale, dvec *d, kt_err *err)
{
    sqlite3_stmt *s = prep(c, sql, id, err);
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (dvec_push(d, sqlite3_column_double(s, 0) / scale) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        KT_ERROR(err, c->db_path, 0, 0, "reading the results: %s",
                 rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

static int table_exists(const plot_ctx *c, const char *name)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* A run's legend text: "run 12: <sweep point's parameters>" for a run of a
 * sweep, else "run 12: <scenario name>". Written into buf (caller's). */
/* text with each dotted key shortened to its last part ("workload.arrival.rate=2/s, kv.dtype=fp8"
 * becomes "rate=2/s, dtype=fp8"), so that a sweep's many labels fit its legend; into buf. */
static void short_keys(const char *text, char *buf, size_t n)
{
    size_t k = 0, key_start = 0;
    for (const char *p = text; *p && k + 1 < n; p++) {
        const char *eq = strchr(p, '='), *sep = strpbrk(p, ", ");
        if (*p == '.' && eq && (!sep || eq < sep)) {
            k = key_start; /* a dot inside a key: drop what came before it */
            continue;
        }
        buf[k++] = *p;
        key_start = *p == ' ' ? k : key_start;
    }
    if (n)
        buf[k] = '\0';
}

static const char *run_label(const plot_ctx *c, long long run, char *buf, size_t n)
{
    const char *sql = table_exists(c, "sweep_points")
                          ? "SELECT coalesce((SELECT replace(params, char(10), ', ') FROM sweep_points WHERE run_id = r.id), r.scenario_name)"
                            " FROM runs r WHERE r.id = ?"
                          : "SELECT scenario_name FROM runs WHERE id = ?";
    sqlite3_stmt *s = prep(c, sql, run, NULL);
    const unsigned char *text = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    size_t len = (size_t)snprintf(buf, n, "run %lld: ", run);
    short_keys(text ? (const char *)text : "?", buf + (len < n ? len : n), len < n ? n - len : 0);
    sqlite3_finalize(s);
    return buf;
}

/* One summary figure of a run (absent when the run has none). */
static double run_metric_or(const plot_ctx *c, long long run, const char *metric, double absent)
{
    sqlite3_stmt *s = prep(c, "SELECT value FROM summary WHERE run_id = ? AND metric = ?", run, NULL);
    if (!s)
        return absent;
    sqlite3_bind_text(s, 2, metric, -1, SQLITE_STATIC);
    double v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_double(s, 0) : absent;
    sqlite3_finalize(s);
    return v;
}

static double run_metric(const plot_ctx *c, long long run, const char *metric)
{
    return run_metric_or(c, run, metric, 0);
}

/* Dollar magnitudes for labels and axes, largest first. */
static const struct {
    double div;
    const char *suffix;
} usd_scales[] = { { 1e9, "B" }, { 1e6, "M" }, { 1e3, "k" }, { 1, "" } };
#define USD_SCALES (sizeof usd_scales / sizeof *usd_scales)

/* The scale for dollar amounts up to magnitude max. */
static size_t usd_scale(double max)
{
    size_t i = 0;
    while (i + 1 < USD_SCALES && fabs(max) < usd_scales[i].div)
        i++;
    return i;
}

/* "$1.25M"-style dollars (three significant digits), into buf (caller's). */
static const char *usd_text(double usd, char *buf, size_t n)
{
    size_t k = usd_scale(usd);
    snprintf(buf, n, "%s$%.3g%s", usd < 0 ? "-" : "", fabs(usd) / usd_scales[k].div, usd_scales[k].suffix);
    return buf;
}

/* Sets the y label "WHAT ($M/year)" for dollars up to max; returns the
 * divisor the plotted values must be scaled by. */
static double usd_ylabel(FILE *o, const char *what, double max)
{
    size_t k = usd_scale(max);
    gp_set(o, "ylabel", "%s ($%s/year)", what, usd_scales[k].suffix);
    return usd_scales[k].div;
}

/* ---------- latency: TTFT and ITL CDFs ---------- */

static const char *const sql_ttfts = "SELECT ttft_ns FROM requests WHERE run_id = ? AND ttft_ns IS NOT NULL";
static const char *const sql_tpots = "SELECT tpot_ns FROM requests WHERE run_id = ? AND tpot_ns IS NOT NULL";

/* Every stored inter-token gap of a run, in ms, appended to d. Returns how
 * many requests had gaps stored (0: the run kept none), or -1 with err. */
static long long load_gaps_ms(const plot_ctx *c, long long run, dvec *d, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT itl_gaps_ns FROM requests WHERE run_id = ? AND itl_gaps_ns IS NOT NULL", run,
                           err);
    if (!s)
        return -1;
    long long reqs = 0;
    int rc, oom = 0;
    while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const int64_t *g = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0) / sizeof *g;
        for (size_t i = 0; i < n && !oom; i++)
            oom = dvec_push(d, (double)g[i] / NS_PER_MS) < 0;
        reqs++;
    }
    sqlite3_finalize(s);
    if (oom || rc != SQLITE_DONE) {
        KT_ERROR(err, c->db_path, 0, 0, "reading run %lld's gaps: %s", run,
                 oom ? "out of memory" : sqlite3_errmsg(c->db));
        return -1;
    }
    return reqs;
}

/* Writes data block NAMEi with the CDF of d (sorted in place) and widens
 * [*lo, *hi] to its values. */
static int cdf_block(FILE *o, const char *name, int i, dvec *d, double *lo, double *hi)
{
    size_t cap = d->n < PLOT_CDF_MAX_POINTS ? d->n : PLOT_CDF_MAX_POINTS;
    plot_xy *p = malloc((cap ? cap : 1) * sizeof *p);
    if (!p)
        return -1;
    size_t n = plot_cdf_points(d->v, d->n, PLOT_CDF_MAX_POINTS, p);
    gp_xy_block(o, name, i, p, n);
    if (n) {
        *lo = fmin(*lo, p[0].x);
        *hi = fmax(*hi, p[n - 1].x);
    }
    free(p);
    return 0;
}

/* A figure of equal panels in a grid under one legend strip: where each part sits (shares of the figure). */
typedef struct gp_grid {
    int rows, cols;
    double top;                 /* of the panels, under the title and the legend strip */
    double key_top;             /* of the legend strip, under the title */
} gp_grid;

/* Starts a multiplot of rows × cols equal panels under title and a legend
 * strip of n_curves entries in as many rows as it needs (none for 0). */
static gp_grid gp_grid_start(FILE *o, const char *title, int rows, int cols, int n_curves)
{
    int per_row = n_curves > PLOT_KEY_ONE_ROW ? PLOT_KEY_COLUMNS : n_curves;
    int key_rows = per_row ? (n_curves + per_row - 1) / per_row : 0;
    gp_grid g = { rows, cols, 1 - PLOT_GRID_TITLE - PLOT_KEY_ROW_HEIGHT * key_rows, 1 - PLOT_GRID_TITLE };
    fputs("set multiplot title ", o);
    gp_str(o, title);
    fputc('\n', o);
    return g;
}

/* Places the next plot at panel k (row-major) of g, its plot area fixed so the panels align. */
static void gp_grid_panel(FILE *o, const gp_grid *g, int k)
{
    double w = (PLOT_GRID_RIGHT - PLOT_GRID_LEFT - PLOT_GRID_HSPACE * (g->cols - 1)) / g->cols;
    double h = (g->top - PLOT_GRID_TITLE_GAP - PLOT_GRID_BOTTOM - PLOT_GRID_VSPACE * (g->rows - 1)) / g->rows;
    int r = k / g->cols, c = k % g->cols;
    double x0 = PLOT_GRID_LEFT + c * (w + PLOT_GRID_HSPACE), y1 = g->top - PLOT_GRID_TITLE_GAP - r * (h + PLOT_GRID_VSPACE);
    fprintf(o, "set lmargin at screen %.4f\nset rmargin at screen %.4f\nset tmargin at screen %.4f\n"
               "set bmargin at screen %.4f\n",
            x0, x0 + w, y1, y1 - h);
}

/* Starts the legend strip of g: an empty plot whose key is the figure's
 * legend. The caller writes "plot" with one entry per curve (a constant
 * below the range: nothing drawn), then gp_grid_key_end. */
static void gp_grid_key(FILE *o, const gp_grid *g)
{
    fprintf(o, "set lmargin at screen %g\nset rmargin at screen %g\nset tmargin at screen %.4f\n"
               "set bmargin at screen %.4f\n",
            PLOT_GRID_LEFT, PLOT_GRID_RIGHT, g->key_top, g->top);
    fputs("unset border\nunset tics\nunset grid\nunset xlabel\nunset ylabel\nunset title\nset yrange [0:1]\n"
          "set key center center horizontal\n", o);
}

/* Restores what gp_grid_key turned off, for the panels; no key on them. */
static void gp_grid_key_end(FILE *o)
{
    fputs("set border\nset tics\nset grid\nunset key\nset autoscale y\n", o);
}

/* Curve i of n in gnuplot dash type dash (1: solid): a color of the
 * palette, or with more curves than it has, a color scale in the curves'
 * order (a sweep's points read as a gradient). */
static void gp_curve_style(FILE *o, int i, int n, int dash)
{
    if (n > (int)PALETTE_N)
        fprintf(o, " lc palette frac %.6g dashtype %d", n > 1 ? (double)i / (n - 1) : 0.0, dash);
    else if (dash > 1)
        fprintf(o, " lt %d dashtype %d", i + 1, dash);
    else
        fprintf(o, " lt %d", i + 1);
}

static void gp_curve_color(FILE *o, int i, int n) { gp_curve_style(o, i, n, 1); }

/* The viridis color scale (perceptually uniform, legible in gray and to color-blind readers). */
#define GP_SCALE_PALETTE "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')\nunset colorbox\n"

/* One latency panel: a curve per run from blocks NAME0.., as a CDF or, for
 * the tail, a CCDF (the fraction above, on a log axis down to one request
 * in ten thousand); a dashed line at the SLO when slo_ms > 0. The curves
 * are named once, in the figure's legend strip (latency_key). */
static void cdf_panel(FILE *o, const plot_ctx *c, const char *name, const char *xlabel, const char *ylabel,
                      double lo, double hi, int ccdf, double slo_ms)
{
    gp_set(o, "xlabel", "%s", xlabel);
    gp_set(o, "ylabel", "%s", ylabel);
    /* The SLO stays on the axis when every request beat it. */
    double top = slo_ms > hi ? slo_ms * PLOT_SLO_ROOM : hi;
    gp_x_scale(o, lo, top, PLOT_LOG_SPAN);
    if (top > hi)
        fprintf(o, "set xrange [*:%.9g]\n", top);
    else
        fputs("set xrange [*:*]\n", o);
    if (ccdf)
        fprintf(o, "set logscale y 10\nset yrange [%g:1]\n", PLOT_CCDF_FLOOR);
    else
        fputs("unset logscale y\nset yrange [0:1]\n", o);
    fputs("unset arrow\nunset label\n", o);
    if (slo_ms > 0) {
        char label[64];
        snprintf(label, sizeof label, "SLO %g ms", slo_ms);
        gp_vline_at(o, 1, slo_ms, label, top > hi);
    }
    fputs("plot ", o);
    for (int i = 0; i < c->n_runs; i++) {
        fprintf(o, "%s$%s%d using 1:%s with steps notitle", i ? ", \\\n  " : "", name, i, ccdf ? "(1 - $2)" : "2");
        gp_curve_color(o, i, c->n_runs);
    }
    fputc('\n', o);
}

/* The legend of the latency figure: each run's label (TPOT marked where it stands in for the gaps). */
static void latency_key(FILE *o, const plot_ctx *c, const gp_grid *g, const int *tpot)
{
    gp_grid_key(o, g);
    fputs("plot ", o);
    for (int i = 0; i < c->n_runs; i++) {
        char label[256], text[300];
        run_label(c, c->runs[i], label, sizeof label);
        snprintf(text, sizeof text, "%s%s", label, tpot[i] ? " (TPOT)" : "");
        fprintf(o, "%s-1 with lines", i ? ", " : "");
        gp_curve_color(o, i, c->n_runs);
        gp_title(o, text);
    }
    fputc('\n', o);
    gp_grid_key_end(o);
}

/* The SLO keys of a scenario, in the order run_slos gives their bounds. */
enum { SLO_TTFT, SLO_ITL, SLO_TPOT, SLO_COUNT };
static const char *const slo_keys[SLO_COUNT] = { "ttft", "itl", "tpot" };

/* The SLO bounds of run's scenario in ms (0 when unset), per slo_keys,
 * read from its stored effective YAML into ms (caller's, SLO_COUNT). */
static void run_slos(const plot_ctx *c, long long run, double *ms)
{
    memset(ms, 0, SLO_COUNT * sizeof *ms);
    sqlite3_stmt *s = prep(c, "SELECT scenario_yaml FROM runs WHERE id = ?", run, NULL);
    const char *yaml = s && sqlite3_step(s) == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    kt_err err;
    conf_node *root = yaml ? conf_parse_string(yaml, strlen(yaml), "scenario", &err) : NULL;
    conf_node *slo = root ? conf_find(root, "slo") : NULL;
    for (int k = 0; k < SLO_COUNT && slo; k++) {
        conf_node *n = conf_find(slo, slo_keys[k]);
        int64_t ns;
        if (n && conf_scalar_ns(n, 0, INT64_MAX, &ns, &err) == 0)
            ms[k] = (double)ns / NS_PER_MS;
    }
    conf_free(root);
    sqlite3_finalize(s);
}

/* run_slos' TTFT bound, and the per-token one (ITL, else TPOT), in ms. */
static void run_slo_ms(const plot_ctx *c, long long run, double *ttft_ms, double *token_ms)
{
    double ms[SLO_COUNT];
    run_slos(c, run, ms);
    *ttft_ms = ms[SLO_TTFT];
    *token_ms = ms[SLO_ITL] > 0 ? ms[SLO_ITL] : ms[SLO_TPOT];
}

/* The figure's subject in titles: "run 12 (name)", "runs 3, 5", "sweep 2 (name)". */
static const char *runs_text(const plot_ctx *c, char *buf, size_t n)
{
    if (c->sweep) {
        sqlite3_stmt *s = table_exists(c, "sweeps") ? prep(c, "SELECT name FROM sweeps WHERE id = ?", c->sweep, NULL)
                                                    : NULL;
        const unsigned char *t = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
        snprintf(buf, n, "sweep %lld%s%s%s", c->sweep, t ? " (" : "", t ? (const char *)t : "", t ? ")" : "");
        sqlite3_finalize(s);
    } else if (c->n_runs == 1) {
        char label[256];
        run_label(c, c->runs[0], label, sizeof label);
        snprintf(buf, n, "%s", label);
    } else {
        size_t len = (size_t)snprintf(buf, n, "runs");
        for (int i = 0; i < c->n_runs && len < n; i++)
            len += (size_t)snprintf(buf + len, n - len, "%s %lld", i ? "," : "", c->runs[i]);
    }
    return buf;
}

/* Data blocks ttftI and itlI per selected run, widening [lo, hi] per panel
 * (0 TTFT, 1 ITL) and marking tpot[i] for runs that stored no gaps.
 * Returns how many such runs, or -1 with err. */
static int latency_blocks(const plot_ctx *c, FILE *o, double *lo, double *hi, int *tpot, kt_err *err)
{
    int n_tpot = 0, rc = 0;
    for (int i = 0; i < c->n_runs && rc == 0; i++) {
        dvec ttft = { 0 }, itl = { 0 };
        long long gap_reqs = -1;
        rc = query_column(c, sql_ttfts, c->runs[i], NS_PER_MS, &ttft, err);
        if (rc == 0 && (gap_reqs = load_gaps_ms(c, c->runs[i], &itl, err)) == 0)
            rc = query_column(c, sql_tpots, c->runs[i], NS_PER_MS, &itl, err);
        rc = rc < 0 || gap_reqs < 0 ? -1 : 0;
        tpot[i] = gap_reqs == 0;
        n_tpot += tpot[i];
        if (rc == 0 && (cdf_block(o, "ttft", i, &ttft, &lo[0], &hi[0]) < 0 ||
                        cdf_block(o, "itl", i, &itl, &lo[1], &hi[1]) < 0))
            rc = -1;
        free(ttft.v);
        free(itl.v);
    }
    return rc < 0 ? -1 : n_tpot;
}

/* TTFT and inter-token latency of the selected runs: CDFs above, their
 * tails below as CCDFs on a log axis, the first run's SLOs marked, one
 * legend above all four panels. */
static int write_latency(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    double lo[2] = { INFINITY, INFINITY }, hi[2] = { 0, 0 };
    int tpot[PLOT_MAX_RUNS] = { 0 }; /* subject_has allows no more runs */
    int n_tpot = latency_blocks(c, o, lo, hi, tpot, err), all_tpot = n_tpot == c->n_runs;
    if (n_tpot < 0)
        return -1;
    double slo[2];
    run_slo_ms(c, c->runs[0], &slo[0], &slo[1]);
    char subject[512], title[600];
    snprintf(title, sizeof title, "Latency, %s: CDFs, and their tails (1 - CDF, log scale)",
             runs_text(c, subject, sizeof subject));
    fputs(GP_SCALE_PALETTE, o);
    gp_grid g = gp_grid_start(o, title, 2, 2, c->n_runs);
    int no_tpot[PLOT_MAX_RUNS] = { 0 };
    latency_key(o, c, &g, all_tpot ? no_tpot : tpot);
    const char *itl_x = all_tpot ? "TPOT (ms)" : "inter-token gap (ms)", *itl_y = all_tpot ? "requests" : "gaps";
    char ylab[64];
    for (int tail = 0; tail < 2; tail++) {
        gp_grid_panel(o, &g, 2 * tail);
        gp_set(o, "title", "%s", tail ? "" : "Time to first token");
        snprintf(ylab, sizeof ylab, "fraction of requests%s", tail ? " above" : "");
        cdf_panel(o, c, "ttft", "TTFT (ms)", ylab, lo[0], hi[0], tail, slo[0]);
        gp_grid_panel(o, &g, 2 * tail + 1);
        if (tail)
            gp_set(o, "title", "%s", "");
        else if (all_tpot)
            gp_set(o, "title", "TPOT (gaps not stored: set results.itl_gaps)");
        else
            gp_set(o, "title", "Inter-token latency%s", n_tpot ? " (TPOT where gaps were not stored)" : "");
        snprintf(ylab, sizeof ylab, "fraction of %s%s", itl_y, tail ? " above" : "");
        cdf_panel(o, c, "itl", itl_x, ylab, lo[1], hi[1], tail, slo[1]);
    }
    fputs("unset multiplot\n", o);
    return 0;
}

/* ---------- tiers: occupancy over time ---------- */

/* One KV tier of a run, for the occupancy figure.
 * Invariants: capacity_blocks is the whole tier's (summed over replicas,
 * or the one pool when shared), 0 when unknown; block_bytes > 0 when known. */
typedef struct tier_info {
    char label[128];
    double capacity_blocks, block_bytes;
} tier_info;

#define BYTES_PER_GB 1e9

/* HBM's and each lower tier's capacity and legend text: t[0] HBM, t[L + 1]
 * lower tier L (the level tiers and tier_samples give it). */
static int load_tier_info(const plot_ctx *c, long long run, tier_info *t, kt_err *err)
{
    memset(t, 0, PLOT_MAX_LEVELS * sizeof *t);
    long long replicas = query_int(c, "SELECT count(*) FROM replicas WHERE run_id = ?", run, err);
    if (replicas < 0)
        return -1;
    char b[32];
    t[0].capacity_blocks = run_metric(c, run, "kv_blocks_per_replica") * (double)replicas;
    t[0].block_bytes = run_metric(c, run, "kv_block_bytes");
    snprintf(t[0].label, sizeof t[0].label, "HBM: %s (%lld replica%s)",
             units_format(t[0].capacity_blocks * t[0].block_bytes, UNITS_BYTES, b, sizeof b), replicas,
             replicas == 1 ? "" : "s");
    sqlite3_stmt *s = prep(c, "SELECT level, name, kind, sum(capacity_blocks), max(capacity_blocks), max(block_bytes),"
                              " (SELECT count(*) FROM tier_samples x WHERE x.run_id = t.run_id"
                              "  AND x.level = t.level AND x.replica = " STR(METRICS_SHARED_REPLICA) ") > 0"
                              " FROM tiers t WHERE run_id = ? GROUP BY level ORDER BY level", run, err);
    if (!s)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int level = sqlite3_column_int(s, 0) + 1, shared = sqlite3_column_int(s, 6);
        if (level < 1 || level >= PLOT_MAX_LEVELS)
            continue;
        tier_info *x = &t[level];
        x->capacity_blocks = sqlite3_column_double(s, shared ? 4 : 3);
        x->block_bytes = sqlite3_column_double(s, 5);
        const char *name = (const char *)sqlite3_column_text(s, 1), *kind = (const char *)sqlite3_column_text(s, 2);
        int named_as_kind = !strcmp(name, kind);
        snprintf(x->label, sizeof x->label, "%s%s%s%s: %s%s", name, named_as_kind ? "" : " (",
                 named_as_kind ? "" : kind, named_as_kind ? "" : ")",
                 units_format(x->capacity_blocks * x->block_bytes, UNITS_BYTES, b, sizeof b),
                 shared ? ", one pool for the fleet" : "");
    }
    sqlite3_finalize(s);
    return 0;
}

/* Data block hbm: time (s), then the fraction of HBM's KV capacity and
 * the GB of its blocks in use (held by requests), then of those cached
 * (freed, kept as prefix cache), summed over replicas; drawn[0] set when
 * there are samples. Returns 0 or -1 with err. */
static int hbm_blocks(const plot_ctx *c, long long run, const tier_info *hbm, FILE *o, int *drawn, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT t_ns, sum(kv_used_blocks), sum(kv_cached_blocks) FROM replica_samples"
                              " WHERE run_id = ? GROUP BY t_ns ORDER BY t_ns", run, err);
    if (!s)
        return -1;
    fputs("$hbm << EOD\n", o);
    while (sqlite3_step(s) == SQLITE_ROW && hbm->capacity_blocks > 0) {
        double use = sqlite3_column_double(s, 1), cached = sqlite3_column_double(s, 2);
        fprintf(o, "%.9g %.9g %.9g %.9g %.9g\n", sqlite3_column_int64(s, 0) / NS_PER_S, use / hbm->capacity_blocks,
                use * hbm->block_bytes / BYTES_PER_GB, cached / hbm->capacity_blocks,
                cached * hbm->block_bytes / BYTES_PER_GB);
        drawn[0] = 1;
    }
    fputs("EOD\n", o);
    sqlite3_finalize(s);
    return 0;
}

/* Data blocks tierL of the lower tiers (L >= 1): time (s), fraction of
 * capacity, GB held; drawn[L] set for each level written; then HBM's
 * (hbm_blocks). */
static int tier_blocks(const plot_ctx *c, long long run, const tier_info *t, FILE *o, int *drawn, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT level, t_ns, sum(used_blocks) FROM tier_samples WHERE run_id = ? AND level >= 0"
                              " GROUP BY level, t_ns ORDER BY level, t_ns", run, err);
    if (!s)
        return -1;
    int open = -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int level = sqlite3_column_int(s, 0) - METRICS_HBM_LEVEL;
        if (level < 1 || level >= PLOT_MAX_LEVELS || !(t[level].capacity_blocks > 0))
            continue;
        if (level != open) {
            fprintf(o, "%s$tier%d << EOD\n", open >= 0 ? "EOD\n" : "", level);
            open = level;
            drawn[level] = 1;
        }
        double used = sqlite3_column_double(s, 2);
        fprintf(o, "%.9g %.9g %.9g\n", sqlite3_column_int64(s, 1) / NS_PER_S, used / t[level].capacity_blocks,
                used * t[level].block_bytes / BYTES_PER_GB);
    }
    sqlite3_finalize(s);
    if (open >= 0)
        fputs("EOD\n", o);
    return hbm_blocks(c, run, &t[0], o, drawn, err);
}

/* The legend strip: each tier's curve, HBM's two (in use solid, cached dashed). */
static void tier_key(FILE *o, const gp_grid *g, const tier_info *t, const int *drawn)
{
    gp_grid_key(o, g);
    fputs("plot ", o);
    for (int l = 0, first = 1; l < PLOT_MAX_LEVELS; l++)
        if (drawn[l]) {
            char text[1024];
            snprintf(text, sizeof text, "%s%s", t[l].label, l ? "" : ", in use");
            fprintf(o, "%s-1 with lines lt %d", first ? "" : ", ", l + 1);
            gp_title(o, text);
            if (l == 0)
                fprintf(o, ", -1 with lines lt 1 dashtype %d title 'HBM cached (prefix cache)'",
                        PLOT_DASHED);
            first = 0;
        }
    fputc('\n', o);
    gp_grid_key_end(o);
}

/* One occupancy panel: column col of every tier block drawn (HBM's in use
 * from $hbm column col, cached from col + 2). */
static void tier_panel(FILE *o, const int *drawn, int col)
{
    fputs("plot ", o);
    for (int l = 0, first = 1; l < PLOT_MAX_LEVELS; l++)
        if (drawn[l]) {
            if (l == 0)
                fprintf(o, "$hbm using 1:%d with lines lt 1 notitle, $hbm using 1:%d with lines lt 1 dashtype %d notitle",
                        col, col + 2, PLOT_DASHED);
            else
                fprintf(o, "%s$tier%d using 1:%d with lines lt %d notitle", first ? "" : ", \\\n  ", l, col, l + 1);
            first = 0;
        }
    fputc('\n', o);
}

static int write_tiers(const plot_ctx *c, long long run, FILE *o, kt_err *err)
{
    tier_info t[PLOT_MAX_LEVELS];
    int drawn[PLOT_MAX_LEVELS] = { 0 }, n = 0;
    if (load_tier_info(c, run, t, err) < 0 || tier_blocks(c, run, t, o, drawn, err) < 0)
        return -1;
    for (int l = 0; l < PLOT_MAX_LEVELS; l++)
        n += drawn[l] + (l == 0 && drawn[l]);
    char label[256], title[512];
    snprintf(title, sizeof title, "KV tier occupancy, %s (blocks held, summed over replicas)",
             run_label(c, run, label, sizeof label));
    gp_grid g = gp_grid_start(o, title, 2, 1, n);
    tier_key(o, &g, t, drawn);
    gp_grid_panel(o, &g, 0);
    gp_set(o, "ylabel", "occupancy (fraction of capacity)");
    gp_set(o, "format x", "%s", "");
    fputs("set yrange [0:1.05]\nunset xlabel\n", o);
    tier_panel(o, drawn, 2);
    gp_grid_panel(o, &g, 1);
    gp_set(o, "ylabel", "KV held (GB)");
    gp_set(o, "xlabel", "simulated time (s)");
    gp_set(o, "format x", "%s", "%g");
    fputs("set yrange [0:*]\n", o);
    tier_panel(o, drawn, 3);
    fputs("unset multiplot\n", o);
    return 0;
}

/* gnuplot's key settings for the panels of a figure: the first panel's
 * key names the curves for all of them. */
#define GP_KEY_TOP_LEFT "set key top left"
#define GP_NO_KEY "unset key"

/* ---------- links: utilization over time ---------- */

/* Links that moved data, in the fabric's order, with their bandwidth. */
static const char *const sql_busy_links =
    "SELECT name, max(bw_Bps) FROM links WHERE run_id = ? GROUP BY name HAVING sum(bytes_moved) > 0 ORDER BY min(link)";

#define LINK_PANEL_COLUMNS 2        /* small multiples side by side once there are more than */
#define LINK_ONE_COLUMN_MAX 3       /* this many links */

#define LINK_Y_TOP_PCT 110          /* every panel's y range: 0 to this, so a full link reads alike on all */
#define LINK_Y_STEP_PCT 50

/* Writes, per busy link, data block linkN (utilization in percent) and its
 * panel n of g, all on the same y scale with a dashed 100% line (titled
 * with the link, its bandwidth and its peak; axis labels on the outer
 * panels only). Returns how many, or -1 with err. */
static int link_panels(const plot_ctx *c, long long run, FILE *o, const gp_grid *g, long long n_links, kt_err *err)
{
    sqlite3_stmt *names = prep(c, sql_busy_links, run, err);
    sqlite3_stmt *s = names ? prep(c, "SELECT s.t_ns, avg(s.utilization) FROM link_samples s JOIN links l"
                                      " USING (run_id, replica, link) WHERE s.run_id = ? AND l.name = ?"
                                      " GROUP BY s.t_ns ORDER BY s.t_ns", run, err)
                            : NULL;
    int n = 0;
    while (s && sqlite3_step(names) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(names, 0);
        char bw[32];
        double peak = 0;
        sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
        fprintf(o, "$link%d << EOD\n", n);
        while (sqlite3_step(s) == SQLITE_ROW) {
            peak = fmax(peak, 100 * sqlite3_column_double(s, 1));
            fprintf(o, "%.9g %.9g\n", sqlite3_column_int64(s, 0) / NS_PER_S, 100 * sqlite3_column_double(s, 1));
        }
        fputs("EOD\n", o);
        sqlite3_reset(s);
        gp_grid_panel(o, g, n);
        gp_set(o, "title", "%s (%s): peak %.3g%%", name,
               units_format(sqlite3_column_double(names, 1), UNITS_BANDWIDTH, bw, sizeof bw), peak);
        fprintf(o, "set yrange [0:%d]\nset ytics %d\n", peak > 100 ? (int)ceil(peak * 1.1) : LINK_Y_TOP_PCT,
                LINK_Y_STEP_PCT);
        gp_hline(o, 1, 100, NULL);
        /* One time axis for all: its numbers and label under the lowest panels only. */
        int bottom = n + g->cols >= n_links;
        gp_set(o, "xlabel", "%s", bottom ? "simulated time (s)" : "");
        gp_set(o, "format x", "%s", bottom ? "%g" : "");
        gp_set(o, "ylabel", "%s", n % g->cols == 0 ? "utilization (%)" : "");
        fprintf(o, "plot $link%d using 1:2 with lines lt %d notitle\n", n, n + 1);
        n++;
    }
    sqlite3_finalize(names);
    sqlite3_finalize(s);
    return s ? n : -1;
}

static int write_links(const plot_ctx *c, long long run, FILE *o, kt_err *err)
{
    long long n_links = query_int(c, "SELECT count(*) FROM (SELECT name FROM links WHERE run_id = ? GROUP BY name"
                                     " HAVING sum(bytes_moved) > 0)", run, err);
    long long replicas = query_int(c, "SELECT count(DISTINCT replica) FROM links WHERE run_id = ?", run, err);
    if (n_links < 0 || replicas < 0)
        return -1;
    int cols = n_links > LINK_ONE_COLUMN_MAX ? LINK_PANEL_COLUMNS : 1;
    char label[256], title[512];
    snprintf(title, sizeof title, "Link utilization, %s (mean over %lld replica%s; links that moved data; dashed: 100%%)",
             run_label(c, run, label, sizeof label), replicas, replicas == 1 ? "" : "s");
    gp_grid g = gp_grid_start(o, title, (int)((n_links + cols - 1) / cols), cols, 0);
    fputs("unset key\n", o);
    int n = link_panels(c, run, o, &g, n_links, err);
    fputs("unset multiplot\n", o);
    return n < 0 ? -1 : 0;
}

/* ---------- plans ---------- */

/* A capacity plan and its candidates.
 * Invariants: cand holds n_cand rows in candidate order (owned); baseline
 * and best are candidate numbers or PLOT_NONE. */
typedef struct plot_plan {
    long long id;
    char name[128];
    double target_rps, slo_ttft_p99_ms;
    int has_slo_ttft;
    int baseline, best;
    plot_candidate *cand;
    size_t n_cand;
} plot_plan;

static int col_int_or(sqlite3_stmt *s, int col, int none)
{
    return sqlite3_column_type(s, col) == SQLITE_NULL ? none : sqlite3_column_int(s, col);
}

static void read_candidate(sqlite3_stmt *s, plot_candidate *x)
{
    memset(x, 0, sizeof *x);
    x->candidate = sqlite3_column_int(s, 0);
    snprintf(x->name, sizeof x->name, "%s", (const char *)sqlite3_column_text(s, 1));
    x->gpus_per_replica = sqlite3_column_int(s, 2);
    x->max_rps_per_replica = sqlite3_column_double(s, 3);
    x->usd_per_gpu_year = sqlite3_column_double(s, 4);
    x->tier_usd_per_replica_year = sqlite3_column_double(s, 5);
    x->feasible = sqlite3_column_int(s, 6);
    x->has_gpus = sqlite3_column_type(s, 7) != SQLITE_NULL && sqlite3_column_type(s, 8) != SQLITE_NULL;
    x->gpus = sqlite3_column_int64(s, 7);
    x->usd_per_year = sqlite3_column_double(s, 8);
    x->has_ttft = sqlite3_column_type(s, 9) != SQLITE_NULL;
    x->ttft_p99_ms = sqlite3_column_double(s, 9);
}

/* Frees what plot_plan_load allocated; p can be loaded again. */
static void plot_plan_free(plot_plan *p)
{
    free(p->cand);
    p->cand = NULL;
}

/* Reads plan id and its candidates into p: 0 (free with plot_plan_free), or -1
 * with err and nothing held. */
static int plot_plan_load(const plot_ctx *c, long long id, plot_plan *p, kt_err *err)
{
    memset(p, 0, sizeof *p);
    sqlite3_stmt *s = prep(c, "SELECT name, target_rps, slo_ttft_p99_ms, baseline, best FROM plans WHERE id = ?", id,
                           err);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        KT_ERROR(err, c->db_path, 0, 0, "plan %lld not found", id);
        return -1;
    }
    p->id = id;
    snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(s, 0));
    p->target_rps = sqlite3_column_double(s, 1);
    p->has_slo_ttft = sqlite3_column_type(s, 2) != SQLITE_NULL;
    p->slo_ttft_p99_ms = sqlite3_column_double(s, 2);
    p->baseline = col_int_or(s, 3, PLOT_NONE);
    p->best = col_int_or(s, 4, PLOT_NONE);
    sqlite3_finalize(s);
    long long n = query_int(c, "SELECT count(*) FROM plan_candidates WHERE plan_id = ?", id, err);
    p->cand = n >= 0 ? calloc((size_t)n + 1, sizeof *p->cand) : NULL;
    s = p->cand ? prep(c, "SELECT candidate, name, gpus_per_replica, max_rps_per_replica, usd_per_gpu_year,"
                          " tier_usd_per_replica_year, feasible, gpus, usd_per_year, ttft_p99_ms"
                          " FROM plan_candidates WHERE plan_id = ? ORDER BY candidate", id, err)
                 : NULL;
    if (!s) {
        plot_plan_free(p);
        return -1;
    }
    while (p->n_cand < (size_t)n && sqlite3_step(s) == SQLITE_ROW)
        read_candidate(s, &p->cand[p->n_cand++]);
    sqlite3_finalize(s);
    return 0;
}

/* A candidate's legend text: its name, marked when it is the baseline or the best. */
static const char *cand_label(const plot_plan *p, const plot_candidate *x, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", x->name, x->candidate == p->baseline ? " (baseline)" : "",
             x->candidate == p->best ? " (best)" : "");
    return buf;
}

/* Where each point's label goes (its y, in data units) so that no two
 * overlap: from the highest point down, a label that would sit within row
 * (a text row's height in data units) of one already placed whose point is
 * within near_x in x (compared as log10 when logx: the labels run right of
 * their points) moves a row below that one. label_y has n entries. */
static void label_rows(const plot_xy *pts, size_t n, double row, double near_x, int logx, double *label_y)
{
    int *done = calloc(n ? n : 1, sizeof *done);
    for (size_t i = 0; i < n; i++)
        label_y[i] = pts[i].y;
    for (size_t k = 0; k < n && done; k++) {
        size_t top = n;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (top == n || pts[i].y > pts[top].y))
                top = i;
        /* Each move passes one placed label, so at most n; a label exactly a
         * row from another (to rounding) does not collide with it. */
        for (size_t moves = 0, moved = 1; moved && moves <= n; moves++) {
            moved = 0;
            for (size_t j = 0; j < n; j++) {
                double dx = logx ? log10(pts[j].x) - log10(pts[top].x) : pts[j].x - pts[top].x;
                if (done[j] && fabs(dx) < near_x && fabs(label_y[j] - label_y[top]) < row * PLOT_LABEL_ROW_FIT) {
                    label_y[top] = label_y[j] - row;
                    moved = 1;
                }
            }
        }
        done[top] = 1;
    }
    free(done);
}

/* label_rows for points on axes that span their extents: a row is
 * PLOT_LABEL_ROW of the y span, near PLOT_LABEL_NEAR of the x span. */
static void label_rows_spanned(const plot_xy *pts, size_t n, int logx, double *label_y)
{
    double ylo = INFINITY, yhi = -INFINITY, xlo = INFINITY, xhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = logx ? log10(pts[i].x) : pts[i].x;
        ylo = fmin(ylo, pts[i].y), yhi = fmax(yhi, pts[i].y), xlo = fmin(xlo, x), xhi = fmax(xhi, x);
    }
    label_rows(pts, n, (yhi > ylo ? yhi - ylo : fabs(yhi) + 1) * PLOT_LABEL_ROW,
               (xhi > xlo ? xhi - xlo : 1) * PLOT_LABEL_NEAR, logx, label_y);
}

/* Data block costI: load (req/s), $/year ÷ usd_div, GPUs along candidate
 * x's staircase from 0 to max_load, exact while it has few enough steps. */
static void cost_block(FILE *o, int i, const plot_candidate *x, double max_load, double usd_div)
{
    double steps = ceil(max_load / x->max_rps_per_replica);
    fprintf(o, "$cost%d << EOD\n", i);
    plot_cost pc;
    if (steps <= PLOT_COST_MAX_STEPS) {
        for (int k = 1; k <= (int)steps; k++) {
            double lo = (k - 1) * x->max_rps_per_replica, hi = fmin(k * x->max_rps_per_replica, max_load);
            plot_cost_at(x, 0.5 * (lo + hi), &pc);
            fprintf(o, "%.9g %.9g %lld\n%.9g %.9g %lld\n", lo, pc.usd_per_year / usd_div, (long long)pc.gpus, hi,
                    pc.usd_per_year / usd_div, (long long)pc.gpus);
        }
    } else {
        for (int k = 1; k <= PLOT_COST_MAX_STEPS; k++) {
            double load = max_load * k / PLOT_COST_MAX_STEPS;
            plot_cost_at(x, load, &pc);
            fprintf(o, "%.9g %.9g %lld\n", load, pc.usd_per_year / usd_div, (long long)pc.gpus);
        }
    }
    fputs("EOD\n", o);
}

/* One panel of the cost figure: column col of every costI block (each
 * candidate its own color and dash pattern, so lines that run close stay
 * apart), a point on each at the target, and its value there (column
 * col + 2 of $at, at the height column col + 4 gives: labels that would
 * collide are stacked); key_cmd one of the GP_*KEY* settings. */
static void cost_panel(FILE *o, const plot_plan *p, int col, const char *key_cmd)
{
    fprintf(o, "%s\nplot ", key_cmd);
    for (size_t i = 0, first = 1; i < p->n_cand; i++) {
        if (!(p->cand[i].max_rps_per_replica > 0))
            continue;
        char label[160];
        fprintf(o, "%s$cost%zu using 1:%d with lines lt %zu dashtype %zu", first ? "" : ", \\\n  ", i, col, i + 1,
                i % PLOT_DASH_PATTERNS + 1);
        gp_title(o, cand_label(p, &p->cand[i], label, sizeof label));
        fprintf(o, ", \\\n  $at every ::%zu::%zu using 1:%d with points lt %zu pt %d ps %g notitle", i, i, col, i + 1,
                GP_FILLED_CIRCLE, PLOT_POINT_SIZE);
        first = 0;
    }
    fprintf(o, ", \\\n  $at using 1:%d:%d with labels left offset character %g, 0 notitle\n", col + 4, col + 2,
            2 * PLOT_LABEL_GAP_CH);
}

/* Data block at: per candidate (all of them, in order; a candidate the
 * plan could not size sits at NaN) the target load, $/year (in usd_div
 * units) and GPUs there, their labels, and each label's height (stacked
 * with label_rows against the axes' tops usd_top and gpus_top). */
static void cost_at_target(FILE *o, const plot_plan *p, double usd_div, double usd_top, double gpus_top)
{
    size_t n = p->n_cand;
    plot_xy *usd = calloc(n ? n : 1, sizeof *usd), *gpus = calloc(n ? n : 1, sizeof *gpus);
    double *usd_y = calloc(n ? n : 1, sizeof *usd_y), *gpus_y = calloc(n ? n : 1, sizeof *gpus_y);
    if (!usd || !gpus || !usd_y || !gpus_y)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        plot_cost pc = { 0 };
        int ok = p->cand[i].max_rps_per_replica > 0 && plot_cost_at(&p->cand[i], p->target_rps, &pc) == 0;
        usd[i] = (plot_xy){ p->target_rps, ok ? pc.usd_per_year / usd_div : NAN };
        gpus[i] = (plot_xy){ p->target_rps, ok ? (double)pc.gpus : NAN };
    }
    label_rows(usd, n, usd_top * PLOT_LABEL_ROW_AXIS, 1, 0, usd_y);
    label_rows(gpus, n, gpus_top * PLOT_LABEL_ROW_AXIS, 1, 0, gpus_y);
    fputs("$at << EOD\n", o);
    for (size_t i = 0; i < n; i++) {
        char text[64], money[32];
        fprintf(o, "%.9g %.9g %.9g ", p->target_rps, usd[i].y, gpus[i].y);
        snprintf(text, sizeof text, "%s/year", usd_text(usd[i].y * usd_div, money, sizeof money));
        gp_datum(o, isnan(usd[i].y) ? "" : text);
        snprintf(text, sizeof text, "%.0f GPUs", gpus[i].y);
        gp_datum(o, isnan(gpus[i].y) ? "" : text);
        fprintf(o, "%.9g %.9g\n", usd_y[i], gpus_y[i]);
    }
    fputs("EOD\n", o);
    free(usd);
    free(gpus);
    free(usd_y);
    free(gpus_y);
}

static int write_cost(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    plot_plan p;
    if (plot_plan_load(c, id, &p, err) < 0)
        return -1;
    /* The staircases reach the table's fleet at the target. */
    for (size_t i = 0; i < p.n_cand; i++)
        p.cand[i] = plot_candidate_as_planned(&p.cand[i], p.target_rps);
    double max_load = PLOT_LOAD_SPAN * p.target_rps, max_usd = 0;
    plot_cost pc;
    for (size_t i = 0; i < p.n_cand; i++)
        if (plot_cost_at(&p.cand[i], max_load, &pc) == 0)
            max_usd = fmax(max_usd, pc.usd_per_year);
    char title[256], target[64];
    snprintf(title, sizeof title, "Cost against load, plan %lld (%s)", p.id, p.name);
    snprintf(target, sizeof target, "target %g req/s", p.target_rps);
    gp_multiplot(o, 2, 1, title);
    double usd_div = usd_ylabel(o, "annual cost", max_usd);
    for (size_t i = 0; i < p.n_cand; i++)
        if (p.cand[i].max_rps_per_replica > 0)
            cost_block(o, (int)i, &p.cand[i], max_load, usd_div);
    double max_gpus = 0;
    for (size_t i = 0; i < p.n_cand; i++)
        if (plot_cost_at(&p.cand[i], max_load, &pc) == 0)
            max_gpus = fmax(max_gpus, (double)pc.gpus);
    cost_at_target(o, &p, usd_div, max_usd / usd_div, max_gpus);
    fprintf(o, "set xrange [0:%.9g]\nset yrange [0:*]\n", max_load);
    gp_vline(o, 1, p.target_rps, target);
    gp_set(o, "xlabel", "load (requests/s)");
    cost_panel(o, &p, 2, GP_KEY_TOP_LEFT);
    gp_set(o, "ylabel", "GPUs");
    cost_panel(o, &p, 3, GP_NO_KEY);
    fputs("unset multiplot\n", o);
    plot_plan_free(&p);
    return 0;
}

/* Why plan p has no savings to show (NULL: it has). */
static const char *savings_missing(const plot_plan *p, plot_saving *sv, int *n)
{
    if (p->baseline == PLOT_NONE)
        return "has no baseline";
    *n = plot_savings(p->cand, p->n_cand, p->baseline, sv);
    if (*n < 0)
        return "has a baseline that is infeasible or has no GPU count";
    return *n == 0 ? "has no feasible candidate besides the baseline" : NULL;
}

#define PLOT_BAR_WIDTH 0.6          /* of the space between two bars */
#define PLOT_BAR_TICKS 5            /* y tick steps of a bar panel at most */
#define PLOT_BAR_LABEL_PAD 0.06     /* a bar's value label sits this share of the y span past its end */
#define PLOT_TIC_ANGLE 30           /* degrees: candidate names under bars, slanted to fit */

/* The y extent of a bar panel: 0 and every bar, with room past the bars'
 * ends for their value labels. Invariants: lo <= 0 <= hi; pad > 0. */
typedef struct bar_range {
    double lo, hi, pad;
} bar_range;

/* The range of bars v[0..n). */
static bar_range bar_range_of(const double *v, int n)
{
    bar_range r = { 0, 0, 0 };
    for (int i = 0; i < n; i++) {
        r.lo = fmin(r.lo, v[i]);
        r.hi = fmax(r.hi, v[i]);
    }
    r.pad = PLOT_BAR_LABEL_PAD * (r.hi > r.lo ? r.hi - r.lo : 1);
    r.lo -= r.lo < 0 ? 2 * r.pad : 0;
    r.hi += 2 * r.pad;
    return r;
}

/* Where value v's label goes: past the bar's end, away from 0. */
static double bar_label_y(const bar_range *r, double v)
{
    return v < 0 ? v - r->pad : v + r->pad;
}

/* One bar panel: column col of $sav as bars over range r, their labels
 * (column col + 2) at the positions in column col + 4. Labels are placed by
 * data rather than by "NaN" filters: gnuplot 5.4 crashes on a label plot
 * whose every point is undefined. */
static void bar_panel(FILE *o, int col, const bar_range *r)
{
    fprintf(o, "set yrange [%.9g:%.9g]\n", r->lo, r->hi);
    fprintf(o, "plot $sav using 0:%d:xtic(1) with boxes lt 1 title 'saved (below 0: costs more)', \\\n"
               "  $sav using 0:%d:%d with labels notitle\n",
            col, col + 4, col + 2);
}

/* Data block $sav, a row per saving: candidate, GPUs saved, $/year saved
 * ÷ usd_div, their value labels, and the labels' y positions in the
 * ranges gr (GPUs) and ur (dollars). */
static void savings_block(FILE *o, const plot_plan *p, const plot_saving *sv, int n, double usd_div,
                          const bar_range *gr, const bar_range *ur)
{
    char label[160], u[32];
    fputs("$sav << EOD\n", o);
    for (int i = 0; i < n; i++) {
        double gpus = (double)sv[i].gpus_saved, usd = sv[i].usd_per_year_saved / usd_div;
        gp_datum(o, cand_label(p, &p->cand[sv[i].index], label, sizeof label));
        fprintf(o, "%.9g %.9g ", gpus, usd);
        snprintf(u, sizeof u, "%lld", (long long)sv[i].gpus_saved);
        gp_datum(o, u);
        gp_datum(o, usd_text(sv[i].usd_per_year_saved, u, sizeof u));
        fprintf(o, "%.9g %.9g\n", bar_label_y(gr, gpus), bar_label_y(ur, usd));
    }
    fputs("EOD\n", o);
}

static int write_savings(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    plot_plan p;
    if (plot_plan_load(c, id, &p, err) < 0)
        return -1;
    plot_saving *sv = calloc(p.n_cand + 1, sizeof *sv);
    double *gpus = calloc(p.n_cand + 1, sizeof *gpus), *usd = calloc(p.n_cand + 1, sizeof *usd);
    int n = 0;
    const char *why = sv && gpus && usd ? savings_missing(&p, sv, &n) : "cannot be read (out of memory)";
    if (why)
        KT_ERROR(err, c->db_path, 0, 0, "savings: plan %lld %s", id, why);
    double max_usd = 0;
    for (int i = 0; i < n; i++)
        max_usd = fmax(max_usd, fabs(sv[i].usd_per_year_saved));
    const plot_candidate *b = why ? NULL : find_candidate(p.cand, p.n_cand, p.baseline);
    char title[512], u[32];
    if (b) {
        snprintf(title, sizeof title,
                 "Savings against the baseline %s (%lld GPUs, %s/year) at %g req/s, plan %lld (%s)", b->name,
                 (long long)b->gpus, usd_text(b->usd_per_year, u, sizeof u), p.target_rps, p.id, p.name);
        gp_multiplot(o, 1, 2, title);
        double usd_div = usd_ylabel(o, "saved", max_usd);
        for (int i = 0; i < n; i++) {
            gpus[i] = (double)sv[i].gpus_saved;
            usd[i] = sv[i].usd_per_year_saved / usd_div;
        }
        bar_range gr = bar_range_of(gpus, n), ur = bar_range_of(usd, n);
        savings_block(o, &p, sv, n, usd_div, &gr, &ur);
        fprintf(o, "set style fill solid 0.85 border -1\nset boxwidth %g\nset xrange [-%g:%g]\n"
                   "set xtics rotate by %d right\nset grid noxtics\nunset key\n",
                PLOT_BAR_WIDTH, PLOT_BAR_WIDTH, n - 1 + PLOT_BAR_WIDTH, PLOT_TIC_ANGLE);
        gp_set(o, "xlabel", "candidate");
        gp_set(o, "title", "Annual cost saved (below 0: costs more)");
        bar_panel(o, 3, &ur);
        gp_set(o, "title", "GPUs saved (below 0: needs more)");
        gp_set(o, "ylabel", "GPUs saved (GPUs)");
        fprintf(o, "set ytics %g\n", fmax(1, nice_step(gr.hi - gr.lo, PLOT_BAR_TICKS))); /* whole GPUs */
        bar_panel(o, 2, &gr);
        fputs("unset multiplot\n", o);
    }
    free(sv);
    free(gpus);
    free(usd);
    plot_plan_free(&p);
    return b ? 0 : -1;
}

/* Feasible candidates with a cost and a p99 TTFT: their (TTFT, $/year)
 * points and indices (caller's arrays, room for p->n_cand). */
static size_t pareto_points(const plot_plan *p, plot_xy *pts, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_cand; i++) {
        const plot_candidate *x = &p->cand[i];
        if (x->feasible && x->has_gpus && x->has_ttft) {
            pts[n] = (plot_xy){ x->ttft_p99_ms, x->usd_per_year };
            idx[n++] = i;
        }
    }
    return n;
}

static int cmp_x(const void *a, const void *b)
{
    return cmp_double(&((const plot_xy *)a)->x, &((const plot_xy *)b)->x);
}

static int write_pareto(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    plot_plan p;
    if (plot_plan_load(c, id, &p, err) < 0)
        return -1;
    plot_xy *pts = calloc(p.n_cand + 1, sizeof *pts), *front = calloc(p.n_cand + 1, sizeof *front);
    size_t *idx = calloc(p.n_cand + 1, sizeof *idx);
    int *on = calloc(p.n_cand + 1, sizeof *on);
    size_t n = pts && front && idx && on ? pareto_points(&p, pts, idx) : 0, nf = 0;
    plot_pareto_front(pts, n, on);
    double lo = INFINITY, hi = 0, max_usd = 0;
    for (size_t i = 0; i < n; i++)
        max_usd = fmax(max_usd, pts[i].y);
    double usd_div = usd_ylabel(o, "annual cost", max_usd);
    char label[160];
    for (size_t i = 0; i < n; i++) {
        pts[i].y /= usd_div;
        lo = fmin(lo, pts[i].x);
        hi = fmax(hi, pts[i].x);
        if (on[i])
            front[nf++] = pts[i];
    }
    /* The SLO line is always on the axis, and decides the log scale with the points. */
    double slo = p.has_slo_ttft ? p.slo_ttft_p99_ms : 0, top = fmax(hi, slo);
    int logx = lo > 0 && top / lo >= PLOT_LOG_SPAN;
    double *label_y = calloc(n ? n : 1, sizeof *label_y);
    if (label_y)
        label_rows_spanned(pts, n, logx, label_y);
    fputs("$pts << EOD\n", o);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "%.9g %.9g ", pts[i].x, pts[i].y);
        gp_datum(o, cand_label(&p, &p.cand[idx[i]], label, sizeof label));
        fprintf(o, " %.9g\n", label_y ? label_y[i] : pts[i].y);
    }
    free(label_y);
    fputs("EOD\n", o);
    qsort(front, nf, sizeof *front, cmp_x);
    gp_xy_block(o, "front", 0, front, nf);
    char title[512];
    snprintf(title, sizeof title, "Cost against p99 TTFT, plan %lld (%s): feasible candidates at %g req/s", p.id,
             p.name, p.target_rps);
    gp_multiplot(o, 1, 1, title); /* a title above the key */
    gp_set(o, "xlabel", "p99 TTFT at the operating point (ms)");
    gp_x_scale(o, lo, top, PLOT_LOG_SPAN);
    fputs("set offsets graph 0.05, graph 0.25, graph 0.1, graph 0.1\nset key above\n", o);
    if (slo > hi)
        fprintf(o, "set xrange [*:%.9g]\n", logx ? slo * PLOT_SLO_ROOM : slo + (slo - lo) * (PLOT_SLO_ROOM - 1));
    if (p.has_slo_ttft) {
        char text[64];
        snprintf(text, sizeof text, "SLO %g ms", slo);
        gp_vline_at(o, 1, slo, text, slo > hi);
    }
    fprintf(o, "plot $front0 using 1:2 with linespoints lt 1 pt %d ps %g title 'Pareto front (not dominated)', \\\n"
               "  $pts using 1:2 with points lt 2 pt %d ps %g lw %g title 'candidate', \\\n"
               "  $pts using 1:4:3 with labels left offset character %g, %g notitle\nunset multiplot\n",
            GP_FILLED_CIRCLE, PLOT_POINT_SIZE, GP_OPEN_CIRCLE, PLOT_POINT_SIZE, PLOT_MARK_LINE_WIDTH,
            2 * PLOT_LABEL_GAP_CH, PLOT_LABEL_RISE_CH);
    int rc = pts && front && idx && on ? 0 : -1;
    if (rc < 0)
        KT_ERROR(err, NULL, 0, 0, "kvtier plot: out of memory");
    free(pts);
    free(front);
    free(idx);
    free(on);
    plot_plan_free(&p);
    return rc;
}

/* ---------- time series: queue, batch, hit rate ---------- */

#define TS_HIT_BUCKETS 100          /* the hit rate is the share of prompt tokens in this many arrival windows */

/* Data block ts: time (s), requests waiting and running, summed over replicas. */
static int ts_queue_block(const plot_ctx *c, long long run, FILE *o, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT t_ns, sum(waiting), sum(running) FROM replica_samples WHERE run_id = ?"
                              " GROUP BY t_ns ORDER BY t_ns", run, err);
    if (!s)
        return -1;
    fputs("$ts << EOD\n", o);
    while (sqlite3_step(s) == SQLITE_ROW)
        fprintf(o, "%.9g %lld %lld\n", sqlite3_column_int64(s, 0) / NS_PER_S, sqlite3_column_int64(s, 1),
                sqlite3_column_int64(s, 2));
    fputs("EOD\n", o);
    sqlite3_finalize(s);
    return 0;
}

/* Data block hit: the middle of each arrival window (s), then the share of
 * the prompt tokens of the requests completed from it that HBM's prefix
 * cache held, and that HBM and the lower tiers held together. */
static int ts_hit_block(const plot_ctx *c, long long run, FILE *o, kt_err *err)
{
    double end_ns = 0;
    if (query_num(c, "SELECT max(arrival_ns) FROM requests WHERE run_id = ?", run, &end_ns, err) < 0)
        return -1;
    sqlite3_stmt *s = prep(c, "SELECT arrival_ns / ?2, sum(prefix_hit_tokens),"
                              " sum(prefix_hit_tokens + tier0_hit_tokens + tier1_hit_tokens + tier2_hit_tokens"
                              " + tier3_hit_tokens), sum(prompt_tokens) FROM requests"
                              " WHERE run_id = ?1 AND outcome = 'completed' GROUP BY 1 ORDER BY 1", run, err);
    if (!s)
        return -1;
    long long width = (long long)ceil(end_ns / TS_HIT_BUCKETS) + 1;
    sqlite3_bind_int64(s, 2, width);
    fputs("$hit << EOD\n", o);
    while (sqlite3_step(s) == SQLITE_ROW) {
        double prompt = sqlite3_column_double(s, 3);
        if (prompt > 0)
            fprintf(o, "%.9g %.9g %.9g\n", (sqlite3_column_int64(s, 0) + 0.5) * (double)width / NS_PER_S,
                    sqlite3_column_double(s, 1) / prompt, sqlite3_column_double(s, 2) / prompt);
    }
    fputs("EOD\n", o);
    sqlite3_finalize(s);
    return 0;
}

/* Queue length, running batch and prefix hit rate of a run over time: three panels on one time axis. */
static int write_timeseries(const plot_ctx *c, long long run, FILE *o, kt_err *err)
{
    if (ts_queue_block(c, run, o, err) < 0 || ts_hit_block(c, run, o, err) < 0)
        return -1;
    char label[256], title[512];
    snprintf(title, sizeof title, "Over time, %s (summed over replicas)", run_label(c, run, label, sizeof label));
    gp_grid g = gp_grid_start(o, title, 3, 1, 2);
    gp_grid_key(o, &g);
    fputs("plot -1 with lines lt 1 title 'HBM prefix cache', -1 with lines lt 2 title 'HBM and lower tiers'\n", o);
    gp_grid_key_end(o);
    const char *const ylabels[] = { "requests waiting", "requests running", "prompt tokens found" };
    for (int k = 0; k < 3; k++) {
        gp_grid_panel(o, &g, k);
        gp_set(o, "ylabel", "%s", ylabels[k]);
        gp_set(o, "xlabel", "%s", k == 2 ? "simulated time (s)" : "");
        gp_set(o, "format x", "%s", k == 2 ? "%g" : "");
        fputs(k == 2 ? "set yrange [0:1.05]\n" : "set yrange [0:1<*]\n", o);
        if (k < 2)
            fprintf(o, "plot $ts using 1:%d with steps lt %d notitle\n", k + 2, k + 3);
        else
            fputs("plot $hit using 1:2 with linespoints lt 1 pt 7 ps 0.6 notitle, $hit using 1:3 with linespoints lt 2"
                  " pt 7 ps 0.6 notitle\n", o);
    }
    fputs("unset multiplot\n", o);
    return 0;
}

/* ---------- the planner's probes ---------- */

/* Data blocks probeI (rate, TTFT p99, ITL p99, 1 when it met the SLOs) and
 * chosenI (the highest rate that met them: the planner's answer) of candidate i. */
static int probe_blocks(const plot_ctx *c, long long plan, int i, int candidate, FILE *o, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT rate_rps, ttft_p99_ms, itl_p99_ms, meets_slo FROM plan_probes"
                              " WHERE plan_id = ?1 AND candidate = ?2 ORDER BY rate_rps", plan, err);
    if (!s)
        return -1;
    sqlite3_bind_int(s, 2, candidate);
    double best[3] = { NAN, NAN, NAN };
    fprintf(o, "$probe%d << EOD\n", i);
    while (sqlite3_step(s) == SQLITE_ROW) {
        double v[3] = { sqlite3_column_double(s, 0), sqlite3_column_double(s, 1), sqlite3_column_double(s, 2) };
        int meets = sqlite3_column_int(s, 3);
        fprintf(o, "%.9g %.9g %.9g %d\n", v[0], v[1], v[2], meets);
        if (meets && !(v[0] <= best[0]))
            memcpy(best, v, sizeof best);
    }
    fprintf(o, "EOD\n$chosen%d << EOD\n%.9g %.9g %.9g\nEOD\n", i, best[0], best[1], best[2]);
    sqlite3_finalize(s);
    return 0;
}

/* One probes panel: column col (2 TTFT, 3 ITL) of every candidate's probes
 * against the load (filled where the SLOs were met), its chosen point
 * circled, the SLO as a dashed line. */
static void probe_panel(FILE *o, const plot_plan *p, int col, double slo_ms)
{
    fputs("unset arrow\n", o);
    if (slo_ms > 0)
        gp_hline(o, 1, slo_ms, NULL);
    fputs("plot ", o);
    for (size_t i = 0; i < p->n_cand; i++)
        fprintf(o, "%s$probe%zu using 1:%d with lines lt %zu dashtype %zu notitle, "
                   "$probe%zu using 1:($4 > 0 ? $%d : 1/0) with points lt %zu pt %d ps %g notitle, "
                   "$probe%zu using 1:($4 > 0 ? 1/0 : $%d) with points lt %zu pt %d ps %g notitle, "
                   "$chosen%zu using 1:%d with points lt %zu pt %d ps %g lw %g notitle",
                i ? ", \\\n  " : "", i, col, i + 1, i % PLOT_DASH_PATTERNS + 1, i, col, i + 1, GP_FILLED_CIRCLE,
                PLOT_POINT_SIZE, i, col, i + 1, GP_OPEN_CIRCLE, PLOT_POINT_SIZE, i, col, i + 1,
                GP_OPEN_CIRCLE, 2.5 * PLOT_POINT_SIZE, PLOT_MARK_LINE_WIDTH);
    fputc('\n', o);
}

/* The planner's search: each candidate's probes, p99 TTFT and ITL against
 * the load on one unit, the SLOs, and the chosen highest load within them. */
static int write_probes(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    plot_plan p;
    double slo_itl = 0;
    if (plot_plan_load(c, id, &p, err) < 0)
        return -1;
    int rc = query_num(c, "SELECT coalesce(slo_itl_p99_ms, 0) FROM plans WHERE id = ?", id, &slo_itl, err);
    for (size_t i = 0; i < p.n_cand && rc == 0; i++)
        rc = probe_blocks(c, id, (int)i, p.cand[i].candidate, o, err);
    if (rc < 0) {
        plot_plan_free(&p);
        return -1;
    }
    char title[256];
    snprintf(title, sizeof title, "The planner's probes, plan %lld (%s): p99 against load on one unit", p.id, p.name);
    gp_grid g = gp_grid_start(o, title, 1, 2, (int)p.n_cand + 2);
    gp_grid_key(o, &g);
    fputs("plot ", o);
    for (size_t i = 0; i < p.n_cand; i++) {
        char label[160];
        fprintf(o, "-1 with linespoints lt %zu dashtype %zu pt %d ps %g", i + 1, i % PLOT_DASH_PATTERNS + 1,
                GP_FILLED_CIRCLE, PLOT_POINT_SIZE);
        gp_title(o, cand_label(&p, &p.cand[i], label, sizeof label));
        fputs(", ", o);
    }
    fprintf(o, "-1 with points lc rgb 'black' pt %d ps %g title 'open: missed the SLOs', "
               "-1 with points lc rgb 'black' pt %d ps %g lw %g title 'ringed: chosen'\n",
            GP_OPEN_CIRCLE, PLOT_POINT_SIZE, GP_OPEN_CIRCLE, 2.5 * PLOT_POINT_SIZE, PLOT_MARK_LINE_WIDTH);
    gp_grid_key_end(o);
    fputs("set logscale y 10\nset xrange [0:*]\n", o);
    gp_set(o, "xlabel", "arrival rate on one unit (requests/s)");
    gp_grid_panel(o, &g, 0);
    gp_set(o, "title", "TTFT p99%s", p.has_slo_ttft ? " (dashed: the SLO)" : "");
    gp_set(o, "ylabel", "p99 TTFT (ms)");
    probe_panel(o, &p, 2, p.has_slo_ttft ? p.slo_ttft_p99_ms : 0);
    gp_grid_panel(o, &g, 1);
    gp_set(o, "title", "ITL p99%s", slo_itl > 0 ? " (dashed: the SLO)" : "");
    gp_set(o, "ylabel", "p99 ITL (ms)");
    probe_panel(o, &p, 3, slo_itl);
    fputs("unset multiplot\n", o);
    plot_plan_free(&p);
    return 0;
}

/* ---------- sweep: metrics against the sweep's axis ---------- */

/* The metrics drawn when no --metric is given: p99 first, so it is the solid line. */
static const char *const sweep_default_metrics[] = { "ttft_p99", "ttft_p50", "itl_p99", "itl_p50", "throughput" };
#define SWEEP_DEFAULT_METRICS ((int)(sizeof sweep_default_metrics / sizeof *sweep_default_metrics))

#define SWEEP_MAX_AXES 16           /* axes of a sweep this figure tells apart */
#define SWEEP_CATEGORY "\x01"       /* an axis whose values are not numbers with one unit */
#define SWEEP_MAX_TICKS 10          /* an x axis with at most this many values has a tick at each */
#define SWEEP_X_PAD 0.04            /* room either side of the x values, a share of their span */

/* One stored point of a sweep: its run and its axis values ("KEY=VALUE"
 * lines of sweep_points.params, split in place). Invariants: text owned;
 * kv[a] points into text, n_axes of them. */
typedef struct sweep_pt {
    long long run;
    char *text;
    const char *kv[SWEEP_MAX_AXES];
    int n_axes;
    double x;                   /* its value on the x axis */
    int series;                 /* which line it is on */
} sweep_pt;

/* A sweep's points, the axis drawn on x and the lines the other axes make.
 * Invariants: pts holds n points in point order (owned); x_axis < axes;
 * unit is the x values' common unit, or SWEEP_CATEGORY when they are drawn
 * as categories at 0, 1, ... in order of first appearance; series names
 * n_series lines (owned). */
typedef struct sweep_data {
    sweep_pt *pts;
    size_t n;
    int axes, x_axis;
    char unit[32];
    char **series;
    int n_series;
} sweep_data;

/* Frees what sweep_data_load allocated; d is left empty. */
static void sweep_data_free(sweep_data *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->pts[i].text);
    for (int i = 0; i < d->n_series; i++)
        free(d->series[i]);
    free(d->pts);
    free(d->series);
    memset(d, 0, sizeof *d);
}

/* The value of "KEY=VALUE" (borrowed: points into kv). */
static const char *kv_value(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? eq + 1 : kv;
}

/* Whether every point's value on axis a is a number followed by one and
 * the same unit text ("0.5/s", "2/s"; "16", "32"); the unit into unit. */
static int axis_numeric(const sweep_data *d, int a, char *unit, size_t n)
{
    for (size_t i = 0; i < d->n; i++) {
        const char *v = kv_value(d->pts[i].kv[a]);
        char *end;
        units_strtod(v, &end);
        if (end == v || (i > 0 && strcmp(end, unit)))
            return 0;
        snprintf(unit, n, "%s", end);
    }
    return 1;
}

/* The line point p is on: the point's other axes' values, keys shortened
 * ("block_tokens=16"), or "" with one axis. Adds a line when new; its
 * index, or -1 when out of memory. */
static int sweep_series_of(sweep_data *d, const sweep_pt *p)
{
    char text[512] = "", label[512];
    size_t len = 0;
    for (int a = 0; a < p->n_axes && len < sizeof text; a++)
        if (a != d->x_axis)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", len ? ", " : "", p->kv[a]);
    short_keys(text, label, sizeof label);
    for (int i = 0; i < d->n_series; i++)
        if (!strcmp(d->series[i], label))
            return i;
    char **s = realloc(d->series, ((size_t)d->n_series + 1) * sizeof *s);
    if (!s)
        return -1;
    d->series = s;
    return (s[d->n_series] = strdup(label)) ? d->n_series++ : -1;
}

/* Reads sweep id's stored points into d and picks its x axis: the first
 * axis whose values are all numbers with one unit, else the first axis as
 * categories. Returns 0 (free d with sweep_data_free), or -1 with err. */
static int sweep_data_load(const plot_ctx *c, long long id, sweep_data *d, kt_err *err)
{
    memset(d, 0, sizeof *d);
    long long n = query_int(c, "SELECT count(*) FROM sweep_points WHERE sweep_id = ?", id, err);
    sqlite3_stmt *s = n > 0 ? prep(c, "SELECT run_id, params FROM sweep_points WHERE sweep_id = ? ORDER BY point", id,
                                   err)
                            : NULL;
    d->pts = s ? calloc((size_t)n, sizeof *d->pts) : NULL;
    int rc = d->pts ? 0 : -1;
    while (rc == 0 && d->n < (size_t)n && sqlite3_step(s) == SQLITE_ROW) {
        sweep_pt *p = &d->pts[d->n++];
        p->run = sqlite3_column_int64(s, 0);
        p->text = strdup((const char *)sqlite3_column_text(s, 1));
        for (char *line = p->text; line && p->n_axes < SWEEP_MAX_AXES;) {
            p->kv[p->n_axes++] = line;
            if ((line = strchr(line, '\n')))
                *line++ = '\0';
        }
        rc = p->text && (d->n == 1 || p->n_axes == d->axes) ? 0 : -1;
        d->axes = p->n_axes;
    }
    sqlite3_finalize(s);
    if (rc == 0 && n > 0) {
        d->x_axis = 0;
        while (d->x_axis < d->axes && !axis_numeric(d, d->x_axis, d->unit, sizeof d->unit))
            d->x_axis++;
        if (d->x_axis == d->axes) {
            d->x_axis = 0;
            snprintf(d->unit, sizeof d->unit, "%s", SWEEP_CATEGORY);
        }
    }
    int categories = 0;
    for (size_t i = 0; rc == 0 && i < d->n; i++) {
        sweep_pt *p = &d->pts[i];
        p->series = sweep_series_of(d, p);
        rc = p->series < 0 ? -1 : 0;
        const char *v = kv_value(p->kv[d->x_axis]);
        if (strcmp(d->unit, SWEEP_CATEGORY)) {
            char *end;
            p->x = units_strtod(v, &end);
            continue;
        }
        size_t j = 0; /* the first point with this value */
        while (j < i && strcmp(kv_value(d->pts[j].kv[d->x_axis]), v))
            j++;
        p->x = j < i ? d->pts[j].x : categories++;
    }
    if (rc < 0 && n > 0) {
        KT_ERROR(err, c->db_path, 0, 0, "sweep: sweep %lld's points cannot be read (their axes differ, or out of memory)",
                 id);
        sweep_data_free(d);
    }
    return rc;
}

/* One metric of the sweep figure. Invariants: name borrowed; panel <
 * the figure's panels; dash is its gnuplot dash type within the panel. */
typedef struct sweep_metric {
    const char *name;
    char unit[32];
    int panel, dash;
} sweep_metric;

/* How long metric's name is without a distribution's statistic
 * ("ttft_p99" → 4): metrics of one distribution share a panel. */
static size_t metric_base_len(const char *metric)
{
    static const char *const stats[] = { "_mean", "_p50", "_p90", "_p99", "_max" };
    size_t len = strlen(metric);
    for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) {
        size_t k = strlen(stats[i]);
        if (len > k && !strcmp(metric + len - k, stats[i]))
            return len - k;
    }
    return len;
}

/* The SLO key matching the distribution of metric (SLO_COUNT: none). */
static int metric_slo(const char *metric)
{
    size_t len = metric_base_len(metric);
    for (int k = 0; k < SLO_COUNT; k++)
        if (len == strlen(slo_keys[k]) && !strncmp(metric, slo_keys[k], len))
            return k;
    return SLO_COUNT;
}

/* Fills m[0..c->n_metrics) from c's metrics: each one's unit as the
 * sweep's runs stored it, its panel (one per distribution, in order) and
 * dash type. Returns the panels, or -1 with err naming a metric the runs
 * lack (and the closest they have). */
static int sweep_metrics(const plot_ctx *c, long long id, sweep_metric *m, kt_err *err)
{
    sqlite3_stmt *s = prep(c, "SELECT s.metric, s.unit FROM summary s JOIN sweep_points sp ON sp.run_id = s.run_id"
                              " WHERE sp.sweep_id = ? GROUP BY s.metric ORDER BY s.metric", id, err);
    const char *names[METRICS_MAX_FIELDS];
    char units[METRICS_MAX_FIELDS][32];
    size_t n = 0;
    while (s && n < METRICS_MAX_FIELDS && sqlite3_step(s) == SQLITE_ROW) {
        names[n] = strdup((const char *)sqlite3_column_text(s, 0));
        snprintf(units[n++], sizeof *units, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    int panels = s ? 0 : -1;
    for (int i = 0; i < c->n_metrics && panels >= 0; i++) {
        size_t k = 0;
        while (k < n && (!names[k] || strcmp(names[k], c->metrics[i])))
            k++;
        if (k == n) {
            char msg[256];
            snprintf(msg, sizeof msg, "sweep: --metric %s: not a summary metric of sweep %lld's runs", c->metrics[i],
                     id);
            suggest_append(msg, sizeof msg, c->metrics[i], names, n);
            KT_ERROR(err, c->db_path, 0, 0, "%s", msg);
            panels = -1;
            break;
        }
        m[i] = (sweep_metric){ .name = c->metrics[i], .panel = panels, .dash = 1 };
        snprintf(m[i].unit, sizeof m[i].unit, "%s", units[k]);
        size_t base = metric_base_len(c->metrics[i]);
        for (int j = 0; j < i; j++)
            if (metric_base_len(m[j].name) == base && !strncmp(m[j].name, m[i].name, base) &&
                !strcmp(m[j].unit, m[i].unit)) {
                m[i].panel = m[j].panel;
                m[i].dash = m[j].dash % PLOT_DASH_PATTERNS + 1; /* past the last pattern: solid again */
            }
        panels += m[i].panel == panels;
    }
    for (size_t k = 0; k < n; k++)
        free((char *)names[k]);
    return panels;
}

/* Data block sweepK per line K: rows of x and each metric's value (NaN
 * where the run has none), in x order; widens [x_lo, x_hi] and, per
 * panel, [lo, hi] over the positive values and min over all. */
static void sweep_blocks(const plot_ctx *c, const sweep_data *d, const sweep_metric *m, FILE *o, double *x_lo,
                         double *x_hi, double *lo, double *hi, double *min)
{
    for (int k = 0; k < d->n_series; k++) {
        fprintf(o, "$sweep%d << EOD\n", k);
        for (double last = -INFINITY;;) { /* the next larger x of this line, one row each */
            const sweep_pt *p = NULL;
            for (size_t i = 0; i < d->n; i++)
                if (d->pts[i].series == k && d->pts[i].x > last && (!p || d->pts[i].x < p->x))
                    p = &d->pts[i];
            if (!p)
                break;
            last = p->x;
            *x_lo = fmin(*x_lo, p->x);
            *x_hi = fmax(*x_hi, p->x);
            fprintf(o, "%.9g", p->x);
            for (int j = 0; j < c->n_metrics; j++) {
                double v = run_metric_or(c, p->run, m[j].name, NAN);
                if (isnan(v)) {
                    fputs(" NaN", o); /* gnuplot's undefined value: no point drawn */
                    continue;
                }
                fprintf(o, " %.9g", v);
                min[m[j].panel] = fmin(min[m[j].panel], v);
                if (v > 0) {
                    lo[m[j].panel] = fmin(lo[m[j].panel], v);
                    hi[m[j].panel] = fmax(hi[m[j].panel], v);
                }
            }
            fputc('\n', o);
        }
        fputs("EOD\n", o);
    }
}

/* The sweep figure's legend: a line per value of the other axes (with a
 * colour scale, its first and last only, which name the gradient's ends). */
static void sweep_key(FILE *o, const sweep_data *d, const gp_grid *g)
{
    gp_grid_key(o, g);
    fputs("plot ", o);
    int scale = d->n_series > (int)PALETTE_N;
    for (int k = 0, first = 1; k < d->n_series; k++) {
        if (scale && k > 0 && k < d->n_series - 1)
            continue;
        char text[600];
        snprintf(text, sizeof text, "%s%s", d->series[k],
                 !scale ? "" : k == 0 ? " (first, dark)" : " (last, light)");
        fprintf(o, "%s-1 with linespoints", first ? "" : ", ");
        gp_curve_color(o, k, d->n_series);
        fprintf(o, " pt %d", GP_FILLED_CIRCLE);
        gp_title(o, text);
        first = 0;
    }
    fputc('\n', o);
    gp_grid_key_end(o);
}

/* A distribution's name in a label ("TTFT"), else the metric's base name. */
static void metric_title(const char *metric, char *buf, size_t n)
{
    static const struct {
        const char *base, *title;
    } names[] = { { "ttft", "TTFT" }, { "itl", "ITL" }, { "tpot", "TPOT" }, { "e2e", "E2E latency" },
                  { "queue", "queue wait" }, { "kv_transfer", "KV transfer" } };
    size_t len = metric_base_len(metric);
    snprintf(buf, n, "%.*s", (int)len, metric);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (len == strlen(names[i].base) && !strncmp(metric, names[i].base, len))
            snprintf(buf, n, "%s", names[i].title);
}

/* gnuplot's dash types 1..PLOT_DASH_PATTERNS in words, for panel titles. */
static const char *const dash_names[PLOT_DASH_PATTERNS] = { "solid", "dashed", "dotted", "dash-dot", "dash-dot-dot" };

/* Panel k of the sweep figure: its metrics' lines on every line of the
 * sweep (solid, then dashed, per metric of the panel), log y when its
 * values span PLOT_SWEEP_LOG_SPAN, the SLO dashed and on the axis. */
static void sweep_panel(FILE *o, const sweep_data *d, const sweep_metric *m, int n_metrics, int k, double lo,
                        double hi, double min, const double *slo)
{
    char name[128], title[512] = "";
    const sweep_metric *first = NULL;
    size_t len = 0;
    int shown = 0;
    for (int j = 0; j < n_metrics; j++)
        if (m[j].panel == k) {
            first = first ? first : &m[j];
            shown++;
            len += (size_t)snprintf(title + len, sizeof title - len, "%s%s (%s)", len ? ", " : "", m[j].name,
                                    dash_names[m[j].dash - 1]);
        }
    metric_title(first->name, name, sizeof name);
    gp_set(o, "ylabel", "%s (%s)", name, first->unit);
    gp_set(o, "title", "%s", shown > 1 ? title : ""); /* one metric: the y label names it */
    int s = metric_slo(first->name);
    double slo_ms = s < SLO_COUNT && !strcmp(first->unit, "ms") ? slo[s] : 0, top = fmax(hi, slo_ms);
    fputs("unset arrow\nunset label\n", o);
    if (min > 0 && top / lo >= PLOT_SWEEP_LOG_SPAN)
        fprintf(o, "set logscale y 10\nset yrange [*:%.9g]\n", slo_ms > hi ? slo_ms * PLOT_SLO_ROOM : hi * PLOT_SLO_ROOM);
    else
        fprintf(o, "unset logscale y\nset yrange [%s:%.9g]\n", min < 0 ? "*" : "0",
                (top > 0 ? top : 1) * PLOT_SLO_ROOM);
    if (slo_ms > 0) {
        char label[64];
        snprintf(label, sizeof label, "SLO %g ms", slo_ms);
        gp_hline(o, 1, slo_ms, label);
    }
    fputs("plot ", o);
    for (int series = 0, more = 0; series < d->n_series; series++)
        for (int j = 0; j < n_metrics; j++)
            if (m[j].panel == k) {
                fprintf(o, "%s$sweep%d using 1:%d with linespoints", more++ ? ", \\\n  " : "", series, j + 2);
                gp_curve_style(o, series, d->n_series, m[j].dash);
                fprintf(o, " pt %d ps %g notitle", GP_FILLED_CIRCLE, m[j].dash == 1 ? 1.0 : 0.6);
            }
    fputc('\n', o);
}

/* The x axis of the sweep figure: log when its values span
 * PLOT_SWEEP_LOG_SPAN, or its values as categories; its label, the axis's
 * key and unit, into xlabel (caller's). */
static void sweep_x_axis(FILE *o, const sweep_data *d, double lo, double hi, char *xlabel, size_t label_n)
{
    const char *kv = d->pts[0].kv[d->x_axis], *eq = strchr(kv, '=');
    int key_len = eq ? (int)(eq - kv) : (int)strlen(kv);
    if (!strcmp(d->unit, SWEEP_CATEGORY)) {
        snprintf(xlabel, label_n, "%.*s", key_len, kv);
        fputs("unset logscale x\nset xtics out nomirror (", o);
        for (size_t i = 0, cat = 0; i < d->n; i++)
            if (d->pts[i].x == cat) { /* first point of each category, in order */
                fprintf(o, "%s", cat++ ? ", " : "");
                gp_str(o, kv_value(d->pts[i].kv[d->x_axis]));
                fprintf(o, " %g", d->pts[i].x);
            }
        fprintf(o, ")\nset xrange [-0.5:%.9g]\n", hi + 0.5);
        return;
    }
    /* "/s" reads as a rate: 1/s. */
    snprintf(xlabel, label_n, "%.*s%s%s%s%s", key_len, kv, *d->unit ? " (" : "", d->unit[0] == '/' ? "1" : "",
             d->unit, *d->unit ? ")" : "");
    gp_x_scale(o, lo, hi, PLOT_SWEEP_LOG_SPAN);
    /* A little room either side, so the end points are not on the border. */
    if (lo > 0 && hi / lo >= PLOT_SWEEP_LOG_SPAN)
        fprintf(o, "set xrange [%.9g:%.9g]\n", lo / pow(hi / lo, SWEEP_X_PAD), hi * pow(hi / lo, SWEEP_X_PAD));
    else
        fprintf(o, "set xrange [%.9g:%.9g]\n", lo - (hi > lo ? (hi - lo) * SWEEP_X_PAD : 1),
                hi + (hi > lo ? (hi - lo) * SWEEP_X_PAD : 1));
    /* Few values: a tick at each, so every swept value reads off the axis. */
    double *v = malloc(d->n * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < d->n; i++)
        v[n++] = d->pts[i].x;
    if (v)
        qsort(v, n, sizeof *v, cmp_double);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || v[i] != v[i - 1];
    if (v && distinct <= SWEEP_MAX_TICKS) {
        fputs("set xtics out nomirror (", o);
        for (size_t i = 0, k = 0; i < n; i++)
            if (i == 0 || v[i] != v[i - 1])
                fprintf(o, "%s%.9g", k++ ? ", " : "", v[i]);
        fputs(")\n", o);
    }
    free(v);
}

/* Metrics of a sweep's points against its axis: a panel per distribution
 * or metric, a line per value of the other axes, the SLOs of the first
 * point's scenario dashed. */
static int write_sweep(const plot_ctx *c, long long id, FILE *o, kt_err *err)
{
    sweep_data d;
    sweep_metric m[PLOT_MAX_METRICS];
    int panels = sweep_metrics(c, id, m, err);
    if (panels < 0 || sweep_data_load(c, id, &d, err) < 0)
        return -1;
    double x_lo = INFINITY, x_hi = -INFINITY, lo[PLOT_MAX_METRICS], hi[PLOT_MAX_METRICS], min[PLOT_MAX_METRICS], slo[SLO_COUNT];
    for (int k = 0; k < PLOT_MAX_METRICS; k++)
        lo[k] = min[k] = INFINITY, hi[k] = 0;
    sweep_blocks(c, &d, m, o, &x_lo, &x_hi, lo, hi, min);
    run_slos(c, d.pts[0].run, slo);
    plot_ctx sub = *c;
    sub.sweep = id;
    char subject[512], title[700];
    snprintf(title, sizeof title, "%s: %d point%s", runs_text(&sub, subject, sizeof subject), (int)d.n,
             d.n == 1 ? "" : "s");
    fputs(GP_SCALE_PALETTE, o);
    int cols = panels > 1 ? 2 : 1, keyed = d.n_series > 1 || d.axes > 1;
    int entries = d.n_series > (int)PALETTE_N ? 2 : d.n_series;
    gp_grid g = gp_grid_start(o, title, (panels + cols - 1) / cols, cols, keyed ? entries : 0);
    if (keyed)
        sweep_key(o, &d, &g);
    else
        fputs("unset key\n", o);
    char xlabel[256];
    sweep_x_axis(o, &d, x_lo, x_hi, xlabel, sizeof xlabel);
    for (int k = 0; k < panels; k++) {
        gp_grid_panel(o, &g, k);
        gp_set(o, "xlabel", "%s", k + cols < panels ? "" : xlabel); /* under the lowest panel of each column */
        sweep_panel(o, &d, m, c->n_metrics, k, lo[k], hi[k], min[k], slo);
    }
    fputs("unset multiplot\n", o);
    sweep_data_free(&d);
    return 0;
}

/* ---------- which figures the data supports ---------- */

/* 1 when run `id` has data for kind (0 with the reason in err), -1 on error. */
static int run_has(const plot_ctx *c, plot_kind kind, long long id, kt_err *err)
{
    static const char *const sql[] = {
        [KIND_LATENCY] = "SELECT EXISTS (SELECT 1 FROM requests WHERE run_id = ? AND ttft_ns IS NOT NULL)",
        [KIND_TIERS] = "SELECT EXISTS (SELECT 1 FROM tier_samples WHERE run_id = ?)",
        [KIND_LINKS] = ("SELECT EXISTS (SELECT 1 FROM link_samples s JOIN links l USING (run_id, replica, link)"
                        " WHERE s.run_id = ? AND l.bytes_moved > 0)"),
        [KIND_TIMESERIES] = "SELECT EXISTS (SELECT 1 FROM replica_samples WHERE run_id = ?)",
    };
    static const char *const why[] = {
        [KIND_LATENCY] = "has no completed request",
        [KIND_TIERS] = "has no tier samples (runs stored before tier_samples existed have none)",
        [KIND_LINKS] = "moved no data over any link (only KV tiers below HBM have links)",
        [KIND_TIMESERIES] = "has no samples (a run shorter than results.sample_interval)",
    };
    long long v = query_int(c, sql[kind], id, err);
    if (v == 0)
        KT_ERROR(err, c->db_path, 0, 0, "%s: run %lld %s", kind_names[kind], id, why[kind]);
    return v < 0 ? -1 : v > 0;
}

/* 1 when plan `id` has data for kind (0 with the reason in err), -1 on error. */
static int plan_has(const plot_ctx *c, plot_kind kind, long long id, kt_err *err)
{
    plot_plan p;
    if (plot_plan_load(c, id, &p, err) < 0)
        return -1;
    plot_xy *pts = calloc(p.n_cand + 1, sizeof *pts);
    size_t *idx = calloc(p.n_cand + 1, sizeof *idx);
    plot_saving *sv = calloc(p.n_cand + 1, sizeof *sv);
    const char *why = NULL;
    int n = 0, serving = 0;
    for (size_t i = 0; i < p.n_cand; i++)
        serving += p.cand[i].max_rps_per_replica > 0;
    if (!pts || !idx || !sv)
        why = "cannot be read (out of memory)";
    else if (kind == KIND_COST && (!serving || !(p.target_rps > 0)))
        why = "has no candidate that serves any load, or no target load";
    else if (kind == KIND_SAVINGS)
        why = savings_missing(&p, sv, &n);
    else if (kind == KIND_PARETO && pareto_points(&p, pts, idx) == 0)
        why = "has no feasible candidate with a cost and a p99 TTFT";
    else if (kind == KIND_PROBES && query_int(c, "SELECT count(*) FROM plan_probes WHERE plan_id = ?", id, err) <= 0)
        why = "has no probes";
    if (why)
        KT_ERROR(err, c->db_path, 0, 0, "%s: plan %lld %s", kind_names[kind], id, why);
    free(pts);
    free(idx);
    free(sv);
    plot_plan_free(&p);
    return !why;
}

/* 1 when sweep id has stored points and every metric asked for (0 with
 * the reason in err), -1 on error (a metric its runs lack, named in err). */
static int sweep_has(const plot_ctx *c, long long id, kt_err *err)
{
    sweep_metric m[PLOT_MAX_METRICS];
    long long n = table_exists(c, "sweep_points")
                      ? query_int(c, "SELECT count(*) FROM sweep_points WHERE sweep_id = ?", id, err) : 0;
    if (n == 0)
        KT_ERROR(err, c->db_path, 0, 0, "sweep: sweep %lld not found, or it has no runs yet", id);
    return n <= 0 ? (int)n : sweep_metrics(c, id, m, err) < 0 ? -1 : 1;
}

typedef int (*writer_fn)(const plot_ctx *, long long, FILE *, kt_err *);

static const struct {
    plot_subject subject;
    writer_fn write;
} kinds[KIND_COUNT] = {
    [KIND_LATENCY] = { SUBJECT_RUNS, write_latency }, [KIND_TIERS] = { SUBJECT_RUN, write_tiers },
    [KIND_LINKS] = { SUBJECT_RUN, write_links },      [KIND_COST] = { SUBJECT_PLAN, write_cost },
    [KIND_SAVINGS] = { SUBJECT_PLAN, write_savings }, [KIND_PARETO] = { SUBJECT_PLAN, write_pareto },
    [KIND_TIMESERIES] = { SUBJECT_RUN, write_timeseries }, [KIND_PROBES] = { SUBJECT_PLAN, write_probes },
    [KIND_SWEEP] = { SUBJECT_SWEEP, write_sweep },
};

/* One figure to draw: a kind and its run or plan (0: the runs together). */
typedef struct plot_fig {
    plot_kind kind;
    long long id;
} plot_fig;

/* The file name stem of a figure, into buf (caller's). */
static const char *fig_stem(const plot_ctx *c, const plot_fig *f, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "%s-", kind_names[f->kind]);
    if (kinds[f->kind].subject == SUBJECT_PLAN)
        snprintf(buf + len, n - len, "plan%lld", f->id);
    else if (kinds[f->kind].subject == SUBJECT_SWEEP)
        snprintf(buf + len, n - len, "sweep%lld", f->id);
    else if (kinds[f->kind].subject == SUBJECT_RUN)
        snprintf(buf + len, n - len, "run%lld", f->id);
    else if (c->sweep)
        snprintf(buf + len, n - len, "sweep%lld", c->sweep);
    else
        for (int i = 0; i < c->n_runs && len < n; i++)
            len += (size_t)snprintf(buf + len, n - len, i ? "_%lld" : "run%lld", c->runs[i]);
    return buf;
}

/* Whether the data has kind for subject id: 1 yes, 0 no (reason in err), -1 error. */
static int subject_has(const plot_ctx *c, plot_kind kind, long long id, kt_err *err)
{
    if (kinds[kind].subject == SUBJECT_PLAN)
        return plan_has(c, kind, id, err);
    if (kinds[kind].subject == SUBJECT_RUN)
        return run_has(c, kind, id, err);
    if (kinds[kind].subject == SUBJECT_SWEEP)
        return sweep_has(c, id, err);
    if (c->n_runs > PLOT_MAX_RUNS) {
        KT_ERROR(err, c->db_path, 0, 0, "%s: %d runs selected; one figure shows at most %d (pick them with --run)",
                 kind_names[kind], c->n_runs, PLOT_MAX_RUNS);
        return 0;
    }
    for (int i = 0; i < c->n_runs; i++) {
        int has = run_has(c, kind, c->runs[i], err);
        if (has <= 0)
            return has;
    }
    return 1;
}

/* The runs or the plan figures of a subject are drawn for: points *ids at
 * them (c's, or a static 0 for the runs together); returns how many. */
static int subject_ids(const plot_ctx *c, plot_subject subject, const long long **ids)
{
    static const long long together = 0;
    switch (subject) {
    case SUBJECT_RUN:
        *ids = c->runs;
        return c->n_runs;
    case SUBJECT_PLAN:
        *ids = &c->plan;
        return c->plan > 0;
    case SUBJECT_SWEEP:
        *ids = &c->sweep_fig;
        return c->sweep_fig > 0;
    default:
        *ids = &together;
        return c->n_runs > 0;
    }
}

/* Lists the figures of the requested kinds (all kinds with data when
 * wanted is 0) into figs (caller's, room for KIND_COUNT × (runs + 1)).
 * A requested kind without data is an error, printed; returns the count,
 * or -1 after printing every such error. */
static int list_figures(const plot_ctx *c, unsigned wanted, plot_fig *figs)
{
    int n = 0, bad = 0;
    for (int k = 0; k < KIND_COUNT; k++) {
        int asked = (wanted >> k) & 1;
        if (wanted && !asked)
            continue;
        const long long *ids;
        int n_ids = subject_ids(c, kinds[k].subject, &ids);
        for (int i = 0; i < n_ids; i++) {
            kt_err err;
            int has = subject_has(c, (plot_kind)k, ids[i], &err);
            if (has > 0)
                figs[n++] = (plot_fig){ (plot_kind)k, ids[i] };
            else if (asked || has < 0) {
                kt_err_print(&err, stderr);
                bad = 1;
            }
        }
    }
    return bad ? -1 : n;
}

/* ---------- selecting runs and the plan ---------- */

static int run_exists(const plot_ctx *c, long long id, kt_err *err)
{
    long long v = query_int(c, "SELECT count(*) FROM runs WHERE id = ?", id, err);
    if (v == 0) {
        long long last = query_int(c, "SELECT max(id) FROM runs", 0, NULL);
        if (last > 0)
            KT_ERROR(err, c->db_path, 0, 0, "run %lld not found (runs go up to %lld)", id, last);
        else
            KT_ERROR(err, c->db_path, 0, 0, "run %lld not found: the database holds no runs", id);
    }
    return v > 0 ? 0 : -1;
}

/* The runs of sweep c->sweep, in point order, into c->runs. */
static int sweep_runs(plot_ctx *c, kt_err *err)
{
    if (!table_exists(c, "sweep_points")) {
        KT_ERROR(err, c->db_path, 0, 0, "sweep %lld not found: the database holds no sweeps", c->sweep);
        return -1;
    }
    dvec ids = { 0 };
    int rc = query_column(c, "SELECT run_id FROM sweep_points WHERE sweep_id = ? ORDER BY point", c->sweep, 1, &ids,
                          err);
    if (rc == 0 && ids.n == 0) {
        KT_ERROR(err, c->db_path, 0, 0, "sweep %lld not found, or it has no runs yet", c->sweep);
        rc = -1;
    }
    c->runs = rc == 0 ? calloc(ids.n, sizeof *c->runs) : NULL;
    for (size_t i = 0; c->runs && i < ids.n; i++)
        c->runs[c->n_runs++] = (long long)ids.v[i];
    free(ids.v);
    return c->runs ? 0 : -1;
}

/* The runs named, the sweep's, or the latest run, into c->runs. With no
 * runs stored that is an error only when run kinds were asked for. */
static int select_runs(plot_ctx *c, const plot_args *a, kt_err *err)
{
    if (a->sweep)
        return sweep_runs(c, err);
    c->runs = calloc((size_t)a->n_runs + 1, sizeof *c->runs);
    if (!c->runs) {
        KT_ERROR(err, NULL, 0, 0, "kvtier plot: out of memory");
        return -1;
    }
    for (int i = 0; i < a->n_runs; i++) {
        if (run_exists(c, a->runs[i], err) < 0)
            return -1;
        c->runs[c->n_runs++] = a->runs[i];
    }
    if (a->n_runs)
        return 0;
    long long last = query_int(c, "SELECT max(id) FROM runs", 0, err);
    if (last == 0 && a->kinds)
        KT_ERROR(err, c->db_path, 0, 0, "the database holds no runs (kvtier run FILE --db %s stores one)", c->db_path);
    if (last > 0)
        c->runs[c->n_runs++] = last;
    return last < 0 || (last == 0 && a->kinds) ? -1 : 0;
}

/* The plan named or the latest into c->plan; none stored is an error only
 * when plan kinds were asked for. */
static int select_plan(plot_ctx *c, const plot_args *a, kt_err *err)
{
    if (a->plan) {
        long long found = query_int(c, "SELECT count(*) FROM plans WHERE id = ?", a->plan, err);
        if (found == 0)
            KT_ERROR(err, c->db_path, 0, 0, "plan %lld not found", a->plan);
        c->plan = found > 0 ? a->plan : 0;
        return found > 0 ? 0 : -1;
    }
    c->plan = query_int(c, "SELECT max(id) FROM plans", 0, err);
    if (c->plan == 0 && a->kinds)
        KT_ERROR(err, c->db_path, 0, 0, "the database holds no plans");
    return c->plan < 0 || (c->plan == 0 && a->kinds) ? -1 : 0;
}

/* The sweep the sweep figure draws into c->sweep_fig: --sweep ID, else
 * the latest sweep. */
static int select_sweep(plot_ctx *c, const plot_args *a, kt_err *err)
{
    c->sweep_fig = a->sweep ? a->sweep : table_exists(c, "sweeps") ? query_int(c, "SELECT max(id) FROM sweeps", 0, err) : 0;
    if (c->sweep_fig == 0)
        KT_ERROR(err, c->db_path, 0, 0, "sweep: the database holds no sweeps (kvtier sweep FILE --db %s stores one)",
                 c->db_path);
    return c->sweep_fig > 0 ? 0 : -1;
}

/* Fills c->runs, c->plan and c->sweep_fig. Which are wanted follows from
 * the kinds asked for, else from what was named (nothing named: the runs
 * and the plan; --sweep: its runs and its sweep figure). */
static int select_data(plot_ctx *c, const plot_args *a, kt_err *err)
{
    unsigned run_kinds = 1u << KIND_LATENCY | 1u << KIND_TIERS | 1u << KIND_LINKS | 1u << KIND_TIMESERIES;
    unsigned sweep_kinds = 1u << KIND_SWEEP, plan_kinds = ~(run_kinds | sweep_kinds);
    int named_runs = a->n_runs > 0 || a->sweep > 0;
    int want_runs = a->kinds ? (a->kinds & run_kinds) != 0 : named_runs || !a->plan;
    int want_plan = a->kinds ? (a->kinds & plan_kinds) != 0 : a->plan || !named_runs;
    int want_sweep = a->kinds ? (a->kinds & sweep_kinds) != 0 : a->sweep > 0;
    plot_args only = *a;
    only.kinds &= run_kinds;  /* "asked for" per part */
    if (want_runs && select_runs(c, &only, err) < 0)
        return -1;
    if (want_sweep && select_sweep(c, a, err) < 0)
        return -1;
    only.kinds = a->kinds & plan_kinds;
    return want_plan ? select_plan(c, &only, err) : 0;
}

/* ---------- the command ---------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier plot [--db PATH] [--run ID]... [--sweep ID] [--plan ID]\n"
            "                   [--metric NAME]... [--format png|svg|both] [-o DIR] [KIND...]\n"
            "\n"
            "Draws figures from a results database with gnuplot and prints the path of each\n"
            "file written.\n"
            "\n"
            "kinds:\n"
            "  latency   TTFT and inter-token latency CDFs and their tails (CCDFs, log\n"
            "            scale), one curve per run, the SLOs marked (ITL needs\n"
            "            results.itl_gaps: true; without it the per-request TPOT is drawn)\n"
            "  tiers     KV tier occupancy over time: HBM (in use, cached) and each lower\n"
            "            tier, summed over replicas (one figure per run)\n"
            "  links     link utilization over time per link, mean over replicas, on one\n"
            "            scale with a 100%% line (per run)\n"
            "  timeseries  requests waiting and running, prompt tokens found in KV (per run)\n"
            "  cost      annual cost and GPUs against load, one line per plan candidate\n"
            "  savings   GPUs and $/year each feasible candidate saves against the baseline\n"
            "  pareto    $/year against p99 TTFT of the plan's candidates, with the front\n"
            "  probes    the planner's probes: p99 TTFT and ITL against load, the SLOs,\n"
            "            the chosen point\n"
            "  sweep     summary metrics of a sweep's points against its axis, a line per\n"
            "            value of its other axes, the SLOs (--sweep ID, or the latest sweep)\n"
            "Without KIND: every kind the selected runs, plan and sweep have data for.\n"
            "\n"
            "options:\n"
            "  --db PATH          results database (default %s)\n"
            "  --run ID           a run (repeatable; default: the latest run)\n"
            "  --sweep ID         the runs of a sweep, and its sweep figure\n"
            "  --plan ID          a capacity plan (default: the latest plan)\n"
            "  --metric NAME      a metric of the sweep figure (repeatable, at most %d;\n"
            "                     default ttft_p99, ttft_p50, itl_p99, itl_p50, throughput)\n"
            "  --format F         png (default), svg or both\n"
            "  -o, --output DIR   where figures go (default: the current directory; made if missing)\n"
            "  -h, --help         this text\n"
            "\n"
            "Naming runs selects run figures only, naming a plan plan figures only, naming\n"
            "a sweep its runs' figures and sweep, unless kinds are given. Files:\n"
            "KIND-runID.png (latency over several runs: latency-run3_5_7.png, over a sweep:\n"
            "latency-sweepID.png), KIND-planID.png and sweep-sweepID.png.\n"
            "gnuplot runs as a program: $%s, else %s (install: apt-get install gnuplot-nox).\n"
            "\n"
            "exit status: 0 done, 1 gnuplot failed on a figure, 2 bad options, unknown run or\n"
            "plan, a kind without data, or no gnuplot (nothing is written then)\n",
            PLOT_DEFAULT_DB, PLOT_MAX_METRICS, PLOT_GNUPLOT_ENV, KT_GNUPLOT);
}

static int parse_kind(const char *s, unsigned *kinds_out)
{
    for (int k = 0; k < KIND_COUNT; k++)
        if (!strcmp(s, kind_names[k])) {
            *kinds_out |= 1u << k;
            return 0;
        }
    char names[256] = "";
    for (int k = 0, len = 0; k < KIND_COUNT; k++)
        len += snprintf(names + len, sizeof names - (size_t)len, "%s%s", k ? ", " : "", kind_names[k]);
    cli_usage_error("plot", "unknown kind '%s' (kinds: %s)", s, names);
    return -1;
}

static int parse_format(const char *s, unsigned *formats)
{
    *formats = !strcmp(s, "png") ? 1u << FORMAT_PNG : !strcmp(s, "svg") ? 1u << FORMAT_SVG
               : !strcmp(s, "both")                                     ? (1u << FORMAT_PNG | 1u << FORMAT_SVG)
                                                                        : 0;
    if (!*formats)
        cli_usage_error("plot", "--format '%s': png, svg or both", s);
    return *formats ? 0 : -1;
}

static int parse_id_opt(const char *opt, const char *s, long long *out)
{
    if (cli_parse_id(s, out) == 0)
        return 0;
    cli_usage_error("plot", "%s '%s': need an id (a whole number >= 1)", opt, s);
    return -1;
}

/* Parses the command line into a; -1 on bad usage (message printed), 1 for --help. */
static int parse_args(int argc, char **argv, plot_args *a)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },     { "run", required_argument, NULL, 'r' },
        { "sweep", required_argument, NULL, 's' },  { "plan", required_argument, NULL, 'p' },
        { "format", required_argument, NULL, 'f' }, { "output", required_argument, NULL, 'o' },
        { "metric", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    a->db = PLOT_DEFAULT_DB;
    a->dir = PLOT_DEFAULT_DIR;
    a->formats = 1u << FORMAT_PNG;
    a->runs = calloc((size_t)argc + 1, sizeof *a->runs);
    if (!a->runs)
        return -1;
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = cli_option_next(argc, argv, "-:ho:", opts, "plot")) != -1) {
        switch (c) {
        case 1: rc = parse_kind(optarg, &a->kinds); break;
        case 'd': rc = cli_parse_path("plot", "--db", optarg, &a->db); break;
        case 'r': rc = parse_id_opt("--run", optarg, &a->runs[a->n_runs++]); break;
        case 's': rc = parse_id_opt("--sweep", optarg, &a->sweep); break;
        case 'p': rc = parse_id_opt("--plan", optarg, &a->plan); break;
        case 'f': rc = parse_format(optarg, &a->formats); break;
        case 'o': a->dir = optarg; break;
        case 'm':
            if (a->n_metrics < PLOT_MAX_METRICS)
                a->metrics[a->n_metrics++] = optarg;
            else {
                cli_usage_error("plot", "--metric: at most %d metrics in one figure", PLOT_MAX_METRICS);
                rc = -1;
            }
            break;
        case 'h': return 1;
        default: return -1;
        }
    }
    if (rc == 0 && a->n_runs && a->sweep) {
        cli_usage_error("plot", "give --run or --sweep, not both");
        rc = -1;
    }
    return rc;
}

/* Makes dir and its parents when missing. */
static int make_dirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) < 0 && access(path, F_OK) != 0)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0777) < 0 && access(path, F_OK) != 0 ? -1 : 0;
}

/* Draws figure f in every format asked for, printing each path. */
static int render(const plot_ctx *c, const plot_fig *f, kt_err *err)
{
    char *body = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&body, &len);
    if (!o) {
        KT_ERROR(err, NULL, 0, 0, "kvtier plot: out of memory");
        return -1;
    }
    int rc = kinds[f->kind].write(c, f->id, o, err);
    fclose(o);
    char stem[512], path[4096];
    fig_stem(c, f, stem, sizeof stem);
    for (int fmt = 0; fmt < FORMAT_COUNT && rc == 0; fmt++) {
        if (!((c->formats >> fmt) & 1))
            continue;
        snprintf(path, sizeof path, "%s/%s.%s", c->dir, stem, format_ext[fmt]);
        rc = draw(body, (plot_format)fmt, path, err);
        if (rc == 0)
            printf("%s\n", path);
    }
    free(body);
    return rc;
}

/* Opens the database, which must exist (plotting never creates one). */
static int open_db(plot_ctx *c, const char *path, kt_err *err)
{
    c->db_path = path;
    if (access(path, F_OK) != 0) {
        KT_ERROR(err, path, 0, 0, "no such results database (kvtier run stores runs there; --db PATH names another)");
        return -1;
    }
    c->st = store_open(path, err);
    c->db = c->st ? store_db(c->st) : NULL;
    return c->st ? 0 : -1;
}

/* Selects the data, lists the figures and draws them. */
static int plot_figures(plot_ctx *c, const plot_args *a)
{
    kt_err err;
    if (open_db(c, a->db, &err) < 0 || select_data(c, a, &err) < 0) {
        kt_err_print(&err, stderr);
        return PLOT_EXIT_BAD_INPUT;
    }
    plot_fig *figs = calloc((size_t)KIND_COUNT * ((size_t)c->n_runs + 1), sizeof *figs);
    int n = figs ? list_figures(c, a->kinds, figs) : -1;
    int rc = n < 0 ? PLOT_EXIT_BAD_INPUT : 0;
    if (n == 0) {
        fprintf(stderr, "kvtier plot: %s: nothing to plot (no runs or plans with data selected)\n", c->db_path);
        rc = PLOT_EXIT_BAD_INPUT;
    } else if (n > 0 && make_dirs(c->dir) < 0) {
        fprintf(stderr, "kvtier plot: cannot make the output directory %s\n", c->dir);
        rc = PLOT_EXIT_BAD_INPUT;
    }
    for (int i = 0; i < n && rc == 0; i++)
        if (render(c, &figs[i], &err) < 0) {
            kt_err_print(&err, stderr);
            rc = PLOT_EXIT_FAILED;
        }
    free(figs);
    return rc;
}

int plot_main(int argc, char **argv)
{
    plot_args a = { 0 };
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc > 0)
            usage(stdout);
        free(a.runs);
        return rc > 0 ? 0 : PLOT_EXIT_BAD_INPUT;
    }
    const char *prog = plot_gnuplot_program();
    if (!plot_program_found(prog)) {
        fprintf(stderr, "kvtier plot: gnuplot not found (looked for '%s'): install it with "
                        "'apt-get install gnuplot-nox', or set %s to its path\n", prog, PLOT_GNUPLOT_ENV);
        free(a.runs);
        return PLOT_EXIT_BAD_INPUT;
    }
    plot_ctx c = { .dir = a.dir, .formats = a.formats, .sweep = a.sweep,
                   .metrics = a.n_metrics ? a.metrics : sweep_default_metrics,
                   .n_metrics = a.n_metrics ? a.n_metrics : SWEEP_DEFAULT_METRICS };
    rc = plot_figures(&c, &a);
    store_close(c.st);
    free(c.runs);
    free(a.runs);
    return rc;
}
