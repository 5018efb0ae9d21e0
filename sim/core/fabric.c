/* fabric.c — transfers as flows over links: setup latency, then max-min fair bandwidth re-planned at every start and end. */
#include "fabric.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

const char *const fabric_io_names[] = { "async", "sync", NULL };

/* One transfer in flight.
 * Invariants: a used flow is either in setup (active == 0, ev pending for
 * the setup's end) or active (moving bytes at rate > 0 once planned, ev
 * pending for its completion); remaining >= 0 is the current operation's
 * bytes still to move (the whole stream for async transfers); ops_left
 * operations follow it (sync only). */
typedef struct flow {
    int used, active;
    int path[FABRIC_MAX_PATH];
    int path_len;
    double remaining, rate, cap, op_bytes;
    int64_t last_ns, ops_left, setup_ns;
    int64_t start_ns;           /* when the transfer was asked for (its first setup began) */
    double bytes;               /* the whole transfer's */
    int sync, frozen;
    engine_handle ev;
    fabric_done_fn done;
    void *ud;
    uint64_t tag;
} flow;

struct fabric {
    engine *eng;
    fabric_link *links;
    int n_links, cap_links;
    flow *flows;
    int cap_flows;
    int n_active;
    double *scratch_cap;        /* per link, for planning */
    int *scratch_n;
    timeline *tl;               /* not owned; NULL: no timeline */
    int tl_pid;
};

static void on_setup_done(engine *eng, void *ctx, uint64_t arg);
static void on_flow_done(engine *eng, void *ctx, uint64_t arg);

fabric *fabric_new(engine *eng, int max_links, int max_flows)
{
    fabric *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->eng = eng;
    f->cap_links = max_links > 0 ? max_links : 1;
    f->cap_flows = max_flows > 0 ? max_flows : 1;
    f->links = calloc((size_t)f->cap_links, sizeof *f->links);
    f->flows = calloc((size_t)f->cap_flows, sizeof *f->flows);
    f->scratch_cap = calloc((size_t)f->cap_links, sizeof *f->scratch_cap);
    f->scratch_n = calloc((size_t)f->cap_links, sizeof *f->scratch_n);
    if (!f->links || !f->flows || !f->scratch_cap || !f->scratch_n) {
        fabric_free(f);
        return NULL;
    }
    return f;
}

void fabric_free(fabric *f)
{
    if (!f)
        return;
    free(f->links);
    free(f->flows);
    free(f->scratch_cap);
    free(f->scratch_n);
    free(f);
}

int fabric_add_link(fabric *f, const char *name, double bw_Bps)
{
    if (!(bw_Bps > 0))
        return -1;
    if (f->n_links == f->cap_links) {
        /* The three arrays grow in turn; the capacity changes once all have. */
        size_t need = (size_t)f->n_links + 1, cap_l = (size_t)f->cap_links, cap_c = cap_l, cap_n = cap_l;
        if (f->cap_links > INT_MAX / 2)
            return -1;
        fabric_link *l = grow_array(f->links, &cap_l, need, sizeof *l);
        if (!l)
            return -1;
        f->links = l;
        double *c = grow_array(f->scratch_cap, &cap_c, need, sizeof *c);
        if (!c)
            return -1;
        f->scratch_cap = c;
        int *n = grow_array(f->scratch_n, &cap_n, need, sizeof *n);
        if (!n)
            return -1;
        f->scratch_n = n;
        f->cap_links = (int)cap_l;
    }
    fabric_link *l = &f->links[f->n_links];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->bw_Bps = bw_Bps;
    return f->n_links++;
}

int fabric_n_links(const fabric *f) { return f->n_links; }
const fabric_link *fabric_link_at(const fabric *f, int i) { return &f->links[i]; }
int fabric_active_flows(const fabric *f) { return f->n_active; }

/* ---------- bookkeeping ---------- */

/* Moves every active flow's bytes up to now at its current rate. */
static void advance(fabric *f, int64_t now)
{
    for (int i = 0; i < f->cap_flows; i++) {
        flow *w = &f->flows[i];
        if (!w->used || !w->active)
            continue;
        double moved = w->rate * (double)(now - w->last_ns) / 1e9;
        if (moved > w->remaining)
            moved = w->remaining;
        w->remaining -= moved;
        w->last_ns = now;
        for (int k = 0; k < w->path_len; k++)
            f->links[w->path[k]].bytes_moved += moved;
    }
}

void fabric_sync(fabric *f) { advance(f, engine_now(f->eng)); }

/* Rate x is the bottleneck for flow w: its own cap, or a link where the
 * fair share of what is left equals x. */
static int is_bottlenecked(const fabric *f, const flow *w, double x)
{
    const double tol = 1 + 1e-12;
    if (w->cap > 0 && w->cap <= x * tol)
        return 1;
    for (int k = 0; k < w->path_len; k++) {
        int l = w->path[k];
        if (f->scratch_n[l] > 0 && f->scratch_cap[l] / f->scratch_n[l] <= x * tol)
            return 1;
    }
    return 0;
}

/* Max-min fair rates by progressive filling: raise all rates together,
 * freezing the flows of each link (or cap) that saturates first. */
static void plan_rates(fabric *f)
{
    for (int l = 0; l < f->n_links; l++) {
        f->scratch_cap[l] = f->links[l].bw_Bps;
        f->scratch_n[l] = 0;
    }
    int unfrozen = 0;
    for (int i = 0; i < f->cap_flows; i++) {
        flow *w = &f->flows[i];
        w->frozen = !(w->used && w->active);
        if (w->frozen)
            continue;
        unfrozen++;
        for (int k = 0; k < w->path_len; k++)
            f->scratch_n[w->path[k]]++;
    }
    while (unfrozen > 0) {
        double x = HUGE_VAL;
        for (int l = 0; l < f->n_links; l++)
            if (f->scratch_n[l] > 0 && f->scratch_cap[l] / f->scratch_n[l] < x)
                x = f->scratch_cap[l] / f->scratch_n[l];
        for (int i = 0; i < f->cap_flows; i++)
            if (!f->flows[i].frozen && f->flows[i].cap > 0 && f->flows[i].cap < x)
                x = f->flows[i].cap;
        if (x < 0)
            x = 0;
        /* Decide whom x freezes before changing any link's share. */
        for (int i = 0; i < f->cap_flows; i++)
            f->flows[i].frozen = f->flows[i].frozen ? 1 : is_bottlenecked(f, &f->flows[i], x) ? 2 : 0;
        for (int i = 0; i < f->cap_flows; i++) {
            flow *w = &f->flows[i];
            if (w->frozen != 2)
                continue;
            w->frozen = 1;
            w->rate = x;
            unfrozen--;
            for (int k = 0; k < w->path_len; k++) {
                int l = w->path[k];
                f->scratch_cap[l] = f->scratch_cap[l] > x ? f->scratch_cap[l] - x : 0;
                f->scratch_n[l]--;
            }
        }
    }
}

/* Re-plans rates and every active flow's completion. */
static void replan(fabric *f)
{
    int64_t now = engine_now(f->eng);
    plan_rates(f);
    for (int i = 0; i < f->cap_flows; i++) {
        flow *w = &f->flows[i];
        if (!w->used || !w->active)
            continue;
        engine_cancel(f->eng, w->ev);
        double ns = w->rate > 0 ? ceil(w->remaining * 1e9 / w->rate) : 0;
        w->ev = engine_at(f->eng, now + (int64_t)ns, on_flow_done, f, (uint64_t)i);
    }
}

/* A flow slot, growing the pool when all are used. -1 when out of memory. */
static int flow_slot(fabric *f)
{
    for (int i = 0; i < f->cap_flows; i++)
        if (!f->flows[i].used)
            return i;
    size_t cap = (size_t)f->cap_flows;
    flow *nf = f->cap_flows <= INT_MAX / 2 ? grow_array(f->flows, &cap, cap + 1, sizeof *nf) : NULL;
    if (!nf)
        return -1;
    memset(nf + f->cap_flows, 0, (cap - (size_t)f->cap_flows) * sizeof *nf);
    f->flows = nf;
    int i = f->cap_flows;
    f->cap_flows = (int)cap;
    return i;
}

/* Starts the setup of a flow's next operation. */
static void begin_op(fabric *f, int i)
{
    flow *w = &f->flows[i];
    w->active = 0;
    w->rate = 0;
    w->ev = engine_after(f->eng, w->setup_ns, on_setup_done, f, (uint64_t)i);
}

static void on_setup_done(engine *eng, void *ctx, uint64_t arg)
{
    fabric *f = ctx;
    flow *w = &f->flows[arg];
    advance(f, engine_now(eng));
    w->active = 1;
    w->last_ns = engine_now(eng);
    f->n_active++;
    for (int k = 0; k < w->path_len; k++)
        f->links[w->path[k]].n_active++;
    replan(f);
}

static void deactivate(fabric *f, flow *w)
{
    w->active = 0;
    f->n_active--;
    for (int k = 0; k < w->path_len; k++)
        f->links[w->path[k]].n_active--;
}

static void on_flow_done(engine *eng, void *ctx, uint64_t arg)
{
    fabric *f = ctx;
    flow *w = &f->flows[arg];
    advance(f, engine_now(eng));
    /* The event was planned for the last byte; rounding may leave dust. */
    for (int k = 0; k < w->path_len; k++)
        f->links[w->path[k]].bytes_moved += w->remaining;
    w->remaining = 0;
    deactivate(f, w);
    if (w->ops_left > 0) {
        w->ops_left--;
        w->remaining = w->op_bytes;
        begin_op(f, (int)arg);
    } else {
        w->used = 0;
        for (int k = 0; f->tl && k < w->path_len; k++)
            timeline_transfer(f->tl, f->tl_pid, f->links[w->path[k]].name, w->start_ns, engine_now(eng), w->bytes);
        w->done(w->ud, w->tag, engine_now(eng));
    }
    replan(f);
}

int fabric_transfer(fabric *f, const int *path, int path_len, int64_t n_ops, double op_bytes,
                    int64_t setup_ns, fabric_io io, double rate_cap_Bps, fabric_done_fn done, void *ud,
                    uint64_t tag)
{
    if (path_len < 1 || path_len > FABRIC_MAX_PATH || n_ops < 1)
        return -1;
    for (int k = 0; k < path_len; k++)
        if (path[k] < 0 || path[k] >= f->n_links)
            return -1;
    int i = flow_slot(f);
    if (i < 0)
        return -1;
    flow *w = &f->flows[i];
    memset(w, 0, sizeof *w);
    w->used = 1;
    memcpy(w->path, path, (size_t)path_len * sizeof *path);
    w->path_len = path_len;
    w->sync = io == FABRIC_IO_SYNC;
    w->op_bytes = op_bytes;
    w->setup_ns = setup_ns;
    w->cap = rate_cap_Bps;
    w->ops_left = w->sync ? n_ops - 1 : 0;
    w->remaining = w->sync ? op_bytes : op_bytes * (double)n_ops;
    w->bytes = op_bytes * (double)n_ops;
    w->start_ns = engine_now(f->eng);
    w->done = done;
    w->ud = ud;
    w->tag = tag;
    begin_op(f, i);
    return 0;
}

void fabric_set_timeline(fabric *f, timeline *tl, int pid)
{
    f->tl = tl;
    f->tl_pid = pid;
}

int fabric_check(const fabric *f, kt_err *err)
{
    double *sum = calloc((size_t)f->n_links + 1, sizeof *sum);
    int *count = calloc((size_t)f->n_links + 1, sizeof *count);
    int rc = 0, active = 0;
    for (int i = 0; sum && count && i < f->cap_flows; i++) {
        const flow *w = &f->flows[i];
        if (!w->used || !w->active)
            continue;
        active++;
        if (w->remaining < 0 || w->rate < 0)
            rc = -1;
        for (int k = 0; k < w->path_len; k++) {
            sum[w->path[k]] += w->rate;
            count[w->path[k]]++;
        }
    }
    for (int l = 0; sum && count && l < f->n_links && rc == 0; l++)
        if (sum[l] > f->links[l].bw_Bps * (1 + 1e-9) || count[l] != f->links[l].n_active)
            rc = -1;
    if (rc < 0 || active != f->n_active)
        KT_ERROR(err, NULL, 0, 0, "fabric: a link carries more than its bandwidth, or flow counts disagree");
    free(sum);
    free(count);
    return rc < 0 || active != f->n_active ? -1 : 0;
}
