/*
 * test_breaker.c - the circuit breaker (health/breaker.h) on a clock the
 * tests move: every transition of its table, the cooldown growing and
 * restarting, the probe quota under concurrent requests, the 429 cooldown,
 * a request that is the probe when every route is open, and a disabled
 * breaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "health/breaker.h"

/* The documented defaults, but a 10 s cooldown and 2 probes, 2 to close. */
static tg_breaker_config_t config(void)
{
    return (tg_breaker_config_t){
        .enabled = true, .failures = 5, .error_ratio = 0.5, .window_seconds = 30, .min_requests = 20,
        .cooldown_ms = 10000, .max_cooldown_ms = 35000, .half_open_probes = 2, .close_after = 2,
    };
}

#define T0 1000.0

static tg_breaker_change_t report(tg_breaker_t *b, const tg_breaker_config_t *c, bool ok, double now)
{
    tg_breaker_change_t change;
    tg_breaker_report(b, c, ok, now, now, &change);
    return change;
}

static void assert_change(tg_breaker_change_t got, tg_breaker_state_t from, tg_breaker_state_t to)
{
    assert_int_equal(got.from, from);
    assert_int_equal(got.to, to);
}

static void assert_no_change(tg_breaker_change_t got)
{
    assert_int_equal(got.from, got.to);
}

static bool admit(tg_breaker_t *b, const tg_breaker_config_t *c, double now)
{
    tg_breaker_change_t change;
    return tg_breaker_admit(b, c, now, &change);
}

/* Opens b at `now` with c->failures failures in a row. */
static void trip(tg_breaker_t *b, const tg_breaker_config_t *c, double now)
{
    for (uint32_t i = 1; i < c->failures; i++)
        assert_no_change(report(b, c, false, now));
    assert_change(report(b, c, false, now), TG_BREAKER_CLOSED, TG_BREAKER_OPEN);
}

/* CLOSED -> OPEN on failures in a row; a success in between starts the
 * count again; outcomes while OPEN change nothing. */
static void test_consecutive_failures_open(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    for (int i = 0; i < 4; i++)
        assert_no_change(report(&b, &c, false, T0));
    assert_no_change(report(&b, &c, true, T0));
    for (int i = 0; i < 4; i++)
        assert_no_change(report(&b, &c, false, T0 + 1));
    assert_int_equal(tg_breaker_state(&b, T0 + 1), TG_BREAKER_CLOSED);
    assert_true(admit(&b, &c, T0 + 1));
    assert_change(report(&b, &c, false, T0 + 2), TG_BREAKER_CLOSED, TG_BREAKER_OPEN);
    assert_int_equal(tg_breaker_state(&b, T0 + 2), TG_BREAKER_OPEN);
    assert_true(tg_breaker_since(&b) == T0 + 2);
    assert_false(admit(&b, &c, T0 + 2));
    assert_false(tg_breaker_usable(&b, &c, T0 + 11.999));
    assert_true(fabs(tg_breaker_cooldown_left(&b, T0 + 3) - 9) < 1e-9);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 3) == T0 + 12);
    /* late outcomes of attempts from before it opened */
    assert_no_change(report(&b, &c, true, T0 + 3));
    assert_no_change(report(&b, &c, false, T0 + 3));
    assert_int_equal(tg_breaker_state(&b, T0 + 3), TG_BREAKER_OPEN);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 3) == T0 + 12);
}

/* CLOSED -> OPEN on the error ratio: not below min_requests, not below
 * the ratio, and only over the window. */
static void test_error_ratio_opens(void **state)
{
    tg_breaker_config_t c = config();
    c.failures = 0; /* the ratio alone */
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    /* 10 failures in 19 attempts: under min_requests */
    for (int i = 0; i < 19; i++)
        assert_no_change(report(&b, &c, i % 2 == 1, T0 + i * 0.1));
    assert_int_equal(tg_breaker_state(&b, T0 + 2), TG_BREAKER_CLOSED);
    /* the 20th attempt, a failure: 11 of 20 */
    assert_change(report(&b, &c, false, T0 + 2), TG_BREAKER_CLOSED, TG_BREAKER_OPEN);

    /* below the ratio: 9 of 20, then 2 more failures make 11 of 22 while
     * those 20 are in the window, but 2 of 2 (under min_requests) once
     * they left it */
    for (int later = 0; later < 2; later++) {
        tg_breaker_t b2 = {0};
        tg_breaker_init(&b2, T0);
        for (int i = 0; i < 11; i++)
            assert_no_change(report(&b2, &c, true, T0));
        for (int i = 0; i < 9; i++)
            assert_no_change(report(&b2, &c, false, T0));
        assert_int_equal(tg_breaker_state(&b2, T0), TG_BREAKER_CLOSED);
        double then = later ? T0 + 30 : T0 + 29.5;
        assert_no_change(report(&b2, &c, false, then));
        tg_breaker_state_t want = later ? TG_BREAKER_CLOSED : TG_BREAKER_OPEN;
        assert_int_equal(report(&b2, &c, false, then).to, want);
    }
}

/* OPEN -> HALF_OPEN when the cooldown is over: by admit (lazily) or the
 * tick; exactly half_open_probes probes; CLOSED after close_after
 * successes; the ratio then forgets the attempts from before. */
static void test_half_open_probes_then_close(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0);
    assert_no_change(tg_breaker_tick(&b, T0 + 9.999, 0));
    assert_int_equal(tg_breaker_state(&b, T0 + 10), TG_BREAKER_HALF_OPEN); /* read lazily */
    assert_true(tg_breaker_usable(&b, &c, T0 + 10));

    tg_breaker_change_t change;
    assert_true(tg_breaker_admit(&b, &c, T0 + 10, &change));    /* probe 1 */
    assert_change(change, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);
    assert_true(tg_breaker_since(&b) == T0 + 10);
    assert_true(tg_breaker_admit(&b, &c, T0 + 10, &change));    /* probe 2 */
    assert_no_change(change);
    assert_false(tg_breaker_usable(&b, &c, T0 + 10));
    assert_false(admit(&b, &c, T0 + 10));                        /* others skip it */
    assert_true(tg_breaker_next_try(&b, &c, T0 + 10) == T0 + 11);
    assert_no_change(report(&b, &c, true, T0 + 10.5));
    assert_int_equal(tg_breaker_state(&b, T0 + 10.5), TG_BREAKER_HALF_OPEN);
    assert_change(report(&b, &c, true, T0 + 10.6), TG_BREAKER_HALF_OPEN, TG_BREAKER_CLOSED);
    assert_true(admit(&b, &c, T0 + 10.6));
    assert_true(tg_breaker_cooldown_left(&b, T0 + 10.6) == 0);

    /* the ratio forgets the attempts from before: the 5 failures at T0
     * would make one more failure 6 of 6 */
    c.min_requests = 5;
    assert_no_change(report(&b, &c, false, T0 + 12));
    assert_int_equal(tg_breaker_state(&b, T0 + 12), TG_BREAKER_CLOSED);
}

/* The tick moves an open breaker whose cooldown is over, without traffic. */
static void test_tick_ends_the_cooldown(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0);
    assert_no_change(tg_breaker_tick(&b, T0 + 9, 0));
    assert_change(tg_breaker_tick(&b, T0 + 10, 0), TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);
    assert_no_change(tg_breaker_tick(&b, T0 + 11, 0));
    assert_true(tg_breaker_since(&b) == T0 + 10);
    assert_true(admit(&b, &c, T0 + 11));
}

/* A success from an attempt that began before the run's latest failure
 * was counted (an answer already on its way when the provider broke) does
 * not end the run; one that began after it does. */
static void test_stale_success_keeps_the_run(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    tg_breaker_change_t change;
    for (int i = 0; i < 4; i++)
        assert_no_change(report(&b, &c, false, T0 + 1 + i));
    tg_breaker_report(&b, &c, true, T0, T0 + 5, &change); /* began at T0: stale */
    assert_no_change(change);
    assert_change(report(&b, &c, false, T0 + 6), TG_BREAKER_CLOSED, TG_BREAKER_OPEN); /* the 5th in a row */

    tg_breaker_t fresh = {0};
    tg_breaker_init(&fresh, T0);
    for (int i = 0; i < 4; i++)
        assert_no_change(report(&fresh, &c, false, T0 + 1 + i));
    tg_breaker_report(&fresh, &c, true, T0 + 4.5, T0 + 5, &change); /* began after the 4th */
    assert_no_change(report(&fresh, &c, false, T0 + 6)); /* a new run: 1 */
}

/* OPEN -> HALF_OPEN before the cooldown is over when an active health
 * check passed after the breaker opened; one from before it opened does
 * not count. */
static void test_passing_check_ends_the_cooldown_early(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0 + 1);
    assert_no_change(tg_breaker_tick(&b, T0 + 2, T0 + 0.5)); /* passed before it opened */
    assert_false(admit(&b, &c, T0 + 2));
    assert_change(tg_breaker_tick(&b, T0 + 3, T0 + 2.5), TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);
    assert_true(admit(&b, &c, T0 + 3)); /* a probe, 8 s before the cooldown's end */
}

/* HALF_OPEN -> OPEN on a failure, the cooldown restarted from the failure
 * and doubled per reopen up to the cap; a close resets the doubling. */
static void test_reopen_restarts_and_grows_the_cooldown(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0);                                     /* cooldown 10 s */
    assert_true(admit(&b, &c, T0 + 10));
    assert_change(report(&b, &c, false, T0 + 14), TG_BREAKER_HALF_OPEN, TG_BREAKER_OPEN);
    assert_true(tg_breaker_since(&b) == T0 + 14);
    assert_false(admit(&b, &c, T0 + 33.999));             /* 20 s from the failure */
    assert_true(tg_breaker_next_try(&b, &c, T0 + 20) == T0 + 34);
    assert_true(admit(&b, &c, T0 + 34));
    assert_change(report(&b, &c, false, T0 + 34), TG_BREAKER_HALF_OPEN, TG_BREAKER_OPEN);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 34) == T0 + 34 + 35); /* 40 s, capped at 35 */
    assert_true(admit(&b, &c, T0 + 69));
    assert_change(report(&b, &c, false, T0 + 69), TG_BREAKER_HALF_OPEN, TG_BREAKER_OPEN);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 69) == T0 + 69 + 35);

    /* closed again: the next open starts from the base cooldown */
    assert_true(admit(&b, &c, T0 + 104));
    assert_no_change(report(&b, &c, true, T0 + 104));
    assert_change(report(&b, &c, true, T0 + 104), TG_BREAKER_HALF_OPEN, TG_BREAKER_CLOSED);
    trip(&b, &c, T0 + 200);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 200) == T0 + 210);
}

/* Probes that never report (their client left) are given back after a
 * cooldown, so a breaker cannot stay half-open and closed to traffic. */
static void test_lost_probes_are_given_back(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0);
    assert_true(admit(&b, &c, T0 + 10));
    assert_true(admit(&b, &c, T0 + 10));
    assert_false(admit(&b, &c, T0 + 19.999));
    assert_true(tg_breaker_usable(&b, &c, T0 + 20));
    assert_true(admit(&b, &c, T0 + 20));
    assert_true(admit(&b, &c, T0 + 20));
    assert_false(admit(&b, &c, T0 + 20));
}

/* A 429's Retry-After keeps the provider out until then (capped at
 * max_cooldown_ms), in any state, without opening anything. */
static void test_retry_after_cools_down(void **state)
{
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    tg_breaker_cool_down(&b, &c, 3, T0);
    tg_breaker_cool_down(&b, &c, 1, T0);                  /* never shortens it */
    assert_false(admit(&b, &c, T0 + 2.999));
    assert_false(tg_breaker_usable(&b, &c, T0 + 2.999));
    assert_true(tg_breaker_next_try(&b, &c, T0 + 1) == T0 + 3);
    assert_int_equal(tg_breaker_state(&b, T0 + 1), TG_BREAKER_CLOSED);
    assert_true(admit(&b, &c, T0 + 3));
    tg_breaker_cool_down(&b, &c, 3600, T0 + 3);
    assert_true(tg_breaker_next_try(&b, &c, T0 + 3) == T0 + 3 + 35);
    tg_breaker_cool_down(&b, &c, 0, T0 + 100);            /* nothing */
    tg_breaker_cool_down(&b, &c, NAN, T0 + 100);
    assert_true(admit(&b, &c, T0 + 100));
}

/* enabled: false: every attempt admitted, nothing counted, never opens. */
static void test_disabled_breaker(void **state)
{
    tg_breaker_config_t c = config();
    c.enabled = false;
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    for (int i = 0; i < 100; i++)
        assert_no_change(report(&b, &c, false, T0));
    tg_breaker_cool_down(&b, &c, 10, T0);
    assert_true(admit(&b, &c, T0));
    assert_true(tg_breaker_usable(&b, &c, T0));
    assert_true(tg_breaker_next_try(&b, &c, T0) == T0);
    assert_int_equal(tg_breaker_state(&b, T0), TG_BREAKER_CLOSED);
}

/* ------------------------------------------------------- concurrency */

#define THREADS 8
#define TRIES 1000

typedef struct race {
    tg_breaker_t *b;
    const tg_breaker_config_t *c;
    double now;
    pthread_barrier_t *start;
    int admitted;
    int changes;
} race_t;

static void *admit_many(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < TRIES; i++) {
        tg_breaker_change_t change;
        r->admitted += tg_breaker_admit(r->b, r->c, r->now, &change);
        r->changes += change.from != change.to;
    }
    return NULL;
}

static void *fail_many(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < TRIES; i++)
        r->changes += report(r->b, r->c, false, r->now).to == TG_BREAKER_OPEN;
    return NULL;
}

static void race(void *(*fn)(void *), tg_breaker_t *b, const tg_breaker_config_t *c, double now, int *admitted,
                 int *changes)
{
    pthread_t t[THREADS];
    race_t r[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race_t){b, c, now, &start, 0, 0};
        pthread_create(&t[i], NULL, fn, &r[i]);
    }
    *admitted = *changes = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        *admitted += r[i].admitted;
        *changes += r[i].changes;
    }
    pthread_barrier_destroy(&start);
}

/* when_all_open: probe. An open breaker admits the request as its first
 * half-open probe before its cooldown is over; the period's quota still
 * holds; a failed probe reopens it with the cooldown doubled; a
 * successful one counts toward closing; a 429's Retry-After still holds. */
static void test_request_is_the_probe(void **state)
{
    (void)state;
    tg_breaker_config_t c = config();
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    trip(&b, &c, T0);
    tg_breaker_change_t change;
    assert_false(admit(&b, &c, T0 + 1));
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 1, &change));     /* 9 s early */
    assert_change(change, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);
    assert_true(tg_breaker_since(&b) == T0 + 1);
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 1, &change));     /* probe 2 of 2 */
    assert_no_change(change);
    assert_false(tg_breaker_admit_probe(&b, &c, T0 + 1, &change));    /* none left */
    assert_false(admit(&b, &c, T0 + 1));

    assert_change(report(&b, &c, false, T0 + 2), TG_BREAKER_HALF_OPEN, TG_BREAKER_OPEN);
    assert_true(tg_breaker_cooldown_left(&b, T0 + 2) == 20);          /* the second open: doubled */
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 3, &change));
    assert_change(change, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);
    assert_no_change(report(&b, &c, true, T0 + 3.5));
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 3.6, &change));   /* the second probe */
    assert_change(report(&b, &c, true, T0 + 3.7), TG_BREAKER_HALF_OPEN, TG_BREAKER_CLOSED);
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 4, &change));     /* closed: as admit */
    assert_no_change(change);

    /* a 429's Retry-After is the provider's word: not cut short */
    trip(&b, &c, T0 + 5);
    tg_breaker_cool_down(&b, &c, 3, T0 + 5);
    assert_false(tg_breaker_admit_probe(&b, &c, T0 + 6, &change));
    assert_no_change(change);
    assert_int_equal(tg_breaker_state(&b, T0 + 6), TG_BREAKER_OPEN);
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 8, &change));
    assert_change(change, TG_BREAKER_OPEN, TG_BREAKER_HALF_OPEN);

    c.enabled = false;
    assert_true(tg_breaker_admit_probe(&b, &c, T0 + 9, &change));
}

/* Concurrent failures open it once; concurrent requests in half-open take
 * exactly half_open_probes probes, and one of them made the transition. */
static void test_concurrent_requests_take_only_the_quota(void **state)
{
    tg_breaker_config_t c = config();
    c.half_open_probes = 3;
    tg_breaker_t b = {0};
    tg_breaker_init(&b, T0);
    int admitted, changes;
    race(fail_many, &b, &c, T0, &admitted, &changes);
    assert_int_equal(changes, 1);
    assert_int_equal(tg_breaker_state(&b, T0), TG_BREAKER_OPEN);
    race(admit_many, &b, &c, T0 + 10, &admitted, &changes);
    assert_int_equal(admitted, 3);
    assert_int_equal(changes, 1); /* OPEN -> HALF_OPEN, made once */
    assert_int_equal(tg_breaker_state(&b, T0 + 10), TG_BREAKER_HALF_OPEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures_open),
        cmocka_unit_test(test_error_ratio_opens),
        cmocka_unit_test(test_half_open_probes_then_close),
        cmocka_unit_test(test_tick_ends_the_cooldown),
        cmocka_unit_test(test_passing_check_ends_the_cooldown_early),
        cmocka_unit_test(test_stale_success_keeps_the_run),
        cmocka_unit_test(test_reopen_restarts_and_grows_the_cooldown),
        cmocka_unit_test(test_lost_probes_are_given_back),
        cmocka_unit_test(test_request_is_the_probe),
        cmocka_unit_test(test_retry_after_cools_down),
        cmocka_unit_test(test_disabled_breaker),
        cmocka_unit_test(test_concurrent_requests_take_only_the_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
