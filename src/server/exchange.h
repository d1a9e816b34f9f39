/* exchange.h: the server's side of one request: the pipeline's context
 * (pipeline/request.h) and what only the server touches (its worker, the
 * pinned snapshot, the access line's timer). Shared by handler.c (arrival,
 * dispose), respond.c (answering) and endpoint_stages.c. */
#ifndef TOLLGATE_SERVER_EXCHANGE_H
#define TOLLGATE_SERVER_EXCHANGE_H

#include "pipeline/request.h"
#include "server/worker.h"

/* A streamed answer on its way to the client (respond.c). */
typedef enum tg_stream_state {
    TG_STREAM_NONE = 0, /* no stream: no buffers */
    TG_STREAM_OPEN,     /* events come from the upstream as they arrive */
    TG_STREAM_CLOSING   /* the upstream part is over: the rest goes, then the end */
} tg_stream_state_t;

typedef struct tg_stream_out {
    tg_stream_state_t state;
    bool failed;               /* CLOSING: end it as broken (no clean end) */
    h2o_generator_t generator;
    h2o_buffer_t *pending;     /* events not yet handed to h2o */
    h2o_doublebuffer_t sending;
} tg_stream_out_t;

typedef struct tg_exchange {
    tg_request_t r;
    tg_worker_t *worker;
    tg_worker_snap_t *ws;          /* pins the config snapshot until dispose */
    h2o_timeout_entry_t log_timer; /* the access line, after the response */
    tg_stream_out_t stream;
} tg_exchange_t;

static inline tg_exchange_t *tg_exchange_of(tg_request_t *r)
{
    return H2O_STRUCT_FROM_MEMBER(tg_exchange_t, r, r);
}

/* respond.c: the `respond` of every request: sends the error or reply the
 * stages decided (the upstream relays its own answer), then schedules the
 * access line. Nothing is sent to a client that left. */
void tg_respond(tg_request_t *r);

/* respond.c: the OpenAI error JSON of r->error in the request's pool;
 * counts it in api_errors_total and sets the status, reason and type. */
h2o_iovec_t tg_respond_error_body(tg_request_t *r);

/* respond.c: schedules the access line for the end of this loop iteration. */
void tg_respond_log_later(tg_exchange_t *ex);

/* respond.c: the sink of upstream streams (upstream/call.h). */
extern const tg_upstream_sink_t tg_respond_sink;

/* respond.c: frees what a streamed answer held (at dispose). */
void tg_respond_dispose(tg_exchange_t *ex);

/* respond.c: writes the access line now if it is still scheduled (at dispose). */
void tg_respond_flush_log(tg_exchange_t *ex);

/* routes.c: the stage list of a request, from its route and method. On a
 * method the route does not take, *allow is set to the one it does. */
const tg_stage_t *tg_routes_stages(tg_route_t route, tg_method_t method, bool metrics_listener, size_t *count,
                                   const char **allow);

#endif
