/* conf.c — libyaml event stream to a tree of located nodes; strict typed accessors; --set overrides; YAML output. */
#include "conf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <yaml.h>

#include "grow.h"
#include "units.h"
#include "infile.h"
#include "suggest.h"

/* Deeper nesting than this is certainly not a scenario; refusing it keeps
 * hostile input from exhausting the stack. */
#define CONF_MAX_DEPTH 64

/* ---------- nodes ---------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* New node of kind located at file:line:col (1-based). Caller owns it. */
static conf_node *node_new(conf_kind kind, const char *file, int line, int col)
{
    conf_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->file = dup_str(file ? file : "");
    n->path = dup_str("");
    n->line = line;
    n->col = col;
    return n;
}

void conf_free(conf_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_kids; i++)
        conf_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->n_asked; i++)
        free(n->asked[i]);
    free(n->asked);
    free(n->key);
    free(n->value);
    free(n->path);
    free(n->file);
    free(n);
}

/* Appends kid to parent (parent takes ownership). Returns -1 on OOM. */
static int node_add(conf_node *parent, conf_node *kid)
{
    conf_node **k = grow_array(parent->kids, &parent->cap_kids, parent->n_kids + 1, sizeof *k);
    if (!k)
        return -1;
    parent->kids = k;
    parent->kids[parent->n_kids++] = kid;
    return 0;
}

/* Sets n's path from its parent's path and its key or index, then its kids'. */
static void node_repath(conf_node *n, const char *parent_path, size_t index)
{
    char buf[1024];
    if (n->key)
        snprintf(buf, sizeof buf, "%s%s%s", parent_path, *parent_path ? "." : "", n->key);
    else if (parent_path)
        snprintf(buf, sizeof buf, "%s[%zu]", parent_path, index);
    else
        buf[0] = '\0';
    free(n->path);
    n->path = dup_str(buf);
    for (size_t i = 0; i < n->n_kids; i++)
        node_repath(n->kids[i], n->path, i);
}

conf_node *conf_find(const conf_node *map, const char *key)
{
    if (!map || map->kind != CONF_MAP)
        return NULL;
    for (size_t i = 0; i < map->n_kids; i++)
        if (strcmp(map->kids[i]->key, key) == 0)
            return map->kids[i];
    return NULL;
}

/* Adds key to map's asked keys once (a failed allocation only loses a hint). */
static void note_asked(conf_node *map, const char *key)
{
    for (size_t i = 0; i < map->n_asked; i++)
        if (!strcmp(map->asked[i], key))
            return;
    char **a = grow_array(map->asked, &map->cap_asked, map->n_asked + 1, sizeof *a);
    if (!a)
        return;
    map->asked = a;
    if ((map->asked[map->n_asked] = dup_str(key)))
        map->n_asked++;
}

conf_node *conf_take(conf_node *map, const char *key)
{
    if (map && map->kind == CONF_MAP)
        note_asked(map, key);
    conf_node *n = conf_find(map, key);
    if (n)
        n->used = 1;
    return n;
}

void conf_mark_used(conf_node *n)
{
    n->used = 1;
    for (size_t i = 0; i < n->n_kids; i++)
        conf_mark_used(n->kids[i]);
}

/* ---------- errors ---------- */

void conf_error_at(kt_err *err, const char *src_file, int src_line, const conf_node *n,
                   const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n && n->path && *n->path)
        kt_err_set(err, src_file, src_line, n->file, n->line, n->col, "%s: %s", n->path, msg);
    else
        kt_err_set(err, src_file, src_line, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                   "%s", msg);
}

static const char *kind_name(conf_kind k)
{
    return k == CONF_MAP ? "a mapping" : k == CONF_SEQ ? "a sequence" : "a scalar value";
}

int conf_expect(const conf_node *n, conf_kind kind, kt_err *err)
{
    if (n->kind == kind)
        return 0;
    CONF_ERROR(err, n, "expected %s, found %s", kind_name(kind), kind_name(n->kind));
    return -1;
}

/* ---------- parsing ---------- */

/* text is the input when it is a string (NULL: the file named file). */
typedef struct parse_state {
    yaml_parser_t parser;
    const char *file;
    const char *text;
    size_t len;
    kt_err *err;
} parse_state;

/* Line and column (1-based, in bytes) of byte offset of the input. */
static void locate_offset(const parse_state *ps, size_t offset, int *line, int *col)
{
    kt_err ignored;
    FILE *f = ps->text ? NULL : infile_open(ps->file, &ignored);
    *line = *col = 1;
    for (size_t i = 0; i < offset; i++) {
        int c = ps->text ? (i < ps->len ? (unsigned char)ps->text[i] : EOF) : f ? getc(f) : EOF;
        if (c == EOF)
            break;
        *col = c == '\n' ? 1 : *col + 1;
        *line += c == '\n';
    }
    if (f)
        fclose(f);
}

static void syntax_error(parse_state *ps)
{
    yaml_parser_t *p = &ps->parser;
    const char *ctx = p->context ? p->context : "";
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    /* The reader (bad UTF-8, control characters) knows a byte offset, not a mark. */
    if (p->error == YAML_READER_ERROR) {
        locate_offset(ps, p->problem_offset, &line, &col);
        KT_ERROR(ps->err, ps->file, line, col, "YAML syntax error: %s (byte 0x%02X at offset %zu)",
                 p->problem ? p->problem : "unreadable input", (unsigned)p->problem_value & 0xFFu,
                 p->problem_offset);
        return;
    }
    KT_ERROR(ps->err, ps->file, line, col, "YAML syntax error: %s%s%s", p->problem ? p->problem : "unknown problem",
             *ctx ? " " : "", ctx);
}

/* Fetches the next event into ev; on failure records a syntax error. */
static int next_event(parse_state *ps, yaml_event_t *ev)
{
    if (yaml_parser_parse(&ps->parser, ev))
        return 0;
    syntax_error(ps);
    return -1;
}

static conf_node *parse_node(parse_state *ps, yaml_event_t *ev, int depth);

/* The prefix libyaml expands "!!" to. */
#define YAML_CORE_TAG_PREFIX "tag:yaml.org,2002:"

/* The explicit tag on a scalar, sequence or mapping event, NULL when none. */
static const char *event_tag(const yaml_event_t *ev)
{
    const yaml_char_t *tag = ev->type == YAML_SCALAR_EVENT           ? ev->data.scalar.tag
                             : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                             : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.tag
                                                                     : NULL;
    return (const char *)tag;
}

/* Refuses what the tree cannot hold faithfully: any explicit tag (kvtier
 * reads every value by its key, so "!!str 42" or "!!python/object" would be
 * silently ignored) and a scalar with a NUL byte ("\0" in a double-quoted
 * scalar), which C strings would cut short. */
static int event_check(parse_state *ps, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const char *tag = event_tag(ev);
    if (tag) {
        size_t core = strlen(YAML_CORE_TAG_PREFIX);
        int is_core = !strncmp(tag, YAML_CORE_TAG_PREFIX, core);
        KT_ERROR(ps->err, ps->file, line, col, "tags are not supported (found '%s%s')", is_core ? "!!" : "",
                 is_core ? tag + core : tag);
        return -1;
    }
    if (ev->type == YAML_SCALAR_EVENT && strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
        KT_ERROR(ps->err, ps->file, line, col, "NUL bytes are not allowed in a value");
        return -1;
    }
    return 0;
}

static conf_node *located(parse_state *ps, conf_kind kind, const yaml_event_t *ev)
{
    return node_new(kind, ps->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1);
}

static conf_node *parse_scalar(parse_state *ps, yaml_event_t *ev)
{
    conf_node *n = located(ps, CONF_SCALAR, ev);
    if (!n)
        return NULL;
    n->value = dup_str((const char *)ev->data.scalar.value);
    n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return n;
}

static conf_node *parse_seq(parse_state *ps, yaml_event_t *start, int depth)
{
    conf_node *n = located(ps, CONF_SEQ, start);
    yaml_event_t ev;
    while (n) {
        if (next_event(ps, &ev) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        conf_node *kid = parse_node(ps, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!kid || node_add(n, kid) < 0) {
            conf_free(kid);
            break;
        }
    }
    conf_free(n);
    return NULL;
}

/* Reads one "key: value" pair of a mapping whose key event is kev. */
static int parse_pair(parse_state *ps, conf_node *map, yaml_event_t *kev, int depth)
{
    if (kev->type != YAML_SCALAR_EVENT) {
        KT_ERROR(ps->err, ps->file, (int)kev->start_mark.line + 1, (int)kev->start_mark.column + 1,
                 "%s%smapping keys must be plain scalars", map->path, *map->path ? ": " : "");
        return -1;
    }
    if (event_check(ps, kev) < 0)
        return -1;
    const char *key = (const char *)kev->data.scalar.value;
    conf_node *prev = conf_find(map, key);
    if (prev) {
        KT_ERROR(ps->err, ps->file, (int)kev->start_mark.line + 1, (int)kev->start_mark.column + 1,
                 "%s%s%s: duplicate key (first given at line %d)", map->path,
                 *map->path ? "." : "", key, prev->line);
        return -1;
    }
    char *key_copy = dup_str(key);
    yaml_event_t vev;
    if (next_event(ps, &vev) < 0) {
        free(key_copy);
        return -1;
    }
    conf_node *val = parse_node(ps, &vev, depth + 1);
    yaml_event_delete(&vev);
    if (!val || node_add(map, val) < 0) {
        free(key_copy);
        conf_free(val);
        return -1;
    }
    val->key = key_copy;
    return 0;
}

static conf_node *parse_map(parse_state *ps, yaml_event_t *start, int depth)
{
    conf_node *n = located(ps, CONF_MAP, start);
    yaml_event_t ev;
    while (n) {
        if (next_event(ps, &ev) < 0)
            break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        int rc = parse_pair(ps, n, &ev, depth);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    conf_free(n);
    return NULL;
}

/* Builds the node that starts with event ev (not consumed here: the caller
 * deletes ev). Returns NULL with ps->err set on failure. */
static conf_node *parse_node(parse_state *ps, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > CONF_MAX_DEPTH) {
        KT_ERROR(ps->err, ps->file, line, col, "nesting deeper than %d levels", CONF_MAX_DEPTH);
        return NULL;
    }
    if (event_check(ps, ev) < 0)
        return NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(ps, ev);
    case YAML_SEQUENCE_START_EVENT:
        return parse_seq(ps, ev, depth);
    case YAML_MAPPING_START_EVENT:
        return parse_map(ps, ev, depth);
    case YAML_ALIAS_EVENT:
        KT_ERROR(ps->err, ps->file, line, col, "YAML aliases (*name) are not supported");
        return NULL;
    default:
        KT_ERROR(ps->err, ps->file, line, col, "unexpected YAML event");
        return NULL;
    }
}

/* Expects an event of type t next; otherwise describes what was found. */
static int expect_event(parse_state *ps, yaml_event_type_t t, const char *what)
{
    yaml_event_t ev;
    if (next_event(ps, &ev) < 0)
        return -1;
    int ok = ev.type == t;
    if (!ok)
        KT_ERROR(ps->err, ps->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, "%s", what);
    yaml_event_delete(&ev);
    return ok ? 0 : -1;
}

static conf_node *parse_stream(parse_state *ps)
{
    yaml_event_t ev;
    if (expect_event(ps, YAML_STREAM_START_EVENT, "not a YAML stream") < 0)
        return NULL;
    if (next_event(ps, &ev) < 0)
        return NULL;
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        /* Nothing but comments and blanks: located where the stream ends. */
        KT_ERROR(ps->err, ps->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                 "empty file: expected a YAML mapping");
        yaml_event_delete(&ev);
        return NULL;
    }
    yaml_event_delete(&ev);
    if (next_event(ps, &ev) < 0)
        return NULL;
    conf_node *root = parse_node(ps, &ev, 0);
    yaml_event_delete(&ev);
    if (root && (expect_event(ps, YAML_DOCUMENT_END_EVENT, "expected the end of the document") < 0 ||
                 expect_event(ps, YAML_STREAM_END_EVENT,
                              "only one YAML document per file is supported") < 0)) {
        conf_free(root);
        return NULL;
    }
    if (root)
        node_repath(root, NULL, 0);
    return root;
}

conf_node *conf_parse_string(const char *text, size_t len, const char *name, kt_err *err)
{
    parse_state ps = { .file = name, .text = text, .len = len, .err = err };
    if (!yaml_parser_initialize(&ps.parser)) {
        KT_ERROR(err, name, 0, 0, "cannot initialize the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&ps.parser, (const unsigned char *)text, len);
    conf_node *root = parse_stream(&ps);
    yaml_parser_delete(&ps.parser);
    return root;
}

conf_node *conf_parse_file(const char *path, kt_err *err)
{
    FILE *f = infile_open(path, err);
    if (!f)
        return NULL;
    parse_state ps = { .file = path, .err = err };
    if (!yaml_parser_initialize(&ps.parser)) {
        fclose(f);
        KT_ERROR(err, path, 0, 0, "cannot initialize the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_file(&ps.parser, f);
    conf_node *root = parse_stream(&ps);
    yaml_parser_delete(&ps.parser);
    fclose(f);
    return root;
}

/* ---------- scalar readers ---------- */

/* Checks that n is a scalar with some value; YAML's null spellings count as none. */
static int need_value(const conf_node *n, kt_err *err)
{
    if (conf_expect(n, CONF_SCALAR, err) < 0)
        return -1;
    const char *v = n->value;
    if (!n->quoted && (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
                       !strcmp(v, "NULL"))) {
        CONF_ERROR(err, n, "has no value");
        return -1;
    }
    return 0;
}

/* Numbers must be plain: a quoted "8" is a string in YAML. */
static int need_plain(const conf_node *n, const char *what, kt_err *err)
{
    if (need_value(n, err) < 0)
        return -1;
    if (n->quoted) {
        CONF_ERROR(err, n, "expected %s, found the quoted string \"%s\"", what, n->value);
        return -1;
    }
    return 0;
}

int conf_scalar_str(conf_node *n, const char **out, kt_err *err)
{
    n->used = 1;
    if (need_value(n, err) < 0)
        return -1;
    *out = n->value;
    return 0;
}

int conf_overrides(conf_node *seq, int max, char **sets, int *n, kt_err *err)
{
    if (conf_expect(seq, CONF_SEQ, err) < 0)
        return -1;
    if (seq->n_kids > (size_t)(max - *n)) {
        CONF_ERROR(err, seq, "%zu overrides, at most %d", seq->n_kids, max);
        return -1;
    }
    for (size_t i = 0; i < seq->n_kids; i++) {
        const char *s;
        if (conf_scalar_str(seq->kids[i], &s, err) < 0)
            return -1;
        if (!strchr(s, '=')) {
            CONF_ERROR(err, seq->kids[i], "override '%s' is not KEY=VALUE", s);
            return -1;
        }
        if (!(sets[*n] = strdup(s))) {
            CONF_ERROR(err, seq->kids[i], "out of memory");
            return -1;
        }
        (*n)++;
    }
    return 0;
}

int conf_scalar_i64(conf_node *n, int64_t lo, int64_t hi, int64_t *out, kt_err *err)
{
    n->used = 1;
    if (need_plain(n, "an integer", err) < 0)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(n->value, &end, 10);
    if (*end || end == n->value || errno == ERANGE) {
        CONF_ERROR(err, n, "expected an integer, found '%s'", n->value);
        return -1;
    }
    if (v < lo || v > hi) {
        CONF_ERROR(err, n, "%lld is out of range [%lld, %lld]", v, (long long)lo, (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

int conf_scalar_f64(conf_node *n, double lo, double hi, double *out, kt_err *err)
{
    n->used = 1;
    if (need_plain(n, "a number", err) < 0)
        return -1;
    char *end;
    errno = 0;
    double v = units_strtod(n->value, &end);
    if (*end || end == n->value || errno == ERANGE || !isfinite(v)) {
        CONF_ERROR(err, n, "expected a number, found '%s'", n->value);
        return -1;
    }
    if (v < lo || v > hi) {
        CONF_ERROR(err, n, "%g is out of range [%g, %g]", v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int conf_scalar_bool(conf_node *n, int *out, kt_err *err)
{
    n->used = 1;
    if (need_plain(n, "true or false", err) < 0)
        return -1;
    if (!strcmp(n->value, "true") || !strcmp(n->value, "True")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(n->value, "false") || !strcmp(n->value, "False")) {
        *out = 0;
        return 0;
    }
    CONF_ERROR(err, n, "expected true or false, found '%s'", n->value);
    return -1;
}

int conf_scalar_enum(conf_node *n, const char *const *names, int *out, kt_err *err)
{
    n->used = 1;
    if (need_value(n, err) < 0)
        return -1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(n->value, names[i])) {
            *out = i;
            return 0;
        }
    char list[512] = "";
    size_t count = 0;
    for (; names[count]; count++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", count ? ", " : "", names[count]);
    }
    suggest_append(list, sizeof list, n->value, names, count);
    CONF_ERROR(err, n, "'%s' is not one of: %s", n->value, list);
    return -1;
}

int conf_scalar_qty(conf_node *n, units_kind kind, double lo, double hi, double *out, kt_err *err)
{
    n->used = 1;
    if (need_value(n, err) < 0)
        return -1;
    char why[256];
    double v;
    if (units_parse(n->value, kind, &v, why, sizeof why) < 0) {
        CONF_ERROR(err, n, "'%s': %s (write e.g. %s)", n->value, why, units_example(kind));
        return -1;
    }
    if (v < lo || v > hi) {
        char a[64], b[64], c[64];
        CONF_ERROR(err, n, "%s is out of range [%s, %s]", units_format(v, kind, a, sizeof a),
                   units_format(lo, kind, b, sizeof b), units_format(hi, kind, c, sizeof c));
        return -1;
    }
    *out = v;
    return 0;
}

int conf_i64_of(const conf_node *at, double v, int64_t *out, kt_err *err)
{
    if (units_i64_of(v, out) == 0)
        return 0;
    CONF_ERROR(err, at, "%.17g does not fit in a 64-bit integer", v);
    return -1;
}

int conf_scalar_ns(conf_node *n, int64_t lo, int64_t hi, int64_t *out, kt_err *err)
{
    double v;
    if (conf_scalar_qty(n, UNITS_DURATION, (double)lo, (double)hi, &v, err) < 0)
        return -1;
    return conf_i64_of(n, v, out, err);
}

/* ---------- map readers ---------- */

/* Takes key from map. Returns 1 with *out set when present, 0 when absent and
 * optional, -1 with err when map is not a mapping or a required key is absent. */
static int take_key(conf_node *map, const char *key, conf_need need, conf_node **out, kt_err *err)
{
    if (conf_expect(map, CONF_MAP, err) < 0)
        return -1;
    *out = conf_take(map, key);
    if (*out)
        return 1;
    if (need == CONF_OPTIONAL)
        return 0;
    CONF_ERROR(err, map, "missing required key '%s'", key);
    return -1;
}

int conf_str(conf_node *map, const char *key, conf_need need, const char **out, kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_str(n, out, err);
}

int conf_str_copy(conf_node *map, const char *key, conf_need need, char *dst, size_t cap, kt_err *err)
{
    conf_node *n;
    const char *s;
    int rc = take_key(map, key, need, &n, err);
    if (rc <= 0)
        return rc;
    if (conf_scalar_str(n, &s, err) < 0)
        return -1;
    if (strlen(s) >= cap) {
        CONF_ERROR(err, n, "is %zu characters long, at most %zu", strlen(s), cap - 1);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int conf_i64(conf_node *map, const char *key, conf_need need, int64_t lo, int64_t hi, int64_t *out,
             kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_i64(n, lo, hi, out, err);
}

int conf_int(conf_node *map, const char *key, conf_need need, int lo, int hi, int *out, kt_err *err)
{
    int64_t v = *out;
    int rc = conf_i64(map, key, need, lo, hi, &v, err);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

int conf_f64(conf_node *map, const char *key, conf_need need, double lo, double hi, double *out,
             kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_f64(n, lo, hi, out, err);
}

int conf_bool(conf_node *map, const char *key, conf_need need, int *out, kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_bool(n, out, err);
}

int conf_enum(conf_node *map, const char *key, conf_need need, const char *const *names, int *out,
              kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_enum(n, names, out, err);
}

int conf_qty(conf_node *map, const char *key, conf_need need, units_kind kind, double lo, double hi,
             double *out, kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_qty(n, kind, lo, hi, out, err);
}

int conf_ns(conf_node *map, const char *key, conf_need need, int64_t lo, int64_t hi, int64_t *out,
            kt_err *err)
{
    conf_node *n;
    int rc = take_key(map, key, need, &n, err);
    return rc <= 0 ? rc : conf_scalar_ns(n, lo, hi, out, err);
}

/* ---------- unused keys ---------- */

int conf_check_unused(const conf_node *root, kt_err *err)
{
    for (size_t i = 0; i < root->n_kids; i++) {
        const conf_node *k = root->kids[i];
        if (root->kind == CONF_MAP && !k->used) {
            char hint[128] = "";
            suggest_append(hint, sizeof hint, k->key, (const char *const *)root->asked, root->n_asked);
            CONF_ERROR(err, k, "unknown key%s", hint);
            return -1;
        }
        if (k->kind != CONF_SCALAR && conf_check_unused(k, err) < 0)
            return -1;
    }
    return 0;
}

/* ---------- overrides ---------- */

/* Walks/creates maps along the dotted path up to its last component.
 * Returns the map that holds the last key, with *last pointing into buf. */
static conf_node *set_walk(conf_node *root, char *buf, char **last, const char *arg, kt_err *err)
{
    conf_node *map = root;
    char *part = buf, *dot;
    while ((dot = strchr(part, '.'))) {
        *dot = '\0';
        conf_node *next = conf_find(map, part);
        if (!next) {
            next = node_new(CONF_MAP, "--set", 1, (int)(part - buf) + 1);
            if (!next || node_add(map, next) < 0) {
                conf_free(next);
                return NULL;
            }
            next->key = dup_str(part);
            node_repath(next, map->path, 0);
        } else if (next->kind != CONF_MAP) {
            KT_ERROR(err, "--set", 1, (int)(part - buf) + 1, "%s: '%s' is not a mapping", arg, next->path);
            return NULL;
        }
        map = next;
        part = dot + 1;
    }
    *last = part;
    return map;
}

int conf_set(conf_node *root, const char *assignment, kt_err *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment || conf_expect(root, CONF_MAP, err) < 0) {
        if (!eq || eq == assignment)
            KT_ERROR(err, "--set", 1, 1, "'%s': expected KEY.PATH=VALUE", assignment);
        return -1;
    }
    size_t klen = (size_t)(eq - assignment);
    char *path = malloc(klen + 1);
    memcpy(path, assignment, klen);
    path[klen] = '\0';
    if (strstr(path, "..") || path[0] == '.' || path[klen - 1] == '.') {
        KT_ERROR(err, "--set", 1, 1, "'%s': empty key in path", assignment);
        free(path);
        return -1;
    }
    char *last;
    conf_node *map = set_walk(root, path, &last, assignment, err);
    conf_node *val = map ? conf_parse_string(eq + 1, strlen(eq + 1), "--set", err) : NULL;
    if (!val) {
        if (map && err)
            err->col += (int)klen + 1;  /* locate within the whole argument */
        free(path);
        return -1;
    }
    val->key = dup_str(last);
    val->line = 1;
    val->col = (int)klen + 2;
    conf_node *old = conf_find(map, last);
    if (old) {
        for (size_t i = 0; i < map->n_kids; i++)
            if (map->kids[i] == old)
                map->kids[i] = val;
        conf_free(old);
    } else if (node_add(map, val) < 0) {
        conf_free(val);
        free(path);
        return -1;
    }
    node_repath(val, map->path, 0);
    free(path);
    return 0;
}

/* ---------- files by name ---------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* 1 when path is a regular file; 0 otherwise, with errno from stat (0 when
 * it exists but is something else). */
static int is_regular_file(const char *path)
{
    struct stat st;
    errno = 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define CONF_MAX_NAMES 256

/* Collects the NAME.yaml names found in dirs into names (at most
 * CONF_MAX_NAMES, malloc'd; the caller frees each), sorted, once each.
 * Returns the count. */
static size_t collect_names(const char *const *dirs, char **names)
{
    size_t count = 0;
    for (size_t i = 0; dirs && dirs[i]; i++) {
        DIR *dir = opendir(dirs[i]);
        if (!dir)
            continue;
        struct dirent *e;
        while ((e = readdir(dir)) && count < CONF_MAX_NAMES) {
            if (e->d_name[0] == '.' || !ends_with(e->d_name, ".yaml"))
                continue;
            names[count] = strndup(e->d_name, strlen(e->d_name) - strlen(".yaml"));
            if (names[count])
                count++;
        }
        closedir(dir);
    }
    qsort(names, count, sizeof names[0], cmp_str);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept > 0 && strcmp(names[i], names[kept - 1]) == 0)
            free(names[i]);
        else
            names[kept++] = names[i];
    }
    return kept;
}

/* Writes "a, b, c" (or "none") for the count names into buf (n bytes). */
static void join_names(char *const *names, size_t count, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", names[i]);
    }
    if (!buf[0])
        snprintf(buf, n, "none");
}

int conf_resolve_named(const char *name, const char *const *dirs, const char *what, char *path, size_t n,
                       kt_err *err)
{
    if (!name || !*name) {
        KT_ERROR(err, NULL, 0, 0, "%s name is empty", what);
        return -1;
    }
    if (strchr(name, '/') || ends_with(name, ".yaml")) {
        snprintf(path, n, "%s", name);
        return 0;
    }
    char searched[1024] = "";
    for (size_t i = 0; dirs && dirs[i]; i++) {
        int len = snprintf(path, n, "%s/%s.yaml", dirs[i], name);
        if (len > 0 && (size_t)len < n && is_regular_file(path))
            return 0;
        /* Present but unreadable (a symlink loop, no permission): say which
         * path, rather than "no such card". */
        if (len > 0 && (size_t)len < n && errno != ENOENT && errno != ENOTDIR && errno != 0) {
            KT_ERROR(err, path, 0, 0, "%s '%s': %s: %s", what, name, path, strerror(errno));
            return -1;
        }
        size_t used = strlen(searched);
        snprintf(searched + used, sizeof searched - used, "%s%s", used ? ", " : "", dirs[i]);
    }
    char *names[CONF_MAX_NAMES], known[512], hint[160] = "";
    size_t count = collect_names(dirs, names);
    join_names(names, count, known, sizeof known);
    suggest_append(hint, sizeof hint, name, (const char *const *)names, count);
    KT_ERROR(err, NULL, 0, 0, "no %s '%s'%s (looked for %s.yaml in: %s; available: %s)", what, name, hint, name,
             searched[0] ? searched : "no directories", known);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    return -1;
}

/* Builds an object from root (NULL: parsing failed, err set) and reports
 * keys build did not read. Frees root; returns the object or NULL. */
static void *build_strict(conf_node *root, void *(*build)(conf_node *root, kt_err *err),
                          void (*destroy)(void *obj), kt_err *err)
{
    if (!root)
        return NULL;
    void *obj = build(root, err);
    if (obj && conf_check_unused(root, err) < 0) {
        destroy(obj);
        obj = NULL;
    }
    conf_free(root);
    return obj;
}

void *conf_load_strict(const char *path, void *(*build)(conf_node *root, kt_err *err),
                       void (*destroy)(void *obj), kt_err *err)
{
    return build_strict(conf_parse_file(path, err), build, destroy, err);
}

void *conf_load_strict_string(const char *text, size_t len, const char *name,
                              void *(*build)(conf_node *root, kt_err *err), void (*destroy)(void *obj),
                              kt_err *err)
{
    return build_strict(conf_parse_string(text, len, name, err), build, destroy, err);
}

/* ---------- output ---------- */

typedef struct outbuf { char *p; size_t len, cap; } outbuf;

static int out_write(void *data, unsigned char *buf, size_t size)
{
    outbuf *o = data;
    char *p = size + 1 <= SIZE_MAX - o->len ? grow_array(o->p, &o->cap, o->len + size + 1, 1) : NULL;
    if (!p)
        return 0;
    o->p = p;
    memcpy(o->p + o->len, buf, size);
    o->len += size;
    o->p[o->len] = '\0';
    return 1;
}

/* Emits v in style: YAML_DOUBLE_QUOTED_SCALAR_STYLE keeps a quoted scalar
 * a string; YAML_ANY_SCALAR_STYLE lets libyaml choose (plain when it can). */
static int emit_scalar(yaml_emitter_t *em, const char *v, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int plain_implicit = style != YAML_DOUBLE_QUOTED_SCALAR_STYLE, quoted_implicit = 1;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), plain_implicit, quoted_implicit,
                                 style);
    return yaml_emitter_emit(em, &ev);
}

static yaml_scalar_style_t node_style(const conf_node *n)
{
    return n->quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
}

static int emit_node(yaml_emitter_t *em, const conf_node *n)
{
    yaml_event_t ev;
    /* An empty plain scalar is YAML's null; "~" keeps it one where nothing
     * would vanish (a document holding only a null). */
    if (n->kind == CONF_SCALAR)
        return emit_scalar(em, !n->quoted && !*n->value ? "~" : n->value, node_style(n));
    if (n->kind == CONF_SEQ)
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_SEQUENCE_STYLE);
    else
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    if (!yaml_emitter_emit(em, &ev))
        return 0;
    for (size_t i = 0; i < n->n_kids; i++) {
        if (n->kind == CONF_MAP && !emit_scalar(em, n->kids[i]->key, YAML_ANY_SCALAR_STYLE))
            return 0;
        if (!emit_node(em, n->kids[i]))
            return 0;
    }
    if (n->kind == CONF_SEQ)
        yaml_sequence_end_event_initialize(&ev);
    else
        yaml_mapping_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev);
}

void conf_path_beside(const char *file, const char *rel, char *out, size_t n)
{
    const char *slash = strrchr(file, '/');
    if (rel[0] == '/' || !slash)
        snprintf(out, n, "%s", rel);
    else
        snprintf(out, n, "%.*s/%s", (int)(slash - file), file, rel);
}

char *conf_to_yaml(const conf_node *root)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    outbuf o = { 0 };
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, out_write, &o);
    yaml_emitter_set_unicode(&em, 1);
    int ok = 1;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && emit_node(&em, root);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    if (!ok) {
        free(o.p);
        return NULL;
    }
    return o.p;
}

/* ---------- flow output ---------- */

/* Flow text is written by hand, not by libyaml's emitter: a sweep value's
 * flow text is stored with its point, and the emitter writes what needs
 * quotes single-quoted (line breaks kept as breaks), and \N, \L, \P, \r
 * where this writer writes code points, so stored parameters would change
 * though they read back the same. */

/* Unicode limits of YAML's printable set and the escapes outside it. */
#define UTF8_MAX_BYTES 4
#define CP_MAX 0x10FFFFu
#define CP_LINE_SEPARATOR 0x2028u
#define CP_PARAGRAPH_SEPARATOR 0x2029u
#define CP_BOM 0xFEFFu

/* Decodes the UTF-8 character at p into *cp and returns its length; a byte
 * that starts no well-formed character is returned alone as *cp. */
static int utf8_decode(const unsigned char *p, uint32_t *cp)
{
    int n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    uint32_t c = n > 1 ? p[0] & (0x7Fu >> n) : p[0];
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            n = 0;
        else
            c = c << 6 | (p[i] & 0x3F);
    }
    *cp = n ? c : p[0];
    return n ? n : 1;
}

/* 1 when libyaml reads code point c back as itself inside a double-quoted
 * scalar: printable (YAML 1.1, 5.1) and not a line break. */
static int yaml_keeps(uint32_t c)
{
    return c == '\t' || (c >= 0x20 && c <= 0x7E) ||
           (c >= 0xA0 && c <= 0xD7FF && c != CP_LINE_SEPARATOR && c != CP_PARAGRAPH_SEPARATOR) ||
           (c >= 0xE000 && c <= 0xFFFD && c != CP_BOM) || (c >= 0x10000 && c <= CP_MAX);
}

/* 1 when v holds a character YAML would not read back as itself. */
static int has_unprintable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p;) {
        uint32_t c;
        p += utf8_decode(p, &c);
        if (!yaml_keeps(c))
            return 1;
    }
    return 0;
}

/* A plain scalar that flow context would read differently (a comma ends an
 * item, ": " starts a pair, an indicator first changes its meaning; in flow
 * context '?' and ':' first are indicators whatever follows, and libyaml
 * refuses ":?" inside a plain scalar; spaces at either end are trimmed;
 * line breaks fold; "---" or "..." first in a line marks a document; a
 * tab is a blank, so ":\t" starts a pair and "\t#" a comment). */
static int plain_needs_quotes(const char *v)
{
    if (!*v)
        return 0;
    size_t len = strlen(v);
    if (strchr("#&*!|>'\"%@`?: ", v[0]) || (v[0] == '-' && (v[1] == ' ' || !v[1])) ||
        strpbrk(v, ",[]{}\t") || has_unprintable(v) || !strncmp(v, "---", 3) || !strncmp(v, "...", 3))
        return 1;
    return strstr(v, ": ") || strstr(v, " #") || strstr(v, ":?") || v[len - 1] == ':' || v[len - 1] == ' ';
}

/* Appends v double-quoted: '"', '\\', newline and tab escaped by name,
 * characters YAML would not read back as themselves by code point. */
static int flow_quoted(outbuf *o, const char *v)
{
    int ok = out_write(o, (unsigned char *)"\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; ok && *p;) {
        char esc[16];
        uint32_t c;
        int len = utf8_decode(p, &c);
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", (char)c);
        else if (c == '\n' || c == '\t')
            snprintf(esc, sizeof esc, "\\%c", c == '\n' ? 'n' : 't');
        else if (yaml_keeps(c))
            snprintf(esc, sizeof esc, "%.*s", len, (const char *)p);
        else if (c <= 0xFF)
            snprintf(esc, sizeof esc, "\\x%02X", (unsigned)c);
        else if (c <= 0xFFFF)
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)c);
        else
            snprintf(esc, sizeof esc, "\\U%08X", (unsigned)c);
        ok = out_write(o, (unsigned char *)esc, strlen(esc));
        p += len;
    }
    return ok && out_write(o, (unsigned char *)"\"", 1);
}

static int flow_text(outbuf *o, const char *s)
{
    return out_write(o, (unsigned char *)s, strlen(s));
}

/* Longest key written implicitly: libyaml's own writer's limit, well
 * inside the 1024 characters a reader allows even when every byte is
 * written as a 4-character escape. */
#define FLOW_SIMPLE_KEY_BYTES 128

static int flow_node(outbuf *o, const conf_node *n)
{
    if (n->kind == CONF_SCALAR) {
        /* An empty plain scalar is YAML's null; "~" keeps it one. */
        if (!n->quoted && !*n->value)
            return flow_text(o, "~");
        return n->quoted || plain_needs_quotes(n->value) ? flow_quoted(o, n->value) : flow_text(o, n->value);
    }
    int ok = flow_text(o, n->kind == CONF_SEQ ? "[" : "{");
    for (size_t i = 0; ok && i < n->n_kids; i++) {
        if (i)
            ok = flow_text(o, ", ");
        /* An empty key is written "": plain, nothing would be there. A
         * long key is written explicit ("? key: value"): YAML reads an
         * implicit key only within 1024 characters of its ':'. */
        const char *key = n->kids[i]->key;
        if (ok && n->kind == CONF_MAP)
            ok = (strlen(key) <= FLOW_SIMPLE_KEY_BYTES || flow_text(o, "? ")) &&
                 (!*key || plain_needs_quotes(key) ? flow_quoted(o, key) : flow_text(o, key)) &&
                 flow_text(o, ": ");
        ok = ok && flow_node(o, n->kids[i]);
    }
    return ok && flow_text(o, n->kind == CONF_SEQ ? "]" : "}");
}

char *conf_to_flow(const conf_node *n)
{
    outbuf o = { 0 };
    if (!flow_text(&o, "") || !flow_node(&o, n)) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
