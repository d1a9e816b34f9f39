/* request.c: see request.h. */
#include "admin/request.h"

#include <string.h>

#include "admin/response.h"
#include "core/json.h"

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

bool tg_admin_valid_name(const char *s)
{
    size_t len = strspn(s, NAME_CHARS);
    return len > 0 && len <= TG_STORE_NAME_MAX && s[len] == '\0';
}

#define TG_ADMIN_FIELD_LABEL(name, label) label,
static const char *const field_names[] = {TG_ADMIN_FIELD_MAP(TG_ADMIN_FIELD_LABEL)};

const char *tg_admin_field_name(tg_admin_field_t f)
{
    return (unsigned)f < TG_ADMIN_FIELD_COUNT ? field_names[f] : "unknown";
}

static int field_from_name(const char *name)
{
    for (int i = 0; i < TG_ADMIN_FIELD_COUNT; i++)
        if (strcmp(field_names[i], name) == 0)
            return i;
    return -1;
}

static bool bad_field(tg_admin_response_t *resp, const char *field, const char *must)
{
    tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, field, "%s must be %s", field, must);
    return false;
}

static bool read_name(const json_t *v, const char *field, char out[TG_STORE_NAME_MAX + 1],
                      tg_admin_response_t *resp)
{
    if (!json_is_string(v) || !tg_admin_valid_name(json_string_value(v)))
        return bad_field(resp, field, "1..64 characters of [A-Za-z0-9._-]");
    strcpy(out, json_string_value(v));
    return true;
}

static bool read_limit(const json_t *v, const char *field, int64_t *out, tg_admin_response_t *resp)
{
    if (json_is_null(v))
        return true; /* stays -1: not set */
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad_field(resp, field, "a non-negative integer or null");
    *out = json_integer_value(v);
    return true;
}

static bool read_budget(const json_t *v, tg_policy_t *p, tg_admin_response_t *resp)
{
    if (json_is_null(v))
        return true;
    if (!json_is_number(v) || json_number_value(v) < 0)
        return bad_field(resp, "budget_usd", "a non-negative number or null");
    p->budget_usd = json_number_value(v);
    return true;
}

static bool read_models(const json_t *v, tg_policy_t *p, tg_admin_response_t *resp)
{
    if (json_is_null(v))
        return true;
    /* An empty list would read as "no model", which a policy cannot say:
     * null (every model) is the way to lift the restriction. */
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > TG_STORE_MODELS_MAX)
        return bad_field(resp, "models", "an array of 1..16 model names, or null for every model");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!read_name(item, "models", p->models[i], resp))
            return false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->models[k], p->models[i]) == 0)
                return bad_field(resp, "models", "a list of distinct names");
    }
    p->model_count = json_array_size(v);
    return true;
}

static bool read_field(tg_admin_field_t f, const json_t *v, tg_admin_body_t *out, tg_admin_response_t *resp)
{
    const char *name = tg_admin_field_name(f);
    switch (f) {
    case TG_ADMIN_FIELD_NAME: return read_name(v, name, out->name, resp);
    case TG_ADMIN_FIELD_PLAN: return read_name(v, name, out->plan, resp);
    case TG_ADMIN_FIELD_ORG: return read_name(v, name, out->org, resp);
    case TG_ADMIN_FIELD_RPM: return read_limit(v, name, &out->policy.rpm, resp);
    case TG_ADMIN_FIELD_TPM: return read_limit(v, name, &out->policy.tpm, resp);
    case TG_ADMIN_FIELD_MAX_CONCURRENT: return read_limit(v, name, &out->policy.max_concurrent, resp);
    case TG_ADMIN_FIELD_BUDGET_USD: return read_budget(v, &out->policy, resp);
    case TG_ADMIN_FIELD_MODELS: return read_models(v, &out->policy, resp);
    default: return false;
    }
}

bool tg_admin_read_body(const tg_admin_request_t *req, unsigned allowed, unsigned required, tg_admin_body_t *out,
                        tg_admin_response_t *resp)
{
    memset(out, 0, sizeof(*out));
    tg_policy_init(&out->policy);
    json_error_t err;
    json_t *root = req->body != NULL ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (root == NULL) {
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, NULL, "the body is not valid JSON: %s",
                      req->body != NULL ? err.text : "there is none");
        return false;
    }
    bool ok = json_is_object(root);
    if (!ok)
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, NULL, "the body must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!ok)
            break;
        int f = field_from_name(key);
        if (f < 0 || !(allowed & (1u << f))) {
            tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, key, "unknown field %s", key);
            ok = false;
        } else {
            ok = read_field((tg_admin_field_t)f, value, out, resp);
            out->present |= 1u << f;
        }
    }
    for (int f = 0; ok && f < TG_ADMIN_FIELD_COUNT; f++)
        if ((required & ~out->present) & (1u << f)) {
            tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, field_names[f], "missing field %s", field_names[f]);
            ok = false;
        }
    json_decref(root);
    return ok;
}

bool tg_admin_apply_policy(const tg_admin_body_t *b, tg_policy_t *p, json_t *detail)
{
    json_t *before = tg_admin_policy_json(p);
    if (b->present & TG_ADMIN_BIT(RPM))
        p->rpm = b->policy.rpm;
    if (b->present & TG_ADMIN_BIT(TPM))
        p->tpm = b->policy.tpm;
    if (b->present & TG_ADMIN_BIT(MAX_CONCURRENT))
        p->max_concurrent = b->policy.max_concurrent;
    if (b->present & TG_ADMIN_BIT(BUDGET_USD))
        p->budget_usd = b->policy.budget_usd;
    if (b->present & TG_ADMIN_BIT(MODELS)) {
        p->model_count = b->policy.model_count;
        memcpy(p->models, b->policy.models, sizeof(p->models));
    }
    /* Compared as shown, so that two ways of saying "not set" are equal. */
    json_t *after = tg_admin_policy_json(p);
    bool changed = false;
    for (int f = 0; f < TG_ADMIN_FIELD_COUNT; f++) {
        json_t *now = json_object_get(after, field_names[f]);
        if ((b->present & TG_ADMIN_POLICY_FIELDS & (1u << f)) &&
            !json_equal(json_object_get(before, field_names[f]), now)) {
            json_object_set(detail, field_names[f], now);
            changed = true;
        }
    }
    json_decref(before);
    json_decref(after);
    return changed;
}


bool tg_admin_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || tg_hex_value(s[i + 1]) < 0 || tg_hex_value(s[i + 2]) < 0)
                return false;
            c = tg_hex_value(s[i + 1]) * 16 + tg_hex_value(s[i + 2]);
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

/* One "name=value" (or "name") of a query string, p..end. */
static bool read_param(const char *p, const char *end, const char *const *names, tg_admin_query_t values,
                       bool *seen, tg_admin_response_t *resp)
{
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (eq == NULL)
        eq = end;
    char name[TG_ADMIN_QUERY_VALUE_MAX + 1];
    if (!tg_admin_decode(p, (size_t)(eq - p), name, sizeof(name))) {
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, NULL, "the query string has a bad parameter name");
        return false;
    }
    size_t i = 0;
    while (names[i] != NULL && strcmp(names[i], name) != 0)
        i++;
    if (names[i] == NULL) {
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, name, "unknown query parameter %s", name);
        return false;
    }
    if (seen[i]) {
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, name, "query parameter %s is given twice", name);
        return false;
    }
    seen[i] = true;
    if (eq < end && !tg_admin_decode(eq + 1, (size_t)(end - eq - 1), values[i], sizeof(values[i]))) {
        tg_admin_fail(resp, TG_ADMIN_ERR_INVALID_REQUEST, name,
                      "%s is not valid: a bad %% escape, or longer than %d characters", name, TG_ADMIN_QUERY_VALUE_MAX);
        return false;
    }
    return true;
}

bool tg_admin_read_query(const tg_admin_request_t *req, const char *const *names, tg_admin_query_t values,
                         tg_admin_response_t *resp)
{
    memset(values, 0, sizeof(tg_admin_query_t));
    bool seen[TG_ADMIN_QUERY_MAX] = {false};
    const char *p = req->query, *end = req->query != NULL ? req->query + req->query_len : NULL;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        if (amp > p && !read_param(p, amp, names, values, seen, resp))
            return false;
        p = amp + 1;
    }
    return true;
}
