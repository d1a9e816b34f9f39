/* key.h: which requests the response cache may answer, and the key of
 * one: the request normalised (docs/cache.md, "What is normalised") and
 * hashed with the org it is for, so that one org never reads another's
 * answer and two requests that differ only in key order or whitespace
 * share their entry. */
#ifndef TOLLGATE_CACHE_KEY_H
#define TOLLGATE_CACHE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/words.h"

#define TG_CACHE_KEY_LEN 32

/* The x-tollgate-cache request header. */
#define TG_CACHE_DIRECTIVE_MAP(X)                                              \
    X(DEFAULT, "") /* no header: deterministic requests only */                \
    X(USE, "use")         /* opt in, whatever the sampling parameters */      \
    X(BYPASS, "bypass")   /* neither read nor written */                       \
    X(REFRESH, "refresh") /* not read; the upstream's answer replaces the entry */
#define TG_CACHE_DIRECTIVE_ENUM(name, label) TG_CACHE_##name,
typedef enum tg_cache_directive {
    TG_CACHE_DIRECTIVE_MAP(TG_CACHE_DIRECTIVE_ENUM) TG_CACHE_DIRECTIVE_COUNT
} tg_cache_directive_t;

/* The directive a header value names (case-insensitive, surrounding
 * blanks ignored); -1 when it names none. */
int tg_cache_directive_parse(const char *value, size_t len);

/* Whether the request body may be cached under `directive` and, when it
 * may, its key. A chat request is cacheable by default when it is
 * deterministic: a "temperature" of 0 or a non-null "seed"; an embeddings
 * request (which has no sampling) only on request (use, refresh). The
 * body must be a valid JSON object (the parse stage checked it). Returns
 * true and fills key when cacheable. */
bool tg_cache_key(const char *org, tg_operation_t op, const char *body, size_t len, tg_cache_directive_t directive,
                  uint8_t key[TG_CACHE_KEY_LEN]);

#endif
