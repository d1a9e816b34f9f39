/*
 * labels.h - the bounded label values of the metric catalog: the enums the
 * gateway records with, their label strings, and the classification of a
 * request's path and method into them (docs/gateway-behaviour.md).
 *
 * Every name function returns "unknown" for an out-of-range value.
 */
#ifndef TG_OBS_LABELS_H
#define TG_OBS_LABELS_H

#include <stddef.h>

/* Route templates: the bounded `path` label (docs/gateway-behaviour.md). */
typedef enum obs_route {
    OBS_ROUTE_CHAT = 0,         /* /v1/chat/completions */
    OBS_ROUTE_EMBEDDINGS,       /* /v1/embeddings */
    OBS_ROUTE_MODELS,           /* /v1/models */
    OBS_ROUTE_METRICS,          /* /metrics */
    OBS_ROUTE_ANALYTICS,        /* /analytics/prometheus */
    OBS_ROUTE_PROM_CATEGORY,    /* /prometheus/metrics/{category} */
    OBS_ROUTE_HEALTH,           /* /health */
    OBS_ROUTE_READY,            /* /ready */
    OBS_ROUTE_OTHER,            /* other */
    OBS_ROUTE_COUNT
} obs_route;

/* The bounded `method` label. */
typedef enum obs_method {
    OBS_METHOD_GET = 0,
    OBS_METHOD_POST,
    OBS_METHOD_PUT,
    OBS_METHOD_DELETE,
    OBS_METHOD_PATCH,
    OBS_METHOD_HEAD,
    OBS_METHOD_OPTIONS,
    OBS_METHOD_OTHER,
    OBS_METHOD_COUNT
} obs_method;

typedef enum obs_operation {
    OBS_OP_CHAT = 0,
    OBS_OP_EMBEDDINGS,
    OBS_OP_COUNT
} obs_operation;

typedef enum obs_stream_mode {
    OBS_NON_STREAMING = 0,
    OBS_STREAMING,
    OBS_STREAM_MODE_COUNT
} obs_stream_mode;

/* llm_requests_total.status */
typedef enum obs_llm_status {
    OBS_LLM_SUCCESS = 0,
    OBS_LLM_ERROR,
    OBS_LLM_TIMEOUT,
    OBS_LLM_RATE_LIMITED,
    OBS_LLM_CLIENT_DISCONNECT,
    OBS_LLM_STATUS_COUNT
} obs_llm_status;

/* llm_retries_total.reason; also a provider's last_error in /health. */
typedef enum obs_retry_reason {
    OBS_RETRY_CONNECT = 0,
    OBS_RETRY_RESET,
    OBS_RETRY_TIMEOUT,
    OBS_RETRY_STATUS_5XX,
    OBS_RETRY_STATUS_429,
    OBS_RETRY_BAD_RESPONSE,
    OBS_RETRY_REASON_COUNT
} obs_retry_reason;

/* api_errors_total.error_type */
typedef enum obs_error_type {
    OBS_ERR_INVALID_REQUEST = 0,  /* invalid_request_error */
    OBS_ERR_AUTHENTICATION,       /* authentication_error */
    OBS_ERR_RATE_LIMIT,           /* rate_limit_error */
    OBS_ERR_UPSTREAM,             /* upstream_error */
    OBS_ERR_INTERNAL,             /* internal_error */
    OBS_ERR_TYPE_COUNT
} obs_error_type;

/* api_errors_total.error_code */
typedef enum obs_error_code {
    OBS_CODE_INVALID_JSON = 0,
    OBS_CODE_MISSING_MODEL,
    OBS_CODE_INVALID_REQUEST,
    OBS_CODE_BODY_TOO_LARGE,
    OBS_CODE_MODEL_NOT_FOUND,
    OBS_CODE_NOT_FOUND,
    OBS_CODE_METHOD_NOT_ALLOWED,
    OBS_CODE_INVALID_API_KEY,
    OBS_CODE_UPSTREAM_UNAVAILABLE,
    OBS_CODE_UPSTREAM_RATE_LIMITED,
    OBS_CODE_UPSTREAM_TIMEOUT,
    OBS_CODE_INTERNAL_ERROR,
    OBS_ERR_CODE_COUNT
} obs_error_code;

/* Label strings of the enums above (also for logs and errors). */
const char *obs_route_template(obs_route r);
const char *obs_method_name(obs_method m);
const char *obs_operation_name(obs_operation op);
const char *obs_stream_mode_name(obs_stream_mode m);
const char *obs_llm_status_name(obs_llm_status s);
const char *obs_retry_reason_name(obs_retry_reason r);
const char *obs_error_type_name(obs_error_type t);
const char *obs_error_code_name(obs_error_code c);

/* Classifies a request. path need not be NUL-terminated; a query string
 * ("?...") is ignored. For OBS_ROUTE_PROM_CATEGORY, *category (when not
 * NULL) is set to the static category name if it is one of all, system,
 * providers, models, business, performance, docs, summary, else to NULL
 * (-> 404). */
obs_route  obs_route_from_path(const char *path, size_t len, const char **category);
obs_method obs_method_from_name(const char *method, size_t len);

#endif /* TG_OBS_LABELS_H */
