/*
 * test_store_sqlite.c - the SQLite backend of the store (store/sqlite/)
 * on a database file in a temporary directory: opening, migrating,
 * reopening and refusing a newer schema; every method's success and error
 * paths; what the e2e tests read with python's sqlite3 (column names,
 * NULLs); idempotent ledger appends; usage totals and filters on known
 * numbers; the audit table's order and filters; data_version after
 * another connection commits; strings at their maximum length; the
 * observe callback. Prints the ledger's insert rate (not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "store/sqlite/sqlite_int.h"
#include "store/store.h"
#include "tests/db_fixture.h"

typedef struct fixture {
    char dir[32];
    char path[64];
    const tg_store_methods_t *m;
    tg_store_t *s;
    int observed[TG_DB_OPERATION_COUNT];
} fixture_t;

static void observe(void *ctx, tg_db_operation_t op, double seconds)
{
    fixture_t *f = ctx;
    assert_true(seconds >= 0);
    f->observed[op]++;
}

static tg_store_status_t open_store(fixture_t *f, int busy_timeout_ms, tg_store_t **out)
{
    tg_store_options_t o = {.path = f->path, .busy_timeout_ms = busy_timeout_ms, .observe = observe, .observe_ctx = f};
    char *err = NULL;
    tg_store_status_t status = f->m->open(&o, out, &err);
    if (status == TG_STORE_OK)
        assert_null(err);
    free(err);
    return status;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/tg-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
    f->m = tg_store_backend("sqlite");
    assert_non_null(f->m);
    assert_string_equal(f->m->name, "sqlite");
    assert_int_equal(open_store(f, 0, &f->s), TG_STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    f->m->close(f->s);
    tg_test_remove_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- a second connection, as python's sqlite3 or the CLI would have ---- */

static sqlite3 *raw_open(fixture_t *f)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(fixture_t *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The first column of the first row as text ("NULL" for NULL), into out. */
static const char *raw_text(fixture_t *f, const char *sql, char *out, size_t size)
{
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *v = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, size, "%s", v != NULL ? v : "NULL");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}
#define RAW_TEXT(f, sql) raw_text(f, sql, (char[512]){0}, 512)

static int64_t raw_int(fixture_t *f, const char *sql) { return atoll(RAW_TEXT(f, sql)); }

/* ---- records -------------------------------------------------------------- */

static tg_org_t make_org(const char *name)
{
    tg_org_t o;
    memset(&o, 0, sizeof(o));
    snprintf(o.name, sizeof(o.name), "%s", name);
    strcpy(o.plan, "trial");
    o.created = 1000;
    tg_policy_init(&o.policy);
    return o;
}

static tg_key_t make_key(int n, const char *org, const char *name, double created)
{
    tg_key_t k;
    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "key_%016x", n);
    memset(k.hash, n, sizeof(k.hash));
    snprintf(k.hint, sizeof(k.hint), "tg-\xe2\x80\xa6%04d", n);
    snprintf(k.org, sizeof(k.org), "%s", org);
    snprintf(k.name, sizeof(k.name), "%s", name);
    k.created = created;
    tg_policy_init(&k.policy);
    return k;
}

#define DAY1 1764460800.0 /* 2025-11-30T00:00:00Z */
#define DAY2 (DAY1 + 86400)

static tg_ledger_row_t make_row(int64_t id, double ts, const char *org, const char *key_id, const char *model,
                                const char *provider)
{
    tg_ledger_row_t r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.ts = ts;
    snprintf(r.request_id, sizeof(r.request_id), "req-%lld", (long long)id);
    snprintf(r.org, sizeof(r.org), "%s", org);
    snprintf(r.key_id, sizeof(r.key_id), "%s", key_id);
    snprintf(r.model_requested, sizeof(r.model_requested), "%s", model);
    snprintf(r.model_used, sizeof(r.model_used), "%s", model);
    snprintf(r.provider, sizeof(r.provider), "%s", provider);
    strcpy(r.operation, "chat");
    r.status = 200;
    r.latency_seconds = 0.5;
    r.ttft_seconds = -1;
    return r;
}

/* ---- list callbacks ------------------------------------------------------- */

typedef struct seen {
    char names[8][TG_STORE_NAME_MAX + 1];
    tg_usage_total_t totals[8];
    tg_audit_entry_t entries[8];
    size_t n;
    size_t stop_after; /* 0: never stop */
} seen_t;

static int seen_one(seen_t *seen, const char *name)
{
    assert_true(seen->n < 8);
    snprintf(seen->names[seen->n++], sizeof(seen->names[0]), "%s", name);
    return seen->stop_after != 0 && seen->n >= seen->stop_after;
}

static int seen_org(void *ctx, const tg_org_t *o) { return seen_one(ctx, o->name); }
static int seen_key(void *ctx, const tg_key_t *k) { return seen_one(ctx, k->id); }

static int seen_usage(void *ctx, const tg_usage_total_t *t)
{
    seen_t *seen = ctx;
    seen->totals[seen->n] = *t;
    return seen_one(seen, t->group);
}

static int seen_audit(void *ctx, const tg_audit_entry_t *e)
{
    seen_t *seen = ctx;
    seen->entries[seen->n] = *e;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    return seen_one(seen, id);
}

/* The names seen, joined by commas. */
static const char *joined(const seen_t *seen, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < seen->n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", seen->names[i]);
    return out;
}
#define JOINED(seen) joined(&(seen), (char[600]){0}, 600)

/* ---- opening ------------------------------------------------------------ */

static void test_open_migrate_reopen(void **state)
{
    fixture_t *f = *state;
    int latest = tg_sqlite_latest_version();
    assert_true(latest >= 1);
    assert_int_equal(f->m->schema_version(f->s), latest);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), latest);
    assert_string_equal(RAW_TEXT(f, "PRAGMA journal_mode"), "wal");

    /* the columns the e2e tests read */
    raw_exec(f, "SELECT name, plan, created, rpm, tpm, max_concurrent, budget_usd, models FROM orgs;"
                "SELECT id, hash, hint, org, name, created, last_used, revoked, rpm, tpm, max_concurrent,"
                " budget_usd, models FROM api_keys;"
                "SELECT id, ts, request_id, org, key_id, model_requested, model_used, provider, operation,"
                " prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens,"
                " cost_usd, cache_hit, cache_tier, status, latency_seconds, ttft_seconds, estimated FROM ledger;"
                "SELECT id, ts, action, org, user_id, request_id, key_id, key_hint, client_addr, reason, detail"
                " FROM audit");
    /* the ledger is a view over blocks, indexed by time and by last id */
    assert_string_equal(RAW_TEXT(f, "SELECT type FROM sqlite_master WHERE name = 'ledger'"), "view");
    assert_string_equal(RAW_TEXT(f, "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE"
                                    " type = 'index' AND tbl_name = 'ledger_blocks' AND sql IS NOT NULL"
                                    " ORDER BY name)"),
                        "ledger_blocks_last_id,ledger_blocks_ts");

    tg_org_t org = make_org("acme");
    assert_int_equal(f->m->org_insert(f->s, &org), TG_STORE_OK);
    f->m->close(f->s);
    f->s = NULL;

    /* reopening migrates nothing and keeps the data */
    assert_int_equal(open_store(f, 0, &f->s), TG_STORE_OK);
    assert_int_equal(f->m->schema_version(f->s), latest);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), latest);
    tg_org_t got;
    assert_int_equal(f->m->org_get(f->s, "acme", &got), TG_STORE_OK);
    f->m->close(NULL);
}

static void test_open_refuses(void **state)
{
    fixture_t *f = *state;
    f->m->close(f->s);
    f->s = NULL;
    int latest = tg_sqlite_latest_version();
    char sql[64], want[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest + 1);
    raw_exec(f, sql);

    tg_store_options_t o = {.path = f->path};
    tg_store_t *s = (tg_store_t *)&o; /* open must set it to NULL */
    char *err = NULL;
    assert_int_equal(f->m->open(&o, &s, &err), TG_STORE_SCHEMA_NEWER);
    assert_null(s);
    assert_non_null(err);
    snprintf(want, sizeof(want), "schema version %d is newer than this tollgate's %d", latest + 1, latest);
    assert_non_null(strstr(err, want));
    assert_null(strchr(err, '\n'));
    free(err);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), latest + 1); /* left alone */

    /* a directory that does not exist */
    o.path = "/nonexistent-tollgate-dir/x.db";
    assert_int_equal(f->m->open(&o, &s, &err), TG_STORE_ERROR);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-tollgate-dir/x.db"));
    free(err);

    /* no path */
    o.path = NULL;
    assert_int_equal(f->m->open(&o, &s, &err), TG_STORE_ERROR);
    assert_non_null(err);
    free(err);

    /* a file that is not a database */
    char junk[80];
    snprintf(junk, sizeof(junk), "%s/junk.db", f->dir);
    FILE *fp = fopen(junk, "w");
    assert_non_null(fp);
    for (int i = 0; i < 64; i++)
        fputs("this is not an SQLite database file\n", fp);
    fclose(fp);
    o.path = junk;
    assert_int_equal(f->m->open(&o, &s, &err), TG_STORE_ERROR);
    assert_non_null(strstr(err, "not a database"));
    assert_null(strchr(err, '\n'));
    free(err);
    unlink(junk);
}

/* ---- orgs ------------------------------------------------------------------ */

static void test_orgs(void **state)
{
    fixture_t *f = *state;
    tg_org_t acme = make_org("acme"), beta = make_org("beta"), got;
    acme.policy.rpm = 60;
    acme.policy.budget_usd = 25;
    acme.policy.model_count = 2;
    strcpy(acme.policy.models[0], "gpt-4o-mini");
    strcpy(acme.policy.models[1], "m2");
    memset(f->observed, 0, sizeof(f->observed));
    assert_int_equal(f->m->org_insert(f->s, &beta), TG_STORE_OK);
    assert_int_equal(f->m->org_insert(f->s, &acme), TG_STORE_OK);
    assert_int_equal(f->observed[TG_DB_INSERT], 2);
    assert_int_equal(f->m->org_insert(f->s, &acme), TG_STORE_EXISTS);

    assert_int_equal(f->m->org_get(f->s, "acme", &got), TG_STORE_OK);
    assert_memory_equal(&got, &acme, sizeof(got));
    assert_int_equal(f->m->org_get(f->s, "beta", &got), TG_STORE_OK);
    assert_memory_equal(&got, &beta, sizeof(got));
    assert_int_equal(f->m->org_get(f->s, "nobody", &got), TG_STORE_NOT_FOUND);
    assert_int_equal(f->observed[TG_DB_SELECT], 3);

    /* "not set" is NULL, models a JSON array */
    assert_string_equal(RAW_TEXT(f, "SELECT models FROM orgs WHERE name = 'acme'"), "[\"gpt-4o-mini\",\"m2\"]");
    assert_string_equal(RAW_TEXT(f, "SELECT quote(tpm) || quote(max_concurrent) || quote(rpm) || quote(budget_usd)"
                                    " FROM orgs WHERE name = 'acme'"),
                        "NULLNULL6025.0");
    assert_int_equal(raw_int(f, "SELECT count(*) FROM orgs WHERE name = 'beta' AND rpm IS NULL AND tpm IS NULL"
                                " AND max_concurrent IS NULL AND budget_usd IS NULL AND models IS NULL"),
                     1);

    /* a whole-row update, and clearing a policy */
    tg_policy_init(&acme.policy);
    strcpy(acme.plan, "paid");
    acme.policy.max_concurrent = 0;
    assert_int_equal(f->m->org_update(f->s, &acme), TG_STORE_OK);
    assert_int_equal(f->observed[TG_DB_UPDATE], 1);
    assert_int_equal(f->m->org_get(f->s, "acme", &got), TG_STORE_OK);
    assert_memory_equal(&got, &acme, sizeof(got));
    tg_org_t nobody = make_org("nobody");
    assert_int_equal(f->m->org_update(f->s, &nobody), TG_STORE_NOT_FOUND);

    /* listed by name; a callback may stop */
    seen_t seen = {0};
    assert_int_equal(f->m->org_list(f->s, seen_org, &seen), TG_STORE_OK);
    assert_string_equal(JOINED(seen), "acme,beta");
    seen = (seen_t){.stop_after = 1};
    assert_int_equal(f->m->org_list(f->s, seen_org, &seen), TG_STORE_OK);
    assert_string_equal(JOINED(seen), "acme");
}

static void test_org_bad_models(void **state)
{
    fixture_t *f = *state;
    tg_org_t org = make_org("acme"), got;
    org.policy.model_count = TG_STORE_MODELS_MAX + 1;
    assert_int_equal(f->m->org_insert(f->s, &org), TG_STORE_ERROR);
    org.policy.model_count = 1;
    strcpy(org.policy.models[0], "\xff\xfe"); /* not UTF-8 */
    assert_int_equal(f->m->org_insert(f->s, &org), TG_STORE_ERROR);
    assert_int_equal(f->m->org_get(f->s, "acme", &got), TG_STORE_NOT_FOUND);

    /* a models column edited by hand into something else */
    raw_exec(f, "INSERT INTO orgs (name, plan, created, models) VALUES ('x', 'free', 1, '{\"a\":1}')");
    assert_int_equal(f->m->org_get(f->s, "x", &got), TG_STORE_ERROR);
    seen_t seen = {0};
    assert_int_equal(f->m->org_list(f->s, seen_org, &seen), TG_STORE_ERROR);
    assert_int_equal(seen.n, 0);
    raw_exec(f, "UPDATE orgs SET models = '[\"ok\", 7]' WHERE name = 'x'");
    assert_int_equal(f->m->org_get(f->s, "x", &got), TG_STORE_ERROR);
    raw_exec(f, "UPDATE orgs SET models = '[]' WHERE name = 'x'");
    assert_int_equal(f->m->org_get(f->s, "x", &got), TG_STORE_OK);
    assert_int_equal(got.policy.model_count, 0);
}

/* ---- keys ------------------------------------------------------------------ */

static void test_keys(void **state)
{
    fixture_t *f = *state;
    tg_org_t acme = make_org("acme"), beta = make_org("beta");
    assert_int_equal(f->m->org_insert(f->s, &acme), TG_STORE_OK);
    assert_int_equal(f->m->org_insert(f->s, &beta), TG_STORE_OK);

    tg_key_t k1 = make_key(1, "acme", "ci", 2000), k2 = make_key(2, "acme", "web", 1999),
             k3 = make_key(3, "beta", "ci", 2000), got;
    k1.policy.models[0][0] = 'x';
    k1.policy.model_count = 1;
    k1.policy.tpm = 1000;
    assert_int_equal(f->m->key_insert(f->s, &k1), TG_STORE_OK);
    assert_int_equal(f->m->key_insert(f->s, &k2), TG_STORE_OK);
    assert_int_equal(f->m->key_insert(f->s, &k3), TG_STORE_OK); /* same name, another org */

    tg_key_t same_id = make_key(9, "acme", "other", 1);
    strcpy(same_id.id, k1.id);
    tg_key_t same_hash = make_key(9, "acme", "other", 1);
    memcpy(same_hash.hash, k1.hash, sizeof(k1.hash));
    tg_key_t same_name = make_key(9, "acme", "ci", 1);
    tg_key_t no_org = make_key(9, "nobody", "other", 1);
    assert_int_equal(f->m->key_insert(f->s, &same_id), TG_STORE_EXISTS);
    assert_int_equal(f->m->key_insert(f->s, &same_hash), TG_STORE_EXISTS);
    assert_int_equal(f->m->key_insert(f->s, &same_name), TG_STORE_EXISTS);
    assert_int_equal(f->m->key_insert(f->s, &no_org), TG_STORE_NOT_FOUND);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM api_keys"), 3);
    assert_int_equal(raw_int(f, "SELECT length(hash) FROM api_keys WHERE name = 'web'"), 32);

    assert_int_equal(f->m->key_get(f->s, k1.id, &got), TG_STORE_OK);
    assert_memory_equal(&got, &k1, sizeof(got));
    assert_int_equal(f->m->key_get(f->s, "key_ffffffffffffffff", &got), TG_STORE_NOT_FOUND);
    assert_int_equal(f->m->key_find(f->s, k2.hash, &got), TG_STORE_OK);
    assert_memory_equal(&got, &k2, sizeof(got));
    assert_int_equal(f->m->key_find(f->s, same_name.hash, &got), TG_STORE_NOT_FOUND);

    /* revoking is an update of the whole row */
    k1.revoked = 3000;
    k1.policy.rpm = 5;
    assert_int_equal(f->m->key_update(f->s, &k1), TG_STORE_OK);
    assert_int_equal(f->m->key_get(f->s, k1.id, &got), TG_STORE_OK);
    assert_memory_equal(&got, &k1, sizeof(got));
    tg_key_t renamed = k2;
    strcpy(renamed.name, "ci");
    assert_int_equal(f->m->key_update(f->s, &renamed), TG_STORE_EXISTS);
    tg_key_t moved = k2;
    strcpy(moved.org, "nobody");
    assert_int_equal(f->m->key_update(f->s, &moved), TG_STORE_NOT_FOUND);
    assert_int_equal(f->m->key_update(f->s, &same_name), TG_STORE_NOT_FOUND); /* no such id */
    assert_int_equal(f->m->key_get(f->s, k2.id, &got), TG_STORE_OK);
    assert_memory_equal(&got, &k2, sizeof(got)); /* the failed updates changed nothing */

    /* by created, then id; revoked keys included */
    seen_t seen = {0};
    assert_int_equal(f->m->key_list(f->s, NULL, seen_key, &seen), TG_STORE_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.names[0], k2.id);
    assert_string_equal(seen.names[1], k1.id);
    assert_string_equal(seen.names[2], k3.id);
    seen = (seen_t){0};
    assert_int_equal(f->m->key_list(f->s, "beta", seen_key, &seen), TG_STORE_OK);
    assert_string_equal(JOINED(seen), k3.id);
    seen = (seen_t){0};
    assert_int_equal(f->m->key_list(f->s, "nobody", seen_key, &seen), TG_STORE_OK);
    assert_int_equal(seen.n, 0);
    seen = (seen_t){.stop_after = 1};
    assert_int_equal(f->m->key_list(f->s, "acme", seen_key, &seen), TG_STORE_OK);
    assert_string_equal(JOINED(seen), k2.id);

    /* touch: an unknown id is no error */
    char ids[3][TG_STORE_KEY_ID_MAX + 1] = {"", "", "key_ffffffffffffffff"};
    strcpy(ids[0], k1.id);
    strcpy(ids[1], k3.id);
    memset(f->observed, 0, sizeof(f->observed));
    assert_int_equal(f->m->key_touch(f->s, (const char(*)[TG_STORE_KEY_ID_MAX + 1])ids, 3, 4000), TG_STORE_OK);
    assert_int_equal(f->observed[TG_DB_UPDATE], 3);
    assert_int_equal(f->m->key_get(f->s, k3.id, &got), TG_STORE_OK);
    assert_true(got.last_used == 4000);
    assert_int_equal(f->m->key_get(f->s, k2.id, &got), TG_STORE_OK);
    assert_true(got.last_used == 0);
    assert_string_equal(RAW_TEXT(f, "SELECT quote(last_used) || quote(revoked) FROM api_keys WHERE name = 'web'"),
                        "NULLNULL");
}

/* ---- transactions and locks ------------------------------------------------ */

static void test_transactions(void **state)
{
    fixture_t *f = *state;
    tg_org_t a = make_org("a"), b = make_org("b"), got;

    assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
    assert_int_equal(f->m->org_insert(f->s, &a), TG_STORE_OK);
    f->m->rollback(f->s);
    assert_int_equal(f->m->org_get(f->s, "a", &got), TG_STORE_NOT_FOUND);

    /* a failed statement leaves the transaction going */
    assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
    assert_int_equal(f->m->begin(f->s), TG_STORE_ERROR); /* not nested */
    assert_int_equal(f->m->org_insert(f->s, &a), TG_STORE_OK);
    assert_int_equal(f->m->org_insert(f->s, &a), TG_STORE_EXISTS);
    assert_int_equal(f->m->org_insert(f->s, &b), TG_STORE_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM orgs"), 0); /* not committed yet */
    assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM orgs"), 2);

    assert_int_equal(f->m->commit(f->s), TG_STORE_ERROR); /* none to commit */
    f->m->rollback(f->s);                                   /* none to roll back: nothing happens */
    assert_int_equal(f->m->org_get(f->s, "b", &got), TG_STORE_OK);
}

static void test_busy(void **state)
{
    fixture_t *f = *state;
    tg_store_t *s2;
    assert_int_equal(open_store(f, 50, &s2), TG_STORE_OK);
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    tg_org_t org = make_org("acme"), got;
    assert_int_equal(f->m->begin(s2), TG_STORE_BUSY);
    assert_int_equal(f->m->org_insert(s2, &org), TG_STORE_BUSY);
    assert_int_equal(f->m->org_get(s2, "acme", &got), TG_STORE_NOT_FOUND); /* readers do not wait in WAL */

    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(f->m->begin(s2), TG_STORE_OK);
    assert_int_equal(f->m->org_insert(s2, &org), TG_STORE_OK);
    assert_int_equal(f->m->commit(s2), TG_STORE_OK);
    f->m->close(s2);
    assert_int_equal(f->m->org_get(f->s, "acme", &got), TG_STORE_OK);
}

static void test_data_version(void **state)
{
    fixture_t *f = *state;
    uint64_t v1 = f->m->data_version(f->s);
    assert_true(f->m->data_version(f->s) == v1);
    raw_exec(f, "INSERT INTO orgs (name, plan, created) VALUES ('cli', 'free', 1)");
    uint64_t v2 = f->m->data_version(f->s);
    assert_true(v2 != v1);
    assert_true(f->m->data_version(f->s) == v2);
}

/* ---- ledger and usage ---------------------------------------------------- */

static void test_ledger_append(void **state)
{
    fixture_t *f = *state;
    int64_t max_id = -1;
    assert_int_equal(f->m->ledger_max_id(f->s, &max_id), TG_STORE_OK);
    assert_int_equal(max_id, 0);

    tg_ledger_row_t rows[4];
    for (int i = 0; i < 4; i++)
        rows[i] = make_row(i + 1, DAY1 + i, "anonymous", "", "m", "p");
    rows[1].ttft_seconds = 0.25;
    rows[1].cache_hit = true;
    strcpy(rows[1].cache_tier, "memory");
    size_t inserted = 99;
    memset(f->observed, 0, sizeof(f->observed));
    assert_int_equal(f->m->ledger_append(f->s, rows, 3, false, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 3);
    assert_int_equal(f->observed[TG_DB_INSERT], 1); /* one block */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM ledger_blocks"), 1);

    /* a replay: rows 2 and 3 are there, row 4 is new */
    assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
    assert_int_equal(f->m->ledger_append(f->s, rows + 1, 3, true, &inserted), TG_STORE_OK);
    assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
    assert_int_equal(inserted, 1);
    /* a replay of rows all there adds no block */
    assert_int_equal(f->m->ledger_append(f->s, rows, 4, true, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM ledger_blocks"), 2);
    /* the same id twice in one replayed batch counts once */
    tg_ledger_row_t twice[2] = {make_row(7, DAY1, "o", "", "m", "p"), make_row(7, DAY1, "o", "", "m", "p")};
    assert_int_equal(f->m->ledger_append(f->s, twice, 2, true, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 1);
    assert_int_equal(f->m->ledger_append(f->s, twice, 0, true, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 0);

    assert_int_equal(raw_int(f, "SELECT count(*) FROM ledger"), 5);
    assert_int_equal(raw_int(f, "SELECT count(DISTINCT id) FROM ledger"), 5);
    assert_int_equal(f->m->ledger_max_id(f->s, &max_id), TG_STORE_OK);
    assert_int_equal(max_id, 7);
    assert_string_equal(RAW_TEXT(f, "SELECT quote(ttft_seconds) || '|' || key_id || '|' || cache_tier"
                                    " || '|' || cache_hit || '|' || status FROM ledger WHERE id = 1"),
                        "NULL|||0|200");
    assert_string_equal(RAW_TEXT(f, "SELECT ttft_seconds || '|' || cache_tier || '|' || cache_hit || '|'"
                                    " || request_id FROM ledger WHERE id = 2"),
                        "0.25|memory|1|req-2");
}

/* Text the JSON of a block must escape comes back as it went in; invalid
 * UTF-8 (a provider's model name) comes back as U+FFFD. */
static void test_ledger_block_strings(void **state)
{
    fixture_t *f = *state;
    tg_ledger_row_t row = make_row(9, DAY1 + 0.123456, "o", "k", "m", "p");
    snprintf(row.request_id, sizeof(row.request_id), "q\"uo\\te\t\x01");
    snprintf(row.model_used, sizeof(row.model_used), "bad\xff utf8 \xc3\xa9");
    row.cost_usd = 0.00001125;
    row.latency_seconds = 1.234567891;
    row.ttft_seconds = 0.000001;
    size_t inserted;
    assert_int_equal(f->m->ledger_append(f->s, &row, 1, false, &inserted), TG_STORE_OK);
    /* q " u o \ t e TAB 0x01 */
    assert_string_equal(RAW_TEXT(f, "SELECT hex(request_id) FROM ledger"), "7122756F5C74650901");
    assert_string_equal(RAW_TEXT(f, "SELECT model_used FROM ledger"), "bad\xef\xbf\xbd utf8 \xc3\xa9");
    assert_string_equal(RAW_TEXT(f, "SELECT printf('%.6f|%.8f|%.9f|%.6f', ts, cost_usd, latency_seconds,"
                                    " ttft_seconds) FROM ledger"),
                        "1764460800.123456|0.00001125|1.234567891|0.000001");
}

/* A database of schema 2, its ledger a table, migrates to blocks with
 * every column as it was. */
static void test_ledger_migrates_from_a_table(void **state)
{
    fixture_t *f = *state;
    f->m->close(f->s);
    f->s = NULL;
    unlink(f->path);
    sqlite3 *db = raw_open(f);
    assert_int_equal(tg_sqlite_apply_migrations(db, 0, 2), SQLITE_OK);
    char sql[512];
    for (int i = 1; i <= 1200; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO ledger VALUES (%d, %d.25, 'r%d', 'org%d', 'key_%d', 'm', 'mu', 'p', 'chat',"
                 " %d, 1, 2, 3, 4, 0.00001125, %d, '%s', 200, 0.5, %s, %d)",
                 i, 1700000000 + i, i, i % 3, i % 7, i, i % 2, i % 2 ? "memory" : "", i % 5 ? "0.125" : "NULL",
                 i % 11 == 0);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    const char *digest = "SELECT count(*) || '|' || sum(id) || '|' || sum(ts) || '|' || count(DISTINCT request_id)"
                         " || '|' || group_concat(DISTINCT org) || '|' || sum(prompt_tokens + cached_tokens"
                         " + cache_write_tokens + completion_tokens + reasoning_tokens) || '|' || sum(cost_usd)"
                         " || '|' || sum(cache_hit) || '|' || count(ttft_seconds) || '|' || sum(ttft_seconds)"
                         " || '|' || sum(estimated) || '|' || sum(latency_seconds) || '|' || max(cache_tier)"
                         " FROM (SELECT * FROM ledger ORDER BY id)";
    char before[512];
    snprintf(before, sizeof(before), "%s", RAW_TEXT(f, digest));
    sqlite3_close(db);

    assert_int_equal(open_store(f, 0, &f->s), TG_STORE_OK);
    assert_int_equal(f->m->schema_version(f->s), tg_sqlite_latest_version());
    assert_string_equal(RAW_TEXT(f, digest), before);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM ledger_blocks"), 3); /* 512 + 512 + 176 */
    int64_t max_id;
    assert_int_equal(f->m->ledger_max_id(f->s, &max_id), TG_STORE_OK);
    assert_int_equal(max_id, 1200);
}

static void add_usage_rows(fixture_t *f)
{
    tg_ledger_row_t rows[4] = {
        make_row(1, DAY1 + 36000, "acme", "key_a", "m1", "p1"),
        make_row(2, DAY1 + 39600, "acme", "key_b", "m2", "p1"),
        make_row(3, DAY2, "acme", "key_a", "m1", "p2"),
        make_row(4, DAY2 + 10, "other", "", "m1", "p2"),
    };
    const int64_t tokens[4][5] = {{10, 2, 1, 20, 3}, {100, 0, 0, 50, 0}, {1, 1, 1, 1, 1}, {5, 0, 0, 5, 0}};
    const double costs[4] = {0.5, 1.0, 0.25, 0.125};
    for (int i = 0; i < 4; i++) {
        rows[i].prompt_tokens = tokens[i][0];
        rows[i].cached_tokens = tokens[i][1];
        rows[i].cache_write_tokens = tokens[i][2];
        rows[i].completion_tokens = tokens[i][3];
        rows[i].reasoning_tokens = tokens[i][4];
        rows[i].cost_usd = costs[i];
    }
    rows[1].estimated = true;
    size_t inserted;
    assert_int_equal(f->m->ledger_append(f->s, rows, 4, false, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 4);
}

/* The groups a query yields, as "group:requests" joined by commas. */
static const char *usage_of(fixture_t *f, tg_usage_query_t q, seen_t *seen, char *out, size_t size)
{
    *seen = (seen_t){0};
    assert_int_equal(f->m->usage(f->s, &q, seen_usage, seen), TG_STORE_OK);
    out[0] = '\0';
    for (size_t i = 0; i < seen->n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s:%lld", i ? "," : "", seen->totals[i].group,
                 (long long)seen->totals[i].requests);
    return out;
}
#define USAGE(f, seen, ...) usage_of(f, (tg_usage_query_t){__VA_ARGS__}, &(seen), (char[600]){0}, 600)

static void test_usage(void **state)
{
    fixture_t *f = *state;
    seen_t seen;
    /* an empty ledger: one total of zeros, no groups */
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_NONE), ":0");
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_MODEL), "");
    add_usage_rows(f);

    memset(f->observed, 0, sizeof(f->observed));
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_NONE), ":4");
    assert_int_equal(f->observed[TG_DB_SELECT], 1);
    tg_usage_total_t *t = &seen.totals[0];
    assert_int_equal(t->prompt_tokens, 116);
    assert_int_equal(t->cached_tokens, 3);
    assert_int_equal(t->cache_write_tokens, 2);
    assert_int_equal(t->completion_tokens, 76);
    assert_int_equal(t->reasoning_tokens, 4);
    assert_true(t->cost_usd == 1.875);
    assert_int_equal(t->estimated_requests, 1);

    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_MODEL), "m1:3,m2:1");
    assert_int_equal(seen.totals[0].prompt_tokens, 16);
    assert_int_equal(seen.totals[0].completion_tokens, 26);
    assert_true(seen.totals[0].cost_usd == 0.875);
    assert_int_equal(seen.totals[0].estimated_requests, 0);
    assert_int_equal(seen.totals[1].estimated_requests, 1);
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_PROVIDER), "p1:2,p2:2");
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_DAY), "2025-11-30:2,2025-12-01:2");
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_KEY), ":1,key_a:2,key_b:1");
    assert_string_equal(USAGE(f, seen, .group_by = TG_USAGE_GROUP_ORG), "acme:3,other:1");

    /* filters: from <= ts < to */
    assert_string_equal(USAGE(f, seen, .org = "acme", .group_by = TG_USAGE_GROUP_MODEL), "m1:2,m2:1");
    assert_string_equal(USAGE(f, seen, .org = "nobody", .group_by = TG_USAGE_GROUP_NONE), ":0");
    assert_string_equal(USAGE(f, seen, .key_id = "key_a", .group_by = TG_USAGE_GROUP_DAY),
                        "2025-11-30:1,2025-12-01:1");
    assert_string_equal(USAGE(f, seen, .from = DAY1 + 39600), ":3");
    assert_string_equal(USAGE(f, seen, .to = DAY2, .group_by = TG_USAGE_GROUP_ORG), "acme:2");
    assert_string_equal(USAGE(f, seen, .org = "acme", .from = DAY1 + 36001, .to = DAY2 + 1,
                              .group_by = TG_USAGE_GROUP_PROVIDER),
                        "p1:1,p2:1");
    assert_string_equal(USAGE(f, seen, .org = "acme", .key_id = "key_b", .from = DAY1, .to = DAY2), ":1");

    /* a callback may stop; a grouping out of range is an error */
    seen = (seen_t){.stop_after = 1};
    tg_usage_query_t q = {.group_by = TG_USAGE_GROUP_PROVIDER};
    assert_int_equal(f->m->usage(f->s, &q, seen_usage, &seen), TG_STORE_OK);
    assert_int_equal(seen.n, 1);
    q.group_by = TG_USAGE_GROUP_COUNT;
    assert_int_equal(f->m->usage(f->s, &q, seen_usage, &seen), TG_STORE_ERROR);
}

/* ---- audit ------------------------------------------------------------------ */

static tg_audit_entry_t make_entry(tg_audit_action_t action, const char *org, double ts)
{
    tg_audit_entry_t e;
    memset(&e, 0, sizeof(e));
    e.action = action;
    e.ts = ts;
    snprintf(e.org, sizeof(e.org), "%s", org);
    return e;
}

static const char *audit_of(fixture_t *f, const char *org, int action, size_t limit, seen_t *seen, char *out,
                            size_t size)
{
    *seen = (seen_t){0};
    assert_int_equal(f->m->audit_list(f->s, org, action, limit, seen_audit, seen), TG_STORE_OK);
    return joined(seen, out, size);
}
#define AUDIT(f, seen, org, action, limit) audit_of(f, org, action, limit, &(seen), (char[600]){0}, 600)

static void test_audit(void **state)
{
    fixture_t *f = *state;
    tg_audit_entry_t e[5] = {
        make_entry(TG_AUDIT_ORG_CREATED, "acme", 1),  make_entry(TG_AUDIT_KEY_CREATED, "acme", 2),
        make_entry(TG_AUDIT_AUTH_FAILURE, "", 3),     make_entry(TG_AUDIT_POLICY_UPDATE, "acme", 4),
        make_entry(TG_AUDIT_ORG_CREATED, "beta", 5),
    };
    strcpy(e[0].user_id, "admin");
    strcpy(e[1].key_id, "key_0000000000000001");
    strcpy(e[1].request_id, "req-1");
    strcpy(e[2].key_hint, "tg-\xe2\x80\xa6" "abcd");
    strcpy(e[2].client_addr, "127.0.0.1:5555");
    strcpy(e[2].reason, "unknown_key");
    strcpy(e[3].detail, "{\"rpm\":1}");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(f->m->audit_append(f->s, &e[i]), TG_STORE_OK);
        assert_int_equal(e[i].id, i + 1);
    }
    tg_audit_entry_t bad = make_entry(TG_AUDIT_ACTION_COUNT, "acme", 6);
    assert_int_equal(f->m->audit_append(f->s, &bad), TG_STORE_ERROR);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 5);

    /* empty strings are NULL in the table and "" again when read */
    assert_string_equal(RAW_TEXT(f, "SELECT quote(org) || quote(user_id) || quote(detail) || action || key_hint"
                                    " FROM audit WHERE id = 3"),
                        "NULLNULLNULLauth_failuretg-\xe2\x80\xa6" "abcd");
    seen_t seen;
    assert_string_equal(AUDIT(f, seen, NULL, -1, 100), "5,4,3,2,1");
    for (int i = 0; i < 5; i++)
        assert_memory_equal(&seen.entries[4 - i], &e[i], sizeof(e[i]));
    assert_string_equal(AUDIT(f, seen, "acme", -1, 100), "4,2,1");
    assert_string_equal(AUDIT(f, seen, NULL, TG_AUDIT_ORG_CREATED, 100), "5,1");
    assert_string_equal(AUDIT(f, seen, "acme", TG_AUDIT_ORG_CREATED, 100), "1");
    assert_string_equal(AUDIT(f, seen, NULL, TG_AUDIT_KEY_REVOKED, 100), "");
    assert_string_equal(AUDIT(f, seen, NULL, -1, 2), "5,4");
    assert_string_equal(AUDIT(f, seen, NULL, -1, 0), "");
    assert_string_equal(AUDIT(f, seen, NULL, -1, SIZE_MAX), "5,4,3,2,1");
    assert_int_equal(f->m->audit_list(f->s, NULL, TG_AUDIT_ACTION_COUNT, 10, seen_audit, &seen), TG_STORE_ERROR);

    /* an action a newer tollgate wrote is passed over */
    raw_exec(f, "INSERT INTO audit (ts, action) VALUES (7, 'future_action')");
    assert_string_equal(AUDIT(f, seen, NULL, -1, 2), "5");
    seen = (seen_t){.stop_after = 2};
    assert_int_equal(f->m->audit_list(f->s, NULL, -1, 100, seen_audit, &seen), TG_STORE_OK);
    assert_string_equal(JOINED(seen), "5,4");
}

/* ---- limits of the records ------------------------------------------------- */

static void fill(char *dst, size_t size, char c)
{
    memset(dst, c, size - 1);
    dst[size - 1] = '\0';
}
#define FILL(field, c) fill(field, sizeof(field), c)

static void test_max_lengths(void **state)
{
    fixture_t *f = *state;
    tg_org_t org = make_org(""), got_org;
    FILL(org.name, 'o');
    FILL(org.plan, 'p');
    org.policy.model_count = TG_STORE_MODELS_MAX;
    for (int i = 0; i < TG_STORE_MODELS_MAX; i++)
        FILL(org.policy.models[i], (char)('a' + i));
    assert_int_equal(f->m->org_insert(f->s, &org), TG_STORE_OK);
    assert_int_equal(f->m->org_get(f->s, org.name, &got_org), TG_STORE_OK);
    assert_memory_equal(&got_org, &org, sizeof(org));

    tg_key_t key = make_key(1, org.name, "", 1), got_key;
    FILL(key.id, 'k');
    FILL(key.hint, 'h');
    FILL(key.name, 'n');
    key.policy = org.policy;
    assert_int_equal(f->m->key_insert(f->s, &key), TG_STORE_OK);
    assert_int_equal(f->m->key_find(f->s, key.hash, &got_key), TG_STORE_OK);
    assert_memory_equal(&got_key, &key, sizeof(key));

    tg_ledger_row_t row = make_row(1, DAY1, "", "", "", "");
    FILL(row.request_id, 'r');
    FILL(row.org, 'o');
    FILL(row.key_id, 'k');
    FILL(row.model_requested, 'm');
    FILL(row.model_used, 'u');
    FILL(row.provider, 'p');
    FILL(row.operation, 'x');
    FILL(row.cache_tier, 't');
    size_t inserted;
    assert_int_equal(f->m->ledger_append(f->s, &row, 1, false, &inserted), TG_STORE_OK);
    assert_string_equal(RAW_TEXT(f, "SELECT length(request_id) || length(org) || length(key_id) ||"
                                    " length(model_requested) || length(operation) || length(cache_tier)"
                                    " FROM ledger"),
                        "12864326423" "15");
    seen_t seen;
    assert_string_equal(USAGE(f, seen, .org = row.org, .key_id = row.key_id, .group_by = TG_USAGE_GROUP_KEY),
                        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk:1");

    tg_audit_entry_t e = make_entry(TG_AUDIT_POLICY_UPDATE, "", 1);
    FILL(e.org, 'o');
    FILL(e.user_id, 'u');
    FILL(e.request_id, 'r');
    FILL(e.key_id, 'k');
    FILL(e.key_hint, 'h');
    FILL(e.client_addr, 'a');
    FILL(e.reason, 'e');
    FILL(e.detail, 'd');
    assert_int_equal(f->m->audit_append(f->s, &e), TG_STORE_OK);
    assert_string_equal(AUDIT(f, seen, e.org, -1, 10), "1");
    assert_memory_equal(&seen.entries[0], &e, sizeof(e));

    /* a value longer than its field, written by hand, is cut to fit */
    raw_exec(f, "UPDATE orgs SET plan = printf('%.100c', 'q')");
    assert_int_equal(f->m->org_get(f->s, org.name, &got_org), TG_STORE_OK);
    assert_int_equal(strlen(got_org.plan), TG_STORE_NAME_MAX);
}

/* ---- speed (printed, not asserted: the machine is shared) ---------------- */

static void test_ledger_rate(void **state)
{
    fixture_t *f = *state;
    enum { BATCH = 512, BATCHES = 20 };
    tg_ledger_row_t *rows = calloc(BATCH, sizeof(*rows));
    for (int i = 0; i < BATCH; i++) {
        rows[i] = make_row(0, DAY1 + i, "acme", "key_0123456789abcdef", "gpt-4o-mini", "openai");
        snprintf(rows[i].request_id, sizeof(rows[i].request_id), "0123456789abcdef0123456789abcdef");
        rows[i].prompt_tokens = 120;
        rows[i].completion_tokens = 300;
        rows[i].cost_usd = 0.0002;
    }
    double t0 = tg_clock_seconds();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++)
            rows[i].id = (int64_t)b * BATCH + i + 1;
        size_t inserted;
        assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
        assert_int_equal(f->m->ledger_append(f->s, rows, BATCH, false, &inserted), TG_STORE_OK);
        assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
        assert_int_equal(inserted, BATCH);
    }
    double seconds = tg_clock_seconds() - t0;
    print_message("ledger_append: %.0f rows/s in %d-row transactions (%.2f ms a batch, synchronous=NORMAL)\n",
                  BATCH * BATCHES / seconds, BATCH, seconds / BATCHES * 1e3);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM ledger"), BATCH * BATCHES);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_org_bad_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_block_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_migrates_from_a_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_rate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
