/* conf.h — YAML documents as trees that remember file:line:col, read through strict typed accessors. */
#ifndef KT_CONF_H
#define KT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "units.h"

typedef enum { CONF_SCALAR, CONF_MAP, CONF_SEQ } conf_kind;

/* One YAML node.
 * Invariants: a MAP's kids all have key != NULL, pairwise distinct (duplicates
 * are rejected at parse time); a SEQ's kids have key == NULL; a SCALAR has
 * value != NULL and no kids; path is the dotted path from the document root
 * ("kv.block_size", "layers[3].kind"), "" for the root; file/line/col give the
 * node's start (1-based). used is set when an accessor has read the node, so
 * conf_check_unused can report keys nobody asked for. */
typedef struct conf_node {
    conf_kind kind;
    char *key;               /* key in the parent map, or NULL */
    char *value;             /* scalar text */
    char *path;
    char *file;
    int line, col;
    int quoted;              /* scalar was single- or double-quoted */
    int used;
    struct conf_node **kids;
    size_t n_kids, cap_kids;
    char **asked;            /* keys a reader took (or tried to) from this map: the known keys an unknown one is compared with */
    size_t n_asked, cap_asked;
} conf_node;

/* Parses one YAML document. Returns the root (caller frees with conf_free)
 * or NULL with err set (syntax errors carry libyaml's mark). Aliases, any
 * explicit tag ("!!str", "!foo"), NUL bytes in a scalar and multiple
 * documents are rejected at their position. */
conf_node *conf_parse_file(const char *path, kt_err *err);
conf_node *conf_parse_string(const char *text, size_t len, const char *name, kt_err *err);
void conf_free(conf_node *n);

/* Records an error located at node n, message prefixed with n's path:
 * "file:line:col: path: message". */
/* v, a figure read at node at (or worked out from it), rounded into an
 * int64 by units_i64_of. Returns 0, or -1 with a located error naming the
 * key when it does not fit. */
int conf_i64_of(const conf_node *at, double v, int64_t *out, kt_err *err);

#define CONF_ERROR(err, n, ...) conf_error_at((err), __FILE__, __LINE__, (n), __VA_ARGS__)
void conf_error_at(kt_err *err, const char *src_file, int src_line, const conf_node *n,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Child of a map by key, or NULL. conf_find does not mark it used; conf_take
 * does, and records key as one the map is known to take (for the did-you-mean
 * of conf_check_unused), whether present or not. */
conf_node *conf_find(const conf_node *map, const char *key);
conf_node *conf_take(conf_node *map, const char *key);
/* Marks n and everything below it used (for free-form subtrees such as "source"). */
void conf_mark_used(conf_node *n);

/* Checks a node's kind; on mismatch sets err ("expected a mapping") and returns -1. */
int conf_expect(const conf_node *n, conf_kind kind, kt_err *err);

/* Scalar readers: convert one scalar node. All return 0, or -1 with err set
 * at the node (wrong type, out of [lo, hi], unknown name, bad unit). */
int conf_scalar_str(conf_node *n, const char **out, kt_err *err);
/* Reads seq, a sequence of "KEY=VALUE" overrides (as --set takes them),
 * appending owned copies to sets[*n..]; at most max in all. Returns 0, or -1
 * with err located at the offending node (the copies made stay in sets for
 * the caller to free). */
int conf_overrides(conf_node *seq, int max, char **sets, int *n, kt_err *err);
int conf_scalar_i64(conf_node *n, int64_t lo, int64_t hi, int64_t *out, kt_err *err);
int conf_scalar_f64(conf_node *n, double lo, double hi, double *out, kt_err *err);
int conf_scalar_bool(conf_node *n, int *out, kt_err *err);
/* names: NULL-terminated list; *out is the index of the match. */
int conf_scalar_enum(conf_node *n, const char *const *names, int *out, kt_err *err);
int conf_scalar_qty(conf_node *n, units_kind kind, double lo, double hi, double *out, kt_err *err);
int conf_scalar_ns(conf_node *n, int64_t lo, int64_t hi, int64_t *out, kt_err *err);

/* Whether a map reader's key must be there. */
typedef enum conf_need { CONF_OPTIONAL = 0, CONF_REQUIRED = 1 } conf_need;

/* CONF_REQUIRED when cond holds (a key needed only by some configurations), else CONF_OPTIONAL. */
static inline conf_need conf_required_if(int cond)
{
    return cond ? CONF_REQUIRED : CONF_OPTIONAL;
}

/* Map readers: take key from map and convert it. When the key is absent:
 * CONF_REQUIRED -> error at the map ("missing required key 'x'"); otherwise
 * *out is left as it was (so callers set defaults first) and 0 is returned. */
int conf_str(conf_node *map, const char *key, conf_need need, const char **out, kt_err *err);
/* Copies the string into dst (cap bytes); a longer one is an error at its node. */
int conf_str_copy(conf_node *map, const char *key, conf_need need, char *dst, size_t cap, kt_err *err);
int conf_i64(conf_node *map, const char *key, conf_need need, int64_t lo, int64_t hi, int64_t *out, kt_err *err);
int conf_int(conf_node *map, const char *key, conf_need need, int lo, int hi, int *out, kt_err *err);
int conf_f64(conf_node *map, const char *key, conf_need need, double lo, double hi, double *out, kt_err *err);
int conf_bool(conf_node *map, const char *key, conf_need need, int *out, kt_err *err);
int conf_enum(conf_node *map, const char *key, conf_need need, const char *const *names, int *out, kt_err *err);
int conf_qty(conf_node *map, const char *key, conf_need need, units_kind kind, double lo, double hi, double *out, kt_err *err);
int conf_ns(conf_node *map, const char *key, conf_need need, int64_t lo, int64_t hi, int64_t *out, kt_err *err);

/* Finds the first key (in document order) that no accessor read and reports
 * "path: unknown key" at it, with "(did you mean 'K'?)" when a key a reader
 * asked that map for is a likely typo of it. Returns 0 when all were read. */
int conf_check_unused(const conf_node *root, kt_err *err);

/* Applies an override "a.b.c=value": the scalar at that path is replaced
 * (maps on the way are created when missing). value is parsed as a YAML
 * flow value, so "--set workload.turns=[1,2]" works. The new nodes are
 * located at file "--set", column = position in the argument. */
int conf_set(conf_node *root, const char *assignment, kt_err *err);

/* Resolves a data file by name: a name containing '/' or ending in ".yaml"
 * is a path used as given; otherwise the first DIR/NAME.yaml among the
 * NULL-terminated dirs. Writes the path into path (n bytes) and returns 0,
 * or -1 with err naming what was looked for ("no <what> 'NAME' (looked for
 * NAME.yaml in: ...; available: ...)"), or the path that is there but cannot
 * be read ("<what> 'NAME': DIR/NAME.yaml: Too many levels of symbolic links"). */
int conf_resolve_named(const char *name, const char *const *dirs, const char *what, char *path, size_t n,
                       kt_err *err);

/* Loads a file strictly: parses it, builds an object with build(root, err),
 * then reports any key build did not read as unknown. Frees the tree.
 * Returns the object (caller owns it), or NULL with err; on a late failure
 * the object is released with destroy. */
void *conf_load_strict(const char *path, void *(*build)(conf_node *root, kt_err *err),
                       void (*destroy)(void *obj), kt_err *err);
/* The same for YAML text of len bytes (not NUL-terminated) that errors call name. */
void *conf_load_strict_string(const char *text, size_t len, const char *name,
                              void *(*build)(conf_node *root, kt_err *err), void (*destroy)(void *obj),
                              kt_err *err);

/* rel as seen from the directory of file (rel itself when absolute or when
 * file has no directory part), written into out (n bytes). */
void conf_path_beside(const char *file, const char *rel, char *out, size_t n);

/* Writes the tree back as YAML (for storing the effective scenario). */
char *conf_to_yaml(const conf_node *root);

/* Writes node n as one line of YAML flow text ("2/s", "[1, 2]", "{a: 1}")
 * that conf_set and conf_parse_string read back as the same tree: quoted
 * scalars stay quoted, plain ones stay plain unless a flow indicator forces
 * quotes. Returns a malloc'd string the caller frees, or NULL (memory). */
char *conf_to_flow(const conf_node *n);

#endif
