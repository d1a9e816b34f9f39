/*
 * metrics.c - registers the DESIGN.md metric catalog in a tally registry and
 * records the gateway's events into pre-bound children.
 *
 * Hot-path rule: a record call loads child handles from arrays indexed by
 * enum values and config indices, then does tally's lock-free updates. The
 * only exception is the first use of a label set that is not pre-bound
 * (an HTTP status or route/method pair seen for the first time): that one
 * lookup takes the family's mutex inside tally, then the handle is cached.
 *
 * Provider state is health/'s (health/provider.h): the providers collector
 * reads its windows at scrape time, tg_obs_sync_provider_state copies its
 * flags into the provider state families. The rolling windows and scores
 * are health/'s too; label strings are core/words.h's.
 */
#include "obs/metrics.h"

#include "health/score.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------------------- the catalog */

static const char *const token_types[] = {"prompt", "completion", "cached_prompt", "reasoning"};
enum { TOKENS_PROMPT, TOKENS_COMPLETION, TOKENS_CACHED, TOKENS_REASONING, TOKEN_TYPE_COUNT };
#define BREAKER_STATE_LABEL(name, label) label,
static const char *const breaker_states[] = {TG_BREAKER_STATE_MAP(BREAKER_STATE_LABEL)};

enum family_id {
    F_HTTP_REQUESTS, F_HTTP_DURATION, F_HTTP_IN_PROGRESS, F_API_ERRORS, F_BUILD_INFO,
    F_WS_CONNECTIONS, F_WS_MESSAGES,
    F_LLM_REQUESTS, F_LLM_DURATION, F_LLM_TTFT, F_LLM_TOKENS,
    F_LLM_RETRIES, F_LLM_FALLBACKS, F_PROVIDER_HEALTH, F_BREAKER_STATE, F_BREAKER_STATESET,
    F_PROVIDER_RESPONSE_TIME,
    F_LLM_COST, F_CACHE_SAVED, F_RATE_LIMITED, F_ACTIVE_KEYS, F_ORGS,
    F_CACHE_HITS, F_CACHE_MISSES, F_ANOMALIES, F_DB_QUERY, F_DB_CONNECTIONS,
    F_HOUSEKEEPING,
    F_COUNT
};

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

#define MAX_LABELS 5
typedef struct family_spec {
    tally_type type;
    const char *name;
    const char *category;
    const char *help;
    const char *labels[MAX_LABELS + 1];  /* NULL-terminated; stateset: state label added */
    const double *buckets;
    size_t bucket_count;
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
        "Tokens by type; prompt includes cached_prompt.", {"provider", "model", "type"}},
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
    [F_PROVIDER_RESPONSE_TIME] = {TALLY_HISTOGRAM, "provider_response_time_seconds", "providers",
        "Duration of each upstream attempt.", {"provider"}, B(llm_buckets)},
    [F_LLM_COST] = {TALLY_SUMMARY, "llm_cost_dollars", "business",
        "Cost of each LLM call in dollars, from the configured price table.", {"provider", "model"}},
    [F_CACHE_SAVED] = {TALLY_COUNTER, "cache_saved_dollars_total", "business",
        "Dollars not spent thanks to cache hits (no cache yet: no series).", {"tier"}},
    [F_RATE_LIMITED] = {TALLY_COUNTER, "rate_limited_requests_total", "business",
        "Requests refused by a limit (no limits yet: no series).", {"reason"}},
    [F_ACTIVE_KEYS] = {TALLY_GAUGE, "active_api_keys", "business",
        "API keys that are not revoked (no key store yet: 0).", {NULL}},
    [F_ORGS] = {TALLY_GAUGE, "orgs", "business",
        "Organisations by plan (no org store yet: no series).", {"plan"}},
    [F_CACHE_HITS] = {TALLY_COUNTER, "cache_hits_total", "performance",
        "Response cache hits by tier (no cache yet: no series).", {"tier"}},
    [F_CACHE_MISSES] = {TALLY_COUNTER, "cache_misses_total", "performance",
        "Response cache misses by tier (no cache yet: no series).", {"tier"}},
    [F_ANOMALIES] = {TALLY_COUNTER, "detected_anomalies_total", "performance",
        "Anomalies detected by type (no detector yet: no series).", {"type"}},
    [F_DB_QUERY] = {TALLY_HISTOGRAM, "db_query_duration_seconds", "performance",
        "Store query duration by operation (no store yet: no series).", {"operation"}, B(db_buckets)},
    [F_DB_CONNECTIONS] = {TALLY_GAUGE, "db_connections_active", "performance",
        "Open store connections (no store yet: 0).", {NULL}},
    [F_HOUSEKEEPING] = {TALLY_HISTOGRAM, "housekeeping_duration_seconds", "system",
        "Duration of each run of a housekeeping task, and of each whole tick (task=\"tick\").",
        {"task"}, B(housekeeping_buckets)},
};

/* ------------------------------------------ per-name state, views, tg_obs_t */

/* Per model name (and "other"), kept across reloads. */
typedef struct model_state {
    struct model_state *next;
    char *name;
    /* LLM calls over 24 hours: 56 KB, so allocated by the model's first
     * call (500 configured models would hold 28 MB from the start). */
    _Atomic(tg_window_slot_t *) uptime;
    _Atomic uint64_t prompt_tokens;
    _Atomic uint64_t completion_tokens;
} model_state_t;

/* A child handle made on first use: see lazy_child(). */
typedef _Atomic(void *) lazy_slot_t;

/* Children of one (provider, model) pair, each made by the first event
 * that needs it (the pair itself too: see llm_children_get). */
typedef struct llm_children {
    const char *provider, *model;  /* label values: the view's names */
    lazy_slot_t requests[TG_OP_COUNT][TG_STREAM_MODE_COUNT][TG_LLM_STATUS_COUNT];
    lazy_slot_t duration[TG_OP_COUNT][TG_STREAM_MODE_COUNT];
    lazy_slot_t ttft;
    lazy_slot_t tokens[TOKEN_TYPE_COUNT];
    lazy_slot_t cost;
    _Atomic int64_t last_exemplar_second;
} llm_children_t;

typedef struct view_provider {
    char *name;
    tally_gauge *health_status;     /* provider state: every configured provider has one */
    tally_gauge *breaker_state;
    lazy_slot_t response_time;
    lazy_slot_t retries[TG_RETRY_REASON_COUNT];
} view_provider_t;

struct tg_obs_view {
    tg_obs_t *obs;
    struct tg_obs_view *older;         /* every view ever bound, freed with obs */
    const tg_health_view_t *health; /* the same providers' state (health/) */
    size_t provider_count;
    size_t model_count;             /* configured models; "other" is index model_count */
    view_provider_t *providers;
    model_state_t **models;           /* model_count + 1 */
    tg_pricing_t *pricing;            /* model_count + 1 ("other" costs 0) */
    _Atomic(llm_children_t *) *llm;   /* provider_count * (model_count + 1) */
    _Atomic(tally_counter *) *fallbacks; /* provider_count * provider_count */
};

/* HTTP statuses with a cached child; others are looked up each time. */
static const int cached_statuses[] = {
    200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 415, 422, 429,
    499, 500, 501, 502, 503, 504,
};
#define STATUS_SLOTS (sizeof(cached_statuses) / sizeof(cached_statuses[0]))

struct tg_obs {
    tally_registry *reg;
    tally_family *fam[F_COUNT];
    struct timespec started;

    pthread_mutex_t bind_lock;       /* tg_obs_bind only: reloads are rare */
    _Atomic(tg_obs_view_t *) current;
    tg_obs_view_t *views;
    model_state_t *model_states;

    /* HTTP children do not depend on the config: shared by every view. */
    _Atomic(tally_counter *) http_requests[TG_ROUTE_COUNT][TG_METHOD_COUNT][STATUS_SLOTS];
    _Atomic(tally_histogram *) http_duration[TG_ROUTE_COUNT][TG_METHOD_COUNT];
    _Atomic(int64_t) http_exemplar_second[TG_ROUTE_COUNT][TG_METHOD_COUNT];
    _Atomic(tally_gauge *) http_in_progress[TG_ROUTE_COUNT][TG_METHOD_COUNT];
    _Atomic(tally_counter *) api_errors[TG_ERR_TYPE_COUNT][TG_ERR_CODE_COUNT][TG_ROUTE_COUNT];
};

/* ------------------------------------------------------------ collectors */

double tg_obs_uptime_seconds(const tg_obs_t *obs)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - obs->started.tv_sec) +
           (double)(ts.tv_nsec - obs->started.tv_nsec) / 1e9;
}

enum {
    C_UPTIME, C_AVAILABILITY, C_ERROR_RATE, C_HEALTH_SCORE, C_MODEL_UPTIME, C_EFFICIENCY,
    C_COUNT
};

static void collect_system(tally_emit *e, void *user)
{
    tally_emit_gauge(e, 0, NULL, tg_obs_uptime_seconds(user));
}

/* tally wants each family's samples contiguous: one pass per family. */
static void collect_providers(tally_emit *e, void *user)
{
    tg_obs_t *obs = user;
    tg_obs_view_t *v = atomic_load(&obs->current);
    double now = tg_window_now();
    for (size_t family = 0; v && family < 3; family++) {
        for (size_t i = 0; i < v->provider_count; i++) {
            const char *labels[] = {v->providers[i].name};
            tg_health_ratios_t r = tg_health_provider_ratios(v->health, i, now);
            double value = family == 0 ? r.availability : family == 1 ? r.error_rate : tg_health_score(&r);
            tally_emit_gauge(e, family, labels, value);
        }
    }
}

static void collect_models(tally_emit *e, void *user)
{
    tg_obs_t *obs = user;
    tg_obs_view_t *v = atomic_load(&obs->current);
    uint64_t now = tg_window_epoch(tg_window_now(), TG_UPTIME_SLOT_SECONDS);
    for (size_t i = 0; v && i < v->model_count; i++) {
        model_state_t *ms = v->models[i];
        const char *labels[] = {ms->name};
        tg_window_slot_t *uptime = atomic_load_explicit(&ms->uptime, memory_order_acquire);
        tg_window_sum_t w = uptime ? tg_window_totals(uptime, TG_UPTIME_SLOTS, now, TG_UPTIME_SLOTS)
                                   : (tg_window_sum_t){0};
        if (w.total > 0) /* no calls in 24 hours: no uptime to speak of, no series */
            tally_emit_gauge(e, 0, labels, tg_health_uptime_ratio(&w));
    }
    for (size_t i = 0; v && i < v->model_count; i++) {
        model_state_t *ms = v->models[i];
        const char *labels[] = {ms->name};
        uint64_t prompt = atomic_load_explicit(&ms->prompt_tokens, memory_order_relaxed);
        uint64_t completion = atomic_load_explicit(&ms->completion_tokens, memory_order_relaxed);
        if (prompt > 0)
            tally_emit_gauge(e, 1, labels, (double)completion / (double)prompt);
    }
}

static tally_err register_collectors(tg_obs_t *obs, const char *ns)
{
    static const char *const bare[C_COUNT] = {
        "uptime_seconds", "provider_availability_ratio", "provider_error_rate_ratio",
        "provider_health_score", "model_uptime_24h_ratio", "llm_token_efficiency_ratio",
    };
    static const char *const help[C_COUNT] = {
        "Seconds since the gateway started.",
        "Share of upstream attempts over the last 5 minutes not failed by the provider "
        "(connect, reset, timeout, 5xx, bad response; 429 does not count).",
        "Share of upstream attempts over the last 5 minutes that failed for any reason.",
        "0.4*availability + 0.3*(1-error_rate) + 0.3*latency_score over the last 5 minutes.",
        "Share of successful LLM calls per model over the last 24 hours.",
        "Completion tokens per prompt token per model since start.",
    };
    static const char *const provider_label[] = {"provider"};
    static const char *const model_label[] = {"model"};
    tally_desc d[C_COUNT];
    for (int i = 0; i < C_COUNT; i++) {
        d[i] = (tally_desc){.type = TALLY_GAUGE, .namespace_ = ns, .name = bare[i],
                            .help = help[i]};
        if (i >= C_AVAILABILITY && i <= C_HEALTH_SCORE) {
            d[i].label_names = provider_label;
            d[i].label_count = 1;
        } else if (i >= C_MODEL_UPTIME) {
            d[i].label_names = model_label;
            d[i].label_count = 1;
        }
    }
    d[C_UPTIME].unit = "seconds";
    tally_err rc = tally_collector_register(obs->reg, "system", &d[C_UPTIME], 1,
                                            collect_system, obs, NULL);
    if (rc == TALLY_OK)
        rc = tally_collector_register(obs->reg, "providers", &d[C_AVAILABILITY], 3,
                                      collect_providers, obs, NULL);
    if (rc == TALLY_OK)
        rc = tally_collector_register(obs->reg, "models", &d[C_MODEL_UPTIME], 2,
                                      collect_models, obs, NULL);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

static tally_histogram *http_histogram(tg_obs_t *obs, tg_route_t route, tg_method_t method);
static tally_gauge *http_gauge(tg_obs_t *obs, tg_route_t route, tg_method_t method);

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
        .namespace_ = ns, .name = spec->name, .help = spec->help,
        .category = spec->category, .label_names = n ? labels : NULL, .label_count = n,
        .unit = len > 8 && strcmp(spec->name + len - 8, "_seconds") == 0 ? "seconds" : NULL,
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
    /* Every other series is made by the first event that needs it (lazy_child
     * below): a family of a subsystem that does not exist yet, a
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
    clock_gettime(CLOCK_MONOTONIC, &obs->started);
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

static void view_free(tg_obs_view_t *v)
{
    for (size_t i = 0; v->llm && i < v->provider_count * (v->model_count + 1); i++)
        free(atomic_load(&v->llm[i]));
    for (size_t i = 0; v->providers && i < v->provider_count; i++)
        free(v->providers[i].name);
    free(v->llm);
    free(v->fallbacks);
    free(v->providers);
    free(v->models);
    free(v->pricing);
    free(v);
}

void tg_obs_free(tg_obs_t *obs)
{
    if (obs == NULL)
        return;
    tally_registry_free(obs->reg);
    for (tg_obs_view_t *v = obs->views, *next; v; v = next) {
        next = v->older;
        view_free(v);
    }
    for (model_state_t *m = obs->model_states, *next; m; m = next) {
        next = m->next;
        free(m->name);
        free(atomic_load(&m->uptime));
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

/* ---------------------------------------------------------------- binding */

static model_state_t *model_state_for(tg_obs_t *obs, const char *name)
{
    for (model_state_t *m = obs->model_states; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    model_state_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->name = strdup(name)) == NULL) {
        free(m);
        return NULL;
    }
    m->next = obs->model_states;
    obs->model_states = m;
    return m;
}

/* The child of `fam` with these label values, made the first time and
 * kept in *slot: the first event pays one tally lookup (under its family's
 * mutex), every later one a load. Threads that race to make it get the same
 * child back from tally, so the slot needs no compare-and-swap. NULL only
 * when tally is out of memory (the event is then not recorded). */
static void *lazy_child(lazy_slot_t *slot, tally_family *fam, const char *const *labels)
{
    void *child = atomic_load_explicit(slot, memory_order_acquire);
    if (child != NULL)
        return child;
    switch (tally_family_type(fam)) {
    case TALLY_COUNTER: child = tally_counter_with(fam, labels); break;
    case TALLY_GAUGE: child = tally_gauge_with(fam, labels); break;
    case TALLY_HISTOGRAM: child = tally_histogram_with(fam, labels); break;
    case TALLY_SUMMARY: child = tally_summary_with(fam, labels); break;
    default: return NULL;
    }
    atomic_store_explicit(slot, child, memory_order_release);
    return child;
}

/* The children of a pair, allocated by its first call (a few hundred
 * bytes; no series yet). */
static llm_children_t *llm_children_get(const tg_obs_view_t *v, size_t provider, size_t model_slot)
{
    _Atomic(llm_children_t *) *slot = &v->llm[provider * (v->model_count + 1) + model_slot];
    llm_children_t *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c)
        return c;
    llm_children_t *fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL)
        return NULL;
    fresh->provider = v->providers[provider].name;
    fresh->model = v->models[model_slot]->name;
    if (atomic_compare_exchange_strong(slot, &c, fresh))
        return fresh;
    free(fresh);  /* another thread's is in place */
    return c;
}

/* The provider state families of one provider, from health/'s status. */
static tally_err show_provider_state(tg_obs_t *obs, const view_provider_t *vp, const tg_provider_status_t *st)
{
    tally_gauge_set(vp->health_status, st->healthy ? 1 : 0);
    tally_gauge_set(vp->breaker_state, st->breaker);
    const char *labels[] = {vp->name};
    return tally_stateset_set(obs->fam[F_BREAKER_STATESET], labels, breaker_states[st->breaker]);
}

static bool bind_provider(tg_obs_t *obs, view_provider_t *vp, const char *name,
                          const tg_health_view_t *health, size_t index)
{
    const char *l[] = {name};
    if ((vp->name = strdup(name)) == NULL ||
        (vp->health_status = tally_gauge_with(obs->fam[F_PROVIDER_HEALTH], l)) == NULL ||
        (vp->breaker_state = tally_gauge_with(obs->fam[F_BREAKER_STATE], l)) == NULL)
        return false;
    /* Without health state (a test's NULL view) a provider is as new: healthy, closed. */
    tg_provider_status_t st;
    if (tg_health_provider_status(health, index, &st) != 0)
        st = (tg_provider_status_t){.name = name, .healthy = true, .breaker = TG_BREAKER_CLOSED};
    return show_provider_state(obs, vp, &st) == TALLY_OK;
}

static tg_obs_view_t *view_new(tg_obs_t *obs, const tg_config_t *cfg, const tg_health_view_t *health)
{
    tg_obs_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->obs = obs;
    v->health = health;
    v->provider_count = cfg->provider_count;
    v->model_count = cfg->model_count;
    size_t slots = cfg->model_count + 1;
    v->providers = calloc(cfg->provider_count ? cfg->provider_count : 1, sizeof(*v->providers));
    v->models = calloc(slots, sizeof(*v->models));
    v->pricing = calloc(slots, sizeof(*v->pricing));
    v->llm = calloc(cfg->provider_count * slots + 1, sizeof(*v->llm));
    v->fallbacks = calloc(cfg->provider_count * cfg->provider_count + 1, sizeof(*v->fallbacks));
    if (!v->providers || !v->models || !v->pricing || !v->llm || !v->fallbacks)
        goto fail;
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (!bind_provider(obs, &v->providers[i], cfg->providers[i].name, health, i))
            goto fail;
    for (size_t i = 0; i < slots; i++) {
        v->models[i] = model_state_for(obs, i < cfg->model_count ? cfg->models[i].name : "other");
        if (v->models[i] == NULL)
            goto fail;
        if (i < cfg->model_count)
            v->pricing[i] = cfg->models[i].pricing;
    }
    return v;
fail:
    view_free(v);
    return NULL;
}

/* Whether v serves cfg: a view depends only on the provider and model
 * names, in order, and the prices (every child is made on first use). */
static bool view_matches(const tg_obs_view_t *v, const tg_config_t *cfg)
{
    if (v->provider_count != cfg->provider_count || v->model_count != cfg->model_count)
        return false;
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (strcmp(v->providers[i].name, cfg->providers[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->model_count; i++) {
        const tg_pricing_t *a = &v->pricing[i], *b = &cfg->models[i].pricing;
        if (strcmp(v->models[i]->name, cfg->models[i].name) != 0 || a->input != b->input ||
            a->cached_input != b->cached_input || a->output != b->output)
            return false;
    }
    return true;
}

const tg_obs_view_t *tg_obs_bind(tg_obs_t *obs, const tg_config_t *cfg, const tg_health_view_t *health)
{
    pthread_mutex_lock(&obs->bind_lock);
    /* Views are never freed (snapshots and requests hold them uncounted), so
     * a reload reuses a view bound to the same names and prices, as most
     * reloads are (timeouts, retries, URLs, keys): memory grows only with
     * the distinct provider/model/price sets ever loaded. A view found again
     * keeps the health view it was made with: health/ keeps one view per
     * list of provider names, so that is the `health` given now. */
    tg_obs_view_t *v = obs->views;
    while (v != NULL && !view_matches(v, cfg))
        v = v->older;
    if (v == NULL) {
        if ((v = view_new(obs, cfg, health)) != NULL) {
            v->older = obs->views;
            obs->views = v;
        }
    }
    if (v)
        atomic_store(&obs->current, v);
    pthread_mutex_unlock(&obs->bind_lock);
    return v;
}

/* ------------------------------------------------------------ recording */

/* At most one exemplar per child per second: recording one takes tally's
 * per-child spinlock, which the other observations in that second skip. */
static bool exemplar_due(_Atomic int64_t *last_second)
{
    int64_t now = (int64_t)tg_window_now();
    int64_t seen = atomic_load_explicit(last_second, memory_order_relaxed);
    return seen != now && atomic_compare_exchange_strong(last_second, &seen, now);
}

static void observe_traced(tally_histogram *h, double v, const char *trace_id,
                           _Atomic int64_t *last_second)
{
    if (trace_id && trace_id[0] && exemplar_due(last_second)) {
        static const char *const names[] = {"trace_id"};
        const char *values[] = {trace_id};
        tally_exemplar ex = {.label_names = names, .label_values = values, .label_count = 1};
        if (tally_histogram_observe_exemplar(h, v, &ex) == TALLY_OK)
            return;
    }
    tally_histogram_observe(h, v);
}

static int status_slot(int status)
{
    for (size_t i = 0; i < STATUS_SLOTS; i++)
        if (cached_statuses[i] == status)
            return (int)i;
    return -1;
}

/* The counter of one (route, method, status); cached for common statuses. */
static tally_counter *http_counter(tg_obs_t *obs, tg_route_t route, tg_method_t method, int status)
{
    int slot = status_slot(status);
    _Atomic(tally_counter *) *cache = slot >= 0 ? &obs->http_requests[route][method][slot] : NULL;
    tally_counter *c = cache ? atomic_load_explicit(cache, memory_order_acquire) : NULL;
    if (c)
        return c;
    /* First use, or an unusual status: a hashed lookup (tally takes the
     * family mutex only when it creates the child). */
    char status_text[12];
    snprintf(status_text, sizeof(status_text), "%d", status);
    const char *labels[] = {tg_method_name(method), tg_route_template(route), status_text};
    c = tally_counter_with(obs->fam[F_HTTP_REQUESTS], labels);
    if (cache)
        atomic_store_explicit(cache, c, memory_order_release);
    return c;
}

static tally_histogram *http_histogram(tg_obs_t *obs, tg_route_t route, tg_method_t method)
{
    _Atomic(tally_histogram *) *cache = &obs->http_duration[route][method];
    tally_histogram *h = atomic_load_explicit(cache, memory_order_acquire);
    if (h == NULL) {
        const char *labels[] = {tg_method_name(method), tg_route_template(route)};
        h = tally_histogram_with(obs->fam[F_HTTP_DURATION], labels);
        atomic_store_explicit(cache, h, memory_order_release);
    }
    return h;
}

static tally_gauge *http_gauge(tg_obs_t *obs, tg_route_t route, tg_method_t method)
{
    _Atomic(tally_gauge *) *cache = &obs->http_in_progress[route][method];
    tally_gauge *g = atomic_load_explicit(cache, memory_order_acquire);
    if (g == NULL) {
        const char *labels[] = {tg_method_name(method), tg_route_template(route)};
        g = tally_gauge_with(obs->fam[F_HTTP_IN_PROGRESS], labels);
        atomic_store_explicit(cache, g, memory_order_release);
    }
    return g;
}

void tg_obs_record_http(const tg_obs_view_t *v, tg_route_t route, tg_method_t method,
                     int status, double seconds, const char *trace_id)
{
    if (v == NULL || (unsigned)route >= TG_ROUTE_COUNT || (unsigned)method >= TG_METHOD_COUNT)
        return;
    tally_counter *c = http_counter(v->obs, route, method, status);
    if (c)
        tally_counter_inc(c);
    tally_histogram *h = http_histogram(v->obs, route, method);
    if (h)
        observe_traced(h, seconds, trace_id, &v->obs->http_exemplar_second[route][method]);
}

void tg_obs_http_in_progress(const tg_obs_view_t *v, tg_route_t route, tg_method_t method, int delta)
{
    if (v == NULL || (unsigned)route >= TG_ROUTE_COUNT || (unsigned)method >= TG_METHOD_COUNT)
        return;
    tally_gauge *g = http_gauge(v->obs, route, method);
    if (g)
        tally_gauge_add(g, delta);
}

/* A model's uptime window, allocated by its first call. */
static tg_window_slot_t *model_uptime(model_state_t *ms)
{
    tg_window_slot_t *w = atomic_load_explicit(&ms->uptime, memory_order_acquire);
    if (w != NULL)
        return w;
    tg_window_slot_t *fresh = calloc(TG_UPTIME_SLOTS, sizeof(*fresh));
    if (fresh == NULL)
        return NULL;
    if (atomic_compare_exchange_strong(&ms->uptime, &w, fresh))
        return fresh;
    free(fresh); /* another thread's is in place */
    return w;
}

void tg_obs_record_llm(const tg_obs_view_t *v, const tg_obs_llm_result_t *r)
{
    if (v == NULL || r == NULL || r->provider >= v->provider_count ||
        r->model >= (long)v->model_count || (unsigned)r->operation >= TG_OP_COUNT ||
        (unsigned)r->stream_mode >= TG_STREAM_MODE_COUNT ||
        (unsigned)r->status >= TG_LLM_STATUS_COUNT)
        return;
    size_t model_slot = r->model < 0 ? v->model_count : (size_t)r->model;
    llm_children_t *c = llm_children_get(v, r->provider, model_slot);
    if (c == NULL)
        return;
    /* Updates on a NULL handle (tally out of memory) do nothing. */
    tally_family *const *fam = v->obs->fam;
    const char *op = tg_operation_name(r->operation), *mode = tg_stream_mode_name(r->stream_mode);
    const char *request_labels[] = {c->provider, c->model, op, mode, tg_llm_status_name(r->status)};
    tally_counter_inc(lazy_child(&c->requests[r->operation][r->stream_mode][r->status], fam[F_LLM_REQUESTS],
                                 request_labels));
    const char *duration_labels[] = {c->provider, c->model, op, mode};
    observe_traced(lazy_child(&c->duration[r->operation][r->stream_mode], fam[F_LLM_DURATION], duration_labels),
                   r->duration_seconds, r->trace_id, &c->last_exemplar_second);
    const char *pair[] = {c->provider, c->model};
    if (r->ttft_seconds >= 0)
        tally_histogram_observe(lazy_child(&c->ttft, fam[F_LLM_TTFT], pair), r->ttft_seconds);
    const uint64_t tokens[TOKEN_TYPE_COUNT] = {
        [TOKENS_PROMPT] = r->prompt_tokens, [TOKENS_COMPLETION] = r->completion_tokens,
        [TOKENS_CACHED] = r->cached_prompt_tokens, [TOKENS_REASONING] = r->reasoning_tokens,
    };
    for (int t = 0; t < TOKEN_TYPE_COUNT; t++) {
        if (tokens[t] == 0)
            continue; /* a token type a provider never reports gets no series */
        const char *token_labels[] = {c->provider, c->model, token_types[t]};
        tally_counter_add_int(lazy_child(&c->tokens[t], fam[F_LLM_TOKENS], token_labels), tokens[t]);
    }
    double cost = r->cost_dollars >= 0
                      ? r->cost_dollars
                      : tg_pricing_cost(&v->pricing[model_slot], r->prompt_tokens,
                                        r->cached_prompt_tokens, r->completion_tokens);
    /* A failed call that used no tokens cost nothing; observing its zero
     * would only drag the cost quantiles down. */
    if (r->status == TG_LLM_SUCCESS || r->prompt_tokens || r->completion_tokens)
        tally_summary_observe(lazy_child(&c->cost, fam[F_LLM_COST], pair), cost);

    model_state_t *ms = v->models[model_slot];
    atomic_fetch_add_explicit(&ms->prompt_tokens, r->prompt_tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&ms->completion_tokens, r->completion_tokens, memory_order_relaxed);
    tg_window_slot_t *uptime = r->status != TG_LLM_CLIENT_DISCONNECT ? model_uptime(ms) : NULL;
    if (uptime != NULL)
        tg_window_record(uptime, TG_UPTIME_SLOTS, tg_window_epoch(tg_window_now(), TG_UPTIME_SLOT_SECONDS),
                         r->status != TG_LLM_SUCCESS, false, 0);
}

void tg_obs_record_attempt(const tg_obs_view_t *v, size_t provider, double seconds)
{
    if (v == NULL || provider >= v->provider_count)
        return;
    view_provider_t *vp = &v->providers[provider];
    const char *labels[] = {vp->name};
    tally_histogram_observe(lazy_child(&vp->response_time, v->obs->fam[F_PROVIDER_RESPONSE_TIME], labels), seconds);
}

void tg_obs_record_retry(const tg_obs_view_t *v, size_t provider, tg_retry_reason_t reason)
{
    if (v == NULL || provider >= v->provider_count || (unsigned)reason >= TG_RETRY_REASON_COUNT)
        return;
    view_provider_t *vp = &v->providers[provider];
    const char *labels[] = {vp->name, tg_retry_reason_name(reason)};
    tally_counter_inc(lazy_child(&vp->retries[reason], v->obs->fam[F_LLM_RETRIES], labels));
}

void tg_obs_record_fallback(const tg_obs_view_t *v, size_t from_provider, size_t to_provider)
{
    if (v == NULL || from_provider >= v->provider_count || to_provider >= v->provider_count)
        return;
    _Atomic(tally_counter *) *cache = &v->fallbacks[from_provider * v->provider_count + to_provider];
    tally_counter *c = atomic_load_explicit(cache, memory_order_acquire);
    if (c == NULL) {
        /* First fallback between these two: a hashed lookup, then cached. */
        const char *labels[] = {v->providers[from_provider].name, v->providers[to_provider].name};
        c = tally_counter_with(v->obs->fam[F_LLM_FALLBACKS], labels);
        atomic_store_explicit(cache, c, memory_order_release);
    }
    if (c)
        tally_counter_inc(c);
}

void tg_obs_record_error(const tg_obs_view_t *v, tg_error_type_t type, tg_error_code_t code,
                      tg_route_t route)
{
    if (v == NULL || (unsigned)type >= TG_ERR_TYPE_COUNT || (unsigned)code >= TG_ERR_CODE_COUNT ||
        (unsigned)route >= TG_ROUTE_COUNT)
        return;
    _Atomic(tally_counter *) *cache = &v->obs->api_errors[type][code][route];
    tally_counter *c = atomic_load_explicit(cache, memory_order_acquire);
    if (c == NULL) {
        const char *labels[] = {tg_error_type_name(type), tg_error_code_name(code),
                                tg_route_template(route)};
        c = tally_counter_with(v->obs->fam[F_API_ERRORS], labels);
        atomic_store_explicit(cache, c, memory_order_release);
    }
    if (c)
        tally_counter_inc(c);
}

void tg_obs_sync_provider_state(tg_obs_t *obs)
{
    tg_obs_view_t *v = atomic_load(&obs->current);
    for (size_t i = 0; v && i < v->provider_count; i++) {
        tg_provider_status_t st;
        if (tg_health_provider_status(v->health, i, &st) == 0)
            show_provider_state(obs, &v->providers[i], &st);
    }
}

void tg_obs_record_housekeeping(tg_obs_t *obs, const char *task, double seconds)
{
    const char *labels[] = {task};
    tally_histogram *h = tally_histogram_with(obs->fam[F_HOUSEKEEPING], labels);
    if (h)
        tally_histogram_observe(h, seconds);
}
