/* key_hash.c: see key_hash.h. */
#include "store/key_hash.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

void tg_key_hash(const char *secret, size_t len, uint8_t out[32])
{
    SHA256((const unsigned char *)secret, len, out);
}

static int is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

void tg_key_hint(const char *secret, size_t len, char out[TG_STORE_KEY_HINT_MAX + 1])
{
    bool ours = len == TG_KEY_SECRET_LEN && memcmp(secret, TG_KEY_PREFIX, 3) == 0;
    for (size_t i = 3; ours && i < len; i++)
        ours = is_base64url(secret[i]);
    if (ours)
        snprintf(out, TG_STORE_KEY_HINT_MAX + 1, "tg-\xe2\x80\xa6%.4s", secret + len - 4);
    else
        snprintf(out, TG_STORE_KEY_HINT_MAX + 1, "\xe2\x80\xa6");
}
