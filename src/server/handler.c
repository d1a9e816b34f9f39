/* handler.c: the one h2o handler of tollgate. A request that arrives gets
 * its context (an exchange, in the request's memory pool), is classified
 * into its route template and method, and runs the stage list the route
 * table gives it (routes.c); the pipeline runner (pipeline/runner.c) does
 * the rest and hands it to respond.c. The only shared writes on the way are
 * the metric updates.
 *
 * Requests h2o refuses itself, before any handler (a body over the limit,
 * broken framing), are answered here too, by a filter on the host's
 * fallback path: they get OpenAI's error JSON, are counted and logged like
 * every other response. */
#include <string.h>

#include "pipeline/runner.h"
#include "pipeline/stages.h"
#include "server/exchange.h"
#include "server/linger.h"

typedef struct tg_handler {
    h2o_handler_t super;
    bool metrics_only; /* the metrics.listen listener */
} tg_handler_t;

static h2o_iovec_t header_by_name(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

static void on_exchange_dispose(void *p)
{
    tg_exchange_t *ex = p;
    tg_request_t *r = &ex->r;
    if (r->state != TG_REQ_FINISHED)
        r->client_gone = true;
    tg_stage_upstream_dispose(r); /* a call still running reports, and the request finishes */
    tg_pipeline_abandon(r);       /* a request still waiting finishes */
    tg_respond_flush_log(ex);     /* the request goes now: its line too */
    tg_respond_dispose(ex);
    tg_worker_request_done(ex->worker, ex->ws);
}

/* The exchange of a request that has just arrived (or that h2o refused):
 * pins the worker's current snapshot, names the request (X-Request-ID,
 * traceparent) and counts it in progress. */
static tg_exchange_t *exchange_begin(h2o_req_t *req)
{
    tg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(tg_worker_t, ctx, req->conn->ctx);
    /* one pool allocation per request; its dispose ends the request's bookkeeping */
    tg_exchange_t *ex = h2o_mem_alloc_shared(&req->pool, sizeof(*ex), on_exchange_dispose);
    memset(ex, 0, sizeof(*ex));
    ex->worker = worker;
    ex->ws = worker->current;
    ex->ws->inflight++;
    worker->inflight++;

    tg_request_t *r = &ex->r;
    r->req = req;
    r->env = (tg_request_env_t){
        .cfg = ex->ws->snap->cfg,
        .view = ex->ws->snap->view,
        .health = ex->ws->snap->health,
        .loop = worker->ctx.loop,
        .immediate = &worker->immediate,
        .deadline = &ex->ws->deadline,
        .pools = ex->ws->pools,
        .answers = &worker->answers,
        .rng = &worker->rng,
        .sink = &tg_respond_sink,
        .sink_ctx = ex,
        .store = &worker->store,
        .limits = worker->server->limits,
        .admin_key_hash = worker->server->admin_key_set ? worker->server->admin_key_hash : NULL,
        .cache = worker->server->cache,
        .tracer = worker->server->traces_queue,
    };
    r->respond = tg_respond;
    r->started_at = tg_clock_seconds();
    r->model_index = -1;
    r->route = tg_route_from_path(req->path.base, req->path.len, &r->category);
    r->method = tg_method_from_name(req->method.base, req->method.len);
    r->operation = tg_route_operation(r->route);
    tg_log_redact_copy(r->path, sizeof(r->path), req->path.base, req->path.len);
    tg_obs_http_in_progress(r->env.view, r->route, r->method, 1);

    h2o_iovec_t client_id = header_by_name(req, H2O_STRLIT("x-request-id"));
    tg_request_id(&worker->rng, client_id.base, client_id.len, r->request_id);
    h2o_iovec_t client_trace = header_by_name(req, H2O_STRLIT("traceparent"));
    char parent_span[17];
    tg_traceparent(&worker->rng, client_trace.base, client_trace.len, r->traceparent, r->trace_id, parent_span);
    tg_trace_ctx_init(&r->trace, r->traceparent, parent_span, r->started_at);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id,
                          strlen(r->request_id));
    return ex;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    tg_request_t *r = &exchange_begin(req)->r;
    const char *allow = NULL;
    size_t count;
    const tg_stage_t *stages = tg_routes_stages(r->route, r->method, ((tg_handler_t *)self)->metrics_only, &count, &allow);
    if (allow != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    tg_pipeline_start(r, stages, count);
    return 0;
}

/* ------------------------------------------- refusals made by h2o itself */

typedef struct tg_refusal_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
} tg_refusal_ostream_t;

/* Swallows h2o's text/plain body and sends the JSON one in its place. */
static void refusal_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    tg_refusal_ostream_t *os = (tg_refusal_ostream_t *)self;
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(self, req, &os->body, 1, state);
}

/* The error of a status h2o answers before any handler runs. */
static void refusal_error(int status, tg_error_t *e)
{
    switch (status) {
    case 413:
        tg_error_set(e, 413, TG_ERR_INVALID_REQUEST, TG_CODE_BODY_TOO_LARGE,
                     "Request body is larger than the configured limit.", NULL);
        break;
    case 417:
        tg_error_set(e, 417, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST,
                     "Only the 100-continue expectation is supported.", NULL);
        break;
    default:
        tg_error_set(e, status, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST,
                     "The request's framing is invalid (Content-Length or Transfer-Encoding).", NULL);
        break;
    }
}

/* h2o sends the refusal itself: left to do is the access line. */
static void respond_refused(tg_request_t *r)
{
    tg_respond_log_later(tg_exchange_of(r));
}

static const tg_stage_t refusal_stages[] = {{"account", tg_stage_account, true}};

/* Only h2o's own refusals reach the fallback path: every request h2o
 * hands on goes to the handler registered on "/". */
static void on_refusal(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    tg_exchange_t *ex = exchange_begin(req);
    tg_request_t *r = &ex->r;
    refusal_error(req->res.status, &r->error);
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id,
                          strlen(r->request_id));
    r->respond = respond_refused;
    tg_pipeline_start(r, refusal_stages, 1);
    tg_refusal_ostream_t *os = (tg_refusal_ostream_t *)h2o_add_ostream(req, sizeof(*os), slot);
    os->super.do_send = refusal_send;
    os->body = tg_respond_error_body(r);
    req->res.content_length = os->body.len;
    tg_linger_start(ex->worker, req);
    h2o_setup_next_ostream(req, &os->super.next);
}

void tg_handler_register(h2o_hostconf_t *hostconf, bool metrics_only)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    tg_handler_t *handler = (tg_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->metrics_only = metrics_only;
    h2o_create_filter(&hostconf->fallback_path, sizeof(h2o_filter_t))->on_setup_ostream = on_refusal;
}
