/* respond.c: answering the client, in one place for every endpoint:
 * OpenAI-shaped errors, the replies of the gateway's own endpoints, and the
 * access line that follows each response. (The upstream's answers, plain
 * and streamed, are still relayed by upstream/call.c itself.)
 *
 * Every response is counted before it is sent (the account stage ran
 * first): h2o may write it at once, and a client that reads it and scrapes
 * /metrics on another worker must find it counted. */
#include <stdio.h>
#include <string.h>

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
    char param[64];
    if (e->param != NULL)
        snprintf(param, sizeof(param), "\"%s\"", e->param);
    else
        strcpy(param, "null");
    char *body = h2o_mem_alloc_pool(&req->pool, 512);
    int len = snprintf(body, 512, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":%s,\"code\":\"%s\"}}\n",
                       e->message, obs_error_type_name(e->type), param, obs_error_code_name(e->code));
    obs_record_error(r->env.view, e->type, e->code, r->route);
    req->res.status = e->status;
    req->res.reason = status_reason(e->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    return h2o_iovec_init(body, (size_t)(len < 512 ? len : 511));
}

/* Sends body (in the request's pool, or static) as the whole response. */
static void send_whole(h2o_req_t *req, h2o_iovec_t body)
{
    static h2o_generator_t whole = {NULL, NULL};
    req->res.content_length = body.len;
    h2o_start_response(req, &whole);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

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
    if (r->error.status != 0) {
        send_whole(req, tg_respond_error_body(r));
    } else if (r->reply.status != 0) {
        req->res.status = r->reply.status;
        req->res.reason = status_reason(r->reply.status);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, r->reply.content_type,
                       strlen(r->reply.content_type));
        if (r->reply.content_encoding != NULL)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, r->reply.content_encoding,
                           strlen(r->reply.content_encoding));
        send_whole(req, r->reply.body);
    }
    /* else the upstream call relays its answer itself, right after this */
    tg_respond_log_later(ex);
}
