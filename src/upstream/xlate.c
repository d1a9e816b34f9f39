/* xlate.c: see xlate.h. */
#include "upstream/xlate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tg_xlate_error_get(const tg_xlate_error_t *x, tg_error_t *e)
{
    if (x->status == 400)
        tg_error_set(e, 400, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST, x->message, NULL);
    else if (x->status == 502)
        tg_error_set(e, 502, TG_ERR_UPSTREAM, TG_CODE_UPSTREAM_UNAVAILABLE, x->message, NULL);
    else
        tg_error_set(e, 500, TG_ERR_INTERNAL, TG_CODE_INTERNAL_ERROR, x->message, NULL);
    e->param = x->param[0] != '\0' ? x->param : NULL;
}

void tg_xlate_init(tg_xlate_ctx_t *c, tg_xlate_error_t *err, int status)
{
    c->err = err;
    c->status = status;
    c->path[0] = '\0';
    c->path_len = 0;
    memset(err, 0, sizeof(*err));
}

static size_t push(tg_xlate_ctx_t *c, const char *fmt, const char *key, size_t i)
{
    size_t mark = c->path_len;
    size_t room = sizeof(c->path) - c->path_len;
    int n = key != NULL ? snprintf(c->path + c->path_len, room, fmt, key) : snprintf(c->path + c->path_len, room, fmt, i);
    if (n > 0)
        c->path_len += (size_t)n < room ? (size_t)n : room - 1;
    return mark;
}

size_t tg_xlate_push_key(tg_xlate_ctx_t *c, const char *key)
{
    return push(c, c->path_len == 0 ? "%s" : ".%s", key, 0);
}

size_t tg_xlate_push_index(tg_xlate_ctx_t *c, size_t i)
{
    return push(c, "[%zu]", NULL, i);
}

void tg_xlate_pop(tg_xlate_ctx_t *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

int tg_xlate_fail(tg_xlate_ctx_t *c, int status, const char *fmt, ...)
{
    va_list ap;
    if (c->err->status != 0)
        return -1; /* the first cause is the one to report */
    c->err->status = status;
    memcpy(c->err->param, c->path, c->path_len + 1);
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
    va_end(ap);
    return -1;
}

int tg_xlate_oom(tg_xlate_ctx_t *c)
{
    return tg_xlate_fail(c, 500, "out of memory while translating");
}

int tg_xlate_collect(tg_xlate_ctx_t *c, const json_t *obj, const tg_xlate_field_t *fields, size_t n,
                     json_t **slots)
{
    const char *key;
    json_t *v;

    for (size_t i = 0; i < n; i++)
        slots[i] = NULL;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key) != 0)
            i++;
        size_t mark = tg_xlate_push_key(c, key);
        if (i == n)
            return tg_xlate_fail(c, 400, "unknown parameter '%s': it cannot be translated", key);
        if (!json_is_null(v)) {
            if (fields[i].refusal == NULL)
                slots[i] = v;
            else if (fields[i].neutral == NULL || !fields[i].neutral(v))
                return tg_xlate_fail(c, 400, "'%s' cannot be translated: %s", key, fields[i].refusal);
        }
        tg_xlate_pop(c, mark);
    }
    return 0;
}

int tg_xlate_is_false(const json_t *v)
{
    return json_is_false(v);
}

int tg_xlate_is_zero(const json_t *v)
{
    return json_is_number(v) && json_number_value(v) == 0;
}

int tg_xlate_is_one(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) == 1;
}

int tg_xlate_is_empty(const json_t *v)
{
    return (json_is_string(v) && json_string_length(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

static int want(tg_xlate_ctx_t *c, int ok, const char *key, const char *what)
{
    if (ok)
        return 0;
    if (key != NULL)
        tg_xlate_push_key(c, key); /* the path names the field in the error, then stays so */
    return tg_xlate_fail(c, c->status, "must be %s", what);
}

const char *tg_xlate_string(tg_xlate_ctx_t *c, const json_t *v, const char *key)
{
    return want(c, json_is_string(v), key, "a string") == 0 ? json_string_value(v) : NULL;
}

int tg_xlate_object(tg_xlate_ctx_t *c, const json_t *v, const char *key)
{
    return want(c, json_is_object(v), key, "an object");
}

int tg_xlate_array(tg_xlate_ctx_t *c, const json_t *v, const char *key)
{
    return want(c, json_is_array(v), key, "an array");
}

json_t *tg_xlate_load(tg_xlate_ctx_t *c, const char *body, size_t len)
{
    int status = c->status;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        tg_xlate_fail(c, status, "the body is not valid JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        tg_xlate_fail(c, status, "the body is not a JSON object");
        return NULL;
    }
    return root;
}

int tg_xlate_set(tg_xlate_ctx_t *c, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return tg_xlate_oom(c);
    return 0;
}

int tg_xlate_set_all(tg_xlate_ctx_t *c, json_t *obj, ...)
{
    va_list ap;
    const char *key;
    int rc = 0;

    va_start(ap, obj);
    while ((key = va_arg(ap, const char *)) != NULL) {
        json_t *v = va_arg(ap, json_t *);
        if (rc == 0)
            rc = tg_xlate_set(c, obj, key, v);
        else
            json_decref(v);
    }
    va_end(ap);
    return rc;
}

int tg_xlate_append(tg_xlate_ctx_t *c, json_t *arr, json_t *v)
{
    if (v == NULL || json_array_append_new(arr, v) != 0)
        return tg_xlate_oom(c);
    return 0;
}

char *tg_xlate_dump(tg_xlate_ctx_t *c, const json_t *root, size_t *out_len)
{
    /* 15 digits: a client's 0.7 goes out as 0.7, not 0.69999999999999996 */
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s == NULL) {
        tg_xlate_oom(c);
        return NULL;
    }
    if (out_len != NULL)
        *out_len = strlen(s);
    return s;
}

static const struct {
    const char *anthropic, *chat;
} stop_map[] = {
#define TG_XLATE_STOP_ROW(anthropic, chat) {anthropic, chat},
    TG_XLATE_STOP_MAP(TG_XLATE_STOP_ROW)
#undef TG_XLATE_STOP_ROW
};

const char *tg_xlate_finish_reason(const char *stop_reason)
{
    for (size_t i = 0; i < sizeof(stop_map) / sizeof(stop_map[0]); i++)
        if (strcmp(stop_map[i].anthropic, stop_reason) == 0)
            return stop_map[i].chat;
    return NULL;
}

const char *tg_xlate_stop_reason(const char *finish_reason)
{
    for (size_t i = 0; i < sizeof(stop_map) / sizeof(stop_map[0]); i++)
        if (strcmp(stop_map[i].chat, finish_reason) == 0)
            return stop_map[i].anthropic;
    return NULL;
}

/* Reads obj[key] into *out when it is a count; 0 absent, 1 read, -1 not a
 * count. */
static int count(const json_t *obj, const char *key, long *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)1e15)
        return -1;
    *out = (long)json_integer_value(v);
    return 1;
}

void tg_xlate_usage_from_anthropic(const json_t *usage, tg_xlate_usage_t *u)
{
    long input = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
    long read = u->cached_tokens, write = u->cache_write_tokens, output = u->completion_tokens;
    if (!json_is_object(usage))
        return;
    if (count(usage, "input_tokens", &input) < 0 || count(usage, "output_tokens", &output) < 0 ||
        count(usage, "cache_read_input_tokens", &read) < 0 ||
        count(usage, "cache_creation_input_tokens", &write) < 0) {
        u->present = 0;
        return;
    }
    u->prompt_tokens = input + read + write;
    u->cached_tokens = read;
    u->cache_write_tokens = write;
    u->completion_tokens = output;
    u->present = 1;
}

void tg_xlate_usage_from_chat(const json_t *usage, tg_xlate_usage_t *u)
{
    long prompt = u->prompt_tokens, completion = u->completion_tokens, cached = u->cached_tokens;
    if (!json_is_object(usage))
        return;
    const json_t *details = json_object_get(usage, "prompt_tokens_details");
    if (count(usage, "prompt_tokens", &prompt) < 0 || count(usage, "completion_tokens", &completion) < 0 ||
        (json_is_object(details) && count(details, "cached_tokens", &cached) < 0)) {
        u->present = 0;
        return;
    }
    u->prompt_tokens = prompt;
    u->cached_tokens = cached < prompt ? cached : prompt; /* part of the prompt, never more */
    u->completion_tokens = completion;
    u->present = 1;
}

json_t *tg_xlate_usage_chat(const tg_xlate_usage_t *u)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)u->prompt_tokens, "completion_tokens",
                     (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)(u->prompt_tokens + u->completion_tokens), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)u->cached_tokens);
}

json_t *tg_xlate_usage_anthropic(const tg_xlate_usage_t *u)
{
    long input = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)(input > 0 ? input : 0),
                     "cache_creation_input_tokens", (json_int_t)u->cache_write_tokens, "cache_read_input_tokens",
                     (json_int_t)u->cached_tokens, "output_tokens", (json_int_t)u->completion_tokens);
}

const char *tg_xlate_anthropic_error_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}
