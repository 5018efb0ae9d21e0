/* fuzz_trace_sharegpt.c — fuzz target: the ShareGPT conversation JSON reader, read whole and replayed to the end under input-chosen options. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_trace(data, size, TRACE_SHAREGPT);
}
