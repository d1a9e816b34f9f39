/* account.c: see account.h. */
#include "pipeline/account.h"
#include "pipeline/stages.h"

#include <string.h>

#include "obs/log.h"

void tg_account_record(const tg_account_in_t *in, tg_account_out_t *out, tg_access_record_t *access)
{
    memset(out, 0, sizeof(*out));

    if (in->usage.present) {
        out->prompt_tokens = (uint64_t)in->usage.prompt_tokens;
        out->completion_tokens = (uint64_t)in->usage.completion_tokens;
        out->cached_tokens = (uint64_t)in->usage.cached_tokens;
        out->reasoning_tokens = (uint64_t)in->usage.reasoning_tokens;
    } else if (in->tokens_estimated) {
        /* a provider sends about one token per content delta */
        out->prompt_tokens = in->prompt_estimate;
        out->completion_tokens = (uint64_t)in->content_events;
    }
    uint64_t cached = out->cached_tokens, reasoning = out->reasoning_tokens;

    const char *model_name = in->model_index >= 0 ? in->cfg->models[in->model_index].name : "other";
    if (in->llm_called) {
        if (in->model_index >= 0)
            out->cost = tg_pricing_cost(&in->cfg->models[in->model_index].pricing, out->prompt_tokens, cached,
                                        out->completion_tokens);
        tg_obs_llm_result_t r = {
            .provider = in->provider_index,
            .model = in->model_index,
            .operation = in->operation,
            .stream_mode = in->stream_mode,
            .status = in->llm_status,
            .duration_seconds = in->duration_seconds,
            .ttft_seconds = in->ttft_seconds,
            .prompt_tokens = out->prompt_tokens,
            .completion_tokens = out->completion_tokens,
            .cached_prompt_tokens = cached,
            .reasoning_tokens = reasoning,
            .cost_dollars = out->cost,
            .trace_id = in->trace_id,
        };
        tg_obs_record_llm(in->view, &r);
    }

    *access = (tg_access_record_t){
        .request_id = in->request_id,
        .org_id = in->org_id,
        .trace_id = in->trace_id,
        .method = in->method,
        .path = in->path,
        .status = in->http_status,
        .latency_seconds = in->duration_seconds,
        .model = in->operation == TG_OP_COUNT ? NULL : model_name,
        .model_used = in->model_used,
        .provider = in->llm_called ? in->cfg->providers[in->provider_index].name : NULL,
        .attempts = in->attempts,
        .prompt_tokens = in->llm_called ? (int64_t)out->prompt_tokens : -1,
        .completion_tokens = in->llm_called ? (int64_t)out->completion_tokens : -1,
        .cost = in->llm_called ? out->cost : -1,
        .tokens_estimated = in->tokens_estimated,
        .ttft_seconds = in->stream_mode == TG_STREAMING ? in->ttft_seconds : -1,
        .cache_hit = false,
        .cache_tier = NULL,
        .llm_status = in->llm_called ? tg_llm_status_name(in->llm_status) : NULL,
        .upstream_failures = in->upstream_failures,
    };
}

uint64_t tg_account_prompt_estimate(size_t messages_bytes)
{
    return (messages_bytes + 3) / 4;
}

void tg_account_finish(const tg_account_in_t *in, tg_account_out_t *out)
{
    tg_access_record_t access;
    tg_account_record(in, out, &access);
    tg_log_access(&access);
}

/* The why of an upstream error: "provider:kind" for each route whose
 * attempts failed (its last failure), in route order, in the request's
 * pool; NULL when none failed. Only failed calls pay for it. */
static const char *upstream_failures(tg_request_t *r, const tg_upstream_result_t *res)
{
    if (res->route_failures == NULL)
        return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < r->route_count; i++)
        if (res->route_failures[i] != TG_RETRY_REASON_COUNT)
            cap += strlen(r->env.cfg->providers[r->routes[i].provider].name) +
                   strlen(tg_retry_reason_name(res->route_failures[i])) + 2;
    char *out = h2o_mem_alloc_pool(&r->req->pool, cap), *p = out;
    for (size_t i = 0; i < r->route_count; i++) {
        if (res->route_failures[i] == TG_RETRY_REASON_COUNT)
            continue;
        const char *name = r->env.cfg->providers[r->routes[i].provider].name;
        const char *kind = tg_retry_reason_name(res->route_failures[i]);
        if (p != out)
            *p++ = ',';
        memcpy(p, name, strlen(name));
        p += strlen(name);
        *p++ = ':';
        memcpy(p, kind, strlen(kind));
        p += strlen(kind);
    }
    *p = '\0';
    return out;
}

/* The status the client got, or would have: 499 for one that left first. */
static int final_status(const tg_request_t *r)
{
    if (r->result != NULL)
        return r->result->http_status;
    if (r->error.status != 0)
        return r->error.status;
    if (r->reply.status != 0)
        return r->reply.status;
    return 499;
}

tg_stage_result_t tg_stage_account(tg_request_t *r)
{
    const tg_upstream_result_t *res = r->result;
    double seconds = tg_clock_seconds() - r->started_at;
    r->http_status = final_status(r);
    tg_obs_record_http(r->env.view, r->route, r->method, r->http_status, seconds, r->trace_id);
    tg_obs_http_in_progress(r->env.view, r->route, r->method, -1);

    tg_account_in_t in = {
        .cfg = r->env.cfg,
        .view = r->env.view,
        .llm_called = res != NULL && res->attempts > 0,
        .model_index = r->model_index,
        .operation = r->operation,
        .stream_mode = r->upstream_started && r->parsed.stream ? TG_STREAMING : TG_NON_STREAMING,
        .ttft_seconds = -1,
        .duration_seconds = seconds,
        .request_id = r->request_id,
        .org_id = r->org_id,
        .trace_id = r->trace_id,
        .method = tg_method_name(r->method),
        .path = r->path,
        .http_status = r->http_status,
    };
    if (res != NULL) {
        in.provider_index = res->provider_index;
        in.llm_status = res->llm_status;
        in.usage = res->usage;
        in.content_events = res->content_events;
        in.tokens_estimated = res->client_gone && r->parsed.stream && !res->usage.present;
        if (in.tokens_estimated)
            in.prompt_estimate = tg_account_prompt_estimate(r->parsed.members.messages.len + r->parsed.members.input.len);
        in.ttft_seconds = res->ttft_seconds;
        in.attempts = res->attempts;
        in.model_used = res->attempts > 0 ? res->model_used : NULL;
        in.upstream_failures = upstream_failures(r, res);
    }
    tg_account_record(&in, &r->billed, &r->access);
    r->access.path_redacted = true; /* the server copied it through tg_log_redact_copy */
    r->access.scrape = tg_route_on_metrics_listener(r->route); /* the observability paths */
    return TG_STAGE_CONTINUE;
}
