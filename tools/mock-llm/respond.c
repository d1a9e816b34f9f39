/*
 * mock-llm responses: whole bodies, and errors in the body shape of the API
 * a path belongs to (OpenAI's or Anthropic's), injected statuses included.
 */
#include <stdio.h>
#include <string.h>
#include "mock.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 500 ? "Client Error" : "Server Error";
    }
}

void mock_start_response(h2o_req_t *req, int status, const char *content_type, h2o_generator_t *generator)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_start_response(req, generator);
}

void mock_send_body(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len, int truncate)
{
    static h2o_generator_t whole_body = {NULL, NULL};
    h2o_iovec_t buf = h2o_iovec_init(body, truncate ? len / 2 : len);
    req->res.content_length = len;
    mock_start_response(req, status, content_type, &whole_body);
    h2o_send(req, &buf, 1, truncate ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
}

void mock_send_error(h2o_req_t *req, enum mock_dialect dialect, int status, const char *type, const char *code,
                     const char *message)
{
    struct mock_buf body;
    mock_buf_init(&body, &req->pool, 256);
    if (dialect == MOCK_DIALECT_ANTHROPIC) {
        mock_buf_printf(&body, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
        mock_buf_json_string(&body, message, strlen(message));
        mock_buf_append(&body, H2O_STRLIT("}}"));
    } else {
        mock_buf_append(&body, H2O_STRLIT("{\"error\":{\"message\":"));
        mock_buf_json_string(&body, message, strlen(message));
        mock_buf_printf(&body, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
        if (code != NULL)
            mock_buf_printf(&body, "\"%s\"}}", code);
        else
            mock_buf_append(&body, H2O_STRLIT("null}}"));
    }
    mock_send_body(req, status, "application/json", body.base, body.len, 0);
}

/* What each API calls an injected status: OpenAI's type and code, and
 * Anthropic's type (its 529 is "overloaded"). */
struct injected {
    int status; /* 0: the default of its class */
    const char *openai_type, *openai_code, *anthropic_type, *message;
};

static const struct injected injected_errors[] = {
    {401, "invalid_request_error", "invalid_api_key", "authentication_error", "Invalid API key (injected by mock-llm)."},
    {403, "invalid_request_error", NULL, "permission_error", "Permission denied (injected by mock-llm)."},
    {404, "invalid_request_error", NULL, "not_found_error", "Not found (injected by mock-llm)."},
    {413, "invalid_request_error", NULL, "request_too_large", "Request too large (injected by mock-llm)."},
    {429, "requests", "rate_limit_exceeded", "rate_limit_error", "Rate limit reached (injected by mock-llm)."},
    {503, "server_error", NULL, "api_error", "The engine is currently overloaded (injected by mock-llm)."},
    {529, "server_error", NULL, "overloaded_error", "Overloaded (injected by mock-llm)."},
    {0, "invalid_request_error", NULL, "invalid_request_error", "Request rejected (injected by mock-llm)."},
};
static const struct injected server_error = {0, "server_error", NULL, "api_error",
                                             "The server had an error (injected by mock-llm)."};

void mock_send_injected_status(h2o_req_t *req, enum mock_dialect dialect, const struct mock_plan *plan)
{
    const struct injected *e = &server_error;
    for (size_t i = 0; i < sizeof(injected_errors) / sizeof(injected_errors[0]); i++) {
        if (injected_errors[i].status == plan->status || (injected_errors[i].status == 0 && plan->status < 500)) {
            e = &injected_errors[i];
            break;
        }
    }
    if (plan->status == 429) {
        char *value = h2o_mem_alloc_pool(&req->pool, 16);
        int len = snprintf(value, 16, "%u", plan->retry_after);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, value, (size_t)len);
    }
    if (dialect == MOCK_DIALECT_ANTHROPIC)
        mock_send_error(req, dialect, plan->status, e->anthropic_type, NULL, e->message);
    else
        mock_send_error(req, dialect, plan->status, e->openai_type, e->openai_code, e->message);
}
