/*
 * mock-llm run-time settings: the process-wide faults and usage knobs set by
 * flags or by POST /mock/config, and their per-request resolution against
 * the X-Mock-* request headers.
 *
 * Every worker thread reads the settings on each request while /mock/config
 * may change them, so each is a relaxed atomic: a request racing a config
 * change may see a mix of old and new values, which is fine for a mock.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "mock.h"

static _Atomic uint32_t latency_ms;
static _Atomic uint32_t token_delay_ms;
static _Atomic int status;
static _Atomic int fault;
static _Atomic uint32_t retry_after = 1;
static _Atomic uint32_t fail_first;
/* How many more API requests get the process faults; -1: all of them. */
static _Atomic int64_t fail_budget = -1;

/* The usage knobs: each a number and its /mock/config member, its header,
 * its upper bound (also as text, for the error message). */
#define KNOBS(X)                                                                                    \
    X(output_tokens, "x-mock-output-tokens", MOCK_MAX_COMPLETION_TOKENS, "4096")                    \
    X(cached_tokens, "x-mock-cached-tokens", UINT32_MAX, "4294967295")                              \
    X(reasoning_tokens, "x-mock-reasoning-tokens", UINT32_MAX, "4294967295")                        \
    X(cache_read_tokens, "x-mock-cache-read", UINT32_MAX, "4294967295")                             \
    X(cache_write_tokens, "x-mock-cache-write", UINT32_MAX, "4294967295")

#define X(name, header, max, max_text) static _Atomic uint32_t knob_##name;
KNOBS(X)
#undef X

static const char *const fault_names[] = {
    [MOCK_FAULT_NONE] = "",
    [MOCK_FAULT_RESET] = "reset",
    [MOCK_FAULT_HANG] = "hang",
    [MOCK_FAULT_MALFORMED] = "malformed",
    [MOCK_FAULT_TRUNCATE] = "truncate",
    [MOCK_FAULT_ROLE_CHUNK] = "role_chunk",
};

int mock_fault_from_name(const char *name, size_t len, enum mock_fault *out)
{
    for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
        if (strlen(fault_names[i]) == len && h2o_lcstris(name, len, fault_names[i], len)) {
            *out = (enum mock_fault)i;
            return 0;
        }
    }
    return -1;
}

int mock_status_is_valid(long code)
{
    return code == 0 || (code >= 400 && code <= 599);
}

static void set_fail_first(uint32_t n)
{
    atomic_store_explicit(&fail_first, n, memory_order_relaxed);
    atomic_store_explicit(&fail_budget, n == 0 ? -1 : (int64_t)n, memory_order_relaxed);
}

void mock_faults_init(const struct mock_settings *s)
{
    atomic_store_explicit(&latency_ms, s->latency_ms, memory_order_relaxed);
    atomic_store_explicit(&token_delay_ms, s->token_delay_ms, memory_order_relaxed);
    atomic_store_explicit(&status, s->status, memory_order_relaxed);
    atomic_store_explicit(&fault, s->fault, memory_order_relaxed);
    atomic_store_explicit(&retry_after, s->retry_after, memory_order_relaxed);
    set_fail_first(s->fail_first);
#define X(name, header, max, max_text) atomic_store_explicit(&knob_##name, s->knobs.name, memory_order_relaxed);
    KNOBS(X)
#undef X
}

void mock_faults_snapshot(struct mock_settings *s)
{
    s->latency_ms = atomic_load_explicit(&latency_ms, memory_order_relaxed);
    s->token_delay_ms = atomic_load_explicit(&token_delay_ms, memory_order_relaxed);
    s->status = atomic_load_explicit(&status, memory_order_relaxed);
    s->fault = (enum mock_fault)atomic_load_explicit(&fault, memory_order_relaxed);
    s->retry_after = atomic_load_explicit(&retry_after, memory_order_relaxed);
    s->fail_first = atomic_load_explicit(&fail_first, memory_order_relaxed);
#define X(name, header, max, max_text) s->knobs.name = atomic_load_explicit(&knob_##name, memory_order_relaxed);
    KNOBS(X)
#undef X
}

/* Takes one unit of the --fail-first budget; false once it is spent. */
static int take_fail_budget(void)
{
    int64_t left = atomic_load_explicit(&fail_budget, memory_order_relaxed);
    while (left > 0 && !atomic_compare_exchange_weak_explicit(&fail_budget, &left, left - 1, memory_order_relaxed,
                                                              memory_order_relaxed))
        ;
    return left != 0;
}

int mock_header_number(const h2o_req_t *req, const char *lc_name, uint64_t limit, uint64_t *out)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, lc_name, strlen(lc_name), -1);
    if (i == -1)
        return 0;
    const h2o_iovec_t *value = &req->headers.entries[i].value;
    uint64_t n = 0;
    size_t digits = 0;
    for (; digits < value->len && value->base[digits] >= '0' && value->base[digits] <= '9'; digits++) {
        n = n * 10 + (uint64_t)(value->base[digits] - '0');
        if (n > limit)
            n = limit;
    }
    if (digits == 0 || digits != value->len)
        return 0;
    *out = n;
    return 1;
}

void mock_faults_plan(const h2o_req_t *req, struct mock_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->retry_after = atomic_load_explicit(&retry_after, memory_order_relaxed);
    if (take_fail_budget()) {
        plan->latency_ms = atomic_load_explicit(&latency_ms, memory_order_relaxed);
        plan->token_delay_ms = atomic_load_explicit(&token_delay_ms, memory_order_relaxed);
        plan->status = atomic_load_explicit(&status, memory_order_relaxed);
        plan->fault = (enum mock_fault)atomic_load_explicit(&fault, memory_order_relaxed);
    }

    uint64_t n;
    /* a header of 0 unsets a knob for this request */
#define X(name, header, max, max_text)                                                              \
    plan->knobs.name = atomic_load_explicit(&knob_##name, memory_order_relaxed);                    \
    if (mock_header_number(req, header, max, &n))                                                   \
        plan->knobs.name = (uint32_t)n;
    KNOBS(X)
#undef X
    if (mock_header_number(req, "x-mock-latency-ms", MOCK_MAX_DELAY_MS, &n))
        plan->latency_ms = (uint32_t)n;
    if (mock_header_number(req, "x-mock-token-delay-ms", MOCK_MAX_DELAY_MS, &n))
        plan->token_delay_ms = (uint32_t)n;
    if (mock_header_number(req, "x-mock-retry-after", 86400, &n))
        plan->retry_after = (uint32_t)n;
    if (mock_header_number(req, "x-mock-status", 1000, &n) && mock_status_is_valid((long)n))
        plan->status = (int)n;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-mock-fault"), -1);
    if (i != -1) {
        enum mock_fault f;
        if (mock_fault_from_name(req->headers.entries[i].value.base, req->headers.entries[i].value.len, &f) == 0)
            plan->fault = f;
    }
}

/* Reads an optional non-negative integer member of a /mock/config object. */
static int config_number(json_t *config, const char *key, json_int_t max, json_int_t *out, int *present)
{
    json_t *v = json_object_get(config, key);
    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

int mock_faults_configure(json_t *config, const char **error)
{
    json_int_t latency = 0, token_delay = 0, code = 0, first = 0, retry = 0;
    int has_latency, has_token_delay, has_status, has_first, has_retry;
    enum mock_fault new_fault = MOCK_FAULT_NONE;
#define X(name, header, max, max_text) json_int_t name = 0; int has_##name;
    KNOBS(X)
#undef X

    if (!json_is_object(config)) {
        *error = "the config must be a JSON object";
        return -1;
    }
#define X(name, header, max, max_text)                                                              \
    if (config_number(config, #name, max, &name, &has_##name) != 0) {                               \
        *error = #name " must be an integer from 0 to " max_text;                                   \
        return -1;                                                                                  \
    }
    KNOBS(X)
#undef X
    if (config_number(config, "latency_ms", MOCK_MAX_DELAY_MS, &latency, &has_latency) != 0 ||
        config_number(config, "token_delay_ms", MOCK_MAX_DELAY_MS, &token_delay, &has_token_delay) != 0 ||
        config_number(config, "fail_first", UINT32_MAX, &first, &has_first) != 0 ||
        config_number(config, "retry_after", 86400, &retry, &has_retry) != 0) {
        *error = "latency_ms, token_delay_ms, fail_first and retry_after must be non-negative integers";
        return -1;
    }
    if (config_number(config, "status", 599, &code, &has_status) != 0 || !mock_status_is_valid((long)code)) {
        *error = "status must be 0 or an HTTP status from 400 to 599";
        return -1;
    }
    json_t *f = json_object_get(config, "fault");
    if (f != NULL && (!json_is_string(f) || mock_fault_from_name(json_string_value(f), json_string_length(f), &new_fault) != 0)) {
        *error = "fault must be one of \"\", \"reset\", \"hang\", \"malformed\", \"truncate\", \"role_chunk\"";
        return -1;
    }

    if (has_latency)
        atomic_store_explicit(&latency_ms, (uint32_t)latency, memory_order_relaxed);
    if (has_token_delay)
        atomic_store_explicit(&token_delay_ms, (uint32_t)token_delay, memory_order_relaxed);
    if (has_status)
        atomic_store_explicit(&status, (int)code, memory_order_relaxed);
    if (f != NULL)
        atomic_store_explicit(&fault, new_fault, memory_order_relaxed);
    if (has_retry)
        atomic_store_explicit(&retry_after, (uint32_t)retry, memory_order_relaxed);
    if (has_first)
        set_fail_first((uint32_t)first);
#define X(name, header, max, max_text)                                                              \
    if (has_##name)                                                                                 \
        atomic_store_explicit(&knob_##name, (uint32_t)name, memory_order_relaxed);
    KNOBS(X)
#undef X
    return 0;
}

const char *mock_fault_name(enum mock_fault f)
{
    return fault_names[f];
}
