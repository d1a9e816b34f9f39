/* test_admin.c: the admin operations through tg_admin_execute on a
 * temporary SQLite database: every endpoint's answer and every error,
 * the audit entries each change writes (and that a secret is never in
 * one), usage totals over ledger rows, a store failure rolling back; and
 * the CLI (tg_admin_cli) from argv to exit status and output, on a
 * configuration file the test writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/admin.h"
#include "obs/log.h"
#include "store/key_hash.h"
#include "tests/db_fixture.h"

#define NOW 1764460800.0 /* 2025-11-30T00:00:00Z */

static char dir[] = "/tmp/tg_admin.XXXXXX";
static char db_path[256];
static tg_store_t *store;
static const char *const plans[] = {"free", "trial", "paid", "enterprise"};
static const tg_admin_env_t env = {.plans = plans, .plan_count = 4, .now = NOW};
static tg_admin_response_t last; /* the flags of the latest call */

static int group_setup(void **state)
{
    /* The audit lines are not what these tests read: keep the output quiet. */
    tg_log_configure(2, TG_LOG_TEXT, TG_LOG_ERROR);
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return rmdir(dir);
}

static int open_store(void **state)
{
    snprintf(db_path, sizeof(db_path), "%s/admin.db", dir);
    tg_test_remove_db(db_path);
    tg_store_options_t o = {.path = db_path, .busy_timeout_ms = 1000};
    char *err = NULL;
    if (tg_store_backend("sqlite")->open(&o, &store, &err) != TG_STORE_OK) {
        fprintf(stderr, "open: %s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

static int close_store(void **state)
{
    store->methods->close(store);
    store = NULL;
    tg_test_remove_db(db_path);
    return 0;
}

/* Runs "METHOD /path?query" with body; asserts the status; returns the
 * answer's JSON. */
static json_t *call(tg_method_t method, const char *target, const char *body, int status)
{
    const char *q = strchr(target, '?');
    tg_admin_request_t req = {
        .method = method,
        .path = target,
        .path_len = q != NULL ? (size_t)(q - target) : strlen(target),
        .query = q != NULL ? q + 1 : NULL,
        .query_len = q != NULL ? strlen(q + 1) : 0,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .user_id = "admin",
        .request_id = "req-42",
        .client_addr = "127.0.0.1:5000",
    };
    tg_admin_execute(store, &env, &req, &last);
    assert_non_null(last.body);
    assert_int_equal(last.body[last.body_len - 1], '\n');
    if (last.status != status)
        fail_msg("%s %s: expected %d, got %d: %s", tg_method_name(method), target, status, last.status, last.body);
    json_error_t err;
    json_t *j = json_loadb(last.body, last.body_len, 0, &err);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", err.text, last.body);
    free(last.body);
    last.body = NULL;
    return j;
}

/* Asserts an error answer: status, code, param (NULL: null). */
static void expect_error(tg_method_t method, const char *target, const char *body, int status, const char *code,
                         const char *param)
{
    json_t *j = call(method, target, body, status);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_non_null(json_string_value(json_object_get(e, "message")));
    assert_non_null(json_string_value(json_object_get(e, "type")));
    if (param == NULL)
        assert_true(json_is_null(json_object_get(e, "param")));
    else
        assert_string_equal(json_string_value(json_object_get(e, "param")), param);
    assert_false(last.keys_changed || last.orgs_changed);
    json_decref(j);
}

static void expect_ok(tg_method_t method, const char *target, const char *body, int status)
{
    json_decref(call(method, target, body, status));
}

static int count_cb(void *ctx, const tg_audit_entry_t *e)
{
    (*(size_t *)ctx)++;
    return 0;
}

static size_t audit_count(void)
{
    size_t n = 0;
    assert_int_equal(store->methods->audit_list(store, NULL, -1, 10000, count_cb, &n), TG_STORE_OK);
    return n;
}

/* The newest audit entry. */
static int first_cb(void *ctx, const tg_audit_entry_t *e)
{
    *(tg_audit_entry_t *)ctx = *e;
    return 1;
}

static tg_audit_entry_t newest_entry(int action)
{
    tg_audit_entry_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(store->methods->audit_list(store, NULL, action, 1, first_cb, &e), TG_STORE_OK);
    assert_true(e.id > 0);
    return e;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_int_t num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void assert_null_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    assert_true(json_is_null(v));
}

/* ------------------------------------------------------------- orgs */

static void test_orgs(void **state)
{
    json_t *o = call(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    assert_true(last.orgs_changed);
    assert_false(last.keys_changed);
    assert_string_equal(str(o, "object"), "organization");
    assert_string_equal(str(o, "name"), "acme");
    assert_string_equal(str(o, "plan"), "free"); /* the first plan */
    assert_int_equal(num(o, "created"), (json_int_t)NOW);
    json_t *p = json_object_get(o, "policy");
    for (const char *const *f = (const char *const[]){"rpm", "tpm", "max_concurrent", "budget_usd", "models", NULL};
         *f != NULL; f++)
        assert_null_member(p, *f);
    json_decref(o);

    o = call(TG_METHOD_POST, "/admin/v1/orgs",
             "{\"name\":\"beta.co_1-x\",\"plan\":\"trial\",\"rpm\":60,\"tpm\":0,\"max_concurrent\":null,"
             "\"budget_usd\":25,\"models\":[\"gpt-4o-mini\",\"m2\"]}",
             201);
    p = json_object_get(o, "policy");
    assert_int_equal(num(p, "rpm"), 60);
    assert_int_equal(num(p, "tpm"), 0);
    assert_null_member(p, "max_concurrent");
    assert_true(json_is_real(json_object_get(p, "budget_usd")));
    assert_true(json_real_value(json_object_get(p, "budget_usd")) == 25.0);
    assert_int_equal(json_array_size(json_object_get(p, "models")), 2);
    json_decref(o);

    json_t *list = call(TG_METHOD_GET, "/admin/v1/orgs", NULL, 200);
    assert_false(last.orgs_changed);
    assert_string_equal(str(list, "object"), "list");
    json_t *data = json_object_get(list, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "name"), "acme");
    assert_string_equal(str(json_array_get(data, 1), "name"), "beta.co_1-x");
    json_decref(list);

    /* PATCH: the plan and the policy change; null clears, absent keeps */
    size_t before = audit_count();
    o = call(TG_METHOD_PATCH, "/admin/v1/orgs/beta.co_1-x", "{\"plan\":\"paid\",\"rpm\":null,\"budget_usd\":7.5}", 200);
    assert_true(last.orgs_changed);
    assert_string_equal(str(o, "plan"), "paid");
    p = json_object_get(o, "policy");
    assert_null_member(p, "rpm");
    assert_int_equal(num(p, "tpm"), 0);
    assert_true(json_real_value(json_object_get(p, "budget_usd")) == 7.5);
    assert_int_equal(json_array_size(json_object_get(p, "models")), 2);
    json_decref(o);
    assert_int_equal(audit_count(), before + 2);
    tg_audit_entry_t e = newest_entry(TG_AUDIT_ORG_UPDATED);
    assert_string_equal(e.org, "beta.co_1-x");
    assert_string_equal(e.detail, "{\"plan\":{\"from\":\"trial\",\"to\":\"paid\"}}");
    e = newest_entry(TG_AUDIT_POLICY_UPDATE);
    assert_string_equal(e.detail, "{\"rpm\":null,\"budget_usd\":7.5}");
    assert_string_equal(e.key_id, "");

    /* the same values again: nothing changes, nothing is audited */
    o = call(TG_METHOD_PATCH, "/admin/v1/orgs/beta.co_1-x", "{\"plan\":\"paid\",\"budget_usd\":7.5}", 200);
    assert_false(last.orgs_changed);
    json_decref(o);
    assert_int_equal(audit_count(), before + 2);

    /* stored as answered */
    tg_org_t org;
    assert_int_equal(store->methods->org_get(store, "beta.co_1-x", &org), TG_STORE_OK);
    assert_string_equal(org.plan, "paid");
    assert_true(org.policy.rpm < 0);
    assert_int_equal(org.policy.model_count, 2);
}

static void test_org_errors(void **state)
{
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    size_t audits = audit_count();
    const char *orgs = "/admin/v1/orgs";
    expect_error(TG_METHOD_POST, orgs, "{\"name\":", 400, "invalid_request", NULL);
    expect_error(TG_METHOD_POST, orgs, NULL, 400, "invalid_request", NULL);
    expect_error(TG_METHOD_POST, orgs, "[1]", 400, "invalid_request", NULL);
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"a\",\"name\":\"b\"}", 400, "invalid_request", NULL);
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"colour\":1}", 400, "invalid_request", "colour");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"org\":\"y\"}", 400, "invalid_request", "org");
    expect_error(TG_METHOD_POST, orgs, "{\"plan\":\"free\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"a b\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"a/b\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":7}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"anonymous\"}", 400, "invalid_request", "name");
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%065d\"}", 0); /* 65 characters */
    expect_error(TG_METHOD_POST, orgs, body, 400, "invalid_request", "name");
    snprintf(body, sizeof(body), "{\"name\":\"%064d\"}", 0); /* 64: fine */
    expect_ok(TG_METHOD_POST, orgs, body, 201);
    audits++;
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"plan\":\"gold\"}", 400, "invalid_request", "plan");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"plan\":null}", 400, "invalid_request", "plan");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"acme\"}", 409, "already_exists", "name");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"rpm\":-1}", 400, "invalid_request", "rpm");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"tpm\":1.5}", 400, "invalid_request", "tpm");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"max_concurrent\":\"3\"}", 400, "invalid_request",
                 "max_concurrent");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"budget_usd\":-0.5}", 400, "invalid_request", "budget_usd");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"budget_usd\":true}", 400, "invalid_request", "budget_usd");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"models\":[]}", 400, "invalid_request", "models");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"models\":\"m\"}", 400, "invalid_request", "models");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"models\":[\"a\",\"a\"]}", 400, "invalid_request", "models");
    expect_error(TG_METHOD_POST, orgs, "{\"name\":\"x\",\"models\":[\"a b\"]}", 400, "invalid_request", "models");
    expect_error(TG_METHOD_POST, orgs,
                 "{\"name\":\"x\",\"models\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\","
                 "\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
                 400, "invalid_request", "models");
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/nobody", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/bad%20name", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/acme", "{\"plan\":null}", 400, "invalid_request", "plan");
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/acme", "{\"name\":\"other\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/acme", "{\"plan\":\"gold\"}", 400, "invalid_request", "plan");
    /* nothing changed */
    json_t *list = call(TG_METHOD_GET, "/admin/v1/orgs", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    json_decref(list);
    assert_int_equal(audit_count(), audits);
}

/* ------------------------------------------------------------- keys */

/* Creates a key; returns its answer, the secret in "key". */
static json_t *create_key(const char *org, const char *name, const char *extra)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"org\":\"%s\",\"name\":\"%s\"%s}", org, name, extra);
    return call(TG_METHOD_POST, "/admin/v1/keys", body, 201);
}

static bool audit_has(const tg_audit_entry_t *e, const char *text)
{
    const char *fields[] = {e->org, e->user_id, e->request_id, e->key_id, e->key_hint, e->client_addr, e->reason,
                            e->detail};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strstr(fields[i], text) != NULL)
            return true;
    return false;
}

typedef struct secret_scan {
    const char *secret;
    size_t entries;
    bool found;
} secret_scan_t;

static int scan_cb(void *ctx, const tg_audit_entry_t *e)
{
    secret_scan_t *scan = ctx;
    scan->entries++;
    /* the random part, and a piece of it long enough to matter */
    char piece[9];
    snprintf(piece, sizeof(piece), "%s", scan->secret + 10);
    scan->found |= audit_has(e, scan->secret + 3) || audit_has(e, piece);
    return 0;
}

static void test_keys(void **state)
{
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"other\"}", 201);
    json_t *k = create_key("acme", "ci", ",\"models\":[\"gpt-4o-mini\"]");
    assert_true(last.keys_changed);
    assert_string_equal(str(k, "object"), "api_key");
    const char *secret = str(k, "key");
    assert_non_null(secret);
    assert_int_equal(strlen(secret), TG_KEY_SECRET_LEN);
    assert_memory_equal(secret, "tg-", 3);
    const char *id = str(k, "id");
    assert_int_equal(strlen(id), 20);
    assert_memory_equal(id, "key_", 4);
    assert_int_equal(strspn(id + 4, "0123456789abcdef"), 16);
    char hint[TG_STORE_KEY_HINT_MAX + 1];
    tg_key_hint(secret, strlen(secret), hint);
    assert_string_equal(str(k, "hint"), hint);
    assert_string_equal(str(k, "org"), "acme");
    assert_string_equal(str(k, "name"), "ci");
    assert_int_equal(num(k, "created"), (json_int_t)NOW);
    assert_null_member(k, "last_used");
    assert_null_member(k, "revoked");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(k, "policy"), "models"), 0)),
                        "gpt-4o-mini");

    /* the store finds it by the secret's hash */
    uint8_t hash[32];
    tg_key_hash(secret, strlen(secret), hash);
    tg_key_t found;
    assert_int_equal(store->methods->key_find(store, hash, &found), TG_STORE_OK);
    assert_string_equal(found.id, id);

    char secret_copy[64], id_copy[32], path[128];
    snprintf(secret_copy, sizeof(secret_copy), "%s", secret);
    snprintf(id_copy, sizeof(id_copy), "%s", id);
    json_decref(k);
    json_decref(create_key("other", "ci", "")); /* a name is unique within its org only */

    /* listed, never with a secret */
    json_t *list = call(TG_METHOD_GET, "/admin/v1/keys", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    char *text = json_dumps(list, 0);
    assert_null(strstr(text, secret_copy + 3));
    assert_null(json_object_get(json_array_get(json_object_get(list, "data"), 0), "key"));
    free(text);
    json_decref(list);
    list = call(TG_METHOD_GET, "/admin/v1/keys?org=acme", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 1);
    assert_string_equal(str(json_array_get(json_object_get(list, "data"), 0), "id"), id_copy);
    json_decref(list);
    list = call(TG_METHOD_GET, "/admin/v1/keys?org=nobody", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 0);
    json_decref(list);

    /* PATCH: rename and limits */
    snprintf(path, sizeof(path), "/admin/v1/keys/%s", id_copy);
    k = call(TG_METHOD_PATCH, path, "{\"name\":\"deploy\",\"rpm\":10,\"models\":null}", 200);
    assert_true(last.keys_changed);
    assert_string_equal(str(k, "name"), "deploy");
    assert_null(json_object_get(k, "key"));
    assert_int_equal(num(json_object_get(k, "policy"), "rpm"), 10);
    assert_null_member(json_object_get(k, "policy"), "models");
    json_decref(k);
    tg_audit_entry_t e = newest_entry(TG_AUDIT_POLICY_UPDATE);
    assert_string_equal(e.key_id, id_copy);
    assert_string_equal(e.org, "acme");
    assert_string_equal(e.detail, "{\"name\":\"deploy\",\"rpm\":10,\"models\":null}");

    /* DELETE revokes; again: the same answer and no second entry */
    k = call(TG_METHOD_DELETE, path, NULL, 200);
    assert_true(last.keys_changed);
    assert_int_equal(num(k, "revoked"), (json_int_t)NOW);
    json_decref(k);
    size_t audits = audit_count();
    k = call(TG_METHOD_DELETE, path, NULL, 200);
    assert_false(last.keys_changed);
    assert_int_equal(num(k, "revoked"), (json_int_t)NOW);
    json_decref(k);
    assert_int_equal(audit_count(), audits);
    e = newest_entry(TG_AUDIT_KEY_REVOKED);
    assert_string_equal(e.key_id, id_copy);
    expect_error(TG_METHOD_PATCH, path, "{\"rpm\":1}", 409, "key_revoked", NULL);

    /* key_created: who, from where, which key */
    e = newest_entry(TG_AUDIT_KEY_CREATED);
    assert_string_equal(e.user_id, "admin");
    assert_string_equal(e.request_id, "req-42");
    assert_string_equal(e.client_addr, "127.0.0.1:5000");
    assert_true(e.ts == NOW);

    /* the secret is in no audit row */
    secret_scan_t scan = {.secret = secret_copy};
    assert_int_equal(store->methods->audit_list(store, NULL, -1, 1000, scan_cb, &scan), TG_STORE_OK);
    assert_true(scan.entries >= 6);
    assert_false(scan.found);
}

static void test_key_errors(void **state)
{
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    json_t *k = create_key("acme", "ci", "");
    char path[128];
    snprintf(path, sizeof(path), "/admin/v1/keys/%s", str(k, "id"));
    json_decref(k);
    json_decref(create_key("acme", "other", ""));
    size_t audits = audit_count();
    const char *keys = "/admin/v1/keys";
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"nobody\",\"name\":\"ci\"}", 404, "not_found", "org");
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"acme\",\"name\":\"ci\"}", 409, "already_exists", "name");
    expect_error(TG_METHOD_POST, keys, "{\"name\":\"ci\"}", 400, "invalid_request", "org");
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"acme\"}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"acme\",\"name\":\"x\",\"plan\":\"free\"}", 400, "invalid_request",
                 "plan");
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"acme\",\"name\":\"x\",\"key\":\"tg-mine\"}", 400,
                 "invalid_request", "key");
    expect_error(TG_METHOD_POST, keys, "{\"org\":\"acme\",\"name\":\"x\",\"rpm\":\"many\"}", 400, "invalid_request",
                 "rpm");
    expect_error(TG_METHOD_PATCH, "/admin/v1/keys/key_0000000000000000", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_DELETE, "/admin/v1/keys/key_0000000000000000", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_PATCH, path, "{\"name\":\"other\"}", 409, "already_exists", "name");
    expect_error(TG_METHOD_PATCH, path, "{\"org\":\"acme\"}", 400, "invalid_request", "org");
    expect_error(TG_METHOD_PATCH, path, "{\"name\":null}", 400, "invalid_request", "name");
    expect_error(TG_METHOD_GET, "/admin/v1/keys?org=a%20b", NULL, 400, "invalid_request", "org");
    assert_int_equal(audit_count(), audits);
    json_t *list = call(TG_METHOD_GET, keys, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    json_decref(list);
}

static void test_new_key(void **state)
{
    tg_key_t a, b;
    char sa[48], sb[48];
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(tg_admin_new_key(&a, sa), 0);
    assert_int_equal(tg_admin_new_key(&b, sb), 0);
    assert_int_equal(strlen(sa), TG_KEY_SECRET_LEN);
    assert_int_equal(strspn(sa + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_string_not_equal(sa, sb);
    assert_string_not_equal(a.id, b.id);
    uint8_t hash[32];
    tg_key_hash(sa, strlen(sa), hash);
    assert_memory_equal(hash, a.hash, 32);
    assert_memory_equal(a.hint, "tg-\xe2\x80\xa6", 6);
    assert_string_equal(a.hint + 6, sa + strlen(sa) - 4);
}

/* ---------------------------------------------------------- routing */

static void test_routing(void **state)
{
    expect_error(TG_METHOD_GET, "/admin/v1/nope", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_GET, "/admin/v2/orgs", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/orgsx", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/a/b", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/usage/x", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_DELETE, "/admin/v1/orgs", NULL, 405, "method_not_allowed", NULL);
    expect_error(TG_METHOD_POST, "/admin/v1/usage", "{}", 405, "method_not_allowed", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/orgs/acme", NULL, 405, "method_not_allowed", NULL);
    expect_error(TG_METHOD_PUT, "/admin/v1/keys/key_1", "{}", 405, "method_not_allowed", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/orgs?x=1", NULL, 400, "invalid_request", "x");
    expect_error(TG_METHOD_GET, "/admin/v1/keys?org=a&org=b", NULL, 400, "invalid_request", "org");
    expect_error(TG_METHOD_GET, "/admin/v1/keys?org=%zz", NULL, 400, "invalid_request", "org");
    expect_error(TG_METHOD_GET, "/admin/v1/keys?org=a%00", NULL, 400, "invalid_request", "org");
    /* escapes are decoded, empty parameters ignored */
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"a.b\"}", 201);
    expect_ok(TG_METHOD_PATCH, "/admin/v1/orgs/a%2Eb", "{\"rpm\":1}", 200);
    expect_ok(TG_METHOD_GET, "/admin/v1/keys?&org=a%2eb&", NULL, 200);
    expect_ok(TG_METHOD_GET, "/admin/v1/keys?org=", NULL, 200);
}

/* Bytes that are not UTF-8 in a path, a query or a message cut inside a
 * character: the error keeps its message and param (with U+FFFD), as
 * OpenAI's shape has them, rather than losing them to json_string. */
static void test_errors_not_utf8(void **state)
{
    expect_error(TG_METHOD_GET, "/admin/v1/keys?%ff=1", NULL, 400, "invalid_request", "\xef\xbf\xbd");
    expect_error(TG_METHOD_GET, "/admin/v1/keys?org%C3=1", NULL, 400, "invalid_request", "org\xef\xbf\xbd");
    expect_error(TG_METHOD_PATCH, "/admin/v1/orgs/%ff", "{}", 404, "not_found", NULL);
    expect_error(TG_METHOD_DELETE, "/admin/v1/keys/%ff%fe", NULL, 404, "not_found", NULL);
    expect_error(TG_METHOD_GET, "/admin/v1/\xff\xfe", NULL, 404, "not_found", NULL);
    /* "unknown field <600 bytes of e-acute>": the message is cut at 511
     * bytes, inside a character */
    char body[1024] = "{\"";
    for (int i = 0; i < 300; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\":1}");
    char field[601];
    snprintf(field, sizeof(field), "%.*s", 600, body + 2);
    expect_error(TG_METHOD_POST, "/admin/v1/orgs", body, 400, "invalid_request", field);
}

/* ------------------------------------------------------------- audit */

static void test_audit_listing(void **state)
{
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"beta\"}", 201);
    json_t *k = create_key("acme", "ci", "");
    char id[32];
    snprintf(id, sizeof(id), "%s", str(k, "id"));
    json_decref(k);

    json_t *list = call(TG_METHOD_GET, "/admin/v1/audit", NULL, 200);
    json_t *data = json_object_get(list, "data");
    assert_int_equal(json_array_size(data), 3);
    json_t *e = json_array_get(data, 0); /* newest first */
    assert_string_equal(str(e, "object"), "audit_entry");
    assert_string_equal(str(e, "action"), "key_created");
    assert_string_equal(str(e, "org_id"), "acme");
    assert_string_equal(str(e, "user_id"), "admin");
    assert_string_equal(str(e, "request_id"), "req-42");
    assert_string_equal(str(e, "client_addr"), "127.0.0.1:5000");
    assert_string_equal(str(e, "key_id"), id);
    assert_int_equal(num(e, "timestamp"), (json_int_t)NOW);
    assert_null_member(e, "key_hint");
    assert_null_member(e, "reason");
    assert_null_member(e, "detail");
    assert_true(num(e, "id") > num(json_array_get(data, 1), "id"));
    assert_string_equal(str(json_array_get(data, 2), "action"), "org_created");
    json_decref(list);

    list = call(TG_METHOD_GET, "/admin/v1/audit?action=org_created&limit=1", NULL, 200);
    data = json_object_get(list, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(str(json_array_get(data, 0), "org_id"), "beta");
    json_decref(list);
    list = call(TG_METHOD_GET, "/admin/v1/audit?org=acme", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    json_decref(list);

    expect_ok(TG_METHOD_PATCH, "/admin/v1/orgs/acme", "{\"models\":[\"a\"]}", 200);
    list = call(TG_METHOD_GET, "/admin/v1/audit?limit=1", NULL, 200);
    e = json_array_get(json_object_get(list, "data"), 0);
    assert_string_equal(str(e, "action"), "policy_update");
    /* detail is shown as the JSON it is */
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(e, "detail"), "models"), 0)), "a");
    json_decref(list);

    expect_error(TG_METHOD_GET, "/admin/v1/audit?action=key_eaten", NULL, 400, "invalid_request", "action");
    expect_error(TG_METHOD_GET, "/admin/v1/audit?limit=0", NULL, 400, "invalid_request", "limit");
    expect_error(TG_METHOD_GET, "/admin/v1/audit?limit=1001", NULL, 400, "invalid_request", "limit");
    expect_error(TG_METHOD_GET, "/admin/v1/audit?limit=ten", NULL, 400, "invalid_request", "limit");
    expect_error(TG_METHOD_GET, "/admin/v1/audit?limit=-5", NULL, 400, "invalid_request", "limit");
    expect_error(TG_METHOD_GET, "/admin/v1/audit?org=no%2Fpe", NULL, 400, "invalid_request", "org");
    expect_ok(TG_METHOD_GET, "/admin/v1/audit?limit=1000", NULL, 200);
}

/* A long list of models still leaves a valid JSON detail. */
static void test_long_detail(void **state)
{
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
    char body[2048] = "{\"models\":[";
    for (int i = 0; i < TG_STORE_MODELS_MAX; i++) {
        size_t len = strlen(body);
        snprintf(body + len, sizeof(body) - len, "%s\"model-%02d-%050d\"", i > 0 ? "," : "", i, 0);
    }
    strcat(body, "],\"rpm\":5}");
    expect_ok(TG_METHOD_PATCH, "/admin/v1/orgs/acme", body, 200);
    tg_audit_entry_t e = newest_entry(TG_AUDIT_POLICY_UPDATE);
    assert_string_equal(e.detail, "{\"rpm\":5,\"models\":16}");
    tg_org_t org;
    assert_int_equal(store->methods->org_get(store, "acme", &org), TG_STORE_OK);
    assert_int_equal(org.policy.model_count, TG_STORE_MODELS_MAX);
}

/* ------------------------------------------------------------- usage */

static tg_ledger_row_t row(int64_t id, double ts, const char *org, const char *key_id, const char *model,
                           int64_t prompt, int64_t completion, double cost)
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
    snprintf(r.provider, sizeof(r.provider), "openai");
    snprintf(r.operation, sizeof(r.operation), "chat");
    r.prompt_tokens = prompt;
    r.completion_tokens = completion;
    r.cached_tokens = prompt / 2;
    r.cost_usd = cost;
    r.status = 200;
    r.ttft_seconds = -1;
    r.estimated = id == 4;
    return r;
}

static json_t *usage(const char *query, int status)
{
    char target[512];
    snprintf(target, sizeof(target), "/admin/v1/usage%s", query);
    return call(TG_METHOD_GET, target, NULL, status);
}

static void test_usage(void **state)
{
    /* 2025-11-30 (NOW) and the day after */
    tg_ledger_row_t rows[] = {
        row(1, NOW + 10, "acme", "key_a", "gpt-4o-mini", 10, 15, 0.0000105),
        row(2, NOW + 20, "acme", "key_a", "gpt-4o-mini", 10, 15, 0.0000105),
        row(3, NOW + 3600, "acme", "key_b", "gpt-4o", 100, 50, 0.00075),
        row(4, NOW + 86400 + 5, "beta", "key_c", "gpt-4o-mini", 10, 15, 0.0000105),
    };
    size_t inserted = 0;
    assert_int_equal(store->methods->ledger_append(store, rows, 4, false, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 4);

    json_t *u = usage("", 200);
    assert_string_equal(str(u, "object"), "usage");
    assert_null_member(u, "group_by");
    assert_null_member(u, "from");
    assert_null_member(u, "to");
    json_t *t = json_object_get(u, "total");
    assert_null(json_object_get(t, "group"));
    assert_int_equal(num(t, "requests"), 4);
    assert_int_equal(num(t, "prompt_tokens"), 130);
    assert_int_equal(num(t, "cached_tokens"), 65);
    assert_int_equal(num(t, "completion_tokens"), 95);
    assert_int_equal(num(t, "total_tokens"), 225);
    assert_int_equal(num(t, "estimated_requests"), 1);
    assert_float_equal(json_real_value(json_object_get(t, "cost_usd")), 0.0007815, 1e-12);
    assert_int_equal(json_array_size(json_object_get(u, "data")), 1);
    assert_null_member(json_array_get(json_object_get(u, "data"), 0), "group");
    json_decref(u);

    u = usage("?group_by=model", 200);
    assert_string_equal(str(u, "group_by"), "model");
    json_t *data = json_object_get(u, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "group"), "gpt-4o");
    assert_int_equal(num(json_array_get(data, 0), "total_tokens"), 150);
    assert_string_equal(str(json_array_get(data, 1), "group"), "gpt-4o-mini");
    assert_int_equal(num(json_array_get(data, 1), "requests"), 3);
    assert_int_equal(num(json_array_get(data, 1), "total_tokens"), 75);
    assert_int_equal(num(json_object_get(u, "total"), "requests"), 4);
    json_decref(u);

    u = usage("?org=acme&group_by=key", 200);
    data = json_object_get(u, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "group"), "key_a");
    assert_int_equal(num(json_object_get(u, "total"), "requests"), 3);
    json_decref(u);

    u = usage("?key=key_b", 200);
    assert_int_equal(num(json_object_get(u, "total"), "requests"), 1);
    json_decref(u);

    u = usage("?group_by=day", 200);
    data = json_object_get(u, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "group"), "2025-11-30");
    assert_string_equal(str(json_array_get(data, 1), "group"), "2025-12-01");
    json_decref(u);

    /* from <= ts < to, in every form a time is accepted */
    static const struct {
        const char *query;
        json_int_t requests;
    } ranges[] = {
        {"?from=2025-12-01", 1},
        {"?to=2025-12-01", 3},
        {"?from=1764460815", 3},                            /* Unix seconds */
        {"?from=1764460810&to=1764460820", 1},              /* rows 1 only */
        {"?from=2025-11-30T00:00:15Z", 3},
        {"?from=2025-11-30t00:00:15.5z", 3},
        {"?from=2025-11-30T01:00:15%2B01:00", 3},           /* +01:00, escaped */
        {"?from=2025-11-30T01:00:15+01:00", 3},             /* '+' is not a space */
        {"?from=2025-11-29T23:00:15-01:00&to=2025-11-30T01:00:01Z", 2},
        {"?from=2025-11-30T00:59:59Z&to=2025-11-30T01:00:01Z", 1},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        u = usage(ranges[i].query, 200);
        if (num(json_object_get(u, "total"), "requests") != ranges[i].requests)
            fail_msg("%s: %lld requests", ranges[i].query, (long long)num(json_object_get(u, "total"), "requests"));
        json_decref(u);
    }
    u = usage("?from=2025-12-01&to=2025-12-02", 200);
    assert_int_equal(num(u, "from"), (json_int_t)NOW + 86400);
    assert_int_equal(num(u, "to"), (json_int_t)NOW + 2 * 86400);
    json_decref(u);

    static const char *const bad_times[] = {
        "yesterday", "2025-02-29", "2025-13-01", "2025-11-31", "2025-11-30T24:00:00Z", "2025-11-30T12:00:00",
        "2025-11-30T12:00Z", "2025-11-30T12:00:00+1:00", "2025-11-30 12:00:00Z", "1.2.3", "-5", "2025-11-30Z",
        "1969-12-31", "99999999999999999999", "253402300800", "9999-12-31T23:59:59-00:01",
    };
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        char query[128];
        snprintf(query, sizeof(query), "/admin/v1/usage?from=%s", bad_times[i]);
        expect_error(TG_METHOD_GET, query, NULL, 400, "invalid_request", "from");
    }
    expect_error(TG_METHOD_GET, "/admin/v1/usage?to=2025-13-01", NULL, 400, "invalid_request", "to");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?from=2025-12-01&to=2025-12-01", NULL, 400, "invalid_request", "to");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?group_by=colour", NULL, 400, "invalid_request", "group_by");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?org=a%20b", NULL, 400, "invalid_request", "org");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?key=k%3Bdrop", NULL, 400, "invalid_request", "key");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?month=11", NULL, 400, "invalid_request", "month");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?to=1e400", NULL, 400, "invalid_request", "to");
    expect_error(TG_METHOD_GET, "/admin/v1/usage?to=1000000000000000000000", NULL, 400, "invalid_request", "to");
    /* the last second a YYYY year has, as seconds and as RFC 3339 */
    u = usage("?from=253402300799&to=9999-12-31T23:59:59.5Z", 200);
    assert_int_equal(num(u, "from"), 253402300799);
    json_decref(u);
    /* 2024 is a leap year */
    expect_ok(TG_METHOD_GET, "/admin/v1/usage?from=2024-02-29", NULL, 200);
}

/* ------------------------------------------------------ store failure */

static tg_store_status_t busy_commit(tg_store_t *s)
{
    return TG_STORE_BUSY;
}

static tg_store_status_t busy_begin(tg_store_t *s)
{
    return TG_STORE_BUSY;
}

static void test_store_unavailable(void **state)
{
    const tg_store_methods_t *real = store->methods;
    tg_store_methods_t failing = *real;
    failing.commit = busy_commit;
    store->methods = &failing;
    expect_error(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 503, "store_unavailable", NULL);
    failing.commit = real->commit;
    failing.begin = busy_begin;
    expect_error(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 503, "store_unavailable", NULL);
    store->methods = real;
    /* rolled back: neither the org nor its audit entry is there */
    tg_org_t org;
    assert_int_equal(store->methods->org_get(store, "acme", &org), TG_STORE_NOT_FOUND);
    assert_int_equal(audit_count(), 0);
    expect_ok(TG_METHOD_POST, "/admin/v1/orgs", "{\"name\":\"acme\"}", 201);
}

/* --------------------------------------------------------------- CLI */

static char config_path[300];

/* What one run of the CLI printed. */
typedef struct cli_run {
    int status;
    char out[16384];
    char err[16384];
} cli_run_t;

static void read_all(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs tg_admin_cli on the words of `line` (split at spaces), stdout and
 * stderr captured. */
static void cli(cli_run_t *r, const char *line)
{
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", line);
    char *argv[32];
    int argc = 0;
    for (char *w = strtok(copy, " "); w != NULL && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    r->status = tg_admin_cli(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    read_all(out, r->out, sizeof(r->out));
    read_all(err, r->err, sizeof(r->err));
}

static void expect_cli(cli_run_t *r, int status, const char *line)
{
    cli(r, line);
    if (r->status != status)
        fail_msg("%s: exit %d, expected %d\nstdout: %s\nstderr: %s", line, r->status, status, r->out, r->err);
}

static int cli_setup(void **state)
{
    snprintf(config_path, sizeof(config_path), "%s/tollgate.yaml", dir);
    snprintf(db_path, sizeof(db_path), "%s/cli.db", dir);
    tg_test_remove_db(db_path);
    FILE *f = fopen(config_path, "w");
    if (f == NULL)
        return -1;
    /* the path relative to the file's directory, as a deployment writes it */
    fputs("logging: { level: error }\n"
          "store: { path: cli.db, busy_timeout_ms: 1000 }\n"
          "tenancy: { plans: [trial, paid] }\n"
          "providers:\n"
          "  - name: p\n"
          "    base_url: http://127.0.0.1:9/v1\n"
          "models:\n"
          "  - name: m\n"
          "    routes:\n"
          "      - provider: p\n",
          f);
    fclose(f);
    unsetenv("TOLLGATE_CONFIG");
    return 0;
}

static int cli_teardown(void **state)
{
    unlink(config_path);
    tg_test_remove_db(db_path);
    tg_log_configure(2, TG_LOG_TEXT, TG_LOG_ERROR);
    return 0;
}

static void test_cli(void **state)
{
    cli_run_t *r = malloc(sizeof(*r));
    char line[512];
    const char *c = config_path;

    snprintf(line, sizeof(line), "orgs create acme --config %s --rpm 60 --budget-usd 2.5 --models a,b", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "acme"));
    assert_non_null(strstr(r->out, "trial")); /* the first of this file's plans */
    assert_non_null(strstr(r->out, "a,b"));
    assert_non_null(strstr(r->out, "2.5"));

    snprintf(line, sizeof(line), "orgs list --json --config=%s", c);
    expect_cli(r, 0, line);
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    json_t *org = json_array_get(json_object_get(j, "data"), 0);
    assert_string_equal(str(org, "name"), "acme");
    assert_int_equal(num(json_object_get(org, "policy"), "rpm"), 60);
    json_decref(j);

    /* TOLLGATE_CONFIG stands in for --config */
    setenv("TOLLGATE_CONFIG", c, 1);
    expect_cli(r, 0, "orgs update acme --plan paid --rpm none");
    unsetenv("TOLLGATE_CONFIG");
    assert_non_null(strstr(r->out, "paid"));
    snprintf(line, sizeof(line), "orgs list --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "NAME"));
    assert_non_null(strstr(r->out, "MAX_CONCURRENT"));
    assert_non_null(strstr(r->out, "paid"));

    snprintf(line, sizeof(line), "keys create --org acme --name ci --tpm 1000 --config %s --json", c);
    expect_cli(r, 0, line);
    j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    char id[32], secret[64];
    snprintf(id, sizeof(id), "%s", str(j, "id"));
    snprintf(secret, sizeof(secret), "%s", str(j, "key"));
    json_decref(j);
    assert_int_equal(strlen(secret), TG_KEY_SECRET_LEN);

    /* as text: the secret on a line of its own, said to be shown once */
    snprintf(line, sizeof(line), "keys create --org acme --name deploy --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "shown this once"));
    char *last_line = r->out + strlen(r->out) - 1;
    assert_int_equal(*last_line, '\n');
    *last_line = '\0';
    last_line = strrchr(r->out, '\n') + 1;
    assert_int_equal(strlen(last_line), TG_KEY_SECRET_LEN);
    assert_memory_equal(last_line, "tg-", 3);
    assert_null(strstr(r->err, last_line)); /* not in the audit line */

    snprintf(line, sizeof(line), "keys list --org acme --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, id));
    assert_non_null(strstr(r->out, "HINT"));
    assert_null(strstr(r->out, secret + 3));

    snprintf(line, sizeof(line), "keys update %s --name build --tpm none --config %s", id, c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "build"));
    snprintf(line, sizeof(line), "keys revoke %s --config %s", id, c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "revoked"));
    snprintf(line, sizeof(line), "keys update %s --rpm 1 --config %s", id, c);
    expect_cli(r, 1, line);
    assert_non_null(strstr(r->err, "revoked"));

    snprintf(line, sizeof(line), "usage --group-by model --from 2025-11-30 --to 2025-11-30T12:00:00+01:00 --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "TOTAL_TOKENS"));
    assert_non_null(strstr(r->out, "total"));
    snprintf(line, sizeof(line), "usage --json --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "\"object\":\"usage\""));

    snprintf(line, sizeof(line), "audit --json --action key_created --limit 5 --config %s", c);
    expect_cli(r, 0, line);
    j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "user_id"), "cli");
    assert_null_member(json_array_get(data, 0), "request_id");
    assert_null_member(json_array_get(data, 0), "client_addr");
    json_decref(j);
    snprintf(line, sizeof(line), "audit --config %s", c);
    expect_cli(r, 0, line);
    assert_non_null(strstr(r->out, "ACTION"));
    assert_non_null(strstr(r->out, "policy_update"));
    assert_null(strstr(r->out, secret + 3));

    /* the operation fails: 1, the API's message on stderr */
    snprintf(line, sizeof(line), "orgs create acme --config %s", c);
    expect_cli(r, 1, line);
    assert_non_null(strstr(r->err, "already exists"));
    assert_string_equal(r->out, "");
    snprintf(line, sizeof(line), "orgs create x --plan gold --config %s --json", c);
    expect_cli(r, 1, line);
    assert_non_null(strstr(r->out, "\"code\":\"invalid_request\""));
    snprintf(line, sizeof(line), "usage --from someday --config %s", c);
    expect_cli(r, 1, line);
    assert_non_null(strstr(r->err, "from must be"));
    snprintf(line, sizeof(line), "orgs list --config %s/missing.yaml", dir);
    expect_cli(r, 1, line);
    free(r);
}

static void test_cli_usage_errors(void **state)
{
    cli_run_t *r = malloc(sizeof(*r));
    char line[512];
    static const char *const lines[] = {
        "orgs",
        "orgs frobnicate",
        "nouns list",
        "orgs create",                          /* no NAME */
        "orgs create a b",                      /* two */
        "orgs list extra",
        "orgs create a --colour red",
        "orgs create a --org x",                /* not an option of this command */
        "orgs create a --rpm",                  /* no value */
        "orgs create a --rpm ten",
        "orgs create a --budget-usd 1x",
        "orgs create a --rpm 1 --rpm 2",
        "orgs list --json=yes",
        "keys create --org acme",               /* no --name */
        "keys revoke",
        "usage --limit 5",
        "audit --group-by model",
        "orgs create a --models b,\xff",       /* not UTF-8: refused, not dropped from the list */
        "orgs create \xff",
        "orgs create a --plan \xff",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        snprintf(line, sizeof(line), "%s --config %s", lines[i], config_path);
        expect_cli(r, 2, line);
        assert_non_null(strstr(r->err, "usage: tollgate"));
        assert_string_equal(r->out, "");
    }
    expect_cli(r, 2, "orgs list"); /* no configuration at all */
    assert_non_null(strstr(r->err, "--config"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orgs, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_org_errors, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_keys, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_key_errors, open_store, close_store),
        cmocka_unit_test(test_new_key),
        cmocka_unit_test_setup_teardown(test_routing, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_errors_not_utf8, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_audit_listing, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_long_detail, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_usage, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_store_unavailable, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_cli, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_cli_usage_errors, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
