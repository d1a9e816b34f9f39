/*
 * test_routing.c - the routing strategies (pipeline/route.h,
 * tg_route_order) with injected keys and a fixed random seed, and the peak
 * EWMA of attempt latency (health/peak_ewma.h) with an explicit clock. The
 * route stage's use of them (usable routes only, keys from health/) is
 * test_pipeline.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "health/peak_ewma.h"
#include "pipeline/route.h"
#include "server/ids.h"

static void routes_init(tg_route_config_t *routes, size_t n)
{
    memset(routes, 0, n * sizeof(*routes));
    for (size_t i = 0; i < n; i++) {
        routes[i].provider = i;
        routes[i].weight = 1;
    }
}

static void assert_order(const tg_route_config_t *routes, size_t n, const size_t *want)
{
    for (size_t i = 0; i < n; i++)
        if (routes[i].provider != want[i])
            fail_msg("position %zu: provider %zu, want %zu", i, routes[i].provider, want[i]);
}

static void assert_near(double got, double want, double tolerance)
{
    if (fabs(got - want) > tolerance)
        fail_msg("got %.17g, want %.17g (+- %g)", got, want, tolerance);
}

static void test_priority_keeps_order(void **state)
{
    (void)state;
    tg_route_config_t routes[3];
    routes_init(routes, 3);
    tg_route_order(TG_STRATEGY_PRIORITY, routes, NULL, 3, 12345);
    assert_order(routes, 3, (size_t[]){0, 1, 2});
}

/* Lowest key first; ties keep priority order (stable), keys follow. */
static void test_sorted_by_key(void **state)
{
    (void)state;
    tg_route_config_t routes[5];
    routes_init(routes, 5);
    double latency[5] = {0.8, 0.2, 0.8, 0, 0.2}; /* provider 3 never measured */
    tg_route_order(TG_STRATEGY_LOWEST_LATENCY, routes, latency, 5, 0);
    assert_order(routes, 5, (size_t[]){3, 1, 4, 0, 2});
    assert_true(latency[0] == 0 && latency[1] == 0.2 && latency[2] == 0.2 && latency[4] == 0.8);

    routes_init(routes, 5);
    double negated_score[5] = {-0.7, -1, -0.7, -0.4, -1};
    tg_route_order(TG_STRATEGY_HEALTH_SCORE, routes, negated_score, 5, 0);
    assert_order(routes, 5, (size_t[]){1, 4, 0, 2, 3});
}

/* The first route is picked with probability weight / sum over 10,000
 * draws of a fixed seed, within 3 standard deviations; the rest follow in
 * priority order. */
static void test_weighted_distribution(void **state)
{
    (void)state;
    const uint32_t weights[3] = {3, 1, 6};
    unsigned first[3] = {0};
    tg_rng_t rng = {0x2545f4914f6cdd1dull};
    const int draws = 10000;
    for (int d = 0; d < draws; d++) {
        tg_route_config_t routes[3];
        routes_init(routes, 3);
        for (size_t i = 0; i < 3; i++)
            routes[i].weight = weights[i];
        tg_route_order(TG_STRATEGY_WEIGHTED, routes, NULL, 3, tg_rng_next(&rng));
        first[routes[0].provider]++;
        /* The others keep their priority order. */
        size_t a = routes[1].provider, b = routes[2].provider;
        assert_true(a < b);
    }
    for (size_t i = 0; i < 3; i++) {
        double p = weights[i] / 10.0;
        assert_near(first[i], draws * p, 3 * sqrt(draws * p * (1 - p)));
    }
}

/* A weight's whole range is reachable: the last unit of the sum picks the
 * last route, the first unit the first. */
static void test_weighted_edges(void **state)
{
    (void)state;
    tg_route_config_t routes[3];
    routes_init(routes, 3);
    routes[0].weight = 2;
    tg_route_order(TG_STRATEGY_WEIGHTED, routes, NULL, 3, 3); /* 3 % 4 = 3: the last */
    assert_order(routes, 3, (size_t[]){2, 0, 1});
    routes_init(routes, 3);
    routes[0].weight = 2;
    tg_route_order(TG_STRATEGY_WEIGHTED, routes, NULL, 3, 5); /* 5 % 4 = 1: still the first */
    assert_order(routes, 3, (size_t[]){0, 1, 2});
    routes_init(routes, 3);
    routes[0].weight = 2;
    tg_route_order(TG_STRATEGY_WEIGHTED, routes, NULL, 3, 2); /* the second */
    assert_order(routes, 3, (size_t[]){1, 0, 2});
}

/* Up at once to a new peak; down toward lower samples with the time
 * constant; decayed toward 0 when read long after the last sample. */
static void test_peak_ewma(void **state)
{
    (void)state;
    tg_peak_ewma_t e;
    memset(&e, 0, sizeof(e));
    assert_true(tg_peak_ewma_value(&e, 100) == 0); /* never measured */

    tg_peak_ewma_update(&e, 0.5, 100);
    assert_near(tg_peak_ewma_value(&e, 100), 0.5, 1e-12);
    tg_peak_ewma_update(&e, 2.0, 100.1); /* a peak: taken whole */
    assert_near(tg_peak_ewma_value(&e, 100.1), 2.0, 1e-12);

    /* A faster sample one time constant later: weight 1 - 1/e. */
    tg_peak_ewma_update(&e, 0.1, 100.1 + TG_PEAK_EWMA_TAU);
    double w = exp(-1);
    double after = 2.0 * w + 0.1 * (1 - w);
    assert_near(tg_peak_ewma_value(&e, 100.1 + TG_PEAK_EWMA_TAU), after, 1e-12);

    /* Fast samples every 100 ms for 3 time constants: the excess over
     * them shrinks by e^-3 however many samples that took. */
    double t = 100.1 + TG_PEAK_EWMA_TAU;
    for (int i = 0; i < 300; i++)
        tg_peak_ewma_update(&e, 0.1, t += 0.1);
    double settled = 0.1 + (after - 0.1) * exp(-3);
    assert_near(tg_peak_ewma_value(&e, t), settled, 1e-9);

    /* No traffic: halved after tau * ln 2. */
    assert_near(tg_peak_ewma_value(&e, t + TG_PEAK_EWMA_TAU * log(2)), tg_peak_ewma_value(&e, t) / 2, 1e-12);
    /* A clock read before the last sample does not inflate it. */
    assert_near(tg_peak_ewma_value(&e, t - 5), tg_peak_ewma_value(&e, t), 1e-12);
    /* Negative or NaN durations are ignored. */
    tg_peak_ewma_update(&e, -1, t);
    tg_peak_ewma_update(&e, NAN, t);
    assert_near(tg_peak_ewma_value(&e, t), settled, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_keeps_order),
        cmocka_unit_test(test_sorted_by_key),
        cmocka_unit_test(test_weighted_distribution),
        cmocka_unit_test(test_weighted_edges),
        cmocka_unit_test(test_peak_ewma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
