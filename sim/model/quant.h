/* quant.h — weight formats: how many bytes a parameter takes with its scales, and which tensor-core path multiplies it. */
#ifndef KT_QUANT_H
#define KT_QUANT_H

#include "conf.h"
#include "dtype.h"
#include "err.h"

typedef enum {
    QUANT_FP32, QUANT_BF16, QUANT_FP16,
    QUANT_FP8,      /* W8A8 FP8 (per-channel or per-tensor scales) */
    QUANT_INT8,     /* W8A8 INT8 (SmoothQuant) */
    QUANT_W8A16,    /* INT8 weights, 16-bit activations: dequantized in the GEMM */
    QUANT_W4A16,    /* INT4 weights in groups with a scale and a zero point (GPTQ, AWQ) */
    QUANT_MXFP4,    /* OCP MX FP4: blocks of 32 with an 8-bit power-of-two scale */
    QUANT_NVFP4,    /* NVIDIA FP4: blocks of 16 with an FP8 scale */
    QUANT_COUNT
} quant_format;

extern const char *const quant_names[QUANT_COUNT + 1];

/* One format's layout.
 * Invariants: stored is the element dtype as held in HBM; a format with
 * fixed_group > 0 takes no other group size; scale and zero bytes are per
 * group (0 for per-channel or per-tensor scales, negligible next to the
 * weights). */
typedef struct quant_spec {
    kt_dtype stored;           /* element format of the weights in HBM */
    kt_dtype native;           /* operand dtype of the GEMM where the GPU has that path */
    kt_dtype emulated;         /* where it has not: weights dequantized to this in the kernel */
    int default_group;         /* elements sharing one scale, 0: per channel */
    int fixed_group;           /* the format's block size, 0: any group */
    double scale_bytes;        /* per group */
    double zero_bytes;         /* per group */
} quant_spec;

/* Weights as a model is served: format and group size (0: per channel). */
typedef struct quant_cfg {
    quant_format format;
    int group;
} quant_cfg;

const quant_spec *quant_spec_of(quant_format f);
int quant_parse(const char *name, quant_format *out);
/* The format a card's weight_dtype means on its own (int4 → w4a16, fp4 →
 * nvfp4); format QUANT_COUNT for int2, which no weight format stores. */
quant_cfg quant_from_dtype(kt_dtype d);
/* Bytes one parameter takes in HBM, scales and zero points included. */
double quant_bytes_param(const quant_cfg *q);
/* Reads an optional `quantization: {weights: FORMAT, group: N}` mapping
 * from map into *q (left as it is when absent; group defaults to the
 * format's). Returns 0, or -1 with err located at the key. */
int quant_from_conf(conf_node *map, quant_cfg *q, kt_err *err);
/* Checks the group against the format; err names nothing (the caller locates it). */
int quant_check(const quant_cfg *q, kt_err *err);

#endif
