/* upstream.c: the upstream stage. Hands the routed request to
 * upstream/call.c, which tries the routes with retries and fallback, and
 * suspends until the call reports its outcome. */
#include <errno.h>
#include <sys/socket.h>

#include "pipeline/runner.h"
#include "pipeline/stages.h"

/* Whether the client closed or reset its connection while the upstream
 * call ran. h2o 2.2.5 stops reading an HTTP/1 connection while its request
 * is handled, so nobody noticed; HTTP/2 reads on and reports a disconnect
 * through the generator's stop and the request's dispose. A FIN counts as
 * gone: HTTP/1.1 has no half-close, and h2o ends the connection on one.
 * Pending bytes (a pipelined request) mean the client is there.
 * Cost: one recv(2) per plain HTTP/1 response, 0.35 us (1e6 calls on an
 * idle loopback socket, the 2-core EPYC of bench/RESULTS.md): under 2% of
 * the 18-23 us of CPU a plain proxied request costs there. */
static bool client_left(h2o_req_t *req)
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

static void on_call_done(void *ctx, const tg_upstream_result_t *res)
{
    tg_request_t *r = ctx;
    r->result = res;
    if (res->answered && !res->streamed && !res->client_gone && client_left(r->req)) {
        /* The provider answered (and bills the usage, which stays
         * counted); only the client is not there to read it. The response
         * still goes to h2o, whose write then fails and closes the
         * connection. */
        r->call.result.llm_status = TG_LLM_CLIENT_DISCONNECT;
        r->call.result.http_status = 499;
    }
    if (!res->client_gone && res->error.status != 0) {
        /* every breaker closed to it since the route stage let it through */
        if (res->error.code == TG_CODE_ALL_PROVIDERS_UNAVAILABLE)
            tg_obs_record_unroutable(r->env.view, r->model_index);
        r->error = res->error;
        tg_pipeline_resume(r, TG_STAGE_RESPOND);
        return;
    }
    tg_pipeline_resume(r, TG_STAGE_CONTINUE);
}

tg_stage_result_t tg_stage_upstream(tg_request_t *r)
{
    h2o_req_t *req = r->req;
    tg_upstream_in_t in = {
        .req = req,
        .view = r->env.view,
        .health = r->env.health,
        .cfg = r->env.cfg,
        .pools = r->env.pools,
        .routes = r->routes,
        .route_count = r->route_count,
        .probe_open_route = r->probe_open_route,
        .body = req->entity.base,
        .body_len = req->entity.len,
        .members = r->parsed.members,
        .operation = r->operation,
        .client_model = r->env.cfg->models[r->model_index].name, /* route found it */
        .default_max_tokens = r->env.cfg->limits.default_max_tokens,
        .stream = r->parsed.stream,
        /* chat and completions stream usage only when asked: the gateway asks, and hides it */
        .strip_usage = r->parsed.stream && !r->parsed.usage_requested &&
                       (r->operation == TG_OP_CHAT || r->operation == TG_OP_COMPLETIONS),
        .traceparent = r->traceparent,
        .trace = &r->trace,
        .tracer = r->env.tracer,
        .request_id = r->request_id,
        .started_at = r->started_at,
        .immediate = r->env.immediate,
        .deadline = r->env.deadline,
        .sink = r->env.sink,
        .sink_ctx = r->env.sink_ctx,
        .observe_event = r->cache.fill && r->parsed.stream ? tg_cache_record_event : NULL,
        .observe_ctx = r,
        .done = on_call_done,
        .done_ctx = r,
    };
    r->upstream_started = true;
    tg_upstream_start(&r->call, &in);
    return TG_STAGE_SUSPEND;
}

void tg_stage_upstream_dispose(tg_request_t *r)
{
    if (r->upstream_started)
        tg_upstream_dispose(&r->call); /* reports a client disconnect if still running */
}
