/*
 * mock-llm HTTP handlers: the OpenAI-compatible endpoints (chat completions,
 * plain and streamed, embeddings, models), the /mock/ control endpoints,
 * and the injected faults an API request may suffer.
 *
 * Everything a request needs lives in its h2o memory pool; the only other
 * allocation is the timer of a request that has to wait (see server.c).
 */
#include <stdatomic.h>
#include <string.h>
#include "mock.h"

/* One API request, from arrival to its last byte. */
struct api_call {
    h2o_generator_t generator; /* set while a stream is being sent */
    h2o_req_t *req;
    enum mock_endpoint endpoint;
    struct mock_plan plan;
    struct mock_timer *timer; /* created on first wait */
    /* streaming */
    struct mock_buf chunk_head; /* `data: {"id":...,"model":...,` shared by every chunk */
    struct mock_buf event;      /* the paced event being sent */
    struct mock_usage usage;
    int include_usage;
    uint32_t next_event;
};

static atomic_uint_fast64_t next_completion_id = 1;

static const char models_body[] =
    "{\"object\":\"list\",\"data\":["
    "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":1721172741,\"owned_by\":\"mock-llm\"},"
    "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1715367049,\"owned_by\":\"mock-llm\"},"
    "{\"id\":\"llama-3.1-8b-instant\",\"object\":\"model\",\"created\":1721692800,\"owned_by\":\"mock-llm\"},"
    "{\"id\":\"text-embedding-3-small\",\"object\":\"model\",\"created\":1705948997,\"owned_by\":\"mock-llm\"}]}";

static const char malformed_body[] = "{\"id\": \"broken";

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

static void start_response(h2o_req_t *req, int status, const char *content_type, h2o_generator_t *generator)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_start_response(req, generator);
}

/* Sends a whole body; `truncate` sends only its first half, announced with
 * the full Content-Length, then closes the connection. */
static void send_body(h2o_req_t *req, int status, const char *body, size_t len, int truncate)
{
    static h2o_generator_t whole_body = {NULL, NULL};
    h2o_iovec_t buf = h2o_iovec_init(body, truncate ? len / 2 : len);
    req->res.content_length = len;
    start_response(req, status, "application/json", &whole_body);
    h2o_send(req, &buf, 1, truncate ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
}

static void send_buf(h2o_req_t *req, const struct mock_buf *body, int truncate)
{
    send_body(req, 200, body->base, body->len, truncate);
}

static void send_error(h2o_req_t *req, int status, const char *type, const char *code, const char *message)
{
    struct mock_buf body;
    mock_buf_init(&body, &req->pool, 256);
    mock_buf_append(&body, H2O_STRLIT("{\"error\":{\"message\":"));
    mock_buf_json_string(&body, message, strlen(message));
    mock_buf_printf(&body, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
    if (code != NULL)
        mock_buf_printf(&body, "\"%s\"}}", code);
    else
        mock_buf_append(&body, H2O_STRLIT("null}}"));
    send_body(req, status, body.base, body.len, 0);
}

static void send_invalid_request(h2o_req_t *req, const char *message)
{
    send_error(req, 400, "invalid_request_error", NULL, message);
}

static void send_injected_status(h2o_req_t *req, const struct mock_plan *plan)
{
    if (plan->status == 429) {
        char *value = h2o_mem_alloc_pool(&req->pool, 16);
        int len = snprintf(value, 16, "%u", plan->retry_after);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, value, (size_t)len);
        send_error(req, 429, "requests", "rate_limit_exceeded", "Rate limit reached (injected by mock-llm).");
    } else if (plan->status == 503) {
        send_error(req, 503, "server_error", NULL, "The engine is currently overloaded (injected by mock-llm).");
    } else if (plan->status >= 500) {
        send_error(req, plan->status, "server_error", NULL, "The server had an error (injected by mock-llm).");
    } else {
        send_error(req, plan->status, "invalid_request_error", NULL, "Request rejected (injected by mock-llm).");
    }
}

/* The JSON body of an API request, with its `model`; NULL after answering 400. */
static json_t *parse_api_body(h2o_req_t *req, json_t **model)
{
    json_t *body = mock_json_parse(req);
    if (!json_is_object(body)) {
        send_invalid_request(req, "We could not parse the JSON body of your request.");
        return NULL;
    }
    *model = json_object_get(body, "model");
    if (!json_is_string(*model)) {
        send_invalid_request(req, "You must provide a model parameter.");
        return NULL;
    }
    return body;
}

/* ---- streamed chat completions ----------------------------------------- */

/* The role_chunk fault: the stream opens with a chunk of its own for the
 * role, as OpenAI's API sends it, so the first content comes one token
 * delay later. */
static int role_chunk(const struct api_call *call)
{
    return call->plan.fault == MOCK_FAULT_ROLE_CHUNK;
}

static uint32_t event_count(const struct api_call *call)
{
    /* the role chunk, tokens, the finish chunk, the optional usage chunk, [DONE] */
    return (uint32_t)role_chunk(call) + (uint32_t)call->usage.completion_tokens + 1 + (call->include_usage ? 1 : 0) + 1;
}

/* How many events a truncated stream sends before it breaks off. */
static uint32_t truncated_event_count(const struct api_call *call)
{
    return (uint32_t)call->usage.completion_tokens / 2;
}

static void append_event(const struct api_call *call, struct mock_buf *out, uint32_t index)
{
    uint32_t tokens = (uint32_t)call->usage.completion_tokens;
    if (index == event_count(call) - 1) {
        mock_buf_append(out, H2O_STRLIT("data: [DONE]\n\n"));
        return;
    }
    mock_buf_append(out, call->chunk_head.base, call->chunk_head.len);
    if (role_chunk(call)) {
        if (index == 0) {
            mock_buf_append(out, H2O_STRLIT("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                                            "\"refusal\":null},\"finish_reason\":null}]}\n\n"));
            return;
        }
        index--;
    }
    if (index < tokens) {
        int with_role = index == 0 && !role_chunk(call);
        mock_buf_printf(out, "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"%stok%u\"},\"finish_reason\":null}]}\n\n",
                        with_role ? "\"role\":\"assistant\"," : "", index == 0 ? "" : " ", index + 1);
    } else if (index == tokens) {
        mock_buf_append(out, H2O_STRLIT("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"));
    } else {
        mock_buf_append(out, H2O_STRLIT("\"choices\":[],\"usage\":"));
        mock_buf_chat_usage(out, &call->usage);
        mock_buf_append(out, H2O_STRLIT("}\n\n"));
    }
}

/* Sends the next paced event, or, without a token delay, all of them at once:
 * the client sees the same events, and one write is what keeps a benchmark
 * from measuring the mock. */
static void emit_events(void *arg)
{
    struct api_call *call = arg;
    int truncate = call->plan.fault == MOCK_FAULT_TRUNCATE;
    uint32_t end = truncate ? truncated_event_count(call) : event_count(call);

    if (call->plan.token_delay_ms == 0) {
        struct mock_buf all;
        mock_buf_init(&all, &call->req->pool, (end + 1) * (call->chunk_head.len + 128));
        for (; call->next_event < end; call->next_event++)
            append_event(call, &all, call->next_event);
        h2o_iovec_t buf = h2o_iovec_init(all.base, all.len);
        h2o_send(call->req, &buf, 1, truncate ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
        return;
    }
    if (call->next_event == end) { /* only a truncated stream gets here */
        h2o_send(call->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    /* h2o calls proceed only once the previous event is written, so the
     * buffer can be reused. */
    call->event.len = 0;
    append_event(call, &call->event, call->next_event++);
    h2o_iovec_t buf = h2o_iovec_init(call->event.base, call->event.len);
    h2o_send(call->req, &buf, 1, call->next_event == event_count(call) ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void answer_api(void *arg);

/* A call has one timer: it first serves the latency, then, once the stream
 * has started, the gaps between its events. */
static void on_call_timer(void *arg)
{
    struct api_call *call = arg;
    if (call->generator.proceed != NULL)
        emit_events(call);
    else
        answer_api(call);
}

static struct mock_timer *call_timer(struct api_call *call)
{
    if (call->timer == NULL)
        call->timer = mock_timer_create(call->req, on_call_timer, call);
    return call->timer;
}

static void on_stream_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    struct api_call *call = H2O_STRUCT_FROM_MEMBER(struct api_call, generator, generator);
    mock_timer_arm(call_timer(call), call->plan.token_delay_ms);
}

static void on_stream_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    struct api_call *call = H2O_STRUCT_FROM_MEMBER(struct api_call, generator, generator);
    if (call->timer != NULL)
        mock_timer_disarm(call->timer);
}

static void start_stream(struct api_call *call)
{
    h2o_req_t *req = call->req;
    call->generator.proceed = on_stream_proceed;
    call->generator.stop = on_stream_stop;
    call->next_event = 0;
    if (call->plan.token_delay_ms != 0)
        mock_buf_init(&call->event, &req->pool, call->chunk_head.len + 256);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    start_response(req, 200, "text/event-stream", &call->generator);
    emit_events(call);
}

/* ---- API endpoints ----------------------------------------------------- */

static void answer_chat(struct api_call *call)
{
    h2o_req_t *req = call->req;
    json_t *model, *body = parse_api_body(req, &model);
    const char *error;
    if (body == NULL)
        return;
    if (mock_usage_chat(body, &call->usage, &error) != 0) {
        send_invalid_request(req, error);
        return;
    }
    uint64_t cached = 0, reasoning = 0;
    mock_header_number(req, "x-mock-cached-tokens", UINT32_MAX, &cached);
    mock_header_number(req, "x-mock-reasoning-tokens", UINT32_MAX, &reasoning);
    call->usage.cached_tokens = cached < call->usage.prompt_tokens ? cached : call->usage.prompt_tokens;
    call->usage.reasoning_tokens = reasoning < call->usage.completion_tokens ? reasoning : call->usage.completion_tokens;
    int stream = json_is_true(json_object_get(body, "stream"));
    call->include_usage = json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));

    unsigned long long id = atomic_fetch_add_explicit(&next_completion_id, 1, memory_order_relaxed);
    /* the loop's clock: no syscall */
    long long created = (long long)(h2o_now(req->conn->ctx->loop) / 1000);
    struct mock_buf *head = &call->chunk_head;
    mock_buf_init(head, &req->pool, 128 + MOCK_JSON_ESCAPED_MAX(json_string_length(model)));
    mock_buf_printf(head, "%s{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion%s\",\"created\":%lld,\"model\":",
                    stream ? "data: " : "", id, stream ? ".chunk" : "", created);
    mock_buf_json_string(head, json_string_value(model), json_string_length(model));
    mock_buf_append(head, ",", 1);

    if (call->plan.fault == MOCK_FAULT_MALFORMED) {
        send_body(req, 200, malformed_body, sizeof(malformed_body) - 1, 0);
        return;
    }
    if (stream) {
        start_stream(call);
        return;
    }

    uint32_t tokens = (uint32_t)call->usage.completion_tokens;
    struct mock_buf out;
    mock_buf_init(&out, &req->pool, head->len + 384 + (size_t)tokens * 9);
    mock_buf_append(&out, head->base, head->len);
    mock_buf_append(&out, H2O_STRLIT("\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"tok1"));
    for (uint32_t i = 2; i <= tokens; i++)
        mock_buf_printf(&out, " tok%u", i);
    mock_buf_append(&out, H2O_STRLIT("\"},\"finish_reason\":\"stop\"}],\"usage\":"));
    mock_buf_chat_usage(&out, &call->usage);
    mock_buf_append(&out, "}", 1);
    send_buf(req, &out, call->plan.fault == MOCK_FAULT_TRUNCATE);
}

#define EMBEDDING_DIMENSIONS 8

/* Deterministic and distinct per input: ((index + 1) * (j + 1) mod 100) / 100. */
static float embedding_value(size_t index, size_t j)
{
    return (float)(((index + 1) * (j + 1)) % 100) / 100.0f;
}

/* The base64 form the OpenAI SDKs ask for: little-endian float32s. */
static void append_embedding_base64(struct mock_buf *out, size_t index)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[EMBEDDING_DIMENSIONS * 4 + 1] = {0}; /* 32 bytes, zero-padded to a multiple of 3 */
    for (size_t j = 0; j < EMBEDDING_DIMENSIONS; j++) {
        float f = embedding_value(index, j);
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        for (size_t b = 0; b < 4; b++)
            raw[j * 4 + b] = (unsigned char)(bits >> (8 * b));
    }
    char text[sizeof(raw) / 3 * 4];
    for (size_t i = 0, o = 0; i < sizeof(raw); i += 3, o += 4) {
        uint32_t triple = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        text[o] = alphabet[triple >> 18];
        text[o + 1] = alphabet[(triple >> 12) & 63];
        text[o + 2] = alphabet[(triple >> 6) & 63];
        text[o + 3] = alphabet[triple & 63];
    }
    /* the padding byte's last sextet becomes the '=' of a 32-byte input */
    text[sizeof(text) - 1] = '=';
    mock_buf_append(out, "\"", 1);
    mock_buf_append(out, text, sizeof(text));
    mock_buf_append(out, "\"", 1);
}

static void answer_embeddings(struct api_call *call)
{
    h2o_req_t *req = call->req;
    json_t *model, *body = parse_api_body(req, &model);
    const char *error;
    size_t count;
    uint64_t tokens;
    if (body == NULL)
        return;
    if (mock_usage_embeddings(json_object_get(body, "input"), &count, &tokens, &error) != 0) {
        send_invalid_request(req, error);
        return;
    }
    if (call->plan.fault == MOCK_FAULT_MALFORMED) {
        send_body(req, 200, malformed_body, sizeof(malformed_body) - 1, 0);
        return;
    }
    json_t *format = json_object_get(body, "encoding_format");
    int base64 = json_is_string(format) && strcmp(json_string_value(format), "base64") == 0;

    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 256 + count * 160 + MOCK_JSON_ESCAPED_MAX(json_string_length(model)));
    mock_buf_append(&out, H2O_STRLIT("{\"object\":\"list\",\"data\":["));
    for (size_t i = 0; i < count; i++) {
        mock_buf_printf(&out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i == 0 ? "" : ",", i);
        if (base64) {
            append_embedding_base64(&out, i);
        } else {
            for (size_t j = 0; j < EMBEDDING_DIMENSIONS; j++)
                mock_buf_printf(&out, "%c%g", j == 0 ? '[' : ',', (double)embedding_value(i, j));
            mock_buf_append(&out, "]", 1);
        }
        mock_buf_append(&out, "}", 1);
    }
    mock_buf_append(&out, H2O_STRLIT("],\"model\":"));
    mock_buf_json_string(&out, json_string_value(model), json_string_length(model));
    mock_buf_printf(&out, ",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}", (unsigned long long)tokens,
                    (unsigned long long)tokens);
    send_buf(req, &out, call->plan.fault == MOCK_FAULT_TRUNCATE);
}

static void answer_models(struct api_call *call)
{
    if (call->plan.fault == MOCK_FAULT_MALFORMED)
        send_body(call->req, 200, malformed_body, sizeof(malformed_body) - 1, 0);
    else
        send_body(call->req, 200, models_body, sizeof(models_body) - 1, call->plan.fault == MOCK_FAULT_TRUNCATE);
}

/* Runs once the request's latency, if any, has passed. */
static void answer_api(void *arg)
{
    struct api_call *call = arg;
    switch (call->plan.fault) {
    case MOCK_FAULT_RESET:
        mock_server_reset_connection(call->req);
        return;
    case MOCK_FAULT_HANG:
        mock_server_hold(call->req);
        return;
    default:
        break;
    }
    if (call->plan.status != 0) {
        send_injected_status(call->req, &call->plan);
        return;
    }
    switch (call->endpoint) {
    case MOCK_ENDPOINT_CHAT:
        answer_chat(call);
        break;
    case MOCK_ENDPOINT_EMBEDDINGS:
        answer_embeddings(call);
        break;
    case MOCK_ENDPOINT_MODELS:
        answer_models(call);
        break;
    }
}

static void handle_api(h2o_req_t *req, enum mock_endpoint endpoint)
{
    struct api_call *call = h2o_mem_alloc_pool(&req->pool, sizeof(*call));
    memset(call, 0, sizeof(*call));
    call->req = req;
    call->endpoint = endpoint;
    mock_stats_count_request(req, endpoint);
    mock_faults_plan(req, &call->plan);
    if (call->plan.status != 0 || call->plan.fault != MOCK_FAULT_NONE)
        mock_stats_count_fault();
    if (call->plan.latency_ms != 0)
        mock_timer_arm(call_timer(call), call->plan.latency_ms);
    else
        answer_api(call);
}

/* ---- /mock/ control endpoints ----------------------------------------- */

static void send_config(h2o_req_t *req)
{
    struct mock_settings s;
    struct mock_buf out;
    mock_faults_snapshot(&s);
    mock_buf_init(&out, &req->pool, 256);
    mock_buf_printf(&out,
                    "{\"latency_ms\":%u,\"token_delay_ms\":%u,\"status\":%d,\"fault\":\"%s\",\"fail_first\":%u,"
                    "\"retry_after\":%u}",
                    s.latency_ms, s.token_delay_ms, s.status, mock_fault_name(s.fault), s.fail_first, s.retry_after);
    send_buf(req, &out, 0);
}

static void handle_config(h2o_req_t *req)
{
    const char *error;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        send_config(req);
        return;
    }
    json_t *config = mock_json_parse(req);
    if (config == NULL) {
        send_invalid_request(req, "We could not parse the JSON body of your request.");
        return;
    }
    if (mock_faults_configure(config, &error) != 0) {
        send_invalid_request(req, error);
        return;
    }
    send_config(req);
}

static void send_stats(h2o_req_t *req)
{
    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 1024);
    mock_stats_render(&out);
    send_buf(req, &out, 0);
}

static void handle_reset(h2o_req_t *req)
{
    mock_stats_reset();
    send_stats(req);
}

/* ---- routing ----------------------------------------------------------- */

struct route {
    const char *path;
    const char *methods[2];
    int is_api;
    enum mock_endpoint endpoint; /* API routes */
    void (*handle)(h2o_req_t *req); /* control routes */
};

static const struct route routes[] = {
    {"/v1/chat/completions", {"POST"}, 1, MOCK_ENDPOINT_CHAT, NULL},
    {"/v1/embeddings", {"POST"}, 1, MOCK_ENDPOINT_EMBEDDINGS, NULL},
    {"/v1/models", {"GET"}, 1, MOCK_ENDPOINT_MODELS, NULL},
    {"/mock/stats", {"GET"}, 0, 0, send_stats},
    {"/mock/reset", {"POST"}, 0, 0, handle_reset},
    {"/mock/config", {"POST", "GET"}, 0, 0, handle_config},
};

static int method_allowed(const struct route *r, const h2o_iovec_t *method)
{
    for (size_t i = 0; i < sizeof(r->methods) / sizeof(r->methods[0]) && r->methods[i] != NULL; i++) {
        if (h2o_memis(method->base, method->len, r->methods[i], strlen(r->methods[i])))
            return 1;
    }
    return 0;
}

int mock_handle_request(h2o_handler_t *self, h2o_req_t *req)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, r->path, strlen(r->path)))
            continue;
        if (!method_allowed(r, &req->method))
            send_error(req, 405, "invalid_request_error", "method_not_allowed", "Method not allowed for this path.");
        else if (r->is_api)
            handle_api(req, r->endpoint);
        else
            r->handle(req);
        return 0;
    }
    send_error(req, 404, "invalid_request_error", "unknown_url", "Unknown request URL.");
    return 0;
}
