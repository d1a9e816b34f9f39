/* request.h: what the admin operations read from a request: names, the
 * fields of a JSON body (docs/tenancy.md, "Admin API": policy fields, with
 * PATCH's null-clears, absent-keeps) and query-string parameters, each
 * checked so that bad input is a 400 naming the field and changes
 * nothing. Private to admin/. */
#ifndef TOLLGATE_ADMIN_REQUEST_H
#define TOLLGATE_ADMIN_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/admin.h"

/* 1..TG_STORE_NAME_MAX bytes of [A-Za-z0-9._-]: orgs, keys, plans, models. */
bool tg_admin_valid_name(const char *s);

/* The fields a body may have; an operation allows some of them. */
#define TG_ADMIN_FIELD_MAP(X)                                                                  \
    X(NAME, "name") X(PLAN, "plan") X(ORG, "org") X(RPM, "rpm") X(TPM, "tpm")                  \
    X(MAX_CONCURRENT, "max_concurrent") X(BUDGET_USD, "budget_usd") X(MODELS, "models")
#define TG_ADMIN_FIELD_ENUM(name, label) TG_ADMIN_FIELD_##name,
typedef enum tg_admin_field { TG_ADMIN_FIELD_MAP(TG_ADMIN_FIELD_ENUM) TG_ADMIN_FIELD_COUNT } tg_admin_field_t;
#define TG_ADMIN_BIT(field) (1u << TG_ADMIN_FIELD_##field)
#define TG_ADMIN_POLICY_FIELDS \
    (TG_ADMIN_BIT(RPM) | TG_ADMIN_BIT(TPM) | TG_ADMIN_BIT(MAX_CONCURRENT) | TG_ADMIN_BIT(BUDGET_USD) | TG_ADMIN_BIT(MODELS))
const char *tg_admin_field_name(tg_admin_field_t f);

/* A body, read and checked. */
typedef struct tg_admin_body {
    unsigned present;                    /* TG_ADMIN_BIT of each field in it (null included) */
    char name[TG_STORE_NAME_MAX + 1];    /* valid names when present */
    char plan[TG_STORE_NAME_MAX + 1];
    char org[TG_STORE_NAME_MAX + 1];
    tg_policy_t policy;                  /* the policy fields present; null = not set */
} tg_admin_body_t;

/* Reads req's body into *out: a JSON object with only the `allowed`
 * fields, all of the `required` ones, each of the right type. false (resp
 * set to the 400) otherwise. */
bool tg_admin_read_body(const tg_admin_request_t *req, unsigned allowed, unsigned required, tg_admin_body_t *out,
                        tg_admin_response_t *resp);

/* Sets the policy fields present in b on *p and adds each that changed to
 * *detail (field: its new value, as the API shows it). Returns whether any
 * changed. */
bool tg_admin_apply_policy(const tg_admin_body_t *b, tg_policy_t *p, json_t *detail);

/* Decodes %XX escapes of s[0..len) into out (cap bytes with the NUL);
 * false on a bad escape, an escaped NUL or an overlong result. '+' stays
 * '+', so an RFC 3339 offset needs no escaping. */
bool tg_admin_decode(const char *s, size_t len, char *out, size_t cap);

/* A query-string parameter's decoded value: "" when absent or empty. */
#define TG_ADMIN_QUERY_MAX 8
#define TG_ADMIN_QUERY_VALUE_MAX 128
typedef char tg_admin_query_t[TG_ADMIN_QUERY_MAX][TG_ADMIN_QUERY_VALUE_MAX + 1];

/* Reads req's query string: the parameters `names` (NULL-terminated, at
 * most TG_ADMIN_QUERY_MAX) into values[i]. An unknown or repeated
 * parameter, or a bad escape, is a 400 (false, resp set). */
bool tg_admin_read_query(const tg_admin_request_t *req, const char *const *names, tg_admin_query_t values,
                         tg_admin_response_t *resp);

#endif
