/* key.c: see key.h.
 *
 * The key is SHA-256 over the org, the operation and the body's canonical
 * JSON: jansson's compact form with every object's keys sorted, strings
 * re-encoded from their decoded value (so "\u00e9" and "é" agree), less
 * the members that cannot change the answer. Every other member stays:
 * a parameter this file has never heard of (logit_bias, reasoning_effort,
 * a provider's own) then keeps two requests apart instead of serving one
 * the other's answer. The body is parsed only when the request may be
 * cacheable: a default request without "temperature" or "seed" in its
 * bytes is turned away by a scan, without a parse. */
#define _GNU_SOURCE /* memmem */
#include "cache/key.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* Members that shape how the answer is delivered or who asked, not what
 * it says: a stream and a plain request share their entry. */
static const char *const ignored_members[] = {"stream", "stream_options", "user", "metadata", "store"};

int tg_cache_directive_parse(const char *value, size_t len)
{
    while (len > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
#define TG_CACHE_DIRECTIVE_MATCH(name, label)                                           \
    if (len == sizeof(label) - 1 && len > 0 && strncasecmp(value, label, len) == 0) \
        return TG_CACHE_##name;
    TG_CACHE_DIRECTIVE_MAP(TG_CACHE_DIRECTIVE_MATCH)
#undef TG_CACHE_DIRECTIVE_MATCH
    return -1;
}

static bool contains(const char *body, size_t len, const char *word)
{
    return memmem(body, len, word, strlen(word)) != NULL;
}

/* temperature 0, or a seed given */
static bool deterministic(json_t *root)
{
    json_t *t = json_object_get(root, "temperature"), *seed = json_object_get(root, "seed");
    return (json_is_number(t) && json_number_value(t) == 0) || (seed != NULL && !json_is_null(seed));
}

static bool hash(const char *org, tg_operation_t op, const char *canonical, uint8_t key[TG_CACHE_KEY_LEN])
{
    const char *opname = tg_operation_name(op);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    /* the NULs keep ("ab", "c") and ("a", "bc") apart */
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, org, strlen(org) + 1) &&
              EVP_DigestUpdate(md, opname, strlen(opname) + 1) &&
              EVP_DigestUpdate(md, canonical, strlen(canonical)) && EVP_DigestFinal_ex(md, key, &n) &&
              n == TG_CACHE_KEY_LEN;
    EVP_MD_CTX_free(md);
    return ok;
}

bool tg_cache_key(const char *org, tg_operation_t op, const char *body, size_t len, tg_cache_directive_t directive,
                  uint8_t key[TG_CACHE_KEY_LEN])
{
    bool opted_in = directive == TG_CACHE_USE || directive == TG_CACHE_REFRESH;
    /* chat and embeddings: the answers the cache knows how to store and
     * replay (a Responses stream ends otherwise; images and audio are not
     * JSON bodies or not worth a copy) */
    if (directive == TG_CACHE_BYPASS || (op != TG_OP_CHAT && op != TG_OP_EMBEDDINGS))
        return false;
    if (!opted_in && (op != TG_OP_CHAT || (!contains(body, len, "\"temperature\"") && !contains(body, len, "\"seed\""))))
        return false;
    json_t *root = json_loadb(body, len, 0, NULL);
    bool ok = json_is_object(root) && (opted_in || deterministic(root));
    for (size_t i = 0; ok && i < sizeof(ignored_members) / sizeof(ignored_members[0]); i++)
        json_object_del(root, ignored_members[i]);
    char *canonical = ok ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    ok = canonical != NULL && hash(org, op, canonical, key);
    free(canonical);
    json_decref(root);
    return ok;
}
