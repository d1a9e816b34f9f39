/*
 * score.h - provider health and model uptime computed from rolling windows
 * (window.h): availability, error rate, latency score, the health score and
 * the uptime ratio, as documented in docs/metrics.md ("Computed gauges").
 *
 * Pure functions of window sums, so they are exact and testable without a
 * clock.
 */
#ifndef TG_HEALTH_SCORE_H
#define TG_HEALTH_SCORE_H

#include "window.h"

/* A provider's health window: 5 minutes of upstream attempts in 10 s slots. */
#define HEALTH_SLOT_SECONDS 10
#define HEALTH_SLOTS 30

/* A model's uptime window: 24 hours of LLM calls in 1-minute slots. */
#define UPTIME_SLOT_SECONDS 60
#define UPTIME_SLOTS 1440

/* latency_score is 1 up to this mean attempt duration (seconds) and falls
 * linearly to 0 at HEALTH_LATENCY_ZERO. */
#define HEALTH_LATENCY_FULL 1.0
#define HEALTH_LATENCY_ZERO 10.0

typedef struct health_ratios {
    double availability;   /* 1 - unavailable / total (429s are not the provider failing) */
    double error_rate;     /* failures / total, any reason */
    double latency_score;  /* health_latency_score of the mean duration */
} health_ratios;

/* clamp((ZERO - mean) / (ZERO - FULL), 0, 1). */
double health_latency_score(double mean_seconds);

/* The ratios of a provider's window sums. With no attempts, nothing speaks
 * against the provider: availability 1, error rate 0, latency score 1. */
health_ratios health_ratios_of(const health_window_sum *w);

/* 0.4 * availability + 0.3 * (1 - error_rate) + 0.3 * latency_score. */
double health_score(const health_ratios *r);

/* Successful / all calls of a model's uptime window (failures counted as
 * not successful); 1 with no calls. */
double health_uptime_ratio(const health_window_sum *w);

#endif /* TG_HEALTH_SCORE_H */
