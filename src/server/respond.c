/* respond.c: answering the client, in one place for every endpoint:
 * OpenAI-shaped errors, the replies of the gateway's own endpoints, the
 * upstream's answers (a plain body from the call's report; a stream, event
 * by event, as the call's sink), the X-Tollgate-* headers, and the access
 * line that follows each response.
 *
 * Every response is counted before it is sent (the account stage ran
 * first): h2o may write it at once, and a client that reads it and scrapes
 * /metrics on another worker must find it counted. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "server/exchange.h"

static const char *status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
    }
}

h2o_iovec_t tg_respond_error_body(tg_request_t *r)
{
    h2o_req_t *req = r->req;
    const tg_error_t *e = &r->error;
    char *body = h2o_mem_alloc_pool(&req->pool, TG_ERROR_JSON_MAX);
    size_t len = tg_error_json(body, TG_ERROR_JSON_MAX, e);
    if (r->operation == TG_OP_MESSAGES) { /* Anthropic's clients read Anthropic's shape */
        size_t n;
        char *anthropic = tg_anthropic_error_json(e, &n);
        if (anthropic != NULL) {
            body = h2o_mem_alloc_pool(&req->pool, n);
            memcpy(body, anthropic, n);
            len = n;
            free(anthropic);
        }
    }
    tg_obs_record_error(r->env.view, e->type, e->code, r->route);
    req->res.status = e->status;
    req->res.reason = status_reason(e->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    if (e->retry_after > 0) {
        char *secs = h2o_mem_alloc_pool(&req->pool, 20);
        size_t n = tg_format_decimal(secs, e->retry_after);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, n);
    }
    return h2o_iovec_init(body, len);
}

/* Sends body (in the request's pool, or static) as the whole response. */
static void send_whole(h2o_req_t *req, h2o_iovec_t body)
{
    static h2o_generator_t whole = {NULL, NULL};
    req->res.content_length = body.len;
    h2o_start_response(req, &whole);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void add_header(h2o_req_t *req, const char *name, size_t name_len, h2o_iovec_t value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 1, NULL, value.base, value.len);
}

/* X-Tollgate-* response headers (docs/gateway-behaviour.md): how many
 * attempts, and who answered, after whom. */
static void add_route_headers(tg_request_t *r, const tg_upstream_result_t *res)
{
    h2o_req_t *req = r->req;
    char buf[20];
    size_t n = tg_format_decimal(buf, (size_t)res->attempts);
    add_header(req, H2O_STRLIT("x-tollgate-attempts"), h2o_strdup(&req->pool, buf, n));
    if (!res->answered)
        return;
    const char *answering = r->env.cfg->providers[res->provider_index].name;
    add_header(req, H2O_STRLIT("x-tollgate-provider"), h2o_iovec_init(answering, strlen(answering)));
    if (res->fell_back) {
        const char *first = r->env.cfg->providers[res->first_provider_index].name;
        add_header(req, H2O_STRLIT("x-tollgate-fallback"),
                   h2o_concat(&req->pool, h2o_iovec_init(first, strlen(first)), h2o_iovec_init(H2O_STRLIT("->")),
                              h2o_iovec_init(answering, strlen(answering))));
    }
}

/* x-ratelimit-{limit,remaining,reset}-{requests,tokens}, OpenAI's, on
 * every response of a request whose key or org has a rate limit
 * (docs/limits.md): the tighter of the two. */
static void add_limit_headers(tg_request_t *r)
{
    const tg_limit_hold_t *h = &r->hold;
    static const struct {
        const char *name;
        size_t len;
    } names[2][3] = {
        {{H2O_STRLIT("x-ratelimit-limit-requests")}, {H2O_STRLIT("x-ratelimit-remaining-requests")},
         {H2O_STRLIT("x-ratelimit-reset-requests")}},
        {{H2O_STRLIT("x-ratelimit-limit-tokens")}, {H2O_STRLIT("x-ratelimit-remaining-tokens")},
         {H2O_STRLIT("x-ratelimit-reset-tokens")}},
    };
    bool shown[2] = {h->show_requests, h->show_tokens};
    int64_t values[2][3] = {{h->requests_limit, h->requests_remaining, h->requests_reset_ns},
                            {h->tokens_limit, h->tokens_remaining, h->tokens_reset_ns}};
    for (int i = 0; i < 2; i++) {
        if (!shown[i])
            continue;
        for (int k = 0; k < 3; k++) {
            char *buf = h2o_mem_alloc_pool(&r->req->pool, 24);
            size_t n = k < 2 ? tg_format_decimal(buf, (size_t)values[i][k]) : tg_limits_format_reset(buf, 24, values[i][k]);
            h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, names[i][k].name, names[i][k].len, 1, NULL, buf,
                                  n);
        }
    }
}

/* x-tollgate-cache (docs/cache.md): hit-memory, hit-sqlite or miss, on
 * the answers of requests the cache was asked about. */
static void add_cache_header(tg_request_t *r)
{
    const char *value = tg_cache_response_header(&r->cache);
    if (value != NULL)
        add_header(r->req, H2O_STRLIT("x-tollgate-cache"), h2o_iovec_init(value, strlen(value)));
}

/* ---------------------------------------------------------------- streams */

static void stream_flush(void *ctx)
{
    tg_exchange_t *ex = ctx;
    tg_stream_out_t *s = &ex->stream;
    h2o_req_t *req = ex->r.req;
    if (s->state == TG_STREAM_NONE || s->sending.bytes_inflight != 0 || ex->r.client_gone)
        return;
    h2o_iovec_t vec = h2o_doublebuffer_prepare(&s->sending, &s->pending, req->preferred_chunk_size);
    bool last = s->state == TG_STREAM_CLOSING && s->pending->size == 0 && vec.len == s->sending.buf->size;
    if (!last && vec.len == 0)
        return;
    h2o_send_state_t state = !last ? H2O_SEND_STATE_IN_PROGRESS : s->failed ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
    h2o_send(req, &vec, vec.len != 0 ? 1 : 0, state);
}

static void on_stream_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    tg_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(tg_exchange_t, stream.generator, generator);
    h2o_doublebuffer_consume(&ex->stream.sending);
    stream_flush(ex);
}

/* h2o calls stop when the client connection goes away mid-response. */
static void on_stream_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    tg_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(tg_exchange_t, stream.generator, generator);
    tg_upstream_cancel(&ex->r.call);
}

static void stream_begin(void *ctx, const tg_upstream_result_t *progress)
{
    tg_exchange_t *ex = ctx;
    tg_stream_out_t *s = &ex->stream;
    h2o_req_t *req = ex->r.req;
    /* h2o buffers come from h2o's recycling allocator, not a fresh malloc per request */
    h2o_buffer_init(&s->pending, &h2o_socket_buffer_prototype);
    h2o_doublebuffer_init(&s->sending, &h2o_socket_buffer_prototype);
    s->generator = (h2o_generator_t){on_stream_proceed, on_stream_stop};
    s->state = TG_STREAM_OPEN;
    req->res.status = progress->upstream_status;
    req->res.reason = "OK";
    add_header(req, H2O_STRLIT("content-type"), h2o_iovec_init(H2O_STRLIT("text/event-stream")));
    add_header(req, H2O_STRLIT("cache-control"), h2o_iovec_init(H2O_STRLIT("no-cache")));
    add_route_headers(&ex->r, progress);
    add_limit_headers(&ex->r);
    add_cache_header(&ex->r);
    h2o_start_response(req, &s->generator);
}

static void stream_write(void *ctx, const char *data, size_t len)
{
    tg_exchange_t *ex = ctx;
    h2o_iovec_t room = h2o_buffer_reserve(&ex->stream.pending, len);
    memcpy(room.base, data, len);
    ex->stream.pending->size += len;
}

static size_t stream_unsent(void *ctx)
{
    tg_exchange_t *ex = ctx;
    return ex->stream.pending->size;
}

const tg_upstream_sink_t tg_respond_sink = {stream_begin, stream_write, stream_flush, stream_unsent};

/* A stream that broke after its 200 ends with an error event in the shape
 * OpenAI's API sends mid-stream (a `data:` line whose object is an error
 * and has no choices; the official SDKs raise it as an APIError), instead
 * of [DONE]: the client must not take what it got for the whole answer.
 * Counted in api_errors_total like any error sent. */
static void stream_error_event(tg_exchange_t *ex, const tg_upstream_result_t *res)
{
    tg_request_t *r = &ex->r;
    const char *message = res->client_too_slow ? "The stream was ended because the client did not read it fast "
                                                 "enough; the response is incomplete."
                          : res->llm_status == TG_LLM_TIMEOUT
                              ? "The request timed out while the response was streaming; the response is incomplete."
                              : "The upstream provider's stream broke off; the response is incomplete.";
    tg_error_t e;
    tg_error_set(&e, 0, TG_ERR_UPSTREAM, TG_CODE_UPSTREAM_STREAM_BROKEN, message, NULL);
    char json[TG_ERROR_JSON_MAX];
    size_t len = tg_error_json(json, sizeof(json), &e); /* ends in a newline: the event's blank line follows */
    char *anthropic = r->operation == TG_OP_MESSAGES ? tg_anthropic_error_json(&e, &len) : NULL;
    if (anthropic != NULL) /* Anthropic's streams end in an error event of its shape */
        stream_write(ex, H2O_STRLIT("event: error\ndata: "));
    else
        stream_write(ex, H2O_STRLIT("data: "));
    stream_write(ex, anthropic != NULL ? anthropic : json, len);
    stream_write(ex, anthropic != NULL ? "\n\n" : "\n", anthropic != NULL ? 2 : 1);
    free(anthropic);
    tg_obs_record_error(r->env.view, e.type, e.code, r->route);
}

void tg_respond_dispose(tg_exchange_t *ex)
{
    if (ex->stream.state == TG_STREAM_NONE)
        return;
    h2o_buffer_dispose(&ex->stream.pending);
    h2o_doublebuffer_dispose(&ex->stream.sending);
    ex->stream.state = TG_STREAM_NONE;
}

/* ---------------------------------------------------------------- answers */

static void on_log_timer(h2o_timeout_entry_t *entry)
{
    tg_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(tg_exchange_t, log_timer, entry);
    tg_log_access(&ex->r.access);
}

void tg_respond_flush_log(tg_exchange_t *ex)
{
    if (!h2o_timeout_is_linked(&ex->log_timer))
        return;
    h2o_timeout_unlink(&ex->log_timer);
    tg_log_access(&ex->r.access);
}

/* The access line, the costlier part, is built once the response is on its
 * way: at the end of this loop iteration, or at dispose if that comes
 * first. Its strings live in the request and its snapshot. */
void tg_respond_log_later(tg_exchange_t *ex)
{
    ex->log_timer.cb = on_log_timer;
    h2o_timeout_link(ex->r.env.loop, ex->r.env.immediate, &ex->log_timer);
}

void tg_respond(tg_request_t *r)
{
    tg_exchange_t *ex = tg_exchange_of(r);
    if (r->client_gone) {
        tg_log_access(&r->access); /* from dispose: the request goes now */
        return;
    }
    h2o_req_t *req = r->req;
    const tg_upstream_result_t *res = r->result;
    if (ex->stream.state == TG_STREAM_NONE) { /* a stream has them already */
        add_limit_headers(r);
        add_cache_header(r);
    }
    if (r->error.status != 0) {
        if (res != NULL)
            add_route_headers(r, res);
        send_whole(req, tg_respond_error_body(r));
    } else if (res != NULL && res->streamed) {
        ex->stream.state = TG_STREAM_CLOSING;
        ex->stream.failed = res->llm_status != TG_LLM_SUCCESS;
        if (ex->stream.failed)
            stream_error_event(ex, res);
        else if (res->held_end.len != 0)
            stream_write(ex, res->held_end.base, res->held_end.len);
        stream_flush(ex);
    } else if (res != NULL) {
        req->res.status = res->upstream_status;
        req->res.reason = res->upstream_status < 300 ? "OK" : "Upstream Error";
        add_header(req, H2O_STRLIT("content-type"), res->content_type);
        add_route_headers(r, res);
        send_whole(req, res->body);
    } else if (r->reply.status != 0) {
        req->res.status = r->reply.status;
        req->res.reason = status_reason(r->reply.status);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, r->reply.content_type,
                       strlen(r->reply.content_type));
        if (r->reply.content_encoding != NULL)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, r->reply.content_encoding,
                           strlen(r->reply.content_encoding));
        if (r->cache.stream_reply) /* a replayed stream, whole: as a live one, not to be cached on the way */
            add_header(req, H2O_STRLIT("cache-control"), h2o_iovec_init(H2O_STRLIT("no-cache")));
        send_whole(req, r->reply.body);
    }
    tg_respond_log_later(ex);
}
