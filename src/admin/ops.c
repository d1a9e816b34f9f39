/* ops.c: tg_admin_execute: routes a request under /admin/v1/ to its
 * operation (orgs.c, keys.c, usage.c), and the transaction every change
 * shares with its audit entries. */
#include "admin/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/response.h"
#include "obs/audit.h"

typedef void (*tg_admin_handler_fn)(tg_admin_call_t *c);

static const char *const no_params[] = {NULL};
static const char *const keys_params[] = {"org", NULL};
static const char *const usage_params[] = {"org", "key", "from", "to", "group_by", NULL};
static const char *const audit_params[] = {"org", "action", "limit", NULL};

static const struct route {
    const char *collection;
    bool item; /* /collection/{id} */
    tg_method_t method;
    const char *const *params;
    tg_admin_handler_fn fn;
} routes[] = {
    {"orgs", false, TG_METHOD_GET, no_params, tg_admin_orgs_list},
    {"orgs", false, TG_METHOD_POST, no_params, tg_admin_orgs_create},
    {"orgs", true, TG_METHOD_PATCH, no_params, tg_admin_orgs_update},
    {"keys", false, TG_METHOD_GET, keys_params, tg_admin_keys_list},
    {"keys", false, TG_METHOD_POST, no_params, tg_admin_keys_create},
    {"keys", true, TG_METHOD_PATCH, no_params, tg_admin_keys_update},
    {"keys", true, TG_METHOD_DELETE, no_params, tg_admin_keys_revoke},
    {"usage", false, TG_METHOD_GET, usage_params, tg_admin_usage},
    {"audit", false, TG_METHOD_GET, audit_params, tg_admin_audit},
};

#define PREFIX "/admin/v1/"

void tg_admin_execute(tg_store_t *s, const tg_admin_env_t *env, const tg_admin_request_t *req,
                      tg_admin_response_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    tg_admin_call_t c = {.s = s, .env = env, .req = req, .resp = resp};
    const char *path = req->path;
    size_t len = req->path_len, prefix_len = strlen(PREFIX);
    int shown = len > 200 ? 200 : (int)len; /* of the path, in a message */
    if (len < prefix_len || memcmp(path, PREFIX, prefix_len) != 0) {
        tg_admin_fail(resp, TG_ADMIN_ERR_NOT_FOUND, NULL, "unknown admin path %.*s", shown, path);
        return;
    }
    const char *rest = path + prefix_len;
    const char *slash = memchr(rest, '/', len - prefix_len);
    size_t collection_len = slash != NULL ? (size_t)(slash - rest) : len - prefix_len;
    char id[TG_ADMIN_QUERY_VALUE_MAX + 1];
    bool id_ok = slash != NULL && slash + 1 < path + len &&
                 tg_admin_decode(slash + 1, (size_t)(path + len - slash - 1), id, sizeof(id)) && strchr(id, '/') == NULL;
    const struct route *found = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (strlen(r->collection) != collection_len || memcmp(r->collection, rest, collection_len) != 0 ||
            r->item != (slash != NULL) || (r->item && !id_ok))
            continue;
        path_known = true;
        if (r->method == req->method)
            found = r;
    }
    if (!path_known) {
        tg_admin_fail(resp, TG_ADMIN_ERR_NOT_FOUND, NULL, "unknown admin path %.*s", shown, path);
        return;
    }
    if (found == NULL) {
        tg_admin_fail(resp, TG_ADMIN_ERR_METHOD_NOT_ALLOWED, NULL, "%s is not allowed on %.*s",
                      tg_method_name(req->method), shown, path);
        return;
    }
    if (!tg_admin_read_query(req, found->params, c.query, resp))
        return;
    c.id = found->item ? id : NULL;
    found->fn(&c);
}

bool tg_admin_begin(tg_admin_call_t *c)
{
    tg_store_status_t st = c->s->methods->begin(c->s);
    if (st != TG_STORE_OK)
        tg_admin_fail_store(c->resp, st);
    return st == TG_STORE_OK;
}

void tg_admin_abort(tg_admin_call_t *c, tg_store_status_t st, const char *param, const char *what)
{
    c->s->methods->rollback(c->s);
    if (st == TG_STORE_NOT_FOUND)
        tg_admin_fail(c->resp, TG_ADMIN_ERR_NOT_FOUND, param, "%s does not exist", what);
    else if (st == TG_STORE_EXISTS)
        tg_admin_fail(c->resp, TG_ADMIN_ERR_ALREADY_EXISTS, param, "%s already exists", what);
    else
        tg_admin_fail_store(c->resp, st);
}

/* detail as compact JSON within TG_STORE_TEXT_MAX bytes. Only a long list
 * of models can overflow it (the other fields fit together): its count
 * then stands for it. */
static void write_detail(json_t *detail, char out[TG_STORE_TEXT_MAX + 1])
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15);
    char *text = json_dumps(detail, flags);
    json_t *models = json_object_get(detail, "models");
    if (text != NULL && strlen(text) > TG_STORE_TEXT_MAX && json_is_array(models)) {
        free(text);
        json_t *shorter = json_copy(detail);
        json_object_set_new(shorter, "models", json_integer((json_int_t)json_array_size(models)));
        text = json_dumps(shorter, flags);
        json_decref(shorter);
    }
    snprintf(out, TG_STORE_TEXT_MAX + 1, "%s", text != NULL ? text : "");
    free(text);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void tg_admin_audit_add(tg_admin_call_t *c, tg_admin_change_t *ch, tg_audit_action_t action, const char *org,
                        const char *key_id, json_t *detail)
{
    tg_audit_entry_t *e = &ch->entries[ch->count++];
    memset(e, 0, sizeof(*e));
    e->ts = c->env->now;
    e->action = action;
    copy(e->org, sizeof(e->org), org);
    copy(e->key_id, sizeof(e->key_id), key_id);
    copy(e->user_id, sizeof(e->user_id), c->req->user_id);
    copy(e->request_id, sizeof(e->request_id), c->req->request_id);
    copy(e->client_addr, sizeof(e->client_addr), c->req->client_addr);
    if (detail != NULL)
        write_detail(detail, e->detail);
}

bool tg_admin_commit(tg_admin_call_t *c, tg_admin_change_t *ch)
{
    tg_store_status_t st = TG_STORE_OK;
    for (size_t i = 0; i < ch->count && st == TG_STORE_OK; i++)
        st = c->s->methods->audit_append(c->s, &ch->entries[i]);
    if (st == TG_STORE_OK)
        st = c->s->methods->commit(c->s);
    if (st != TG_STORE_OK) {
        c->s->methods->rollback(c->s);
        tg_admin_fail_store(c->resp, st);
        return false;
    }
    for (size_t i = 0; i < ch->count; i++)
        tg_audit_log(&ch->entries[i]);
    return true;
}
