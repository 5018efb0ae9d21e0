/* sweep.c — loads sweep files strictly, numbers their points, keys them for resuming, and validates every point's scenario. */
#include "sweep.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "htab.h"
#include "units.h"

/* A range reaches its end when within this fraction of a step of it:
 * 0.1 + 2 × 0.1 lands a rounding error short of 0.3. */
#define RANGE_SLACK 1e-9
/* Significant digits of a range's values: enough for any step written in
 * decimal, few enough to hide the binary rounding of from + i × step. */
#define RANGE_DIGITS 15

static int oom(kt_err *err)
{
    KT_ERROR(err, NULL, 0, 0, "out of memory");
    return -1;
}

/* ---------- overrides ---------- */

/* Fills s as the override key=value located at file:line:col (file NULL:
 * the command line). Returns 0 or -1 (memory). */
static int set_init(sweep_set *s, const char *key, size_t key_len, const char *value, const char *file, int line,
                    int col)
{
    size_t vlen = strlen(value);
    s->text = malloc(key_len + vlen + 2);
    if (!s->text)
        return -1;
    memcpy(s->text, key, key_len);
    s->text[key_len] = '=';
    memcpy(s->text + key_len + 1, value, vlen + 1);
    s->key_len = key_len;
    s->value = s->text + key_len + 1;
    s->file = file;
    s->line = line;
    s->col = col;
    return 0;
}

/* 1 when key is a dotted scenario path: non-empty parts of letters, digits, '_' and '-'. */
static int valid_key(const char *key, size_t len)
{
    if (!len || key[0] == '.' || key[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '-' || (c == '.' && key[i + 1] != '.');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Length of the key of assignment "key=value", or 0 when it is not one. */
static size_t assignment_key_len(const char *a)
{
    const char *eq = strchr(a, '=');
    return eq && valid_key(a, (size_t)(eq - a)) ? (size_t)(eq - a) : 0;
}

/* 1 when an error message about a scenario path ("kv.x: ..." or, from
 * conf_set, "kv.x=..: ...") is about key or something under it. */
static int msg_names_key(const char *msg, const char *key, size_t len)
{
    return strncmp(msg, key, len) == 0 && msg[len] && strchr(":.[=", msg[len]);
}

/* An error conf_set or the scenario loader located on the command line
 * ("--set:1:col") is moved to where the sweep file wrote the override it is
 * about: the last of ov[0..n) (the one that applied) whose key it names. */
static void relocate(const sweep_set *const *ov, int n, kt_err *err)
{
    if (strcmp(err->file, "--set") != 0)
        return;
    for (int i = n - 1; i >= 0; i--) {
        if (!msg_names_key(err->msg, ov[i]->text, ov[i]->key_len))
            continue;
        if (ov[i]->file) {
            snprintf(err->file, sizeof err->file, "%s", ov[i]->file);
            err->line = ov[i]->line;
            err->col = ov[i]->col;
        }
        return;
    }
}

/* ---------- loading ---------- */

/* The sweep's fixed overrides: the file's set list, then the command line's. */
static int load_sets(sweep *sw, conf_node *top, char *const *cli, int n_cli, kt_err *err)
{
    conf_node *list = conf_take(top, "set");
    if (list && conf_expect(list, CONF_SEQ, err) < 0)
        return -1;
    size_t n_file = list ? list->n_kids : 0;
    sw->sets = calloc(n_file + (size_t)n_cli + 1, sizeof *sw->sets);
    if (!sw->sets)
        return oom(err);
    for (size_t i = 0; i < n_file; i++) {
        conf_node *item = list->kids[i];
        const char *a;
        if (conf_scalar_str(item, &a, err) < 0)
            return -1;
        size_t klen = assignment_key_len(a);
        if (!klen) {
            CONF_ERROR(err, item, "'%s': expected KEY.PATH=VALUE", a);
            return -1;
        }
        if (set_init(&sw->sets[sw->n_sets++], a, klen, a + klen + 1, sw->file, item->line, item->col) < 0)
            return oom(err);
    }
    for (int i = 0; i < n_cli; i++) {
        size_t klen = assignment_key_len(cli[i]);
        if (!klen) {
            KT_ERROR(err, "--set", 1, 1, "'%s': expected KEY.PATH=VALUE", cli[i]);
            return -1;
        }
        if (set_init(&sw->sets[sw->n_sets++], cli[i], klen, cli[i] + klen + 1, NULL, 0, 0) < 0)
            return oom(err);
    }
    return 0;
}

/* A range bound or step: a number, optionally followed by a unit ("16GiB"). */
static int range_number(conf_node *n, double *v, const char **unit, kt_err *err)
{
    const char *s;
    if (conf_scalar_str(n, &s, err) < 0)
        return -1;
    char *end;
    errno = 0;
    *v = units_strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(*v)) {
        CONF_ERROR(err, n, "expected a number, with a unit or without (4, 0.5, 16GiB), found '%s'", s);
        return -1;
    }
    *unit = end;
    return 0;
}

/* How many values from, from + step, ... up to `to` (inclusive) are; -1
 * with err (located at the step node) when the step is 0 or points away. */
static int64_t range_count(double from, double to, double step, conf_node *step_node, kt_err *err)
{
    if (step == 0) {
        CONF_ERROR(err, step_node, "must not be 0");
        return -1;
    }
    double span = (to - from) / step;
    if (span < -RANGE_SLACK) {
        CONF_ERROR(err, step_node, "%g never gets from %g to %g", step, from, to);
        return -1;
    }
    if (span >= SWEEP_MAX_POINTS) {
        CONF_ERROR(err, step_node, "makes more than %d values", SWEEP_MAX_POINTS);
        return -1;
    }
    return (int64_t)floor(span + RANGE_SLACK) + 1;
}

/* range: {from: A, to: B, step: S}, inclusive; one unit (or none) on all three. */
static int load_range(sweep *sw, sweep_axis *ax, conf_node *r, kt_err *err)
{
    static const char *const names[] = { "from", "to", "step" };
    conf_node *n[3];
    double v[3];
    const char *unit[3];
    if (conf_expect(r, CONF_MAP, err) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        n[i] = conf_take(r, names[i]);
        if (!n[i]) {
            CONF_ERROR(err, r, "missing required key '%s'", names[i]);
            return -1;
        }
        if (range_number(n[i], &v[i], &unit[i], err) < 0)
            return -1;
        if (strcmp(unit[i], unit[0]) != 0) {
            CONF_ERROR(err, n[i], "unit '%s' differs from from's '%s': write all three in one unit", unit[i],
                       unit[0]);
            return -1;
        }
    }
    int64_t count = range_count(v[0], v[1], v[2], n[2], err);
    if (count < 0)
        return -1;
    ax->values = calloc((size_t)count, sizeof *ax->values);
    if (!ax->values)
        return oom(err);
    ax->n_values = count;
    for (int64_t i = 0; i < count; i++) {
        double x = v[0] + (double)i * v[2];
        if (fabs(x) < fabs(v[2]) * RANGE_SLACK)
            x = 0;  /* -0.3 + 3 × 0.1 is 0, not 5.6e-17 */
        char text[64];
        snprintf(text, sizeof text, "%.*g%s", RANGE_DIGITS, x, unit[0]);
        if (set_init(&ax->values[i], ax->key, strlen(ax->key), text, sw->file, r->line, r->col) < 0)
            return oom(err);
    }
    return 0;
}

/* values: [v0, v1, ...], any YAML values, kept as flow text. */
static int load_values(sweep *sw, sweep_axis *ax, conf_node *list, kt_err *err)
{
    if (conf_expect(list, CONF_SEQ, err) < 0)
        return -1;
    if (list->n_kids == 0) {
        CONF_ERROR(err, list, "is empty: an axis needs at least one value");
        return -1;
    }
    ax->values = calloc(list->n_kids, sizeof *ax->values);
    if (!ax->values)
        return oom(err);
    for (size_t i = 0; i < list->n_kids; i++) {
        conf_node *v = list->kids[i];
        conf_mark_used(v);
        char *flow = conf_to_flow(v);
        int rc = flow ? set_init(&ax->values[i], ax->key, strlen(ax->key), flow, sw->file, v->line, v->col) : -1;
        free(flow);
        if (rc < 0)
            return oom(err);
        ax->n_values++;
    }
    return 0;
}

/* Reports a key of map m that nothing took (a misspelt "values", say)
 * before the checks its absence would otherwise mislead. Returns 1 then. */
static int unknown_key(const conf_node *m, kt_err *err)
{
    for (size_t i = 0; i < m->n_kids; i++)
        if (!m->kids[i]->used) {
            CONF_ERROR(err, m->kids[i], "unknown key");
            return 1;
        }
    return 0;
}

/* One axis: {key: K, values: [...]} or {key: K, range: {...}}. */
static int load_axis(sweep *sw, int index, conf_node *a, kt_err *err)
{
    sweep_axis *ax = &sw->axes[index];
    const char *key;
    if (conf_expect(a, CONF_MAP, err) < 0 || conf_str(a, "key", CONF_REQUIRED, &key, err) < 0)
        return -1;
    conf_node *key_node = conf_find(a, "key");
    if (!valid_key(key, strlen(key))) {
        CONF_ERROR(err, key_node, "'%s' is not a dotted scenario key (such as kv.block_tokens)", key);
        return -1;
    }
    for (int j = 0; j < index; j++)
        if (strcmp(sw->axes[j].key, key) == 0) {
            CONF_ERROR(err, key_node, "'%s' is already swept by axes[%d]", key, j);
            return -1;
        }
    ax->key = strdup(key);
    if (!ax->key)
        return oom(err);
    conf_node *values = conf_take(a, "values"), *range = conf_take(a, "range");
    if (unknown_key(a, err))
        return -1;
    if (!values == !range) {
        CONF_ERROR(err, a, "give exactly one of 'values' (a list) or 'range' ({from, to, step})");
        return -1;
    }
    return values ? load_values(sw, ax, values, err) : load_range(sw, ax, range, err);
}

static int load_axes(sweep *sw, conf_node *top, kt_err *err)
{
    conf_node *list = conf_take(top, "axes");
    if (!list) {
        CONF_ERROR(err, top, "missing required key 'axes'");
        return -1;
    }
    if (conf_expect(list, CONF_SEQ, err) < 0)
        return -1;
    if (list->n_kids == 0) {
        CONF_ERROR(err, list, "is empty: a sweep needs at least one axis");
        return -1;
    }
    sw->axes = calloc(list->n_kids, sizeof *sw->axes);
    if (!sw->axes)
        return oom(err);
    sw->n_points = 1;
    for (size_t i = 0; i < list->n_kids; i++) {
        sw->n_axes++;
        if (load_axis(sw, (int)i, list->kids[i], err) < 0)
            return -1;
        sw->n_points *= sw->axes[i].n_values;
        if (sw->n_points > SWEEP_MAX_POINTS) {
            CONF_ERROR(err, list->kids[i], "the axes so far make %lld points, more than %d",
                       (long long)sw->n_points, SWEEP_MAX_POINTS);
            return -1;
        }
    }
    return 0;
}

/* name (default: the file's name without .yaml) and base, joined to the file's directory. */
static int load_name_base(sweep *sw, conf_node *top, kt_err *err)
{
    const char *name = NULL, *base = NULL;
    if (conf_str(top, "name", CONF_OPTIONAL, &name, err) < 0 || conf_str(top, "base", CONF_REQUIRED, &base, err) < 0)
        return -1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", sw->file);
    const char *file_name = basename(tmp);
    size_t stem = strlen(file_name);
    if (stem > strlen(".yaml") && strcmp(file_name + stem - strlen(".yaml"), ".yaml") == 0)
        stem -= strlen(".yaml");
    sw->name = name ? strdup(name) : strndup(file_name, stem);
    conf_path_beside(sw->file, base, tmp, sizeof tmp);
    sw->base = strdup(tmp);
    if (!sw->name || !sw->base)
        return oom(err);
    if (access(sw->base, R_OK) != 0) {
        CONF_ERROR(err, conf_find(top, "base"), "cannot read '%s': %s", sw->base, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---------- the key ---------- */

/* Two 64-bit lanes over a byte stream, each byte folded in by kt_mix64: an
 * identity for definitions (not a defense against forged collisions). */
typedef struct key_hash {
    uint64_t lane[2];
} key_hash;

/* Folds in s and a terminating NUL, so that "ab","c" differs from "a","bc". */
static void key_add(key_hash *h, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    do {
        h->lane[0] = kt_mix64(h->lane[0] ^ *p);
        h->lane[1] = kt_mix64(h->lane[1] + *p);
    } while (*p++);
}

/* The key: the base scenario as the fixed overrides leave it (written back
 * as YAML, so comments and layout do not count), then every axis value. */
static int make_key(sweep *sw, kt_err *err)
{
    conf_node *root = conf_parse_file(sw->base, err);
    if (!root)
        return -1;
    const sweep_set *ov[sw->n_sets + 1];
    for (int i = 0; i < sw->n_sets; i++) {
        ov[i] = &sw->sets[i];
        if (conf_set(root, sw->sets[i].text, err) < 0) {
            relocate(ov, i + 1, err);
            conf_free(root);
            return -1;
        }
    }
    char *yaml = conf_to_yaml(root);
    conf_free(root);
    if (!yaml)
        return oom(err);
    /* Lane seeds: two arbitrary distinct constants. */
    key_hash h = { { 0x6b76746965722d73ULL, 0x7765657020763101ULL } };
    key_add(&h, yaml);
    free(yaml);
    for (int a = 0; a < sw->n_axes; a++)
        for (int64_t i = 0; i < sw->axes[a].n_values; i++)
            key_add(&h, sw->axes[a].values[i].text);
    snprintf(sw->key, sizeof sw->key, "%016llx%016llx", (unsigned long long)h.lane[0],
             (unsigned long long)h.lane[1]);
    return 0;
}

static int load_all(sweep *sw, conf_node *root, char *const *cli, int n_cli, kt_err *err)
{
    if (conf_expect(root, CONF_MAP, err) < 0)
        return -1;
    conf_node *top = conf_take(root, "sweep");
    if (!top) {
        CONF_ERROR(err, root, "missing required key 'sweep'");
        return -1;
    }
    if (conf_expect(top, CONF_MAP, err) < 0 || load_name_base(sw, top, err) < 0 ||
        load_sets(sw, top, cli, n_cli, err) < 0 || load_axes(sw, top, err) < 0 || conf_check_unused(root, err) < 0)
        return -1;
    return make_key(sw, err);
}

sweep *sweep_load(const char *path, char *const *cli_sets, int n_cli_sets, kt_err *err)
{
    conf_node *root = conf_parse_file(path, err);
    if (!root)
        return NULL;
    sweep *sw = calloc(1, sizeof *sw);
    int rc = sw && (sw->file = strdup(path)) ? load_all(sw, root, cli_sets, n_cli_sets, err) : oom(err);
    conf_free(root);
    if (rc < 0) {
        sweep_free(sw);
        return NULL;
    }
    return sw;
}

void sweep_free(sweep *sw)
{
    if (!sw)
        return;
    for (int i = 0; i < sw->n_sets; i++)
        free(sw->sets[i].text);
    free(sw->sets);
    for (int a = 0; a < sw->n_axes; a++) {
        for (int64_t i = 0; i < sw->axes[a].n_values; i++)
            free(sw->axes[a].values[i].text);
        free(sw->axes[a].values);
        free(sw->axes[a].key);
    }
    free(sw->axes);
    free(sw->file);
    free(sw->name);
    free(sw->base);
    free(sw);
}

/* ---------- points ---------- */

int64_t sweep_value_index(const sweep *sw, int64_t point, int axis)
{
    int64_t stride = 1;
    for (int j = axis + 1; j < sw->n_axes; j++)
        stride *= sw->axes[j].n_values;
    return point / stride % sw->axes[axis].n_values;
}

/* The axis override axis takes at point. */
static const sweep_set *axis_set(const sweep *sw, int64_t point, int axis)
{
    return &sw->axes[axis].values[sweep_value_index(sw, point, axis)];
}

const char *sweep_point_value(const sweep *sw, int64_t point, int axis)
{
    return axis_set(sw, point, axis)->value;
}

/* Fills ov[0 .. n_sets + n_axes) with the point's overrides in the order they apply. */
static int point_overrides(const sweep *sw, int64_t point, const sweep_set **ov)
{
    int n = 0;
    for (int i = 0; i < sw->n_sets; i++)
        ov[n++] = &sw->sets[i];
    for (int a = 0; a < sw->n_axes; a++)
        ov[n++] = axis_set(sw, point, a);
    return n;
}

int sweep_point_sets(const sweep *sw, int64_t point, char **sets)
{
    const sweep_set *ov[sw->n_sets + sw->n_axes];
    int n = point_overrides(sw, point, ov);
    for (int i = 0; i < n; i++)
        sets[i] = ov[i]->text;
    return n;
}

/* Joins the point's axis overrides with sep into a malloc'd string. */
static char *join_axes(const sweep *sw, int64_t point, const char *sep)
{
    size_t len = 1;
    for (int a = 0; a < sw->n_axes; a++)
        len += strlen(axis_set(sw, point, a)->text) + strlen(sep);
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int a = 0; a < sw->n_axes; a++) {
        if (a)
            strcat(s, sep);
        strcat(s, axis_set(sw, point, a)->text);
    }
    return s;
}

char *sweep_point_params(const sweep *sw, int64_t point)
{
    return join_axes(sw, point, "\n");
}

scenario *sweep_point_scenario(const sweep *sw, int64_t point, kt_err *err)
{
    const sweep_set *ov[sw->n_sets + sw->n_axes];
    char *sets[sw->n_sets + sw->n_axes];
    int n = point_overrides(sw, point, ov);
    for (int i = 0; i < n; i++)
        sets[i] = ov[i]->text;
    scenario *sc = scenario_load(sw->base, sets, n, err);
    if (!sc) {
        relocate(ov, n, err);
        char *params = join_axes(sw, point, ", ");
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (sweep point %lld: %s)", (long long)point,
                 params ? params : "?");
        free(params);
    }
    return sc;
}

int sweep_validate(const sweep *sw, kt_err *err)
{
    for (int64_t p = 0; p < sw->n_points; p++) {
        scenario *sc = sweep_point_scenario(sw, p, err);
        if (!sc)
            return -1;
        scenario_free(sc);
    }
    return 0;
}
