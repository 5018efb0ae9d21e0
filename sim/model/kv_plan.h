/* kv_plan.h — which layers store their own KV and at what precision: per-layer KV dtypes (MiniKV-style layer groups) and cross-layer KV sharing (CLA, YOCO), read from a card or a scenario into the card's layers. */
#ifndef KT_KV_PLAN_H
#define KT_KV_PLAN_H

#include "conf.h"
#include "err.h"
#include "model.h"

/* Reads n (a card's kv_sharing or a scenario's kv.sharing; NULL: absent,
 * nothing changes) into m's layers (kv_back), replacing any sharing m had: {every: N} (layer l attends to the KV of layer
 * l − l mod N, as Cross-Layer Attention groups N adjacent layers) or
 * {sources: [s0, s1, ...]} (layer l to layer s_l, one entry per layer; a
 * YOCO model lists the middle layer for every layer of its second half).
 * Returns 0, or -1 with err at the offending node (a source later than its
 * layer, one that shares itself, or one that attends differently). */
int kv_plan_sharing_read(conf_node *n, model_card *m, kt_err *err);

/* Reads n (a scenario's kv.precision; NULL: absent, nothing changes): a
 * list of layer groups in layer order,
 * [{layers: N, dtype: D}, ..., {dtype: D}], the last one's `layers` left
 * out meaning the rest; the counts must cover every layer. Sets each
 * layer's own KV dtype; [] gives every layer the served dtype. Returns 0, or -1 with err at the node. */
int kv_plan_precision_read(conf_node *n, model_card *m, kt_err *err);

/* A reader above, applied to YAML text (a command-line option's value,
 * which errors call name; NULL text: nothing to do), then the invariant
 * check. Returns 0, or -1 with err. */
int kv_plan_read_text(const char *text, const char *name, int (*read)(conf_node *, model_card *, kt_err *),
                      model_card *m, kt_err *err);

/* Invariant checker of the layers' kv_back and kv_dtype (model_layer). */
int kv_plan_check(const model_card *m, kt_err *err);

/* 1 when some layer shares another's KV or has a dtype of its own. */
int kv_plan_is_set(const model_card *m);

/* Writes into buf (n bytes) how m's layers hold KV when kv is the served
 * dtype: the layers storing KV per dtype in layer order of first use, and
 * how many read another layer's, e.g. "4 int8 + 28 int2; 16 layers read an
 * earlier layer's KV". Returns buf. */
const char *kv_plan_describe(const model_card *m, kt_dtype kv, char *buf, size_t n);

#endif
