/*
 * config.h - the tollgate YAML configuration as an immutable snapshot.
 *
 * tg_config_load() parses and validates a YAML file (libyaml) into one
 * tg_config_t. Nothing in a snapshot changes after load, so worker threads read
 * it without locks; a reload (SIGHUP) loads a new snapshot and swaps the
 * pointer, and the old one is freed once no request uses it.
 *
 * Scalars may contain ${VAR} (error if VAR is unset) and ${VAR:-default}
 * (default if VAR is unset or empty), expanded before type conversion.
 *
 * Errors are reported as "FILE:LINE: message" lines naming the YAML line of
 * the offending key or value. See docs/configuration.md for every key.
 */
#ifndef TOLLGATE_CONFIG_H
#define TOLLGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/types.h>

#include "core/words.h"
#include "obs/log.h"

/* A provider's circuit breaker (health/breaker.h; defaults and limits in
 * docs/configuration.md). */
typedef struct tg_breaker_config {
    bool enabled;              /* false: always tried, nothing counted */
    uint32_t failures;         /* failures in a row that open it; 0 = this trigger off */
    double error_ratio;        /* failed share of the window that opens it; 0 = off */
    uint32_t window_seconds;   /* the ratio's rolling window, 1..60 */
    uint32_t min_requests;     /* attempts in the window before the ratio counts */
    uint32_t cooldown_ms;      /* open before the first probe */
    uint32_t max_cooldown_ms;  /* the cooldown doubles with each reopen, up to this */
    uint32_t half_open_probes; /* attempts let through per half-open period */
    uint32_t close_after;      /* probe successes that close it (<= half_open_probes) */
} tg_breaker_config_t;
/* A provider's active health check (docs/gateway-behaviour.md, "Provider
 * health"): GET path_prefix + path every interval_ms, given timeout_ms. */
typedef struct tg_health_check_config {
    bool enabled;            /* default true */
    char *path;              /* under base_url's path; default "/models" */
    uint32_t interval_ms;    /* default 30000, at least 100 */
    uint32_t timeout_ms;     /* default 5000, less than interval_ms */
} tg_health_check_config_t;

/* The anomaly detector's settings (health/anomaly.h). */
typedef struct tg_anomaly_config {
    bool enabled;              /* default true */
    uint32_t interval_ms;      /* how often it judges; default 60000 */
    uint32_t warmup_intervals; /* intervals folded into a baseline before it is trusted; 10 */
    uint32_t min_requests;     /* fewer attempts in an interval say nothing about latency
                                  and errors; 20 */
    double baseline_weight;    /* EWMA weight of the newest interval; 0.1 */
    double latency_factor;     /* latency_spike: p95 above this x its baseline; 3 */
    double error_factor;       /* error_surge: error rate above this x its baseline ... */
    double error_floor;        /* ... and at least this; 3 and 0.1 */
    double volume_factor;      /* unusual_pattern: volume above this x its baseline or
                                  below 1/this of it; 3 */
} tg_anomaly_config_t;

/* Which API a provider speaks: OpenAI's (chat and every other operation),
 * or Anthropic's Messages (chat, translated, and messages). */
typedef enum tg_provider_type { TG_PROVIDER_OPENAI = 0, TG_PROVIDER_ANTHROPIC } tg_provider_type_t;

/* "openai" or "anthropic": `type`, and the OpenTelemetry GenAI
 * conventions' well-known gen_ai.provider.name of each. */
const char *tg_provider_type_name(tg_provider_type_t type);

/* One upstream provider: an OpenAI-compatible or an Anthropic base URL. */
typedef struct tg_provider_config {
    char *name;
    tg_provider_type_t type; /* `type`, default openai */
    char *base_url;          /* as written (after ${} expansion) */
    bool tls;                /* scheme https */
    char *host;              /* host name or address, without brackets */
    uint16_t port;           /* explicit, or 80 / 443 from the scheme */
    char *path_prefix;       /* e.g. "/v1", no trailing slash; "" for none */
    char *api_key_env;       /* NULL when not configured */
    char *api_key;           /* value of $api_key_env at load; NULL if unset.
                                Never log it. */
    uint32_t timeout_ms;     /* per attempt, up to the first response byte */
    uint32_t first_token_timeout_ms; /* per attempt, up to the response head
                                (plain) or the first output event (stream);
                                then the next route. 0 = off */
    uint32_t max_retries;    /* retries on this provider before falling back */
    uint32_t retry_backoff_ms; /* backoff before retry k is this * 2^k */
    uint32_t max_connections;  /* upstream socket pool size per worker */
    char **forward_headers;  /* client request headers passed on to this
                                provider beyond the fixed allow-list:
                                lower-cased, valid, never a credential or
                                hop-by-hop header (docs/configuration.md) */
    size_t forward_header_count;
    char *ca_file;           /* PEM CAs trusted instead of the system store,
                                resolved against the file's directory; NULL
                                when not configured */
    SSL_CTX *tls_ctx;        /* https only: whom to trust and which name to
                                expect (upstream/tls.h); NULL for http */
    tg_breaker_config_t breaker;
    tg_health_check_config_t health_check;
} tg_provider_config_t;

/* A route's weight is 1..this, so that a model's sum fits easily. */
#define TG_ROUTE_WEIGHT_MAX 1000000

/* One (provider, upstream model) step of a model's fallback chain. */
typedef struct tg_route_config {
    size_t provider;         /* index into tg_config_t.providers */
    char *upstream_model;    /* the name sent to the provider */
    uint32_t weight;         /* strategy weighted: share of first picks; default 1 */
    long breaker;            /* index into tg_config_t.model_breakers; -1 = the provider's only */
} tg_route_config_t;

/* The circuit breaker of one (provider, upstream model), set by a route's
 * `breaker` section and shared by every route to that pair. */
typedef struct tg_model_breaker_config {
    size_t provider;         /* index into tg_config_t.providers */
    char *upstream_model;
    tg_breaker_config_t breaker;
} tg_model_breaker_config_t;

/* Prices: dollars per million tokens (and characters), per image, per
 * second of audio. */
typedef struct tg_pricing {
    double input;
    double cached_input;
    double cache_write;      /* prompt tokens written to a provider's prompt cache (Anthropic); default input */
    double output;
    double image;            /* per image generated */
    double audio_second;     /* per second of audio transcribed */
    double characters;       /* per million characters of text spoken */
} tg_pricing_t;

/* What one call is billed for, in every unit a price exists for. */
typedef struct tg_billed_units {
    uint64_t prompt_tokens;      /* all of them: cached and cache-written included */
    uint64_t cached_tokens;
    uint64_t cache_write_tokens;
    uint64_t completion_tokens;
    uint64_t images;
    double audio_seconds;
    uint64_t characters;
} tg_billed_units_t;

typedef struct tg_model_config {
    char *name;              /* the name clients send */
    tg_route_config_t *routes; /* at least one, in priority order */
    size_t route_count;
    bool probe_when_all_open; /* when_all_open: probe (else fail: 503 at once) */
    tg_strategy_t strategy;  /* how a request orders them; default priority */
    tg_pricing_t pricing;
} tg_model_config_t;

typedef struct tg_config {
    char *path;              /* the file it was loaded from */

    struct {
        char *host;              /* default "127.0.0.1" */
        uint16_t port;           /* default 8080 */
        unsigned workers;        /* 0 in the file = number of online CPUs */
        size_t max_body_bytes;   /* default 1 MiB */
        uint32_t request_timeout_ms; /* default 120000 */
        uint32_t header_timeout_ms;  /* default 10000 */
    } server;

    struct {
        tg_log_format_t format;    /* LOG_FORMAT=json in the environment wins */
        tg_log_level_t level;
        tg_log_level_t metrics_scrapes; /* the access line of the metrics, health and status
                                           page paths under 500; default debug */
    } logging;

    struct {
        char *metric_namespace;  /* prefix of every gateway family; "" = none */
        bool has_listen;         /* a separate listener for the metrics paths */
        char *listen_host;       /* NULL unless has_listen */
        uint16_t listen_port;
        char *bearer_token;      /* NULL = metrics paths open. Never log it. */
        bool genai;              /* the OpenTelemetry GenAI families too (docs/metrics.md); default false */
    } metrics;

    struct {
        bool allow_anonymous;
    } auth;

    /* Where orgs, keys, the ledger and the audit table live
     * (docs/tenancy.md). Not reloadable: a reload that changes it is
     * refused by the server. */
    struct {
        char *driver;            /* "sqlite" (default) or "none" */
        char *path;              /* resolved against the file's directory; default "tollgate.db" */
        bool synchronous_full;   /* synchronous: full */
        uint32_t busy_timeout_ms; /* default 5000 */
    } store;

    struct {
        uint32_t queue_size;     /* the journal's slots: rows not yet in the store; default 16384 */
        uint32_t batch_max;      /* rows per transaction; default 512 */
        uint32_t flush_ms;       /* the journal's rows go into the store this often; default 10 */
        char *journal_path;      /* resolved; default store.path + ".journal" */
        char *spool_path;        /* resolved; default store.path + ".spool" */
    } ledger;

    struct {
        char **plans;            /* the values of an org's plan; default free, trial, paid, enterprise */
        size_t plan_count;
    } tenancy;

    /* Rate limits and budgets (docs/limits.md); the limits themselves are
     * each key's and org's policy, in the store. */
    struct {
        uint32_t default_max_tokens; /* a request without max_tokens is charged this many; default 4096 */
        uint32_t max_org_series;     /* org_budget_used_ratio series at most (the rest fold into one); 1000 */
    } limits;
    /* The response cache (docs/cache.md). Reloadable, but for whether
     * the SQLite tier exists: that follows the store, fixed at start. */
    struct {
        bool enabled;              /* default true */
        uint64_t memory_bytes;     /* the memory tier's cap; default 64 MiB */
        uint32_t ttl_seconds;      /* of a memory entry; default 3600 */
        uint32_t coalesce_wait_ms; /* how long identical misses wait for the first; default 30000 */
        struct {
            bool enabled;          /* default true; no tier without a store */
            uint64_t max_bytes;    /* cap of the table, evicted oldest first; default 256 MiB */
            uint32_t ttl_seconds;  /* of a row; default 86400 */
        } sqlite;
    } cache;

    tg_anomaly_config_t anomaly;

    /* Traces exported over OTLP/HTTP (docs/observability.md, "Traces"). Read when the
     * server starts: a reload keeps the tracing it started with. */
    struct {
        bool enabled;            /* default false */
        char *endpoint;          /* as written; default http://127.0.0.1:4318/v1/traces */
        bool tls;                /* https */
        char *host;
        uint16_t port;
        char *path;              /* the endpoint's path, "/" when none */
        SSL_CTX *tls_ctx;        /* https only */
        char *service_name;      /* resource service.name; default "tollgate" */
        uint32_t queue_size;     /* spans waiting for export at most; default 4096 */
        uint32_t batch_max;      /* spans per export request; default 512 */
        uint32_t interval_ms;    /* the exporter's period; default 1000 */
        uint32_t timeout_ms;     /* one export request, connect to status line; default 2000 */
        char *headers;           /* "name: value\r\n" lines sent with each export ("" none);
                                    their values are secrets: never logged */
    } tracing;

    tg_provider_config_t *providers;
    size_t provider_count;
    tg_model_config_t *models;
    size_t model_count;
    tg_model_breaker_config_t *model_breakers; /* distinct pairs, in order of first mention */
    size_t model_breaker_count;
} tg_config_t;

/* Loads and validates `path`. On success returns the snapshot and sets
 * *err_text to NULL. On failure returns NULL and sets *err_text (when
 * err_text is not NULL) to a malloc'd string of one or more "FILE:LINE:
 * message\n" lines; the caller frees it. */
tg_config_t *tg_config_load(const char *path, char **err_text);

/* Frees a snapshot (NULL is fine). */
void tg_config_free(tg_config_t *cfg);

/* `tollgate check-config`: loads `path`, prints "ok\n" to out on success or
 * the error lines on failure. Returns 0 when valid, 1 when not. */
int tg_config_check(const char *path, FILE *out);

/* Index of the model named name[0..len) or -1. A linear scan: model lists
 * are short (tens) and strncmp over them is faster than hashing. */
long tg_config_find_model(const tg_config_t *cfg, const char *name, size_t len);

/* true when cfg has a store (store.driver is not "none"). */
bool tg_config_has_store(const tg_config_t *cfg);

/* Index of the provider with this name or -1. */
long tg_config_find_provider(const tg_config_t *cfg, const char *name);

/* Dollars for one request: ((prompt - cached) * input + cached * cached_input
 * + completion * output) / 1e6. `prompt` includes the cached tokens; cached
 * larger than prompt is clamped to prompt. */
double tg_pricing_cost(const tg_pricing_t *p, uint64_t prompt_tokens,
                       uint64_t cached_tokens, uint64_t completion_tokens);
/* Dollars for every unit of u at p's prices (tokens as above; cache-written
 * tokens, a part of the prompt, at cache_write). */
double tg_pricing_cost_units(const tg_pricing_t *p, const tg_billed_units_t *u);

#endif /* TOLLGATE_CONFIG_H */
