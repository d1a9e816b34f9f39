/*
 * test_limits.c - the limits' building blocks on synthetic clocks: the
 * GCRA token bucket (limits/gcra.h) taken until empty, refilled, refunded
 * and charged after the fact; the monthly budget (limits/budget.h)
 * reserved to the last nano-dollar, settled, released, seeded and carried
 * across a month; the registry of states (limits/state.h); the reset
 * times of the x-ratelimit headers; and both under 8 threads at once,
 * where exactly the capacity (the budget) must be granted, never more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "limits/budget.h"
#include "limits/gcra.h"
#include "limits/state.h"
#include "pipeline/limits.h"

#define S 1000000000LL          /* a second, in ns */
#define MINUTE (60 * S)
#define T0 (1000 * S)           /* "now" at the start of every bucket test */

static tg_gcra_take_t take(_Atomic int64_t *tat, int64_t now, int64_t capacity, int64_t n)
{
    tg_gcra_take_t t;
    tg_gcra_take(tat, now, MINUTE, capacity, n, &t);
    return t;
}

static void assert_take(tg_gcra_take_t t, bool allowed, int64_t remaining, int64_t reset_ns, int64_t retry_ns)
{
    assert_int_equal(t.allowed, allowed);
    assert_int_equal(t.remaining, remaining);
    assert_int_equal(t.reset_ns, reset_ns);
    assert_int_equal(t.retry_after_ns, retry_ns);
}

/* ------------------------------------------------------------------ gcra */

/* 10 per minute: one token every 6 s. A fresh bucket gives 10 at once,
 * each showing one fewer left and 6 s more until full; the 11th is
 * refused and told to wait the 6 s the next token takes. */
static void test_gcra_take_until_empty(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    for (int64_t i = 1; i <= 10; i++)
        assert_take(take(&tat, T0, 10, 1), true, 10 - i, i * 6 * S, 0);
    assert_int_equal(atomic_load(&tat), T0 + MINUTE);
    assert_take(take(&tat, T0, 10, 1), false, 0, MINUTE, 6 * S);
    assert_int_equal(atomic_load(&tat), T0 + MINUTE); /* a refusal changes nothing */
    /* half a token later: still refused, 3 s to go */
    assert_take(take(&tat, T0 + 3 * S, 10, 1), false, 0, 57 * S, 3 * S);
    /* one nanosecond short of the token, then on it */
    assert_take(take(&tat, T0 + 6 * S - 1, 10, 1), false, 0, 54 * S + 1, 1);
    assert_take(take(&tat, T0 + 6 * S, 10, 1), true, 0, MINUTE, 0);
}

/* Tokens come back continuously, one per interval, and never beyond a
 * full bucket however long it stays unused. */
static void test_gcra_refills_with_time(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    assert_take(take(&tat, T0, 10, 10), true, 0, MINUTE, 0);
    /* 18 s later 3 tokens are back: take one, 2 left, 48 s until full */
    assert_take(take(&tat, T0 + 18 * S, 10, 1), true, 2, 48 * S, 0);
    /* asking for 4 when 2 are there: 12 s until 2 more */
    assert_take(take(&tat, T0 + 18 * S, 10, 4), false, 2, 48 * S, 12 * S);
    /* a whole minute after it emptied: full again, 10 and no more */
    int64_t later = T0 + 18 * S + MINUTE;
    assert_take(take(&tat, later, 10, 10), true, 0, MINUTE, 0);
    assert_false(take(&tat, later, 10, 1).allowed);
    /* an hour unused is still only a full bucket */
    int64_t hour = later + 3600 * S;
    assert_take(take(&tat, hour, 10, 1), true, 9, 6 * S, 0);
    assert_take(take(&tat, hour, 10, 9), true, 0, MINUTE, 0);
    assert_false(take(&tat, hour, 10, 1).allowed);
}

/* n > 1 at once (tokens per minute), and more than the whole capacity,
 * which no wait can ever satisfy. */
static void test_gcra_take_many(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    /* 600 per minute: a token every 100 ms */
    assert_take(take(&tat, T0, 600, 250), true, 350, 25 * S, 0);
    assert_take(take(&tat, T0, 600, 350), true, 0, MINUTE, 0);
    assert_take(take(&tat, T0, 600, 60), false, 0, MINUTE, 6 * S);
    _Atomic int64_t fresh = 0;
    tg_gcra_take_t t = take(&fresh, T0, 600, 601);
    assert_false(t.allowed);
    assert_int_equal(t.remaining, 600);
    assert_int_equal(t.retry_after_ns, S / 10); /* limits.c sends no Retry-After for it */
    assert_int_equal(atomic_load(&fresh), 0);
}

/* Capacity 0 refuses everything and never divides by zero. */
static void test_gcra_capacity_zero(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    for (int i = 0; i < 3; i++) {
        tg_gcra_take_t t = take(&tat, T0 + i * MINUTE, 0, 1);
        assert_false(t.allowed);
        assert_int_equal(t.remaining, 0);
        assert_int_equal(t.reset_ns, 0);
    }
    assert_int_equal(atomic_load(&tat), 0);
}

/* A limit above 60 billion a minute (a tpm of 1e11): its interval would
 * round to 0 ns and be divided by (a crash under UBSan, SIGFPE without). */
static void test_gcra_huge_capacity(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    tg_gcra_take_t t = take(&tat, T0, 100000000000LL, 4000);
    assert_true(t.allowed);
    assert_true(t.remaining > 0);
    tg_gcra_adjust(&tat, T0, MINUTE, 100000000000LL, 1000);
}

/* A refund (the estimate was more than the real count) gives tokens back,
 * but never fills the bucket beyond full; a refund to a full bucket
 * changes nothing. */
static void test_gcra_refund_never_beyond_full(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    assert_take(take(&tat, T0, 10, 5), true, 5, 30 * S, 0);
    tg_gcra_adjust(&tat, T0, MINUTE, 10, 3);
    assert_int_equal(atomic_load(&tat), T0 + 12 * S);
    assert_take(take(&tat, T0, 10, 1), true, 7, 18 * S, 0);
    tg_gcra_adjust(&tat, T0, MINUTE, 10, 100);
    assert_int_equal(atomic_load(&tat), T0); /* full, not 97 tokens of credit */
    assert_take(take(&tat, T0, 10, 10), true, 0, MINUTE, 0);
    assert_false(take(&tat, T0, 10, 1).allowed);
    /* a refund after the bucket refilled on its own */
    tg_gcra_adjust(&tat, T0 + 2 * MINUTE, MINUTE, 10, 4);
    assert_int_equal(atomic_load(&tat), T0 + MINUTE);
    assert_take(take(&tat, T0 + 2 * MINUTE, 10, 10), true, 0, MINUTE, 0);
    assert_false(take(&tat, T0 + 2 * MINUTE, 10, 1).allowed);
}

/* A charge after the fact (the real count was more than the estimate) is
 * never refused and counts from now: a bucket that had refilled since the
 * request took its estimate must still lose the extra tokens. */
static void test_gcra_charge_after_the_fact(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    assert_take(take(&tat, T0, 10, 2), true, 8, 12 * S, 0);
    /* the call ended 30 s later (the bucket is full again) using 6 tokens, 4 more */
    int64_t end = T0 + 30 * S;
    tg_gcra_adjust(&tat, end, MINUTE, 10, -4);
    assert_int_equal(atomic_load(&tat), end + 24 * S);
    assert_take(take(&tat, end, 10, 1), true, 5, 30 * S, 0);
    /* beyond empty: the next requests wait until it is paid off */
    tg_gcra_adjust(&tat, end, MINUTE, 10, -8);
    tg_gcra_take_t t = take(&tat, end, 10, 1);
    assert_false(t.allowed);
    assert_int_equal(t.retry_after_ns, 24 * S); /* tat end + 78 s: the next token is 84 s away, 24 s past a bucket */
}

typedef struct race {
    pthread_barrier_t *start;
    _Atomic int64_t *tat;
    tg_limit_state_t *budget;
    int64_t tries;
    int64_t granted;
} race_t;

enum { THREADS = 8 };

static void *take_many(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->start);
    for (int64_t i = 0; i < r->tries; i++) {
        tg_gcra_take_t t;
        tg_gcra_take(r->tat, T0, MINUTE, 5000, 1, &t);
        r->granted += t.allowed;
    }
    return NULL;
}

/* 8 threads hammer one bucket of 5000 at one instant with 8000 takes:
 * exactly 5000 pass. */
static void test_gcra_threads_take_exactly_capacity(void **state)
{
    (void)state;
    _Atomic int64_t tat = 0;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t th[THREADS];
    race_t r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race_t){.start = &start, .tat = &tat, .tries = 1000};
        assert_int_equal(pthread_create(&th[i], NULL, take_many, &r[i]), 0);
    }
    int64_t granted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        granted += r[i].granted;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(granted, 5000);
    assert_int_equal(atomic_load(&tat), T0 + MINUTE);
}

/* ---------------------------------------------------------------- budget */

#define NOV 202611
#define DEC 202612

typedef struct fixture {
    tg_limit_registry_t *reg;
    tg_limit_state_t *s;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    f.reg = tg_limit_registry_new();
    f.s = f.reg ? tg_limit_state_get(f.reg, true, "acme") : NULL;
    *state = &f;
    return f.s == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tg_limit_registry_free(f->reg);
    return 0;
}

static void assert_budget(tg_limit_state_t *s, int64_t month, int64_t used, int64_t settled)
{
    assert_int_equal(atomic_load(&s->budget_month), month);
    assert_int_equal(atomic_load(&s->budget_used), used);
    assert_int_equal(atomic_load(&s->budget_settled), settled);
}

static void test_budget_month(void **state)
{
    (void)state;
    assert_int_equal(tg_budget_month(0), 197001);
    assert_int_equal(tg_budget_month(1764460800.0), 202511);    /* 2025-11-30T00:00:00Z */
    assert_int_equal(tg_budget_month(1767225599.9), 202512);    /* 2025-12-31T23:59:59.9Z */
    assert_int_equal(tg_budget_month(1767225600.0), 202601);    /* 2026-01-01T00:00:00Z */
}

/* Reservations fill the budget to the last nano-dollar and no further; a
 * refusal leaves the use as it was and reports it. */
static void test_budget_reserve_up_to_exactly(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    int64_t used = -1;
    for (int64_t i = 1; i <= 4; i++) {
        assert_true(tg_budget_reserve(s, NOV, 1000, 250, &used));
        assert_int_equal(used, 250 * i);
    }
    assert_false(tg_budget_reserve(s, NOV, 1000, 1, &used));
    assert_int_equal(used, 1000);
    assert_true(tg_budget_reserve(s, NOV, 1000, 0, &used));
    assert_budget(s, NOV, 1000, 0);
}

/* Settling turns a reservation into its real cost, which frees the rest;
 * a failed call (cost 0) releases all of it. */
static void test_budget_settle_and_release(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    int64_t used;
    assert_true(tg_budget_reserve(s, NOV, 1000, 600, &used));
    assert_true(tg_budget_reserve(s, NOV, 1000, 400, &used));
    assert_false(tg_budget_reserve(s, NOV, 1000, 100, &used));
    tg_budget_settle(s, NOV, NOV, 600, 150);
    assert_budget(s, NOV, 550, 150);
    tg_budget_settle(s, NOV, NOV, 400, 0);
    assert_budget(s, NOV, 150, 150);
    assert_true(tg_budget_reserve(s, NOV, 1000, 850, &used));
    assert_int_equal(used, 1000);
    assert_false(tg_budget_reserve(s, NOV, 1000, 1, &used));
    tg_budget_settle(s, NOV, NOV, 850, 850);
    assert_budget(s, NOV, 1000, 1000);
}

/* A new month starts from zero; a reservation made in the old one settles
 * into the new one as its real cost only (its worst case was never part
 * of the new month's use), and settling late never moves the month back. */
static void test_budget_month_rollover(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    int64_t used;
    assert_true(tg_budget_reserve(s, NOV, 1000, 700, &used));
    assert_true(tg_budget_reserve(s, NOV, 1000, 200, &used));
    tg_budget_settle(s, NOV, NOV, 200, 100);
    assert_budget(s, NOV, 800, 100);
    assert_false(tg_budget_reserve(s, NOV, 1000, 300, &used));

    assert_true(tg_budget_reserve(s, DEC, 1000, 300, &used));
    assert_int_equal(used, 300);
    assert_budget(s, DEC, 300, 0);
    tg_budget_settle(s, DEC, NOV, 700, 40); /* November's call ends in December */
    assert_budget(s, DEC, 340, 40);
    tg_budget_settle(s, NOV, NOV, 0, 5);    /* a clock a little behind: still December's */
    assert_budget(s, DEC, 345, 45);
    tg_budget_settle(s, DEC, DEC, 300, 300);
    assert_budget(s, DEC, 345, 345);
    /* a month with no request in between */
    assert_true(tg_budget_reserve(s, 202702, 1000, 1000, &used));
    assert_budget(s, 202702, 1000, 0);
}

/* At start the month's spend from the ledger counts as settled; a seed
 * from an earlier month is not this month's. */
static void test_budget_seed(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    int64_t used;
    tg_budget_seed(s, NOV, 700);
    assert_budget(s, NOV, 700, 700);
    assert_false(tg_budget_reserve(s, NOV, 1000, 301, &used));
    assert_int_equal(used, 700);
    assert_true(tg_budget_reserve(s, NOV, 1000, 300, &used));
    assert_true(tg_budget_reserve(s, DEC, 1000, 1000, &used));
    assert_budget(s, DEC, 1000, 0);
}

static void *reserve_many(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->start);
    for (int64_t i = 0; i < r->tries; i++) {
        int64_t used;
        r->granted += tg_budget_reserve(r->budget, NOV, 50000, 7, &used);
    }
    return NULL;
}

/* 8 threads x 2000 reservations of 7 against 50000: exactly
 * floor(50000 / 7) = 7142 granted, however they interleave. */
static void test_budget_threads_reserve_exactly(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t th[THREADS];
    race_t r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race_t){.start = &start, .budget = s, .tries = 2000};
        assert_int_equal(pthread_create(&th[i], NULL, reserve_many, &r[i]), 0);
    }
    int64_t granted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        granted += r[i].granted;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(granted, 50000 / 7);
    assert_budget(s, NOV, 50000 / 7 * 7, 0);
}

static void *reserve_and_settle(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->start);
    for (int64_t i = 0; i < r->tries; i++) {
        int64_t used;
        if (tg_budget_reserve(r->budget, NOV, 50000, 10, &used)) {
            r->granted++;
            tg_budget_settle(r->budget, NOV, NOV, 10, i % 4 == 0 ? 0 : 3); /* a quarter fail */
        }
    }
    return NULL;
}

/* Reservations and settlements racing: the spend never passes the budget
 * and, once every call has ended, the use is the settled spend. */
static void test_budget_threads_settle(void **state)
{
    tg_limit_state_t *s = ((fixture_t *)*state)->s;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t th[THREADS];
    race_t r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race_t){.start = &start, .budget = s, .tries = 5000};
        assert_int_equal(pthread_create(&th[i], NULL, reserve_and_settle, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int64_t settled = atomic_load(&s->budget_settled);
    assert_true(settled <= 50000);
    assert_true(settled > 50000 - 10 * THREADS); /* it went on until the budget was spent */
    assert_budget(s, NOV, settled, settled);
}

/* -------------------------------------------------------------- registry */

/* One state per key id and per org name, the same on every look-up; a key
 * and an org of the same name are two states. */
static void test_registry(void **state)
{
    tg_limit_registry_t *reg = ((fixture_t *)*state)->reg;
    tg_limit_state_t *org = ((fixture_t *)*state)->s;
    assert_ptr_equal(tg_limit_state_get(reg, true, "acme"), org);
    tg_limit_state_t *key = tg_limit_state_get(reg, false, "acme");
    assert_non_null(key);
    assert_ptr_not_equal(key, org);
    assert_false(key->is_org);
    assert_string_equal(key->id, "acme");
    assert_ptr_equal(tg_limit_state_get(reg, false, "acme"), key);
    assert_non_null(tg_limit_state_get(reg, true, "globex"));
}

/* ----------------------------------------------------------------- reset */

static void test_format_reset(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *text;
    } cases[] = {
        {-5, "0ms"},           {0, "0ms"},
        {1, "1ms"},            /* rounded up: waiting less would be too early */
        {20000000, "20ms"},    {20000001, "21ms"},
        {999000000, "999ms"},  {999000001, "1s"},
        {S, "1s"},             {1500000000, "1.5s"},
        {59999000000, "59.999s"},
        {MINUTE, "1m0s"},      {MINUTE + 250000000, "1m0.25s"},
        {6 * MINUTE, "6m0s"},  {6 * MINUTE + 30 * S, "6m30s"},
        {90 * MINUTE, "90m0s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[24];
        size_t n = tg_limits_format_reset(buf, sizeof(buf), cases[i].ns);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, strlen(cases[i].text));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_take_until_empty),
        cmocka_unit_test(test_gcra_refills_with_time),
        cmocka_unit_test(test_gcra_take_many),
        cmocka_unit_test(test_gcra_capacity_zero),
        cmocka_unit_test(test_gcra_huge_capacity),
        cmocka_unit_test(test_gcra_refund_never_beyond_full),
        cmocka_unit_test(test_gcra_charge_after_the_fact),
        cmocka_unit_test(test_gcra_threads_take_exactly_capacity),
        cmocka_unit_test(test_budget_month),
        cmocka_unit_test_setup_teardown(test_budget_reserve_up_to_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_settle_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_month_rollover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_seed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_threads_reserve_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_threads_settle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test(test_format_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
