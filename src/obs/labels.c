/*
 * labels.c - label strings of the catalog's bounded label values and the
 * classification of request paths and methods (labels.h).
 */
#include "labels.h"

#include <string.h>

static const char *const route_templates[OBS_ROUTE_COUNT] = {
    "/v1/chat/completions", "/v1/embeddings", "/v1/models", "/metrics",
    "/analytics/prometheus", "/prometheus/metrics/{category}", "/health", "/ready", "other",
};
static const char *const method_names[OBS_METHOD_COUNT] = {
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER",
};
static const char *const operation_names[OBS_OP_COUNT] = {"chat", "embeddings"};
static const char *const stream_mode_names[OBS_STREAM_MODE_COUNT] = {"non_streaming", "streaming"};
static const char *const llm_status_names[OBS_LLM_STATUS_COUNT] = {
    "success", "error", "timeout", "rate_limited", "client_disconnect",
};
static const char *const retry_reason_names[OBS_RETRY_REASON_COUNT] = {
    "connect", "reset", "timeout", "status_5xx", "status_429", "bad_response",
};
static const char *const error_type_names[OBS_ERR_TYPE_COUNT] = {
    "invalid_request_error", "authentication_error", "rate_limit_error", "upstream_error",
    "internal_error",
};
static const char *const error_code_names[OBS_ERR_CODE_COUNT] = {
    "invalid_json", "missing_model", "invalid_request", "body_too_large", "model_not_found",
    "not_found", "method_not_allowed", "invalid_api_key", "upstream_unavailable",
    "upstream_rate_limited", "upstream_timeout", "internal_error",
};

#define NAME_OR_UNKNOWN(table, i, n) ((unsigned)(i) < (n) ? (table)[i] : "unknown")
const char *obs_route_template(obs_route r) { return NAME_OR_UNKNOWN(route_templates, r, OBS_ROUTE_COUNT); }
const char *obs_method_name(obs_method m) { return NAME_OR_UNKNOWN(method_names, m, OBS_METHOD_COUNT); }
const char *obs_operation_name(obs_operation op) { return NAME_OR_UNKNOWN(operation_names, op, OBS_OP_COUNT); }
const char *obs_stream_mode_name(obs_stream_mode m) { return NAME_OR_UNKNOWN(stream_mode_names, m, OBS_STREAM_MODE_COUNT); }
const char *obs_llm_status_name(obs_llm_status s) { return NAME_OR_UNKNOWN(llm_status_names, s, OBS_LLM_STATUS_COUNT); }
const char *obs_retry_reason_name(obs_retry_reason r) { return NAME_OR_UNKNOWN(retry_reason_names, r, OBS_RETRY_REASON_COUNT); }
const char *obs_error_type_name(obs_error_type t) { return NAME_OR_UNKNOWN(error_type_names, t, OBS_ERR_TYPE_COUNT); }
const char *obs_error_code_name(obs_error_code c) { return NAME_OR_UNKNOWN(error_code_names, c, OBS_ERR_CODE_COUNT); }

obs_route obs_route_from_path(const char *path, size_t len, const char **category)
{
    static const char prom_prefix[] = "/prometheus/metrics/";
    const char *q = memchr(path, '?', len);
    if (q)
        len = (size_t)(q - path);
    if (category)
        *category = NULL;
    for (int r = 0; r < OBS_ROUTE_OTHER; r++) {
        if (r == OBS_ROUTE_PROM_CATEGORY)
            continue;
        if (strlen(route_templates[r]) == len && memcmp(route_templates[r], path, len) == 0)
            return (obs_route)r;
    }
    size_t plen = sizeof(prom_prefix) - 1;
    if (len > plen && memcmp(path, prom_prefix, plen) == 0) {
        const char *name = path + plen;
        size_t name_len = len - plen;
        static const char *const valid[] = {"all", "system", "providers", "models", "business",
                                            "performance", "docs", "summary"};
        for (size_t i = 0; category && i < sizeof(valid) / sizeof(valid[0]); i++)
            if (strlen(valid[i]) == name_len && memcmp(valid[i], name, name_len) == 0)
                *category = valid[i];
        if (memchr(name, '/', name_len) == NULL)
            return OBS_ROUTE_PROM_CATEGORY;
    }
    return OBS_ROUTE_OTHER;
}

obs_method obs_method_from_name(const char *method, size_t len)
{
    for (int m = 0; m < OBS_METHOD_OTHER; m++)
        if (strlen(method_names[m]) == len && memcmp(method_names[m], method, len) == 0)
            return (obs_method)m;
    return OBS_METHOD_OTHER;
}
