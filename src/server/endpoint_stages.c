/* endpoint_stages.c: the stages of the gateway's own endpoints and of the
 * checks every request passes first: framing, unknown path, wrong method,
 * the model list, the metrics token, and the observability endpoints. The
 * route table (routes.c) strings them into stage lists. */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "obs/dashboard.h"
#include "obs/endpoints.h"
#include "server/endpoint_stages.h"
#include "server/framing.h"

tg_stage_result_t tg_stage_framing(tg_request_t *r)
{
    if (tg_framing_check(r->req, &r->error) == 0)
        return TG_STAGE_CONTINUE;
    r->req->http1_is_persistent = 0; /* what follows on the connection cannot be trusted */
    return TG_STAGE_RESPOND;
}

tg_stage_result_t tg_stage_not_found(tg_request_t *r)
{
    tg_error_set(&r->error, 404, TG_ERR_INVALID_REQUEST, TG_CODE_NOT_FOUND, "Unknown request URL.", NULL);
    return TG_STAGE_RESPOND;
}

tg_stage_result_t tg_stage_method_not_allowed(tg_request_t *r)
{
    tg_error_set(&r->error, 405, TG_ERR_INVALID_REQUEST, TG_CODE_METHOD_NOT_ALLOWED,
                 "Method not allowed for this URL.", NULL);
    return TG_STAGE_RESPOND;
}

/* One model object of GET /v1/models at body + n; returns the bytes written. */
static size_t model_json(char *body, size_t cap, const char *name)
{
    size_t n = (size_t)snprintf(body, cap, "{\"id\":\"");
    n += tg_json_escape(body + n, cap - n, name, strlen(name));
    n += (size_t)snprintf(body + n, cap - n, "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"tollgate\"}");
    return n;
}

/* Whether the request's key may use configured model m (auth copied its
 * list; none: every model). */
static bool model_allowed(const tg_request_t *r, const char *name)
{
    if (r->allowed_models == NULL)
        return true;
    for (size_t i = 0; i < r->allowed_model_count; i++)
        if (strcmp(r->allowed_models[i], name) == 0)
            return true;
    return false;
}

/* GET /v1/models: every configured model the key may use; GET
 * /v1/models/{id}: one, or 404 (also for a model the key may not use, as
 * OpenAI answers). */
tg_stage_result_t tg_stage_models(tg_request_t *r)
{
    h2o_req_t *req = r->req;
    const tg_config_t *cfg = r->env.cfg;
    if (r->route == TG_ROUTE_MODEL) {
        const char *id = req->path.base + sizeof("/v1/models/") - 1;
        const char *q = memchr(id, '?', req->path.len - (size_t)(id - req->path.base));
        size_t len = q != NULL ? (size_t)(q - id) : req->path.len - (size_t)(id - req->path.base);
        long m = tg_config_find_model(cfg, id, len);
        if (m < 0 || !model_allowed(r, cfg->models[m].name)) {
            tg_error_set(&r->error, 404, TG_ERR_INVALID_REQUEST, TG_CODE_MODEL_NOT_FOUND,
                         "The model does not exist or you do not have access to it.", "model");
            return TG_STAGE_RESPOND;
        }
        size_t cap = 96 + 6 * strlen(cfg->models[m].name);
        char *body = h2o_mem_alloc_pool(&req->pool, cap);
        size_t n = model_json(body, cap, cfg->models[m].name);
        n += (size_t)snprintf(body + n, cap - n, "\n");
        r->reply = (tg_reply_t){200, "application/json", NULL, h2o_iovec_init(body, n)};
        return TG_STAGE_RESPOND;
    }
    size_t cap = 64;
    for (size_t i = 0; i < cfg->model_count; i++)
        cap += 80 + 6 * strlen(cfg->models[i].name);
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = (size_t)snprintf(body, cap, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < cfg->model_count; i++) {
        if (!model_allowed(r, cfg->models[i].name))
            continue;
        n += (size_t)snprintf(body + n, cap - n, "%s", first ? "" : ",");
        n += model_json(body + n, cap - n, cfg->models[i].name);
        first = false;
    }
    n += (size_t)snprintf(body + n, cap - n, "]}\n");
    r->reply = (tg_reply_t){200, "application/json", NULL, h2o_iovec_init(body, n)};
    return TG_STAGE_RESPOND;
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

/* The value of query parameter `name` as a pool string, or NULL. Not
 * percent-decoded: the only parameter is ?category=, whose values are
 * plain names matched byte for byte like the /prometheus/metrics/{category}
 * path segment (also raw); an unknown value is echoed back as sent. */
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

/* The last segment of the path, before any query, as a pool string: the
 * {category} of /prometheus/metrics/{category}. */
static const char *path_segment(h2o_req_t *req)
{
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *start = req->path.base + len;
    while (start > req->path.base && start[-1] != '/')
        start--;
    return h2o_strdup(&req->pool, start, len - (size_t)(start - req->path.base)).base;
}

/* The obs endpoint's answer as r's reply: the body moves to the pool. */
static tg_stage_result_t reply_with(tg_request_t *r, tg_obs_response_t *o)
{
    if (o->status == 404)
        tg_obs_record_error(r->env.view, TG_ERR_INVALID_REQUEST, TG_CODE_NOT_FOUND, r->route);
    r->reply = (tg_reply_t){o->status, o->content_type, o->content_encoding,
                            h2o_strdup(&r->req->pool, o->body != NULL ? o->body : "", o->body_len)};
    tg_obs_response_free(o);
    return TG_STAGE_RESPOND;
}

/* A browser cannot send a header when it opens a page: /dashboard takes
 * the token as ?token= too (the page then sends it as a header; the access
 * line's path has it redacted, as every registered secret). */
static bool dashboard_query_token(tg_request_t *r)
{
    const char *token = r->route == TG_ROUTE_DASHBOARD ? query_param(r->req, "token") : NULL;
    if (token == NULL)
        return false;
    h2o_iovec_t bearer = h2o_concat(&r->req->pool, h2o_iovec_init(H2O_STRLIT("Bearer ")),
                                    h2o_iovec_init(token, strlen(token)));
    return tg_obs_metrics_authorized(r->env.cfg, bearer.base);
}

tg_stage_result_t tg_stage_metrics_token(tg_request_t *r)
{
    if (tg_obs_metrics_authorized(r->env.cfg, header_value(r->req, H2O_TOKEN_AUTHORIZATION)) ||
        dashboard_query_token(r))
        return TG_STAGE_CONTINUE;
    if (r->route == TG_ROUTE_DASHBOARD) {
        tg_error_set(&r->error, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY,
                     "The status page needs the metrics token: open /dashboard?token=<metrics.bearer_token>.", NULL);
        return TG_STAGE_RESPOND;
    }
    tg_obs_response_t o;
    tg_obs_endpoint_unauthorized(&o);
    return reply_with(r, &o);
}

tg_stage_result_t tg_stage_observability(tg_request_t *r)
{
    tg_exchange_t *ex = tg_exchange_of(r);
    tg_server_t *server = ex->worker->server;
    h2o_req_t *req = r->req;
    const char *category = r->category;
    tg_obs_response_t o;

    switch (r->route) {
    case TG_ROUTE_HEALTH:
        tg_obs_endpoint_health(server->obs, TOLLGATE_VERSION, &o);
        break;
    case TG_ROUTE_READY:
        tg_obs_endpoint_ready(server->obs, atomic_load(&server->accepting) && !ex->worker->stopping, &o);
        break;
    default:
        if (r->route == TG_ROUTE_PROM_CATEGORY && category == NULL)
            category = path_segment(req); /* unknown: obs answers 404 naming it */
        if (category != NULL && strcmp(category, "summary") == 0) {
            const char *series = query_param(req, "series");
            if (series != NULL && strcmp(series, "true") == 0)
                tg_obs_endpoint_summary_series(server->obs, query_param(req, "category"), &o);
            else
                tg_obs_endpoint_summary(server->obs, query_param(req, "category"), &o);
            break;
        }
        tg_obs_endpoint_metrics(server->obs, r->route == TG_ROUTE_PROM_CATEGORY ? category : NULL,
                             header_value(req, H2O_TOKEN_ACCEPT), header_value(req, H2O_TOKEN_ACCEPT_ENCODING), &o);
        break;
    }
    return reply_with(r, &o);
}

tg_stage_result_t tg_stage_dashboard(tg_request_t *r)
{
    /* The page may load nothing but itself and talk to nothing but this
     * gateway; it names no other page (the token may be in its URL). */
    static const struct {
        const char *name, *value;
    } headers[] = {
        {"content-security-policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"},
        {"referrer-policy", "no-referrer"},
        {"cache-control", "no-store"},
        {"x-content-type-options", "nosniff"},
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, headers[i].name, strlen(headers[i].name), 0, NULL,
                              headers[i].value, strlen(headers[i].value));
    r->reply = (tg_reply_t){200, "text/html; charset=utf-8", NULL,
                            h2o_iovec_init((const char *)tg_dashboard_html, tg_dashboard_html_len)};
    return TG_STAGE_RESPOND;
}
