/* calib_names.h — names of the calibration benchmarks and their cases, shared by the CUDA drivers that record samples and the fits that read them. */
#ifndef KT_CALIB_NAMES_H
#define KT_CALIB_NAMES_H

/*
 * Every sample row is (bench, case, x, work, rep, ns). What x and work mean
 * per benchmark (calibrate/README.md has the full list):
 *
 * bench    case                                    x                    work
 * hbm      read | copy | triad                     bytes per array      bytes moved
 * host     h2d|d2h|bidir / pinned|pageable         bytes per copy       bytes moved
 * host     kv/separate|kv/batched|kv/gather/B=N    blocks               bytes moved
 * peer     ce/uni | ce/bidir | sm/uni              bytes per copy       bytes moved
 * launch   enqueue | gap | eager | sync | graph    kernels (or nodes)   kernels
 * launch   busy/eager|busy/queued / d=Dus          kernels              kernels
 *          (n spin kernels of D us each: launched eagerly, or all queued
 *          behind a spinning kernel first)
 * gemm     bf16|fp8 / n=N/k=K                      M (tokens)           FLOPs (2MNK)
 * decode   fp16|fp8 /page=P/g=G/d=D/b=B/shuffled|identity
 *                                                  context tokens       bytes read
 * prefill  bf16/h=H/d=D/b=B                        sequence tokens      causal FLOPs
 * sdpa     bf16/h=H/d=D/b=B/causal                 sequence tokens      causal FLOPs
 * sdpa-chunked  bf16/h=H/d=D/b=B/causal/q=Q        context tokens       causal FLOPs
 *          (Q new tokens after x - Q cached ones: chunked prefill)
 * sdpa-decode   bf16|fp16/page=P/g=G/d=D/b=B/paged|contiguous
 *                                                  context tokens       KV bytes read
 * storage  cufile | pread+memcpy                   bytes per read       bytes moved
 *
 * ns is always the time of one call in nanoseconds (for enqueue: host time).
 */
#define CALIB_BENCH_HBM "hbm"
#define CALIB_BENCH_HOST "host"
#define CALIB_BENCH_PEER "peer"
#define CALIB_BENCH_LAUNCH "launch"
#define CALIB_BENCH_GEMM "gemm"
#define CALIB_BENCH_DECODE "decode"
#define CALIB_BENCH_PREFILL "prefill"
#define CALIB_BENCH_SDPA "sdpa"
#define CALIB_BENCH_SDPA_CHUNKED "sdpa-chunked"
#define CALIB_BENCH_SDPA_DECODE "sdpa-decode"
#define CALIB_BENCH_STORAGE "storage"

#define CALIB_CASE_HBM_READ "read"
#define CALIB_CASE_HBM_COPY "copy"
#define CALIB_CASE_HBM_TRIAD "triad"
#define CALIB_CASE_H2D_PINNED "h2d/pinned"
#define CALIB_CASE_D2H_PINNED "d2h/pinned"
#define CALIB_CASE_BIDIR_PINNED "bidir/pinned"
#define CALIB_CASE_PEER_CE "ce/uni"
#define CALIB_CASE_LAUNCH_EAGER "eager"
#define CALIB_CASE_LAUNCH_GRAPH "graph"
#define CALIB_CASE_LAUNCH_GAP "gap"
#define CALIB_CASE_LAUNCH_SYNC "sync"
#define CALIB_CASE_LAUNCH_ENQUEUE "enqueue"
#define CALIB_CASE_LAUNCH_BUSY_EAGER "busy/eager"
#define CALIB_CASE_LAUNCH_BUSY_QUEUED "busy/queued"

/* Case-name parts the fits filter on. */
#define CALIB_DTYPE_BF16_PREFIX "bf16/"
#define CALIB_DTYPE_FP16_PREFIX "fp16/"
#define CALIB_DTYPE_FP8_PREFIX "fp8/"
#define CALIB_DECODE_SHUFFLED "/shuffled"
#define CALIB_SDPA_PAGED "/paged"
#define CALIB_SDPA_CONTIGUOUS "/contiguous"

#endif
