/* log_line.h: the line builder of the logger (log_line.c), shared by
 * log.c, which frames lines and writes them. Not for the rest of the
 * gateway, which logs through obs/log.h. */
#ifndef TOLLGATE_OBS_LOG_LINE_H
#define TOLLGATE_OBS_LOG_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "obs/log.h"
#include "obs/redact.h"

/* A line under construction in a caller's buffer. */
typedef struct tg_log_line {
    char *p;
    size_t len;
    size_t cap;       /* bytes usable right now */
    bool overflow;    /* the last writes did not fit */
} tg_log_line_t;

/* Inline: called dozens of times per line. */
static inline void tg_line_put(tg_log_line_t *l, const char *s, size_t n)
{
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
        l->overflow = true;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static inline void tg_line_puts(tg_log_line_t *l, const char *s)
{
    tg_line_put(l, s, strlen(s));
}

void tg_line_put_int(tg_log_line_t *l, int64_t v);
/* s as JSON string content (no quotes), escaped. */
void tg_line_put_escaped(tg_log_line_t *l, const char *s, size_t n);
/* s as JSON string content with every secret replaced by [REDACTED]. */
void tg_line_put_redacted(tg_log_line_t *l, const char *s, size_t n, tg_redact_mode_t mode);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ", UTC. */
void tg_line_put_timestamp(tg_log_line_t *l);
/* One field: key and value, JSON or text. known: a label or configured
 * name under a key that is no secret's: escaped, not scanned. */
void tg_line_put_field(tg_log_line_t *l, bool json, const tg_log_field_t *f, bool known);

#endif
