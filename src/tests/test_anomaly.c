/*
 * test_anomaly.c - the anomaly detector (health/anomaly.h) on simulated
 * traffic with a simulated clock: quiet over 24 hours of steady traffic
 * with noise (a daily swing in volume, random errors, lognormal latencies)
 * at a high and a low volume; each type firing, alone, on the minute its
 * pattern is injected; the warm-up, a gap, a lasting change becoming the
 * new normal; and the p95 of the log-scale histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "health/anomaly.h"

static const tg_anomaly_config_t defaults = {
    .enabled = true, .interval_ms = 60000, .warmup_intervals = 10, .min_requests = 20,
    .baseline_weight = 0.1, .latency_factor = 3, .error_factor = 3, .error_floor = 0.1, .volume_factor = 3,
};

/* ------------------------------------------------- simulated traffic */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static double uniform(void)   /* (0, 1), xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((double)((rng * 0x2545f4914f6cdd1du) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)    /* Box-Muller */
{
    return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

/* A count with mean `mean`: a normal approximation of a Poisson count,
 * which is what independent clients make. */
static uint64_t poisson(double mean)
{
    double n = mean + sqrt(mean) * normal();
    return n > 0 ? (uint64_t)llround(n) : 0;
}

typedef struct traffic {
    double volume;         /* mean attempts a minute */
    double daily_swing;    /* volume * (1 +- this) over the day */
    double error_rate;
    double median_seconds; /* lognormal latencies */
    double sigma;
} traffic_t;

static const traffic_t steady = {.volume = 100, .daily_swing = 0.4, .error_rate = 0.02,
                                 .median_seconds = 0.8, .sigma = 0.5};
static const traffic_t quiet = {.volume = 25, .daily_swing = 0.4, .error_rate = 0.05,
                                .median_seconds = 2.0, .sigma = 0.6};

typedef struct sim {
    tg_anomaly_counters_t counters;
    tg_anomaly_state_t state;
    tg_anomaly_config_t cfg;
    int minute;
    size_t found[TG_ANOMALY_TYPE_COUNT];
    tg_anomaly_t last;
} sim_t;

static void sim_init(sim_t *s)
{
    memset(s, 0, sizeof(*s));
    s->cfg = defaults;
    rng = 0x9e3779b97f4a7c15u;
}

/* One minute of traffic t, with its volume, error rate and latency scaled
 * by the factors given, then the detector's run at the minute's end.
 * Returns how many anomalies it found. */
static size_t sim_minute(sim_t *s, const traffic_t *t, double volume_x, double error_x, double latency_x)
{
    double day = 2 * M_PI * s->minute / 1440.0;
    uint64_t n = poisson(t->volume * (1 + t->daily_swing * sin(day)) * volume_x);
    for (uint64_t i = 0; i < n; i++) {
        double seconds = t->median_seconds * latency_x * exp(t->sigma * normal());
        tg_anomaly_record(&s->counters, uniform() < t->error_rate * error_x, (uint64_t)(seconds * 1e6));
    }
    s->minute++;
    tg_anomaly_t out[TG_ANOMALY_TYPE_COUNT];
    size_t k = tg_anomaly_detect(&s->state, &s->counters, &s->cfg, s->minute * 60.0, out);
    for (size_t i = 0; i < k; i++) {
        s->found[out[i].type]++;
        s->last = out[i];
    }
    return k;
}

static size_t total_found(const sim_t *s)
{
    size_t n = 0;
    for (int t = 0; t < TG_ANOMALY_TYPE_COUNT; t++)
        n += s->found[t];
    return n;
}

/* Two hours of steady traffic: the baselines are warm. */
static void warm_up(sim_t *s, const traffic_t *t)
{
    for (int i = 0; i < 120; i++)
        sim_minute(s, t, 1, 1, 1);
    assert_int_equal(total_found(s), 0);
}

/* --------------------------------------------------------------- tests */

static void test_p95_of_histogram(void **state)
{
    (void)state;
    tg_anomaly_counters_t c;
    memset(&c, 0, sizeof(c));
    uint64_t hist[TG_ANOMALY_BUCKETS];
    assert_true(tg_anomaly_p95((uint64_t[TG_ANOMALY_BUCKETS]){0}) == 0);

    /* 95 of 100 at 100 ms: the p95 is 100 ms, within the bucket's width */
    for (int i = 0; i < 95; i++)
        tg_anomaly_record(&c, false, 100000);
    for (int i = 0; i < 5; i++)
        tg_anomaly_record(&c, false, 2000000);
    for (unsigned b = 0; b < TG_ANOMALY_BUCKETS; b++)
        hist[b] = c.buckets[b];
    assert_true(fabs(tg_anomaly_p95(hist) - 0.1) < 0.1 * 0.1);
    /* one more slow one and the 95th of 101 is slow */
    tg_anomaly_record(&c, true, 2000000);
    for (unsigned b = 0; b < TG_ANOMALY_BUCKETS; b++)
        hist[b] = c.buckets[b];
    assert_true(fabs(tg_anomaly_p95(hist) - 2.0) < 2.0 * 0.1);
    assert_int_equal(c.attempts, 101);
    assert_int_equal(c.failures, 1);

    /* every duration has a bucket whose middle is within 12.5% of it; the
     * longest land in the last */
    for (uint64_t us = 1; us < (1ull << 33); us = us * 3 + 1) {
        memset(&c, 0, sizeof(c));
        tg_anomaly_record(&c, false, us);
        for (unsigned b = 0; b < TG_ANOMALY_BUCKETS; b++)
            hist[b] = c.buckets[b];
        double got = tg_anomaly_p95(hist) * 1e6;
        if (fabs(got - (double)us) > 0.125 * (double)us + 0.5)
            fail_msg("%llu us: p95 %.1f us", (unsigned long long)us, got);
    }
    memset(&c, 0, sizeof(c));
    tg_anomaly_record(&c, false, UINT64_MAX);
    assert_int_equal(c.buckets[TG_ANOMALY_BUCKETS - 1], 1);
}

/* 24 simulated hours of steady traffic with noise, at 100 and at 25
 * attempts a minute: not one anomaly. */
static void test_quiet_over_a_steady_day(void **state)
{
    (void)state;
    const traffic_t *kinds[] = {&steady, &quiet};
    for (size_t k = 0; k < 2; k++) {
        sim_t s;
        sim_init(&s);
        for (int i = 0; i < 1440; i++)
            sim_minute(&s, kinds[k], 1, 1, 1);
        if (total_found(&s) != 0)
            fail_msg("traffic %zu: %zu anomalies, the last %s value %g baseline %g", k, total_found(&s),
                     tg_anomaly_type_name(s.last.type), s.last.value, s.last.baseline);
    }
}

static void test_latency_spike(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    warm_up(&s, &steady);
    assert_int_equal(sim_minute(&s, &steady, 1, 1, 5), 1);
    assert_int_equal(s.found[TG_ANOMALY_LATENCY_SPIKE], 1);
    assert_true(s.last.value > 3 * s.last.baseline);
    assert_true(s.last.baseline > 0.8 && s.last.baseline < 0.8 * 3);  /* a p95 of the steady traffic */
    assert_int_equal(s.last.seconds, 60);
}

static void test_error_surge(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    warm_up(&s, &steady);
    assert_int_equal(sim_minute(&s, &steady, 1, 20, 1), 1);   /* 40% errors */
    assert_int_equal(s.found[TG_ANOMALY_ERROR_SURGE], 1);
    assert_true(s.last.value > 0.25 && s.last.baseline < 0.05);
    /* at the low volume, where noise asks for more evidence: an outage */
    sim_init(&s);
    warm_up(&s, &quiet);
    assert_int_equal(sim_minute(&s, &quiet, 1, 20, 1), 1);    /* every attempt fails */
    assert_int_equal(s.found[TG_ANOMALY_ERROR_SURGE], 1);
}

static void test_unusual_volume_both_ways(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    warm_up(&s, &steady);
    assert_int_equal(sim_minute(&s, &steady, 5, 1, 1), 1);
    assert_int_equal(s.found[TG_ANOMALY_UNUSUAL_PATTERN], 1);
    assert_true(s.last.value > 3 * s.last.baseline);
    for (int i = 0; i < 60; i++) /* the surge fades from the baseline */
        sim_minute(&s, &steady, 1, 1, 1);
    size_t before = total_found(&s);
    assert_int_equal(sim_minute(&s, &steady, 0, 1, 1), 1);   /* traffic stops */
    assert_int_equal(total_found(&s), before + 1);
    assert_int_equal(s.last.type, TG_ANOMALY_UNUSUAL_PATTERN);
    assert_true(s.last.value == 0 && s.last.baseline > 20);
}

/* Nothing is judged before warmup_intervals intervals built the baselines,
 * and an interval with fewer than min_requests attempts says nothing about
 * latency or errors. */
static void test_warm_up_and_min_requests(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    for (int i = 0; i < 5; i++)
        sim_minute(&s, &steady, 1, 1, 1);
    assert_int_equal(sim_minute(&s, &steady, 10, 20, 10), 0);
    sim_init(&s);
    warm_up(&s, &steady);
    const traffic_t few = {.volume = 10, .error_rate = 1, .median_seconds = 30, .sigma = 0};
    sim_minute(&s, &few, 1, 1, 1);  /* all failed and slow, but 10 attempts */
    assert_int_equal(s.found[TG_ANOMALY_LATENCY_SPIKE], 0);
    assert_int_equal(s.found[TG_ANOMALY_ERROR_SURGE], 0);
}

/* A run long after the previous one (the tick stalled, or the provider was
 * out of the configuration) only takes a new starting point. */
static void test_gap_is_not_judged(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    warm_up(&s, &steady);
    for (int i = 0; i < 5000; i++)
        tg_anomaly_record(&s.counters, true, 60000000);
    tg_anomaly_t out[TG_ANOMALY_TYPE_COUNT];
    s.minute += 10;
    assert_int_equal(tg_anomaly_detect(&s.state, &s.counters, &s.cfg, s.minute * 60.0, out), 0);
    assert_int_equal(sim_minute(&s, &steady, 1, 1, 1), 0);
}

/* A lasting change fires for a few intervals, then is the new normal. */
static void test_lasting_change_becomes_normal(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s);
    warm_up(&s, &steady);
    int firing = 0;
    for (int i = 0; i < 60; i++)
        firing += sim_minute(&s, &steady, 1, 1, 5) > 0;
    assert_true(firing >= 1 && firing <= 10);
    assert_int_equal(sim_minute(&s, &steady, 1, 1, 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p95_of_histogram),
        cmocka_unit_test(test_quiet_over_a_steady_day),
        cmocka_unit_test(test_latency_spike),
        cmocka_unit_test(test_error_surge),
        cmocka_unit_test(test_unusual_volume_both_ways),
        cmocka_unit_test(test_warm_up_and_min_requests),
        cmocka_unit_test(test_gap_is_not_judged),
        cmocka_unit_test(test_lasting_change_becomes_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
