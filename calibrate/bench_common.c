/* bench_common.c — device checks and properties, clocks through NVML (loaded with dlopen), the L2 flush, warm-up and timed sampling with CUDA events or the host clock, and recording samples. */
#include "bench.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calib_stats.h"
#include "config.h"
#include "kt_kernels.h"
#include "units.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)
#define NS_PER_S 1e9
#define NS_PER_MS 1e6
/* The flush buffer covers the L2 this many times over. */
#define FLUSH_L2_MULTIPLE 2

int kt_cuda_fail(cudaError_t e, const char *what, kt_err *err)
{
    KT_ERROR(err, NULL, 0, 0, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

int kt_device_usable(int device, char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, n, "cudaGetDeviceCount failed: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        return 0;
    }
    if (count == 0) {
        snprintf(why, n, "no CUDA devices");
        return 0;
    }
    if (device < 0 || device >= count) {
        snprintf(why, n, "device %d does not exist (%d device%s)", device, count, count == 1 ? "" : "s");
        return 0;
    }
    return 1;
}

int kt_dev_alloc(void **p, size_t n, const char *what, kt_err *err)
{
    *p = NULL;
    cudaError_t e = cudaMalloc(p, n ? n : 1);
    if (e == cudaSuccess)
        return 0;
    char size[32];
    units_format((double)n, UNITS_BYTES, size, sizeof size);
    KT_ERROR(err, NULL, 0, 0, "cudaMalloc(%s) for %s: %s", size, what, cudaGetErrorString(e));
    return -1;
}

size_t kt_dev_free_bytes(void)
{
    size_t free_b = 0, total = 0;
    return cudaMemGetInfo(&free_b, &total) == cudaSuccess ? free_b : 0;
}


/* xorshift32 step: the fixed pseudo-random sequence behind block-table shuffles. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

void kt_block_table(int32_t *bt, int batch, int pages_per_seq, int shuffled)
{
    int total = batch * pages_per_seq;
    for (int i = 0; i < total; i++)
        bt[i] = i;
    uint32_t x = KT_SHUFFLE_SEED;
    for (int i = total; shuffled && i > 1; i--) {
        int j = (int)(next_rand(&x) % (uint32_t)i);
        int32_t t = bt[i - 1];
        bt[i - 1] = bt[j];
        bt[j] = t;
    }
}

/* ---------- clocks through NVML ---------- */

/* The NVML entry points used, by their documented C signatures. */
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_handle_fn)(const char *pci_bus_id, void **device);
typedef int (*nvml_clock_fn)(void *device, int type, unsigned *mhz);
typedef int (*nvml_power_fn)(void *device, unsigned *milliwatts);
#define NVML_SUCCESS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define MW_PER_W 1000.0

/* Current and maximum SM and memory clocks and the enforced power limit.
 * Leaves the fields 0 when libnvidia-ml is not there (it ships with the
 * driver, not the toolkit). */
static void nvml_clocks(calib_run_info *ri)
{
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    nvml_init_fn init = (nvml_init_fn)dlsym(lib, "nvmlInit_v2");
    nvml_init_fn shutdown = (nvml_init_fn)dlsym(lib, "nvmlShutdown");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    nvml_clock_fn clock = (nvml_clock_fn)dlsym(lib, "nvmlDeviceGetClockInfo");
    nvml_clock_fn max_clock = (nvml_clock_fn)dlsym(lib, "nvmlDeviceGetMaxClockInfo");
    nvml_power_fn power = (nvml_power_fn)dlsym(lib, "nvmlDeviceGetEnforcedPowerLimit");
    void *dev = NULL;
    if (init && shutdown && handle && clock && max_clock && power && init() == NVML_SUCCESS) {
        unsigned v;
        if (handle(ri->pci_bus_id, &dev) == NVML_SUCCESS) {
            if (clock(dev, NVML_CLOCK_SM, &v) == NVML_SUCCESS)
                ri->sm_clock_mhz = v;
            if (clock(dev, NVML_CLOCK_MEM, &v) == NVML_SUCCESS)
                ri->mem_clock_mhz = v;
            if (max_clock(dev, NVML_CLOCK_SM, &v) == NVML_SUCCESS)
                ri->sm_clock_max_mhz = v;
            if (max_clock(dev, NVML_CLOCK_MEM, &v) == NVML_SUCCESS)
                ri->mem_clock_max_mhz = v;
            if (power(dev, &v) == NVML_SUCCESS)
                ri->power_limit_w = v / MW_PER_W;
        }
        shutdown();
    }
    dlclose(lib);
}

/* ---------- device properties ---------- */

static int attr(int device, enum cudaDeviceAttr a, int *out, kt_err *err)
{
    KT_CUDA(cudaDeviceGetAttribute(out, a, device), "cudaDeviceGetAttribute", err);
    return 0;
}

static void utc_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kt_device_info(int device, calib_run_info *ri, kt_err *err)
{
    memset(ri, 0, sizeof *ri);
    struct cudaDeviceProp prop;
    KT_CUDA(cudaSetDevice(device), "cudaSetDevice", err);
    KT_CUDA(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties", err);
    snprintf(ri->gpu_name, sizeof ri->gpu_name, "%.*s", (int)sizeof ri->gpu_name - 1, prop.name);
    KT_CUDA(cudaDeviceGetPCIBusId(ri->pci_bus_id, (int)sizeof ri->pci_bus_id, device),
            "cudaDeviceGetPCIBusId", err);
    int l2 = 0, smem = 0;
    size_t free_b = 0, total = 0;
    if (attr(device, cudaDevAttrMultiProcessorCount, &ri->sm_count, err) < 0 ||
        attr(device, cudaDevAttrComputeCapabilityMajor, &ri->cc_major, err) < 0 ||
        attr(device, cudaDevAttrComputeCapabilityMinor, &ri->cc_minor, err) < 0 ||
        attr(device, cudaDevAttrL2CacheSize, &l2, err) < 0 ||
        attr(device, cudaDevAttrMaxSharedMemoryPerMultiprocessor, &smem, err) < 0)
        return -1;
    KT_CUDA(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo", err);
    KT_CUDA(cudaGetDeviceCount(&ri->gpu_count), "cudaGetDeviceCount", err);
    KT_CUDA(cudaDriverGetVersion(&ri->driver_version), "cudaDriverGetVersion", err);
    KT_CUDA(cudaRuntimeGetVersion(&ri->runtime_version), "cudaRuntimeGetVersion", err);
    ri->l2_bytes = l2;
    ri->smem_per_sm_bytes = smem;
    ri->hbm_bytes = (double)total;
    utc_now(ri->started_utc, sizeof ri->started_utc);
    snprintf(ri->tool_version, sizeof ri->tool_version, "%s", PACKAGE_VERSION);
    if (gethostname(ri->host, sizeof ri->host) != 0)
        snprintf(ri->host, sizeof ri->host, "unknown");
    ri->host[sizeof ri->host - 1] = '\0';
    nvml_clocks(ri);
    return 0;
}

/* ---------- setup ---------- */

static int bench_alloc(kt_bench *b, kt_err *err)
{
    /* A blocking stream: it waits for work on the legacy default stream, so a
     * plain cudaMemcpy upload (whose DMA may still be running when the call
     * returns) is complete before the next kernel on it starts. */
    KT_CUDA(cudaStreamCreate(&b->stream), "cudaStreamCreate", err);
    KT_CUDA(cudaEventCreate(&b->start), "cudaEventCreate", err);
    KT_CUDA(cudaEventCreate(&b->stop), "cudaEventCreate", err);
    b->flush_bytes = FLUSH_L2_MULTIPLE * b->l2_bytes;
    if (b->flush_bytes < b->p->flush_min_bytes)
        b->flush_bytes = b->p->flush_min_bytes;
    if (kt_dev_alloc(&b->flush_buf, b->flush_bytes, "the L2 flush buffer", err) < 0 ||
        kt_dev_alloc((void **)&b->sink, sizeof *b->sink, "the read sink", err) < 0)
        return -1;
    KT_CUDA(cudaMemset(b->flush_buf, 0, b->flush_bytes), "cudaMemset", err);
    return 0;
}

int kt_bench_init(kt_bench *b, int device, const kt_params *p, calib_db *db, const char *cmdline,
                  int64_t run_id, kt_err *err)
{
    memset(b, 0, sizeof *b);
    b->device = device;
    b->p = p;
    b->db = db;
    if (kt_device_info(device, &b->info, err) < 0)
        return -1;
    snprintf(b->info.options, sizeof b->info.options, "%s", cmdline ? cmdline : "");
    b->gpu_count = b->info.gpu_count;
    b->sm_count = b->info.sm_count;
    b->l2_bytes = (size_t)b->info.l2_bytes;
    if (bench_alloc(b, err) < 0)
        return -1;
    if (!db)
        return 0;
    if (run_id <= 0)
        return calib_db_add_run(db, &b->info, &b->run_id, err);
    /* Another benchmark process of the same calibration made the run. */
    calib_run_info existing;
    b->run_id = run_id;
    return calib_db_run_info(db, run_id, &existing, err);
}

void kt_bench_free(kt_bench *b)
{
    if (!b)
        return;
    if (b->flush_buf)
        cudaFree(b->flush_buf);
    if (b->sink)
        cudaFree(b->sink);
    if (b->start)
        cudaEventDestroy(b->start);
    if (b->stop)
        cudaEventDestroy(b->stop);
    if (b->stream)
        cudaStreamDestroy(b->stream);
    memset(b, 0, sizeof *b);
}

/* ---------- sampling ---------- */

int kt_flush_l2(kt_bench *b, kt_err *err)
{
    KT_CUDA(kt_launch_read(b->flush_buf, b->flush_bytes, b->sink, b->stream), "L2 flush", err);
    return 0;
}

static int one_gpu_call(kt_bench *b, kt_op pre, kt_op op, void *ctx, int flush, double *ns, kt_err *err)
{
    if ((flush && kt_flush_l2(b, err) < 0) || (pre && pre(ctx, b->stream, err) < 0))
        return -1;
    KT_CUDA(cudaEventRecord(b->start, b->stream), "cudaEventRecord", err);
    if (op(ctx, b->stream, err) < 0)
        return -1;
    KT_CUDA(cudaEventRecord(b->stop, b->stream), "cudaEventRecord", err);
    KT_CUDA(cudaEventSynchronize(b->stop), "cudaEventSynchronize (the timed call failed)", err);
    float ms = 0;
    KT_CUDA(cudaEventElapsedTime(&ms, b->start, b->stop), "cudaEventElapsedTime", err);
    if (ns)
        *ns = ms * NS_PER_MS;
    return 0;
}

int kt_sample_gpu(kt_bench *b, kt_op pre, kt_op op, void *ctx, int flush, double *ns, kt_err *err)
{
    for (int i = 0; i < b->p->warmup; i++)
        if (one_gpu_call(b, pre, op, ctx, flush, NULL, err) < 0)
            return -1;
    for (int i = 0; i < b->p->samples; i++)
        if (one_gpu_call(b, pre, op, ctx, flush, &ns[i], err) < 0)
            return -1;
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * NS_PER_S + (double)ts.tv_nsec;
}

static int one_host_call(kt_bench *b, kt_op op, void *ctx, int flush, double *ns, kt_err *err)
{
    if (flush) {
        if (kt_flush_l2(b, err) < 0)
            return -1;
        KT_CUDA(cudaStreamSynchronize(b->stream), "cudaStreamSynchronize", err);
    }
    double t0 = now_ns();
    if (op(ctx, b->stream, err) < 0)
        return -1;
    double t1 = now_ns();
    if (ns)
        *ns = t1 - t0;
    /* Untimed: whatever op left queued finishes before the next call. */
    KT_CUDA(cudaStreamSynchronize(b->stream), "cudaStreamSynchronize", err);
    return 0;
}

int kt_sample_host(kt_bench *b, kt_op op, void *ctx, int flush, double *ns, kt_err *err)
{
    for (int i = 0; i < b->p->warmup; i++)
        if (one_host_call(b, op, ctx, flush, NULL, err) < 0)
            return -1;
    for (int i = 0; i < b->p->samples; i++)
        if (one_host_call(b, op, ctx, flush, &ns[i], err) < 0)
            return -1;
    return 0;
}

int kt_record(kt_bench *b, const char *bench, const char *case_name, double x, double work,
              const char *work_unit, const double *ns, kt_err *err)
{
    calib_summary s;
    if (calib_summarize(ns, (size_t)b->p->samples, &s) < 0) {
        KT_ERROR(err, NULL, 0, 0, "%s/%s: samples are not finite", bench, case_name);
        return -1;
    }
    if (b->db && calib_db_add_samples(b->db, b->run_id, bench, case_name, x, work, ns,
                                      (size_t)b->p->samples, err) < 0)
        return -1;
    char t[32], iqr[32];
    units_format(s.median, UNITS_DURATION, t, sizeof t);
    units_format(s.iqr, UNITS_DURATION, iqr, sizeof iqr);
    printf("  %-8s %-40s x=%-12.0f %12s (IQR %s)  %.4g %s/s\n", bench, case_name, x, t, iqr,
           work / (s.median / NS_PER_S), work_unit);
    fflush(stdout);
    return 0;
}
