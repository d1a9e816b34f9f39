/* trace.c: the trace stage (always, after account and cache_fill, which
 * bills a cache hit): the request's SERVER
 * span (docs/observability.md, "Traces"), named and attributed after the OpenTelemetry GenAI
 * conventions for the LLM endpoints ("chat gpt-4o") and the HTTP ones for
 * the others ("GET /v1/models"). Its upstream attempts' CLIENT spans were
 * recorded by the call (upstream/call.c) as each ended. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "pipeline/cache.h"
#include "pipeline/stages.h"

/* The GenAI part: the model asked for and, once a provider was tried, the
 * one that answered (or was tried last), what it said and what it cost. */
static void llm_attributes(tg_request_t *r, tg_trace_span_t *s)
{
    s->operation = tg_operation_name(r->operation);
    s->genai_operation = tg_operation_genai_name(r->operation);
    tg_span_text(s->request_model, r->parsed.model, r->parsed.model != NULL ? r->parsed.model_len : 0);
    snprintf(s->name, sizeof(s->name), "%s %s", s->genai_operation, s->request_model[0] ? s->request_model : "unknown");
    s->cache = tg_cache_response_header(&r->cache);
    const tg_upstream_result_t *res = r->result;
    if (r->cache.hit) { /* the answer of an earlier call, billed now (cache_fill) */
        long p = r->access.provider != NULL ? tg_config_find_provider(r->env.cfg, r->access.provider) : -1;
        if (r->access.provider != NULL)
            tg_span_text(s->provider, r->access.provider, strlen(r->access.provider));
        if (p >= 0)
            s->genai_provider = tg_provider_type_name(r->env.cfg->providers[p].type);
        if (r->access.model_used != NULL)
            tg_span_text(s->response_model, r->access.model_used, strlen(r->access.model_used));
        s->input_tokens = (int64_t)r->billed.prompt_tokens;
        s->output_tokens = (int64_t)r->billed.completion_tokens;
        return;
    }
    if (res == NULL || res->attempts == 0)
        return;
    const tg_provider_config_t *provider = &r->env.cfg->providers[res->provider_index];
    tg_span_text(s->provider, provider->name, strlen(provider->name));
    s->genai_provider = tg_provider_type_name(provider->type);
    if (r->call.response_model[0] != '\0')
        memcpy(s->response_model, r->call.response_model, sizeof(s->response_model));
    else if (res->model_used != NULL)
        tg_span_text(s->response_model, res->model_used, strlen(res->model_used));
    memcpy(s->finish_reason, r->call.finish_reason, sizeof(s->finish_reason));
    s->input_tokens = (int64_t)r->billed.prompt_tokens;
    s->output_tokens = (int64_t)r->billed.completion_tokens;
}

tg_stage_result_t tg_stage_trace(tg_request_t *r)
{
    if (r->env.tracer == NULL || !r->trace.sampled)
        return TG_STAGE_CONTINUE;
    tg_trace_span_t s;
    tg_span_init(&s, &r->trace, TG_SPAN_SERVER, r->trace.span_id, r->started_at, tg_clock_seconds());
    s.http_method = tg_method_name(r->method);
    s.http_route = tg_route_template(r->route);
    s.http_status = r->http_status;
    if (r->operation != TG_OP_COUNT)
        llm_attributes(r, &s);
    else
        snprintf(s.name, sizeof(s.name), "%s %s", s.http_method, s.http_route);
    /* A server span is in error for a 5xx only (4xx is the client's
     * doing), but error.type says what went wrong either way. */
    if (r->error.status != 0)
        snprintf(s.error_type, sizeof(s.error_type), "%s", tg_error_code_name(r->error.code));
    else if (r->http_status >= 400)
        snprintf(s.error_type, sizeof(s.error_type), "%d", r->http_status);
    s.error = r->http_status >= 500;
    tg_tracer_submit(r->env.tracer, &s);
    return TG_STAGE_CONTINUE;
}
