/*
 * test_housekeeping.c - the housekeeping tick (server/housekeeping.h) on
 * its own thread: it runs at TG_HOUSEKEEPING_HZ, times itself and its
 * tasks into housekeeping_duration_seconds, evaluates provider health so
 * that provider_health_status follows the providers' windows, and stops at
 * once. Also prints what a tick costs with 50 providers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "core/clock.h"
#include "health/provider.h"
#include "obs/metrics.h"
#include "server/housekeeping.h"

#include "tests/yaml_fixture.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static char *render(tg_obs_t *obs)
{
    tally_buf b = {0};
    assert_int_equal(tally_render(tg_obs_registry(obs), TALLY_FORMAT_TEXT, NULL, &b), TALLY_OK);
    char *s = strndup(b.data ? b.data : "", b.len);
    tally_buf_free(&b);
    return s;
}

/* The value of the sample whose line starts with `series` (name and
 * labels), or -1 when there is none. */
static double sample(tg_obs_t *obs, const char *series)
{
    char *text = render(obs);
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    }
    free(text);
    return v;
}

typedef struct fixture {
    tg_config_t *cfg;
    tg_obs_t *obs;
    tg_health_t *health;
    const tg_health_view_t *hv;
} fixture;

static void fixture_init(fixture *f, const char *yaml)
{
    f->cfg = load_yaml(yaml);
    tg_obs_opts_t o = {.metric_namespace = "hk", .version = "test"};
    f->obs = tg_obs_new(&o, NULL);
    f->health = tg_health_new();
    assert_non_null(f->obs);
    assert_non_null(f->health);
    f->hv = tg_health_bind(f->health, f->cfg);
    assert_non_null(tg_obs_bind(f->obs, f->cfg, f->hv));
}

static void fixture_free(fixture *f)
{
    tg_obs_free(f->obs);
    tg_health_free(f->health);
    tg_config_free(f->cfg);
}

static const char two_providers[] =
    "providers:\n"
    "  - { name: fine, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "  - { name: broken, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "models:\n"
    "  - { name: m, routes: [ { provider: fine }, { provider: broken } ] }\n";

/* A failing provider's provider_health_status drops to 0 within a second
 * and a tick, and comes back once successes outweigh its failures. */
static void test_tick_evaluates_provider_health(void **state)
{
    fixture f;
    fixture_init(&f, two_providers);
    tg_housekeeping_t *hk = tg_housekeeping_start(&(tg_housekeeping_ctx_t){.health = f.health, .obs = f.obs});
    assert_non_null(hk);
    const char *broken = "hk_provider_health_status{provider=\"broken\"}";
    assert_true(sample(f.obs, broken) == 1);

    for (int i = 0; i < 6; i++)
        tg_health_report_attempt(f.hv, 1, false, TG_RETRY_STATUS_5XX, 0.01);
    double t0 = now_seconds();
    while (sample(f.obs, broken) != 0 && now_seconds() - t0 < 3)
        sleep_seconds(0.02);
    double took = now_seconds() - t0;
    assert_true(sample(f.obs, broken) == 0);
    assert_true(took < 1.5);
    assert_true(sample(f.obs, "hk_provider_health_status{provider=\"fine\"}") == 1);

    /* 6 failures, 6 successes: still half */
    for (int i = 0; i < 6; i++)
        tg_health_report_attempt(f.hv, 1, true, TG_RETRY_CONNECT, 0.01);
    sleep_seconds(1.2);
    assert_true(sample(f.obs, broken) == 0);
    /* one more: 6 of 13 */
    tg_health_report_attempt(f.hv, 1, true, TG_RETRY_CONNECT, 0.01);
    t0 = now_seconds();
    while (sample(f.obs, broken) != 1 && now_seconds() - t0 < 3)
        sleep_seconds(0.02);
    assert_true(sample(f.obs, broken) == 1);

    t0 = now_seconds();
    tg_housekeeping_stop(hk);
    double stop = now_seconds() - t0;
    assert_true(stop < 0.5);  /* a signal, not a wait for the period */
    assert_true(sample(f.obs, "hk_housekeeping_duration_seconds_count{task=\"tick\"}") >= 10);
    assert_true(sample(f.obs, "hk_housekeeping_duration_seconds_count{task=\"provider_health\"}") >= 2);
    fixture_free(&f);
}

/* About TG_HOUSEKEEPING_HZ ticks a second (not a busy loop), the 1 s task
 * once a second, and what a tick costs with 50 providers. */
static void test_tick_rate_and_cost(void **state)
{
    enum { PROVIDERS = 50 };
    size_t cap = 200 + PROVIDERS * 80;
    char *yaml = malloc(cap);
    size_t n = (size_t)snprintf(yaml, cap, "providers:\n");
    for (int i = 0; i < PROVIDERS; i++)
        n += (size_t)snprintf(yaml + n, cap - n, "  - { name: p%d, base_url: \"http://127.0.0.1:9/v1\" }\n", i);
    snprintf(yaml + n, cap - n, "models:\n  - { name: m, routes: [ { provider: p0 } ] }\n");
    fixture f;
    fixture_init(&f, yaml);
    free(yaml);
    /* every slot of every window in use, as under steady traffic */
    for (int i = 0; i < PROVIDERS; i++)
        for (int k = 0; k < 20; k++)
            tg_health_report_attempt(f.hv, (size_t)i, k % 3 != 0, TG_RETRY_RESET, 0.2);

    /* the provider_health task's two halves, on their own */
    enum { ROUNDS = 1000 };
    double t0 = now_seconds();
    for (int i = 0; i < ROUNDS; i++)
        tg_health_evaluate(f.health, tg_clock_seconds(), NULL, NULL);
    double t1 = now_seconds();
    for (int i = 0; i < ROUNDS; i++)
        tg_obs_sync_provider_state(f.obs);
    double t2 = now_seconds();
    printf("%d providers: tg_health_evaluate %.1f us, tg_obs_sync_provider_state %.1f us\n", PROVIDERS,
           (t1 - t0) / ROUNDS * 1e6, (t2 - t1) / ROUNDS * 1e6);

    tg_housekeeping_t *hk = tg_housekeeping_start(&(tg_housekeeping_ctx_t){.health = f.health, .obs = f.obs});
    assert_non_null(hk);
    sleep_seconds(2.05);
    tg_housekeeping_stop(hk);

    double ticks = sample(f.obs, "hk_housekeeping_duration_seconds_count{task=\"tick\"}");
    double tick_sum = sample(f.obs, "hk_housekeeping_duration_seconds_sum{task=\"tick\"}");
    double runs = sample(f.obs, "hk_housekeeping_duration_seconds_count{task=\"provider_health\"}");
    double run_sum = sample(f.obs, "hk_housekeeping_duration_seconds_sum{task=\"provider_health\"}");
    printf("housekeeping, %d providers: %.0f ticks in 2.05 s, mean tick %.1f us; "
           "%.0f provider_health runs, mean %.1f us; mean idle tick %.1f us\n",
           PROVIDERS, ticks, tick_sum / ticks * 1e6, runs, run_sum / runs * 1e6,
           (tick_sum - run_sum) / ticks * 1e6);
    assert_true(ticks >= 10 && ticks <= 25);
    assert_true(runs >= 2 && runs <= 4);
    assert_true(run_sum / runs < 0.05);  /* far below a tick period even under sanitizers */
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_evaluates_provider_health),
        cmocka_unit_test(test_tick_rate_and_cost),
    };
    return cmocka_run_group_tests(tests, yaml_setup, yaml_teardown);
}
