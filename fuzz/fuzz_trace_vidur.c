/* fuzz_trace_vidur.c — fuzz target: the Vidur CSV trace reader, streamed to the end under input-chosen replay options. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_trace(data, size, TRACE_VIDUR);
}
