/*
 * mock-llm POST /v1/messages: Anthropic's Messages API, plain and streamed
 * (message_start, content_block_start, ping, content_block_delta...,
 * content_block_stop, message_delta, message_stop), with tool use and the
 * prompt-cache usage fields a test dictates (X-Mock-Cache-Read/-Write).
 * Errors on this path have Anthropic's shape (see respond.c).
 */
#include <string.h>
#include "mock.h"

struct message {
    struct mock_call *call;
    json_t *model;
    unsigned long long id;
    struct mock_text text; /* the prose, or the tool's input as JSON */
    int is_tool;
    struct mock_tool tool;
    json_t *tool_input;
    const char *stop_reason;
    json_t *stop_sequence;
    uint64_t input_tokens;
};

static json_t *usage(const struct message *m, uint64_t output_tokens)
{
    const struct mock_usage_knobs *k = &m->call->plan.knobs;
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)m->input_tokens, "cache_creation_input_tokens",
                     (json_int_t)k->cache_write_tokens, "cache_read_input_tokens", (json_int_t)k->cache_read_tokens,
                     "output_tokens", (json_int_t)output_tokens);
}

static json_t *tool_use_block(const struct message *m, json_t *input)
{
    return json_pack("{s:s,s:o,s:O,s:O}", "type", "tool_use", "id", json_sprintf("toolu_mock_%llu", m->id), "name",
                     m->tool.name, "input", input);
}

/* The message object: whole, or as message_start shows it (no content, no
 * stop reason yet, one output token). */
static json_t *message_object(const struct message *m, int whole)
{
    json_t *content = json_array();
    if (whole)
        json_array_append_new(content, m->is_tool ? tool_use_block(m, m->tool_input)
                                                  : json_pack("{s:s,s:s%}", "type", "text", "text", m->text.base,
                                                              m->text.len));
    return json_pack("{s:o,s:s,s:s,s:O,s:o,s:o,s:O,s:o}", "id", json_sprintf("msg_mock_%llu", m->id), "type", "message",
                     "role", "assistant", "model", m->model, "content", content, "stop_reason",
                     whole ? json_string(m->stop_reason) : json_null(), "stop_sequence",
                     whole && m->stop_sequence != NULL ? m->stop_sequence : json_null(), "usage",
                     usage(m, whole ? m->text.count : 1));
}

static void stream(struct message *m)
{
    struct mock_events *events = &m->call->events;
    uint32_t count = m->text.count + 6;
    mock_events_init(events, &m->call->req->pool, (size_t)count * 160 + m->text.len * 2, count);

    mock_events_add(events, "message_start", json_pack("{s:s,s:o}", "type", "message_start", "message",
                                                       message_object(m, 0)));
    json_t *block = m->is_tool ? tool_use_block(m, json_object()) : json_pack("{s:s,s:s}", "type", "text", "text", "");
    mock_events_add(events, "content_block_start",
                    json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", 0, "content_block", block));
    mock_events_add(events, "ping", json_pack("{s:s}", "type", "ping"));
    for (uint32_t t = 0; t < m->text.count; t++) {
        size_t start = mock_text_start(&m->text, t);
        json_t *delta = json_pack("{s:s,s:s%}", "type", m->is_tool ? "input_json_delta" : "text_delta",
                                  m->is_tool ? "partial_json" : "text", m->text.base + start, m->text.ends[t] - start);
        mock_events_add(events, "content_block_delta",
                        json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", 0, "delta", delta));
    }
    events->cut = 3 + m->text.count / 2;
    mock_events_add(events, "content_block_stop", json_pack("{s:s,s:i}", "type", "content_block_stop", "index", 0));
    mock_events_add(events, "message_delta",
                    json_pack("{s:s,s:{s:s,s:O},s:{s:I}}", "type", "message_delta", "delta", "stop_reason",
                              m->stop_reason, "stop_sequence", m->stop_sequence ? m->stop_sequence : json_null(),
                              "usage", "output_tokens", (json_int_t)m->text.count));
    mock_events_add(events, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    mock_call_stream(m->call);
}

/* Anthropic's tools: {"name","input_schema"}; tool_choice an object. */
static const struct mock_tools_shape anthropic_tools = {
    .schema = "input_schema",
    .tools_error = "tools: each tool must be an object with a name and an input_schema",
    .choice_error = "tool_choice: must be {\"type\": \"auto\" | \"any\" | \"none\"} or {\"type\": \"tool\", \"name\": ...}",
};

/* Validates the request and reads what the answer depends on; NULL after
 * answering 400. */
static json_t *read_request(struct message *m, struct mock_tools *tools, const char **error)
{
    json_t *body = mock_call_body(m->call, 1, &m->model);
    if (body == NULL)
        return NULL;
    json_t *max_tokens = json_object_get(body, "max_tokens"), *messages = json_object_get(body, "messages");
    json_t *stop = json_object_get(body, "stop_sequences");
    size_t i;
    json_t *msg;
    *error = NULL;
    if (max_tokens == NULL)
        *error = "max_tokens: Field required";
    else if (!json_is_integer(max_tokens) || json_integer_value(max_tokens) < 1)
        *error = "max_tokens: must be a positive integer";
    else if (!json_is_array(messages) || json_array_size(messages) == 0)
        *error = "messages: at least one message is required";
    else if (stop != NULL && !json_is_array(stop))
        *error = "stop_sequences: must be an array of strings";
    json_array_foreach(messages, i, msg) {
        const char *role = mock_json_string(msg, "role");
        if (*error == NULL && (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)))
            *error = "messages: each message must have the role \"user\" or \"assistant\"";
    }
    if (*error == NULL && mock_prompt_tokens(messages, json_object_get(body, "system"), &m->input_tokens, error) == 0)
        mock_tools_read(body, &anthropic_tools, tools, &m->call->req->pool, error);
    if (*error != NULL) {
        mock_call_invalid(m->call, *error);
        return NULL;
    }
    return body;
}

void mock_answer_messages(struct mock_call *call)
{
    h2o_mem_pool_t *pool = &call->req->pool;
    struct message m = {.call = call, .stop_reason = "end_turn"};
    struct mock_tools tools;
    const char *error;
    json_t *body = read_request(&m, &tools, &error);
    if (body == NULL)
        return;
    struct mock_buf last_user;
    mock_buf_init(&last_user, pool, 256);
    mock_last_user_text(json_object_get(body, "messages"), &last_user);
    if ((m.is_tool = mock_tool_pick(&tools, &last_user, &m.tool, &error)) < 0) {
        mock_call_invalid(call, error);
        return;
    }
    if (m.is_tool) {
        m.tool_input = mock_schema_example(m.tool.schema);
        mock_text_json(&m.text, pool, m.tool_input);
        m.stop_reason = "tool_use";
    } else {
        struct mock_length length;
        mock_answer_length(&call->plan, json_object_get(body, "max_tokens"), 0, &length);
        mock_text_words(&m.text, pool, length.tokens);
        if ((m.stop_sequence = mock_text_stop(&m.text, json_object_get(body, "stop_sequences"))) != NULL)
            m.stop_reason = "stop_sequence";
        else if (length.cut)
            m.stop_reason = "max_tokens";
    }
    m.id = mock_call_id();
    if (json_is_true(json_object_get(body, "stream"))) {
        stream(&m);
        return;
    }
    struct mock_buf out;
    mock_buf_init(&out, pool, 512 + m.text.len * 2);
    mock_buf_json(&out, message_object(&m, 1));
    mock_call_send_json(call, &out);
}
