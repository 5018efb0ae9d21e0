/* dtype.c — numeric format names and sizes. */
#include "dtype.h"

#include <string.h>
#include <strings.h>

const char *const dtype_names[DTYPE_COUNT + 1] = {
    "fp32", "bf16", "fp16", "fp8", "int8", "int4", "int2", "fp4", NULL
};

static const double dtype_size_bytes[DTYPE_COUNT] = { 4.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.25, 0.5 };

double dtype_bytes(kt_dtype d) { return dtype_size_bytes[d]; }

const char *dtype_name(kt_dtype d) { return dtype_names[d]; }

int dtype_parse(const char *name, kt_dtype *out)
{
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (strcasecmp(name, dtype_names[i]) == 0) {
            *out = (kt_dtype)i;
            return 0;
        }
    return -1;
}
