/* calib_clocks.h — GPU clock samples taken at each benchmark's start and end, and which of NVML's clock-event reasons mean the GPU was throttled. */
#ifndef KT_CALIB_CLOCKS_H
#define KT_CALIB_CLOCKS_H

#include <stddef.h>
#include <stdint.h>

/* NVML's clock-event (throttle) reason bits, as nvml.h defines
 * nvmlClocksEventReason* (formerly nvmlClocksThrottleReason*). */
#define CALIB_CLOCKS_GPU_IDLE 0x1ull
#define CALIB_CLOCKS_APP_SETTING 0x2ull
#define CALIB_CLOCKS_SW_POWER_CAP 0x4ull
#define CALIB_CLOCKS_HW_SLOWDOWN 0x8ull
#define CALIB_CLOCKS_SYNC_BOOST 0x10ull
#define CALIB_CLOCKS_SW_THERMAL 0x20ull
#define CALIB_CLOCKS_HW_THERMAL 0x40ull
#define CALIB_CLOCKS_HW_POWER_BRAKE 0x80ull
#define CALIB_CLOCKS_DISPLAY_SETTING 0x100ull

/* One reading of the device's clocks. Invariant: phase is "start" or "end";
 * a field NVML could not give is 0 (all of them without NVML). */
typedef struct calib_clock_sample {
    char bench[16];            /* the benchmark it was taken around ("gemm", "validate") */
    char phase[8];             /* "start" (after the warm-up) or "end" */
    double sm_mhz, mem_mhz;    /* current clocks */
    double sm_max_mhz, mem_max_mhz;
    uint64_t reasons;          /* CALIB_CLOCKS_* bits in effect */
    double temp_c;             /* GPU temperature */
    double power_w;            /* board power draw */
} calib_clock_sample;

/* The bits of reasons that slow the clocks below what the load asks for:
 * power caps, thermal and hardware slowdowns, power brake. Idle, the
 * application clock setting, sync boost and the display setting are not
 * throttling. */
uint64_t calib_clocks_throttling(uint64_t reasons);

/* Names the set bits of reasons, ", "-separated ("sw power cap, hw thermal
 * slowdown"), "none" for 0, into buf of n bytes; returns buf. */
const char *calib_clocks_reasons_text(uint64_t reasons, char *buf, size_t n);

#endif
