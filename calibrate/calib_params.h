/* calib_params.h — the calibration's sweep parameters and their defaults, shared by the CUDA benchmarks and the plan that estimates them without a GPU. */
#ifndef KT_CALIB_PARAMS_H
#define KT_CALIB_PARAMS_H

#include <stddef.h>

/* At least this many timed samples per point (medians and quartiles need them). */
#define KT_MIN_SAMPLES 7
#define KT_MAX_LIST 16

/* Every sweep parameter, with the defaults of kt_params_defaults (also in
 * `kvtier-calibrate --help` and calibrate/README.md). Sizes are bytes. */
typedef struct kt_params {
    int samples;               /* timed samples per point (>= 7): 11 */
    int warmup;                /* untimed calls before them: 3 */
    int quick;                 /* smaller sweeps for a smoke run */
    size_t flush_min_bytes;    /* L2 flush buffer: max(this, 2 × L2): 128 MiB */
    size_t hbm_min_bytes, hbm_max_bytes;   /* 1 MiB .. 4 GiB (max raised to 4 × L2) */
    size_t host_min_bytes, host_max_bytes; /* 4 KiB .. 1 GiB */
    size_t peer_min_bytes, peer_max_bytes; /* 1 MiB .. 1 GiB */
    size_t kv_block_bytes[KT_MAX_LIST];    /* 16 KiB, 64 KiB, 256 KiB */
    int n_kv_block_bytes;
    int kv_max_blocks;         /* 1024 */
    int launch_max_kernels;    /* 1024 */
    int launch_busy_us[KT_MAX_LIST];       /* kernel durations of the busy launch cases: 2, 8, 32 us */
    int n_launch_busy;
    int clock_warmup_ms;       /* load before each benchmark that brings the clocks up: 1000 ms */
    char gemm_models[512];     /* model cards whose GEMM shapes are swept: llama-3.1-8b,llama-3.1-70b */
    int gemm_max_tokens;       /* M = 1 .. this: 16384 */
    int decode_max_context;    /* contexts 512 .. this: 131072 */
    int decode_batches[KT_MAX_LIST];       /* 1, 8, 32 */
    int n_decode_batches;
    int decode_kv_heads;       /* 8 */
    size_t decode_max_bytes;   /* KV pool cap per point: 16 GiB */
    int prefill_max_tokens;    /* sequences 512 .. this: 16384 */
    int prefill_heads;         /* 32 */
    size_t prefill_scores_bytes;           /* score buffer; heads run in groups that fit: 4 GiB */
    int chunk_tokens[KT_MAX_LIST];         /* sdpa-chunked query (chunk) lengths: 512, 2048, 8192 */
    int n_chunk_tokens;
    int chunk_min_prefix, chunk_max_prefix;    /* cached prefixes before a chunk: 1024 .. 65536 */
    int sdpa_decode_page_tokens;           /* sdpa-decode page size: 16 */
    double sweep_budget_s;     /* the cuDNN benchmarks start no point after this long (0: no limit; the
                                * program sets it from --bench-timeout) */
    char storage_file[1024];   /* file the storage benchmark reads ("" skips it) */
    size_t storage_max_bytes;  /* 1 GiB */
    int validate_batches[KT_MAX_LIST];     /* 1, 8, 32, 64 */
    int n_validate_batches;
    int validate_contexts[KT_MAX_LIST];    /* 1024, 4096, 16384 */
    int n_validate_contexts;
} kt_params;

void kt_params_defaults(kt_params *p);

/* The sdpa-decode sweep, shared by the benchmark and the plan: every GQA
 * group in BF16 and FP16 at group 4 only (the two types read the same
 * bytes; one group shows whether the type matters), head dim 128,
 * contexts in powers of 4 (cuDNN builds a plan for every shape, which
 * costs far more than the timed calls). */
typedef struct kt_sdpa_decode_cfg {
    const char *kv_type;       /* "bf16" or "fp16" */
    int group;                 /* query heads per KV head */
} kt_sdpa_decode_cfg;
extern const kt_sdpa_decode_cfg kt_sdpa_decode_cfgs[];
extern const size_t kt_n_sdpa_decode_cfgs;
#define KT_SDPA_DECODE_HEAD_DIM 128
#define KT_SDPA_DECODE_MIN_CONTEXT 512
#define KT_SDPA_DECODE_CONTEXT_STEP 4

/* Powers of two from lo to hi (inclusive when hi is one), at most cap values. */
size_t kt_pow2_sweep(size_t lo, size_t hi, size_t *out, size_t cap);
/* lo, lo·factor, lo·factor², ... up to hi (factor >= 2), at most cap values. */
size_t kt_geometric_sweep(size_t lo, size_t hi, size_t factor, size_t *out, size_t cap);

#endif
