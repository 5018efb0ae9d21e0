/* dtype.h — numeric formats of weights, activations and KV, with their sizes. */
#ifndef KT_DTYPE_H
#define KT_DTYPE_H

typedef enum {
    DTYPE_FP32, DTYPE_BF16, DTYPE_FP16, DTYPE_FP8, DTYPE_INT8, DTYPE_INT4,
    DTYPE_INT2,     /* 2-bit KV, KIVI-style: keys per channel, values per token */
    DTYPE_FP4,      /* 4-bit float (E2M1): Blackwell tensor cores; MXFP4/NVFP4 weights */
    DTYPE_COUNT
} kt_dtype;

/* Names as written in YAML ("bf16"), NULL-terminated, indexed by kt_dtype. */
extern const char *const dtype_names[DTYPE_COUNT + 1];

/* Bytes per element (0.5 for int4, 0.25 for int2), scales not included. */
double dtype_bytes(kt_dtype d);
/* Parses a name; returns 0 and sets *out, or -1 when unknown. */
int dtype_parse(const char *name, kt_dtype *out);
const char *dtype_name(kt_dtype d);

#endif
