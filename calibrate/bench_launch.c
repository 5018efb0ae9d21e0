/* bench_launch.c — kernel launch costs: host enqueue time, GPU gap between queued kernels, eager back-to-back launches, launch plus synchronize, CUDA graph cost per node, and eager launches of kernels that keep the GPU busy against the same kernels queued up front (the launch cost left exposed). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "calib_names.h"
#include "kt_kernels.h"

#define MAX_SWEEP 32
/* The spin kernel in front of the "gap" sequence runs this long per queued
 * kernel plus a fixed margin, so the host has enqueued all of them before
 * the GPU reaches the first (a launch takes a few microseconds of host time). */
#define SPIN_NS_PER_KERNEL 10000ull
#define SPIN_MARGIN_NS 100000ull

#define NS_PER_US 1000ull

typedef struct launch_ctx {
    int n;                     /* kernels (or graph nodes) */
    cudaGraphExec_t graph;
    uint64_t busy_ns;          /* busy cases: each kernel spins this long */
} launch_ctx;

static int launch_n(int n, cudaStream_t s, kt_err *err)
{
    for (int i = 0; i < n; i++)
        KT_CUDA(kt_launch_empty(s), "empty kernel", err);
    return 0;
}

/* GPU time of n eager launches: whatever limits them, host or GPU. */
static int op_eager(void *v, cudaStream_t s, kt_err *err) { return launch_n(((launch_ctx *)v)->n, s, err); }

static int pre_spin(void *v, cudaStream_t s, kt_err *err)
{
    KT_CUDA(kt_launch_spin(SPIN_NS_PER_KERNEL * (unsigned long long)((launch_ctx *)v)->n + SPIN_MARGIN_NS, s),
            "spin kernel", err);
    return 0;
}

/* Host time to enqueue n launches (no waiting for them). */
static int op_enqueue(void *v, cudaStream_t s, kt_err *err) { return launch_n(((launch_ctx *)v)->n, s, err); }

/* n times: launch, then wait for it. */
static int op_sync(void *v, cudaStream_t s, kt_err *err)
{
    for (int i = 0; i < ((launch_ctx *)v)->n; i++) {
        KT_CUDA(kt_launch_empty(s), "empty kernel", err);
        KT_CUDA(cudaStreamSynchronize(s), "cudaStreamSynchronize", err);
    }
    return 0;
}

/* n kernels that each keep the GPU busy for busy_ns, launched eagerly. */
static int op_busy(void *v, cudaStream_t s, kt_err *err)
{
    launch_ctx *c = v;
    for (int i = 0; i < c->n; i++)
        KT_CUDA(kt_launch_spin(c->busy_ns, s), "spin kernel", err);
    return 0;
}

static int op_graph(void *v, cudaStream_t s, kt_err *err)
{
    KT_CUDA(cudaGraphLaunch(((launch_ctx *)v)->graph, s), "cudaGraphLaunch", err);
    return 0;
}

/* Captures n empty kernels on s into an executable graph. */
static int make_graph(cudaStream_t s, int n, cudaGraphExec_t *exec, kt_err *err)
{
    cudaGraph_t g;
    KT_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture", err);
    int rc = launch_n(n, s, err);
    cudaError_t e = cudaStreamEndCapture(s, &g);
    if (rc < 0)
        return -1;
    KT_CUDA(e, "cudaStreamEndCapture", err);
    e = cudaGraphInstantiate(exec, g, 0);
    cudaGraphDestroy(g);
    KT_CUDA(e, "cudaGraphInstantiate", err);
    return 0;
}

static int launch_point(kt_bench *b, launch_ctx *c, double *ns, kt_err *err)
{
    double x = c->n;
    if (kt_sample_host(b, op_enqueue, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_ENQUEUE, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_gpu(b, NULL, op_eager, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_EAGER, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_gpu(b, pre_spin, op_eager, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_GAP, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_host(b, op_sync, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_SYNC, x, x, "kernel", ns, err) < 0)
        return -1;
    if (make_graph(b->stream, c->n, &c->graph, err) < 0)
        return -1;
    int rc = kt_sample_gpu(b, NULL, op_graph, c, 0, ns, err) < 0 ||
             kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_GRAPH, x, x, "node", ns, err) < 0 ? -1 : 0;
    cudaGraphExecDestroy(c->graph);
    return rc;
}

/* Busy kernels of d us: launched eagerly (the host issues while the GPU
 * runs the previous ones) and queued behind a spinning kernel (the GPU's
 * own time per kernel); the difference per kernel is the exposed launch cost. */
static int busy_point(kt_bench *b, launch_ctx *c, int d_us, double *ns, kt_err *err)
{
    char eager[64], queued[64];
    double x = c->n;
    c->busy_ns = (uint64_t)d_us * NS_PER_US;
    snprintf(eager, sizeof eager, "%s/d=%dus", CALIB_CASE_LAUNCH_BUSY_EAGER, d_us);
    snprintf(queued, sizeof queued, "%s/d=%dus", CALIB_CASE_LAUNCH_BUSY_QUEUED, d_us);
    if (kt_sample_gpu(b, NULL, op_busy, c, 0, ns, err) < 0 || kt_record(b, CALIB_BENCH_LAUNCH, eager, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_gpu(b, pre_spin, op_busy, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, queued, x, x, "kernel", ns, err) < 0)
        return -1;
    return 0;
}

int kt_bench_launch(kt_bench *b, kt_err *err)
{
    size_t counts[MAX_SWEEP];
    size_t n = kt_pow2_sweep(1, (size_t)b->p->launch_max_kernels, counts, MAX_SWEEP);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns ? 0 : -1;
    printf("launch: enqueue (host), eager, gap (queued behind a spin kernel), launch+sync, graph; busy "
           "kernels eager and queued\n");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        launch_ctx c = { (int)counts[i], NULL, 0 };
        rc = launch_point(b, &c, ns, err);
    }
    for (int k = 0; rc == 0 && k < b->p->n_launch_busy; k++)
        for (size_t i = 0; rc == 0 && i < n; i++) {
            launch_ctx c = { (int)counts[i], NULL, 0 };
            rc = busy_point(b, &c, b->p->launch_busy_us[k], ns, err);
        }
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}
