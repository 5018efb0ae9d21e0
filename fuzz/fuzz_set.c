/* fuzz_set.c — fuzz target: --set overrides (conf_set), one a line, applied to scenarios/quickstart.yaml and validated. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "scenario.h"

/* More overrides than a command line would carry. */
#define MAX_SETS 64

static char *base_text;
static size_t base_len;

/* Reads the base scenario once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_use_source_data();
    FILE *f = fopen(fuzz_src_path("scenarios/quickstart.yaml"), "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        abort();
    base_len = (size_t)ftell(f);
    rewind(f);
    base_text = malloc(base_len);
    if (!base_text || fread(base_text, 1, base_len, f) != base_len)
        abort();
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_names_device((const char *)data, size))
        return 0;
    char *sets[MAX_SETS];
    size_t n = fuzz_lines(data, size, sets, MAX_SETS);
    kt_err err;
    scenario *sc = scenario_load_string(base_text, base_len, fuzz_src_path("scenarios/quickstart.yaml"), sets,
                                        (int)n, &err);
    scenario_free(sc);
    free(sets[0]);
    return 0;
}
