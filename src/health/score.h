/*
 * score.h - provider health and model uptime computed from rolling windows
 * (health/window.h): availability, error rate, latency score, the health
 * score, the healthy verdict and the uptime ratio, as documented in
 * docs/metrics.md ("Computed gauges", "Provider health").
 *
 * Pure functions of window sums, so they are exact and testable without a
 * clock.
 */
#ifndef TOLLGATE_HEALTH_SCORE_H
#define TOLLGATE_HEALTH_SCORE_H

#include <stdbool.h>

#include "health/window.h"

/* A provider's health window: 5 minutes of upstream attempts in 10 s slots. */
#define TG_HEALTH_SLOT_SECONDS 10
#define TG_HEALTH_SLOTS 30

/* The healthy verdict looks at the last minute of that window (its 6 most
 * recent slots, the current one included): recent enough to follow an
 * outage and its end within a minute, long enough to hold a few attempts
 * of a quiet provider. */
#define TG_HEALTH_VERDICT_SLOTS 6
/* Fewer attempts than this in the last minute say nothing either way. */
#define TG_HEALTH_MIN_ATTEMPTS 5

/* A model's uptime window: 24 hours of LLM calls in 1-minute slots. */
#define TG_UPTIME_SLOT_SECONDS 60
#define TG_UPTIME_SLOTS 1440

/* latency_score is 1 up to this p95 of the attempt durations (seconds)
 * and falls linearly to 0 at TG_HEALTH_LATENCY_ZERO. The p95, not the
 * mean: a few slow attempts should lower the score, and a mean hides them
 * among many fast ones. */
#define TG_HEALTH_LATENCY_PERCENT 95
#define TG_HEALTH_LATENCY_FULL 1.0
#define TG_HEALTH_LATENCY_ZERO 10.0

typedef struct tg_health_ratios {
    double availability;   /* 1 - unavailable / total (429s are not the provider failing) */
    double error_rate;     /* failures / total, any reason */
    double latency_score;  /* tg_health_latency_score of the p95 duration */
} tg_health_ratios_t;

/* clamp((ZERO - seconds) / (ZERO - FULL), 0, 1). */
double tg_health_latency_score(double seconds);

/* The ratios of a provider's window sums and the p95 of its attempt
 * durations (tg_window_hist_quantile). With no attempts, nothing speaks
 * against the provider: availability 1, error rate 0, latency score 1. */
tg_health_ratios_t tg_health_ratios_of(const tg_window_sum_t *w, double p95_seconds);

/* 0.4 * availability + 0.3 * (1 - error_rate) + 0.3 * latency_score. */
double tg_health_score(const tg_health_ratios_t *r);

/* The healthy verdict on the last minute of a provider's window: false
 * when it holds at least TG_HEALTH_MIN_ATTEMPTS attempts and the provider
 * itself failed at least half of them (unavailable: connect, reset,
 * timeout, 5xx, bad response; a 429 is the provider answering on purpose).
 * Counted in integers, so exactly half is unhealthy. */
bool tg_health_verdict(const tg_window_sum_t *last_minute);

/* Successful / all calls of a model's uptime window (failures counted as
 * not successful); 1 with no calls. */
double tg_health_uptime_ratio(const tg_window_sum_t *w);

#endif /* TOLLGATE_HEALTH_SCORE_H */
