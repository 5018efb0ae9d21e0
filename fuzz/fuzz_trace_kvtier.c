/* fuzz_trace_kvtier.c — fuzz target: the kvtier's native JSONL trace reader, streamed to the end under input-chosen replay options. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_trace(data, size, TRACE_KVTIER);
}
