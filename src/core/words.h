/* words.h: the domain words every layer of the gateway shares: routes
 * and methods, operations, stream modes, the outcome of an LLM call, the
 * kinds of upstream failure, circuit breaker states, anomaly types, and
 * the kinds and codes of client errors.
 *
 * Each is one X-macro list, and both the enum and its strings (the label
 * values of the metric catalog, the error JSON's type and code) are made
 * from it, as libuv's UV_ERRNO_MAP does, so that they cannot drift apart.
 * Every name function returns "unknown" for an out-of-range value. */
#ifndef TOLLGATE_CORE_WORDS_H
#define TOLLGATE_CORE_WORDS_H

#include <stdbool.h>
#include <stddef.h>

/* The routes: template (the `path` label), the one method each takes
 * (ANY: the endpoint answers 405 itself), whether the metrics listener
 * (metrics.listen) serves it too, and the LLM operation it is (COUNT: none).
 * A template's last segment "{...}" stands for one non-empty path segment.
 * server/routes.c gives each its stage list. */
#define TG_ROUTE_MAP(X)                                                        \
    X(CHAT, "/v1/chat/completions", POST, false, CHAT)                              \
    X(MESSAGES, "/v1/messages", POST, false, MESSAGES)                              \
    X(EMBEDDINGS, "/v1/embeddings", POST, false, EMBEDDINGS)                        \
    X(RESPONSES, "/v1/responses", POST, false, RESPONSES)                           \
    X(COMPLETIONS, "/v1/completions", POST, false, COMPLETIONS)                     \
    X(IMAGES, "/v1/images/generations", POST, false, IMAGE)                         \
    X(TRANSCRIPTIONS, "/v1/audio/transcriptions", POST, false, AUDIO_TRANSCRIPTION) \
    X(SPEECH, "/v1/audio/speech", POST, false, AUDIO_SPEECH)                        \
    X(MODELS, "/v1/models", GET, false, COUNT)                                      \
    X(MODEL, "/v1/models/{id}", GET, false, COUNT)                                  \
    X(METRICS, "/metrics", GET, true, COUNT)                                        \
    X(ANALYTICS, "/analytics/prometheus", GET, true, COUNT)                         \
    X(PROM_CATEGORY, "/prometheus/metrics/{category}", GET, true, COUNT)            \
    X(HEALTH, "/health", GET, true, COUNT)                                          \
    X(READY, "/ready", GET, true, COUNT)                                            \
    X(DASHBOARD, "/dashboard", GET, true, COUNT)                                    \
    X(ADMIN_ORGS, "/admin/v1/orgs", ANY, false, COUNT)                              \
    X(ADMIN_ORG, "/admin/v1/orgs/{name}", ANY, false, COUNT)                        \
    X(ADMIN_KEYS, "/admin/v1/keys", ANY, false, COUNT)                              \
    X(ADMIN_KEY, "/admin/v1/keys/{id}", ANY, false, COUNT)                          \
    X(ADMIN_USAGE, "/admin/v1/usage", ANY, false, COUNT)                            \
    X(ADMIN_AUDIT, "/admin/v1/audit", ANY, false, COUNT)                            \
    X(OTHER, "other", OTHER, false, COUNT)

#define TG_METHOD_MAP(X) \
    X(GET, "GET") X(POST, "POST") X(PUT, "PUT") X(DELETE, "DELETE") X(PATCH, "PATCH") X(HEAD, "HEAD") \
    X(OPTIONS, "OPTIONS") X(OTHER, "OTHER") X(ANY, "ANY")

/* The LLM operations: the `operation` label, the path an OpenAI-compatible
 * provider serves it at (after its base URL's path; Anthropic's Messages,
 * `messages`, go to OpenAI-compatible providers translated into chat, and
 * chat to Anthropic providers into messages: upstream/adapter.c), the JSON member every
 * request of it must have besides `model` (NULL: not a JSON body), and
 * whether the gateway streams its answer (SSE) when the request says
 * "stream": true; the others' answers are relayed whole whatever the
 * request says, for the provider to judge the member. The last column is
 * its OpenTelemetry GenAI name (gen_ai.operation.name, docs/metrics.md):
 * the conventions' well-known value that applies, as they require
 * (Messages and Responses are chat; images and audio their multimodal
 * generate_content). */
#define TG_OPERATION_MAP(X)                                                                                 \
    X(CHAT, "chat", "/chat/completions", "messages", true, "chat")                                          \
    X(RESPONSES, "responses", "/responses", "input", true, "chat")                                          \
    X(MESSAGES, "messages", "/chat/completions", "messages", true, "chat")                                  \
    X(COMPLETIONS, "completions", "/completions", "prompt", true, "text_completion")                        \
    X(EMBEDDINGS, "embeddings", "/embeddings", "input", false, "embeddings")                                \
    X(IMAGE, "image", "/images/generations", "prompt", false, "generate_content")                           \
    X(AUDIO_TRANSCRIPTION, "audio_transcription", "/audio/transcriptions", NULL, false, "generate_content") \
    X(AUDIO_SPEECH, "audio_speech", "/audio/speech", "input", false, "generate_content")

#define TG_STREAM_MODE_MAP(X) X(NON_STREAMING, "non_streaming") X(STREAMING, "streaming")

/* llm_requests_total.status */
#define TG_LLM_STATUS_MAP(X) \
    X(SUCCESS, "success") X(ERROR, "error") X(TIMEOUT, "timeout") X(RATE_LIMITED, "rate_limited") \
    X(CLIENT_DISCONNECT, "client_disconnect")

/* Why an upstream attempt failed: llm_retries_total.reason, a provider's
 * last_error in /health. */
#define TG_RETRY_REASON_MAP(X) \
    X(CONNECT, "connect") X(RESET, "reset") X(TIMEOUT, "timeout") X(STATUS_5XX, "status_5xx") \
    X(STATUS_429, "status_429") X(BAD_RESPONSE, "bad_response")

/* A provider's circuit breaker (health/): provider_circuit_breaker_state
 * is the enum's value (0, 1, 2), the provider_circuit_breaker stateset's
 * states and /health's circuit_breaker are the strings. */
#define TG_BREAKER_STATE_MAP(X) X(CLOSED, "closed") X(OPEN, "open") X(HALF_OPEN, "half_open")

/* rate_limited_requests_total.reason: which limit refused a request */
#define TG_LIMIT_REASON_MAP(X) X(RPM, "rpm") X(TPM, "tpm") X(CONCURRENCY, "concurrency") X(BUDGET, "budget")

/* How a model orders its routes (config `strategy`; pipeline/route.c). */
#define TG_STRATEGY_MAP(X) \
    X(PRIORITY, "priority") X(WEIGHTED, "weighted") X(LOWEST_LATENCY, "lowest_latency") X(HEALTH_SCORE, "health_score")

/* What the anomaly detector (health/anomaly.h) finds:
 * detected_anomalies_total.type */
#define TG_ANOMALY_TYPE_MAP(X) \
    X(LATENCY_SPIKE, "latency_spike") X(ERROR_SURGE, "error_surge") X(UNUSUAL_PATTERN, "unusual_pattern")

/* The response cache's tiers (docs/cache.md): cache_*_total.tier, the
 * ledger's and the access log's cache_tier */
#define TG_CACHE_TIER_MAP(X) X(MEMORY, "memory") X(SQLITE, "sqlite")

/* api_errors_total.error_type, the error JSON's type */
#define TG_ERROR_TYPE_MAP(X) \
    X(INVALID_REQUEST, "invalid_request_error") X(AUTHENTICATION, "authentication_error") \
    X(PERMISSION, "permission_error") X(REQUESTS, "requests") X(TOKENS, "tokens") \
    X(INSUFFICIENT_QUOTA, "insufficient_quota") \
    X(RATE_LIMIT, "rate_limit_error") X(UPSTREAM, "upstream_error") X(INTERNAL, "internal_error")

/* api_errors_total.error_code, the error JSON's code */
#define TG_ERROR_CODE_MAP(X) \
    X(INVALID_JSON, "invalid_json") X(MISSING_MODEL, "missing_model") X(INVALID_REQUEST, "invalid_request") \
    X(BODY_TOO_LARGE, "body_too_large") X(MODEL_NOT_FOUND, "model_not_found") X(NOT_FOUND, "not_found") \
    X(METHOD_NOT_ALLOWED, "method_not_allowed") X(INVALID_API_KEY, "invalid_api_key") \
    X(UPSTREAM_UNAVAILABLE, "upstream_unavailable") X(UPSTREAM_RATE_LIMITED, "upstream_rate_limited") \
    X(UPSTREAM_TIMEOUT, "upstream_timeout") X(UPSTREAM_STREAM_BROKEN, "upstream_stream_broken") \
    X(ALL_PROVIDERS_UNAVAILABLE, "all_providers_unavailable") \
    X(MODEL_NOT_ALLOWED, "model_not_allowed") X(STORE_UNAVAILABLE, "store_unavailable") \
    X(RATE_LIMIT_EXCEEDED, "rate_limit_exceeded") X(INSUFFICIENT_QUOTA, "insufficient_quota") \
    X(ALREADY_EXISTS, "already_exists") X(KEY_REVOKED, "key_revoked") \
    X(INTERNAL_ERROR, "internal_error")


#define TG_ROUTE_ENUM(name, template, method, metrics_listener, operation) TG_ROUTE_##name,
typedef enum tg_route { TG_ROUTE_MAP(TG_ROUTE_ENUM) TG_ROUTE_COUNT } tg_route_t;
#define TG_METHOD_ENUM(name, label) TG_METHOD_##name,
typedef enum tg_method { TG_METHOD_MAP(TG_METHOD_ENUM) TG_METHOD_COUNT } tg_method_t;
#define TG_OPERATION_ENUM(name, label, path, member, streams, genai) TG_OP_##name,
typedef enum tg_operation { TG_OPERATION_MAP(TG_OPERATION_ENUM) TG_OP_COUNT } tg_operation_t;
#define TG_STREAM_MODE_ENUM(name, label) TG_##name,
typedef enum tg_stream_mode { TG_STREAM_MODE_MAP(TG_STREAM_MODE_ENUM) TG_STREAM_MODE_COUNT } tg_stream_mode_t;
#define TG_LLM_STATUS_ENUM(name, label) TG_LLM_##name,
typedef enum tg_llm_status { TG_LLM_STATUS_MAP(TG_LLM_STATUS_ENUM) TG_LLM_STATUS_COUNT } tg_llm_status_t;
#define TG_RETRY_REASON_ENUM(name, label) TG_RETRY_##name,
typedef enum tg_retry_reason { TG_RETRY_REASON_MAP(TG_RETRY_REASON_ENUM) TG_RETRY_REASON_COUNT } tg_retry_reason_t;
#define TG_BREAKER_STATE_ENUM(name, label) TG_BREAKER_##name,
typedef enum tg_breaker_state { TG_BREAKER_STATE_MAP(TG_BREAKER_STATE_ENUM) TG_BREAKER_STATE_COUNT } tg_breaker_state_t;
#define TG_LIMIT_REASON_ENUM(name, label) TG_LIMIT_##name,
typedef enum tg_limit_reason { TG_LIMIT_REASON_MAP(TG_LIMIT_REASON_ENUM) TG_LIMIT_REASON_COUNT } tg_limit_reason_t;
#define TG_STRATEGY_ENUM(name, label) TG_STRATEGY_##name,
typedef enum tg_strategy { TG_STRATEGY_MAP(TG_STRATEGY_ENUM) TG_STRATEGY_COUNT } tg_strategy_t;
#define TG_ANOMALY_TYPE_ENUM(name, label) TG_ANOMALY_##name,
typedef enum tg_anomaly_type { TG_ANOMALY_TYPE_MAP(TG_ANOMALY_TYPE_ENUM) TG_ANOMALY_TYPE_COUNT } tg_anomaly_type_t;
#define TG_CACHE_TIER_ENUM(name, label) TG_CACHE_TIER_##name,
typedef enum tg_cache_tier { TG_CACHE_TIER_MAP(TG_CACHE_TIER_ENUM) TG_CACHE_TIER_COUNT } tg_cache_tier_t;
#define TG_ERROR_TYPE_ENUM(name, label) TG_ERR_##name,
typedef enum tg_error_type { TG_ERROR_TYPE_MAP(TG_ERROR_TYPE_ENUM) TG_ERR_TYPE_COUNT } tg_error_type_t;
#define TG_ERROR_CODE_ENUM(name, label) TG_CODE_##name,
typedef enum tg_error_code { TG_ERROR_CODE_MAP(TG_ERROR_CODE_ENUM) TG_ERR_CODE_COUNT } tg_error_code_t;

const char *tg_strategy_name(tg_strategy_t s);
const char *tg_route_template(tg_route_t r);
tg_method_t tg_route_method(tg_route_t r);       /* TG_METHOD_OTHER for TG_ROUTE_OTHER */
bool tg_route_on_metrics_listener(tg_route_t r);
const char *tg_method_name(tg_method_t m);
const char *tg_operation_name(tg_operation_t op);
const char *tg_operation_upstream_path(tg_operation_t op);   /* "/chat/completions" */
const char *tg_operation_required_member(tg_operation_t op); /* "messages"; NULL: none or not JSON */
bool tg_operation_streams(tg_operation_t op);                 /* chat, responses, completions */
const char *tg_operation_genai_name(tg_operation_t op);       /* gen_ai.operation.name: "text_completion" */
tg_operation_t tg_route_operation(tg_route_t r);              /* TG_OP_COUNT: not an LLM route */
const char *tg_stream_mode_name(tg_stream_mode_t m);
const char *tg_llm_status_name(tg_llm_status_t s);
const char *tg_retry_reason_name(tg_retry_reason_t r);
const char *tg_breaker_state_name(tg_breaker_state_t s);
const char *tg_anomaly_type_name(tg_anomaly_type_t t);
const char *tg_limit_reason_name(tg_limit_reason_t r);
const char *tg_cache_tier_name(tg_cache_tier_t t);
const char *tg_error_type_name(tg_error_type_t t);
const char *tg_error_code_name(tg_error_code_t c);

/* Classifies a request. path need not be NUL-terminated; a query string
 * ("?...") is ignored. For TG_ROUTE_PROM_CATEGORY, *category (when not
 * NULL) is set to the static category name if it is one of all, system,
 * providers, models, business, performance, docs, summary, else to NULL
 * (-> 404). */
tg_route_t tg_route_from_path(const char *path, size_t len, const char **category);
tg_method_t tg_method_from_name(const char *method, size_t len);

#endif
