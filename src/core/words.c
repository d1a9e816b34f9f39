/* words.c: the strings of core/words.h, made from the same lists, and the
 * classification of request paths and methods. */
#include "core/words.h"

#include <string.h>

#define TG_WORD_LABEL(name, label) label,
#define TG_ROUTE_TEMPLATE(name, template, method, metrics_listener, operation) template,
#define TG_ROUTE_METHOD(name, template, method, metrics_listener, operation) TG_METHOD_##method,
#define TG_ROUTE_LISTENER(name, template, method, metrics_listener, operation) metrics_listener,
#define TG_ROUTE_OPERATION(name, template, method, metrics_listener, operation) TG_OP_##operation,
#define TG_OPERATION_LABEL(name, label, path, member, streams, genai) label,
#define TG_OPERATION_PATH(name, label, path, member, streams, genai) path,
#define TG_OPERATION_MEMBER(name, label, path, member, streams, genai) member,
#define TG_OPERATION_STREAMS(name, label, path, member, streams, genai) streams,
#define TG_OPERATION_GENAI(name, label, path, member, streams, genai) genai,
static const char *const route_templates[] = {TG_ROUTE_MAP(TG_ROUTE_TEMPLATE)};
static const tg_method_t route_methods[] = {TG_ROUTE_MAP(TG_ROUTE_METHOD)};
static const bool route_metrics_listener[] = {TG_ROUTE_MAP(TG_ROUTE_LISTENER)};
static const tg_operation_t route_operations[] = {TG_ROUTE_MAP(TG_ROUTE_OPERATION)};
static const char *const operation_paths[] = {TG_OPERATION_MAP(TG_OPERATION_PATH)};
static const char *const operation_members[] = {TG_OPERATION_MAP(TG_OPERATION_MEMBER)};
static const bool operation_streams[] = {TG_OPERATION_MAP(TG_OPERATION_STREAMS)};
static const char *const operation_genai_names[] = {TG_OPERATION_MAP(TG_OPERATION_GENAI)};
static const char *const method_names[] = {TG_METHOD_MAP(TG_WORD_LABEL)};
static const char *const operation_names[] = {TG_OPERATION_MAP(TG_OPERATION_LABEL)};
static const char *const stream_mode_names[] = {TG_STREAM_MODE_MAP(TG_WORD_LABEL)};
static const char *const llm_status_names[] = {TG_LLM_STATUS_MAP(TG_WORD_LABEL)};
static const char *const retry_reason_names[] = {TG_RETRY_REASON_MAP(TG_WORD_LABEL)};
static const char *const breaker_state_names[] = {TG_BREAKER_STATE_MAP(TG_WORD_LABEL)};
static const char *const strategy_names[] = {TG_STRATEGY_MAP(TG_WORD_LABEL)};
static const char *const anomaly_type_names[] = {TG_ANOMALY_TYPE_MAP(TG_WORD_LABEL)};
static const char *const limit_reason_names[] = {TG_LIMIT_REASON_MAP(TG_WORD_LABEL)};
static const char *const cache_tier_names[] = {TG_CACHE_TIER_MAP(TG_WORD_LABEL)};
static const char *const error_type_names[] = {TG_ERROR_TYPE_MAP(TG_WORD_LABEL)};
static const char *const error_code_names[] = {TG_ERROR_CODE_MAP(TG_WORD_LABEL)};

#define NAME_OR_UNKNOWN(table, i) ((unsigned)(i) < sizeof(table) / sizeof(table[0]) ? (table)[i] : "unknown")
const char *tg_route_template(tg_route_t r) { return NAME_OR_UNKNOWN(route_templates, r); }
tg_method_t tg_route_method(tg_route_t r)
{
    return (unsigned)r < TG_ROUTE_COUNT ? route_methods[r] : TG_METHOD_OTHER;
}

bool tg_route_on_metrics_listener(tg_route_t r)
{
    return (unsigned)r < TG_ROUTE_COUNT && route_metrics_listener[r];
}

const char *tg_method_name(tg_method_t m) { return NAME_OR_UNKNOWN(method_names, m); }
const char *tg_operation_name(tg_operation_t op) { return NAME_OR_UNKNOWN(operation_names, op); }
const char *tg_operation_upstream_path(tg_operation_t op) { return NAME_OR_UNKNOWN(operation_paths, op); }
const char *tg_operation_genai_name(tg_operation_t op) { return NAME_OR_UNKNOWN(operation_genai_names, op); }
const char *tg_operation_required_member(tg_operation_t op)
{
    return (unsigned)op < TG_OP_COUNT ? operation_members[op] : NULL;
}
bool tg_operation_streams(tg_operation_t op)
{
    return (unsigned)op < TG_OP_COUNT && operation_streams[op];
}
tg_operation_t tg_route_operation(tg_route_t r)
{
    return (unsigned)r < TG_ROUTE_COUNT ? route_operations[r] : TG_OP_COUNT;
}
const char *tg_stream_mode_name(tg_stream_mode_t m) { return NAME_OR_UNKNOWN(stream_mode_names, m); }
const char *tg_llm_status_name(tg_llm_status_t s) { return NAME_OR_UNKNOWN(llm_status_names, s); }
const char *tg_retry_reason_name(tg_retry_reason_t r) { return NAME_OR_UNKNOWN(retry_reason_names, r); }
const char *tg_breaker_state_name(tg_breaker_state_t s) { return NAME_OR_UNKNOWN(breaker_state_names, s); }
const char *tg_strategy_name(tg_strategy_t s) { return NAME_OR_UNKNOWN(strategy_names, s); }
const char *tg_limit_reason_name(tg_limit_reason_t r) { return NAME_OR_UNKNOWN(limit_reason_names, r); }
const char *tg_anomaly_type_name(tg_anomaly_type_t t) { return NAME_OR_UNKNOWN(anomaly_type_names, t); }
const char *tg_cache_tier_name(tg_cache_tier_t t) { return NAME_OR_UNKNOWN(cache_tier_names, t); }
const char *tg_error_type_name(tg_error_type_t t) { return NAME_OR_UNKNOWN(error_type_names, t); }
const char *tg_error_code_name(tg_error_code_t c) { return NAME_OR_UNKNOWN(error_code_names, c); }

/* Whether path[0..len) fits template t: equal, or, for a template that
 * ends in "/{...}", its prefix and then one non-empty segment. */
static bool route_matches(const char *t, const char *path, size_t len)
{
    size_t tlen = strlen(t);
    if (tlen == 0 || t[tlen - 1] != '}')
        return tlen == len && memcmp(t, path, len) == 0;
    size_t prefix = (size_t)(strrchr(t, '{') - t);
    return len > prefix && memcmp(t, path, prefix) == 0 && memchr(path + prefix, '/', len - prefix) == NULL;
}

tg_route_t tg_route_from_path(const char *path, size_t len, const char **category)
{
    static const char *const categories[] = {"all", "system", "providers", "models", "business",
                                             "performance", "docs", "summary"};
    const char *q = memchr(path, '?', len);
    if (q)
        len = (size_t)(q - path);
    if (category)
        *category = NULL;
    for (int r = 0; r < TG_ROUTE_OTHER; r++) {
        if (!route_matches(route_templates[r], path, len))
            continue;
        if (r == TG_ROUTE_PROM_CATEGORY && category) {
            size_t plen = (size_t)(strrchr(route_templates[r], '{') - route_templates[r]);
            for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
                if (strlen(categories[i]) == len - plen && memcmp(categories[i], path + plen, len - plen) == 0)
                    *category = categories[i];
        }
        return (tg_route_t)r;
    }
    return TG_ROUTE_OTHER;
}

tg_method_t tg_method_from_name(const char *method, size_t len)
{
    for (int m = 0; m < TG_METHOD_OTHER; m++)
        if (strlen(method_names[m]) == len && memcmp(method_names[m], method, len) == 0)
            return (tg_method_t)m;
    return TG_METHOD_OTHER;
}
