/* clock.h: the gateway's clocks, read from the vDSO (no system call), so
 * they may be called on the hot path: monotonic time for durations,
 * deadlines, windows and token buckets; wall-clock time for what is dated
 * (log timestamps, ledger rows, audit entries, the budget's month). */
#ifndef TOLLGATE_CORE_CLOCK_H
#define TOLLGATE_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline double tg_clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic nanoseconds: exact integers for the token buckets. */
static inline int64_t tg_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Unix seconds, wall clock. */
static inline double tg_clock_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
