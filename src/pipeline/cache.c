/* cache.c: the response cache's stages (docs/cache.md).
 *
 * cache (after auth): decides whether the request may use the cache
 * (cache/key.h) and, when it may, looks in the memory tier; a hit is the
 * reply, and the upstream stages are skipped. On a miss the request either
 * claims the fill of its key, or waits for the identical request that
 * claimed it (coalescing: woken by its landing, through the worker's
 * answer queue; the housekeeping tick ends waits past
 * cache.coalesce_wait_ms). The filler asks the SQLite tier next, on the
 * store thread (the request suspends); a hit there is promoted to memory
 * and wakes the waiters.
 *
 * cache_fill (always, after account): bills a hit (zero cost, its tier in
 * the access line and the ledger row); puts a miss's successful answer
 * into memory at once and into the SQLite tier through a store job (no
 * wait); lands the request's fill either way, so that no waiter waits on
 * a request that is gone.
 *
 * A hit's answer stays in its entry, which the request's pool holds until
 * the response is sent: a plain answer goes out without a copy. */
#include "pipeline/store_wait.h"
#include "pipeline/stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

/* The largest answer the cache keeps: a bigger one is passed on, not kept. */
#define ENTRY_MAX (16u << 20)

struct tg_cache_recorder {
    int attempt;             /* the attempt whose events these are */
    bool overflow;           /* more than ENTRY_MAX: not kept */
    h2o_buffer_t *events;    /* data events, usage-only chunk and [DONE] left out */
    h2o_iovec_t usage_event; /* the usage-only chunk, in the request's pool */
};

static bool sqlite_tier(const tg_request_t *r)
{
    return r->env.cfg->cache.sqlite.enabled && r->env.store->thread != NULL;
}

/* ------------------------------------------------------ the pool's holds */

static void release_held(void *p)
{
    tg_cache_entry_release(*(tg_cache_entry_t **)p);
}

static void free_held(void *p)
{
    free(*(void **)p);
}

/* p (an entry, or malloc'd memory) lives until the request's pool goes:
 * after the response is sent. */
static void hold(tg_request_t *r, void *p, void (*dispose)(void *))
{
    void **slot = h2o_mem_alloc_shared(&r->req->pool, sizeof(*slot), dispose);
    *slot = p;
}

/* ------------------------------------------------------------- outcomes */

static tg_stage_result_t miss(tg_request_t *r)
{
    tg_obs_record_cache(r->env.view, TG_CACHE_TIER_MEMORY, false, 0);
    if (sqlite_tier(r))
        tg_obs_record_cache(r->env.view, TG_CACHE_TIER_SQLITE, false, 0);
    return TG_STAGE_CONTINUE;
}

/* What the answer's upstream call would have cost now. */
static double saved_dollars(const tg_request_t *r, const tg_cache_answer_t *a)
{
    if (r->model_index < 0 || !a->usage.present)
        return 0;
    return tg_pricing_cost(&r->env.cfg->models[r->model_index].pricing, (uint64_t)a->usage.prompt_tokens,
                           (uint64_t)a->usage.cached_tokens, (uint64_t)a->usage.completion_tokens);
}

/* Answers r from e (whose reference it takes), in the request's form. */
static tg_stage_result_t serve(tg_request_t *r, tg_cache_entry_t *e, tg_cache_tier_t tier)
{
    tg_request_cache_t *rc = &r->cache;
    const tg_cache_answer_t *a = tg_cache_entry_answer(e);
    hold(r, e, release_held);
    bool stream = r->parsed.stream && r->operation == TG_OP_CHAT;
    h2o_iovec_t body = h2o_iovec_init(a->body.base, a->body.len);
    const char *content_type = a->content_type.base;
    if (stream || a->streamed) {
        size_t len = 0;
        char *converted = stream ? tg_cache_replay_stream(a, r->parsed.usage_requested, &len)
                                 : tg_cache_replay_plain(a, &len);
        if (converted == NULL) /* an answer this form cannot be made of: the upstream's will replace it */
            return miss(r);
        hold(r, converted, free_held);
        body = h2o_iovec_init(converted, len);
        content_type = stream ? "text/event-stream" : "application/json";
    }
    rc->hit = true;
    rc->tier = tier;
    rc->answer = a;
    rc->stream_reply = stream;
    r->reply = (tg_reply_t){.status = stream ? 200 : a->status, .content_type = content_type, .body = body};
    if (tier == TG_CACHE_TIER_SQLITE)
        tg_obs_record_cache(r->env.view, TG_CACHE_TIER_MEMORY, false, 0);
    tg_obs_record_cache(r->env.view, tier, true, saved_dollars(r, a));
    return TG_STAGE_RESPOND;
}

/* The request's fill is over: its waiters look again or go upstream. */
static void land(tg_request_t *r, bool filled)
{
    if (r->cache.flight == NULL)
        return;
    tg_cache_land(r->env.cache, r->cache.flight, filled);
    r->cache.flight = NULL;
}

/* ---------------------------------------------------------- the SQLite tier */

static tg_stage_result_t sqlite_answered(tg_request_t *r, tg_wait_t *w)
{
    tg_store_wait_t *sw = (tg_store_wait_t *)w;
    const tg_config_t *cfg = r->env.cfg;
    /* a miss: this request keeps its claim, and fills after its upstream call */
    if (!sw->job.u.cache.found)
        return miss(r);
    tg_cache_entry_t *e = tg_cache_entry_new(r->cache.key, sw->job.u.cache.payload, sw->job.u.cache.len);
    sw->job.u.cache.payload = NULL;
    if (e == NULL) /* not a payload of this build's: the upstream's answer replaces it */
        return miss(r);
    /* in memory for its memory TTL, but never beyond the row's own */
    double ttl = sw->job.u.cache.expires - tg_clock_wall_seconds();
    if (ttl > cfg->cache.ttl_seconds)
        ttl = cfg->cache.ttl_seconds;
    land(r, ttl > 0 && tg_cache_put(r->env.cache, e, tg_clock_seconds(), ttl, cfg->cache.memory_bytes));
    return serve(r, e, TG_CACHE_TIER_SQLITE);
}

static void sqlite_discard(tg_wait_t *w)
{
    free(((tg_store_wait_t *)w)->job.u.cache.payload);
}

static tg_stage_result_t ask_sqlite(tg_request_t *r)
{
    if (!sqlite_tier(r))
        return miss(r);
    tg_store_wait_t *sw = tg_store_wait_begin(r, TG_JOB_CACHE_GET, 0, sqlite_answered);
    if (sw == NULL)
        return miss(r);
    sw->wait.discard = sqlite_discard;
    memcpy(sw->job.u.cache.key, r->cache.key, TG_CACHE_KEY_LEN);
    sw->job.u.cache.now = tg_clock_wall_seconds();
    if (tg_store_wait_submit(r, sw) != 0) /* the store is swamped: the provider answers */
        return miss(r);
    return TG_STAGE_SUSPEND;
}

/* ------------------------------------------------------------ coalescing */

typedef struct cache_wait {
    tg_wait_t wait; /* first: the runner frees it as a tg_wait_t */
    h2o_multithread_receiver_t *answers;
    tg_cache_waiter_t waiter;
    tg_cache_wake_t why;
} cache_wait_t;

/* Any thread: the filler landed, or the tick ended the wait. */
static void on_wake(tg_cache_waiter_t *waiter, tg_cache_wake_t why)
{
    cache_wait_t *cw = H2O_STRUCT_FROM_MEMBER(cache_wait_t, waiter, waiter);
    cw->why = why;
    tg_wait_post(cw->answers, &cw->wait);
}

static tg_stage_result_t woken(tg_request_t *r, tg_wait_t *w)
{
    if (((cache_wait_t *)w)->why == TG_CACHE_WAKE_FILLED) {
        tg_cache_entry_t *e = tg_cache_get(r->env.cache, r->cache.key, tg_clock_seconds());
        if (e != NULL)
            return serve(r, e, TG_CACHE_TIER_MEMORY);
    }
    return miss(r); /* the fill failed, or took too long: this request asks the provider itself */
}

static tg_stage_result_t look(tg_request_t *r)
{
    tg_cache_t *cache = r->env.cache;
    double now = tg_clock_seconds();
    tg_cache_entry_t *e = tg_cache_get(cache, r->cache.key, now);
    if (e != NULL) /* the common hit: no allocation */
        return serve(r, e, TG_CACHE_TIER_MEMORY);
    cache_wait_t *cw = (cache_wait_t *)tg_wait_begin(r, sizeof(*cw), woken);
    if (cw != NULL) {
        cw->answers = r->env.answers;
        cw->waiter.wake = on_wake;
    }
    tg_cache_lookup_t found = tg_cache_lookup(cache, r->cache.key, now, cw != NULL ? &cw->waiter : NULL, &e,
                                              &r->cache.flight);
    if (found == TG_CACHE_WAIT)
        return TG_STAGE_SUSPEND;
    r->wait = NULL;
    free(cw);
    switch (found) {
    case TG_CACHE_HIT: return serve(r, e, TG_CACHE_TIER_MEMORY);
    case TG_CACHE_FILL: return ask_sqlite(r);
    default: return miss(r);
    }
}

/* ------------------------------------------------------------ the stage */

tg_stage_result_t tg_stage_cache(tg_request_t *r)
{
    const tg_config_t *cfg = r->env.cfg;
    if (!cfg->cache.enabled || r->env.cache == NULL)
        return TG_STAGE_CONTINUE;
    h2o_req_t *req = r->req;
    int directive = TG_CACHE_DEFAULT;
    ssize_t at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-tollgate-cache"), -1);
    if (at >= 0 &&
        (directive = tg_cache_directive_parse(req->headers.entries[at].value.base, req->headers.entries[at].value.len)) < 0) {
        tg_error_set(&r->error, 400, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST,
                     "The x-tollgate-cache header must be use, bypass or refresh.", NULL);
        return TG_STAGE_RESPOND;
    }
    /* an unknown model is the route stage's 404, not a cache entry */
    long model = tg_config_find_model(cfg, r->parsed.model, r->parsed.model_len);
    if (model < 0 || !tg_cache_key(r->org_id, r->operation, req->entity.base, req->entity.len,
                                   (tg_cache_directive_t)directive, r->cache.key))
        return TG_STAGE_CONTINUE;
    r->model_index = model; /* the route stage finds the same; a hit needs it without one */
    r->cache.fill = true;
    if (directive == TG_CACHE_REFRESH)
        return TG_STAGE_CONTINUE;
    r->cache.looked_up = true;
    return look(r);
}

/* ------------------------------------------------------------------ fill */

static void dispose_recorder(void *p)
{
    h2o_buffer_dispose(&((tg_cache_recorder_t *)p)->events);
}

void tg_cache_record_event(void *ctx, int attempt, const tg_sse_event_t *ev)
{
    tg_request_t *r = ctx;
    tg_cache_recorder_t *rec = r->cache.recorder;
    if (rec == NULL) {
        rec = h2o_mem_alloc_shared(&r->req->pool, sizeof(*rec), dispose_recorder);
        memset(rec, 0, sizeof(*rec));
        h2o_buffer_init(&rec->events, &h2o_socket_buffer_prototype);
        r->cache.recorder = rec;
    }
    if (attempt != rec->attempt) { /* a retry: the failed attempt's events do not count */
        h2o_buffer_consume(&rec->events, rec->events->size);
        rec->usage_event = h2o_iovec_init(NULL, 0);
        rec->overflow = false;
        rec->attempt = attempt;
    }
    if (ev->kind != TG_SSE_DATA || rec->overflow)
        return;
    if (ev->usage_only) {
        rec->usage_event = h2o_strdup(&r->req->pool, ev->raw, ev->raw_len);
        return;
    }
    if (rec->events->size + ev->raw_len > ENTRY_MAX) {
        rec->overflow = true;
        return;
    }
    h2o_iovec_t room = h2o_buffer_reserve(&rec->events, ev->raw_len);
    memcpy(room.base, ev->raw, ev->raw_len);
    rec->events->size += ev->raw_len;
}

/* The row of the SQLite tier, written by the store thread; nothing waits
 * for it. */
static void put_sqlite(tg_request_t *r, const char *payload, size_t len)
{
    tg_store_job_t *job = malloc(sizeof(*job) + len);
    if (job == NULL)
        return;
    memset(job, 0, sizeof(*job));
    job->kind = TG_JOB_CACHE_PUT; /* done NULL: the store thread frees it, payload and all */
    memcpy(job->u.cache.key, r->cache.key, TG_CACHE_KEY_LEN);
    snprintf(job->u.cache.org, sizeof(job->u.cache.org), "%s", r->org_id);
    job->u.cache.expires = tg_clock_wall_seconds() + r->env.cfg->cache.sqlite.ttl_seconds;
    job->u.cache.payload = (char *)(job + 1);
    job->u.cache.len = len;
    memcpy(job->u.cache.payload, payload, len);
    if (tg_store_submit(r->env.store->thread, job) != 0)
        free(job); /* the store is swamped: this answer stays in memory only */
}

/* Puts a successful upstream answer into the tiers; whether memory has it. */
static bool fill(tg_request_t *r)
{
    const tg_upstream_result_t *res = r->result;
    const tg_config_t *cfg = r->env.cfg;
    if (res == NULL || !res->answered || res->client_gone || res->llm_status != TG_LLM_SUCCESS ||
        res->upstream_status != 200 || r->error.status != 0)
        return false;
    const char *provider = cfg->providers[res->provider_index].name;
    tg_cache_answer_t a = {
        .streamed = res->streamed,
        .operation = r->operation,
        .status = res->upstream_status,
        .provider = {provider, strlen(provider)},
        .model_used = {res->model_used, strlen(res->model_used)},
        .usage = res->usage,
    };
    if (res->streamed) {
        tg_cache_recorder_t *rec = r->cache.recorder;
        if (rec == NULL || rec->overflow || rec->attempt != res->attempts)
            return false;
        a.body = (tg_bytes_t){rec->events->bytes, rec->events->size};
        a.usage_event = (tg_bytes_t){rec->usage_event.base, rec->usage_event.len};
    } else {
        a.content_type = (tg_bytes_t){res->content_type.base, res->content_type.len};
        a.body = (tg_bytes_t){res->body.base, res->body.len};
    }
    size_t len = tg_cache_answer_encode(&a, NULL, 0);
    char *payload = len <= ENTRY_MAX ? malloc(len) : NULL;
    if (payload == NULL)
        return false;
    tg_cache_answer_encode(&a, payload, len);
    if (sqlite_tier(r))
        put_sqlite(r, payload, len);
    tg_cache_entry_t *e = tg_cache_entry_new(r->cache.key, payload, len);
    if (e == NULL)
        return false;
    bool kept = tg_cache_put(r->env.cache, e, tg_clock_seconds(), cfg->cache.ttl_seconds, cfg->cache.memory_bytes);
    tg_cache_entry_release(e);
    return kept;
}

/* A hit is billed at no upstream cost; its tokens are the answer's. */
static void bill_hit(tg_request_t *r)
{
    const tg_cache_answer_t *a = r->cache.answer;
    tg_usage_t u = a->usage.present ? a->usage : (tg_usage_t){0};
    r->billed = (tg_account_out_t){
        .prompt_tokens = (uint64_t)u.prompt_tokens,
        .cached_tokens = (uint64_t)u.cached_tokens,
        .completion_tokens = (uint64_t)u.completion_tokens,
        .reasoning_tokens = (uint64_t)u.reasoning_tokens,
        .cost = 0,
    };
    tg_access_record_t *access = &r->access;
    access->cache_hit = true;
    access->cache_tier = tg_cache_tier_name(r->cache.tier);
    /* copies: the access line may be written at dispose, after the pool let go of the entry */
    access->model_used = h2o_strdup(&r->req->pool, a->model_used.base, a->model_used.len).base;
    access->provider = h2o_strdup(&r->req->pool, a->provider.base, a->provider.len).base;
    access->prompt_tokens = u.prompt_tokens;
    access->completion_tokens = u.completion_tokens;
    access->cost = 0;
}

tg_stage_result_t tg_stage_cache_fill(tg_request_t *r)
{
    if (r->cache.hit) {
        bill_hit(r);
        return TG_STAGE_CONTINUE;
    }
    bool filled = r->cache.fill && fill(r);
    land(r, filled);
    return TG_STAGE_CONTINUE;
}

const char *tg_cache_response_header(const tg_request_cache_t *rc)
{
    if (rc->hit)
        return rc->tier == TG_CACHE_TIER_MEMORY ? "hit-memory" : "hit-sqlite";
    return rc->fill ? "miss" : NULL;
}
