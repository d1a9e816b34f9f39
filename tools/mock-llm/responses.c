/*
 * mock-llm POST /v1/responses: OpenAI's Responses API, plain and streamed
 * (response.created ... response.completed, each event with its
 * sequence_number), with function tools (a function_call output item) and
 * structured output (text.format json_object / json_schema).
 */
#include <string.h>
#include "mock.h"

struct response {
    struct mock_call *call;
    json_t *body;
    unsigned long long id;
    struct mock_text text; /* the output text, or the function call's arguments */
    int is_tool;
    struct mock_tool tool;
    int incomplete; /* cut by max_output_tokens */
    uint64_t input_tokens;
    struct mock_events *events;
    uint32_t sequence;
};

/* A request member echoed in the response, or its default. */
static json_t *echo(const struct response *r, const char *key, json_t *fallback)
{
    json_t *v = json_object_get(r->body, key);
    return v != NULL ? json_incref(v) : fallback;
}

static json_t *usage(const struct response *r)
{
    const struct mock_usage_knobs *k = &r->call->plan.knobs;
    uint64_t output = r->text.count;
    uint64_t cached = k->cached_tokens < r->input_tokens ? k->cached_tokens : r->input_tokens;
    uint64_t reasoning = k->reasoning_tokens < output ? k->reasoning_tokens : output;
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens", (json_int_t)r->input_tokens,
                     "input_tokens_details", "cached_tokens", (json_int_t)cached, "output_tokens", (json_int_t)output,
                     "output_tokens_details", "reasoning_tokens", (json_int_t)reasoning, "total_tokens",
                     (json_int_t)(r->input_tokens + output));
}

static json_t *output_text_part(const struct response *r, int done)
{
    return json_pack("{s:s,s:[],s:s%}", "type", "output_text", "annotations", "text", done ? r->text.base : "",
                     done ? r->text.len : 0);
}

/* The output item, as output_item.added (done == 0) or as finished. */
static json_t *output_item(const struct response *r, int done)
{
    const char *status = !done ? "in_progress" : r->incomplete ? "incomplete" : "completed";
    if (r->is_tool)
        return json_pack("{s:s,s:o,s:o,s:O,s:s%,s:s}", "type", "function_call", "id", json_sprintf("fc_mock_%llu", r->id),
                         "call_id", json_sprintf("call_mock_%llu", r->id), "name", r->tool.name, "arguments",
                         done ? r->text.base : "", done ? r->text.len : 0, "status", status);
    return json_pack("{s:s,s:o,s:s,s:s,s:o}", "type", "message", "id", json_sprintf("msg_mock_%llu", r->id), "status",
                     status, "role", "assistant", "content", done ? json_pack("[o]", output_text_part(r, 1)) : json_array());
}

/* The response object; `done` adds the output and the usage. */
static json_t *response_object(const struct response *r, int done)
{
    const char *status = !done ? "in_progress" : r->incomplete ? "incomplete" : "completed";
    json_t *o = json_pack("{s:o,s:s,s:I,s:s,s:n}", "id", json_sprintf("resp_mock_%llu", r->id), "object", "response",
                          "created_at", (json_int_t)mock_call_now(r->call), "status", status, "error");
    json_object_set_new(o, "incomplete_details",
                        done && r->incomplete ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null());
    json_object_set_new(o, "instructions", echo(r, "instructions", json_null()));
    json_object_set_new(o, "max_output_tokens", echo(r, "max_output_tokens", json_null()));
    json_object_set_new(o, "model", echo(r, "model", json_null()));
    json_object_set_new(o, "output", done ? json_pack("[o]", output_item(r, 1)) : json_array());
    json_object_set_new(o, "parallel_tool_calls", echo(r, "parallel_tool_calls", json_true()));
    json_object_set_new(o, "previous_response_id", echo(r, "previous_response_id", json_null()));
    json_object_set_new(o, "reasoning", json_pack("{s:n,s:n}", "effort", "summary"));
    json_object_set_new(o, "store", echo(r, "store", json_true()));
    json_object_set_new(o, "temperature", echo(r, "temperature", json_real(1.0)));
    json_object_set_new(o, "text", echo(r, "text", json_pack("{s:{s:s}}", "format", "type", "text")));
    json_object_set_new(o, "tool_choice", echo(r, "tool_choice", json_string("auto")));
    json_object_set_new(o, "tools", echo(r, "tools", json_array()));
    json_object_set_new(o, "top_p", echo(r, "top_p", json_real(1.0)));
    json_object_set_new(o, "truncation", echo(r, "truncation", json_string("disabled")));
    json_object_set_new(o, "usage", done ? usage(r) : json_null());
    json_object_set_new(o, "user", echo(r, "user", json_null()));
    json_object_set_new(o, "metadata", echo(r, "metadata", json_object()));
    return o;
}

/* One event: {"type":TYPE, ...fields, "sequence_number":N}. */
static void add_event(struct response *r, const char *type, json_t *fields)
{
    json_t *event = json_pack("{s:s}", "type", type);
    json_object_update(event, fields);
    json_object_set_new(event, "sequence_number", json_integer(r->sequence++));
    mock_events_add(r->events, type, event);
}

static json_t *item_ref(const struct response *r)
{
    return json_pack("{s:o,s:i}", "item_id", json_sprintf("%s_mock_%llu", r->is_tool ? "fc" : "msg", r->id),
                     "output_index", 0);
}

/* item_ref plus the other fields of a content event. */
static json_t *content_ref(const struct response *r, const char *key, json_t *value)
{
    json_t *ref = item_ref(r);
    if (!r->is_tool)
        json_object_set_new(ref, "content_index", json_integer(0));
    json_object_set_new(ref, key, value);
    return ref;
}

static void stream(struct response *r)
{
    r->events = &r->call->events;
    mock_events_init(r->events, &r->call->req->pool, 4096 + (size_t)r->text.count * 200 + r->text.len * 4,
                     r->text.count + 10);
    const char *delta = r->is_tool ? "response.function_call_arguments.delta" : "response.output_text.delta";

    add_event(r, "response.created", json_pack("{s:o}", "response", response_object(r, 0)));
    add_event(r, "response.in_progress", json_pack("{s:o}", "response", response_object(r, 0)));
    add_event(r, "response.output_item.added", json_pack("{s:i,s:o}", "output_index", 0, "item", output_item(r, 0)));
    if (!r->is_tool)
        add_event(r, "response.content_part.added", content_ref(r, "part", output_text_part(r, 0)));
    r->events->cut = r->events->count + r->text.count / 2;
    for (uint32_t t = 0; t < r->text.count; t++) {
        size_t start = mock_text_start(&r->text, t);
        add_event(r, delta, content_ref(r, "delta", json_stringn(r->text.base + start, r->text.ends[t] - start)));
    }
    if (r->is_tool) {
        add_event(r, "response.function_call_arguments.done",
                  content_ref(r, "arguments", json_stringn(r->text.base, r->text.len)));
    } else {
        add_event(r, "response.output_text.done", content_ref(r, "text", json_stringn(r->text.base, r->text.len)));
        add_event(r, "response.content_part.done", content_ref(r, "part", output_text_part(r, 1)));
    }
    add_event(r, "response.output_item.done", json_pack("{s:i,s:o}", "output_index", 0, "item", output_item(r, 1)));
    add_event(r, r->incomplete ? "response.incomplete" : "response.completed",
              json_pack("{s:o}", "response", response_object(r, 1)));
    mock_call_stream(r->call);
}

/* The Responses API's tools: {"type":"function","name","parameters"}. */
static const struct mock_tools_shape responses_tools = {
    .only_type = "function", /* other kinds are accepted and never called */
    .schema = "parameters",
    .mode_strings = 1,
    .tools_error = "tools must be an array of tools; a function tool needs a name",
    .choice_error = "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"name\"}",
};

/* text.format: 0 for prose, 1 for JSON (into r->text), -1 if not understood. */
static int structured_text(struct response *r, json_t *format)
{
    const char *type = mock_json_string(format, "type");
    h2o_mem_pool_t *pool = &r->call->req->pool;
    if (format == NULL || (type != NULL && strcmp(type, "text") == 0))
        return 0;
    if (type != NULL && strcmp(type, "json_object") == 0) {
        struct mock_text words;
        mock_text_words(&words, pool, MOCK_DEFAULT_COMPLETION_TOKENS);
        mock_text_json(&r->text, pool, json_pack("{s:s%}", "text", words.base, words.len));
        return 1;
    }
    if (type != NULL && strcmp(type, "json_schema") == 0 && json_is_object(json_object_get(format, "schema"))) {
        mock_text_json(&r->text, pool, mock_schema_example(json_object_get(format, "schema")));
        return 1;
    }
    return -1;
}

void mock_answer_responses(struct mock_call *call)
{
    h2o_mem_pool_t *pool = &call->req->pool;
    struct response r = {.call = call};
    struct mock_tools tools;
    json_t *model;
    const char *error = NULL;
    if ((r.body = mock_call_body(call, 1, &model)) == NULL)
        return;
    json_t *input = json_object_get(r.body, "input"), *instructions = json_object_get(r.body, "instructions");
    struct mock_buf last_user;
    mock_buf_init(&last_user, pool, 256);
    /* a string input is one user message */
    json_t *items = json_is_string(input) ? json_pack("[{s:s,s:O}]", "role", "user", "content", input) : input;
    if (!json_is_array(items))
        error = "input must be a string or an array of input items";
    else if (instructions != NULL && !json_is_null(instructions) && !json_is_string(instructions))
        error = "instructions must be a string";
    else if (mock_prompt_tokens(items, json_is_string(instructions) ? instructions : NULL, &r.input_tokens, &error) == 0)
        mock_tools_read(r.body, &responses_tools, &tools, pool, &error);
    int structured = 0;
    if (error == NULL) {
        mock_last_user_text(items, &last_user);
        if ((r.is_tool = mock_tool_pick(&tools, &last_user, &r.tool, &error)) == 0 &&
            (structured = structured_text(&r, json_object_get(json_object_get(r.body, "text"), "format"))) < 0)
            error = "text.format must be {\"type\":\"text\"}, {\"type\":\"json_object\"} or "
                    "{\"type\":\"json_schema\",\"name\",\"schema\":{...}}";
    }
    if (error != NULL) {
        mock_call_invalid(call, error);
        return;
    }
    if (r.is_tool) {
        mock_text_json(&r.text, pool, mock_schema_example(r.tool.schema));
    } else if (!structured) {
        struct mock_length length;
        mock_answer_length(&call->plan, json_object_get(r.body, "max_output_tokens"), 1, &length);
        mock_text_words(&r.text, pool, length.tokens);
        r.incomplete = length.cut;
    }
    r.id = mock_call_id();
    if (json_is_true(json_object_get(r.body, "stream"))) {
        stream(&r);
        return;
    }
    struct mock_buf out;
    mock_buf_init(&out, pool, 2048 + r.text.len * 2);
    mock_buf_json(&out, response_object(&r, 1));
    mock_call_send_json(call, &out);
}
