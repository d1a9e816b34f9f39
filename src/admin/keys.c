/* keys.c: GET, POST /admin/v1/keys, PATCH and DELETE /admin/v1/keys/{id},
 * and the making of a new key. The secret leaves this file only in the
 * answer to the POST. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "admin/ops.h"
#include "admin/response.h"
#include "store/key_hash.h"

/* base64url without padding: 32 bytes make 43 characters. */
static size_t base64url(const uint8_t *in, size_t n, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[len++] = alphabet[(acc >> (bits - 6)) & 63];
    }
    if (bits > 0)
        out[len++] = alphabet[(acc << (6 - bits)) & 63];
    return len;
}

int tg_admin_new_key(tg_key_t *key, char secret[48])
{
    uint8_t random[32 + 8]; /* the secret's bytes, then the id's */
    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
        explicit_bzero(random, sizeof(random));
        return -1;
    }
    memcpy(secret, TG_KEY_PREFIX, 3);
    size_t len = 3 + base64url(random, 32, secret + 3);
    secret[len] = '\0';
    memcpy(key->id, "key_", 4);
    for (size_t i = 0; i < 8; i++)
        snprintf(key->id + 4 + 2 * i, 3, "%02x", random[32 + i]);
    tg_key_hash(secret, len, key->hash);
    tg_key_hint(secret, len, key->hint);
    explicit_bzero(random, sizeof(random));
    return 0;
}

static int add_key(void *ctx, const tg_key_t *key)
{
    return json_array_append_new(ctx, tg_admin_key_json(key, NULL));
}

void tg_admin_keys_list(tg_admin_call_t *c)
{
    const char *org = c->query[0];
    if (org[0] != '\0' && !tg_admin_valid_name(org)) {
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "org", "org must be 1..64 characters of [A-Za-z0-9._-]");
        return;
    }
    json_t *data = json_array();
    tg_store_status_t st = c->s->methods->key_list(c->s, org[0] != '\0' ? org : NULL, add_key, data);
    tg_admin_reply_list(c->resp, st, data);
}

void tg_admin_keys_create(tg_admin_call_t *c)
{
    tg_admin_body_t b;
    unsigned wanted = TG_ADMIN_BIT(ORG) | TG_ADMIN_BIT(NAME);
    if (!tg_admin_read_body(c->req, wanted | TG_ADMIN_POLICY_FIELDS, wanted, &b, c->resp))
        return;
    tg_key_t key = {.created = c->env->now, .policy = b.policy};
    char secret[48];
    if (tg_admin_new_key(&key, secret) < 0) {
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INTERNAL, NULL, "the kernel gave no randomness for a new key");
        return;
    }
    strcpy(key.org, b.org);
    strcpy(key.name, b.name);
    char org_what[192], key_what[256];
    snprintf(org_what, sizeof(org_what), "organization %s", key.org);
    snprintf(key_what, sizeof(key_what), "a key named %s in organization %s", key.name, key.org);
    tg_admin_change_t ch = {.count = 0};
    tg_org_t org;
    tg_store_status_t st = TG_STORE_OK;
    if (!tg_admin_begin(c))
        goto done;
    if ((st = c->s->methods->org_get(c->s, key.org, &org)) != TG_STORE_OK) {
        tg_admin_abort(c, st, "org", org_what);
        goto done;
    }
    if ((st = c->s->methods->key_insert(c->s, &key)) != TG_STORE_OK) {
        tg_admin_abort(c, st, "name", key_what);
        goto done;
    }
    tg_admin_audit_add(c, &ch, TG_AUDIT_KEY_CREATED, key.org, key.id, NULL);
    if (!tg_admin_commit(c, &ch))
        goto done;
    c->resp->keys_changed = true;
    tg_admin_reply(c->resp, 201, tg_admin_key_json(&key, secret));
done:
    explicit_bzero(secret, sizeof(secret));
}

/* Starts the transaction of a change to the key c->id and reads it;
 * false (rolled back, answered) when there is none. */
static bool begin_key(tg_admin_call_t *c, tg_key_t *key)
{
    char what[192];
    snprintf(what, sizeof(what), "API key %s", c->id);
    if (!tg_admin_valid_name(c->id)) {
        tg_admin_fail(c->resp, TG_ADMIN_ERR_NOT_FOUND, NULL, "%s does not exist", what);
        return false;
    }
    if (!tg_admin_begin(c))
        return false;
    tg_store_status_t st = c->s->methods->key_get(c->s, c->id, key);
    if (st != TG_STORE_OK)
        tg_admin_abort(c, st, NULL, what);
    return st == TG_STORE_OK;
}

void tg_admin_keys_update(tg_admin_call_t *c)
{
    tg_admin_body_t b;
    tg_key_t key;
    if (!tg_admin_read_body(c->req, TG_ADMIN_BIT(NAME) | TG_ADMIN_POLICY_FIELDS, 0, &b, c->resp) ||
        !begin_key(c, &key))
        return;
    if (key.revoked > 0) {
        c->s->methods->rollback(c->s);
        tg_admin_fail(c->resp, TG_ADMIN_ERR_KEY_REVOKED, NULL, "API key %s is revoked", key.id);
        return;
    }
    json_t *detail = json_object();
    bool changed = false;
    if ((b.present & TG_ADMIN_BIT(NAME)) && strcmp(key.name, b.name) != 0) {
        strcpy(key.name, b.name);
        json_object_set_new(detail, "name", json_string(key.name));
        changed = true;
    }
    changed |= tg_admin_apply_policy(&b, &key.policy, detail);
    tg_admin_change_t ch = {.count = 0};
    if (changed)
        tg_admin_audit_add(c, &ch, TG_AUDIT_POLICY_UPDATE, key.org, key.id, detail);
    json_decref(detail);
    if (!changed) {
        c->s->methods->rollback(c->s);
        tg_admin_reply(c->resp, 200, tg_admin_key_json(&key, NULL));
        return;
    }
    tg_store_status_t st = c->s->methods->key_update(c->s, &key);
    if (st != TG_STORE_OK) {
        char what[256];
        snprintf(what, sizeof(what), "a key named %s in organization %s", key.name, key.org);
        tg_admin_abort(c, st, "name", what);
        return;
    }
    if (!tg_admin_commit(c, &ch))
        return;
    c->resp->keys_changed = true;
    tg_admin_reply(c->resp, 200, tg_admin_key_json(&key, NULL));
}

void tg_admin_keys_revoke(tg_admin_call_t *c)
{
    tg_key_t key;
    if (!begin_key(c, &key))
        return;
    if (key.revoked > 0) {
        /* Revoked already: the same answer, no second entry. */
        c->s->methods->rollback(c->s);
        tg_admin_reply(c->resp, 200, tg_admin_key_json(&key, NULL));
        return;
    }
    key.revoked = c->env->now;
    tg_admin_change_t ch = {.count = 0};
    tg_store_status_t st = c->s->methods->key_update(c->s, &key);
    if (st != TG_STORE_OK) {
        char what[192];
        snprintf(what, sizeof(what), "API key %s", key.id);
        tg_admin_abort(c, st, NULL, what);
        return;
    }
    tg_admin_audit_add(c, &ch, TG_AUDIT_KEY_REVOKED, key.org, key.id, NULL);
    if (!tg_admin_commit(c, &ch))
        return;
    c->resp->keys_changed = true;
    tg_admin_reply(c->resp, 200, tg_admin_key_json(&key, NULL));
}
