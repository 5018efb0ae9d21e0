/* bench_launch.c — kernel launch costs: host enqueue time, GPU gap between queued kernels, eager back-to-back launches, launch plus synchronize, and CUDA graph cost per node. */
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

typedef struct launch_ctx {
    int n;                     /* kernels (or graph nodes) */
    cudaGraphExec_t graph;
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
    if (kt_sample_host(b, op_enqueue, c, 0, ns, err) < 0 || kt_record(b, CALIB_BENCH_LAUNCH, "enqueue", x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_gpu(b, NULL, op_eager, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_EAGER, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_gpu(b, pre_spin, op_eager, c, 0, ns, err) < 0 ||
        kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_GAP, x, x, "kernel", ns, err) < 0)
        return -1;
    if (kt_sample_host(b, op_sync, c, 0, ns, err) < 0 || kt_record(b, CALIB_BENCH_LAUNCH, "sync", x, x, "kernel", ns, err) < 0)
        return -1;
    if (make_graph(b->stream, c->n, &c->graph, err) < 0)
        return -1;
    int rc = kt_sample_gpu(b, NULL, op_graph, c, 0, ns, err) < 0 ||
             kt_record(b, CALIB_BENCH_LAUNCH, CALIB_CASE_LAUNCH_GRAPH, x, x, "node", ns, err) < 0 ? -1 : 0;
    cudaGraphExecDestroy(c->graph);
    return rc;
}

int kt_bench_launch(kt_bench *b, kt_err *err)
{
    size_t counts[MAX_SWEEP];
    size_t n = kt_pow2_sweep(1, (size_t)b->p->launch_max_kernels, counts, MAX_SWEEP);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns ? 0 : -1;
    printf("launch: enqueue (host), eager, gap (queued behind a spin kernel), launch+sync, graph\n");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        launch_ctx c = { (int)counts[i], NULL };
        rc = launch_point(b, &c, ns, err);
    }
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}
