/* admin.c: the admin API's stage (docs/tenancy.md, "Admin API"). It checks
 * the master key here, on the worker, in constant time (SHA-256 of both
 * sides, so that not even the length leaks), then hands the request to the
 * store thread, which runs it (admin/admin.h) and answers. The request's
 * path, query and body are copied into the job: the store thread may still
 * read them after a client that left has had its request freed. */
#include "pipeline/auth.h"
#include "pipeline/store_wait.h"
#include "pipeline/stages.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "store/key_hash.h"

static tg_stage_result_t deliver(tg_request_t *r, tg_wait_t *w)
{
    tg_store_wait_t *aw = (tg_store_wait_t *)w;
    tg_admin_response_t *res = &aw->job.u.admin.response;
    char *body = h2o_mem_alloc_pool(&r->req->pool, res->body_len);
    memcpy(body, res->body, res->body_len);
    r->reply = (tg_reply_t){res->status, "application/json", NULL, h2o_iovec_init(body, res->body_len)};
    free(res->body);
    if (res->failed) /* the body is the error JSON already: only counted here */
        tg_obs_record_error(r->env.view, res->error_type, res->error_code, r->route);
    return TG_STAGE_RESPOND;
}

static void discard(tg_wait_t *w)
{
    free(((tg_store_wait_t *)w)->job.u.admin.response.body);
}

static bool master_key_ok(tg_request_t *r)
{
    ssize_t a = h2o_find_header(&r->req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (a < 0)
        return false;
    h2o_iovec_t v = r->req->headers.entries[a].value;
    size_t len;
    bool bearer;
    const char *key = tg_auth_presented_key(v.base, v.len, NULL, 0, &len, &bearer);
    if (!bearer)
        return false;
    uint8_t hash[32];
    tg_key_hash(key, len, hash);
    return CRYPTO_memcmp(hash, r->env.admin_key_hash, sizeof(hash)) == 0;
}

static char *append(char *at, const char *s, size_t n, const char **out)
{
    memcpy(at, s, n);
    at[n] = '\0';
    *out = at;
    return at + n + 1;
}

tg_stage_result_t tg_stage_admin(tg_request_t *r)
{
    if (r->env.admin_key_hash == NULL || r->env.store->thread == NULL) {
        tg_error_set(&r->error, 404, TG_ERR_INVALID_REQUEST, TG_CODE_NOT_FOUND, "Unknown request URL.", NULL);
        return TG_STAGE_RESPOND;
    }
    if (!master_key_ok(r)) {
        tg_auth_out_t out = {.reason = "invalid_admin_key"};
        tg_auth_audit_refusal(r, TG_AUDIT_ADMIN_AUTH_FAILURE, &out, NULL, 0);
        tg_error_set(&r->error, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY,
                     "Incorrect or missing admin key.", NULL);
        return TG_STAGE_RESPOND;
    }
    h2o_req_t *req = r->req;
    const char *q = memchr(req->path.base, '?', req->path.len);
    size_t path_len = q != NULL ? (size_t)(q - req->path.base) : req->path.len;
    size_t query_len = q != NULL ? req->path.len - path_len - 1 : 0;
    size_t id_len = strlen(r->request_id);
    char addr[TG_STORE_ADDR_MAX + 1];
    tg_auth_client_addr(r, addr);
    size_t addr_len = strlen(addr);
    /* path, query, body, request id, client address: NUL-separated */
    size_t extra = path_len + query_len + req->entity.len + id_len + addr_len + 5;
    tg_store_wait_t *aw = tg_store_wait_begin(r, TG_JOB_ADMIN, extra, deliver);
    if (aw == NULL) {
        tg_error_set(&r->error, 500, TG_ERR_INTERNAL, TG_CODE_INTERNAL_ERROR, "Out of memory.", NULL);
        return TG_STAGE_RESPOND;
    }
    aw->wait.discard = discard;
    tg_admin_request_t *ar = &aw->job.u.admin.request;
    char *at = aw->extra;
    at = append(at, req->path.base, path_len, &ar->path);
    at = append(at, q != NULL ? q + 1 : "", query_len, &ar->query);
    at = append(at, req->entity.base != NULL ? req->entity.base : "", req->entity.len, &ar->body);
    at = append(at, r->request_id, id_len, &ar->request_id);
    append(at, addr, addr_len, &ar->client_addr);
    ar->method = r->method;
    ar->path_len = path_len;
    ar->query_len = query_len;
    ar->body_len = req->entity.len;
    if (req->entity.base == NULL)
        ar->body = NULL;
    ar->user_id = "admin";
    if (tg_store_wait_submit(r, aw) != 0) {
        tg_error_set(&r->error, 503, TG_ERR_INTERNAL, TG_CODE_STORE_UNAVAILABLE, "The store is busy; retry later.",
                     NULL);
        r->error.retry_after = 1;
        return TG_STAGE_RESPOND;
    }
    return TG_STAGE_SUSPEND;
}
