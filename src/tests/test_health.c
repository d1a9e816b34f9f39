/*
 * test_health.c - the rolling windows (health/window.h) and the provider
 * health score (health/score.h) on their own, with explicit epochs and
 * window sums so every expected number is exact and no test waits on a
 * clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "health/score.h"
#include "health/window.h"

#define SLOTS 4

static void assert_sum(health_window_sum got, uint64_t total, uint64_t failures,
                       uint64_t unavailable, uint64_t micros)
{
    assert_int_equal(got.total, total);
    assert_int_equal(got.failures, failures);
    assert_int_equal(got.unavailable, unavailable);
    assert_int_equal(got.micros, micros);
}

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-12)
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_epochs_start_at_one(void **state)
{
    (void)state;
    assert_int_equal(health_window_epoch(0, 10), 1);
    assert_int_equal(health_window_epoch(9.999, 10), 1);
    assert_int_equal(health_window_epoch(10, 10), 2);
    assert_int_equal(health_window_epoch(125, 60), 3);
    double a = health_now(), b = health_now();
    assert_true(a > 0 && b >= a);
}

static void test_empty_window_sums_to_zero(void **state)
{
    (void)state;
    health_window_slot w[SLOTS];
    memset(w, 0, sizeof(w));
    assert_sum(health_window_totals(w, SLOTS, 1), 0, 0, 0, 0);
    assert_sum(health_window_totals(w, SLOTS, 1000), 0, 0, 0, 0);
}

static void test_record_and_totals(void **state)
{
    (void)state;
    health_window_slot w[SLOTS];
    memset(w, 0, sizeof(w));
    health_window_record(w, SLOTS, 5, false, false, 250000);
    health_window_record(w, SLOTS, 5, true, true, 1000000);
    health_window_record(w, SLOTS, 6, true, false, 0);      /* a 429: failed, available */
    health_window_record(w, SLOTS, 7, false, false, 750000);
    /* Epochs 5..7 are all within the last 4 as seen from 7 and from 8. */
    assert_sum(health_window_totals(w, SLOTS, 7), 4, 2, 1, 2000000);
    assert_sum(health_window_totals(w, SLOTS, 8), 4, 2, 1, 2000000);
    /* Each epoch has its own slot. */
    assert_int_equal(w[5 % SLOTS].total, 2);
    assert_int_equal(w[6 % SLOTS].total, 1);
    assert_int_equal(w[7 % SLOTS].total, 1);
}

static void test_old_slots_age_out(void **state)
{
    (void)state;
    health_window_slot w[SLOTS];
    memset(w, 0, sizeof(w));
    health_window_record(w, SLOTS, 5, true, true, 10);
    health_window_record(w, SLOTS, 6, false, false, 20);
    health_window_record(w, SLOTS, 8, false, false, 40);
    /* The window seen from epoch e is (e - 4, e]. */
    assert_sum(health_window_totals(w, SLOTS, 8), 3, 1, 1, 70);
    assert_sum(health_window_totals(w, SLOTS, 9), 2, 0, 0, 60);    /* 5 aged out */
    assert_sum(health_window_totals(w, SLOTS, 11), 1, 0, 0, 40);   /* 6 too */
    assert_sum(health_window_totals(w, SLOTS, 12), 0, 0, 0, 0);    /* all gone */
    /* A slot ahead of the reader's epoch is not counted yet. */
    assert_sum(health_window_totals(w, SLOTS, 6), 2, 1, 1, 30);
}

static void test_rotation_resets_a_reused_slot(void **state)
{
    (void)state;
    health_window_slot w[SLOTS];
    memset(w, 0, sizeof(w));
    health_window_record(w, SLOTS, 2, true, true, 100);
    health_window_record(w, SLOTS, 2, true, false, 100);
    /* Epoch 6 maps to the same slot as 2: the old counts are dropped, not
     * added to. */
    health_window_record(w, SLOTS, 6, false, false, 7);
    assert_int_equal(w[2].epoch, 6);
    assert_sum(health_window_totals(w, SLOTS, 6), 1, 0, 0, 7);
    /* Recording again in the current epoch keeps adding. */
    health_window_record(w, SLOTS, 6, true, false, 3);
    assert_sum(health_window_totals(w, SLOTS, 6), 2, 1, 0, 10);
}

static void test_latency_score(void **state)
{
    (void)state;
    assert_true(health_latency_score(0) == 1.0);
    assert_true(health_latency_score(HEALTH_LATENCY_FULL) == 1.0);
    assert_true(health_latency_score(5.5) == 0.5);            /* (10 - 5.5) / 9 */
    assert_near(health_latency_score(4), 6.0 / 9.0);
    assert_true(health_latency_score(HEALTH_LATENCY_ZERO) == 0.0);
    assert_true(health_latency_score(60) == 0.0);
}

static void test_ratios_of_window(void **state)
{
    (void)state;
    /* 8 attempts: 3 failed, 1 of them a 429; 20 s in all, mean 2.5 s. */
    health_window_sum w = {.total = 8, .failures = 3, .unavailable = 2, .micros = 20000000};
    health_ratios r = health_ratios_of(&w);
    assert_true(r.availability == 0.75);
    assert_true(r.error_rate == 0.375);
    assert_near(r.latency_score, 7.5 / 9.0);
    /* 0.4 * 0.75 + 0.3 * 0.625 + 0.3 * 7.5/9 = 0.3 + 0.1875 + 0.25 */
    assert_near(health_score(&r), 0.7375);
}

static void test_no_traffic_scores_one(void **state)
{
    (void)state;
    health_window_sum w = {0};
    health_ratios r = health_ratios_of(&w);
    assert_true(r.availability == 1.0);
    assert_true(r.error_rate == 0.0);
    assert_true(r.latency_score == 1.0);
    assert_true(health_score(&r) == 1.0);
}

static void test_score_weights(void **state)
{
    (void)state;
    /* Each term alone at 1 shows its weight. */
    assert_near(health_score(&(health_ratios){1, 1, 0}), 0.4);
    assert_near(health_score(&(health_ratios){0, 0, 0}), 0.3);
    assert_near(health_score(&(health_ratios){0, 1, 1}), 0.3);
    assert_true(health_score(&(health_ratios){0, 1, 0}) == 0.0);
    assert_near(health_score(&(health_ratios){0.5, 0.25, 0.5}), 0.2 + 0.225 + 0.15);
}

static void test_uptime_ratio(void **state)
{
    (void)state;
    health_window_sum none = {0};
    assert_true(health_uptime_ratio(&none) == 1.0);
    health_window_sum some = {.total = 4, .failures = 1};
    assert_true(health_uptime_ratio(&some) == 0.75);
    health_window_sum all_failed = {.total = 3, .failures = 3};
    assert_true(health_uptime_ratio(&all_failed) == 0.0);
}

/* A provider's window end to end: attempts over more than 5 minutes of
 * epochs, read back as a score the way /health does. */
static void test_provider_window_over_time(void **state)
{
    (void)state;
    static health_window_slot w[HEALTH_SLOTS];
    double t0 = 1000;  /* seconds */
    uint64_t e0 = health_window_epoch(t0, HEALTH_SLOT_SECONDS);
    health_window_record(w, HEALTH_SLOTS, e0, true, true, 2000000);   /* 5xx, 2 s */
    uint64_t e1 = health_window_epoch(t0 + 60, HEALTH_SLOT_SECONDS);
    health_window_record(w, HEALTH_SLOTS, e1, false, false, 1000000); /* ok, 1 s */
    health_window_sum s = health_window_totals(w, HEALTH_SLOTS, e1);
    health_ratios r = health_ratios_of(&s);
    assert_true(r.availability == 0.5 && r.error_rate == 0.5);
    assert_near(r.latency_score, 8.5 / 9.0);  /* mean 1.5 s */
    /* 5 minutes after the failure it has aged out; the success remains. */
    uint64_t later = health_window_epoch(t0 + 300, HEALTH_SLOT_SECONDS);
    s = health_window_totals(w, HEALTH_SLOTS, later);
    assert_sum(s, 1, 0, 0, 1000000);
    r = health_ratios_of(&s);
    assert_true(health_score(&r) == 1.0);
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
        cmocka_unit_test(test_no_traffic_scores_one),
        cmocka_unit_test(test_score_weights),
        cmocka_unit_test(test_uptime_ratio),
        cmocka_unit_test(test_provider_window_over_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
