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
typedef int (*nvml_uint_fn)(void *device, unsigned *value);
typedef int (*nvml_temp_fn)(void *device, int sensor, unsigned *celsius);
typedef int (*nvml_reasons_fn)(void *device, unsigned long long *reasons);
#define NVML_SUCCESS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_TEMPERATURE_GPU 0
#define MW_PER_W 1000.0

/* An initialized NVML with the device's handle. Invariant after
 * nvml_open succeeded: lib, dev and every entry point but the optional
 * ones (power usage, temperature, reasons: NULL when the driver lacks
 * them) are set. */
typedef struct nvml_session {
    void *lib, *dev;
    nvml_init_fn shutdown;
    nvml_clock_fn clock, max_clock;
    nvml_uint_fn power_limit, power_usage;
    nvml_temp_fn temperature;
    nvml_reasons_fn reasons;
} nvml_session;

/* Opens NVML for the device at pci_bus_id; -1 when libnvidia-ml is not there
 * (it ships with the driver, not the toolkit) or does not know the device. */
static int nvml_open(nvml_session *s, const char *pci_bus_id)
{
    memset(s, 0, sizeof *s);
    s->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!s->lib)
        return -1;
    nvml_init_fn init = (nvml_init_fn)dlsym(s->lib, "nvmlInit_v2");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(s->lib, "nvmlDeviceGetHandleByPciBusId_v2");
    s->shutdown = (nvml_init_fn)dlsym(s->lib, "nvmlShutdown");
    s->clock = (nvml_clock_fn)dlsym(s->lib, "nvmlDeviceGetClockInfo");
    s->max_clock = (nvml_clock_fn)dlsym(s->lib, "nvmlDeviceGetMaxClockInfo");
    s->power_limit = (nvml_uint_fn)dlsym(s->lib, "nvmlDeviceGetEnforcedPowerLimit");
    s->power_usage = (nvml_uint_fn)dlsym(s->lib, "nvmlDeviceGetPowerUsage");
    s->temperature = (nvml_temp_fn)dlsym(s->lib, "nvmlDeviceGetTemperature");
    /* Renamed in newer drivers; the old name stays as an alias. */
    s->reasons = (nvml_reasons_fn)dlsym(s->lib, "nvmlDeviceGetCurrentClocksEventReasons");
    if (!s->reasons)
        s->reasons = (nvml_reasons_fn)dlsym(s->lib, "nvmlDeviceGetCurrentClocksThrottleReasons");
    if (init && handle && s->shutdown && s->clock && s->max_clock && s->power_limit && init() == NVML_SUCCESS) {
        if (handle(pci_bus_id, &s->dev) == NVML_SUCCESS)
            return 0;
        s->shutdown();
    }
    dlclose(s->lib);
    memset(s, 0, sizeof *s);
    return -1;
}

static void nvml_close(nvml_session *s)
{
    if (!s->lib)
        return;
    s->shutdown();
    dlclose(s->lib);
    memset(s, 0, sizeof *s);
}

/* One NVML reading into *v as a double; leaves it when the call fails. */
static void nvml_clock(const nvml_session *s, nvml_clock_fn fn, int type, double *v)
{
    unsigned x;
    if (fn(s->dev, type, &x) == NVML_SUCCESS)
        *v = x;
}

/* Current and maximum SM and memory clocks and the enforced power limit at
 * the start of a run; the fields stay 0 without NVML. */
static void nvml_run_clocks(calib_run_info *ri)
{
    nvml_session s;
    if (nvml_open(&s, ri->pci_bus_id) < 0)
        return;
    nvml_clock(&s, s.clock, NVML_CLOCK_SM, &ri->sm_clock_mhz);
    nvml_clock(&s, s.clock, NVML_CLOCK_MEM, &ri->mem_clock_mhz);
    nvml_clock(&s, s.max_clock, NVML_CLOCK_SM, &ri->sm_clock_max_mhz);
    nvml_clock(&s, s.max_clock, NVML_CLOCK_MEM, &ri->mem_clock_max_mhz);
    unsigned mw;
    if (s.power_limit(s.dev, &mw) == NVML_SUCCESS)
        ri->power_limit_w = mw / MW_PER_W;
    nvml_close(&s);
}

int kt_clocks_read(const kt_bench *b, const char *bench, const char *phase, calib_clock_sample *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->bench, sizeof out->bench, "%s", bench);
    snprintf(out->phase, sizeof out->phase, "%s", phase);
    nvml_session s;
    if (nvml_open(&s, b->info.pci_bus_id) < 0)
        return -1;
    nvml_clock(&s, s.clock, NVML_CLOCK_SM, &out->sm_mhz);
    nvml_clock(&s, s.clock, NVML_CLOCK_MEM, &out->mem_mhz);
    nvml_clock(&s, s.max_clock, NVML_CLOCK_SM, &out->sm_max_mhz);
    nvml_clock(&s, s.max_clock, NVML_CLOCK_MEM, &out->mem_max_mhz);
    unsigned v;
    unsigned long long reasons;
    if (s.power_usage && s.power_usage(s.dev, &v) == NVML_SUCCESS)
        out->power_w = v / MW_PER_W;
    if (s.temperature && s.temperature(s.dev, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS)
        out->temp_c = v;
    if (s.reasons && s.reasons(s.dev, &reasons) == NVML_SUCCESS)
        out->reasons = reasons;
    nvml_close(&s);
    return 0;
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
    nvml_run_clocks(ri);
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

int kt_clocks_warm(kt_bench *b, kt_err *err)
{
    if (b->p->clock_warmup_ms <= 0)
        return 0;
    double until = now_ns() + b->p->clock_warmup_ms * NS_PER_MS;
    while (now_ns() < until) {
        if (kt_flush_l2(b, err) < 0)
            return -1;
        KT_CUDA(cudaStreamSynchronize(b->stream), "cudaStreamSynchronize (clock warm-up)", err);
    }
    return 0;
}

int kt_clocks_record(kt_bench *b, const char *bench, const char *phase, kt_err *err)
{
    calib_clock_sample c;
    if (kt_clocks_read(b, bench, phase, &c) < 0) {
        printf("  clocks at %s of %s: NVML not available\n", phase, bench);
        return 0;
    }
    char why[256];
    calib_clocks_reasons_text(c.reasons, why, sizeof why);
    printf("  clocks at %s of %s: SM %.0f MHz (max %.0f), memory %.0f MHz (max %.0f), %.0f C, %.0f W; reasons: %s%s\n",
           phase, bench, c.sm_mhz, c.sm_max_mhz, c.mem_mhz, c.mem_max_mhz, c.temp_c, c.power_w, why,
           calib_clocks_throttling(c.reasons) ? " -- THROTTLED" : "");
    fflush(stdout);
    return b->db ? calib_db_add_clocks(b->db, b->run_id, &c, err) : 0;
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
