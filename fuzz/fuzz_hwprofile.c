/* fuzz_hwprofile.c — fuzz target: a hardware profile through hw_load_string. */
#include "fuzz.h"
#include "hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_err err;
    hw_profile *h = hw_load_string((const char *)data, size, "fuzz.yaml", &err);
    for (int d = 0; h && d < DTYPE_COUNT; d++)
        hw_peak_flops(h, (kt_dtype)d);
    hw_free(h);
    return 0;
}
