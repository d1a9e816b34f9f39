/* catalog.c: the DESIGN.md metric catalog: every family's type, labels,
 * category, help and buckets, registered in a tally registry under the
 * configured namespace; the collectors that compute gauges at scrape time
 * from health/ and the models' windows; the registry's life. Recording is
 * obs/metrics.c's. */
#include "obs/registry_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Buckets after seed 004's presets. HTTP: fast-ish, up to 5 s. LLM calls
 * and provider responses: medium + slow (250 ms .. 2 min). TTFT: fast, with
 * 2.5 s and 5 s for slow models. DB: sub-millisecond to 1 s. */
static const double http_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
static const double llm_buckets[] = {0.25, 0.5, 1, 2, 5, 10, 30, 60, 120};
static const double ttft_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
static const double db_buckets[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};
/* Housekeeping: a tick is microseconds; 0.1 s is a whole tick period
 * (server/housekeeping.c), so the upper buckets show overruns. */
static const double housekeeping_buckets[] = {0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};
static const double cost_quantiles[] = {0.5, 0.9, 0.99};
/* The OpenTelemetry GenAI families: the explicit bucket boundaries the
 * semantic conventions recommend for each (docs/metrics.md). */
static const double genai_token_buckets[] = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                             1048576, 4194304, 16777216, 67108864};
static const double genai_duration_buckets[] = {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
                                                1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
static const double genai_ttft_buckets[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                            0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};

#define MAX_LABELS 5
typedef struct family_spec {
    tally_type type;
    const char *name;
    const char *category;
    const char *help;
    const char *labels[MAX_LABELS + 1];  /* NULL-terminated; stateset: state label added */
    const double *buckets;
    size_t bucket_count;
    bool capped_by_orgs;  /* a series per org: at most tg_obs_opts_t.max_org_series */
    bool standard;        /* a name a standard fixes (GenAI): no namespace */
} family_spec_t;

#define B(arr) arr, sizeof(arr) / sizeof(arr[0])
static const family_spec_t catalog[F_COUNT] = {
    [F_HTTP_REQUESTS] = {TALLY_COUNTER, "http_requests_total", "system",
        "HTTP requests by method, route template and status.", {"method", "path", "status"}},
    [F_HTTP_DURATION] = {TALLY_HISTOGRAM, "http_request_duration_seconds", "system",
        "HTTP request latency from arrival to the last byte sent.", {"method", "path"}, B(http_buckets)},
    [F_HTTP_IN_PROGRESS] = {TALLY_GAUGE, "http_requests_in_progress", "system",
        "HTTP requests being served now.", {"method", "path"}},
    [F_API_ERRORS] = {TALLY_COUNTER, "api_errors_total", "system",
        "Error responses by OpenAI error type and code.", {"error_type", "error_code", "path"}},
    [F_BUILD_INFO] = {TALLY_GAUGE, "build_info", "system",
        "Always 1; the labels say which build is running.", {"version", "revision"}},
    [F_WS_CONNECTIONS] = {TALLY_GAUGE, "ws_connections_active", "system",
        "Open WebSocket connections (no WebSocket endpoint yet: 0).", {NULL}},
    [F_WS_MESSAGES] = {TALLY_COUNTER, "ws_messages_total", "system",
        "WebSocket messages by direction (no WebSocket endpoint yet: no series).", {"direction"}},
    [F_LLM_REQUESTS] = {TALLY_COUNTER, "llm_requests_total", "models",
        "LLM calls as the client saw them, after retries and fallback.",
        {"provider", "model", "operation", "stream_mode", "status"}},
    [F_LLM_DURATION] = {TALLY_HISTOGRAM, "llm_request_duration_seconds", "models",
        "LLM call duration from request arrival to the last byte.",
        {"provider", "model", "operation", "stream_mode"}, B(llm_buckets)},
    [F_LLM_TTFT] = {TALLY_HISTOGRAM, "llm_ttft_seconds", "models",
        "Time to first token of streamed calls: request arrival to the first content chunk.",
        {"provider", "model"}, B(ttft_buckets)},
    [F_LLM_TOKENS] = {TALLY_COUNTER, "llm_tokens_total", "models",
        "Tokens by type; prompt includes cached_prompt and cache_write.", {"provider", "model", "type"}},
    [F_LLM_RETRIES] = {TALLY_COUNTER, "llm_retries_total", "providers",
        "Upstream attempts retried, by reason.", {"provider", "reason"}},
    [F_LLM_FALLBACKS] = {TALLY_COUNTER, "llm_fallbacks_total", "providers",
        "Requests that moved from one provider to the next route.", {"from", "to"}},
    [F_PROVIDER_HEALTH] = {TALLY_GAUGE, "provider_health_status", "providers",
        "1 when the provider is considered healthy, else 0.", {"provider"}},
    [F_BREAKER_STATE] = {TALLY_GAUGE, "provider_circuit_breaker_state", "providers",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open.", {"provider"}},
    [F_BREAKER_STATESET] = {TALLY_STATESET, "provider_circuit_breaker", "providers",
        "Circuit breaker state as a stateset.", {"provider"}},
    [F_BREAKER_REJECTED] = {TALLY_COUNTER, "provider_circuit_breaker_rejected_requests_total", "providers",
        "Requests answered 503 all_providers_unavailable at once: every route's circuit breaker was open.",
        {"model"}},
    [F_PROVIDER_RESPONSE_TIME] = {TALLY_HISTOGRAM, "provider_response_time_seconds", "providers",
        "Duration of each upstream attempt.", {"provider"}, B(llm_buckets)},
    [F_LLM_COST] = {TALLY_SUMMARY, "llm_cost_dollars", "business",
        "Cost of each LLM call in dollars, from the configured price table.", {"provider", "model"}},
    [F_CACHE_SAVED] = {TALLY_COUNTER, "cache_saved_dollars_total", "business",
        "Dollars the upstream calls answered from the response cache would have cost, by tier.", {"tier"}},
    [F_RATE_LIMITED] = {TALLY_COUNTER, "rate_limited_requests_total", "business",
        "Requests refused with 429 by a key's or an org's limit, by the limit.", {"reason"}},
    [F_ACTIVE_KEYS] = {TALLY_GAUGE, "active_api_keys", "business",
        "API keys that are not revoked, from the store.", {NULL}},
    [F_ORGS] = {TALLY_GAUGE, "orgs", "business",
        "Organisations by plan (every plan of tenancy.plans), from the store.", {"plan"}},
    [F_CACHE_HITS] = {TALLY_COUNTER, "cache_hits_total", "performance",
        "Requests answered from the response cache, by the tier that answered.", {"tier"}},
    [F_CACHE_MISSES] = {TALLY_COUNTER, "cache_misses_total", "performance",
        "Cacheable requests a tier could not answer (a request that misses both counts in both).", {"tier"}},
    [F_ANOMALIES] = {TALLY_COUNTER, "detected_anomalies_total", "performance",
        "Anomalies found by the detector, of any provider, by type; each is logged with its provider.", {"type"}},
    [F_DB_QUERY] = {TALLY_HISTOGRAM, "db_query_duration_seconds", "performance",
        "Duration of each statement the store runs, by operation.", {"operation"}, B(db_buckets)},
    [F_DB_CONNECTIONS] = {TALLY_GAUGE, "db_connections_active", "performance",
        "Store connections busy with a query now.", {NULL}},
    [F_LEDGER_QUEUE] = {TALLY_GAUGE, "ledger_queue_depth", "performance",
        "Usage ledger rows in the journal, not yet committed to the store.", {NULL}},
    [F_LEDGER_ROWS] = {TALLY_COUNTER, "ledger_rows_written_total", "business",
        "Usage ledger rows committed to the store.", {NULL}},
    [F_LEDGER_ERRORS] = {TALLY_COUNTER, "ledger_write_errors_total", "performance",
        "Usage ledger transactions the store failed to commit (their rows stay in the journal, tried again).", {NULL}},
    [F_LEDGER_SPOOLED] = {TALLY_COUNTER, "ledger_spooled_rows_total", "performance",
        "Usage ledger rows written to the spool file (the journal was full), replayed later.", {NULL}},
    [F_PLAN_COST] = {TALLY_COUNTER, "plan_cost_dollars_total", "business",
        "Dollars of LLM calls by the plan of the caller's org (anonymous: plan \"anonymous\"); "
        "the plans are tenancy.plans.", {"plan"}},
    [F_AUDIT_SUPPRESSED] = {TALLY_COUNTER, "audit_suppressed_total", "system",
        "Refused requests not audited (no audit line, no audit row) because more than 100 a second came.", {NULL}},
    [F_BUDGET_USE] = {TALLY_GAUGE, "org_budget_used_ratio", "business",
        "Share of an org's monthly budget spent (settled), for orgs with a budget; at most limits.max_org_series "
        "orgs, the rest in one overflow series.", {"org"}, .capped_by_orgs = true},
    [F_HOUSEKEEPING] = {TALLY_HISTOGRAM, "housekeeping_duration_seconds", "system",
        "Duration of each run of a housekeeping task, and of each whole tick (task=\"tick\").",
        {"task"}, B(housekeeping_buckets)},
    [F_SPANS_EXPORTED] = {TALLY_COUNTER, "tracing_spans_exported_total", "system",
        "Trace spans the OTLP endpoint accepted (tracing.enabled; docs/observability.md, Traces).", {NULL}},
    [F_SPANS_DROPPED] = {TALLY_COUNTER, "tracing_spans_dropped_total", "system",
        "Trace spans lost: queue_full (the export queue was full when the request ended) or export_failed "
        "(the OTLP endpoint refused the batch or did not answer).", {"reason"}},
    /* OpenTelemetry GenAI conventions (metrics.genai), under the names
     * OTLP -> Prometheus gives them, so that their dashboards work as is. */
    [F_GENAI_TOKEN_USAGE] = {TALLY_HISTOGRAM, "gen_ai_client_token_usage", "models",
        "Tokens of each LLM call by type (gen_ai.client.token.usage; metrics.genai).",
        {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model",
         "gen_ai_token_type"}, B(genai_token_buckets), .standard = true},
    [F_GENAI_DURATION] = {TALLY_HISTOGRAM, "gen_ai_client_operation_duration_seconds", "models",
        "Duration of each LLM call, request arrival to last byte (gen_ai.client.operation.duration; "
        "metrics.genai); error_type is empty on success.",
        {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model",
         "error_type"}, B(genai_duration_buckets), .standard = true},
    [F_GENAI_TTFT] = {TALLY_HISTOGRAM, "gen_ai_server_time_to_first_token_seconds", "models",
        "Time to first token of each successful streamed LLM call (gen_ai.server.time_to_first_token; "
        "metrics.genai).",
        {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"},
        B(genai_ttft_buckets), .standard = true},
};

/* ------------------------------------------------------------ collectors */

double tg_obs_uptime_seconds(const tg_obs_t *obs)
{
    return tg_clock_seconds() - obs->started;
}

enum {
    C_UPTIME, C_AVAILABILITY, C_ERROR_RATE, C_HEALTH_SCORE, C_BREAKER_COOLDOWN, C_BREAKER_TRANSITIONS,
    C_MODEL_UPTIME, C_EFFICIENCY, C_MODEL_BREAKER_STATE, C_MODEL_BREAKER_TRANSITIONS,
    C_COUNT
};
#define C_PROVIDER_FAMILIES (C_BREAKER_TRANSITIONS - C_AVAILABILITY + 1)

static void collect_system(tally_emit *e, void *user)
{
    tally_emit_gauge(e, 0, NULL, tg_obs_uptime_seconds(user));
}

/* Each transition a provider's breaker made: a series from its first. */
static void emit_transitions(tally_emit *e, size_t family, const tg_obs_view_t *v, size_t provider)
{
    for (int from = 0; from < TG_BREAKER_STATE_COUNT; from++) {
        for (int to = 0; to < TG_BREAKER_STATE_COUNT; to++) {
            uint64_t n = tg_health_breaker_transitions(v->health, provider, from, to);
            const char *labels[] = {v->providers[provider].name, breaker_states[from], breaker_states[to]};
            if (n > 0)
                tally_emit_counter(e, family, labels, (double)n);
        }
    }
}

/* tally wants each family's samples contiguous: one pass per family. */
static void collect_providers(tally_emit *e, void *user)
{
    tg_obs_t *obs = user;
    tg_obs_view_t *v = atomic_load(&obs->current);
    double now = tg_clock_seconds();
    for (size_t family = 0; v && family < C_PROVIDER_FAMILIES; family++) {
        for (size_t i = 0; i < v->provider_count; i++) {
            const char *labels[] = {v->providers[i].name};
            tg_health_ratios_t r = tg_health_provider_ratios(v->health, i, now);
            tg_provider_status_t st;
            switch (C_AVAILABILITY + family) {
            case C_AVAILABILITY: tally_emit_gauge(e, family, labels, r.availability); break;
            case C_ERROR_RATE: tally_emit_gauge(e, family, labels, r.error_rate); break;
            case C_HEALTH_SCORE: tally_emit_gauge(e, family, labels, tg_health_score(&r)); break;
            case C_BREAKER_COOLDOWN:
                if (tg_health_provider_status(v->health, i, &st) == 0)
                    tally_emit_gauge(e, family, labels, st.next_probe_at > now ? st.next_probe_at - now : 0);
                break;
            default: emit_transitions(e, family, v, i); break;
            }
        }
    }
}

/* The (provider, upstream model) breakers of routes with their own: the
 * state of each configured one, read at scrape; a transition's series from
 * its first. */
static void collect_model_breakers(tally_emit *e, void *user)
{
    tg_obs_t *obs = user;
    tg_obs_view_t *v = atomic_load(&obs->current);
    size_t n = v ? tg_health_model_breaker_count(v->health) : 0;
    tg_model_breaker_status_t st;
    for (size_t i = 0; i < n; i++)
        if (tg_health_model_breaker_status(v->health, i, &st) == 0) {
            const char *labels[] = {st.provider, st.upstream_model};
            tally_emit_gauge(e, 0, labels, st.breaker);
        }
    for (size_t i = 0; i < n; i++) {
        if (tg_health_model_breaker_status(v->health, i, &st) != 0)
            continue;
        for (int from = 0; from < TG_BREAKER_STATE_COUNT; from++)
            for (int to = 0; to < TG_BREAKER_STATE_COUNT; to++) {
                uint64_t count = tg_health_model_breaker_transitions(v->health, i, from, to);
                const char *labels[] = {st.provider, st.upstream_model, breaker_states[from], breaker_states[to]};
                if (count > 0)
                    tally_emit_counter(e, 1, labels, (double)count);
            }
    }
}

static void collect_models(tally_emit *e, void *user)
{
    tg_obs_t *obs = user;
    tg_obs_view_t *v = atomic_load(&obs->current);
    uint64_t now = tg_window_epoch(tg_clock_seconds(), TG_UPTIME_SLOT_SECONDS);
    for (size_t i = 0; v && i < v->model_count; i++) {
        model_windows_t *w = atomic_load_explicit(&v->models[i]->windows, memory_order_acquire);
        if (w == NULL)
            continue;
        const char *labels[] = {v->models[i]->name};
        tg_window_sum_t calls = tg_window_totals(w->uptime, TG_UPTIME_SLOTS, now, TG_UPTIME_SLOTS);
        if (calls.total > 0) /* no calls in 24 hours: no uptime to speak of, no series */
            tally_emit_gauge(e, 0, labels, tg_health_uptime_ratio(&calls));
    }
    for (size_t i = 0; v && i < v->model_count; i++) {
        model_windows_t *w = atomic_load_explicit(&v->models[i]->windows, memory_order_acquire);
        if (w == NULL)
            continue;
        const char *labels[] = {v->models[i]->name};
        tg_token_sum_t tokens = tg_token_window_totals(w->tokens, TG_UPTIME_SLOTS, now);
        if (tokens.prompt > 0) /* no prompt tokens in 24 hours: no ratio, no series */
            tally_emit_gauge(e, 1, labels, (double)tokens.completion / (double)tokens.prompt);
    }
}

static tally_err register_collectors(tg_obs_t *obs, const char *ns)
{
    static const char *const bare[C_COUNT] = {
        "uptime_seconds", "provider_availability_ratio", "provider_error_rate_ratio",
        "provider_health_score", "provider_circuit_breaker_cooldown_seconds",
        "provider_circuit_breaker_transitions_total", "model_uptime_24h_ratio", "llm_token_efficiency_ratio",
        "provider_model_circuit_breaker_state", "provider_model_circuit_breaker_transitions_total",
    };
    static const char *const help[C_COUNT] = {
        "Seconds since the gateway started.",
        "Share of upstream attempts over the last 5 minutes not failed by the provider "
        "(connect, reset, timeout, 5xx, bad response; 429 does not count).",
        "Share of upstream attempts over the last 5 minutes that failed for any reason.",
        "0.4*availability + 0.3*(1-error_rate) + 0.3*latency_score over the last 5 minutes.",
        "Seconds until an open circuit breaker lets a probe through (0 unless open).",
        "Circuit breaker transitions by the state left and the state entered.",
        "Share of successful LLM calls per model over the last 24 hours.",
        "Completion tokens per prompt token per model over the last 24 hours.",
        "Circuit breaker state of a (provider, upstream model) with its own: 0 closed, 1 open, 2 half-open.",
        "Transitions of a (provider, upstream model) circuit breaker by the state left and the state entered.",
    };
    static const char *const provider_label[] = {"provider"};
    static const char *const transition_labels[] = {"provider", "from", "to"};
    static const char *const model_label[] = {"model"};
    static const char *const pair_labels[] = {"provider", "upstream_model", "from", "to"};
    tally_desc d[C_COUNT];
    for (int i = 0; i < C_COUNT; i++) {
        d[i] = (tally_desc){.type = TALLY_GAUGE, .namespace_ = ns, .name = bare[i],
                            .help = help[i]};
        if (i >= C_AVAILABILITY && i <= C_BREAKER_COOLDOWN) {
            d[i].label_names = provider_label;
            d[i].label_count = 1;
        } else if (i >= C_MODEL_BREAKER_STATE) {
            d[i].label_names = pair_labels;
            d[i].label_count = i == C_MODEL_BREAKER_STATE ? 2 : 4;
        } else if (i >= C_MODEL_UPTIME) {
            d[i].label_names = model_label;
            d[i].label_count = 1;
        }
    }
    d[C_UPTIME].unit = "seconds";
    d[C_BREAKER_COOLDOWN].unit = "seconds";
    d[C_BREAKER_TRANSITIONS].type = TALLY_COUNTER;
    d[C_BREAKER_TRANSITIONS].label_names = transition_labels;
    d[C_BREAKER_TRANSITIONS].label_count = 3;
    d[C_MODEL_BREAKER_TRANSITIONS].type = TALLY_COUNTER;
    tally_err rc = tally_collector_register(obs->reg, "system", &d[C_UPTIME], 1,
                                            collect_system, obs, NULL);
    if (rc == TALLY_OK)
        rc = tally_collector_register(obs->reg, "providers", &d[C_AVAILABILITY], C_PROVIDER_FAMILIES,
                                      collect_providers, obs, NULL);
    if (rc == TALLY_OK)
        rc = tally_collector_register(obs->reg, "models", &d[C_MODEL_UPTIME], 2,
                                      collect_models, obs, NULL);
    if (rc == TALLY_OK)
        rc = tally_collector_register(obs->reg, "providers", &d[C_MODEL_BREAKER_STATE], 2,
                                      collect_model_breakers, obs, NULL);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

static tally_family *register_family(tg_obs_t *obs, const char *ns, const family_spec_t *spec,
                                     tally_err *err)
{
    const char *labels[MAX_LABELS + 1];
    size_t n = 0;
    while (n < MAX_LABELS && spec->labels[n])
        labels[n] = spec->labels[n], n++;
    /* OpenMetrics: a stateset's state label is named like the family (tally
     * exposes it under the namespaced name). */
    if (spec->type == TALLY_STATESET)
        labels[n++] = spec->name;
    size_t len = strlen(spec->name);
    tally_opts o = {
        .namespace_ = spec->standard ? NULL : ns, .name = spec->name, .help = spec->help,
        .category = spec->category, .label_names = n ? labels : NULL, .label_count = n,
        .unit = len > 8 && strcmp(spec->name + len - 8, "_seconds") == 0 ? "seconds" : NULL,
        .max_children = spec->capped_by_orgs ? obs->max_org_series : 0,
    };
    tally_histogram_opts h = {.buckets = spec->buckets, .bucket_count = spec->bucket_count};
    tally_summary_opts s = {.quantiles = cost_quantiles, .quantile_count = 3,
                            .max_age_seconds = 600, .age_buckets = 5};
    return tally_family_new(obs->reg, spec->type, &o, spec->type == TALLY_HISTOGRAM ? &h : NULL,
                            spec->type == TALLY_SUMMARY ? &s : NULL, err);
}

static tally_err populate_catalog(tg_obs_t *obs, const tg_obs_opts_t *opts)
{
    /* tally copies the names: the namespace is not kept */
    const char *ns = opts->metric_namespace ? opts->metric_namespace : "tollgate";
    tally_err rc = TALLY_OK;
    for (int i = 0; i < F_COUNT; i++)
        if ((obs->fam[i] = register_family(obs, ns, &catalog[i], &rc)) == NULL)
            return rc;
    if ((rc = tally_stateset_declare(obs->fam[F_BREAKER_STATESET], breaker_states, 3)) != TALLY_OK)
        return rc;
    const char *build[] = {opts->version ? opts->version : "unknown",
                           opts->revision ? opts->revision : "unknown"};
    tally_gauge *info = tally_gauge_with(obs->fam[F_BUILD_INFO], build);
    if (info == NULL)
        return TALLY_ERR_NOMEM;
    tally_gauge_set(info, 1);
    /* Every other series is made by the first event that needs it (lazy_child in
     * obs/metrics.c): a family of a subsystem that does not exist yet, a
     * route nobody called, a (provider, model, operation, ...) combination
     * traffic never used, has no series, however large the configuration. */
    if ((rc = register_collectors(obs, ns)) != TALLY_OK)
        return rc;
    return tally_process_collector_register(obs->reg, "system");
}

tg_obs_t *tg_obs_new(const tg_obs_opts_t *opts, char **err_text)
{
    if (err_text)
        *err_text = NULL;
    tg_obs_t *obs = calloc(1, sizeof(*obs));
    if (obs == NULL)
        goto nomem;
    obs->started = tg_clock_seconds();
    obs->max_org_series = opts->max_org_series ? opts->max_org_series : 1000;
    pthread_mutex_init(&obs->bind_lock, NULL);
    obs->reg = tally_registry_new();
    if (obs->reg == NULL)
        goto nomem;
    static const tg_obs_opts_t no_opts;
    tally_err rc = populate_catalog(obs, opts ? opts : &no_opts);
    if (rc != TALLY_OK) {
        if (err_text && (*err_text = malloc(128)) != NULL)
            snprintf(*err_text, 128, "metric catalog: %s", tally_strerror(rc));
        tg_obs_free(obs);
        return NULL;
    }
    return obs;
nomem:
    tg_obs_free(obs);
    if (err_text)
        *err_text = strdup("metric catalog: out of memory");
    return NULL;
}

void tg_obs_free(tg_obs_t *obs)
{
    if (obs == NULL)
        return;
    tally_registry_free(obs->reg);
    for (tg_obs_view_t *v = obs->views, *next; v; v = next) {
        next = v->older;
        tg_obs_view_free(v);
    }
    for (model_state_t *m = obs->model_states, *next; m; m = next) {
        next = m->next;
        free(m->name);
        free(atomic_load(&m->windows));
        free(m);
    }
    pthread_mutex_destroy(&obs->bind_lock);
    free(obs);
}

tally_registry *tg_obs_registry(tg_obs_t *obs)
{
    return obs->reg;
}

const tg_obs_view_t *tg_obs_current_view(tg_obs_t *obs)
{
    return atomic_load(&obs->current);
}

const tg_health_view_t *tg_obs_view_health(const tg_obs_view_t *v)
{
    return v ? v->health : NULL;
}

