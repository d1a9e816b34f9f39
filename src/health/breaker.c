/*
 * breaker.c - a provider's circuit breaker (breaker.h has the state table).
 *
 * The word: bits 0-1 the state, 2-9 the probes taken in this half-open
 * period, 10-17 the successes in it, 18-63 a time in milliseconds (OPEN:
 * when the cooldown ends; HALF_OPEN: when the period began; CLOSED: 0).
 * Whoever wins the compare-and-swap into a state does what entering it
 * needs (since, opens, the counters): those fields are only reported or
 * read as hints, so a reader that sees them a moment late is harmless.
 */
#include "health/breaker.h"

#include <math.h>

#define STATE_BITS 2
#define COUNT_BITS 8
#define PROBES_SHIFT STATE_BITS
#define SUCCESSES_SHIFT (PROBES_SHIFT + COUNT_BITS)
#define TIME_SHIFT (SUCCESSES_SHIFT + COUNT_BITS)
#define COUNT_MASK ((1u << COUNT_BITS) - 1)

static tg_breaker_state_t state_of(uint64_t w) { return (tg_breaker_state_t)(w & ((1u << STATE_BITS) - 1)); }
static unsigned probes_of(uint64_t w) { return (unsigned)(w >> PROBES_SHIFT) & COUNT_MASK; }
static unsigned successes_of(uint64_t w) { return (unsigned)(w >> SUCCESSES_SHIFT) & COUNT_MASK; }
static uint64_t time_of(uint64_t w) { return w >> TIME_SHIFT; }

static uint64_t pack(tg_breaker_state_t state, unsigned probes, unsigned successes, uint64_t ms)
{
    return (uint64_t)state | (uint64_t)probes << PROBES_SHIFT | (uint64_t)successes << SUCCESSES_SHIFT |
           ms << TIME_SHIFT;
}

static uint64_t ms_of(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * 1000.0) : 0;
}

static uint64_t load_word(const tg_breaker_t *b)
{
    return atomic_load_explicit((_Atomic uint64_t *)&b->word, memory_order_acquire);
}

/* Strong: a single try (closed -> open) must not fail spuriously. */
static bool swap_word(tg_breaker_t *b, uint64_t *seen, uint64_t next)
{
    return atomic_compare_exchange_strong_explicit(&b->word, seen, next, memory_order_acq_rel,
                                                   memory_order_acquire);
}

void tg_breaker_init(tg_breaker_t *b, double now)
{
    atomic_init(&b->word, pack(TG_BREAKER_CLOSED, 0, 0, 0));
    atomic_init(&b->since, now);
}

/* The caller won the swap from `from` into the word `to`: what entering
 * the new state needs. */
static void entered(tg_breaker_t *b, tg_breaker_state_t from, uint64_t to, double now, tg_breaker_change_t *change)
{
    tg_breaker_state_t state = state_of(to);
    atomic_store_explicit(&b->since, now, memory_order_relaxed);
    if (state == TG_BREAKER_OPEN) {
        atomic_fetch_add_explicit(&b->opens, 1, memory_order_relaxed);
        atomic_store_explicit(&b->consecutive, 0, memory_order_relaxed);
    } else if (state == TG_BREAKER_CLOSED) {
        atomic_store_explicit(&b->opens, 0, memory_order_relaxed);
        atomic_store_explicit(&b->consecutive, 0, memory_order_relaxed);
        /* the ratio forgets what came before: the closing slot included */
        atomic_store_explicit(&b->closed_epoch, tg_window_epoch(now, 1), memory_order_relaxed);
    }
    *change = (tg_breaker_change_t){from, state};
}

/* The OPEN word of an open starting at now_ms: the cooldown doubles with
 * each open since the breaker last closed, up to the cap. */
static uint64_t open_word(const tg_breaker_t *b, const tg_breaker_config_t *c, uint64_t now_ms)
{
    unsigned opens = atomic_load_explicit((atomic_uint *)&b->opens, memory_order_relaxed);
    uint64_t cooldown = c->cooldown_ms;
    while (opens-- > 0 && cooldown < c->max_cooldown_ms)
        cooldown *= 2;
    if (cooldown > c->max_cooldown_ms)
        cooldown = c->max_cooldown_ms;
    return pack(TG_BREAKER_OPEN, 0, 0, now_ms + cooldown);
}

/* OPEN whose cooldown is over -> HALF_OPEN; *w is the word seen, and the
 * word now in place afterwards (ours or another thread's). */
static void end_cooldown(tg_breaker_t *b, uint64_t *w, double now, tg_breaker_change_t *change)
{
    uint64_t next = pack(TG_BREAKER_HALF_OPEN, 0, 0, ms_of(now));
    if (swap_word(b, w, next)) {
        entered(b, TG_BREAKER_OPEN, next, now, change);
        *w = next;
    }
}

bool tg_breaker_admit(tg_breaker_t *b, const tg_breaker_config_t *c, double now, tg_breaker_change_t *change)
{
    *change = TG_BREAKER_NO_CHANGE;
    if (!c->enabled)
        return true;
    uint64_t now_ms = ms_of(now);
    if (now_ms < atomic_load_explicit(&b->cool_until_ms, memory_order_relaxed))
        return false;
    uint64_t w = load_word(b);
    for (;;) {
        switch (state_of(w)) {
        case TG_BREAKER_CLOSED:
            return true;
        case TG_BREAKER_OPEN:
            if (now_ms < time_of(w))
                return false;
            end_cooldown(b, &w, now, change);
            break;
        default: {
            uint64_t next;
            if (probes_of(w) < c->half_open_probes)
                next = w + (1u << PROBES_SHIFT);
            else if (now_ms >= time_of(w) + c->cooldown_ms) /* a lost probe: give them back */
                next = pack(TG_BREAKER_HALF_OPEN, 1, successes_of(w), now_ms);
            else
                return false;
            if (swap_word(b, &w, next))
                return true;
            break;
        }
        }
    }
}

bool tg_breaker_admit_probe(tg_breaker_t *b, const tg_breaker_config_t *c, double now, tg_breaker_change_t *change)
{
    *change = TG_BREAKER_NO_CHANGE;
    uint64_t w = load_word(b);
    if (c->enabled && state_of(w) == TG_BREAKER_OPEN &&
        ms_of(now) >= atomic_load_explicit(&b->cool_until_ms, memory_order_relaxed)) {
        uint64_t next = pack(TG_BREAKER_HALF_OPEN, 1, 0, ms_of(now));
        if (swap_word(b, &w, next)) {
            entered(b, TG_BREAKER_OPEN, next, now, change);
            return true;
        }
    }
    /* closed, half-open, or another thread moved it first: the usual rules */
    return tg_breaker_admit(b, c, now, change);
}

bool tg_breaker_usable(const tg_breaker_t *b, const tg_breaker_config_t *c, double now)
{
    if (!c->enabled)
        return true;
    uint64_t now_ms = ms_of(now);
    if (now_ms < atomic_load_explicit((_Atomic uint64_t *)&b->cool_until_ms, memory_order_relaxed))
        return false;
    uint64_t w = load_word(b);
    switch (state_of(w)) {
    case TG_BREAKER_CLOSED:
        return true;
    case TG_BREAKER_OPEN:
        return now_ms >= time_of(w);
    default:
        return probes_of(w) < c->half_open_probes || now_ms >= time_of(w) + c->cooldown_ms;
    }
}

/* A closed breaker's outcome: the triggers. */
static void report_closed(tg_breaker_t *b, const tg_breaker_config_t *c, bool ok, double started, double now,
                          tg_breaker_change_t *change)
{
    uint64_t epoch = tg_window_epoch(now, 1);
    if (c->error_ratio > 0)
        tg_window_record(b->window, TG_BREAKER_SLOTS, epoch, !ok, false);
    if (ok) {
        /* A success ends the run of failures only if its attempt began
         * after the run's latest failure was counted: an answer that was
         * already on its way when the provider broke says nothing about
         * the provider now (it let failures leak past the threshold). A
         * load first: a store on every success would bounce the line
         * between workers. */
        if (atomic_load_explicit(&b->consecutive, memory_order_relaxed) != 0 &&
            started >= atomic_load_explicit(&b->last_failure, memory_order_relaxed))
            atomic_store_explicit(&b->consecutive, 0, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&b->last_failure, now, memory_order_relaxed);
    unsigned failures = atomic_fetch_add_explicit(&b->consecutive, 1, memory_order_relaxed) + 1;
    bool trip = c->failures > 0 && failures >= c->failures;
    uint64_t after = atomic_load_explicit(&b->closed_epoch, memory_order_relaxed);
    if (!trip && c->error_ratio > 0 && epoch > after) {
        uint64_t span = epoch - after < c->window_seconds ? epoch - after : c->window_seconds;
        tg_window_sum_t sum = tg_window_totals(b->window, TG_BREAKER_SLOTS, epoch, (size_t)span);
        trip = sum.total >= c->min_requests && (double)sum.failures >= c->error_ratio * (double)sum.total;
    }
    if (!trip)
        return;
    uint64_t w = pack(TG_BREAKER_CLOSED, 0, 0, 0);
    uint64_t next = open_word(b, c, ms_of(now));
    if (swap_word(b, &w, next)) /* else another failure opened it first */
        entered(b, TG_BREAKER_CLOSED, next, now, change);
}

void tg_breaker_report(tg_breaker_t *b, const tg_breaker_config_t *c, bool ok, double started, double now,
                       tg_breaker_change_t *change)
{
    *change = TG_BREAKER_NO_CHANGE;
    if (!c->enabled)
        return;
    uint64_t w = load_word(b);
    if (state_of(w) == TG_BREAKER_CLOSED) {
        report_closed(b, c, ok, started, now, change);
        return;
    }
    /* OPEN: an attempt from before it opened; nothing to learn */
    while (state_of(w) == TG_BREAKER_HALF_OPEN) {
        uint64_t next;
        if (!ok)
            next = open_word(b, c, ms_of(now)); /* the cooldown restarts from now */
        else if (successes_of(w) + 1 >= c->close_after)
            next = pack(TG_BREAKER_CLOSED, 0, 0, 0);
        else
            next = w + (1u << SUCCESSES_SHIFT);
        if (swap_word(b, &w, next)) {
            if (state_of(next) != TG_BREAKER_HALF_OPEN)
                entered(b, TG_BREAKER_HALF_OPEN, next, now, change);
            return;
        }
    }
}

void tg_breaker_cool_down(tg_breaker_t *b, const tg_breaker_config_t *c, double seconds, double now)
{
    if (!c->enabled || !(seconds > 0))
        return;
    uint64_t ms = seconds * 1000.0 < (double)c->max_cooldown_ms ? ms_of(seconds) : c->max_cooldown_ms;
    uint64_t until = ms_of(now) + ms, seen = atomic_load_explicit(&b->cool_until_ms, memory_order_relaxed);
    /* the latest Retry-After wins; concurrent 429s only ever push it later */
    while (seen < until && !atomic_compare_exchange_weak(&b->cool_until_ms, &seen, until))
        ;
}

tg_breaker_change_t tg_breaker_tick(tg_breaker_t *b, double now, double check_passed_at)
{
    tg_breaker_change_t change = TG_BREAKER_NO_CHANGE;
    uint64_t w = load_word(b);
    /* A provider that answers its health check again gets its probes now
     * rather than after the rest of a cooldown that may have grown long. */
    bool checked_since = check_passed_at > 0 && check_passed_at > tg_breaker_since(b);
    if (state_of(w) == TG_BREAKER_OPEN && (ms_of(now) >= time_of(w) || checked_since))
        end_cooldown(b, &w, now, &change);
    return change;
}

tg_breaker_state_t tg_breaker_state(const tg_breaker_t *b, double now)
{
    uint64_t w = load_word(b);
    if (state_of(w) == TG_BREAKER_OPEN && ms_of(now) >= time_of(w))
        return TG_BREAKER_HALF_OPEN;
    return state_of(w);
}

double tg_breaker_since(const tg_breaker_t *b)
{
    return atomic_load_explicit((_Atomic double *)&b->since, memory_order_relaxed);
}

double tg_breaker_next_try(const tg_breaker_t *b, const tg_breaker_config_t *c, double now)
{
    if (!c->enabled)
        return now;
    double at = now;
    uint64_t w = load_word(b);
    if (state_of(w) == TG_BREAKER_OPEN)
        at = fmax(at, (double)time_of(w) / 1000.0);
    else if (state_of(w) == TG_BREAKER_HALF_OPEN && probes_of(w) >= c->half_open_probes)
        at = fmax(now, fmin(now + 1.0, (double)(time_of(w) + c->cooldown_ms) / 1000.0));
    uint64_t cool = atomic_load_explicit((_Atomic uint64_t *)&b->cool_until_ms, memory_order_relaxed);
    return fmax(at, (double)cool / 1000.0);
}

double tg_breaker_cooldown_left(const tg_breaker_t *b, double now)
{
    uint64_t w = load_word(b);
    return state_of(w) == TG_BREAKER_OPEN ? fmax(0.0, (double)time_of(w) / 1000.0 - now) : 0.0;
}
