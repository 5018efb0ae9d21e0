/* validate.c — `kvtier validate`: published end-to-end measurements replayed as scenarios, with kvtier's error against each. */
#include "validate.h"

#include <dirent.h>
#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "cli.h"
#include "conf.h"
#include "grow.h"
#include "progress.h"
#include "runner.h"

const char *const validate_kind_names[] = { "decode_bs1", "max_throughput", "ttft", "latency_at_rate",
                                            "kv_transfer", NULL };
const char *const validate_per_names[] = { "total", "per_gpu", "rate_from_ms", "kv_bandwidth", NULL };

#define VALIDATE_MAX_SETS 64
#define VALIDATE_NAME_MAX 128
/* A case within these |errors| (in %) counts as close, and as roughly right. */
#define VALIDATE_CLOSE_PCT 10.0
#define VALIDATE_ROUGH_PCT 25.0
#define MS_PER_S 1e3
#define BYTES_PER_GB 1e9

/* ---------- one case file ---------- */

void validate_case_free(validate_case *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_sets; i++)
        free(c->sets[i]);
    free(c->sets);
    free(c->file);
    free(c->name);
    free(c->scenario);
    free(c->metric);
    free(c->unit);
    free(c->source_title);
    free(c->source_where);
    free(c->assumptions);
    free(c->lacks);
    free(c);
}

static void case_destroy(void *obj) { validate_case_free(obj); }

/* Reads map[key] (a string) into a new copy *out; absent optional keys leave *out NULL. */
static int take_str(conf_node *map, const char *key, conf_need need, char **out, kt_err *err)
{
    const char *s = NULL;
    if (conf_str(map, key, need, &s, err) < 0)
        return -1;
    if (s && !(*out = strdup(s))) {
        CONF_ERROR(err, map, "out of memory");
        return -1;
    }
    return 0;
}

/* Whether name is one of the summary's figures; its unit into *unit. */
static int summary_has_field(const char *name, const char **unit)
{
    metrics_summary s;
    metrics_field f[METRICS_MAX_FIELDS];
    memset(&s, 0, sizeof s);
    size_t n = metrics_summary_fields(&s, f);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].name, name)) {
            *unit = f[i].unit;
            return 1;
        }
    return 0;
}

/* metric: a summary field; the time-based transforms need a time in ms. */
static int read_metric(conf_node *root, validate_case *c, kt_err *err)
{
    conf_node *n = conf_find(root, "metric");
    const char *unit = NULL;
    if (take_str(root, "metric", CONF_REQUIRED, &c->metric, err) < 0)
        return -1;
    if (!summary_has_field(c->metric, &unit)) {
        CONF_ERROR(err, n, "'%s' is not a field of the run summary (kvtier run --json lists them)", c->metric);
        return -1;
    }
    int needs_ms = c->per == VALIDATE_PER_RATE_FROM_MS || c->per == VALIDATE_PER_KV_BANDWIDTH;
    if (needs_ms && strcmp(unit, "ms") != 0) {
        CONF_ERROR(err, n, "per: %s needs a time in ms; '%s' is in %s", validate_per_names[c->per], c->metric, unit);
        return -1;
    }
    return 0;
}

/* set: a list of "key=value" scenario overrides. */
static int read_sets(conf_node *root, validate_case *c, kt_err *err)
{
    conf_node *seq = conf_take(root, "set");
    if (!seq)
        return 0;
    size_t n = seq->n_kids < VALIDATE_MAX_SETS ? seq->n_kids : VALIDATE_MAX_SETS;
    if (!(c->sets = calloc(n + 1, sizeof *c->sets))) {
        CONF_ERROR(err, seq, "out of memory");
        return -1;
    }
    return conf_overrides(seq, VALIDATE_MAX_SETS, c->sets, &c->n_sets, err);
}

/* published: {value, unit}. */
static int read_published(conf_node *root, validate_case *c, kt_err *err)
{
    conf_node *p = conf_take(root, "published");
    if (!p) {
        CONF_ERROR(err, root, "missing required key 'published'");
        return -1;
    }
    if (conf_expect(p, CONF_MAP, err) < 0)
        return -1;
    if (conf_f64(p, "value", CONF_REQUIRED, 0, INFINITY, &c->published, err) < 0 ||
        take_str(p, "unit", CONF_REQUIRED, &c->unit, err) < 0)
        return -1;
    if (!(c->published > 0)) {
        CONF_ERROR(err, conf_find(p, "value"), "must be > 0 (the error is relative to it)");
        return -1;
    }
    return 0;
}

/* source: a title and where it is: repo, path, commit, table (a repository
 * file) and/or url; date and note are free text. */
static int read_source(conf_node *root, validate_case *c, kt_err *err)
{
    conf_node *s = conf_take(root, "source");
    if (!s) {
        CONF_ERROR(err, root, "missing required key 'source'");
        return -1;
    }
    if (conf_expect(s, CONF_MAP, err) < 0)
        return -1;
    const char *repo = NULL, *path = NULL, *commit = NULL, *table = NULL, *url = NULL, *date = NULL, *note = NULL;
    if (take_str(s, "title", CONF_REQUIRED, &c->source_title, err) < 0 ||
        conf_str(s, "repo", CONF_OPTIONAL, &repo, err) < 0 || conf_str(s, "path", CONF_OPTIONAL, &path, err) < 0 ||
        conf_str(s, "commit", CONF_OPTIONAL, &commit, err) < 0 ||
        conf_str(s, "table", CONF_OPTIONAL, &table, err) < 0 || conf_str(s, "url", CONF_OPTIONAL, &url, err) < 0 ||
        conf_str(s, "date", CONF_OPTIONAL, &date, err) < 0 || conf_str(s, "note", CONF_OPTIONAL, &note, err) < 0)
        return -1;
    if (!(repo && path && commit) && !url) {
        CONF_ERROR(err, s, "needs repo, path and commit, or url");
        return -1;
    }
    char where[2048];
    if (repo && path && commit)
        snprintf(where, sizeof where, "%s %s@%.12s%s%s", repo, path, commit, table ? ", " : "", table ? table : "");
    else
        snprintf(where, sizeof where, "%s", url);
    if (!(c->source_where = strdup(where))) {
        CONF_ERROR(err, s, "out of memory");
        return -1;
    }
    return 0;
}

static void *case_build(conf_node *root, kt_err *err)
{
    if (conf_expect(root, CONF_MAP, err) < 0)
        return NULL;
    validate_case *c = calloc(1, sizeof *c);
    if (!c || !(c->file = strdup(root->file))) {
        free(c);
        CONF_ERROR(err, root, "out of memory");
        return NULL;
    }
    int kind = 0, per = VALIDATE_PER_TOTAL;
    char *rel = NULL;
    conf_node *name = conf_find(root, "name");
    int rc = take_str(root, "name", CONF_REQUIRED, &c->name, err) < 0 ||
             conf_enum(root, "kind", CONF_REQUIRED, validate_kind_names, &kind, err) < 0 ||
             take_str(root, "scenario", CONF_REQUIRED, &rel, err) < 0 || read_sets(root, c, err) < 0 ||
             conf_enum(root, "per", CONF_OPTIONAL, validate_per_names, &per, err) < 0;
    c->kind = (validate_kind)kind;
    c->per = (validate_per)per;
    rc = rc || read_metric(root, c, err) < 0 || read_published(root, c, err) < 0 || read_source(root, c, err) < 0 ||
         take_str(root, "assumptions", CONF_REQUIRED, &c->assumptions, err) < 0 ||
         take_str(root, "lacks", CONF_OPTIONAL, &c->lacks, err) < 0;
    if (!rc && strlen(c->name) >= VALIDATE_NAME_MAX) {
        CONF_ERROR(err, name, "longer than %d characters", VALIDATE_NAME_MAX - 1);
        rc = 1;
    }
    if (!rc) {
        char path[4096];
        conf_path_beside(root->file, rel, path, sizeof path);
        if (!(c->scenario = strdup(path))) {
            CONF_ERROR(err, root, "out of memory");
            rc = 1;
        }
    }
    free(rel);
    if (rc) {
        validate_case_free(c);
        return NULL;
    }
    return c;
}

validate_case *validate_case_load(const char *path, kt_err *err)
{
    return conf_load_strict(path, case_build, case_destroy, err);
}

/* ---------- arithmetic ---------- */

int validate_case_value(const validate_case *c, const metrics_summary *s, int block_tokens, double *out)
{
    metrics_field f[METRICS_MAX_FIELDS];
    size_t n = metrics_summary_fields(s, f);
    double v = NAN;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].name, c->metric))
            v = f[i].value;
    switch (c->per) {
    case VALIDATE_PER_TOTAL: break;
    case VALIDATE_PER_GPU: v = s->gpus > 0 ? v / s->gpus : NAN; break;
    case VALIDATE_PER_RATE_FROM_MS: v = v > 0 ? MS_PER_S / v : NAN; break;
    case VALIDATE_PER_KV_BANDWIDTH: {
        double prompt = s->requests > 0 ? (double)s->input_tokens / s->requests : 0;
        double bytes = ceil(prompt / block_tokens) * s->kv_block_bytes;
        v = v > 0 && bytes > 0 ? bytes / BYTES_PER_GB / (v / MS_PER_S) : NAN;
        break;
    }
    default: v = NAN;
    }
    if (!isfinite(v))
        return -1;
    *out = v;
    return 0;
}

double validate_error_pct(double kvtier, double published)
{
    return (kvtier - published) / published * 100.0;
}

void validate_stats_compute(const double *errors_pct, size_t n, validate_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->median_abs_pct = NAN;
    double *a = n ? malloc(n * sizeof *a) : NULL;
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        a[i] = fabs(errors_pct[i]);
        out->within_10 += a[i] <= VALIDATE_CLOSE_PCT;
        out->within_25 += a[i] <= VALIDATE_ROUGH_PCT;
    }
    gsl_sort(a, 1, n);
    out->median_abs_pct = gsl_stats_median_from_sorted_data(a, 1, n);
    free(a);
}

/* ---------- the suite ---------- */

/* One selected case with its scenario and, once run, what kvtier gave.
 * Invariants: sc is loaded; has_value says value and error_pct are set. */
typedef struct validate_entry {
    validate_case *c;
    scenario *sc;
    int ran, has_value;
    double value, error_pct;
    char failure[1024];         /* why the run failed, when it did */
} validate_entry;

typedef struct validate_suite {
    validate_entry *e;
    size_t n, cap;
} validate_suite;

static void suite_free(validate_suite *s)
{
    for (size_t i = 0; i < s->n; i++) {
        validate_case_free(s->e[i].c);
        scenario_free(s->e[i].sc);
    }
    free(s->e);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.yaml files of dir, sorted, as dir/NAME paths (caller frees each
 * and the array); *n counts them. Returns NULL with err when dir cannot be read. */
static char **list_cases(const char *dir, size_t *n, kt_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        KT_ERROR(err, dir, 0, 0, "cannot read the case directory");
        return NULL;
    }
    char **paths = NULL;
    size_t cap = 0;
    struct dirent *de;
    int oom = 0;
    *n = 0;
    while (!oom && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        char **grown = grow_array(paths, &cap, *n + 1, sizeof *paths);
        size_t plen = strlen(dir) + len + 2;
        if (!grown || !(grown[*n] = malloc(plen))) {
            paths = grown ? grown : paths;
            oom = 1;
            break;
        }
        paths = grown;
        snprintf(paths[(*n)++], plen, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (oom) {
        for (size_t i = 0; i < *n; i++)
            free(paths[i]);
        free(paths);
        KT_ERROR(err, dir, 0, 0, "out of memory listing the cases");
        return NULL;
    }
    if (*n == 0) {
        free(paths);
        KT_ERROR(err, dir, 0, 0, "no case files (*.yaml)");
        return NULL;
    }
    qsort(paths, *n, sizeof *paths, by_name);
    return paths;
}

/* Loads one case and, when its name matches glob (NULL: every case), its
 * scenario, appending both to s. Returns 0, or -1 with err. */
static int suite_add(validate_suite *s, const char *path, const char *glob, kt_err *err)
{
    validate_case *c = validate_case_load(path, err);
    if (!c)
        return -1;
    if (glob && fnmatch(glob, c->name, 0) != 0) {
        validate_case_free(c);
        return 0;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].c->name, c->name)) {
            KT_ERROR(err, path, 0, 0, "case '%s' is also defined in %s", c->name, s->e[i].c->file);
            validate_case_free(c);
            return -1;
        }
    scenario *sc = scenario_load(c->scenario, c->sets, c->n_sets, err);
    validate_entry *grown = sc ? grow_array(s->e, &s->cap, s->n + 1, sizeof *s->e) : NULL;
    if (!grown) {
        if (sc)
            KT_ERROR(err, path, 0, 0, "out of memory");
        scenario_free(sc);
        validate_case_free(c);
        return -1;
    }
    s->e = grown;
    s->e[s->n++] = (validate_entry){ .c = c, .sc = sc };
    return 0;
}

/* Loads every case of dir (and the scenarios of those matching glob) before
 * anything runs. Returns 0, or -1 with err. */
static int suite_load(validate_suite *s, const char *dir, const char *glob, kt_err *err)
{
    size_t n = 0;
    char **paths = list_cases(dir, &n, err);
    if (!paths)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = suite_add(s, paths[i], glob, err);
        free(paths[i]);
    }
    free(paths);
    if (rc == 0 && s->n == 0) {
        KT_ERROR(err, dir, 0, 0, "no case matches '%s'", glob);
        rc = -1;
    }
    return rc;
}

/* Runs one case in-process (no database) and works out its error. */
static void entry_run(validate_entry *e)
{
    sim_opts opts = { 0 };
    runner_result res = { 0 };   /* want_replicas 0: nothing to free */
    kt_err err;
    memset(&err, 0, sizeof err);
    e->ran = runner_run(e->sc, &opts, NULL, NULL, &res, &err) == RUNNER_OK;
    if (!e->ran) {
        snprintf(e->failure, sizeof e->failure, "%s", err.msg);
        return;
    }
    e->has_value = validate_case_value(e->c, &res.summary, e->sc->kv_block_tokens, &e->value) == 0;
    if (e->has_value)
        e->error_pct = validate_error_pct(e->value, e->c->published);
}

/* Runs every case, reporting progress on stderr. Returns how many failed to run. */
static size_t suite_run(validate_suite *s)
{
    progress p;
    progress_start(&p, stderr, "validate", "cases", (int64_t)s->n, 0);
    size_t failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        progress_status(&p, "%s", s->e[i].c->name);
        entry_run(&s->e[i]);
        failed += !s->e[i].ran;
        progress_step(&p);
    }
    progress_finish(&p);
    return failed;
}

/* The stats over the cases that gave a value. */
static void suite_stats(const validate_suite *s, validate_stats *st)
{
    double *errs = malloc((s->n ? s->n : 1) * sizeof *errs);
    size_t n = 0;
    for (size_t i = 0; errs && i < s->n; i++)
        if (s->e[i].has_value)
            errs[n++] = s->e[i].error_pct;
    validate_stats_compute(errs, errs ? n : 0, st);
    free(errs);
}

/* ---------- output ---------- */

/* v with about four significant digits and no exponent ("15220", "104.9", "62.50"). */
static const char *fmt_value(double v, char *buf, size_t n)
{
    int decimals = v != 0 ? 3 - (int)floor(log10(fabs(v))) : 0;
    snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, v);
    return buf;
}

static void print_table(FILE *out, const validate_suite *s, const validate_stats *st)
{
    int w = (int)strlen("case");
    for (size_t i = 0; i < s->n; i++) {
        int len = (int)strlen(s->e[i].c->name) + (s->e[i].c->lacks != NULL);
        w = len > w ? len : w;
    }
    fprintf(out, "%-*s  %-15s  %-14s  %10s  %-9s  %10s  %8s\n", w, "case", "kind", "GPU", "published", "unit",
            "kvtier", "error");
    for (size_t i = 0; i < s->n; i++) {
        const validate_entry *e = &s->e[i];
        char name[VALIDATE_NAME_MAX + 2], pub[32], val[32] = "-", errs[32] = "-";
        snprintf(name, sizeof name, "%s%s", e->c->name, e->c->lacks ? "*" : "");
        if (!e->ran)
            snprintf(val, sizeof val, "failed");
        else if (e->has_value) {
            fmt_value(e->value, val, sizeof val);
            snprintf(errs, sizeof errs, "%+.1f%%", e->error_pct);
        }
        fprintf(out, "%-*s  %-15s  %-14s  %10s  %-9s  %10s  %8s\n", w, name, validate_kind_names[e->c->kind],
                e->sc->hw->name, fmt_value(e->c->published, pub, sizeof pub), e->c->unit, val, errs);
    }
    fprintf(out, "\n");
    for (size_t i = 0; i < s->n; i++) {
        if (s->e[i].c->lacks)
            fprintf(out, "* %s lacks: %s\n", s->e[i].c->name, s->e[i].c->lacks);
        if (!s->e[i].ran)
            fprintf(out, "%s failed: %s\n", s->e[i].c->name, s->e[i].failure);
    }
    fprintf(out, "median |error| %.1f%% over %zu of %zu cases; within %.0f%%: %zu, within %.0f%%: %zu\n",
            st->median_abs_pct, st->n, s->n, VALIDATE_CLOSE_PCT, st->within_10, VALIDATE_ROUGH_PCT, st->within_25);
}

static json_t *json_num_or_null(int has, double v) { return has ? json_real(v) : json_null(); }

static json_t *entry_json(const validate_entry *e)
{
    json_t *o = json_object(), *src = json_object();
    json_object_set_new(o, "name", json_string(e->c->name));
    json_object_set_new(o, "kind", json_string(validate_kind_names[e->c->kind]));
    json_object_set_new(o, "gpu", json_string(e->sc->hw->name));
    json_object_set_new(o, "model", json_string(e->sc->model->name));
    json_object_set_new(o, "metric", json_string(e->c->metric));
    json_object_set_new(o, "per", json_string(validate_per_names[e->c->per]));
    json_object_set_new(o, "published", json_real(e->c->published));
    json_object_set_new(o, "unit", json_string(e->c->unit));
    json_object_set_new(o, "kvtier", json_num_or_null(e->has_value, e->value));
    json_object_set_new(o, "error_pct", json_num_or_null(e->has_value, e->error_pct));
    json_object_set_new(o, "ran", json_boolean(e->ran));
    if (!e->ran)
        json_object_set_new(o, "failure", json_string(e->failure));
    json_object_set_new(o, "lacks", e->c->lacks ? json_string(e->c->lacks) : json_null());
    json_object_set_new(src, "title", json_string(e->c->source_title));
    json_object_set_new(src, "where", json_string(e->c->source_where));
    json_object_set_new(o, "source", src);
    json_object_set_new(o, "assumptions", json_string(e->c->assumptions));
    json_object_set_new(o, "file", json_string(e->c->file));
    return o;
}

static void print_json(FILE *out, const validate_suite *s, const validate_stats *st)
{
    json_t *o = json_object(), *cases = json_array(), *sum = json_object();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(cases, entry_json(&s->e[i]));
    json_object_set_new(o, "cases", cases);
    json_object_set_new(sum, "cases", json_integer((json_int_t)s->n));
    json_object_set_new(sum, "with_value", json_integer((json_int_t)st->n));
    json_object_set_new(sum, "median_abs_error_pct", json_num_or_null(st->n > 0, st->median_abs_pct));
    json_object_set_new(sum, "within_10pct", json_integer((json_int_t)st->within_10));
    json_object_set_new(sum, "within_25pct", json_integer((json_int_t)st->within_25));
    json_object_set_new(o, "summary", sum);
    json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
}

/* ---------- command ---------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kvtier validate [DIR] [--json] [--case GLOB]\n"
            "\n"
            "Runs every validation case in DIR (default: validation/cases under $KVTIER_DATA, the\n"
            "current directory or the installed data) and compares kvtier with the published\n"
            "measurement each case reproduces: case, kind, GPU, published value and unit, kvtier's\n"
            "value and the signed error (kvtier - published) / published, then the median |error|\n"
            "and how many cases are within 10%% and 25%%. Cases marked * need something kvtier cannot\n"
            "express yet (their lacks: says what). Every case file and scenario is checked before\n"
            "anything runs. validation/README.md describes the case format.\n"
            "\n"
            "options:\n"
            "  --json            print the results as JSON\n"
            "  --case GLOB       only the cases whose name matches GLOB (fnmatch), e.g. 'trtllm-*'\n"
            "  -h, --help        this text\n"
            "\n"
            "exit status: 0 done (misses included), 1 a run failed, 2 bad case file, scenario or options\n");
}

typedef struct validate_args {
    const char *dir, *glob;
    int json;
} validate_args;

static int parse_args(int argc, char **argv, validate_args *a)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "case", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 0;
    while ((c = cli_option_next(argc, argv, "-:", opts, "validate")) != -1) {
        if (c == '?')
            return -1;
        if (c == 'j')
            a->json = 1;
        else if (c == 'c')
            a->glob = optarg;
        else if (c == 1 && !a->dir)
            a->dir = optarg;
        else {
            fprintf(stderr, "kvtier validate: one case directory at most ('%s')\n", optarg);
            return -1;
        }
    }
    return 0;
}

/* The first validation/cases directory among the data directories, into buf. */
static const char *default_dir(char *buf, size_t n)
{
    char dbuf[8192];
    const char *dirs[8];
    scenario_data_dirs(NULL, "validation/cases", dbuf, sizeof dbuf, dirs, 8);
    for (int i = 0; dirs[i]; i++) {
        DIR *d = opendir(dirs[i]);
        if (d) {
            closedir(d);
            snprintf(buf, n, "%s", dirs[i]);
            return buf;
        }
    }
    snprintf(buf, n, "validation/cases");
    return buf;
}

int validate_main(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    validate_args a = { 0 };
    if (parse_args(argc, argv, &a) < 0)
        return CLI_EXIT_BAD_INPUT;
    char dir[4096];
    if (!a.dir)
        a.dir = default_dir(dir, sizeof dir);
    validate_suite s = { 0 };
    kt_err err;
    memset(&err, 0, sizeof err);
    if (suite_load(&s, a.dir, a.glob, &err) < 0) {
        kt_err_print(&err, stderr);
        suite_free(&s);
        return CLI_EXIT_BAD_INPUT;
    }
    size_t failed = suite_run(&s);
    validate_stats st;
    suite_stats(&s, &st);
    if (a.json)
        print_json(stdout, &s, &st);
    else
        print_table(stdout, &s, &st);
    suite_free(&s);
    return failed ? CLI_EXIT_RUN_FAILED : 0;
}
