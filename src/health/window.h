/*
 * window.h - rolling time windows of lock-free per-slot counters.
 *
 * A window is a caller-owned array of n slots; time is cut into epochs of a
 * fixed length and epoch e is counted in slot e % n. A writer that finds a
 * slot still holding an older epoch resets it, so the window rotates without
 * a timer thread. Reading sums the slots whose epoch is one of the last n.
 *
 * Used for the providers' 5-minute health windows and the models' 24-hour
 * uptime windows (score.h has their shapes). Every function is safe from any
 * thread and takes no lock.
 */
#ifndef TG_HEALTH_WINDOW_H
#define TG_HEALTH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One time slot. A count racing the reset of its slot may land in the old
 * or the new period, which a health ratio tolerates. */
typedef struct health_window_slot {
    _Atomic uint64_t epoch;         /* 0 = never used */
    _Atomic uint64_t total;
    _Atomic uint64_t failures;
    _Atomic uint64_t unavailable;
    _Atomic uint64_t micros;        /* summed durations in microseconds */
} health_window_slot;

/* The sums over a window. */
typedef struct health_window_sum {
    uint64_t total, failures, unavailable, micros;
} health_window_sum;

/* Monotonic seconds from CLOCK_MONOTONIC_COARSE (read from the vDSO: no
 * syscall, so callable on the hot path); resolution a few milliseconds. */
double health_now(void);

/* The epoch of time now_seconds for slots of slot_seconds (> 0). Epochs
 * start at 1 because 0 marks an unused slot. */
uint64_t health_window_epoch(double now_seconds, unsigned slot_seconds);

/* Counts one event in the slot of `epoch` (epoch >= 1): total + 1, plus one
 * failure and/or one unavailable when set, plus micros. */
void health_window_record(health_window_slot *slots, size_t n, uint64_t epoch,
                          bool failed, bool unavailable, uint64_t micros);

/* Sums the slots whose epoch lies in (now_epoch - n, now_epoch]: older
 * slots have aged out, newer ones (a writer ahead of a stale reader clock)
 * are not counted yet. */
health_window_sum health_window_totals(const health_window_slot *slots, size_t n,
                                       uint64_t now_epoch);

#endif /* TG_HEALTH_WINDOW_H */
