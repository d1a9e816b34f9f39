/* usage.c: see usage.h. The scanner relies on one property of valid JSON: a
 * quote inside a string is escaped, so an unescaped `"key"` followed by a
 * colon can only be an object key. Malformed input never reads past len. */
#define _GNU_SOURCE /* memmem */
#include "upstream/usage.h"

#include <stdbool.h>
#include <string.h>

#include "core/json.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *tg_json_find_key(const char *json, size_t len, const char *name)
{
    char quoted[64];
    size_t name_len = strlen(name);
    const char *end = json + len;
    const char *p = json;

    if (name_len + 2 > sizeof(quoted))
        return NULL;
    quoted[0] = '"';
    memcpy(quoted + 1, name, name_len);
    quoted[name_len + 1] = '"';
    while (p < end) {
        /* memmem skips through long content far faster than stepping quote by quote */
        const char *q = memmem(p, (size_t)(end - p), quoted, name_len + 2);
        if (q == NULL)
            return NULL;
        p = q + 1;
        if (q > json && q[-1] == '\\')
            continue;
        const char *v = q + name_len + 2;
        while (v < end && is_space(*v))
            v++;
        if (v >= end || *v != ':')
            continue;
        v++;
        while (v < end && is_space(*v))
            v++;
        return v < end ? v : NULL;
    }
    return NULL;
}

size_t tg_json_string_value(const char *json, size_t len, const char *name, char *out, size_t cap)
{
    const char *end = json + len, *v = tg_json_find_key(json, len, name);
    out[0] = '\0';
    if (v == NULL || *v != '"')
        return 0;
    size_t n = 0;
    for (const char *p = v + 1; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end)
            p++; /* the escaped byte is kept with its backslash dropped: a model name has none */
        if (n + 1 < cap)
            out[n++] = *p;
    }
    out[n] = '\0';
    return n;
}

/* Reads a non-negative integer value of key name within [obj, end); a
 * missing key reads as 0, anything but a plain integer (a sign, a fraction,
 * an exponent, a string) as -1. */
static long int_field(const char *obj, const char *end, const char *name)
{
    const char *v = tg_json_find_key(obj, (size_t)(end - obj), name);
    long n = 0;

    if (v == NULL || *v == 'n') /* absent or null */
        return 0;
    if (*v < '0' || *v > '9')
        return -1;
    for (; v < end && *v >= '0' && *v <= '9'; v++) {
        if (n > 1000000000L)
            return -1;
        n = n * 10 + (*v - '0');
    }
    if (v < end && (*v == '.' || *v == 'e' || *v == 'E'))
        return -1; /* 1e3 or 2.5 would otherwise read as 1 and 2 */
    return n;
}

int tg_usage_scan(const char *json, size_t len, tg_usage_t *out)
{
    const char *end = json + len;
    const char *obj = tg_json_find_key(json, len, "usage");

    memset(out, 0, sizeof(*out));
    if (obj == NULL || *obj == 'n')
        return 0;
    if (*obj != '{')
        return -1;
    const char *obj_end = tg_json_container_end(obj, end);
    if (obj_end == NULL)
        return -1;
    /* chat and completions count prompt and completion tokens; the
     * Responses API (and Anthropic's) input and output tokens */
    bool chat = tg_json_find_key(obj, (size_t)(obj_end - obj), "prompt_tokens") != NULL;
    out->prompt_tokens = int_field(obj, obj_end, chat ? "prompt_tokens" : "input_tokens");
    out->completion_tokens = int_field(obj, obj_end, chat ? "completion_tokens" : "output_tokens");
    out->cached_tokens = int_field(obj, obj_end, "cached_tokens");
    out->reasoning_tokens = int_field(obj, obj_end, "reasoning_tokens");
    if (out->prompt_tokens < 0 || out->completion_tokens < 0 || out->cached_tokens < 0 || out->reasoning_tokens < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    /* The details are parts of their totals: a provider claiming more keeps
     * the metrics' promise (prompt includes cached_prompt) only if capped. */
    if (out->cached_tokens > out->prompt_tokens)
        out->cached_tokens = out->prompt_tokens;
    if (out->reasoning_tokens > out->completion_tokens)
        out->reasoning_tokens = out->completion_tokens;
    out->present = 1;
    return 1;
}
