/* call.h: the upstream part of one proxied LLM request. Tries the model's
 * routes in order with retries and backoff (docs/gateway-behaviour.md,
 * "Routing, retries, fallback") while nothing has reached the client, then
 * relays the provider's answer: a plain body, buffered and checked, or a
 * stream, event by event.
 *
 * The call never answers the client itself. A stream's events go to its
 * sink (the server's responder) as they come; everything else, the plain
 * body included, is in the result it reports exactly once through `done`:
 * when the upstream part is over, or from tg_upstream_dispose() if the
 * client went away first. The call is embedded in the request's context
 * (allocated from the request's pool). */
#ifndef TOLLGATE_UPSTREAM_CALL_H
#define TOLLGATE_UPSTREAM_CALL_H

#include <stdbool.h>

#include <h2o.h>

#include "config.h"
#include "core/clock.h"
#include "core/error.h"
#include "health/provider.h"
#include "obs/metrics.h"
#include "obs/trace.h"
#include "pipeline/json_body.h"
#include "upstream/adapter.h"
#include "upstream/anthropic.h"
#include "upstream/http1.h"
#include "upstream/pool.h"
#include "upstream/sse.h"
#include "upstream/usage.h"

typedef struct tg_upstream_result {
    tg_error_t error;          /* every route failed and nothing was sent: send this */
    tg_llm_status_t llm_status;
    size_t provider_index;     /* the provider that answered, or the last tried */
    size_t first_provider_index; /* the first route's: X-Tollgate-Fallback */
    bool fell_back;            /* the answer came from a later route */
    bool answered;             /* a provider answered (body or stream) */
    bool streamed;             /* ... as a stream, through the sink */
    const char *model_used;    /* its upstream model name */
    int attempts;
    int http_status;           /* what the client got (or gets: error.status) */
    int upstream_status;       /* answered: the provider's status, relayed */
    h2o_iovec_t content_type;  /* plain answers: of the body below */
    h2o_iovec_t body;          /* plain answers: the whole body, held by the call */
    tg_usage_t usage;
    long content_events;
    double ttft_seconds;       /* < 0 = no content chunk */
    bool client_gone;          /* reported from dispose: do not touch the request */
    bool client_too_slow;      /* a stream ended because its client did not read it */
    h2o_iovec_t held_end;      /* the stream's last event ([DONE], response.completed), kept
                                  back: the responder sends it last, once the request's
                                  ledger row is in the journal; len 0: none came */
    /* Per route (index as in the call's routes), the kind of its last
     * failed attempt, TG_RETRY_REASON_COUNT if none failed; NULL while no
     * attempt failed. The "why" of an error (the access line). */
    tg_retry_reason_t *route_failures;
} tg_upstream_result_t;

typedef void (*tg_upstream_done_cb)(void *ctx, const tg_upstream_result_t *res);

/* Where a stream's events go: the server's responder. Nothing goes there
 * before the stream's first output (text, a tool call, a refusal,
 * reasoning) or its clean end: the events before it (the role-only first
 * chunk, keep-alive comments) are held by the call, so that an attempt
 * that stalls after them can still be abandoned for the next route. */
typedef struct tg_upstream_sink {
    /* The first output is ready: the response starts (status 200). */
    void (*stream_begin)(void *ctx, const tg_upstream_result_t *progress);
    /* An event to pass on, in order; the sink copies it. */
    void (*stream_write)(void *ctx, const char *data, size_t len);
    /* What was written so far may go out now. */
    void (*stream_flush)(void *ctx);
    /* Bytes written but not yet taken by the client. */
    size_t (*stream_unsent)(void *ctx);
} tg_upstream_sink_t;

typedef struct tg_upstream_in {
    h2o_req_t *req;            /* the client's request: headers, pool */
    const tg_obs_view_t *view;
    const tg_health_view_t *health; /* where each attempt's outcome goes */
    const tg_config_t *cfg;    /* the snapshot: its breaker settings */
    tg_upstream_pool_t *pools; /* this worker's, indexed like cfg->providers */
    const tg_route_config_t *routes;
    size_t route_count;
    bool probe_open_route;     /* every route is open: the first attempt is routes[0]'s probe */
    const char *body;          /* the client's body (h2o keeps it for the request) */
    size_t body_len;
    tg_json_body_t members;    /* where model and stream_options are in it */
    tg_operation_t operation;
    const char *client_model;  /* the model the client named: a translated answer carries it */
    uint32_t default_max_tokens; /* an Anthropic provider needs max_tokens: when the client gave none */
    bool stream;
    bool strip_usage;          /* include_usage added by us: hide the usage chunk */
    const char *traceparent;   /* forwarded upstream, with each attempt's own span id */
    const tg_trace_ctx_t *trace; /* the request's trace: each attempt's span id derives from it */
    tg_tracer_t *tracer;       /* where the attempts' spans go; NULL: not recorded */
    const char *request_id;    /* forwarded upstream as X-Request-ID */
    double started_at;         /* tg_clock_seconds() at request arrival */
    h2o_timeout_t *immediate;  /* 0 ms timer list: next route without backoff */
    h2o_timeout_t *deadline;   /* whole-request timeout */
    const tg_upstream_sink_t *sink;
    void *sink_ctx;
    /* Optional: sees every event of a stream as it arrives, with the
     * number of the attempt it belongs to (a later attempt's events
     * replace an earlier one's): the response cache records streams. */
    void (*observe_event)(void *ctx, int attempt, const tg_sse_event_t *ev);
    void *observe_ctx;
    tg_upstream_done_cb done;
    void *done_ctx;
} tg_upstream_in_t;

/* The call's state: the transition table is at the top of call.c. */
typedef enum tg_call_state {
    TG_CALL_IDLE = 0,    /* not started, or disposed: no buffers */
    TG_CALL_SENDING,     /* an attempt is out, waiting for the response head */
    TG_CALL_BACKOFF,     /* between attempts */
    TG_CALL_BUFFERING,   /* a plain body (or an error body to relay) arrives */
    TG_CALL_STREAM_OPEN, /* a stream's head came; no output yet, nothing handed on */
    TG_CALL_STREAMING,   /* events handed to the sink: no retry any more */
    TG_CALL_REPORTED     /* over and reported; the body stays until dispose */
} tg_call_state_t;

typedef struct tg_upstream_call {
    tg_upstream_in_t in;
    tg_call_state_t state;
    tg_upstream_result_t result;
    size_t route;              /* index into in.routes */
    unsigned retries_on_route;
    int failures, failures_429, failures_timeout;
    tg_http1_conn_t *client;   /* the attempt in progress */
    h2o_iovec_t reqbufs[2];    /* head and body of the current route */
    double attempt_started_at;
    double first_byte_seconds; /* streams: the attempt's time to its first output */
    h2o_buffer_t *buffered;    /* plain responses: the whole body; streams: the
                                  events held before the first output */
    tg_sse_parser_t sse;
    bool saw_done;             /* the stream's [DONE] came */
    char *traceparent_span;    /* the span id's 16 digits in reqbufs[0]: each attempt writes its own */
    int attempt_status;        /* the attempt's response status; 0: none came */
    char response_model[TG_SPAN_TEXT]; /* traced attempts: the response's "model" */
    char finish_reason[TG_SPAN_TEXT];  /* traced attempts: the last "finish_reason" seen */
    tg_dialect_t dialect;      /* the current route's (upstream/adapter.h) */
    tg_anthropic_stream_t *xs; /* a translated (or translated-aside) stream's translator, the attempt's */
    tg_xlate_error_t xlate_error; /* a request the route's provider cannot take: result.error points into it */
    h2o_timeout_entry_t retry_timer;
    h2o_timeout_entry_t deadline_timer;
    h2o_timeout_entry_t first_token_timer; /* the attempt's first-token deadline */
} tg_upstream_call_t;

void tg_upstream_start(tg_upstream_call_t *call, const tg_upstream_in_t *in);

/* The client stopped reading a response in progress: closes the upstream
 * side; the report comes from dispose. */
void tg_upstream_cancel(tg_upstream_call_t *call);

/* From the request's pool dispose: cancels what is still running and, if
 * the call has not reported yet, reports a client disconnect. */
void tg_upstream_dispose(tg_upstream_call_t *call);

#endif
