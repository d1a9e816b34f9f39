/* test_auth.c: unit tests of API key handling on the request path: the
 * key hint (never more than "tg-…" and four characters), the presented
 * key of a request's headers, the key index (found, revoked, absent, its
 * model lists, org limits beside the key's) and the auth stage's verdicts
 * on every kind of key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/auth.h"
#include "store/key_hash.h"
#include "store/key_index.h"

static const char good_secret[] = "tg-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_Xabcd";

static tg_key_t make_key(const char *id, const char *secret, const char *org, bool revoked)
{
    tg_key_t k;
    memset(&k, 0, sizeof(k));
    strcpy(k.id, id);
    strcpy(k.org, org);
    strcpy(k.name, id);
    tg_key_hash(secret, strlen(secret), k.hash);
    tg_key_hint(secret, strlen(secret), k.hint);
    k.revoked = revoked ? 1 : 0;
    tg_policy_init(&k.policy);
    return k;
}

static void test_hint_shows_only_the_tail_of_our_keys(void **state)
{
    (void)state;
    char hint[TG_STORE_KEY_HINT_MAX + 1];
    assert_int_equal(strlen(good_secret), TG_KEY_SECRET_LEN);
    tg_key_hint(good_secret, strlen(good_secret), hint);
    assert_string_equal(hint, "tg-\xe2\x80\xa6" "abcd");
    /* someone else's secret, or a key of the wrong shape: nothing of it */
    tg_key_hint("sk-proj-0123456789abcdef0123456789abcdef", 40, hint);
    assert_string_equal(hint, "\xe2\x80\xa6");
    tg_key_hint("tg-short", 8, hint);
    assert_string_equal(hint, "\xe2\x80\xa6");
    char bad[TG_KEY_SECRET_LEN + 1];
    memcpy(bad, good_secret, sizeof(bad));
    bad[10] = '!';
    tg_key_hint(bad, TG_KEY_SECRET_LEN, hint);
    assert_string_equal(hint, "\xe2\x80\xa6");
}

static void test_presented_key(void **state)
{
    (void)state;
    size_t len;
    bool bearer;
    const char *k = tg_auth_presented_key("Bearer  tg-x ", 13, NULL, 0, &len, &bearer);
    assert_int_equal(len, 4);
    assert_memory_equal(k, "tg-x", 4);
    assert_true(bearer);
    k = tg_auth_presented_key("bearer tg-y", 11, "tg-z", 4, &len, &bearer); /* Authorization wins */
    assert_memory_equal(k, "tg-y", len);
    k = tg_auth_presented_key(NULL, 0, "tg-z", 4, &len, &bearer);
    assert_memory_equal(k, "tg-z", len);
    assert_true(bearer);
    /* another scheme, or a bare key: presented, then refused */
    k = tg_auth_presented_key("Basic abc", 9, NULL, 0, &len, &bearer);
    assert_memory_equal(k, "Basic abc", len);
    assert_false(bearer);
    k = tg_auth_presented_key(good_secret, strlen(good_secret), NULL, 0, &len, &bearer);
    assert_false(bearer);
    assert_null(tg_auth_presented_key(NULL, 0, NULL, 0, &len, &bearer));
}

static tg_key_index_t *sample_index(void)
{
    tg_org_t orgs[2];
    memset(orgs, 0, sizeof(orgs));
    strcpy(orgs[0].name, "acme");
    strcpy(orgs[0].plan, "paid");
    tg_policy_init(&orgs[0].policy);
    orgs[0].policy.rpm = 600;
    orgs[0].policy.model_count = 1;
    strcpy(orgs[0].policy.models[0], "gpt-4o");
    strcpy(orgs[1].name, "beta");
    strcpy(orgs[1].plan, "trial");
    tg_policy_init(&orgs[1].policy);

    tg_key_index_builder_t *b = tg_key_index_begin(orgs, 2, NULL);
    tg_key_t k = make_key("key_0000000000000001", good_secret, "acme", false);
    k.policy.tpm = 1000;
    tg_key_index_add(b, &k);
    k = make_key("key_0000000000000002", "tg-revokedrevokedrevokedrevokedrevokedrevokedX", "beta", true);
    tg_key_index_add(b, &k);
    for (int i = 3; i < 200; i++) { /* enough to wrap the table a few times */
        char id[32], secret[64];
        snprintf(id, sizeof(id), "key_%016d", i);
        snprintf(secret, sizeof(secret), "tg-%043d", i);
        k = make_key(id, secret, "beta", false);
        k.policy.model_count = 1;
        strcpy(k.policy.models[0], "gpt-4o-mini");
        tg_key_index_add(b, &k);
    }
    return tg_key_index_end(b);
}

static void test_index_finds_keys_with_their_limits(void **state)
{
    (void)state;
    tg_key_index_t *idx = sample_index();
    assert_non_null(idx);
    assert_int_equal(tg_key_index_active(idx), 198);
    uint8_t h[32];
    tg_key_hash(good_secret, strlen(good_secret), h);
    const tg_key_entry_t *e = tg_key_index_find(idx, h);
    assert_non_null(e);
    assert_string_equal(e->id, "key_0000000000000001");
    assert_string_equal(e->org, "acme");
    assert_int_equal(e->key_limits.tpm, 1000);
    assert_int_equal(e->key_limits.rpm, -1);
    assert_int_equal(e->org_limits.rpm, 600);
    /* the key has no list of its own: its org's applies */
    assert_true(tg_key_entry_allows(e, "gpt-4o", 6));
    assert_false(tg_key_entry_allows(e, "gpt-4o-mini", 11));
    for (int i = 3; i < 200; i++) {
        char secret[64];
        snprintf(secret, sizeof(secret), "tg-%043d", i);
        tg_key_hash(secret, strlen(secret), h);
        e = tg_key_index_find(idx, h);
        assert_non_null(e);
        assert_true(tg_key_entry_allows(e, "gpt-4o-mini", 11));
        assert_false(tg_key_entry_allows(e, "gpt-4o-min", 10));
    }
    tg_key_hash("tg-unknown", 10, h);
    assert_null(tg_key_index_find(idx, h));
    assert_null(tg_key_index_find(NULL, h));
    tg_key_index_retain(idx);
    tg_key_index_release(idx);
    tg_key_index_release(idx);
}

static void test_verdicts(void **state)
{
    (void)state;
    tg_key_index_t *idx = sample_index();
    tg_auth_in_t in = {.allow_anonymous = true, .have_store = true, .index = idx, .model = "gpt-4o", .model_len = 6};
    tg_auth_out_t out;

    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_ANONYMOUS);
    in.allow_anonymous = false;
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_REFUSED);
    assert_string_equal(out.reason, "missing_key");
    assert_int_equal(out.error.status, 401);

    in.key = good_secret;
    in.key_len = strlen(good_secret);
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_KEY);
    assert_string_equal(out.entry->org, "acme");
    in.model = "gpt-4o-mini";
    in.model_len = 11;
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_REFUSED);
    assert_int_equal(out.error.status, 403);
    assert_int_equal(out.error.code, TG_CODE_MODEL_NOT_ALLOWED);
    assert_string_equal(out.reason, "model_not_allowed");

    in.key = "tg-revokedrevokedrevokedrevokedrevokedrevokedX";
    in.key_len = strlen(in.key);
    in.allow_anonymous = true; /* a wrong key is refused even then */
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_REFUSED);
    assert_string_equal(out.reason, "revoked_key");
    assert_int_equal(out.error.status, 401);

    /* one of ours the index does not know: ask the store */
    in.key = "tg-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    in.key_len = strlen(in.key);
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_LOOKUP);
    /* a good key, but not in "Bearer KEY" */
    in.key = good_secret;
    in.key_len = strlen(good_secret);
    in.not_bearer = true;
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_REFUSED);
    assert_string_equal(out.reason, "malformed_authorization");
    in.not_bearer = false;
    /* anything else is refused at once */
    in.key = "sk-something-else";
    in.key_len = strlen(in.key);
    assert_int_equal(tg_auth_check(&in, &out), TG_AUTH_REFUSED);
    assert_string_equal(out.reason, "unknown_key");
    tg_key_index_release(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint_shows_only_the_tail_of_our_keys),
        cmocka_unit_test(test_presented_key),
        cmocka_unit_test(test_index_finds_keys_with_their_limits),
        cmocka_unit_test(test_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
