/*
 * score.c - provider health score, healthy verdict and model uptime from
 * window sums (health/score.h).
 */
#include "health/score.h"

double tg_health_latency_score(double seconds)
{
    double score = (TG_HEALTH_LATENCY_ZERO - seconds) / (TG_HEALTH_LATENCY_ZERO - TG_HEALTH_LATENCY_FULL);
    return score > 1 ? 1 : score < 0 ? 0 : score;
}

tg_health_ratios_t tg_health_ratios_of(const tg_window_sum_t *w, double p95_seconds)
{
    if (w->total == 0)
        return (tg_health_ratios_t){.availability = 1, .error_rate = 0, .latency_score = 1};
    double total = (double)w->total;
    return (tg_health_ratios_t){
        .availability = 1.0 - (double)w->unavailable / total,
        .error_rate = (double)w->failures / total,
        .latency_score = tg_health_latency_score(p95_seconds),
    };
}

double tg_health_score(const tg_health_ratios_t *r)
{
    return 0.4 * r->availability + 0.3 * (1 - r->error_rate) + 0.3 * r->latency_score;
}

bool tg_health_verdict(const tg_window_sum_t *last_minute)
{
    return last_minute->total < TG_HEALTH_MIN_ATTEMPTS || 2 * last_minute->unavailable < last_minute->total;
}

double tg_health_uptime_ratio(const tg_window_sum_t *w)
{
    return w->total ? 1.0 - (double)w->failures / (double)w->total : 1.0;
}
