/* call.c: see call.h. The transport is http1.c: on_head sees the status
 * (or why there is none), on_body gets the body as it arrives. Everything
 * runs on the worker's loop, so no state here is shared.
 *
 * The call's state (tg_call_state_t) moves only so:
 *
 *   from          event                                        to
 *   IDLE          tg_upstream_start                            SENDING, or REPORTED (503)
 *                                                              when no route's breaker admits
 *   SENDING       head 2xx, plain; or 4xx to relay             BUFFERING
 *   SENDING       head 2xx, stream                             STREAM_OPEN
 *   SENDING       connect/reset/timeout, 5xx, 429              BACKOFF, or REPORTED when no
 *                                                              route is left (502/504/429)
 *   SENDING,      the first-token deadline (no retry on this   BACKOFF (0 ms) on the next
 *   STREAM_OPEN   route: a slow provider is slow again)        route, or REPORTED (504/502)
 *   BACKOFF       retry timer                                  SENDING
 *   BUFFERING     body complete, a JSON object (or relayed)    REPORTED
 *   BUFFERING     broken off, too big, not JSON                BACKOFF or REPORTED
 *   STREAM_OPEN   an event before the first output             STREAM_OPEN (held)
 *   STREAM_OPEN   the first output, [DONE], or too much held   STREAMING (held events first)
 *   STREAM_OPEN   broken off before the first output           BACKOFF or REPORTED
 *   STREAMING     [DONE] and the end; a cut; garbage; the
 *                 client too slow; the deadline                REPORTED
 *   not REPORTED  the request deadline                         REPORTED
 *   not IDLE      tg_upstream_dispose (reports a client
 *                 disconnect first if not REPORTED)            IDLE
 *
 * Only SENDING, BUFFERING and STREAM_OPEN have an upstream connection,
 * only BACKOFF a retry timer, and only SENDING and STREAM_OPEN the
 * first-token timer (when the provider has first_token_timeout_ms): it
 * starts with the attempt and stops at the response head (plain) or the
 * first output (streams), so nothing has reached the client when it
 * fires.
 *
 * Before each attempt the route's circuit breaker is asked (health/,
 * tg_health_admit; in half-open that takes a probe): a route it does not
 * admit is skipped as if its retries were spent. The route stage already
 * left out the routes that were not usable when the request was routed;
 * this check catches a breaker that opened since, mid-request included.
 * A request the route stage made the probe of an open route (its model's
 * `when_all_open: probe`) has that one route, and its first attempt cuts
 * the breaker's cooldown short (tg_health_admit with probe). */
#include "upstream/call.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "obs/log.h"
#include "pipeline/parse.h"

/* A plain response bigger than this is treated as a broken upstream. */
#define MAX_BUFFERED_RESPONSE (64u << 20)
/* One SSE event bigger than this is garbage (real chunks are < 4 KB). */
#define MAX_SSE_EVENT (1u << 20)
/* Events held before a stream's first output: past this the stream is
 * handed on anyway (a provider sending only keep-alives would otherwise
 * grow the request without bound). */
#define MAX_HELD_STREAM (64u << 10)
/* Stream bytes received but not yet taken by the client: past this the
 * client reads far slower than the provider writes, and holding more would
 * let one stalled reader grow the process without bound. */
#define MAX_UNSENT_STREAM (16u << 20)

static void start_attempt(tg_upstream_call_t *call);

static const tg_route_config_t *current_route(tg_upstream_call_t *call)
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

/* Appends n bytes at *p and advances it. */
static void append(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

/* Who is answering: read by the sink when a stream begins, and by the
 * server from the report. */
static void note_route(tg_upstream_call_t *call)
{
    call->result.provider_index = current_route(call)->provider;
    call->result.first_provider_index = call->in.routes[0].provider;
    call->result.fell_back = call->route != 0;
    call->result.model_used = current_route(call)->upstream_model;
}

static void drop_connection(tg_upstream_call_t *call)
{
    if (call->client != NULL) {
        tg_http1_cancel(call->client);
        call->client = NULL;
    }
}

static void stop_first_token_timer(tg_upstream_call_t *call)
{
    if (h2o_timeout_is_linked(&call->first_token_timer))
        h2o_timeout_unlink(&call->first_token_timer);
}

static void stop_timers(tg_upstream_call_t *call)
{
    if (h2o_timeout_is_linked(&call->retry_timer))
        h2o_timeout_unlink(&call->retry_timer);
    if (h2o_timeout_is_linked(&call->deadline_timer))
        h2o_timeout_unlink(&call->deadline_timer);
    stop_first_token_timer(call);
}

/* The current route's last failure, for the report. Failures are off the
 * hot path: the table is allocated at the first. */
static void note_failure(tg_upstream_call_t *call, tg_retry_reason_t reason)
{
    tg_upstream_result_t *r = &call->result;
    if (r->route_failures == NULL) {
        r->route_failures = h2o_mem_alloc_pool(&call->in.req->pool, call->in.route_count * sizeof(*r->route_failures));
        for (size_t i = 0; i < call->in.route_count; i++)
            r->route_failures[i] = TG_RETRY_REASON_COUNT;
    }
    r->route_failures[call->route] = reason;
}

static void drop_translator(tg_upstream_call_t *call)
{
    tg_anthropic_stream_free(call->xs);
    call->xs = NULL;
}

static void report(tg_upstream_call_t *call)
{
    drop_translator(call);
    call->state = TG_CALL_REPORTED;
    stop_timers(call);
    note_route(call);
    call->in.done(call->in.done_ctx, &call->result);
}

/* Every route failed, or was skipped by its breaker, before anything
 * reached the client. */
static void fail_all(tg_upstream_call_t *call, bool deadline)
{
    tg_upstream_result_t *r = &call->result;
    if (call->failures == 0 && !deadline) {
        r->llm_status = TG_LLM_ERROR;
        tg_error_set(&r->error, 503, TG_ERR_UPSTREAM, TG_CODE_ALL_PROVIDERS_UNAVAILABLE,
                     "Every provider for this model is unavailable (circuit breaker open); retry later.", NULL);
        r->error.retry_after = 1; /* the route stage, which saw them usable, knows no better time */
    } else if (call->failures > 0 && call->failures_429 == call->failures) {
        r->llm_status = TG_LLM_RATE_LIMITED;
        tg_error_set(&r->error, 429, TG_ERR_RATE_LIMIT, TG_CODE_UPSTREAM_RATE_LIMITED,
                     "Every provider for this model is rate limiting requests.", NULL);
    } else if (deadline || (call->failures > 0 && call->failures_timeout == call->failures)) {
        r->llm_status = TG_LLM_TIMEOUT;
        tg_error_set(&r->error, 504, TG_ERR_UPSTREAM, TG_CODE_UPSTREAM_TIMEOUT, "The upstream provider timed out.", NULL);
    } else {
        r->llm_status = TG_LLM_ERROR;
        tg_error_set(&r->error, 502, TG_ERR_UPSTREAM, TG_CODE_UPSTREAM_UNAVAILABLE,
                     "Every provider for this model failed.", NULL);
    }
    r->http_status = r->error.status;
    report(call);
}

static void on_retry_timer(h2o_timeout_entry_t *entry)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, retry_timer, entry);
    start_attempt(call);
}

static bool traced(const tg_upstream_call_t *call)
{
    return call->in.tracer != NULL && call->in.trace->sampled;
}

/* The attempt's CLIENT span (docs/observability.md, "Traces"), from its start to now. A
 * relayed error (a 4xx the provider gave) is ok for the provider's health
 * but an error of the call. */
static void trace_attempt(tg_upstream_call_t *call, bool ok, tg_retry_reason_t reason)
{
    const tg_route_config_t *route = current_route(call);
    const tg_provider_config_t *p = current_pool(call)->provider;
    tg_trace_span_t s;
    uint8_t id[8];
    tg_trace_attempt_id(call->in.trace, call->result.attempts, id);
    tg_span_init(&s, call->in.trace, TG_SPAN_CLIENT, id, call->attempt_started_at, tg_clock_seconds());
    s.operation = tg_operation_name(call->in.operation);
    s.genai_operation = tg_operation_genai_name(call->in.operation);
    s.genai_provider = tg_provider_type_name(p->type);
    snprintf(s.name, sizeof(s.name), "%s %s", s.genai_operation, route->upstream_model);
    tg_span_text(s.provider, p->name, strlen(p->name));
    tg_span_text(s.request_model, route->upstream_model, strlen(route->upstream_model));
    memcpy(s.response_model, call->response_model, sizeof(s.response_model));
    memcpy(s.finish_reason, call->finish_reason, sizeof(s.finish_reason));
    tg_span_text(s.server_address, p->host, strlen(p->host));
    s.server_port = p->port;
    s.attempt = call->result.attempts;
    s.http_status = call->attempt_status;
    if (ok && call->result.usage.present) {
        s.input_tokens = call->result.usage.prompt_tokens;
        s.output_tokens = call->result.usage.completion_tokens;
    }
    if (!ok)
        snprintf(s.error_type, sizeof(s.error_type), "%s", tg_retry_reason_name(reason));
    else if (call->attempt_status >= 400)
        snprintf(s.error_type, sizeof(s.error_type), "%d", call->attempt_status);
    s.error = s.error_type[0] != '\0';
    tg_tracer_submit(call->in.tracer, &s);
}

/* A traced attempt's response model and finish reason, from its plain body
 * or each of its stream's events (the reason comes in the last ones). */
static void note_response_fields(tg_upstream_call_t *call, const char *json, size_t len)
{
    char reason[TG_SPAN_TEXT];
    if (call->response_model[0] == '\0')
        tg_json_string_value(json, len, "model", call->response_model, sizeof(call->response_model));
    if (tg_json_string_value(json, len, "finish_reason", reason, sizeof(reason)) > 0)
        memcpy(call->finish_reason, reason, sizeof(reason));
}

/* One attempt of the current route is over: its outcome is the provider's
 * health and breaker (health/), its duration also a response time metric,
 * and its span. */
static void report_attempt(tg_upstream_call_t *call, bool ok, tg_retry_reason_t reason, double seconds)
{
    if (traced(call))
        trace_attempt(call, ok, reason);
    tg_upstream_pool_t *pool = current_pool(call);
    tg_health_report_attempt(call->in.health, pool->provider_index, ok, reason, seconds);
    tg_health_route_breaker_report(call->in.health, call->in.cfg, current_route(call), ok, reason,
                                   call->attempt_started_at, tg_clock_seconds());
    tg_obs_record_attempt(call->in.view, pool->provider_index, seconds);
}

/* Whether the current route's breaker lets an attempt through now. The
 * first attempt of a request routed as the probe of an open route cuts its
 * cooldown short; a retry after it does not. */
static bool admitted(tg_upstream_call_t *call)
{
    return tg_health_route_admit(call->in.health, call->in.cfg, current_route(call),
                                 call->in.probe_open_route && call->failures == 0, tg_clock_seconds());
}

/* Moves to the next route whose breaker admits an attempt; false when none
 * is left. */
static bool next_route(tg_upstream_call_t *call)
{
    while (call->route + 1 < call->in.route_count) {
        call->route++;
        call->retries_on_route = 0;
        call->reqbufs[0].base = NULL; /* rebuild for the new route */
        if (admitted(call))
            return true;
    }
    return false;
}

/* The current attempt failed in a retryable way; the client has seen
 * nothing. The upstream connection is already gone. */
static void attempt_failed(tg_upstream_call_t *call, tg_retry_reason_t reason)
{
    tg_upstream_pool_t *pool = current_pool(call);
    report_attempt(call, false, reason, tg_clock_seconds() - call->attempt_started_at);
    note_failure(call, reason);
    stop_first_token_timer(call);
    call->client = NULL;
    call->failures++;
    call->failures_429 += reason == TG_RETRY_STATUS_429;
    call->failures_timeout += reason == TG_RETRY_TIMEOUT;
    h2o_buffer_consume(&call->buffered, call->buffered->size);

    h2o_timeout_t *wait;
    if (call->retries_on_route < pool->provider->max_retries && admitted(call)) {
        tg_obs_record_retry(call->in.view, pool->provider_index, reason);
        wait = tg_upstream_pool_backoff(pool, call->retries_on_route);
        call->retries_on_route++;
    } else if (next_route(call)) {
        tg_obs_record_fallback(call->in.view, pool->provider_index, current_pool(call)->provider_index);
        wait = call->in.immediate;
    } else {
        fail_all(call, false);
        return;
    }
    /* always through the loop: the failing connection is still on the stack */
    call->state = TG_CALL_BACKOFF;
    call->retry_timer.cb = on_retry_timer;
    h2o_timeout_link(current_pool(call)->loop, wait != NULL ? wait : call->in.immediate, &call->retry_timer);
}

/* ------------------------------------------------------------ plain body */

/* Cheap structural check of a JSON object: one object, its brackets
 * balanced outside strings, nothing after it but whitespace. Full
 * validation would cost a parse of every response. */
static bool looks_like_json_object(const char *s, size_t len)
{
    const char *end = s + len;
    while (end > s && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
        end--;
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s < end && *s == '{' && tg_json_container_end(s, end) == end;
}

/* The translation's counts into u. Reasoning tokens are not among them
 * (Anthropic's usage has no such count): u keeps those tg_usage_scan read
 * from an OpenAI answer, which an Anthropic client's usage cannot show but
 * the ledger and the metrics count. */
static void usage_from(tg_usage_t *u, const tg_xlate_usage_t *x)
{
    *u = (tg_usage_t){.prompt_tokens = x->prompt_tokens, .completion_tokens = x->completion_tokens,
                      .cached_tokens = x->cached_tokens, .reasoning_tokens = u->reasoning_tokens,
                      .cache_write_tokens = x->cache_write_tokens, .present = x->present};
}

/* A translated body (malloc'd) into the request's pool; NULL stays NULL. */
static h2o_iovec_t pooled(tg_upstream_call_t *call, char *text, size_t len)
{
    h2o_iovec_t v = text != NULL ? h2o_strdup(&call->in.req->pool, text, len) : h2o_iovec_init(NULL, 0);
    free(text);
    return v;
}

/* A plain answer of a translating route: into the client's API (an error
 * body too), the usage read on the way. false: the answer could not be
 * translated (the provider's fault: bad_response). */
static bool translate_plain(tg_upstream_call_t *call, h2o_iovec_t *body, bool relayed_error)
{
    tg_upstream_result_t *r = &call->result;
    tg_xlate_usage_t xu = {0};
    tg_xlate_error_t err;
    size_t n = 0;
    char *out = NULL;
    switch (call->dialect) {
    case TG_DIALECT_CHAT_TO_ANTHROPIC:
        out = relayed_error ? tg_anthropic_error_to_chat(r->http_status, body->base, body->len, &n)
                            : tg_anthropic_response_to_chat(body->base, body->len, call->in.client_model, 0, &xu, &n, &err);
        break;
    case TG_DIALECT_MESSAGES_TO_OPENAI:
        out = relayed_error ? tg_anthropic_error_from_chat(r->http_status, body->base, body->len, &n)
                            : tg_anthropic_response_from_chat(body->base, body->len, call->in.client_model, &xu, &n,
                                                              &err);
        break;
    case TG_DIALECT_MESSAGES_NATIVE: /* passed on as it is: translated only to read its usage */
        if (!relayed_error)
            free(tg_anthropic_response_to_chat(body->base, body->len, NULL, 0, &xu, &n, &err));
        usage_from(&r->usage, &xu);
        return true;
    case TG_DIALECT_NATIVE:
    case TG_DIALECT_UNSUPPORTED:
        return true;
    }
    if (out == NULL)
        return false;
    usage_from(&r->usage, &xu);
    *body = pooled(call, out, n);
    return true;
}

/* The whole body is in: check it, and report it for the server to send. */
static void finish_buffered(tg_upstream_call_t *call)
{
    tg_upstream_result_t *r = &call->result;
    h2o_iovec_t body = h2o_iovec_init(call->buffered->bytes, call->buffered->size);
    bool relayed_error = r->http_status >= 300;

    /* speech is audio, a transcription may be text (response_format): only
     * the operations that answer JSON are held to it */
    bool answers_json = call->in.operation != TG_OP_AUDIO_SPEECH && call->in.operation != TG_OP_AUDIO_TRANSCRIPTION;
    if (!relayed_error) {
        if (answers_json && !looks_like_json_object(body.base, body.len)) {
            attempt_failed(call, TG_RETRY_BAD_RESPONSE);
            return;
        }
        tg_usage_scan(body.base, body.len, &r->usage);
        if (traced(call))
            note_response_fields(call, body.base, body.len);
        r->llm_status = TG_LLM_SUCCESS;
    } else {
        r->llm_status = TG_LLM_ERROR;
    }
    if (call->dialect != TG_DIALECT_NATIVE && !translate_plain(call, &body, relayed_error)) {
        attempt_failed(call, TG_RETRY_BAD_RESPONSE);
        return;
    }
    report_attempt(call, true, TG_RETRY_CONNECT, tg_clock_seconds() - call->attempt_started_at);

    /* A completion checked as JSON is labelled JSON whatever the upstream
     * said (an SDK parses by the label); an error body keeps its label. */
    static const char json_type[] = "application/json";
    bool labelled_json = r->content_type.len >= sizeof(json_type) - 1 &&
                         h2o_lcstris(r->content_type.base, sizeof(json_type) - 1, H2O_STRLIT(json_type));
    if (r->content_type.len == 0 || (!relayed_error && answers_json && !labelled_json))
        r->content_type = h2o_iovec_init(H2O_STRLIT(json_type));
    r->body = body;
    r->answered = true;
    report(call);
}

static bool on_body_buffered(tg_upstream_call_t *call, const char *data, size_t len, bool done, const char *errstr,
                             tg_retry_reason_t reason)
{
    if (errstr != NULL) {
        attempt_failed(call, reason);
        return false;
    }
    if (call->buffered->size + len > MAX_BUFFERED_RESPONSE) {
        attempt_failed(call, TG_RETRY_BAD_RESPONSE);
        return false;
    }
    if (len != 0) {
        h2o_iovec_t room = h2o_buffer_reserve(&call->buffered, len);
        memcpy(room.base, data, len);
        call->buffered->size += len;
    }
    if (done) {
        call->client = NULL;
        finish_buffered(call);
    }
    return true;
}

/* ---------------------------------------------------------------- stream */

/* The stream goes to the client from here on, the events held so far
 * first: no other route can be tried any more. */
static void begin_stream(tg_upstream_call_t *call)
{
    stop_first_token_timer(call);
    call->state = TG_CALL_STREAMING;
    call->first_byte_seconds = tg_clock_seconds() - call->attempt_started_at;
    call->result.answered = true;
    call->result.streamed = true;
    note_route(call);
    call->in.sink->stream_begin(call->in.sink_ctx, &call->result);
    if (call->buffered->size != 0) {
        call->in.sink->stream_write(call->in.sink_ctx, call->buffered->bytes, call->buffered->size);
        h2o_buffer_consume(&call->buffered, call->buffered->size);
    }
}

/* Bytes for the client: held while the stream has no output yet (so that
 * an attempt that stalls can still be left for the next route), else
 * handed to the responder. OpenAI's streams all open with a role-only
 * chunk, so most streams hold one buffer: h2o's recycling allocator's, the
 * plain body's, unused by streams. */
static int client_write(void *ctx, const char *data, size_t len)
{
    tg_upstream_call_t *call = ctx;
    if (call->state == TG_CALL_STREAM_OPEN) {
        h2o_iovec_t room = h2o_buffer_reserve(&call->buffered, len);
        memcpy(room.base, data, len);
        call->buffered->size += len;
    } else {
        call->in.sink->stream_write(call->in.sink_ctx, data, len);
    }
    return 0;
}

/* The stream's last events, kept back: a client that sees the end ([DONE],
 * response.completed, message_stop) holds the whole answer, so it goes out
 * after the request's ledger row is in the journal (server/respond.c). */
static int hold_end(void *ctx, const char *data, size_t len)
{
    tg_upstream_call_t *call = ctx;
    h2o_iovec_t *end = &call->result.held_end;
    char *joined = h2o_mem_alloc_pool(&call->in.req->pool, end->len + len);
    if (end->len != 0)
        memcpy(joined, end->base, end->len);
    memcpy(joined + end->len, data, len);
    *end = h2o_iovec_init(joined, end->len + len);
    return 0;
}

/* A chat event (what the accounting reads) to the client, in its API. */
static void deliver(tg_upstream_call_t *call, const tg_sse_event_t *ev)
{
    bool end = ev->kind == TG_SSE_DONE;
    switch (call->dialect) {
    case TG_DIALECT_NATIVE:
    case TG_DIALECT_CHAT_TO_ANTHROPIC:
        (end ? hold_end : client_write)(call, ev->raw, ev->raw_len);
        return;
    case TG_DIALECT_MESSAGES_TO_OPENAI: /* into Anthropic's events */
        tg_anthropic_stream_feed(call->xs, ev->raw, ev->raw_len, end ? hold_end : client_write, call);
        return;
    case TG_DIALECT_MESSAGES_NATIVE: /* the provider's own events went to the client already */
    case TG_DIALECT_UNSUPPORTED:
        return;
    }
}

static int on_sse_event(void *ctx, const tg_sse_event_t *ev)
{
    tg_upstream_call_t *call = ctx;

    if (ev->kind == TG_SSE_DONE)
        call->saw_done = true;
    if (call->in.observe_event != NULL)
        call->in.observe_event(call->in.observe_ctx, call->result.attempts, ev);
    if (ev->usage.present)
        call->result.usage = ev->usage;
    if (ev->kind == TG_SSE_DATA && traced(call))
        note_response_fields(call, ev->raw, ev->raw_len);
    if (ev->has_content) {
        if (call->result.content_events++ == 0)
            call->result.ttft_seconds = tg_clock_seconds() - call->in.started_at;
    }
    if (ev->usage_only && call->in.strip_usage)
        return 0;
    if (call->state == TG_CALL_STREAM_OPEN &&
        (ev->kind == TG_SSE_DONE || tg_sse_has_output(ev) || call->buffered->size + ev->raw_len > MAX_HELD_STREAM))
        begin_stream(call);
    deliver(call, ev);
    return 0;
}

/* A chat event a translator made (Anthropic's stream as chat chunks): read
 * like the provider's own. */
static int on_translated_event(void *ctx, const char *data, size_t len)
{
    tg_upstream_call_t *call = ctx;
    if (tg_anthropic_stream_info(call->xs)->failed)
        return 0; /* its error chunk: the responder ends a broken stream with the gateway's own */
    tg_sse_event_t ev;
    tg_sse_classify(data, len, &ev);
    return on_sse_event(ctx, &ev);
}

/* Anthropic's own event for an Anthropic client: read through a
 * translation (usage, output), then passed on as it came. */
static int on_anthropic_event(void *ctx, const tg_sse_event_t *ev)
{
    tg_upstream_call_t *call = ctx;
    tg_anthropic_stream_feed(call->xs, ev->raw, ev->raw_len, on_translated_event, call);
    const tg_anthropic_stream_info_t *info = tg_anthropic_stream_info(call->xs);
    if (info->done) /* message_stop: the end, kept back */
        return hold_end(call, ev->raw, ev->raw_len);
    if (call->state == TG_CALL_STREAM_OPEN && info->output_seen)
        begin_stream(call);
    return client_write(call, ev->raw, ev->raw_len);
}

/* A streamed attempt is judged when the stream ends, not at its first
 * byte: a provider that cuts a stream, sends garbage or stalls past the
 * deadline failed, though the client got a 200. Its response time is the
 * time to its first byte, so that a long generation does not read as a
 * slow provider. */
static void record_stream_attempt(tg_upstream_call_t *call, bool ok, tg_retry_reason_t reason)
{
    report_attempt(call, ok, reason, call->first_byte_seconds);
}

/* The upstream stream is over (cleanly or not) after events were handed
 * on; provider_ok: the provider did its part (the stream ended cleanly, or
 * the gateway ended it because of the client), else `failure` says how it
 * failed. */
static void finish_stream(tg_upstream_call_t *call, tg_llm_status_t status, bool provider_ok, tg_retry_reason_t failure)
{
    record_stream_attempt(call, provider_ok, failure);
    if (!provider_ok)
        note_failure(call, failure);
    call->result.llm_status = status;
    report(call);
}

/* Back to a fresh parser for the next attempt: nothing of this one counts. */
static void forget_stream(tg_upstream_call_t *call)
{
    drop_translator(call);
    tg_sse_init(&call->sse, MAX_SSE_EVENT, pool_alloc, &call->in.req->pool);
    call->result.usage.present = 0;
    call->result.content_events = 0;
    call->result.ttft_seconds = -1;
    call->result.held_end = h2o_iovec_init(NULL, 0);
    call->saw_done = false;
}

static bool on_body_stream(tg_upstream_call_t *call, const char *data, size_t len, bool done, const char *errstr,
                           tg_retry_reason_t reason)
{
    int rc = 0;

    if (len != 0 && call->dialect == TG_DIALECT_CHAT_TO_ANTHROPIC)
        rc = tg_anthropic_stream_feed(call->xs, data, len, on_translated_event, call) < 0 ? -1 : 0;
    else if (len != 0)
        rc = tg_sse_feed(&call->sse, data, len, call->dialect == TG_DIALECT_MESSAGES_NATIVE ? on_anthropic_event
                                                                                          : on_sse_event,
                         call);
    /* a stalled client ends the stream as broken (what is held still goes
     * out), which is no fault of the provider's */
    bool stalled = rc == 0 && !done && errstr == NULL && call->state == TG_CALL_STREAMING &&
                   call->in.sink->stream_unsent(call->in.sink_ctx) > MAX_UNSENT_STREAM;
    if (rc == 0 && !done && errstr == NULL && !stalled) {
        if (call->state == TG_CALL_STREAMING)
            call->in.sink->stream_flush(call->in.sink_ctx);
        return true;
    }

    /* the upstream side is over: complete, broken off, or garbage we refuse */
    call->client = NULL;
    bool clean = rc == 0 && done && call->saw_done;
    if (call->xs != NULL) /* Anthropic counts its cache writes apart; the chat usage chunk cannot carry them */
        call->result.usage.cache_write_tokens = tg_anthropic_stream_info(call->xs)->usage.cache_write_tokens;
    if (call->state == TG_CALL_STREAM_OPEN) { /* no [DONE] came, and no output */
        forget_stream(call);
        attempt_failed(call, errstr != NULL ? reason : TG_RETRY_BAD_RESPONSE);
        return false;
    }
    call->result.client_too_slow = stalled;
    tg_llm_status_t status = TG_LLM_SUCCESS;
    if (!clean)
        status = errstr != NULL && reason == TG_RETRY_TIMEOUT ? TG_LLM_TIMEOUT : TG_LLM_ERROR;
    finish_stream(call, status, clean || stalled, errstr != NULL ? reason : TG_RETRY_BAD_RESPONSE);
    return rc == 0 && !stalled;
}

/* ---------------------------------------------------------- the attempt */

/* What a transport failure means for retries and health: a refused TLS
 * handshake is a connect failure, and a configuration or security
 * problem, not a passing fault: each one is logged with OpenSSL's reason. */
static tg_retry_reason_t retry_reason(tg_upstream_call_t *call, tg_http1_failure_t failure, const char *errstr)
{
    switch (failure) {
    case TG_HTTP1_TLS: {
        const tg_provider_config_t *p = current_pool(call)->provider;
        tg_log(TG_LOG_WARN, "upstream", strchr(p->host, ':') ? "provider %s: TLS handshake with [%s]:%u failed: %s"
               : "provider %s: TLS handshake with %s:%u failed: %s", p->name, p->host, p->port, errstr);
        return TG_RETRY_CONNECT;
    }
    case TG_HTTP1_RESET: return TG_RETRY_RESET;
    case TG_HTTP1_TIMEOUT: return TG_RETRY_TIMEOUT;
    case TG_HTTP1_BAD_RESPONSE: return TG_RETRY_BAD_RESPONSE;
    case TG_HTTP1_OK:
    case TG_HTTP1_CONNECT: break;
    }
    return TG_RETRY_CONNECT;
}

static bool on_head(void *ctx, const char *errstr, tg_http1_failure_t failure, int status, h2o_iovec_t content_type,
                    unsigned retry_after)
{
    tg_upstream_call_t *call = ctx;

    if (errstr != NULL) {
        attempt_failed(call, retry_reason(call, failure, errstr));
        return false;
    }
    call->attempt_status = status;
    if (status == 429 && retry_after > 0) {
        tg_upstream_pool_t *pool = current_pool(call);
        tg_health_cool_down(call->in.health, pool->provider_index, &pool->provider->breaker, retry_after,
                            tg_clock_seconds());
    }
    if (status >= 500 || status == 429) {
        attempt_failed(call, status == 429 ? TG_RETRY_STATUS_429 : TG_RETRY_STATUS_5XX);
        return false;
    }
    h2o_req_t *req = call->in.req;
    call->result.http_status = status;
    call->result.upstream_status = status;
    call->result.content_type = content_type.len ? h2o_strdup(&req->pool, content_type.base, content_type.len)
                                                 : h2o_iovec_init(NULL, 0);
    call->state = call->in.stream && status < 300 ? TG_CALL_STREAM_OPEN : TG_CALL_BUFFERING;
    if (call->state == TG_CALL_BUFFERING)
        stop_first_token_timer(call); /* a plain answer's first token is its head */
    return true;
}

static bool on_body(void *ctx, const char *data, size_t len, bool done, const char *errstr, tg_http1_failure_t failure)
{
    tg_upstream_call_t *call = ctx;
    tg_retry_reason_t reason = errstr != NULL ? retry_reason(call, failure, errstr) : TG_RETRY_CONNECT;
    return call->state == TG_CALL_BUFFERING ? on_body_buffered(call, data, len, done, errstr, reason)
                                            : on_body_stream(call, data, len, done, errstr, reason);
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
 * request's pool. false: the route's provider cannot take the request
 * (call->xlate_error says why). */
static bool build_request(tg_upstream_call_t *call)
{
    h2o_req_t *req = call->in.req;
    tg_upstream_pool_t *pool = current_pool(call);
    bool add_usage = call->in.stream && call->in.strip_usage && call->dialect == TG_DIALECT_NATIVE;

    const char *model = current_route(call)->upstream_model;
    char *body;
    size_t body_len;
    if (call->dialect == TG_DIALECT_CHAT_TO_ANTHROPIC || call->dialect == TG_DIALECT_MESSAGES_TO_OPENAI) {
        char *text = call->dialect == TG_DIALECT_CHAT_TO_ANTHROPIC
                         ? tg_anthropic_request_from_chat(call->in.body, call->in.body_len, model,
                                                          call->in.default_max_tokens, &body_len, &call->xlate_error)
                         : tg_anthropic_request_to_chat(call->in.body, call->in.body_len, model, &body_len,
                                                        &call->xlate_error);
        if (text == NULL)
            return false;
        h2o_iovec_t v = pooled(call, text, body_len);
        body = v.base;
    } else {
        if (call->dialect == TG_DIALECT_UNSUPPORTED) {
            call->xlate_error = (tg_xlate_error_t){.status = 400, .param = "model"};
            snprintf(call->xlate_error.message, sizeof(call->xlate_error.message),
                     "Provider %s speaks Anthropic's Messages API: it serves chat and messages, not %s.",
                     pool->provider->name, tg_operation_name(call->in.operation));
            return false;
        }
        body_len = tg_parse_build_upstream_body(call->in.body, call->in.body_len, &call->in.members, model, add_usage,
                                                NULL, 0);
        body = h2o_mem_alloc_pool(&req->pool, body_len);
        tg_parse_build_upstream_body(call->in.body, call->in.body_len, &call->in.members, model, add_usage, body,
                                     body_len);
    }

    const char *suffix = tg_dialect_path(call->dialect, call->in.operation);
    /* a form (audio transcription) goes with the client's type: its boundary */
    h2o_iovec_t type = h2o_iovec_init(H2O_STRLIT("application/json"));
    ssize_t ct = call->in.members.model_raw ? h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1) : -1;
    if (ct >= 0)
        type = req->headers.entries[ct].value;
    size_t suffix_len = strlen(suffix), traceparent_len = strlen(call->in.traceparent),
           request_id_len = strlen(call->in.request_id);
    /* request line, fixed headers, content type and length, traceparent,
     * x-request-id: 160 bytes cover the literal parts and the length's digits */
    size_t head_cap = 160 + pool->path_prefix.len + suffix_len + pool->fixed_headers.len + type.len + traceparent_len +
                      request_id_len;
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
    append(&p, H2O_STRLIT("content-type: "));
    append(&p, type.base, type.len);
    append(&p, H2O_STRLIT("\r\ncontent-length: "));
    p += tg_format_decimal(p, body_len);
    append(&p, H2O_STRLIT("\r\ntraceparent: "));
    call->traceparent_span = p + 36; /* "00-" trace "-": start_attempt writes each attempt's span id */
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
    return true;
}

/* The first token is late: the attempt is abandoned as a timeout and the
 * next route tried at once, not this one again (max_retries does not
 * apply): what made this provider slow makes a retry slow as well, and the
 * deadline is there to answer fast. */
static void on_first_token_deadline(h2o_timeout_entry_t *entry)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, first_token_timer, entry);
    drop_connection(call);
    if (call->state == TG_CALL_STREAM_OPEN)
        forget_stream(call);
    call->retries_on_route = current_pool(call)->provider->max_retries;
    attempt_failed(call, TG_RETRY_TIMEOUT);
}

static void start_attempt(tg_upstream_call_t *call)
{
    call->dialect = tg_dialect_of(call->in.operation, current_pool(call)->provider->type);
    if (call->reqbufs[0].base == NULL && !build_request(call)) {
        /* the client's request, not the provider: refused, nothing sent */
        tg_xlate_error_get(&call->xlate_error, &call->result.error);
        call->result.http_status = call->result.error.status;
        call->result.llm_status = TG_LLM_ERROR;
        report(call);
        return;
    }
    drop_translator(call);
    if (call->in.stream && call->dialect != TG_DIALECT_NATIVE && call->dialect != TG_DIALECT_UNSUPPORTED) {
        bool to_chat = call->dialect != TG_DIALECT_MESSAGES_TO_OPENAI;
        call->xs = tg_anthropic_stream_new(to_chat ? TG_ANTHROPIC_STREAM_TO_CHAT : TG_ANTHROPIC_STREAM_FROM_CHAT,
                                           call->dialect == TG_DIALECT_MESSAGES_NATIVE ? NULL : call->in.client_model,
                                           1, 0, MAX_SSE_EVENT);
        if (call->xs == NULL) {
            tg_error_set(&call->result.error, 500, TG_ERR_INTERNAL, TG_CODE_INTERNAL_ERROR,
                         "The gateway is out of memory.", NULL);
            call->result.http_status = 500;
            report(call);
            return;
        }
    }
    call->result.attempts++;
    /* The provider's spans nest under this attempt's (docs/observability.md, "Traces"). */
    uint8_t span_id[8];
    char hex[17];
    tg_trace_attempt_id(call->in.trace, call->result.attempts, span_id);
    tg_trace_hex(hex, span_id, 8);
    memcpy(call->traceparent_span, hex, 16);
    call->attempt_status = 0;
    call->response_model[0] = call->finish_reason[0] = '\0';
    call->attempt_started_at = tg_clock_seconds();
    call->state = TG_CALL_SENDING;
    tg_upstream_pool_t *pool = current_pool(call);
    if (pool->provider->first_token_timeout_ms != 0) {
        call->first_token_timer.cb = on_first_token_deadline;
        h2o_timeout_link(pool->loop, &pool->first_token_timeout, &call->first_token_timer);
    }
    call->client = tg_http1_send(pool, call->reqbufs[0], call->reqbufs[1], on_head, on_body, call);
    if (call->client == NULL) {
        call->result.attempts--;
        call->result.llm_status = TG_LLM_ERROR;
        tg_error_set(&call->result.error, 500, TG_ERR_INTERNAL, TG_CODE_INTERNAL_ERROR,
                     "The gateway is out of memory.", NULL);
        call->result.http_status = 500;
        report(call);
    }
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    tg_upstream_call_t *call = H2O_STRUCT_FROM_MEMBER(tg_upstream_call_t, deadline_timer, entry);
    bool had_client = call->client != NULL;
    drop_connection(call);
    if (call->state == TG_CALL_STREAMING) {
        finish_stream(call, TG_LLM_TIMEOUT, false, TG_RETRY_TIMEOUT);
        return;
    }
    if (had_client) {
        report_attempt(call, false, TG_RETRY_TIMEOUT, tg_clock_seconds() - call->attempt_started_at);
        note_failure(call, TG_RETRY_TIMEOUT);
    }
    fail_all(call, true);
}

void tg_upstream_start(tg_upstream_call_t *call, const tg_upstream_in_t *in)
{
    memset(call, 0, sizeof(*call));
    call->in = *in;
    call->result.ttft_seconds = -1;
    call->result.llm_status = TG_LLM_ERROR;
    /* h2o buffers come from h2o's recycling allocator, not a fresh malloc per request */
    h2o_buffer_init(&call->buffered, &h2o_socket_buffer_prototype);
    tg_sse_init(&call->sse, MAX_SSE_EVENT, pool_alloc, &in->req->pool);

    call->deadline_timer.cb = on_deadline;
    h2o_timeout_link(current_pool(call)->loop, in->deadline, &call->deadline_timer);
    if (admitted(call) || next_route(call))
        start_attempt(call);
    else
        fail_all(call, false);
}

void tg_upstream_cancel(tg_upstream_call_t *call)
{
    drop_connection(call);
    stop_timers(call);
}

void tg_upstream_dispose(tg_upstream_call_t *call)
{
    if (call->state == TG_CALL_IDLE)
        return;
    tg_upstream_cancel(call);
    if (call->state != TG_CALL_REPORTED) {
        if (call->state == TG_CALL_STREAMING)
            record_stream_attempt(call, true, TG_RETRY_CONNECT); /* the client left, not the provider */
        tg_upstream_result_t *r = &call->result;
        r->client_gone = true;
        r->llm_status = TG_LLM_CLIENT_DISCONNECT;
        r->http_status = call->state == TG_CALL_STREAMING ? r->http_status : 499;
        report(call);
    }
    drop_translator(call);
    h2o_buffer_dispose(&call->buffered);
    call->state = TG_CALL_IDLE;
}
