/* upstream.c: the upstream stage. Hands the routed request to
 * upstream/call.c, which tries the routes with retries and fallback, and
 * suspends until the call reports its outcome. */
#include "pipeline/runner.h"
#include "pipeline/stages.h"

static void on_call_done(void *ctx, const tg_upstream_result_t *res)
{
    tg_request_t *r = ctx;
    r->result = res;
    if (!res->client_gone && res->error.status != 0) {
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
        .pools = r->env.pools,
        .routes = r->routes,
        .route_count = r->route_count,
        .body = req->entity.base,
        .body_len = req->entity.len,
        .members = r->parsed.members,
        .operation = r->operation,
        .stream = r->parsed.stream,
        .strip_usage = r->parsed.stream && !r->parsed.usage_requested,
        .traceparent = r->traceparent,
        .request_id = r->request_id,
        .started_at = r->started_at,
        .immediate = r->env.immediate,
        .deadline = r->env.deadline,
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
