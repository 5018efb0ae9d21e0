/* sweep.h — parameter sweeps: a base scenario, fixed overrides and axes whose cartesian product numbers the points. */
#ifndef KT_SWEEP_H
#define KT_SWEEP_H

#include <stdint.h>

#include "err.h"
#include "scenario.h"

/* Hex digits of a sweep's key (128 bits). */
#define SWEEP_KEY_HEX 32
/* More points than this is a slip (a step a thousand times too small), not
 * a plan; such a sweep is refused before any point is validated. */
#define SWEEP_MAX_POINTS 100000

/* One "key=value" override and where it was written.
 * Invariants: text is "key=value" with key_len >= 1 and text[key_len] ==
 * '='; value == text + key_len + 1; file == NULL (then line == col == 0)
 * for an override given on the command line, else the sweep's file. */
typedef struct sweep_set {
    char *text;
    const char *value;
    size_t key_len;
    const char *file;
    int line, col;
} sweep_set;

/* One axis: a scenario key and the values it takes, in order.
 * Invariants: n_values >= 1; every values[i] overrides key. */
typedef struct sweep_axis {
    char *key;
    sweep_set *values;
    int64_t n_values;
} sweep_axis;

/* A loaded sweep.
 * Invariants: n_axes >= 1; n_points is the product of the axes' n_values,
 * in [1, SWEEP_MAX_POINTS]; sets are the file's fixed overrides followed by
 * the command line's; base is the base scenario's path (one written
 * relative in the file is joined to the file's directory); key is
 * SWEEP_KEY_HEX hex digits hashing the base scenario's effective text
 * (after the fixed overrides) and the axes — the same for the same sweep
 * however its file is formatted, different when the base or an axis changes. */
typedef struct sweep {
    char *file, *name, *base;
    sweep_set *sets;
    int n_sets;
    sweep_axis *axes;
    int n_axes;
    int64_t n_points;
    char key[SWEEP_KEY_HEX + 1];
} sweep;

/* Loads a sweep file strictly (unknown keys, wrong types, empty axes are
 * errors at file:line:col) and appends the n_cli_sets "key=value"
 * overrides to its fixed ones. Points are not validated here (see
 * sweep_validate). Caller frees with sweep_free; NULL with err on failure. */
sweep *sweep_load(const char *path, char *const *cli_sets, int n_cli_sets, kt_err *err);
void sweep_free(sweep *sw);

/* Point p takes value (p / stride_j) % n_values of axis j, where stride_j is
 * the product of the later axes' n_values: the last axis varies fastest. */
int64_t sweep_value_index(const sweep *sw, int64_t point, int axis);

/* The value (YAML flow text) axis `axis` takes at point `point`; owned by sw. */
const char *sweep_point_value(const sweep *sw, int64_t point, int axis);

/* Fills sets[0 .. n_sets + n_axes) with point's overrides in the order they
 * apply: the fixed ones, then one per axis. The strings belong to sw.
 * Returns how many were written. */
int sweep_point_sets(const sweep *sw, int64_t point, char **sets);

/* The point's axis overrides, one per line ("a=1\nb=2"), as stored in
 * sweep_points.params. Caller frees; NULL when memory ran out. */
char *sweep_point_params(const sweep *sw, int64_t point);

/* Loads the base scenario with point's overrides. An error about an
 * override is located where the sweep file wrote it; every error ends by
 * naming the point and its overrides. Caller frees with scenario_free. */
scenario *sweep_point_scenario(const sweep *sw, int64_t point, kt_err *err);

/* Loads and validates every point's scenario; nothing runs. Returns 0, or
 * -1 with the first bad point's error. */
int sweep_validate(const sweep *sw, kt_err *err);

#endif
