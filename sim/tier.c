/* tier.c — lower KV tiers of a replica: configuration, block sizes per precision, offload cascade, lookup, fetch and its estimate. */
#include "tier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const tier_kind_names[TIER_KIND_COUNT + 1] = { "dram", "cxl", "nvme", "remote", NULL };
const char *const tier_offload_names[OFFLOAD_KIND_COUNT + 1] = { "drop", "write_back", "write_through", NULL };
const char *const tier_fetch_names[FETCH_KIND_COUNT + 1] = { "demand", "layerwise", "prefetch", "predicted", NULL };
const char *const tier_decide_names[DECIDE_KIND_COUNT + 1] = { "compare", "fetch", "recompute", NULL };
static const char *const io_names[] = { "async", "sync", NULL };

/* Sub-byte formats carry an fp16 scale and an fp16 zero point per group. */
#define QUANT_META_BYTES 4.0
/* A tier's dtype left unset means "the HBM KV dtype". */
#define TIER_DTYPE_AS_HBM DTYPE_COUNT

/* ---------- configuration ---------- */

static int tier_from_conf(conf_node *n, tier_cfg *t, kt_err *err)
{
    const char *name = NULL;
    int kind = 0, dtype = TIER_DTYPE_AS_HBM;
    memset(t, 0, sizeof *t);
    t->drives = 1;
    t->quant_group = 32;
    t->compression = 1;
    t->dtype = TIER_DTYPE_AS_HBM;
    if (conf_expect(n, CONF_MAP, err) < 0 || conf_str(n, "name", 1, &name, err) < 0 ||
        conf_enum(n, "kind", 1, tier_kind_names, &kind, err) < 0 ||
        conf_qty(n, "capacity", 1, UNITS_BYTES, 1, 1e18, &t->capacity_bytes, err) < 0 ||
        conf_qty(n, "read", 1, UNITS_BANDWIDTH, 1, 1e15, &t->read_Bps, err) < 0 ||
        conf_qty(n, "write", 1, UNITS_BANDWIDTH, 1, 1e15, &t->write_Bps, err) < 0 ||
        conf_ns(n, "latency", 1, 0, INT64_C(1000000000), &t->latency_ns, err) < 0 ||
        conf_f64(n, "iops", 0, 0, 1e12, &t->iops, err) < 0 ||
        conf_int(n, "drives", 0, 1, 1024, &t->drives, err) < 0 ||
        conf_enum(n, "dtype", 0, dtype_names, &dtype, err) < 0 ||
        conf_int(n, "quant_group", 0, 1, 65536, &t->quant_group, err) < 0 ||
        conf_f64(n, "compression", 0, 1, 100, &t->compression, err) < 0)
        return -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = (tier_kind)kind;
    t->dtype = (kt_dtype)dtype;
    return 0;
}

static int policy_from_conf(conf_node *root, tiers_cfg *c, kt_err *err)
{
    conf_node *p = conf_take(root, "kv_policy");
    int off = c->n ? OFFLOAD_WRITE_BACK : OFFLOAD_DROP, fetch = FETCH_DEMAND, decide = DECIDE_COMPARE, io = 0;
    int used = c->n;
    c->hbm_cache = 1;
    if (p && (conf_expect(p, CONF_MAP, err) < 0 || conf_enum(p, "offload", 0, tier_offload_names, &off, err) < 0 ||
              conf_enum(p, "fetch", 0, tier_fetch_names, &fetch, err) < 0 ||
              conf_enum(p, "decide", 0, tier_decide_names, &decide, err) < 0 ||
              conf_enum(p, "io", 0, io_names, &io, err) < 0 ||
              conf_bool(p, "hbm_cache", 0, &c->hbm_cache, err) < 0 ||
              conf_ns(p, "prefetch_lead", 0, 0, INT64_C(86400000000000), &c->prefetch_lead_ns, err) < 0 ||
              conf_int(p, "tiers_used", 0, 0, c->n, &used, err) < 0))
        return -1;
    c->n = used;
    c->offload = (tier_offload)off;
    c->fetch = (tier_fetch)fetch;
    c->decide = (tier_decide)decide;
    c->sync_io = io;
    return 0;
}

/* Link figures are required once a tier needs them: no built-in guesses. */
static int links_from_conf(conf_node *root, tiers_cfg *c, kt_err *err)
{
    int remote = 0;
    for (int i = 0; i < c->n; i++)
        remote |= c->tier[i].kind == TIER_REMOTE;
    conf_node *l = conf_take(root, "links");
    if (!l && c->n) {
        CONF_ERROR(err, root, "missing required key 'links' (pcie_setup%s) for the KV tiers",
                   remote ? ", nic, nic_setup" : "");
        return -1;
    }
    if (!l)
        return 0;
    return conf_expect(l, CONF_MAP, err) < 0 ||
                   conf_qty(l, "pcie", 0, UNITS_BANDWIDTH, 1, 1e15, &c->pcie_Bps, err) < 0 ||
                   conf_ns(l, "pcie_setup", c->n > 0, 0, INT64_C(1000000000), &c->pcie_setup_ns, err) < 0 ||
                   conf_qty(l, "nic", remote, UNITS_BANDWIDTH, 1, 1e15, &c->nic_Bps, err) < 0 ||
                   conf_ns(l, "nic_setup", remote, 0, INT64_C(1000000000), &c->nic_setup_ns, err) < 0
               ? -1
               : 0;
}

int tiers_from_conf(conf_node *root, tiers_cfg *c, kt_err *err)
{
    memset(c, 0, sizeof *c);
    conf_node *seq = conf_take(root, "tiers");
    if (seq) {
        if (conf_expect(seq, CONF_SEQ, err) < 0)
            return -1;
        if (seq->n_kids > TIER_MAX) {
            CONF_ERROR(err, seq->kids[TIER_MAX], "at most %d tiers below HBM", TIER_MAX);
            return -1;
        }
        for (size_t i = 0; i < seq->n_kids; i++)
            if (tier_from_conf(seq->kids[i], &c->tier[c->n++], err) < 0)
                return -1;
    }
    return policy_from_conf(root, c, err) < 0 || links_from_conf(root, c, err) < 0 ? -1 : 0;
}

/* ---------- sizes ---------- */

double tier_block_bytes(const model_card *m, kt_dtype dtype, int quant_group, int block_tokens)
{
    /* Elements per token over all layers: fp32 bytes / 4. */
    double elems = model_kv_bytes_per_token(m, DTYPE_FP32) / 4.0;
    double per = dtype_bytes(dtype);
    if (per < 1)
        per += QUANT_META_BYTES / quant_group;
    return block_tokens * elems * per;
}

/* ---------- building ---------- */

static void path_push(int *path, int *len, int link)
{
    if (link >= 0)
        path[(*len)++] = link;
}

static void on_tier_evict(void *ud, uint64_t hash);

static int build_tier(tier_set *ts, int i, const model_card *m, kt_dtype hbm_dtype, kt_err *err)
{
    tier *t = &ts->tiers[i];
    t->cfg = ts->cfg.tier[i];
    t->set = ts;
    t->level = i;
    if (t->cfg.dtype == TIER_DTYPE_AS_HBM)
        t->cfg.dtype = hbm_dtype;
    t->block_bytes = tier_block_bytes(m, t->cfg.dtype, t->cfg.quant_group, ts->block_tokens);
    double cap = floor(t->cfg.capacity_bytes * t->cfg.drives * t->cfg.compression / t->block_bytes);
    if (cap < 1) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: %.0f bytes hold no block of %.0f bytes", t->cfg.name,
                 t->cfg.capacity_bytes, t->block_bytes);
        return -1;
    }
    t->capacity_blocks = cap > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)cap;
    t->store = kv_pool_new(t->capacity_blocks, ts->block_tokens, 1);
    if (!t->store) {
        KT_ERROR(err, NULL, 0, 0, "tier %s: out of memory for %u blocks", t->cfg.name, t->capacity_blocks);
        return -1;
    }
    kv_pool_set_evict_hook(t->store, on_tier_evict, t);
    char name[32];
    double scale = t->cfg.drives * t->cfg.compression;
    snprintf(name, sizeof name, "%.20s.read", t->cfg.name);
    t->read_link = fabric_add_link(ts->fab, name, t->cfg.read_Bps * scale);
    snprintf(name, sizeof name, "%.20s.write", t->cfg.name);
    t->write_link = fabric_add_link(ts->fab, name, t->cfg.write_Bps * scale);
    int remote = t->cfg.kind == TIER_REMOTE;
    path_push(t->path_in, &t->path_in_len, t->read_link);
    path_push(t->path_in, &t->path_in_len, remote ? ts->nic_in : -1);
    path_push(t->path_in, &t->path_in_len, ts->pcie_h2d);
    path_push(t->path_out, &t->path_out_len, ts->pcie_d2h);
    path_push(t->path_out, &t->path_out_len, remote ? ts->nic_out : -1);
    path_push(t->path_out, &t->path_out_len, t->write_link);
    return 0;
}

tier_set *tier_set_new(const tiers_cfg *c, engine *eng, const model_card *m, const hw_profile *hw,
                       kt_dtype hbm_dtype, int block_tokens, int gpus, kt_err *err)
{
    tier_set *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->cfg = *c;
    ts->eng = eng;
    ts->block_tokens = block_tokens;
    ts->hbm_block_bytes = tier_block_bytes(m, hbm_dtype, 32, block_tokens);
    ts->dequant_Bps = hw->hbm_bw_Bps * hw->eff_mem * gpus;
    ts->fab = fabric_new(eng, 4 + 2 * TIER_MAX, 16);
    if (!ts->fab) {
        free(ts);
        return NULL;
    }
    double pcie = (c->pcie_Bps > 0 ? c->pcie_Bps : hw->pcie_bw_Bps) * gpus;
    ts->pcie_h2d = fabric_add_link(ts->fab, "pcie.h2d", pcie);
    ts->pcie_d2h = fabric_add_link(ts->fab, "pcie.d2h", pcie);
    ts->nic_in = ts->nic_out = -1;
    if (c->nic_Bps > 0) {
        ts->nic_in = fabric_add_link(ts->fab, "nic.in", c->nic_Bps);
        ts->nic_out = fabric_add_link(ts->fab, "nic.out", c->nic_Bps);
    }
    for (int i = 0; i < c->n; i++, ts->n++)
        if (build_tier(ts, i, m, hbm_dtype, err) < 0) {
            tier_set_free(ts);
            return NULL;
        }
    return ts;
}

void tier_set_free(tier_set *ts)
{
    if (!ts)
        return;
    for (int i = 0; i < TIER_MAX; i++)
        kv_pool_free(ts->tiers[i].store);
    fabric_free(ts->fab);
    free(ts);
}

/* ---------- offload ---------- */

/* Setup a transfer over a tier's link pays: the device's operation, the
 * copy engine's CPU round trip, and the NIC's for remote tiers. */
static int64_t setup_ns(const tier_set *ts, const tier *t)
{
    return t->cfg.latency_ns + ts->cfg.pcie_setup_ns + (t->cfg.kind == TIER_REMOTE ? ts->cfg.nic_setup_ns : 0);
}

/* An IOPS limit is a rate limit for block-sized operations. */
static double rate_cap(const tier *t)
{
    return t->cfg.iops > 0 ? t->cfg.iops * t->cfg.drives * t->block_bytes : 0;
}

static void store_into(tier_set *ts, int level, uint64_t hash)
{
    if (level >= ts->n)
        return;
    tier *t = &ts->tiers[level];
    int rc = kv_pool_put(t->store, hash);
    if (rc == 0) {
        t->st.stored_blocks++;
        t->pending_in++;
    }
}

static void on_tier_evict(void *ud, uint64_t hash)
{
    tier *t = ud;
    t->st.evicted_blocks++;
    /* Write-through already put a copy in every tier below. */
    if (t->set->cfg.offload == OFFLOAD_WRITE_BACK)
        store_into(t->set, t->level + 1, hash);
}

void tier_set_offload(tier_set *ts, int level, uint64_t hash)
{
    if (ts->cfg.offload == OFFLOAD_WRITE_BACK)
        store_into(ts, level, hash);
}

void tier_set_registered(tier_set *ts, uint64_t hash)
{
    if (ts->cfg.offload != OFFLOAD_WRITE_THROUGH)
        return;
    for (int i = 0; i < ts->n; i++)
        store_into(ts, i, hash);
}

static void write_done(void *ud, uint64_t tag, int64_t now) {}

void tier_set_flush(tier_set *ts)
{
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (!t->pending_in)
            continue;
        /* Write-back fills a tier from the one above; the first, and every
         * tier under write-through, straight from HBM. */
        int path[FABRIC_MAX_PATH], len = 0;
        if (i > 0 && ts->cfg.offload == OFFLOAD_WRITE_BACK) {
            path_push(path, &len, ts->tiers[i - 1].read_link);
            path_push(path, &len, t->cfg.kind == TIER_REMOTE ? ts->nic_out : -1);
            path_push(path, &len, t->write_link);
        } else {
            memcpy(path, t->path_out, sizeof path);
            len = t->path_out_len;
        }
        fabric_transfer(ts->fab, path, len, t->pending_in, t->block_bytes, setup_ns(ts, t), ts->cfg.sync_io,
                        rate_cap(t), write_done, NULL, (uint64_t)i);
        t->pending_in = 0;
    }
}

/* ---------- lookup and fetch ---------- */

int64_t tier_set_lookup(tier_set *ts, const uint64_t *hashes, int64_t n, int64_t counts[TIER_MAX])
{
    memset(counts, 0, TIER_MAX * sizeof counts[0]);
    int64_t i;
    for (i = 0; i < n; i++) {
        int found = -1;
        for (int t = 0; t < ts->n && found < 0; t++)
            if (kv_pool_has(ts->tiers[t].store, hashes[i]))
                found = t;
        if (found < 0)
            break;
        kv_pool_touch(ts->tiers[found].store, hashes[i]);
        ts->tiers[found].st.hit_blocks++;
        counts[found]++;
    }
    return i;
}

static double path_bw(const tier_set *ts, const int *path, int len)
{
    double bw = HUGE_VAL;
    for (int k = 0; k < len; k++) {
        double b = fabric_link_at(ts->fab, path[k])->bw_Bps;
        if (b < bw)
            bw = b;
    }
    return bw;
}

int64_t tier_dequant_ns(const tier_set *ts, int t, int64_t n_blocks)
{
    const tier *x = &ts->tiers[t];
    if (x->block_bytes == ts->hbm_block_bytes)
        return 0;
    /* Read the stored block, write it at full precision. */
    return llround(1e9 * n_blocks * (x->block_bytes + ts->hbm_block_bytes) / ts->dequant_Bps);
}

int64_t tier_set_fetch_estimate_ns(const tier_set *ts, const int64_t counts[TIER_MAX])
{
    double worst = 0, pcie_bytes = 0;
    for (int i = 0; i < ts->n; i++) {
        const tier *t = &ts->tiers[i];
        if (!counts[i])
            continue;
        double bytes = counts[i] * t->block_bytes, bw = path_bw(ts, t->path_in, t->path_in_len);
        double cap = rate_cap(t);
        if (cap > 0 && cap < bw)
            bw = cap;
        double setups = ts->cfg.sync_io ? (double)counts[i] : 1.0;
        double ns = setups * setup_ns(ts, t) + 1e9 * bytes / bw + tier_dequant_ns(ts, i, counts[i]);
        worst = ns > worst ? ns : worst;
        pcie_bytes += bytes;
    }
    double pcie_ns = 1e9 * pcie_bytes / fabric_link_at(ts->fab, ts->pcie_h2d)->bw_Bps;
    return llround(worst > pcie_ns ? worst : pcie_ns);
}

int tier_set_fetch(tier_set *ts, const int64_t counts[TIER_MAX], fabric_done_fn done, void *ud)
{
    int started = 0;
    for (int i = 0; i < ts->n; i++) {
        tier *t = &ts->tiers[i];
        if (!counts[i])
            continue;
        t->st.fetched_blocks += counts[i];
        if (fabric_transfer(ts->fab, t->path_in, t->path_in_len, counts[i], t->block_bytes, setup_ns(ts, t),
                            ts->cfg.sync_io, rate_cap(t), done, ud, (uint64_t)i) == 0)
            started++;
    }
    return started;
}

int tier_should_fetch(const tiers_cfg *c, int64_t fetch_ns, int64_t recompute_ns)
{
    return c->decide == DECIDE_FETCH || (c->decide == DECIDE_COMPARE && fetch_ns < recompute_ns);
}

int tier_set_check(const tier_set *ts, kt_err *err)
{
    for (int i = 0; i < ts->n; i++) {
        const tier *t = &ts->tiers[i];
        if (kv_pool_check(t->store, NULL, 0, err) < 0)
            return -1;
        if (kv_pool_free_blocks(t->store) != kv_pool_blocks(t->store)) {
            KT_ERROR(err, NULL, 0, 0, "tier %s: a block is held, but tiers only cache", t->cfg.name);
            return -1;
        }
    }
    return fabric_check(ts->fab, err);
}
