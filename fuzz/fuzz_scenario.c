/* fuzz_scenario.c — fuzz target: a whole scenario file through scenario_load_string (model card, profile and trace lookups included). */
#include <stdlib.h>

#include "fuzz.h"
#include "scenario.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_use_source_data();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_names_device((const char *)data, size))
        return 0;
    /* Named as if in tests/data, so "path: traces/mooncake_small.jsonl" finds a trace. */
    kt_err err;
    scenario *sc = scenario_load_string((const char *)data, size, fuzz_src_path("tests/data/fuzz.yaml"), NULL, 0,
                                        &err);
    scenario_free(sc);
    return 0;
}
