/* preset.c — engine presets: an engine's serving defaults, read from engines/NAME.yaml, written into a scenario where it is silent. */
#include "preset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

const char *const preset_engine_names[PRESET_COUNT + 1] = { "vllm", "trtllm", "sglang", NULL };

/* Longest dotted key a preset sets, and room for its assignment. */
#define PRESET_KEY_MAX 128

/* The node at dotted path key under root, or NULL. */
static conf_node *find_path(conf_node *root, const char *key)
{
    char part[PRESET_KEY_MAX];
    conf_node *n = root;
    for (const char *p = key; n && *p;) {
        size_t len = strcspn(p, ".");
        if (len >= sizeof part)
            return NULL;
        memcpy(part, p, len);
        part[len] = 0;
        n = n->kind == CONF_MAP ? conf_find(n, part) : NULL;
        p += len + (p[len] == '.');
    }
    return n;
}

/* Where a preset's figure comes from: the engine's own default, read in
 * its source, or an estimate. */
static const char *const preset_status_names[] = { "default", "assumed", NULL };

/* One default: {value, status, source, note} under key d->key; written
 * into root as key=value unless root has the key. */
static int apply_default(conf_node *root, conf_node *d, kt_err *err)
{
    const char *source = NULL, *note = NULL;
    int status = 0;
    d->used = 1;                /* read here by position, not taken by key */
    conf_node *value = conf_take(d, "value");
    if (conf_expect(d, CONF_MAP, err) < 0 || conf_str(d, "source", CONF_REQUIRED, &source, err) < 0 ||
        conf_enum(d, "status", CONF_REQUIRED, preset_status_names, &status, err) < 0 ||
        conf_str(d, "note", CONF_OPTIONAL, &note, err) < 0)
        return -1;
    if (!value) {
        CONF_ERROR(err, d, "missing required key 'value'");
        return -1;
    }
    conf_mark_used(value);
    if (strlen(d->key) >= PRESET_KEY_MAX) {
        CONF_ERROR(err, d, "key longer than %d characters", PRESET_KEY_MAX - 1);
        return -1;
    }
    if (find_path(root, d->key))
        return 0;
    char *flow = conf_to_flow(value);
    size_t n = flow ? strlen(d->key) + strlen(flow) + 2 : 0;
    char *assignment = flow ? malloc(n) : NULL;
    int rc = -1;
    if (assignment) {
        snprintf(assignment, n, "%s=%s", d->key, flow);
        rc = conf_set(root, assignment, err);
    } else {
        CONF_ERROR(err, d, "out of memory");
    }
    free(assignment);
    free(flow);
    return rc;
}

/* Applies the defaults of the preset file path (for engine name) to root. */
static int apply_file(conf_node *root, const char *path, const char *name, kt_err *err)
{
    conf_node *p = conf_parse_file(path, err);
    if (!p)
        return -1;
    const char *engine = NULL, *version = NULL;
    conf_node *defaults = NULL;
    int rc = conf_expect(p, CONF_MAP, err) < 0 || conf_str(p, "engine", CONF_REQUIRED, &engine, err) < 0 ||
                     conf_str(p, "version", CONF_REQUIRED, &version, err) < 0
                 ? -1
                 : 0;
    if (rc == 0 && strcmp(engine, name) != 0) {
        CONF_ERROR(err, conf_find(p, "engine"), "this preset is for '%s', not '%s'", engine, name);
        rc = -1;
    }
    if (rc == 0 && (!(defaults = conf_take(p, "defaults")) || conf_expect(defaults, CONF_MAP, err) < 0)) {
        if (!defaults)
            CONF_ERROR(err, p, "missing required key 'defaults'");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < defaults->n_kids; i++)
        rc = apply_default(root, defaults->kids[i], err);
    if (rc == 0)
        rc = conf_check_unused(p, err);
    conf_free(p);
    return rc;
}

int preset_apply(conf_node *root, const char *file, int *out, kt_err *err)
{
    conf_node *at = conf_find(root, "engine");
    int engine = 0;
    *out = -1;
    if (!at)
        return 0;
    if (conf_enum(root, "engine", CONF_OPTIONAL, preset_engine_names, &engine, err) < 0)
        return -1;
    *out = engine;
    char buf[8192], path[4096];
    const char *dirs[8];
    scenario_data_dirs(file, "engines", buf, sizeof buf, dirs, 8);
    kt_err inner;
    if (conf_resolve_named(preset_engine_names[engine], dirs, "engine preset", path, sizeof path, &inner) < 0) {
        CONF_ERROR(err, at, "%s", inner.msg);
        return -1;
    }
    return apply_file(root, path, preset_engine_names[engine], err);
}
