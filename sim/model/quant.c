/* quant.c — the weight-format table: stored element size, scale layout and GEMM path of each format, with their sources. */
#include "quant.h"

#include <string.h>

const char *const quant_names[QUANT_COUNT + 1] = {
    "fp32", "bf16", "fp16", "fp8", "int8", "w8a16", "w4a16", "mxfp4", "nvfp4", NULL
};

/* Group layouts:
 * - w8a16, w4a16: one fp16 scale per group (GPTQ, Frantar et al. 2023; AWQ,
 *   Lin et al. 2024, group 128 by default in both); AWQ also stores a 4-bit
 *   zero point per group (0.5 B), GPTQ's asymmetric mode the same.
 * - mxfp4: OCP Microscaling Formats (MX) Specification v1.0 (2023), §5:
 *   32-element blocks sharing one 8-bit E8M0 scale.
 * - nvfp4: NVIDIA, "Introducing NVFP4 for efficient and accurate low-precision
 *   inference" (2025): 16-element micro-blocks with an FP8 E4M3 scale (plus
 *   one FP32 scale per tensor, negligible).
 * fp8 and int8 W8A8 checkpoints (vLLM's fp8 / SmoothQuant) carry per-tensor
 * or per-channel scales: no per-group bytes. */
static const quant_spec specs[QUANT_COUNT] = {
    [QUANT_FP32] = { DTYPE_FP32, DTYPE_FP32, DTYPE_FP32, 0, 0, 0, 0 },
    [QUANT_BF16] = { DTYPE_BF16, DTYPE_BF16, DTYPE_BF16, 0, 0, 0, 0 },
    [QUANT_FP16] = { DTYPE_FP16, DTYPE_FP16, DTYPE_FP16, 0, 0, 0, 0 },
    [QUANT_FP8] = { DTYPE_FP8, DTYPE_FP8, DTYPE_BF16, 0, 0, 0, 0 },
    [QUANT_INT8] = { DTYPE_INT8, DTYPE_INT8, DTYPE_BF16, 0, 0, 0, 0 },
    [QUANT_W8A16] = { DTYPE_INT8, DTYPE_BF16, DTYPE_BF16, 128, 0, 2, 0 },
    [QUANT_W4A16] = { DTYPE_INT4, DTYPE_BF16, DTYPE_BF16, 128, 0, 2, 0.5 },
    [QUANT_MXFP4] = { DTYPE_FP4, DTYPE_FP4, DTYPE_BF16, 32, 32, 1, 0 },
    [QUANT_NVFP4] = { DTYPE_FP4, DTYPE_FP4, DTYPE_BF16, 16, 16, 1, 0 },
};

const quant_spec *quant_spec_of(quant_format f) { return &specs[f]; }

int quant_parse(const char *name, quant_format *out)
{
    for (int i = 0; i < QUANT_COUNT; i++)
        if (strcmp(name, quant_names[i]) == 0) {
            *out = (quant_format)i;
            return 0;
        }
    return -1;
}

quant_cfg quant_from_dtype(kt_dtype d)
{
    quant_format f;
    switch (d) {
    case DTYPE_FP32: f = QUANT_FP32; break;
    case DTYPE_FP16: f = QUANT_FP16; break;
    case DTYPE_FP8: f = QUANT_FP8; break;
    case DTYPE_INT8: f = QUANT_INT8; break;
    case DTYPE_INT4: f = QUANT_W4A16; break;
    case DTYPE_INT2: return (quant_cfg){ QUANT_COUNT, 0 };
    case DTYPE_FP4: f = QUANT_NVFP4; break;
    default: f = QUANT_BF16; break;
    }
    return (quant_cfg){ f, specs[f].default_group };
}

double quant_bytes_param(const quant_cfg *q)
{
    const quant_spec *s = &specs[q->format];
    double per_group = q->group > 0 ? (s->scale_bytes + s->zero_bytes) / q->group : 0;
    return dtype_bytes(s->stored) + per_group;
}

/* Largest group size accepted: a whole hidden row of the largest models. */
#define QUANT_GROUP_MAX 65536

int quant_from_conf(conf_node *map, quant_cfg *q, kt_err *err)
{
    conf_node *qn = conf_take(map, "quantization");
    if (!qn)
        return 0;
    int f = 0;
    if (conf_expect(qn, CONF_MAP, err) < 0 || conf_enum(qn, "weights", CONF_REQUIRED, quant_names, &f, err) < 0)
        return -1;
    quant_cfg out = { (quant_format)f, specs[f].default_group };
    if (conf_int(qn, "group", CONF_OPTIONAL, 0, QUANT_GROUP_MAX, &out.group, err) < 0)
        return -1;
    kt_err inner = { 0 };
    if (quant_check(&out, &inner) < 0) {
        conf_node *g = conf_find(qn, "group");
        CONF_ERROR(err, g ? g : qn, "%s", inner.msg);
        return -1;
    }
    *q = out;
    return 0;
}

int quant_check(const quant_cfg *q, kt_err *err)
{
    const quant_spec *s = &specs[q->format];
    if (q->group < 0) {
        KT_ERROR(err, NULL, 0, 0, "group %d: must be 0 (per channel) or a positive element count", q->group);
        return -1;
    }
    if (s->fixed_group > 0 && q->group != s->fixed_group) {
        KT_ERROR(err, NULL, 0, 0, "%s weights come in blocks of %d elements; group %d is another format",
                 quant_names[q->format], s->fixed_group, q->group);
        return -1;
    }
    return 0;
}
