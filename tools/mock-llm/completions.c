/*
 * mock-llm POST /v1/completions: OpenAI's legacy text completions, plain and
 * streamed: one choice per prompt and per n, stop sequences honoured.
 */
#include <string.h>
#include "mock.h"

#define MAX_CHOICES 128

struct completion {
    struct mock_call *call;
    json_t *model;
    unsigned long long id;
    size_t choices;
    struct mock_text text;
    const char *finish_reason;
    uint64_t prompt_tokens;
};

static json_t *usage(const struct completion *c)
{
    uint64_t completion = (uint64_t)c->choices * c->text.count;
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)c->prompt_tokens, "completion_tokens",
                     (json_int_t)completion, "total_tokens", (json_int_t)(c->prompt_tokens + completion));
}

static json_t *head(const struct completion *c)
{
    return json_pack("{s:o,s:s,s:I,s:O}", "id", json_sprintf("cmpl-mock-%llu", c->id), "object", "text_completion",
                     "created", (json_int_t)mock_call_now(c->call), "model", c->model);
}

static json_t *choice(size_t index, const char *text, size_t len, const char *finish_reason)
{
    return json_pack("{s:s%,s:I,s:n,s:s?}", "text", text, len, "index", (json_int_t)index, "logprobs",
                     "finish_reason", finish_reason);
}

static void chunk(struct completion *c, json_t *choices, json_t *usage_object)
{
    json_t *event = head(c);
    json_object_set_new(event, "choices", choices);
    if (usage_object != NULL)
        json_object_set_new(event, "usage", usage_object);
    mock_events_add(&c->call->events, NULL, event);
}

static void stream(struct completion *c, int include_usage)
{
    struct mock_events *events = &c->call->events;
    uint32_t count = (uint32_t)(c->choices * (c->text.count + 1)) + 2;
    mock_events_init(events, &c->call->req->pool, (size_t)count * 200 + c->choices * c->text.len * 2, count);
    for (uint32_t t = 0; t < c->text.count; t++) {
        size_t start = mock_text_start(&c->text, t);
        for (size_t i = 0; i < c->choices; i++)
            chunk(c, json_pack("[o]", choice(i, c->text.base + start, c->text.ends[t] - start, NULL)), NULL);
    }
    events->cut = (uint32_t)(c->choices * c->text.count / 2);
    for (size_t i = 0; i < c->choices; i++)
        chunk(c, json_pack("[o]", choice(i, "", 0, c->finish_reason)), NULL);
    if (include_usage)
        chunk(c, json_array(), usage(c));
    mock_buf_append(&events->buf, H2O_STRLIT("data: [DONE]\n\n"));
    mock_events_end(events);
    mock_call_stream(c->call);
}

void mock_answer_completions(struct mock_call *call)
{
    h2o_mem_pool_t *pool = &call->req->pool;
    struct completion c = {.call = call, .finish_reason = "stop"};
    size_t prompts;
    const char *error = NULL;
    json_t *body = mock_call_body(call, 1, &c.model);
    if (body == NULL)
        return;
    json_t *n = json_object_get(body, "n"), *stop = json_object_get(body, "stop");
    if (mock_input_tokens(json_object_get(body, "prompt"), &prompts, &c.prompt_tokens, &error) != 0)
        error = "'prompt' must be a string or an array of strings";
    else if (n != NULL && !json_is_null(n) &&
             (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > MAX_CHOICES))
        error = "n must be an integer from 1 to 128";
    else if (stop != NULL && !json_is_null(stop) && !json_is_string(stop) && !json_is_array(stop))
        error = "stop must be a string or an array of strings";
    if (error != NULL) {
        mock_call_invalid(call, error);
        return;
    }
    c.choices = prompts * (json_is_integer(n) ? (size_t)json_integer_value(n) : 1);

    struct mock_length length;
    mock_answer_length(&call->plan, json_object_get(body, "max_tokens"), 1, &length);
    mock_text_words(&c.text, pool, length.tokens);
    if (length.cut)
        c.finish_reason = "length";
    if (mock_text_stop(&c.text, json_is_string(stop) ? json_pack("[O]", stop) : stop) != NULL)
        c.finish_reason = "stop";
    c.id = mock_call_id();
    if (json_is_true(json_object_get(body, "stream"))) {
        stream(&c, json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage")));
        return;
    }
    json_t *answer = head(&c), *choices = json_array();
    for (size_t i = 0; i < c.choices; i++)
        json_array_append_new(choices, choice(i, c.text.base, c.text.len, c.finish_reason));
    json_object_set_new(answer, "choices", choices);
    json_object_set_new(answer, "usage", usage(&c));
    struct mock_buf out;
    mock_buf_init(&out, pool, 512 + c.choices * (c.text.len + 96));
    mock_buf_json(&out, answer);
    mock_call_send_json(call, &out);
}
