/*
 * mock-llm output buffers and JSON plumbing.
 *
 * Responses are written into buffers in the request's memory pool, and
 * jansson allocates from the same pool while a request is being answered,
 * so an answer costs no malloc/free and is released with its request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mock.h"

void mock_buf_init(struct mock_buf *buf, h2o_mem_pool_t *pool, size_t cap)
{
    buf->pool = pool;
    buf->base = h2o_mem_alloc_pool(pool, cap);
    buf->len = 0;
    buf->cap = cap;
}

/* The old buffer stays in the pool until the request ends: cheaper than
 * tracking it, and responses are sized up front so this is rare. */
static void buf_reserve(struct mock_buf *buf, size_t extra)
{
    if (buf->cap - buf->len >= extra)
        return;
    size_t cap = buf->cap * 2;
    while (cap - buf->len < extra)
        cap *= 2;
    char *bigger = h2o_mem_alloc_pool(buf->pool, cap);
    memcpy(bigger, buf->base, buf->len);
    buf->base = bigger;
    buf->cap = cap;
}

void mock_buf_append(struct mock_buf *buf, const char *bytes, size_t len)
{
    buf_reserve(buf, len);
    memcpy(buf->base + buf->len, bytes, len);
    buf->len += len;
}

void mock_buf_printf(struct mock_buf *buf, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf->base + buf->len, buf->cap - buf->len, fmt, args);
    va_end(args);
    if (n < 0)
        return;
    if ((size_t)n >= buf->cap - buf->len) {
        buf_reserve(buf, (size_t)n + 1);
        va_start(args, fmt);
        vsnprintf(buf->base + buf->len, buf->cap - buf->len, fmt, args);
        va_end(args);
    }
    buf->len += (size_t)n;
}

size_t mock_json_escape(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 0xf];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return (size_t)(p - out);
}

void mock_buf_json_string(struct mock_buf *buf, const char *s, size_t len)
{
    buf_reserve(buf, MOCK_JSON_ESCAPED_MAX(len));
    buf->len += mock_json_escape(buf->base + buf->len, s, len);
}

void mock_buf_json(struct mock_buf *buf, const json_t *value)
{
    size_t len = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    buf_reserve(buf, len);
    buf->len += json_dumpb(value, buf->base + buf->len, len, JSON_COMPACT | JSON_ENCODE_ANY);
}

void mock_buf_base64(struct mock_buf *buf, const void *bytes, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = bytes;
    buf_reserve(buf, (len + 2) / 3 * 4);
    char *out = buf->base + buf->len;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t triple = (uint32_t)in[i] << 16 | (left > 1 ? (uint32_t)in[i + 1] << 8 : 0) | (left > 2 ? in[i + 2] : 0);
        *out++ = alphabet[triple >> 18];
        *out++ = alphabet[(triple >> 12) & 63];
        *out++ = left > 1 ? alphabet[(triple >> 6) & 63] : '=';
        *out++ = left > 2 ? alphabet[triple & 63] : '=';
    }
    buf->len = (size_t)(out - buf->base);
}

/* The pool jansson allocates from on this thread; NULL outside a scope,
 * where jansson falls back to malloc. */
static _Thread_local h2o_mem_pool_t *scope_pool;

static void *json_alloc(size_t size)
{
    return scope_pool != NULL ? h2o_mem_alloc_pool(scope_pool, size) : malloc(size);
}

/* Memory from the pool is released with the request, all at once. */
static void json_release(void *p)
{
    if (scope_pool == NULL)
        free(p);
}

void mock_json_setup(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
    /* jansson seeds its hash function on first use; do it before threads race to it. */
    json_object_seed(0);
}

void mock_json_scope(h2o_mem_pool_t *pool)
{
    scope_pool = pool;
}

json_t *mock_json_parse(h2o_req_t *req)
{
    if (req->entity.base == NULL)
        return NULL;
    return json_loadb(req->entity.base, req->entity.len, 0, NULL);
}

const char *mock_json_string(json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}
