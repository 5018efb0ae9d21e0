/* kv_plan.c — per-layer KV precision and cross-layer KV sharing: reading them and checking them. */
#include "kv_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why layer l cannot read source s's KV, or NULL when it can. */
static const char *share_refusal(const model_card *m, int l, int s)
{
    if (s < 0 || s > l)
        return "a layer can only read the KV of itself or an earlier layer";
    if (m->layers[s].kv_back != 0)
        return "the source layer shares another layer's KV itself";
    if (m->layers[s].attn != m->layers[l].attn || m->layers[s].window_tokens != m->layers[l].window_tokens)
        return "the source layer attends differently (kind or window)";
    if (s != l && m->layers[l].kv_own_dtype)
        return "a layer that shares KV cannot have a precision of its own";
    return NULL;
}

/* Points layer l at source s, checking it first. at: the node to blame. */
static int share_layer(model_card *m, int l, int s, const conf_node *at, kt_err *err)
{
    const char *why = share_refusal(m, l, s);
    if (why) {
        CONF_ERROR(err, at, "layer %d cannot share layer %d's KV: %s", l, s, why);
        return -1;
    }
    m->layers[l].kv_back = l - s;
    return 0;
}

int kv_plan_sharing_read(conf_node *n, model_card *m, kt_err *err)
{
    conf_node *sources;
    int every = 0;
    if (!n)
        return 0;
    if (conf_expect(n, CONF_MAP, err) < 0 ||
        conf_int(n, "every", CONF_OPTIONAL, 1, m->n_layers, &every, err) < 0)
        return -1;
    sources = conf_take(n, "sources");
    if ((every > 0) == (sources != NULL)) {
        const conf_node *other = NULL;
        for (size_t i = 0; i < n->n_kids && !other; i++)
            if (!n->kids[i]->used)
                other = n->kids[i];
        if (other)
            CONF_ERROR(err, n, "give exactly one of 'every' and 'sources' (is '%s' misspelt?)", other->key);
        else
            CONF_ERROR(err, n, "give exactly one of 'every' and 'sources'");
        return -1;
    }
    if (sources && conf_expect(sources, CONF_SEQ, err) < 0)
        return -1;
    if (sources && sources->n_kids != (size_t)m->n_layers) {
        CONF_ERROR(err, sources, "sources has %zu entries but the model has %d layers", sources->n_kids,
                   m->n_layers);
        return -1;
    }
    for (int l = 0; l < m->n_layers; l++)
        m->layers[l].kv_back = 0;
    for (int l = 0; l < m->n_layers; l++) {
        int64_t s = l - l % (every > 0 ? every : 1);
        conf_node *at = sources ? sources->kids[l] : n;
        if (sources && conf_scalar_i64(at, 0, m->n_layers - 1, &s, err) < 0)
            return -1;
        if (share_layer(m, l, (int)s, at, err) < 0)
            return -1;
    }
    return 0;
}

/* Reads one group {layers: N, dtype: D} starting at layer first; the last
 * group may leave layers out (the rest). Returns the layers it covers, or -1. */
static int read_precision_group(conf_node *g, int first, int last_group, model_card *m, kt_err *err)
{
    int rest = m->n_layers - first, count = rest, dtype = 0;
    if (conf_expect(g, CONF_MAP, err) < 0 ||
        conf_int(g, "layers", conf_required_if(!last_group), 1, rest > 0 ? rest : 1, &count, err) < 0 ||
        conf_enum(g, "dtype", CONF_REQUIRED, dtype_names, &dtype, err) < 0)
        return -1;
    if (rest <= 0) {
        CONF_ERROR(err, g, "the groups before this one already cover all %d layers", m->n_layers);
        return -1;
    }
    for (int l = first; l < first + count; l++) {
        m->layers[l].kv_own_dtype = 1;
        m->layers[l].kv_dtype = (kt_dtype)dtype;
    }
    return count;
}

int kv_plan_precision_read(conf_node *n, model_card *m, kt_err *err)
{
    int covered = 0;
    if (!n)
        return 0;
    if (conf_expect(n, CONF_SEQ, err) < 0)
        return -1;
    for (int l = 0; l < m->n_layers && n->n_kids == 0; l++)
        m->layers[l].kv_own_dtype = 0;          /* [] : every layer at the served dtype */
    if (n->n_kids == 0)
        return 0;
    for (size_t i = 0; i < n->n_kids; i++) {
        int c = read_precision_group(n->kids[i], covered, i + 1 == n->n_kids, m, err);
        if (c < 0)
            return -1;
        covered += c;
    }
    if (covered != m->n_layers) {
        CONF_ERROR(err, n, "the groups cover %d of the %d layers: give the last group no 'layers' to cover the rest",
                   covered, m->n_layers);
        return -1;
    }
    /* A sharing layer reads its source's precision; it keeps none itself. */
    for (int l = 0; l < m->n_layers; l++)
        if (!model_layer_stores_kv(m, l))
            m->layers[l].kv_own_dtype = 0;
    return 0;
}

int kv_plan_read_text(const char *text, const char *name, int (*read)(conf_node *, model_card *, kt_err *),
                      model_card *m, kt_err *err)
{
    if (!text)
        return 0;
    conf_node *n = conf_parse_string(text, strlen(text), name, err);
    int rc = n && read(n, m, err) == 0 && kv_plan_check(m, err) == 0 ? 0 : -1;
    conf_free(n);
    return rc;
}

int kv_plan_check(const model_card *m, kt_err *err)
{
    for (int l = 0; l < m->n_layers; l++) {
        const model_layer *x = &m->layers[l];
        const char *why = share_refusal(m, l, l - x->kv_back);
        if (x->kv_back < 0 || why) {
            KT_ERROR(err, NULL, 0, 0, "%s: layer %d: kv_back %d: %s", m->name, l, x->kv_back,
                     why ? why : "negative");
            return -1;
        }
        if (x->kv_own_dtype && (unsigned)x->kv_dtype >= DTYPE_COUNT) {
            KT_ERROR(err, NULL, 0, 0, "%s: layer %d: invalid KV dtype", m->name, l);
            return -1;
        }
    }
    return 0;
}

int kv_plan_is_set(const model_card *m)
{
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].kv_back || m->layers[l].kv_own_dtype)
            return 1;
    return 0;
}

const char *kv_plan_describe(const model_card *m, kt_dtype kv, char *buf, size_t n)
{
    int count[DTYPE_COUNT] = { 0 }, order[DTYPE_COUNT], n_order = 0, shared = 0;
    for (int l = 0; l < m->n_layers; l++) {
        if (!model_layer_stores_kv(m, l)) {
            shared++;
            continue;
        }
        kt_dtype d = model_layer_kv_dtype(m, l, kv);
        if (count[d]++ == 0)
            order[n_order++] = d;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_order && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%d %s", i ? " + " : "", count[order[i]], dtype_name((kt_dtype)order[i]));
    if (shared && o < n)
        snprintf(buf + o, n - o, "; %d layer%s read an earlier layer's KV", shared, shared == 1 ? "" : "s");
    return buf;
}
