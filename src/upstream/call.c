/* call.c: see call.h. The transport is http1.c: on_head sees the status
 * (or why there is none), on_body gets the body as it arrives. Everything
 * runs on the worker's loop, so no state here is shared. */
#include "upstream/call.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "pipeline/parse.h"

/* A plain response bigger than this is treated as a broken upstream. */
#define MAX_BUFFERED_RESPONSE (64u << 20)
/* One SSE event bigger than this is garbage (real chunks are < 4 KB). */
#define MAX_SSE_EVENT (1u << 20)
/* Stream bytes received but not yet taken by the client: past this the
 * client reads far slower than the provider writes, and holding more would
 * let one stalled reader grow the process without bound. */
#define MAX_UNSENT_STREAM (16u << 20)

static void start_attempt(tg_upstream_call_t *call);
static void flush_stream(tg_upstream_call_t *call);

static const tg_route_config *current_route(tg_upstream_call_t *call)
{
    return &call->in.routes[call->route];
}

static tg_upstream_pool_t *current_pool(tg_upstream_call_t *call)
{
    return &call->in.pools[current_route(call)->provider];
}

static void *pool_alloc(void *ctx, size_t size)
{
    return h2o_mem_alloc_pool((h2o_mem_pool_t *)ctx, size);
}

/* Writes v in decimal at out (room for 20 digits); returns the length.
 * By hand: snprintf was a tenth of the request path's instructions. */
static size_t format_decimal(char *out, size_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* Appends n bytes at *p and advances it. */
static void append(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

static void add_header(h2o_req_t *req, const char *name, size_t name_len, h2o_iovec_t value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 1, NULL, value.base, value.len);
}

/* X-Tollgate-* response headers (docs/gateway-behaviour.md). */
static void add_route_headers(tg_upstream_call_t *call, bool answered)
{
    h2o_req_t *req = call->in.req;
    char buf[20];
    size_t n = format_decimal(buf, call->result.attempts);
    add_header(req, H2O_STRLIT("x-tollgate-attempts"), h2o_strdup(&req->pool, buf, n));
    if (!answered)
        return;
    const tg_provider_config *answering = current_pool(call)->provider;
    add_header(req, H2O_STRLIT("x-tollgate-provider"), h2o_iovec_init(answering->name, strlen(answering->name)));
    if (call->route != 0) {
        const tg_provider_config *first = call->in.pools[call->in.routes[0].provider].provider;
        add_header(req, H2O_STRLIT("x-tollgate-fallback"),
                   h2o_concat(&req->pool, h2o_iovec_init(first->name, strlen(first->name)), h2o_iovec_init(H2O_STRLIT("->")),
                              h2o_iovec_init(answering->name, strlen(answering->name))));
    }
}

static void report(tg_upstream_call_t *call)
{
    if (call->reported)
        return;
    call->reported = true;
    if (h2o_timeout_is_linked(&call->deadline_timer))
        h2o_timeout_unlink(&call->deadline_timer);
    call->result.provider_index = current_route(call)->provider;
    call->result.model_used = current_route(call)->upstream_model;
    call->in.done(call->in.done_ctx, &call->result);
}

/* Every route failed before anything reached the client. */
static void fail_all(tg_upstream_call_t *call, bool deadline)
{
    tg_upstream_result_t *r = &call->result;
    if (call->failures > 0 && call->failures_429 == call->failures) {
        r->llm_status = OBS_LLM_RATE_LIMITED;
        tg_error_set(&r->error, 429, OBS_ERR_RATE_LIMIT, OBS_CODE_UPSTREAM_RATE_LIMITED,
                     "Every provider for this model is rate limiting requests.", NULL);
    } else if (deadline || (call->failures > 0 && call->failures_timeout == call->failures)) {
        r->llm_status = OBS_LLM_TIMEOUT;
        tg_error_set(&r->error, 504, OBS_ERR_UPSTREAM, OBS_CODE_UPSTREAM_TIMEOUT, "The upstream provider timed out.", NULL);
    } else {
        r->llm_status = OBS_LLM_ERROR;
        tg_error_set(&r->error, 502, OBS_ERR_UPSTREAM, OBS_CODE_UPSTREAM_UNAVAILABLE,
                     "Every provider for this model failed.", NULL);
    }
    r->http_status = r->error.status;
    add_route_headers(call, false);
    report(call);
}

static void on_retry_timer(h2o_timeout_entry_t *entry)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, retry_timer, entry);
    start_attempt(call);
}

/* The current attempt failed in a retryable way; the client has seen
 * nothing. The upstream connection is already gone. */
static void attempt_failed(tg_upstream_call_t *call, obs_retry_reason reason)
{
    tg_upstream_pool_t *pool = current_pool(call);
    obs_record_attempt(call->in.view, pool->provider_index, false, reason, tg_clock_seconds() - call->attempt_started_at);
    call->failures++;
    call->failures_429 += reason == OBS_RETRY_STATUS_429;
    call->failures_timeout += reason == OBS_RETRY_TIMEOUT;
    if (call->buffered != NULL)
        h2o_buffer_consume(&call->buffered, call->buffered->size);

    h2o_timeout_t *wait;
    if (call->retries_on_route < pool->provider->max_retries) {
        obs_record_retry(call->in.view, pool->provider_index, reason);
        wait = tg_upstream_pool_backoff(pool, call->retries_on_route);
        call->retries_on_route++;
    } else if (call->route + 1 < call->in.route_count) {
        size_t from = pool->provider_index;
        call->route++;
        call->retries_on_route = 0;
        call->reqbufs[0].base = NULL; /* rebuild for the new route */
        obs_record_fallback(call->in.view, from, current_pool(call)->provider_index);
        wait = call->in.immediate;
    } else {
        fail_all(call, false);
        return;
    }
    /* always through the loop: the failing connection is still on the stack */
    call->retry_timer.cb = on_retry_timer;
    h2o_timeout_link(current_pool(call)->loop, wait != NULL ? wait : call->in.immediate, &call->retry_timer);
}

/* ------------------------------------------------------------ plain body */

/* Cheap structural check of a JSON object: balanced braces outside
 * strings. Full validation would cost a parse of every response. */
static bool looks_like_json_object(const char *s, size_t len)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == '\t'))
        len--;
    while (len > 0 && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
        len--;
    }
    if (len < 2 || s[0] != '{' || s[len - 1] != '}')
        return false;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            /* Strings are most of a response: jump from quote to quote. A
             * quote ends the string unless an odd run of backslashes
             * escapes it. */
            for (;;) {
                const char *quote = memchr(s + i + 1, '"', len - i - 1);
                if (quote == NULL)
                    return false; /* unterminated string */
                i = (size_t)(quote - s);
                size_t backslashes = 0;
                while (s[i - 1 - backslashes] == '\\')
                    backslashes++;
                if (backslashes % 2 == 0)
                    break;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0 || (depth == 0 && i != len - 1))
                return false;
        }
    }
    return depth == 0;
}

/* Whether the client closed or reset its connection while the upstream
 * call ran. h2o 2.2.5 stops reading an HTTP/1 connection while its request
 * is handled, so nobody noticed; HTTP/2 reads on and reports a disconnect
 * through the generator's stop and the request's dispose. A FIN counts as
 * gone: HTTP/1.1 has no half-close, and h2o ends the connection on one.
 * Pending bytes (a pipelined request) mean the client is there.
 * Cost: one recv(2) per plain HTTP/1 response, 0.35 us (1e6 calls on an
 * idle loopback socket, the 2-core EPYC of bench/RESULTS.md): under 2% of
 * the 18-23 us of CPU a plain proxied request costs there. */
static bool client_gone(h2o_req_t *req)
{
    if (req->version >= 0x200)
        return false;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return false;
    char byte;
    ssize_t n = recv(h2o_socket_get_fd(sock), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void send_buffered(tg_upstream_call_t *call)
{
    h2o_req_t *req = call->in.req;
    h2o_iovec_t body = h2o_iovec_init(call->buffered->bytes, call->buffered->size);

    if (!call->passthrough_error) {
        if (!looks_like_json_object(body.base, body.len)) {
            attempt_failed(call, OBS_RETRY_BAD_RESPONSE);
            return;
        }
        tg_usage_scan(body.base, body.len, &call->result.usage);
        call->result.llm_status = OBS_LLM_SUCCESS;
    } else {
        call->result.llm_status = OBS_LLM_ERROR;
    }
    obs_record_attempt(call->in.view, current_pool(call)->provider_index, true, OBS_RETRY_CONNECT,
                       tg_clock_seconds() - call->attempt_started_at);
    if (client_gone(req)) {
        /* The provider answered (and bills the usage, which stays
         * counted); only the client is not there to read it. The response
         * still goes to h2o, whose write then fails and closes the
         * connection. */
        call->result.llm_status = OBS_LLM_CLIENT_DISCONNECT;
        call->result.http_status = 499;
    }

    /* A completion checked as JSON is labelled JSON whatever the upstream
     * said (an SDK parses by the label); an error body keeps its label. */
    static const char json_type[] = "application/json";
    h2o_iovec_t content_type = call->content_type;
    bool labelled_json = content_type.len >= sizeof(json_type) - 1 &&
                         h2o_lcstris(content_type.base, sizeof(json_type) - 1, H2O_STRLIT(json_type));
    if (content_type.len == 0 || (!call->passthrough_error && !labelled_json))
        content_type = h2o_iovec_init(H2O_STRLIT(json_type));
    req->res.content_length = body.len;
    add_header(req, H2O_STRLIT("content-type"), content_type);
    add_route_headers(call, true);
    call->response_started = true;
    report(call);
    h2o_start_response(req, &call->generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static bool on_body_buffered(void *ctx, const char *data, size_t len, bool done, const char *errstr,
                             obs_retry_reason reason)
{
    tg_upstream_call_t *call = ctx;

    if (errstr != NULL) {
        call->client = NULL;
        attempt_failed(call, reason);
        return false;
    }
    if (call->buffered->size + len > MAX_BUFFERED_RESPONSE) {
        call->client = NULL;
        attempt_failed(call, OBS_RETRY_BAD_RESPONSE);
        return false;
    }
    if (len != 0) {
        h2o_iovec_t room = h2o_buffer_reserve(&call->buffered, len);
        memcpy(room.base, data, len);
        call->buffered->size += len;
    }
    if (done) {
        call->client = NULL;
        send_buffered(call);
    }
    return true;
}

/* ---------------------------------------------------------------- stream */

static int on_sse_event(void *ctx, const tg_sse_event_t *ev)
{
    tg_upstream_call_t *call = ctx;

    if (ev->kind == TG_SSE_DONE)
        call->saw_done = true;
    if (ev->usage.present)
        call->result.usage = ev->usage;
    if (ev->has_content) {
        if (call->result.content_events++ == 0)
            call->result.ttft_seconds = tg_clock_seconds() - call->in.started_at;
    }
    if (ev->usage_only && call->in.strip_usage)
        return 0;
    h2o_iovec_t room = h2o_buffer_reserve(&call->pending, ev->raw_len);
    memcpy(room.base, ev->raw, ev->raw_len);
    call->pending->size += ev->raw_len;
    return 0;
}

static void start_stream_response(tg_upstream_call_t *call)
{
    h2o_req_t *req = call->in.req;
    call->first_byte_seconds = tg_clock_seconds() - call->attempt_started_at;
    add_header(req, H2O_STRLIT("content-type"), h2o_iovec_init(H2O_STRLIT("text/event-stream")));
    add_header(req, H2O_STRLIT("cache-control"), h2o_iovec_init(H2O_STRLIT("no-cache")));
    add_route_headers(call, true);
    call->response_started = true;
    h2o_start_response(req, &call->generator);
}

/* A streamed attempt is judged when the stream ends, not at its first
 * byte: a provider that cuts a stream, sends garbage or stalls past the
 * deadline failed, though the client got a 200. Its response time is the
 * time to its first byte, so that a long generation does not read as a
 * slow provider. */
static void record_stream_attempt(tg_upstream_call_t *call, bool ok, obs_retry_reason reason)
{
    obs_record_attempt(call->in.view, current_pool(call)->provider_index, ok, reason, call->first_byte_seconds);
}

/* The upstream stream is over (cleanly or not) after events were sent;
 * provider_ok: the provider did its part (the stream ended cleanly, or the
 * gateway ended it because of the client), else `failure` says how it
 * failed. */
static void finish_stream(tg_upstream_call_t *call, obs_llm_status status, bool provider_ok, obs_retry_reason failure)
{
    record_stream_attempt(call, provider_ok, failure);
    call->upstream_finished = true;
    call->stream_failed = status != OBS_LLM_SUCCESS;
    call->result.llm_status = status;
    report(call);
    flush_stream(call);
}

static bool on_body_stream(void *ctx, const char *data, size_t len, bool done, const char *errstr,
                           obs_retry_reason reason)
{
    tg_upstream_call_t *call = ctx;
    int rc = 0;

    if (len != 0)
        rc = tg_sse_feed(&call->sse, data, len, on_sse_event, call);
    /* a stalled client ends the stream as broken (what is held still goes
     * out), which is no fault of the provider's */
    bool stalled = rc == 0 && !done && errstr == NULL && call->response_started &&
                   call->pending->size > MAX_UNSENT_STREAM;
    if (rc == 0 && !done && errstr == NULL && !stalled) {
        if (call->pending->size != 0) {
            if (!call->response_started)
                start_stream_response(call);
            flush_stream(call);
        }
        return true;
    }

    /* the upstream side is over: complete, broken off, or garbage we refuse */
    call->client = NULL;
    bool clean = rc == 0 && done && call->saw_done;
    if (!call->response_started) {
        if (clean || call->pending->size != 0) {
            start_stream_response(call);
        } else {
            tg_sse_init(&call->sse, MAX_SSE_EVENT, pool_alloc, &call->in.req->pool);
            call->result.usage.present = 0;
            call->result.content_events = 0;
            call->result.ttft_seconds = -1;
            call->saw_done = false;
            attempt_failed(call, errstr != NULL ? reason : OBS_RETRY_BAD_RESPONSE);
            return false;
        }
    }
    obs_llm_status status = OBS_LLM_SUCCESS;
    if (!clean)
        status = errstr != NULL && reason == OBS_RETRY_TIMEOUT ? OBS_LLM_TIMEOUT : OBS_LLM_ERROR;
    finish_stream(call, status, clean || stalled, errstr != NULL ? reason : OBS_RETRY_BAD_RESPONSE);
    return rc == 0 && !stalled;
}

static void flush_stream(tg_upstream_call_t *call)
{
    if (call->sending.bytes_inflight != 0 || !call->response_started)
        return;
    h2o_req_t *req = call->in.req;
    h2o_iovec_t vec = h2o_doublebuffer_prepare(&call->sending, &call->pending, req->preferred_chunk_size);
    bool last = call->upstream_finished && call->pending->size == 0 && vec.len == call->sending.buf->size;
    if (!last && vec.len == 0)
        return;
    h2o_send_state_t state = !last ? H2O_SEND_STATE_IN_PROGRESS
                                   : call->stream_failed ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
    h2o_send(req, &vec, vec.len != 0 ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, generator, generator);
    if (call->buffers_ready && call->in.stream && !call->passthrough_error) {
        h2o_doublebuffer_consume(&call->sending);
        flush_stream(call);
    }
}

static void cancel_upstream(tg_upstream_call_t *call)
{
    if (call->client != NULL) {
        tg_http1_cancel(call->client);
        call->client = NULL;
    }
    if (h2o_timeout_is_linked(&call->retry_timer))
        h2o_timeout_unlink(&call->retry_timer);
    if (h2o_timeout_is_linked(&call->deadline_timer))
        h2o_timeout_unlink(&call->deadline_timer);
}

/* h2o calls stop when the client connection goes away mid-response. */
static void on_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    cancel_upstream(H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, generator, generator));
}

/* ---------------------------------------------------------- the attempt */

static bool on_head(void *ctx, const char *errstr, obs_retry_reason reason, int status, h2o_iovec_t content_type)
{
    tg_upstream_call_t *call = ctx;

    if (errstr != NULL) {
        call->client = NULL;
        attempt_failed(call, reason);
        return false;
    }
    if (status >= 500 || status == 429) {
        call->client = NULL;
        attempt_failed(call, status == 429 ? OBS_RETRY_STATUS_429 : OBS_RETRY_STATUS_5XX);
        return false;
    }
    h2o_req_t *req = call->in.req;
    call->result.http_status = status;
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Upstream Error";
    call->passthrough_error = status >= 300;
    call->content_type = content_type.len ? h2o_strdup(&req->pool, content_type.base, content_type.len)
                                          : h2o_iovec_init(NULL, 0);
    call->stream_body = call->in.stream && !call->passthrough_error;
    return true;
}

static bool on_body(void *ctx, const char *data, size_t len, bool done, const char *errstr, obs_retry_reason reason)
{
    tg_upstream_call_t *call = ctx;
    return call->stream_body ? on_body_stream(ctx, data, len, done, errstr, reason)
                             : on_body_buffered(ctx, data, len, done, errstr, reason);
}

/* Whether a client header goes to the provider. An allow-list: whatever
 * else a client sends (its own credentials, billing and routing headers
 * such as OpenAI-Organization, a test provider's fault switches, or just
 * enough headers to make the provider refuse the request) is not the
 * provider's business. Content negotiation and the trace state always go
 * (compression excepted: the gateway reads the body); host, content-type,
 * authorization, traceparent and x-request-id are tollgate's own; anything
 * else only when the provider's forward_headers names it. */
static bool forward_request_header(const tg_upstream_pool_t *pool, const h2o_header_t *h)
{
    if (h2o_iovec_is_token(h->name)) {
        const h2o_token_t *t = H2O_STRUCT_FROM_MEMBER(h2o_token_t, buf, h->name);
        if (t == H2O_TOKEN_ACCEPT || t == H2O_TOKEN_ACCEPT_LANGUAGE)
            return true;
        for (size_t i = 0; i != pool->forward_token_count; i++)
            if (pool->forward_tokens[i] == t)
                return true;
        return false;
    }
    if (h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("tracestate")))
        return true;
    for (size_t i = 0; i != pool->forward_name_count; i++)
        if (h2o_lcstris(h->name->base, h->name->len, pool->forward_names[i].base, pool->forward_names[i].len))
            return true;
    return false;
}

/* Builds the request line, headers and body for the current route in the
 * request's pool. */
static void build_request(tg_upstream_call_t *call)
{
    h2o_req_t *req = call->in.req;
    tg_upstream_pool_t *pool = current_pool(call);
    bool add_usage = call->in.stream && call->in.strip_usage;

    const char *model = current_route(call)->upstream_model;
    size_t body_len = tg_parse_build_upstream_body(call->in.body, call->in.body_len, &call->in.members, model, add_usage,
                                                   NULL, 0);
    char *body = h2o_mem_alloc_pool(&req->pool, body_len);
    tg_parse_build_upstream_body(call->in.body, call->in.body_len, &call->in.members, model, add_usage, body, body_len);

    static const char chat_path[] = "/chat/completions", embeddings_path[] = "/embeddings";
    const char *suffix = call->in.operation == OBS_OP_CHAT ? chat_path : embeddings_path;
    size_t suffix_len = strlen(suffix), traceparent_len = strlen(call->in.traceparent),
           request_id_len = strlen(call->in.request_id);
    /* request line, fixed headers, content-length, traceparent, x-request-id:
     * 128 bytes cover the literal parts and the length's digits */
    size_t head_cap = 128 + pool->path_prefix.len + suffix_len + pool->fixed_headers.len + traceparent_len + request_id_len;
    for (size_t i = 0; i != req->headers.size; i++)
        if (forward_request_header(pool, &req->headers.entries[i]))
            head_cap += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    char *head = h2o_mem_alloc_pool(&req->pool, head_cap);
    char *p = head;
    append(&p, H2O_STRLIT("POST "));
    append(&p, pool->path_prefix.base, pool->path_prefix.len);
    append(&p, suffix, suffix_len);
    append(&p, H2O_STRLIT(" HTTP/1.1\r\n"));
    append(&p, pool->fixed_headers.base, pool->fixed_headers.len);
    append(&p, H2O_STRLIT("content-length: "));
    p += format_decimal(p, body_len);
    append(&p, H2O_STRLIT("\r\ntraceparent: "));
    append(&p, call->in.traceparent, traceparent_len);
    append(&p, H2O_STRLIT("\r\nx-request-id: "));
    append(&p, call->in.request_id, request_id_len);
    append(&p, H2O_STRLIT("\r\n"));
    for (size_t i = 0; i != req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (!forward_request_header(pool, h))
            continue;
        append(&p, h->orig_name ? h->orig_name : h->name->base, h->name->len);
        append(&p, H2O_STRLIT(": "));
        append(&p, h->value.base, h->value.len);
        append(&p, H2O_STRLIT("\r\n"));
    }
    append(&p, H2O_STRLIT("\r\n"));

    call->reqbufs[0] = h2o_iovec_init(head, (size_t)(p - head));
    call->reqbufs[1] = h2o_iovec_init(body, body_len);
}

static void start_attempt(tg_upstream_call_t *call)
{
    if (call->reqbufs[0].base == NULL)
        build_request(call);
    call->result.attempts++;
    call->attempt_started_at = tg_clock_seconds();
    call->client = tg_http1_send(current_pool(call), call->reqbufs[0], call->reqbufs[1], on_head, on_body, call);
    if (call->client == NULL) {
        call->result.attempts--;
        call->result.llm_status = OBS_LLM_ERROR;
        tg_error_set(&call->result.error, 500, OBS_ERR_INTERNAL, OBS_CODE_INTERNAL_ERROR,
                     "The gateway is out of memory.", NULL);
        call->result.http_status = 500;
        report(call);
    }
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, deadline_timer, entry);
    bool had_client = call->client != NULL;
    cancel_upstream(call);
    if (!call->response_started) {
        if (had_client)
            obs_record_attempt(call->in.view, current_pool(call)->provider_index, false, OBS_RETRY_TIMEOUT,
                               tg_clock_seconds() - call->attempt_started_at);
        fail_all(call, true);
    } else if (!call->upstream_finished) {
        finish_stream(call, OBS_LLM_TIMEOUT, false, OBS_RETRY_TIMEOUT);
    }
}

void tg_upstream_start(tg_upstream_call_t *call, const tg_upstream_in_t *in)
{
    memset(call, 0, sizeof(*call));
    call->in = *in;
    call->generator.proceed = on_proceed;
    call->generator.stop = on_stop;
    call->result.ttft_seconds = -1;
    call->result.llm_status = OBS_LLM_ERROR;
    /* h2o buffers come from h2o's recycling allocator, not a fresh malloc per request */
    h2o_buffer_init(&call->buffered, &h2o_socket_buffer_prototype);
    h2o_buffer_init(&call->pending, &h2o_socket_buffer_prototype);
    h2o_doublebuffer_init(&call->sending, &h2o_socket_buffer_prototype);
    call->buffers_ready = true;
    tg_sse_init(&call->sse, MAX_SSE_EVENT, pool_alloc, &in->req->pool);

    call->deadline_timer.cb = on_deadline;
    h2o_timeout_link(current_pool(call)->loop, in->deadline, &call->deadline_timer);
    start_attempt(call);
}

void tg_upstream_dispose(tg_upstream_call_t *call)
{
    if (!call->buffers_ready)
        return;
    cancel_upstream(call);
    if (call->stream_body && call->response_started && !call->upstream_finished)
        record_stream_attempt(call, true, OBS_RETRY_CONNECT); /* the client left, not the provider */
    if (!call->reported) {
        call->result.client_gone = true;
        call->result.llm_status = OBS_LLM_CLIENT_DISCONNECT;
        call->result.http_status = call->response_started ? call->result.http_status : 499;
        report(call);
    }
    h2o_buffer_dispose(&call->buffered);
    h2o_buffer_dispose(&call->pending);
    h2o_doublebuffer_dispose(&call->sending);
    call->buffers_ready = false;
}
