/* admin.h: the admin operations (docs/tenancy.md, "Admin API"), one
 * implementation for both front ends: the HTTP API under /admin/v1/ (the
 * server hands the request to its store thread, which calls
 * tg_admin_execute) and the CLI (which opens the store itself and calls the
 * same function with a request built from its arguments).
 *
 * tg_admin_execute validates the request, runs it against the store in one
 * transaction together with its audit entries, writes the audit log lines
 * once committed, and builds the JSON answer (or the error, in OpenAI's
 * shape). It blocks on the store: never call it on a worker's loop. */
#ifndef TOLLGATE_ADMIN_ADMIN_H
#define TOLLGATE_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/words.h"
#include "store/store.h"

/* What the operations need from the configuration. */
typedef struct tg_admin_env {
    const char *const *plans; /* tenancy.plans; the first is the default plan */
    size_t plan_count;
    double now;               /* Unix seconds: created, revoked, audit ts */
} tg_admin_env_t;

typedef struct tg_admin_request {
    tg_method_t method;
    const char *path;        /* "/admin/v1/keys/key_0123...", no query string */
    size_t path_len;
    const char *query;       /* after '?', undecoded; NULL or "" for none */
    size_t query_len;
    const char *body;        /* JSON, or NULL */
    size_t body_len;
    const char *user_id;     /* "admin" (the master key) or "cli" */
    const char *request_id;  /* NULL from the CLI */
    const char *client_addr; /* NULL from the CLI */
} tg_admin_request_t;

typedef struct tg_admin_response {
    int status;              /* HTTP status */
    char *body;              /* malloc'd JSON and a newline; the caller frees it */
    size_t body_len;
    bool keys_changed;       /* a key was created, changed or revoked: the
                                store thread republishes the key index */
    bool orgs_changed;       /* an org was created or changed: ditto, and orgs{plan} */
    bool failed;             /* body is an error: its type and code, for api_errors_total */
    tg_error_type_t error_type;
    tg_error_code_t error_code;
} tg_admin_response_t;

/* Always fills *resp (status and body, an error body on failure). */
void tg_admin_execute(tg_store_t *s, const tg_admin_env_t *env, const tg_admin_request_t *req,
                      tg_admin_response_t *resp);

/* `tollgate orgs|keys|usage|audit ...` (docs/tenancy.md, "CLI"): argv
 * starts at the subcommand ("orgs"). Returns the exit status. */
int tg_admin_cli(int argc, char **argv);

/* A new key: `secret` gets "tg-" and 43 base64url characters (32 random
 * bytes from the kernel), key->id, key->hash and key->hint are filled in.
 * -1 when the kernel gave no randomness. */
int tg_admin_new_key(tg_key_t *key, char secret[48]);

#endif
