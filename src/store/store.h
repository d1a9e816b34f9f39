/* store.h: the store interface. Organisations, API keys, their policies,
 * the usage ledger and the audit table live behind one table of functions
 * (tg_store_methods_t, in the manner of SQLite's sqlite3_io_methods): the
 * SQLite backend (store/sqlite/) is the embedded default, and a PostgreSQL
 * backend plugs in by filling in the same table, without a change to the
 * pipeline, the store thread or the admin operations.
 *
 * A tg_store_t is one connection. It is not thread-safe: the gateway uses
 * it only from its store thread (store/thread.h), the CLI from its one
 * thread. Every method blocks (disk, network): never call one on a
 * worker's event loop.
 *
 * Strings in the records are fixed-size, NUL-terminated arrays, so that a
 * record is copied with one assignment and queued without an allocation;
 * the sizes bound what the admin API accepts (names are 1..64 bytes of
 * [A-Za-z0-9._-]). Times are Unix seconds as doubles; 0 = never/none. */
#ifndef TOLLGATE_STORE_STORE_H
#define TOLLGATE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_STORE_NAME_MAX 64        /* org, key name, plan, provider, model: bytes without the NUL */
#define TG_STORE_KEY_ID_MAX 32      /* "key_" + 16 hex */
#define TG_STORE_KEY_HINT_MAX 16    /* "tg-…abcd" (… is 3 bytes of UTF-8) */
#define TG_STORE_REQUEST_ID_MAX 128
#define TG_STORE_MODELS_MAX 16      /* a policy's allowed models */
#define TG_STORE_ADDR_MAX 64        /* a client address, "[v6]:port" */
#define TG_STORE_TEXT_MAX 256       /* an audit reason or detail */

/* The result of every method. */
#define TG_STORE_STATUS_MAP(X)                                                   \
    X(OK, "ok")                                                                  \
    X(NOT_FOUND, "not_found")       /* no such row */                            \
    X(EXISTS, "exists")             /* a unique name or id is taken */           \
    X(SCHEMA_NEWER, "schema_newer") /* the database was made by a newer tollgate */ \
    X(BUSY, "busy")                 /* locked by another process for too long */ \
    X(ERROR, "error")               /* anything else: I/O, corruption, no memory */
#define TG_STORE_STATUS_ENUM(name, label) TG_STORE_##name,
typedef enum tg_store_status { TG_STORE_STATUS_MAP(TG_STORE_STATUS_ENUM) TG_STORE_STATUS_COUNT } tg_store_status_t;
const char *tg_store_status_name(tg_store_status_t s);

/* db_query_duration_seconds{operation}: what a statement does. */
#define TG_DB_OPERATION_MAP(X) X(SELECT, "select") X(INSERT, "insert") X(UPDATE, "update") X(DELETE, "delete")
#define TG_DB_OPERATION_ENUM(name, label) TG_DB_##name,
typedef enum tg_db_operation { TG_DB_OPERATION_MAP(TG_DB_OPERATION_ENUM) TG_DB_OPERATION_COUNT } tg_db_operation_t;
const char *tg_db_operation_name(tg_db_operation_t op);

/* Limits of a key or an org. The limits issue enforces rpm, tpm,
 * max_concurrent and budget_usd; models is enforced by auth. A negative
 * number (or model_count == 0) means "not set": no limit of that kind. */
typedef struct tg_policy {
    int64_t rpm;
    int64_t tpm;
    int64_t max_concurrent;
    double budget_usd;                 /* per calendar month (UTC) */
    size_t model_count;                /* 0: every configured model */
    char models[TG_STORE_MODELS_MAX][TG_STORE_NAME_MAX + 1];
} tg_policy_t;

/* A policy with nothing set. */
void tg_policy_init(tg_policy_t *p);

typedef struct tg_org {
    char name[TG_STORE_NAME_MAX + 1]; /* unique; the org_id of logs and the ledger */
    char plan[TG_STORE_NAME_MAX + 1]; /* one of the config's tenancy.plans */
    double created;
    tg_policy_t policy;
} tg_org_t;

typedef struct tg_key {
    char id[TG_STORE_KEY_ID_MAX + 1];      /* "key_" + 16 hex digits, unique */
    uint8_t hash[32];                      /* SHA-256 of the secret; the secret itself is never stored */
    char hint[TG_STORE_KEY_HINT_MAX + 1];  /* "tg-…" + its last 4 characters */
    char org[TG_STORE_NAME_MAX + 1];
    char name[TG_STORE_NAME_MAX + 1];      /* unique within its org */
    double created;
    double last_used;                      /* 0: never */
    double revoked;                        /* 0: active */
    tg_policy_t policy;
} tg_key_t;

/* One row of the usage ledger: one request that reached a provider (or,
 * later, the cache). Token counts are as billed; `estimated` marks counts
 * the gateway estimated (a client that left mid-stream). */
typedef struct tg_ledger_row {
    int64_t id;             /* unique and increasing: store/ledger.h makes it; replays are idempotent on it */
    double ts;              /* when the request ended */
    char request_id[TG_STORE_REQUEST_ID_MAX + 1];
    char org[TG_STORE_NAME_MAX + 1];          /* "anonymous" for anonymous requests */
    char key_id[TG_STORE_KEY_ID_MAX + 1];     /* "" for anonymous requests */
    char model_requested[TG_STORE_NAME_MAX + 1];
    char model_used[TG_STORE_NAME_MAX + 1];
    char provider[TG_STORE_NAME_MAX + 1];
    char operation[24];                       /* chat, embeddings, audio_transcription, ... */
    int64_t prompt_tokens;                    /* cached ones included, as OpenAI counts */
    int64_t cached_tokens;
    int64_t cache_write_tokens;
    int64_t completion_tokens;                /* reasoning ones included */
    int64_t reasoning_tokens;
    double cost_usd;
    bool cache_hit;
    char cache_tier[16];                      /* "" when not a hit */
    int status;                               /* the HTTP status the client got (499: it left) */
    double latency_seconds;
    double ttft_seconds;                      /* < 0: not a stream */
    bool estimated;
} tg_ledger_row_t;

/* An audit entry (docs/tenancy.md, "Audit log"). */
#define TG_AUDIT_ACTION_MAP(X)                                                     \
    X(AUTH_FAILURE, "auth_failure") X(KEY_CREATED, "key_created")                  \
    X(KEY_REVOKED, "key_revoked") X(ORG_CREATED, "org_created")                    \
    X(ORG_UPDATED, "org_updated") X(POLICY_UPDATE, "policy_update")                \
    X(ADMIN_AUTH_FAILURE, "admin_auth_failure")
#define TG_AUDIT_ACTION_ENUM(name, label) TG_AUDIT_##name,
typedef enum tg_audit_action { TG_AUDIT_ACTION_MAP(TG_AUDIT_ACTION_ENUM) TG_AUDIT_ACTION_COUNT } tg_audit_action_t;
const char *tg_audit_action_name(tg_audit_action_t a);
/* -1 when unknown */
int tg_audit_action_from_name(const char *name);

typedef struct tg_audit_entry {
    int64_t id;                               /* assigned by the store on append */
    double ts;
    tg_audit_action_t action;
    char org[TG_STORE_NAME_MAX + 1];          /* "" when unknown */
    char user_id[TG_STORE_NAME_MAX + 1];      /* "admin" (the master key), "cli", "" for client actions */
    char request_id[TG_STORE_REQUEST_ID_MAX + 1];
    char key_id[TG_STORE_KEY_ID_MAX + 1];     /* the key acted on, when known */
    char key_hint[TG_STORE_KEY_HINT_MAX + 1]; /* auth_failure: the presented key's hint, never more */
    char client_addr[TG_STORE_ADDR_MAX + 1];
    char reason[TG_STORE_TEXT_MAX + 1];       /* auth failures: why */
    char detail[TG_STORE_TEXT_MAX + 1];       /* changes: the fields set, as JSON; "" = none */
} tg_audit_entry_t;

/* GET /admin/v1/usage: totals over ledger rows that match. */
#define TG_USAGE_GROUP_MAP(X) X(NONE, "none") X(MODEL, "model") X(PROVIDER, "provider") X(DAY, "day") X(KEY, "key") X(ORG, "org")
#define TG_USAGE_GROUP_ENUM(name, label) TG_USAGE_GROUP_##name,
typedef enum tg_usage_group { TG_USAGE_GROUP_MAP(TG_USAGE_GROUP_ENUM) TG_USAGE_GROUP_COUNT } tg_usage_group_t;
const char *tg_usage_group_name(tg_usage_group_t g);
int tg_usage_group_from_name(const char *name); /* -1 when unknown */

typedef struct tg_usage_query {
    const char *org;        /* NULL: every org */
    const char *key_id;     /* NULL: every key */
    double from;            /* ts >= from; 0: no lower bound */
    double to;              /* ts < to; 0: no upper bound */
    tg_usage_group_t group_by;
} tg_usage_query_t;

typedef struct tg_usage_total {
    char group[TG_STORE_NAME_MAX + 1]; /* the model, provider, key id, org, or day "YYYY-MM-DD" (UTC); "" for NONE */
    int64_t requests;
    int64_t prompt_tokens;
    int64_t cached_tokens;
    int64_t cache_write_tokens;
    int64_t completion_tokens;
    int64_t reasoning_tokens;
    double cost_usd;
    int64_t estimated_requests; /* rows with estimated counts among them */
} tg_usage_total_t;

/* How a backend reports the duration of each statement it runs
 * (db_query_duration_seconds); may be NULL. Called on the store's thread. */
typedef void (*tg_store_observe_fn)(void *ctx, tg_db_operation_t op, double seconds);

/* What a backend is opened with. */
typedef struct tg_store_options {
    const char *path;        /* sqlite: the database file, created with its directory's parent existing */
    bool synchronous_full;   /* sqlite: PRAGMA synchronous=FULL (power-loss safe) instead of NORMAL */
    int busy_timeout_ms;     /* how long a statement waits for another process's lock */
    bool manual_checkpoints; /* sqlite: only maintain() checkpoints (the store thread's connection) */
    tg_store_observe_fn observe;
    void *observe_ctx;
} tg_store_options_t;

typedef struct tg_store tg_store_t;

/* Row callbacks of the list methods: return 0 to go on, non-zero to stop
 * (the method then returns TG_STORE_OK). Records are valid during the call. */
typedef int (*tg_store_org_cb)(void *ctx, const tg_org_t *org);
typedef int (*tg_store_key_cb)(void *ctx, const tg_key_t *key);
typedef int (*tg_store_usage_cb)(void *ctx, const tg_usage_total_t *total);
typedef int (*tg_store_audit_cb)(void *ctx, const tg_audit_entry_t *entry);

/* The table of functions every backend fills in. */
typedef struct tg_store_methods {
    const char *name; /* "sqlite" */

    /* Opens (creating when absent) and migrates to the current schema;
     * refuses (SCHEMA_NEWER) a database whose schema is newer than this
     * binary's. On failure *err is a malloc'd one-line message. */
    tg_store_status_t (*open)(const tg_store_options_t *options, tg_store_t **out, char **err);
    void (*close)(tg_store_t *s);

    /* The schema version the database is at. */
    int (*schema_version)(tg_store_t *s);
    /* A number that changes whenever another connection (another process:
     * the CLI) has committed a change since the last call. */
    uint64_t (*data_version)(tg_store_t *s);
    /* Periodic upkeep off the commit path (the store thread calls it every
     * 250 ms): sqlite moves the write-ahead log into the database here (a
     * passive checkpoint, with its fsyncs) instead of inside a commit that
     * requests wait for. */
    tg_store_status_t (*maintain)(tg_store_t *s);

    /* A transaction around several calls (an admin change and its audit
     * entry; a batch of ledger rows). Not nested. */
    tg_store_status_t (*begin)(tg_store_t *s);
    tg_store_status_t (*commit)(tg_store_t *s);
    void (*rollback)(tg_store_t *s);

    tg_store_status_t (*org_insert)(tg_store_t *s, const tg_org_t *org);     /* EXISTS on a taken name */
    tg_store_status_t (*org_get)(tg_store_t *s, const char *name, tg_org_t *out);
    tg_store_status_t (*org_update)(tg_store_t *s, const tg_org_t *org);     /* whole row, by name */
    tg_store_status_t (*org_list)(tg_store_t *s, tg_store_org_cb cb, void *ctx); /* by name */

    tg_store_status_t (*key_insert)(tg_store_t *s, const tg_key_t *key);     /* EXISTS: id, or (org, name) */
    tg_store_status_t (*key_get)(tg_store_t *s, const char *id, tg_key_t *out);
    tg_store_status_t (*key_find)(tg_store_t *s, const uint8_t hash[32], tg_key_t *out);
    tg_store_status_t (*key_update)(tg_store_t *s, const tg_key_t *key);     /* whole row, by id */
    /* org NULL: every org's; revoked keys included, by created then id */
    tg_store_status_t (*key_list)(tg_store_t *s, const char *org, tg_store_key_cb cb, void *ctx);
    /* last_used = ts for each id, one statement each, inside the caller's transaction */
    tg_store_status_t (*key_touch)(tg_store_t *s, const char (*ids)[TG_STORE_KEY_ID_MAX + 1], size_t n, double ts);

    /* Inserts rows, inside the caller's transaction; *inserted counts
     * them. `replayed`: the rows come from the spool or the journal of an
     * earlier run, which may repeat rows already committed: those are
     * skipped (and rows repeated within rows kept once). Fresh rows (the
     * journal of this run) never repeat, and are not looked up. */
    tg_store_status_t (*ledger_append)(tg_store_t *s, const tg_ledger_row_t *rows, size_t n, bool replayed,
                                       size_t *inserted);
    /* The largest ledger id, 0 for an empty ledger. */
    tg_store_status_t (*ledger_max_id)(tg_store_t *s, int64_t *out);
    /* Totals of the matching rows, one call of cb per group, groups in
     * ascending order. */
    tg_store_status_t (*usage)(tg_store_t *s, const tg_usage_query_t *q, tg_store_usage_cb cb, void *ctx);

    /* The response cache's persistent tier (docs/cache.md): payloads by
     * their 32-byte key. get: NOT_FOUND when absent or expired at `now`;
     * else *payload (malloc'd, the caller's), *len and the row's
     * *expires. put replaces the key's row, outside any transaction of
     * the caller's. evict deletes the rows expired at `now`, then the
     * oldest until the table holds at most max_bytes of payloads;
     * *evicted counts the rows deleted. */
    tg_store_status_t (*cache_get)(tg_store_t *s, const uint8_t key[32], double now, char **payload, size_t *len,
                                   double *expires);
    tg_store_status_t (*cache_put)(tg_store_t *s, const uint8_t key[32], const char *org, double created,
                                   double expires, const char *payload, size_t len);
    tg_store_status_t (*cache_evict)(tg_store_t *s, double now, int64_t max_bytes, int64_t *evicted);

    tg_store_status_t (*audit_append)(tg_store_t *s, tg_audit_entry_t *entry); /* sets entry->id */
    /* newest first; action < 0: every action; org NULL: every org; at most limit */
    tg_store_status_t (*audit_list)(tg_store_t *s, const char *org, int action, size_t limit,
                                    tg_store_audit_cb cb, void *ctx);
} tg_store_methods_t;

/* Every connection starts with a pointer to its backend's table, so that
 * the generic calls below find it. */
struct tg_store {
    const tg_store_methods_t *methods;
};

/* The backends compiled in, by name ("sqlite"); NULL when unknown. */
const tg_store_methods_t *tg_store_backend(const char *name);

/* A malloc'd one-line message (line breaks become spaces) for an *err of
 * the store's: a backend's open, the journal, the store thread's start.
 * NULL when out of memory. */
char *tg_store_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
