/*
 * test_health.c - health/: the rolling windows (health/window.h), the
 * provider health score and healthy verdict (health/score.h) with explicit
 * epochs and window sums so every expected number is exact, and the
 * provider registry (health/provider.h): state kept by name across
 * reloads, attempt reporting, the breaker as routing sees it, and the
 * evaluation at and just below its threshold, the active health checks'
 * schedule and verdict, the anomaly detector run over a view's providers,
 * and the (provider, upstream model) breakers of routes. The breaker's own
 * transitions are test_breaker.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "core/clock.h"
#include "health/provider.h"
#include "health/score.h"
#include "health/window.h"

#include "tests/yaml_fixture.h"

#define SLOTS 4

static void assert_sum(tg_window_sum_t got, uint64_t total, uint64_t failures, uint64_t unavailable)
{
    assert_int_equal(got.total, total);
    assert_int_equal(got.failures, failures);
    assert_int_equal(got.unavailable, unavailable);
}

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-12)
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_epochs_start_at_one(void **state)
{
    (void)state;
    assert_int_equal(tg_window_epoch(0, 10), 1);
    assert_int_equal(tg_window_epoch(9.999, 10), 1);
    assert_int_equal(tg_window_epoch(10, 10), 2);
    assert_int_equal(tg_window_epoch(125, 60), 3);
    double a = tg_clock_seconds(), b = tg_clock_seconds();
    assert_true(a > 0 && b >= a);
}

static void test_empty_window_sums_to_zero(void **state)
{
    (void)state;
    tg_window_slot_t w[SLOTS];
    memset(w, 0, sizeof(w));
    assert_sum(tg_window_totals(w, SLOTS, 1, SLOTS), 0, 0, 0);
    assert_sum(tg_window_totals(w, SLOTS, 1000, SLOTS), 0, 0, 0);
}

static void test_record_and_totals(void **state)
{
    (void)state;
    tg_window_slot_t w[SLOTS];
    memset(w, 0, sizeof(w));
    tg_window_record(w, SLOTS, 5, false, false);
    tg_window_record(w, SLOTS, 5, true, true);
    tg_window_record(w, SLOTS, 6, true, false);      /* a 429: failed, available */
    tg_window_record(w, SLOTS, 7, false, false);
    /* Epochs 5..7 are all within the last 4 as seen from 7 and from 8. */
    assert_sum(tg_window_totals(w, SLOTS, 7, SLOTS), 4, 2, 1);
    assert_sum(tg_window_totals(w, SLOTS, 8, SLOTS), 4, 2, 1);
    /* Each epoch has its own slot. */
    assert_int_equal(w[5 % SLOTS].total, 2);
    assert_int_equal(w[6 % SLOTS].total, 1);
    assert_int_equal(w[7 % SLOTS].total, 1);
}

static void test_old_slots_age_out(void **state)
{
    (void)state;
    tg_window_slot_t w[SLOTS];
    memset(w, 0, sizeof(w));
    tg_window_record(w, SLOTS, 5, true, true);
    tg_window_record(w, SLOTS, 6, false, false);
    tg_window_record(w, SLOTS, 8, false, false);
    /* The window seen from epoch e is (e - 4, e]. */
    assert_sum(tg_window_totals(w, SLOTS, 8, SLOTS), 3, 1, 1);
    assert_sum(tg_window_totals(w, SLOTS, 9, SLOTS), 2, 0, 0);    /* 5 aged out */
    assert_sum(tg_window_totals(w, SLOTS, 11, SLOTS), 1, 0, 0);   /* 6 too */
    assert_sum(tg_window_totals(w, SLOTS, 12, SLOTS), 0, 0, 0);    /* all gone */
    /* A slot ahead of the reader's epoch is not counted yet. */
    assert_sum(tg_window_totals(w, SLOTS, 6, SLOTS), 2, 1, 1);
}

static void test_rotation_resets_a_reused_slot(void **state)
{
    (void)state;
    tg_window_slot_t w[SLOTS];
    memset(w, 0, sizeof(w));
    tg_window_record(w, SLOTS, 2, true, true);
    tg_window_record(w, SLOTS, 2, true, false);
    /* Epoch 6 maps to the same slot as 2: the old counts are dropped, not
     * added to. */
    tg_window_record(w, SLOTS, 6, false, false);
    assert_int_equal(w[2].epoch, 6);
    assert_sum(tg_window_totals(w, SLOTS, 6, SLOTS), 1, 0, 0);
    /* Recording again in the current epoch keeps adding. */
    tg_window_record(w, SLOTS, 6, true, false);
    assert_sum(tg_window_totals(w, SLOTS, 6, SLOTS), 2, 1, 0);
}

static void test_latency_score(void **state)
{
    (void)state;
    assert_true(tg_health_latency_score(0) == 1.0);
    assert_true(tg_health_latency_score(TG_HEALTH_LATENCY_FULL) == 1.0);
    assert_true(tg_health_latency_score(5.5) == 0.5);            /* (10 - 5.5) / 9 */
    assert_near(tg_health_latency_score(4), 6.0 / 9.0);
    assert_true(tg_health_latency_score(TG_HEALTH_LATENCY_ZERO) == 0.0);
    assert_true(tg_health_latency_score(60) == 0.0);
}

static void test_ratios_of_window(void **state)
{
    (void)state;
    /* 8 attempts: 3 failed, 1 of them a 429; p95 2.5 s. */
    tg_window_sum_t w = {.total = 8, .failures = 3, .unavailable = 2};
    tg_health_ratios_t r = tg_health_ratios_of(&w, 2.5);
    assert_true(r.availability == 0.75);
    assert_true(r.error_rate == 0.375);
    assert_near(r.latency_score, 7.5 / 9.0);
    /* 0.4 * 0.75 + 0.3 * 0.625 + 0.3 * 7.5/9 = 0.3 + 0.1875 + 0.25 */
    assert_near(tg_health_score(&r), 0.7375);
}

static void test_no_traffic_scores_one(void **state)
{
    (void)state;
    tg_window_sum_t w = {0};
    tg_health_ratios_t r = tg_health_ratios_of(&w, 0);
    assert_true(r.availability == 1.0);
    assert_true(r.error_rate == 0.0);
    assert_true(r.latency_score == 1.0);
    assert_true(tg_health_score(&r) == 1.0);
}

static void test_score_weights(void **state)
{
    (void)state;
    /* Each term alone at 1 shows its weight. */
    assert_near(tg_health_score(&(tg_health_ratios_t){1, 1, 0}), 0.4);
    assert_near(tg_health_score(&(tg_health_ratios_t){0, 0, 0}), 0.3);
    assert_near(tg_health_score(&(tg_health_ratios_t){0, 1, 1}), 0.3);
    assert_true(tg_health_score(&(tg_health_ratios_t){0, 1, 0}) == 0.0);
    assert_near(tg_health_score(&(tg_health_ratios_t){0.5, 0.25, 0.5}), 0.2 + 0.225 + 0.15);
}

static void test_uptime_ratio(void **state)
{
    (void)state;
    tg_window_sum_t none = {0};
    assert_true(tg_health_uptime_ratio(&none) == 1.0);
    tg_window_sum_t some = {.total = 4, .failures = 1};
    assert_true(tg_health_uptime_ratio(&some) == 0.75);
    tg_window_sum_t all_failed = {.total = 3, .failures = 3};
    assert_true(tg_health_uptime_ratio(&all_failed) == 0.0);
}

/* A provider's window end to end: attempts over more than 5 minutes of
 * epochs, read back as a score the way /health does. */
static void test_provider_window_over_time(void **state)
{
    (void)state;
    static tg_window_slot_t w[TG_HEALTH_SLOTS];
    static tg_window_hist_t d[TG_HEALTH_SLOTS];
    double t0 = 1000;  /* seconds */
    uint64_t e0 = tg_window_epoch(t0, TG_HEALTH_SLOT_SECONDS);
    tg_window_record(w, TG_HEALTH_SLOTS, e0, true, true);   /* 5xx, 4 s */
    tg_window_hist_record(d, TG_HEALTH_SLOTS, e0, 4000000);
    uint64_t e1 = tg_window_epoch(t0 + 60, TG_HEALTH_SLOT_SECONDS);
    tg_window_record(w, TG_HEALTH_SLOTS, e1, false, false); /* ok, 1 s */
    tg_window_hist_record(d, TG_HEALTH_SLOTS, e1, 1000000);
    tg_window_sum_t s = tg_window_totals(w, TG_HEALTH_SLOTS, e1, TG_HEALTH_SLOTS);
    double p95 = tg_window_hist_quantile(d, TG_HEALTH_SLOTS, e1, TG_HEALTH_SLOTS, TG_HEALTH_LATENCY_PERCENT);
    assert_true(p95 == 4.0);
    tg_health_ratios_t r = tg_health_ratios_of(&s, p95);
    assert_true(r.availability == 0.5 && r.error_rate == 0.5);
    assert_near(r.latency_score, 6.0 / 9.0);  /* p95 4 s */
    /* 5 minutes after the failure it has aged out; the success remains. */
    uint64_t later = tg_window_epoch(t0 + 300, TG_HEALTH_SLOT_SECONDS);
    s = tg_window_totals(w, TG_HEALTH_SLOTS, later, TG_HEALTH_SLOTS);
    assert_sum(s, 1, 0, 0);
    p95 = tg_window_hist_quantile(d, TG_HEALTH_SLOTS, later, TG_HEALTH_SLOTS, TG_HEALTH_LATENCY_PERCENT);
    assert_true(p95 == 1.0);
    r = tg_health_ratios_of(&s, p95);
    assert_true(tg_health_score(&r) == 1.0);
}

/* Each duration is read back as the upper bound of its bucket. */
static void test_hist_bucket_bounds(void **state)
{
    (void)state;
    static const struct { uint64_t micros; double bound; } cases[] = {
        {0, 1.0 / 1024}, {976, 1.0 / 1024}, {977, 2.0 / 1024}, {100000, 0.125},
        {999999, 1.0}, {1000000, 1.0}, {1000001, 2.0}, {8000000, 8.0}, {8000001, 16.0},
        {64000000, 64.0}, {64000001, 128.0}, {UINT64_MAX, 128.0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_window_hist_t d[SLOTS];
        memset(d, 0, sizeof(d));
        tg_window_hist_record(d, SLOTS, 3, cases[i].micros);
        double got = tg_window_hist_quantile(d, SLOTS, 3, SLOTS, 100);
        if (got != cases[i].bound)
            fail_msg("%llu us: got %g, want %g", (unsigned long long)cases[i].micros, got, cases[i].bound);
    }
    tg_window_hist_t d[SLOTS];
    memset(d, 0, sizeof(d));
    assert_true(tg_window_hist_quantile(d, SLOTS, 3, SLOTS, 95) == 0.0);
    /* Exactly 95% at or below a bucket picks that bucket: 19 of 20. */
    for (int i = 0; i < 19; i++)
        tg_window_hist_record(d, SLOTS, 3, 1000000);
    tg_window_hist_record(d, SLOTS, 3, 8000000);
    assert_true(tg_window_hist_quantile(d, SLOTS, 3, SLOTS, 95) == 1.0);
    assert_true(tg_window_hist_quantile(d, SLOTS, 3, SLOTS, 96) == 8.0);
}

/* A slow tail of more than 5% moves the p95 to it, which a mean would not
 * (the mean of the second case is 0.55 s, latency_score 1); 5 of 105 is
 * under 5% and does not. */
static void test_p95_of_a_slow_tail(void **state)
{
    (void)state;
    static tg_window_hist_t d[TG_HEALTH_SLOTS];
    uint64_t e = tg_window_epoch(1000, TG_HEALTH_SLOT_SECONDS);
    for (int i = 0; i < 100; i++)
        tg_window_hist_record(d, TG_HEALTH_SLOTS, e, 100000);
    for (int i = 0; i < 5; i++)
        tg_window_hist_record(d, TG_HEALTH_SLOTS, e, 8000000);
    assert_true(tg_window_hist_quantile(d, TG_HEALTH_SLOTS, e, TG_HEALTH_SLOTS, 95) == 0.125);
    tg_window_hist_record(d, TG_HEALTH_SLOTS, e, 8000000);
    assert_true(tg_window_hist_quantile(d, TG_HEALTH_SLOTS, e, TG_HEALTH_SLOTS, 95) == 8.0);

    /* 100 ok attempts and 6 failed (5xx) ones at 8 s, read as a score. */
    tg_window_sum_t s = {.total = 106, .failures = 6, .unavailable = 6};
    tg_health_ratios_t r = tg_health_ratios_of(&s, 8.0);
    assert_near(r.latency_score, 2.0 / 9.0);
    /* 0.4 * 100/106 + 0.3 * 100/106 + 0.3 * 2/9 */
    assert_near(tg_health_score(&r), 70.0 / 106.0 + 1.0 / 15.0);

    /* The slow ones age out of the window after 5 minutes, the slots they
     * shared with fast ones reset when reused. */
    uint64_t later = tg_window_epoch(1000 + 60, TG_HEALTH_SLOT_SECONDS);
    tg_window_hist_record(d, TG_HEALTH_SLOTS, later, 100000);
    assert_true(tg_window_hist_quantile(d, TG_HEALTH_SLOTS, later + TG_HEALTH_SLOTS - 7, TG_HEALTH_SLOTS, 95) == 8.0);
    assert_true(tg_window_hist_quantile(d, TG_HEALTH_SLOTS, e + TG_HEALTH_SLOTS, TG_HEALTH_SLOTS, 95) == 0.125);
    tg_window_hist_record(d, TG_HEALTH_SLOTS, e + TG_HEALTH_SLOTS, 2000000);
    assert_true(tg_window_hist_quantile(d, TG_HEALTH_SLOTS, e + TG_HEALTH_SLOTS, TG_HEALTH_SLOTS, 100) == 2.0);
}

/* The verdict's span: only the last epochs count. */
static void test_span_sums_the_last_epochs(void **state)
{
    (void)state;
    tg_window_slot_t w[SLOTS];
    memset(w, 0, sizeof(w));
    tg_window_record(w, SLOTS, 5, true, true);
    tg_window_record(w, SLOTS, 6, false, false);
    tg_window_record(w, SLOTS, 8, false, false);
    assert_sum(tg_window_totals(w, SLOTS, 8, 1), 1, 0, 0);
    assert_sum(tg_window_totals(w, SLOTS, 8, 2), 1, 0, 0);   /* 7 is empty */
    assert_sum(tg_window_totals(w, SLOTS, 8, 3), 2, 0, 0);
    assert_sum(tg_window_totals(w, SLOTS, 8, SLOTS), 3, 1, 1);
}

static uint64_t minute_at(double seconds)
{
    return tg_window_epoch(seconds, TG_UPTIME_SLOT_SECONDS);
}

/* A model's token window on a clock the test sets: 24 hours of 1-minute
 * slots, the ratio over what is still inside. */
static void test_token_window_over_a_day(void **state)
{
    (void)state;
    static tg_token_slot_t w[TG_UPTIME_SLOTS];
    const double t = 60000, minute = 60, day = 24 * 3600; /* t starts a slot */
    tg_token_window_record(w, TG_UPTIME_SLOTS, minute_at(t), 200, 250);
    tg_token_window_record(w, TG_UPTIME_SLOTS, minute_at(t + day - minute), 200, 50);
    tg_token_sum_t s = tg_token_window_totals(w, TG_UPTIME_SLOTS, minute_at(t + day - minute));
    assert_true(s.prompt == 400 && s.completion == 300);
    assert_true((double)s.completion / (double)s.prompt == 0.75);
    /* A minute past the day, t's tokens have aged out. */
    s = tg_token_window_totals(w, TG_UPTIME_SLOTS, minute_at(t + day + minute));
    assert_true(s.prompt == 200 && s.completion == 50);
    assert_true((double)s.completion / (double)s.prompt == 0.25);
    /* A writer a day after t takes over t's slot and empties it first. */
    tg_token_window_record(w, TG_UPTIME_SLOTS, minute_at(t + day), 100, 100);
    s = tg_token_window_totals(w, TG_UPTIME_SLOTS, minute_at(t + day + minute));
    assert_true(s.prompt == 300 && s.completion == 150);
    /* Two days on, nothing is left. */
    s = tg_token_window_totals(w, TG_UPTIME_SLOTS, minute_at(t + 2 * day + minute));
    assert_true(s.prompt == 0 && s.completion == 0);
}

static tg_window_sum_t attempts(uint64_t total, uint64_t failures, uint64_t unavailable)
{
    return (tg_window_sum_t){.total = total, .failures = failures, .unavailable = unavailable};
}

/* Unhealthy from half of at least TG_HEALTH_MIN_ATTEMPTS attempts failed
 * by the provider; healthy just below either bound. */
static void test_verdict_threshold(void **state)
{
    (void)state;
    assert_int_equal(TG_HEALTH_MIN_ATTEMPTS, 5);
    tg_window_sum_t w;
    w = attempts(0, 0, 0);
    assert_true(tg_health_verdict(&w));       /* no traffic: nothing against it */
    w = attempts(4, 4, 4);
    assert_true(tg_health_verdict(&w));       /* every attempt failed, but too few */
    w = attempts(5, 5, 5);
    assert_false(tg_health_verdict(&w));
    w = attempts(6, 3, 3);
    assert_false(tg_health_verdict(&w));      /* exactly half */
    w = attempts(7, 3, 3);
    assert_true(tg_health_verdict(&w));       /* just below half */
    w = attempts(5, 3, 3);
    assert_false(tg_health_verdict(&w));
    w = attempts(5, 2, 2);
    assert_true(tg_health_verdict(&w));
    w = attempts(1000, 500, 500);
    assert_false(tg_health_verdict(&w));
    w = attempts(1000, 499, 499);
    assert_true(tg_health_verdict(&w));
    w = attempts(10, 10, 0);
    assert_true(tg_health_verdict(&w));       /* all 429: the provider answers */
    w = attempts(10, 10, 5);
    assert_false(tg_health_verdict(&w));
}

/* ------------------------------------------------------- the registry */

static const char ab_yaml[] =
    "providers:\n"
    "  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "  - { name: b, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "models:\n"
    "  - { name: m, routes: [ { provider: a }, { provider: b } ] }\n";

typedef struct verdicts {
    int calls;
    char provider[16];
    bool healthy;
    tg_window_sum_t last_minute;
} verdicts;

static void note_verdict(void *ctx, const char *provider, bool healthy, const tg_window_sum_t *last_minute)
{
    verdicts *v = ctx;
    v->calls++;
    snprintf(v->provider, sizeof(v->provider), "%s", provider);
    v->healthy = healthy;
    v->last_minute = *last_minute;
}

static void report_n(const tg_health_view_t *v, size_t provider, int n, bool ok, tg_retry_reason_t reason)
{
    for (int i = 0; i < n; i++)
        tg_health_report_attempt(v, provider, ok, reason, 0.1);
}

static void test_report_attempt(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    assert_non_null(v);
    assert_int_equal(tg_health_provider_count(v), 2);

    tg_provider_status_t st;
    assert_int_equal(tg_health_provider_status(v, 0, &st), 0);
    assert_string_equal(st.name, "a");
    assert_true(st.healthy);
    assert_int_equal(st.breaker, TG_BREAKER_CLOSED);
    assert_null(st.last_error);

    double before = tg_clock_seconds();
    tg_health_report_attempt(v, 0, true, TG_RETRY_CONNECT, 0.5);
    tg_health_report_attempt(v, 0, true, TG_RETRY_CONNECT, 0.5);
    tg_health_report_attempt(v, 0, false, TG_RETRY_STATUS_5XX, 1.0);
    tg_health_report_attempt(v, 0, false, TG_RETRY_STATUS_429, 1.0);
    /* b: slow, p95 4 s -> latency_score (10 - 4) / 9 */
    tg_health_report_attempt(v, 1, true, TG_RETRY_CONNECT, 4.0);
    double now = tg_clock_seconds();

    tg_health_ratios_t r = tg_health_provider_ratios(v, 0, now);
    assert_true(r.availability == 0.75);    /* 429 does not count against it */
    assert_true(r.error_rate == 0.5);
    assert_true(r.latency_score == 1.0);    /* p95 1 s */
    assert_near(tg_health_score(&r), 0.75);
    assert_int_equal(tg_health_provider_status(v, 0, &st), 0);
    assert_string_equal(st.last_error, "status_429");
    assert_true(st.last_error_at >= before && st.last_error_at <= now);
    r = tg_health_provider_ratios(v, 1, now);
    assert_near(r.latency_score, 6.0 / 9.0);
    assert_int_equal(tg_health_provider_status(v, 1, &st), 0);
    assert_null(st.last_error);
    /* 5 minutes on, the window is empty again. */
    r = tg_health_provider_ratios(v, 0, now + TG_HEALTH_SLOTS * TG_HEALTH_SLOT_SECONDS);
    assert_true(r.availability == 1.0 && r.error_rate == 0.0);

    /* Out of range, or no view: ignored, never a crash. */
    tg_health_report_attempt(v, 2, false, TG_RETRY_RESET, 1);
    tg_health_report_attempt(NULL, 0, false, TG_RETRY_RESET, 1);
    tg_health_report_attempt(v, 1, false, (tg_retry_reason_t)99, 1);  /* counted, not as a failure */
    assert_int_equal(tg_health_provider_status(v, 2, &st), -1);
    assert_int_equal(tg_health_provider_status(NULL, 0, &st), -1);
    assert_int_equal(tg_health_provider_count(NULL), 0);
    r = tg_health_provider_ratios(v, 1, now);
    assert_true(r.error_rate == 0.0);
    r = tg_health_provider_ratios(NULL, 0, now);
    assert_true(r.availability == 1.0 && r.error_rate == 0.0 && r.latency_score == 1.0);

    tg_health_free(h);
    tg_config_free(cfg);
}

/* Opens provider i's breaker the way traffic does: its configured number
 * of failures in a row. */
static void open_breaker(const tg_config_t *cfg, const tg_health_view_t *v, size_t i, double now)
{
    for (uint32_t n = 0; n < cfg->providers[i].breaker.failures; n++)
        tg_health_breaker_report(v, i, &cfg->providers[i].breaker, false, TG_RETRY_STATUS_5XX, now, now);
}

/* Routing may use a provider unless its breaker is open (or a 429 cools it
 * down); an unhealthy verdict alone does not take it out. Transitions are
 * counted, the tick ends a cooldown without traffic, and a 429 is no
 * breaker failure. */
static void test_usable_follows_the_breaker(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    const tg_breaker_config_t *bc = &cfg->providers[0].breaker;
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    double now = tg_clock_seconds();
    assert_true(tg_health_usable(v, 0, bc, now));
    report_n(v, 0, 10, false, TG_RETRY_STATUS_5XX);
    tg_health_evaluate(h, now, NULL, NULL);
    tg_provider_status_t st;
    tg_health_provider_status(v, 0, &st);
    assert_false(st.healthy);
    assert_true(tg_health_usable(v, 0, bc, now));

    /* 429s are not failures, whatever their number */
    for (int i = 0; i < 10; i++)
        tg_health_breaker_report(v, 0, bc, false, TG_RETRY_STATUS_429, now, now);
    assert_true(tg_health_admit(v, 0, bc, false, now));

    open_breaker(cfg, v, 0, now);
    assert_false(tg_health_usable(v, 0, bc, now));
    assert_false(tg_health_admit(v, 0, bc, false, now));
    assert_true(tg_health_usable(v, 1, &cfg->providers[1].breaker, now));
    tg_health_provider_status(v, 0, &st);
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);
    assert_true(st.next_probe_at > now);
    assert_int_equal(tg_health_breaker_transitions(v, 0, TG_BREAKER_CLOSED, TG_BREAKER_OPEN), 1);
    assert_true(fabs(tg_health_next_try(v, 0, bc, now) - (now + bc->cooldown_ms / 1000.0)) < 0.002);

    /* the tick ends the cooldown */
    double later = now + bc->cooldown_ms / 1000.0;
    tg_health_breakers_tick(h, later - 0.5);
    assert_int_equal(tg_health_breaker_transitions(v, 0, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN), 0);
    tg_health_breakers_tick(h, later);
    assert_int_equal(tg_health_breaker_transitions(v, 0, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN), 1);
    assert_true(tg_health_admit(v, 0, bc, false, later));      /* the probe */
    assert_false(tg_health_usable(v, 0, bc, later));    /* one probe at a time by default */
    tg_health_breaker_report(v, 0, bc, true, TG_RETRY_CONNECT, later + 0.1, later + 0.1);
    assert_int_equal(tg_health_breaker_transitions(v, 0, TG_BREAKER_HALF_OPEN, TG_BREAKER_CLOSED), 1);
    assert_true(tg_health_usable(v, 0, bc, later + 0.1));

    /* a 429's Retry-After */
    tg_health_cool_down(v, 1, &cfg->providers[1].breaker, 2, later);
    assert_false(tg_health_usable(v, 1, &cfg->providers[1].breaker, later + 1.9));
    assert_true(fabs(tg_health_next_try(v, 1, &cfg->providers[1].breaker, later) - (later + 2)) < 0.002);
    assert_true(tg_health_usable(v, 1, &cfg->providers[1].breaker, later + 2));

    /* no view, out of range: usable, nothing counted */
    assert_true(tg_health_usable(NULL, 0, bc, now));
    assert_true(tg_health_admit(v, 9, bc, false, now));
    assert_int_equal(tg_health_breaker_transitions(v, 9, TG_BREAKER_CLOSED, TG_BREAKER_OPEN), 0);
    assert_int_equal(tg_health_breaker_transitions(v, 0, (tg_breaker_state_t)7, TG_BREAKER_OPEN), 0);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* A reload that keeps a provider's name keeps its state; the same list of
 * names gets the same view back. */
static void test_state_survives_reload_by_name(void **state)
{
    tg_config_t *cfg1 = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v1 = tg_health_bind(h, cfg1);
    report_n(v1, 1, 5, false, TG_RETRY_STATUS_5XX);
    open_breaker(cfg1, v1, 1, tg_clock_seconds());
    tg_health_evaluate(h, tg_clock_seconds(), NULL, NULL);
    /* "a" goes, "b" stays (now index 0), "c" comes. */
    tg_config_t *cfg2 = load_yaml("providers:\n"
                                "  - { name: b, base_url: \"http://127.0.0.1:10\" }\n"
                                "  - { name: c, base_url: \"http://127.0.0.1:10\" }\n"
                                "models:\n"
                                "  - { name: m, routes: [ { provider: c } ] }\n");
    const tg_health_view_t *v2 = tg_health_bind(h, cfg2);
    assert_non_null(v2);
    assert_ptr_not_equal(v2, v1);
    tg_provider_status_t st;
    assert_int_equal(tg_health_provider_status(v2, 0, &st), 0);
    assert_string_equal(st.name, "b");
    assert_false(st.healthy);
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);
    assert_string_equal(st.last_error, "status_5xx");
    assert_true(tg_health_provider_ratios(v2, 0, tg_clock_seconds()).error_rate == 1.0);
    assert_int_equal(tg_health_provider_status(v2, 1, &st), 0);
    assert_string_equal(st.name, "c");
    assert_true(st.healthy);
    assert_null(st.last_error);
    /* The old view still serves requests that started before the reload,
     * on the same state. */
    tg_health_report_attempt(v1, 1, true, TG_RETRY_CONNECT, 0.1);
    assert_true(tg_health_provider_ratios(v2, 0, tg_clock_seconds()).error_rate == 5.0 / 6.0);
    /* Other URLs, same names: the same view. */
    tg_config_t *cfg3 = load_yaml("providers:\n"
                                "  - { name: a, base_url: \"http://127.0.0.1:11/v1\", timeout_ms: 7 }\n"
                                "  - { name: b, base_url: \"http://127.0.0.1:12/v1\" }\n"
                                "models:\n"
                                "  - { name: x, routes: [ { provider: b } ] }\n");
    assert_ptr_equal(tg_health_bind(h, cfg3), v1);
    assert_ptr_equal(tg_health_bind(h, cfg2), v2);
    tg_health_free(h);
    tg_config_free(cfg1);
    tg_config_free(cfg2);
    tg_config_free(cfg3);
}

/* ------------------------------------ (provider, upstream model) breakers */

/* Two models on provider a, routed to upstream models "good" and "bad"
 * with route-level breakers; model n routes to "bad" too (shares its
 * breaker, without repeating the section) and then to provider b. */
static const char model_breaker_yaml[] =
    "providers:\n"
    "  - { name: a, base_url: \"http://127.0.0.1:9/v1\", breaker: { failures: 3 } }\n"
    "  - { name: b, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "models:\n"
    "  - { name: g, routes: [ { provider: a, model: good, breaker: { failures: 2, cooldown_ms: 1000 } } ] }\n"
    "  - { name: m, routes: [ { provider: a, model: bad, breaker: { failures: 2, cooldown_ms: 1000 } } ] }\n"
    "  - { name: n, routes: [ { provider: a, model: bad }, { provider: b } ] }\n";

static const tg_route_config_t *route_of(const tg_config_t *cfg, size_t model, size_t i)
{
    return &cfg->models[model].routes[i];
}

/* Routes to one (provider, upstream model) share one breaker; a route
 * without its own has the provider's only. */
static void test_model_breaker_shared_by_pair(void **state)
{
    tg_config_t *cfg = load_yaml(model_breaker_yaml);
    assert_int_equal(cfg->model_breaker_count, 2);
    assert_int_equal(route_of(cfg, 0, 0)->breaker, 0);
    assert_int_equal(route_of(cfg, 1, 0)->breaker, 1);
    assert_int_equal(route_of(cfg, 2, 0)->breaker, 1);
    assert_int_equal(route_of(cfg, 2, 1)->breaker, -1);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    assert_int_equal(tg_health_model_breaker_count(v), 2);
    double now = tg_clock_seconds();
    for (int i = 0; i < 2; i++)
        tg_health_route_breaker_report(v, cfg, route_of(cfg, 1, 0), false, TG_RETRY_STATUS_5XX, now, now);
    assert_false(tg_health_route_usable(v, cfg, route_of(cfg, 2, 0), now));  /* the same breaker */
    assert_true(tg_health_route_usable(v, cfg, route_of(cfg, 0, 0), now));
    assert_true(tg_health_route_usable(v, cfg, route_of(cfg, 2, 1), now));
    tg_model_breaker_status_t st;
    assert_int_equal(tg_health_model_breaker_status(v, 1, &st), 0);
    assert_string_equal(st.provider, "a");
    assert_string_equal(st.upstream_model, "bad");
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);
    assert_true(st.next_probe_at > now);
    assert_int_equal(tg_health_model_breaker_transitions(v, 1, TG_BREAKER_CLOSED, TG_BREAKER_OPEN), 1);
    assert_int_equal(tg_health_model_breaker_status(v, 2, &st), -1);
    assert_true(fabs(tg_health_route_next_try(v, cfg, route_of(cfg, 2, 0), now) - (now + 1)) < 0.002);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* A route with its own breaker needs both: the provider's usable (no probe
 * taken from it) and its own admitting (the half-open probe its own). */
static void test_model_breaker_admit_needs_both(void **state)
{
    tg_config_t *cfg = load_yaml(model_breaker_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    const tg_route_config_t *good = route_of(cfg, 0, 0), *bad = route_of(cfg, 1, 0);
    double now = tg_clock_seconds();
    /* the provider's breaker open: no route to it admits */
    open_breaker(cfg, v, 0, now);
    assert_false(tg_health_route_usable(v, cfg, good, now));
    assert_false(tg_health_route_admit(v, cfg, good, false, now));
    /* ... unless as the probe, which is then the provider's */
    assert_true(tg_health_route_admit(v, cfg, good, true, now));
    tg_provider_status_t pst;
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_HALF_OPEN);
    tg_health_route_breaker_report(v, cfg, good, true, TG_RETRY_CONNECT, now, now);
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_CLOSED);

    /* the route's own open: its half-open probe is its own, one at a time */
    for (int i = 0; i < 2; i++)
        tg_health_route_breaker_report(v, cfg, bad, false, TG_RETRY_TIMEOUT, now, now);
    assert_false(tg_health_route_admit(v, cfg, bad, false, now));
    double later = now + 1;
    assert_true(tg_health_route_admit(v, cfg, bad, false, later));
    assert_false(tg_health_route_admit(v, cfg, bad, false, later));
    assert_true(tg_health_admit(v, 0, &cfg->providers[0].breaker, false, later)); /* the provider's untouched */
    tg_health_route_breaker_report(v, cfg, bad, true, TG_RETRY_CONNECT, later, later);
    assert_true(tg_health_route_admit(v, cfg, bad, false, later));
    tg_model_breaker_status_t st;
    tg_health_model_breaker_status(v, 1, &st);
    assert_int_equal(st.breaker, TG_BREAKER_CLOSED);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* A success and a connect failure go to both breakers; a 5xx, reset,
 * timeout or bad response to the route's own only; a 429 to neither. */
static void test_model_breaker_report_by_kind(void **state)
{
    tg_config_t *cfg = load_yaml(model_breaker_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    const tg_route_config_t *bad = route_of(cfg, 1, 0);
    double now = tg_clock_seconds();
    static const tg_retry_reason_t own[] = {TG_RETRY_STATUS_5XX, TG_RETRY_RESET, TG_RETRY_TIMEOUT,
                                            TG_RETRY_BAD_RESPONSE, TG_RETRY_STATUS_5XX, TG_RETRY_STATUS_5XX};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        tg_health_route_breaker_report(v, cfg, bad, false, own[i], now, now);
    tg_provider_status_t pst;
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_CLOSED);  /* 6 failures, its threshold is 3 */
    tg_model_breaker_status_t st;
    tg_health_model_breaker_status(v, 1, &st);
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);

    /* 429s: neither */
    const tg_route_config_t *good = route_of(cfg, 0, 0);
    for (int i = 0; i < 5; i++)
        tg_health_route_breaker_report(v, cfg, good, false, TG_RETRY_STATUS_429, now, now);
    tg_health_model_breaker_status(v, 0, &st);
    assert_int_equal(st.breaker, TG_BREAKER_CLOSED);
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_CLOSED);

    /* connect refused: both (good's threshold 2, the provider's 3) */
    for (int i = 0; i < 2; i++)
        tg_health_route_breaker_report(v, cfg, good, false, TG_RETRY_CONNECT, now, now);
    tg_health_model_breaker_status(v, 0, &st);
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_CLOSED);
    tg_health_route_breaker_report(v, cfg, good, false, TG_RETRY_CONNECT, now, now);
    tg_health_provider_status(v, 0, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_OPEN);

    /* a route without its own: every failure is the provider's */
    const tg_route_config_t *to_b = route_of(cfg, 2, 1);
    for (int i = 0; i < 5; i++)
        tg_health_route_breaker_report(v, cfg, to_b, false, TG_RETRY_STATUS_5XX, now, now);
    tg_health_provider_status(v, 1, &pst);
    assert_int_equal(pst.breaker, TG_BREAKER_OPEN);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* A reload that keeps the (provider, upstream model) keeps its breaker's
 * state, whatever the models or the order; a new pair starts closed, and
 * a changed pair list is another view. */
static void test_model_breaker_survives_reload(void **state)
{
    tg_config_t *cfg1 = load_yaml(model_breaker_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v1 = tg_health_bind(h, cfg1);
    double now = tg_clock_seconds();
    for (int i = 0; i < 2; i++)
        tg_health_route_breaker_report(v1, cfg1, route_of(cfg1, 1, 0), false, TG_RETRY_STATUS_5XX, now, now);
    tg_config_t *cfg2 = load_yaml("providers:\n"
                                  "  - { name: a, base_url: \"http://127.0.0.1:10/v1\" }\n"
                                  "models:\n"
                                  "  - { name: x, routes: [ { provider: a, model: new, breaker: {} } ] }\n"
                                  "  - { name: y, routes: [ { provider: a, model: bad, breaker: {} } ] }\n");
    const tg_health_view_t *v2 = tg_health_bind(h, cfg2);
    assert_ptr_not_equal(v2, v1);
    tg_model_breaker_status_t st;
    assert_int_equal(tg_health_model_breaker_status(v2, 0, &st), 0);
    assert_string_equal(st.upstream_model, "new");
    assert_int_equal(st.breaker, TG_BREAKER_CLOSED);
    assert_int_equal(tg_health_model_breaker_status(v2, 1, &st), 0);
    assert_string_equal(st.upstream_model, "bad");
    assert_int_equal(st.breaker, TG_BREAKER_OPEN);
    assert_false(tg_health_route_usable(v2, cfg2, route_of(cfg2, 1, 0), now));
    /* the same providers and pairs: the same view */
    tg_config_t *cfg3 = load_yaml(model_breaker_yaml);
    assert_ptr_equal(tg_health_bind(h, cfg3), v1);
    /* the tick ends its cooldown like a provider's */
    tg_health_breakers_tick(h, now + 1);
    assert_int_equal(tg_health_model_breaker_transitions(v2, 1, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN), 1);
    tg_health_free(h);
    tg_config_free(cfg1);
    tg_config_free(cfg2);
    tg_config_free(cfg3);
}

/* The evaluation at its threshold and just below, its report of changes,
 * and the last minute aging out. */
static void test_evaluation(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    verdicts seen = {0};
    tg_provider_status_t st;

    double before = tg_clock_seconds();
    report_n(v, 0, 3, true, TG_RETRY_CONNECT);
    report_n(v, 0, 3, false, TG_RETRY_TIMEOUT);   /* 3 of 6: exactly half */
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.provider, "a");
    assert_false(seen.healthy);
    assert_int_equal(seen.last_minute.total, 6);
    assert_int_equal(seen.last_minute.unavailable, 3);
    tg_health_provider_status(v, 0, &st);
    assert_false(st.healthy);
    tg_health_provider_status(v, 1, &st);
    assert_true(st.healthy);

    /* unchanged: not reported again */
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 1);

    report_n(v, 0, 1, true, TG_RETRY_CONNECT);    /* 3 of 7: just below */
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 2);
    assert_true(seen.healthy);
    tg_health_provider_status(v, 0, &st);
    assert_true(st.healthy);

    /* 429s are not the provider failing */
    report_n(v, 1, 10, false, TG_RETRY_STATUS_429);
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 2);

    report_n(v, 0, 5, false, TG_RETRY_RESET);     /* 8 of 12 */
    double after = tg_clock_seconds();
    tg_health_evaluate(h, after, note_verdict, &seen);
    assert_int_equal(seen.calls, 3);
    assert_false(seen.healthy);
    /* 50 s on, every attempt is still in the last minute (6 slots of 10 s) */
    tg_health_evaluate(h, before + 50, note_verdict, &seen);
    assert_int_equal(seen.calls, 3);
    /* a minute on, they have aged out: no evidence, healthy again */
    tg_health_evaluate(h, after + 60, note_verdict, &seen);
    assert_int_equal(seen.calls, 4);
    assert_true(seen.healthy);
    assert_int_equal(seen.last_minute.total, 0);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* Active health checks on a simulated clock: the schedule (first check an
 * interval after the provider is first seen, then at most one an
 * interval), a failed check making an idle provider unhealthy until a
 * check passes, the window counting checks, the breaker's hook, and
 * checks turned off. */
static void test_health_checks(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    verdicts seen = {0};
    tg_provider_status_t st;
    double t = tg_clock_seconds();

    assert_false(tg_health_check_due(v, 0, t, 30));        /* schedules it */
    assert_false(tg_health_check_due(v, 0, t + 29.9, 30));
    assert_true(tg_health_check_due(v, 0, t + 30, 30));
    assert_false(tg_health_check_due(v, 0, t + 45, 30));   /* once an interval */
    assert_true(tg_health_check_due(v, 0, t + 60, 30));
    assert_false(tg_health_check_due(v, 9, t + 60, 30));   /* out of range */
    assert_true(tg_health_check_passed_at(v, 0) == 0);

    /* one failed check: unhealthy with no traffic at all */
    assert_true(tg_health_report_check(v, 0, false, TG_RETRY_STATUS_5XX, 0.01, t + 60));
    tg_health_evaluate(h, t + 60, note_verdict, &seen);
    assert_int_equal(seen.calls, 1);
    assert_false(seen.healthy);
    assert_int_equal(seen.last_minute.total, 1);
    tg_health_provider_status(v, 0, &st);
    assert_false(st.healthy);
    assert_string_equal(st.last_error, "status_5xx");
    assert_true(st.last_error_at == t + 60);
    assert_false(tg_health_report_check(v, 0, false, TG_RETRY_TIMEOUT, 0.5, t + 90)); /* unchanged */
    tg_health_evaluate(h, t + 90, note_verdict, &seen);
    assert_int_equal(seen.calls, 1);
    /* checks count in the window like attempts */
    tg_health_ratios_t r = tg_health_provider_ratios(v, 0, t + 90);
    assert_true(r.availability == 0 && r.error_rate == 1);

    /* a passing check: healthy again, and the breaker's hook knows when */
    assert_true(tg_health_report_check(v, 0, true, TG_RETRY_CONNECT, 0.01, t + 120));
    tg_health_evaluate(h, t + 120, note_verdict, &seen);
    assert_int_equal(seen.calls, 2);
    assert_true(seen.healthy);
    assert_true(tg_health_check_passed_at(v, 0) == t + 120);
    r = tg_health_provider_ratios(v, 0, t + 120);
    assert_near(r.availability, 1.0 / 3);

    /* a check failing under traffic that succeeds still marks it */
    report_n(v, 1, 20, true, TG_RETRY_CONNECT);
    tg_health_report_check(v, 1, false, TG_RETRY_CONNECT, 0.01, tg_clock_seconds());
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 3);
    assert_string_equal(seen.provider, "b");
    assert_false(seen.healthy);
    /* checks turned off: the failed one no longer counts, and the schedule
     * starts over */
    tg_health_check_off(v, 1);
    tg_health_evaluate(h, tg_clock_seconds(), note_verdict, &seen);
    assert_int_equal(seen.calls, 4);
    assert_true(seen.healthy);
    assert_false(tg_health_check_due(v, 1, t + 1000, 30));
    assert_true(tg_health_check_due(v, 1, t + 1030, 30));
    tg_health_free(h);
    tg_config_free(cfg);
}

/* The detector runs over the view's providers, on their upstream attempts
 * (not their health checks), and tells of each finding by name. */
typedef struct findings {
    int calls;
    char provider[16];
    tg_anomaly_t last;
} findings;

static void note_anomaly(void *ctx, const char *provider, const tg_anomaly_t *a)
{
    findings *f = ctx;
    f->calls++;
    snprintf(f->provider, sizeof(f->provider), "%s", provider);
    f->last = *a;
}

static void test_anomalies_by_provider(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    tg_anomaly_config_t ac = cfg->anomaly;
    ac.warmup_intervals = 2;
    findings f = {0};
    double t = 1000;
    for (int i = 0; i < 4; i++, t += 60) {
        report_n(v, 0, 30, true, TG_RETRY_CONNECT);
        report_n(v, 1, 30, true, TG_RETRY_CONNECT);
        for (int k = 0; k < 50; k++) /* checks are not traffic */
            tg_health_report_check(v, 1, true, TG_RETRY_CONNECT, 0.001, t);
        tg_health_detect_anomalies(v, &ac, t, note_anomaly, &f);
    }
    assert_int_equal(f.calls, 0);
    report_n(v, 1, 30, false, TG_RETRY_STATUS_5XX);
    tg_health_detect_anomalies(v, &ac, t, note_anomaly, &f);
    assert_int_equal(f.calls, 2);  /* b: every attempt failed, and a went quiet */
    assert_string_equal(f.provider, "b");
    assert_int_equal(f.last.type, TG_ANOMALY_ERROR_SURGE);
    assert_true(f.last.value == 1 && f.last.attempts == 30);
    tg_health_free(h);
    tg_config_free(cfg);
}

#define REPORT_THREADS 4
#define REPORTS_PER_THREAD 5000

static void *report_many(void *arg)
{
    const tg_health_view_t *v = arg;
    for (int i = 0; i < REPORTS_PER_THREAD; i++)
        tg_health_report_attempt(v, (size_t)(i & 1), i % 4 != 0, TG_RETRY_RESET, 0.3);
    return NULL;
}

/* Workers reporting while the tick evaluates: every count lands. */
static void test_concurrent_reports(void **state)
{
    tg_config_t *cfg = load_yaml(ab_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *v = tg_health_bind(h, cfg);
    pthread_t t[REPORT_THREADS];
    for (int i = 0; i < REPORT_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, report_many, (void *)v), 0);
    for (int i = 0; i < 200; i++)
        tg_health_evaluate(h, tg_clock_seconds(), NULL, NULL);
    for (int i = 0; i < REPORT_THREADS; i++)
        pthread_join(t[i], NULL);
    /* i % 4 == 0 failed, and those are all even: provider a failed half */
    double now = tg_clock_seconds();
    assert_true(tg_health_provider_ratios(v, 0, now).error_rate == 0.5);
    assert_true(tg_health_provider_ratios(v, 1, now).error_rate == 0.0);
    tg_health_evaluate(h, now, NULL, NULL);
    tg_provider_status_t st;
    tg_health_provider_status(v, 0, &st);
    assert_false(st.healthy);
    tg_health_free(h);
    tg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epochs_start_at_one),
        cmocka_unit_test(test_empty_window_sums_to_zero),
        cmocka_unit_test(test_record_and_totals),
        cmocka_unit_test(test_old_slots_age_out),
        cmocka_unit_test(test_rotation_resets_a_reused_slot),
        cmocka_unit_test(test_latency_score),
        cmocka_unit_test(test_ratios_of_window),
        cmocka_unit_test(test_hist_bucket_bounds),
        cmocka_unit_test(test_p95_of_a_slow_tail),
        cmocka_unit_test(test_no_traffic_scores_one),
        cmocka_unit_test(test_score_weights),
        cmocka_unit_test(test_uptime_ratio),
        cmocka_unit_test(test_provider_window_over_time),
        cmocka_unit_test(test_span_sums_the_last_epochs),
        cmocka_unit_test(test_token_window_over_a_day),
        cmocka_unit_test(test_verdict_threshold),
        cmocka_unit_test(test_report_attempt),
        cmocka_unit_test(test_usable_follows_the_breaker),
        cmocka_unit_test(test_state_survives_reload_by_name),
        cmocka_unit_test(test_model_breaker_shared_by_pair),
        cmocka_unit_test(test_model_breaker_admit_needs_both),
        cmocka_unit_test(test_model_breaker_report_by_kind),
        cmocka_unit_test(test_model_breaker_survives_reload),
        cmocka_unit_test(test_evaluation),
        cmocka_unit_test(test_concurrent_reports),
        cmocka_unit_test(test_health_checks),
        cmocka_unit_test(test_anomalies_by_provider),
    };
    return cmocka_run_group_tests(tests, yaml_setup, yaml_teardown);
}
