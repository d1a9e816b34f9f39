/* auth.h: the authentication stage (docs/tenancy.md, "API keys and auth").
 * A key in `Authorization: Bearer` or `x-api-key` is looked up by its
 * SHA-256 in the worker's key index; a key the index does not know is
 * asked of the store thread (the request suspends). No key at all is
 * served as org "anonymous" only when auth.allow_anonymous is on; a wrong
 * key is refused even then. Every refusal writes an audit entry. */
#ifndef TOLLGATE_PIPELINE_AUTH_H
#define TOLLGATE_PIPELINE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/key_index.h"

typedef enum tg_auth_verdict {
    TG_AUTH_ANONYMOUS, /* no key, anonymous access on */
    TG_AUTH_KEY,       /* a valid key: out->entry */
    TG_AUTH_LOOKUP,    /* a key the index does not know: ask the store (out->hash) */
    TG_AUTH_REFUSED    /* out->error, out->reason */
} tg_auth_verdict_t;

typedef struct tg_auth_in {
    bool allow_anonymous;
    bool have_store;             /* false (store.driver none): keys are not checked, every request is anonymous */
    const char *key;             /* the presented key, or NULL; never logged */
    size_t key_len;
    const tg_key_index_t *index; /* the worker's; NULL before the first */
    const char *model;           /* the requested model */
    size_t model_len;
} tg_auth_in_t;

typedef struct tg_auth_out {
    const tg_key_entry_t *entry; /* TG_AUTH_KEY, and a refused revoked or restricted key */
    uint8_t hash[32];            /* the presented key's */
    tg_error_t error;
    const char *reason;          /* the audit reason of a refusal */
} tg_auth_out_t;

/* The presented key of a request's headers: the token after "Bearer " in
 * Authorization, else x-api-key's value; NULL when neither is there. An
 * Authorization of another scheme is presented as is (it is refused). */
const char *tg_auth_presented_key(const char *authorization, size_t authorization_len, const char *api_key,
                                  size_t api_key_len, size_t *len);

tg_auth_verdict_t tg_auth_check(const tg_auth_in_t *in, tg_auth_out_t *out);

/* The verdict on a known key (from the index or the store): revoked or
 * not allowed the model is REFUSED, else KEY. */
tg_auth_verdict_t tg_auth_judge(const tg_key_entry_t *e, const char *model, size_t model_len, tg_auth_out_t *out);

/* The stage's helpers, shared with the admin stage (pipeline/admin.c).
 * tg_auth_client_addr: "host:port" of r's peer ("" when unknown).
 * tg_auth_audit_refusal: the audit line of a refused request and its row
 * through the store thread (best effort: when the store's queue is full
 * the line alone records it); the key only as its hint. */
typedef struct tg_request tg_request_t;
void tg_auth_client_addr(tg_request_t *r, char out[TG_STORE_ADDR_MAX + 1]);
void tg_auth_audit_refusal(tg_request_t *r, tg_audit_action_t action, const tg_auth_out_t *out, const char *key,
                           size_t key_len);

#endif
