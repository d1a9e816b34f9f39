/* account.c: see account.h. */
#define _GNU_SOURCE /* memmem */
#include "pipeline/account.h"
#include "pipeline/stages.h"

#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "upstream/usage.h"

/* The index in its model's routes of the route that answered (or was
 * tried last), for the GenAI labels: the call orders copies of the routes,
 * so it is found by its provider and upstream model. -1 if none is. */
static long route_index(const tg_account_in_t *in)
{
    if (in->model_index < 0 || in->model_used == NULL)
        return -1;
    const tg_model_config_t *m = &in->cfg->models[in->model_index];
    for (size_t i = 0; i < m->route_count; i++)
        if (m->routes[i].provider == in->provider_index && strcmp(m->routes[i].upstream_model, in->model_used) == 0)
            return (long)i;
    return -1;
}

void tg_account_record(const tg_account_in_t *in, tg_account_out_t *out, tg_access_record_t *access)
{
    memset(out, 0, sizeof(*out));

    if (in->usage.present) {
        out->prompt_tokens = (uint64_t)in->usage.prompt_tokens;
        out->completion_tokens = (uint64_t)in->usage.completion_tokens;
        out->cached_tokens = (uint64_t)in->usage.cached_tokens;
        out->reasoning_tokens = (uint64_t)in->usage.reasoning_tokens;
        out->cache_write_tokens = in->usage.cache_write_tokens > 0 ? (uint64_t)in->usage.cache_write_tokens : 0;
    } else if (in->tokens_estimated) {
        /* a provider sends about one token per content delta */
        out->prompt_tokens = in->prompt_estimate;
        out->completion_tokens = (uint64_t)in->content_events;
    }
    uint64_t cached = out->cached_tokens, reasoning = out->reasoning_tokens;

    const char *model_name = in->model_index >= 0 ? in->cfg->models[in->model_index].name : "other";
    if (in->llm_called) {
        tg_billed_units_t units = {.prompt_tokens = out->prompt_tokens, .cached_tokens = cached,
                                   .cache_write_tokens = out->cache_write_tokens,
                                   .completion_tokens = out->completion_tokens, .images = in->images,
                                   .audio_seconds = in->audio_seconds, .characters = in->characters};
        if (in->model_index >= 0)
            out->cost = tg_pricing_cost_units(&in->cfg->models[in->model_index].pricing, &units);
        tg_obs_llm_result_t r = {
            .provider = in->provider_index,
            .model = in->model_index,
            .route = route_index(in),
            .operation = in->operation,
            .stream_mode = in->stream_mode,
            .status = in->llm_status,
            .duration_seconds = in->duration_seconds,
            .ttft_seconds = in->ttft_seconds,
            .prompt_tokens = out->prompt_tokens,
            .completion_tokens = out->completion_tokens,
            .cached_prompt_tokens = cached,
            .reasoning_tokens = reasoning,
            .cache_write_tokens = out->cache_write_tokens,
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

uint64_t tg_account_prompt_estimate(const tg_json_body_t *members)
{
    /* a request has one of them: the others' spans are empty */
    size_t bytes = members->messages.len + members->input.len + members->prompt.len;
    return (bytes + 3) / 4;
}

/* A JSON number at v (a value's first byte), or -1 for anything else. */
static double number_at(const char *v, const char *end)
{
    if (v == NULL || v >= end || !((*v >= '0' && *v <= '9') || *v == '.'))
        return -1;
    char buf[32];
    size_t n = 0;
    while (v + n < end && n < sizeof(buf) - 1 && strchr("0123456789.eE+-", v[n]) != NULL)
        n++;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return strtod(buf, NULL);
}

void tg_account_units(tg_operation_t op, const char *request, size_t request_len, const char *answer, size_t answer_len,
                      uint64_t *images, double *audio_seconds, uint64_t *characters)
{
    *images = 0;
    *audio_seconds = 0;
    *characters = 0;
    const char *end = answer + answer_len;
    if (op == TG_OP_IMAGE && answer != NULL) {
        /* each image of "data" has its b64_json or its url */
        static const char *const marks[] = {"\"b64_json\"", "\"url\""};
        for (size_t k = 0; k < 2 && *images == 0; k++)
            for (const char *p = answer; (p = memmem(p, (size_t)(end - p), marks[k], strlen(marks[k]))) != NULL;
                 p += strlen(marks[k]))
                (*images)++;
    } else if (op == TG_OP_AUDIO_TRANSCRIPTION && answer != NULL) {
        /* usage {"type":"duration","seconds":N}, else verbose_json's duration */
        double s = number_at(tg_json_find_key(answer, answer_len, "seconds"), end);
        if (s < 0)
            s = number_at(tg_json_find_key(answer, answer_len, "duration"), end);
        *audio_seconds = s > 0 && s < 1e7 ? s : 0;
    } else if (op == TG_OP_AUDIO_SPEECH && request != NULL) {
        /* the input's characters: its bytes less UTF-8's continuation bytes */
        const char *v = tg_json_find_key(request, request_len, "input");
        const char *rend = request + request_len;
        if (v != NULL && *v == '"') {
            for (const char *p = v + 1; p < rend && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < rend) {
                    p++;
                    if (*p == 'u')
                        p += 4 < rend - p ? 4 : rend - p - 1;
                }
                *characters += ((unsigned char)*p & 0xC0) != 0x80;
            }
        }
    }
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
            in.prompt_estimate = tg_account_prompt_estimate(&r->parsed.members);
        if (res->attempts > 0 && res->llm_status == TG_LLM_SUCCESS)
            tg_account_units(r->operation, r->req->entity.base, r->req->entity.len, res->body.base, res->body.len,
                             &in.images, &in.audio_seconds, &in.characters);
        in.ttft_seconds = res->ttft_seconds;
        in.attempts = res->attempts;
        in.model_used = res->attempts > 0 ? res->model_used : NULL;
        in.upstream_failures = upstream_failures(r, res);
    }
    tg_account_record(&in, &r->billed, &r->access);
    tg_obs_record_plan_cost(r->env.view, r->plan, r->billed.cost);
    r->access.path_redacted = true; /* the server copied it through tg_log_redact_copy */
    r->access.scrape = tg_route_on_metrics_listener(r->route); /* the observability paths */
    return TG_STAGE_CONTINUE;
}
