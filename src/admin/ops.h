/* ops.h: the admin operations behind tg_admin_execute's routing, and what
 * each change shares: one store transaction holding the change and its
 * audit entries, and the audit log lines once it is committed. Private to
 * admin/. */
#ifndef TOLLGATE_ADMIN_OPS_H
#define TOLLGATE_ADMIN_OPS_H

#include <jansson.h>

#include "admin/admin.h"
#include "admin/request.h"

/* One routed request. */
typedef struct tg_admin_call {
    tg_store_t *s;
    const tg_admin_env_t *env;
    const tg_admin_request_t *req;
    tg_admin_response_t *resp;
    const char *id;           /* the decoded path segment after the collection: an org name, a key id */
    tg_admin_query_t query;   /* the route's query parameters, in the order it names them */
} tg_admin_call_t;

void tg_admin_orgs_list(tg_admin_call_t *c);
void tg_admin_orgs_create(tg_admin_call_t *c);
void tg_admin_orgs_update(tg_admin_call_t *c);
void tg_admin_keys_list(tg_admin_call_t *c);
void tg_admin_keys_create(tg_admin_call_t *c);
void tg_admin_keys_update(tg_admin_call_t *c);
void tg_admin_keys_revoke(tg_admin_call_t *c);
void tg_admin_usage(tg_admin_call_t *c);
void tg_admin_audit(tg_admin_call_t *c);

/* A change's audit entries (an org PATCH may change its plan and its
 * policy: two). */
typedef struct tg_admin_change {
    tg_audit_entry_t entries[2];
    size_t count;
} tg_admin_change_t;

/* Starts the change's transaction; false (503 set) when the store fails. */
bool tg_admin_begin(tg_admin_call_t *c);

/* Rolls the transaction back and answers with the store's failure: 404
 * for NOT_FOUND ("<what> does not exist"), 409 already_exists for EXISTS
 * ("<what> already exists"; what: "organization acme"), 503 otherwise. */
void tg_admin_abort(tg_admin_call_t *c, tg_store_status_t st, const char *param, const char *what);

/* Adds an entry for the request to the change; detail (may be NULL) is
 * written as compact JSON, its reference kept by the caller. */
void tg_admin_audit_add(tg_admin_call_t *c, tg_admin_change_t *ch, tg_audit_action_t action, const char *org,
                        const char *key_id, json_t *detail);

/* Appends the change's entries and commits; then writes their log lines.
 * false (rolled back, 503 set) when the store fails. */
bool tg_admin_commit(tg_admin_call_t *c, tg_admin_change_t *ch);

#endif
