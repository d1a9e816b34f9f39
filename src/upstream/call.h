/* call.h: one proxied LLM request, from the first upstream attempt to the
 * last byte sent to the client. Tries the model's routes in order with
 * retries and backoff (docs/gateway-behaviour.md, "Routing, retries,
 * fallback") while nothing has been sent to the client, then either
 * buffers a plain response or passes a stream through event by event.
 *
 * The call is embedded in the server's per-request object (allocated from
 * the request's pool) and reports exactly once through `done`: when the
 * upstream part is over, or from tg_upstream_dispose() if the client went
 * away first. */
#ifndef TOLLGATE_UPSTREAM_CALL_H
#define TOLLGATE_UPSTREAM_CALL_H

#include <stdbool.h>
#include <time.h>

#include <h2o.h>

#include "config.h"
#include "obs/metrics.h"
#include "pipeline/error.h"
#include "pipeline/json_body.h"
#include "upstream/http1.h"
#include "upstream/pool.h"
#include "upstream/sse.h"
#include "upstream/usage.h"

static inline double tg_clock_seconds(void)
{
    /* vDSO: no system call */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct tg_upstream_result {
    tg_error_t error;          /* every route failed and nothing was sent: send this */
    obs_llm_status llm_status;
    size_t provider_index;     /* the provider that answered, or the last tried */
    const char *model_used;    /* its upstream model name */
    int attempts;
    int http_status;           /* what the client got (or gets: error.status) */
    tg_usage_t usage;
    long content_events;
    double ttft_seconds;       /* < 0 = no content chunk */
    bool client_gone;          /* reported from dispose: do not touch the request */
} tg_upstream_result_t;

typedef void (*tg_upstream_done_cb)(void *ctx, const tg_upstream_result_t *res);

typedef struct tg_upstream_in {
    h2o_req_t *req;
    const obs_view *view;
    tg_upstream_pool_t *pools; /* this worker's, indexed like cfg->providers */
    const tg_route_config *routes;
    size_t route_count;
    const char *body;          /* the client's body (h2o keeps it for the request) */
    size_t body_len;
    tg_json_body_t members;    /* where model and stream_options are in it */
    obs_operation operation;
    bool stream;
    bool strip_usage;          /* include_usage added by us: hide the usage chunk */
    const char *traceparent;   /* forwarded upstream */
    const char *request_id;    /* forwarded upstream as X-Request-ID */
    double started_at;         /* tg_clock_seconds() at request arrival */
    h2o_timeout_t *immediate;  /* 0 ms timer list: next route without backoff */
    h2o_timeout_t *deadline;   /* whole-request timeout */
    tg_upstream_done_cb done;
    void *done_ctx;
} tg_upstream_in_t;

typedef struct tg_upstream_call {
    h2o_generator_t generator;
    tg_upstream_in_t in;
    tg_upstream_result_t result;

    size_t route;              /* index into in.routes */
    unsigned retries_on_route;
    int failures, failures_429, failures_timeout;
    tg_http1_conn_t *client;   /* the attempt in progress */
    h2o_iovec_t reqbufs[2];    /* head and body of the current route */
    double attempt_started_at;
    double first_byte_seconds; /* streams: the attempt's time to its first byte */
    h2o_iovec_t content_type;  /* of the upstream response */
    bool passthrough_error;    /* a non-retryable 4xx is relayed as is */
    bool stream_body;          /* pass the body through as SSE (else buffer it) */

    h2o_buffer_t *buffered;    /* plain responses: the whole body */
    tg_sse_parser_t sse;
    h2o_buffer_t *pending;     /* stream events not yet handed to h2o */
    h2o_doublebuffer_t sending;
    bool saw_done;
    bool response_started;
    bool upstream_finished;
    bool stream_failed;
    bool reported;
    bool buffers_ready;

    h2o_timeout_entry_t retry_timer;
    h2o_timeout_entry_t deadline_timer;
} tg_upstream_call_t;

void tg_upstream_start(tg_upstream_call_t *call, const tg_upstream_in_t *in);

/* From the request's pool dispose: cancels what is still running and, if
 * the call has not reported yet, reports a client disconnect. */
void tg_upstream_dispose(tg_upstream_call_t *call);

#endif
