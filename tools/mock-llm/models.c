/*
 * mock-llm GET /v1/models and GET /v1/models/{id}: a fixed list of the
 * models the mock's tests and the gateway's use, one of each kind of API.
 */
#include <stdio.h>
#include <string.h>
#include "mock.h"

static const struct {
    const char *id;
    long long created;
} models[] = {
    {"gpt-4o-mini", 1721172741},
    {"gpt-4o", 1715367049},
    {"llama-3.1-8b-instant", 1721692800},
    {"text-embedding-3-small", 1705948997},
    {"claude-sonnet-4-5", 1759104000},
    {"gpt-3.5-turbo-instruct", 1692901427},
    {"gpt-image-1", 1745517030},
    {"dall-e-3", 1698785189},
    {"whisper-1", 1677532384},
    {"gpt-4o-mini-transcribe", 1742068463},
    {"tts-1", 1681940951},
};

static void append_model(struct mock_buf *out, size_t i)
{
    mock_buf_printf(out, "{\"id\":\"%s\",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"mock-llm\"}", models[i].id,
                    models[i].created);
}

void mock_answer_models(struct mock_call *call)
{
    struct mock_buf out;
    mock_buf_init(&out, &call->req->pool, 2048);
    mock_buf_append(&out, H2O_STRLIT("{\"object\":\"list\",\"data\":["));
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        if (i > 0)
            mock_buf_append(&out, ",", 1);
        append_model(&out, i);
    }
    mock_buf_append(&out, H2O_STRLIT("]}"));
    mock_call_send_json(call, &out);
}

void mock_answer_model(struct mock_call *call)
{
    h2o_iovec_t id = mock_route_id(call->req, call->endpoint);
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        if (h2o_memis(id.base, id.len, models[i].id, strlen(models[i].id))) {
            struct mock_buf out;
            mock_buf_init(&out, &call->req->pool, 256);
            append_model(&out, i);
            mock_call_send_json(call, &out);
            return;
        }
    }
    struct mock_buf message;
    mock_buf_init(&message, &call->req->pool, 128 + id.len);
    mock_buf_printf(&message, "The model '%.*s' does not exist", (int)id.len, id.base);
    message.base[message.len] = '\0';
    mock_send_error(call->req, MOCK_DIALECT_OPENAI, 404, "invalid_request_error", "model_not_found", message.base);
}
