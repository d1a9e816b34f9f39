/* key_hash.c: see key_hash.h. */
#include "store/key_hash.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* One digest context per thread (freed with it), the algorithm fetched
 * once: SHA256() fetches it from OpenSSL's provider table on every call,
 * which cost four times the hashing of a key (5,800 instructions a
 * request). */
static EVP_MD *sha256;
static pthread_key_t ctx_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void init_once(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&ctx_key, free_ctx) != 0)
        sha256 = NULL;
}

void tg_key_hash(const char *secret, size_t len, uint8_t out[32])
{
    pthread_once(&once, init_once);
    EVP_MD_CTX *ctx = sha256 != NULL ? pthread_getspecific(ctx_key) : NULL;
    if (ctx == NULL && sha256 != NULL && (ctx = EVP_MD_CTX_new()) != NULL)
        pthread_setspecific(ctx_key, ctx);
    unsigned int n = 32;
    if (ctx == NULL || EVP_DigestInit_ex2(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, secret, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        SHA256((const unsigned char *)secret, len, out); /* no context: the slow way */
}

static int is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool tg_key_looks_ours(const char *secret, size_t len)
{
    bool ours = len == TG_KEY_SECRET_LEN && memcmp(secret, TG_KEY_PREFIX, 3) == 0;
    for (size_t i = 3; ours && i < len; i++)
        ours = is_base64url(secret[i]);
    return ours;
}

void tg_key_hint(const char *secret, size_t len, char out[TG_STORE_KEY_HINT_MAX + 1])
{
    if (tg_key_looks_ours(secret, len))
        snprintf(out, TG_STORE_KEY_HINT_MAX + 1, "tg-\xe2\x80\xa6%.4s", secret + len - 4);
    else
        snprintf(out, TG_STORE_KEY_HINT_MAX + 1, "\xe2\x80\xa6");
}
