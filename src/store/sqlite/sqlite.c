/* sqlite.c: the SQLite backend of the store (store.h), the embedded
 * default. One tg_store_t is one SQLite connection in WAL mode with every
 * statement it runs prepared once, at open, and reused; each run of a
 * statement is timed and reported through the options' observe callback
 * (db_query_duration_seconds). The schema is in migrations.c. */
#include "store/sqlite/sqlite_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "obs/log.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000

/* Column lists, in the order the row readers and binders below use. */
#define ORG_COLUMNS "name, plan, created, rpm, tpm, max_concurrent, budget_usd, models"
#define KEY_COLUMNS                                                                                  \
    "id, hash, hint, org, name, created, last_used, revoked, rpm, tpm, max_concurrent, budget_usd, " \
    "models"
#define AUDIT_COLUMNS "id, ts, action, org, user_id, request_id, key_id, key_hint, client_addr, reason, detail"
#define POLICY_COLUMNS 5 /* rpm, tpm, max_concurrent, budget_usd, models */

/* Transaction control is not a query of db_query_duration_seconds. */
#define NOT_OBSERVED TG_DB_OPERATION_COUNT

/* X(name, operation, sql): the statements with a fixed text. The inserts
 * and updates of orgs and keys put the same column at the same parameter
 * number, so that one binder serves both. */
#define STATEMENT_MAP(X)                                                                                   \
    X(BEGIN, NOT_OBSERVED, "BEGIN IMMEDIATE")                                                              \
    X(COMMIT, NOT_OBSERVED, "COMMIT")                                                                      \
    X(ROLLBACK, NOT_OBSERVED, "ROLLBACK")                                                                  \
    X(DATA_VERSION, TG_DB_SELECT, "PRAGMA data_version")                                                   \
    X(ORG_INSERT, TG_DB_INSERT, "INSERT INTO orgs (" ORG_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)") \
    X(ORG_GET, TG_DB_SELECT, "SELECT " ORG_COLUMNS " FROM orgs WHERE name = ?1")                           \
    X(ORG_UPDATE, TG_DB_UPDATE,                                                                            \
      "UPDATE orgs SET plan = ?2, created = ?3, rpm = ?4, tpm = ?5, max_concurrent = ?6, budget_usd = ?7," \
      " models = ?8 WHERE name = ?1")                                                                      \
    X(ORG_LIST, TG_DB_SELECT, "SELECT " ORG_COLUMNS " FROM orgs ORDER BY name")                            \
    X(KEY_INSERT, TG_DB_INSERT,                                                                            \
      "INSERT INTO api_keys (" KEY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)") \
    X(KEY_GET, TG_DB_SELECT, "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = ?1")                         \
    X(KEY_FIND, TG_DB_SELECT, "SELECT " KEY_COLUMNS " FROM api_keys WHERE hash = ?1")                      \
    X(KEY_UPDATE, TG_DB_UPDATE,                                                                            \
      "UPDATE api_keys SET hash = ?2, hint = ?3, org = ?4, name = ?5, created = ?6, last_used = ?7,"       \
      " revoked = ?8, rpm = ?9, tpm = ?10, max_concurrent = ?11, budget_usd = ?12, models = ?13"           \
      " WHERE id = ?1")                                                                                    \
    X(KEY_LIST, TG_DB_SELECT,                                                                              \
      "SELECT " KEY_COLUMNS " FROM api_keys WHERE ?1 IS NULL OR org = ?1 ORDER BY created, id")            \
    X(KEY_TOUCH, TG_DB_UPDATE, "UPDATE api_keys SET last_used = ?2 WHERE id = ?1")                         \
    X(LEDGER_BLOCK_INSERT, TG_DB_INSERT,                                                                   \
      "INSERT INTO ledger_blocks (first_id, last_id, ts_min, ts_max, row_count, rows)"                     \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                                  \
    X(LEDGER_IDS, TG_DB_SELECT,                                                                            \
      "SELECT j.value->>0 FROM ledger_blocks b, json_each(b.rows) j WHERE b.last_id >= ?1"                 \
      " AND +b.first_id <= ?2") /* + : by last_id's index, which finds the recent blocks */                \
    X(LEDGER_MAX_ID, TG_DB_SELECT, "SELECT coalesce(max(last_id), 0) FROM ledger_blocks")                  \
    X(CACHE_GET, TG_DB_SELECT, "SELECT payload, expires FROM cache WHERE key = ?1 AND expires > ?2")          \
    X(CACHE_PUT, TG_DB_INSERT,                                                                             \
      "INSERT OR REPLACE INTO cache (key, org, created, expires, bytes, payload)"                          \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                                  \
    X(CACHE_EXPIRE, TG_DB_DELETE, "DELETE FROM cache WHERE expires <= ?1")                                 \
    X(CACHE_BYTES, TG_DB_SELECT, "SELECT coalesce(sum(bytes), 0) FROM cache")                             \
    X(CACHE_OLDEST, TG_DB_SELECT, "SELECT key, bytes FROM cache ORDER BY created, key LIMIT 64")          \
    X(CACHE_DELETE, TG_DB_DELETE, "DELETE FROM cache WHERE key = ?1")                                      \
    X(AUDIT_INSERT, TG_DB_INSERT,                                                                          \
      "INSERT INTO audit (ts, action, org, user_id, request_id, key_id, key_hint, client_addr, reason,"    \
      " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                         \
    X(AUDIT_LIST, TG_DB_SELECT,                                                                            \
      "SELECT " AUDIT_COLUMNS " FROM audit WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR action = ?2)" \
      " ORDER BY id DESC LIMIT ?3")

#define STATEMENT_ENUM(name, op, sql) STMT_##name,
typedef enum statement { STATEMENT_MAP(STATEMENT_ENUM) STMT_COUNT } statement_t;
#define STATEMENT_OP(name, op, sql) op,
static const tg_db_operation_t statement_ops[] = {STATEMENT_MAP(STATEMENT_OP)};
#define STATEMENT_SQL(name, op, sql) sql,
static const char *const statement_sql[] = {STATEMENT_MAP(STATEMENT_SQL)};

/* The usage query is one statement per grouping, each in two forms: with
 * an org and without. Parameters: ?1 org, ?2 key id or NULL, ?3 from, ?4
 * to. Only the blocks whose time range meets [from, to) are unpacked
 * (ledger_blocks_ts). Counts are summed with SATURATING_SUM: sum() fails
 * on an int64 overflow, and a failing usage query keeps the gateway from
 * starting (the budgets' sum); total() adds in a double, exact below 2^53
 * (9e15 tokens), and the cast saturates beyond. */
#define SATURATING_SUM(column) "CAST(total(" column ") AS INTEGER)"

static const char *const usage_group_columns[TG_USAGE_GROUP_COUNT] = {
    [TG_USAGE_GROUP_NONE] = "''",
    [TG_USAGE_GROUP_MODEL] = "model_requested",
    [TG_USAGE_GROUP_PROVIDER] = "provider",
    [TG_USAGE_GROUP_DAY] = "strftime('%Y-%m-%d', ts, 'unixepoch')",
    [TG_USAGE_GROUP_KEY] = "key_id",
    [TG_USAGE_GROUP_ORG] = "org",
};

typedef struct tg_sqlite {
    tg_store_t base; /* first: a tg_store_t * is a tg_sqlite_t * */
    sqlite3 *db;
    tg_store_observe_fn observe;
    void *observe_ctx;
    int version;
    sqlite3_stmt *stmts[STMT_COUNT];
    sqlite3_stmt *usage[TG_USAGE_GROUP_COUNT][2]; /* [group][with an org] */
    tg_ledger_block_t block;        /* the last block's text, its buffer reused */
    tg_ledger_row_t *fresh;         /* a replay's rows not in the ledger yet */
    size_t fresh_cap;
} tg_sqlite_t;

extern const tg_store_methods_t tg_store_sqlite_methods;

static tg_sqlite_t *conn(tg_store_t *s) { return (tg_sqlite_t *)s; }

/* ---- running a statement ------------------------------------------------ */

/* One run of a prepared statement, from its first binding to its reset. */
typedef struct run {
    tg_sqlite_t *c;
    sqlite3_stmt *st;
    tg_db_operation_t op;
    double seconds; /* spent in sqlite3_step (a list's callbacks excluded) */
} run_t;

static run_t run_start(tg_sqlite_t *c, statement_t id)
{
    return (run_t){.c = c, .st = c->stmts[id], .op = statement_ops[id]};
}

static int run_step(run_t *r)
{
    double t0 = tg_clock_seconds();
    int rc = sqlite3_step(r->st);
    r->seconds += tg_clock_seconds() - t0;
    return rc;
}

/* Ends r after sqlite3_step returned rc: resets the statement (dropping
 * the bindings, which point into the caller's records), reports the time
 * and turns rc into a status, logging what is not an ordinary outcome. */
static tg_store_status_t run_end(run_t *r, int rc)
{
    tg_store_status_t status = tg_sqlite_status(rc);
    if (status == TG_STORE_ERROR || status == TG_STORE_BUSY)
        tg_log(TG_LOG_ERROR, "store", "sqlite: %s", sqlite3_errmsg(r->c->db));
    sqlite3_reset(r->st);
    sqlite3_clear_bindings(r->st);
    if (r->c->observe != NULL && r->op != NOT_OBSERVED)
        r->c->observe(r->c->observe_ctx, r->op, r->seconds);
    return status;
}

/* Runs a statement that returns no row. */
static tg_store_status_t run_write(run_t *r)
{
    return run_end(r, run_step(r));
}

/* Runs an insert or update of one row: NOT_FOUND when it changed none. */
static tg_store_status_t run_change(run_t *r)
{
    tg_store_status_t status = run_write(r);
    return status == TG_STORE_OK && sqlite3_changes(r->c->db) == 0 ? TG_STORE_NOT_FOUND : status;
}

typedef tg_store_status_t (*row_reader_fn)(sqlite3_stmt *st, void *out);
typedef tg_store_status_t (*record_binder_fn)(sqlite3_stmt *st, const void *record);

/* Inserts or updates one whole record (an org, a key). */
static tg_store_status_t run_record(tg_sqlite_t *c, statement_t id, record_binder_fn bind, const void *record)
{
    run_t r = run_start(c, id);
    tg_store_status_t status = bind(r.st, record);
    if (status != TG_STORE_OK) {
        sqlite3_clear_bindings(r.st);
        return status;
    }
    return run_change(&r);
}

/* Runs a query for one row, read into out; NOT_FOUND when there is none. */
static tg_store_status_t run_get(run_t *r, row_reader_fn read, void *out)
{
    int rc = run_step(r);
    tg_store_status_t found = rc == SQLITE_ROW ? read(r->st, out) : TG_STORE_NOT_FOUND;
    tg_store_status_t status = run_end(r, rc);
    return status != TG_STORE_OK ? status : found;
}

/* ---- binding and reading columns ---------------------------------------- */

/* A record's string field; `empty_null`: "" is stored as NULL. The field
 * may fill its array without a NUL (a caller's mistake): strnlen stops. */
static void bind_field(sqlite3_stmt *st, int i, const char *s, size_t size, bool empty_null)
{
    size_t n = strnlen(s, size);
    if (n == 0 && empty_null)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}
#define BIND_FIELD(st, i, field) bind_field(st, i, field, sizeof(field), false)
#define BIND_FIELD_OR_NULL(st, i, field) bind_field(st, i, field, sizeof(field), true)

/* A time, 0 (never) as NULL. */
static void bind_time(sqlite3_stmt *st, int i, double t)
{
    if (t > 0)
        sqlite3_bind_double(st, i, t);
    else
        sqlite3_bind_null(st, i);
}

/* NULL reads as "". A value longer than the field (written by hand, not by
 * tollgate) is cut to fit. */
static void column_field(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    size_t n = s != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= size)
        n = size - 1;
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
}
#define COLUMN_FIELD(st, i, field) column_field(st, i, field, sizeof(field))

static bool column_is_null(sqlite3_stmt *st, int i) { return sqlite3_column_type(st, i) == SQLITE_NULL; }

/* The five policy columns from parameter `first` on; "not set" as NULL,
 * models as a JSON array. */
static tg_store_status_t bind_policy(sqlite3_stmt *st, int first, const tg_policy_t *p)
{
    const int64_t limits[] = {p->rpm, p->tpm, p->max_concurrent};
    for (int i = 0; i < 3; i++) {
        if (limits[i] >= 0)
            sqlite3_bind_int64(st, first + i, limits[i]);
        else
            sqlite3_bind_null(st, first + i);
    }
    if (p->budget_usd >= 0)
        sqlite3_bind_double(st, first + 3, p->budget_usd);
    else
        sqlite3_bind_null(st, first + 3);
    if (p->model_count == 0) {
        sqlite3_bind_null(st, first + 4);
        return TG_STORE_OK;
    }
    json_t *models = p->model_count <= TG_STORE_MODELS_MAX ? json_array() : NULL;
    bool ok = models != NULL;
    for (size_t i = 0; ok && i < p->model_count; i++)
        ok = json_array_append_new(models, json_stringn(p->models[i], strnlen(p->models[i], TG_STORE_NAME_MAX + 1))) == 0;
    char *text = ok ? json_dumps(models, JSON_COMPACT) : NULL;
    json_decref(models);
    if (text == NULL) {
        tg_log(TG_LOG_ERROR, "store", "sqlite: a policy's models are not a list of at most %d UTF-8 names",
               TG_STORE_MODELS_MAX);
        return TG_STORE_ERROR;
    }
    sqlite3_bind_text(st, first + 4, text, -1, free);
    return TG_STORE_OK;
}

static tg_store_status_t column_models(sqlite3_stmt *st, int i, tg_policy_t *p)
{
    json_t *models = json_loadb((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i), 0, NULL);
    bool ok = json_is_array(models) && json_array_size(models) <= TG_STORE_MODELS_MAX;
    for (size_t m = 0; ok && m < json_array_size(models); m++) {
        json_t *name = json_array_get(models, m);
        ok = json_is_string(name) && json_string_length(name) <= TG_STORE_NAME_MAX &&
             strlen(json_string_value(name)) == json_string_length(name);
        if (ok)
            strcpy(p->models[m], json_string_value(name));
    }
    p->model_count = ok ? json_array_size(models) : 0;
    json_decref(models);
    if (!ok) {
        tg_log(TG_LOG_ERROR, "store", "sqlite: a models column is not a JSON array of at most %d names",
               TG_STORE_MODELS_MAX);
        return TG_STORE_ERROR;
    }
    return TG_STORE_OK;
}

static tg_store_status_t column_policy(sqlite3_stmt *st, int first, tg_policy_t *p)
{
    tg_policy_init(p);
    int64_t *limits[] = {&p->rpm, &p->tpm, &p->max_concurrent};
    for (int i = 0; i < 3; i++)
        if (!column_is_null(st, first + i))
            *limits[i] = sqlite3_column_int64(st, first + i);
    if (!column_is_null(st, first + 3))
        p->budget_usd = sqlite3_column_double(st, first + 3);
    return column_is_null(st, first + 4) ? TG_STORE_OK : column_models(st, first + 4, p);
}

/* ---- orgs ------------------------------------------------------------------ */

static tg_store_status_t bind_org(sqlite3_stmt *st, const void *record)
{
    const tg_org_t *org = record;
    BIND_FIELD(st, 1, org->name);
    BIND_FIELD(st, 2, org->plan);
    sqlite3_bind_double(st, 3, org->created);
    return bind_policy(st, 4, &org->policy);
}

static tg_store_status_t column_org(sqlite3_stmt *st, void *out)
{
    tg_org_t *org = out;
    memset(org, 0, sizeof(*org));
    COLUMN_FIELD(st, 0, org->name);
    COLUMN_FIELD(st, 1, org->plan);
    org->created = sqlite3_column_double(st, 2);
    return column_policy(st, 3, &org->policy);
}

static tg_store_status_t sqlite_org_insert(tg_store_t *s, const tg_org_t *org)
{
    return run_record(conn(s), STMT_ORG_INSERT, bind_org, org);
}

static tg_store_status_t sqlite_org_update(tg_store_t *s, const tg_org_t *org)
{
    return run_record(conn(s), STMT_ORG_UPDATE, bind_org, org);
}

static tg_store_status_t sqlite_org_get(tg_store_t *s, const char *name, tg_org_t *out)
{
    run_t r = run_start(conn(s), STMT_ORG_GET);
    sqlite3_bind_text(r.st, 1, name, -1, SQLITE_STATIC);
    return run_get(&r, column_org, out);
}

static tg_store_status_t sqlite_org_list(tg_store_t *s, tg_store_org_cb cb, void *ctx)
{
    run_t r = run_start(conn(s), STMT_ORG_LIST);
    tg_org_t org;
    tg_store_status_t read = TG_STORE_OK;
    int rc;
    while ((rc = run_step(&r)) == SQLITE_ROW)
        if ((read = column_org(r.st, &org)) != TG_STORE_OK || cb(ctx, &org) != 0)
            break;
    tg_store_status_t status = run_end(&r, rc);
    return status != TG_STORE_OK ? status : read;
}

/* ---- keys ------------------------------------------------------------------ */

static tg_store_status_t bind_key(sqlite3_stmt *st, const void *record)
{
    const tg_key_t *key = record;
    BIND_FIELD(st, 1, key->id);
    sqlite3_bind_blob(st, 2, key->hash, sizeof(key->hash), SQLITE_STATIC);
    BIND_FIELD(st, 3, key->hint);
    BIND_FIELD(st, 4, key->org);
    BIND_FIELD(st, 5, key->name);
    sqlite3_bind_double(st, 6, key->created);
    bind_time(st, 7, key->last_used);
    bind_time(st, 8, key->revoked);
    return bind_policy(st, 9, &key->policy);
}

static tg_store_status_t column_key(sqlite3_stmt *st, void *out)
{
    tg_key_t *key = out;
    memset(key, 0, sizeof(*key));
    COLUMN_FIELD(st, 0, key->id);
    const void *hash = sqlite3_column_blob(st, 1);
    if (hash != NULL && sqlite3_column_bytes(st, 1) == (int)sizeof(key->hash))
        memcpy(key->hash, hash, sizeof(key->hash));
    COLUMN_FIELD(st, 2, key->hint);
    COLUMN_FIELD(st, 3, key->org);
    COLUMN_FIELD(st, 4, key->name);
    key->created = sqlite3_column_double(st, 5);
    key->last_used = sqlite3_column_double(st, 6); /* NULL reads as 0: never */
    key->revoked = sqlite3_column_double(st, 7);
    return column_policy(st, 8, &key->policy);
}

static tg_store_status_t sqlite_key_insert(tg_store_t *s, const tg_key_t *key)
{
    return run_record(conn(s), STMT_KEY_INSERT, bind_key, key);
}

static tg_store_status_t sqlite_key_update(tg_store_t *s, const tg_key_t *key)
{
    return run_record(conn(s), STMT_KEY_UPDATE, bind_key, key);
}

static tg_store_status_t sqlite_key_get(tg_store_t *s, const char *id, tg_key_t *out)
{
    run_t r = run_start(conn(s), STMT_KEY_GET);
    sqlite3_bind_text(r.st, 1, id, -1, SQLITE_STATIC);
    return run_get(&r, column_key, out);
}

static tg_store_status_t sqlite_key_find(tg_store_t *s, const uint8_t hash[32], tg_key_t *out)
{
    run_t r = run_start(conn(s), STMT_KEY_FIND);
    sqlite3_bind_blob(r.st, 1, hash, 32, SQLITE_STATIC);
    return run_get(&r, column_key, out);
}

static tg_store_status_t sqlite_key_list(tg_store_t *s, const char *org, tg_store_key_cb cb, void *ctx)
{
    run_t r = run_start(conn(s), STMT_KEY_LIST);
    sqlite3_bind_text(r.st, 1, org, -1, SQLITE_STATIC); /* NULL binds NULL: every org */
    tg_key_t key;
    tg_store_status_t read = TG_STORE_OK;
    int rc;
    while ((rc = run_step(&r)) == SQLITE_ROW)
        if ((read = column_key(r.st, &key)) != TG_STORE_OK || cb(ctx, &key) != 0)
            break;
    tg_store_status_t status = run_end(&r, rc);
    return status != TG_STORE_OK ? status : read;
}

static tg_store_status_t sqlite_key_touch(tg_store_t *s, const char (*ids)[TG_STORE_KEY_ID_MAX + 1], size_t n,
                                          double ts)
{
    tg_store_status_t status = TG_STORE_OK;
    for (size_t i = 0; i < n && status == TG_STORE_OK; i++) {
        run_t r = run_start(conn(s), STMT_KEY_TOUCH);
        BIND_FIELD(r.st, 1, ids[i]);
        sqlite3_bind_double(r.st, 2, ts);
        status = run_write(&r); /* a key deleted meanwhile is no error */
    }
    return status;
}

/* ---- ledger and usage ---------------------------------------------------- */

/* A set of ledger ids: open addressing, 0 (never an id) is empty. */
typedef struct id_set {
    int64_t *slots;
    size_t mask;
} id_set_t;

/* Adds id; false when it was there already. */
static bool id_set_add(id_set_t *set, int64_t id)
{
    size_t i = (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 20) & set->mask;
    for (; set->slots[i] != 0; i = (i + 1) & set->mask)
        if (set->slots[i] == id)
            return false;
    set->slots[i] = id;
    return true;
}

/* Copies into c->fresh the rows whose id is neither in the ledger (the
 * blocks whose id range meets the rows') nor earlier in rows: a replay of
 * the spool or the journal may repeat rows a crash cut it off after
 * committing. */
static tg_store_status_t drop_present(tg_sqlite_t *c, const tg_ledger_row_t *rows, size_t n, size_t *kept)
{
    int64_t lo = rows[0].id, hi = rows[0].id;
    for (size_t i = 1; i < n; i++) {
        lo = rows[i].id < lo ? rows[i].id : lo;
        hi = rows[i].id > hi ? rows[i].id : hi;
    }
    size_t have_n = 0, have_cap = 0;
    int64_t *have = NULL;
    run_t r = run_start(c, STMT_LEDGER_IDS);
    sqlite3_bind_int64(r.st, 1, lo);
    sqlite3_bind_int64(r.st, 2, hi);
    int rc;
    while ((rc = run_step(&r)) == SQLITE_ROW) {
        if (have_n == have_cap) {
            int64_t *grown = realloc(have, (have_cap = have_cap ? 2 * have_cap : 256) * sizeof(*have));
            if (grown == NULL)
                break;
            have = grown;
        }
        have[have_n++] = sqlite3_column_int64(r.st, 0);
    }
    tg_store_status_t status = run_end(&r, rc == SQLITE_ROW ? SQLITE_NOMEM : rc);
    size_t cap = 16;
    while (cap < 2 * (have_n + n))
        cap *= 2;
    id_set_t set = {calloc(cap, sizeof(int64_t)), cap - 1};
    if (n > c->fresh_cap) {
        tg_ledger_row_t *grown = realloc(c->fresh, n * sizeof(*grown));
        if (grown != NULL) {
            c->fresh = grown;
            c->fresh_cap = n;
        }
    }
    if (status == TG_STORE_OK && (set.slots == NULL || c->fresh_cap < n))
        status = TG_STORE_ERROR;
    *kept = 0;
    for (size_t i = 0; status == TG_STORE_OK && i < have_n; i++)
        id_set_add(&set, have[i]);
    for (size_t i = 0; status == TG_STORE_OK && i < n; i++)
        if (id_set_add(&set, rows[i].id))
            c->fresh[(*kept)++] = rows[i];
    free(set.slots);
    free(have);
    return status;
}

static tg_store_status_t sqlite_ledger_append(tg_store_t *s, const tg_ledger_row_t *rows, size_t n, bool replayed,
                                              size_t *inserted)
{
    tg_sqlite_t *c = conn(s);
    *inserted = 0;
    tg_store_status_t status = TG_STORE_OK;
    if (n > 0 && replayed && (status = drop_present(c, rows, n, &n)) == TG_STORE_OK)
        rows = c->fresh;
    if (status != TG_STORE_OK || n == 0)
        return status;
    if (tg_ledger_block_encode(&c->block, rows, n) != 0)
        return TG_STORE_ERROR;
    const tg_ledger_block_t *b = &c->block;
    run_t r = run_start(c, STMT_LEDGER_BLOCK_INSERT);
    sqlite3_bind_int64(r.st, 1, b->first_id);
    sqlite3_bind_int64(r.st, 2, b->last_id);
    sqlite3_bind_double(r.st, 3, b->ts_min);
    sqlite3_bind_double(r.st, 4, b->ts_max);
    sqlite3_bind_int64(r.st, 5, (sqlite3_int64)b->rows);
    sqlite3_bind_text(r.st, 6, b->text, (int)b->len, SQLITE_STATIC);
    if ((status = run_write(&r)) == TG_STORE_OK)
        *inserted = n;
    return status;
}

static tg_store_status_t column_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
    return TG_STORE_OK;
}

static tg_store_status_t sqlite_ledger_max_id(tg_store_t *s, int64_t *out)
{
    run_t r = run_start(conn(s), STMT_LEDGER_MAX_ID);
    return run_get(&r, column_int64, out);
}

static void column_usage(sqlite3_stmt *st, tg_usage_total_t *t)
{
    memset(t, 0, sizeof(*t));
    COLUMN_FIELD(st, 0, t->group);
    int64_t *counts[] = {&t->requests, &t->prompt_tokens, &t->cached_tokens, &t->cache_write_tokens,
                         &t->completion_tokens, &t->reasoning_tokens};
    for (int i = 0; i < 6; i++)
        *counts[i] = sqlite3_column_int64(st, 1 + i);
    t->cost_usd = sqlite3_column_double(st, 7);
    t->estimated_requests = sqlite3_column_int64(st, 8);
}

static tg_store_status_t sqlite_usage(tg_store_t *s, const tg_usage_query_t *q, tg_store_usage_cb cb, void *ctx)
{
    tg_sqlite_t *c = conn(s);
    if ((unsigned)q->group_by >= TG_USAGE_GROUP_COUNT) {
        tg_log(TG_LOG_ERROR, "store", "sqlite: usage grouped by an unknown grouping %d", (int)q->group_by);
        return TG_STORE_ERROR;
    }
    run_t r = {.c = c, .st = c->usage[q->group_by][q->org != NULL], .op = TG_DB_SELECT};
    if (q->org != NULL)
        sqlite3_bind_text(r.st, 1, q->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(r.st, 2, q->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(r.st, 3, q->from != 0 ? q->from : -HUGE_VAL);
    sqlite3_bind_double(r.st, 4, q->to != 0 ? q->to : HUGE_VAL);
    tg_usage_total_t total;
    int rc;
    while ((rc = run_step(&r)) == SQLITE_ROW) {
        column_usage(r.st, &total);
        if (cb(ctx, &total) != 0)
            break;
    }
    return run_end(&r, rc);
}

/* ---- the response cache's tier -------------------------------------------- */

typedef struct cache_row {
    char *payload;
    size_t len;
    double expires;
} cache_row_t;

static tg_store_status_t column_cache(sqlite3_stmt *st, void *out)
{
    cache_row_t *row = out;
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const void *blob = sqlite3_column_blob(st, 0);
    if ((row->payload = malloc(n ? n : 1)) == NULL)
        return TG_STORE_ERROR;
    if (n > 0)
        memcpy(row->payload, blob, n);
    row->len = n;
    row->expires = sqlite3_column_double(st, 1);
    return TG_STORE_OK;
}

static tg_store_status_t sqlite_cache_get(tg_store_t *s, const uint8_t key[32], double now, char **payload,
                                          size_t *len, double *expires)
{
    run_t r = run_start(conn(s), STMT_CACHE_GET);
    sqlite3_bind_blob(r.st, 1, key, 32, SQLITE_STATIC);
    sqlite3_bind_double(r.st, 2, now);
    cache_row_t row = {0};
    tg_store_status_t status = run_get(&r, column_cache, &row);
    if (status != TG_STORE_OK) {
        free(row.payload);
        return status;
    }
    *payload = row.payload;
    *len = row.len;
    *expires = row.expires;
    return TG_STORE_OK;
}

static tg_store_status_t sqlite_cache_put(tg_store_t *s, const uint8_t key[32], const char *org, double created,
                                          double expires, const char *payload, size_t len)
{
    run_t r = run_start(conn(s), STMT_CACHE_PUT);
    sqlite3_bind_blob(r.st, 1, key, 32, SQLITE_STATIC);
    sqlite3_bind_text(r.st, 2, org, -1, SQLITE_STATIC);
    sqlite3_bind_double(r.st, 3, created);
    sqlite3_bind_double(r.st, 4, expires);
    sqlite3_bind_int64(r.st, 5, (sqlite3_int64)len);
    sqlite3_bind_blob64(r.st, 6, payload, len, SQLITE_STATIC);
    return run_write(&r);
}

/* Up to 64 of the oldest rows, as many as free `excess` bytes: their keys
 * into keys, their count returned (0 on failure or an empty table). */
static size_t oldest(tg_sqlite_t *c, int64_t excess, uint8_t (*keys)[32], tg_store_status_t *status)
{
    run_t r = run_start(c, STMT_CACHE_OLDEST);
    size_t n = 0;
    int rc;
    while (excess > 0 && (rc = run_step(&r)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(r.st, 0) != 32)
            continue;
        memcpy(keys[n++], sqlite3_column_blob(r.st, 0), 32);
        excess -= sqlite3_column_int64(r.st, 1);
    }
    *status = run_end(&r, excess > 0 ? rc : SQLITE_DONE);
    return *status == TG_STORE_OK ? n : 0;
}

static tg_store_status_t sqlite_cache_evict(tg_store_t *s, double now, int64_t max_bytes, int64_t *evicted)
{
    tg_sqlite_t *c = conn(s);
    *evicted = 0;
    run_t r = run_start(c, STMT_CACHE_EXPIRE);
    sqlite3_bind_double(r.st, 1, now);
    tg_store_status_t status = run_write(&r);
    if (status != TG_STORE_OK)
        return status;
    *evicted += sqlite3_changes(c->db);
    int64_t bytes = 0;
    run_t total = run_start(c, STMT_CACHE_BYTES);
    if ((status = run_get(&total, column_int64, &bytes)) != TG_STORE_OK)
        return status;
    /* oldest first, a batch of keys at a time, until the cap holds */
    uint8_t keys[64][32];
    size_t n;
    while (bytes > max_bytes && (n = oldest(c, bytes - max_bytes, keys, &status)) > 0) {
        for (size_t i = 0; i < n && status == TG_STORE_OK; i++) {
            run_t del = run_start(c, STMT_CACHE_DELETE);
            sqlite3_bind_blob(del.st, 1, keys[i], 32, SQLITE_STATIC);
            status = run_write(&del);
            *evicted += sqlite3_changes(c->db);
        }
        total = run_start(c, STMT_CACHE_BYTES);
        if (status != TG_STORE_OK || (status = run_get(&total, column_int64, &bytes)) != TG_STORE_OK)
            break;
    }
    return status;
}

/* ---- audit ------------------------------------------------------------------ */

static tg_store_status_t sqlite_audit_append(tg_store_t *s, tg_audit_entry_t *e)
{
    tg_sqlite_t *c = conn(s);
    if ((unsigned)e->action >= TG_AUDIT_ACTION_COUNT) {
        tg_log(TG_LOG_ERROR, "store", "sqlite: an audit entry with an unknown action %d", (int)e->action);
        return TG_STORE_ERROR;
    }
    run_t r = run_start(c, STMT_AUDIT_INSERT);
    sqlite3_bind_double(r.st, 1, e->ts);
    sqlite3_bind_text(r.st, 2, tg_audit_action_name(e->action), -1, SQLITE_STATIC);
    BIND_FIELD_OR_NULL(r.st, 3, e->org);
    BIND_FIELD_OR_NULL(r.st, 4, e->user_id);
    BIND_FIELD_OR_NULL(r.st, 5, e->request_id);
    BIND_FIELD_OR_NULL(r.st, 6, e->key_id);
    BIND_FIELD_OR_NULL(r.st, 7, e->key_hint);
    BIND_FIELD_OR_NULL(r.st, 8, e->client_addr);
    BIND_FIELD_OR_NULL(r.st, 9, e->reason);
    BIND_FIELD_OR_NULL(r.st, 10, e->detail);
    tg_store_status_t status = run_write(&r);
    if (status == TG_STORE_OK)
        e->id = sqlite3_last_insert_rowid(c->db);
    return status;
}

/* NOT_FOUND for an action this binary does not know (a newer one wrote it). */
static tg_store_status_t column_audit(sqlite3_stmt *st, tg_audit_entry_t *e)
{
    memset(e, 0, sizeof(*e));
    int action = tg_audit_action_from_name((const char *)sqlite3_column_text(st, 2));
    if (action < 0)
        return TG_STORE_NOT_FOUND;
    e->action = (tg_audit_action_t)action;
    e->id = sqlite3_column_int64(st, 0);
    e->ts = sqlite3_column_double(st, 1);
    COLUMN_FIELD(st, 3, e->org);
    COLUMN_FIELD(st, 4, e->user_id);
    COLUMN_FIELD(st, 5, e->request_id);
    COLUMN_FIELD(st, 6, e->key_id);
    COLUMN_FIELD(st, 7, e->key_hint);
    COLUMN_FIELD(st, 8, e->client_addr);
    COLUMN_FIELD(st, 9, e->reason);
    COLUMN_FIELD(st, 10, e->detail);
    return TG_STORE_OK;
}

static tg_store_status_t sqlite_audit_list(tg_store_t *s, const char *org, int action, size_t limit,
                                           tg_store_audit_cb cb, void *ctx)
{
    if (action >= (int)TG_AUDIT_ACTION_COUNT) {
        tg_log(TG_LOG_ERROR, "store", "sqlite: audit entries of an unknown action %d", action);
        return TG_STORE_ERROR;
    }
    run_t r = run_start(conn(s), STMT_AUDIT_LIST);
    sqlite3_bind_text(r.st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(r.st, 2, action >= 0 ? tg_audit_action_name((tg_audit_action_t)action) : NULL, -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(r.st, 3, limit < (size_t)INT64_MAX ? (int64_t)limit : INT64_MAX);
    tg_audit_entry_t e;
    int rc;
    while ((rc = run_step(&r)) == SQLITE_ROW)
        if (column_audit(r.st, &e) == TG_STORE_OK && cb(ctx, &e) != 0)
            break;
    return run_end(&r, rc);
}

/* ---- the connection ---------------------------------------------------------- */

static int sqlite_schema_version(tg_store_t *s) { return conn(s)->version; }

static uint64_t sqlite_data_version(tg_store_t *s)
{
    run_t r = run_start(conn(s), STMT_DATA_VERSION);
    int64_t v = 0;
    run_get(&r, column_int64, &v);
    return (uint64_t)v;
}

static tg_store_status_t sqlite_maintain(tg_store_t *s)
{
    int rc = sqlite3_wal_checkpoint_v2(conn(s)->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK ? TG_STORE_OK : tg_sqlite_status(rc);
}

static tg_store_status_t sqlite_begin(tg_store_t *s)
{
    run_t r = run_start(conn(s), STMT_BEGIN);
    return run_write(&r);
}

static tg_store_status_t sqlite_commit(tg_store_t *s)
{
    run_t r = run_start(conn(s), STMT_COMMIT);
    return run_write(&r);
}

static void sqlite_rollback(tg_store_t *s)
{
    /* SQLite itself rolls back on some errors (a full disk, no memory):
     * then there is nothing left to roll back. */
    if (sqlite3_get_autocommit(conn(s)->db))
        return;
    run_t r = run_start(conn(s), STMT_ROLLBACK);
    run_write(&r);
}


static void sqlite_close(tg_store_t *s)
{
    if (s == NULL)
        return;
    tg_sqlite_t *c = conn(s);
    for (size_t i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    for (size_t g = 0; g < TG_USAGE_GROUP_COUNT; g++)
        for (size_t o = 0; o < 2; o++)
            sqlite3_finalize(c->usage[g][o]);
    sqlite3_close(c->db);
    tg_ledger_block_free(&c->block);
    free(c->fresh);
    free(c);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

static int prepare_statements(tg_sqlite_t *c)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < STMT_COUNT && rc == SQLITE_OK; i++)
        rc = prepare(c->db, statement_sql[i], &c->stmts[i]);
    for (size_t g = 0; g < TG_USAGE_GROUP_COUNT && rc == SQLITE_OK; g++) {
        for (size_t with_org = 0; with_org < 2 && rc == SQLITE_OK; with_org++) {
            char sql[4096];
            snprintf(sql, sizeof(sql),
                     "SELECT %s, count(*), " SATURATING_SUM("prompt_tokens") ", " SATURATING_SUM("cached_tokens")
                     ", " SATURATING_SUM("cache_write_tokens") ", " SATURATING_SUM("completion_tokens") ", "
                     SATURATING_SUM("reasoning_tokens") ", total(cost_usd), " SATURATING_SUM("estimated")
                     " FROM (" TG_LEDGER_ROWS_SELECT " WHERE b.ts_max >= ?3 AND b.ts_min < ?4)"
                     " WHERE %sts >= ?3 AND ts < ?4 AND (?2 IS NULL OR key_id = ?2)%s",
                     usage_group_columns[g], with_org ? "org = ?1 AND " : "",
                     /* NONE: one total even of no rows */
                     g == TG_USAGE_GROUP_NONE ? "" : " GROUP BY 1 ORDER BY 1");
            rc = prepare(c->db, sql, &c->usage[g][with_org]);
        }
    }
    return rc;
}

/* PRAGMA journal_mode answers with the mode it is in. */
static int use_wal(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    /* an in-memory database (tests) has no WAL and needs none */
    if (mode != NULL && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        tg_log(TG_LOG_WARN, "store", "sqlite: journal_mode is %s, not wal: the CLI and the server will wait"
               " for each other", mode);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Before SQLite's first use: no memory statistics, whose global mutex
 * every allocation of every statement takes (a tenth of a ledger row's
 * insert); nothing here reads them. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static tg_store_status_t sqlite_open(const tg_store_options_t *options, tg_store_t **out, char **err)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, configure_sqlite);
    *out = NULL;
    *err = NULL;
    const char *path = options->path;
    if (path == NULL || path[0] == '\0') {
        *err = tg_store_message("sqlite: no database path");
        return TG_STORE_ERROR;
    }
    tg_sqlite_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        *err = tg_store_message("sqlite %s: out of memory", path);
        return TG_STORE_ERROR;
    }
    c->base.methods = &tg_store_sqlite_methods;
    c->observe = options->observe;
    c->observe_ctx = options->observe_ctx;

    /* One thread uses a connection (store.h): SQLite's mutexes are not needed. */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    const char *step = "opening";
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, options->busy_timeout_ms > 0 ? options->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS);
        step = "setting it up";
        rc = use_wal(c->db);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db,
                          options->synchronous_full ? "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON"
                                                    : "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                          NULL, NULL, NULL);
    /* the connection's owner checkpoints (maintain), not every commit that
     * crosses 1000 pages: a checkpoint's fsyncs cost requests milliseconds */
    if (rc == SQLITE_OK && options->manual_checkpoints)
        sqlite3_wal_autocheckpoint(c->db, 0);
    if (rc != SQLITE_OK) {
        *err = tg_store_message("sqlite %s: %s: %s", path, step,
                                 c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite_close(&c->base);
        return tg_sqlite_status(rc) == TG_STORE_BUSY ? TG_STORE_BUSY : TG_STORE_ERROR;
    }
    tg_store_status_t status = tg_sqlite_migrate(c->db, path, &c->version, err);
    if (status == TG_STORE_OK && (rc = prepare_statements(c)) != SQLITE_OK) {
        *err = tg_store_message("sqlite %s: preparing a statement: %s", path, sqlite3_errmsg(c->db));
        status = TG_STORE_ERROR;
    }
    if (status != TG_STORE_OK) {
        sqlite_close(&c->base);
        return status;
    }
    *out = &c->base;
    return TG_STORE_OK;
}

const tg_store_methods_t tg_store_sqlite_methods = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .data_version = sqlite_data_version,
    .maintain = sqlite_maintain,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .org_insert = sqlite_org_insert,
    .org_get = sqlite_org_get,
    .org_update = sqlite_org_update,
    .org_list = sqlite_org_list,
    .key_insert = sqlite_key_insert,
    .key_get = sqlite_key_get,
    .key_find = sqlite_key_find,
    .key_update = sqlite_key_update,
    .key_list = sqlite_key_list,
    .key_touch = sqlite_key_touch,
    .ledger_append = sqlite_ledger_append,
    .ledger_max_id = sqlite_ledger_max_id,
    .usage = sqlite_usage,
    .cache_get = sqlite_cache_get,
    .cache_put = sqlite_cache_put,
    .cache_evict = sqlite_cache_evict,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
};
