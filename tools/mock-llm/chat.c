/*
 * mock-llm POST /v1/chat/completions: OpenAI's chat completions, plain and
 * streamed, with n choices, function tools (tool_calls) and structured
 * output (response_format json_object / json_schema).
 *
 * Written by hand into pool buffers rather than built with jansson: this is
 * the endpoint benchmarks hammer, and the mock must not be what they measure.
 */
#include <string.h>
#include "mock.h"

#define MAX_CHOICES 128

struct chat {
    struct mock_call *call;
    uint32_t n;
    struct mock_text text; /* the content, or the tool call's arguments */
    int is_tool;
    struct mock_tool tool;
    const char *finish_reason;
    uint64_t prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens;
    int include_usage;
    unsigned long long id;
    struct mock_buf head; /* `{"id":...,"model":...,` shared by the body or every chunk */
};

static void append_usage(const struct chat *c, struct mock_buf *out)
{
    mock_buf_printf(out,
                    "{\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"total_tokens\":%llu,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":%llu},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":%llu}}",
                    (unsigned long long)c->prompt_tokens, (unsigned long long)c->completion_tokens,
                    (unsigned long long)(c->prompt_tokens + c->completion_tokens), (unsigned long long)c->cached_tokens,
                    (unsigned long long)c->reasoning_tokens);
}

/* `"id":"call_mock_N_I","type":"function","function":{"name":NAME,"arguments":` */
static void append_tool_call_head(const struct chat *c, struct mock_buf *out, uint32_t choice)
{
    mock_buf_printf(out, "\"id\":\"call_mock_%llu_%u\",\"type\":\"function\",\"function\":{\"name\":", c->id, choice);
    mock_buf_json_string(out, json_string_value(c->tool.name), json_string_length(c->tool.name));
    mock_buf_append(out, H2O_STRLIT(",\"arguments\":"));
}

static void send_whole(struct chat *c)
{
    struct mock_buf out;
    mock_buf_init(&out, &c->call->req->pool, c->head.len + 384 + c->n * (c->text.len * 2 + 160));
    mock_buf_append(&out, c->head.base, c->head.len);
    mock_buf_append(&out, H2O_STRLIT("\"choices\":["));
    for (uint32_t i = 0; i < c->n; i++) {
        mock_buf_printf(&out, "%s{\"index\":%u,\"message\":{\"role\":\"assistant\",\"content\":", i ? "," : "", i);
        if (c->is_tool) {
            mock_buf_append(&out, H2O_STRLIT("null,\"tool_calls\":[{"));
            append_tool_call_head(c, &out, i);
            mock_buf_json_string(&out, c->text.base, c->text.len);
            mock_buf_append(&out, H2O_STRLIT("}}]"));
        } else {
            mock_buf_json_string(&out, c->text.base, c->text.len);
        }
        mock_buf_printf(&out, "},\"finish_reason\":\"%s\"}", c->finish_reason);
    }
    mock_buf_append(&out, H2O_STRLIT("],\"usage\":"));
    append_usage(c, &out);
    mock_buf_append(&out, "}", 1);
    mock_call_send_json(c->call, &out);
}

static void chunk_begin(const struct chat *c, uint32_t choice)
{
    struct mock_buf *out = &c->call->events.buf;
    mock_buf_append(out, c->head.base, c->head.len);
    mock_buf_printf(out, "\"choices\":[{\"index\":%u,\"delta\":{", choice);
}

static void chunk_end(struct chat *c, const char *finish_reason)
{
    struct mock_buf *out = &c->call->events.buf;
    if (finish_reason != NULL)
        mock_buf_printf(out, "},\"finish_reason\":\"%s\"}]}\n\n", finish_reason);
    else
        mock_buf_append(out, H2O_STRLIT("},\"finish_reason\":null}]}\n\n"));
    mock_events_end(&c->call->events);
}

/* OpenAI's stream: per token, one chunk per choice (the first carrying the
 * role, or, for a tool call, a chunk naming the call comes first); then a
 * finish chunk per choice, the usage chunk if asked for, and [DONE]. The
 * role_chunk fault opens each choice with a role-only chunk. A truncated
 * stream stops halfway through the token chunks. */
static void stream(struct chat *c)
{
    struct mock_events *events = &c->call->events;
    struct mock_buf *out = &events->buf;
    int role_chunk = c->call->plan.fault == MOCK_FAULT_ROLE_CHUNK;
    uint32_t opening = (role_chunk || c->is_tool) ? c->n : 0;
    uint32_t count = opening + c->n * c->text.count + c->n + 2;
    mock_events_init(events, &c->call->req->pool, (size_t)count * (c->head.len + 128) + c->n * c->text.len * 2, count);

    for (uint32_t i = 0; i < opening; i++) {
        chunk_begin(c, i);
        mock_buf_append(out, H2O_STRLIT("\"role\":\"assistant\",\"content\":"));
        if (c->is_tool) {
            mock_buf_append(out, H2O_STRLIT("null,\"tool_calls\":[{\"index\":0,"));
            append_tool_call_head(c, out, i);
            mock_buf_append(out, H2O_STRLIT("\"\"}}]"));
        } else {
            mock_buf_append(out, H2O_STRLIT("\"\",\"refusal\":null"));
        }
        chunk_end(c, NULL);
    }
    for (uint32_t t = 0; t < c->text.count; t++) {
        size_t start = mock_text_start(&c->text, t);
        for (uint32_t i = 0; i < c->n; i++) {
            chunk_begin(c, i);
            if (c->is_tool)
                mock_buf_append(out, H2O_STRLIT("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"));
            else if (t == 0 && opening == 0)
                mock_buf_append(out, H2O_STRLIT("\"role\":\"assistant\",\"content\":"));
            else
                mock_buf_append(out, H2O_STRLIT("\"content\":"));
            mock_buf_json_string(out, c->text.base + start, c->text.ends[t] - start);
            if (c->is_tool)
                mock_buf_append(out, H2O_STRLIT("}}]"));
            chunk_end(c, NULL);
        }
    }
    events->cut = opening + c->n * c->text.count / 2;
    for (uint32_t i = 0; i < c->n; i++) {
        chunk_begin(c, i);
        chunk_end(c, c->finish_reason);
    }
    if (c->include_usage) {
        mock_buf_append(out, c->head.base, c->head.len);
        mock_buf_append(out, H2O_STRLIT("\"choices\":[],\"usage\":"));
        append_usage(c, out);
        mock_buf_append(out, H2O_STRLIT("}\n\n"));
        mock_events_end(events);
    }
    mock_buf_append(out, H2O_STRLIT("data: [DONE]\n\n"));
    mock_events_end(events);
    mock_call_stream(c->call);
}

/* Chat's tools: {"type":"function","function":{"name","parameters"}}. */
static const struct mock_tools_shape chat_tools = {
    .nest = "function",
    .schema = "parameters",
    .mode_strings = 1,
    .tools_error = "tools must be an array of {\"type\":\"function\",\"function\":{\"name\",\"parameters\"}}",
    .choice_error = "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\"}}",
};

/* The content a response_format asks for, into c->text: 0 if it is prose,
 * 1 if it is JSON, -1 with *error if the format is not understood. */
static int structured_content(struct chat *c, json_t *format, const char **error)
{
    const char *type = mock_json_string(format, "type");
    if (format == NULL || json_is_null(format) || (type != NULL && strcmp(type, "text") == 0))
        return 0;
    h2o_mem_pool_t *pool = &c->call->req->pool;
    if (type != NULL && strcmp(type, "json_object") == 0) {
        struct mock_text words;
        mock_text_words(&words, pool, MOCK_DEFAULT_COMPLETION_TOKENS);
        mock_text_json(&c->text, pool, json_pack("{s:s%}", "text", words.base, words.len));
        return 1;
    }
    json_t *schema = json_object_get(json_object_get(format, "json_schema"), "schema");
    if (type != NULL && strcmp(type, "json_schema") == 0 && json_is_object(schema)) {
        mock_text_json(&c->text, pool, mock_schema_example(schema));
        return 1;
    }
    *error = "response_format must be {\"type\":\"text\"}, {\"type\":\"json_object\"} or "
             "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{...}}}";
    return -1;
}

void mock_answer_chat(struct mock_call *call)
{
    h2o_req_t *req = call->req;
    struct chat c = {.call = call, .n = 1, .finish_reason = "stop"};
    struct mock_tools tools;
    json_t *model, *body = mock_call_body(call, 1, &model);
    const char *error;
    if (body == NULL)
        return;
    json_t *messages = json_object_get(body, "messages"), *n = json_object_get(body, "n");
    if (!json_is_array(messages)) {
        mock_call_invalid(call, "'messages' must be an array");
        return;
    }
    if (mock_prompt_tokens(messages, NULL, &c.prompt_tokens, &error) != 0 ||
        mock_tools_read(body, &chat_tools, &tools, &req->pool, &error) != 0) {
        mock_call_invalid(call, error);
        return;
    }
    if (n != NULL && !json_is_null(n)) {
        if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > MAX_CHOICES) {
            mock_call_invalid(call, "n must be an integer from 1 to 128");
            return;
        }
        c.n = (uint32_t)json_integer_value(n);
    }
    struct mock_buf last_user;
    mock_buf_init(&last_user, &req->pool, 256);
    mock_last_user_text(messages, &last_user);
    int structured = 0;
    if ((c.is_tool = mock_tool_pick(&tools, &last_user, &c.tool, &error)) < 0 ||
        (!c.is_tool && (structured = structured_content(&c, json_object_get(body, "response_format"), &error)) < 0)) {
        mock_call_invalid(call, error);
        return;
    }
    if (c.is_tool) {
        mock_text_json(&c.text, &req->pool, mock_schema_example(c.tool.schema));
        c.finish_reason = "tool_calls";
    } else if (!structured) {
        /* max_completion_tokens is what newer OpenAI clients send instead */
        json_t *limit = json_object_get(body, "max_tokens");
        if (limit == NULL || json_is_null(limit))
            limit = json_object_get(body, "max_completion_tokens");
        struct mock_length length;
        mock_answer_length(&call->plan, limit, 1, &length);
        mock_text_words(&c.text, &req->pool, length.tokens);
        c.finish_reason = length.cut ? "length" : "stop";
    }
    c.completion_tokens = (uint64_t)c.n * c.text.count;
    c.cached_tokens = call->plan.knobs.cached_tokens < c.prompt_tokens ? call->plan.knobs.cached_tokens : c.prompt_tokens;
    c.reasoning_tokens =
        call->plan.knobs.reasoning_tokens < c.completion_tokens ? call->plan.knobs.reasoning_tokens : c.completion_tokens;
    int streamed = json_is_true(json_object_get(body, "stream"));
    c.include_usage = json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));

    c.id = mock_call_id();
    mock_buf_init(&c.head, &req->pool, 128 + MOCK_JSON_ESCAPED_MAX(json_string_length(model)));
    mock_buf_printf(&c.head, "%s{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion%s\",\"created\":%lld,\"model\":",
                    streamed ? "data: " : "", c.id, streamed ? ".chunk" : "", mock_call_now(call));
    mock_buf_json_string(&c.head, json_string_value(model), json_string_length(model));
    mock_buf_append(&c.head, ",", 1);
    if (streamed)
        stream(&c);
    else
        send_whole(&c);
}
