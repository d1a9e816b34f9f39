/* registry_state.h: what obs/catalog.c (the catalog, its collectors, the
 * registry's life) and obs/metrics.c (views and recording) share: the
 * family ids, the registry's state and the views' layout. Internal to obs/. */
#ifndef TOLLGATE_OBS_REGISTRY_STATE_H
#define TOLLGATE_OBS_REGISTRY_STATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/clock.h"
#include "health/score.h"
#include "obs/metrics.h"
#include "store/store.h"

static const char *const token_types[] = {"prompt", "completion", "cached_prompt", "reasoning", "cache_write"};
enum { TOKENS_PROMPT, TOKENS_COMPLETION, TOKENS_CACHED, TOKENS_REASONING, TOKENS_CACHE_WRITE, TOKEN_TYPE_COUNT };
#define BREAKER_STATE_LABEL(name, label) label,
static const char *const breaker_states[] = {TG_BREAKER_STATE_MAP(BREAKER_STATE_LABEL)};

enum family_id {
    F_HTTP_REQUESTS, F_HTTP_DURATION, F_HTTP_IN_PROGRESS, F_API_ERRORS, F_BUILD_INFO,
    F_WS_CONNECTIONS, F_WS_MESSAGES,
    F_LLM_REQUESTS, F_LLM_DURATION, F_LLM_TTFT, F_LLM_TOKENS,
    F_LLM_RETRIES, F_LLM_FALLBACKS, F_PROVIDER_HEALTH, F_BREAKER_STATE, F_BREAKER_STATESET,
    F_BREAKER_REJECTED, F_PROVIDER_RESPONSE_TIME,
    F_LLM_COST, F_CACHE_SAVED, F_RATE_LIMITED, F_ACTIVE_KEYS, F_ORGS,
    F_CACHE_HITS, F_CACHE_MISSES, F_ANOMALIES, F_DB_QUERY, F_DB_CONNECTIONS,
    F_LEDGER_QUEUE, F_LEDGER_ROWS, F_LEDGER_ERRORS, F_LEDGER_SPOOLED, F_BUDGET_USE, F_PLAN_COST, F_AUDIT_SUPPRESSED,
    F_HOUSEKEEPING, F_SPANS_EXPORTED, F_SPANS_DROPPED,
    F_GENAI_TOKEN_USAGE, F_GENAI_DURATION, F_GENAI_TTFT,
    F_COUNT
};



/* A child handle made on first use (see lazy_child()), or a struct
 * allocated by its first use (lazy_calloc()). */
typedef _Atomic(void *) lazy_slot_t;

/* A model's LLM calls and tokens over the last 24 hours, in 1-minute slots. */
typedef struct model_windows {
    tg_window_slot_t uptime[TG_UPTIME_SLOTS];
    tg_token_slot_t tokens[TG_UPTIME_SLOTS];
} model_windows_t;

/* Per model name (and "other"), kept across reloads. */
typedef struct model_state {
    struct model_state *next;
    char *name;
    /* 90 KB, so allocated by the model's first call (500 configured models
     * would hold 45 MB from the start). */
    lazy_slot_t windows;            /* model_windows_t */
} model_state_t;


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

/* gen_ai.token.type: the conventions' two well-known values. */
static const char *const genai_token_types[] = {"input", "output"};
enum { GENAI_INPUT, GENAI_OUTPUT, GENAI_TOKEN_TYPE_COUNT };

/* The GenAI children of one route of a configured model, each made by the
 * first event that needs it (the struct itself too: lazy_calloc). */
typedef struct genai_children {
    lazy_slot_t duration[TG_OP_COUNT][TG_LLM_STATUS_COUNT];
    lazy_slot_t ttft[TG_OP_COUNT];
    lazy_slot_t tokens[TG_OP_COUNT][GENAI_TOKEN_TYPE_COUNT];
} genai_children_t;

/* One route of a configured model, as the GenAI families label it:
 * the model is gen_ai.request.model, its upstream model
 * gen_ai.response.model, its provider's type gen_ai.provider.name. */
typedef struct genai_route {
    size_t provider;                       /* index into the view's providers */
    char *response_model;
    lazy_slot_t children;                  /* genai_children_t */
} genai_route_t;

typedef struct view_provider {
    char *name;
    tg_provider_type_t type;        /* its GenAI name (metrics.genai) */
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
    lazy_slot_t *rejected;            /* model_count: every route's breaker open */
    /* metrics.genai: every configured route, by model: model i's are
     * genai_routes[genai_first[i] .. genai_first[i + 1]). NULL when off. */
    size_t *genai_first;              /* model_count + 1 */
    genai_route_t *genai_routes;
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
    size_t max_org_series;           /* max_children of the per-org families */
    double started;                  /* tg_clock_seconds() */

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

    /* The store's families (store_metrics.c): no labels or an enum's */
    tally_histogram *db_query[TG_DB_OPERATION_COUNT];
    tally_gauge *db_busy, *active_keys, *ledger_queue;
    tally_counter *ledger_rows, *ledger_errors, *ledger_spooled;
    _Atomic(tally_counter *) rate_limited[TG_LIMIT_REASON_COUNT];

    /* The response cache's families (cache_metrics.c), by tier */
    tally_counter *cache_hits[TG_CACHE_TIER_COUNT], *cache_misses[TG_CACHE_TIER_COUNT];
    tally_counter *cache_saved[TG_CACHE_TIER_COUNT];
};


/* metrics.c: frees a view (the registry's teardown). */
void tg_obs_view_free(tg_obs_view_t *v);

#endif
