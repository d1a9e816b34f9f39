/*
 * mock-llm API calls: one request from arrival to its last byte. The latency
 * passes, then reset or hang, then an injected status, then the endpoint
 * answers (validating first), its answer shaped by the malformed and
 * truncate faults; a streamed answer is sent event by event, paced by the
 * token delay.
 *
 * Everything a call needs lives in its request's memory pool; the only other
 * allocation is the timer of a call that has to wait (see server.c).
 */
#include <stdatomic.h>
#include <string.h>
#include "mock.h"

static const char malformed_body[] = "{\"id\": \"broken";

static const struct {
    enum mock_dialect dialect;
    void (*answer)(struct mock_call *call);
} endpoints[] = {
#define X(name, path, method, dialect, answer) {MOCK_DIALECT_##dialect, answer},
    MOCK_ENDPOINTS(X)
#undef X
};

static atomic_uint_fast64_t next_id = 1;

unsigned long long mock_call_id(void)
{
    return (unsigned long long)atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
}

long long mock_call_now(const struct mock_call *call)
{
    return (long long)(h2o_now(call->req->conn->ctx->loop) / 1000);
}

void mock_call_invalid(struct mock_call *call, const char *message)
{
    mock_send_error(call->req, call->dialect, 400, "invalid_request_error", NULL, message);
}

json_t *mock_call_body(struct mock_call *call, int want_model, json_t **model)
{
    json_t *body = mock_json_parse(call->req);
    if (!json_is_object(body)) {
        mock_call_invalid(call, "We could not parse the JSON body of your request.");
        return NULL;
    }
    if (want_model) {
        *model = json_object_get(body, "model");
        if (!json_is_string(*model)) {
            mock_call_invalid(call, call->dialect == MOCK_DIALECT_ANTHROPIC ? "model: Field required"
                                                                           : "You must provide a model parameter.");
            return NULL;
        }
    }
    return body;
}

void mock_call_send(struct mock_call *call, const char *content_type, const char *body, size_t len)
{
    if (call->plan.fault == MOCK_FAULT_MALFORMED)
        mock_send_body(call->req, 200, "application/json", malformed_body, sizeof(malformed_body) - 1, 0);
    else
        mock_send_body(call->req, 200, content_type, body, len, call->plan.fault == MOCK_FAULT_TRUNCATE);
}

void mock_call_send_json(struct mock_call *call, const struct mock_buf *body)
{
    mock_call_send(call, "application/json", body->base, body->len);
}

/* ---- event streams ----------------------------------------------------- */

void mock_events_init(struct mock_events *e, h2o_mem_pool_t *pool, size_t bytes, uint32_t count)
{
    mock_buf_init(&e->buf, pool, bytes);
    e->cap = count > 0 ? count : 8;
    e->ends = h2o_mem_alloc_pool(pool, sizeof(*e->ends) * e->cap);
    e->count = 0;
    e->cut = 0;
}

void mock_events_end(struct mock_events *e)
{
    if (e->count == e->cap) {
        size_t *bigger = h2o_mem_alloc_pool(e->buf.pool, sizeof(*e->ends) * e->cap * 2);
        memcpy(bigger, e->ends, sizeof(*e->ends) * e->count);
        e->ends = bigger;
        e->cap *= 2;
    }
    e->ends[e->count++] = e->buf.len;
}

void mock_events_add(struct mock_events *e, const char *name, const json_t *data)
{
    if (name != NULL)
        mock_buf_printf(&e->buf, "event: %s\n", name);
    mock_buf_append(&e->buf, H2O_STRLIT("data: "));
    mock_buf_json(&e->buf, data);
    mock_buf_append(&e->buf, H2O_STRLIT("\n\n"));
    mock_events_end(e);
}

static size_t event_start(const struct mock_events *e, uint32_t i)
{
    return i == 0 ? 0 : e->ends[i - 1];
}

/* Sends the next paced event, or, without a token delay, all of them at once:
 * the client sees the same events, and one write is what keeps a benchmark
 * from measuring the mock. */
static void emit_events(struct mock_call *call)
{
    const struct mock_events *e = &call->events;
    int truncate = call->plan.fault == MOCK_FAULT_TRUNCATE;
    uint32_t end = truncate ? e->cut : e->count;

    if (call->plan.token_delay_ms == 0) {
        h2o_iovec_t buf = h2o_iovec_init(e->buf.base, event_start(e, end));
        call->next_event = end;
        h2o_send(call->req, &buf, 1, truncate ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
        return;
    }
    if (call->next_event == end) { /* only a truncated stream gets here */
        h2o_send(call->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    /* h2o calls proceed only once the previous event is written */
    uint32_t i = call->next_event++;
    h2o_iovec_t buf = h2o_iovec_init(e->buf.base + event_start(e, i), e->ends[i] - event_start(e, i));
    h2o_send(call->req, &buf, 1, call->next_event == e->count ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void answer(struct mock_call *call);

/* A call has one timer: it first serves the latency, then, once the stream
 * has started, the gaps between its events. */
static void on_call_timer(void *arg)
{
    struct mock_call *call = arg;
    if (call->generator.proceed != NULL)
        emit_events(call);
    else
        answer(call);
}

static struct mock_timer *call_timer(struct mock_call *call)
{
    if (call->timer == NULL)
        call->timer = mock_timer_create(call->req, on_call_timer, call);
    return call->timer;
}

static void on_stream_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    struct mock_call *call = H2O_STRUCT_FROM_MEMBER(struct mock_call, generator, generator);
    mock_timer_arm(call_timer(call), call->plan.token_delay_ms);
}

static void on_stream_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    struct mock_call *call = H2O_STRUCT_FROM_MEMBER(struct mock_call, generator, generator);
    if (call->timer != NULL)
        mock_timer_disarm(call->timer);
}

void mock_call_stream(struct mock_call *call)
{
    h2o_req_t *req = call->req;
    if (call->plan.fault == MOCK_FAULT_MALFORMED) {
        mock_call_send(call, NULL, NULL, 0);
        return;
    }
    call->generator.proceed = on_stream_proceed;
    call->generator.stop = on_stream_stop;
    call->next_event = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    mock_start_response(req, 200, "text/event-stream", &call->generator);
    emit_events(call);
}

/* ---- the call ---------------------------------------------------------- */

/* Runs once the call's latency, if any, has passed. */
static void answer(struct mock_call *call)
{
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
        mock_send_injected_status(call->req, call->dialect, &call->plan);
        return;
    }
    mock_json_scope(&call->req->pool);
    endpoints[call->endpoint].answer(call);
    mock_json_scope(NULL);
}

void mock_call_start(h2o_req_t *req, enum mock_endpoint endpoint)
{
    struct mock_call *call = h2o_mem_alloc_pool(&req->pool, sizeof(*call));
    memset(call, 0, sizeof(*call));
    call->req = req;
    call->endpoint = endpoint;
    call->dialect = endpoints[endpoint].dialect;
    mock_stats_count_request(req, endpoint);
    mock_faults_plan(req, &call->plan);
    if (call->plan.status != 0 || call->plan.fault != MOCK_FAULT_NONE)
        mock_stats_count_fault();
    if (call->plan.latency_ms != 0)
        mock_timer_arm(call_timer(call), call->plan.latency_ms);
    else
        answer(call);
}
