/* calib_params.c — the default sweeps of a calibration (documented in `kvtier-calibrate --help` and calibrate/README.md). */
#include "calib_params.h"

#include <stdio.h>
#include <string.h>

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)

void kt_params_defaults(kt_params *p)
{
    memset(p, 0, sizeof *p);
    p->samples = 11;
    p->warmup = 3;
    p->flush_min_bytes = 128 * MIB;
    p->hbm_min_bytes = 1 * MIB;
    p->hbm_max_bytes = 4 * GIB;
    p->host_min_bytes = 4 * KIB;
    p->host_max_bytes = 1 * GIB;
    p->peer_min_bytes = 1 * MIB;
    p->peer_max_bytes = 1 * GIB;
    const size_t kv_blocks[] = { 16 * KIB, 64 * KIB, 256 * KIB };
    for (size_t i = 0; i < sizeof kv_blocks / sizeof kv_blocks[0]; i++)
        p->kv_block_bytes[p->n_kv_block_bytes++] = kv_blocks[i];
    p->kv_max_blocks = 1024;
    p->launch_max_kernels = 1024;
    const int busy_us[] = { 2, 8, 32 };
    for (size_t i = 0; i < sizeof busy_us / sizeof busy_us[0]; i++)
        p->launch_busy_us[p->n_launch_busy++] = busy_us[i];
    p->clock_warmup_ms = 1000;
    snprintf(p->gemm_models, sizeof p->gemm_models, "llama-3.1-8b,llama-3.1-70b");
    p->gemm_max_tokens = 16384;
    p->decode_max_context = 131072;
    const int batches[] = { 1, 8, 32 };
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        p->decode_batches[p->n_decode_batches++] = batches[i];
    p->decode_kv_heads = 8;
    p->decode_max_bytes = 16 * GIB;
    p->prefill_max_tokens = 16384;
    p->prefill_heads = 32;
    p->prefill_scores_bytes = 4 * GIB;
    /* Chunk sizes serving engines prefill in: vLLM's default
     * max_num_batched_tokens of 512 with chunked prefill (its chunked
     * prefill documentation, vllm-project/vllm pull request 4580), SGLang's
     * default chunked_prefill_size of 8192 (docs.sglang.ai, server
     * arguments), and 2048 between them. */
    const int chunks[] = { 512, 2048, 8192 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        p->chunk_tokens[p->n_chunk_tokens++] = chunks[i];
    p->chunk_min_prefix = 1024;
    p->chunk_max_prefix = 65536;
    /* vLLM's default KV block size (docs.vllm.ai, engine arguments: --block-size). */
    p->sdpa_decode_page_tokens = 16;
    p->storage_max_bytes = 1 * GIB;
    const int vb[] = { 1, 8, 32, 64 }, vc[] = { 1024, 4096, 16384 };
    for (size_t i = 0; i < sizeof vb / sizeof vb[0]; i++)
        p->validate_batches[p->n_validate_batches++] = vb[i];
    for (size_t i = 0; i < sizeof vc / sizeof vc[0]; i++)
        p->validate_contexts[p->n_validate_contexts++] = vc[i];
}

const kt_sdpa_decode_cfg kt_sdpa_decode_cfgs[] = {
    { "bf16", 1 }, { "bf16", 4 }, { "bf16", 8 }, { "fp16", 4 },
};
const size_t kt_n_sdpa_decode_cfgs = sizeof kt_sdpa_decode_cfgs / sizeof kt_sdpa_decode_cfgs[0];

size_t kt_geometric_sweep(size_t lo, size_t hi, size_t factor, size_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t v = lo ? lo : 1; v <= hi && n < cap; v *= factor)
        out[n++] = v;
    return n;
}

size_t kt_pow2_sweep(size_t lo, size_t hi, size_t *out, size_t cap)
{
    return kt_geometric_sweep(lo, hi, 2, out, cap);
}
