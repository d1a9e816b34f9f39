/* handler.c: the one h2o handler of tollgate. Classifies the path into its
 * route template, answers the observability and model-list endpoints, and
 * runs the LLM pipeline (parse -> auth -> route -> upstream -> account) for
 * chat completions and embeddings. Per-request state lives in the request's
 * memory pool; the only shared writes are the metric updates. */
#include <stdio.h>
#include <string.h>

#include "obs/endpoints.h"
#include "obs/log.h"
#include "pipeline/account.h"
#include "pipeline/auth.h"
#include "pipeline/parse.h"
#include "pipeline/route.h"
#include "server/worker.h"
#include "upstream/call.h"

#define LOG_PATH_MAX 256

typedef struct tg_handler {
    h2o_handler_t super;
    bool metrics_only; /* the metrics.listen listener */
} tg_handler_t;

/* Everything one request needs from arrival to its log line. */
typedef struct tg_exchange {
    tg_worker_t *worker;
    tg_worker_snap_t *ws; /* pins the config snapshot until dispose */
    h2o_req_t *req;
    obs_route route;
    obs_method method;
    obs_operation operation; /* OBS_OP_COUNT: not an LLM endpoint */
    double started_at;
    const char *org_id;
    long model_index;
    bool upstream_started;
    bool finished;
    char request_id[TG_REQUEST_ID_MAX + 1];
    char traceparent[TG_TRACEPARENT_LEN + 1];
    char trace_id[33];
    char path[LOG_PATH_MAX + 1]; /* redacted copy: the log line may be written from dispose */
    tg_upstream_call_t call;
    tg_access_record access; /* filled when finished, written by log_timer or dispose */
    h2o_timeout_entry_t log_timer;
} tg_exchange_t;

static const char *status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
    }
}

/* A header's value as a NUL-terminated pool string, or NULL. */
static const char *header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

static h2o_iovec_t header_by_name(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* The value of query parameter `name` as a pool string, or NULL. Values
 * are category names: no percent-decoding needed. */
static const char *query_param(h2o_req_t *req, const char *name)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t name_len = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *param_end = amp != NULL ? amp : end;
        if ((size_t)(param_end - p) > name_len && memcmp(p, name, name_len) == 0 && p[name_len] == '=')
            return h2o_strdup(&req->pool, p + name_len + 1, (size_t)(param_end - p - name_len - 1)).base;
        p = param_end + 1;
    }
    return NULL;
}

static void on_log_timer(h2o_timeout_entry_t *entry)
{
    tg_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(tg_exchange_t, log_timer, entry);
    tg_log_access(&ex->access);
}

/* Records the HTTP metrics and schedules the access line, once. */
static void finish_exchange(tg_exchange_t *ex, int status, const tg_upstream_result_t *res)
{
    if (ex->finished)
        return;
    ex->finished = true;
    const obs_view *view = ex->ws->snap->view;
    double seconds = tg_clock_seconds() - ex->started_at;
    obs_record_http(view, ex->route, ex->method, status, seconds, ex->trace_id);
    obs_http_in_progress(view, ex->route, ex->method, -1);

    tg_account_in_t in = {
        .cfg = ex->ws->snap->cfg,
        .view = view,
        .llm_called = res != NULL && res->attempts > 0,
        .model_index = ex->model_index,
        .operation = ex->operation,
        .stream_mode = ex->call.in.stream ? OBS_STREAMING : OBS_NON_STREAMING,
        .ttft_seconds = -1,
        .duration_seconds = seconds,
        .request_id = ex->request_id,
        .org_id = ex->org_id,
        .trace_id = ex->trace_id,
        .method = obs_method_name(ex->method),
        .path = ex->path,
        .http_status = status,
    };
    if (res != NULL) {
        in.provider_index = res->provider_index;
        in.llm_status = res->llm_status;
        in.usage = res->usage;
        in.content_events = res->content_events;
        in.tokens_estimated = res->client_gone && ex->call.in.stream && !res->usage.present;
        in.ttft_seconds = res->ttft_seconds;
        in.attempts = res->attempts;
        in.model_used = res->attempts > 0 ? res->model_used : NULL;
    }
    tg_account_out_t out;
    tg_account_record(&in, &out, &ex->access);
    /* The metrics are recorded before the response goes out (a client that
     * sees its response and then scrapes finds it counted); the access
     * line, the costlier part, is built once the response is on its way:
     * at the end of this loop iteration, or at dispose if that comes first.
     * Its strings live in the exchange and the pinned config snapshot. */
    ex->log_timer.cb = on_log_timer;
    h2o_timeout_link(ex->worker->ctx.loop, &ex->worker->immediate, &ex->log_timer);
}

/* Sends an OpenAI-style error and counts it in api_errors_total. */
static void send_error(tg_exchange_t *ex, const tg_error_t *e)
{
    h2o_req_t *req = ex->req;
    char param[64];
    if (e->param != NULL)
        snprintf(param, sizeof(param), "\"%s\"", e->param);
    else
        strcpy(param, "null");
    char *body = h2o_mem_alloc_pool(&req->pool, 512);
    int len = snprintf(body, 512, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":%s,\"code\":\"%s\"}}\n",
                       e->message, obs_error_type_name(e->type), param, obs_error_code_name(e->code));
    obs_record_error(ex->ws->snap->view, e->type, e->code, ex->route);
    req->res.status = e->status;
    req->res.reason = status_reason(e->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = (size_t)(len < 512 ? len : 511);
    h2o_send_inline(req, body, req->res.content_length);
}

/* Every response below is counted before it is sent (finish_exchange
 * first): h2o may write it at once, and a client that reads it and scrapes
 * /metrics on another worker must find it counted. */
static void fail(tg_exchange_t *ex, const tg_error_t *e)
{
    finish_exchange(ex, e->status, NULL);
    send_error(ex, e);
}

static void send_obs_response(tg_exchange_t *ex, obs_response *r)
{
    h2o_req_t *req = ex->req;
    req->res.status = r->status;
    req->res.reason = status_reason(r->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, r->content_type, strlen(r->content_type));
    if (r->content_encoding != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, r->content_encoding,
                       strlen(r->content_encoding));
    req->res.content_length = r->body_len;
    if (r->status == 404)
        obs_record_error(ex->ws->snap->view, OBS_ERR_INVALID_REQUEST, OBS_CODE_NOT_FOUND, ex->route);
    finish_exchange(ex, r->status, NULL);
    h2o_send_inline(req, r->body != NULL ? r->body : "", r->body_len);
    obs_response_free(r);
}

static void handle_observability(tg_exchange_t *ex, const char *category)
{
    h2o_req_t *req = ex->req;
    tg_server_t *server = ex->worker->server;
    obs_response r;

    switch (ex->route) {
    case OBS_ROUTE_HEALTH:
        obs_endpoint_health(server->obs, TOLLGATE_VERSION, &r);
        break;
    case OBS_ROUTE_READY:
        obs_endpoint_ready(server->obs, atomic_load(&server->accepting) && !ex->worker->stopping, &r);
        break;
    default:
        if (!obs_metrics_authorized(ex->ws->snap->cfg, header_value(req, H2O_TOKEN_AUTHORIZATION))) {
            obs_endpoint_unauthorized(&r);
            break;
        }
        if (ex->route == OBS_ROUTE_PROM_CATEGORY && category == NULL)
            category = "unknown"; /* obs answers 404 naming the valid ones */
        if (category != NULL && strcmp(category, "summary") == 0) {
            obs_endpoint_summary(server->obs, query_param(req, "category"), &r);
            break;
        }
        obs_endpoint_metrics(server->obs, ex->route == OBS_ROUTE_PROM_CATEGORY ? category : NULL,
                             header_value(req, H2O_TOKEN_ACCEPT), header_value(req, H2O_TOKEN_ACCEPT_ENCODING), &r);
        break;
    }
    send_obs_response(ex, &r);
}

static void handle_models(tg_exchange_t *ex)
{
    h2o_req_t *req = ex->req;
    const tg_config *cfg = ex->ws->snap->cfg;
    size_t cap = 64;
    for (size_t i = 0; i < cfg->model_count; i++)
        cap += 80 + 6 * strlen(cfg->models[i].name);
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = (size_t)snprintf(body, cap, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->model_count; i++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"id\":\"", i ? "," : "");
        n += tg_json_escape(body + n, cap - n, cfg->models[i].name, strlen(cfg->models[i].name));
        n += (size_t)snprintf(body + n, cap - n, "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"tollgate\"}");
    }
    n += (size_t)snprintf(body + n, cap - n, "]}\n");
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = n;
    finish_exchange(ex, 200, NULL);
    h2o_send_inline(req, body, n);
}

static void on_upstream_done(void *ctx, const tg_upstream_result_t *res)
{
    tg_exchange_t *ex = ctx;
    finish_exchange(ex, res->http_status, res);
    if (!res->client_gone && res->error.status != 0)
        send_error(ex, &res->error);
}

static void handle_llm(tg_exchange_t *ex)
{
    h2o_req_t *req = ex->req;
    const tg_config *cfg = ex->ws->snap->cfg;

    tg_parse_in_t parse_in = {req->entity.base, req->entity.len, cfg->server.max_body_bytes, ex->operation};
    tg_parse_out_t parsed;
    if (tg_parse_request(&parse_in, &parsed) != 0) {
        fail(ex, &parsed.error);
        return;
    }

    ssize_t authz = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    tg_auth_in_t auth_in = {cfg, authz >= 0 ? req->headers.entries[authz].value.base : NULL,
                            authz >= 0 ? req->headers.entries[authz].value.len : 0};
    tg_auth_out_t auth;
    if (tg_auth_check(&auth_in, &auth) != 0) {
        fail(ex, &auth.error);
        return;
    }
    ex->org_id = auth.org_id;

    tg_route_in_t route_in = {cfg, parsed.model, parsed.model_len};
    tg_route_out_t route;
    if (tg_route_select(&route_in, &route) != 0) {
        fail(ex, &route.error);
        return;
    }
    ex->model_index = route.model_index;

    tg_upstream_in_t up = {
        .req = req,
        .view = ex->ws->snap->view,
        .pools = ex->ws->pools,
        .routes = route.routes,
        .route_count = route.route_count,
        .body = req->entity.base,
        .body_len = req->entity.len,
        .members = parsed.members,
        .operation = ex->operation,
        .stream = parsed.stream,
        .strip_usage = parsed.stream && !parsed.usage_requested,
        .traceparent = ex->traceparent,
        .request_id = ex->request_id,
        .started_at = ex->started_at,
        .immediate = &ex->worker->immediate,
        .deadline = &ex->ws->deadline,
        .done = on_upstream_done,
        .done_ctx = ex,
    };
    ex->upstream_started = true;
    tg_upstream_start(&ex->call, &up);
}

static void on_exchange_dispose(void *p)
{
    tg_exchange_t *ex = p;
    if (ex->upstream_started)
        tg_upstream_dispose(&ex->call); /* reports a client disconnect if still running */
    if (!ex->finished)
        finish_exchange(ex, 499, NULL);
    if (h2o_timeout_is_linked(&ex->log_timer)) { /* the exchange goes now: its line too */
        h2o_timeout_unlink(&ex->log_timer);
        tg_log_access(&ex->access);
    }
    tg_worker_request_done(ex->worker, ex->ws);
}

static bool is_observability(obs_route route)
{
    return route == OBS_ROUTE_METRICS || route == OBS_ROUTE_ANALYTICS || route == OBS_ROUTE_PROM_CATEGORY ||
           route == OBS_ROUTE_HEALTH || route == OBS_ROUTE_READY;
}

static bool method_allowed(obs_route route, obs_method method, const char **allow)
{
    bool post_only = route == OBS_ROUTE_CHAT || route == OBS_ROUTE_EMBEDDINGS;
    *allow = post_only ? "POST" : "GET";
    return method == (post_only ? OBS_METHOD_POST : OBS_METHOD_GET);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    tg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(tg_worker_t, ctx, req->conn->ctx);
    /* one pool allocation per request; its dispose ends the request's bookkeeping */
    tg_exchange_t *ex = h2o_mem_alloc_shared(&req->pool, sizeof(*ex), on_exchange_dispose);
    memset(ex, 0, sizeof(*ex));
    ex->worker = worker;
    ex->ws = worker->current;
    ex->ws->inflight++;
    worker->inflight++;
    ex->req = req;
    ex->started_at = tg_clock_seconds();
    ex->model_index = -1;

    const char *category = NULL;
    ex->route = obs_route_from_path(req->path.base, req->path.len, &category);
    ex->method = obs_method_from_name(req->method.base, req->method.len);
    ex->operation = ex->route == OBS_ROUTE_CHAT ? OBS_OP_CHAT : ex->route == OBS_ROUTE_EMBEDDINGS ? OBS_OP_EMBEDDINGS : OBS_OP_COUNT;
    tg_log_redact_copy(ex->path, sizeof(ex->path), req->path.base, req->path.len);
    obs_http_in_progress(ex->ws->snap->view, ex->route, ex->method, 1);

    h2o_iovec_t client_id = header_by_name(req, H2O_STRLIT("x-request-id"));
    tg_request_id(&worker->rng, client_id.base, client_id.len, ex->request_id);
    h2o_iovec_t client_trace = header_by_name(req, H2O_STRLIT("traceparent"));
    tg_traceparent(&worker->rng, client_trace.base, client_trace.len, ex->traceparent, ex->trace_id);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, ex->request_id,
                          strlen(ex->request_id));

    const char *allow;
    tg_error_t err = {0};
    if (ex->route == OBS_ROUTE_OTHER || (((tg_handler_t *)self)->metrics_only && !is_observability(ex->route))) {
        tg_error_set(&err, 404, OBS_ERR_INVALID_REQUEST, OBS_CODE_NOT_FOUND, "Unknown request URL.", NULL);
        fail(ex, &err);
    } else if (!method_allowed(ex->route, ex->method, &allow)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
        tg_error_set(&err, 405, OBS_ERR_INVALID_REQUEST, OBS_CODE_METHOD_NOT_ALLOWED,
                     "Method not allowed for this URL.", NULL);
        fail(ex, &err);
    } else if (ex->operation != OBS_OP_COUNT) {
        handle_llm(ex);
    } else if (ex->route == OBS_ROUTE_MODELS) {
        handle_models(ex);
    } else {
        handle_observability(ex, category);
    }
    return 0;
}

void tg_handler_register(h2o_hostconf_t *hostconf, bool metrics_only)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    tg_handler_t *handler = (tg_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->metrics_only = metrics_only;
}
