/*
 * anomaly.h - anomaly detection on a provider's upstream attempts: a
 * latency spike, an error surge, an unusual request volume
 * (docs/gateway-behaviour.md, "Anomaly detection").
 *
 * Workers count each attempt into the provider's tg_anomaly_counters_t:
 * cumulative atomics (attempts, failures and a log-scale histogram of
 * durations), so memory is constant and recording is two atomic adds.
 * Once an interval the housekeeping tick hands the counters to
 * tg_anomaly_detect, which takes the interval's differences from the
 * previous run, judges them against the provider's baselines (EWMAs of
 * earlier intervals) and then folds them into the baselines, so that a
 * lasting change becomes the new normal after a few intervals.
 *
 * tg_anomaly_detect reads no clock: the caller passes `now`, so tests run
 * a simulated day in milliseconds.
 */
#ifndef TOLLGATE_HEALTH_ANOMALY_H
#define TOLLGATE_HEALTH_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/words.h"

/* Durations in microseconds, four buckets per power of two (each at most
 * 25% wide, so its middle is within 12.5% of any duration in it), the
 * longest (from 2^32 us, 72 minutes) in the last: 1 KB of counters per
 * provider. */
#define TG_ANOMALY_BUCKETS 128

/* A count beyond its expectation is an anomaly only when it is also this
 * many standard deviations (of a Poisson count, at least 2) away: random
 * noise at the volumes where a factor alone would fire. */
#define TG_ANOMALY_SIGMAS 5.0

typedef struct tg_anomaly_counters {
    _Atomic uint64_t attempts;
    _Atomic uint64_t failures;                 /* any reason, as provider_error_rate */
    _Atomic uint64_t buckets[TG_ANOMALY_BUCKETS];
} tg_anomaly_counters_t;

/* The detector's memory of one provider; the tick's thread only. Zeroed
 * is the state before the first run. */
typedef struct tg_anomaly_state {
    bool started;
    double last_run;                     /* `now` of the previous run */
    uint64_t attempts, failures;         /* the counters at the previous run */
    uint64_t buckets[TG_ANOMALY_BUCKETS];
    double volume;                       /* EWMA of attempts per second */
    double p95;                          /* EWMA of the interval's p95, seconds */
    double error_rate;                   /* EWMA of failures / attempts */
    uint32_t volume_intervals;           /* intervals folded into volume */
    uint32_t quality_intervals;          /* ... into p95 and error_rate */
} tg_anomaly_state_t;

/* One detection, with the numbers that triggered it. */
typedef struct tg_anomaly {
    tg_anomaly_type_t type;
    double value;         /* p95 seconds, error rate, or attempts in the interval */
    double baseline;      /* the same quantity expected from the baseline */
    uint64_t attempts;    /* in the interval */
    double seconds;       /* the interval's length */
} tg_anomaly_t;

/* One upstream attempt; safe from any thread, lock-free. */
void tg_anomaly_record(tg_anomaly_counters_t *c, bool failed, uint64_t micros);

/* Judges the attempts counted since the previous call, at `now` (seconds
 * on any monotonic clock), with cfg's thresholds, writes what it found to
 * out and returns how many (0 to TG_ANOMALY_TYPE_COUNT). The first call
 * only takes a starting point, and so does a call more than two intervals
 * after the previous one (the provider was out of the configuration, or
 * the tick stalled: the gap is not an interval like the others). */
size_t tg_anomaly_detect(tg_anomaly_state_t *s, const tg_anomaly_counters_t *c, const tg_anomaly_config_t *cfg,
                         double now, tg_anomaly_t out[TG_ANOMALY_TYPE_COUNT]);

/* The 95th percentile of a histogram of TG_ANOMALY_BUCKETS counts, in
 * seconds: the middle of the bucket that holds it; 0 when empty. */
double tg_anomaly_p95(const uint64_t *buckets);

#endif /* TOLLGATE_HEALTH_ANOMALY_H */
