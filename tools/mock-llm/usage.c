/*
 * mock-llm token accounting and JSON plumbing.
 *
 * The usage numbers are a pure function of the request (see README.md,
 * "Deterministic usage") so that tests can predict them exactly. The JSON
 * helpers keep the per-request cost to h2o's memory pool: responses are
 * written into pool buffers, and jansson parses into the same pool.
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

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

size_t mock_words(const char *s, size_t len)
{
    size_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        int space = is_space((unsigned char)s[i]);
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}

/* words() of a message content: a string, or an array of parts whose `text`
 * members count; null (e.g. an assistant message with tool calls) is empty. */
static int content_words(json_t *content, uint64_t *words)
{
    *words = 0;
    if (content == NULL || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        *words = mock_words(json_string_value(content), json_string_length(content));
        return 0;
    }
    if (!json_is_array(content))
        return -1;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *text = json_object_get(part, "text");
        if (json_is_string(text))
            *words += mock_words(json_string_value(text), json_string_length(text));
    }
    return 0;
}

int mock_usage_chat(json_t *body, struct mock_usage *usage, const char **error)
{
    json_t *messages = json_object_get(body, "messages");
    if (!json_is_array(messages)) {
        *error = "'messages' must be an array";
        return -1;
    }
    uint64_t prompt = 3;
    size_t i;
    json_t *message;
    json_array_foreach(messages, i, message) {
        uint64_t words;
        if (!json_is_object(message) || content_words(json_object_get(message, "content"), &words) != 0) {
            *error = "each message must be an object whose content is a string or an array of parts";
            return -1;
        }
        prompt += words + 3;
    }

    /* max_completion_tokens is what newer OpenAI clients send instead. */
    json_t *max = json_object_get(body, "max_tokens");
    if (max == NULL || json_is_null(max))
        max = json_object_get(body, "max_completion_tokens");
    json_int_t completion = MOCK_DEFAULT_COMPLETION_TOKENS;
    if (json_is_integer(max) && json_integer_value(max) > 0)
        completion = json_integer_value(max);
    if (completion > MOCK_MAX_COMPLETION_TOKENS)
        completion = MOCK_MAX_COMPLETION_TOKENS;

    usage->prompt_tokens = prompt;
    usage->completion_tokens = (uint64_t)completion;
    return 0;
}

int mock_usage_embeddings(json_t *input, size_t *count, uint64_t *prompt_tokens, const char **error)
{
    *error = "'input' must be a string or an array of strings";
    if (json_is_string(input)) {
        *count = 1;
        *prompt_tokens = mock_words(json_string_value(input), json_string_length(input)) + 1;
        return 0;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return -1;
    uint64_t tokens = 0;
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        if (!json_is_string(item))
            return -1;
        tokens += mock_words(json_string_value(item), json_string_length(item)) + 1;
    }
    *count = json_array_size(input);
    *prompt_tokens = tokens;
    return 0;
}

void mock_buf_chat_usage(struct mock_buf *buf, const struct mock_usage *u)
{
    mock_buf_printf(buf,
                    "{\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"total_tokens\":%llu,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":%llu},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":%llu}}",
                    (unsigned long long)u->prompt_tokens, (unsigned long long)u->completion_tokens,
                    (unsigned long long)(u->prompt_tokens + u->completion_tokens), (unsigned long long)u->cached_tokens,
                    (unsigned long long)u->reasoning_tokens);
}

/* The pool jansson allocates from while this thread parses a request body;
 * NULL outside mock_json_parse, where jansson falls back to malloc. */
static _Thread_local h2o_mem_pool_t *parse_pool;

static void *json_alloc(size_t size)
{
    return parse_pool != NULL ? h2o_mem_alloc_pool(parse_pool, size) : malloc(size);
}

/* Memory from the pool is released with the request, all at once. */
static void json_release(void *p)
{
    if (parse_pool == NULL)
        free(p);
}

void mock_json_setup(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
    /* jansson seeds its hash function on first use; do it before threads race to it. */
    json_object_seed(0);
}

json_t *mock_json_parse(h2o_req_t *req)
{
    if (req->entity.base == NULL)
        return NULL;
    parse_pool = &req->pool;
    json_t *root = json_loadb(req->entity.base, req->entity.len, 0, NULL);
    parse_pool = NULL;
    return root;
}
