/*
 * endpoints.h - bodies of the observability endpoints, independent of HTTP.
 *
 * The server (src/server/) classifies the path with tg_route_from_path(),
 * calls one of these with the request's header values, and sends
 * status + content_type + content_encoding + body as given. Each call
 * allocates the body (a scrape is not a hot path); tg_obs_response_free()
 * releases it.
 *
 *   GET /metrics, /analytics/prometheus      tg_obs_endpoint_metrics(category NULL)
 *   GET /prometheus/metrics/{category}       tg_obs_endpoint_metrics(category)
 *   GET /prometheus/metrics/docs             tg_obs_endpoint_metrics("docs")
 *   GET /prometheus/metrics/summary          tg_obs_endpoint_metrics("summary"), or
 *                                            tg_obs_endpoint_summary(?category=), or
 *                                            tg_obs_endpoint_summary_series(&series=true)
 *   GET /dashboard                           tg_obs_dashboard_html (the status page)
 *   GET /health                              tg_obs_endpoint_health
 *   GET /ready                               tg_obs_endpoint_ready
 */
#ifndef TOLLGATE_OBS_ENDPOINTS_H
#define TOLLGATE_OBS_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>

#include "obs/metrics.h"

typedef struct tg_obs_response {
    int status;                   /* 200, 401, 404, 500, 503 */
    const char *content_type;     /* static string */
    const char *content_encoding; /* "gzip" or NULL */
    char *body;                   /* malloc'd, body_len bytes; may be NULL if 0 */
    size_t body_len;
} tg_obs_response_t;

/* Renders the registry. category: NULL or "all" for everything, else one of
 * system, providers, models, business, performance; "docs" gives Markdown
 * generated from the live registry (every family with its type, category,
 * labels, help and an example PromQL query); anything else gives a 404 with
 * an OpenAI-style error JSON naming the valid categories. accept
 * and accept_encoding are the request's header values (NULL if absent): text
 * 0.0.4 or OpenMetrics by Accept, gzip by Accept-Encoding. Returns 0, or -1
 * on allocation failure (out->status is then 500 with a static body). */
int tg_obs_endpoint_metrics(tg_obs_t *obs, const char *category, const char *accept,
                         const char *accept_encoding, tg_obs_response_t *out);

/* /prometheus/metrics/summary[?category=C]: JSON statistics per family of
 * the category (NULL or "all" = every family):
 * {"category":..,"uptime_seconds":..,"families":[{"name","type","series",
 *  "total"} for counters and gauges, {"name","type","series","count","sum",
 *  "mean"} for histograms and summaries]}. Unknown category: 404 as above.
 * tg_obs_endpoint_metrics(obs, "summary", ...) answers with the whole registry. */
int tg_obs_endpoint_summary(tg_obs_t *obs, const char *category, tg_obs_response_t *out);

/* /prometheus/metrics/summary?series=true (the status page's source): the
 * summary above, each family also with "samples": one object per series,
 * {"labels":{..}} and "value" (counters, gauges: a stateset's series per
 * state), or "count", "sum" and "buckets" {"<le>": cumulative count}
 * (histograms) or "quantiles" {"<q>": value} (summaries). */
int tg_obs_endpoint_summary_series(tg_obs_t *obs, const char *category, tg_obs_response_t *out);

/* /health: {"status":"ok","version":"...","uptime_seconds":N,
 * "providers":[{"name":..,"state":"healthy"|"degraded"|"unhealthy",
 * "circuit_breaker":"closed"|"open"|"half_open",
 * "circuit_breaker_age_seconds":N (in that state for),
 * "next_probe_in_seconds":null|N (open: until its cooldown ends),"health_score":..,
 * "availability":..,"error_rate":..,"last_error":null|"...",
 * "last_error_age_seconds":null|N,
 * "model_breakers":[{"upstream_model":..,"circuit_breaker":..,
 * "circuit_breaker_age_seconds":N,"next_probe_in_seconds":null|N}] (the
 * breakers of routes to this provider with their own, one per upstream
 * model)}]}.
 * The providers are the current view's, their state health/'s: a provider
 * is "unhealthy" when its last verdict says so (tg_health_evaluate), else
 * "degraded" when its 5-minute health score is below 0.7. status is "ok"
 * when every provider is healthy, "unhealthy" when all are, else
 * "degraded" (HTTP 200 whatever it says: the process is alive). */
int tg_obs_endpoint_health(tg_obs_t *obs, const char *version, tg_obs_response_t *out);

/* /ready: 200 {"status":"ready"} once a config view is bound and `accepting`
 * is true, else 503 {"status":"not_ready"}. */
int tg_obs_endpoint_ready(tg_obs_t *obs, bool accepting, tg_obs_response_t *out);

/* The metrics bearer token check: true when cfg has no metrics.bearer_token
 * or `authorization` is exactly "Bearer <token>" (constant-time compare).
 * When false, send tg_obs_endpoint_unauthorized(). */
bool tg_obs_metrics_authorized(const tg_config_t *cfg, const char *authorization);
int  tg_obs_endpoint_unauthorized(tg_obs_response_t *out);

void tg_obs_response_free(tg_obs_response_t *out);

#endif /* TOLLGATE_OBS_ENDPOINTS_H */
