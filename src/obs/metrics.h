/*
 * metrics.h - the tollgate metric catalog (DESIGN.md) on a tally registry.
 *
 * Two objects:
 *   tg_obs       the registry with every catalog family registered under the
 *                config's namespace, the process collector, build_info and
 *                the scrape-time collectors (uptime, provider health ratios,
 *                model uptime and token efficiency). One per process; its
 *                namespace is fixed at creation (a namespace change in a
 *                reloaded config needs a restart).
 *   obs_view     the child handles pre-bound for one config snapshot: every
 *                configured provider, model and route, indexed by the same
 *                indices as tg_config. Recording is plain array indexing:
 *                no hashing, no lock, no allocation. Made by obs_bind()
 *                once per distinct set of provider names, model names and
 *                prices (a reload that keeps them reuses the view); owned
 *                by tg_obs and freed with it (so a scrape never races a
 *                reload; a view is a few KB).
 *
 * Per-provider health windows and per-model uptime counters are kept by
 * name inside tg_obs, so they survive a reload that keeps the name.
 *
 * All record functions are safe from any thread and ignore out-of-range
 * indices (they never abort).
 */
#ifndef TG_OBS_METRICS_H
#define TG_OBS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "core/words.h"  /* the label enums every record call takes */
#include "tally.h"

typedef struct tg_obs tg_obs;
typedef struct obs_view obs_view;

/* provider_circuit_breaker_state values (and the stateset's states). */
typedef enum obs_breaker_state {
    OBS_BREAKER_CLOSED = 0,
    OBS_BREAKER_OPEN = 1,
    OBS_BREAKER_HALF_OPEN = 2
} obs_breaker_state;

/* ----------------------------------------------------------- lifecycle */

typedef struct tg_obs_opts {
    const char *metric_namespace;  /* "" = bare names; NULL = "tollgate" */
    const char *version;           /* build_info{version} */
    const char *revision;          /* build_info{revision}; NULL = "unknown" */
} tg_obs_opts;

/* Creates the registry and registers the whole catalog. NULL on failure,
 * with a malloc'd reason in *err_text (caller frees) when not NULL. */
tg_obs *tg_obs_new(const tg_obs_opts *opts, char **err_text);
void    tg_obs_free(tg_obs *obs);

/* The registry, for rendering (endpoints.h) and tests. */
tally_registry *tg_obs_registry(tg_obs *obs);

/* Pre-binds every child for this config snapshot and makes the view the one
 * /health and the scrape-time collectors report on. Call once per loaded
 * snapshot (at start and after each successful reload). A view bound
 * before to the same provider names, model names (in order) and prices is
 * returned again, with the children of any new route added. The returned
 * view is owned by obs; it stays valid until tg_obs_free(). NULL on
 * allocation failure (the previous view stays current). */
const obs_view *obs_bind(tg_obs *obs, const tg_config *cfg);

/* The view most recently bound (NULL before the first obs_bind). */
const obs_view *obs_current_view(tg_obs *obs);

/* Seconds since tg_obs_new (monotonic clock). */
double obs_uptime_seconds(const tg_obs *obs);

/* -------------------------------------------------------- request path */

/* One finished HTTP request: http_requests_total{method,path,status} and
 * http_request_duration_seconds{method,path} (with a trace_id exemplar when
 * trace_id is not NULL). */
void obs_record_http(const obs_view *v, tg_route_t route, tg_method_t method,
                     int status, double seconds, const char *trace_id);

/* http_requests_in_progress{method,path}: +1 at request start, -1 at end. */
void obs_http_in_progress(const obs_view *v, tg_route_t route, tg_method_t method,
                          int delta);

/* One LLM call as the client saw it (after retries and fallback): the
 * provider that answered (or the last tried) and the configured model. */
typedef struct obs_llm_result {
    size_t provider;            /* index into cfg->providers */
    long model;                 /* index into cfg->models; -1 = "other" */
    tg_operation_t operation;
    tg_stream_mode_t stream_mode;
    tg_llm_status_t status;
    double duration_seconds;    /* request arrival to last byte */
    double ttft_seconds;        /* streamed: arrival to first content chunk; < 0 = none */
    uint64_t prompt_tokens;     /* all prompt tokens, cached included */
    uint64_t completion_tokens;
    uint64_t cached_prompt_tokens;
    uint64_t reasoning_tokens;
    double cost_dollars;        /* < 0 = compute from the model's pricing */
    const char *trace_id;       /* 32 hex, for exemplars; NULL = none */
} obs_llm_result;

/* llm_requests_total, llm_request_duration_seconds, llm_ttft_seconds,
 * llm_tokens_total{type}, llm_cost_dollars, and the model's 24 h uptime
 * window (success vs. error/timeout/rate_limited; client_disconnect counts
 * as neither). */
void obs_record_llm(const obs_view *v, const obs_llm_result *r);

/* One upstream attempt (every try, including retries): feeds the provider's
 * 5-minute health window (availability, error rate, latency) and
 * provider_response_time_seconds. ok = the provider answered usably. On
 * failure, `reason` becomes the provider's last_error in /health. */
void obs_record_attempt(const obs_view *v, size_t provider, bool ok,
                        tg_retry_reason_t reason, double seconds);

/* llm_retries_total{provider,reason}. */
void obs_record_retry(const obs_view *v, size_t provider, tg_retry_reason_t reason);

/* llm_fallbacks_total{from,to}. */
void obs_record_fallback(const obs_view *v, size_t from_provider, size_t to_provider);

/* api_errors_total{error_type,error_code,path}. */
void obs_record_error(const obs_view *v, tg_error_type_t type, tg_error_code_t code,
                      tg_route_t route);

/* provider_health_status (1 healthy / 0 not) and the circuit breaker gauge +
 * stateset. Until circuit breakers exist, providers stay healthy/closed. */
void obs_set_provider_health(const obs_view *v, size_t provider, bool healthy);
void obs_set_breaker_state(const obs_view *v, size_t provider, obs_breaker_state state);

/* ------------------------------------------------------------- /health */

/* A provider's state as /health reports it. */
typedef struct obs_provider_status {
    const char *name;
    bool healthy;
    obs_breaker_state breaker;
    double availability;        /* 5-minute window; 1 with no traffic */
    double error_rate;          /* 5-minute window; 0 with no traffic */
    double latency_score;       /* see docs/metrics.md */
    double health_score;        /* 0.4*availability + 0.3*(1-error_rate) + 0.3*latency_score */
    const char *last_error;     /* static reason name, NULL if none yet */
    double last_error_age_seconds; /* < 0 if none */
} obs_provider_status;

size_t obs_view_provider_count(const obs_view *v);
/* Fills *out for provider i of the view; -1 if out of range. */
int obs_provider_status_get(const obs_view *v, size_t i, obs_provider_status *out);

#endif /* TG_OBS_METRICS_H */
