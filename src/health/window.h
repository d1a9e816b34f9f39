/*
 * window.h - rolling time windows of lock-free per-slot counters.
 *
 * A window is a caller-owned array of n slots; time is cut into epochs of a
 * fixed length and epoch e is counted in slot e % n. A writer that finds a
 * slot still holding an older epoch resets it, so the window rotates without
 * a timer thread. Reading sums the slots whose epoch is one of the last few.
 *
 * Used for the providers' 5-minute health windows (health/provider.h) and
 * the models' 24-hour uptime windows (health/score.h has their shapes); a
 * token window, the same scheme with token counts in its slots, holds the
 * models' 24-hour token efficiency. The providers' windows also keep a
 * histogram of durations per slot, in an array of its own so the models'
 * 1440-slot windows do not carry it. Every function is safe from any
 * thread and takes no lock.
 */
#ifndef TOLLGATE_HEALTH_WINDOW_H
#define TOLLGATE_HEALTH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One time slot. A count racing the reset of its slot may land in the old
 * or the new period, which a health ratio tolerates. */
typedef struct tg_window_slot {
    _Atomic uint64_t epoch;         /* 0 = never used */
    _Atomic uint64_t total;
    _Atomic uint64_t failures;
    _Atomic uint64_t unavailable;
} tg_window_slot_t;

/* The sums over a window. */
typedef struct tg_window_sum {
    uint64_t total, failures, unavailable;
} tg_window_sum_t;


/* The epoch of time now_seconds for slots of slot_seconds (> 0). Epochs
 * start at 1 because 0 marks an unused slot. */
uint64_t tg_window_epoch(double now_seconds, unsigned slot_seconds);

/* Counts one event in the slot of `epoch` (epoch >= 1): total + 1, plus one
 * failure and/or one unavailable when set. */
void tg_window_record(tg_window_slot_t *slots, size_t n, uint64_t epoch,
                      bool failed, bool unavailable);

/* Sums the slots of the last `span` epochs (1 <= span <= n), those in
 * (now_epoch - span, now_epoch]: older slots have aged out, newer ones (a
 * writer ahead of a stale reader clock) are not counted yet. span n is the
 * whole window. */
tg_window_sum_t tg_window_totals(const tg_window_slot_t *slots, size_t n, uint64_t now_epoch,
                                 size_t span);

/* One time slot of a token window: the tokens of the calls in its period. */
typedef struct tg_token_slot {
    _Atomic uint64_t epoch;         /* 0 = never used */
    _Atomic uint64_t prompt;
    _Atomic uint64_t completion;
} tg_token_slot_t;

typedef struct tg_token_sum {
    uint64_t prompt, completion;
} tg_token_sum_t;

/* Adds a call's tokens to the slot of `epoch` (epoch >= 1). */
void tg_token_window_record(tg_token_slot_t *slots, size_t n, uint64_t epoch,
                            uint64_t prompt, uint64_t completion);

/* Sums the whole window at now_epoch: the slots of (now_epoch - n, now_epoch]. */
tg_token_sum_t tg_token_window_totals(const tg_token_slot_t *slots, size_t n, uint64_t now_epoch);

/* Durations are counted in log buckets of 1/1024 s units (~1 ms): bucket
 * i holds those in (2^(i-1), 2^i] units, bucket 0 those up to 1 unit, the
 * last one everything above 64 s, so N = 18 covers 1 ms .. 128 s in N * 8
 * bytes a slot. Powers of two of a second make 1 s, 2 s, 4 s, 8 s bounds. */
#define TG_WINDOW_HIST_BUCKETS 18

/* One time slot of a duration histogram, rotated like tg_window_slot_t. */
typedef struct tg_window_hist {
    _Atomic uint64_t epoch;         /* 0 = never used */
    _Atomic uint64_t buckets[TG_WINDOW_HIST_BUCKETS];
} tg_window_hist_t;

/* Counts one duration of `micros` in the slot of `epoch` (epoch >= 1). */
void tg_window_hist_record(tg_window_hist_t *slots, size_t n, uint64_t epoch, uint64_t micros);

/* The `percent` quantile (1..100) in seconds of the durations in the last
 * `span` epochs (as tg_window_totals), 0 when there are none. It is the
 * upper bound of the bucket holding the smallest duration that at least
 * `percent`% of them do not exceed: never below the true quantile, less
 * than twice it (or 1/1024 s). */
double tg_window_hist_quantile(const tg_window_hist_t *slots, size_t n, uint64_t now_epoch, size_t span,
                               unsigned percent);

#endif /* TOLLGATE_HEALTH_WINDOW_H */
