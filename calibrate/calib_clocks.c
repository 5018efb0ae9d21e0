/* calib_clocks.c — names and classifies NVML's clock-event reason bits for the clock samples kept with a calibration. */
#include "calib_clocks.h"

#include <stdio.h>
#include <string.h>

static const struct { uint64_t bit; const char *name; int throttles; } reasons_known[] = {
    { CALIB_CLOCKS_GPU_IDLE, "gpu idle", 0 },
    { CALIB_CLOCKS_APP_SETTING, "applications clocks setting", 0 },
    { CALIB_CLOCKS_SW_POWER_CAP, "sw power cap", 1 },
    { CALIB_CLOCKS_HW_SLOWDOWN, "hw slowdown", 1 },
    { CALIB_CLOCKS_SYNC_BOOST, "sync boost", 0 },
    { CALIB_CLOCKS_SW_THERMAL, "sw thermal slowdown", 1 },
    { CALIB_CLOCKS_HW_THERMAL, "hw thermal slowdown", 1 },
    { CALIB_CLOCKS_HW_POWER_BRAKE, "hw power brake slowdown", 1 },
    { CALIB_CLOCKS_DISPLAY_SETTING, "display clock setting", 0 },
};
#define N_REASONS (sizeof reasons_known / sizeof reasons_known[0])

uint64_t calib_clocks_throttling(uint64_t reasons)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < N_REASONS; i++)
        if (reasons_known[i].throttles)
            mask |= reasons_known[i].bit;
    return reasons & mask;
}

const char *calib_clocks_reasons_text(uint64_t reasons, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    uint64_t named = 0;
    for (size_t i = 0; i < N_REASONS; i++)
        if (reasons & reasons_known[i].bit) {
            named |= reasons_known[i].bit;
            if (len + 1 < n)
                len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", reasons_known[i].name);
        }
    if ((reasons & ~named) && len + 1 < n)
        snprintf(buf + len, n - len, "%sother (0x%llx)", len ? ", " : "", (unsigned long long)(reasons & ~named));
    else if (reasons == 0)
        snprintf(buf, n, "none");
    return buf;
}
