/* redact.h: finding secrets in text (redact.c), for the logger's line
 * builder (log_line.c); the logger's public side of it, registering
 * secrets and the redacted copy, is in obs/log.h. */
#ifndef TOLLGATE_OBS_REDACT_H
#define TOLLGATE_OBS_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define TG_REDACTED "[REDACTED]"

/* How a string is scanned. Request, trace and org ids are random or opaque
 * by design and logged on purpose in their own fields: there the rules
 * that judge by length and randomness (long hex, random runs) are off. */
typedef enum tg_redact_mode {
    TG_REDACT_TEXT,
    TG_REDACT_ID
} tg_redact_mode_t;

/* The first secret of s[0..n) that starts at or after `from` and before
 * `stop`: sets *at and returns its length, or returns 0. The rules see the
 * whole of s, so a secret that runs past `stop` is found whole. */
size_t tg_redact_find(const char *s, size_t n, size_t from, size_t stop, tg_redact_mode_t mode, size_t *at);

/* Whether a parameter, header or field name is a secret's (api_key,
 * X-Api-Key, access_token, ...; see obs/log.h). */
bool tg_redact_is_secret_name(const char *name, size_t len);

#endif
