/* key_hash.h: what tollgate keeps of an API key: its SHA-256 (the store's
 * index, compared in constant time) and a hint people recognise it by,
 * "tg-…" and its last four characters. The secret itself is never stored
 * or logged. */
#ifndef TOLLGATE_STORE_KEY_HASH_H
#define TOLLGATE_STORE_KEY_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TG_KEY_PREFIX "tg-"
#define TG_KEY_SECRET_LEN 46 /* "tg-" + 43 base64url characters */

void tg_key_hash(const char *secret, size_t len, uint8_t out[32]);

/* Whether a presented key has the shape of ours: "tg-" and 43 base64url
 * characters (only such a key can be in the store). */
bool tg_key_looks_ours(const char *secret, size_t len);

/* The hint of a presented key (any text a client sent): "tg-…" and its
 * last 4 characters for a key of ours of the right length, "…" and
 * nothing more for anything else, which could be someone's other secret. */
void tg_key_hint(const char *secret, size_t len, char out[TG_STORE_KEY_HINT_MAX + 1]);

#endif
