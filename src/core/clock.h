/* clock.h: the gateway's one clock: monotonic seconds, for durations,
 * deadlines and windows. Read from the vDSO (no system call), so it may be
 * called on the hot path. Wall-clock time is only for log timestamps. */
#ifndef TOLLGATE_CORE_CLOCK_H
#define TOLLGATE_CORE_CLOCK_H

#include <time.h>

static inline double tg_clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
