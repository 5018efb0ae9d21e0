/* bench_mem.c — copy benchmarks: HBM read/copy/triad streams, host<->device copies (pinned, pageable, both directions at once, KV block patterns) and peer copies over NVLink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "calib_names.h"
#include "kt_kernels.h"

#define MAX_SWEEP 64
#define TRIAD_ARRAYS 3
#define TRIAD_SCALAR 3.0f
/* Host pool for the KV patterns: this many times the largest transfer, so
 * the blocks are scattered over more memory than one transfer touches. */
#define KV_POOL_SPREAD 4
/* Fixed seed: the scattered block order is the same in every run. */
#define KV_SHUFFLE_SEED 12345u

/* ---------- HBM streams ---------- */

typedef struct hbm_ctx {
    void *a, *b, *c;
    size_t bytes;              /* per array */
    unsigned long long *sink;
} hbm_ctx;

static int op_read(void *v, cudaStream_t s, kt_err *err)
{
    hbm_ctx *c = v;
    KT_CUDA(kt_launch_read(c->a, c->bytes, c->sink, s), "read kernel", err);
    return 0;
}

static int op_copy(void *v, cudaStream_t s, kt_err *err)
{
    hbm_ctx *c = v;
    KT_CUDA(kt_launch_copy(c->b, c->a, c->bytes, s), "copy kernel", err);
    return 0;
}

static int op_triad(void *v, cudaStream_t s, kt_err *err)
{
    hbm_ctx *c = v;
    KT_CUDA(kt_launch_triad(c->c, c->a, c->b, c->bytes / sizeof(float), TRIAD_SCALAR, s), "triad kernel", err);
    return 0;
}

/* Sweep top: the configured maximum, at least 4 × L2 so the largest arrays
 * stream from HBM, at most what three arrays leave of free memory. */
static size_t hbm_top(const kt_bench *b)
{
    size_t top = b->p->hbm_max_bytes, l2x4 = 4 * b->l2_bytes, room = kt_dev_free_bytes() / (TRIAD_ARRAYS + 1);
    if (top < l2x4)
        top = l2x4;
    while (top > room && top > b->p->hbm_min_bytes)
        top /= 2;
    return top;
}

int kt_bench_hbm(kt_bench *b, kt_err *err)
{
    size_t sizes[MAX_SWEEP], top = hbm_top(b);
    size_t n = kt_pow2_sweep(b->p->hbm_min_bytes, top, sizes, MAX_SWEEP);
    hbm_ctx c = { NULL, NULL, NULL, 0, b->sink };
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns ? 0 : -1;
    if (rc == 0 && (kt_dev_alloc(&c.a, top, "HBM array a", err) < 0 || kt_dev_alloc(&c.b, top, "HBM array b", err) < 0 ||
                    kt_dev_alloc(&c.c, top, "HBM array c", err) < 0))
        rc = -1;
    if (rc == 0 && (cudaMemset(c.a, 0, top) != cudaSuccess || cudaMemset(c.b, 0, top) != cudaSuccess))
        rc = kt_cuda_fail(cudaGetLastError(), "cudaMemset", err);
    printf("hbm: read, copy, triad over %zu sizes (L2 %zu bytes flushed before each call)\n", n, b->l2_bytes);
    struct { const char *name; kt_op op; double moved; } cases[] = {
        { CALIB_CASE_HBM_READ, op_read, 1 }, { CALIB_CASE_HBM_COPY, op_copy, 2 }, { CALIB_CASE_HBM_TRIAD, op_triad, 3 },
    };
    for (size_t k = 0; rc == 0 && k < sizeof cases / sizeof cases[0]; k++)
        for (size_t i = 0; rc == 0 && i < n; i++) {
            c.bytes = sizes[i];
            rc = kt_sample_gpu(b, NULL, cases[k].op, &c, 1, ns, err) < 0 ||
                 kt_record(b, CALIB_BENCH_HBM, cases[k].name, (double)sizes[i],
                           cases[k].moved * (double)sizes[i], "B", ns, err) < 0 ? -1 : 0;
        }
    cudaFree(c.a);
    cudaFree(c.b);
    cudaFree(c.c);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}

/* ---------- host <-> device ---------- */

typedef struct host_ctx {
    void *dev;                 /* device buffer */
    void *dev2;                /* second device buffer (the other direction) */
    void *host;                /* host buffer: pinned or pageable */
    void *host2;
    size_t bytes;
    cudaStream_t side;         /* second stream for both directions at once */
    cudaEvent_t fork, join;
} host_ctx;

static int op_h2d(void *v, cudaStream_t s, kt_err *err)
{
    host_ctx *c = v;
    KT_CUDA(cudaMemcpyAsync(c->dev, c->host, c->bytes, cudaMemcpyHostToDevice, s), "H2D copy", err);
    return 0;
}

static int op_d2h(void *v, cudaStream_t s, kt_err *err)
{
    host_ctx *c = v;
    KT_CUDA(cudaMemcpyAsync(c->host, c->dev, c->bytes, cudaMemcpyDeviceToHost, s), "D2H copy", err);
    return 0;
}

/* H2D on s and D2H on the side stream, joined back into s. */
static int op_bidir(void *v, cudaStream_t s, kt_err *err)
{
    host_ctx *c = v;
    KT_CUDA(cudaEventRecord(c->fork, s), "cudaEventRecord", err);
    KT_CUDA(cudaStreamWaitEvent(c->side, c->fork, 0), "cudaStreamWaitEvent", err);
    KT_CUDA(cudaMemcpyAsync(c->dev, c->host, c->bytes, cudaMemcpyHostToDevice, s), "H2D copy", err);
    KT_CUDA(cudaMemcpyAsync(c->host2, c->dev2, c->bytes, cudaMemcpyDeviceToHost, c->side), "D2H copy", err);
    KT_CUDA(cudaEventRecord(c->join, c->side), "cudaEventRecord", err);
    KT_CUDA(cudaStreamWaitEvent(s, c->join, 0), "cudaStreamWaitEvent", err);
    return 0;
}

static int host_sweep(kt_bench *b, host_ctx *c, const char *mem, double *ns, kt_err *err)
{
    size_t sizes[MAX_SWEEP];
    size_t n = kt_pow2_sweep(b->p->host_min_bytes, b->p->host_max_bytes, sizes, MAX_SWEEP);
    struct { const char *dir; kt_op op; double moved; } cases[] = {
        { "h2d", op_h2d, 1 }, { "d2h", op_d2h, 1 }, { "bidir", op_bidir, 2 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (size_t i = 0; i < n; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s/%s", cases[k].dir, mem);
            c->bytes = sizes[i];
            if (kt_sample_gpu(b, NULL, cases[k].op, c, 1, ns, err) < 0 ||
                kt_record(b, CALIB_BENCH_HOST, name, (double)sizes[i], cases[k].moved * (double)sizes[i], "B", ns, err) < 0)
                return -1;
        }
    return 0;
}

/* ---------- KV block patterns ---------- */

typedef struct kv_ctx {
    void *dev_pool;            /* device blocks, contiguous */
    void *host_pool;           /* pinned, mapped: scattered blocks */
    void *host_dev;            /* device view of host_pool */
    uint64_t *dev_off, *host_off;          /* device arrays for the kernels */
    void **dsts, **srcs;       /* host arrays for the batched call */
    size_t *sizes;
    size_t block_bytes;
    int n_blocks;
    int to_host;               /* 1: offload (D2H), 0: fetch (H2D) */
    const uint64_t *host_off_h;/* host copy of the scattered offsets */
} kv_ctx;

static int op_kv_separate(void *v, cudaStream_t s, kt_err *err)
{
    kv_ctx *c = v;
    for (int i = 0; i < c->n_blocks; i++) {
        char *host = (char *)c->host_pool + c->host_off_h[i];
        char *dev = (char *)c->dev_pool + (size_t)i * c->block_bytes;
        KT_CUDA(cudaMemcpyAsync(c->to_host ? (void *)host : (void *)dev, c->to_host ? (void *)dev : (void *)host,
                                c->block_bytes, c->to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice, s),
                "KV block copy", err);
    }
    return 0;
}

#if CUDART_VERSION >= 12080
#define KT_HAVE_BATCHED_COPY 1
static int op_kv_batched(void *v, cudaStream_t s, kt_err *err)
{
    kv_ctx *c = v;
    for (int i = 0; i < c->n_blocks; i++) {
        void *host = (char *)c->host_pool + c->host_off_h[i];
        void *dev = (char *)c->dev_pool + (size_t)i * c->block_bytes;
        c->dsts[i] = c->to_host ? host : dev;
        c->srcs[i] = c->to_host ? dev : host;
        c->sizes[i] = c->block_bytes;
    }
    struct cudaMemcpyAttributes attr;
    memset(&attr, 0, sizeof attr);
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    size_t attr_idx = 0;
#if CUDART_VERSION >= 13000
    KT_CUDA(cudaMemcpyBatchAsync((void *const *)c->dsts, (const void *const *)c->srcs, c->sizes,
                                 (size_t)c->n_blocks, &attr, &attr_idx, 1, s), "cudaMemcpyBatchAsync", err);
#else
    size_t fail_idx = 0;
    KT_CUDA(cudaMemcpyBatchAsync((void **)c->dsts, (void **)c->srcs, c->sizes, (size_t)c->n_blocks,
                                 &attr, &attr_idx, 1, &fail_idx, s), "cudaMemcpyBatchAsync", err);
#endif
    return 0;
}
#else
#define KT_HAVE_BATCHED_COPY 0
#endif

static int op_kv_kernel(void *v, cudaStream_t s, kt_err *err)
{
    kv_ctx *c = v;
    cudaError_t e = c->to_host
        ? kt_launch_block_copy(c->host_dev, c->host_off, c->dev_pool, c->dev_off, c->block_bytes, c->n_blocks, s)
        : kt_launch_block_copy(c->dev_pool, c->dev_off, c->host_dev, c->host_off, c->block_bytes, c->n_blocks, s);
    KT_CUDA(e, "KV block copy kernel", err);
    return 0;
}

/* A fixed pseudo-random permutation of slots (xorshift; same in every run). */
static void shuffle_slots(uint64_t *slots, size_t n)
{
    uint32_t x = KV_SHUFFLE_SEED;
    for (size_t i = 0; i < n; i++)
        slots[i] = i;
    for (size_t i = n; i > 1; i--) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t j = x % i;
        uint64_t t = slots[i - 1];
        slots[i - 1] = slots[j];
        slots[j] = t;
    }
}

static int kv_case(kt_bench *b, kv_ctx *c, const char *kind, kt_op op, double *ns, kt_err *err)
{
    size_t counts[MAX_SWEEP];
    size_t n = kt_pow2_sweep(1, (size_t)b->p->kv_max_blocks, counts, MAX_SWEEP);
    char name[96];
    snprintf(name, sizeof name, "kv/%s/%s/B=%zu", c->to_host ? "d2h" : "h2d", kind, c->block_bytes);
    for (size_t i = 0; i < n; i++) {
        c->n_blocks = (int)counts[i];
        if (kt_sample_gpu(b, NULL, op, c, 1, ns, err) < 0 ||
            kt_record(b, CALIB_BENCH_HOST, name, (double)counts[i], (double)(counts[i] * c->block_bytes), "B", ns, err) < 0)
            return -1;
    }
    return 0;
}

/* Offsets of the scattered host slots and the contiguous device blocks. */
static int kv_offsets(kv_ctx *c, uint64_t *host_off_h, size_t slots, int max_blocks, kt_err *err)
{
    uint64_t *perm = malloc(slots * sizeof *perm), *dev_off_h = malloc((size_t)max_blocks * sizeof *dev_off_h);
    if (!perm || !dev_off_h) {
        free(perm);
        free(dev_off_h);
        KT_ERROR(err, NULL, 0, 0, "out of memory");
        return -1;
    }
    shuffle_slots(perm, slots);
    for (int i = 0; i < max_blocks; i++) {
        host_off_h[i] = perm[i] * c->block_bytes;
        dev_off_h[i] = (uint64_t)i * c->block_bytes;
    }
    cudaError_t e1 = cudaMemcpy(c->host_off, host_off_h, (size_t)max_blocks * sizeof *host_off_h, cudaMemcpyHostToDevice);
    cudaError_t e2 = cudaMemcpy(c->dev_off, dev_off_h, (size_t)max_blocks * sizeof *dev_off_h, cudaMemcpyHostToDevice);
    free(perm);
    free(dev_off_h);
    if (e1 != cudaSuccess || e2 != cudaSuccess)
        return kt_cuda_fail(e1 != cudaSuccess ? e1 : e2, "copying KV offsets", err);
    return 0;
}

static int kv_patterns_one(kt_bench *b, kv_ctx *c, uint64_t *host_off_h, double *ns, kt_err *err)
{
    int max_blocks = b->p->kv_max_blocks;
    size_t slots = (size_t)max_blocks * KV_POOL_SPREAD;
    if (kv_offsets(c, host_off_h, slots, max_blocks, err) < 0)
        return -1;
    c->host_off_h = host_off_h;
    for (c->to_host = 0; c->to_host <= 1; c->to_host++) {
        if (kv_case(b, c, "separate", op_kv_separate, ns, err) < 0)
            return -1;
#if KT_HAVE_BATCHED_COPY
        if (kv_case(b, c, "batched", op_kv_batched, ns, err) < 0)
            return -1;
#endif
        if (kv_case(b, c, c->to_host ? "scatter" : "gather", op_kv_kernel, ns, err) < 0)
            return -1;
    }
    return 0;
}

static int kv_patterns(kt_bench *b, double *ns, kt_err *err)
{
    int max_blocks = b->p->kv_max_blocks, rc = 0;
    size_t largest = 0;
    for (int i = 0; i < b->p->n_kv_block_bytes; i++)
        if (b->p->kv_block_bytes[i] > largest)
            largest = b->p->kv_block_bytes[i];
    size_t host_bytes = largest * (size_t)max_blocks * KV_POOL_SPREAD;
    kv_ctx c;
    memset(&c, 0, sizeof c);
    uint64_t *host_off_h = malloc((size_t)max_blocks * sizeof *host_off_h);
    c.dsts = malloc((size_t)max_blocks * sizeof *c.dsts);
    c.srcs = malloc((size_t)max_blocks * sizeof *c.srcs);
    c.sizes = malloc((size_t)max_blocks * sizeof *c.sizes);
    if (!host_off_h || !c.dsts || !c.srcs || !c.sizes) {
        KT_ERROR(err, NULL, 0, 0, "out of memory");
        rc = -1;
    }
    if (rc == 0 && (cudaHostAlloc(&c.host_pool, host_bytes, cudaHostAllocMapped) != cudaSuccess ||
                    cudaHostGetDevicePointer(&c.host_dev, c.host_pool, 0) != cudaSuccess))
        rc = kt_cuda_fail(cudaGetLastError(), "mapped pinned KV pool", err);
    if (rc == 0 && (kt_dev_alloc(&c.dev_pool, largest * (size_t)max_blocks, "device KV blocks", err) < 0 ||
                    kt_dev_alloc((void **)&c.dev_off, (size_t)max_blocks * sizeof(uint64_t), "offsets", err) < 0 ||
                    kt_dev_alloc((void **)&c.host_off, (size_t)max_blocks * sizeof(uint64_t), "offsets", err) < 0))
        rc = -1;
    for (int i = 0; rc == 0 && i < b->p->n_kv_block_bytes; i++) {
        c.block_bytes = b->p->kv_block_bytes[i];
        rc = kv_patterns_one(b, &c, host_off_h, ns, err);
    }
    if (c.host_pool)
        cudaFreeHost(c.host_pool);
    cudaFree(c.dev_pool);
    cudaFree(c.dev_off);
    cudaFree(c.host_off);
    free(host_off_h);
    free(c.dsts);
    free(c.srcs);
    free(c.sizes);
    return rc;
}

/* Allocates the host side (pinned or pageable) of the sweep. */
static int host_buffers(host_ctx *c, size_t bytes, int pinned, kt_err *err)
{
    if (pinned) {
        KT_CUDA(cudaMallocHost(&c->host, bytes), "cudaMallocHost", err);
        KT_CUDA(cudaMallocHost(&c->host2, bytes), "cudaMallocHost", err);
    } else {
        c->host = malloc(bytes);
        c->host2 = malloc(bytes);
        if (!c->host || !c->host2) {
            KT_ERROR(err, NULL, 0, 0, "out of host memory for %zu-byte pageable buffers", bytes);
            return -1;
        }
        memset(c->host, 0, bytes);     /* touch the pages: no first-use faults in the timing */
        memset(c->host2, 0, bytes);
    }
    return 0;
}

static void host_buffers_free(host_ctx *c, int pinned)
{
    if (pinned) {
        if (c->host)
            cudaFreeHost(c->host);
        if (c->host2)
            cudaFreeHost(c->host2);
    } else {
        free(c->host);
        free(c->host2);
    }
    c->host = c->host2 = NULL;
}

int kt_bench_host(kt_bench *b, kt_err *err)
{
    size_t top = b->p->host_max_bytes;
    host_ctx c;
    memset(&c, 0, sizeof c);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns ? 0 : -1;
    if (rc == 0 && (kt_dev_alloc(&c.dev, top, "H2D buffer", err) < 0 || kt_dev_alloc(&c.dev2, top, "D2H buffer", err) < 0))
        rc = -1;
    if (rc == 0 && (cudaStreamCreateWithFlags(&c.side, cudaStreamNonBlocking) != cudaSuccess ||
                    cudaEventCreateWithFlags(&c.fork, cudaEventDisableTiming) != cudaSuccess ||
                    cudaEventCreateWithFlags(&c.join, cudaEventDisableTiming) != cudaSuccess))
        rc = kt_cuda_fail(cudaGetLastError(), "side stream", err);
    printf("host: pinned and pageable copies, both directions and both at once; KV block patterns\n");
    for (int pinned = 1; rc == 0 && pinned >= 0; pinned--) {
        rc = host_buffers(&c, top, pinned, err);
        if (rc == 0)
            rc = host_sweep(b, &c, pinned ? "pinned" : "pageable", ns, err);
        host_buffers_free(&c, pinned);
    }
    if (rc == 0)
        rc = kv_patterns(b, ns, err);
    cudaFree(c.dev);
    cudaFree(c.dev2);
    if (c.side)
        cudaStreamDestroy(c.side);
    if (c.fork)
        cudaEventDestroy(c.fork);
    if (c.join)
        cudaEventDestroy(c.join);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}

/* ---------- peer copies ---------- */

typedef struct peer_ctx {
    void *local, *remote;      /* on b->device and on peer */
    void *local2, *remote2;    /* the reverse direction's buffers */
    int device, peer;
    size_t bytes;
    cudaStream_t side;
    cudaEvent_t fork, join;
} peer_ctx;

static int op_peer_ce(void *v, cudaStream_t s, kt_err *err)
{
    peer_ctx *c = v;
    KT_CUDA(cudaMemcpyPeerAsync(c->remote, c->peer, c->local, c->device, c->bytes, s), "cudaMemcpyPeerAsync", err);
    return 0;
}

static int op_peer_ce_bidir(void *v, cudaStream_t s, kt_err *err)
{
    peer_ctx *c = v;
    KT_CUDA(cudaEventRecord(c->fork, s), "cudaEventRecord", err);
    KT_CUDA(cudaStreamWaitEvent(c->side, c->fork, 0), "cudaStreamWaitEvent", err);
    KT_CUDA(cudaMemcpyPeerAsync(c->remote, c->peer, c->local, c->device, c->bytes, s), "cudaMemcpyPeerAsync", err);
    KT_CUDA(cudaMemcpyPeerAsync(c->local2, c->device, c->remote2, c->peer, c->bytes, c->side), "cudaMemcpyPeerAsync", err);
    KT_CUDA(cudaEventRecord(c->join, c->side), "cudaEventRecord", err);
    KT_CUDA(cudaStreamWaitEvent(s, c->join, 0), "cudaStreamWaitEvent", err);
    return 0;
}

/* SM copy: our kernel on this GPU writes straight into the peer's memory. */
static int op_peer_sm(void *v, cudaStream_t s, kt_err *err)
{
    peer_ctx *c = v;
    KT_CUDA(kt_launch_copy(c->remote, c->local, c->bytes, s), "peer copy kernel", err);
    return 0;
}

static int peer_alloc(peer_ctx *c, size_t top, kt_err *err)
{
    KT_CUDA(cudaSetDevice(c->peer), "cudaSetDevice(peer)", err);
    cudaError_t e = cudaDeviceEnablePeerAccess(c->device, 0);
    if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
        return kt_cuda_fail(e, "cudaDeviceEnablePeerAccess (peer to device)", err);
    if (kt_dev_alloc(&c->remote, top, "peer buffer", err) < 0 || kt_dev_alloc(&c->remote2, top, "peer buffer", err) < 0)
        return -1;
    KT_CUDA(cudaSetDevice(c->device), "cudaSetDevice", err);
    e = cudaDeviceEnablePeerAccess(c->peer, 0);
    if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
        return kt_cuda_fail(e, "cudaDeviceEnablePeerAccess", err);
    if (kt_dev_alloc(&c->local, top, "local buffer", err) < 0 || kt_dev_alloc(&c->local2, top, "local buffer", err) < 0)
        return -1;
    KT_CUDA(cudaStreamCreateWithFlags(&c->side, cudaStreamNonBlocking), "cudaStreamCreate", err);
    KT_CUDA(cudaEventCreateWithFlags(&c->fork, cudaEventDisableTiming), "cudaEventCreate", err);
    KT_CUDA(cudaEventCreateWithFlags(&c->join, cudaEventDisableTiming), "cudaEventCreate", err);
    return 0;
}

static void peer_free(peer_ctx *c)
{
    cudaFree(c->local);
    cudaFree(c->local2);
    cudaSetDevice(c->peer);
    cudaFree(c->remote);
    cudaFree(c->remote2);
    cudaSetDevice(c->device);
    if (c->side)
        cudaStreamDestroy(c->side);
    if (c->fork)
        cudaEventDestroy(c->fork);
    if (c->join)
        cudaEventDestroy(c->join);
}

int kt_bench_peer(kt_bench *b, kt_err *err)
{
    if (b->gpu_count < 2) {
        printf("peer: skipped: one GPU (peer copies need two or more)\n");
        return KT_BENCH_SKIPPED;
    }
    peer_ctx c;
    memset(&c, 0, sizeof c);
    c.device = b->device;
    c.peer = (b->device + 1) % b->gpu_count;
    int can = 0;
    if (cudaDeviceCanAccessPeer(&can, c.device, c.peer) != cudaSuccess || !can) {
        printf("peer: skipped: GPU %d cannot access GPU %d directly\n", c.device, c.peer);
        return KT_BENCH_SKIPPED;
    }
    size_t sizes[MAX_SWEEP], top = b->p->peer_max_bytes;
    size_t n = kt_pow2_sweep(b->p->peer_min_bytes, top, sizes, MAX_SWEEP);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns && peer_alloc(&c, top, err) == 0 ? 0 : -1;
    printf("peer: GPU %d -> GPU %d, copy engine (one way, both ways) and SM copy kernel\n", c.device, c.peer);
    struct { const char *name; kt_op op; double moved; } cases[] = {
        { CALIB_CASE_PEER_CE, op_peer_ce, 1 }, { "ce/bidir", op_peer_ce_bidir, 2 }, { "sm/uni", op_peer_sm, 1 },
    };
    for (size_t k = 0; rc == 0 && k < sizeof cases / sizeof cases[0]; k++)
        for (size_t i = 0; rc == 0 && i < n; i++) {
            c.bytes = sizes[i];
            rc = kt_sample_gpu(b, NULL, cases[k].op, &c, 1, ns, err) < 0 ||
                 kt_record(b, CALIB_BENCH_PEER, cases[k].name, (double)sizes[i], cases[k].moved * (double)sizes[i], "B", ns, err) < 0
                 ? -1 : 0;
        }
    peer_free(&c);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}
