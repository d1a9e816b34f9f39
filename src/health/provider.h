/*
 * provider.h - health/ owns the state of every upstream provider: its
 * rolling window of attempts, its healthy verdict, its circuit breaker
 * state and its last error.
 *
 * Two objects:
 *   tg_health_t       the registry, one per process (the server owns it).
 *                     It keeps each provider's state by name for the life
 *                     of the process, so the state survives a reload that
 *                     keeps the name.
 *   tg_health_view_t  the providers of one config snapshot, indexed like
 *                     cfg->providers: how a request (routing, the upstream
 *                     call), the metric collectors and /health reach the
 *                     state. Made by tg_health_bind() once per distinct list
 *                     of provider names (a reload that keeps them gets the
 *                     same view) and owned by the registry until
 *                     tg_health_free(), so no reader races a reload.
 *
 * Who writes what: the workers report each upstream attempt (the window,
 * the last error, the circuit breaker (health/breaker.h) and the anomaly
 * counters); the housekeeping tick reports the active health checks, runs
 * the anomaly detector, gives the healthy verdict (tg_health_evaluate) and
 * moves open breakers whose cooldown is over to half-open
 * (tg_health_breakers_tick). Every reader only loads atomics. Nothing here
 * takes a lock or allocates but tg_health_bind() and tg_health_free(), and
 * every function taking a view ignores a NULL view or an out-of-range
 * index.
 *
 * A breaker's settings are the provider's in the caller's config snapshot
 * (its `breaker` section), passed in with each call: the state outlives a
 * reload, the settings are the request's. Each breaker transition is
 * counted (tg_health_breaker_transitions) and logged as one line (logger
 * "health") by the thread that made it.
 */
#ifndef TOLLGATE_HEALTH_PROVIDER_H
#define TOLLGATE_HEALTH_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/clock.h"
#include "core/words.h"
#include "health/breaker.h"
#include "health/anomaly.h"
#include "health/peak_ewma.h"
#include "health/score.h"
#include "health/window.h"

typedef struct tg_health tg_health_t;
typedef struct tg_health_view tg_health_view_t;

/* ----------------------------------------------------------- lifecycle */

tg_health_t *tg_health_new(void);  /* NULL on ENOMEM */
void tg_health_free(tg_health_t *health);

/* The view of cfg's providers, made or found again (by the names, in
 * order). A provider seen for the first time starts healthy, its breaker
 * closed, its window empty. NULL on ENOMEM. */
const tg_health_view_t *tg_health_bind(tg_health_t *health, const tg_config_t *cfg);

size_t tg_health_provider_count(const tg_health_view_t *v);

/* ------------------------------------------------------------ hot path */

/* One upstream attempt of provider i: ok = the provider answered usably,
 * else `reason` says how it failed and becomes its last error. `seconds`
 * is the attempt's duration (the latency score's, the peak EWMA's and
 * the anomaly detector's input). Lock-free: a few atomic adds on the provider's
 * current window slot and its anomaly counters. */
void tg_health_report_attempt(const tg_health_view_t *v, size_t provider, bool ok,
                              tg_retry_reason_t reason, double seconds);

/* Whether an attempt may go to provider i now, by its circuit breaker
 * (tg_breaker_admit: takes a half-open probe). The upstream call asks
 * before each attempt. With `probe`, for a request that is to be the probe
 * because every route of its model is open (`when_all_open: probe`), an
 * open breaker's cooldown is cut short (tg_breaker_admit_probe). */
bool tg_health_admit(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, bool probe,
                     double now);

/* What tg_health_admit would say, taking nothing: the route stage's
 * filter. */
bool tg_health_usable(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double now);

/* The breaker's side of an attempt's outcome (after
 * tg_health_report_attempt): ok, or a failure of `reason`; a 429 is
 * neither (see tg_health_cool_down). `started`: when the attempt began
 * (tg_breaker_report). */
void tg_health_breaker_report(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, bool ok,
                              tg_retry_reason_t reason, double started, double now);

/* A 429's Retry-After: provider i is skipped for `seconds`. */
void tg_health_cool_down(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double seconds,
                         double now);

/* When provider i may next be tried (tg_breaker_next_try); `now` for an
 * unknown one. */
double tg_health_next_try(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double now);

/* ------------------------------------------------------ a route's breakers */

/* A route with its own breaker (config: a route's `breaker`; route->breaker
 * indexes cfg->model_breakers) is guarded by two: its provider's and the
 * one of its (provider, upstream model), which every route to that pair
 * shares and which the registry keeps by the two names, so a reload that
 * keeps them keeps its state. A route without one has only its
 * provider's, and these calls are the provider-level ones above. cfg is
 * the snapshot v was bound for. */

/* Whether an attempt may go to the route now: its provider's breaker must
 * be usable (read only: a model-level probe takes no provider probe) and
 * its own must admit (taking the half-open probe). probe: the request is
 * the probe of an open route (tg_health_admit with probe) - of the provider's
 * breaker when that is the one in the way, else of the route's own. */
bool tg_health_route_admit(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                           bool probe, double now);

/* What tg_health_route_admit would say, taking nothing. */
bool tg_health_route_usable(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                            double now);

/* An attempt's outcome for the route's breakers: a success and a connect
 * failure go to both (a refused connection is the provider's), any other
 * failure (reset, timeout, 5xx, bad response) to the route's own only, so
 * that one broken upstream model does not open the provider's. A 429 goes
 * to neither (tg_health_cool_down). */
void tg_health_route_breaker_report(const tg_health_view_t *v, const tg_config_t *cfg,
                                    const tg_route_config_t *route, bool ok, tg_retry_reason_t reason, double started,
                                    double now);

/* When the route may next be tried: the later of its breakers'. */
double tg_health_route_next_try(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                                double now);

/* ------------------------------------------------ active health checks */

/* The housekeeping tick checks each provider whose checks are on (config
 * health_check) once an interval; docs/gateway-behaviour.md, "Provider
 * health". The schedule lives here, by name, so a reload keeps it. */

/* Whether provider i's check is due at `now`; if so, the next one is due
 * `interval` seconds after now, so that it runs at most once an interval.
 * A provider's first call (or the first after tg_health_check_off) only
 * schedules it: its first check comes one interval after the tick first
 * sees it. The tick's thread only. */
bool tg_health_check_due(const tg_health_view_t *v, size_t provider, double now, double interval);

/* The result of a check of provider i that took `seconds`: ok, or failed
 * for `reason` (its last error). It counts in the window as an attempt
 * (so availability and error rate see it), and a failed check makes the
 * provider unhealthy at the next evaluation until a check passes. Returns
 * whether the check's result differs from the previous check's. */
bool tg_health_report_check(const tg_health_view_t *v, size_t provider, bool ok, tg_retry_reason_t reason,
                            double seconds, double now);

/* Provider i's checks are off: its check result and schedule are
 * forgotten, so a failed check no longer holds it unhealthy. */
void tg_health_check_off(const tg_health_view_t *v, size_t provider);

/* When a check of provider i last passed (`now` of tg_health_report_check;
 * 0: never). The circuit breaker's hook: an open breaker whose provider
 * passed a check after the breaker opened may go half-open at once,
 * without waiting out its cooldown. */
double tg_health_check_passed_at(const tg_health_view_t *v, size_t provider);

/* ---------------------------------------------------- anomaly detection */

/* Told of each anomaly found: the provider's name and the numbers. */
typedef void (*tg_health_anomaly_fn)(void *ctx, const char *provider, const tg_anomaly_t *anomaly);

/* Runs the anomaly detector (health/anomaly.h) at `now` over each provider
 * of view v with cfg's thresholds, and calls `found` for each anomaly.
 * Only the providers of the current configuration are judged: one that a
 * reload removed does not look like a traffic drop. The tick's thread
 * only. */
void tg_health_detect_anomalies(const tg_health_view_t *v, const tg_anomaly_config_t *cfg, double now,
                                tg_health_anomaly_fn found, void *ctx);

/* -------------------------------------------------------------- readers */

/* A provider's state, as /health and the metrics report it. */
typedef struct tg_provider_status {
    const char *name;
    bool healthy;               /* the last verdict; true before the first */
    tg_breaker_state_t breaker;
    double breaker_since;       /* tg_clock_seconds() seconds, when it entered that state */
    double next_probe_at;       /* open: when its cooldown ends (tg_clock_seconds()); else 0 */
    const char *last_error;     /* static reason name; NULL if none yet */
    double last_error_at;       /* tg_clock_seconds() seconds, when last_error */
} tg_provider_status_t;

/* Fills *out for provider i; -1 if out of range. */
int tg_health_provider_status(const tg_health_view_t *v, size_t provider, tg_provider_status_t *out);

/* Provider i's ratios over its 5-minute window as of `now` (tg_clock_seconds()
 * seconds): availability, error rate, latency score (health/score.h).
 * Those of a provider with no traffic when out of range. */
tg_health_ratios_t tg_health_provider_ratios(const tg_health_view_t *v, size_t provider, double now);

/* Provider i's peak EWMA of attempt latency at `now` (health/peak_ewma.h):
 * seconds, 0 when never measured or out of range. Every attempt counts,
 * but a failed one only when it raises the value. */
double tg_health_peak_latency(const tg_health_view_t *v, size_t provider, double now);

/* The (provider, upstream model) breakers of the view, indexed like
 * cfg->model_breakers. */
size_t tg_health_model_breaker_count(const tg_health_view_t *v);

typedef struct tg_model_breaker_status {
    const char *provider;
    const char *upstream_model;
    tg_breaker_state_t breaker;
    double breaker_since;       /* tg_clock_seconds() seconds */
    double next_probe_at;       /* open: when its cooldown ends; else 0 */
} tg_model_breaker_status_t;

/* 0, or -1 when i is out of range. */
int tg_health_model_breaker_status(const tg_health_view_t *v, size_t i, tg_model_breaker_status_t *out);

/* How many times model breaker i went from `from` to `to`. */
uint64_t tg_health_model_breaker_transitions(const tg_health_view_t *v, size_t i, tg_breaker_state_t from,
                                             tg_breaker_state_t to);

/* How many times provider i's breaker went from `from` to `to`. */
uint64_t tg_health_breaker_transitions(const tg_health_view_t *v, size_t provider, tg_breaker_state_t from,
                                       tg_breaker_state_t to);

/* ---------------------------------------------------------- evaluation */

/* Told of each provider whose verdict changed: its name, the new verdict
 * and the last minute's sums it was given on. */
typedef void (*tg_health_change_fn)(void *ctx, const char *provider, bool healthy,
                                    const tg_window_sum_t *last_minute);

/* Gives every provider ever bound its healthy verdict (tg_health_verdict)
 * on the last minute of its window as of `now`, unhealthy too while its
 * last health check failed, and calls `changed` (when
 * not NULL) for each one whose verdict changed. Reads the windows with
 * atomic loads while workers record; call from one thread at a time (the
 * housekeeping tick). */
void tg_health_evaluate(tg_health_t *health, double now, tg_health_change_fn changed, void *ctx);

/* Moves every open breaker (providers' and (provider, upstream model)
 * ones) whose cooldown is over to half-open (logged and counted), so that
 * its state shows without traffic. From one thread at a
 * time (the housekeeping tick). */
void tg_health_breakers_tick(tg_health_t *health, double now);

#endif /* TOLLGATE_HEALTH_PROVIDER_H */
