/* fuzz_units.c — fuzz target: the quantity parser (units_parse) for every kind, and formatting what it accepts. */
#include <math.h>
#include <stdlib.h>

#include "fuzz.h"
#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    for (int k = 0; k < UNITS_KIND_COUNT; k++) {
        double v;
        char why[256], shown[64];
        if (units_parse(s, (units_kind)k, &v, why, sizeof why) != 0)
            continue;
        /* units.h promises a finite value >= 0 */
        if (!isfinite(v) || v < 0)
            abort();
        units_format(v, (units_kind)k, shown, sizeof shown);
    }
    free(s);
    return 0;
}
