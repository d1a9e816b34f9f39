/*
 * score.c - provider health score and model uptime from window sums
 * (score.h).
 */
#include "score.h"

double health_latency_score(double mean_seconds)
{
    double score = (HEALTH_LATENCY_ZERO - mean_seconds) / (HEALTH_LATENCY_ZERO - HEALTH_LATENCY_FULL);
    return score > 1 ? 1 : score < 0 ? 0 : score;
}

health_ratios health_ratios_of(const health_window_sum *w)
{
    if (w->total == 0)
        return (health_ratios){.availability = 1, .error_rate = 0, .latency_score = 1};
    double total = (double)w->total;
    return (health_ratios){
        .availability = 1.0 - (double)w->unavailable / total,
        .error_rate = (double)w->failures / total,
        .latency_score = health_latency_score((double)w->micros / 1e6 / total),
    };
}

double health_score(const health_ratios *r)
{
    return 0.4 * r->availability + 0.3 * (1 - r->error_rate) + 0.3 * r->latency_score;
}

double health_uptime_ratio(const health_window_sum *w)
{
    return w->total ? 1.0 - (double)w->failures / (double)w->total : 1.0;
}
