/*
 * anomaly.c - anomaly detection on a provider's attempts (anomaly.h).
 */
#include "health/anomaly.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Bucket of a duration: 0..3 hold 0..3 us; from 4 us on, each power of two
 * [2^k, 2^(k+1)) is cut into four, by the two bits after the leading one. */
static unsigned bucket_of(uint64_t micros)
{
    if (micros < 4)
        return (unsigned)micros;
    unsigned k = 63u - (unsigned)__builtin_clzll(micros);
    unsigned b = 4 * (k - 1) + (unsigned)((micros >> (k - 2)) & 3);
    return b < TG_ANOMALY_BUCKETS ? b : TG_ANOMALY_BUCKETS - 1;
}

/* The middle of bucket b, in microseconds. */
static double bucket_middle(unsigned b)
{
    if (b < 4)
        return b + 0.5;
    unsigned k = b / 4 + 1, quarter = b % 4;
    return (double)((uint64_t)(4 + quarter) << (k - 2)) + (double)((uint64_t)1 << (k - 2)) / 2;
}

void tg_anomaly_record(tg_anomaly_counters_t *c, bool failed, uint64_t micros)
{
    atomic_fetch_add_explicit(&c->attempts, 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->buckets[bucket_of(micros)], 1, memory_order_relaxed);
}

double tg_anomaly_p95(const uint64_t *buckets)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < TG_ANOMALY_BUCKETS; b++)
        total += buckets[b];
    if (total == 0)
        return 0;
    uint64_t rank = (total * 95 + 99) / 100; /* ceil(0.95 * total): nearest rank */
    uint64_t seen = 0;
    unsigned b = 0;
    while ((seen += buckets[b]) < rank)
        b++;
    return bucket_middle(b) / 1e6;
}

static double ewma(double baseline, double x, uint32_t folded, double weight)
{
    return folded == 0 ? x : baseline + weight * (x - baseline);
}

/* Whether count lies beyond `expected` by more than noise: both by `factor`
 * (above expected * factor, or below expected / factor when `below`) and by
 * TG_ANOMALY_SIGMAS Poisson deviations, taken as at least 2: an expectation
 * near 0 comes from a baseline that is itself noisy, so it asks for 10
 * events more than expected (at 1, a steady 2% error rate fired about once
 * a week in the simulation of test_anomaly.c). */
static bool far_from(double count, double expected, double factor, bool below)
{
    double noise = TG_ANOMALY_SIGMAS * sqrt(expected > 4 ? expected : 4);
    if (below)
        return count * factor < expected && expected - count > noise;
    return count > expected * factor && count - expected > noise;
}

size_t tg_anomaly_detect(tg_anomaly_state_t *s, const tg_anomaly_counters_t *c, const tg_anomaly_config_t *cfg,
                         double now, tg_anomaly_t out[TG_ANOMALY_TYPE_COUNT])
{
    /* The interval's counts, and the counters become the next starting point. */
    uint64_t attempts = atomic_load_explicit(&c->attempts, memory_order_relaxed);
    uint64_t failures = atomic_load_explicit(&c->failures, memory_order_relaxed);
    uint64_t hist[TG_ANOMALY_BUCKETS];
    for (unsigned b = 0; b < TG_ANOMALY_BUCKETS; b++) {
        uint64_t v = atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
        hist[b] = v - s->buckets[b];
        s->buckets[b] = v;
    }
    uint64_t n = attempts - s->attempts, failed = failures - s->failures;
    double seconds = now - s->last_run;
    bool judge = s->started && seconds > 0 && seconds <= 2.0 * cfg->interval_ms / 1000.0;
    s->attempts = attempts;
    s->failures = failures;
    s->last_run = now;
    s->started = true;
    /* A failure counted between the loads of attempts and failures may be
     * in this interval's failures but not its attempts. */
    if (!judge || failed > n)
        return 0;

    size_t found = 0;
    double w = cfg->baseline_weight;
    double expected = s->volume * seconds;
    bool enough = (double)n >= cfg->min_requests || expected >= cfg->min_requests;
    if (s->volume_intervals >= cfg->warmup_intervals && enough &&
        (far_from((double)n, expected, cfg->volume_factor, false) ||
         far_from((double)n, expected, cfg->volume_factor, true)))
        out[found++] = (tg_anomaly_t){TG_ANOMALY_UNUSUAL_PATTERN, (double)n, expected, n, seconds};
    s->volume = ewma(s->volume, (double)n / seconds, s->volume_intervals++, w);

    if (n < cfg->min_requests)
        return found; /* too few attempts for a p95 or an error rate */
    double p95 = tg_anomaly_p95(hist), rate = (double)failed / (double)n;
    if (s->quality_intervals >= cfg->warmup_intervals) {
        if (s->p95 > 0 && p95 > cfg->latency_factor * s->p95)
            out[found++] = (tg_anomaly_t){TG_ANOMALY_LATENCY_SPIKE, p95, s->p95, n, seconds};
        if (rate >= cfg->error_floor &&
            far_from((double)failed, s->error_rate * (double)n, cfg->error_factor, false))
            out[found++] = (tg_anomaly_t){TG_ANOMALY_ERROR_SURGE, rate, s->error_rate, n, seconds};
    }
    s->p95 = ewma(s->p95, p95, s->quality_intervals, w);
    s->error_rate = ewma(s->error_rate, rate, s->quality_intervals++, w);
    return found;
}
