/* bench.h — what the CUDA calibration benchmarks share: sweep parameters, the device with its stream, events and L2 flush buffer, sampling with warm-up, and recording into the sample store. */
#ifndef KT_BENCH_H
#define KT_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "calib_db.h"
#include "calib_params.h"
#include "err.h"

/* Exit status for "nothing could be measured here" (no usable GPU), which
 * automake's test harness reports as SKIP. */
#define KT_EXIT_SKIP 77

/* A benchmark's result: done, skipped (why printed), or failed (err set). */
#define KT_BENCH_OK 0
#define KT_BENCH_SKIPPED 1
#define KT_BENCH_FAILED (-1)


/* The device under test and the tools every benchmark uses.
 * Invariants after kt_bench_init: stream is a blocking stream (ordered after
 * plain cudaMemcpy/cudaMemset calls on the legacy stream); flush_buf holds
 * flush_bytes >= 2 × l2_bytes; run_id names this run's calib_runs row. */
typedef struct kt_bench {
    int device;
    int gpu_count;
    int sm_count;
    size_t l2_bytes;
    cudaStream_t stream;
    cudaEvent_t start, stop;
    void *flush_buf;
    size_t flush_bytes;
    unsigned long long *sink;  /* device word the read kernels may write */
    calib_db *db;              /* not owned */
    int64_t run_id;
    const kt_params *p;        /* not owned */
    calib_run_info info;
} kt_bench;

/* 1 when device can be used; else 0 with the reason in why (the CUDA error,
 * or "no CUDA devices"). */
int kt_device_usable(int device, char *why, size_t n);

/* Selects device, reads its properties and clocks (NVML when present),
 * allocates the stream, events and flush buffer, and records a new run in
 * db with cmdline, or, when run_id > 0, adds to that existing run (one
 * process per benchmark, one run). Returns 0, or -1 with err; kt_bench_free
 * either way. db and p stay the caller's. */
int kt_bench_init(kt_bench *b, int device, const kt_params *p, calib_db *db, const char *cmdline,
                  int64_t run_id, kt_err *err);
void kt_bench_free(kt_bench *b);

/* Reads the device's clocks, throttle reasons, temperature and power draw
 * through NVML into *out, labelled bench and phase; -1 (out holding only
 * the labels) when NVML is not available. */
int kt_clocks_read(const kt_bench *b, const char *bench, const char *phase, calib_clock_sample *out);
/* Keeps the GPU streaming from HBM for p->clock_warmup_ms, so that the
 * clocks have risen to what a loaded GPU runs at before anything is timed. */
int kt_clocks_warm(kt_bench *b, kt_err *err);
/* Reads the clocks (kt_clocks_read), prints them, flags throttling, and
 * stores them in table calib_clocks of the run. Without NVML it says so and
 * stores nothing. Returns 0, or -1 with err on a database error. */
int kt_clocks_record(kt_bench *b, const char *bench, const char *phase, kt_err *err);

/* Fills info from the device without a database (validation, --fit-only). */
int kt_device_info(int device, calib_run_info *info, kt_err *err);

/* An operation under test. For GPU timing it enqueues one call on s; for
 * host timing it runs the call to completion. Returns 0, or -1 with err. */
typedef int (*kt_op)(void *ctx, cudaStream_t s, kt_err *err);

/* Enqueues a read of the flush buffer: afterwards L2 holds none of the
 * benchmark's data, and no dirty lines of it. */
int kt_flush_l2(kt_bench *b, kt_err *err);

/* Runs p->warmup untimed calls, then p->samples timed ones, each: optional
 * L2 flush, pre (untimed, may be NULL), start event, op, stop event. ns
 * gets the event times (p->samples entries, caller's array). */
int kt_sample_gpu(kt_bench *b, kt_op pre, kt_op op, void *ctx, int flush, double *ns, kt_err *err);
/* The same on the host clock (CLOCK_MONOTONIC) around op; the flush is
 * completed before the clock starts, and the stream is synchronized (untimed)
 * after each call, so op may leave work queued when only its host time counts. */
int kt_sample_host(kt_bench *b, kt_op op, void *ctx, int flush, double *ns, kt_err *err);

/* Stores the samples of one point and prints "bench case x: median (IQR)
 * rate" where rate is work / median in work_unit per second. */
int kt_record(kt_bench *b, const char *bench, const char *case_name, double x, double work,
              const char *work_unit, const double *ns, kt_err *err);

/* Sets err from a CUDA error and returns -1. */
int kt_cuda_fail(cudaError_t e, const char *what, kt_err *err);
#define KT_CUDA(call, what, err) \
    do { cudaError_t kt_e_ = (call); if (kt_e_ != cudaSuccess) return kt_cuda_fail(kt_e_, (what), (err)); } while (0)

/* Allocates n bytes of device memory, or sets err. */
int kt_dev_alloc(void **p, size_t n, const char *what, kt_err *err);
/* Free device memory the caller can still allocate (cudaMemGetInfo). */
size_t kt_dev_free_bytes(void);

/* Fixed seed of block-table shuffles: every run scatters pages alike. */
#define KT_SHUFFLE_SEED 2024u

/* Fills a block table of batch rows of pages_per_seq pages: identity
 * (sequence b owns pages b × pages_per_seq ...) or a fixed shuffle of all of
 * them (KT_SHUFFLE_SEED), which defeats any locality between neighbours. */
void kt_block_table(int32_t *bt, int batch, int pages_per_seq, int shuffled);


struct kt_attn_args;
/* Sets a->splits and a->tokens_per_split for contexts of up to max_ctx_tokens
 * from the split kernel's occupancy on this GPU (calib_split_plan); a's
 * batch, KV heads, group, head dim, dtype and math must be set. Returns 0,
 * or -1 with err (bench_attn.c). */
int kt_decode_plan_splits(const kt_bench *b, struct kt_attn_args *a, int max_ctx_tokens, kt_err *err);

/* ---------- the benchmarks (bench_*.c); each returns KT_BENCH_* ---------- */
int kt_bench_hbm(kt_bench *b, kt_err *err);
int kt_bench_host(kt_bench *b, kt_err *err);
int kt_bench_peer(kt_bench *b, kt_err *err);
int kt_bench_launch(kt_bench *b, kt_err *err);
int kt_bench_gemm(kt_bench *b, kt_err *err);
int kt_bench_decode(kt_bench *b, kt_err *err);
int kt_bench_prefill(kt_bench *b, kt_err *err);
/* cuDNN fused SDPA; KT_BENCH_SKIPPED without cuDNN 9 (bench_sdpa.c). */
int kt_bench_sdpa(kt_bench *b, kt_err *err);
/* cuDNN fused SDPA of chunks after a cached prefix (bottom-right causal mask). */
int kt_bench_sdpa_chunked(kt_bench *b, kt_err *err);
/* cuDNN fused SDPA decode: one query per sequence, paged KV where cuDNN takes it. */
int kt_bench_sdpa_decode(kt_bench *b, kt_err *err);
/* Builds one graph of every kind the cuDNN benchmarks time (whole
 * sequence, each chunk length, each decode configuration paged and
 * contiguous) up to a finalized operation graph and prints each: the
 * descriptors and the pattern are checked without a GPU; whether an engine
 * runs it is learnt when planning on the device. KT_BENCH_OK, SKIPPED
 * without cuDNN 9, FAILED with err naming the last refused (bench_sdpa.c). */
int kt_sdpa_check_graphs(const kt_params *p, kt_err *err);
int kt_bench_storage(kt_bench *b, kt_err *err);

/* The composite validation: one Llama-3.1-8B decoder step at every (batch,
 * context) point of p, timed, against the simulator's prediction from the
 * profile at profile_path (model card from model_dirs). Prints each point
 * and the median absolute error; stores them (calib_validation). Sets
 * *median_abs_err. */
int kt_validate(kt_bench *b, const char *profile_path, const char *const *model_dirs,
                double *median_abs_err, kt_err *err);

#endif
