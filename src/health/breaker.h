/*
 * breaker.h - one provider's circuit breaker (or one (provider, upstream
 * model)'s, for routes with their own: health/provider.h): whether an
 * upstream attempt may go to the provider now, driven by the outcomes of
 * the attempts that did (docs/gateway-behaviour.md, "Circuit breakers").
 *
 * The state moves only so (c = the provider's tg_breaker_config_t):
 *
 *   from       event                                           to
 *   CLOSED     c->failures failures in a row, or a failed
 *              share >= c->error_ratio of at least
 *              c->min_requests attempts in the last
 *              c->window_seconds                               OPEN (cooldown starts now)
 *   OPEN       the cooldown is over (read lazily by admit,
 *              usable and next_try, or by the tick)            HALF_OPEN (no probe taken)
 *   OPEN       an active health check passed after it opened
 *              (seen by the tick)                              HALF_OPEN (no probe taken)
 *   OPEN       a request is to be the probe (admit_probe: every
 *              route of its model open, `when_all_open: probe`)  HALF_OPEN (its probe taken)
 *   HALF_OPEN  an attempt is admitted while fewer than
 *              c->half_open_probes were this period            HALF_OPEN (one more probe)
 *   HALF_OPEN  every probe taken, none decided, for a
 *              cooldown: a probe was lost (a client left)      HALF_OPEN (probes given back)
 *   HALF_OPEN  c->close_after successes                        CLOSED
 *   HALF_OPEN  a failure                                       OPEN (cooldown restarts now)
 *
 * The cooldown of an open period is c->cooldown_ms, doubled for each open
 * since the breaker last closed, at most c->max_cooldown_ms. Failures are
 * the provider's: connect, reset, timeout, 5xx, bad response. A 429 is not
 * a failure: it only cools the provider down for its Retry-After (any
 * state: the provider is skipped until then). Any other answer, a 4xx
 * included, is a success: the provider answered; in CLOSED it ends the run
 * of failures only if its attempt began after the run's latest failure was
 * counted (`started`), so answers already on their way when the provider
 * broke do not let failures leak past c->failures. An outcome reported while
 * OPEN (an attempt that started before the breaker opened) changes nothing.
 *
 * Concurrency: workers admit and report at once, without a lock. The
 * state, the probes taken and the successes of the half-open period and
 * the time that matters in the state (OPEN: when the cooldown ends;
 * HALF_OPEN: when the period began) are one 64-bit word changed only by
 * compare-and-swap, so exactly one thread makes each transition (and is
 * told so, to log and count it) and N concurrent requests take at most
 * c->half_open_probes probes. A closed breaker costs an attempt two atomic
 * loads to admit and, to report, the ratio window's adds and a load.
 *
 * Every function takes `now` (tg_clock_seconds() seconds) rather than
 * reading the clock, so that tests drive time. Times are kept in
 * milliseconds.
 */
#ifndef TOLLGATE_HEALTH_BREAKER_H
#define TOLLGATE_HEALTH_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core/words.h"
#include "health/window.h"

/* The error-ratio window: 1 s slots, up to a minute (window_seconds). */
#define TG_BREAKER_SLOTS 60
/* Probes and successes of a half-open period are counted in 8 bits. */
#define TG_BREAKER_MAX_PROBES 255

typedef struct tg_breaker {
    _Atomic uint64_t word;             /* state, probes, successes, time: see breaker.c */
    atomic_uint consecutive;           /* CLOSED: failures in a row */
    atomic_uint opens;                 /* opens since it last closed: the cooldown's exponent */
    _Atomic uint64_t cool_until_ms;    /* a 429's Retry-After: not before this */
    _Atomic uint64_t closed_epoch;     /* the ratio counts the window's slots after this one */
    _Atomic double since;              /* when the current state began */
    _Atomic double last_failure;       /* CLOSED: when the run's latest failure was counted */
    tg_window_slot_t window[TG_BREAKER_SLOTS]; /* attempts and failures, for the ratio */
} tg_breaker_t;

/* A transition one call made: from != to when it made one. */
typedef struct tg_breaker_change {
    tg_breaker_state_t from, to;
} tg_breaker_change_t;

#define TG_BREAKER_NO_CHANGE ((tg_breaker_change_t){TG_BREAKER_CLOSED, TG_BREAKER_CLOSED})

/* A closed breaker, as of now. */
void tg_breaker_init(tg_breaker_t *b, double now);

/* Whether an attempt may go to the provider now. In HALF_OPEN it takes one
 * of the period's probes (false when none is left). Moves an OPEN breaker
 * whose cooldown is over to HALF_OPEN first. A disabled breaker admits
 * everything. *change is set to what this call did. */
bool tg_breaker_admit(tg_breaker_t *b, const tg_breaker_config_t *c, double now, tg_breaker_change_t *change);

/* Admit for a request that is to be the probe when every route is open
 * (a model's `when_all_open: probe`): an OPEN breaker goes HALF_OPEN now,
 * its cooldown cut short, and this attempt is its first probe; otherwise
 * as tg_breaker_admit (so concurrent requests still take at most
 * c->half_open_probes probes). A 429's Retry-After still holds. */
bool tg_breaker_admit_probe(tg_breaker_t *b, const tg_breaker_config_t *c, double now, tg_breaker_change_t *change);

/* What admit would say, without taking a probe or changing anything. */
bool tg_breaker_usable(const tg_breaker_t *b, const tg_breaker_config_t *c, double now);

/* The outcome of an attempt that admit let through: ok = the provider
 * answered (any status but 5xx and 429), else it failed (connect, reset,
 * timeout, 5xx, bad response). */
void tg_breaker_report(tg_breaker_t *b, const tg_breaker_config_t *c, bool ok, double started, double now,
                       tg_breaker_change_t *change);

/* A 429 with Retry-After: skip the provider for `seconds` (at most
 * c->max_cooldown_ms). Not a failure. */
void tg_breaker_cool_down(tg_breaker_t *b, const tg_breaker_config_t *c, double seconds, double now);

/* The tick's transition (OPEN -> HALF_OPEN when the cooldown is over, or
 * early when an active health check passed after the breaker opened:
 * check_passed_at, 0 for never), for the housekeeping tick, so that the
 * state moves without traffic. */
tg_breaker_change_t tg_breaker_tick(tg_breaker_t *b, double now, double check_passed_at);

/* The breaker's state as of now (an OPEN one whose cooldown is over reads
 * HALF_OPEN). */
tg_breaker_state_t tg_breaker_state(const tg_breaker_t *b, double now);

/* When the state began (tg_clock_seconds() seconds). */
double tg_breaker_since(const tg_breaker_t *b);

/* The earliest time an attempt may go to the provider: `now` when it may
 * now; else the end of its cooldown (open, or a 429's). A half-open
 * breaker whose probes are all out says at most now + 1 s: a probe is
 * decided within its attempt's time. */
double tg_breaker_next_try(const tg_breaker_t *b, const tg_breaker_config_t *c, double now);

/* Seconds left of the open state's cooldown (0 unless OPEN). */
double tg_breaker_cooldown_left(const tg_breaker_t *b, double now);

#endif /* TOLLGATE_HEALTH_BREAKER_H */
