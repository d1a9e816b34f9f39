/* auth.c: see auth.h. */
#include "pipeline/auth.h"
#include "pipeline/store_wait.h"
#include "pipeline/stages.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "limits/gcra.h"
#include "obs/audit.h"
#include "store/key_hash.h"
#include "store/thread.h"

static void refuse(tg_auth_out_t *out, int status, tg_error_type_t type, tg_error_code_t code, const char *message,
                   const char *reason)
{
    tg_error_set(&out->error, status, type, code, message, NULL);
    out->reason = reason;
}

static void refuse_unknown(tg_auth_out_t *out)
{
    refuse(out, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY, "Incorrect API key provided.", "unknown_key");
}

const char *tg_auth_presented_key(const char *authorization, size_t authorization_len, const char *api_key,
                                  size_t api_key_len, size_t *len, bool *bearer)
{
    *bearer = true;
    if (authorization != NULL) {
        const char *p = authorization, *end = authorization + authorization_len;
        if (authorization_len > 7 && strncasecmp(p, "Bearer ", 7) == 0)
            p += 7;
        else
            *bearer = false; /* another scheme, or a bare value: presented, and refused */
        while (p < end && *p == ' ')
            p++;
        while (end > p && end[-1] == ' ')
            end--;
        *len = (size_t)(end - p);
        return p;
    }
    if (api_key != NULL) {
        *len = api_key_len;
        return api_key;
    }
    *len = 0;
    return NULL;
}

tg_auth_verdict_t tg_auth_judge(const tg_key_entry_t *e, const char *model, size_t model_len, tg_auth_out_t *out)
{
    out->entry = e;
    if (e->revoked) {
        refuse(out, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY, "This API key has been revoked.",
               "revoked_key");
        return TG_AUTH_REFUSED;
    }
    if (model != NULL && !tg_key_entry_allows(e, model, model_len)) {
        refuse(out, 403, TG_ERR_PERMISSION, TG_CODE_MODEL_NOT_ALLOWED,
               "This API key may not use the requested model.", "model_not_allowed");
        return TG_AUTH_REFUSED;
    }
    return TG_AUTH_KEY;
}

tg_auth_verdict_t tg_auth_check(const tg_auth_in_t *in, tg_auth_out_t *out)
{
    memset(out, 0, sizeof(*out));
    /* without a store there are no keys: every request is anonymous, and
     * the config requires anonymous access then (config.c) */
    if (in->key == NULL || !in->have_store) {
        if (in->allow_anonymous)
            return TG_AUTH_ANONYMOUS;
        refuse(out, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY, "You didn't provide an API key.",
               "missing_key");
        return TG_AUTH_REFUSED;
    }
    if (in->not_bearer) {
        refuse(out, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY,
               "The Authorization header must be \"Bearer\" and an API key.", "malformed_authorization");
        return TG_AUTH_REFUSED;
    }
    tg_key_hash(in->key, in->key_len, out->hash);
    const tg_key_entry_t *e = tg_key_index_find(in->index, out->hash);
    if (e != NULL)
        return tg_auth_judge(e, in->model, in->model_len, out);
    if (tg_key_looks_ours(in->key, in->key_len))
        return TG_AUTH_LOOKUP; /* perhaps made a moment ago by another process */
    refuse_unknown(out);
    return TG_AUTH_REFUSED;
}

/* ------------------------------------------------------------ the stage */

void tg_auth_client_addr(tg_request_t *r, char out[TG_STORE_ADDR_MAX + 1])
{
    struct sockaddr_storage ss;
    socklen_t len = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    char host[NI_MAXHOST];
    out[0] = '\0';
    if (len == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) == SIZE_MAX)
        return;
    int32_t port = h2o_socket_getport((struct sockaddr *)&ss);
    snprintf(out, TG_STORE_ADDR_MAX + 1, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, (int)port);
}

/* Refusals audited, at most this many a second (a burst of as many): a
 * client hammering with bad keys cannot grow the audit table and the log
 * without bound; the rest are counted in audit_suppressed_total. */
#define AUDITED_REFUSALS_PER_SECOND 100

void tg_auth_audit_refusal(tg_request_t *r, tg_audit_action_t action, const tg_auth_out_t *out, const char *key,
                           size_t key_len)
{
    static _Atomic int64_t audit_tat; /* the process's bucket (limits/gcra.h) */
    tg_gcra_take_t take;
    tg_gcra_take(&audit_tat, tg_clock_ns(), 1000000000LL, AUDITED_REFUSALS_PER_SECOND, 1, &take);
    if (!take.allowed) {
        tg_obs_record_audit_suppressed(r->env.view);
        return;
    }
    tg_store_job_t *job = calloc(1, sizeof(*job));
    tg_audit_entry_t local, *e = job != NULL ? &job->u.audit : &local;
    memset(e, 0, sizeof(*e));
    e->ts = (double)time(NULL);
    e->action = action;
    if (out->entry != NULL) {
        memcpy(e->org, out->entry->org, sizeof(e->org));
        memcpy(e->key_id, out->entry->id, sizeof(e->key_id));
    }
    snprintf(e->request_id, sizeof(e->request_id), "%s", r->request_id);
    if (key != NULL)
        tg_key_hint(key, key_len, e->key_hint);
    tg_auth_client_addr(r, e->client_addr);
    snprintf(e->reason, sizeof(e->reason), "%s", out->reason);
    tg_audit_log(e);
    if (job == NULL)
        return;
    job->kind = TG_JOB_AUDIT;
    if (r->env.store->thread == NULL || tg_store_submit(r->env.store->thread, job) != 0)
        free(job);
}

/* A valid key: the request is its org's. Once a minute per key, its
 * last_used goes to the store. */
/* The key's model list into the request's pool: the index entry may be
 * gone by the time the models stage reads it. */
static void copy_models(tg_request_t *r, const tg_key_entry_t *e)
{
    if (e->models == NULL)
        return;
    r->allowed_models = h2o_mem_alloc_pool(&r->req->pool, e->model_count * sizeof(char *));
    for (size_t i = 0; i < e->model_count; i++)
        r->allowed_models[i] = h2o_strdup(&r->req->pool, e->models[i], SIZE_MAX).base;
    r->allowed_model_count = e->model_count;
}

static void admit_key(tg_request_t *r, const tg_key_entry_t *e, bool touch)
{
    memcpy(r->org_buf, e->org, sizeof(r->org_buf));
    memcpy(r->key_id, e->id, sizeof(r->key_id));
    memcpy(r->plan, e->plan, sizeof(r->plan));
    r->org_id = r->org_buf;
    /* copied: the index may be replaced while the request runs; the states are the registry's */
    r->hold.limits[TG_HOLD_KEY] = e->key_limits;
    r->hold.limits[TG_HOLD_ORG] = e->org_limits;
    r->hold.state[TG_HOLD_KEY] = e->key_state;
    r->hold.state[TG_HOLD_ORG] = e->org_state;
    if (r->route == TG_ROUTE_MODELS || r->route == TG_ROUTE_MODEL)
        copy_models(r, e); /* the listing shows only what the key may use */
    if (!touch)
        return;
    int64_t now = (int64_t)r->started_at, last = atomic_load_explicit(&((tg_key_entry_t *)e)->last_touch,
                                                                       memory_order_relaxed);
    if (now - last < 60 ||
        !atomic_compare_exchange_strong(&((tg_key_entry_t *)e)->last_touch, &last, now))
        return;
    tg_store_job_t *job = calloc(1, sizeof(*job)); /* once a minute per key */
    if (job == NULL)
        return;
    job->kind = TG_JOB_TOUCH;
    memcpy(job->u.key_id, e->id, sizeof(job->u.key_id));
    if (tg_store_submit(r->env.store->thread, job) != 0)
        free(job);
}

static tg_stage_result_t decide(tg_request_t *r, tg_auth_verdict_t v, const tg_auth_out_t *out, const char *key,
                                size_t key_len, bool from_index)
{
    switch (v) {
    case TG_AUTH_ANONYMOUS:
        r->org_id = "anonymous";
        return TG_STAGE_CONTINUE;
    case TG_AUTH_KEY:
        admit_key(r, out->entry, from_index);
        return TG_STAGE_CONTINUE;
    case TG_AUTH_LOOKUP:
    case TG_AUTH_REFUSED:
        break;
    }
    r->error = out->error;
    tg_auth_audit_refusal(r, TG_AUDIT_AUTH_FAILURE, out, key, key_len);
    return TG_STAGE_RESPOND;
}

static tg_stage_result_t lookup_deliver(tg_request_t *r, tg_wait_t *w)
{
    tg_store_wait_t *lw = (tg_store_wait_t *)w;
    tg_auth_out_t out;
    memset(&out, 0, sizeof(out));
    tg_stage_result_t result;
    if (lw->job.u.lookup.store_failed) {
        tg_error_set(&r->error, 503, TG_ERR_INTERNAL, TG_CODE_STORE_UNAVAILABLE,
                     "The key store is unavailable; retry later.", NULL);
        r->error.retry_after = 1;
        result = TG_STAGE_RESPOND;
    } else if (!lw->job.u.lookup.found) {
        tg_store_client_note_miss(r->env.store, lw->job.u.lookup.hash);
        refuse_unknown(&out);
        result = decide(r, TG_AUTH_REFUSED, &out, r->auth_key, r->auth_key_len, false);
    } else {
        tg_key_entry_t e;
        tg_key_entry_from_key(&e, &lw->job.u.lookup.key, lw->job.u.lookup.org_found ? &lw->job.u.lookup.org : NULL,
                              r->env.limits);
        tg_auth_verdict_t v = tg_auth_judge(&e, r->parsed.model, r->parsed.model_len, &out);
        result = decide(r, v, &out, r->auth_key, r->auth_key_len, false);
        tg_key_entry_clear(&e);
    }
    return result;
}

tg_stage_result_t tg_stage_auth(tg_request_t *r)
{
    h2o_headers_t *h = &r->req->headers;
    ssize_t a = h2o_find_header(h, H2O_TOKEN_AUTHORIZATION, -1);
    ssize_t x = h2o_find_header_by_str(h, H2O_STRLIT("x-api-key"), -1);
    size_t key_len;
    bool bearer;
    const char *key = tg_auth_presented_key(a >= 0 ? h->entries[a].value.base : NULL, a >= 0 ? h->entries[a].value.len : 0,
                                            x >= 0 ? h->entries[x].value.base : NULL, x >= 0 ? h->entries[x].value.len : 0,
                                            &key_len, &bearer);
    tg_auth_in_t in = {
        .not_bearer = !bearer,
        .allow_anonymous = r->env.cfg->auth.allow_anonymous,
        .have_store = r->env.store->thread != NULL,
        .key = key,
        .key_len = key_len,
        .index = r->env.store->index,
        .model = r->operation != TG_OP_COUNT ? r->parsed.model : NULL, /* /v1/models: no model to check */
        .model_len = r->parsed.model_len,
    };
    tg_auth_out_t out;
    tg_auth_verdict_t v = tg_auth_check(&in, &out);
    if (v == TG_AUTH_LOOKUP && tg_store_client_known_miss(r->env.store, out.hash)) {
        refuse_unknown(&out); /* the store said so since the last index */
        v = TG_AUTH_REFUSED;
    }
    if (v != TG_AUTH_LOOKUP)
        return decide(r, v, &out, key, key_len, true);

    tg_store_wait_t *lw = tg_store_wait_begin(r, TG_JOB_LOOKUP, 0, lookup_deliver);
    if (lw == NULL) {
        tg_error_set(&r->error, 500, TG_ERR_INTERNAL, TG_CODE_INTERNAL_ERROR, "Out of memory.", NULL);
        return TG_STAGE_RESPOND;
    }
    memcpy(lw->job.u.lookup.hash, out.hash, sizeof(out.hash));
    r->auth_key = key; /* the request's own header: lives as long as it */
    r->auth_key_len = key_len;
    if (tg_store_wait_submit(r, lw) != 0) {
        tg_error_set(&r->error, 503, TG_ERR_INTERNAL, TG_CODE_STORE_UNAVAILABLE,
                     "The key store is busy; retry later.", NULL);
        r->error.retry_after = 1;
        return TG_STAGE_RESPOND;
    }
    return TG_STAGE_SUSPEND;
}
