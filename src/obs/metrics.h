/*
 * metrics.h - the tollgate metric catalog (DESIGN.md) on a tally registry.
 *
 * Two objects:
 *   tg_obs_t       the registry with every catalog family registered under the
 *                config's namespace, the process collector, build_info and
 *                the scrape-time collectors (uptime, provider health ratios,
 *                model uptime and token efficiency). One per process; its
 *                namespace is fixed at creation (a namespace change in a
 *                reloaded config needs a restart).
 *   tg_obs_view_t     the child handles pre-bound for one config snapshot: every
 *                configured provider, model and route, indexed by the same
 *                indices as tg_config_t. Recording is plain array indexing:
 *                no hashing, no lock, no allocation. Made by tg_obs_bind()
 *                once per distinct set of provider names, model names and
 *                prices (and, with metrics.genai, routes and provider
 *                types: the GenAI labels; a reload that keeps them reuses
 *                the view); owned
 *                by tg_obs_t and freed with it (so a scrape never races a
 *                reload; a view is a few KB).
 *
 * Provider state (windows, healthy verdict, breaker, last error) is
 * health/'s (health/provider.h): a view reads it through the snapshot's
 * health view, at scrape time. Per-model uptime counters are kept by name
 * inside tg_obs_t, so they survive a reload that keeps the name.
 *
 * All record functions are safe from any thread and ignore out-of-range
 * indices (they never abort).
 */
#ifndef TOLLGATE_OBS_METRICS_H
#define TOLLGATE_OBS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/words.h"  /* the label enums every record call takes */
#include "health/provider.h"
#include "store/store.h"
#include "tally.h"

typedef struct tg_obs tg_obs_t;
typedef struct tg_obs_view tg_obs_view_t;

/* ----------------------------------------------------------- lifecycle */

typedef struct tg_obs_opts {
    const char *metric_namespace;  /* "" = bare names; NULL = "tollgate" */
    const char *version;           /* build_info{version} */
    const char *revision;          /* build_info{revision}; NULL = "unknown" */
    size_t max_org_series;         /* series per-org families may have (limits.max_org_series); 0 = 1000 */
} tg_obs_opts_t;

/* Creates the registry and registers the whole catalog. NULL on failure,
 * with a malloc'd reason in *err_text (caller frees) when not NULL. */
tg_obs_t *tg_obs_new(const tg_obs_opts_t *opts, char **err_text);
void    tg_obs_free(tg_obs_t *obs);

/* The registry, for rendering (endpoints.h) and tests. */
tally_registry *tg_obs_registry(tg_obs_t *obs);

/* Pre-binds every child for this config snapshot and makes the view the one
 * /health and the scrape-time collectors report on; `health` is the
 * snapshot's health view (tg_health_bind of the same cfg), whose provider
 * state they read. Call once per loaded snapshot (at start and after each
 * successful reload). A view bound before to the same provider names,
 * model names (in order), prices and metrics.genai (with it on, routes and
 * provider types) is returned again, with the children
 * of any new route added. The returned view is owned by obs; it stays
 * valid until tg_obs_free(). NULL on allocation failure (the previous view
 * stays current). */
const tg_obs_view_t *tg_obs_bind(tg_obs_t *obs, const tg_config_t *cfg, const tg_health_view_t *health);

/* The view most recently bound (NULL before the first tg_obs_bind). */
const tg_obs_view_t *tg_obs_current_view(tg_obs_t *obs);

/* The health view v was bound with (NULL for a NULL v): its providers are
 * v's, in the same order. */
const tg_health_view_t *tg_obs_view_health(const tg_obs_view_t *v);

/* Seconds since tg_obs_new (monotonic clock). */
double tg_obs_uptime_seconds(const tg_obs_t *obs);

/* -------------------------------------------------------- request path */

/* One finished HTTP request: http_requests_total{method,path,status} and
 * http_request_duration_seconds{method,path} (with a trace_id exemplar when
 * trace_id is not NULL). */
void tg_obs_record_http(const tg_obs_view_t *v, tg_route_t route, tg_method_t method,
                     int status, double seconds, const char *trace_id);

/* http_requests_in_progress{method,path}: +1 at request start, -1 at end. */
void tg_obs_http_in_progress(const tg_obs_view_t *v, tg_route_t route, tg_method_t method,
                          int delta);

/* One LLM call as the client saw it (after retries and fallback): the
 * provider that answered (or the last tried) and the configured model. */
typedef struct tg_obs_llm_result {
    size_t provider;            /* index into cfg->providers */
    long model;                 /* index into cfg->models; -1 = "other" */
    long route;                 /* index into that model's routes of the one that answered
                                   (or was tried last): the GenAI labels; -1 = unknown */
    tg_operation_t operation;
    tg_stream_mode_t stream_mode;
    tg_llm_status_t status;
    double duration_seconds;    /* request arrival to last byte */
    double ttft_seconds;        /* streamed: arrival to first content chunk; < 0 = none */
    uint64_t prompt_tokens;     /* all prompt tokens, cached included */
    uint64_t completion_tokens;
    uint64_t cached_prompt_tokens;
    uint64_t reasoning_tokens;
    uint64_t cache_write_tokens;  /* part of prompt_tokens: written to the provider's prompt cache */
    double cost_dollars;        /* < 0 = compute from the model's pricing */
    const char *trace_id;       /* 32 hex, for exemplars; NULL = none */
} tg_obs_llm_result_t;

/* llm_requests_total, llm_request_duration_seconds, llm_ttft_seconds,
 * llm_tokens_total{type}, llm_cost_dollars, and the model's 24 h uptime
 * window (success vs. error/timeout/rate_limited; client_disconnect counts
 * as neither); with metrics.genai, the OpenTelemetry GenAI families
 * gen_ai_client_token_usage, gen_ai_client_operation_duration_seconds and
 * gen_ai_server_time_to_first_token_seconds too (a configured model's
 * call, on a known route). */
void tg_obs_record_llm(const tg_obs_view_t *v, const tg_obs_llm_result_t *r);

/* One upstream attempt (every try, including retries):
 * provider_response_time_seconds. Its outcome is health/'s
 * (tg_health_report_attempt). */
void tg_obs_record_attempt(const tg_obs_view_t *v, size_t provider, double seconds);

/* llm_retries_total{provider,reason}. */
void tg_obs_record_retry(const tg_obs_view_t *v, size_t provider, tg_retry_reason_t reason);

/* llm_fallbacks_total{from,to}. */
void tg_obs_record_fallback(const tg_obs_view_t *v, size_t from_provider, size_t to_provider);

/* provider_circuit_breaker_rejected_requests_total{model}: a request for
 * configured model `model` answered 503 at once, every route's breaker
 * open. */
void tg_obs_record_unroutable(const tg_obs_view_t *v, long model);

/* api_errors_total{error_type,error_code,path}. */
void tg_obs_record_error(const tg_obs_view_t *v, tg_error_type_t type, tg_error_code_t code,
                      tg_route_t route);

/* provider_health_status, provider_circuit_breaker_state and the
 * provider_circuit_breaker stateset of the current view's providers, set
 * from health/'s state: a tally collector cannot emit a stateset, so these
 * stay families that mirror health/ rather than being computed at scrape
 * time. Call after health/ changed them (the housekeeping tick does, after
 * each evaluation), from one thread at a time. */
void tg_obs_sync_provider_state(tg_obs_t *obs);

/* detected_anomalies_total{type}: one detection of the anomaly detector
 * (health/anomaly.h), of any provider. A few a minute at most: the child is
 * looked up by its label. */
void tg_obs_record_anomaly(tg_obs_t *obs, tg_anomaly_type_t type);

/* housekeeping_duration_seconds{task}: one run of a housekeeping task, or
 * of a whole tick (task "tick"). Task names are the housekeeping table's
 * (a bounded set); the child is looked up by name, a few times a second. */
void tg_obs_record_housekeeping(tg_obs_t *obs, const char *task, double seconds);

/* ------------------------------------------------------------- tenancy */
/* tenancy_metrics.c: the store's, the ledger's and the limits' families
 * (docs/tenancy.md, docs/limits.md). Safe from any thread once bound. */

/* Makes their children; called once when the store starts. -1 on ENOMEM. */
int tg_obs_store_bind(tg_obs_t *obs);
/* db_query_duration_seconds{operation}: one statement. */
void tg_obs_record_db_query(tg_obs_t *obs, tg_db_operation_t op, double seconds);
/* db_connections_active: +1 when a connection starts a job, -1 after. */
void tg_obs_db_busy(tg_obs_t *obs, int delta);
/* active_api_keys and orgs{plan}: orgs[i] organisations have plans[i]. */
void tg_obs_set_tenancy(tg_obs_t *obs, int64_t active_keys, const char *const *plans, const int64_t *orgs,
                        size_t plan_count);
/* ledger_queue_depth */
void tg_obs_ledger_queue(tg_obs_t *obs, int64_t depth);
/* ledger_rows_written_total, ledger_write_errors_total (failed batches),
 * ledger_spooled_rows_total: amounts to add. */
void tg_obs_record_ledger(tg_obs_t *obs, uint64_t written, uint64_t failed_batches, uint64_t spooled);
/* rate_limited_requests_total{reason}: a request refused with 429. */
void tg_obs_record_rate_limited(const tg_obs_view_t *v, tg_limit_reason_t reason);
/* audit_suppressed_total: a refusal over the audit's rate, not audited. */
void tg_obs_record_audit_suppressed(const tg_obs_view_t *v);
/* plan_cost_dollars_total{plan}: a call's cost, by its org's plan ("":
 * anonymous). */
void tg_obs_record_plan_cost(const tg_obs_view_t *v, const char *plan, double dollars);
/* org_budget_used_ratio{org}: the org's settled spend over its budget. */
void tg_obs_set_budget_use(const tg_obs_view_t *v, const char *org, double ratio);

/* --------------------------------------------------------------- cache */
/* cache_metrics.c: the response cache's families (docs/cache.md). */

/* Makes their children, one per tier; called once at start. -1 on ENOMEM. */
int tg_obs_cache_bind(tg_obs_t *obs);
/* One lookup of a tier: cache_hits_total{tier} or cache_misses_total{tier};
 * a hit adds `saved` (what its upstream call would have cost) to
 * cache_saved_dollars_total{tier}. Any thread. */
void tg_obs_record_cache(const tg_obs_view_t *v, tg_cache_tier_t tier, bool hit, double saved);

#endif /* TOLLGATE_OBS_METRICS_H */
