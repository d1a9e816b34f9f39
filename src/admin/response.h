/* response.h: what the admin operations answer: the records as the API
 * shows them (docs/tenancy.md, "Admin API") and the errors, in OpenAI's
 * shape {"error":{"message","type","param","code"}}. Private to admin/. */
#ifndef TOLLGATE_ADMIN_RESPONSE_H
#define TOLLGATE_ADMIN_RESPONSE_H

#include <jansson.h>

#include "admin/admin.h"

/* The admin API's errors: status, the error's type and code (core/words.h,
 * shared with every other endpoint's errors and api_errors_total). */
#define TG_ADMIN_ERROR_MAP(X)                                                 \
    X(INVALID_REQUEST, 400, INVALID_REQUEST, INVALID_REQUEST)                 \
    X(NOT_FOUND, 404, INVALID_REQUEST, NOT_FOUND)                             \
    X(METHOD_NOT_ALLOWED, 405, INVALID_REQUEST, METHOD_NOT_ALLOWED)           \
    X(ALREADY_EXISTS, 409, INVALID_REQUEST, ALREADY_EXISTS)                   \
    X(KEY_REVOKED, 409, INVALID_REQUEST, KEY_REVOKED)                         \
    X(STORE_UNAVAILABLE, 503, INTERNAL, STORE_UNAVAILABLE)                    \
    X(INTERNAL, 500, INTERNAL, INTERNAL_ERROR)
#define TG_ADMIN_ERROR_ENUM(name, status, type, code) TG_ADMIN_ERR_##name,
typedef enum tg_admin_error { TG_ADMIN_ERROR_MAP(TG_ADMIN_ERROR_ENUM) TG_ADMIN_ERR_COUNT } tg_admin_error_t;

/* Sets resp to status and body (compact JSON and a newline); takes body's
 * reference. */
void tg_admin_reply(tg_admin_response_t *resp, int status, json_t *body);

/* Sets resp to the error e; param names the offending field or NULL. */
void tg_admin_fail(tg_admin_response_t *resp, tg_admin_error_t e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends item to the NUL-terminated list in buf (cap bytes), after ", "
 * unless it is the first: the "one of ..." of a message. */
void tg_admin_join(char *buf, size_t cap, const char *item);

/* 503 store_unavailable for a store status other than OK. */
void tg_admin_fail_store(tg_admin_response_t *resp, tg_store_status_t st);

/* Unix seconds as an integer; null for 0 (never). */
json_t *tg_admin_time_json(double t);
/* {"rpm","tpm","max_concurrent","budget_usd","models"}, null where not set. */
json_t *tg_admin_policy_json(const tg_policy_t *p);
json_t *tg_admin_org_json(const tg_org_t *org);
/* secret: the new key's, only in the answer that creates it; else NULL. */
json_t *tg_admin_key_json(const tg_key_t *key, const char *secret);
json_t *tg_admin_audit_json(const tg_audit_entry_t *e);
/* 200 {"object":"list","data":data} when the listing (st) succeeded, else
 * the store's error; takes data's reference either way. */
void tg_admin_reply_list(tg_admin_response_t *resp, tg_store_status_t st, json_t *data);

#endif
