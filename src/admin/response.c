/* response.c: see response.h. */
#include "admin/response.h"

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int status;
    tg_error_type_t type;
    tg_error_code_t code;
} errors[] = {
#define TG_ADMIN_ERROR_ROW(name, status, type, code) {status, TG_ERR_##type, TG_CODE_##code},
    TG_ADMIN_ERROR_MAP(TG_ADMIN_ERROR_ROW)
};

/* What a client gets when even the answer could not be built. */
#define OUT_OF_MEMORY_BODY \
    "{\"error\":{\"message\":\"out of memory\",\"type\":\"internal_error\",\"param\":null,\"code\":\"internal_error\"}}\n"

void tg_admin_reply(tg_admin_response_t *resp, int status, json_t *body)
{
    /* 15 digits: a cost like 3.15e-05 is written as it was summed, not as
     * 3.1500000000000001e-05. */
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    size_t len = text != NULL ? strlen(text) : 0;
    char *with_newline = text != NULL ? realloc(text, len + 2) : NULL;
    if (with_newline == NULL) {
        free(text);
        resp->status = 500;
        resp->body = strdup(OUT_OF_MEMORY_BODY);
        resp->body_len = resp->body != NULL ? strlen(resp->body) : 0;
        return;
    }
    with_newline[len] = '\n';
    with_newline[len + 1] = '\0';
    resp->status = status;
    resp->body = with_newline;
    resp->body_len = len + 1;
}

void tg_admin_fail(tg_admin_response_t *resp, tg_admin_error_t e, const char *param, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    tg_error_t error;
    tg_error_set(&error, errors[e].status, errors[e].type, errors[e].code, message, param);
    char body[TG_ERROR_JSON_MAX];
    size_t len = tg_error_json(body, sizeof(body), &error);
    resp->status = error.status;
    resp->body = malloc(len + 1);
    resp->body_len = resp->body != NULL ? len : 0;
    if (resp->body != NULL)
        memcpy(resp->body, body, len + 1);
    resp->failed = true;
    resp->error_type = error.type;
    resp->error_code = error.code;
}

void tg_admin_fail_store(tg_admin_response_t *resp, tg_store_status_t st)
{
    tg_admin_fail(resp, TG_ADMIN_ERR_STORE_UNAVAILABLE, NULL, "the store is unavailable (%s)", tg_store_status_name(st));
}

void tg_admin_join(char *buf, size_t cap, const char *item)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len > 0 ? ", " : "", item);
}

json_t *tg_admin_time_json(double t)
{
    return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static json_t *limit_json(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *tg_admin_policy_json(const tg_policy_t *p)
{
    json_t *models = json_null();
    if (p->model_count > 0) {
        models = json_array();
        for (size_t i = 0; i < p->model_count; i++)
            json_array_append_new(models, json_string(p->models[i]));
    }
    json_t *o = json_object();
    json_object_set_new(o, "rpm", limit_json(p->rpm));
    json_object_set_new(o, "tpm", limit_json(p->tpm));
    json_object_set_new(o, "max_concurrent", limit_json(p->max_concurrent));
    json_object_set_new(o, "budget_usd", p->budget_usd >= 0 ? json_real(p->budget_usd) : json_null());
    json_object_set_new(o, "models", models);
    return o;
}

json_t *tg_admin_org_json(const tg_org_t *org)
{
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("organization"));
    json_object_set_new(o, "name", json_string(org->name));
    json_object_set_new(o, "plan", json_string(org->plan));
    json_object_set_new(o, "created", tg_admin_time_json(org->created));
    json_object_set_new(o, "policy", tg_admin_policy_json(&org->policy));
    return o;
}

json_t *tg_admin_key_json(const tg_key_t *key, const char *secret)
{
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("api_key"));
    json_object_set_new(o, "id", json_string(key->id));
    if (secret != NULL)
        json_object_set_new(o, "key", json_string(secret));
    json_object_set_new(o, "hint", json_string(key->hint));
    json_object_set_new(o, "org", json_string(key->org));
    json_object_set_new(o, "name", json_string(key->name));
    json_object_set_new(o, "created", tg_admin_time_json(key->created));
    json_object_set_new(o, "last_used", tg_admin_time_json(key->last_used));
    json_object_set_new(o, "revoked", tg_admin_time_json(key->revoked));
    json_object_set_new(o, "policy", tg_admin_policy_json(&key->policy));
    return o;
}

static json_t *text_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

json_t *tg_admin_audit_json(const tg_audit_entry_t *e)
{
    /* detail is JSON text written by the operations: shown as the value it
     * is; anything that does not parse is shown as a string. */
    json_t *detail = e->detail[0] != '\0' ? json_loads(e->detail, JSON_DECODE_ANY, NULL) : json_null();
    if (detail == NULL)
        detail = json_string(e->detail);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("audit_entry"));
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "timestamp", tg_admin_time_json(e->ts));
    json_object_set_new(o, "action", json_string(tg_audit_action_name(e->action)));
    json_object_set_new(o, "org_id", text_or_null(e->org));
    json_object_set_new(o, "user_id", text_or_null(e->user_id));
    json_object_set_new(o, "request_id", text_or_null(e->request_id));
    json_object_set_new(o, "key_id", text_or_null(e->key_id));
    json_object_set_new(o, "key_hint", text_or_null(e->key_hint));
    json_object_set_new(o, "client_addr", text_or_null(e->client_addr));
    json_object_set_new(o, "reason", text_or_null(e->reason));
    json_object_set_new(o, "detail", detail);
    return o;
}

void tg_admin_reply_list(tg_admin_response_t *resp, tg_store_status_t st, json_t *data)
{
    if (st != TG_STORE_OK) {
        json_decref(data);
        tg_admin_fail_store(resp, st);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    tg_admin_reply(resp, 200, o);
}
